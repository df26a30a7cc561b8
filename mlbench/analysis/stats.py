"""Statistics over a results table: scores with intervals, ranks, leaderboards and significance tests.

Every public function takes the DataFrame returned by :func:`mlbench.load_results` (latest
attempt per job) and returns a new table or dict. The metric is each dataset's primary one unless
``metric`` names another (see :func:`primary_metrics`). What is compared is defined once, in
:mod:`mlbench.analysis.tables`:

- every model is scored at its dataset's **reference size** (the largest requested training
  size that ran), never at a smaller one; a model with no successful job there is **failed** on
  that dataset: listed with its status, **ranked last** in :func:`ranks` and :func:`leaderboard`
  (score 0 in the normalised score, never a win) and **left out of the tests**
  (:func:`friedman_test`, :func:`critical_difference`, :func:`wilcoxon_holm`), which need a score
  on every dataset; a dataset where *every* model failed at its reference size orders no models
  and is left out of the ranking and the tests;
- models are ranked only against the models that apply to the same datasets: datasets are
  **grouped** by that set of models (:func:`dataset_groups`), and leaderboards and tests are per
  group;
- a score is the mean over folds (repeats averaged within each fold), with a corrected resampled t
  interval for k-fold and a test-row bootstrap for a single split (:mod:`mlbench.analysis.intervals`);
- when ranking, every model of a dataset is scored on the same (fold, repeat) units, those every
  compared model completed (:func:`mlbench.analysis.tables.compared_units`): a model that failed
  on some folds (``partial``) is never ranked on the mean of its own, possibly easier, folds;
  equal mean ranks in a leaderboard go to the model with fewer failures.

scipy is imported inside the functions that need it so that ``import mlbench.analysis`` stays cheap.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from mlbench.analysis.intervals import N_BOOT
from mlbench.analysis.memo import memoized
from mlbench.analysis.tables import (
    RESOURCE_COLUMNS,
    SCORED,
    PredictionLoader,
    at_reference,
    compared_units,
    dataset_groups,
    groups_of,
    long_for,
    metrics_by_dataset,
    per_fold,
    primary_metrics,
    reference_points,
    reference_sizes,
    reference_status,
    results_table,
    score_summary,
    status_table,
)
from mlbench.metrics import METRICS

__all__ = [
    "compare_runs",
    "confidence_interval",
    "critical_difference",
    "dataset_groups",
    "error_of",
    "friedman_test",
    "holm",
    "leaderboard",
    "per_fold",
    "primary_metrics",
    "ranks",
    "reference_sizes",
    "reference_status",
    "score_table",
    "summarize_scores",
    "wilcoxon_holm",
    "wilcoxon_min_datasets",
]


# --------------------------------------------------------------------------------------------
# intervals and errors
# --------------------------------------------------------------------------------------------


def confidence_interval(values: Iterable[float], level: float = 0.95) -> tuple[float, float]:
    """Student-t confidence interval of the mean of *independent* samples.

    Fold scores are not independent (their training sets overlap): the tables use the corrected
    resampled t of :func:`mlbench.analysis.intervals.corrected_t_interval` for them.

    Parameters
    ----------
    values : array-like of float
        Independent samples; NaNs are ignored.
    level : float
        Coverage, e.g. 0.95.

    Returns
    -------
    (float, float)
        ``(low, high)``; ``(nan, nan)`` with fewer than two values (no spread to estimate) and
        ``(v, v)`` when all values equal ``v``.
    """
    from scipy import stats

    x = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) < 2:
        return (math.nan, math.nan)
    mean = float(x.mean())
    sem = float(x.std(ddof=1)) / math.sqrt(len(x))
    if sem == 0.0:
        return (mean, mean)
    half = float(stats.t.ppf((1 + level) / 2, len(x) - 1)) * sem
    return (mean - half, mean + half)


def error_of(scores: Any, metric: str) -> np.ndarray:
    """Turn scores into an error to be minimised, for learning curves and power-law fits.

    Parameters
    ----------
    scores : array-like of float
    metric : str
        Metric name from :data:`mlbench.metrics.METRICS`.

    Returns
    -------
    numpy.ndarray
        ``1 - score`` for higher-is-better metrics (all bounded by 1: accuracy, balanced_accuracy,
        f1_macro, roc_auc, r2), the score itself for lower-is-better ones (rmse, mae, log_loss).
    """
    x = np.asarray(scores, dtype=float)
    return 1.0 - x if METRICS.get(metric).greater_is_better else x.copy()


# --------------------------------------------------------------------------------------------
# per dataset x model tables
# --------------------------------------------------------------------------------------------

_SCORE_COLUMNS = [
    "dataset",
    "model",
    "metric",
    "is_primary",
    "greater_is_better",
    "status",
    "train_size",
    "n_train",
    "n_ok",
    "n_jobs",
    "mean",
    "std",
    "n",
    "n_folds",
    "ci_low",
    "ci_high",
    "ci_method",
    "ci_note",
    "train_mean",
    "train_std",
    "gap",
    "no_better_than_baseline",
    *RESOURCE_COLUMNS,
]


def score_table(
    results: pd.DataFrame,
    primary: dict[str, str] | None = None,
    *,
    metrics: list[str] | None = None,
    predictions: PredictionLoader | None = None,
    level: float = 0.95,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> pd.DataFrame:
    """Every model's scores on every dataset at the reference size, one row per metric.

    Parameters
    ----------
    results : pandas.DataFrame
        Results table from :func:`mlbench.load_results`.
    primary : dict, optional
        ``{task_type or dataset: metric}`` choosing the primary metric (see :func:`primary_metrics`).
    metrics : list of str, optional
        Metrics to include; default every registered metric with test values for the dataset's
        task type. Every metric gets the same interval method as the primary one.
    predictions : callable, optional
        ``job_id -> dict of arrays`` (``test_index``, ``test_true``, ``test_pred``, ``test_proba``);
        without it a single-split dataset has no interval (``ci_note`` says so).
    level : float
        Interval coverage.
    n_boot, seed :
        Bootstrap resamples and seed (single-split datasets).

    Returns
    -------
    pandas.DataFrame
        Columns dataset, model, metric, is_primary, greater_is_better, status (see
        :func:`reference_status`; ``"no score"`` when the jobs succeeded but the metric is
        undefined), train_size, n_train, n_ok, n_jobs, mean, std, n, n_folds, ci_low, ci_high,
        ci_method (``corrected_t``, ``bootstrap`` or ``none``), ci_note (the method in words with
        what it assumes, or why there is no interval; accuracy-type intervals are never narrower
        than the test rows' binomial interval, see :mod:`mlbench.analysis.intervals`), train_mean, train_std, gap (positive = overfitting, whatever the
        metric's direction), fit_seconds, predict_seconds, n_params (means over the ok jobs at the
        reference size) and peak_memory_mb (their maximum). ``no_better_than_baseline`` (on
        every row of a dataset x model) is True when the model's test score on the dataset's
        primary metric is not better than the baseline's (``dummy``) beyond noise at the reference
        size (:func:`mlbench.analysis.baseline.baseline_comparison`: a paired corrected t over the
        shared folds; never True on a single split, where there is no interval, nor for the
        baseline itself). Every model with a job on the dataset
        has rows, failed and skipped ones with NaN scores; a dataset without any score has one row
        per model with metric None. Sorted by dataset, model, primary metric first.
    """
    from mlbench.analysis.baseline import baseline_comparison, no_better_than_baseline

    t = results_table(results)
    refs = reference_points(t)
    status = status_table(t, refs)
    chosen = primary_metrics(t, None, primary)
    wanted: dict[str, list[str]] = {}
    available = metrics_by_dataset(t)
    for ds in status["dataset"].unique():
        names = available.get(ds, [])
        if metrics is not None:
            names = [m for m in metrics if m in names]
        if ds in chosen:
            names = [chosen[ds], *[m for m in names if m != chosen[ds]]]
        wanted[ds] = names
    parts = []
    for m in sorted({m for names in wanted.values() for m in names}):
        part = long_for(t, {ds: m for ds, names in wanted.items() if m in names})
        parts.append(at_reference(part, refs))
    long = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    keys = ["dataset", "model", "metric"]
    summary = score_summary(long, keys, predictions=predictions, level=level, n_boot=n_boot, seed=seed)

    at_ref = t[
        (t["status"] == "ok") & (t["size_key"] == t["dataset"].map(lambda d: refs.get(d, (np.nan,))[0]))
    ]
    res = at_ref.reindex(columns=["dataset", "model", *RESOURCE_COLUMNS]).copy()
    for col in RESOURCE_COLUMNS:
        res[col] = pd.to_numeric(res[col], errors="coerce")
    resources = res.groupby(["dataset", "model"]).agg(
        fit_seconds=("fit_seconds", "mean"),
        predict_seconds=("predict_seconds", "mean"),
        peak_memory_mb=("peak_memory_mb", "max"),
        n_params=("n_params", "mean"),
    )

    rows = [
        {**rec, "metric": m, "order": i}
        for rec in status.drop(columns="applies").to_dict("records")
        for i, m in enumerate(wanted.get(rec["dataset"]) or [None])
    ]
    frame = pd.DataFrame(rows, columns=[*status.columns.drop("applies"), "metric", "order"])
    frame = frame.merge(summary, on=keys, how="left").merge(
        resources.reset_index(), on=["dataset", "model"], how="left"
    )
    frame["is_primary"] = [chosen.get(d) == m for d, m in zip(frame["dataset"], frame["metric"], strict=True)]
    frame["greater_is_better"] = [
        bool(METRICS.get(m).greater_is_better) if m in METRICS else None for m in frame["metric"]
    ]
    unscored = frame["status"].isin(SCORED) & frame["mean"].isna() & frame["metric"].notna()
    frame.loc[unscored, "status"] = "no score"
    diff = frame["train_mean"] - frame["mean"]
    frame["gap"] = np.where(frame["greater_is_better"].fillna(True).astype(bool), diff, -diff)
    for col in ("ci_method",):
        frame[col] = frame[col].where(frame[col].notna(), "none")
    frame["ci_note"] = frame["ci_note"].where(frame["ci_note"].notna(), "no score")
    flagged = no_better_than_baseline(baseline_comparison(results, chosen, level=level))
    frame["no_better_than_baseline"] = [
        (str(d), str(m), float(refs[d][0])) in flagged if d in refs else False
        for d, m in zip(frame["dataset"], frame["model"], strict=True)
    ]
    frame = frame.sort_values(["dataset", "model", "order"], kind="stable")
    return frame[_SCORE_COLUMNS].reset_index(drop=True)


def summarize_scores(
    results: pd.DataFrame,
    metric: str | None = None,
    primary: dict[str, str] | None = None,
    *,
    predictions: PredictionLoader | None = None,
    level: float = 0.95,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> pd.DataFrame:
    """Per dataset x model summary of the primary metric at the dataset's reference size.

    Parameters
    ----------
    results : pandas.DataFrame
        Results table from :func:`mlbench.load_results`.
    metric : str, optional
        Metric to summarise; default each dataset's primary metric.
    primary : dict, optional
        ``{task_type or dataset: metric}`` overriding the primary metric.
    predictions, level, n_boot, seed :
        As for :func:`score_table`.

    Returns
    -------
    pandas.DataFrame
        The rows of :func:`score_table` for that metric, models that apply to the dataset only
        (failed ones included with NaN scores), columns dataset, model, metric, n_train, mean, std,
        n, ci_low, ci_high, train_mean, gap, fit_seconds, predict_seconds, peak_memory_mb, n_params,
        status, train_size, n_ok, n_jobs, ci_method, ci_note. ``mean`` is over folds (sweep repeats
        averaged within each fold), ``n`` counts those folds (the repeats of a single split), the
        interval is a corrected resampled t (k-fold) or a test-row bootstrap (single split), for
        accuracy-type metrics never narrower than the test rows' binomial interval.
    """
    cols = ["dataset", "model", "metric", "n_train", "mean", "std", "n", "ci_low", "ci_high"]
    cols += ["train_mean", "gap", *RESOURCE_COLUMNS, "status", "train_size", "n_ok", "n_jobs"]
    cols += ["ci_method", "ci_note"]
    t = results_table(results)
    chosen = primary_metrics(t, metric, primary)
    if not chosen:
        return pd.DataFrame(columns=cols)
    table = score_table(
        t[t["dataset"].isin(list(chosen))],
        chosen,
        metrics=sorted(set(chosen.values())),
        predictions=predictions,
        level=level,
        n_boot=n_boot,
        seed=seed,
    )
    table = table[table["is_primary"] & (table["status"] != "skipped")]
    return table[cols].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# ranks and leaderboards
# --------------------------------------------------------------------------------------------


@memoized(copy=True)
def _scored(
    results: pd.DataFrame, metric: str | None, primary: dict[str, str] | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each applicable model's primary score per dataset at the reference size, with its rank.

    Returns (scores, table): scores has dataset, model, metric, greater_is_better, score, good
    (oriented: higher is better), status, scored, n_compared (jobs the score averages), n_units
    ((fold, repeat) units run at the reference size), compared_note (why a model was compared on
    fewer units, or not at all), group, rank; table is :func:`results_table` of results.
    Every model of a dataset is scored on the same units (:func:`compared_units`).
    """
    t = results_table(results)
    chosen = primary_metrics(t, metric, primary)
    refs = reference_points(t)
    status = status_table(t, refs)
    long = at_reference(long_for(t, chosen), refs)
    # Datasets where no model has a score at the reference size order nothing: left out.
    ranked = sorted(set(long["dataset"]))
    groups = groups_of(status, ranked)
    status = status[status["applies"] & status["dataset"].isin(ranked)]
    compared, excluded = compared_units(long)
    means = per_fold(compared, ["dataset", "model"]).groupby(["dataset", "model"])["score"].mean()
    counts = compared.groupby(["dataset", "model"]).size().rename("n_compared")
    out = status.merge(means.rename("score").reset_index(), on=["dataset", "model"], how="left")
    out = out.merge(counts.reset_index(), on=["dataset", "model"], how="left")
    out["n_compared"] = out["n_compared"].fillna(0).astype(int)
    out["n_units"] = out["dataset"].map(_units_run(t, refs)).fillna(0).astype(int)
    out["metric"] = out["dataset"].map(chosen)
    out["greater_is_better"] = out["metric"].map(lambda m: bool(METRICS.get(m).greater_is_better))
    out["scored"] = out["status"].isin(SCORED) & out["score"].notna()
    # A partial model left out of the comparison keeps its status (and is ranked as failed).
    left_out = np.array([(d, m) in excluded for d, m in zip(out["dataset"], out["model"], strict=True)], bool)
    out.loc[out["status"].isin(SCORED) & ~out["scored"] & ~left_out, "status"] = "no score"
    out["compared_note"] = [
        f"not compared: {excluded[(d, m)]}"
        if (d, m) in excluded
        else f"compared on the {k} of {u} folds every model completed"
        if sc and k < u
        else None
        for d, m, sc, k, u in zip(
            out["dataset"], out["model"], out["scored"], out["n_compared"], out["n_units"], strict=True
        )
    ]
    out["good"] = np.where(out["greater_is_better"], out["score"], -out["score"])
    out["group"] = out["dataset"].map(dict(zip(groups["dataset"], groups["group"], strict=True)))
    # Rank 1 = best; ties share the average rank (Demšar 2006). Models without a score at the
    # reference size share the last places.
    good = out["good"].where(out["scored"])
    out["rank"] = good.groupby(out["dataset"]).rank(ascending=False, method="average")
    n_scored = out["scored"].groupby(out["dataset"]).transform("sum")
    n_all = out.groupby("dataset")["model"].transform("size")
    out["rank"] = out["rank"].where(out["scored"], n_scored + (n_all - n_scored + 1) / 2)
    return out, t


