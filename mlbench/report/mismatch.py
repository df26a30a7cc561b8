"""The report's "Train/test mismatch" section: the stored checks -> summary items -> figures.

Reads the run's ``diagnostics`` table (:meth:`mlbench.reader.Run.diagnostics`, written by the
coordinator; see :mod:`mlbench.analysis.run_drift`) and turns it into, per dataset and comparison:
the verdict sentence, the flagged checks, the domain-classifier AUC, overlaid train/test
histograms of the (up to) three most shifted features, the label's class shares, and for images
the test images the domain classifier found most unlike training.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from mlbench.report.svg import draws_svg
from mlbench.values import number_or_none

__all__ = ["comparison_figure_calls", "figure_calls", "figures", "summarize_mismatch"]

_COMPARISON_TITLES = {
    "test_file": "its test file vs its training data",
    "cv_fold_0": "CV fold 0 test rows vs its training rows (control: a random split)",
}


def summarize_mismatch(
    diagnostics: Any,
    datasets: Callable[[str], Any] | None = None,
    importance: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Summary items of the mismatch section, one per dataset (sorted by name).

    Parameters
    ----------
    diagnostics : pandas.DataFrame or None
        :meth:`mlbench.reader.Run.diagnostics`.
    datasets : callable, optional
        ``name -> Dataset or None``, to fetch the images the domain classifier ranked most unlike
        training.
    importance : dict, optional
        Dataset name -> the permutation importance of its best-ranked model
        (:func:`mlbench.analysis.importance.importance_table` rows): each comparison then ranks
        its shifted features by it (``by_importance``, ``importance_model``; see
        :func:`mlbench.analysis.importance.shift_by_importance`).

    Returns
    -------
    list of dict
        ``{"name", "comparisons": [{"comparison", "title", "verdict", "flagged", "error", "auc",
        "domain_p", "n_train", "n_test", "flagged_rows", "histograms", "label", "unlike",
        "by_importance", "importance_model"}]}``.
    """
    if diagnostics is None or len(diagnostics) == 0:
        return []
    out = []
    for name in sorted({str(d) for d in diagnostics["dataset"]}):
        rows = diagnostics[diagnostics["dataset"].astype(str) == name]
        comparisons = []
        # the user's test file first, then the control
        for comparison in sorted({str(c) for c in rows["comparison"]}, key=lambda c: (c != "test_file", c)):
            part = rows[rows["comparison"].astype(str) == comparison]
            verdict = part[part["check"] == "verdict"]
            if verdict.empty:
                continue
            v = verdict.iloc[-1]
            detail = json.loads(v["detail"]) if isinstance(v.get("detail"), str) else {}
            checks = part[(part["check"] != "verdict") & part["flagged"].astype(bool)]
            flagged_rows = [
                {
                    "check": str(r["check"]),
                    "feature": str(r["feature"] or ""),
                    "test": str(r["test"] or ""),
                    "p_corrected": number_or_none(r["p_corrected"]),
                    "effect": number_or_none(r["effect"]),
                    "effect_name": str(r["effect_name"] or ""),
                }
                for r in checks.sort_values("p_corrected").to_dict("records")
            ]
            item = {
                "comparison": comparison,
                "title": _COMPARISON_TITLES.get(comparison, comparison),
                "verdict": str(v["verdict"] or ""),
                "flagged": bool(v["flagged"]),
                "error": None if _missing(v.get("error")) else str(v["error"]),
                "auc": number_or_none(detail.get("auc")),
                "domain_p": number_or_none(detail.get("domain_p")),
                "n_train": number_or_none(v.get("n_train")),
                "n_test": number_or_none(v.get("n_test")),
                "kind": detail.get("kind", "table"),
                "correction": detail.get("correction", ""),
                "flagged_rows": flagged_rows[:20],
                "n_flagged_rows": len(flagged_rows),
                "histograms": detail.get("histograms") or {},
                "hist_flagged": [
                    f for f in (detail.get("histograms") or {}) if f in {r["feature"] for r in flagged_rows}
                ],
                "label": detail.get("label"),
                "unlike": None,
                "by_importance": [],
                "importance_model": None,
            }
            table = (importance or {}).get(name)
            if table is not None and len(table):
                from mlbench.analysis.importance import shift_by_importance

                shifted = part[(part["check"] == "feature") & part["flagged"].astype(bool)]
                item["by_importance"] = shift_by_importance(shifted.to_dict("records"), table)
                item["importance_model"] = str(table["model"].iloc[0])
            unlike = detail.get("unlike")
            if unlike and datasets is not None and item["kind"] == "image":
                item["unlike"] = _unlike_images(datasets(name), unlike)
            comparisons.append(item)
        if comparisons:
            out.append({"name": name, "comparisons": comparisons})
    return out


