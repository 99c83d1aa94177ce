"""`serve`: load the model once, then run gunicorn with threaded workers forked from it.

The model is loaded in the master before any worker exists, so a model that cannot be loaded
makes `serve` exit non-zero with the reason in the log (never a green /ping without a model),
and every worker shares the loaded model's memory. gunicorn handles SIGTERM as SageMaker
needs: stop accepting, let requests in flight finish, exit 0. The workers are
container.worker's: gthread, reading each request before a thread takes it.
"""

from __future__ import annotations

import gc
import logging
import sys
import time
import traceback
from typing import Any

from gunicorn.app.base import BaseApplication

from . import artifacts, privileges
from .app import ServingApp
from .batching import choose_max_rows
from .errors import ByocError
from .inference import InferencePipeline
from .logs import configure_logging
from .paths import Paths
from .settings import GRACEFUL_TIMEOUT, KEEPALIVE_SECONDS, ServingSettings, default_workers

log = logging.getLogger("container.server")


class GunicornServer(BaseApplication):
    """gunicorn around an already-built WSGI app; GUNICORN_CMD_ARGS still applies on top."""

    def __init__(self, app: Any, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings:  # settings differ between gunicorn releases
                self.cfg.set(key, value)
        overrides = self.cfg.get_cmd_args_from_env()
        if overrides:
            parsed = self.cfg.parser().parse_args(overrides)
            for key, value in vars(parsed).items():
                if value is not None and key != "args":
                    self.cfg.set(key.lower(), value)

    def load(self) -> Any:
        return self.application


def pool_share(workers: int) -> int:
    """Each worker's share of the cores, for its BLAS and OpenMP thread pools."""
    return max(1, default_workers() // max(1, workers))


def size_thread_pools(worker: Any) -> None:
    """gunicorn's post_worker_init: this worker's BLAS/OpenMP pools get its share of the cores.

    Loaded in the master, those libraries size their pools to every core; N workers predicting
    at once would then run N x cores threads on the cores and slow each other down. Not in
    post_fork: until the worker has set its own signal handlers, a SIGTERM is taken by the
    master's handlers it inherited and lost, and threadpoolctl's scan of the loaded libraries
    made that window wide enough for `docker stop` to wait out the whole graceful timeout.
    """
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    limit = pool_share(worker.cfg.workers)
    threadpool_limits(limits=limit)
    worker.log.debug("BLAS/OpenMP thread pools of worker %d: %d thread(s).", worker.pid, limit)


def gunicorn_options(settings: ServingSettings) -> dict[str, Any]:
    return {
        "post_worker_init": size_thread_pools,
        "bind": [settings.bind],
        "workers": settings.workers,
        # gthread (threaded workers keep connections alive between requests; sync workers
        # cannot), reading each request on its event loop before a thread takes it.
        "worker_class": "container.worker.ServingWorker",
        "threads": settings.threads,
        "timeout": settings.timeout,
        "graceful_timeout": GRACEFUL_TIMEOUT,
        "keepalive": KEEPALIVE_SECONDS,
        "preload_app": True,
        "errorlog": "-",
        "loglevel": "info",
        "accesslog": None,  # /ping every few seconds would bury the lines that matter
        "proc_name": "byoc-serve",
        # gunicorn 24+ opens a control socket under $HOME; the file system may be read-only.
        "control_socket_disable": True,
    }


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    started = time.monotonic()
    paths = Paths.from_env()
    try:
        settings = ServingSettings.from_env()
        pipeline = InferencePipeline(paths.model_dir, settings)
        loaded = time.monotonic()
        if settings.batch_max_rows is None:  # decided once, before the fork: every worker alike
            rows, why = choose_max_rows(pipeline.timed_predict())
        else:
            rows, why = settings.batch_max_rows, f"BYOC_BATCH_MAX_ROWS={settings.batch_max_rows}"
        settings = settings.resolved(rows)
        pipeline.settings = settings
        app = ServingApp(pipeline, settings)
    except ByocError as exc:
        log.error("Cannot serve: %s", exc)
        return 1
    except Exception:
        log.error("Cannot serve: unexpected error while loading the model:\n%s", traceback.format_exc())
        return 1
    for name, (trained, now) in artifacts.version_skew(pipeline.metadata).items():
        log.warning("%s %s trained this model, but %s is installed: predictions may differ "
                    "or fail. Pin the training version in the image.", name, trained, now)
    log.info(
        "Model loaded from %s in %.2f s (%s); hooks: %s. Serving on %s with %d worker(s) x %d thread(s), "
        "%d prediction(s) at a time, timeout %d s, payload limit %s%s.",
        paths.model_dir, loaded - started, type(pipeline.model).__name__,
        ", ".join(pipeline.custom) or "defaults", settings.bind, settings.workers, settings.threads,
        settings.predictions, settings.timeout,
        f"{settings.max_payload_mb:g} MB" if settings.max_payload_bytes else "none",
        "; batch transform (SAGEMAKER_BATCH)" if settings.batch else "",
    )
    if settings.batching:
        log.info("Batching: up to %d rows a call, waiting up to %g ms for requests being decoded (%s).",
                 settings.batch_max_rows, settings.batch_wait * 1e3, why)
    else:
        log.info("Batching: off (%s).", why)
    if settings.safe_port_range:
        log.info("SAGEMAKER_SAFE_PORT_RANGE %d-%d (this server needs no extra port).", *settings.safe_port_range)
    # Objects that exist now live as long as the server: keep the collector from touching
    # them in the workers, so their pages stay shared with the master.
    gc.collect()
    gc.freeze()
    # Started as root (as SageMaker does), the workers handle requests as the image's
    # unprivileged user (gunicorn's user and group settings); the master stays root.
    GunicornServer(app, {**gunicorn_options(settings), **privileges.gunicorn_options()}).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
