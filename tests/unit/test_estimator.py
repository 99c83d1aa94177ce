"""Building the estimator from hyperparameters, and refusing bad ones before data is read."""

from __future__ import annotations

import pytest
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.svm import SVC

from container import estimator
from container.errors import ConfigError
from model.train import ESTIMATOR, ESTIMATORS


def build(hps: dict, registry: dict = ESTIMATORS, default: str = ESTIMATOR) -> estimator.BuiltEstimator:
    return estimator.build(hps, registry, default)


def config_error(hps: dict, registry: dict = ESTIMATORS) -> str:
    with pytest.raises(ConfigError) as info:
        build(hps, registry)
    return str(info.value)


def test_default_estimator_with_its_own_params() -> None:
    built = build({"n_estimators": 7, "max_depth": None, "criterion": "entropy"})
    assert built.name == "random_forest"
    assert isinstance(built.estimator, RandomForestClassifier)
    assert built.estimator.n_estimators == 7 and built.estimator.criterion == "entropy"
    assert built.params == {"n_estimators": 7, "max_depth": None, "criterion": "entropy"}
    assert built.task == "classification"


def test_the_registry_does_not_share_instances_between_builds() -> None:
    first = build({"n_estimators": 3}).estimator
    second = build({}).estimator
    assert first is not second and second.n_estimators == 100


@pytest.mark.parametrize(
    ("name", "task"),
    [("random_forest", "classification"), ("random_forest_regressor", "regression"),
     ("gradient_boosting", "classification"), ("gradient_boosting_regressor", "regression"),
     ("logistic_regression", "classification"), ("ridge", "regression")],
)
def test_every_registered_estimator_builds_and_has_a_task(name: str, task: str) -> None:
    assert build({"estimator": name}).task == task


def test_unknown_estimator_lists_the_choices() -> None:
    message = config_error({"estimator": "xgboost"})
    assert "Unknown estimator 'xgboost'" in message
    for name in ESTIMATORS:
        assert name in message


def test_estimator_by_import_path() -> None:
    built = build({"estimator": "sklearn.svm.SVC", "C": 2.0, "kernel": "linear"})
    assert isinstance(built.estimator, SVC) and built.estimator.C == 2.0


@pytest.mark.parametrize("name", ["sklearn.svm.Nope", "sklearn.no_such_module.Thing", "mylib.nope.Thing"])
def test_import_path_that_does_not_exist(name: str) -> None:
    with pytest.raises(ConfigError, match="cannot be imported"):
        estimator.build({"estimator": name}, ESTIMATORS, ESTIMATOR, ["mylib"])


