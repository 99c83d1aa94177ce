"""The results of a tuning job as SDK users get them from `tuner.analytics().dataframe()`.

One row per training job: its tuned hyperparameters, status, final objective value, start, end
and duration (contract doc, 2.6), plus the failure reason. The rows come from
ListTrainingJobsForHyperParameterTuningJob summaries (byoc tune results) or from the trials run
here (byoc local tune); from either they become the same table, CSV file and PNG chart of the
objective over time, like the console's. Pure: data in, text and files out.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .tuning import Objective

#: The SDK dataframe's column names, after the tuned hyperparameters' (plus FailureReason).
COLUMNS = ("TrainingJobName", "TrainingJobStatus", "FinalObjectiveValue", "TrainingStartTime",
           "TrainingEndTime", "TrainingElapsedTimeSeconds", "FailureReason")


@dataclass
class Row:
    name: str
    status: str
    objective: float | None = None
    hyperparameters: dict[str, str] = field(default_factory=dict)
    start: datetime | None = None
    end: datetime | None = None
    failure: str | None = None

    @property
    def duration(self) -> float | None:
        """Seconds from start to end, only when both are known (as the SDK's column)."""
        if self.start is None or self.end is None:
            return None
        return (self.end - self.start).total_seconds()


def from_summary(summary: Mapping[str, Any]) -> Row:
    """A HyperParameterTrainingJobSummary (a list entry, or a describe's BestTrainingJob) as a row."""
    final = summary.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
    value = final.get("Value")
    return Row(
        name=str(summary.get("TrainingJobName", "")),
        status=str(summary.get("TrainingJobStatus", "")),
        objective=float(value) if value is not None else None,
        hyperparameters={str(k): str(v) for k, v in (summary.get("TunedHyperParameters") or {}).items()},
        start=summary.get("TrainingStartTime"),
        end=summary.get("TrainingEndTime"),
        failure=summary.get("FailureReason"),
    )


def ranked(rows: Iterable[Row], objective: Objective) -> list[Row]:
    """Best objective first; jobs without an objective value last, in their given order."""
    rows = list(rows)
    scored = [r for r in rows if r.objective is not None and math.isfinite(r.objective)]
    scored.sort(key=lambda r: r.objective, reverse=objective.maximize)  # type: ignore[arg-type, return-value]
    return scored + [r for r in rows if r not in scored]


def best(rows: Iterable[Row], objective: Objective) -> Row | None:
    """The row SageMaker would call best: a Completed job with the best objective value."""
    completed = [r for r in rows if r.status == "Completed" and r.objective is not None and math.isfinite(r.objective)]
    return ranked(completed, objective)[0] if completed else None


def hyperparameter_names(rows: Sequence[Row]) -> list[str]:
    names: list[str] = []
    for row in rows:
        names += [k for k in row.hyperparameters if k not in names]
    return names


def _time(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def csv_text(rows: Sequence[Row]) -> str:
    """The table as CSV: the tuned hyperparameters' columns, then COLUMNS."""
    names = hyperparameter_names(rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*names, *COLUMNS])
    for row in rows:
        writer.writerow([*(row.hyperparameters.get(n, "") for n in names), row.name, row.status,
                         "" if row.objective is None else repr(row.objective), _time(row.start), _time(row.end),
                         "" if row.duration is None else f"{row.duration:g}", row.failure or ""])
    return out.getvalue()


def write_csv(rows: Sequence[Row], path: Path) -> Path:
    return _write(path, csv_text(rows).encode())


def table(rows: Sequence[Row], objective: Objective, *, width: int = 40) -> str:
    """A fixed-width table for the terminal, best first; long failure reasons are cut to width."""
    names = hyperparameter_names(rows)
    header = ["#", "training job", "status", objective.metric, *names, "start (UTC)", "seconds", "failure"]
    body = []
    for i, row in enumerate(ranked(rows, objective), 1):
        failure = " ".join((row.failure or "").split())
        body.append([str(i), row.name, row.status, _number(row.objective),
                     *(row.hyperparameters.get(n, "") for n in names),
                     row.start.strftime("%Y-%m-%d %H:%M:%S") if row.start else "",
                     "" if row.duration is None else f"{row.duration:.1f}",
                     failure if len(failure) <= width else failure[: width - 3] + "..."])
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in [header, *body]]
    return "\n".join(lines) + "\n"


def plot(rows: Sequence[Row], objective: Objective, path: Path, *, title: str = "") -> Path:
    """The objective over time, like the console's chart: each job's final value at its end time,
    and the best value so far as a step line. Failed jobs and jobs with no value are counted in
    the legend, not drawn (they have no value to place)."""
    from matplotlib.figure import Figure  # not pyplot: no backend, no window, no global state

    points = sorted(((r.end or r.start, r.objective) for r in rows
                     if r.objective is not None and math.isfinite(r.objective) and (r.end or r.start)),
                    key=lambda p: p[0])
    figure = Figure(figsize=(8, 4.5), dpi=100)
    axes = figure.subplots()
    if points:
        times = [t for t, _ in points]
        values = [v for _, v in points]
        axes.scatter(times, values, s=24, color="tab:blue", label="training job (final value)", zorder=3)
        so_far, running = [], values[0]
        for v in values:
            running = v if objective.better(v, running) else running
            so_far.append(running)
        axes.step(times, so_far, where="post", color="tab:orange", label="best so far")
    else:
        axes.text(0.5, 0.5, "no objective values yet", ha="center", va="center", transform=axes.transAxes)
    missing = sum(1 for r in rows if r.objective is None)
    if missing:
        axes.plot([], [], " ", label=f"{missing} job(s) without a value (failed or no metric line)")
    axes.set_xlabel("training job end time (UTC)")
    axes.set_ylabel(f"{objective.metric} ({objective.type.lower()})")
    axes.set_title(title or f"{objective.metric} over time")
    axes.grid(True, alpha=0.3)
    axes.legend(loc="best", fontsize="small")
    figure.autofmt_xdate()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return _write(path, buffer.getvalue())


def _write(path: Path, data: bytes) -> Path:
    """Write whole or not at all: a temporary file beside the target, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path
