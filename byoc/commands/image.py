"""`byoc image build`: build the image from the Dockerfile at the repository root, then check it.

It honours the variables build_and_push.sh does, BASE_IMAGE and PLATFORM, and builds the same
way (buildx when installed, else the legacy builder for the engine's own architecture). The
build's output goes to stderr as it comes; stdout gets the summary.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from typing import Any

from .. import image
from . import nonempty


def register(subparsers: Any) -> None:
    group = subparsers.add_parser("image", help="build the image SageMaker runs").add_subparsers(
        dest="image_command", required=True, metavar="COMMAND")
    b = group.add_parser("build", help="docker build the Dockerfile, then check the result",
                         description="Build the repository's Dockerfile, as build_and_push.sh does, "
                                     "without pushing it.")
    b.add_argument("--tag", "-t", action="append", type=nonempty, metavar="TAG",
                   help=f"image name; repeat for several (default: {image.DEFAULT_TAG})")
    b.add_argument("--base-image", type=nonempty, default=os.environ.get("BASE_IMAGE") or None,
                   help="BASE_IMAGE build argument (default: $BASE_IMAGE, else the Dockerfile's)")
    b.add_argument("--platform", type=nonempty, default=os.environ.get("PLATFORM") or image.DEFAULT_PLATFORM,
                   help="linux/amd64 (all training, transform and most endpoints) or linux/arm64 (Graviton "
                        "endpoints) (default: $PLATFORM, else %(default)s)")
    b.set_defaults(func=build)


def build(args: argparse.Namespace) -> int:
    tags = args.tag or [image.DEFAULT_TAG]
    seconds = image.build(tags, base_image=args.base_image, platform=args.platform)
    attrs = image.inspect(tags[0]) or {}
    labels = (attrs.get("Config") or {}).get("Labels") or {}
    print(f"Built {', '.join(tags)} in {seconds:.1f} s: {attrs.get('Size', 0) / 1e6:.0f} MB, "
          f"{attrs.get('Os')}/{attrs.get('Architecture')}.")
    if attrs.get("Architecture") != "amd64":
        print("Note: SageMaker training jobs and x86 endpoints need linux/amd64 images; this one is "
              f"{attrs.get('Architecture')} (fine for Graviton endpoints only).", file=sys.stderr)
    if labels.get("com.amazonaws.sagemaker.capabilities.accept-bind-to-port") != "true":
        print("Note: the accept-bind-to-port label is missing: inference pipelines will reject the image.",
              file=sys.stderr)
    print(f"Try it: byoc demo --image {shlex.quote(tags[0])}")
    return 0
