"""`byoc local process` as a user runs it: raw CSV in, channels `byoc local train` takes out."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

from byoc import sample


def byoc(*args: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "byoc.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd)


def test_local_process_prints_the_train_command_that_reads_its_output(tmp_path: Path) -> None:
    raw = sample.write_bank(tmp_path / "bank", rows=1500)["train"]
    done = byoc("local", "process", "--input", str(raw), "--label-column", "y", "--job-name", "prep",
                "--validation-fraction", "0.2", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[-2] == "Train on them:"
    command = shlex.split(lines[-1])
    job = Path("jobs/prep/processing/output")
    assert command == ["byoc", "local", "train", "--train", str(job / "train"), "--validation",
                       str(job / "validation"), "--test", str(job / "test"), "--content-type",
                       "text/csv;header=present", "-H", "label_column=y"]
    assert "Split 1000 rows into train 650, validation 200, test 150 (stratified on y, seed 0)." in done.stdout
    assert "  train: no " in done.stdout  # the class balance
    trained = byoc(*command[1:], "-H", "n_estimators=10", "--job-name", "t", cwd=tmp_path)
    assert trained.returncode == 0, trained.stdout + trained.stderr
    assert "validation:auc = " in trained.stdout


def test_local_process_refuses_bad_options_before_starting_anything(tmp_path: Path) -> None:
    raw = tmp_path / "raw.csv"
    raw.write_text("y,a\nno,1\n")
    done = byoc("local", "process", "--input", str(raw), "--test-fraction", "0.6", "--validation-fraction", "0.5",
                cwd=tmp_path)
    assert done.returncode == 2 and "together they must be below 1" in done.stderr, done.stderr
    assert not (tmp_path / "jobs").exists()
    missing = byoc("local", "process", "--input", str(tmp_path / "nope"), cwd=tmp_path)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_a_failed_process_shows_its_message_and_exit_code(tmp_path: Path) -> None:
    raw = tmp_path / "raw.csv"
    raw.write_text("y,a\nno,1\nyes,2\n")
    done = byoc("local", "process", "--input", str(raw), "--label-column", "nope", "--job-name", "bad", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Processing failed (exit 2)." in done.stderr
    assert "Message: ConfigError: label_column='nope' is not a column" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
