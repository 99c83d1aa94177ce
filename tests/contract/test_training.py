"""`train` as a real process on a temporary SAGEMAKER_BASE_DIR, as SageMaker runs it.

Each `train` is a separate process that spends most of its second importing scikit-learn, so
the jobs of this module are laid out first (the functions marked @job, and FAILURES) and run
together in one pool by the `runs` fixture; each test then checks its own job's result.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import tarfile
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Callable

import numpy as np
import pytest

from byoc import jobdir, local
from container import artifacts, metrics
from container.paths import Paths

from contract_helpers import csv_text, package_env, write_csv

FAST = {"n_estimators": 5}


def assert_model_written(paths: Paths) -> dict:
    assert sorted(p.name for p in paths.model_dir.iterdir()) == ["metadata.json", "model.skops"]
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

    model = artifacts.load_estimator(paths.model_dir)
    assert model.n_estimators == 5
    assert set(model.predict(np.loadtxt(sample_data["payload"], delimiter=","))) <= {0, 1, 2}
    with tarfile.open(result.model_archive) as tar:  # packed as SageMaker does: files at the root
        assert sorted(tar.getnames()) == ["metadata.json", "model.skops"]


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
    model = artifacts.load_estimator(paths.model_dir)
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


# -- real tables: class names, headers, text columns, missing values, seeds ----------------


@job
def text_in_a_numeric_column(make_job, tmp_path, data):
    rows = data.rows["train"]
    write_csv(tmp_path / "d" / "a.csv", csv_text(rows[:10]))
    text = csv_text(rows[10:20]).splitlines()
    text[2] = "1,5.1,3.5,oops,0.2"
    write_csv(tmp_path / "d" / "sub" / "part-2.csv", "\n".join(text) + "\n")
    return make_job({"train": tmp_path / "d"}, FAST)


def test_a_text_value_makes_its_column_categorical_and_the_log_says_where(runs) -> None:
    paths, result = runs["text_in_a_numeric_column"]
    assert result.returncode == 0, result.log
    metadata = assert_model_written(paths)
    assert metadata["model_input"] == "objects" and metadata["feature_names"] is None
    pl = metadata["features"][2]
    assert (pl["kind"], pl["source"], pl["column"]) == ("categorical", "inferred", 3)
    assert "oops" in pl["categories"] and [f["kind"] for f in metadata["features"]].count("numeric") == 3
    assert "file 'sub/part-2.csv', line 3, column 4: 'oops' is not a number, so it is read as a table" in result.log
    assert "column 4 is categorical because of text such as 'oops' (row 13 of the channel)" in result.log
    assert metadata["preprocessing"].startswith("OrdinalEncoder")


@job
def empty_fields(make_job, tmp_path, data):
    rows = data.rows["train"]
    text = csv_text(rows[:40]) + "2,6.1,,4.0,1.2\n0,5.0,3.4,NA,0.2\n" + csv_text(rows[40:])
    write_csv(tmp_path / "d" / "part.csv.gz", text, compress=True)
    return make_job({"train": tmp_path / "d"}, FAST)


@job
def empty_fields_logistic(make_job, tmp_path, data):
    paths = empty_fields(make_job, tmp_path, data)
    paths.hyperparameters_file.write_text(json.dumps({"estimator": "logistic_regression"}))
    return paths


def test_empty_fields_are_missing_values_the_forest_takes_as_they_are(runs) -> None:
    paths, result = runs["empty_fields"]
    assert result.returncode == 0, result.log
    metadata = assert_model_written(paths)
    assert metadata["trained_rows"] == 102 and metadata["model_input"] == "array"
    assert all(f["kind"] == "numeric" for f in metadata["features"])
    assert "missing values in column 3 (1.0%), column 4 (1.0%)" in result.log
    assert metadata["preprocessing"].startswith("none")
    model = artifacts.load_estimator(paths.model_dir)
    assert type(model).__name__ == "RandomForestClassifier"  # the estimator itself, NaN and all
    assert model.predict(np.array([[6.1, np.nan, 4.0, 1.2]])).shape == (1,)


def test_empty_fields_are_imputed_for_an_estimator_that_needs_every_value(runs) -> None:
    paths, result = runs["empty_fields_logistic"]
    assert result.returncode == 0, result.log
    metadata = assert_model_written(paths)
    assert metadata["preprocessing"] == "SimpleImputer(median) for missing values"
    model = artifacts.load_estimator(paths.model_dir)
    assert [name for name, _ in model.steps] == ["impute", "model"]
    assert model.predict(np.array([[np.nan, np.nan, 4.0, 1.2]])).shape == (1,)


@job
def names_like_the_aws_sample(make_job, tmp_path, data):
    # AWS's scikit_bring_your_own local kit: test_dir/input/config/hyperparameters.json (empty),
    # test_dir/input/data/training/iris.csv with the class name first, no other config file.
    paths = Paths(tmp_path / "test_dir")
    paths.config_dir.mkdir(parents=True)
    paths.hyperparameters_file.write_text("")
    write_csv(paths.channel_dir("training") / "iris.csv", named_text(data.rows["train"]))
    return paths


def test_class_names_first_without_a_header_as_the_aws_sample_has_them(runs, iris_rows) -> None:
    paths, result = runs["names_like_the_aws_sample"]
    assert result.returncode == 0, result.log
    metadata = assert_model_written(paths)
    assert metadata["classes"] == ["setosa", "versicolor", "virginica"]
    assert metadata["hyperparameters"] == {} and metadata["seed"] == 0
    assert metadata["model_input"] == "array" and metadata["label_column"] == 0
    assert "positive_class" not in metadata  # three classes: auc, precision and recall are macro
    model = artifacts.load_estimator(paths.model_dir)
    predicted = model.predict(iris_rows["test"][:, 1:])
    assert set(predicted) <= set(NAMES) and (predicted == NAMES[iris_rows["test"][:, 0].astype(int)]).mean() > 0.8
    assert "train:accuracy=" in result.log and "train:auc=" in result.log


@job
def header_and_label_column(make_job, tmp_path, data):
    rows = data.rows["train"][:, [1, 2, 0, 3, 4]]  # the label in the middle
    write_csv(tmp_path / "d" / "a.csv", with_header(rows, "sl,sw,species,pl,pw"))
    return make_job({"train": tmp_path / "d"}, {**FAST, "label_column": "species"},
                    content_type="text/csv;header=present")


def test_a_header_names_the_features_and_label_column_picks_the_label(runs) -> None:
    paths, result = runs["header_and_label_column"]
    assert result.returncode == 0, result.log
    metadata = assert_model_written(paths)
    assert metadata["feature_names"] == ["sl", "sw", "pl", "pw"] and metadata["label_column"] == "species"
    assert metadata["header"] == ["sl", "sw", "species", "pl", "pw"]
    assert metadata["model_input"] == "array" and metadata["classes"] == [0, 1, 2]
    assert [f["column"] for f in metadata["features"]] == [0, 1, 3, 4]
    assert metadata["metrics"]["train:accuracy"] > 0.9


@job
def forced_categorical(make_job, tmp_path, data):
    write_csv(tmp_path / "d" / "a.csv", with_header(data.rows["train"]))
    return make_job({"train": tmp_path / "d"}, {**FAST, "categorical_columns": "pw"},
                    content_type="text/csv;header=present")


def test_categorical_columns_forces_a_numeric_column_to_categories(runs) -> None:
    paths, result = runs["forced_categorical"]
    assert result.returncode == 0, result.log
    metadata = assert_model_written(paths)
    pw = metadata["features"][3]
    assert (pw["name"], pw["kind"], pw["source"]) == ("pw", "categorical", "categorical_columns")
    assert "0.2" in pw["categories"]  # the text the file held, as a request will send it
    assert metadata["model_input"] == "objects"
    assert "1 categorical feature(s) forced by categorical_columns: pw" in result.log


@job
def seeded_once(make_job, tmp_path, data):
    return make_job({"train": data.sample["train"]}, {"n_estimators": 8})


@job
def seeded_twice(make_job, tmp_path, data):
    return make_job({"train": data.sample["train"]}, {"n_estimators": 8})


@job
def unseeded(make_job, tmp_path, data):
    return make_job({"train": data.sample["train"]}, {"n_estimators": 8, "seed": "none"})


@job
def own_random_state(make_job, tmp_path, data):
    return make_job({"train": data.sample["train"]}, {"n_estimators": 8, "random_state": 3, "seed": 11})


def test_default_training_is_reproducible(runs, iris_rows) -> None:
    models = []
    for name in ("seeded_once", "seeded_twice"):
        paths, result = runs[name]
        assert result.returncode == 0, result.log
        assert assert_model_written(paths)["seed"] == 0
        assert "Seed 0: set random_state." in result.log
        models.append(artifacts.load_estimator(paths.model_dir))
    X = np.vstack([iris_rows["test"][:, 1:], iris_rows["test"][:, 1:] + 0.37])  # off the training points too
    np.testing.assert_array_equal(models[0].predict_proba(X), models[1].predict_proba(X))


def test_seed_none_leaves_random_state_alone_and_random_state_given_wins(runs) -> None:
    paths, result = runs["unseeded"]
    assert result.returncode == 0, result.log
    assert assert_model_written(paths)["seed"] is None
    assert artifacts.load_estimator(paths.model_dir).random_state is None
    paths, result = runs["own_random_state"]
    assert result.returncode == 0, result.log
    assert assert_model_written(paths)["seed"] == 11
    assert artifacts.load_estimator(paths.model_dir).random_state == 3


# -- failures ---------------------------------------------------------------------------------

def header_row(make_job, tmp_path, rows):
    write_csv(tmp_path / "d" / "with-header.csv", "label,sl,sw,pl,pw\n" + csv_text(rows))
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


NAMES = np.array(["setosa", "versicolor", "virginica"])


def named_text(rows: np.ndarray) -> str:
    """Iris rows with the class name first, as AWS's scikit_bring_your_own sample has them."""
    return "".join(",".join([NAMES[int(row[0])], *(f"{v:g}" for v in row[1:])]) + "\n" for row in rows)


