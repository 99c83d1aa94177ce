"""`byoc local tune`: a hyperparameter tuning job on this machine, with real training jobs.

Each trial is a training job of its own: a job folder laid out as /opt/ml (byoc.jobdir), its
hyperparameters.json written as SageMaker writes a tuning-launched job's (static values, one
string per range, and `_tuning_objective_metric`), run by byoc.local's runner as a process or in
the image. The objective is read from the job's log with the runtime's own metric definitions,
the last value printed counting, as on SageMaker; a job that fails, or prints no objective, is
recorded and the search goes on. Bayesian search is Optuna's TPE sampler, random search Optuna's
random sampler, grid search every combination of choice ranges; hyperband is refused (see
HYPERBAND_REFUSAL). The results are the same table, CSV and chart as `byoc tune results`.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Mapping, Protocol, Sequence

from container.hyperparameters import to_api
from container.paths import Paths

from . import jobdir, local, tuning, tuning_results
from .errors import Failed, UsageError

POLL_SECONDS = 0.1
FAILURE_MAX = 1024  # FailureReason's length in the API
HYPERBAND_REFUSAL = (
    "the hyperband strategy is not run here: it needs training jobs that print the objective every epoch "
    "and can be cut short and resumed at a larger budget, and this runtime fits once and prints its metrics "
    "at the end, so here it would be a random search under another name. Use --strategy random or bayesian "
    "(or run hyperband on SageMaker with byoc tune)")


# -- choosing hyperparameters ------------------------------------------------------------------------


class Sampler(Protocol):
    def ask(self) -> tuple[Any, dict[str, str]] | None:
        """The next trial's tuned values as the API carries them (strings), with a handle for tell();
        None when the search has nothing more to propose."""

    def tell(self, handle: Any, value: float | None) -> None:
        """The trial's objective value, or None when it failed or printed none."""


class GridSampler:
    """Every combination of the choice ranges, once each, in a fixed order."""

    def __init__(self, ranges: Sequence[tuning.Range]) -> None:
        self._combinations = iter(tuning.grid(ranges))

    def ask(self) -> tuple[Any, dict[str, str]] | None:
        combination = next(self._combinations, None)
        return None if combination is None else (None, combination)

    def tell(self, handle: Any, value: float | None) -> None:
        pass


class OptunaSampler:
    """Optuna's ask-and-tell interface over the ranges: TPE (bayesian) or uniform random.

    Scales map as SageMaker defines them: log samples log-uniformly; reverse-log samples 1 - x
    log-uniformly (dense near 1); Auto and linear sample uniformly here (SageMaker's Auto may pick
    log on its own: unverified which it picks, so here it is plain uniform).
    """

    def __init__(self, ranges: Sequence[tuning.Range], objective: tuning.Objective, strategy: str,
                 seed: int | None = None, parallel: int = 1) -> None:
        import optuna
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per trial is ours to print
        if strategy == "bayesian":
            # constant_liar: trials still running count as bad guesses, so parallel asks spread out
            sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=parallel > 1)
        else:
            sampler = optuna.samplers.RandomSampler(seed=seed)
        self.study = optuna.create_study(direction="maximize" if objective.maximize else "minimize", sampler=sampler)
        self.ranges = list(ranges)
        self.distributions: dict[str, Any] = {}
        for r in self.ranges:
            if r.kind == "choice":
                self.distributions[r.name] = CategoricalDistribution(list(r.choices))
            elif r.kind == "int":
                self.distributions[r.name] = IntDistribution(int(r.low), int(r.high),  # type: ignore[arg-type]
                                                             log=r.scale == "Logarithmic")
            elif r.scale == "ReverseLogarithmic":
                self.distributions[r.name] = FloatDistribution(1 - r.high, 1 - r.low, log=True)  # type: ignore[operator]
            else:
                self.distributions[r.name] = FloatDistribution(r.low, r.high,  # type: ignore[arg-type]
                                                               log=r.scale == "Logarithmic")

    def ask(self) -> tuple[Any, dict[str, str]]:
        trial = self.study.ask(self.distributions)
        values: dict[str, str] = {}
        for r in self.ranges:
            value = trial.params[r.name]
            if r.kind == "choice":
                values[r.name] = str(value)
            elif r.kind == "int":
                values[r.name] = str(int(value))
            else:
                values[r.name] = repr(1 - value if r.scale == "ReverseLogarithmic" else float(value))
        return trial, values

    def tell(self, handle: Any, value: float | None) -> None:
        from optuna.trial import TrialState

        if value is None:
            self.study.tell(handle, state=TrialState.FAIL)
        else:
            self.study.tell(handle, value)


