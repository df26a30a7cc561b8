"""The shared definitions behind every analysis: which size, which models, which metric, which score.

- **Reference size.** Per dataset, the largest training size the suite asked for that was not
  skipped for every model (a row count larger than the data is skipped for all). It is the same
  for every model: a model whose jobs failed there is *not* judged on a smaller size; it counts as
  failed on that dataset (:func:`reference_status`).
- **Groups.** Datasets are grouped by the set of models that apply to them (ran, rather than being
  skipped): a CNN skips tabular data, so image and tabular datasets form separate groups, and
  models are only ranked against the others on the datasets they share (:func:`dataset_groups`).
- **Score.** A model's score on a dataset is the mean over folds of its test metric at the
  reference size, sweep repeats averaged within each fold first (they share the fold's test rows),
  with an interval from :mod:`mlbench.analysis.intervals` (:func:`score_summary`).

Importing this module pulls in numpy and pandas only.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlbench.analysis.intervals import (
    BINOMIAL_METRICS,
    N_BOOT,
    binomial_count,
    bootstrap_interval,
    clip_to_range,
    corrected_t_bounds,
    effective_rows,
    widen_to_binomial,
)
from mlbench.analysis.memo import memoized
from mlbench.metrics import DEFAULT_METRICS, METRICS

__all__ = [
    "correction_pool",
    "dataset_groups",
    "per_fold",
    "primary_metrics",
    "reference_sizes",
    "reference_status",
]

PredictionLoader = Callable[[str], "dict[str, np.ndarray]"]

# Jobs whose training sets differ by at most this fraction are one point of a learning curve:
# k-fold splits of 747 rows give 597 and 598 training rows, which are the same "full size".
N_TRAIN_TOLERANCE = 0.01

RESOURCE_COLUMNS = ("fit_seconds", "predict_seconds", "peak_memory_mb", "n_params")

#: Statuses of a model at the reference size that carry a score. A ``partial`` model (some jobs
#: there failed) is *compared* with the others only on the folds every compared model completed
#: (:func:`compared_units`), never on the mean of its own folds, which may be the easy ones.
SCORED = ("ok", "partial")
# When no job of a model succeeded at the reference size, the status shown is the most common
# failure; ties go to the first of this order (the most specific cause).
_FAILURE_ORDER = ("oom", "timeout", "failed", "skipped")
# The train_size of a job without one (old tables): one level of its own.
_NO_SIZE = -1.0


# --------------------------------------------------------------------------------------------
# the table
# --------------------------------------------------------------------------------------------


@memoized(copy=False)  # nothing changes it in place (tests/test_memo.py)
def results_table(results: pd.DataFrame) -> pd.DataFrame:
    """A copy with the columns the analyses read: missing status means ok, missing fold/repeat 0."""
    t = results.copy()
    defaults: dict[str, Any] = {
        "status": "ok",
        "fold": 0,
        "repeat": 0,
        "train_size": math.nan,
        "n_train": math.nan,
        "n_test": math.nan,
        "job_id": None,
        "task_type": "",
    }
    for col, value in defaults.items():
        if col not in t.columns:
            t[col] = value
    for col in ("dataset", "model", "status", "task_type"):
        t[col] = t[col].map(lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v))
    for col in ("fold", "repeat", "train_size", "n_train", "n_test"):
        t[col] = pd.to_numeric(t[col], errors="coerce").astype(float)
    t["size_key"] = t["train_size"].fillna(_NO_SIZE)
    return t


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
        ``{task_type or dataset name: metric}``. Overrides the default order for that task type or
        dataset (a dataset name wins over its task type); a dataset that lacks the requested
        ``test_<metric>`` column is left out with a warning rather than silently judged on
        another metric.

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
        asked = None
        if metric is not None:
            if task and task != wanted_task:
                continue
            asked = metric
        elif primary and str(dataset) in primary:
            asked = primary[str(dataset)]
        elif primary and task in primary:
            asked = primary[task]
        candidates = [asked] if asked is not None else DEFAULT_METRICS.get(task, [])
        chosen = next((m for m in candidates if _has_values(rows, f"test_{m}")), None)
        if chosen is None:
            if asked is not None:
                missing.append(f"{dataset} (test_{asked})")
            continue
        out[str(dataset)] = chosen
    if missing:
        warnings.warn("left out datasets without the requested metric: " + ", ".join(missing), stacklevel=3)
    return out


def metrics_by_dataset(t: pd.DataFrame) -> dict[str, list[str]]:
    """Registered metrics of each dataset's task type with test values, in the default order."""
    ok = t[t["status"] == "ok"]
    if ok.empty:
        return {}
    task = ok.groupby("dataset")["task_type"].first()
    columns = [c for c in ok.columns if c.startswith("test_") and c[5:] in METRICS]
    has = ok[columns].notna().groupby(ok["dataset"]).any() if columns else pd.DataFrame(index=task.index)
    out = {}
    for ds, tt in task.items():
        order = DEFAULT_METRICS.get(str(tt), [])
        present = [c[5:] for c in columns if bool(has.at[ds, c])]
        names = [m for m in order if m in present]
        names += [m for m in present if m not in names and METRICS.get(m).task_type == tt]
        out[str(ds)] = names
    return out