def with_header(rows: np.ndarray, header: str = "label,sl,sw,pl,pw") -> str:
    return header + "\n" + csv_text(rows)


def regressor_with_text_labels(make_job, tmp_path, rows):
    write_csv(tmp_path / "d" / "a.csv", named_text(rows))
    return make_job({"train": tmp_path / "d"}, {"estimator": "random_forest_regressor", "n_estimators": 5})


def unknown_label_column(make_job, tmp_path, rows):
    write_csv(tmp_path / "d" / "a.csv", with_header(rows, "label,sepal_length,sw,pl,pw"))
    return make_job({"train": tmp_path / "d"}, {**FAST, "label_column": "species"},
                    content_type="text/csv;header=present")


def label_column_name_without_header(make_job, tmp_path, rows):
    write_csv(tmp_path / "d" / "a.csv", named_text(rows))
    return make_job({"train": tmp_path / "d"}, {**FAST, "label_column": "species"})


def unknown_categorical_column(make_job, tmp_path, rows):
    write_csv(tmp_path / "d" / "a.csv", with_header(rows))
    return make_job({"train": tmp_path / "d"}, {**FAST, "categorical_columns": "colour"},
                    content_type="text/csv;header=present")


def label_as_categorical_column(make_job, tmp_path, rows):
    write_csv(tmp_path / "d" / "a.csv", with_header(rows))
    return make_job({"train": tmp_path / "d"}, {**FAST, "categorical_columns": ["label", "sl"]},
                    content_type="text/csv;header=present")


