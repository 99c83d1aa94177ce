"""Batch transform through a real `serve`: one output line per record, in order, per file, and
whole despite a connection reset or stalled on the way (a fault-injecting proxy in between)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pytest
import requests

from byoc import transform
from fault_http import FaultHandler, FaultServer


def _features(sample_data: dict[str, Path]) -> np.ndarray:
    rows = np.loadtxt(next(sample_data["test"].glob("*.csv")), delimiter=",", ndmin=2)
    return rows[:, 1:]


def test_multi_record_batches_line_up_with_the_input(serve, sample_data, tmp_path: Path) -> None:
    server = serve(env={"SAGEMAKER_BATCH": "true"})
    features = _features(sample_data)
    inputs = tmp_path / "in"
    (inputs / "nested").mkdir(parents=True)
    np.savetxt(inputs / "a.csv", features[:10], delimiter=",", fmt="%g")
    np.savetxt(inputs / "nested" / "b.csv", features[10:], delimiter=",", fmt="%g")

    # A tiny payload limit forces many requests; the answer must not depend on it.
    result = transform.run(server.url, inputs, tmp_path / "out", max_payload_mb=64 / (1024 * 1024))
    assert result.ok, result.files
    assert result.parameters["BatchStrategy"] == "MultiRecord"  # the server says MULTI_RECORD
    assert sum(f.requests for f in result.files) > 2

    single = requests.post(server.url + "/invocations",
                           data="\n".join(",".join(f"{v:g}" for v in row) for row in features),
                           headers={"Content-Type": "text/csv"}, timeout=30)
    expected = single.text.splitlines()
    got = ((tmp_path / "out" / "a.csv.out").read_text().splitlines()
           + (tmp_path / "out" / "nested" / "b.csv.out").read_text().splitlines())
    assert got == expected and len(got) == len(features)


def test_single_record_and_json_lines(serve, sample_data, tmp_path: Path) -> None:
    server = serve()
    features = _features(sample_data)[:5]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(f"[{', '.join(f'{v:g}' for v in row)}]\n" for row in features))
    result = transform.run(server.url, source, tmp_path / "out", content_type="application/jsonlines",
                           accept="application/jsonlines", strategy="SingleRecord")
    assert result.ok, result.files
    assert result.files[0].requests == 5
    assert len((tmp_path / "out" / "in.jsonl.out").read_text().splitlines()) == 5


def test_a_bad_file_gets_no_output_and_the_others_go_on(serve, sample_data, tmp_path: Path) -> None:
    server = serve()
    inputs = tmp_path / "in"
    inputs.mkdir()
    np.savetxt(inputs / "good.csv", _features(sample_data)[:3], delimiter=",", fmt="%g")
    (inputs / "bad.csv").write_text("1,2,3,4\n1,2,x,4\n")
    result = transform.run(server.url, inputs, tmp_path / "out")
    by_name = {f.source.name: f for f in result.files}
    assert by_name["bad.csv"].output is None and "400" in by_name["bad.csv"].error
    assert "row 2, column 3" in by_name["bad.csv"].error
    assert by_name["good.csv"].error is None
    assert not (tmp_path / "out" / "bad.csv.out").exists()
    assert len((tmp_path / "out" / "good.csv.out").read_text().splitlines()) == 3


# -- faults between the emulator and a real `serve` ------------------------------------------------


class FaultProxy(FaultServer):
    """A proxy in front of a real `serve`: each request goes on, unless fault(n, body) for the
    n-th POST says "reset" (RST once the body is read) or "stall" (no answer until the test ends)."""

    def __init__(self, upstream: str, fault: Callable[[int, bytes], str | None]) -> None:
        super().__init__(_ProxyHandler)
        self.upstream = upstream
        self.fault = fault
        self.posts = 0
        self.faults: list[tuple[int, str]] = []


class _ProxyHandler(FaultHandler):
    server: FaultProxy

    def do_GET(self) -> None:
        self.answer(*self.forward(self.server.upstream))

    def do_POST(self) -> None:
        body = self.body()
        with self.server.lock:
            self.server.posts += 1
            fault = self.server.fault(self.server.posts, body)
            if fault:
                self.server.faults.append((self.server.posts, fault))
        if fault == "reset":
            self.reset()
        elif fault == "stall":
            self.stall()
        else:
            self.answer(*self.forward(self.server.upstream, body))


@pytest.fixture
def proxy() -> Iterator[Callable[..., FaultProxy]]:
    started: list[FaultProxy] = []

    def start(upstream: str, fault: Callable[[int, bytes], str | None]) -> FaultProxy:
        started.append(FaultProxy(upstream, fault))
        started[-1].start()
        return started[-1]

    yield start
    for server in started:
        server.close()


def _inputs(tmp_path: Path, **files: np.ndarray | str) -> Path:
    """A folder of input files: name=rows (written as CSV) or name=text."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name, content in files.items():
        if isinstance(content, str):
            (folder / f"{name}.csv").write_text(content)
        else:
            np.savetxt(folder / f"{name}.csv", content, delimiter=",", fmt="%g")
    return folder


