"""The analytical sections of the summary: overall ranking, scaling, deep models, confusion matrices.

Each function returns plain, JSON-able values (see :func:`mlbench.report.summarize`). Statistics come
from :mod:`mlbench.analysis`; stored predictions and datasets are reached through two optional
callables so the summary can be tested on synthetic tables without a store:

``predictions(job_id) -> dict[str, numpy.ndarray]`` (as :meth:`mlbench.store.Store.load_predictions`)
and ``datasets(name) -> Dataset | None`` (as :func:`mlbench.datasets.load_dataset` for that name).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlbench.values import int_or_none, jsonable, number_or_none, records

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

PredictionLoader = Callable[[str], "dict[str, np.ndarray]"]
DatasetLoader = Callable[[str], Any]

#: Confusion matrices of more classes than this are left out (unreadable, and large).
MAX_CLASSES = 50
#: Points of a fitted power law drawn per model.
FIT_POINTS = 40


def _quiet(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call an analysis function with its warnings (left-out datasets, small samples) silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


# --------------------------------------------------------------------------------------------- overall

#: What the report says about models without a score at a dataset's reference size.
FAILED_POLICY = (
    "Every model is judged at each dataset's largest training size (the same for all models). "
    "A model with no successful job there counts as failed on that dataset: it is ranked last "
    "there (normalised score 0, never a win) and left out of the significance tests, which need "
    "a score on every dataset. When a model failed on some folds only (partial), every model of "
    "that dataset is compared on the folds they all completed, never on the mean of its own, "
    "possibly easier, folds (one that shares no fold with the others counts as failed). Equal "
    "mean ranks go to the model with fewer failures."
)


def overall(ok: pd.DataFrame, primary: dict[str, str], alpha: float = 0.05) -> dict[str, Any]:
    """Leaderboards across datasets and, with at least 3 datasets, Friedman/Iman-Davenport, CD and Wilcoxon.

    One block per dataset group (:func:`mlbench.analysis.dataset_groups`: datasets where the same
    models apply), so a CNN that only runs on image datasets is ranked against the others there
    only.

    Parameters
    ----------
    ok : pandas.DataFrame
        Results table (any status).
    primary : dict
        ``{dataset or task_type: metric}`` as the per-dataset sections chose it.
    alpha : float
        Significance level.

    Returns
    -------
    dict
        ``alpha``, ``n_datasets`` (ranked), ``policy`` (what happens to failed models),
        ``min_wilcoxon`` (datasets a Wilcoxon test needs at this alpha) and ``groups``: per group
        ``label``, ``datasets``, ``models``, ``n_datasets``, ``leaderboard`` (rows of model,
        mean_rank, win_rate, mean_normalized_score, total_fit_seconds, n_datasets, n_failed,
        n_partial),
        ``tests`` (bool: 3 or more datasets and 2 or more tested models), ``friedman`` (with the
        Iman-Davenport F), ``cd`` (``cd``, ``mean_ranks``, ``groups``), ``wilcoxon`` rows,
        ``wilcoxon_note`` (why there are none), ``left_out`` (``{model: reason}``), ``note`` (why
        there are no tests).
    """
    from mlbench import analysis
    from mlbench.report.sentences import friedman_sentence

    out: dict[str, Any] = {
        "alpha": alpha,
        "n_datasets": 0,
        "policy": FAILED_POLICY,
        "min_wilcoxon": analysis.wilcoxon_min_datasets(alpha),
        "groups": [],
    }
    if ok.empty:
        return out
    prim = primary or None
    groups = _quiet(analysis.dataset_groups, ok, primary=prim)
    if groups.empty:
        return out
    out["n_datasets"] = int(groups["dataset"].nunique())
    boards = _quiet(analysis.leaderboard, ok, primary=prim)
    for label in dict.fromkeys(groups["group"]):
        members = groups[groups["group"] == label]
        datasets = sorted(str(d) for d in members["dataset"])
        board = boards[boards["group"] == label]
        entry: dict[str, Any] = {
            "label": str(label),
            "datasets": datasets,
            "models": [str(m) for m in members["models"].iloc[0]],
            "n_datasets": len(datasets),
            "leaderboard": records(board.drop(columns="group")),
            "tests": False,
            "friedman": None,
            "friedman_sentence": None,
            "cd": None,
            "wilcoxon": [],
            "wilcoxon_note": None,
            "left_out": {},
            "note": None,
        }
        if len(datasets) < 3:
            entry["note"] = (
                "Significance tests across datasets (Friedman, critical-difference diagram, Wilcoxon-Holm) "
                f"need at least 3 datasets; this group has {len(datasets)}."
            )
            out["groups"].append(entry)
            continue
        friedman = _quiet(analysis.friedman_test, ok, primary=prim, group=label)
        entry["left_out"] = dict(friedman["left_out"])
        if friedman["n_models"] < 2:
            entry["note"] = (
                "Fewer than 2 models have a score on every dataset of this group: nothing to test."
            )
            out["groups"].append(entry)
            continue
        entry["tests"] = True
        entry["friedman"] = jsonable(friedman)
        entry["friedman_sentence"] = friedman_sentence(entry["friedman"], alpha)
        entry["cd"] = jsonable(_quiet(analysis.critical_difference, ok, alpha, primary=prim, group=label))
        wilcoxon = _quiet(analysis.wilcoxon_holm, ok, alpha, primary=prim, group=label)
        entry["wilcoxon"] = records(wilcoxon)
        entry["wilcoxon_note"] = wilcoxon.attrs.get("notes", {}).get(label)
        out["groups"].append(entry)
    return out


# --------------------------------------------------------------------------------------------- verdict


def verdicts(
    ok: pd.DataFrame, primary: dict[str, str], predictions: PredictionLoader | None = None
) -> dict[str, dict[str, Any]]:
    """``{dataset: verdict record}`` (:func:`mlbench.analysis.verdict`, as JSON-able dicts).

    Parameters
    ----------
    ok : pandas.DataFrame
        Results table (every status).
    primary : dict
        ``{dataset or task_type: metric}``.
    predictions : callable, optional
        ``job_id -> arrays``: intervals of single-split points.
    """
    from mlbench import analysis

    if ok.empty:
        return {}
    found = _quiet(analysis.verdict, ok, primary=primary or None, predictions=predictions)
    return {r.dataset: r.as_dict() for r in found or []}


# --------------------------------------------------------------------------------------------- scaling


def _fit_value(fit: dict[str, Any], n: float) -> float | None:
    """Error predicted by a fitted power law ``a * n**(-b) + c`` at ``n`` rows."""
    a, b, c = fit.get("a"), fit.get("b"), fit.get("c")
    if a is None or b is None:
        return None
    try:
        return float(a) * float(n) ** (-float(b)) + (float(c) if c is not None else 0.0)
    except (OverflowError, ValueError, ZeroDivisionError):
        return None


def _to_score(error: float | None, greater: bool) -> float | None:
    """Back from the fitted error to the metric's scale (the inverse of ``analysis.error_of``)."""
    if error is None or not math.isfinite(error):
        return None
    return 1.0 - error if greater else error


