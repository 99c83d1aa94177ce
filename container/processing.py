"""`process`: a SageMaker processing job that turns raw CSV into the channels `train` reads.

The raw CSV arrives under /opt/ml/processing/input/<name>; the results are uploaded from
/opt/ml/processing/output/<name>, at the LocalPaths /opt/ml/config/processingjobconfig.json
names (those folders when it is absent). The CSV is read by the runtime's own reader, the one
`train` uses (a header, the label column by name, class names, text columns, missing values),
so what `process` accepts `train` accepts. It is split into train, validation and test with
scikit-learn's train_test_split (stratified on the label for a classifier; the same seed and
input give the same split), written in the layout it came in (a header if it had one, the
label where it was), and described in report/report.json: rows and class balance per split,
each column's type as `train` will infer it, missing values, and the ContentType and
hyperparameters to train with.

On failure it writes /opt/ml/output/message (UTF-8, at most 1 KB: the job's ExitMessage) and
exits non-zero. SIGTERM and SIGINT (StopProcessingJob) stop it with nothing half-written: every
file is written under a temporary name outside its output folder, and all are moved into place
together at the end, with the stop signals held back while they move.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from . import dataset, leader, resources
from .channels import Channel
from .errors import ByocError, ConfigError, DataError, ProcessingStopped, exit_code
from .hyperparameters import CATEGORICAL_COLUMNS, LABEL_COLUMN, TrainingOptions
from .logs import configure_logging
from .paths import Paths
from .schema import CATEGORICAL, FORCED, column_list
from .stopping import StopOnSignal, signals_held
from .training import read_json

log = logging.getLogger("container.processing")

SPLITS = ("train", "validation", "test")
REPORT = "report"
REPORT_FILE = "report.json"
MESSAGE_LIMIT = 1024  # bytes of /opt/ml/output/message that become ExitMessage
#: Whole-number labels with at most this many distinct values are classes under --task auto.
AUTO_CLASSES_MAX = 20
HEADER_CONTENT_TYPE = "text/csv;header=present"
PLAIN_CONTENT_TYPE = "text/csv"


# -- the options: one definition for the container, `byoc process` and `byoc local process` ---


@dataclass(frozen=True)
class Options:
    """What `process` is asked to do; the defaults are what it does unasked."""

    label_column: str | None = None
    categorical_columns: str | None = None
    header: str = "auto"
    task: str = "auto"
    stratify: bool | None = None
    validation_fraction: float = 0.15
    test_fraction: float = 0.15
    seed: int = 0
    input_name: str | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "Options":
        return cls(**{f.name: getattr(args, f.name, f.default) for f in fields(cls)})

    def to_argv(self) -> list[str]:
        """The command-line arguments that give these options (defaults left out): what
        `byoc process` sends as ContainerArguments."""
        argv: list[str] = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value == f.default:
                continue
            flag = "--" + f.name.replace("_", "-")
            if isinstance(value, bool):
                argv.append(flag if value else "--no-" + f.name.replace("_", "-"))
            else:
                argv += [flag, str(value)]
        return argv

    def problems(self) -> list[str]:
        """What argparse cannot tell from one value alone."""
        found = []
        if self.validation_fraction + self.test_fraction >= 1:
            found.append(f"--validation-fraction {self.validation_fraction:g} plus --test-fraction "
                         f"{self.test_fraction:g} leave nothing to train on: together they must be below 1")
        if self.stratify and self.task == "regression":
            found.append("--stratify needs classes to stratify on; --task regression has none")
        return found

    @property
    def fractions(self) -> dict[str, float]:
        return {"train": 1 - self.validation_fraction - self.test_fraction,
                "validation": self.validation_fraction, "test": self.test_fraction}


def fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a fraction from 0 to below 1 (e.g. 0.15)")
    return value


def seed(text: str) -> int:
    if not text.strip().isdigit() or int(text) >= 2**32:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 0 to 2**32 - 1")
    return int(text)


def add_arguments(parser: argparse.ArgumentParser | Any, *, input_name: bool = True) -> None:
    """The options of `process` (for its own parser, and the byoc commands that run it, which
    name the one input themselves: input_name=False)."""
    d = Options()
    parser.add_argument("--label-column", metavar="COLUMN",
                        help="the label's column: a header name, or a 0-based position (default: the first)")
    parser.add_argument("--categorical-columns", metavar="A,B",
                        help="columns that are categories although they hold numbers (names or positions)")
    parser.add_argument("--header", choices=("auto", "present", "absent"), default=d.header,
                        help="whether the files start with a row of column names (default: %(default)s, "
                             "told from the first lines)")
    parser.add_argument("--task", choices=("auto", "classification", "regression"), default=d.task,
                        help="classification stratifies the split on the label (default: %(default)s: text "
                             f"labels, or whole numbers with at most {AUTO_CLASSES_MAX} values, are classes)")
    parser.add_argument("--stratify", action=argparse.BooleanOptionalAction, default=d.stratify,
                        help="keep each class's share in every split (default: for classification)")
    parser.add_argument("--validation-fraction", type=fraction, default=d.validation_fraction, metavar="F",
                        help="share of the rows for the validation channel; 0 for none (default: %(default)s)")
    parser.add_argument("--test-fraction", type=fraction, default=d.test_fraction, metavar="F",
                        help="share of the rows for the test channel; 0 for none (default: %(default)s)")
    parser.add_argument("--seed", type=seed, default=d.seed,
                        help="the split's random seed: the same seed and input give the same split "
                             "(default: %(default)s)")
    if input_name:
        parser.add_argument("--input-name", metavar="NAME",
                            help="the processing input that holds the CSV (default: the only one)")


class _Parser(argparse.ArgumentParser):
    """Bad arguments are a ConfigError, so they reach the message file like any other error."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        raise ConfigError(f"process: {message}.", hint="Run `process --help` for the options.")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="process", description="Split raw CSV into the train, validation and test "
                     "channels `train` reads, with a report (a SageMaker processing job's contract).")
    add_arguments(parser)
    return parser


