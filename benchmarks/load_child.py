"""One training-input load, measured in a fresh process so its peak RSS is its own.

    python benchmarks/load_child.py byoc|numpy|pandas CHANNEL_DIR

byoc: container.dataset.load, the runtime's loader (the C parser when built).
numpy: the same loader with BYOC_CSV_PARSER=numpy (numpy.loadtxt per file, then concatenate).
pandas: pandas.read_csv per file, pandas.concat, .to_numpy() (float64).
Prints one JSON line: seconds, rows, columns, array bytes, RSS before and peak (VmHWM).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def main() -> int:
    method, channel_dir = sys.argv[1], Path(sys.argv[2])
    if method == "numpy":
        os.environ["BYOC_CSV_PARSER"] = "numpy"
    import numpy as np

    if method == "pandas":
        import pandas as pd

        files = sorted(p for p in channel_dir.iterdir() if p.is_file())
        baseline = status_kb("VmRSS")
        start = time.perf_counter()
        frames = [pd.read_csv(f, header=None, dtype=np.float64) for f in files]
        array = pd.concat(frames, ignore_index=True).to_numpy()
        del frames
        seconds = time.perf_counter() - start
    else:
        from container import dataset, fastcsv
        from container.channels import Channel
        from container.paths import Paths

        # The job folder layout: <base>/input/data/<channel>/
        base = channel_dir.parent.parent.parent
        paths = Paths(base)
        assert paths.channel_dir(channel_dir.name) == channel_dir, channel_dir
        baseline = status_kb("VmRSS")
        start = time.perf_counter()
        loaded = dataset.load(Channel(channel_dir.name), paths)
        seconds = time.perf_counter() - start
        array = loaded.X.base if loaded.X.base is not None else loaded.X
        assert method != "byoc" or fastcsv.enabled(), "the C parser is not built"
    print(json.dumps({
        "method": method,
        "seconds": seconds,
        "rows": int(array.shape[0]),
        "columns": int(array.shape[1]) if array.ndim == 2 else 1,
        "array_bytes": int(array.shape[0] * (array.shape[1] if array.ndim == 2 else 1) * 8),
        "rss_before_kb": baseline,
        "peak_rss_kb": status_kb("VmHWM"),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
