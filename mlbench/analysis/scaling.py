"""Scaling analyses: learning curves, power-law fits and where two models' curves cross.

A learning curve is a model's test error as a function of its training-set size. Classical
models often win at small n and deep models at large n; the question a benchmark answers is
*where* they cross, and whether that point is inside the data or an extrapolation.

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

from mlbench.analysis.stats import _ci_columns, _long_scores, per_fold

__all__ = ["crossovers", "fit_power_law", "fit_power_laws", "learning_curves"]

B_MAX = 3.0  # steeper than n**-3 is not a learning curve any real model shows
_FIT_KEYS = ("a", "b", "c", "b_low", "b_high", "r2")


def learning_curves(
    results: pd.DataFrame, metric: str | None = None, primary: dict[str, str] | None = None
) -> pd.DataFrame:
    """Mean test score and error per dataset, model and training size.

    Parameters
    ----------
    results : pandas.DataFrame
        Results table from :func:`mlbench.load_results`.
    metric : str, optional
        Metric to plot; default each dataset's primary metric.
    primary : dict, optional
        ``{task_type: metric}`` overriding the primary metric per task type.

    Returns
    -------
    pandas.DataFrame
        Columns dataset, model, metric, n_train, mean, std, n, ci_low, ci_high, error_mean; one row
        per (dataset, model, n_train). ``n_train`` is the actual number of training rows; jobs whose
        sizes differ by at most 1% (k-fold gives 597 and 598) form one point at the median size of
        the dataset's jobs in that group, so every model of a dataset shares the same x values.
        ``error_mean`` is the mean of :func:`~mlbench.analysis.error_of` (``1 - score`` or the loss).
    """
    cols = ["dataset", "model", "metric", "n_train", "mean", "std", "n", "ci_low", "ci_high", "error_mean"]
    long = _long_scores(results, metric, primary)
    if long.empty:
        return pd.DataFrame(columns=cols)
    long = per_fold(long, ["dataset", "model", "n_train"])  # folds, not repeats, are the samples
    # error_of, vectorised over datasets with different metrics
    long["error"] = np.where(long["greater_is_better"], 1.0 - long["score"], long["score"])
    out = (
        long.groupby(["dataset", "model", "n_train"], sort=True)
        .agg(
            metric=("metric", "first"),
            mean=("score", "mean"),
            std=("score", "std"),
            n=("score", "size"),
            error_mean=("error", "mean"),
        )
        .reset_index()
    )
    out["ci_low"], out["ci_high"] = _ci_columns(out["mean"], out["std"], out["n"])
    return out[cols]


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
    bootstrap samples and exponents are solved at once. Returns (a, c, sse), each (rows, len(b)).
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
    with a parabola through its neighbours (accurate to well below the bootstrap spread)."""
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
            warnings.simplefilter("ignore")  # covariance warnings: we bootstrap instead
            popt, _ = curve_fit(_power, n, e, p0=start, bounds=(lo, hi), jac=_jac, maxfev=5000)
    except (RuntimeError, ValueError):
        return start
    # The profiled start is already good; never return something worse than it.
    return popt if sse(popt) <= sse(start) else start


