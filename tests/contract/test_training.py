"""`train` as a real process on a temporary SAGEMAKER_BASE_DIR, as SageMaker runs it.

Each `train` is a separate process that spends most of its second importing scikit-learn, so
the jobs of this module are laid out first (the functions marked @job, and FAILURES) and run
together in one pool by the `runs` fixture; each test then checks its own job's result.
"""

from __future__ import annotations

import json
import os
import re
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import joblib
import numpy as np
import pytest

from byoc import jobdir, local
from container import metrics
from container.paths import Paths

from contract_helpers import csv_text, package_env, write_csv

FAST = {"n_estimators": 5}


def assert_model_written(paths: Paths) -> dict:
    assert sorted(p.name for p in paths.model_dir.iterdir()) == ["metadata.json", "model.joblib"]
    assert not paths.failure_file.exists()
    return json.loads((paths.model_dir / "metadata.json").read_text())


def metric_lines(log: str) -> dict[str, float]:
    """Lines that are exactly a metric, as the regexes are meant to see them."""
    found = {}
    for definition in metrics.METRIC_DEFINITIONS:
        for line in log.splitlines():
            match = re.fullmatch(definition["Regex"], line.strip())
            if match:
                found[definition["Name"]] = float(match.group(1))
    return found


JOBS: dict[str, Callable] = {}


def job(setup: Callable) -> Callable:
    """Register a job: setup(make_job, tmp_path, data) -> Paths, or (Paths, env) for a package."""
    JOBS[setup.__name__] = setup
    return setup


# -- success ---------------------------------------------------------------------------------


@job
def classification(make_job, tmp_path, data):
    return make_job({k: data.sample[k] for k in ("train", "validation", "test")}, FAST)


def test_classification_writes_model_metadata_and_metric_lines(runs, sample_data) -> None:
    paths, result = runs["classification"]
    assert result.returncode == 0, result.log
    metadata = assert_model_written(paths)
    assert metadata["task"] == "classification"
    assert metadata["estimator"] == "random_forest"
    assert metadata["estimator_class"] == "sklearn.ensemble._forest.RandomForestClassifier"
    assert metadata["n_features"] == 4 and metadata["trained_rows"] == 100
    assert metadata["classes"] == [0, 1, 2]
    assert metadata["hyperparameters"] == {"n_estimators": 5}
    assert metadata["training_job"] == "local-job"
    assert metadata["versions"]["scikit-learn"]

    scraped = metric_lines(result.log)
    for channel in ("train", "validation", "test"):
        for name in ("accuracy", "f1_macro", "log_loss"):
            assert f"{channel}:{name}" in scraped
    assert scraped["validation:accuracy"] > 0.8
    assert metadata["metrics"] == pytest.approx(scraped, rel=1e-5)
    assert result.metrics == scraped  # what a MetricDefinitions scrape of the whole log gives

    model = joblib.load(paths.model_dir / "model.joblib")
    assert model.n_estimators == 5
    assert set(model.predict(np.loadtxt(sample_data["payload"], delimiter=","))) <= {0, 1, 2}
    with tarfile.open(result.model_archive) as tar:  # packed as SageMaker does: files at the root
        assert sorted(tar.getnames()) == ["metadata.json", "model.joblib"]


@job
def regression(make_job, tmp_path, data):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    y = X @ np.array([2.0, -1.0, 0.5]) + 3 + rng.normal(scale=0.05, size=120)
    rows = np.column_stack([y, X])
    write_csv(tmp_path / "reg" / "train" / "train.csv", csv_text(rows[:90]))
    write_csv(tmp_path / "reg" / "validation" / "validation.csv", csv_text(rows[90:]))
    return make_job({"train": tmp_path / "reg" / "train", "validation": tmp_path / "reg" / "validation"},
                    {"estimator": "random_forest_regressor", "n_estimators": 10})


