"""Reading a request body: :func:`read_request_body` is the one way /invocations does it.

A body with a Content-Length over the limit is refused unread: the server drains it after
the answer (container.worker does so on its event loop, so the client's keep-alive connection
stays usable and no thread waits on a body nobody wants). A chunked one (batch transform
streams with MaxPayloadInMB=0) is read to one byte past the limit, to tell a body at the limit
from one over it, and what is left of it is read and dropped, up to DISCARD_MAX_BYTES. A
request with neither header has no body (RFC 9112, section 6.3): nothing is read, as waiting
for the client to close would hold a thread for as long as the client likes.

Under container.worker every read from the client's socket is bounded in time (a stall, or a
client slower than the minimum rate, ends it: BYOC_READ_TIMEOUT); a read that runs out of time
raises TimeoutError, answered here as 408. A malformed chunked body (gunicorn's chunk errors)
or a connection that ends early is a 400.

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

from werkzeug.wsgi import get_input_stream

from .errors import PayloadTooLarge, RequestError, RequestTimeout, protocol_error

DIRECT_MIN_BYTES = 256 * 1024
#: The largest buffer a thread keeps: above the 6 MB real-time payload limit.
REUSE_MAX_BYTES = 8 * 1024 * 1024
#: Past this much, a refused body is not read to its end, and the connection is closed.
DISCARD_MAX_BYTES = 128 * 1024 * 1024
#: A chunked body is read this much at a time.
STEP_BYTES = 1024 * 1024

_local = threading.local()


def read_request_body(environ: dict[str, Any], limit: int | None) -> bytes:
    """The whole body of a WSGI request, at most ``limit`` bytes (None: no limit).

    Raises PayloadTooLarge over the limit, with or without a Content-Length; RequestTimeout
    when the body stops arriving; RequestError when it is malformed (chunked), ends before its
    Content-Length, or its connection fails while it is read.
    """
    stream = environ["wsgi.input"]
    length = content_length(environ)
    if length is None:
        if not environ.get("HTTP_TRANSFER_ENCODING"):
            return b""
        return _read_streamed(environ, limit)
    if limit is not None and length > limit:
        raise too_large(limit)
    try:
        body = read_fixed_length(stream, length)
    except TimeoutError:
        raise RequestTimeout(f"The request body stopped arriving before its {length} bytes (Content-Length) "
                             "were in.", hint=_SLOW_HINT) from None
    except OSError:  # reset, or gunicorn's NoMoreData
        raise _cut_short() from None
    if len(body) < length:
        raise RequestError(f"The request body ended after {len(body)} of the {length} bytes its "
                           "Content-Length announced: the client closed the connection early.")
    return body


_SLOW_HINT = "Send the whole body without pausing (BYOC_READ_TIMEOUT sets how long a pause may be)."


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
    """A body without Content-Length (chunked), read to its end when the server terminates the
    stream (gunicorn does; werkzeug's rule gives an empty stream otherwise), or to one byte
    past ``limit``, a step at a time."""
    stream = get_input_stream(environ, max_content_length=None)
    parts: list[bytes] = []
    size = 0
    try:
        while limit is None or size <= limit:
            part = stream.read(STEP_BYTES if limit is None else min(STEP_BYTES, limit + 1 - size))
            if not part:
                break
            parts.append(part)
            size += len(part)
    except Exception as exc:
        error = _streamed_error(exc, size)
        if error is None:
            raise
        raise error from None
    if limit is not None and size > limit:
        discard(stream)
        raise too_large(limit)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _streamed_error(exc: Exception, size: int) -> RequestError | None:
    """What a failed read of a chunked body tells the client; None for a bug of ours."""
    if isinstance(exc, TimeoutError):
        return RequestTimeout(f"The chunked request body stopped arriving after {size} bytes.", hint=_SLOW_HINT)
    refusal = protocol_error(exc)
    if isinstance(refusal, RequestError):
        return refusal
    if isinstance(exc, OSError):  # a reset, or gunicorn's NoMoreData: the client went away
        return _cut_short()
    return None


def _cut_short() -> RequestError:
    return RequestError("The connection failed while the request body was being read.")


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The request body is over the limit of {limit / (1024 * 1024):g} MB (SAGEMAKER_MAX_PAYLOAD_IN_MB).",
        hint="Split the records over several requests, or use batch transform or async inference.",
    )


def discard(stream: Any) -> None:
    """Read and drop what is left of a refused body (up to DISCARD_MAX_BYTES): the client then
    reads its answer instead of a reset. Any failure (a bad chunk, the pace of reading) stops
    it, and gunicorn closes the connection."""
    left = DISCARD_MAX_BYTES
    try:
        while left > 0:
            chunk = stream.read(min(left, STEP_BYTES))
            if not chunk:
                return
            left -= len(chunk)
    except Exception:
        pass
    # Unread body left (or the reading failed): where the next request starts is unknown.
    if hasattr(stream, "failed"):
        stream.failed = True


def read_fixed_length(stream: Any, length: int) -> bytes:
    """The next ``length`` bytes of ``stream``, the WSGI input of a body of that length.

    Fewer bytes come back only if the client closed the connection early, as with ``read``.
    """
    if DIRECT_MIN_BYTES <= length:
        parts = _gunicorn_parts(stream)
        if parts is not None and (length <= REUSE_MAX_BYTES or _arrived(*parts, length)):
            return _read_direct(stream, *parts, length)
    return stream.read(length)


def _arrived(reader: Any, unreader: Any, length: int) -> bool:
    """Whether container.worker's event loop has read the whole body: then a body of any size
    is taken in one copy, without a buffer of ours (gunicorn's read would copy it in 8 KB steps)."""
    ahead = getattr(unreader.sock, "pending", None)
    return ahead is not None and len(unreader.buf.getvalue()) + len(ahead) >= min(length, reader.length)


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
    # container.worker's event loop may have read the whole body already: one copy, not two.
    ahead = getattr(unreader.sock, "pending", None)
    if ahead is not None and len(held) + len(ahead) >= wanted:
        body = b"".join((held, unreader.sock.take(wanted - len(held))))
        reader.length -= wanted
        return body
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
