"""The subcommands of `byoc`, one module per command family, each exposing register(subparsers).

A command module parses arguments, checks them, and calls the module that does the work
(byoc.local, byoc.image, byoc.jobdir, byoc.transform on this machine; byoc.aws.endpoints,
.training, .transform, .autoscaling, .ecr, ... for AWS); byoc.cli lists the modules in the
order `byoc --help` shows them.

    demo        train, serve and predict on the bundled sample
    sample      the bundled sample data set
    local       train, serve, batch transform and process on this machine (processes, or --image)
    image       build the image
    endpoint    deploy, invoke, delete: a real-time endpoint's life
    process     a processing job: raw CSV split into train/validation/test
    train       a training job
    transform   a batch transform job (and the model made for it)
    register    the model registry: register, approve, versions
    autoscale   Application Auto Scaling for an endpoint variant
    ecr         hidden helpers for build_and_push.sh
    aws_options what every AWS command shares: region and profile, waiting, S3, exit codes

A new family (tuning, processing, a model registry) is one module here with register(), one
orchestration module that owns the resource, and its name in byoc.cli.COMMANDS. What the
modules here share: argument types that refuse empty values, and the --image option's launcher.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
import sysconfig
from pathlib import Path

from ..local import PYTHON, Launcher  # not `from .. import local`: byoc.commands.local is a module here


def path_arg(text: str) -> Path:
    """An argparse type: a path, never empty (Path("") would quietly be the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path; give a file or folder")
    return Path(text)


def port_arg(text: str) -> int:
    """An argparse type: a TCP port number."""
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)")
    return port


def nonempty(text: str) -> str:
    """An argparse type: any text but an empty one."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty value")
    return text


def add_image_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--image", type=nonempty, metavar="IMAGE",
                        help="run in this Docker image (docker run IMAGE train|serve|process) instead of as a process")


def launcher(image: str | None) -> Launcher:
    """How --image says to start train and serve: in that image, else as processes of this Python."""
    if not image:
        return PYTHON
    from ..image import DockerRun

    return DockerRun(image)  # checks the engine and the image before anything starts


def path_setup() -> str | None:
    """The shell command that puts this `byoc` on PATH (as after `make demo`); None when it is there."""
    scripts = Path(sysconfig.get_path("scripts"))
    found = shutil.which("byoc")
    if found and Path(found).resolve().parent == scripts.resolve():
        return None
    activate = scripts / "activate"
    if sys.prefix != sys.base_prefix and activate.is_file():
        try:
            shown = activate.relative_to(Path.cwd())
        except ValueError:
            shown = activate
        return f"source {shlex.quote(str(shown))}"
    return f'export PATH="{scripts}{os.pathsep}$PATH"'
