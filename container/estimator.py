"""Building the estimator a job asks for, and refusing bad hyperparameters before any data is read.

The `estimator` hyperparameter names an entry of the model package's ESTIMATORS table (or a
dotted import path such as sklearn.svm.SVC); every other hyperparameter must be one of that
estimator's get_params() names. A parameter of a pipeline step may be given by its short
name when only one step has it (C for logisticregression__C).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from .errors import ConfigError

ESTIMATOR_KEY = "estimator"


@dataclass
class BuiltEstimator:
    name: str
    estimator: Any
    params: dict[str, Any]  # as applied, with full names

    @property
    def task(self) -> str:
        return task_of(self.estimator)


def task_of(estimator: Any) -> str:
    """"classification", "regression" or "other", by scikit-learn's own tags."""
    from sklearn.base import is_classifier, is_regressor

    try:
        if is_classifier(estimator):
            return "classification"
        if is_regressor(estimator):
            return "regression"
    except (AttributeError, TypeError):
        # scikit-learn >= 1.6 reads tags that only its own base classes have; any object
        # with fit() and predict() is allowed, so fall back to the older convention.
        kind = getattr(estimator, "_estimator_type", None)
        if kind == "classifier":
            return "classification"
        if kind == "regressor":
            return "regression"
    return "other"


def build(
    hyperparameters: Mapping[str, Any],
    registry: Mapping[str, Callable[[], Any]],
    default: str,
) -> BuiltEstimator:
    params = dict(hyperparameters)
    name = params.pop(ESTIMATOR_KEY, None) or default
    if not isinstance(name, str):
        raise ConfigError(f"Hyperparameter 'estimator' must be a name, not {name!r}.")
    factory = _factory(name, registry)
    try:
        estimator = factory()
    except Exception as exc:  # the user's factory: report it as configuration
        raise ConfigError(f"Estimator '{name}' could not be created: {exc}") from exc
    if not hasattr(estimator, "fit"):
        raise ConfigError(f"Estimator '{name}' has no fit() method.")
    applied = _apply_params(name, estimator, params)
    _validate(name, estimator)
    return BuiltEstimator(name, estimator, applied)


def seed(built: BuiltEstimator, value: int | None) -> list[str]:
    """Set every random_state of the estimator (its pipeline steps' too) that the job did not
    set itself to `value`; returns the parameters set. None leaves them all as they are."""
    if value is None or not hasattr(built.estimator, "get_params"):
        return []
    names = [key for key in built.estimator.get_params(deep=True)
             if (key == "random_state" or key.endswith("__random_state")) and key not in built.params]
    if names:
        built.estimator.set_params(**{key: value for key in names})
    return names


def _factory(name: str, registry: Mapping[str, Callable[[], Any]]) -> Callable[[], Any]:
    if name in registry:
        return registry[name]
    if "." in name:
        module_name, _, attr = name.rpartition(".")
        try:
            return getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"Estimator '{name}' cannot be imported: {exc}.") from None
    raise ConfigError(
        f"Unknown estimator '{name}'.",
        hint=f"Choose one of {sorted(registry)}, or give an import path such as "
        "sklearn.ensemble.ExtraTreesClassifier.",
    )


def _apply_params(name: str, estimator: Any, params: dict[str, Any]) -> dict[str, Any]:
    if not params:
        return {}
    if not hasattr(estimator, "get_params"):
        raise ConfigError(
            f"Estimator '{name}' takes no hyperparameters (it has no get_params()), "
            f"but the job sets {sorted(params)}."
        )
    known = estimator.get_params(deep=True)
    applied: dict[str, Any] = {}
    for key, value in params.items():
        full = key if key in known else _short_name(name, key, known)
        applied[full] = value
    try:
        estimator.set_params(**applied)
    except (ValueError, TypeError, AttributeError) as exc:  # e.g. a nonsense value for "steps"
        raise ConfigError(
            f"Estimator '{name}' refused hyperparameters {sorted(applied)}: {exc}"
        ) from None
    return applied


def _short_name(name: str, key: str, known: Mapping[str, Any]) -> str:
    matches = [k for k in known if k.endswith(f"__{key}")]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise ConfigError(
            f"Hyperparameter '{key}' is ambiguous for estimator '{name}'.",
            hint=f"Use one of {sorted(matches)}.",
        )
    allowed = sorted(k for k in known if not _is_estimator(known[k]))
    raise ConfigError(
        f"Unknown hyperparameter '{key}' for estimator '{name}'.",
        hint=f"Allowed: {', '.join(allowed)}.",
    )


def _is_estimator(value: Any) -> bool:
    return hasattr(value, "get_params") and not isinstance(value, type)


def _validate(name: str, estimator: Any) -> None:
    """Check parameter values now, with scikit-learn's own constraints, not after loading data."""
    try:
        from sklearn.utils._param_validation import InvalidParameterError
    except ImportError:  # older scikit-learn: fit() will validate
        return
    candidates = [estimator]
    if hasattr(estimator, "get_params"):
        candidates += [v for v in estimator.get_params(deep=True).values() if _is_estimator(v)]
    for candidate in candidates:
        validate = getattr(candidate, "_validate_params", None)
        # BaseEstimator has _validate_params, but a user's subclass may declare no constraints.
        if validate is None or not hasattr(candidate, "_parameter_constraints"):
            continue
        try:
            validate()
        except InvalidParameterError as exc:
            raise ConfigError(f"Estimator '{name}': {exc}") from None
