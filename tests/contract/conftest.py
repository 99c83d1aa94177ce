"""Fixtures for the contract tests: the sample as arrays, and long-lived shared servers."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pytest

from byoc import local


@pytest.fixture(scope="session")
def iris_rows(sample_data: dict[str, Path]) -> dict[str, np.ndarray]:
    """The sample's channels as arrays (label first)."""
    return {name: np.loadtxt(next(sample_data[name].glob("*.csv")), delimiter=",", ndmin=2)
            for name in ("train", "validation", "test")}


@pytest.fixture(scope="session")
def features(iris_rows: dict[str, np.ndarray]) -> np.ndarray:
    """Ten feature rows (no label) the model can predict."""
    return iris_rows["test"][:10, 1:]


@pytest.fixture(scope="session")
def shared_server(tmp_path_factory: pytest.TempPathFactory, trained_model: Path
                  ) -> Iterator[Callable[..., local.Server]]:
    """Long-lived `serve` processes shared by the tests of a session, one per name.

    shared_server("default") is the trained sample model with no settings; other names take
    an env. Tests that stop or break a server use the function-scoped `serve` fixture instead.
    """
    servers: dict[str, local.Server] = {}

    def get(name: str, env: dict[str, str] | None = None) -> local.Server:
        if name not in servers:
            base = tmp_path_factory.mktemp(f"server-{name}")
            shutil.copytree(trained_model, base / "model")
            server = local.Server(base, env=env).start()
            servers[name] = server
            server.wait_ready()
        return servers[name]

    yield get
    for server in servers.values():
        server.stop()
