"""Training channels that are tables: headers, text columns, missing values, several files."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from container import dataset
from container.channels import Channel
from container.errors import ConfigError, DataError
from container.hyperparameters import TrainingOptions
from container.paths import Paths

HEADER = "text/csv;header=present"


def channel(tmp_path: Path, files: dict[str, bytes], name: str = "train") -> Paths:
    paths = Paths(tmp_path)
    for file, data in files.items():
        path = paths.channel_dir(name) / file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return paths


def train(paths: Paths, content_type: str | None = None, **options) -> dataset.Dataset:
    return dataset.load_training(Channel("train", content_type), paths, TrainingOptions(**options))


def test_numeric_channels_keep_the_numeric_path(tmp_path: Path) -> None:
    loaded = train(channel(tmp_path, {"a.csv": b"1,2,3\n0,4,5\n"}))
    assert isinstance(loaded.X, np.ndarray) and loaded.X.base is not None  # the C parser's one array
    assert loaded.schema.plain


def test_several_files_one_table_with_headers_bom_gzip_and_a_missing_last_newline(tmp_path: Path) -> None:
    paths = channel(tmp_path, {
        "a.csv": b"\xef\xbb\xbfy,job,age\r\nyes,admin.,41\r\n",
        "b.csv.gz": gzip.compress(b"y,job,age\nno,services,35"),  # no final newline
        "c.csv": b"\xef\xbb\xbfy,job,age\n\nno,,\n",
    })
    loaded = train(paths, HEADER, label_column="y")
    assert isinstance(loaded.X, pd.DataFrame) and list(loaded.X.columns) == [0, 1]  # by position
    assert loaded.schema.names == ("job", "age")
    assert loaded.y.tolist() == ["yes", "no", "no"]
    assert loaded.X[1].tolist()[:2] == [41.0, 35.0] and np.isnan(loaded.X[1].iloc[2])
    assert loaded.X[0].tolist()[:2] == ["admin.", "services"] and pd.isna(loaded.X[0].iloc[2])
    assert loaded.schema.categorical == [0] and loaded.missing  # the encoder finds the categories
    assert loaded.files == 3


def test_a_text_column_switches_a_headerless_channel_to_a_table(tmp_path: Path) -> None:
    loaded = train(channel(tmp_path, {"a.csv": b"0,1.5,red\n1,2.5,blue\n1,3,\n"}))
    assert list(loaded.X.columns) == [0, 1] and loaded.schema.categorical == [1]
    assert loaded.y.dtype == np.float64 and loaded.y.tolist() == [0, 1, 1]


def test_booleans_and_mixed_chunks_stay_the_text_the_file_held(tmp_path: Path) -> None:
    rows = b"".join(b"0,%d,true\n" % i for i in range(3)) + b"1,4,False\n"
    loaded = train(channel(tmp_path, {"a.csv": rows}))
    assert loaded.schema.categorical == [1] and loaded.X[1].tolist() == ["true", "true", "true", "False"]


def test_validation_is_read_with_the_training_schema(tmp_path: Path) -> None:
    paths = channel(tmp_path, {"a.csv": b"y,job,age\nyes,admin.,41\nno,services,35\n"})
    schema = train(paths, HEADER, label_column="y").schema
    channel(tmp_path, {"v.csv": b"age,y,job\n50,no,student\n"}, name="validation")
    other = dataset.load_like(Channel("validation", HEADER), paths, schema, text_labels=True)
    assert list(other.X.columns) == [0, 1] and other.X.iloc[0].tolist() == ["student", 50.0]  # training's order
    assert other.y.tolist() == ["no"]


@pytest.mark.parametrize(("files", "content_type", "options", "error", "message"), [
    ({"a.csv": b"y,x\n1,2\n"}, HEADER, {"label_column": "z"}, ConfigError, "label_column='z' is not a column"),
    ({"a.csv": b"y,x\n1,2\n3\n"}, HEADER, {}, DataError, "line 3: has 1 columns, but line 1 has 2"),
    ({"a.csv": b"y,x\n1,2\n", "b.csv": b"x,y\n1,2\n"}, HEADER, {}, DataError, "starts with another header"),
    ({"a.csv": b"y,x,x\n1,2,3\n"}, HEADER, {}, DataError, "names column 'x' twice"),
    ({"a.csv": b"y,,x\n1,2,3\n"}, HEADER, {}, DataError, "no name for column 2"),
    ({"a.csv": b"label,f1\n1,2\n0,3\n"}, None, {"label_column": 1}, DataError, "looks like a header row"),
    ({"a.csv": b"y\n1\n"}, HEADER, {}, DataError, "only one column"),
    ({"a.csv": b"y,x\n"}, HEADER, {}, DataError, "but no rows"),
])
def test_table_errors(tmp_path: Path, files, content_type, options, error, message) -> None:
    with pytest.raises(error, match=message):
        train(channel(tmp_path, files), content_type, **options)


# -- values no estimator takes, named by file, line and column --------------------------------------


@pytest.mark.parametrize("parser", ["c", "numpy"])
def test_infinity_is_located_across_files_blank_lines_and_comments(tmp_path: Path, parser: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    if parser == "numpy":
        monkeypatch.setenv("BYOC_CSV_PARSER", "numpy")
    paths = channel(tmp_path, {
        "a.csv": b"1,2,3\n0,4,5\n",
        "b.csv": b"\n# a comment numpy skips\n1,2,3\n\n0,5,-inf\n",
        "c.csv.gz": gzip.compress(b"1,inf,2\n"),
    })
    with pytest.raises(DataError) as info:
        train(paths)
    assert str(info.value).startswith("Channel 'train', file 'b.csv', line 5, column 3: '-inf' is infinite")


def test_a_value_over_float64_reads_as_infinity_and_says_so(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"line 2, column 2: '1e400' is too large for a float64"):
        train(channel(tmp_path, {"a.csv": b"1,2,3\n0,1e400,5\n"}))


def test_infinity_in_a_table_names_the_column_of_its_file(tmp_path: Path) -> None:
    paths = channel(tmp_path, {
        "a.csv": b"job,y,age\nadmin.,yes,41\n",
        "b.csv": b'job,y,age\n"multi\nline",no,35\nservices,no,INF\n',  # a quoted field spans lines 2-3
    })
    with pytest.raises(DataError) as info:
        train(paths, HEADER, label_column="y")
    assert str(info.value).startswith("Channel 'train', file 'b.csv', line 4, column 3: 'INF' is infinite")


def test_infinity_as_a_category_is_only_text(tmp_path: Path) -> None:
    loaded = train(channel(tmp_path, {"a.csv": b"y,colour\n1,red\n0,inf\n"}), HEADER, label_column="y",
                   categorical_columns=["colour"])
    assert loaded.X[0].tolist() == ["red", "inf"]


def test_float32_overflow_is_located(tmp_path: Path) -> None:
    loaded = train(channel(tmp_path, {"a.csv": b"1,2,3\n0,4,-5e38\n"}))
    error = dataset.float32_overflow(loaded, "random_forest")
    assert str(error).startswith("Channel 'train', file 'a.csv', line 2, column 3: '-5e38' is too large for "
                                 "estimator 'random_forest', which computes in float32")
    assert dataset.float32_overflow(train(channel(tmp_path / "ok", {"a.csv": b"1,2,3\n"})), "x") is None


def test_labels_are_located_too(tmp_path: Path) -> None:
    loaded = train(channel(tmp_path, {"a.csv": b"1,2,3\n", "b.csv": b"\n0,2,3\nnan,4,5\n"}))
    assert loaded.where(2) == "file 'b.csv', line 3, column 1 (row 3 of the channel)"
    assert loaded.where(1, 1) == "file 'b.csv', line 2, column 3 (row 2 of the channel)"


# -- files that cannot be read, or hold nothing ------------------------------------------------------


@pytest.mark.parametrize("content_type", [None, HEADER])
def test_a_truncated_gzip_names_the_file_and_how_far_it_got(tmp_path: Path, content_type: str | None) -> None:
    text = b"y,a,b\n" if content_type else b""
    text += b"".join(b"%d,%d.5,%d\n" % (i % 2, i, i) for i in range(5000))
    data = gzip.compress(text)
    with pytest.raises(DataError) as info:
        train(channel(tmp_path, {"part.csv.gz": data[: len(data) * 2 // 3]}), content_type)
    message = str(info.value)
    assert message.startswith("Channel 'train', file 'part.csv.gz' is cut short: its gzip data stops after ")
    lines = int(message.split("stops after ")[1].split()[0])
    assert 0 < lines < 5000 and "gzip -t" in message


def test_corrupt_gzip_names_the_file(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(b"".join(b"%d,%d\n" % (i % 2, i) for i in range(20000))))
    data[len(data) // 2: len(data) // 2 + 32] = bytes(32)
    with pytest.raises(DataError, match="file 'bad.csv.gz' is not valid gzip"):
        train(channel(tmp_path, {"bad.csv.gz": bytes(data)}))


@pytest.mark.parametrize("content_type", [None, HEADER])
def test_a_channel_without_rows_says_what_each_file_holds(tmp_path: Path, content_type: str | None) -> None:
    files = {"a.csv": b"", "b.csv": b"\n\r\n", "c.csv.gz": gzip.compress(b"")}
    if content_type:
        files["d.csv"] = b"y,a,b\n"
    with pytest.raises(DataError) as info:
        train(channel(tmp_path, files), content_type)
    message = str(info.value)
    assert f"Channel 'train' has {len(files)} file(s) but no rows: 'a.csv' is empty (0 bytes); 'b.csv' holds only " \
           "empty lines; 'c.csv.gz' is gzip of nothing (0 bytes once decompressed)" in message
    if content_type:
        assert "'d.csv' holds only its header line" in message
