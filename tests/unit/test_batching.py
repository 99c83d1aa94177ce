"""container.batching with a fake model: who shares a call, what each request gets back, and errors.

Threads are real; a call is held open by an Event so that the requests that arrive meanwhile are
known to be waiting. No timings: every wait here ends on an event, and a generous join timeout
only keeps a broken batcher from hanging the suite.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any, Iterator, Sequence

import numpy as np
import pytest

from container.batching import (
    DEFAULT_MAX_ROWS,
    Batcher,
    batch_key,
    choose_max_rows,
    split_rows,
)

JOIN = 30  # seconds: only a hung batcher takes this long


class FakeModel:
    """predict(data, context) -> each row's first value x 10; the calls it saw; optionally held open."""

    def __init__(self) -> None:
        self.calls: list[list[float]] = []
        self.started = threading.Event()
        self.release = threading.Event()
        self.release.set()
        self.fail_on: float | None = None

    def __call__(self, data: np.ndarray, context: Any) -> np.ndarray:
        self.calls.append(data[:, 0].tolist())
        self.started.set()
        assert self.release.wait(JOIN)
        if self.fail_on is not None and self.fail_on in data[:, 0]:
            raise ValueError(f"cannot predict {self.fail_on}")
        context.classes = ["a", "b"]
        return data[:, 0] * 10


def rows(*firsts: float, width: int = 3) -> np.ndarray:
    return np.array([[first] + [0.0] * (width - 1) for first in firsts])


def context(output: str = "predictions") -> SimpleNamespace:
    return SimpleNamespace(output=output, classes=None)


class Request(threading.Thread):
    """One request's thread: submit, keep what came back (or what was raised)."""

    def __init__(self, batcher: Batcher, data: np.ndarray, output: str = "predictions", name: str = "") -> None:
        super().__init__(daemon=True)
        self.batcher, self.data, self.context, self.id = batcher, data, context(output), name
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.batcher.submit(self.data, self.context, batch_key(self.data, self.context.output),
                                              self.id)
        except BaseException as exc:  # noqa: BLE001 - kept for the test to look at
            self.error = exc

    def answer(self) -> Any:
        self.join(JOIN)
        assert not self.is_alive(), "the request never got its answer"
        if self.error is not None:
            raise self.error
        return self.result


def queued(batcher: Batcher, count: int) -> None:
    """Wait until `count` requests wait in the batcher's queue."""
    deadline = time.monotonic() + JOIN
    while len(batcher._queue) < count:
        assert time.monotonic() < deadline, "requests never reached the queue"
        time.sleep(0.001)


def hold_first_call(model: FakeModel, batcher: Batcher) -> Request:
    """A request whose call is running (held open), so that the next ones queue behind it."""
    model.release.clear()
    first = Request(batcher, rows(0), name="first")
    first.start()
    assert model.started.wait(JOIN)
    return first


def test_requests_that_arrive_during_a_call_share_the_next_one_and_each_gets_its_own_rows() -> None:
    model = FakeModel()
    batcher = Batcher(model, max_rows=64, wait_seconds=0, copy=("classes",))
    first = hold_first_call(model, batcher)
    others = [Request(batcher, rows(*range(i * 10 + 1, i * 10 + 1 + i + 1)), name=str(i)) for i in range(4)]
    for request in others:
        request.start()
    queued(batcher, 4)
    model.release.set()
    assert first.answer().tolist() == [0]
    for i, request in enumerate(others):
        assert request.answer().tolist() == [(i * 10 + 1 + k) * 10 for k in range(i + 1)]
    assert len(model.calls) == 2 and sorted(model.calls[1]) == sorted(sum((r.data[:, 0].tolist() for r in others), []))
    assert (batcher.calls, batcher.rows_predicted) == (2, 11)
    # Every request of the batch learns what the call put in its leader's context.
    assert all(r.context.classes == ["a", "b"] for r in others)


def test_an_idle_batcher_predicts_at_once_alone() -> None:
    model = FakeModel()
    batcher = Batcher(model, max_rows=64, wait_seconds=5)  # nothing arriving: no wait
    assert batcher.submit(rows(7), context(), batch_key(rows(7), "predictions")).tolist() == [70]
    assert model.calls == [[7]]


