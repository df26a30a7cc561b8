"""Test models for GPU scheduling and orphan tests, loaded through `plugins: [plugins/gpu_models.py]`.

- ``gpu_sleeper``: a job the executor treats as a GPU job (``uses_gpu``), sleeping ``seconds``
  in fit; with ``MLBENCH_FAKE_GPUS`` it is scheduled on a fake card and runs on the CPU.
- ``spawner``: starts a child process (a sleeping Python) and sleeps, so a test can check that
  a job's own subprocesses die with the run.
"""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from mlbench.models import MODELS, ModelInfo, register_model


class Sleeper(ClassifierMixin, BaseEstimator):
    def __init__(self, seconds: float = 0.0, spawn: bool = False):
        self.seconds = seconds
        self.spawn = spawn

    def fit(self, X, y):
        if self.spawn:
            subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        time.sleep(self.seconds)
        self.classes_ = np.unique(y)
        self.prior_ = np.bincount(np.searchsorted(self.classes_, y)) / len(y)
        return self

    def predict_proba(self, X):
        return np.tile(self.prior_, (len(X), 1))

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def _factory(spawn):
    def make(params, task_type, seed, n_jobs):
        return Sleeper(spawn=spawn, **params)

    return make


for _name, _spawn, _gpu in [("gpu_sleeper", False, True), ("spawner", True, False)]:
    if _name not in MODELS:
        register_model(
            ModelInfo(
                name=_name,
                factory=_factory(_spawn),
                task_types=("classification",),
                param_names={"classification": frozenset({"seconds"})},
                description=f"test model: {_name}",
                uses_gpu=(lambda params: True) if _gpu else None,
            )
        )


class OutOfGpuMemory(Sleeper):
    """Raises torch's real CUDA out-of-memory error class, as a too-large batch on a GPU does."""

    def fit(self, X, y):
        import torch

        raise torch.OutOfMemoryError(
            "CUDA out of memory. Tried to allocate 20.00 GiB (GPU 0; 79.1 GiB total)"
        )


if "gpu_oom" not in MODELS:
    register_model(
        ModelInfo(
            name="gpu_oom",
            factory=lambda params, task_type, seed, n_jobs: OutOfGpuMemory(**params),
            task_types=("classification",),
            param_names={"classification": frozenset({"seconds"})},
            description="test model: raises a CUDA out-of-memory error",
        )
    )
