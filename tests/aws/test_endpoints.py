"""deploy -> InService -> invoke -> delete against moto_server, and deploy over a live endpoint.

What moto cannot show, and these tests therefore do not claim:
- moto runs no container: an endpoint is InService the moment it is created, and invoke_endpoint
  answers "body" (or what the test queued through moto's own API) without any model behind it.
  The invoke tests prove how the command sends the request and prints the answer, nothing more.
- moto has no UpdateEndpoint: the blue/green switch is proven against moto only up to the call
  (and the clean-up when it fails); the path after a successful update runs with UpdateEndpoint
  emulated inside the test, which is said where it happens.
"""

from __future__ import annotations

import shlex
from typing import Any

import pytest

from aws_helpers import IMAGE, ROLE, sent

pytestmark = pytest.mark.aws

BUCKET = "sagemaker-us-east-1-123456789012"  # the default bucket: sagemaker-REGION-ACCOUNT


def deploy(byoc, model, *extra: str, name: str = "iris"):
    return byoc("deploy", name, "--image", IMAGE, "--model", model, "--role", ROLE, *extra)


def hint(err: str, lead: str) -> list[str]:
    """The `byoc ...` command a printed hint gives, as argv (without `byoc`)."""
    (line,) = [line for line in err.splitlines() if lead in line]
    command = line.split("`byoc ", 1)[1].split("`", 1)[0] if "`byoc " in line else line.split("byoc ", 1)[1]
    return shlex.split(command.split(" (", 1)[0])


def test_deploy_wait_invoke_delete_leaves_nothing_behind(aws, byoc, model_dir, calls) -> None:
    run = deploy(byoc, model_dir, "--wait", "--workers", "2", "--model-server-timeout", "30")
    assert run.code == 0, run.err
    assert run.last_line == "iris"  # the one result a script captures
    sm = aws.client("sagemaker")
    endpoint = sm.describe_endpoint(EndpointName="iris")
    assert endpoint["EndpointStatus"] == "InService"
    config = sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    (variant,) = config["ProductionVariants"]
    assert (variant["InstanceType"], variant["InitialInstanceCount"]) == ("ml.m5.large", 1)
    model = sm.describe_model(ModelName=variant["ModelName"])
    assert model["ExecutionRoleArn"] == ROLE
    container = model["PrimaryContainer"]
    assert container["Image"] == IMAGE
    assert container["Environment"] == {"MODEL_SERVER_WORKERS": "2", "MODEL_SERVER_TIMEOUT": "30"}
    # the archive uploaded is the model folder with its files at the root
    key = container["ModelDataUrl"].removeprefix(f"s3://{BUCKET}/")
    assert key == f"byoc/models/{variant['ModelName']}/model.tar.gz"
    assert key in aws.s3_keys(BUCKET)
    # --wait used the waiter, and the smoke request went out (moto answers it without a model)
    assert "InService" in run.err
    (smoke,) = sent(calls, "InvokeEndpoint")
    assert smoke["Body"] == b"0,0,0,0\n" and smoke["ContentType"] == "text/csv"

    # the hint deploy printed is a command that runs as printed
    assert hint(run.err, "Invoke it:") == ["invoke", "iris", "--body", "0,0,0,0", "--content-type", "text/csv"]
    run = byoc(*hint(run.err, "Invoke it:"))
    assert run.code == 0, run.err
    run = byoc("invoke", "iris", "--body", "5.1,3.5,1.4,0.2")
    assert run.code == 0, run.err
    assert run.out == "body\n"  # moto's canned answer: no container ran

    run = byoc("delete", "iris", "--wait")
    assert run.code == 0, run.err
    assert aws.sagemaker_inventory() == {"models": [], "configs": [], "endpoints": []}
    assert key in aws.s3_keys(BUCKET)  # "nothing else": S3 artifacts stay
    deleted = [name for name, _ in calls if name.startswith("Delete")]
    assert deleted == ["DeleteEndpoint", "DeleteEndpointConfig", "DeleteModel"]  # the documented order


def test_delete_removes_only_what_the_endpoint_uses(aws, byoc, model_dir) -> None:
    assert deploy(byoc, model_dir, name="keep").code == 0
    assert deploy(byoc, model_dir, name="drop").code == 0
    before = aws.sagemaker_inventory()
    assert byoc("delete", "drop").code == 0
    after = aws.sagemaker_inventory()
    assert after["endpoints"] == ["keep"]
    assert after["models"] == [m for m in before["models"] if m.startswith("keep-")]
    assert after["configs"] == [c for c in before["configs"] if c.startswith("keep-")]


def test_delete_of_a_missing_endpoint_exits_5(aws, byoc) -> None:
    run = byoc("delete", "nope")
    assert run.code == 5 and "endpoint nope does not exist; nothing was deleted" in run.err


