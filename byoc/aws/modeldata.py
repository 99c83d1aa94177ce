"""The model SageMaker will serve: a folder or model.tar.gz, checked, packed and uploaded.

SageMaker extracts model.tar.gz into /opt/ml/model, so the files must sit at the archive's
root. Before anything is uploaded the archive is opened, its layout checked, and the model
loaded the way `serve` loads it, so a broken model fails here and not after a 10-minute
endpoint creation that ends in "did not pass the ping health check".

Loading must not run code from the model: an s3:// model may have been written by anyone who
could write to its bucket, and this runs with the user's credentials. So the load happens
here only for a model.skops (which builds only the types the runtime trusts) with the
default model_fn, and with this machine's scikit-learn and numpy at training's minor
versions. Anything else (a pickle, the package's own model_fn) is loaded inside the image
(`docker run --network none`, the model read-only) when this Docker engine has it, and
otherwise not at all, which the notes say.
"""

from __future__ import annotations

import subprocess
import tarfile
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any, Callable, Iterator, Mapping

from .. import jobdir
from . import s3
from .console import STDERR
from ..errors import PreflightError, SetupError, UsageError
from .session import AwsSession

ARCHIVE_NAME = "model.tar.gz"
REPACK_HINT = "Pack it with the files at the root: tar -C MODEL_DIR -czf model.tar.gz ."
#: An s3:// model larger than this is not downloaded for checking (the check is skipped, said so).
S3_CHECK_MAX_BYTES = 1 << 30
#: How long loading the model in the image may take before the check gives up.
IMAGE_CHECK_TIMEOUT = 600.0


@dataclass
class CheckedModel:
    """What the checks learnt: the metadata.json the training job wrote, and notes to show."""

    metadata: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: How the model was loaded to check it (here, in the image) or why it was not.
    how: str = ""


