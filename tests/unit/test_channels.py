"""inputdataconfig.json and the files behind each channel."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from container import channels
from container.errors import ConfigError, DataError
from container.paths import Paths


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(tmp_path)


def test_missing_file_means_one_file_mode_csv_channel_per_folder(paths: Paths) -> None:
    for name in ("train", "validation", ".hidden", "_tmp"):
        paths.channel_dir(name).mkdir(parents=True)
    (paths.data_dir / "stray.csv").write_text("1,2\n")  # a file, not a channel
    found = channels.parse_inputdataconfig(None, paths)
    assert sorted(found) == ["train", "validation"]
    assert found["train"] == channels.Channel("train")
    assert found["train"].input_mode == "File"
    assert found["train"].media_type == "text/csv"


def test_missing_file_and_no_data_folder_means_no_channels(paths: Paths) -> None:
    assert channels.parse_inputdataconfig(None, paths) == {}


def test_platform_file(paths: Paths) -> None:
    found = channels.parse_inputdataconfig({
        "train": {"ContentType": "text/csv", "TrainingInputMode": "File",
                  "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"},
        "validation": {"TrainingInputMode": "FastFile", "S3DistributionType": "ShardedByS3Key"},
        "test": {"TrainingInputMode": "Pipe", "ContentType": "text/csv; charset=utf-8"},
    }, paths)
    assert found["train"].distribution == "FullyReplicated"
    assert found["validation"].input_mode == "FastFile"
    assert found["validation"].distribution == "ShardedByS3Key"
    assert found["validation"].content_type is None and found["validation"].media_type == "text/csv"
    assert found["test"].input_mode == "Pipe"
    assert found["test"].media_type == "text/csv"


def test_local_mode_file_has_only_the_input_mode(paths: Paths) -> None:
    found = channels.parse_inputdataconfig({"train": {"TrainingInputMode": "File"}, "test": {}}, paths)
    assert found["train"].distribution == "FullyReplicated"
    assert found["test"].input_mode == "File"


def test_api_spelling_of_the_distribution_type_is_accepted(paths: Paths) -> None:
    found = channels.parse_inputdataconfig(
        {"train": {"S3DataDistributionType": "ShardedByS3Key"}}, paths)
    assert found["train"].distribution == "ShardedByS3Key"


@pytest.mark.parametrize("content_type", ["TEXT/CSV", "application/csv", "text/x-csv", "csv"])
def test_csv_spellings(paths: Paths, content_type: str) -> None:
    found = channels.parse_inputdataconfig({"train": {"ContentType": content_type}}, paths)
    assert found["train"].content_type == content_type


@pytest.mark.parametrize(
    "content_type", ["application/x-recordio-protobuf", "application/x-parquet", "application/json"]
)
def test_unsupported_content_type_names_the_channel_and_type(paths: Paths, content_type: str) -> None:
    with pytest.raises(ConfigError) as info:
        channels.parse_inputdataconfig({"train": {"ContentType": content_type}}, paths)
    assert "'train'" in str(info.value) and content_type in str(info.value)
    assert "text/csv" in str(info.value)  # says what to send instead


def test_recordio_is_refused(paths: Paths) -> None:
    with pytest.raises(ConfigError, match="RecordIO"):
        channels.parse_inputdataconfig({"train": {"RecordWrapperType": "RecordIO"}}, paths)


def test_bad_input_mode(paths: Paths) -> None:
    with pytest.raises(ConfigError, match="'Stream'"):
        channels.parse_inputdataconfig({"train": {"TrainingInputMode": "Stream"}}, paths)


@pytest.mark.parametrize("raw", [["train"], "train"])
def test_file_that_is_not_an_object(paths: Paths, raw: object) -> None:
    with pytest.raises(ConfigError, match="keyed by channel name"):
        channels.parse_inputdataconfig(raw, paths)  # type: ignore[arg-type]


def test_channel_spec_that_is_not_an_object(paths: Paths) -> None:
    with pytest.raises(ConfigError, match="'train'"):
        channels.parse_inputdataconfig({"train": "File"}, paths)


def test_train_channel_aliases() -> None:
    assert channels.train_channel({"train": channels.Channel("train")}).name == "train"
    assert channels.train_channel({"training": channels.Channel("training")}).name == "training"
    both = {"training": channels.Channel("training"), "train": channels.Channel("train")}
    assert channels.train_channel(both).name == "train"
    with pytest.raises(DataError, match=r"\['test', 'validation'\]"):
        channels.train_channel({"validation": channels.Channel("validation"), "test": channels.Channel("test")})
    with pytest.raises(DataError, match="no channels"):
        channels.train_channel({})


def test_sources_walk_nested_folders_in_order_and_skip_hidden_files(paths: Paths) -> None:
    root = paths.channel_dir("train")
    (root / "b" / "c").mkdir(parents=True)
    (root / "_markers").mkdir()
    for rel in ("z.csv", "a.csv", "b/c/deep.csv", "b/mid.csv", ".hidden.csv", "_SUCCESS", "_markers/x"):
        (root / rel).write_text("1,2\n")
    found = channels.sources(channels.Channel("train"), paths)
    assert [s.display for s in found] == ["a.csv", "b/c/deep.csv", "b/mid.csv", "z.csv"]
    assert all(s.channel == "train" for s in found)


def test_sources_follow_symlinked_folders(paths: Paths, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "part.csv").write_text("1,2\n")
    paths.channel_dir("train").mkdir(parents=True)
    os.symlink(elsewhere, paths.channel_dir("train") / "linked")
    assert [s.display for s in channels.sources(channels.Channel("train"), paths)] == ["linked/part.csv"]


def test_missing_or_empty_channel_folder(paths: Paths) -> None:
    with pytest.raises(DataError, match="has no folder"):
        channels.sources(channels.Channel("train"), paths)
    paths.channel_dir("train").mkdir(parents=True)
    (paths.channel_dir("train") / "_SUCCESS").write_text("")
    with pytest.raises(DataError, match="no files in channel 'train'"):
        channels.sources(channels.Channel("train"), paths)


def test_gzip_is_detected_by_content_not_name(tmp_path: Path) -> None:
    zipped = tmp_path / "data.csv"  # no .gz suffix
    zipped.write_bytes(gzip.compress(b"1,2\n3,4\n"))
    plain = tmp_path / "data.csv.gz"  # .gz suffix, not compressed
    plain.write_bytes(b"5,6\n")
    with channels.open_maybe_gzip(zipped) as stream:
        assert stream.read() == b"1,2\n3,4\n"
    with channels.open_maybe_gzip(plain) as stream:
        assert stream.read() == b"5,6\n"


def test_pipe_mode_source_is_the_epoch_0_fifo(paths: Paths) -> None:
    paths.data_dir.mkdir(parents=True)
    os.mkfifo(paths.channel_fifo("train", 0))
    [source] = channels.sources(channels.Channel("train", input_mode="Pipe"), paths)
    assert source.path == paths.data_dir / "train_0"
    assert source.display == "train_0"
