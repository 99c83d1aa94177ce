"""The model registry against moto_server: register, approve/reject, versions, and deploy of an
Approved version; then the states moto never produces, through botocore's Stubber.

What moto does differently from AWS, each detected by a test below rather than worked around:
- a version's ARN lower-cases the group (model-package/iris-models/1 for group Iris-Models);
  whether AWS does is not documented, so byoc reads ARNs from responses and never builds one;
- there is no DeleteModelPackage or DeleteModelPackageGroup (moto answers HTTP 500), so these
  tests cannot remove what they register, and nothing in byoc calls either;
- UpdateModelPackage overwrites ApprovalDescription and CustomerMetadataProperties with what
  was sent, None included (AWS keeps unsent fields): `byoc approve` resends them, and the
  quirk itself is asserted, so the "approve keeps the metadata" test is one that can fail;
- a CreateModelPackage without ModelApprovalStatus stores none (AWS's default is not
  documented): byoc always sends one;
- a version is Completed at once, and a filtered ListModelPackages never returns an empty page
  with a NextToken: both paths run against stubbed responses at the end of this file;
- describe_hyper_parameter_tuning_job's BestTrainingJob is a fixed fake (FakeTrainingJobName):
  the tuning-job test creates a training job of that name, saying so;
- CreateModel with a ModelPackageName container is accepted without checking the package,
  so the approval check in `byoc deploy` is byoc's own and is what the refusal tests prove.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from datetime import datetime, timezone

import pytest

from aws_helpers import ACCOUNT, IMAGE, REGION, ROLE, sent
from byoc import jobdir
from byoc.aws import registry
from byoc.aws.session import AwsSession
from byoc.errors import Failed, NotFound, PreflightError, TimedOut
from container import codecs

pytestmark = pytest.mark.aws

BUCKET = f"sagemaker-{REGION}-{ACCOUNT}"  # the default bucket
GROUP = "iris-models"


def register(byoc, model, *extra: str, group: str = GROUP):
    return byoc("register", group, "--model", model, "--image", IMAGE, *extra)


def described(aws, arn: str) -> dict:
    return aws.client("sagemaker").describe_model_package(ModelPackageName=arn)


def s3_json(aws, uri: str) -> tuple[bytes, dict]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    body = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return body, json.loads(body)


def hint(err: str, lead: str) -> list[str]:
    """The `byoc ...` command after lead on a line of err, as argv (without `byoc`)."""
    (line,) = [line for line in err.splitlines() if lead in line]
    return line.split("byoc ", 1)[1].split("`", 1)[0].rstrip(".").split()


# -- register ---------------------------------------------------------------------------------


def test_register_creates_the_group_once_and_numbers_the_versions(aws, byoc, model_dir, calls) -> None:
    first = register(byoc, model_dir)
    assert first.code == 0, first.err
    second = register(byoc, model_dir)
    assert second.code == 0, second.err
    assert len(sent(calls, "CreateModelPackageGroup")) == 1  # only when describe said it was missing
    assert "Creating model package group iris-models" in first.err
    assert "Creating model package group" not in second.err
    assert [described(aws, r.last_line)["ModelPackageVersion"] for r in (first, second)] == [1, 2]
    assert "Approve it: byoc approve iris-models 2" in second.err
    groups = aws.client("sagemaker").list_model_package_groups()["ModelPackageGroupSummaryList"]
    assert [g["ModelPackageGroupName"] for g in groups] == [GROUP]


def test_the_version_as_moto_stores_it(aws, byoc, model_dir, calls) -> None:
    run = register(byoc, model_dir, "--property", "git commit=0a1b2c3", "--description", "first forest")
    assert run.code == 0, run.err
    arn = run.last_line  # the one result a script captures
    version = described(aws, arn)
    assert version["ModelPackageGroupName"] == GROUP
    assert version["ModelPackageStatus"] == "Completed"
    assert version["ModelApprovalStatus"] == "PendingManualApproval"
    assert version["ModelPackageDescription"] == "first forest"

    spec = version["InferenceSpecification"]
    (container,) = spec["Containers"]
    assert container["Image"] == IMAGE
    # the runtime's own lists, not a copy
    assert spec["SupportedContentTypes"] == list(codecs.DECODABLE)
    assert spec["SupportedResponseMIMETypes"] == list(codecs.ENCODABLE)
    assert spec["SupportedRealtimeInferenceInstanceTypes"] == list(registry.DEFAULT_REALTIME_INSTANCE_TYPES)
    assert spec["SupportedTransformInstanceTypes"] == list(registry.DEFAULT_TRANSFORM_INSTANCE_TYPES)

    # the model and its report sit in the version's own folder of the default bucket
    match = re.fullmatch(rf"s3://{BUCKET}/(byoc/registry/{GROUP}/{GROUP}-[0-9-]+)/model\.tar\.gz",
                         container["ModelDataUrl"])
    assert match, container["ModelDataUrl"]
    folder = match.group(1)
    assert sorted(aws.s3_keys(BUCKET)) == [f"{folder}/evaluation.json", f"{folder}/model.tar.gz"]
    statistics = version["ModelMetrics"]["ModelQuality"]["Statistics"]
    assert statistics["S3Uri"] == f"s3://{BUCKET}/{folder}/evaluation.json"
    assert statistics["ContentType"] == "application/json"
    body, report = s3_json(aws, statistics["S3Uri"])
    assert statistics["ContentDigest"] == "sha256:" + hashlib.sha256(body).hexdigest()

    metadata = json.loads((model_dir / "metadata.json").read_text())
    # iris: three classes, evaluated on the validation channel (the sample model has no test channel)
    assert report["byoc"]["evaluated_on"] == "validation"
    assert report["multiclass_classification_metrics"]["accuracy"]["value"] == \
        pytest.approx(metadata["metrics"]["validation:accuracy"])
    assert report["byoc"]["metrics"] == pytest.approx(metadata["metrics"])

    properties = version["CustomerMetadataProperties"]
    assert properties["git commit"] == "0a1b2c3"
    assert properties["task"] == "classification" and properties["n_features"] == "4"
    assert properties["estimator"] == metadata["estimator"]
    assert float(properties["validation:accuracy"]) == pytest.approx(metadata["metrics"]["validation:accuracy"],
                                                                     rel=1e-5)

    (wire,) = sent(calls, "CreateModelPackage")
    assert "ModelPackageName" not in wire and "Tags" not in wire  # the versioned form
    assert len(wire["ClientToken"]) == 36  # a retried call does not make a second version


def test_register_approve_makes_an_approved_version(aws, byoc, model_dir) -> None:
    run = register(byoc, model_dir, "--approve")
    assert run.code == 0, run.err
    assert described(aws, run.last_line)["ModelApprovalStatus"] == "Approved"
    assert "Deploy it: byoc deploy ENDPOINT --model-group iris-models --role ROLE_ARN" in run.err


def test_register_from_a_training_job_takes_its_artifacts_and_image(aws, byoc, model_dir, tmp_path) -> None:
    sm = aws.client("sagemaker")
    sm.create_training_job(
        TrainingJobName="iris-rf-7", RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/byoc/training"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
        StoppingCondition={"MaxRuntimeInSeconds": 3600})
    job = sm.describe_training_job(TrainingJobName="iris-rf-7")
    artifacts = job["ModelArtifacts"]["S3ModelArtifacts"]

    # moto writes no model: until one is there, register says which object is missing
    aws.client("s3").create_bucket(Bucket=BUCKET)
    run = byoc("register", GROUP, "--training-job", "iris-rf-7")
    assert run.code == 5, run.err
    assert f"{artifacts} does not exist" in run.err
    assert registry_groups(aws) == []  # checked before the group is made

    archive = jobdir.pack(model_dir, tmp_path / "model.tar.gz")
    bucket, _, key = artifacts.removeprefix("s3://").partition("/")
    aws.client("s3").upload_file(str(archive), bucket, key)
    run = byoc("register", GROUP, "--training-job", "iris-rf-7")
    assert run.code == 0, run.err
    version = described(aws, run.last_line)
    (container,) = version["InferenceSpecification"]["Containers"]
    assert container == {"Image": IMAGE, "ModelDataUrl": artifacts} or (
        container["Image"], container["ModelDataUrl"]) == (IMAGE, artifacts)  # not uploaded again
    assert version["MetadataProperties"] == {"GeneratedBy": job["TrainingJobArn"]}
    assert version["ModelPackageDescription"] == "The model of training job iris-rf-7"
    assert "ModelQuality" in version["ModelMetrics"]  # read from the archive's metadata.json


def test_register_from_a_tuning_job_follows_its_best_training_job(aws, byoc, model_dir, tmp_path) -> None:
    sm = aws.client("sagemaker")
    definition = {"AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
                  "RoleArn": ROLE, "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/byoc/training"},
                  "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
                  "StoppingCondition": {"MaxRuntimeInSeconds": 3600}}
    sm.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="iris-tune", TrainingJobDefinition=definition,
        HyperParameterTuningJobConfig={
            "Strategy": "Bayesian",
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:accuracy"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": {"IntegerParameterRanges": [
                {"Name": "n_estimators", "MinValue": "10", "MaxValue": "100"}]}})
    best = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="iris-tune")["BestTrainingJob"]
    assert best["TrainingJobName"] == "FakeTrainingJobName"  # moto's fixed fake: no job of that name exists

    run = byoc("register", GROUP, "--tuning-job", "iris-tune")
    assert run.code == 6, run.err  # the emulator's best job is no training job: a gap, not a result
    assert "reports FakeTrainingJobName as the best training job of iris-tune, but has no such training job" in run.err
    assert "CreateModelPackage" not in run.err and registry_groups(aws) == []

    # give moto's fake name a real job (and model), so the lookup can be followed to the end
    sm.create_training_job(TrainingJobName="FakeTrainingJobName", **definition)
    artifacts = sm.describe_training_job(TrainingJobName="FakeTrainingJobName")["ModelArtifacts"]["S3ModelArtifacts"]
    aws.client("s3").create_bucket(Bucket=BUCKET)
    bucket, _, key = artifacts.removeprefix("s3://").partition("/")
    aws.client("s3").upload_file(str(jobdir.pack(model_dir, tmp_path / "model.tar.gz")), bucket, key)
    run = byoc("register", GROUP, "--tuning-job", "iris-tune")
    assert run.code == 0, run.err
    assert "Best training job of tuning job iris-tune: FakeTrainingJobName" in run.err
    version = described(aws, run.last_line)
    assert version["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == artifacts
    assert version["ModelPackageDescription"] == "The best model of tuning job iris-tune"


def test_a_tuning_job_missing_is_not_found(aws, byoc) -> None:
    run = byoc("register", GROUP, "--tuning-job", "nope")
    assert run.code == 5 and "tuning job nope not found" in run.err


def registry_groups(aws) -> list[str]:
    groups = aws.client("sagemaker").list_model_package_groups()["ModelPackageGroupSummaryList"]
    return [g["ModelPackageGroupName"] for g in groups]


@pytest.mark.parametrize("extra,fragment", [
    (("--property", "url=https://x/?a=1&b=2"), "only letters, digits, spaces and"),
    (("--property", "k=" + "v" * 257), "the value is 257 characters; the limit is 256"),
    (("--training-job", "iris-rf-7"), "exactly one of --model, --training-job or --tuning-job"),
    (("--realtime-instance-types", "ml.m5.large,ml.m99.huge"), "ml.m99.huge is not real-time instance type"),
    (("--transform-instance-types", "ml.t2.medium"), "ml.t2.medium is not transform instance type"),
    (("--description", "d" * 1025), "--description is 1025 characters"),
])
def test_bad_register_input_is_refused_before_any_call(aws, byoc, model_dir, calls, extra, fragment) -> None:
    run = register(byoc, model_dir, *extra)
    assert run.code == 2, run.err
    assert fragment in run.err
    assert calls == [] and registry_groups(aws) == []


def test_register_needs_an_image_with_a_model_and_a_valid_group_name(aws, byoc, model_dir, calls) -> None:
    run = byoc("register", GROUP, "--model", model_dir)
    assert run.code == 2 and "--image is needed with --model" in run.err
    run = register(byoc, model_dir, group="iris_models")
    assert run.code == 2 and "model package group name 'iris_models' is not valid" in run.err
    assert calls == []


def test_a_model_that_does_not_load_is_refused_before_anything_is_created(aws, byoc, tmp_path, calls) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.joblib").write_bytes(b"not a model")
    run = register(byoc, broken)
    assert run.code == 2 and "cannot load the model" in run.err
    assert calls == []


# -- approve, reject, versions ----------------------------------------------------------------


def test_approve_and_reject_keep_the_versions_metadata(aws, byoc, model_dir) -> None:
    arn = register(byoc, model_dir, "--property", "git commit=0a1b2c3").last_line
    before = described(aws, arn)

    run = byoc("approve", GROUP, "1", "--description", "beats version 0 on validation")
    assert run.code == 0, run.err
    assert run.last_line == arn
    assert "version 1 of iris-models: PendingManualApproval -> Approved" in run.err
    after = described(aws, arn)
    assert after["ModelApprovalStatus"] == "Approved"
    assert after["ApprovalDescription"] == "beats version 0 on validation"
    assert after["CustomerMetadataProperties"] == before["CustomerMetadataProperties"]
    assert after["ModelMetrics"] == before["ModelMetrics"]  # not part of an update at all

    # reject by ARN, with no new note: the previous note stays, as AWS keeps unsent fields
    run = byoc("approve", GROUP, arn, "--reject")
    assert run.code == 0, run.err
    assert "Approved -> Rejected" in run.err and "no Approved version now" in run.err
    after = described(aws, arn)
    assert after["ModelApprovalStatus"] == "Rejected"
    assert after["ApprovalDescription"] == "beats version 0 on validation"
    assert after["CustomerMetadataProperties"] == before["CustomerMetadataProperties"]


def test_moto_update_wipes_what_an_update_does_not_send(aws, byoc, model_dir) -> None:
    """The quirk byoc approve resends fields for. If this fails, moto changed: update the
    contract (sagemaker-jobs-contract.md 3.4) and this file's docstring."""
    arn = register(byoc, model_dir).last_line
    assert described(aws, arn).get("CustomerMetadataProperties")
    aws.client("sagemaker").update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    assert "CustomerMetadataProperties" not in described(aws, arn)


