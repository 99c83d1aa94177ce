"""Metric lines that SageMaker scrapes from the log, and the regexes that scrape them.

A training job prints lines such as `validation:accuracy=0.9731;`. METRIC_DEFINITIONS is
the list to give CreateTrainingJob (and tuning jobs, as the objective's source), so the
format and the regexes are defined here once.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

CHANNELS = ("train", "validation", "test")
CLASSIFICATION = ("accuracy", "f1_macro", "log_loss")
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


def score(task: str, estimator: Any, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """The metrics for one channel; non-finite values are left out."""
    from sklearn import metrics as skm

    values: dict[str, float] = {}
    if task == "classification":
        predicted = estimator.predict(X)
        values["accuracy"] = skm.accuracy_score(y, predicted)
        values["f1_macro"] = skm.f1_score(y, predicted, average="macro", zero_division=0)
        if hasattr(estimator, "predict_proba"):
            try:
                values["log_loss"] = skm.log_loss(
                    y, estimator.predict_proba(X), labels=getattr(estimator, "classes_", None)
                )
            except ValueError:
                pass  # labels in this channel that training never saw
    elif task == "regression":
        predicted = estimator.predict(X)
        values["rmse"] = math.sqrt(skm.mean_squared_error(y, predicted))
        values["mae"] = skm.mean_absolute_error(y, predicted)
        if len(y) > 1:
            values["r2"] = skm.r2_score(y, predicted)
    return {k: float(v) for k, v in values.items() if math.isfinite(v)}
