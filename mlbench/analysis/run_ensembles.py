"""Ensembles of a run: combine the models of each (dataset, fold, train size, repeat) from their
stored predictions, without refitting any member.

For every such group and every ``ensembles:`` entry of the suite, :func:`build_ensembles` makes one
result row and one predictions dict, shaped like a job's, so an ensemble flows through the
leaderboard, the significance tests, learning curves and run comparisons like any model:

- ``caruana``: greedy forward selection with replacement (:func:`~mlbench.analysis.ensembles.caruana_selection`)
  on the members' validation predictions, optimising the dataset's primary metric; the test
  predictions are the same weighted blend of the members' test predictions;
- ``stacking``: a meta-model (a registered model, ``logistic_regression`` by default, which is
  Ridge on regression data) fitted on the members' validation predictions (class probabilities,
  or values), applied to their test predictions;
- ``voting``: the mean of the members' probabilities (or values), optionally weighted.

What the test fold never does: reach a selection or a fit. Weights and meta-models see validation
rows and labels only; the test rows are scored once, with the result. Validation predictions must
be out-of-sample (``resampling: {fit_on_val: false}`` or ``{val: cross_fit}``; the suite refuses an
``ensembles:`` block otherwise): selecting on in-sample predictions rewards memorisers. The
ensemble's own ``val_`` scores are in-sample for caruana and stacking (they were chosen on those
rows), so their rows say ``val_in_fit = 1``.

A member without an ok job in a group is left out of that group's ensemble (the row's
``left_out`` says which and why); a group with fewer than two members gives a ``skipped`` row
with the reason. Rows are identified by a stable ``job_id`` (a hash of the entry and the group)
and carry ``member_jobs`` (the member job ids they were built from), so rebuilding only touches
groups whose members changed.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "EnsembleBuild",
    "build_ensembles",
    "ensemble_gains",
    "ensemble_job_id",
    "ensemble_weights",
    "pending_ensembles",
]

#: Stored predictions of a job (see :meth:`mlbench.reader.Run.predictions`).
PredictionLoader = Callable[[str], "dict[str, np.ndarray]"]
_GROUP = ("dataset", "fold", "train_size", "repeat")
_DEFAULT_LABEL = {"caruana": "ensemble:caruana", "stacking": "ensemble:stacking", "voting": "ensemble:voting"}


@dataclass(frozen=True)
class EnsembleBuild:
    """One ensemble of one group: the result row and the predictions to store with it."""

    job_id: str
    row: dict[str, Any]
    predictions: dict[str, np.ndarray] | None


def ensemble_job_id(spec: Any, group: Mapping[str, Any], suite_seed: int = 0) -> str:
    """Stable id of ``spec``'s row for one (dataset, fold, train size, repeat) group."""
    key = {
        "ensemble": spec.kind,
        "label": spec.label,
        "members": None if spec.members is None else sorted(spec.members),
        "params": spec.params,
        "group": {k: (float(group[k]) if k == "train_size" else group[k]) for k in _GROUP},
        "seed": suite_seed,
    }
    return "e" + hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:15]


def _groups(results: Any, specs: Sequence[Any]) -> list[tuple[dict[str, Any], Any]]:
    """(group key, ok member rows) for every group of the run's model jobs."""
    labels = {s.label for s in specs}
    jobs = results[~results["model"].isin(labels)]
    if "ensemble" in jobs.columns:
        jobs = jobs[jobs["ensemble"].isna()]
    out = []
    for key, rows in jobs.groupby(list(_GROUP), sort=True, dropna=False):
        out.append((dict(zip(_GROUP, key, strict=True)), rows))
    return out


def _member_rows(spec: Any, rows: Any) -> tuple[Any, list[str]]:
    """The spec's members with an ok job in this group, and why the others are left out.

    Without ``members:`` the members are the models that apply to the dataset (a CNN skipped on
    a table is not a member there, so it is not "left out" either), the baseline (``dummy``) aside.
    """
    if spec.members is not None:
        wanted = list(spec.members)
    else:
        from mlbench.models.sklearn_models import BASELINE

        # every model but the baseline: a benchmark to beat, not a candidate
        applies = rows.loc[(rows["status"] != "skipped") & (rows["model"] != BASELINE), "model"]
        wanted = sorted(applies.unique())
    ok = rows[(rows["status"] == "ok") & rows["model"].isin(wanted)]
    left_out = []
    for label in wanted:
        mine = rows[rows["model"] == label]
        if mine.empty:
            left_out.append(f"{label}: no job")
        elif not (mine["status"] == "ok").any():
            status = str(mine["status"].iloc[0])
            left_out.append(f"{label}: {status}" + (" (does not apply here)" if status == "skipped" else ""))
    return ok.sort_values("model"), left_out


