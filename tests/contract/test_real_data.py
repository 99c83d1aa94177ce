"""Real data through real `train` and `serve` processes: the two shapes of issue 9.

(a) AWS's scikit_bring_your_own local kit: iris with the class name first, no header, a
    `training` channel, an empty hyperparameters.json, no other config file; its
    payload.csv answered with one class name per line.
(b) A bank-marketing-like table (byoc.sample.write_bank): a header, the label `y` (yes/no)
    last, nine text columns, empty fields, 20,000 training rows; answers in yes/no through
    CSV (with and without the header), JSON rows, JSON objects and JSON Lines.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Iterator

import pandas as pd
import pytest
import requests

from byoc import jobdir, local, sample
from container import artifacts, codecs, metrics
from container.paths import Paths

CSV, JSON, JSONL = codecs.CSV, codecs.JSON, codecs.JSONLINES


def post(server: local.Server, body: bytes, content_type: str, accept: str | None = None,
         attributes: str | None = None) -> requests.Response:
    headers = {"Content-Type": content_type}
    if accept:
        headers["Accept"] = accept
    if attributes:
        headers["X-Amzn-SageMaker-Custom-Attributes"] = attributes
    return requests.post(server.url + "/invocations", data=body, headers=headers, timeout=60)


def serving(model_dir: Path, base: Path) -> local.Server:
    shutil.copytree(model_dir, base / "model")
    server = local.Server(base, env={"MODEL_SERVER_WORKERS": "2"}).start()
    server.wait_ready()
    return server


def metric_lines(log: str) -> dict[str, float]:
    """Lines that are exactly a metric, as MetricDefinitions' regexes see them."""
    found = {}
    for line in log.splitlines():
        for definition in metrics.METRIC_DEFINITIONS:
            match = re.fullmatch(definition["Regex"], line.strip())
            if match:
                found[definition["Name"]] = float(match.group(1))
    return found


# -- (a) the AWS sample's shape ----------------------------------------------------------------


@pytest.fixture(scope="module")
def aws_kit(tmp_path_factory: pytest.TempPathFactory) -> tuple[Paths, local.TrainResult, dict[str, Path]]:
    """test_dir/ as the kit lays it out, trained by `train` as train_local.sh runs it."""
    root = tmp_path_factory.mktemp("aws-kit")
    data = sample.write_iris_names(root / "generated")
    paths = Paths(root / "test_dir")
    paths.config_dir.mkdir(parents=True)
    paths.hyperparameters_file.write_text("")
    shutil.copytree(data["training"], paths.channel_dir("training"))
    for folder in (paths.model_dir, paths.output_dir):
        folder.mkdir(parents=True)
    return paths, local.run_train(paths), data


def test_the_aws_kit_trains_on_class_names(aws_kit) -> None:
    paths, result, _ = aws_kit
    assert result.returncode == 0, result.log
    assert not paths.failure_file.exists()
    metadata = json.loads((paths.model_dir / "metadata.json").read_text())
    assert metadata["classes"] == ["setosa", "versicolor", "virginica"] and metadata["trained_rows"] == 150
    assert metric_lines(result.log)["train:accuracy"] > 0.9


def test_the_aws_kit_payload_is_answered_with_one_class_name_per_line(aws_kit, tmp_path: Path) -> None:
    paths, result, data = aws_kit
    assert result.returncode == 0, result.log
    with local.Server(paths.base, env={"MODEL_SERVER_WORKERS": "1"}) as server:
        # predict.sh: curl --data-binary @payload.csv -H "Content-Type: text/csv" (curl sends Accept: */*)
        response = requests.post(server.url + "/invocations", data=data["payload"].read_bytes(),
                                 headers={"Content-Type": "text/csv", "Accept": "*/*"}, timeout=60)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/csv")
    assert response.text.splitlines() == data["answers"].read_text().splitlines()


# -- (b) the bank table -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return sample.write_bank(tmp_path_factory.mktemp("bank"))


@pytest.fixture(scope="module")
def bank_job(bank, tmp_path_factory: pytest.TempPathFactory) -> tuple[Paths, local.TrainResult]:
    paths = jobdir.create(tmp_path_factory.mktemp("bank-job") / "job", jobdir.JobSpec(
        {name: bank[name] for name in ("train", "validation", "test")},
        {"label_column": "y", "n_estimators": 30, "min_samples_leaf": 3},
        content_type="text/csv;header=present"))
    return paths, local.run_train(paths)


