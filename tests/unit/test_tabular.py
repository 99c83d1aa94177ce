"""Header-less numeric CSV, and saying exactly where it is not."""

from __future__ import annotations

import io

import numpy as np
import pytest

from container.tabular import CsvError, locate_error, parse


def error(data: bytes) -> CsvError:
    with pytest.raises(CsvError) as info:
        parse(data)
    return info.value


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"1,2,3\n4,5,6\n", [[1, 2, 3], [4, 5, 6]]),
        (b"1,2,3\r\n4,5,6\r\n", [[1, 2, 3], [4, 5, 6]]),  # CRLF, as Excel writes
        (b'"1","2",3\n4,"5",6\n', [[1, 2, 3], [4, 5, 6]]),  # quoted numbers
        (b"1,2\n\n3,4\n\n", [[1, 2], [3, 4]]),  # empty lines are skipped
        (b"1,2\n3,4", [[1, 2], [3, 4]]),  # no final newline
        (b" 1 , 2\n3,4\n", [[1, 2], [3, 4]]),  # spaces around numbers
        (b"1,-2.5e3\n0,.5\n", [[1, -2500], [0, 0.5]]),
        (b"5\n6\n", [[5], [6]]),  # a single column
    ],
)
def test_parse(data: bytes, expected: list) -> None:
    array = parse(data)
    assert array.dtype == np.float64
    np.testing.assert_array_equal(array, np.array(expected, dtype=float))


def test_missing_values_spelled_nan_are_numbers() -> None:
    array = parse(b"1,nan\n2,inf\n")
    assert np.isnan(array[0, 1]) and np.isinf(array[1, 1])


def test_empty_input_is_zero_rows() -> None:
    assert parse(b"").shape == (0, 0)
    assert parse(b"\n\n").shape == (0, 0)


def test_stream_input_with_reopen_locates_errors() -> None:
    data = b"1,2\n3,x\n"
    with pytest.raises(CsvError) as info:
        parse(io.BytesIO(data), reopen=lambda: io.BytesIO(data))
    assert (info.value.line, info.value.column) == (2, 2)


def test_stream_input_without_reopen_still_fails_as_csv_error() -> None:
    with pytest.raises(CsvError) as info:
        parse(io.BytesIO(b"1,2\n3,x\n"))
    assert info.value.line is None and "x" in str(info.value)


def test_non_numeric_value_exact_line_and_column() -> None:
    exc = error(b"1,2,3\n4,5,6\n7,8,oops\n")
    assert (exc.line, exc.column) == (3, 3)
    assert "'oops' is not a number" in str(exc)
    assert str(exc).startswith("line 3, column 3: ")
    assert not exc.looks_like_header


def test_line_numbers_count_blank_lines_like_an_editor() -> None:
    exc = error(b"1,2\n\n\n3,x\n")
    assert (exc.line, exc.column) == (4, 2)


def test_crlf_does_not_shift_columns_or_lines() -> None:
    exc = error(b"1,2\r\n3,4\r\n5,abc\r\n")
    assert (exc.line, exc.column) == (3, 2)
    assert "'abc'" in exc.reason


@pytest.mark.parametrize(
    "header", [b"label,f1,f2,f3\n", b"species,sepal_length,sepal_width,petal_length\n", b'"y","a","b","c"\n']
)
def test_header_row_is_recognised(header: bytes) -> None:
    exc = error(header + b"1,2,3,4\n")
    assert exc.line == 1 and exc.column == 1
    assert exc.looks_like_header


def test_a_bad_first_line_that_is_mostly_numbers_is_not_called_a_header() -> None:
    exc = error(b"1,2,x,4\n5,6,7,8\n")
    assert (exc.line, exc.column) == (1, 3)
    assert not exc.looks_like_header


def test_text_in_a_later_line_is_not_a_header() -> None:
    exc = error(b"1,2,3\na,b,c\n")
    assert exc.line == 2 and not exc.looks_like_header


@pytest.mark.parametrize(
    ("data", "line", "found", "expected"),
    [
        (b"1,2,3\n4,5\n", 2, 2, 3),
        (b"1,2\n3,4\n5,6,7\n", 3, 3, 2),
        (b"1,2,3\n\n4,5,6,7\n", 3, 4, 3),
    ],
)
def test_ragged_rows(data: bytes, line: int, found: int, expected: int) -> None:
    exc = error(data)
    assert exc.line == line and exc.column is None
    assert f"has {found} columns, but line 1 has {expected}" in exc.reason


@pytest.mark.parametrize(("data", "column"), [(b"1,,3\n", 2), (b"1,2,\n", 3), (b",1,2\n", 1)])
def test_empty_fields(data: bytes, column: int) -> None:
    exc = error(b"7,8,9\n" + data)
    assert (exc.line, exc.column) == (2, column)
    assert "empty" in exc.reason and "nan" in exc.reason


def test_non_utf8_bytes() -> None:
    exc = error(b"1,2\n3,4\n5,\xff\xfe\n")
    assert exc.line == 3
    assert "UTF-8" in exc.reason


def test_quoted_field_with_a_comma_is_one_field() -> None:
    exc = error(b'1,2\n3,"4,5"\n')
    assert (exc.line, exc.column) == (2, 2)
    assert "'4,5' is not a number" in exc.reason


def test_quoted_text_field() -> None:
    exc = error(b'1,2\n3,"abc"\n')
    assert (exc.line, exc.column) == (2, 2)
    assert "'abc'" in exc.reason


def test_python_only_number_spellings_are_located() -> None:
    # float() accepts 1_000, numpy does not: the error must still point at the field.
    exc = error(b"1,2\n3,1_000\n")
    assert (exc.line, exc.column) == (2, 2)


def test_whitespace_only_line_is_located() -> None:
    exc = error(b"1,2\n   \n3,4\n")
    assert exc.line == 2


def test_utf8_byte_order_mark_is_ignored() -> None:
    # Excel's "CSV UTF-8" starts the file with a BOM.
    np.testing.assert_array_equal(parse(b"\xef\xbb\xbf1,2\n3,4\n"), [[1, 2], [3, 4]])


def test_locate_error_returns_none_for_good_csv() -> None:
    assert locate_error(io.BytesIO(b"1,2\n3,4\n")) is None


def test_comment_lines_that_numpy_skips_do_not_shift_the_error() -> None:
    exc = error(b"# exported by a tool\n1,2\n3,4 # fine\n5,x\n")
    assert (exc.line, exc.column) == (4, 2)


def test_a_stray_carriage_return_is_a_located_csv_error() -> None:
    import pytest as _pytest

    from container.tabular import CsvError, parse as _parse

    with _pytest.raises(CsvError) as caught:
        _parse(b"1,2\n3,4\r5\n")
    assert caught.value.line == 2


def test_find_record_counts_rows_as_the_parsers_do() -> None:
    import io

    from container.tabular import find_record

    numeric = b"# comment\n1,2\n\n3,4 # note\n5,6\n"
    assert find_record(io.BytesIO(numeric), 0, comments=True) == (2, ["1", "2"])
    assert find_record(io.BytesIO(numeric), 1, comments=True) == (4, ["3", "4 "])
    assert find_record(io.BytesIO(numeric), 7, comments=True) == 3  # only three rows
    table = b'\xef\xbb\xbfa,b\n"x\ny",1\n\nz,2\n'
    assert find_record(io.BytesIO(table), 0, header=True) == (2, ["x\ny", "1"])
    assert find_record(io.BytesIO(table), 1, header=True) == (5, ["z", "2"])
