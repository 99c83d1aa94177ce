"""Serving settings from the environment: names users know, bad values refused at start."""

from __future__ import annotations

import pytest

from container.errors import ConfigError
from container.settings import (
    DEFAULT_BATCH_TIMEOUT,
    DEFAULT_BATCH_WAIT_MS,
    DEFAULT_MAX_PAYLOAD_MB,
    DEFAULT_PORT,
    DEFAULT_READ_TIMEOUT,
    DEFAULT_TIMEOUT,
    THREADS_BATCHED,
    THREADS_UNBATCHED,
    ServingSettings,
    default_workers,
)


def test_defaults() -> None:
    s = ServingSettings.from_env({})
    assert s.port == DEFAULT_PORT == 8080
    assert s.host == "0.0.0.0"
    assert s.bind == "0.0.0.0:8080"
    assert s.workers == default_workers() >= 1
    # Threads follow batching, which `serve` decides once the model is loaded (resolved()).
    assert (s.threads, s.predictions, s.batch_max_rows) == (None, 1, None)
    assert s.batch_wait == DEFAULT_BATCH_WAIT_MS / 1000 == 0.002
    assert not s.batching
    assert s.read_timeout == DEFAULT_READ_TIMEOUT == 20
    assert s.timeout == DEFAULT_TIMEOUT == 60
    assert s.max_payload_mb == DEFAULT_MAX_PAYLOAD_MB == 6
    assert s.max_payload_bytes == 6 * 1024 * 1024 == 6291456  # InvokeEndpoint's BodyBlob limit
    assert s.default_accept is None
    assert s.safe_port_range is None
    assert not s.batch
    assert s.default_output == "predictions"


def test_sagemaker_variables() -> None:
    s = ServingSettings.from_env({
        "SAGEMAKER_BIND_TO_PORT": "9090",
        "SAGEMAKER_SAFE_PORT_RANGE": "9100-9110",
        "SAGEMAKER_MAX_PAYLOAD_IN_MB": "20",
        "SAGEMAKER_BATCH": "True",  # local mode's spelling
        "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv",
        "BYOC_DEFAULT_OUTPUT": "Probabilities",
    })
    assert s.port == 9090 and s.bind.endswith(":9090")
    assert s.safe_port_range == (9100, 9110)
    assert s.max_payload_bytes == 20 * 1024 * 1024
    assert s.batch
    assert s.default_accept == "text/csv"
    assert s.default_output == "probabilities"


@pytest.mark.parametrize(("env", "timeout"), [
    # A batch transform waits InvocationsTimeoutInSeconds (600 s unless set) for each request:
    # a mini-batch that takes over a minute is not a stuck worker there.
    ({"SAGEMAKER_BATCH": "true"}, 600),
    ({"SAGEMAKER_BATCH": "True"}, 600),  # local mode's spelling
    ({"SAGEMAKER_BATCH": "true", "MODEL_SERVER_TIMEOUT": "120"}, 120),  # set explicitly: it wins
    ({"SAGEMAKER_BATCH": "true", "SAGEMAKER_MODEL_SERVER_TIMEOUT": "30"}, 30),
    ({"SAGEMAKER_BATCH": "false"}, 60),
    ({"SAGEMAKER_BATCH": ""}, 60),
])
def test_sagemaker_batch_gives_the_timeout_batch_transform_s_default(env: dict, timeout: int) -> None:
    s = ServingSettings.from_env(env)
    assert s.timeout == timeout
    assert s.batch is (env["SAGEMAKER_BATCH"].lower() == "true")
    assert DEFAULT_BATCH_TIMEOUT == 600


@pytest.mark.parametrize(
    ("env", "workers", "timeout"),
    [
        ({"MODEL_SERVER_WORKERS": "3", "MODEL_SERVER_TIMEOUT": "30"}, 3, 30),
        ({"SAGEMAKER_MODEL_SERVER_WORKERS": "4", "SAGEMAKER_MODEL_SERVER_TIMEOUT": "90"}, 4, 90),
        # both spellings: the unprefixed one wins
        ({"MODEL_SERVER_WORKERS": "2", "SAGEMAKER_MODEL_SERVER_WORKERS": "5",
          "MODEL_SERVER_TIMEOUT": "10", "SAGEMAKER_MODEL_SERVER_TIMEOUT": "20"}, 2, 10),
        # an empty value counts as unset
        ({"MODEL_SERVER_WORKERS": "", "SAGEMAKER_MODEL_SERVER_WORKERS": "6"}, 6, 60),
        ({"MODEL_SERVER_WORKERS": " 3 "}, 3, 60),
    ],
)
def test_worker_and_timeout_spellings(env: dict, workers: int, timeout: int) -> None:
    s = ServingSettings.from_env(env)
    assert (s.workers, s.timeout) == (workers, timeout)


def test_read_timeout_in_seconds() -> None:
    assert ServingSettings.from_env({"BYOC_READ_TIMEOUT": "2.5"}).read_timeout == 2.5
    assert ServingSettings.from_env({"BYOC_READ_TIMEOUT": " "}).read_timeout == DEFAULT_READ_TIMEOUT


