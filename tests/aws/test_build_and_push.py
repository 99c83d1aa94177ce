"""build_and_push.sh end to end: a real Docker build, a real push to the local registry
(127.0.0.1:5000), and the ECR repository made in moto_server.

moto has no layer-upload API, so nothing can be pushed *to moto*: REGISTRY sends the push to the
local registry, while the repository is still created in (moto's) ECR and the pushed manifest is
recorded there (PutImage), so that the AWS commands find the image. What stays unproven here:
the ECR login itself (`docker login` with the token) and a push into ECR.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest

from aws_helpers import ACCOUNT, REGION, REPO, ROLE, aws_environment

pytestmark = [pytest.mark.aws, pytest.mark.docker]

SCRIPT = REPO / "build_and_push.sh"
MANIFEST = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"


def _script_env(moto_url: str, tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(aws_environment(moto_url, tmp))
    env["BYOC"] = f"{sys.executable} -m byoc.cli"
    env.update(extra)
    return env


def _run(args: list[str], env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


def _registry(host: str, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(f"http://{host}{path}", method=method, headers={"Accept": MANIFEST})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), b""


@pytest.fixture
def repository(registry: str):
    """A repository name unique to this test run; its manifests are deleted from the registry, and
    its local tags from the engine, afterwards."""
    name = f"byoc-test-{uuid.uuid4().hex[:8]}"
    yield name
    remove_pushed(registry, name)


def remove_pushed(registry: str, name: str) -> None:
    """The repository's tags in the engine (under the registry's name and the ECR URI the script
    tags for an emulator) and its manifests in the registry."""
    tags = []
    for reference in (f"{registry}/{name}", f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{name}"):
        listed = subprocess.run(["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}", reference],
                                capture_output=True, text=True, timeout=60)
        tags += listed.stdout.split()
    if tags:
        subprocess.run(["docker", "rmi", *tags], capture_output=True, timeout=120)
    status, _, body = _registry(registry, f"/v2/{name}/tags/list")
    if status == 200:
        for tag in json.loads(body).get("tags") or []:
            _, headers, _ = _registry(registry, f"/v2/{name}/manifests/{tag}", "HEAD")
            digest = headers.get("Docker-Content-Digest")
            if digest:
                _registry(registry, f"/v2/{name}/manifests/{digest}", "DELETE")


def test_build_and_push_end_to_end(moto_server, registry, base_image, repository, tmp_path) -> None:
    import boto3

    env = _script_env(moto_server, tmp_path, REGISTRY=registry, BASE_IMAGE=base_image)
    first = _run([repository, "v1"], env)
    assert first.returncode == 0, first.stderr[-3000:]
    uri = f"{registry}/{repository}:v1"
    ecr_uri = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{repository}:v1"
    # against an emulator, the last line is the URI the emulator's ECR knows the image by
    assert first.stdout.strip().splitlines()[-1] == ecr_uri
    assert f"Creating ECR repository {repository} (scan on push: on)" in first.stderr
    assert "is not an ECR registry: not logging in" in first.stderr
    assert "image is linux/amd64" in first.stderr

    # the repository, in (moto's) ECR, with scan on push
    ecr = boto3.session.Session(region_name=REGION, aws_access_key_id="testing",
                                aws_secret_access_key="testing").client("ecr", endpoint_url=moto_server)
    (repo,) = ecr.describe_repositories(repositoryNames=[repository])["repositories"]
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repo["repositoryUri"] == f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{repository}"

    # the image, in the registry under both tags, one manifest
    status, _, body = _registry(registry, f"/v2/{repository}/tags/list")
    assert status == 200 and sorted(json.loads(body)["tags"]) == ["latest", "v1"]
    digests = {tag: _registry(registry, f"/v2/{repository}/manifests/{tag}", "HEAD")[1]["Docker-Content-Digest"]
               for tag in ("v1", "latest")}
    assert digests["v1"] == digests["latest"]

    # ... and the same manifest in (moto's) ECR under both tags, and the ECR URI on the local image
    (image,) = ecr.describe_images(repositoryName=repository)["imageDetails"]  # one image, two tags
    assert sorted(image["imageTags"]) == ["latest", "v1"]
    # (moto makes its digest up from the layers' digests; the manifest itself is the evidence)
    (recorded,) = ecr.batch_get_image(repositoryName=repository, imageIds=[{"imageTag": "v1"}])["images"]
    assert recorded["imageManifest"].encode() == _registry(registry, f"/v2/{repository}/manifests/v1")[2]
    inspected = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", uri, ecr_uri],
                               capture_output=True, text=True, timeout=60)
    assert inspected.returncode == 0 and len(set(inspected.stdout.split())) == 1

    # again with a new tag: the repository is found, not made again; latest moves
    second = _run([repository, "v2"], env)
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.stdout.strip().splitlines()[-1] == f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{repository}:v2"
    assert f"ECR repository {repository} exists" in second.stderr
    assert [r["repositoryName"] for r in ecr.describe_repositories()["repositories"]].count(repository) == 1
    assert ecr.describe_repositories(repositoryNames=[repository])["repositories"][0]["createdAt"] == repo["createdAt"]
    status, _, body = _registry(registry, f"/v2/{repository}/tags/list")
    assert sorted(json.loads(body)["tags"]) == ["latest", "v1", "v2"]

    # an immutable tag is never pushed over
    third = _run([repository, "v1"], env)
    assert third.returncode == 1
    assert f"{uri} already exists, and tags are immutable here" in third.stderr
    assert third.stdout == ""


def test_an_emulator_without_a_registry_of_ones_own_is_refused_before_building(moto_server, docker_engine,
                                                                              tmp_path) -> None:
    """The push would go to the real ECR host with the emulator's credentials."""
    run = _run(["byoc-never", "t1"], _script_env(moto_server, tmp_path), timeout=120)
    assert run.returncode == 2
    assert "set REGISTRY=127.0.0.1:5000 (a registry of your own)" in run.stderr
    assert "building" not in run.stderr and run.stdout == ""


