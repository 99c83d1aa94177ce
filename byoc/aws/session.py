"""Region, profile, credentials and account, resolved the way the AWS CLI resolves them.

Region: --region, then AWS_REGION, then AWS_DEFAULT_REGION, then the profile's `region`
(AWS_PROFILE or --profile picks the profile). Credentials: boto3's usual chain. The account
comes from STS. AWS_ENDPOINT_URL (and the AWS_ENDPOINT_URL_<SERVICE> forms) send calls to
another endpoint, an emulator in tests; boto3 reads them itself.

boto3 is imported here and nowhere at module level, so `byoc --help` works without it.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

from ..errors import ByocError, Failed, NotFound, SetupError, Unsupported, UsageError

REGION_HINT = (
    "Set one: --region us-east-1, export AWS_REGION=us-east-1, or `aws configure set region "
    "us-east-1` for your profile."
)
CREDENTIALS_HINT = (
    "Configure credentials as for the AWS CLI: `aws configure`, `aws sso login --profile NAME` "
    "with AWS_PROFILE=NAME, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in the environment."
)
#: How many times botocore sends a call (standard retry mode: the first and three retries)
#: before a throttle, a 5xx or a broken connection reaches translate().
ATTEMPTS = 4
NETWORK_HINT = ("Check the network, a proxy (HTTPS_PROXY) and AWS_ENDPOINT_URL; "
                "then run the command again.")
ACCESS_DENIED_CODES = {
    "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedAccess",
    "AuthorizationError", "AuthFailure",
}
EXPIRED_CODES = {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "InvalidClientTokenId",
                 "UnrecognizedClientException", "InvalidSignatureException", "SignatureDoesNotMatch"}


def _import_boto3() -> Any:
    try:
        import boto3
    except ImportError:
        raise SetupError(
            "boto3 is not installed, and the AWS commands need it.",
            hint="Install the CLI extras: pip install -e '.[cli]' (or `make` does it in .venv).",
        ) from None
    return boto3


def resolve_region(explicit: str | None = None, *, profile: str | None = None,
                   environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(region, where it came from), or a SetupError that says how to set one."""
    env = os.environ if environ is None else environ
    if explicit:
        return explicit, "--region"
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if env.get(name):
            return env[name], name
    boto3 = _import_boto3()
    from botocore.exceptions import ProfileNotFound

    try:
        region = boto3.Session(profile_name=profile).region_name
    except ProfileNotFound as exc:
        raise SetupError(f"AWS profile not found: {exc}", hint=CREDENTIALS_HINT) from None
    if region:
        return region, f"profile {profile or env.get('AWS_PROFILE') or 'default'}"
    raise SetupError("No AWS region is set.", hint=REGION_HINT)


@dataclass
class AwsSession:
    """A boto3 session bound to one region, with its clients and account cached."""

    region: str
    region_source: str
    boto: Any
    endpoint_url: str | None = None
    _clients: dict[str, Any] = field(default_factory=dict)
    _account: str | None = None

    def client(self, service: str) -> Any:
        if service not in self._clients:
            from botocore.config import Config

            config = Config(retries={"mode": "standard", "total_max_attempts": ATTEMPTS},
                            user_agent_extra="sagemaker-byoc")
            self._clients[service] = self.boto.client(service, region_name=self.region, config=config)
        return self._clients[service]

    def account(self) -> str:
        if self._account is None:
            with translate("sts:GetCallerIdentity", self):
                self._account = self.client("sts").get_caller_identity()["Account"]
        return self._account

    def describe(self) -> str:
        where = f" via {self.endpoint_url}" if self.endpoint_url else ""
        return f"region {self.region} (from {self.region_source}){where}"


def make_session(region: str | None = None, profile: str | None = None) -> AwsSession:
    boto3 = _import_boto3()
    from botocore.exceptions import ProfileNotFound

    resolved, source = resolve_region(region, profile=profile)
    try:
        boto = boto3.Session(profile_name=profile, region_name=resolved)
    except ProfileNotFound as exc:
        raise SetupError(f"AWS profile not found: {exc}", hint=CREDENTIALS_HINT) from None
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or None
    return AwsSession(region=resolved, region_source=source, boto=boto, endpoint_url=endpoint)


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def error_message(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Message", "")) or str(exc)


def http_status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None) or {}
    return response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def is_not_implemented(exc: BaseException, endpoint_url: str | None = None) -> bool:
    """True when the endpoint answered a call it does not implement.

    AWS always answers with an error shape (a Code such as ValidationException). moto raises
    NotImplementedError for calls it lacks, which reaches the client as a bare HTTP 500 page:
    botocore then reports the status number as the code. Only believed when calls go to a
    custom endpoint (AWS_ENDPOINT_URL), so a real AWS 500 is never mistaken for it.
    """
    code = error_code(exc)
    if code in ("NotImplemented", "NotImplementedException", "NotImplementedError"):
        return True
    if not (endpoint_url or os.environ.get("AWS_ENDPOINT_URL")):
        return False
    return code.isdigit() and (http_status(exc) or 0) in (500, 501)


@contextmanager
def translate(action: str, session: AwsSession | None = None, *,
              not_found: str | None = None, forbidden: str | None = None) -> Iterator[None]:
    """Turn what boto3, botocore and s3transfer raise into ByocErrors that say what to do.

    action names the IAM action ("sagemaker:CreateModel"), which a permission error repeats.
    not_found, when given, is the message for a ValidationException/404 that means "no such
    resource" (SageMaker reports missing endpoints and models that way). forbidden, when given,
    is the message for a 403 (S3 answers 403 both for a missing permission and for a bucket
    that is not the expected owner's; the caller knows which words fit).
    """
    try:
        yield
    except ByocError:
        raise
    except Exception as exc:
        mapped = translated(exc, action, session, not_found=not_found, forbidden=forbidden)
        if mapped is None:
            raise
        raise mapped from None