def test_moto_quirks_registry(aws) -> None:
    """ARNs lower-case the group; no approval status unless sent; no delete calls; no
    '<group>/<version>' names. Each is a difference from AWS (or an undocumented AWS behaviour)."""
    from botocore.exceptions import ClientError

    sm = aws.client("sagemaker")
    sm.create_model_package_group(ModelPackageGroupName="Iris-Models")
    arn = sm.create_model_package(
        ModelPackageGroupName="Iris-Models",
        InferenceSpecification={"Containers": [{"Image": IMAGE}], "SupportedContentTypes": ["text/csv"],
                                "SupportedResponseMIMETypes": ["text/csv"]})["ModelPackageArn"]
    assert arn == f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/iris-models/1"
    assert "ModelApprovalStatus" not in sm.describe_model_package(ModelPackageName=arn)
    with pytest.raises(ClientError) as raised:
        sm.describe_model_package(ModelPackageName="Iris-Models/1")
    assert "not found" in str(raised.value)
    for call, params in ((sm.delete_model_package, {"ModelPackageName": arn}),
                         (sm.delete_model_package_group, {"ModelPackageGroupName": "Iris-Models"})):
        with pytest.raises(ClientError) as raised:
            call(**params)
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500  # NotImplementedError


def test_a_mixed_case_group_works_by_version_number(aws, byoc, model_dir) -> None:
    """byoc never builds an ARN from a name, so moto's lower-casing does not matter to it."""
    arn = register(byoc, model_dir, group="Iris-Models").last_line
    assert "/iris-models/1" in arn
    run = byoc("approve", "Iris-Models", "1")
    assert run.code == 0 and run.last_line == arn


