"""`byoc local train|serve|transform|tune`: a training job, an endpoint, a batch transform and a tuning job
(byoc.commands.tune), on this machine.

Each runs `train` or `serve` as a process of this Python, or with --image in the image, through
byoc.local; each checks its arguments before it starts anything, and however it ends (done, a
failure, Ctrl-C, SIGTERM), what it started has ended when it returns.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import shlex
import shutil
import sys
import tarfile
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .. import jobdir, local
from ..aws import names
from ..errors import ByocError, UsageError
from . import add_image_option, launcher, path_arg, port_arg

CHANNELS = ("train", "validation", "test")
READY_TIMEOUT = 300.0  # a first start in the image, or a big model, may take a while


def register(subparsers: Any) -> None:
    loc = subparsers.add_parser("local", help="run train, serve or a batch transform on this machine").add_subparsers(
        dest="local_command", required=True, metavar="COMMAND")

    tr = loc.add_parser("train", help="lay out a job folder as /opt/ml and run train on it")
    tr.add_argument("--train", type=path_arg, required=True, help="file or folder for the train channel")
    tr.add_argument("--validation", type=path_arg, help="file or folder for the validation channel")
    tr.add_argument("--test", type=path_arg, help="file or folder for the test channel")
    tr.add_argument("-H", "--hyperparameter", action="append", default=[], metavar="NAME=VALUE",
                    help="a hyperparameter (repeat); VALUE is parsed as JSON when it can be")
    tr.add_argument("--content-type", default="text/csv",
                    help="the channels' ContentType (default: %(default)s; 'text/csv;header=present' when "
                         "the files start with a header row)")
    tr.add_argument("--job-name", help="TRAINING_JOB_NAME (default: byoc-<timestamp>)")
    tr.add_argument("--job-dir", type=path_arg, help="job folder (default: jobs/<job name>)")
    add_image_option(tr)
    tr.set_defaults(func=train)

    sv = loc.add_parser("serve", help="serve a model folder or model.tar.gz on 127.0.0.1, log shown live")
    sv.add_argument("model", type=path_arg, metavar="MODEL", help="model folder or model.tar.gz")
    sv.add_argument("--port", type=port_arg, default=8080, help="port on 127.0.0.1 (default: %(default)s)")
    add_image_option(sv)
    sv.set_defaults(func=serve)

    tf = loc.add_parser("transform", help="batch transform files through serve, as SageMaker does")
    tf.add_argument("model", type=path_arg, metavar="MODEL", help="model folder or model.tar.gz")
    tf.add_argument("input", type=path_arg, metavar="INPUT", help="input file or folder (SplitType=Line)")
    tf.add_argument("output", type=path_arg, metavar="OUTPUT", help="output folder: one <file>.out per input file")
    tf.add_argument("--content-type", default="text/csv")
    tf.add_argument("--accept", help="response type (default: the server's choice)")
    tf.add_argument("--strategy", help="MultiRecord or SingleRecord (default: from /execution-parameters)")
    tf.add_argument("--max-payload-mb", type=float, help="0 to 100 (default: from /execution-parameters)")
    add_image_option(tf)
    tf.set_defaults(func=transform)

    from container.processing import add_arguments as add_process_options

    pr = loc.add_parser("process", help="split raw CSV into train, validation and test, as a processing job")
    pr.add_argument("--input", type=path_arg, required=True, help="the raw CSV: a file, or a folder of files")
    pr.add_argument("--job-name", help="the processing job's name (default: byoc-process-<timestamp>)")
    pr.add_argument("--job-dir", type=path_arg, help="job folder, laid out as /opt/ml (default: jobs/<job name>)")
    add_image_option(pr)
    add_process_options(pr.add_argument_group("data preparation (the options of `process`)"), input_name=False)
    pr.set_defaults(func=process)

    from .tune import register_local  # `byoc local tune` lives with `byoc tune`, which shares its options

    register_local(loc)


# -- train -------------------------------------------------------------------------------------


def train(args: argparse.Namespace) -> int:
    channels: dict[str, Path] = {k: getattr(args, k) for k in CHANNELS if getattr(args, k) is not None}
    for name, path in channels.items():
        if not path.exists():
            raise UsageError(f"--{name} {path} does not exist: give a CSV file or a folder of them")
    try:
        hyperparameters = jobdir.parse_hyperparameter_args(args.hyperparameter)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    name = args.job_name if args.job_name is not None else time.strftime("byoc-%Y%m%d-%H%M%S")
    if (problem := names.problem("training job", name)) is not None:
        raise UsageError(f"--job-name: {problem}")
    start = launcher(args.image)
    spec = jobdir.JobSpec(channels, hyperparameters, content_type=args.content_type)
    paths = jobdir.create(args.job_dir or Path("jobs") / name, spec)
    result = local.run_train(paths, echo=sys.stdout, job_name=name, launcher=start)
    return report_training(result)


def report_training(result: local.TrainResult) -> int:
    if not result.ok:
        print(f"\nTraining failed (exit {result.returncode}).", file=sys.stderr)
        if result.failure:
            print(f"Failure reason: {result.failure.strip()}", file=sys.stderr)
        return result.returncode if 0 < result.returncode < 256 else 1
    print(f"\nModel: {result.model_archive}")
    for name, value in sorted(result.metrics.items()):
        print(f"  {name} = {value:.4g}")
    return 0


# -- serve -------------------------------------------------------------------------------------


def serve(args: argparse.Namespace) -> int:
    check_model(args.model)
    if local.port_in_use(args.port):
        raise UsageError(f"127.0.0.1:{args.port} is in use (another `byoc local serve`?): stop that, or pass --port")
    start = launcher(args.image)
    with staged(args.model) as base:
        server = local.Server(base, port=args.port, launcher=start, echo=sys.stdout)
        server.start()
        try:
            server.wait_ready(timeout=READY_TIMEOUT)
            print(f"\nServing {args.model} at {server.url} (Ctrl-C stops it). Try:\n\n"
                  f"{curl_lines(server.url, base / 'model')}\n", flush=True)
            code = server.wait()
        except local.RunError as exc:
            server.stop()
            raise ByocError(f"{exc} (its log is above)") from None
        except BaseException:  # Ctrl-C or SIGTERM: serve drains and stops, as on an endpoint
            code = server.stop()
            print(f"byoc: serve stopped on SIGTERM with exit code {code}.", file=sys.stderr)
            raise
        server.stop()  # nothing left to stop: the cleanup
    if code != 0:
        raise ByocError(f"serve exited with {code} (its log is above)")
    return 0


#: The hint's row for a model that takes four unnamed numbers (the iris sample's shape).
IRIS_ROW: list[str | float] = [5.1, 3.5, 1.4, 0.2]


def example_row(model_dir: Path | None) -> tuple[list[str | float], list[str]]:
    """A row this model accepts and its feature names ([] when trained without a header), from
    metadata.json: each category's first value, 0 for numbers. A model without one: the iris row."""
    try:
        metadata = json.loads((model_dir / "metadata.json").read_text()) if model_dir else {}
    except (OSError, ValueError):
        metadata = {}
    features = metadata.get("features") if isinstance(metadata, dict) else None
    # A model trained without a header has each feature's name null: its JSON rows are lists, not objects.
    if features and all(isinstance(f, dict) and f.get("name") is not None for f in features):
        row: list[str | float] = [str(f["categories"][0]) if f.get("kind") == "categorical" and f.get("categories")
                                  else 0 for f in features]
        return row, [str(f["name"]) for f in features]
    width = metadata.get("n_features") if isinstance(metadata, dict) else None
    if isinstance(width, int) and 0 < width != len(IRIS_ROW):
        return [0] * width, []
    return IRIS_ROW, []