def text_in_a_numeric_validation_column(make_job, tmp_path, rows):
    write_csv(tmp_path / "t" / "a.csv", csv_text(rows))
    text = csv_text(rows[:5]).splitlines()
    text[2] = "1,5.1,3.5,oops,0.2"
    write_csv(tmp_path / "v" / "v.csv", "\n".join(text) + "\n")
    return make_job({"train": tmp_path / "t", "validation": tmp_path / "v"}, FAST)


def short_row_in_a_table(make_job, tmp_path, rows):
    lines = with_header(rows[:10]).splitlines()
    lines[3] = "1,5.1,3.5"  # line 4: two fields short, which pandas alone would fill with NaN
    write_csv(tmp_path / "d" / "short.csv", "\n".join(lines) + "\n")
    return make_job({"train": tmp_path / "d"}, FAST, content_type="text/csv;header=present")


def files_with_other_headers(make_job, tmp_path, rows):
    write_csv(tmp_path / "d" / "a.csv", with_header(rows[:50]))
    write_csv(tmp_path / "d" / "b.csv", with_header(rows[50:], "label,pw,pl,sw,sl"))
    return make_job({"train": tmp_path / "d"}, FAST, content_type="text/csv;header=present")


def duplicate_header_name(make_job, tmp_path, rows):
    write_csv(tmp_path / "d" / "a.csv", with_header(rows, "label,sl,sl,pl,pw"))
    return make_job({"train": tmp_path / "d"}, FAST, content_type="text/csv;header=present")


