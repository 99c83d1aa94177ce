"""Hyperparameter tuning jobs: the CreateHyperParameterTuningJob request for this image, following
it to the end, its results, and its best training job.

The training job definition is the CreateTrainingJob request byoc.aws.training builds (same
channels and uploads, metric definitions, spot and checkpoints), reshaped into the
HyperParameterTrainingJobDefinition the API wants. There is no boto3 waiter for tuning jobs: the
job is followed by polling describe, as the SDK does. moto implements create, describe, list and
delete of tuning jobs, but not ListTrainingJobsForHyperParameterTuningJob nor Stop, and its
BestTrainingJob names a training job that does not exist (contract doc, 2.7): each of those
surfaces here as Unsupported (exit 6) saying so, never as a made-up result.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Mapping

from . import names, preflight, training
from .console import STDERR
from .session import AwsSession, translate
from .waiting import Progress, _sleep
from .. import tuning, tuning_results
from ..errors import Failed, NotFound, PreflightError, TimedOut, Unsupported

NAME_LIMIT = 32
DEFAULT_POLL = 15.0  # seconds between describes (the SDK: 5)
DEFAULT_TIMEOUT = 7 * 24 * 3600.0
TERMINAL = ("Completed", "Failed", "Stopped")
RUNNING = ("InProgress", "Stopping")
WARM_START_TYPES = {"identical": "IdenticalDataAndAlgorithm", "transfer": "TransferLearning"}
MAX_WARM_START_PARENTS = 5
DEFINITION_ENVIRONMENT_MAX = 48  # entries, across all training job definitions
TUNING_RUNTIME_RANGE = (120, 15768000)


def default_name() -> str:
    return names.unique_short("byoc-tune", limit=NAME_LIMIT)


@dataclass
class TuningSpec:
    """What `byoc tune` was asked for, before any AWS call. training.name is the tuning job's name; the
    objective comes from byoc.tuning.objective(), which refuses a metric with no metric definition."""

    training: training.TrainingSpec
    ranges: list[tuning.Range]
    objective: tuning.Objective
    strategy: str = "bayesian"
    max_jobs: int | None = None
    max_parallel: int = 1
    early_stopping: bool = False
    warm_start: list[str] = field(default_factory=list)
    warm_start_type: str = "identical"
    random_seed: int | None = None
    max_tuning_runtime: int | None = None
    min_resource: int | None = None
    max_resource: int | None = None

    @property
    def name(self) -> str:
        return self.training.name


def spec_problems(spec: TuningSpec, region: str, *, out: IO[str] = STDERR) -> list[str]:
    """Everything wrong that can be told without AWS, all at once (the contract's tuning checklist)."""
    found: list[str | None] = [names.problem("tuning job", spec.name)]
    training_name_problem = names.problem("training job", spec.name)
    found += [p for p in training.spec_problems(spec.training, region, out=out) if p != training_name_problem]
    found += tuning.search_problems(
        strategy=spec.strategy, ranges=spec.ranges, static=spec.training.hyperparameters, max_jobs=spec.max_jobs,
        max_parallel=spec.max_parallel, early_stopping=spec.early_stopping, max_resource=spec.max_resource)
    if len(spec.training.environment) > DEFINITION_ENVIRONMENT_MAX:
        found.append(f"{len(spec.training.environment)} environment variables; a tuning job's training jobs take "
                     f"at most {DEFINITION_ENVIRONMENT_MAX}")
    if spec.warm_start:
        if len(spec.warm_start) > MAX_WARM_START_PARENTS:
            found.append(f"{len(spec.warm_start)} --warm-start parents; the limit is {MAX_WARM_START_PARENTS}")
        if len(set(spec.warm_start)) != len(spec.warm_start):
            found.append("a --warm-start parent is given twice")
        found += [names.problem("tuning job", parent) for parent in spec.warm_start]
        if spec.name in spec.warm_start:
            found.append(f"--warm-start {spec.name} is this tuning job itself")
    if spec.warm_start_type not in WARM_START_TYPES:
        found.append(f"--warm-start-type {spec.warm_start_type} is not one of {', '.join(WARM_START_TYPES)}")
    if spec.max_tuning_runtime is not None:
        found.append(preflight.count_problem(spec.max_tuning_runtime, "--max-tuning-runtime", *TUNING_RUNTIME_RANGE))
    if spec.min_resource is not None and spec.strategy != "hyperband":
        found.append("--min-resource applies to the hyperband strategy only")
    for flag, value in (("--min-resource", spec.min_resource), ("--max-resource", spec.max_resource)):
        if value is not None:
            found.append(preflight.count_problem(value, flag, 1, 20000))
    if spec.min_resource and spec.max_resource and spec.min_resource > spec.max_resource:
        found.append("--min-resource is above --max-resource")
    return [p for p in found if p]


def spec_warnings(spec: TuningSpec) -> list[str]:
    found = tuning.search_warnings(strategy=spec.strategy, max_jobs=spec.max_jobs, max_parallel=spec.max_parallel)
    if spec.early_stopping:
        found.append("--early-stopping compares the objective epoch by epoch; this runtime prints it once, at the end "
                     "of fit, so SageMaker has nothing to stop a job early on")
    if spec.strategy == "hyperband":
        found.append("hyperband suits jobs that print the objective every epoch; this runtime fits once")
    return found


# -- the request --------------------------------------------------------------------------------


def definition(training_request: Mapping[str, Any]) -> dict[str, Any]:
    """A CreateTrainingJob request as a HyperParameterTrainingJobDefinition: no name, no tags (the
    tuning job's apply), StaticHyperParameters, and an AlgorithmSpecification of the tuning shape
    (which has no EnableSageMakerMetricsTimeSeries)."""
    shape = {k: v for k, v in training_request.items() if k not in ("TrainingJobName", "HyperParameters", "Tags")}
    shape["AlgorithmSpecification"] = {k: v for k, v in training_request["AlgorithmSpecification"].items()
                                       if k != "EnableSageMakerMetricsTimeSeries"}
    shape["StaticHyperParameters"] = dict(training_request.get("HyperParameters") or {})
    return shape


def build_request(spec: TuningSpec, training_request: Mapping[str, Any]) -> dict[str, Any]:
    """The CreateHyperParameterTuningJob request."""
    limits: dict[str, Any] = {"MaxParallelTrainingJobs": spec.max_parallel}
    if spec.max_jobs is not None:
        limits["MaxNumberOfTrainingJobs"] = spec.max_jobs
    if spec.max_tuning_runtime is not None:
        limits["MaxRuntimeInSeconds"] = spec.max_tuning_runtime
    config: dict[str, Any] = {
        "Strategy": tuning.STRATEGIES[spec.strategy],
        "HyperParameterTuningJobObjective": {"Type": spec.objective.type, "MetricName": spec.objective.metric},
        "ResourceLimits": limits,
        "ParameterRanges": tuning.parameter_ranges(spec.ranges),
        "TrainingJobEarlyStoppingType": "Auto" if spec.early_stopping else "Off",
    }
    if spec.random_seed is not None:
        config["RandomSeed"] = spec.random_seed
    if spec.strategy == "hyperband" and (spec.min_resource or spec.max_resource):
        hyperband = {}
        if spec.min_resource:
            hyperband["MinResource"] = spec.min_resource
        if spec.max_resource:
            hyperband["MaxResource"] = spec.max_resource
        config["StrategyConfig"] = {"HyperbandStrategyConfig": hyperband}
    request: dict[str, Any] = {
        "HyperParameterTuningJobName": spec.name,
        "HyperParameterTuningJobConfig": config,
        "TrainingJobDefinition": definition(training_request),
    }
    if spec.warm_start:
        request["WarmStartConfig"] = {
            "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": p} for p in spec.warm_start],
            "WarmStartType": WARM_START_TYPES[spec.warm_start_type],
        }
    return request


