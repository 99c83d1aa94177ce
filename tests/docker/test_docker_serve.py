"""`docker run --network host IMAGE serve`, as an endpoint runs the image (on 127.0.0.1 only)."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

pytestmark = pytest.mark.docker

PACKAGES = Path(__file__).resolve().parent / "packages"


def post(url: str, body: bytes, content_type: str, accept: str | None = None,
         timeout: float = 30) -> tuple[int, str, bytes]:
    headers = {"Content-Type": content_type, **({"Accept": accept} if accept else {})}
    request = urllib.request.Request(url + "/invocations", data=body, method="POST", headers=headers)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, response.headers["Content-Type"], response.read()


def bodies(rows: np.ndarray) -> dict[str, bytes]:
    npy = io.BytesIO()
    np.save(npy, rows, allow_pickle=False)
    return {
        "text/csv": "".join(",".join(f"{v:g}" for v in row) + "\n" for row in rows).encode(),
        "application/json": json.dumps(rows.tolist()).encode(),
        "application/jsonlines": "".join(json.dumps(row) + "\n" for row in rows.tolist()).encode(),
        "application/x-npy": npy.getvalue(),
    }


def decode(body: bytes, content_type: str) -> list[float]:
    kind = content_type.split(";")[0].strip()
    if kind == "text/csv":
        return [float(line) for line in body.decode().splitlines()]
    if kind == "application/json":
        return [float(v) for v in json.loads(body)["predictions"]]
    if kind == "application/jsonlines":
        return [float(json.loads(line)) for line in body.decode().splitlines()]
    if kind == "application/x-npy":
        return np.load(io.BytesIO(body), allow_pickle=False).astype(float).tolist()
    raise AssertionError(f"unexpected response type {content_type}")


def test_ping_and_invocations_for_each_content_type(serve: Callable[..., Any],
                                                    sample_data: dict[str, Path]) -> None:
    served = serve()
    with urllib.request.urlopen(served.url + "/ping", timeout=2) as response:
        assert response.status == 200
    rows = np.loadtxt(sample_data["payload"], delimiter=",", ndmin=2)
    answers = {}
    for content_type, body in bodies(rows).items():
        status, returned, payload = post(served.url, body, content_type, accept=content_type)
        assert status == 200, payload
        assert returned.split(";")[0] == content_type
        answers[content_type] = decode(payload, returned)
    reference = answers["text/csv"]
    assert len(reference) == len(rows)
    assert all(answer == reference for answer in answers.values()), answers


def test_honours_sagemaker_bind_to_port(serve: Callable[..., Any]) -> None:
    with socket.socket() as sock:  # a port of this machine's choosing, never the default 8080
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    served = serve(port=port)  # SAGEMAKER_BIND_TO_PORT=port; ready means /ping answered there
    assert served.port == port != 8080
    assert f"Listening at: http://127.0.0.1:{port}" in served.log()


def test_docker_stop_finishes_the_request_in_flight_and_exits_0(
        serve: Callable[..., Any], sample_data: dict[str, Path]) -> None:
    served = serve(env={"BYOC_MODEL_PACKAGE": "slowmodel", "PYTHONPATH": "/opt/test-packages",
                        "SLOW_SECONDS": "3"},
                   volumes={str(PACKAGES): {"bind": "/opt/test-packages", "mode": "ro"}})
    answer: dict[str, Any] = {}

    def request() -> None:
        try:
            answer["response"] = post(served.url, sample_data["payload"].read_bytes(), "text/csv", "text/csv")
        except Exception as exc:  # reported by the assertion below
            answer["error"] = exc

    client = threading.Thread(target=request)
    client.start()
    deadline = time.monotonic() + 20
    while "slowmodel: prediction started" not in served.log():
        assert time.monotonic() < deadline, served.log()
        time.sleep(0.05)
    started = time.monotonic()
    served.container.stop(timeout=30)  # docker stop: SIGTERM, SIGKILL after 30 s as on endpoints
    stopped_after = time.monotonic() - started
    client.join(10)
    served.container.reload()
    assert "error" not in answer, f"{answer['error']!r}\n{served.log()}"
    status, _, body = answer["response"]
    assert status == 200 and len(body.decode().splitlines()) == 5
    assert served.container.attrs["State"]["ExitCode"] == 0, served.log()
    assert stopped_after < 25, f"took {stopped_after:.1f} s to stop:\n{served.log()}"


def test_serve_without_a_model_exits_non_zero_with_the_reason(run: Callable[..., Any], tmp_path: Path) -> None:
    empty = tmp_path / "model"
    empty.mkdir()
    result = run(["serve"], env={"SAGEMAKER_BIND_TO_PORT": "1", "BYOC_BIND_HOST": "127.0.0.1"},
                 volumes={str(empty): {"bind": "/opt/ml/model", "mode": "ro"}}, timeout=60)
    assert result.code != 0, result.log
    assert "Cannot serve" in result.log
