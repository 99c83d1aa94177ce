"""What `train` puts in front of the estimator, so that the saved model takes raw rows.

Plain numeric data with no missing values gives the estimator itself, as it always has.
Otherwise the model is a scikit-learn Pipeline of standard pieces (so a later loader can
trust it by type), built from the training schema:

- categorical features, for an estimator that takes missing values natively (scikit-learn's
  allow_nan tag: forests, gradient boosting): OrdinalEncoder codes, with a category training
  never saw and a missing value both NaN; HistGradientBoosting* is also told which columns
  are categories (categorical_features). For any other estimator: OneHotEncoder columns (an
  unseen category is all zeros; past ONE_HOT_MAX_CATEGORIES the rarest are grouped).
- missing numbers: left as NaN for an estimator that takes them, else SimpleImputer (median).

Class labels stay in the estimator (classes_), so predictions come back in the user's own.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from .schema import Schema

log = logging.getLogger(__name__)

#: OneHotEncoder columns per feature at most; rarer categories share one "infrequent" column.
ONE_HOT_MAX_CATEGORIES = 50
#: HistGradientBoosting's default max_bins: it takes at most this many categories a feature.
NATIVE_MAX_CATEGORIES = 255


def allows_nan(estimator: Any) -> bool:
    """Whether the estimator takes NaN in its input, by scikit-learn's own tags."""
    try:
        from sklearn.utils import get_tags

        return bool(get_tags(estimator).input_tags.allow_nan)
    except ImportError:  # scikit-learn < 1.6
        try:
            return bool(estimator._get_tags().get("allow_nan", False))
        except Exception:
            return False
    except Exception:  # not a scikit-learn estimator: assume it needs every value
        return False


def native_categorical(estimator: Any) -> bool:
    """HistGradientBoosting* (or any estimator itself taking categorical_features)."""
    try:
        return "categorical_features" in estimator.get_params(deep=False)
    except Exception:
        return False


def wrap(estimator: Any, schema: Schema, *, missing: bool) -> tuple[Any, str]:
    """(the model to fit, a one-line description of what was put in front of the estimator)."""
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline

    takes_nan = allows_nan(estimator)
    imputer = None if takes_nan else SimpleImputer(strategy="median", keep_empty_features=True)
    if not schema.categorical:
        if not missing or imputer is None:
            return estimator, "none: the estimator takes the numbers as they are"
        return (Pipeline([("impute", imputer), ("model", estimator)]),
                "SimpleImputer(median) for missing values")

    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

    # Columns by position: the model is fitted on a DataFrame numbered 0, 1, 2..., so it takes
    # a request's rows as a plain object array too (cheaper per call than a DataFrame).
    categorical, numeric = schema.categorical, schema.numeric_features
    native = takes_nan and native_categorical(estimator)
    if takes_nan:
        encoder: Any = OrdinalEncoder(
            handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan,
            max_categories=NATIVE_MAX_CATEGORIES if native else None,
        )
        described = "OrdinalEncoder (unseen and missing: NaN)"
    else:
        encoder = OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=ONE_HOT_MAX_CATEGORIES,
                                sparse_output=False)
        described = "OneHotEncoder (unseen: all zeros)"
    parts = [("categorical", encoder, categorical)]
    if numeric:
        parts.append(("numeric", imputer if imputer is not None else "passthrough", numeric))
        if imputer is not None:
            described += ", SimpleImputer(median) for numbers"
    if native:
        # The encoder's columns come first in the ColumnTransformer's output.
        estimator.set_params(categorical_features=list(range(len(categorical))))
        described += ", native categories (categorical_features)"
    transformer = ColumnTransformer(parts, sparse_threshold=0.0)
    return Pipeline([("preprocess", transformer), ("model", estimator)]), described


def has_missing(X: Any) -> bool:
    """Whether a float array or a DataFrame holds a missing value."""
    if isinstance(X, np.ndarray):
        # A sum is NaN when any value is (or when infinities cancel): only then look closer.
        if X.dtype.kind != "f" or X.size == 0:
            return False
        with np.errstate(invalid="ignore", over="ignore"):
            total = X.sum()
        return not np.isfinite(total) and bool(np.isnan(X).any())
    return bool(X.isna().to_numpy().any())


def categories(model: Any) -> list[tuple[Any, ...]] | None:
    """The categories the fitted encoder found for each categorical feature (missing values
    left out), or None when wrap() put no encoder in front of the estimator."""
    from .schema import categories_of

    try:
        encoder = model.named_steps["preprocess"].named_transformers_["categorical"]
    except (AttributeError, KeyError):
        return None
    return [categories_of(found.tolist()) for found in encoder.categories_]
