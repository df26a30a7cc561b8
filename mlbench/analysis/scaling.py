"""Scaling analyses: learning curves, power-law fits and where two models' curves cross.

A learning curve is a model's test error as a function of its training-set size. Classical
models often win at small n and deep models at large n; the question a benchmark answers is
*where* they cross, whether that point is inside the data or an extrapolation, and whether the
curves differ there beyond noise at all (two equally good models cross by chance at every size
where noise flips their order; those crossings are not reported).

The error model is ``error(n) = a * n**(-b) + c``: ``c`` is the irreducible error the curve
plateaus at, ``b`` how fast it gets there.

scipy is imported inside the functions that need it so that ``import mlbench.analysis`` stays cheap.
"""

from __future__ import annotations

import itertools
import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

from mlbench.analysis.intervals import N_BOOT
from mlbench.analysis.tables import PredictionLoader, long_scores, score_summary

__all__ = ["crossovers", "fit_power_law", "fit_power_laws", "learning_curves"]

B_MAX = 3.0  # steeper than n**-3 is not a learning curve any real model shows
_FIT_KEYS = ("a", "b", "c", "b_low", "b_high", "r2")
#: Exponents profiled for the interval of b (step 0.0025, edges interpolated).
_B_GRID = np.linspace(0.0, B_MAX, 1201)
#: Distinct sizes needed for an interval of b: three parameters leave no residual with three.
MIN_SIZES_FOR_INTERVAL = 4


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
        Results table from :func:`mlbench.load_results`.
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
        Columns dataset, model, metric, n_train, mean, std, n, ci_low, ci_high, error_mean,
        ci_method; one row per (dataset, model, n_train). ``n_train`` is the actual number of
        training rows; jobs whose sizes differ by at most 1% (k-fold gives 597 and 598) form one
        point at the median size of the dataset's jobs in that group, so every model of a dataset
        shares the same x values. Each point is scored as in
        :func:`mlbench.analysis.tables.score_summary`: mean over folds with sweep repeats averaged
        within each fold; corrected resampled t interval for k-fold (``n_train`` of the correction
        is the dataset's largest training set, the pool the subsets are drawn from), test-row
        bootstrap for a single split (with ``predictions``; otherwise no interval). ``error_mean``
        is :func:`~mlbench.analysis.error_of` of the mean (``1 - score`` or the loss).
    """
    cols = ["dataset", "model", "metric", "n_train", "mean", "std", "n", "ci_low", "ci_high", "error_mean"]
    cols += ["ci_method"]
    long = long_scores(results, metric, primary)
    if long.empty:
        return pd.DataFrame(columns=cols)
    keys = ["dataset", "model", "metric", "n_train"]
    out = score_summary(long, keys, predictions=predictions, level=level, n_boot=n_boot, seed=seed)
    greater = long.groupby("dataset")["greater_is_better"].first()
    g = out["dataset"].map(greater).astype(bool)
    out["error_mean"] = np.where(g, 1.0 - out["mean"], out["mean"])
    return out[cols].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# power-law fit
# --------------------------------------------------------------------------------------------


def _power(n: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    return a * np.power(n, -b) + c


def _ac_given_b(n: np.ndarray, e: np.ndarray, b: float, c_max: float) -> tuple[float, float, float]:
    """Least-squares ``a >= 0, 0 <= c <= c_max`` for a fixed exponent; returns (a, c, sse)."""
    a, c, sse = _profile(n, e[None, :], np.array([b]), np.array([c_max]))
    return float(a[0, 0]), float(c[0, 0]), float(sse[0, 0])


def _profile(
    n: np.ndarray, E: np.ndarray, b_grid: np.ndarray, c_max: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Profile the fit over exponents: for each row of ``E`` and each ``b``, the best (a, c).

    For a fixed ``b`` the model is linear in (a, c), and a 2-variable box-constrained least squares
    is solved exactly by the unconstrained optimum when feasible, else the best optimum on an edge
    of the box (a = 0, c = 0 or c = c_max). Everything is a function of a few sums, so many
    curves and exponents are solved at once. Returns (a, c, sse), each (rows, len(b)).
    """
    m = float(n.size)
    X = np.power(n[None, :], -b_grid[:, None])  # (G, m)
    xx, sx = (X * X).sum(1)[None, :], X.sum(1)[None, :]  # (1, G)
    xe, se = E @ X.T, E.sum(1)[:, None]  # (B, G), (B, 1)
    ee = (E * E).sum(1)[:, None]
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
    return a_best, c_best, np.take_along_axis(costs, best[None], 0)[0]


def _exponents(n: np.ndarray, E: np.ndarray) -> np.ndarray:
    """Best-fitting exponent for each row of ``E`` by profiling a grid and refining the minimum
    with a parabola through its neighbours (accurate to well below the interval's width)."""
    grid = np.linspace(0.0, B_MAX, 301)
    c_max = np.maximum(E.max(axis=1), 0.0) + 1e-12
    _, _, cost = _profile(n, E, grid, c_max)
    k = np.clip(np.argmin(cost, axis=1), 1, len(grid) - 2)
    rows = np.arange(len(E))
    y0, y1, y2 = cost[rows, k - 1], cost[rows, k], cost[rows, k + 1]
    denom = y0 - 2 * y1 + y2
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(denom > 0, 0.5 * (y0 - y2) / denom, 0.0)
    b = grid[k] + np.clip(shift, -1.0, 1.0) * (grid[1] - grid[0])
    # An optimum on the edge of the range stays there (the parabola would be an extrapolation).
    edge = np.argmin(cost, axis=1)
    b = np.where(edge == 0, grid[0], np.where(edge == len(grid) - 1, grid[-1], b))
    return np.clip(b, 0.0, B_MAX)


def _jac(n: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    x = np.power(n, -b)
    return np.column_stack([x, -a * x * np.log(n), np.ones_like(x)])


def _fit_once(n: np.ndarray, e: np.ndarray) -> np.ndarray:
    from scipy.optimize import curve_fit

    # c is the plateau, so it cannot sit above the worst observed error; the tiny slack keeps the
    # bounds valid when every error is 0.
    c_max = max(float(e.max()), 0.0) + 1e-12
    # Start from the profiled optimum (exact a, c for each exponent on a grid): curve_fit from a
    # generic guess often stalls in the flat valley where a, b and c trade off against each other.
    b0 = float(_exponents(n, e[None, :])[0])
    a0, c0, _ = _ac_given_b(n, e, b0, c_max)
    lo, hi = np.array([0.0, 0.0, 0.0]), np.array([np.inf, B_MAX, c_max])
    # curve_fit (trf) accepts a start on the boundary and moves it strictly inside itself.
    start = np.clip(np.array([a0, b0, c0]), lo, hi)

    def sse(p: np.ndarray) -> float:
        return float(np.sum((_power(n, *p) - e) ** 2))

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # covariance warnings: the interval is profiled instead
            popt, _ = curve_fit(_power, n, e, p0=start, bounds=(lo, hi), jac=_jac, maxfev=5000)
    except (RuntimeError, ValueError):
        return start
    # The profiled start is already good; never return something worse than it.
    return popt if sse(popt) <= sse(start) else start


def _nan_fit() -> dict[str, Any]:
    return {**dict.fromkeys(_FIT_KEYS, math.nan), "ok": False}


def _b_interval(sizes: np.ndarray, means: np.ndarray, b: float, level: float) -> tuple[float, float]:
    """Profile-likelihood interval of the exponent from the per-size mean errors.

    Keeps every exponent whose best fit (``a`` and ``c`` refitted, same bounds) has a residual sum
    of squares ``S(b) <= S_min * (1 + F / (m - 3))``, ``F`` the ``level`` quantile of F(1, m - 3)
    and ``m`` the number of sizes: the classical interval of a nonlinear least-squares parameter
    with the noise variance estimated from the residuals (``m - 3`` degrees of freedom). It
    assumes independent noise of similar size around each point; the edges are interpolated
    between grid exponents, and the interval always contains the fitted ``b``.
    """
    from scipy import stats

    m = len(sizes)
    c_max = np.array([max(float(means.max()), 0.0) + 1e-12])
    _, _, sse = _profile(sizes, means[None, :], _B_GRID, c_max)
    sse = sse[0]
    s_min = float(sse.min())
    bound = s_min * (1.0 + float(stats.f.ppf(level, 1, m - 3)) / (m - 3))
    inside = np.flatnonzero(sse <= bound + 1e-15 * max(1.0, s_min))
    lo_i, hi_i = int(inside[0]), int(inside[-1])

    def edge(i: int, j: int) -> float:
        # where the profile crosses the bound between grid points i (inside) and j (outside)
        if sse[j] == sse[i]:
            return float(_B_GRID[i])
        t = (bound - sse[i]) / (sse[j] - sse[i])
        return float(_B_GRID[i] + np.clip(t, 0.0, 1.0) * (_B_GRID[j] - _B_GRID[i]))

    lo = float(_B_GRID[0]) if lo_i == 0 else edge(lo_i, lo_i - 1)
    hi = float(_B_GRID[-1]) if hi_i == len(_B_GRID) - 1 else edge(hi_i, hi_i + 1)
    return min(lo, b), max(hi, b)


def fit_power_law(
    n: Any, error: Any, n_boot: int = 200, seed: int = 0, level: float = 0.95
) -> dict[str, Any]:
    """Fit ``error(n) = a * n**(-b) + c`` to a learning curve.

    Parameters
    ----------
    n : array-like of float
        Training-set sizes, one per observation (repeats of the same size allowed).
    error : array-like of float
        Error to be minimised at each size (see :func:`~mlbench.analysis.error_of`).
    n_boot : int
        0 skips the interval of ``b``; any other value computes it. (The interval used to be a
        bootstrap, which covered the true exponent in only 66-82% of simulated curves at nominal
        95%; it is now a profile-likelihood interval, which needs no resampling.)
    seed : int
        Unused; kept so that existing calls keep working.
    level : float
        Coverage of the interval of ``b``.

    Returns
    -------
    dict
        ``a``, ``b``, ``c``: least-squares fit (``scipy.optimize.curve_fit``) with ``a >= 0``,
        ``0 <= b <= 3``, ``0 <= c <= max(error)``, started from a grid scan over ``b``;
        ``b_low``, ``b_high``: profile-likelihood interval of ``b`` from the mean error at each
        size (see :func:`_b_interval`; covers the true exponent in >= 90% of simulated curves, see
        the tests), NaN with fewer than 4 distinct sizes (3 parameters leave no residual to
        estimate the noise from); ``r2``: of the fitted curve against the mean error per size;
        ``ok``: False (and NaNs) with fewer than 3 distinct sizes.
    """
    del seed  # the interval is deterministic
    n_arr = np.asarray(n, dtype=float).ravel()
    e_arr = np.asarray(error, dtype=float).ravel()
    keep = np.isfinite(n_arr) & np.isfinite(e_arr) & (n_arr > 0)
    n_arr, e_arr = n_arr[keep], e_arr[keep]
    sizes, inverse, counts = np.unique(n_arr, return_inverse=True, return_counts=True)
    if len(sizes) < 3:
        # Three parameters need at least three distinct sizes to be identifiable.
        return _nan_fit()
    popt = _fit_once(n_arr, e_arr)
    a, b, c = (float(v) for v in popt)

    means = np.bincount(inverse, weights=e_arr) / counts
    ss_tot = float(np.sum((means - means.mean()) ** 2))
    ss_res = float(np.sum((means - _power(sizes, a, b, c)) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else (1.0 if ss_res == 0 else math.nan)

    b_low = b_high = math.nan
    if n_boot > 0 and len(sizes) >= MIN_SIZES_FOR_INTERVAL:
        b_low, b_high = _b_interval(sizes, means, b, level)
    return {"a": a, "b": b, "c": c, "b_low": b_low, "b_high": b_high, "r2": r2, "ok": True}


def fit_power_laws(curves: pd.DataFrame, n_boot: int = 200, seed: int = 0) -> pd.DataFrame:
    """Fit a power law to every (dataset, model) learning curve.

    Parameters
    ----------
    curves : pandas.DataFrame
        Output of :func:`learning_curves` (uses n_train and error_mean).
    n_boot : int
        0 skips the intervals of ``b`` (see :func:`fit_power_law`).
    seed : int
        Unused; kept for compatibility.

    Returns
    -------
    pandas.DataFrame
        Columns dataset, model, a, b, c, b_low, b_high, r2, n_points, ok (see :func:`fit_power_law`;
        the curve holds one mean per size).
    """
    cols = ["dataset", "model", *_FIT_KEYS, "n_points", "ok"]
    rows = []
    for (ds, model), g in curves.groupby(["dataset", "model"], sort=True):
        fit = fit_power_law(g["n_train"], g["error_mean"], n_boot=n_boot, seed=seed)
        rows.append({"dataset": ds, "model": model, **fit, "n_points": int(g["n_train"].nunique())})
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


def _first_cross(
    pa: tuple[float, float, float], pb: tuple[float, float, float], n_from: float, n_to: float
) -> float | None:
    """First n in [n_from, n_to] where curve a's error rises above curve b's (a better at n_from)."""
    from scipy.optimize import brentq

    def g(logn: float) -> float:
        n = math.exp(logn)
        return float(_power(np.array(n), *pa) - _power(np.array(n), *pb))

    lo, hi = math.log(n_from), math.log(n_to)
    if g(lo) >= 0:
        return n_from  # under this variant a is no longer better at the last observed size
    grid = np.linspace(lo, hi, 400)
    values = np.array([g(x) for x in grid])
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


def _significant(d: np.ndarray, half: np.ndarray) -> np.ndarray:
    """-1/+1 where the difference of two curves is beyond noise, 0 where it is not (or unknown)."""
    with np.errstate(invalid="ignore"):
        beyond = np.abs(d) > half  # NaN half-width (noise unknown): never beyond
    return np.where(beyond, np.sign(d), 0.0)


def crossovers(
    curves: pd.DataFrame, fits: pd.DataFrame | None = None, extrapolate_to: float | None = None
) -> pd.DataFrame:
    """Where two models' learning curves cross, beyond noise.

    Parameters
    ----------
    curves : pandas.DataFrame
        Output of :func:`learning_curves` (uses dataset, model, n_train, error_mean and the
        interval ci_low/ci_high; a table without interval columns is taken as exact, noise-free
        curves).
    fits : pandas.DataFrame, optional
        Output of :func:`fit_power_laws`; fitted from ``curves`` when needed and not given.
    extrapolate_to : float, optional
        Largest training size an extrapolated crossing may lie at; default 10 times the largest
        size both models were run at.

    Returns
    -------
    pandas.DataFrame
        Columns dataset, model_a, model_b, n_cross, kind, n_low, n_high, better_before, better_after;
        each unordered pair of models once, ``model_a`` the one with lower error at small n.

        At each size both models ran, their difference is *beyond noise* when it exceeds
        ``sqrt(h_a**2 + h_b**2)``, the half-widths of the two points' intervals combined (as for
        independent estimates; the shared folds make the true difference less noisy, so this errs
        towards reporting nothing). A point whose interval is unknown is never beyond noise.

        - ``kind="observed"``: one model is better beyond noise at some size and the other beyond
          noise at a larger size; one row per such change, so curves that cross twice give two
          rows. ``n_low``/``n_high`` are the last size where the first model was significantly
          better and the first size where the second one is; ``n_cross`` is where the mean curves
          cross in between (linear interpolation in log n; the middle one if noise makes them
          cross several times).
        - ``kind="extrapolated"``: no observed crossing, ``model_a`` is better beyond noise at the
          largest shared size, ``model_b``'s exponent interval lies entirely above ``model_a``'s
          (it learns faster beyond noise), and the power-law fits cross beyond the largest shared
          size (up to ``extrapolate_to``). ``n_low``/``n_high`` are the extremes of the crossing
          over the fits' variants (each model's exponent at ``b_low``, ``b``, ``b_high``, with
          ``a`` and ``c`` refitted to its curve); ``n_high`` is NaN when a variant does not cross
          within ``extrapolate_to``.

        No crossing gives no row. ``better_before``/``better_after`` name the model with lower
        error on either side of the crossing.
    """
    rows: list[dict[str, Any]] = []
    pending: list[tuple[str, str, str, np.ndarray]] = []  # pairs needing extrapolation
    curves = curves.assign(_half=_half_widths(curves))
    for ds, g in curves.groupby("dataset", sort=True):
        table = g.pivot_table(index="n_train", columns="model", values="error_mean", aggfunc="mean")
        table = table.sort_index()
        half = g.pivot_table(index="n_train", columns="model", values="_half", aggfunc="max", dropna=False)
        half = half.reindex(index=table.index, columns=table.columns)
        models = sorted(table.columns)
        for i, m1 in enumerate(models):
            for m2 in models[i + 1 :]:
                pair = table[[m1, m2]].dropna()
                if pair.empty:
                    continue
                n = pair.index.to_numpy(dtype=float)
                d = (pair[m1] - pair[m2]).to_numpy(dtype=float)
                h = half.loc[pair.index, [m1, m2]].to_numpy(dtype=float)
                sig = _significant(d, np.sqrt(h[:, 0] ** 2 + h[:, 1] ** 2))
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
                if not found and sig[-1] < 0:
                    pending.append((str(ds), a, b, n))

    if pending:
        if fits is None:
            needed = {(ds, m) for ds, a, b, _ in pending for m in (a, b)}
            keys = list(zip(curves["dataset"], curves["model"], strict=True))
            fits = fit_power_laws(curves[[k in needed for k in keys]])
        rows.extend(_extrapolated(curves, fits, pending, extrapolate_to))

    out = pd.DataFrame(rows, columns=_CROSS_COLS)
    if out.empty:
        return out
    return out.sort_values(["dataset", "model_a", "model_b", "n_cross"]).reset_index(drop=True)


def _extrapolated(
    curves: pd.DataFrame,
    fits: pd.DataFrame,
    pending: list[tuple[str, str, str, np.ndarray]],
    extrapolate_to: float | None,
) -> list[dict[str, Any]]:
    by_key = {(str(r.dataset), str(r.model)): r for r in fits.itertuples(index=False)}
    variant_cache: dict[tuple[str, str], list[tuple[float, float, float]]] = {}

    def variants(ds: str, model: str) -> list[tuple[float, float, float]]:
        # The central fit first, then the exponent at each end of its interval with a
        # and c refitted to the curve, so every variant still passes through the data.
        if (ds, model) not in variant_cache:
            f = by_key[(ds, model)]
            out = [(float(f.a), float(f.b), float(f.c))]
            g = curves[(curves["dataset"] == ds) & (curves["model"] == model)]
            n = g["n_train"].to_numpy(dtype=float)
            e = g["error_mean"].to_numpy(dtype=float)
            c_max = max(float(np.nanmax(e)), 0.0) + 1e-12
            for b in (f.b_low, f.b_high):
                if np.isfinite(b):
                    a, c, _ = _ac_given_b(n, e, float(b), c_max)
                    out.append((a, float(b), c))
            variant_cache[(ds, model)] = out
        return variant_cache[(ds, model)]

    rows = []
    for ds, a, b, n in pending:
        fa, fb = by_key.get((ds, a)), by_key.get((ds, b))
        if fa is None or fb is None or not (bool(fa.ok) and bool(fb.ok)):
            continue
        # Beyond noise on the far side too: b must learn faster than a for sure, i.e. its
        # exponent interval lies above a's (no interval, e.g. fewer than 4 sizes: no claim).
        if not (np.isfinite(fb.b_low) and np.isfinite(fa.b_high) and fb.b_low > fa.b_high):
            continue
        n_max = float(n.max())
        upper = float(extrapolate_to) if extrapolate_to is not None else 10.0 * n_max
        if upper <= n_max:
            continue
        va, vb = variants(ds, a), variants(ds, b)
        central = va[0], vb[0]
        # The fits must agree with the data that a is still better at the last shared size;
        # otherwise "beyond the data" is not what they describe.
        if _power(np.array(n_max), *central[0]) >= _power(np.array(n_max), *central[1]):
            continue
        n_cross = _first_cross(central[0], central[1], n_max, upper)
        if n_cross is None:
            continue
        found = [_first_cross(pa, pb, n_max, upper) for pa in va for pb in vb]
        crossing = [x for x in found if x is not None]
        rows.append(
            {
                "dataset": ds,
                "model_a": a,
                "model_b": b,
                "n_cross": n_cross,
                "kind": "extrapolated",
                "n_low": min(crossing),
                "n_high": max(crossing) if len(crossing) == len(found) else math.nan,
                "better_before": a,
                "better_after": b,
            }
        )
    return rows
