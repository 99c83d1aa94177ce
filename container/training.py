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
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from . import artifacts, channels, dataset, estimator, hooks, hyperparameters, metrics, resources
from .errors import ByocError, ConfigError, DataError, TrainingStopped, exit_code
from .logs import configure_logging
from .paths import Paths
from .stopping import StopOnSignal

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
    raw_hps = _read_json(paths.hyperparameters_file) or {}
    hps = hyperparameters.parse(raw_hps)
    platform_hps = hyperparameters.reserved(raw_hps)
    res = resources.parse(_read_json(paths.resourceconfig_file))
    chans = channels.parse_inputdataconfig(_read_json(paths.inputdataconfig_file), paths)
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
                "%s is not the leader (%s trains; scikit-learn does not distribute): nothing to do.",
                res.current_host, res.leader,
            )
            return

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
    built = estimator.build(hps, registry, default)
    log.info("Estimator %s: %r", built.name, built.estimator)

    t0 = time.monotonic()
    data = {"train": dataset.load(train_channel, paths)}
    for name in ("validation", "test"):
        if name in chans:
            data[name] = dataset.load(chans[name], paths)
    for name, ds in data.items():
        log.info("Channel %s: %d rows, %d features, %d file(s)", name, len(ds.y), ds.n_features, ds.files)
        if ds.n_features != data["train"].n_features:
            raise DataError(
                f"Channel '{name}' has {ds.n_features} features but 'train' has "
                f"{data['train'].n_features}.",
                hint="Every channel needs the same columns: the label, then the same features.",
            )
    log.info("Read the data in %.2f s.", time.monotonic() - t0)

    task = built.task
    for name, ds in data.items():
        _check_labels(name, ds.y, task, built.name)
    if task == "classification":
        for ds in data.values():
            ds.y = _as_labels(ds.y)

    t0 = time.monotonic()
    train_ds = data["train"]
    built.estimator.fit(train_ds.X, train_ds.y)
    log.info("Fitted in %.2f s.", time.monotonic() - t0)

    scores: dict[str, float] = {}
    for name, ds in data.items():
        for metric, value in metrics.score(task, built.estimator, ds.X, ds.y).items():
            scores[f"{name}:{metric}"] = value
            print(metrics.format_line(f"{name}:{metric}", value), flush=True)

    metadata: dict[str, Any] = {
        "estimator": built.name,
        "estimator_class": f"{type(built.estimator).__module__}.{type(built.estimator).__qualname__}",
        "task": task,
        "n_features": train_ds.n_features,
        "hyperparameters": hps,
        "metrics": scores,
        "training_job": os.environ.get("TRAINING_JOB_NAME"),
        "trained_rows": int(len(train_ds.y)),
    }
    classes = getattr(built.estimator, "classes_", None)
    if classes is not None:
        metadata["classes"] = np.asarray(classes).tolist()
    written = artifacts.save(paths.model_dir, built.estimator, metadata)
    log.info("Model written: %s", ", ".join(str(p) for p in written))


def _check_labels(channel: str, y: np.ndarray, task: str, estimator_name: str) -> None:
    """Missing labels, or a classifier given continuous ones: say so, rather than let fit() fail."""
    missing = np.flatnonzero(~np.isfinite(y))
    if missing.size:
        raise DataError(
            f"Channel '{channel}' has {missing.size} row(s) whose label (the first column) is "
            f"missing or infinite; the first is row {missing[0] + 1} of the channel.",
            hint="Every row needs its label in the first column.",
        )
    if task == "classification":
        fractional = np.flatnonzero(y != np.round(y))
        if fractional.size:
            raise DataError(
                f"Channel '{channel}': estimator '{estimator_name}' is a classifier, but labels "
                f"(the first column) are not whole numbers, e.g. {y[fractional[0]]:g} in row "
                f"{fractional[0] + 1}.",
                hint="For a numeric target use a regressor (estimator=random_forest_regressor, "
                "for example); for classes, write them as integers 0, 1, 2...",
            )


def _as_labels(y: np.ndarray) -> np.ndarray:
    """Whole-number labels as integers, so predictions read 1 rather than 1.0."""
    if y.size and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        return y.astype(np.int64)
    return y


def _read_json(path: Path) -> Any:
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
