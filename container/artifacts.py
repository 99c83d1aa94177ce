"""The model artifact: the estimator and metadata.json, written atomically, read back safely.

Two formats, chosen per model when it is saved:

- skops (model.skops), whenever the estimator holds only types skops trusts by default and
  TRUSTED_TYPES: loading it builds those types and nothing else, so it runs no code named by
  the file, and `byoc deploy` may load it on the user's machine. Arrays of
  ARRAY_FILE_MIN_BYTES or more are taken out of the skops file and stored beside it as plain
  .npy files (model-arrays/), which load memory-mapped: the pages are page cache, shared by
  every gunicorn worker, and a 500 MB model loads in milliseconds, as it did with joblib.
- joblib (model.joblib), for an estimator with any other type (a user's own class): loading
  a pickle runs whatever code the file names, so only the image ever loads one.

metadata.json records the SHA-256 of every file of the model, and verify_files() refuses a
file that does not match (damaged, replaced, or a save cut short); check_versions() refuses
a model trained with another minor version of scikit-learn or numpy.

Files are staged in a temporary folder inside the model folder and renamed into place with
SIGTERM held back, metadata.json last, so /opt/ml/model holds either the whole model or none
of it (and a half-renamed one fails verify_files).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import re
import shutil
import signal
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterator, Mapping

from .errors import ModelLoadError

log = logging.getLogger(__name__)

SKOPS_FILE = "model.skops"
JOBLIB_FILE = "model.joblib"
ARRAYS_DIR = "model-arrays"
METADATA_FILE = "metadata.json"
#: Model files this runtime finds, in order; the last three are other tools' names for a pickle.
MODEL_NAMES = (SKOPS_FILE, JOBLIB_FILE, "model.pkl", "model.pickle", "model.joblib.pkl")
TEMP_PREFIX = ".tmp-"
FORMAT_VERSION = 2

SKOPS, JOBLIB, AUTO = "skops", "joblib", "auto"

#: Types a model trained by this runtime holds beyond those skops trusts by default (every
#: public scikit-learn estimator, numpy arrays and ufuncs, Python primitives and containers).
#: Each is library code: trusting it lets a file build one, never run code of its own.
TRUSTED_TYPES = (
    # The nodes of decision trees (forests) and of HistGradientBoosting. skops leaves them out
    # of its defaults because predict() follows the node indices without bounds checks, so a
    # crafted file can crash a prediction; loading one (all the laptop's check does) is safe.
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    # HistGradientBoosting with categorical_features: its own preprocessor holds
    # partial(check_array, ...); a partial of anything else still needs that function trusted.
    "functools.partial",
    "sklearn.utils.validation.check_array",
    # SimpleImputer's fitted dtypes (built from an empty .npy, which numpy loads without pickle).
    "numpy.dtype",
)

#: Arrays this large or larger are stored as .npy files beside model.skops and memory-mapped.
ARRAY_FILE_MIN_BYTES = 1 << 20
#: How model.skops refers to an array stored in model-arrays/: {ARRAY_KEY: index}.
ARRAY_KEY = "__byoc_array_file__"

#: Serve a model trained with another major or minor version of scikit-learn or numpy anyway.
ALLOW_SKEW_ENV = "BYOC_ALLOW_VERSION_SKEW"
#: Libraries whose major.minor version must match between training and serving.
SKEW_CHECKED = ("scikit-learn", "numpy")

#: Held while files are renamed into place; whoever must abandon a save takes it first.
commit_lock = threading.Lock()


def library_versions() -> dict[str, str]:
    import joblib
    import numpy
    import sklearn

    versions = {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": numpy.__version__,
        "joblib": joblib.__version__,
    }
    try:
        import skops

        versions["skops"] = skops.__version__
    except ImportError:
        pass
    return versions


# -- saving ---------------------------------------------------------------------------------


def save(model_dir: Path, estimator: Any, metadata: dict[str, Any], *, format: str = AUTO,
         array_file_min_bytes: int | None = ARRAY_FILE_MIN_BYTES) -> list[Path]:
    """Write the model and its metadata into model_dir; returns the final paths (metadata last).

    `format` AUTO writes skops when every type the estimator holds is trusted, else joblib;
    JOBLIB forces a pickle. `array_file_min_bytes` None keeps every array inside model.skops
    (loaded into memory, not mapped): for comparing the two in benchmarks/run.py.
    """
    if format not in (AUTO, JOBLIB):
        raise ValueError(f"format must be {AUTO!r} or {JOBLIB!r}, not {format!r}")
    model_dir.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=model_dir))
    try:
        written, described = _write_estimator(stage, estimator, format, array_file_min_bytes)
        files = {name: _describe_file(stage / name) for name in written}
        metadata = {"format_version": FORMAT_VERSION, "versions": library_versions(),
                    "model": described, "files": files, **metadata}
        (stage / METADATA_FILE).write_text(json.dumps(metadata, indent=2, sort_keys=True, default=str) + "\n")
        for path in stage.rglob("*"):
            os.chmod(path, 0o755 if path.is_dir() else 0o644)  # a server running as another user reads them
            if path.is_file():
                _fsync(path)
        tops = sorted({PurePosixPath(name).parts[0] for name in written}) + [METADATA_FILE]
        with commit_lock, _signals_held():
            for top in tops:
                _replace(stage / top, model_dir / top)
            for stale in (SKOPS_FILE, JOBLIB_FILE, ARRAYS_DIR):  # the other format's, from an earlier save
                if stale not in tops:
                    _remove(model_dir / stale)
            _fsync(model_dir)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return [model_dir / top for top in tops]


def _write_estimator(stage: Path, estimator: Any, format: str,
                     array_file_min_bytes: int | None) -> tuple[list[str], dict[str, Any]]:
    """The estimator's files in `stage` (relative names) and how metadata.json describes them."""
    import joblib

    reason = "joblib was asked for"
    if format == AUTO:
        try:
            written, untrusted = _write_skops(stage, estimator, array_file_min_bytes)
        except Exception as exc:  # skops cannot represent some object (its words say which)
            reason = f"skops cannot write it ({type(exc).__name__}: {str(exc)[:300]})"
        else:
            if not untrusted:
                return written, {"file": SKOPS_FILE, "format": SKOPS}
            reason = "it holds types this runtime does not trust: " + ", ".join(untrusted)
        for leftover in list(stage.iterdir()):
            _remove(leftover)
        log.info("The model is saved with joblib (a pickle, loaded only in the image) because %s.", reason)
    joblib.dump(estimator, stage / JOBLIB_FILE)
    return [JOBLIB_FILE], {"file": JOBLIB_FILE, "format": JOBLIB, "why": reason}


