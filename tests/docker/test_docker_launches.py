"""The image as every launcher starts it: `process`, no argument at all (SDK v3's ModelTrainer), and
two hosts the way SDK v2 local mode's docker compose runs them."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from byoc import image as images, jobdir, processing, sample

from conftest import REPO, SESSION, SESSION_LABEL, opt_ml

pytestmark = pytest.mark.docker

FIXTURES = REPO / "tests" / "fixtures"  # test model packages (byoc_fx_slowfit), mounted read-only


def test_local_process_through_the_image_on_the_bank_table(image: str, tmp_path: Path) -> None:
    raw = sample.write_bank(tmp_path / "bank", rows=2000)["train"]
    args = ["--label-column", "y", "--seed", "1"]
    paths = processing.create(tmp_path / "job", raw, name="docker-prep", arguments=args, image=image)
    result = processing.run(paths, args, launcher=images.DockerRun(image))
    assert result.ok, result.log
    assert result.report is not None and result.report["rows"] == {"train": 933, "validation": 200, "test": 200}
    assert result.report["train_with"]["hyperparameters"] == {"label_column": "y"}
    assert "docker-prep" in result.log  # the job's name, read from processingjobconfig.json
    for name in ("train", "validation", "test"):
        assert (result.outputs[name] / f"{name}.csv").is_file()
    # the same split as a process gives
    here = processing.run(processing.create(tmp_path / "here", raw, name="here", arguments=args), args)
    assert here.ok, here.log
    assert (here.outputs["test"] / "test.csv").read_bytes() == (result.outputs["test"] / "test.csv").read_bytes()


def test_no_argument_with_a_training_jobs_config_trains(run: Callable[..., Any], sample_data: dict[str, Path],
                                                        tmp_path: Path) -> None:
    paths = jobdir.create(tmp_path / "job", jobdir.JobSpec({"train": sample_data["train"]}, {"n_estimators": 5}))
    result = run([], volumes=opt_ml(paths.base))
    assert result.code == 0, result.log
    assert ("byoc-entrypoint: found /opt/ml/input/config/resourceconfig.json, a training job's configuration: "
            "running train") in result.log
    assert (paths.model_dir / "model.skops").is_file()


def test_no_argument_with_a_processing_jobs_config_processes(run: Callable[..., Any], sample_data: dict[str, Path],
                                                             tmp_path: Path) -> None:
    paths = processing.create(tmp_path / "job", sample_data["train"], name="no-args", arguments=[])
    result = run([], volumes=opt_ml(paths.base))
    assert result.code == 0, result.log
    assert "a processing job's configuration: running process" in result.log
    assert (processing.outputs(paths)["train"] / "train.csv").is_file()
    assert "Train with ContentType text/csv." in paths.message_file.read_text()  # iris: numeric, label first


def test_options_without_a_command_in_a_processing_job_run_process(run: Callable[..., Any],
                                                                    sample_data: dict[str, Path],
                                                                    tmp_path: Path) -> None:
    """The SDK's Processor(image_uri=IMAGE).run(arguments=[...]): the arguments, no entrypoint."""
    paths = processing.create(tmp_path / "job", sample_data["train"], name="options", arguments=["--seed", "3"])
    result = run(["--seed", "3"], volumes=opt_ml(paths.base))
    assert result.code == 0, result.log
    assert "options without a command, and found" in result.log and "running process" in result.log
    assert (processing.outputs(paths)["train"] / "train.csv").is_file()


def test_options_without_a_command_or_a_job_say_to_put_the_command_first(run: Callable[..., Any]) -> None:
    result = run(["--label-column", "y"])
    assert result.code == 2
    assert "byoc-entrypoint: --label-column: options need a command before them, e.g. `process --label-column y`" \
        in result.log


def test_no_argument_and_no_job_prints_usage(run: Callable[..., Any]) -> None:
    result = run([])
    assert result.code == 2
    assert "byoc-entrypoint: no command, and no job configuration" in result.log
    assert "docker run IMAGE process" in result.log


def test_two_hosts_as_compose_runs_them_keep_the_leaders_model(engine: Any, image: str,
                                                               sample_data: dict[str, Path], tmp_path: Path) -> None:
    """SDK v2 local mode: one container per host on a user-defined network, each reachable by its
    host name, /opt/ml/model shared, and `--abort-on-container-exit`: when the first container
    exits, the others are stopped. The leader's fit sleeps 6 s; the other host must outlive it."""
    network = engine.networks.create(f"byoc-hosts-{SESSION}", driver="bridge", internal=True,  # nothing leaves
                                     labels={SESSION_LABEL: SESSION})
    model = tmp_path / "model"
    model.mkdir()
    containers: dict[str, Any] = {}
    try:
        for host in ("algo-1", "algo-2"):
            paths = jobdir.create(tmp_path / host, jobdir.JobSpec({"train": sample_data["train"]}, {"seconds": 6},
                                                                  hosts=2, current_host=host))
            containers[host] = engine.containers.create(
                image, ["train"], name=f"{host}-{SESSION}", hostname=host, network=network.name,
                networking_config={network.name: engine.api.create_endpoint_config(aliases=[host])},
                environment={"BYOC_MODEL_PACKAGE": "byoc_fx_slowfit", "PYTHONPATH": "/opt/test-fixtures",
                             "TRAINING_JOB_NAME": "two-hosts"},
                volumes={str(paths.base): {"bind": "/opt/ml", "mode": "rw"},
                         str(model): {"bind": "/opt/ml/model", "mode": "rw"},
                         str(FIXTURES): {"bind": "/opt/test-fixtures", "mode": "ro"}},
                labels={SESSION_LABEL: SESSION})
        for container in containers.values():
            container.start()
        first = abort_on_container_exit(containers, timeout=180)
        codes = {host: c.wait(timeout=60)["StatusCode"] for host, c in containers.items()}
        logs = {host: c.logs().decode(errors="replace") for host, c in containers.items()}
    finally:
        for container in containers.values():
            container.remove(force=True)
        network.remove()
    assert first == "algo-1", logs
    assert codes == {"algo-1": 0, "algo-2": 0}, logs
    assert (model / "model.joblib").is_file() and (model / "metadata.json").is_file(), logs  # slowfit: a pickle
    assert json.loads((model / "metadata.json").read_text())["training_job"] == "two-hosts"
    assert "algo-2 is not the leader (algo-1 trains" in logs["algo-2"]
    assert "Waiting for the leader algo-1 to finish" in logs["algo-2"]
    assert ("the leader algo-1 finished after" in logs["algo-2"]
            or "stopped by a signal while waiting" in logs["algo-2"]), logs["algo-2"]
    assert "SLOWFIT: fit started" in logs["algo-1"] and "SLOWFIT" not in logs["algo-2"]


def abort_on_container_exit(containers: dict[str, Any], timeout: float) -> str:
    """What compose's --abort-on-container-exit does: once one container has exited, stop the
    others (docker stop: SIGTERM, then SIGKILL after 10 s). The first to exit, by name."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for host, container in containers.items():
            container.reload()
            if container.status == "exited":
                for other in containers.values():
                    if other is not container:
                        other.stop(timeout=10)
                return host
        time.sleep(0.2)
    raise AssertionError(f"no container exited within {timeout} s")
