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

A finite test set always leaves doubt, even when every fold scores the same or every test row is
right (the fold variance is then 0 and the bootstrap's resamples all agree). For accuracy-type
metrics (:data:`BINOMIAL_METRICS`) both intervals are therefore widened, where they are narrower,
to the mid-p binomial interval of the test rows they score (:func:`binomial_interval`,
:func:`widen_to_binomial`): it assumes independent rows and a fixed model, and is never
zero-width. Measured for a fixed model on a synthetic population (tests/test_intervals.py), the
95% intervals of 5-fold CV on 250 rows and of 60- and 200-row holdouts covered the true accuracy
in 10-52% of draws at 0.997-0.998 before (the interval was often the point 1) and in >= 98% with
the bound, while at 0.8 (where the bound rarely binds) the coverage stays 95-99% as before. A
metric without such a bound (f1_macro, roc_auc, log_loss, regression) whose folds or resamples all
agree gets no interval (NaN, with the reason) rather than a zero-width one.

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
    "BINOMIAL_METRICS",
    "binomial_count",
    "binomial_interval",
    "bootstrap_interval",
    "clip_to_range",
    "corrected_t_interval",
    "effective_rows",
    "metric_range",
    "weighted_metric",
    "widen_to_binomial",
]

#: Metrics that are a share of test rows (balanced accuracy: the mean of each class's share), so a
#: binomial interval on the test rows bounds how precisely any finite test set can measure them.
BINOMIAL_METRICS = frozenset({"accuracy", "balanced_accuracy"})

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
# binomial bounds: what a finite test set allows
# --------------------------------------------------------------------------------------------