def curl_lines(url: str, model_dir: Path | None = None) -> str:
    """The curl commands a user can paste to try the server, with a row this model accepts."""
    row, names = example_row(model_dir)
    line = io.StringIO()
    csv.writer(line, lineterminator="").writerow(row)
    instance = {"instances": [dict(zip(names, row))]} if names else [row]
    return "\n".join([
        f"  curl -s {url}/ping -o /dev/null -w '%{{http_code}}\\n'",
        f"  curl -s -X POST {url}/invocations -H 'Content-Type: text/csv' --data-binary {shlex.quote(line.getvalue())}",
        f"  curl -s -X POST {url}/invocations -H 'Content-Type: application/json' -H 'Accept: application/json' "
        f"-H 'X-Amzn-SageMaker-Custom-Attributes: output=probabilities' -d {shlex.quote(json.dumps(instance))}",
    ])


# -- transform ---------------------------------------------------------------------------------


def transform(args: argparse.Namespace) -> int:
    from .. import transform as batch

    check_model(args.model)
    if not args.input.exists():
        raise UsageError(f"input {args.input} does not exist: give a file, or a folder of files, to transform")
    if args.input.is_dir() and not any(p.is_file() for p in args.input.rglob("*")):
        raise UsageError(f"input folder {args.input} has no files to transform")
    if args.output.exists() and not args.output.is_dir():
        raise UsageError(f"output {args.output} is a file: give a folder for the <file>.out results")
    if args.strategy is not None:
        try:
            batch.normalise_strategy(args.strategy)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    if args.max_payload_mb is not None and not 0 <= args.max_payload_mb <= 100:
        raise UsageError(f"--max-payload-mb {args.max_payload_mb:g} is not between 0 and 100 (MaxPayloadInMB)")
    start = launcher(args.image)
    with staged(args.model) as base:
        # The server's log goes to stderr, as it comes: stdout is the transform's report.
        server = local.Server(base, env={"SAGEMAKER_BATCH": "true"}, launcher=start, echo=sys.stderr)
        server.start()
        try:
            server.wait_ready(timeout=READY_TIMEOUT)
            result = batch.run(server.url, args.input, args.output, content_type=args.content_type,
                               accept=args.accept, strategy=args.strategy, max_payload_mb=args.max_payload_mb)
        except local.RunError as exc:
            raise ByocError(f"{exc} (its log is above)") from None
        except OSError as exc:  # serve went away in the middle
            raise ByocError(f"the transform stopped: {exc} (serve's log is above)") from None
        finally:
            server.stop()
    print(f"execution parameters: {result.parameters}")
    for f in result.files:
        status = f"-> {f.output}" if f.error is None else f"FAILED: {f.error}"
        print(f"{f.source}: {f.records} records in {f.requests} request(s) {status}")
    return 0 if result.ok else 1


