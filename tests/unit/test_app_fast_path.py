"""app.py's fast path for GET /ping and POST /invocations answers exactly as the Flask view does.

Every request is sent twice, to the app as served (fast path in front) and to Flask alone
(the wrapped wsgi_app), and the answers must match: status, headers, body, with only the
random request id told apart. No timings here.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask import Flask

from container import artifacts
from container.app import REQUEST_ID_HEADER, create_app
from container.errors import PredictionError
from container.inference import Hook, InferencePipeline
from container.settings import ServingSettings

ROW = "5.1,3.5,1.4,0.2"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4))
    y = (X[:, 0] > 0).astype(int)
    folder = tmp_path_factory.mktemp("fast-path") / "model"
    artifacts.save(folder, LogisticRegression().fit(X, y), {"task": "classification"})
    return folder


def make_apps(model_dir: Path, **settings: Any) -> tuple[Flask, Flask]:
    config = ServingSettings(max_payload_mb=settings.pop("max_payload_mb", 1), **settings)
    pipeline = InferencePipeline(model_dir, config)
    fast = create_app(pipeline, config)
    plain = create_app(pipeline, config)
    plain.wsgi_app = plain.wsgi_app.__wrapped__  # type: ignore[attr-defined, method-assign]
    return fast, plain


def normalized(response: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    request_id = response.headers.get(REQUEST_ID_HEADER)
    headers = [(k, "<id>" if k == REQUEST_ID_HEADER else v) for k, v in response.headers.items()]
    body = response.get_data()
    if request_id:
        body = body.replace(request_id.encode(), b"<id>")
    return response.status_code, headers, body


def both(fast: Flask, plain: Flask, method: str, path: str, **kw: Any) -> tuple[int, list, bytes]:
    got = normalized(fast.test_client().open(path, method=method, **kw))
    expected = normalized(plain.test_client().open(path, method=method, **kw))
    assert got == expected
    return got


CASES = [
    ("GET", "/ping", {}),
    ("HEAD", "/ping", {}),
    ("POST", "/ping", {}),
    ("GET", "/execution-parameters", {}),
    ("GET", "/invocations", {}),
    ("GET", "/nowhere", {}),
    ("POST", "/invocations/", {"data": ROW, "content_type": "text/csv"}),
    ("POST", "/invocations", {"data": ROW, "content_type": "text/csv"}),
    ("POST", "/invocations", {"data": ROW + "\n" + ROW, "content_type": "text/csv; charset=utf-8"}),
    ("POST", "/invocations", {"data": ROW, "content_type": "text/csv", "headers": {"Accept": "application/json"}}),
    ("POST", "/invocations", {"data": ROW, "content_type": "text/csv",
                              "headers": {"Accept": "application/jsonlines",
                                          "X-Amzn-SageMaker-Custom-Attributes": "output=probabilities"}}),
    ("POST", "/invocations", {"data": json.dumps([[5.1, 3.5, 1.4, 0.2]]), "content_type": "application/json"}),
    ("POST", "/invocations", {"data": json.dumps({"instances": [[1, 2, 3, 4]]}), "content_type": "application/json",
                              "headers": {"Accept": "text/csv"}}),
    ("POST", "/invocations", {"data": "[1,2,3,4]\n[5,6,7,8]\n", "content_type": "application/jsonlines"}),
    ("POST", "/invocations", {"data": ROW}),  # no Content-Type: JSON by default
    ("POST", "/invocations", {"data": ROW, "content_type": "application/octet-stream"}),  # 415
    ("POST", "/invocations", {"data": ROW, "content_type": "text/csv", "headers": {"Accept": "image/png"}}),  # 406
    ("POST", "/invocations", {"data": "", "content_type": "text/csv"}),  # empty
    ("POST", "/invocations", {"data": "1,2,3\n", "content_type": "text/csv"}),  # wrong width
    ("POST", "/invocations", {"data": "a,b,c,d\n1,2,3,4\n", "content_type": "text/csv"}),  # a header row
    ("POST", "/invocations", {"data": "1,2,x,4\n", "content_type": "text/csv"}),
    ("POST", "/invocations", {"data": "{", "content_type": "application/json"}),
    ("POST", "/invocations", {"data": ROW, "content_type": "text/csv",
                              "headers": {"X-Amzn-SageMaker-Custom-Attributes": "output=bogus"}}),
    ("POST", "/invocations", {"data": "1," * 400_000 + "1", "content_type": "text/csv"}),  # over 1 MB: 413
]


@pytest.mark.parametrize(("method", "path", "kw"), CASES)
def test_same_answer_as_flask(model_dir: Path, method: str, path: str, kw: dict[str, Any]) -> None:
    fast, plain = make_apps(model_dir)
    both(fast, plain, method, path, **kw)


def test_npy_payloads(model_dir: Path) -> None:
    fast, plain = make_apps(model_dir)
    buffer = io.BytesIO()
    np.save(buffer, np.array([[5.1, 3.5, 1.4, 0.2]]))
    status, headers, body = both(fast, plain, "POST", "/invocations", data=buffer.getvalue(),
                                 content_type="application/x-npy", headers={"Accept": "application/x-npy"})
    assert status == 200 and ("Content-Type", "application/x-npy") in headers


def test_a_chunked_body_goes_to_flask(model_dir: Path) -> None:
    fast, plain = make_apps(model_dir, max_payload_mb=0)

    def chunked() -> dict[str, Any]:
        return {"input_stream": io.BytesIO(ROW.encode()), "content_type": "text/csv",
                "headers": {"Transfer-Encoding": "chunked"}}

    got = normalized(fast.test_client().post("/invocations", **chunked()))
    expected = normalized(plain.test_client().post("/invocations", **chunked()))
    assert got == expected


def test_a_body_shorter_than_its_content_length(model_dir: Path) -> None:
    fast, plain = make_apps(model_dir)

    def short() -> dict[str, Any]:
        return {"input_stream": io.BytesIO(ROW.encode()), "content_type": "text/csv",
                "headers": {"Content-Length": str(len(ROW) + 10)}}

    got = normalized(fast.test_client().post("/invocations", **short()))
    expected = normalized(plain.test_client().post("/invocations", **short()))
    assert got == expected


@pytest.mark.parametrize("failure", [PredictionError("the model broke"), RuntimeError("boom"), KeyError("k")])
def test_errors_from_hooks_go_through_flasks_handlers(model_dir: Path, failure: Exception,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    fast, plain = make_apps(model_dir)

    def predict_fn(data: Any, model: Any) -> Any:
        raise failure

    pipeline = _pipeline_of(fast)
    pipeline.predict_fn = Hook(predict_fn, 2)
    status, _, body = both(fast, plain, "POST", "/invocations", data=ROW, content_type="text/csv")
    assert status == 500
    assert json.loads(body)["request_id"] == "<id>"
    ids = re.findall(r"\[([0-9a-f]{16})\]", caplog.text)
    assert len(ids) >= 2  # both answers logged with their request id


@pytest.mark.parametrize("content_type", ["text/csv\nX-Evil: 1", b"text/csv", "text/csv; q=\u00e9"])
def test_odd_content_types_from_output_fn_are_left_to_werkzeug(model_dir: Path, content_type: Any) -> None:
    fast, plain = make_apps(model_dir)

    def output_fn(prediction: Any, accept: str) -> Any:
        return b"0\n", content_type

    _pipeline_of(fast).output_fn = Hook(output_fn, 2)
    both(fast, plain, "POST", "/invocations", data=ROW, content_type="text/csv")


def test_hooks_see_the_same_request_context(model_dir: Path) -> None:
    fast, plain = make_apps(model_dir)
    seen: list[dict[str, Any]] = []

    def input_fn(body: bytes, content_type: str, context: Any) -> Any:
        seen.append({
            "content_type": context.content_type, "accept": context.accept, "output": context.output,
            "attributes": context.custom_attributes, "trace": context.headers.get("X-Trace"),
            "headers_type": type(context.headers).__name__, "body": body,
        })
        return np.array([[5.1, 3.5, 1.4, 0.2]])

    _pipeline_of(fast).input_fn = Hook(input_fn, 2)
    both(fast, plain, "POST", "/invocations", data=b"whatever", content_type="text/plain",
         headers={"Accept": "text/csv;q=0.5, application/json", "X-Trace": "t1",
                  "X-Amzn-SageMaker-Custom-Attributes": "output=probabilities, a=b"})
    assert len(seen) == 2 and seen[0] == seen[1]
    assert seen[0]["headers_type"] == "EnvironHeaders" and seen[0]["trace"] == "t1"


def _pipeline_of(app: Flask) -> InferencePipeline:
    """The pipeline both apps share (make_apps builds them on one)."""
    closure = app.wsgi_app.__closure__  # type: ignore[attr-defined]
    return next(c.cell_contents for c in closure if isinstance(c.cell_contents, InferencePipeline))