@pytest.fixture(scope="module")
def bank_server(bank_job, tmp_path_factory: pytest.TempPathFactory) -> Iterator[local.Server]:
    paths, result = bank_job
    assert result.returncode == 0, result.log
    server = serving(paths.model_dir, tmp_path_factory.mktemp("bank-endpoint"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def records(bank) -> pd.DataFrame:
    """200 test rows as the raw strings the file holds (the label dropped)."""
    test = next(bank["test"].glob("*.csv"))
    table = pd.read_csv(test, dtype=str, keep_default_na=False).head(200)
    return table.drop(columns=["y"])


def test_bank_training_prints_validation_auc_and_records_what_it_inferred(bank_job) -> None:
    paths, result = bank_job
    assert result.returncode == 0, result.log
    scraped = metric_lines(result.log)
    for channel in ("train", "validation", "test"):
        for name in ("auc", "precision", "recall", "accuracy"):
            assert f"{channel}:{name}" in scraped
    assert re.search(r"^validation:auc=0\.\d+;$", result.log, re.MULTILINE)
    assert scraped["validation:auc"] > 0.85
    metadata = json.loads((paths.model_dir / "metadata.json").read_text())
    assert metadata["classes"] == ["no", "yes"] and metadata["positive_class"] == "yes"
    assert metadata["label_column"] == "y" and metadata["trained_rows"] == 20_000 and metadata["seed"] == 0
    assert metadata["feature_names"] == list(sample.BANK_COLUMNS[:-1])
    categorical = {f["name"]: f for f in metadata["features"] if f["kind"] == "categorical"}
    assert sorted(categorical) == ["contact", "default", "education", "housing", "job", "loan", "marital",
                                   "month", "poutcome"]
    assert categorical["marital"]["categories"] == ["divorced", "married", "single"]
    assert {f["source"] for f in categorical.values()} == {"inferred"}
    assert "9 categorical feature(s) inferred (they hold text): job, marital, education" in result.log
    assert "Categories: job (12), marital (3), education (4)" in result.log
    assert "missing values in job (" in result.log and "balance (" in result.log
    assert "count 'yes' as the positive class" in result.log


def test_bank_answers_yes_or_no_alike_in_every_format(bank_server, bank_job, records) -> None:
    paths, _ = bank_job
    header = ",".join(records.columns)
    lines = [",".join(row) for row in records.to_numpy().tolist()]
    objects = [{k: (float(v) if k in ("age", "balance", "day", "duration", "campaign", "pdays", "previous")
                    else v) for k, v in row.items() if v != ""} for row in records.to_dict("records")]
    lists = [[None if v == "" else v for v in row] for row in records.to_numpy().tolist()]
    bodies = {
        "csv with header": (header + "\n" + "\n".join(lines) + "\n", CSV),
        "csv without header": ("\n".join(lines) + "\n", CSV),
        "json rows": (json.dumps(lists), JSON),
        "json objects": (json.dumps({"instances": objects}), JSON),
        "json lines of objects": ("".join(json.dumps(o) + "\n" for o in objects), JSONL),
    }
    answers = {}
    for name, (body, content_type) in bodies.items():
        response = post(bank_server, body.encode(), content_type, accept=JSON)
        assert response.status_code == 200, (name, response.text)
        answers[name] = response.json()["predictions"]
    first = answers["csv with header"]
    assert len(first) == 200 and set(first) == {"yes", "no"}  # the user's own labels, both of them
    for name, predicted in answers.items():
        assert predicted == first, name
    model = artifacts.load_estimator(paths.model_dir)  # what the model itself says, in process
    frame = pd.read_csv(next(Path(paths.channel_dir("test")).glob("*.csv")), keep_default_na=False,
                        na_values=[""]).head(200).drop(columns=["y"])
    frame.columns = range(frame.shape[1])  # the model takes columns by position
    assert model.predict(frame).tolist() == first
    csv_answer = post(bank_server, (header + "\n" + "\n".join(lines[:5]) + "\n").encode(), CSV, accept=CSV)
    assert csv_answer.text.splitlines() == ["y", *first[:5]]  # a header in, a header out: a line per line
    csv_answer = post(bank_server, ("\n".join(lines[:5]) + "\n").encode(), CSV, accept=CSV)
    assert csv_answer.text.splitlines() == first[:5]
    jsonl_answer = post(bank_server, (header + "\n" + lines[0] + "\n").encode(), CSV, accept=JSONL)
    assert jsonl_answer.text == json.dumps(first[0]) + "\n"


def test_bank_probabilities_are_named_by_the_classes(bank_server, records) -> None:
    body = (",".join(records.columns) + "\n" + ",".join(records.iloc[0]) + "\n").encode()
    response = post(bank_server, body, CSV, accept=JSON, attributes="output=probabilities")
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["classes"] == ["no", "yes"]
    assert len(document["predictions"]) == 1 and sum(document["predictions"][0]) == pytest.approx(1)
    as_csv = post(bank_server, body, CSV, accept=CSV, attributes="output=probabilities").text.splitlines()
    assert as_csv[0] == "no,yes" and [float(v) for v in as_csv[1].split(",")] == document["predictions"][0]


def test_bank_unseen_categories_and_empty_fields_are_answered(bank_server) -> None:
    unseen = b'{"age": 41, "job": "astronaut", "marital": "married", "month": "smarch", "duration": 300}'
    response = post(bank_server, unseen, JSON)
    assert response.status_code == 200, response.text
    assert response.json()["predictions"][0] in ("yes", "no")
    empty = b"age,job,duration\n,,\n41,,\n"
    response = post(bank_server, empty, CSV)
    assert response.status_code == 200, response.text
    header, *answers = response.text.split()
    assert header == "y" and set(answers) <= {"yes", "no"} and len(answers) == 2


@pytest.mark.parametrize(("body", "content_type", "message"), [
    (b"age,job,balance\n41,admin.,1000\nold,admin.,5\n", CSV, "row 3, column 1 ('age'): 'old' is not a number"),
    (b'{"instances": [{"age": 41}, {"age": "old"}]}', JSON, "Row 2, feature 'age': 'old' is not a number"),
    (b'{"age": 41, "salary": 3}', JSON, "'salary', which is not a feature of this model"),
    (b"41,admin.,married\n", CSV, "Each record has 3 values, but the model takes 16 features"),
])
def test_bank_bad_records_are_400s_naming_row_and_column(bank_server, body, content_type, message) -> None:
    response = post(bank_server, body, content_type)
    assert response.status_code == 400, response.text
    assert message in response.json()["message"]
    assert "Traceback" not in bank_server.log
