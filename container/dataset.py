"""A channel's CSV records as the model's input (X) and the labels (y).

Header-less numeric CSV with the label first, SageMaker's built-in convention, takes the
numeric path: the C parser straight into one float64 array (fastcsv), as it always has.
Anything else (a header, text in a column, empty fields, the label elsewhere) is read by
frames.read (pandas) into a table: numeric columns become float64 features, text columns
categorical ones. The training channel decides the schema; the other channels are read with
it, so a text value in a column training had as numbers is an error naming its line.
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, Iterator

import numpy as np

from . import channels as channels_mod
from . import fastcsv, frames
from .channels import Channel, Source
from .errors import ConfigError, DataError
from .hyperparameters import TrainingOptions
from .paths import Paths
from .schema import CATEGORICAL, FORCED, INFERRED, NUMERIC, Feature, Schema, resolve_column
from .tabular import (EMPTY, TEXT, CsvError, find_record, header_like, locate_error, locate_table_error,
                      parse)

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

#: Lines of the first file read to tell a header from data.
PEEK_LINES = 50
PEEK_BYTES = 1 << 16


#: Errors reading a file's bytes: I/O, and gzip that is cut short or corrupt.
READ_ERRORS = (OSError, EOFError, zlib.error)
#: The largest float32: estimators that compute in float32 (trees, forests) refuse more.
FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class Origin:
    """Where a channel's rows came from, to name the file, line and column of one of them."""

    sources: tuple[Source, ...]
    #: The 0-based file column of each feature, and of the label.
    columns: tuple[int, ...]
    label_column: int
    #: Rows per source when the loader counted them; None: counted while looking.
    rows: tuple[int, ...] | None = None
    #: Each file starts with a header line, which is not a row.
    header: bool = False
    #: numpy's rule (the numeric path): `#` starts a comment.
    comments: bool = False

    def where(self, row: int, feature: int | None = None) -> tuple[str, str | None]:
        """("file 'a.csv', line 7, column 3", the field's text) for a row of the channel
        (0-based) and a feature (None: the label). Reads the files again: for errors only."""
        column = self.label_column if feature is None else self.columns[feature]
        remaining = row
        for index, source in enumerate(self.sources):
            if self.rows is not None and remaining >= self.rows[index]:
                remaining -= self.rows[index]
                continue
            try:
                with source.open() as stream:
                    found = find_record(stream, remaining, header=self.header, comments=self.comments)
            except (*READ_ERRORS, csv.Error, ValueError):
                return f"file '{source.display}', row {remaining + 1} of the file, column {column + 1}", None
            if isinstance(found, int):
                remaining -= found
                continue
            line, fields = found
            value = fields[column].strip() if column < len(fields) else None
            return f"file '{source.display}', line {line}, column {column + 1}", value
        return f"row {row + 1} of the channel, column {column + 1}", None


@dataclass
class Dataset:
    channel: str
    X: Any  # a float64 array, or a DataFrame (columns 0, 1, 2...) when some features are categorical
    y: np.ndarray  # float64 numbers, or objects (text labels; NaN where missing)
    files: int
    schema: Schema
    #: Whether a feature has a missing value (None: not known, look at X).
    missing: bool | None = None
    origin: Origin | None = field(default=None, repr=False)

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def rows(self) -> int:
        return int(self.X.shape[0])

    def where(self, row: int, feature: int | None = None) -> str:
        """A row (0-based) as error messages name it: its file, line and column when known."""
        if self.origin is None:
            return f"row {row + 1} of the channel"
        return f"{self.origin.where(row, feature)[0]} (row {row + 1} of the channel)"


class NotNumeric(Exception):
    """A numeric read met text or an empty field (the message says where): the channel is a
    table, not an array."""


def load_training(channel: Channel, paths: Paths, options: TrainingOptions) -> Dataset:
    """The training channel, and the schema it implies. Raises DataError or ConfigError."""
    srcs = [s.readable_twice() for s in channels_mod.sources(channel, paths)]
    if not channel.header and options.label_is_first and not options.categorical_columns:
        try:
            return _load_numeric(channel, srcs, strict=False)
        except NotNumeric as exc:
            log.info("Channel %s: %s, so it is read as a table (text columns are categorical, "
                     "empty fields missing values).", channel.name, exc)
    return _load_table(channel, srcs, options=options)


