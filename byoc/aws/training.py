"""Training jobs: the CreateTrainingJob request for this image, and following it to the end.

The request always carries AlgorithmSpecification, ResourceConfig and StoppingCondition (older
botocore releases require them), the runtime's own METRIC_DEFINITIONS (so the console, CloudWatch
and tuning jobs see the metrics `train` prints), and hyperparameters stringified by the
runtime's to_api(), which its parser reads back to the same values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Mapping

from . import ecr, names, preflight, s3, waiting
from .console import STDERR
from ..errors import Failed
from .session import AwsSession, translate

CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"
MAX_RUNTIME_LIMIT = 28 * 24 * 3600
INPUT_MODES = ("File", "FastFile", "Pipe")
DISTRIBUTIONS = ("FullyReplicated", "ShardedByS3Key")


def runtime_metric_definitions() -> list[dict[str, str]]:
    from container.metrics import METRIC_DEFINITIONS

    return [dict(d) for d in METRIC_DEFINITIONS]


def runtime_metric_line(name: str) -> str:
    from container.metrics import format_line

    return format_line(name, 0.5)


def stringify(hyperparameters: Mapping[str, Any]) -> dict[str, str]:
    from container.hyperparameters import to_api

    return to_api(hyperparameters)


@dataclass
class Channel:
    name: str
    s3_uri: str
    content_type: str | None = "text/csv"
    distribution: str = "FullyReplicated"
    input_mode: str | None = None


def build_channel(channel: Channel) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "ChannelName": channel.name,
        "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix",
            "S3Uri": channel.s3_uri,
            "S3DataDistributionType": channel.distribution,
        }},
        "CompressionType": "None",
    }
    if channel.content_type:
        entry["ContentType"] = channel.content_type
    if channel.input_mode:
        entry["InputMode"] = channel.input_mode
    return entry


def build_training_job(*, name: str, image: str, role: str, channels: list[Channel], output_path: str,
                       hyperparameters: Mapping[str, str] | None = None,
                       metric_definitions: list[Mapping[str, str]] | None = None,
                       instance_type: str = "ml.m5.large", instance_count: int = 1, volume_gb: int = 30,
                       max_runtime: int = 86400, input_mode: str = "File",
                       environment: Mapping[str, str] | None = None, spot: bool = False,
                       max_wait: int | None = None, checkpoint_s3: str | None = None,
                       tags: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """The CreateTrainingJob request; hyperparameters must already be strings (see stringify)."""
    algorithm: dict[str, Any] = {"TrainingImage": image, "TrainingInputMode": input_mode}
    if metric_definitions:
        algorithm["MetricDefinitions"] = [dict(d) for d in metric_definitions]
        algorithm["EnableSageMakerMetricsTimeSeries"] = True
    stopping: dict[str, Any] = {"MaxRuntimeInSeconds": max_runtime}
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "RoleArn": role,
        "AlgorithmSpecification": algorithm,
        "HyperParameters": dict(hyperparameters or {}),
        "InputDataConfig": [build_channel(c) for c in channels],
        "OutputDataConfig": {"S3OutputPath": output_path},
        "ResourceConfig": {"InstanceType": instance_type, "InstanceCount": instance_count,
                           "VolumeSizeInGB": volume_gb},
        "StoppingCondition": stopping,
    }
    if spot:
        request["EnableManagedSpotTraining"] = True
        stopping["MaxWaitTimeInSeconds"] = max_wait or max_runtime
    if checkpoint_s3:
        request["CheckpointConfig"] = {"S3Uri": checkpoint_s3, "LocalPath": CHECKPOINT_LOCAL_PATH}
    if environment:
        request["Environment"] = dict(environment)
    if tags:
        request["Tags"] = tags
    return request


def problems(*, name: str, channel_names: list[str], instance_type: str, instance_count: int,
             volume_gb: int, max_runtime: int, input_mode: str, spot: bool, max_wait: int | None,
             hyperparameters: Mapping[str, str], environment: Mapping[str, str],
             metric_definitions: list[Mapping[str, str]]) -> list[str]:
    found: list[str | None] = [names.problem("training job", name)]
    if not channel_names:
        found.append("give at least one channel: --channel train=s3://bucket/prefix/ or train=./folder")
    elif "train" not in channel_names:
        found.append(f"no 'train' channel (got {', '.join(channel_names)}); the runtime trains on 'train'")
    if len(channel_names) > 20:
        found.append(f"{len(channel_names)} channels; SageMaker takes at most 20")
    if len(set(channel_names)) != len(channel_names):
        found.append("a channel is given twice")
    found += [names.problem("channel", c) for c in channel_names]
    found.append(preflight.instance_type_problem(instance_type, "training"))
    found.append(preflight.count_problem(instance_count, "--instance-count"))
    found.append(preflight.count_problem(volume_gb, "--volume-gb", 1, 16384))
    found.append(preflight.count_problem(max_runtime, "--max-runtime", 1, MAX_RUNTIME_LIMIT))
    if input_mode not in INPUT_MODES:
        found.append(f"--input-mode {input_mode} is not one of {', '.join(INPUT_MODES)}")
    if max_wait is not None and not spot:
        found.append("--max-wait applies to spot training only (add --spot)")
    if spot and max_wait is not None and max_wait < max_runtime:
        found.append(f"--max-wait {max_wait} is below --max-runtime {max_runtime}; spot needs max-wait >= max-runtime")
    found += preflight.hyperparameter_problems(hyperparameters)
    found += preflight.environment_problems(environment, "training")
    found += preflight.metric_definition_problems(metric_definitions, runtime_metric_line)
    return [p for p in found if p]


# -- submitting a job ---------------------------------------------------------------------


@dataclass
class TrainingSpec:
    """What `byoc train` was asked for, before any AWS call. Channels map a name to an s3://
    prefix (used as it is) or a local file or folder (uploaded); hyperparameters are strings."""

    name: str
    image: str
    role: str | None
    channels: dict[str, str]
    hyperparameters: dict[str, str] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)
    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    volume_gb: int = 30
    max_runtime: int = 86400
    input_mode: str = "File"
    content_type: str | None = "text/csv"
    distribution: str = "FullyReplicated"
    spot: bool = False
    max_wait: int | None = None
    output: str | None = None
    checkpoint: str | None = None
    prefix: str = "byoc"


def spec_problems(spec: TrainingSpec, region: str, *, out: IO[str] = STDERR) -> list[str]:
    """Everything wrong with the spec that can be told without AWS, all at once."""
    found = problems(
        name=spec.name, channel_names=list(spec.channels), instance_type=spec.instance_type,
        instance_count=spec.instance_count, volume_gb=spec.volume_gb, max_runtime=spec.max_runtime,
        input_mode=spec.input_mode, spot=spec.spot, max_wait=spec.max_wait,
        hyperparameters=spec.hyperparameters, environment=spec.environment,
        metric_definitions=runtime_metric_definitions())
    found.append(preflight.role_arn_problem(spec.role))
    found += preflight.image_problems(spec.image, spec.instance_type, region, out=out)
    for channel, source in spec.channels.items():
        found.append(s3.source_problem(source, f"channel {channel}"))
        if s3.is_s3(source) and spec.input_mode == "FastFile" and not source.endswith("/"):
            found.append(f"channel {channel}: FastFile needs the prefix to end with / ({source}/)")
    for flag, value in (("--output", spec.output), ("--checkpoint", spec.checkpoint)):
        if value:
            found += s3.uri_problems(value, flag)
    return [p for p in found if p]


def submit(session: AwsSession, spec: TrainingSpec, bucket: Callable[[], str], *,
           out: IO[str] = STDERR) -> dict[str, Any]:
    """Check what the spec names (read-only), then upload local channels to bucket() and send
    CreateTrainingJob; returns the request sent. The bucket is only asked for when needed."""
    request = prepare(session, spec, bucket, out=out)
    start(session, request, out=out)
    return request


def prepare(session: AwsSession, spec: TrainingSpec, bucket: Callable[[], str], *, folder: str = "training",
            out: IO[str] = STDERR) -> dict[str, Any]:
    """submit() up to the request, not sent: checks, uploads under s3://BUCKET/PREFIX/<folder>/<name>/input/,
    the default output s3://BUCKET/PREFIX/<folder>. A tuning job builds its training job definition from it."""
    ecr.require_image(session, spec.image, out=out)
    for channel, source in spec.channels.items():
        if s3.is_s3(source):
            s3.check_inputs(session, source, f"channel {channel}",
                            f"the job would start with an empty /opt/ml/input/data/{channel}")
    for flag, value in (("--output", spec.output), ("--checkpoint", spec.checkpoint)):
        if value:
            s3.check_bucket(session, s3.parse(value).bucket, purpose=flag)
    output = spec.output or str(s3.S3Uri(bucket()).join(spec.prefix, folder))
    channels = []
    for channel, source in spec.channels.items():
        if not s3.is_s3(source):
            target = s3.S3Uri(bucket()).join(spec.prefix, folder, spec.name, "input", channel)
            source = str(s3.upload_tree(session, Path(source), target, out=out))
        channels.append(Channel(channel, source, spec.content_type, spec.distribution))
    checkpoint = spec.checkpoint or (str(s3.parse(output).join(spec.name, "checkpoints")) if spec.spot else None)
    request = build_training_job(
        name=spec.name, image=spec.image, role=str(spec.role), channels=channels, output_path=output,
        hyperparameters=spec.hyperparameters, metric_definitions=runtime_metric_definitions(),
        instance_type=spec.instance_type, instance_count=spec.instance_count, volume_gb=spec.volume_gb,
        max_runtime=spec.max_runtime, input_mode=spec.input_mode, environment=spec.environment,
        spot=spec.spot, max_wait=spec.max_wait, checkpoint_s3=checkpoint)
    return request


