"""The AWS subcommands of `byoc`: deploy, invoke, delete, train, transform, autoscale.

byoc.cli calls register(subparsers). Each command checks its input first (pre-flight: names,
role, image, instance type against the image's architecture, the model archive, bucket
regions) and only then calls AWS. Progress goes to stderr; stdout carries the one result a
script wants (the endpoint name, the model artifact URI, the prediction), last.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import textwrap
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Callable, Iterator

from . import names, preflight
from .errors import EXIT_CODES_HELP, AwsCommandError, Failed, PreflightError, TimedOut

DEFAULT_INSTANCE = "ml.m5.large"
DEFAULT_PREFIX = "byoc"
ROLE_ENV = "BYOC_ROLE_ARN"
POLL_ENV = "BYOC_POLL_SECONDS"

EPILOG = "Exit codes:\n" + EXIT_CODES_HELP


def register(subparsers: Any) -> None:
    """Add the AWS commands to `byoc`."""
    _deploy(subparsers)
    _invoke(subparsers)
    _delete(subparsers)
    _train(subparsers)
    _transform(subparsers)
    _autoscale(subparsers)
    _ecr(subparsers)


# -- shared options -----------------------------------------------------------------------


def _parser(subparsers: Any, name: str, help: str, description: str) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(name, help=help, description=textwrap.fill(description, 88), epilog=EPILOG,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    aws = parser.add_argument_group("AWS")
    aws.add_argument("--region", help="AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, then the profile's)")
    aws.add_argument("--profile", help="AWS profile (default: AWS_PROFILE, then 'default')")
    return parser


def _wait_options(parser: argparse.ArgumentParser, what: str) -> None:
    group = parser.add_argument_group("waiting")
    group.add_argument("--wait", action="store_true", help=f"wait until {what}, showing progress")
    group.add_argument("--wait-timeout", type=float, metavar="SECONDS",
                       help="stop waiting after this long (exit 4; the work goes on in AWS)")
    group.add_argument("--poll", type=float, metavar="SECONDS", help=argparse.SUPPRESS)


def _key_values(items: list[str], flag: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise PreflightError(f"{flag} {item!r} is not NAME=VALUE")
        values[key] = value
    return values


def _poll(args: argparse.Namespace) -> float | None:
    if getattr(args, "poll", None) is not None:
        return args.poll
    return float(os.environ[POLL_ENV]) if os.environ.get(POLL_ENV) else None


def _session(args: argparse.Namespace) -> Any:
    from .session import make_session

    session = make_session(args.region, args.profile)
    print(f"Using {session.describe()}", file=sys.stderr)
    return session


def _guarded(handler: Callable[[argparse.Namespace], int | None]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return int(handler(args) or 0)
        except AwsCommandError as exc:
            print(f"byoc {args.command}: {exc}", file=sys.stderr)
            return exc.exit_code
    run.__doc__ = handler.__doc__
    return run


def _role(args: argparse.Namespace) -> str | None:
    return args.role or os.environ.get(ROLE_ENV)


def _image_checks(image: str, instance_type: str, region: str) -> list[str]:
    """Image URI problems, and the local image's architecture against the instance type."""
    problems = preflight.image_uri_problems(image, region)
    if image:
        arch, note = preflight.local_image_architecture(image)
        if arch is None:
            print(f"Architecture of {image} not checked: {note}. It must be linux/"
                  f"{preflight.expected_architecture(instance_type)} for {instance_type}.", file=sys.stderr)
        problems.append(preflight.architecture_problem(image, arch, instance_type))
        if image.endswith(":latest"):
            print(f"Note: {image} uses the moving tag 'latest'; the immutable tag build_and_push.sh "
                  "printed says exactly what runs.", file=sys.stderr)
    return [p for p in problems if p]


def _check_image_in_ecr(session: Any, image: str) -> None:
    from . import ecr

    problem, note = ecr.image_problem(session, image)
    if note:
        print(f"Note: {note}", file=sys.stderr)
    preflight.require([problem])


def _lazy_bucket(session: Any, args: argparse.Namespace) -> Callable[[], str]:
    """The default bucket, looked up (and created) only when something needs uploading."""
    return functools.cache(lambda: _bucket_for(session, args))


def _bucket_for(session: Any, args: argparse.Namespace) -> str:
    """--bucket (checked: exists, same region) or the SDK's default bucket (created if missing)."""
    from . import s3

    if args.bucket:
        s3.check_bucket(session, args.bucket, purpose="--bucket")
        return args.bucket
    bucket = s3.default_bucket(session.region, session.account())
    s3.ensure_bucket(session, bucket)
    return bucket


