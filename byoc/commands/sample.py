"""`byoc sample FOLDER`: sample data sets as SageMaker-style CSV channels, generated here."""

from __future__ import annotations

import argparse
from typing import Any

from .. import sample
from ..errors import UsageError
from . import path_arg

#: --kind: what each writes, in the words of `byoc sample --help`.
KINDS = {
    "iris": (sample.write, "iris, label first as a number, no header: train/, validation/, test/, payload.csv"),
    "iris-names": (sample.write_iris_names,
                   "iris with class names first (setosa, ...), no header, as AWS's scikit_bring_your_own "
                   "sample ships it: training/iris.csv, payload.csv"),
    "bank": (sample.write_bank,
             "a bank-marketing-like table: a header, text columns, empty fields, a yes/no label `y` last; "
             "train/, validation/, test/, payload.csv, payload.jsonl (train with "
             "--content-type 'text/csv;header=present' -H label_column=y)"),
}


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "sample", help="write a sample data set (iris, iris with class names, or a bank-marketing-like table)",
        description="Write a sample data set into FOLDER, generated here (nothing is downloaded).",
        epilog="\n".join(f"  --{name:<11} {text}" for name, (_, text) in KINDS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", type=path_arg, metavar="FOLDER")
    kind = p.add_mutually_exclusive_group()
    for name in KINDS:
        kind.add_argument(f"--{name}", dest="kind", action="store_const", const=name,
                          help=argparse.SUPPRESS if name == "iris" else None)
    p.set_defaults(func=run, kind="iris")


def run(args: argparse.Namespace) -> int:
    if args.folder.exists() and not args.folder.is_dir():
        raise UsageError(f"{args.folder} is a file: give a folder to write the sample into")
    write, _ = KINDS[args.kind]
    for name, path in write(args.folder).items():
        print(f"{name}: {path}")
    return 0