def load_like(channel: Channel, paths: Paths, schema: Schema, *, text_labels: bool) -> Dataset:
    """A validation or test channel, read with the training channel's schema."""
    srcs = [s.readable_twice() for s in channels_mod.sources(channel, paths)]
    if not channel.header and schema.plain and schema.label == 0:
        try:
            loaded = _load_numeric(channel, srcs, strict=False)
        except NotNumeric:
            pass
        else:
            if not text_labels:
                return loaded
    return _load_table(channel, srcs, schema=schema, text_labels=text_labels)


def has_header_row(channel: Channel, paths: Paths) -> bool:
    """Whether the channel's first line reads as column names (tabular.header_like), for a
    caller that decides the header itself rather than from a ContentType (`process`)."""
    rows, _ = _peek(channels_mod.sources(channel, paths))
    return header_like(rows[:PEEK_LINES])


def load(channel: Channel, paths: Paths) -> Dataset:
    """Header-less numeric CSV, label first: every file of the channel as one float64 array.
    Raises DataError naming the file and line at fault, text and empty fields included."""
    return _load_numeric(channel, channels_mod.sources(channel, paths), strict=True)


def _load_numeric(channel: Channel, srcs: list[Source], *, strict: bool) -> Dataset:
    """load(); with strict=False, text or an empty field raises NotNumeric instead."""
    if fastcsv.enabled() and not any(s.is_fifo for s in srcs):  # a pipe cannot be read twice
        data, rows = _load_into_one_array(channel, srcs, strict)
    else:
        data, rows = _load_in_parts(channel, srcs, strict)
    if data.shape[1] < 2:
        raise DataError(
            f"Channel '{channel.name}' has only one column.",
            hint="Each row needs the label in the first column and at least one feature after it.",
        )
    origin = Origin(tuple(srcs), tuple(range(1, data.shape[1])), 0, tuple(rows), comments=True)
    loaded = Dataset(channel.name, X=data[:, 1:], y=data[:, 0], files=len(srcs),
                     schema=Schema.numeric(data.shape[1] - 1), origin=origin)
    refuse_infinite(loaded)
    return loaded


def _load_in_parts(channel: Channel, srcs: list[Source], strict: bool) -> tuple[np.ndarray, list[int]]:
    """Each file parsed on its own (numpy, or the C parser on a file's bytes), then joined;
    the array and the rows of each file."""
    parts: list[np.ndarray] = []
    rows: list[int] = []
    first: tuple[Source, int] | None = None
    for source in srcs:
        array = _parse_source(source, strict)
        rows.append(array.shape[0])
        if array.shape[0] == 0:
            log.warning("channel %s: %s has no rows", channel.name, source.display)
            continue
        if first is None:
            first = (source, array.shape[1])
        elif array.shape[1] != first[1]:
            raise DataError(
                f"Channel '{channel.name}', file '{source.display}' has {array.shape[1]} "
                f"columns, but '{first[0].display}' has {first[1]}.",
                hint="Every file of a channel needs the same columns: the label, then the features.",
            )
        parts.append(array)
    if not parts:
        raise _no_rows(channel, srcs)
    data = parts[0] if len(parts) == 1 else np.concatenate(parts)
    return data, rows


def _load_into_one_array(channel: Channel, srcs: list[Source], strict: bool) -> tuple[np.ndarray, list[int]]:
    """The C parser: every file straight into one array, sized by a newline count, so peak
    memory stays near the array (no per-file arrays, no concatenate). A file the C parser
    stops on is parsed again by the numpy path, which accepts it after all or raises the
    located error; either way the result and the messages are _load_in_parts()'s."""
    try:
        capacity = fastcsv.RowSink.count([s.path for s in srcs])
    except OSError:
        capacity = None  # the per-file open below reports it
    sink = fastcsv.RowSink(capacity or 0)
    first: tuple[Source, int] | None = None
    counts: list[int] = []
    for source in srcs:
        try:
            added = sink.add(source.open)
        except READ_ERRORS as exc:
            raise read_error(source, exc) from None
        array = None
        if added is None:
            _raise_located(source, sink.stopped_at, strict)  # most stops are errors: say where, fast
            array = _parse_source(source, strict)
            added = (array.shape[0], array.shape[1] if array.shape[0] else 0)
        rows, width = added
        counts.append(rows)
        if rows == 0:
            log.warning("channel %s: %s has no rows", channel.name, source.display)
            continue
        if first is None:
            first = (source, width)
        elif width != first[1]:
            raise DataError(
                f"Channel '{channel.name}', file '{source.display}' has {width} "
                f"columns, but '{first[0].display}' has {first[1]}.",
                hint="Every file of a channel needs the same columns: the label, then the features.",
            )
        if array is not None:
            sink.add_array(array)
            del array
    if first is None:
        raise _no_rows(channel, srcs)
    return sink.result(), counts