def _bucket_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("S3")
    group.add_argument("--bucket", help="bucket for uploads (default: sagemaker-REGION-ACCOUNT, created if missing)")
    group.add_argument("--prefix", default=DEFAULT_PREFIX, help="key prefix for uploads (default: %(default)s)")


# -- deploy -------------------------------------------------------------------------------


def _deploy(subparsers: Any) -> None:
    p = _parser(subparsers, "deploy", "deploy a model to a real-time endpoint (create or blue/green update)",
                "Package and upload the model, create a SageMaker model and endpoint config, then create "
                "the endpoint, or move an existing one to the new config (blue/green, no downtime). "
                "With --wait, waits for InService, removes the previous config and model, and sends one "
                "smoke request. Prints the endpoint name last.")
    p.add_argument("endpoint", help="endpoint name")
    p.add_argument("--image", required=True, help="ECR image URI (the last line of build_and_push.sh)")
    p.add_argument("--model", required=True,
                   help="model folder, model.tar.gz, or s3://.../model.tar.gz (e.g. from `byoc train --wait`)")
    p.add_argument("--role", help=f"execution role ARN (default: ${ROLE_ENV})")
    p.add_argument("--instance-type", default=DEFAULT_INSTANCE, help="(default: %(default)s; Graviton "
                   "types such as ml.c7g.large need an arm64 image)")
    p.add_argument("--instance-count", type=int, default=1)
    p.add_argument("--variant", default="AllTraffic", help="production variant name (default: %(default)s)")
    serving = p.add_argument_group("serving")
    serving.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                         help="container environment variable (repeat)")
    serving.add_argument("--workers", type=int, help="MODEL_SERVER_WORKERS (default in the image: one per CPU)")
    serving.add_argument("--model-server-timeout", type=int, metavar="SECONDS",
                         help="MODEL_SERVER_TIMEOUT per request (SageMaker's own limit is 60 s)")
    serving.add_argument("--max-payload-mb", type=float, help="SAGEMAKER_MAX_PAYLOAD_IN_MB (default 6)")
    serving.add_argument("--startup-timeout", type=int, metavar="SECONDS",
                         help="ContainerStartupHealthCheckTimeoutInSeconds (60-3600)")
    serving.add_argument("--download-timeout", type=int, metavar="SECONDS",
                         help="ModelDataDownloadTimeoutInSeconds (60-3600)")
    serving.add_argument("--volume-gb", type=int, help="VolumeSizeInGB (1-512)")
    checks = p.add_argument_group("checks")
    checks.add_argument("--skip-load-check", action="store_true",
                        help="do not load the model locally (when it needs libraries only the image has)")
    checks.add_argument("--smoke-payload", type=Path, metavar="FILE",
                        help="body of the smoke request after --wait (default: a CSV row of zeros "
                        "as wide as the model's features, when known)")
    checks.add_argument("--smoke-content-type", default="text/csv")
    checks.add_argument("--no-smoke", action="store_true", help="skip the smoke request")
    p.add_argument("--keep-previous", action="store_true",
                   help="keep the previous endpoint config and model after a blue/green update")
    _bucket_options(p)
    _wait_options(p, "the endpoint is InService")
    p.set_defaults(func=_guarded(cmd_deploy))


def deploy_problems(args: argparse.Namespace, region: str) -> list[str]:
    problems: list[str | None] = [
        names.problem("endpoint", args.endpoint),
        names.problem("variant", args.variant),
        preflight.role_arn_problem(_role(args)),
        preflight.instance_type_problem(args.instance_type, "endpoint"),
        preflight.count_problem(args.instance_count, "--instance-count"),
    ]
    if args.startup_timeout is not None:
        problems.append(preflight.count_problem(args.startup_timeout, "--startup-timeout", 60, 3600))
    if args.download_timeout is not None:
        problems.append(preflight.count_problem(args.download_timeout, "--download-timeout", 60, 3600))
    if args.volume_gb is not None:
        problems.append(preflight.count_problem(args.volume_gb, "--volume-gb", 1, 512))
    if args.workers is not None:
        problems.append(preflight.count_problem(args.workers, "--workers", 1, 256))
    if args.smoke_payload is not None:
        if not args.smoke_payload.is_file():
            problems.append(f"--smoke-payload {args.smoke_payload} is not a file")
        elif args.smoke_payload.stat().st_size > preflight.INVOKE_BODY_MAX:
            problems.append(f"--smoke-payload is over the {preflight.INVOKE_BODY_MAX}-byte InvokeEndpoint limit")
    model = str(args.model)
    if not model.startswith("s3://") and not Path(model).exists():
        problems.append(f"--model {model} does not exist")
    problems += _image_checks(args.image, args.instance_type, region)
    return [p for p in problems if p]


