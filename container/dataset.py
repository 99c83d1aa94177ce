"""A channel's CSV records as arrays: label in the first column, features after it."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from . import channels as channels_mod
from . import fastcsv
from .channels import Channel, Source
from .errors import DataError
from .paths import Paths
from .tabular import CsvError, locate_error, parse

log = logging.getLogger(__name__)


@dataclass
class Dataset:
    channel: str
    X: np.ndarray
    y: np.ndarray
    files: int

    @property
    def n_features(self) -> int:
        return self.X.shape[1]


def load(channel: Channel, paths: Paths) -> Dataset:
    """Read every file of the channel. Raises DataError naming the file and line at fault."""
    srcs = channels_mod.sources(channel, paths)
    if fastcsv.enabled() and not any(s.path.is_fifo() for s in srcs):  # a pipe cannot be read twice
        return _load_into_one_array(channel, srcs)
    parts: list[np.ndarray] = []
    first: tuple[Source, int] | None = None
    for source in srcs:
        array = _parse_source(source)
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
        raise DataError(
            f"Channel '{channel.name}' has {len(srcs)} file(s) but no rows.",
            hint="Check that the files hold CSV records.",
        )
    data = parts[0] if len(parts) == 1 else np.concatenate(parts)
    del parts
    if data.shape[1] < 2:
        raise DataError(
            f"Channel '{channel.name}' has only one column.",
            hint="Each row needs the label in the first column and at least one feature after it.",
        )
    return Dataset(channel.name, X=data[:, 1:], y=data[:, 0], files=len(srcs))


def _load_into_one_array(channel: Channel, srcs: list[Source]) -> Dataset:
    """load() with the C parser: every file straight into one array, sized by a newline
    count, so peak memory stays near the array (no per-file arrays, no concatenate). A file
    the C parser stops on is parsed again by the numpy path, which accepts it after all or
    raises the located error; either way the result and the messages are load()'s."""
    try:
        capacity = fastcsv.RowSink.count([s.path for s in srcs])
    except OSError:
        capacity = None  # the per-file open below reports it
    sink = fastcsv.RowSink(capacity or 0)
    first: tuple[Source, int] | None = None
    for source in srcs:
        try:
            added = sink.add(source.open)
        except (OSError, EOFError) as exc:
            raise DataError(
                f"Channel '{source.channel}', file '{source.display}' cannot be read: {exc}."
            ) from None
        array = None
        if added is None:
            _raise_located(source, sink.stopped_at)  # most stops are errors: say where, fast
            array = _parse_source(source)
            added = (array.shape[0], array.shape[1] if array.shape[0] else 0)
        rows, width = added
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
        raise DataError(
            f"Channel '{channel.name}' has {len(srcs)} file(s) but no rows.",
            hint="Check that the files hold CSV records.",
        )
    data = sink.result()
    if data.shape[1] < 2:
        raise DataError(
            f"Channel '{channel.name}' has only one column.",
            hint="Each row needs the label in the first column and at least one feature after it.",
        )
    return Dataset(channel.name, X=data[:, 1:], y=data[:, 0], files=len(srcs))


def _raise_located(source: Source, offset: int | None) -> None:
    """The error the numpy path would report for a file the C parser stopped in at `offset`,
    found from there (fastcsv.locatable_file) instead of parsing and scanning the whole file
    again; nothing when that cannot tell, and the numpy path then decides."""
    if offset is None:
        return
    try:
        lines = fastcsv.locatable_file(source.open, offset)
        located = locate_error(lines) if lines is not None else None  # type: ignore[arg-type]
    except (OSError, EOFError):
        return  # the numpy path reports it
    if located is not None:
        raise _csv_error(source, located) from None


def _csv_error(source: Source, exc: CsvError) -> DataError:
    hint = "Rows are header-less CSV: the label first, then numeric features."
    if exc.looks_like_header:
        hint = (
            "The first line looks like a header row. SageMaker's CSV convention has no "
            "header: remove it (pandas: df.to_csv(path, header=False, index=False))."
        )
    return DataError(
        f"Channel '{source.channel}', file '{source.display}', {str(exc).rstrip('.')}.", hint=hint
    )


def _parse_source(source: Source) -> np.ndarray:
    try:
        with source.open() as stream:
            if source.path.is_fifo():
                # A FIFO cannot be read a second time to locate an error: read it once and
                # parse the bytes, which also locates errors (line and column) in memory.
                return parse(stream.read())
            return parse(stream, reopen=source.open)
    except CsvError as exc:
        raise _csv_error(source, exc) from None
    except (OSError, EOFError) as exc:
        raise DataError(
            f"Channel '{source.channel}', file '{source.display}' cannot be read: {exc}."
        ) from None
