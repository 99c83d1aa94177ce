"""What every AWS command shares: --region/--profile, --wait/--wait-timeout, --bucket/--prefix,
the execution role and the session. Errors become a message and an exit code in byoc.cli, as for
every command (byoc.errors lists the codes; every AWS command's --help repeats them)."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from typing import Any

from ..errors import EXIT_CODES_HELP, PreflightError

DEFAULT_INSTANCE = "ml.m5.large"
DEFAULT_PREFIX = "byoc"
ROLE_ENV = "BYOC_ROLE_ARN"
POLL_ENV = "BYOC_POLL_SECONDS"
EPILOG = "Exit codes:\n" + EXIT_CODES_HELP


def command_parser(subparsers: Any, name: str, help: str, description: str) -> argparse.ArgumentParser:
    """A subcommand with the exit codes in its --help and the AWS options."""
    parser = subparsers.add_parser(name, help=help, description=textwrap.fill(description, 88), epilog=EPILOG,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    aws = parser.add_argument_group("AWS")
    aws.add_argument("--region", help="AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, then the profile's)")
    aws.add_argument("--profile", help="AWS profile (default: AWS_PROFILE, then 'default')")
    return parser


def add_wait(parser: argparse.ArgumentParser, what: str) -> None:
    group = parser.add_argument_group("waiting")
    group.add_argument("--wait", action="store_true", help=f"wait until {what}, showing progress")
    group.add_argument("--wait-timeout", type=float, metavar="SECONDS",
                       help="stop waiting after this long (exit 4; the work goes on in AWS)")
    group.add_argument("--poll", type=float, metavar="SECONDS", help=argparse.SUPPRESS)


def add_bucket(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("S3")
    group.add_argument("--bucket", help="bucket for uploads (default: sagemaker-REGION-ACCOUNT, created if missing)")
    group.add_argument("--prefix", default=DEFAULT_PREFIX, help="key prefix for uploads (default: %(default)s)")


def add_role(parser: argparse.ArgumentParser | Any) -> None:
    parser.add_argument("--role", help=f"execution role ARN (default: ${ROLE_ENV})")


def role(args: argparse.Namespace) -> str | None:
    return args.role or os.environ.get(ROLE_ENV)


def poll(args: argparse.Namespace) -> float | None:
    """Seconds between status checks: --poll (hidden), BYOC_POLL_SECONDS, else the waiter's own."""
    if getattr(args, "poll", None) is not None:
        return args.poll
    return float(os.environ[POLL_ENV]) if os.environ.get(POLL_ENV) else None


def region(args: argparse.Namespace) -> str:
    """The region, resolved before any AWS call (the pre-flight compares images and buckets to it)."""
    from ..aws.session import resolve_region

    return resolve_region(args.region, profile=args.profile)[0]


def session(args: argparse.Namespace) -> Any:
    from ..aws.session import make_session

    made = make_session(args.region, args.profile)
    print(f"Using {made.describe()}", file=sys.stderr)
    return made


def key_values(items: list[str], flag: str) -> dict[str, str]:
    """NAME=VALUE arguments (--env) as a dict; VALUE is kept as it is."""
    values: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise PreflightError(f"{flag} {item!r} is not NAME=VALUE")
        values[key] = value
    return values