# --------------------------------------------------------------------------------------------
# reference size, status, groups
# --------------------------------------------------------------------------------------------


def _levels(t: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, size_key): the rows it trains on (``level``) and its jobs that ran.

    A size's rows are the median ``n_train`` of *all* its jobs (splits are shared, so any model's
    jobs tell), whatever their status. A fraction whose jobs all failed before recording
    ``n_train`` is placed by the dataset's full size estimated from the other fractions; with no
    ``n_train`` anywhere a fraction (<= 1) counts as larger than any row count: 1.0 is the full data.
    """
    lv = t.groupby(["dataset", "size_key"]).agg(
        n=("n_train", "median"), ran=("status", lambda s: int((s != "skipped").sum()))
    )
    lv = lv.reset_index()
    key, n = lv["size_key"].to_numpy(dtype=float), lv["n"].to_numpy(dtype=float)
    fraction = (key > 0) & (key <= 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_full = np.where(fraction & np.isfinite(n) & (n > 0), n / key, np.nan)
    full = pd.Series(per_full).groupby(lv["dataset"]).transform("median").fillna(1e18).to_numpy()
    guess = np.where(key == _NO_SIZE, -np.inf, np.where(fraction, key * full, key))
    lv["level"] = np.where(np.isfinite(n), n, guess)
    return lv


def reference_points(t: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """``{dataset: (size_key, n_train)}`` of each dataset's reference size."""
    if t.empty:
        return {}
    lv = _levels(t)
    lv = lv[lv["ran"] > 0]  # sizes skipped for every model (larger than the data) did not happen
    # Ties (two requests that give the same rows) go to the size with more jobs that ran.
    best = lv.sort_values(["dataset", "level", "ran", "size_key"]).groupby("dataset").tail(1)
    ok = t[t["status"] == "ok"].groupby(["dataset", "size_key"])["n_train"].median()
    out = {}
    for ds, key, n in zip(best["dataset"], best["size_key"], best["n"], strict=True):
        n_ok = ok.get((ds, key), math.nan)
        out[str(ds)] = (float(key), float(n_ok) if np.isfinite(n_ok) else float(n))
    return out


def reference_sizes(results: pd.DataFrame) -> pd.DataFrame:
    """Each dataset's reference training size: the one every model is scored and ranked at.

    Parameters
    ----------
    results : pandas.DataFrame
        Results table from :func:`mlbench.load_results`.

    Returns
    -------
    pandas.DataFrame
        Columns dataset, train_size (the requested value: a row count or a fraction; NaN for
        tables without train sizes), n_train (median rows trained at that size, NaN if unknown).
        The reference is the largest requested size that was not skipped for every model, the same
        for every model of the dataset (see the module docstring).
    """
    refs = reference_points(results_table(results))
    rows = [(ds, math.nan if key == _NO_SIZE else key, n) for ds, (key, n) in refs.items()]
    return pd.DataFrame(rows, columns=["dataset", "train_size", "n_train"])


