"""Running `train` and `serve` on this machine as SageMaker would, without Docker or AWS.

Both run as real processes with SAGEMAKER_BASE_DIR pointing at a job folder, so what they
read and write is what the image reads and writes under /opt/ml.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterable, Mapping

from container import metrics
from container.paths import BASE_DIR_ENV, Paths

from . import jobdir


@dataclass
class TrainResult:
    returncode: int
    log: str
    paths: Paths
    metrics: dict[str, float] = field(default_factory=dict)
    failure: str | None = None
    model_archive: Path | None = None
    output_archive: Path | None = None

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def python_env(base: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env[BASE_DIR_ENV] = str(base)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def run_train(paths: Paths, *, env: Mapping[str, str] | None = None, echo: IO[str] | None = None,
              job_name: str = "local-job", archive_dir: Path | None = None) -> TrainResult:
    """Run `train` on a job folder, then pack model.tar.gz and output.tar.gz beside it."""
    command = [sys.executable, "-m", "container.training"]
    environment = python_env(paths.base, {"TRAINING_JOB_NAME": job_name, **(env or {})})
    process = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    log = tee(process.stdout, echo)
    return finish_training(paths, process.wait(), log, archive_dir)


def tee(lines: Iterable[str], echo: IO[str] | None) -> str:
    """Collect a log line by line, echoing each line as it arrives."""
    collected: list[str] = []
    for line in lines:
        collected.append(line)
        if echo is not None:
            echo.write(line)
            echo.flush()
    return "".join(collected)


def finish_training(paths: Paths, code: int, log: str, archive_dir: Path | None = None) -> TrainResult:
    """After `train` exits (as a process or in a container): metrics, failure file, archives."""
    result = TrainResult(code, log, paths, metrics=metrics.parse_log(log))
    if paths.failure_file.is_file():
        result.failure = paths.failure_file.read_text()
    if code == 0 and paths.model_dir.is_dir() and any(paths.model_dir.iterdir()):
        out = archive_dir or paths.base
        result.model_archive = jobdir.pack(paths.model_dir, out / "model.tar.gz")
        result.output_archive = jobdir.pack(paths.output_data_dir, out / "output.tar.gz")
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`serve` as a child process on 127.0.0.1; a context manager that stops it with SIGTERM."""

    def __init__(self, base: Path, *, port: int | None = None, env: Mapping[str, str] | None = None,
                 command: list[str] | None = None) -> None:
        self.base = base
        self.port = port or free_port()
        self.env = python_env(base, {"SAGEMAKER_BIND_TO_PORT": str(self.port),
                                     "BYOC_BIND_HOST": "127.0.0.1", **(env or {})})
        self.command = command or [sys.executable, "-m", "container.server"]
        self.process: subprocess.Popen[str] | None = None
        self._log: list[str] = []
        self._reader: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        return "".join(self._log)

    def start(self) -> "Server":
        self.process = subprocess.Popen(self.command, env=self.env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self._log.append(line)

    def wait_ready(self, timeout: float = 60.0) -> float:
        """Poll /ping until 200; returns seconds waited. Raises if the process exits first."""
        assert self.process is not None
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.process.poll() is not None:
                self._join()
                raise RuntimeError(f"serve exited with {self.process.returncode}:\n{self.log}")
            try:
                with urllib.request.urlopen(self.url + "/ping", timeout=2) as response:
                    if response.status == 200:
                        return time.monotonic() - start
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        raise TimeoutError(f"serve did not answer /ping within {timeout} s:\n{self.log}")

    def stop(self, timeout: float = 40.0) -> int:
        """SIGTERM, then wait; returns the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._join()
        return self.process.returncode

    def _join(self) -> None:
        if self._reader is not None:
            self._reader.join(timeout=5)

    def __enter__(self) -> "Server":
        self.start()
        self.wait_ready()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
