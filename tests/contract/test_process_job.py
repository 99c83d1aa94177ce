"""`process` as a real process on a job folder laid out as SageMaker lays out /opt/ml for a
processing job: its outputs, its report, its message file, and its stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from byoc import local, processing as jobs, sample
from container.paths import Paths


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bank-like raw table, 3000 rows in one folder (a header, text columns, empty fields)."""
    written = sample.write_bank(tmp_path_factory.mktemp("bank"), rows=3000)
    return written["train"]


def run(paths: Paths, *args: str) -> jobs.ProcessingResult:
    return jobs.run(paths, list(args))


def test_process_splits_the_bank_table_and_reports_it(tmp_path: Path, bank: Path) -> None:
    args = ["--label-column", "y", "--seed", "5"]
    paths = jobs.create(tmp_path / "job", bank, name="prep-bank", arguments=args)
    result = run(paths, *args)
    assert result.ok, result.log
    report = result.report
    assert report is not None and report["job"] == "prep-bank"
    assert report["rows"] == {"train": 1400, "validation": 300, "test": 300}
    assert report["label"] == {"column": "y", "kind": "text", "task": "classification", "why": "the labels are text"}
    balance = report["class_balance"]
    shares = [counts["yes"] / sum(counts.values()) for counts in balance.values()]
    assert max(shares) - min(shares) < 0.01  # stratified
    assert report["train_with"] == {"content_type": "text/csv;header=present", "hyperparameters": {"label_column": "y"}}
    kinds = {c["column"]: c["kind"] for c in report["columns"]}
    assert kinds["job"] == "categorical" and kinds["age"] == "numeric"
    assert sum(c["missing"]["all"] for c in report["columns"]) > 0
    for name in ("train", "validation", "test"):
        files = sorted(p.name for p in result.outputs[name].iterdir())
        assert files == [f"{name}.csv"]
        lines = (result.outputs[name] / f"{name}.csv").read_text().splitlines()
        assert lines[0].split(",")[-1] == "y" and len(lines) == report["rows"][name] + 1
    assert result.message.startswith("Split 2000 rows into train 1400, validation 300, test 300")
    # Nothing but the outputs: no staging folder left beside or inside them.
    assert sorted(p.name for p in (paths.base / "processing" / "output").iterdir()) == [
        "report", "test", "train", "validation"]

    again = run(jobs.create(tmp_path / "again", bank, name="again", arguments=args), *args)
    for name in ("train", "validation", "test"):  # the same seed and input: the same split
        assert (again.outputs[name] / f"{name}.csv").read_bytes() == (result.outputs[name] / f"{name}.csv").read_bytes()


def test_train_reads_what_process_wrote(tmp_path: Path, bank: Path) -> None:
    from byoc import jobdir

    paths = jobs.create(tmp_path / "job", bank, name="prep", arguments=["--label-column", "y"])
    result = run(paths, "--label-column", "y")
    assert result.ok, result.log
    advice = result.report["train_with"]
    training = jobdir.create(tmp_path / "train", jobdir.JobSpec(
        {n: result.outputs[n] for n in ("train", "validation", "test")},
        {**advice["hyperparameters"], "n_estimators": 10}, content_type=advice["content_type"]))
    trained = local.run_train(training)
    assert trained.ok, trained.log
    assert 0.5 < trained.metrics["validation:auc"] <= 1.0


@pytest.mark.parametrize("args, data, code, words", [
    (["--label-column", "nope"], "a,b\n1,2\n3,4\n", 2, "label_column='nope' is not a column"),
    (["--label-column", "a"], "a,b\n1,2\n3\n4,5,6\n", 3, "line 3"),
    (["--test-fraction", "2"], "a,b\n1,2\n", 2, "not a fraction"),
], ids=["unknown label", "ragged rows", "bad option"])
def test_bad_input_writes_the_message_file_and_exits_non_zero(tmp_path: Path, args: list[str], data: str,
                                                              code: int, words: str) -> None:
    raw = tmp_path / "raw.csv"
    raw.write_text(data)
    paths = jobs.create(tmp_path / "job", raw, name="bad", arguments=args)
    result = run(paths, *args)
    assert result.returncode == code, result.log
    message = paths.message_file.read_bytes()
    assert 0 < len(message) <= 1024 and words in message.decode("utf-8"), message
    assert "Traceback" not in message.decode()
    assert paths.failure_file.read_bytes() == message
    for folder in result.outputs.values():
        assert list(folder.iterdir()) == []


def test_sigterm_mid_run_leaves_no_output(tmp_path: Path, bank: Path) -> None:
    """`process` blocked reading its input (a FIFO nobody finishes writing) is stopped."""
    raw = tmp_path / "raw"
    raw.mkdir()
    paths = jobs.create(tmp_path / "job", raw, name="stopped", arguments=["--label-column", "y"])
    os.mkfifo(paths.processing_input_dir / "raw" / "part.csv")
    env = local.python_env(paths.base)
    child = subprocess.Popen([sys.executable, "-m", "container.processing", "--label-column", "y"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    writer = os.open(paths.processing_input_dir / "raw" / "part.csv", os.O_WRONLY)  # blocks until it reads
    try:
        os.write(writer, (bank / "bank-train.csv").read_bytes()[:20000])
        time.sleep(0.5)
        child.send_signal(signal.SIGTERM)
        out, _ = child.communicate(timeout=60)
    finally:
        os.close(writer)
    assert child.returncode == 143, out
    assert "Processing stopped by SIGTERM before it finished; no output was written." in out
    assert "no output was written" in paths.message_file.read_text()
    for name, folder in jobs.outputs(paths).items():
        assert list(folder.iterdir()) == [], name
    leftovers = [p for p in (paths.base / "processing" / "output").iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_a_second_host_waits_for_the_leader_and_writes_nothing(tmp_path: Path, bank: Path) -> None:
    port = str(local.free_port())
    made = {}
    for host in ("127.0.0.1", "localhost"):  # sorted: 127.0.0.1 leads
        paths = jobs.create(tmp_path / host, bank, name="two", arguments=["--label-column", "y"])
        paths.processing_resourceconfig_file.write_text(json.dumps({"current_host": host,
                                                                    "hosts": ["127.0.0.1", "localhost"]}))
        made[host] = paths
    env = {"BYOC_LEADER_PORT": port}
    other = local.Child(local.PYTHON.process(made["localhost"].base, env, ["--label-column", "y"])).start()
    time.sleep(1)
    lead = local.Child(local.PYTHON.process(made["127.0.0.1"].base, env, ["--label-column", "y"])).start()
    try:
        assert lead.wait() == 0, lead.log
        ended = time.monotonic()
        assert other.wait() == 0, other.log
        assert time.monotonic() - ended < 10
    finally:
        lead.stop(5)
        other.stop(5)
    assert "localhost is not the leader (127.0.0.1 prepares the data)" in other.log
    assert "the leader 127.0.0.1 finished after" in other.log
    assert all(not list(folder.iterdir()) for folder in jobs.outputs(made["localhost"]).values())
    assert (jobs.outputs(made["127.0.0.1"])["train"] / "train.csv").is_file()