@pytest.mark.parametrize("name", [
    "os.system", "subprocess.Popen", "builtins.eval", "no_such_module.Thing",
    "sklearnx.Thing",  # not a submodule of sklearn, although it starts like one
    "mylibrary.Thing",  # nor of mylib
    "sklearn.svm.SVC()", "sklearn..svm.SVC",
])
def test_import_paths_outside_sklearn_and_trusted_modules_are_refused_before_import(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    imported: list[str] = []
    monkeypatch.setattr(estimator.importlib, "import_module", lambda module: imported.append(module))
    with pytest.raises(ConfigError) as info:
        estimator.build({"estimator": name}, ESTIMATORS, ESTIMATOR, ["mylib"])
    assert "is not allowed" in str(info.value) and "TRUSTED_MODULES" in str(info.value)
    assert "mylib" in str(info.value)
    assert imported == []


def test_trusted_modules_and_their_submodules_may_be_named() -> None:
    built = estimator.build({"estimator": "sklearn.svm.SVC"}, ESTIMATORS, ESTIMATOR, ["collections"])
    assert isinstance(built.estimator, SVC)
    # A class of a trusted module (or of a submodule) is imported and called; this one then has no fit().
    for name in ("collections.OrderedDict", "collections.abc.Set"):
        with pytest.raises(ConfigError, match="no fit()|could not be created"):
            estimator.build({"estimator": name}, ESTIMATORS, ESTIMATOR, ["collections"])


@pytest.mark.parametrize("name", ["sklearn.datasets.fetch_openml", "sklearn.show_versions",
                                  "sklearn.svm.__name__"])
def test_only_estimator_classes_of_sklearn_are_called(name: str) -> None:
    assert "not an estimator class" in config_error({"estimator": name})


@pytest.mark.parametrize("value", [5, ["random_forest"], True])
def test_estimator_name_must_be_a_string(value: object) -> None:
    assert "must be a name" in config_error({"estimator": value})


def test_unknown_parameter_names_it_and_lists_the_allowed_ones() -> None:
    message = config_error({"n_estimatorz": 3})
    assert "Unknown hyperparameter 'n_estimatorz'" in message
    assert "random_forest" in message
    allowed = message.split("Allowed: ", 1)[1]
    for name in ("n_estimators", "max_depth", "criterion", "min_samples_leaf"):
        assert name in allowed


@pytest.mark.parametrize(
    ("hps", "names"),
    [
        ({"n_estimators": -1}, ["n_estimators", "-1"]),
        ({"n_estimators": "many"}, ["n_estimators", "many"]),
        ({"n_estimators": 2.5}, ["n_estimators", "int"]),
        ({"criterion": "ginny"}, ["criterion", "ginny", "gini"]),
        ({"estimator": "logistic_regression", "C": -1.0}, ["'C'", "LogisticRegression"]),
        ({"estimator": "logistic_regression", "with_mean": "yes"}, ["with_mean", "StandardScaler"]),
        ({"estimator": "gradient_boosting", "learning_rate": 0}, ["learning_rate"]),
    ],
)
def test_bad_values_are_caught_by_sklearn_constraints_at_build_time(hps: dict, names: list) -> None:
    message = config_error(hps)
    for name in names:
        assert name in message


def test_pipeline_parameters_by_short_name_or_full_name() -> None:
    short = build({"estimator": "logistic_regression", "C": 0.5, "with_mean": False})
    assert isinstance(short.estimator, Pipeline)
    assert short.params == {"logisticregression__C": 0.5, "standardscaler__with_mean": False}
    assert short.estimator.named_steps["logisticregression"].C == 0.5
    assert short.estimator.named_steps["standardscaler"].with_mean is False
    full = build({"estimator": "logistic_regression", "logisticregression__C": 0.25})
    assert full.estimator.named_steps["logisticregression"].C == 0.25


def test_ambiguous_short_name_lists_the_full_names() -> None:
    registry = {"pca_lr": lambda: make_pipeline(PCA(), LogisticRegression())}
    message = config_error({"estimator": "pca_lr", "random_state": 1}, registry)
    assert "ambiguous" in message
    assert "pca__random_state" in message and "logisticregression__random_state" in message
    built = build({"estimator": "pca_lr", "pca__random_state": 1}, registry)
    assert built.estimator.named_steps["pca"].random_state == 1


def test_unknown_short_name_in_a_pipeline_lists_step_parameters() -> None:
    message = config_error({"estimator": "logistic_regression", "alpha": 1.0})
    assert "Unknown hyperparameter 'alpha'" in message
    assert "logisticregression__C" in message


def test_set_params_refusal_is_a_config_error() -> None:
    # "steps" is a real Pipeline parameter; a nonsense value breaks set_params itself.
    message = config_error({"estimator": "logistic_regression", "steps": 3, "C": 1.0})
    assert "logistic_regression" in message


def test_factory_that_raises_is_a_config_error() -> None:
    def broken():
        raise RuntimeError("no licence")

    assert "no licence" in config_error({"estimator": "broken"}, {"broken": broken})


def test_object_without_fit_is_refused() -> None:
    assert "no fit()" in config_error({"estimator": "thing"}, {"thing": object})


def test_estimator_without_get_params_takes_no_hyperparameters() -> None:
    class Bare:
        def fit(self, X, y):
            return self

    assert build({"estimator": "bare"}, {"bare": Bare}).params == {}
    assert "takes no hyperparameters" in config_error({"estimator": "bare", "depth": 3}, {"bare": Bare})


def test_task_of_non_sklearn_objects_is_other() -> None:
    assert estimator.task_of(object()) == "other"


def test_task_of_a_plain_object_with_fit_and_predict() -> None:
    # model/train.py promises that any object with fit() and predict() works.
    class PlainClassifier:
        _estimator_type = "classifier"

        def fit(self, X, y):
            return self

    class PlainRegressor(PlainClassifier):
        _estimator_type = "regressor"

    assert estimator.task_of(PlainClassifier()) == "classification"
    assert estimator.task_of(PlainRegressor()) == "regression"
    assert build({"estimator": "plain"}, {"plain": PlainClassifier}).task == "classification"


def test_custom_base_estimator_without_parameter_constraints() -> None:
    # The usual way to write a scikit-learn-compatible estimator: no _parameter_constraints.
    from sklearn.base import BaseEstimator, ClassifierMixin

    class Custom(ClassifierMixin, BaseEstimator):
        def __init__(self, depth: int = 1) -> None:
            self.depth = depth

        def fit(self, X, y):
            return self

    built = build({"estimator": "custom", "depth": 3}, {"custom": Custom})
    assert built.estimator.depth == 3 and built.task == "classification"
    assert "Unknown hyperparameter 'width'" in config_error({"estimator": "custom", "width": 3}, {"custom": Custom})