def archive_layout_problems(archive: Path) -> list[str]:
    """Problems with the archive itself: not a tar.gz, unsafe paths, a top-level folder."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
    except (tarfile.TarError, OSError, EOFError) as exc:
        return [f"{archive} is not a readable tar.gz ({exc}). {REPACK_HINT}"]
    problems = []
    files = []
    for member in members:
        path = PurePosixPath(member.name)
        if member.name.startswith("/") or ".." in path.parts:
            problems.append(f"{archive} holds {member.name!r}, a path outside the model folder")
        if member.isfile():
            parts = [p for p in path.parts if p != "."]
            files.append(parts)
    if not files:
        return problems + [f"{archive} holds no files. {REPACK_HINT}"]
    if all(len(parts) > 1 for parts in files) and len({parts[0] for parts in files}) == 1:
        top = files[0][0]
        problems.append(
            f"{archive} has a top-level folder {top}/ and no files at its root; SageMaker extracts "
            f"it into /opt/ml/model, so the model would be at /opt/ml/model/{top}/. {REPACK_HINT}")
    return problems


@dataclass
class LoadCheck:
    """How the model was checked (`how`), and why it does not load (`problem`), if it does not."""

    how: str
    problem: str | None = None
    skipped: bool = False


def load_check(model_dir: Path, *, image: str | None = None,
               environment: Mapping[str, str] | None = None) -> LoadCheck:
    """Load the model as `serve` does, where that runs no code from the model (see the module)."""
    try:
        from container import artifacts, hooks
        from container.errors import ByocError
    except ImportError as exc:
        return LoadCheck("not loaded", f"the runtime cannot be imported to check the model ({exc})")
    try:
        module = hooks.import_optional("inference")
    except Exception as exc:  # the package's own code failing here: the image has what it needs
        reason = f"the model package's inference module cannot be imported here ({type(exc).__name__}: {exc})"
    else:
        if module is not None and getattr(module, "model_fn", None):
            reason = f"the model package ({hooks.package_name()}) has its own model_fn"
        else:
            try:
                metadata = artifacts.load_metadata(model_dir)
                model_file = artifacts.find_model_file(model_dir, metadata)
                if artifacts.runs_code_to_load(model_dir, metadata):
                    reason = f"{model_file.name} is a pickle: loading it runs code the file names"
                else:
                    return _load_here(model_dir, metadata)
            except ByocError as exc:
                return LoadCheck("not loaded", f"the runtime cannot load the model: {exc}")
    return _load_in_image(model_dir, reason, image, environment or {})


def _load_here(model_dir: Path, metadata: dict[str, Any]) -> LoadCheck:
    """A model.skops with the default model_fn: checked and loaded in this process."""
    from container import artifacts
    from container.errors import ByocError

    try:
        artifacts.verify_files(model_dir, metadata)
        skew = artifacts.minor_skew(metadata)
        if skew:
            # Not a verdict on the image, which has its own versions: say what was checked.
            described = ", ".join(f"{name} {trained} (this machine has {here})" for name, (trained, here) in skew.items())
            return LoadCheck(f"files checked against their SHA-256; not loaded here, because it was trained with "
                             f"{described}", skipped=True)
        artifacts.load_estimator(model_dir, metadata)
    except ByocError as exc:
        return LoadCheck("not loaded", f"the runtime cannot load the model: {exc}")
    return LoadCheck("loaded here (model.skops: only types the runtime trusts, no code from the file)")


def _load_in_image(model_dir: Path, reason: str, image: str | None, environment: Mapping[str, str]) -> LoadCheck:
    """Load it inside the image, with no network and the model read-only; or say why not."""
    from container.loadcheck import PREFIX

    from .. import local
    from ..image import DockerRun

    if not image:
        return LoadCheck(f"model load check skipped: {reason}, so it is loaded only in the image, and "
                         "no image was given", skipped=True)
    try:
        launcher = DockerRun(image)
        child = local.Child(launcher.check(model_dir, environment))
        child.start()
    except (SetupError, UsageError, OSError) as exc:
        return LoadCheck(f"model load check skipped: {reason}, so it is loaded only in the image, and "
                         f"{image} cannot run here ({exc}). To check it, pull the image (docker pull {image}, "
                         "after an ECR login) and run this again", skipped=True)
    try:
        assert child.process is not None
        code = child.process.wait(IMAGE_CHECK_TIMEOUT)
    except subprocess.TimeoutExpired:
        child.stop(5)
        return LoadCheck(f"loaded in {image}", f"loading the model in {image} took over {IMAGE_CHECK_TIMEOUT:.0f} s")
    finally:
        child.stop(10)  # already ended: only the cleanup (docker rm -f)
    outcome = next((line.strip()[len(PREFIX):].strip() for line in reversed(child.log.splitlines())
                    if line.strip().startswith(PREFIX)), None)
    how = f"loaded in {image} (no network, model read-only), because {reason}"
    if code == 0 and outcome and outcome.startswith("ok"):
        return LoadCheck(how)
    if outcome and outcome.startswith("failed:"):
        return LoadCheck(how, f"the model does not load in {image}: {outcome[len('failed:'):].strip()}")
    tail = " | ".join(line.strip() for line in child.log.strip().splitlines()[-3:])
    return LoadCheck(how, f"the model check in {image} exited {code}: {tail or 'no output'}")


def check_folder(model_dir: Path, *, load: bool = True, image: str | None = None,
                 environment: Mapping[str, str] | None = None) -> CheckedModel:
    if not model_dir.is_dir():
        raise PreflightError(f"{model_dir} is not a folder")
    if not any(p.is_file() for p in model_dir.rglob("*")):
        raise PreflightError(f"model folder {model_dir} is empty")
    checked = CheckedModel()
    if load:
        result = load_check(model_dir, image=image, environment=environment)
        if result.problem:
            raise PreflightError(result.problem, hint="--skip-load-check skips this check.")
        checked.how = result.how
        if result.skipped:
            checked.notes.append(result.how)
    else:
        checked.how = "load check skipped (--skip-load-check)"
        checked.notes.append("model load check skipped (--skip-load-check)")
    try:
        from container import artifacts

        checked.metadata = artifacts.load_metadata(model_dir)
    except Exception:  # metadata is informative only
        checked.metadata = {}
    return checked


def check_archive(archive: Path, *, load: bool = True, image: str | None = None,
                  environment: Mapping[str, str] | None = None) -> CheckedModel:
    problems = archive_layout_problems(archive)
    if problems:
        raise PreflightError(problems)
    with tempfile.TemporaryDirectory(prefix="byoc-check-") as tmp:
        folder = Path(tmp) / "model"
        try:
            jobdir.unpack(archive, folder)
        except (tarfile.TarError, OSError) as exc:
            raise PreflightError(f"{archive} cannot be extracted safely: {exc}") from None
        return check_folder(folder, load=load, image=image, environment=environment)


@contextmanager
def packed(source: Path, *, load: bool = True, image: str | None = None,
           environment: Mapping[str, str] | None = None) -> Iterator[tuple[Path, CheckedModel]]:
    """(model.tar.gz, what the checks learnt) for a folder or an archive; the folder is packed
    into a temporary archive, removed afterwards."""
    if source.is_dir():
        checked = check_folder(source, load=load, image=image, environment=environment)
        with tempfile.TemporaryDirectory(prefix="byoc-pack-") as tmp:
            archive = jobdir.pack(source, Path(tmp) / ARCHIVE_NAME)
            problems = archive_layout_problems(archive)
            if problems:
                raise PreflightError(problems)
            yield archive, checked
    elif source.is_file():
        yield source, check_archive(source, load=load, image=image, environment=environment)
    else:
        raise PreflightError(f"model {source} is neither a folder nor a model.tar.gz")


def check_s3_model(session: AwsSession, uri: s3.S3Uri, *, load: bool = True, image: str | None = None,
                   environment: Mapping[str, str] | None = None, out: IO[str] = STDERR) -> CheckedModel:
    """An s3:// model.tar.gz: exists, in the session's region, and (when small enough) loads."""
    s3.check_bucket(session, uri.bucket, purpose="model data")
    size = s3.object_size(session, uri)
    if not load:
        return CheckedModel(notes=["model checks skipped (--skip-load-check)"])
    if size > S3_CHECK_MAX_BYTES:
        return CheckedModel(notes=[f"{uri} is {size / 1e9:.1f} GB: not downloaded to check its layout"])
    print(f"Checking {uri} ({size / 1e6:.1f} MB)", file=out)
    with tempfile.TemporaryDirectory(prefix="byoc-s3model-") as tmp:
        archive = s3.download(session, uri, Path(tmp) / ARCHIVE_NAME)
        checked = check_archive(archive, load=load, image=image, environment=environment)
    print(f"Model {uri}: layout checked; {checked.how}", file=out)
    return checked