def sampler(strategy: str, ranges: Sequence[tuning.Range], objective: tuning.Objective, *,
            seed: int | None = None, parallel: int = 1) -> Sampler:
    if strategy == "grid":
        return GridSampler(ranges)
    if strategy in ("bayesian", "random"):
        return OptunaSampler(ranges, objective, strategy, seed, parallel)
    if strategy == "hyperband":
        raise UsageError(HYPERBAND_REFUSAL)
    raise UsageError(f"--strategy {strategy} is not one of {', '.join(tuning.STRATEGIES)}")


# -- trials ---------------------------------------------------------------------------------------------


@dataclass
class Trial:
    """One training job of the search: its folder, its run, and what came of it."""

    number: int
    name: str
    tuned: dict[str, str]
    paths: Paths
    log_path: Path
    handle: Any = None
    started: datetime | None = None
    ended: datetime | None = None
    status: str = "InProgress"
    objective: float | None = None
    failure: str | None = None
    model_archive: Path | None = None
    child: local.Child | None = None
    log_file: IO[str] | None = None

    def row(self) -> tuning_results.Row:
        return tuning_results.Row(self.name, self.status, self.objective, dict(self.tuned), self.started,
                                  self.ended, self.failure)


@dataclass
class LocalTuning:
    """What `byoc local tune` was asked for, checked."""

    name: str
    root: Path
    channels: Mapping[str, Path]
    ranges: list[tuning.Range]
    objective: tuning.Objective
    strategy: str
    max_jobs: int
    max_parallel: int
    static: dict[str, str] = field(default_factory=dict)  # as the API carries them (to_api)
    seed: int | None = None


@dataclass
class Outcome:
    trials: list[Trial]
    best: Trial | None
    csv: Path
    png: Path

    @property
    def rows(self) -> list[tuning_results.Row]:
        return [t.row() for t in self.trials]


def hyperparameters_json(spec: LocalTuning, tuned: Mapping[str, str]) -> dict[str, str]:
    """What SageMaker writes to a tuning-launched job's hyperparameters.json: strings only."""
    return tuning.training_hyperparameters(spec.static, tuned, spec.objective.metric)


def check_root(root: Path) -> None:
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise UsageError(f"{root} is not empty: give a new folder for the tuning job (--job-dir)")


def start_trial(spec: LocalTuning, number: int, handle: Any, tuned: dict[str, str],
                launcher: local.Launcher) -> Trial:
    name = f"{spec.name}-{number:03d}-{secrets.token_hex(4)}"  # as SageMaker names them
    paths = jobdir.create(spec.root / name, jobdir.JobSpec(spec.channels, {}))
    paths.hyperparameters_file.write_text(json.dumps(hyperparameters_json(spec, tuned), indent=2) + "\n")
    trial = Trial(number, name, tuned, paths, spec.root / "logs" / f"{name}.log", handle)
    trial.log_path.parent.mkdir(parents=True, exist_ok=True)
    trial.log_file = trial.log_path.open("w")
    trial.started = datetime.now(timezone.utc)
    try:
        trial.child = local.Child(launcher.train(paths.base, {"TRAINING_JOB_NAME": name}), trial.log_file)
        trial.child.start()
    except BaseException:
        trial.log_file.close()
        raise
    return trial


def finish_trial(trial: Trial, metric: str) -> None:
    """After the job's process ended: its status, objective (the last value printed) and failure."""
    assert trial.child is not None and trial.log_file is not None
    code = trial.child.wait()
    trial.child.stop(local.TRAIN_GRACE)  # ended already: the launcher's cleanup
    trial.log_file.close()
    trial.ended = datetime.now(timezone.utc)
    result = local.finish_training(trial.paths, code, trial.child.log)
    if result.ok:
        trial.status = "Completed"
        trial.model_archive = result.model_archive
        trial.objective = result.metrics.get(metric)
        if trial.objective is None:
            trial.failure = f"the log has no line the {metric} metric definition matches; it cannot be best"
    else:
        trial.status = "Failed"
        reason = (result.failure or "").strip() or f"train exited with {code}; see {trial.log_path}"
        trial.failure = reason[:FAILURE_MAX]


