"""Batch transform, emulated against a running server the way SageMaker drives the container.

SageMaker asks GET /execution-parameters, splits each input file into records
(SplitType=Line), packs as many whole records as fit under MaxPayloadInMB into one request
(MultiRecord) or sends them one by one (SingleRecord), keeps up to MaxConcurrentTransforms
requests open, and writes one `<file>.out` per input file. A request that fails (the connection
breaks, no answer within InvocationsTimeoutInSeconds, a 5xx) is sent again, up to
InvocationsMaxRetries times (ModelClientConfig; 600 s and 3 by default); a file whose request
still fails, or is refused (4xx), gets no .out file; the others go on. Unlike SDK local mode,
this accepts both spellings of the strategy, counts the payload in bytes, and checks that every
answer has one line per record it was sent.

Files are streamed: a request's worth of records is read at a time, at most
MaxConcurrentTransforms requests and their answers are held at once, and answers are written in
input order as they come, so memory stays flat whatever the size of a file (benchmarks/
transform_memory.py measures it). MaxPayloadInMB=0 is the exception: each file goes whole, in
one request.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import select
import socket
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

#: BatchStrategy's values as CreateTransformJob spells them; the one definition (byoc.aws.transform
#: checks --strategy against it too). The runtime's /execution-parameters spells them MULTI_RECORD.
STRATEGIES = ("MultiRecord", "SingleRecord")
DEFAULTS = {"MaxConcurrentTransforms": 1, "BatchStrategy": "MultiRecord", "MaxPayloadInMB": 6}
#: ModelClientConfig's defaults: how long one invocation may take, and how often a failed one is
#: sent again before its file fails (InvocationsTimeoutInSeconds 1-3600, InvocationsMaxRetries 0-3).
INVOCATIONS_TIMEOUT = 600.0
INVOCATIONS_MAX_RETRIES = 3
#: Seconds before the first retry, doubled for each next one (AWS does not publish its own).
RETRY_BACKOFF = 0.5


@dataclass
class FileResult:
    source: Path
    output: Path | None
    records: int
    requests: int
    error: str | None = None
    retries: int = 0  # requests sent again after a failure


@dataclass
class TransformResult:
    parameters: dict[str, object]
    files: list[FileResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.error is None for f in self.files)


class RecordError(ValueError):
    """The input cannot be sent as SageMaker would send it (a record over MaxPayloadInMB)."""


class InvocationError(Exception):
    """A request that failed for good: refused (4xx), or failing after every retry."""


class _Retryable(Exception):
    """A failure SageMaker retries: the connection broke, no answer in time, or a 5xx."""


def normalise_strategy(value: str) -> str:
    """Any spelling (MultiRecord, MULTI_RECORD, multi-record) -> the API's (MultiRecord)."""
    key = value.replace("-", "").replace("_", "").upper()
    for strategy in STRATEGIES:
        if strategy.upper() == key:
            return strategy
    raise ValueError(f"BatchStrategy {value!r} is not {' or '.join(STRATEGIES)}")


def execution_parameters(url: str, overrides: dict[str, object]) -> dict[str, object]:
    """The job's values, else the container's, else the platform defaults (that precedence)."""
    found: dict[str, object] = dict(DEFAULTS)
    try:
        with urllib.request.urlopen(url + "/execution-parameters", timeout=10) as response:
            found.update(json.loads(response.read()))
    except urllib.error.HTTPError as exc:
        if exc.code != 404:
            raise
    found.update({k: v for k, v in overrides.items() if v is not None})
    found["BatchStrategy"] = normalise_strategy(str(found["BatchStrategy"]))
    return found


def payload_limit(max_payload_mb: float) -> int | None:
    """MaxPayloadInMB in bytes; None for 0, which means no limit (SageMaker then streams chunked)."""
    return int(max_payload_mb * 1024 * 1024) if max_payload_mb else None


def records(stream: BinaryIO, limit: int | None = None) -> Iterator[bytes]:
    """SplitType=Line: the stream's non-blank lines, each ending in one newline, read as they
    are asked for. A line over limit bytes is a RecordError, found without reading it whole."""
    while True:
        line = stream.readline(limit + 1) if limit is not None else stream.readline()
        if not line:
            return
        if not line.endswith(b"\n"):
            line += b"\n"
        if limit is not None and len(line) > limit:
            raise _too_long(limit)
        if line.strip():
            yield line


