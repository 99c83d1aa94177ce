"""The model registry: versions of a model in a model package group, their approval, and the
version a deploy takes.

A version records what a deploy needs and what a reviewer reads: the image, the model.tar.gz,
the request and response types the runtime handles (container.codecs, the one list), the
instance types it may run on, and the model's metrics (a JSON report the version's ModelMetrics
points at, and CustomerMetadataProperties). It starts PendingManualApproval; `approve` moves it.
Deploying takes an Approved version only: `deployable()` refuses any other.

Every version gets a folder of its own, s3://BUCKET/PREFIX/registry/GROUP/<GROUP>-<time>/: the
uploaded model.tar.gz (a local model) and evaluation.json. An s3:// model stays where it is; its
report still goes into that folder, so nothing is written beside someone else's data.

The registry's calls have no botocore waiters, so a new version's status is polled (every 5 s,
as the SageMaker SDK does). ARNs are always read from responses, never built from names: moto
lower-cases the group in version ARNs, and whether AWS does is not documented.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import tempfile
import time
import unicodedata
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Iterator, Mapping

from . import ecr, modeldata, names, preflight, s3, tuning, waiting
from .console import STDERR
from ..errors import Failed, NotFound, PreflightError, TimedOut
from .session import AwsSession, error_code, error_message, translate

APPROVED = "Approved"
PENDING = "PendingManualApproval"
REJECTED = "Rejected"

#: x86 CPU types a scikit-learn model serves well on; the first is `byoc deploy`'s default.
DEFAULT_REALTIME_INSTANCE_TYPES = ("ml.m5.large", "ml.m5.xlarge", "ml.c5.large", "ml.c5.xlarge", "ml.t2.medium")
#: The same for batch transform, whose list has no ml.t2.* and no ml.c5.large.
DEFAULT_TRANSFORM_INSTANCE_TYPES = ("ml.m5.large", "ml.m5.xlarge", "ml.c5.xlarge")
#: instance-type kind -> the enum shape in botocore's SageMaker model that lists its valid values.
INSTANCE_TYPE_SHAPES = {"real-time": "ProductionVariantInstanceType", "transform": "TransformInstanceType"}

METRICS_FILE = "evaluation.json"
DESCRIPTION_MAX = 1024
PROPERTIES_MAX = 50
PROPERTY_KEY_MAX = 128
PROPERTY_VALUE_MAX = 256
#: Besides letters, digits and spaces (any script), what CustomerMetadataProperties allows.
PROPERTY_PUNCTUATION = frozenset("_.:/=+-@")
#: What a version's own metadata says about the model, besides its metrics.
METADATA_PROPERTIES = ("estimator", "task", "n_features", "positive_class", "training_job")
#: The channel whose metrics the report shows as the model's quality, best first.
EVALUATION_CHANNELS = ("test", "validation", "train")

POLL_SECONDS = 5.0
WAIT_SECONDS = 600.0
#: ModelPackageStatus values after which nothing more happens to a new version.
FAILED_STATUSES = {"Failed", "Deleting"}


# -- pure: what a version carries -----------------------------------------------------------


def content_types() -> list[str]:
    """The request types `serve` decodes: SupportedContentTypes."""
    from container.codecs import DECODABLE

    return list(DECODABLE)


def response_types() -> list[str]:
    """The answer types `serve` encodes: SupportedResponseMIMETypes."""
    from container.codecs import ENCODABLE

    return list(ENCODABLE)


@functools.cache
def valid_instance_types(kind: str) -> frozenset[str]:
    """The values the API takes for a version's real-time or transform instance types, read from
    the installed botocore's SageMaker model (the same list AWS validates against)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    return frozenset(model.shape_for(INSTANCE_TYPE_SHAPES[kind]).enum)


