"""Overfitting checks: pure functions from a run's results table to flags and curves.

Three checks, each per model x dataset x training size, each with a stated threshold (the
defaults of deepchecks' TrainTestPerformance and BoostingOverfit checks):

``degradation``
    Relative train-to-test degradation of the primary metric, computed on the mean train and mean
    test score over the group's jobs (folds and repeats): ``(train - test) / |train|`` when higher
    is better, ``(test - train) / |train|`` when lower is better (log_loss, rmse, mae), so a
    positive value always means "worse on test". Flagged when ``> 0.1``. When ``train == 0`` (a
    perfect loss) any worse test score is an infinite degradation.
``boosting``
    Test score of an ensemble's first ``k`` members at up to 20 geometrically spaced ``k`` along
    its ``n_estimators`` (stored by the job as ``staged_json``: ``iteration_range`` for XGBoost,
    the mean of the first ``k`` trees for a random forest; no refit), averaged over the group's
    jobs. Flagged when the last is worse than the best by more than 5% of ``|best|``. With XGBoost
    early stopping the curve ends at ``best_iteration + 1``, the rounds the model predicts with
    (the job's own test score), and when that cut rounds off the check is recorded as passed
    (already remedied) with the stopping point, as ``val_loss`` does.
``val_loss``
    Deep models: the held-out loss per epoch (``history_json``: the early-stopping rows, or the
    validation split when it is held out of training with ``fit_on_val: false``). The rise is
    ``(final - min) / |min|``, averaged over the group's jobs. Flagged when ``> 0.1`` and the model
    kept its last weights; when early stopping restored the best epoch's weights the check is
    recorded as passed (the remedy is already applied) with the stopping point.

What the thresholds assume: they compare point estimates, not intervals. The scores of one
group are means over its folds and repeats, so with a small test set (a few hundred rows) the
noise of an accuracy is a few points and a 5% boosting threshold sits close to it: read a flag
on a small test set together with the curve. ``tests/test_overfitting.py`` checks by simulation
that well-specified models on real data are not flagged and planted overfitters are.

Each family's facts come from its :class:`mlbench.models.ModelInfo`, not from tables here: the
remedy a flagged check suggests (``remedies``) and the parameters that set its capacity
(``capacity_params``). A family the registry does not know (a plugin not imported in this
process) gets the generic remedies (:data:`GENERIC_REMEDIES`) and no capacity curve.

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
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mlbench.models.base import Remedy

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "BOOSTING_THRESHOLD",
    "DEGRADATION_THRESHOLD",
    "FLAG_COLUMNS",
    "GENERIC_REMEDIES",
    "REMEDY_NOTES",
    "VAL_LOSS_THRESHOLD",
    "capacity_curves",
    "capacity_params",
    "checks",
    "family_of",
    "flags",
    "history_of",
    "loss_curves",
    "relative_worsening",
    "remedy_options",
    "run_checks",
    "staged_curves",
]

#: ``(train - test) / |train|`` above this is flagged (deepchecks TrainTestPerformance).
DEGRADATION_THRESHOLD = 0.1
#: ``(best - last) / |best|`` along ``n_estimators`` above this is flagged (deepchecks BoostingOverfit).
BOOSTING_THRESHOLD = 0.05
#: ``(final - min) / |min|`` of the held-out loss above this is flagged (kept weights only).
VAL_LOSS_THRESHOLD = 0.1

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
]

#: The remedies the report lays side by side, in this order, each with what applies it whatever
#: the family (a family's own options come from its ``ModelInfo.remedies``; a remedy a family
#: names that is not here is listed after these).
REMEDY_NOTES: dict[str, str] = {
    "early stopping": "",
    "fewer parameters": "a grid over a capacity parameter draws the capacity curve: grid: {max_depth: [2, 4, 8, null]}",
    "dropout": "",
    "augmentation": "",
    "more data": "sweep: {train_sizes: [0.25, 0.5, 1.0]} (does the learning curve still rise?)",
}

#: The remedy of each check for a family that names none for it (or that the registry does not
#: know), and for a model whose label already sets its family's option.
GENERIC_REMEDIES: dict[str, Remedy] = {
    "degradation": Remedy("more data", "sweep: {train_sizes: [0.25, 0.5, 1.0]}"),
    "boosting": Remedy("fewer parameters", "n_estimators"),
    "val_loss": Remedy("early stopping", "early_stopping: 10"),
}


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

    The options are those of every registered family's ``ModelInfo.remedies`` (by family name),
    then the remedy's generic note (:data:`REMEDY_NOTES`).

    Returns
    -------
    dict of str to str
        Remedy name -> options joined by ``"; "``.
    """
    from mlbench.models import MODELS

    options: dict[str, list[str]] = {name: [] for name in REMEDY_NOTES}
    for name in MODELS.names():
        for remedy in MODELS.get(name).remedies.values():
            listed = options.setdefault(remedy.remedy, [])
            if remedy.option not in listed:
                listed.append(remedy.option)
    notes = {name: [REMEDY_NOTES[name]] if REMEDY_NOTES.get(name) else [] for name in options}
    return {name: "; ".join([*listed, *notes[name]]) for name, listed in options.items()}