def scaling(
    ok: pd.DataFrame,
    primary: dict[str, str],
    greater: dict[str, bool],
    predictions: PredictionLoader | None = None,
) -> dict[str, dict[str, Any]]:
    """Learning curves, power-law fits, the backtest and crossovers per dataset (only datasets with a sweep).

    Parameters
    ----------
    ok : pandas.DataFrame
        Results table (every status: a point with a failed or missing job is incomplete).
    primary : dict
        ``{dataset or task_type: metric}``.
    greater : dict
        ``{dataset: greater_is_better}`` of each dataset's primary metric.
    predictions : callable, optional
        ``job_id -> arrays``: intervals of single-split points (test-row bootstrap).

    Returns
    -------
    dict
        ``{dataset: {"metric", "greater_is_better", "curves", "incomplete", "fits", "backtest",
        "crossovers", "winner", "horizon", "n_flagged", "sentences"}}``. Curves carry ``points``
        (complete points only: ``n_train``, ``mean``, ``std``, ``n``, ``ci_low``, ``ci_high``,
        ``ci_method``, ``no_better_than_baseline``);
        ``incomplete`` lists the points left out (``model``, ``n_train``, ``n_jobs``,
        ``n_expected``); fits carry ``reliable``/``reason`` and, when reliable, ``points``
        (``[n, value]`` on the metric's scale); ``backtest`` has ``rows`` (from
        :func:`mlbench.analysis.backtest`, on the metric's scale) and totals; crossovers carry
        ``value`` (where to mark it), ``text`` (one sentence) and ``label`` (the marker's number).
        ``sentences`` is :func:`mlbench.report.sentences.scaling_sentences` of the curves and
        crossovers shown; ``winner`` the best model at the largest size among the points better
        than the baseline.

        A point whose model is no better than the baseline beyond noise at that size
        (:func:`flagged_points`) is shown, flagged, but left out of the fits, the backtest and the
        crossover search: a model that predicts no better than the class prior must not
        "overtake" anything.
    """
    from mlbench import analysis
    from mlbench.report import sentences

    # only datasets that ran several sizes have curves to show: the others are left out before
    # the (costly) curve tables are built. Folds of one size differ by a row or two; a table
    # without requested sizes (old runs) keeps a dataset whose row counts spread by over 0.5%.
    if len(ok):
        by = ok.groupby("dataset")
        n = by["n_train"].agg(["min", "max"])
        # (one requested size is one point; tables without the request go by the row counts)
        swept = (by["train_size"].nunique() >= 2) | (
            by["train_size"].count().eq(0) & (n["max"] > 1.005 * n["min"])
        )
        ok = ok[ok["dataset"].isin(swept[swept].index)]
    if ok.empty:
        return {}
    curves = _quiet(analysis.learning_curves, ok, primary=primary or None, predictions=predictions)
    if curves is None or len(curves) == 0:
        return {}
    curves = curves.assign(no_better_than_baseline=flagged_points(curves, ok, primary))
    kept = curves[~curves["no_better_than_baseline"]].drop(columns="no_better_than_baseline")
    fits = _quiet(analysis.fit_power_laws, kept)
    crosses = _quiet(analysis.crossovers, kept, fits)
    tests = _quiet(analysis.backtest, kept)
    out: dict[str, dict[str, Any]] = {}
    for dataset, part in curves.groupby("dataset", sort=True):
        dataset = str(dataset)
        if part["n_train"].nunique() < 2:
            continue  # no sweep: nothing to scale
        good = greater.get(dataset, True)
        done = part[part["complete"].astype(bool)]
        entry_curves = []
        for model, pts in done.groupby("model", sort=True):
            pts = pts.sort_values("n_train")
            cols = [
                "n_train",
                "mean",
                "std",
                "n",
                "ci_low",
                "ci_high",
                "ci_method",
                "no_better_than_baseline",
            ]
            entry_curves.append({"model": str(model), "points": records(pts[cols])})
        missing = part[~part["complete"].astype(bool)].sort_values(["model", "n_train"])
        incomplete = records(missing[["model", "n_train", "n_jobs", "n_expected"]])
        sizes = sorted(float(n) for n in (done if len(done) else part)["n_train"].unique())
        cross_rows: list[dict[str, Any]] = []
        if crosses is not None and len(crosses):
            cross_rows = records(crosses[crosses["dataset"].astype(str) == dataset])
            cross_rows = [r for r in cross_rows if r.get("n_cross") is not None]
        # Fits are drawn over the sizes run and on to the farthest extrapolated crossing.
        x_hi = max([sizes[-1], *[1.15 * r["n_cross"] for r in cross_rows if r.get("kind") == "extrapolated"]])
        entry_fits = []
        if fits is not None and len(fits):
            for f in records(fits[fits["dataset"].astype(str) == dataset]):
                if f.get("reliable"):
                    grid = _log_grid(sizes[0], x_hi, FIT_POINTS)
                    f["points"] = [
                        [n, v] for (n,) in zip(grid) if (v := _to_score(_fit_value(f, n), good)) is not None
                    ]
                entry_fits.append(f)
        fit_by_model = {f["model"]: f for f in entry_fits}
        curve_by_model = {c["model"]: c["points"] for c in entry_curves}
        # Key crossovers (marked on the plot, listed first): those of the best model at the largest
        # size, i.e. the answers to "from how much data on does the winner win, and over whom?".
        winner = sentences.best_at_largest(entry_curves, good)
        for r in cross_rows:
            r["key"] = winner is not None and winner in (r.get("model_a"), r.get("model_b"))
        cross_rows.sort(key=lambda r: (not r["key"], r.get("kind") != "observed", r["n_cross"]))
        entry_cross = []
        for i, r in enumerate(cross_rows, start=1):
            r["label"] = i
            r["value"] = _cross_value(r, curve_by_model, fit_by_model, good)
            r["text"] = sentences.crossover_sentence(r)
            entry_cross.append(r)
        out[dataset] = {
            "metric": str(part["metric"].iloc[0]) if "metric" in part else None,
            "greater_is_better": good,
            "curves": entry_curves,
            "incomplete": incomplete,
            "fits": entry_fits,
            "backtest": backtest_summary(tests[tests["dataset"].astype(str) == dataset], good),
            "crossovers": entry_cross,
            "winner": winner,
            "horizon": analysis.HORIZON,
            "r2_min": analysis.R2_MIN,
            "n_flagged": int(done["no_better_than_baseline"].sum()),
            "sentences": sentences.scaling_sentences(entry_curves, entry_cross, good),
        }
    return out