def instance_types_problems(types: list[str], kind: str) -> list[str]:
    if not types:
        return [f"no {kind} instance types given"]
    import botocore

    valid = valid_instance_types(kind)
    unknown = [t for t in types if t not in valid]
    if not unknown:
        return []
    return [f"{', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not {kind} instance type(s) "
            f"SageMaker takes for a model package (botocore {botocore.__version__}'s list; e.g. "
            f"{', '.join(sorted(valid & set(DEFAULT_REALTIME_INSTANCE_TYPES + DEFAULT_TRANSFORM_INSTANCE_TYPES)))})"]


def architecture_problems(image: str, realtime_types: list[str]) -> list[str]:
    """The local image's architecture against every real-time type listed (Graviton is arm64)."""
    arch, _ = preflight.local_image_architecture(image)
    found = [preflight.architecture_problem(image, arch, t) for t in realtime_types]
    return list(dict.fromkeys(p for p in found if p))


def image_problems(image: str | None, realtime_types: list[str], region: str) -> list[str]:
    """The image URI (ECR, its region, a tag) and its architecture against the instance types."""
    problems = preflight.image_uri_problems(image, region)
    if image and not problems:
        problems += architecture_problems(image, realtime_types)
    return problems


def _property_text_ok(text: str) -> bool:
    return all(c in PROPERTY_PUNCTUATION or unicodedata.category(c)[0] in "LNZ" for c in text)


def property_problem(key: str, value: str) -> str | None:
    """Why KEY=VALUE cannot be a CustomerMetadataProperty, or None."""
    for what, text, longest in (("key", key, PROPERTY_KEY_MAX), ("value", value, PROPERTY_VALUE_MAX)):
        if not text:
            return f"property {key}={value}: the {what} is empty"
        if len(text) > longest:
            return f"property {key}: the {what} is {len(text)} characters; the limit is {longest}"
        if not _property_text_ok(text):
            bad = "".join(sorted({c for c in text if not _property_text_ok(c)}))
            return (f"property {key}={value}: the {what} has {bad!r}; only letters, digits, spaces and "
                    f"{''.join(sorted(PROPERTY_PUNCTUATION))} are allowed")
    return None


def metadata_properties(metadata: Mapping[str, Any]) -> tuple[dict[str, str], list[str]]:
    """CustomerMetadataProperties from the model's metadata.json: each metric (validation:accuracy
    -> "0.973333") and what the model is; with notes on what did not fit the API's rules."""
    found: dict[str, str] = {}
    metrics = metadata.get("metrics")
    if isinstance(metrics, Mapping):
        for name, value in sorted(metrics.items()):
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                found[str(name)] = f"{value:.6g}"
    for key in METADATA_PROPERTIES:
        value = metadata.get(key)
        if value is not None and value != "":
            found[key] = str(value)
    kept: dict[str, str] = {}
    notes = []
    for key, value in found.items():
        problem = property_problem(key, value)
        if problem:
            notes.append(f"not recorded as a property: {problem}")
        else:
            kept[key] = value
    return kept, notes