def test_approve_says_what_is_missing(aws, byoc, model_dir) -> None:
    run = byoc("approve", GROUP, "1")
    assert run.code == 5 and "model package group iris-models does not exist" in run.err
    register(byoc, model_dir)
    run = byoc("approve", GROUP, "9")
    assert run.code == 5 and "has no version 9; its versions are 1" in run.err
    run = byoc("approve", GROUP, "latest")
    assert run.code == 2 and "neither a version number" in run.err
    run = byoc("approve", GROUP, register(byoc, model_dir, group="other").last_line)
    assert run.code == 2 and "is version 1 of other, not a version of iris-models" in run.err


def test_versions_lists_newest_first_and_marks_what_deploy_takes(aws, byoc, model_dir) -> None:
    for extra in (("--approve",), ("--approve",), ()):
        assert register(byoc, model_dir, *extra).code == 0
    run = byoc("versions", GROUP)
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert lines[0].split() == ["VERSION", "APPROVAL", "STATUS", "CREATED", "ARN"]
    rows = [line.split() for line in lines[1:]]
    assert [row[0] for row in rows] == ["3", "*", "1"]  # version 2 is marked
    assert rows[1][1:4] == ["2", "Approved", "Completed"]
    assert rows[0][:3] == ["3", "PendingManualApproval", "Completed"]


