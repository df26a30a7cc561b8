"""Is a model better than the baseline? Each model against ``dummy`` on the same folds, per size.

Every run includes the baseline (:data:`mlbench.models.sklearn_models.BASELINE`: always
predicting the training prior, or the mean) unless the suite says ``baseline: false``. A model
whose test score is not better than the baseline's beyond noise at a training size is "no
better than the baseline" there: the report flags it in its dataset's table and in the scaling
section, and its points never drive a crossover or a verdict (a model that early-stopped during
its warm-up and predicts worse than the class prior must not "overtake" anything).

The test: both models ran on the same splits, so the comparison is paired. Per fold, the
difference of their test scores (repeats of a fold averaged first: they share its test rows),
oriented so that positive means better than the baseline; the Nadeau-Bengio corrected resampled
t interval over the folds (variance times ``1/k + n_test/n_train``). "Better" needs the whole
interval above 0. It assumes roughly normal fold differences whose correlation from overlapping
training folds the correction covers (checked by simulation in ``tests/test_baseline.py``). A
single split (holdout, or a dataset's own test file) gives no interval: no flag is raised there
(``method`` says so), never a guess.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["BASELINE_COLUMNS", "baseline_comparison", "no_better_than_baseline"]

#: Columns of :func:`baseline_comparison`.
BASELINE_COLUMNS = [
    "dataset",
    "model",
    "size_key",
    "n_train",
    "metric",
    "n_folds",
    "difference",
    "low",
    "high",
    "better",
    "no_better",
    "method",
]


def baseline_comparison(
    results: pd.DataFrame,
    primary: dict[str, str] | str | None = None,
    *,
    level: float = 0.95,
    baseline: str | None = None,
) -> pd.DataFrame:
    """Each model's paired test-score difference from the baseline, per dataset and training size.

    Parameters
    ----------
    results : pandas.DataFrame
        A results table (:meth:`mlbench.reader.Run.results`).
    primary : dict or str, optional
        ``{dataset or task_type: metric}`` (or one metric): what the models are compared on;
        default each dataset's primary metric.
    level : float
        Confidence level of the interval.
    baseline : str, optional
        The baseline's model label (default ``dummy``).

    Returns
    -------
    pandas.DataFrame
        :data:`BASELINE_COLUMNS`: one row per dataset x model x size where both the model and the
        baseline have ok jobs on at least one common fold. ``difference`` is the mean paired
        difference (positive: better than the baseline, for any metric direction), ``low`` /
        ``high`` its interval, ``better`` True when the interval lies above 0, ``no_better`` its
        negation where an interval exists (False without one: a single split is not flagged),
        ``method`` ``corrected_t`` or ``none`` (fewer than 2 folds).
    """
    from mlbench.analysis.intervals import corrected_t_bounds
    from mlbench.analysis.tables import per_fold, primary_metrics, results_table
    from mlbench.metrics import METRICS
    from mlbench.models.sklearn_models import BASELINE

    baseline = baseline or BASELINE
    if results is None or not len(results):
        return pd.DataFrame(columns=BASELINE_COLUMNS)
    t = results_table(results)
    metric = primary if isinstance(primary, str) else None
    chosen = primary_metrics(t, metric, primary if isinstance(primary, dict) else None)
    ok = t[t["status"] == "ok"]
    rows: list[tuple[Any, ...]] = []
    for ds, name in chosen.items():
        col = f"test_{name}"
        part = ok[(ok["dataset"] == ds) & ok[col].notna()] if col in ok.columns else ok.iloc[0:0]
        base = part[part["model"] == baseline]
        if base.empty:
            continue
        sign = 1.0 if METRICS.get(name).greater_is_better else -1.0
        keys = ["size_key", "fold", "repeat"]
        base = base[[*keys, col]].rename(columns={col: "base"})
        for model, mine in part[part["model"] != baseline].groupby("model", sort=True):
            paired = mine[[*keys, col, "n_train", "n_test"]].merge(base, on=keys)
            if paired.empty:
                continue
            paired["diff"] = sign * (paired[col] - paired["base"])
            paired["dataset"], paired["model"] = ds, model
            folded = per_fold(paired, ["dataset", "model", "size_key"])
            for size, g in folded.groupby("size_key", sort=True):
                diffs = g["diff"].to_numpy(dtype=float)
                k = len(diffs)
                mean = float(diffs.mean())
                low = high = math.nan
                method = "none"
                if k >= 2:
                    ratio = float(np.nanmedian(g["n_test"] / g["n_train"]))
                    ratio = ratio if np.isfinite(ratio) else 0.0
                    lo, hi = corrected_t_bounds(
                        np.array([mean]),
                        np.array([float(diffs.var(ddof=1))]),
                        np.array([k]),
                        np.array([ratio]),
                        level,
                    )
                    low, high, method = float(lo[0]), float(hi[0]), "corrected_t"
                better = bool(method != "none" and low > 0)
                no_better = bool(method != "none" and not better)
                n_train = float(np.nanmedian(g["n_train"])) if g["n_train"].notna().any() else math.nan
                rows.append(
                    (ds, model, float(size), n_train, name, k, mean, low, high, better, no_better, method)
                )
    return pd.DataFrame(rows, columns=BASELINE_COLUMNS)


def no_better_than_baseline(comparison: pd.DataFrame) -> set[tuple[str, str, float]]:
    """``(dataset, model, size_key)`` of the points :func:`baseline_comparison` flags."""
    if comparison is None or not len(comparison):
        return set()
    flagged = comparison[comparison["no_better"].astype(bool)]
    return {
        (str(d), str(m), float(s))
        for d, m, s in zip(flagged["dataset"], flagged["model"], flagged["size_key"], strict=True)
    }
