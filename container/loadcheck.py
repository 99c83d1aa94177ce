"""`python -m container.loadcheck`: load the model in /opt/ml/model as `serve` does, then exit.

`byoc deploy` runs this inside the image (`docker run --network none`, the model mounted
read-only) for a model whose loading may run code, a pickle or the package's own model_fn, so
that such code never runs on the user's machine. It checks what `serve` checks before it
listens (the files' SHA-256, the library versions, the hooks, model_fn) and prints one last
line: `byoc-loadcheck: ok: ...` with exit code 0, or `byoc-loadcheck: failed: <reason>` and 1.
"""

from __future__ import annotations

import logging
import sys
import traceback

from .errors import ByocError
from .inference import InferencePipeline
from .logs import configure_logging
from .paths import Paths
from .settings import ServingSettings

log = logging.getLogger("container.loadcheck")

PREFIX = "byoc-loadcheck:"


def main() -> int:
    configure_logging()
    paths = Paths.from_env()
    try:
        pipeline = InferencePipeline(paths.model_dir, ServingSettings.from_env())
    except ByocError as exc:
        return _report(f"failed: {exc}", 1)
    except Exception as exc:  # the model package's code, or a bug: the traceback helps here
        traceback.print_exc()
        return _report(f"failed: {type(exc).__name__}: {exc}", 1)
    model_file = (pipeline.metadata.get("model") or {}).get("file", "the model")
    return _report(f"ok: {model_file} loads as {type(pipeline.model).__name__} "
                   f"(hooks: {', '.join(pipeline.custom) or 'defaults'})", 0)


def _report(outcome: str, code: int) -> int:
    sys.stderr.flush()
    print(f"{PREFIX} {' '.join(outcome.split())}", flush=True)  # one line, whatever the message held
    return code


if __name__ == "__main__":
    sys.exit(main())
