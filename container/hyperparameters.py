"""Reading hyperparameters.json, whose values are always strings.

The CreateTrainingJob API takes a map of strings to strings, and clients stringify in
different ways: the SDK's generic Estimator applies str() ("True", "0.1"), its framework
estimators JSON-encode ('"abc"', "true"), and other launchers send plain text. parse_value
undoes all three, so a value means the same thing whoever launched the job.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from .errors import ConfigError

#: Keys the platform or the SDK adds for itself; they never reach the model.
RESERVED_PREFIXES = ("sagemaker_",)
RESERVED_KEYS = frozenset({"_tuning_objective_metric"})

#: Hyperparameters `train` reads itself; every other one is a parameter of the estimator.
LABEL_COLUMN = "label_column"
CATEGORICAL_COLUMNS = "categorical_columns"
POSITIVE_CLASS = "positive_class"
SEED = "seed"
RUNTIME_KEYS = (LABEL_COLUMN, CATEGORICAL_COLUMNS, POSITIVE_CLASS, SEED)
#: The seed when the job names none, so that the same data and hyperparameters give the same
#: model; seed=none asks for a fresh random state each time.
DEFAULT_SEED = 0

# str() of Python's constants, as the SDK's generic Estimator sends them.
_PYTHON_LITERALS = {"True": True, "False": False, "None": None}


def parse_value(raw: str) -> Any:
    """One hyperparameter value: JSON when it parses as JSON, else the string itself."""
    if not isinstance(raw, str):  # a hand-written file may hold real JSON numbers
        return raw
    text = raw.strip()
    if text in _PYTHON_LITERALS:
        return _PYTHON_LITERALS[text]
    try:
        return json.loads(text)
    except ValueError:
        return raw


def is_reserved(key: str) -> bool:
    return key in RESERVED_KEYS or key.startswith(RESERVED_PREFIXES)


def parse(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The model's hyperparameters: every value parsed, reserved keys dropped."""
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"hyperparameters.json must hold a JSON object, not {type(raw).__name__}."
        )
    return {key: parse_value(value) for key, value in raw.items() if not is_reserved(key)}


def reserved(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The keys parse() drops, parsed: useful for logging what the platform sent."""
    return {key: parse_value(value) for key, value in raw.items() if is_reserved(key)}


def to_api(hyperparameters: Mapping[str, Any]) -> dict[str, str]:
    """Stringify for CreateTrainingJob so that parse() gives the values back.

    Strings go as they are (so they read naturally in the console); everything else is
    JSON-encoded, which keeps numbers, booleans, lists and None distinct.
    """
    return {
        # A string that would parse as something else ("50", "true", "None") is JSON-encoded too.
        str(key): value if isinstance(value, str) and parse_value(value) == value else json.dumps(value)
        for key, value in hyperparameters.items()
    }


@dataclass(frozen=True)
class TrainingOptions:
    """What the runtime hyperparameters ask for (RUNTIME_KEYS)."""

    #: The label's column: a header name or a 0-based position. None: the first column.
    label_column: Any = None
    #: Columns to treat as categories even when they hold numbers (names or positions).
    categorical_columns: list[Any] = field(default_factory=list)
    #: The class binary metrics (auc, precision, recall) count as positive. None: chosen.
    positive_class: Any = None
    seed: int | None = DEFAULT_SEED

    @property
    def label_is_first(self) -> bool:
        return self.label_column is None or self.label_column in (0, "0")


def split_options(hyperparameters: Mapping[str, Any]) -> tuple[TrainingOptions, dict[str, Any]]:
    """(the runtime's options, the estimator's hyperparameters) from parse()'s result."""
    from .schema import column_list

    rest = {k: v for k, v in hyperparameters.items() if k not in RUNTIME_KEYS}
    seed = hyperparameters.get(SEED, DEFAULT_SEED)
    if isinstance(seed, str) and seed.strip().lower() in ("none", "null", ""):
        seed = None
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32):
        raise ConfigError(f"Hyperparameter seed={seed!r} must be a whole number from 0 to 2**32 - 1, or none.")
    label = hyperparameters.get(LABEL_COLUMN)
    if label == "":
        label = None
    options = TrainingOptions(
        label_column=label,
        categorical_columns=column_list(hyperparameters.get(CATEGORICAL_COLUMNS)),
        positive_class=hyperparameters.get(POSITIVE_CLASS),
        seed=seed,
    )
    return options, rest
