"""Reading resourceconfig.json: which host this is, and which one trains.

scikit-learn trains on one machine. When a job has several hosts, the first host of the
sorted list trains and writes the model; the others log why they do nothing, wait for it to
finish (container.leader) and exit 0, so the job completes instead of racing to write
/opt/ml/model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from .errors import ConfigError


@dataclass(frozen=True)
class Resources:
    current_host: str = "algo-1"
    hosts: tuple[str, ...] = ("algo-1",)
    instance_type: str = "local"
    network_interface_name: str = "eth0"
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def leader(self) -> str:
        return sorted(self.hosts)[0]

    @property
    def is_leader(self) -> bool:
        return self.current_host == self.leader

    @property
    def host_count(self) -> int:
        return len(self.hosts)


def parse(raw: Mapping[str, Any] | None) -> Resources:
    """Resources from the file's JSON; a missing file (None) means one local host."""
    if raw is None:
        return Resources()
    if not isinstance(raw, Mapping):
        raise ConfigError("resourceconfig.json must hold a JSON object.")
    hosts = raw.get("hosts") or [raw.get("current_host", "algo-1")]
    if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
        raise ConfigError('resourceconfig.json: "hosts" must be a list of host names.')
    current = raw.get("current_host") or sorted(hosts)[0]
    if current not in hosts:
        raise ConfigError(
            f'resourceconfig.json: current_host "{current}" is not among hosts {hosts}.'
        )
    known = {"current_host", "hosts", "current_instance_type", "network_interface_name"}
    return Resources(
        current_host=current,
        hosts=tuple(hosts),
        instance_type=str(raw.get("current_instance_type", "local")),
        network_interface_name=str(raw.get("network_interface_name", "eth0")),
        extra={k: v for k, v in raw.items() if k not in known},
    )
