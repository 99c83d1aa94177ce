"""Batch transform: the CreateTransformJob request, split and assembled by line by default so
each input line gets exactly one output line; and a job's run, with the model made for it.

A job runs on an existing SageMaker model, or on one made here from an image and model data
(models.py), which is deleted again once the job has ended (or could not start). While the job
runs, or when nobody waits for it, the model stays: the job needs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Mapping

from ..transform import STRATEGIES
from . import ecr, models, names, preflight, s3, waiting
from .console import STDERR
from ..errors import ByocError, Failed, TimedOut
from .modeldata import ARCHIVE_NAME, PreparedModel
from .session import AwsSession, translate

SPLIT_TYPES = ("None", "Line", "RecordIO", "TFRecord")
ASSEMBLE = ("None", "Line")


def build_transform_job(*, name: str, model_name: str, input_uri: str, output_path: str,
                        content_type: str = "text/csv", split_type: str = "Line",
                        assemble_with: str | None = None, accept: str | None = None,
                        instance_type: str = "ml.m5.large", instance_count: int = 1,
                        strategy: str | None = "MultiRecord", max_payload_mb: int | None = None,
                        max_concurrent: int | None = None, environment: Mapping[str, str] | None = None,
                        tags: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """assemble_with defaults to split_type's natural partner: Line for Line, else None."""
    transform_input: dict[str, Any] = {
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": input_uri}},
        "ContentType": content_type,
        "CompressionType": "None",
        "SplitType": split_type,
    }
    transform_output: dict[str, Any] = {
        "S3OutputPath": output_path,
        "AssembleWith": assemble_with or ("Line" if split_type == "Line" else "None"),
    }
    if accept:
        transform_output["Accept"] = accept
    request: dict[str, Any] = {
        "TransformJobName": name,
        "ModelName": model_name,
        "TransformInput": transform_input,
        "TransformOutput": transform_output,
        "TransformResources": {"InstanceType": instance_type, "InstanceCount": instance_count},
    }
    if strategy:
        request["BatchStrategy"] = strategy
    if max_payload_mb is not None:
        request["MaxPayloadInMB"] = max_payload_mb
    if max_concurrent is not None:
        request["MaxConcurrentTransforms"] = max_concurrent
    if environment:
        request["Environment"] = dict(environment)
    if tags:
        request["Tags"] = tags
    return request


def problems(*, name: str, instance_type: str, instance_count: int, split_type: str,
             assemble_with: str | None, strategy: str | None, max_payload_mb: int | None,
             max_concurrent: int | None, environment: Mapping[str, str]) -> list[str]:
    found: list[str | None] = [names.problem("transform job", name)]
    found.append(preflight.instance_type_problem(instance_type, "transform"))
    found.append(preflight.count_problem(instance_count, "--instance-count"))
    if split_type not in SPLIT_TYPES:
        found.append(f"--split-type {split_type} is not one of {', '.join(SPLIT_TYPES)}")
    if assemble_with is not None and assemble_with not in ASSEMBLE:
        found.append(f"--assemble-with {assemble_with} is not one of {', '.join(ASSEMBLE)}")
    if strategy is not None and strategy not in STRATEGIES:
        found.append(f"--strategy {strategy} is not one of {', '.join(STRATEGIES)}")
    if split_type == "None" and strategy == "MultiRecord":
        found.append("--strategy MultiRecord needs records to batch: use --split-type Line (or SingleRecord)")
    found += preflight.transform_problems(max_concurrent, max_payload_mb)
    found += preflight.environment_problems(environment, "transform")
    return [p for p in found if p]


def status_of(response: Mapping[str, Any]) -> str:
    return str(response.get("TransformJobStatus", "?"))


def start(session: AwsSession, request: Mapping[str, Any], *, out: IO[str] = STDERR) -> str:
    print(f"Creating transform job {request['TransformJobName']} on model {request['ModelName']} "
          f"({request['TransformInput']['DataSource']['S3DataSource']['S3Uri']} -> "
          f"{request['TransformOutput']['S3OutputPath']})", file=out)
    with translate("sagemaker:CreateTransformJob", session):
        response = session.client("sagemaker").create_transform_job(**request)
    return str(response.get("TransformJobArn", ""))


def follow(session: AwsSession, name: str, *, delay: float | None = None, timeout: float | None = None,
           out: IO[str] = STDERR) -> dict[str, Any]:
    client = session.client("sagemaker")
    with translate("sagemaker:DescribeTransformJob", session, not_found=f"transform job {name} not found"):
        waiting.wait(client, "transform_job_completed_or_stopped", {"TransformJobName": name},
                     label=f"transform job {name}", status_of=status_of, done="ended", delay=delay, timeout=timeout,
                     out=out, still_running_hint=f"Follow it: aws sagemaker describe-transform-job "
                                                 f"--transform-job-name {name}")
        described = client.describe_transform_job(TransformJobName=name)
    if described.get("TransformJobStatus") != "Completed":
        raise Failed(f"transform job {name} ended {described.get('TransformJobStatus')}"
                     + (f": {described['FailureReason']}" if described.get("FailureReason") else ""))
    return described


# -- a job, from what the user named ------------------------------------------------------


