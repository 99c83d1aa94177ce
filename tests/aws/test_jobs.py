"""train and transform: the requests as the API receives them, read back from moto_server.

moto keeps most of a CreateTrainingJob request, but not all: it overwrites
AlgorithmSpecification.MetricDefinitions with a fake of its own and drops Environment. Each test
detects which happened and, for what moto did not keep, checks the request on the wire (recorded
as botocore sent it to moto) instead. moto runs no container: a job is Completed at once, its
model artifact path is made up and nothing is written there, and its metrics are fake.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aws_helpers import IMAGE, ROLE, sent
from container.metrics import METRIC_DEFINITIONS

pytestmark = pytest.mark.aws

BUCKET = "sagemaker-us-east-1-123456789012"
MOTO_FAKE_METRICS = [{"Name": "test:dcg", "Regex": "#quality_metric: host=\\S+, test dcg <score>=(\\S+)"}]


def test_train_request_as_received(aws, byoc, calls, sample_data: dict[str, Path]) -> None:
    run = byoc("train", "--image", IMAGE, "--role", ROLE, "--job-name", "iris-rf-1",
               "--channel", f"train={sample_data['train']}", "--channel", f"validation={sample_data['validation']}",
               "-H", "n_estimators=50", "-H", "criterion=gini", "-H", "max_depth=null", "-H", "bootstrap=true",
               "--instance-type", "ml.m5.xlarge", "--max-runtime", "3600", "--env", "BYOC_LOG_LEVEL=DEBUG", "--wait")
    assert run.code == 0, run.err
    job = aws.client("sagemaker").describe_training_job(TrainingJobName="iris-rf-1")
    assert job["RoleArn"] == ROLE
    assert job["AlgorithmSpecification"]["TrainingImage"] == IMAGE
    assert job["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    # hyperparameters arrive as strings the runtime parses back (container.hyperparameters.to_api)
    assert job["HyperParameters"] == {"n_estimators": "50", "criterion": "gini", "max_depth": "null",
                                      "bootstrap": "true"}
    assert job["ResourceConfig"] == {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30}
    assert job["StoppingCondition"]["MaxRuntimeInSeconds"] == 3600
    assert job["OutputDataConfig"]["S3OutputPath"] == f"s3://{BUCKET}/byoc/training"
    channels = {c["ChannelName"]: c for c in job["InputDataConfig"]}
    assert set(channels) == {"train", "validation"}
    for name in channels:
        source = channels[name]["DataSource"]["S3DataSource"]
        prefix = f"byoc/training/iris-rf-1/input/{name}/"
        assert source["S3Uri"] == f"s3://{BUCKET}/{prefix}"
        assert source["S3DataType"] == "S3Prefix" and source["S3DataDistributionType"] == "FullyReplicated"
        assert channels[name]["ContentType"] == "text/csv"
        local = sorted(p.name for p in sample_data[name].iterdir())
        assert sorted(k.removeprefix(prefix) for k in aws.s3_keys(BUCKET) if k.startswith(prefix)) == local

    (wire,) = sent(calls, "CreateTrainingJob")
    kept = job["AlgorithmSpecification"].get("MetricDefinitions")
    if kept == MOTO_FAKE_METRICS:  # moto overwrote them: the request is the evidence
        assert wire["AlgorithmSpecification"]["MetricDefinitions"] == METRIC_DEFINITIONS
    else:
        assert kept == METRIC_DEFINITIONS
    if "Environment" in job:
        assert job["Environment"] == {"BYOC_LOG_LEVEL": "DEBUG"}
    else:  # moto drops it
        assert wire["Environment"] == {"BYOC_LOG_LEVEL": "DEBUG"}

    # --wait: the waiter, then the model artifact URI as the last line of stdout
    assert run.last_line == job["ModelArtifacts"]["S3ModelArtifacts"]
    assert run.last_line == f"s3://{BUCKET}/byoc/training/iris-rf-1/output/model.tar.gz"
    assert "training job iris-rf-1: ended" in run.err
    # moto's made-up FinalMetricDataList, printed as a real one would be
    assert "train:progress = 100" in run.err


def test_train_without_wait_prints_the_job_name(aws, byoc) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="data")
    s3.put_object(Bucket="data", Key="iris/train/train.csv", Body=b"0,5.1,3.5,1.4,0.2\n")
    run = byoc("train", "--image", IMAGE, "--role", ROLE, "--channel", "train=s3://data/iris/train/",
               "--output", "s3://data/out", "--job-name", "from-s3")
    assert run.code == 0, run.err
    assert run.last_line == "from-s3"
    job = aws.client("sagemaker").describe_training_job(TrainingJobName="from-s3")
    assert job["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == "s3://data/iris/train/"
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["data"]  # nothing uploaded, no default bucket


def test_spot_training_sends_max_wait_and_a_checkpoint_location(aws, byoc, calls) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="data")
    s3.put_object(Bucket="data", Key="train/a.csv", Body=b"0,1\n")
    run = byoc("train", "--image", IMAGE, "--role", ROLE, "--channel", "train=s3://data/train/",
               "--output", "s3://data/out", "--job-name", "spot-1", "--spot", "--max-runtime", "3600",
               "--max-wait", "7200")
    assert run.code == 0, run.err
    (wire,) = sent(calls, "CreateTrainingJob")
    assert wire["EnableManagedSpotTraining"] is True
    assert wire["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    assert wire["CheckpointConfig"] == {"S3Uri": "s3://data/out/spot-1/checkpoints", "LocalPath": "/opt/ml/checkpoints"}
    job = aws.client("sagemaker").describe_training_job(TrainingJobName="spot-1")
    if "CheckpointConfig" in job:
        assert job["CheckpointConfig"] == wire["CheckpointConfig"]
    bad = byoc("train", "--image", IMAGE, "--role", ROLE, "--channel", "train=s3://data/train/", "--spot",
               "--max-runtime", "3600", "--max-wait", "60")
    assert bad.code == 2 and "spot needs max-wait >= max-runtime" in bad.err


def test_transform_request_as_received_and_its_model_removed_after_wait(
        aws, byoc, calls, model_dir: Path, sample_data: dict[str, Path]) -> None:
    run = byoc("transform", "--image", IMAGE, "--role", ROLE, "--model", model_dir,
               "--input", sample_data["payload"], "--job-name", "score-1", "--accept", "text/csv",
               "--max-payload-mb", "6", "--max-concurrent", "2", "--wait")
    assert run.code == 0, run.err
    job = aws.client("sagemaker").describe_transform_job(TransformJobName="score-1")
    assert job["ModelName"] == "score-1-model"
    assert job["TransformInput"]["SplitType"] == "Line"
    assert job["TransformInput"]["ContentType"] == "text/csv"
    source = job["TransformInput"]["DataSource"]["S3DataSource"]
    assert source == {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/byoc/transform/score-1/input/"}
    assert f"byoc/transform/score-1/input/{sample_data['payload'].name}" in aws.s3_keys(BUCKET)
    assert job["TransformOutput"]["AssembleWith"] == "Line"
    assert job["TransformOutput"]["Accept"] == "text/csv"
    assert job["TransformOutput"]["S3OutputPath"] == f"s3://{BUCKET}/byoc/transform/score-1/output"
    assert job["TransformResources"] == {"InstanceType": "ml.m5.large", "InstanceCount": 1}
    assert (job["BatchStrategy"], job["MaxPayloadInMB"], job["MaxConcurrentTransforms"]) == ("MultiRecord", 6, 2)
    (model,) = sent(calls, "CreateModel")
    assert model["PrimaryContainer"]["Image"] == IMAGE
    assert model["PrimaryContainer"]["ModelDataUrl"] == f"s3://{BUCKET}/byoc/models/score-1-model/model.tar.gz"
    assert aws.sagemaker_inventory()["models"] == []  # made for the job, removed after it
    assert run.last_line == f"s3://{BUCKET}/byoc/transform/score-1/output"


def test_transform_on_an_existing_model(aws, byoc) -> None:
    sm, s3 = aws.client("sagemaker"), aws.client("s3")
    s3.create_bucket(Bucket="data")
    s3.put_object(Bucket="data", Key="in/batch.csv", Body=b"5.1,3.5,1.4,0.2\n")
    missing = byoc("transform", "--model-name", "iris-model", "--input", "s3://data/in/", "--output", "s3://data/out")
    assert missing.code == 5 and "model iris-model does not exist" in missing.err
    sm.create_model(ModelName="iris-model", ExecutionRoleArn=ROLE,
                    PrimaryContainer={"Image": IMAGE, "ModelDataUrl": "s3://data/model.tar.gz"})
    run = byoc("transform", "--model-name", "iris-model", "--input", "s3://data/in/", "--output", "s3://data/out",
               "--job-name", "score-2", "--split-type", "None", "--strategy", "SingleRecord")
    assert run.code == 0, run.err
    job = sm.describe_transform_job(TransformJobName="score-2")
    assert job["ModelName"] == "iris-model"
    assert job["TransformInput"]["SplitType"] == "None" and job["TransformOutput"]["AssembleWith"] == "None"
    assert aws.sagemaker_inventory()["models"] == ["iris-model"]  # not ours to delete
