"""Confidence intervals of a model's expected test score, each with the method that made it.

Two designs, two methods:

- **k-fold** (and repeated k-fold): the folds' training sets overlap, so fold scores are positively
  correlated and a plain Student-t interval over them is too narrow. The *corrected resampled t*
  of Nadeau and Bengio (2003) multiplies the fold variance by ``1/J + n_test/n_train`` instead of
  ``1/J`` (``J`` folds in all: ``k`` for k-fold, ``k * r`` for ``r`` times repeated k-fold), with
  ``J - 1`` degrees of freedom. Sweep repeats of a fold share its test rows, so they are averaged
  within the fold first. The interval is for the expected score of the model trained on
  ``n_train`` rows (over training sets); the correction is a heuristic that is slightly
  conservative when training sets overlap less (train-size subsets).
- **one test split** (holdout, or the user's ``test:`` file): there is one test set, so the
  interval is a percentile bootstrap over its rows, resampled together for every repeat (the
  repeats' scores are averaged inside each resample). It covers the score of the trained
  model(s) on new rows from the same distribution, not the variation over training sets.

Every bound is clipped to the metric's range (:attr:`mlbench.metrics.Metric.low`/``high``), so an
accuracy interval never passes 1.

The bootstrap computes each metric for many resamples at once from bootstrap weights (counts of
each test row), vectorised with numpy; the results equal :mod:`mlbench.metrics` on the resampled
rows. scipy is imported inside the functions that need it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from mlbench.metrics import METRICS

__all__ = [
    "bootstrap_interval",
    "clip_to_range",
    "corrected_t_interval",
    "metric_range",
    "weighted_metric",
]

#: Bootstrap resamples per interval unless told otherwise.
N_BOOT = 1000
#: Cells of the (resamples x rows) weight matrix computed at once, to bound memory.
_CHUNK_CELLS = 2_000_000


def metric_range(metric: str) -> tuple[float, float]:
    """The values a metric can take, ``(low, high)``; ``(-inf, inf)`` for unknown metrics.

    Parameters
    ----------
    metric : str
        Metric name from :data:`mlbench.metrics.METRICS`.
    """
    if metric in METRICS:
        m = METRICS.get(metric)
        return float(m.low), float(m.high)
    return -math.inf, math.inf


def clip_to_range(metric: str, low: Any, high: Any) -> tuple[Any, Any]:
    """Clip interval bounds (scalars or arrays) to the metric's range; NaN stays NaN."""
    lo, hi = metric_range(metric)
    return np.clip(low, lo, hi), np.clip(high, lo, hi)


def corrected_t_interval(
    fold_scores: Sequence[float] | np.ndarray, n_test: float, n_train: float, level: float = 0.95
) -> tuple[float, float]:
    """Nadeau-Bengio corrected resampled t interval of a k-fold mean.

    Parameters
    ----------
    fold_scores : array-like of float
        One score per fold (sweep repeats already averaged within the fold); NaNs are ignored.
    n_test, n_train : float
        Test and training rows per fold.
    level : float
        Coverage, e.g. 0.95.

    Returns
    -------
    (float, float)
        ``mean -/+ t_{J-1} * sqrt(var * (1/J + n_test/n_train))`` with ``var`` the sample variance
        of the ``J`` fold scores; ``(nan, nan)`` with fewer than 2 folds or unknown sizes,
        ``(mean, mean)`` when every fold scores the same. Not clipped (see :func:`clip_to_range`).
    """
    x = np.asarray(fold_scores, dtype=float)
    x = x[np.isfinite(x)]
    low, high = corrected_t_bounds(
        np.array([x.mean()]) if len(x) else np.array([math.nan]),
        np.array([x.var(ddof=1)]) if len(x) >= 2 else np.array([math.nan]),
        np.array([float(len(x))]),
        np.array([float(n_test) / float(n_train) if n_train else math.nan]),
        level,
    )
    return float(low[0]), float(high[0])


