"""Shared fixtures: sample data, job folders, real `train` / `serve` processes, and `byoc` itself."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from byoc import jobdir, local, sample
from container.paths import Paths


@pytest.fixture(scope="session")
def sample_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Iris as SageMaker CSV: train/validation/test folders and a features-only payload."""
    return sample.write(tmp_path_factory.mktemp("sample"))


@pytest.fixture
def make_job(tmp_path: Path) -> Callable[..., Paths]:
    """Lay out a job folder: make_job({"train": path}, {"n_estimators": 10}, **JobSpec fields)."""
    counter = iter(range(1000))

    def make(channels: dict[str, Path], hyperparameters: dict[str, Any] | None = None, **kw: Any) -> Paths:
        root = tmp_path / f"job{next(counter)}"
        return jobdir.create(root, jobdir.JobSpec(channels, hyperparameters or {}, **kw))

    return make


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory: pytest.TempPathFactory, sample_data: dict[str, Path]) -> Path:
    """A model folder trained by a real `train` process on the sample (random forest)."""
    root = tmp_path_factory.mktemp("trained")
    paths = jobdir.create(root / "job", jobdir.JobSpec(
        {"train": sample_data["train"], "validation": sample_data["validation"]}, {"n_estimators": 20}))
    result = local.run_train(paths)
    assert result.ok, result.log
    return paths.model_dir


@pytest.fixture
def serve(tmp_path: Path, trained_model: Path) -> Iterator[Callable[..., local.Server]]:
    """Start real `serve` processes on 127.0.0.1: serve(env={...}, model_dir=...) -> ready Server."""
    started: list[local.Server] = []

    def start(env: dict[str, str] | None = None, model_dir: Path | None = None,
              wait: bool = True) -> local.Server:
        import shutil

        base = tmp_path / f"endpoint{len(started)}"
        shutil.copytree(model_dir or trained_model, base / "model")
        server = local.Server(base, env=env).start()
        started.append(server)
        if wait:
            server.wait_ready()
        return server

    yield start
    for server in started:
        server.stop()


class Cli:
    """`byoc ARGS` as a real child process, in its own session like a terminal's foreground job.

    Its output (stdout and stderr together) is read as it comes; interrupt() is the terminal's
    Ctrl-C (SIGINT to the whole foreground process group), terminate() is SIGTERM to byoc alone.
    """

    def __init__(self, argv: list[str], env: dict[str, str] | None, cwd: Path | None) -> None:
        self.process = subprocess.Popen(argv, env=env, cwd=cwd,
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def _take(self, timeout: float) -> bool:
        try:
            line = self._queue.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return True
        if line is None:
            return False
        self.lines.append(line)
        return True

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float = 60) -> bool:
        """Read output until a line holds text (True), or the output ends or the time is up (False)."""
        deadline = time.monotonic() + timeout
        if any(text in line for line in self.lines):
            return True
        while time.monotonic() < deadline:
            if not self._take(deadline - time.monotonic()):
                return False
            if self.lines and text in self.lines[-1]:
                return True
        return False

    def interrupt(self) -> None:
        os.killpg(self.process.pid, signal.SIGINT)

    def terminate(self) -> None:
        self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 60) -> int:
        """The exit code, once byoc has ended and all its output is read."""
        code = self.process.wait(timeout)
        self._reader.join(10)  # EOF, unless something byoc started still holds its output open
        while not self._queue.empty():
            line = self._queue.get_nowait()
            if line is not None:
                self.lines.append(line)
        return code

    def descendants(self) -> set[int]:
        """The processes byoc has started (and theirs), alive now."""
        return descendants(self.process.pid)

    @staticmethod
    def still_alive(pids: set[int], timeout: float = 10) -> set[int]:
        """The processes among pids still alive (not zombies) after waiting up to timeout seconds."""
        return still_alive(pids, timeout)


def descendants(pid: int) -> set[int]:
    """Every live process below pid (children, their children...), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def still_alive(pids: set[int], timeout: float = 10) -> set[int]:
    """The processes among pids still alive (not zombies) after waiting up to timeout seconds."""

    def alive() -> set[int]:
        left = set()
        for pid in pids:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if state != "Z":
                left.add(pid)
        return left

    deadline = time.monotonic() + timeout
    while (left := alive()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@pytest.fixture
def byoc_cli() -> Iterator[Callable[..., Cli]]:
    """byoc_cli(*args, env=..., cwd=...) -> Cli: `python -m byoc.cli ARGS` running; killed at the end.

    command=[...] runs that instead (a shell that runs `byoc`, say).
    """
    started: list[Cli] = []

    def start(*args: Any, env: dict[str, str] | None = None, cwd: Path | None = None,
              command: list[str] | None = None) -> Cli:
        run = Cli(command or [sys.executable, "-m", "byoc.cli", *map(str, args)], env, cwd)
        started.append(run)
        return run

    yield start
    for run in started:
        if run.process.poll() is None:
            os.killpg(run.process.pid, signal.SIGKILL)
            run.process.wait()
