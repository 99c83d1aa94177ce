"""CSV text to arrays, and saying exactly where it is wrong.

Header-less numeric CSV, the format of SageMaker's built-in algorithms, goes to a float64
array: the C parser (fastcsv) first, numpy's parser for what it does not take. When both
fail, locate_error reads the same bytes again in Python to say where and why, with 1-based
line and column numbers that match what an editor shows. Only failures pay for that pass.

CSV with text columns or missing values is read by frames.py; locate_table_error is its
locator, with the same kind of answer.
"""

from __future__ import annotations

import csv
import io
import warnings
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterable

import numpy as np

from . import fastcsv


#: Fields that mean "no value" in CSV: empty, or the usual spellings of it. In a numeric column
#: numpy's "nan" is a number already; in a text column these are missing too, never a category.
MISSING_MARKERS = ("", "NA", "N/A", "NaN", "nan", "null", "NULL")

#: CsvError.kind: a field that is text where a number must be, an empty field, anything else.
TEXT, EMPTY, STRUCTURE = "text", "empty", "structure"


@dataclass
class CsvError(ValueError):
    """A located problem in CSV text."""

    line: int | None
    column: int | None
    reason: str
    looks_like_header: bool = False
    #: TEXT and EMPTY are values a table with text columns and missing values may hold.
    kind: str = STRUCTURE
    #: The field at fault, for TEXT and EMPTY.
    value: str | None = None

    @property
    def missing_value(self) -> bool:
        """The field is empty, or a spelling of "no value" (MISSING_MARKERS)."""
        return self.kind in (TEXT, EMPTY) and (self.value or "") in MISSING_MARKERS

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column {self.column}")
        return f"{', '.join(where)}: {self.reason}" if where else self.reason