def test_requests_that_cannot_share_a_call_are_not_mixed() -> None:
    model = FakeModel()
    batcher = Batcher(model, max_rows=64, wait_seconds=0)
    first = hold_first_call(model, batcher)
    requests = [
        Request(batcher, rows(1), "predictions"), Request(batcher, rows(2), "probabilities"),
        Request(batcher, rows(3, width=4)), Request(batcher, rows(4).astype(np.float32)),
        Request(batcher, rows(5), "predictions"), Request(batcher, rows(6), "probabilities"),
    ]
    for request in requests:
        request.start()
        queued(batcher, requests.index(request) + 1)  # in this order
    model.release.set()
    first.answer()
    assert [r.answer().tolist() for r in requests] == [[10], [20], [30], [40], [50], [60]]
    # Oldest first, each with those behind it that match it: output, width and dtype.
    assert model.calls[1:] == [[1, 5], [2, 6], [3], [4]]


def test_a_failing_batch_is_retried_one_request_at_a_time(caplog: pytest.LogCaptureFixture) -> None:
    model = FakeModel()
    model.fail_on = 2
    batcher = Batcher(model, max_rows=64, wait_seconds=0)
    first = hold_first_call(model, batcher)
    requests = [Request(batcher, rows(value), name=f"r{value}") for value in (1, 2, 3)]
    for request in requests:
        request.start()
    queued(batcher, 3)
    caplog.set_level(logging.INFO, logger="container.batching")
    model.release.set()
    first.answer()
    assert requests[0].answer().tolist() == [10] and requests[2].answer().tolist() == [30]
    with pytest.raises(ValueError, match="cannot predict 2"):
        requests[1].answer()
    assert model.calls[1:] == [[1, 2, 3], [1], [2], [3]]
    assert "a batch of 3 requests failed (ValueError: cannot predict 2); predicting them one at a time" in caplog.text


def test_max_rows_bounds_a_call_and_one_turns_batching_off() -> None:
    # With 3: the oldest request, then each one behind it that still fits (11 fills the first batch).
    for max_rows, expected in ((3, [[0], [1, 2, 11], [3, 4, 5], [6, 7, 8], [9, 10]]),
                               (1, [[0], [1, 2], [3], [4, 5, 6], [7, 8], [9], [10], [11]])):
        model = FakeModel()
        batcher = Batcher(model, max_rows=max_rows, wait_seconds=0)
        assert batcher.enabled == (max_rows > 1)
        first = hold_first_call(model, batcher)
        # Off, a request of several rows is still one call.
        sizes = [(1, 2), (3,), (4, 5, 6), (7, 8), (9,), (10,), (11,)] if max_rows == 1 else \
            [(1,), (2,), (3, 4, 5), (6, 7, 8), (9, 10), (11,)]
        requests = [Request(batcher, rows(*size)) for size in sizes]
        for index, request in enumerate(requests):
            request.start()
            queued(batcher, index + 1)
        model.release.set()
        first.answer()
        for request in requests:
            assert request.answer().tolist() == (request.data[:, 0] * 10).tolist()
        assert model.calls == expected


def test_a_prediction_that_is_not_one_row_per_row_turns_batching_off(caplog: pytest.LogCaptureFixture) -> None:
    calls = []

    def summary(data: np.ndarray, context: Any) -> np.ndarray:
        calls.append(len(data))
        if len(calls) == 1:
            assert release.wait(JOIN)
        return np.array([data.sum()])  # one value per call, not per row

    release = threading.Event()
    batcher = Batcher(summary, max_rows=64, wait_seconds=0)
    first = Request(batcher, rows(1))
    first.start()
    while not calls:
        time.sleep(0.001)
    requests = [Request(batcher, rows(value)) for value in (2, 3)]
    for request in requests:
        request.start()
    queued(batcher, 2)
    release.set()
    assert [r.answer().tolist() for r in (first, *requests)] == [[1], [2], [3]]
    assert calls == [1, 2, 1, 1] and not batcher.enabled
    assert "did not return one row per input row (ndarray of shape (1,))" in caplog.text


def test_a_leader_waits_for_a_request_being_decoded_and_no_longer_than_that() -> None:
    model = FakeModel()
    batcher = Batcher(model, max_rows=64, wait_seconds=JOIN)
    decoding = threading.Event()
    decoded = threading.Event()
    answers: dict[str, Any] = {}

    def late_request(fail: bool) -> None:
        with batcher.arriving() as arrival:
            decoding.set()
            assert decoded.wait(JOIN)
            if fail:
                return  # its decode failed: it never submits
            answers["late"] = arrival.submit(rows(2), context(), batch_key(rows(2), "predictions"))

    for fail in (False, True):
        model.calls.clear()
        decoding.clear()
        decoded.clear()
        late = threading.Thread(target=late_request, args=(fail,), daemon=True)
        late.start()
        assert decoding.wait(JOIN)
        early = Request(batcher, rows(1))
        early.start()
        queued(batcher, 1)  # the early request waits for the late one: its leader holds it
        decoded.set()
        assert early.answer().tolist() == [10]
        late.join(JOIN)
        assert model.calls == ([[1]] if fail else [[1, 2]])
    assert answers["late"].tolist() == [20]


