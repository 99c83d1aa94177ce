"""s3:// URIs, bucket regions and uploads.

SageMaker reads model data and training data from buckets in its own region, so every bucket
a command names is checked for its region before anything is created.

The bucket byoc uploads to (--bucket, or the SDK's default sagemaker-REGION-ACCOUNT) must be
the caller's own: every call on it, and every download of a model byoc opens, names the
caller's account as ExpectedBucketOwner, and a default bucket that answers 403 is refused.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable

from .console import STDERR
from ..errors import NotFound, PreflightError, SetupError
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
    uploaded: --bucket, else the SDK's default bucket (created when missing). Either must be
    this account's, in the session's region; every call on it names the owner (see owned())."""

    @functools.cache
    def bucket() -> str:
        if explicit:
            check_bucket(session, explicit, purpose="--bucket", owner=session.account())
            return explicit
        return ensure_default_bucket(session)

    return bucket


def default_bucket(region: str, account: str) -> str:
    """The SageMaker Python SDK's default bucket name, so both tools share one bucket."""
    return f"sagemaker-{region}-{account}"


def is_default_bucket_name(session: AwsSession, bucket: str) -> bool:
    """sagemaker-<any region>-<this account>: a name anyone can predict, so never trusted blindly."""
    return bucket.startswith("sagemaker-") and bucket.endswith(f"-{session.account()}")


def owned(session: AwsSession) -> dict[str, str]:
    """ExpectedBucketOwner for a call on a bucket byoc writes to, or reads a model from.

    Bucket names are global and the default one is predictable, so another account can create
    it first; S3 then refuses (403) any call that names this account as the owner, rather than
    taking the user's data or handing back someone else's model.tar.gz.
    """
    return {"ExpectedBucketOwner": session.account()}


def _owner(session: AwsSession, bucket: str, owner: str | None) -> dict[str, str]:
    """ExpectedBucketOwner when owner is given, or the bucket has a default bucket's name; else nothing."""
    if owner or is_default_bucket_name(session, bucket):
        return {"ExpectedBucketOwner": owner or session.account()}
    return {}


def _not_owned(session: AwsSession, bucket: str, action: str) -> str:
    return (f"S3 bucket {bucket} refused {action} as a bucket of account {session.account()}: either another "
            f"account owns it, or you lack {action} on it. byoc only writes to, and only reads models "
            "from, buckets your account owns.")


def _refused(session: AwsSession, bucket: str, purpose: str,
             answer: str = "S3 answered 403 Forbidden to a request naming your account as its owner") -> SetupError:
    """A bucket that answered 403 to HeadBucket naming this account as its owner (or was made
    by another account between that HeadBucket and CreateBucket)."""
    if is_default_bucket_name(session, bucket):
        why = ("Its name is predictable, so another account may have made it to receive your data or "
               "hand you its model: byoc will not use it.")
    else:
        why = "byoc uploads only to a bucket S3 confirms is yours."
    return SetupError(
        f"S3 bucket {bucket} ({purpose}) exists, but not as a bucket account {session.account()} may use "
        f"({answer}). {why}",
        hint="Name a bucket your account owns with --bucket NAME (make one with `aws s3 mb s3://NAME "
             f"--region {session.region}`). If {bucket} is yours, you lack s3:ListBucket on it.")


def _head(session: AwsSession, bucket: str, owner: dict[str, str]) -> tuple[int, str | None]:
    """HeadBucket's answer: (its HTTP status, the region S3 names in a header, if any).

    S3 names the bucket's region even in a 403 (the bucket exists, but is not yours to use).
    Another status (a redirect botocore could not follow) leaves GetBucketLocation to decide.
    """
    from botocore.exceptions import ClientError

    with translate("s3:ListBucket", session):
        try:
            response = session.client("s3").head_bucket(Bucket=bucket, **owner)
        except ClientError as exc:
            if http_status(exc) == 404 or error_code(exc) in ("404", "NoSuchBucket"):
                return 404, None
            headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
            return http_status(exc) or 0, headers.get("x-amz-bucket-region")
    headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    return 200, headers.get("x-amz-bucket-region")


def _location(session: AwsSession, bucket: str, owner: dict[str, str]) -> str:
    """GetBucketLocation, for when HeadBucket named no region."""
    with translate("s3:GetBucketLocation", session, not_found=f"S3 bucket {bucket} does not exist.",
                   forbidden=_not_owned(session, bucket, "s3:GetBucketLocation") if owner else None):
        location = session.client("s3").get_bucket_location(Bucket=bucket, **owner).get("LocationConstraint")
    return {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location, location)


