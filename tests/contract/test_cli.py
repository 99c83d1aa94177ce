"""The `byoc` command line on this machine, run as a user runs it: demo, sample, local train|serve|transform."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import requests

from byoc import local

from contract_helpers import package_env
from readme import bash_blocks

VENV_BIN = Path(sys.executable).parent


def byoc(*args: str, timeout: float = 120, env: dict[str, str] | None = None,
         cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "byoc.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=cwd)


def without_venv_on_path() -> dict[str, str]:
    """This environment as a fresh shell has it: the venv's bin (where `byoc` is) not on PATH."""
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and Path(p) != VENV_BIN]
    return {**os.environ, "PATH": os.pathsep.join(path or ["/usr/bin", "/bin"])}


# -- the demo and the quick start ---------------------------------------------------------------


def test_demo_trains_serves_and_prints_predictions(tmp_path: Path) -> None:
    result = byoc("demo", "--workdir", str(tmp_path / "demo"), env=without_venv_on_path(), cwd=tmp_path)
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
    # byoc is not on this PATH (as after `make demo`): the hint says how to put it there
    assert f"  source {VENV_BIN / 'activate'}    # once per shell" in out
    assert f"  byoc local serve {tmp_path / 'demo' / 'job' / 'model.tar.gz'}\n" in out