def status_table(t: pd.DataFrame, refs: dict[str, tuple[float, float]]) -> pd.DataFrame:
    cols = ["dataset", "model", "status", "applies", "n_ok", "n_jobs", "train_size", "n_train"]
    t = t[t["dataset"].isin(list(refs))]
    if t.empty:
        return pd.DataFrame(columns=cols)
    ref_key = t["dataset"].map({d: k for d, (k, _) in refs.items()})
    ran = t["status"] != "skipped"
    at = t["size_key"].to_numpy(dtype=float) == ref_key.to_numpy(dtype=float)
    frame = pd.DataFrame(
        {
            "dataset": t["dataset"],
            "model": t["model"],
            "applies": ran,
            "at": at,
            "ran_at": at & ran,
            "ok_at": at & (t["status"] == "ok"),
            "n_ok_rows": np.where(at & (t["status"] == "ok"), t["n_train"], np.nan),
        }
    )
    out = (
        frame.groupby(["dataset", "model"], sort=True)
        .agg(
            applies=("applies", "any"),
            any_at=("at", "any"),
            n_jobs=("ran_at", "sum"),
            n_ok=("ok_at", "sum"),
            n_train=("n_ok_rows", "median"),
        )
        .reset_index()
    )
    # The most common failure among the jobs that ran at the reference size; ties go to the most
    # specific cause (oom, timeout, failed).
    bad = t[at & ran & (t["status"] != "ok")]
    failure: dict[tuple[str, str], str] = {}
    if len(bad):
        counts = bad.groupby(["dataset", "model", "status"]).size().rename("count").reset_index()
        counts["order"] = [_FAILURE_ORDER.index(s) if s in _FAILURE_ORDER else 9 for s in counts["status"]]
        counts = counts.sort_values(
            ["dataset", "model", "count", "order"], ascending=[True, True, False, True]
        )
        first = counts.groupby(["dataset", "model"]).head(1)
        failure = {
            (d, m): s for d, m, s in zip(first["dataset"], first["model"], first["status"], strict=True)
        }
    status = []
    for d, m, applies, any_at, n_jobs, n_ok in zip(
        out["dataset"], out["model"], out["applies"], out["any_at"], out["n_jobs"], out["n_ok"], strict=True
    ):
        if not applies:
            status.append("skipped")
        elif n_jobs == 0:
            status.append("skipped" if any_at else "missing")
        elif n_ok == n_jobs:
            status.append("ok")
        elif n_ok:
            status.append("partial")
        else:
            status.append(failure.get((d, m), "failed"))
    out["status"] = status
    out.loc[~out["applies"], ["n_jobs", "n_ok"]] = 0
    keys = out["dataset"].map({d: k for d, (k, _) in refs.items()})
    out["train_size"] = keys.where(keys != _NO_SIZE)
    # A model that did not run at the reference size is shown at the size it was asked for; one
    # that does not apply to the dataset has no training size at all.
    out["n_train"] = out["n_train"].fillna(out["dataset"].map({d: n for d, (_, n) in refs.items()}))
    out.loc[out["status"] == "skipped", ["train_size", "n_train"]] = np.nan
    out["n_ok"] = out["n_ok"].astype(int)
    out["n_jobs"] = out["n_jobs"].astype(int)
    return out[cols]


def reference_status(results: pd.DataFrame) -> pd.DataFrame:
    """Every model's outcome on every dataset at the dataset's reference size.

    Parameters
    ----------
    results : pandas.DataFrame
        Results table from :func:`mlbench.load_results`.

    Returns
    -------
    pandas.DataFrame
        Columns dataset, model, status, applies, n_ok, n_jobs, train_size, n_train. ``status`` is
        ``ok`` (every job at the reference size succeeded), ``partial`` (some did: scored on those),
        ``failed``/``timeout``/``oom`` (none did: the most common failure; the model is *not*
        scored on a smaller size), ``missing`` (no job at that size yet, e.g. a running run) or
        ``skipped`` (the model does not apply to the dataset: ``applies`` is False). ``n_jobs``
        counts the jobs at the reference size that were not skipped.
    """
    t = results_table(results)
    return status_table(t, reference_points(t))


def _group_label(models: tuple[str, ...], every: tuple[str, ...]) -> str:
    if models == every:
        return "all models"
    missing = [m for m in every if m not in models]
    if len(missing) <= len(models):
        return "all but " + ", ".join(missing)
    return "only " + ", ".join(models)


def groups_of(status: pd.DataFrame, datasets: Sequence[str]) -> pd.DataFrame:
    applies = status[status["applies"] & status["dataset"].isin(list(datasets))]
    sets = applies.groupby("dataset")["model"].agg(lambda s: tuple(sorted(s)))
    every = tuple(sorted(applies["model"].unique()))
    rows = [(ds, _group_label(models, every), models) for ds, models in sets.items()]
    out = pd.DataFrame(rows, columns=["dataset", "group", "models"])
    if out.empty:
        return out.assign(n_datasets=pd.Series(dtype=int))
    out["n_datasets"] = out.groupby("group")["dataset"].transform("size")
    # Largest group first; a stable order by label after that.
    return out.sort_values(["n_datasets", "group", "dataset"], ascending=[False, True, True]).reset_index(
        drop=True
    )


