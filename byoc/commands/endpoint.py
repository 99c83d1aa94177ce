"""`byoc deploy`, `byoc invoke`, `byoc delete`: a real-time endpoint, from model to removal.

Each command checks its input first (names, role, image, instance type against the image's
architecture, the model archive, the container's environment) and only then calls AWS, through
byoc.aws.endpoints. Progress goes to stderr; stdout carries the one result (the endpoint name,
the answer's body).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..aws import names, preflight
from ..errors import ByocError, PreflightError
from . import aws_options as opts


def register(subparsers: Any) -> None:
    _deploy_parser(subparsers)
    _invoke_parser(subparsers)
    _delete_parser(subparsers)


# -- deploy -------------------------------------------------------------------------------


def _deploy_parser(subparsers: Any) -> None:
    p = opts.command_parser(
        subparsers, "deploy", "deploy a model to a real-time endpoint (create or blue/green update)",
        "Package and upload the model, create a SageMaker model and endpoint config, then create "
        "the endpoint, or move an existing one to the new config (blue/green, no downtime). "
        "A registered version is deployed instead with --model-package or --model-group (the "
        "newest Approved version); one that is not Approved is refused. "
        "With --wait, waits for InService, removes the previous config and model, and sends one "
        "smoke request. Prints the endpoint name last.")
    p.add_argument("endpoint", help="endpoint name")
    p.add_argument("--image", help="ECR image URI (the last line of build_and_push.sh)")
    p.add_argument("--model",
                   help="model folder, model.tar.gz, or s3://.../model.tar.gz (e.g. from `byoc train --wait`)")
    registered = p.add_argument_group("a registered version (instead of --image and --model)")
    registered.add_argument("--model-package", metavar="ARN", help="an Approved model package version's ARN")
    registered.add_argument("--model-group", metavar="GROUP",
                            help="the newest Approved version of this model package group")
    opts.add_role(p)
    p.add_argument("--instance-type", default=opts.DEFAULT_INSTANCE, help="(default: %(default)s; Graviton "
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
                        help="do not load the model before deploying. By default a model.skops is loaded here "
                        "(it runs no code from the file); a pickle (model.joblib) or a model with its own "
                        "model_fn is loaded in --image when this Docker engine has it (no network, the model "
                        "read-only), else not loaded, with a note saying so")
    checks.add_argument("--smoke-payload", type=Path, metavar="FILE",
                        help="body of the smoke request after --wait (default: a CSV row of zeros "
                        "as wide as the model's features, when known)")
    checks.add_argument("--smoke-content-type", default="text/csv")
    checks.add_argument("--no-smoke", action="store_true", help="skip the smoke request")
    p.add_argument("--keep-previous", action="store_true",
                   help="keep the previous endpoint config and model after a blue/green update")
    opts.add_bucket(p)
    opts.add_wait(p, "the endpoint is InService")
    p.set_defaults(func=cmd_deploy)


def from_registry(args: argparse.Namespace) -> bool:
    return bool(args.model_package or args.model_group)


def source_problems(args: argparse.Namespace, region: str) -> list[str]:
    """An image and a model, or one registered version (whose image and model are its own)."""
    if not from_registry(args):
        if args.model is None:
            return ["--model is needed (a model folder, model.tar.gz or s3:// URI), or deploy a registered "
                    "version with --model-package ARN or --model-group GROUP"]
        problems = [preflight.model_source_problem(args.model)]
        problems += preflight.image_problems(args.image, args.instance_type, region)
        return [p for p in problems if p]
    problems = []
    if args.model_package and args.model_group:
        problems.append("give --model-package or --model-group, not both")
    given = [flag for flag, value in (("--image", args.image), ("--model", args.model)) if value is not None]
    if given:
        problems.append(f"a registered version brings its own image and model: drop {' and '.join(given)}")
    if args.model_group:
        problems.append(names.problem("model package group", args.model_group))
    return [p for p in problems if p]


def deploy_problems(args: argparse.Namespace, region: str, environment: dict[str, str]) -> list[str]:
    from ..aws import endpoints

    problems: list[str | None] = [
        names.problem("endpoint", args.endpoint),
        names.problem("variant", args.variant),
        preflight.role_arn_problem(opts.role(args)),
        preflight.instance_type_problem(args.instance_type, "endpoint"),
        preflight.count_problem(args.instance_count, "--instance-count"),
        *source_problems(args, region),
        endpoints.runtime_environment_problem(environment),
    ]
    if args.startup_timeout is not None:
        problems.append(preflight.count_problem(args.startup_timeout, "--startup-timeout", 60, 3600))
    if args.download_timeout is not None:
        problems.append(preflight.count_problem(args.download_timeout, "--download-timeout", 60, 3600))
    if args.volume_gb is not None:
        problems.append(preflight.count_problem(args.volume_gb, "--volume-gb", 1, 512))
    if args.smoke_payload is not None:
        if not args.smoke_payload.is_file():
            problems.append(f"--smoke-payload {args.smoke_payload} is not a file")
        elif args.smoke_payload.stat().st_size > preflight.INVOKE_BODY_MAX:
            problems.append(f"--smoke-payload is over the {preflight.INVOKE_BODY_MAX}-byte InvokeEndpoint limit")
    problems += preflight.environment_problems(environment, "model")
    return [p for p in problems if p]


def cmd_deploy(args: argparse.Namespace) -> int:
    from ..aws import ecr, endpoints, modeldata, s3

    environment = endpoints.serving_environment(
        workers=args.workers, timeout=args.model_server_timeout, max_payload_mb=args.max_payload_mb,
        extra=opts.key_values(args.env, "--env"))
    region = opts.region(args)
    preflight.require(deploy_problems(args, region, environment))
    if from_registry(args):
        return _deploy_version(args, region, environment)

    with modeldata.prepared(args.model, load=not args.skip_load_check, image=args.image,
                            environment=environment) as model:
        session = opts.session(args)
        ecr.require_image(session, args.image)
        name = names.unique(args.endpoint)  # this deploy's model and endpoint config
        model.check_in_place(session)
        bucket = s3.lazy_bucket(session, args.bucket)
        uri = model.uri(session, lambda: s3.S3Uri(bucket()).join(args.prefix, "models", name,
                                                                 modeldata.ARCHIVE_NAME))
        for note in model.checked.notes:
            print(f"Note: {note}", file=sys.stderr)
        plan = endpoints.plan_deploy(
            endpoint=args.endpoint, name=name, image=args.image, model_data_url=str(uri), role=opts.role(args),
            instance_type=args.instance_type, instance_count=args.instance_count, variant=args.variant,
            environment=environment, startup_timeout=args.startup_timeout,
            download_timeout=args.download_timeout, volume_gb=args.volume_gb)
        return _deploy(args, session, plan, model.checked.metadata)


def _deploy_version(args: argparse.Namespace, region: str, environment: dict[str, str]) -> int:
    """Deploy an Approved registered version: CreateModel with its ModelPackageName, then the
    same endpoint config and create or blue/green update as any deploy."""
    from ..aws import ecr, endpoints, registry

    session = opts.session(args)
    version = registry.deployable(session, arn=args.model_package, group=args.model_group)
    if version.image:
        preflight.require(preflight.image_problems(version.image, args.instance_type, region))
        ecr.require_image(session, version.image)
    if version.realtime_types and args.instance_type not in version.realtime_types:
        print(f"Note: {version.label} lists {', '.join(version.realtime_types)} as its real-time instance "
              f"types, not {args.instance_type}.", file=sys.stderr)
    print(f"Deploying {version.label}: {version.image or '?'} with {version.model_data_url or '?'}", file=sys.stderr)
    plan = endpoints.plan_deploy(
        endpoint=args.endpoint, name=names.unique(args.endpoint), model_package=version.arn, role=opts.role(args),
        instance_type=args.instance_type, instance_count=args.instance_count, variant=args.variant,
        environment=environment, startup_timeout=args.startup_timeout,
        download_timeout=args.download_timeout, volume_gb=args.volume_gb)
    return _deploy(args, session, plan, version.metadata)


def _deploy(args: argparse.Namespace, session: Any, plan: Any, metadata: dict[str, Any]) -> int:
    """Create or update the endpoint on the plan, then report (and with --wait, smoke-test) it."""
    from ..aws import endpoints

    result = endpoints.deploy(session, plan, wait=args.wait, delay=opts.poll(args),
                              timeout=args.wait_timeout, keep_previous=args.keep_previous)
    if not args.wait:
        print(f"Endpoint {args.endpoint} is {result.status} on config {result.config_name}; "
              f"`byoc invoke {args.endpoint} FILE --wait` waits until it is InService, then sends FILE.",
              file=sys.stderr)
        if result.updated:
            leftovers = [f"aws sagemaker delete-endpoint-config --endpoint-config-name {result.previous_config}"]
            leftovers += [f"aws sagemaker delete-model --model-name {m}" for m in result.previous_models]
            print(f"The previous config {result.previous_config} and model(s) "
                  f"{', '.join(result.previous_models) or '-'} stay until you remove them once the update "
                  f"is done: {'; '.join(leftovers)}. (With --wait, deploy removes them itself.)", file=sys.stderr)
        print(args.endpoint)
        return 0
    print(f"Endpoint {args.endpoint} is {result.status} on {result.config_name}.", file=sys.stderr)
    code = 0
    body, content_type = _smoke_request(args, metadata)
    if args.no_smoke:
        pass
    elif body is None:
        print("No smoke request: the model's feature count is unknown (give --smoke-payload).", file=sys.stderr)
    else:
        code = _smoke(session, args.endpoint, body, content_type)
    print(f"Invoke it: {_invoke_hint(args, body)}", file=sys.stderr)
    print(args.endpoint)
    return code


def _smoke_request(args: argparse.Namespace, metadata: dict[str, Any]) -> tuple[bytes | None, str]:
    from ..aws import endpoints

    if args.smoke_payload:
        return args.smoke_payload.read_bytes(), args.smoke_content_type
    return endpoints.smoke_payload(metadata), "text/csv"


def _smoke(session: Any, endpoint: str, body: bytes, content_type: str) -> int:
    from ..aws import endpoints

    try:
        result = endpoints.invoke(session, endpoints.build_invoke(endpoint=endpoint, body=body,
                                                                  content_type=content_type))
    except ByocError as exc:
        print(f"Smoke request failed: {exc}", file=sys.stderr)
        return exc.exit_code
    preview = result.body[:200].decode(errors="replace").strip()
    print(f"Smoke request: {len(body)} bytes of {content_type} -> {result.content_type}: {preview}",
          file=sys.stderr)
    return 0


def _invoke_hint(args: argparse.Namespace, smoke_body: bytes | None) -> str:
    """A command that runs as printed: the smoke request's own payload when there is one."""
    if args.smoke_payload:
        return f"byoc invoke {args.endpoint} {args.smoke_payload} --content-type {args.smoke_content_type}"
    if smoke_body is not None:
        return (f"byoc invoke {args.endpoint} --body '{smoke_body.decode().strip()}' --content-type text/csv "
                "(or a file of such rows in place of --body)")
    return f"byoc invoke {args.endpoint} FILE --content-type text/csv (FILE: the request body)"


