"""The gunicorn worker `serve` runs: gthread's, with each request read before a thread takes it.

gthread hands a connection to a pool thread as soon as it is readable; the thread then reads
the request's head and body with blocking reads and no time limit. With 2 workers of 2 threads
(issue 12), 8 clients sending 1 byte/s held every thread and 9 of 10 pings failed, and 8
clients sending 6 MB JSON bodies queued /ping behind their requests for 4-6 s.

:class:`ServingWorker` reads a request on its event loop first, with non-blocking reads, and
only a request that has arrived takes a thread:

- its head, always (up to gunicorn's own limits, which gunicorn then enforces);
- a body with a Content-Length up to the payload limit, while the worker holds less than
  :data:`BUFFER_BUDGET_BYTES` of such bodies. A chunked body, one over the limit or the budget,
  or one whose client waits for ``100 Continue`` is read by the thread.

Reading is paced (:class:`Pace`: BYOC_READ_TIMEOUT and MIN_READ_RATE): a request that pauses
longer, or averages less once that long has passed, is answered 408 and its connection closed;
a connection that never sends a byte is closed after the keep-alive timeout, as gunicorn does.
So a slow client costs a socket and the bytes it sent, not a thread; and what a thread still
reads goes through :class:`PacedSocket`, with the same bounds.

Bodiless requests for the app's instant paths (``ServingApp.instant_paths``: /ping and
/execution-parameters) are answered on the event loop itself, by gunicorn's own request
handling and the app, exactly as a thread would answer them: /ping still means "this server
answers", but no longer waits behind predictions for a thread. What can still delay it is a
thread holding the GIL without a break, which is why codecs decodes large JSON in steps.

A body refused on its Content-Length (413) is drained on the event loop after the answer, so
the client reads its answer and keeps its connection, and no thread waits for a body nobody
wants. gunicorn's own refusals (a malformed request line, header or chunk) are answered like
every other error, in JSON with an X-Request-Id (container.app.error_answer). On SIGTERM the
listening sockets close at once, so new connections are refused while requests in flight
finish. HTTPS and HTTP/2 (set through GUNICORN_CMD_ARGS) are left to gthread as it is.
"""

from __future__ import annotations

import logging
import re
import selectors
import socket
import threading
import time
from concurrent import futures
from dataclasses import dataclass
from functools import partial
from typing import Any

from gunicorn import util
from gunicorn.http.body import LengthReader
from gunicorn.http.errors import NoMoreData
from gunicorn.workers.gthread import ThreadWorker

from .app import error_answer, request_id_of
from .body import DISCARD_MAX_BYTES
from .errors import RequestTimeout, protocol_error
from .settings import DEFAULT_MAX_PAYLOAD_MB, MIN_READ_RATE, ServingSettings

log = logging.getLogger("container.worker")

#: The most the event loop reads in one call.
READ_BYTES = 1024 * 1024
#: The first read of a request: a head and a small body fit.
HEAD_READ_BYTES = 64 * 1024
#: What a worker holds at most of requests its clients are still sending (at least 4 bodies
#: at the limit); past it, threads read the rest, paced.
BUFFER_BUDGET_BYTES = 64 * 1024 * 1024
#: How long an answer on the event loop may take to send (to a client that stopped reading).
INSTANT_SEND_SECONDS = 1.0
#: A closing connection waits this long, and drops this much, for the client to close too.
LINGER_SECONDS = 2.0
LINGER_MAX_BYTES = 64 * 1024

_EMPTY = memoryview(b"")
_BARE_LF = re.compile(rb"(?<!\r)\n")
#: The headers that decide how a request's body is framed (name, value), in a head's lines.
_FRAMING = re.compile(rb"\r\n(content-length|transfer-encoding|expect|upgrade)[ \t]*:([^\r\n]*)", re.IGNORECASE)


@dataclass(frozen=True)
class Pace:
    """How a request must arrive: no pause over ``timeout`` seconds, and on average at least
    ``min_rate`` bytes/s once ``timeout`` seconds have passed since its first byte."""

    timeout: float
    min_rate: float = MIN_READ_RATE

    def deadline(self, started: float, received: int) -> float:
        return started + self.timeout + received / self.min_rate

    def wait(self, started: float, received: int, now: float) -> float:
        """How long to wait for the next byte from ``now``; 0 or less: the request is late."""
        return min(self.timeout, self.deadline(started, received) - now)


class ReadTimedOut(NoMoreData, TimeoutError):
    """A paced read that ran out of time. A TimeoutError to container.body (a 408); gunicorn,
    if it meets one while reading a head, closes the connection as for a client gone."""

    def __str__(self) -> str:
        return "the request stopped arriving, or arrived too slowly"


