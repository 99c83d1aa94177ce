"""codecs._encode_csv's vectorised path for numeric arrays writes what the per-value path wrote."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from container import codecs


def per_value(array: np.ndarray) -> bytes:
    """The encoder as it was: _csv_value on every value."""
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim == 1:
        return "".join(f"{codecs._csv_value(v)}\n" for v in array.tolist()).encode()
    return "".join(",".join(codecs._csv_value(v) for v in row) + "\n" for row in array.tolist()).encode()


rng = np.random.default_rng(0)
ARRAYS: list[Any] = [
    np.array(3), np.array(2.5), np.array([]), np.array([], dtype=int), np.empty((0, 3)), np.empty((3, 0)),
    np.array([True, False]), rng.integers(-5, 5, 10), rng.integers(0, 5, 10).astype(np.uint8),
    rng.standard_normal(10), rng.standard_normal((4, 3)), rng.standard_normal(10).astype(np.float32),
    np.array([np.nan, np.inf, -np.inf, -0.0, 1e300, 5e-324]), rng.integers(0, 3, (3, 2)),
    np.array(["a", "b,c", 'd"e']), np.array([1 + 2j]), np.array([[True], [False]]),
    np.array([1, "x"], dtype=object), np.float16([1.5, 2.25]), np.array(np.iinfo(np.int64).min),
    np.array([np.iinfo(np.uint64).max]),
]


@pytest.mark.parametrize("array", ARRAYS, ids=lambda a: f"{a.dtype}{a.shape}")
def test_same_bytes_as_the_per_value_encoder(array: np.ndarray) -> None:
    assert codecs._encode_csv(array) == per_value(array)
    assert codecs.encode(array, codecs.CSV) == per_value(array)


@pytest.mark.parametrize("body", [b"", b" ", b"\n\r\n\t", b"\x0b\x0c"])
def test_blank_bodies_are_still_empty(body: bytes) -> None:
    with pytest.raises(codecs.RequestError, match="empty"):
        codecs.decode(body, "text/csv")
