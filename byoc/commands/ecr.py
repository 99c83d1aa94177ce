"""`byoc ecr ...`: the AWS half of build_and_push.sh (hidden from `byoc --help`).

The script asks these rather than re-declare what an ECR repository name, tag or registry host
is: byoc.aws.ecr holds the one definition of each.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from . import aws_options as opts


def register(subparsers: Any) -> None:
    # No help=: argparse then leaves it out of `byoc --help`. build_and_push.sh calls it.
    p = subparsers.add_parser("ecr", description="Helpers for build_and_push.sh (not for direct use).",
                              epilog=opts.EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--region")
    p.add_argument("--profile")
    sub = p.add_subparsers(dest="ecr_command", required=True, metavar="COMMAND")
    check = sub.add_parser("check-target", help="exit 2, saying why, when NAME:TAG cannot be pushed to ECR")
    check.add_argument("name")
    check.add_argument("tag")
    sub.add_parser("whoami", help="print: REGION ACCOUNT ECR_REGISTRY_HOST")
    kind = sub.add_parser("registry-kind", help="print ecr for an Amazon ECR registry host, other otherwise")
    kind.add_argument("registry")
    repo = sub.add_parser("ensure-repo", help="create the repository when missing; print its URI")
    repo.add_argument("name")
    repo.add_argument("--no-scan-on-push", action="store_true")
    sub.add_parser("password", help="print a registry password for docker login --password-stdin")
    tag = sub.add_parser("tag-exists", help="print yes, no or unknown")
    tag.add_argument("registry")
    tag.add_argument("repository")
    tag.add_argument("tag")
    record = sub.add_parser("record-image", help="emulator only: put the manifest of REGISTRY/REPOSITORY:TAG "
                            "into the emulator's ECR under each TAG; print the ECR URI of the first")
    record.add_argument("registry")
    record.add_argument("repository")
    record.add_argument("tags", nargs="+", metavar="tag")
    p.set_defaults(func=cmd_ecr)


def cmd_ecr(args: argparse.Namespace) -> int:
    from ..aws import ecr, preflight
    from ..aws.session import make_session

    # Answered from the definitions alone, with no AWS setup:
    if args.ecr_command == "check-target":
        preflight.require(ecr.push_target_problems(args.name, args.tag))
        return 0
    if args.ecr_command == "registry-kind":
        print("ecr" if ecr.is_ecr_host(args.registry) else "other")
        return 0

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
    elif args.ecr_command == "record-image":
        print(ecr.record_image(session, args.registry, args.repository, args.tags))
    return 0
