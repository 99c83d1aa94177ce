"""container.body.read_fixed_length against gunicorn's own request reader, over a real socket pair."""

from __future__ import annotations

import io
import socket
import threading

import pytest
from gunicorn.http.body import Body, LengthReader
from gunicorn.http.unreader import SocketUnreader

from container import body as body_module
from container.body import DIRECT_MIN_BYTES, REUSE_MAX_BYTES, read_fixed_length

SIZE = DIRECT_MIN_BYTES * 3 + 17


def payload(size: int, seed: int = 0) -> bytes:
    block = bytes((i * 7 + seed) % 251 for i in range(4099))  # no period that divides a buffer size
    return (block * (size // len(block) + 1))[:size]


@pytest.fixture
def pair():
    server, client = socket.socketpair()
    yield server, client
    server.close()
    client.close()


def gunicorn_body(sock: socket.socket, length: int, held: bytes = b"") -> Body:
    """What gunicorn hands the app: the header parser may already hold the body's start."""
    unreader = SocketUnreader(sock)
    unreader.buf.write(held)
    return Body(LengthReader(unreader, length))


def send_later(sock: socket.socket, data: bytes, pieces: int = 1, close: bool = False) -> threading.Thread:
    def run() -> None:
        step = -(-len(data) // pieces)
        for i in range(0, len(data), step):
            sock.sendall(data[i:i + step])
        if close:
            sock.shutdown(socket.SHUT_WR)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_reads_the_whole_body_past_what_gunicorn_held(pair) -> None:
    server, client = pair
    data = payload(SIZE)
    stream = gunicorn_body(server, SIZE, held=data[:8000])
    thread = send_later(client, data[8000:], pieces=7)
    got = read_fixed_length(stream, SIZE)
    thread.join()
    assert type(got) is bytes and got == data
    assert stream.read() == b""  # nothing left for gunicorn to drain
    assert stream.reader.length == 0


def test_a_pipelined_request_held_past_the_body_stays_for_gunicorn(pair) -> None:
    server, client = pair
    data = payload(SIZE)
    following = b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n"
    stream = gunicorn_body(server, SIZE, held=data + following)
    assert read_fixed_length(stream, SIZE) == data
    server.settimeout(1)  # were the request lost, reading it would wait for the socket
    assert stream.reader.unreader.read() == following


def test_the_buffer_is_reused_and_answers_do_not_share_it(pair) -> None:
    server, client = pair
    first, second = payload(SIZE, 1), payload(SIZE - 5, 2)
    thread = send_later(client, first + second)
    one = read_fixed_length(gunicorn_body(server, SIZE), SIZE)
    kept = body_module._local.buffer
    two = read_fixed_length(gunicorn_body(server, SIZE - 5), SIZE - 5)
    thread.join()
    assert one == first and two == second
    assert body_module._local.buffer is kept


def test_a_client_that_closes_early_gives_what_came(pair) -> None:
    server, client = pair
    data = payload(SIZE)
    stream = gunicorn_body(server, SIZE)
    thread = send_later(client, data[:DIRECT_MIN_BYTES + 3], close=True)
    assert read_fixed_length(stream, SIZE) == data[:DIRECT_MIN_BYTES + 3]
    thread.join()
    assert stream.reader.length == SIZE - DIRECT_MIN_BYTES - 3


def test_a_socket_error_marks_the_connection_unusable(pair) -> None:
    server, client = pair
    stream = gunicorn_body(server, SIZE)
    server.settimeout(0.05)  # the client never sends: recv times out
    with pytest.raises(TimeoutError):
        read_fixed_length(stream, SIZE)
    assert stream.failed is True


@pytest.mark.parametrize("size", [DIRECT_MIN_BYTES - 1, REUSE_MAX_BYTES + 1])
def test_small_and_very_large_bodies_take_gunicorns_own_read(pair, size, monkeypatch) -> None:
    server, client = pair
    data = payload(size)
    monkeypatch.setattr(body_module, "_read_direct", None)  # calling it would raise TypeError
    thread = send_later(client, data, pieces=3)
    assert read_fixed_length(gunicorn_body(server, size), size) == data
    thread.join()


def test_any_other_stream_is_read_plainly() -> None:
    data = payload(SIZE)
    assert read_fixed_length(io.BytesIO(data + b"rest"), SIZE) == data