def backtest_summary(rows: pd.DataFrame, greater: bool) -> dict[str, Any]:
    """A dataset's backtest on the metric's scale, with its totals.

    Parameters
    ----------
    rows : pandas.DataFrame
        The dataset's rows of :func:`mlbench.analysis.backtest`.
    greater : bool
        Whether the metric is greater-is-better (errors are ``1 - score`` then).

    Returns
    -------
    dict
        ``rows`` (model, n_fit, n_sizes, n_target, observed, predicted, low, high, covered,
        error, last_value, last_value_error, reliable, reason; scores on the metric's scale,
        ``low <= high``), ``n_tested`` (reliable fits), ``n_covered``, ``mean_error`` and
        ``mean_last_value_error`` (over the reliable fits), ``fraction`` (1/8).
    """
    from mlbench import analysis
    from mlbench.analysis.intervals import metric_range

    out_rows = []
    for r in records(rows):
        row = dict(r)
        for key in ("observed", "predicted", "last_value"):
            row[key] = _to_score(r.get(key), greater)
        # an error range [low, high] is the score range [1 - high, 1 - low] when greater is better;
        # an unbounded end (None) stays open, a finite one is clipped to the metric's range
        ends = (r.get("high"), r.get("low")) if greater else (r.get("low"), r.get("high"))
        lo, hi = (_to_score(e, greater) for e in ends)
        m_lo, m_hi = metric_range(str(r.get("metric")))
        row["low"] = None if lo is None else max(lo, m_lo)
        row["high"] = None if hi is None else min(hi, m_hi)
        out_rows.append(row)
    tested = [r for r in out_rows if r.get("reliable") and r.get("error") is not None]
    errors = [r["error"] for r in tested]
    baseline = [r["last_value_error"] for r in tested if r.get("last_value_error") is not None]
    return {
        "rows": out_rows,
        "n_tested": len(tested),
        "n_covered": sum(1 for r in tested if r.get("covered")),
        "mean_error": sum(errors) / len(errors) if errors else None,
        "mean_last_value_error": sum(baseline) / len(baseline) if baseline else None,
        "fraction": analysis.BACKTEST_FRACTION,
    }