def cmd_deploy(args: argparse.Namespace) -> int:
    from . import endpoints, modeldata, s3, session as sessions

    region, _ = sessions.resolve_region(args.region, profile=args.profile)
    environment = endpoints.serving_environment(
        workers=args.workers, timeout=args.model_server_timeout, max_payload_mb=args.max_payload_mb,
        extra=_key_values(args.env, "--env"))
    problems = deploy_problems(args, region) + preflight.environment_problems(environment, "model")
    preflight.require(problems)

    with _model_archive(args) as (archive, checked):
        session = _session(args)
        _check_image_in_ecr(session, args.image)
        name = names.unique(args.endpoint)  # this deploy's model and endpoint config
        if archive is None:
            uri = s3.parse(str(args.model))
            checked = modeldata.check_s3_model(session, uri, load=not args.skip_load_check)
        else:
            bucket = _bucket_for(session, args)
            uri = s3.S3Uri(bucket).join(args.prefix, "models", name, modeldata.ARCHIVE_NAME)
            modeldata.upload(session, archive, uri)
        for note in checked.notes:
            print(f"Note: {note}", file=sys.stderr)
        plan = endpoints.plan_deploy(
            endpoint=args.endpoint, name=name, image=args.image, model_data_url=str(uri), role=_role(args),
            instance_type=args.instance_type, instance_count=args.instance_count, variant=args.variant,
            environment=environment, startup_timeout=args.startup_timeout,
            download_timeout=args.download_timeout, volume_gb=args.volume_gb)
        result = endpoints.deploy(session, plan, wait=args.wait, delay=_poll(args), timeout=args.wait_timeout,
                                  keep_previous=args.keep_previous)

    if not args.wait:
        print(f"Endpoint {args.endpoint} is {result.status} on config {result.config_name}; "
              f"`byoc deploy ... --wait` waits for it.", file=sys.stderr)
        if result.updated:
            print(f"The previous config {result.previous_config} and model(s) "
                  f"{', '.join(result.previous_models) or '-'} stay until you remove them "
                  "(deploy --wait removes them once the update is done).", file=sys.stderr)
        print(args.endpoint)
        return 0
    print(f"Endpoint {args.endpoint} is {result.status} on {result.config_name}.", file=sys.stderr)
    code = 0
    if not args.no_smoke:
        code = _smoke(session, args, checked.metadata)
    print(f"Invoke it: byoc invoke {args.endpoint} payload.csv --content-type text/csv", file=sys.stderr)
    print(args.endpoint)
    return code


@contextmanager
def _model_archive(args: argparse.Namespace) -> Iterator[tuple[Path | None, Any]]:
    """(local model.tar.gz, or None for an s3:// model; what the checks learnt), checked before
    any AWS call; a packed folder's temporary archive is removed afterwards."""
    from . import modeldata

    if str(args.model).startswith("s3://"):
        yield None, modeldata.CheckedModel()
        return
    with modeldata.packed(Path(args.model), load=not args.skip_load_check) as (archive, checked):
        print(f"Model {args.model}: layout and load checks passed", file=sys.stderr)
        yield archive, checked


def _smoke(session: Any, args: argparse.Namespace, metadata: dict[str, Any]) -> int:
    from . import endpoints

    if args.smoke_payload:
        body, content_type = args.smoke_payload.read_bytes(), args.smoke_content_type
    else:
        body, content_type = endpoints.smoke_payload(metadata), "text/csv"
        if body is None:
            print("No smoke request: the model's feature count is unknown (give --smoke-payload).",
                  file=sys.stderr)
            return 0
    try:
        result = endpoints.invoke(session, endpoints.build_invoke(
            endpoint=args.endpoint, body=body, content_type=content_type))
    except AwsCommandError as exc:
        print(f"Smoke request failed: {exc}", file=sys.stderr)
        return exc.exit_code
    preview = result.body[:200].decode(errors="replace").strip()
    print(f"Smoke request: {len(body)} bytes of {content_type} -> {result.content_type}: {preview}",
          file=sys.stderr)
    return 0