@dataclass
class TransformSpec:
    """What `byoc transform` was asked for, before any AWS call: an existing model (model_name)
    or an image and model data to make one from; the input an s3:// prefix or a local file or
    folder (uploaded)."""

    name: str
    input: str
    model_name: str | None = None
    image: str | None = None
    model: str | None = None
    role: str | None = None
    keep_model: bool = False  # a model made here stays after the job
    output: str | None = None
    content_type: str = "text/csv"
    accept: str | None = None
    split_type: str = "Line"
    assemble_with: str | None = None
    strategy: str | None = "MultiRecord"
    max_payload_mb: int | None = None
    max_concurrent: int | None = None
    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    environment: dict[str, str] = field(default_factory=dict)
    prefix: str = "byoc"

    @property
    def makes_model(self) -> bool:
        return self.model_name is None

    def pick_model_name(self) -> str:
        """The model this job runs on: the one named, or <job>-model (made here; a long job name
        gets a timestamped one, so call this once)."""
        if self.model_name:
            return self.model_name
        return self.name + "-model" if len(self.name) <= 57 else names.unique("byoc-transform-model")


def spec_problems(spec: TransformSpec, region: str, *, out: IO[str] = STDERR) -> list[str]:
    """Everything wrong with the spec that can be told without AWS, all at once."""
    found = problems(
        name=spec.name, instance_type=spec.instance_type, instance_count=spec.instance_count,
        split_type=spec.split_type, assemble_with=spec.assemble_with, strategy=spec.strategy,
        max_payload_mb=spec.max_payload_mb, max_concurrent=spec.max_concurrent, environment=spec.environment)
    if spec.makes_model:
        if spec.image is None or spec.model is None:
            found.append("give --model-name, or --image and --model (and --role) to make a model")
        else:
            found.append(preflight.role_arn_problem(spec.role))
            found += preflight.image_problems(spec.image, spec.instance_type, region, out=out)
            found.append(preflight.model_source_problem(spec.model))
    else:
        found.append(names.problem("model", spec.model_name or ""))
        if spec.image is not None or spec.model is not None:
            found.append("--model-name uses an existing model: leave out --image and --model")
    found.append(s3.source_problem(spec.input, "--input"))
    if spec.output:
        found += s3.uri_problems(spec.output, "--output")
    return [p for p in found if p]


@dataclass
class TransformRun:
    name: str
    model_name: str
    output: str
    made_model: bool
    keep_model: bool = False

    @property
    def deletes_model(self) -> bool:
        """The model was made for this job alone, and goes once the job has ended."""
        return self.made_model and not self.keep_model


def start_job(session: AwsSession, spec: TransformSpec, model: PreparedModel | None,
              bucket: Callable[[], str], *, out: IO[str] = STDERR) -> TransformRun:
    """Check what the spec names (read-only), then upload, make the model if asked, and send
    CreateTransformJob. A model made here is deleted again if the job cannot be started."""
    model_name = spec.pick_model_name()
    if spec.makes_model:
        if model is None or spec.image is None:
            raise ValueError("a transform that makes its model needs the prepared model and an image")
        ecr.require_image(session, spec.image, out=out)
        model.check_in_place(session, out=out)
    else:
        models.require(session, model_name)
    if s3.is_s3(spec.input):
        s3.check_inputs(session, spec.input, "--input")
    if spec.output:
        s3.check_bucket(session, s3.parse(spec.output).bucket, purpose="--output")

    # Only now make or fill the default bucket.
    if model is not None:
        model_uri = model.uri(session, lambda: s3.S3Uri(bucket()).join(spec.prefix, "models", model_name,
                                                                        ARCHIVE_NAME), out=out)
    input_uri = spec.input if s3.is_s3(spec.input) else str(s3.upload_tree(
        session, Path(spec.input), s3.S3Uri(bucket()).join(spec.prefix, "transform", spec.name, "input"), out=out))
    output = spec.output or str(s3.S3Uri(bucket()).join(spec.prefix, "transform", spec.name, "output"))

    if spec.makes_model:
        models.create(session, models.build_create_model(
            name=model_name, image=str(spec.image), model_data_url=str(model_uri), role=str(spec.role),
            tags=[{"Key": models.TRANSFORM_TAG_KEY, "Value": spec.name}]), out=out)
    request = build_transform_job(
        name=spec.name, model_name=model_name, input_uri=input_uri, output_path=output,
        content_type=spec.content_type, split_type=spec.split_type, assemble_with=spec.assemble_with,
        accept=spec.accept, instance_type=spec.instance_type, instance_count=spec.instance_count,
        strategy=spec.strategy, max_payload_mb=spec.max_payload_mb, max_concurrent=spec.max_concurrent,
        environment=spec.environment)
    try:
        start(session, request, out=out)
    except ByocError:
        if spec.makes_model:
            models.delete(session, model_name, out=out)
        raise
    return TransformRun(spec.name, model_name, output, made_model=spec.makes_model, keep_model=spec.keep_model)


def finish(session: AwsSession, run: TransformRun, *, delay: float | None = None,
           timeout: float | None = None, out: IO[str] = STDERR) -> dict[str, Any]:
    """Follow the job to its end; then delete the model made for it (unless kept). A job still
    running when the wait stops keeps its model."""
    try:
        described = follow(session, run.name, delay=delay, timeout=timeout, out=out)
    except TimedOut:
        if run.made_model:
            print(f"Model {run.model_name} stays while the job runs.", file=out)
        raise
    except Failed:
        if run.deletes_model:
            models.delete(session, run.model_name, out=out)  # the job has ended
        raise
    if run.deletes_model:
        models.delete(session, run.model_name, out=out)
    return described
