"""Running `train`, `serve` and `process` on this machine as SageMaker runs them: one runner, two ways to start.

A launcher says how to start the program: as a process of this machine's Python, with
SAGEMAKER_BASE_DIR pointing at the job folder (`Python`, the default), or in the image, with
the job folder mounted at /opt/ml (`byoc.image.DockerRun`: `docker run ... IMAGE train|serve|process`).
Either way it is one child process, and everything else is done here, once, for both: the log
read (and echoed) line by line as it is written, the wait for /ping, the stop, and the cleanup.

The stop is SageMaker's: SIGTERM, a grace period (120 s for training, as StopTrainingJob; 30 s
for serving, as an endpoint update), then SIGKILL. The child runs in its own session, so Ctrl-C
in the terminal reaches byoc alone, which then stops the child that one way: serve sees SIGTERM,
as on SageMaker, never the terminal's SIGINT. Whatever ends a run (its own exit, a failure to
start, Ctrl-C, SIGTERM to byoc), the launcher's cleanup runs once it has ended.
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
from typing import IO, Callable, Mapping, Protocol, Sequence

from container import metrics
from container.paths import BASE_DIR_ENV, Paths

from . import jobdir
from .errors import ByocError

TRAIN_GRACE = 120.0  # StopTrainingJob: SIGTERM, then SIGKILL after 120 s
PROCESS_GRACE = 120.0  # StopProcessingJob's grace is not documented: training's is assumed
SERVE_GRACE = 30.0  # endpoint updates and scale-in: SIGTERM, then SIGKILL after 30 s


class RunError(ByocError):
    """`serve` ended, or never answered /ping, before it was ready. The log has the reason."""

    def __init__(self, message: str, log: str = "", code: int | None = None) -> None:
        super().__init__(message)
        self.log = log
        self.code = code


@dataclass
class Launch:
    """One run of `train` or `serve`, as a launcher prepared it."""

    argv: list[str]
    #: What the program sees (for a container: only what is passed with -e).
    env: dict[str, str]
    #: The environment of the process started (for a container: the docker CLI's).
    process_env: dict[str, str]
    #: Called before the stop's SIGTERM, while the process still runs (a container: until it runs).
    before_signal: Callable[[subprocess.Popen[str]], None] = lambda process: None
    #: Called once the process has ended, however it ended (a container: `docker rm -f`).
    cleanup: Callable[[], None] = lambda: None
    #: A container's name, shown where the log is echoed: `docker exec -it NAME bash` looks inside.
    container: str | None = None


class Launcher(Protocol):
    """How to start `train` and `serve` on a job folder; `env` is what SageMaker would set."""

    def train(self, base: Path, env: Mapping[str, str]) -> Launch: ...

    def serve(self, base: Path, env: Mapping[str, str]) -> Launch: ...

    def process(self, base: Path, env: Mapping[str, str], args: Sequence[str]) -> Launch: ...


class Python:
    """`python -m container.training|server|processing` in this Python, SAGEMAKER_BASE_DIR=<job folder>."""

    def train(self, base: Path, env: Mapping[str, str]) -> Launch:
        return self._launch("container.training", base, env)

    def serve(self, base: Path, env: Mapping[str, str]) -> Launch:
        return self._launch("container.server", base, env)

    def process(self, base: Path, env: Mapping[str, str], args: Sequence[str]) -> Launch:
        return self._launch("container.processing", base, env, args)

    @staticmethod
    def _launch(module: str, base: Path, env: Mapping[str, str], args: Sequence[str] = ()) -> Launch:
        environment = python_env(base, env)
        return Launch([sys.executable, "-m", module, *args], environment, environment)


PYTHON = Python()


def python_env(base: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This machine's environment, with the job folder as SAGEMAKER_BASE_DIR and unbuffered output."""
    env = dict(os.environ)
    env[BASE_DIR_ENV] = str(base)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


