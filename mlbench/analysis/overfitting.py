"""Overfitting checks: pure functions from a run's results table to flags and curves.

Four checks, each per model x dataset x training size, each with a stated threshold and what it
assumes (:data:`ASSUMPTIONS`, shown by the report; the README's "Overfitting checks" has the
false-flag rates measured on the builtin datasets):

``underfitting``
    Has the model learned its training rows at all? Its training score on the dataset's bounded
    measure (below) against the baseline's, the score of always predicting the majority class
    (``DummyClassifier(strategy="prior")``) or the training mean (``DummyRegressor``): the share
    of the way from the baseline's training score to a perfect one that the model covers,
    ``(train - baseline) / (best - baseline)``. Flagged when below ``0.2``
    (:data:`UNDERFITTING_THRESHOLD`). The baseline comes from the run's ``dummy`` jobs at the same
    training size when there are some, else from the dataset's training labels (``labels``). An
    underfitting model's other checks are "not judged": a gap between a poor training score and a
    poor test score is not overfitting, and its remedy is more capacity, more epochs or a higher
    learning rate, never less capacity.
``degradation``
    The train-to-test gap on a bounded scale, ``train - test`` in points of the dataset's bounded
    measure: accuracy (or balanced accuracy, ROC AUC, macro F1) for classification, R² for
    regression (or, when a suite scores no R², ``1 - (rmse / baseline rmse)^2`` and ``1 - mae /
    baseline mae``, the same skill against the baseline). The suite's primary metric is used when
    it is one of accuracy, balanced accuracy or R². A loss is never divided by a training loss
    near zero. Flagged when the gap exceeds ``0.1`` (:data:`DEGRADATION_THRESHOLD`) plus
    ``1.645`` standard errors of one fold's test score (:data:`NOISE_Z`; binomial for accuracy-type
    scores, ``(1 - R²) * sqrt(2 / n_test)`` for R²-type ones): on a small test set a gap that noise
    can explain is "within noise", not a flag.
``boosting``
    Test score of an ensemble's first ``k`` members at up to 20 geometrically spaced ``k`` along
    its ``n_estimators`` (stored by the job as ``staged_json``: ``iteration_range`` for XGBoost,
    the mean of the first ``k`` trees for a random forest; no refit), averaged over the group's
    jobs. Flagged when the last is worse than the best by more than 5% of ``|best|``. Jobs whose
    models have different numbers of members (tuned per fold, or early stopping) make one curve:
    each is read on the union of their ``k`` (linear in ``log k`` between its own points, and its
    last score past its last ``k``, where the model predicts with all its members). With XGBoost
    early stopping the curve ends at ``best_iteration + 1``, the rounds the model predicts with,
    and the check is recorded as passed (already remedied) with the stopping point.
``val_loss``
    Deep models: the held-out loss per epoch (``history_json``: the early-stopping rows, or the
    validation split when it is held out of training with ``fit_on_val: false``), read per fold.
    A fold fails when its final loss is more than 10% above its minimum, ``(final - min) /
    |min|``, and it kept its last weights; a fold whose early stopping restored the best epoch's
    weights passes (already remedied). Flagged when more than half of the group's folds fail; the
    message quotes one fold, the one at the middle of the folds ordered by their unremedied rise
    (:func:`quoted_curve`), and the report draws that fold.

Every row has a ``verdict`` (:data:`VERDICTS`): ``overfitting`` and ``underfitting`` are the flags
(``flagged``), with the family's remedy; ``shift`` is a gap over its threshold on a dataset whose
train/test mismatch check is flagged (:func:`shifts`), where the gap may come from the shift and the
model is not blamed; ``within noise``, ``remedied``, ``not judged`` and ``passed`` are not flagged.

Each family's facts come from its :class:`mlbench.models.ModelInfo`, not from tables here: the
remedy a flagged check suggests for the model's task (``ModelInfo.remedy``) and the parameters
that set its capacity (``capacity_params``). A family the registry does not know (a plugin not
imported in this process) gets the generic remedies (:data:`GENERIC_REMEDIES`) and no capacity
curve.

The capacity curve (:func:`capacity_curves`) reads a model entry's ``grid:`` over a capacity
parameter (``max_depth``, ``n_estimators``, ``hidden_sizes``, timm ``arch``, ...) and says where
more capacity stops helping: at the smallest capacity whose mean test score is within one
standard error of the best one's (the "one-standard-error rule", Breiman et al. 1984; the standard
error is the best configuration's standard deviation over its jobs divided by the square root of
their number; with a single job there is no noise estimate and the rule becomes "the smallest
capacity reaching the best score").
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlbench.models.base import Remedy

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "ASSUMPTIONS",
    "BASELINE_FAMILY",
    "BOOSTING_THRESHOLD",
    "DEGRADATION_THRESHOLD",
    "FLAG_COLUMNS",
    "GENERIC_REMEDIES",
    "NOISE_Z",
    "REMEDY_NOTES",
    "UNDERFITTING_THRESHOLD",
    "VAL_LOSS_THRESHOLD",
    "VERDICTS",
    "baseline_scores",
    "capacity_curves",
    "capacity_params",
    "checks",
    "family_of",
    "flags",
    "history_of",
    "loss_curves",
    "quoted_curve",
    "relative_worsening",
    "remedy_options",
    "run_checks",
    "run_labels",
    "shifts",
    "staged_curves",
]

#: ``train - test`` in points of the bounded measure above this (plus the noise allowance) is flagged.
DEGRADATION_THRESHOLD = 0.1
#: ``(best - last) / |best|`` along ``n_estimators`` above this is flagged (deepchecks BoostingOverfit).
BOOSTING_THRESHOLD = 0.05
#: ``(final - min) / |min|`` of a fold's held-out loss above this fails the fold (kept weights only).
VAL_LOSS_THRESHOLD = 0.1
#: A training score covering less than this share of the way from the baseline's to a perfect
#: score is underfitting.
UNDERFITTING_THRESHOLD = 0.2
#: Standard errors of one fold's test score added to the degradation threshold (one-sided 95%).
NOISE_Z = 1.645
#: The registry name of the baseline model whose jobs give the underfitting check its baseline.
BASELINE_FAMILY = "dummy"

FLAG_COLUMNS = [
    "dataset",
    "model",
    "train_size",
    "n_train",
    "kind",
    "metric",
    "value",
    "threshold",
    "flagged",
    "n_jobs",
    "message",
    "remedy",
    "option",
    "verdict",
    "allowance",
    "fold",
    "shift",
]

#: What a row's ``verdict`` says; the first two are the flags.
VERDICTS: dict[str, str] = {
    "overfitting": "over its threshold: the model fits its training rows' noise (remedy)",
    "underfitting": "the training score is near the baseline's: the model has not learned its training rows (remedy)",
    "shift": "over its threshold on a dataset whose train/test mismatch check is flagged: the gap may come from the shift",
    "within noise": "over the threshold, but not by more than the test set's noise",
    "remedied": "early stopping already keeps the best point",
    "not judged": "the model is underfitting: a train-test gap is not overfitting there",
    "passed": "under its threshold",
}

#: What each check assumes (the report prints these beside the table).
ASSUMPTIONS: dict[str, str] = {
    "underfitting": (
        "the baseline (always the majority class / the training mean) is what a model that learned "
        "nothing scores on its training rows; taken from the run's dummy jobs at the same size, else "
        "from the dataset's training labels"
    ),
    "degradation": (
        "the training score is in-sample and the test rows are independent draws like the training "
        "rows; the allowance is 1.645 standard errors of one fold's test score (binomial for "
        "accuracy-type scores, (1 - R²)·sqrt(2/n) for R²), so a fold mean is judged conservatively"
    ),
    "boosting": (
        "the test rows are the same at every k (a paired comparison); the best of 20 noisy points "
        "is biased upwards, so a small test set can show a decline of a few percent by chance"
    ),
    "val_loss": (
        "the held-out rows are validation rows drawn from the training data; a fold fails only with "
        "its last weights kept; the flag needs more than half the folds"
    ),
}

#: The remedies the report lays side by side, in this order, each with what applies it whatever
#: the family (a family's own options come from its ``ModelInfo.remedies``; a remedy a family
#: names that is not here is listed after these).
REMEDY_NOTES: dict[str, str] = {
    "early stopping": "",
    "fewer parameters": "a grid over a capacity parameter draws the capacity curve: grid: {max_depth: [2, 4, 8, null]}",
    "dropout": "",
    "augmentation": "",
    "more data": "sweep: {train_sizes: [0.25, 0.5, 1.0]} (does the learning curve still rise?)",
    "more capacity": "a larger model; a grid over a capacity parameter shows how much helps",
    "more epochs": "min_steps guarantees optimiser steps; a higher lr is the other lever",
}

#: The remedy of each check for a family that names none for it (or that the registry does not
#: know), and for a model whose label already sets its family's option.
GENERIC_REMEDIES: dict[str, Remedy] = {
    "degradation": Remedy("more data", "sweep: {train_sizes: [0.25, 0.5, 1.0]}"),
    "boosting": Remedy("fewer parameters", "n_estimators"),
    "val_loss": Remedy("early stopping", "early_stopping: 10"),
    # no option is valid for every family: the report shows the note of "more capacity"
    "underfitting": Remedy("more capacity", ""),
}

#: Bounded scores read directly as points, per task, in order of preference.
_POINT_METRICS = {
    "classification": ("accuracy", "balanced_accuracy", "roc_auc", "f1_macro"),
    "regression": ("r2",),
}
#: Scores that are shares of test rows (one row moves them by 1/n): the boosting check's noise floor.
_ROW_SHARES = ("accuracy", "balanced_accuracy")
#: Regression losses turned into a skill score against the baseline (power: 2 for rmse, as R²).
_SKILL_METRICS = {"rmse": 2, "mae": 1}
#: The perfect score of each bounded measure (skill scores: 1 too).
_BEST = 1.0
_BASELINE_WORDS = {"classification": "always the majority class", "regression": "always the training mean"}
_SHIFT_WORDS = {
    "test_file": "its test file differs from its training data",
    "cv_fold_0": "its rows are not exchangeable (a random CV fold's test rows differ from its training rows)",
}
_ORDER = {"underfitting": 0, "degradation": 1, "boosting": 2, "val_loss": 3}


def _family(name: str) -> Any:
    """The registered :class:`mlbench.models.ModelInfo` of a family, or None when unknown here."""
    from mlbench.models import MODELS

    return MODELS.get(name) if name in MODELS else None


def capacity_params(family: str) -> tuple[str, ...]:
    """The parameters that set a family's capacity (``ModelInfo.capacity_params``).

    Parameters
    ----------
    family : str
        A registry name; a family the registry does not know has none.
    """
    info = _family(family)
    return tuple(info.capacity_params) if info is not None else ()


def remedy_options() -> dict[str, str]:
    """Each remedy, in the report's order, with the suite options that apply it.

    The options are those of every registered family's ``ModelInfo.remedies`` (by family name,
    every task type), then the remedy's generic note (:data:`REMEDY_NOTES`).

    Returns
    -------
    dict of str to str
        Remedy name -> options joined by ``"; "``.
    """
    from mlbench.models import MODELS

    options: dict[str, list[str]] = {name: [] for name in REMEDY_NOTES}
    for name in MODELS.names():
        info = MODELS.get(name)
        for kind in info.remedies:
            for task in info.task_types:
                remedy = info.remedy(kind, task)
                if remedy is None:
                    continue
                listed = options.setdefault(remedy.remedy, [])
                if remedy.option and remedy.option not in listed:
                    listed.append(remedy.option)
    notes = {name: [REMEDY_NOTES[name]] if REMEDY_NOTES.get(name) else [] for name in options}
    return {name: "; ".join([*listed, *notes[name]]) for name, listed in options.items()}


def relative_worsening(reference: float, other: float, greater_is_better: bool) -> float:
    """How much worse ``other`` is than ``reference``, relative to ``|reference|``.

    Used along a curve (the boosting check's best and last test scores, the held-out loss's
    minimum and last), never between a training and a test score (see the degradation check).

    Parameters
    ----------
    reference, other : float
        Scores on one metric (best and last).
    greater_is_better : bool
        The metric's direction; for lower-is-better metrics the sign flips, so a positive result
        always means ``other`` is worse.

    Returns
    -------
    float
        ``(reference - other) / |reference|`` (higher is better) or ``(other - reference) /
        |reference|`` (lower is better); ``inf`` when ``reference == 0`` and ``other`` is worse,
        ``0.0`` when both are 0, NaN when either is missing.
    """
    if reference is None or other is None or not (math.isfinite(reference) and math.isfinite(other)):
        if reference is not None and other is not None and math.isfinite(reference) and not math.isnan(other):
            # a test loss of +inf after a finite one is as bad as it gets
            worse = other < reference if greater_is_better else other > reference
            return math.inf if worse else 0.0
        return math.nan
    diff = (reference - other) if greater_is_better else (other - reference)
    if reference == 0:
        return math.inf if diff > 0 else 0.0
    return diff / abs(reference)


def family_of(label: str, families: Mapping[str, str] | None = None) -> str:
    """The registry name of a model label (``xgboost(max_depth=3)`` -> ``xgboost``)."""
    if families and label in families:
        return str(families[label])
    return str(label).split("(", 1)[0].strip()


def _first_key(option: str) -> str:
    return option.split("{", 1)[-1].split(":", 1)[0].strip() if "{" in option else ""


def _remedy(family: str, kind: str, label: str = "", task_type: str = "") -> Remedy:
    """The remedy of a check for a model on its task; "more data" when the model already sets its option.

    (A ``decision_tree(max_depth=1)`` that still degrades is not helped by ``max_depth: 5``; an
    underfitting one is helped by lifting the limit, so that kind keeps its option.)
    """
    info = _family(family)
    remedy = info.remedy(kind, task_type) if info is not None else None
    remedy = remedy or GENERIC_REMEDIES[kind]
    key = _first_key(remedy.option)
    if kind != "underfitting" and key and f"{key}=" in label:
        return GENERIC_REMEDIES["degradation"]
    return remedy


def _greater(metric: str) -> bool:
    from mlbench.metrics import METRICS

    return METRICS.get(metric).greater_is_better if metric in METRICS else True


def _task_of(metric: str | None) -> str:
    from mlbench.metrics import METRICS

    return METRICS.get(metric).task_type if metric and metric in METRICS else ""


def _ok(results: pd.DataFrame) -> pd.DataFrame:
    ok = results[results["status"] == "ok"] if "status" in results.columns else results
    if "ensemble" in ok.columns:
        ok = ok[ok["ensemble"].isna()]  # built from stored predictions: no model of their own to fix
    return ok


def _size_key(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def _n_train(rows: pd.DataFrame) -> float | None:
    """Mean training rows of a group (train sizes mix fractions and counts; rows compare)."""
    import pandas as pd

    if "n_train" not in rows.columns:
        return None
    n = pd.to_numeric(rows["n_train"], errors="coerce").dropna()
    return float(n.mean()) if len(n) else None


def _groups(ok: pd.DataFrame) -> Any:
    """(dataset, model, train_size) groups; a missing train size is its own group."""
    keyed = ok.assign(_size=ok["train_size"].map(_size_key).fillna(-1.0) if "train_size" in ok else -1.0)
    for (dataset, model, size), part in keyed.groupby(["dataset", "model", "_size"], sort=True):
        yield str(dataset), str(model), (None if size == -1.0 else float(size)), part


def _task_type(part: pd.DataFrame, metric: str | None) -> str:
    if "task_type" in part.columns:
        known = [str(t) for t in part["task_type"] if isinstance(t, str) and t]
        if known:
            return known[0]
    return _task_of(metric)


def _fmt(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:.3g}"


def _fold_words(fold: float | None, repeat: float | None) -> str:
    if fold is None:
        return "the job"
    words = f"fold {int(fold)}"
    return f"{words}, repeat {int(repeat)}" if repeat else words


# ------------------------------------------------------------------------------ baselines, shift


def baseline_scores(y: Any, task_type: str) -> dict[str, float]:
    """The training scores of the baseline on labels ``y``, per bounded measure.

    The baseline predicts without looking at the features: the majority class
    (``DummyClassifier(strategy="prior")``, whose labels are the majority class) or the mean
    (``DummyRegressor(strategy="mean")``). Used by the underfitting check when the run has no
    ``dummy`` jobs, and by the degradation check to turn rmse/mae into a skill score.

    Parameters
    ----------
    y : array-like
        Training labels: class codes, or regression targets.
    task_type : {"classification", "regression"}

    Returns
    -------
    dict of str to float
        Classification: ``accuracy`` (the majority class's share), ``balanced_accuracy`` (1/k),
        ``f1_macro`` (``2p / (1 + p) / k``), ``roc_auc`` (0.5). Regression: ``r2`` (0), ``rmse``
        (the labels' standard deviation), ``mae`` (their mean absolute deviation from the mean).
        Empty when ``y`` has too few values.
    """
    import numpy as np
    import pandas as pd

    values = np.asarray(y)
    if task_type == "classification":
        _, counts = np.unique(values[~pd.isna(values)], return_counts=True)
        if counts.sum() == 0:
            return {}
        k, p = len(counts), float(counts.max() / counts.sum())
        return {"accuracy": p, "balanced_accuracy": 1.0 / k, "f1_macro": 2 * p / (1 + p) / k, "roc_auc": 0.5}
    v = values.astype(float)
    v = v[np.isfinite(v)]
    if len(v) < 2:
        return {}
    return {"r2": 0.0, "rmse": float(v.std()), "mae": float(np.abs(v - v.mean()).mean())}


def shifts(diagnostics: pd.DataFrame | None) -> dict[str, tuple[str, ...]]:
    """The datasets whose train/test mismatch check is flagged, with the comparisons that flag them.

    Parameters
    ----------
    diagnostics : pandas.DataFrame or None
        :meth:`mlbench.reader.Run.diagnostics` (its ``verdict`` rows are read; the latest per
        dataset and comparison).

    Returns
    -------
    dict
        Dataset -> the flagged comparisons (``test_file``: its own test file differs from its
        training data; ``cv_fold_0``: a random fold's test rows differ from its training rows).
    """
    if diagnostics is None or len(diagnostics) == 0:
        return {}
    if not {"dataset", "comparison", "check", "flagged"} <= set(diagnostics.columns):
        return {}
    verdicts = diagnostics[diagnostics["check"] == "verdict"]
    latest: dict[tuple[str, str], bool] = {}
    for dataset, comparison, flagged in zip(
        verdicts["dataset"], verdicts["comparison"], verdicts["flagged"], strict=True
    ):
        latest[(str(dataset), str(comparison))] = bool(flagged) and flagged == flagged  # NaN is not flagged
    out: dict[str, tuple[str, ...]] = {}
    for (dataset, comparison), flagged in sorted(latest.items()):
        if flagged:
            out[dataset] = (*out.get(dataset, ()), comparison)
    return out


@dataclass
class _Context:
    """What every check of one table needs besides its rows."""

    families: Mapping[str, str] | None
    shifts: Mapping[str, Sequence[str]]
    underfit: set[tuple[str, str, float | None]] = field(default_factory=set)

    def shift_note(self, dataset: str, kind: str) -> str | None:
        """Why a row of ``kind`` on ``dataset`` may show a shift rather than overfitting (None: it cannot)."""
        flagged = list(self.shifts.get(dataset, ()))
        if not flagged:
            return None
        if kind == "val_loss" and "cv_fold_0" not in flagged:
            return None  # validation rows come from the training data: a test file's shift is not in them
        words = "; ".join(_SHIFT_WORDS.get(c, c) for c in flagged)
        return f"the train/test mismatch check flags this dataset ({words}): the gap may come from that shift, not from the model"


def _row(
    ctx: _Context,
    *,
    dataset: str,
    model: str,
    size: float | None,
    n_train: float | None,
    kind: str,
    metric: str,
    value: float,
    threshold: float,
    n_jobs: int,
    message: str,
    task_type: str,
    verdict: str,
    allowance: float = 0.0,
    fold: str | None = None,
) -> dict[str, Any]:
    note = ctx.shift_note(dataset, kind) if kind != "underfitting" else None
    if note is not None:
        message = f"{message}; {note}"
        if verdict in ("overfitting", "within noise"):
            verdict = "shift" if verdict == "overfitting" else verdict
    if (
        kind != "underfitting"
        and (dataset, model, size) in ctx.underfit
        and verdict
        in (
            "overfitting",
            "shift",
            "within noise",
        )
    ):
        verdict = "not judged"
        message = (
            f"{message}; not judged: the model is underfitting (its training score is near the baseline's)"
        )
    remedy, option = _remedy(family_of(model, ctx.families), kind, model, task_type)
    return {
        "dataset": dataset,
        "model": model,
        "train_size": size,
        "n_train": n_train,
        "kind": kind,
        "metric": metric,
        "value": value,
        "threshold": threshold,
        "flagged": verdict in ("overfitting", "underfitting"),
        "n_jobs": n_jobs,
        "message": message,
        "remedy": remedy,
        "option": option,
        "verdict": verdict,
        "allowance": allowance,
        "fold": fold,
        "shift": note is not None,
    }


# ------------------------------------------------------------------- underfitting, degradation


def _is_baseline(label: str, families: Mapping[str, str] | None) -> bool:
    return family_of(label, families) == BASELINE_FAMILY


def _dummy_scores(ok: pd.DataFrame) -> dict[tuple[str, float | None], dict[str, tuple[float, float]]]:
    """(dataset, train size) -> metric -> the dummy jobs' mean (train, test) score."""
    import pandas as pd

    out: dict[tuple[str, float | None], dict[str, tuple[float, float]]] = {}
    for dataset, _, size, part in _groups(ok):
        scores = out.setdefault((dataset, size), {})
        for col in part.columns:
            if not col.startswith("train_"):
                continue
            metric = col.removeprefix("train_")
            train = pd.to_numeric(part[col], errors="coerce").dropna()
            test = (
                pd.to_numeric(part[f"test_{metric}"], errors="coerce").dropna()
                if f"test_{metric}" in part
                else train.iloc[:0]
            )
            if len(train):
                scores[metric] = (
                    float(train.mean()),
                    float(test.mean()) if len(test) else float(train.mean()),
                )
    return out


@dataclass
class _Baselines:
    dummies: dict[tuple[str, float | None], dict[str, tuple[float, float]]]
    labels: dict[str, dict[str, float]]

    def get(self, dataset: str, size: float | None, metric: str) -> tuple[float, float, str] | None:
        """(train, test, source) of the baseline's score, or None when unknown."""
        mine = self.dummies.get((dataset, size), {}).get(metric)
        if mine is not None and math.isfinite(mine[0]):
            return mine[0], mine[1], "the dummy model's jobs at this size"
        if metric in self.labels.get(dataset, {}):
            v = self.labels[dataset][metric]
            return v, v, "from the dataset's training labels"
        for (ds, _), scores in sorted(self.dummies.items(), key=lambda kv: -(kv[0][1] or 0.0)):
            if ds == dataset and metric in scores and math.isfinite(scores[metric][0]):
                return scores[metric][0], scores[metric][1], "the dummy model's jobs at another size"
        return None


def _measure(part: pd.DataFrame, task: str, primary: str, baseline: Any) -> dict[str, Any] | None:
    """The group's scores on the dataset's bounded measure (see the module docstring)."""
    import numpy as np
    import pandas as pd

    order = [primary] if primary in ("accuracy", "balanced_accuracy", "r2") else []
    order += [m for m in _POINT_METRICS.get(task, ()) if m not in order]
    if task == "regression":
        order += list(_SKILL_METRICS)
    for metric in order:
        if f"train_{metric}" not in part or f"test_{metric}" not in part:
            continue
        train = pd.to_numeric(part[f"train_{metric}"], errors="coerce")
        test = pd.to_numeric(part[f"test_{metric}"], errors="coerce")
        both = np.isfinite(train) & np.isfinite(test)
        if not both.any():
            continue
        base = baseline(metric)
        if metric in _SKILL_METRICS:
            if base is None or not (base[0] > 0 and base[1] > 0):
                continue  # no baseline loss to measure against: try the next measure
            power = _SKILL_METRICS[metric]
            train, test = 1 - (train / base[0]) ** power, 1 - (test / base[1]) ** power
            words = (
                f"{metric} as R² against the baseline (1 - ({metric} / baseline {metric})²)"
                if power == 2
                else f"{metric} as skill against the baseline (1 - {metric} / baseline {metric})"
            )
            base_train: float | None = 0.0
        else:
            words = metric
            base_train = None if base is None else base[0]
        n_test = (
            pd.to_numeric(part.loc[both, "n_test"], errors="coerce").dropna() if "n_test" in part else None
        )
        return {
            "metric": metric,
            "words": words,
            "bounded_like": "r2" if task == "regression" else "proportion",
            "train": float(train[both].mean()),
            "test": float(test[both].mean()),
            "n_jobs": int(both.sum()),
            "base_train": base_train,
            "base_source": None if base is None else base[2],
            "n_test": float(n_test.mean()) if n_test is not None and len(n_test) else None,
        }
    return None


def _test_se(score: float, n: float | None, like: str) -> float | None:
    """Standard error of one fold's test score on ``n`` rows (None: the size is unknown)."""
    if n is None or not n > 0:
        return None
    if like == "proportion":
        p = min(max(score, 0.0), 1.0)
        return math.sqrt(p * (1 - p) / n)
    return (1 - min(score, 1.0)) * math.sqrt(2.0 / n)


def _fit_checks(
    ok: pd.DataFrame, primary: Mapping[str, str], ctx: _Context, baselines: _Baselines
) -> list[dict]:
    """The underfitting and degradation rows (underfitting first: it decides what the rest may say)."""
    under, degr = [], []
    for dataset, model, size, part in _groups(ok):
        metric = primary.get(dataset)
        if metric is None:
            continue
        task = _task_type(part, metric)
        m = _measure(part, task, metric, lambda name, d=dataset, s=size: baselines.get(d, s, name))
        if m is None:
            continue
        tr, te = m["train"], m["test"]
        common = {"dataset": dataset, "model": model, "size": size, "n_train": _n_train(part),
                  "metric": m["metric"], "n_jobs": m["n_jobs"], "task_type": task}  # fmt: skip
        base = m["base_train"]
        if base is not None and _BEST - base > 1e-9:
            progress = (tr - base) / (_BEST - base)
            flagged = progress < UNDERFITTING_THRESHOLD - 1e-12
            message = (
                f"{m['words']}: train {tr:.4g}, baseline {base:.4g} ({_BASELINE_WORDS.get(task, 'the baseline')}, "
                f"{m['base_source']}): the training score covers {100 * progress:.0f}% of the way from the "
                f"baseline to a perfect score (flagged below {100 * UNDERFITTING_THRESHOLD:g}%)"
            )
            if flagged:
                message += ": the model has not learned its training rows, so its gap to the test score is not overfitting"
                ctx.underfit.add((dataset, model, size))
            under.append(_row(ctx, **common, kind="underfitting", value=progress, threshold=UNDERFITTING_THRESHOLD,
                              message=message, verdict="underfitting" if flagged else "passed"))  # fmt: skip
        gap = tr - te
        se = _test_se(te, m["n_test"], m["bounded_like"])
        allowance = NOISE_Z * se if se is not None else 0.0
        noise = (
            f" + {allowance:.3g} for the noise of {m['n_test']:,.0f} test rows"
            if se is not None
            else " (no test-set size recorded: no noise allowance)"
        )
        message = (
            f"{m['words']}: train {tr:.4g}, test {te:.4g}: {gap:.3g} lower on test "
            f"(flagged above {DEGRADATION_THRESHOLD:g}{noise})"
        )
        if gap > DEGRADATION_THRESHOLD + allowance + 1e-12:
            verdict = "overfitting"
        elif gap > DEGRADATION_THRESHOLD + 1e-12:
            verdict = "within noise"
        else:
            verdict = "passed"
        degr.append((common, gap, allowance, message, verdict))
    rows = under
    for common, gap, allowance, message, verdict in degr:  # after every underfitting verdict is known
        rows.append(_row(ctx, **common, kind="degradation", value=gap, threshold=DEGRADATION_THRESHOLD,
                         message=message, verdict=verdict, allowance=allowance))  # fmt: skip
    return rows


# ------------------------------------------------------------------------------------ boosting


def _json(text: Any) -> Any:
    """The value of a stored JSON column: None for a missing or blank cell or text that is not JSON."""
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _staged(text: Any) -> dict[str, Any] | None:
    value = _json(text)
    return value if isinstance(value, dict) and value.get("n_estimators") else None


def _on_grid(sizes: list[int], values: list[Any], grid: list[int]) -> list[float]:
    """One job's staged scores read at every ``k`` of ``grid`` (see the module docstring)."""
    import numpy as np

    v = np.array([np.nan if x is None else float(x) for x in values], float)
    if len(v) != len(sizes) or not len(v):
        return [math.nan] * len(grid)
    logs = np.log(np.asarray(sizes, float))
    out = []
    for k in grid:
        if k >= sizes[-1]:
            out.append(float(v[-1]))  # past its last member the model predicts with all of them
        elif k in sizes:
            out.append(float(v[sizes.index(k)]))
        else:
            out.append(float(np.interp(math.log(k), logs, v)))
    return out


def staged_curves(results: pd.DataFrame, primary: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Mean train and test score along ``n_estimators`` per dataset x model x train size.

    Parameters
    ----------
    results : pandas.DataFrame
        The results table (``staged_json`` column written by the job runner).
    primary : dict, optional
        ``{task_type or dataset: metric}`` (see :func:`mlbench.analysis.primary_metrics`).

    Returns
    -------
    list of dict
        One per dataset x model x train size: ``dataset``, ``model``, ``train_size``,
        ``task_type``, ``metric``, ``n_estimators`` (the union of the jobs' sizes), ``train`` and
        ``test`` (means over the jobs; a job whose model has fewer members is read as in the module
        docstring; None where missing), ``n_jobs``, ``best_index`` (of the best mean test score),
        ``trained`` (most members any job trained, None when not recorded), ``kept`` (each job's
        last size: the members its model predicts with), ``early_stopped`` (every job's model
        predicts with fewer members than it trained: XGBoost early stopping), ``n_test`` (the mean
        test rows of one job, None when not recorded).
    """
    import numpy as np

    if "staged_json" not in results.columns:
        return []
    from mlbench.analysis.tables import primary_metrics

    ok = _ok(results)
    if ok.empty:
        return []
    metrics = primary_metrics(ok, primary=dict(primary) if primary else None)
    ok = ok[ok["staged_json"].map(lambda t: _staged(t) is not None)]
    out = []
    for dataset, model, size, part in _groups(ok):
        metric = metrics.get(dataset)
        if metric is None:
            continue
        runs = []
        for text in part["staged_json"]:
            staged = _staged(text)
            if staged is not None and metric in (staged.get("test") or {}):
                sizes = [int(k) for k in staged["n_estimators"]]
                if sizes == sorted(set(sizes)) and len(staged["test"][metric]) == len(sizes):
                    runs.append({**staged, "n_estimators": sizes})
        if not runs:
            continue
        grid = sorted(set().union(*(r["n_estimators"] for r in runs)))

        def mean(split: str, runs: list[dict[str, Any]] = runs, grid: list[int] = grid, metric: str = metric
                 ) -> list[float | None]:  # fmt: skip
            rows = [_on_grid(r["n_estimators"], (r.get(split) or {}).get(metric) or [], grid) for r in runs]
            arr = np.array(rows, float)
            with np.errstate(all="ignore"):
                m = np.nanmean(arr, axis=0) if np.isfinite(arr).any() else np.full(len(grid), np.nan)
            return [None if not np.isfinite(v) else float(v) for v in m]

        test = mean("test")
        values = [np.nan if v is None else v for v in test]
        if all(math.isnan(v) for v in values):
            continue
        greater = _greater(metric)
        best = int(np.nanargmax(values) if greater else np.nanargmin(values))
        trained = [r.get("trained") for r in runs]
        known = [int(t) for t in trained if isinstance(t, (int, float))]
        stopped = len(known) == len(runs) and all(
            t > r["n_estimators"][-1] for t, r in zip(known, runs, strict=True)
        )
        out.append(
            {
                "dataset": dataset,
                "model": model,
                "train_size": size,
                "n_train": _n_train(part),
                "task_type": _task_type(part, metric),
                "metric": metric,
                "greater_is_better": greater,
                "n_estimators": grid,
                "train": mean("train"),
                "test": test,
                "n_jobs": len(runs),
                "n_test": _mean_n_test(part),
                "best_index": best,
                "trained": max(known) if known else None,
                "kept": [r["n_estimators"][-1] for r in runs],
                "early_stopped": stopped,
            }
        )
    return out


def _mean_n_test(part: pd.DataFrame) -> float | None:
    import pandas as pd

    if "n_test" not in part.columns:
        return None
    n = pd.to_numeric(part["n_test"], errors="coerce").dropna()
    return float(n.mean()) if len(n) else None


def _boosting(curves: list[dict[str, Any]], ctx: _Context) -> list[dict]:
    out = []
    for c in curves:
        test = c["test"]
        best, last = test[c["best_index"]], test[-1]
        if best is None or last is None:
            continue
        value = relative_worsening(best, last, c["greater_is_better"])
        # A net decline of m of n test rows is beyond noise (McNemar, one-sided 5%) only when
        # m > NOISE_Z² even if every changed row changed the same way: fewer rows than that is noise.
        n = c.get("n_test")
        rows_based = c["metric"] in _ROW_SHARES and n is not None and n > 0 and best != 0
        allowance = NOISE_Z**2 / n / abs(best) if rows_based else 0.0
        k_best, k_last = c["n_estimators"][c["best_index"]], c["n_estimators"][-1]
        kept = sorted(set(c.get("kept") or [k_last]))
        members = (
            f" (mean over {c['n_jobs']} jobs whose models have {kept[0]} to {kept[-1]} members; "
            "one with fewer is read at its last past it)"
            if len(kept) > 1
            else ""
        )
        if c.get("early_stopped"):
            # the rounds after the stopping point are never used by predict: nothing left to cut
            message = (
                f"test {c['metric']} {best:.4g} at {k_best} estimators, {last:.4g} at {k_last}, "
                f"{_fmt(100 * value)}% worse than the best; early stopping kept {k_last} of "
                f"{c['trained']} rounds{' at most' if len(kept) > 1 else ''} (already remedied){members}"
            )
            verdict = "remedied"
        else:
            noise = (
                f" + {100 * allowance:.3g}%: a net loss of fewer than {NOISE_Z**2:.2g} of {n:,.0f} test rows is noise"
                if rows_based
                else ""
            )
            message = (
                f"test {c['metric']} {best:.4g} at {k_best} estimators, {last:.4g} at all {k_last}: "
                f"{_fmt(100 * value)}% worse than the best (flagged above {100 * BOOSTING_THRESHOLD:g}%{noise}){members}"
            )
            # a value equal to the threshold up to rounding (0.04/0.8 = 0.05000000000000004) is not over it
            if value > BOOSTING_THRESHOLD + allowance + 1e-12:
                verdict = "overfitting"
            else:
                verdict = "within noise" if value > BOOSTING_THRESHOLD + 1e-12 else "passed"
        out.append(
            _row(ctx, dataset=c["dataset"], model=c["model"], size=c["train_size"], n_train=c["n_train"],
                 kind="boosting", metric=c["metric"], value=value, threshold=BOOSTING_THRESHOLD,
                 n_jobs=c["n_jobs"], message=message, task_type=c.get("task_type", ""), verdict=verdict,
                 allowance=allowance)
        )  # fmt: skip
    return out


# ------------------------------------------------------------------------------------ val_loss


def history_of(text: Any) -> list[dict[str, Any]] | None:
    """A ``history_json`` cell as its list of per-epoch dicts; None when it is not one.

    Parameters
    ----------
    text : Any
        The stored cell: JSON text of a deep model's per-epoch history, or missing.
    """
    value = _json(text)
    return value if isinstance(value, list) and all(isinstance(e, dict) for e in value) else None


def _val_losses(hist: list[dict[str, Any]]) -> list[float] | None:
    losses = []
    for e in hist:
        v = e.get("val_loss")
        try:
            losses.append(float(v))
        except (TypeError, ValueError):
            return None
    return losses if losses and all(math.isfinite(v) for v in losses) else None


def loss_curves(results: pd.DataFrame) -> list[dict[str, Any]]:
    """Held-out loss per epoch of each deep model's jobs, with the best epoch and the one kept.

    Returns
    -------
    list of dict
        One per job with a held-out loss: ``dataset``, ``model``, ``train_size``, ``task_type``,
        ``job_id``, ``fold``, ``repeat``, ``epochs``, ``train_loss``, ``val_loss``, ``min_epoch``
        (where the held-out loss is lowest), ``kept_epoch`` (the epoch whose weights the model
        holds: the early-stopping point, or the last epoch), ``restored`` (early stopping kept an
        earlier epoch than the last trained), ``rise`` (``(final - min) / |min|``).
    """
    if "history_json" not in results.columns:
        return []
    out = []
    for dataset, model, size, part in _groups(_ok(results)):
        task = _task_type(part, None)
        for _, row in part.iterrows():
            hist = history_of(row.get("history_json"))
            losses = _val_losses(hist) if hist else None
            if losses is None:
                continue
            epochs = [int(e.get("epoch", i + 1)) for i, e in enumerate(hist)]
            i_min = min(range(len(losses)), key=losses.__getitem__)
            kept = _size_key(row.get("best_epoch"))
            kept_epoch = int(kept) if kept is not None else epochs[-1]
            out.append(
                {
                    "dataset": dataset,
                    "model": model,
                    "train_size": size,
                    "task_type": task,
                    "n_train": _size_key(row.get("n_train")),
                    "job_id": str(row.get("job_id")),
                    "fold": _size_key(row.get("fold")),
                    "repeat": _size_key(row.get("repeat")),
                    "epochs": epochs,
                    "train_loss": [_size_key(e.get("train_loss")) for e in hist],
                    "val_loss": losses,
                    "min_epoch": epochs[i_min],
                    "kept_epoch": kept_epoch,
                    "restored": kept_epoch < epochs[-1],
                    "rise": relative_worsening(losses[i_min], losses[-1], False),
                }
            )
    return out


def _unremedied(curve: Mapping[str, Any]) -> float:
    """A fold's rise that counts: none when early stopping restored its best epoch."""
    return 0.0 if curve["restored"] else float(curve["rise"])


def quoted_curve(curves: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The fold the ``val_loss`` check of one group quotes (and the report draws).

    The folds ordered by their unremedied rise, largest first (then by fold, repeat, job id):
    the one at position ``len // 2``. The check is flagged exactly when this fold fails, that is
    when more than half of the folds fail.

    Parameters
    ----------
    curves : sequence of dict
        :func:`loss_curves` rows of one dataset x model x train size (not empty).
    """
    ordered = sorted(
        curves,
        key=lambda c: (-_unremedied(c), c.get("fold") or 0.0, c.get("repeat") or 0.0, str(c.get("job_id"))),
    )
    return ordered[len(ordered) // 2]


def _val_loss(curves: list[dict[str, Any]], ctx: _Context) -> list[dict]:
    groups: dict[tuple[str, str, float | None], list[dict[str, Any]]] = {}
    for c in curves:
        groups.setdefault((c["dataset"], c["model"], c["train_size"]), []).append(c)
    out = []
    for (dataset, model, size), jobs in sorted(
        groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or 0)
    ):
        q = quoted_curve(jobs)
        where = _fold_words(q["fold"], q["repeat"])
        value = float(q["rise"])
        if q["restored"]:
            message = (
                f"{where}: early stopping kept epoch {q['kept_epoch']} of {q['epochs'][-1]} (already remedied); "
                f"the held-out loss was {_fmt(100 * value)}% above its minimum at the last epoch"
            )
        else:
            message = (
                f"{where}: held-out loss lowest at epoch {q['min_epoch']}, {_fmt(100 * value)}% higher at the "
                f"last ({q['epochs'][-1]}), and the last epoch's weights were kept"
            )
        failing = [j for j in jobs if _unremedied(j) > VAL_LOSS_THRESHOLD + 1e-12]
        if len(jobs) > 1:
            message += (
                f"; {len(failing)} of {len(jobs)} folds rise more than {100 * VAL_LOSS_THRESHOLD:g}% with their "
                "last weights kept (flagged when more than half do)"
            )
        else:
            message += f" (flagged above {100 * VAL_LOSS_THRESHOLD:g}% with the last weights kept)"
        if _unremedied(q) > VAL_LOSS_THRESHOLD + 1e-12:
            verdict = "overfitting"
        else:
            verdict = "remedied" if q["restored"] else "passed"
        n_train = [j["n_train"] for j in jobs if j["n_train"] is not None]
        out.append(
            _row(ctx, dataset=dataset, model=model, size=size,
                 n_train=sum(n_train) / len(n_train) if n_train else None, kind="val_loss", metric="loss",
                 value=value, threshold=VAL_LOSS_THRESHOLD, n_jobs=len(jobs), message=message,
                 task_type=q.get("task_type", ""), verdict=verdict, fold=where)
        )  # fmt: skip
    return out


# -------------------------------------------------------------------------------------- checks


def checks(
    results: pd.DataFrame,
    primary: Mapping[str, str] | None = None,
    families: Mapping[str, str] | None = None,
    *,
    labels: Mapping[str, Any] | None = None,
    shifted: Mapping[str, Sequence[str]] | None = None,
) -> pd.DataFrame:
    """Every overfitting check of a results table, flagged or not.

    Parameters
    ----------
    results : pandas.DataFrame
        From :meth:`mlbench.reader.Run.results` (latest attempt per job). The ``dummy`` model's
        jobs (:data:`BASELINE_FAMILY`) are the baseline, not checked themselves.
    primary : dict, optional
        ``{task_type or dataset: metric}``; default each dataset's first metric with values (see
        :func:`mlbench.analysis.primary_metrics`).
    families : dict, optional
        Model label -> registry name, for labels that do not start with it (custom ``label:``);
        picks the remedy.
    labels : dict, optional
        Dataset -> its training labels: the underfitting check's baseline when the table has no
        ``dummy`` jobs (:func:`baseline_scores`).
    shifted : dict, optional
        Dataset -> its flagged train/test mismatch comparisons (:func:`shifts`).

    Returns
    -------
    pandas.DataFrame
        :data:`FLAG_COLUMNS`: one row per dataset x model x train size x check kind
        (``underfitting``, ``degradation``, ``boosting``, ``val_loss``); ``value`` is compared with
        ``threshold`` (plus ``allowance`` for degradation), ``verdict`` says what the row found,
        ``flagged`` is True for ``overfitting`` and ``underfitting``, ``option`` is the suite option
        that applies ``remedy`` (valid for the model's task), ``fold`` the fold a ``val_loss``
        message quotes, ``shift`` whether the row carries the mismatch note.
    """
    import pandas as pd

    from mlbench.analysis.tables import primary_metrics

    if results is None or results.empty or "dataset" not in results.columns:
        return pd.DataFrame(columns=FLAG_COLUMNS)
    ok = _ok(results)
    if ok.empty or "model" not in ok.columns:
        return pd.DataFrame(columns=FLAG_COLUMNS)
    is_base = ok["model"].map(lambda m: _is_baseline(str(m), families)).astype(bool)
    base_rows, models = ok.loc[is_base], ok.loc[~is_base]
    metrics = primary_metrics(ok, primary=dict(primary) if primary else None) if not ok.empty else {}
    tasks = (
        {str(d): _task_type(part, metrics.get(str(d))) for d, part in ok.groupby("dataset")}
        if len(ok)
        else {}
    )
    baselines = _Baselines(
        _dummy_scores(base_rows) if len(base_rows) else {},
        {
            str(d): baseline_scores(y, tasks.get(str(d), ""))
            for d, y in (labels or {}).items()
            if str(d) in tasks
        },
    )
    ctx = _Context(families, dict(shifted or {}))
    rows = _fit_checks(models, metrics, ctx, baselines)
    rows += _boosting(staged_curves(models, primary), ctx)
    rows += _val_loss(loss_curves(models), ctx)
    df = pd.DataFrame(rows, columns=FLAG_COLUMNS)
    if df.empty:
        return df
    df["_k"] = df["kind"].map(_ORDER)
    df["_s"] = df["train_size"].fillna(-1.0)
    return (
        df.sort_values(["dataset", "model", "_s", "_k"], kind="stable")
        .drop(columns=["_k", "_s"])
        .reset_index(drop=True)
    )


def flags(
    results: pd.DataFrame,
    primary: Mapping[str, str] | None = None,
    families: Mapping[str, str] | None = None,
    **context: Any,
) -> pd.DataFrame:
    """The flagged rows of :func:`checks` (same columns; ``context``: its ``labels``, ``shifted``)."""
    df = checks(results, primary, families, **context)
    return df[df["flagged"].astype(bool)].reset_index(drop=True) if not df.empty else df


def run_checks(run: Any, metric: str | None = None) -> pd.DataFrame:
    """:func:`checks` of a run, on its primary metrics, with its datasets' labels and mismatch checks.

    Parameters
    ----------
    run : Run
        From :func:`mlbench.open_run` (taken rather than a folder so that this analysis does not
        import the reader, which imports the report, which shows these checks).
    metric : str, optional
        Judge every dataset of that metric's task type on it instead of the suite's primary.
    """
    primary: dict[str, str] | None = None
    if metric is not None:
        from mlbench.metrics import METRICS

        primary = {METRICS.get(metric).task_type: metric}
    elif run.meta.get("primary_metric"):
        primary = dict(run.meta["primary_metric"])
    families = None
    suite = run.suite
    if suite is not None:
        families = {m.label: m.name for m in suite.models}
    results = run.results()
    return checks(
        results,
        primary,
        families,
        labels=run_labels(run, results, families),
        shifted=shifts(run.diagnostics()),
    )


def run_labels(run: Any, results: pd.DataFrame, families: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The training labels of a run's datasets that have no ``dummy`` jobs (the baseline's source).

    A dataset that cannot be loaded any more (a moved file) is left out: its underfitting check
    then runs only where a baseline is known without labels.
    """
    if results is None or results.empty or "dataset" not in results.columns:
        return {}
    has_dummy = {
        str(d)
        for d, m in zip(results["dataset"], results["model"], strict=True)
        if _is_baseline(str(m), families)
    }
    out: dict[str, Any] = {}
    for name in sorted({str(d) for d in results["dataset"]} - has_dummy):
        try:
            out[name] = run.dataset(name).y
        except Exception:  # a dataset that no longer loads: no labels, no label baseline
            continue
    return out


# ----------------------------------------------------------------------------------- capacity


def _capacity_value(value: Any) -> float | None:
    """A capacity parameter as a number for ordering (hidden_sizes -> weights count proxy)."""
    if value is None:
        return math.inf  # max_depth: None is unlimited depth
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, (int, float)) for v in value):
        # hidden layer widths: consecutive products ~ the number of weights between them
        widths = [float(v) for v in value]
        return sum(a * b for a, b in itertools.pairwise(widths)) + sum(widths)
    return None


def capacity_curves(results: pd.DataFrame, primary: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Train and test score against model size for grids over a capacity parameter.

    A capacity series is the models of one family on one dataset whose parameters differ only in
    one of its family's :func:`capacity_params` (what a ``grid:`` over it expands to), with at
    least two values.

    Parameters
    ----------
    results : pandas.DataFrame
    primary : dict, optional
        ``{task_type or dataset: metric}``.

    Returns
    -------
    list of dict
        ``dataset``, ``family``, ``param``, ``metric``, ``greater_is_better``, ``x_label``
        (``parameters`` when every point has ``n_params``, else the parameter itself), ``sizes``:
        one entry per train size with ``train_size``, ``points`` (``model``, ``value`` (the
        parameter), ``x``, ``train``, ``test``, ``test_se``, ``n_jobs``; sorted by ``x``),
        ``enough`` (the smallest capacity within one standard error of the best, by the rule in
        the module docstring), ``best`` and ``sentence``.
    """
    import numpy as np
    import pandas as pd

    from mlbench.analysis.tables import primary_metrics

    if results is None or results.empty or "params_json" not in results.columns:
        return []
    ok = _ok(results)
    if ok.empty:
        return []
    metrics = primary_metrics(ok, primary=dict(primary) if primary else None)
    out = []
    for dataset, rows in ok.groupby("dataset", sort=True):
        metric = metrics.get(str(dataset))
        if metric is None or f"test_{metric}" not in rows:
            continue
        greater = _greater(metric)
        params_of = _params_by_label(rows)
        by_family: dict[str, list[str]] = {}
        for label in params_of:
            by_family.setdefault(family_of(label), []).append(label)
        for family, labels in sorted(by_family.items()):
            for param in capacity_params(family):
                for values in _series_over(param, labels, params_of):
                    part = rows[rows["model"].isin(list(values))]
                    out.append(
                        _capacity_series(str(dataset), family, param, metric, greater, part, values, np, pd)
                    )
    return out


def _params_by_label(rows: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Model label -> its parameters (one params set per label; unreadable JSON as none)."""
    params_of: dict[str, dict[str, Any]] = {}
    for label, text in zip(rows["model"], rows["params_json"], strict=True):
        try:
            params_of.setdefault(str(label), json.loads(text) if isinstance(text, str) else {})
        except ValueError:
            params_of.setdefault(str(label), {})
    return params_of


def _series_over(param: str, labels: list[str], params_of: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Groups of labels whose parameters differ only in ``param``, each as label -> its value.

    Only groups with at least two distinct values: one value draws no curve.
    """
    series: dict[str, list[str]] = {}
    for label in labels:
        p = params_of[label]
        if param in p:
            rest = json.dumps({k: v for k, v in p.items() if k != param}, sort_keys=True, default=str)
            series.setdefault(rest, []).append(label)
    out = []
    for members in series.values():
        values = {lab: params_of[lab][param] for lab in members}
        if len({json.dumps(v, default=str) for v in values.values()}) >= 2:
            out.append(values)
    return out


def _capacity_series(
    dataset: str,
    family: str,
    param: str,
    metric: str,
    greater: bool,
    part: Any,
    values: dict[str, Any],
    np: Any,
    pd: Any,
) -> dict[str, Any]:
    n_params = pd.to_numeric(part.get("n_params"), errors="coerce") if "n_params" in part else None
    use_params = (
        n_params is not None
        and part.assign(_n=n_params).groupby("model")["_n"].apply(lambda s: s.notna().any()).all()
    )
    sizes = []
    keyed = part.assign(_size=part["train_size"].map(_size_key).fillna(-1.0))
    for size_key, grp in keyed.groupby("_size", sort=True):
        size = None if size_key == -1.0 else float(size_key)
        points = []
        for label, jobs in grp.groupby("model", sort=True):
            test = pd.to_numeric(jobs[f"test_{metric}"], errors="coerce").dropna()
            if test.empty:
                continue
            train = pd.to_numeric(jobs.get(f"train_{metric}"), errors="coerce").dropna()
            if use_params:
                x = float(pd.to_numeric(jobs["n_params"], errors="coerce").median())
            else:
                x = _capacity_value(values[label])
            points.append(
                {
                    "model": str(label),
                    "value": values[label],
                    "x": x,
                    "train": float(train.mean()) if not train.empty else None,
                    "test": float(test.mean()),
                    "test_se": float(test.std(ddof=1) / math.sqrt(len(test))) if len(test) > 1 else None,
                    "n_jobs": len(test),
                }
            )
        order = [p for p in points if p["x"] is not None and not math.isnan(p["x"])]
        finite = [p["x"] for p in order if math.isfinite(p["x"])]
        for p in order:
            if math.isinf(p["x"]):  # max_depth: null (unlimited), drawn after the largest limit
                p["x"] = 2.0 * max(finite) if finite else 1.0
        order.sort(key=lambda p: p["x"])
        if len(order) < 2:
            continue
        sizes.append(
            {
                "train_size": size,
                "n_train": _n_train(grp),
                "points": order,
                **_enough(order, greater, param, metric, use_params),
            }
        )
    return {
        "dataset": dataset,
        "family": family,
        "param": param,
        "metric": metric,
        "greater_is_better": greater,
        "x_label": "parameters" if use_params else param,
        "sizes": sizes,
    }


def _enough(
    points: list[dict[str, Any]], greater: bool, param: str, metric: str, use_params: bool
) -> dict[str, Any]:
    """The one-standard-error rule over points sorted by capacity, and its sentence."""
    tests = [p["test"] for p in points]
    i_best = max(range(len(tests)), key=lambda i: tests[i] if greater else -tests[i])
    best = points[i_best]
    se = best["test_se"] or 0.0
    within = [i for i, t in enumerate(tests) if (best["test"] - t if greater else t - best["test"]) <= se]
    i_enough = min(within)
    enough = points[i_enough]

    def name(p: dict[str, Any]) -> str:
        size = f", {p['x']:,.0f} parameters" if use_params else ""
        return f"{param}={json.dumps(p['value'])}{size}"

    noise = f"one standard error ({se:.3g})" if best["test_se"] is not None else "no noise estimate (one job)"
    largest = points[-1]
    if i_enough == len(points) - 1:
        sentence = (
            f"Test {metric} still improves at the largest capacity tried ({name(enough)}: {enough['test']:.4g}): "
            f"more capacity may still help; try larger."
        )
    elif i_enough == 0:
        sentence = (
            f"More capacity does not help: the smallest capacity tried ({name(enough)}, test {metric} "
            f"{enough['test']:.4g}) is within {noise} of the best ({name(best)}: {best['test']:.4g}); the largest "
            f"({name(largest)}) scores {largest['test']:.4g}."
        )
    else:
        sentence = (
            f"More capacity stops helping at {name(enough)}: test {metric} {enough['test']:.4g}, within {noise} "
            f"of the best ({name(best)}: {best['test']:.4g}); the largest ({name(largest)}) scores "
            f"{largest['test']:.4g}."
        )
    return {"enough": enough["model"], "best": best["model"], "sentence": sentence}
