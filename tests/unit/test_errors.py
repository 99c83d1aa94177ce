"""One mapping from error class to HTTP status and to exit code."""

from __future__ import annotations

import pytest
from gunicorn.http import errors as http

from container import errors


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.RequestError("bad"), 400),
        (errors.UnsupportedMediaType("x"), 415),
        (errors.NotAcceptable("x"), 406),
        (errors.PayloadTooLarge("x"), 413),
        (errors.RequestTimeout("x"), 408),
        (errors.RequestLineTooLong("x"), 414),
        (errors.HeadersTooLarge("x"), 431),
        (errors.ExpectationFailed("x"), 417),
        (errors.TransferCodingNotImplemented("x"), 501),
        (errors.PredictionError("x"), 500),
        (errors.ModelLoadError("x"), 500),
        (errors.ConfigError("x"), 500),
        (ValueError("x"), 500),
        (KeyError("x"), 500),
    ],
)
def test_http_status(error: BaseException, status: int) -> None:
    assert errors.http_status(error) == status


@pytest.mark.parametrize(
    ("error", "kind", "status", "text"),
    [
        (http.InvalidChunkSize(b"-1"), errors.RequestError, 400, "The chunked request body is malformed: Invalid chunk size: b'-1'."),
        (http.ChunkMissingTerminator(b"XX"), errors.RequestError, 400, "chunked request body is malformed"),
        (http.InvalidChunkExtension("bare CR not allowed"), errors.RequestError, 400, "bare CR not allowed"),
        (http.InvalidHeader("CONTENT-LENGTH"), errors.RequestError, 400,
         "The request is not valid HTTP: Invalid HTTP Header: 'CONTENT-LENGTH'."),
        (http.InvalidRequestLine("GARBAGE"), errors.RequestError, 400, "'GARBAGE'"),
        (http.LimitRequestLine(5000, 4094), errors.RequestLineTooLong, 414, "(5000 > 4094)"),
        (http.LimitRequestHeaders("limit request headers fields size"), errors.HeadersTooLarge, 431, "fields size"),
        (http.ExpectationFailed("200-ok"), errors.ExpectationFailed, 417, "'200-ok'"),
        (http.UnsupportedTransferCoding("br"), errors.TransferCodingNotImplemented, 501, "'br'"),
    ],
)
def test_gunicorns_refusals_become_ours(error: Exception, kind: type, status: int, text: str) -> None:
    ours = errors.protocol_error(error)
    assert type(ours) is kind and errors.http_status(ours) == status
    assert text in str(ours)


@pytest.mark.parametrize("error", [
    http.InvalidResponseHeader("X: \n"),  # the application's fault
    http.ConfigurationProblem("x"),
    ValueError("x"),
    OSError("reset"),
])
def test_what_is_not_a_refusal_stays_unmapped(error: Exception) -> None:
    assert errors.protocol_error(error) is None


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
