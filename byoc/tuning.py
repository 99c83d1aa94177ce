"""A hyperparameter search as SageMaker's automatic model tuning defines it, for AWS and for here.

One vocabulary for `byoc tune` (CreateHyperParameterTuningJob) and `byoc local tune` (trials
run on this machine): the ranges (`NAME=int:LOW:HIGH[:log]`, `float:LOW:HIGH[:log]`,
`choice:A,B,C`), the objective (a metric the runtime prints, whose direction follows from its
name), the strategy names, and the limits the service enforces (contract doc, section 2 and
the tuning checklist of section 4). Everything here is pure: no AWS, no processes.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

#: --strategy -> HyperParameterTuningJobConfig.Strategy
STRATEGIES = {"bayesian": "Bayesian", "random": "Random", "hyperband": "Hyperband", "grid": "Grid"}
#: the :SCALE suffix of a range -> ScalingType (no suffix: Auto, as the SDK sends)
SCALES = {"auto": "Auto", "linear": "Linear", "log": "Logarithmic", "reverse-log": "ReverseLogarithmic"}
KINDS = ("int", "float", "choice")

MAX_RANGES = 30  # across the three kinds [API ParameterRanges]
MAX_CHOICES = 30  # values of one categorical range
MAX_HYPERPARAMETERS = 100  # static + tuned + _tuning_objective_metric
MAX_JOBS_LIMIT = 10000  # Random's raised quota; the default quota is 750
MAX_JOBS_QUOTA = 750
MAX_PARALLEL_LIMIT = 100  # the raised quota; the default is 10
MAX_PARALLEL_QUOTA = 10
OBJECTIVE_KEY = "_tuning_objective_metric"
#: static hyperparameters from which SageMaker infers Hyperband's MaxResource
EPOCH_NAMES = ("epochs", "numepochs", "n-epochs", "n_epochs", "num_epochs")

#: metric base names (after "channel:") whose larger values are better, and smaller
MAXIMIZE = ("accuracy", "auc", "roc_auc", "f1", "precision", "recall", "r2")
MINIMIZE = ("log_loss", "rmse", "mae", "mse", "loss", "error")

_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,256}")


@dataclass(frozen=True)
class Range:
    """One tuned hyperparameter: an int or float interval, or a list of choices (as strings,
    as the API carries them; the container parses each value back, "10" to 10, "null" to None)."""

    name: str
    kind: str  # int | float | choice
    low: float | None = None
    high: float | None = None
    scale: str = "Auto"
    choices: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.kind == "choice":
            return f"{self.name}=choice:{','.join(self.choices)}"
        scale = {v: k for k, v in SCALES.items()}[self.scale]
        return f"{self.name}={self.kind}:{_num(self.low)}:{_num(self.high)}" + ("" if scale == "auto" else f":{scale}")


def _num(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))


def parse_range(text: str) -> Range:
    """`NAME=int:LOW:HIGH[:SCALE]`, `NAME=float:LOW:HIGH[:SCALE]` or `NAME=choice:A,B,C`; ValueError says why not."""
    name, sep, spec = text.partition("=")
    if not sep or not name:
        raise ValueError(f"--range {text!r} is not NAME=int:LOW:HIGH, NAME=float:LOW:HIGH or NAME=choice:A,B,C")
    kind, _, rest = spec.partition(":")
    if kind == "choice":
        choices = tuple(rest.split(","))
        if not rest or any(c == "" for c in choices):
            raise ValueError(f"--range {text!r}: give the choices as choice:A,B,C (none empty)")
        return Range(name, "choice", choices=choices)
    if kind not in ("int", "float"):
        raise ValueError(f"--range {text!r}: the kind {kind!r} is not int, float or choice")
    parts = rest.split(":")
    if len(parts) not in (2, 3):
        raise ValueError(f"--range {text!r}: write {name}={kind}:LOW:HIGH, optionally :log, :linear or :reverse-log")
    scale = SCALES.get(parts[2]) if len(parts) == 3 else "Auto"
    if scale is None:
        raise ValueError(f"--range {text!r}: the scale {parts[2]!r} is not one of {', '.join(SCALES)}")
    try:
        low, high = (int(p) if kind == "int" else float(p) for p in parts[:2])
    except ValueError:
        raise ValueError(f"--range {text!r}: LOW and HIGH must be {'integers' if kind == 'int' else 'numbers'}") from None
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"--range {text!r}: LOW and HIGH must be finite")
    return Range(name, kind, float(low), float(high), scale)


def parse_ranges(items: Iterable[str]) -> list[Range]:
    return [parse_range(item) for item in items]


# -- the objective ----------------------------------------------------------------------------------


def direction(metric: str) -> str | None:
    """Maximize or Minimize, inferred from the metric's name ('validation:auc' -> Maximize); None if unknown."""
    base = metric.rsplit(":", 1)[-1].lower()
    head = base.split("_")[0]
    if base in MAXIMIZE or head in MAXIMIZE:
        return "Maximize"
    if base in MINIMIZE:
        return "Minimize"
    return None


