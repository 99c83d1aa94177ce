"""Batch transform: the CreateTransformJob request, split and assembled by line by default so
each input line gets exactly one output line."""

from __future__ import annotations

from typing import IO, Any, Mapping

from . import names, preflight, waiting
from .console import STDERR
from .errors import Failed
from .session import AwsSession, translate

SPLIT_TYPES = ("None", "Line", "RecordIO", "TFRecord")
ASSEMBLE = ("None", "Line")
STRATEGIES = ("MultiRecord", "SingleRecord")


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
