"""`serve` as a process: port, workers, a model that cannot load, SIGTERM, MODEL_SERVER_TIMEOUT."""

from __future__ import annotations

import json
import shutil
import socket
import tarfile
import threading
import time
from pathlib import Path

import pytest
import requests

from byoc import jobdir, local

from contract_helpers import package_env

ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
ROW = b"5.1,3.5,1.4,0.2"


def children(pid: int) -> set[int]:
    """Processes whose parent is pid (gunicorn's workers)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.add(int(entry.name))
    return found


def wait_for(predicate, timeout: float, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def ping(url: str) -> int | None:
    try:
        return requests.get(url + "/ping", timeout=2).status_code
    except requests.RequestException:
        return None


def accepts(url: str) -> bool:
    """Whether a TCP connection to the server is accepted (not refused)."""
    host, port = url.rsplit("//", 1)[1].split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True
    except OSError:
        return False


def test_listens_on_sagemaker_bind_to_port(trained_model, tmp_path) -> None:
    port = local.free_port()
    base = tmp_path / "bind"
    shutil.copytree(trained_model, base / "model")
    server = local.Server(base, port=port)
    assert server.env["SAGEMAKER_BIND_TO_PORT"] == str(port)
    with server:
        assert requests.get(f"http://127.0.0.1:{port}/ping", timeout=2).status_code == 200
        assert f"Serving on 127.0.0.1:{port}" in server.log
        assert f"Listening at: http://127.0.0.1:{port}" in server.log


def test_workers_from_model_server_workers_and_an_allowed_version_skew(serve, trained_model, tmp_path) -> None:
    skewed = tmp_path / "skewed"
    shutil.copytree(trained_model, skewed)
    metadata = json.loads((skewed / "metadata.json").read_text())
    metadata["versions"]["scikit-learn"] = "0.24.2"
    (skewed / "metadata.json").write_text(json.dumps(metadata))
    server = serve(env={"MODEL_SERVER_WORKERS": "3", "SAGEMAKER_MODEL_SERVER_WORKERS": "1",
                        "BYOC_ALLOW_VERSION_SKEW": "1"}, model_dir=skewed)
    assert wait_for(lambda: len(children(server.process.pid)) == 3, timeout=15), children(server.process.pid)
    assert "with 3 worker(s)" in server.log
    assert "trained with scikit-learn 0.24.2" in server.log and "serving it anyway" in server.log
    assert "scikit-learn 0.24.2 trained this model" in server.log
    # the prefixed spelling alone works too
    other = serve(env={"SAGEMAKER_MODEL_SERVER_WORKERS": "2"})
    assert wait_for(lambda: len(children(other.process.pid)) == 2, timeout=15)


def test_sagemaker_batch_waits_as_long_as_batch_transform_does(serve) -> None:
    # A batch transform's requests may take InvocationsTimeoutInSeconds (600 s by default).
    server = serve(env={"SAGEMAKER_BATCH": "True", "MODEL_SERVER_WORKERS": "1"})
    assert "timeout 600 s, payload limit 6 MB; batch transform (SAGEMAKER_BATCH)." in server.log
    explicit = serve(env={"SAGEMAKER_BATCH": "true", "MODEL_SERVER_TIMEOUT": "90", "MODEL_SERVER_WORKERS": "1"})
    assert "timeout 90 s, payload limit 6 MB; batch transform (SAGEMAKER_BATCH)." in explicit.log


def exits_without_ever_pinging_green(server: local.Server, timeout: float = 60) -> int:
    """Poll /ping until the process exits; fail if /ping ever answered 200."""
    deadline = time.monotonic() + timeout
    while server.process.poll() is None and time.monotonic() < deadline:
        assert ping(server.url) != 200, server.log
        time.sleep(0.05)
    assert server.process.poll() is not None, "serve did not exit"
    server.stop()
    return server.process.returncode


def test_no_model_exits_non_zero_with_the_reason(serve, tmp_path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "README.txt").write_text("no model here")
    server = serve(model_dir=empty, wait=False)
    assert exits_without_ever_pinging_green(server) != 0
    assert "Cannot serve" in server.log and "No model file" in server.log and "README.txt" in server.log


def test_a_nested_folder_archive_gets_the_tar_hint(serve, trained_model, tmp_path) -> None:
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:  # the classic mistake: tar czf model.tar.gz model/
        tar.add(trained_model, arcname="model")
    extracted = jobdir.unpack(archive, tmp_path / "extracted")  # as SageMaker extracts it
    assert (extracted / "model" / "model.skops").is_file()
    server = serve(model_dir=extracted, wait=False)
    assert exits_without_ever_pinging_green(server) != 0
    assert "Found model/model.skops: the archive has a top-level folder" in server.log
    assert "tar -C MODEL_DIR -czf model.tar.gz ." in server.log


def test_a_corrupt_model_exits_non_zero(serve, tmp_path) -> None:
    broken = tmp_path / "broken"  # a pickle from elsewhere, no metadata.json: nothing to check it against
    broken.mkdir()
    (broken / "model.joblib").write_bytes(b"truncated")
    server = serve(model_dir=broken, wait=False)
    assert exits_without_ever_pinging_green(server) != 0
    assert "model.joblib" in server.log and "cannot be loaded" in server.log


def test_a_model_file_changed_after_training_is_refused_before_it_is_loaded(serve, trained_model, tmp_path) -> None:
    changed = tmp_path / "changed"
    shutil.copytree(trained_model, changed)
    data = bytearray((changed / "model.skops").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (changed / "model.skops").write_bytes(bytes(data))
    server = serve(model_dir=changed, wait=False)
    assert exits_without_ever_pinging_green(server) == 1
    assert "Cannot serve: model.skops in" in server.log and "is not the file training wrote" in server.log
    assert "SHA-256" in server.log and "Traceback" not in server.log


def test_a_model_trained_with_another_minor_version_is_refused(serve, trained_model, tmp_path) -> None:
    skewed = tmp_path / "minor"
    shutil.copytree(trained_model, skewed)
    metadata = json.loads((skewed / "metadata.json").read_text())
    installed = metadata["versions"]["numpy"]
    major, minor = installed.split(".")[:2]
    metadata["versions"]["numpy"] = f"{major}.{int(minor) + 1}.0"
    (skewed / "metadata.json").write_text(json.dumps(metadata))
    server = serve(model_dir=skewed, wait=False)
    assert exits_without_ever_pinging_green(server) == 1
    assert f"trained with numpy {major}.{int(minor) + 1}.0 (this image has {installed})" in server.log
    assert f"numpy=={major}.{int(minor) + 1}.0" in server.log and "BYOC_ALLOW_VERSION_SKEW=1" in server.log


@pytest.mark.parametrize(("env", "text"), [
    ({"MODEL_SERVER_WORKERS": "lots"}, "MODEL_SERVER_WORKERS='lots' is not a whole number"),
    ({"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/html"}, "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT='text/html'"),
    # a typo in the package name must not silently serve with the default hooks
    (package_env("byoc_fx_no_such_package"), "BYOC_MODEL_PACKAGE='byoc_fx_no_such_package', but no such package"),
])
def test_bad_settings_exit_non_zero_with_the_reason(serve, env, text) -> None:
    server = serve(env=env, wait=False)
    assert exits_without_ever_pinging_green(server) != 0
    assert "Cannot serve" in server.log and text in server.log


def slow_request(url: str, seconds: float, results: list) -> threading.Thread:
    def run() -> None:
        try:
            response = requests.post(url + "/invocations", data=ROW, timeout=30, headers={
                "Content-Type": "text/csv", "Accept": "application/json", ATTRIBUTES: f"sleep={seconds}"})
            results.append(response)
        except requests.RequestException as exc:
            results.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_sigterm_finishes_the_request_in_flight_then_exits_0(serve) -> None:
    server = serve(env={**package_env("byoc_fx_behave"), "MODEL_SERVER_WORKERS": "1"})
    results: list = []
    thread = slow_request(server.url, 3.0, results)
    assert wait_for(lambda: "BEHAVE:" in server.log, timeout=10), server.log
    assert accepts(server.url)
    sent = time.monotonic()
    server.process.terminate()
    # it stops accepting new connections while the request runs
    assert wait_for(lambda: not accepts(server.url), timeout=1.5, interval=0.1)
    assert not results  # the slow request is still running
    thread.join(15)
    assert len(results) == 1 and isinstance(results[0], requests.Response), results
    assert results[0].status_code == 200 and len(results[0].json()["predictions"]) == 1
    assert server.process.wait(timeout=30) == 0
    assert time.monotonic() - sent < 10
    assert not thread.is_alive()


def test_sigterm_when_idle_exits_0_promptly(serve) -> None:
    server = serve(env={"MODEL_SERVER_WORKERS": "2"})
    with requests.Session() as session:  # an idle keep-alive connection must not hold it up
        assert session.get(server.url + "/ping", timeout=2).status_code == 200
        sent = time.monotonic()
        server.process.terminate()
        assert server.process.wait(timeout=30) == 0
    assert time.monotonic() - sent < 10  # an idle kept-alive connection lingers 2 s, not 75


def test_model_server_timeout_restarts_the_stuck_worker_and_keeps_serving(serve) -> None:
    server = serve(env={**package_env("byoc_fx_behave"), "MODEL_SERVER_WORKERS": "1", "MODEL_SERVER_TIMEOUT": "2"})
    [worker] = wait_for(lambda: children(server.process.pid), timeout=10)
    results: list = []
    started = time.monotonic()
    thread = slow_request(server.url, 20.0, results)
    thread.join(15)
    assert not thread.is_alive(), "the slow request was not cut off"
    assert time.monotonic() - started < 10
    assert len(results) == 1
    assert not (isinstance(results[0], requests.Response) and results[0].status_code == 200)
    assert wait_for(lambda: ping(server.url) == 200, timeout=15), server.log
    assert worker not in children(server.process.pid)
    assert "MODEL_SERVER_TIMEOUT" in server.log
    response = requests.post(server.url + "/invocations", data=ROW, timeout=10,
                             headers={"Content-Type": "text/csv", "Accept": "application/json"})
    assert response.status_code == 200
    assert server.process.poll() is None  # the master itself never went down


def test_connect_within_250_ms_while_a_worker_is_busy(serve) -> None:
    # SageMaker wants the socket accepted within 250 ms, whatever the model is doing.
    server = serve(env={**package_env("byoc_fx_behave"), "MODEL_SERVER_WORKERS": "1"})
    results: list = []
    thread = slow_request(server.url, 1.0, results)
    assert wait_for(lambda: "BEHAVE:" in server.log, timeout=10)
    host, port = server.url.rsplit("//", 1)[1].split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=0.25):
        assert time.monotonic() - started < 0.25
    thread.join(10)
    assert results and results[0].status_code == 200


def ping_while_busy(server: local.Server) -> float | None:
    """Seconds /ping took while the worker answers a 3 s request; None if it missed SageMaker's 2 s."""
    results: list = []
    thread = slow_request(server.url, 3.0, results)
    assert wait_for(lambda: "BEHAVE:" in server.log, timeout=10)
    started = time.monotonic()
    try:
        status = requests.get(server.url + "/ping", timeout=2).status_code
    except requests.RequestException:
        status = None
    took = time.monotonic() - started
    thread.join(10)
    assert results and results[0].status_code == 200
    return took if status == 200 else None