def _units_run(t: pd.DataFrame, refs: dict[str, tuple[float, float]]) -> dict[str, int]:
    """Distinct (fold, repeat) units of the jobs that ran (were not skipped) at each reference size.

    A failed job without a recorded fold is not a unit of its own: it failed on one of the others.
    """
    ran = t[(t["status"] != "skipped") & ((t["status"] == "ok") | t["fold"].notna())]
    ran = at_reference(ran, refs) if len(ran) else ran
    if ran.empty:
        return {}
    units = pd.DataFrame(
        {"dataset": ran["dataset"], "f": ran["fold"].fillna(-1.0), "r": ran["repeat"].fillna(-1.0)}
    ).drop_duplicates()
    return {str(k): int(v) for k, v in units.groupby("dataset").size().items()}


def ranks(
    results: pd.DataFrame, metric: str | None = None, primary: dict[str, str] | None = None
) -> pd.DataFrame:
    """Rank the models within each dataset by mean test score at the dataset's reference size.

    Parameters
    ----------
    results : pandas.DataFrame
        Results table from :func:`mlbench.load_results`.
    metric : str, optional
        Metric to rank on; default each dataset's primary metric.
    primary : dict, optional
        ``{task_type or dataset: metric}`` overriding the primary metric.

    Returns
    -------
    pandas.DataFrame
        Columns dataset, model, score, rank, metric, status, group, n_compared, n_units,
        compared_note. Rank 1 is the best model (the metric's direction is respected, so the
        lowest rmse ranks first); ties share the average rank. Every model of a dataset is scored
        on the same (fold, repeat) units: those every compared model completed at the reference
        size (``n_compared`` of the ``n_units`` run; ``compared_note`` says so when it is fewer),
        so a model that failed on some folds (``partial``) is never ranked on its easy folds
        alone. A model that applies to the dataset but has no score at the reference size (failed
        there, or partial with no fold in common with the others) has a NaN score and shares the
        last ranks; models that do not apply (skipped) are not listed.
    """
    cols = ["dataset", "model", "score", "rank", "metric", "status", "group", "n_compared", "n_units"]
    cols += ["compared_note"]
    scores, _ = _scored(results, metric, primary)
    if scores.empty:
        return pd.DataFrame(columns=cols)
    return scores.sort_values(["dataset", "rank", "model"])[cols].reset_index(drop=True)


