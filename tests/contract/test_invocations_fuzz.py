"""A short seeded fuzz run of /invocations against a real `serve` (tests/contract/invocations_fuzz.py):
0 5xx, no traceback in any body or in the log, no worker replaced, every /ping under 2 s.
The long run (10,000 requests and more) is benchmarks/stress.py's."""

from __future__ import annotations

import pytest

import invocations_fuzz as fuzz

REQUESTS = 600


@pytest.fixture(scope="module")
def server(shared_server):
    # Two workers, as the stress runs; BYOC_READ_TIMEOUT=1 so that a head that never ends (a
    # TLS hello) is answered 408 in a second rather than twenty.
    return shared_server("fuzz", {"MODEL_SERVER_WORKERS": "2", "BYOC_READ_TIMEOUT": "1"})


def test_a_seeded_run_finds_nothing(server) -> None:
    fuzz.wait_for_workers(server.process.pid, 2)
    port = int(server.url.rsplit(":", 1)[1])
    result = fuzz.run(port, REQUESTS, seed=12, master=server.process.pid, log=lambda: server.log)
    assert result.ok(), result.summary() + "\n" + "\n".join(result.problems[:20])
    assert result.requests == REQUESTS
    assert set(result.kinds) == set(fuzz.KINDS)  # every kind of request was sent
    assert result.statuses[200] and result.statuses[400] and result.statuses[406] and result.statuses[413]
    assert len(result.pings) > 10


def test_the_checks_can_fail() -> None:
    # What run() counts as wrong, on answers a broken server would give.
    case = fuzz.Case("csv", b"")
    assert fuzz.check(case, fuzz.Answer(500, {"content-type": "application/json"}, b'{"error": "x"}')) \
        == ["500", "error without its request id"]
    assert "traceback" in fuzz.check(case, fuzz.Answer(400, {}, b"Traceback (most recent call last):"))
    assert fuzz.check(case, fuzz.Answer(400, {}, b"<html>Bad Request</html>")) == ["error not JSON"]
    good = fuzz.Answer(400, {"x-request-id": "ab"}, b'{"error": "RequestError", "message": "m", "request_id": "ab"}')
    assert fuzz.check(case, good) == []
    result = fuzz.Result(pings=[0.1, 2.5])
    assert not result.ok()  # a ping over SageMaker's 2 s
