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

import io
import logging
import os
import stat
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from itertools import chain, repeat
from typing import Any, BinaryIO, Callable, Iterable, Iterator

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


def parse_bytes(data: bytes | bytearray | memoryview, threads: int | None = None,
                stops: list[int] | None = None) -> np.ndarray | None:
    """A whole payload as a 2-D float64 array, or None when the numpy path must decide; then
    `stops`, when given, gets the offset of the line where the C parser stopped."""
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
    rows = parse_into(data, start, len(data), out, 0, width, threads, stops)
    if rows is None:
        return None
    return out if rows == capacity else out[:rows]


def parse_into(data: bytes | bytearray, start: int, stop: int, out: np.ndarray, row: int, width: int,
               threads: int | None = None, stops: list[int] | None = None) -> int | None:
    """Parse whole lines data[start:stop] into out[row:]; the rows written, or None if the C
    parser stopped (out[row:] is then undefined, and `stops`, when given, gets the offset in
    data of the first line it stopped on). Large inputs are split at newlines and parsed by
    several threads at once."""
    threads = default_threads() if threads is None else max(1, threads)
    if threads == 1 or stop - start < PARALLEL_MIN_BYTES:
        rows, kind, line, _ = _csvparse.parse_into(data, start, stop, out, row, width)
        if kind != 0 and stops is not None:
            stops.append(line)
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
    for a, b in pieces:
        firsts.append(firsts[-1] + count_lines(data, a, b))
    # Each piece gets its own rows, out[first:next first] (its line count bounds its records),
    # and the C parser cannot write past the slice it is given: no thread touches another's.
    slices = [out[first:following] for first, following in zip(firsts, firsts[1:])]
    pool = _executor()
    results = list(pool.map(
        lambda job: _csvparse.parse_into(data, job[0][0], job[0][1], job[1], 0, width),
        zip(pieces, slices),
    ))
    del slices
    stopped = [line for _, kind, line, _ in results if kind != 0]
    if stopped:
        if stops is not None:
            stops.append(stopped[0])  # the pieces are in order: the first is the earliest
        return None
    written = row
    for first, (rows, _, _, _) in zip(firsts, results):
        if first != written and rows:  # empty lines in an earlier piece: close the gap
            out[written:written + rows] = out[first:first + rows]
        written += rows
    return written - row


def error_lines(head: bytes, reference: bytes | None, skipped: int, bad_line: bytes,
                rest: Iterable[bytes]) -> Iterator[bytes] | None:
    """The lines of a CSV input the C parser stopped on, for tabular.locate_error to read fast.

    The input is `head` (up to the end of its first non-empty line, `reference`, or up to the
    stopped line when that is the first: reference None), then `skipped` lines, then
    `bad_line`, where the parser stopped, then `rest`. The skipped lines parsed, so numpy and
    locate_error accept them too: they come back as empty lines, which keep the line numbers
    and cost nothing to read, and locate_error finds on these lines the error it would find
    on the whole input. None when only the numpy path on the whole input can tell: numpy
    takes the stopped line (a comment, a Unicode space), or it holds a quote, which may run
    on into the next lines.
    """
    if b'"' in bad_line:
        return None
    probe = bad_line if reference is None else reference + b"\n" + bad_line
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            np.loadtxt(io.BytesIO(probe), delimiter=",", dtype=np.float64, ndmin=2, quotechar='"',
                       encoding="utf-8-sig")
    except (ValueError, UnicodeDecodeError):
        if reference is None:  # head holds no whole line of its own (empty lines, a BOM)
            return chain(io.BytesIO(head + bad_line), rest)
        return chain(io.BytesIO(head), repeat(b"\n", skipped), [bad_line], rest)
    return None


def locatable(data: bytes | bytearray | memoryview, offset: int) -> Iterator[bytes] | None:
    """error_lines() for a payload in memory, the C parser having stopped at `offset`."""
    data = bytes(data)
    position = len(BOM) if data.startswith(BOM) else 0
    while position < offset:  # the first non-empty line: the reference for the column count
        end = data.find(b"\n", position)
        end = len(data) if end < 0 else end
        if data[position:end].rstrip(b"\r"):
            break
        position = end + 1
    line_end = data.find(b"\n", offset)
    line_end = len(data) if line_end < 0 else line_end + 1
    bad_line, rest = data[offset:line_end], io.BytesIO(data[line_end:])
    if position >= offset:  # the stopped line is the first non-empty one
        return error_lines(data[:offset], None, 0, bad_line, rest)
    end = data.find(b"\n", position)
    reference = data[position:end].rstrip(b"\r")
    return error_lines(data[:end + 1], reference, count_lines(data, end + 1, offset), bad_line, rest)


