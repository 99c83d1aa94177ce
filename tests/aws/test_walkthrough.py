"""The README's "Trying the commands without an AWS account" walkthrough, run as written.

The bash block(s) under that heading are taken from README.md and run by bash, line for line, in
a copy of the repository's files (what a fresh clone holds, plus uncommitted work) with this
checkout's .venv linked in, as `make test` leaves it. They start their own moto_server on
127.0.0.1:5001 and push to the local registry on 127.0.0.1:5000; nothing leaves loopback.
The only thing added to the environment is BASE_IMAGE (the offline base image the Docker tests
use), which build_and_push.sh documents; every AWS setting comes from the block itself.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from aws_helpers import ACCOUNT, REGION, REPO
from readme import bash_blocks

pytestmark = [pytest.mark.aws, pytest.mark.docker]

HEADING = "### Trying the commands without an AWS account"
MOTO_PORT = 5001  # the port the block itself names
REPOSITORY = "sagemaker-byoc"


def walkthrough(readme: str) -> str:
    """The bash blocks of that section, as one script."""
    return "\n".join(bash_blocks(HEADING, readme))


def test_the_section_has_the_whole_path_in_one_block() -> None:
    script = walkthrough((REPO / "README.md").read_text())
    steps = [r"\./build_and_push\.sh", r"^byoc train ", r"^byoc deploy ", r"^byoc invoke ", r"^byoc delete "]
    positions = [re.search(step, script, flags=re.M) for step in steps]
    assert all(positions), f"a step is missing from the walkthrough:\n{script}"
    assert [m.start() for m in positions] == sorted(m.start() for m in positions)  # in that order


def test_the_block_sets_a_region_the_aws_cli_and_boto3_find() -> None:
    """`aws sagemaker describe-...` in the same shell: AWS CLI v1 and boto3 (botocore) read the region from
    AWS_DEFAULT_REGION, not AWS_REGION, and say "You must specify a region" without it."""
    import botocore.session

    script = walkthrough((REPO / "README.md").read_text())
    exported = subprocess.run(["bash", "-c", "\n".join(line for line in script.splitlines()
                                                       if line.startswith("export ")) + "\nenv -0"],
                              capture_output=True, text=True, env={"PATH": os.environ["PATH"]}, timeout=30)
    env = dict(item.split("=", 1) for item in exported.stdout.split("\0") if "=" in item)
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("AWS_")}
    try:
        os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
        assert botocore.session.Session().get_config_variable("region") == env["AWS_REGION"] == REGION
    finally:
        for key in [k for k in os.environ if k.startswith("AWS_")]:
            del os.environ[key]
        os.environ.update(saved)


def _fresh_copy(target: Path) -> Path:
    """The repository's files as a clone (plus uncommitted work) would hold them, and .venv linked."""
    listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            capture_output=True, check=True, timeout=60).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    (target / ".venv").symlink_to(REPO / ".venv")
    return target


def _local_tags(reference: str) -> set[str]:
    listed = subprocess.run(["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}", reference],
                            capture_output=True, text=True, timeout=60)
    return set(listed.stdout.split())


def _registry_tags(registry: str) -> set[str]:
    try:
        with urllib.request.urlopen(f"http://{registry}/v2/{REPOSITORY}/tags/list", timeout=10) as response:
            return set(json.loads(response.read()).get("tags") or [])
    except OSError:
        return set()


def _remove_from_registry(registry: str, tags: set[str]) -> None:
    accept = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"
    for tag in tags:
        request = urllib.request.Request(f"http://{registry}/v2/{REPOSITORY}/manifests/{tag}", method="HEAD",
                                         headers={"Accept": accept})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                digest = response.headers.get("Docker-Content-Digest")
            urllib.request.urlopen(urllib.request.Request(
                f"http://{registry}/v2/{REPOSITORY}/manifests/{digest}", method="DELETE"), timeout=10).close()
        except OSError:
            pass


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_walkthrough_runs_as_written(registry, base_image, tmp_path) -> None:
    if registry != "127.0.0.1:5000":
        pytest.skip(f"the walkthrough names the registry 127.0.0.1:5000; this run's is {registry}")
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", MOTO_PORT)) == 0:
            pytest.fail(f"127.0.0.1:{MOTO_PORT}, the walkthrough's moto port, is taken by another process")
    script = walkthrough((REPO / "README.md").read_text())
    root = _fresh_copy(tmp_path / "clone")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BYOC_"))}
    env.update({"BASE_IMAGE": base_image, "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
                "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
                "AWS_EC2_METADATA_DISABLED": "true"})
    ecr_repository = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}"
    local_before = _local_tags(f"{registry}/{REPOSITORY}") | _local_tags(ecr_repository)
    registry_before = _registry_tags(registry)

    process = subprocess.Popen(["bash", "-e", "-o", "pipefail", "-x", "-c", script], cwd=root, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    left_running = True
    try:
        out, err = process.communicate(timeout=1500)
        deadline = time.monotonic() + 10  # the block's own `kill` ends its moto_server
        while left_running and time.monotonic() < deadline:
            left_running = _group_alive(process.pid)
            time.sleep(0.1)
    finally:
        if _group_alive(process.pid):
            os.killpg(process.pid, signal.SIGKILL)  # what a failed block left running
        process.wait()
        # the tag pushed (and `latest` with it: one manifest) out of the registry, the local tags too
        _remove_from_registry(registry, _registry_tags(registry) - registry_before)
        new_tags = (_local_tags(f"{registry}/{REPOSITORY}") | _local_tags(ecr_repository)) - local_before
        if new_tags:
            subprocess.run(["docker", "rmi", *new_tags], capture_output=True, timeout=120)

    assert process.returncode == 0, f"the walkthrough failed:\n{err[-5000:]}"
    # each step did what the README says, read from its own output
    image = re.search(rf"^\+ IMAGE=({re.escape(ecr_repository)}:\S+)$", err, flags=re.M)
    assert image, err[-3000:]  # step 1: the ECR URI the emulator's ECR knows
    assert f"Recorded {REPOSITORY}:" in err and "the layers stay in 127.0.0.1:5000" in err
    assert re.search(r"Training job byoc-train-\S+ Completed", err)  # step 2, on the emulator
    assert (root / "jobs/emulator/model.tar.gz").is_file()  # and here
    assert "Endpoint iris is InService" in err and "Smoke request: 8 bytes of text/csv" in err  # step 3
    assert out.splitlines().count("body") == 1  # step 4: the emulator's canned answer, on stdout
    assert "Deleted: endpoint iris; endpoint config iris-" in err  # step 5
    assert not left_running, "the block's moto_server was still running after it ended"