# -- deploy a registered version --------------------------------------------------------------


def test_deploy_a_group_takes_the_newest_approved_version(aws, byoc, model_dir, calls) -> None:
    arns = [register(byoc, model_dir, *extra).last_line
            for extra in (("--approve",), ("--approve",), (), ("--approve",))]
    assert byoc("approve", GROUP, "4", "--reject").code == 0
    # version 1 Approved, 2 Approved, 3 Pending, 4 Rejected: the newest Approved one is 2
    calls.clear()
    run = byoc("deploy", "iris", "--model-group", GROUP, "--role", ROLE, "--wait")
    assert run.code == 0, run.err
    assert run.last_line == "iris"
    assert f"Latest Approved version of {GROUP}: 2" in run.err
    (listed,) = sent(calls, "ListModelPackages")
    assert listed == {"ModelPackageGroupName": GROUP, "ModelPackageType": "Versioned",
                      "ModelApprovalStatus": "Approved", "SortBy": "CreationTime", "SortOrder": "Descending",
                      "MaxResults": 1}
    (create,) = sent(calls, "CreateModel")
    assert create["Containers"] == [{"ModelPackageName": arns[1]}] and "PrimaryContainer" not in create
    sm = aws.client("sagemaker")
    config = sm.describe_endpoint_config(EndpointConfigName=sm.describe_endpoint(EndpointName="iris")[
        "EndpointConfigName"])
    model = sm.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    assert [c["ModelPackageName"] for c in model["Containers"]] == [arns[1]]
    # the smoke request is as wide as the registered model (n_features from the version)
    (smoke,) = sent(calls, "InvokeEndpoint")
    assert smoke["Body"] == b"0,0,0,0\n"

    assert byoc("delete", "iris").code == 0
    assert aws.sagemaker_inventory() == {"models": [], "configs": [], "endpoints": []}


