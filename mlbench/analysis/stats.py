"""Statistics over a results table: intervals, per-model summaries, ranks and significance tests.

Every public function takes the DataFrame returned by :func:`mlbench.load_results` (latest
attempt per job), ignores rows whose ``status`` is not ``"ok"`` and returns a new table. The
metric is each dataset's primary one unless ``metric`` names another (see :func:`primary_metrics`).

Scores are compared "at each model's largest training size": with a train-size sweep the small
subsets are for learning curves (:mod:`mlbench.analysis.scaling`), the full size is the benchmark.

scipy is imported inside the functions that need it so that ``import mlbench.analysis`` stays cheap.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from mlbench.metrics import DEFAULT_METRICS, METRICS

__all__ = [
    "compare_runs",
    "confidence_interval",
    "critical_difference",
    "error_of",
    "friedman_test",
    "leaderboard",
    "primary_metrics",
    "ranks",
    "summarize_scores",
    "wilcoxon_holm",
]

# Jobs whose training sets differ by at most this fraction are one point of a learning curve:
# k-fold splits of 747 rows give 597 and 598 training rows, which are the same "full size".
N_TRAIN_TOLERANCE = 0.01

_RESOURCE_COLUMNS = ("fit_seconds", "predict_seconds", "peak_memory_mb", "n_params")


# --------------------------------------------------------------------------------------------
# shared helpers (also used by scaling.py)
# --------------------------------------------------------------------------------------------


def _ok_rows(results: pd.DataFrame) -> pd.DataFrame:
    if "status" not in results.columns:
        return results
    return results[results["status"] == "ok"]


def _has_values(frame: pd.DataFrame, column: str) -> bool:
    return column in frame.columns and bool(frame[column].notna().any())


def primary_metrics(
    results: pd.DataFrame, metric: str | None = None, primary: dict[str, str] | None = None
) -> dict[str, str]:
    """Which metric each dataset is judged on.

    Parameters
    ----------
    results : pandas.DataFrame
        Results table from :func:`mlbench.load_results`.
    metric : str, optional
        Use this metric for every dataset of its task type; datasets of the other task type are left
        out (an accuracy cannot rank regressors).
    primary : dict, optional
        ``{task_type: metric}``. Overrides the default order for that task type; a dataset that lacks
        the requested ``test_<metric>`` column is left out with a warning rather than silently
        judged on another metric.

    Returns
    -------
    dict
        ``{dataset: metric_name}``. Without ``metric``/``primary`` it is the first ``test_<m>`` column
        with values for the dataset's task type, in the order of
        :data:`mlbench.metrics.DEFAULT_METRICS` (accuracy, balanced_accuracy, f1_macro, roc_auc,
        log_loss; rmse, mae, r2).
    """
    ok = _ok_rows(results)
    wanted_task = METRICS.get(metric).task_type if metric is not None else None
    out: dict[str, str] = {}
    missing: list[str] = []
    for dataset, rows in ok.groupby("dataset", sort=True):
        task = str(rows["task_type"].iloc[0]) if "task_type" in rows.columns else ""
        if metric is not None:
            if task and task != wanted_task:
                continue
            candidates = [metric]
        elif primary and task in primary:
            candidates = [primary[task]]
        else:
            candidates = DEFAULT_METRICS.get(task, [])
        chosen = next((m for m in candidates if _has_values(rows, f"test_{m}")), None)
        if chosen is None:
            if metric is not None or (primary and task in primary):
                missing.append(f"{dataset} (test_{candidates[0]})")
            continue
        out[str(dataset)] = chosen
    if missing:
        warnings.warn("left out datasets without the requested metric: " + ", ".join(missing), stacklevel=3)
    return out


def _group_sizes(n: np.ndarray) -> np.ndarray:
    """Map each training size to its group's median, grouping sizes within 1% of the group's smallest."""
    n = np.asarray(n, dtype=float)
    out = np.full(n.shape, np.nan)
    finite = np.isfinite(n)
    values = np.unique(n[finite])
    # Chain from each group's smallest value (not neighbour to neighbour) so that a dense sweep
    # cannot drift into one giant group.
    labels = np.empty(len(values), dtype=int)
    start, label = -np.inf, -1
    for i, v in enumerate(values):
        if v > start * (1 + N_TRAIN_TOLERANCE):
            start, label = v, label + 1
        labels[i] = label
    group_of = labels[np.searchsorted(values, n[finite])]
    centres = pd.Series(n[finite]).groupby(group_of).median()
    out[finite] = centres.to_numpy()[group_of]
    return out


def _long_scores(
    results: pd.DataFrame, metric: str | None = None, primary: dict[str, str] | None = None
) -> pd.DataFrame:
    """One row per ok job with a score on its dataset's metric.

    Columns: dataset, task_type, model, metric, greater_is_better, score, train_score, n_train
    (grouped: jobs within 1% share their median, grouped per dataset so every model's curve has the
    same x values), n_train_raw, job_id, fold, repeat, train_size and the resource columns.
    """
    ok = _ok_rows(results)
    chosen = primary_metrics(ok, metric, primary)
    parts = []
    for dataset, name in chosen.items():
        rows = ok[ok["dataset"] == dataset]
        raw_n = rows["n_train"] if "n_train" in rows.columns else rows["train_size"]
        part = pd.DataFrame(
            {
                "dataset": dataset,
                "task_type": rows["task_type"].to_numpy() if "task_type" in rows.columns else "",
                "model": rows["model"].to_numpy(),
                "metric": name,
                "greater_is_better": METRICS.get(name).greater_is_better,
                "score": pd.to_numeric(rows[f"test_{name}"], errors="coerce").to_numpy(dtype=float),
                "train_score": (
                    pd.to_numeric(rows[f"train_{name}"], errors="coerce").to_numpy(dtype=float)
                    if f"train_{name}" in rows.columns
                    else np.nan
                ),
                "n_train_raw": pd.to_numeric(raw_n, errors="coerce").to_numpy(dtype=float),
            }
        )
        for col in ("job_id", "fold", "repeat", "train_size", *_RESOURCE_COLUMNS):
            part[col] = rows[col].to_numpy() if col in rows.columns else np.nan
        part = part[np.isfinite(part["score"])]
        part["n_train"] = _group_sizes(part["n_train_raw"].to_numpy())
        parts.append(part)
    if not parts:
        cols = ["dataset", "task_type", "model", "metric", "greater_is_better", "score", "train_score"]
        cols += ["n_train_raw", "job_id", "fold", "repeat", "train_size", *_RESOURCE_COLUMNS, "n_train"]
        return pd.DataFrame(columns=cols)
    return pd.concat(parts, ignore_index=True)


def _at_largest(long: pd.DataFrame) -> pd.DataFrame:
    """Keep each (dataset, model)'s jobs at its largest (grouped) training size."""
    if long.empty:
        return long
    largest = long.groupby(["dataset", "model"])["n_train"].transform("max")
    return long[long["n_train"] == largest]


