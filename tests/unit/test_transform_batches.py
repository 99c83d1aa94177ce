"""Batch transform's record grouping, as SageMaker does it for SplitType=Line, and its requests
against a real HTTP server on 127.0.0.1 that answers, resets, stalls or fails on cue."""

from __future__ import annotations

import io
import random
import socket
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from byoc import transform
from byoc.transform import RecordError, bodies, normalise_strategy, records
from fault_http import FaultHandler, FaultServer


def _bodies(data: bytes, strategy: str, max_payload_mb: float) -> list[tuple[bytes, int]]:
    return list(bodies(io.BytesIO(data), strategy, max_payload_mb))


def test_multi_record_packs_whole_records_under_the_limit() -> None:
    data = b"1,2\n" * 10  # 4 bytes each
    found = _bodies(data, "MultiRecord", 10 / (1024 * 1024))  # 10 bytes: two records per request
    assert found == [(b"1,2\n1,2\n", 2)] * 5


def test_records_of_different_lengths_fill_each_body_as_far_as_whole_records_go() -> None:
    rows = [f"{i},{'x' * (i % 7)}\n".encode() for i in range(200)]
    limit = 50
    found = _bodies(b"".join(rows), "MultiRecord", limit / (1024 * 1024))
    assert b"".join(body for body, _ in found) == b"".join(rows)  # every record, in order, none split
    position = 0
    for body, count in found:
        assert body == b"".join(rows[position:position + count]) and len(body) <= limit
        position += count
        if position < len(rows):  # as full as whole records go: the next one would not have fitted
            assert len(body) + len(rows[position]) > limit
    assert position == len(rows)


def test_single_record_sends_one_per_request() -> None:
    assert _bodies(b"a\nb\n", "SingleRecord", 6) == [(b"a\n", 1), (b"b\n", 1)]


def test_blank_lines_are_no_records_and_a_last_line_gets_its_newline() -> None:
    data = b"\n  \na,1\n\n\r\nb,2\r\n \t\nc,3"
    assert _bodies(data, "MultiRecord", 6) == [(b"a,1\nb,2\r\nc,3\n", 3)]
    assert _bodies(data, "SingleRecord", 6) == [(b"a,1\n", 1), (b"b,2\r\n", 1), (b"c,3\n", 1)]
    assert _bodies(b"", "MultiRecord", 6) == [] == _bodies(b"\n\n", "MultiRecord", 6)


@pytest.mark.parametrize("strategy", ["MultiRecord", "SingleRecord"])
def test_a_record_over_the_limit_is_refused(strategy: str) -> None:
    with pytest.raises(RecordError, match="a record of more than 50 bytes is over MaxPayloadInMB"):
        _bodies(b"ok\n" + b"x" * 100 + b"\nok\n", strategy, 50 / (1024 * 1024))


def test_zero_means_no_limit() -> None:
    assert _bodies(b"x\n" * 1000, "MultiRecord", 0) == [(b"x\n" * 1000, 1000)]


def test_bodies_are_made_as_the_file_is_read() -> None:
    """The first request is ready after reading one payload's worth, not the whole input."""
    stream = io.BytesIO(b"1,2,3\n" * 1_000_000)
    first, count = next(bodies(stream, "MultiRecord", 60 / (1024 * 1024)))
    assert count == 10 and stream.tell() == 60


def test_records_are_lines_read_as_asked_for() -> None:
    stream = io.BytesIO(b"a,1\n\n  \nb,2\r\nc,3")
    assert list(records(stream)) == [b"a,1\n", b"b,2\r\n", b"c,3\n"]  # blank lines skipped, last one ended


def test_a_long_line_is_refused_without_reading_it_whole() -> None:
    stream = io.BytesIO(b"ok\n" + b"x" * 10_000_000 + b"\n")
    found = records(stream, limit=1000)
    assert next(found) == b"ok\n"
    with pytest.raises(RecordError, match="more than 1000 bytes"):
        next(found)
    assert stream.tell() < 2000  # read up to the limit, not the 10 MB line


