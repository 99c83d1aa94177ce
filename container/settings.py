"""Serving settings, read once from the environment, each under the name users already know.

SageMaker sets SAGEMAKER_BIND_TO_PORT and SAGEMAKER_SAFE_PORT_RANGE (inference pipelines)
and SAGEMAKER_MAX_PAYLOAD_IN_MB and SAGEMAKER_BATCH (batch transform). The worker and timeout
variables are the conventions of AWS's own containers; both spellings are read, the
unprefixed one winning. GUNICORN_CMD_ARGS still works for anything else, as gunicorn reads it.

BYOC_READ_TIMEOUT (seconds, default 20) bounds how a request may arrive: no byte of it for that
long, or an average under MIN_READ_RATE once that long has passed, ends it with a 408. The front
end of a SageMaker endpoint buffers requests, but local runs, batch transform and other proxies
do not: without a bound, a slow client holds what reads its request for as long as it likes.

BYOC_BATCH_MAX_ROWS and BYOC_BATCH_WAIT_MS set adaptive batching (container.batching): the most
rows a worker predicts in one call, and how long the call may wait for requests the worker is
still decoding. BYOC_BATCH_MAX_ROWS=1 turns batching off; unset, `serve` decides at start-up by
timing a prediction (container.batching.choose_max_rows). Threads per worker (BYOC_WORKER_THREADS)
follow: a batch needs requests waiting, so a worker that batches runs more threads.

SAGEMAKER_BATCH=true (any case: local mode sends "True") says the server runs a batch
transform, whose requests may take up to the job's InvocationsTimeoutInSeconds (600 s unless
set), not a real-time endpoint's 60 s: MODEL_SERVER_TIMEOUT then defaults to 600 s, so a
large mini-batch is not cut off and retried as a stuck worker. A timeout set explicitly wins.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from typing import Mapping

from .errors import ConfigError

DEFAULT_PORT = 8080
DEFAULT_TIMEOUT = 60
#: MODEL_SERVER_TIMEOUT under SAGEMAKER_BATCH: CreateTransformJob's default
#: ModelClientConfig.InvocationsTimeoutInSeconds.
DEFAULT_BATCH_TIMEOUT = 600
DEFAULT_MAX_PAYLOAD_MB = 6
KEEPALIVE_SECONDS = 75  # above the platform's connection reuse window; see the contract doc
# SageMaker sends SIGKILL 30 s after SIGTERM on endpoints: drain in less.
GRACEFUL_TIMEOUT = 25
BATCH_STRATEGY = "MULTI_RECORD"  # the platform's spelling; see README on SDK local mode
MAX_BATCH_PAYLOAD_PRODUCT = 100  # MaxConcurrentTransforms x MaxPayloadInMB must stay <= 100
DEFAULT_READ_TIMEOUT = 20
#: Bytes per second a request must average once BYOC_READ_TIMEOUT has passed (512 kbit/s).
MIN_READ_RATE = 64 * 1024
#: Threads per worker without and with batching (BYOC_WORKER_THREADS overrides both): with batching,
#: one request per thread can wait for the next batch, so 16 threads lets 16 requests share a call.
THREADS_UNBATCHED = 2
THREADS_BATCHED = 16
#: BYOC_BATCH_WAIT_MS's default: a leader waits at most this long for requests still being decoded.
DEFAULT_BATCH_WAIT_MS = 2.0


@dataclass(frozen=True)
class ServingSettings:
    host: str = "0.0.0.0"
    port: int = DEFAULT_PORT
    safe_port_range: tuple[int, int] | None = None
    workers: int = 1
    #: gunicorn's threads per worker; None until `serve` knows whether it batches (resolved()):
    #: two without batching, so that the next request waits for its turn ready to go, and a
    #: chunked body is read while a prediction runs; THREADS_BATCHED with it. (/ping needs none:
    #: the worker answers it on its event loop, container.worker.)
    threads: int | None = None
    #: Model calls a worker runs at once (a batch is one); the other threads wait their turn.
    predictions: int = 1
    #: BYOC_BATCH_MAX_ROWS: the most rows in one model call; 1 turns batching off; None: decided
    #: at start-up by timing a prediction (resolved()).
    batch_max_rows: int | None = None
    #: BYOC_BATCH_WAIT_MS, in seconds: how long a batch may wait for requests still being decoded.
    batch_wait: float = DEFAULT_BATCH_WAIT_MS / 1000
    timeout: int = DEFAULT_TIMEOUT
    max_payload_mb: float = DEFAULT_MAX_PAYLOAD_MB
    default_accept: str | None = None
    #: SAGEMAKER_BATCH: serving a batch transform (the timeout's default is batch transform's).
    batch: bool = False
    default_output: str = "predictions"
    #: BYOC_READ_TIMEOUT: the longest pause in a request's arrival, and the grace before MIN_READ_RATE.
    read_timeout: float = DEFAULT_READ_TIMEOUT

    @property
    def batching(self) -> bool:
        return (self.batch_max_rows or 1) > 1

    def resolved(self, batch_max_rows: int) -> "ServingSettings":
        """These settings with batching decided (BYOC_BATCH_MAX_ROWS, else `batch_max_rows`) and the
        threads that follow from it (BYOC_WORKER_THREADS, else THREADS_BATCHED or THREADS_UNBATCHED)."""
        rows = self.batch_max_rows or batch_max_rows
        threads = self.threads or (THREADS_BATCHED if rows > 1 else THREADS_UNBATCHED)
        if self.predictions > threads:
            raise ConfigError(f"BYOC_PREDICTIONS_PER_WORKER={self.predictions} is more than BYOC_WORKER_THREADS="
                              f"{threads}: a worker runs at most one request per thread.")
        return replace(self, batch_max_rows=rows, threads=threads)

    @property
    def max_payload_bytes(self) -> int | None:
        """The request body limit; None when SAGEMAKER_MAX_PAYLOAD_IN_MB=0 (streamed batches)."""
        return int(self.max_payload_mb * 1024 * 1024) if self.max_payload_mb else None

    @property
    def bind(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def execution_parameters(self) -> dict[str, object]:
        """What GET /execution-parameters tells batch transform."""
        # An integer within the API's 0-100. 0 means "streamed, no limit", so a limit under
        # 1 MB is reported as 1, the smallest limit the field can express.
        payload = min(math.floor(self.max_payload_mb), MAX_BATCH_PAYLOAD_PRODUCT)
        if self.max_payload_mb and not payload:
            payload = 1
        concurrency = self.workers * self.predictions
        if payload:
            concurrency = max(1, min(concurrency, MAX_BATCH_PAYLOAD_PRODUCT // payload))
        return {
            "MaxConcurrentTransforms": concurrency,
            "BatchStrategy": BATCH_STRATEGY,
            "MaxPayloadInMB": payload,
        }

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "ServingSettings":
        env = os.environ if environ is None else environ
        port = _int(env, "SAGEMAKER_BIND_TO_PORT", DEFAULT_PORT, low=1, high=65535)
        safe = _port_range(env.get("SAGEMAKER_SAFE_PORT_RANGE"))
        workers = _int(env, ("MODEL_SERVER_WORKERS", "SAGEMAKER_MODEL_SERVER_WORKERS"),
                       default_workers(), low=1, high=256)
        threads = _int(env, "BYOC_WORKER_THREADS", 0, low=1, high=64) or None
        predictions = _int(env, "BYOC_PREDICTIONS_PER_WORKER", 1, low=1, high=64)
        batch = env.get("SAGEMAKER_BATCH", "").strip().lower() == "true"
        if threads is not None and predictions > threads:
            raise ConfigError(f"BYOC_PREDICTIONS_PER_WORKER={predictions} is more than BYOC_WORKER_THREADS="
                              f"{threads}: a worker runs at most one request per thread.")
        return cls(
            host=env.get("BYOC_BIND_HOST") or "0.0.0.0",
            port=port,
            safe_port_range=safe,
            workers=workers,
            threads=threads,
            predictions=predictions,
            timeout=_int(env, ("MODEL_SERVER_TIMEOUT", "SAGEMAKER_MODEL_SERVER_TIMEOUT"),
                         DEFAULT_BATCH_TIMEOUT if batch else DEFAULT_TIMEOUT, low=1, high=3600),
            # 0: batch transform streams the body (chunked); no limit then.
            max_payload_mb=_number(env, "SAGEMAKER_MAX_PAYLOAD_IN_MB", DEFAULT_MAX_PAYLOAD_MB, unit="MB",
                                   low=0, high=math.inf),
            default_accept=_media_type(env, "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"),
            batch=batch,
            default_output=_choice(env, "BYOC_DEFAULT_OUTPUT", ("predictions", "probabilities")),
            read_timeout=_number(env, "BYOC_READ_TIMEOUT", DEFAULT_READ_TIMEOUT, unit="seconds", low=0, high=3600,
                                 low_open=True),
            batch_max_rows=_int(env, "BYOC_BATCH_MAX_ROWS", 0, low=1, high=100_000) or None,
            batch_wait=_number(env, "BYOC_BATCH_WAIT_MS", DEFAULT_BATCH_WAIT_MS, unit="milliseconds", low=0,
                               high=1000) / 1000,
        )


def default_workers() -> int:
    """One worker per CPU: predictions are CPU-bound, and workers share the model's memory."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _int(env: Mapping[str, str], names: str | tuple[str, ...], default: int, *, low: int, high: int) -> int:
    for name in (names,) if isinstance(names, str) else names:
        raw = env.get(name)
        if raw is None or raw.strip() == "":
            continue
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not a whole number.") from None
        if not low <= value <= high:
            raise ConfigError(f"{name}={value} is out of range [{low}, {high}].")
        return value
    return default


