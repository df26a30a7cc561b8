"""The deep training loop (mlbench.deep.trainer): early stopping against warm-up and min_steps.

Real tiny MLPs on sklearn's wine data, on the CPU (deterministic for a seed).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sklearn.datasets import load_wine  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from mlbench.deep import trainer  # noqa: E402
from mlbench.estimators import MLPClassifier  # noqa: E402

FAST = {"device": "cpu", "n_threads": 1}


@pytest.fixture(scope="module")
def wine30() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """30 stratified training rows of wine (3 classes) and the other 148 as test rows."""
    X, y = load_wine(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, train_size=30, random_state=2, stratify=y)
    return X_train, X_test, y_train, y_test


def test_warmup_steps_match_the_schedules():
    cfg = trainer.TrainConfig(epochs=60, lr_schedule="onecycle")
    assert trainer.warmup_steps(cfg, 1) == pytest.approx(15.0)  # a quarter of the steps
    assert trainer.warmup_steps(trainer.TrainConfig(epochs=1, lr_schedule="onecycle"), 2) == 0.0  # no cycle
    cosine = trainer.TrainConfig(epochs=20, lr_schedule="cosine", warmup_epochs=2.5)
    assert trainer.warmup_steps(cosine, 4) == 10.0
    assert trainer.warmup_steps(trainer.TrainConfig(lr_schedule="constant"), 4) == 0.0


def test_early_stopping_never_stops_during_the_warmup(wine30):
    X_train, X_test, y_train, y_test = wine30
    est = MLPClassifier(hidden_sizes=(32,), epochs=60, early_stopping=3, random_state=2, **FAST)
    est.fit(X_train, y_train)
    val = [h["val_loss"] for h in est.history_]
    # Early in onecycle's warm-up (15 of 60 one-step epochs here) the held-out loss does not improve
    # for 3 epochs: counting patience there stopped at epoch 4 and restored epoch 1's weights
    # (test accuracy 0.155, below the majority class's 0.399).
    assert min(val[1:4]) >= val[0] - 1e-7
    assert len(est.history_) > 15 and est.best_epoch_ >= 15
    majority = np.mean(y_test == np.bincount(y_train).argmax())
    assert est.score(X_test, y_test) > majority + 0.3  # 0.818 here
    watch_from = math.ceil(trainer.warmup_steps(trainer.TrainConfig(epochs=60, lr_schedule="onecycle"), 1))
    assert watch_from == 15
    # the restored weights are the best epoch's among those after the warm-up
    assert val[est.best_epoch_ - 1] == min(val[watch_from - 1 :])


def test_min_steps_is_a_floor_that_early_stopping_respects(wine30):
    X_train, _, y_train, _ = wine30
    # 27 training rows (3 held out for stopping) in one batch: one optimiser step per epoch, so
    # 40 steps take 40 epochs; at lr 0.05 the held-out loss rises after epoch 15 and patience 1
    # stopped this network after 16 steps.
    est = MLPClassifier(
        hidden_sizes=(32,), epochs=5, min_steps=40, lr=0.05, lr_schedule="constant", early_stopping=1,
        random_state=1, **FAST,
    )  # fmt: skip
    est.fit(X_train, y_train)
    assert len(est.history_) == 40
    val = [h["val_loss"] for h in est.history_]
    # patience 1 ran out well before 40 steps (an epoch that did not improve on the best)
    assert any(val[i] >= min(val[:i]) - 1e-7 for i in range(1, 30))
    assert val[est.best_epoch_ - 1] == min(val)  # the best epoch's weights are still the ones kept
