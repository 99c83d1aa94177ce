"""Amazon ECR: the registry host and image URI patterns, and what build_and_push.sh asks of it.

The shell script calls these through hidden `byoc ecr ...` subcommands, so a user needs
Docker and this project's CLI, not the AWS CLI too; and the patterns below are the only
definition of an ECR host, image URI, repository name and tag (the script asks, not re-declares).
"""

from __future__ import annotations

import base64
import re
import urllib.error
import urllib.request
from typing import IO

from . import names
from .console import STDERR
from ..errors import SetupError, PreflightError
from .session import AwsSession, error_code, translate

#: ACCOUNT.dkr.ecr[-fips].REGION.amazonaws.com[.cn]: a private ECR registry.
REGISTRY_HOST = r"(?P<account>\d{12})\.dkr\.ecr(-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?"
ECR_HOST = re.compile(REGISTRY_HOST)
#: HOST/REPOSITORY[:TAG|@DIGEST]; SageMaker runs nothing else.
ECR_IMAGE = re.compile(REGISTRY_HOST + r"/(?P<repository>[^:@]+)(?P<ref>[:@].+)?")
#: Docker's tag grammar: up to 128 characters, not starting with . or -.
IMAGE_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
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


def image_uri(host: str, repository: str, tag: str) -> str:
    return f"{host}/{repository}:{tag}"


def push_target_problems(repository: str, tag: str) -> list[str]:
    """What build_and_push.sh must refuse before building: a repository name or tag ECR rejects,
    and `latest`, which moves with every push and so names no build."""
    problems = []
    problem = names.problem("ECR repository", repository)
    if problem:
        problems.append(f"IMAGE_NAME: {problem}")
    if tag == "latest":
        problems.append("TAG 'latest' moves with every push; give an immutable tag (or none: the git commit is used)")
    elif not IMAGE_TAG.fullmatch(tag):
        problems.append(f"TAG {tag!r} is not a valid image tag: up to 128 letters, digits, _ . - "
                        "(not starting with . or -)")
    return problems


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
        raise SetupError("ECR returned an authorization token without a password")
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
    except SetupError as exc:
        return None, f"image not checked in ECR ({exc.message})"
    return None, None


def require_image(session: AwsSession, image: str, *, out: IO[str] = STDERR) -> None:
    """Refuse an image that is not in ECR (PreflightError), noting what could not be checked."""
    problem, note = image_problem(session, image)
    if note:
        print(f"Note: {note}", file=out)
    if problem:
        raise PreflightError(problem)


def registry_manifest(registry: str, repository: str, tag: str, timeout: float = 30) -> tuple[bytes, str]:
    """(manifest, media type) of repository:tag in a Docker registry (HTTP API v2, plain HTTP:
    loopback registries only, as for an emulator walkthrough)."""
    if registry.split(":")[0] not in ("127.0.0.1", "localhost", "::1", "[::1]"):
        raise PreflightError(f"registry {registry} is not on this machine; only a loopback registry is read")
    request = urllib.request.Request(f"http://{registry}/v2/{repository}/manifests/{tag}",
                                     headers={"Accept": MANIFEST_TYPES})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read(), response.headers.get_content_type()
    except urllib.error.HTTPError as exc:
        raise SetupError(f"registry {registry} has no {repository}:{tag} (HTTP {exc.code})") from None
    except (urllib.error.URLError, OSError) as exc:
        raise SetupError(f"registry {registry} did not answer ({exc})") from None


def record_image(session: AwsSession, registry: str, repository: str, tags: list[str], *,
                 out: IO[str] = STDERR) -> str:
    """Record in an emulator's ECR the image pushed to a local registry: its manifest, under each
    tag (PutImage), so that SageMaker calls against the emulator find the image; the layers stay
    in the local registry. Returns the ECR URI of the first tag. Refused against AWS itself, which
    takes a manifest only once its layers were uploaded to ECR."""
    if not session.endpoint_url:
        raise PreflightError("record-image writes to an emulator's ECR only (AWS_ENDPOINT_URL is not set); "
                             "against AWS, push the image to ECR itself")
    client = session.client("ecr")
    for tag in tags:
        manifest, media_type = registry_manifest(registry, repository, tag)
        with translate("ecr:PutImage", session):
            from botocore.exceptions import ClientError

            try:
                client.put_image(repositoryName=repository, imageManifest=manifest.decode(),
                                 imageManifestMediaType=media_type, imageTag=tag)
            except ClientError as exc:
                if error_code(exc) != "ImageAlreadyExistsException":
                    raise
    uri = image_uri(registry_host(session.account(), session.region), repository, tags[0])
    print(f"Recorded {repository}:{', :'.join(tags)} in the ECR at {session.endpoint_url} "
          f"(the manifest only; the layers stay in {registry})", file=out)
    return uri