def per_fold(long: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """One row per fold: average the repeats within each fold of each ``keys`` group.

    Repeats of a fold share its test rows (and, at the full training size, its training rows:
    a deterministic model then scores identically in every repeat), so they are not independent
    samples; the folds are. A group with a single fold (holdout) keeps its repeats as samples.
    Numeric columns are averaged, the others keep their first value.
    """
    if long.empty or "fold" not in long.columns or long["fold"].isna().all():
        return long
    n_folds = long.groupby(keys)["fold"].transform("nunique")
    single, multi = long[n_folds <= 1], long[n_folds > 1]
    if multi.empty:
        return long
    how = {
        col: (
            "mean" if pd.api.types.is_numeric_dtype(multi[col]) and col not in ("fold", "repeat") else "first"
        )
        for col in multi.columns
        if col not in (*keys, "fold")
    }
    folded = multi.groupby([*keys, "fold"], sort=False, dropna=False).agg(how).reset_index()
    return pd.concat([single, folded[long.columns]], ignore_index=True)


def _mean_scores(results: pd.DataFrame, metric: str | None, primary: dict[str, str] | None) -> pd.DataFrame:
    """Per dataset x model mean test score at the model's largest training size."""
    top = _at_largest(_long_scores(results, metric, primary))
    return (
        top.groupby(["dataset", "model"], sort=True)
        .agg(
            metric=("metric", "first"),
            greater_is_better=("greater_is_better", "first"),
            score=("score", "mean"),
        )
        .reset_index()
    )


def _goodness_matrix(
    results: pd.DataFrame, metric: str | None, primary: dict[str, str] | None
) -> pd.DataFrame:
    """dataset x model matrix of scores oriented so that higher is better, complete models only."""
    scores = _mean_scores(results, metric, primary)
    scores["good"] = np.where(scores["greater_is_better"], scores["score"], -scores["score"])
    matrix = scores.pivot(index="dataset", columns="model", values="good")
    # The omnibus tests need a complete block design: a model missing on one dataset is dropped
    # rather than the dataset, since datasets are the (scarcer) samples.
    return matrix.dropna(axis=1, how="any")


def _ranks_of(matrix: pd.DataFrame) -> pd.DataFrame:
    # rank 1 = best; ties share the average rank (Demšar 2006)
    return matrix.rank(axis=1, ascending=False, method="average")


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------


def confidence_interval(values: Iterable[float], level: float = 0.95) -> tuple[float, float]:
    """Student-t confidence interval of the mean.

    Parameters
    ----------
    values : array-like of float
        Samples, e.g. one score per fold; NaNs are ignored.
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


def _ci_columns(mean: pd.Series, std: pd.Series, n: pd.Series, level: float = 0.95) -> tuple[Any, Any]:
    """Vectorised :func:`confidence_interval` from group summaries."""
    from scipy import stats

    n_arr = n.to_numpy(dtype=float)
    sem = std.to_numpy(dtype=float) / np.sqrt(n_arr)
    with np.errstate(invalid="ignore"):
        t = stats.t.ppf((1 + level) / 2, np.where(n_arr >= 2, n_arr - 1, np.nan))
        half = np.where(sem == 0, 0.0, t * sem)
    half = np.where(n_arr >= 2, half, np.nan)
    m = mean.to_numpy(dtype=float)
    return m - half, m + half


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


def summarize_scores(
    results: pd.DataFrame, metric: str | None = None, primary: dict[str, str] | None = None
) -> pd.DataFrame:
    """Per dataset x model summary at each model's largest training size.

    Parameters
    ----------
    results : pandas.DataFrame
        Results table from :func:`mlbench.load_results`.
    metric : str, optional
        Metric to summarise; default each dataset's primary metric.
    primary : dict, optional
        ``{task_type: metric}`` overriding the primary metric per task type.

    Returns
    -------
    pandas.DataFrame
        Columns dataset, model, metric, n_train, mean, std, n, ci_low, ci_high (95% Student-t),
        train_mean, gap (positive = overfitting: ``train_mean - mean`` for higher-is-better metrics,
        ``mean - train_mean`` for lower-is-better ones), and the per-job means of fit_seconds,
        predict_seconds, peak_memory_mb and n_params.
    """
    top = per_fold(_at_largest(_long_scores(results, metric, primary)), ["dataset", "model", "n_train"])
    cols = ["dataset", "model", "metric", "n_train", "mean", "std", "n", "ci_low", "ci_high"]
    cols += ["train_mean", "gap", *_RESOURCE_COLUMNS]
    if top.empty:
        return pd.DataFrame(columns=cols)
    for col in _RESOURCE_COLUMNS:
        top[col] = pd.to_numeric(top[col], errors="coerce")
    out = (
        top.groupby(["dataset", "model"], sort=True)
        .agg(
            metric=("metric", "first"),
            greater_is_better=("greater_is_better", "first"),
            n_train=("n_train", "first"),
            mean=("score", "mean"),
            std=("score", "std"),
            n=("score", "size"),
            train_mean=("train_score", "mean"),
            **{col: (col, "mean") for col in _RESOURCE_COLUMNS},
        )
        .reset_index()
    )
    out["ci_low"], out["ci_high"] = _ci_columns(out["mean"], out["std"], out["n"])
    diff = out["train_mean"] - out["mean"]
    out["gap"] = np.where(out["greater_is_better"], diff, -diff)
    return out[cols]


def ranks(
    results: pd.DataFrame, metric: str | None = None, primary: dict[str, str] | None = None
) -> pd.DataFrame:
    """Rank models within each dataset by mean test score at their largest training size.

    Parameters
    ----------
    results : pandas.DataFrame
        Results table from :func:`mlbench.load_results`.
    metric : str, optional
        Metric to rank on; default each dataset's primary metric.
    primary : dict, optional
        ``{task_type: metric}`` overriding the primary metric per task type.

    Returns
    -------
    pandas.DataFrame
        Columns dataset, model, score, rank, metric. Rank 1 is the best model (the metric's direction
        is respected, so the lowest rmse ranks first); ties share the average rank.
    """
    scores = _mean_scores(results, metric, primary)
    if scores.empty:
        return pd.DataFrame(columns=["dataset", "model", "score", "rank", "metric"])
    good = np.where(scores["greater_is_better"], scores["score"], -scores["score"])
    scores["rank"] = (
        pd.Series(good, index=scores.index).groupby(scores["dataset"]).rank(ascending=False, method="average")
    )
    return scores.sort_values(["dataset", "rank", "model"])[
        ["dataset", "model", "score", "rank", "metric"]
    ].reset_index(drop=True)


def leaderboard(
    results: pd.DataFrame, metric: str | None = None, primary: dict[str, str] | None = None
) -> pd.DataFrame:
    """One row per model, aggregated over datasets.

    Parameters
    ----------
    results : pandas.DataFrame
        Results table from :func:`mlbench.load_results`.
    metric : str, optional
        Metric to compare on; default each dataset's primary metric.
    primary : dict, optional
        ``{task_type: metric}`` overriding the primary metric per task type.

    Returns
    -------
    pandas.DataFrame
        Columns model, mean_rank, win_rate (share of the model's datasets where it is best; a tie
        for best counts as a win for each), mean_normalized_score (per dataset 0 = worst model,
        1 = best; 1 when all models tie), total_fit_seconds (all ok jobs of the model on the ranked
        datasets, every training size: the compute the model cost), n_datasets. Sorted by
        mean_rank, best first.
    """
    cols = ["model", "mean_rank", "win_rate", "mean_normalized_score", "total_fit_seconds", "n_datasets"]
    scores = _mean_scores(results, metric, primary)
    if scores.empty:
        return pd.DataFrame(columns=cols)
    scores["good"] = np.where(scores["greater_is_better"], scores["score"], -scores["score"])
    by_ds = scores.groupby("dataset")["good"]
    scores["rank"] = by_ds.rank(ascending=False, method="average")
    best, worst = by_ds.transform("max"), by_ds.transform("min")
    scores["win"] = (scores["good"] == best).astype(float)
    span = (best - worst).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = (scores["good"] - worst).to_numpy() / span
    scores["norm"] = np.where(span > 0, norm, 1.0)

    ok = _ok_rows(results)
    ok = ok[ok["dataset"].isin(scores["dataset"].unique())]
    fit = (
        pd.to_numeric(ok["fit_seconds"], errors="coerce").groupby(ok["model"]).sum()
        if "fit_seconds" in ok.columns
        else pd.Series(dtype=float)
    )
    out = (
        scores.groupby("model")
        .agg(
            mean_rank=("rank", "mean"),
            win_rate=("win", "mean"),
            mean_normalized_score=("norm", "mean"),
            n_datasets=("dataset", "nunique"),
        )
        .reset_index()
    )
    out["total_fit_seconds"] = out["model"].map(fit).astype(float)
    out = out.sort_values(["mean_rank", "mean_normalized_score", "model"], ascending=[True, False, True])
    return out[cols].reset_index(drop=True)


def friedman_test(
    results: pd.DataFrame, metric: str | None = None, primary: dict[str, str] | None = None
) -> dict[str, float | int]:
    """Friedman test that all models perform alike across datasets.

    Parameters
    ----------
    results : pandas.DataFrame
        Results table from :func:`mlbench.load_results`.
    metric : str, optional
        Metric to compare on; default each dataset's primary metric.
    primary : dict, optional
        ``{task_type: metric}`` overriding the primary metric per task type.

    Returns
    -------
    dict
        ``statistic``, ``p_value`` (``scipy.stats.friedmanchisquare`` on the dataset x model matrix
        of mean scores, only models present on every dataset), ``n_datasets``, ``n_models``.
        Statistic and p-value are NaN with fewer than 3 datasets or 3 models, or when every dataset
        ties all models.
    """
    from scipy import stats

    matrix = _goodness_matrix(results, metric, primary)
    n_datasets, n_models = matrix.shape
    out: dict[str, float | int] = {
        "statistic": math.nan,
        "p_value": math.nan,
        "n_datasets": int(n_datasets),
        "n_models": int(n_models),
    }
    if n_datasets < 3 or n_models < 3:
        return out
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        # All-tied blocks make the statistic 0/0; scipy warns and we report NaN.
        warnings.simplefilter("ignore")
        try:
            res = stats.friedmanchisquare(*(matrix[c].to_numpy() for c in matrix.columns))
        except (ValueError, ZeroDivisionError):
            return out
    out["statistic"], out["p_value"] = float(res.statistic), float(res.pvalue)
    return out


def critical_difference(
    results: pd.DataFrame,
    alpha: float = 0.05,
    metric: str | None = None,
    primary: dict[str, str] | None = None,
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
        ``{task_type: metric}`` overriding the primary metric per task type.

    Returns
    -------
    dict
        ``cd``: ``q_alpha * sqrt(k (k + 1) / (6 N))`` with ``q_alpha`` the studentized range quantile
        over ``sqrt(2)`` (NaN with fewer than 2 models); ``mean_ranks``: ``{model: mean rank}``
        (1 = best, only models present on every dataset), ordered best first; ``groups``: maximal
        sets of at least two models whose mean ranks all differ by less than ``cd``, i.e. the bars
        of a CD diagram (a model not tied to any other has no bar, so no group).
    """
    from scipy import stats

    matrix = _goodness_matrix(results, metric, primary)
    n_datasets, k = matrix.shape
    mean_ranks = _ranks_of(matrix).mean(axis=0).sort_values(kind="stable") if k else pd.Series(dtype=float)
    cd = math.nan
    if k >= 2 and n_datasets >= 1:
        q = float(stats.studentized_range.ppf(1 - alpha, k, np.inf)) / math.sqrt(2)
        cd = q * math.sqrt(k * (k + 1) / (6.0 * n_datasets))
    names, values = list(mean_ranks.index), mean_ranks.to_numpy()
    groups: list[list[str]] = []
    if np.isfinite(cd):
        # Ranks are points on a line, so the cliques of "closer than cd" are contiguous runs of the
        # sorted ranks; a run is maximal when it ends further right than the previous one.
        last_end = -1
        for i in range(len(values)):
            j = i
            while j + 1 < len(values) and values[j + 1] - values[i] < cd:
                j += 1
            if j > last_end and j > i:
                groups.append([str(m) for m in names[i : j + 1]])
            last_end = max(last_end, j)
    return {
        "cd": cd,
        "mean_ranks": {str(m): float(r) for m, r in zip(names, values, strict=True)},
        "groups": groups,
    }


def _holm(p: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values (NaNs stay NaN and do not count as tests)."""
    out = np.full(len(p), np.nan)
    idx = np.flatnonzero(np.isfinite(p))
    m = len(idx)
    if m == 0:
        return out
    order = idx[np.argsort(p[idx], kind="stable")]
    adjusted = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(adjusted)
    return out


def wilcoxon_holm(
    results: pd.DataFrame,
    alpha: float = 0.05,
    metric: str | None = None,
    primary: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Pairwise Wilcoxon signed-rank tests over datasets, Holm-corrected.

    Parameters
    ----------
    results : pandas.DataFrame
        Results table from :func:`mlbench.load_results`.
    alpha : float
        Family-wise significance level.
    metric : str, optional
        Metric to compare on; default each dataset's primary metric.
    primary : dict, optional
        ``{task_type: metric}`` overriding the primary metric per task type.

    Returns
    -------
    pandas.DataFrame
        Columns model_a, model_b, p_value (``scipy.stats.wilcoxon``, ``zero_method="zsplit"``, on the
        datasets both models have), p_holm, significant (``p_holm < alpha``), n_datasets,
        better (the model with the higher median oriented score; None on a tie).
    """
    from scipy import stats

    cols = ["model_a", "model_b", "p_value", "p_holm", "significant", "n_datasets", "better"]
    scores = _mean_scores(results, metric, primary)
    if scores.empty:
        return pd.DataFrame(columns=cols)
    scores["good"] = np.where(scores["greater_is_better"], scores["score"], -scores["score"])
    matrix = scores.pivot(index="dataset", columns="model", values="good")
    models = sorted(matrix.columns)
    rows = []
    for i, a in enumerate(models):
        for b in models[i + 1 :]:
            pair = matrix[[a, b]].dropna()
            d = (pair[a] - pair[b]).to_numpy()
            p = math.nan
            if len(d) >= 1:
                if np.all(d == 0):
                    p = 1.0  # identical on every dataset: no evidence of a difference
                else:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # small-sample approximation warnings
                        p = float(stats.wilcoxon(d, zero_method="zsplit").pvalue)
            med = float(np.median(d)) if len(d) else 0.0
            better = a if med > 0 else b if med < 0 else None
            rows.append((a, b, p, len(d), better))
    out = pd.DataFrame(rows, columns=["model_a", "model_b", "p_value", "n_datasets", "better"])
    out["p_holm"] = _holm(out["p_value"].to_numpy(dtype=float))
    out["significant"] = out["p_holm"] < alpha
    return out[cols]


def compare_runs(
    a: pd.DataFrame,
    b: pd.DataFrame,
    metric: str | None = None,
    primary: dict[str, str] | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Compare two runs of the same suite job by job (e.g. before and after a code change).

    Parameters
    ----------
    a, b : pandas.DataFrame
        Results tables from :func:`mlbench.load_results`; ``a`` is the baseline.
    metric : str, optional
        Metric to compare on; default each dataset's primary metric (chosen from ``a``).
    primary : dict, optional
        ``{task_type: metric}`` overriding the primary metric per task type.
    alpha : float
        Significance level of the paired t-test.

    Returns
    -------
    pandas.DataFrame
        Columns dataset, model, metric, mean_a, mean_b, delta (``mean_b - mean_a``), p_value
        (``scipy.stats.ttest_rel`` over the paired jobs; NaN with fewer than 2 pairs or when the
        differences are a nonzero constant, 1.0 when identical), significant, n_pairs. Jobs are
        paired by ``job_id`` at each model's largest training size (same fold, repeat and size);
        when no ids match (e.g. the model's params changed, which changes its ids) they are paired
        by (fold, repeat, train_size). mean_a/mean_b are over the paired jobs.
    """
    from scipy import stats

    cols = ["dataset", "model", "metric", "mean_a", "mean_b", "delta", "p_value", "significant", "n_pairs"]
    chosen = primary_metrics(a, metric, primary)
    la = _at_largest(_long_scores(a, metric, primary))
    # Judge b on the metric chosen for a, dataset by dataset, so both sides use the same column.
    lb_parts = [
        _at_largest(_long_scores(b[b["dataset"] == ds], m, None))
        for ds, m in chosen.items()
        if (b["dataset"] == ds).any()
    ]
    lb = pd.concat(lb_parts, ignore_index=True) if lb_parts else la.iloc[0:0]
    rows = []
    for (ds, model), ga in la.groupby(["dataset", "model"], sort=True):
        gb = lb[(lb["dataset"] == ds) & (lb["model"] == model)]
        if gb.empty:
            continue
        keys: list[str] = ["job_id"]
        if not set(ga["job_id"].dropna()) & set(gb["job_id"].dropna()):
            keys = ["fold", "repeat", "train_size"]
        pairs = ga[[*keys, "score"]].merge(gb[[*keys, "score"]], on=keys, suffixes=("_a", "_b"))
        sa, sb = pairs["score_a"].to_numpy(dtype=float), pairs["score_b"].to_numpy(dtype=float)
        d = sb - sa
        p = math.nan
        if len(d) >= 2:
            if np.all(d == 0):
                p = 1.0
            elif np.ptp(d) > 1e-12 * max(1.0, float(np.abs(d).max())):
                # A constant nonzero shift has zero variance: the t statistic is undefined (NaN),
                # and float noise of a shift must not read as infinite evidence.
                p = float(stats.ttest_rel(sb, sa).pvalue)
        # Means over the paired jobs, so delta is the mean paired difference even if a job failed
        # in one run; without pairs, each run's own mean.
        mean_a = float(sa.mean()) if len(d) else float(ga["score"].mean())
        mean_b = float(sb.mean()) if len(d) else float(gb["score"].mean())
        rows.append(
            (
                ds,
                model,
                str(ga["metric"].iloc[0]),
                mean_a,
                mean_b,
                mean_b - mean_a,
                p,
                bool(p < alpha) if np.isfinite(p) else False,
                len(d),
            )
        )
    return pd.DataFrame(rows, columns=cols)
