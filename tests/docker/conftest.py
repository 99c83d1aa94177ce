"""End-to-end tests of the image on a real Docker engine, run the way SageMaker runs it.

The image is built once per session (from the repository's Dockerfile; BASE_IMAGE from
BYOC_BASE_IMAGE when set). Without a reachable engine every test here is skipped, with the
reason; with BYOC_REQUIRE_DOCKER=1 (CI) they fail instead. Only loopback traffic: containers
use --network host and the server binds 127.0.0.1. Every container started here carries a
label unique to this session and is removed at the end, whatever happened.
"""

from __future__ import annotations

import os
import socket
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from byoc import image as images, jobdir
from container.paths import Paths

IMAGE = os.environ.get("BYOC_TEST_IMAGE", "sagemaker-byoc:test")
REPO = Path(__file__).resolve().parents[2]
PACKAGES = Path(__file__).resolve().parent / "packages"  # test model packages, mounted read-only
SESSION_LABEL = "io.github.sagemaker-byoc.test-session"
SESSION = uuid.uuid4().hex[:12]


@pytest.fixture(scope="session")
def engine() -> Iterator[Any]:
    """A Docker SDK client, or a skip (a failure under BYOC_REQUIRE_DOCKER=1) with the reason."""
    reason = None
    try:
        import docker
    except ImportError as exc:
        reason = f"the Docker SDK is not installed ({exc}); pip install -e '.[cli]'"
    else:
        try:
            client = docker.from_env()
            client.ping()
        except Exception as exc:  # DockerException, connection errors, permissions
            reason = f"no Docker engine is reachable ({type(exc).__name__}: {exc})"
    if reason:
        if os.environ.get("BYOC_REQUIRE_DOCKER") == "1":
            pytest.fail(f"BYOC_REQUIRE_DOCKER=1, but {reason}", pytrace=False)
        pytest.skip(f"Docker tests skipped: {reason} (set BYOC_REQUIRE_DOCKER=1 to make this an error)")
    yield client
    for container in client.containers.list(all=True, filters={"label": f"{SESSION_LABEL}={SESSION}"}):
        container.remove(force=True)
    client.close()


@pytest.fixture(scope="session")
def image(engine: Any) -> str:
    """The image, built once: for this machine's architecture, on BYOC_BASE_IMAGE when set."""
    seconds = images.build(IMAGE, base_image=os.environ.get("BYOC_BASE_IMAGE") or None,
                           platform=None, context=REPO, echo=None)
    print(f"\nbuilt {IMAGE} in {seconds:.1f} s")
    return IMAGE


@dataclass
class Run:
    code: int
    log: str


@pytest.fixture(scope="session")
def run(engine: Any, image: str) -> Callable[..., Run]:
    """run(command, env=..., volumes=...) -> Run: `docker run --network host IMAGE command` to the end."""

    def run(command: list[str], *, env: dict[str, str] | None = None,
            volumes: dict[str, dict[str, str]] | None = None, timeout: float = 300) -> Run:
        container = start(engine, image, command, env=env, volumes=volumes)
        try:
            code = container.wait(timeout=timeout)["StatusCode"]
            return Run(code, container.logs().decode(errors="replace"))
        finally:
            container.remove(force=True)

    return run


def start(engine: Any, image: str, command: list[str], *, env: dict[str, str] | None = None,
          volumes: dict[str, dict[str, str]] | None = None, **kwargs: Any) -> Any:
    """`docker run -d --network host` with this session's label."""
    return engine.containers.run(image, command, detach=True, network_mode="host", environment=env or {},
                                 volumes=volumes or {}, labels={SESSION_LABEL: SESSION}, **kwargs)


@pytest.fixture(scope="session")
def trained(run: Callable[..., Run], sample_data: dict[str, Path],
            tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Paths]:
    """`docker run -v JOB:/opt/ml IMAGE train` on the sample: the run and its job folder."""
    paths = jobdir.create(tmp_path_factory.mktemp("docker-train") / "job", jobdir.JobSpec(
        {k: sample_data[k] for k in ("train", "validation", "test")}, {"n_estimators": 20}))
    result = run(["train"], env={"TRAINING_JOB_NAME": "docker-e2e"}, volumes=opt_ml(paths.base))
    return result, paths


@pytest.fixture(scope="session")
def image_model(trained: tuple[Run, Paths]) -> Path:
    """The model folder the image trained."""
    result, paths = trained
    assert result.code == 0, result.log
    return paths.model_dir


def opt_ml(base: Path) -> dict[str, dict[str, str]]:
    return {str(base.resolve()): {"bind": "/opt/ml", "mode": "rw"}}


@dataclass
class Served:
    container: Any
    port: int
    ready_after: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.container.logs().decode(errors="replace")


@pytest.fixture
def serve(engine: Any, image: str, image_model: Path) -> Iterator[Callable[..., Served]]:
    """serve(model_dir=..., env=..., volumes=..., port=..., **run_options) -> Served, ready on /ping.

    `docker run --network host -e SAGEMAKER_BIND_TO_PORT=<port> -e BYOC_BIND_HOST=127.0.0.1
    -v <model>:/opt/ml/model:ro IMAGE serve`; removed at the end of the test. run_options go to
    the Docker SDK's containers.run (cap_drop=..., user=...).
    """
    started: list[Any] = []

    def serve(model_dir: Path | None = None, *, env: dict[str, str] | None = None,
              volumes: dict[str, dict[str, str]] | None = None, port: int | None = None,
              **run_options: Any) -> Served:
        port = port or free_port()
        mounts = {str((model_dir or image_model).resolve()): {"bind": "/opt/ml/model", "mode": "ro"},
                  **(volumes or {})}
        environment = {"SAGEMAKER_BIND_TO_PORT": str(port), "BYOC_BIND_HOST": "127.0.0.1",
                       "MODEL_SERVER_WORKERS": "2", **(env or {})}
        container = start(engine, image, ["serve"], env=environment, volumes=mounts, **run_options)
        started.append(container)
        served = Served(container, port)
        served.ready_after = wait_for_ping(container, port)
        return served

    yield serve
    for container in started:
        container.remove(force=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_ping(container: Any, port: int, timeout: float = 60) -> float:
    """Seconds until GET /ping answers 200; fails with the log if the container exits first."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - started
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        container.reload()
        if container.status == "exited":
            pytest.fail(f"serve exited with {container.attrs['State']['ExitCode']}:\n"
                        f"{container.logs().decode(errors='replace')}")
        time.sleep(0.1)
    pytest.fail(f"no 200 from /ping within {timeout} s:\n{container.logs().decode(errors='replace')}")