def test_regression_prints_regression_metrics(runs) -> None:
    paths, result = runs["regression"]
    assert result.returncode == 0, result.log
    metadata = assert_model_written(paths)
    assert metadata["task"] == "regression" and "classes" not in metadata
    scraped = metric_lines(result.log)
    assert set(scraped) == {f"{c}:{m}" for c in ("train", "validation") for m in ("rmse", "mae", "r2")}
    assert scraped["validation:r2"] > 0.5
    assert 0 < scraped["validation:mae"] <= scraped["validation:rmse"]


@job
def training_alias(make_job, tmp_path, data):
    return make_job({"training": data.sample["train"]}, FAST)


def test_channel_named_training_is_the_train_channel(runs) -> None:
    paths, result = runs["training_alias"]
    assert result.returncode == 0, result.log
    assert assert_model_written(paths)["trained_rows"] == 100
    assert "training:accuracy" not in result.log and "train:accuracy=" in result.log


@job
def nested_gzip(make_job, tmp_path, data):
    rows = data.rows["train"]
    folder = tmp_path / "many"
    write_csv(folder / "part-0.csv", csv_text(rows[:30]))
    write_csv(folder / "2024" / "01" / "part-1.csv.gz", csv_text(rows[30:60]), compress=True)
    write_csv(folder / "2024" / "02" / "part-2", csv_text(rows[60:90]), compress=True)  # gzip, no suffix
    write_csv(folder / "2024" / "02" / "part-3.csv", csv_text(rows[90:]).replace("\n", "\r\n"))
    write_csv(folder / "_SUCCESS", "")
    return make_job({"train": folder}, FAST)


def test_nested_folders_several_files_and_gzip(runs) -> None:
    paths, result = runs["nested_gzip"]
    assert result.returncode == 0, result.log
    assert assert_model_written(paths)["trained_rows"] == 100
    assert "100 rows, 4 features, 4 file(s)" in result.log


@job
def sdk_hyperparameters(make_job, tmp_path, data):
    paths = make_job({"train": data.sample["train"]})
    paths.hyperparameters_file.write_text(json.dumps({
        "estimator": '"random_forest"',
        "n_estimators": "7",
        "criterion": '"entropy"',
        "max_depth": "null",
        "bootstrap": "True",  # the generic Estimator's str(True)
        "min_samples_leaf": "2",
        "sagemaker_program": '"train.py"',
        "sagemaker_submit_directory": '"s3://bucket/code/sourcedir.tar.gz"',
        "sagemaker_region": '"eu-west-1"',
        "sagemaker_container_log_level": "20",
        "_tuning_objective_metric": "validation:accuracy",
    }))
    return paths


def test_hyperparameters_as_the_sdk_json_encodes_them(runs) -> None:
    paths, result = runs["sdk_hyperparameters"]
    assert result.returncode == 0, result.log
    metadata = assert_model_written(paths)
    assert metadata["hyperparameters"] == {"estimator": "random_forest", "n_estimators": 7, "criterion": "entropy",
                                           "max_depth": None, "bootstrap": True, "min_samples_leaf": 2}
    model = joblib.load(paths.model_dir / "model.joblib")
    assert (model.n_estimators, model.criterion, model.max_depth, model.min_samples_leaf) == (7, "entropy", None, 2)
    assert "Ignored platform hyperparameters" in result.log and "_tuning_objective_metric" in result.log


@job
def twice_encoded(make_job, tmp_path, data):
    # '"\"random_forest\""' in the file: a JSON string whose value is a JSON string.
    paths = make_job({"train": data.sample["train"]})
    paths.hyperparameters_file.write_text('{"estimator": "\\"random_forest\\"", "n_estimators": "\\"6\\""}')
    assert json.loads(paths.hyperparameters_file.read_text()) == {"estimator": '"random_forest"',
                                                                  "n_estimators": '"6"'}
    return paths


def test_quoted_string_hyperparameters_sent_twice_encoded(runs) -> None:
    paths, result = runs["twice_encoded"]
    # "6" as a string is not an int: sklearn's constraint names it, before any data is read
    assert result.returncode == 2, result.log
    assert "n_estimators" in result.failure and "'6'" in result.failure


