"""The bundled sample: the iris data set that scikit-learn ships, as SageMaker-style CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write(folder: Path, seed: int = 7) -> dict[str, Path]:
    """Write train/validation/test CSVs (label first, no header) and a features-only payload."""
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(y))
    X, y = X[order], y[order]
    parts = {"train": slice(0, 100), "validation": slice(100, 125), "test": slice(125, 150)}
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, rows in parts.items():
        path = folder / name / f"{name}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savetxt(path, np.column_stack([y[rows], X[rows]]), delimiter=",", fmt="%g")
        written[name] = path.parent
    payload = folder / "payload.csv"
    np.savetxt(payload, X[125:130], delimiter=",", fmt="%g")
    written["payload"] = payload
    return written