def check_parents(session: AwsSession, spec: TuningSpec) -> None:
    """Warm start's rules that need the parents (read-only): each exists, has ended, and tuned
    the same objective metric."""
    problems = []
    client = session.client("sagemaker")
    for parent in spec.warm_start:
        with translate("sagemaker:DescribeHyperParameterTuningJob", session,
                       not_found=f"--warm-start: tuning job {parent} not found"):
            described = client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=parent)
        status = described.get("HyperParameterTuningJobStatus")
        if status not in TERMINAL:
            problems.append(f"--warm-start {parent} is {status}; a parent must have ended (Completed, Stopped or Failed)")
        metric = ((described.get("HyperParameterTuningJobConfig") or {})
                  .get("HyperParameterTuningJobObjective") or {}).get("MetricName")
        if metric and metric != spec.objective.metric:
            problems.append(f"--warm-start {parent} tuned {metric}; warm start needs the same objective "
                            f"({spec.objective.metric})")
    preflight.require(problems)


def submit(session: AwsSession, spec: TuningSpec, bucket: Callable[[], str], *,
           out: IO[str] = STDERR) -> dict[str, Any]:
    """Check the parents and what the training spec names, upload local channels under
    s3://BUCKET/PREFIX/tuning/<name>/input/, and create the tuning job; returns the request sent."""
    check_parents(session, spec)
    training_request = training.prepare(session, spec.training, bucket, folder="tuning", out=out)
    request = build_request(spec, training_request)
    limits = request["HyperParameterTuningJobConfig"]["ResourceLimits"]
    print(f"Creating tuning job {spec.name}: {tuning.STRATEGIES[spec.strategy]} search of "
          f"{', '.join(r.name for r in spec.ranges)}, {spec.objective.type.lower()} {spec.objective.metric}, "
          f"{limits.get('MaxNumberOfTrainingJobs', 'every')} job(s), {spec.max_parallel} at a time", file=out)
    with translate("sagemaker:CreateHyperParameterTuningJob", session):
        session.client("sagemaker").create_hyper_parameter_tuning_job(**request)
    return request