@dataclass(frozen=True)
class Objective:
    metric: str
    type: str  # Maximize | Minimize

    @property
    def maximize(self) -> bool:
        return self.type == "Maximize"

    def better(self, a: float, b: float) -> bool:
        """Whether objective value a beats b."""
        return a > b if self.maximize else a < b


def objective(metric: str, definitions: Sequence[Mapping[str, str]], *, maximize: bool = False,
              minimize: bool = False) -> tuple[Objective | None, list[str]]:
    """The objective and the problems with it: it must be a defined metric (the service refuses a
    tuning job whose objective no MetricDefinitions entry names) with a known or given direction."""
    problems = []
    names = [d["Name"] for d in definitions]
    if metric not in names:
        channels = sorted({n.split(":", 1)[0] for n in names if ":" in n})
        bases = sorted({n.split(":", 1)[1] for n in names if ":" in n})
        problems.append(f"--objective {metric!r} is not a metric the runtime prints (its metric definitions name "
                        f"CHANNEL:METRIC with CHANNEL in {', '.join(channels)} and METRIC in {', '.join(bases)})")
    if maximize and minimize:
        problems.append("give --maximize or --minimize, not both")
        return None, problems
    inferred = "Maximize" if maximize else "Minimize" if minimize else direction(metric)
    if inferred is None:
        problems.append(f"cannot tell whether {metric} should go up or down: add --maximize or --minimize")
        return None, problems
    return Objective(metric, inferred), problems


# -- the search's limits -------------------------------------------------------------------------------


def grid_size(ranges: Sequence[Range]) -> int:
    return math.prod(len(r.choices) for r in ranges) if ranges else 0


def grid(ranges: Sequence[Range]) -> list[dict[str, str]]:
    """Every combination of categorical ranges, in a fixed order (the first range varies slowest)."""
    return [dict(zip([r.name for r in ranges], values)) for values in itertools.product(*(r.choices for r in ranges))]


def range_problems(ranges: Sequence[Range]) -> list[str]:
    problems = []
    if not ranges:
        problems.append("give at least one --range NAME=int:LOW:HIGH, NAME=float:LOW:HIGH or NAME=choice:A,B")
    if len(ranges) > MAX_RANGES:
        problems.append(f"{len(ranges)} ranges; SageMaker tunes at most {MAX_RANGES} hyperparameters")
    seen: set[str] = set()
    for r in ranges:
        if r.name in seen:
            problems.append(f"--range {r.name} is given twice")
        seen.add(r.name)
        if not _NAME.fullmatch(r.name):
            problems.append(f"--range name {r.name!r} must be 1-256 letters, digits, '_', '.' or '-'")
        if r.name.startswith("_") or r.name.startswith("sagemaker_"):
            problems.append(f"--range {r.name}: names starting with _ or sagemaker_ are the platform's own")
        if r.kind == "choice":
            if len(r.choices) > MAX_CHOICES:
                problems.append(f"--range {r.name} has {len(r.choices)} choices; the limit is {MAX_CHOICES}")
            if len(set(r.choices)) != len(r.choices):
                problems.append(f"--range {r.name} lists a choice twice")
            if any(len(c) > 256 for c in r.choices):
                problems.append(f"--range {r.name}: a choice is over 256 characters")
            continue
        assert r.low is not None and r.high is not None
        if r.low > r.high:
            problems.append(f"--range {r.describe()}: LOW is above HIGH")
        if r.scale == "Logarithmic" and r.low <= 0:
            problems.append(f"--range {r.describe()}: a log scale needs LOW > 0")
        if r.scale == "ReverseLogarithmic":
            if r.kind != "float":
                problems.append(f"--range {r.describe()}: reverse-log is for float ranges only")
            elif not (0 <= r.low and r.high < 1):
                problems.append(f"--range {r.describe()}: reverse-log needs 0 <= LOW and HIGH < 1")
    return problems


