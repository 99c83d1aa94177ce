"""The image, through the docker CLI: build it, inspect it, and run `train`, `serve` or `process`.

The CLI rather than the Docker SDK, for three reasons. `docker run` attached is one child
process that forwards SIGTERM to the container (sig-proxy, without a TTY) and exits with its
code, so byoc.local starts, logs, stops and cleans up a run in the image with the same code as a
run as a process. The commands are the ones users know and can replay by hand. And `docker
build` uses BuildKit when buildx is installed, which the SDK cannot.

A run in the image is SageMaker's: training mounts the job folder at /opt/ml read-write and runs
`train` (or `process ARGS`); serving mounts only <base>/model at /opt/ml/model, read-only as on
endpoints, and runs `serve` with --network host on 127.0.0.1:<port> (host networking needs a
Linux engine, or Docker Desktop 4.34+ with host networking enabled). The container sees what
SageMaker would set plus what the caller passes, never this machine's environment. It runs as
root, as on SageMaker; on Linux the files it wrote into the job folder are then handed back to
the calling user.

Every container byoc starts carries the label LABEL (value: train, serve, process, check or chown) and a name
byoc-<role>-<id>, by which it is removed (`docker rm -f`) once its run has ended, however it
ended: the run's own end, a failure to start, the docker CLI killed, Ctrl-C or SIGTERM to byoc.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import IO, Any, Mapping, Sequence

from .errors import ByocError, SetupError, UsageError
from .local import Launch

DEFAULT_TAG = "sagemaker-byoc:latest"
#: What SageMaker runs: linux/amd64 (training, transform, most endpoints), linux/arm64 (Graviton
#: endpoints). The same list and default as build_and_push.sh's PLATFORM.
PLATFORMS = ("linux/amd64", "linux/arm64", "linux/arm64/v8")
DEFAULT_PLATFORM = "linux/amd64"
#: Every container byoc starts carries this label; its value is the role (train, serve, check, chown).
LABEL = "io.github.sagemaker-byoc.local"
ROOT = Path(__file__).resolve().parent.parent  # the build context: the repository


class BuildFailed(ByocError):
    def __init__(self, message: str, log: str) -> None:
        super().__init__(message)
        self.log = log


def docker(*args: str, check: bool = True, timeout: float | None = 60) -> subprocess.CompletedProcess[str]:
    """Run the docker CLI to its end, capturing its output; ByocError with its own message on failure."""
    try:
        done = subprocess.run(["docker", *args], capture_output=True, text=True, errors="replace",
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise SetupError("docker is not installed (https://docs.docker.com/get-docker/)") from None
    if check and done.returncode != 0:
        raise ByocError(f"docker {args[0]} failed (exit {done.returncode}): {_last_line(done.stderr)}")
    return done


def engine_architecture() -> str:
    """The engine's architecture in image terms (amd64, arm64); SetupError when no engine answers."""
    done = docker("version", "--format", "{{.Server.Arch}}", check=False)
    if done.returncode != 0 or not done.stdout.strip():
        raise SetupError("the Docker engine is not reachable: is it running, and may this user use it? "
                          f"({_last_line(done.stderr)})")
    return done.stdout.strip()


def inspect(image: str) -> dict[str, Any] | None:
    """`docker image inspect`: the image's attributes, or None when the engine has no such image."""
    done = docker("image", "inspect", image, check=False)
    if done.returncode != 0:
        if "no such" in done.stderr.lower():
            return None
        raise ByocError(f"docker image inspect {image} failed: {_last_line(done.stderr)}")
    return json.loads(done.stdout)[0]


def check_platform(platform: str) -> str:
    if platform not in PLATFORMS:
        raise UsageError(f"PLATFORM {platform!r} is not one SageMaker runs: linux/amd64 (all training, "
                         "transform and most endpoints) or linux/arm64 (Graviton endpoints)")
    return platform.split("/")[1]


