"""Finding the user's code: the `model` package, or the one named by BYOC_MODEL_PACKAGE.

`<package>.train` configures training; `<package>.inference` may override the serving
hooks. A module that does not exist means "use the defaults"; a module that exists but fails
to import is an error, reported with its traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from types import ModuleType

from .errors import ConfigError

MODEL_PACKAGE_ENV = "BYOC_MODEL_PACKAGE"
DEFAULT_MODEL_PACKAGE = "model"


def package_name() -> str:
    return os.environ.get(MODEL_PACKAGE_ENV) or DEFAULT_MODEL_PACKAGE


def import_optional(module: str) -> ModuleType | None:
    """Import `<package>.<module>`, or None when the package has no such module."""
    name = f"{package_name()}.{module}"
    try:
        spec = importlib.util.find_spec(name)
    except ModuleNotFoundError:  # the package itself is missing
        if os.environ.get(MODEL_PACKAGE_ENV):  # named on purpose: a typo must not mean "defaults"
            raise ConfigError(
                f"{MODEL_PACKAGE_ENV}={package_name()!r}, but no such package can be imported.",
                hint="Check the name, and that the package is installed or on PYTHONPATH.",
            ) from None
        return None
    if spec is None:
        return None
    return importlib.import_module(name)
