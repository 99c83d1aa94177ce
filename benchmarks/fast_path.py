"""What scikit-learn's per-call checks cost a one-row predict, and what each way of skipping them saves.

    .venv/bin/python benchmarks/fast_path.py [--rows 1] [--repeat 7]

For the default models (a 100-tree random forest, a decision tree, a logistic regression on 20
features), each line is the best of --repeat timings of many calls, in microseconds a call:

  predict                      model.predict(X) as the default predict_fn calls it
  the work itself              what is left without any check (the tree's or the product's own code)
  config_context alone         entering and leaving sklearn.config_context: what a skip costs that way
  set_config alone             set_config(assume_finite=True), then back: the same switch, as serve sets it
  + assume_finite              predict under assume_finite=True (set_config, as serve does)
  + skip_parameter_validation  the same with skip_parameter_validation=True as well
  our NaN check                math.isfinite(X.sum()), which makes assume_finite safe (see below)
  check_input=False            the decision tree only: predict(X.astype(float32), check_input=False)

serve applies assume_finite only: the decoders refuse infinities but keep NaN for a missing value
(CSV's empty field, JSON's null, an NPY's NaN), so container.inference checks for NaN itself and
skips scikit-learn's check only when there is none. skip_parameter_validation checks hyperparameters
and function arguments, which predict does not do: it saves nothing here. check_input=False skips
the width and feature-name checks too and wants float32, a private contract: measured, not applied.
"""

from __future__ import annotations

import argparse
import math
import timeit
from typing import Any, Callable

import numpy as np
import sklearn
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

FEATURES = 20


def best(fn: Callable[[], Any], repeat: int, budget: float = 0.2) -> float:
    """Microseconds a call: the best of `repeat` timings, each of about `budget` seconds."""
    return interleaved({"": fn}, repeat, budget)[""]


def interleaved(fns: dict[str, Callable[[], Any]], repeat: int, budget: float = 0.2) -> dict[str, float]:
    """best() of each function, their timings taken in turn, so that a busy moment of a shared
    machine hits them all rather than one."""
    numbers = {name: max(1, int(budget / max(1e-7, timeit.timeit(fn, number=3) / 3))) for name, fn in fns.items()}
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            times[name].append(timeit.timeit(fn, number=numbers[name]) / numbers[name] * 1e6)
    return {name: min(found) for name, found in times.items()}


def core(model: Any, X: np.ndarray) -> Callable[[], Any]:
    """The model's own work on X, without any input check."""
    if isinstance(model, LogisticRegression):
        return lambda: model.classes_[((X @ model.coef_.T + model.intercept_).ravel() > 0).astype(np.intp)]
    if isinstance(model, DecisionTreeClassifier):
        X32 = X.astype(np.float32)
        return lambda: model.tree_.predict(X32)
    X32 = X.astype(np.float32)
    return lambda: [tree.tree_.predict(X32) for tree in model.estimators_]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    X_train = rng.standard_normal((5000, FEATURES))
    y = (X_train[:, 0] + X_train[:, 1] > 0).astype(int)
    X = np.ascontiguousarray(rng.standard_normal((args.rows, FEATURES)))
    models = [RandomForestClassifier(n_estimators=100, random_state=0), DecisionTreeClassifier(random_state=0),
              LogisticRegression()]
    print(f"scikit-learn {sklearn.__version__}, {args.rows} row(s) of {FEATURES} features, "
          f"best of {args.repeat}; microseconds a call")

    def context_only() -> None:
        with sklearn.config_context(assume_finite=True):
            pass

    def set_only() -> None:
        sklearn.set_config(assume_finite=True)
        sklearn.set_config(assume_finite=False)

    context_us = best(context_only, args.repeat)
    set_us = best(set_only, args.repeat)
    nan_check_us = best(lambda: math.isfinite(X.sum()), args.repeat)
    for model in models:
        model.fit(X_train, y)

        def finite() -> Any:
            sklearn.set_config(assume_finite=True)
            try:
                return model.predict(X)
            finally:
                sklearn.set_config(assume_finite=False)

        def finite_and_params() -> Any:
            sklearn.set_config(assume_finite=True, skip_parameter_validation=True)
            try:
                return model.predict(X)
            finally:
                sklearn.set_config(assume_finite=False, skip_parameter_validation=False)

        variants = {"predict": lambda: model.predict(X), "the work itself": core(model, X),
                    "+ assume_finite": finite, "+ skip_parameter_validation": finite_and_params}
        if isinstance(model, DecisionTreeClassifier):
            X32 = X.astype(np.float32)
            variants["check_input=False"] = lambda: model.predict(X32, check_input=False)
        timed = interleaved(variants, args.repeat)
        plain = timed["predict"]
        rows = [(name, timed[name]) for name in list(variants)[:2]]
        rows += [("config_context alone", context_us), ("set_config alone", set_us)]
        rows += [(name, timed[name]) for name in list(variants)[2:]]
        rows.append(("our NaN check", nan_check_us))
        print(f"\n{type(model).__name__}")
        for name, us in rows:
            saving = "" if name in ("predict", "config_context alone", "set_config alone", "our NaN check") else \
                f"   saves {plain - us:8.1f} ({(plain - us) / plain:+.0%})"
            print(f"  {name:30} {us:10.1f}{saving}")
        finite_us = dict(rows)["+ assume_finite"]
        print(f"  {'serve (assume_finite + NaN check)':30} {finite_us + nan_check_us:10.1f}   saves "
              f"{plain - finite_us - nan_check_us:8.1f} ({(plain - finite_us - nan_check_us) / plain:+.0%})")


if __name__ == "__main__":
    main()
