"""Header-less numeric CSV, the format of SageMaker's built-in algorithms, to float arrays.

The fast path hands the bytes to numpy's C parser. When it fails, locate_error reads the
same bytes again in Python to say exactly where and why, with 1-based line and column
numbers that match what an editor shows. Only failures pay for that second pass.
"""

from __future__ import annotations

import csv
import io
import warnings
from dataclasses import dataclass
from typing import BinaryIO, Callable

import numpy as np

from . import fastcsv


@dataclass
class CsvError(ValueError):
    """A located problem in CSV text."""

    line: int | None
    column: int | None
    reason: str
    looks_like_header: bool = False

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
            if not _is_number(field):
                header = number == first_line and _mostly_text(fields)
                if field == "":
                    reason = "is empty: write a missing value as nan"
                else:
                    reason = f"{field!r} is not a number"
                return CsvError(number, column, reason, looks_like_header=header)
    return None


def _is_number(field: str) -> bool:
    """What numpy's parser accepts: float() also takes digit separators (1_000); numpy does not."""
    if "_" in field:
        return False
    try:
        float(field)
        return True
    except ValueError:
        return False


def _mostly_text(fields: list[str]) -> bool:
    return sum(not _is_number(f) for f in fields) * 2 > len(fields)