class PacedSocket:
    """A connection's socket as gunicorn's request reader sees it under ServingWorker: first the
    bytes the event loop already read of the current request, then the socket itself, each
    wait bounded by the pace of the request. Anything else is the socket's."""

    def __init__(self, sock: Any, pace: Pace) -> None:
        self.sock = sock
        self.pace = pace
        self.pending = _EMPTY
        self.started = time.monotonic()
        self.received = 0

    def start(self, started: float, received: int, pending: memoryview = _EMPTY) -> None:
        """A new request: its first byte came at ``started``; ``received`` bytes of it so far,
        of which ``pending`` (its body's start) is still to be read."""
        self.started, self.received, self.pending = started, received, pending

    def recv(self, size: int, flags: int = 0) -> bytes:
        if self.pending:
            data = self.pending[:size].tobytes()
            self._consumed(len(data))
            return data
        prior = self._arm()
        try:
            data = self.sock.recv(size, flags)
        except TimeoutError:
            raise ReadTimedOut() from None
        finally:
            self.sock.settimeout(prior)
        self.received += len(data)
        return data

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        if self.pending:
            count = min(len(self.pending), nbytes or len(buffer))
            buffer[:count] = self.pending[:count]
            self._consumed(count)
            return count
        prior = self._arm()
        try:
            count = self.sock.recv_into(buffer, nbytes, flags)
        except TimeoutError:
            raise ReadTimedOut() from None
        finally:
            self.sock.settimeout(prior)
        self.received += count
        return count

    def take(self, count: int) -> memoryview:
        """Up to `count` of the bytes the event loop already read, without a copy."""
        taken = self.pending[:count]
        self._consumed(len(taken))
        return taken

    def _consumed(self, count: int) -> None:
        self.pending = self.pending[count:] if count < len(self.pending) else _EMPTY

    def _arm(self) -> float | None:
        wait = self.pace.wait(self.started, self.received, time.monotonic())
        if wait <= 0:
            raise ReadTimedOut()
        prior = self.sock.gettimeout()
        self.sock.settimeout(wait)
        return prior

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


class Arrival:
    """A request being read on the event loop: its head, then perhaps its body."""

    __slots__ = ("data", "started", "searched", "head_end", "method", "path", "instant", "length", "body",
                 "filled")

    def __init__(self, data: bytes, now: float) -> None:
        self.data = bytearray(data)
        self.started = now if data else None  # the time of its first byte
        self.searched = 0
        self.head_end: int | None = None
        self.method = self.path = ""
        self.instant = False
        #: The Content-Length when the event loop reads the body, else None.
        self.length: int | None = None
        self.body: bytearray | None = None  # the body past what `data` holds
        self.filled = 0

    @property
    def received(self) -> int:
        return len(self.data) + self.filled

    @property
    def where(self) -> str:
        return f"{self.method or '?'} {self.path or '?'}"


# What reading ahead found: wait for more, hand the request to a thread, answer it on the
# loop, close the connection (nothing to answer), or answer 408.
WAIT, READY, INSTANT, CLOSE, LATE = "wait", "ready", "instant", "close", "late"
_DRAIN = object()


