"""`byoc local tune` run as a user runs it: real training jobs on the iris sample, real results.

Three searches of 8 trials, 2 at a time (bayesian, random, grid with failing trials), each read
back from what it left: the job folders (hyperparameters.json as SageMaker writes it for a
tuning job), the logs (whose last objective line must be the recorded value), results.csv,
objective.png, and the best model.tar.gz, which `byoc local serve` then serves.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable

import pytest
import requests

from byoc import local
from contract_helpers import package_env

OBJECTIVE = "validation:accuracy"
LAST_VALUE = re.compile(r"validation:accuracy=([-+0-9.eE]+);")
TRIALS, PARALLEL = 8, 2
# n_estimators stays tiny: the suite's time is in process starts, not in fitting
SEARCH = {
    "bayesian": ["--range", "max_depth=int:1:4", "--range", "min_samples_leaf=float:0.01:0.3:log",
                 "--range", "criterion=choice:gini,entropy", "-H", "n_estimators=3"],
    "random": ["--range", "max_depth=int:1:4", "--range", "min_samples_leaf=float:0.01:0.3:log",
               "--range", "criterion=choice:gini,entropy", "-H", "n_estimators=3"],
    # max_depth=-1 is refused by scikit-learn: two of the eight trials fail, the search goes on
    "grid": ["--range", "criterion=choice:gini,entropy", "--range", "max_depth=choice:1,3,null,-1",
             "-H", "n_estimators=3"],
}


@dataclass
class Search:
    root: Path
    code: int
    out: str
    err: str

    @property
    def rows(self) -> list[dict[str, str]]:
        with (self.root / "results.csv").open() as f:
            return list(csv.DictReader(f))

    def hyperparameters(self, trial: str) -> dict[str, str]:
        return json.loads((self.root / trial / "input" / "config" / "hyperparameters.json").read_text())

    def log(self, trial: str) -> str:
        return (self.root / "logs" / f"{trial}.log").read_text()


def byoc_local_tune(root: Path, channels: dict[str, Path], *args: str, env: dict[str, str] | None = None,
                    timeout: float = 600) -> Search:
    argv = [sys.executable, "-m", "byoc.cli", "local", "tune", "--job-dir", str(root), "--objective", OBJECTIVE]
    for name, path in channels.items():
        argv += ["--channel", f"{name}={path}"]
    done = subprocess.run(argv + list(args), capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    return Search(root, done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="module")
def search(tmp_path_factory: pytest.TempPathFactory, sample_data: dict[str, Path]) -> Callable[[str], Search]:
    """search(strategy): that strategy's run, made once for the module."""
    made: dict[str, Search] = {}
    channels = {"train": sample_data["train"], "validation": sample_data["validation"]}

    def get(strategy: str) -> Search:
        if strategy not in made:
            root = tmp_path_factory.mktemp(f"tune-{strategy}") / "tuning"
            extra = [] if strategy == "grid" else ["--max-jobs", str(TRIALS), "--random-seed", "7"]
            made[strategy] = byoc_local_tune(root, channels, "--strategy", strategy, "--max-parallel", str(PARALLEL),
                                             *extra, *SEARCH[strategy])
        return made[strategy]

    return get


def most_at_once(rows: list[dict[str, str]]) -> int:
    events = sorted([(datetime.fromisoformat(r["TrainingStartTime"]), 1) for r in rows]
                    + [(datetime.fromisoformat(r["TrainingEndTime"]), -1) for r in rows])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