def flagged_points(curves: pd.DataFrame, results: pd.DataFrame, primary: dict[str, str]) -> pd.Series:
    """Which learning-curve points are no better than the baseline beyond noise.

    Parameters
    ----------
    curves : pandas.DataFrame
        :func:`mlbench.analysis.learning_curves` (dataset, model, n_train).
    results : pandas.DataFrame
        The results table the curves came from.
    primary : dict
        ``{dataset or task_type: metric}``, as for the curves.

    Returns
    -------
    pandas.Series
        Boolean, aligned with ``curves``: True where
        :func:`mlbench.analysis.baseline.baseline_comparison` flags the model at a size whose
        training rows match the point's (within 1%, the curves' own grouping of sizes).
    """
    import pandas as pd

    from mlbench.analysis.baseline import baseline_comparison
    from mlbench.analysis.tables import N_TRAIN_TOLERANCE

    comparison = _quiet(baseline_comparison, results, primary or None)
    flags = pd.Series(False, index=curves.index)
    if comparison is None or comparison.empty:
        return flags
    bad = comparison[comparison["no_better"].astype(bool)]
    where: dict[tuple[str, str], list[float]] = {}
    for d, m, n in zip(bad["dataset"], bad["model"], bad["n_train"], strict=True):
        where.setdefault((str(d), str(m)), []).append(float(n))
    for i, d, m, n in zip(curves.index, curves["dataset"], curves["model"], curves["n_train"], strict=True):
        sizes = where.get((str(d), str(m)))
        if sizes and any(abs(float(n) - s) <= N_TRAIN_TOLERANCE * max(float(n), s) + 1.0 for s in sizes):
            flags[i] = True
    return flags


