"""Checks that refuse bad input before anything is created in AWS.

Each check returns the problems it finds as sentences a user can act on (an empty list when
all is well); require() raises them together, so one run shows everything that is wrong.
Only local_image_architecture() touches anything outside the process (the Docker engine), and
it reports "unknown" rather than fail when there is no engine or the image is not local.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import IO, Iterable, Mapping

from container.settings import MAX_BATCH_PAYLOAD_PRODUCT

from .console import STDERR
from .ecr import ECR_IMAGE
from ..errors import PreflightError

ROLE_ARN = re.compile(r"arn:aws(-cn|-us-gov|-iso[a-z-]*)?:iam::(\d{12}):role/[\w+=,.@/-]{1,512}")
INSTANCE_TYPE = re.compile(r"ml\.([a-z0-9-]+)\.([a-z0-9-]+)")
#: Graviton families: a generation digit followed by g (c6g, c6gd, c7gn, m8g, r7gd, ...).
GRAVITON_FAMILY = re.compile(r"[a-z]+\d+g[a-z]*")
IMAGE_URI_MAX = 255
ENV_KEY = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")

#: kind -> (max entries, max key length, max value length, max total bytes or None)
ENVIRONMENT_LIMITS = {
    "model": (100, 1024, 1024, 32 * 1024),
    "training": (100, 512, 512, None),
    "transform": (16, 1024, 10240, None),
    "processing": (100, 256, 256, None),
}
HYPERPARAMETERS_MAX = 100
HYPERPARAMETER_KEY_MAX = 256
HYPERPARAMETER_VALUE_MAX = 2500  # the API model; its prose says 256 (contract doc, 10.2)
HYPERPARAMETER_VALUE_SAFE = 256
METRIC_DEFINITIONS_MAX = 40
#: InvokeEndpoint's request limit, 6 MB; the runtime's default SAGEMAKER_MAX_PAYLOAD_IN_MB matches it.
INVOKE_BODY_MAX = 6 * 1024 * 1024
#: MaxPayloadInMB's range in CreateTransformJob.
TRANSFORM_PAYLOAD_MB_MAX = 100


def require(problems: Iterable[str | None], *, hint: str | None = None) -> None:
    found = [p for p in problems if p]
    if found:
        raise PreflightError(found, hint=hint)


def role_arn_problem(arn: str | None) -> str | None:
    if not arn:
        return ("an execution role is needed (--role arn:aws:iam::ACCOUNT:role/NAME): SageMaker "
                "assumes it to pull the image from ECR and read and write S3")
    if ROLE_ARN.fullmatch(arn) and 20 <= len(arn) <= 2048:
        return None
    if not arn.startswith("arn:"):
        return (f"role {arn!r} is not an ARN; pass the role's full ARN, "
                f"arn:aws:iam::ACCOUNT:role/{arn.split('/')[-1]}")
    if ":assumed-role/" in arn:
        return (f"{arn!r} is an STS session, not a role; pass the role's ARN, "
                "arn:aws:iam::ACCOUNT:role/NAME")
    if ":user/" in arn:
        return f"{arn!r} is an IAM user; SageMaker needs a role it can assume (arn:aws:iam::ACCOUNT:role/NAME)"
    if ":instance-profile/" in arn:
        return f"{arn!r} is an instance profile; pass the role inside it (arn:aws:iam::ACCOUNT:role/NAME)"
    return f"role ARN {arn!r} is malformed; expected arn:aws:iam::ACCOUNT:role/NAME (12-digit account)"


def image_uri_problems(uri: str | None, region: str | None = None) -> list[str]:
    if not uri:
        return ["an image URI is needed (--image ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME:TAG, "
                "the last line build_and_push.sh prints)"]
    problems = []
    if len(uri) > IMAGE_URI_MAX:
        problems.append(f"image URI is {len(uri)} characters; SageMaker takes at most {IMAGE_URI_MAX}")
    match = ECR_IMAGE.fullmatch(uri)
    if not match:
        problems.append(
            f"image {uri!r} is not an Amazon ECR image URI (ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME:TAG); "
            "SageMaker pulls from ECR: push the image with ./build_and_push.sh NAME and use the URI it prints")
        return problems
    if not match.group("ref"):
        problems.append(f"image {uri!r} has no :tag or @digest; name the exact image to run")
    if region and match.group("region") != region:
        problems.append(
            f"image {uri!r} is in {match.group('region')}, but you are working in {region}; "
            "SageMaker pulls images from its own region only (push it there, or pass --region)")
    return problems


def image_problems(image: str | None, instance_type: str, region: str, *, out: IO[str] = STDERR) -> list[str]:
    """The URI (ECR, region, tag), and the local image's architecture against the instance type;
    notes on what could not be checked go to out."""
    problems = image_uri_problems(image, region)
    if image:
        arch, note = local_image_architecture(image)
        if arch is None:
            print(f"Architecture of {image} not checked: {note}. It must be linux/"
                  f"{expected_architecture(instance_type)} for {instance_type}.", file=out)
        problems.append(architecture_problem(image, arch, instance_type))
        if image.endswith(":latest"):
            print(f"Note: {image} uses the moving tag 'latest'; the immutable tag build_and_push.sh "
                  "printed says exactly what runs.", file=out)
    return [p for p in problems if p]


def model_source_problem(model: str | Path | None, flag: str = "--model") -> str | None:
    """A model argument names a folder, a model.tar.gz or an s3:// URI; an empty one names
    nothing (it is not taken for the current folder)."""
    text = "" if model is None else str(model)
    if not text.strip():
        return f"{flag} is empty: give a model folder, a model.tar.gz or an s3://.../model.tar.gz URI"
    if text.startswith("s3://"):
        return None
    if not Path(text).exists():
        return f"{flag} {text} does not exist"
    return None


def instance_type_problem(instance_type: str, purpose: str) -> str | None:
    """purpose: 'endpoint', 'training' or 'transform'."""
    if not INSTANCE_TYPE.fullmatch(instance_type or ""):
        return f"instance type {instance_type!r} is not a SageMaker type such as ml.m5.large"
    if purpose != "endpoint" and is_graviton(instance_type):
        return (f"{instance_type} is a Graviton (arm64) type; SageMaker offers those for endpoints only. "
                f"{purpose.capitalize()} instance types are all x86: use e.g. ml.m5.large")
    return None


def is_graviton(instance_type: str) -> bool:
    match = INSTANCE_TYPE.fullmatch(instance_type or "")
    return bool(match and GRAVITON_FAMILY.fullmatch(match.group(1)))


def expected_architecture(instance_type: str) -> str:
    return "arm64" if is_graviton(instance_type) else "amd64"


def normalize_architecture(arch: str) -> str:
    arch = arch.lower().removeprefix("linux/")
    return {"x86_64": "amd64", "aarch64": "arm64", "arm64/v8": "arm64"}.get(arch, arch)


def architecture_problem(image: str, image_arch: str | None, instance_type: str) -> str | None:
    if image_arch is None:
        return None
    have, want = normalize_architecture(image_arch), expected_architecture(instance_type)
    if have == want:
        return None
    platform = f"linux/{want}"
    return (f"image {image} is linux/{have}, but {instance_type} runs linux/{want}: the container "
            f"would die with 'exec format error'. Rebuild with PLATFORM={platform} ./build_and_push.sh"
            + (" (or pick a Graviton type such as ml.c7g.large)" if have == "arm64" else ""))


def local_image_architecture(image: str) -> tuple[str | None, str]:
    """(architecture, note) of an image in the local Docker engine; (None, why) when unknown."""
    try:
        import docker
        from docker.errors import DockerException, ImageNotFound
    except ImportError:
        return None, "the docker package is not installed"
    try:
        client = docker.from_env(timeout=10)
    except DockerException as exc:
        return None, f"no Docker engine ({exc.__class__.__name__})"
    try:
        attrs = client.images.get(image).attrs
    except ImageNotFound:
        return None, "the image is not in the local Docker engine"
    except DockerException as exc:
        return None, f"Docker could not inspect it ({exc})"
    finally:
        client.close()
    return str(attrs.get("Architecture") or ""), f"local image {attrs.get('Os', 'linux')}/{attrs.get('Architecture')}"


def environment_problems(env: Mapping[str, str], kind: str) -> list[str]:
    entries, key_max, value_max, total_max = ENVIRONMENT_LIMITS[kind]
    problems = []
    if len(env) > entries:
        problems.append(f"{len(env)} {kind} environment variables; SageMaker takes at most {entries}")
    for key, value in env.items():
        if not ENV_KEY.fullmatch(key):
            problems.append(f"environment variable name {key!r} is not valid ([a-zA-Z_][a-zA-Z0-9_]*)")
        if len(key) > key_max:
            problems.append(f"environment variable name {key[:30]}... is over {key_max} characters")
        if len(str(value)) > value_max:
            problems.append(f"environment variable {key} is {len(str(value))} characters; "
                            f"the {kind} limit is {value_max}")
    total = sum(len(k.encode()) + len(str(v).encode()) for k, v in env.items())
    if total_max and total > total_max:
        problems.append(f"the {kind} environment is {total} bytes; the limit is {total_max}")
    return problems


def hyperparameter_problems(hyperparameters: Mapping[str, str]) -> list[str]:
    problems = []
    if len(hyperparameters) > HYPERPARAMETERS_MAX:
        problems.append(f"{len(hyperparameters)} hyperparameters; SageMaker takes at most {HYPERPARAMETERS_MAX}")
    for key, value in hyperparameters.items():
        if not isinstance(value, str):
            problems.append(f"hyperparameter {key} is {type(value).__name__}, not a string (stringify with to_api())")
            continue
        if not key or len(key) > HYPERPARAMETER_KEY_MAX:
            problems.append(f"hyperparameter name {key[:30]!r} must be 1-{HYPERPARAMETER_KEY_MAX} characters")
        if len(value) > HYPERPARAMETER_VALUE_MAX:
            problems.append(f"hyperparameter {key} is {len(value)} characters; the limit is "
                            f"{HYPERPARAMETER_VALUE_MAX} (and AWS's prose says {HYPERPARAMETER_VALUE_SAFE})")
    return problems


def hyperparameter_warnings(hyperparameters: Mapping[str, str]) -> list[str]:
    return [f"hyperparameter {key} is {len(value)} characters: the API model allows "
            f"{HYPERPARAMETER_VALUE_MAX}, AWS's documentation says {HYPERPARAMETER_VALUE_SAFE}"
            for key, value in hyperparameters.items()
            if isinstance(value, str) and HYPERPARAMETER_VALUE_SAFE < len(value) <= HYPERPARAMETER_VALUE_MAX]


def metric_definition_problems(definitions: list[Mapping[str, str]], sample_line=None) -> list[str]:
    """The definitions are within the API's limits and each regex reads the runtime's own lines.

    sample_line(name) gives the line the runtime prints for a metric of that name; each
    regex must capture a number from it, or tuning jobs would find no metric.
    """
    problems = []
    if len(definitions) > METRIC_DEFINITIONS_MAX:
        problems.append(f"{len(definitions)} metric definitions; SageMaker takes at most {METRIC_DEFINITIONS_MAX}")
    for definition in definitions:
        name, pattern = definition.get("Name", ""), definition.get("Regex", "")
        if not 1 <= len(name) <= 255:
            problems.append(f"metric name {name[:30]!r} must be 1-255 characters")
        if not 1 <= len(pattern) <= 500:
            problems.append(f"metric {name} regex must be 1-500 characters")
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            problems.append(f"metric {name} regex {pattern!r} does not compile: {exc}")
            continue
        if compiled.groups < 1:
            problems.append(f"metric {name} regex has no capture group; SageMaker reads the first one")
        elif sample_line is not None:
            match = compiled.search(sample_line(name))
            try:
                float(match.group(1)) if match else float("x")
            except ValueError:
                problems.append(f"metric {name} regex does not capture a number from the line "
                                f"the runtime prints ({sample_line(name)!r})")
    return problems


def transform_problems(max_concurrent: int | None, max_payload_mb: int | None) -> list[str]:
    problems = []
    if max_payload_mb is not None and not 0 <= max_payload_mb <= TRANSFORM_PAYLOAD_MB_MAX:
        problems.append(f"--max-payload-mb {max_payload_mb} is outside 0-{TRANSFORM_PAYLOAD_MB_MAX}")
    if max_concurrent is not None and max_concurrent < 1:
        problems.append(f"--max-concurrent {max_concurrent} must be at least 1")
    if max_concurrent and max_payload_mb and max_concurrent * max_payload_mb > MAX_BATCH_PAYLOAD_PRODUCT:
        problems.append(f"--max-concurrent x --max-payload-mb is {max_concurrent * max_payload_mb}; "
                        f"SageMaker refuses more than {MAX_BATCH_PAYLOAD_PRODUCT}")
    return problems


def count_problem(value: int, what: str, low: int = 1, high: int | None = None) -> str | None:
    if value < low or (high is not None and value > high):
        bound = f"{low}-{high}" if high is not None else f"at least {low}"
        return f"{what} is {value}; it must be {bound}"
    return None
