"""Reading hyperparameters.json, whose values are always strings.

The CreateTrainingJob API takes a map of strings to strings, and clients stringify in
different ways: the SDK's generic Estimator applies str() ("True", "0.1"), its framework
estimators JSON-encode ('"abc"', "true"), and other launchers send plain text. parse_value
undoes all three, so a value means the same thing whoever launched the job.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from .errors import ConfigError

#: Keys the platform or the SDK adds for itself; they never reach the model.
RESERVED_PREFIXES = ("sagemaker_",)
RESERVED_KEYS = frozenset({"_tuning_objective_metric"})

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
