"""A test model whose outputs are scripted by its parameters: valid probabilities or values, or
broken ones (NaN, inf, negative, unnormalised rows, too many or too few rows or columns).

Loaded by test suites through `plugins: [plugins/outputs.py]`; a real estimator run through the
real job path, so the tests see exactly what a misbehaving model would hand mlbench.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from mlbench.models import MODELS, ModelInfo, register_model

PARAMS = ("rows_delta", "cols_delta", "nan_rows", "inf_rows", "neg_rows", "scale", "column")


class _Scripted(BaseEstimator):
    def __init__(
        self,
        rows_delta: int = 0,
        cols_delta: int = 0,
        nan_rows: int = 0,
        inf_rows: int = 0,
        neg_rows: int = 0,
        scale: float = 1.0,
        column: bool = False,
    ):
        self.rows_delta = rows_delta
        self.cols_delta = cols_delta
        self.nan_rows = nan_rows
        self.inf_rows = inf_rows
        self.neg_rows = neg_rows
        self.scale = scale
        self.column = column

    def _damage(self, out: np.ndarray) -> np.ndarray:
        # each kind of damage on its own leading rows (column 0), so the counts are exact
        n = len(out)
        a = min(self.nan_rows, n)
        b = min(a + self.inf_rows, n)
        c = min(b + self.neg_rows, n)
        out[:a, 0] = np.nan
        out[a:b, 0] = np.inf
        if out.shape[1] >= 2:
            # a negative probability in a row that still sums to 1
            out[b:c, 1] += out[b:c, 0] + 0.25
            out[b:c, 0] = -0.25
        else:
            out[b:c, 0] = -np.abs(out[b:c, 0]) - 1.0
        n_rows = max(n + self.rows_delta, 0)
        return np.resize(out, (n_rows, out.shape[1])) if n_rows != n else out


class ScriptedClassifier(ClassifierMixin, _Scripted):
    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        rng = np.random.default_rng(len(X))
        k = max(len(self.classes_) + self.cols_delta, 1)
        return self._damage(rng.dirichlet(np.ones(k), size=len(X)) * self.scale)

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1) % len(self.classes_)]


class ScriptedRegressor(RegressorMixin, _Scripted):
    def fit(self, X, y):
        self.mean_ = float(np.mean(y))
        return self

    def predict(self, X):
        out = self._damage(np.full((len(X), 1 + max(self.cols_delta, 0)), self.mean_))
        return out if self.column or out.shape[1] > 1 else out[:, 0]


def _make(params, task_type, seed, n_jobs):
    cls = ScriptedClassifier if task_type == "classification" else ScriptedRegressor
    return cls(**params)


if "scripted" not in MODELS:
    register_model(
        ModelInfo(
            name="scripted",
            factory=_make,
            task_types=("classification", "regression"),
            param_names={t: frozenset(PARAMS) for t in ("classification", "regression")},
            description="test model: outputs scripted by its parameters",
        )
    )


class MarkupRaiser(ClassifierMixin, BaseEstimator):
    """Fails with a message that rich would read as a closing tag (``[/data/a.csv]``)."""

    def fit(self, X, y):
        raise OSError("could not open [/data/a.csv] [bold]x[/] [/]")


if "raises_markup" not in MODELS:
    register_model(
        ModelInfo(
            name="raises_markup",
            factory=lambda params, task_type, seed, n_jobs: MarkupRaiser(),
            task_types=("classification",),
            param_names={"classification": frozenset()},
            description="test model: raises with rich markup in its message",
        )
    )