# -- following a tuning job ----------------------------------------------------------------------


def describe(session: AwsSession, name: str) -> dict[str, Any]:
    with translate("sagemaker:DescribeHyperParameterTuningJob", session, not_found=f"tuning job {name} not found"):
        return session.client("sagemaker").describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)


def objective_of(described: Mapping[str, Any]) -> tuning.Objective:
    spec = (described.get("HyperParameterTuningJobConfig") or {}).get("HyperParameterTuningJobObjective") or {}
    return tuning.Objective(str(spec.get("MetricName", "objective")), str(spec.get("Type", "Maximize")))


def status_of(described: Mapping[str, Any]) -> str:
    """'InProgress: 3 completed, 2 running, 1 failed; best validation:auc = 0.91 (NAME)'."""
    jobs = described.get("TrainingJobStatusCounters") or {}
    failed = int(jobs.get("NonRetryableError", 0)) + int(jobs.get("RetryableError", 0))
    parts = [f"{jobs.get('Completed', 0)} completed", f"{jobs.get('InProgress', 0)} running", f"{failed} failed"]
    if jobs.get("Stopped"):
        parts.append(f"{jobs['Stopped']} stopped")
    text = f"{described.get('HyperParameterTuningJobStatus', '?')}: {', '.join(parts)}"
    best = described.get("BestTrainingJob")
    if best:
        final = best.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
        if final.get("Value") is not None:
            text += f"; best {final.get('MetricName') or objective_of(described).metric} = {float(final['Value']):.6g}"
        text += f" ({best.get('TrainingJobName')})"
    return text


def follow(session: AwsSession, name: str, *, delay: float | None = None, timeout: float | None = None,
           out: IO[str] = STDERR) -> dict[str, Any]:
    """Poll describe until the tuning job ends, showing its counters and best objective so far;
    the last describe when it Completed, Failed (the reason) when it failed or was stopped."""
    delay = DEFAULT_POLL if delay is None else delay
    timeout = DEFAULT_TIMEOUT if timeout is None else timeout
    progress = Progress(f"tuning job {name}", out)
    deadline = time.monotonic() + timeout
    hint = f"Follow it: byoc tune results {name} (or aws sagemaker describe-hyper-parameter-tuning-job " \
           f"--hyper-parameter-tuning-job-name {name})"
    try:
        while True:
            described = describe(session, name)
            status = described.get("HyperParameterTuningJobStatus")
            if status in TERMINAL:
                progress.done(status_of(described))
                break
            progress.show(status_of(described))
            if time.monotonic() >= deadline:
                progress.done(status_of(described))
                raise TimedOut(f"Stopped waiting after {progress.elapsed()}: tuning job {name} is still {status}; "
                               "it carries on in AWS.", hint=hint)
            _sleep(min(delay, max(0.0, deadline - time.monotonic())), progress, status_of(described))
    except KeyboardInterrupt:
        out.write(f"\nStopped waiting: tuning job {name} carries on in AWS. {hint}\n")
        raise
    if status != "Completed":
        reason = described.get("FailureReason") or ("it was stopped" if status == "Stopped" else "no reason given")
        raise Failed(f"tuning job {name} ended {status}: {reason}", hint=f"See each training job: byoc tune results {name}")
    return described