def check_bucket(session: AwsSession, bucket: str, *, purpose: str, owner: str | None = None) -> None:
    """Refuse a bucket that is missing, in another region than the session's, or (when an owner
    is named) not confirmed as the owner's.

    owner is given for the bucket byoc uploads to. s3:// inputs and outputs you name are checked
    without one, as SageMaker, not byoc, reads and writes them with the job's role, and they may
    be data shared from another account; unless the bucket has a default bucket's name
    (sagemaker-REGION-ACCOUNT), which must be this account's.
    """
    expected = _owner(session, bucket, owner)
    status, region = _head(session, bucket, expected)
    if status == 404:
        raise NotFound(f"S3 bucket {bucket} ({purpose}) does not exist.")
    if status == 403 and expected:
        raise _refused(session, bucket, purpose)
    _same_region(session, bucket, purpose, region or _location(session, bucket, expected))


def _same_region(session: AwsSession, bucket: str, purpose: str, region: str) -> None:
    if region != session.region:
        raise PreflightError(
            f"S3 bucket {bucket} ({purpose}) is in {region}, but you are working in "
            f"{session.region}; SageMaker needs its S3 data in its own region",
            hint=f"Use a bucket in {session.region}, or pass --region {region}.",
        )


def ensure_default_bucket(session: AwsSession, *, out: IO[str] = STDERR) -> str:
    """sagemaker-REGION-ACCOUNT, created in the session's region when missing, refused when it
    answers 403 (see check_bucket). Returns its name."""
    name = default_bucket(session.region, session.account())
    expected = owned(session)
    status, region = _head(session, name, expected)
    if status == 403:
        raise _refused(session, name, "the default bucket")
    if status == 404:
        print(f"Creating S3 bucket {name} in {session.region}", file=out)
        params: dict[str, Any] = {"Bucket": name}
        if session.region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": session.region}
        from botocore.exceptions import ClientError

        with translate("s3:CreateBucket", session):
            try:
                session.client("s3").create_bucket(**params)
            except ClientError as exc:
                if error_code(exc) == "BucketAlreadyExists":  # made by another account since the HeadBucket
                    raise _refused(session, name, "the default bucket",
                                   "CreateBucket answered BucketAlreadyExists: another account made it") from None
                if error_code(exc) != "BucketAlreadyOwnedByYou":
                    raise
        return name
    _same_region(session, name, "the default bucket", region or _location(session, name, expected))
    return name


def upload_file(session: AwsSession, path: Path, target: S3Uri, *, out: IO[str] = STDERR) -> S3Uri:
    size = path.stat().st_size
    print(f"Uploading {path} ({size / 1e6:.1f} MB) to {target}", file=out)
    with translate("s3:PutObject", session, not_found=f"S3 bucket {target.bucket} does not exist.",
                   forbidden=_not_owned(session, target.bucket, "s3:PutObject")):
        session.client("s3").upload_file(str(path), target.bucket, target.key, ExtraArgs=owned(session))
    return target


def upload_tree(session: AwsSession, source: Path, target: S3Uri, *, out: IO[str] = STDERR) -> S3Uri:
    """A file, or every file under a folder, under the target prefix (which gets a trailing /)."""
    files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
    if not files:
        raise PreflightError(f"{source} holds no files to upload")
    total = sum(p.stat().st_size for p in files)
    print(f"Uploading {len(files)} file(s) ({total / 1e6:.1f} MB) from {source} to {target}/", file=out)
    client = session.client("s3")
    with translate("s3:PutObject", session, not_found=f"S3 bucket {target.bucket} does not exist.",
                   forbidden=_not_owned(session, target.bucket, "s3:PutObject")):
        for path in files:
            relative = path.name if source.is_file() else path.relative_to(source).as_posix()
            client.upload_file(str(path), target.bucket, target.join(relative).key, ExtraArgs=owned(session))
    return S3Uri(target.bucket, target.key.rstrip("/") + "/")


def object_size(session: AwsSession, uri: S3Uri) -> int:
    owner = _owner(session, uri.bucket, None)
    with translate("s3:GetObject", session, not_found=f"{uri} does not exist.",
                   forbidden=_not_owned(session, uri.bucket, "s3:GetObject") if owner else None):
        return int(session.client("s3").head_object(Bucket=uri.bucket, Key=uri.key, **owner)["ContentLength"])


def download(session: AwsSession, uri: S3Uri, path: Path) -> Path:
    """Download an object that byoc will open (a model to check): only from a bucket of this account."""
    with translate("s3:GetObject", session, not_found=f"{uri} does not exist.",
                   forbidden=_not_owned(session, uri.bucket, "s3:GetObject")):
        session.client("s3").download_file(uri.bucket, uri.key, str(path), ExtraArgs=owned(session))
    return path


def has_objects(session: AwsSession, uri: S3Uri) -> bool:
    """True when at least one object sits under the prefix."""
    owner = _owner(session, uri.bucket, None)
    with translate("s3:ListBucket", session, not_found=f"S3 bucket {uri.bucket} does not exist.",
                   forbidden=_not_owned(session, uri.bucket, "s3:ListBucket") if owner else None):
        response = session.client("s3").list_objects_v2(Bucket=uri.bucket, Prefix=uri.key, MaxKeys=1, **owner)
    return bool(response.get("KeyCount") or response.get("Contents"))
