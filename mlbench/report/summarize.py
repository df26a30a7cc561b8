"""Step one of the report: results table -> plain, JSON-able summary dict.

Everything the HTML shows is computed here, so tests check numbers on a dict rather than
scraping HTML, and a later, fuller comparison report can reuse (or extend) the same dict.
The dict holds only ``str``, ``int``, ``float``, ``bool``, ``None``, ``list`` and ``dict``;
missing or undefined numbers (NaN) become ``None``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from mlbench.report.values import direction_label, greater_is_better
from mlbench.values import int_or_none, is_missing, jsonable, number_or_none, text_or_none

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from mlbench.report.sections import DatasetLoader, PredictionLoader

STATUS_ORDER = ("ok", "failed", "timeout", "oom", "skipped")

#: Columns the summary reads; missing ones are added as empty so partial tables still summarize.
_COLUMNS = (
    "dataset",
    "task_type",
    "model",
    "fold",
    "repeat",
    "train_size",
    "n_train",
    "status",
    "error",
    "fit_seconds",
    "predict_seconds",
    "peak_memory_mb",
    "started_at",
    "finished_at",
    "importance_json",
)

#: Lines of an error shown before the rest is folded into a <details>.
ERROR_HEAD_LINES = 3


def summarize(
    results: pd.DataFrame,
    meta: dict[str, Any] | None = None,
    *,
    predictions: PredictionLoader | None = None,
    datasets: DatasetLoader | None = None,
    alpha: float = 0.05,
    trials: pd.DataFrame | None = None,
    diagnostics: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Summarize a run's results for the report.

    Parameters
    ----------
    results : pandas.DataFrame
        One row per job (latest attempt), as returned by :func:`mlbench.store.load_results`:
        ``dataset``, ``task_type``, ``model``, ``fold``, ``repeat``, ``train_size``, ``n_train``,
        ``status``, ``error``, timings, ``peak_memory_mb`` and ``train_<m>``/``val_<m>``/``test_<m>``
        metric columns.
    meta : dict, optional
        Run information: ``suite``, ``started_at``, ``finished_at``, ``status``,
        ``primary_metric`` (task type -> metric name), ``metrics`` (task type -> names),
        ``versions``, ``hardware``.
    predictions : callable, optional
        ``job_id -> dict of arrays`` (:meth:`mlbench.store.Store.load_predictions`, with
        ``test_true``); enables the confidence intervals of single-split datasets (a bootstrap over
        the test rows), the confusion matrices and the CNN pictures.
    datasets : callable, optional
        ``dataset name -> Dataset or None``; true test labels and class names for the same.
    alpha : float
        Significance level of the tests across datasets.
    trials : pandas.DataFrame, optional
        The tuned jobs' trials (:meth:`mlbench.reader.Run.trials`); each dataset with a tuned
        model gets ``tuning`` (:func:`mlbench.report.tuning.tuning_sections`), else None.
    diagnostics : pandas.DataFrame, optional
        The run's train/test mismatch checks (:meth:`mlbench.reader.Run.diagnostics`); summarized
        as ``mismatch`` by :func:`mlbench.report.mismatch.summarize_mismatch`.

    Returns
    -------
    dict
        ``{"header", "overall", "datasets", "sanity", "failures"}``; see the module docstring for
        the value types. ``overall`` is :func:`mlbench.report.sections.overall`: one leaderboard
        (and, with 3 or more datasets, Friedman with Iman-Davenport, CD diagram, Wilcoxon-Holm) per
        group of datasets sharing the same applicable models. Datasets are sorted by name; each
        carries ``reference_train_size`` and a ``leaderboard`` from
        :func:`mlbench.analysis.score_table` at that size, the same for every model (rows: model,
        status, rank from :func:`mlbench.analysis.ranks` with failed models last and skipped ones
        unranked, best, n_ok, n_jobs, test_mean/std, test_ci_low/high with ci_method and ci_note,
        train_mean/std, gap, other_test per metric with its interval, cost and Pareto flags,
        compared_note: on which folds the rank compared it), ``compared_note`` (a sentence when a
        model failed on some folds, so the ranks compare the folds every model completed),
        ``ci_methods`` (the interval methods used, in words), ``scaling`` (learning curves,
        power-law fits, crossovers beyond noise) when several train sizes ran, ``ensembles`` (each
        ensemble against the best single model chosen on validation, per train size, and the
        members' weights; see :func:`mlbench.report.sections.ensembles`) when the run built some,
        ``histories`` of deep models, ``confusion`` and ``visuals`` when predictions are reachable,
        ``verdict`` (:meth:`mlbench.analysis.DatasetVerdict.as_dict`: the report's first section).
    """
    import pandas as pd

    meta = dict(meta or {})
    df = results.copy() if results is not None else pd.DataFrame()
    for col in _COLUMNS:
        if col not in df.columns:
            df[col] = None
    # Group keys must be plain strings: names come from users and may be anything (even None).
    for col in ("dataset", "task_type", "model", "status"):
        df[col] = df[col].map(lambda v: "" if is_missing(v) else str(v))
    for col in (
        "train_size",
        "n_train",
        "fold",
        "repeat",
        "fit_seconds",
        "predict_seconds",
        "peak_memory_mb",
    ):
        df[col] = pd.to_numeric(df[col], errors="coerce")

    from mlbench.analysis.memo import reuse

    # the sections ask many questions of one table: its intermediate tables are built once
    with reuse():
        return _summarize(df, meta, predictions, datasets, alpha, trials, diagnostics)