def merged_properties(automatic: Mapping[str, str], given: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """The model's own properties, then --property ones (which win), within the API's 50."""
    merged = {**automatic, **given}
    if len(merged) <= PROPERTIES_MAX:
        return merged, []
    # --property values are the user's choice: keep them all, and the model's first ones
    room = PROPERTIES_MAX - len(given)
    kept_auto = [k for k in automatic if k not in given][:max(room, 0)]
    dropped = len(merged) - len(given) - len(kept_auto)
    kept = {k: automatic[k] for k in kept_auto}
    kept.update(given)
    return kept, [f"{dropped} of the model's own properties left out: a version takes at most {PROPERTIES_MAX}"]


def metrics_report(metadata: Mapping[str, Any]) -> dict[str, Any] | None:
    """The JSON a version's ModelMetrics.ModelQuality.Statistics points at, or None without metrics.

    The layout is Model Monitor's model-quality statistics ({"<problem>_metrics": {name: {"value",
    "standard_deviation"}}}), for the channel that best says how the model does on unseen data
    (test, else validation, else train); "byoc" keeps every channel's metrics and what the model is.
    """
    metrics = metadata.get("metrics")
    if not isinstance(metrics, Mapping):
        return None
    by_channel: dict[str, dict[str, float]] = {}
    for key, value in metrics.items():
        channel, sep, name = str(key).partition(":")
        if sep and isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            by_channel.setdefault(channel, {})[name] = float(value)
    if not by_channel:
        return None
    channel = next((c for c in EVALUATION_CHANNELS if c in by_channel), sorted(by_channel)[0])
    task = metadata.get("task")
    classes = metadata.get("classes")
    report: dict[str, Any] = {}
    if task == "regression":
        section = "regression_metrics"
    elif task == "classification":
        binary = isinstance(classes, list) and len(classes) == 2
        section = "binary_classification_metrics" if binary else "multiclass_classification_metrics"
    else:
        section = None
    if section:
        # standard_deviation: Model Monitor writes "NaN" when it has none; no resampling is done here
        report[section] = {name: {"value": value, "standard_deviation": "NaN"}
                           for name, value in sorted(by_channel[channel].items())}
    report["byoc"] = {"evaluated_on": channel,
                      "metrics": {f"{c}:{n}": v for c, values in sorted(by_channel.items())
                                  for n, v in sorted(values.items())},
                      **{k: metadata[k] for k in (*METADATA_PROPERTIES, "classes") if metadata.get(k) is not None}}
    return report


def metrics_source(uri: str, body: bytes) -> dict[str, Any]:
    """ModelMetrics for a report uploaded to uri; the digest lets a reader check what it fetched."""
    return {"ModelQuality": {"Statistics": {
        "ContentType": "application/json",
        "S3Uri": uri,
        "ContentDigest": "sha256:" + hashlib.sha256(body).hexdigest(),
    }}}


def build_create_model_package(*, group: str, image: str, model_data_url: str, approval: str,
                               realtime_types: list[str], transform_types: list[str],
                               description: str | None = None, properties: Mapping[str, str] | None = None,
                               model_metrics: Mapping[str, Any] | None = None,
                               generated_by: str | None = None, client_token: str | None = None) -> dict[str, Any]:
    """A versioned CreateModelPackage: the group and never ModelPackageName; the approval status
    always sent (the platform's default when it is left out is not documented)."""
    request: dict[str, Any] = {
        "ModelPackageGroupName": group,
        "InferenceSpecification": {
            "Containers": [{"Image": image, "ModelDataUrl": model_data_url}],
            "SupportedContentTypes": content_types(),
            "SupportedResponseMIMETypes": response_types(),
            "SupportedRealtimeInferenceInstanceTypes": list(realtime_types),
            "SupportedTransformInstanceTypes": list(transform_types),
        },
        "ModelApprovalStatus": approval,
    }
    if description:
        request["ModelPackageDescription"] = description
    if properties:
        request["CustomerMetadataProperties"] = dict(properties)
    if model_metrics:
        request["ModelMetrics"] = dict(model_metrics)
    if generated_by:
        request["MetadataProperties"] = {"GeneratedBy": generated_by}
    if client_token:
        request["ClientToken"] = client_token
    return request


def build_approval_update(described: Mapping[str, Any], status: str,
                          description: str | None = None) -> dict[str, Any]:
    """UpdateModelPackage to status, resending what an update must keep.

    AWS leaves fields an update does not name as they were; moto overwrites ApprovalDescription
    and CustomerMetadataProperties with whatever was sent, None included. Resending the current
    ones keeps them on both. The previous ApprovalDescription stays unless a new one is given.
    """
    request: dict[str, Any] = {"ModelPackageArn": described["ModelPackageArn"], "ModelApprovalStatus": status}
    text = description if description is not None else described.get("ApprovalDescription")
    if text:
        request["ApprovalDescription"] = text
    if described.get("CustomerMetadataProperties"):
        request["CustomerMetadataProperties"] = dict(described["CustomerMetadataProperties"])
    return request


def description_problem(text: str | None, flag: str = "--description") -> str | None:
    """ModelPackageDescription and ApprovalDescription both take at most 1024 characters."""
    if text and len(text) > DESCRIPTION_MAX:
        return f"{flag} is {len(text)} characters; the limit is {DESCRIPTION_MAX}"
    return None


def version_label(described: Mapping[str, Any]) -> str:
    group, version = described.get("ModelPackageGroupName"), described.get("ModelPackageVersion")
    if group and version is not None:
        return f"version {version} of {group}"
    return f"model package {described.get('ModelPackageArn') or described.get('ModelPackageName')}"


# -- calls: groups and versions --------------------------------------------------------------


def _missing(exc: BaseException) -> bool:
    """A 'no such group/package' answer: ValidationException '... does not exist.' or '... not found'."""
    message = error_message(exc).lower()
    return error_code(exc) in ("ResourceNotFound", "ResourceNotFoundException") or (
        error_code(exc) == "ValidationException" and ("does not exist" in message or "not found" in message))


def describe_group(session: AwsSession, group: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    with translate("sagemaker:DescribeModelPackageGroup", session):
        try:
            return session.client("sagemaker").describe_model_package_group(ModelPackageGroupName=group)
        except ClientError as exc:
            if _missing(exc):
                return None
            raise


def require_group(session: AwsSession, group: str) -> dict[str, Any]:
    found = describe_group(session, group)
    if found is None:
        raise NotFound(f"model package group {group} does not exist in {session.region}",
                       hint=f"`byoc register {group} --model MODEL --image IMAGE` creates it with its first version.")
    return found


def ensure_group(session: AwsSession, group: str, *, out: IO[str] = STDERR) -> bool:
    """Create the group when DescribeModelPackageGroup says it is missing (a create over an
    existing group is never sent: moto overwrites one silently). True when it was created."""
    found = describe_group(session, group)
    if found is not None:
        status = found.get("ModelPackageGroupStatus")
        if status in ("Deleting", "DeleteFailed", "Failed"):
            raise Failed(f"model package group {group} is {status}; no version can be added to it")
        return False
    print(f"Creating model package group {group}", file=out)
    try:
        with translate("sagemaker:CreateModelPackageGroup", session):
            session.client("sagemaker").create_model_package_group(
                ModelPackageGroupName=group,
                ModelPackageGroupDescription="Versions of one model, registered with byoc")
    except Failed:
        if describe_group(session, group) is None:  # not a concurrent register that got there first
            raise
        return False
    return True


def describe_version(session: AwsSession, arn: str) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    with translate("sagemaker:DescribeModelPackage", session):
        try:
            return session.client("sagemaker").describe_model_package(ModelPackageName=arn)
        except ClientError as exc:
            if _missing(exc):
                raise NotFound(f"model package {arn} does not exist in {session.region}") from None
            raise


def _pages(session: AwsSession, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
    """ListModelPackages page by page, following NextToken (a filtered page can be empty on AWS
    while later ones are not)."""
    client = session.client("sagemaker")
    params = dict(params)
    while True:
        with translate("sagemaker:ListModelPackages", session):
            page = client.list_model_packages(**params)
        yield page.get("ModelPackageSummaryList") or []
        token = page.get("NextToken")
        if not token:
            return
        params["NextToken"] = token


def _list_params(group: str, *, approval: str | None = None, max_results: int = 100) -> dict[str, Any]:
    # ModelPackageType is sent because the API documents Unversioned as the default when it is
    # left out, which would exclude every version; the SDK omits it, and moto forces Versioned.
    params: dict[str, Any] = {"ModelPackageGroupName": group, "ModelPackageType": "Versioned",
                              "SortBy": "CreationTime", "SortOrder": "Descending", "MaxResults": max_results}
    if approval:
        params["ModelApprovalStatus"] = approval
    return params


def versions(session: AwsSession, group: str) -> Iterator[dict[str, Any]]:
    """The group's version summaries, newest first."""
    for page in _pages(session, _list_params(group)):
        yield from page


def latest_approved(session: AwsSession, group: str) -> dict[str, Any] | None:
    """The newest Approved version's summary, as the SDK finds it: Approved only, CreationTime
    Descending (the API's default order is Ascending, which gives the oldest), one per page,
    and on through empty pages while there is a NextToken."""
    for page in _pages(session, _list_params(group, approval=APPROVED, max_results=1)):
        if page:
            return page[0]
    return None


def resolve_version(session: AwsSession, group: str, version: str) -> str:
    """The ARN of version N (or the version ARN given) of the group."""
    text = version.strip()
    if text.startswith("arn:"):
        described = describe_version(session, text)
        if described.get("ModelPackageGroupName") != group:
            raise PreflightError(f"{text} is {version_label(described)}, not a version of {group}")
        return text
    if not text.isdigit() or int(text) < 1:
        raise PreflightError(f"version {version!r} is neither a version number (1, 2, ...) nor a model package ARN")
    wanted = int(text)
    require_group(session, group)
    seen = []
    for summary in versions(session, group):
        if summary.get("ModelPackageVersion") == wanted:
            return str(summary["ModelPackageArn"])
        seen.append(summary.get("ModelPackageVersion"))
    have = f"its versions are {_ranges(seen)}" if seen else "it has no versions yet"
    raise NotFound(f"model package group {group} has no version {wanted}; {have}")


def _ranges(numbers: list[Any]) -> str:
    values = sorted(n for n in numbers if isinstance(n, int))
    if len(values) > 2 and values == list(range(values[0], values[-1] + 1)):
        return f"{values[0]}-{values[-1]}"
    return ", ".join(str(v) for v in values)


def wait_completed(session: AwsSession, arn: str, *, delay: float | None = None, timeout: float | None = None,
                   out: IO[str] = STDERR) -> dict[str, Any]:
    """Poll DescribeModelPackage until ModelPackageStatus is Completed (there is no waiter)."""
    delay = POLL_SECONDS if delay is None else delay
    timeout = WAIT_SECONDS if timeout is None else timeout
    deadline = time.monotonic() + timeout
    progress: waiting.Progress | None = None
    try:
        while True:
            described = describe_version(session, arn)
            status = str(described.get("ModelPackageStatus", "?"))
            progress = progress or waiting.Progress(version_label(described), out)
            if status == "Completed":
                progress.done(status)
                return described
            if status in FAILED_STATUSES:
                progress.done(status)
                raise Failed(f"{version_label(described)} is {status}" + _failure_reasons(described),
                             hint=f"Remove it with `aws sagemaker delete-model-package --model-package-name {arn}`.")
            progress.show(status)
            if time.monotonic() >= deadline:
                raise TimedOut(f"Stopped waiting after {progress.elapsed()}: {version_label(described)} is still "
                               f"{status}", hint=f"Follow it: aws sagemaker describe-model-package "
                               f"--model-package-name {arn}")
            time.sleep(max(0.0, min(delay, deadline - time.monotonic())))
    except KeyboardInterrupt:
        out.write(f"\nStopped waiting: {arn} carries on in AWS.\n")
        raise


def _failure_reasons(described: Mapping[str, Any]) -> str:
    details = described.get("ModelPackageStatusDetails") or {}
    reasons = [f"{s.get('Name')}: {s.get('FailureReason')}"
               for key in ("ValidationStatuses", "ImageScanStatuses") for s in details.get(key) or []
               if s.get("FailureReason")]
    return (": " + "; ".join(reasons)) if reasons else ""


# -- where a model comes from ------------------------------------------------------------------


@dataclass
class JobModel:
    """The model a training job wrote, and the image it trained with."""

    job: str
    arn: str
    artifacts: str
    image: str | None


def training_job_model(session: AwsSession, name: str, *, what: str | None = None) -> JobModel:
    """DescribeTrainingJob: its ModelArtifacts, once it has Completed."""
    what = what or f"training job {name}"
    with translate("sagemaker:DescribeTrainingJob", session, not_found=f"{what} does not exist"):
        described = session.client("sagemaker").describe_training_job(TrainingJobName=name)
    status = described.get("TrainingJobStatus")
    artifacts = (described.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
    if status != "Completed":
        hint = (f"`aws sagemaker wait training-job-completed-or-stopped --training-job-name {name}` waits for it."
                if status in ("InProgress", "Stopping") else None)
        raise PreflightError(f"{what} is {status}, not Completed: it has no model to register", hint=hint)
    if not artifacts:
        raise PreflightError(f"{what} Completed but names no model artifacts (ModelArtifacts.S3ModelArtifacts)")
    return JobModel(name, str(described.get("TrainingJobArn", "")), str(artifacts),
                    (described.get("AlgorithmSpecification") or {}).get("TrainingImage"))


# -- register ----------------------------------------------------------------------------------


@dataclass
class RegisterSpec:
    """What `byoc register` was asked: a group, one model source, and what the version says."""

    group: str
    model: str | None = None
    training_job: str | None = None
    tuning_job: str | None = None
    image: str | None = None
    approve: bool = False
    description: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    realtime_types: list[str] = field(default_factory=lambda: list(DEFAULT_REALTIME_INSTANCE_TYPES))
    transform_types: list[str] = field(default_factory=lambda: list(DEFAULT_TRANSFORM_INSTANCE_TYPES))
    prefix: str = "byoc"

    @property
    def sources(self) -> list[str]:
        return [flag for flag, value in (("--model", self.model), ("--training-job", self.training_job),
                                         ("--tuning-job", self.tuning_job)) if value]


def spec_problems(spec: RegisterSpec, region: str) -> list[str]:
    """Everything checkable before AWS: names, the one model source, the image when given here,
    instance types, properties, lengths."""
    problems: list[str | None] = [names.problem("model package group", spec.group)]
    if len(spec.sources) != 1:
        problems.append("give the model as exactly one of --model, --training-job or --tuning-job"
                        + (f" (not {' and '.join(spec.sources)})" if spec.sources else ""))
    if spec.model is not None:
        problems.append(preflight.model_source_problem(spec.model))
        if not spec.image:
            problems.append("--image is needed with --model: the ECR image that serves it "
                            "(a training job's own image is taken when none is given)")
    if spec.training_job is not None:
        problems.append(names.problem("training job", spec.training_job))
    if spec.tuning_job is not None and not spec.tuning_job.strip():
        problems.append("--tuning-job is empty")
    if spec.image:
        problems += image_problems(spec.image, spec.realtime_types, region)
    problems += instance_types_problems(spec.realtime_types, "real-time")
    problems += instance_types_problems(spec.transform_types, "transform")
    problems.append(description_problem(spec.description))
    problems += [property_problem(k, v) for k, v in spec.properties.items()]
    if len(spec.properties) > PROPERTIES_MAX:
        problems.append(f"{len(spec.properties)} --property values; a version takes at most {PROPERTIES_MAX}")
    return [p for p in problems if p]


@dataclass
class Registered:
    arn: str
    version: int | None
    status: str
    approval: str
    model_data_url: str
    image: str
    metrics_uri: str | None
    group_created: bool
    properties: dict[str, str]
    notes: list[str] = field(default_factory=list)


def register(session: AwsSession, spec: RegisterSpec, model: modeldata.PreparedModel | None,
             bucket: Callable[[], str], *, load: bool = True, delay: float | None = None,
             timeout: float | None = None, out: IO[str] = STDERR) -> Registered:
    """A new version in spec.group. model is the --model argument already checked (None for a
    training or tuning job, whose artifacts are looked up here and checked in place)."""
    image = spec.image
    generated_by = None
    if model is None:
        job_name = spec.training_job
        what = None
        if spec.tuning_job:
            best = tuning.best_training_job(session, spec.tuning_job)
            score = f" ({best.metric} = {best.value:g})" if best.value is not None else ""
            print(f"Best training job of tuning job {spec.tuning_job}: {best.name}{score}", file=out)
            job_name = best.name
            what = f"training job {job_name}, the best of tuning job {spec.tuning_job},"
        job = training_job_model(session, str(job_name), what=what)
        print(f"Model of training job {job.job}: {job.artifacts}", file=out)
        generated_by = job.arn or None
        if not image:
            image = job.image
            if not image:
                raise PreflightError(f"training job {job.job} names no TrainingImage; give --image")
            preflight.require(image_problems(image, spec.realtime_types, session.region),
                              hint="The training job's image is taken unless --image names another.")
        model = modeldata.PreparedModel(job.artifacts, None, modeldata.CheckedModel(), load)
    assert image is not None
    ecr.require_image(session, image, out=out)
    model.check_in_place(session, out=out)

    properties, notes = metadata_properties(model.checked.metadata)
    properties, dropped = merged_properties(properties, spec.properties)
    notes += model.checked.notes + dropped
    report = metrics_report(model.checked.metadata)
    if report is None:
        notes.append("no metrics from the model's metadata.json (none there, or it was not read): "
                     "the version has no ModelMetrics")

    created = ensure_group(session, spec.group, out=out)
    version_folder = names.unique(spec.group)

    def folder() -> s3.S3Uri:  # the bucket is looked up (or made) only when something is uploaded
        return s3.S3Uri(bucket()).join(spec.prefix, "registry", spec.group, version_folder)

    data_url = str(model.uri(session, lambda: folder().join(modeldata.ARCHIVE_NAME), out=out))
    model_metrics = None
    metrics_uri = None
    if report is not None:
        body = (json.dumps(report, indent=2, sort_keys=True) + "\n").encode()
        metrics_uri = str(_upload_bytes(session, body, folder().join(METRICS_FILE), out=out))
        model_metrics = metrics_source(metrics_uri, body)

    approval = APPROVED if spec.approve else PENDING
    request = build_create_model_package(
        group=spec.group, image=image, model_data_url=data_url, approval=approval,
        realtime_types=spec.realtime_types, transform_types=spec.transform_types,
        description=spec.description or _default_description(spec), properties=properties,
        model_metrics=model_metrics, generated_by=generated_by, client_token=str(uuid.uuid4()))
    print(f"Creating a version in model package group {spec.group} ({approval})", file=out)
    with translate("sagemaker:CreateModelPackage", session):
        arn = str(session.client("sagemaker").create_model_package(**request)["ModelPackageArn"])
    described = wait_completed(session, arn, delay=delay, timeout=timeout, out=out)
    return Registered(arn=arn, version=described.get("ModelPackageVersion"),
                      status=str(described.get("ModelPackageStatus")),
                      approval=str(described.get("ModelApprovalStatus", approval)), model_data_url=data_url,
                      image=image, metrics_uri=metrics_uri, group_created=created, properties=properties,
                      notes=notes)


def _default_description(spec: RegisterSpec) -> str:
    if spec.tuning_job:
        return f"The best model of tuning job {spec.tuning_job}"
    if spec.training_job:
        return f"The model of training job {spec.training_job}"
    return f"Registered with byoc from {spec.model}"[:DESCRIPTION_MAX]


def _upload_bytes(session: AwsSession, body: bytes, target: s3.S3Uri, *, out: IO[str]) -> s3.S3Uri:
    with tempfile.TemporaryDirectory(prefix="byoc-registry-") as tmp:
        path = Path(tmp) / METRICS_FILE
        path.write_bytes(body)
        return s3.upload_file(session, path, target, out=out)


# -- approve -----------------------------------------------------------------------------------


@dataclass
class ApprovalChange:
    arn: str
    label: str
    before: str | None
    after: str | None
    description: str | None


def set_approval(session: AwsSession, group: str, version: str, status: str, *,
                 description: str | None = None) -> ApprovalChange:
    """Approve or reject a version (number or ARN) of group, keeping its metadata."""
    arn = resolve_version(session, group, version)
    described = describe_version(session, arn)
    if described.get("ModelPackageStatus") != "Completed":
        raise Failed(f"{version_label(described)} is {described.get('ModelPackageStatus')}; its approval can "
                     "change once it is Completed")
    with translate("sagemaker:UpdateModelPackage", session):
        session.client("sagemaker").update_model_package(**build_approval_update(described, status, description))
    after = describe_version(session, arn)
    return ApprovalChange(arn, version_label(after), described.get("ModelApprovalStatus"),
                          after.get("ModelApprovalStatus"), after.get("ApprovalDescription"))


# -- deploy ------------------------------------------------------------------------------------


@dataclass
class Deployable:
    """An Approved version, with what a deploy reads from it."""

    arn: str
    label: str
    image: str | None
    model_data_url: str | None
    realtime_types: list[str]
    properties: dict[str, str]

    @property
    def metadata(self) -> dict[str, Any]:
        """What the model's metadata.json said that a deploy uses (n_features, for the smoke request)."""
        found: dict[str, Any] = {}
        n = self.properties.get("n_features", "")
        if n.isdigit():
            found["n_features"] = int(n)
        return found


def deployable(session: AwsSession, *, arn: str | None = None, group: str | None = None,
               out: IO[str] = STDERR) -> Deployable:
    """The version to deploy: the ARN given, or the group's latest Approved one; refused
    (PreflightError, nothing created) unless it is Approved and Completed."""
    if group:
        require_group(session, group)
        latest = latest_approved(session, group)
        if latest is None:
            waiting_versions = [str(s.get("ModelPackageVersion")) for s in versions(session, group)
                                if s.get("ModelApprovalStatus") in (PENDING, None)]
            hint = (f"Approve one: `byoc approve {group} {waiting_versions[0]}` (pending: {', '.join(waiting_versions)})."
                    if waiting_versions else f"Register one: `byoc register {group} --model MODEL --image IMAGE --approve`.")
            raise PreflightError(f"model package group {group} has no Approved version", hint=hint)
        arn = str(latest["ModelPackageArn"])
        print(f"Latest Approved version of {group}: {latest.get('ModelPackageVersion')} ({arn})", file=out)
    assert arn is not None
    described = describe_version(session, arn)
    label = version_label(described)
    status = described.get("ModelPackageStatus")
    if status != "Completed":
        raise PreflightError(f"{label} is {status}, not Completed: it cannot be deployed yet")
    approval = described.get("ModelApprovalStatus")
    if described.get("ModelPackageGroupName") and approval != APPROVED:
        hint = (f"Approve it first: `byoc approve {described['ModelPackageGroupName']} "
                f"{described.get('ModelPackageVersion')}`")
        if approval == REJECTED:
            hint += " (it was Rejected" + (f": {described['ApprovalDescription']}" if described.get(
                "ApprovalDescription") else "") + ")"
        raise PreflightError(f"{label} is {approval or 'without an approval status'}, not Approved: "
                             "only an Approved version is deployed", hint=hint + ".")
    containers = (described.get("InferenceSpecification") or {}).get("Containers") or [{}]
    return Deployable(arn=arn, label=label, image=containers[0].get("Image"),
                      model_data_url=containers[0].get("ModelDataUrl"),
                      realtime_types=list((described.get("InferenceSpecification") or {}).get(
                          "SupportedRealtimeInferenceInstanceTypes") or []),
                      properties=dict(described.get("CustomerMetadataProperties") or {}))