def test_ping_answers_while_every_worker_is_busy_by_default(serve) -> None:
    server = serve(env={**package_env("byoc_fx_behave"), "MODEL_SERVER_WORKERS": "1"})
    assert "1 worker(s) x 2 thread(s), 1 prediction(s) at a time" in server.log
    took = ping_while_busy(server)
    assert took is not None and took < 0.5


def test_ping_answers_while_the_only_thread_predicts(serve) -> None:
    # /ping is answered on the worker's event loop (container.worker), not by a pool thread:
    # with one thread busy predicting, it still answers at once.
    server = serve(env={**package_env("byoc_fx_behave"), "MODEL_SERVER_WORKERS": "1", "BYOC_WORKER_THREADS": "1"})
    took = ping_while_busy(server)
    assert took is not None and took < 0.5


@pytest.mark.parametrize(("predictions", "overlapped"), [("1", False), ("2", True)])
def test_a_worker_runs_one_prediction_at_a_time_unless_told(serve, predictions, overlapped) -> None:
    server = serve(env={**package_env("byoc_fx_behave"), "MODEL_SERVER_WORKERS": "1",
                        "BYOC_PREDICTIONS_PER_WORKER": predictions})
    results: list = []
    first = slow_request(server.url, 1.5, results)
    assert wait_for(lambda: server.log.count("BEHAVE:") == 1, timeout=10)
    second = slow_request(server.url, 1.5, results)
    # The second request has its thread; whether its prediction starts is the setting's call.
    assert wait_for(lambda: server.log.count("BEHAVE:") == 2, timeout=1.0) is overlapped
    first.join(10)
    second.join(10)
    assert [r.status_code for r in results] == [200, 200]
    assert server.log.count("BEHAVE:") == 2
