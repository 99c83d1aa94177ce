"""Helpers for the contract tests: test model packages and CSV files."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def package_env(package: str) -> dict[str, str]:
    """Environment for a `train`/`serve` process that uses a test model package from tests/fixtures."""
    pythonpath = [str(FIXTURES)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {"BYOC_MODEL_PACKAGE": package, "PYTHONPATH": os.pathsep.join(pythonpath)}


def write_csv(path: Path, text: str | bytes, *, compress: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode() if isinstance(text, str) else text
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def csv_text(rows: np.ndarray) -> str:
    return "".join(",".join(f"{v:g}" for v in row) + "\n" for row in rows)
