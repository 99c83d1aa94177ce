"""The model artifact: skops unless a type is not trusted, written atomically, checked before it
is loaded (SHA-256, library versions), found with a useful hint."""

from __future__ import annotations

import json
import stat
import threading
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from container import artifacts, preprocessing
from container.errors import ModelLoadError
from container.schema import CATEGORICAL, Feature, Schema
from model.train import ESTIMATORS


@pytest.fixture
def fitted() -> LogisticRegression:
    X = np.array([[0.0, 1.0], [1.0, 0.0], [0.1, 0.9], [0.9, 0.2]])
    return LogisticRegression().fit(X, [0, 1, 0, 1])


class Majority(ClassifierMixin, BaseEstimator):
    """A user's own estimator: a type skops cannot vouch for."""

    def fit(self, X, y):
        self.classes_, counts = np.unique(y, return_counts=True)
        self.answer_ = self.classes_[np.argmax(counts)]
        return self

    def predict(self, X):
        return np.full(len(X), self.answer_)


MARKER = Path("/tmp/byoc-test-artifacts-code-ran")


class Tripwire(BaseEstimator):
    """Loading this from a file would run its __setstate__: proof that code ran."""

    def __setstate__(self, state):
        MARKER.write_text("ran")
        self.__dict__.update(state)


def test_save_writes_skops_and_metadata_with_versions_and_hashes(tmp_path: Path, fitted) -> None:
    model_dir = tmp_path / "model"  # created by save
    written = artifacts.save(model_dir, fitted, {"n_features": 2, "classes": [0, 1]})
    assert written == [model_dir / "model.skops", model_dir / "metadata.json"]
    assert sorted(p.name for p in model_dir.iterdir()) == ["metadata.json", "model.skops"]
    metadata = json.loads((model_dir / "metadata.json").read_text())
    assert metadata["n_features"] == 2 and metadata["classes"] == [0, 1]
    assert metadata["format_version"] == artifacts.FORMAT_VERSION
    assert set(metadata["versions"]) >= {"python", "scikit-learn", "numpy", "joblib", "skops"}
    assert metadata["model"] == {"file": "model.skops", "format": "skops"}
    recorded = metadata["files"]["model.skops"]
    assert recorded["bytes"] == (model_dir / "model.skops").stat().st_size and len(recorded["sha256"]) == 64
    assert artifacts.verify_files(model_dir, metadata) == ["model.skops"]
    loaded = artifacts.load_estimator(model_dir)
    np.testing.assert_array_equal(loaded.predict([[0.0, 1.0]]), fitted.predict([[0.0, 1.0]]))
    assert artifacts.load_metadata(model_dir) == metadata
    assert not artifacts.runs_code_to_load(model_dir, metadata)