def test_ipv6_bind() -> None:
    assert ServingSettings.from_env({"BYOC_BIND_HOST": "::"}).bind == "[::]:8080"


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"SAGEMAKER_BIND_TO_PORT": "http"}, "SAGEMAKER_BIND_TO_PORT"),
        ({"SAGEMAKER_BIND_TO_PORT": "0"}, "SAGEMAKER_BIND_TO_PORT"),
        ({"SAGEMAKER_BIND_TO_PORT": "70000"}, "SAGEMAKER_BIND_TO_PORT"),
        ({"MODEL_SERVER_WORKERS": "two"}, "MODEL_SERVER_WORKERS"),
        ({"MODEL_SERVER_WORKERS": "0"}, "MODEL_SERVER_WORKERS"),
        ({"SAGEMAKER_MODEL_SERVER_WORKERS": "-1"}, "SAGEMAKER_MODEL_SERVER_WORKERS"),
        ({"MODEL_SERVER_TIMEOUT": "1.5"}, "MODEL_SERVER_TIMEOUT"),
        ({"SAGEMAKER_MODEL_SERVER_TIMEOUT": "0"}, "SAGEMAKER_MODEL_SERVER_TIMEOUT"),
        ({"SAGEMAKER_MAX_PAYLOAD_IN_MB": "six"}, "SAGEMAKER_MAX_PAYLOAD_IN_MB"),
        ({"SAGEMAKER_MAX_PAYLOAD_IN_MB": "-1"}, "SAGEMAKER_MAX_PAYLOAD_IN_MB"),
        ({"SAGEMAKER_MAX_PAYLOAD_IN_MB": "nan"}, "SAGEMAKER_MAX_PAYLOAD_IN_MB"),
        ({"SAGEMAKER_MAX_PAYLOAD_IN_MB": "inf"}, "SAGEMAKER_MAX_PAYLOAD_IN_MB"),
        ({"SAGEMAKER_SAFE_PORT_RANGE": "9000"}, "SAGEMAKER_SAFE_PORT_RANGE"),
        ({"SAGEMAKER_SAFE_PORT_RANGE": "9000-"}, "SAGEMAKER_SAFE_PORT_RANGE"),
        ({"SAGEMAKER_SAFE_PORT_RANGE": "9100-9000"}, "SAGEMAKER_SAFE_PORT_RANGE"),
        ({"SAGEMAKER_SAFE_PORT_RANGE": "0-10"}, "SAGEMAKER_SAFE_PORT_RANGE"),
        ({"SAGEMAKER_SAFE_PORT_RANGE": "a-b"}, "SAGEMAKER_SAFE_PORT_RANGE"),
        ({"BYOC_DEFAULT_OUTPUT": "logits"}, "BYOC_DEFAULT_OUTPUT"),
        ({"BYOC_WORKER_THREADS": "0"}, "BYOC_WORKER_THREADS"),
        ({"BYOC_PREDICTIONS_PER_WORKER": "0"}, "BYOC_PREDICTIONS_PER_WORKER"),
        ({"BYOC_PREDICTIONS_PER_WORKER": "3", "BYOC_WORKER_THREADS": "2"}, "BYOC_PREDICTIONS_PER_WORKER"),
        ({"BYOC_BATCH_MAX_ROWS": "0"}, "BYOC_BATCH_MAX_ROWS"),
        ({"BYOC_BATCH_MAX_ROWS": "many"}, "BYOC_BATCH_MAX_ROWS"),
        ({"BYOC_BATCH_WAIT_MS": "-1"}, "BYOC_BATCH_WAIT_MS"),
        ({"BYOC_BATCH_WAIT_MS": "1001"}, "BYOC_BATCH_WAIT_MS"),
        ({"BYOC_BATCH_WAIT_MS": "nan"}, "BYOC_BATCH_WAIT_MS"),
        ({"BYOC_BATCH_WAIT_MS": "soon"}, "BYOC_BATCH_WAIT_MS"),
        ({"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "csv"}, "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"),
        ({"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "*/*"}, "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"),
        ({"BYOC_READ_TIMEOUT": "soon"}, "BYOC_READ_TIMEOUT"),
        ({"BYOC_READ_TIMEOUT": "0"}, "BYOC_READ_TIMEOUT"),
        ({"BYOC_READ_TIMEOUT": "inf"}, "BYOC_READ_TIMEOUT"),
    ],
)
def test_bad_values_are_config_errors_that_name_the_variable(env: dict, name: str) -> None:
    with pytest.raises(ConfigError) as info:
        ServingSettings.from_env(env)
    assert name in str(info.value)


@pytest.mark.parametrize(("env", "decided", "rows", "threads"), [
    ({}, 1, 1, THREADS_UNBATCHED),  # timed at start-up: too cheap to batch
    ({}, 256, 256, THREADS_BATCHED),  # timed at start-up: worth batching, so requests must wait in threads
    ({"BYOC_BATCH_MAX_ROWS": "1"}, 256, 1, THREADS_UNBATCHED),  # the variable wins over the timing
    ({"BYOC_BATCH_MAX_ROWS": "32"}, 1, 32, THREADS_BATCHED),
    ({"BYOC_BATCH_MAX_ROWS": "32", "BYOC_WORKER_THREADS": "4"}, 1, 32, 4),  # threads set: they win
    ({"BYOC_WORKER_THREADS": "3"}, 256, 256, 3),
])
def test_threads_follow_batching(env: dict, decided: int, rows: int, threads: int) -> None:
    s = ServingSettings.from_env(env).resolved(decided)
    assert (s.batch_max_rows, s.threads, s.batching) == (rows, threads, rows > 1)


def test_batch_wait_is_read_in_milliseconds() -> None:
    assert ServingSettings.from_env({"BYOC_BATCH_WAIT_MS": "0"}).batch_wait == 0
    assert ServingSettings.from_env({"BYOC_BATCH_WAIT_MS": "12.5"}).batch_wait == 0.0125


def test_more_predictions_than_the_threads_batching_leaves_is_refused() -> None:
    settings = ServingSettings.from_env({"BYOC_PREDICTIONS_PER_WORKER": "3"})  # threads not known yet
    assert settings.resolved(256).threads == THREADS_BATCHED
    with pytest.raises(ConfigError, match="BYOC_PREDICTIONS_PER_WORKER=3 is more than BYOC_WORKER_THREADS=2"):
        settings.resolved(1)


def test_safe_port_range_is_inclusive_and_may_be_one_port() -> None:
    assert ServingSettings.from_env({"SAGEMAKER_SAFE_PORT_RANGE": "9000-9000"}).safe_port_range == (9000, 9000)


# -- /execution-parameters ---------------------------------------------------------------------


def params(**env: str) -> dict:
    return ServingSettings.from_env(env).execution_parameters()


def test_execution_parameters_default() -> None:
    p = params(MODEL_SERVER_WORKERS="4")
    assert p == {"MaxConcurrentTransforms": 4, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 6}


@pytest.mark.parametrize(
    ("env", "concurrency", "payload"),
    [
        ({"MODEL_SERVER_WORKERS": "4", "BYOC_WORKER_THREADS": "8", "SAGEMAKER_MAX_PAYLOAD_IN_MB": "6"}, 4, 6),
        ({"MODEL_SERVER_WORKERS": "4", "BYOC_WORKER_THREADS": "8", "BYOC_PREDICTIONS_PER_WORKER": "4",
          "SAGEMAKER_MAX_PAYLOAD_IN_MB": "6"}, 16, 6),
        ({"MODEL_SERVER_WORKERS": "32", "SAGEMAKER_MAX_PAYLOAD_IN_MB": "10"}, 10, 10),
        ({"MODEL_SERVER_WORKERS": "8", "SAGEMAKER_MAX_PAYLOAD_IN_MB": "100"}, 1, 100),
        ({"MODEL_SERVER_WORKERS": "3", "SAGEMAKER_MAX_PAYLOAD_IN_MB": "1"}, 3, 1),
        ({"MODEL_SERVER_WORKERS": "4", "SAGEMAKER_MAX_PAYLOAD_IN_MB": "200"}, 1, 100),
        ({"MODEL_SERVER_WORKERS": "4", "SAGEMAKER_MAX_PAYLOAD_IN_MB": "2.5"}, 4, 2),
    ],
)
def test_execution_parameters_respect_the_batch_limits(env: dict, concurrency: int, payload: int) -> None:
    p = params(**env)
    assert p["MaxConcurrentTransforms"] == concurrency
    assert p["MaxPayloadInMB"] == payload
    assert isinstance(p["MaxPayloadInMB"], int) and isinstance(p["MaxConcurrentTransforms"], int)
    assert 0 <= p["MaxPayloadInMB"] <= 100
    assert p["MaxConcurrentTransforms"] * p["MaxPayloadInMB"] <= 100


def test_execution_parameters_with_a_streamed_payload() -> None:
    # SAGEMAKER_MAX_PAYLOAD_IN_MB=0: chunked bodies, no size limit in the server.
    s = ServingSettings.from_env({"SAGEMAKER_MAX_PAYLOAD_IN_MB": "0", "MODEL_SERVER_WORKERS": "2"})
    assert s.max_payload_bytes is None
    assert s.execution_parameters()["MaxPayloadInMB"] == 0
    assert s.execution_parameters()["MaxConcurrentTransforms"] == 2


def test_execution_parameters_under_one_mb_is_not_advertised_as_unlimited() -> None:
    # 0 would tell SageMaker "no limit, stream the body"; 1 is the smallest limit the field can say.
    s = ServingSettings.from_env({"SAGEMAKER_MAX_PAYLOAD_IN_MB": "0.5"})
    assert s.max_payload_bytes == 512 * 1024
    assert s.execution_parameters()["MaxPayloadInMB"] == 1
