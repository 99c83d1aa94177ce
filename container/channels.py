"""Training channels: what inputdataconfig.json declares, and the bytes behind each one.

File and FastFile mode give a folder per channel (read recursively, in sorted order, gzip
detected by its magic bytes rather than by name). Pipe mode gives a FIFO per channel per
epoch, which may appear only after the container starts.
"""

from __future__ import annotations

import gzip
import io
import logging
import os
import stat
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Mapping

from .errors import ConfigError, DataError
from .paths import Paths

log = logging.getLogger(__name__)

#: Channel names that mean "the training data". "training" is what the old AWS sample used.
TRAIN_ALIASES = ("train", "training")
SUPPORTED_CONTENT_TYPES = frozenset({"text/csv", "application/csv", "text/x-csv", "csv"})
INPUT_MODES = frozenset({"File", "FastFile", "Pipe"})
GZIP_MAGIC = b"\x1f\x8b"
PIPE_WAIT_SECONDS = 60.0


@dataclass(frozen=True)
class Channel:
    name: str
    content_type: str | None = None
    input_mode: str = "File"
    distribution: str = "FullyReplicated"
    record_wrapper: str = "None"
    #: Where the channel's files are when not in /opt/ml/input/data/<name>: a processing input.
    folder: Path | None = None

    @property
    def media_type(self) -> str:
        return (self.content_type or "text/csv").split(";")[0].strip().lower()

    @property
    def header(self) -> bool:
        """ContentType text/csv;header=present: each file starts with a row of column names."""
        return has_header(self.content_type)


@dataclass(frozen=True)
class Source:
    """One readable piece of a channel: a file, or a Pipe-mode FIFO."""

    channel: str
    path: Path
    display: str  # the name to show the user, relative to the channel
    #: A FIFO's bytes, once read: a pipe cannot be read twice, these can.
    data: bytes | None = None

    def open(self) -> BinaryIO:
        if self.data is not None:
            return _maybe_gunzip(io.BytesIO(self.data))
        return open_maybe_gzip(self.path)

    @property
    def is_fifo(self) -> bool:
        return self.data is None and self.path.is_fifo()

    def readable_twice(self) -> "Source":
        """This source, its bytes read into memory first if it is a FIFO."""
        if not self.is_fifo:
            return self
        with open(self.path, "rb") as stream:
            return replace(self, data=stream.read())


def has_header(content_type: str | None) -> bool:
    """Whether a CSV ContentType says header=present (RFC 4180's parameter)."""
    for param in (content_type or "").split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "header" and value.strip().strip('"').lower() == "present":
            return True
    return False


def parse_inputdataconfig(raw: Mapping[str, Any] | None, paths: Paths) -> dict[str, Channel]:
    """Channels by name. A missing file means: one File-mode CSV channel per data folder."""
    if raw is None:
        if not paths.data_dir.is_dir():
            return {}
        return {
            entry.name: Channel(entry.name)
            for entry in sorted(paths.data_dir.iterdir())
            if entry.is_dir() and not entry.name.startswith((".", "_"))
        }
    if not isinstance(raw, Mapping):
        raise ConfigError("inputdataconfig.json must hold a JSON object keyed by channel name.")
    channels = {}
    for name, spec in raw.items():
        spec = spec or {}
        if not isinstance(spec, Mapping):
            raise ConfigError(
                f"inputdataconfig.json: channel '{name}' must map to an object such as "
                f'{{"TrainingInputMode": "File"}}, not {spec!r:.60}.'
            )
        mode = spec.get("TrainingInputMode", "File")
        if mode not in INPUT_MODES:
            raise ConfigError(
                f"Channel '{name}': TrainingInputMode {mode!r} is not one of {sorted(INPUT_MODES)}."
            )
        channel = Channel(
            name=name,
            content_type=spec.get("ContentType"),
            input_mode=mode,
            # The file says S3DistributionType; accept the API's spelling from hand-made files.
            distribution=spec.get("S3DistributionType")
            or spec.get("S3DataDistributionType", "FullyReplicated"),
            record_wrapper=spec.get("RecordWrapperType", "None"),
        )
        if channel.media_type not in SUPPORTED_CONTENT_TYPES:
            raise ConfigError(
                f"Channel '{name}' has ContentType {channel.content_type!r}, which this "
                "container cannot read.",
                hint="Send CSV and set ContentType to text/csv (text/csv;header=present when "
                "each file starts with a row of column names), or leave it unset.",
            )
        if channel.record_wrapper not in ("None", "", None):
            raise ConfigError(
                f"Channel '{name}' uses RecordWrapperType {channel.record_wrapper!r}.",
                hint="This container reads plain CSV records: set RecordWrapperType to None.",
            )
        channels[name] = channel
    return channels