@job
def hand_made(make_job, tmp_path, data):
    paths = Paths(tmp_path / "bare")
    write_csv(paths.channel_dir("train") / "train.csv", csv_text(data.rows["train"]))
    write_csv(paths.channel_dir("validation") / "v.csv", csv_text(data.rows["validation"]))
    return paths


def test_hand_made_folder_without_config_files(runs) -> None:
    paths, result = runs["hand_made"]
    assert not paths.config_dir.exists()
    assert result.returncode == 0, result.log
    assert assert_model_written(paths)["trained_rows"] == 100
    assert "validation:accuracy=" in result.log


# -- failures ---------------------------------------------------------------------------------

def header_row(make_job, tmp_path, rows):
    write_csv(tmp_path / "d" / "with-header.csv", "label,sl,sw,pl,pw\n" + csv_text(rows))
    return make_job({"train": tmp_path / "d"}, FAST)


def non_numeric(make_job, tmp_path, rows):
    write_csv(tmp_path / "d" / "a.csv", csv_text(rows[:10]))
    text = csv_text(rows[10:20]).splitlines()
    text[2] = "1,5.1,3.5,oops,0.2"
    write_csv(tmp_path / "d" / "sub" / "part-2.csv", "\n".join(text) + "\n")
    return make_job({"train": tmp_path / "d"}, FAST)


def non_numeric_gzip(make_job, tmp_path, rows):
    text = csv_text(rows[:10]) + "2,6.1,,4.0,1.2\n"
    write_csv(tmp_path / "d" / "part.csv.gz", text, compress=True)
    return make_job({"train": tmp_path / "d"}, FAST)


def ragged(make_job, tmp_path, rows):
    write_csv(tmp_path / "d" / "ragged.csv", csv_text(rows[:4]) + "1,2,3\n" + csv_text(rows[4:8]))
    return make_job({"train": tmp_path / "d"}, FAST)


def non_utf8(make_job, tmp_path, rows):
    write_csv(tmp_path / "d" / "latin1.csv", csv_text(rows[:3]).encode() + "0,caf\u00e9,1,2,3\n".encode("latin-1"))
    return make_job({"train": tmp_path / "d"}, FAST)


def files_disagree(make_job, tmp_path, rows):
    write_csv(tmp_path / "d" / "a.csv", csv_text(rows[:10]))
    write_csv(tmp_path / "d" / "b.csv", csv_text(rows[10:20, :4]))
    return make_job({"train": tmp_path / "d"}, FAST)


def empty_channel(make_job, tmp_path, rows):
    write_csv(tmp_path / "d" / "a.csv", csv_text(rows))
    paths = make_job({"train": tmp_path / "d"}, FAST)
    (paths.channel_dir("train") / "a.csv").unlink()
    return paths


def empty_files(make_job, tmp_path, rows):
    write_csv(tmp_path / "d" / "a.csv", "")
    write_csv(tmp_path / "d" / "b.csv", "\n\n")
    return make_job({"train": tmp_path / "d"}, FAST)


def missing_train(make_job, tmp_path, rows):
    write_csv(tmp_path / "d" / "v.csv", csv_text(rows))
    return make_job({"validation": tmp_path / "d"}, FAST)


def one_column(make_job, tmp_path, rows):
    write_csv(tmp_path / "d" / "labels.csv", csv_text(rows[:, :1]))
    return make_job({"train": tmp_path / "d"}, FAST)


def continuous_labels_for_a_classifier(make_job, tmp_path, rows):
    labels = rows.copy()
    labels[7, 0] = 0.5
    write_csv(tmp_path / "d" / "a.csv", csv_text(labels))
    return make_job({"train": tmp_path / "d"}, FAST)


def missing_labels(make_job, tmp_path, rows):
    write_csv(tmp_path / "t" / "a.csv", csv_text(rows))
    write_csv(tmp_path / "v" / "a.csv", csv_text(rows[:3]) + "nan,5.1,3.5,1.4,0.2\n")
    return make_job({"train": tmp_path / "t", "validation": tmp_path / "v"}, FAST)


def unknown_estimator(make_job, tmp_path, rows):
    write_csv(tmp_path / "d" / "a.csv", csv_text(rows))
    return make_job({"train": tmp_path / "d"}, {"estimator": "xgboost"})