# -- invoke -------------------------------------------------------------------------------


def _invoke_parser(subparsers: Any) -> None:
    p = opts.command_parser(
        subparsers, "invoke", "send a request to an endpoint and print the answer",
        "InvokeEndpoint with a file, stdin (-) or --body; the answer's body goes to stdout "
        "(or --output), its content type and variant to stderr. The endpoint is looked up first: "
        "a missing one exits 5, one that takes no requests (Creating, Failed) exits 1; --wait waits "
        "for InService.")
    p.add_argument("endpoint", help="endpoint name (case-sensitive)")
    p.add_argument("input", nargs="?", help="file with the request body, or - for stdin")
    p.add_argument("--body", help="the request body inline, instead of a file")
    p.add_argument("--content-type", default="text/csv", help="(default: %(default)s)")
    p.add_argument("--accept", help="e.g. application/json or text/csv")
    p.add_argument("--custom-attributes", help="X-Amzn-SageMaker-Custom-Attributes, e.g. output=probabilities")
    p.add_argument("--target-variant", help="send to this production variant")
    p.add_argument("--output", type=Path, help="write the answer's body here instead of stdout")
    opts.add_wait(p, "the endpoint is InService before sending (after a deploy without --wait)")
    p.set_defaults(func=cmd_invoke)


