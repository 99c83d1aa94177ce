"""container.app in process, through werkzeug's test client: every route, every answer spelled out.

The answers below are the ones the Flask app gave (status, headers in their order, body),
with the request id told apart, except where the plain WSGI app answers better: a 405
carries an Allow header, 404/405 say what the server does answer, a body shorter than its
Content-Length is refused, and a content type HTTP cannot carry is a 500 that says so. Real
gunicorn over real HTTP is in tests/contract/test_serving.py. No timings here.
"""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from werkzeug.test import Client

from container import artifacts
from container.app import REQUEST_ID_HEADER, ServingApp, error_answer
from container.errors import PayloadTooLarge, PredictionError, TransferCodingNotImplemented
from container.inference import Hook, InferencePipeline
from container.settings import ServingSettings

ROW = "5.1,3.5,1.4,0.2"
MB = 1024 * 1024
ID = "<id>"
EMPTY = [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", "0")]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4))
    y = (X[:, 0] > 0).astype(int)
    folder = tmp_path_factory.mktemp("app") / "model"
    artifacts.save(folder, LogisticRegression().fit(X, y), {"task": "classification"})
    return folder


def make_app(model_dir: Path, **settings: Any) -> ServingApp:
    config = ServingSettings(max_payload_mb=settings.pop("max_payload_mb", 1), **settings)
    return ServingApp(InferencePipeline(model_dir, config), config)


def answer(app: ServingApp, method: str, path: str, **kw: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """(status, headers, body) with the request id replaced by <id>, after checking it."""
    response = Client(app).open(path, method=method, **kw)
    body = response.get_data()
    headers = list(response.headers.items())
    request_id = response.headers.get(REQUEST_ID_HEADER)
    if request_id is not None:
        assert re.fullmatch(r"[0-9a-f]{16}", request_id)
        if response.status_code >= 400 and method != "HEAD":
            assert json.loads(body)["request_id"] == request_id
        body = body.replace(request_id.encode(), ID.encode())
        headers = [(k, ID if k == REQUEST_ID_HEADER else v) for k, v in headers]
    return response.status_code, headers, body


def error(status: int, name: str, message: str, content_length: int, *extra: tuple[str, str]) -> tuple:
    body = json.dumps({"error": name, "message": message, "request_id": ID}).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(content_length)),
               (REQUEST_ID_HEADER, ID), *extra]
    return status, headers, body


def ok(content_type: str, body: bytes) -> tuple:
    return 200, [("Content-Type", content_type), ("Content-Length", str(len(body))), (REQUEST_ID_HEADER, ID)], body


def length(name: str, message: str) -> int:
    """The Content-Length of an error body (the real request id is 16 characters, like <id>'s 4 + 12)."""
    return len(json.dumps({"error": name, "message": message, "request_id": "0" * 16}))


NOT_FOUND = ("There is nothing at {!r}. This server answers GET /ping, POST /invocations, "
             "GET /execution-parameters.")
CSV_ONLY = "Send one of: text/csv, application/json, application/jsonlines, application/x-npy."
WIDTH = ("Each record has {} values, but the model takes 4 features. Send the features only, in training's "
         "column order, without the label.")


def not_found(path: str) -> tuple:
    message = NOT_FOUND.format(path)
    return error(404, "NotFound", message, length("NotFound", message))


def not_allowed(path: str, method: str, allow: str) -> tuple:
    message = f"{path} does not take {method}: it takes {allow}."
    return error(405, "MethodNotAllowed", message, length("MethodNotAllowed", message), ("Allow", allow))


def request_error(message: str, name: str = "RequestError", status: int = 400) -> tuple:
    return error(status, name, message, length(name, message))


PARAMETERS = b'{"MaxConcurrentTransforms": 1, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 1}'

