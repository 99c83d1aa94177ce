"""Stopping a job promptly on SIGTERM (StopTrainingJob, StopProcessingJob, spot interruption).

SageMaker sends SIGTERM (a processing job may get SIGINT) and kills the container some time
later (120 s for training). The Python handler raises the job's JobStopped in the main
thread, which unwinds through the writers' cleanup. A fit() or a CSV read deep in native code
may not return to Python for a long time, so a watchdog thread, woken through the signal
wakeup fd (written even while the main thread is busy), logs the stop at once and, if the
main thread has not finished within the grace period, abandons what was being written and
exits.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Callable, Iterator

from . import artifacts
from .errors import JobStopped, TrainingStopped, exit_code

log = logging.getLogger(__name__)

DEFAULT_GRACE_SECONDS = 30.0


class StopOnSignal:
    """Context manager: SIGTERM/SIGINT stop the job, cleanly, within `grace` seconds.

    For training (the default) the model folder is what a stop must not leave half-written.
    Another job passes `stopped` (the error raised, given the signal's name) and `abandon`
    (called by the watchdog, before it exits, to remove partial output).
    """

    def __init__(self, model_dir: Path | None = None, grace: float = DEFAULT_GRACE_SECONDS, *,
                 stopped: Callable[[str], JobStopped] | None = None,
                 abandon: Callable[[], None] | None = None, job: str = "training") -> None:
        self.model_dir = model_dir
        self.grace = grace
        self.job = job
        self._stopped = stopped or (lambda name: TrainingStopped(
            f"Training stopped by {name} before it finished; no model was written."))
        self._abandon = abandon or self._abandon_model
        self.finished = threading.Event()
        self._previous: dict[int, object] = {}
        self._read_fd = self._write_fd = -1
        self._old_wakeup = -1

    def __enter__(self) -> "StopOnSignal":
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._write_fd, False)
        self._old_wakeup = signal.set_wakeup_fd(self._write_fd, warn_on_full_buffer=False)
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._previous[signum] = signal.signal(signum, self._raise)
        threading.Thread(target=self._watch, name="stop-watchdog", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.finished.set()
        signal.set_wakeup_fd(self._old_wakeup)
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        os.close(self._write_fd)  # wakes the watchdog, which then closes the read end

    def _raise(self, signum: int, frame: FrameType | None) -> None:
        if self.finished.is_set():
            return
        raise self._stopped(signal.Signals(signum).name)

    def _abandon_model(self) -> None:
        artifacts.commit_lock.acquire()  # never released: the process ends next
        if self.model_dir is not None:
            artifacts.remove_temporaries(self.model_dir)

    def _watch(self) -> None:
        try:
            data = os.read(self._read_fd, 16)
        finally:
            os.close(self._read_fd)
        if not data or self.finished.is_set():
            return
        name = signal.Signals(data[0]).name if data[0] in signal.Signals._value2member_map_ else "a signal"
        log.warning("Received %s: stopping %s (forcing exit in %.0f s if still busy).", name, self.job, self.grace)
        if self.finished.wait(self.grace):
            return
        log.error("The %s did not stop within %.0f s of %s; exiting now, leaving no output.", self.job,
                  self.grace, name)
        self._abandon()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(exit_code(self._stopped(name)))


@contextmanager
def signals_held() -> Iterator[None]:
    """Delay SIGTERM and SIGINT (to this thread) until the block is done: for renames that must
    all happen or none."""
    held = {signal.SIGTERM, signal.SIGINT}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
