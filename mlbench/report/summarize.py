"""Step one of the report: results table -> plain, JSON-able summary dict.

Everything the HTML shows is computed here, so tests check numbers on a dict rather than
scraping HTML, and a later, fuller comparison report can reuse (or extend) the same dict.
The dict holds only ``str``, ``int``, ``float``, ``bool``, ``None``, ``list`` and ``dict``;
missing or undefined numbers (NaN) become ``None``.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING, Any

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
)

#: Lines of an error shown before the rest is folded into a <details>.
ERROR_HEAD_LINES = 3

# Fallback when a metric column is not a registered metric: these name fragments mean "lower is better".
_LOWER_IS_BETTER_HINTS = ("loss", "error", "rmse", "mse", "mae", "time", "seconds")


def greater_is_better(metric: str) -> bool:
    """Return whether a larger value of ``metric`` is better.

    Parameters
    ----------
    metric : str
        A metric name; registered metrics use their declared direction, unknown ones a name heuristic.
    """
    from mlbench.metrics import METRICS

    if metric in METRICS:
        return bool(METRICS.get(metric).greater_is_better)
    return not any(hint in metric.lower() for hint in _LOWER_IS_BETTER_HINTS)


def direction_label(greater: bool) -> str:
    """Return ``"higher is better"`` or ``"lower is better"``."""
    return "higher is better" if greater else "lower is better"


def summarize(
    results: pd.DataFrame,
    meta: dict[str, Any] | None = None,
    *,
    predictions: PredictionLoader | None = None,
    datasets: DatasetLoader | None = None,
    alpha: float = 0.05,
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
        ``job_id -> dict of arrays`` (:meth:`mlbench.store.Store.load_predictions`); enables the
        confusion matrices and the CNN pictures.
    datasets : callable, optional
        ``dataset name -> Dataset or None``; true test labels and class names for the same.
    alpha : float
        Significance level of the tests across datasets.

    Returns
    -------
    dict
        ``{"header", "overall", "datasets", "sanity", "failures"}``; see the module docstring for
        the value types. Datasets are sorted by name; each carries a leaderboard at the largest
        train size (sorted best-first, with 95% CIs, train-test gap, cost and Pareto flags),
        ``scaling`` (learning curves, power-law fits, crossovers) when several train sizes ran,
        ``histories`` of deep models, ``confusion`` and ``visuals`` when predictions are reachable.
    """
    import pandas as pd

    meta = dict(meta or {})
    df = results.copy() if results is not None else pd.DataFrame()
    for col in _COLUMNS:
        if col not in df.columns:
            df[col] = None
    # Group keys must be plain strings: names come from users and may be anything (even None).
    for col in ("dataset", "task_type", "model", "status"):
        df[col] = df[col].map(lambda v: "" if _isnull(v) else str(v))
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

    from mlbench.report import sections

    loader = _cached(datasets)
    items = [
        _summarize_dataset(name, part, meta, predictions, loader) for name, part in _groups(df, "dataset")
    ]
    # The metric each dataset was judged on, per task type, for the analyses across datasets.
    primary: dict[str, str] = {}
    for ds in items:
        if ds["primary_metric"] and ds["task_type"]:
            primary.setdefault(ds["task_type"], ds["primary_metric"])
    named = df[df["dataset"] != ""]
    scaling = sections.scaling(named, primary, {d["name"]: d["greater_is_better"] for d in items})
    for ds in items:
        ds["scaling"] = scaling.get(ds["name"])
    summary = {
        "header": _header(df, meta),
        "overall": sections.overall(named, primary, alpha),
        "datasets": items,
        "sanity": sections.sanity(df),
        "failures": _failures(df),
    }
    return _jsonable(summary)


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
    suites = sorted({str(s) for s in df.get("suite", []) if not _isnull(s)}) if "suite" in df else []
    started = meta.get("started_at") or _first(df["started_at"], min)
    finished = meta.get("finished_at")
    if finished is None and meta.get("status") not in ("running",):
        finished = _first(df["finished_at"], max)
    counts = df["status"].value_counts()
    # Fixed order for the known statuses (ok first), then anything unexpected, so the header reads the same.
    ordered = [s for s in STATUS_ORDER if s in counts.index] + sorted(
        s for s in counts.index if s not in STATUS_ORDER
    )
    compute = df["fit_seconds"].fillna(0).sum() + df["predict_seconds"].fillna(0).sum()
    return {
        "suite": meta.get("suite") or (suites[0] if suites else "mlbench run"),
        "status": meta.get("status") or ("finished" if len(df) else "empty"),
        "started_at": _str_or_none(started),
        "finished_at": _str_or_none(finished),
        "duration_seconds": _duration(started, finished),
        "compute_seconds": float(compute),
        "n_jobs": len(df),
        "status_counts": {s: int(counts[s]) for s in ordered},
        "n_datasets": df.loc[df["dataset"] != "", "dataset"].nunique(),
        "n_models": df.loc[df["model"] != "", "model"].nunique(),
        "models": sorted(str(m) for m in df.loc[df["model"] != "", "model"].unique()),
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
    if _isnull(value):
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
        elif not _isnull(v):
            out[prefix] = str(v)

    walk("", value)
    return out


# --------------------------------------------------------------------------------------------- datasets


def _metric_names(df: pd.DataFrame, prefix: str) -> list[str]:
    """Metrics that have at least one value in ``<prefix>_<m>`` columns of these rows, in column order."""
    return [c[len(prefix) + 1 :] for c in df.columns if c.startswith(prefix + "_") and df[c].notna().any()]


def _summarize_dataset(
    name: str,
    df: pd.DataFrame,
    meta: dict[str, Any],
    predictions: PredictionLoader | None = None,
    datasets: DatasetLoader | None = None,
) -> dict[str, Any]:
    import pandas as pd

    from mlbench.report import sections

    task_types = [t for t in df["task_type"].unique() if t]
    task = task_types[0] if task_types else ""
    ok = df[df["status"] == "ok"]
    available = _metric_names(ok, "test")
    # Order metrics as the suite listed them, then any extra columns that carry data.
    wanted = list((meta.get("metrics") or {}).get(task, [])) if isinstance(meta.get("metrics"), dict) else []
    metrics = [m for m in wanted if m in available] + [m for m in available if m not in wanted]
    primary_cfg = (meta.get("primary_metric") or {}) if isinstance(meta.get("primary_metric"), dict) else {}
    primary = primary_cfg.get(task)
    if primary not in available:
        primary = metrics[0] if metrics else None
    greater = greater_is_better(primary) if primary else True
    others = [m for m in metrics if m != primary]

    levels = _train_levels(df)
    rows = []
    tops: dict[str, pd.DataFrame] = {}
    for model, part in _groups(df, "model"):
        row, at = _leaderboard_row(model, part, levels, primary, others)
        rows.append(row)
        tops[model] = at[at["status"] == "ok"]
    rows = _rank(rows, greater)
    sections.pareto_flags(rows, greater)

    at_top = pd.concat(tops.values()) if tops else ok.iloc[0:0]
    deep = sections.histories(at_top)
    ds_obj = datasets(name) if datasets is not None and name else None
    confusion = visuals = None
    if task == "classification" and rows and rows[0].get("rank") == 1:
        best = rows[0]["model"]
        confusion = sections.confusion(tops[best], best, predictions, ds_obj)
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
        "leaderboard": rows,
        "has_params": any(r["n_params"] is not None for r in rows),
        "has_memory": any(r["peak_memory_mb"] is not None for r in rows),
        "scaling": None,
        "histories": deep,
        "confusion": confusion,
        "visuals": visuals,
    }


