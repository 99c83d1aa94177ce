"""Fast numeric CSV: the optional C parser, filling float64 arrays allocated once.

container._csvparse (built from _csvparse.c when a compiler is there) parses a strict subset
of what numpy.loadtxt accepts, with the GIL released, straight into a preallocated array; on
that subset the values are bit-identical to numpy's (both round correctly). Whenever the C
parser stops (a bad value, a ragged row, or merely something outside its subset: a comment,
a Unicode space), these functions say so and the caller uses the numpy path (tabular.parse),
which either accepts the input or locates the error exactly as before. So the C parser
changes speed and memory, never results or error messages.

For training, RowSink reads a channel's files chunk by chunk into one array sized up front
from a newline count (a memchr-speed pass), so peak memory stays near the array itself: no
per-file arrays, no concatenate. BYOC_CSV_PARSER=numpy turns the C parser off.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO, Callable

import numpy as np

try:
    from . import _csvparse
except ImportError:  # built without a compiler: the numpy path does everything
    _csvparse = None

log = logging.getLogger(__name__)

PARSER_ENV = "BYOC_CSV_PARSER"
BOM = b"\xef\xbb\xbf"
#: Bytes read at a time when filling a RowSink from a file.
CHUNK_BYTES = 16 << 20
#: Below this, splitting a parse over threads costs more than it saves.
PARALLEL_MIN_BYTES = 1 << 20

_pool: ThreadPoolExecutor | None = None
_pool_pid: int | None = None
_pool_lock = threading.Lock()


def enabled() -> bool:
    """True when the C parser is built and not turned off with BYOC_CSV_PARSER=numpy."""
    return _csvparse is not None and os.environ.get(PARSER_ENV, "").strip().lower() != "numpy"


def default_threads() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(4, cpus))


def count_lines(data: bytes | bytearray, start: int = 0, stop: int | None = None) -> int:
    """Lines in data[start:stop], the last one counted even without a newline: an upper bound
    on the records there (empty lines hold none)."""
    stop = len(data) if stop is None else stop
    if stop <= start:
        return 0
    newlines = _csvparse.count_newlines(data, start, stop) if _csvparse else data.count(b"\n", start, stop)
    return newlines + (data[stop - 1] != 0x0A)


def first_width(data: bytes | bytearray, start: int = 0, stop: int | None = None) -> int | None:
    """Fields in the first non-empty line (None when every line is empty).

    Counting commas is enough: a line the C parser accepts holds no comma inside quotes,
    and when the guess is wrong the parse stops and the numpy path takes over.
    """
    stop = len(data) if stop is None else stop
    position = start
    while position < stop:
        end = data.find(b"\n", position, stop)
        end = stop if end < 0 else end
        line_stop = end - 1 if end > position and data[end - 1] == 0x0D else end
        if line_stop > position:
            return data.count(b",", position, line_stop) + 1
        position = end + 1
    return None


def parse_bytes(data: bytes | bytearray | memoryview, threads: int | None = None) -> np.ndarray | None:
    """A whole payload as a 2-D float64 array, or None when the numpy path must decide."""
    if not enabled():
        return None
    if isinstance(data, memoryview):
        data = data.tobytes()
    start = len(BOM) if data.startswith(BOM) else 0
    width = first_width(data, start)
    if width is None:
        return np.empty((0, 0), dtype=np.float64)
    capacity = count_lines(data, start)
    out = np.empty((capacity, width), dtype=np.float64)
    rows = parse_into(data, start, len(data), out, 0, width, threads)
    if rows is None:
        return None
    return out if rows == capacity else out[:rows]


def parse_into(data: bytes | bytearray, start: int, stop: int, out: np.ndarray, row: int, width: int,
               threads: int | None = None) -> int | None:
    """Parse whole lines data[start:stop] into out[row:]; the rows written, or None if the C
    parser stopped (out[row:] is then undefined). Large inputs are split at newlines and
    parsed by several threads at once."""
    threads = default_threads() if threads is None else max(1, threads)
    if threads == 1 or stop - start < PARALLEL_MIN_BYTES:
        rows, kind, _, _ = _csvparse.parse_into(data, start, stop, out, row, width)
        return rows if kind == 0 else None
    bounds = [start]
    for i in range(1, threads):
        cut = data.find(b"\n", start + (stop - start) * i // threads, stop)
        if cut < 0 or cut + 1 <= bounds[-1]:
            continue
        bounds.append(cut + 1)
    bounds.append(stop)
    pieces = list(zip(bounds, bounds[1:]))
    firsts = [row]
    for a, b in pieces[:-1]:
        firsts.append(firsts[-1] + count_lines(data, a, b))
    pool = _executor()
    results = list(pool.map(
        lambda job: _csvparse.parse_into(data, job[0][0], job[0][1], out, job[1], width),
        zip(pieces, firsts),
    ))
    if any(kind != 0 for _, kind, _, _ in results):
        return None
    written = row
    for first, (rows, _, _, _) in zip(firsts, results):
        if first != written and rows:  # empty lines in an earlier piece: close the gap
            out[written:written + rows] = out[first:first + rows]
        written += rows
    return written - row


def _executor() -> ThreadPoolExecutor:
    """One pool per process: a pool made before gunicorn forks has no threads in the worker."""
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool = ThreadPoolExecutor(max_workers=default_threads(), thread_name_prefix="csvparse")
            _pool_pid = os.getpid()
        return _pool


class RowSink:
    """Rows from several CSV files in one float64 array, grown only when a count was unknown."""

    def __init__(self, capacity: int = 0, chunk_bytes: int = CHUNK_BYTES, threads: int | None = None) -> None:
        self.capacity = capacity
        self.chunk_bytes = chunk_bytes
        self.threads = threads
        self.width: int | None = None
        self.rows = 0
        self._array: np.ndarray | None = None

    @staticmethod
    def count(paths: list[os.PathLike[str] | str], chunk_bytes: int = CHUNK_BYTES) -> int | None:
        """Lines in plain files (an upper bound on their records); None if one is gzip or a pipe."""
        total = 0
        buffer = bytearray(chunk_bytes)
        for path in paths:
            if not stat.S_ISREG(os.stat(path).st_mode):
                return None
            with open(path, "rb", buffering=0) as stream:
                head = stream.read(2)
                if head == b"\x1f\x8b":
                    return None
                total += head.count(b"\n")
                last = head[-1:]
                view = memoryview(buffer)
                while True:
                    n = stream.readinto(view)
                    if not n:
                        break
                    total += _csvparse.count_newlines(buffer, 0, n) if _csvparse else buffer.count(b"\n", 0, n)
                    last = buffer[n - 1:n]
                total += bool(last) and last != b"\n"
        return total

    def add(self, open_stream: Callable[[], BinaryIO]) -> tuple[int, int] | None:
        """Append a file's records; (rows, width) added, or None when the C parser stopped
        (nothing of the file is kept: parse it with the numpy path and add_array it)."""
        before, width = self.rows, self.width
        with open_stream() as stream:
            ok = self._fill(stream)
        if not ok:
            self.rows, self.width = before, width
            return None
        return self.rows - before, (self.width or 0) if self.rows > before else 0

    def add_array(self, array: np.ndarray) -> None:
        """Append rows parsed elsewhere (the numpy path); the caller has checked the width."""
        if array.shape[0] == 0:
            return
        if self.width is None:
            self.width = array.shape[1]
        self._reserve(self.rows + array.shape[0])
        assert self._array is not None
        self._array[self.rows:self.rows + array.shape[0]] = array
        self.rows += array.shape[0]

    def result(self) -> np.ndarray:
        """The rows added so far, shape (rows, width); the sink must not be used after this."""
        if self._array is None or self.width is None:
            return np.empty((0, self.width or 0), dtype=np.float64)
        array, self._array = self._array, None
        if array.shape[0] != self.rows:
            # Shrinking releases the tail (realloc); a copy would double the peak instead.
            array.resize((self.rows, self.width), refcheck=False)
        return array

    # -- internals ------------------------------------------------------------------

    def _reserve(self, rows: int) -> None:
        assert self.width is not None
        if self._array is None:
            self._array = np.empty((max(rows, self.capacity), self.width), dtype=np.float64)
        elif rows > self._array.shape[0]:
            grown = max(rows, self._array.shape[0] + self._array.shape[0] // 2)
            log.debug("growing the row buffer to %d rows", grown)
            # realloc: large blocks move by remapping pages, without a copy or a 2x peak.
            self._array.resize((grown, self.width), refcheck=False)

    def _fill(self, stream: BinaryIO) -> bool:
        buffer = bytearray(self.chunk_bytes)
        held = 0  # bytes of an incomplete last line carried to the next chunk
        first = True
        while True:
            if held == len(buffer):  # a line longer than the buffer
                buffer.extend(bytes(len(buffer)))
            n = _read_into(stream, memoryview(buffer)[held:])
            end = held + n
            at_eof = n == 0
            if at_eof and end == 0:
                return True
            cut = end if at_eof else buffer.rfind(b"\n", 0, end) + 1
            if cut == 0:  # no complete line yet
                held = end
                continue
            start = 0
            if first:
                start = len(BOM) if buffer.startswith(BOM) else 0
                first = False
            if not self._parse(buffer, start, cut):
                return False
            if at_eof:
                return True
            held = end - cut
            buffer[:held] = buffer[cut:end]

    def _parse(self, buffer: bytearray, start: int, stop: int) -> bool:
        if self.width is None:
            self.width = first_width(buffer, start, stop)
            if self.width is None:
                return True  # only empty lines so far
        self._reserve(self.rows + count_lines(buffer, start, stop))
        assert self._array is not None
        rows = parse_into(buffer, start, stop, self._array, self.rows, self.width, self.threads)
        if rows is None:
            return False
        self.rows += rows
        return True


def _read_into(stream: Any, view: memoryview) -> int:
    """Fill view as far as the stream allows (gzip and pipes return short reads)."""
    total = 0
    while total < len(view):
        n = stream.readinto(view[total:])
        if not n:
            break
        total += n
    return total