def _group_order(scores: pd.DataFrame) -> list[str]:
    sizes = scores.groupby("group")["dataset"].nunique()
    return sorted(sizes.index, key=lambda g: (-sizes[g], g))


def leaderboard(
    results: pd.DataFrame,
    metric: str | None = None,
    primary: dict[str, str] | None = None,
    group: str | None = None,
) -> pd.DataFrame:
    """One row per model and dataset group, aggregated over the group's datasets.

    Parameters
    ----------
    results : pandas.DataFrame
        Results table from :func:`mlbench.load_results`.
    metric : str, optional
        Metric to compare on; default each dataset's primary metric.
    primary : dict, optional
        ``{task_type or dataset: metric}`` overriding the primary metric.
    group : str, optional
        Only this group (a label of :func:`dataset_groups`); default every group.

    Returns
    -------
    pandas.DataFrame
        Columns model, mean_rank, win_rate (share of the group's datasets where it has the best
        score; a tie for best counts as a win for each), mean_normalized_score (per dataset 0 = the
        worst scored model, 1 = the best; 1 when all tie; 0 when the model failed), total_fit_seconds
        (all ok jobs of the model on the group's datasets, every training size: the compute it
        cost), n_datasets, n_failed (datasets where it has no score at the reference size: ranked
        last there), group, n_partial (datasets where some of its jobs there failed: it is scored,
        like every model of the dataset, on the folds every model completed; see :func:`ranks`).
        Sorted by group (largest first), then mean_rank, best first; ties in mean rank go to the
        model with fewer failed, then fewer partial datasets.
    """
    cols = ["model", "mean_rank", "win_rate", "mean_normalized_score", "total_fit_seconds", "n_datasets"]
    cols += ["n_failed", "group", "n_partial"]
    scores, t = _scored(results, metric, primary)
    if group is not None:
        scores = scores[scores["group"] == group]
    if scores.empty:
        return pd.DataFrame(columns=cols)
    good = scores["good"].where(scores["scored"])
    by_ds = good.groupby(scores["dataset"])
    best, worst = by_ds.transform("max"), by_ds.transform("min")
    span = (best - worst).to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = (good - worst).to_numpy(dtype=float) / span
    scores = scores.assign(
        win=(scores["scored"] & (good == best)).astype(float),
        norm=np.where(scores["scored"], np.where(span > 0, norm, 1.0), 0.0),
        failed=(~scores["scored"]).astype(int),
        partial=(scores["scored"] & (scores["status"] == "partial")).astype(int),
    )
    ok = t[t["status"] == "ok"].merge(scores[["dataset", "model", "group"]], on=["dataset", "model"])
    fit = pd.to_numeric(ok["fit_seconds"], errors="coerce").groupby([ok["group"], ok["model"]]).sum()
    out = (
        scores.groupby(["group", "model"])
        .agg(
            mean_rank=("rank", "mean"),
            win_rate=("win", "mean"),
            mean_normalized_score=("norm", "mean"),
            n_datasets=("dataset", "nunique"),
            n_failed=("failed", "sum"),
            n_partial=("partial", "sum"),
        )
        .reset_index()
    )
    out["total_fit_seconds"] = [
        float(fit.get((g, m), 0.0)) for g, m in zip(out["group"], out["model"], strict=True)
    ]
    order = {g: i for i, g in enumerate(_group_order(scores))}
    out["order"] = out["group"].map(order)
    # Equal mean ranks: the model that failed less comes first (then the higher normalised score).
    out = out.sort_values(
        ["order", "mean_rank", "n_failed", "n_partial", "mean_normalized_score", "model"],
        ascending=[True, True, True, True, False, True],
    )
    return out[cols].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# tests across datasets