@pytest.mark.parametrize("spelling", ["MULTI_RECORD", "MultiRecord", "multi-record"])
def test_both_spellings_of_the_strategy(spelling: str) -> None:
    assert normalise_strategy(spelling) == "MultiRecord"


def test_unknown_strategy() -> None:
    with pytest.raises(ValueError):
        normalise_strategy("Everything")


def test_one_vocabulary_of_strategies_for_the_emulator_and_the_aws_command() -> None:
    """byoc.transform.STRATEGIES is the one list: the local emulator normalises to it and
    `byoc transform --strategy` is checked against it."""
    from byoc.aws import transform as aws_transform

    assert aws_transform.STRATEGIES is transform.STRATEGIES == ("MultiRecord", "SingleRecord")
    for strategy in transform.STRATEGIES:
        for spelling in (strategy, strategy.upper(), strategy.replace("Record", "_RECORD").upper()):
            assert normalise_strategy(spelling) == strategy

    def strategy_problems(strategy: str) -> list[str]:
        return [p for p in aws_transform.problems(
            name="job", instance_type="ml.m5.large", instance_count=1, split_type="Line", assemble_with=None,
            strategy=strategy, max_payload_mb=None, max_concurrent=None, environment={}) if "--strategy" in p]

    assert all(strategy_problems(s) == [] for s in transform.STRATEGIES)
    assert strategy_problems("MULTI_RECORD") == ["--strategy MULTI_RECORD is not one of MultiRecord, SingleRecord"]


# -- requests against a real server that misbehaves on cue ---------------------------------------


class FaultyServer(FaultServer):
    """An /invocations that answers `ok:<record>` per line, kept alive, unless the body holds a
    cue: `reset` (RST after reading it), `stall` (no answer until the test ends), `fail500`,
    `fail400`, `short` (one line too few). A cue followed by `-N` misbehaves only on its first N
    sightings, then answers. Every request is counted, per cue."""

    def __init__(self) -> None:
        super().__init__(_FaultyHandler)
        self.seen: dict[str, int] = {}
        self.requests = 0
        self.connections: set[tuple[str, int]] = set()
        self.jitter = 0.0
        #: When set, a failing cue answers only once a stalled request has arrived (or 5 s
        #: passed): a test of what a failure does to a request in flight needs one in flight.
        self.stalled = threading.Event()
        self.fail_after_stall = False


class _FaultyHandler(FaultHandler):
    server: FaultyServer

    def do_GET(self) -> None:  # /execution-parameters: not implemented, as a plain container
        self.answer(404, b'{"error": "not found"}')

    def do_POST(self) -> None:
        body = self.body()
        with self.server.lock:
            self.server.requests += 1
            self.server.connections.add(self.client_address)
            cue = next((c for c in ("reset", "stall", "fail500", "fail400", "short") if c.encode() in body), None)
            times = 0
            if cue:
                self.server.seen[cue] = self.server.seen.get(cue, 0) + 1
                marker = body.split(cue.encode(), 1)[1]
                times = int(marker[1:marker.index(b",")]) if marker.startswith(b"-") else 1 << 30
            misbehave = cue is not None and self.server.seen[cue] <= times
        if self.server.jitter:
            time.sleep(random.uniform(0, self.server.jitter))
        if misbehave and cue == "reset":
            self.reset()
        elif misbehave and cue == "stall":
            self.server.stalled.set()
            self.stall()
        elif misbehave and cue in ("fail500", "fail400"):
            if self.server.fail_after_stall:
                self.server.stalled.wait(5)
            self.answer(int(cue[4:]), b'{"error": "on cue"}')
        else:
            lines = [b"ok:" + line for line in body.splitlines(keepends=True)]
            self.answer(200, b"".join(lines[:-1] if misbehave else lines))  # short: one line too few


@pytest.fixture
def faulty() -> Iterator[FaultyServer]:
    server = FaultyServer().start()
    yield server  # type: ignore[misc]
    server.close()