def test_a_platform_this_engine_cannot_build_is_refused_before_building(moto_server, registry, base_image,
                                                                         repository, tmp_path) -> None:
    """Docker 20.10 without buildx builds only for its own architecture (asked for another, it goes
    looking for base images on Docker Hub): the script refuses up front and pushes nothing."""
    if subprocess.run(["docker", "buildx", "version"], capture_output=True).returncode == 0:
        pytest.skip("this engine has buildx: a cross-build would need QEMU and base images from a registry")
    engine = subprocess.run(["docker", "info", "--format", "{{.Architecture}}"], capture_output=True, text=True)
    foreign = "linux/amd64" if engine.stdout.strip() in ("aarch64", "arm64") else "linux/arm64"
    run = _run([repository, "foreign"],
               _script_env(moto_server, tmp_path, REGISTRY=registry, PLATFORM=foreign, BASE_IMAGE=base_image))
    assert run.returncode == 1, run.stderr[-2000:]
    assert f"PLATFORM={foreign}, but this Docker engine is" in run.stderr
    assert "Nothing was built or pushed" in run.stderr
    assert "==> building" not in run.stderr
    assert _registry(registry, f"/v2/{repository}/manifests/foreign", "HEAD")[0] == 404


def test_missing_credentials_or_region_stop_before_any_build(moto_server, docker_engine, tmp_path) -> None:
    env = _script_env(moto_server, tmp_path)
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    run = _run(["byoc-never", "t1"], env, timeout=120)
    assert run.returncode == 3
    assert "No usable AWS credentials" in run.stderr and "aws configure" in run.stderr
    env = _script_env(moto_server, tmp_path)
    del env["AWS_REGION"]
    run = _run(["byoc-never", "t1"], env, timeout=120)
    assert run.returncode == 3 and "No AWS region is set" in run.stderr
    assert "building" not in run.stderr


def test_without_docker_the_script_says_so(tmp_path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "git", "date", "sed", "tail"):
        found = subprocess.run(["bash", "-c", f"command -v {tool}"], capture_output=True, text=True).stdout.strip()
        if found:
            (bin_dir / tool).symlink_to(found)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}
    run = subprocess.run(["/bin/bash", str(SCRIPT), "byoc-test", "t1"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 3 and "docker is not installed" in run.stderr
    (bin_dir / "docker").write_text("#!/bin/bash\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
    (bin_dir / "docker").chmod(0o755)
    run = subprocess.run(["/bin/bash", str(SCRIPT), "byoc-test", "t1"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 3 and "the Docker engine is not reachable" in run.stderr
    assert "Cannot connect to the Docker daemon" in run.stderr


@pytest.mark.parametrize("args,fragment", [
    (["Bad_Name"], "ECR repository name 'Bad_Name' is not valid"),
    (["good", "latest"], "TAG 'latest' moves with every push"),
    (["good", "-bad"], "is not a valid image tag"),
    ([], "IMAGE_NAME"),
])
def test_bad_arguments_exit_2(args, fragment, tmp_path) -> None:
    run = subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=60,
                         env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)})
    assert run.returncode == 2 and fragment in run.stderr


def test_the_architecture_check_reads_the_local_image(aws, byoc, model_dir, docker_engine, base_image) -> None:
    """A local amd64 image (the base image, tagged with an ECR URI) deployed to a Graviton type."""
    ecr_uri = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/byoc-arch-test:{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "tag", base_image, ecr_uri], check=True, timeout=60)
    aws.register_image(ecr_uri)
    try:
        run = byoc("deploy", "graviton", "--image", ecr_uri, "--model", model_dir, "--role", ROLE,
                   "--instance-type", "ml.c7g.large")
        assert run.code == 2
        assert "is linux/amd64, but ml.c7g.large runs linux/arm64" in run.err
        assert "PLATFORM=linux/arm64 ./build_and_push.sh" in run.err
        assert aws.sagemaker_inventory()["models"] == []
        run = byoc("deploy", "x86", "--image", ecr_uri, "--model", model_dir, "--role", ROLE, "--no-smoke")
        assert run.code == 0, run.err
        assert "not checked" not in run.err  # the image was found and is amd64
    finally:
        subprocess.run(["docker", "rmi", ecr_uri], capture_output=True, timeout=60)
