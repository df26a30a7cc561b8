"""A test model that records which dataset rows it is fitted on and asked to predict.

The dataset's first feature is the row id; every ``fit`` and ``predict_proba`` appends one JSON
line ``{"op": ..., "ids": [...]}`` to the file named by the ``log`` parameter, from whichever
worker process runs the job. Loaded by test suites through ``plugins: [plugins/probe.py]``.
"""

from __future__ import annotations

import json

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from mlbench.models import MODELS, ModelInfo, register_model


class Probe(ClassifierMixin, BaseEstimator):
    def __init__(self, log: str = "", alpha: float = 1.0):
        self.log = log
        self.alpha = alpha

    def _write(self, op: str, X) -> None:
        with open(self.log, "a") as fh:
            fh.write(json.dumps({"op": op, "ids": np.asarray(X)[:, 0].astype(int).tolist()}) + "\n")

    def fit(self, X, y):
        self._write("fit", X)
        self.classes_ = np.unique(y)
        # predicts the class priors; alpha is only there to be tuned
        self.prior_ = np.bincount(np.searchsorted(self.classes_, y), minlength=len(self.classes_)) / len(y)
        return self

    def predict_proba(self, X):
        self._write("predict", X)
        return np.tile(self.prior_, (len(X), 1))

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


if "probe" not in MODELS:
    register_model(
        ModelInfo(
            name="probe",
            factory=lambda params, task_type, seed, n_jobs: Probe(**params),
            task_types=("classification",),
            param_names={"classification": frozenset({"log", "alpha"})},
            description="test model: records the row ids it sees",
        )
    )
