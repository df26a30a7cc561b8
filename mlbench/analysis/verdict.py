"""A verdict per dataset: which model to use at this size and this budget, and whether more data
would change the answer.

:func:`verdict` answers, for each dataset of a run, from the analyses the report already shows:

- **Now** (at the largest size run, or at ``at``): the best model, the models *within noise* of
  it (the paired per-fold difference's corrected resampled t interval over the shared folds
  includes 0; Nadeau and Bengio's correction, as the learning curves' intervals), and the one
  recommended: the cheapest of those (median fit + predict seconds per job). A model no better
  than the baseline (``dummy``) beyond noise at that size, the baseline itself and a model with
  an incomplete point there are never recommended.
- **Under a budget** (``budget_seconds``: fit seconds per job; ``max_predict_ms``: milliseconds
  to predict one job's test rows): the best model whose measured times at that size fit, from
  the Pareto front of score against fit and predict time.
- **With more data**: the expected order at 2x, 10x and 100x the largest size, with ranges,
  from the fits that passed the reliability checks only (:func:`mlbench.analysis.extrapolate`);
  the crossovers of the best model (:func:`mlbench.analysis.crossovers`: observed from the paired
  differences, extrapolated where the predicted ranges separate), or "not within 100x"; and where
  the fits that matter are unreliable, "more sizes needed" with the sweep that would settle it.
- **What would change it**: the assumptions, in one line.

Every sentence is written by :func:`verdict_sentences` from the record's own tables (``table``,
``budget``, ``outlook``, ``crossovers``, ``more_sizes``), so a test can check each sentence
against the table it came from. :func:`verdict_backtest` computes the verdict again from the
sizes up to 1/8 (and 1/4) of the largest and scores it against what the largest size shows.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlbench.values import count_text

__all__ = [
    "BACKTEST_COLUMNS",
    "FACTORS",
    "DatasetVerdict",
    "n_text",
    "score_text",
    "verdict",
    "verdict_backtest",
    "verdict_sentences",
]

#: Multiples of the largest size run at which the expected order is stated.
FACTORS = (2.0, 10.0, 100.0)
# Sizes within this fraction of a size run are that size (``at=1200`` for a point at 1,198 rows).
_SAME_SIZE = 0.01
# Models named in one outlook sentence (the rest are counted).
_OUTLOOK_SHOWN = 3


@dataclass
class DatasetVerdict:
    """The verdict of one dataset; :meth:`as_dict` is its JSON form (see the README, "Verdict").

    Attributes
    ----------
    dataset, metric, greater_is_better :
        The dataset and the metric it is judged on (its direction).
    n : float
        The training size answered for (the largest size run, or ``at``).
    kind : str
        ``observed`` (a size run), ``interpolated`` or ``extrapolated`` (``at`` not run: the
        table's scores are the fits' predictions).
    n_largest : float
        The largest size with a complete point (every fold and repeat finished).
    sizes : list of float
        The sizes run with a complete point.
    baseline : str or None
        The baseline model when the run has one.
    table : list of dict
        One row per model at ``n`` (see the README for the columns).
    best, recommended : str or None
        The best model by mean score (at a size not run: by expected score), and the one
        recommended: at a size run the cheapest of those tied with the best; at a size not run the
        tied model (predicted ranges overlapping the best's) with the best score at the size run
        nearest (the fits cannot order the tied models; the data's order so far stands).
    leader : str or None
        The best eligible model at the largest size run (the model the outlook's crossovers are about).
    tied : list of str
        The models within noise of the best (the best included).
    budget : dict or None
        The budget question and its answer, when a budget was given.
    outlook : list of dict
        The expected order at each factor of ``n_largest``.
    crossovers : list of dict
        The crossovers of the leader with the other eligible models (``kind``, ``before``,
        ``after``, ``n_cross``, ``n_low``, ``n_high``).
    no_crossing : list of str
        The models with a reliable fit whose extrapolated crossing with the leader was looked for
        up to 100x the largest size and not found.
    more_sizes : dict or None
        The sweep that would settle an unreliable outlook.
    assumptions : str
        What the verdict rests on, in one line.
    points : dict
        ``{model: [[n, score, low, high], ...]}``: the observed curves of the models the figure shows.
    sentences : list of str
        The verdict in words (:func:`verdict_sentences` of this record).
    """

    dataset: str
    metric: str
    greater_is_better: bool
    n: float
    kind: str
    n_largest: float
    sizes: list[float]
    baseline: str | None
    table: list[dict[str, Any]]
    best: str | None
    recommended: str | None
    leader: str | None
    tied: list[str]
    budget: dict[str, Any] | None
    outlook: list[dict[str, Any]]
    crossovers: list[dict[str, Any]]
    no_crossing: list[str]
    more_sizes: dict[str, Any] | None
    assumptions: str
    points: dict[str, list[list[float | None]]] = field(default_factory=dict)
    sentences: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The record as plain JSON-able Python (NaN and infinities become None)."""
        from mlbench.values import jsonable

        return jsonable(asdict(self))

    @property
    def paragraph(self) -> str:
        """The sentences as one paragraph."""
        return " ".join(self.sentences)


# --------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------


def _inputs(
    run_or_results: Any, metric: str | None, primary: dict[str, str] | None
) -> tuple[pd.DataFrame, dict[str, str], Any]:
    """(results, ``{dataset: metric}``, prediction loader or None) from a Run or a results table."""
    from mlbench.analysis.tables import primary_metrics, results_table

    predictions = None
    if isinstance(run_or_results, pd.DataFrame):
        results = run_or_results
    elif callable(getattr(run_or_results, "results", None)):
        results = run_or_results.results()
        if metric is None and primary is None:
            primary = (getattr(run_or_results, "meta", None) or {}).get("primary_metric") or None
        predictions = getattr(run_or_results, "predictions", None)
    else:
        raise TypeError(
            f"verdict() takes a run (mlbench.open_run(...)) or a results table (pandas.DataFrame), "
            f"not {type(run_or_results).__name__}"
        )
    chosen = primary_metrics(results_table(results), metric, primary) if len(results) else {}
    return results, chosen, predictions


def _times(results: pd.DataFrame, chosen: dict[str, str]) -> pd.DataFrame:
    """Median fit seconds and predict milliseconds per job, per dataset, model and curve size."""
    from mlbench.analysis.scaling import curve_sizes
    from mlbench.analysis.tables import long_for, results_table

    cols = ["dataset", "model", "n_train", "fit_seconds", "predict_ms", "n_test"]
    long = long_for(results_table(results), chosen)
    if long.empty:
        return pd.DataFrame(columns=cols)
    long = long.assign(n_train=curve_sizes(long))
    long["fit_seconds"] = pd.to_numeric(long["fit_seconds"], errors="coerce")
    long["predict_ms"] = 1000.0 * pd.to_numeric(long["predict_seconds"], errors="coerce")
    return (
        long.groupby(["dataset", "model", "n_train"], sort=True)
        .agg(
            fit_seconds=("fit_seconds", "median"),
            predict_ms=("predict_ms", "median"),
            n_test=("n_test", "median"),
        )
        .reset_index()[cols]
    )


def _flags(results: pd.DataFrame, chosen: dict[str, str], level: float) -> dict[str, list[tuple[float, str]]]:
    """``{dataset: [(n_train, model), ...]}``: the points no better than the baseline beyond noise."""
    from mlbench.analysis.baseline import baseline_comparison

    comp = baseline_comparison(results, chosen, level=level)
    out: dict[str, list[tuple[float, str]]] = {}
    if comp.empty:
        return out
    for r in comp[comp["no_better"].astype(bool)].itertuples(index=False):
        out.setdefault(str(r.dataset), []).append((float(r.n_train), str(r.model)))
    return out


def _flagged_at(flags: list[tuple[float, str]], model: str, n: float) -> bool:
    """Whether ``model``'s point at ``n`` is flagged (a job count within 2% of ``n``: one point)."""
    return any(m == model and abs(x - n) <= 0.02 * max(n, 1.0) for x, m in flags)


# --------------------------------------------------------------------------------------------
# the verdict
# --------------------------------------------------------------------------------------------


def verdict(
    run_or_results: Any,
    *,
    budget_seconds: float | None = None,
    max_predict_ms: float | None = None,
    at: float | None = None,
    metric: str | None = None,
    primary: dict[str, str] | None = None,
    predictions: Any = None,
    level: float = 0.95,
) -> list[DatasetVerdict]:
    """Which model to use on each dataset, under a budget, and whether more data would change it.

    Parameters
    ----------
    run_or_results : Run or pandas.DataFrame
        A run (:func:`mlbench.open_run`; its suite's primary metrics and stored predictions are
        used) or a results table (:func:`mlbench.load_results`).
    budget_seconds : float, optional
        Fit seconds per job a model may take (median over its jobs at the size answered for).
    max_predict_ms : float, optional
        Milliseconds a model may take to predict one job's test rows (median over its jobs).
    at : float, optional
        Answer for this training size instead of the largest run: a size run is read from the
        data; any other is predicted from the reliable fits, with ranges (interpolated between the
        sizes run, extrapolated beyond them).
    metric, primary :
        The metric judged on (see :func:`mlbench.analysis.learning_curves`); default each
        dataset's primary metric.
    predictions : callable, optional
        ``job_id -> arrays`` for a results table (a run's own are used): intervals of
        single-split points (a test-row bootstrap).
    level : float
        Coverage of every interval and range.

    Returns
    -------
    list of DatasetVerdict
        One per dataset with a complete point, sorted by name; ``.as_dict()`` is the JSON form and
        ``.sentences`` the verdict in words.

    Raises
    ------
    ValueError
        A budget or size that is not a positive number.
    """
    for name, value in (("budget_seconds", budget_seconds), ("max_predict_ms", max_predict_ms), ("at", at)):
        if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number, got {value!r}")
    curves, times, flags = _tables(run_or_results, metric, primary, level, predictions)
    return _verdicts(
        curves, times, flags, budget_seconds=budget_seconds, max_predict_ms=max_predict_ms, at=at, level=level
    )


def _tables(
    run_or_results: Any,
    metric: str | None,
    primary: dict[str, str] | None,
    level: float,
    predictions: Any = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, list[tuple[float, str]]]]:
    """The learning curves, the times and the baseline flags a verdict is computed from."""
    from mlbench.analysis.scaling import learning_curves

    results, chosen, own = _inputs(run_or_results, metric, primary)
    predictions = own if predictions is None else predictions
    if not chosen:
        return pd.DataFrame(columns=["dataset"]), pd.DataFrame(), {}
    curves = learning_curves(results, primary=chosen, predictions=predictions, level=level)
    return curves, _times(results, chosen), _flags(results, chosen, level)


def _verdicts(
    curves: pd.DataFrame,
    times: pd.DataFrame,
    flags: dict[str, list[tuple[float, str]]],
    *,
    budget_seconds: float | None = None,
    max_predict_ms: float | None = None,
    at: float | None = None,
    level: float = 0.95,
    full: bool = True,
) -> list[DatasetVerdict]:
    """:func:`verdict` from its tables; ``full=False`` computes the table at ``n`` only (no
    outlook, crossovers or sentences: what the backtest scores)."""
    from mlbench.analysis.scaling import crossovers, fit_power_laws
    from mlbench.models.sklearn_models import BASELINE

    if curves.empty:
        return []
    fits = fit_power_laws(curves, level=level)
    crosses = crossovers(curves, fits, level=level) if full else pd.DataFrame(columns=["dataset"])
    out = []
    for ds, part in curves.groupby("dataset", sort=True):
        ds = str(ds)
        record = _dataset_verdict(
            ds,
            part,
            fits[fits["dataset"].astype(str) == ds],
            crosses[crosses["dataset"].astype(str) == ds],
            times[times["dataset"].astype(str) == ds] if len(times) else times,
            flags.get(ds, []),
            baseline=BASELINE if (part["model"].astype(str) == BASELINE).any() else None,
            budget_seconds=budget_seconds,
            max_predict_ms=max_predict_ms,
            at=at,
            level=level,
            full=full,
        )
        if record is not None:
            out.append(record)
    return out


def _dataset_verdict(
    ds: str,
    curves: pd.DataFrame,
    fits: pd.DataFrame,
    crosses: pd.DataFrame,
    times: pd.DataFrame,
    flags: list[tuple[float, str]],
    *,
    baseline: str | None,
    budget_seconds: float | None,
    max_predict_ms: float | None,
    at: float | None,
    level: float,
    full: bool = True,
) -> DatasetVerdict | None:
    from mlbench.metrics import METRICS

    done = curves[curves["complete"].astype(bool)]
    contenders = done[done["model"].astype(str) != baseline] if baseline else done
    if contenders.empty:
        return None
    metric = str(curves["metric"].iloc[0])
    greater = bool(METRICS.get(metric).greater_is_better) if metric in METRICS else True
    sizes = sorted(float(x) for x in contenders["n_train"].unique())
    n_largest = sizes[-1]
    n, kind = n_largest, "observed"
    if at is not None:
        near = min(sizes, key=lambda x: abs(math.log(x / at)))
        if abs(near - at) <= _SAME_SIZE * near:
            n = near
        else:
            n = float(at)
            kind = "interpolated" if sizes[0] < n < n_largest else "extrapolated"

    models = sorted(str(m) for m in curves["model"].unique())
    reliable = {str(r.model): bool(r.reliable) for r in fits.itertuples(index=False)}
    reasons = {str(r.model): str(r.reason or "") for r in fits.itertuples(index=False)}
    # the size whose times, flags and eligibility stand for n (itself when run; else the nearest)
    n_ref = n if kind == "observed" else min(sizes, key=lambda x: abs(math.log(x / n)))
    time_of = {
        str(r.model): (float(r.fit_seconds), float(r.predict_ms))
        for r in times[np.isclose(times["n_train"].astype(float), n_ref, rtol=_SAME_SIZE)].itertuples(
            index=False
        )
    }
    eligible_at_largest = [
        m
        for m in models
        if m != baseline and not _flagged_at(flags, m, n_largest) and _complete_at(curves, m, n_largest)
    ]

    if kind == "observed":
        table = _observed_table(curves, models, n, baseline, flags, time_of, level)
    else:
        table = _predicted_table(curves, models, n, n_ref, baseline, flags, time_of, reliable, level)
    best, recommended, tied = _decide(table, kind, greater)
    budget = _budget(table, budget_seconds, max_predict_ms) if (budget_seconds or max_predict_ms) else None
    leader = _leader(curves, eligible_at_largest, n_largest, greater)
    outlook = _outlook(curves, eligible_at_largest, n_largest, reliable, level) if full else []
    cross = _crossover_rows(crosses, eligible_at_largest, flags, leader, n_largest) if full else []
    no_crossing: list[str] = []
    if full and leader is not None and reliable.get(leader, False):
        seen = {c["before"] if c["after"] == leader else c["after"] for c in cross}
        todo = [m for m in eligible_at_largest if m != leader and reliable.get(m, False) and m not in seen]
        extra = _extrapolated_crossings(curves, leader, todo, n_largest, level)
        cross = sorted(cross + extra, key=lambda c: (c["kind"] != "observed", c["n_cross"]))
        no_crossing = sorted(set(todo) - {c["after"] for c in extra})
    more = _more_sizes(curves, leader, tied, eligible_at_largest, reliable, reasons, sizes) if full else None
    assumptions = _assumptions(sizes, table, kind, baseline, n_ref, level)
    shown = list(dict.fromkeys([m for m in (best, recommended, *tied, leader) if m]))
    for c in cross:
        shown += [m for m in (c["before"], c["after"]) if m not in shown]
    record = DatasetVerdict(
        dataset=ds,
        metric=metric,
        greater_is_better=greater,
        n=n,
        kind=kind,
        n_largest=n_largest,
        sizes=sizes,
        baseline=baseline,
        table=table,
        best=best,
        recommended=recommended,
        leader=leader,
        tied=tied,
        budget=budget,
        outlook=outlook,
        crossovers=cross,
        no_crossing=no_crossing,
        more_sizes=more,
        assumptions=assumptions,
        points=_points(curves, shown[:6]),
    )
    if full:
        record.sentences = verdict_sentences(record.as_dict())
    return record


def _complete_at(curves: pd.DataFrame, model: str, n: float) -> bool:
    sel = (curves["model"].astype(str) == model) & np.isclose(
        curves["n_train"].astype(float), n, rtol=_SAME_SIZE
    )
    return bool(curves.loc[sel, "complete"].astype(bool).any())


def _row(model: str) -> dict[str, Any]:
    return {
        "model": model,
        "score": math.nan,
        "low": math.nan,
        "high": math.nan,
        "source": "observed",
        "gap": math.nan,
        "gap_low": math.nan,
        "gap_high": math.nan,
        "test": "none",
        "n_folds": 0,
        "eligible": False,
        "excluded": "",
        "tied": False,
        "fit_seconds": math.nan,
        "predict_ms": math.nan,
        "cost_seconds": math.nan,
        "pareto": False,
        "fits_budget": None,
        "best": False,
        "observed": math.nan,
    }


def _exclusion(model: str, baseline: str | None, flags: list[tuple[float, str]], n: float) -> str:
    if model == baseline:
        return "the baseline"
    if _flagged_at(flags, model, n):
        return f"no better than the baseline ({baseline}) beyond noise"
    return ""


def _add_times(row: dict[str, Any], time_of: dict[str, tuple[float, float]]) -> None:
    fit_s, pred_ms = time_of.get(row["model"], (math.nan, math.nan))
    row["fit_seconds"], row["predict_ms"] = fit_s, pred_ms
    row["cost_seconds"] = (
        fit_s + pred_ms / 1000.0 if np.isfinite(fit_s) and np.isfinite(pred_ms) else math.nan
    )


def _observed_table(
    curves: pd.DataFrame,
    models: list[str],
    n: float,
    baseline: str | None,
    flags: list[tuple[float, str]],
    time_of: dict[str, tuple[float, float]],
    level: float,
) -> list[dict[str, Any]]:
    """The models at a size run: scores, the paired gap to the best, eligibility and times."""
    at_n = curves[np.isclose(curves["n_train"].astype(float), n, rtol=_SAME_SIZE)]
    point = {str(r.model): r for r in at_n.itertuples(index=False)}
    greater = _greater_of(curves)
    rows = []
    for m in models:
        row = _row(m)
        p = point.get(m)
        if p is None:
            row["excluded"] = "not run at this size"
        else:
            row["score"], row["low"], row["high"] = float(p.mean), float(p.ci_low), float(p.ci_high)
            if not bool(p.complete):
                row["excluded"] = f"incomplete at this size ({int(p.n_jobs)} of {int(p.n_expected)} jobs)"
            else:
                row["excluded"] = _exclusion(m, baseline, flags, n)
        row["eligible"] = p is not None and row["excluded"] == "" and np.isfinite(row["score"])
        _add_times(row, time_of)
        rows.append(row)
    eligible = [r for r in rows if r["eligible"]]
    if not eligible:
        return rows
    top = _top(eligible, greater)
    for r in rows:
        if not np.isfinite(r["score"]):
            continue
        gap, lo, hi, test, k = _paired_gap(point[top["model"]], point[r["model"]], greater, level)
        r.update(gap=gap, gap_low=lo, gap_high=hi, test=test, n_folds=k)
        r["tied"] = bool(r["eligible"] and (r is top or (np.isfinite(lo) and lo <= 0.0 <= hi)))
    _pareto(rows, greater)
    return rows


def _top(rows: list[dict[str, Any]], greater: bool) -> dict[str, Any]:
    """The best row by score (ties: the first name), marked ``best``."""
    top = min(rows, key=lambda r: (-r["score"] if greater else r["score"], r["model"]))
    top["best"] = True
    return top


def _greater_of(curves: pd.DataFrame) -> bool:
    from mlbench.metrics import METRICS

    m = str(curves["metric"].iloc[0])
    return bool(METRICS.get(m).greater_is_better) if m in METRICS else True


def _paired_gap(best: Any, other: Any, greater: bool, level: float) -> tuple[float, float, float, str, int]:
    """How much worse ``other`` is than ``best`` (on the metric's scale, positive = worse), with
    its interval: the paired per-fold difference with the corrected resampled t over the shared
    folds; without two shared folds, the two intervals' half-widths combined."""
    from mlbench.analysis.intervals import corrected_t_bounds

    sign = 1.0 if greater else -1.0
    s1 = best.fold_scores if isinstance(best.fold_scores, dict) else {}
    s2 = other.fold_scores if isinstance(other.fold_scores, dict) else {}
    common = sorted(set(s1) & set(s2))
    ratio = max(float(best.test_ratio), float(other.test_ratio))
    if len(common) >= 2 and np.isfinite(ratio):
        d = sign * np.array([s1[f] - s2[f] for f in common])
        lo, hi = corrected_t_bounds(
            np.array([d.mean()]), np.array([d.var(ddof=1)]), np.array([len(d)]), np.array([ratio]), level
        )
        return float(d.mean()), float(lo[0]), float(hi[0]), "paired", len(common)
    gap = sign * (float(best.mean) - float(other.mean))
    h = math.hypot(
        (float(best.ci_high) - float(best.ci_low)) / 2, (float(other.ci_high) - float(other.ci_low)) / 2
    )
    if not np.isfinite(h):
        return gap, math.nan, math.nan, "none", len(common)
    return gap, gap - h, gap + h, "intervals", len(common)


def _predicted_table(
    curves: pd.DataFrame,
    models: list[str],
    n: float,
    n_ref: float,
    baseline: str | None,
    flags: list[tuple[float, str]],
    time_of: dict[str, tuple[float, float]],
    reliable: dict[str, bool],
    level: float,
) -> list[dict[str, Any]]:
    """The models at a size not run: the reliable fits' predictions with their ranges; a model
    without a reliable fit enters with its observed score at the nearest size run (source
    ``observed at n_ref``), which a learning curve's later score is not below."""
    from mlbench.analysis.scaling import extrapolate

    greater = _greater_of(curves)
    done = curves[curves["complete"].astype(bool)]
    usable = [m for m in models if m != baseline and reliable.get(m, False)]
    pred = extrapolate(done[done["model"].astype(str).isin(usable)], [n], level=level) if usable else None
    pred_of = {} if pred is None else {str(r.model): r for r in pred.itertuples(index=False)}
    at_ref = done[np.isclose(done["n_train"].astype(float), n_ref, rtol=_SAME_SIZE)]
    ref_of = {str(r.model): r for r in at_ref.itertuples(index=False)}
    rows = []
    for m in models:
        row = _row(m)
        row["excluded"] = _exclusion(m, baseline, flags, n_ref)
        p = pred_of.get(m)
        if p is not None and bool(p.reliable) and np.isfinite(p.score):
            row.update(score=float(p.score), low=float(p.score_low), high=float(p.score_high), source="fit")
        if m in ref_of:
            row["observed"] = float(ref_of[m].mean)
        if row["source"] == "fit":
            pass  # predicted
        elif m in ref_of:
            r = ref_of[m]
            row.update(score=float(r.mean), low=float(r.ci_low), high=float(r.ci_high))
            row["source"] = f"observed at {n_text(n_ref)} rows (no reliable fit)"
        elif not row["excluded"]:
            row["excluded"] = f"no complete point at {n_text(n_ref)} rows"
        row["eligible"] = row["excluded"] == "" and np.isfinite(row["score"])
        _add_times(row, time_of)
        rows.append(row)
    eligible = [r for r in rows if r["eligible"]]
    if not eligible:
        return rows
    top = _top(eligible, greater)
    for r in rows:
        if not np.isfinite(r["score"]):
            continue
        sign = 1.0 if greater else -1.0
        r["gap"] = sign * (top["score"] - r["score"])
        # ranges, not a paired test: tied when the two ranges overlap
        lo_r, hi_r = (r["low"], r["high"]) if greater else (-r["high"], -r["low"])
        lo_t, hi_t = (top["low"], top["high"]) if greater else (-top["high"], -top["low"])
        r["gap_low"], r["gap_high"] = lo_t - hi_r, hi_t - lo_r
        r["test"] = "ranges"
        r["tied"] = bool(r["eligible"] and (r is top or (r["gap_low"] <= 0.0 <= r["gap_high"])))
    _pareto(rows, greater)
    return rows


def _pareto(rows: list[dict[str, Any]], greater: bool) -> None:
    """Mark the eligible rows no other eligible row beats on score, fit time and predict time at once."""
    sign = 1.0 if greater else -1.0
    pool = [
        r for r in rows if r["eligible"] and np.isfinite(r["fit_seconds"]) and np.isfinite(r["predict_ms"])
    ]
    for r in pool:
        r["pareto"] = not any(
            o is not r
            and sign * o["score"] >= sign * r["score"]
            and o["fit_seconds"] <= r["fit_seconds"]
            and o["predict_ms"] <= r["predict_ms"]
            and (
                sign * o["score"] > sign * r["score"]
                or o["fit_seconds"] < r["fit_seconds"]
                or o["predict_ms"] < r["predict_ms"]
            )
            for o in pool
        )


def _decide(
    table: list[dict[str, Any]], kind: str, greater: bool
) -> tuple[str | None, str | None, list[str]]:
    """(best, recommended, tied) from a table: the best by score among the eligible rows; the tied
    rows; at a size run the cheapest tied row is recommended (unknown cost last, then the better
    score); at a size not run the tied row with the best score at the size run nearest (``observed``):
    the fits cannot tell the tied rows apart there, and the data's order so far is the evidence left
    (the best expected score when no tied row has one)."""
    eligible = [r for r in table if r["eligible"]]
    if not eligible:
        return None, None, []
    best = next(r for r in eligible if r["best"])
    tied = [r for r in eligible if r["tied"]]
    if kind == "observed":
        rec = min(
            tied,
            key=lambda r: (
                r["cost_seconds"] if np.isfinite(r["cost_seconds"]) else math.inf,
                r["gap"],
                r["model"],
            ),
        )
    else:
        seen = [r for r in tied if np.isfinite(r["observed"])]
        sign = 1.0 if greater else -1.0
        rec = min(seen, key=lambda r: (-sign * r["observed"], r["gap"], r["model"])) if seen else best
    return best["model"], rec["model"], sorted(r["model"] for r in tied)


def _budget(
    table: list[dict[str, Any]], budget_seconds: float | None, max_predict_ms: float | None
) -> dict[str, Any]:
    """The best eligible model whose measured times fit; every row gets ``fits_budget``."""
    for r in table:
        ok = r["eligible"]
        if budget_seconds is not None:
            ok = ok and np.isfinite(r["fit_seconds"]) and r["fit_seconds"] <= budget_seconds
        if max_predict_ms is not None:
            ok = ok and np.isfinite(r["predict_ms"]) and r["predict_ms"] <= max_predict_ms
        r["fits_budget"] = bool(ok)
    fitting = [r for r in table if r["fits_budget"]]
    choice = min(fitting, key=lambda r: (r["gap"], r["model"])) if fitting else None
    timed = [r for r in table if r["eligible"] and np.isfinite(r["cost_seconds"])]
    fastest = min(timed, key=lambda r: (r["cost_seconds"], r["model"])) if timed else None
    return {
        "budget_seconds": budget_seconds,
        "max_predict_ms": max_predict_ms,
        "choice": choice["model"] if choice else None,
        "choice_tied": bool(choice["tied"]) if choice else False,
        "fits": sorted(r["model"] for r in fitting),
        "fastest": fastest["model"] if fastest else None,
    }


def _leader(curves: pd.DataFrame, eligible: list[str], n: float, greater: bool) -> str | None:
    at = curves[
        np.isclose(curves["n_train"].astype(float), n, rtol=_SAME_SIZE)
        & curves["model"].astype(str).isin(eligible)
    ]
    if at.empty:
        return None
    order = at.sort_values(["error_mean", "model"])
    return str(order["model"].iloc[0])


def _outlook(
    curves: pd.DataFrame, eligible: list[str], n_largest: float, reliable: dict[str, bool], level: float
) -> list[dict[str, Any]]:
    """Expected order at each factor of the largest size, from the reliable fits of eligible models."""
    from mlbench.analysis.scaling import extrapolate

    greater = _greater_of(curves)
    usable = [m for m in eligible if reliable.get(m, False)]
    unknown = [m for m in eligible if not reliable.get(m, False)]
    ns = [f * n_largest for f in FACTORS]
    done = curves[curves["complete"].astype(bool) & curves["model"].astype(str).isin(usable)]
    pred = extrapolate(done, ns, level=level) if usable else pd.DataFrame(columns=["n", "model"])
    out = []
    for f, x in zip(FACTORS, ns, strict=True):
        part = pred[np.isclose(pred["n"].astype(float), x)] if len(pred) else pred
        rows = [
            {
                "model": str(r.model),
                "score": float(r.score),
                "low": float(r.score_low),
                "high": float(r.score_high),
            }
            for r in part.itertuples(index=False)
            if bool(r.reliable) and np.isfinite(r.score)
        ]
        rows.sort(key=lambda r: (-r["score"] if greater else r["score"], r["model"]))
        for r in rows:
            top = rows[0]
            r["overlaps_first"] = bool(r is top or (r["low"] <= top["high"] and top["low"] <= r["high"]))
        out.append({"factor": f, "n": x, "rows": rows, "no_reliable_fit": sorted(unknown)})
    return out


def _crossover_rows(
    crosses: pd.DataFrame,
    eligible: list[str],
    flags: list[tuple[float, str]],
    leader: str | None,
    n_largest: float,
) -> list[dict[str, Any]]:
    """The crossovers of the leader with the other eligible models; a crossover whose either model
    is no better than the baseline at either end of its range is left out (such a point never
    drives a crossover)."""
    out = []
    if leader is None or crosses is None or crosses.empty:
        return out
    for r in crosses.itertuples(index=False):
        a, b = str(r.better_before), str(r.better_after)
        if leader not in (a, b) or a not in eligible or b not in eligible:
            continue
        ends = (float(r.n_low), float(r.n_high)) if r.kind == "observed" else (n_largest,)
        if any(_flagged_at(flags, m, x) for m in (a, b) for x in ends):
            continue
        out.append(
            {
                "kind": str(r.kind),
                "before": a,
                "after": b,
                "n_cross": float(r.n_cross),
                "n_low": float(r.n_low),
                "n_high": float(r.n_high),
            }
        )
    out.sort(key=lambda c: (c["kind"] != "observed", c["n_cross"]))
    return out


def _extrapolated_crossings(
    curves: pd.DataFrame, leader: str, others: list[str], n_largest: float, level: float
) -> list[dict[str, Any]]:
    """Extrapolated crossings of ``leader`` by ``others``, by the rule of
    :func:`mlbench.analysis.crossovers` (the other model's fitted error below the leader's by more
    than the two predicted ranges' facing sides combined, before 100x the largest size) on the same
    41-size log grid. ``crossovers`` only extrapolates pairs that were apart beyond noise at some
    size run; the verdict's "no crossover expected" needs every pair looked at, so it is computed
    here from :func:`mlbench.analysis.extrapolate` for the pairs ``crossovers`` gave no row."""
    from mlbench.analysis.scaling import HORIZON, extrapolate

    if not others:
        return []
    grid = np.geomspace(n_largest, HORIZON * n_largest, 41)
    done = curves[curves["complete"].astype(bool) & curves["model"].astype(str).isin([leader, *others])]
    pred = extrapolate(done, grid, level=level)
    by = {str(m): g.sort_values("n") for m, g in pred.groupby("model")}
    lead = by.get(leader)
    out: list[dict[str, Any]] = []
    if lead is None:
        return out
    e_l, lo_l, hi_l = (lead[c].to_numpy(dtype=float) for c in ("error", "error_low", "error_high"))
    for m in others:
        g = by.get(m)
        if g is None or not g["reliable"].all():
            continue
        e_o, lo_o, hi_o = (g[c].to_numpy(dtype=float) for c in ("error", "error_low", "error_high"))
        over = (e_l - e_o) > np.hypot(hi_o - e_o, e_l - lo_l)  # the other ahead beyond the ranges
        if not over.any():
            continue
        j = int(np.argmax(over))
        still = (e_o - e_l) > np.hypot(hi_l - e_l, e_o - lo_o)  # the leader still ahead so
        before = np.flatnonzero(still[:j])
        n_low = float(grid[before[-1]]) if len(before) else n_largest
        d = e_l - e_o  # > 0 once the other is better
        k = int(np.argmax(d[: j + 1] > 0))
        if k == 0:
            n_cross = float(grid[0])
        else:  # linear in log n between the grid sizes around the sign change
            t = -d[k - 1] / (d[k] - d[k - 1])
            n_cross = float(np.exp(np.log(grid[k - 1]) + t * (np.log(grid[k]) - np.log(grid[k - 1]))))
        out.append(
            {
                "kind": "extrapolated",
                "before": leader,
                "after": m,
                "n_cross": n_cross,
                "n_low": min(n_low, n_cross),
                "n_high": float(grid[j]),
            }
        )
    return out


def _more_sizes(
    curves: pd.DataFrame,
    leader: str | None,
    tied: list[str],
    eligible: list[str],
    reliable: dict[str, bool],
    reasons: dict[str, str],
    sizes: list[float],
) -> dict[str, Any] | None:
    """When the fits the outlook needs (the leader's and the runner-up's, or those tied) are not
    reliable: which, why, and the sweep to run."""
    if leader is None:
        return None
    at = curves[curves["model"].astype(str).isin(eligible)]
    last = at[np.isclose(at["n_train"].astype(float), max(sizes), rtol=_SAME_SIZE)].sort_values(
        ["error_mean", "model"]
    )
    needed = list(dict.fromkeys([*[str(m) for m in last["model"].head(2)], leader, *tied]))
    unreliable = [m for m in needed if not reliable.get(m, False)]
    if not unreliable:
        return None
    lo = min(sizes[0], 25.0)
    grid: list[float] = []
    x = lo
    while x < sizes[-1] * 0.75:
        grid.append(float(round(x)))
        x *= 2
    # at least 5 sizes, every one with all its folds: below that no fit is checked against its own largest size
    if len(grid) < 4:
        grid = [float(round(v)) for v in np.geomspace(lo, sizes[-1], 6)[:-1]]
    sweep = ", ".join(f"{int(g)}" for g in grid)
    snippet = f"sweep: {{train_sizes: [{sweep}, 1.0], repeats: 3}}"
    return {
        "models": unreliable,
        "reasons": {m: reasons.get(m, "no fit") for m in unreliable},
        "train_sizes": [*grid, 1.0],
        "snippet": snippet,
    }


def _assumptions(
    sizes: list[float],
    table: list[dict[str, Any]],
    kind: str,
    baseline: str | None,
    n_ref: float,
    level: float,
) -> str:
    tests = {r["test"] for r in table if r["eligible"]} - {"none"}
    folds = max((r["n_folds"] for r in table if r["eligible"]), default=0)
    how = {
        "paired": f"the paired per-fold difference's corrected resampled t interval ({level:.0%}) over {folds} shared folds",
        "intervals": f"the two {level:.0%} intervals combined (a single split: no paired test)",
        "ranges": f"overlapping {level:.0%} predicted ranges",
    }
    tie = "; ".join(how[t] for t in sorted(tests)) or "no interval (ties cannot be judged)"
    base = (
        f"models no better than the baseline ({baseline}) beyond noise are never recommended"
        if baseline
        else "no baseline in this run (models are not checked against it)"
    )
    curve = (
        f"error(n) = a·n^-b + c fitted to {len(sizes)} size(s) from {n_text(sizes[0])} to "
        f"{n_text(sizes[-1])} rows (complete points, reliable fits only)"
        if len(sizes) > 1
        else f"one size run ({n_text(sizes[0])} rows: fitted to 1 size(s), no learning curve to extrapolate)"
    )
    return (
        f"Rests on: {curve}; ties by {tie}; times are medians per job at {n_text(n_ref)} rows on this "
        f"run's machine; {base}."
    )


def _points(curves: pd.DataFrame, models: list[str]) -> dict[str, list[list[float | None]]]:
    out = {}
    done = curves[curves["complete"].astype(bool)]
    for m in models:
        part = done[done["model"].astype(str) == m].sort_values("n_train")
        out[m] = [
            [float(r.n_train), float(r.mean), float(r.ci_low), float(r.ci_high)]
            for r in part.itertuples(index=False)
        ]
    return out


# --------------------------------------------------------------------------------------------
# sentences: each one from the record's own tables
# --------------------------------------------------------------------------------------------


def n_text(n: Any) -> str:
    """A row count in words: exact below 10,000, two significant digits above (``12,000``)."""
    if n is None or not isinstance(n, (int, float)) or not math.isfinite(n):
        return "?"
    return count_text(n, 10_000)


def score_text(x: Any) -> str:
    """A score as the sentences write it (3 decimals; thousands without)."""
    if x is None or not isinstance(x, (int, float)) or not math.isfinite(x):
        return "?"
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3f}"


def _range_text(lo: Any, hi: Any) -> str:
    return f"{score_text(lo)} to {score_text(hi)}"


def _seconds_text(s: Any) -> str:
    if s is None or not isinstance(s, (int, float)) or not math.isfinite(s):
        return "unknown time"
    return f"{s:.3g} s"


def _names(models: list[str]) -> str:
    if len(models) <= 1:
        return "".join(models)
    return ", ".join(models[:-1]) + " and " + models[-1]


def verdict_sentences(record: dict[str, Any]) -> list[str]:
    """The verdict in words, each sentence from one of the record's tables.

    Parameters
    ----------
    record : dict
        :meth:`DatasetVerdict.as_dict` (or the same keys): ``metric``, ``n``, ``kind``,
        ``n_largest``, ``table``, ``best``, ``recommended``, ``tied``, ``budget``, ``outlook``,
        ``crossovers``, ``more_sizes``, ``assumptions``, ``baseline``.

    Returns
    -------
    list of str
        Now; the tie (when several are within noise); the budget (when asked); the outlook at each
        factor; the crossovers (or "not within 100x"); more sizes needed (when so); the assumptions.
    """
    out: list[str] = []
    metric = record.get("metric") or "score"
    rows = {r["model"]: r for r in record.get("table") or []}
    n = n_text(record.get("n"))
    kind = record.get("kind", "observed")
    rec, best = record.get("recommended"), record.get("best")
    fitted = any(r.get("source") == "fit" and r.get("eligible") for r in rows.values())
    if kind == "observed":
        where = f"at {n} rows"
    elif fitted:
        where = f"at {n} rows ({kind} from the fits)"
    else:  # nothing to predict with: the scores are those of the size run nearest
        where = f"at {n} rows (not run, and no reliable fit: scores of the size run nearest)"
    if rec is None:
        excluded = [r for r in rows.values() if r.get("excluded")]
        why = "; ".join(f"{r['model']}: {r['excluded']}" for r in excluded) or "no model has a complete point"
        out.append(f"No model can be recommended {where}: {why}.")
    else:
        r = rows[rec]
        head = f"Recommended {where}: {rec} ({metric} {score_text(r['score'])}, {_range_text(r['low'], r['high'])})"
        tied = [m for m in record.get("tied") or [] if m != rec]
        if rec == best and not tied:
            out.append(head + ", the best model, ahead of every other beyond noise.")
        elif rec == best:
            out.append(head + ", the best model.")
        elif kind == "observed":
            b = rows[best]
            out.append(
                head + f", the cheapest of the models within noise of the best, {best} "
                f"({metric} {score_text(b['score'])}; the data allow it to be up to "
                f"{score_text(r['gap_high'])} below)."
            )
        else:
            b = rows[best]
            out.append(
                head + f", within the predicted range of the best expected, {best} ({metric} "
                f"{score_text(b['score'])}), and ahead of it at the size run nearest ({metric} "
                f"{score_text(r['observed'])} vs {score_text(b['observed'])})."
            )
        if tied:
            costs = ", ".join(f"{m} {_seconds_text(rows[m]['cost_seconds'])}" for m in [rec, *tied])
            test = (
                "their predicted ranges overlap"
                if kind != "observed"
                else "the paired difference's interval includes 0"
            )
            out.append(
                f"Tied: {_names(sorted([rec, *tied]))} are within noise of each other ({test}); "
                f"fit + predict time per job: {costs}."
            )
    budget = record.get("budget")
    if budget:
        limits = []
        if budget.get("budget_seconds") is not None:
            limits.append(f"{budget['budget_seconds']:g} s to fit")
        if budget.get("max_predict_ms") is not None:
            limits.append(f"{budget['max_predict_ms']:g} ms to predict")
        lim = " and ".join(limits)
        choice = budget.get("choice")
        if choice is None:
            fast = budget.get("fastest")
            tail = (
                f"; the fastest is {fast} ({_seconds_text(rows[fast]['fit_seconds'])} to fit, "
                f"{rows[fast]['predict_ms']:.3g} ms to predict)"
                if fast
                else ""
            )
            out.append(f"Within {lim} per job no eligible model fits{tail}.")
        else:
            c = rows[choice]
            rel = (
                "within noise of the best"
                if budget.get("choice_tied")
                else f"below the best, {best}, beyond noise"
            )
            out.append(
                f"Within {lim} per job: {choice} ({metric} {score_text(c['score'])}; "
                f"{_seconds_text(c['fit_seconds'])} to fit, {c['predict_ms']:.3g} ms to predict), {rel}."
            )
    for o in record.get("outlook") or []:
        ranked = o.get("rows") or []
        at_n = f"At {o['factor']:g}x ({n_text(o['n'])} rows)"
        if not ranked:
            continue
        shown = "; ".join(
            f"{r['model']} {score_text(r['score'])} ({_range_text(r['low'], r['high'])})"
            for r in ranked[:_OUTLOOK_SHOWN]
        )
        more = f"; {len(ranked) - _OUTLOOK_SHOWN} more" if len(ranked) > _OUTLOOK_SHOWN else ""
        sure = (
            f"{ranked[0]['model']} ahead beyond the ranges"
            if len(ranked) > 1 and not any(r["overlaps_first"] for r in ranked[1:])
            else "the order is within the ranges"
            if len(ranked) > 1
            else "the only reliable fit"
        )
        out.append(f"{at_n}, expected {metric}: {shown}{more} ({sure}).")
    crosses = record.get("crossovers") or []
    for c in crosses:
        if c["kind"] == "observed":
            out.append(
                f"{c['after']} overtook {c['before']} at about {n_text(c['n_cross'])} rows "
                f"(between {n_text(c['n_low'])} and {n_text(c['n_high'])}, observed)."
            )
        else:
            out.append(
                f"{c['after']} is expected to overtake {c['before']} between {n_text(c['n_low'])} and "
                f"{n_text(c['n_high'])} rows (extrapolated from the fits, a hypothesis)."
            )
    outlook = record.get("outlook") or []
    leader, quiet = record.get("leader"), record.get("no_crossing") or []
    if leader and quiet and outlook:
        out.append(
            f"No crossover of {leader} by {_names(quiet)} can be stated within {FACTORS[-1]:g}x "
            f"({n_text(outlook[-1]['n'])} rows): their predicted ranges never separate from {leader}'s in the "
            "other order."
        )
    more = record.get("more_sizes")
    if more:
        out.append(
            f"More sizes needed: no reliable fit for {_names(more['models'])}; run more sizes, up to the "
            f"full training set (`{more['snippet']}`)."
        )
    out.append(record.get("assumptions") or "")
    return [s for s in out if s]


# --------------------------------------------------------------------------------------------
# backtest
# --------------------------------------------------------------------------------------------

#: Columns of :func:`verdict_backtest`.
BACKTEST_COLUMNS = [
    "dataset",
    "fraction",
    "n_cut",
    "n_sizes",
    "n_largest",
    "best",
    "tied",
    "recommended_now",
    "recommended_at",
    "hit_now",
    "hit_at",
    "top_two_predicted",
    "top_two_observed",
    "hit_top_two",
]


def _cut(table: pd.DataFrame, fraction: float) -> pd.DataFrame:
    """Each dataset's rows at the sizes up to ``fraction`` of its largest ``n_train`` (1% slack).

    The curves are cut, not the results: a point's interval and its corrected t's pool are the
    dataset's own, whichever sizes are kept (see :func:`mlbench.analysis.tables.correction_pool`).
    """
    if table.empty:
        return table
    n = table["n_train"].astype(float)
    largest = n.groupby(table["dataset"]).transform("max")
    return table[(n <= fraction * largest * (1 + _SAME_SIZE)).to_numpy()]


def _ranked(table: list[dict[str, Any]], greater: bool) -> list[str]:
    rows = [r for r in table if r["eligible"]]
    rows.sort(key=lambda r: (-r["score"] if greater else r["score"], r["model"]))
    return [r["model"] for r in rows]


def verdict_backtest(
    run_or_results: Any,
    *,
    fractions: tuple[float, ...] = (1.0 / 8.0, 1.0 / 4.0),
    metric: str | None = None,
    primary: dict[str, str] | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """Compute the verdict from the sizes up to a fraction of the largest and score it there.

    Parameters
    ----------
    run_or_results : Run or pandas.DataFrame
        As for :func:`verdict`.
    fractions : tuple of float
        The cuts: each dataset's jobs at sizes up to this fraction of its largest.
    metric, primary, level :
        As for :func:`verdict`.

    Returns
    -------
    pandas.DataFrame
        :data:`BACKTEST_COLUMNS`, one row per dataset and fraction with at least one size under
        the cut. ``best``/``tied``: the full run's best model at the largest size and the models
        within noise of it. ``recommended_now``: the cut's recommendation at its own largest size;
        ``recommended_at``: the cut's verdict asked for the full largest size (``at=``: the
        reliable fits' predictions). ``hit_now``/``hit_at``: the recommendation is within noise of
        the best at the largest size (in ``tied``). ``top_two_predicted``/``top_two_observed``:
        the first two models by the cut's predicted scores at the largest size and by the full
        run's scores there; ``hit_top_two`` whether they agree in order (None with fewer than two).
    """
    curves, times, flags = _tables(run_or_results, metric, primary, level)
    full = {v.dataset: v for v in _verdicts(curves, times, flags, level=level, full=False)}
    rows = []
    for fraction in fractions:
        c_cut, t_cut = _cut(curves, fraction), _cut(times, fraction)
        now = {v.dataset: v for v in _verdicts(c_cut, t_cut, flags, level=level, full=False)}
        for ds, whole in full.items():
            cut = now.get(ds)
            if cut is None or cut.n_largest >= whole.n_largest * (1 - _SAME_SIZE):
                continue
            mine = c_cut[c_cut["dataset"].astype(str) == ds]
            ahead = _verdicts(mine, t_cut, flags, at=whole.n_largest, level=level, full=False)
            pred = ahead[0] if ahead else None
            observed = _ranked(whole.table, whole.greater_is_better)[:2]
            predicted = _ranked(pred.table, pred.greater_is_better)[:2] if pred else []
            rec_at = pred.recommended if pred else None
            rows.append(
                {
                    "dataset": ds,
                    "fraction": fraction,
                    "n_cut": cut.n_largest,
                    "n_sizes": len(cut.sizes),
                    "n_largest": whole.n_largest,
                    "best": whole.best,
                    "tied": whole.tied,
                    "recommended_now": cut.recommended,
                    "recommended_at": rec_at,
                    "hit_now": cut.recommended in whole.tied if cut.recommended else False,
                    "hit_at": rec_at in whole.tied if rec_at else False,
                    "top_two_predicted": predicted,
                    "top_two_observed": observed,
                    "hit_top_two": predicted == observed
                    if len(observed) == 2 and len(predicted) == 2
                    else None,
                }
            )
    return pd.DataFrame(rows, columns=BACKTEST_COLUMNS)
