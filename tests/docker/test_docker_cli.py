"""The local CLI with --image, and `byoc image build`, on a real Docker engine.

Every run here goes through byoc's one runner (byoc.local) with the `docker run` launcher; the
tests check that whatever ends a run, its container is gone afterwards.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import requests

from byoc import cli, image as images, local

pytestmark = pytest.mark.docker


def container_of(output: str) -> str:
    """The container a `byoc ... --image` run announced."""
    found = re.search(r"byoc: in container (byoc-[a-z]+-[0-9a-f]{8})", output)
    assert found, output
    return found.group(1)


def exists(name: str) -> bool:
    return images.docker("container", "inspect", name, check=False).returncode == 0


def byoc(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "byoc.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


def test_byoc_demo_with_image(image: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["demo", "--image", image, "--workdir", str(tmp_path / "demo")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "validation:accuracy" in out  # training ran in the image and its log was streamed
    assert "/ping is 200 after" in out
    assert "-> 200" in out
    assert "serve stopped on SIGTERM with exit code 0" in out
    assert (tmp_path / "demo" / "job" / "model.tar.gz").is_file()
    # the hint serves the model the way the demo did: in the image
    assert f"  byoc local serve {tmp_path / 'demo' / 'job' / 'model.tar.gz'} --image {image}\n" in out


def test_the_image_server_behaves_like_the_process_one(image: str, image_model: Path, tmp_path: Path) -> None:
    shutil.copytree(image_model, tmp_path / "model")
    server = local.Server(tmp_path, launcher=images.DockerRun(image))
    name = server.child.launch.container
    assert name and name.startswith("byoc-serve-")
    with server:
        assert server.process.poll() is None
        assert images.docker("container", "inspect", "--format", "{{index .Config.Labels \"%s\"}}" % images.LABEL,
                             name).stdout.strip() == "serve"
        request = urllib.request.Request(server.url + "/invocations", data=b"5.1,3.5,1.4,0.2\n",
                                         method="POST", headers={"Content-Type": "text/csv"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
    assert server.process.poll() == 0  # `docker run` returned serve's own exit code
    assert "Handling signal: term" in server.log  # the CLI forwarded SIGTERM to the container
    assert not exists(name)


@pytest.mark.parametrize("how", ["SIGTERM", "Ctrl-C"])
def test_local_serve_with_image_streams_its_log_and_ends_its_container(
        byoc_cli, image: str, image_model: Path, how: str) -> None:
    port = local.free_port()
    run = byoc_cli("local", "serve", image_model, "--image", image, "--port", port)
    assert run.wait_for(f"Serving {image_model} at http://127.0.0.1:{port}", timeout=120), run.output
    name = container_of(run.output)
    assert exists(name)
    bad = requests.post(f"http://127.0.0.1:{port}/invocations", data=b"1,2\n", headers={"Content-Type": "text/csv"})
    assert bad.status_code == 400
    assert run.wait_for("POST /invocations -> 400", timeout=10), run.output  # live, while serving
    if how == "SIGTERM":
        run.terminate()
    else:
        run.interrupt()  # the terminal's Ctrl-C, to byoc's process group
    assert run.wait(timeout=60) == (143 if how == "SIGTERM" else 130), run.output
    assert "Handling signal: term" in run.output
    assert "byoc: serve stopped on SIGTERM with exit code 0." in run.output
    assert not exists(name)


def test_a_failed_local_serve_with_image_leaves_no_container(image: str, tmp_path: Path) -> None:
    empty = tmp_path / "model"
    empty.mkdir()
    result = byoc("local", "serve", str(empty), "--image", image, "--port", str(local.free_port()))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Cannot serve" in result.stdout
    assert result.stderr.endswith("byoc: serve exited with 1 before answering /ping (its log is above)\n")
    assert not exists(container_of(result.stdout))


def test_the_docker_cli_killed_leaves_no_container(byoc_cli, image: str, image_model: Path) -> None:
    run = byoc_cli("local", "serve", image_model, "--image", image, "--port", local.free_port())
    assert run.wait_for("Serving ", timeout=120), run.output
    name = container_of(run.output)
    docker_cli = [pid for pid in run.descendants()
                  if Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:2] == [b"docker", b"run"]]
    assert len(docker_cli) == 1, run.descendants()
    os.kill(docker_cli[0], signal.SIGKILL)  # the container runs on without its CLI...
    assert run.wait(timeout=60) == 1, run.output
    assert "byoc: serve exited with -9" in run.output
    assert not exists(name)  # ...until byoc removes it


def test_sigterm_to_local_train_with_image_stops_the_container(
        byoc_cli, image: str, sample_data: dict[str, Path], tmp_path: Path) -> None:
    run = byoc_cli("local", "train", "--train", sample_data["train"], "--job-dir", tmp_path / "job",
                   "--image", image, "-H", "n_estimators=1000000")  # hours of fitting
    assert run.wait_for("Channel train:", timeout=120), run.output
    name = container_of(run.output)
    run.terminate()
    assert run.wait(timeout=60) == 143, run.output
    assert "Training stopped by SIGTERM" in run.output  # train itself got SIGTERM, as from StopTrainingJob
    assert not exists(name)
    assert not (tmp_path / "job" / "model.tar.gz").exists()


# -- byoc image build ----------------------------------------------------------------------------


@pytest.fixture
def empty_base(engine: Any) -> Any:
    """A local image with no files at all: a base on which the Dockerfile's first RUN fails."""
    tag = f"byoc-test-empty:{os.getpid()}"
    done = subprocess.run(["docker", "import", "-", tag], input=_empty_tar(), capture_output=True)
    assert done.returncode == 0, done.stderr
    yield tag
    subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)


def _empty_tar() -> bytes:
    import io
    import tarfile

    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w"):
        pass
    return out.getvalue()


def test_image_build_uses_base_image_and_shows_the_builds_own_error(empty_base: str) -> None:
    tag = f"byoc-test-never:{os.getpid()}"
    result = byoc("image", "build", "--tag", tag, env={"BASE_IMAGE": empty_base})
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("byoc: docker build failed (exit 1): ")
    error = last.removeprefix("byoc: docker build failed (exit 1): ")
    assert error.strip() and error in result.stderr.rsplit(last, 1)[0]  # the build's own words, shown above too
    assert "/bin/sh" in error  # what the empty BASE_IMAGE lacks: it reached the Dockerfile
    assert images.inspect(tag) is None
    leftovers = images.docker("ps", "--all", "--quiet", "--filter", f"ancestor={empty_base}").stdout.split()
    assert leftovers == []  # not even the failed step's container


def test_image_build_with_build_and_push_variables(image: str) -> None:
    tag = f"{image}-cli"
    base = os.environ.get("BYOC_BASE_IMAGE")
    if not base:
        pytest.skip("BYOC_BASE_IMAGE is not set: building on the default base would pull it")
    arch = images.engine_architecture()  # this engine's own: no emulation needed
    try:
        result = byoc("image", "build", "--tag", tag, env={"BASE_IMAGE": base, "PLATFORM": f"linux/{arch}"})
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"Built {tag} in ")
        assert f"linux/{arch}." in result.stdout
        assert result.stdout.endswith(f"Try it: byoc demo --image {tag}\n")
        assert (images.inspect(tag) or {}).get("Architecture") == arch
    finally:
        subprocess.run(["docker", "rmi", tag], capture_output=True)