@pytest.mark.parametrize("strategy", ["bayesian", "random", "grid"])
def test_a_search_of_real_training_jobs(search: Callable[[str], Search], strategy: str) -> None:
    run = search(strategy)
    assert run.code == 0, run.err
    rows = run.rows
    assert len(rows) == TRIALS
    assert list(rows[0])[-7:] == ["TrainingJobName", "TrainingJobStatus", "FinalObjectiveValue", "TrainingStartTime",
                                  "TrainingEndTime", "TrainingElapsedTimeSeconds", "FailureReason"]
    assert most_at_once(rows) == PARALLEL  # two at a time, never more
    for row in rows:
        name = row["TrainingJobName"]
        assert re.fullmatch(r"[a-zA-Z0-9-]+-\d{3}-[0-9a-f]{8}", name)  # <tuning job>-NNN-<8 hex>, as SageMaker
        # what SageMaker writes for a tuning job: strings only, the objective's name included
        hyperparameters = run.hyperparameters(name)
        assert all(isinstance(v, str) for v in hyperparameters.values())
        assert hyperparameters["_tuning_objective_metric"] == OBJECTIVE
        assert hyperparameters["n_estimators"] == "3"
        tuned = {k: row[k] for k in ("criterion", "max_depth", "min_samples_leaf") if k in row}
        assert {k: hyperparameters[k] for k in tuned} == tuned
        if row["TrainingJobStatus"] == "Completed":
            # the recorded objective is the last value the job printed, read as the service reads it
            values = LAST_VALUE.findall(run.log(name))
            assert values and float(row["FinalObjectiveValue"]) == float(values[-1])
            assert (run.root / name / "model.tar.gz").is_file()
    assert (run.root / "objective.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the best model is printed last, and it is the best Completed trial's
    completed = [r for r in rows if r["TrainingJobStatus"] == "Completed"]
    best = max(float(r["FinalObjectiveValue"]) for r in completed)
    model = Path(run.out.strip().splitlines()[-1])
    assert model.name == "model.tar.gz" and model.parent.parent == run.root
    assert float(next(r for r in rows if r["TrainingJobName"] == model.parent.name)["FinalObjectiveValue"]) == best
    with tarfile.open(model) as archive:
        assert "model.skops" in archive.getnames()
    assert f"byoc local serve {model}" in run.err
    assert OBJECTIVE in run.out.splitlines()[0]  # the table's header


@pytest.mark.parametrize("strategy", ["bayesian", "random"])
def test_values_stay_in_their_ranges(search: Callable[[str], Search], strategy: str) -> None:
    rows = search(strategy).rows
    for row in rows:
        assert row["max_depth"] in {"1", "2", "3", "4"}  # ints, written as ints
        assert 0.01 <= float(row["min_samples_leaf"]) <= 0.3
        assert row["criterion"] in {"gini", "entropy"}
    assert len({(r["max_depth"], r["min_samples_leaf"]) for r in rows}) > 1


def test_grid_runs_every_combination_and_failed_trials_do_not_stop_it(search: Callable[[str], Search]) -> None:
    run = search("grid")
    rows = run.rows
    combos = {(r["criterion"], r["max_depth"]) for r in rows}
    assert combos == {(c, d) for c in ("gini", "entropy") for d in ("1", "3", "null", "-1")}
    failed = [r for r in rows if r["TrainingJobStatus"] == "Failed"]
    assert sorted(r["max_depth"] for r in failed) == ["-1", "-1"]
    for row in failed:
        assert "max_depth" in row["FailureReason"] and row["FinalObjectiveValue"] == ""
        assert f"{row['TrainingJobName']} Failed in" in run.err
    assert sum(r["TrainingJobStatus"] == "Completed" for r in rows) == 6
    # the failed trials were neither first nor last in the grid's order: later trials still ran
    numbers = sorted(int(r["TrainingJobName"].rsplit("-", 2)[1]) for r in failed)
    assert numbers == [4, 8] and max(int(r["TrainingJobName"].rsplit("-", 2)[1]) for r in rows) == 8


def test_only_the_last_objective_line_counts(tmp_path: Path, sample_data: dict[str, Path]) -> None:
    # byoc_fx_noisy prints validation:accuracy=0.001; during fit, before the runtime's own line
    run = byoc_local_tune(tmp_path / "tuning", {"train": sample_data["train"], "validation": sample_data["validation"]},
                          "--strategy", "random", "--max-jobs", "2", "--range", "max_depth=int:2:4",
                          env=package_env("byoc_fx_noisy"))
    assert run.code == 0, run.err
    for row in run.rows:
        log = run.log(row["TrainingJobName"])
        values = LAST_VALUE.findall(log)
        assert values[0] == "0.001" and len(values) == 2  # the early line, then the runtime's
        assert float(row["FinalObjectiveValue"]) == float(values[-1]) > 0.5


def test_ctrl_c_stops_the_running_trials_and_keeps_the_results(tmp_path: Path, sample_data: dict[str, Path],
                                                               byoc_cli) -> None:
    root = tmp_path / "tuning"
    run = byoc_cli("local", "tune", "--job-dir", root, "--channel", f"train={sample_data['train']}",
                   "--objective", OBJECTIVE, "--strategy", "random", "--max-jobs", "4", "--max-parallel", "2",
                   "--range", "seconds=float:60:120", env={**os.environ, **package_env("byoc_fx_slowfit")})
    assert run.wait_for("[2/4]", timeout=60), run.output
    logs = root / "logs"
    deadline = time.monotonic() + 60
    while sum("SLOWFIT: fit started" in p.read_text() for p in logs.glob("*.log")) < 2:  # both are fitting
        assert time.monotonic() < deadline, run.output
        time.sleep(0.1)
    pids = run.descendants()
    assert len(pids) >= 2  # two training jobs running
    run.interrupt()
    assert run.wait(60) == 130, run.output
    assert run.still_alive(pids) == set()
    rows = list(csv.DictReader((root / "results.csv").open()))
    assert [r["TrainingJobStatus"] for r in rows] == ["Stopped", "Stopped"]
    assert all(r["TrainingEndTime"] for r in rows)


def test_best_model_is_served_by_local_serve(search: Callable[[str], Search], byoc_cli, sample_data) -> None:
    model = Path(search("bayesian").out.strip().splitlines()[-1])
    port = local.free_port()
    serve = byoc_cli("local", "serve", model, "--port", port)
    assert serve.wait_for(f"Serving {model} at http://127.0.0.1:{port}", timeout=120), serve.output
    payload = sample_data["payload"].read_text().splitlines()[:5]
    response = requests.post(f"http://127.0.0.1:{port}/invocations", data="\n".join(payload),
                             headers={"Content-Type": "text/csv"}, timeout=30)
    assert response.status_code == 200, response.text
    assert [float(v) for v in response.text.split()] and set(response.text.split()) <= {"0", "1", "2"}
    pids = serve.descendants()
    serve.interrupt()
    assert serve.wait(60) in (0, 130)
    assert serve.still_alive(pids) == set()


@pytest.mark.parametrize("args, says", [
    (["--strategy", "hyperband", "--range", "max_depth=int:1:4"], "the hyperband strategy is not run here"),
    (["--range", "max_depth=int:1:4", "--objective", "validation:nope"], "is not a metric the runtime prints"),
    (["--range", "max_depth=int:1:4", "--channel", "validation=s3://bucket/v/"], "is on S3"),
    (["--range", "max_depth=int:1:4", "--strategy", "grid"], "the grid strategy takes choice ranges only"),
    (["--range", "max_depth=int:1:4", "--max-parallel", "0"], "--max-parallel is 0"),
    (["--range", "max_depth=int:1:4", "--job-name", "bad_name"], "tuning job name 'bad_name' is not valid"),
])
def test_refused_before_anything_runs(tmp_path: Path, sample_data: dict[str, Path], args: list[str],
                                      says: str) -> None:
    root = tmp_path / "tuning"
    run = byoc_local_tune(root, {"train": sample_data["train"]}, *args, timeout=60)
    assert run.code == 2, run.err
    assert says in run.err and "Traceback" not in run.err
    assert not root.exists()


def test_a_used_folder_is_refused(tmp_path: Path, sample_data: dict[str, Path]) -> None:
    root = tmp_path / "tuning"
    root.mkdir()
    (root / "results.csv").write_text("an earlier run\n")
    run = byoc_local_tune(root, {"train": sample_data["train"]}, "--range", "max_depth=int:1:4", timeout=60)
    assert run.code == 2 and "is not empty: give a new folder" in run.err
    assert sorted(p.name for p in root.iterdir()) == ["results.csv"]