def test_an_uncounted_arrival_is_not_waited_for() -> None:
    """A user's input_fn decodes under the model's turn: a leader must not wait for it."""
    model = FakeModel()
    batcher = Batcher(model, max_rows=64, wait_seconds=JOIN)
    with batcher.arriving(counted=False) as arrival:
        assert batcher._arriving == 0
        early = Request(batcher, rows(1))
        early.start()
        assert early.answer().tolist() == [10]  # at once, not after JOIN seconds
        assert arrival.submit(rows(2), context(), batch_key(rows(2), "predictions")).tolist() == [20]
    assert batcher._arriving == 0


def test_exclusive_waits_for_the_model_turn() -> None:
    model = FakeModel()
    batcher = Batcher(model, max_rows=64, wait_seconds=0)
    first = hold_first_call(model, batcher)
    entered = threading.Event()

    def hook() -> None:
        with batcher.exclusive():
            entered.set()

    thread = threading.Thread(target=hook, daemon=True)
    thread.start()
    assert not entered.wait(0.05)  # the call holds the only turn
    model.release.set()
    assert entered.wait(JOIN)
    first.answer()
    thread.join(JOIN)


def test_every_request_of_a_call_is_tracked_while_it_runs() -> None:
    tracked: list[tuple[str, ...]] = []

    @contextmanager
    def track(ids: Sequence[str]) -> Iterator[None]:
        tracked.append(tuple(ids))
        yield

    model = FakeModel()
    batcher = Batcher(model, max_rows=64, wait_seconds=0, track=track)
    first = hold_first_call(model, batcher)
    requests = [Request(batcher, rows(value), name=f"r{value}") for value in (1, 2)]
    for request in requests:
        request.start()
    queued(batcher, 2)
    model.release.set()
    for request in (first, *requests):
        request.answer()
    assert tracked[0] == ("first",) and sorted(tracked[1]) == ["r1", "r2"]


@pytest.mark.parametrize(("data", "output", "attributes", "expected"), [
    (np.zeros((2, 3)), "predictions", None, (3, "<f8", "predictions", None)),
    (np.zeros((1, 3), dtype=object), "probabilities", None, (3, "|O", "probabilities", None)),
    (np.zeros((1, 3)), "predictions", {"b": "2", "a": "1"}, (3, "<f8", "predictions", (("a", "1"), ("b", "2")))),
    (np.zeros(3), "predictions", None, None),  # not rows
    (np.zeros((0, 3)), "predictions", None, None),
    ([[1.0, 2.0]], "predictions", None, None),  # a custom input_fn's list
])
def test_batch_key(data: Any, output: str, attributes: Any, expected: Any) -> None:
    assert batch_key(data, output, attributes) == expected


def test_split_rows() -> None:
    parts = split_rows(np.arange(6).reshape(3, 2), [1, 2])
    assert parts is not None and [p.tolist() for p in parts] == [[[0, 1]], [[2, 3], [4, 5]]]
    assert split_rows(np.arange(3), [1, 1]) is None
    assert split_rows(np.float64(1), [1]) is None
    assert split_rows([1, 2], [1, 1]) is None


def test_the_default_is_chosen_by_timing_a_one_row_prediction() -> None:
    assert choose_max_rows(lambda: time.sleep(0.002))[0] == DEFAULT_MAX_ROWS
    rows_, why = choose_max_rows(lambda: None)
    assert rows_ == 1 and "under the 1 ms threshold" in why
    assert choose_max_rows(None) == (1, "this predict_fn is not batchable (docs/hooks.md)")
    rows_, why = choose_max_rows(lambda: 1 / 0)
    assert rows_ == 1 and why == "a one-row prediction to time it failed (ZeroDivisionError: division by zero)"


def test_the_timing_runs_in_a_child_process() -> None:
    """serve times in gunicorn's master: nothing of the model's calls may stay there (an OpenMP pool)."""
    calls = []
    assert choose_max_rows(lambda: calls.append(os.getpid()))[0] == 1
    assert calls == []  # the calls happened in the child, whose memory is its own
    seen = []

    def exits() -> None:
        seen.append(1)
        os._exit(3)

    rows_, why = choose_max_rows(exits)
    assert rows_ == 1 and "the timing process exited 3" in why and seen == []