def pending_ensembles(results: Any, specs: Sequence[Any], suite_seed: int = 0) -> int:
    """How many ensemble rows a build would add or change (0: every ensemble is up to date)."""
    if not specs or results is None or not len(results):
        return 0
    current = _current(results)
    n = 0
    for group, rows in _groups(results, specs):
        for spec in specs:
            members, _ = _member_rows(spec, rows)
            job_id = ensemble_job_id(spec, group, suite_seed)
            if current.get(job_id) != _signature(members):
                n += 1
    return n


def _current(results: Any) -> dict[str, str]:
    if "member_jobs" not in results.columns:
        return {}
    done = results[results["member_jobs"].notna() & results["status"].isin(["ok", "skipped"])]
    return dict(zip(done["job_id"], done["member_jobs"], strict=True))


def _signature(members: Any) -> str:
    return ",".join(sorted(str(j) for j in members["job_id"]))


def build_ensembles(
    results: Any,
    specs: Sequence[Any],
    predictions: PredictionLoader,
    primary: Mapping[str, str],
    metrics: Mapping[str, Sequence[str]],
    *,
    suite_seed: int = 0,
    suite: str | None = None,
    versions: str | None = None,
    rebuild: bool = False,
) -> Iterable[EnsembleBuild]:
    """Build (or rebuild) every ensemble of a run from its stored predictions.

    Parameters
    ----------
    results : pandas.DataFrame
        The run's results (:meth:`mlbench.reader.Run.results`, latest attempt per job).
    specs : sequence
        The suite's ``ensembles:`` entries (``kind``, ``label``, ``members``, ``params``).
    predictions : callable
        ``job_id -> arrays`` with ``val_*``/``test_*`` ``index``, ``pred``, ``true`` and, for
        classifiers, ``proba`` (:meth:`mlbench.reader.Run.predictions`).
    primary : mapping
        Task type -> the metric caruana optimises (the suite's primary metric).
    metrics : mapping
        Task type -> the metrics each row is scored on.
    suite_seed : int
        Seeds caruana's tie-breaks (unless the entry sets ``seed``) and enters the row ids.
    suite : str, optional
        Suite name for the rows.
    versions : str, optional
        The library versions (JSON) stored with the rows.
    rebuild : bool
        Build every group again, even those whose members did not change.

    Yields
    ------
    EnsembleBuild
        Only the rows that are new or whose members changed (all of them with ``rebuild``).
    """
    current = {} if rebuild else _current(results)
    for group, rows in _groups(results, specs):
        task = str(rows["task_type"].dropna().iloc[0]) if rows["task_type"].notna().any() else ""
        for spec in specs:
            members, left_out = _member_rows(spec, rows)
            job_id = ensemble_job_id(spec, group, suite_seed)
            signature = _signature(members)
            if current.get(job_id) == signature:
                continue
            started = _now()
            t0 = time.perf_counter()
            row: dict[str, Any] = {
                "job_id": job_id,
                "suite": suite,
                **group,
                "task_type": task or None,
                "model": spec.label,
                "ensemble": spec.kind,
                "params_json": json.dumps(
                    {"params": spec.params, "members": None if spec.members is None else list(spec.members)},
                    sort_keys=True,
                    default=str,
                ),
                "seed": suite_seed,
                "member_jobs": signature,
                "left_out": "; ".join(left_out) or None,
                "started_at": started,
                "versions": versions,
            }
            try:
                if len(members) < 2:
                    raise _Skip(
                        f"an ensemble needs at least 2 members with an ok job; in this fold "
                        f"{len(members)} ran ok"
                        + (f" ({', '.join(members['model'])})" if len(members) else "")
                        + (f"; left out: {'; '.join(left_out)}" if left_out else "")
                    )
                preds, extra = _combine(
                    spec,
                    task,
                    members,
                    predictions=predictions,
                    primary=primary,
                    metrics=metrics,
                    suite_seed=suite_seed,
                )
                row.update(extra)
                row.update(status="ok", error=None)
            except _Skip as exc:
                row.update(status="skipped", error=str(exc))
                preds = None
            except Exception as exc:  # an ensemble bug or bad data fails its row, never the run
                row.update(status="failed", error=f"{type(exc).__name__}: {exc}")
                preds = None
            row["fit_seconds"] = time.perf_counter() - t0
            row["finished_at"] = _now()
            yield EnsembleBuild(job_id=job_id, row=row, predictions=preds)