def _train_levels(df: pd.DataFrame) -> dict[float, float]:
    """Map each ``train_size`` of a dataset to an orderable size (rows).

    Sizes come from ``n_train`` over *all* models' rows at that train size (splits are shared, so
    every model sees the same rows), so a model whose full-size jobs all failed before recording
    ``n_train`` still has its full size recognised. With no ``n_train`` at all a fraction (<= 1)
    counts as larger than any row count: 1.0 means the full data.
    """
    levels: dict[float, float] = {}
    for size, part in _groups(df, "train_size"):
        n = part["n_train"].max()
        if not _isnull(n):
            levels[size] = float(n)
        elif _isnull(size):
            levels[size] = -math.inf
        else:
            levels[size] = 1e18 * size if size <= 1 else float(size)
    return levels


def _leaderboard_row(
    model: str,
    df: pd.DataFrame,
    levels: dict[float, float],
    primary: str | None,
    others: list[str],
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The model's row at its largest train size, and that size's jobs."""
    import pandas as pd

    # The model's largest train size: the full data, or the top of a sweep. Sizes whose jobs were
    # all skipped (a row count larger than this dataset) did not happen and do not count; sizes
    # that failed do, so a broken full-size run shows as failed rather than silently smaller.
    ran = df[df["status"] != "skipped"]
    sizes = (ran if len(ran) else df)["train_size"].unique()
    top = max(sizes, key=lambda s: levels.get(s, -math.inf))
    at = df[_same(df["train_size"], top)]
    ok = at[at["status"] == "ok"]

    def col(name: str) -> pd.Series:
        return pd.to_numeric(ok[name], errors="coerce") if name in ok.columns else pd.Series(dtype=float)

    row: dict[str, Any] = {
        "model": model,
        "train_size": _num(top),
        "n_train": _num(ok["n_train"].median() if len(ok) else at["n_train"].median()),
        "n_ok": len(ok),
        "n_jobs": len(at),
        "test_mean": None,
        "test_std": None,
        "train_mean": None,
        "train_std": None,
        "test_ci_low": None,
        "test_ci_high": None,
        "gap": None,
        "other_test_means": {m: _num(col("test_" + m).mean()) for m in others},
        "other_test": {m: _mean_ci(col("test_" + m)) for m in others},
        "fit_seconds": _num(ok["fit_seconds"].mean()),
        "predict_seconds": _num(ok["predict_seconds"].mean()),
        "peak_memory_mb": _num(ok["peak_memory_mb"].max()),
        "n_params": _num(col("n_params").mean()) if "n_params" in ok.columns else None,
    }
    if primary:
        for split in ("test", "train"):
            values = col(f"{split}_{primary}")
            row[f"{split}_mean"] = _num(values.mean())
            row[f"{split}_std"] = _num(values.std())  # ddof=1; None with a single run
        test_values = col(f"test_{primary}")
        if "fold" in ok.columns and ok["fold"].nunique() > 1:
            # folds are the independent samples; repeats of a fold are averaged first
            test_values = test_values.groupby(ok["fold"]).mean()
        ci = _mean_ci(test_values)
        row["test_ci_low"], row["test_ci_high"] = ci["ci_low"], ci["ci_high"]
        if row["train_mean"] is not None and row["test_mean"] is not None:
            diff = row["train_mean"] - row["test_mean"]
            # Positive = overfitting, whatever the metric's direction.
            row["gap"] = diff if greater_is_better(primary) else -diff
    return row, at


def _mean_ci(values: pd.Series) -> dict[str, float | None]:
    """Mean and 95% Student-t interval over folds and repeats (None bounds with one value)."""
    from mlbench.report.sections import analysis_module

    clean = values.dropna().astype(float)
    stats = analysis_module("stats")
    lo = hi = None
    if stats is not None and len(clean) >= 2:
        lo, hi = stats.confidence_interval(clean.to_numpy())
    return {"mean": _num(clean.mean()), "ci_low": _num(lo), "ci_high": _num(hi)}


def _rank(rows: list[dict[str, Any]], greater: bool) -> list[dict[str, Any]]:
    """Sort best-first (models without a score last, by name) and add competition ranks (1, 2, 2, 4)."""
    scored = [r for r in rows if r["test_mean"] is not None]
    unscored = sorted((r for r in rows if r["test_mean"] is None), key=lambda r: r["model"])
    scored.sort(key=lambda r: ((-r["test_mean"] if greater else r["test_mean"]), r["model"]))
    previous, rank = None, 0
    for i, r in enumerate(scored, start=1):
        if r["test_mean"] != previous:
            rank, previous = i, r["test_mean"]
        r["rank"] = rank
        r["best"] = rank == 1
    for r in unscored:
        r["rank"] = None
        r["best"] = False
    return scored + unscored


# --------------------------------------------------------------------------------------------- failures


def _failures(df: pd.DataFrame, limit: int = 500) -> dict[str, Any]:
    bad = df[df["status"] != "ok"].sort_values(
        ["dataset", "model", "train_size", "fold", "repeat"], na_position="last", kind="stable"
    )
    items = []
    for rec in bad.head(limit).to_dict("records"):
        error = "" if _isnull(rec["error"]) else str(rec["error"])
        head, folded = _error_head(error)
        items.append(
            {
                "dataset": rec["dataset"],
                "model": rec["model"],
                "fold": _int(rec["fold"]),
                "repeat": _int(rec["repeat"]),
                "train_size": _num(rec["train_size"]),
                "n_train": _int(rec["n_train"]),
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
    out.sort(key=lambda kg: (_isnull(kg[0]), kg[0] if not _isnull(kg[0]) else 0))
    return out


def _same(series: pd.Series, value: Any) -> pd.Series:
    return series.isna() if _isnull(value) else series == value


def _isnull(value: Any) -> bool:
    if value is None or type(value).__name__ in ("NAType", "NaTType"):  # pandas.NA / NaT, without pandas
        return True
    try:
        return bool(value != value)  # NaN is the only value unequal to itself
    except (TypeError, ValueError):  # arrays and other containers are values, not missing
        return False


def _first(series: pd.Series, pick: Any) -> Any:
    values = [str(v) for v in series if not _isnull(v)]
    return pick(values) if values else None  # ISO timestamps sort as strings


def _str_or_none(value: Any) -> str | None:
    return None if _isnull(value) else str(value)


def _num(value: Any) -> float | None:
    """A finite float, or None for missing/NaN/inf."""
    if _isnull(value):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _int(value: Any) -> int | None:
    x = _num(value)
    return None if x is None else int(x)


def _jsonable(value: Any) -> Any:
    """Convert numpy/pandas scalars to plain Python and non-finite floats to None, recursively."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if hasattr(value, "item") and not isinstance(value, (bytes, bytearray)):
        value = value.item()  # numpy scalar -> Python
        if isinstance(value, (bool, int, str)):
            return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return None if _isnull(value) else str(value)