def _raise_located(source: Source, offset: int | None, strict: bool = True) -> None:
    """The error the numpy path would report for a file the C parser stopped in at `offset`,
    found from there (fastcsv.locatable_file) instead of parsing and scanning the whole file
    again; nothing when that cannot tell, and the numpy path then decides."""
    if offset is None:
        return
    try:
        lines = fastcsv.locatable_file(source.open, offset)
        located = locate_error(lines) if lines is not None else None  # type: ignore[arg-type]
    except READ_ERRORS:
        return  # the numpy path reports it
    if located is not None:
        raise _csv_error(source, located, strict) from None


def _csv_error(source: Source, exc: CsvError, strict: bool = True) -> Exception:
    if not strict and exc.kind in (TEXT, EMPTY):
        return NotNumeric(f"file '{source.display}', {str(exc).rstrip('.')}")
    hint = "Rows are header-less CSV: the label first, then numeric features."
    if exc.looks_like_header:
        hint = HEADER_HINT
    return DataError(
        f"Channel '{source.channel}', file '{source.display}', {str(exc).rstrip('.')}.", hint=hint
    )


HEADER_HINT = (
    "The first line looks like a header row. Set the channel's ContentType to "
    "text/csv;header=present to use its names, or remove it (pandas: df.to_csv(path, "
    "header=False, index=False))."
)


def _parse_source(source: Source, strict: bool = True) -> np.ndarray:
    try:
        with source.open() as stream:
            if source.is_fifo:
                # A FIFO cannot be read a second time to locate an error: read it once and
                # parse the bytes, which also locates errors (line and column) in memory.
                return parse(stream.read())
            return parse(stream, reopen=source.open)
    except CsvError as exc:
        raise _csv_error(source, exc, strict) from None
    except READ_ERRORS as exc:
        raise read_error(source, exc) from None


def read_error(source: Source, exc: BaseException) -> DataError:
    """A file that cannot be read, named, with the reason in words: gzip cut short (and how
    far it got), gzip that is corrupt, or the system's own words."""
    where = f"Channel '{source.channel}', file '{source.display}'"
    if isinstance(exc, EOFError):
        lines = _lines_before_error(source)
        return DataError(
            f"{where} is cut short: its gzip data stops after {lines} complete line(s) of CSV, "
            "before the end-of-stream marker.",
            hint="The file was truncated (an interrupted upload or copy): upload it again. "
            "`gzip -t FILE` checks a gzip file.")
    if isinstance(exc, (zlib.error, gzip.BadGzipFile)):
        return DataError(f"{where} is not valid gzip ({exc}).",
                         hint="Upload the file again, or store it uncompressed. `gzip -t FILE` checks a gzip file.")
    return DataError(f"{where} cannot be read: {exc}.")


def _lines_before_error(source: Source) -> int:
    """Complete lines in what a truncated gzip file decompresses to, before its data stops."""
    lines = 0
    try:
        with (io.BytesIO(source.data) if source.data is not None else open(source.path, "rb")) as raw:
            inflate = zlib.decompressobj(zlib.MAX_WBITS | 16)  # gzip framing
            while chunk := raw.read(1 << 20):
                while chunk:
                    lines += inflate.decompress(chunk).count(b"\n")
                    chunk = inflate.unused_data if inflate.eof else b""
                    if inflate.eof:  # a gzip file may hold several members, one after another
                        inflate = zlib.decompressobj(zlib.MAX_WBITS | 16)
    except (OSError, zlib.error):
        pass
    return lines


def _no_rows(channel: Channel, srcs: list[Source], header: bool = False) -> DataError:
    """The channel has files but no rows: say, file by file, what each holds instead."""
    described = [f"'{s.display}' {_emptiness(s, header)}" for s in srcs[:5]]
    more = f"; and {len(srcs) - 5} more" if len(srcs) > 5 else ""
    return DataError(
        f"Channel '{channel.name}' has {len(srcs)} file(s) but no rows: {'; '.join(described)}{more}.",
        hint="Check that the files hold CSV records (an export that wrote nothing, or the wrong S3 prefix?).")