def dataset_groups(
    results: pd.DataFrame, metric: str | None = None, primary: dict[str, str] | None = None
) -> pd.DataFrame:
    """Group datasets by the set of models that apply to them.

    Parameters
    ----------
    results : pandas.DataFrame
        Results table from :func:`mlbench.load_results`.
    metric, primary :
        As for :func:`primary_metrics`; datasets without a metric, or where no model has a score
        at the reference size, are left out.

    Returns
    -------
    pandas.DataFrame
        Columns dataset, group (a label: ``"all models"``, ``"all but cnn"``, ``"only cnn, knn"``),
        models (tuple of the models that ran there, whether or not they succeeded), n_datasets
        (of the group). Largest group first. Models are ranked and tested only within a group.
    """
    t = results_table(results)
    chosen = primary_metrics(t, metric, primary)
    refs = reference_points(t)
    return groups_of(status_table(t, refs), _ranked_datasets(t, chosen, refs))


def _ranked_datasets(
    t: pd.DataFrame, chosen: dict[str, str], refs: dict[str, tuple[float, float]]
) -> list[str]:
    """Datasets where at least one model has a score at the reference size.

    A dataset where every model failed at its reference size orders no models: it would only
    make every model "failed" somewhere and empty the tests, so it is left out of the ranking
    (its per-dataset table still shows the failures).
    """
    long = at_reference(long_for(t, chosen), refs)
    return sorted(set(long["dataset"]))


# --------------------------------------------------------------------------------------------
# long tables of scores
# --------------------------------------------------------------------------------------------


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
    x = n[finite]
    centres = np.array([np.median(x[group_of == g]) for g in range(label + 1)])
    out[finite] = centres[group_of]
    return out


_LONG_COLUMNS = [
    "dataset",
    "task_type",
    "model",
    "metric",
    "greater_is_better",
    "score",
    "train_score",
    "n_train_raw",
    "n_test",
    "size_key",
    "job_id",
    "fold",
    "repeat",
    "train_size",
    *RESOURCE_COLUMNS,
    "n_train",
]


@memoized(copy=True)
def long_for(t: pd.DataFrame, chosen: dict[str, str]) -> pd.DataFrame:
    """One row per ok job with a finite score on ``chosen[dataset]`` (``t`` from :func:`results_table`).

    ``n_train`` is grouped (jobs within 1% share their median, per dataset, so every model's curve
    has the same x values); ``n_train_raw`` is the job's own count.
    """
    ok = t[(t["status"] == "ok") & t["dataset"].isin(list(chosen))]
    names = ok["dataset"].map(chosen)
    score = np.full(len(ok), np.nan)
    train = np.full(len(ok), np.nan)
    for m in pd.unique(names):
        sel = (names == m).to_numpy()
        if f"test_{m}" in ok.columns:
            score[sel] = pd.to_numeric(ok.loc[sel, f"test_{m}"], errors="coerce").to_numpy(dtype=float)
        if f"train_{m}" in ok.columns:
            train[sel] = pd.to_numeric(ok.loc[sel, f"train_{m}"], errors="coerce").to_numpy(dtype=float)
    has_n = ok["n_train"].notna().groupby(ok["dataset"]).transform("any").astype(bool)
    raw_n = ok["n_train"].where(has_n, ok["train_size"])
    part = pd.DataFrame(
        {
            "dataset": ok["dataset"].to_numpy(),
            "task_type": ok["task_type"].to_numpy(),
            "model": ok["model"].to_numpy(),
            "metric": names.to_numpy(),
            "greater_is_better": [bool(METRICS.get(m).greater_is_better) for m in names],
            "score": score,
            "train_score": train,
            "n_train_raw": raw_n.to_numpy(dtype=float),
            "n_test": ok["n_test"].to_numpy(dtype=float),
            "size_key": ok["size_key"].to_numpy(dtype=float),
        }
    )
    for col in ("job_id", "fold", "repeat", "train_size", *RESOURCE_COLUMNS):
        part[col] = ok[col].to_numpy() if col in ok.columns else np.nan
    part = part[np.isfinite(part["score"])]
    if part.empty:
        return pd.DataFrame(columns=_LONG_COLUMNS)
    part["n_train"] = part.groupby("dataset")["n_train_raw"].transform(lambda s: _group_sizes(s.to_numpy()))
    return part[_LONG_COLUMNS].reset_index(drop=True)


def long_scores(
    results: pd.DataFrame, metric: str | None = None, primary: dict[str, str] | None = None
) -> pd.DataFrame:
    """One row per ok job with a score on its dataset's metric (see :func:`long_for`)."""
    t = results_table(results)
    return long_for(t, primary_metrics(t, metric, primary))


