"""Generated /invocations requests against a real `serve`, and what the server must never do.

Seeded, so that a run can be replayed: :func:`cases` yields raw HTTP requests (bytes on the
wire, so that malformed framing can be sent too): every content type and its parameters;
Accept with q-values, q=0 and wildcards; NPY with object dtypes, Fortran order, 0-d, huge
declared shapes and truncated data; invalid UTF-8; NaN, inf and 1e400; chunked bodies,
malformed and around the payload limit; empty bodies, short bodies and half-closes; wrong
feature counts; custom attributes; and requests gunicorn itself refuses.

:func:`run` sends them one connection each and checks every answer: no 5xx, an error is JSON
with the X-Request-Id it carries, no traceback in any body; and the server: no traceback in its
log, no worker replaced, every /ping (from another process, all along) under 2 s.

    python tests/contract/invocations_fuzz.py PORT [COUNT] [SEED]    # against a running serve
    python tests/contract/invocations_fuzz.py ping PORT SECONDS       # the pinger run() starts

benchmarks/stress.py runs it long (10,000 requests and more); tests/contract/test_invocations_fuzz.py
runs it short, in the test suite.
"""

from __future__ import annotations

import io
import json
import math
import random
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

#: SageMaker's /ping budget.
PING_BUDGET_SECONDS = 2.0
PING_INTERVAL_SECONDS = 0.2
MB = 1024 * 1024


@dataclass
class Case:
    """One request: its bytes, and whether the client closes its sending side after them."""

    kind: str
    data: bytes
    half_close: bool = False


@dataclass
class Answer:
    status: int | None
    headers: dict[str, str]
    body: bytes
    error: str | None = None


@dataclass
class Result:
    """What a run saw."""

    requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    kinds: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    server_errors: int = 0
    tracebacks: int = 0
    unanswered: int = 0
    slowest: dict[str, float] = field(default_factory=dict)
    pings: list[float] = field(default_factory=list)
    ping_failures: int = 0
    workers_replaced: int = 0
    log_tracebacks: int = 0
    seconds: float = 0.0

    @property
    def max_ping(self) -> float:
        return max(self.pings, default=math.nan)

    def ok(self) -> bool:
        return (not self.problems and not self.server_errors and not self.tracebacks and not self.ping_failures
                and not self.workers_replaced and not self.log_tracebacks and self.max_ping < PING_BUDGET_SECONDS)

    def summary(self) -> str:
        return (f"{self.requests} requests in {self.seconds:.0f} s: statuses {dict(sorted(self.statuses.items()))}, "
                f"5xx {self.server_errors}, tracebacks in bodies {self.tracebacks}, in the log {self.log_tracebacks}, "
                f"unanswered {self.unanswered}, workers replaced {self.workers_replaced}, pings {len(self.pings)} "
                f"(max {self.max_ping:.3f} s, failed {self.ping_failures}); problems: {self.problems[:5]}")


# -- the requests -------------------------------------------------------------------------------

CONTENT_TYPES = {
    "csv": ["text/csv", "text/csv; charset=utf-8", "TEXT/CSV", "application/csv", "text/x-csv", "text/csv;header=present"],
    "json": ["application/json", "application/json; charset=UTF-8", "Application/JSON"],
    "jsonl": ["application/jsonlines", "application/x-jsonlines", "application/jsonl", "application/x-ndjson"],
    "npy": ["application/x-npy", "application/npy"],
}
ODD_CONTENT_TYPES = [None, "", "text/plain", "application/octet-stream", ";;;", "text/", "/", "application/x-npy; q=0",
                     "multipart/form-data; boundary=x", "\x7f", "text/csv\t"]
ACCEPTS = [None, "", "*/*", "text/csv", "application/json", "application/jsonlines", "application/x-npy",
           "text/*", "application/*", "text/csv;q=0, */*;q=0.1", "text/*;q=0.5, text/csv;q=0",
           "application/json;q=0.5, text/csv;q=0.9", "*/*;q=0", "text/html", "image/png, */*;q=0.1",
           "text/csv;q=abc, application/json", "application/json; charset=utf-8", "text/csv;q=1.5",
           "application/x-npy;q=0.001, application/json;q=0", ",,,", "*/csv", "text/csv;q=0.0000",
           "application/*;q=0, */*", "x" * 500]