def _emptiness(source: Source, header: bool) -> str:
    """What a file without rows holds: nothing, a header, empty lines, or gzip of nothing."""
    try:
        if source.data is None and source.path.is_file() and source.path.stat().st_size == 0:
            return "is empty (0 bytes)"
        with source.open() as stream:
            text = stream.read(PEEK_BYTES)
            gzipped = isinstance(stream, gzip.GzipFile)
    except READ_ERRORS as exc:
        return f"cannot be read ({exc})"
    lines = [line for line in text.splitlines() if line.strip(b" \t\r\xef\xbb\xbf")]
    if not text:
        return "is gzip of nothing (0 bytes once decompressed)" if gzipped else "is empty"
    if header and len(lines) == 1:
        return "holds only its header line"
    if not lines:
        return "holds only empty lines"
    return "holds no CSV records"


# -- tables: a header, text columns, missing values -----------------------------------------


def _load_table(channel: Channel, srcs: list[Source], *, options: TrainingOptions | None = None,
                schema: Schema | None = None, text_labels: bool = False) -> Dataset:
    """The channel through frames.read. With `options` (the training channel) the schema is
    inferred; with `schema` (the others) the columns are read as training read them."""
    first_rows, first = _peek(srcs)
    if first is None:
        raise _no_rows(channel, srcs, channel.header)
    width = len(first_rows[0])
    header = tuple(f.strip() for f in first_rows[0]) if channel.header else None
    if header is None and header_like(first_rows[:PEEK_LINES]):
        shown = ", ".join(repr(f) for f in first_rows[0][:6])
        raise DataError(f"Channel '{channel.name}', file '{first.display}', line 1 looks like a header "
                        f"row ({shown}{', ...' if width > 6 else ''}).", hint=HEADER_HINT)
    if header is not None:
        _check_header(channel, first, header)
    if width < 2:
        raise DataError(
            f"Channel '{channel.name}' has only one column.",
            hint="Each row needs the label and at least one feature.",
        )
    if schema is not None:
        label, kinds = _columns_like(channel, schema, header, width, text_labels)
    else:
        assert options is not None
        label, kinds = _columns_for_training(options, header, width)
    keys = list(header) if header is not None else list(range(width))
    numeric_positions = sorted(p for p, kind in kinds.items() if kind == NUMERIC)
    try:
        frame = frames.read(lambda: _Chain(srcs, header is not None), header=header is not None,
                            kinds={keys[p]: kind for p, kind in kinds.items()})
    except frames.FrameError as exc:
        raise _table_error(channel, srcs, header is not None, width, numeric_positions) or DataError(
            f"Channel '{channel.name}' cannot be read as CSV: {exc}.") from None
    except _HeaderMismatch as exc:
        raise DataError(str(exc), hint="Every file of a channel needs the same header.") from None
    except _SourceError as exc:
        raise read_error(exc.source, exc.error) from None
    if frame.shape[1] != width:
        raise _table_error(channel, srcs, header is not None, width, numeric_positions) or DataError(
            f"Channel '{channel.name}' has rows of {frame.shape[1]} columns, but its first line has {width}.")
    if len(frame) == 0:
        raise _no_rows(channel, srcs, header is not None)
    facts = {column: _facts(frame[column]) for column in frame.columns}
    if facts[frame.columns[-1]].missing:
        # pandas fills a row with too few fields with missing values: tell those apart from
        # empty last fields (only when the last column has missing values at all).
        located = _table_error(channel, srcs, header is not None, width, ())
        if located is not None:
            raise located
    y_series = frame.pop(keys[label])
    if schema is None:
        schema = _infer_schema(channel, frame, header, label, kinds, facts)
    elif header is not None and schema.names is not None:
        frame = frame[list(schema.names)]  # the training column order
    missing = any(facts[column].missing for column in frame.columns)
    origin = Origin(tuple(srcs), tuple(keys.index(column) for column in frame.columns), label,
                    header=header is not None)
    frame.columns = range(frame.shape[1])  # the model takes columns by position (schema.OBJECTS)
    y = _labels(y_series)
    X: Any = frame
    if not schema.categorical:
        X = frame.to_numpy(dtype=np.float64)
        del frame
    loaded = Dataset(channel.name, X=X, y=y, files=len(srcs), schema=schema, missing=missing, origin=origin)
    refuse_infinite(loaded)
    return loaded


