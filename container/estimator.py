"""Building the estimator a job asks for, and refusing bad hyperparameters before any data is read.

The `estimator` hyperparameter names an entry of the model package's ESTIMATORS table, or a
class by its import path: a scikit-learn estimator class (sklearn.svm.SVC), or anything in a
module the model package trusts (its own modules, and those its train module lists in
TRUSTED_MODULES). A hyperparameter is job configuration anyone who may start a job can set,
so any other path is refused before it is imported: importing a module runs its code.
Every other hyperparameter must be one of the estimator's get_params() names. A parameter of
a pipeline step may be given by its short name when only one step has it (C for
logisticregression__C).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from .errors import ConfigError

ESTIMATOR_KEY = "estimator"
#: The library any job may name an estimator class of by import path (a class with fit()).
SKLEARN = "sklearn"


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
    trusted_modules: Iterable[str] = (),
) -> BuiltEstimator:
    """The estimator the hyperparameters ask for; `trusted_modules` are the modules (with
    their submodules) besides sklearn whose callables `estimator` may name by import path."""
    params = dict(hyperparameters)
    name = params.pop(ESTIMATOR_KEY, None) or default
    if not isinstance(name, str):
        raise ConfigError(f"Hyperparameter 'estimator' must be a name, not {name!r}.")
    factory = _factory(name, registry, tuple(trusted_modules))
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


def _factory(name: str, registry: Mapping[str, Callable[[], Any]],
             trusted_modules: tuple[str, ...]) -> Callable[[], Any]:
    if name in registry:
        return registry[name]
    if "." not in name:
        raise ConfigError(
            f"Unknown estimator '{name}'.",
            hint=f"Choose one of {sorted(registry)}, or give an import path such as "
            "sklearn.ensemble.ExtraTreesClassifier.",
        )
    module_name, _, attr = name.rpartition(".")
    sklearn = _within(module_name, (SKLEARN,))
    if not all(part.isidentifier() for part in name.split(".")) or not (
            sklearn or _within(module_name, trusted_modules)):
        listed = ", ".join(trusted_modules) or "none"
        raise ConfigError(
            f"Estimator '{name}' is not allowed: an import path must be a scikit-learn class (sklearn.*) "
            f"or in a module the model package trusts ({listed}).",
            hint=f"Choose one of {sorted(registry)}; to use another library, add its module to TRUSTED_MODULES "
            "in the model package's train module (and the library to the image), or add an ESTIMATORS entry.",
        )
    try:
        found = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"Estimator '{name}' cannot be imported: {exc}.") from None
    if sklearn and not (isinstance(found, type) and hasattr(found, "fit")):
        # Only classes are called: a function of scikit-learn's (a dataset download, say) is not
        # an estimator, and must not run because a hyperparameter names it.
        raise ConfigError(f"Estimator '{name}' is not an estimator class (one with fit()).")
    if not callable(found):
        raise ConfigError(f"Estimator '{name}' is not a class or function that makes an estimator.")
    return found  # type: ignore[no-any-return]


def _within(module: str, roots: Iterable[str]) -> bool:
    """module is one of roots, or a submodule of one."""
    return any(module == root or module.startswith(root + ".") for root in roots if root)


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
