"""Constants and helpers shared by the AWS tests (imported by name: tests/ has no packages)."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
OTHER_ACCOUNT = "210987654321"  # someone else's, for buckets the user does not own
DEFAULT_BUCKET = f"sagemaker-{REGION}-{ACCOUNT}"  # the SDK's default bucket, predictable by anyone
ROLE = f"arn:aws:iam::{ACCOUNT}:role/SageMakerExecution"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/sagemaker-byoc:test"
REPO = Path(__file__).resolve().parents[2]


def aws_environment(moto_url: str, tmp: Path) -> dict[str, str]:
    """What a user's shell would export to point boto3 at an emulator."""
    return {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "BYOC_POLL_SECONDS": "0.2",
    }


@dataclass
class Aws:
    url: str
    env: dict[str, str]

    def client(self, service: str) -> Any:
        import boto3

        return boto3.session.Session(region_name=REGION).client(service)

    def other_account(self, service: str, account: str = OTHER_ACCOUNT) -> Any:
        """A client acting as another account: moto maps the access key STS AssumeRole hands out
        to the account in the role's ARN, as AWS does."""
        import boto3

        credentials = self.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/other", RoleSessionName="other-account")["Credentials"]
        session = boto3.session.Session(
            aws_access_key_id=credentials["AccessKeyId"], aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"], region_name=REGION)
        client = session.client(service)
        if service == "sts":
            assert client.get_caller_identity()["Account"] == account
        return client

    def queue_invoke_results(self, results: list[dict[str, str]]) -> None:
        """moto's own API: what its invoke_endpoint returns next (emulator behaviour only)."""
        body = json.dumps({"account_id": ACCOUNT, "region": REGION, "results": results}).encode()
        request = urllib.request.Request(f"{self.url}/moto-api/static/sagemaker/endpoint-results",
                                         data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=10).close()

    def register_image(self, uri: str = IMAGE) -> None:
        """Put an image manifest for uri into moto's ECR, as a push would (moto cannot take layers)."""
        repository, _, tag = uri.split("/", 1)[1].partition(":")
        ecr = self.client("ecr")
        try:
            ecr.create_repository(repositoryName=repository)
        except ecr.exceptions.RepositoryAlreadyExistsException:
            pass
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                    "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1,
                               "digest": "sha256:" + "0" * 64}, "layers": []}
        ecr.put_image(repositoryName=repository, imageManifest=json.dumps(manifest), imageTag=tag)

    def sagemaker_inventory(self) -> dict[str, list[str]]:
        sm = self.client("sagemaker")
        return {
            "models": [m["ModelName"] for m in sm.list_models()["Models"]],
            "configs": [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]],
            "endpoints": [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]],
        }

    def s3_keys(self, bucket: str) -> list[str]:
        response = self.client("s3").list_objects_v2(Bucket=bucket)
        return [o["Key"] for o in response.get("Contents", [])]


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def last_line(self) -> str:
        lines = self.out.strip().splitlines()
        return lines[-1] if lines else ""


def sent(calls: list[tuple[str, dict[str, Any]]], operation: str) -> list[dict[str, Any]]:
    return [params for name, params in calls if name == operation]