class ServingWorker(ThreadWorker):
    """gthread, reading requests on its event loop first (see the module's docstring)."""

    def run(self) -> None:
        settings = getattr(self.wsgi, "settings", None)
        if not isinstance(settings, ServingSettings):  # a bare WSGI callable (benchmarks' floor)
            settings = ServingSettings.from_env()
        self.pace = Pace(settings.read_timeout)
        self.body_limit = settings.max_payload_bytes or int(DEFAULT_MAX_PAYLOAD_MB * 1024 * 1024)
        self.budget = max(BUFFER_BUDGET_BYTES, 4 * self.body_limit)
        self.buffered = 0
        self.instant_paths = frozenset(getattr(self.wsgi, "instant_paths", ()))
        cfg = self.cfg
        self.reads_ahead = not cfg.is_ssl and getattr(cfg, "http2_cleartext", "off") in (None, "off")
        # A head longer than gunicorn's limits could allow goes to gunicorn, which refuses it.
        self.max_head = ((cfg.limit_request_line or 1 << 20)
                         + (cfg.limit_request_fields or 100) * ((cfg.limit_request_field_size or 8190) + 2) + 4)
        #: Connections the event loop is reading (or draining): their expiry.
        self.parked: dict[Any, float] = {}
        self.loop_thread = threading.get_ident()
        super().run()

    # -- where gthread hands a connection to its pool ------------------------------------------

    def enqueue_req(self, conn: Any) -> None:
        if not self.reads_ahead:
            super().enqueue_req(conn)
            return
        try:
            state = self._read_ahead(conn)
        except OSError:  # a reset
            state = CLOSE
        except Exception:  # a bug of ours must not stop the event loop: gunicorn reads it instead
            log.exception("Reading a request ahead failed; a thread reads it instead.")
            state = READY if getattr(conn, "arrival", None) is not None else CLOSE
        if state is WAIT:
            self._park(conn, partial(self._on_readable, conn), self._expiry(conn))
        elif state is CLOSE:
            self._drop(conn)
        elif state is LATE:
            self._answer_late(conn)
        else:
            self._dispatched(conn)
            if state is INSTANT:
                self._answer_here(conn)
            else:
                super().enqueue_req(conn)

    def _read_ahead(self, conn: Any) -> str:
        """Read what has come of the connection's next request, without blocking."""
        if not conn.initialized:
            conn.init()  # the HTTP parser; no I/O without TLS
            conn.parser.unreader.sock = PacedSocket(conn.sock, self.pace)
        if conn.sock.gettimeout() != 0.0:
            conn.sock.setblocking(False)
        arrival: Arrival | None = getattr(conn, "arrival", None)
        if arrival is None:
            arrival = conn.arrival = Arrival(conn.parser.unreader.take_buffered(), time.monotonic())
            self.buffered += len(arrival.data)
        while arrival.head_end is None:
            if arrival.data and self._head_complete(arrival):
                break
            if arrival.data and self.buffered > self.budget:  # too much held: a thread reads it, paced
                return READY
            data = _recv(conn.sock, HEAD_READ_BYTES)
            if data is None:
                return WAIT
            if not data:  # the client closed: an idle connection, or a head cut short
                return CLOSE
            if arrival.started is None:
                arrival.started = time.monotonic()
            arrival.data += data
            self.buffered += len(data)
            if self._late(arrival):
                return LATE
        if arrival.body is not None:
            with memoryview(arrival.body) as view:
                while arrival.filled < len(view):
                    count = _recv_into(conn.sock, view[arrival.filled:arrival.filled + READ_BYTES])
                    if count is None:
                        return WAIT if not self._late(arrival) else LATE
                    if not count:
                        break  # the client closed early: the app answers 400 for a short body
                    arrival.filled += count
            if self._late(arrival):
                return LATE
        return INSTANT if arrival.instant else READY

    def _head_complete(self, arrival: Arrival) -> bool:
        """Whether the head is in; then what the loop does with the request."""
        data = arrival.data
        end = data.find(b"\r\n\r\n", arrival.searched)
        if end < 0:
            # A bare LF, or a head over the limits, is gunicorn's to refuse: at once.
            refused = len(data) > self.max_head or _BARE_LF.search(data, max(0, arrival.searched - 1)) is not None
            arrival.searched = max(0, len(data) - 3)
            return refused
        arrival.head_end = end + 4
        start = 2 if data.startswith(b"\r\n") else 0  # one empty line may come first (RFC 9112 2.2)
        line_end = data.find(b"\r\n", start)
        parts = bytes(data[start:line_end]).split(b" ")
        if len(parts) != 3:
            return True
        arrival.method, target = parts[0].decode("latin-1"), parts[1].decode("latin-1")
        arrival.path = target.partition("?")[0]
        framing = _FRAMING.findall(data, line_end, end + 2)
        lengths = [value.strip() for name, value in framing if name.lower() == b"content-length"]
        if len(lengths) != len(framing) or len(lengths) > 1 or not all(n.isdigit() and len(n) < 19 for n in lengths):
            return True  # chunked, Expect, Upgrade or a bad length: a thread reads (or refuses) it
        length = int(lengths[0]) if lengths else 0
        if not length:
            arrival.instant = arrival.method in ("GET", "HEAD") and arrival.path in self.instant_paths
            return True
        rest = length - (len(data) - arrival.head_end)
        if rest > 0 and length <= self.body_limit and self.buffered + rest <= self.budget:
            arrival.length, arrival.body = length, bytearray(rest)
            self.buffered += rest
        return True

    def _late(self, arrival: Arrival) -> bool:
        return (arrival.started is not None
                and self.pace.wait(arrival.started, arrival.received, time.monotonic()) <= 0)

    def _expiry(self, conn: Any) -> float:
        arrival: Arrival = conn.arrival
        now = time.monotonic()
        if arrival.started is None:  # nothing yet: an idle connection, closed as gunicorn would
            return now + self.cfg.keepalive
        return now + max(0.0, self.pace.wait(arrival.started, arrival.received, now))

    def _dispatched(self, conn: Any) -> None:
        """The request has arrived (or a thread reads the rest): hand its bytes to gunicorn's reader."""
        arrival: Arrival = conn.arrival
        conn.arrival = None
        self._release(arrival)
        conn.parser.unreader.unread(bytes(arrival.data))
        pending = memoryview(arrival.body)[:arrival.filled] if arrival.body is not None else _EMPTY
        conn.parser.unreader.sock.start(arrival.started or time.monotonic(), arrival.received, pending)
        conn.data_ready = True  # gthread must not wait for data it already has

    def _release(self, arrival: Arrival | None) -> None:
        if arrival is not None:
            self.buffered -= len(arrival.data) + (len(arrival.body) if arrival.body is not None else 0)

    # -- answers on the event loop --------------------------------------------------------------

    def _answer_here(self, conn: Any) -> None:
        """An instant request, answered on this thread by gthread's own handling."""
        done: futures.Future = futures.Future()
        done.set_result(self.handle(conn))
        self.finish_request(conn, done)

    def _answer_late(self, conn: Any) -> None:
        arrival: Arrival = conn.arrival
        conn.arrival = None
        self._release(arrival)
        error = RequestTimeout(
            f"The request stopped arriving, or arrived too slowly: {arrival.received} bytes in "
            f"{time.monotonic() - (arrival.started or time.monotonic()):.1f} s.",
            hint=f"Send the whole request without pausing for {self.pace.timeout:g} s "
                 "(BYOC_READ_TIMEOUT), at least 64 KB/s.")
        _send_error(conn.sock, error, arrival.where)
        self._linger(conn)

    def handle_request(self, req: Any, conn: Any) -> bool:
        on_loop = threading.get_ident() == getattr(self, "loop_thread", None)
        if on_loop:
            conn.sock.settimeout(INSTANT_SEND_SECONDS)
        try:
            return super().handle_request(req, conn)
        except TimeoutError:  # only an answer on the loop can time out: its client stopped reading
            log.warning("%s %s: the client did not read its answer within %g s; connection closed.",
                        req.method, req.path, INSTANT_SEND_SECONDS)
            return False

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        """gunicorn's refusal of a malformed request (or an error of ours), answered in JSON."""
        req = req if req is not None else getattr(exc, "req", None)
        where = f"{req.method} {req.path}" if getattr(req, "method", None) else "? ?"
        _send_error(client, protocol_error(exc) or exc, where)

    # -- parked connections: being read, or drained -----------------------------------------------

    def _park(self, conn: Any, callback: Any, expiry: float) -> None:
        self.parked[conn] = expiry
        self.poller.register(conn.sock, selectors.EVENT_READ, callback)

    def _unpark(self, conn: Any) -> None:
        del self.parked[conn]
        self.poller.unregister(conn.sock)

    def _on_readable(self, conn: Any, _sock: Any) -> None:
        self._unpark(conn)
        self.enqueue_req(conn)

    def _drop(self, conn: Any) -> None:
        self._release(getattr(conn, "arrival", None))
        conn.arrival = None
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self) -> None:
        super().murder_pending()
        now = time.monotonic()
        for conn, expiry in list(self.parked.items()):
            arrival: Arrival | None = getattr(conn, "arrival", None)
            started = arrival is not None and arrival.started is not None
            # A stopping worker closes what has no request under way at once.
            if expiry > now and (self.alive or started):
                continue
            self._unpark(conn)
            if started:
                self._answer_late(conn)
            else:
                self._drop(conn)

    # -- after an answer: drain a refused body, or close gracefully -----------------------------

    def _keepalive_after(self, conn: Any, keepalive: bool) -> Any:
        if self.reads_ahead and keepalive:
            body = getattr(conn.parser.mesg, "body", None)
            reader = getattr(body, "reader", None)
            if isinstance(reader, LengthReader) and reader.length > 0 and not body.failed:
                return _DRAIN if reader.length <= DISCARD_MAX_BYTES else False
        return super()._keepalive_after(conn, keepalive)

    def finish_request(self, conn: Any, fs: Any) -> None:
        """gthread's, but what would block the event loop happens in steps on it: draining a
        refused body, and the graceful close (gthread waits up to 2 s for the client's FIN)."""
        if not self.reads_ahead:
            super().finish_request(conn, fs)
            return
        try:
            result = fs.result() if not fs.cancelled() else False
        except Exception:
            result = False
        if result is _DRAIN and self.alive:
            self._drain(conn)
        elif result and result is not _DRAIN:
            super().finish_request(conn, fs)
        else:
            self._linger(conn)

    def _drain(self, conn: Any) -> None:
        """Drop the rest of the request's body, then serve the connection's next request."""
        reader: LengthReader = conn.parser.mesg.body.reader
        unreader = conn.parser.unreader
        held = unreader.take_buffered()
        if len(held) > reader.length:
            unreader.unread(held[reader.length:])  # a pipelined request
        reader.length -= min(len(held), reader.length)
        paced: PacedSocket = unreader.sock
        skipped = min(len(paced.pending), reader.length)
        paced._consumed(skipped)
        reader.length -= skipped
        self._drain_socket(conn, time.monotonic(), 0)

    def _drain_socket(self, conn: Any, started: float, drained: int, _sock: Any = None) -> None:
        if _sock is not None:
            self._unpark(conn)
        reader: LengthReader = conn.parser.mesg.body.reader
        try:
            conn.sock.setblocking(False)
            while reader.length > 0:
                count = _recv_into(conn.sock, _scratch()[:min(reader.length, READ_BYTES)])
                if count is None:
                    wait = self.pace.wait(started, drained, time.monotonic())
                    if wait <= 0 or not self.alive:
                        break
                    self._park(conn, partial(self._drain_socket, conn, started, drained), time.monotonic() + wait)
                    return
                if not count:
                    break
                reader.length -= count
                drained += count
        except OSError:
            pass
        if reader.length:
            self._linger(conn)
            return
        done: futures.Future = futures.Future()
        done.set_result(True)
        super().finish_request(conn, done)

    def _linger(self, conn: Any) -> None:
        """Close after the answer is out: FIN first, then read (and drop) what the client still
        sends until it closes too, or LINGER_SECONDS pass, so the answer is not lost to a reset.
        gthread does this on the event loop with a blocking socket; here it waits in the poller."""
        conn.arrival = None
        try:
            conn.sock.shutdown(socket.SHUT_WR)
            conn.sock.setblocking(False)
        except OSError:
            self._drop(conn)
            return
        self._linger_read(conn, 0)

    def _linger_read(self, conn: Any, dropped: int, _sock: Any = None) -> None:
        if _sock is not None:
            self._unpark(conn)
        try:
            while dropped < LINGER_MAX_BYTES:
                count = _recv_into(conn.sock, _scratch()[:READ_BYTES])
                if count is None:
                    self._park(conn, partial(self._linger_read, conn, dropped), self._linger_expiry(conn))
                    return
                if not count:
                    break
                dropped += count
        except OSError:
            pass
        self._drop(conn)

    def _linger_expiry(self, conn: Any) -> float:
        expiry = getattr(conn, "linger_until", None)
        if expiry is None:
            expiry = conn.linger_until = time.monotonic() + LINGER_SECONDS
        return expiry

    # -- stopping ----------------------------------------------------------------------------

    def set_accept_enabled(self, enabled: bool) -> None:
        """On SIGTERM, close the listening sockets at once, not when the last request is done.

        A stopping gthread worker stops polling its listening sockets but keeps them open until
        it exits, so the kernel goes on accepting connections nobody will serve: clients hang,
        then get a reset. The master closes its own copy when it stops; closing the worker's as
        it stops polling makes new connections refused while requests in flight finish. (A
        worker replaced for another reason leaves the master's copy open: the server listens.)
        """
        super().set_accept_enabled(enabled)
        if not enabled and not self.alive:
            for listener in self.sockets:
                listener.close()


def _recv(sock: Any, size: int) -> bytes | None:
    """Bytes from a non-blocking socket; None when none are there yet, b"" at its end."""
    try:
        return sock.recv(size)
    except BlockingIOError:
        return None


def _recv_into(sock: Any, view: memoryview) -> int | None:
    try:
        return sock.recv_into(view)
    except BlockingIOError:
        return None


_drain_buffer = threading.local()


def _scratch() -> memoryview:
    """Where drained bytes go (the event loop's; they are never looked at)."""
    view = getattr(_drain_buffer, "view", None)
    if view is None:
        view = _drain_buffer.view = memoryview(bytearray(READ_BYTES))
    return view


def _send_error(sock: Any, error: BaseException, where: str) -> None:
    """An error answered straight on a socket, as gunicorn answers its refusals: then closed."""
    status, headers, body = error_answer(error, request_id_of({}), where)
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    data = f"HTTP/1.1 {status}\r\n{head}Connection: close\r\n\r\n".encode("latin-1") + body
    try:
        util.write_nonblock(sock, data)
    except Exception:  # the client is gone
        log.debug("Could not send the %s answer.", status)