def _run(server: FaultyServer, inputs: Path, out: Path, **kw: object) -> transform.TransformResult:
    logged: list[str] = []
    options = dict(invocations_timeout=0.5, retry_backoff=0.01, log=logged.append)
    options.update(kw)
    result = transform.run(server.url, inputs, out, **options)  # type: ignore[arg-type]
    result.logged = logged  # type: ignore[attr-defined]
    return result


def _write(path: Path, rows: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{r}\n" for r in rows))
    return path


def test_order_is_kept_with_concurrent_requests_answered_out_of_order(faulty: FaultyServer, tmp_path: Path) -> None:
    faulty.jitter = 0.02  # answers come back in a shuffled order
    rows = [f"{i},{i * 2}" for i in range(400)]
    _write(tmp_path / "in" / "a.csv", rows)
    result = _run(faulty, tmp_path / "in", tmp_path / "out", max_concurrent=8,
                  max_payload_mb=40 / (1024 * 1024))
    assert result.ok, result.files
    assert result.files[0].requests == faulty.requests > 50
    assert (tmp_path / "out" / "a.csv.out").read_text().splitlines() == [f"ok:{r}" for r in rows]
    assert len(faulty.connections) <= 8  # kept alive: one connection per worker thread
    assert not list((tmp_path / "out").glob(".*partial"))


@pytest.mark.parametrize("cue", ["reset", "stall", "fail500"])
def test_a_request_that_fails_twice_is_sent_again_and_the_file_completes(
        faulty: FaultyServer, tmp_path: Path, cue: str) -> None:
    rows = [f"{i},1" for i in range(20)]
    rows[7] = f"{cue}-2,1"  # this record's request fails twice, then succeeds
    _write(tmp_path / "in.csv", rows)
    started = time.monotonic()
    result = _run(faulty, tmp_path / "in.csv", tmp_path / "out", strategy="SingleRecord")
    assert result.ok, result.files
    assert result.files[0].retries == 2 and faulty.seen[cue] == 3
    assert (tmp_path / "out" / "in.csv.out").read_text().splitlines() == [f"ok:{r}" for r in rows]
    assert len(result.logged) == 2 and "retry 1 of 3" in result.logged[0]  # type: ignore[attr-defined]
    if cue == "stall":
        assert "no answer within 0.5 s" in result.logged[0]  # type: ignore[attr-defined]
        assert time.monotonic() - started < 10


@pytest.mark.parametrize("cue, reason", [("reset", "the connection broke"), ("stall", "no answer within 0.5 s"),
                                         ("fail500", "HTTP 500")])
def test_a_request_failing_after_every_retry_fails_its_file_only(
        faulty: FaultyServer, tmp_path: Path, cue: str, reason: str) -> None:
    _write(tmp_path / "in" / "a.csv", ["1,1", "2,2"])
    _write(tmp_path / "in" / "b.csv", ["3,3", f"{cue},4", "5,5"])
    _write(tmp_path / "in" / "c.csv", ["6,6"])
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "b.csv.out").write_text("an earlier run's output\n")
    result = _run(faulty, tmp_path / "in", tmp_path / "out", max_retries=2)
    by_name = {f.source.name: f for f in result.files}
    assert not result.ok
    assert by_name["b.csv"].output is None and by_name["b.csv"].retries == 2 and faulty.seen[cue] == 3
    assert "failed 3 time(s)" in by_name["b.csv"].error and reason in by_name["b.csv"].error
    assert by_name["a.csv"].error is None and by_name["c.csv"].error is None
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.csv.out", "c.csv.out"]  # no partial, no stale .out
    assert (tmp_path / "out" / "c.csv.out").read_text() == "ok:6,6\n"


def test_a_refusal_is_not_sent_again(faulty: FaultyServer, tmp_path: Path) -> None:
    _write(tmp_path / "in.csv", ["1,1", "fail400,2"])
    result = _run(faulty, tmp_path / "in.csv", tmp_path / "out")
    assert faulty.seen["fail400"] == 1 and result.files[0].retries == 0
    assert result.files[0].error.startswith("HTTP 400")