def test_deploy_by_arn_carries_the_serving_environment(aws, byoc, model_dir, calls) -> None:
    arn = register(byoc, model_dir, "--approve").last_line
    run = byoc("deploy", "iris", "--model-package", arn, "--role", ROLE, "--workers", "2")
    assert run.code == 0, run.err
    (create,) = sent(calls, "CreateModel")
    assert create["Containers"] == [{"ModelPackageName": arn, "Environment": {"MODEL_SERVER_WORKERS": "2"}}]


def test_an_unapproved_version_is_refused_and_the_hint_approves_it(aws, byoc, model_dir) -> None:
    arn = register(byoc, model_dir).last_line
    run = byoc("deploy", "iris", "--model-package", arn, "--role", ROLE)
    assert run.code == 2, run.err
    assert "version 1 of iris-models is PendingManualApproval, not Approved" in run.err
    assert aws.sagemaker_inventory() == {"models": [], "configs": [], "endpoints": []}
    run = byoc("deploy", "iris", "--model-group", GROUP, "--role", ROLE)
    assert run.code == 2 and "model package group iris-models has no Approved version" in run.err
    command = hint(run.err, "Approve one:")
    assert command == ["approve", GROUP, "1"]

    assert byoc("approve", GROUP, "1", "--reject", "--description", "worse than prod").code == 0
    run = byoc("deploy", "iris", "--model-package", arn, "--role", ROLE)
    assert run.code == 2 and "is Rejected, not Approved" in run.err and "worse than prod" in run.err
    assert aws.sagemaker_inventory() == {"models": [], "configs": [], "endpoints": []}

    assert byoc(*command).code == 0  # the hint runs as printed
    run = byoc("deploy", "iris", "--model-package", arn, "--role", ROLE)
    assert run.code == 0, run.err


