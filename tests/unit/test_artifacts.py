"""The model artifact: written atomically, found with a useful hint, version skew reported."""

from __future__ import annotations

import json
import stat
import threading
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from container import artifacts
from container.errors import ModelLoadError


@pytest.fixture
def fitted() -> LogisticRegression:
    X = np.array([[0.0, 1.0], [1.0, 0.0], [0.1, 0.9], [0.9, 0.2]])
    return LogisticRegression().fit(X, [0, 1, 0, 1])


def test_save_writes_model_and_metadata_with_versions(tmp_path: Path, fitted: LogisticRegression) -> None:
    model_dir = tmp_path / "model"  # created by save
    written = artifacts.save(model_dir, fitted, {"n_features": 2, "classes": [0, 1]})
    assert written == [model_dir / "model.joblib", model_dir / "metadata.json"]
    assert sorted(p.name for p in model_dir.iterdir()) == ["metadata.json", "model.joblib"]
    metadata = json.loads((model_dir / "metadata.json").read_text())
    assert metadata["n_features"] == 2 and metadata["classes"] == [0, 1]
    assert metadata["format_version"] == artifacts.FORMAT_VERSION
    assert set(metadata["versions"]) >= {"python", "scikit-learn", "numpy", "joblib"}
    loaded = artifacts.load_estimator(model_dir)
    np.testing.assert_array_equal(loaded.predict([[0.0, 1.0]]), fitted.predict([[0.0, 1.0]]))
    assert artifacts.load_metadata(model_dir) == metadata


def test_saved_files_are_readable_by_another_user(tmp_path: Path, fitted: LogisticRegression) -> None:
    for path in artifacts.save(tmp_path, fitted, {}):
        assert stat.S_IMODE(path.stat().st_mode) & 0o044 == 0o044


def test_failed_save_leaves_no_temporaries_and_keeps_the_previous_model(tmp_path: Path, fitted) -> None:
    artifacts.save(tmp_path, fitted, {"generation": 1})
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    unpicklable = threading.Lock()
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
    (tmp_path / "model.joblib").write_text("whole")
    artifacts.remove_temporaries(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["model.joblib"]
    artifacts.remove_temporaries(tmp_path / "missing")  # no error


@pytest.mark.parametrize("name", artifacts.MODEL_NAMES)
def test_find_model_file_knows_other_tools_names(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"x")
    assert artifacts.find_model_file(tmp_path) == tmp_path / name


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


def test_corrupt_model_file(tmp_path: Path) -> None:
    (tmp_path / "model.joblib").write_bytes(b"not a pickle at all")
    with pytest.raises(ModelLoadError) as info:
        artifacts.load_estimator(tmp_path)
    assert "model.joblib" in str(info.value) and "metadata.json" in str(info.value)


def test_load_estimator_reads_compressed_files_too(tmp_path: Path, fitted) -> None:
    joblib.dump(fitted, tmp_path / "model.joblib", compress=3)
    assert artifacts.load_estimator(tmp_path).predict([[1.0, 0.0]]).tolist() == [1]


def test_load_metadata(tmp_path: Path) -> None:
    assert artifacts.load_metadata(tmp_path) == {}
    (tmp_path / "metadata.json").write_text("{broken")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        artifacts.load_metadata(tmp_path)


def test_version_skew() -> None:
    now = artifacts.library_versions()
    assert artifacts.version_skew({"versions": dict(now)}) == {}
    assert artifacts.version_skew({}) == {}
    old = dict(now, **{"scikit-learn": "0.24.2", "python": "3.8.0"})
    assert artifacts.version_skew({"versions": old}) == {"scikit-learn": ("0.24.2", now["scikit-learn"])}