def _write_skops(stage: Path, estimator: Any, array_file_min_bytes: int | None) -> tuple[list[str], list[str]]:
    """model.skops (and model-arrays/) in stage; the types in it that are not trusted."""
    import numpy as np
    import skops.io as sio

    arrays: list[Any] = []
    skeleton = estimator if array_file_min_bytes is None else _detach_arrays(estimator, arrays, array_file_min_bytes)
    sio.dump(skeleton, stage / SKOPS_FILE)
    untrusted = sorted(set(sio.get_untrusted_types(file=stage / SKOPS_FILE)) - set(TRUSTED_TYPES))
    if untrusted:
        return [], untrusted
    written = [SKOPS_FILE]
    if arrays:
        (stage / ARRAYS_DIR).mkdir()
        for index, array in enumerate(arrays):
            name = f"{ARRAYS_DIR}/{index}.npy"
            np.save(stage / name, array, allow_pickle=False)
            written.append(name)
    return written, []


def _detach_arrays(obj: Any, arrays: list[Any], min_bytes: int, memo: dict[int, Any] | None = None) -> Any:
    """A copy of obj in which every large plain array of a plain estimator (and of the lists,
    tuples and dicts it holds) is replaced by {ARRAY_KEY: index into arrays}; obj itself is
    never changed. Only estimators that keep their state in __dict__ are walked: any other
    object (a tree's nodes, say) keeps its arrays inside model.skops."""
    import numpy as np

    memo = {} if memo is None else memo
    key = id(obj)
    if key in memo:
        return memo[key]
    result = obj
    if type(obj) is np.ndarray:
        if not obj.dtype.hasobject and obj.nbytes >= min_bytes:
            arrays.append(obj)
            result = {ARRAY_KEY: len(arrays) - 1}
    elif type(obj) in (list, tuple):
        memo[key] = obj  # a container that holds itself stays as it is
        items = [_detach_arrays(v, arrays, min_bytes, memo) for v in obj]
        if any(new is not old for new, old in zip(items, obj)):
            result = type(obj)(items)
    elif type(obj) is dict:
        memo[key] = obj
        values = {k: _detach_arrays(v, arrays, min_bytes, memo) for k, v in obj.items()}
        if any(values[k] is not obj[k] for k in obj):
            result = values
    elif _plain_estimator(obj):
        memo[key] = obj
        state = {k: _detach_arrays(v, arrays, min_bytes, memo) for k, v in vars(obj).items()}
        if any(state[k] is not v for k, v in vars(obj).items()):
            result = object.__new__(type(obj))  # no __init__, no copy hooks: the same state, new values
            result.__dict__.update(state)
    memo[key] = result
    return result