def binomial_interval(
    successes: Any, n: Any, level: float = 0.95, method: str = "mid-p"
) -> tuple[np.ndarray, np.ndarray]:
    """Exact-type interval of a proportion from its count, vectorised.

    Parameters
    ----------
    successes : array-like of float
        Rows right. Fractional counts (a mean over repeats scored on the same rows) are allowed:
        the binomial tails are regularized incomplete beta functions, continuous in the count.
    n : array-like of float
        Rows scored; NaN or below 1 gives NaN bounds.
    level : float
        Coverage, e.g. 0.95.
    method : {"mid-p", "exact"}
        ``exact``: Clopper-Pearson, whose coverage is at least ``level`` for every true proportion
        (about 96-97% at 95%: conservative). ``mid-p`` (default): the same tails with the observed
        count weighted one half (Lancaster's mid-p), close to nominal on average: at 60, 200 and
        250 rows its 95% interval covers at least 91.8% of binomial draws for every true
        proportion from 0.7 to 0.9995, 95.2-95.7% on average (Wilson's falls to 84% near 1;
        computed exactly in tests/test_intervals.py).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Lower and upper bounds: 0 when nothing is right, 1 when everything is, never equal for a
        finite ``n`` (250 rows all right give [0.988, 1] mid-p, [0.985, 1] exact).
    """
    from scipy import special

    if method not in ("mid-p", "exact"):
        raise ValueError(f"method must be 'mid-p' or 'exact', got {method!r}")
    x = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    x, n = np.broadcast_arrays(x, n)
    valid = np.isfinite(x) & np.isfinite(n) & (n >= 1)
    n_ok = np.where(valid, n, 1.0)
    x = np.clip(np.where(valid, x, 0.0), 0.0, n_ok)
    tiny = 1e-300
    # The weight of P(X = x) in each tail: all of it for Clopper-Pearson, half for mid-p.
    weight = 0.5 if method == "mid-p" else 1.0

    def at_least(k: np.ndarray, p: np.ndarray) -> np.ndarray:
        # P(X >= k) for X ~ Binomial(n, p) = I_p(k, n - k + 1): 1 for k <= 0, 0 for k >= n + 1
        inside = special.betainc(np.maximum(k, tiny), np.maximum(n_ok - k + 1, tiny), p)
        return np.where(k <= 0, 1.0, np.where(k >= n_ok + 1, 0.0, inside))

    def tail_up(p: np.ndarray) -> np.ndarray:  # P(X > x) + weight * P(X = x), increasing in p
        return (1 - weight) * at_least(x + 1, p) + weight * at_least(x, p)

    def tail_down(p: np.ndarray) -> np.ndarray:  # P(X < x) + weight * P(X = x), decreasing in p
        return 1 - weight * at_least(x + 1, p) - (1 - weight) * at_least(x, p)

    alpha = (1 - level) / 2
    # Bisection on the whole array at once (each tail is monotone in p): 2**-60 is below float noise.
    lo_a, lo_b = np.zeros(x.shape), np.ones(x.shape)
    hi_a, hi_b = np.zeros(x.shape), np.ones(x.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        for _ in range(60):
            mid = (lo_a + lo_b) / 2
            below = tail_up(mid) < alpha  # the lower bound is where P(X >= x) reaches alpha
            lo_a, lo_b = np.where(below, mid, lo_a), np.where(below, lo_b, mid)
            mid = (hi_a + hi_b) / 2
            above = tail_down(mid) > alpha  # the upper bound is where P(X <= x) falls to alpha
            hi_a, hi_b = np.where(above, mid, hi_a), np.where(above, hi_b, mid)
    low = np.where(x > 0, (lo_a + lo_b) / 2, 0.0)
    high = np.where(x < n_ok, (hi_a + hi_b) / 2, 1.0)
    return np.where(valid, low, np.nan), np.where(valid, high, np.nan)


def effective_rows(y_true: np.ndarray) -> float:
    """Rows a balanced accuracy on these labels is as precise as: ``K**2 / sum(1 / n_c)``.

    Balanced accuracy is the mean of ``K`` per-class shares; its binomial variance
    ``sum(p (1 - p) / n_c) / K**2`` equals a proportion's over this many rows (all rows when the
    classes are balanced, fewer when one is rare).
    """
    _, counts = np.unique(np.asarray(y_true), return_counts=True)
    if len(counts) == 0:
        return math.nan
    return float(len(counts) ** 2 / np.sum(1.0 / counts))


def binomial_count(jobs: Sequence[dict[str, np.ndarray]], metric: str) -> tuple[float, float]:
    """An accuracy-type score of repeats on one test split as a share of rows: ``(value, rows)``.

    Parameters
    ----------
    jobs : sequence of dict
        One dict per repeat with ``test_index``, ``test_true`` and ``test_pred``, on the same rows.
    metric : str
        ``accuracy`` or ``balanced_accuracy``.

    Returns
    -------
    (float, float)
        The metric averaged over the repeats, and the rows it is as precise as a share of: the
        test rows (balanced accuracy: :func:`effective_rows`), times the design effect of the
        repeats (repeats that disagree on some rows average part of the rows' noise away: the
        variance of a row's repeat-averaged correctness against ``p (1 - p)``, from 1 when they
        agree everywhere, or every row is right, up to the number of repeats). NaN for other
        metrics, repeats on different rows or missing predictions.
    """
    aligned = _aligned(jobs) if jobs else None
    if metric not in BINOMIAL_METRICS or aligned is None or any("test_pred" not in a for a in aligned):
        return math.nan, math.nan
    y = aligned[0]["test_true"]
    ones = np.ones((1, len(y)))
    value = float(
        np.mean([weighted_metric(metric, ones, a["test_true"], a["test_pred"])[0] for a in aligned])
    )
    share = np.mean([np.asarray(a["test_pred"]) == np.asarray(a["test_true"]) for a in aligned], axis=0)
    p, spread = float(share.mean()), float(share.var())
    factor = min(max(p * (1 - p) / spread, 1.0), float(len(aligned))) if spread > 0 else 1.0
    rows = float(len(y)) if metric == "accuracy" else effective_rows(y)
    return value, rows * factor


def widen_to_binomial(
    low: Any, high: Any, value: Any, n_rows: Any, level: float = 0.95, method: str = "mid-p"
) -> tuple[np.ndarray, np.ndarray]:
    """Widen intervals of an accuracy-type score to at least its binomial interval.

    Parameters
    ----------
    low, high : array-like of float
        The interval from the fold scores or the bootstrap (NaN: none).
    value : array-like of float
        The score, a share of ``n_rows`` rows.
    n_rows : array-like of float
        Distinct test rows the score is measured on.
    level : float
        Coverage of the binomial interval.
    method : {"mid-p", "exact"}
        As for :func:`binomial_interval`.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``min(low, binomial low)``, ``max(high, binomial high)`` where both are known; where the
        base interval is NaN it stays NaN (no interval was computed), where ``n_rows`` is unknown
        the base interval is kept.
    """
    low = np.asarray(low, dtype=float)
    high = np.asarray(high, dtype=float)
    v = np.asarray(value, dtype=float)
    n = np.asarray(n_rows, dtype=float)
    b_low, b_high = binomial_interval(v * n, n, level, method)
    return np.fmin(low, np.where(np.isnan(low), np.nan, b_low)), np.fmax(
        high, np.where(np.isnan(high), np.nan, b_high)
    )


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
