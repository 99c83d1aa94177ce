"""`byoc process`: the image's `process` as a SageMaker processing job, from a local folder or s3://.

Arguments become a byoc.aws.processing.ProcessingSpec; the options of `process` itself are
container.processing's own (one definition for the container and both CLIs) and travel as
ContainerArguments. Problems are reported all at once before any AWS call. With --wait the
train, validation and test S3 prefixes are printed last, as `--channel NAME=URI` values for
`byoc train`.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any

from ..aws import names
from ..errors import PreflightError
from . import aws_options as opts


def register(subparsers: Any) -> None:
    from container.processing import add_arguments

    p = opts.command_parser(
        subparsers, "process", "split raw CSV into train/validation/test with a processing job",
        "CreateProcessingJob that runs this image's `process` (ContainerEntrypoint byoc-entrypoint process) "
        "on --input (s3:// prefix, or a local file or folder, uploaded first), writing train/, validation/, "
        "test/ and report/ under --output. With --wait, shows the job's progress, prints FailureReason and "
        "ExitMessage if it fails, and prints train=, validation= and test= S3 prefixes last (feed them to "
        "`byoc train --channel`). --stop JOB stops a running job.")
    p.add_argument("--image", help="ECR image URI (required unless --stop)")
    opts.add_role(p)
    p.add_argument("--input", metavar="SOURCE", help="the raw CSV: s3://bucket/prefix/, or a local file or folder")
    p.add_argument("--output", metavar="S3URI",
                   help="where the outputs go (default: s3://BUCKET/PREFIX/processing/JOB/output)")
    p.add_argument("--job-name", help="(default: byoc-process-<timestamp>)")
    p.add_argument("--instance-type", default=opts.DEFAULT_INSTANCE,
                   help="a ProcessingInstanceType (default: %(default)s); one host processes, the others wait")
    p.add_argument("--instance-count", type=int, default=1)
    p.add_argument("--volume-gb", type=int, default=30)
    p.add_argument("--max-runtime", type=int, default=86400, metavar="SECONDS", help="at most 777600 (9 days)")
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="values of at most 256 characters")
    p.add_argument("--stop", metavar="JOB", help="stop this processing job (StopProcessingJob) instead")
    add_arguments(p.add_argument_group("data preparation (the options of `process`)"), input_name=False)
    opts.add_bucket(p)
    opts.add_wait(p, "the job ends")
    p.set_defaults(func=cmd_process)


def cmd_process(args: argparse.Namespace) -> int:
    if args.stop:
        return stop(args)
    from container.processing import Options

    from ..aws import preflight, processing, s3

    if not args.image or not args.input:
        raise PreflightError([f"{flag} is required" for flag, value in (("--image", args.image),
                                                                          ("--input", args.input)) if not value])
    options = Options.from_args(args)
    splits = tuple(name for name, share in options.fractions.items() if share > 0)
    spec = processing.ProcessingSpec(
        name=args.job_name or names.unique("byoc-process"), image=args.image, role=opts.role(args),
        input=args.input, arguments=options.to_argv(), splits=splits, output=args.output,
        instance_type=args.instance_type, instance_count=args.instance_count, volume_gb=args.volume_gb,
        max_runtime=args.max_runtime, environment=opts.key_values(args.env, "--env"), prefix=args.prefix)
    preflight.require([*options.problems(), *processing.spec_problems(spec, opts.region(args))])

    session = opts.session(args)
    submitted = processing.submit(session, spec, s3.lazy_bucket(session, args.bucket))
    for name, uri in submitted.outputs.items():
        print(f"  {name}: {uri}", file=sys.stderr)
    if not args.wait:
        print(f"Started; follow it with `aws sagemaker describe-processing-job --processing-job-name {spec.name}`.",
              file=sys.stderr)
        print(spec.name)
        return 0
    described = processing.follow(session, spec.name, delay=opts.poll(args),
                                  timeout=processing.wait_timeout(spec.max_runtime, args.wait_timeout))
    if described.get("ExitMessage"):
        print(f"Processing job {spec.name} Completed: {described['ExitMessage'].strip()}", file=sys.stderr)
    else:
        print(f"Processing job {spec.name} Completed (it left no ExitMessage).", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="byoc-report-") as folder:
        report = processing.read_report(session, submitted.outputs[processing.REPORT], Path(folder))
    if report is None:
        print(f"No {processing.REPORT_FILE} under {submitted.outputs[processing.REPORT]}: the container did not "
              "write one (an emulator such as moto runs no container).", file=sys.stderr)
    else:
        print(f"Report: {submitted.outputs[processing.REPORT]}{processing.REPORT_FILE}; rows {report.get('rows')}",
              file=sys.stderr)
        print(f"Train on them: {train_command(args.image, submitted.outputs, splits, report)}", file=sys.stderr)
    for name in splits:
        print(f"{name}={submitted.outputs[name]}")
    return 0


def train_command(image: str, outputs: dict[str, str], splits: tuple[str, ...], report: dict[str, Any]) -> str:
    advice = report.get("train_with") or {}
    command = ["byoc", "train", "--image", image]
    for name in splits:
        command += ["--channel", f"{name}={outputs[name]}"]
    if advice.get("content_type"):
        command += ["--content-type", advice["content_type"]]
    for key, value in (advice.get("hyperparameters") or {}).items():
        command += ["-H", f"{key}={value}"]
    return shlex.join(command)


def stop(args: argparse.Namespace) -> int:
    from ..aws import processing

    if (problem := names.problem("processing job", args.stop)) is not None:
        raise PreflightError(problem)
    session = opts.session(args)
    processing.stop(session, args.stop)
    if args.wait:
        described = processing.wait_ended(session, args.stop, delay=opts.poll(args), timeout=args.wait_timeout)
        print(f"Processing job {args.stop} {processing.status_of(described)}", file=sys.stderr)
    print(args.stop)
    return 0
