"""container.processing's pure core: options, the job's configuration, the split and the report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from container import processing
from container.errors import ConfigError, DataError
from container.paths import Paths
from container.schema import CATEGORICAL, FORCED, INFERRED, NUMERIC, Feature, Schema


# -- options ---------------------------------------------------------------------------------


def test_options_round_trip_through_the_command_line() -> None:
    options = processing.Options(label_column="y", categorical_columns="day,month", header="present",
                                 task="classification", stratify=False, validation_fraction=0.2,
                                 test_fraction=0.1, seed=42, input_name="raw")
    argv = options.to_argv()
    assert argv == ["--label-column", "y", "--categorical-columns", "day,month", "--header", "present",
                    "--task", "classification", "--no-stratify", "--validation-fraction", "0.2",
                    "--test-fraction", "0.1", "--seed", "42", "--input-name", "raw"]
    assert processing.parse_options(argv) == options
    assert processing.Options().to_argv() == []  # defaults are left out
    assert processing.parse_options([]) == processing.Options()


@pytest.mark.parametrize("argv, words", [
    (["--validation-fraction", "0.6", "--test-fraction", "0.4"], "together they must be below 1"),
    (["--test-fraction", "1"], "not a fraction"),
    (["--test-fraction", "-0.1"], "not a fraction"),
    (["--seed", "x"], "not a whole number"),
    (["--header", "maybe"], "invalid choice"),
    (["--stratify", "--task", "regression"], "--stratify needs classes"),
    (["--bogus"], "unrecognized arguments"),
])
def test_bad_options_are_config_errors(argv: list[str], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        processing.parse_options(argv)


# -- the job's configuration -----------------------------------------------------------------


def test_read_job_relocates_local_paths_under_the_base(tmp_path: Path) -> None:
    paths = Paths(tmp_path)
    paths.processing_config_dir.mkdir()
    paths.processingjobconfig_file.write_text(json.dumps({
        "ProcessingJobName": "prep-1",
        "ProcessingInputs": [{"InputName": "raw", "S3Input": {"LocalPath": "/opt/ml/processing/input/raw",
                                                              "S3DataDistributionType": "ShardedByS3Key"}}],
        "ProcessingOutputConfig": {"Outputs": [{"OutputName": "train",
                                                "S3Output": {"LocalPath": "/opt/ml/processing/output/tr"}}]},
    }))
    paths.processing_resourceconfig_file.write_text(json.dumps({"current_host": "algo-2",
                                                                "hosts": ["algo-1", "algo-2"]}))
    job = processing.read_job(paths)
    assert job.name == "prep-1" and job.configured
    assert job.inputs["raw"].folder == tmp_path / "processing/input/raw"
    assert job.inputs["raw"].distribution == "ShardedByS3Key"
    assert processing.output_dir(job, paths, "train") == tmp_path / "processing/output/tr"
    assert processing.output_dir(job, paths, "test") == tmp_path / "processing/output/test"  # not configured
    assert not job.hosts.is_leader and job.hosts.leader == "algo-1"


def test_without_a_config_every_input_folder_is_an_input(tmp_path: Path) -> None:
    paths = Paths(tmp_path)
    (paths.processing_input_dir / "a").mkdir(parents=True)
    (paths.processing_input_dir / "b").mkdir()
    job = processing.read_job(paths)
    assert sorted(job.inputs) == ["a", "b"] and not job.configured
    assert job.hosts.host_count == 1
    with pytest.raises(ConfigError, match="2 inputs"):
        processing.pick_input(job, None)
    assert processing.pick_input(job, "b").name == "b"
    with pytest.raises(ConfigError, match="--input-name c"):
        processing.pick_input(job, "c")


# -- deciding and splitting ------------------------------------------------------------------


def test_the_task_follows_the_labels() -> None:
    assert processing.decide_task(np.array(["no", "yes"], dtype=object), "auto")[0] == "classification"
    assert processing.decide_task(np.array([0.0, 1.0, 2.0]), "auto")[0] == "classification"
    assert processing.decide_task(np.arange(50, dtype=float), "auto")[0] == "regression"
    assert processing.decide_task(np.array([0.5, 1.0]), "auto")[0] == "regression"
    assert processing.decide_task(np.array([0.5, 1.0]), "classification") == ("classification",
                                                                             "--task classification")
    with pytest.raises(ConfigError, match="labels are text"):
        processing.decide_task(np.array(["a"], dtype=object), "regression")


def _labels(n: int = 1000) -> np.ndarray:
    rng = np.random.default_rng(1)
    return np.where(rng.random(n) < 0.15, "yes", "no").astype(object)


def test_the_split_is_deterministic_disjoint_and_complete() -> None:
    y = _labels()
    fractions = {"train": 0.7, "validation": 0.15, "test": 0.15}
    first = processing.split(y, fractions, seed=3, stratify=True)
    again = processing.split(y, fractions, seed=3, stratify=True)
    other = processing.split(y, fractions, seed=4, stratify=True)
    assert list(first) == ["train", "validation", "test"]
    for name in first:
        assert np.array_equal(first[name], again[name])
    assert not np.array_equal(first["test"], other["test"])
    everything = np.concatenate(list(first.values()))
    assert sorted(everything.tolist()) == list(range(len(y)))
    assert {k: len(v) for k, v in first.items()} == {"train": 700, "validation": 150, "test": 150}


def test_a_stratified_split_keeps_each_class_share() -> None:
    y = _labels(2000)
    share = np.mean(y == "yes")
    parts = processing.split(y, {"train": 0.6, "validation": 0.2, "test": 0.2}, seed=0, stratify=True)
    for rows in parts.values():
        assert abs(np.mean(y[rows] == "yes") - share) < 0.005


def test_zero_fractions_leave_channels_out() -> None:
    parts = processing.split(_labels(), {"train": 0.8, "validation": 0.0, "test": 0.2}, seed=0, stratify=False)
    assert list(parts) == ["train", "test"]


def test_a_class_too_rare_to_stratify_is_a_data_error_that_says_what_to_do() -> None:
    y = np.array(["a"] * 50 + ["b"], dtype=object)
    with pytest.raises(DataError, match="--no-stratify"):
        processing.split(y, {"train": 0.7, "validation": 0.15, "test": 0.15}, seed=0, stratify=True)


# -- the report ------------------------------------------------------------------------------


def _table() -> processing.Table:
    """label 'y' last; 'n' numeric; 'c' text whose train rows hold only numbers; 'k' text."""
    import pandas as pd

    X = pd.DataFrame({0: [1.0, 2.0, np.nan, 4.0], 1: ["1", "2", "x", None], 2: ["a", "b", "a", "b"]})
    schema = Schema((Feature("n", NUMERIC), Feature("c", CATEGORICAL, (), INFERRED),
                     Feature("k", CATEGORICAL, (), INFERRED)), "y", ("n", "c", "k", "y"), (0, 1, 2))
    return processing.Table(X, np.array(["no", "yes", "no", "yes"], dtype=object), schema, True, 1)


def test_the_frame_keeps_the_file_layout_and_writes_whole_numbers_as_integers() -> None:
    frame = _table().frame()
    assert list(frame.columns) == ["n", "c", "k", "y"]
    assert frame.to_csv(index=False, na_rep="", lineterminator="\n").splitlines() == [
        "n,c,k,y", "1,1,a,no", "2,2,b,yes", ",x,a,no", "4,,b,yes"]


def test_describe_lists_columns_as_train_will_infer_them() -> None:
    table = _table()
    parts = {"train": np.array([0, 1]), "test": np.array([2, 3])}
    columns, categorical = processing.describe(table, parts, "classification")
    by_name = {c["column"]: c for c in columns}
    assert by_name["n"]["kind"] == NUMERIC and by_name["n"]["missing"] == {"all": 1, "train": 0, "test": 1}
    # 'c' holds text, but not in the train rows: train needs categorical_columns to agree.
    assert by_name["c"]["kind"] == CATEGORICAL and by_name["c"]["source"] == FORCED
    assert by_name["k"]["source"] == INFERRED and by_name["k"]["categories"] == 2
    assert by_name["y"]["role"] == "label" and by_name["y"]["kind"] == "text"
    assert categorical == ["c"]
    assert processing.train_with(table, categorical) == {
        "content_type": "text/csv;header=present",
        "hyperparameters": {"label_column": "y", "categorical_columns": "c"}}
    assert processing.labels_by_split(table.y, parts, "classification") == {
        "train": {"no": 1, "yes": 1}, "test": {"no": 1, "yes": 1}}


def test_header_less_numeric_data_with_the_label_first_needs_nothing_said() -> None:
    table = processing.Table(np.ones((3, 2)), np.array([0.0, 1.0, 1.0]), Schema.numeric(2), False, 1)
    assert processing.train_with(table, []) == {"content_type": "text/csv", "hyperparameters": {}}
    assert table.frame().to_csv(index=False, header=False).splitlines() == ["0,1,1", "1,1,1", "1,1,1"]
    assert processing.labels_by_split(table.y, {"train": np.arange(3)}, "classification") == {
        "train": {"0": 1, "1": 2}}


def test_the_message_is_utf8_and_at_most_1_kb(tmp_path: Path) -> None:
    paths = Paths(tmp_path)
    processing._write_message(paths, "é" * 2000, failure=True)
    data = paths.message_file.read_bytes()
    assert len(data) <= processing.MESSAGE_LIMIT + 1  # the newline
    data.decode("utf-8")  # cut on a character boundary
    assert paths.failure_file.read_bytes() == data


def test_staged_files_appear_together_on_commit_and_never_on_abandon(tmp_path: Path) -> None:
    out = tmp_path / "output"
    staging = processing.Staging()
    for name in ("train", "test"):
        staging.path(out / name / f"{name}.csv").write_text(name)
    assert [p.name for p in (out / "train").iterdir()] == []  # staged beside, not inside
    committed = []
    staging.on_commit = lambda: committed.append(True)
    staging.commit()
    assert (out / "train" / "train.csv").read_text() == "train" and committed == [True]
    assert sorted(p.name for p in out.iterdir()) == ["test", "train"]  # no staging folder left

    abandoned = processing.Staging()
    abandoned.path(out / "validation" / "validation.csv").write_text("half")
    abandoned.abandon()
    assert list((out / "validation").iterdir()) == []
    assert sorted(p.name for p in out.iterdir()) == ["test", "train", "validation"]
