"""The report's tuning section: default vs tuned, optimisation history, parameter importances.

Built from the results table and the stored trials (:meth:`mlbench.reader.Run.trials`), per
dataset:

* **default vs tuned**: each tuned model against the same model untuned (its label without
  ``tuned``), paired per test fold on the primary metric. The interval of the mean difference is
  the Nadeau-Bengio corrected resampled t (:func:`mlbench.analysis.intervals.corrected_t_interval`)
  over the per-fold differences: it assumes the differences are roughly normal and that the
  correlation the overlapping training folds induce between them is covered by the
  ``n_test/n_train`` variance correction (a heuristic, slightly conservative; plain t over folds
  would be too narrow). It needs k-fold resampling (two or more folds); one test split gives the
  difference without an interval.
* **optimisation history** of the best tuned model (best test score among the tuned models): the
  best validation value after each trial, per fold and averaged over folds.
* **parameter importances** of the same model: Optuna's ``get_param_importances`` (fANOVA, seeded)
  on each fold's study rebuilt from the store, averaged over folds.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["CI_NOTE", "params_text", "tuning_sections", "untuned_label"]

CI_NOTE = (
    "95% interval of the mean per-fold difference (tuned minus default, oriented so that positive "
    "means tuning helped): Nadeau-Bengio corrected resampled t over the paired folds; it assumes "
    "roughly normal fold differences and that the n_test/n_train correction covers the correlation "
    "of overlapping training folds."
)


def untuned_label(label: str) -> str | None:
    """The label of the same model untuned: ``knn(tuned)`` -> ``knn``, ``knn(p=1, tuned)`` -> ``knn(p=1)``."""
    if label.endswith("(tuned)"):
        return label[: -len("(tuned)")]
    if label.endswith(", tuned)"):
        return label[: -len(", tuned)")] + ")"
    return None


def tuning_sections(
    ok: pd.DataFrame, trials: pd.DataFrame | None, primary: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """Dataset name -> its tuning section (datasets without a tuned model are left out).

    Parameters
    ----------
    ok : pandas.DataFrame
        Results rows (any status; only ``ok`` rows are used) with ``best_params_json`` set on
        tuned jobs.
    trials : pandas.DataFrame or None
        :meth:`mlbench.reader.Run.trials`.
    primary : dict
        Dataset name -> the metric it is judged on.

    Returns
    -------
    dict
        Per dataset: ``metric``, ``greater_is_better``, ``pairs`` (one per tuned model: ``tuned``,
        ``default``, ``n_folds``, ``default_mean``, ``tuned_mean``, ``diff_mean`` (positive:
        tuning helped), ``ci_low``/``ci_high``, ``wins``/``losses``/``ties`` (folds),
        ``mean_trials``, ``mean_tune_seconds``, ``params``: the tuned parameters each fold's study
        chose at that size (:func:`params_text`), ``sentence``:
        :func:`mlbench.report.sentences.tuning_sentence` of the row), ``ci_note``, ``best`` (the best tuned model),
        ``history`` (``metric``, ``greater_is_better``, ``folds``: best value after each trial per
        fold, ``mean``), ``importances`` (parameter -> mean importance, largest first) and
        ``importance_note``, ``best_params`` (per fold: the best parameters of the best model).
    """
    if "best_params_json" not in ok.columns:
        return {}
    from mlbench.report.sentences import tuning_sentence
    from mlbench.report.values import greater_is_better

    rows = ok[ok["status"] == "ok"]
    tuned_rows = rows[rows["best_params_json"].notna()]
    out: dict[str, dict[str, Any]] = {}
    for dataset, part in rows.groupby("dataset", sort=True):
        metric = primary.get(str(dataset))
        col = f"test_{metric}"
        tuned_part = tuned_rows[tuned_rows["dataset"] == dataset]
        if tuned_part.empty or metric is None or col not in part.columns:
            continue
        greater = greater_is_better(metric)
        untuned = set(part.loc[part["best_params_json"].isna(), "model"])
        pairs = [
            _pair(part, str(label), metric, greater)
            for label in sorted(tuned_part["model"].unique())
            if untuned_label(str(label)) in untuned
        ]
        for p in pairs:
            p["sentence"] = tuning_sentence(p, metric)
        # the best tuned model, its history and importances: at the dataset's largest training size
        # (scores at different sizes are not comparable, nor are studies on different row counts)
        tuned_part = tuned_part[tuned_part["train_size"] == _largest_size(tuned_part)]
        best, best_by = _best_tuned(tuned_part, col, greater)
        section: dict[str, Any] = {
            "metric": metric,
            "greater_is_better": greater,
            "pairs": pairs,
            "ci_note": CI_NOTE,
            "best": best,
            "best_by": best_by,
            "history": None,
            "importances": None,
            "importance_note": None,
            "best_params": None,
        }
        if best is not None and trials is not None and len(trials):
            jobs = tuned_part[tuned_part["model"] == best]
            best_trials = trials[trials["job_id"].isin(set(jobs["job_id"]))]
            section["history"] = _history(jobs, best_trials)
            section["importances"], section["importance_note"] = _importances(jobs, best_trials)
            section["best_params"] = best_params_table(jobs)
        out[str(dataset)] = section
    return out


def _best_tuned(tuned: pd.DataFrame, col: str, greater: bool) -> tuple[str | None, str]:
    """The tuned model whose history is shown, and how it was chosen.

    By the mean best validation value of its studies when every tuned model optimised the same
    metric (selection on validation rows; the test fold stays for scoring), else by mean test score,
    and the caption says so.
    """
    metrics = tuned["tune_metric"].dropna().unique() if "tune_metric" in tuned else []
    if len(metrics) == 1 and "tune_best_value" in tuned:
        from mlbench.report.values import greater_is_better

        means = tuned.groupby("model")["tune_best_value"].mean().dropna()
        if not means.empty:
            up = greater_is_better(str(metrics[0]))
            return str(means.idxmax() if up else means.idxmin()), f"best validation {metrics[0]}"
    means = tuned.groupby("model")[col].mean().dropna()
    if means.empty:
        return None, ""
    return str(means.idxmax() if greater else means.idxmin()), "highest mean test score"


def _largest_size(rows: pd.DataFrame) -> Any:
    """The train size with the most training rows (a fraction 1.0 of 1,347 rows beats a count of 100).

    Sizes are written as counts or fractions, so they are ordered by the rows their jobs trained on.
    """
    if rows.empty:
        return None
    by_rows = rows.groupby("train_size")["n_train"].mean() if "n_train" in rows else None
    if by_rows is None or by_rows.isna().all():
        return max(rows["train_size"])
    return by_rows.idxmax()


def _pair(part: pd.DataFrame, tuned: str, metric: str, greater: bool) -> dict[str, Any]:
    """A tuned model against its default, paired per (train size, fold) at the largest common size."""
    from mlbench.analysis.intervals import corrected_t_interval

    default = untuned_label(tuned)
    col = f"test_{metric}"
    a = part[part["model"] == default]
    b = part[part["model"] == tuned]
    common = set(a["train_size"]) & set(b["train_size"])
    size = _largest_size(b[b["train_size"].isin(common)])
    a, b = a[a["train_size"] == size], b[b["train_size"] == size]
    # sweep repeats share their fold's test rows: averaged within the fold first
    fa = a.groupby("fold")[col].mean()
    fb = b.groupby("fold")[col].mean()
    folds = sorted(set(fa.dropna().index) & set(fb.dropna().index))
    diff = np.array([fb[f] - fa[f] for f in folds], dtype=float) * (1.0 if greater else -1.0)
    n_test = float(b["n_test"].mean()) if "n_test" in b else math.nan
    n_train = float(b["n_train"].mean()) if "n_train" in b else math.nan
    low, high = corrected_t_interval(diff, n_test, n_train) if len(diff) >= 2 else (math.nan, math.nan)
    return {
        "tuned": tuned,
        "default": default,
        "train_size": size,
        "n_folds": len(folds),
        "default_mean": float(fa[folds].mean()) if folds else None,
        "tuned_mean": float(fb[folds].mean()) if folds else None,
        "diff_mean": float(diff.mean()) if len(diff) else None,
        "ci_low": low,
        "ci_high": high,
        "wins": int((diff > 0).sum()),
        "losses": int((diff < 0).sum()),
        "ties": int((diff == 0).sum()),
        "mean_trials": float(b["n_trials"].mean()) if "n_trials" in b else None,
        "mean_tune_seconds": float(b["tune_seconds"].mean()) if "tune_seconds" in b else None,
        "params": params_text(b),
    }


def params_text(jobs: pd.DataFrame) -> list[str]:
    """The parameters a tuned model's studies chose, one ``name=value`` line per parameter.

    Values that differ between folds are listed per fold (``C=0.31 (fold 0), 2.1 (fold 1)``), so the
    table shows what was tuned without hiding that the folds disagreed.
    """
    if "best_params_json" not in jobs.columns:
        return []
    found: dict[str, list[tuple[int, Any]]] = {}
    for job in jobs.sort_values(["fold", "repeat"] if "repeat" in jobs else ["fold"]).itertuples():
        text = getattr(job, "best_params_json", None)
        if not isinstance(text, str) or not text:
            continue
        try:
            params = json.loads(text)
        except ValueError:
            continue
        for name, value in (params or {}).items():
            found.setdefault(str(name), []).append((int(job.fold), value))
    lines = []
    for name, values in sorted(found.items()):
        shown = [_value_text(v) for _, v in values]
        if len(set(shown)) == 1:
            lines.append(f"{name}={shown[0]}")
        else:
            per = ", ".join(f"{t} (fold {f})" for (f, _), t in zip(values, shown, strict=True))
            lines.append(f"{name}={per}")
    return lines


def _value_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _tune_direction(jobs: pd.DataFrame) -> tuple[str | None, bool]:
    from mlbench.report.values import greater_is_better

    names = jobs["tune_metric"].dropna().unique() if "tune_metric" in jobs else []
    metric = str(names[0]) if len(names) else None
    return metric, (greater_is_better(metric) if metric else True)


def _history(jobs: pd.DataFrame, trials: pd.DataFrame) -> dict[str, Any] | None:
    """Best validation value after each trial (completed trials only), per fold and on average."""
    metric, greater = _tune_direction(jobs)
    folds = []
    for job in jobs.sort_values(["fold", "repeat"]).itertuples():
        values = trials[trials["job_id"] == job.job_id].sort_values("number")
        best: float | None = None
        curve: list[float | None] = []
        for state, value in zip(values["state"], values["value"], strict=True):
            if state == "complete" and value is not None and math.isfinite(value):
                best = value if best is None else (max(best, value) if greater else min(best, value))
            curve.append(best)
        if curve:
            folds.append(curve)
    if not folds:
        return None
    n = max(len(c) for c in folds)
    mean = []
    for i in range(n):
        at = [c[i] for c in folds if i < len(c) and c[i] is not None]
        mean.append(float(np.mean(at)) if at else None)
    return {"metric": metric, "greater_is_better": greater, "folds": folds, "mean": mean}


def _importances(jobs: pd.DataFrame, trials: pd.DataFrame) -> tuple[dict[str, float] | None, str]:
    """Optuna's parameter importances per fold's study (rebuilt from the store), averaged."""
    try:
        import optuna
        from optuna.distributions import json_to_distribution
        from optuna.importance import FanovaImportanceEvaluator, get_param_importances
    except ImportError:
        return None, "parameter importances need Optuna: install mlbench[tune]"
    _, greater = _tune_direction(jobs)
    totals: dict[str, list[float]] = {}
    used = 0
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for _, part in trials.groupby("job_id", sort=True):
        done = part[part["state"] == "complete"]
        if len(done) < 2 or any(not d for d in done["distributions"]):
            continue
        study = optuna.create_study(direction="maximize" if greater else "minimize")
        for row in done.itertuples():
            dists = {k: json_to_distribution(v) for k, v in row.distributions.items()}
            study.add_trial(
                optuna.trial.create_trial(params=row.params, distributions=dists, value=float(row.value))
            )
        try:
            found = get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=0))
        except (ValueError, RuntimeError):
            continue  # e.g. every trial with the same parameters
        used += 1
        for name, value in found.items():
            totals.setdefault(name, []).append(float(value))
    if not used:
        return None, "no fold's study had two completed trials with stored search spaces"
    mean = {name: float(np.sum(v)) / used for name, v in totals.items()}
    ordered = dict(sorted(mean.items(), key=lambda kv: -kv[1]))
    note = (
        f"Optuna's get_param_importances (fANOVA, seed 0) of each fold's study, averaged over {used} "
        "folds: the share of the variance of the validation score each parameter explains."
    )
    return ordered, note


def best_params_table(jobs: pd.DataFrame) -> list[dict[str, Any]]:
    """Per fold, the best parameters a tuned model's study found (for tables and exports)."""
    out = []
    for job in jobs.sort_values("fold").itertuples():
        out.append({"fold": int(job.fold), "params": json.loads(job.best_params_json)})
    return out
