"""States and errors moto never produces: endpoints that fail or take time, jobs that fail or
stop, a container's ModelError, a permission error from ECR.

botocore's Stubber answers the calls with scripted responses, so these test our handling around
the real boto3 client and waiters (the waiters' own acceptors decide success and failure), not
SageMaker itself.
"""

from __future__ import annotations

import io
from datetime import datetime, timezone

import pytest

from byoc.aws import ecr, endpoints, training, waiting
from byoc.errors import Failed, SetupError, TimedOut
from byoc.aws.session import AwsSession

pytestmark = pytest.mark.aws

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
ARN = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/iris"


def _stub(monkeypatch: pytest.MonkeyPatch, service: str):
    import boto3
    from botocore.stub import Stubber

    for key, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    client = boto3.session.Session(region_name="us-east-1").client(service)
    session = AwsSession("us-east-1", "test", None)
    session._clients[service] = client
    return session, client, Stubber(client)


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch):
    session, client, stubber = _stub(monkeypatch, "sagemaker")
    with stubber:
        yield session, client, stubber
        stubber.assert_no_pending_responses()


def _endpoint(status: str, **extra) -> dict:
    return {"EndpointName": "iris", "EndpointArn": ARN, "EndpointConfigName": "c", "EndpointStatus": status,
            "CreationTime": NOW, "LastModifiedTime": NOW, **extra}


def test_progress_shows_each_state_until_in_service(stubbed) -> None:
    session, client, stubber = stubbed
    for status in ("Creating", "Creating", "InService", "InService"):  # the last: the describe after
        stubber.add_response("describe_endpoint", _endpoint(status), {"EndpointName": "iris"})
    out = io.StringIO()
    final = endpoints.wait_in_service(session, "iris", delay=0, out=out)
    assert final["EndpointStatus"] == "InService"
    lines = out.getvalue().splitlines()
    assert [line.split("] ")[1] for line in lines] == ["endpoint iris: Creating", "endpoint iris: InService"]


def test_a_failed_endpoint_raises_with_the_failure_reason(stubbed) -> None:
    session, client, stubber = stubbed
    stubber.add_response("describe_endpoint", _endpoint("Creating"), {"EndpointName": "iris"})
    stubber.add_response("describe_endpoint",
                         _endpoint("Failed", FailureReason="The primary container did not pass the ping health check."),
                         {"EndpointName": "iris"})
    with pytest.raises(Failed, match="endpoint iris ended Failed: The primary container did not pass") as caught:
        endpoints.wait_in_service(session, "iris", delay=0, out=io.StringIO())
    assert caught.value.exit_code == 1


def test_a_timeout_says_the_work_goes_on(stubbed) -> None:
    session, client, stubber = stubbed
    stubber.add_response("describe_endpoint", _endpoint("Updating"), {"EndpointName": "iris"})
    with pytest.raises(TimedOut, match="iris is still Updating; it carries on in AWS") as caught:
        waiting.wait(client, "endpoint_in_service", {"EndpointName": "iris"}, label="endpoint iris",
                     status_of=endpoints.in_service_status, delay=0, timeout=0, out=io.StringIO())
    assert caught.value.exit_code == 4


@pytest.mark.parametrize("status,hint", [
    ("Creating", "--wait waits until it is InService"),
    ("Failed", "Remove it with `byoc delete iris`, then deploy again"),
])
def test_invoke_refuses_an_endpoint_that_takes_no_requests(stubbed, status, hint) -> None:
    session, client, stubber = stubbed
    stubber.add_response("describe_endpoint", _endpoint(status), {"EndpointName": "iris"})
    with pytest.raises(Failed, match=f"endpoint iris is {status}, not InService") as caught:
        endpoints.require_serving(session, "iris")
    assert hint in str(caught.value) and caught.value.exit_code == 1


def test_an_updating_endpoint_still_serves(stubbed) -> None:
    """During UpdateEndpoint the old config answers: invoke goes ahead."""
    session, client, stubber = stubbed
    stubber.add_response("describe_endpoint", _endpoint("Updating"), {"EndpointName": "iris"})
    assert endpoints.require_serving(session, "iris")["EndpointStatus"] == "Updating"


