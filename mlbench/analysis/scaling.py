"""Scaling analyses: learning curves, power-law fits, extrapolations and where two models' curves cross.

A learning curve is a model's test error as a function of its training-set size. Classical
models often win at small n and deep models at large n; the question a benchmark answers is
*where* they cross, whether that point is inside the data or an extrapolation, and whether the
curves differ there beyond noise at all (two equally good models cross by chance at every size
where noise flips their order; those crossings are not reported).

The error model is ``error(n) = a * n**(-b) + c``: ``c`` is the irreducible error the curve
plateaus at, ``b`` how fast it gets there. Fits are weighted by each size's standard error
(small training sets are noisier), and every statement drawn from a fit comes with a range:

- :func:`learning_curves`: one point per requested size (the same ``n`` for every fold), with
  its interval, its standard error and whether every fold and repeat of it finished;
- :func:`fit_power_law` / :func:`fit_power_laws`: the fit, the exponent's range, and whether
  the fit is *reliable* (``reliable``/``reason``): a fit whose exponent sits at a bound, that
  has no decay or a plateau at its upper bound, that explains little (R² below
  :data:`R2_MIN`) or whose fit without the largest size misses that size is not used for any
  extrapolation or sentence;
- :func:`extrapolate`: the predicted error with a range at any ``n``, from a reliable fit;
- :func:`backtest`: fit on the sizes up to 1/8 of the largest, predict the largest;
- :func:`crossovers`: observed ones from the paired per-fold differences at each size,
  extrapolated ones (hypotheses) where the two predicted ranges separate in the other order
  before :data:`HORIZON` times the largest shared size.

scipy is imported inside the functions that need it so that ``import mlbench.analysis`` stays cheap.
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlbench.analysis.intervals import N_BOOT
from mlbench.analysis.tables import (
    PredictionLoader,
    correction_pool,
    long_for,
    primary_metrics,
    results_table,
    score_summary,
)
from mlbench.metrics import METRICS

__all__ = [
    "BACKTEST_FRACTION",
    "HORIZON",
    "R2_MIN",
    "backtest",
    "crossovers",
    "curve_sizes",
    "extrapolate",
    "fit_power_law",
    "fit_power_laws",
    "learning_curves",
]

B_MAX = 3.0  # steeper than n**-3 is not a learning curve any real model shows
#: A fit explaining less of the variation of the mean errors than this is no reliable fit.
R2_MIN = 0.9
#: Extrapolated crossovers are looked for up to this many times the largest size both models ran.
HORIZON = 100.0
#: Metrics that are a share of test rows: a point's standard error is at least the binomial one.
BINOMIAL_METRICS = ("accuracy", "balanced_accuracy")
#: The backtest fits the sizes up to this fraction of the largest and predicts the largest.
BACKTEST_FRACTION = 1.0 / 8.0
#: Coverage of the leave-last-size-out check (a reliable fit must predict its own largest size).
LEAVE_LAST_LEVEL = 0.99
_FIT_KEYS = ("a", "b", "c", "b_low", "b_high", "r2")
#: Exponents profiled for the interval of b (step 0.0025, edges interpolated).
_B_GRID = np.linspace(0.0, B_MAX, 1201)
#: Exponents profiled for predicted ranges (step 0.01).
_B_GRID_PRED = np.linspace(0.0, B_MAX, 301)
#: Offsets d > 0 of the curves a * (n + d)**(-b) + c a predicted range also allows (log-spaced from a
#: tenth of the smallest size to ten times the largest; d = 0 is the power law). See ``_Fit.range_at``.
_OFFSETS = 12
#: Distinct sizes needed for an interval of b without standard errors: three parameters leave no
#: residual with three. With per-size standard errors three sizes suffice.
MIN_SIZES_FOR_INTERVAL = 4
# Jobs whose training sets differ by at most this fraction (and requests that resolve to them)
# are one point; rows of old tables without a requested size also merge within one row.
_SIZE_TOLERANCE = 0.01


# --------------------------------------------------------------------------------------------
# learning curves
# --------------------------------------------------------------------------------------------


def curve_sizes(long: pd.DataFrame) -> np.ndarray:
    """The x value of each job on its learning curve: one ``n`` per requested training size.

    Jobs of one dataset and requested size (``size_key``) are one point, at the median of their
    ``n_train`` (k-fold pools differ by a row, so 1.0 gives 1,437 and 1,438 rows; old tables
    resolved fractions per fold and gave 93 and 94). Requests whose medians lie within 1% of each
    other (two requests for the same rows) are merged. Rows without a requested size are grouped
    by ``n_train``, sizes within 1% or one row of their group's smallest together.

    Parameters
    ----------
    long : pandas.DataFrame
        Rows of :func:`mlbench.analysis.tables.long_for` (``dataset``, ``size_key``, ``n_train_raw``).

    Returns
    -------
    numpy.ndarray
        One ``n`` per row of ``long`` (NaN where ``n_train_raw`` is unknown).
    """
    out = np.full(len(long), np.nan)
    if long.empty:
        return out
    keys_all = long["size_key"].to_numpy(dtype=float)
    n_all = long["n_train_raw"].to_numpy(dtype=float)
    for idx in long.groupby("dataset", sort=False).indices.values():
        key, n = keys_all[idx], n_all[idx]
        finite = np.isfinite(n)
        label = np.full(len(idx), -1, dtype=int)
        # one group per requested size ...
        requested = finite & (key > 0)
        _, label[requested] = np.unique(key[requested], return_inverse=True)
        nxt = int(label.max()) + 1
        # ... and rows without one chained by n from each group's smallest
        loose = np.flatnonzero(finite & ~requested)
        start = -np.inf
        for i in loose[np.argsort(n[loose], kind="stable")]:
            if n[i] > start + max(1.0, _SIZE_TOLERANCE * start):
                start, nxt = n[i], nxt + 1
            label[i] = nxt - 1
        groups = np.unique(label[finite])
        medians = np.array([np.median(n[label == g]) for g in groups])
        # requests that resolve to the same rows are one point
        order = np.argsort(medians, kind="stable")
        merged = np.empty(len(groups), dtype=int)
        first, m = -np.inf, -1
        for j in order:
            if medians[j] > first * (1 + _SIZE_TOLERANCE):
                first, m = medians[j], m + 1
            merged[j] = m
        group_of = dict(zip(groups, merged, strict=True))
        final = np.array([group_of.get(g, -1) for g in label])
        for g in range(m + 1):
            sel = (final == g) & finite
            out[idx[sel]] = np.median(n[sel])
    return out


def learning_curves(
    results: pd.DataFrame,
    metric: str | None = None,
    primary: dict[str, str] | None = None,
    *,
    predictions: PredictionLoader | None = None,
    level: float = 0.95,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> pd.DataFrame:
    """Mean test score and error per dataset, model and training size.

    Parameters
    ----------
    results : pandas.DataFrame
        Results table from :func:`mlbench.load_results` (every status: failed jobs make their
        point incomplete).
    metric : str, optional
        Metric to plot; default each dataset's primary metric.
    primary : dict, optional
        ``{task_type or dataset: metric}`` overriding the primary metric.
    predictions : callable, optional
        ``job_id -> dict of arrays``; gives single-split points a test-row bootstrap interval.
    level, n_boot, seed :
        Interval coverage, bootstrap resamples and seed.

    Returns
    -------
    pandas.DataFrame
        One row per (dataset, model, n_train). Columns dataset, model, metric, n_train, mean,
        std, n, ci_low, ci_high, error_mean, ci_method, and:

        - ``se``, ``df``: the standard error of the mean behind the interval and its degrees of
          freedom (``std * sqrt(1/k + n_test/pool)`` with k - 1 for k-fold; from the bootstrap
          interval with infinite df for a single split; NaN without an interval); ``se_min``: for
          accuracy and balanced accuracy the binomial ``sqrt(e (1 - e) / N)`` of the error e over
          the N test rows scored (e at least 1/N), a floor the fits and the backtest put under
          ``se`` (identical folds, or every row right, do not mean no noise); NaN otherwise;
        - ``n_jobs``, ``n_expected``, ``complete``: ok jobs at the point, the dataset's (fold,
          repeat) pairs, and whether every one of them finished ok at this size. Only complete
          points are drawn, fitted and compared;
        - ``fold_scores``: ``{fold: score}`` (repeats averaged within each fold), for paired
          comparisons; ``test_ratio``: the corrected t's ``n_test / pool``.

        ``n_train`` is the number of training rows: every job of one requested size is one point
        (see :func:`curve_sizes`), so every model of a dataset shares the same x values. Each
        point is scored as in :func:`mlbench.analysis.tables.score_summary`: mean over folds with
        sweep repeats averaged within each fold; corrected resampled t interval for k-fold (its
        ``n_train`` is the dataset's training pool, :func:`~mlbench.analysis.tables.correction_pool`),
        test-row bootstrap for a single split (with ``predictions``; otherwise no interval).
        ``error_mean`` is :func:`~mlbench.analysis.error_of` of the mean (``1 - score`` or the loss).
    """
    cols = ["dataset", "model", "metric", "n_train", "mean", "std", "n", "ci_low", "ci_high", "error_mean"]
    cols += [
        "ci_method",
        "se",
        "df",
        "se_min",
        "n_jobs",
        "n_expected",
        "complete",
        "fold_scores",
        "test_ratio",
    ]
    t = results_table(results)
    long = long_for(t, primary_metrics(t, metric, primary))
    if long.empty:
        return pd.DataFrame(columns=cols)
    long = long.assign(n_train=curve_sizes(long))
    long = long[np.isfinite(long["n_train"].to_numpy(dtype=float))]
    keys = ["dataset", "model", "metric", "n_train"]
    out = score_summary(long, keys, predictions=predictions, level=level, n_boot=n_boot, seed=seed)
    greater = long.groupby("dataset")["greater_is_better"].first()
    g = out["dataset"].map(greater).astype(bool)
    out["error_mean"] = np.where(g, 1.0 - out["mean"], out["mean"])

    # the corrected t's ratio, and the standard error the interval was built from
    sizes = (
        long.assign(_pool=correction_pool(long))
        .groupby(keys, sort=True)
        .agg(_n_test=("n_test", "median"), _pool=("_pool", "max"))
        .reset_index()
    )
    sizes["test_ratio"] = sizes["_n_test"] / sizes["_pool"]
    out = out.merge(sizes[[*keys, "test_ratio"]], on=keys, how="left")
    out["se"], out["df"], out["se_min"] = _standard_errors(out, level)  # reads error_mean, n_test, n_folds

    # fold scores and completeness
    fold_means = long.groupby([*keys, "fold"], sort=True)["score"].mean()
    scores_of: dict[tuple[Any, ...], dict[int, float]] = {}
    for (*k, fold), v in fold_means.items():
        scores_of.setdefault(tuple(k), {})[int(fold)] = float(v)
    out["fold_scores"] = [scores_of.get(tuple(r), {}) for r in out[keys].itertuples(index=False)]
    expected = _expected_pairs(t)
    done_of: dict[tuple[Any, ...], set[tuple[float, float]]] = {}
    for r in long[[*keys, "fold", "repeat"]].itertuples(index=False):
        done_of.setdefault(tuple(r[:4]), set()).add((float(r[4]), float(r[5])))
    done = [done_of.get(tuple(r), set()) for r in out[keys].itertuples(index=False)]
    want = [expected.get(str(ds), frozenset()) for ds in out["dataset"]]
    out["n_jobs"] = [len(d) for d in done]
    out["n_expected"] = [len(w) for w in want]
    out["complete"] = [w <= d for d, w in zip(done, want, strict=True)]
    return out[cols].reset_index(drop=True)


def _expected_pairs(t: pd.DataFrame) -> dict[str, frozenset[tuple[float, float]]]:
    """Each dataset's (fold, repeat) pairs: every job of the dataset, any status, any size or model."""
    pairs = t[["dataset", "fold", "repeat"]].dropna().drop_duplicates()
    out: dict[str, frozenset[tuple[float, float]]] = {}
    for ds, g in pairs.groupby("dataset"):
        out[str(ds)] = frozenset(zip(g["fold"].astype(float), g["repeat"].astype(float), strict=True))
    return out


def _standard_errors(out: pd.DataFrame, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standard error, its degrees of freedom and its binomial floor for each point's mean (see
    :func:`learning_curves`)."""
    from scipy import stats

    k = out["n_folds"].to_numpy(dtype=float) if "n_folds" in out else out["n"].to_numpy(dtype=float)
    std = out["std"].to_numpy(dtype=float)
    ratio = out["test_ratio"].to_numpy(dtype=float)
    method = out["ci_method"].astype(str).to_numpy()
    half = (out["ci_high"].to_numpy(dtype=float) - out["ci_low"].to_numpy(dtype=float)) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        kfold = method == "corrected_t"
        se_std = np.where(kfold, std * np.sqrt(1.0 / k + ratio), np.nan)
        tq = stats.t.ppf((1 + level) / 2, np.where(kfold, k - 1, np.inf))
        # an interval widened beyond the fold spread (a floor) is respected; clipping to the
        # metric's range only narrows it, so the larger of the two is the honest one
        se_ci = half / tq
        se = np.fmax(se_std, np.where(method != "none", se_ci, np.nan))
        df = np.where(kfold, k - 1, np.where(method == "bootstrap", np.inf, np.nan))
        # A share of test rows is never known better than its binomial noise over the rows scored
        # (folds identical, or every row right, would claim zero): the error e over N pooled test
        # rows has at least sqrt(e (1 - e) / N), e taken as at least one row in N.
        rows = out["n_test"].to_numpy(dtype=float) * np.where(kfold, k, 1.0)
        share = out["metric"].isin(BINOMIAL_METRICS).to_numpy() & (rows > 0)
        e = np.clip(out["error_mean"].to_numpy(dtype=float), 1.0 / rows, 1.0 - 1.0 / rows)
        se_min = np.where(share, np.sqrt(e * (1 - e) / rows), np.nan)
    return se, df, se_min


# --------------------------------------------------------------------------------------------
# power-law fit
# --------------------------------------------------------------------------------------------


def _power(n: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    return a * np.power(n, -b) + c


def _profile(
    n: np.ndarray, E: np.ndarray, b_grid: np.ndarray, c_max: np.ndarray, W: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Profile the fit over exponents: for each row of ``E`` and each ``b``, the best (a, c).

    For a fixed ``b`` the model is linear in (a, c), and a 2-variable box-constrained (weighted)
    least squares is solved exactly by the unconstrained optimum when feasible, else the best
    optimum on an edge of the box (a = 0, c = 0 or c = c_max). Everything is a function of a
    few weighted sums, so many curves and exponents are solved at once. ``W`` (broadcast to
    ``E``'s shape) are the weights, 1 by default. Returns (a, c, sse), each (rows, len(b)).
    """
    return _bounded_fits(np.power(n[None, :], -b_grid[:, None]), E, c_max, W)


def _bounded_fits(
    X: np.ndarray, E: np.ndarray, c_max: np.ndarray, W: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_profile` for any curve shapes: the best ``a * X[g] + c`` (``a >= 0``,
    ``0 <= c <= c_max``) for every row of ``E`` and shape ``X[g]`` (``X`` is (G, m))."""
    W = np.ones_like(E) if W is None else np.broadcast_to(W, E.shape)
    m = W.sum(1)[:, None]  # (B, 1)
    xx, sx = W @ (X * X).T, W @ X.T  # (B, G)
    WE = W * E
    xe, se = WE @ X.T, WE.sum(1)[:, None]  # (B, G), (B, 1)
    ee = (WE * E).sum(1)[:, None]
    cm = c_max[:, None]

    def sse(a: np.ndarray, c: np.ndarray) -> np.ndarray:
        return ee - 2 * a * xe - 2 * c * se + a * a * xx + 2 * a * c * sx + c * c * m

    det = xx * m - sx * sx
    with np.errstate(divide="ignore", invalid="ignore"):
        a_int = (m * xe - sx * se) / det
        c_int = (xx * se - sx * xe) / det
        a_c0 = np.maximum(0.0, xe / xx)
        a_cm = np.maximum(0.0, (xe - cm * sx) / xx)
    # b = 0 makes the design singular (n**0 is the constant column): no interior solution there.
    feasible = (np.abs(det) > 1e-12 * xx * m) & (a_int >= 0) & (c_int >= 0) & (c_int <= cm)
    c_a0 = np.broadcast_to(np.clip(se / m, 0.0, cm), xe.shape)
    cands = [
        (np.where(feasible, a_int, 0.0), np.where(feasible, c_int, 0.0)),
        (np.zeros_like(xe), c_a0),
        (a_c0, np.zeros_like(xe)),
        (a_cm, np.broadcast_to(cm, xe.shape)),
    ]
    costs = np.stack([sse(a, c) for a, c in cands])
    costs[0] = np.where(feasible, costs[0], np.inf)
    best = np.argmin(costs, axis=0)
    a_best = np.choose(best, [a for a, _ in cands])
    c_best = np.choose(best, [c for _, c in cands])
    return a_best, c_best, np.maximum(np.take_along_axis(costs, best[None], 0)[0], 0.0)


def _exponent(n: np.ndarray, e: np.ndarray, w: np.ndarray, c_max: float) -> float:
    """Best-fitting exponent by profiling a grid and refining the minimum with a parabola through
    its neighbours (accurate to well below the interval's width)."""
    grid = np.linspace(0.0, B_MAX, 301)
    _, _, cost = _profile(n, e[None, :], grid, np.array([c_max]), w[None, :])
    cost = cost[0]
    k0 = int(np.argmin(cost))
    if k0 in (0, len(grid) - 1):
        return float(grid[k0])  # an optimum on the edge stays there (a parabola would extrapolate)
    y0, y1, y2 = cost[k0 - 1], cost[k0], cost[k0 + 1]
    denom = y0 - 2 * y1 + y2
    shift = 0.5 * (y0 - y2) / denom if denom > 0 else 0.0
    return float(np.clip(grid[k0] + np.clip(shift, -1.0, 1.0) * (grid[1] - grid[0]), 0.0, B_MAX))


def _jac(n: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    x = np.power(n, -b)
    return np.column_stack([x, -a * x * np.log(n), np.ones_like(x)])


@dataclass
class _Fit:
    """A fitted curve with what its ranges need: the data, the weights and the threshold."""

    n: np.ndarray  # distinct sizes
    y: np.ndarray  # mean error per size
    sigma: np.ndarray  # noise scale per size (smoothed standard errors; 1 when unweighted)
    weighted: bool
    threshold: float  # rise of the weighted sum of squares that bounds a 'level' range (NaN: none)
    df_se: float = 0.0  # degrees of freedom of the noise scale (inf: known)
    a: float = math.nan
    b: float = math.nan
    c: float = math.nan
    chi2: float = math.nan
    c_max: float = math.nan
    r2: float = math.nan
    b_low: float = math.nan
    b_high: float = math.nan
    ok: bool = False
    reliable: bool = False
    reason: str = ""
    _cache: dict[float, tuple[float, float]] = field(default_factory=dict, repr=False)
    _memo: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def w(self) -> np.ndarray:
        return 1.0 / self.sigma**2

    def value(self, n: Any) -> np.ndarray:
        return _power(np.asarray(n, dtype=float), self.a, self.b, self.c)

    def as_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "c": self.c,
            "b_low": self.b_low,
            "b_high": self.b_high,
            "r2": self.r2,
            "ok": self.ok,
            "reliable": self.reliable,
            "reason": self.reason,
        }

    # -- the profile of the weighted sum of squares with the curve forced through (n*, y*) --

    def _shapes(self) -> tuple[np.ndarray, np.ndarray]:
        """(b, d) of every curve shape ``(n + d)**(-b)`` a predicted range profiles over."""
        if "shapes" not in self._memo:
            lo, hi = float(self.n.min()), float(self.n.max())
            offsets = np.concatenate([[0.0], np.geomspace(0.1 * lo, 10.0 * hi, _OFFSETS)])
            b, d = np.meshgrid(_B_GRID_PRED, offsets, indexing="ij")
            self._memo["shapes"] = (b.ravel(), d.ravel())
        return self._memo["shapes"]

    def _sums(self, limit: float) -> tuple[np.ndarray, ...]:
        """Weighted sums over the sizes for the shapes that can fit within ``limit`` (cached).

        A shape whose best fit, free of the constraint through (n*, y*), already misses ``limit``
        is outside every range: dropping those leaves a few hundred of the thousands profiled.
        """
        key = f"sums {limit!r}"
        if key not in self._memo:
            b, d = self._shapes()
            X = np.power(self.n[None, :] + d[:, None], -b[:, None])  # (G, m)
            _, _, best = _bounded_fits(X, self.y[None, :], np.array([self.c_max]), self.w[None, :])
            keep = np.flatnonzero(best[0] <= limit * (1 + 1e-9) + 1e-12)
            X = X[keep]
            w, y = self.w, self.y
            self._memo[key] = (
                np.array([w.sum(), (w * y).sum(), (w * y * y).sum()]),
                X @ w,
                (X * X) @ w,
                X @ (w * y),
                b[keep],
                d[keep],
            )
        return self._memo[key]

    def _profile_at(self, n_star: float, limit: float) -> Any:
        """``S(ys)``: min over (a, b, c, d) within bounds of the weighted SSE of ``a * (n + d)**(-b)
        + c`` forced through (n_star, y*), for each y* of ``ys`` (over the shapes that can fit
        within ``limit``; inf where none can). For a fixed shape (b, d) the constraint leaves one
        linear parameter, a, solved in closed form and clipped to its bounds."""
        (m_, sy, syy), sx, sxx, sxy, b, d = self._sums(limit)
        xs = np.power(float(n_star) + d, -b)  # (G,)
        su = (sx - xs * m_)[:, None]  # sum w u, u = x - x*
        suu = (sxx - 2 * xs * sx + xs * xs * m_)[:, None]
        syu = (sxy - xs * sy)[:, None]
        xs_col = xs[:, None]
        c_max = self.c_max

        def sse(ys: np.ndarray) -> np.ndarray:
            ys = np.atleast_1d(np.asarray(ys, dtype=float))[None, :]
            num = syu - ys * su  # (G, Y)
            with np.errstate(divide="ignore", invalid="ignore"):
                a = np.where(suu > 0, num / suu, 0.0)
                lo = np.maximum(0.0, (ys - c_max) / xs_col)
                hi = ys / xs_col
            a = np.clip(a, lo, np.maximum(lo, hi))
            S = (syy - 2 * ys * sy + ys * ys * m_) - 2 * a * num + a * a * suu
            S = np.where(ys < 0, np.inf, S)
            return S.min(axis=0) if len(S) else np.full(ys.shape[1], np.inf)

        return sse

    def range_at(self, n_star: float, threshold: float | None = None) -> tuple[float, float]:
        """Range of the expected error at ``n_star``: the values y* whose best curve through
        (n_star, y*) fits the points within ``threshold`` of the power law's best fit.

        The curves are ``a * (n + d)**(-b) + c`` (``d >= 0``, the other bounds as the fit's): the
        power law (``d = 0``) and the offset power law of Mohr et al.'s LCDB ("pow4"), which is
        flatter at small ``n`` and steeper later. Real curves steepen after a small-data region:
        with the power law alone the range covered the largest size in 73% of 162 real curves cut
        at 1/8, with the offsets in 91% of 169 (see the README). The predicted value itself stays
        the power law's (it extrapolated best, see :func:`backtest`).
        """
        thr = self.threshold if threshold is None else threshold
        key = float(n_star) if threshold is None else None
        if key is not None and key in self._cache:
            return self._cache[key]
        if not self.ok or not np.isfinite(thr):
            return (math.nan, math.nan)
        centre = float(self.value(n_star))
        limit = self.chi2 + thr
        sse = self._profile_at(n_star, limit)

        def edge(direction: int) -> float:
            spread = float(np.ptp(self.y)) + 3.0 * float(self.sigma.max()) + 1e-12
            if direction < 0:
                steps = centre * (1 - np.geomspace(1e-3, 1.0, 24))  # down to 0 (errors are >= 0)
            else:
                steps = centre + spread * np.geomspace(1e-3, 4.0, 24)
            out = np.flatnonzero(sse(steps) > limit)
            if len(out) == 0:
                return 0.0 if direction < 0 else math.inf
            j = int(out[0])
            inside = centre if j == 0 else float(steps[j - 1])
            outside = float(steps[j])
            # bisect, 8 candidates at a time: 4 rounds narrow the bracket 9**4 = 6,561-fold
            for _ in range(4):
                cand = np.linspace(inside, outside, 10)[1:-1]
                above = sse(cand) > limit
                k = int(np.argmax(above)) if above.any() else len(cand)
                inside = float(cand[k - 1]) if k > 0 else inside
                outside = float(cand[k]) if k < len(cand) else outside
            return inside

        found = (min(edge(-1), centre), max(edge(+1), centre))
        if key is not None:
            self._cache[key] = found
        return found


def _noise(
    n_obs: np.ndarray,
    e_obs: np.ndarray,
    se: np.ndarray | None,
    df: np.ndarray | None,
    se_min: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, bool]:
    """Per distinct size: mean error, noise scale and the degrees of freedom of the scale.

    The standard errors come from the caller (one per observation: a learning curve's ``se``) or,
    with several observations per size, from their spread (``sd / sqrt(count)``). Estimated from a
    few folds each they are noisy, so they are smoothed across sizes (``log se`` linear in
    ``log n``: small training sets are noisier), which pools their degrees of freedom. Without
    any the fit is unweighted and its noise is estimated from the residuals. ``se_min`` (the
    binomial floor of a share of test rows) is put under the smoothed scale, not under the raw
    standard errors (a floor under a few folds' spread would undo the correction of its log).
    Returns (sizes, means, sigma, df, weighted).
    """
    sizes, inverse, counts = np.unique(n_obs, return_inverse=True, return_counts=True)
    means = np.bincount(inverse, weights=e_obs) / counts
    raw = np.full(len(sizes), np.nan)
    dfs = np.full(len(sizes), np.nan)
    if se is not None:
        s2 = np.bincount(inverse, weights=np.where(np.isfinite(se), se**2, 0.0)) / counts
        has = np.bincount(inverse, weights=np.isfinite(se).astype(float)) == counts
        raw = np.where(has, np.sqrt(s2 / counts), np.nan)
        d = np.full(len(n_obs), np.inf) if df is None else np.asarray(df, dtype=float)
        dfs = np.where(has, np.bincount(inverse, weights=np.where(np.isfinite(d), d, 1e6)) / counts, np.nan)
        dfs = np.where(dfs >= 1e6, np.inf, dfs)
    elif len(counts) and counts.max() >= 2:
        sq = np.bincount(inverse, weights=e_obs**2)
        with np.errstate(invalid="ignore", divide="ignore"):
            var = (sq - counts * means**2) / (counts - 1)
            raw = np.where(counts >= 2, np.sqrt(np.maximum(var, 0.0) / counts), np.nan)
        dfs = np.where(counts >= 2, counts - 1.0, np.nan)
    floor_of = np.full(len(sizes), np.nan)
    if se_min is not None:
        np.fmax.at(floor_of, inverse.ravel(), np.asarray(se_min, dtype=float))
    usable = np.isfinite(raw) & (raw > 0)
    if len(sizes) and usable.sum() == 0 and np.isfinite(floor_of).all() and (floor_of > 0).all():
        return sizes, means, floor_of, math.inf, True  # no spread anywhere: binomial noise only
    if usable.sum() == 0 or len(sizes) == 0:
        return sizes, means, np.ones(len(sizes)), 0.0, False
    from scipy.special import digamma

    # log of a variance estimated with v degrees of freedom is biased low by digamma(v/2) - log(v/2)
    # (-0.58 with 2 folds' worth: the standard error 25% too small); remove the bias before
    # averaging the logs, or the weights promise more precision than the points have.
    v = dfs[usable]
    with np.errstate(invalid="ignore", divide="ignore"):
        bias = np.where(np.isfinite(v) & (v > 0), digamma(v / 2) - np.log(v / 2), 0.0)
    ln, ls = np.log(sizes[usable]), np.log(raw[usable]) - 0.5 * bias
    if usable.sum() >= 3 and np.ptp(ln) > 0:
        slope, icept = np.polyfit(ln, ls, 1)
        slope = float(np.clip(slope, -1.5, 0.5))
        icept = float(np.mean(ls - slope * ln))
        lost = 2.0
    else:
        slope, icept, lost = 0.0, float(np.mean(ls)), 1.0
    sigma = np.exp(icept + slope * np.log(sizes))
    floor = max(1e-9, 1e-3 * float(np.max(np.abs(means))))
    sigma = np.fmax(np.maximum(sigma, floor), floor_of)
    df_se = float(np.sum(dfs[usable])) - lost
    return sizes, means, sigma, max(df_se, 1.0), True


def _threshold(weighted: bool, chi2: float, m: int, df_se: float, level: float) -> float:
    """Rise of the weighted sum of squares that bounds a ``level`` range of one quantity.

    Weighted: the standard errors set the scale, pooled with the lack of fit (``chi2 / (m - 3)``,
    a curve that misses its points by more than their noise widens its ranges) into one variance
    factor with ``df_se + m - 3`` degrees of freedom, never below 1; the bound is that factor
    times the ``level`` quantile of F(1, df). Unweighted: the classical nonlinear least-squares
    bound ``S_min * F(1, m - 3) / (m - 3)`` (NaN with 3 sizes: no residual to estimate noise from).
    """
    from scipy import stats

    if weighted:
        resid_df = max(m - 3, 0)
        if not np.isfinite(df_se):  # known noise (a bootstrap over many test rows)
            return float(stats.chi2.ppf(level, 1))
        total = df_se + resid_df
        factor = max(1.0, (df_se + (chi2 if resid_df else 0.0)) / total)
        return float(factor * stats.f.ppf(level, 1, total))
    if m <= 3:
        return math.nan
    return float(chi2 * stats.f.ppf(level, 1, m - 3) / (m - 3))


def _fit_curve(
    n: Any,
    error: Any,
    se: Any = None,
    df: Any = None,
    *,
    se_min: Any = None,
    level: float = 0.95,
    check: bool = True,
) -> _Fit:
    """Fit, exponent range and reliability of one learning curve (see :func:`fit_power_law`)."""
    n_arr = np.asarray(n, dtype=float).ravel()
    e_arr = np.asarray(error, dtype=float).ravel()
    se_arr = None if se is None else np.asarray(se, dtype=float).ravel()
    df_arr = None if df is None else np.asarray(df, dtype=float).ravel()
    min_arr = None if se_min is None else np.asarray(se_min, dtype=float).ravel()
    keep = np.isfinite(n_arr) & np.isfinite(e_arr) & (n_arr > 0)
    if se_arr is not None and not np.isfinite(se_arr[keep]).any():
        se_arr = None
    sizes, means, sigma, df_se, weighted = _noise(
        n_arr[keep],
        e_arr[keep],
        None if se_arr is None else se_arr[keep],
        None if df_arr is None else df_arr[keep],
        None if min_arr is None else min_arr[keep],
    )
    return _fit_points(sizes, means, sigma, df_se, weighted, level=level, check=check)


def _fit_points(
    sizes: np.ndarray,
    means: np.ndarray,
    sigma: np.ndarray,
    df_se: float,
    weighted: bool,
    *,
    level: float,
    check: bool,
) -> _Fit:
    """:func:`_fit_curve` once the noise of each distinct size is known."""
    from scipy.optimize import curve_fit

    fit = _Fit(n=sizes, y=means, sigma=sigma, weighted=weighted, threshold=math.nan, df_se=df_se)
    m = len(sizes)
    if m < 3:
        fit.reason = f"{m} size{'s' if m != 1 else ''}: a power law needs at least 3"
        return fit
    # c is the plateau, so it cannot sit above the worst observed error; the tiny slack keeps the
    # bounds valid when every error is 0.
    c_max = max(float(means.max()), 0.0) + 1e-12
    w = 1.0 / sigma**2
    # Start from the profiled optimum (exact a, c for each exponent on a grid): curve_fit from a
    # generic guess often stalls in the flat valley where a, b and c trade off against each other.
    b0 = _exponent(sizes, means, w, c_max)
    a0, c0, _ = _profile(sizes, means[None, :], np.array([b0]), np.array([c_max]), w[None, :])
    lo, hi = np.array([0.0, 0.0, 0.0]), np.array([np.inf, B_MAX, c_max])
    start = np.clip(np.array([float(a0[0, 0]), b0, float(c0[0, 0])]), lo, hi)

    def chi2(p: np.ndarray) -> float:
        return float(np.sum(w * (_power(sizes, *p) - means) ** 2))

    popt = start
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # covariance warnings: the ranges are profiled instead
            found, _ = curve_fit(
                _power, sizes, means, p0=start, sigma=sigma, bounds=(lo, hi), jac=_jac, maxfev=5000
            )
        if chi2(found) <= chi2(start):  # the profiled start is already good; never return worse
            popt = found
    except (RuntimeError, ValueError):
        pass
    fit.a, fit.b, fit.c = (float(v) for v in popt)
    fit.c_max, fit.chi2, fit.ok = c_max, chi2(popt), True
    ss_tot = float(np.sum((means - means.mean()) ** 2))
    ss_res = float(np.sum((means - fit.value(sizes)) ** 2))
    fit.r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else (1.0 if ss_res == 0 else math.nan)
    fit.threshold = _threshold(weighted, fit.chi2, m, df_se, level)
    if np.isfinite(fit.threshold):
        fit.b_low, fit.b_high = _b_interval(fit, fit.threshold)
    if check:
        fit.reason = _unreliable(fit, level)
    fit.reliable = fit.reason == ""
    return fit


def _b_interval(fit: _Fit, threshold: float) -> tuple[float, float]:
    """Profile-likelihood interval of the exponent: every ``b`` whose best fit (``a`` and ``c``
    refitted, same bounds) has a weighted sum of squares within ``threshold`` of the minimum.
    The edges are interpolated between grid exponents; the interval always contains the fit's b."""
    c_max = np.array([fit.c_max])
    _, _, sse = _profile(fit.n, fit.y[None, :], _B_GRID, c_max, fit.w[None, :])
    sse = sse[0]
    bound = min(float(sse.min()), fit.chi2) + threshold
    inside = np.flatnonzero(sse <= bound + 1e-12 * max(1.0, bound))
    if len(inside) == 0:
        return fit.b, fit.b
    lo_i, hi_i = int(inside[0]), int(inside[-1])

    def edge(i: int, j: int) -> float:
        # where the profile crosses the bound between grid points i (inside) and j (outside)
        if sse[j] == sse[i]:
            return float(_B_GRID[i])
        t = (bound - sse[i]) / (sse[j] - sse[i])
        return float(_B_GRID[i] + np.clip(t, 0.0, 1.0) * (_B_GRID[j] - _B_GRID[i]))

    lo = float(_B_GRID[0]) if lo_i == 0 else edge(lo_i, lo_i - 1)
    hi = float(_B_GRID[-1]) if hi_i == len(_B_GRID) - 1 else edge(hi_i, hi_i + 1)
    return min(lo, fit.b), max(hi, fit.b)


def _unreliable(fit: _Fit, level: float) -> str:
    """Why a fit is no reliable description of its curve ("" when it is)."""
    reasons = []
    eps = 1e-3
    if fit.b <= eps:
        reasons.append("exponent at its lower bound (b = 0: no decay)")
    elif fit.b >= B_MAX - eps:
        reasons.append(f"exponent at its upper bound (b = {B_MAX:g})")
    if fit.a * float(fit.n.min()) ** (-fit.b) <= 1e-9 * max(1.0, abs(fit.c)):
        reasons.append("no decaying part (a = 0)")
    if fit.c_max > 1e-9 and fit.c >= fit.c_max * (1 - 1e-6):
        reasons.append("plateau at its upper bound (c = the largest error)")
    if not (fit.r2 >= R2_MIN):
        r2 = "undefined" if not np.isfinite(fit.r2) else f"{fit.r2:.2f}"
        reasons.append(f"R² {r2} below {R2_MIN:g}")
    if not reasons and len(fit.n) >= 4:
        # leave the largest size out: the fit of the others must predict it
        # the noise scale stays the whole curve's (smoothed over every size)
        part = _fit_points(
            fit.n[:-1],
            fit.y[:-1],
            fit.sigma[:-1],
            fit.df_se,
            fit.weighted,
            level=LEAVE_LAST_LEVEL,
            check=False,
        )
        if part.ok and np.isfinite(part.threshold):
            lo, hi = part.range_at(float(fit.n[-1]))
            from scipy import stats

            z = float(stats.norm.ppf((1 + LEAVE_LAST_LEVEL) / 2))
            # the largest size's own noise: its standard error, or the residual scale unweighted
            noise = float(fit.sigma[-1]) if fit.weighted else math.sqrt(fit.chi2 / (len(fit.n) - 3))
            slack = z * noise + 1e-6 * float(np.max(np.abs(fit.y)))  # and rounding, for exact curves
            last = float(fit.y[-1])
            if not (lo - slack <= last <= hi + slack):
                reasons.append(
                    f"the fit without the largest size misses it (predicted {float(part.value(fit.n[-1])):.3g}, "
                    f"range {lo:.3g} to {hi:.3g}; observed {last:.3g})"
                )
    return "; ".join(reasons)


def fit_power_law(
    n: Any,
    error: Any,
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
    *,
    se: Any = None,
    df: Any = None,
    se_min: Any = None,
) -> dict[str, Any]:
    """Fit ``error(n) = a * n**(-b) + c`` to a learning curve.

    Parameters
    ----------
    n : array-like of float
        Training-set sizes, one per observation (repeats of the same size allowed).
    error : array-like of float
        Error to be minimised at each size (see :func:`~mlbench.analysis.error_of`).
    n_boot : int
        0 skips the interval of ``b``; any other value computes it (the interval is profiled, no
        resampling).
    seed : int
        Unused; kept so that existing calls keep working.
    level : float
        Coverage of the interval of ``b``.
    se, df : array-like of float, optional
        Standard error of each observation and its degrees of freedom (a learning curve's ``se``
        and ``df``). Without them, several observations of a size give its standard error from
        their spread; one observation per size gives an unweighted fit.
    se_min : array-like of float, optional
        A floor under each size's smoothed standard error (a learning curve's ``se_min``: the
        binomial noise of a share of test rows), so identical folds never claim no noise.

    Returns
    -------
    dict
        ``a``, ``b``, ``c``: weighted least squares (``scipy.optimize.curve_fit`` with ``sigma``,
        started from a grid scan over ``b``) with ``a >= 0``, ``0 <= b <= 3``,
        ``0 <= c <= max(error)``; the weights are the standard errors smoothed across sizes.
        ``b_low``, ``b_high``: profile-likelihood interval of ``b``: the exponents whose refitted
        curve stays within ``factor * F(1, df)`` of the best weighted sum of squares, the factor
        pooling the standard errors' scale with the lack of fit (never below 1). Needs 4 sizes
        without standard errors (NaN with 3: no residual to estimate the noise from), 3 with.
        ``r2``: of the fitted curve against the mean error per size. ``ok``: False (and NaNs) with
        fewer than 3 distinct sizes. ``reliable``/``reason``: whether the fit may be used for an
        extrapolation, and why not (exponent at a bound, no decay, plateau at its upper bound,
        R² below :data:`R2_MIN`, or the fit without the largest size missing it beyond its 99%
        range and that size's noise).
    """
    del seed  # the interval is deterministic
    fit = _fit_curve(n, error, se, df, se_min=se_min, level=level)
    out = fit.as_dict()
    if n_boot <= 0:
        out["b_low"] = out["b_high"] = math.nan
    return out


def _curve_fits(curves: pd.DataFrame, level: float = 0.95) -> dict[tuple[str, str], _Fit]:
    """A :class:`_Fit` per (dataset, model) from its complete points."""
    usable = _complete(curves)
    out = {}
    for (ds, model), g in usable.groupby(["dataset", "model"], sort=True):
        se, df, floor = (g[c] if c in g.columns else None for c in ("se", "df", "se_min"))
        out[(str(ds), str(model))] = _fit_curve(
            g["n_train"], g["error_mean"], se, df, se_min=floor, level=level
        )
    return out


def _complete(curves: pd.DataFrame) -> pd.DataFrame:
    if "complete" not in curves.columns:
        return curves
    return curves[curves["complete"].astype(bool)]


def fit_power_laws(
    curves: pd.DataFrame, n_boot: int = 200, seed: int = 0, *, level: float = 0.95
) -> pd.DataFrame:
    """Fit a power law to every (dataset, model) learning curve.

    Parameters
    ----------
    curves : pandas.DataFrame
        Output of :func:`learning_curves` (uses n_train, error_mean, and se, df, complete when
        present: only complete points are fitted, weighted by their standard errors).
    n_boot : int
        0 skips the intervals of ``b`` (see :func:`fit_power_law`).
    seed : int
        Unused; kept for compatibility.
    level : float
        Coverage of the exponent's range.

    Returns
    -------
    pandas.DataFrame
        Columns dataset, model, a, b, c, b_low, b_high, r2, n_points, ok, reliable, reason (see
        :func:`fit_power_law`; ``n_points``: the complete sizes fitted). ``reliable`` False means
        "no reliable fit": the report shows no exponent and no fitted line for it, and no
        extrapolation, crossover or sentence uses it.
    """
    del seed
    cols = ["dataset", "model", *_FIT_KEYS, "n_points", "ok", "reliable", "reason"]
    rows = []
    fits = _curve_fits(curves, level)
    for (ds, model), fit in fits.items():
        row = {"dataset": ds, "model": model, **fit.as_dict(), "n_points": len(fit.n)}
        if n_boot <= 0:
            row["b_low"] = row["b_high"] = math.nan
        rows.append(row)
    # models whose every point is incomplete still get a row: no fit
    for (ds, model), _ in curves.groupby(["dataset", "model"], sort=True):
        if (str(ds), str(model)) not in fits:
            rows.append(
                {
                    "dataset": str(ds),
                    "model": str(model),
                    **_Fit(
                        np.zeros(0), np.zeros(0), np.zeros(0), False, math.nan, reason="no complete size"
                    ).as_dict(),
                    "n_points": 0,
                }
            )
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values(["dataset", "model"]).reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# extrapolation and backtest
# --------------------------------------------------------------------------------------------


def _greater(curves: pd.DataFrame) -> dict[str, bool]:
    if "metric" not in curves.columns:
        return {}
    out = {}
    for ds, m in curves.groupby("dataset")["metric"].first().items():
        out[str(ds)] = bool(METRICS.get(str(m)).greater_is_better) if str(m) in METRICS else True
    return out


def _score_range(
    error: float, low: float, high: float, greater: bool, metric: str | None
) -> tuple[float, float, float]:
    """(score, low, high) on the metric's scale from an error and its range, clipped to the metric."""
    if greater:
        score, lo, hi = 1.0 - error, 1.0 - high, 1.0 - low
    else:
        score, lo, hi = error, low, high
    if metric is not None and metric in METRICS:
        m = METRICS.get(metric)
        lo, hi = max(lo, float(m.low)), min(hi, float(m.high))
    return score, lo, hi


def extrapolate(curves: pd.DataFrame, n: Any, *, level: float = 0.95) -> pd.DataFrame:
    """Predicted error and score with a range at any training size, from each reliable fit.

    Parameters
    ----------
    curves : pandas.DataFrame
        Output of :func:`learning_curves`.
    n : float or array-like of float
        Training sizes to predict at (inside or beyond the sizes run).
    level : float
        Coverage of the ranges.

    Returns
    -------
    pandas.DataFrame
        Columns dataset, model, n, error, error_low, error_high, score, score_low, score_high,
        reliable, reason; one row per (dataset, model, n). The range is the profile-likelihood
        range of the expected error at ``n`` (every value the fit can be forced through while its
        weighted sum of squares stays within the bound of :func:`fit_power_law`), so it grows with
        the distance from the data and the noise of the points. Unreliable fits give NaN.
    """
    sizes = np.atleast_1d(np.asarray(n, dtype=float))
    greater = _greater(curves)
    metric_of = curves.groupby("dataset")["metric"].first().to_dict() if "metric" in curves else {}
    rows = []
    for (ds, model), fit in _curve_fits(curves, level).items():
        for x in sizes:
            err = lo = hi = math.nan
            if fit.reliable:
                err = float(fit.value(x))
                lo, hi = fit.range_at(float(x))
            score, s_lo, s_hi = _score_range(err, lo, hi, greater.get(ds, True), metric_of.get(ds))
            rows.append(
                {
                    "dataset": ds,
                    "model": model,
                    "n": float(x),
                    "error": err,
                    "error_low": lo,
                    "error_high": hi,
                    "score": score,
                    "score_low": s_lo,
                    "score_high": s_hi,
                    "reliable": fit.reliable,
                    "reason": fit.reason,
                }
            )
    cols = ["dataset", "model", "n", "error", "error_low", "error_high", "score", "score_low"]
    return pd.DataFrame(rows, columns=[*cols, "score_high", "reliable", "reason"])


def backtest(
    curves: pd.DataFrame, *, fraction: float = BACKTEST_FRACTION, level: float = 0.95
) -> pd.DataFrame:
    """Fit each curve on its sizes up to ``fraction`` of the largest and predict the largest.

    Parameters
    ----------
    curves : pandas.DataFrame
        Output of :func:`learning_curves` (complete points only are used).
    fraction : float
        The fitted sizes are those ``<= fraction * largest`` (1/8: an extrapolation of 8x or more).
    level : float
        Coverage of the predicted range.

    Returns
    -------
    pandas.DataFrame
        One row per (dataset, model): n_fit (largest fitted size), n_sizes (fitted sizes),
        n_target (the largest size), observed (its mean error), predicted, low, high (the
        prediction's range for the observed mean: the expected error's range widened by the
        observed point's own noise, combined in quadrature), covered, error (``|predicted -
        observed|``), last_value (the error at ``n_fit``), last_value_error (``|last_value -
        observed|``: the baseline that predicts no further learning), reliable, reason. Errors are
        on the error scale (``1 - accuracy`` or the loss). Unreliable fits (or fewer than 3 sizes)
        have no prediction.
    """
    from scipy import stats

    cols = [
        "dataset",
        "model",
        "metric",
        "n_fit",
        "n_sizes",
        "n_target",
        "observed",
        "predicted",
        "low",
        "high",
    ]
    cols += ["covered", "error", "last_value", "last_value_error", "reliable", "reason"]
    rows = []
    z = float(stats.norm.ppf((1 + level) / 2))
    for (ds, model), g in _complete(curves).groupby(["dataset", "model"], sort=True):
        g = g.sort_values("n_train")
        n = g["n_train"].to_numpy(dtype=float)
        target = float(n[-1])
        part = g[n <= fraction * target]
        row: dict[str, Any] = {
            "dataset": str(ds),
            "model": str(model),
            "metric": str(g["metric"].iloc[0]) if "metric" in g else None,
            "n_fit": float(part["n_train"].max()) if len(part) else math.nan,
            "n_sizes": len(part),
            "n_target": target,
            "observed": float(g["error_mean"].iloc[-1]),
        }
        if len(part):
            row["last_value"] = float(part["error_mean"].iloc[-1])
            row["last_value_error"] = abs(row["last_value"] - row["observed"])
        se, df, floor = (part[c] if c in part.columns else None for c in ("se", "df", "se_min"))
        fit = _fit_curve(part["n_train"], part["error_mean"], se, df, se_min=floor, level=level)
        row["reliable"], row["reason"] = fit.reliable, fit.reason
        if fit.reliable:
            pred = float(fit.value(target))
            lo, hi = fit.range_at(target)
            obs_se = float(
                np.fmax(*(float(g[c].iloc[-1]) if c in g.columns else math.nan for c in ("se", "se_min")))
            )
            h_obs = z * obs_se if np.isfinite(obs_se) else 0.0
            row["predicted"] = pred
            row["low"] = max(0.0, pred - math.hypot(pred - lo, h_obs))  # errors are >= 0
            row["high"] = pred + math.hypot(hi - pred, h_obs) if np.isfinite(hi) else math.inf
            row["covered"] = bool(row["low"] <= row["observed"] <= row["high"])
            row["error"] = abs(pred - row["observed"])
        rows.append(row)
    return pd.DataFrame(rows, columns=cols)


# --------------------------------------------------------------------------------------------
# crossovers
# --------------------------------------------------------------------------------------------

_CROSS_COLS = ["dataset", "model_a", "model_b", "n_cross", "kind", "n_low", "n_high"]
_CROSS_COLS += ["better_before", "better_after"]


def _observed_crossings(n: np.ndarray, d: np.ndarray) -> list[tuple[float, float, float]]:
    """Zero crossings of ``d`` (error_a - error_b) over sorted ``n``: (n_cross, n_low, n_high).

    Interpolates linearly in log(n) (learning curves are closer to straight lines there). Exact
    ties are skipped over: a sign change across a run of ties crosses at its geometric middle, a
    touch that returns to the same side is no crossing.
    """
    logn = np.log(n)
    sign = np.sign(d)
    nz = np.flatnonzero(sign != 0)
    out = []
    for i, j in itertools.pairwise(nz):
        if sign[i] == sign[j]:
            continue
        if j == i + 1:
            x = logn[i] + (logn[j] - logn[i]) * d[i] / (d[i] - d[j])
        else:
            x = (logn[i + 1] + logn[j - 1]) / 2
        out.append((float(np.exp(x)), float(n[i]), float(n[j])))
    return out


def _first_cross(fa: _Fit, fb: _Fit, n_from: float, n_to: float) -> float | None:
    """First n in [n_from, n_to] where curve a's error rises above curve b's (a better at n_from)."""
    from scipy.optimize import brentq

    def g(logn: float) -> float:
        n = math.exp(logn)
        return float(fa.value(n) - fb.value(n))

    lo, hi = math.log(n_from), math.log(n_to)
    if g(lo) >= 0:
        return n_from  # by the fits a is no longer better at the last observed size
    grid = np.linspace(lo, hi, 400)
    values = fa.value(np.exp(grid)) - fb.value(np.exp(grid))
    above = np.flatnonzero(values > 0)
    if len(above) == 0:
        return None
    k = above[0]
    return float(math.exp(brentq(g, grid[k - 1], grid[k], xtol=1e-10)))


def _half_widths(curves: pd.DataFrame) -> pd.Series:
    """Half the width of each point's interval; 0 for curves without intervals (exact curves)."""
    if "ci_low" in curves.columns and "ci_high" in curves.columns:
        lo = pd.to_numeric(curves["ci_low"], errors="coerce")
        hi = pd.to_numeric(curves["ci_high"], errors="coerce")
        return (hi - lo) / 2.0
    return pd.Series(0.0, index=curves.index)


def _paired_sign(
    s1: dict[int, float], s2: dict[int, float], ratio: float, greater: bool, level: float
) -> float | None:
    """-1/+1 when model 1's error is lower/higher than model 2's beyond noise by the paired
    per-fold difference (corrected resampled t over the shared folds), 0 when not; None when the
    points share fewer than 2 folds (no paired test)."""
    from scipy import stats

    common = sorted(set(s1) & set(s2))
    if len(common) < 2 or not np.isfinite(ratio):
        return None
    d = np.array([s1[f] - s2[f] for f in common])
    if greater:
        d = -d  # a difference of errors
    mean, sd, k = float(d.mean()), float(d.std(ddof=1)), len(d)
    if sd == 0:
        return float(np.sign(mean))
    half = float(stats.t.ppf((1 + level) / 2, k - 1)) * sd * math.sqrt(1.0 / k + ratio)
    return float(np.sign(mean)) if abs(mean) > half else 0.0


def crossovers(
    curves: pd.DataFrame,
    fits: pd.DataFrame | None = None,
    extrapolate_to: float | None = None,
    *,
    level: float = 0.95,
) -> pd.DataFrame:
    """Where two models' learning curves cross, beyond noise.

    Parameters
    ----------
    curves : pandas.DataFrame
        Output of :func:`learning_curves` (uses dataset, model, n_train, error_mean, and when
        present fold_scores, test_ratio, complete, se, df and ci_low/ci_high; a table without
        them is taken as exact, noise-free curves). Incomplete points are left out.
    fits : pandas.DataFrame, optional
        Output of :func:`fit_power_laws`; when given, only models whose fit is ``reliable`` there
        are extrapolated. The ranges are computed from ``curves``.
    extrapolate_to : float, optional
        Largest training size an extrapolated crossing may lie at; default :data:`HORIZON` (100)
        times the largest size both models were run at.
    level : float
        Coverage of the per-size tests and of the predicted ranges.

    Returns
    -------
    pandas.DataFrame
        Columns dataset, model_a, model_b, n_cross, kind, n_low, n_high, better_before,
        better_after; each unordered pair of models once, ``model_a`` the one with lower error at
        small n.

        At each size both models ran, their difference is *beyond noise* when the paired per-fold
        difference of their scores (the folds are shared) is beyond its corrected resampled t
        interval (Nadeau and Bengio's correction, as the points' own intervals); points without
        fold scores (a single test split) compare ``sqrt(h_a**2 + h_b**2)``, their intervals'
        half-widths combined. A point whose noise is unknown is never beyond noise.

        - ``kind="observed"``: one model is better beyond noise at some size and the other beyond
          noise at a larger size; one row per such change, so curves that cross twice give two
          rows. ``n_low``/``n_high`` are the last size where the first model was significantly
          better and the first size where the second one is; ``n_cross`` is where the mean curves
          cross in between (linear interpolation in log n; the middle one if noise makes them
          cross several times).
        - ``kind="extrapolated"`` (a hypothesis): no observed crossing, ``model_a`` has the lower
          mean error at the largest shared size, both fits are reliable, and beyond the data the
          two predicted ranges (:func:`extrapolate`) separate in the other order before
          ``extrapolate_to``: ``model_b``'s fitted error is below ``model_a``'s by more than the
          two ranges' facing sides combined (``hypot(high_b - fit_b, fit_a - low_a)``, as for two
          independent estimates: the difference's range excludes 0). ``n_high`` is the first size
          (on a log grid of 41 sizes) where they are apart so, ``n_low`` the last size where
          ``model_a`` was still better so (the largest shared size if never), and ``n_cross``
          where the two fitted curves cross.

        No crossing gives no row. ``better_before``/``better_after`` name the model with lower
        error on either side of the crossing.
    """
    rows: list[dict[str, Any]] = []
    pending: list[tuple[str, str, str, float]] = []  # pairs needing extrapolation
    curves = _complete(curves)
    curves = curves.assign(_half=_half_widths(curves))
    greater = _greater(curves)
    has_folds = "fold_scores" in curves.columns and "test_ratio" in curves.columns
    for ds, g in curves.groupby("dataset", sort=True):
        # per model: {n: (error, half-width, fold scores, ratio)}; duplicates of a size averaged
        by_model: dict[str, dict[float, tuple[float, float, dict[int, float], float]]] = {}
        cols = ["model", "n_train", "error_mean", "_half"]
        extra = ["fold_scores", "test_ratio"] if has_folds else []
        for r in g[cols + extra].itertuples(index=False):
            scores = r[4] if has_folds and isinstance(r[4], dict) else {}
            ratio = float(r[5]) if has_folds else math.nan
            entry = by_model.setdefault(str(r[0]), {})
            x = float(r[1])
            if x in entry:  # a second row of one size (hand-made tables): mean error, widest interval
                e0, h0, f0, q0 = entry[x]
                entry[x] = ((e0 + float(r[2])) / 2, max(h0, float(r[3])), f0, q0)
            else:
                entry[x] = (float(r[2]), float(r[3]), scores, ratio)
        better = greater.get(str(ds), True)
        models = sorted(by_model)
        for i, m1 in enumerate(models):
            for m2 in models[i + 1 :]:
                p1, p2 = by_model[m1], by_model[m2]
                n = np.array(
                    sorted(x for x in set(p1) & set(p2) if np.isfinite(p1[x][0]) and np.isfinite(p2[x][0]))
                )
                if len(n) == 0:
                    continue
                d = np.array([p1[x][0] - p2[x][0] for x in n])
                h = np.array([math.hypot(p1[x][1], p2[x][1]) for x in n])
                with np.errstate(invalid="ignore"):
                    sig = np.where(np.abs(d) > h, np.sign(d), 0.0)
                if has_folds:
                    for k, x in enumerate(n):
                        ratio = max(p1[x][3], p2[x][3])
                        paired = _paired_sign(p1[x][2], p2[x][2], ratio, better, level)
                        if paired is not None:
                            sig[k] = paired
                marked = np.flatnonzero(sig)
                if len(marked) == 0:
                    continue  # never apart beyond noise: no order to change
                a, b = (m1, m2) if sig[marked[0]] < 0 else (m2, m1)
                if a != m1:
                    d, sig = -d, -sig  # orient so that d < 0 means model_a is better
                found = []
                for lo_i, hi_i in itertools.pairwise(marked):
                    if sig[lo_i] == sig[hi_i]:
                        continue
                    inner = _observed_crossings(n[lo_i : hi_i + 1], d[lo_i : hi_i + 1])
                    found.append((inner[(len(inner) - 1) // 2][0], float(n[lo_i]), float(n[hi_i])))
                for k, (nc, lo, hi) in enumerate(found):
                    before, after = (a, b) if k % 2 == 0 else (b, a)
                    rows.append(
                        {
                            "dataset": ds,
                            "model_a": a,
                            "model_b": b,
                            "n_cross": nc,
                            "kind": "observed",
                            "n_low": lo,
                            "n_high": hi,
                            "better_before": before,
                            "better_after": after,
                        }
                    )
                if not found and d[-1] < 0 and sig[-1] <= 0:
                    pending.append((str(ds), a, b, float(n[-1])))

    if pending:
        rows.extend(_extrapolated(curves, fits, pending, extrapolate_to, level))
    out = pd.DataFrame(rows, columns=_CROSS_COLS)
    if out.empty:
        return out
    return out.sort_values(["dataset", "model_a", "model_b", "n_cross"]).reset_index(drop=True)


def _extrapolated(
    curves: pd.DataFrame,
    fits: pd.DataFrame | None,
    pending: list[tuple[str, str, str, float]],
    extrapolate_to: float | None,
    level: float,
) -> list[dict[str, Any]]:
    needed = {(ds, m) for ds, a, b, _ in pending for m in (a, b)}
    keys = list(zip(curves["dataset"].astype(str), curves["model"].astype(str), strict=True))
    ours = _curve_fits(curves[[k in needed for k in keys]], level)
    allowed = None
    if fits is not None and "reliable" in fits.columns:
        allowed = {(str(r.dataset), str(r.model)) for r in fits.itertuples(index=False) if bool(r.reliable)}
    rows = []
    for ds, a, b, n_max in pending:
        fa, fb = ours.get((ds, a)), ours.get((ds, b))
        if fa is None or fb is None or not (fa.reliable and fb.reliable):
            continue
        if allowed is not None and not {(ds, a), (ds, b)} <= allowed:
            continue
        upper = float(extrapolate_to) if extrapolate_to is not None else HORIZON * n_max
        if upper <= n_max:
            continue
        # b is better beyond noise at n when the fitted difference exceeds the two ranges' sides
        # that face each other, combined as for independent estimates; ranges contain their fits,
        # so that can only happen once b's fitted curve is below a's: look from where they cross,
        # then back for the last size where a was still better so.
        n_fits = _first_cross(fa, fb, n_max, upper)
        if n_fits is None:
            continue
        grid = np.geomspace(n_max, upper, 41)

        def apart(x: float, first: _Fit, second: _Fit) -> bool:
            """``first`` has the lower error at ``x`` beyond the two ranges combined."""
            _, hi_1 = first.range_at(x)
            lo_2, _ = second.range_at(x)
            e_1, e_2 = float(first.value(x)), float(second.value(x))
            return e_2 - e_1 > math.hypot(hi_1 - e_1, e_2 - lo_2)

        j = None
        for k in range(int(np.searchsorted(grid, n_fits)), len(grid)):
            if apart(float(grid[k]), fb, fa):
                j = k
                break
        if j is None:
            continue
        n_low = n_max
        for k in range(j - 1, -1, -1):
            if apart(float(grid[k]), fa, fb):
                n_low = float(grid[k])
                break
        n_high = float(grid[j])
        n_cross = _first_cross(fa, fb, n_max, n_high)
        if n_cross is None:
            continue
        rows.append(
            {
                "dataset": ds,
                "model_a": a,
                "model_b": b,
                "n_cross": n_cross,
                "kind": "extrapolated",
                "n_low": min(n_low, n_cross),
                "n_high": n_high,
                "better_before": a,
                "better_after": b,
            }
        )
    return rows