# -- invoke -------------------------------------------------------------------------------


def _invoke(subparsers: Any) -> None:
    p = _parser(subparsers, "invoke", "send a request to an endpoint and print the answer",
                "InvokeEndpoint with a file, stdin (-) or --body; the answer's body goes to stdout "
                "(or --output), its content type and variant to stderr.")
    p.add_argument("endpoint", help="endpoint name (case-sensitive)")
    p.add_argument("input", nargs="?", help="file with the request body, or - for stdin")
    p.add_argument("--body", help="the request body inline, instead of a file")
    p.add_argument("--content-type", default="text/csv", help="(default: %(default)s)")
    p.add_argument("--accept", help="e.g. application/json or text/csv")
    p.add_argument("--custom-attributes", help="X-Amzn-SageMaker-Custom-Attributes, e.g. output=probabilities")
    p.add_argument("--target-variant", help="send to this production variant")
    p.add_argument("--output", type=Path, help="write the answer's body here instead of stdout")
    _wait_options(p, "the endpoint is InService before sending (after a deploy without --wait)")
    p.set_defaults(func=_guarded(cmd_invoke))


def read_body(args: argparse.Namespace, stdin: Any = None) -> bytes:
    stdin = stdin or sys.stdin
    if args.body is not None and args.input:
        raise PreflightError("give the body as a file, - (stdin) or --body, not two of them")
    if args.body is not None:
        body = args.body.encode()
    elif args.input == "-" or (args.input is None and not stdin.isatty()):
        body = stdin.buffer.read() if hasattr(stdin, "buffer") else stdin.read().encode()
    elif args.input:
        path = Path(args.input)
        if not path.is_file():
            raise PreflightError(f"{path} is not a file")
        body = path.read_bytes()
    else:
        raise PreflightError("no request body: give a file, - for stdin, or --body '...'")
    if len(body) > preflight.INVOKE_BODY_MAX:
        raise PreflightError(f"the body is {len(body)} bytes; InvokeEndpoint takes at most "
                             f"{preflight.INVOKE_BODY_MAX} (use batch transform for more)")
    return body


def cmd_invoke(args: argparse.Namespace) -> int:
    from . import endpoints

    preflight.require([names.problem("endpoint", args.endpoint)])
    body = read_body(args)
    session = _session(args)
    if args.wait:
        endpoints.wait_in_service(session, args.endpoint, delay=_poll(args), timeout=args.wait_timeout)
    result = endpoints.invoke(session, endpoints.build_invoke(
        endpoint=args.endpoint, body=body, content_type=args.content_type, accept=args.accept,
        custom_attributes=args.custom_attributes, target_variant=args.target_variant))
    print(f"{len(result.body)} bytes of {result.content_type} from variant {result.variant}", file=sys.stderr)
    if args.output:
        args.output.write_bytes(result.body)
    else:
        sys.stdout.buffer.write(result.body)
        if result.body and not result.body.endswith(b"\n"):
            sys.stdout.buffer.write(b"\n")
        sys.stdout.flush()
    return 0


# -- delete -------------------------------------------------------------------------------


def _delete(subparsers: Any) -> None:
    p = _parser(subparsers, "delete", "delete an endpoint, its endpoint config and its model",
                "Deletes the endpoint, then the endpoint config it uses, then that config's models, and "
                "removes Application Auto Scaling from its variants. Nothing else: S3 objects and ECR "
                "images stay. A missing endpoint exits 5.")
    p.add_argument("endpoint")
    _wait_options(p, "the endpoint is gone before deleting its config and model")
    p.set_defaults(func=_guarded(cmd_delete))


def cmd_delete(args: argparse.Namespace) -> int:
    from . import endpoints

    preflight.require([names.problem("endpoint", args.endpoint)])
    session = _session(args)
    result = endpoints.delete(session, args.endpoint, wait=args.wait, delay=_poll(args), timeout=args.wait_timeout)
    for note in result.notes:
        print(f"Note: {note}", file=sys.stderr)
    print(f"Deleted: {'; '.join(result.deleted)}", file=sys.stderr)
    return 0


# -- train --------------------------------------------------------------------------------


