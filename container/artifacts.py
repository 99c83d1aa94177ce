"""The model artifact: the estimator (joblib) and a metadata file, written atomically.

Files are written under temporary names in the model folder and renamed into place with
SIGTERM held back, so /opt/ml/model holds either the whole model or none of it. The
estimator is saved uncompressed, so serving can memory-map its arrays and every worker
shares one copy of them.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import signal
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .errors import ModelLoadError

log = logging.getLogger(__name__)

MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
#: Names other tools use for the same thing; load() finds these too.
MODEL_NAMES = (MODEL_FILE, "model.pkl", "model.pickle", "model.joblib.pkl")
TEMP_PREFIX = ".tmp-"
FORMAT_VERSION = 1

#: Held while files are renamed into place; whoever must abandon a save takes it first.
commit_lock = threading.Lock()


def library_versions() -> dict[str, str]:
    import joblib
    import numpy
    import sklearn

    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": numpy.__version__,
        "joblib": joblib.__version__,
    }


def save(model_dir: Path, estimator: Any, metadata: dict[str, Any]) -> list[Path]:
    """Write the model and its metadata into model_dir; returns the final paths."""
    import joblib

    model_dir.mkdir(parents=True, exist_ok=True)
    metadata = {"format_version": FORMAT_VERSION, "versions": library_versions(), **metadata}
    staged: list[tuple[Path, Path]] = []
    try:
        model_tmp = _temp_path(model_dir, MODEL_FILE)
        staged.append((model_tmp, model_dir / MODEL_FILE))
        joblib.dump(estimator, model_tmp)
        _fsync(model_tmp)
        meta_tmp = _temp_path(model_dir, METADATA_FILE)
        staged.append((meta_tmp, model_dir / METADATA_FILE))
        meta_tmp.write_text(json.dumps(metadata, indent=2, sort_keys=True, default=str) + "\n")
        _fsync(meta_tmp)
        with commit_lock, _signals_held():
            for tmp, final in staged:
                os.replace(tmp, final)
            _fsync(model_dir)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
    return [final for _, final in staged]


def remove_temporaries(model_dir: Path) -> None:
    """Delete files a save() that was cut short left behind."""
    if model_dir.is_dir():
        for leftover in model_dir.glob(TEMP_PREFIX + "*"):
            leftover.unlink(missing_ok=True)


def find_model_file(model_dir: Path) -> Path:
    """The serialized estimator in model_dir, or a ModelLoadError that says what is there."""
    for name in MODEL_NAMES:
        if (model_dir / name).is_file():
            return model_dir / name
    listing = _listing(model_dir)
    hint = "Pack the archive with its files at the root: tar -C MODEL_DIR -czf model.tar.gz ."
    nested = [p for p in listing if "/" in p and p.rsplit("/", 1)[1] in MODEL_NAMES]
    if nested:
        hint = (
            f"Found {nested[0]}: the archive has a top-level folder. SageMaker extracts "
            "model.tar.gz into /opt/ml/model, so pack it with tar -C MODEL_DIR -czf model.tar.gz ."
        )
    raise ModelLoadError(
        f"No model file ({', '.join(MODEL_NAMES)}) in {model_dir}; it holds: "
        f"{', '.join(listing[:20]) or 'nothing'}.",
        hint=hint,
    )


def load_estimator(model_dir: Path) -> Any:
    """Load the estimator, memory-mapping its arrays when the file allows it."""
    import joblib

    path = find_model_file(model_dir)
    try:
        return joblib.load(path, mmap_mode="r")
    except Exception as exc:
        raise ModelLoadError(
            f"{path.name} in {model_dir} cannot be loaded: {type(exc).__name__}: {exc}",
            hint="Load it with the same library versions it was trained with "
            f"(see {METADATA_FILE}).",
        ) from exc


def load_metadata(model_dir: Path) -> dict[str, Any]:
    path = model_dir / METADATA_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise ModelLoadError(f"{path} is not valid JSON: {exc}") from None


def version_skew(metadata: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Libraries whose version differs from training's: {name: (trained, now)}."""
    trained = metadata.get("versions") or {}
    now = library_versions()
    return {
        name: (trained[name], now[name])
        for name in ("scikit-learn", "numpy", "joblib")
        if name in trained and trained[name] != now[name]
    }


def _temp_path(model_dir: Path, name: str) -> Path:
    fd, path = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{name}.", dir=model_dir)
    os.fchmod(fd, 0o644)  # mkstemp makes 0600; a server running as another user must read it
    os.close(fd)
    return Path(path)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems (and directories on them) refuse fsync
    finally:
        os.close(fd)


@contextmanager
def _signals_held() -> Iterator[None]:
    """Delay SIGTERM and SIGINT until the renames are done."""
    held = {signal.SIGTERM, signal.SIGINT}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _listing(model_dir: Path) -> list[str]:
    if not model_dir.is_dir():
        return []
    return sorted(
        p.relative_to(model_dir).as_posix() for p in model_dir.rglob("*") if p.is_file()
    )
