"""The model SageMaker will serve: a folder or model.tar.gz, checked, packed and uploaded.

SageMaker extracts model.tar.gz into /opt/ml/model, so the files must sit at the archive's
root. Before anything is uploaded the archive is opened, its layout checked, and the model
loaded the way `serve` loads it (the runtime's own code, container.artifacts and the user's
model_fn if there is one), so a broken model fails here and not after a 10-minute endpoint
creation that ends in "did not pass the ping health check".
"""

from __future__ import annotations

import tarfile
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any, Callable, Iterator

from .. import jobdir
from . import s3
from .console import STDERR
from ..errors import PreflightError
from .session import AwsSession

ARCHIVE_NAME = "model.tar.gz"
REPACK_HINT = "Pack it with the files at the root: tar -C MODEL_DIR -czf model.tar.gz ."
#: An s3:// model larger than this is not downloaded for checking (the check is skipped, said so).
S3_CHECK_MAX_BYTES = 1 << 30


@dataclass
class CheckedModel:
    """What the checks learnt: the metadata.json the training job wrote, and notes to show."""

    metadata: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


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


def load_problem(model_dir: Path) -> str | None:
    """Load the model as `serve` does; a sentence saying why it fails, or None."""
    try:
        from container import artifacts, hooks
        from container.errors import ByocError
        from container.inference import InferencePipeline
        from container.settings import ServingSettings
    except ImportError as exc:
        return f"the runtime cannot be imported to check the model ({exc})"
    try:
        module = hooks.import_optional("inference")
        if not (module and getattr(module, "model_fn", None)):
            artifacts.find_model_file(model_dir)  # the layout, with its own hints
        InferencePipeline(model_dir, ServingSettings())
    except ByocError as exc:
        return f"the runtime cannot load the model: {exc}"
    except Exception as exc:  # user code (model_fn, a hooks import) failing
        return f"the runtime cannot load the model: {type(exc).__name__}: {exc}"
    return None


def check_folder(model_dir: Path, *, load: bool = True) -> CheckedModel:
    if not model_dir.is_dir():
        raise PreflightError(f"{model_dir} is not a folder")
    if not any(p.is_file() for p in model_dir.rglob("*")):
        raise PreflightError(f"model folder {model_dir} is empty")
    checked = CheckedModel()
    if load:
        problem = load_problem(model_dir)
        if problem:
            raise PreflightError(problem, hint="--skip-load-check skips this check when the model "
                                 "needs libraries that only the image has.")
    else:
        checked.notes.append("model load check skipped (--skip-load-check)")
    try:
        from container import artifacts

        checked.metadata = artifacts.load_metadata(model_dir)
    except Exception:  # metadata is informative only
        checked.metadata = {}
    return checked


def check_archive(archive: Path, *, load: bool = True) -> CheckedModel:
    problems = archive_layout_problems(archive)
    if problems:
        raise PreflightError(problems)
    with tempfile.TemporaryDirectory(prefix="byoc-check-") as tmp:
        folder = Path(tmp) / "model"
        try:
            jobdir.unpack(archive, folder)
        except (tarfile.TarError, OSError) as exc:
            raise PreflightError(f"{archive} cannot be extracted safely: {exc}") from None
        return check_folder(folder, load=load)


@contextmanager
def packed(source: Path, *, load: bool = True) -> Iterator[tuple[Path, CheckedModel]]:
    """(model.tar.gz, what the checks learnt) for a folder or an archive; the folder is packed
    into a temporary archive, removed afterwards."""
    if source.is_dir():
        checked = check_folder(source, load=load)
        with tempfile.TemporaryDirectory(prefix="byoc-pack-") as tmp:
            archive = jobdir.pack(source, Path(tmp) / ARCHIVE_NAME)
            problems = archive_layout_problems(archive)
            if problems:
                raise PreflightError(problems)
            yield archive, checked
    elif source.is_file():
        yield source, check_archive(source, load=load)
    else:
        raise PreflightError(f"model {source} is neither a folder nor a model.tar.gz")


def check_s3_model(session: AwsSession, uri: s3.S3Uri, *, load: bool = True,
                   out: IO[str] = STDERR) -> CheckedModel:
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
        return check_archive(archive, load=load)


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

    @property
    def is_s3(self) -> bool:
        return self.archive is None

    def check_in_place(self, session: AwsSession, *, out: IO[str] = STDERR) -> None:
        """An s3:// model: exists, in the session's region, loads (read-only; nothing for a local one)."""
        if self.archive is None:
            self.checked = check_s3_model(session, s3.parse(self.source), load=self.load, out=out)

    def uri(self, session: AwsSession, target: Callable[[], s3.S3Uri], *, out: IO[str] = STDERR) -> s3.S3Uri:
        """Where SageMaker reads it: the s3:// URI given, or target() once the archive is uploaded there."""
        if self.archive is None:
            return s3.parse(self.source)
        return upload(session, self.archive, target(), out=out)


@contextmanager
def prepared(model: str | Path, *, load: bool = True, out: IO[str] = STDERR) -> Iterator[PreparedModel]:
    """The model argument, checked; a packed folder's temporary archive is removed afterwards."""
    source = str(model)
    if s3.is_s3(source):
        yield PreparedModel(source, None, CheckedModel(), load)
        return
    with packed(Path(source), load=load) as (archive, checked):
        print(f"Model {source}: " + ("layout and load checks passed" if load else "layout checked"), file=out)
        yield PreparedModel(source, archive, checked, load)