def test_large_arrays_are_stored_beside_and_memory_mapped(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20_000, 10))  # 1.6 MB: over ARRAY_FILE_MIN_BYTES
    model = KNeighborsClassifier(algorithm="brute").fit(X, (X[:, 0] > 0).astype(int))
    artifacts.save(tmp_path, model, {})
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "metadata.json", "model-arrays", "model-arrays/0.npy", "model.skops"]
    assert type(model._fit_X) is np.ndarray  # the fitted model itself is left as it was
    metadata = artifacts.load_metadata(tmp_path)
    assert sorted(metadata["files"]) == ["model-arrays/0.npy", "model.skops"]
    loaded = artifacts.load_estimator(tmp_path)
    assert isinstance(loaded._fit_X, np.memmap) and not loaded._fit_X.flags.writeable
    np.testing.assert_array_equal(loaded._fit_X, X)
    np.testing.assert_array_equal(loaded.predict(X[:50]), model.predict(X[:50]))
    # Everything inside: the same model, nothing mapped.
    artifacts.save(tmp_path, model, {}, array_file_min_bytes=None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metadata.json", "model.skops"]
    assert type(artifacts.load_estimator(tmp_path)._fit_X) is np.ndarray


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
@pytest.mark.parametrize("categorical", [False, True], ids=["numbers", "categories-and-missing"])
def test_every_model_train_makes_is_saved_as_skops(tmp_path: Path, name: str, categorical: bool) -> None:
    """TRUSTED_TYPES covers what the runtime's own estimators and preprocessing hold."""
    rng = np.random.default_rng(1)
    regression = name in ("random_forest_regressor", "gradient_boosting_regressor", "ridge")
    X: object = rng.standard_normal((200, 3))
    y = rng.standard_normal(200) if regression else rng.integers(0, 3, 200)
    estimator = ESTIMATORS[name]()
    model = estimator
    if categorical:
        X = pd.DataFrame({0: rng.choice(["red", "green", "blue"], 200), 1: X[:, 1], 2: X[:, 2]})
        X.loc[5, 1] = np.nan
        schema = Schema((Feature(None, CATEGORICAL), Feature(None), Feature(None)), 0, None, (1, 2, 3))
        model, _ = preprocessing.wrap(estimator, schema, missing=True)
    model.fit(X, y)
    artifacts.save(tmp_path, model, {})
    assert artifacts.load_metadata(tmp_path)["model"]["format"] == "skops"
    loaded = artifacts.load_estimator(tmp_path)
    rows = X.iloc[:20].to_numpy(dtype=object) if categorical else X[:20]
    np.testing.assert_array_equal(loaded.predict(rows), model.predict(rows))


def test_a_users_own_type_is_saved_with_joblib_saying_why(tmp_path: Path) -> None:
    model = Majority().fit([[0.0], [1.0], [2.0]], [1, 1, 0])
    artifacts.save(tmp_path, model, {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metadata.json", "model.joblib"]
    metadata = artifacts.load_metadata(tmp_path)
    assert metadata["model"]["format"] == "joblib"
    assert "test_artifacts.Majority" in metadata["model"]["why"]
    assert artifacts.runs_code_to_load(tmp_path, metadata)
    assert artifacts.load_estimator(tmp_path).predict([[5.0]]).tolist() == [1]


def test_joblib_on_request_and_a_new_save_removes_the_other_formats_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20_000, 10))
    model = KNeighborsClassifier(algorithm="brute").fit(X, (X[:, 0] > 0).astype(int))
    artifacts.save(tmp_path, model, {})
    artifacts.save(tmp_path, model, {}, format=artifacts.JOBLIB)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metadata.json", "model.joblib"]
    assert isinstance(artifacts.load_estimator(tmp_path)._fit_X, np.memmap)  # joblib maps too
    artifacts.save(tmp_path, model, {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metadata.json", "model-arrays", "model.skops"]
    with pytest.raises(ValueError, match="format"):
        artifacts.save(tmp_path, model, {}, format="pickle")


def test_saved_files_are_readable_by_another_user(tmp_path: Path) -> None:
    X = np.random.default_rng(0).standard_normal((20_000, 10))
    artifacts.save(tmp_path, KNeighborsClassifier(algorithm="brute").fit(X, X[:, 0] > 0), {})
    for path in tmp_path.rglob("*"):
        wanted = 0o055 if path.is_dir() else 0o044
        assert stat.S_IMODE(path.stat().st_mode) & wanted == wanted, path


def test_failed_save_leaves_no_temporaries_and_keeps_the_previous_model(tmp_path: Path, fitted) -> None:
    artifacts.save(tmp_path, fitted, {"generation": 1})
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    unpicklable = threading.Lock()  # neither skops nor joblib can write it
    with pytest.raises(TypeError):
        artifacts.save(tmp_path, unpicklable, {"generation": 2})
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert not list(tmp_path.glob(artifacts.TEMP_PREFIX + "*"))


def test_metadata_that_cannot_be_written_leaves_no_half_model(tmp_path: Path, fitted) -> None:
    class Unserializable:
        def __str__(self) -> str:
            raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        artifacts.save(tmp_path, fitted, {"bad": Unserializable()})
    assert list(tmp_path.iterdir()) == []


def test_remove_temporaries(tmp_path: Path) -> None:
    (tmp_path / ".tmp-model.joblib.abc").write_text("half")
    (tmp_path / ".tmp-stage").mkdir()
    (tmp_path / ".tmp-stage" / "model.skops").write_text("half")
    (tmp_path / "model.joblib").write_text("whole")
    artifacts.remove_temporaries(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["model.joblib"]
    artifacts.remove_temporaries(tmp_path / "missing")  # no error


# -- loading without running code -----------------------------------------------------------------


def test_a_skops_file_with_an_untrusted_type_is_refused_without_running_its_code(tmp_path: Path) -> None:
    MARKER.unlink(missing_ok=True)
    sio.dump(Tripwire(), tmp_path / "model.skops")
    with pytest.raises(ModelLoadError) as info:
        artifacts.load_estimator(tmp_path)
    assert "test_artifacts.Tripwire" in str(info.value) and "trusted=" in str(info.value)
    assert not MARKER.exists()


def test_a_placeholder_for_a_missing_array_file_is_a_model_load_error(tmp_path: Path) -> None:
    X = np.random.default_rng(0).standard_normal((20_000, 10))
    artifacts.save(tmp_path, KNeighborsClassifier(algorithm="brute").fit(X, X[:, 0] > 0), {})
    (tmp_path / "model-arrays" / "0.npy").unlink()
    with pytest.raises(ModelLoadError, match=r"model-arrays/0.npy"):
        artifacts.load_estimator(tmp_path)


@pytest.mark.parametrize("name", artifacts.MODEL_NAMES)
def test_find_model_file_knows_other_tools_names(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"x")
    assert artifacts.find_model_file(tmp_path) == tmp_path / name


def test_find_model_file_takes_the_one_metadata_names(tmp_path: Path) -> None:
    (tmp_path / "model.skops").write_bytes(b"x")
    (tmp_path / "model.joblib").write_bytes(b"x")
    assert artifacts.find_model_file(tmp_path).name == "model.skops"
    assert artifacts.find_model_file(tmp_path, {"model": {"file": "model.joblib"}}).name == "model.joblib"
    # A name that is not a model file is not followed.
    assert artifacts.find_model_file(tmp_path, {"model": {"file": "../x"}}).name == "model.skops"


def test_find_model_file_hints_at_a_nested_top_level_folder(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.joblib").write_bytes(b"x")
    (tmp_path / "model" / "metadata.json").write_text("{}")
    with pytest.raises(ModelLoadError) as info:
        artifacts.find_model_file(tmp_path)
    message = str(info.value)
    assert "model/model.joblib" in message
    assert "top-level folder" in message
    assert "tar -C MODEL_DIR -czf model.tar.gz ." in message


def test_find_model_file_lists_what_is_there(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(ModelLoadError) as info:
        artifacts.find_model_file(tmp_path)
    assert "weights.bin" in str(info.value)
    assert "top-level folder" not in str(info.value)


def test_find_model_file_in_an_empty_or_missing_folder(tmp_path: Path) -> None:
    for folder in (tmp_path, tmp_path / "missing"):
        with pytest.raises(ModelLoadError, match="nothing"):
            artifacts.find_model_file(folder)


@pytest.mark.parametrize("name", ["model.joblib", "model.skops"])
def test_corrupt_model_file(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"not a model at all")
    with pytest.raises(ModelLoadError) as info:
        artifacts.load_estimator(tmp_path)
    assert name in str(info.value) and "metadata.json" in str(info.value)


def test_load_estimator_reads_compressed_files_too(tmp_path: Path, fitted) -> None:
    joblib.dump(fitted, tmp_path / "model.joblib", compress=3)
    assert artifacts.load_estimator(tmp_path).predict([[1.0, 0.0]]).tolist() == [1]


def test_load_metadata(tmp_path: Path) -> None:
    assert artifacts.load_metadata(tmp_path) == {}
    (tmp_path / "metadata.json").write_text("{broken")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        artifacts.load_metadata(tmp_path)
    (tmp_path / "metadata.json").write_text("[1, 2]")
    with pytest.raises(ModelLoadError, match="not a JSON object"):
        artifacts.load_metadata(tmp_path)


# -- integrity -------------------------------------------------------------------------------------


def saved(tmp_path: Path) -> dict:
    X = np.random.default_rng(0).standard_normal((20_000, 10))
    artifacts.save(tmp_path, KNeighborsClassifier(algorithm="brute").fit(X, X[:, 0] > 0), {})
    return artifacts.load_metadata(tmp_path)


def test_a_changed_byte_is_refused_naming_the_file(tmp_path: Path) -> None:
    metadata = saved(tmp_path)
    array = tmp_path / "model-arrays" / "0.npy"
    data = bytearray(array.read_bytes())
    data[-1] ^= 1
    array.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError) as info:
        artifacts.verify_files(tmp_path, metadata)
    message = str(info.value)
    assert "model-arrays/0.npy" in message and "SHA-256" in message and "not the file training wrote" in message


def test_a_truncated_or_missing_file_is_refused(tmp_path: Path) -> None:
    metadata = saved(tmp_path)
    skops_file = tmp_path / "model.skops"
    skops_file.write_bytes(skops_file.read_bytes()[:-10])
    with pytest.raises(ModelLoadError, match=r"model.skops .*bytes, not the .* recorded"):
        artifacts.verify_files(tmp_path, metadata)
    skops_file.unlink()
    with pytest.raises(ModelLoadError, match="model.skops is missing"):
        artifacts.verify_files(tmp_path, metadata)


def test_a_listed_path_outside_the_model_is_refused(tmp_path: Path) -> None:
    for name in ("../etc/passwd", "/etc/passwd"):
        with pytest.raises(ModelLoadError, match="not a file of the model"):
            artifacts.verify_files(tmp_path, {"files": {name: {"bytes": 1, "sha256": "0" * 64}}})


def test_a_model_without_recorded_hashes_is_not_checked(tmp_path: Path, fitted) -> None:
    joblib.dump(fitted, tmp_path / "model.joblib")
    assert artifacts.verify_files(tmp_path, {}) == []


# -- versions ---------------------------------------------------------------------------------------


def test_version_skew() -> None:
    now = artifacts.library_versions()
    assert artifacts.version_skew({"versions": dict(now)}) == {}
    assert artifacts.version_skew({}) == {}
    old = dict(now, **{"scikit-learn": "0.24.2", "python": "3.8.0"})
    assert artifacts.version_skew({"versions": old}) == {"scikit-learn": ("0.24.2", now["scikit-learn"])}


def _shifted(version: str, part: int) -> str:
    numbers = [int(n) for n in version.split(".")[:3]]
    numbers[part] += 1
    return ".".join(map(str, numbers))


def test_a_minor_version_difference_is_refused_naming_both_versions_and_the_fix() -> None:
    now = artifacts.library_versions()
    trained = _shifted(now["scikit-learn"], 1)
    with pytest.raises(ModelLoadError) as info:
        artifacts.check_versions({"versions": dict(now, **{"scikit-learn": trained})}, {})
    message = str(info.value)
    assert f"scikit-learn {trained} (this image has {now['scikit-learn']})" in message
    assert f"scikit-learn=={trained}" in message and "BYOC_ALLOW_VERSION_SKEW=1" in message
    numpy_major = _shifted(now["numpy"], 0)
    with pytest.raises(ModelLoadError, match=f"numpy {numpy_major}"):
        artifacts.check_versions({"versions": dict(now, numpy=numpy_major)}, {})


def test_patch_differences_and_allowed_skew_are_served() -> None:
    now = artifacts.library_versions()
    artifacts.check_versions({"versions": dict(now, **{"scikit-learn": _shifted(now["scikit-learn"], 2)})}, {})
    skewed = {"versions": dict(now, **{"scikit-learn": "0.24.2", "numpy": "1.19.5"})}
    artifacts.check_versions(skewed, {"BYOC_ALLOW_VERSION_SKEW": "1"})
    artifacts.check_versions({}, {})  # nothing recorded: nothing to compare
    with pytest.raises(ModelLoadError):
        artifacts.check_versions(skewed, {"BYOC_ALLOW_VERSION_SKEW": "yes"})
