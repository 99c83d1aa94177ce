"""The large-payload floor in a process of its own that, like `serve`'s worker, waits between
requests: decode, predict and encode one body (container.inference, as serve does), no HTTP.

    SAGEMAKER_BASE_DIR=... python benchmarks/inprocess_floor.py BODY_FILE

Each line on stdin asks for one run; each run answers with one line on stdout: its seconds,
timed inside this process, and the answer's length. A process that has just been busy with
other work decodes faster than one woken from a wait (caches, clock), so timing the floor
in the benchmark's own process would flatter it against the server.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from container.inference import InferencePipeline, RequestContext  # noqa: E402
from container.paths import Paths  # noqa: E402
from container.settings import ServingSettings  # noqa: E402


def main() -> int:
    body = Path(sys.argv[1]).read_bytes()
    pipeline = InferencePipeline(Paths.from_env().model_dir, ServingSettings.from_env())
    context = RequestContext(request_id="floor", content_type="text/csv", accept="text/csv")
    for _ in sys.stdin:
        start = time.perf_counter()
        answer, _ = pipeline.invoke(body, context)
        print(f"{time.perf_counter() - start:.9f} {len(answer)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
