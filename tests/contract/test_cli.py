"""The `byoc` command line on this machine: the demo and `byoc local train`."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path


def byoc(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "byoc.cli", *args], capture_output=True, text=True, timeout=timeout)


def test_demo_trains_serves_and_prints_predictions(tmp_path: Path) -> None:
    result = byoc("demo", "--workdir", str(tmp_path / "demo"))
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "validation:accuracy = " in out
    assert "-- Accept: text/csv -> 200" in out
    csv_answer = out.split("-- Accept: text/csv -> 200\n", 1)[1].split("\n-- ", 1)[0].splitlines()
    assert len(csv_answer) == 5 and set(csv_answer) <= {"0", "1", "2"}
    json_answer = json.loads(out.split("output=probabilities -> 200\n", 1)[1].splitlines()[0])
    assert json_answer["classes"] == [0, 1, 2] and len(json_answer["predictions"]) == 5
    assert "curl -s -X POST" in out
    assert "serve stopped on SIGTERM with exit code 0." in out
    assert (tmp_path / "demo" / "job" / "model.tar.gz").is_file()


def test_local_train_on_the_sample(tmp_path: Path, sample_data) -> None:
    job = tmp_path / "job"
    result = byoc("local", "train", "--train", str(sample_data["train"]), "--validation", str(sample_data["validation"]),
                  "--job-dir", str(job), "--job-name", "cli-test",
                  "-H", "n_estimators=5", "-H", "criterion=entropy", "-H", "max_depth=null")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Model: {job / 'model.tar.gz'}" in result.stdout
    assert "validation:accuracy = " in result.stdout
    # the config files are what SageMaker writes: every hyperparameter a string
    assert json.loads((job / "input" / "config" / "hyperparameters.json").read_text()) == {
        "n_estimators": "5", "criterion": "entropy", "max_depth": "null"}
    assert json.loads((job / "input" / "config" / "resourceconfig.json").read_text())["current_host"] == "algo-1"
    with tarfile.open(job / "model.tar.gz") as tar:
        assert sorted(tar.getnames()) == ["metadata.json", "model.joblib"]
    metadata = json.loads((job / "model" / "metadata.json").read_text())
    assert metadata["training_job"] == "cli-test"
    assert metadata["hyperparameters"] == {"n_estimators": 5, "criterion": "entropy", "max_depth": None}


def test_local_train_failure_prints_the_reason(tmp_path: Path, sample_data) -> None:
    result = byoc("local", "train", "--train", str(sample_data["train"]), "--job-dir", str(tmp_path / "job"),
                  "-H", "estimator=xgboost")
    assert result.returncode == 2
    assert "Training failed (exit 2)." in result.stderr
    assert "Failure reason: ConfigError: Unknown estimator 'xgboost'" in result.stderr