# --------------------------------------------------------------------------------------------


def _block(scores: pd.DataFrame, group: str | None) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str], str]:
    """The complete dataset x model block a test runs on.

    Returns (good, normalized, left_out, scale): oriented scores of the tested models (those with
    a score on every dataset of the block), the same as per-dataset normalised scores (0 = worst
    scored model of the group on the dataset, 1 = best), ``{model: why it is not tested}`` and the
    scale the paired differences are on (the metric when every dataset uses one, else
    ``"normalized"``).
    """
    if group is not None:
        sub = scores[scores["group"] == group]
        candidates = sorted(sub["model"].unique())
        left_out: dict[str, str] = {}
    else:
        sub = scores
        datasets = sub["dataset"].nunique()
        counts = sub.groupby("model")["dataset"].nunique()
        candidates = sorted(m for m in counts.index if counts[m] == datasets)
        left_out = {
            str(m): f"does not apply to every dataset (ran on {counts[m]} of {datasets})"
            for m in counts.index
            if counts[m] < datasets
        }
    for m in candidates:
        bad = sub[(sub["model"] == m) & ~sub["scored"]]
        if len(bad):
            where = [f"{d} ({s})" for d, s in zip(bad["dataset"], bad["status"], strict=True)]
            more = f" and {len(where) - 3} more" if len(where) > 3 else ""
            left_out[str(m)] = "no score at the reference size on " + ", ".join(where[:3]) + more
    tested = [m for m in candidates if m not in left_out]
    good_all = sub["good"].where(sub["scored"])
    by_ds = good_all.groupby(sub["dataset"])
    best, worst = by_ds.transform("max"), by_ds.transform("min")
    span = (best - worst).to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = np.where(span > 0, (good_all - worst).to_numpy(dtype=float) / span, 1.0)
    sub = sub.assign(norm=norm)
    keep = sub[sub["model"].isin(tested)]
    good = keep.pivot(index="dataset", columns="model", values="good").reindex(columns=tested)
    normalized = keep.pivot(index="dataset", columns="model", values="norm").reindex(columns=tested)
    names = sorted(sub["metric"].unique())
    scale = names[0] if len(names) == 1 else "normalized"
    return good, normalized, left_out, scale