def _log_grid(lo: float, hi: float, k: int) -> list[float]:
    if lo <= 0 or hi <= lo:
        return [lo, hi]
    step = (math.log(hi) - math.log(lo)) / (k - 1)
    return [math.exp(math.log(lo) + i * step) for i in range(k)]


def _cross_value(
    cross: dict[str, Any],
    curves: dict[str, list[dict[str, Any]]],
    fits: dict[str, dict[str, Any]],
    greater: bool,
) -> float | None:
    """Metric value where the crossover is marked: the fit of the model that wins after it, if any,
    else the observed curve interpolated in log n."""
    n = cross["n_cross"]
    for model in (cross.get("better_after"), cross.get("model_a"), cross.get("model_b")):
        fit = fits.get(model) if model else None
        if fit and fit.get("ok") and cross.get("kind") == "extrapolated":
            v = _to_score(_fit_value(fit, n), greater)
            if v is not None:
                return v
        pts = curves.get(model) if model else None
        if pts:
            xs = [p["n_train"] for p in pts]
            ys = [p["mean"] for p in pts]
            if xs[0] <= n <= xs[-1]:
                for (x0, y0), (x1, y1) in zip(
                    zip(xs, ys, strict=True), zip(xs[1:], ys[1:], strict=True), strict=False
                ):
                    if x0 <= n <= x1 and None not in (y0, y1):
                        t = 0.0 if x1 == x0 else (math.log(n) - math.log(x0)) / (math.log(x1) - math.log(x0))
                        return y0 + t * (y1 - y0)
            if fit and fit.get("ok"):
                v = _to_score(_fit_value(fit, n), greater)
                if v is not None:
                    return v
            return ys[-1] if n > xs[-1] else ys[0]
    return None


# the old name, kept for its callers
def crossover_text(cross: dict[str, Any]) -> str:
    """One sentence for a crossover row: :func:`mlbench.report.sentences.crossover_sentence`."""
    from mlbench.report.sentences import crossover_sentence

    return crossover_sentence(cross)


# --------------------------------------------------------------------------------------------- deep models


def representative(rows: pd.DataFrame) -> pd.Series | None:
    """The job that stands for a model at a size: the lowest fold, then repeat, then job id."""
    if rows.empty:
        return None
    keys = [c for c in ("fold", "repeat", "job_id") if c in rows.columns]
    return rows.sort_values(keys, na_position="last", kind="stable").iloc[0]


def histories(at_top: pd.DataFrame) -> list[dict[str, Any]]:
    """Per-epoch curves of each deep model (one representative job at the largest size).

    Parameters
    ----------
    at_top : pandas.DataFrame
        One dataset's ok rows at each model's largest train size.

    Returns
    -------
    list of dict
        ``model``, ``job_id``, ``fold``, ``repeat``, ``epochs``, ``train_loss``, ``val_loss`` (None
        when no validation was tracked), ``train_metric``, ``val_metric``, ``best_epoch``,
        ``stopped_early`` (the best epoch is not the last one), ``seconds`` (sum over epochs).
    """
    from mlbench.analysis.overfitting import history_of  # the overfitting check reads the same column

    if "history_json" not in at_top.columns:
        return []
    out = []
    for model, part in at_top.groupby("model", sort=True):
        part = part[part["history_json"].map(lambda t: history_of(t) is not None)]
        job = representative(part)
        if job is None:
            continue
        hist = history_of(job["history_json"]) or []
        epochs = [int(e.get("epoch", i + 1)) for i, e in enumerate(hist)]

        def series(key: str, hist: list[dict[str, Any]] = hist) -> list[float | None] | None:
            vals = [number_or_none(e.get(key)) for e in hist]
            return vals if any(v is not None for v in vals) else None

        best = number_or_none(job.get("best_epoch"))
        out.append(
            {
                "model": str(model),
                "job_id": str(job.get("job_id")),
                "fold": int_or_none(job.get("fold")),
                "repeat": int_or_none(job.get("repeat")),
                "epochs": epochs,
                "train_loss": series("train_loss") or [None] * len(epochs),
                "val_loss": series("val_loss"),
                "train_metric": series("train_metric"),
                "val_metric": series("val_metric"),
                "best_epoch": None if best is None else int(best),
                "stopped_early": best is not None and bool(epochs) and int(best) < epochs[-1],
                "seconds": sum(v for v in (series("seconds") or []) if v is not None),
            }
        )
    return out