def test_deploy_without_wait_prints_the_endpoint_and_leaves_it_creating(aws, byoc, model_dir, calls,
                                                                         tmp_path) -> None:
    run = deploy(byoc, model_dir)
    assert run.code == 0 and run.last_line == "iris"
    assert sent(calls, "InvokeEndpoint") == []  # no smoke request without --wait
    # the hint runs as printed, FILE being the user's file
    command = hint(run.err, "waits until it is InService")
    assert command == ["invoke", "iris", "FILE", "--wait"]
    rows = tmp_path / "rows.csv"
    rows.write_text("5.1,3.5,1.4,0.2\n")
    run = byoc(*[str(rows) if a == "FILE" else a for a in command])
    assert run.code == 0, run.err
    assert "endpoint iris: InService" in run.err and sent(calls, "InvokeEndpoint")[0]["Body"] == rows.read_bytes()


def test_a_smoke_payload_file_is_what_the_invoke_hint_sends(aws, byoc, model_dir, tmp_path, calls) -> None:
    payload = tmp_path / "payload.csv"
    payload.write_text("5.1,3.5,1.4,0.2\n6.2,2.9,4.3,1.3\n")
    run = deploy(byoc, model_dir, "--wait", "--smoke-payload", payload)
    assert run.code == 0, run.err
    command = hint(run.err, "Invoke it:")
    assert command == ["invoke", "iris", str(payload), "--content-type", "text/csv"]
    assert byoc(*command).code == 0
    assert [c["Body"] for c in sent(calls, "InvokeEndpoint")] == [payload.read_bytes()] * 2


@pytest.mark.parametrize("extra", [(), ("--wait",)])
def test_an_empty_model_argument_is_refused(aws, byoc, extra) -> None:
    """Not taken for the current folder (which then failed with a message about an archive)."""
    run = deploy(byoc, "", *extra)
    assert run.code == 2
    assert "--model is empty: give a model folder, a model.tar.gz or an s3://" in run.err
    assert "archive" not in run.err and "tar.gz (" not in run.err
    run = byoc("transform", "--image", IMAGE, "--role", ROLE, "--model", "", "--input", "s3://b/in/")
    assert run.code == 2 and "--model is empty" in run.err
    assert aws.sagemaker_inventory() == {"models": [], "configs": [], "endpoints": []}
    assert aws.client("s3").list_buckets()["Buckets"] == []


def test_deploy_of_an_s3_model_checks_it_and_uploads_nothing(aws, byoc, model_dir, tmp_path) -> None:
    from byoc import jobdir

    archive = jobdir.pack(model_dir, tmp_path / "model.tar.gz")
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="artifacts")
    s3.upload_file(str(archive), "artifacts", "training/job-1/output/model.tar.gz")
    run = deploy(byoc, "s3://artifacts/training/job-1/output/model.tar.gz", "--no-smoke", "--wait")
    assert run.code == 0, run.err
    assert "Checking s3://artifacts/training/job-1/output/model.tar.gz" in run.err
    (model,) = aws.sagemaker_inventory()["models"]
    url = aws.client("sagemaker").describe_model(ModelName=model)["PrimaryContainer"]["ModelDataUrl"]
    assert url == "s3://artifacts/training/job-1/output/model.tar.gz"
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["artifacts"]  # no default bucket made


def test_deploy_over_an_existing_endpoint_uses_update_endpoint_and_moto_lacks_it(aws, byoc, model_dir, calls) -> None:
    assert deploy(byoc, model_dir, "--wait", "--no-smoke").code == 0
    before = aws.sagemaker_inventory()
    first_config = aws.client("sagemaker").describe_endpoint(EndpointName="iris")["EndpointConfigName"]

    run = deploy(byoc, model_dir, "--wait", "--no-smoke")
    # Not CreateEndpoint (real AWS refuses an existing name; moto would silently overwrite it):
    assert len(sent(calls, "CreateEndpoint")) == 1
    updates = sent(calls, "UpdateEndpoint")  # botocore retries a 500: the same request each time
    assert updates and all(u == updates[0] for u in updates)
    update = updates[0]
    assert update["EndpointName"] == "iris" and update["EndpointConfigName"] != first_config
    assert update["RetainAllVariantProperties"] is False
    # moto answers a bare HTTP 500: detected, said plainly, its own exit code
    assert run.code == 6, run.err
    assert "UpdateEndpoint is not implemented by http://127.0.0.1:" in run.err
    assert "That is how moto answers calls it lacks" in run.err
    # and the half-made new model and config are removed again; the endpoint is untouched
    assert aws.sagemaker_inventory() == before
    assert aws.client("sagemaker").describe_endpoint(EndpointName="iris")["EndpointConfigName"] == first_config