# -- results and the best job ----------------------------------------------------------------------


def training_job_summaries(session: AwsSession, name: str) -> list[dict[str, Any]]:
    """Every training job the tuning job launched, all pages (100 a page)."""
    client = session.client("sagemaker")
    summaries: list[dict[str, Any]] = []
    with translate("sagemaker:ListTrainingJobsForHyperParameterTuningJob", session,
                   not_found=f"tuning job {name} not found"):
        pages = client.get_paginator("list_training_jobs_for_hyper_parameter_tuning_job").paginate(
            HyperParameterTuningJobName=name, PaginationConfig={"PageSize": 100})
        for page in pages:
            summaries += page.get("TrainingJobSummaries") or []
    return summaries


def results(session: AwsSession, name: str) -> tuple[tuning.Objective, list[tuning_results.Row]]:
    """The objective and one row per training job, as tuner.analytics().dataframe() has them."""
    objective = objective_of(describe(session, name))
    return objective, [tuning_results.from_summary(s) for s in training_job_summaries(session, name)]


@dataclass
class BestJob:
    tuning_job: str
    name: str
    model_artifacts: str
    metric: str
    value: float | None


def best_training_job(session: AwsSession, tuning_job: str) -> BestJob:
    """The tuning job's best training job and its model artifacts (for `byoc register`, `byoc deploy`).

    NotFound when no training job has succeeded yet. The best job is read back with
    DescribeTrainingJob and must point at this tuning job: moto's BestTrainingJob is a fixed fake
    that names no real job, reported as Unsupported (exit 6) rather than passed on.
    """
    described = describe(session, tuning_job)
    best = described.get("BestTrainingJob")
    if not best:
        raise NotFound(f"tuning job {tuning_job} has no best training job yet "
                       f"({status_of(described)}): none has completed with an objective value")
    name = str(best.get("TrainingJobName"))
    try:
        with translate("sagemaker:DescribeTrainingJob", session, not_found=f"training job {name} not found"):
            job = session.client("sagemaker").describe_training_job(TrainingJobName=name)
    except NotFound:
        if session.endpoint_url:
            raise Unsupported(
                f"{session.endpoint_url} reports {name} as the best training job of {tuning_job}, but has no such "
                "training job: it does not implement the training jobs of a tuning job (moto fakes BestTrainingJob).",
                hint="Against AWS the best job is a real training job; nothing here can prove it.") from None
        raise
    arn = described.get("HyperParameterTuningJobArn")
    if job.get("TuningJobArn") and arn and job["TuningJobArn"] != arn:
        raise Failed(f"training job {name} belongs to {job['TuningJobArn']}, not to {arn}")
    artifacts = (job.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
    if not artifacts:
        raise NotFound(f"the best training job {name} of {tuning_job} has no model artifacts")
    final = best.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
    return BestJob(tuning_job, name, str(artifacts), str(final.get("MetricName") or objective_of(described).metric),
                   float(final["Value"]) if final.get("Value") is not None else None)


def stop(session: AwsSession, name: str) -> None:
    with translate("sagemaker:StopHyperParameterTuningJob", session, not_found=f"tuning job {name} not found"):
        session.client("sagemaker").stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)


def delete(session: AwsSession, name: str) -> None:
    """Delete the tuning job's record (its training jobs and artifacts stay); refused before it has ended."""
    status = describe(session, name).get("HyperParameterTuningJobStatus")
    if status not in TERMINAL:
        raise PreflightError(f"tuning job {name} is {status}; only an ended job can be deleted",
                             hint=f"Stop it first: byoc tune stop {name}")
    with translate("sagemaker:DeleteHyperParameterTuningJob", session, not_found=f"tuning job {name} not found"):
        session.client("sagemaker").delete_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)