def _train(subparsers: Any) -> None:
    p = _parser(subparsers, "train", "start a SageMaker training job with this image",
                "CreateTrainingJob with the image, channels (s3:// prefixes, or local files and folders, "
                "uploaded first), hyperparameters, and the runtime's metric definitions. With --wait, "
                "shows the job's progress and final metrics and prints the model artifact's S3 URI last "
                "(feed it to `byoc deploy --model`); without, prints the job name.")
    p.add_argument("--image", required=True, help="ECR image URI")
    p.add_argument("--role", help=f"execution role ARN (default: ${ROLE_ENV})")
    p.add_argument("--channel", action="append", default=[], metavar="NAME=SOURCE",
                   help="input channel: train=s3://bucket/prefix/ or train=./data/train (repeat)")
    p.add_argument("-H", "--hyperparameter", action="append", default=[], metavar="NAME=VALUE",
                   help="hyperparameter (repeat); VALUE is read as JSON when it parses")
    p.add_argument("--job-name", help="(default: byoc-train-<timestamp>)")
    p.add_argument("--output", help="S3OutputPath (default: s3://BUCKET/PREFIX/training)")
    p.add_argument("--instance-type", default=DEFAULT_INSTANCE, help="x86 only (default: %(default)s)")
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
    _bucket_options(p)
    _wait_options(p, "the job ends")
    p.set_defaults(func=_guarded(cmd_train))


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
    from . import s3, session as sessions, training

    region, _ = sessions.resolve_region(args.region, profile=args.profile)
    channels = parse_channels(args.channel)
    hyperparameters = training.stringify(parse_hyperparameters(args.hyperparameter))
    environment = _key_values(args.env, "--env")
    metrics = training.runtime_metric_definitions()
    name = args.job_name or names.unique("byoc-train")
    problems = training.problems(
        name=name, channel_names=list(channels), instance_type=args.instance_type,
        instance_count=args.instance_count, volume_gb=args.volume_gb, max_runtime=args.max_runtime,
        input_mode=args.input_mode, spot=args.spot, max_wait=args.max_wait,
        hyperparameters=hyperparameters, environment=environment, metric_definitions=metrics)
    problems.append(preflight.role_arn_problem(_role(args)))
    problems += _image_checks(args.image, args.instance_type, region)
    for channel, source in channels.items():
        if s3.is_s3(source):
            problems += _s3_uri_problems(source, f"channel {channel}")
            if args.input_mode == "FastFile" and not source.endswith("/"):
                problems.append(f"channel {channel}: FastFile needs the prefix to end with / ({source}/)")
        elif not Path(source).exists():
            problems.append(f"channel {channel}: {source} is neither s3:// nor an existing file or folder")
    for flag, value in (("--output", args.output), ("--checkpoint", args.checkpoint)):
        if value:
            problems += _s3_uri_problems(value, flag)
    for warning in preflight.hyperparameter_warnings(hyperparameters):
        print(f"Warning: {warning}", file=sys.stderr)
    preflight.require(problems)

    session = _session(args)
    default_bucket = _lazy_bucket(session, args)

    # Read-only checks of what the user named first; only then make or fill the default bucket.
    _check_image_in_ecr(session, args.image)
    for channel, source in channels.items():
        if s3.is_s3(source):
            _check_s3_region(session, source, f"channel {channel}")
            if not s3.has_objects(session, s3.parse(source)):
                raise PreflightError(f"channel {channel}: nothing under {source}; the job would start "
                                     "with an empty /opt/ml/input/data/" + channel)
    for flag, value in (("--output", args.output), ("--checkpoint", args.checkpoint)):
        if value:
            _check_s3_region(session, value, flag)
    output = args.output or str(s3.S3Uri(default_bucket()).join(args.prefix, "training"))
    resolved = []
    for channel, source in channels.items():
        if not s3.is_s3(source):
            target = s3.S3Uri(default_bucket()).join(args.prefix, "training", name, "input", channel)
            source = str(s3.upload_tree(session, Path(source), target))
        resolved.append(training.Channel(channel, source, args.content_type, args.distribution))
    checkpoint = args.checkpoint or (str(s3.parse(output).join(name, "checkpoints")) if args.spot else None)

    request = training.build_training_job(
        name=name, image=args.image, role=_role(args), channels=resolved, output_path=output,
        hyperparameters=hyperparameters, metric_definitions=metrics, instance_type=args.instance_type,
        instance_count=args.instance_count, volume_gb=args.volume_gb, max_runtime=args.max_runtime,
        input_mode=args.input_mode, environment=environment, spot=args.spot, max_wait=args.max_wait,
        checkpoint_s3=checkpoint)
    training.start(session, request)
    if not args.wait:
        print(f"Started; follow it with `aws sagemaker describe-training-job --training-job-name {name}`.",
              file=sys.stderr)
        print(name)
        return 0
    result = training.follow(session, name, delay=_poll(args), timeout=args.wait_timeout)
    for metric, value in sorted(result.metrics.items()):
        print(f"  {metric} = {value:.6g}", file=sys.stderr)
    print(f"Training job {name} Completed. Deploy it: byoc deploy ENDPOINT --image {args.image} "
          f"--model {result.model_artifacts}", file=sys.stderr)
    print(result.model_artifacts or name)
    return 0