def sanity(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Outcome of the "can it overfit 32 rows?" check per dataset and model, if it ran.

    Returns
    -------
    list of dict
        ``dataset``, ``model``, ``n_checked``, ``n_passed``, ``mean_score``, ``passed`` (all
        passed), ``error`` (the first error text, if any).
    """
    if "sanity_passed" not in df.columns or not df["sanity_passed"].notna().any():
        return []
    import pandas as pd

    rows = []
    checked = df[df["sanity_passed"].notna()]
    for (dataset, model), part in checked.groupby(["dataset", "model"], sort=True):
        passed = part["sanity_passed"].map(lambda v: str(v).lower() in ("1", "1.0", "true"))
        score = pd.to_numeric(part.get("sanity_score"), errors="coerce") if "sanity_score" in part else None
        errors = [
            str(e) for e in part.get("sanity_error", pd.Series(dtype=object)).dropna() if str(e).strip()
        ]
        rows.append(
            {
                "dataset": str(dataset),
                "model": str(model),
                "n_checked": len(part),
                "n_passed": int(passed.sum()),
                "passed": bool(passed.all()),
                "mean_score": None if score is None else number_or_none(score.mean()),
                "error": errors[0] if errors else None,
            }
        )
    return rows


# --------------------------------------------------------------------------------------------- stored predictions


def _class_names(ds: Any, k: int) -> list[str]:
    classes = getattr(ds, "classes", None) if ds is not None else None
    if classes is not None and len(classes) >= k:
        return [str(c) for c in list(classes)[:k]]
    return [str(i) for i in range(k)]


def _y_true(ds: Any, test_index: np.ndarray) -> np.ndarray | None:
    import numpy as np

    if ds is None:
        return None
    y = getattr(ds, "test_y", None)
    y = getattr(ds, "y", None) if y is None else y
    if y is None:
        return None
    y = np.asarray(y)
    idx = np.asarray(test_index, dtype=np.int64)
    if len(idx) and (idx.min() < 0 or idx.max() >= len(y)):
        return None
    return y[idx]


def confusion(
    jobs: pd.DataFrame,
    model: str,
    predictions: PredictionLoader | None,
    ds: Any,
) -> dict[str, Any] | None:
    """Confusion matrix of one model, test predictions summed over its jobs (folds x repeats).

    Parameters
    ----------
    jobs : pandas.DataFrame
        The model's ok jobs at its largest training size.
    model : str
        Its name (for the caption).
    predictions : callable
        ``job_id -> arrays`` (needs ``test_index`` and ``test_pred``).
    ds : Dataset
        For the true labels (``y`` or ``test_y``) and class names.

    Returns
    -------
    dict or None
        ``model``, ``labels``, ``matrix`` (true x predicted counts), ``n`` (test predictions counted),
        ``n_jobs``, ``accuracy``; None when predictions or labels are unavailable.
    """
    import numpy as np

    if predictions is None or ds is None or jobs.empty:
        return None
    k = int(getattr(ds, "n_classes", 0) or 0)
    if k < 2 or k > MAX_CLASSES:
        return None
    matrix = np.zeros((k, k), dtype=np.int64)
    used = 0
    for job_id in jobs["job_id"].astype(str):
        try:
            arrays = predictions(job_id)
        except Exception:
            continue
        if "test_pred" not in arrays or "test_index" not in arrays:
            continue
        y_true = _y_true(ds, arrays["test_index"])
        y_pred = np.asarray(arrays["test_pred"])
        if y_true is None or len(y_true) != len(y_pred):
            continue
        ok = (y_true >= 0) & (y_true < k) & (y_pred >= 0) & (y_pred < k)
        np.add.at(matrix, (y_true[ok].astype(np.int64), y_pred[ok].astype(np.int64)), 1)
        used += 1
    if not used:
        return None
    total = int(matrix.sum())
    return {
        "model": model,
        "labels": _class_names(ds, k),
        "matrix": matrix.tolist(),
        "n": total,
        "n_jobs": used,
        "accuracy": float(np.trace(matrix) / total) if total else None,
    }


def visuals(
    job: pd.Series, model: str, predictions: PredictionLoader | None, ds: Any
) -> dict[str, Any] | None:
    """First-layer filters, activation maps and most-confident mistakes stored with a CNN job.

    Returns
    -------
    dict or None
        ``model``, ``job_id``, ``filters`` (F, C, kh, kw), ``images`` (m, C, H, W), ``activations``
        (m, A, h, w), ``mistakes`` (j, C, H, W), ``mistakes_true``/``mistakes_pred`` (class names),
        ``mistakes_conf``; arrays as nested lists rounded to 4 decimals. None without ``viz_*`` arrays.
    """
    import numpy as np

    if predictions is None:
        return None
    try:
        arrays = predictions(str(job["job_id"]))
    except Exception:
        return None
    if not any(k.startswith("viz_") for k in arrays):
        return None

    def arr(key: str) -> list[Any] | None:
        a = arrays.get(key)
        return None if a is None else np.round(np.asarray(a, dtype=np.float64), 4).tolist()

    k = int(getattr(ds, "n_classes", 0) or 0)
    codes_t = [int(c) for c in arrays.get("viz_mistakes_true", [])]
    codes_p = [int(c) for c in arrays.get("viz_mistakes_pred", [])]
    codes_i = [int(c) for c in arrays.get("viz_images_true", [])]
    names = _class_names(ds, max([k, *[c + 1 for c in codes_t + codes_p + codes_i]], default=0))
    return {
        "model": model,
        "job_id": str(job["job_id"]),
        "filters": arr("viz_filters"),
        "images": arr("viz_images"),
        "activations": arr("viz_activations"),
        "mistakes": arr("viz_mistakes"),
        "images_true": [names[int(c)] for c in arrays.get("viz_images_true", []) if 0 <= int(c) < len(names)],
        "mistakes_true": [names[c] for c in codes_t],
        "mistakes_pred": [names[c] for c in codes_p],
        "mistakes_conf": [float(c) for c in arrays.get("viz_mistakes_conf", [])],
    }


def pareto_flags(rows: list[dict[str, Any]], greater: bool) -> None:
    """Mark ``row["pareto"]``: no other model is at least as fast and at least as good, and better in one."""
    pts = [
        (r["fit_seconds"], r["test_mean"] if greater else -r["test_mean"])
        if r.get("fit_seconds") is not None and r.get("test_mean") is not None
        else None
        for r in rows
    ]
    for r, p in zip(rows, pts, strict=True):
        if p is None:
            r["pareto"] = False
            continue
        r["pareto"] = not any(
            q is not None and q[0] <= p[0] and q[1] >= p[1] and (q[0] < p[0] or q[1] > p[1]) for q in pts
        )


# --------------------------------------------------------------------------------------------- ensembles


def ensembles(df: pd.DataFrame, primary: dict[str, str]) -> dict[str, dict[str, Any]]:
    """What each dataset's ensembles bought over its best single model (only datasets with ensembles).

    Parameters
    ----------
    df : pandas.DataFrame
        Results table with the ensemble rows (``ensemble`` set).
    primary : dict
        ``{dataset: metric}``.

    Returns
    -------
    dict
        ``{dataset: {"gains": rows, "weights": {ensemble: [{"train_size", "n_train", "weights":
        {member: weight}}]}, "pays_from": {ensemble: train_size or None}}}``. ``gains`` rows come
        from :func:`mlbench.analysis.ensemble_gains` (the best single model chosen on validation
        scores, the paired per-fold gain on test and its interval); ``pays_from`` is the smallest
        training size from which the ensemble is better beyond noise at every larger size;
        ``sentences`` (``{ensemble: sentence}``) says it, from the same rows
        (:func:`mlbench.report.sentences.ensemble_sentence`).
    """
    from mlbench import analysis
    from mlbench.report import sentences

    if "ensemble" not in df.columns or not df["ensemble"].notna().any():
        return {}
    gains = _quiet(analysis.ensemble_gains, df, primary or None)
    weights = analysis.ensemble_weights(df)
    sizes = df.groupby(["dataset", "train_size"])["n_train"].median()
    out: dict[str, dict[str, Any]] = {}
    for dataset in sorted(set(gains["dataset"]) | set(weights["dataset"])):
        # by rows trained, not by the requested size: 1.0 (the full data) comes after 50 rows
        g = gains[gains["dataset"] == dataset].sort_values(["ensemble", "n_train", "train_size"])
        pays_from: dict[str, Any] = {}
        said: dict[str, str] = {}
        for label, part in g.groupby("ensemble", sort=True):
            # from which size on is combining better beyond noise, at that size and every larger one?
            rows = records(part)
            start = sentences.pays_from(rows)
            pays_from[str(label)] = None if start is None else number_or_none(start.get("train_size"))
            said[str(label)] = sentences.ensemble_sentence(str(label), rows)
        w = weights[weights["dataset"] == dataset]
        by_ensemble: dict[str, list[dict[str, Any]]] = {}
        for (label, size), part in w.groupby(["ensemble", "train_size"], sort=True):
            by_ensemble.setdefault(str(label), []).append(
                {
                    "train_size": number_or_none(size),
                    "n_train": number_or_none(sizes.get((dataset, size))),
                    "weights": {
                        str(m): number_or_none(v) for m, v in zip(part["member"], part["weight"], strict=True)
                    },
                }
            )
        for entries in by_ensemble.values():
            entries.sort(key=lambda e: (e["n_train"] is None, e["n_train"] or 0.0))
        out[str(dataset)] = {
            "gains": records(g),
            "weights": by_ensemble,
            "pays_from": pays_from,
            "sentences": said,
        }
    return out


# --------------------------------------------------------------------------------------------- importance


#: Features listed per model in a dataset's importance table, and models per dataset.
TOP_FEATURES, TOP_MODELS = 10, 3


def importance(
    df: pd.DataFrame, items: list[dict[str, Any]]
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """The most important features of each dataset's best models, and the best model's whole table.

    Parameters
    ----------
    df : pandas.DataFrame
        The run's results (``importance_json`` where jobs computed it).
    items : list of dict
        The datasets' summaries, with their ranked ``leaderboard``.

    Returns
    -------
    sections : dict
        Dataset name -> ``{"models": [{"model", "metric", "ci_method", "n_folds", "features":
        [{"feature", "mean", "ci_low", "ci_high", "rank", "share"}]}]}``: the best-ranked
        models with an importance (at most :data:`TOP_MODELS`), each with its
        :data:`TOP_FEATURES` most important features (:func:`mlbench.analysis.importance.top_features`).
    best : dict
        Dataset name -> the :func:`mlbench.analysis.importance.importance_table` rows of the
        best-ranked model with an importance (every feature), for the mismatch section.
    """
    from mlbench.analysis.importance import importance_table, top_features

    table = importance_table(df)
    if table.empty:
        return {}, {}
    out: dict[str, dict[str, Any]] = {}
    best: dict[str, Any] = {}
    for ds in items:
        name = ds["name"]
        have = set(table.loc[table["dataset"] == name, "model"])
        models = [r["model"] for r in ds["leaderboard"] if r["model"] in have][:TOP_MODELS]
        if not models:
            continue
        best[name] = table[(table["dataset"] == name) & (table["model"] == models[0])]
        entries = []
        for model in models:
            top = top_features(table, name, model, TOP_FEATURES)
            first = top.iloc[0]
            entries.append(
                {
                    "model": model,
                    "metric": str(first["metric"]),
                    "ci_method": str(first["ci_method"]),
                    "n_folds": int(first["n_folds"]),
                    "n_features": int(((table["dataset"] == name) & (table["model"] == model)).sum()),
                    "features": records(top[["feature", "mean", "ci_low", "ci_high", "rank", "share"]]),
                }
            )
        out[name] = {"models": entries}
    return out, best
