"""Metrics agree with sklearn.metrics and survive degenerate folds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from mlbench.metrics import METRICS, score


def test_values_match_sklearn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    proba = rng.dirichlet(np.ones(3), 200)
    pred = proba.argmax(1)
    got = score(["accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "log_loss"], y, pred, proba, 3)
    assert got["accuracy"] == skm.accuracy_score(y, pred)
    assert got["balanced_accuracy"] == skm.balanced_accuracy_score(y, pred)
    assert got["f1_macro"] == skm.f1_score(y, pred, average="macro")
    assert got["roc_auc"] == skm.roc_auc_score(y, proba, multi_class="ovr")
    assert got["log_loss"] == skm.log_loss(y, proba)
    t = rng.normal(size=50)
    p = t + rng.normal(size=50)
    reg = score(["rmse", "mae", "r2"], t, p, None, 0)
    assert reg == pytest.approx(
        {
            "rmse": skm.root_mean_squared_error(t, p),
            "mae": skm.mean_absolute_error(t, p),
            "r2": skm.r2_score(t, p),
        }
    )


def test_binary_auc_uses_positive_column():
    y = np.array([0, 0, 1, 1])
    proba = np.array([[0.9, 0.1], [0.6, 0.4], [0.35, 0.65], [0.2, 0.8]])
    assert score(["roc_auc"], y, proba.argmax(1), proba, 2)["roc_auc"] == 1.0


def test_degenerate_folds_give_nan_or_a_value_not_an_error():
    # a test fold missing class 2 (rare class): log_loss still uses all labels, auc over present ones
    y = np.array([0, 1, 0, 1])
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1]])
    got = score(["log_loss", "roc_auc", "f1_macro"], y, proba.argmax(1), proba, 3)
    assert np.isfinite(got["log_loss"]) and got["roc_auc"] == 1.0
    one_class = score(["roc_auc"], np.zeros(3, int), np.zeros(3, int), np.full((3, 2), 0.5), 2)
    assert math.isnan(one_class["roc_auc"])
    empty = score(["accuracy", "log_loss"], np.array([], int), np.array([], int), np.empty((0, 2)), 2)
    assert all(math.isnan(v) for v in empty.values())
    assert math.isnan(score(["r2"], np.array([1.0]), np.array([1.0]), None, 0)["r2"])


def test_directions():
    assert METRICS.get("accuracy").greater_is_better and not METRICS.get("log_loss").greater_is_better
    assert not METRICS.get("rmse").greater_is_better and METRICS.get("r2").greater_is_better


def test_f1_macro_averages_over_the_classes_present_in_the_fold():
    # a 3-class dataset; this test fold holds classes 0 and 1 only and class 2 is never predicted
    y = np.array([0] * 8 + [1] * 8)
    pred = y.copy()
    pred[[0, 8]] = [1, 0]  # one mistake each way: F1 = 7/8 for both present classes
    got = score(["f1_macro"], y, pred, None, 3)["f1_macro"]
    assert got == pytest.approx(0.875)
    assert got == skm.f1_score(y, pred, average="macro", zero_division=0)
    # counting the absent class as F1 = 0 gave 0.58
    assert skm.f1_score(y, pred, average="macro", labels=[0, 1, 2], zero_division=0) == pytest.approx(
        0.5833, abs=1e-4
    )
    # a class predicted but absent from y_true still counts (F1 = 0), as in scikit-learn
    pred[1] = 2
    assert score(["f1_macro"], y, pred, None, 3)["f1_macro"] == skm.f1_score(
        y, pred, average="macro", zero_division=0
    )


def test_metric_ranges():
    assert (METRICS.get("accuracy").low, METRICS.get("accuracy").high) == (0.0, 1.0)
    assert (METRICS.get("rmse").low, METRICS.get("rmse").high) == (0.0, math.inf)
    assert (METRICS.get("r2").low, METRICS.get("r2").high) == (-math.inf, 1.0)
    assert METRICS.get("log_loss").low == 0.0
