"""The HTTP surface SageMaker talks to: GET /ping, POST /invocations, GET /execution-parameters.

A plain WSGI application. Three fixed routes need no framework: Flask's request and app
contexts, URL matching and hooks cost more per request than a small model's prediction, and a
second, framework-free copy of /invocations in front of it was how this file used to win that
time back. werkzeug stays for what it does well: the case-insensitive headers hooks receive
(EnvironHeaders) and the WSGI rules for reading a body (container.body).

Three functions carry every request, so that what comes next has one place to go:
container.body.read_request_body reads the body, :meth:`ServingApp.predict` calls the
pipeline, and :func:`error_answer` turns any exception into the response: JSON
``{"error", "message", "request_id"}`` with the status errors.http_status gives and an
X-Request-Id header, logged at WARNING (the client's mistakes) or at ERROR with the
traceback (the server's), which never goes to the client; container.worker answers
gunicorn's own refusals with it too. The app is built after the model is loaded, so /ping
is green from the first request a worker can answer.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from http import HTTPStatus
from contextlib import nullcontext
from typing import Any, Callable, Iterable, Sequence

from werkzeug.datastructures import EnvironHeaders

from . import codecs
from .batching import Batcher
from .body import read_request_body
from .errors import ByocError, MethodNotAllowed, NotFound, PredictionError, RequestError, http_status
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
#: Where a request's id is kept in the WSGI environ once it has one.
REQUEST_ID_KEY = "byoc.request_id"
#: The longest error message sent to a client (the log has all of it).
MESSAGE_MAX_CHARS = 1800

#: (status line, headers, body): what a route, or an error, answers.
Answer = tuple[str, list[tuple[str, str]], bytes]
StartResponse = Callable[..., Any]

_EMPTY = [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", "0")]


class ServingApp:
    """The WSGI application gunicorn serves, around one loaded InferencePipeline."""

    #: Routes answered without reading a body or waiting for anything: container.worker answers
    #: them on its event loop, so /ping never queues behind predictions.
    instant_paths = frozenset({"/ping", "/execution-parameters"})

    def __init__(self, pipeline: InferencePipeline, settings: ServingSettings) -> None:
        self.pipeline = pipeline
        self.settings = settings
        self.deadline = RequestDeadline(settings.timeout)
        # One model call at a time per worker by default, whatever the threads: a model (or a
        # user's hook) need not be thread-safe. The calls are batches (container.batching) when
        # settings.batch_max_rows > 1; a user's input_fn, output_fn or transform_fn takes a turn too.
        self.batcher = Batcher(pipeline.predict, max_rows=settings.batch_max_rows or 1,
                               wait_seconds=settings.batch_wait, turns=settings.predictions,
                               copy=("classes",), track=self.deadline.track)
        custom = set(pipeline.custom)
        self._decode_turn = self.batcher.exclusive if "input_fn" in custom else nullcontext
        self._encode_turn = self.batcher.exclusive if "output_fn" in custom else nullcontext
        parameters = json.dumps(settings.execution_parameters()).encode()
        self._parameters: Answer = (
            "200 OK", [("Content-Type", codecs.JSON), ("Content-Length", str(len(parameters)))], parameters)
        #: path -> method -> handler. HEAD is answered wherever GET is, OPTIONS everywhere.
        self.routes: dict[str, dict[str, Callable[[dict[str, Any]], Answer]]] = {
            "/ping": {"GET": self.ping},
            "/invocations": {"POST": self.invocations},
            "/execution-parameters": {"GET": self.execution_parameters},
        }

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "")
        try:
            status, headers, body = self.route(environ.get("PATH_INFO", ""), method)(environ)
        except Exception as error:
            status, headers, body = error_answer(error, request_id_of(environ), _where(environ))
        start_response(status, headers)
        # HEAD: the headers GET would send (Content-Length included), and no body.
        return [body] if body and method != "HEAD" else []

    def route(self, path: str, method: str) -> Callable[[dict[str, Any]], Answer]:
        """The handler for a request, or NotFound / MethodNotAllowed."""
        methods = self.routes.get(path)
        if methods is None:
            raise NotFound(f"There is nothing at {path!r}. This server answers "
                           f"{', '.join(f'{m} {p}' for p, ms in self.routes.items() for m in ms)}.")
        handler = methods.get("GET" if method == "HEAD" else method)
        if handler is not None:
            return handler
        allowed = _allowed(methods)
        if method == "OPTIONS":
            return lambda environ: ("200 OK", [_EMPTY[0], ("Allow", allowed), _EMPTY[1]], b"")
        raise MethodNotAllowed(f"{path} does not take {method}: it takes {allowed}.", allow=allowed)

    # -- the routes ---------------------------------------------------------------------------

    def ping(self, environ: dict[str, Any]) -> Answer:
        return "200 OK", list(_EMPTY), b""

    def execution_parameters(self, environ: dict[str, Any]) -> Answer:
        status, headers, body = self._parameters
        return status, list(headers), body

    def invocations(self, environ: dict[str, Any]) -> Answer:
        request_id = request_id_of(environ)
        # The body first, paced by the worker (BYOC_READ_TIMEOUT): a slow client is not a stuck
        # model, so MODEL_SERVER_TIMEOUT starts with the prediction.
        body = read_request_body(environ, self.settings.max_payload_bytes)
        context = self.request_context(environ, request_id)
        payload, content_type = self.predict(body, context)
        headers = [("Content-Type", _header_value(content_type, context)), ("Content-Length", str(len(payload))),
                   (REQUEST_ID_HEADER, request_id)]
        return "200 OK", headers, payload

    # -- the steps of /invocations ------------------------------------------------------------

    def request_context(self, environ: dict[str, Any], request_id: str) -> RequestContext:
        """What the hooks learn of the request; a bad Accept (406) or output attribute (400) stops here."""
        headers = EnvironHeaders(environ)
        content_type = headers.get("Content-Type")
        attributes = parse_custom_attributes(headers.get(CUSTOM_ATTRIBUTES_HEADER))
        return RequestContext(
            request_id=request_id,
            content_type=content_type,
            accept=codecs.choose_accept(headers.get("Accept"), content_type, self.settings.default_accept,
                                        custom=self.pipeline.custom_output),
            headers=headers,
            custom_attributes=attributes,
            output=choose_output(attributes, self.settings.default_output),
        )

    def predict(self, body: bytes, context: RequestContext) -> tuple[bytes, str]:
        """The one place the pipeline is called: (response body, its content type).

        Each request decodes and encodes its own body in its own thread; its prediction goes
        through the worker's Batcher, alone or with others'. MODEL_SERVER_TIMEOUT counts each
        step from its start: waiting for a turn or a batch is not being stuck.
        """
        pipeline, request_id = self.pipeline, context.request_id
        if pipeline.transform_fn is not None:
            with self.batcher.exclusive(), self.deadline.track(request_id):
                return pipeline.transform(body, context)
        with self.batcher.arriving(counted=self._decode_turn is nullcontext) as arrival:
            with self._decode_turn(), self.deadline.track(request_id):
                data = pipeline.decode(body, context)
            prediction = arrival.submit(data, context, pipeline.batch_key(data, context), request_id)
        with self._encode_turn(), self.deadline.track(request_id):
            return pipeline.encode(prediction, context)


def error_answer(error: BaseException, request_id: str, where: str) -> Answer:
    """The one place an exception becomes a response, and its log line.

    `where` is "METHOD /path", for the log. A ByocError's message is meant for the client;
    anything else is a bug whose details stay in the log. The client's mistakes (RequestError,
    whatever their status) are logged at WARNING without a traceback.
    """
    status = http_status(error)
    if isinstance(error, ByocError):
        name, message = type(error).__name__, str(error)
    else:
        name, message = "InternalServerError", f"Unexpected {type(error).__name__}; the server log has the details."
    if status >= 500 and not isinstance(error, RequestError):
        log.error("[%s] %s -> %d %s: %s", request_id, where, status, name,
                  message if isinstance(error, ByocError) else f"{type(error).__name__}: {error}", exc_info=error)
    else:
        log.warning("[%s] %s -> %d %s: %s", request_id, where, status, name, message)
    body = json.dumps({"error": name, "message": message[:MESSAGE_MAX_CHARS], "request_id": request_id}).encode()
    headers = [("Content-Type", codecs.JSON), ("Content-Length", str(len(body))), (REQUEST_ID_HEADER, request_id)]
    if isinstance(error, MethodNotAllowed):
        headers.append(("Allow", error.allow))
    return f"{status} {_phrase(status)}", headers, body


def request_id_of(environ: dict[str, Any]) -> str:
    """One id per request, shared by the response header, the error body and the log lines."""
    request_id = environ.get(REQUEST_ID_KEY)
    if request_id is None:  # 16 hex digits from os.urandom, as uuid4 draws them, in a quarter of the time
        request_id = environ[REQUEST_ID_KEY] = os.urandom(8).hex()
    return request_id


def _header_value(content_type: object, context: RequestContext) -> str:
    """The response's Content-Type as the pipeline gave it, if HTTP can carry it.

    None means the negotiated Accept, as for a bare body. Anything else that is not a str
    of printable Latin-1 (what gunicorn can put in a header) is the model code's mistake: a
    500 saying so, rather than a mangled header or a broken connection.
    """
    if type(content_type) is str and content_type.isascii() and content_type.isprintable():
        return content_type
    if content_type is None:
        return context.accept
    if isinstance(content_type, str) and content_type.isprintable():
        try:
            content_type.encode("latin-1")
            return content_type
        except UnicodeEncodeError:
            pass
    raise PredictionError(
        f"The response's content type {content_type!r} cannot be sent as an HTTP header.",
        hint="output_fn (or transform_fn) must give it as a str such as 'text/csv'.",
    )


def _allowed(methods: dict[str, Any]) -> str:
    names = list(methods)
    if "GET" in methods:
        names.append("HEAD")
    return ", ".join([*names, "OPTIONS"])


def _where(environ: dict[str, Any]) -> str:
    return f"{environ.get('REQUEST_METHOD', '?')} {environ.get('PATH_INFO', '?')}"


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


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

    def track(self, request_ids: str | Sequence[str]) -> "_Tracked":
        """A step of one request, or of every request in a batch, from now."""
        if self._watcher_pid != os.getpid():  # first request in this (forked) worker
            self._watcher_pid = os.getpid()
            threading.Thread(target=self._watch, name="request-deadline", daemon=True).start()
        return _Tracked(self, (request_ids,) if isinstance(request_ids, str) else tuple(request_ids))

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
    def __init__(self, deadline: RequestDeadline, request_ids: tuple[str, ...]) -> None:
        self.deadline, self.request_ids = deadline, request_ids

    def __enter__(self) -> None:
        now = time.monotonic()
        with self.deadline._lock:
            for request_id in self.request_ids:
                self.deadline._inflight[request_id] = now

    def __exit__(self, *exc: object) -> None:
        with self.deadline._lock:
            for request_id in self.request_ids:
                self.deadline._inflight.pop(request_id, None)