# -- process -----------------------------------------------------------------------------------


def process(args: argparse.Namespace) -> int:
    from container.processing import Options

    from .. import processing as job

    options = Options.from_args(args)
    if problems := options.problems():
        raise UsageError("; ".join(problems))
    name = args.job_name if args.job_name is not None else time.strftime("byoc-process-%Y%m%d-%H%M%S")
    if (problem := names.problem("processing job", name)) is not None:
        raise UsageError(f"--job-name: {problem}")
    start = launcher(args.image)
    splits = [split for split, share in options.fractions.items() if share > 0]
    arguments = options.to_argv()
    paths = job.create(args.job_dir or Path("jobs") / name, args.input, name=name, arguments=arguments,
                       image=args.image, splits=splits)
    result = job.run(paths, arguments, echo=sys.stdout, launcher=start)
    if not result.ok:
        print(f"\nProcessing failed (exit {result.returncode}).", file=sys.stderr)
        if result.message:
            print(f"Message: {result.message}", file=sys.stderr)
        return result.returncode if 0 < result.returncode < 256 else 1
    report = result.report or {}
    print(f"\n{result.message or 'Done.'}")
    for split, counts in (report.get("class_balance") or {}).items():
        print(f"  {split}: " + ", ".join(f"{label} {n}" for label, n in counts.items()))
    print(f"Report: {result.outputs['report'] / 'report.json'}")
    advice = report.get("train_with") or {}
    command = ["byoc", "local", "train", *(["--image", args.image] if args.image else [])]
    for split in splits:
        command += [f"--{split}", str(result.outputs[split])]
    if advice.get("content_type", "text/csv") != "text/csv":
        command += ["--content-type", advice["content_type"]]
    for key, value in (advice.get("hyperparameters") or {}).items():
        command += ["-H", f"{key}={value}"]
    print(f"Train on them:\n  {shlex.join(command)}")
    return 0


# -- the model, staged as SageMaker stages it -----------------------------------------------------


def check_model(model: Path) -> None:
    if model.is_dir():
        return
    if not model.is_file():
        raise UsageError(f"{model} does not exist: give a model folder or a model.tar.gz")
    if not tarfile.is_tarfile(model):
        raise UsageError(f"{model} is not a model.tar.gz (nor a folder): give the archive `byoc local train` wrote")


@contextmanager
def staged(model: Path) -> Iterator[Path]:
    """A temporary endpoint folder with the model in <it>/model, as SageMaker extracts model.tar.gz."""
    base = Path(tempfile.mkdtemp(prefix="byoc-serve-"))
    try:
        if model.is_dir():
            shutil.copytree(model, base / "model")
        else:
            try:
                jobdir.unpack(model, base / "model")
            except (tarfile.TarError, OSError) as exc:
                raise UsageError(f"{model} cannot be extracted: {exc}") from None
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def serve_command(model: Path, image: str | None = None) -> str:
    """The `byoc local serve` line that serves this model as the run that made it did."""
    return shlex.join(["byoc", "local", "serve", str(model), *(["--image", image] if image else [])])