# -- values no estimator takes ----------------------------------------------------------------

#: Rows checked at a time, so that a check needs memory for a block, never for the whole array.
CHECK_ROWS = 1 << 16


def refuse_infinite(ds: Dataset) -> None:
    """A DataError naming the first infinite feature value (inf, -Infinity, 1e999) by file,
    line and column: scikit-learn refuses infinity in X, but takes NaN as a missing value."""
    found = _first(ds.X, _infinite, quick=_all_finite)
    if found is None:
        return
    row, feature = found
    where, value = ds.origin.where(row, feature) if ds.origin else (f"row {row + 1}", None)
    shown = repr(value) if value else "a value"
    what = "is infinite" if value is None or value.strip().lstrip("+-").lower() in ("inf", "infinity") \
        else "is too large for a float64 (it reads as infinity)"
    raise DataError(
        f"Channel '{ds.channel}', {where}: {shown} {what}; features must be finite numbers.",
        hint="Replace it with a finite number, or leave the field empty (or write nan) for a missing value.")


def float32_overflow(ds: Dataset, estimator_name: str) -> DataError | None:
    """For an estimator that computes in float32 and refused the data: the first feature
    value beyond float32's range (about 3.4e38), located; None when there is none."""
    found = _first(ds.X, lambda block: np.abs(block) > FLOAT32_MAX)
    if found is None:
        return None
    row, feature = found
    where, value = ds.origin.where(row, feature) if ds.origin else (f"row {row + 1}", None)
    return DataError(
        f"Channel '{ds.channel}', {where}: {value or 'a value'!r} is too large for estimator '{estimator_name}', "
        f"which computes in float32 (at most {FLOAT32_MAX:.3g}).",
        hint="Scale the feature down (or cap it), or use an estimator that computes in float64 "
        "(gradient_boosting, logistic_regression, ridge).")


def _infinite(block: np.ndarray) -> np.ndarray:
    return np.isinf(block)


def _all_finite(block: np.ndarray) -> bool:
    """True when no value is infinite or NaN, by one sum (no mask): the common case is cheap."""
    with np.errstate(invalid="ignore", over="ignore"):
        return bool(np.isfinite(block.sum()))


def _first(X: Any, mask: Callable[[np.ndarray], np.ndarray],
           quick: Callable[[np.ndarray], bool] | None = None) -> tuple[int, int] | None:
    """(row, feature) of the first value where mask() is true, in row order; X is a float
    array or a DataFrame (then only its numeric columns are looked at)."""
    if isinstance(X, np.ndarray):
        if X.dtype.kind != "f":
            return None
        for start in range(0, X.shape[0], CHECK_ROWS):
            block = X[start:start + CHECK_ROWS]
            if quick is not None and quick(block):
                continue
            hits = mask(block)
            if hits.any():
                row = int(np.argmax(hits.any(axis=1)))
                return start + row, int(np.argmax(hits[row]))
        return None
    best: tuple[int, int] | None = None
    for feature, column in enumerate(X.columns):
        if not frames.is_numeric(X[column]):
            continue
        values = X[column].to_numpy(dtype=np.float64)
        if quick is not None and quick(values):
            continue
        hits = np.flatnonzero(mask(values))
        if hits.size and (best is None or hits[0] < best[0]):
            best = (int(hits[0]), feature)
    return best


@dataclass(frozen=True)
class _Facts:
    """A column's missing values, and whether it holds text (one cheap pass)."""

    missing: int
    text: bool


def _facts(series: "pd.Series") -> _Facts:
    if frames.is_numeric(series):
        return _Facts(int(np.isnan(series.to_numpy(dtype=np.float64)).sum()), False)
    return _Facts(int(series.isna().sum()), True)


def _peek(srcs: list[Source]) -> tuple[list[list[str]], Source | None]:
    """The first lines of the first file that has any, split into fields."""
    for source in srcs:
        try:
            with source.open() as stream:
                head = stream.read(PEEK_BYTES)
                more = bool(stream.read(1))
        except READ_ERRORS as exc:
            raise read_error(source, exc) from None
        text = head.decode("utf-8-sig", errors="replace")
        if more and "\n" in text:
            text = text[:text.rindex("\n")]  # no cut-off last line
        try:
            rows = [row for row in csv.reader(io.StringIO(text)) if row and any(f.strip() for f in row)]
        except csv.Error:
            rows = [line.split(",") for line in text.splitlines() if line.strip()]
        if rows:
            return rows, source
    return [], None