def corrected_t_bounds(
    mean: np.ndarray, var: np.ndarray, n_folds: np.ndarray, ratio: np.ndarray, level: float
) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised :func:`corrected_t_interval` from per-group mean, variance, fold count, n_test/n_train."""
    from scipy import stats

    with np.errstate(invalid="ignore", divide="ignore"):
        t = stats.t.ppf((1 + level) / 2, np.where(n_folds >= 2, n_folds - 1, np.nan))
        half = t * np.sqrt(var * (1.0 / n_folds + ratio))
    # Identical folds: no spread to widen, the interval is the point (not NaN from 0 * inf).
    half = np.where((var == 0) & np.isfinite(ratio) & (n_folds >= 2), 0.0, half)
    return mean - half, mean + half


# --------------------------------------------------------------------------------------------
# weighted metrics: one value per row of a weight matrix
# --------------------------------------------------------------------------------------------


def _onehot(codes: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((len(codes), k))
    ok = (codes >= 0) & (codes < k)
    out[np.flatnonzero(ok), codes[ok]] = 1.0
    return out


def _pairs_below(W: np.ndarray, order: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted count of (positive, negative) pairs with the negative before the positive in
    ``order``, and the weighted count of all pairs, for each row of ``W``."""
    pos = positive[order]
    # Integer counts stay integers: exact, and their cumulative sums are twice as fast.
    cneg = np.cumsum(W[:, order[~pos]], axis=1, dtype=W.dtype)
    cneg = np.concatenate([np.zeros((len(W), 1), dtype=cneg.dtype), cneg], axis=1)
    before = np.cumsum(~pos)[pos]  # negatives placed before each positive
    wp = W[:, order[pos]]
    num = (wp * cneg[:, before]).sum(axis=1, dtype=np.float64)
    return num, wp.sum(axis=1, dtype=np.float64) * cneg[:, -1]


