"""s3:// URIs, bucket regions and uploads.

SageMaker reads model data and training data from buckets in its own region, so every bucket
a command names is checked for its region before anything is created.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable

from .console import STDERR
from ..errors import NotFound, PreflightError
from .session import AwsSession, error_code, http_status, translate

S3_URI_MAX = 1024


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str = ""

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def join(self, *parts: str) -> "S3Uri":
        key = "/".join(p.strip("/") for p in (self.key, *parts) if p.strip("/"))
        return S3Uri(self.bucket, key)


def is_s3(text: str | Path) -> bool:
    return str(text).startswith("s3://")


def parse(uri: str) -> S3Uri:
    """s3://bucket/key -> S3Uri, or a PreflightError naming what is wrong."""
    if not uri.startswith("s3://"):
        raise PreflightError(f"{uri!r} is not an s3:// URI")
    if len(uri) > S3_URI_MAX:
        raise PreflightError(f"S3 URI is {len(uri)} characters; SageMaker takes at most {S3_URI_MAX}")
    bucket, _, key = uri[5:].partition("/")
    if not bucket:
        raise PreflightError(f"{uri!r} names no bucket")
    return S3Uri(bucket, key)


def uri_problems(uri: str, what: str) -> list[str]:
    """parse()'s problems as pre-flight sentences naming the argument."""
    try:
        parse(uri)
    except PreflightError as exc:
        return [f"{what}: {p}" for p in exc.problems]
    return []


def source_problem(source: str, what: str) -> str | None:
    """An input is an s3:// URI or a local file or folder that exists (uploaded later)."""
    if is_s3(source):
        problems = uri_problems(source, what)
        return problems[0] if problems else None
    if not source or not Path(source).exists():
        return f"{what}: {source!r} is neither s3:// nor an existing file or folder"
    return None


def check_inputs(session: AwsSession, uri: str, what: str, consequence: str = "") -> None:
    """An s3:// input prefix: its bucket in the session's region, and something under it."""
    check_bucket(session, parse(uri).bucket, purpose=what)
    if not has_objects(session, parse(uri)):
        raise PreflightError(f"{what}: nothing under {uri}" + (f"; {consequence}" if consequence else ""))


def lazy_bucket(session: AwsSession, explicit: str | None) -> Callable[[], str]:
    """The bucket for uploads, looked up (and the default one created) only when something is
    uploaded: --bucket (checked: exists, same region), else the SDK's default bucket."""

    @functools.cache
    def bucket() -> str:
        if explicit:
            check_bucket(session, explicit, purpose="--bucket")
            return explicit
        name = default_bucket(session.region, session.account())
        ensure_bucket(session, name)
        return name

    return bucket


def default_bucket(region: str, account: str) -> str:
    """The SageMaker Python SDK's default bucket name, so both tools share one bucket."""
    return f"sagemaker-{region}-{account}"


def bucket_region(session: AwsSession, bucket: str) -> str | None:
    """The bucket's region, or None when the bucket does not exist.

    HeadBucket reports the region in a header even when it answers 403 (the bucket exists but
    is not yours to list), so that is tried first; GetBucketLocation is the fallback.
    """
    from botocore.exceptions import ClientError

    client = session.client("s3")
    try:
        response = client.head_bucket(Bucket=bucket)
        headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        if headers.get("x-amz-bucket-region"):
            return headers["x-amz-bucket-region"]
    except ClientError as exc:
        if http_status(exc) == 404 or error_code(exc) in ("404", "NoSuchBucket"):
            return None
        headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        if headers.get("x-amz-bucket-region"):
            return headers["x-amz-bucket-region"]
    with translate("s3:GetBucketLocation", session, not_found=f"S3 bucket {bucket} does not exist."):
        location = client.get_bucket_location(Bucket=bucket).get("LocationConstraint")
    return {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location, location)


def check_bucket(session: AwsSession, bucket: str, *, purpose: str) -> None:
    """Refuse a bucket that is missing or in another region than the session's."""
    region = bucket_region(session, bucket)
    if region is None:
        raise NotFound(f"S3 bucket {bucket} ({purpose}) does not exist.")
    if region != session.region:
        raise PreflightError(
            f"S3 bucket {bucket} ({purpose}) is in {region}, but you are working in "
            f"{session.region}; SageMaker needs its S3 data in its own region",
            hint=f"Use a bucket in {session.region}, or pass --region {region}.",
        )


def ensure_bucket(session: AwsSession, bucket: str, *, out: IO[str] = STDERR) -> None:
    """Create the bucket in the session's region when it does not exist; check it when it does."""
    region = bucket_region(session, bucket)
    if region is None:
        print(f"Creating S3 bucket {bucket} in {session.region}", file=out)
        params: dict[str, Any] = {"Bucket": bucket}
        if session.region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": session.region}
        with translate("s3:CreateBucket", session):
            session.client("s3").create_bucket(**params)
        return
    check_bucket(session, bucket, purpose="default bucket")


def upload_file(session: AwsSession, path: Path, target: S3Uri, *, out: IO[str] = STDERR) -> S3Uri:
    size = path.stat().st_size
    print(f"Uploading {path} ({size / 1e6:.1f} MB) to {target}", file=out)
    with translate("s3:PutObject", session, not_found=f"S3 bucket {target.bucket} does not exist."):
        session.client("s3").upload_file(str(path), target.bucket, target.key)
    return target


def upload_tree(session: AwsSession, source: Path, target: S3Uri, *, out: IO[str] = STDERR) -> S3Uri:
    """A file, or every file under a folder, under the target prefix (which gets a trailing /)."""
    files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
    if not files:
        raise PreflightError(f"{source} holds no files to upload")
    total = sum(p.stat().st_size for p in files)
    print(f"Uploading {len(files)} file(s) ({total / 1e6:.1f} MB) from {source} to {target}/", file=out)
    client = session.client("s3")
    with translate("s3:PutObject", session, not_found=f"S3 bucket {target.bucket} does not exist."):
        for path in files:
            relative = path.name if source.is_file() else path.relative_to(source).as_posix()
            client.upload_file(str(path), target.bucket, target.join(relative).key)
    return S3Uri(target.bucket, target.key.rstrip("/") + "/")


def object_size(session: AwsSession, uri: S3Uri) -> int:
    with translate("s3:GetObject", session, not_found=f"{uri} does not exist."):
        return int(session.client("s3").head_object(Bucket=uri.bucket, Key=uri.key)["ContentLength"])


def download(session: AwsSession, uri: S3Uri, path: Path) -> Path:
    with translate("s3:GetObject", session, not_found=f"{uri} does not exist."):
        session.client("s3").download_file(uri.bucket, uri.key, str(path))
    return path


def has_objects(session: AwsSession, uri: S3Uri) -> bool:
    """True when at least one object sits under the prefix."""
    with translate("s3:ListBucket", session, not_found=f"S3 bucket {uri.bucket} does not exist."):
        response = session.client("s3").list_objects_v2(Bucket=uri.bucket, Prefix=uri.key, MaxKeys=1)
    return bool(response.get("KeyCount") or response.get("Contents"))
