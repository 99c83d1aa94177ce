"""Adaptive batching in a real `serve` (gunicorn, HTTP): concurrent requests share model calls, and
each still gets its own rows, its own Accept and content type, and its own errors.

byoc_fx_batching's predict_fn answers each row with (label, rows in the call, call number), so a
response shows the batch it was predicted in; each call sleeps, so requests sent together queue.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests

from container import artifacts

from contract_helpers import csv_text, package_env

ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
CONCURRENT = 12


def post(url: str, body: str, accept: str = "text/csv", attributes: str = "") -> requests.Response:
    headers = {"Content-Type": "text/csv", "Accept": accept}
    if attributes:
        headers[ATTRIBUTES] = attributes
    return requests.post(url + "/invocations", data=body, headers=headers, timeout=60)


def together(calls: list) -> list[requests.Response]:
    """Send every (function, args) at once, each on its own connection."""
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda call: call[0](*call[1]), calls))


def answers(response: requests.Response) -> list[list[float]]:
    assert response.status_code == 200, response.text
    return [[float(v) for v in line.split(",")] for line in response.text.splitlines()]


@pytest.fixture(scope="module")
def labels(trained_model, features) -> list[float]:
    return artifacts.load_estimator(trained_model).predict(features).tolist()


def test_requests_sent_together_share_calls_and_get_their_own_rows(shared_server, features, labels) -> None:
    server = shared_server("batching", {**package_env("byoc_fx_batching"), "MODEL_SERVER_WORKERS": "1"})
    assert "1 worker(s) x 16 thread(s)" in server.log
    assert "Batching: up to 256 rows a call" in server.log and "over the 1 ms threshold" in server.log
    # Requests of one to three rows, so that each request's share of a batch is told apart.
    bodies = [features[i % 8:i % 8 + 1 + i % 3] for i in range(CONCURRENT)]
    responses = together([(post, (server.url, csv_text(body))) for body in bodies])
    batches: dict[float, float] = {}
    for body, response in zip(bodies, responses):
        rows = answers(response)
        start = int(np.flatnonzero((features == body[0]).all(axis=1))[0])
        assert [row[0] for row in rows] == labels[start:start + len(body)]  # its own rows, in order
        for _, size, call in rows:
            assert batches.setdefault(call, size) == size
    # The first request's call ran alone; those that came meanwhile shared the next few.
    assert max(batches.values()) > 1
    assert sum(batches.values()) == sum(len(b) for b in bodies)  # every row predicted once


def test_a_request_the_model_fails_on_gets_the_error_and_its_batch_its_answers(shared_server, features) -> None:
    server = shared_server("batching", {**package_env("byoc_fx_batching"), "MODEL_SERVER_WORKERS": "1"})
    bad = features[:1].copy()
    bad[0, 0] = -1
    bodies = [bad if i in (4, 7) else features[i % 8:i % 8 + 1] for i in range(CONCURRENT)]
    responses = together([(post, (server.url, csv_text(body))) for body in bodies])
    for i, response in enumerate(responses):
        if i in (4, 7):
            assert response.status_code == 500
            assert response.json()["message"] == "predict_fn failed: ValueError: a negative first feature"
        else:
            assert len(answers(response)) == 1
    assert "predicting them one at a time" in server.log  # they were in a batch that failed first


def test_a_bad_body_never_enters_a_batch(shared_server, features) -> None:
    server = shared_server("batching", {**package_env("byoc_fx_batching"), "MODEL_SERVER_WORKERS": "1"})
    bodies = ["1,2,oops\n" if i == 3 else csv_text(features[:1]) for i in range(CONCURRENT)]
    responses = together([(post, (server.url, body)) for body in bodies])
    assert responses[3].status_code == 400 and "Bad CSV" in responses[3].json()["message"]
    assert all(len(answers(r)) == 1 for i, r in enumerate(responses) if i != 3)


def test_batches_keep_each_requests_output_and_accept(shared_server, features, trained_model) -> None:
    """The default model and predict_fn, batching on: probabilities and predictions never share a call,
    and each answer is what the request gets alone, in the type it asked for."""
    server = shared_server("batching-default", {"MODEL_SERVER_WORKERS": "1", "BYOC_BATCH_MAX_ROWS": "64"})
    assert "Batching: up to 64 rows a call" in server.log
    kinds = [("text/csv", ""), ("application/json", "output=probabilities"), ("application/jsonlines", ""),
             ("application/json", ""), ("text/csv", "output=probabilities")]
    calls = [(post, (server.url, csv_text(features[i % 10:i % 10 + 1]), *kinds[i % len(kinds)])) for i in range(20)]
    alone = [call[0](*call[1]) for call in calls]  # one at a time: nothing to batch with
    for round_ in range(3):
        for response, expected in zip(together(calls), alone):
            assert response.status_code == 200, response.text
            assert response.headers["Content-Type"] == expected.headers["Content-Type"]
            assert response.content == expected.content
    model = artifacts.load_estimator(trained_model)
    assert json.loads(alone[1].content)["predictions"] == model.predict_proba(features[1:2]).tolist()


def test_batching_is_off_when_asked_or_when_predict_fn_does_not_say_it_can(serve, features) -> None:
    for env, why in (({"BYOC_BATCH_MAX_ROWS": "1"}, "Batching: off (BYOC_BATCH_MAX_ROWS=1)"),
                     ({"BYOC_FX_BATCHABLE": "0"}, "Batching: off (this predict_fn is not batchable")):
        server = serve(env={**package_env("byoc_fx_batching"), "MODEL_SERVER_WORKERS": "1",
                            "BYOC_FX_CALL_SECONDS": "0.05", **env})
        assert why in server.log and "1 worker(s) x 2 thread(s)" in server.log
        responses = together([(post, (server.url, csv_text(features[:1]))) for _ in range(6)])
        assert [answers(r)[0][1] for r in responses] == [1.0] * 6  # every call predicted one request
        server.stop()


def test_ping_answers_in_time_while_every_worker_batches(serve, features) -> None:
    """SageMaker's 2 s for /ping, with both workers' 16 threads busy decoding and predicting."""
    server = serve(env={"MODEL_SERVER_WORKERS": "2", "BYOC_BATCH_MAX_ROWS": "256"})
    body = csv_text(np.repeat(features, 50, axis=0))  # 500 rows a request
    stop = threading.Event()
    statuses: list[int] = []

    def load() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                statuses.append(session.post(server.url + "/invocations", data=body, timeout=60,
                                             headers={"Content-Type": "text/csv"}).status_code)

    clients = [threading.Thread(target=load, daemon=True) for _ in range(32)]
    for client in clients:
        client.start()
    pings = []
    try:
        while len(statuses) < 20:
            time.sleep(0.05)
        for _ in range(20):
            started = time.monotonic()
            assert requests.get(server.url + "/ping", timeout=5).status_code == 200
            pings.append(time.monotonic() - started)
            time.sleep(0.1)
    finally:
        stop.set()
        for client in clients:
            client.join(60)
    assert set(statuses) == {200}
    assert max(pings) < 2.0, pings
