"""model_fn / input_fn / predict_fn / output_fn / transform_fn from a user's package, as
SageMaker's inference toolkit names them, with and without the request context argument."""

from __future__ import annotations

import json

import numpy as np
import pytest
import requests

from container import artifacts

from contract_helpers import package_env

ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"


def pipes(rows: np.ndarray) -> bytes:
    return "".join("|".join(f"{v:g}" for v in row) + "\n" for row in rows).encode()


@pytest.fixture(scope="module")
def expected(trained_model, features) -> list[int]:
    return artifacts.load_estimator(trained_model).predict(features).tolist()


def test_hooks_taking_the_context(shared_server, features, expected) -> None:
    server = shared_server("hooks_ctx", package_env("byoc_fx_hooks_ctx"))
    response = requests.post(server.url + "/invocations", data=pipes(features), timeout=30, headers={
        "Content-Type": "text/x-pipes", "Accept": "application/json", ATTRIBUTES: "trace=abc; Output=predictions"})
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/vnd.test+json"  # output_fn's own type
    body = response.json()
    assert body["labels"] == expected
    assert body["loaded_by"] == "hooks_ctx"  # model_fn's object reached predict_fn
    assert body["accept"] == "application/json"
    assert body["request_id"] == response.headers["X-Request-Id"]
    assert body["custom"] == {"trace": "abc", "output": "predictions"}
    assert "hooks: input_fn, model_fn, output_fn, predict_fn" in server.log


def test_hooks_with_the_toolkits_plain_signatures(shared_server, features, expected) -> None:
    server = shared_server("hooks_plain", package_env("byoc_fx_hooks_plain"))
    response = requests.post(server.url + "/invocations", data=pipes(features), timeout=30,
                             headers={"Content-Type": "text/x-pipes", "Accept": "text/csv"})
    assert response.status_code == 200, response.text
    assert response.text == "|".join(str(v * 10) for v in expected) + ";text/csv"
    assert response.headers["Content-Type"].startswith("text/csv")  # str body, the Accept as its type


def test_custom_output_fn_may_answer_types_the_defaults_cannot(shared_server, features, expected) -> None:
    # An inference.py whose output_fn handles text/plain must port unchanged: no 406 first.
    server = shared_server("hooks_plain", package_env("byoc_fx_hooks_plain"))
    response = requests.post(server.url + "/invocations", data=pipes(features), timeout=30,
                             headers={"Content-Type": "text/x-pipes", "Accept": "text/plain"})
    assert response.status_code == 200, response.text
    assert response.text.endswith(";text/plain")
    assert response.headers["Content-Type"].startswith("text/plain")


def test_input_fn_refusal_is_a_400_naming_the_hook(shared_server, features) -> None:
    server = shared_server("hooks_ctx", package_env("byoc_fx_hooks_ctx"))
    response = requests.post(server.url + "/invocations", data=b"1,2,3,4", timeout=30,
                             headers={"Content-Type": "text/csv"})
    assert response.status_code == 400
    body = response.json()
    assert "input_fn" in body["message"] and "only text/x-pipes" in body["message"]
    assert "Traceback" not in response.text
    ok = requests.post(server.url + "/invocations", data=pipes(features), timeout=30,
                       headers={"Content-Type": "text/x-pipes"})
    assert ok.status_code == 200  # and it keeps serving


def test_transform_fn_replaces_the_other_three(shared_server, features, expected) -> None:
    server = shared_server("transform", package_env("byoc_fx_transform"))
    response = requests.post(server.url + "/invocations", data=json.dumps({"rows": features.tolist()}),
                             headers={"Content-Type": "application/json"}, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json() == {"transformed": expected, "content_type": "application/json"}
    assert "hooks: transform_fn" in server.log


def test_500_when_predict_fn_raises(shared_server, trained_model) -> None:
    server = shared_server("behave", package_env("byoc_fx_behave"))
    response = requests.post(server.url + "/invocations", data=b"5.1,3.5,1.4,0.2", timeout=30,
                             headers={"Content-Type": "text/csv", ATTRIBUTES: "raise=1"})
    assert response.status_code == 500
    body = response.json()
    assert set(body) == {"error", "message", "request_id"}
    assert body["error"] == "PredictionError"
    assert "predict_fn failed: ModelExploded" in body["message"]
    assert "Traceback" not in response.text and 'File "' not in response.text
    # the log has the traceback, under the request id
    for _ in range(100):
        if "Traceback" in server.log and body["request_id"] in server.log:
            break
        __import__("time").sleep(0.05)
    log = server.log
    assert f"[{body['request_id']}] POST /invocations -> 500 PredictionError: predict_fn failed: ModelExploded" in log
    assert "Traceback (most recent call last)" in log and "raise ModelExploded" in log
    assert log.count("raise ModelExploded") == 1  # logged once, with the 500's line
    ok = requests.post(server.url + "/invocations", data=b"5.1,3.5,1.4,0.2", timeout=30,
                       headers={"Content-Type": "text/csv", "Accept": "application/json"})
    assert ok.status_code == 200
    assert ok.json()["predictions"] == artifacts.load_estimator(trained_model).predict([[5.1, 3.5, 1.4, 0.2]]).tolist()
