"""`byoc local tune --image`: the trials are training jobs in the image, through byoc's one runner."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from byoc import image as images

pytestmark = pytest.mark.docker


def test_local_tune_in_the_image(image: str, tmp_path: Path, sample_data: dict[str, Path]) -> None:
    root = tmp_path / "tuning"
    done = subprocess.run(
        [sys.executable, "-m", "byoc.cli", "local", "tune", "--image", image, "--job-dir", str(root),
         "--channel", f"train={sample_data['train']}", "--channel", f"validation={sample_data['validation']}",
         "--objective", "validation:accuracy", "--strategy", "random", "--max-jobs", "2", "--max-parallel", "2",
         "--range", "max_depth=int:1:4", "-H", "n_estimators=3"],
        capture_output=True, text=True, timeout=600, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader((root / "results.csv").open()))
    containers = []
    assert [r["TrainingJobStatus"] for r in rows] == ["Completed", "Completed"]
    for row in rows:
        name = row["TrainingJobName"]
        log = (root / "logs" / f"{name}.log").read_text()
        found = re.search(r"byoc: in container (byoc-train-[0-9a-f]{8})", log)
        assert found, log  # it ran in the image
        containers.append(found.group(1))
        assert f"validation:accuracy={float(row['FinalObjectiveValue']):.6g};" in log
        config = json.loads((root / name / "input" / "config" / "hyperparameters.json").read_text())
        assert config == {"n_estimators": "3", "max_depth": row["max_depth"],
                          "_tuning_objective_metric": "validation:accuracy"}
        assert (root / name / "model.tar.gz").stat().st_uid == os.getuid()  # handed back to this user
    model = Path(done.stdout.strip().splitlines()[-1])
    assert model.is_file() and f"--image {image}" in done.stderr
    for name in containers:  # each trial's container is gone
        assert images.docker("container", "inspect", name, check=False).returncode != 0
