"""Metric lines that SageMaker scrapes from the log, and the regexes that scrape them.

A training job prints lines such as `validation:auc=0.9131;`. METRIC_DEFINITIONS is the
list to give CreateTrainingJob (and tuning jobs, as the objective's source), so the format
and the regexes are defined here once: 3 channels x 9 metrics = 27 of SageMaker's 40.

auc, precision and recall are binary for two classes (of the positive class: see
positive_class) and macro-averaged over the classes otherwise (auc one-vs-rest).
"""

from __future__ import annotations

import math
import re
import warnings
from typing import Any

import numpy as np

CHANNELS = ("train", "validation", "test")
CLASSIFICATION = ("accuracy", "f1_macro", "log_loss", "auc", "precision", "recall")
#: Labels that read as "the event happened", chosen as the positive class when present.
POSITIVE_NAMES = frozenset({"yes", "y", "true", "t", "1", "positive", "pos"})
REGRESSION = ("rmse", "mae", "r2")

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def regex(name: str) -> str:
    return re.escape(name) + f"=({_NUMBER});"


METRIC_DEFINITIONS: list[dict[str, str]] = [
    {"Name": f"{channel}:{metric}", "Regex": regex(f"{channel}:{metric}")}
    for channel in CHANNELS
    for metric in CLASSIFICATION + REGRESSION
]


def format_line(name: str, value: float) -> str:
    return f"{name}={value:.6g};"


def parse_log(text: str) -> dict[str, float]:
    """The last value of each defined metric in a log, as SageMaker would report it."""
    found: dict[str, float] = {}
    for definition in METRIC_DEFINITIONS:
        for match in re.finditer(definition["Regex"], text):
            found[definition["Name"]] = float(match.group(1))
    return found


def positive_class(classes: list[Any], chosen: Any = None) -> Any:
    """The class binary metrics count as positive: `chosen` (the positive_class
    hyperparameter) when given, else a class named like yes/true/1, else the second of the
    sorted classes (scikit-learn's convention). None unless there are exactly two classes.
    Raises ValueError when `chosen` is not one of the classes."""
    if chosen is not None:
        for value in classes:
            if value == chosen or str(value) == str(chosen):
                return value
        raise ValueError(f"positive_class={chosen!r} is not one of the classes {classes}")
    if len(classes) != 2:
        return None
    named = [c for c in classes if str(c).strip().lower() in POSITIVE_NAMES]
    return named[0] if len(named) == 1 else classes[1]


def score(task: str, estimator: Any, X: Any, y: np.ndarray, positive: Any = None) -> dict[str, float]:
    """The metrics for one channel; those that cannot be computed, or are not finite, are
    left out. `positive` is the positive class of a binary classifier."""
    from sklearn import exceptions as skm_exceptions
    from sklearn import metrics as skm

    values: dict[str, float] = {}
    if task == "classification":
        predicted = estimator.predict(X)
        known = getattr(estimator, "classes_", None)
        classes = list(known) if known is not None else sorted(set(np.asarray(y).tolist()))
        if positive is None and len(classes) == 2:
            positive = positive_class(classes)
        binary = len(classes) == 2
        average: dict[str, Any] = {"average": "binary", "pos_label": positive} if binary else {"average": "macro"}
        proba = estimator.predict_proba(X) if hasattr(estimator, "predict_proba") else None

        def auc() -> float:
            if binary:
                if proba is not None:
                    scores = proba[:, classes.index(positive)]
                else:  # decision_function scores the second class
                    scores = estimator.decision_function(X) * (1 if positive == classes[1] else -1)
                return skm.roc_auc_score(np.asarray(y) == positive, scores)
            if proba is None:
                raise ValueError("no probabilities")
            return skm.roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=classes)

        computed = {
            "accuracy": lambda: skm.accuracy_score(y, predicted),
            "f1_macro": lambda: skm.f1_score(y, predicted, average="macro", zero_division=0),
            "precision": lambda: skm.precision_score(y, predicted, zero_division=0, **average),
            "recall": lambda: skm.recall_score(y, predicted, zero_division=0, **average),
            "log_loss": lambda: skm.log_loss(y, proba, labels=classes) if proba is not None else math.nan,
            "auc": auc,
        }
        for name, compute in computed.items():
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", skm_exceptions.UndefinedMetricWarning)
                    values[name] = compute()
            except (ValueError, AttributeError, IndexError):
                # One class only in this channel, labels training never saw, no scores:
                # the metric is undefined here, and is left out.
                pass
    elif task == "regression":
        predicted = estimator.predict(X)
        values["rmse"] = math.sqrt(skm.mean_squared_error(y, predicted))
        values["mae"] = skm.mean_absolute_error(y, predicted)
        if len(y) > 1:
            values["r2"] = skm.r2_score(y, predicted)
    return {k: float(v) for k, v in values.items() if math.isfinite(v)}
