"""The C CSV parser (container/_csvparse.c via container/fastcsv.py) against numpy.loadtxt.

The C parser may only be faster: on what it accepts its values must be bit-identical to the
numpy path's, and on anything else it must stop so the numpy path decides. No timings here.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import math
import random
import warnings
from decimal import Decimal, getcontext
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from container import dataset, fastcsv, tabular
from container.channels import Channel
from container.errors import DataError
from container.paths import Paths

pytestmark = pytest.mark.skipif(fastcsv._csvparse is None, reason="the C parser is not built")


def numpy_parse(data: bytes) -> np.ndarray | None:
    """The reference: the numpy path of tabular.parse, or None when it rejects the input."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            array = np.loadtxt(io.BytesIO(data), delimiter=",", dtype=np.float64, ndmin=2,
                               quotechar='"', encoding="utf-8-sig")
    except (ValueError, UnicodeDecodeError):
        return None
    return np.empty((0, 0)) if array.size == 0 else array


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.array_equal(a.view(np.uint64), b.view(np.uint64))


def assert_equivalent(data: bytes) -> None:
    """C accepts only what numpy accepts, and then gives the same bits."""
    fast = fastcsv.parse_bytes(data)
    reference = numpy_parse(data)
    if fast is None:
        return  # the numpy path decides: nothing to compare
    assert reference is not None, f"C accepted what numpy rejects: {data[:80]!r}"
    assert same_bits(fast, reference), data[:200]