def _attach_arrays(obj: Any, load: Callable[[int], Any], memo: dict[int, Any] | None = None) -> Any:
    """The inverse of _detach_arrays on a freshly loaded model: placeholders become arrays
    (load(index)); lists, dicts and estimators are changed in place."""
    memo = {} if memo is None else memo
    key = id(obj)
    if key in memo:
        return memo[key]
    memo[key] = obj
    if type(obj) is dict:
        if len(obj) == 1 and type(obj.get(ARRAY_KEY)) is int:
            memo[key] = load(obj[ARRAY_KEY])
            return memo[key]
        for k, v in obj.items():
            obj[k] = _attach_arrays(v, load, memo)
    elif type(obj) is list:
        obj[:] = [_attach_arrays(v, load, memo) for v in obj]
    elif type(obj) is tuple:
        items = [_attach_arrays(v, load, memo) for v in obj]
        if any(new is not old for new, old in zip(items, obj)):
            memo[key] = tuple(items)
    elif _plain_estimator(obj):
        for k, v in list(vars(obj).items()):
            obj.__dict__[k] = _attach_arrays(v, load, memo)
    return memo[key]


def _plain_estimator(obj: Any) -> bool:
    """A scikit-learn estimator whose whole state is its __dict__ (skops saves it that way)."""
    from sklearn.base import BaseEstimator

    cls = type(obj)
    return (isinstance(obj, BaseEstimator) and hasattr(obj, "__dict__")
            and cls.__getstate__ is BaseEstimator.__getstate__
            and cls.__setstate__ is BaseEstimator.__setstate__)


def remove_temporaries(model_dir: Path) -> None:
    """Delete what a save() that was cut short left behind."""
    if model_dir.is_dir():
        for leftover in model_dir.glob(TEMP_PREFIX + "*"):
            _remove(leftover)


# -- finding and loading ------------------------------------------------------------------


def find_model_file(model_dir: Path, metadata: Mapping[str, Any] | None = None) -> Path:
    """The serialized estimator in model_dir (the one metadata.json names, when it names
    one), or a ModelLoadError that says what is there."""
    named = ((metadata or {}).get("model") or {}).get("file")
    if isinstance(named, str) and named in MODEL_NAMES and (model_dir / named).is_file():
        return model_dir / named
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


def runs_code_to_load(model_dir: Path, metadata: Mapping[str, Any] | None = None) -> bool:
    """Whether loading the model in model_dir runs code the file names (a pickle), so it must
    not be loaded outside the image. Raises ModelLoadError when there is no model file."""
    return find_model_file(model_dir, metadata).name != SKOPS_FILE


def load_estimator(model_dir: Path, metadata: Mapping[str, Any] | None = None) -> Any:
    """Load the estimator: model.skops with only trusted types, its large arrays memory-mapped;
    a pickle (model.joblib and the like) with joblib, its arrays memory-mapped when it allows."""
    path = find_model_file(model_dir, load_metadata(model_dir) if metadata is None else metadata)
    try:
        if path.name == SKOPS_FILE:
            return _load_skops(path)
        import joblib

        return joblib.load(path, mmap_mode="r")
    except ModelLoadError:
        raise
    except Exception as exc:
        raise ModelLoadError(
            f"{path.name} in {model_dir} cannot be loaded: {type(exc).__name__}: {exc}",
            hint="Load it with the same library versions it was trained with "
            f"(see {METADATA_FILE}).",
        ) from exc


def _load_skops(path: Path) -> Any:
    import numpy as np
    import skops.io as sio
    from skops.io.exceptions import UntrustedTypesFoundException

    try:
        skeleton = sio.load(path, trusted=list(TRUSTED_TYPES))
    except UntrustedTypesFoundException:
        untrusted = sorted(set(sio.get_untrusted_types(file=path)) - set(TRUSTED_TYPES))
        raise ModelLoadError(
            f"{path.name} in {path.parent} holds types this runtime does not load: {', '.join(untrusted)}.",
            hint="If you trust them, load it in your own model_fn with skops.io.load(path, trusted=[...]).",
        ) from None
    arrays = path.parent / ARRAYS_DIR

    def load(index: int) -> Any:
        file = arrays / f"{index}.npy"
        if not file.is_file():
            raise ModelLoadError(f"{path.name} refers to {ARRAYS_DIR}/{index}.npy, which is not in {path.parent}.",
                                 hint="Copy or pack the whole model folder, model-arrays/ included.")
        return np.load(file, mmap_mode="r", allow_pickle=False)

    return _attach_arrays(skeleton, load)