def _number(env: Mapping[str, str], name: str, default: float, *, unit: str, low: float, high: float,
            low_open: bool = False) -> float:
    """A finite number in [low, high] ((low, high] when low_open), or the default when unset."""
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number of {unit}.") from None
    if not (math.isfinite(value) and (low < value if low_open else low <= value) and value <= high):
        bounds = (f"{low:g} {unit} or more" if high == math.inf
                  else f"{'(' if low_open else '['}{low:g}, {high:g}] {unit}")
        raise ConfigError(f"{name}={raw!r} is out of range: {bounds}.")
    return value


def _media_type(env: Mapping[str, str], name: str) -> str | None:
    """A type/subtype; whether anything can encode it is the app's call (custom output_fn)."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    kind, slash, sub = raw.split(";", 1)[0].strip().partition("/")
    if not slash or not kind or not sub or "*" in raw:
        raise ConfigError(f"{name}={raw!r} is not a media type such as application/json.")
    return raw


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str:
    raw = (env.get(name) or allowed[0]).strip().lower()
    if raw not in allowed:
        raise ConfigError(f"{name}={raw!r} is not one of {list(allowed)}.")
    return raw


def _port_range(raw: str | None) -> tuple[int, int] | None:
    if not raw:
        return None
    first, sep, last = raw.partition("-")
    try:
        low, high = int(first), int(last)
    except ValueError:
        raise ConfigError(f"SAGEMAKER_SAFE_PORT_RANGE={raw!r} is not of the form FIRST-LAST.") from None
    if not sep or not 1 <= low <= high <= 65535:
        raise ConfigError(f"SAGEMAKER_SAFE_PORT_RANGE={raw!r} is not a valid port range.")
    return low, high