ATTRIBUTES = [None, "output=probabilities", "output=predictions", "output=proba", "output=bogus",
              "trace=1, output=probabilities", "a=b;c=d", "=", ";;;,,,", "output", "x" * 300]
SPECIALS = ["nan", "NaN", "inf", "-inf", "Infinity", "1e400", "-1e400", "1e-400", "-0", "0x10", "1_000", "",
            "9" * 400, "1e", ".", "+1", "１"]  # the last is a full-width digit


#: Every kind of case cases() makes.
KINDS = ("csv", "json", "jsonl", "npy", "odd-type", "chunked", "bad-chunks", "limit-chunked", "limit-length",
         "short-body", "gunicorn", "routes", "empty")


def cases(seed: int, width: int, limit: int) -> Iterator[Case]:
    """Requests for a model of `width` features behind a payload limit of `limit` bytes, forever."""
    rng = random.Random(seed)
    makers: list[tuple[float, Callable[[random.Random, int, int], Case]]] = [
        (6, _csv), (5, _json), (3, _jsonl), (4, _npy), (2, _odd_type), (3, _chunked), (2, _bad_chunks),
        (1, _around_limit), (2, _short_body), (2, _refused_by_gunicorn), (1, _routes), (1, _empty),
    ]
    weights = [w for w, _ in makers]
    while True:
        (maker,) = rng.choices([m for _, m in makers], weights)
        yield maker(rng, width, limit)


