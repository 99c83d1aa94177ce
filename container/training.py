"""`train`: SageMaker's training contract.

Reads the job's config under /opt/ml/input/config, fits the estimator the hyperparameters
ask for on the `train` channel, prints metric lines for every channel it can score, and
writes the model to /opt/ml/model. On failure it writes /opt/ml/output/failure (whose first
1024 characters become the job's FailureReason) and exits non-zero.
"""

from __future__ import annotations

import json
import logging
import os
import random
import sys
import time
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from . import (artifacts, channels, dataset, estimator, hooks, hyperparameters, leader, metrics,
               preprocessing, resources)
from .errors import ByocError, ConfigError, DataError, TrainingStopped, exit_code
from .logs import configure_logging
from .paths import Paths
from .stopping import StopOnSignal
from .tabular import is_number

log = logging.getLogger("container.training")

FAILURE_LIMIT = 1024


def main(argv: list[str] | None = None) -> int:
    """Console script entry point: run the job under SAGEMAKER_BASE_DIR (or /opt/ml)."""
    configure_logging()
    paths = Paths.from_env()
    return run(paths)


def run(paths: Paths) -> int:
    started = time.monotonic()
    _clear_stale_failure(paths)
    try:
        with StopOnSignal(paths.model_dir):
            train(paths)
    except TrainingStopped as exc:
        log.warning("%s", exc)
        return exit_code(exc)
    except ByocError as exc:
        log.error("Training failed: %s", exc)
        _write_failure(paths, f"{type(exc).__name__}: {exc}")
        return exit_code(exc)
    except Exception as exc:  # anything else: user code or a bug; the log gets the traceback
        log.error("Training failed with an unexpected error:\n%s", traceback.format_exc())
        _write_failure(
            paths,
            f"{type(exc).__name__}: {str(exc).rstrip('.')}. This is an unexpected error; the job's log "
            "has the traceback.",
        )
        return exit_code(exc)
    log.info("Training finished in %.1f s.", time.monotonic() - started)
    return 0


