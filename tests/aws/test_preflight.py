"""Every pre-flight check refuses bad input with a message that says what to do, exits 2, and
leaves the account as it was (checked in moto: no bucket, model, config or endpoint appears)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from byoc.aws import preflight

from aws_helpers import ACCOUNT, IMAGE, REGION, ROLE

pytestmark = pytest.mark.aws


def _untouched(aws) -> None:
    assert aws.sagemaker_inventory() == {"models": [], "configs": [], "endpoints": []}
    assert aws.client("s3").list_buckets()["Buckets"] == []


def _deploy(byoc, model: Path | str, *extra: str, image: str = IMAGE, role: str = ROLE, name: str = "iris"):
    return byoc("deploy", name, "--image", image, "--model", model, "--role", role, *extra)


def _tar(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


# -- model archive --------------------------------------------------------------------------------


def test_an_archive_with_a_top_level_folder_is_refused_with_the_tar_command(aws, byoc, model_dir, tmp_path) -> None:
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(model_dir, arcname="model")  # the classic `tar czf model.tar.gz model/`
    run = _deploy(byoc, archive)
    assert run.code == 2, run.err
    assert "top-level folder model/" in run.err
    assert "tar -C MODEL_DIR -czf model.tar.gz ." in run.err
    _untouched(aws)


def test_an_archive_without_a_model_or_not_a_tar_is_refused(aws, byoc, tmp_path) -> None:
    run = _deploy(byoc, _tar(tmp_path / "model.tar.gz", {"README.txt": b"hello"}))
    assert run.code == 2
    assert "No model file" in run.err and "README.txt" in run.err
    bogus = tmp_path / "bogus.tar.gz"
    bogus.write_bytes(b"not a tarball")
    run = _deploy(byoc, bogus)
    assert run.code == 2 and "not a readable tar.gz" in run.err
    _untouched(aws)


def test_a_model_the_runtime_cannot_load_is_refused_before_upload(aws, byoc, tmp_path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "model.skops").write_bytes(b"this is not a skops file")
    run = _deploy(byoc, folder)
    assert run.code == 2
    assert "the runtime cannot load the model" in run.err and "--skip-load-check" in run.err
    _untouched(aws)


def test_a_model_changed_after_training_is_refused_before_upload(aws, byoc, model_dir) -> None:
    data = bytearray((model_dir / "model.skops").read_bytes())
    data[-100] ^= 1
    (model_dir / "model.skops").write_bytes(bytes(data))
    run = _deploy(byoc, model_dir)
    assert run.code == 2
    assert "model.skops in" in run.err and "is not the file training wrote" in run.err and "SHA-256" in run.err
    _untouched(aws)


def test_a_pickle_is_not_loaded_on_this_machine_and_the_note_says_so(aws, byoc, tmp_path) -> None:
    """model.joblib may run code when loaded: without the image in this engine, the check is
    skipped (with a note), and the pickle is uploaded unopened."""
    marker = tmp_path / "unpickled"
    folder = tmp_path / "pickled"
    folder.mkdir()
    payload = (b"cbuiltins\nexec\n(Vimport pathlib; pathlib.Path(" + repr(str(marker)).encode()
               + b").write_text('ran')\ntR.")  # pickle protocol 0: exec(...) when loaded
    (folder / "model.joblib").write_bytes(payload)
    run = _deploy(byoc, folder)
    assert run.code == 0, run.err
    assert "Note: model load check skipped: model.joblib is a pickle: loading it runs code the file names" in run.err
    assert f"{IMAGE} cannot run here" in run.err
    assert not marker.exists()


def test_an_unsafe_archive_path_is_refused(aws, byoc, tmp_path) -> None:
    run = _deploy(byoc, _tar(tmp_path / "model.tar.gz", {"../escape.joblib": b"x", "model.joblib": b"x"}))
    assert run.code == 2 and "outside the model folder" in run.err
    _untouched(aws)


# -- role, names, image, instance -----------------------------------------------------------------


@pytest.mark.parametrize("role,fragment", [
    ("SageMakerExecution", "arn:aws:iam::ACCOUNT:role/SageMakerExecution"),
    (f"arn:aws:sts::{ACCOUNT}:assumed-role/Admin/me", "is an STS session"),
    (f"arn:aws:iam::{ACCOUNT}:user/alice", "is an IAM user"),
    ("arn:aws:iam::12345:role/short-account", "malformed"),
])
def test_a_role_that_is_not_a_role_arn_is_refused(aws, byoc, model_dir, role, fragment) -> None:
    run = _deploy(byoc, model_dir, role=role)
    assert run.code == 2 and fragment in run.err, run.err
    _untouched(aws)


def test_no_role_at_all_says_where_to_give_one(aws, byoc, model_dir) -> None:
    run = byoc("deploy", "iris", "--image", IMAGE, "--model", model_dir)
    assert run.code == 2 and "--role arn:aws:iam::ACCOUNT:role/NAME" in run.err


def test_names_that_break_sagemaker_rules_are_refused(aws, byoc, model_dir) -> None:
    run = _deploy(byoc, model_dir, name="iris_v2")
    assert run.code == 2 and "endpoint name 'iris_v2' is not valid" in run.err
    run = _deploy(byoc, model_dir, name="e" * 64)
    assert run.code == 2 and "the limit is 63" in run.err
    run = byoc("train", "--image", IMAGE, "--role", ROLE, "--channel", "train=s3://b/t/", "--job-name", "job.v1")
    assert run.code == 2 and "no underscores, dots or colons" in run.err
    run = byoc("train", "--image", IMAGE, "--role", ROLE, "--channel", "train data=s3://b/t/")
    assert run.code == 2 and "channel name 'train data' is not valid" in run.err
    _untouched(aws)


def test_all_problems_are_reported_at_once(aws, byoc, model_dir) -> None:
    run = _deploy(byoc, model_dir, name="bad_name", role="nope", image="myimage:latest")
    assert run.code == 2
    assert "pre-flight checks failed:" in run.err
    assert "bad_name" in run.err and "is not an ARN" in run.err and "not an Amazon ECR image URI" in run.err


def test_an_image_in_another_region_or_without_a_tag_is_refused(aws, byoc, model_dir) -> None:
    run = _deploy(byoc, model_dir, image=f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-byoc:abc")
    assert run.code == 2 and "is in eu-west-1, but you are working in us-east-1" in run.err
    run = _deploy(byoc, model_dir, image=f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/sagemaker-byoc")
    assert run.code == 2 and "has no :tag or @digest" in run.err
    _untouched(aws)


def test_an_image_that_is_not_in_ecr_is_refused_before_anything_is_made(aws, byoc, model_dir) -> None:
    run = _deploy(byoc, model_dir, image=IMAGE.replace(":test", ":typo"))
    assert run.code == 2 and "ECR repository sagemaker-byoc has no image typo" in run.err
    run = _deploy(byoc, model_dir, image=f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/not-pushed:v1")
    assert run.code == 2 and "ECR has no repository not-pushed in us-east-1" in run.err
    run = byoc("train", "--image", IMAGE.replace(":test", ":typo"), "--role", ROLE, "--channel", "train=s3://b/t/")
    assert run.code == 2 and "has no image typo" in run.err
    _untouched(aws)
    # another account's image cannot be looked up: a note, not a refusal
    other = f"999999999999.dkr.ecr.{REGION}.amazonaws.com/shared:v1"
    run = _deploy(byoc, model_dir, "--no-smoke", image=other)
    assert run.code == 0 and "is in account 999999999999: not checked" in run.err


def test_graviton_types_are_refused_for_training_and_transform(aws, byoc, tmp_path) -> None:
    run = byoc("train", "--image", IMAGE, "--role", ROLE, "--channel", "train=s3://b/t/",
               "--instance-type", "ml.c7g.xlarge")
    assert run.code == 2 and "Graviton (arm64) type; SageMaker offers those for endpoints only" in run.err
    run = byoc("transform", "--model-name", "m", "--input", "s3://b/in/", "--instance-type", "ml.m6g.large")
    assert run.code == 2 and "Transform instance types are all x86" in run.err
    _untouched(aws)


def test_architecture_problem_names_the_fix() -> None:
    problem = preflight.architecture_problem(IMAGE, "arm64", "ml.m5.large")
    assert "linux/arm64" in problem and "exec format error" in problem and "PLATFORM=linux/amd64" in problem
    problem = preflight.architecture_problem(IMAGE, "amd64", "ml.c7g.large")
    assert "PLATFORM=linux/arm64" in problem
    assert preflight.architecture_problem(IMAGE, "x86_64", "ml.m5.large") is None
    assert preflight.architecture_problem(IMAGE, None, "ml.m5.large") is None  # unknown: not refused


# -- S3 -------------------------------------------------------------------------------------------


def test_a_bucket_in_another_region_is_refused(aws, byoc, model_dir) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="models-eu", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    run = _deploy(byoc, model_dir, "--bucket", "models-eu")
    assert run.code == 2
    assert "models-eu (--bucket) is in eu-west-1, but you are working in us-east-1" in run.err
    assert aws.s3_keys("models-eu") == []
    assert aws.sagemaker_inventory()["models"] == []


def test_a_missing_bucket_or_model_object_is_not_found(aws, byoc, model_dir) -> None:
    run = _deploy(byoc, model_dir, "--bucket", "no-such-bucket")
    assert run.code == 5 and "no-such-bucket" in run.err
    aws.client("s3").create_bucket(Bucket="models")
    run = _deploy(byoc, "s3://models/missing/model.tar.gz")
    assert run.code == 5 and "s3://models/missing/model.tar.gz does not exist" in run.err
    assert aws.sagemaker_inventory()["models"] == []


def test_an_s3_model_with_a_bad_layout_is_downloaded_checked_and_refused(aws, byoc, model_dir, tmp_path) -> None:
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(model_dir, arcname="model")
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="models")
    s3.upload_file(str(archive), "models", "nested/model.tar.gz")
    run = _deploy(byoc, "s3://models/nested/model.tar.gz")
    assert run.code == 2 and "top-level folder model/" in run.err
    assert aws.sagemaker_inventory()["models"] == []


def test_an_empty_training_channel_is_refused_before_the_job_starts(aws, byoc) -> None:
    aws.client("s3").create_bucket(Bucket="data")
    run = byoc("train", "--image", IMAGE, "--role", ROLE, "--channel", "train=s3://data/iris/train/")
    assert run.code == 2 and "nothing under s3://data/iris/train/" in run.err
    assert aws.client("sagemaker").list_training_jobs()["TrainingJobSummaries"] == []


# -- limits -------------------------------------------------------------------------------------


def test_transform_payload_times_concurrency_over_100_is_refused(aws, byoc) -> None:
    run = byoc("transform", "--model-name", "m", "--input", "s3://b/in/", "--max-payload-mb", "20",
               "--max-concurrent", "8")
    assert run.code == 2 and "SageMaker refuses more than 100" in run.err


def test_limits_on_hyperparameters_and_environment(aws, byoc, model_dir) -> None:
    run = byoc("train", "--image", IMAGE, "--role", ROLE, "--channel", "train=s3://b/t/", "-H", "x=" + "a" * 2501)
    assert run.code == 2 and "hyperparameter x is 2501 characters" in run.err
    run = _deploy(byoc, model_dir, "--env", "1BAD=x")
    assert run.code == 2 and "environment variable name '1BAD' is not valid" in run.err
    too_many = [arg for i in range(17) for arg in ("--env", f"K{i}=v")]
    run = byoc("transform", "--model-name", "m", "--input", "s3://b/in/", *too_many)
    assert run.code == 2 and "17 transform environment variables; SageMaker takes at most 16" in run.err


def test_an_invoke_body_over_6_mb_is_refused(aws, byoc, tmp_path) -> None:
    big = tmp_path / "big.csv"
    big.write_bytes(b"1" * (preflight.INVOKE_BODY_MAX + 1))
    run = byoc("invoke", "iris", big)
    assert run.code == 2 and "InvokeEndpoint takes at most 6291456" in run.err


def test_autoscaling_bounds_are_checked(aws, byoc) -> None:
    run = byoc("autoscale", "iris", "--min", "0", "--max", "2")
    assert run.code == 2 and "keep at least 1 instance" in run.err
    run = byoc("autoscale", "iris", "--min", "3", "--max", "2")
    assert run.code == 2 and "--max 2 is below --min 3" in run.err