def parse(source: bytes | BinaryIO, *, reopen: Callable[[], BinaryIO] | None = None) -> np.ndarray:
    """Parse CSV into a 2-D float64 array (0 rows when the input is empty).

    `source` is the whole payload or an open binary stream. For a stream, `reopen` gives a
    fresh one for locating an error; without it the error is reported as numpy words it.
    A payload goes to the C parser first (fastcsv); whatever it does not accept comes here.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        stops: list[int] = []
        fast = fastcsv.parse_bytes(source, stops=stops)
        if fast is not None:
            return fast
        # Where the C parser stopped, the error is usually right there: locate it from that
        # line instead of parsing and scanning the whole payload again (same answer, fast).
        lines = fastcsv.locatable(source, stops[0]) if stops else None
        located = locate_error(lines) if lines is not None else None  # type: ignore[arg-type]
        if located is not None:
            raise located
    stream = io.BytesIO(source) if isinstance(source, (bytes, bytearray, memoryview)) else source
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data"
            array = np.loadtxt(
                # utf-8-sig: Excel's "CSV UTF-8" starts the file with a byte order mark.
                stream, delimiter=",", dtype=np.float64, ndmin=2, quotechar='"', encoding="utf-8-sig"
            )
    except (ValueError, UnicodeDecodeError) as exc:
        if isinstance(source, (bytes, bytearray, memoryview)):
            raise locate_error(io.BytesIO(source)) or CsvError(None, None, str(exc)) from None
        if reopen is not None:
            with reopen() as again:
                raise locate_error(again) or CsvError(None, None, str(exc)) from None
        raise CsvError(None, None, str(exc)) from None
    if array.size == 0:
        return np.empty((0, 0), dtype=np.float64)
    return array


def locate_error(stream: BinaryIO) -> CsvError | None:
    """Read CSV line by line and describe the first line numpy would reject, if any."""
    expected: int | None = None
    first_line: int | None = None
    for number, raw in enumerate(stream, start=1):
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            return CsvError(number, None, "is not valid UTF-8 text (is the file binary?)")
        text = text.rstrip("\r\n")
        if "#" in text and '"' not in text:
            text = text.split("#", 1)[0]  # numpy drops comments, so line numbers stay in step
        if not text:
            continue  # numpy skips empty lines, but not lines of spaces
        if not text.strip():
            return CsvError(number, None, "holds only spaces: delete the line (empty lines are fine)")
        # The csv module splits as numpy does: a quoted field may hold a comma.
        try:
            fields = [f.strip() for f in next(csv.reader([text]), [])]
        except csv.Error:  # a bare carriage return inside the line, for one
            return CsvError(number, None, "has a stray carriage return (\\r) inside it: end lines with \\n or \\r\\n")
        if expected is None:
            expected, first_line = len(fields), number
        elif len(fields) != expected:
            return CsvError(
                number,
                None,
                f"has {len(fields)} columns, but line {first_line} has {expected}: "
                "every row needs the same number of columns",
            )
        for column, field in enumerate(fields, start=1):
            if not is_number(field):
                header = number == first_line and _mostly_text(fields)
                if field == "":
                    reason, kind = "is empty: write a missing value as nan", EMPTY
                else:
                    reason, kind = f"{field!r} is not a number", TEXT
                return CsvError(number, column, reason, looks_like_header=header, kind=kind, value=field)
    return None


def locate_table_error(stream: BinaryIO, *, numeric: Iterable[int] = (), header: bool = False,
                       width: int | None = None, width_source: str | None = None) -> CsvError | None:
    """The first thing in CSV with text columns that frames.read refuses or would misread.

    Rows must all have as many fields as the first, or `width` (which `width_source` words,
    "channel 'train' has 17"); a column whose 0-based position is in `numeric` must hold
    numbers or missing values. Quoted fields may span lines; line numbers are those an
    editor shows. None when the text is fine.
    """
    numeric = tuple(numeric)
    reader = None
    try:
        reader = csv.reader(io.TextIOWrapper(stream, encoding="utf-8-sig", newline=""), strict=True)
        expected, first_line, last = width, None, 0
        for fields in reader:
            line, last = last + 1, reader.line_num  # where the record starts: it may span lines
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # empty lines hold no record
            if first_line is None:
                first_line = line
                expected = len(fields) if expected is None else expected
            if len(fields) != expected:
                than = width_source or f"line {first_line} has {expected}"
                return CsvError(line, None, f"has {len(fields)} columns, but {than}: "
                                "every row needs the same number of columns")
            if header and line == first_line:
                continue
            for column in numeric:
                field = fields[column].strip()
                if field not in MISSING_MARKERS and not is_number(field):
                    return CsvError(line, column + 1, f"{field!r} is not a number", kind=TEXT, value=field)
    except UnicodeDecodeError:
        return CsvError(None, None, "is not valid UTF-8 text (is the file binary?)")
    except csv.Error as exc:
        line = reader.line_num if reader is not None else 0
        return CsvError(line or None, None, f"is not valid CSV ({exc})")
    return None


def find_record(stream: BinaryIO, index: int, *, header: bool = False,
                comments: bool = False) -> tuple[int, list[str]] | int:
    """Where the index-th record (0-based) of a CSV file starts: (1-based line, its fields),
    or, when the file has fewer records, how many it has.

    Records are counted as the parsers count rows: empty lines hold none, a header line
    (`header`) is not one, and with `comments` (numpy's rule, the numeric path) a `#` starts
    a comment, so a line holding only a comment is empty. Quoted fields may span lines.
    """
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="", errors="replace")
    lines: Iterable[str] = text
    if comments:
        lines = (line.split("#", 1)[0] + "\n" if "#" in line and '"' not in line else line for line in text)
    reader = csv.reader(lines)
    count, last, seen_header = 0, 0, not header
    for fields in reader:
        line, last = last + 1, reader.line_num
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue
        if not seen_header:
            seen_header = True
            continue
        if count == index:
            return line, fields
        count += 1
    return count


def header_like(lines: Iterable[list[str]]) -> bool:
    """Whether the first of these rows reads as column names rather than data.

    It does when every field of it is text and some column it names holds numbers (or
    missing values) in every row after it: "age" over 41, 35, ... A table of text only
    cannot tell, and is taken as data.
    """
    rows = [row for row in lines if row and any(f.strip() for f in row)]
    if len(rows) < 2:
        return False
    first, rest = [f.strip() for f in rows[0]], rows[1:]
    if not all(f and not is_number(f) for f in first):
        return False
    for column in range(len(first)):
        values = [row[column].strip() for row in rest if column < len(row)]
        numbers = [v for v in values if v not in MISSING_MARKERS]
        if numbers and len(values) == len(rest) and all(is_number(v) for v in numbers):
            return True
    return False


def is_number(field: str) -> bool:
    """What numpy's parser accepts: float() also takes digit separators (1_000); numpy does not."""
    if "_" in field:
        return False
    try:
        float(field)
        return True
    except ValueError:
        return False


def _mostly_text(fields: list[str]) -> bool:
    return sum(not is_number(f) for f in fields) * 2 > len(fields)