def relative_worsening(reference: float, other: float, greater_is_better: bool) -> float:
    """How much worse ``other`` is than ``reference``, relative to ``|reference|``.

    Parameters
    ----------
    reference, other : float
        Scores on one metric (train and test; best and last).
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
            # a test loss of +inf after a finite train loss is as bad as it gets
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


def _remedy(family: str, kind: str, label: str = "") -> Remedy:
    """The remedy of a check for a model; "more data" when the model already sets its option.

    (A ``decision_tree(max_depth=1)`` that still degrades is not helped by ``max_depth: 5``.)
    """
    info = _family(family)
    remedy = (info.remedies.get(kind) if info is not None else None) or GENERIC_REMEDIES[kind]
    key = remedy.option.split("{", 1)[-1].split(":", 1)[0].strip()
    if key and f"{key}=" in label:
        return GENERIC_REMEDIES["degradation"]
    return remedy


def _greater(metric: str) -> bool:
    from mlbench.metrics import METRICS

    return METRICS.get(metric).greater_is_better if metric in METRICS else True


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


def _flag(
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
    family: str,
    flagged: bool | None = None,
) -> dict[str, Any]:
    remedy, option = _remedy(family, kind, model)
    return {
        "dataset": dataset,
        "model": model,
        "train_size": size,
        "n_train": n_train,
        "kind": kind,
        "metric": metric,
        "value": value,
        "threshold": threshold,
        # a value equal to the threshold up to rounding (0.04/0.8 = 0.05000000000000004) is not over it
        "flagged": bool(value > threshold + 1e-12) if flagged is None else flagged,
        "n_jobs": n_jobs,
        "message": message,
        "remedy": remedy,
        "option": option,
    }


def _fmt(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:.3g}"


def _degradation(ok: pd.DataFrame, primary: dict[str, str], families: Mapping[str, str] | None) -> list[dict]:
    import pandas as pd

    out = []
    for dataset, model, size, part in _groups(ok):
        metric = primary.get(dataset)
        if metric is None or f"train_{metric}" not in part or f"test_{metric}" not in part:
            continue
        train = pd.to_numeric(part[f"train_{metric}"], errors="coerce")
        test = pd.to_numeric(part[f"test_{metric}"], errors="coerce")
        both = train.notna() & test.notna()
        if not both.any():
            continue
        tr, te = float(train[both].mean()), float(test[both].mean())
        value = relative_worsening(tr, te, _greater(metric))
        if math.isnan(value):
            continue
        message = (
            f"{metric}: train {tr:.4g}, test {te:.4g}; test is {_fmt(100 * value)}% worse than train "
            f"(flagged above {100 * DEGRADATION_THRESHOLD:g}%)"
        )
        out.append(
            _flag(dataset, model, size, _n_train(part), "degradation", metric, value, DEGRADATION_THRESHOLD, int(both.sum()),
                  message, family_of(model, families))
        )  # fmt: skip
    return out


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
        ``dataset``, ``model``, ``train_size``, ``metric``, ``n_estimators``, ``train`` and
        ``test`` (means over the jobs sharing the same sizes; None where missing), ``n_jobs``,
        ``best_index`` (of the best mean test score), ``trained`` (most members any job trained,
        None when not recorded), ``early_stopped`` (every job's model predicts with fewer members
        than it trained: XGBoost early stopping; the curve then ends at the kept ones). Jobs whose
        ensembles differ in size (early stopping) are grouped by their sizes, each group its own curve.
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
        by_sizes: dict[tuple[int, ...], list[dict[str, Any]]] = {}
        for text in part["staged_json"]:
            staged = _staged(text)
            if staged is not None and metric in (staged.get("test") or {}):
                by_sizes.setdefault(tuple(staged["n_estimators"]), []).append(staged)
        for sizes, runs in by_sizes.items():

            def mean(
                split: str, runs: list[dict[str, Any]] = runs, n: int = len(sizes), metric: str = metric
            ) -> list[float | None]:
                rows = [r.get(split, {}).get(metric) for r in runs]
                arr = np.array(
                    [[np.nan if v is None else v for v in r] for r in rows if r and len(r) == n], float
                )
                if arr.size == 0:
                    return [None] * n
                with np.errstate(all="ignore"):
                    m = np.nanmean(arr, axis=0) if np.isfinite(arr).any() else np.full(n, np.nan)
                return [None if not np.isfinite(v) else float(v) for v in m]

            test = mean("test")
            values = [np.nan if v is None else v for v in test]
            if all(math.isnan(v) for v in values):
                continue
            greater = _greater(metric)
            best = int(np.nanargmax(values) if greater else np.nanargmin(values))
            trained = [r.get("trained") for r in runs]
            known = [int(t) for t in trained if isinstance(t, (int, float))]
            stopped = len(known) == len(runs) and all(t > sizes[-1] for t in known)
            out.append(
                {
                    "dataset": dataset,
                    "model": model,
                    "train_size": size,
                    "n_train": _n_train(part),
                    "metric": metric,
                    "greater_is_better": greater,
                    "n_estimators": list(sizes),
                    "train": mean("train"),
                    "test": test,
                    "n_jobs": len(runs),
                    "best_index": best,
                    "trained": max(known) if known else None,
                    "early_stopped": stopped,
                }
            )
    return out


def _boosting(curves: list[dict[str, Any]], families: Mapping[str, str] | None) -> list[dict]:
    out = []
    for c in curves:
        test = c["test"]
        best, last = test[c["best_index"]], test[-1]
        if best is None or last is None:
            continue
        value = relative_worsening(best, last, c["greater_is_better"])
        k_best, k_last = c["n_estimators"][c["best_index"]], c["n_estimators"][-1]
        if c.get("early_stopped"):
            # the rounds after the stopping point are never used by predict: nothing left to cut
            message = (
                f"test {c['metric']} {best:.4g} at {k_best} estimators, {last:.4g} at {k_last}, "
                f"{_fmt(100 * value)}% worse than the best; early stopping kept {k_last} of "
                f"{c['trained']} rounds (already remedied)"
            )
        else:
            message = (
                f"test {c['metric']} {best:.4g} at {k_best} estimators, {last:.4g} at all {k_last}: "
                f"{_fmt(100 * value)}% worse than the best (flagged above {100 * BOOSTING_THRESHOLD:g}%)"
            )
        flagged = False if c.get("early_stopped") else None
        out.append(
            _flag(c["dataset"], c["model"], c["train_size"], c["n_train"], "boosting", c["metric"], value, BOOSTING_THRESHOLD,
                  c["n_jobs"], message, family_of(c["model"], families), flagged=flagged)
        )  # fmt: skip
    return out


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
        One per job with a held-out loss: ``dataset``, ``model``, ``train_size``, ``job_id``,
        ``fold``, ``repeat``, ``epochs``, ``train_loss``, ``val_loss``, ``min_epoch`` (where the
        held-out loss is lowest), ``kept_epoch`` (the epoch whose weights the model holds: the
        early-stopping point, or the last epoch), ``restored`` (early stopping kept an earlier
        epoch than the last trained), ``rise`` (``(final - min) / |min|``).
    """
    if "history_json" not in results.columns:
        return []
    out = []
    for dataset, model, size, part in _groups(_ok(results)):
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


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def _val_loss(curves: list[dict[str, Any]], families: Mapping[str, str] | None) -> list[dict]:
    groups: dict[tuple[str, str, float | None], list[dict[str, Any]]] = {}
    for c in curves:
        groups.setdefault((c["dataset"], c["model"], c["train_size"]), []).append(c)
    out = []
    for (dataset, model, size), jobs in sorted(
        groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or 0)
    ):
        value = float(sum(j["rise"] for j in jobs) / len(jobs))
        restored = all(j["restored"] for j in jobs)
        first = jobs[0]
        if restored:
            message = (
                f"held-out loss {_fmt(100 * value)}% above its minimum at the last epoch; early stopping kept "
                f"epoch {first['kept_epoch']} of {first['epochs'][-1]} (already remedied)"
            )
        else:
            message = (
                f"held-out loss lowest at epoch {first['min_epoch']}, {_fmt(100 * value)}% higher at the last "
                f"({first['epochs'][-1]}), and the last epoch's weights were kept "
                f"(flagged above {100 * VAL_LOSS_THRESHOLD:g}%)"
            )
        flagged = (not restored) and value > VAL_LOSS_THRESHOLD + 1e-12
        out.append(
            _flag(dataset, model, size, _mean([j["n_train"] for j in jobs]), "val_loss", "loss", value, VAL_LOSS_THRESHOLD, len(jobs), message,
                  family_of(model, families), flagged=flagged)
        )  # fmt: skip
    return out