def _unlike_images(ds: Any, unlike: dict[str, Any]) -> dict[str, Any] | None:
    import numpy as np

    if ds is None or not getattr(ds, "is_image", False):
        return None
    source = ds.test_X if unlike.get("source") == "test" else ds.X
    if source is None:
        return None
    rows = [int(r) for r in unlike.get("rows", [])[:16] if 0 <= int(r) < len(source)]
    if not rows:
        return None
    return {"images": np.asarray(source)[rows].tolist(), "scores": unlike.get("scores", [])[: len(rows)]}


def figures(items: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Figures of each comparison: ``hist`` and ``label`` (SVG text), ``unlike`` (a matplotlib figure, meant for PNG)."""
    return [
        [{key: None if call is None else call[0](*call[1]) for key, call in comp.items()} for comp in ds]
        for ds in figure_calls(items)
    ]


def figure_calls(items: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """:func:`figures` not drawn yet: ``(draw, args)`` or None per figure of each comparison."""
    return [[comparison_figure_calls(comp) for comp in ds["comparisons"]] for ds in items]


def comparison_figure_calls(comp: dict[str, Any]) -> dict[str, Any]:
    """``{"hist", "label", "unlike"}`` of one comparison's summary item: ``(draw, args)`` or None."""
    return {
        "hist": (_histograms, (comp["histograms"],)) if comp.get("histograms") else None,
        "label": (_label_bars, (comp["label"],)) if comp.get("label") else None,
        "unlike": (_unlike_grid, (comp["unlike"],)) if comp.get("unlike") else None,
    }


_TRAIN, _TEST = "#4c72b0", "#dd8452"


@draws_svg
def _histograms(hists: dict[str, dict[str, Any]]) -> str:
    """Overlaid train/test shares of up to three features, one panel each (SVG)."""
    from mlbench.report.plots import short_label
    from mlbench.report.svg import Figure

    names = list(hists)[:3]
    fig = Figure(223.2 * len(names), 165.6, title="train and test shares of " + ", ".join(names))
    for k, name in enumerate(names):
        h = hists[name]
        ax = fig.add_axes(title=short_label(name, 30), ylabel="share of rows", ylabel_size=8.0)
        last = k == len(names) - 1
        if h.get("kind") == "categorical":
            levels = [short_label(str(x), 12) for x in h["levels"]]
            for i, (a, b) in enumerate(zip(h["train"], h["test"], strict=True)):
                ax.rect(i - 0.4, 0.0, i, a, _TRAIN)
                ax.rect(i, 0.0, i + 0.4, b, _TEST)
            ax.xticks = (range(len(levels)), levels)
            ax.x_rotation = 45.0 if len(levels) > 3 else 0.0
            opacity = 1.0
        else:
            edges = h["edges"]
            ax.stairs(h["train"], edges, _TRAIN, opacity=0.45)
            ax.stairs(h["test"], edges, _TEST, opacity=0.45)
            _numeric_ticks(ax, name, edges)
            opacity = 0.45
        if last:  # beside the last panel: inside, it covered the tallest bars (class shares fill the panel)
            ax.legend_loc = "center"
            ax.legend("train", _TRAIN, kind="patch", opacity=opacity)
            ax.legend("test", _TEST, kind="patch", opacity=opacity)
    return fig.to_svg()


def _numeric_ticks(ax: Any, name: str, edges: list[float]) -> None:
    """At most four ticks on a 3-inch panel, dates as dates, long labels slanted: a date feature
    (days since 1970, e.g. 19,358) or a large number otherwise prints labels that run together."""
    from mlbench.report.svg import linear_labels, nice_ticks

    dates = name.endswith("_days")
    lo, hi = min(edges), max(edges)
    span = (hi - lo) or 1.0
    lo, hi = lo - 0.05 * span, hi + 0.05 * span  # the panel's limits (its 5% margins)
    ticks = nice_ticks(lo, hi, 3)
    if dates:  # a date column's days since 1970-01-01 (mlbench.datasets.cleaning)
        import datetime

        epoch = datetime.date(1970, 1, 1)

        def as_date(x: float) -> str:
            try:
                return (epoch + datetime.timedelta(days=round(x))).isoformat()
            except (OverflowError, ValueError):
                return f"{x:g}"

        labels = [as_date(t) for t in ticks]
    else:
        labels = linear_labels(ticks)
    slant = dates or max((len(t) for t in labels), default=0) > 5
    ax.xlim = (lo, hi)
    ax.xticks = (ticks, labels)
    ax.x_rotation = 30.0 if slant else 0.0


@draws_svg
def _label_bars(label: dict[str, Any]) -> str:
    """Class shares (or the target's histogram) in training and test (SVG)."""
    return _histograms({"label (target)": label})


@draws_svg
def _unlike_grid(unlike: dict[str, Any]) -> Any:
    from mlbench.report.plots import thumbnail_grid

    captions = (f"{score:.2f}" for score in unlike["scores"])
    return thumbnail_grid(unlike["images"], captions, cell=(1.05, 1.25))


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
