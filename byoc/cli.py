"""`byoc`: the command line for local runs, the image, and SageMaker.

    byoc demo                      train, serve and predict on the bundled sample
    byoc sample DIR                write the sample data set
    byoc local train ...           run `train` on a job folder laid out as SageMaker would
    byoc local serve MODEL         serve a model folder or model.tar.gz on 127.0.0.1
    byoc local transform ...       a batch transform through `serve`, as SageMaker runs it
    byoc local process ...         split raw CSV into train/validation/test, as a processing job
    byoc local tune ...            a hyperparameter search with real training jobs on this machine
    byoc image build               build the image (then add --image IMAGE to demo and local)

The AWS commands (deploy, invoke, delete, process, train, tune, transform, register, approve,
versions, autoscale) are byoc.commands' too.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from contextlib import contextmanager
from types import FrameType
from typing import Any, Iterator

from .commands import autoscale, demo, ecr, endpoint, image, local, process, register, sample, train, transform, tune
from .errors import ByocError

#: The command modules, in the order `byoc --help` lists them; each has register(subparsers).
COMMANDS = (demo, sample, local, image, endpoint, process, train, tune, transform, register, autoscale, ecr)

#: Signals that end byoc like Ctrl-C does: what it started is stopped, then it exits 128 + the signal.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Stopped(BaseException):
    """SIGTERM or SIGHUP reached byoc: unwind (stopping what was started) and exit 128 + signum."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with stop_signals_raise():
            return int(args.func(args) or 0)
    except ByocError as exc:
        print(f"byoc: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Stopped as exc:
        return 128 + exc.signum


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="byoc", description=__doc__.split("\n\n")[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(subparsers)
    return parser


@contextmanager
def stop_signals_raise() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into Stopped while a command runs, so its cleanup runs as on Ctrl-C.

    Python's default for SIGTERM is to die at once, leaving a server or container running.
    Only the main thread may set handlers; elsewhere (a caller's thread) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: FrameType | None) -> Any:
        raise Stopped(signum)

    previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
