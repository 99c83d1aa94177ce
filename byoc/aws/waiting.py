"""boto3 waiters with a progress line.

A boto3 waiter knows which states mean success and which mean failure, but shows nothing while
it polls. Here the waiter is asked once per poll (MaxAttempts=1, so its own acceptors decide),
and between polls the status is shown: rewritten in place on a terminal, one line per change
(and a heartbeat every minute) in a log. Progress goes to stderr; stdout stays for results.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import IO, Any, Callable, Mapping

from .console import STDERR
from ..errors import Failed, TimedOut

HEARTBEAT_SECONDS = 60


@dataclass
class Progress:
    """Prints what a wait is doing; TTY-aware."""

    label: str
    out: IO[str] = STDERR
    started: float = 0.0
    _last: str | None = None
    _last_print: float = 0.0

    def __post_init__(self) -> None:
        self.started = time.monotonic()
        self.tty = bool(getattr(self.out, "isatty", lambda: False)())

    def elapsed(self) -> str:
        seconds = int(time.monotonic() - self.started)
        return f"{seconds // 60:d}m{seconds % 60:02d}s"

    def show(self, status: str, *, force: bool = False) -> None:
        now = time.monotonic()
        line = f"  [{self.elapsed():>7}] {self.label}: {status}"
        if self.tty:
            if self._last is not None and status != self._last:
                self.out.write("\n")  # keep the previous state on screen
            self.out.write("\r\033[K" + line)
        elif force or status != self._last or now - self._last_print >= HEARTBEAT_SECONDS:
            self.out.write(line + "\n")
            self._last_print = now
        self._last = status
        self.out.flush()

    def done(self, status: str) -> None:
        line = f"  [{self.elapsed():>7}] {self.label}: {status}"
        self.out.write(("\r\033[K" if self.tty else "") + line + "\n")
        self.out.flush()


def wait(client: Any, waiter_name: str, params: Mapping[str, Any], *,
         label: str,
         status_of: Callable[[Mapping[str, Any]], str],
         failure_of: Callable[[Mapping[str, Any]], str | None] = lambda r: r.get("FailureReason"),
         delay: float | None = None,
         timeout: float | None = None,
         on_poll: Callable[[Mapping[str, Any]], None] | None = None,
         out: IO[str] = STDERR,
         still_running_hint: str = "",
         done: str = "done") -> None:
    """Poll until the waiter succeeds; raise Failed on its failure states, TimedOut after timeout.

    delay and timeout default to the waiter's own (e.g. endpoint_in_service: every 30 s for up
    to 60 min). on_poll sees every describe response (training uses it to print new statuses).
    """
    from botocore.exceptions import WaiterError

    waiter = client.get_waiter(waiter_name)
    delay = waiter.config.delay if delay is None else delay
    timeout = waiter.config.delay * waiter.config.max_attempts if timeout is None else timeout
    progress = Progress(label, out)
    deadline = time.monotonic() + timeout
    status = "waiting"
    try:
        while True:
            try:
                waiter.wait(**params, WaiterConfig={"Delay": 1, "MaxAttempts": 1})
            except WaiterError as exc:
                response = getattr(exc, "last_response", None) or {}
                reason = str(exc.kwargs.get("reason", exc))
                if "Max attempts exceeded" not in reason:
                    status = _status(status_of, response, status)
                    progress.done(status)
                    detail = failure_of(response) if response else None
                    error = response.get("Error", {}) if response else {}
                    raise Failed(
                        f"{label} ended {status}"
                        + (f": {detail}" if detail else "")
                        + (f" ({error.get('Code')}: {error.get('Message')})" if error and not detail else "")
                    ) from None
                status = _status(status_of, response, status)
                if on_poll:
                    on_poll(response)
                progress.show(status)
            else:
                progress.done(done)
                return
            if time.monotonic() >= deadline:
                progress.done(status)
                raise TimedOut(
                    f"Stopped waiting after {progress.elapsed()}: {label} is still {status}; "
                    "it carries on in AWS.", hint=still_running_hint or None)
            _sleep(min(delay, max(0.0, deadline - time.monotonic())), progress, status)
    except KeyboardInterrupt:
        out.write(f"\nStopped waiting: {label} carries on in AWS. {still_running_hint}\n")
        raise


def _status(status_of: Callable[[Mapping[str, Any]], str], response: Mapping[str, Any], default: str) -> str:
    try:
        return status_of(response) or default
    except (KeyError, TypeError):
        return default


def _sleep(seconds: float, progress: Progress, status: str) -> None:
    """Sleep, ticking the elapsed time once a second on a terminal."""
    end = time.monotonic() + seconds
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(1.0, left))
        if progress.tty:
            progress.show(status)