def checks(
    results: pd.DataFrame,
    primary: Mapping[str, str] | None = None,
    families: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Every overfitting check of a results table, flagged or not.

    Parameters
    ----------
    results : pandas.DataFrame
        From :meth:`mlbench.reader.Run.results` (latest attempt per job).
    primary : dict, optional
        ``{task_type or dataset: metric}``; default each dataset's first metric with values (see
        :func:`mlbench.analysis.primary_metrics`).
    families : dict, optional
        Model label -> registry name, for labels that do not start with it (custom ``label:``);
        picks the remedy.

    Returns
    -------
    pandas.DataFrame
        :data:`FLAG_COLUMNS`: one row per dataset x model x train size x check kind
        (``degradation``, ``boosting``, ``val_loss``); ``value`` is the relative worsening
        compared with ``threshold``; ``option`` the suite option that applies ``remedy``.
    """
    import pandas as pd

    from mlbench.analysis.tables import primary_metrics

    if results is None or results.empty or "dataset" not in results.columns:
        return pd.DataFrame(columns=FLAG_COLUMNS)
    ok = _ok(results)
    metrics = primary_metrics(ok, primary=dict(primary) if primary else None) if not ok.empty else {}
    rows = _degradation(ok, metrics, families)
    rows += _boosting(staged_curves(results, primary), families)
    rows += _val_loss(loss_curves(results), families)
    df = pd.DataFrame(rows, columns=FLAG_COLUMNS)
    order = {"degradation": 0, "boosting": 1, "val_loss": 2}
    if df.empty:
        return df
    df["_k"] = df["kind"].map(order)
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
) -> pd.DataFrame:
    """The flagged rows of :func:`checks` (same columns)."""
    df = checks(results, primary, families)
    return df[df["flagged"]].reset_index(drop=True) if not df.empty else df


def run_checks(run: Any, metric: str | None = None) -> pd.DataFrame:
    """:func:`checks` of a run, on its primary metrics.

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
    return checks(run.results(), primary, families)


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