def bodies(stream: BinaryIO, strategy: str, max_payload_mb: float) -> Iterator[tuple[bytes, int]]:
    """The request bodies of one input file, as (body, records), read as they are asked for.

    SingleRecord sends each record alone. MultiRecord packs as many whole records as fit in
    MaxPayloadInMB bytes: a block of that size is read, cut after its last newline, and the rest
    carried into the next, so records are never handled one by one (a file of millions of short
    records moves at the speed of the disk). MaxPayloadInMB=0 has no limit: the file goes whole,
    in one request held in memory (SageMaker would stream it chunked). Blank lines are no records.
    """
    limit = payload_limit(max_payload_mb)
    if strategy == "SingleRecord":
        for record in records(stream, limit):
            yield record, 1
        return
    carry = b""
    while True:
        want = limit - len(carry) if limit is not None else -1
        chunk = stream.read(want)
        data, carry = carry + chunk, b""
        if not data:
            return
        at_end = limit is None or len(chunk) < want
        if at_end and not data.endswith(b"\n"):
            data += b"\n"
        cut = data.rfind(b"\n") + 1
        if cut == 0:  # a block of limit bytes and no newline in it
            raise _too_long(limit or len(data))
        data, carry = data[:cut], data[cut:]
        if _BLANK_LINE.search(data) or _BLANK_START.match(data):  # rare: drop them line by line
            data = b"".join(line + b"\n" for line in data.split(b"\n")[:-1] if line.strip())
        if data:
            yield data, data.count(b"\n")
        if at_end:
            return


#: A line holding nothing but whitespace, after another line or first (two patterns: one with a
#: literal first byte scans 6 MB in milliseconds, one with an alternative or lookbehind does not).
_BLANK_LINE = re.compile(rb"\n[ \t\r\f\v]*\n")
_BLANK_START = re.compile(rb"[ \t\r\f\v]*\n")


def _too_long(limit: int) -> RecordError:
    return RecordError(f"a record of more than {limit} bytes is over MaxPayloadInMB={limit / 1048576:g}")


def answer_lines(answer: bytes) -> int:
    """Lines in an answer, a last one without its newline counted too (AssembleWith=Line adds it)."""
    return answer.count(b"\n") + (0 if answer.endswith(b"\n") or not answer else 1)