def _check_header(channel: Channel, source: Source, header: tuple[str, ...]) -> None:
    empty = [i + 1 for i, name in enumerate(header) if not name]
    if empty:
        raise DataError(f"Channel '{channel.name}', file '{source.display}': the header has no name for "
                        f"column {empty[0]}.", hint="Name every column in the header row.")
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise DataError(f"Channel '{channel.name}', file '{source.display}': the header names column "
                            f"'{name}' twice.", hint="Give every column its own name.")
        seen.add(name)


def _columns_for_training(options: TrainingOptions, header: tuple[str, ...] | None,
                          width: int) -> tuple[int, dict[int, str]]:
    """The label's file column, and the columns categorical_columns forces."""
    label = resolve_column(options.label_column if options.label_column is not None else 0,
                           header, width, "label_column")
    kinds: dict[int, str] = {}
    for ref in options.categorical_columns:
        position = resolve_column(ref, header, width, "categorical_columns")
        if position == label:
            raise ConfigError(f"categorical_columns names {ref!r}, which is the label column.",
                              hint="List features only; the label's type follows from the estimator.")
        kinds[position] = CATEGORICAL
    return label, kinds


def _columns_like(channel: Channel, schema: Schema, header: tuple[str, ...] | None, width: int,
                  text_labels: bool) -> tuple[int, dict[int, str]]:
    """For a channel read like the training one: the label's column and every column's type."""
    if width != schema.n_features + 1:
        raise DataError(
            f"Channel '{channel.name}' has {width - 1} features but 'train' has {schema.n_features}.",
            hint="Every channel needs the same columns: the label and the same features.",
        )
    label_kind = CATEGORICAL if text_labels else NUMERIC
    if header is not None and schema.header is not None:
        if set(header) != set(schema.header):
            missing = [n for n in schema.header if n not in header]
            extra = [n for n in header if n not in schema.header]
            raise DataError(
                f"Channel '{channel.name}' has other columns than 'train': "
                f"{'without ' + ', '.join(missing[:5]) if missing else ''}"
                f"{'; ' if missing and extra else ''}{'with ' + ', '.join(extra[:5]) if extra else ''}.",
                hint="Every channel needs the same header as the training channel (in any order).",
            )
        kinds = {header.index(f.name): f.kind for f in schema.features if f.name is not None}
        label = header.index(str(schema.label))
    else:  # by position, as in training's files
        kinds = schema.file_kinds()
        label = schema.label_position()
    kinds[label] = label_kind
    return label, kinds


def _infer_schema(channel: Channel, frame: "pd.DataFrame", header: tuple[str, ...] | None, label: int,
                  forced: dict[int, str], facts: dict[Any, _Facts]) -> Schema:
    positions = [p for p in range(frame.shape[1] + 1) if p != label]
    features = []
    for column, position in zip(frame.columns, positions):
        series = frame[column]
        name = str(column) if header is not None else None
        # The categories themselves are the encoder's to find, once, while it is fitted.
        if forced.get(position) == CATEGORICAL:
            features.append(Feature(name, CATEGORICAL, (), FORCED))
        elif not facts[column].text:
            features.append(Feature(name, NUMERIC))
        else:
            features.append(Feature(name, CATEGORICAL, (), INFERRED))
            _warn_if_mostly_numbers(channel, series, f"'{name}'" if name else f"column {position + 1}")
    schema = Schema(tuple(features), header[label] if header is not None else label, header, tuple(positions))
    _log_schema(channel, schema, [facts[column].missing for column in frame.columns], len(frame))
    return schema


def _log_schema(channel: Channel, schema: Schema, missing: list[int], rows: int) -> None:
    for source in (INFERRED, FORCED):
        picked = [(i, f) for i, f in enumerate(schema.features) if f.kind == CATEGORICAL and f.source == source]
        if picked:
            log.info("Channel %s: %d categorical feature(s) %s: %s", channel.name, len(picked),
                     "inferred (they hold text)" if source == INFERRED else "forced by categorical_columns",
                     ", ".join(schema.describe(i).strip("'") for i, _ in picked))
    shares = [(schema.describe(i).strip("'"), count / rows) for i, count in enumerate(missing) if count]
    if shares:
        log.info("Channel %s: missing values in %s", channel.name,
                 ", ".join(f"{name} ({share:.1%})" for name, share in shares))


