"""Coverage-guided fuzzing of the C CSV parser (container/_csvparse.c), with a differential oracle.

    .venv/bin/python tests/fuzz/fuzz_csvparse.py [CORPUS_DIR ...] [libFuzzer flags]
    .venv/bin/python tests/fuzz/fuzz_csvparse.py /tmp/csv-corpus -max_total_time=3600 -artifact_prefix=/tmp/

builds the parser with AddressSanitizer and UndefinedBehaviorSanitizer (tests/fuzz/sanitized.py),
starts again with atheris' ASan+libFuzzer runtime preloaded and that build standing in for
container._csvparse, seeds the first corpus folder when it is empty, and runs libFuzzer
(docs/fuzzing.md: what a long run found). Each input becomes a CSV payload, as raw bytes, as a
soup of CSV tokens, or from a grammar of tricky numbers, and is checked as fastcsv uses it:

- serving (fastcsv.parse_bytes on one thread and split over three): what the C parser accepts is
  bit for bit numpy.loadtxt's array, and each value the bits of float() of its text; what it
  refuses, tabular.parse answers exactly as with the C parser turned off (the same array or the
  same located error): the fallback contract. One thread or three: the same answer and stop.
- training (fastcsv.RowSink in small chunks, a growing array, a second file): the same rows as
  the whole payload parsed at once, the same stop offset, nothing kept of a refused file.
- the entry points themselves (parse_into with fuzzed ranges, rows, column counts and output
  buffers of every wrong kind; count_newlines; parse_number_path): a clear ValueError or the
  same answer as on a copy of the range, and no write outside out[row:row + rows + 1].

A failed check raises (libFuzzer saves the input as crash-*); a memory error or undefined
behaviour in the C code aborts through the sanitizers.
"""

from __future__ import annotations

import importlib.util
import io
import math
import os
import struct
import sys
import warnings
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

import atheris
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository, for `container`
sys.path.insert(0, str(Path(__file__).resolve().parent))
import sanitized  # noqa: E402

THREADS = 3
SPACES = b" \t\x0b\x0c"
#: Pieces the token mode joins: the parser's whole alphabet, and the words and lengths where its
#: paths divide (19 significant digits, 22 for Clinger, 10^9 for the written exponent).
TOKENS = [
    b"0", b"1", b"2", b"5", b"7", b"9", b".", b"-", b"+", b"e", b"E", b",", b"\n", b"\r\n", b"\r", b" ", b"\t",
    b'"', b"inf", b"Infinity", b"nan", b"NaN", b"#", b"_", b"x", b"\x00", b"\xef\xbb\xbf", b"\xc2\xa0", b"\xff",
    b"0" * 19, b"9" * 19, b"1" * 20, b"e308", b"e-324", b"e-400", b"e999999999", b"e99999999999999999999",
    b"e22", b"e23", b"9007199254740993", b"2.2250738585072011e-308", b"4.9e-324", b"1.7976931348623157e308",
    b"0.000000000000000000000000001",
]
#: Seeds written into an empty corpus folder: the first byte picks the mode (see one_input).
SEEDS = [
    b"\x00" + data for data in [
        b"1,2\n3,4\n", b"1,2\r\n3,4\r\n", b' "1" ,\t2 \n', b"\xef\xbb\xbf1,2\n", b"nan,-inf\n", b"1e999,1e-999\n",
        b"1,2 # c\n", b"1,2\n3\n", b"1,\xc2\xa02\n", b'1,"2\n', b"9007199254740993,2.2250738585072011e-308\n",
        b"1e99999999999999999999,0e99999999999999999999\n", b"\n\n1,2\n\n",
    ]
] + [b"\x01" + bytes(range(len(TOKENS))), b"\x02" + bytes(range(200)), b"\x03" + b"1,2\n" * 20,
     b"\x04" + bytes(range(64))]

fastcsv: Any = None
tabular: Any = None
_csvparse: Any = None