def translated(exc: BaseException, action: str, session: AwsSession | None = None, *,
               not_found: str | None = None, forbidden: str | None = None) -> ByocError | None:
    """The ByocError for an exception from boto3, botocore or s3transfer, or None for any other.

    The one mapping of AWS errors to exit codes: no credentials, no region, a refused permission
    and an endpoint that cannot be reached are setup (3); a missing resource is not found (5);
    an answer that broke off, or any other refusal, is a failure (1). S3 transfers (upload_file,
    download_file) wrap the error they met: the wrapped error is mapped as itself.
    """
    from boto3.exceptions import Boto3Error, RetriesExceededError, S3UploadFailedError
    from botocore.exceptions import (
        BotoCoreError, ClientError, ConnectionError as BotoConnectionError, CredentialRetrievalError,
        HTTPClientError, IncompleteReadError, NoCredentialsError, NoRegionError, ParamValidationError,
        PartialCredentialsError, ProfileNotFound, SSOError, TokenRetrievalError,
    )
    from s3transfer import exceptions as transfer_errors

    context = dict(not_found=not_found, forbidden=forbidden)
    if isinstance(exc, S3UploadFailedError):
        # boto3 raises it while handling the ClientError that refused the upload.
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, (ClientError, BotoCoreError)):
            return translated(cause, action, session, **context)
        return Failed(f"{action} failed: {exc}")
    if isinstance(exc, (RetriesExceededError, transfer_errors.RetriesExceededError)):
        last = exc.last_exception  # s3transfer retries a download that breaks off, then gives up
        if isinstance(last, ClientError):
            return translated(last, action, session, **context)
        return Failed(f"{action}: the transfer broke off each time it was tried ({last}).", hint=NETWORK_HINT)
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError, TokenRetrievalError,
                        CredentialRetrievalError, SSOError)):
        return SetupError(f"No usable AWS credentials ({exc}).", hint=CREDENTIALS_HINT)
    if isinstance(exc, ProfileNotFound):
        return SetupError(f"AWS profile not found: {exc}", hint=CREDENTIALS_HINT)
    if isinstance(exc, NoRegionError):
        return SetupError("No AWS region is set.", hint=REGION_HINT)
    if isinstance(exc, BotoConnectionError):  # no connection at all: refused, DNS, TLS, proxy, connect timeout
        return SetupError(f"Cannot reach AWS for {action}: {exc}", hint=NETWORK_HINT)
    if isinstance(exc, (HTTPClientError, IncompleteReadError)):  # connected, then the answer broke off
        reads = action.partition(":")[2].startswith(("Get", "List", "Describe", "Head"))
        return Failed(
            f"{action}: no complete answer from AWS after {ATTEMPTS} attempts ({exc}).",
            hint=NETWORK_HINT if reads else
            "The call may or may not have taken effect: look before you run the command again.")
    if isinstance(exc, ParamValidationError):  # refused by botocore before anything was sent
        return UsageError(f"{action}: the request was refused before it was sent. {exc}")
    if isinstance(exc, ClientError):
        return _client_error(exc, action, session, **context)
    if isinstance(exc, (BotoCoreError, Boto3Error, transfer_errors.S3DownloadFailedError,
                        transfer_errors.S3UploadFailedError, transfer_errors.S3CopyFailedError)):
        return Failed(f"{action} failed: {exc}")
    return None


def _client_error(exc: Any, action: str, session: AwsSession | None, *,
                  not_found: str | None, forbidden: str | None) -> ByocError:
    code, message = error_code(exc), error_message(exc)
    endpoint = session.endpoint_url if session else None
    if code in EXPIRED_CODES or code == "InvalidAccessKeyId":
        return SetupError(f"{action}: credentials rejected ({code}: {message}).", hint=CREDENTIALS_HINT)
    if code in ACCESS_DENIED_CODES or http_status(exc) == 403:
        if forbidden:
            return SetupError(forbidden, hint=f"({action} answered {code}: {message})")
        return SetupError(f"Permission denied: {action} ({code}: {message}).",
                          hint=f"The identity you run as needs {action}; see README, 'IAM'.")
    if is_not_implemented(exc, endpoint):
        operation = getattr(exc, "operation_name", action)
        where = endpoint or os.environ.get("AWS_ENDPOINT_URL") or "the endpoint"
        return Unsupported(
            f"{operation} is not implemented by {where}: it answered HTTP {http_status(exc)} "
            "with no AWS error in the body. That is how moto answers calls it lacks.",
            hint="Against AWS itself this call exists; nothing here can prove it works.")
    if not_found and (
        code in ("ResourceNotFound", "ResourceNotFoundException", "NoSuchBucket", "NoSuchKey", "404", "NotFound")
        or (code == "ValidationException" and ("Could not find" in message or "not found" in message.lower()))
    ):
        return NotFound(not_found)
    return Failed(f"{action} failed: {code}: {message}")


def delete_quietly(session: AwsSession, action: str, out: Any, what: str, call: Any) -> bool:
    """call() a Delete* while cleaning up, saying what happened: one already gone, or a refusal,
    is reported, not raised, as the command's own outcome is what matters then."""
    try:
        with translate(action, session, not_found=f"{what} was already gone"):
            call()
    except NotFound as exc:
        print(str(exc), file=out)
        return False
    except ByocError as exc:
        print(f"Could not delete {what}: {exc}", file=out)
        return False
    print(f"Deleted {what}", file=out)
    return True