CASES = [
    # health, batch parameters, and what is not a route
    ("GET", "/ping", {}, (200, EMPTY, b"")),
    ("GET", "/ping?x=1", {}, (200, EMPTY, b"")),
    ("HEAD", "/ping", {}, (200, EMPTY, b"")),
    ("OPTIONS", "/ping", {}, (200, [EMPTY[0], ("Allow", "GET, HEAD, OPTIONS"), EMPTY[1]], b"")),
    ("POST", "/ping", {}, not_allowed("/ping", "POST", "GET, HEAD, OPTIONS")),
    ("GET", "/execution-parameters", {},
     (200, [("Content-Type", "application/json"), ("Content-Length", "84")], PARAMETERS)),
    ("HEAD", "/execution-parameters", {}, (200, [("Content-Type", "application/json"), ("Content-Length", "84")], b"")),
    ("DELETE", "/execution-parameters", {}, not_allowed("/execution-parameters", "DELETE", "GET, HEAD, OPTIONS")),
    ("GET", "/invocations", {}, not_allowed("/invocations", "GET", "POST, OPTIONS")),
    ("PUT", "/invocations", {}, not_allowed("/invocations", "PUT", "POST, OPTIONS")),
    ("OPTIONS", "/invocations", {}, (200, [EMPTY[0], ("Allow", "POST, OPTIONS"), EMPTY[1]], b"")),
    ("GET", "/nowhere", {}, not_found("/nowhere")),
    ("GET", "/", {}, not_found("/")),
    ("POST", "/invocations/", {"data": ROW, "content_type": "text/csv"}, not_found("/invocations/")),
    # predictions in every type
    ("POST", "/invocations", {"data": ROW, "content_type": "text/csv"}, ok("text/csv", b"1\n")),
    ("POST", "/invocations", {"data": ROW + "\n" + ROW, "content_type": "text/csv; charset=utf-8"},
     ok("text/csv", b"1\n1\n")),
    ("POST", "/invocations", {"data": ROW, "content_type": "text/csv", "headers": {"Accept": "application/json"}},
     ok("application/json", b'{"predictions":[1]}')),
    ("POST", "/invocations", {"data": ROW, "content_type": "text/csv",
                              "headers": {"Accept": "application/jsonlines",
                                          "X-Amzn-SageMaker-Custom-Attributes": "output=probabilities"}},
     ok("application/jsonlines", b"[2.7963631410443668e-11,0.9999999999720364]\n")),
    ("POST", "/invocations", {"data": json.dumps([[5.1, 3.5, 1.4, 0.2]]), "content_type": "application/json"},
     ok("application/json", b'{"predictions":[1]}')),
    ("POST", "/invocations", {"data": json.dumps({"instances": [[1, 2, 3, 4]]}), "content_type": "application/json",
                              "headers": {"Accept": "text/csv"}}, ok("text/csv", b"1\n")),
    ("POST", "/invocations", {"data": "[1,2,3,4]\n[5,6,7,8]\n", "content_type": "application/jsonlines"},
     ok("application/jsonlines", b"1\n1\n")),
    # errors, each with its body
    ("POST", "/invocations", {"data": ROW},  # no Content-Type: JSON by default
     request_error("Bad JSON: Extra data: line 1 column 4 (char 3).")),
    ("POST", "/invocations", {"data": ROW, "content_type": "application/octet-stream"},
     request_error(f"Content-Type 'application/octet-stream' is not supported. {CSV_ONLY}",
                   "UnsupportedMediaType", 415)),
    ("POST", "/invocations", {"data": ROW, "content_type": "text/csv", "headers": {"Accept": "image/png"}},
     request_error("Cannot answer in 'image/png'. Accept one of: text/csv, application/json, "
                   "application/jsonlines, application/x-npy.", "NotAcceptable", 406)),
    ("POST", "/invocations", {"data": "", "content_type": "text/csv"},
     request_error("The request body is empty. Send at least one record.")),
    ("POST", "/invocations", {"data": "1,2,3\n", "content_type": "text/csv"}, request_error(WIDTH.format(3))),
    ("POST", "/invocations", {"data": "a,b,c,d\n1,2,3,4\n", "content_type": "text/csv"},
     request_error("Bad CSV: row 1, column 1: 'a' is not a number. The first line looks like a header row: "
                   "send the records without it.")),
    ("POST", "/invocations", {"data": "1,2,x,4\n", "content_type": "text/csv"},
     request_error("Bad CSV: row 1, column 3: 'x' is not a number. Send header-less CSV: one record per line, "
                   "numeric features only.")),
    ("POST", "/invocations", {"data": "{", "content_type": "application/json"},
     request_error("Bad JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1).")),
    ("POST", "/invocations", {"data": ROW, "content_type": "text/csv",
                              "headers": {"X-Amzn-SageMaker-Custom-Attributes": "output=bogus"}},
     request_error("Custom attribute output='bogus' is not one of ['predictions', 'probabilities'].")),
    ("POST", "/invocations", {"data": "1," * 400_000 + "1", "content_type": "text/csv"},  # under 1 MB
     request_error(WIDTH.format(400001))),
    ("POST", "/invocations", {"data": "1," * 600_000, "content_type": "text/csv"},  # over 1 MB
     request_error("The request body is over the limit of 1 MB (SAGEMAKER_MAX_PAYLOAD_IN_MB). Split the records "
                   "over several requests, or use batch transform or async inference.", "PayloadTooLarge", 413)),
]