def unknown_hyperparameter(make_job, tmp_path, rows):
    write_csv(tmp_path / "d" / "a.csv", csv_text(rows))
    return make_job({"train": tmp_path / "d"}, {"n_estimatorz": 10})


def bad_hyperparameter_value(make_job, tmp_path, rows):
    # The data is bad too: the hyperparameter must be reported, since it is checked first.
    write_csv(tmp_path / "d" / "a.csv", "label,a,b,c,d\n" + csv_text(rows))
    return make_job({"train": tmp_path / "d"}, {"n_estimators": -3})


def invalid_hyperparameters_json(make_job, tmp_path, rows):
    write_csv(tmp_path / "d" / "a.csv", csv_text(rows))
    paths = make_job({"train": tmp_path / "d"}, FAST)
    paths.hyperparameters_file.write_text('{"n_estimators": "5",}')
    return paths


def invalid_inputdataconfig_json(make_job, tmp_path, rows):
    write_csv(tmp_path / "d" / "a.csv", csv_text(rows))
    paths = make_job({"train": tmp_path / "d"}, FAST)
    paths.inputdataconfig_file.write_text("{'train': {}}")
    return paths


def features_mismatch(make_job, tmp_path, rows):
    write_csv(tmp_path / "t" / "a.csv", csv_text(rows))
    write_csv(tmp_path / "v" / "a.csv", csv_text(rows[:10, :4]))
    return make_job({"train": tmp_path / "t", "validation": tmp_path / "v"}, FAST)


def unsupported_content_type(make_job, tmp_path, rows):
    write_csv(tmp_path / "d" / "a.csv", csv_text(rows))
    return make_job({"train": tmp_path / "d"}, FAST, content_type="application/x-recordio-protobuf")


def recordio(make_job, tmp_path, rows):
    write_csv(tmp_path / "d" / "a.csv", csv_text(rows))
    paths = make_job({"train": tmp_path / "d"}, FAST)
    config = json.loads(paths.inputdataconfig_file.read_text())
    config["train"]["RecordWrapperType"] = "RecordIO"
    paths.inputdataconfig_file.write_text(json.dumps(config))
    return paths


def bad_current_host(make_job, tmp_path, rows):
    write_csv(tmp_path / "d" / "a.csv", csv_text(rows))
    return make_job({"train": tmp_path / "d"}, FAST, hosts=2, current_host="algo-7")


FAILURES = [
    # builder, exit code, strings the failure's first line must hold
    (header_row, 3, ["'train'", "with-header.csv", "line 1", "header"]),
    (non_numeric, 3, ["'train'", "sub/part-2.csv", "line 3", "column 4", "'oops' is not a number"]),
    (non_numeric_gzip, 3, ["part.csv.gz", "line 11", "column 3", "empty"]),
    (ragged, 3, ["ragged.csv", "line 5", "has 3 columns, but line 1 has 5"]),
    (non_utf8, 3, ["latin1.csv", "line 4", "UTF-8"]),
    (files_disagree, 3, ["'b.csv' has 4 columns", "'a.csv' has 5"]),
    (empty_channel, 3, ["no files in channel 'train'"]),
    (empty_files, 3, ["'train'", "no rows"]),
    (missing_train, 3, ["No training channel", "['validation']", "'train'"]),
    (one_column, 3, ["only one column"]),
    (continuous_labels_for_a_classifier, 3, ["'train'", "classifier", "0.5 in row 8", "regressor"]),
    (missing_labels, 3, ["'validation'", "1 row(s)", "label", "row 4"]),
    (unknown_estimator, 2, ["Unknown estimator 'xgboost'", "random_forest"]),
    (unknown_hyperparameter, 2, ["Unknown hyperparameter 'n_estimatorz'", "Allowed:", "n_estimators"]),
    (bad_hyperparameter_value, 2, ["n_estimators", "range", "-3"]),
    (invalid_hyperparameters_json, 2, ["hyperparameters.json is not valid JSON"]),
    (invalid_inputdataconfig_json, 2, ["inputdataconfig.json is not valid JSON"]),
    (features_mismatch, 3, ["'validation' has 3 features but 'train' has 4"]),
    (unsupported_content_type, 2, ["'train'", "application/x-recordio-protobuf", "text/csv"]),
    (recordio, 2, ["RecordIO"]),
    (bad_current_host, 2, ["algo-7"]),
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, iris_rows, sample_data) -> dict[str, tuple[Paths, local.TrainResult]]:
    """Every job of this module (JOBS and FAILURES), run at once, each a separate `train` process."""
    data = SimpleNamespace(rows=iris_rows, sample=sample_data)
    setups = {**JOBS, **{builder.__name__: builder for builder, _, _ in FAILURES}}
    jobs: dict[str, tuple[Paths, dict | None]] = {}
    for name, setup in setups.items():
        root = tmp_path_factory.mktemp(name)
        counter = iter(range(100))

        def make_job(channels, hyperparameters=None, *, _root=root, _counter=counter, **kw):
            return jobdir.create(_root / f"job{next(_counter)}", jobdir.JobSpec(channels, hyperparameters or {}, **kw))

        made = setup(make_job, root, data) if name in JOBS else setup(make_job, root, iris_rows["train"])
        jobs[name] = made if isinstance(made, tuple) else (made, None)
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        futures = {name: pool.submit(local.run_train, paths, env=env) for name, (paths, env) in jobs.items()}
        return {name: (jobs[name][0], future.result()) for name, future in futures.items()}


