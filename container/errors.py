"""The errors the runtime raises on purpose, and what each means to SageMaker.

Every error says what went wrong and what to do about it, in words a user can act on.
HTTP status codes and process exit codes are assigned here and nowhere else.
"""

from __future__ import annotations


class ByocError(Exception):
    """Base class: an expected failure whose message is fit to show the user."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


# -- training --------------------------------------------------------------------------


class ConfigError(ByocError):
    """The job's configuration is invalid: hyperparameters, channels or hosts."""


class DataError(ByocError):
    """Training data cannot be used: missing, unreadable or malformed."""


class JobStopped(ByocError):
    """A job was asked to stop (SIGTERM or SIGINT) before it finished."""


class TrainingStopped(JobStopped):
    """The job was asked to stop (SIGTERM from StopTrainingJob or a spot interruption)."""


class ProcessingStopped(JobStopped):
    """A processing job was asked to stop (StopProcessingJob: SIGTERM or SIGINT)."""


# -- serving ---------------------------------------------------------------------------


class ModelLoadError(ByocError):
    """The model in the model directory cannot be loaded."""


class RequestError(ByocError):
    """The request is malformed: bad payload, wrong number of features."""


class UnsupportedMediaType(RequestError):
    """The Content-Type is not one the server decodes."""


class NotAcceptable(RequestError):
    """No type in the Accept header is one the server encodes."""


class PayloadTooLarge(RequestError):
    """The body is over SAGEMAKER_MAX_PAYLOAD_IN_MB."""


class RequestTimeout(RequestError):
    """The request's head or body stopped arriving, or came too slowly (BYOC_READ_TIMEOUT)."""


class RequestLineTooLong(RequestError):
    """The request line is over gunicorn's limit_request_line."""


class HeadersTooLarge(RequestError):
    """The request's headers are over gunicorn's limit_request_fields or limit_request_field_size."""


class ExpectationFailed(RequestError):
    """An Expect header other than 100-continue."""


class TransferCodingNotImplemented(RequestError):
    """A Transfer-Encoding other than chunked: HTTP says 501, although the client must change."""


class NotFound(RequestError):
    """No route at this path."""


class MethodNotAllowed(RequestError):
    """The path is a route, but not for this method; `allow` lists the methods it takes."""

    def __init__(self, message: str, *, allow: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.allow = allow


class PredictionError(ByocError):
    """The model itself failed on a well-formed request."""


# -- the one place each mapping lives --------------------------------------------------

_HTTP_STATUS: dict[type[BaseException], int] = {
    UnsupportedMediaType: 415,
    NotAcceptable: 406,
    PayloadTooLarge: 413,
    RequestTimeout: 408,
    RequestLineTooLong: 414,
    HeadersTooLarge: 431,
    ExpectationFailed: 417,
    TransferCodingNotImplemented: 501,
    NotFound: 404,
    MethodNotAllowed: 405,
    RequestError: 400,
    PredictionError: 500,
}

_EXIT_CODE: dict[type[BaseException], int] = {
    ConfigError: 2,
    DataError: 3,
    JobStopped: 143,  # 128 + SIGTERM, as a shell reports a process ended by it
}

UNEXPECTED_EXIT_CODE = 1


def http_status(error: BaseException) -> int:
    """The HTTP status for an error raised while answering a request (500 if unknown)."""
    for cls in type(error).__mro__:
        if cls in _HTTP_STATUS:
            return _HTTP_STATUS[cls]
    return 500


def protocol_error(error: BaseException) -> ByocError | None:
    """gunicorn's refusal of a request that is not valid HTTP, as one of ours (None: not a refusal).

    gunicorn raises these while it reads a request's head, and while the application reads a
    chunked body; either way the client sent something malformed and is told what.
    """
    from gunicorn.http import errors as http

    if isinstance(error, (http.InvalidResponseHeader, http.InvalidResponseHeaderName, http.ConfigurationProblem)):
        return None  # the application's or the configuration's fault: a 500
    if isinstance(error, http.LimitRequestLine):
        return RequestLineTooLong(f"The request line is too long: {error}.")
    if isinstance(error, http.LimitRequestHeaders):
        return HeadersTooLarge(f"The request's headers are too large: {error}.")
    if isinstance(error, http.ExpectationFailed):
        return ExpectationFailed(f"{error}.", hint="Send no Expect header, or Expect: 100-continue.")
    if isinstance(error, http.UnsupportedTransferCoding):
        return TransferCodingNotImplemented(f"{error}.", hint="Send a Content-Length, or Transfer-Encoding: chunked.")
    if isinstance(error, (http.InvalidChunkSize, http.ChunkMissingTerminator, http.InvalidChunkExtension)):
        return RequestError(f"The chunked request body is malformed: {error}.")
    if isinstance(error, http.ParseException):
        return RequestError(f"The request is not valid HTTP: {error}.")
    return None


def exit_code(error: BaseException) -> int:
    """The exit code of `train` or `process` for an error (1 if unknown); any non-zero code fails the job."""
    for cls in type(error).__mro__:
        if cls in _EXIT_CODE:
            return _EXIT_CODE[cls]
    return UNEXPECTED_EXIT_CODE