def search_problems(*, strategy: str, ranges: Sequence[Range], static: Mapping[str, Any],
                    max_jobs: int | None, max_parallel: int, early_stopping: bool = False,
                    max_resource: int | None = None) -> list[str]:
    """What the service would refuse about the search (and what it cannot run), all at once."""
    problems = range_problems(ranges)
    if strategy not in STRATEGIES:
        problems.append(f"--strategy {strategy} is not one of {', '.join(STRATEGIES)}")
    tuned = {r.name for r in ranges}
    for name in sorted(tuned & set(static)):
        problems.append(f"{name} is both tuned (--range) and static (-H); drop one")
    if OBJECTIVE_KEY in static:
        problems.append(f"-H {OBJECTIVE_KEY} is set by the tuner itself")
    total = len(static) + len(tuned) + 1
    if total > MAX_HYPERPARAMETERS:
        problems.append(f"{len(static)} static + {len(tuned)} tuned hyperparameters + {OBJECTIVE_KEY} make {total}; "
                        f"SageMaker takes at most {MAX_HYPERPARAMETERS}")
    if max_parallel < 1:
        problems.append(f"--max-parallel is {max_parallel}; it must be at least 1")
    elif max_parallel > MAX_PARALLEL_LIMIT:
        problems.append(f"--max-parallel {max_parallel} is over {MAX_PARALLEL_LIMIT}, the highest quota SageMaker grants")
    if max_jobs is not None:
        if max_jobs < 1:
            problems.append(f"--max-jobs is {max_jobs}; it must be at least 1")
        elif max_jobs > MAX_JOBS_LIMIT:
            problems.append(f"--max-jobs {max_jobs} is over {MAX_JOBS_LIMIT}, the highest quota SageMaker grants")
    if strategy == "grid":
        numeric = [r.name for r in ranges if r.kind != "choice"]
        if numeric:
            problems.append(f"the grid strategy takes choice ranges only ({', '.join(numeric)} are int/float): "
                            "list their values as NAME=choice:A,B,C")
        elif max_jobs is not None and ranges and max_jobs != grid_size(ranges):
            problems.append(f"--max-jobs {max_jobs}: a grid search runs every combination, {grid_size(ranges)} here "
                            "(leave --max-jobs out)")
    if strategy == "hyperband":
        if early_stopping:
            problems.append("hyperband stops jobs early itself: drop --early-stopping")
        if max_resource is None and not any(name in static for name in EPOCH_NAMES):
            problems.append("hyperband needs the most epochs a job may run: --max-resource N, or a static "
                            f"-H epochs=N ({', '.join(EPOCH_NAMES)} are read); the job must print the objective "
                            "every epoch")
    elif max_resource is not None:
        problems.append("--max-resource applies to the hyperband strategy only")
    return problems


def search_warnings(*, strategy: str, max_jobs: int | None, max_parallel: int) -> list[str]:
    found = []
    if max_jobs is not None and max_jobs > MAX_JOBS_QUOTA:
        found.append(f"--max-jobs {max_jobs} is over the default quota of {MAX_JOBS_QUOTA} training jobs per tuning "
                     "job (Random can be raised to 10000)")
    if max_parallel > MAX_PARALLEL_QUOTA:
        found.append(f"--max-parallel {max_parallel} is over the default quota of {MAX_PARALLEL_QUOTA}")
    if max_jobs is not None and max_parallel > max_jobs:
        found.append(f"--max-parallel {max_parallel} is more than --max-jobs {max_jobs}; at most {max_jobs} run")
    if strategy == "bayesian" and max_jobs and max_parallel >= max_jobs > 2:
        found.append("Bayesian search learns from finished jobs: with every job running at once it has none "
                     "to learn from (lower --max-parallel, or use --strategy random)")
    return found


def default_max_jobs(strategy: str, ranges: Sequence[Range], given: int | None) -> int | None:
    """--max-jobs, or for a grid the number of combinations (SageMaker may be sent none then)."""
    if given is not None:
        return given
    if strategy == "grid" and ranges and all(r.kind == "choice" for r in ranges):
        return grid_size(ranges)
    return None


# -- the API's shapes ------------------------------------------------------------------------------------


def parameter_ranges(ranges: Sequence[Range]) -> dict[str, list[dict[str, Any]]]:
    """HyperParameterTuningJobConfig.ParameterRanges (bounds and values are strings in the API)."""
    shapes: dict[str, list[dict[str, Any]]] = {
        "IntegerParameterRanges": [], "ContinuousParameterRanges": [], "CategoricalParameterRanges": []}
    for r in ranges:
        if r.kind == "choice":
            shapes["CategoricalParameterRanges"].append({"Name": r.name, "Values": list(r.choices)})
        else:
            key = "IntegerParameterRanges" if r.kind == "int" else "ContinuousParameterRanges"
            shapes[key].append({"Name": r.name, "MinValue": _num(r.low), "MaxValue": _num(r.high),
                                "ScalingType": r.scale})
    return {key: value for key, value in shapes.items() if value}


def training_hyperparameters(static: Mapping[str, str], tuned: Mapping[str, str], objective_metric: str) -> dict[str, str]:
    """A tuning-launched job's hyperparameters.json: the static values, one value per range, and the
    objective's name under _tuning_objective_metric, all strings (contract doc, 2.3)."""
    return {**static, **tuned, OBJECTIVE_KEY: objective_metric}