@pytest.fixture
def emulated_update_endpoint(monkeypatch: pytest.MonkeyPatch, aws) -> list[dict[str, Any]]:
    """TEST EMULATION, not moto and not AWS: UpdateEndpoint answered by replacing moto's endpoint
    with one on the new config (delete + create on moto), so the steps after a successful update
    can run. It proves our bookkeeping, not SageMaker's blue/green behaviour."""
    from botocore.client import BaseClient

    updates: list[dict[str, Any]] = []
    original = BaseClient._make_api_call

    def call(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if operation == "UpdateEndpoint":
            updates.append(params)
            original(self, "DeleteEndpoint", {"EndpointName": params["EndpointName"]})
            original(self, "CreateEndpoint", {"EndpointName": params["EndpointName"],
                                              "EndpointConfigName": params["EndpointConfigName"]})
            return {"EndpointArn": "emulated"}
        return original(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", call)
    return updates


def test_after_a_successful_blue_green_update_the_previous_config_and_model_are_removed(
        aws, byoc, model_dir, emulated_update_endpoint) -> None:
    assert deploy(byoc, model_dir, "--wait", "--no-smoke").code == 0
    old = aws.sagemaker_inventory()
    run = deploy(byoc, model_dir, "--wait", "--no-smoke")
    assert run.code == 0, run.err
    assert len(emulated_update_endpoint) == 1
    new = aws.sagemaker_inventory()
    assert new["endpoints"] == ["iris"]
    assert len(new["models"]) == len(new["configs"]) == 1
    assert set(new["models"]).isdisjoint(old["models"]) and set(new["configs"]).isdisjoint(old["configs"])
    assert f"Deleted previous endpoint config {old['configs'][0]}" in run.err
    # --keep-previous keeps them
    run = deploy(byoc, model_dir, "--wait", "--no-smoke", "--keep-previous")
    assert run.code == 0 and len(aws.sagemaker_inventory()["models"]) == 2


def test_a_deploy_that_does_not_wait_over_a_live_endpoint_says_what_stays(
        aws, byoc, model_dir, emulated_update_endpoint) -> None:
    assert deploy(byoc, model_dir, "--no-smoke").code == 0
    run = deploy(byoc, model_dir)
    assert run.code == 0
    assert "stay until you remove them" in run.err
    assert len(aws.sagemaker_inventory()["models"]) == 2


def test_invoke_prints_the_answer_and_sends_what_it_was_given(aws, byoc, calls, tmp_path, model_dir) -> None:
    """EMULATOR BEHAVIOUR: the answer is queued through moto's own API; no container runs behind
    the endpoint."""
    assert deploy(byoc, model_dir, "--no-smoke", "--wait").code == 0
    calls.clear()
    aws.queue_invoke_results([{"Body": '{"predictions": [0]}', "ContentType": "application/json",
                               "InvokedProductionVariant": "AllTraffic", "CustomAttributes": ""}])
    payload = tmp_path / "payload.csv"
    payload.write_text("5.1,3.5,1.4,0.2\n")
    run = byoc("invoke", "iris", payload, "--accept", "application/json",
               "--custom-attributes", "output=probabilities")
    assert run.code == 0, run.err
    assert run.out == '{"predictions": [0]}\n'
    assert "of application/json from variant AllTraffic" in run.err
    (request,) = sent(calls, "InvokeEndpoint")
    assert request == {"EndpointName": "iris", "Body": b"5.1,3.5,1.4,0.2\n", "ContentType": "text/csv",
                       "Accept": "application/json", "CustomAttributes": "output=probabilities"}


def test_invoke_reads_stdin_and_can_write_the_answer_to_a_file(aws, byoc, calls, tmp_path, model_dir) -> None:
    assert deploy(byoc, model_dir).code == 0
    out = tmp_path / "answer.bin"
    run = byoc("invoke", "iris", "-", "--output", out, "--wait", stdin=b"1,2,3,4\n")
    assert run.code == 0, run.err
    assert "endpoint iris: InService" in run.err  # --wait: the endpoint first
    assert sent(calls, "InvokeEndpoint")[0]["Body"] == b"1,2,3,4\n"
    assert out.read_bytes() == b"body" and run.out == ""  # moto's canned answer, in the file


def test_invoke_on_a_missing_endpoint_exits_5_without_sending(aws, byoc, calls) -> None:
    """moto's InvokeEndpoint answers any name; the command looks the endpoint up first."""
    run = byoc("invoke", "Iris", "--body", "5.1,3.5,1.4,0.2")
    assert run.code == 5
    assert "endpoint Iris does not exist in us-east-1" in run.err and "case-sensitive" in run.err
    assert run.out == "" and sent(calls, "InvokeEndpoint") == []


def test_invoke_refuses_two_bodies_at_once(aws, byoc) -> None:
    run = byoc("invoke", "iris", "-", "--body", "x")
    assert run.code == 2 and "not two of them" in run.err