def build(tags: str | Sequence[str] = DEFAULT_TAG, *, base_image: str | None = None,
          platform: str | None = DEFAULT_PLATFORM, context: Path = ROOT,
          echo: IO[str] | None = sys.stderr) -> float:
    """Build the Dockerfile in `context` as build_and_push.sh does; the seconds it took.

    buildx when installed (`docker buildx build --load`), else the legacy builder, which
    builds for the engine's own architecture only: a foreign `platform` is then refused before
    anything is built. `platform=None` builds for the engine's architecture. The build's output
    is echoed as it comes; on failure, BuildFailed names the build's own error.
    """
    tags = [tags] if isinstance(tags, str) else list(tags)
    want = check_platform(platform) if platform else None
    engine = engine_architecture()
    env = dict(os.environ)
    if docker("buildx", "version", check=False).returncode == 0:
        command = ["docker", "buildx", "build", "--load"]
    else:
        if want and want != engine:
            raise ByocError(
                f"PLATFORM={platform}, but this Docker engine is linux/{engine} and has no buildx, so it builds "
                f"for linux/{engine} only. Install docker buildx (with QEMU: docker run --privileged --rm "
                f"tonistiigi/binfmt --install {want}), or build on a {platform} machine. Nothing was built.")
        command = ["docker", "build", "--force-rm"]  # a failed step's container goes too
        env["DOCKER_BUILDKIT"] = "0"
    if platform:
        command += ["--platform", platform]
    if base_image:
        command += ["--build-arg", f"BASE_IMAGE={base_image}"]
    for tag in tags:
        command += ["--tag", tag]
    started = time.monotonic()
    code, log = _stream([*command, str(context)], env, echo)
    if code != 0:
        raise BuildFailed(f"docker build failed (exit {code}): {_build_error(log)}", log)
    seconds = time.monotonic() - started
    built = (inspect(tags[0]) or {}).get("Architecture")
    if want and built != want:
        raise ByocError(f"the image was built for linux/{built}, not {platform} (a FROM --platform in the "
                        "Dockerfile, or a builder that ignored --platform)")
    return seconds


def _stream(command: list[str], env: Mapping[str, str], echo: IO[str] | None) -> tuple[int, str]:
    """Run a command to its end, echoing its combined output line by line; (exit code, output)."""
    lines: list[str] = []
    try:
        process = subprocess.Popen(command, env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, errors="replace")
    except FileNotFoundError:
        raise SetupError("docker is not installed (https://docs.docker.com/get-docker/)") from None
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if echo is not None:
                echo.write(line)
                echo.flush()
        return process.wait(), "".join(lines)
    finally:
        if process.poll() is None:  # interrupted: the build goes too
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _build_error(log: str) -> str:
    """The line of a build's output that says what failed (BuildKit's ERROR, the legacy builder's last)."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("ERROR") or "returned a non-zero code" in line or line.lower().startswith("error"):
            return line
    return lines[-1] if lines else "no output"


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def mount(source: Path, target: str, *, readonly: bool = False) -> str:
    """A --mount value for a bind mount; quoted as the CLI's CSV syntax needs for any path."""
    fields = ["type=bind", f"source={source}", f"target={target}"] + (["readonly"] if readonly else [])
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(fields)
    return out.getvalue()


