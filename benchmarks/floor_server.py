"""The floor for the small-request benchmark: `serve`'s exact gunicorn configuration
(container.server.gunicorn_options, from the same environment) around a bare WSGI callable
that returns a constant. Whatever /invocations costs above this is the runtime's own cost.
With FLOOR_READ_BODY=1 it reads the request body first (container.body.read_request_body, as serve does): the cost
of moving a large payload through HTTP and gunicorn alone. (Unread, gunicorn drains only
64 KB of a body and then closes the connection.)

    SAGEMAKER_BIND_TO_PORT=8081 BYOC_BIND_HOST=127.0.0.1 python benchmarks/floor_server.py
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from container.body import read_request_body  # noqa: E402
from container.logs import configure_logging  # noqa: E402
from container.server import GunicornServer, gunicorn_options  # noqa: E402
from container.settings import ServingSettings  # noqa: E402

BODY = b"1\n"
HEADERS = [("Content-Type", "text/csv"), ("Content-Length", str(len(BODY)))]


def constant(environ: dict, start_response) -> list[bytes]:
    start_response("200 OK", HEADERS)
    return [BODY]


def read_then_constant(environ: dict, start_response) -> list[bytes]:
    read_request_body(environ, None)
    start_response("200 OK", HEADERS)
    return [BODY]


def main() -> int:
    configure_logging()
    settings = ServingSettings.from_env()
    settings = settings.resolved(settings.batch_max_rows or 1)  # serve's threads for an unbatched model
    gc.collect()
    gc.freeze()  # as serve does
    app = read_then_constant if os.environ.get("FLOOR_READ_BODY") == "1" else constant
    GunicornServer(app, gunicorn_options(settings)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
