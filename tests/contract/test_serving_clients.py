"""Slow, stalled, malformed and heavy clients against a real `serve`, over raw sockets (issue 12).

The server reads requests on its workers' event loops (container.worker): a client that sends
slowly or stops costs a socket, never a thread; gunicorn's own refusals are JSON like every
other error. The servers here pause for at most 1 s (BYOC_READ_TIMEOUT=1), so that a stall
shows within the test.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
import requests

from invocations_fuzz import Answer, Pinger, _read_answer, workers

ROW = b"5.1,3.5,1.4,0.2\n"


@pytest.fixture(scope="module")
def server(shared_server):
    """One worker of two threads: what slow clients would exhaust first."""
    return shared_server("clients", {"MODEL_SERVER_WORKERS": "1", "BYOC_READ_TIMEOUT": "1"})


def address(server) -> tuple[str, int]:
    host, port = server.url.rsplit("//", 1)[1].split(":")
    return host, int(port)


def connect(server, timeout: float = 30) -> socket.socket:
    return socket.create_connection(address(server), timeout=timeout)


def head(length: int | None = None, *, chunked: bool = False, content_type: str = "text/csv") -> bytes:
    lines = [b"POST /invocations HTTP/1.1", b"Host: test", b"Content-Type: " + content_type.encode(),
             b"Accept: application/json"]
    if length is not None:
        lines.append(b"Content-Length: %d" % length)
    if chunked:
        lines.append(b"Transfer-Encoding: chunked")
    return b"\r\n".join(lines) + b"\r\n\r\n"


def exchange(server, data: bytes, *, half_close: bool = False) -> Answer:
    with connect(server) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        return _read_answer(sock.makefile("rb"))


def assert_json_error(answer: Answer, status: int, *texts: str) -> dict:
    assert answer.status == status, answer
    assert answer.headers["content-type"] == "application/json"
    document = json.loads(answer.body)
    assert set(document) == {"error", "message", "request_id"}
    assert document["request_id"] == answer.headers["x-request-id"]
    assert b"Traceback" not in answer.body
    for text in texts:
        assert text in document["message"], document
    return document


def logged(server, request_id: str, timeout: float = 5) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in server.log.splitlines():
            if request_id in line:
                return line
        time.sleep(0.05)
    raise AssertionError(f"{request_id} is not in the log")


def ping_seconds(server) -> float:
    started = time.monotonic()
    assert requests.get(server.url + "/ping", timeout=2).status_code == 200
    return time.monotonic() - started


def predicts(server) -> float:
    """Seconds a one-row prediction took, on a new connection."""
    started = time.monotonic()
    response = requests.post(server.url + "/invocations", data=ROW, timeout=10,
                             headers={"Content-Type": "text/csv", "Accept": "application/json"})
    assert response.status_code == 200, response.text
    return time.monotonic() - started


# -- malformed requests: 400s in JSON, logged as the client's -----------------------------------


@pytest.mark.parametrize(("chunks", "text"), [
    (b"-1\r\n" + ROW + b"\r\n0\r\n\r\n", "Invalid chunk size: b'-1'"),
    (b"zz\r\n" + ROW + b"\r\n0\r\n\r\n", "Invalid chunk size: b'zz'"),
    (b"10\r\n" + ROW + b"XX0\r\n\r\n", "Invalid chunk terminator"),
    (b"10;=x\r\n" + ROW + b"\r\n0\r\n\r\n", "Invalid chunk extension"),
])
def test_a_malformed_chunked_body_is_a_400_logged_as_a_warning(server, chunks, text) -> None:
    answer = exchange(server, head(chunked=True) + chunks)
    document = assert_json_error(answer, 400, "The chunked request body is malformed", text)
    assert document["error"] == "RequestError"
    line = logged(server, document["request_id"])
    assert " WARNING " in line and "-> 400 RequestError" in line


@pytest.mark.parametrize(("data", "status", "text"), [
    (head(16)[:-2] + b"Content-Length: 16\r\n\r\n" + ROW, 400, "Invalid HTTP Header: 'CONTENT-LENGTH'"),
    (head(16, chunked=True) + ROW, 400, "Invalid HTTP Header: 'CONTENT-LENGTH'"),
    (head()[:-2] + b"Content-Length: 16 bytes\r\n\r\n" + ROW, 400, "CONTENT-LENGTH"),
    (head(16)[:-2] + b"X-Big: " + b"y" * 9000 + b"\r\n\r\n" + ROW, 431, "headers are too large"),
    (b"POST /" + b"x" * 5000 + b" HTTP/1.1\r\nHost: test\r\n\r\n", 414, "request line is too long"),
    (b"NOT AN HTTP REQUEST\r\n\r\n", 400, "not valid HTTP"),
    (b"POST /invocations HTTP/1.1\nHost: test\n\n", 400, "bare LF"),
    (head(0)[:-2] + b"Expect: 200-ok\r\n\r\n", 417, "200-ok"),
])
def test_gunicorns_refusals_are_json_with_a_request_id(server, data, status, text) -> None:
    answer = exchange(server, data)
    assert_json_error(answer, status, text)
    assert answer.headers["connection"] == "close"
    line = logged(server, answer.headers["x-request-id"])
    assert " WARNING " in line and "Traceback" not in server.log


def test_a_post_without_a_length_has_no_body_and_is_answered_at_once(server) -> None:
    started = time.monotonic()
    answer = exchange(server, head())  # neither Content-Length nor Transfer-Encoding: no body (RFC 9112)
    assert_json_error(answer, 400, "The request body is empty")
    assert time.monotonic() - started < 1


def test_a_body_shorter_than_its_length_then_a_half_close_is_a_400(server) -> None:
    answer = exchange(server, head(1000) + ROW, half_close=True)
    assert_json_error(answer, 400, "ended after 16 of the 1000 bytes")


# -- slow and stalled clients ----------------------------------------------------------------


def trickle(server, prefix: bytes, data: bytes, stop: threading.Event, results: list,
            pause: float) -> threading.Thread:
    """A client sending `prefix` at once, then `data` a byte per `pause` until stopped; the
    answer it got, if any."""

    def run() -> None:
        try:
            with connect(server, timeout=30) as sock:
                sock.sendall(prefix)
                for byte in data:
                    try:
                        sock.sendall(bytes([byte]))
                    except OSError:  # the server answered and closed: read the answer
                        break
                    if stop.wait(pause):
                        break
                sock.settimeout(10)
                results.append(_read_answer(sock.makefile("rb")))
        except OSError as exc:
            results.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("part", ["head", "body"])
def test_clients_sending_a_byte_a_second_cost_no_thread(shared_server, part) -> None:
    # Three times as many slow clients as the worker has threads: before, 8 such clients (on
    # 2 workers of 2 threads) made 9 of 10 pings fail and held the threads until they finished.
    server = shared_server("slow", {"MODEL_SERVER_WORKERS": "1", "BYOC_READ_TIMEOUT": "4"})
    [worker] = workers(server.process.pid)
    body = ROW * 50
    split = 0 if part == "head" else len(head(len(body)))
    request = head(len(body)) + body
    stop, results = threading.Event(), []
    clients = [trickle(server, request[:split], request[split:], stop, results, pause=1.0) for _ in range(6)]
    try:
        time.sleep(0.5)
        for _ in range(3):
            assert ping_seconds(server) < 0.5
            assert predicts(server) < 1  # the threads are free for the requests that have arrived
            time.sleep(0.3)
        for client in clients:  # BYOC_READ_TIMEOUT later, the server answers 408 and closes
            client.join(15)
    finally:
        stop.set()
    assert len(results) == 6
    for answer in results:
        assert_json_error(answer, 408, "arrived too slowly")
    assert workers(server.process.pid) == {worker}


def test_a_stalled_body_is_a_408_and_no_worker_is_killed(shared_server) -> None:
    # MODEL_SERVER_TIMEOUT=2 would kill the worker if the stall counted as a prediction.
    server = shared_server("stall", {"MODEL_SERVER_WORKERS": "1", "BYOC_READ_TIMEOUT": "1", "MODEL_SERVER_TIMEOUT": "2"})
    [worker] = workers(server.process.pid)
    answers = []
    for data in (head(len(ROW) * 10) + ROW * 3,                      # read on the event loop
                 head(chunked=True) + b"%x\r\n" % len(ROW) + ROW):    # chunked: read by a thread
        with connect(server) as sock:
            sock.sendall(data)
            started = time.monotonic()
            answers.append((_read_answer(sock.makefile("rb")), time.monotonic() - started))
    for answer, took in answers:
        assert_json_error(answer, 408, "stopped arriving")
        assert 0.9 < took < 5
    time.sleep(2.5)  # a killed worker would be gone by now
    assert workers(server.process.pid) == {worker}
    assert "MODEL_SERVER_TIMEOUT" not in server.log and "Traceback" not in server.log
    assert predicts(server) < 2


def test_stalled_oversize_bodies_are_refused_at_once_and_cost_nothing(server) -> None:
    # Before: the 413 was logged, then a thread read up to 128 MB with no timeout; 4 such
    # connections made the server deaf. Now the 413 goes out at once and the event loop drains.
    sockets = []
    try:
        for _ in range(4):
            sock = connect(server)
            sock.sendall(head(7 * 1024 * 1024) + ROW * 1000)  # then nothing more
            sockets.append(sock)
        for sock in sockets:
            answer = _read_answer(sock.makefile("rb"))
            assert_json_error(answer, 413, "over the limit of 6 MB")
        assert ping_seconds(server) < 0.5
        assert predicts(server) < 2
        time.sleep(1.5)  # past BYOC_READ_TIMEOUT: the drained connections are closed
        for sock in sockets:
            sock.settimeout(5)
            assert sock.recv(1) == b""
    finally:
        for sock in sockets:
            sock.close()


def test_a_slow_but_steady_body_is_read(server) -> None:
    # Above MIN_READ_RATE (64 KB/s), pauses under BYOC_READ_TIMEOUT: a slow link, not a stall.
    body = ROW * (300_000 // len(ROW))
    with connect(server) as sock:
        sock.sendall(head(len(body)))
        for start in range(0, len(body), 40_000):
            sock.sendall(body[start:start + 40_000])
            time.sleep(0.25)  # 160 KB/s
        answer = _read_answer(sock.makefile("rb"))
    assert answer.status == 200, answer
    assert len(json.loads(answer.body)["predictions"]) == len(body) // len(ROW)


# -- heavy requests ---------------------------------------------------------------------------


def test_ping_answers_while_both_threads_decode_large_json(server, iris_rows) -> None:
    # Before: 8 clients of 6 MB JSON made /ping wait 4-6 s behind the decoding threads.
    features = iris_rows["train"][:, 1:]
    rows = features[[i % len(features) for i in range(5 * 1024 * 1024 // 22)]].tolist()  # 22 bytes a row
    body = json.dumps(rows).encode()
    assert len(body) > 4 * 1024 * 1024
    port = address(server)[1]
    pinger = Pinger(port, 120)
    failures = []

    def client() -> None:
        for _ in range(2):
            response = requests.post(server.url + "/invocations", data=body, timeout=60,
                                     headers={"Content-Type": "application/json", "Accept": "application/json"})
            if response.status_code != 200:
                failures.append(response.text[:300])

    clients = [threading.Thread(target=client) for _ in range(4)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join(120)
    times, failed = pinger.stop()
    assert not failures
    assert times and not failed
    assert max(times) < 2, times