@pytest.mark.parametrize("extra,fragment", [
    (("--model-package", "arn:x", "--image", IMAGE), "drop --image"),
    (("--model-group", GROUP, "--model", "m"), "drop --model"),
    (("--model-group", GROUP, "--model-package", "arn:x"), "not both"),
    ((), "--model is needed"),
    (("--model-group", "bad_group"), "model package group name 'bad_group' is not valid"),
])
def test_deploy_source_conflicts_are_refused(aws, byoc, calls, extra, fragment) -> None:
    run = byoc("deploy", "iris", "--role", ROLE, *extra)
    assert run.code == 2, run.err
    assert fragment in run.err and calls == []


def test_deploy_of_a_missing_group_or_version_is_not_found(aws, byoc) -> None:
    run = byoc("deploy", "iris", "--model-group", GROUP, "--role", ROLE)
    assert run.code == 5 and "model package group iris-models does not exist" in run.err
    missing = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{GROUP}/3"
    run = byoc("deploy", "iris", "--model-package", missing, "--role", ROLE)
    assert run.code == 5 and f"model package {missing} does not exist" in run.err
    assert aws.sagemaker_inventory() == {"models": [], "configs": [], "endpoints": []}


# -- pure parts -------------------------------------------------------------------------------


def test_default_instance_types_include_the_deploy_and_transform_default() -> None:
    from byoc.commands.aws_options import DEFAULT_INSTANCE

    assert DEFAULT_INSTANCE in registry.DEFAULT_REALTIME_INSTANCE_TYPES
    assert DEFAULT_INSTANCE in registry.DEFAULT_TRANSFORM_INSTANCE_TYPES
    assert registry.instance_types_problems(list(registry.DEFAULT_REALTIME_INSTANCE_TYPES), "real-time") == []
    assert registry.instance_types_problems(list(registry.DEFAULT_TRANSFORM_INSTANCE_TYPES), "transform") == []


@pytest.mark.parametrize("key,value,ok", [
    ("validation:accuracy", "0.973333", True),
    ("git commit", "0a1b2c3", True),
    ("source", "s3://bucket/key/model.tar.gz", True),
    ("owner", "ana@example.com", True),
    ("modèle", "forêt", True),  # letters of any script
    ("url", "https://x/?a=1", False),
    ("classes", "setosa,versicolor", False),
    ("", "x", False),
    ("k", "", False),
    ("k" * 129, "x", False),
])
def test_property_rules(key: str, value: str, ok: bool) -> None:
    assert (registry.property_problem(key, value) is None) == ok


def test_metadata_properties_and_report_from_metadata_json() -> None:
    metadata = {"task": "classification", "classes": ["no", "yes"], "positive_class": "yes", "n_features": 12,
                "estimator": "random_forest", "training_job": None, "metrics": {"train:accuracy": 1.0, "validation:accuracy": 0.91,
                                                  "test:accuracy": 0.9, "test:log_loss": float("nan")}}
    properties, notes = registry.metadata_properties(metadata)
    assert properties == {"test:accuracy": "0.9", "train:accuracy": "1", "validation:accuracy": "0.91",
                          "estimator": "random_forest", "task": "classification", "n_features": "12",
                          "positive_class": "yes"}
    assert notes == []
    report = registry.metrics_report(metadata)
    assert report["binary_classification_metrics"] == {"accuracy": {"value": 0.9, "standard_deviation": "NaN"}}
    assert report["byoc"]["evaluated_on"] == "test" and report["byoc"]["positive_class"] == "yes"
    # a value the API's character set refuses is left out, said so, not sent to fail the call
    properties, notes = registry.metadata_properties({"estimator": "forest?v2"})
    assert properties == {} and "not recorded as a property" in notes[0]
    assert registry.metrics_report({"task": "regression", "metrics": {"validation:rmse": 2.0}})[
        "regression_metrics"] == {"rmse": {"value": 2.0, "standard_deviation": "NaN"}}
    assert registry.metrics_report({"metrics": {}}) is None and registry.metrics_report({}) is None