def _headers(rng: random.Random, content_type: str | None) -> dict[str, str]:
    headers = {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    accept = rng.choice(ACCEPTS)
    if accept is not None:
        headers["Accept"] = accept
    attributes = rng.choice(ATTRIBUTES)
    if attributes is not None:
        headers["X-Amzn-SageMaker-Custom-Attributes"] = attributes
    return headers


def request(body: bytes, headers: dict[str, str], *, method: str = "POST", path: str = "/invocations",
            length: bool = True) -> bytes:
    head = [f"{method} {path} HTTP/1.1", "Host: fuzz"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    if length:
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def _value(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.85:
        return repr(round(rng.gauss(0, 3), rng.randint(0, 6)))
    if roll < 0.95:
        return rng.choice(SPECIALS)
    return rng.choice(["x", "setosa", '"1.5"', '"a,b"', "\u00e9", "1 2"])


def _rows(rng: random.Random, width: int) -> list[list[str]]:
    count = rng.choice([1, 1, 2, 5, 30, 200])
    widths = [width] * 8 + [width - 1, width + 1, 0, 1, 50]
    row_width = rng.choice(widths)
    rows = [[_value(rng) for _ in range(row_width)] for _ in range(count)]
    if rng.random() < 0.1 and len(rows) > 1:  # ragged
        rows[-1] = rows[-1][:-1]
    return rows


def _csv(rng: random.Random, width: int, limit: int) -> Case:
    rows = _rows(rng, width)
    newline = rng.choice(["\n", "\r\n", "\n"])
    text = newline.join(",".join(row) for row in rows) + rng.choice([newline, "", newline * 3])
    if rng.random() < 0.1:
        text = ",".join(f"f{i}" for i in range(width)) + newline + text  # a header line
    data = text.encode()
    roll = rng.random()
    if roll < 0.05:
        data = b"\xef\xbb\xbf" + data  # a byte order mark
    elif roll < 0.12:
        data = _corrupt(rng, data)
    return Case("csv", request(data, _headers(rng, rng.choice(CONTENT_TYPES["csv"]))))


def _json_number(text: str) -> str:
    specials = {"nan": "NaN", "NaN": "NaN", "inf": "Infinity", "-inf": "-Infinity", "Infinity": "Infinity",
                "": "null"}
    if text in specials:
        return specials[text]
    try:
        float(text)
    except ValueError:
        return json.dumps(text)
    return text if text.lstrip("-").replace(".", "", 1).replace("e", "", 1).replace("-", "", 1).isdigit() else json.dumps(text)


def _json(rng: random.Random, width: int, limit: int) -> Case:
    rows = [[_json_number(v) for v in row] for row in _rows(rng, width)]
    texts = ["[" + ",".join(row) + "]" for row in rows]
    shape = rng.choice(["list", "list", "instances", "features", "single", "objects", "deep", "scalar", "object"])
    if shape == "list":
        text = "[" + ", ".join(texts) + "]"
    elif shape == "instances":
        text = '{"instances": [' + ",".join(texts) + "]}"
    elif shape == "features":
        text = '{"instances": [' + ",".join('{"features": ' + t + "}" for t in texts) + "]}"
    elif shape == "single":
        text = texts[0]
    elif shape == "objects":
        text = "[" + ",".join("{" + ",".join(f'"f{i}": {v}' for i, v in enumerate(row)) + "}" for row in rows) + "]"
    elif shape == "deep":
        depth = rng.choice([10, 1000, 100_000])
        text = "[" * depth + "1" + "]" * depth
    elif shape == "scalar":
        text = rng.choice(['"text"', "1", "null", "true", "{}", "[]", '{"rows": [[1]]}', "9" * 5000])
    else:
        text = '{"instances": ' + texts[0] + ', "extra": ' + rng.choice(["1", "[1, [2]]", '{"a": null}']) + "}"
    data = text.encode()
    if rng.random() < 0.1:
        data = _corrupt(rng, data)
    return Case("json", request(data, _headers(rng, rng.choice(CONTENT_TYPES["json"] + [None]))))


def _jsonl(rng: random.Random, width: int, limit: int) -> Case:
    rows = [[_json_number(v) for v in row] for row in _rows(rng, width)]
    lines = []
    for row in rows:
        line = "[" + ",".join(row) + "]"
        lines.append(rng.choice([line, line, '{"features": ' + line + "}", "", "  "]))
    data = "\n".join(lines).encode() + rng.choice([b"\n", b""])
    if rng.random() < 0.1:
        data = _corrupt(rng, data)
    return Case("jsonl", request(data, _headers(rng, rng.choice(CONTENT_TYPES["jsonl"]))))


def _npy_bytes(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def _npy(rng: random.Random, width: int, limit: int) -> Case:
    rows = rng.choice([1, 2, 10, 100])
    kind = rng.choice(["float64", "float32", "int64", "int8", "bool", ">f8", "fortran", "object", "string",
                       "structured", "complex", "0-d", "3-d", "1-d", "empty", "truncated", "extra", "huge",
                       "header", "nan-inf", "magic", "version"])
    if kind in ("float64", "float32", "int64", "int8", "bool", ">f8"):
        data = _npy_bytes((np.random.default_rng(rng.randrange(1 << 30)).standard_normal((rows, width)) * 3).astype(kind))
    elif kind == "fortran":
        data = _npy_bytes(np.asfortranarray(np.arange(rows * width, dtype=float).reshape(rows, width)))
    elif kind == "object":
        data = _npy_bytes(np.array([[1.0, "a"]] * rows, dtype=object), allow_pickle=True)
    elif kind == "string":
        data = _npy_bytes(np.array([["1.5"] * width] * rows))
    elif kind == "structured":
        data = _npy_bytes(np.zeros(rows, dtype=[("a", "f8"), ("b", "i4")]))
    elif kind == "complex":
        data = _npy_bytes(np.zeros((rows, width), dtype=complex))
    elif kind == "0-d":
        data = _npy_bytes(np.float64(1.5))
    elif kind == "3-d":
        data = _npy_bytes(np.zeros((rows, width, 2)))
    elif kind == "1-d":
        data = _npy_bytes(np.arange(rng.choice([width, width + 2]), dtype=float))
    elif kind == "empty":
        data = _npy_bytes(np.zeros((0, width)))
    elif kind == "truncated":
        whole = _npy_bytes(np.zeros((rows, width)))
        data = whole[:rng.randrange(6, len(whole))]
    elif kind == "extra":
        data = _npy_bytes(np.zeros((rows, width))) + b"\x00" * rng.randint(1, 100)
    elif kind == "huge":
        data = _npy_bytes(np.zeros((1, width))).replace(
            f"(1, {width})".encode(), f"({rng.choice([10**6, 10**9, 2**40])}, {width})".encode())
    elif kind == "header":
        data = _npy_bytes(np.zeros((1, width))).replace(b"'descr'", rng.choice([b"'dexcr'", b"'descr'[", b"\xff"]))
    elif kind == "nan-inf":
        data = _npy_bytes(np.array([[np.nan, np.inf] + [0.0] * (width - 2)] * rows))
    elif kind == "magic":
        data = b"\x93NUMPY" + bytes(rng.randrange(256) for _ in range(rng.randint(0, 20)))
    else:
        data = bytearray(_npy_bytes(np.zeros((1, width))))
        data[6] = rng.choice([0, 3, 9, 255])
        data = bytes(data)
    return Case("npy", request(data, _headers(rng, rng.choice(CONTENT_TYPES["npy"]))))


def _odd_type(rng: random.Random, width: int, limit: int) -> Case:
    body = ",".join(["1.5"] * width).encode() + b"\n"
    return Case("odd-type", request(body, _headers(rng, rng.choice(ODD_CONTENT_TYPES))))


def _chunk_stream(rng: random.Random, body: bytes) -> bytes:
    parts, position = [], 0
    while position < len(body):
        size = rng.choice([1, 7, 100, 4096, 65536, 1 << 20])
        piece = body[position:position + size]
        extension = rng.choice(["", "", "", ";a=b", ';name="quoted"'])
        parts.append(f"{len(piece):x}{extension}\r\n".encode() + piece + b"\r\n")
        position += size
    trailer = rng.choice(["", "", "X-Trailer: 1\r\n"])
    return b"".join(parts) + b"0\r\n" + trailer.encode() + b"\r\n"


def _body(rng: random.Random, width: int, rows: int) -> tuple[bytes, str]:
    row = ",".join(repr(round(rng.gauss(0, 3), 3)) for _ in range(width)) + "\n"
    return row.encode() * rows, "text/csv"


def _chunked(rng: random.Random, width: int, limit: int) -> Case:
    body, content_type = _body(rng, width, rng.choice([1, 10, 1000]))
    headers = {**_headers(rng, content_type), "Transfer-Encoding": "chunked"}
    return Case("chunked", request(_chunk_stream(rng, body), headers, length=False))


def _bad_chunks(rng: random.Random, width: int, limit: int) -> Case:
    body, content_type = _body(rng, width, 3)
    good = f"{len(body):x}\r\n".encode() + body + b"\r\n"
    bad = rng.choice([
        b"-1\r\n" + body + b"\r\n0\r\n\r\n",                    # InvalidChunkSize b'-1'
        b"zz\r\n" + body + b"\r\n0\r\n\r\n",                    # InvalidChunkSize b'zz'
        f"{len(body):x}\r\n".encode() + body + b"XX0\r\n\r\n",  # ChunkMissingTerminator
        f"{len(body):x};=bad\r\n".encode() + body + b"\r\n0\r\n\r\n",  # InvalidChunkExtension
        f"{len(body):x};a\rb\r\n".encode() + body + b"\r\n0\r\n\r\n",  # a bare CR in an extension
        good + b"0\r\nBad Trailer\r\n\r\n",                       # a malformed trailer
        good + b"0\r\n" + b"X: " + b"y" * 300_000 + b"\r\n\r\n",  # trailers over the limit
        b"f" * 9000 + b"\r\n",                                   # a chunk-size line over the limit
        good,                                                    # no last chunk: the client closes
        good + b"0\r\n",                                         # no end of trailers: the client closes
    ])
    headers = {**_headers(rng, content_type), "Transfer-Encoding": "chunked"}
    return Case("bad-chunks", request(bad, headers, length=False), half_close=True)


def _around_limit(rng: random.Random, width: int, limit: int) -> Case:
    row = b"1.5," * (width - 1) + b"1.5\n"
    size = limit + rng.choice([-len(row), 0, 1, len(row), MB])
    body = (row * (size // len(row) + 1))[:size]
    if size % len(row):
        body = body[:size - size % len(row)] + b"1" * (size % len(row))  # ends mid-record: a 400 or a 413
    chunked = rng.random() < 0.5
    headers = _headers(rng, "text/csv")
    if chunked:
        headers["Transfer-Encoding"] = "chunked"
        return Case("limit-chunked", request(_chunk_stream(rng, body), headers, length=False))
    return Case("limit-length", request(body, headers))


def _short_body(rng: random.Random, width: int, limit: int) -> Case:
    body, content_type = _body(rng, width, 5)
    data = request(body, _headers(rng, content_type))
    cut = rng.randint(len(data) - len(body), len(data) - 1)
    return Case("short-body", data[:cut], half_close=True)


def _refused_by_gunicorn(rng: random.Random, width: int, limit: int) -> Case:
    body = b"1.5," * (width - 1) + b"1.5\n"
    base = "POST /invocations HTTP/1.1\r\nHost: fuzz\r\nContent-Type: text/csv\r\n"
    data = rng.choice([
        (base + f"Content-Length: {len(body)}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body,
        (base + f"Content-Length: {len(body)}\r\nTransfer-Encoding: chunked\r\n\r\n").encode() + body,
        (base + "Content-Length: abc\r\n\r\n").encode() + body,
        (base + "Content-Length: -1\r\n\r\n").encode() + body,
        (base + "Content-Length: 1 2\r\n\r\n").encode() + body,
        (base + "X-Big: " + "y" * 9000 + f"\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body,
        (base + "".join(f"X-{i}: y\r\n" for i in range(120)) + f"Content-Length: {len(body)}\r\n\r\n").encode() + body,
        b"POST /invocations" + b"x" * 5000 + b" HTTP/1.1\r\nHost: fuzz\r\n\r\n",
        b"GARBAGE\r\n\r\n",
        b"POST /invocations HTTP/9.9\r\nHost: fuzz\r\n\r\n",
        b"POST /invocations HTTP/1.1\nHost: fuzz\n\n",
        (base + "Bad Header: x\r\n\r\n").encode(),
        (base + "Expect: 200-ok\r\nContent-Length: 0\r\n\r\n").encode(),
        (base + "Transfer-Encoding: gzip\r\n\r\n").encode(),
        (base + "Transfer-Encoding: chunked, chunked\r\n\r\n").encode(),
        b"POST /invocations HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(40),  # a TLS hello
    ])
    return Case("gunicorn", data)


def _routes(rng: random.Random, width: int, limit: int) -> Case:
    method, path = rng.choice([("GET", "/invocations"), ("POST", "/ping"), ("GET", "/nope"), ("PUT", "/invocations"),
                               ("OPTIONS", "/invocations"), ("HEAD", "/ping"), ("GET", "/execution-parameters"),
                               ("DELETE", "/ping"), ("GET", "/ping?x=1"), ("POST", "/invocations/"),
                               ("GET", "//invocations"), ("POST", "/%00")])
    body = b"1.5," * (width - 1) + b"1.5\n" if method in ("POST", "PUT") else b""
    return Case("routes", request(body, {"Content-Type": "text/csv"} if body else {}, method=method, path=path))


def _empty(rng: random.Random, width: int, limit: int) -> Case:
    content_type = rng.choice([t for types in CONTENT_TYPES.values() for t in types])
    body = rng.choice([b"", b" ", b"\n\n", b"\r\n", b"\t"])
    if rng.random() < 0.3:  # no Content-Length either: no body
        return Case("empty", request(b"", _headers(rng, content_type), length=False))
    return Case("empty", request(body, _headers(rng, content_type)))


def _corrupt(rng: random.Random, data: bytes) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        position = rng.randrange(len(data) + 1)
        data[position:position] = rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x00", b"\x80\x80"])
    return bytes(data)


# -- sending them ------------------------------------------------------------------------------


def send(port: int, case: Case, timeout: float = 60) -> Answer:
    """One request on its own connection; the answer, if any came."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            try:
                sock.sendall(case.data)
                if case.half_close:
                    sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # refused early (413, 400): the answer may still be there to read
            return _read_answer(sock.makefile("rb"))
    except OSError as exc:
        return Answer(None, {}, b"", f"{type(exc).__name__}: {exc}")


def _read_answer(reader) -> Answer:
    try:
        status_line = reader.readline()
        if not status_line:
            return Answer(None, {}, b"", "closed without an answer")
        status = int(status_line.split()[1])
        headers = {}
        while (line := reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = reader.read(int(headers.get("content-length", "0")))
        return Answer(status, headers, body)
    except (OSError, ValueError, IndexError) as exc:
        return Answer(None, {}, b"", f"{type(exc).__name__}: {exc}")


def check(case: Case, answer: Answer) -> list[str]:
    """What is wrong with an answer (nothing for a good one)."""
    problems = []
    if answer.status is None:
        return problems  # counted as unanswered; some malformed requests get a closed connection
    if b"Traceback" in answer.body:
        problems.append("traceback")
    if answer.status >= 500:
        problems.append(f"{answer.status}")
    if answer.status >= 400:
        try:
            document = json.loads(answer.body)
            request_id = document.get("request_id")
            if not request_id or request_id != answer.headers.get("x-request-id") or not document.get("error"):
                problems.append("error without its request id")
        except ValueError:
            problems.append("error not JSON")
    return problems


class Pinger:
    """/ping every PING_INTERVAL_SECONDS from another process (this one's GIL is not the server's)."""

    def __init__(self, port: int, seconds: float) -> None:
        self.process = subprocess.Popen([sys.executable, __file__, "ping", str(port), str(seconds)],
                                        stdout=subprocess.PIPE, text=True)

    def stop(self) -> tuple[list[float], int]:
        """(latencies of the answered pings, failures)."""
        self.process.terminate()
        out, _ = self.process.communicate(timeout=30)
        times, failures = [], 0
        for line in out.split():
            if line.startswith("fail"):
                failures += 1
            else:
                times.append(float(line))
        return times, failures


def ping_forever(port: int, seconds: float) -> None:
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        started = time.monotonic()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(b"GET /ping HTTP/1.1\r\nHost: ping\r\nConnection: close\r\n\r\n")
                answer = _read_answer(sock.makefile("rb"))
            took = time.monotonic() - started
            print(f"{took:.4f}" if answer.status == 200 else f"fail-{answer.status}", flush=True)
        except OSError:
            print("fail", flush=True)
        time.sleep(max(0.0, PING_INTERVAL_SECONDS - (time.monotonic() - started)))


def workers(master: int) -> set[int]:
    """The master's children: gunicorn's workers."""
    path = Path(f"/proc/{master}/task/{master}/children")
    return {int(p) for p in path.read_text().split()} if path.exists() else set()


def wait_for_workers(master: int, count: int, timeout: float = 30) -> set[int]:
    deadline = time.monotonic() + timeout
    while len(found := workers(master)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def run(port: int, count: int, seed: int, *, width: int = 4, limit: int = 6 * MB, master: int | None = None,
        log: Callable[[], str] | None = None, progress: bool = False) -> Result:
    """Send `count` generated requests; what the server did with them (see the module's docstring)."""
    result = Result()
    before = workers(master) if master else set()
    log_start = len(log()) if log else 0
    pinger = Pinger(port, 24 * 3600)
    started = time.monotonic()
    try:
        for number, case in zip(range(count), cases(seed, width, limit)):
            sent = time.monotonic()
            answer = send(port, case)
            result.slowest[case.kind] = max(result.slowest.get(case.kind, 0.0), time.monotonic() - sent)
            result.requests += 1
            result.kinds[case.kind] += 1
            result.statuses[answer.status] += 1
            if answer.status is None:
                result.unanswered += 1
            problems = check(case, answer)
            if "traceback" in problems:
                result.tracebacks += 1
            if answer.status is not None and answer.status >= 500:
                result.server_errors += 1
            if problems:
                result.problems.append(f"#{number} {case.kind} {problems}: {case.data[:200]!r} -> {answer.body[:300]!r}")
            if progress and number % 1000 == 999:
                print(f"  fuzz: {number + 1} requests, {result.server_errors} 5xx", flush=True)
    finally:
        result.seconds = time.monotonic() - started
        result.pings, result.ping_failures = pinger.stop()
    if master:
        result.workers_replaced = len(before - workers(master))
    if log:
        result.log_tracebacks = log()[log_start:].count("Traceback")
    return result


def main(argv: list[str]) -> int:
    if argv[:1] == ["ping"]:
        ping_forever(int(argv[1]), float(argv[2]))
        return 0
    port = int(argv[0])
    count = int(argv[1]) if len(argv) > 1 else 10_000
    seed = int(argv[2]) if len(argv) > 2 else 1
    result = run(port, count, seed, progress=True)
    print(result.summary())
    return 0 if result.ok() else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