def stop_trial(trial: Trial) -> None:
    """End a running trial (SIGTERM, grace, SIGKILL) and record it as SageMaker would: Stopped."""
    if trial.child is not None and trial.child.process is not None:
        trial.child.stop(local.TRAIN_GRACE)
    if trial.log_file is not None:
        trial.log_file.close()
    trial.ended = datetime.now(timezone.utc)
    trial.status = "Stopped"
    trial.failure = "stopped: the tuning job was interrupted"


def run(spec: LocalTuning, *, launcher: local.Launcher = local.PYTHON, out: IO[str]) -> Outcome:
    """Run the search to its end (max_jobs trials, max_parallel at a time), then write results.csv
    and objective.png in spec.root. However it ends, no trial is left running, and the results of
    the trials so far are written."""
    check_root(spec.root)
    search = sampler(spec.strategy, spec.ranges, spec.objective, seed=spec.seed, parallel=spec.max_parallel)
    spec.root.mkdir(parents=True, exist_ok=True)
    trials: list[Trial] = []
    running: list[Trial] = []
    best: Trial | None = None
    exhausted = False
    try:
        while running or (not exhausted and len(trials) < spec.max_jobs):
            while not exhausted and len(running) < spec.max_parallel and len(trials) < spec.max_jobs:
                proposal = search.ask()
                if proposal is None:
                    exhausted = True
                    break
                trial = start_trial(spec, len(trials) + 1, proposal[0], proposal[1], launcher)
                trials.append(trial)
                running.append(trial)
                print(f"[{trial.number}/{spec.max_jobs}] {trial.name}: "
                      + ", ".join(f"{k}={v}" for k, v in trial.tuned.items()), file=out, flush=True)
            for trial in [t for t in running if t.child and t.child.process and t.child.process.poll() is not None]:
                running.remove(trial)
                finish_trial(trial, spec.objective.metric)
                search.tell(trial.handle, trial.objective)
                if trial.status == "Completed" and trial.objective is not None and (
                        best is None or spec.objective.better(trial.objective, best.objective)):  # type: ignore[arg-type]
                    best = trial
                print(progress_line(trial, spec, best), file=out, flush=True)
            time.sleep(POLL_SECONDS)
    except BaseException:
        for trial in running:
            stop_trial(trial)
        write_results(spec, trials)
        raise
    csv, png = write_results(spec, trials)
    return Outcome(trials, best, csv, png)


def progress_line(trial: Trial, spec: LocalTuning, best: Trial | None) -> str:
    seconds = (trial.ended - trial.started).total_seconds() if trial.ended and trial.started else 0.0
    head = f"[{trial.number}/{spec.max_jobs}] {trial.name} {trial.status} in {seconds:.1f} s"
    if trial.status == "Failed" or trial.objective is None:
        return f"{head}: {' '.join((trial.failure or '').split())[:200]} (log: {trial.log_path})"
    text = f"{head}: {spec.objective.metric} = {trial.objective:.6g}"
    if best is not None:
        text += f"; best {best.objective:.6g} ({best.name})"
    return text


def write_results(spec: LocalTuning, trials: Sequence[Trial]) -> tuple[Path, Path]:
    rows = [t.row() for t in trials]
    csv = tuning_results.write_csv(rows, spec.root / "results.csv")
    png = tuning_results.plot(rows, spec.objective, spec.root / "objective.png", title=f"{spec.name}: "
                              f"{spec.objective.metric} over time")
    return csv, png


def require_best(outcome: Outcome, spec: LocalTuning) -> Trial:
    if outcome.best is None or outcome.best.model_archive is None:
        raise Failed(f"no trial of {spec.name} completed with a {spec.objective.metric} value; "
                     f"see the failure column above and the logs in {spec.root / 'logs'}")
    return outcome.best


def static_strings(static: Mapping[str, Any]) -> dict[str, str]:
    """-H values (parsed from the command line) as the API carries them, as `byoc tune` sends them."""
    return to_api(static)

