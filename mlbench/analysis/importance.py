"""Permutation importance across folds, and train/test shift weighted by it.

Pure functions, table in, table out. Each job with ``importance: true`` stores the permutation
importance of its model on its test fold (``importance_json``, see
:func:`mlbench.fitting.permutation_importances`): per feature the mean drop of the primary
metric over ``n_repeats`` shuffles. :func:`importance_table` aggregates these per dataset, model
and feature over the folds, with a 95% interval; :func:`shift_by_importance` ranks the features a
mismatch check found shifted by a model's importance and says, for each, whether the model leans
on it (deepchecks calls this drift weighted by importance; here with the intervals).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

__all__ = [
    "IMPORTANCE_COLUMNS",
    "USED_SHARE",
    "importance_table",
    "shift_by_importance",
    "shift_text",
    "top_features",
]

#: Columns of :func:`importance_table`.
IMPORTANCE_COLUMNS = [
    "dataset",
    "model",
    "metric",
    "feature",
    "mean",
    "ci_low",
    "ci_high",
    "n_folds",
    "n_repeats",
    "rank",
    "share",
    "ci_method",
]

#: A feature is one the model "uses" when its importance is above zero beyond doubt (the lower
#: bound of its interval) and at least this share of the model's largest importance.
USED_SHARE = 0.1


def _t(df: int) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.975, df))


def importance_table(results: pd.DataFrame) -> pd.DataFrame:
    """Permutation importance per dataset, model and feature, over the folds, with 95% intervals.

    Parameters
    ----------
    results : pandas.DataFrame
        One row per job (``dataset``, ``model``, ``fold``, ``train_size``, ``status``,
        ``importance_json``). Only ok jobs with an importance count, and per dataset and model
        only its largest training size (the size the leaderboard ranks at).

    Returns
    -------
    pandas.DataFrame
        :data:`IMPORTANCE_COLUMNS`, one row per feature of each (dataset, model), ranked by
        ``mean`` (1 = most important). ``mean`` is the mean over folds of each fold's importance
        (the repeats of a fold averaged first); ``ci_low``/``ci_high`` a t-interval over the folds
        (``ci_method`` "t over k folds"), or with a single fold a t-interval over that job's
        shuffles ("t over n shuffles": the shuffles' noise only, not the split's). ``share`` is
        ``mean`` over the model's largest mean importance (None when none is above zero).
        Empty when no job has an importance.
    """
    if results is None or len(results) == 0 or "importance_json" not in results.columns:
        return pd.DataFrame(columns=IMPORTANCE_COLUMNS)
    ok = results[(results["status"] == "ok") & results["importance_json"].notna()]
    rows: list[dict[str, Any]] = []
    for (dataset, model), part in ok.groupby(["dataset", "model"], sort=True):
        sizes = pd.to_numeric(part["train_size"], errors="coerce")
        if sizes.notna().any():
            part = part[sizes == sizes.max()]
        rows.extend(_model_rows(str(dataset), str(model), part))
    return pd.DataFrame(rows, columns=IMPORTANCE_COLUMNS)


def _model_rows(dataset: str, model: str, part: pd.DataFrame) -> list[dict[str, Any]]:
    import numpy as np

    per_fold: dict[Any, list[dict[str, Any]]] = {}
    for record in part.to_dict("records"):
        try:
            found = json.loads(record["importance_json"])
        except (TypeError, ValueError):
            continue
        per_fold.setdefault(record.get("fold"), []).append(found)
    if not per_fold:
        return []
    first = next(iter(per_fold.values()))[0]
    features = list(first["features"])
    metric = str(first.get("metric", ""))
    repeats = int(first.get("n_repeats", 0) or 0)
    # each fold: the mean of its repeats' (sweep repeats') importances
    fold_means = []
    fold_stds = []
    for jobs in per_fold.values():
        jobs = [j for j in jobs if list(j["features"]) == features]
        if jobs:
            fold_means.append(np.mean([j["mean"] for j in jobs], axis=0))
            fold_stds.append(np.mean([j["std"] for j in jobs], axis=0))
    values = np.asarray(fold_means)  # folds x features
    k = len(values)
    mean = values.mean(axis=0)
    if k >= 2:
        half = _t(k - 1) * values.std(axis=0, ddof=1) / math.sqrt(k)
        method = f"t over {k} folds"
    elif repeats >= 2:
        # one test split: only the shuffles' noise is known (numpy's std has ddof 0: rescale)
        sd = np.asarray(fold_stds[0]) * math.sqrt(repeats / (repeats - 1))
        half = _t(repeats - 1) * sd / math.sqrt(repeats)
        method = f"t over {repeats} shuffles (one test split)"
    else:
        half = np.full(len(features), np.nan)
        method = "none (one fold, one shuffle)"
    top = float(mean.max()) if len(mean) else 0.0
    order = np.argsort(-mean, kind="stable")
    ranks = np.empty(len(mean), dtype=int)
    ranks[order] = np.arange(1, len(mean) + 1)
    return [
        {
            "dataset": dataset,
            "model": model,
            "metric": metric,
            "feature": features[i],
            "mean": float(mean[i]),
            "ci_low": float(mean[i] - half[i]) if math.isfinite(half[i]) else None,
            "ci_high": float(mean[i] + half[i]) if math.isfinite(half[i]) else None,
            "n_folds": k,
            "n_repeats": repeats,
            "rank": int(ranks[i]),
            "share": float(mean[i] / top) if top > 0 else None,
            "ci_method": method,
        }
        for i in order
    ]


def top_features(table: pd.DataFrame, dataset: str, model: str, n: int = 10) -> pd.DataFrame:
    """The ``n`` most important features of one model on one dataset (rows of :func:`importance_table`)."""
    if table is None or len(table) == 0:
        return pd.DataFrame(columns=IMPORTANCE_COLUMNS)
    part = table[(table["dataset"] == dataset) & (table["model"] == model)]
    return part.sort_values("rank").head(n)


def shift_text(effect: float | None, effect_name: str) -> str:
    """How far a feature shifted, in words: ``Wasserstein 1.3 sd``, ``Cramér's V 0.25``."""
    if effect is None or not math.isfinite(effect):
        return "shifted"
    if effect_name == "Wasserstein/std":
        return f"Wasserstein {effect:.1f} sd"
    return f"{effect_name} {effect:.2f}"