def parse_options(argv: list[str]) -> Options:
    options = Options.from_args(build_parser().parse_args(argv))
    problems = options.problems()
    if problems:
        raise ConfigError("process: " + "; ".join(problems) + ".")
    return options


# -- the job's configuration ----------------------------------------------------------------


@dataclass(frozen=True)
class Input:
    name: str
    folder: Path
    distribution: str = "FullyReplicated"


@dataclass(frozen=True)
class Job:
    """What /opt/ml/config says: the job's name, its inputs and outputs (relocated), its hosts."""

    name: str
    inputs: dict[str, Input]
    outputs: dict[str, Path]
    hosts: resources.Resources = field(default_factory=resources.Resources)
    configured: bool = False


def read_job(paths: Paths) -> Job:
    raw = read_json(paths.processingjobconfig_file)
    hosts = resources.parse(read_json(paths.processing_resourceconfig_file))
    if raw is None:  # run by hand: every folder under /opt/ml/processing/input is an input
        root = paths.processing_input_dir
        found = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        return Job("(local)", {p.name: Input(p.name, p) for p in found}, {}, hosts)
    if not isinstance(raw, Mapping):
        raise ConfigError("processingjobconfig.json must hold a JSON object.")
    inputs: dict[str, Input] = {}
    for entry in raw.get("ProcessingInputs") or []:
        source = entry.get("S3Input") or entry.get("DatasetDefinition") or {}
        if source.get("LocalPath"):
            name = str(entry.get("InputName") or Path(source["LocalPath"]).name)
            inputs[name] = Input(name, paths.relocate(source["LocalPath"]),
                                 str(source.get("S3DataDistributionType") or source.get("DataDistributionType")
                                     or "FullyReplicated"))
    outputs = {}
    for entry in (raw.get("ProcessingOutputConfig") or {}).get("Outputs") or []:
        local = (entry.get("S3Output") or {}).get("LocalPath")
        if local:
            outputs[str(entry.get("OutputName"))] = paths.relocate(local)
    return Job(str(raw.get("ProcessingJobName") or "(unnamed)"), inputs, outputs, hosts, configured=True)


def pick_input(job: Job, wanted: str | None) -> Input:
    if wanted is not None:
        if wanted not in job.inputs:
            raise ConfigError(f"process: --input-name {wanted}, but the job's inputs are "
                              f"{', '.join(sorted(job.inputs)) or 'none'}.")
        return job.inputs[wanted]
    if len(job.inputs) == 1:
        return next(iter(job.inputs.values()))
    if not job.inputs:
        raise ConfigError("The processing job has no input with the raw CSV.",
                          hint="Give it one, with LocalPath /opt/ml/processing/input/raw (byoc process --input).")
    raise ConfigError(f"The processing job has {len(job.inputs)} inputs ({', '.join(sorted(job.inputs))}).",
                      hint="Name the one with the raw CSV: --input-name NAME.")