def _summarize(
    df: pd.DataFrame,
    meta: dict[str, Any],
    predictions: PredictionLoader | None,
    datasets: DatasetLoader | None,
    alpha: float,
    trials: pd.DataFrame | None,
    diagnostics: pd.DataFrame | None,
) -> dict[str, Any]:
    from mlbench.report import sections

    loader = _cached(datasets)
    named = df[df["dataset"] != ""]
    parts = _groups(df, "dataset")
    # The metric each dataset is judged on (the suite's choice, else its first metric with data),
    # passed by dataset name to every analysis so that the tables and the tests agree.
    choice = {name: _metric_choice(part, meta) for name, part in parts}
    primary = {str(name): c[0] for name, c in choice.items() if c[0] and name != ""}
    scores = _analysis_tables(named, primary, predictions)
    items = [
        _summarize_dataset(name, part, choice[name], scores, predictions, loader) for name, part in parts
    ]
    scaling = sections.scaling(
        named, primary, {d["name"]: d["greater_is_better"] for d in items}, predictions=predictions
    )
    ensembles = sections.ensembles(named, primary)
    from mlbench.report.overfit import overfitting
    from mlbench.report.tuning import tuning_sections

    overfit = overfitting(named, primary, diagnostics, loader)
    tuning = tuning_sections(named, trials, primary)
    for ds in items:
        ds["scaling"] = scaling.get(ds["name"])
        ds["ensembles"] = ensembles.get(ds["name"])
        ds["overfitting"] = overfit.get(ds["name"])
        ds["tuning"] = tuning.get(ds["name"])
    verdicts = sections.verdicts(named, primary, predictions)
    for ds in items:
        ds["verdict"] = verdicts.get(ds["name"])
    importance, best_importance = sections.importance(named, items)
    for ds in items:
        ds["importance"] = importance.get(ds["name"])
    summary = {
        "header": _header(df, meta),
        "overall": sections.overall(named, primary, alpha),
        "datasets": items,
        "sanity": sections.sanity(df),
        "failures": _failures(df),
    }
    from mlbench.report.mismatch import summarize_mismatch

    summary["mismatch"] = summarize_mismatch(diagnostics, loader, importance=best_importance)
    return jsonable(summary)


