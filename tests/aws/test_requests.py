"""The pure parts: request builders, names, region resolution, error translation. No AWS here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from byoc.aws import autoscaling, endpoints, names, preflight, session, training, transform
from byoc.errors import SetupError, Unsupported
from container import hyperparameters, metrics

pytestmark = pytest.mark.aws

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/sagemaker-byoc:abc123"
ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"


# -- names --------------------------------------------------------------------------------------


def test_unique_names_fit_every_sagemaker_pattern_even_from_long_or_odd_bases() -> None:
    for base in ("ep", "my_endpoint.v2", "x" * 80, "--weird--", "___"):
        name = names.unique(base, now=1_700_000_000.123)
        assert len(name) <= 63
        for kind in ("endpoint", "endpoint config", "model", "training job"):
            assert names.problem(kind, name) is None, (kind, name)
    assert names.unique("ep", now=1_700_000_000.123) == "ep-20231114-221320-123"
    # a millisecond apart: different names (two deploys in one second must not collide)
    assert names.unique("ep", now=1.001) != names.unique("ep", now=1.002)


@pytest.mark.parametrize("kind,name,fragment", [
    ("endpoint", "my_endpoint", "letters, digits and hyphens"),
    ("endpoint", "a" * 64, "64 characters; the limit is 63"),
    ("endpoint", "-lead", "letters, digits and hyphens"),
    ("training job", "job.v1", "no underscores, dots or colons"),
    ("model", "model-", "ending with a letter or digit"),
    ("channel", "train data", "letters, digits, dots, hyphens and underscores"),
    ("ECR repository", "MyRepo", "lowercase"),
])
def test_invalid_names_are_refused_with_the_rule(kind: str, name: str, fragment: str) -> None:
    problem = names.problem(kind, name)
    assert problem and fragment in problem


# -- deploy requests ----------------------------------------------------------------------------


def test_plan_deploy_builds_model_config_and_names_from_one_timestamp() -> None:
    env = endpoints.serving_environment(workers=2, timeout=30, max_payload_mb=5, extra={"LOG_LEVEL": "debug"})
    plan = endpoints.plan_deploy(endpoint="iris", image=IMAGE, model_data_url="s3://b/k/model.tar.gz", role=ROLE,
                                 instance_type="ml.c5.xlarge", instance_count=2, environment=env,
                                 startup_timeout=600, download_timeout=900, now=1_700_000_000.5)
    assert plan.model_name == plan.config_name == "iris-20231114-221320-500"
    assert plan.create_model == {
        "ModelName": plan.model_name,
        "ExecutionRoleArn": ROLE,
        "PrimaryContainer": {
            "Image": IMAGE, "ModelDataUrl": "s3://b/k/model.tar.gz", "Mode": "SingleModel",
            "Environment": {"MODEL_SERVER_WORKERS": "2", "MODEL_SERVER_TIMEOUT": "30",
                            "SAGEMAKER_MAX_PAYLOAD_IN_MB": "5", "LOG_LEVEL": "debug"},
        },
        "Tags": [{"Key": "byoc:endpoint", "Value": "iris"}],
    }
    (variant,) = plan.create_config["ProductionVariants"]
    assert variant == {
        "VariantName": "AllTraffic", "ModelName": plan.model_name, "InstanceType": "ml.c5.xlarge",
        "InitialInstanceCount": 2, "InitialVariantWeight": 1.0,
        "ContainerStartupHealthCheckTimeoutInSeconds": 600, "ModelDataDownloadTimeoutInSeconds": 900,
    }
    assert endpoints.build_update_endpoint(name="iris", config_name=plan.config_name) == {
        "EndpointName": "iris", "EndpointConfigName": plan.config_name, "RetainAllVariantProperties": False}


def test_the_environment_carries_the_names_the_runtime_reads() -> None:
    from container.settings import ServingSettings

    env = endpoints.serving_environment(workers=3, timeout=45, max_payload_mb=2.5)
    settings = ServingSettings.from_env(env)
    assert (settings.workers, settings.timeout, settings.max_payload_mb) == (3, 45, 2.5)


def test_models_of_lists_every_variant_model_once() -> None:
    config = {"ProductionVariants": [{"ModelName": "a"}, {"ModelName": "b"}, {"ModelName": "a"}],
              "ShadowProductionVariants": [{"ModelName": "c"}]}
    assert endpoints.models_of(config) == ["a", "b", "c"]


def test_smoke_payload_is_one_row_as_wide_as_the_model() -> None:
    assert endpoints.smoke_payload({"n_features": 4}) == b"0,0,0,0\n"
    assert endpoints.smoke_payload({}) is None


# -- training -----------------------------------------------------------------------------------


def test_training_request_has_every_field_old_botocore_requires_and_the_runtime_metrics() -> None:
    hps = training.stringify({"n_estimators": 50, "max_depth": None, "criterion": "gini", "balanced": True,
                              "layers": [64, 32]})
    request = training.build_training_job(
        name="job-1", image=IMAGE, role=ROLE, output_path="s3://b/out",
        channels=[training.Channel("train", "s3://b/train/"), training.Channel("validation", "s3://b/val/")],
        hyperparameters=hps, metric_definitions=training.runtime_metric_definitions(),
        instance_type="ml.m5.xlarge", instance_count=2, volume_gb=50, max_runtime=3600,
        environment={"BYOC_LOG_LEVEL": "DEBUG"}, spot=True, max_wait=7200, checkpoint_s3="s3://b/ckpt")
    for field in ("AlgorithmSpecification", "ResourceConfig", "StoppingCondition", "OutputDataConfig", "RoleArn"):
        assert field in request
    assert request["AlgorithmSpecification"]["MetricDefinitions"] == metrics.METRIC_DEFINITIONS
    assert request["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    assert request["CheckpointConfig"] == {"S3Uri": "s3://b/ckpt", "LocalPath": "/opt/ml/checkpoints"}
    assert request["EnableManagedSpotTraining"] is True
    assert request["ResourceConfig"] == {"InstanceType": "ml.m5.xlarge", "InstanceCount": 2, "VolumeSizeInGB": 50}
    assert request["InputDataConfig"][1] == {
        "ChannelName": "validation", "CompressionType": "None", "ContentType": "text/csv",
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/val/",
                                        "S3DataDistributionType": "FullyReplicated"}}}
    # every value a string, and the runtime's parser gives back what was meant
    assert all(isinstance(v, str) for v in request["HyperParameters"].values())
    assert hyperparameters.parse(request["HyperParameters"]) == {
        "n_estimators": 50, "max_depth": None, "criterion": "gini", "balanced": True, "layers": [64, 32]}


def test_the_metric_regexes_read_the_lines_train_prints() -> None:
    assert preflight.metric_definition_problems(training.runtime_metric_definitions(),
                                                training.runtime_metric_line) == []
    broken = [{"Name": "validation:accuracy", "Regex": "validation:accuracy=([a-z]+);"},
              {"Name": "x", "Regex": "no group"}, {"Name": "y", "Regex": "(unclosed"}]
    problems = preflight.metric_definition_problems(broken, training.runtime_metric_line)
    assert any("does not capture a number" in p for p in problems)
    assert any("no capture group" in p for p in problems)
    assert any("does not compile" in p for p in problems)


# -- transform and autoscaling ------------------------------------------------------------------


def test_transform_request_splits_and_assembles_by_line() -> None:
    request = transform.build_transform_job(name="t", model_name="m", input_uri="s3://b/in/",
                                            output_path="s3://b/out", accept="text/csv",
                                            max_payload_mb=6, max_concurrent=4)
    assert request["TransformInput"] == {
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/in/"}},
        "ContentType": "text/csv", "CompressionType": "None", "SplitType": "Line"}
    assert request["TransformOutput"] == {"S3OutputPath": "s3://b/out", "AssembleWith": "Line", "Accept": "text/csv"}
    assert (request["BatchStrategy"], request["MaxPayloadInMB"], request["MaxConcurrentTransforms"]) == ("MultiRecord", 6, 4)
    unsplit = transform.build_transform_job(name="t", model_name="m", input_uri="s3://b/in/", output_path="s3://b/o",
                                            split_type="None", strategy="SingleRecord")
    assert unsplit["TransformOutput"]["AssembleWith"] == "None"


def test_autoscaling_requests_target_invocations_per_instance() -> None:
    assert autoscaling.build_register(endpoint="ep", variant="AllTraffic", min_capacity=1, max_capacity=4) == {
        "ServiceNamespace": "sagemaker", "ResourceId": "endpoint/ep/variant/AllTraffic",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount", "MinCapacity": 1, "MaxCapacity": 4}
    policy = autoscaling.build_policy(endpoint="ep", variant="AllTraffic", target=70)
    assert policy["PolicyType"] == "TargetTrackingScaling"
    assert policy["TargetTrackingScalingPolicyConfiguration"] == {
        "TargetValue": 70.0,
        "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
        "ScaleInCooldown": 600, "ScaleOutCooldown": 300}


# -- instance families --------------------------------------------------------------------------


@pytest.mark.parametrize("instance_type,arch", [
    ("ml.m5.large", "amd64"), ("ml.c6i.xlarge", "amd64"), ("ml.g4dn.xlarge", "amd64"), ("ml.g5.2xlarge", "amd64"),
    ("ml.inf2.xlarge", "amd64"), ("ml.c6g.large", "arm64"), ("ml.c6gd.large", "arm64"), ("ml.c7gn.large", "arm64"),
    ("ml.m6g.large", "arm64"), ("ml.r7gd.large", "arm64"), ("ml.m8g.large", "arm64"),
])
def test_graviton_types_need_arm64(instance_type: str, arch: str) -> None:
    assert preflight.expected_architecture(instance_type) == arch


# -- region resolution, as the AWS CLI does it --------------------------------------------------


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "config"
    path.write_text("[default]\nregion = eu-west-1\n[profile work]\nregion = ap-southeast-2\n")
    return path


def test_region_order_is_flag_aws_region_aws_default_region_then_profile(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(_config(tmp_path)))
    assert session.resolve_region() == ("eu-west-1", "profile default")
    monkeypatch.setenv("AWS_PROFILE", "work")
    assert session.resolve_region() == ("ap-southeast-2", "profile work")
    assert session.resolve_region(profile="default")[0] == "eu-west-1"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    assert session.resolve_region() == ("us-west-2", "AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "us-east-2")  # boto3 alone ignores AWS_REGION; the AWS CLI does not
    assert session.resolve_region() == ("us-east-2", "AWS_REGION")
    assert session.resolve_region("sa-east-1") == ("sa-east-1", "--region")


def test_no_region_and_unknown_profile_are_clear_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with pytest.raises(SetupError, match="No AWS region is set") as caught:
        session.resolve_region()
    assert "AWS_REGION" in str(caught.value)
    monkeypatch.setenv("AWS_PROFILE", "nope")
    with pytest.raises(SetupError, match="profile not found"):
        session.resolve_region()


def test_only_a_bare_http_500_from_a_custom_endpoint_counts_as_not_implemented(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import ClientError

    bare = ClientError({"Error": {"Code": "500", "Message": "<html>"},
                        "ResponseMetadata": {"HTTPStatusCode": 500}}, "UpdateEndpoint")
    internal = ClientError({"Error": {"Code": "InternalFailure", "Message": "x"},
                            "ResponseMetadata": {"HTTPStatusCode": 500}}, "UpdateEndpoint")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    assert not session.is_not_implemented(bare)  # real AWS: a 500 is a 500
    assert session.is_not_implemented(bare, "http://127.0.0.1:5000")
    assert not session.is_not_implemented(internal, "http://127.0.0.1:5000")
    with pytest.raises(Unsupported, match=r"UpdateEndpoint is not implemented by http://127\.0\.0\.1:1"):
        with session.translate("sagemaker:UpdateEndpoint",
                               session.AwsSession("us-east-1", "test", None, endpoint_url="http://127.0.0.1:1")):
            raise bare


def test_access_denied_is_reported_as_a_permission_error_naming_the_action() -> None:
    from botocore.exceptions import ClientError

    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not authorized"},
                          "ResponseMetadata": {"HTTPStatusCode": 400}}, "CreateModel")
    with pytest.raises(SetupError, match=re.escape("Permission denied: sagemaker:CreateModel")):
        with session.translate("sagemaker:CreateModel"):
            raise denied


# -- the command line ---------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["deploy", "invoke", "delete", "train", "transform", "autoscale"])
def test_every_command_has_help_with_exit_codes(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    from byoc import cli

    with pytest.raises(SystemExit) as caught:
        cli.main([command, "--help"])
    assert caught.value.code == 0
    text = capsys.readouterr().out
    assert "Exit codes:" in text and "--region" in text and "--wait" in text


def test_the_ecr_helpers_stay_out_of_the_top_level_help(capsys: pytest.CaptureFixture[str]) -> None:
    from byoc import cli

    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = capsys.readouterr().out
    assert "deploy" in text and "autoscale" in text
    assert "ecr" not in text


def test_no_region_exits_3_before_any_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from byoc import cli

    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens: no call may be made
    assert cli.main(["delete", "iris"]) == 3
    assert "No AWS region is set" in capsys.readouterr().err