def output_dir(job: Job, paths: Paths, name: str) -> Path:
    """Where an output goes: the job's output of that name, else /opt/ml/processing/output/<name>."""
    return job.outputs.get(name) or paths.processing_output_dir / name


# -- reading, deciding, splitting: the pure core ----------------------------------------------


@dataclass
class Table:
    """The raw CSV as train read it: X and y with the schema, and the layout to write it back in."""

    X: Any  # float64 array, or a DataFrame (numbered columns) when some features are categorical
    y: np.ndarray
    schema: Any
    header: bool
    files: int

    @property
    def rows(self) -> int:
        return int(self.X.shape[0])

    def column_names(self) -> list[str | int]:
        """Each file column: its header name, else its 0-based position."""
        width = self.schema.n_features + 1
        return list(self.schema.header) if self.schema.header is not None else list(range(width))

    def frame(self) -> Any:
        """The rows as a DataFrame in the files' column order, label included; whole-number
        columns as integers (written 41, not 41.0), missing values as NA."""
        import pandas as pd

        label = self.schema.label_position()
        columns: dict[int, Any] = {label: pd.Series(self.y)}
        for i, position in enumerate(self.schema.positions):
            values = self.X.iloc[:, i] if hasattr(self.X, "iloc") else self.X[:, i]
            columns[position] = pd.Series(np.asarray(values), copy=False)
        frame = pd.DataFrame({k: _compact(columns[k]) for k in sorted(columns)})
        frame.columns = self.column_names()
        return frame


def read_table(input_: Input, paths: Paths, options: Options) -> Table:
    """The input's CSV files, read as `train` reads its training channel."""
    channel = Channel(input_.name, folder=input_.folder)
    if options.header == "auto":
        header = dataset.has_header_row(channel, paths)
        log.info("Input %s: the first line %s column names (--header auto).", input_.name,
                 "holds" if header else "does not hold")
    else:
        header = options.header == "present"
    channel = Channel(input_.name, HEADER_CONTENT_TYPE if header else PLAIN_CONTENT_TYPE, folder=input_.folder)
    training_options = TrainingOptions(label_column=options.label_column,
                                       categorical_columns=column_list(options.categorical_columns),
                                       seed=options.seed)
    ds = dataset.load_training(channel, paths, training_options)
    return Table(ds.X, ds.y, ds.schema, header, ds.files)


def missing_labels(y: np.ndarray) -> np.ndarray:
    import pandas as pd

    if y.dtype == object:
        return np.asarray(pd.isna(y), dtype=bool)
    return ~np.isfinite(y)


def decide_task(y: np.ndarray, requested: str) -> tuple[str, str]:
    """(classification or regression, why) for labels without missing values."""
    text = y.dtype == object
    if requested != "auto":
        if requested == "regression" and text:
            raise ConfigError("--task regression, but the labels are text (class names).",
                              hint="Text labels are classes: --task classification (or auto).")
        return requested, f"--task {requested}"
    if text:
        return "classification", "the labels are text"
    distinct = np.unique(y)
    if np.all(distinct == np.round(distinct)) and len(distinct) <= AUTO_CLASSES_MAX:
        return "classification", f"the labels are {len(distinct)} whole number(s)"
    return "regression", (f"the labels are numbers with {len(distinct)} distinct values" if len(distinct) >
                          AUTO_CLASSES_MAX else "the labels are fractional numbers")


def split(y: np.ndarray, fractions: Mapping[str, float], seed: int, stratify: bool) -> dict[str, np.ndarray]:
    """Row indices of each split with a non-zero fraction: test first, then validation from the rest,
    each by train_test_split with the seed (so the same seed and labels give the same split), each
    round(fraction x rows) rows."""
    from sklearn.model_selection import train_test_split

    rest = np.arange(len(y))
    parts: dict[str, np.ndarray] = {}
    for name in ("test", "validation"):
        share = fractions[name]
        if share <= 0:
            continue
        count = max(1, round(share * len(y)))  # of all the rows, counted once: no float drift
        try:
            rest, parts[name] = train_test_split(rest, test_size=count, random_state=seed,
                                                 stratify=y[rest] if stratify else None)
        except ValueError as exc:
            raise DataError(
                f"Cannot split {len(rest)} rows into {name} ({share:g}) and the rest"
                f"{' keeping each class share' if stratify else ''}: {exc}",
                hint=("Every class needs enough rows for every split: drop or merge rare classes, use "
                      "smaller fractions or 0, or --no-stratify." if stratify else
                      "Give more rows, or smaller fractions."),
            ) from None
    parts["train"] = rest
    return {name: parts[name] for name in SPLITS if name in parts}