def _s3_uri_problems(uri: str, what: str) -> list[str]:
    from . import s3

    try:
        s3.parse(uri)
    except PreflightError as exc:
        return [f"{what}: {p}" for p in exc.problems]
    return []


def _check_s3_region(session: Any, uri: str, what: str) -> None:
    from . import s3

    s3.check_bucket(session, s3.parse(uri).bucket, purpose=what)


# -- transform ----------------------------------------------------------------------------


def _transform(subparsers: Any) -> None:
    p = _parser(subparsers, "transform", "batch-score an S3 prefix with a transform job",
                "CreateTransformJob on an existing SageMaker model (--model-name), or on a model made "
                "here from --image, --model and --role (deleted again after --wait unless --keep-model). "
                "Input is split and assembled by line by default, so each input line gets one output "
                "line. Prints the output S3 path last.")
    src = p.add_argument_group("model (one of)")
    src.add_argument("--model-name", help="an existing SageMaker model")
    src.add_argument("--image", help="ECR image URI, to make a model with --model and --role")
    src.add_argument("--model", help="model folder, model.tar.gz or s3:// URI")
    src.add_argument("--role", help=f"execution role ARN (default: ${ROLE_ENV})")
    src.add_argument("--skip-load-check", action="store_true")
    src.add_argument("--keep-model", action="store_true", help="keep the model made here")
    p.add_argument("--input", required=True, help="s3:// prefix (or a local file or folder, uploaded)")
    p.add_argument("--output", help="S3OutputPath (default: s3://BUCKET/PREFIX/transform/JOB)")
    p.add_argument("--job-name", help="(default: byoc-transform-<timestamp>)")
    p.add_argument("--content-type", default="text/csv", help="(default: %(default)s)")
    p.add_argument("--accept", help="output content type, e.g. text/csv or application/json")
    p.add_argument("--split-type", default="Line", help="None, Line, RecordIO, TFRecord (default: %(default)s)")
    p.add_argument("--assemble-with", help="None or Line (default: Line when splitting by line)")
    p.add_argument("--strategy", default="MultiRecord", help="MultiRecord or SingleRecord (default: %(default)s)")
    p.add_argument("--max-payload-mb", type=int, help="MaxPayloadInMB (0-100)")
    p.add_argument("--max-concurrent", type=int, help="MaxConcurrentTransforms")
    p.add_argument("--instance-type", default=DEFAULT_INSTANCE, help="x86 only (default: %(default)s)")
    p.add_argument("--instance-count", type=int, default=1)
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    _bucket_options(p)
    _wait_options(p, "the job ends")
    p.set_defaults(func=_guarded(cmd_transform))


