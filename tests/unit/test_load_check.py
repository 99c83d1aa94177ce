"""byoc's pre-flight load of a model on this machine: a model.skops is loaded here; a pickle or a
model_fn never is (it goes to the image, or the check is skipped, saying so)."""

from __future__ import annotations

import json
import pickle
import shutil
import uuid
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from sklearn.base import BaseEstimator
from sklearn.ensemble import RandomForestClassifier

from byoc.aws import modeldata
from byoc.errors import PreflightError
from container import artifacts

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


class Payload:
    """A pickle that runs code when it is loaded: it leaves a file behind where it ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"import pathlib; pathlib.Path({str(self.marker)!r}).write_text('ran')",)


class Tripwire(BaseEstimator):
    def __setstate__(self, state):
        Path(state["marker"]).write_text("ran")


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / f"code-ran-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def forest_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4))
    folder = tmp_path_factory.mktemp("forest") / "model"
    artifacts.save(folder, RandomForestClassifier(n_estimators=3).fit(X, X[:, 0] > 0), {"n_features": 4})
    return folder


def copy(folder: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(folder, tmp_path / "model"))


def test_a_skops_model_is_loaded_here(forest_dir: Path) -> None:
    result = modeldata.load_check(forest_dir)
    assert result.problem is None and not result.skipped
    assert result.how.startswith("loaded here (model.skops")


def test_a_skops_file_with_an_untrusted_type_is_refused_without_running_it(tmp_path: Path, marker: Path) -> None:
    tripwire = Tripwire()
    tripwire.marker = str(marker)
    sio.dump(tripwire, tmp_path / "model.skops")
    result = modeldata.load_check(tmp_path)
    assert "types this runtime does not load" in result.problem and "Tripwire" in result.problem
    assert not marker.exists()


def test_a_changed_file_is_refused_here(forest_dir: Path, tmp_path: Path) -> None:
    folder = copy(forest_dir, tmp_path)
    data = bytearray((folder / "model.skops").read_bytes())
    data[100] ^= 1
    (folder / "model.skops").write_bytes(bytes(data))
    with pytest.raises(PreflightError) as info:
        modeldata.check_folder(folder)
    assert "model.skops" in str(info.value) and "SHA-256" in str(info.value)


def test_a_pickle_is_never_loaded_on_this_machine(tmp_path: Path, marker: Path) -> None:
    (tmp_path / "model.joblib").write_bytes(pickle.dumps(Payload(marker)))
    checked = modeldata.check_folder(tmp_path)  # no image: skipped, and the notes say why
    assert not marker.exists()
    assert checked.notes == [checked.how]
    assert "model load check skipped: model.joblib is a pickle: loading it runs code the file names" in checked.how
    assert "no image was given" in checked.how


def test_a_pickle_with_an_image_this_engine_lacks_is_skipped_saying_how_to_check(tmp_path: Path, marker: Path) -> None:
    (tmp_path / "model.joblib").write_bytes(pickle.dumps(Payload(marker)))
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/no-such-image:never-built"
    result = modeldata.load_check(tmp_path, image=image)
    assert not marker.exists()
    assert result.skipped and result.problem is None
    assert f"{image} cannot run here" in result.how and "docker pull" in result.how


def test_a_model_fn_is_not_run_on_this_machine(forest_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(FIXTURES))
    monkeypatch.setenv("BYOC_MODEL_PACKAGE", "byoc_fx_hooks_plain")
    result = modeldata.load_check(forest_dir)
    assert result.skipped and "the model package (byoc_fx_hooks_plain) has its own model_fn" in result.how


def test_another_minor_version_here_checks_the_files_but_does_not_load(forest_dir: Path, tmp_path: Path) -> None:
    folder = copy(forest_dir, tmp_path)
    metadata = json.loads((folder / "metadata.json").read_text())
    metadata["versions"]["scikit-learn"] = "0.24.2"
    (folder / "metadata.json").write_text(json.dumps(metadata))
    checked = modeldata.check_folder(folder)
    assert "files checked against their SHA-256; not loaded here" in checked.how
    assert "scikit-learn 0.24.2 (this machine has" in checked.how and checked.notes == [checked.how]


def test_a_folder_without_a_model_names_what_is_there(tmp_path: Path) -> None:
    (tmp_path / "README.txt").write_text("hello")
    with pytest.raises(PreflightError, match="No model file .* README.txt"):
        modeldata.check_folder(tmp_path)