def _ordinal(rank: int) -> str:
    if rank == 1:
        return "the most important feature"
    suffix = "th" if 10 <= rank % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(rank % 10, "th")
    return f"the {rank}{suffix} most important feature"


def shift_by_importance(
    shifted: Iterable[Mapping[str, Any]], importance: pd.DataFrame
) -> list[dict[str, Any]]:
    """The shifted features ranked by one model's importance, each with its sentence.

    Parameters
    ----------
    shifted : iterable of mapping
        The features a mismatch check flagged: ``feature``, ``effect``, ``effect_name``
        (``Wasserstein/std`` or ``Cramér's V``).
    importance : pandas.DataFrame
        :func:`importance_table` rows of one dataset and one model.

    Returns
    -------
    list of dict
        Most important first (features without an importance last): ``feature``, ``shift``
        (:func:`shift_text`), ``importance``, ``ci_low``, ``ci_high``, ``rank``, ``n_features``,
        ``used`` (the lower bound of the interval above zero and at least :data:`USED_SHARE` of
        the largest importance), ``sentence``: "Weight shifted (Wasserstein 1.3 sd) and is the most
        important feature of xgboost: expect the test score to move" when used, else "Horsepower
        shifted (...) but the model hardly uses it".
    """
    if importance is None or len(importance) == 0:
        return []
    by_feature = {str(r["feature"]): r for r in importance.to_dict("records")}
    model = str(importance["model"].iloc[0])
    metric = str(importance["metric"].iloc[0])
    n_features = len(by_feature)
    out = []
    for item in shifted:
        feature = str(item.get("feature") or "")
        found = by_feature.get(feature)
        shift = shift_text(item.get("effect"), str(item.get("effect_name") or ""))
        if found is None:
            out.append(
                {
                    "feature": feature,
                    "shift": shift,
                    "importance": None,
                    "ci_low": None,
                    "ci_high": None,
                    "rank": None,
                    "n_features": n_features,
                    "used": None,
                    "sentence": f"{feature} shifted ({shift}); {model} has no importance for it",
                }
            )
            continue
        mean, low, share = found["mean"], found["ci_low"], found["share"]
        used = bool(mean > 0 and (low is None or low > 0) and share is not None and share >= USED_SHARE)
        amount = f"importance {mean:.3g} {metric}"
        if used:
            sentence = (
                f"{feature} shifted ({shift}) and is {_ordinal(int(found['rank']))} of {model} "
                f"({amount}): expect the test score to move"
            )
        else:
            sentence = (
                f"{feature} shifted ({shift}) but the model hardly uses it ({amount}, "
                f"rank {int(found['rank'])} of {n_features} in {model})"
            )
        out.append(
            {
                "feature": feature,
                "shift": shift,
                "importance": mean,
                "ci_low": low,
                "ci_high": found["ci_high"],
                "rank": int(found["rank"]),
                "n_features": n_features,
                "used": used,
                "sentence": sentence,
            }
        )
    out.sort(key=lambda r: (r["importance"] is None, -(r["importance"] or 0.0)))
    return out
