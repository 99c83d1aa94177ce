"""One mapping from error class to HTTP status and to exit code."""

from __future__ import annotations

import pytest

from container import errors


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.RequestError("bad"), 400),
        (errors.UnsupportedMediaType("x"), 415),
        (errors.NotAcceptable("x"), 406),
        (errors.PayloadTooLarge("x"), 413),
        (errors.PredictionError("x"), 500),
        (errors.ModelLoadError("x"), 500),
        (errors.ConfigError("x"), 500),
        (ValueError("x"), 500),
        (KeyError("x"), 500),
    ],
)
def test_http_status(error: BaseException, status: int) -> None:
    assert errors.http_status(error) == status


def test_http_status_follows_subclasses() -> None:
    class MyBadInput(errors.UnsupportedMediaType):
        pass

    assert errors.http_status(MyBadInput("x")) == 415


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.ConfigError("x"), 2),
        (errors.DataError("x"), 3),
        (errors.TrainingStopped("x"), 143),
        (errors.ModelLoadError("x"), 1),
        (RuntimeError("x"), 1),
        (MemoryError(), 1),
    ],
)
def test_exit_code(error: BaseException, code: int) -> None:
    assert errors.exit_code(error) == code
    assert code != 0  # any non-zero code fails the job


def test_message_and_hint() -> None:
    error = errors.DataError("No rows.", hint="Check the prefix.")
    assert str(error) == "No rows. Check the prefix."
    assert error.message == "No rows." and error.hint == "Check the prefix."
    assert str(errors.DataError("No rows.")) == "No rows."
