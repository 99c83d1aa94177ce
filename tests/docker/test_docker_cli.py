"""The local CLI and the Docker backend it uses with --image."""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from byoc import cli, image as images, local

pytestmark = pytest.mark.docker


def test_byoc_demo_with_image(image: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["demo", "--image", image, "--workdir", str(tmp_path / "demo")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "validation:accuracy" in out  # training ran in the image and its log was streamed
    assert "/ping is 200 after" in out
    assert "-> 200" in out
    assert "serve stopped on SIGTERM with exit code 0" in out
    assert (tmp_path / "demo" / "job" / "model.tar.gz").is_file()


def test_docker_server_behaves_like_the_local_one(engine: Any, image: str, image_model: Path,
                                                  tmp_path: Path) -> None:
    shutil.copytree(image_model, tmp_path / "model")
    server = local.Server(tmp_path, launcher=images.DockerRun(image))
    with server:
        assert server.process.poll() is None  # what `byoc local serve` polls
        request = urllib.request.Request(server.url + "/invocations", data=b"5.1,3.5,1.4,0.2\n",
                                         method="POST", headers={"Content-Type": "text/csv"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
    assert server.process.poll() == 0
    assert "Handling signal: term" in server.log
    with pytest.raises(Exception):  # removed once stopped
        engine.containers.get(server.child.launch.container)
