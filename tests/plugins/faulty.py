"""Test models that misbehave on purpose: raise, sleep past a deadline, allocate past a budget.

Loaded by test suites through `plugins: [plugins/faulty.py]`; real estimators, real processes.
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from mlbench.models import MODELS, ModelInfo, register_model


class Faulty(ClassifierMixin, BaseEstimator):
    def __init__(self, mode: str = "ok", seconds: float = 0.0, megabytes: int = 0):
        self.mode = mode
        self.seconds = seconds
        self.megabytes = megabytes

    def fit(self, X, y):
        if self.mode == "raise":
            raise RuntimeError("boom: this model always fails")
        if self.mode == "hog":
            block = np.ones(self.megabytes * 2**20 // 8)  # touched pages: resident, not just reserved
            time.sleep(self.seconds)
            del block
        elif self.seconds:
            time.sleep(self.seconds)
        self.classes_ = np.unique(y)
        self.prior_ = np.bincount(np.searchsorted(self.classes_, y)) / len(y)
        return self

    def predict_proba(self, X):
        return np.tile(self.prior_, (len(X), 1))

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def _factory(mode):
    def make(params, task_type, seed, n_jobs):
        return Faulty(mode=mode, **params)

    return make


_PARAMS = frozenset({"seconds", "megabytes"})
for _name, _mode in [("raises", "raise"), ("sleeps", "sleep"), ("hog", "hog"), ("prior", "ok")]:
    if _name not in MODELS:
        register_model(
            ModelInfo(
                name=_name,
                factory=_factory(_mode),
                task_types=("classification",),
                param_names={"classification": _PARAMS},
                description=f"test model: {_mode}",
            )
        )
