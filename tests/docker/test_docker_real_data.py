"""Real data through the image on a real Docker engine: the two shapes of issue 9.

(a) AWS's scikit_bring_your_own local kit, step for step: its train_local.sh empties
    test_dir/model and test_dir/output and runs `docker run -v $(pwd)/test_dir:/opt/ml --rm
    IMAGE train`; serve_local.sh runs `docker run -v $(pwd)/test_dir:/opt/ml -p 8080:8080
    --rm IMAGE serve`; predict.sh posts payload.csv with `curl --data-binary @payload.csv -H
    "Content-Type: text/csv"`. test_dir holds an empty hyperparameters.json and
    input/data/training/iris.csv with the class name first, no header. Here the server
    listens on a free port of 127.0.0.1 with --network host instead of -p 8080:8080 (tests
    keep to loopback); the rest is the kit's.
(b) The bank table (byoc.sample.write_bank): header, yes/no label last, text columns,
    empty fields, 20,000 training rows; answers in yes/no through CSV, JSON and JSON Lines.
"""

from __future__ import annotations

import json
import re
import shutil
import urllib.request
from pathlib import Path
from typing import Any, Callable

import pytest

from byoc import jobdir, sample
from container.paths import Paths

pytestmark = pytest.mark.docker


def opt_ml(base: Path) -> dict[str, dict[str, str]]:
    """-v BASE:/opt/ml"""
    return {str(base.resolve()): {"bind": "/opt/ml", "mode": "rw"}}


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str, bytes]:
    request = urllib.request.Request(url + "/invocations", data=body, method="POST", headers=headers)
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, response.headers["Content-Type"], response.read()


def test_the_aws_kit_trains_and_answers_class_names(run: Callable[..., Any], serve: Callable[..., Any],
                                                    tmp_path: Path) -> None:
    generated = sample.write_iris_names(tmp_path / "generated")
    test_dir = Paths(tmp_path / "local_test" / "test_dir")
    test_dir.config_dir.mkdir(parents=True)
    test_dir.hyperparameters_file.write_text("")
    shutil.copytree(generated["training"], test_dir.channel_dir("training"))
    for folder in (test_dir.model_dir, test_dir.output_dir):  # train_local.sh: mkdir -p, rm */*
        folder.mkdir(parents=True)

    trained = run(["train"], volumes=opt_ml(test_dir.base))
    assert trained.code == 0, trained.log
    assert (test_dir.model_dir / "model.skops").is_file() and not test_dir.failure_file.exists()
    assert "train:accuracy=" in trained.log

    served = serve(test_dir.model_dir, volumes=opt_ml(test_dir.base))  # all of test_dir at /opt/ml
    status, content_type, body = post(served.url, generated["payload"].read_bytes(),
                                      {"Content-Type": "text/csv", "Accept": "*/*"})  # curl's Accept
    assert status == 200 and content_type.startswith("text/csv")
    assert body.decode().splitlines() == generated["answers"].read_text().splitlines()


@pytest.fixture(scope="module")
def bank_model(run: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path], str]:
    root = tmp_path_factory.mktemp("docker-bank")
    data = sample.write_bank(root / "data")
    paths = jobdir.create(root / "job", jobdir.JobSpec(
        {name: data[name] for name in ("train", "validation", "test")},
        {"label_column": "y", "n_estimators": 20}, content_type="text/csv;header=present"))
    trained = run(["train"], env={"TRAINING_JOB_NAME": "docker-bank"}, volumes=opt_ml(paths.base))
    assert trained.code == 0, trained.log
    return paths.model_dir, data, trained.log


def test_the_bank_table_trains_in_the_image_with_validation_auc(bank_model) -> None:
    model_dir, _, log = bank_model
    match = re.search(r"^validation:auc=(0\.\d+);$", log, re.MULTILINE)
    assert match and float(match.group(1)) > 0.85, log
    metadata = json.loads((model_dir / "metadata.json").read_text())
    assert metadata["classes"] == ["no", "yes"] and metadata["model_input"] == "objects"


def test_the_bank_table_is_answered_in_yes_and_no(bank_model, serve: Callable[..., Any]) -> None:
    model_dir, data, _ = bank_model
    served = serve(model_dir)
    payload = data["payload"].read_bytes()  # ten test rows' features, with the header
    header, *lines = payload.decode().splitlines()
    objects = [json.loads(line) for line in data["payload_jsonl"].read_text().splitlines()]
    answers = {}
    for name, body, content_type in [
        ("csv with header", payload, "text/csv"),
        ("csv without header", ("\n".join(lines) + "\n").encode(), "text/csv"),
        ("json objects", json.dumps({"instances": objects}).encode(), "application/json"),
        ("json lines", data["payload_jsonl"].read_bytes(), "application/jsonlines"),
    ]:
        status, _, body = post(served.url, body, {"Content-Type": content_type, "Accept": "application/json"})
        assert status == 200
        answers[name] = json.loads(body)["predictions"]
    first = answers["csv with header"]
    assert len(first) == 10 and set(first) <= {"yes", "no"}
    assert all(predicted == first for predicted in answers.values()), answers
    status, _, body = post(served.url, payload, {"Content-Type": "text/csv", "Accept": "text/csv"})
    assert body.decode().splitlines() == ["y", *first]  # the header answered by the label's name
