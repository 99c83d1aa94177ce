"""The results table of a tuning job, from API-shaped summaries: rows, ranking, CSV, table and chart."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone
from pathlib import Path

from byoc import tuning_results
from byoc.tuning import Objective

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
MAX = Objective("validation:accuracy", "Maximize")
MIN = Objective("validation:log_loss", "Minimize")


def summary(name: str, status: str, value: float | None, minutes: int, **tuned: str) -> dict:
    """A HyperParameterTrainingJobSummary as ListTrainingJobsForHyperParameterTuningJob returns it."""
    item = {
        "TrainingJobName": name, "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}",
        "TuningJobName": "tj", "CreationTime": T0, "TrainingJobStatus": status,
        "TunedHyperParameters": dict(tuned), "ObjectiveStatus": "Succeeded" if value is not None else "Failed",
    }
    if status != "InProgress":
        item["TrainingStartTime"] = T0 + timedelta(minutes=minutes)
        item["TrainingEndTime"] = T0 + timedelta(minutes=minutes, seconds=90)
    else:
        item["TrainingStartTime"] = T0 + timedelta(minutes=minutes)
    if value is not None:
        item["FinalHyperParameterTuningJobObjectiveMetric"] = {"Type": "Maximize", "MetricName": MAX.metric,
                                                                "Value": value}
    if status == "Failed":
        item["FailureReason"] = "AlgorithmError: ValueError: max_depth must be >= 1\n(see the log)"
    return item


SUMMARIES = [
    summary("tj-001-aaaaaaaa", "Completed", 0.9, 0, n_estimators="10", criterion="gini"),
    summary("tj-002-bbbbbbbb", "Failed", None, 1, n_estimators="20", criterion="entropy"),
    summary("tj-003-cccccccc", "Completed", 0.97, 2, n_estimators="5", criterion="gini"),
    summary("tj-004-dddddddd", "InProgress", None, 3, n_estimators="7", criterion="entropy"),
    summary("tj-005-eeeeeeee", "Stopped", 0.99, 4, n_estimators="8", criterion="gini"),
]


def rows() -> list[tuning_results.Row]:
    return [tuning_results.from_summary(s) for s in SUMMARIES]


def test_a_row_per_summary() -> None:
    first, failed, _, running, _ = rows()
    assert first.name == "tj-001-aaaaaaaa" and first.status == "Completed" and first.objective == 0.9
    assert first.hyperparameters == {"n_estimators": "10", "criterion": "gini"}
    assert first.start == T0 and first.duration == 90.0
    assert failed.objective is None and failed.failure.startswith("AlgorithmError")
    assert running.end is None and running.duration is None  # as the SDK: only when both times exist


def test_ranked_best_first_and_best_is_a_completed_job() -> None:
    ranked = [r.name[:6] for r in tuning_results.ranked(rows(), MAX)]
    assert ranked == ["tj-005", "tj-003", "tj-001", "tj-002", "tj-004"]
    assert tuning_results.best(rows(), MAX).name == "tj-003-cccccccc"  # tj-005 was Stopped
    assert [r.name[:6] for r in tuning_results.ranked(rows(), MIN)][:3] == ["tj-001", "tj-003", "tj-005"]
    assert tuning_results.best(rows(), MIN).name == "tj-001-aaaaaaaa"
    assert tuning_results.best([tuning_results.from_summary(SUMMARIES[1])], MAX) is None


def test_csv_has_the_sdk_dataframe_columns() -> None:
    text = tuning_results.csv_text(rows())
    table = list(csv.DictReader(io.StringIO(text)))
    assert list(table[0]) == ["n_estimators", "criterion", "TrainingJobName", "TrainingJobStatus",
                              "FinalObjectiveValue", "TrainingStartTime", "TrainingEndTime",
                              "TrainingElapsedTimeSeconds", "FailureReason"]
    assert len(table) == 5
    assert table[0]["FinalObjectiveValue"] == "0.9" and table[0]["TrainingElapsedTimeSeconds"] == "90"
    assert table[0]["TrainingStartTime"] == "2026-05-01T12:00:00+00:00"
    assert table[1]["FinalObjectiveValue"] == "" and "max_depth must be >= 1" in table[1]["FailureReason"]
    assert table[3]["TrainingEndTime"] == "" and table[3]["TrainingElapsedTimeSeconds"] == ""


def test_write_csv_is_whole(tmp_path: Path) -> None:
    path = tuning_results.write_csv(rows(), tmp_path / "out" / "results.csv")
    assert path.read_text() == tuning_results.csv_text(rows())
    assert sorted(p.name for p in path.parent.iterdir()) == ["results.csv"]  # no temporary left


def test_table_best_first_with_short_failures() -> None:
    text = tuning_results.table(rows(), MAX, width=30)
    lines = text.splitlines()
    assert lines[0].split() == ["#", "training", "job", "status", "validation:accuracy", "n_estimators",
                                "criterion", "start", "(UTC)", "seconds", "failure"]
    assert lines[1].split()[:5] == ["1", "tj-005-eeeeeeee", "Stopped", "0.99", "8"]
    failed = next(line for line in lines if "tj-002" in line)
    assert failed.rstrip().endswith("...") and "\n" not in failed
    assert failed.endswith("AlgorithmError: ValueError:...")  # 30 characters


def test_plot_writes_a_png(tmp_path: Path) -> None:
    path = tuning_results.plot(rows(), MAX, tmp_path / "objective.png", title="tj")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    empty = tuning_results.plot([tuning_results.from_summary(SUMMARIES[1])], MAX, tmp_path / "empty.png")
    assert empty.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.png", "objective.png"]