def test_properties_the_user_gives_win_and_fit_in_fifty() -> None:
    automatic = {f"m{i}": "1" for i in range(45)}
    given = {f"u{i}": "2" for i in range(10)} | {"m0": "mine"}
    merged, notes = registry.merged_properties(automatic, given)
    assert len(merged) == 50 and merged["m0"] == "mine" and all(f"u{i}" in merged for i in range(10))
    assert notes and "5 of the model's own properties left out" in notes[0]


def test_a_model_is_made_from_a_package_or_from_an_image_and_data_never_both() -> None:
    from byoc.aws import models

    request = models.build_create_model(name="m", role=ROLE, model_package="arn:p/1", environment={"A": "1"})
    assert request == {"ModelName": "m", "ExecutionRoleArn": ROLE,
                       "Containers": [{"ModelPackageName": "arn:p/1", "Environment": {"A": "1"}}]}
    with pytest.raises(ValueError):
        models.build_create_model(name="m", role=ROLE, model_package="arn:p/1", image=IMAGE)
    with pytest.raises(ValueError):
        models.build_create_model(name="m", role=ROLE, image=IMAGE)


def test_approval_update_resends_what_moto_would_wipe() -> None:
    version = {"ModelPackageArn": "arn:p/1", "ApprovalDescription": "old note",
               "CustomerMetadataProperties": {"a": "1"}, "ModelApprovalStatus": "PendingManualApproval"}
    assert registry.build_approval_update(version, "Approved") == {
        "ModelPackageArn": "arn:p/1", "ModelApprovalStatus": "Approved", "ApprovalDescription": "old note",
        "CustomerMetadataProperties": {"a": "1"}}
    assert registry.build_approval_update({"ModelPackageArn": "arn:p/1"}, "Rejected", "why") == {
        "ModelPackageArn": "arn:p/1", "ModelApprovalStatus": "Rejected", "ApprovalDescription": "why"}


# -- what moto never does: stubbed responses --------------------------------------------------

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
PACKAGE = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{GROUP}/"


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch):
    import boto3
    from botocore.stub import Stubber

    for key, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    client = boto3.session.Session(region_name=REGION).client("sagemaker")
    session = AwsSession(REGION, "test", None)
    session._clients["sagemaker"] = client
    with Stubber(client) as stubber:
        yield session, stubber
        stubber.assert_no_pending_responses()


def _summary(version: int) -> dict:
    return {"ModelPackageGroupName": GROUP, "ModelPackageVersion": version, "ModelPackageArn": PACKAGE + str(version),
            "CreationTime": NOW, "ModelPackageStatus": "Completed", "ModelApprovalStatus": "Approved"}


def test_latest_approved_reads_on_through_empty_pages(stubbed) -> None:
    """AWS filters after paging, so a page can be empty while a NextToken says there is more."""
    session, stubber = stubbed
    first = {"ModelPackageGroupName": GROUP, "ModelPackageType": "Versioned", "ModelApprovalStatus": "Approved",
             "SortBy": "CreationTime", "SortOrder": "Descending", "MaxResults": 1}
    stubber.add_response("list_model_packages", {"ModelPackageSummaryList": [], "NextToken": "t1"}, first)
    stubber.add_response("list_model_packages", {"ModelPackageSummaryList": [], "NextToken": "t2"},
                         {**first, "NextToken": "t1"})
    stubber.add_response("list_model_packages", {"ModelPackageSummaryList": [_summary(7)], "NextToken": "t3"},
                         {**first, "NextToken": "t2"})
    assert registry.latest_approved(session, GROUP)["ModelPackageVersion"] == 7  # and no fourth call


def test_latest_approved_is_none_when_the_pages_run_out(stubbed) -> None:
    session, stubber = stubbed
    stubber.add_response("list_model_packages", {"ModelPackageSummaryList": [], "NextToken": "t1"})
    stubber.add_response("list_model_packages", {"ModelPackageSummaryList": []})
    assert registry.latest_approved(session, GROUP) is None


