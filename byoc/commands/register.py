"""`byoc register`, `byoc approve`, `byoc versions`: the model registry, from a model to an
Approved version that `byoc deploy --model-group` takes.

Each command checks its input first and only then calls AWS, through byoc.aws.registry.
Progress goes to stderr; stdout carries the one result (a version's ARN, or the table of versions).
"""

from __future__ import annotations

import argparse
import sys
from contextlib import nullcontext
from typing import Any

from ..aws import names, preflight
from . import aws_options as opts
from . import nonempty


def register(subparsers: Any) -> None:
    _register_parser(subparsers)
    _approve_parser(subparsers)
    _versions_parser(subparsers)


def instance_types(text: str) -> list[str]:
    """An argparse type: comma-separated instance types."""
    types = [t.strip() for t in text.split(",") if t.strip()]
    if not types:
        raise argparse.ArgumentTypeError("no instance types; give e.g. ml.m5.large,ml.c5.xlarge")
    return types


# -- register ------------------------------------------------------------------------------


def _register_parser(subparsers: Any) -> None:
    from ..aws.registry import DEFAULT_REALTIME_INSTANCE_TYPES, DEFAULT_TRANSFORM_INSTANCE_TYPES

    p = opts.command_parser(
        subparsers, "register", "register a model as a new version in a model package group",
        "Check the model (layout and load, as deploy does), create the group if it is missing, upload "
        "the model and its metrics report, and create a version with the image, the request and response "
        "types the runtime handles, the instance types it may run on, and the model's metrics. The "
        "version is PendingManualApproval unless --approve. Waits until the version is Completed, then "
        "prints its ARN last.")
    p.add_argument("group", help="model package group (created when missing)")
    src = p.add_argument_group("the model (one of)")
    src.add_argument("--model", type=nonempty, help="model folder, model.tar.gz, or s3://.../model.tar.gz")
    src.add_argument("--training-job", type=nonempty, metavar="NAME", help="a Completed training job's model")
    src.add_argument("--tuning-job", type=nonempty, metavar="NAME",
                     help="the model of a tuning job's best training job")
    p.add_argument("--image", type=nonempty, help="ECR image URI that serves the model (needed with --model; "
                   "default for a training or tuning job: the image it trained with)")
    p.add_argument("--approve", action="store_true",
                   help="register the version Approved (default: PendingManualApproval)")
    p.add_argument("--description", help="ModelPackageDescription (default: where the model came from)")
    p.add_argument("--property", action="append", default=[], metavar="KEY=VALUE",
                   help="a CustomerMetadataProperty (repeat), beside the model's metrics, estimator, task, "
                   "n_features and training job; letters, digits, spaces and _.:/=+-@ only")
    p.add_argument("--realtime-instance-types", type=instance_types, metavar="TYPES",
                   default=list(DEFAULT_REALTIME_INSTANCE_TYPES),
                   help="comma-separated (default: %s)" % ",".join(DEFAULT_REALTIME_INSTANCE_TYPES))
    p.add_argument("--transform-instance-types", type=instance_types, metavar="TYPES",
                   default=list(DEFAULT_TRANSFORM_INSTANCE_TYPES),
                   help="comma-separated (default: %s)" % ",".join(DEFAULT_TRANSFORM_INSTANCE_TYPES))
    p.add_argument("--skip-load-check", action="store_true",
                   help="do not load the model locally (an s3:// model is then not downloaded, and its "
                   "metrics are not read)")
    opts.add_bucket(p)
    group = p.add_argument_group("waiting")
    group.add_argument("--wait-timeout", type=float, metavar="SECONDS",
                       help="stop waiting for the version to be Completed after this long (default 600; exit 4)")
    group.add_argument("--poll", type=float, metavar="SECONDS", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_register)


