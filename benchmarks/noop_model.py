"""A model whose predict() costs nothing, so a benchmark can tell the runtime's own per-request
cost from scikit-learn's (input validation alone is ~80 us a call on a small linear model)."""

from __future__ import annotations

import numpy as np


class ConstantModel:
    """Predicts class 0 for every row; takes `n_features_in_` features like an estimator."""

    def __init__(self, n_features: int) -> None:
        self.n_features_in_ = n_features
        self.classes_ = np.array([0, 1])

    def fit(self, X: np.ndarray, y: np.ndarray) -> "ConstantModel":
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.zeros(len(X), dtype=np.int64)
