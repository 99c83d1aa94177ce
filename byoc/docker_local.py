"""Running the same job folders through the image, as SageMaker runs it: `docker run IMAGE train|serve`.

The local backend (byoc.local) runs `train` and `serve` as processes of this machine's Python;
this one runs them in the image, through the Docker SDK for Python, so what is tested is what
ships: the image's Python, its dependencies, its entrypoint, its environment.

- Training mounts the job folder at /opt/ml (read-write), as SageMaker lays it out, and runs
  `train`; the container sees only TRAINING_JOB_NAME and what the caller passes, not this
  machine's environment. Archives are packed afterwards exactly as the local backend packs them.
- Serving mounts only <base>/model at /opt/ml/model, read-only as on endpoints, and runs
  `serve` with --network host on 127.0.0.1:<port> (SAGEMAKER_BIND_TO_PORT, BYOC_BIND_HOST).
  Host networking needs a Linux engine, or Docker Desktop 4.34+ with host networking enabled.

Both containers run as root, as on SageMaker. On Linux, files the container wrote into the job
folder are then handed back to the calling user, so a non-root user can delete them.

    byoc image build [--tag T] [--base-image B] [--platform P]
    byoc demo --image T
    byoc local train --image T ...   /   byoc local serve --image T MODEL
"""

from __future__ import annotations

import argparse
import codecs
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import IO, Any, Iterable, Iterator, Mapping

from container.paths import Paths

from . import local

DEFAULT_TAG = "sagemaker-byoc:latest"
DEFAULT_PLATFORM = "linux/amd64"  # SageMaker training and most endpoint instances are x86
#: Every container this module starts carries this label (value: train or serve).
LABEL = "io.github.sagemaker-byoc.local"
ROOT = Path(__file__).resolve().parent.parent  # the build context: the repository


def client() -> Any:
    """A Docker SDK client for the engine DOCKER_HOST (or the default socket) points at."""
    try:
        import docker
    except ImportError:
        raise SystemExit("byoc: the Docker SDK is missing: pip install 'sagemaker-byoc[cli]'") from None
    try:
        engine = docker.from_env()
        engine.ping()
    except docker.errors.DockerException as exc:
        raise SystemExit(f"byoc: no Docker engine is reachable ({exc}). Is Docker running?") from None
    return engine


def host_architecture(engine: Any) -> str:
    """The engine's architecture in image terms (amd64, arm64)."""
    arch = engine.info().get("Architecture", "")
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(arch, arch)


def for_image(image: str, engine: Any = None) -> "DockerBackend":
    """The backend byoc.cli uses for --image: run_train() and Server() in that image."""
    return DockerBackend(image, engine)


class DockerBackend:
    def __init__(self, image: str, engine: Any = None) -> None:
        self.image = image
        self.engine = engine or client()
        import docker

        try:
            attrs = self.engine.images.get(image).attrs
        except docker.errors.ImageNotFound:
            raise SystemExit(f"byoc: no image {image!r} here; build it first: byoc image build --tag {image}") from None
        arch, host = attrs.get("Architecture"), host_architecture(self.engine)
        if arch and host and arch != host:
            print(f"byoc: {image} is {arch} and this engine is {host}: it runs under emulation, slowly.",
                  file=sys.stderr)

    def run_train(self, paths: Paths, *, env: Mapping[str, str] | None = None, echo: IO[str] | None = None,
                  job_name: str = "local-job", archive_dir: Path | None = None) -> local.TrainResult:
        """`docker run -v <job folder>:/opt/ml IMAGE train`, then the archives as byoc.local packs them."""
        base = paths.base.resolve()
        container = self.engine.containers.run(
            self.image, ["train"], detach=True, network_mode="host",
            environment={"TRAINING_JOB_NAME": job_name, **(env or {})},
            volumes={str(base): {"bind": "/opt/ml", "mode": "rw"}},
            labels={LABEL: "train"}, name=_name("train"))
        try:
            log = local.tee(_lines(container.logs(stream=True, follow=True)), echo)
            code = container.wait()["StatusCode"]
        except KeyboardInterrupt:
            container.stop(timeout=120)  # StopTrainingJob's grace period
            raise
        finally:
            _remove(container)
            give_back(self.engine, self.image, base)
        return local.finish_training(paths, code, log, archive_dir)

    def Server(self, base: Path, *, port: int | None = None,  # noqa: N802 - the interface of byoc.local
               env: Mapping[str, str] | None = None) -> "Server":
        return Server(self.image, base, port=port, env=env, engine=self.engine)