class Invoker:
    """POST /invocations as batch transform does: one kept-alive connection per thread, a
    deadline per request, and the retries of ModelClientConfig."""

    def __init__(self, url: str, headers: dict[str, str], *, timeout: float = INVOCATIONS_TIMEOUT,
                 max_retries: int = INVOCATIONS_MAX_RETRIES, backoff: float = RETRY_BACKOFF,
                 log: Callable[[str], None] | None = None) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme != "http" or not parsed.hostname:
            raise ValueError(f"{url!r} is not an http:// URL")
        self.host, self.port = parsed.hostname, parsed.port or 80
        self.path = parsed.path.rstrip("/") + "/invocations"
        self.headers = headers
        self.timeout, self.max_retries, self.backoff = timeout, max_retries, backoff
        self.log = log or (lambda message: None)
        self._local = threading.local()
        self._opened: set[http.client.HTTPConnection] = set()  # to stop() from another thread
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self.retries = 0

    def __call__(self, body: bytes, what: str) -> bytes:
        """The answer to body; InvocationError once it is refused or has failed 1 + max_retries times."""
        for attempt in range(self.max_retries + 1):
            if self._stopped.is_set():
                raise InvocationError(f"{what} was stopped")
            try:
                return self._send(body)
            except _Retryable as exc:
                if self._stopped.is_set():
                    raise InvocationError(f"{what} was stopped") from None
                if attempt == self.max_retries:
                    raise InvocationError(f"{what} failed {attempt + 1} time(s), the last: {exc}") from None
                with self._lock:
                    self.retries += 1
                delay = self.backoff * 2 ** attempt
                self.log(f"{what}: {exc}; sending it again in {delay:g} s "
                         f"(retry {attempt + 1} of {self.max_retries})")
                self._stopped.wait(delay)
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """End the requests in flight now (their file has failed, or the run was interrupted)."""
        self._stopped.set()
        with self._lock:
            for connection in self._opened:
                _shut(connection)

    def close(self) -> None:
        with self._lock:
            for connection in self._opened:
                connection.close()
            self._opened.clear()

    def _connection(self) -> http.client.HTTPConnection:
        """This thread's connection; a new one if the server has closed the kept-alive one since
        its last answer (as gunicorn does after its keepalive seconds), so that is no failure."""
        connection = getattr(self._local, "connection", None)
        if connection is not None and connection.sock is not None and _closed_by_peer(connection.sock):
            self._drop()
            connection = None
        if connection is None:
            connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._local.connection = connection
            with self._lock:
                self._opened.add(connection)
        return connection

    def _drop(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None
            with self._lock:
                self._opened.discard(connection)

    def _send(self, body: bytes) -> bytes:
        try:
            return self._exchange(body)
        except (OSError, http.client.HTTPException) as exc:
            self._drop()
            raise _Retryable(f"the connection broke ({_describe(exc)})") from None

    def _exchange(self, body: bytes) -> bytes:
        """One request on this thread's connection, cut off once the deadline passes."""
        connection = self._connection()
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            _shut(connection)

        timer = threading.Timer(self.timeout, expire)
        timer.daemon = True
        timer.start()
        try:
            if connection.sock is None:
                connection.connect()
            if self._stopped.is_set():  # stop() may have run while this socket did not exist yet
                raise ConnectionAbortedError("stopped")
            connection.request("POST", self.path, body=body, headers=self.headers)
            response = connection.getresponse()
            answer = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self._drop()
            if expired.is_set() or isinstance(exc, TimeoutError):
                raise _Retryable(f"no answer within {self.timeout:g} s (InvocationsTimeoutInSeconds)") from None
            raise
        finally:
            timer.cancel()
        if expired.is_set():
            self._drop()  # the deadline struck as the answer ended: this socket is shut
        if response.status >= 500:
            raise _Retryable(f"HTTP {response.status}: {_excerpt(answer)}")
        if response.status >= 400:
            raise InvocationError(f"HTTP {response.status}: {_excerpt(answer)}")
        return answer


def _closed_by_peer(sock: socket.socket) -> bool:
    """An idle HTTP connection has nothing to read: if it is readable, the server closed it."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


def _shut(connection: http.client.HTTPConnection) -> None:
    """Shut a connection's socket from any thread: a send or read blocked on it returns at once."""
    sock = connection.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _excerpt(answer: bytes) -> str:
    return answer.decode(errors="replace")[:500]


def run(url: str, inputs: Path, output: Path, *, content_type: str = "text/csv",
        accept: str | None = None, strategy: str | None = None,
        max_payload_mb: float | None = None, max_concurrent: int | None = None,
        invocations_timeout: float = INVOCATIONS_TIMEOUT, max_retries: int = INVOCATIONS_MAX_RETRIES,
        retry_backoff: float = RETRY_BACKOFF,
        log: Callable[[str], None] | None = None) -> TransformResult:
    """Transform every file under `inputs` (SplitType=Line, AssembleWith=Line) into `output`.

    invocations_timeout and max_retries are ModelClientConfig's; log receives a line for each
    retry (default: stderr), as SageMaker's log would show it.
    """
    params = execution_parameters(url, {"BatchStrategy": strategy, "MaxPayloadInMB": max_payload_mb,
                                        "MaxConcurrentTransforms": max_concurrent})
    result = TransformResult(params)
    files = sorted(p for p in inputs.rglob("*") if p.is_file()) if inputs.is_dir() else [inputs]
    root = inputs if inputs.is_dir() else inputs.parent
    headers = {"Content-Type": content_type, **({"Accept": accept} if accept else {})}
    for source in files:
        target = output / (source.relative_to(root).as_posix() + ".out")
        invoker = Invoker(url, headers, timeout=invocations_timeout, max_retries=max_retries,
                          backoff=retry_backoff, log=log or _stderr)
        result.files.append(_transform_file(invoker, source, target, params))
    return result


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _transform_file(invoker: Invoker, source: Path, target: Path, params: dict[str, object]) -> FileResult:
    """One input file into target, or no target and the reason. The answers go to a temporary
    file beside target as they come, in input order; it becomes target only once all are in."""
    outcome = FileResult(source, None, 0, 0)
    strategy = str(params["BatchStrategy"])
    max_payload_mb = float(params["MaxPayloadInMB"])  # type: ignore[arg-type]
    window = max(1, int(params["MaxConcurrentTransforms"]))  # type: ignore[call-overload]
    target.parent.mkdir(parents=True, exist_ok=True)
    # Beside target, so the rename is atomic; opened "x" so the mode is the umask's, as target's would be.
    partial = target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.partial")
    pending: deque[tuple[int, int, Future[bytes]]] = deque()  # (first record, records, answer)
    try:
        with partial.open("xb") as sink, source.open("rb") as stream, \
                ThreadPoolExecutor(max_workers=window, thread_name_prefix="transform") as pool:
            try:
                for body, count in bodies(stream, strategy, max_payload_mb):
                    first = outcome.records + 1
                    outcome.records += count
                    outcome.requests += 1
                    what = f"{source.name}: request {outcome.requests} (records {first}-{outcome.records})"
                    pending.append((first, count, pool.submit(invoker, body, what)))
                    if len(pending) >= window:
                        _write_next(pending, sink)
                while pending:
                    _write_next(pending, sink)
            except (RecordError, InvocationError) as exc:
                outcome.error = str(exc)
                invoker.stop()  # the file has failed: what is still in flight is of no use
            except BaseException:
                invoker.stop()  # Ctrl-C, SIGTERM, a read error: end the requests, then unwind
                raise
        if outcome.error is None:
            partial.replace(target)
            outcome.output = target
        else:
            target.unlink(missing_ok=True)  # a failed file has no .out, not even an earlier run's
    finally:
        invoker.close()
        partial.unlink(missing_ok=True)
        outcome.retries = invoker.retries
    return outcome


def _write_next(pending: deque[tuple[int, int, Future[bytes]]], sink: BinaryIO) -> None:
    """Wait for the oldest request, check it has one line per record, and append its answer."""
    first, count, future = pending.popleft()
    answer = future.result()
    lines = answer_lines(answer)
    if lines != count:
        raise InvocationError(f"records {first}-{first + count - 1}: {count} records in, {lines} lines out: "
                              "output would not line up with input")
    sink.write(answer if answer.endswith(b"\n") or not answer else answer + b"\n")