def _warn_if_mostly_numbers(channel: Channel, series: "pd.Series", name: str) -> None:
    """A column of numbers with a few words in it is more likely a typo than a category."""
    import pandas as pd

    sample = series.iloc[:20_000].dropna().head(2000)
    numbers = pd.to_numeric(sample, errors="coerce")
    if len(sample) and numbers.notna().mean() >= 0.9:
        everything = pd.to_numeric(series, errors="coerce")
        text = series[everything.isna() & series.notna()]
        row = int(text.index[0]) + 1 if len(text) else 0
        log.warning(
            "Channel %s: %s is categorical because of text such as %r (row %d of the channel), although nearly all "
            "its values are numbers. If it is numeric, fix those values or leave them empty.",
            channel.name, name, text.iloc[0] if len(text) else "?", row)


def _labels(series: "pd.Series") -> np.ndarray:
    if frames.is_numeric(series):
        return series.to_numpy(dtype=np.float64)
    return series.to_numpy(dtype=object, na_value=np.nan)


def _table_error(channel: Channel, srcs: list[Source], header: bool, width: int, numeric: Any) -> DataError | None:
    """The located error in the first file that has one, as a DataError; None if none is found."""
    for source in srcs:
        try:
            with source.open() as stream:
                located = locate_table_error(stream, numeric=numeric, header=header, width=width)
        except READ_ERRORS as exc:
            return read_error(source, exc)
        if located is not None:
            hint = "Every row needs the same columns, quoted as CSV quotes them."
            if located.kind == TEXT:
                hint = ("The training channel had only numbers in this column, so the model takes it as "
                        "numeric. Fix the value or leave the field empty (a missing value).")
            return DataError(f"Channel '{channel.name}', file '{source.display}', {str(located).rstrip('.')}.",
                             hint=hint)
    return None


class _HeaderMismatch(Exception):
    pass


class _SourceError(Exception):
    """A file of a _Chain failed to read (pandas passes the exception on as it is)."""

    def __init__(self, source: Source, error: BaseException) -> None:
        super().__init__(str(error))
        self.source = source
        self.error = error


class _Chain(io.RawIOBase):
    """Every file of a channel as one stream, for one pandas read: no per-file frames to
    concatenate. With headers, the first line of each later file must match the first's and
    is left out; a file that does not end its last line gets a newline."""

    def __init__(self, srcs: list[Source], header: bool) -> None:
        self._sources: Iterator[Source] = iter(srcs)
        self._header = header
        self._first_header: tuple[bytes, str] | None = None
        self._started = False
        self._stream: BinaryIO | None = None
        self._last = b"\n"
        self._pending = b""
        self._source: Source | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            return self._readinto(buffer)
        except READ_ERRORS as exc:  # a truncated gzip, say: the caller names the file
            raise _SourceError(self._source, exc) if self._source is not None else exc from None

    def _readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while True:
            if self._pending:
                n = min(len(view), len(self._pending))
                view[:n] = self._pending[:n]
                self._pending = self._pending[n:]
                return n
            if self._stream is None:
                if not self._next():
                    return 0
                continue  # the next file's first bytes are pending
            n = self._stream.readinto(view)  # type: ignore[attr-defined]
            if n:
                self._last = bytes(view[n - 1:n])
                return n
            self._stream.close()
            self._stream = None
            if self._last != b"\n":
                self._pending, self._last = b"\n", b"\n"

    def _next(self) -> bool:
        source = next(self._sources, None)
        if source is None:
            return False
        self._source = source
        stream = source.open()
        if self._header:
            line = stream.readline()
            bare = line.removeprefix(b"\xef\xbb\xbf").rstrip(b"\r\n")
            if self._first_header is None:
                if bare.strip():  # an empty file before the first with a header has none to compare
                    self._first_header = (bare, source.display)
                    self._pending = line
            elif bare.strip() and bare != self._first_header[0]:
                stream.close()
                raise _HeaderMismatch(
                    f"Channel '{source.channel}': file '{source.display}' starts with another header than "
                    f"'{self._first_header[1]}' ({bare[:80].decode(errors='replace')!r} against "
                    f"{self._first_header[0][:80].decode(errors='replace')!r}).")
        else:  # pandas drops the first file's byte order mark; the others' go here
            head = stream.read(3)
            self._pending = head.removeprefix(b"\xef\xbb\xbf") if self._started else head
        self._started = True
        self._stream = stream
        return True

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        super().close()
