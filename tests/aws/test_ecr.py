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
