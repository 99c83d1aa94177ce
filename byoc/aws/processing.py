"""Processing jobs: the CreateProcessingJob request that runs this image's `process`, and following it.

A processing job starts the image with no argument appended (training appends `train`), and
the image's ENTRYPOINT dispatches on its first argument, so the request always carries
ContainerEntrypoint ["byoc-entrypoint", "process"] and the options as ContainerArguments:
exactly `docker run IMAGE process ARGS` (contract 1.1). botocore checks minimum lengths only, so
every limit of the checklist (contract section 4) is checked here before anything is created:
the name, LocalPaths under /opt/ml/processing/, at most 10 inputs and outputs, Environment values
of at most 256 characters, the instance type against ProcessingInstanceType, and MaxRuntime.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Mapping, Sequence

from . import ecr, names, preflight, s3, waiting
from .console import STDERR
from ..errors import Failed
from .session import AwsSession, translate

ENTRYPOINT = ("byoc-entrypoint", "process")
LOCAL_ROOT = "/opt/ml/processing/"
INPUT_NAME = "raw"
SPLITS = ("train", "validation", "test")
REPORT = "report"
REPORT_FILE = "report.json"
OUTPUTS = (*SPLITS, REPORT)
MAX_RUNTIME_LIMIT = 777600  # 9 days; 604800 in older API models
MAX_INPUTS = MAX_OUTPUTS = 10
ARGUMENTS_MAX, ARGUMENT_LENGTH_MAX = 100, 256
#: The waiter's own patience is 60 polls of 60 s; a job may run for its MaxRuntime, and
#: upload after that.
WAIT_MARGIN_SECONDS = 3600


def local_input(name: str) -> str:
    return f"{LOCAL_ROOT}input/{name}"


def local_output(name: str) -> str:
    return f"{LOCAL_ROOT}output/{name}"


def instance_types() -> tuple[str, ...] | None:
    """ProcessingInstanceType's values, from botocore's service model (no AWS call); None
    without botocore."""
    try:
        import botocore.session
    except ImportError:
        return None
    model = botocore.session.get_session().get_service_model("sagemaker")
    return tuple(model.shape_for("ProcessingInstanceType").enum)


def build_processing_job(*, name: str, image: str, role: str, inputs: Mapping[str, str],
                         outputs: Mapping[str, str], arguments: Sequence[str] = (),
                         instance_type: str = "ml.m5.large", instance_count: int = 1, volume_gb: int = 30,
                         max_runtime: int = 86400, environment: Mapping[str, str] | None = None,
                         entrypoint: Sequence[str] = ENTRYPOINT) -> dict[str, Any]:
    """The CreateProcessingJob request: each input (name -> s3:// prefix) at
    /opt/ml/processing/input/<name>, each output (name -> s3:// prefix) from
    /opt/ml/processing/output/<name>; File mode, FullyReplicated, uploaded at the end."""
    app: dict[str, Any] = {"ImageUri": image, "ContainerEntrypoint": list(entrypoint)}
    if arguments:
        app["ContainerArguments"] = list(arguments)
    request: dict[str, Any] = {
        "ProcessingJobName": name,
        "RoleArn": role,
        "AppSpecification": app,
        "ProcessingInputs": [{
            "InputName": input_name,
            "S3Input": {"S3Uri": uri, "LocalPath": local_input(input_name), "S3DataType": "S3Prefix",
                        "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated",
                        "S3CompressionType": "None"},
        } for input_name, uri in inputs.items()],
        "ProcessingOutputConfig": {"Outputs": [{
            "OutputName": output_name,
            "S3Output": {"S3Uri": uri, "LocalPath": local_output(output_name), "S3UploadMode": "EndOfJob"},
        } for output_name, uri in outputs.items()]},
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": instance_count, "InstanceType": instance_type,
                                                  "VolumeSizeInGB": volume_gb}},
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime},
    }
    if environment:
        request["Environment"] = dict(environment)
    return request


def request_problems(request: Mapping[str, Any]) -> list[str]:
    """What SageMaker would refuse in a request (the checklist), found before sending it."""
    found: list[str | None] = [names.problem("processing job", request.get("ProcessingJobName", ""))]
    cluster = request["ProcessingResources"]["ClusterConfig"]
    known = instance_types()
    if known is not None and cluster["InstanceType"] not in known:
        close = sorted(t for t in known if t.split(".")[1:2] == cluster["InstanceType"].split(".")[1:2])[:6]
        found.append(f"instance type {cluster['InstanceType']!r} is not one processing jobs run on"
                     + (f" (in that family: {', '.join(close)})" if close else " (e.g. ml.m5.large, ml.c5.xlarge)"))
    else:
        found.append(preflight.instance_type_problem(cluster["InstanceType"], "processing"))
    found.append(preflight.count_problem(cluster["InstanceCount"], "--instance-count", 1, 100))
    found.append(preflight.count_problem(cluster["VolumeSizeInGB"], "--volume-gb", 1, 16384))
    found.append(preflight.count_problem(request["StoppingCondition"]["MaxRuntimeInSeconds"], "--max-runtime", 1,
                                         MAX_RUNTIME_LIMIT))
    inputs, outputs = request["ProcessingInputs"], request["ProcessingOutputConfig"]["Outputs"]
    if len(inputs) > MAX_INPUTS:
        found.append(f"{len(inputs)} inputs; a processing job takes at most {MAX_INPUTS}")
    if len(outputs) > MAX_OUTPUTS:
        found.append(f"{len(outputs)} outputs; a processing job takes at most {MAX_OUTPUTS}")
    for entry in [*(i["S3Input"] for i in inputs), *(o["S3Output"] for o in outputs)]:
        if not entry["LocalPath"].startswith(LOCAL_ROOT) or len(entry["LocalPath"]) > 256:
            found.append(f"LocalPath {entry['LocalPath']!r} must start with {LOCAL_ROOT} (at most 256 characters)")
        found += s3.uri_problems(entry["S3Uri"], f"S3 URI of {entry['LocalPath']}")
    arguments = request["AppSpecification"].get("ContainerArguments") or []
    if len(arguments) > ARGUMENTS_MAX:
        found.append(f"{len(arguments)} container arguments; SageMaker takes at most {ARGUMENTS_MAX}")
    found += [f"container argument {a[:30]!r}... is over {ARGUMENT_LENGTH_MAX} characters"
              for a in arguments if len(a) > ARGUMENT_LENGTH_MAX]
    found += preflight.environment_problems(request.get("Environment") or {}, "processing")
    return [p for p in found if p]


# -- what `byoc process` asks for --------------------------------------------------------------


@dataclass
class ProcessingSpec:
    """`byoc process` before any AWS call: the raw CSV (an s3:// prefix, or a local file or folder
    to upload), the container's arguments, and where the outputs go (a base s3:// prefix)."""

    name: str
    image: str
    role: str | None
    input: str
    arguments: list[str] = field(default_factory=list)
    splits: tuple[str, ...] = SPLITS
    output: str | None = None
    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    volume_gb: int = 30
    max_runtime: int = 86400
    environment: dict[str, str] = field(default_factory=dict)
    prefix: str = "byoc"


def spec_problems(spec: ProcessingSpec, region: str, *, out: IO[str] = STDERR) -> list[str]:
    """Everything wrong with the spec that can be told without AWS, all at once."""
    placeholder = "s3://placeholder/x"
    request = build_processing_job(
        name=spec.name, image=spec.image or "", role=spec.role or "", inputs={INPUT_NAME: placeholder},
        outputs={name: placeholder for name in OUTPUTS}, arguments=spec.arguments,
        instance_type=spec.instance_type, instance_count=spec.instance_count, volume_gb=spec.volume_gb,
        max_runtime=spec.max_runtime, environment=spec.environment)
    found = request_problems(request)
    found.append(preflight.role_arn_problem(spec.role))
    found += preflight.image_problems(spec.image, spec.instance_type, region, out=out)
    found.append(s3.source_problem(spec.input, "--input"))
    if spec.output:
        found += s3.uri_problems(spec.output, "--output")
    return [p for p in found if p]


@dataclass
class Submitted:
    name: str
    request: dict[str, Any]
    outputs: dict[str, str]  # output name -> s3:// prefix (with a trailing /)


def submit(session: AwsSession, spec: ProcessingSpec, bucket: Callable[[], str], *,
           out: IO[str] = STDERR) -> Submitted:
    """Check what the spec names (read-only), upload a local input, send CreateProcessingJob."""
    ecr.require_image(session, spec.image, out=out)
    if s3.is_s3(spec.input):
        s3.check_inputs(session, spec.input, "--input",
                        f"the job would start with an empty {local_input(INPUT_NAME)}")
    if spec.output:
        s3.check_bucket(session, s3.parse(spec.output).bucket, purpose="--output")
    base = s3.parse(spec.output) if spec.output else s3.S3Uri(bucket()).join(spec.prefix, "processing", spec.name,
                                                                              "output")
    source = spec.input
    if not s3.is_s3(source):
        target = s3.S3Uri(bucket()).join(spec.prefix, "processing", spec.name, "input", INPUT_NAME)
        source = str(s3.upload_tree(session, Path(source), target, out=out))
    outputs = {name: str(base.join(name)) + "/" for name in (*spec.splits, REPORT)}
    request = build_processing_job(
        name=spec.name, image=spec.image, role=str(spec.role), inputs={INPUT_NAME: source}, outputs=outputs,
        arguments=spec.arguments, instance_type=spec.instance_type, instance_count=spec.instance_count,
        volume_gb=spec.volume_gb, max_runtime=spec.max_runtime, environment=spec.environment)
    print(f"Creating processing job {spec.name} ({spec.instance_type} x {spec.instance_count}): "
          f"{source} -> {base}/", file=out)
    with translate("sagemaker:CreateProcessingJob", session):
        session.client("sagemaker").create_processing_job(**request)
    return Submitted(spec.name, request, outputs)


# -- following and stopping ------------------------------------------------------------------


def status_of(response: Mapping[str, Any]) -> str:
    return str(response.get("ProcessingJobStatus", "?"))


def failure_of(response: Mapping[str, Any]) -> str | None:
    """FailureReason and ExitMessage: the platform's words and the container's own."""
    parts = [f"FailureReason: {response['FailureReason'].strip()}" if response.get("FailureReason") else None,
             f"ExitMessage: {response['ExitMessage'].strip()}" if response.get("ExitMessage") else None]
    return "; ".join(p for p in parts if p) or None


def follow(session: AwsSession, name: str, *, delay: float | None = None, timeout: float | None = None,
           out: IO[str] = STDERR) -> dict[str, Any]:
    """Wait until the job ends; its description. Failed (with FailureReason and ExitMessage)
    unless it Completed."""
    described = wait_ended(session, name, delay=delay, timeout=timeout, out=out)
    if described.get("ProcessingJobStatus") != "Completed":
        raise Failed(f"processing job {name} ended {status_of(described)}"
                     + (f" ({failure_of(described)})" if failure_of(described) else ""))
    return described


def wait_ended(session: AwsSession, name: str, *, delay: float | None = None, timeout: float | None = None,
               out: IO[str] = STDERR) -> dict[str, Any]:
    """Wait until the job is Completed or Stopped; its description. Failed (with FailureReason and
    ExitMessage) when it Failed."""
    client = session.client("sagemaker")
    hint = f"Follow it: aws sagemaker describe-processing-job --processing-job-name {name}"
    with translate("sagemaker:DescribeProcessingJob", session, not_found=f"processing job {name} not found"):
        try:
            waiting.wait(client, "processing_job_completed_or_stopped", {"ProcessingJobName": name},
                         label=f"processing job {name}", status_of=status_of, failure_of=failure_of,
                         done="ended", delay=delay, timeout=timeout, out=out, still_running_hint=hint)
        except Failed:
            described = client.describe_processing_job(ProcessingJobName=name)
            raise Failed(f"processing job {name} {status_of(described)}: {failure_of(described) or 'no reason given'}",
                         hint="The container's log is in CloudWatch, group /aws/sagemaker/ProcessingJobs, "
                              f"stream {name}/algo-1-*.") from None
        return client.describe_processing_job(ProcessingJobName=name)  # type: ignore[no-any-return]


def stop(session: AwsSession, name: str, *, out: IO[str] = STDERR) -> None:
    """StopProcessingJob: the job goes Stopping, then Stopped."""
    with translate("sagemaker:StopProcessingJob", session, not_found=f"processing job {name} not found"):
        session.client("sagemaker").stop_processing_job(ProcessingJobName=name)
    print(f"Stopping processing job {name}", file=out)


def wait_timeout(max_runtime: int, explicit: float | None) -> float:
    """How long --wait waits unless told: the job's own limit and an hour for start and upload,
    not the waiter's default hour."""
    return explicit if explicit is not None else float(max_runtime + WAIT_MARGIN_SECONDS)


def read_report(session: AwsSession, report_prefix: str, folder: Path) -> dict[str, Any] | None:
    """report.json from the report output, or None when it is not there (moto runs nothing)."""
    import json

    from ..errors import NotFound

    uri = s3.parse(report_prefix.rstrip("/") + "/" + REPORT_FILE)
    try:
        path = s3.download(session, uri, folder / REPORT_FILE)
    except NotFound:
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        return None
