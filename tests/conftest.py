"""Shared fixtures: sample data, job folders, and real `train` / `serve` processes."""

from __future__ import annotations

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