class Server(local.Server):
    """`docker run --network host -v <base>/model:/opt/ml/model:ro IMAGE serve` on 127.0.0.1:<port>.

    The same interface as byoc.local.Server (start, wait_ready, stop, url, log, context
    manager); `process` is the container, seen through the part of subprocess.Popen that
    callers use (poll, wait, returncode, send_signal, terminate, kill).
    """

    def __init__(self, image: str, base: Path, *, port: int | None = None,
                 env: Mapping[str, str] | None = None, engine: Any = None) -> None:
        super().__init__(base, port=port, env=env)
        self.image = image
        self.engine = engine
        # Only what SageMaker would set, plus the caller's: not this machine's environment.
        self.env = {"SAGEMAKER_BIND_TO_PORT": str(self.port), "BYOC_BIND_HOST": "127.0.0.1", **(env or {})}
        self.container: Any = None

    def start(self) -> "Server":
        model = (self.base / "model").resolve()
        if not model.is_dir():
            raise FileNotFoundError(f"{model} does not exist: extract model.tar.gz there first")
        self.engine = self.engine or client()
        self.container = self.engine.containers.run(
            self.image, ["serve"], detach=True, network_mode="host", environment=self.env,
            volumes={str(model): {"bind": "/opt/ml/model", "mode": "ro"}},
            labels={LABEL: "serve"}, name=_name("serve"))
        self.process = ContainerProcess(self.container)  # type: ignore[assignment]
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def wait_ready(self, timeout: float = 60.0) -> float:
        try:
            return super().wait_ready(timeout)
        except KeyboardInterrupt:  # Ctrl-C reaches this process, not the container: stop it too
            self.stop()
            raise

    def _read(self) -> None:
        for line in _lines(self.container.logs(stream=True, follow=True)):
            self._log.append(line)

    def stop(self, timeout: float = 40.0) -> int:
        """`docker stop -t <timeout>` (SIGTERM, then SIGKILL), then remove the container; the exit code."""
        assert self.process is not None
        try:
            if self.process.poll() is None:
                self.container.stop(timeout=int(timeout))
            code = self.process.wait()
            self._join()
        finally:
            _remove(self.container)
        return code


class ContainerProcess:
    """A container through the part of subprocess.Popen that Server and byoc.cli use."""

    def __init__(self, container: Any) -> None:
        self.container = container
        self.returncode: int | None = None

    @property
    def pid(self) -> str:
        return self.container.short_id

    def poll(self) -> int | None:
        if self.returncode is None:
            import docker

            try:
                self.container.reload()
            except docker.errors.NotFound:  # removed behind our back
                self.returncode = -signal.SIGKILL
                return self.returncode
            if self.container.status in ("exited", "dead"):
                self.returncode = int(self.container.attrs["State"]["ExitCode"])
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            import requests

            try:
                result = self.container.wait(timeout=timeout)
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                raise subprocess.TimeoutExpired(f"container {self.pid}", timeout or 0) from None
            self.returncode = int(result["StatusCode"])
        return self.returncode

    def send_signal(self, sig: int) -> None:
        import docker

        try:
            self.container.kill(signal=int(sig))
        except docker.errors.APIError:  # already exited
            pass

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def give_back(engine: Any, image: str, folder: Path) -> None:
    """Hand files the root container wrote under folder back to this user (Linux engines only).

    SageMaker runs containers as root, so the image is tested as root; on a Linux laptop the
    job folder would then hold root-owned files its user cannot delete. Docker Desktop maps
    ownership itself, and root needs nothing.
    """
    if not sys.platform.startswith("linux") or os.getuid() == 0:
        return
    engine.containers.run(
        image, ["-R", f"{os.getuid()}:{os.getgid()}", "/opt/ml"], entrypoint=["chown"], remove=True,
        network_mode="none", volumes={str(folder): {"bind": "/opt/ml", "mode": "rw"}},
        labels={LABEL: "chown"})


