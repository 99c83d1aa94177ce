"""Log set-up for train and serve: unbuffered, one line per record, to stderr.

CloudWatch is the only debugging channel on SageMaker, and it receives stdout and stderr.
"""

from __future__ import annotations

import logging
import os
import sys

LOG_LEVEL_ENV = "BYOC_LOG_LEVEL"
FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"


def configure_logging() -> None:
    level = os.environ.get(LOG_LEVEL_ENV, "INFO").upper()
    root = logging.getLogger()
    if not any(getattr(h, "_byoc", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(FORMAT))
        handler._byoc = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level if level in logging.getLevelNamesMapping() else "INFO")
    # Lines reach the log as they are written, even when stdout is not a terminal.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True)