def cmd_transform(args: argparse.Namespace) -> int:
    from . import endpoints, modeldata, s3, session as sessions, transform
    from .session import translate

    region, _ = sessions.resolve_region(args.region, profile=args.profile)
    environment = _key_values(args.env, "--env")
    name = args.job_name or names.unique("byoc-transform")
    problems = transform.problems(
        name=name, instance_type=args.instance_type, instance_count=args.instance_count,
        split_type=args.split_type, assemble_with=args.assemble_with, strategy=args.strategy,
        max_payload_mb=args.max_payload_mb, max_concurrent=args.max_concurrent, environment=environment)
    making_model = args.model_name is None
    if making_model:
        if not (args.image and args.model):
            problems.append("give --model-name, or --image and --model (and --role) to make a model")
        else:
            problems.append(preflight.role_arn_problem(_role(args)))
            problems += _image_checks(args.image, args.instance_type, region)
            if not s3.is_s3(args.model) and not Path(args.model).exists():
                problems.append(f"--model {args.model} does not exist")
    else:
        problems.append(names.problem("model", args.model_name))
        if args.image or args.model:
            problems.append("--model-name uses an existing model: leave out --image and --model")
    if s3.is_s3(args.input):
        problems += _s3_uri_problems(args.input, "--input")
    elif not Path(args.input).exists():
        problems.append(f"--input {args.input} is neither s3:// nor an existing file or folder")
    if args.output:
        problems += _s3_uri_problems(args.output, "--output")
    preflight.require([p for p in problems if p])

    model_name = args.model_name or (name + "-model" if len(name) <= 57 else names.unique("byoc-transform-model"))
    with (_model_archive(args) if making_model else nullcontext((None, None))) as (archive, _checked):
        session = _session(args)
        default_bucket = _lazy_bucket(session, args)

        # Read-only checks of what the user named first; only then make or fill the default bucket.
        if not making_model:
            with translate("sagemaker:DescribeModel", session, not_found=f"model {model_name} does not exist"):
                session.client("sagemaker").describe_model(ModelName=model_name)
        else:
            _check_image_in_ecr(session, args.image)
            if archive is None:
                model_uri = s3.parse(args.model)
                modeldata.check_s3_model(session, model_uri, load=not args.skip_load_check)
        if s3.is_s3(args.input):
            _check_s3_region(session, args.input, "--input")
            if not s3.has_objects(session, s3.parse(args.input)):
                raise PreflightError(f"nothing under --input {args.input}")
        if args.output:
            _check_s3_region(session, args.output, "--output")

        if making_model and archive is not None:
            model_uri = s3.S3Uri(default_bucket()).join(args.prefix, "models", model_name, modeldata.ARCHIVE_NAME)
            modeldata.upload(session, archive, model_uri)
        if s3.is_s3(args.input):
            input_uri = args.input
        else:
            input_uri = str(s3.upload_tree(session, Path(args.input),
                                           s3.S3Uri(default_bucket()).join(args.prefix, "transform", name, "input")))
        output = args.output or str(s3.S3Uri(default_bucket()).join(args.prefix, "transform", name, "output"))

        if making_model:
            print(f"Creating model {model_name}", file=sys.stderr)
            with translate("sagemaker:CreateModel", session):
                session.client("sagemaker").create_model(**endpoints.build_create_model(
                    name=model_name, image=args.image, model_data_url=str(model_uri), role=_role(args),
                    tags=[{"Key": "byoc:transform-job", "Value": name}]))
    request = transform.build_transform_job(
        name=name, model_name=model_name, input_uri=input_uri, output_path=output,
        content_type=args.content_type, split_type=args.split_type, assemble_with=args.assemble_with,
        accept=args.accept, instance_type=args.instance_type, instance_count=args.instance_count,
        strategy=args.strategy, max_payload_mb=args.max_payload_mb, max_concurrent=args.max_concurrent,
        environment=environment)
    try:
        transform.start(session, request)
    except AwsCommandError:
        if making_model:
            _delete_model(session, model_name)
        raise
    if not args.wait:
        if making_model:
            print(f"Model {model_name} stays for the job; remove it afterwards with "
                  f"`aws sagemaker delete-model --model-name {model_name}`.", file=sys.stderr)
        print(output)
        return 0
    try:
        transform.follow(session, name, delay=_poll(args), timeout=args.wait_timeout)
    except TimedOut:
        if making_model:
            print(f"Model {model_name} stays while the job runs.", file=sys.stderr)
        raise
    except Failed:
        if making_model and not args.keep_model:
            _delete_model(session, model_name)  # the job has ended
        raise
    if making_model and not args.keep_model:
        _delete_model(session, model_name)
    print(f"Transform job {name} Completed; results under {output}", file=sys.stderr)
    print(output)
    return 0


def _delete_model(session: Any, model_name: str) -> None:
    from .session import translate

    try:
        with translate("sagemaker:DeleteModel", session, not_found=f"model {model_name} was already gone"):
            session.client("sagemaker").delete_model(ModelName=model_name)
        print(f"Deleted model {model_name}", file=sys.stderr)
    except AwsCommandError as exc:
        print(f"Could not delete model {model_name}: {exc}", file=sys.stderr)


# -- autoscale ----------------------------------------------------------------------------


