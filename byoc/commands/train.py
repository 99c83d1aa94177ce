"""`byoc train`: a SageMaker training job with this image, from local folders or s3:// prefixes.

Arguments become a byoc.aws.training.TrainingSpec; its problems are reported all at once before
any AWS call; byoc.aws.training submits and follows the job.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..aws import names, preflight
from ..errors import PreflightError
from . import aws_options as opts


def register(subparsers: Any) -> None:
    p = opts.command_parser(
        subparsers, "train", "start a SageMaker training job with this image",
        "CreateTrainingJob with the image, channels (s3:// prefixes, or local files and folders, "
        "uploaded first), hyperparameters, and the runtime's metric definitions. With --wait, "
        "shows the job's progress and final metrics and prints the model artifact's S3 URI last "
        "(feed it to `byoc deploy --model`); without, prints the job name.")
    add_training_options(p)
    opts.add_wait(p, "the job ends")
    p.set_defaults(func=cmd_train)


def add_training_options(p: argparse.ArgumentParser, *, required: bool = True,
                         name_help: str = "(default: byoc-train-<timestamp>)") -> None:
    """The training job's options, shared by `byoc train` and `byoc tune` (whose training jobs they define).
    required=False leaves --image to the pre-flight check (for a parser that also has subcommands)."""
    p.add_argument("--image", required=required, help="ECR image URI")
    opts.add_role(p)
    p.add_argument("--channel", action="append", default=[], metavar="NAME=SOURCE",
                   help="input channel: train=s3://bucket/prefix/ or train=./data/train (repeat)")
    p.add_argument("-H", "--hyperparameter", action="append", default=[], metavar="NAME=VALUE",
                   help="hyperparameter (repeat); VALUE is read as JSON when it parses")
    p.add_argument("--job-name", help=name_help)
    p.add_argument("--output", help="S3OutputPath (default: s3://BUCKET/PREFIX/training, or .../tuning for byoc tune)")
    p.add_argument("--instance-type", default=opts.DEFAULT_INSTANCE, help="x86 only (default: %(default)s)")
    p.add_argument("--instance-count", type=int, default=1)
    p.add_argument("--volume-gb", type=int, default=30)
    p.add_argument("--max-runtime", type=int, default=86400, metavar="SECONDS")
    p.add_argument("--input-mode", default="File", choices=("File", "FastFile", "Pipe"))
    p.add_argument("--content-type", default="text/csv", help="channels' ContentType (default: %(default)s)")
    p.add_argument("--distribution", default="FullyReplicated", choices=("FullyReplicated", "ShardedByS3Key"))
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    spot = p.add_argument_group("managed spot")
    spot.add_argument("--spot", action="store_true", help="managed spot training (checkpoints to S3)")
    spot.add_argument("--max-wait", type=int, metavar="SECONDS", help="spot: MaxWaitTimeInSeconds (>= --max-runtime)")
    spot.add_argument("--checkpoint", help="CheckpointConfig.S3Uri (default with --spot: OUTPUT/JOB/checkpoints)")
    opts.add_bucket(p)


def training_spec(args: argparse.Namespace, name: str) -> Any:
    """The byoc.aws.training.TrainingSpec the options of add_training_options() describe."""
    from ..aws import training

    hyperparameters = training.stringify(parse_hyperparameters(args.hyperparameter))
    return training.TrainingSpec(
        name=name, image=args.image, role=opts.role(args),
        channels=parse_channels(args.channel), hyperparameters=hyperparameters,
        environment=opts.key_values(args.env, "--env"), instance_type=args.instance_type,
        instance_count=args.instance_count, volume_gb=args.volume_gb, max_runtime=args.max_runtime,
        input_mode=args.input_mode, content_type=args.content_type, distribution=args.distribution,
        spot=args.spot, max_wait=args.max_wait, output=args.output, checkpoint=args.checkpoint,
        prefix=args.prefix)


def parse_channels(items: list[str]) -> dict[str, str]:
    channels: dict[str, str] = {}
    for item in items:
        name, sep, source = item.partition("=")
        if not sep or not name or not source:
            raise PreflightError(f"--channel {item!r} is not NAME=SOURCE")
        if name in channels:
            raise PreflightError(f"channel {name} is given twice")
        channels[name] = source
    return channels


def parse_hyperparameters(items: list[str]) -> dict[str, Any]:
    from ..jobdir import parse_hyperparameter_args

    try:
        return parse_hyperparameter_args(items)
    except ValueError as exc:
        raise PreflightError(str(exc)) from None


def cmd_train(args: argparse.Namespace) -> int:
    from ..aws import s3, training

    spec = training_spec(args, args.job_name or names.unique("byoc-train"))
    problems = training.spec_problems(spec, opts.region(args))
    for warning in preflight.hyperparameter_warnings(spec.hyperparameters):
        print(f"Warning: {warning}", file=sys.stderr)
    preflight.require(problems)

    session = opts.session(args)
    training.submit(session, spec, s3.lazy_bucket(session, args.bucket))
    if not args.wait:
        print(f"Started; follow it with `aws sagemaker describe-training-job --training-job-name {spec.name}`.",
              file=sys.stderr)
        print(spec.name)
        return 0
    result = training.follow(session, spec.name, delay=opts.poll(args), timeout=args.wait_timeout)
    for metric, value in sorted(result.metrics.items()):
        print(f"  {metric} = {value:.6g}", file=sys.stderr)
    print(f"Training job {spec.name} Completed. Deploy it: byoc deploy ENDPOINT --image {args.image} "
          f"--model {result.model_artifacts}", file=sys.stderr)
    print(result.model_artifacts or spec.name)
    return 0