@pytest.mark.parametrize(("builder", "code", "expected"), FAILURES, ids=[f[0].__name__ for f in FAILURES])
def test_bad_input_fails_with_a_useful_failure_file(runs, builder, code, expected) -> None:
    paths, result = runs[builder.__name__]
    assert result.returncode == code, result.log
    assert paths.failure_file.is_file(), result.log
    failure = paths.failure_file.read_text()
    assert 0 < len(failure) <= 1024
    first = failure.splitlines()[0]
    for text in expected:
        assert text in first, (text, first)
    assert "Traceback" not in failure
    assert not (paths.model_dir / "model.joblib").exists()
    assert not list(paths.model_dir.glob(".tmp-*"))
    assert "Training failed" in result.log
    if builder is bad_hyperparameter_value:
        assert "header" not in failure and "Read the data" not in result.log


@job
def long_reason(make_job, tmp_path, data):
    return make_job({"train": data.sample["train"]}, {"estimator": "x" * 3000})


def test_failure_reason_is_cut_to_1024_characters(runs) -> None:
    paths, result = runs["long_reason"]
    assert result.returncode == 2
    failure = paths.failure_file.read_text()
    assert len(failure.rstrip("\n")) <= 1024 and failure.rstrip().endswith("...")
    assert failure.startswith("ConfigError: Unknown estimator 'xxx")


@job
def unexpected_error(make_job, tmp_path, data):
    # class_weight keys arrive as strings from JSON; fit() fails inside scikit-learn.
    return make_job({"train": data.sample["train"]}, {"n_estimators": 2, "class_weight": {"zero": 1}})


def test_unexpected_error_in_user_code_gets_the_traceback_in_the_log(runs) -> None:
    paths, result = runs["unexpected_error"]
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.log
    first = paths.failure_file.read_text().splitlines()[0]
    assert first.startswith("ValueError: ") and "the job's log has the traceback" in first
    assert ".." not in first


@job
def no_such_package(make_job, tmp_path, data):
    return make_job({"train": data.sample["train"]}), package_env("byoc_fx_no_such_package")


@job
def serving_only_package(make_job, tmp_path, data):
    return make_job({"train": data.sample["train"]}), package_env("byoc_fx_transform")


@pytest.mark.parametrize(("name", "text"), [
    ("no_such_package", "BYOC_MODEL_PACKAGE='byoc_fx_no_such_package', but no such package"),
    ("serving_only_package", "no byoc_fx_transform.train module"),
])
def test_model_package_without_training_code(runs, name, text) -> None:
    paths, result = runs[name]
    assert result.returncode == 2, result.log
    assert text in paths.failure_file.read_text()