def test_demo_refuses_a_workdir_that_holds_other_things(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    result = byoc("demo", "--workdir", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr == (f"byoc: --workdir {tmp_path} holds notes.txt, which the demo would not replace: "
                             "give a new folder (or a previous demo's)\n")
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_the_local_runs_as_a_newcomer_types_them(tmp_path: Path, byoc_cli) -> None:
    """The README's "Local runs" block, line for line, in a fresh shell beside the .venv `make` made.

    Every line but `byoc local serve` runs in one shell; serve, which runs until stopped, runs
    after it (on a free port: 8080 may be taken here) and gets a request, then Ctrl-C.
    """
    block = bash_blocks("## Local runs")[0]
    lines = [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    serve_line = next(line for line in lines if line.startswith("byoc local serve "))
    assert lines[0].startswith("source .venv/bin/activate") and lines[-1] == serve_line
    (tmp_path / ".venv").symlink_to(VENV_BIN.parent)
    script = "set -e\nif command -v byoc >/dev/null; then echo 'byoc was on PATH already'; exit 9; fi\n"
    done = subprocess.run(["bash", "-c", script + "\n".join(lines[:-1])], cwd=tmp_path, env=without_venv_on_path(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Model: jobs/iris/model.tar.gz" in done.stdout
    predictions = (tmp_path / "predictions" / "payload.csv.out").read_text().splitlines()
    assert len(predictions) == 5 and set(predictions) <= {"0", "1", "2"}

    port = local.free_port()
    serve_command = serve_line.split("#", 1)[0].strip() + f" --port {port}"
    serve = byoc_cli(command=["bash", "-c", f"{lines[0].split('#', 1)[0]} && exec {serve_command}"],
                     cwd=tmp_path, env=without_venv_on_path())
    assert serve.wait_for("Serving jobs/iris/model.tar.gz", timeout=60), serve.output
    answer = requests.post(f"http://127.0.0.1:{port}/invocations", data="5.1,3.5,1.4,0.2\n",
                           headers={"Content-Type": "text/csv"}, timeout=10)
    assert answer.status_code == 200 and answer.text.strip() in {"0", "1", "2"}
    serve.interrupt()
    assert serve.wait() == 130, serve.output


# -- byoc local serve: the log live, and the end of what it started ------------------------------


@pytest.mark.parametrize("how", ["SIGTERM", "Ctrl-C"])
def test_local_serve_streams_its_log_and_ends_what_it_started(byoc_cli, trained_model: Path, how: str) -> None:
    port = local.free_port()
    run = byoc_cli("local", "serve", trained_model, "--port", port)
    assert run.wait_for(f"Serving {trained_model} at http://127.0.0.1:{port}", timeout=60), run.output
    started = run.descendants()
    assert started, "serve and its workers"
    bad = requests.post(f"http://127.0.0.1:{port}/invocations", data=b"1,2\n", headers={"Content-Type": "text/csv"})
    assert bad.status_code == 400
    # the warning is on the terminal while serve still runs, not after it stopped
    assert run.wait_for("POST /invocations -> 400", timeout=10), run.output
    assert run.process.poll() is None
    if how == "SIGTERM":
        run.terminate()
    else:
        run.interrupt()  # the terminal's Ctrl-C: SIGINT to byoc's process group
    assert run.wait() == (143 if how == "SIGTERM" else 130), run.output
    # serve got SIGTERM from byoc, as on SageMaker (not the terminal's SIGINT), drained and exited 0
    assert "Handling signal: term" in run.output and "Handling signal: int" not in run.output
    assert "byoc: serve stopped on SIGTERM with exit code 0." in run.output
    assert run.still_alive(started) == set()
    assert not local.port_in_use(port)


def test_local_serve_refuses_a_port_in_use(trained_model: Path, serve) -> None:
    server = serve()
    result = byoc("local", "serve", str(trained_model), "--port", str(server.port))
    assert result.returncode == 2
    assert result.stderr == (f"byoc: 127.0.0.1:{server.port} is in use (another `byoc local serve`?): "
                             "stop that, or pass --port\n")
    nonsense = byoc("local", "serve", str(trained_model), "--port", "70000")
    assert nonsense.returncode == 2 and "'70000' is not a port number (1-65535)" in nonsense.stderr


def test_local_serve_of_a_model_that_cannot_load_says_so_in_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "model"
    empty.mkdir()
    result = byoc("local", "serve", str(empty), "--port", str(local.free_port()))
    assert result.returncode == 1
    assert "Cannot serve" in result.stdout  # serve's own reason, from its streamed log
    assert result.stderr.endswith("byoc: serve exited with 1 before answering /ping (its log is above)\n")
    assert "Traceback" not in result.stderr


# -- byoc local train ------------------------------------------------------------------------------


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
        assert sorted(tar.getnames()) == ["metadata.json", "model.skops"]
    metadata = json.loads((job / "model" / "metadata.json").read_text())
    assert metadata["training_job"] == "cli-test"
    assert metadata["hyperparameters"] == {"n_estimators": 5, "criterion": "entropy", "max_depth": None}


def test_the_samples_of_real_data_train_as_the_readme_says(tmp_path: Path) -> None:
    """`byoc sample --iris-names` and `--bank`, trained with the commands docs/data.md gives."""
    assert byoc("sample", "--iris-names", str(tmp_path / "iris")).returncode == 0
    iris = byoc("local", "train", "--train", str(tmp_path / "iris" / "training"), "--job-dir", str(tmp_path / "j1"),
                "-H", "n_estimators=5")
    assert iris.returncode == 0, iris.stdout + iris.stderr
    assert json.loads((tmp_path / "j1" / "model" / "metadata.json").read_text())["classes"] == [
        "setosa", "versicolor", "virginica"]

    made = byoc("sample", "--bank", str(tmp_path / "bank"))
    assert made.returncode == 0, made.stderr
    assert "train: " in made.stdout and (tmp_path / "bank" / "payload.jsonl").is_file()
    bank = byoc("local", "train", "--train", str(tmp_path / "bank" / "train"),
                "--validation", str(tmp_path / "bank" / "validation"), "--job-dir", str(tmp_path / "j2"),
                "--content-type", "text/csv;header=present", "-H", "label_column=y", "-H", "n_estimators=5")
    assert bank.returncode == 0, bank.stdout + bank.stderr
    config = json.loads((tmp_path / "j2" / "input" / "config" / "inputdataconfig.json").read_text())
    assert {c["ContentType"] for c in config.values()} == {"text/csv;header=present"}
    assert "validation:auc = " in bank.stdout
    assert json.loads((tmp_path / "j2" / "model" / "metadata.json").read_text())["classes"] == ["no", "yes"]


def test_sample_kinds_are_exclusive(tmp_path: Path) -> None:
    result = byoc("sample", "--bank", "--iris-names", str(tmp_path))
    assert result.returncode == 2 and "not allowed with argument" in result.stderr


def test_sample_refuses_a_channel_folder_that_holds_another_samples_files(tmp_path: Path) -> None:
    """The README's bank block, then its iris block, into the same data/: the iris sample would sit in
    data/train beside bank-train.csv and train would read both as one channel (a header row error)."""
    data = tmp_path / "data"
    assert byoc("sample", "--bank", str(data)).returncode == 0
    before = sorted(p.relative_to(data) for p in data.rglob("*"))
    result = byoc("sample", str(data))
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith(f"byoc: {data} already holds {data / 'test' / 'bank-test.csv'}, ")
    assert "give a new folder, or remove them" in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.relative_to(data) for p in data.rglob("*")) == before   # nothing half-written
    assert [p.name for p in tmp_path.iterdir()] == ["data"]                  # no staging folder left
    # the same kind again replaces its own files
    assert byoc("sample", "--bank", str(data)).returncode == 0


def test_local_train_failure_prints_the_reason(tmp_path: Path, sample_data) -> None:
    result = byoc("local", "train", "--train", str(sample_data["train"]), "--job-dir", str(tmp_path / "job"),
                  "-H", "estimator=xgboost")
    assert result.returncode == 2
    assert "Training failed (exit 2)." in result.stderr
    assert "Failure reason: ConfigError: Unknown estimator 'xgboost'" in result.stderr


def test_local_train_again_in_a_job_folder_replaces_the_earlier_run(tmp_path: Path, sample_data) -> None:
    job = tmp_path / "job"
    failed = byoc("local", "train", "--train", str(sample_data["train"]), "--job-dir", str(job),
                  "-H", "estimator=xgboost")
    assert failed.returncode == 2 and (job / "output" / "failure").is_file()
    again = byoc("local", "train", "--train", str(sample_data["train"]), "--job-dir", str(job), "-H", "n_estimators=5")
    assert again.returncode == 0, again.stdout + again.stderr
    assert not (job / "output" / "failure").exists()  # the earlier failure is not this run's
    assert json.loads((job / "input" / "config" / "hyperparameters.json").read_text()) == {"n_estimators": "5"}


def test_local_train_will_not_write_into_a_folder_that_is_not_a_job_folder(tmp_path: Path, sample_data) -> None:
    (tmp_path / "mine.txt").write_text("mine")
    result = byoc("local", "train", "--train", str(sample_data["train"]), "--job-dir", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr == f"byoc: {tmp_path} is not empty and not a job folder: give a new folder for the job\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt"]


def test_sigterm_to_local_train_stops_train_and_leaves_no_process(byoc_cli, tmp_path: Path, sample_data) -> None:
    run = byoc_cli("local", "train", "--train", sample_data["train"], "--job-dir", tmp_path / "job",
                   "-H", "seconds=60", env={**os.environ, **package_env("byoc_fx_slowfit")})
    assert run.wait_for("SLOWFIT: fit started", timeout=60), run.output
    started = run.descendants()
    assert started
    sent = time.monotonic()
    run.terminate()
    assert run.wait(timeout=30) == 143, run.output
    assert time.monotonic() - sent < 10
    assert "Training stopped by SIGTERM before it finished; no model was written." in run.output
    assert run.still_alive(started) == set()
    assert not (tmp_path / "job" / "model.tar.gz").exists()


# -- byoc local transform ------------------------------------------------------------------------


def test_local_transform_writes_one_out_file_per_input(tmp_path: Path, trained_model: Path, sample_data) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "a.csv").write_bytes(sample_data["payload"].read_bytes())
    (inputs / "b.csv").write_text("5.1,3.5,1.4,0.2\n")
    result = byoc("local", "transform", str(trained_model), str(inputs), str(tmp_path / "out"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{inputs / 'a.csv'}: 5 records in 1 request(s) -> {tmp_path / 'out' / 'a.csv.out'}" in result.stdout
    assert len((tmp_path / "out" / "a.csv.out").read_text().splitlines()) == 5
    assert len((tmp_path / "out" / "b.csv.out").read_text().splitlines()) == 1
    assert "Model loaded" in result.stderr  # serve's log, on stderr as it came


@pytest.mark.parametrize(("make", "message"), [
    (lambda t: [t / "model", t / "missing", t / "out"],
     "byoc: input {t}/missing does not exist: give a file, or a folder of files, to transform\n"),
    (lambda t: [t / "model", t / "empty", t / "out"], "byoc: input folder {t}/empty has no files to transform\n"),
    (lambda t: [t / "nomodel", t / "in.csv", t / "out"],
     "byoc: {t}/nomodel does not exist: give a model folder or a model.tar.gz\n"),
    (lambda t: [t / "in.csv", t / "in.csv", t / "out"],
     "byoc: {t}/in.csv is not a model.tar.gz (nor a folder): give the archive `byoc local train` wrote\n"),
    (lambda t: [t / "model", t / "in.csv", t / "in.csv"],
     "byoc: output {t}/in.csv is a file: give a folder for the <file>.out results\n"),
    (lambda t: [t / "model", t / "in.csv", t / "out", "--strategy", "Batched"],
     "byoc: BatchStrategy 'Batched' is not MultiRecord or SingleRecord\n"),
    (lambda t: [t / "model", t / "in.csv", t / "out", "--max-payload-mb", "101"],
     "byoc: --max-payload-mb 101 is not between 0 and 100 (MaxPayloadInMB)\n"),
])
def test_local_transform_refuses_bad_arguments_before_starting_serve(tmp_path: Path, trained_model: Path,
                                                                     make, message: str) -> None:
    (tmp_path / "model").symlink_to(trained_model)
    (tmp_path / "empty").mkdir()
    (tmp_path / "in.csv").write_text("5.1,3.5,1.4,0.2\n")
    started = time.monotonic()
    result = byoc("local", "transform", *map(str, make(tmp_path)))
    assert result.returncode == 2
    assert result.stderr == message.format(t=tmp_path)  # one line, no traceback
    assert result.stdout == ""  # no server was started: its log would be here
    assert time.monotonic() - started < 10
    assert not (tmp_path / "out").exists()


# -- every path argument, and --image, refuse an empty value --------------------------------------


@pytest.mark.parametrize("args", [
    ["local", "serve", ""],
    ["local", "serve", "model", "--image", ""],
    ["local", "train", "--train", ""],
    ["local", "train", "--train", "data", "--validation", " "],
    ["local", "train", "--train", "data", "--job-dir", ""],
    ["local", "transform", "", "in", "out"],
    ["local", "transform", "model", "", "out"],
    ["local", "transform", "model", "in", ""],
    ["sample", ""],
    ["demo", "--workdir", ""],
    ["image", "build", "--tag", ""],
])
def test_an_empty_path_or_value_is_refused(args: list[str], tmp_path: Path) -> None:
    result = byoc(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert "an empty" in result.stderr.splitlines()[-1]
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing was written in the current folder


def test_image_build_refuses_a_platform_sagemaker_does_not_run() -> None:
    result = byoc("image", "build", env={**os.environ, "PLATFORM": "linux/s390x"})
    assert result.returncode == 2
    assert result.stderr == ("byoc: PLATFORM 'linux/s390x' is not one SageMaker runs: linux/amd64 (all training, "
                             "transform and most endpoints) or linux/arm64 (Graviton endpoints)\n")