def _predicted(server_url: str, rows: np.ndarray) -> list[str]:
    """What serve answers for rows in one request: the reference for the transform's output."""
    answer = requests.post(server_url + "/invocations", data="\n".join(",".join(f"{v:g}" for v in r) for r in rows),
                           headers={"Content-Type": "text/csv"}, timeout=30)
    answer.raise_for_status()
    return answer.text.splitlines()


def test_a_reset_and_a_stall_are_sent_again_and_the_output_is_whole(serve, sample_data, proxy,
                                                                   tmp_path: Path) -> None:
    server = serve(env={"SAGEMAKER_BATCH": "true"})
    features = _features(sample_data)
    inputs = _inputs(tmp_path, a=features[:20], b=features[20:])
    faults = {2: "reset", 5: "stall"}
    front = proxy(server.url, lambda n, body: faults.get(n))
    logged: list[str] = []
    result = transform.run(front.url, inputs, tmp_path / "out", max_payload_mb=64 / (1024 * 1024),
                           max_concurrent=1, invocations_timeout=2, retry_backoff=0.05, log=logged.append)
    assert result.ok, result.files
    assert front.faults == [(2, "reset"), (5, "stall")]
    assert sum(f.retries for f in result.files) == 2 and len(logged) == 2
    assert "the connection broke" in logged[0] and "no answer within 2 s" in logged[1]
    assert front.posts == sum(f.requests for f in result.files) + 2
    got = ((tmp_path / "out" / "a.csv.out").read_text().splitlines()
           + (tmp_path / "out" / "b.csv.out").read_text().splitlines())
    assert got == _predicted(server.url, features)


def test_a_request_that_keeps_failing_fails_its_file_and_the_others_go_on(serve, sample_data, proxy,
                                                                         tmp_path: Path) -> None:
    server = serve(env={"SAGEMAKER_BATCH": "true"})
    features = _features(sample_data)
    # The proxy resets whatever holds 7.77: b.csv's second record, however often it is sent.
    inputs = _inputs(tmp_path, a=features[:5], b="5.1,3.5,1.4,0.2\n7.77,3.0,5.0,1.5\n", c=features[5:10])
    front = proxy(server.url, lambda n, body: "reset" if b"7.77" in body else None)
    result = transform.run(front.url, inputs, tmp_path / "out", strategy="SingleRecord",
                           invocations_timeout=5, retry_backoff=0.05, log=lambda message: None)
    by_name = {f.source.name: f for f in result.files}
    assert by_name["b.csv"].output is None and by_name["b.csv"].retries == 3
    assert "request 2 (records 2-2) failed 4 time(s)" in by_name["b.csv"].error
    assert len(front.faults) == 4  # InvocationsMaxRetries=3: sent four times in all
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.csv.out", "c.csv.out"]
    assert (tmp_path / "out" / "c.csv.out").read_text().splitlines() == _predicted(server.url, features[5:10])