def _ranks_of(matrix: pd.DataFrame) -> pd.DataFrame:
    # rank 1 = best; ties share the average rank (Demšar 2006)
    return matrix.rank(axis=1, ascending=False, method="average")


def friedman_test(
    results: pd.DataFrame,
    metric: str | None = None,
    primary: dict[str, str] | None = None,
    group: str | None = None,
) -> dict[str, Any]:
    """Friedman test (with the Iman-Davenport F) that all models perform alike across datasets.

    Parameters
    ----------
    results : pandas.DataFrame
        Results table from :func:`mlbench.load_results`.
    metric : str, optional
        Metric to compare on; default each dataset's primary metric.
    primary : dict, optional
        ``{task_type or dataset: metric}`` overriding the primary metric.
    group : str, optional
        Test within this dataset group (:func:`dataset_groups`). Default: every dataset, with the
        models that apply to all of them.

    Returns
    -------
    dict
        ``statistic``, ``p_value``: the Friedman chi-square (``scipy.stats.friedmanchisquare``, tie
        corrected) on the dataset x model block of mean scores at the reference size;
        ``iman_davenport``, ``iman_davenport_p_value``: Iman and Davenport's F =
        ``(N-1) chi2 / (N (k-1) - chi2)`` on ``(k-1, (k-1)(N-1))`` degrees of freedom (``df``),
        less conservative than the chi-square (Demšar 2006 recommends it; infinite, p = 0, when
        every dataset ranks the models identically); ``n_datasets`` (N), ``n_models`` (k),
        ``models`` (tested), ``left_out`` (``{model: reason}``: models without a score on every
        dataset, e.g. failed at the reference size), ``group``. Statistics and p-values are NaN
        with fewer than 3 datasets or 3 models, or when every dataset ties all models. Ranks pool
        fine across metrics: each dataset only contributes its order of the models.
    """
    from scipy import stats

    scores, _ = _scored(results, metric, primary)
    good, _, left_out, _ = _block(scores, group) if len(scores) else (pd.DataFrame(), None, {}, "")
    n, k = good.shape
    out: dict[str, Any] = {
        "statistic": math.nan,
        "p_value": math.nan,
        "iman_davenport": math.nan,
        "iman_davenport_p_value": math.nan,
        "df": [k - 1, (k - 1) * (n - 1)] if k and n else [0, 0],
        "n_datasets": int(n),
        "n_models": int(k),
        "models": [str(m) for m in good.columns],
        "left_out": left_out,
        "group": group,
    }
    if n < 3 or k < 3:
        return out
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        # All-tied blocks make the statistic 0/0; scipy warns and we report NaN.
        warnings.simplefilter("ignore")
        try:
            res = stats.friedmanchisquare(*(good[c].to_numpy() for c in good.columns))
        except (ValueError, ZeroDivisionError):
            return out
    chi2 = float(res.statistic)
    out["statistic"], out["p_value"] = chi2, float(res.pvalue)
    if np.isfinite(chi2):
        denom = n * (k - 1) - chi2
        if denom <= 1e-12 * n * (k - 1):
            # chi2 at its maximum N (k - 1): every dataset orders the models the same way
            out["iman_davenport"], out["iman_davenport_p_value"] = math.inf, 0.0
        else:
            f = (n - 1) * chi2 / denom
            out["iman_davenport"] = float(f)
            out["iman_davenport_p_value"] = float(stats.f.sf(f, k - 1, (k - 1) * (n - 1)))
    return out