class Child:
    """A started `train` or `serve`: its log, read live, and a stop that always ends it and cleans up."""

    def __init__(self, launch: Launch, echo: IO[str] | None = None) -> None:
        self.launch = launch
        self.echo = echo
        self.process: subprocess.Popen[str] | None = None
        self._log: list[str] = []
        self._reader: threading.Thread | None = None
        self._cleaned = False

    @property
    def log(self) -> str:
        return "".join(self._log)

    def start(self) -> "Child":
        try:
            self.process = subprocess.Popen(
                self.launch.argv, env=self.launch.process_env, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                start_new_session=True)  # the terminal's Ctrl-C is byoc's to handle, not the child's
        except BaseException:
            self._cleanup()
            raise
        if self.launch.container:
            self._echo(f"byoc: in container {self.launch.container} "
                       f"(docker exec -it {self.launch.container} bash, to look inside)\n")
        self._reader = threading.Thread(target=self._read, name=f"log-{self.process.pid}", daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self._log.append(line)
            self._echo(line)

    def _echo(self, line: str) -> None:
        if self.echo is not None:
            try:
                self.echo.write(line)
                self.echo.flush()
            except (OSError, ValueError):  # the terminal went away: keep collecting the log
                self.echo = None

    def wait(self) -> int:
        """Wait for the program to end by itself; its exit code. Interruptible (Ctrl-C, SIGTERM)."""
        assert self.process is not None
        code = self.process.wait()
        self._join()
        return code

    def stop(self, grace: float) -> int:
        """End the run if it still goes (SIGTERM, `grace` seconds, then SIGKILL), clean up; the exit code."""
        assert self.process is not None
        try:
            if self.process.poll() is None:
                self.launch.before_signal(self.process)
                if self.process.poll() is None:
                    self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(grace)
                except subprocess.TimeoutExpired:
                    self._kill()
        except BaseException:  # interrupted while stopping (a second Ctrl-C): no more grace
            self._kill()
            raise
        finally:
            try:
                self._join()
            finally:
                self._cleanup()
        return self.process.returncode

    def _kill(self) -> None:
        """SIGKILL to the child's whole session (gunicorn's workers too), then reap it."""
        assert self.process is not None
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.process.kill()
            self.process.wait()

    def _join(self) -> None:
        if self._reader is not None:
            self._reader.join(timeout=5)

    def _cleanup(self) -> None:
        if not self._cleaned:
            self._cleaned = True
            self.launch.cleanup()


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


def run_train(paths: Paths, *, env: Mapping[str, str] | None = None, echo: IO[str] | None = None,
              job_name: str = "local-job", archive_dir: Path | None = None,
              launcher: Launcher = PYTHON) -> TrainResult:
    """Run `train` on a job folder to its end, then pack model.tar.gz and output.tar.gz beside it."""
    code, log = run_to_end(launcher.train(paths.base, {"TRAINING_JOB_NAME": job_name, **(env or {})}),
                           echo, TRAIN_GRACE)
    return finish_training(paths, code, log, archive_dir)


def run_to_end(launch: Launch, echo: IO[str] | None, grace: float) -> tuple[int, str]:
    """Run a job (train, process) to its end: (exit code, log). Interrupted (Ctrl-C, SIGTERM),
    it is stopped with `grace` seconds to finish; cleaned up however it ends."""
    child = Child(launch, echo)
    child.start()
    try:
        code = child.wait()
    finally:
        child.stop(grace)  # nothing left to stop unless interrupted; the cleanup, always
    return code, child.log


def finish_training(paths: Paths, code: int, log: str, archive_dir: Path | None = None) -> TrainResult:
    """After `train` exits: metrics, failure file, archives (the same for a process and a container)."""
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


def port_in_use(port: int) -> bool:
    """Whether something listens on 127.0.0.1:port already (a /ping there would not be ours)."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Server:
    """`serve` on 127.0.0.1:<port> for the model in <base>/model; a context manager that stops it.

    `env` is what SageMaker would set on the container, on top of the port and bind address.
    """

    def __init__(self, base: Path, *, port: int | None = None, env: Mapping[str, str] | None = None,
                 launcher: Launcher = PYTHON, echo: IO[str] | None = None) -> None:
        self.base = base
        self.port = port or free_port()
        launch = launcher.serve(base, {"SAGEMAKER_BIND_TO_PORT": str(self.port), "BYOC_BIND_HOST": "127.0.0.1",
                                       **(env or {})})
        self.env = launch.env
        self.child = Child(launch, echo)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def process(self) -> subprocess.Popen[str] | None:
        return self.child.process

    @property
    def log(self) -> str:
        return self.child.log

    def start(self) -> "Server":
        self.child.start()
        return self

    def wait_ready(self, timeout: float = 60.0) -> float:
        """Poll /ping until 200; the seconds waited. RunError if serve exits first or never answers."""
        assert self.process is not None
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.process.poll() is not None:
                code = self.child.wait()  # ended: its whole log is read
                raise RunError(f"serve exited with {code} before answering /ping", self.log, code)
            try:
                with urllib.request.urlopen(self.url + "/ping", timeout=2) as response:
                    if response.status == 200:
                        return time.monotonic() - start
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        raise RunError(f"serve did not answer /ping within {timeout:g} s", self.log)

    def wait(self) -> int:
        """Wait until serve exits by itself; its exit code. Interruptible (Ctrl-C, SIGTERM)."""
        return self.child.wait()

    def stop(self, timeout: float = SERVE_GRACE) -> int:
        """SIGTERM, up to `timeout` seconds to drain, then SIGKILL; cleanup; the exit code."""
        return self.child.stop(timeout)

    def __enter__(self) -> "Server":
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