def unknown_positive_class(make_job, tmp_path, rows):
    write_csv(tmp_path / "d" / "a.csv", named_text(rows))
    return make_job({"train": tmp_path / "d"}, {**FAST, "positive_class": "maybe"})


def bad_seed(make_job, tmp_path, rows):
    write_csv(tmp_path / "d" / "a.csv", csv_text(rows))
    return make_job({"train": tmp_path / "d"}, {**FAST, "seed": -1})


def with_value(rows: np.ndarray, line: int, column: int, value: str, header: str | None = None) -> str:
    """rows as CSV (after `header`), the 1-based `column` of 1-based file `line` written as `value`."""
    lines = ([header] if header else []) + csv_text(rows).splitlines()
    fields = lines[line - 1].split(",")
    fields[column - 1] = value
    lines[line - 1] = ",".join(fields)
    return "\n".join(lines) + "\n"


def infinity_in_a_feature(make_job, tmp_path, rows):
    write_csv(tmp_path / "d" / "a.csv", csv_text(rows[:10]))
    write_csv(tmp_path / "d" / "b.csv", with_value(rows[10:], 7, 3, "inf"))
    return make_job({"train": tmp_path / "d"}, FAST)


def overflow_to_infinity(make_job, tmp_path, rows):
    write_csv(tmp_path / "d" / "a.csv", with_value(rows, 12, 5, "-1e999"))
    return make_job({"train": tmp_path / "d"}, {"estimator": "logistic_regression"})


def infinity_in_a_table(make_job, tmp_path, rows):
    text = with_value(rows, 5, 4, "-Infinity", header="label,sl,sw,pl,pw")
    text = text.replace("\n", ",x\n").replace("pw,x", "pw,colour", 1)  # a text column: the table path
    write_csv(tmp_path / "d" / "a.csv", text)
    return make_job({"train": tmp_path / "d"}, FAST, content_type="text/csv;header=present")


def infinity_in_validation(make_job, tmp_path, rows):
    write_csv(tmp_path / "t" / "a.csv", csv_text(rows))
    write_csv(tmp_path / "v" / "v.csv", with_value(rows[:20], 3, 2, "Infinity"))
    return make_job({"train": tmp_path / "t", "validation": tmp_path / "v"}, FAST)


def too_large_for_float32(make_job, tmp_path, rows):
    write_csv(tmp_path / "d" / "a.csv", with_value(rows, 9, 2, "1e39"))
    return make_job({"train": tmp_path / "d"}, FAST)


