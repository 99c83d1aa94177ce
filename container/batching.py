"""Adaptive batching: the requests a worker holds while its model is busy, predicted in one call.

A 100-tree random forest costs about as much to predict 32 rows as one: its per-call overhead
(input checks, a Python call per tree) dwarfs the per-row work. A worker's threads each carry
one request; each decodes its own body, then hands its rows to the worker's :class:`Batcher`
and waits. Whichever thread gets the model's turn (a *leader*; there is no batching thread of
its own, so nothing is started before gunicorn forks) takes the oldest waiting request and every
later one that can share its call, up to ``max_rows`` rows, predicts them together, and hands
each request its own rows back. Each thread then encodes its own answer, so every request keeps
its own Accept, content type and errors.

Adaptive: nothing waits when the worker is idle. A leader waits (up to ``wait_seconds``) only
for requests this worker is already decoding; otherwise the batch is whatever queued up while the
previous call ran, which under load is what the load brings, and at one connection is one
request. ``max_rows=1`` turns batching off: each request is predicted alone, in turn.

Requests share a call only when their :func:`batch_key` is equal: a 2-D NumPy array of the same
width and dtype, the same output (predictions or probabilities) and, for a custom predict_fn,
the same custom attributes. Anything else (a DataFrame, a list, a sparse matrix from a custom
input_fn) is predicted alone. A batch whose call fails is retried one request at a time, so the
request that causes the error gets it and the others their answers (bisecting would save calls
only on a failure, which is rare, at the price of a second code path); a prediction that does
not come back as one row per input row is answered the same way, and said once in the log.

The model is called by one thread at a time (``turns``, BYOC_PREDICTIONS_PER_WORKER, may allow
more for a thread-safe model); :meth:`Batcher.exclusive` gives a user's other hooks the same
turn, as they may share state with the model.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import threading
import time
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import Any, Callable, Hashable, Iterator, Sequence

import numpy as np

log = logging.getLogger("container.batching")

#: What the pipeline calls to predict: (input, the context of the request it is for) -> prediction.
Predict = Callable[[Any, Any], Any]
#: What tracks a step of some requests against MODEL_SERVER_TIMEOUT: (request ids) -> context manager.
Track = Callable[[Sequence[str]], AbstractContextManager[Any]]

#: A predict_fn's attribute that says it may be batched (docs/hooks.md): each output row depends on
#: its input row, the model and the request's output and custom attributes only.
BATCHABLE_ATTRIBUTE = "batchable"


#: BYOC_BATCH_MAX_ROWS when batching is on by default: 16 threads' one-row requests fit many times
#: over, and a forest's call on 256 rows still costs about what it does on one.
DEFAULT_MAX_ROWS = 256
#: Batching is on by default when predicting one row takes at least this long (timed at start-up):
#: below it a call costs less than the server's own work per request, so sharing it saves little
#: and the hand-over between threads costs about as much (docs/performance.md has the figures).
BATCH_THRESHOLD_SECONDS = 0.001
#: Calls timed at start-up (after one to warm up); the median counts.
TIMED_CALLS = 5


#: A first call this slow decides at once (a large model's start-up is not slowed by more calls).
CLEARLY_OVER_SECONDS = 10 * BATCH_THRESHOLD_SECONDS
#: How long the start-up timing may take before batching is left off.
TIMING_SECONDS = 30


def choose_max_rows(predict_once: Callable[[], Any] | None) -> tuple[int, str]:
    """The default BYOC_BATCH_MAX_ROWS, and why: DEFAULT_MAX_ROWS when one call of `predict_once`
    (a one-row prediction) takes BATCH_THRESHOLD_SECONDS or more, else 1 (off). None, or a call
    that fails, means the pipeline cannot be batched or timed: off.

    The calls run in a forked child, never in the calling process: `serve` times them in
    gunicorn's master, and a model whose predict runs the GNU OpenMP runtime's pool there would
    hang the workers forked from it (the pool does not survive a fork).
    """
    if predict_once is None:
        return 1, "this predict_fn is not batchable (docs/hooks.md)"
    try:
        took = _median_in_child(predict_once)
    except Exception as exc:
        return 1, f"a one-row prediction to time it failed ({exc})"
    if took >= BATCH_THRESHOLD_SECONDS:
        return DEFAULT_MAX_ROWS, (f"a one-row prediction takes {took * 1e3:.2f} ms, over the "
                                  f"{BATCH_THRESHOLD_SECONDS * 1e3:g} ms threshold")
    return 1, (f"a one-row prediction takes {took * 1e3:.2f} ms, under the "
               f"{BATCH_THRESHOLD_SECONDS * 1e3:g} ms threshold")


def _median_in_child(predict_once: Callable[[], Any]) -> float:
    """The median time of TIMED_CALLS calls (after one to warm up, which alone decides when it
    takes CLEARLY_OVER_SECONDS), in a forked child."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: time, say so on the pipe, and leave without running anything else
        status = 0
        try:
            os.close(read)
            start = time.perf_counter()
            predict_once()
            times = [time.perf_counter() - start]  # the first call: it only decides when far over
            if times[0] < CLEARLY_OVER_SECONDS:
                times = []
                for _ in range(TIMED_CALLS):
                    start = time.perf_counter()
                    predict_once()
                    times.append(time.perf_counter() - start)
            message = repr(sorted(times)[len(times) // 2])
        except BaseException as exc:  # noqa: BLE001 - told to the parent
            message = f"{type(exc).__name__}: {exc}"[:500]
            status = 1
        try:
            os.write(write, message.encode())
        finally:
            os._exit(status)
    os.close(write)
    try:
        ready, _, _ = select.select([read], [], [], TIMING_SECONDS)
        message = os.read(read, 4096).decode(errors="replace") if ready else ""
    finally:
        os.close(read)
        if not ready:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    if not ready:
        raise TimeoutError(f"no answer within {TIMING_SECONDS} s")
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(message or f"the timing process exited {os.waitstatus_to_exitcode(status)}")
    return float(message)


def batch_key(data: Any, output: str, attributes: dict[str, str] | None = None) -> Hashable | None:
    """What requests must have in common to share a call; None: this one is predicted alone.

    `attributes` are the custom attributes a custom predict_fn may read (None for the default one,
    which reads only `output`).
    """
    if type(data) is not np.ndarray or data.ndim != 2 or data.shape[0] == 0:
        return None
    extra = None if attributes is None else tuple(sorted(attributes.items()))
    return data.shape[1], data.dtype.str, output, extra


def split_rows(prediction: Any, counts: Sequence[int]) -> list[Any] | None:
    """The prediction of a batch cut back into each request's rows; None if it is not one
    row (or one value) per input row, in order."""
    total = sum(counts)
    if not isinstance(prediction, np.ndarray) or prediction.ndim == 0 or prediction.shape[0] != total:
        return None
    ends = np.cumsum(counts[:-1]).tolist()
    return np.split(prediction, ends)


class Job:
    """One request's input waiting for (or in) a model call."""

    __slots__ = ("data", "context", "key", "rows", "request_id", "done", "result", "error", "copied")

    def __init__(self, data: Any, context: Any, key: Hashable | None, rows: int, request_id: str = "") -> None:
        self.data, self.context, self.key, self.rows, self.request_id = data, context, key, rows, request_id
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None
        #: Copied from the context of the request whose context a batch's call was given.
        self.copied: dict[str, Any] | None = None

    def outcome(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result


class Batcher:
    """One per worker: queues decoded requests and predicts them in turns (see the module's docstring).

    `predict(data, context)` is the pipeline's predict step; `copy` names the context fields it
    sets that every request of a batch needs (the default predict_fn's `classes`); `track` puts a
    step of the given requests under MODEL_SERVER_TIMEOUT.
    """

    def __init__(self, predict: Predict, *, max_rows: int, wait_seconds: float, turns: int = 1,
                 copy: Sequence[str] = (), track: Track | None = None) -> None:
        if max_rows < 1 or turns < 1 or wait_seconds < 0:
            raise ValueError("max_rows and turns must be 1 or more, wait_seconds 0 or more")
        self.predict = predict
        self.max_rows = max_rows
        self.wait_seconds = wait_seconds
        self.copy = tuple(copy)
        self.track: Track = track or (lambda ids: ExitStack())
        self._cond = threading.Condition()
        self._queue: list[Job] = []
        self._turns = turns
        self._arriving = 0
        #: (calls, rows) so far, for tests and the benchmark's log.
        self.calls = 0
        self.rows_predicted = 0

    @property
    def enabled(self) -> bool:
        return self.max_rows > 1

    # -- what a request's thread calls ---------------------------------------------------------

    def arriving(self, counted: bool = True) -> "Arrival":
        """Around a request's decode, until it is submitted (Arrival.submit): a leader may wait
        (wait_seconds) for the requests arriving. Not `counted` when the decode itself needs a
        turn (a user's input_fn): a leader holding the turn would wait for it in vain."""
        return Arrival(self, counted)

    def submit(self, data: Any, context: Any, key: Hashable | None, request_id: str = "",
               arrival: "Arrival | None" = None) -> Any:
        """The prediction for `data`, predicted alone or with others; raises what predicting it raised."""
        rows = int(data.shape[0]) if key is not None else 1
        job = Job(data, context, key if self.enabled else None, rows, request_id)
        with self._cond:
            self._queue.append(job)
            if arrival is not None and not arrival.submitted:
                arrival.submitted = True
                self._arriving -= 1
            self._cond.notify_all()  # a leader waiting for arrivals may take it
            while not job.done:
                if self._turns > 0 and self._queue:
                    self._turns -= 1
                    batch = self._gather()
                    self._cond.release()
                    try:
                        self._run(batch)
                    finally:
                        self._cond.acquire()
                        for done in batch:
                            done.done = True
                        self._turns += 1
                        self._cond.notify_all()
                else:
                    self._cond.wait()
        if job.copied:
            for name, value in job.copied.items():
                setattr(context, name, value)
        return job.outcome()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """A model turn for code that is not a batch (a user's input_fn, output_fn, transform_fn)."""
        with self._cond:
            while self._turns == 0:
                self._cond.wait()
            self._turns -= 1
        try:
            yield
        finally:
            with self._cond:
                self._turns += 1
                self._cond.notify_all()

    # -- the leader ----------------------------------------------------------------------------

    def _gather(self) -> list[Job]:
        """The next batch, taken off the queue (the lock is held): the oldest request and those
        behind it with its key, waiting up to wait_seconds for requests still being decoded."""
        head = self._queue[0]
        if head.key is None or not self.enabled:
            self._queue.pop(0)
            return [head]
        if head.rows < self.max_rows and self._arriving and self.wait_seconds:
            deadline = time.monotonic() + self.wait_seconds
            while self._arriving and self._rows_like(head) < self.max_rows:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
        batch, rows, rest = [head], head.rows, []
        for job in self._queue[1:]:
            if job.key == head.key and rows + job.rows <= self.max_rows:
                batch.append(job)
                rows += job.rows
            else:
                rest.append(job)
        self._queue = rest
        return batch

    def _rows_like(self, head: Job) -> int:
        return sum(job.rows for job in self._queue if job.key == head.key)

    def _run(self, batch: list[Job]) -> None:
        """Predict a batch (the lock is not held); the caller marks its jobs done."""
        try:
            if len(batch) == 1:
                self._alone(batch[0])
            else:
                self._together(batch)
        except BaseException as exc:  # KeyboardInterrupt and the like: nobody is left without an answer
            for job in batch:
                if job.result is None and job.error is None:
                    job.error = exc
            raise

    def _alone(self, job: Job) -> None:
        self.calls += 1
        self.rows_predicted += job.rows
        try:
            with self.track([job.request_id]):
                job.result = self.predict(job.data, job.context)
        except Exception as exc:
            job.error = exc

    def _together(self, batch: list[Job]) -> None:
        lead = batch[0]
        self.calls += 1
        self.rows_predicted += sum(job.rows for job in batch)
        try:
            with self.track([job.request_id for job in batch]):
                prediction = self.predict(np.concatenate([job.data for job in batch]), lead.context)
        except Exception as exc:
            log.info("[%s] a batch of %d requests failed (%s: %s); predicting them one at a time.",
                     lead.request_id, len(batch), type(exc).__name__, exc)
            for job in batch:
                self._alone(job)
            return
        parts = split_rows(prediction, [job.rows for job in batch])
        if parts is None:
            if self.enabled:
                log.warning("predict_fn is marked batchable but did not return one row per input row (%s); "
                            "from now on each request is predicted alone.", _describe(prediction))
            self.max_rows = 1
            for job in batch:
                self._alone(job)
            return
        copied = {name: getattr(lead.context, name, None) for name in self.copy}
        for job, part in zip(batch, parts):
            job.result = part
            if job is not lead:
                job.copied = copied


class Arrival:
    """A request between the start of its decode and its submission (Batcher.arriving)."""

    def __init__(self, batcher: Batcher, counted: bool = True) -> None:
        self.batcher = batcher
        self.submitted = not counted  # an uncounted arrival has nothing to take back

    def __enter__(self) -> "Arrival":
        if not self.submitted:
            with self.batcher._cond:
                self.batcher._arriving += 1
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.submitted:  # its decode failed
            with self.batcher._cond:
                self.batcher._arriving -= 1
                self.batcher._cond.notify_all()

    def submit(self, data: Any, context: Any, key: Hashable | None, request_id: str = "") -> Any:
        return self.batcher.submit(data, context, key, request_id, arrival=self)


def _describe(value: Any) -> str:
    shape = getattr(value, "shape", None)
    return f"{type(value).__name__} of shape {shape}" if shape is not None else type(value).__name__
