"""The scikit-learn pipeline train puts in front of an estimator, fitted for real on small tables."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from container import codecs, estimator, preprocessing
from container.schema import CATEGORICAL, Feature, Schema

SCHEMA = Schema((Feature("age"), Feature("job", CATEGORICAL, ("admin.", "services", "student"))),
                label="y", header=("age", "job", "y"), positions=(0, 1))


def table(rows: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Students say yes, and so does anyone over 60; some values are missing."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, rows).astype(float)
    job = rng.choice(np.array(["admin.", "services", "student"], dtype=object), rows)
    y = np.where((job == "student") | (age > 60), "yes", "no").astype(object)
    age[rng.random(rows) < 0.05] = np.nan
    job[rng.random(rows) < 0.05] = np.nan
    return pd.DataFrame({0: age, 1: job}), y  # numbered columns, as train fits on them


@pytest.mark.parametrize(("model", "described"), [
    (lambda: RandomForestClassifier(n_estimators=20, random_state=0), "OrdinalEncoder"),
    (lambda: HistGradientBoostingClassifier(random_state=0), "native categories"),
    (lambda: make_pipeline(StandardScaler(), LogisticRegression()), "OneHotEncoder"),
])
def test_fitted_pipelines_answer_raw_rows_with_unseen_categories_and_missing_values(model, described) -> None:
    warnings.simplefilter("error")  # fitted on a DataFrame, asked with arrays: not a word of complaint
    X, y = table()
    fitted, description = preprocessing.wrap(model(), SCHEMA, missing=True)
    assert described in description
    fitted.fit(X, y)
    assert list(fitted.classes_) == ["no", "yes"]
    body = b"job,age\nstudent,30\nadmin.,70\nadmin.,30\nastronaut,30\n,\nservices,\n"
    predicted = fitted.predict(codecs.decode(body, "text/csv", SCHEMA))
    assert predicted.tolist()[:3] == ["yes", "yes", "no"]
    assert set(predicted.tolist()[3:]) <= {"yes", "no"}  # unseen and missing: an answer, not an error
    objects = b'[{"job": "student", "age": 30}, {"job": "admin.", "age": 70}, {"job": "admin.", "age": 30}]'
    assert fitted.predict(codecs.decode(objects, "application/json", SCHEMA)).tolist() == ["yes", "yes", "no"]
    rows = X.head(50).astype(object).to_numpy()
    rows[X.head(50).isna().to_numpy()] = np.nan
    np.testing.assert_array_equal(fitted.predict_proba(rows), fitted.predict_proba(X.head(50)))


def test_plain_numbers_keep_the_bare_estimator() -> None:
    forest = RandomForestClassifier()
    plain = Schema.numeric(3)
    assert preprocessing.wrap(forest, plain, missing=False)[0] is forest
    assert preprocessing.wrap(forest, plain, missing=True)[0] is forest  # it takes NaN itself
    logistic = LogisticRegression()
    assert preprocessing.wrap(logistic, plain, missing=False)[0] is logistic
    wrapped, described = preprocessing.wrap(logistic, plain, missing=True)
    assert [name for name, _ in wrapped.steps] == ["impute", "model"] and "SimpleImputer" in described


def test_allows_nan_follows_scikit_learns_tags() -> None:
    assert preprocessing.allows_nan(RandomForestRegressor())
    assert preprocessing.allows_nan(HistGradientBoostingClassifier())
    assert not preprocessing.allows_nan(make_pipeline(StandardScaler(), LogisticRegression()))
    assert not preprocessing.allows_nan(object())  # not scikit-learn: assume it needs every value


def test_has_missing() -> None:
    assert not preprocessing.has_missing(np.ones((3, 2)))
    assert preprocessing.has_missing(np.array([[1.0, np.nan]]))
    assert not preprocessing.has_missing(np.array([[np.inf, -np.inf]]))  # infinities cancel: not missing
    assert preprocessing.has_missing(pd.DataFrame({"a": ["x", np.nan]}))
    assert not preprocessing.has_missing(np.ones((0, 2)))


def test_seed_sets_every_random_state_the_job_did_not_set() -> None:
    registry = {"pipe": lambda: make_pipeline(StandardScaler(), LogisticRegression())}
    built = estimator.build({}, registry, "pipe")
    assert estimator.seed(built, 7) == ["logisticregression__random_state"]
    assert built.estimator.get_params()["logisticregression__random_state"] == 7
    built = estimator.build({"random_state": 3}, {"rf": RandomForestClassifier}, "rf")
    assert estimator.seed(built, 7) == [] and built.estimator.random_state == 3
    built = estimator.build({}, {"rf": RandomForestClassifier}, "rf")
    assert estimator.seed(built, None) == [] and built.estimator.random_state is None