# -- following a job -----------------------------------------------------------------------


@dataclass
class StatusPrinter:
    """Prints each new secondary status transition (Starting, Downloading, Training, ...)."""

    out: IO[str] = STDERR
    seen: int = 0

    def __call__(self, response: Mapping[str, Any]) -> None:
        transitions = response.get("SecondaryStatusTransitions") or []
        for transition in transitions[self.seen:]:
            message = transition.get("StatusMessage") or ""
            self.out.write(f"    {transition.get('Status')}: {message}\n")
        self.seen = max(self.seen, len(transitions))


def status_of(response: Mapping[str, Any]) -> str:
    status = response.get("TrainingJobStatus", "?")
    secondary = response.get("SecondaryStatus")
    return f"{status} ({secondary})" if secondary and secondary != status else str(status)


@dataclass
class TrainingResult:
    name: str
    status: str
    secondary: str | None
    model_artifacts: str | None
    metrics: dict[str, float] = field(default_factory=dict)
    failure: str | None = None


def result_of(response: Mapping[str, Any]) -> TrainingResult:
    return TrainingResult(
        name=response.get("TrainingJobName", ""),
        status=response.get("TrainingJobStatus", "?"),
        secondary=response.get("SecondaryStatus"),
        model_artifacts=(response.get("ModelArtifacts") or {}).get("S3ModelArtifacts"),
        metrics={m["MetricName"]: float(m["Value"]) for m in response.get("FinalMetricDataList") or []},
        failure=response.get("FailureReason"),
    )


