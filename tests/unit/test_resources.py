"""resourceconfig.json: which host this is, and which host trains."""

from __future__ import annotations

import pytest

from container import resources
from container.errors import ConfigError


def test_missing_file_means_one_local_host() -> None:
    res = resources.parse(None)
    assert res.current_host == "algo-1"
    assert res.hosts == ("algo-1",)
    assert res.host_count == 1
    assert res.is_leader
    assert res.instance_type == "local"
    assert res.network_interface_name == "eth0"


def test_platform_file() -> None:
    res = resources.parse({
        "current_host": "algo-2",
        "hosts": ["algo-1", "algo-2", "algo-3"],
        "current_instance_type": "ml.m5.xlarge",
        "current_group_name": "homogeneousCluster",
        "network_interface_name": "eth1",
        "instance_groups": [{"instance_group_name": "homogeneousCluster", "hosts": ["algo-1"]}],
    })
    assert res.current_host == "algo-2"
    assert res.host_count == 3
    assert res.leader == "algo-1"
    assert not res.is_leader
    assert res.instance_type == "ml.m5.xlarge"
    assert res.network_interface_name == "eth1"
    assert res.extra["current_group_name"] == "homogeneousCluster"
    assert "instance_groups" in res.extra and "hosts" not in res.extra


def test_leader_is_the_first_of_the_sorted_hosts_whatever_the_file_order() -> None:
    res = resources.parse({"current_host": "algo-1-x7k2q", "hosts": ["algo-2-x7k2q", "algo-1-x7k2q"]})
    assert res.leader == "algo-1-x7k2q"
    assert res.is_leader
    other = resources.parse({"current_host": "algo-2-x7k2q", "hosts": ["algo-2-x7k2q", "algo-1-x7k2q"]})
    assert not other.is_leader


def test_partial_files_get_defaults() -> None:
    assert resources.parse({}).hosts == ("algo-1",)
    only_host = resources.parse({"current_host": "sagemaker-local"})
    assert only_host.hosts == ("sagemaker-local",) and only_host.is_leader
    only_hosts = resources.parse({"hosts": ["algo-2", "algo-1"]})
    assert only_hosts.current_host == "algo-1"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"current_host": "algo-9", "hosts": ["algo-1", "algo-2"]}, "not among hosts"),
        ({"hosts": "algo-1"}, "list of host names"),
        ({"hosts": [1, 2]}, "list of host names"),
        (["algo-1"], "JSON object"),
    ],
)
def test_bad_files(raw: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resources.parse(raw)  # type: ignore[arg-type]