def truncated_gzip(make_job, tmp_path, rows):
    data = gzip.compress(("".join([csv_text(rows)] * 50)).encode())
    write_csv(tmp_path / "d" / "big.csv.gz", data[: len(data) // 2])
    return make_job({"train": tmp_path / "d"}, FAST)


def truncated_gzip_table(make_job, tmp_path, rows):
    data = gzip.compress(("label,sl,sw,pl,pw\n" + "".join([csv_text(rows)] * 50)).encode())
    write_csv(tmp_path / "d" / "big.csv.gz", data[: len(data) // 2])
    return make_job({"train": tmp_path / "d"}, FAST, content_type="text/csv;header=present")


def corrupt_gzip(make_job, tmp_path, rows):
    data = bytearray(gzip.compress(("".join([csv_text(rows)] * 50)).encode()))
    data[len(data) // 2: len(data) // 2 + 64] = bytes(64)
    write_csv(tmp_path / "d" / "bad.csv.gz", bytes(data))
    return make_job({"train": tmp_path / "d"}, FAST)


def estimator_from_an_untrusted_module(make_job, tmp_path, rows):
    write_csv(tmp_path / "d" / "a.csv", csv_text(rows))
    return make_job({"train": tmp_path / "d"}, {"estimator": "os.system"})


def sklearn_function_as_estimator(make_job, tmp_path, rows):
    write_csv(tmp_path / "d" / "a.csv", csv_text(rows))
    return make_job({"train": tmp_path / "d"}, {"estimator": "sklearn.datasets.fetch_openml"})


def module_not_in_trusted_modules(make_job, tmp_path, rows):
    write_csv(tmp_path / "d" / "a.csv", "label,a,b,c,d\n" + csv_text(rows))  # never read: refused first
    return make_job({"train": tmp_path / "d"}, {"estimator": "json.JSONDecoder"}), package_env("byoc_fx_own_estimator")


FAILURES = [
    # builder, exit code, strings the failure's first line must hold
    (infinity_in_a_feature, 3, ["'train'", "file 'b.csv', line 7, column 3", "'inf' is infinite", "finite"]),
    (overflow_to_infinity, 3, ["'train'", "file 'a.csv', line 12, column 5", "'-1e999' is too large for a float64"]),
    (infinity_in_a_table, 3, ["'train'", "file 'a.csv', line 5, column 4", "'-Infinity' is infinite"]),
    (infinity_in_validation, 3, ["'validation'", "file 'v.csv', line 3, column 2", "'Infinity' is infinite"]),
    (too_large_for_float32, 3, ["'train'", "file 'a.csv', line 9, column 2", "'1e39' is too large for estimator "
                                "'random_forest', which computes in float32", "gradient_boosting"]),
    (truncated_gzip, 3, ["'train'", "file 'big.csv.gz' is cut short", "complete line(s) of CSV", "gzip -t"]),
    (truncated_gzip_table, 3, ["'train'", "file 'big.csv.gz' is cut short", "complete line(s) of CSV"]),
    (corrupt_gzip, 3, ["'train'", "file 'bad.csv.gz'", "gzip"]),
    (estimator_from_an_untrusted_module, 2, ["Estimator 'os.system' is not allowed", "sklearn.*",
                                             "TRUSTED_MODULES"]),
    (sklearn_function_as_estimator, 2, ["'sklearn.datasets.fetch_openml' is not an estimator class"]),
    (module_not_in_trusted_modules, 2, ["'json.JSONDecoder' is not allowed", "byoc_fx_third_party"]),
    (header_row, 3, ["'train'", "with-header.csv", "line 1", "header"]),
    (regressor_with_text_labels, 3, ["'train'", "regressor", "the first column", "text",
                                     "'setosa' in file 'a.csv', line 1, column 1 (row 1 of the channel)"]),
    (unknown_label_column, 2, ["label_column='species'", "not a column", "sepal_length"]),
    (label_column_name_without_header, 2, ["label_column='species'", "no header"]),
    (unknown_categorical_column, 2, ["categorical_columns='colour'", "not a column"]),
    (label_as_categorical_column, 2, ["categorical_columns", "'label'", "label column"]),
    (text_in_a_numeric_validation_column, 3, ["'validation'", "v.csv", "line 3", "column 4", "'oops' is not a number"]),
    (short_row_in_a_table, 3, ["'train'", "short.csv", "line 4", "has 3 columns, but line 1 has 5"]),
    (files_with_other_headers, 3, ["'train'", "b.csv", "another header", "a.csv"]),
    (duplicate_header_name, 3, ["'train'", "names column 'sl' twice"]),
    (unknown_positive_class, 2, ["positive_class='maybe'", "not one of the classes", "setosa"]),
    (bad_seed, 2, ["seed=-1", "whole number"]),
    (ragged, 3, ["ragged.csv", "line 5", "has 3 columns, but line 1 has 5"]),
    (non_utf8, 3, ["latin1.csv", "line 4", "UTF-8"]),
    (files_disagree, 3, ["'b.csv' has 4 columns", "'a.csv' has 5"]),
    (empty_channel, 3, ["no files in channel 'train'"]),
    (empty_files, 3, ["'train'", "no rows", "'a.csv' is empty (0 bytes)", "'b.csv' holds only empty lines"]),
    (missing_train, 3, ["No training channel", "['validation']", "'train'"]),
    (one_column, 3, ["only one column"]),
    (continuous_labels_for_a_classifier, 3, ["'train'", "classifier", "0.5 in file 'a.csv', line 8, column 1",
                                             "regressor"]),
    (missing_labels, 3, ["'validation'", "1 row(s)", "label", "file 'a.csv', line 4, column 1 (row 4 of the channel)"]),
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
    assert not paths.model_dir.exists() or not any(paths.model_dir.iterdir())
    assert "Training failed" in result.log
    if builder in (bad_hyperparameter_value, estimator_from_an_untrusted_module, module_not_in_trusted_modules):
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
def own_estimator_class(make_job, tmp_path, data):
    return (make_job({"train": data.sample["train"]}, {"estimator": "byoc_fx_own_estimator.estimators.Majority"}),
            package_env("byoc_fx_own_estimator"))


@job
def trusted_module_estimator(make_job, tmp_path, data):
    return (make_job({"train": data.sample["train"]},
                     {"estimator": "byoc_fx_third_party.NearestCentroidLike", "shrink": 0.1}),
            package_env("byoc_fx_own_estimator"))


@job
def sklearn_class_by_path(make_job, tmp_path, data):
    return make_job({"train": data.sample["train"]}, {"estimator": "sklearn.linear_model.LogisticRegression"})


@pytest.mark.parametrize(("name", "cls", "saved_as"), [
    ("own_estimator_class", "byoc_fx_own_estimator.estimators.Majority", "model.joblib"),
    ("trusted_module_estimator", "byoc_fx_third_party.NearestCentroidLike", "model.joblib"),
    ("sklearn_class_by_path", "sklearn.linear_model._logistic.LogisticRegression", "model.skops"),
])
def test_estimators_by_import_path_from_trusted_modules(runs, name, cls, saved_as) -> None:
    """The package's own classes and TRUSTED_MODULES' train; a type skops cannot vouch for is
    saved with joblib, and metadata.json says why."""
    paths, result = runs[name]
    assert result.returncode == 0, result.log
    assert sorted(p.name for p in paths.model_dir.iterdir()) == ["metadata.json", saved_as]
    metadata = json.loads((paths.model_dir / "metadata.json").read_text())
    assert metadata["estimator_class"] == cls
    assert metadata["model"]["file"] == saved_as
    if saved_as == "model.joblib":
        assert cls.rsplit(".", 1)[1] in metadata["model"]["why"]
        assert "saved with joblib (a pickle, loaded only in the image)" in result.log
    assert list(metadata["files"]) == [saved_as]


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
    # No host algo-1 here: the wait for it ends after BYOC_LEADER_WAIT_SECONDS.
    return (make_job({"train": data.sample["train"]}, FAST, hosts=3, current_host="algo-2"),
            {"BYOC_LEADER_WAIT_SECONDS": "1"})


@job
def leader(make_job, tmp_path, data):
    return (make_job({"train": data.sample["train"]}, FAST, hosts=2, current_host="algo-1"),
            {"BYOC_LEADER_PORT": str(local.free_port())})


def test_non_leader_host_exits_0_without_a_model(runs) -> None:
    paths, result = runs["non_leader"]
    assert result.returncode == 0, result.log
    assert list(paths.model_dir.iterdir()) == []
    assert not paths.failure_file.exists()
    assert "algo-2 is not the leader (algo-1 trains" in result.log
    assert "the leader algo-1:7799 could not be reached within 1 s" in result.log
    assert result.model_archive is None


def test_leader_host_trains(runs) -> None:
    paths, result = runs["leader"]
    assert result.returncode == 0, result.log
    assert "Leader: the other hosts wait on port" in result.log
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
    assert not paths.model_dir.exists() or not any(paths.model_dir.iterdir())


def test_sharded_data_on_one_host_is_fine(runs) -> None:
    paths, result = runs["sharded_one_host"]
    assert result.returncode == 0, result.log
    assert_model_written(paths)
