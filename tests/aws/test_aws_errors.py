"""AWS errors that used to escape translate() as tracebacks: each becomes one `byoc:` line and
the exit code of its kind (3 cannot reach AWS, 1 the answer broke off), however boto3 wraps it.

The faults are real: S3's endpoint (AWS_ENDPOINT_URL_S3) is pointed at a port where nothing
listens, at a server that resets every connection, or at a proxy in front of moto_server that
cuts GetObject's body short; a read timeout comes from a server that never answers. Everything
else goes to moto_server as usual.
"""

from __future__ import annotations

import socket
import struct
import threading
import urllib.parse
from pathlib import Path
from typing import Iterator

import pytest

from aws_helpers import DEFAULT_BUCKET, IMAGE, ROLE
from byoc.aws import session as aws_session
from byoc.errors import Failed
from fault_http import FaultHandler, FaultServer

pytestmark = pytest.mark.aws


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Resetter:
    """Accepts connections on 127.0.0.1 and resets each once the request has arrived."""

    def __init__(self, stall: bool = False) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.stall = stall
        self.accepted = 0
        self.requests: list[str] = []
        self.released = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            self.requests.append(conn.recv(65536).split(b"\r\n", 1)[0].decode(errors="replace"))
            if self.stall:  # say nothing until the test ends
                threading.Thread(target=lambda c=conn: (self.released.wait(30), c.close()), daemon=True).start()
                continue
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    def close(self) -> None:
        self.released.set()
        self.listener.close()


@pytest.fixture
def resetter() -> Iterator[_Resetter]:
    server = _Resetter()
    yield server
    server.close()


def test_an_s3_endpoint_nobody_answers_is_a_setup_error(aws, byoc, sample_data, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{_closed_port()}")
    run = byoc("train", "--image", IMAGE, "--role", ROLE, "--channel", f"train={sample_data['train']}")
    assert run.code == 3, run.err
    assert "byoc: Cannot reach AWS for s3:ListBucket: Could not connect to the endpoint URL" in run.err
    assert "Check the network, a proxy (HTTPS_PROXY) and AWS_ENDPOINT_URL" in run.err
    assert "Traceback" not in run.err


def test_an_s3_endpoint_that_resets_every_connection_is_a_failure_after_the_retries(
        aws, byoc, sample_data, monkeypatch, resetter: _Resetter) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", resetter.url)
    run = byoc("train", "--image", IMAGE, "--role", ROLE, "--channel", f"train={sample_data['train']}")
    assert run.code == 1, run.err
    assert "byoc: s3:ListBucket: no complete answer from AWS after 4 attempts" in run.err
    assert "Check the network" in run.err  # a read: nothing to look for before trying again
    assert resetter.accepted == aws_session.ATTEMPTS, resetter.requests  # botocore's standard retries, then the error
    assert "Traceback" not in run.err
    assert aws.client("sagemaker").list_training_jobs()["TrainingJobSummaries"] == []


def test_a_read_timeout_is_a_failure_that_says_the_outcome_is_unknown() -> None:
    import boto3
    from botocore.config import Config

    silent = _Resetter(stall=True)
    try:
        client = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1").client(
            "s3", endpoint_url=silent.url, config=Config(read_timeout=0.5, connect_timeout=1,
                                                       retries={"mode": "standard", "max_attempts": 1}))
        with pytest.raises(Failed, match=r"s3:PutObject: no complete answer from AWS after .*Read timeout") as caught:
            with aws_session.translate("s3:PutObject"):
                client.put_object(Bucket="b", Key="k", Body=b"x")
        assert "may or may not have taken effect" in str(caught.value)  # a write: look before repeating it
    finally:
        silent.close()


class _CuttingProxy(FaultServer):
    """Forwards GET and HEAD to moto_server; a GetObject's body is cut off halfway (then the
    connection closes), so a download breaks off every time it is tried."""

    def __init__(self, upstream: str) -> None:
        super().__init__(_CuttingHandler)
        self.upstream = upstream
        self.cut = 0


class _CuttingHandler(FaultHandler):
    server: _CuttingProxy

    def do_HEAD(self) -> None:
        self.answer(*self.forward(self.server.upstream))

    def do_GET(self) -> None:
        status, body, headers = self.forward(self.server.upstream)
        if status == 200 and urllib.parse.urlsplit(self.path).path.count("/") > 1:  # /bucket/key: GetObject
            self.server.cut += 1
            self.answer(status, body, headers, send=len(body) // 2)
        else:
            self.answer(status, body, headers)


def test_a_model_download_that_breaks_off_every_time_is_a_failure(aws, byoc, model_dir, tmp_path: Path,
                                                                  monkeypatch) -> None:
    """s3transfer retries a broken download itself, then boto3 raises its RetriesExceededError."""
    from byoc import jobdir

    archive = jobdir.pack(model_dir, tmp_path / "model.tar.gz")
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=DEFAULT_BUCKET)
    s3.upload_file(str(archive), DEFAULT_BUCKET, "m/model.tar.gz")
    proxy = _CuttingProxy(aws.url).start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", proxy.url)
        run = byoc("deploy", "iris", "--image", IMAGE, "--role", ROLE, "--no-smoke",
                   "--model", f"s3://{DEFAULT_BUCKET}/m/model.tar.gz")
    finally:
        proxy.close()
    assert run.code == 1, run.err
    assert f"Checking s3://{DEFAULT_BUCKET}/m/model.tar.gz" in run.err  # HeadBucket and HeadObject went through
    assert "byoc: s3:GetObject: the transfer broke off each time it was tried" in run.err
    assert "Traceback" not in run.err
    assert proxy.cut >= 2, run.err  # tried more than once before giving up
    assert aws.sagemaker_inventory() == {"models": [], "configs": [], "endpoints": []}
