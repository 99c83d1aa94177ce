"""predict_fn as the default one calls the model, timing model.predict() with the thread's CPU
clock; every 1000 calls it logs `PREDICT_CPU_US <mean>` for benchmarks/run.py to read."""

from __future__ import annotations

import sys
import time
from typing import Any

_total = [0.0, 0]


def predict_fn(input_data: Any, model: Any) -> Any:
    start = time.thread_time()
    result = model.predict(input_data)
    _total[0] += time.thread_time() - start
    _total[1] += 1
    if _total[1] % 1000 == 0:
        print(f"PREDICT_CPU_US {_total[0] / _total[1] * 1e6:.1f} over {_total[1]}", file=sys.stderr, flush=True)
    return result