def _autoscale(subparsers: Any) -> None:
    p = _parser(subparsers, "autoscale", "scale an endpoint variant on invocations per instance",
                "Registers the variant with Application Auto Scaling (min and max instances) and puts a "
                "target-tracking policy on SageMakerVariantInvocationsPerInstance, the average number of "
                "invocations per instance per minute. --remove undoes both.")
    p.add_argument("endpoint")
    p.add_argument("--variant", default="AllTraffic", help="(default: %(default)s)")
    p.add_argument("--min", dest="min_capacity", type=int, default=1, help="(default: %(default)s)")
    p.add_argument("--max", dest="max_capacity", type=int, default=4, help="(default: %(default)s)")
    p.add_argument("--target", type=float, default=100.0,
                   help="invocations per instance per minute to hold (default: %(default)s)")
    p.add_argument("--scale-in-cooldown", type=int, default=600, metavar="SECONDS")
    p.add_argument("--scale-out-cooldown", type=int, default=300, metavar="SECONDS")
    p.add_argument("--policy-name", help="(default: byoc-ENDPOINT-VARIANT-invocations)")
    p.add_argument("--remove", action="store_true", help="delete the policy and deregister the variant")
    _wait_options(p, "the endpoint is InService before registering (it cannot be while Updating)")
    p.set_defaults(func=_guarded(cmd_autoscale))


def cmd_autoscale(args: argparse.Namespace) -> int:
    from . import autoscaling, endpoints

    options = dict(endpoint=args.endpoint, variant=args.variant, min_capacity=args.min_capacity,
                   max_capacity=args.max_capacity, target=args.target,
                   scale_in_cooldown=args.scale_in_cooldown, scale_out_cooldown=args.scale_out_cooldown)
    if args.remove:
        preflight.require([names.problem("endpoint", args.endpoint), names.problem("variant", args.variant)])
        session = _session(args)
        autoscaling.remove(session, args.endpoint, args.variant)
        return 0
    preflight.require(autoscaling.problems(**options)
                      + [names.problem("scaling policy", args.policy_name) if args.policy_name else None])
    session = _session(args)
    if args.wait:
        endpoints.wait_in_service(session, args.endpoint, delay=_poll(args), timeout=args.wait_timeout)
    autoscaling.check_variant(session, args.endpoint, args.variant)
    policy_arn = autoscaling.apply(
        session,
        register=autoscaling.build_register(endpoint=args.endpoint, variant=args.variant,
                                            min_capacity=args.min_capacity, max_capacity=args.max_capacity),
        policy=autoscaling.build_policy(endpoint=args.endpoint, variant=args.variant, target=args.target,
                                        scale_in_cooldown=args.scale_in_cooldown,
                                        scale_out_cooldown=args.scale_out_cooldown, name=args.policy_name))
    print(policy_arn or autoscaling.policy_name(args.endpoint, args.variant))
    return 0


# -- ecr (hidden: the AWS half of build_and_push.sh) ----------------------------------------


def _ecr(subparsers: Any) -> None:
    # No help=: argparse then leaves it out of `byoc --help`. build_and_push.sh calls it.
    p = subparsers.add_parser("ecr", description="Helpers for build_and_push.sh (not for direct use).",
                              epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--region")
    p.add_argument("--profile")
    sub = p.add_subparsers(dest="ecr_command", required=True, metavar="COMMAND")
    sub.add_parser("whoami", help="print: REGION ACCOUNT ECR_REGISTRY_HOST")
    repo = sub.add_parser("ensure-repo", help="create the repository when missing; print its URI")
    repo.add_argument("name")
    repo.add_argument("--no-scan-on-push", action="store_true")
    sub.add_parser("password", help="print a registry password for docker login --password-stdin")
    tag = sub.add_parser("tag-exists", help="print yes, no or unknown")
    tag.add_argument("registry")
    tag.add_argument("repository")
    tag.add_argument("tag")
    p.set_defaults(func=_guarded(cmd_ecr))


def cmd_ecr(args: argparse.Namespace) -> int:
    from . import ecr
    from .session import make_session

    session = make_session(args.region, args.profile)
    if args.ecr_command == "whoami":
        account = session.account()
        print(f"{session.region} {account} {ecr.registry_host(account, session.region)}")
        print(f"Using {session.describe()}, account {account}", file=sys.stderr)
    elif args.ecr_command == "ensure-repo":
        uri, _created = ecr.ensure_repository(session, args.name, scan_on_push=not args.no_scan_on_push)
        print(uri)
    elif args.ecr_command == "password":
        _user, password, _host = ecr.login_password(session)
        print(password)
    elif args.ecr_command == "tag-exists":
        found = ecr.tag_exists(session, args.registry, args.repository, args.tag)
        print({True: "yes", False: "no", None: "unknown"}[found])
    return 0

