"""`train` in Pipe mode (real FIFOs) and under SIGTERM (StopTrainingJob, spot interruption)."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from byoc import local
from container.paths import Paths

from contract_helpers import csv_text, package_env


def feed_fifo(fifo: Path, data: bytes, *, create_after: float = 0.0) -> threading.Thread:
    """Create the FIFO (optionally late, as SageMaker may) and write data into it once opened."""

    def run() -> None:
        time.sleep(create_after)
        os.mkfifo(fifo)
        with open(fifo, "wb") as pipe:  # blocks until `train` opens the other end
            pipe.write(data)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def unblock(fifo: Path, writer: threading.Thread) -> None:
    """If `train` never opened the FIFO, open it here so the writer thread can finish."""
    if writer.is_alive() and fifo.exists():
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        writer.join(5)
        os.close(fd)


def test_pipe_mode_reads_each_channel_from_its_fifo(make_job, sample_data, iris_rows) -> None:
    paths = make_job({"train": sample_data["train"], "validation": sample_data["validation"]},
                     {"n_estimators": 5}, input_mode="Pipe")
    # Pipe mode has FIFOs only: no channel folders.
    shutil.rmtree(paths.channel_dir("train"))
    shutil.rmtree(paths.channel_dir("validation"))
    assert json.loads(paths.inputdataconfig_file.read_text())["train"]["TrainingInputMode"] == "Pipe"
    fifos = [paths.channel_fifo("train", 0), paths.channel_fifo("validation", 0)]
    writers = [
        feed_fifo(fifos[0], csv_text(iris_rows["train"]).encode(), create_after=0.5),  # appears late
        feed_fifo(fifos[1], csv_text(iris_rows["validation"]).encode()),
    ]
    try:
        result = local.run_train(paths)
    finally:
        for fifo, writer in zip(fifos, writers):
            unblock(fifo, writer)
    assert result.returncode == 0, result.log
    metadata = json.loads((paths.model_dir / "metadata.json").read_text())
    assert metadata["trained_rows"] == 100
    assert "Channel validation: 25 rows, 4 features" in result.log
    assert "validation:accuracy=" in result.log
    assert all(not w.is_alive() for w in writers)


def test_pipe_mode_bad_record_names_the_fifo_and_line(make_job, sample_data, iris_rows) -> None:
    paths = make_job({"train": sample_data["train"]}, {"n_estimators": 5}, input_mode="Pipe")
    shutil.rmtree(paths.channel_dir("train"))
    fifo = paths.channel_fifo("train", 0)
    writer = feed_fifo(fifo, (csv_text(iris_rows["train"][:5]) + "1,2,3\n").encode())
    try:
        result = local.run_train(paths)
    finally:
        unblock(fifo, writer)
    assert result.returncode == 3, result.log
    first = paths.failure_file.read_text().splitlines()[0]
    assert "train_0" in first and "line 6" in first and "has 3 columns, but line 1 has 5" in first


def test_pipe_mode_text_is_read_once_and_kept_for_the_table_reader(make_job, sample_data, iris_rows) -> None:
    # The numeric path stops at the text; the table reader needs the bytes again, and a FIFO
    # gives them once: they are kept in memory.
    paths = make_job({"train": sample_data["train"]}, {"n_estimators": 5}, input_mode="Pipe")
    shutil.rmtree(paths.channel_dir("train"))
    fifo = paths.channel_fifo("train", 0)
    rows = csv_text(iris_rows["train"]).splitlines()
    names = ["setosa", "versicolor", "virginica"]
    text = "".join(f"{names[int(float(r.split(',')[0]))]},{r.split(',', 1)[1]}\n" for r in rows)
    writer = feed_fifo(fifo, (csv_text(iris_rows["train"][:3]) + text).encode())
    try:
        result = local.run_train(paths)
    finally:
        unblock(fifo, writer)
    assert result.returncode == 0, result.log
    assert json.loads((paths.model_dir / "metadata.json").read_text())["trained_rows"] == 103


class Lines:
    """A child's combined output, read in the background, waited on line by line."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(process,), daemon=True).start()

    def _read(self, process: subprocess.Popen) -> None:
        for line in process.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return False
            if line is None:
                return False
            self.seen.append(line)
            if text in line:
                return True
        return False

    def rest(self) -> str:
        while True:
            try:
                line = self._queue.get(timeout=5)
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
        return "".join(self.seen)


def test_sigterm_during_a_slow_fit_stops_promptly_without_a_model(make_job, sample_data) -> None:
    paths: Paths = make_job({"train": sample_data["train"]}, {"seconds": 60})
    env = local.python_env(paths.base, package_env("byoc_fx_slowfit"))
    process = subprocess.Popen([sys.executable, "-m", "container.training"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = Lines(process)
    try:
        assert lines.wait_for("SLOWFIT: fit started", timeout=30), "".join(lines.seen)
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=10)
        elapsed = time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    log = lines.rest()
    assert code == 143, log
    assert elapsed < 3, elapsed
    assert "Training stopped by SIGTERM before it finished; no model was written." in log
    assert list(paths.model_dir.iterdir()) == []  # no model, no .tmp- files
    assert not paths.failure_file.exists()  # stopped is not failed