@job
def user_failure_file(make_job, tmp_path, data):
    return make_job({"train": data.sample["train"]}), package_env("byoc_fx_failfile")


def test_failure_file_written_by_user_code_is_kept(runs) -> None:
    paths, result = runs["user_failure_file"]
    assert result.returncode == 1, result.log
    assert paths.failure_file.read_text() == "UserModelError: the user's own reason, written by fit()\n"
    assert "Keeping the failure file the model code wrote" in result.log
    assert "fit gave up after writing the failure file" in result.log  # still logged


def with_stale_failure(paths: Paths) -> Paths:
    paths.output_dir.mkdir(parents=True, exist_ok=True)
    paths.failure_file.write_text("DataError: from yesterday's run\n")
    return paths


@job
def stale_then_success(make_job, tmp_path, data):
    return with_stale_failure(make_job({"train": data.sample["train"]}, FAST))


@job
def stale_then_failure(make_job, tmp_path, data):
    return with_stale_failure(make_job({"train": data.sample["train"]}, {"estimator": "nope"}))


def test_stale_failure_file_from_an_earlier_run_is_removed(runs) -> None:
    paths, result = runs["stale_then_success"]
    assert result.returncode == 0, result.log
    assert not paths.failure_file.exists()
    assert "Removing the failure file of an earlier run" in result.log


def test_stale_failure_file_is_replaced_by_this_runs_reason(runs) -> None:
    paths, result = runs["stale_then_failure"]
    assert result.returncode == 2
    assert "Unknown estimator 'nope'" in paths.failure_file.read_text()
    assert "yesterday" not in paths.failure_file.read_text()


# -- several hosts ------------------------------------------------------------------------------


@job
def non_leader(make_job, tmp_path, data):
    return make_job({"train": data.sample["train"]}, FAST, hosts=3, current_host="algo-2")


@job
def leader(make_job, tmp_path, data):
    return make_job({"train": data.sample["train"]}, FAST, hosts=2, current_host="algo-1")


def test_non_leader_host_exits_0_without_a_model(runs) -> None:
    paths, result = runs["non_leader"]
    assert result.returncode == 0, result.log
    assert list(paths.model_dir.iterdir()) == []
    assert not paths.failure_file.exists()
    assert "algo-2 is not the leader (algo-1 trains" in result.log
    assert result.model_archive is None


def test_leader_host_trains(runs) -> None:
    paths, result = runs["leader"]
    assert result.returncode == 0, result.log
    assert_model_written(paths)


def sharded(paths: Paths, key: str) -> Paths:
    config = json.loads(paths.inputdataconfig_file.read_text())
    del config["train"]["S3DistributionType"]
    config["train"][key] = "ShardedByS3Key"
    paths.inputdataconfig_file.write_text(json.dumps(config))
    return paths


@job
def sharded_two_hosts(make_job, tmp_path, data):
    return sharded(make_job({"train": data.sample["train"]}, FAST, hosts=2, current_host="algo-1"),
                   "S3DistributionType")


@job
def sharded_two_hosts_api_spelling(make_job, tmp_path, data):
    return sharded(make_job({"train": data.sample["train"]}, FAST, hosts=2, current_host="algo-1"),
                   "S3DataDistributionType")


@job
def sharded_one_host(make_job, tmp_path, data):
    return sharded(make_job({"train": data.sample["train"]}, FAST), "S3DistributionType")


@pytest.mark.parametrize("name", ["sharded_two_hosts", "sharded_two_hosts_api_spelling"])
def test_sharded_data_on_two_hosts_fails(runs, name) -> None:
    paths, result = runs[name]
    assert result.returncode == 2
    first = paths.failure_file.read_text().splitlines()[0]
    assert "['train']" in first and "ShardedByS3Key" in first and "FullyReplicated" in first
    assert not (paths.model_dir / "model.joblib").exists()


def test_sharded_data_on_one_host_is_fine(runs) -> None:
    paths, result = runs["sharded_one_host"]
    assert result.returncode == 0, result.log
    assert_model_written(paths)