def test_an_answer_with_a_line_missing_fails_the_file(faulty: FaultyServer, tmp_path: Path) -> None:
    _write(tmp_path / "in.csv", ["1,1", "short,2", "3,3"])
    result = _run(faulty, tmp_path / "in.csv", tmp_path / "out")
    assert "records 1-3: 3 records in, 2 lines out" in result.files[0].error
    assert not (tmp_path / "out" / "in.csv.out").exists()


def test_a_kept_alive_connection_the_server_closed_is_opened_again_at_no_cost(faulty: FaultyServer) -> None:
    """gunicorn closes a connection idle for its keepalive seconds, without a word: the next
    request goes on a new connection, and that is no failure (max_retries=0 here)."""

    class ClosingHandler(_FaultyHandler):
        def do_POST(self) -> None:
            super().do_POST()
            self.close_connection = True  # closes after answering, without "Connection: close"

    faulty.RequestHandlerClass = ClosingHandler
    invoker = transform.Invoker(faulty.url, {"Content-Type": "text/csv"}, timeout=1, max_retries=0)
    try:
        assert invoker(b"1,1\n", "first") == b"ok:1,1\n"
        time.sleep(0.2)  # idle: the server's close has arrived
        assert invoker(b"2,2\n", "second") == b"ok:2,2\n"
    finally:
        invoker.close()
    assert invoker.retries == 0 and len(faulty.connections) == 2


def test_a_stalled_request_is_cut_at_the_deadline_even_while_bytes_trickle(tmp_path: Path) -> None:
    """InvocationsTimeoutInSeconds bounds the whole request, not only the silence between bytes."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def trickle() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                if conn.recv(65536).startswith(b"GET"):  # /execution-parameters
                    conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    continue
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
                while not stop.is_set():
                    try:
                        conn.sendall(b"x")
                    except OSError:
                        break
                    time.sleep(0.1)

    threading.Thread(target=trickle, daemon=True).start()
    _write(tmp_path / "in.csv", ["1,1"])
    try:
        started = time.monotonic()
        result = transform.run(f"http://127.0.0.1:{listener.getsockname()[1]}", tmp_path / "in.csv",
                               tmp_path / "out", strategy="MultiRecord", max_payload_mb=6, max_concurrent=1,
                               invocations_timeout=0.5, max_retries=1, retry_backoff=0.01, log=lambda m: None)
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        listener.close()
    assert "no answer within 0.5 s" in result.files[0].error
    assert elapsed < 5


def test_once_a_file_has_failed_its_requests_in_flight_end_at_once(faulty: FaultyServer, tmp_path: Path) -> None:
    """A refused request fails the file; a stalled one beside it is cut then, not at its deadline."""
    _write(tmp_path / "in.csv", ["fail400,1", "stall,2", "3,3"])
    faulty.fail_after_stall = True
    started = time.monotonic()
    result = _run(faulty, tmp_path / "in.csv", tmp_path / "out", strategy="SingleRecord", max_concurrent=2,
                  invocations_timeout=30)
    assert result.files[0].error.startswith("HTTP 400")
    assert time.monotonic() - started < 10 and faulty.seen.get("stall") == 1
    assert not (tmp_path / "out" / "in.csv.out").exists()


def test_stop_ends_a_stalled_request_from_another_thread(faulty: FaultyServer) -> None:
    """What Ctrl-C does (through _transform_file): the blocked request returns, without retries."""
    invoker = transform.Invoker(faulty.url, {"Content-Type": "text/csv"}, timeout=30, max_retries=3)
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            invoker(b"stall,1\n", "stalled")
        except BaseException as exc:  # noqa: BLE001 - what the thread ended with is the result
            outcome.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    time.sleep(0.3)
    invoker.stop()
    thread.join(5)
    invoker.close()
    assert not thread.is_alive()
    assert isinstance(outcome[0], transform.InvocationError) and "stopped" in str(outcome[0])
    assert invoker.retries == 0 and faulty.seen["stall"] == 1
