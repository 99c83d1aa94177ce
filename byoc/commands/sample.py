"""`byoc sample FOLDER`: the bundled iris sample as SageMaker-style CSV channels."""

from __future__ import annotations

import argparse
from typing import Any

from .. import sample
from ..errors import UsageError
from . import path_arg


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("sample", help="write the sample data set (iris, from scikit-learn)",
                              description="Write FOLDER/train, FOLDER/validation, FOLDER/test (label first, "
                                          "no header) and FOLDER/payload.csv (features only).")
    p.add_argument("folder", type=path_arg, metavar="FOLDER")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.folder.exists() and not args.folder.is_dir():
        raise UsageError(f"{args.folder} is a file: give a folder to write the sample into")
    for name, path in sample.write(args.folder).items():
        print(f"{name}: {path}")
    return 0
