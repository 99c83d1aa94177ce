"""`byoc`: the command line for local runs, the image, and SageMaker.

    byoc demo                      train, serve and predict on the bundled sample
    byoc local train ...           run `train` on a job folder laid out as SageMaker would
    byoc local serve MODEL         serve a model folder or model.tar.gz on 127.0.0.1
    byoc sample DIR                write the sample data set
    byoc image build               build the image (then add --image IMAGE to demo and local)

The AWS commands (deploy, invoke, delete, train, transform, autoscale) come from byoc.aws.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from . import jobdir, local, sample

#: Modules that add subcommands with register(subparsers); missing ones are skipped.
COMMAND_MODULES = ("byoc.commands.image", "byoc.aws.commands")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="byoc", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="train, serve and predict on the bundled sample")
    demo.add_argument("--workdir", type=Path, default=Path("jobs/demo"), help="where to put the job (default: %(default)s)")
    demo.add_argument("--image", help="run train and serve in this Docker image instead of as processes")
    demo.set_defaults(func=cmd_demo)

    smp = commands.add_parser("sample", help="write the sample data set (iris, from scikit-learn)")
    smp.add_argument("folder", type=Path)
    smp.set_defaults(func=cmd_sample)

    loc = commands.add_parser("local", help="run train or serve on this machine").add_subparsers(
        dest="local_command", required=True, metavar="COMMAND")
    tr = loc.add_parser("train", help="lay out a job folder and run train on it")
    tr.add_argument("--train", type=Path, required=True, help="file or folder for the train channel")
    tr.add_argument("--validation", type=Path, help="file or folder for the validation channel")
    tr.add_argument("--test", type=Path, help="file or folder for the test channel")
    tr.add_argument("-H", "--hyperparameter", action="append", default=[], metavar="NAME=VALUE",
                    help="a hyperparameter (repeat); VALUE is parsed as JSON when it can be")
    tr.add_argument("--job-dir", type=Path, help="job folder (default: jobs/<job name>)")
    tr.add_argument("--job-name", help="TRAINING_JOB_NAME (default: byoc-<timestamp>)")
    tr.add_argument("--image", help="run in this Docker image instead of as a process")
    tr.set_defaults(func=cmd_local_train)

    sv = loc.add_parser("serve", help="serve a model folder or model.tar.gz on 127.0.0.1")
    sv.add_argument("model", type=Path)
    sv.add_argument("--port", type=int, default=8080)
    sv.add_argument("--image", help="serve from this Docker image instead of as a process")
    sv.set_defaults(func=cmd_local_serve)

    tf = loc.add_parser("transform", help="batch transform files through serve, as SageMaker does")
    tf.add_argument("model", type=Path, help="model folder or model.tar.gz")
    tf.add_argument("input", type=Path, help="input file or folder (SplitType=Line)")
    tf.add_argument("output", type=Path, help="output folder: one <file>.out per input file")
    tf.add_argument("--content-type", default="text/csv")
    tf.add_argument("--accept", help="response type (default: the server's choice)")
    tf.add_argument("--strategy", help="MultiRecord or SingleRecord (default: from /execution-parameters)")
    tf.add_argument("--max-payload-mb", type=float, help="default: from /execution-parameters")
    tf.add_argument("--image", help="serve from this Docker image instead of as a process")
    tf.set_defaults(func=cmd_local_transform)

    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            if exc.name and name.startswith(exc.name):
                continue  # not built yet
            commands.add_parser(name.split(".")[-2], help=f"unavailable: {exc}")
            continue
        module.register(commands)
    return parser


def parse_hyperparameters(items: list[str]) -> dict[str, Any]:
    try:
        return jobdir.parse_hyperparameter_args(items)
    except ValueError as exc:
        raise SystemExit(f"byoc: {exc}") from None


def _launcher(image: str | None) -> local.Launcher:
    if not image:
        return local.PYTHON
    from .image import DockerRun

    return DockerRun(image)


def cmd_sample(args: argparse.Namespace) -> int:
    for name, path in sample.write(args.folder).items():
        print(f"{name}: {path}")
    return 0


def cmd_local_train(args: argparse.Namespace) -> int:
    name = args.job_name or time.strftime("byoc-%Y%m%d-%H%M%S")
    root = args.job_dir or Path("jobs") / name
    channels = {k: getattr(args, k) for k in ("train", "validation", "test") if getattr(args, k)}
    paths = jobdir.create(root, jobdir.JobSpec(channels, parse_hyperparameters(args.hyperparameter)))
    result = local.run_train(paths, echo=sys.stdout, job_name=name, launcher=_launcher(args.image))
    return _report_training(result)


def _report_training(result: local.TrainResult) -> int:
    if not result.ok:
        print(f"\nTraining failed (exit {result.returncode}).", file=sys.stderr)
        if result.failure:
            print(f"Failure reason: {result.failure.strip()}", file=sys.stderr)
        return result.returncode or 1
    print(f"\nModel: {result.model_archive}")
    for name, value in sorted(result.metrics.items()):
        print(f"  {name} = {value:.4g}")
    return 0


def cmd_local_serve(args: argparse.Namespace) -> int:
    base = Path(tempfile.mkdtemp(prefix="byoc-serve-"))
    try:
        _stage_model(args.model, base / "model")
        server = local.Server(base, port=args.port, launcher=_launcher(args.image))
        server.start()
        server.wait_ready(timeout=300)
        print(f"Serving {args.model} at {server.url} (Ctrl-C stops it). Try:\n")
        print(curl_lines(server.url))
        try:
            while server.process.poll() is None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        code = server.stop()
        print(server.log[-2000:], end="")
        return code
    finally:
        shutil.rmtree(base, ignore_errors=True)


def cmd_local_transform(args: argparse.Namespace) -> int:
    from . import transform

    base = Path(tempfile.mkdtemp(prefix="byoc-transform-"))
    try:
        _stage_model(args.model, base / "model")
        server = local.Server(base, env={"SAGEMAKER_BATCH": "true"}, launcher=_launcher(args.image))
        server.start()
        try:
            server.wait_ready(timeout=300)
            result = transform.run(server.url, args.input, args.output, content_type=args.content_type,
                                   accept=args.accept, strategy=args.strategy,
                                   max_payload_mb=args.max_payload_mb)
        finally:
            server.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"execution parameters: {result.parameters}")
    for f in result.files:
        status = f"-> {f.output}" if f.error is None else f"FAILED: {f.error}"
        print(f"{f.source}: {f.records} records in {f.requests} request(s) {status}")
    return 0 if result.ok else 1


def _stage_model(model: Path, target: Path) -> None:
    """Put the model where serve expects it, as SageMaker extracts model.tar.gz."""
    if model.is_dir():
        shutil.copytree(model, target)
    elif model.is_file():
        jobdir.unpack(model, target)
    else:
        raise SystemExit(f"byoc: {model} is neither a model folder nor a model.tar.gz")


def curl_lines(url: str, payload: str = "5.1,3.5,1.4,0.2") -> str:
    return "\n".join([
        f"  curl -s {url}/ping -o /dev/null -w '%{{http_code}}\\n'",
        f"  curl -s -X POST {url}/invocations -H 'Content-Type: text/csv' --data-binary '{payload}'",
        f"  curl -s -X POST {url}/invocations -H 'Content-Type: application/json' -H 'Accept: application/json' "
        f"-H 'X-Amzn-SageMaker-Custom-Attributes: output=probabilities' -d '[[{payload}]]'",
    ])


def cmd_demo(args: argparse.Namespace) -> int:
    launcher = _launcher(args.image)
    workdir: Path = args.workdir
    if workdir.exists():
        shutil.rmtree(workdir)
    print(f"== 1. Sample data (iris, from scikit-learn) in {workdir / 'data'}")
    data = sample.write(workdir / "data")
    print("== 2. Training job folder laid out as /opt/ml, then `train`")
    paths = jobdir.create(workdir / "job", jobdir.JobSpec(
        {k: data[k] for k in ("train", "validation", "test")}, {"n_estimators": 100}))
    result = local.run_train(paths, echo=sys.stdout, job_name="byoc-demo", launcher=launcher)
    if _report_training(result):
        return 1
    print(f"== 3. `serve` on the model, extracted from {result.model_archive} as SageMaker does")
    base = workdir / "endpoint"
    jobdir.unpack(result.model_archive, base / "model")
    server = local.Server(base, launcher=launcher)
    server.start()
    try:
        waited = server.wait_ready(timeout=300)
        print(f"/ping is 200 after {waited:.1f} s at {server.url}")
        body = data["payload"].read_bytes()
        print(f"== 4. POST /invocations with {data['payload']}:\n{body.decode().strip()}")
        for accept, attributes in (("text/csv", ""), ("application/json", "output=probabilities")):
            request = urllib.request.Request(server.url + "/invocations", data=body, method="POST", headers={
                "Content-Type": "text/csv", "Accept": accept,
                "X-Amzn-SageMaker-Custom-Attributes": attributes})
            with urllib.request.urlopen(request, timeout=30) as response:
                print(f"-- Accept: {accept}{'; ' + attributes if attributes else ''} -> {response.status}")
                print(response.read().decode().strip())
        print("\nTo try it yourself, serve the model and use curl:\n")
        print(f"  byoc local serve {result.model_archive}\n")
        print(curl_lines("http://127.0.0.1:8080"))
    finally:
        code = server.stop()
    print(f"\nserve stopped on SIGTERM with exit code {code}.")
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
