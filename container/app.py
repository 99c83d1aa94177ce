"""The HTTP surface SageMaker talks to: GET /ping, POST /invocations, GET /execution-parameters.

Every error leaves as JSON, {"error", "message", "request_id"}, with the status that
errors.http_status gives; the traceback goes to the log under the same request id, never to
the client. The app is built after the model is loaded, so /ping is green from the first
request a worker can answer.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid

from flask import Flask, Response, request
from werkzeug.datastructures import EnvironHeaders
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.wsgi import get_input_stream

from . import codecs
from .body import read_body
from .errors import ByocError, PayloadTooLarge, http_status
from .inference import (
    CUSTOM_ATTRIBUTES_HEADER,
    InferencePipeline,
    RequestContext,
    choose_output,
    parse_custom_attributes,
)
from .settings import ServingSettings

log = logging.getLogger("container.app")

REQUEST_ID_HEADER = "X-Request-Id"
#: Past this much, a refused body is not read to its end and its connection is closed.
DISCARD_MAX_BYTES = 128 * 1024 * 1024
#: An error the fast path met, re-raised inside Flask so that Flask's handlers answer it.
FAST_PATH_ERROR = "byoc.error"


def create_app(pipeline: InferencePipeline, settings: ServingSettings) -> Flask:
    app = Flask("container")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_payload_bytes
    execution_parameters = json.dumps(settings.execution_parameters())
    deadline = RequestDeadline(settings.timeout)
    # One prediction at a time per worker by default, whatever the threads: a model (or a
    # user's hook) need not be thread-safe, and the spare thread is there for /ping.
    turns = threading.BoundedSemaphore(settings.predictions)

    @app.get("/ping")
    def ping() -> Response:
        return Response(status=200)

    @app.get("/execution-parameters")
    def get_execution_parameters() -> Response:
        return Response(execution_parameters, status=200, mimetype=codecs.JSON)

    @app.post("/invocations")
    def invocations() -> Response:
        request_id = _request_id()
        with deadline.track(request_id):
            limit = settings.max_payload_bytes
            if limit is not None and (request.content_length or 0) > limit:
                raise _too_large(settings)
            body = _read_body(settings)
            attributes = parse_custom_attributes(request.headers.get(CUSTOM_ATTRIBUTES_HEADER))
            context = RequestContext(
                request_id=request_id,
                content_type=request.headers.get("Content-Type"),
                accept=codecs.choose_accept(
                    request.headers.get("Accept"),
                    request.headers.get("Content-Type"),
                    settings.default_accept,
                    custom=pipeline.custom_output,
                ),
                headers=request.headers,
                custom_attributes=attributes,
                output=choose_output(attributes, settings.default_output),
            )
            with turns:
                payload, content_type = pipeline.invoke(body, context)
        response = Response(payload, status=200, content_type=content_type)
        response.headers[REQUEST_ID_HEADER] = request_id
        return response

    @app.before_request
    def reraise_fast_path_error() -> None:
        error = request.environ.pop(FAST_PATH_ERROR, None)
        if error is not None:
            raise error

    @app.errorhandler(ByocError)
    def on_byoc_error(error: ByocError) -> Response:
        status = http_status(error)
        level = logging.ERROR if status >= 500 else logging.WARNING
        log.log(level, "[%s] %s %s -> %d %s: %s", _request_id(), request.method, request.path,
                status, type(error).__name__, error)
        if isinstance(error, PayloadTooLarge):
            _discard_body()
        return _error_response(status, type(error).__name__, str(error))

    @app.errorhandler(RequestEntityTooLarge)
    def on_too_large(error: RequestEntityTooLarge) -> Response:
        return on_byoc_error(_too_large(settings))

    @app.errorhandler(HTTPException)
    def on_http_error(error: HTTPException) -> Response:
        status = error.code or 500
        log.warning("[%s] %s %s -> %d", _request_id(), request.method, request.path, status)
        return _error_response(status, error.name.replace(" ", ""), error.description or error.name)

    @app.errorhandler(Exception)
    def on_unexpected(error: Exception) -> Response:
        log.error("[%s] %s %s -> 500, unexpected error:", _request_id(), request.method,
                  request.path, exc_info=error)
        return _error_response(500, "InternalServerError",
                               f"Unexpected {type(error).__name__}; the server log has the details.")

    app.wsgi_app = _fast_path(app.wsgi_app, pipeline, settings, deadline, turns)  # type: ignore[method-assign]
    return app


def _fast_path(flask_wsgi, pipeline: InferencePipeline, settings: ServingSettings,  # type: ignore[no-untyped-def]
               deadline: "RequestDeadline", turns: threading.BoundedSemaphore):
    """GET /ping and POST /invocations without Flask's per-request machinery.

    They are nearly every request SageMaker sends, and Flask's request and app contexts, URL
    matching and hooks cost more than a small model's prediction. The view above does the
    same thing step for step (werkzeug's own input stream and headers, the same Response);
    anything else (another path or method, a chunked body, a body over the limit) goes to
    Flask untouched, and an error raised here is re-raised inside Flask (before_request), so
    every error response and log line comes from the handlers above. Hooks get everything
    through their RequestContext, as before; they run outside a Flask request context.
    """
    limit = settings.max_payload_bytes

    def wsgi(environ, start_response):  # type: ignore[no-untyped-def]
        path, method = environ.get("PATH_INFO"), environ.get("REQUEST_METHOD")
        if path == "/ping" and method == "GET":
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", "0")])
            return []
        length = environ.get("CONTENT_LENGTH") or ""
        if (path != "/invocations" or method != "POST" or not (length.isascii() and length.isdigit())
                or "HTTP_TRANSFER_ENCODING" in environ or (limit is not None and int(length) > limit)):
            return flask_wsgi(environ, start_response)
        request_id = environ["byoc.request_id"] = uuid.uuid4().hex[:16]
        try:
            with deadline.track(request_id):
                if "wsgi.input_terminated" in environ:  # gunicorn: the body ends at Content-Length
                    # One read (werkzeug's stream reads 64 KiB at a time), past gunicorn's copies.
                    body = read_body(environ["wsgi.input"], int(length))
                else:
                    body = get_input_stream(environ, max_content_length=limit).read()
                headers = EnvironHeaders(environ)
                attributes = parse_custom_attributes(headers.get(CUSTOM_ATTRIBUTES_HEADER))
                context = RequestContext(
                    request_id=request_id,
                    content_type=headers.get("Content-Type"),
                    accept=codecs.choose_accept(
                        headers.get("Accept"), headers.get("Content-Type"), settings.default_accept,
                        custom=pipeline.custom_output,
                    ),
                    headers=headers,
                    custom_attributes=attributes,
                    output=choose_output(attributes, settings.default_output),
                )
                with turns:
                    payload, content_type = pipeline.invoke(body, context)
            if not (type(content_type) is str and content_type.isascii() and content_type.isprintable()):
                # What werkzeug does with anything else (or how it refuses it) is its to say.
                response = Response(payload, status=200, content_type=content_type)
                response.headers[REQUEST_ID_HEADER] = request_id
                return response(environ, start_response)
        except Exception as error:  # answered by Flask's error handlers, as before
            environ[FAST_PATH_ERROR] = error
            return flask_wsgi(environ, start_response)
        # The headers werkzeug's Response(payload, content_type=...) sends, in its order.
        start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(payload))),
                                  (REQUEST_ID_HEADER, request_id)])
        return [payload]

    wsgi.__wrapped__ = flask_wsgi  # type: ignore[attr-defined]  # Flask alone, for tests
    return wsgi


def _read_body(settings: ServingSettings) -> bytes:
    """The request body, refusing one over the limit whether or not it has a Content-Length."""
    limit = settings.max_payload_bytes
    if limit is None or request.content_length is not None:
        return request.get_data(cache=False)  # a Content-Length was checked against the limit
    # A chunked body: werkzeug stops reading at max_content_length without an error, which
    # answered a 1.2 MB body cut to 1 MB with 200. Read one byte past the limit to tell.
    body = get_input_stream(request.environ, max_content_length=limit + 1).read()
    if len(body) > limit:
        raise _too_large(settings)
    return body


def _discard_body() -> None:
    """Read and drop what is left of a refused body, so the connection stays usable.

    gunicorn drains at most 64 KB of an unread body and then closes the connection, although
    the response already said keep-alive: the client's next request on it would fail.
    """
    stream = request.environ.get("wsgi.input")
    left = DISCARD_MAX_BYTES
    try:
        while stream is not None and left > 0:
            chunk = stream.read(min(left, 1 << 20))
            if not chunk:
                break
            left -= len(chunk)
    except Exception:  # the client went away, or sent a bad chunk: gunicorn closes the connection
        pass


def _request_id() -> str:
    """One id per request, shared by the response header, the error body and the log lines."""
    environ = request.environ
    if "byoc.request_id" not in environ:
        environ["byoc.request_id"] = uuid.uuid4().hex[:16]
    return environ["byoc.request_id"]


def _too_large(settings: ServingSettings) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The request body is over the limit of {settings.max_payload_mb:g} MB "
        "(SAGEMAKER_MAX_PAYLOAD_IN_MB).",
        hint="Split the records over several requests, or use batch transform or async inference.",
    )


def _error_response(status: int, error: str, message: str) -> Response:
    body = {"error": error, "message": message[:1800], "request_id": _request_id()}
    response = Response(json.dumps(body), status=status, mimetype=codecs.JSON)
    response.headers[REQUEST_ID_HEADER] = body["request_id"]
    return response


class RequestDeadline:
    """MODEL_SERVER_TIMEOUT for threaded workers, which gunicorn's own timeout does not cover.

    A request still running after the timeout has a stuck model: the worker logs it and exits,
    and gunicorn's master replaces it with a fresh fork. Only that worker's requests are lost.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._inflight: dict[str, float] = {}
        self._lock = threading.Lock()
        self._watcher_pid: int | None = None

    def track(self, request_id: str) -> "_Tracked":
        if self._watcher_pid != os.getpid():  # first request in this (forked) worker
            self._watcher_pid = os.getpid()
            threading.Thread(target=self._watch, name="request-deadline", daemon=True).start()
        return _Tracked(self, request_id)

    def _watch(self) -> None:
        while True:
            time.sleep(min(1.0, self.timeout / 4))
            now = time.monotonic()
            with self._lock:
                late = [rid for rid, start in self._inflight.items() if now - start > self.timeout]
            if late:
                log.critical("[%s] still running after %s s (MODEL_SERVER_TIMEOUT): restarting worker %d",
                             late[0], self.timeout, os.getpid())
                logging.shutdown()
                os._exit(1)


class _Tracked:
    def __init__(self, deadline: RequestDeadline, request_id: str) -> None:
        self.deadline, self.request_id = deadline, request_id

    def __enter__(self) -> None:
        with self.deadline._lock:
            self.deadline._inflight[self.request_id] = time.monotonic()

    def __exit__(self, *exc: object) -> None:
        with self.deadline._lock:
            self.deadline._inflight.pop(self.request_id, None)