def at_reference(long: pd.DataFrame, refs: dict[str, tuple[float, float]]) -> pd.DataFrame:
    """Keep the jobs at their dataset's reference size."""
    if long.empty:
        return long
    key = long["dataset"].map(lambda d: refs.get(d, (math.nan, math.nan))[0])
    return long[long["size_key"].to_numpy(dtype=float) == key.to_numpy(dtype=float)]


def compared_units(long: pd.DataFrame) -> tuple[pd.DataFrame, dict[tuple[str, str], str]]:
    """The jobs models are compared on: per dataset, the (fold, repeat) units every model completed.

    A model that failed some folds at the reference size (``partial``) would otherwise be
    compared on the mean of the folds it finished, which are often the easy ones: a model worse
    than another on every fold that fails on the two hardest ranked first. So on each dataset
    every model is scored on the same units: those that each compared model has a score for.
    Models are admitted most complete first (then by name); one that shares no unit with those
    already admitted is not compared there (it counts as failed on that dataset).

    Parameters
    ----------
    long : pandas.DataFrame
        Rows of :func:`long_for` at the reference size (:func:`at_reference`), with dataset, model,
        fold and repeat.

    Returns
    -------
    (pandas.DataFrame, dict)
        The rows of ``long`` on the shared units, and ``{(dataset, model): why}`` for models left
        out of the comparison.
    """
    if long.empty:
        return long, {}
    fold = pd.to_numeric(long["fold"], errors="coerce").fillna(-1.0).to_numpy(dtype=float)
    repeat = pd.to_numeric(long["repeat"], errors="coerce").fillna(-1.0).to_numpy(dtype=float)
    unit = pd.Series(list(zip(fold, repeat, strict=True)), index=long.index)
    keep = np.zeros(len(long), dtype=bool)
    excluded: dict[tuple[str, str], str] = {}
    for ds, part in long.groupby("dataset", sort=True):
        units = {str(m): set(unit[rows.index]) for m, rows in part.groupby("model", sort=True)}
        everything = set().union(*units.values())
        shared: set[Any] | None = None
        admitted = []
        for m in sorted(units, key=lambda m: (-len(units[m]), m)):
            common = units[m] if shared is None else shared & units[m]
            if common:
                shared = common
                admitted.append(m)
            else:
                excluded[(str(ds), m)] = (
                    f"none of its {len(units[m])} completed fold(s) of {len(everything)} was completed by "
                    "every other model"
                )
        in_ds = (long["dataset"] == ds).to_numpy()
        keep |= in_ds & long["model"].isin(admitted).to_numpy() & unit.isin(shared or set()).to_numpy()
    return long[keep], excluded


