"""`docker run -v JOB:/opt/ml IMAGE train`, as a SageMaker training job runs the image."""

from __future__ import annotations

import os
import sys
import tarfile
from pathlib import Path
from typing import Any, Callable

import pytest

from byoc import image as images, jobdir, local
from container import metrics
from container.paths import Paths

pytestmark = pytest.mark.docker


def test_train_writes_a_model_and_prints_metric_lines(trained: tuple[Any, Paths]) -> None:
    result, paths = trained
    assert result.code == 0, result.log
    assert (paths.model_dir / "model.skops").is_file()
    assert not paths.failure_file.exists()
    found = metrics.parse_log(result.log)
    for name in ("train:accuracy", "validation:accuracy", "test:accuracy"):
        assert 0.0 <= found[name] <= 1.0, result.log
    # The exact lines MetricDefinitions' regexes scrape, one per line, unbuffered.
    assert any(line.startswith("validation:accuracy=") and line.endswith(";")
               for line in result.log.splitlines())
    assert "docker-e2e" in result.log  # TRAINING_JOB_NAME reached the container


def test_bad_data_writes_the_failure_file_and_exits_non_zero(run: Callable[..., Any], tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "train.csv").write_text("label,a,b\n1,2,oops\n0,3,4\n")
    paths = jobdir.create(tmp_path / "job", jobdir.JobSpec({"train": bad}, {}))
    result = run(["train"], volumes={str(paths.base): {"bind": "/opt/ml", "mode": "rw"}})
    assert result.code != 0, result.log
    assert paths.failure_file.is_file(), result.log
    reason = paths.failure_file.read_text()
    assert reason.strip() and len(reason) <= 1024
    assert not (paths.model_dir / "model.skops").exists()


def test_the_docker_backend_packs_archives_like_the_local_one(
        engine: Any, image: str, sample_data: dict[str, Path], tmp_path: Path) -> None:
    paths = jobdir.create(tmp_path / "job", jobdir.JobSpec({"train": sample_data["train"]}, {"n_estimators": 5}))
    result = local.run_train(paths, job_name="backend-test", launcher=images.DockerRun(image))
    assert result.ok, result.log
    assert result.metrics["train:accuracy"] > 0.5
    assert result.model_archive == paths.base / "model.tar.gz"
    with tarfile.open(result.model_archive) as tar:
        assert "model.skops" in tar.getnames()  # at the archive root, as SageMaker packs it
    assert result.output_archive is not None and result.output_archive.is_file()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Docker Desktop maps file ownership itself")
def test_files_the_root_container_wrote_are_handed_back_to_the_user(
        engine: Any, image: str, run: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    job = tmp_path / "job"
    job.mkdir()
    written = run(["sh", "-c", "mkdir -p /opt/ml/model && echo x > /opt/ml/model/f && chown 0:0 /opt/ml/model/f"],
                  volumes={str(job): {"bind": "/opt/ml", "mode": "rw"}})
    assert written.code == 0, written.log
    monkeypatch.setattr(os, "getuid", lambda: 4321)  # as a non-root laptop user would be
    monkeypatch.setattr(os, "getgid", lambda: 4322)
    images.give_back(image, job)
    for path in (job / "model", job / "model" / "f"):
        assert (path.stat().st_uid, path.stat().st_gid) == (4321, 4322)