def _version(status: str, **extra) -> dict:
    return {"ModelPackageName": GROUP, "ModelPackageGroupName": GROUP, "ModelPackageVersion": 3,
            "ModelPackageArn": PACKAGE + "3", "CreationTime": NOW, "ModelPackageStatus": status,
            "ModelPackageStatusDetails": {"ValidationStatuses": []}, **extra}


def test_a_new_version_is_polled_until_completed(stubbed) -> None:
    session, stubber = stubbed
    for status in ("Pending", "InProgress", "Completed"):
        stubber.add_response("describe_model_package", _version(status), {"ModelPackageName": PACKAGE + "3"})
    out = io.StringIO()
    assert registry.wait_completed(session, PACKAGE + "3", delay=0, out=out)["ModelPackageStatus"] == "Completed"
    assert [line.split("] ")[1] for line in out.getvalue().splitlines()] == [
        f"version 3 of {GROUP}: Pending", f"version 3 of {GROUP}: InProgress", f"version 3 of {GROUP}: Completed"]


def test_a_failed_version_says_why(stubbed) -> None:
    session, stubber = stubbed
    details = {"ValidationStatuses": [{"Name": "v", "Status": "Failed", "FailureReason": "image not found"}]}
    stubber.add_response("describe_model_package", _version("Failed", ModelPackageStatusDetails=details))
    with pytest.raises(Failed) as raised:
        registry.wait_completed(session, PACKAGE + "3", delay=0, out=io.StringIO())
    assert "version 3 of iris-models is Failed: v: image not found" in str(raised.value)
    assert "delete-model-package" in str(raised.value)


def test_waiting_for_a_version_stops_at_the_timeout(stubbed) -> None:
    session, stubber = stubbed
    stubber.add_response("describe_model_package", _version("InProgress"))
    with pytest.raises(TimedOut) as raised:
        registry.wait_completed(session, PACKAGE + "3", delay=0, timeout=0, out=io.StringIO())
    assert "still InProgress" in str(raised.value) and "describe-model-package" in str(raised.value)


def test_a_training_job_that_has_not_completed_is_refused(stubbed) -> None:
    session, stubber = stubbed
    stubber.add_response("describe_training_job", {
        "TrainingJobName": "j", "TrainingJobArn": "arn:j", "TrainingJobStatus": "InProgress",
        "SecondaryStatus": "Training", "AlgorithmSpecification": {"TrainingInputMode": "File"},
        "ModelArtifacts": {"S3ModelArtifacts": "s3://b/j/output/model.tar.gz"},
        "ResourceConfig": {"VolumeSizeInGB": 30}, "StoppingCondition": {}, "CreationTime": NOW})
    with pytest.raises(PreflightError) as raised:
        registry.training_job_model(session, "j")
    assert "training job j is InProgress, not Completed" in str(raised.value)
    assert "wait training-job-completed-or-stopped" in str(raised.value)


def test_a_tuning_job_without_a_best_job_is_not_found(stubbed) -> None:
    from byoc.aws import tuning
    from byoc.errors import NotFound

    session, stubber = stubbed
    stubber.add_response("describe_hyper_parameter_tuning_job", {
        "HyperParameterTuningJobName": "t", "HyperParameterTuningJobArn": "arn:t",
        "HyperParameterTuningJobConfig": {"Strategy": "Bayesian", "ResourceLimits": {"MaxParallelTrainingJobs": 1}},
        "HyperParameterTuningJobStatus": "InProgress", "CreationTime": NOW,
        "TrainingJobStatusCounters": {}, "ObjectiveStatusCounters": {}})
    with pytest.raises(NotFound) as raised:
        tuning.best_training_job(session, "t")
    assert "tuning job t has no best training job yet (InProgress: 0 completed" in str(raised.value)


def test_describe_of_a_missing_version_is_not_found(stubbed) -> None:
    session, stubber = stubbed
    stubber.add_client_error("describe_model_package", "ValidationException",
                             f"ModelPackage {PACKAGE}9 does not exist.")
    with pytest.raises(NotFound):
        registry.describe_version(session, PACKAGE + "9")
