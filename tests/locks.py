"""Reading the lock files in requirements/ (as uv writes them) for the tests that check them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

LOCKS = Path(__file__).resolve().parents[1] / "requirements"
STALE = "requirements/ is stale: run `make lock` and commit it"


@dataclass(frozen=True)
class Pin:
    requirement: Requirement
    hashes: tuple[str, ...]

    @property
    def name(self) -> str:
        return canonicalize_name(self.requirement.name)

    @property
    def version(self) -> str:
        (spec,) = self.requirement.specifier
        return spec.version

    def applies(self, environment: dict[str, str]) -> bool:
        marker = self.requirement.marker
        return marker is None or marker.evaluate(environment)


def read_lock(path: Path) -> list[Pin]:
    """A pip requirements file as uv writes it: `name==version ; marker \\` then `--hash=` lines."""
    logical = re.sub(r"\\\n", " ", path.read_text())
    pins = []
    for line in logical.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        hashes = tuple(re.findall(r"--hash=(sha256:[0-9a-f]{64})", line))
        pins.append(Pin(Requirement(re.sub(r"\s*--hash=\S+", "", line)), hashes))
    return pins


def environment(python: str, machine: str) -> dict[str, str]:
    """The marker environment of the image: Linux, CPython `python`, on `machine`."""
    env = dict(default_environment())
    env.update(python_full_version=python, python_version=".".join(python.split(".")[:2]),
               platform_machine=machine, sys_platform="linux", platform_system="Linux", os_name="posix",
               implementation_name="cpython", platform_python_implementation="CPython")
    return env


def resolved(pins: list[Pin], env: dict[str, str]) -> dict[str, Pin]:
    """The pins that apply in `env`, by name: one at most for each."""
    chosen: dict[str, Pin] = {}
    for pin in pins:
        if pin.applies(env):
            assert pin.name not in chosen, f"two pins of {pin.name} apply on {env['python_full_version']}"
            chosen[pin.name] = pin
    return chosen