@pytest.mark.parametrize("status,waiter", [("Updating", "endpoint-in-service"), ("Deleting", "endpoint-deleted")])
def test_a_deploy_over_a_busy_endpoint_names_the_wait_that_helps(stubbed, status, waiter) -> None:
    session, client, stubber = stubbed
    stubber.add_response("describe_endpoint", _endpoint(status), {"EndpointName": "iris"})
    plan = endpoints.plan_deploy(endpoint="iris", image="i", model_data_url="s3://b/model.tar.gz",
                                 role="arn:aws:iam::123456789012:role/R", instance_type="ml.m5.large", name="iris-2")
    with pytest.raises(Failed, match=f"endpoint iris is {status}; deploy again once it has settled") as caught:
        endpoints.deploy(session, plan, wait=False, out=io.StringIO())
    assert f"`aws sagemaker wait {waiter} --endpoint-name iris` waits for that" in str(caught.value)


def _job(status: str, secondary: str, transitions: list[tuple[str, str]], **extra) -> dict:
    return {
        "TrainingJobName": "job", "TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/job",
        "TrainingJobStatus": status, "SecondaryStatus": secondary, "CreationTime": NOW,
        "AlgorithmSpecification": {"TrainingInputMode": "File", "TrainingImage": "i"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60}, "ModelArtifacts": {"S3ModelArtifacts": "s3://b/m.tar.gz"},
        "SecondaryStatusTransitions": [{"Status": s, "StatusMessage": m, "StartTime": NOW} for s, m in transitions],
        **extra,
    }


def test_training_progress_prints_each_transition_and_a_failure_reason(stubbed) -> None:
    session, client, stubber = stubbed
    steps = [("Starting", "Launching requested ML instances"), ("Downloading", "Downloading input data")]
    stubber.add_response("describe_training_job", _job("InProgress", "Starting", steps[:1]))
    stubber.add_response("describe_training_job", _job("InProgress", "Downloading", steps))
    failed = _job("Failed", "Failed", steps + [("Failed", "AlgorithmError: see the log")],
                  FailureReason="AlgorithmError: DataError: no CSV files in /opt/ml/input/data/train")
    stubber.add_response("describe_training_job", failed)
    stubber.add_response("describe_training_job", failed)
    out = io.StringIO()
    with pytest.raises(Failed, match="training job job Failed: AlgorithmError: DataError: no CSV files"):
        training.follow(session, "job", delay=0, out=out)
    text = out.getvalue()
    for status, message in steps + [("Failed", "AlgorithmError: see the log")]:
        assert f"{status}: {message}" in text
    assert text.count("Downloading: Downloading input data") == 1


def test_a_job_stopped_at_max_runtime_is_not_success(stubbed) -> None:
    session, client, stubber = stubbed
    stopped = _job("Stopped", "MaxRuntimeExceeded", [])
    stubber.add_response("describe_training_job", stopped)
    stubber.add_response("describe_training_job", stopped)
    with pytest.raises(Failed, match="ended Stopped .MaxRuntimeExceeded.; it hit --max-runtime"):
        training.follow(session, "job", delay=0, out=io.StringIO())


def test_a_model_error_shows_the_containers_status_message_and_log(monkeypatch: pytest.MonkeyPatch) -> None:
    session, client, stubber = _stub(monkeypatch, "sagemaker-runtime")
    log = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/Endpoints/iris"
    stubber.add_client_error(
        "invoke_endpoint", service_error_code="ModelError", http_status_code=424,
        service_message="Received client error (415) from primary with message ...",
        modeled_fields={"OriginalStatusCode": 415, "LogStreamArn": log,
                        "OriginalMessage": '{"error": "UnsupportedMediaType", "message": "text/plain"}'})
    with stubber, pytest.raises(Failed) as caught:
        endpoints.invoke(session, endpoints.build_invoke(endpoint="iris", body=b"x", content_type="text/plain"))
    assert str(caught.value).startswith('the container answered 415: {"error": "UnsupportedMediaType"')
    assert log in str(caught.value)


def test_ecr_permission_denied_is_not_taken_for_a_missing_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    session, client, stubber = _stub(monkeypatch, "ecr")
    stubber.add_client_error("describe_repositories", service_error_code="AccessDeniedException",
                             service_message="not authorized to perform: ecr:DescribeRepositories",
                             http_status_code=400)
    with stubber, pytest.raises(SetupError, match="Permission denied: ecr:DescribeRepositories") as caught:
        ecr.ensure_repository(session, "sagemaker-byoc", out=io.StringIO())
    assert caught.value.exit_code == 3
    stubber.assert_no_pending_responses()  # and no CreateRepository was attempted (Stubber would refuse it)