def start(session: AwsSession, request: Mapping[str, Any], *, out: IO[str] = STDERR) -> str:
    print(f"Creating training job {request['TrainingJobName']} "
          f"({request['ResourceConfig']['InstanceType']} x {request['ResourceConfig']['InstanceCount']}"
          f"{', spot' if request.get('EnableManagedSpotTraining') else ''})", file=out)
    with translate("sagemaker:CreateTrainingJob", session):
        response = session.client("sagemaker").create_training_job(**request)
    return str(response.get("TrainingJobArn", ""))


def follow(session: AwsSession, name: str, *, delay: float | None = None, timeout: float | None = None,
           out: IO[str] = STDERR) -> TrainingResult:
    client = session.client("sagemaker")
    printer = StatusPrinter(out)
    with translate("sagemaker:DescribeTrainingJob", session, not_found=f"training job {name} not found"):
        try:
            waiting.wait(client, "training_job_completed_or_stopped", {"TrainingJobName": name},
                         label=f"training job {name}", status_of=status_of, done="ended", on_poll=printer,
                         delay=delay, timeout=timeout, out=out,
                         still_running_hint=f"Follow it: aws sagemaker describe-training-job --training-job-name {name}")
        except Failed:
            described = client.describe_training_job(TrainingJobName=name)
            printer(described)
            result = result_of(described)
            raise Failed(f"training job {name} {result.status}: {result.failure or 'no reason given'}",
                         hint="The container's log is in CloudWatch, group /aws/sagemaker/TrainingJobs, "
                              f"stream {name}/algo-1-*.") from None
        described = client.describe_training_job(TrainingJobName=name)
    printer(described)
    result = result_of(described)
    if result.status != "Completed":
        raise Failed(f"training job {name} ended {result.status} ({result.secondary}); "
                     + ("it hit --max-runtime" if result.secondary == "MaxRuntimeExceeded" else "it was stopped")
                     + (f"; partial model at {result.model_artifacts}" if result.model_artifacts else ""))
    return result