def _analysis_tables(
    named: pd.DataFrame, primary: dict[str, str], predictions: PredictionLoader | None
) -> dict[str, Any]:
    """The analyses behind the per-dataset tables, computed once for all datasets."""
    import warnings

    from mlbench import analysis

    if named.empty:
        return {"table": None, "ranks": None, "compared": {}, "refs": {}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = analysis.score_table(named, primary, predictions=predictions)
        ranks = analysis.ranks(named, primary=primary)
        refs = analysis.reference_sizes(named)
    return {
        "table": table,
        "ranks": {(r.dataset, r.model): float(r.rank) for r in ranks.itertuples(index=False)},
        "compared": {
            (r.dataset, r.model): (int(r.n_compared), int(r.n_units), text_or_none(r.compared_note))
            for r in ranks.itertuples(index=False)
        },
        "refs": {str(r.dataset): r.train_size for r in refs.itertuples(index=False)},
    }


def _cached(loader: DatasetLoader | None) -> DatasetLoader | None:
    """Wrap a dataset loader: each name loaded once, errors read as "not available"."""
    if loader is None:
        return None
    cache: dict[str, Any] = {}

    def load(name: str) -> Any:
        if name not in cache:
            try:
                cache[name] = loader(name)
            except Exception:
                cache[name] = None
        return cache[name]

    return load


# --------------------------------------------------------------------------------------------- header


def _header(df: pd.DataFrame, meta: dict[str, Any]) -> dict[str, Any]:
    suites = sorted({str(s) for s in df.get("suite", []) if not is_missing(s)}) if "suite" in df else []
    started = meta.get("started_at") or _first(df["started_at"], min)
    finished = meta.get("finished_at")
    if finished is None and meta.get("status") not in ("running",):
        finished = _first(df["finished_at"], max)
    # ensemble rows are built after the run from stored predictions: not jobs, and not models
    ens = (
        df["ensemble"].map(lambda v: not is_missing(v))
        if "ensemble" in df
        else df["model"].map(lambda _: False)
    )
    ens = ens.astype(bool)
    ensembles = df[ens]
    df = df[~ens]
    counts = df["status"].value_counts()
    # Fixed order for the known statuses (ok first), then anything unexpected, so the header reads the same.
    ordered = [s for s in STATUS_ORDER if s in counts.index] + sorted(
        s for s in counts.index if s not in STATUS_ORDER
    )
    compute = df["fit_seconds"].fillna(0).sum() + df["predict_seconds"].fillna(0).sum()
    return {
        "suite": meta.get("suite") or (suites[0] if suites else "mlbench run"),
        "status": meta.get("status") or ("finished" if len(df) else "empty"),
        "started_at": text_or_none(started),
        "finished_at": text_or_none(finished),
        "duration_seconds": _duration(started, finished),
        "compute_seconds": float(compute),
        "n_jobs": len(df),
        "status_counts": {s: int(counts[s]) for s in ordered},
        "n_datasets": df.loc[df["dataset"] != "", "dataset"].nunique(),
        "n_models": df.loc[df["model"] != "", "model"].nunique(),
        "models": sorted(str(m) for m in df.loc[df["model"] != "", "model"].unique()),
        "n_ensembles": ensembles.loc[ensembles["model"] != "", "model"].nunique(),
        "n_ensemble_rows": len(ensembles),
        "versions": _flat_mapping(meta.get("versions")),
        "hardware": _flat_mapping(meta.get("hardware")),
    }


def _duration(started: Any, finished: Any) -> float | None:
    a, b = _parse_time(started), _parse_time(finished)
    if a is None or b is None:
        return None
    try:
        return max((b - a).total_seconds(), 0.0)
    except TypeError:  # one timestamp has a timezone, the other not: no honest duration
        return None


def _parse_time(value: Any) -> datetime | None:
    if is_missing(value):
        return None
    if isinstance(value, datetime):
        return value
    try:
        # Python 3.10's fromisoformat does not accept a trailing "Z".
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _flat_mapping(value: Any) -> dict[str, str]:
    """Versions/hardware as ``{str: str}``, nested values flattened with dotted keys."""
    out: dict[str, str] = {}
    if not isinstance(value, dict):
        return out

    def walk(prefix: str, v: Any) -> None:
        if isinstance(v, dict):
            for k, sub in v.items():
                walk(f"{prefix}.{k}" if prefix else str(k), sub)
        elif isinstance(v, (list, tuple)):
            out[prefix] = ", ".join(str(x) for x in v)
        elif not is_missing(v):
            out[prefix] = str(v)

    walk("", value)
    return out


# --------------------------------------------------------------------------------------------- datasets


def _metric_names(df: pd.DataFrame, prefix: str) -> list[str]:
    """Metrics that have at least one value in ``<prefix>_<m>`` columns of these rows, in column order."""
    return [c[len(prefix) + 1 :] for c in df.columns if c.startswith(prefix + "_") and df[c].notna().any()]


def _metric_choice(df: pd.DataFrame, meta: dict[str, Any]) -> tuple[str | None, list[str], str]:
    """A dataset's (primary metric, other metrics, task type), from the suite's order and the data.

    Only registered metrics (whose direction and range are known) are shown.
    """
    from mlbench.metrics import METRICS

    task_types = [t for t in df["task_type"].unique() if t]
    task = task_types[0] if task_types else ""
    ok = df[df["status"] == "ok"]
    available = [m for m in _metric_names(ok, "test") if m in METRICS]
    # Order metrics as the suite listed them, then any extra columns that carry data.
    wanted = list((meta.get("metrics") or {}).get(task, [])) if isinstance(meta.get("metrics"), dict) else []
    metrics = [m for m in wanted if m in available] + [m for m in available if m not in wanted]
    primary_cfg = (meta.get("primary_metric") or {}) if isinstance(meta.get("primary_metric"), dict) else {}
    primary = primary_cfg.get(task)
    if primary not in available:
        primary = metrics[0] if metrics else None
    return primary, [m for m in metrics if m != primary], task


def _summarize_dataset(
    name: str,
    df: pd.DataFrame,
    choice: tuple[str | None, list[str], str],
    scores: dict[str, Any],
    predictions: PredictionLoader | None = None,
    datasets: DatasetLoader | None = None,
) -> dict[str, Any]:
    import pandas as pd

    from mlbench.models.sklearn_models import BASELINE
    from mlbench.report import sections
    from mlbench.report.sentences import baseline_sentence

    primary, others, task = choice
    ok = df[df["status"] == "ok"]
    greater = greater_is_better(primary) if primary else True
    table = scores["table"]
    mine = table[table["dataset"] == name] if table is not None and name != "" else None
    rows = _leaderboard_rows(mine, scores["ranks"], name, primary, others)
    sections.pareto_flags(rows, greater)
    compared = {m: c for (d, m), c in (scores.get("compared") or {}).items() if d == name}
    for r in rows:
        r["compared_note"] = compared[r["model"]][2] if r["model"] in compared else None

    # The jobs each model is judged on: its ok jobs at the dataset's reference size.
    ref = scores["refs"].get(name)
    at_ref = ok[ok["train_size"].isna()] if is_missing(ref) else ok[ok["train_size"] == ref]
    tops = {str(m): part for m, part in at_ref.groupby("model", sort=True)}
    at_top = at_ref
    deep = sections.histories(at_top)
    ds_obj = datasets(name) if datasets is not None and name else None
    confusion = visuals = None
    if task == "classification" and rows and rows[0].get("best"):
        best = rows[0]["model"]
        confusion = sections.confusion(tops.get(best, ok.iloc[0:0]), best, predictions, ds_obj)
    deep_models = {h["model"] for h in deep}
    for r in rows:  # best deep model with stored pictures (image datasets only)
        if r["model"] in deep_models and r["test_mean"] is not None and predictions is not None:
            job = sections.representative(tops[r["model"]])
            visuals = sections.visuals(job, r["model"], predictions, ds_obj) if job is not None else None
            if visuals is not None:
                break

    sizes = sorted(
        {int(v) for v in pd.to_numeric(ok["n_train"], errors="coerce").dropna().unique()},
    )
    methods = sorted({r["ci_note"] for r in rows if r["test_mean"] is not None and r.get("ci_note")})
    return {
        "name": name,
        "task_type": task,
        "primary_metric": primary,
        "greater_is_better": greater,
        "direction": direction_label(greater),
        "other_metrics": others,
        "other_metrics_greater_is_better": {m: greater_is_better(m) for m in others},
        "n_jobs": len(df),
        "n_ok": len(ok),
        "n_train_sizes": sizes,
        "reference_train_size": number_or_none(ref),
        "leaderboard": rows,
        "compared_note": _compared_note(rows, compared),
        "baseline_note": baseline_sentence(rows, BASELINE),
        "ci_methods": methods,
        "has_params": any(r["n_params"] is not None for r in rows),
        "has_memory": any(r["peak_memory_mb"] is not None for r in rows),
        "scaling": None,
        "histories": deep,
        "confusion": confusion,
        "visuals": visuals,
        "provenance": _provenance(df),
    }


def _compared_note(
    rows: list[dict[str, Any]], compared: dict[str, tuple[int, int, str | None]]
) -> str | None:
    """One sentence when the ranks compare fewer folds than ran (some model failed on some folds)."""
    partial = [r["model"] for r in rows if r["status"] == "partial"]
    shared = [(k, n) for m, (k, n, _) in compared.items() if k and k < n]
    if not partial and not shared:
        return None
    who = ", ".join(partial) if partial else "some model"
    if shared:
        k, n = shared[0]
        how = f"the ranks compare every model on the {k} of {n} folds they all completed"
    else:
        how = "it shares no completed fold with the others, so it is ranked as failed"
    return (
        f"{who} failed on some folds at this size: {how}; the means shown are over each model's own "
        "completed folds (hover a status for details)."
    )


def _provenance(df: pd.DataFrame) -> list[str]:
    """What loading did to a dataset (source, dropped columns, inf replaced, ignored files), as
    recorded with its latest job that stored it; one line per step."""
    if "dataset_provenance" not in df:
        return []
    found = df["dataset_provenance"].dropna().astype(str)
    found = found[found != ""]
    if found.empty:
        return []
    return [part.strip() for part in found.iloc[-1].split("; ") if part.strip()]


def _leaderboard_rows(
    table: pd.DataFrame | None,
    ranks: dict[tuple[str, str], float] | None,
    dataset: str,
    primary: str | None,
    others: list[str],
) -> list[dict[str, Any]]:
    """One row per model from :func:`mlbench.analysis.score_table`: the primary metric's mean, std,
    interval and gap, the other metrics' means and intervals, cost; sorted best first.

    Ranks come from :func:`mlbench.analysis.ranks` (ties share the average rank; a model without a
    score at the reference size shares the last ranks); models that do not apply (skipped) come
    last without a rank.
    """
    if table is None or table.empty:
        return []
    rows = []
    for model, part in table.groupby("model", sort=True):
        by_metric = {str(m): r for m, r in zip(part["metric"], part.to_dict("records"), strict=True)}
        main = by_metric.get(str(primary)) if primary else None
        first = main if main is not None else part.iloc[0].to_dict()
        rank = ranks.get((dataset, str(model))) if ranks else None
        row: dict[str, Any] = {
            "model": str(model),
            "status": str(first["status"]),
            "rank": rank,
            "best": False,
            "train_size": number_or_none(first["train_size"]),
            "n_train": number_or_none(first["n_train"]),
            "n_ok": int_or_none(first["n_ok"]) or 0,
            "n_jobs": int_or_none(first["n_jobs"]) or 0,
            "test_mean": None,
            "test_std": None,
            "test_ci_low": None,
            "test_ci_high": None,
            "ci_method": None,
            "ci_note": None,
            "train_mean": None,
            "train_std": None,
            "gap": None,
            "other_test_means": {},
            "other_test": {},
            "fit_seconds": number_or_none(first["fit_seconds"]),
            "predict_seconds": number_or_none(first["predict_seconds"]),
            "peak_memory_mb": number_or_none(first["peak_memory_mb"]),
            "n_params": number_or_none(first["n_params"]),
            "no_better_than_baseline": str(first.get("no_better_than_baseline")) == "True",
        }
        if main is not None:
            row.update(
                test_mean=number_or_none(main["mean"]),
                test_std=number_or_none(main["std"]),
                test_ci_low=number_or_none(main["ci_low"]),
                test_ci_high=number_or_none(main["ci_high"]),
                ci_method=main["ci_method"],
                ci_note=main["ci_note"],
                train_mean=number_or_none(main["train_mean"]),
                train_std=number_or_none(main["train_std"]),
                gap=number_or_none(main["gap"]),
            )
        for m in others:
            r = by_metric.get(m)
            mean = number_or_none(r["mean"]) if r is not None else None
            row["other_test_means"][m] = mean
            row["other_test"][m] = {
                "mean": mean,
                "ci_low": number_or_none(r["ci_low"]) if r is not None else None,
                "ci_high": number_or_none(r["ci_high"]) if r is not None else None,
                "ci_method": r["ci_method"] if r is not None else None,
                "ci_note": r["ci_note"] if r is not None else None,
            }
        rows.append(row)
    rows.sort(key=lambda r: (r["rank"] is None, r["rank"] if r["rank"] is not None else 0, r["model"]))
    scored = [r["rank"] for r in rows if r["test_mean"] is not None and r["rank"] is not None]
    for r in rows:
        r["best"] = bool(scored) and r["test_mean"] is not None and r["rank"] == min(scored)
    return rows


# --------------------------------------------------------------------------------------------- failures


def _failures(df: pd.DataFrame, limit: int = 500) -> dict[str, Any]:
    bad = df[df["status"] != "ok"].sort_values(
        ["dataset", "model", "train_size", "fold", "repeat"], na_position="last", kind="stable"
    )
    items = []
    for rec in bad.head(limit).to_dict("records"):
        error = "" if is_missing(rec["error"]) else str(rec["error"])
        head, folded = _error_head(error)
        items.append(
            {
                "dataset": rec["dataset"],
                "model": rec["model"],
                "fold": int_or_none(rec["fold"]),
                "repeat": int_or_none(rec["repeat"]),
                "train_size": number_or_none(rec["train_size"]),
                "n_train": int_or_none(rec["n_train"]),
                "status": rec["status"],
                "error_head": head,
                "error": error,
                "error_folded": folded,
            }
        )
    return {"total": len(bad), "shown": len(items), "items": items}


def _error_head(error: str) -> tuple[str, bool]:
    """The lines worth reading first, and whether more text is folded away.

    A Python traceback's first lines are only "Traceback (most recent call last):" and frame
    paths; what went wrong is at its end, so for tracebacks the last lines are shown instead.
    """
    lines = [line for line in error.strip().splitlines() if line.strip()]
    if not lines:
        return "", False
    if lines[0].startswith("Traceback (most recent call last)"):
        head = lines[-ERROR_HEAD_LINES:]
    else:
        head = lines[:ERROR_HEAD_LINES]
    return "\n".join(head), len(lines) > len(head)


# --------------------------------------------------------------------------------------------- helpers


def _groups(df: pd.DataFrame, key: str) -> list[tuple[Any, pd.DataFrame]]:
    """Group by one column keeping NaN keys, sorted by key (NaN last)."""
    if df.empty:
        return []
    out = [(k[0] if isinstance(k, tuple) else k, g) for k, g in df.groupby(key, sort=False, dropna=False)]
    out.sort(key=lambda kg: (is_missing(kg[0]), kg[0] if not is_missing(kg[0]) else 0))
    return out


def _first(series: pd.Series, pick: Any) -> Any:
    values = [str(v) for v in series if not is_missing(v)]
    return pick(values) if values else None  # ISO timestamps sort as strings
