"""The lock files agree with pyproject.toml: a dependency added without `make lock` fails here.

requirements/image.lock is what the image installs (hash-checked), requirements/build.lock what it
builds the project's wheel with, requirements/dev.lock what a checkout installs under as
constraints. The image's own tests check the installed packages against the lock
(tests/docker/test_docker_lock.py); these check the files, for the image's Python on both of
SageMaker's architectures.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from locks import LOCKS, STALE, environment, read_lock, resolved  # tests/locks.py

PYPROJECT = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())


# The offline base's Debian Python, and a later 3.11 as in python:3.11-slim; amd64 and arm64.
IMAGES = [environment(python, machine) for python in ("3.11.2", "3.11.14") for machine in ("x86_64", "aarch64")]


def test_every_pin_is_exact_and_hashed() -> None:
    for name in ("image.lock", "build.lock"):
        pins = read_lock(LOCKS / name)
        assert pins, name
        for pin in pins:
            assert str(pin.requirement.specifier).startswith("=="), (name, pin)
            assert pin.hashes, f"{name}: {pin.name} has no hash"
    for pin in read_lock(LOCKS / "dev.lock"):
        assert str(pin.requirement.specifier).startswith("=="), pin
        assert not pin.hashes, "dev.lock is used as constraints for an editable install: no hashes"


@pytest.mark.parametrize("env", IMAGES, ids=lambda e: f"{e['python_full_version']}-{e['platform_machine']}")
def test_the_image_lock_pins_every_runtime_dependency(env: dict[str, str]) -> None:
    pins = resolved(read_lock(LOCKS / "image.lock"), env)
    for text in PYPROJECT["project"]["dependencies"]:
        wanted = Requirement(text)
        if wanted.marker is not None and not wanted.marker.evaluate(env):
            continue
        pin = pins.get(canonicalize_name(wanted.name))
        assert pin is not None, f"{wanted.name} is not in image.lock: {STALE}"
        assert wanted.specifier.contains(pin.version, prereleases=True), \
            f"image.lock pins {pin.name}=={pin.version}, outside {wanted}: {STALE}"


@pytest.mark.parametrize("env", IMAGES, ids=lambda e: f"{e['python_full_version']}-{e['platform_machine']}")
def test_the_image_runs_the_versions_a_checkout_tests(env: dict[str, str]) -> None:
    image = resolved(read_lock(LOCKS / "image.lock"), env)
    dev = resolved(read_lock(LOCKS / "dev.lock"), env)
    for name, pin in image.items():
        assert name in dev and dev[name].version == pin.version, \
            f"image.lock has {name}=={pin.version}, dev.lock {dev.get(name) and dev[name].version}: {STALE}"


def test_the_dev_lock_pins_what_every_extra_asks_for() -> None:
    # A checkout installs .[dev] under dev.lock: an extra's new dependency must be pinned too.
    project = canonicalize_name(PYPROJECT["project"]["name"])
    for extra, requirements in PYPROJECT["project"]["optional-dependencies"].items():
        env = {**environment("3.11.14", "x86_64"), "extra": extra}  # a Linux x86_64 checkout, as CI runs
        pins = resolved(read_lock(LOCKS / "dev.lock"), env)
        for text in requirements:
            wanted = Requirement(text)
            if canonicalize_name(wanted.name) == project or (wanted.marker and not wanted.marker.evaluate(env)):
                continue
            pin = pins.get(canonicalize_name(wanted.name))
            assert pin is not None, f"{wanted.name} (extra {extra!r}) is not in dev.lock: {STALE}"
            assert wanted.specifier.contains(pin.version, prereleases=True), \
                f"dev.lock pins {pin.name}=={pin.version}, outside {wanted}: {STALE}"


def test_the_build_lock_pins_the_build_system() -> None:
    pins = resolved(read_lock(LOCKS / "build.lock"), IMAGES[0])
    for text in [*PYPROJECT["build-system"]["requires"], "wheel"]:
        wanted = Requirement(text)
        pin = pins.get(canonicalize_name(wanted.name))
        assert pin is not None and wanted.specifier.contains(pin.version), f"{wanted}: {STALE}"


def test_the_locks_say_how_they_are_made() -> None:
    for name in ("image.lock", "build.lock", "dev.lock"):
        assert "#    make lock\n" in (LOCKS / name).read_text(), name
