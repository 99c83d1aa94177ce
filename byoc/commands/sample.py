"""`byoc sample FOLDER`: sample data sets as SageMaker-style CSV channels, generated here."""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
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
    args.folder.parent.mkdir(parents=True, exist_ok=True)
    # Written beside FOLDER first: a channel folder already holding other files (another sample
    # kind's, or the user's) would be read with ours as one channel, so it is refused before
    # anything in FOLDER changes.
    with tempfile.TemporaryDirectory(prefix=".byoc-sample-", dir=args.folder.parent) as staging:
        written = write(Path(staging))
        others = [found for new in Path(staging).iterdir() if new.is_dir()
                  for found in stray_files(args.folder / new.name, {p.name for p in new.iterdir()})]
        if others:
            listed = ", ".join(str(p) for p in others[:3]) + (", ..." if len(others) > 3 else "")
            raise UsageError(f"{args.folder} already holds {listed}, which training would read with the "
                             f"{args.kind} sample as one channel: give a new folder, or remove them")
        for new in sorted(Path(staging).rglob("*")):
            if new.is_file():
                target = args.folder / new.relative_to(staging)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(new, target)   # a rename: the staging folder sits beside FOLDER
    for name, path in written.items():
        print(f"{name}: {args.folder / path.relative_to(staging)}")
    return 0


def stray_files(channel: Path, ours: set[str]) -> list[Path]:
    """The files in an existing channel folder that the sample does not write."""
    if not channel.is_dir():
        return []
    return sorted(p for p in channel.rglob("*") if p.is_file() and p.relative_to(channel).as_posix() not in ours)