def critical_difference(
    results: pd.DataFrame,
    alpha: float = 0.05,
    metric: str | None = None,
    primary: dict[str, str] | None = None,
    group: str | None = None,
) -> dict[str, Any]:
    """Nemenyi critical difference of mean ranks (Demšar 2006), for CD diagrams.

    Parameters
    ----------
    results : pandas.DataFrame
        Results table from :func:`mlbench.load_results`.
    alpha : float
        Significance level.
    metric : str, optional
        Metric to rank on; default each dataset's primary metric.
    primary : dict, optional
        ``{task_type or dataset: metric}`` overriding the primary metric.
    group : str, optional
        As for :func:`friedman_test`.

    Returns
    -------
    dict
        ``cd``: ``q_alpha * sqrt(k (k + 1) / (6 N))`` with ``q_alpha`` the studentized range quantile
        over ``sqrt(2)`` (NaN with fewer than 2 models); ``mean_ranks``: ``{model: mean rank}``
        (1 = best, tested models only: those with a score on every dataset), ordered best first;
        ``groups``: maximal sets of at least two models whose mean ranks all differ by less than
        ``cd``, i.e. the bars of a CD diagram (a model not tied to any other has no bar);
        ``n_datasets``; ``left_out`` and ``group`` as for :func:`friedman_test`.
    """
    from scipy import stats

    scores, _ = _scored(results, metric, primary)
    good, _, left_out, _ = _block(scores, group) if len(scores) else (pd.DataFrame(), None, {}, "")
    n_datasets, k = good.shape
    mean_ranks = _ranks_of(good).mean(axis=0).sort_values(kind="stable") if k else pd.Series(dtype=float)
    cd = math.nan
    if k >= 2 and n_datasets >= 1:
        q = float(stats.studentized_range.ppf(1 - alpha, k, np.inf)) / math.sqrt(2)
        cd = q * math.sqrt(k * (k + 1) / (6.0 * n_datasets))
    names, values = list(mean_ranks.index), mean_ranks.to_numpy()
    cliques: list[list[str]] = []
    if np.isfinite(cd):
        # Ranks are points on a line, so the cliques of "closer than cd" are contiguous runs of the
        # sorted ranks; a run is maximal when it ends further right than the previous one.
        last_end = -1
        for i in range(len(values)):
            j = i
            while j + 1 < len(values) and values[j + 1] - values[i] < cd:
                j += 1
            if j > last_end and j > i:
                cliques.append([str(m) for m in names[i : j + 1]])
            last_end = max(last_end, j)
    return {
        "cd": cd,
        "mean_ranks": {str(m): float(r) for m, r in zip(names, values, strict=True)},
        "groups": cliques,
        "n_datasets": int(n_datasets),
        "left_out": left_out,
        "group": group,
    }


def holm(p: np.ndarray | list[float]) -> np.ndarray:
    """Holm step-down adjusted p-values (family-wise error control under any dependence).

    The one implementation of the package (the Wilcoxon pairs and the mismatch checks' features).

    Parameters
    ----------
    p : array-like of float
        Raw p-values; a non-finite one (NaN: no test could be run) stays NaN and does not count
        towards the family.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values, capped at 1, in the input order.
    """
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(np.isfinite(p))
    m = len(idx)
    if m == 0:
        return out
    order = idx[np.argsort(p[idx], kind="stable")]
    adjusted = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(adjusted)
    return out


def wilcoxon_min_datasets(alpha: float = 0.05) -> int:
    """Fewest paired datasets with which a two-sided Wilcoxon signed-rank test can reach ``p < alpha``.

    With ``n`` pairs the smallest exact two-sided p-value (every difference of one sign) is
    ``2 / 2**n``: 0.0625 for 5 datasets, 0.03125 for 6, so at alpha = 0.05 it takes 6.
    """
    n = 1
    while 2.0 ** (1 - n) >= alpha:
        n += 1
    return n


def wilcoxon_holm(
    results: pd.DataFrame,
    alpha: float = 0.05,
    metric: str | None = None,
    primary: dict[str, str] | None = None,
    group: str | None = None,
    min_datasets: int | None = None,
) -> pd.DataFrame:
    """Pairwise Wilcoxon signed-rank tests over datasets, Holm-corrected within each dataset group.

    Parameters
    ----------
    results : pandas.DataFrame
        Results table from :func:`mlbench.load_results`.
    alpha : float
        Family-wise significance level (per group).
    metric : str, optional
        Metric to compare on; default each dataset's primary metric.
    primary : dict, optional
        ``{task_type or dataset: metric}`` overriding the primary metric.
    group : str, optional
        Only this group; default every group (:func:`dataset_groups`).
    min_datasets : int, optional
        Test only groups with at least this many datasets; default
        :func:`wilcoxon_min_datasets` (6 at alpha = 0.05): with fewer, no test can reach
        significance, so none is run.

    Returns
    -------
    pandas.DataFrame
        Columns model_a, model_b, p_value (``scipy.stats.wilcoxon``, ``zero_method="zsplit"``),
        p_holm, significant (``p_holm < alpha``), n_datasets, better (the model with the higher
        median oriented difference; None on a tie), group, scale. Tested models are those with a
        score on every dataset of their group (see :func:`friedman_test`). The differences are of
        the metric when every dataset of the group uses the same one, otherwise of per-dataset
        normalised scores (``scale="normalized"``: 0 = worst, 1 = best model on the dataset):
        differences of accuracy and RMSE are never pooled. Groups with too few datasets (or fewer
        than 2 tested models) give no rows; ``result.attrs["notes"]`` maps each such group to the
        reason, in a sentence (e.g. that 5 datasets cannot give a p-value below 0.05).
    """
    from scipy import stats

    cols = [
        "model_a",
        "model_b",
        "p_value",
        "p_holm",
        "significant",
        "n_datasets",
        "better",
        "group",
        "scale",
    ]
    need = wilcoxon_min_datasets(alpha) if min_datasets is None else int(min_datasets)
    scores, _ = _scored(results, metric, primary)
    notes: dict[str | None, str] = {}
    if scores.empty:
        empty = pd.DataFrame(columns=cols)
        empty.attrs["notes"] = {group: "No pairwise Wilcoxon tests: no model has a score to compare."}
        return empty
    groups = [group] if group is not None else _group_order(scores)
    frames = []
    for g in groups:
        good, normalized, _, scale = _block(scores, g)
        if len(good) < need:
            notes[g] = _too_few_datasets(len(good), need, alpha, default=min_datasets is None)
            continue
        if good.shape[1] < 2:
            notes[g] = (
                "No pairwise Wilcoxon tests: fewer than 2 models have a score on every dataset of this group."
            )
            continue
        matrix = normalized if scale == "normalized" else good
        models = sorted(matrix.columns)
        rows = []
        for i, a in enumerate(models):
            for b in models[i + 1 :]:
                d = (matrix[a] - matrix[b]).to_numpy(dtype=float)
                if np.all(d == 0):
                    p = 1.0  # identical on every dataset: no evidence of a difference
                else:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # small-sample approximation warnings
                        p = float(stats.wilcoxon(d, zero_method="zsplit").pvalue)
                med = float(np.median(d))
                better = a if med > 0 else b if med < 0 else None
                rows.append((a, b, p, len(d), better))
        part = pd.DataFrame(rows, columns=["model_a", "model_b", "p_value", "n_datasets", "better"])
        part["p_holm"] = holm(part["p_value"].to_numpy(dtype=float))
        part["significant"] = part["p_holm"] < alpha
        part["group"], part["scale"] = g, scale
        frames.append(part[cols])
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)
    out.attrs["notes"] = notes
    return out