@pytest.mark.parametrize(("method", "path", "kw", "expected"), CASES,
                         ids=[f"{m} {p} {i}" for i, (m, p, _, _) in enumerate(CASES)])
def test_every_answer(model_dir: Path, method: str, path: str, kw: dict[str, Any], expected: tuple) -> None:
    assert answer(make_app(model_dir), method, path, **kw) == expected


def test_head_sends_the_headers_of_the_error_without_its_body(model_dir: Path) -> None:
    status, headers, body = answer(make_app(model_dir), "HEAD", "/invocations")
    assert status == 405 and body == b""
    assert ("Allow", "POST, OPTIONS") in headers and dict(headers)["Content-Length"] != "0"


def test_npy_in_and_out(model_dir: Path) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.array([[5.1, 3.5, 1.4, 0.2]]))
    status, headers, body = answer(make_app(model_dir), "POST", "/invocations", data=buffer.getvalue(),
                                   content_type="application/x-npy", headers={"Accept": "application/x-npy"})
    assert status == 200 and headers[0] == ("Content-Type", "application/x-npy")
    assert np.load(io.BytesIO(body)).tolist() == [1]


def test_every_request_gets_its_own_id(model_dir: Path) -> None:
    client = Client(make_app(model_dir))
    ids = {client.post("/invocations", data=ROW, content_type="text/csv").headers[REQUEST_ID_HEADER],
           client.post("/invocations", data="x", content_type="text/csv").headers[REQUEST_ID_HEADER],
           client.get("/nope").headers[REQUEST_ID_HEADER]}
    assert len(ids) == 3


# -- the body ------------------------------------------------------------------------------------


def chunked(data: bytes) -> dict[str, Any]:
    """A body without Content-Length from a server that terminates the stream, as gunicorn does."""
    return {"input_stream": io.BytesIO(data), "content_type": "text/csv",
            "headers": {"Transfer-Encoding": "chunked", "Accept": "text/csv"},
            "environ_overrides": {"wsgi.input_terminated": True}}


def rows(count: int) -> bytes:
    return (ROW + "\n").encode() * count