def csv_of(strings: list[str], width: int = 7) -> bytes:
    strings = strings[: len(strings) // width * width]
    lines = [",".join(strings[i:i + width]) for i in range(0, len(strings), width)]
    return ("\n".join(lines) + "\n").encode()


# -- the accepted language -------------------------------------------------------------

EDGE_CASES = [
    b"1,2\n3,4\n", b"1,2\r\n3,4\r\n", b"1,2\r3,4\r", b" 1 , 2 \n", b'"1","2"\n', b'" 1 ",2\n',
    b'"1"x,2\n', b'1"2",3\n', b"1,2\n\n\n3,4\n", b"1,2\n   \n3,4", b"1,2 # c\n3,4\n", b"# hdr\n1,2\n",
    b"nan,-nan\n", b"inf,-Infinity\n", b"+INF,NaN\n", b"1_0,2\n", b"0x1p3,2\n", b"1e999,1e-999\n",
    b".5,5.\n", b"1,\n", b",1\n", b"1,2,\n", b"1\t,2\n", b"\t1,2\n", b"1e,2\n", b"e1,2\n", b"1e+,2\n",
    b"1.5e+3,2E-3\n", b"1,2\n3\n", b"\xef\xbb\xbf1,2\n", b"1,2\x00\n", b"nan(123),1\n", b"1d3,1\n",
    b"  \n", b"", b"1", b"1,2\r\n\r\n", b"-,1\n", b"+,1\n", b".,1\n", b"-.,1\n", b"1.2.3,1\n", b'"",1\n',
    b'"1\n2",3\n', b"1 2,3\n", b"- 1,3\n", b"1\r\n2\n", b"1,2\x0c\n", b"1,2\x0b\n",
    b"infinity,infinit\n", b'"1""2",3\n', b'1,"2\n', b"1,2\r", b"1,2\r\r\n", b"\n1,2", b"\r\n1,2\n",
    b' "1",2\n', b'"1" ,2\n', b"1,2\x1c\n", b"1,\xc2\xa02\n", b"1,2\n#c\n3,4", b"00001,2\n",
    b"1e0000000000000000000005,1\n", b"1,2\n\t\n", b"-0,+0\n", b"1.,.1e1\n", b"inF,iNfInItY\n",
    b"-inf,+nan\n", b"\r\n\r\n", b"\n", b"\r", b"1,2,3\n4,5\n", b"1,2\n3,4,5\n", b"1;2\n", b"1,\xff\n",
    b"0.000000000000000000000000000001,123456789012345678901234567890\n",
    b"9007199254740993,9007199254740992\n", b"4.9e-324,2.2250738585072011e-308\n",
    b"1.7976931348623157e308,1.7976931348623159e308\n", b"2.4703282292062327e-324,2.4703282292062328e-324\n",
    b"1e-400,1e400\n", b"-0.0e-999999999999999999999,0e999999999999999\n",
]


@pytest.mark.parametrize("data", EDGE_CASES)
def test_edge_cases_agree_with_numpy(data: bytes) -> None:
    assert_equivalent(data)


@pytest.mark.parametrize("data", [
    b"1,2\n3,4\n", b"1,2\r\n3,4", b" 1 ,\t2 \n", b'"1"," 2 " \n', b"\n\n1,2\n\n", b"\xef\xbb\xbf1,2\n",
    b"nan,-inf\n", b"-0,1e-320\n", b"1\r\n2\r\n",
])
def test_the_common_formats_take_the_c_path(data: bytes) -> None:
    assert fastcsv.parse_bytes(data) is not None
    assert_equivalent(data)


@pytest.mark.parametrize("data", [b"1,2 # comment\n", b"# header\n1,2\n", b"1,\xc2\xa02\n", b'1,"2\n'])
def test_what_numpy_alone_accepts_still_parses_through_tabular(data: bytes) -> None:
    assert fastcsv.parse_bytes(data) is None
    assert same_bits(tabular.parse(data), numpy_parse(data))


def test_negative_nan_and_zero_keep_their_sign() -> None:
    array = fastcsv.parse_bytes(b"-nan,nan,-0,0\n")
    assert [hex(v) for v in array.view(np.uint64).ravel()] == [
        "0xfff8000000000000", "0x7ff8000000000000", "0x8000000000000000", "0x0"]


# -- property-style: random doubles in many spellings -----------------------------------


@pytest.mark.parametrize("seed", [1, 2])
def test_random_doubles_in_every_spelling(seed: int) -> None:
    rng = np.random.default_rng(seed)
    pick = random.Random(seed)
    values = rng.integers(0, 2**64, 20000, dtype=np.uint64).view(np.float64)
    values = [float(v) for v in values if np.isfinite(v)]
    subnormals = [float(v) for v in rng.integers(1, 2**52, 5000, dtype=np.uint64).view(np.float64)]
    spellings = [
        [repr(v) for v in values],
        [f"{v:.{pick.randint(1, 25)}g}" for v in values],
        [f"{v:.{pick.randint(0, 30)}e}" for v in values],
        [f"{v:.{pick.randint(0, 20)}E}" for v in subnormals],
        [repr(v) for v in subnormals],
        [f"{v:.6f}" for v in rng.standard_normal(20000)],
        [f'"{float(v)!r}"' for v in rng.standard_normal(2000)],
    ]
    for strings in spellings:
        data = csv_of(strings)
        fast = fastcsv.parse_bytes(data)
        assert fast is not None
        assert same_bits(fast, numpy_parse(data))


def test_many_digits_and_huge_exponents() -> None:
    pick = random.Random(3)

    def digits(n: int) -> str:
        return "".join(pick.choice("0123456789") for _ in range(n))

    strings = [
        f"{pick.choice(['', '-', '+'])}{digits(pick.randint(1, 45))}.{digits(pick.randint(0, 45))}"
        f"e{pick.randint(-420, 420)}"
        for _ in range(20000)
    ]
    strings += [f"0.{'0' * pick.randint(0, 30)}{digits(pick.randint(1, 30))}" for _ in range(5000)]
    strings += [f"{digits(pick.randint(17, 22))}" for _ in range(5000)]
    data = csv_of(strings)
    assert same_bits(fastcsv.parse_bytes(data), numpy_parse(data))


def test_exact_halfway_points_round_to_even() -> None:
    """The decimal exactly between two neighbouring doubles, and a hair either side of it."""
    getcontext().prec = 800
    rng = np.random.default_rng(4)
    strings = []
    for bits in rng.integers(1, 0x7FE0000000000000, 1500, dtype=np.uint64):
        low = float(np.array([bits], dtype=np.uint64).view(np.float64)[0])
        high = float(np.nextafter(low, np.inf))
        middle = (Decimal(low) + Decimal(high)) / 2
        ulp = Decimal(high) - Decimal(low)
        strings += [format(middle, "e"), format(middle + ulp / 10**30, "e"), format(middle - ulp / 10**30, "e")]
    data = csv_of(strings, width=3)
    assert same_bits(fastcsv.parse_bytes(data), numpy_parse(data))


# -- counting and the parallel split -------------------------------------------------------


@pytest.mark.parametrize(("data", "lines"), [
    (b"", 0), (b"1", 1), (b"1\n", 1), (b"1\n2", 2), (b"\n\n", 2), (b"1\r\n2\r\n", 2),
])
def test_count_lines_is_an_upper_bound_on_records(data: bytes, lines: int) -> None:
    assert fastcsv.count_lines(data) == lines


@pytest.mark.parametrize(("data", "width"), [
    (b"1,2,3\n", 3), (b"\n\r\n1,2\n", 2), (b"5", 1), (b"", None), (b"\n\n", None), (b"1,2\r\n", 2),
])
def test_first_width(data: bytes, width: int | None) -> None:
    assert fastcsv.first_width(data) == width


@pytest.mark.parametrize("threads", [2, 3, 4, 7])
def test_threads_split_at_newlines_and_close_gaps_left_by_empty_lines(
        threads: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fastcsv, "PARALLEL_MIN_BYTES", 0)
    rng = np.random.default_rng(threads)
    rows = [",".join(repr(float(v)) for v in rng.standard_normal(3)) for _ in range(200)]
    lines = []
    for i, row in enumerate(rows):
        lines.append(row)
        if i % 7 == 0:
            lines += ["", "\r"]  # empty lines, which hold no record but count as lines
    data = "\n".join(lines).encode()
    single = fastcsv.parse_bytes(data, threads=1)
    split = fastcsv.parse_bytes(data, threads=threads)
    assert single.shape == (200, 3)
    assert same_bits(split, single)
    assert same_bits(split, numpy_parse(data))


def test_parallel_parse_stops_when_any_piece_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fastcsv, "PARALLEL_MIN_BYTES", 0)
    data = b"1,2\n" * 50 + b"3,x\n" + b"1,2\n" * 50
    assert fastcsv.parse_bytes(data, threads=4) is None