def build(tag: str = DEFAULT_TAG, *, base_image: str | None = None, platform: str | None = DEFAULT_PLATFORM,
          context: Path = ROOT, quiet: bool = False) -> float:
    """`docker build` of the repository's Dockerfile; returns the seconds it took.

    The docker CLI, not the SDK, builds: it uses BuildKit when installed (the SDK cannot) and
    prints the progress users know.
    """
    command = ["docker", "build", "--tag", tag]
    if platform:
        command += ["--platform", platform]
    if base_image:
        command += ["--build-arg", f"BASE_IMAGE={base_image}"]
    if quiet:
        command.append("--quiet")
    started = time.monotonic()
    done = subprocess.run([*command, str(context)], stdout=subprocess.DEVNULL if quiet else None,
                          stderr=subprocess.PIPE if quiet else None, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed (exit {done.returncode}):\n{done.stderr or ''}")
    return time.monotonic() - started


def register(commands: Any) -> None:
    """`byoc image build`: build the image from the Dockerfile at the repository root."""
    image = commands.add_parser("image", help="build the image SageMaker runs").add_subparsers(
        dest="image_command", required=True, metavar="COMMAND")
    b = image.add_parser("build", help="docker build the Dockerfile, then check the result")
    b.add_argument("--tag", "-t", default=DEFAULT_TAG, help="image name (default: %(default)s)")
    b.add_argument("--base-image", default=os.environ.get("BYOC_BASE_IMAGE"),
                   help="BASE_IMAGE build argument (default: $BYOC_BASE_IMAGE, else the Dockerfile's)")
    b.add_argument("--platform", default=DEFAULT_PLATFORM,
                   help="target platform (default: %(default)s, what SageMaker runs; linux/arm64 for "
                        "Graviton endpoints; '' for this machine's)")
    b.set_defaults(func=cmd_image_build)


def cmd_image_build(args: argparse.Namespace) -> int:
    seconds = build(args.tag, base_image=args.base_image, platform=args.platform or None)
    attrs = client().images.get(args.tag).attrs
    labels = (attrs.get("Config") or {}).get("Labels") or {}
    print(f"\nBuilt {args.tag} in {seconds:.1f} s: {attrs['Size'] / 1e6:.0f} MB, "
          f"{attrs.get('Os')}/{attrs.get('Architecture')}.")
    if attrs.get("Architecture") != "amd64":
        print("Note: SageMaker training jobs and x86 endpoints need linux/amd64 images; this one is "
              f"{attrs.get('Architecture')} (fine for Graviton endpoints only).", file=sys.stderr)
    if labels.get("com.amazonaws.sagemaker.capabilities.accept-bind-to-port") != "true":
        print("Note: the accept-bind-to-port label is missing: inference pipelines will reject the image.",
              file=sys.stderr)
    print(f"Try it: byoc demo --image {args.tag}")
    return 0


def _lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """Docker's log stream (arbitrary byte chunks) as text lines."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = ""
    for chunk in chunks:
        pending += decoder.decode(chunk)
        *complete, pending = pending.split("\n")
        for line in complete:
            yield line + "\n"
    pending += decoder.decode(b"", final=True)
    if pending:
        yield pending


def _name(role: str) -> str:
    return f"byoc-{role}-{uuid.uuid4().hex[:8]}"


def _remove(container: Any) -> None:
    import docker

    try:
        container.remove(force=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        if "already in progress" not in str(exc):
            raise
