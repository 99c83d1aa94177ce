"""`byoc process` against moto_server: the CreateProcessingJob request as the API receives it.

moto keeps most of a processing job but drops ProcessingResources and Environment from
describe (contract 1.9): each test detects which fields came back and checks the request on the
wire for the rest. moto runs no container: the job is Completed at once, with no ExitMessage
and no report, so what the container writes is proven by the contract and Docker tests, not here.
StopProcessingJob exists in moto only from 5.2.3; the stop test detects which moto it talks to.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aws_helpers import IMAGE, ROLE, sent
from byoc import sample

pytestmark = pytest.mark.aws

BUCKET = "sagemaker-us-east-1-123456789012"


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sample.write_bank(tmp_path_factory.mktemp("bank"), rows=300)["train"]


def test_process_request_as_received(aws, byoc, calls, raw: Path) -> None:
    run = byoc("process", "--image", IMAGE, "--role", ROLE, "--input", raw, "--job-name", "prep-bank-1",
               "--label-column", "y", "--seed", "7", "--test-fraction", "0.2", "--instance-type", "ml.m5.xlarge",
               "--max-runtime", "3600", "--env", "BYOC_LOG_LEVEL=DEBUG", "--wait")
    assert run.code == 0, run.err
    job = aws.client("sagemaker").describe_processing_job(ProcessingJobName="prep-bank-1")
    assert job["RoleArn"] == ROLE
    assert job["AppSpecification"] == {
        "ImageUri": IMAGE, "ContainerEntrypoint": ["byoc-entrypoint", "process"],
        "ContainerArguments": ["--label-column", "y", "--test-fraction", "0.2", "--seed", "7"]}
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600}
    (source,) = job["ProcessingInputs"]
    prefix = "byoc/processing/prep-bank-1/input/raw/"
    assert source["InputName"] == "raw"
    assert source["S3Input"] == {
        "S3Uri": f"s3://{BUCKET}/{prefix}", "LocalPath": "/opt/ml/processing/input/raw", "S3DataType": "S3Prefix",
        "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated", "S3CompressionType": "None"}
    assert [k.removeprefix(prefix) for k in aws.s3_keys(BUCKET) if k.startswith(prefix)] == ["bank-train.csv"]
    outputs = {o["OutputName"]: o["S3Output"] for o in job["ProcessingOutputConfig"]["Outputs"]}
    base = f"s3://{BUCKET}/byoc/processing/prep-bank-1/output"
    assert outputs == {name: {"S3Uri": f"{base}/{name}/", "LocalPath": f"/opt/ml/processing/output/{name}",
                              "S3UploadMode": "EndOfJob"} for name in ("train", "validation", "test", "report")}

    (wire,) = sent(calls, "CreateProcessingJob")
    resources = {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30}}
    if "ProcessingResources" in job:
        assert job["ProcessingResources"] == resources
    else:  # moto drops it (a required response field): the request is the evidence
        assert wire["ProcessingResources"] == resources
    if "Environment" in job:
        assert job["Environment"] == {"BYOC_LOG_LEVEL": "DEBUG"}
    else:
        assert wire["Environment"] == {"BYOC_LOG_LEVEL": "DEBUG"}

    # --wait: the waiter saw Completed; moto ran nothing, so there is no report to read
    assert "processing job prep-bank-1: ended" in run.err
    assert "No report.json under" in run.err
    assert run.out.strip().splitlines()[-3:] == [f"{name}={base}/{name}/" for name in ("train", "validation", "test")]


def test_a_zero_fraction_leaves_its_output_out(aws, byoc, raw: Path) -> None:
    run = byoc("process", "--image", IMAGE, "--role", ROLE, "--input", raw, "--job-name", "no-validation",
               "--validation-fraction", "0", "--wait")
    assert run.code == 0, run.err
    job = aws.client("sagemaker").describe_processing_job(ProcessingJobName="no-validation")
    assert [o["OutputName"] for o in job["ProcessingOutputConfig"]["Outputs"]] == ["train", "test", "report"]
    assert [line.split("=")[0] for line in run.out.strip().splitlines()] == ["train", "test"]


def test_an_s3_input_is_used_where_it_is(aws, byoc) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="data")
    s3.put_object(Bucket="data", Key="raw/bank.csv", Body=b"y,a\nno,1\nyes,2\n")
    run = byoc("process", "--image", IMAGE, "--role", ROLE, "--input", "s3://data/raw/", "--output", "s3://data/prep",
               "--job-name", "from-s3")
    assert run.code == 0, run.err
    assert run.last_line == "from-s3"
    job = aws.client("sagemaker").describe_processing_job(ProcessingJobName="from-s3")
    assert job["ProcessingInputs"][0]["S3Input"]["S3Uri"] == "s3://data/raw/"
    assert {o["S3Output"]["S3Uri"] for o in job["ProcessingOutputConfig"]["Outputs"]} == {
        f"s3://data/prep/{name}/" for name in ("train", "validation", "test", "report")}


def test_every_limit_is_checked_before_anything_is_created(aws, byoc, raw: Path) -> None:
    run = byoc("process", "--image", IMAGE, "--role", ROLE, "--input", raw, "--job-name", "bad_name",
               "--instance-type", "ml.c5.large", "--max-runtime", "800000", "--instance-count", "101",
               "--env", f"LONG={'x' * 300}", "--validation-fraction", "0.5", "--test-fraction", "0.5")
    assert run.code == 2, run.err
    for words in ("processing job name 'bad_name' is not valid", "'ml.c5.large' is not one processing jobs run on",
                  "--max-runtime is 800000; it must be 1-777600", "--instance-count is 101",
                  "environment variable LONG is 300 characters; the processing limit is 256",
                  "together they must be below 1"):
        assert words in run.err, (words, run.err)
    assert "Traceback" not in run.err
    assert aws.client("sagemaker").list_processing_jobs()["ProcessingJobSummaries"] == []
    assert BUCKET not in [b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]]


def test_an_empty_s3_input_is_refused(aws, byoc) -> None:
    aws.client("s3").create_bucket(Bucket="data")
    run = byoc("process", "--image", IMAGE, "--role", ROLE, "--input", "s3://data/nothing/")
    assert run.code == 2 and "nothing under s3://data/nothing/" in run.err, run.err
    assert aws.client("sagemaker").list_processing_jobs()["ProcessingJobSummaries"] == []


def test_stop_where_moto_has_it_and_a_clear_error_where_it_does_not(aws, byoc, raw: Path) -> None:
    import moto

    started = byoc("process", "--image", IMAGE, "--role", ROLE, "--input", raw, "--job-name", "to-stop")
    assert started.code == 0, started.err
    run = byoc("process", "--stop", "to-stop", "--wait")
    version = tuple(int(p) for p in moto.__version__.split(".")[:3] if p.isdigit())
    if version >= (5, 2, 3):
        assert run.code == 0, run.err
        status = aws.client("sagemaker").describe_processing_job(ProcessingJobName="to-stop")["ProcessingJobStatus"]
        assert status == "Stopped"  # moto stops even a Completed job
        assert "Processing job to-stop Stopped" in run.err
    else:  # StopProcessingJob raises NotImplementedError in moto before 5.2.3
        assert run.code == 6, run.err
        assert "StopProcessingJob is not implemented" in run.err


def test_stopping_an_unknown_job_is_not_found(aws, byoc) -> None:
    run = byoc("process", "--stop", "never-made")
    assert run.code in (5, 6), run.err  # 6: a moto without StopProcessingJob
    assert "Traceback" not in run.err
