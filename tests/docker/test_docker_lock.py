"""Reproducible images: exactly requirements/image.lock installed, its hashes checked, the base pinned by digest.

Two builds of one commit install the same packages because each installs exactly the lock: the
image's packages are compared with the lock's pins for the image's own Python and machine. A
file that does not match its hash stops the build, and BASE_IMAGE takes name@sha256:<digest>
(the offline base has none until pushed, so it is pushed to the local registry first).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import urllib.request
from pathlib import Path
from typing import Any, Callable

import pytest
from packaging.utils import canonicalize_name

from byoc import image as images
from locks import LOCKS, read_lock, resolved  # tests/locks.py

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("BYOC_TEST_IMAGE", "sagemaker-byoc:test")
#: What the build context holds (.dockerignore), copied for builds of a changed context.
CONTEXT = ["Dockerfile", ".dockerignore", "pyproject.toml", "setup.py", "README.md", "requirements", "container",
           "model"]

#: The image's marker environment (as packaging computes it) and its installed distributions.
INSIDE = r"""
import importlib.metadata, json, os, platform, sys
impl = sys.implementation.version
environment = {
    "implementation_name": sys.implementation.name,
    "implementation_version": f"{impl.major}.{impl.minor}.{impl.micro}",
    "os_name": os.name, "platform_machine": platform.machine(), "platform_release": platform.release(),
    "platform_system": platform.system(), "platform_version": platform.version(),
    "python_full_version": platform.python_version(),
    "platform_python_implementation": platform.python_implementation(),
    "python_version": ".".join(platform.python_version_tuple()[:2]), "sys_platform": sys.platform,
}
installed = {d.metadata["Name"]: d.version for d in importlib.metadata.distributions()}
print(json.dumps({"environment": environment, "installed": installed}))
"""


def copy_context(target: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.py[co]", "*.so", "*.egg-info")
    target.mkdir()
    for name in CONTEXT:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=ignore)
        else:
            shutil.copy2(source, target / name)
    return target


def test_the_image_holds_exactly_the_locked_packages(run: Callable[..., Any]) -> None:
    result = run(["python", "-c", INSIDE])
    assert result.code == 0, result.log
    inside = json.loads(result.log)
    locked = {name: pin.version for name, pin in resolved(read_lock(LOCKS / "image.lock"),
                                                          inside["environment"]).items()}
    installed = {canonicalize_name(name): version for name, version in inside["installed"].items()}
    # Not from the lock: the project itself, and pip, the base's own (its digest pins it), kept
    # for `pip list` when debugging. setuptools, the venv's other bundled tool, is gone.
    assert installed.pop("sagemaker-byoc") == "0.1.0"
    assert installed.pop("pip")
    assert installed == locked


def test_a_file_that_does_not_match_its_hash_stops_the_build(image: str, tmp_path: Path) -> None:
    context = copy_context(tmp_path / "context")
    lock = context / "requirements" / "image.lock"
    first = read_lock(lock)[0]  # the first package pip fetches
    forged = "sha256:" + hashlib.sha256(b"not " + first.name.encode()).hexdigest()
    lock.write_text(re.sub("|".join(first.hashes), forged, lock.read_text()))
    with pytest.raises(images.BuildFailed) as failed:
        images.build(f"{IMAGE}-forged", base_image=os.environ.get("BYOC_BASE_IMAGE") or None, platform=None,
                     context=context, echo=None)
    log = failed.value.log
    assert "THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE" in log, log[-3000:]
    assert re.search(rf"{first.name}==[^\n]*\n\s*Expected sha256 {forged[7:]}", log, re.IGNORECASE), log[-3000:]
    assert images.inspect(f"{IMAGE}-forged") is None


def test_a_dependency_the_lock_lacks_stops_the_build(image: str, tmp_path: Path) -> None:
    # pyproject.toml edited, `make lock` forgotten: the build says so, instead of an image that
    # fails at `import` on an endpoint.
    context = copy_context(tmp_path / "context")
    pyproject = context / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(text.replace('dependencies = [\n', 'dependencies = [\n    "byoc-no-such-dependency>=1",\n', 1))
    assert pyproject.read_text() != text
    with pytest.raises(images.BuildFailed) as failed:
        images.build(f"{IMAGE}-stale", base_image=os.environ.get("BYOC_BASE_IMAGE") or None, platform=None,
                     context=context, echo=None)
    log = failed.value.log
    assert "No matching distribution found for byoc-no-such-dependency>=1" in log, log[-3000:]
    assert "run 'make lock' and commit it" in log, log[-3000:]
    assert images.inspect(f"{IMAGE}-stale") is None


def registry() -> str:
    """host:port of the local registry (BYOC_REGISTRY), once it answers; else a skip (a failure in CI)."""
    host = os.environ.get("BYOC_REGISTRY", "127.0.0.1:5000")
    try:
        with urllib.request.urlopen(f"http://{host}/v2/", timeout=5):
            return host
    except OSError as exc:
        reason = f"no registry answers at {host} to push the base image to ({exc})"
        if os.environ.get("BYOC_REQUIRE_DOCKER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


def test_the_base_image_can_be_pinned_by_digest(image: str) -> None:
    # A digest names a manifest in a registry: an image built locally (the offline base) has one
    # only once pushed. Pushed, then every local name of it in that repository dropped, so the
    # build must fetch the base by its digest, as from any registry.
    base = os.environ.get("BYOC_BASE_IMAGE") or "python:3.11-slim-bookworm"
    repository = f"{registry()}/byoc-test/base"
    images.docker("tag", base, f"{repository}:latest")
    images.docker("push", f"{repository}:latest", timeout=600)
    pinned = next(d for d in images.inspect(base)["RepoDigests"] if d.startswith(repository + "@sha256:"))
    tag = f"{IMAGE}-pinned"

    def forget() -> None:
        images.docker("image", "rm", f"{repository}:latest", pinned, tag, check=False)

    forget()
    try:
        images.build(tag, base_image=pinned, platform=None, context=REPO, echo=None)
        assert pinned in images.inspect(base)["RepoDigests"]  # fetched by its digest
        base_layers = images.inspect(base)["RootFS"]["Layers"]
        built_layers = images.inspect(tag)["RootFS"]["Layers"]
        assert built_layers[:len(base_layers)] == base_layers and len(built_layers) > len(base_layers)
        # And the digest is what counts: one that no image has stops the build.
        missing = f"{repository}@sha256:{'0' * 64}"
        with pytest.raises(images.BuildFailed) as failed:
            images.build(f"{IMAGE}-missing", base_image=missing, platform=None, context=REPO, echo=None)
        assert "manifest unknown" in failed.value.log.lower(), failed.value.log[-2000:]
    finally:
        forget()