def per_fold(long: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """One row per fold: average the repeats within each fold of each ``keys`` group.

    Repeats of a fold share its test rows (and, at the full training size, its training rows:
    a deterministic model then scores identically in every repeat), so they are not independent
    samples; the folds are. A group with a single fold (holdout) keeps its repeats as rows.
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


# --------------------------------------------------------------------------------------------
# scores with intervals
# --------------------------------------------------------------------------------------------


def correction_pool(long: pd.DataFrame) -> pd.Series:
    """The training pool of each row's dataset: the ``n_train`` of the corrected t's ratio.

    The correction's ``n_train`` is the training data the folds draw from, a property of the
    dataset and its resampling, so a point's interval does not depend on which other sizes are in
    the table (taking the largest ``n_train`` in the table made a 64-row point's interval 1.8x
    wider once the full-size jobs were dropped). A learning-curve point below the pool trains on
    subsets of it, which overlap less, not more; the correlation between its fold scores still
    comes from the shared pool, and n_test / pool is the Nadeau-Bengio ratio of that design
    (n_test / subset would be several times too wide). Per dataset, in order:

    - rows at a fraction of the data (``0 < train_size <= 1``): ``n_train / train_size`` at the
      largest fraction that ran (the largest such value: at 1.0, the largest fold's pool). A
      fraction is taken of the smallest fold's pool, so any fraction places the pool within a
      row or two;
    - otherwise, with two or more folds: the dataset's rows minus a test fold, the rows being the
      sum of the folds' test rows (k-fold test folds partition the data): the training fold.
      For repeated k-fold, or a validation split held out of every fit (``fit_on_val: false``),
      this overstates the pool; a per-job count of the dataset's rows would make it exact;
    - otherwise the largest ``n_train`` of the dataset's rows.

    Parameters
    ----------
    long : pandas.DataFrame
        Rows of :func:`long_for` (``dataset``, ``train_size``, ``n_train_raw``, ``n_test``, ``fold``).

    Returns
    -------
    pandas.Series
        The pool of each row's dataset, aligned with ``long``.
    """
    pools: dict[Any, float] = {}
    for ds, g in long.groupby("dataset", sort=False):
        size = pd.to_numeric(g["train_size"], errors="coerce").to_numpy(dtype=float)
        n = g["n_train_raw"].to_numpy(dtype=float)
        fraction = np.isfinite(size) & (size > 0) & (size <= 1) & np.isfinite(n) & (n > 0)
        per_fold_test = g.groupby("fold")["n_test"].median().dropna()
        if fraction.any():
            # the largest fraction places the pool most precisely (n is rounded to a row)
            top = fraction & (size == size[fraction].max())
            pools[ds] = float(np.max(n[top] / size[top]))
        elif len(per_fold_test) >= 2:
            pools[ds] = float(per_fold_test.sum() - per_fold_test.median())
        else:
            pools[ds] = float(np.nanmax(n)) if np.isfinite(n).any() else math.nan
    return long["dataset"].map(pools).astype(float)


_SUMMARY_COLUMNS = [
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
    "n_test",
    "n_train_rows",
]


def score_summary(
    long: pd.DataFrame,
    keys: list[str],
    *,
    predictions: PredictionLoader | None = None,
    level: float = 0.95,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> pd.DataFrame:
    """Mean, spread and confidence interval of each ``keys`` group of a long score table.

    The one definition of "a model's score" used by every table: folds are the samples (sweep
    repeats averaged within each fold first); the mean is over folds. The interval is the
    corrected resampled t over the folds (method ``corrected_t``) when the group has 2 or more
    folds, else a percentile bootstrap over the single split's test rows from the stored
    predictions (``bootstrap``), else none (``none``, ``ci_note`` says why). For accuracy-type
    metrics either is widened, where narrower, to the mid-p binomial interval of the test rows it
    scores; other metrics whose folds (or resamples) all agree get none rather than a zero-width
    one. ``ci_note`` says what each interval assumes. Bounds are clipped to the metric's range.

    Parameters
    ----------
    long : pandas.DataFrame
        Rows of :func:`long_for` (one per ok job), holding ``metric`` and ``keys``.
    keys : list of str
        Grouping columns, including ``dataset`` and ``metric``.
    predictions : callable, optional
        ``job_id -> dict of arrays`` with ``test_index``, ``test_true``, ``test_pred`` and
        ``test_proba`` (classifiers); needed for single-split intervals.
    level, n_boot, seed :
        Coverage, bootstrap resamples and the bootstrap's seed.

    Returns
    -------
    pandas.DataFrame
        ``keys`` plus mean, std (over the fold means, or the repeats of a single split), n (those
        samples), n_folds, ci_low, ci_high, ci_method, ci_note, train_mean, train_std, n_test and
        n_train_rows (medians over the jobs).
    """
    if long.empty:
        return pd.DataFrame(columns=[*keys, *_SUMMARY_COLUMNS])
    folds = long.groupby(keys, sort=True)["fold"].nunique().rename("n_folds")
    pool = correction_pool(long)
    sizes = (
        long.assign(pool=pool)
        .groupby(keys, sort=True)
        .agg(n_test=("n_test", "median"), n_train_rows=("n_train_raw", "median"), pool=("pool", "max"))
    )
    pf = per_fold(long, keys)
    out = (
        pf.groupby(keys, sort=True)
        .agg(
            mean=("score", "mean"),
            std=("score", "std"),
            var=("score", "var"),
            n=("score", "size"),
            train_mean=("train_score", "mean"),
            train_std=("train_score", "std"),
        )
        .join(folds)
        .join(sizes)
        .reset_index()
    )
    ratio = out["n_test"].to_numpy(dtype=float) / out["pool"].to_numpy(dtype=float)
    lo, hi = corrected_t_bounds(
        out["mean"].to_numpy(dtype=float),
        out["var"].to_numpy(dtype=float),
        out["n_folds"].to_numpy(dtype=float),
        ratio,
        level,
    )
    kfold = out["n_folds"].to_numpy() >= 2
    known = np.isfinite(ratio) & (ratio > 0)
    out["ci_low"] = np.where(kfold & known, lo, np.nan)
    out["ci_high"] = np.where(kfold & known, hi, np.nan)
    out["ci_method"] = np.where(kfold & known, "corrected_t", "none")
    out["ci_note"] = [
        (
            f"corrected resampled t over {int(j)} folds (Nadeau and Bengio 2003: variance x "
            f"(1/{int(j)} + n_test/n_train = {r:.3g}))"
            if (k and ok)
            else "k-fold without n_test: the correction cannot be computed"
            if k
            else "one test split: a bootstrap over its rows needs the stored predictions"
        )
        for j, r, k, ok in zip(out["n_folds"], ratio, kfold, known, strict=True)
    ]
    _finite_test_sets(out, long, keys, kfold & known, level)
    single = np.flatnonzero(~kfold)
    if predictions is not None and len(single):
        _bootstrap_rows(out, long, keys, single, predictions, level, n_boot, seed)
    for m in out["metric"].unique():
        sel = (out["metric"] == m).to_numpy()
        lo_m, hi_m = clip_to_range(
            str(m),
            out.loc[sel, "ci_low"].to_numpy(dtype=float),
            out.loc[sel, "ci_high"].to_numpy(dtype=float),
        )
        out.loc[sel, "ci_low"], out.loc[sel, "ci_high"] = lo_m, hi_m
    return out[[*keys, *_SUMMARY_COLUMNS]]


#: What the corrected resampled t assumes, appended to its note.
_T_ASSUMES = "assumes normally distributed fold scores"
#: The bound every accuracy-type interval is widened to, and what it assumes.
_BINOMIAL = "mid-p binomial interval"
_BINOMIAL_ASSUMES = "independent test rows, the trained models held fixed"
#: Why a metric whose folds or resamples all agree gets no interval.
_NO_SPREAD = (
    "no interval: every {what} scored the same, so there is no spread to estimate one from "
    "(only accuracy-type metrics get a bound from the number of test rows)"
)


def _finite_test_sets(
    out: pd.DataFrame, long: pd.DataFrame, keys: list[str], rows: np.ndarray, level: float
) -> None:
    """k-fold groups (``rows``) of ``out``, in place: what a finite test set allows, and the notes.

    Accuracy-type scores are widened to at least the mid-p binomial interval of the distinct test
    rows pooled over the folds, so identical folds no longer give a zero-width interval; other
    metrics with identical folds get none. Every note says what its interval assumes.

    The k-fold test folds partition the data, so the rows are ``J * n_test``; where a fraction of
    the data ran (``0 < train_size <= 1``) they are at most ``n_test + n_train / train_size``, the
    dataset's rows (repeated k-fold tests each row once per repetition, and counts it once here).
    Sweep repeats that differ (subsets of a fold's training rows) average part of the rows' noise
    away: the rows count that many times more, by the repeats' design effect (the fold variance
    of single repeats against that of their average, from 1 to the number of repeats).
    """
    if not rows.any():
        return
    binom = out["metric"].astype(str).isin(sorted(BINOMIAL_METRICS)).to_numpy()
    size = pd.to_numeric(long["train_size"], errors="coerce")
    fraction = (size > 0) & (size <= 1)
    full = (long["n_train_raw"] / size).where(fraction).groupby(long["dataset"]).max()
    cap = full + long.groupby("dataset")["n_test"].median()
    pooled = np.fmin(
        out["n_folds"].to_numpy(dtype=float) * out["n_test"].to_numpy(dtype=float),
        out["dataset"].map(cap).to_numpy(dtype=float),
    )
    if "repeat" in long.columns and long["repeat"].nunique() > 1:
        single = long.groupby([*keys, "repeat"], sort=True)["score"].var().groupby(keys).mean()
        repeats = long.groupby([*keys, "fold"], sort=True)["repeat"].nunique().groupby(keys).median()
        index = pd.MultiIndex.from_frame(out[keys]) if len(keys) > 1 else pd.Index(out[keys[0]])
        single_v = single.reindex(index).to_numpy(dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            effect = single_v / out["var"].to_numpy(dtype=float)
        effect = np.where(np.isfinite(effect), effect, 1.0)
        n_repeats = repeats.reindex(index).fillna(1.0).to_numpy(dtype=float)
        effective = pooled * np.clip(effect, 1.0, n_repeats)
    else:
        effective, n_repeats = pooled, np.ones(len(out))
    lo, hi = widen_to_binomial(out["ci_low"], out["ci_high"], out["mean"], effective, level)
    widen = rows & binom & np.isfinite(effective)
    flat = rows & ~binom & (out["var"].to_numpy(dtype=float) == 0)
    out.loc[widen, "ci_low"], out.loc[widen, "ci_high"] = lo[widen], hi[widen]
    out.loc[flat, ["ci_low", "ci_high"]] = np.nan
    out.loc[flat, "ci_method"] = "none"
    notes = out["ci_note"].tolist()
    for i in np.flatnonzero(rows):
        if flat[i]:
            notes[i] = _NO_SPREAD.format(what="fold")
        elif widen[i]:
            notes[i] = (
                f"{notes[i]}; {_T_ASSUMES}, and never narrower than the {_BINOMIAL} of the "
                f"{pooled[i]:.0f} test rows pooled over the folds"
                + (" (once per sweep repeat, as far as the repeats differ)" if n_repeats[i] > 1 else "")
                + f" ({_BINOMIAL_ASSUMES})"
            )
        else:
            notes[i] = f"{notes[i]}; {_T_ASSUMES}"
    out["ci_note"] = notes


def _bootstrap_rows(
    out: pd.DataFrame,
    long: pd.DataFrame,
    keys: list[str],
    rows: np.ndarray,
    predictions: PredictionLoader,
    level: float,
    n_boot: int,
    seed: int,
) -> None:
    """Fill the intervals of single-split groups in ``out`` (in place) by bootstrapping test rows.

    Groups that share their jobs (several metrics of one model) load the predictions once.
    """
    job_keys = [k for k in keys if k != "metric"]
    jobs_of = long.groupby(keys, sort=True)["job_id"].agg(lambda s: tuple(sorted(str(j) for j in s)))
    ids_of = {(k if isinstance(k, tuple) else (k,)): v for k, v in jobs_of.items()}
    by_jobs: dict[tuple[Any, ...], list[tuple[int, str]]] = {}
    for i in rows:
        row = out.iloc[i]
        ids = ids_of[tuple(row[k] for k in keys)]
        metric = str(row["metric"])
        by_jobs.setdefault((*(row[k] for k in job_keys), *ids), []).append((int(i), metric))
    widen: list[tuple[int, float, float, float, float]] = []
    for group_key, members in by_jobs.items():
        ids = group_key[len(job_keys) :]
        jobs, note = [], ""
        for job_id in ids:
            try:
                arrays = predictions(job_id)
            except Exception as exc:  # a missing or unreadable file: that interval is unknown
                note = f"predictions of job {job_id} unreadable ({type(exc).__name__})"
                break
            if "test_true" not in arrays:
                note = f"predictions of job {job_id} lack test_true"
                break
            jobs.append(arrays)
        if note:
            for i, _ in members:
                out.iloc[i, out.columns.get_loc("ci_note")] = note
            continue
        found = bootstrap_interval(jobs, [m for _, m in members], n_boot=n_boot, level=level, seed=seed)
        for i, m in members:
            lo, hi, why = found[m]
            value, n_rows = binomial_count(jobs, m) if m in BINOMIAL_METRICS else (math.nan, math.nan)
            if np.isfinite(lo) and np.isfinite(hi) and np.isfinite(n_rows):
                widen.append((i, lo, hi, value, n_rows))
                n_test = len(jobs[0]["test_true"])
                rows_text = f"{n_test} test rows"
                if m == "balanced_accuracy":
                    rows_text += (
                        f" ({effective_rows(jobs[0]['test_true']):.0f} effective for balanced accuracy)"
                    )
                if len(jobs) > 1:
                    rows_text += ", counted once per repeat as far as the repeats differ"
                why = f"{why}; never narrower than the {_BINOMIAL} of the {rows_text} ({_BINOMIAL_ASSUMES})"
            elif np.isfinite(lo) and lo == hi:
                lo, hi, why = math.nan, math.nan, _NO_SPREAD.format(what="resample of the test rows")
            out.iloc[i, out.columns.get_loc("ci_note")] = why
            if np.isfinite(lo) and np.isfinite(hi):
                out.iloc[i, out.columns.get_loc("ci_low")] = lo
                out.iloc[i, out.columns.get_loc("ci_high")] = hi
                out.iloc[i, out.columns.get_loc("ci_method")] = "bootstrap"
    if widen:
        # every accuracy-type interval at once: the binomial bounds are one vectorised search
        at, lo_b, hi_b, value, n_rows = (np.array(c) for c in zip(*widen, strict=True))
        lo, hi = widen_to_binomial(lo_b, hi_b, value, n_rows, level)
        out.iloc[at, out.columns.get_loc("ci_low")] = lo
        out.iloc[at, out.columns.get_loc("ci_high")] = hi