def describe(table: Table, parts: Mapping[str, np.ndarray], task: str,
             frame: Any = None) -> tuple[list[dict[str, Any]], list[Any]]:
    """(each column as train will infer it from the train split, the categorical_columns train
    needs). A column that holds text somewhere is categorical; when the train split happens to
    hold only numbers (or nothing) there, train would take it as numeric and then refuse the
    text in validation, so it is listed for categorical_columns too."""
    import pandas as pd

    frame = table.frame() if frame is None else frame
    names = table.column_names()
    label = table.schema.label_position()
    columns: list[dict[str, Any]] = []
    needed: list[Any] = []
    kinds = table.schema.file_kinds()
    sources = {p: f.source for p, f in zip(table.schema.positions, table.schema.features)}
    train_rows = parts["train"]
    for position, name in enumerate(names):
        series = frame.iloc[:, position]
        missing = series.isna().to_numpy()
        entry: dict[str, Any] = {"column": name, "position": position}
        if position == label:
            entry.update(role="label", kind="text" if table.y.dtype == object else "numeric", task=task)
        else:
            kind, source = kinds[position], sources[position]
            if kind == CATEGORICAL and source != FORCED:
                seen = series.iloc[train_rows].dropna()
                if pd.to_numeric(seen.astype(str), errors="coerce").notna().all():
                    source = FORCED
            if kind == CATEGORICAL and source == FORCED:
                needed.append(name)
            entry.update(role="feature", kind=kind, source=source)
            if kind == CATEGORICAL:
                entry["categories"] = int(series.nunique(dropna=True))
        entry["missing"] = {"all": int(missing.sum()),
                            **{part: int(missing[rows].sum()) for part, rows in parts.items()}}
        columns.append(entry)
    return columns, needed


def labels_by_split(y: np.ndarray, parts: Mapping[str, np.ndarray], task: str) -> dict[str, Any]:
    """Class counts per split (classification), or the label's range and mean (regression)."""
    out: dict[str, Any] = {}
    for name, rows in parts.items():
        values = y[rows]
        if task == "classification":
            classes, counts = np.unique(values.astype(str) if values.dtype == object else values,
                                        return_counts=True)
            out[name] = {_key(c): int(n) for c, n in zip(classes, counts)}
        else:
            out[name] = ({"min": float(values.min()), "mean": float(values.mean()), "max": float(values.max())}
                         if len(values) else {})
    return out


def train_with(table: Table, categorical: list[Any]) -> dict[str, Any]:
    """The ContentType and hyperparameters that make `train` read the output as process read it."""
    hyperparameters: dict[str, Any] = {}
    label = table.schema.label
    if table.header or label != 0:
        hyperparameters[LABEL_COLUMN] = label
    if categorical:
        hyperparameters[CATEGORICAL_COLUMNS] = ",".join(str(c) for c in categorical)
    return {"content_type": HEADER_CONTENT_TYPE if table.header else PLAIN_CONTENT_TYPE,
            "hyperparameters": hyperparameters}


# -- the job -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Console script entry point: the job under SAGEMAKER_BASE_DIR (or /opt/ml)."""
    configure_logging()
    return run(Paths.from_env(), sys.argv[1:] if argv is None else argv)


def run(paths: Paths, argv: list[str]) -> int:
    started = time.monotonic()
    for stale in (paths.message_file, paths.failure_file):
        stale.unlink(missing_ok=True)
    staging = Staging()
    try:
        with _stop_on_signal(staging) as stopper:
            # Once the output is in place, a stop signal has nothing left to stop.
            staging.on_commit = stopper.finished.set
            summary = process(paths, argv, staging)
    except ProcessingStopped as exc:
        log.warning("%s", exc)
        _write_message(paths, str(exc))
        return exit_code(exc)
    except ByocError as exc:
        log.error("Processing failed: %s", exc)
        _write_message(paths, f"{type(exc).__name__}: {exc}", failure=True)
        return exit_code(exc)
    except Exception as exc:  # a bug, or something unforeseen: the log gets the traceback
        log.error("Processing failed with an unexpected error:\n%s", traceback.format_exc())
        _write_message(paths, f"{type(exc).__name__}: {str(exc).rstrip('.')}. This is an unexpected "
                       "error; the job's log has the traceback.", failure=True)
        return exit_code(exc)
    finally:
        staging.abandon()  # after a commit, nothing is left to remove
    if summary:
        _write_message(paths, summary)
    log.info("Processing finished in %.1f s.", time.monotonic() - started)
    return 0


