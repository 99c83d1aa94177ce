"""Amazon ECR for build_and_push.sh: where the registry is, the repository, login and tags.

The shell script calls these through hidden `byoc ecr ...` subcommands, so a user needs
Docker and this project's CLI, not the AWS CLI too.
"""

from __future__ import annotations

import base64
import re
import urllib.error
import urllib.request
from typing import IO

from . import names
from .console import STDERR
from .errors import ConfigError, PreflightError
from .session import AwsSession, error_code, translate

ECR_HOST = re.compile(r"\d{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?")
MANIFEST_TYPES = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
])


def registry_host(account: str, region: str) -> str:
    suffix = ".amazonaws.com.cn" if region.startswith("cn-") else ".amazonaws.com"
    return f"{account}.dkr.ecr.{region}{suffix}"


def is_ecr_host(host: str) -> bool:
    return bool(ECR_HOST.fullmatch(host))


def ensure_repository(session: AwsSession, name: str, *, scan_on_push: bool = True,
                      out: IO[str] = STDERR) -> tuple[str, bool]:
    """(repository URI, created?). Created only when DescribeRepositories says it is missing;
    a permission error is reported as one, never taken for "missing"."""
    from botocore.exceptions import ClientError

    problem = names.problem("ECR repository", name)
    if problem:
        raise PreflightError(problem)
    client = session.client("ecr")
    with translate("ecr:DescribeRepositories", session):
        try:
            repository = client.describe_repositories(repositoryNames=[name])["repositories"][0]
        except ClientError as exc:
            if error_code(exc) != "RepositoryNotFoundException":
                raise
            repository = None
    if repository is not None:
        scanning = repository.get("imageScanningConfiguration", {}).get("scanOnPush")
        print(f"ECR repository {name} exists (scan on push: {'on' if scanning else 'off'})", file=out)
        return repository["repositoryUri"], False
    print(f"Creating ECR repository {name} (scan on push: {'on' if scan_on_push else 'off'})", file=out)
    with translate("ecr:CreateRepository", session):
        try:
            repository = client.create_repository(
                repositoryName=name,
                imageScanningConfiguration={"scanOnPush": scan_on_push},
                imageTagMutability="MUTABLE",  # `latest` moves; the build tag is never reused (see tag_exists)
                tags=[{"Key": "created-by", "Value": "sagemaker-byoc"}],
            )["repository"]
        except ClientError as exc:
            if error_code(exc) != "RepositoryAlreadyExistsException":  # created meanwhile
                raise
            repository = client.describe_repositories(repositoryNames=[name])["repositories"][0]
    return repository["repositoryUri"], True


def login_password(session: AwsSession) -> tuple[str, str, str]:
    """(user, password, registry host) from GetAuthorizationToken; valid for 12 hours."""
    with translate("ecr:GetAuthorizationToken", session):
        data = session.client("ecr").get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    if not password:
        raise ConfigError("ECR returned an authorization token without a password")
    host = data.get("proxyEndpoint", "").removeprefix("https://").removeprefix("http://")
    return user, password, host


def tag_exists(session: AwsSession, registry: str, repository: str, tag: str) -> bool | None:
    """Whether repository:tag is already in the registry; None when it cannot be told."""
    if is_ecr_host(registry):
        from botocore.exceptions import ClientError

        with translate("ecr:DescribeImages", session):
            try:
                session.client("ecr").describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])
                return True
            except ClientError as exc:
                if error_code(exc) in ("ImageNotFoundException", "RepositoryNotFoundException"):
                    return False
                raise
    return registry_tag_exists(registry, repository, tag)


def registry_tag_exists(registry: str, repository: str, tag: str, timeout: float = 10) -> bool | None:
    """Docker Registry HTTP API v2: HEAD /v2/<name>/manifests/<tag>. Plain HTTP for loopback
    registries (as Docker itself uses), HTTPS otherwise; None when the registry needs auth."""
    host = registry.split(":")[0]
    scheme = "http" if host in ("127.0.0.1", "localhost", "::1") else "https"
    request = urllib.request.Request(f"{scheme}://{registry}/v2/{repository}/manifests/{tag}",
                                     method="HEAD", headers={"Accept": MANIFEST_TYPES})
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return True
    except urllib.error.HTTPError as exc:
        return False if exc.code == 404 else None
    except (urllib.error.URLError, OSError):
        return None


def image_problem(session: AwsSession, image: str) -> tuple[str | None, str | None]:
    """(problem, note) for an ECR image URI in the caller's own account: the repository and the
    tag or digest must exist there, or SageMaker fails later with "Cannot pull ... image".
    Images in other accounts, and a caller without ecr:DescribeImages, get a note instead."""
    from botocore.exceptions import ClientError

    from .preflight import ECR_IMAGE

    match = ECR_IMAGE.fullmatch(image)
    if not match or not match.group("ref"):
        return None, None
    if match.group("account") != session.account():
        return None, (f"{image} is in account {match.group('account')}: not checked; its repository "
                      "policy must let SageMaker (and your role) pull it")
    ref = match.group("ref")
    image_id = {"imageDigest": ref[1:]} if ref.startswith("@") else {"imageTag": ref[1:]}
    repository = match.group("repository")
    try:
        with translate("ecr:DescribeImages", session):
            try:
                session.client("ecr").describe_images(repositoryName=repository, imageIds=[image_id])
            except ClientError as exc:
                code = error_code(exc)
                if code == "RepositoryNotFoundException":
                    return (f"ECR has no repository {repository} in {session.region}: push the image there "
                            f"with ./build_and_push.sh {repository}"), None
                if code == "ImageNotFoundException":
                    return (f"ECR repository {repository} has no image {ref[1:]}: use the URI "
                            "build_and_push.sh printed last"), None
                raise
    except ConfigError as exc:
        return None, f"image not checked in ECR ({exc.message})"
    return None, None
