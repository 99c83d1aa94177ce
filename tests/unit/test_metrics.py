"""Metric lines and the MetricDefinitions regexes that scrape them, defined once."""

from __future__ import annotations

import re

import numpy as np
import pytest
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression

from container import metrics

VALUES = [0.9731, 0.0, 1.0, -0.25, 123456789.0, 1.5e-7, 3e12, -4.2e-9, 0.1 + 0.2]


def test_at_most_40_definitions_with_names_and_regexes_sagemaker_accepts() -> None:
    assert 0 < len(metrics.METRIC_DEFINITIONS) <= 40
    names = [d["Name"] for d in metrics.METRIC_DEFINITIONS]
    assert len(set(names)) == len(names)
    for definition in metrics.METRIC_DEFINITIONS:
        assert set(definition) == {"Name", "Regex"}
        assert 1 <= len(definition["Name"]) <= 255
        assert 1 <= len(definition["Regex"]) <= 500
        assert re.compile(definition["Regex"]).groups == 1  # SageMaker takes the first group


@pytest.mark.parametrize("definition", metrics.METRIC_DEFINITIONS, ids=lambda d: d["Name"])
def test_every_regex_matches_format_line(definition: dict) -> None:
    for value in VALUES:
        line = metrics.format_line(definition["Name"], value)
        match = re.search(definition["Regex"], line)
        assert match, (definition, line)
        assert float(match.group(1)) == pytest.approx(value, rel=1e-5, abs=1e-12)


@pytest.mark.parametrize("definition", metrics.METRIC_DEFINITIONS, ids=lambda d: d["Name"])
def test_no_regex_matches_another_metrics_line(definition: dict) -> None:
    others = [d["Name"] for d in metrics.METRIC_DEFINITIONS if d["Name"] != definition["Name"]]
    log = "\n".join(metrics.format_line(name, 0.5) for name in others)
    assert re.search(definition["Regex"], log) is None


def test_format_line_is_the_documented_shape() -> None:
    assert metrics.format_line("validation:accuracy", 0.9731) == "validation:accuracy=0.9731;"


def test_parse_log_round_trips_inside_a_real_looking_log() -> None:
    written = {d["Name"]: float(i) / 7 for i, d in enumerate(metrics.METRIC_DEFINITIONS)}
    log = "2026-01-01 INFO [12] container.training: Fitted in 0.2 s.\n"
    log += "".join(f"{metrics.format_line(k, v)}\n" for k, v in written.items())
    log += "2026-01-01 INFO [12] container.training: Model written\n"
    parsed = metrics.parse_log(log)
    assert parsed.keys() == written.keys()
    for name, value in written.items():
        assert parsed[name] == pytest.approx(value, rel=1e-5)


def test_parse_log_keeps_the_last_value_as_sagemaker_does() -> None:
    log = "train:rmse=3.0;\nnoise\ntrain:rmse=2.5;\n"
    assert metrics.parse_log(log) == {"train:rmse": 2.5}


def test_parse_log_ignores_undefined_names_and_junk() -> None:
    assert metrics.parse_log("train:speed=3.0;\nvalidation:accuracy=abc;\n") == {}


def test_score_classification() -> None:
    X = np.arange(20, dtype=float).reshape(10, 2)
    y = np.array([0] * 5 + [1] * 5)
    values = metrics.score("classification", DummyClassifier(strategy="prior").fit(X, y), X, y)
    assert set(values) == {"accuracy", "f1_macro", "log_loss", "auc", "precision", "recall"}
    assert values["accuracy"] == 0.5
    assert values["auc"] == 0.5  # a constant score ranks nothing
    assert all(isinstance(v, float) for v in values.values())


def test_score_classification_with_labels_training_never_saw_skips_log_loss() -> None:
    X = np.zeros((4, 1))
    model = DummyClassifier().fit(X, [0, 0, 1, 1])
    values = metrics.score("classification", model, X, np.array([0, 1, 2, 2]))
    assert "log_loss" not in values and "accuracy" in values


def test_score_regression() -> None:
    X = np.arange(10, dtype=float).reshape(-1, 1)
    y = 2 * X[:, 0] + 1
    values = metrics.score("regression", LinearRegression().fit(X, y), X, y)
    assert set(values) == {"rmse", "mae", "r2"}
    assert values["rmse"] == pytest.approx(0, abs=1e-9)
    assert values["r2"] == pytest.approx(1.0)


def test_score_regression_on_one_row_leaves_r2_out() -> None:
    model = DummyRegressor().fit(np.zeros((3, 1)), [1.0, 2.0, 3.0])
    assert set(metrics.score("regression", model, np.zeros((1, 1)), np.array([2.0]))) == {"rmse", "mae"}


