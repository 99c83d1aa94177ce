"""The `byoc ecr` helpers that build_and_push.sh calls, against moto's ECR."""

from __future__ import annotations

import base64

import pytest

from aws_helpers import ACCOUNT, REGION

pytestmark = pytest.mark.aws


def test_whoami_resolves_region_account_and_registry(aws, byoc) -> None:
    run = byoc("ecr", "whoami")
    assert run.code == 0, run.err
    assert run.out.split() == [REGION, ACCOUNT, f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"]


def test_ensure_repo_creates_once_with_scan_on_push(aws, byoc) -> None:
    first = byoc("ecr", "ensure-repo", "team/sagemaker-byoc")
    assert first.code == 0 and first.last_line == f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/team/sagemaker-byoc"
    assert "Creating ECR repository" in first.err
    second = byoc("ecr", "ensure-repo", "team/sagemaker-byoc")
    assert second.code == 0 and "exists (scan on push: on)" in second.err
    (repo,) = [r for r in aws.client("ecr").describe_repositories()["repositories"]
               if r["repositoryName"] == "team/sagemaker-byoc"]
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repo["imageTagMutability"] == "MUTABLE"  # latest moves; the build tag is protected by tag-exists
    assert byoc("ecr", "ensure-repo", "Upper_Case").code == 2


def test_password_is_the_token_without_the_user(aws, byoc) -> None:
    token = aws.client("ecr").get_authorization_token()["authorizationData"][0]["authorizationToken"]
    run = byoc("ecr", "password")
    assert run.code == 0
    assert "AWS:" + run.out.strip() == base64.b64decode(token).decode()


def test_tag_exists_asks_ecr_for_ecr_hosts(aws, byoc) -> None:
    aws.register_image(f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/app:v1")
    host = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
    assert byoc("ecr", "tag-exists", host, "app", "v1").out.strip() == "yes"
    assert byoc("ecr", "tag-exists", host, "app", "v2").out.strip() == "no"
    assert byoc("ecr", "tag-exists", host, "missing", "v1").out.strip() == "no"


@pytest.mark.parametrize("name,tag,fragment", [
    ("Bad_Name", "v1", "ECR repository name 'Bad_Name' is not valid"),
    ("good", "latest", "TAG 'latest' moves with every push"),
    ("good", "-bad", "TAG '-bad' is not a valid image tag"),
    ("good", "x" * 129, "is not a valid image tag"),
])
def test_check_target_refuses_what_ecr_would(byoc, name, tag, fragment) -> None:
    """Answered from byoc.aws.ecr's definitions, with no AWS setup at all."""
    run = byoc("ecr", "check-target", "--", name, tag)
    assert run.code == 2 and fragment in run.err
    assert byoc("ecr", "check-target", "team/sagemaker-byoc", "a1b2c3-dirty-20260101").code == 0


def test_registry_kind_uses_the_one_ecr_host_pattern(byoc) -> None:
    from byoc.aws import ecr, preflight

    assert preflight.ECR_IMAGE is ecr.ECR_IMAGE
    assert byoc("ecr", "registry-kind", f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com").out == "ecr\n"
    assert byoc("ecr", "registry-kind", f"{ACCOUNT}.dkr.ecr-fips.us-gov-west-1.amazonaws.com").out == "ecr\n"
    assert byoc("ecr", "registry-kind", f"{ACCOUNT}.dkr.ecr.cn-north-1.amazonaws.com.cn").out == "ecr\n"
    assert byoc("ecr", "registry-kind", "127.0.0.1:5000").out == "other\n"


def test_record_image_is_for_an_emulator_only(aws, byoc, monkeypatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    run = byoc("ecr", "record-image", "127.0.0.1:5000", "app", "v1")
    assert run.code == 2 and "writes to an emulator's ECR only" in run.err


def test_the_script_declares_no_ecr_pattern_of_its_own() -> None:
    from aws_helpers import REPO

    script = (REPO / "build_and_push.sh").read_text()
    assert "=~" not in script and "dkr" not in script  # it asks `byoc ecr check-target` / `registry-kind`