def train_channel(channels: Mapping[str, Channel]) -> Channel:
    for alias in TRAIN_ALIASES:
        if alias in channels:
            return channels[alias]
    raise DataError(
        f"No training channel: the job has {sorted(channels) or 'no channels'}.",
        hint="Name the channel with the training data 'train' (for example "
        "estimator.fit({'train': 's3://bucket/prefix/'})).",
    )


def sources(channel: Channel, paths: Paths) -> list[Source]:
    """The channel's readable pieces, in a stable order. Raises DataError when there are none."""
    if channel.input_mode == "Pipe":
        return [_pipe_source(channel, paths)]
    root = channel.folder or paths.channel_dir(channel.name)
    if not root.is_dir():
        raise DataError(
            f"Channel '{channel.name}' has no folder at {root}.",
            hint="Check the channel's S3 URI: it must be a prefix that holds objects.",
        )
    found = []
    skipped = []
    # In S3 key order (the relative path as a string), so rows come in the order S3 lists them.
    for path in sorted(_walk(root), key=lambda p: p.relative_to(root).as_posix()):
        rel = path.relative_to(root).as_posix()
        if any(part.startswith((".", "_")) for part in path.relative_to(root).parts):
            skipped.append(rel)  # hidden files, _SUCCESS markers and the like
            continue
        found.append(Source(channel.name, path, rel))
    if skipped:
        log.info("channel %s: skipped %d hidden or marker file(s): %s",
                 channel.name, len(skipped), ", ".join(skipped[:5]))
    if not found:
        raise DataError(
            f"There are no files in channel '{channel.name}' ({root}).",
            hint="Check that the channel's S3 prefix holds the data files and that the "
            "role can read them.",
        )
    return found


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames.sort()
        for name in sorted(filenames):
            yield Path(dirpath) / name


def _pipe_source(channel: Channel, paths: Paths) -> Source:
    fifo = paths.channel_fifo(channel.name, 0)
    deadline = time.monotonic() + PIPE_WAIT_SECONDS
    while not fifo.exists():
        if time.monotonic() > deadline:
            raise DataError(
                f"Channel '{channel.name}' is in Pipe mode but {fifo} did not appear "
                f"within {PIPE_WAIT_SECONDS:.0f} s."
            )
        time.sleep(0.1)
    if not stat.S_ISFIFO(fifo.stat().st_mode) and not fifo.is_file():
        raise DataError(f"Channel '{channel.name}': {fifo} is neither a FIFO nor a file.")
    return Source(channel.name, fifo, fifo.name)


def open_maybe_gzip(path: Path) -> BinaryIO:
    """Open for reading, transparently decompressing gzip (detected by content, not name)."""
    return _maybe_gunzip(open(path, "rb"))


def _maybe_gunzip(raw: Any) -> BinaryIO:
    """raw (a buffered file, or a BytesIO) itself, or a gzip reader over it."""
    head = raw.peek(2)[:2] if hasattr(raw, "peek") else raw.getvalue()[:2]
    if head != GZIP_MAGIC:
        return raw  # type: ignore[no-any-return]
    unzipped = gzip.GzipFile(fileobj=raw, mode="rb")
    unzipped.myfileobj = raw  # so that closing it closes the file too (works for FIFOs)
    return unzipped  # type: ignore[return-value]