def _too_few_datasets(n: int, need: int, alpha: float, *, default: bool) -> str:
    """Why a group of ``n`` datasets gets no Wilcoxon tests."""
    if not default:
        return f"No pairwise Wilcoxon tests: {n} datasets, fewer than the {need} asked for (min_datasets)."
    smallest = 2.0 ** (1 - n) if n else 1.0
    return (
        f"No pairwise Wilcoxon tests: with {n} datasets the smallest two-sided p-value a Wilcoxon "
        f"signed-rank test can give is {smallest:.3g}, not below α = {alpha}; it takes {need} datasets."
    )


# --------------------------------------------------------------------------------------------
# two runs
# --------------------------------------------------------------------------------------------


def compare_runs(
    a: pd.DataFrame,
    b: pd.DataFrame,
    metric: str | None = None,
    primary: dict[str, str] | None = None,
    alpha: float = 0.05,
    splits: tuple[dict[str, str], dict[str, str]] | None = None,
) -> pd.DataFrame:
    """Compare two runs of the same suite job by job (e.g. before and after a code change).

    Parameters
    ----------
    a, b : pandas.DataFrame
        Results tables from :func:`mlbench.load_results`; ``a`` is the baseline.
    metric : str, optional
        Metric to compare on; default each dataset's primary metric (chosen from ``a``).
    primary : dict, optional
        ``{task_type or dataset: metric}`` overriding the primary metric.
    alpha : float
        Significance level of the paired t-test.
    splits : (dict, dict), optional
        ``job_id -> split fingerprint`` of each run (:func:`mlbench.suite.jobs.split_fingerprint`:
        the dataset, resampling, fold, seeds and train size that fix a job's rows). When given,
        jobs are paired only when their fingerprints match, whatever their ids (a job missing
        from its map pairs by job id). A dataset x model with no matching jobs is compared
        unpaired (``comparison="unpaired"``, ``paired`` False) only when both runs trained on
        the same number of rows at their reference sizes (equal median ``n_train``, and equal
        median ``n_test`` where both are known: a proxy for the same dataset, as the results do
        not hold the dataset spec): Welch's t-test on each run's fold means (repeats of a fold
        share its test rows, so they are averaged first, see :func:`per_fold`). It assumes the
        fold means are independent draws; they are not quite (the folds' training sets
        overlap), so its p-value is approximate. Otherwise the runs compared unlike things
        (e.g. A at 800 training rows, B at 400): ``comparison="not comparable"``, no p-value.

    Returns
    -------
    pandas.DataFrame
        Columns dataset, model, metric, mean_a, mean_b, delta (``mean_b - mean_a``), p_value
        (``scipy.stats.ttest_rel`` over the paired jobs, one mean difference per fold when a fold has
        several repeats (they share its test rows); NaN with fewer than 2 pairs or when the
        differences are a nonzero constant, 1.0 when identical), significant, n_pairs, status_a,
        status_b (:func:`reference_status` in each run), paired, comparison ("paired",
        "unpaired", "not comparable", or "no jobs" when a run has no ok job to compare), n_train_a, n_train_b (median training rows at each run's
        reference size; NaN if unknown). Both runs are compared at each dataset's
        reference size; a model that failed there in one run has NaN means and no pairs (it is
        not compared on a smaller size). Jobs are paired by ``job_id`` (same fold, repeat and
        size); when no ids match (e.g. the model's params changed, which changes its ids) by
        (fold, repeat, train_size). mean_a/mean_b are over the paired jobs.
    """
    cols = ["dataset", "model", "metric", "mean_a", "mean_b", "delta", "p_value", "significant", "n_pairs"]
    cols += ["status_a", "status_b", "paired", "comparison", "n_train_a", "n_train_b"]
    ta, tb = results_table(a), results_table(b)
    chosen = primary_metrics(ta, metric, primary)
    refs_a, refs_b = reference_points(ta), reference_points(tb)
    status_a = status_table(ta, refs_a).set_index(["dataset", "model"])["status"]
    status_b = status_table(tb, refs_b).set_index(["dataset", "model"])["status"]
    # Judge b on the metric chosen for a, dataset by dataset, so both sides use the same column.
    la = at_reference(long_for(ta, chosen), refs_a)
    lb = at_reference(
        long_for(tb, {ds: m for ds, m in chosen.items() if (tb["dataset"] == ds).any()}), refs_b
    )
    rows = []
    for (ds, model), st in status_a.items():
        sb = status_b.get((ds, model), "missing")
        if ds not in chosen or "skipped" in (st, sb):
            continue
        ga = la[(la["dataset"] == ds) & (la["model"] == model)]
        gb = lb[(lb["dataset"] == ds) & (lb["model"] == model)]
        n_a, n_b = refs_a.get(ds, (math.nan, math.nan))[1], refs_b.get(ds, (math.nan, math.nan))[1]
        pairs = _paired_scores(ga, gb, splits)
        comparison = _comparison_kind(ga, gb, pairs, splits is not None, n_a, n_b)
        mean_a, mean_b, p, n_pairs = _compare_scores(ga, gb, pairs, comparison)
        significant = bool(p < alpha) if np.isfinite(p) else False
        paired = comparison == "paired"
        delta = mean_b - mean_a
        rows.append(
            (
                ds,
                model,
                chosen[ds],
                mean_a,
                mean_b,
                delta,
                p,
                significant,
                n_pairs,
                st,
                sb,
                paired,
                comparison,
                n_a,
                n_b,
            )
        )
    return pd.DataFrame(rows, columns=cols)


