"""Stopping a training job promptly on SIGTERM (StopTrainingJob, spot interruption).

SageMaker sends SIGTERM and kills the container 120 s later. The Python handler raises
TrainingStopped in the main thread, which unwinds through the model writer's cleanup. A
fit() deep in native code may not return to Python for a long time, so a watchdog thread,
woken through the signal wakeup fd (written even while the main thread is busy), logs the
stop at once and, if the main thread has not finished within the grace period, removes
any half-written model files and exits.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from . import artifacts
from .errors import TrainingStopped, exit_code

log = logging.getLogger(__name__)

DEFAULT_GRACE_SECONDS = 30.0


class StopOnSignal:
    """Context manager: SIGTERM/SIGINT stop training, cleanly, within `grace` seconds."""

    def __init__(self, model_dir: Path, grace: float = DEFAULT_GRACE_SECONDS) -> None:
        self.model_dir = model_dir
        self.grace = grace
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
        name = signal.Signals(signum).name
        raise TrainingStopped(f"Training stopped by {name} before it finished; no model was written.")

    def _watch(self) -> None:
        try:
            data = os.read(self._read_fd, 16)
        finally:
            os.close(self._read_fd)
        if not data or self.finished.is_set():
            return
        name = signal.Signals(data[0]).name if data[0] in signal.Signals._value2member_map_ else "a signal"
        log.warning("Received %s: stopping training (forcing exit in %.0f s if still busy).", name, self.grace)
        if self.finished.wait(self.grace):
            return
        log.error("Training did not stop within %.0f s of %s; exiting now without a model.", self.grace, name)
        artifacts.commit_lock.acquire()  # never released: the process ends below
        artifacts.remove_temporaries(self.model_dir)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(exit_code(TrainingStopped("")))