def process(paths: Paths, argv: list[str], staging: "Staging") -> str:
    """The job itself; the one-line summary it leaves as ExitMessage ('' for a waiting host)."""
    options = parse_options(argv)
    job = read_job(paths)
    hosts = job.hosts
    log.info("Processing job %s on %s (%d host(s)); inputs %s; options %s", job.name, hosts.current_host,
             hosts.host_count, sorted(job.inputs), " ".join(options.to_argv()) or "(defaults)")
    source = pick_input(job, options.input_name)
    if hosts.host_count > 1:
        if source.distribution == "ShardedByS3Key":
            raise ConfigError(f"Input {source.name} is ShardedByS3Key on {hosts.host_count} hosts, so each "
                              "host holds only part of the rows, but the split needs all of them on one host.",
                              hint="Use FullyReplicated, or InstanceCount=1.")
        if not hosts.is_leader:
            log.info("%s is not the leader (%s prepares the data): waiting for it, so that a launcher which "
                     "stops every host once one exits does not stop the leader.", hosts.current_host, hosts.leader)
            try:
                ended = leader.wait_for(hosts.leader)
            except ProcessingStopped:
                ended = "stopped by a signal while waiting (the leader has ended, or the job was stopped)"
            log.info("%s: %s; nothing else to do.", hosts.current_host, ended)
            return ""
        leader.Presence().start()

    t0 = time.monotonic()
    table = read_table(source, paths, options)
    log.info("Read %d rows of %d columns from %d file(s) in %.2f s.", table.rows, table.schema.n_features + 1,
             table.files, time.monotonic() - t0)
    dropped = missing_labels(table.y)
    if dropped.any():
        first = int(np.flatnonzero(dropped)[0]) + 1
        log.warning("Dropped %d row(s) without a label (the first is data row %d): train needs every label.",
                    int(dropped.sum()), first)
        keep = ~dropped
        table.X = table.X[keep] if not hasattr(table.X, "iloc") else table.X.loc[keep].reset_index(drop=True)
        table.y = table.y[keep]
    if table.rows == 0:
        raise DataError("No row has a label.", hint="Check --label-column.")
    task, why = decide_task(table.y, options.task)
    stratify = options.stratify if options.stratify is not None else task == "classification"
    if stratify and task != "classification":
        raise ConfigError("--stratify needs classes, but the task is regression.")
    log.info("Task: %s (%s); %s.", task, why, "stratified split" if stratify else "plain random split")
    parts = split(table.y, options.fractions, options.seed, stratify)

    frame = table.frame()
    columns, categorical = describe(table, parts, task, frame)
    advice = train_with(table, categorical)
    label_name = table.column_names()[table.schema.label_position()]
    report = {
        "job": job.name,
        "input": {"name": source.name, "files": table.files, "header": table.header,
                  "rows": table.rows + int(dropped.sum()), "rows_without_label_dropped": int(dropped.sum())},
        "label": {"column": label_name, "kind": "text" if table.y.dtype == object else "numeric",
                  "task": task, "why": why},
        "split": {"fractions": {k: v for k, v in options.fractions.items()}, "seed": options.seed,
                  "stratified": stratify},
        "rows": {name: int(len(rows)) for name, rows in parts.items()},
        ("class_balance" if task == "classification" else "label_range"): labels_by_split(table.y, parts, task),
        "columns": columns,
        "missing_values": {name: sum(c["missing"][name] for c in columns) for name in parts},
        "train_with": advice,
        "outputs": {},
    }

    for name, rows in parts.items():
        folder = output_dir(job, paths, name)
        target = folder / f"{name}.csv"
        frame.iloc[rows].to_csv(staging.path(target), index=False, header=table.header, na_rep="",
                                lineterminator="\n")
        report["outputs"][name] = str(target)
    for name in SPLITS:
        if name not in parts:
            log.info("No %s channel: --%s-fraction is 0.", name, name)
    report_path = output_dir(job, paths, REPORT) / REPORT_FILE
    report["outputs"][REPORT] = str(report_path)
    staging.path(report_path).write_text(json.dumps(report, indent=2, default=str) + "\n")
    if job.configured:
        _warn_unuploaded(job, [output_dir(job, paths, n) for n in (*parts, REPORT)])
    staging.commit()

    rows = ", ".join(f"{name} {len(part)}" for name, part in parts.items())
    hps = " ".join(f"{k}={v}" for k, v in advice["hyperparameters"].items())
    log.info("Wrote %s rows; the report is %s.", rows, report_path)
    log.info("Train on them with ContentType %s%s.", advice["content_type"], f" and {hps}" if hps else "")
    return (f"Split {table.rows} rows into {rows} ({'stratified on ' + str(label_name) if stratify else 'random'}, "
            f"seed {options.seed}). Train with ContentType {advice['content_type']}"
            f"{' and ' + hps if hps else ''}.")


