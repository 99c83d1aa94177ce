"""container.body against gunicorn's own request reader and parser, over a real socket pair."""

from __future__ import annotations

import io
import socket
import threading
import time

import pytest
from gunicorn.config import Config
from gunicorn.http import wsgi
from gunicorn.http.body import Body, LengthReader
from gunicorn.http.parser import RequestParser
from gunicorn.http.unreader import SocketUnreader

from container import body as body_module
from container.body import DIRECT_MIN_BYTES, REUSE_MAX_BYTES, read_fixed_length, read_request_body
from container.errors import PayloadTooLarge, RequestError, RequestTimeout
from container.worker import Pace, PacedSocket

SIZE = DIRECT_MIN_BYTES * 3 + 17


def payload(size: int, seed: int = 0) -> bytes:
    block = bytes((i * 7 + seed) % 251 for i in range(4099))  # no period that divides a buffer size
    return (block * (size // len(block) + 1))[:size]


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


def paced_body(sock: socket.socket, length: int, held: bytes, ahead: bytes) -> Body:
    """A gunicorn body under container.worker: the event loop read `held` and `ahead` already."""
    stream = gunicorn_body(sock, length, held)
    paced = PacedSocket(sock, Pace(timeout=5))
    paced.start(time.monotonic(), len(held) + len(ahead), memoryview(bytearray(ahead)))
    stream.reader.unreader.sock = paced
    return stream


@pytest.mark.parametrize("size", [SIZE, REUSE_MAX_BYTES + 17])  # and past the reused buffer's size
def test_a_body_the_event_loop_read_whole_is_taken_without_the_socket(pair, size) -> None:
    server, _ = pair
    data = payload(size)
    stream = paced_body(server, size, data[:8000], data[8000:])
    server.settimeout(0.5)  # were the socket read, this would time out
    stream.read = None  # nor through gunicorn's reader, which copies in 8 KB steps
    assert read_fixed_length(stream, size) == data
    assert stream.reader.length == 0 and not stream.reader.unreader.sock.pending
    assert len(getattr(body_module._local, "buffer", b"")) <= REUSE_MAX_BYTES  # no buffer of ours grew


def test_a_body_partly_read_by_the_event_loop_is_finished_from_the_socket(pair) -> None:
    server, client = pair
    data = payload(SIZE)
    stream = paced_body(server, SIZE, data[:8000], data[8000:SIZE // 2])
    thread = send_later(client, data[SIZE // 2:], pieces=3)
    assert read_fixed_length(stream, SIZE) == data
    thread.join()
    assert stream.reader.length == 0


def test_any_other_stream_is_read_plainly() -> None:
    data = payload(SIZE)
    assert read_fixed_length(io.BytesIO(data + b"rest"), SIZE) == data


# -- read_request_body on requests gunicorn itself parsed -------------------------------------


def parsed(sock: socket.socket, pace: Pace | None = None) -> dict:
    """The WSGI environ gunicorn makes of the next request on `sock` (under ServingWorker, its
    reads paced)."""
    cfg = Config()
    parser = RequestParser(cfg, sock, ("127.0.0.1", 1))
    if pace is not None:
        parser.unreader.sock = PacedSocket(sock, pace)
        parser.unreader.sock.start(time.monotonic(), 0)
    request = next(parser)
    return wsgi.create(request, sock, ("127.0.0.1", 1), ("127.0.0.1", 2), cfg)[1]


HEAD = b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
ROW = b"5.1,3.5,1.4,0.2\n"


@pytest.mark.parametrize(("chunks", "text"), [
    (b"-1\r\n" + ROW + b"\r\n0\r\n\r\n", "Invalid chunk size: b'-1'"),
    (b"zz\r\n" + ROW + b"\r\n0\r\n\r\n", "Invalid chunk size: b'zz'"),
    (b"10\r\n" + ROW + b"XX0\r\n\r\n", "Invalid chunk terminator is not '\\r\\n': b'XX'"),
    (b"10;=x\r\n" + ROW + b"\r\n0\r\n\r\n", "Invalid chunk extension"),
])
def test_a_malformed_chunked_body_is_the_clients_error(pair, chunks, text) -> None:
    server, client = pair
    client.sendall(HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + chunks)
    with pytest.raises(RequestError) as info:
        read_request_body(parsed(server), 1024)
    assert type(info.value) is RequestError
    assert str(info.value).startswith("The chunked request body is malformed: ") and text in str(info.value)


def test_a_chunked_body_cut_short_is_a_400(pair) -> None:
    server, client = pair
    client.sendall(HEAD + b"Transfer-Encoding: chunked\r\n\r\n10\r\n" + ROW[:5])
    client.shutdown(socket.SHUT_WR)
    with pytest.raises(RequestError, match="connection failed while the request body was being read"):
        read_request_body(parsed(server), 1024)


@pytest.mark.parametrize("kind", ["small", "direct", "chunked"])
def test_a_stalled_body_is_a_408(pair, kind) -> None:
    server, client = pair
    size = {"small": 1000, "direct": DIRECT_MIN_BYTES * 2, "chunked": 1000}[kind]
    framing = b"Transfer-Encoding: chunked\r\n\r\n%x\r\n" % size if kind == "chunked" else b"Content-Length: %d\r\n\r\n" % size
    client.sendall(HEAD + framing + b"5" * min(size // 2, 50_000))  # then nothing
    environ = parsed(server, Pace(timeout=0.3))
    started = time.monotonic()
    with pytest.raises(RequestTimeout, match="stopped arriving"):
        read_request_body(environ, 10 * 1024 * 1024)
    assert 0.25 < time.monotonic() - started < 3
    assert environ["wsgi.input"].failed  # gunicorn will not reuse the connection


def test_a_body_without_length_or_chunks_is_empty_and_not_waited_for(pair) -> None:
    server, client = pair
    client.sendall(HEAD + b"\r\n" + ROW)  # bytes after the head belong to no body (RFC 9112 6.3)
    environ = parsed(server)
    server.settimeout(0.5)  # were the body read to the connection's end, this would time out
    assert read_request_body(environ, 1024) == b""


def test_a_chunked_body_over_the_limit_is_read_to_its_end_then_refused(pair) -> None:
    server, client = pair
    chunk = ROW * 64
    client.sendall(HEAD + b"Transfer-Encoding: chunked\r\n\r\n"
                   + (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * 8 + b"0\r\n\r\nGET /ping HTTP/1.1\r\n\r\n")
    environ = parsed(server)
    with pytest.raises(PayloadTooLarge):
        read_request_body(environ, 3 * len(chunk))
    assert not environ["wsgi.input"].failed
    assert environ["wsgi.input"].read() == b""  # all of it read: the next request is next