def test_a_chunked_body_at_the_limit_is_whole_and_one_byte_more_is_413(model_dir: Path) -> None:
    app = make_app(model_dir)
    at_limit = rows(MB // 16)  # 16-byte rows
    assert len(at_limit) == MB
    status, _, body = answer(app, "POST", "/invocations", **chunked(at_limit))
    assert status == 200 and len(body.splitlines()) == len(at_limit.splitlines())
    status, _, body = answer(app, "POST", "/invocations", **chunked(at_limit + b"5"))
    assert status == 413 and json.loads(body)["error"] == "PayloadTooLarge"


def test_a_chunked_body_of_any_size_without_a_limit(model_dir: Path) -> None:
    status, _, body = answer(make_app(model_dir, max_payload_mb=0), "POST", "/invocations",
                             **chunked(rows(7 * MB // 16)))
    assert status == 200 and len(body.splitlines()) == 7 * MB // 16


def test_a_body_without_length_from_a_server_that_does_not_terminate_it_is_empty(model_dir: Path) -> None:
    # WSGI: without Content-Length, a stream the server does not end may never end. Not read.
    kw = chunked(rows(3))
    del kw["environ_overrides"]
    assert answer(make_app(model_dir), "POST", "/invocations", **kw) == request_error(
        "The request body is empty. Send at least one record.")


@pytest.mark.parametrize(("kind", "read"), [("content-length", 0), ("chunked", 3 * MB)])
def test_a_refused_body_is_read_to_its_end_only_when_chunked(model_dir: Path, kind: str, read: int) -> None:
    # So that the next request on a keep-alive connection starts where the client sent it. A
    # Content-Length says where that is: the server drains the body after the answer
    # (container.worker, on its event loop), and no thread waits for a body nobody wants.
    data = rows(3 * MB // 16)
    stream = io.BytesIO(data)
    kw = chunked(data) if kind == "chunked" else {"content_type": "text/csv"}
    kw["input_stream"] = stream
    status, _, _ = answer(make_app(model_dir), "POST", "/invocations", **kw)
    assert status == 413
    assert stream.tell() == read


def test_a_body_shorter_than_its_content_length_is_400_not_a_prediction(model_dir: Path) -> None:
    short = {"input_stream": io.BytesIO(ROW.encode()), "content_type": "text/csv",
             "environ_overrides": {"CONTENT_LENGTH": str(len(ROW) + 10)}}
    assert answer(make_app(model_dir), "POST", "/invocations", **short) == request_error(
        f"The request body ended after {len(ROW)} of the {len(ROW) + 10} bytes its Content-Length announced: "
        "the client closed the connection early.")


def test_a_malformed_content_length_is_400(model_dir: Path) -> None:
    # gunicorn refuses it before the app; another WSGI server may pass it on.
    bad = {"input_stream": io.BytesIO(ROW.encode()), "content_type": "text/csv",
           "environ_overrides": {"CONTENT_LENGTH": "16 bytes"}}
    assert answer(make_app(model_dir), "POST", "/invocations", **bad) == request_error(
        "Content-Length '16 bytes' is not a number of bytes.")


# -- errors from the model's code, and what the log says ------------------------------------------


@pytest.mark.parametrize(("where", "failure", "name", "message"), [
    # the model's code failing: inference.py says which hook, and how
    ("hook", RuntimeError("boom"), "PredictionError", "predict_fn failed: RuntimeError: boom"),
    ("hook", PredictionError("the model broke"), "PredictionError", "the model broke"),
    # a bug in the runtime itself: nothing of it goes to the client
    ("runtime", RuntimeError("boom"), "InternalServerError", "Unexpected RuntimeError; the server log has the details."),
    ("runtime", KeyError("k"), "InternalServerError", "Unexpected KeyError; the server log has the details."),
])
def test_a_500_is_json_and_its_traceback_is_in_the_log_only(model_dir: Path, where: str, failure: Exception,
                                                             name: str, message: str,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    app = make_app(model_dir)

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise failure

    if where == "hook":
        app.pipeline.predict_fn = Hook(fail, 2)
    else:
        app.pipeline.decode = fail  # type: ignore[method-assign]
    caplog.set_level(logging.INFO, logger="container")
    response = Client(app).post("/invocations", data=ROW, content_type="text/csv")
    request_id = response.headers[REQUEST_ID_HEADER]
    assert response.status_code == 500
    assert response.get_json() == {"error": name, "message": message, "request_id": request_id}
    assert "Traceback" not in response.get_data(as_text=True)
    [record] = [r for r in caplog.records if r.name == "container.app"]
    assert record.levelno == logging.ERROR and record.exc_info is not None
    assert record.getMessage().startswith(f"[{request_id}] POST /invocations -> 500 {name}: ")
    assert "raise failure" in caplog.text and str(failure) in caplog.text  # the traceback, in the log


def test_a_4xx_is_one_warning_line_without_a_traceback(model_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="container")
    response = Client(make_app(model_dir)).post("/invocations", data="1,2\n", content_type="text/csv")
    [record] = [r for r in caplog.records if r.name == "container.app"]
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert record.getMessage() == (f"[{response.headers[REQUEST_ID_HEADER]}] POST /invocations -> 400 RequestError: "
                                   + WIDTH.format(2))


def test_a_clients_mistake_answered_with_a_5xx_is_still_a_warning_without_a_traceback(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="container")
    status, _, _ = error_answer(TransferCodingNotImplemented("Unsupported transfer coding: 'br'."), "id", "POST /x")
    assert status == "501 Not Implemented"
    [record] = [r for r in caplog.records if r.name == "container.app"]
    assert record.levelno == logging.WARNING and record.exc_info is None


def test_instant_paths_are_routes_that_read_no_body() -> None:
    # container.worker answers them on its event loop: they must never block.
    assert ServingApp.instant_paths == {"/ping", "/execution-parameters"}


def test_error_answer_for_any_exception() -> None:
    status, headers, body = error_answer(PayloadTooLarge("x" * 5000), "0123456789abcdef", "POST /invocations")
    assert status == "413 Request Entity Too Large"
    document = json.loads(body)
    assert document == {"error": "PayloadTooLarge", "message": "x" * 1800, "request_id": "0123456789abcdef"}
    assert headers == [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                       (REQUEST_ID_HEADER, "0123456789abcdef")]
    assert error_answer(ValueError("secret"), "id", "GET /x")[0] == "500 Internal Server Error"
    assert b"secret" not in error_answer(ValueError("secret"), "id", "GET /x")[2]


@pytest.mark.parametrize(("content_type", "expected"), [
    ("text/csv; q=\u00e9", 200),  # Latin-1: what gunicorn can send, sent as given
    (None, 200),  # the negotiated Accept, as for a bare body
    ("text/csv\nX-Evil: 1", 500),  # header injection
    (b"text/csv", 500),  # would have gone out as "b'text/csv'"
    ("text/csv; q=\u20ac", 500),  # not Latin-1: gunicorn could not write it
])
def test_the_content_type_output_fn_gives_must_be_a_header_value(model_dir: Path, content_type: Any,
                                                                  expected: int) -> None:
    app = make_app(model_dir)

    def output_fn(prediction: Any, accept: str) -> Any:
        return b"0\n", content_type

    app.pipeline.output_fn = Hook(output_fn, 2)
    status, headers, body = answer(app, "POST", "/invocations", data=ROW, content_type="text/csv",
                                   headers={"Accept": "application/json"})
    assert status == expected
    if expected == 200:
        assert headers[0] == ("Content-Type", content_type or "application/json") and body == b"0\n"
    else:
        document = json.loads(body)
        assert document["error"] == "PredictionError"
        assert repr(content_type) in document["message"] and "output_fn" in document["message"]


def test_hooks_get_the_request_context(model_dir: Path) -> None:
    app = make_app(model_dir)
    seen: list[dict[str, Any]] = []

    def input_fn(body: bytes, content_type: str, context: Any) -> Any:
        seen.append({
            "content_type": context.content_type, "accept": context.accept, "output": context.output,
            "attributes": context.custom_attributes, "trace": context.headers.get("x-trace"),
            "headers_type": type(context.headers).__name__, "body": body, "request_id": context.request_id,
        })
        return np.array([[5.1, 3.5, 1.4, 0.2]])

    app.pipeline.input_fn = Hook(input_fn, 2)
    response = Client(app).post("/invocations", data=b"whatever", content_type="text/plain", headers={
        "Accept": "text/csv;q=0.5, application/json", "X-Trace": "t1",
        "X-Amzn-SageMaker-Custom-Attributes": "output=probabilities, a=b"})
    assert response.status_code == 200
    assert seen == [{
        "content_type": "text/plain", "accept": "application/json", "output": "probabilities",
        "attributes": {"output": "probabilities", "a": "b"}, "trace": "t1", "headers_type": "EnvironHeaders",
        "body": b"whatever", "request_id": response.headers[REQUEST_ID_HEADER],
    }]