def _warn_unuploaded(job: Job, folders: list[Path]) -> None:
    configured = list(job.outputs.values())
    for folder in folders:
        if not any(folder.is_relative_to(out) for out in configured):
            log.warning("%s is in none of the job's outputs (%s): SageMaker will not upload it.", folder,
                        ", ".join(str(p) for p in configured) or "none")


# -- writing: all or nothing -------------------------------------------------------------------


class Staging:
    """Files written under temporary names, then moved into place together, or not at all.

    Each output folder gets a hidden staging folder beside it (outside it, so an output in
    Continuous upload mode never sees a partial file), or inside it when the folder is a mount
    of its own and a rename could not cross. commit() renames every file with SIGTERM and
    SIGINT held back; abandon() removes whatever was not committed.
    """

    def __init__(self) -> None:
        self._dirs: dict[Path, Path] = {}
        self._files: list[tuple[Path, Path]] = []
        self.lock = threading.Lock()
        #: Called once every file is in place, before the held signals are let through.
        self.on_commit: Callable[[], None] = lambda: None

    def path(self, final: Path) -> Path:
        folder = final.parent
        folder.mkdir(parents=True, exist_ok=True)
        if folder not in self._dirs:
            self._dirs[folder] = _staging_dir(folder)
        tmp = self._dirs[folder] / final.name
        self._files.append((tmp, final))
        return tmp

    def commit(self) -> None:
        with self.lock, signals_held():
            for tmp, final in self._files:
                os.replace(tmp, final)
            self._files = []
            self._remove_dirs()
            self.on_commit()

    def abandon(self) -> None:
        with self.lock:
            self._files = []
            self._remove_dirs()

    def _remove_dirs(self) -> None:
        for staged in self._dirs.values():
            shutil.rmtree(staged, ignore_errors=True)
        self._dirs = {}


def _staging_dir(folder: Path) -> Path:
    try:
        beside = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    except OSError:
        beside = None
    if beside is not None:
        if beside.stat().st_dev == folder.stat().st_dev:
            return beside
        beside.rmdir()
    return Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder))


def _stop_on_signal(staging: Staging) -> StopOnSignal:
    def abandon() -> None:
        staging.lock.acquire()  # never released: the process ends next
        staging._remove_dirs()

    return StopOnSignal(stopped=lambda name: ProcessingStopped(
        f"Processing stopped by {name} before it finished; no output was written."),
        abandon=abandon, job="processing")


def _write_message(paths: Paths, text: str, *, failure: bool = False) -> None:
    """/opt/ml/output/message: UTF-8, cut to 1 KB on a character boundary. On failure the same
    text goes to /opt/ml/output/failure too (training's channel; harmless for processing)."""
    data = text.strip().encode()
    if len(data) > MESSAGE_LIMIT:
        data = data[:MESSAGE_LIMIT - 3].decode("utf-8", errors="ignore").encode() + b"..."
    paths.output_dir.mkdir(parents=True, exist_ok=True)
    for target in (paths.message_file, *((paths.failure_file,) if failure else ())):
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_bytes(data + b"\n")
        os.replace(tmp, target)


def _compact(series: Any) -> Any:
    """A float column whose values are all whole numbers as nullable integers; others as they are."""
    if series.dtype.kind != "f":
        return series
    values = series.to_numpy()
    finite = values[np.isfinite(values)]
    if len(finite) and np.all(finite == np.round(finite)) and np.all(np.abs(finite) < 2**53) \
            and not np.isinf(values).any():
        return series.astype("Int64")
    return series


def _key(value: Any) -> str:
    """A class as a JSON key: 1 rather than 1.0 for whole numbers."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