def load(module_path: str | None, instrument: bool = True) -> None:
    """Import the parser under test (the sanitizer build, when given) and fastcsv and tabular,
    instrumented for coverage (not when the tests call the checks in their own process)."""
    global fastcsv, tabular, _csvparse
    if module_path:
        spec = importlib.util.spec_from_file_location("container._csvparse", module_path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules["container._csvparse"] = module
    if instrument:
        with atheris.instrument_imports(include=["container.fastcsv", "container.tabular"]):
            from container import fastcsv as fast_module
            from container import tabular as tabular_module
    else:
        from container import fastcsv as fast_module
        from container import tabular as tabular_module
    fastcsv, tabular, _csvparse = fast_module, tabular_module, fast_module._csvparse
    assert _csvparse is not None, "the C parser is not built"
    assert not module_path or _csvparse.__file__ == module_path
    fastcsv.PARALLEL_MIN_BYTES = 0  # split even small inputs over threads
    os.environ.pop(fastcsv.PARSER_ENV, None)


# -- building payloads from the fuzzer's bytes ---------------------------------------------------


def grammar(fdp: atheris.FuzzedDataProvider) -> bytes:
    """Rows of numbers spelled every way the parser reads them, near its paths' edges."""
    ncols = fdp.ConsumeIntInRange(1, 5)
    lines = []
    for _ in range(fdp.ConsumeIntInRange(1, 6)):
        fields = [number(fdp) for _ in range(ncols)]
        lines.append(b",".join(fields) + [b"\n", b"\r\n", b"\n\n", b"\r\n \t"][fdp.ConsumeIntInRange(0, 3)])
    return b"".join(lines)


def number(fdp: atheris.FuzzedDataProvider) -> bytes:
    kind = fdp.ConsumeIntInRange(0, 7)
    if kind == 0:  # a double, printed shortest or with a fuzzed precision
        value = struct.unpack("<d", fdp.ConsumeBytes(8).ljust(8, b"\0"))[0]
        text = repr(value) if fdp.ConsumeBool() else f"{value:.{fdp.ConsumeIntInRange(0, 40)}e}"
    elif kind == 1:  # halfway between two neighbouring doubles, or a hair off it
        low = abs(struct.unpack("<d", fdp.ConsumeBytes(8).ljust(8, b"\0"))[0])
        high = math.nextafter(low, math.inf)
        if not math.isfinite(high):
            low, high = 1.0, math.nextafter(1.0, 2.0)
        with localcontext() as exact:
            exact.prec = 1200  # enough for any double's exact decimal expansion, and then some
            ulp = Decimal(high) - Decimal(low)
            text = format((Decimal(low) + Decimal(high)) / 2 + fdp.ConsumeIntInRange(-1, 1) * ulp / 10**30, "e")
    elif kind == 2:  # a subnormal
        text = repr(struct.unpack("<d", (fdp.ConsumeIntInRange(1, 2**52 - 1)).to_bytes(8, "little"))[0])
    elif kind == 3:
        text = ["inf", "-Infinity", "nan", "-nan", "+NaN", "INF", "infinit", "nan(1)"][fdp.ConsumeIntInRange(0, 7)]
    else:  # digits by hand: long mantissas, leading zeros, huge written exponents
        sign = ["", "-", "+"][fdp.ConsumeIntInRange(0, 2)]
        whole = _digits(fdp, fdp.ConsumeIntInRange(0, 30))
        point = fdp.ConsumeIntInRange(0, 3)
        fraction = _digits(fdp, fdp.ConsumeIntInRange(0, 30)) if point else ""
        text = sign + whole + ("." if point else "") + fraction
        if fdp.ConsumeBool():
            text += ["e", "E"][fdp.ConsumeIntInRange(0, 1)] + ["", "-", "+"][fdp.ConsumeIntInRange(0, 2)]
            text += _digits(fdp, fdp.ConsumeIntInRange(0, 25))
    field = text.encode()
    if fdp.ConsumeIntInRange(0, 7) == 0:
        field = b'"' + field + b'"'
    if fdp.ConsumeIntInRange(0, 7) == 0:
        field = SPACES[fdp.ConsumeIntInRange(0, 3):][:1] + field + b" "
    return field


def _digits(fdp: atheris.FuzzedDataProvider, n: int) -> str:
    return "".join(str(b % 10) for b in fdp.ConsumeBytes(n))


# -- the checks ----------------------------------------------------------------------------------


def bits(array: np.ndarray) -> tuple[tuple[int, ...], bytes]:
    return array.shape, np.ascontiguousarray(array).view(np.uint64).tobytes()


def outcome(data: bytes, c_parser: bool) -> Any:
    """tabular.parse's answer, the C parser on or off: the array's bits, or the error it raises."""
    if c_parser:
        os.environ.pop(fastcsv.PARSER_ENV, None)
    else:
        os.environ[fastcsv.PARSER_ENV] = "numpy"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ("ok", bits(tabular.parse(data)))
    except tabular.CsvError as exc:
        return ("error", str(exc), exc.line, exc.column, exc.looks_like_header)
    except Exception as exc:  # whatever the numpy path raises, the C path must raise it too
        return ("raised", type(exc).__name__, str(exc))
    finally:
        os.environ.pop(fastcsv.PARSER_ENV, None)


def numpy_path(data: bytes) -> np.ndarray | None:
    """tabular.parse with the C parser off: the array, or None when it raises."""
    os.environ[fastcsv.PARSER_ENV] = "numpy"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return tabular.parse(data)
    except Exception:
        return None
    finally:
        os.environ.pop(fastcsv.PARSER_ENV, None)


def check_payload(data: bytes) -> None:
    stops_one: list[int] = []
    stops_many: list[int] = []
    one = fastcsv.parse_bytes(data, threads=1, stops=stops_one)
    many = fastcsv.parse_bytes(data, threads=THREADS, stops=stops_many)
    assert (one is None) == (many is None), "one thread and three disagree on accepting"
    slow = outcome(data, c_parser=False)
    if one is not None:
        assert bits(one) == bits(many), "one thread and three give different values"
        assert slow[0] == "ok", f"the C parser accepted what numpy refuses: {slow}"
        assert bits(one) == slow[1], "the C parser's values differ from numpy.loadtxt's"
        check_floats(data, one)
    else:
        assert stops_one == stops_many, f"one thread stopped at {stops_one}, three at {stops_many}"
        offset = stops_one[0]
        assert 0 <= offset <= len(data) and (offset == 0 or data[offset - 1] == 0x0A or data[:offset] == fastcsv.BOM), \
            f"the stop {offset} is not at the start of a line"
    assert outcome(data, c_parser=True) == slow, "the C path's answer differs from the numpy path's"


def check_floats(data: bytes, array: np.ndarray) -> None:
    """Every accepted value is float() of its text, bit for bit (the text is ASCII)."""
    text = data[len(fastcsv.BOM):] if data.startswith(fastcsv.BOM) else data
    assert text.isascii(), "the C parser accepted a non-ASCII byte"
    rows = []
    for line in text.split(b"\n"):
        line = line[:-1] if line.endswith(b"\r") else line
        if not line:
            continue
        fields = []
        for field in line.split(b","):
            field = field.strip(SPACES)
            if field.startswith(b'"'):
                field = field[1:-1].strip(SPACES)
            fields.append(struct.unpack("<Q", struct.pack("<d", float(field.decode())))[0])
        rows.append(fields)
    expected = np.array(rows, dtype=np.uint64).reshape(array.shape)
    assert np.array_equal(expected, array.view(np.uint64)), "a value differs from float() of its text"


def check_row_sink(data: bytes, control: int) -> None:
    """Training's path: RowSink in chunks as small as 1 byte, a growing array, two files."""
    chunk = 1 + control % 61
    split = (control >> 6) * len(data) // 4
    split = data.find(b"\n", split) + 1 or len(data)
    files = [data[:split], data[split:]] if control & 0x20 else [data]
    sink = fastcsv.RowSink(0 if control & 0x10 else fastcsv.count_lines(data), chunk_bytes=chunk,
                           threads=THREADS if control & 0x08 else 1)
    expected: list[np.ndarray] = []
    held = None
    for number, part in enumerate(files):
        stops: list[int] = []
        alone = fastcsv.parse_bytes(part, threads=1, stops=stops)
        width_before, rows_before = sink.width, sink.rows
        added = sink.add(lambda part=part: io.BytesIO(part))
        fits = alone is None or alone.shape[0] == 0 or width_before is None or alone.shape[1] == width_before
        if alone is not None and fits:
            assert added is not None, f"file {number}: RowSink refused what parse_bytes accepts"
            assert added[0] == alone.shape[0], f"file {number}: {added} rows, parse_bytes {alone.shape}"
            if alone.shape[0]:
                expected.append(alone)
            continue
        assert added is None, f"file {number}: RowSink accepted what parse_bytes refuses"
        assert (sink.rows, sink.width) == (rows_before, width_before), "a refused file left rows behind"
        if alone is None and fastcsv.first_width(part) in (None, width_before) or width_before is None:
            assert sink.stopped_at == stops[0], f"RowSink stopped at {sink.stopped_at}, parse_bytes at {stops[0]}"
        if sink.stopped_at is not None:  # as dataset does: the error located from the stop, if it can be
            lines = fastcsv.locatable_file(lambda part=part: io.BytesIO(part), sink.stopped_at)
            located = tabular.locate_error(lines) if lines is not None else None
            if located is not None and width_before is None:
                want = outcome(part, c_parser=False)
                got = ("error", str(located), located.line, located.column, located.looks_like_header)
                assert got == want, f"located from the stop: {got}; the numpy path: {want}"
        slow = numpy_path(part)  # as dataset does: the numpy path's rows, when it takes the file
        if slow is not None and slow.shape[0] and (width_before is None or slow.shape[1] == width_before):
            sink.add_array(slow)
            expected.append(slow)
        if control & 0x04 and sink._array is not None and held is None:
            held = (sink._array[:sink.rows], sink._array[:sink.rows].copy())  # a live view: no realloc under it
    result = sink.result()
    want = np.concatenate(expected) if expected else np.empty((0, sink.width or 0))
    assert bits(result) == bits(want), "RowSink's rows differ from the payload parsed whole"
    if held is not None:
        assert bits(held[0]) == bits(held[1]), "a view of the row buffer changed under it"


def check_entry_points(data: bytes, fdp: atheris.FuzzedDataProvider) -> None:
    """parse_into, count_newlines and parse_number_path called directly, with fuzzed arguments."""
    exact = np.frombuffer(data, dtype=np.uint8).copy()  # ends where data ends: ASan sees an over-read
    n = len(data)
    start = fdp.ConsumeIntInRange(-2, n + 2)
    stop = fdp.ConsumeIntInRange(-2, n + 2)
    ncols = fdp.ConsumeIntInRange(-1, 4)
    rows = fdp.ConsumeIntInRange(0, 6)
    row = fdp.ConsumeIntInRange(-1, rows + 1)
    shape = (rows, max(ncols, 1))
    sentinel = np.uint64(0x7FF4DEADBEEF0001)  # a NaN no parse produces
    kind = fdp.ConsumeIntInRange(0, 10)
    out: Any = np.full(shape, sentinel, dtype=np.uint64).view(np.float64)
    valid = True
    if kind == 1:
        out = np.zeros(shape, dtype=np.float32)
        valid = False
    elif kind == 2:
        out = np.zeros(shape, dtype=np.int64)
        valid = False
    elif kind == 3:
        out = np.asfortranarray(out)
        valid = rows <= 1 or shape[1] == 1
    elif kind == 4:
        out = np.full((rows, shape[1] * 2), sentinel, dtype=np.uint64).view(np.float64)[:, ::2]
        valid = rows == 0 or (shape[1] == 1 and rows <= 1)
    elif kind == 5:
        out.flags.writeable = False
        valid = False
    elif kind == 6:
        out = out.ravel()
        valid = False
    elif kind == 7:
        out = bytearray(out.nbytes)
        valid = False
    elif kind == 8:
        out = out.astype(">f8")
        valid = sys.byteorder == "big"
    elif kind == 9:
        out = out.tolist()  # no buffer at all
        valid = False
    valid = valid and 0 <= start <= stop <= n and ncols >= 1 and 0 <= row <= rows
    try:
        result = _csvparse.parse_into(exact, start, stop, out, row, ncols)
    except (ValueError, TypeError) as exc:
        assert not valid, f"valid arguments refused: {exc}"
    else:
        assert valid, f"invalid arguments accepted: kind {kind}, {start}:{stop}, row {row}, ncols {ncols}"
        written, status, line, field = result
        assert 0 <= written <= rows - row and status in (0, 1, 2, 3)
        if isinstance(out, np.ndarray) and out.dtype == np.float64 and out.flags.c_contiguous:
            after = out.view(np.uint64)
            last = row + written + (status in (1, 2))  # a row that stopped half-way is partly written
            assert (after[:row] == sentinel).all() and (after[last:] == sentinel).all(), "a write outside out[row:]"
            again = np.full(shape, sentinel, dtype=np.uint64).view(np.float64)
            piece = np.frombuffer(data[start:stop], dtype=np.uint8).copy()
            other = _csvparse.parse_into(piece, 0, stop - start, again, row, ncols)
            shifted = (written, status, line - start if line >= 0 else line, field)
            assert other == shifted, f"{result} on the range, {other} on a copy of it"
            assert bits(again[row:row + written]) == bits(out[row:row + written]), "the range and its copy differ"
    a, b = fdp.ConsumeIntInRange(-1, n + 1), fdp.ConsumeIntInRange(-1, n + 1)
    try:
        count = _csvparse.count_newlines(exact, a, b)
    except ValueError:
        assert not 0 <= a <= b <= n
    else:
        assert 0 <= a <= b <= n and count == data.count(b"\n", a, b)
    for token in data.replace(b"\n", b",").split(b","):
        parsed = _csvparse.parse_number_path(token)
        if parsed is not None:
            value, path = parsed
            assert path in (0, 1, 2, 3) and token.isascii()
            want = float(token.decode())
            assert struct.pack("<d", value) == struct.pack("<d", want), f"{token!r}: {value!r} by path {path}, float() {want!r}"


def one_input(raw: bytes) -> None:
    if not raw:
        return
    mode, body = raw[0] % 5, raw[1:]
    if mode == 0:
        data = body
    elif mode == 1:
        data = b"".join(TOKENS[b % len(TOKENS)] for b in body)
    elif mode == 2:
        data = grammar(atheris.FuzzedDataProvider(body))
    elif mode == 3:  # training's path, on a payload from the token mode
        control, body = (body[0], body[1:]) if body else (0, b"")
        data = b"".join(TOKENS[b % len(TOKENS)] for b in body)
        check_row_sink(data, control)
        return
    else:
        fdp = atheris.FuzzedDataProvider(body)
        head = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 16))
        data = b"".join(TOKENS[b % len(TOKENS)] for b in head) + fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 64))
        check_entry_points(data, fdp)
        return
    check_payload(data)


def main(argv: list[str]) -> None:
    module = os.environ.get(sanitized.MODULE_ENV)
    if module is None:  # build, then start again under the sanitizer runtime
        env = sanitized.environment(sanitized.build())
        os.execve(sys.executable, [sys.executable, str(Path(__file__).resolve()), *argv[1:]], env)
    corpus = next((Path(a) for a in argv[1:] if not a.startswith("-")), None)
    if corpus is not None and not corpus.is_file():  # a file is an input to replay
        corpus.mkdir(parents=True, exist_ok=True)
        if not any(corpus.iterdir()):
            for i, seed in enumerate(SEEDS):
                (corpus / f"seed-{i:02d}").write_bytes(seed)
    load(module)
    print(f"fuzzing {module} ({_csvparse.__file__})", file=sys.stderr, flush=True)
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
