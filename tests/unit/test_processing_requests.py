"""byoc.aws.processing's pure parts: the request, its checks, and how a failure is told."""

from __future__ import annotations

from byoc.aws import processing


def _request(**kw):
    args = dict(name="prep-1", image="1.dkr.ecr.us-east-1.amazonaws.com/x:1", role="arn:aws:iam::1:role/r",
                inputs={"raw": "s3://b/raw/"}, outputs={"train": "s3://b/out/train/"}, arguments=["--seed", "1"])
    args.update(kw)
    return processing.build_processing_job(**args)


def test_the_request_runs_process_through_the_entrypoint() -> None:
    request = _request()
    assert request["AppSpecification"]["ContainerEntrypoint"] == ["byoc-entrypoint", "process"]
    assert request["AppSpecification"]["ContainerArguments"] == ["--seed", "1"]
    assert "ContainerArguments" not in _request(arguments=[])["AppSpecification"]
    assert request["ProcessingInputs"][0]["S3Input"]["LocalPath"] == "/opt/ml/processing/input/raw"
    assert request["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3UploadMode"] == "EndOfJob"
    assert processing.request_problems(request) == []


def test_request_problems_name_each_limit() -> None:
    request = _request(inputs={f"i{n}": "s3://b/x/" for n in range(11)}, arguments=["x" * 300],
                       environment={"A": "y" * 257}, instance_type="ml.c5.large")
    request["ProcessingInputs"][0]["S3Input"]["LocalPath"] = "/tmp/raw"
    found = "\n".join(processing.request_problems(request))
    for words in ("11 inputs", "must start with /opt/ml/processing/", "over 256 characters",
                  "the processing limit is 256", "'ml.c5.large' is not one processing jobs run on"):
        assert words in found, (words, found)


def test_a_failure_shows_the_platform_reason_and_the_container_message() -> None:
    described = {"ProcessingJobStatus": "Failed", "FailureReason": "AlgorithmError: see logs",
                 "ExitMessage": "DataError: Channel 'raw', file 'a.csv', line 3: ...\n"}
    assert processing.failure_of(described) == (
        "FailureReason: AlgorithmError: see logs; ExitMessage: DataError: Channel 'raw', file 'a.csv', line 3: ...")
    assert processing.failure_of({"ProcessingJobStatus": "Failed"}) is None


def test_waiting_outlasts_the_waiters_hour_unless_told() -> None:
    assert processing.wait_timeout(86400, None) == 86400 + 3600
    assert processing.wait_timeout(86400, 60) == 60