def locatable_file(open_stream: Callable[[], BinaryIO], offset: int) -> Iterator[bytes] | None:
    """error_lines() for a file, the C parser having stopped at `offset` in its (decompressed)
    bytes: reads its start, counts the lines up to the offset without keeping them, then
    hands over the stopped line and the rest of the file, line by line."""
    stream = open_stream()
    try:
        head = stream.read(min(offset, 1 << 20))
        position = len(BOM) if head.startswith(BOM) else 0
        reference_end = -1
        while position < len(head):
            end = head.find(b"\n", position)
            if end < 0:
                break
            if head[position:end].rstrip(b"\r"):
                reference_end = end
                break
            position = end + 1
        if position >= offset:  # the stopped line is the first non-empty one
            lines = error_lines(head, None, 0, stream.readline(), _rest(stream))
        elif reference_end < 0:  # no whole first line in the first MiB: leave it to numpy
            lines = None
        else:
            skipped = _csvparse.count_newlines(head, reference_end + 1, len(head))
            left = offset - len(head)
            while left > 0:
                chunk = stream.read(min(left, CHUNK_BYTES))
                if not chunk:
                    return None  # the file changed under us
                skipped += _csvparse.count_newlines(chunk, 0, len(chunk))
                left -= len(chunk)
            reference = head[position:reference_end].rstrip(b"\r")
            lines = error_lines(head[:reference_end + 1], reference, skipped, stream.readline(), _rest(stream))
    except BaseException:
        stream.close()
        raise
    if lines is None:
        stream.close()
    return lines


def _rest(stream: BinaryIO) -> Iterator[bytes]:
    """The stream's remaining lines; it is closed when they are read or no longer wanted."""
    try:
        yield from stream
    finally:
        stream.close()


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
        #: After add() returned None: where the C parser stopped, as an offset in the file's bytes.
        self.stopped_at: int | None = None
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
        self.stopped_at = None
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
        if self._array.shape[0] != self.rows:
            self._resize(self.rows)  # shrinking releases the tail
        array, self._array = self._array, None
        return array

    # -- internals ------------------------------------------------------------------

    def _reserve(self, rows: int) -> None:
        assert self.width is not None
        if self._array is not None and self._array.shape[1] != self.width:
            # Sized for a width guessed from a file the C parser then stopped on (a comment
            # line with commas, say), and nothing kept: start again at the width now known.
            assert self.rows == 0
            self._array = None
        if self._array is None:
            self._array = np.empty((max(rows, self.capacity), self.width), dtype=np.float64)
        elif rows > self._array.shape[0]:
            grown = max(rows, self._array.shape[0] + self._array.shape[0] // 2)
            log.debug("growing the row buffer to %d rows", grown)
            self._resize(grown)

    def _resize(self, rows: int) -> None:
        """The array with `rows` rows (those kept keep their values), reallocated in place when
        nothing else refers to it, else copied.

        In place is realloc: a large block grows or shrinks by remapping pages, with neither a
        copy nor two arrays at the peak. It may move the data, so it is safe only while no view,
        memoryview or buffer export of the array is alive; numpy's refcheck proves that from
        the reference count (here: `array` and the call's own) and refuses otherwise. Then the
        holder keeps the old block and the sink goes on in a new array.
        """
        assert self._array is not None and self.width is not None
        array, self._array = self._array, None
        try:
            array.resize((rows, self.width), refcheck=True)
        except ValueError:
            log.debug("the row buffer is referenced elsewhere: copying it instead of reallocating")
            moved = np.empty((rows, self.width), dtype=np.float64)
            kept = min(rows, array.shape[0])
            moved[:kept] = array[:kept]
            array = moved
        self._array = array

    def _fill(self, stream: BinaryIO) -> bool:
        buffer = bytearray(self.chunk_bytes)
        held = 0  # bytes of an incomplete last line carried to the next chunk
        consumed = 0  # bytes of the stream before buffer[0]
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
            stops: list[int] = []
            if not self._parse(buffer, start, cut, stops):
                self.stopped_at = consumed + stops[0] if stops else None
                return False
            if at_eof:
                return True
            held = end - cut
            buffer[:held] = buffer[cut:end]
            consumed += cut

    def _parse(self, buffer: bytearray, start: int, stop: int, stops: list[int] | None = None) -> bool:
        if self.width is None:
            self.width = first_width(buffer, start, stop)
            if self.width is None:
                return True  # only empty lines so far
        self._reserve(self.rows + count_lines(buffer, start, stop))
        assert self._array is not None
        rows = parse_into(buffer, start, stop, self._array, self.rows, self.width, self.threads, stops)
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