# -- where the C parser stops -----------------------------------------------------------


@pytest.mark.parametrize(("data", "kind", "line", "field"), [
    (b"1,2\n3,x\n", 1, 4, 1),
    (b"1,2\r\n\r\n3,4\r\n5\r\n", 2, 12, 1),  # too few fields
    (b"1,2\n3,4,5\n", 2, 4, 2),  # too many
    (b"1,2\n \n", 1, 4, 0),  # spaces only: numpy rejects the line too
    (b'1,"2\n', 1, 0, 1),  # unterminated quote: numpy decides
])
def test_stops_report_the_line_offset_and_field(data: bytes, kind: int, line: int, field: int) -> None:
    out = np.empty((10, 2))
    rows, got_kind, got_line, got_field = fastcsv._csvparse.parse_into(data, 0, len(data), out, 0, 2)
    assert (got_kind, got_line, got_field) == (kind, line, field)
    assert rows == data[:line].count(b"\n") - data[:line].count(b"\n\n") - data[:line].count(b"\r\n\r\n")


def test_a_full_output_buffer_is_a_stop_not_an_overflow() -> None:
    out = np.empty((1, 2))
    assert fastcsv._csvparse.parse_into(b"1,2\n3,4\n", 0, 8, out, 0, 2) == (1, 3, 4, -1)


def test_bad_arguments_are_refused() -> None:
    out = np.empty((2, 2))
    with pytest.raises(ValueError):
        fastcsv._csvparse.parse_into(b"1,2\n", 0, 99, out, 0, 2)
    with pytest.raises(ValueError):
        fastcsv._csvparse.parse_into(b"1,2\n", 0, 4, out, 0, 0)
    with pytest.raises((TypeError, ValueError)):
        fastcsv._csvparse.parse_into(b"1,2\n", 0, 4, out[:, :1], 0, 1)  # not contiguous


