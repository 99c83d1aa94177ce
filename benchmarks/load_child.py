"""One training-input load, measured in a fresh process so its peak RSS is its own.

    python benchmarks/load_child.py byoc|numpy|pandas|table|pandas-table CHANNEL_DIR

byoc: container.dataset.load, the runtime's loader (the C parser when built).
numpy: the same loader with BYOC_CSV_PARSER=numpy (numpy.loadtxt per file, then concatenate).
pandas: pandas.read_csv per file, pandas.concat, .to_numpy() (float64).
table: container.dataset.load_training on a channel of CSV files with a header, text columns
  and missing values (label_column=y), the path such data takes.
pandas-table: pandas.read_csv per file (its defaults), pandas.concat: the yardstick for table.
Prints one JSON line: seconds, rows, columns, array bytes, RSS before, after and peak (VmHWM);
for the tables also frame_bytes, what the loaded frame holds (each distinct string once).
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

    frame = None
    if method == "pandas-table":
        import pandas as pd

        files = sorted(p for p in channel_dir.iterdir() if p.is_file())
        baseline = status_kb("VmRSS")
        start = time.perf_counter()
        frame = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
        seconds = time.perf_counter() - start
        array = np.empty((len(frame), frame.shape[1]), dtype=np.uint8)  # for the shape only
    elif method == "table":
        import pandas  # noqa: F401  # imported before the baseline, as for pandas-table

        from container import dataset
        from container.channels import Channel
        from container.hyperparameters import TrainingOptions
        from container.paths import Paths

        base = channel_dir.parent.parent.parent
        paths = Paths(base)
        baseline = status_kb("VmRSS")
        start = time.perf_counter()
        loaded = dataset.load_training(Channel(channel_dir.name, "text/csv;header=present"), paths,
                                       TrainingOptions(label_column="y"))
        seconds = time.perf_counter() - start
        frame = loaded.X
        array = np.empty((loaded.rows, loaded.n_features + 1), dtype=np.uint8)  # for the shape only
    elif method == "pandas":
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
    extra = {}
    if frame is not None:
        trim()
        extra = {"rss_after_kb": status_kb("VmRSS")}
        extra["frame_bytes"] = frame_bytes(frame)
    print(json.dumps({
        **extra,
        "method": method,
        "seconds": seconds,
        "rows": int(array.shape[0]),
        "columns": int(array.shape[1]) if array.ndim == 2 else 1,
        "array_bytes": int(array.shape[0] * (array.shape[1] if array.ndim == 2 else 1) * 8),
        "rss_before_kb": baseline,
        "peak_rss_kb": status_kb("VmHWM"),
    }))
    return 0


def trim() -> None:
    """Hand freed memory back to the system, so VmRSS is what is held."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass


def frame_bytes(frame) -> int:  # type: ignore[no-untyped-def]
    """What a DataFrame holds: numbers' bytes; for text, a pointer per value and each
    distinct string object once (pandas' deep memory_usage counts a shared string per use)."""
    import numpy as np

    total = 0
    for name in frame.columns:
        column = frame[name]
        if column.dtype.kind in "iufb":
            total += column.to_numpy().nbytes
            continue
        values = np.asarray(column, dtype=object)
        total += values.nbytes
        seen: set[int] = set()
        for value in values.tolist():
            if id(value) not in seen:
                seen.add(id(value))
                total += sys.getsizeof(value)
    return total


if __name__ == "__main__":
    sys.exit(main())