def _weighted_auc(W: np.ndarray, positive: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Binary ROC AUC for each row of weights ``W`` (ties count one half); NaN without both classes.

    The AUC is the weighted share of (positive, negative) pairs ordered correctly, a tie counting
    one half: the mean of the counts with ties broken against and in favour of the positives, each
    one cumulative sum over the scores in order. Few distinct scores (trees, k-NN) are summed per
    score with a matrix product instead.
    """
    positive = np.asarray(positive, dtype=bool)
    score = np.asarray(score, dtype=float)
    values, group = np.unique(score, return_inverse=True)
    group = group.ravel()
    if len(values) <= 32:
        onehot = np.zeros((len(score), len(values)))
        onehot[np.arange(len(score)), group] = 1.0
        pw = W @ (onehot * positive[:, None])
        nw = W @ (onehot * ~positive[:, None])
        below = np.cumsum(nw, axis=1) - nw  # negatives scored strictly lower than each score
        num = (pw * (below + 0.5 * nw)).sum(axis=1)
        den = pw.sum(axis=1) * nw.sum(axis=1)
    elif len(values) == len(score):
        num, den = _pairs_below(W, np.argsort(score, kind="stable"), positive)
    else:
        # within a run of tied scores: positives first (tied pairs not counted), then last (counted)
        strict, den = _pairs_below(W, np.lexsort((~positive, score)), positive)
        loose, _ = _pairs_below(W, np.lexsort((positive, score)), positive)
        num = 0.5 * (strict + loose)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def _roc_auc(W: np.ndarray, y: np.ndarray, proba: np.ndarray, k: int) -> np.ndarray:
    """:func:`mlbench.metrics` roc_auc per weight row: binary on column 1; one-vs-rest macro over
    the classes present in the resample, their probabilities renormalised when some are absent."""
    present = np.stack([W[:, y == c].sum(axis=1) > 0 for c in range(k)], axis=1)  # (B, k)
    out = np.full(len(W), np.nan)
    # Resamples with the same set of present classes are scored together.
    keys, inverse = np.unique(present, axis=0, return_inverse=True)
    for g, key in enumerate(keys):
        sel = np.flatnonzero(inverse.ravel() == g)
        cls = np.flatnonzero(key)
        if len(cls) < 2:
            continue
        Wk = W[sel]
        if k == 2:
            out[sel] = _weighted_auc(Wk, y == 1, proba[:, 1])
            continue
        sub = proba[:, cls]
        if len(cls) < k:
            sub = sub / np.clip(sub.sum(axis=1, keepdims=True), 1e-12, None)
        if len(cls) == 2:
            out[sel] = _weighted_auc(Wk, y == cls[1], sub[:, 1])
            continue
        out[sel] = np.mean([_weighted_auc(Wk, y == c, sub[:, j]) for j, c in enumerate(cls)], axis=0)
    return out


def weighted_metric(
    metric: str,
    W: np.ndarray,
    y_true: np.ndarray,
    y_pred: np.ndarray | None,
    proba: np.ndarray | None = None,
    n_classes: int = 0,
) -> np.ndarray:
    """A metric for each row of a weight matrix, as if each row's counts had resampled the test set.

    Parameters
    ----------
    metric : str
        One of accuracy, balanced_accuracy, f1_macro, roc_auc, log_loss, rmse, mae, r2.
    W : numpy.ndarray
        ``(B, n)`` non-negative counts (how often each test row is drawn in each resample).
    y_true, y_pred : numpy.ndarray
        Class codes (classification) or values (regression), length ``n``.
    proba : numpy.ndarray, optional
        ``(n, k)`` class probabilities (roc_auc, log_loss).
    n_classes : int
        ``k``; taken from ``proba`` or the codes when 0.

    Returns
    -------
    numpy.ndarray
        ``(B,)`` values; equal to :func:`mlbench.metrics.score` on the resampled rows (f1_macro over
        the classes present in the resample's true or predicted labels, balanced_accuracy over the
        classes present in its true labels, roc_auc as :mod:`mlbench.metrics` computes it).
    """
    counts = np.asarray(W)
    if not np.issubdtype(counts.dtype, np.integer):
        counts = counts.astype(float)
    W = counts.astype(float)
    total = W.sum(axis=1)
    if metric in ("rmse", "mae", "r2"):
        y = np.asarray(y_true, dtype=float)
        p = np.asarray(y_pred, dtype=float)
        if metric == "mae":
            return (W @ np.abs(y - p)) / total
        sse = W @ (y - p) ** 2
        if metric == "rmse":
            return np.sqrt(sse / total)
        yc = y - y.mean()  # centred: the weighted total sum of squares loses no precision
        sst = W @ yc**2 - (W @ yc) ** 2 / total
        with np.errstate(invalid="ignore", divide="ignore"):
            # sklearn's r2 with a constant target: 1 for a perfect fit, else 0
            return np.where(sst > 0, 1.0 - sse / np.where(sst > 0, sst, 1.0), np.where(sse == 0, 1.0, 0.0))
    y = np.asarray(y_true).astype(np.int64)
    if proba is not None:
        proba = np.asarray(proba, dtype=float)
    k = int(n_classes or (proba.shape[1] if proba is not None else 0))
    if metric in ("roc_auc", "log_loss"):
        if proba is None:
            return np.full(len(W), np.nan)
        k = k or proba.shape[1]
        if metric == "roc_auc":
            return _roc_auc(counts, y, proba, k)
        eps = np.finfo(np.float64).eps
        p_true = np.clip(proba[np.arange(len(y)), np.clip(y, 0, proba.shape[1] - 1)], eps, 1 - eps)
        return (W @ -np.log(p_true)) / total
    pred = np.asarray(y_pred).astype(np.int64)
    k = max(k, int(y.max(initial=-1)) + 1, int(pred.max(initial=-1)) + 1)
    if metric == "accuracy":
        return (W @ (pred == y).astype(float)) / total
    Y, P = _onehot(y, k), _onehot(pred, k)
    true_w = W @ Y  # (B, k) weighted count of each true class
    tp = W @ (Y * P)
    with np.errstate(invalid="ignore", divide="ignore"):
        if metric == "balanced_accuracy":
            recall = np.where(true_w > 0, tp / np.where(true_w > 0, true_w, 1.0), np.nan)
            return np.nanmean(recall, axis=1)
        if metric == "f1_macro":
            pred_w = W @ P
            present = (true_w + pred_w) > 0
            f1 = np.where(present, 2 * tp / np.where(present, true_w + pred_w, 1.0), 0.0)
            return f1.sum(axis=1) / present.sum(axis=1)
    raise ValueError(f"no bootstrap for metric {metric!r}")


#: Metrics :func:`weighted_metric` computes.
BOOTSTRAP_METRICS = frozenset(
    {"accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "log_loss", "rmse", "mae", "r2"}
)


# --------------------------------------------------------------------------------------------
# bootstrap over test rows
# --------------------------------------------------------------------------------------------


def _aligned(jobs: Sequence[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]] | None:
    """The jobs' test arrays sorted by test row, or None when they do not share the same rows."""
    out = []
    reference: np.ndarray | None = None
    for arrays in jobs:
        idx = np.asarray(arrays.get("test_index", np.arange(len(arrays["test_true"]))))
        order = np.argsort(idx, kind="stable")
        if reference is None:
            reference = idx[order]
        elif len(idx) != len(reference) or not np.array_equal(idx[order], reference):
            return None
        out.append({k: np.asarray(v)[order] for k, v in arrays.items() if k.startswith("test_")})
    return out


def bootstrap_interval(
    jobs: Sequence[dict[str, np.ndarray]],
    metrics: Sequence[str],
    *,
    n_boot: int = N_BOOT,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, tuple[float, float, str]]:
    """Percentile bootstrap interval over test rows, repeats averaged inside each resample.

    Parameters
    ----------
    jobs : sequence of dict
        One dict per repeat of a single test split, each with ``test_index``, ``test_true``,
        ``test_pred`` and, for probabilistic metrics, ``test_proba`` (columns = class codes).
        All repeats must hold the same test rows.
    metrics : sequence of str
        Metrics to bound (see :data:`BOOTSTRAP_METRICS`).
    n_boot : int
        Resamples.
    level : float
        Coverage.
    seed : int
        Seed of the resampling; the same seed draws the same resamples for every model scored on
        the same rows, so their intervals are paired.

    Returns
    -------
    dict
        ``{metric: (low, high, note)}``, bounds clipped to the metric's range; NaN bounds and a
        note saying why when the metric cannot be bootstrapped (fewer than 2 rows, repeats on
        different rows, missing arrays).
    """
    out: dict[str, tuple[float, float, str]] = {}
    aligned = _aligned(jobs) if jobs else None
    if not jobs:
        return {m: (math.nan, math.nan, "no predictions") for m in metrics}
    if aligned is None:
        return {m: (math.nan, math.nan, "repeats were scored on different test rows") for m in metrics}
    n = len(aligned[0]["test_true"])
    if n < 2:
        return {m: (math.nan, math.nan, "fewer than 2 test rows") for m in metrics}
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK_CELLS // n)
    values: dict[str, list[np.ndarray]] = {m: [] for m in metrics}
    usable = []
    for m in metrics:
        needs_proba = m in METRICS and METRICS.get(m).needs_proba
        if m not in BOOTSTRAP_METRICS:
            out[m] = (math.nan, math.nan, f"no bootstrap for {m}")
        elif any("test_pred" not in a and not needs_proba for a in aligned) or (
            needs_proba and any("test_proba" not in a for a in aligned)
        ):
            out[m] = (math.nan, math.nan, "predictions lack the arrays for " + m)
        else:
            usable.append(m)
    done = 0
    while done < n_boot and usable:
        b = min(chunk, n_boot - done)
        W = rng.multinomial(n, np.full(n, 1.0 / n), size=b).astype(np.int32)
        for m in usable:
            per_job = [
                weighted_metric(m, W, a["test_true"], a.get("test_pred"), a.get("test_proba"))
                for a in aligned
            ]
            values[m].append(np.mean(per_job, axis=0))
        done += b
    tail = (1 - level) / 2
    for m in usable:
        v = np.concatenate(values[m])
        v = v[np.isfinite(v)]
        if len(v) < 0.9 * n_boot:
            # e.g. roc_auc when most resamples hold one class only: too few to place the tails
            out[m] = (math.nan, math.nan, f"{m} undefined in most resamples")
            continue
        lo, hi = np.quantile(v, [tail, 1 - tail])
        lo, hi = clip_to_range(m, lo, hi)
        reps = f", {len(aligned)} repeats averaged" if len(aligned) > 1 else ""
        out[m] = (float(lo), float(hi), f"percentile bootstrap over {n} test rows ({n_boot} resamples{reps})")
    return out
