"""hyperparameters.json: every value a string, stringified three different ways by clients."""

from __future__ import annotations

import json

import pytest

from container import hyperparameters as hp
from container.errors import ConfigError


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # JSON-encoded, as the SDK's framework estimators send them
        ('"random_forest"', "random_forest"),
        ("50", 50),
        ("0.1", 0.1),
        ("true", True),
        ("false", False),
        ("null", None),
        ("[1, 2]", [1, 2]),
        ('{"a": 1}', {"a": 1}),
        ("-3", -3),
        ("1e-3", 0.001),
        # str()-encoded, as the SDK's generic Estimator sends them
        ("True", True),
        ("False", False),
        ("None", None),
        (" True ", True),
        # plain strings, as Step Functions or the console send them
        ("gini", "gini"),
        ("balanced_subsample", "balanced_subsample"),
        ("sqrt", "sqrt"),
        ("", ""),
        ("not json {", "not json {"),
    ],
)
def test_parse_value(raw: str, expected: object) -> None:
    value = hp.parse_value(raw)
    assert value == expected
    assert type(value) is type(expected)


def test_parse_value_keeps_real_json_values_from_hand_written_files() -> None:
    assert hp.parse_value(7) == 7
    assert hp.parse_value([1]) == [1]


def test_parse_drops_reserved_keys_and_parses_the_rest() -> None:
    raw = {
        "n_estimators": "50",
        "criterion": '"gini"',
        "bootstrap": "True",
        "max_samples": "0.5",
        "class_weight": "balanced",
        "sagemaker_program": '"train.py"',
        "sagemaker_submit_directory": '"s3://bucket/code.tar.gz"',
        "sagemaker_region": '"eu-west-1"',
        "sagemaker_container_log_level": "20",
        "_tuning_objective_metric": "validation:accuracy",
    }
    assert hp.parse(raw) == {
        "n_estimators": 50,
        "criterion": "gini",
        "bootstrap": True,
        "max_samples": 0.5,
        "class_weight": "balanced",
    }
    assert set(hp.reserved(raw)) == {
        "sagemaker_program", "sagemaker_submit_directory", "sagemaker_region",
        "sagemaker_container_log_level", "_tuning_objective_metric",
    }
    assert hp.reserved(raw)["sagemaker_program"] == "train.py"


def test_reserved_is_a_prefix_rule_for_sagemaker_only() -> None:
    assert hp.is_reserved("sagemaker_anything_new")
    assert hp.is_reserved("_tuning_objective_metric")
    assert not hp.is_reserved("_tuning_objective")  # only the exact key
    assert not hp.is_reserved("my_sagemaker_flag")


@pytest.mark.parametrize("raw", [[], "text", 3])
def test_parse_refuses_a_file_that_is_not_an_object(raw: object) -> None:
    with pytest.raises(ConfigError, match="JSON object"):
        hp.parse(raw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "values",
    [
        {"n_estimators": 50, "max_samples": 0.5, "bootstrap": False, "max_depth": None},
        {"criterion": "gini", "max_features": "sqrt"},
        {"hidden": [64, 32], "weights": {"0": 1.0, "1": 2.5}},
        # strings that read as JSON or as Python literals must come back as strings
        {"a": "50", "b": "true", "c": "null", "d": "None", "e": "True", "f": "[1]", "g": "nan", "h": "1e5"},
        {"quoted": '"already quoted"', "spaces": "  padded  ", "empty": ""},
    ],
)
def test_to_api_round_trips_through_parse(values: dict) -> None:
    api = hp.to_api(values)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in api.items())
    assert hp.parse(api) == values
    assert [type(v) for v in hp.parse(api).values()] == [type(v) for v in values.values()]


def test_to_api_leaves_plain_strings_readable() -> None:
    assert hp.to_api({"criterion": "gini", "n": 5}) == {"criterion": "gini", "n": "5"}


def test_to_api_output_is_what_hyperparameters_json_holds() -> None:
    text = json.dumps(hp.to_api({"n_estimators": 10, "criterion": "entropy"}))
    assert hp.parse(json.loads(text)) == {"n_estimators": 10, "criterion": "entropy"}