def cmd_register(args: argparse.Namespace) -> int:
    from ..aws import modeldata, registry, s3

    spec = registry.RegisterSpec(
        group=args.group, model=args.model, training_job=args.training_job, tuning_job=args.tuning_job,
        image=args.image, approve=args.approve, description=args.description,
        properties=opts.key_values(args.property, "--property"), realtime_types=args.realtime_instance_types,
        transform_types=args.transform_instance_types, prefix=args.prefix)
    problems = registry.spec_problems(spec, opts.region(args))
    if args.wait_timeout is not None and args.wait_timeout <= 0:
        problems.append("--wait-timeout must be more than 0 seconds")
    preflight.require(problems)

    local = modeldata.prepared(spec.model, load=not args.skip_load_check) if spec.model else nullcontext(None)
    with local as model:
        session = opts.session(args)
        result = registry.register(session, spec, model, s3.lazy_bucket(session, args.bucket),
                                   load=not args.skip_load_check, delay=opts.poll(args), timeout=args.wait_timeout)
    for note in result.notes:
        print(f"Note: {note}", file=sys.stderr)
    print(f"Registered version {result.version} of {args.group} ({result.approval}): image {result.image}, "
          f"model {result.model_data_url}" + (f", metrics {result.metrics_uri}" if result.metrics_uri else ""),
          file=sys.stderr)
    if result.approval == registry.APPROVED:
        print(f"Deploy it: byoc deploy ENDPOINT --model-group {args.group} --role ROLE_ARN", file=sys.stderr)
    else:
        print(f"Approve it: byoc approve {args.group} {result.version}", file=sys.stderr)
    print(result.arn)
    return 0


# -- approve -------------------------------------------------------------------------------


def _approve_parser(subparsers: Any) -> None:
    p = opts.command_parser(
        subparsers, "approve", "approve (or --reject) a version in a model package group",
        "UpdateModelPackage to Approved, or Rejected with --reject, keeping the version's metadata "
        "and previous approval note (unless --description gives a new one). `byoc deploy "
        "--model-group GROUP` takes the newest Approved version. Prints the version's ARN last.")
    p.add_argument("group", help="model package group")
    p.add_argument("version", help="version number (as `byoc versions GROUP` lists them) or the version's ARN")
    p.add_argument("--reject", action="store_true", help="set Rejected instead of Approved")
    p.add_argument("--description", help="ApprovalDescription: why (default: keep the previous one)")
    p.set_defaults(func=cmd_approve)


def cmd_approve(args: argparse.Namespace) -> int:
    from ..aws import registry

    preflight.require([names.problem("model package group", args.group),
                       registry.description_problem(args.description)])
    session = opts.session(args)
    status = registry.REJECTED if args.reject else registry.APPROVED
    change = registry.set_approval(session, args.group, args.version, status, description=args.description)
    print(f"{change.label}: {change.before or 'no approval status'} -> {change.after}"
          + (f" ({change.description})" if change.description else ""), file=sys.stderr)
    latest = registry.latest_approved(session, args.group)
    if latest:
        print(f"`byoc deploy ENDPOINT --model-group {args.group} --role ROLE_ARN` deploys version "
              f"{latest.get('ModelPackageVersion')}, the newest Approved one.", file=sys.stderr)
    else:
        print(f"{args.group} has no Approved version now: `byoc deploy --model-group {args.group}` "
              "refuses until one is approved.", file=sys.stderr)
    print(change.arn)
    return 0


# -- versions ------------------------------------------------------------------------------


def _versions_parser(subparsers: Any) -> None:
    p = opts.command_parser(
        subparsers, "versions", "list the versions of a model package group",
        "One line per version, newest first: version, approval, status, creation time, ARN. "
        "The one `byoc deploy --model-group GROUP` takes is marked *.")
    p.add_argument("group", help="model package group")
    p.set_defaults(func=cmd_versions)


def cmd_versions(args: argparse.Namespace) -> int:
    from ..aws import registry

    preflight.require([names.problem("model package group", args.group)])
    session = opts.session(args)
    registry.require_group(session, args.group)
    latest = registry.latest_approved(session, args.group)
    latest_arn = latest.get("ModelPackageArn") if latest else None
    rows = [("", "VERSION", "APPROVAL", "STATUS", "CREATED", "ARN")]
    for summary in registry.versions(session, args.group):
        created = summary.get("CreationTime")
        rows.append(("*" if summary.get("ModelPackageArn") == latest_arn else "",
                     str(summary.get("ModelPackageVersion", "?")),
                     str(summary.get("ModelApprovalStatus") or "-"), str(summary.get("ModelPackageStatus", "?")),
                     created.strftime("%Y-%m-%d %H:%M:%S") if hasattr(created, "strftime") else str(created or "-"),
                     str(summary.get("ModelPackageArn", ""))))
    if len(rows) == 1:
        print(f"{args.group} has no versions yet.", file=sys.stderr)
        return 0
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return 0
