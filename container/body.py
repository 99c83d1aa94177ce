"""Reading a request body: :func:`read_request_body` is the one way /invocations does it.

A body with a Content-Length over the limit is refused before it is read; a chunked one (batch
transform streams with MaxPayloadInMB=0) is read to one byte past the limit, to tell a body
at the limit from one over it. Either way what is left of a refused body is read and dropped,
so that the client's keep-alive connection stays usable: gunicorn drains at most 64 KB of an
unread body and then closes the connection, although the response already said keep-alive.

A body of known length is read by :func:`read_fixed_length`. gunicorn's
``wsgi.input.read(n)`` collects a body through three layers of ``BytesIO`` (socket reader,
length reader, body) a megabyte at a time, copying it about five times into freshly
allocated memory; on this kind of machine the page faults cost more than the copies, and a
6 MB body took 5.5 ms to read after it had arrived. :func:`read_fixed_length` takes what
gunicorn already buffered and ``recv_into``\\ s the rest into a buffer the thread keeps for
the next request, then copies it once: 1.6 ms for the same body. Bodies under
:data:`DIRECT_MIN_BYTES` (gunicorn's first recv holds them) and over
:data:`REUSE_MAX_BYTES` (a buffer that size is not worth keeping per thread), and any
input that is not gunicorn's, get the plain ``read``.
"""

from __future__ import annotations

import io
import threading
from typing import Any

from werkzeug.exceptions import ClientDisconnected
from werkzeug.wsgi import get_input_stream

from .errors import PayloadTooLarge, RequestError

DIRECT_MIN_BYTES = 256 * 1024
#: The largest buffer a thread keeps: above the 6 MB real-time payload limit.
REUSE_MAX_BYTES = 8 * 1024 * 1024
#: Past this much, a refused body is not read to its end, and gunicorn closes the connection.
DISCARD_MAX_BYTES = 128 * 1024 * 1024

_local = threading.local()


def read_request_body(environ: dict[str, Any], limit: int | None) -> bytes:
    """The whole body of a WSGI request, at most ``limit`` bytes (None: no limit).

    Raises PayloadTooLarge over the limit, with or without a Content-Length, and RequestError
    when the body ends before its Content-Length or its connection fails while it is read.
    """
    stream = environ["wsgi.input"]
    length = content_length(environ)
    if length is None:
        return _read_streamed(environ, limit)
    if limit is not None and length > limit:
        discard(stream)
        raise too_large(limit)
    body = read_fixed_length(stream, length)
    if len(body) < length:
        raise RequestError(f"The request body ended after {len(body)} of the {length} bytes its "
                           "Content-Length announced: the client closed the connection early.")
    return body


def content_length(environ: dict[str, Any]) -> int | None:
    """The body's Content-Length; None for a body without one (chunked, or no body at all).

    werkzeug's get_content_length says the same but takes 1 us (four times this) and reads
    a malformed value as 0; gunicorn refuses one before the app sees it, other servers may not.
    """
    raw = environ.get("CONTENT_LENGTH")
    if not raw or environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
        return None
    if raw.isascii() and raw.isdigit():
        return int(raw)
    raise RequestError(f"Content-Length {raw!r} is not a number of bytes.")


def _read_streamed(environ: dict[str, Any], limit: int | None) -> bytes:
    """A body without Content-Length, through werkzeug's WSGI rules: read to its end when the
    server terminates the stream (gunicorn does), else empty; to one byte past ``limit``."""
    stream = get_input_stream(environ, max_content_length=None if limit is None else limit + 1)
    try:
        body = stream.read()
    except ClientDisconnected:
        raise RequestError("The connection failed while the request body was being read.") from None
    if limit is not None and len(body) > limit:
        discard(environ["wsgi.input"])
        raise too_large(limit)
    return body


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The request body is over the limit of {limit / (1024 * 1024):g} MB (SAGEMAKER_MAX_PAYLOAD_IN_MB).",
        hint="Split the records over several requests, or use batch transform or async inference.",
    )


def discard(stream: Any) -> None:
    """Read and drop what is left of a refused body (up to DISCARD_MAX_BYTES)."""
    left = DISCARD_MAX_BYTES
    try:
        while left > 0:
            chunk = stream.read(min(left, 1 << 20))
            if not chunk:
                break
            left -= len(chunk)
    except Exception:  # the client went away, or sent a bad chunk: gunicorn closes the connection
        pass


def read_fixed_length(stream: Any, length: int) -> bytes:
    """The next ``length`` bytes of ``stream``, the WSGI input of a body of that length.

    Fewer bytes come back only if the client closed the connection early, as with ``read``.
    """
    if DIRECT_MIN_BYTES <= length <= REUSE_MAX_BYTES:
        parts = _gunicorn_parts(stream)
        if parts is not None:
            return _read_direct(stream, *parts, length)
    return stream.read(length)


def _gunicorn_parts(stream: Any) -> tuple[Any, Any] | None:
    """(length reader, socket unreader) if ``stream`` is an untouched gunicorn body."""
    reader = getattr(stream, "reader", None)
    unreader = getattr(reader, "unreader", None)
    if (type(stream).__module__ != "gunicorn.http.body" or type(reader).__name__ != "LengthReader"
            or type(unreader).__name__ != "SocketUnreader"):
        return None
    if not (isinstance(getattr(stream, "buf", None), io.BytesIO) and stream.buf.tell() == 0
            and isinstance(getattr(reader, "length", None), int)
            and isinstance(getattr(unreader, "buf", None), io.BytesIO)
            and hasattr(getattr(unreader, "sock", None), "recv_into")):
        return None
    return reader, unreader


def _buffer(size: int) -> bytearray:
    buffer: bytearray | None = getattr(_local, "buffer", None)
    if buffer is None or len(buffer) < size:
        buffer = _local.buffer = bytearray(max(size, DIRECT_MIN_BYTES))
    return buffer


def _read_direct(stream: Any, reader: Any, unreader: Any, length: int) -> bytes:
    wanted = min(length, reader.length)
    # What the header parser read past the headers: the body's start, and perhaps (a
    # pipelined request) more than the body, which goes back for the next request.
    held = unreader.buf.getvalue()
    unreader.buf = io.BytesIO()
    if len(held) > wanted:
        unreader.buf.write(held[wanted:])
        held = held[:wanted]
    with memoryview(_buffer(wanted))[:wanted] as view:
        view[:len(held)] = held
        filled = len(held)
        try:
            while filled < wanted:
                got = unreader.sock.recv_into(view[filled:], wanted - filled)
                if not got:  # the client closed the connection: what came is all there is
                    break
                filled += got
        except BaseException:
            # Where the next request starts is unknown: gunicorn must not reuse the connection.
            stream.failed = True
            raise
        finally:
            reader.length -= filled  # gunicorn drains what is left before the next request
        return view[:filled].tobytes()