def load_metadata(model_dir: Path) -> dict[str, Any]:
    path = model_dir / METADATA_FILE
    if not path.is_file():
        return {}
    try:
        loaded = json.loads(path.read_text())
    except ValueError as exc:
        raise ModelLoadError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(loaded, dict):
        raise ModelLoadError(f"{path} is not a JSON object.")
    return loaded


# -- integrity and versions ---------------------------------------------------------------------


def verify_files(model_dir: Path, metadata: Mapping[str, Any]) -> list[str]:
    """Check every file metadata.json lists against its SHA-256; the files checked. A model
    without the list (trained before it was recorded, or saved by other tools) is not checked."""
    files = metadata.get("files")
    if not files:
        return []
    if not isinstance(files, dict):
        raise ModelLoadError(f"{METADATA_FILE} in {model_dir}: 'files' is not an object.")
    checked = []
    for name, recorded in files.items():
        relative = PurePosixPath(str(name))
        if relative.is_absolute() or ".." in relative.parts or not isinstance(recorded, dict):
            raise ModelLoadError(f"{METADATA_FILE} in {model_dir} lists {name!r}, which is not a file of the model.")
        path = model_dir.joinpath(*relative.parts)
        if not path.is_file():
            raise ModelLoadError(
                f"{name} is missing from {model_dir}, although {METADATA_FILE} lists it.",
                hint="Use the whole model folder (or model.tar.gz) the training job wrote.")
        size = path.stat().st_size
        found = _describe_file(path) if size == recorded.get("bytes") else {"bytes": size}
        if found != {"bytes": recorded.get("bytes"), "sha256": recorded.get("sha256")}:
            what = (f"{size} bytes, not the {recorded.get('bytes')} recorded" if size != recorded.get("bytes")
                    else f"its SHA-256 is {found['sha256'][:16]}..., not the {str(recorded.get('sha256'))[:16]}... recorded")
            raise ModelLoadError(
                f"{name} in {model_dir} is not the file training wrote: {what} in {METADATA_FILE}. "
                "It was changed or damaged after training.",
                hint="Deploy the model.tar.gz the training job wrote, unchanged.")
        checked.append(str(name))
    return checked


def check_versions(metadata: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> None:
    """Refuse a model trained with another major or minor version of scikit-learn or numpy
    (a pickle or skops file may load into wrong state, or predictions may differ), unless
    BYOC_ALLOW_VERSION_SKEW=1. Patch versions may differ."""
    env = os.environ if environ is None else environ
    skew = minor_skew(metadata)
    if not skew:
        return
    described = ", ".join(f"{name} {trained} (this image has {now})" for name, (trained, now) in skew.items())
    if env.get(ALLOW_SKEW_ENV, "").strip() == "1":
        log.warning("This model was trained with %s; serving it anyway (%s=1).", described, ALLOW_SKEW_ENV)
        return
    pins = " ".join(f"{name}=={trained}" for name, (trained, _) in skew.items())
    raise ModelLoadError(
        f"This model was trained with {described}: another minor version may load it wrongly or "
        "predict differently.",
        hint=f"Serve it from an image built with {pins} (pin them in pyproject.toml), or train it "
        f"again with this image; {ALLOW_SKEW_ENV}=1 serves it anyway.")


def minor_skew(metadata: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """The libraries of SKEW_CHECKED whose major or minor version differs from training's."""
    return {name: pair for name, pair in version_skew(metadata).items()
            if name in SKEW_CHECKED and _minor(pair[0]) != _minor(pair[1])}


def version_skew(metadata: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """Libraries whose version differs from training's: {name: (trained, now)}."""
    trained = metadata.get("versions") or {}
    now = library_versions()
    return {
        name: (str(trained[name]), now[name])
        for name in ("scikit-learn", "numpy", "joblib")
        if name in trained and str(trained[name]) != now[name]
    }


def _minor(version: str) -> tuple[int, ...] | str:
    match = re.match(r"(\d+)\.(\d+)", version)
    return (int(match.group(1)), int(match.group(2))) if match else version


def _describe_file(path: Path) -> dict[str, Any]:
    with open(path, "rb") as stream:
        digest = hashlib.file_digest(stream, "sha256").hexdigest()
    return {"bytes": path.stat().st_size, "sha256": digest}


# -- files --------------------------------------------------------------------------------------


def _replace(source: Path, target: Path) -> None:
    """Rename source onto target; a folder in the way is moved aside and removed."""
    if target.is_dir() and not target.is_symlink():
        aside = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=target.parent))
        os.replace(target, aside / target.name)
        os.replace(source, target)
        shutil.rmtree(aside, ignore_errors=True)
    else:
        os.replace(source, target)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


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