def train(paths: Paths) -> None:
    raw_hps = _read_hyperparameters(paths.hyperparameters_file)
    hps = hyperparameters.parse(raw_hps)
    options, model_hps = hyperparameters.split_options(hps)
    platform_hps = hyperparameters.reserved(raw_hps)
    res = resources.parse(read_json(paths.resourceconfig_file))
    chans = channels.parse_inputdataconfig(read_json(paths.inputdataconfig_file), paths)
    train_channel = channels.train_channel(chans)
    log.info(
        "Job %s on %s (%d host(s)); channels %s; hyperparameters %s",
        os.environ.get("TRAINING_JOB_NAME", "(local)"), res.current_host, res.host_count,
        sorted(chans), hps,
    )
    if platform_hps:
        log.info("Ignored platform hyperparameters: %s", sorted(platform_hps))

    if res.host_count > 1:
        sharded = [c.name for c in chans.values() if c.distribution == "ShardedByS3Key"]
        if sharded:
            raise ConfigError(
                f"Channel(s) {sharded} use ShardedByS3Key on {res.host_count} hosts, so each "
                "host holds only part of the data, but scikit-learn trains on one host.",
                hint="Use FullyReplicated, or InstanceCount=1.",
            )
        if not res.is_leader:
            log.info(
                "%s is not the leader (%s trains; scikit-learn does not distribute): nothing to do "
                "but wait for it, so that a launcher which stops every host once one exits (SDK local "
                "mode's docker compose) does not stop the leader.", res.current_host, res.leader,
            )
            try:
                ended = leader.wait_for(res.leader)
            except TrainingStopped:  # compose stops every host once the leader has exited
                ended = "stopped by a signal while waiting (the leader has ended, or the job was stopped)"
            log.info("%s: %s; nothing else to do.", res.current_host, ended)
            return
        leader.Presence().start()  # its connections close when this process ends

    module = hooks.import_optional("train")
    if module is None:
        raise ConfigError(
            f"The model package has no {hooks.package_name()}.train module.",
            hint="It must define ESTIMATORS and ESTIMATOR; see model/train.py.",
        )
    registry = getattr(module, "ESTIMATORS", None)
    default = getattr(module, "ESTIMATOR", None)
    if not registry or not default:
        raise ConfigError(
            f"{hooks.package_name()}.train must define ESTIMATORS (name -> estimator factory) "
            "and ESTIMATOR (the default name)."
        )
    built = estimator.build(model_hps, registry, default, _trusted_modules(module))
    seeded = estimator.seed(built, options.seed)
    if options.seed is not None:
        random.seed(options.seed)  # for model code that draws from the global generators
        np.random.seed(options.seed)
    log.info("Estimator %s: %r", built.name, built.estimator)
    if options.seed is None:
        log.info("Seed: none (seed=none), so every random_state stays as the estimator has it.")
    else:
        log.info("Seed %d: set %s.", options.seed, ", ".join(seeded) or "no parameter (none is called random_state)")

    t0 = time.monotonic()
    data = {"train": dataset.load_training(train_channel, paths, options)}
    schema = data["train"].schema
    text_labels = data["train"].y.dtype == object
    for name in ("validation", "test"):
        if name in chans:
            data[name] = dataset.load_like(chans[name], paths, schema, text_labels=text_labels)
    for name, ds in data.items():
        log.info("Channel %s: %d rows, %d features, %d file(s)", name, ds.rows, ds.n_features, ds.files)
        if ds.n_features != data["train"].n_features:
            raise DataError(
                f"Channel '{name}' has {ds.n_features} features but 'train' has "
                f"{data['train'].n_features}.",
                hint="Every channel needs the same columns: the label, then the same features.",
            )
    log.info("Read the data in %.2f s.", time.monotonic() - t0)

    task = built.task
    label = _label_words(schema)
    for name, ds in data.items():
        ds.y = _checked_labels(ds, task, built.name, label)

    missing = any(ds.missing if ds.missing is not None else preprocessing.has_missing(ds.X)
                  for ds in data.values())
    model, preprocess = preprocessing.wrap(built.estimator, schema, missing=missing)
    log.info("Preprocessing: %s", preprocess)

    t0 = time.monotonic()
    train_ds = data["train"]
    with _values_checked(train_ds, built.name):
        model.fit(train_ds.X, train_ds.y)
    log.info("Fitted in %.2f s.", time.monotonic() - t0)
    found = preprocessing.categories(model)
    if found is not None:
        schema = schema.with_categories(found)
        log.info("Categories: %s", ", ".join(f"{schema.describe(i).strip(chr(39))} ({len(schema.features[i].categories)})"
                                              for i in schema.categorical))

    classes = getattr(model, "classes_", None)
    class_list = np.asarray(classes).tolist() if classes is not None else None
    positive = None
    if task == "classification" and class_list is not None:
        try:
            positive = metrics.positive_class(class_list, options.positive_class)
        except ValueError as exc:
            raise ConfigError(f"Hyperparameter {exc}.") from None
        if positive is not None:
            log.info("Binary metrics (auc, precision, recall) count %r as the positive class of %s%s.",
                     positive, class_list, "" if options.positive_class is not None
                     else "; set positive_class to choose another")

    scores: dict[str, float] = {}
    for name, ds in data.items():
        with _values_checked(ds, built.name):
            scores_of_channel = metrics.score(task, model, ds.X, ds.y, positive)
        for metric, value in scores_of_channel.items():
            scores[f"{name}:{metric}"] = value
            print(metrics.format_line(f"{name}:{metric}", value), flush=True)

    metadata: dict[str, Any] = {
        "estimator": built.name,
        "estimator_class": f"{type(built.estimator).__module__}.{type(built.estimator).__qualname__}",
        "task": task,
        "n_features": train_ds.n_features,
        **schema.to_metadata(),
        "preprocessing": preprocess,
        "hyperparameters": hps,
        "seed": options.seed,
        "metrics": scores,
        "training_job": os.environ.get("TRAINING_JOB_NAME"),
        "trained_rows": train_ds.rows,
    }
    if class_list is not None:
        metadata["classes"] = class_list
        if positive is not None:
            metadata["positive_class"] = positive
    written = artifacts.save(paths.model_dir, model, metadata)
    log.info("Model written: %s", ", ".join(str(p) for p in written))


@contextmanager
def _values_checked(ds: dataset.Dataset, estimator_name: str) -> Iterator[None]:
    """scikit-learn's refusal of a value too large for float32 (trees and forests compute in
    float32), as a DataError naming the file, line and column instead of a traceback."""
    try:
        yield
    except ValueError as exc:
        if "float32" not in str(exc):
            raise
        located = dataset.float32_overflow(ds, estimator_name)
        if located is None:
            raise
        raise located from None


