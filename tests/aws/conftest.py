"""Fixtures for the AWS commands: a real moto_server process, the CLI, Docker and a registry.

moto_server runs once per session on 127.0.0.1 at a free port; boto3 reaches it over HTTP
through AWS_ENDPOINT_URL, with fake credentials and a region, exactly as a user's shell would
point it at an emulator. Its state is reset before every test. No call leaves 127.0.0.1: the
AWS config and credential files are pointed at nothing, so a developer's own profile is never
read.

Docker tests need an engine and the registry from ../shared/ci/docker-up.sh (BYOC_REGISTRY,
127.0.0.1:5000); without them they skip with the reason, or fail under BYOC_REQUIRE_DOCKER=1.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from aws_helpers import Aws, Run, aws_environment


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _moto_command(port: int) -> list[str]:
    script = Path(sys.executable).with_name("moto_server")
    if script.exists():
        return [str(script), "-H", "127.0.0.1", "-p", str(port)]
    return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]


def _start_moto(tmp_path_factory: pytest.TempPathFactory, name: str, env: dict[str, str]) -> Iterator[str]:
    """A moto_server process on a free port of 127.0.0.1 (its URL), stopped when the generator ends."""
    pytest.importorskip("moto", reason="moto[server] is not installed: pip install -e '.[test]'")
    port = _free_port()
    log = tmp_path_factory.mktemp(name) / "moto_server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(_moto_command(port), stdout=sink, stderr=subprocess.STDOUT,
                                   env={**os.environ, **env})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=2):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"moto_server did not start on {url}:\n{log.read_text()[-2000:]}")
            time.sleep(0.2)
    yield url
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a moto_server process started for this session, stopped at its end.

    Its S3 lets any account use any bucket (moto's default): a bucket of another account
    behaves as one whose policy lets everyone in.
    """
    yield from _start_moto(tmp_path_factory, "moto", {})


@pytest.fixture(scope="session")
def moto_server_private(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second moto_server whose S3 refuses (403) one account's calls on another's bucket, as
    S3 does for a bucket without a policy letting it in (MOTO_S3_ALLOW_CROSSACCOUNT_ACCESS)."""
    yield from _start_moto(tmp_path_factory, "moto-private", {"MOTO_S3_ALLOW_CROSSACCOUNT_ACCESS": "false"})


def _point_at(url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> "Aws":
    request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_DEFAULT_REGION", "AWS_SESSION_TOKEN",
                 "BYOC_ROLE_ARN", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SAGEMAKER"):
        monkeypatch.delenv(name, raising=False)
    env = aws_environment(url, tmp_path)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    aws = Aws(url, env)
    aws.register_image()  # IMAGE, as build_and_push.sh would have pushed it
    return aws


@pytest.fixture
def aws(moto_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> "Aws":
    """boto3 clients on moto, moto reset, the process environment pointed at it, and IMAGE in its ECR."""
    return _point_at(moto_server, monkeypatch, tmp_path)


@pytest.fixture
def aws_private(moto_server_private: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> "Aws":
    """As `aws`, on the moto_server whose S3 keeps each account's buckets to itself."""
    return _point_at(moto_server_private, monkeypatch, tmp_path)


class _Stdin(io.TextIOWrapper):
    def isatty(self) -> bool:
        return False


@pytest.fixture
def byoc(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """Run `byoc ARGS...` in this process: byoc("deploy", ...) -> Run(code, out, err)."""
    from byoc import cli

    def run(*argv: str, stdin: bytes | None = None) -> Run:
        capsys.readouterr()
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", _Stdin(io.BytesIO(stdin)))
        try:
            code = cli.main([str(a) for a in argv])
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 2
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Every API call boto3 sends, as (operation, params), recorded on the way to moto.

    This is the request as the API receives it: for fields moto drops or overwrites
    (training Environment, MetricDefinitions) it is the only evidence there is.
    """
    from botocore.client import BaseClient

    recorded: list[tuple[str, dict[str, Any]]] = []
    original = BaseClient._make_api_call

    def spy(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        recorded.append((operation_name, api_params))
        return original(self, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", spy)
    return recorded


# -- a model to deploy ------------------------------------------------------------------------


@pytest.fixture
def model_dir(trained_model: Path, tmp_path: Path) -> Path:
    """A copy of the session's trained model folder (model.skops + metadata.json)."""
    target = tmp_path / "model"
    shutil.copytree(trained_model, target)
    return target


# -- Docker and the registry --------------------------------------------------------------------


def _require_or_skip(reason: str) -> None:
    if os.environ.get("BYOC_REQUIRE_DOCKER") == "1":
        pytest.fail(f"BYOC_REQUIRE_DOCKER=1, but {reason}", pytrace=False)
    pytest.skip(f"{reason} (run: eval \"$(../shared/ci/docker-up.sh)\"; "
                "BYOC_REQUIRE_DOCKER=1 makes this an error)")


@pytest.fixture(scope="session")
def docker_engine() -> str:
    """The docker CLI's path, once the engine answers; otherwise a skip (or fail) with the reason."""
    docker = shutil.which("docker")
    if not docker:
        _require_or_skip("the docker CLI is not installed")
    result = subprocess.run([docker, "info", "--format", "{{.ServerVersion}}"],
                            capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        _require_or_skip(f"no Docker engine is reachable ({result.stderr.strip()[-200:]})")
    return docker


@pytest.fixture(scope="session")
def registry(docker_engine: str) -> str:
    """host:port of the local registry (BYOC_REGISTRY, default 127.0.0.1:5000), answering /v2/."""
    host = os.environ.get("BYOC_REGISTRY", "127.0.0.1:5000")
    if not host.startswith(("127.", "localhost")):
        pytest.fail(f"BYOC_REGISTRY={host} is not on loopback; these tests only talk to 127.0.0.1")
    try:
        with urllib.request.urlopen(f"http://{host}/v2/", timeout=5):
            pass
    except OSError as exc:
        _require_or_skip(f"no registry answers at http://{host}/v2/ ({exc})")
    return host


@pytest.fixture(scope="session")
def base_image(docker_engine: str) -> str:
    """BYOC_BASE_IMAGE, present in the engine: builds never reach for a public registry."""
    image = os.environ.get("BYOC_BASE_IMAGE")
    if not image:
        _require_or_skip("BYOC_BASE_IMAGE is not set, and no public base image can be pulled here")
    found = subprocess.run(["docker", "image", "inspect", image], capture_output=True, timeout=60)
    if found.returncode != 0:
        _require_or_skip(f"the base image {image} is not in the engine")
    return image