def test_score_other_tasks_print_nothing() -> None:
    assert metrics.score("other", object(), np.zeros((1, 1)), np.zeros(1)) == {}


def test_every_scored_metric_has_a_definition() -> None:
    names = {d["Name"] for d in metrics.METRIC_DEFINITIONS}
    for channel in metrics.CHANNELS:
        for metric in metrics.CLASSIFICATION + metrics.REGRESSION:
            assert f"{channel}:{metric}" in names


def test_the_new_metrics_are_defined_for_every_channel_within_sagemakers_40() -> None:
    names = {d["Name"] for d in metrics.METRIC_DEFINITIONS}
    for channel in metrics.CHANNELS:
        assert {f"{channel}:auc", f"{channel}:precision", f"{channel}:recall"} <= names
    assert len(names) == 27


# Lines a real `train` printed, on the bank sample (tests/contract/test_real_data.py's job).
REAL_LOG = """\
2026-12-01 02:21:30,777 INFO [32748] container.training: Binary metrics (auc, precision, recall) count \
'yes' as the positive class of ['no', 'yes']; set positive_class to choose another.
train:accuracy=0.9534;
train:f1_macro=0.911239;
train:precision=0.949335;
train:recall=0.769589;
train:log_loss=0.136266;
train:auc=0.992099;
validation:accuracy=0.906;
validation:f1_macro=0.806206;
validation:precision=0.781095;
validation:recall=0.5822;
validation:log_loss=0.280035;
validation:auc=0.917332;
2026-12-01 02:21:32,605 INFO [32748] container.training: Model written: /tmp/t1/job-bank2/model/model.joblib
"""


def test_the_auc_regexes_scrape_a_real_log() -> None:
    found = metrics.parse_log(REAL_LOG)
    assert found["validation:auc"] == 0.917332 and found["train:auc"] == 0.992099
    assert found["validation:precision"] == 0.781095 and found["validation:recall"] == 0.5822
    assert "test:auc" not in found


def test_binary_metrics_count_the_named_positive_class() -> None:
    X = np.arange(8, dtype=float).reshape(-1, 1)
    y = np.array(["no", "no", "no", "yes", "no", "yes", "yes", "yes"], dtype=object)
    model = LogisticRegression().fit(X, y)
    yes = metrics.score("classification", model, X, y)
    no = metrics.score("classification", model, X, y, positive="no")
    assert yes["auc"] == pytest.approx(no["auc"])  # AUC is symmetric in the positive class
    assert yes["auc"] > 0.9
    predicted = model.predict(X)
    assert yes["recall"] == pytest.approx(np.mean(predicted[y == "yes"] == "yes"))
    assert no["recall"] == pytest.approx(np.mean(predicted[y == "no"] == "no"))


def test_multiclass_auc_is_one_vs_rest_macro_and_precision_macro() -> None:
    from sklearn.datasets import load_iris
    from sklearn.metrics import precision_score, roc_auc_score

    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"], dtype=object)[y]
    model = LogisticRegression(max_iter=500).fit(X, names)
    values = metrics.score("classification", model, X, names)
    assert values["auc"] == pytest.approx(roc_auc_score(names, model.predict_proba(X), multi_class="ovr"))
    assert values["precision"] == pytest.approx(precision_score(names, model.predict(X), average="macro"))


def test_a_channel_with_one_class_leaves_auc_out() -> None:
    X = np.arange(6, dtype=float).reshape(-1, 1)
    model = LogisticRegression().fit(X, [0, 0, 0, 1, 1, 1])
    values = metrics.score("classification", model, X[:3], np.array([0, 0, 0]))
    assert "auc" not in values and "accuracy" in values


@pytest.mark.parametrize(("classes", "chosen", "expected"), [
    ([0, 1], None, 1),
    (["no", "yes"], None, "yes"),
    (["Yes", "no"], None, "Yes"),
    ([False, True], None, True),
    (["bad", "good"], None, "good"),  # scikit-learn's convention: the second sorted class
    (["bad", "good"], "bad", "bad"),
    ([0, 1], "0", 0),  # a hyperparameter's text matches a number
    (["a", "b", "c"], None, None),
])
def test_positive_class(classes: list, chosen: object, expected: object) -> None:
    assert metrics.positive_class(classes, chosen) == expected


def test_a_positive_class_that_is_not_a_class_is_refused() -> None:
    with pytest.raises(ValueError, match="maybe"):
        metrics.positive_class(["no", "yes"], "maybe")