class DockerRun:
    """A launcher for byoc.local: `docker run --rm --name byoc-<role>-<id> ... IMAGE <role> [ARGS]`."""

    def __init__(self, image: str) -> None:
        engine = engine_architecture()
        attrs = inspect(image)
        if attrs is None:
            raise UsageError(f"no image {image!r} in this Docker engine; build it first: byoc image build --tag {image}")
        arch = attrs.get("Architecture")
        if arch and arch != engine:
            print(f"byoc: {image} is {arch} and this engine is {engine}: it runs under emulation, slowly.",
                  file=sys.stderr)
        self.image = image

    def train(self, base: Path, env: Mapping[str, str]) -> Launch:
        """The job folder at /opt/ml, read-write; its files handed back to this user afterwards."""
        folder = base.resolve()
        return self._launch("train", [mount(folder, "/opt/ml")], env, after=lambda: give_back(self.image, folder))

    def serve(self, base: Path, env: Mapping[str, str]) -> Launch:
        """Only the model, read-only, at /opt/ml/model, as on an endpoint."""
        model = (base / "model").resolve()
        if not model.is_dir():
            raise FileNotFoundError(f"{model} does not exist: extract model.tar.gz there first")
        return self._launch("serve", [mount(model, "/opt/ml/model", readonly=True)], env)

    def process(self, base: Path, env: Mapping[str, str], args: Sequence[str]) -> Launch:
        """The job folder at /opt/ml, read-write, as for train: `docker run ... IMAGE process ARGS`."""
        folder = base.resolve()
        return self._launch("process", [mount(folder, "/opt/ml")], env, after=lambda: give_back(self.image, folder),
                            command=["process", *args])

    def check(self, model: Path, env: Mapping[str, str]) -> Launch:
        """`python -m container.loadcheck`: load a model folder as `serve` would and exit, with
        the model read-only, no network, a read-only root and no capabilities. For a model
        whose loading may run code (a pickle, a model_fn): that code runs here, not on the host."""
        return self._launch("check", [mount(model.resolve(), "/opt/ml/model", readonly=True)], env,
                            network="none", command=["python", "-m", "container.loadcheck"],
                            options=["--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL",
                                     "--security-opt", "no-new-privileges"])

    def _launch(self, role: str, mounts: list[str], env: Mapping[str, str], after: Any = None, *,
                network: str = "host", command: Sequence[str] = (), options: Sequence[str] = ()) -> Launch:
        name = container_name(role)
        argv = ["docker", "run", "--rm", "--name", name, "--label", f"{LABEL}={role}",
                "--network", network, "--pull", "never", *options]
        for value in mounts:
            argv += ["--mount", value]
        for key, value in env.items():
            argv += ["--env", f"{key}={value}"]
        argv += [self.image, *(command or [role])]

        def cleanup() -> None:
            try:
                remove(name)
            finally:
                if after is not None:
                    after()

        return Launch(argv, dict(env), dict(os.environ),
                      before_signal=lambda process: wait_running(name, process), cleanup=cleanup, container=name)


def container_name(role: str) -> str:
    return f"byoc-{role}-{uuid.uuid4().hex[:8]}"


def wait_running(name: str, process: subprocess.Popen[str], timeout: float = 30) -> None:
    """Wait until the container has started (or the docker CLI has ended).

    The CLI forwards signals only once it has created the container: a SIGTERM before that
    would kill the CLI while the engine may still create the container behind it, and one
    between create and start would be lost. Once the container runs, SIGTERM reaches it.
    """
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        done = docker("container", "inspect", "--format", "{{.State.Status}}", name, check=False, timeout=10)
        if done.returncode == 0 and done.stdout.strip() != "created":
            return
        time.sleep(0.05)


def remove(name: str, timeout: float = 30) -> None:
    """`docker rm -f NAME`, and wait until it is gone (--rm may be removing it already)."""
    done = docker("rm", "--force", name, check=False, timeout=timeout)
    if done.returncode == 0 or "no such container" in done.stderr.lower():
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if docker("container", "inspect", name, check=False, timeout=10).returncode != 0:
            return
        time.sleep(0.1)
    print(f"byoc: could not remove container {name}: {_last_line(done.stderr)}; docker rm -f {name}",
          file=sys.stderr)


def give_back(image: str, folder: Path) -> None:
    """Hand files the root container wrote under folder back to this user (Linux engines only).

    SageMaker runs containers as root, so the image is run as root; on a Linux laptop the job
    folder would then hold root-owned files its user cannot delete. Docker Desktop maps
    ownership itself, and root needs nothing.
    """
    if not sys.platform.startswith("linux") or os.getuid() == 0:
        return
    owner = f"{os.getuid()}:{os.getgid()}"
    done = docker("run", "--rm", "--name", container_name("chown"), "--label", f"{LABEL}=chown",
                  "--network", "none", "--pull", "never", "--entrypoint", "chown",
                  "--mount", mount(folder, "/opt/ml"), image, "-R", owner, "/opt/ml", check=False, timeout=300)
    if done.returncode != 0:
        print(f"byoc: could not hand {folder} back to you ({_last_line(done.stderr)}); "
              f"sudo chown -R {owner} {folder}", file=sys.stderr)