def _nan_fit() -> dict[str, Any]:
    return {**dict.fromkeys(_FIT_KEYS, math.nan), "ok": False}


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
        Bootstrap resamples for the exponent's interval (0 skips it).
    seed : int
        Seed of the bootstrap.
    level : float
        Coverage of the bootstrap percentile interval.

    Returns
    -------
    dict
        ``a``, ``b``, ``c``: least-squares fit (``scipy.optimize.curve_fit``) with ``a >= 0``,
        ``0 <= b <= 3``, ``0 <= c <= max(error)``, started from a grid scan over ``b``;
        ``b_low``, ``b_high``: bootstrap percentile interval of ``b`` (resampling the observations
        within each size when sizes repeat, else resampling residuals); ``r2``: of the fitted curve
        against the mean error per size; ``ok``: False (and NaNs) with fewer than 3 distinct sizes.
    """
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
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        # Both schemes keep the design (every size, same number of points), so all resamples share
        # n and their exponents are profiled at once.
        if counts.max() > 1:
            # Repeats (folds, seeds) at a size: resample them within the size, which carries the
            # fold-to-fold noise into the exponent.
            order = np.argsort(inverse, kind="stable")
            n_sorted, e_sorted = n_arr[order], e_arr[order]
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
            offsets = rng.random((n_boot, len(n_arr)))
            within = np.floor(offsets * counts[inverse[order]]).astype(int)
            idx = starts[inverse[order]] + within
            E = e_sorted[idx]
            boots = _exponents(n_sorted, E)
        else:
            fitted = _power(n_arr, a, b, c)
            resid = e_arr - fitted
            resid = resid - resid.mean()
            E = fitted[None, :] + rng.choice(resid, size=(n_boot, len(resid)), replace=True)
            boots = _exponents(n_arr, E)
        tail = (1 - level) / 2 * 100
        b_low, b_high = (float(v) for v in np.percentile(boots, [tail, 100 - tail]))
    return {"a": a, "b": b, "c": c, "b_low": b_low, "b_high": b_high, "r2": r2, "ok": True}


def fit_power_laws(curves: pd.DataFrame, n_boot: int = 200, seed: int = 0) -> pd.DataFrame:
    """Fit a power law to every (dataset, model) learning curve.

    Parameters
    ----------
    curves : pandas.DataFrame
        Output of :func:`learning_curves` (uses n_train and error_mean).
    n_boot : int
        Bootstrap resamples per curve for ``b_low``/``b_high``.
    seed : int
        Seed of the bootstrap.

    Returns
    -------
    pandas.DataFrame
        Columns dataset, model, a, b, c, b_low, b_high, r2, n_points, ok (see :func:`fit_power_law`;
        the curve holds one mean per size, so its interval is a residual bootstrap).
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


def crossovers(
    curves: pd.DataFrame, fits: pd.DataFrame | None = None, extrapolate_to: float | None = None
) -> pd.DataFrame:
    """Where two models' learning curves cross.

    Parameters
    ----------
    curves : pandas.DataFrame
        Output of :func:`learning_curves` (uses dataset, model, n_train, error_mean).
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

        - ``kind="observed"``: the mean error curves cross between two consecutive sizes both
          models share (linear interpolation in log n); one row per crossing, so curves that cross
          twice give two rows. ``n_low``/``n_high`` are the bracketing sizes.
        - ``kind="extrapolated"``: no observed crossing, but the power-law fits cross beyond the
          largest shared size (up to ``extrapolate_to``). ``n_low``/``n_high`` are the extremes of
          the crossing over the fits' bootstrap variants (each model's exponent at ``b_low``,
          ``b``, ``b_high``, with ``a`` and ``c`` refitted to its curve); ``n_high`` is NaN when a
          variant does not cross within ``extrapolate_to``.

        No crossing gives no row. ``better_before``/``better_after`` name the model with lower
        error on either side of the crossing.
    """
    rows: list[dict[str, Any]] = []
    pending: list[tuple[str, str, str, np.ndarray]] = []  # pairs needing extrapolation
    for ds, g in curves.groupby("dataset", sort=True):
        table = g.pivot_table(index="n_train", columns="model", values="error_mean", aggfunc="mean")
        table = table.sort_index()
        models = sorted(table.columns)
        for i, m1 in enumerate(models):
            for m2 in models[i + 1 :]:
                pair = table[[m1, m2]].dropna()
                if pair.empty:
                    continue
                n = pair.index.to_numpy(dtype=float)
                d = (pair[m1] - pair[m2]).to_numpy(dtype=float)
                nonzero = d[d != 0]
                if len(nonzero) == 0:
                    continue  # identical curves never cross
                a, b = (m1, m2) if nonzero[0] < 0 else (m2, m1)
                if a != m1:
                    d = -d  # orient so that d < 0 means model_a is better
                found = _observed_crossings(n, d)
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
                if not found:
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
        # The central fit first, then the exponent at each end of its bootstrap interval with a
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
