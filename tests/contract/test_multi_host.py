"""Two `train` processes as two hosts of one job (loopback names): the non-leader outlives the
leader's training, then exits 0, whatever ended the leader."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Callable

import pytest

from byoc import local
from container.paths import Paths
from contract_helpers import package_env

HOSTS = ["127.0.0.1", "localhost"]  # sorted: 127.0.0.1 is the leader


def two_hosts(make_job: Callable[..., Paths], data: Path, seconds: float) -> dict[str, Paths]:
    made = {}
    for host in HOSTS:
        paths = make_job({"train": data}, {"seconds": seconds})
        paths.resourceconfig_file.write_text(json.dumps({"current_host": host, "hosts": HOSTS}))
        made[host] = paths
    return made


@pytest.fixture
def env() -> dict[str, str]:
    return {**package_env("byoc_fx_slowfit"), "BYOC_LEADER_PORT": str(local.free_port())}


def test_the_non_leader_waits_until_the_leader_has_trained(make_job, sample_data, env) -> None:
    hosts = two_hosts(make_job, sample_data["train"], seconds=4)
    other = local.Child(local.PYTHON.train(hosts["localhost"].base, env)).start()  # first, as compose may
    lead = local.Child(local.PYTHON.train(hosts["127.0.0.1"].base, env)).start()
    try:
        assert lead.wait() == 0, lead.log
        lead_ended = time.monotonic()
        assert other.wait() == 0, other.log
        assert time.monotonic() - lead_ended < 10
    finally:
        lead.stop(5)
        other.stop(5)
    assert (hosts["127.0.0.1"].model_dir / "model.skops").is_file()
    assert not any(hosts["localhost"].model_dir.iterdir())
    assert "Waiting for the leader 127.0.0.1 to finish" in other.log
    waited = float(other.log.split("the leader 127.0.0.1 finished after ")[1].split(" s")[0])
    assert waited >= 3  # the leader's fit sleeps 4 s


def test_a_leader_killed_outright_releases_the_waiting_host(make_job, sample_data, env) -> None:
    hosts = two_hosts(make_job, sample_data["train"], seconds=60)
    lead = local.Child(local.PYTHON.train(hosts["127.0.0.1"].base, env)).start()
    other = local.Child(local.PYTHON.train(hosts["localhost"].base, env)).start()
    try:
        deadline = time.monotonic() + 60
        while "Waiting for the leader" not in other.log or "SLOWFIT: fit started" not in lead.log:
            assert time.monotonic() < deadline, other.log + lead.log
            time.sleep(0.1)
        assert lead.process is not None
        lead.process.send_signal(signal.SIGKILL)
        assert other.wait() == 0, other.log
    finally:
        lead.stop(5)
        other.stop(5)
    assert "the leader 127.0.0.1 finished after" in other.log
