"""Metric registry over :mod:`sklearn.metrics`, each with its direction.

Scores are computed from labels/values and, for probabilistic metrics, class probabilities
whose columns follow the class codes ``0..k-1``. sklearn is imported inside the functions so
that importing this module (the suite validator does) stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlbench.errors import ConfigError
from mlbench.registry import Registry

DEFAULT_METRICS: dict[str, list[str]] = {
    "classification": ["accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "log_loss"],
    "regression": ["rmse", "mae", "r2"],
}

if TYPE_CHECKING:  # numpy is imported lazily: the suite validator imports this module
    import numpy as np


@dataclass(frozen=True)
class Metric:
    """One metric.

    Attributes
    ----------
    name : str
    task_type : {"classification", "regression"}
    greater_is_better : bool
    needs_proba : bool
        Computed from class probabilities instead of predicted labels.
    fn : callable
        ``fn(y_true, y_pred_or_proba, n_classes) -> float``.
    low, high : float
        The values the metric can take (accuracy in [0, 1], rmse >= 0, r2 <= 1); confidence
        intervals are clipped to them.
    """

    name: str
    task_type: str
    greater_is_better: bool
    needs_proba: bool
    fn: Callable[[np.ndarray, np.ndarray, int], float]
    low: float = -math.inf
    high: float = math.inf


METRICS: Registry[Metric] = Registry("metric", ConfigError)


def _accuracy(y, p, k):
    from sklearn.metrics import accuracy_score

    return accuracy_score(y, p)


def _balanced_accuracy(y, p, k):
    import warnings

    from sklearn.metrics import balanced_accuracy_score

    with warnings.catch_warnings():
        # A tiny fold may predict a class absent from y_true; sklearn warns and still scores.
        warnings.simplefilter("ignore")
        return balanced_accuracy_score(y, p)


def _f1_macro(y, p, k):
    from sklearn.metrics import f1_score

    # scikit-learn's default label set: the classes present in y_true or y_pred. Averaging over
    # every class of the dataset would count a class absent from this fold (and never predicted)
    # as F1 = 0 and drag the mean down for no fault of the model.
    return f1_score(y, p, average="macro", zero_division=0)


def _roc_auc(y, proba, k):
    import numpy as np
    from sklearn.metrics import roc_auc_score

    present = np.unique(y)
    if len(present) < 2:
        return math.nan  # undefined with one class in y_true
    if k == 2:
        return roc_auc_score(y, proba[:, 1])
    if len(present) < k:
        # One-vs-rest over the classes present, renormalised: sklearn needs every column's class in y_true.
        sub = proba[:, present]
        sub = sub / np.clip(sub.sum(axis=1, keepdims=True), 1e-12, None)
        if len(present) == 2:
            return roc_auc_score(y == present[1], sub[:, 1])
        return roc_auc_score(y, sub, multi_class="ovr", labels=present)
    return roc_auc_score(y, proba, multi_class="ovr", labels=np.arange(k))


def _log_loss(y, proba, k):
    import numpy as np
    from sklearn.metrics import log_loss

    return log_loss(y, proba, labels=np.arange(k))


def _rmse(y, p, k):
    from sklearn.metrics import root_mean_squared_error

    return root_mean_squared_error(y, p)


def _mae(y, p, k):
    from sklearn.metrics import mean_absolute_error

    return mean_absolute_error(y, p)


def _r2(y, p, k):
    from sklearn.metrics import r2_score

    if len(y) < 2:
        return math.nan
    return r2_score(y, p)


for _m in [
    Metric("accuracy", "classification", True, False, _accuracy, 0.0, 1.0),
    Metric("balanced_accuracy", "classification", True, False, _balanced_accuracy, 0.0, 1.0),
    Metric("f1_macro", "classification", True, False, _f1_macro, 0.0, 1.0),
    Metric("roc_auc", "classification", True, True, _roc_auc, 0.0, 1.0),
    Metric("log_loss", "classification", False, True, _log_loss, 0.0),
    Metric("rmse", "regression", False, False, _rmse, 0.0),
    Metric("mae", "regression", False, False, _mae, 0.0),
    Metric("r2", "regression", True, False, _r2, -math.inf, 1.0),
]:
    METRICS.register(_m.name, _m)


def score(
    names: list[str],
    y_true: np.ndarray,
    y_pred: np.ndarray,
    proba: np.ndarray | None,
    n_classes: int,
) -> dict[str, float]:
    """Compute several metrics; a metric that cannot be computed on this data gives NaN.

    Parameters
    ----------
    names : list of str
        Metric names (all of one task type).
    y_true, y_pred : numpy.ndarray
        Class codes or regression values.
    proba : numpy.ndarray or None
        Class probabilities (n, k) for classifiers.
    n_classes : int
        k (0 for regression).
    """
    out: dict[str, float] = {}
    for name in names:
        metric = METRICS.get(name)
        if metric.needs_proba and proba is None:
            out[name] = math.nan
            continue
        try:
            out[name] = float(metric.fn(y_true, proba if metric.needs_proba else y_pred, n_classes))
        except ValueError:
            # e.g. an empty validation split; recorded as missing rather than failing the job
            out[name] = math.nan
    return out