@pytest.mark.parametrize("data", [
    b"1,2\n3,oops\n", b"a,b\n1,2\n", b"1,2\n3\n", b"1,2\n   \n3,4\n", b"1,2\n3,4,5\n", b"1,,2\n",
    b'1,2\n3,"4,5"\n', b"1,2\n3,\xff\n", b"1,2\n3,1_000\n",
])
def test_error_messages_are_the_numpy_paths(data: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(tabular.CsvError) as fast:
        tabular.parse(data)
    monkeypatch.setenv(fastcsv.PARSER_ENV, "numpy")
    assert not fastcsv.enabled()
    with pytest.raises(tabular.CsvError) as slow:
        tabular.parse(data)
    assert (str(fast.value), fast.value.looks_like_header) == (str(slow.value), slow.value.looks_like_header)


# -- training: one array for all the files of a channel ------------------------------------


def write_channel(root: Path, files: dict[str, bytes]) -> Paths:
    paths = Paths(root)
    folder = paths.channel_dir("train")
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return paths


def load_both_ways(paths: Paths, monkeypatch: pytest.MonkeyPatch) -> tuple[dataset.Dataset, dataset.Dataset]:
    fast = dataset.load(Channel("train"), paths)
    with monkeypatch.context() as m:
        m.setenv(fastcsv.PARSER_ENV, "numpy")
        slow = dataset.load(Channel("train"), paths)
    return fast, slow


def random_csv(rows: int, width: int, seed: int, crlf: bool = False) -> bytes:
    rng = np.random.default_rng(seed)
    end = "\r\n" if crlf else "\n"
    return "".join(",".join(repr(float(v)) for v in row) + end for row in rng.standard_normal((rows, width))).encode()


@pytest.mark.parametrize("chunk", [7, 64, 1000, 1 << 20])
def test_chunk_boundaries_do_not_change_the_rows(chunk: int, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fastcsv, "CHUNK_BYTES", chunk)
    monkeypatch.setattr(fastcsv, "PARALLEL_MIN_BYTES", 0)
    files = {
        "a.csv": b"\xef\xbb\xbf" + random_csv(40, 4, 1),
        "b.csv": random_csv(30, 4, 2, crlf=True) + b"\n\n",
        "c.csv": b"",
        "d.csv": random_csv(25, 4, 3).rstrip(b"\n"),  # no final newline
        "e.csv.gz": gzip.compress(random_csv(20, 4, 4)),  # not countable: the array grows
    }
    fast, slow = load_both_ways(write_channel(tmp_path, files), monkeypatch)
    assert fast.X.shape == (115, 3)
    assert same_bits(np.ascontiguousarray(fast.X), np.ascontiguousarray(slow.X))
    assert same_bits(fast.y, slow.y)


def test_a_file_only_numpy_accepts_is_parsed_by_numpy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = {"a.csv": random_csv(10, 3, 1), "b.csv": b"# made by hand\n1,2,3\n4,5,6 # last\n", "c.csv": random_csv(5, 3, 2)}
    fast, slow = load_both_ways(write_channel(tmp_path, files), monkeypatch)
    assert fast.X.shape == (17, 2)
    assert same_bits(np.ascontiguousarray(fast.X), np.ascontiguousarray(slow.X))


def test_the_preallocated_array_is_the_result(tmp_path: Path) -> None:
    paths = write_channel(tmp_path, {"a.csv": random_csv(100, 5, 1), "b.csv": random_csv(100, 5, 2)})
    loaded = dataset.load(Channel("train"), paths)
    base = loaded.X.base
    assert base is not None and base.shape == (200, 5) and loaded.y.base is base  # no copy


@pytest.mark.parametrize(("files", "message"), [
    ({"a.csv": b"1,2,3\n", "b.csv": b"1,2\n"}, "has 2 columns, but 'a.csv' has 3"),
    ({"a.csv": b"1,2,3\n4,5,x\n"}, "line 2, column 3"),
    ({"a.csv": b"label,f1\n1,2\n"}, "header"),
    ({"a.csv": b"\n\n", "b.csv": b""}, "but no rows"),
    ({"a.csv": b"1\n2\n"}, "only one column"),
])
def test_training_errors_are_unchanged(files: dict[str, bytes], message: str, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    paths = write_channel(tmp_path, files)
    with pytest.raises(DataError) as fast:
        dataset.load(Channel("train"), paths)
    monkeypatch.setenv(fastcsv.PARSER_ENV, "numpy")
    with pytest.raises(DataError) as slow:
        dataset.load(Channel("train"), paths)
    assert str(fast.value) == str(slow.value)
    assert message in str(fast.value) + str(getattr(fast.value, "hint", ""))


def test_row_sink_counts_plain_files_but_not_gzip(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"1\n2\n3")
    (tmp_path / "b").write_bytes(b"\n")
    (tmp_path / "c").write_bytes(gzip.compress(b"1\n"))
    assert fastcsv.RowSink.count([tmp_path / "a", tmp_path / "b"], chunk_bytes=2) == 4
    assert fastcsv.RowSink.count([tmp_path / "a", tmp_path / "c"]) is None


@pytest.mark.parametrize("data", [b"", b"\n", b"abc", b"a\nb\nc", b"\n" * 1000 + b"x", bytes(range(256)) * 300])
def test_count_newlines_matches_bytes_count(data: bytes) -> None:
    for start, stop in [(0, len(data)), (1, len(data)), (0, len(data) // 2), (len(data) // 3, len(data))]:
        start = min(start, len(data))
        assert fastcsv._csvparse.count_newlines(data, start, stop) == data.count(b"\n", start, stop)
    with pytest.raises(ValueError):
        fastcsv._csvparse.count_newlines(data, 0, len(data) + 1)


# -- locating an error from where the C parser stopped ------------------------------------

CORRUPTIONS = [
    b"1,x,3", b"1,2", b"1,2,3,4", b"   ", b"\t", b"1,,3", b",2,3", b"1,2,", b"1,1_000,3", b"a,b,c",
    b"1,2,3 # note", b"# a comment", b"1,\xff,3", b"1,\xc2\xa02,3", b'1,"2,3', b'"1","x",3', b"1,2\r3",
    b"1,2,3e", b"nan,inf,-", b"0x10,2,3", b"1;2;3", b"1,2,3,",
]


def outcome(data: bytes) -> Any:
    try:
        return ("ok", tabular.parse(data).tobytes())
    except tabular.CsvError as exc:
        return ("error", str(exc), exc.line, exc.column, exc.looks_like_header)
    except Exception as exc:  # whatever locate_error raises, it must raise on both paths
        return ("raised", type(exc).__name__, str(exc))


@pytest.mark.parametrize("seed", range(6))
def test_errors_located_from_the_stop_match_the_numpy_path(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    if seed % 2:  # split over threads: the earliest piece's stop must be the one reported
        monkeypatch.setattr(fastcsv, "PARALLEL_MIN_BYTES", 0)
    pick = random.Random(seed)
    rng = np.random.default_rng(seed)
    for _ in range(40):
        lines = [",".join(repr(float(v)) for v in row) for row in rng.standard_normal((pick.randint(1, 60), 3))]
        for _ in range(pick.randint(0, 3)):
            lines.insert(pick.randint(0, len(lines)), pick.choice(["", "", "\r"]))
        for _ in range(pick.randint(1, 2)):
            lines.insert(pick.randint(0, len(lines)), pick.choice(CORRUPTIONS).decode("latin-1"))
        end = pick.choice(["\n", "\r\n"])
        data = (pick.choice(["", "\ufeff"]) + end.join(lines) + pick.choice(["", end])).encode("utf-8", "surrogateescape")
        data = data.replace("\xff".encode(), b"\xff").replace("\xc2\xa0".encode(), b"\xc2\xa0")
        fast = outcome(data)
        with monkeypatch.context() as m:
            m.setenv(fastcsv.PARSER_ENV, "numpy")
            slow = outcome(data)
        assert fast == slow, data[:300]


def test_a_late_error_in_a_large_payload_is_located_without_the_numpy_path(monkeypatch: pytest.MonkeyPatch) -> None:
    data = random_csv(20000, 4, 1) + b"1,2,oops,4\n" + random_csv(10, 4, 2)

    loadtxt = np.loadtxt

    def only_small(stream: Any, *args: Any, **kwargs: Any) -> Any:
        assert len(stream.getvalue()) < 1000, "the whole payload went through numpy.loadtxt"
        return loadtxt(stream, *args, **kwargs)

    monkeypatch.setattr(np, "loadtxt", only_small)
    with pytest.raises(tabular.CsvError) as info:
        tabular.parse(data)
    assert (info.value.line, info.value.column) == (20001, 3)


@pytest.mark.parametrize("seed", range(4))
def test_training_errors_located_from_the_stop_match_the_numpy_path(
        seed: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pick = random.Random(seed)
    monkeypatch.setattr(fastcsv, "CHUNK_BYTES", pick.choice([64, 1000, 1 << 20]))  # stops in later chunks
    for case in range(15):
        rng = np.random.default_rng(case)
        lines = [",".join(repr(float(v)) for v in row) for row in rng.standard_normal((pick.randint(5, 200), 3))]
        lines.insert(pick.randint(0, len(lines)), pick.choice(CORRUPTIONS).decode("latin-1"))
        for _ in range(pick.randint(0, 3)):
            lines.insert(pick.randint(0, len(lines)), "")
        end = pick.choice(["\n", "\r\n"])
        bad = (pick.choice(["", "\ufeff"]) + end.join(lines) + end).encode("utf-8", "surrogateescape")
        bad = bad.replace("\xff".encode(), b"\xff").replace("\xc2\xa0".encode(), b"\xc2\xa0")
        files = {"a.csv": random_csv(7, 3, case), "b.csv": gzip.compress(bad) if case % 3 == 0 else bad}
        paths = write_channel(tmp_path / f"{seed}-{case}", files)

        def load() -> Any:
            try:
                return ("ok", dataset.load(Channel("train"), paths).X.tobytes())
            except DataError as exc:
                return ("error", str(exc))
            except Exception as exc:  # whatever locate_error raises, it must raise on both paths
                return ("raised", type(exc).__name__, str(exc))

        fast = load()
        with monkeypatch.context() as m:
            m.setenv(fastcsv.PARSER_ENV, "numpy")
            slow = load()
        assert fast == slow, bad[:300]


def test_a_late_error_in_a_large_file_is_located_without_the_numpy_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fastcsv, "CHUNK_BYTES", 1 << 16)
    paths = write_channel(tmp_path, {"a.csv": random_csv(5000, 4, 1) + b"1,2,oops,4\n" + random_csv(10, 4, 2)})
    loadtxt = np.loadtxt

    def only_small(stream: Any, *args: Any, **kwargs: Any) -> Any:
        assert isinstance(stream, io.BytesIO) and len(stream.getvalue()) < 1000, "numpy read the whole file"
        return loadtxt(stream, *args, **kwargs)

    monkeypatch.setattr(np, "loadtxt", only_small)
    with pytest.raises(DataError, match="line 5001, column 3: 'oops' is not a number"):
        dataset.load(Channel("train"), paths)


# -- the review's mends (issue 12) -------------------------------------------------------------

EXACT, EISEL_LEMIRE, STRTOD = 0, 1, 2


def float_bits(value: float) -> int:
    return int(np.array([value]).view(np.uint64)[0])


@pytest.mark.parametrize("text", [
    b"1e99999999999999999999", b"-1e99999999999999999999", b"1e-99999999999999999999", b"0e99999999999999999999",
    b"1e1000000000", b"-0.5e-1000000000", b"0." + b"0" * 40 + b"1e99999999999999999999",
    b"1" + b"0" * 400 + b"e-99999999999999999999", b"123456789012345678901234567890e-99999999999999999999999",
])
def test_an_exponent_too_long_to_hold_takes_the_slow_path(text: bytes) -> None:
    """Past 10^9 the written exponent saturates; only strtod, reading the text, may decide."""
    value, path = fastcsv._csvparse.parse_number_path(text)
    assert path == STRTOD
    assert float_bits(value) == float_bits(float(text))
    data = text + b"," + text + b"\n1,2\n"
    assert fastcsv.parse_bytes(data) is not None
    assert_equivalent(data)


@pytest.mark.parametrize(("text", "path"), [
    (b"1.5e0000000000000000000000000000000000000000000000022", EXACT),  # long, but small: not saturated
    (b"1e999999999", STRTOD),  # nine digits: held exactly, out of every fast path's range
    (b"1.2345678901234567", EISEL_LEMIRE),
    (b"0.1", EXACT),
])
def test_paths_of_ordinary_numbers(text: bytes, path: int) -> None:
    value, got = fastcsv._csvparse.parse_number_path(text)
    assert (float_bits(value), got) == (float_bits(float(text)), path)


@pytest.mark.parametrize("text", [b"", b"-", b"1e", b"1.2.3", b" 1", b"1 ", b"0x10", b"1_0", b".", b"nan(1)"])
def test_parse_number_path_reads_whole_numbers_only(text: bytes) -> None:
    assert fastcsv._csvparse.parse_number_path(text) is None


def sentinel_rows(rows: int, width: int) -> np.ndarray:
    return np.full((rows, width), 0x7FF4DEADBEEF0001, dtype=np.uint64).view(np.float64)


def test_the_c_parser_writes_only_the_rows_it_is_given() -> None:
    out = sentinel_rows(6, 2)
    data = b"1,2\n3,4\n5,6\n7,8\n"
    rows, kind, line, _ = fastcsv._csvparse.parse_into(data, 0, len(data), out[2:4], 0, 2)
    assert (rows, kind, line) == (2, 3, 8)  # full after two rows: a stop, not an overflow
    assert out[2:4].tolist() == [[1, 2], [3, 4]]
    untouched = out.view(np.uint64)[[0, 1, 4, 5]]
    assert (untouched == 0x7FF4DEADBEEF0001).all()


def test_each_thread_gets_its_own_slice_of_the_output(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fastcsv, "PARALLEL_MIN_BYTES", 0)
    real = fastcsv._csvparse
    calls: list[tuple[np.ndarray, int]] = []

    class Recording:
        count_newlines = staticmethod(real.count_newlines)

        @staticmethod
        def parse_into(data: Any, start: int, stop: int, out: np.ndarray, row: int, ncols: int) -> Any:
            calls.append((out, row))
            return real.parse_into(data, start, stop, out, row, ncols)

    monkeypatch.setattr(fastcsv, "_csvparse", Recording)
    data = random_csv(300, 3, 1)
    out = np.empty((300, 3))
    assert fastcsv.parse_into(data, 0, len(data), out, 0, 3, threads=4) == 300
    assert len(calls) == 4 and all(row == 0 for _, row in calls)
    slices = [view for view, _ in calls]
    assert sum(view.shape[0] for view in slices) == 300
    for i, view in enumerate(slices):
        assert view.base is out or view.base is out.base
        assert not any(np.shares_memory(view, other) for other in slices[i + 1:])
    assert same_bits(out, numpy_parse(data))


def test_a_thread_whose_piece_holds_more_rows_than_counted_stops_instead_of_overwriting(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Were a piece's line count ever short, its thread would stop at the end of its slice."""
    monkeypatch.setattr(fastcsv, "PARALLEL_MIN_BYTES", 0)
    counted = fastcsv.count_lines
    monkeypatch.setattr(fastcsv, "count_lines", lambda data, start=0, stop=None: max(0, counted(data, start, stop) - 1))
    data = random_csv(40, 2, 2)
    out = sentinel_rows(40, 2)
    stops: list[int] = []
    assert fastcsv.parse_into(data, 0, len(data), out, 0, 2, threads=2, stops=stops) is None
    assert stops and data[stops[0] - 1:stops[0]] == b"\n"  # where the first slice was full


@pytest.mark.parametrize(("make", "message"), [
    (lambda: np.zeros((4, 2), dtype=np.float32), "native float64"),
    (lambda: np.zeros((4, 2), dtype=np.int64), "native float64"),
    (lambda: np.zeros((4, 2), dtype=">f8"), "native float64"),
    (lambda: np.asfortranarray(np.zeros((4, 2))), "C-contiguous"),
    (lambda: np.zeros((4, 4))[:, ::2], "C-contiguous"),
    (lambda: np.zeros((4, 3)), r"shape \(rows, ncols\)"),
    (lambda: np.zeros(8), r"shape \(rows, ncols\)"),
    (lambda: bytearray(64), "native float64"),
    (lambda: memoryview(bytearray(64)).cast("q", (4, 2)), "native float64"),
    (lambda: [[0.0, 0.0]] * 4, "C-contiguous float64 array"),  # no buffer at all
])
def test_the_output_buffer_is_checked_before_anything_is_written(make: Any, message: str) -> None:
    out = make()
    before = None
    if isinstance(out, (bytearray, memoryview)) or isinstance(out, np.ndarray) and out.flags.c_contiguous:
        before = bytes(memoryview(out).cast("B"))
    with pytest.raises(ValueError, match=message):
        fastcsv._csvparse.parse_into(b"1,2\n3,4\n", 0, 8, out, 0, 2)
    if before is not None:
        assert bytes(memoryview(out).cast("B")) == before


def test_a_read_only_output_is_refused() -> None:
    out = np.zeros((4, 2))
    out.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        fastcsv._csvparse.parse_into(b"1,2\n", 0, 4, out, 0, 2)
    assert not out.any()
    with pytest.raises(ValueError, match="read-only"):
        fastcsv._csvparse.parse_into(b"1,2\n", 0, 4, memoryview(bytes(64)).cast("d", (4, 2)), 0, 2)


def test_any_writable_c_contiguous_float64_buffer_is_accepted() -> None:
    buffer = bytearray(32)
    assert fastcsv._csvparse.parse_into(b"1,2\n3,4\n", 0, 8, memoryview(buffer).cast("d", (2, 2)), 0, 2) == (2, 0, -1, -1)
    assert np.frombuffer(buffer).tolist() == [1, 2, 3, 4]
    assert fastcsv._csvparse.parse_into(b"", 0, 0, np.empty((0, 2), order="F"), 0, 2) == (0, 0, -1, -1)


def test_the_row_buffer_grows_in_place_when_nothing_else_refers_to_it(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG", logger="container.fastcsv")
    data = random_csv(500, 4, 3)
    sink = fastcsv.RowSink(capacity=1, chunk_bytes=256)  # grows many times
    assert sink.add(lambda: io.BytesIO(data)) == (500, 4)
    result = sink.result()
    assert "growing the row buffer" in caplog.text and "copying" not in caplog.text
    assert result.base is None and result.flags.owndata  # the one array, shrunk in place
    assert same_bits(result, numpy_parse(data))


def test_the_row_buffer_is_never_reallocated_under_a_live_view(caplog: pytest.LogCaptureFixture) -> None:
    """numpy's resize(refcheck=False) would move the data under the view (a use after free);
    a view held elsewhere makes the sink copy instead, and the view keeps its values."""
    caplog.set_level("DEBUG", logger="container.fastcsv")
    first, second = random_csv(10, 3, 4), random_csv(300, 3, 5)
    sink = fastcsv.RowSink(capacity=10, chunk_bytes=128)
    assert sink.add(lambda: io.BytesIO(first)) == (10, 3)
    assert sink._array is not None
    view = sink._array[:10]
    kept = view.copy()
    assert sink.add(lambda: io.BytesIO(second)) == (300, 3)
    assert "copying" in caplog.text
    assert same_bits(view, kept) and not np.shares_memory(view, sink._array)
    assert same_bits(sink.result(), numpy_parse(first + second))


@pytest.mark.parametrize("files", [
    {"a.csv": b"# label, f1, f2\n1,2\n3,4\n"},  # the comment's commas give the first width guess
    {"a.csv": b"# exported by hand, 2024\n" + b"\n" * 6, "b.csv": b"1,2,3\n4,5,6\n7,8,9\n", "c.csv": b"# x\n1,1,1\n"},
    {"a.csv": b"# a,b,c,d,e\n", "b.csv": b"1,2\n3,4\n"},
])
def test_a_first_file_the_c_parser_stops_on_does_not_fix_the_width(
        files: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by the fuzzer: the row buffer kept the width guessed from a refused file, and rows
    of another width were then written into it (a ValueError, or rows in the wrong layout)."""
    fast, slow = load_both_ways(write_channel(tmp_path, files), monkeypatch)
    assert same_bits(np.ascontiguousarray(fast.X), np.ascontiguousarray(slow.X))
    assert same_bits(fast.y, slow.y)


def test_the_powers_of_ten_table_is_what_its_generator_writes() -> None:
    """container/_csvparse_pow10.h is generated (scripts/gen_pow10.py): a hand edit, or a
    generator change not run, would give wrong digits that the fuzzer can take hours to hit."""
    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("gen_pow10", root / "scripts" / "gen_pow10.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    assert generator.render() == (root / "container" / "_csvparse_pow10.h").read_text()
    for q in range(-342, 309):  # 10^q scaled to 128 bits: truncated, rounded up, or (q < -27,
        # Lemire's construction: a wider quotient plus one, then truncated) within one unit
        power = Fraction(10) ** q
        scaled = power * Fraction(2) ** (127 - _floor_log2(power))
        value = generator.mantissa(q)
        if q >= 0:
            assert value == math.floor(scaled), q
        elif q >= -27:
            assert value == math.ceil(scaled), q
        else:
            assert math.floor(scaled) <= value <= math.ceil(scaled), q


def _floor_log2(value: Fraction) -> int:
    """floor(log2(value)) of a positive fraction, exactly."""
    guess = value.numerator.bit_length() - value.denominator.bit_length()
    return guess if Fraction(2) ** guess <= value else guess - 1
