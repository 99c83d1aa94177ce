"""container.worker's pace of reading, over a real socket pair. The worker itself, on a real
`serve` with real clients: tests/contract/test_serving_clients.py."""

from __future__ import annotations

import time

import pytest
from gunicorn.http.errors import NoMoreData

from container.worker import Pace, PacedSocket, ReadTimedOut


def test_the_pace_allows_a_pause_up_to_the_timeout_then_asks_for_the_minimum_rate() -> None:
    pace = Pace(timeout=2, min_rate=100)
    assert pace.wait(started=10, received=0, now=10) == 2  # a pause of at most `timeout`
    assert pace.wait(started=10, received=0, now=11.5) == pytest.approx(0.5)  # 2 s from the first byte
    assert pace.wait(started=10, received=300, now=11.5) == 2  # 300 bytes bought 3 s more
    assert pace.wait(started=10, received=300, now=14.5) == pytest.approx(0.5)
    assert pace.wait(started=10, received=300, now=15.5) < 0  # late


def test_bytes_already_read_come_first_then_the_socket(pair) -> None:
    server, client = pair
    paced = PacedSocket(server, Pace(timeout=5))
    paced.start(time.monotonic(), 7, memoryview(bytearray(b"abcdefg")))
    client.sendall(b"hij")
    assert paced.recv(4) == b"abcd"
    buffer = bytearray(10)
    assert paced.recv_into(memoryview(buffer), 10) == 3 and buffer[:3] == b"efg"
    assert paced.recv(10) == b"hij"
    assert paced.received == 10
    assert server.gettimeout() is None  # the socket is left as it was (gunicorn's blocking reads)


def test_a_stall_raises_a_timeout_gunicorn_takes_for_a_client_gone(pair) -> None:
    server, client = pair
    paced = PacedSocket(server, Pace(timeout=0.2))
    paced.start(time.monotonic(), 0)
    started = time.monotonic()
    with pytest.raises(ReadTimedOut) as info:
        paced.recv(10)
    assert 0.15 < time.monotonic() - started < 2
    assert isinstance(info.value, TimeoutError) and isinstance(info.value, NoMoreData)
    with pytest.raises(TimeoutError):
        paced.recv_into(bytearray(10), 10)


def test_a_request_past_its_deadline_is_not_waited_for_at_all(pair) -> None:
    server, client = pair
    paced = PacedSocket(server, Pace(timeout=1, min_rate=1000))
    paced.start(time.monotonic() - 5, 10)  # 10 bytes in 5 s: far below the rate
    client.sendall(b"more")  # even with bytes waiting
    with pytest.raises(ReadTimedOut):
        paced.recv(10)


def test_anything_else_is_the_sockets(pair) -> None:
    server, _ = pair
    paced = PacedSocket(server, Pace(timeout=1))
    assert paced.fileno() == server.fileno()


def test_the_gthread_methods_the_worker_builds_on_are_there() -> None:
    # ServingWorker overrides and calls gthread's own steps (gunicorn 27): an upgrade that
    # renames one must fail here, not on a server.
    from gunicorn.http.unreader import Unreader
    from gunicorn.workers.gthread import TConn, ThreadWorker

    for name in ("enqueue_req", "finish_request", "handle", "handle_request", "_keepalive_after", "murder_pending",
                 "set_accept_enabled", "handle_error", "run"):
        assert callable(getattr(ThreadWorker, name)), name
    assert callable(getattr(Unreader, "take_buffered"))
    assert "data_ready" in TConn.__init__.__code__.co_names
