"""byoc.jobdir: a job folder laid out as /opt/ml, checked before it is written, never mixed with another run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from byoc import jobdir
from byoc.errors import UsageError


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "train.csv").write_text("1,2,3\n0,4,5\n")
    return folder


def test_a_new_folder_gets_the_layout_sagemaker_writes(tmp_path: Path, data: Path) -> None:
    paths = jobdir.create(tmp_path / "job", jobdir.JobSpec({"train": data / "train.csv"}, {"n": 5}))
    assert json.loads(paths.hyperparameters_file.read_text()) == {"n": "5"}
    assert json.loads(paths.inputdataconfig_file.read_text())["train"]["TrainingInputMode"] == "File"
    assert (paths.channel_dir("train") / "train.csv").read_text() == "1,2,3\n0,4,5\n"
    assert all(p.is_dir() for p in (paths.model_dir, paths.output_data_dir, paths.checkpoints_dir))
    assert jobdir.is_job_folder(paths.base)


def test_a_previous_job_folder_is_replaced_but_its_checkpoints_kept(tmp_path: Path, data: Path) -> None:
    root = tmp_path / "job"
    first = jobdir.create(root, jobdir.JobSpec({"train": data, "validation": data}, {"n": 5}))
    (first.model_dir / "model.joblib").write_text("old model")
    first.failure_file.write_text("old failure")
    (root / "model.tar.gz").write_text("old archive")
    (first.checkpoints_dir / "epoch-3").write_text("resume from here")
    second = jobdir.create(root, jobdir.JobSpec({"train": data}, {}))
    assert not (second.model_dir / "model.joblib").exists()
    assert not second.failure_file.exists()
    assert not (root / "model.tar.gz").exists()
    assert not second.channel_dir("validation").exists()
    assert json.loads(second.inputdataconfig_file.read_text()).keys() == {"train"}
    assert (second.checkpoints_dir / "epoch-3").read_text() == "resume from here"


def test_a_folder_of_other_things_is_refused_untouched(tmp_path: Path, data: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="is not empty and not a job folder"):
        jobdir.create(tmp_path, jobdir.JobSpec({"train": data}, {}))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "notes.txt"]


def test_every_channel_is_checked_before_anything_is_written(tmp_path: Path, data: Path) -> None:
    with pytest.raises(UsageError, match="channel validation: .* does not exist"):
        jobdir.create(tmp_path / "job", jobdir.JobSpec({"train": data, "validation": tmp_path / "nope"}, {}))
    assert not (tmp_path / "job").exists()


def test_a_channel_inside_the_job_folder_is_refused(tmp_path: Path, data: Path) -> None:
    paths = jobdir.create(tmp_path / "job", jobdir.JobSpec({"train": data}, {}))
    with pytest.raises(UsageError, match="inside the job folder"):
        jobdir.create(paths.base, jobdir.JobSpec({"train": paths.channel_dir("train")}, {}))
    assert (paths.channel_dir("train") / "train.csv").is_file()


# -- the Python floor: tar extraction with filter="data" ----------------------------------------------


def test_a_python_without_tar_filters_is_told_what_it_needs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            data: Path) -> None:
    """Python before 3.11.4 has no tarfile.data_filter (and extractall takes no filter): say so,
    rather than fail with a TypeError or extract without the filter."""
    import tarfile

    from byoc.errors import SetupError

    archive = jobdir.pack(data, tmp_path / "model.tar.gz")
    monkeypatch.delattr(tarfile, "data_filter")
    with pytest.raises(SetupError, match=r"cannot extract model\.tar\.gz safely: .*needs Python 3\.11\.4 or newer"):
        jobdir.unpack(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_laptop_install_requires_the_python_its_tar_extraction_needs() -> None:
    """setup.py sets requires-python per room: where byoc/ is, the floor of its tar extraction;
    the image (container/ and model/ only) keeps any 3.11, which tests/docker proves by building
    it on BYOC_BASE_IMAGE (Debian 12's Python 3.11.2 here)."""
    import importlib.metadata

    floor = ">=" + ".".join(map(str, jobdir.SAFE_EXTRACT_PYTHON))
    assert importlib.metadata.metadata("sagemaker-byoc")["Requires-Python"] == floor