def _paired_scores(
    ga: pd.DataFrame, gb: pd.DataFrame, splits: tuple[dict[str, str], dict[str, str]] | None
) -> pd.DataFrame:
    """The scores of the jobs of ``ga`` and ``gb`` that saw the same rows: ``score_a``, ``score_b``.

    Paired by split fingerprint when ``splits`` is given (a job without one, an ensemble's row,
    pairs by its id: an id hashes the split), else by job id, else by (fold, repeat, size). Repeats
    of one fold share its test rows, so their differences are not independent pairs: one mean
    per fold then.
    """
    keys: list[str] = ["job_id"]
    if splits is not None:
        # pair only jobs that saw the same rows: equal fold numbers of different splits are not pairs
        ga = ga.assign(split=ga["job_id"].map(splits[0]).fillna("id:" + ga["job_id"].astype(str)))
        gb = gb.assign(split=gb["job_id"].map(splits[1]).fillna("id:" + gb["job_id"].astype(str)))
        keys = ["split"]
    elif not set(ga["job_id"].dropna()) & set(gb["job_id"].dropna()):
        keys = ["fold", "repeat", "train_size"]
    pairs = (
        ga[list(dict.fromkeys([*keys, "fold", "score"]))]
        .dropna(subset=keys)
        .merge(gb[[*keys, "score"]].dropna(subset=keys), on=keys, suffixes=("_a", "_b"))
    )
    if len(pairs) and pairs["fold"].notna().all() and pairs["fold"].duplicated().any():
        pairs = pairs.groupby("fold", sort=True)[["score_a", "score_b"]].mean().reset_index()
    return pairs


def _comparison_kind(
    ga: pd.DataFrame, gb: pd.DataFrame, pairs: pd.DataFrame, by_split: bool, n_a: float, n_b: float
) -> str:
    """``paired``, ``no jobs`` (failed or missing in a run), ``unpaired`` or ``not comparable``."""
    if len(pairs) or not by_split:
        return "paired"
    if ga.empty or gb.empty:
        return "no jobs"  # its status says why, not its splits
    return "unpaired" if _same_rows(ga, gb, n_a, n_b) else "not comparable"


def _compare_scores(
    ga: pd.DataFrame, gb: pd.DataFrame, pairs: pd.DataFrame, comparison: str
) -> tuple[float, float, float, int]:
    """(mean_a, mean_b, p, n_pairs): the paired t-test, or Welch's on fold means when unpaired.

    Means are over the paired jobs (so the delta is the mean paired difference even if a job
    failed in one run); unpaired, the fold means the test compared; without pairs, each run's
    own mean at the reference size.
    """
    from scipy import stats

    xa, xb = pairs["score_a"].to_numpy(dtype=float), pairs["score_b"].to_numpy(dtype=float)
    d = xb - xa
    mean_a = float(xa.mean()) if len(d) else (float(ga["score"].mean()) if len(ga) else math.nan)
    mean_b = float(xb.mean()) if len(d) else (float(gb["score"].mean()) if len(gb) else math.nan)
    p = math.nan
    if comparison == "unpaired":
        # Repeats of one fold share its test rows: not independent samples, so one mean per fold.
        fa = per_fold(ga, ["dataset", "model"])["score"].to_numpy(dtype=float)
        fb = per_fold(gb, ["dataset", "model"])["score"].to_numpy(dtype=float)
        if len(fa) >= 2 and len(fb) >= 2 and (np.ptp(fa) > 0 or np.ptp(fb) > 0):
            p = float(stats.ttest_ind(fb, fa, equal_var=False).pvalue)
        if len(fa) and len(fb):
            mean_a, mean_b = float(fa.mean()), float(fb.mean())
    elif len(d) >= 2:
        if np.all(d == 0):
            p = 1.0
        elif np.ptp(d) > 1e-12 * max(1.0, float(np.abs(d).max())):
            # A constant nonzero shift has zero variance: the t statistic is undefined (NaN),
            # and float noise of a shift must not read as infinite evidence.
            p = float(stats.ttest_rel(xb, xa).pvalue)
    return mean_a, mean_b, p, len(d)


def _same_rows(ga: pd.DataFrame, gb: pd.DataFrame, n_a: float, n_b: float) -> bool:
    """Whether two runs' unpaired jobs of one dataset x model are like things to compare.

    Equal training rows at the compared sizes (``n_a``, ``n_b``: each run's reference ``n_train``;
    when either is unknown, the requested sizes must be equal) and, where both runs record it,
    equal median test rows (another dataset spec, e.g. a subsample, changes it).
    """
    if np.isfinite(n_a) and np.isfinite(n_b):
        if n_a != n_b:
            return False
    elif set(ga["size_key"].astype(float)) != set(gb["size_key"].astype(float)):
        return False
    ta, tb = ga["n_test"].median(), gb["n_test"].median()
    return not (np.isfinite(ta) and np.isfinite(tb) and ta != tb)