def request_body(args: argparse.Namespace, stdin: Any = None) -> bytes:
    """The request body from --body, a file, or stdin; within InvokeEndpoint's limit."""
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
    from ..aws import endpoints

    preflight.require([names.problem("endpoint", args.endpoint)])
    body = request_body(args)
    session = opts.session(args)
    if args.wait:
        endpoints.wait_in_service(session, args.endpoint, delay=opts.poll(args), timeout=args.wait_timeout)
    else:
        endpoints.require_serving(session, args.endpoint)
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


def _delete_parser(subparsers: Any) -> None:
    p = opts.command_parser(
        subparsers, "delete", "delete an endpoint, its endpoint config and its model",
        "Deletes the endpoint, then the endpoint config it uses, then that config's models, and "
        "removes Application Auto Scaling from its variants. Nothing else: S3 objects and ECR "
        "images stay. A missing endpoint exits 5.")
    p.add_argument("endpoint")
    opts.add_wait(p, "the endpoint is gone before deleting its config and model")
    p.set_defaults(func=cmd_delete)


def cmd_delete(args: argparse.Namespace) -> int:
    from ..aws import endpoints

    preflight.require([names.problem("endpoint", args.endpoint)])
    session = opts.session(args)
    result = endpoints.delete(session, args.endpoint, wait=args.wait, delay=opts.poll(args),
                              timeout=args.wait_timeout)
    for note in result.notes:
        print(f"Note: {note}", file=sys.stderr)
    print(f"Deleted: {'; '.join(result.deleted)}", file=sys.stderr)
    return 0