def _trusted_modules(module: Any) -> list[str]:
    """The modules the `estimator` hyperparameter may import from besides sklearn: the model
    package itself, and those its train module lists in TRUSTED_MODULES."""
    listed = getattr(module, "TRUSTED_MODULES", ())
    if isinstance(listed, str) or not isinstance(listed, (list, tuple, set, frozenset)) or not all(
            isinstance(item, str) and item for item in listed):
        raise ConfigError(
            f"{hooks.package_name()}.train.TRUSTED_MODULES must be a list of module names, not {listed!r:.80}.",
            hint='For example TRUSTED_MODULES = ["xgboost"].')
    return [hooks.package_name(), *listed]


def _label_words(schema: Any) -> str:
    """How error messages name the label column."""
    if isinstance(schema.label, str):
        return f"the label column '{schema.label}'"
    return "the first column" if schema.label == 0 else f"the label (column {schema.label + 1})"


def _checked_labels(ds: dataset.Dataset, task: str, estimator_name: str, label: str) -> np.ndarray:
    """The labels fit() is given: checked for missing ones and for the task, whole numbers as
    integers (a classifier then answers 1 rather than 1.0), text kept as it is."""
    channel, y = ds.channel, ds.y
    text = y.dtype == object
    missing = np.flatnonzero(_isna(y) if text else ~np.isfinite(y))
    if missing.size:
        raise DataError(
            f"Channel '{channel}' has {missing.size} row(s) whose label ({label}) is "
            f"missing{'' if text else ' or infinite'}; the first is in {ds.where(int(missing[0]))}.",
            hint="Every row needs its label.",
        )
    if text:
        if task == "regression":
            first = next((i for i, v in enumerate(y) if not is_number(str(v))), 0)
            raise DataError(
                f"Channel '{channel}': estimator '{estimator_name}' is a regressor, but {label} holds "
                f"text, e.g. {y[first]!r} in {ds.where(first)}.",
                hint="A regressor needs numeric labels; for classes use a classifier "
                "(estimator=random_forest, for example).",
            )
        return y
    if task == "classification":
        fractional = np.flatnonzero(y != np.round(y))
        if fractional.size:
            raise DataError(
                f"Channel '{channel}': estimator '{estimator_name}' is a classifier, but labels "
                f"({label}) are not whole numbers, e.g. {y[fractional[0]]:g} in {ds.where(int(fractional[0]))}.",
                hint="For a numeric target use a regressor (estimator=random_forest_regressor, "
                "for example); for classes, write them as integers 0, 1, 2... or as names.",
            )
        if y.size:
            return y.astype(np.int64)
    return y


def _isna(values: np.ndarray) -> np.ndarray:
    import pandas as pd

    return np.asarray(pd.isna(values), dtype=bool)


def _read_hyperparameters(path: Path) -> Any:
    """hyperparameters.json; an empty file (as AWS's own sample kit ships) means none."""
    if path.is_file() and not path.read_text().strip():
        return {}
    return read_json(path) or {}


def read_json(path: Path) -> Any:
    """A job configuration file's JSON; None when the file is not there."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise ConfigError(f"{path.name} is not valid JSON: {exc}.") from None


def _clear_stale_failure(paths: Paths) -> None:
    """Remove a failure file left by an earlier run in the same folder, so that any failure
    file present later was written by this run's model code, and is kept."""
    if paths.failure_file.exists():
        log.info("Removing the failure file of an earlier run: %s", paths.failure_file)
        paths.failure_file.unlink()


def _write_failure(paths: Paths, message: str) -> None:
    if paths.failure_file.exists():
        log.info("Keeping the failure file the model code wrote: %s", paths.failure_file)
        return
    paths.output_dir.mkdir(parents=True, exist_ok=True)
    text = message.strip()
    if len(text) > FAILURE_LIMIT:
        text = text[: FAILURE_LIMIT - 3] + "..."
    tmp = paths.failure_file.with_name(".failure.tmp")
    tmp.write_text(text + "\n")
    os.replace(tmp, paths.failure_file)


if __name__ == "__main__":
    sys.exit(main())