def upload(session: AwsSession, archive: Path, target: s3.S3Uri, *, out: IO[str] = STDERR) -> s3.S3Uri:
    return s3.upload_file(session, archive, target, out=out)



@dataclass
class PreparedModel:
    """A model argument, checked before any AWS call: a local one packed and loaded, an s3:// one
    parsed (and checked in place once there is a session)."""

    source: str
    archive: Path | None  # the local model.tar.gz to upload; None for an s3:// model
    checked: CheckedModel
    load: bool = True
    #: The image to load the model in when loading it may run code (see the module).
    image: str | None = None
    environment: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_s3(self) -> bool:
        return self.archive is None

    def check_in_place(self, session: AwsSession, *, out: IO[str] = STDERR) -> None:
        """An s3:// model: exists, in the session's region, loads (read-only; nothing for a local one)."""
        if self.archive is None:
            self.checked = check_s3_model(session, s3.parse(self.source), load=self.load, image=self.image,
                                          environment=self.environment, out=out)

    def uri(self, session: AwsSession, target: Callable[[], s3.S3Uri], *, out: IO[str] = STDERR) -> s3.S3Uri:
        """Where SageMaker reads it: the s3:// URI given, or target() once the archive is uploaded there."""
        if self.archive is None:
            return s3.parse(self.source)
        return upload(session, self.archive, target(), out=out)


@contextmanager
def prepared(model: str | Path, *, load: bool = True, image: str | None = None,
             environment: Mapping[str, str] | None = None, out: IO[str] = STDERR) -> Iterator[PreparedModel]:
    """The model argument, checked; a packed folder's temporary archive is removed afterwards.
    `image` and `environment` are where and how `serve` will run it: a model whose loading may
    run code is loaded there to check it (see the module)."""
    source = str(model)
    environment = dict(environment or {})
    if s3.is_s3(source):
        yield PreparedModel(source, None, CheckedModel(), load, image, environment)
        return
    with packed(Path(source), load=load, image=image, environment=environment) as (archive, checked):
        print(f"Model {source}: layout checked; {checked.how}", file=out)
        yield PreparedModel(source, archive, checked, load, image, environment)