def _now() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class _Skip(Exception):
    """The ensemble does not apply to this group (recorded as ``skipped`` with the reason)."""


def _aligned(
    members: Any, predictions: PredictionLoader, split: str
) -> tuple[list[str], list[dict[str, Any]]]:
    """Load every member's arrays and check they predict the same rows in the same order."""
    labels, arrays = [], []
    reference = None
    for job_id, label in zip(members["job_id"], members["model"], strict=True):
        a = predictions(str(job_id))
        if f"{split}_index" not in a or f"{split}_true" not in a:
            raise _Skip(f"{label}'s stored predictions lack {split} rows; rebuild its job to store them")
        index = np.asarray(a[f"{split}_index"])
        if reference is None:
            reference = index
        elif not np.array_equal(index, reference):
            raise _Skip(
                f"{label} predicted other {split} rows than {labels[0]}; members must share their "
                "validation and test rows (same folds, train size and repeat)"
            )
        labels.append(str(label))
        arrays.append(a)
    return labels, arrays


def _stack(arrays: list[dict[str, Any]], split: str, classification: bool) -> np.ndarray:
    key = f"{split}_proba" if classification else f"{split}_pred"
    return np.stack([np.asarray(a[key], dtype=np.float64) for a in arrays])


def _combine(
    spec: Any,
    task: str,
    members: Any,
    *,
    predictions: PredictionLoader,
    primary: Mapping[str, str],
    metrics: Mapping[str, Sequence[str]],
    suite_seed: int,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    from mlbench.analysis.ensembles import caruana_selection, weighted_blend
    from mlbench.metrics import score

    classification = task == "classification"
    labels, val = _aligned(members, predictions, "val")
    _, test = _aligned(members, predictions, "test")
    if not len(val[0]["val_index"]):
        raise _Skip("the members stored no validation rows (val_fraction: 0); ensembles need them")
    P_val, P_test = _stack(val, "val", classification), _stack(test, "test", classification)
    y_val, y_test = np.asarray(val[0]["val_true"]), np.asarray(test[0]["test_true"])
    extra: dict[str, Any] = {}
    if spec.kind == "caruana":
        selection = caruana_selection(
            P_val,
            y_val,
            primary[task],
            size=int(spec.params.get("size", 25)),
            seed=int(spec.params.get("seed", suite_seed)),
        )
        weights = np.asarray(selection.weights)
        blend_val, blend_test = weighted_blend(P_val, weights), weighted_blend(P_test, weights)
        extra["n_rounds"] = selection.n_rounds
        extra["val_in_fit"] = True  # chosen on these rows: the val score is optimistic
    elif spec.kind == "voting":
        given = spec.params.get("weights") or {}
        weights = np.array([float(given.get(label, 1.0)) for label in labels])
        if weights.sum() <= 0:
            raise _Skip("every member of this fold has weight 0")
        weights = weights / weights.sum()
        blend_val, blend_test = weighted_blend(P_val, weights), weighted_blend(P_test, weights)
        extra["val_in_fit"] = False
    elif spec.kind == "stacking":
        blend_val, blend_test, weights, final = _stacking(
            spec, task, P_val=P_val, y_val=y_val, P_test=P_test, seed=suite_seed
        )
        extra["final_model"] = final
        extra["val_in_fit"] = True  # the meta-model was fitted on these rows
    else:  # the suite validates kinds; a store written by a newer mlbench may hold others
        raise _Skip(f"unknown ensemble kind {spec.kind!r}")

    k = P_val.shape[2] if classification else 0
    preds: dict[str, np.ndarray] = {}
    for split, blend, y, src in (("val", blend_val, y_val, val[0]), ("test", blend_test, y_test, test[0])):
        if classification:
            pred = np.argmax(blend, axis=1)
            preds[f"{split}_proba"] = blend.astype(np.float32)
        else:
            pred = blend
        preds.update(
            {f"{split}_index": np.asarray(src[f"{split}_index"]), f"{split}_pred": pred, f"{split}_true": y}
        )
        for name, value in score(
            list(metrics.get(task, [])), y, pred, blend if classification else None, k
        ).items():
            extra[f"{split}_{name}"] = value
    extra.update(
        members_json=json.dumps(
            {
                label: (round(float(w), 6) if np.isfinite(w) else None)
                for label, w in zip(labels, weights, strict=True)
            }
        ),
        n_members=len(labels),
        n_train=int(np.nanmedian(members["n_train"])) if "n_train" in members else None,
        n_val=len(y_val),
        n_test=len(y_test),
        scored_metrics=",".join(metrics.get(task, [])),
    )
    return preds, extra


def _stacking(
    spec: Any, task: str, *, P_val: np.ndarray, y_val: np.ndarray, P_test: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Fit the meta-model on the members' validation predictions; blend val and test through it."""
    from mlbench.models import MODELS

    final = str(spec.params.get("final") or "logistic_regression")
    info = MODELS.get(final)
    if final == "logistic_regression" and task == "regression" and spec.params.get("final_given"):
        # mlbench's logistic_regression family is Ridge on regression data, which is the default
        # meta-model there; written out, the user asked for a classifier on a regression dataset.
        raise _Skip(
            "stacking's final model logistic_regression is a classifier and this dataset is regression; "
            "leave `final:` out to stack with Ridge, or give a regression model"
        )
    if task not in info.task_types:
        raise _Skip(
            f"stacking's final model {final!r} does not support {task} (it supports {', '.join(info.task_types)})"
        )
    params = info.params_for(dict(spec.params.get("final_params") or {}), task)
    meta = info.factory(params, task, seed, 1)
    m = P_val.shape[0]
    # features: each member's class probabilities (or values) side by side
    X_val = np.concatenate(list(P_val), axis=1) if P_val.ndim == 3 else P_val.T
    X_test = np.concatenate(list(P_test), axis=1) if P_test.ndim == 3 else P_test.T
    if task == "classification":
        k = P_val.shape[2]
        present = np.unique(y_val)
        if len(present) < 2:
            raise _Skip("the validation rows of this fold hold a single class; a meta-model cannot be fitted")
        meta.fit(X_val, np.searchsorted(present, y_val))

        def proba(X: np.ndarray) -> np.ndarray:
            full = np.zeros((len(X), k))
            full[:, present] = meta.predict_proba(X)
            return full

        blend_val, blend_test = proba(X_val), proba(X_test)
    else:
        meta.fit(X_val, y_val)
        blend_val, blend_test = (
            np.asarray(meta.predict(X_val), float),
            np.asarray(meta.predict(X_test), float),
        )
    # how much the meta-model leans on each member: the share of its coefficients' magnitude
    coef = getattr(meta, "coef_", None)
    if coef is not None:
        c = np.abs(np.atleast_2d(coef)).sum(axis=0)
        per_member = c.reshape(m, -1).sum(axis=1) if P_val.ndim == 3 else c
        weights = per_member / per_member.sum() if per_member.sum() > 0 else np.full(m, 1.0 / m)
    else:
        weights = np.full(m, np.nan)
    name = type(meta).__name__
    return blend_val, blend_test, weights, name


# --------------------------------------------------------------------------------------------
# what the ensembles bought


_GAIN_COLUMNS = [
    "dataset",
    "train_size",
    "n_train",
    "ensemble",
    "metric",
    "best_single",
    "ensemble_mean",
    "best_mean",
    "gain",
    "ci_low",
    "ci_high",
    "n_folds",
    "pays",
    "note",
]


def ensemble_gains(results: Any, primary: dict[str, str] | None = None, level: float = 0.95) -> Any:
    """Each ensemble against the best single model, per dataset and training size.

    The best single model is chosen on validation scores (the mean of ``val_<metric>`` over the
    size's jobs, only rows whose validation predictions were out-of-sample, ``val_in_fit = 0``),
    never on test scores; the comparison is then on test scores, paired by fold (repeats averaged
    within each fold first).

    Parameters
    ----------
    results : pandas.DataFrame
        A run's results with its ensemble rows (column ``ensemble`` set).
    primary : dict, optional
        ``{task_type or dataset: metric}``; default each dataset's primary metric.
    level : float
        Coverage of the interval of the gain.

    Returns
    -------
    pandas.DataFrame
        Columns dataset, train_size, n_train, ensemble (its label), metric, best_single,
        ensemble_mean, best_mean (test means over the paired folds), gain (mean per-fold difference,
        oriented so that positive means the ensemble is better whatever the metric's direction),
        ci_low/ci_high (Nadeau-Bengio corrected resampled t over folds, ``n_test / n_train`` with the
        dataset's largest training set; NaN with a single test split), n_folds, pays (``ci_low > 0``:
        the ensemble is better beyond fold-to-fold noise), note (why something is missing).
    """
    import pandas as pd

    from mlbench.analysis.intervals import corrected_t_interval
    from mlbench.analysis.tables import primary_metrics
    from mlbench.metrics import METRICS

    if results is None or not len(results) or "ensemble" not in results.columns:
        return pd.DataFrame(columns=_GAIN_COLUMNS)
    ok = results[results["status"] == "ok"]
    chosen = primary_metrics(ok, primary=primary)
    rows = []
    for dataset, metric in chosen.items():
        d = ok[ok["dataset"] == dataset]
        good = 1.0 if METRICS.get(metric).greater_is_better else -1.0
        test_col, val_col = f"test_{metric}", f"val_{metric}"
        n_pool = float(pd.to_numeric(d["n_train"], errors="coerce").max())
        singles_all = d[d["ensemble"].isna()]
        for (label, size), ens in d[d["ensemble"].notna()].groupby(["model", "train_size"], sort=True):
            base = {"dataset": dataset, "train_size": float(size), "ensemble": label, "metric": metric}
            base["n_train"] = float(pd.to_numeric(ens["n_train"], errors="coerce").median())
            singles = singles_all[singles_all["train_size"] == size]
            honest = (
                singles[singles["val_in_fit"].astype(float) == 0]
                if "val_in_fit" in singles
                else singles.iloc[:0]
            )
            if honest.empty or val_col not in honest or honest[val_col].isna().all():
                rows.append(
                    {**base, "note": "no single model has out-of-sample validation scores to choose by"}
                )
                continue
            means = honest.groupby("model")[val_col].mean() * good
            best = str(means.idxmax())
            mine = ens[["fold", "repeat", test_col]].rename(columns={test_col: "e"})
            theirs = singles[singles["model"] == best][["fold", "repeat", test_col]].rename(
                columns={test_col: "b"}
            )
            paired = mine.merge(theirs, on=["fold", "repeat"]).dropna()
            if paired.empty:
                rows.append({**base, "best_single": best, "note": "no fold where both have a test score"})
                continue
            paired["diff"] = (paired["e"] - paired["b"]) * good
            per_fold = paired.groupby("fold")[["e", "b", "diff"]].mean()
            low = high = float("nan")
            note = None
            if len(per_fold) >= 2:
                n_test = float(pd.to_numeric(ens["n_test"], errors="coerce").median())
                low, high = corrected_t_interval(per_fold["diff"].to_numpy(), n_test, n_pool, level)
            else:
                note = "one test split: no fold-to-fold interval"
            rows.append(
                {
                    **base,
                    "best_single": best,
                    "ensemble_mean": float(per_fold["e"].mean()),
                    "best_mean": float(per_fold["b"].mean()),
                    "gain": float(per_fold["diff"].mean()),
                    "ci_low": low,
                    "ci_high": high,
                    "n_folds": len(per_fold),
                    "pays": bool(low > 0) if np.isfinite(low) else False,
                    "note": note,
                }
            )
    return pd.DataFrame(rows, columns=_GAIN_COLUMNS)


def ensemble_weights(results: Any) -> Any:
    """Mean weight of each member per dataset, ensemble and training size (over folds and repeats).

    Returns
    -------
    pandas.DataFrame
        Columns dataset, ensemble, train_size, member, weight (members a fold left out count 0).
    """
    import pandas as pd

    cols = ["dataset", "ensemble", "train_size", "member", "weight"]
    if results is None or "members_json" not in results.columns:
        return pd.DataFrame(columns=cols)
    ens = results[(results["status"] == "ok") & results["members_json"].notna()]
    out = []
    for (dataset, label, size), rows in ens.groupby(["dataset", "model", "train_size"], sort=True):
        weights = [json.loads(text) for text in rows["members_json"]]
        members = sorted({m for w in weights for m in w})
        for member in members:
            values = [float(w.get(member) or 0.0) for w in weights]
            out.append((dataset, label, float(size), member, float(np.mean(values))))
    return pd.DataFrame(out, columns=cols)
