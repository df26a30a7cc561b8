"""The report's overfitting view: the summary dict (per dataset) and its figures.

Numbers come from :mod:`mlbench.analysis.overfitting`; this module only picks what the page
shows (every check, the curves at each model's largest training size, the capacity curves, the
remedies with the suite options that apply them) and draws it. Kept apart from
``sections.py``/``plots.py`` so the view can change without touching the other sections.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlbench.report.svg import draws_svg
from mlbench.values import jsonable

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


def overfitting(
    named: pd.DataFrame,
    primary: dict[str, str],
    diagnostics: pd.DataFrame | None = None,
    datasets: Callable[[str], Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """The overfitting view of every dataset.

    Parameters
    ----------
    named : pandas.DataFrame
        The run's rows with a dataset name (every status; failed jobs are left out here).
    primary : dict
        Dataset -> the metric it is judged on (the report's choice).
    diagnostics : pandas.DataFrame, optional
        The run's train/test mismatch checks (:meth:`mlbench.reader.Run.diagnostics`): on a
        dataset they flag, the rows say the gap may come from the shift.
    datasets : callable, optional
        ``name -> Dataset or None``: the training labels that give the underfitting check its
        baseline where the run has no ``dummy`` jobs.

    Returns
    -------
    dict
        Dataset -> ``{"metric", "checks" (every check: :data:`~mlbench.analysis.overfitting.FLAG_COLUMNS`
        plus ``value_text`` and ``threshold_text``, as the table shows them), "n_flagged", "n_shift",
        "staged" (curves along n_estimators at each model's largest size), "losses" (one held-out
        loss curve per deep model at its largest size: the fold its ``val_loss`` check quotes,
        ``fold`` saying which; ``best_epoch`` the early-stopping point when early stopping restored
        it), "capacity" (capacity series), "remedies" (each remedy, its suite option and the
        flagged models it applies to), "thresholds", "assumptions"}``. Datasets without any check
        are absent.
    """
    import warnings

    from mlbench.analysis import overfitting as ovf

    if named.empty:
        return {}
    labels = {}
    if datasets is not None:
        for name in sorted({str(d) for d in named["dataset"]}):
            ds = datasets(name)
            if ds is not None and getattr(ds, "y", None) is not None:
                labels[name] = ds.y
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        checks = ovf.checks(named, primary, labels=labels, shifted=ovf.shifts(diagnostics))
        staged = ovf.staged_curves(named, primary)
        losses = ovf.loss_curves(named)
        capacity = ovf.capacity_curves(named, primary)
    out: dict[str, dict[str, Any]] = {}
    for dataset in sorted(set(checks["dataset"]) | {c["dataset"] for c in capacity} if len(checks) else
                          {c["dataset"] for c in capacity}):  # fmt: skip
        mine = checks[checks["dataset"] == dataset] if len(checks) else checks
        rows = []
        for r in mine.to_dict("records"):
            r["value_text"], r["threshold_text"] = _shown(r)
            rows.append(r)
        # grouped by model and check, smallest training size first (the checks come in no useful order)
        rows.sort(key=lambda r: (str(r["model"]), _kind_order(r["kind"]), _rows_key(r)))
        flagged = [r for r in rows if r["flagged"]]
        remedies = []
        for name, option in ovf.remedy_options().items():
            models = sorted({r["model"] for r in flagged if r["remedy"] == name})
            remedies.append({"remedy": name, "option": option, "models": models})
        out[str(dataset)] = jsonable(
            {
                "metric": primary.get(str(dataset)),
                "checks": rows,
                "n_flagged": len(flagged),
                "n_shift": sum(r["verdict"] == "shift" for r in rows),
                "staged": _at_largest([c for c in staged if c["dataset"] == dataset]),
                "losses": _loss_histories([c for c in losses if c["dataset"] == dataset]),
                "capacity": [c for c in capacity if c["dataset"] == dataset],
                "remedies": remedies,
                "thresholds": {
                    "underfitting": ovf.UNDERFITTING_THRESHOLD,
                    "degradation": ovf.DEGRADATION_THRESHOLD,
                    "boosting": ovf.BOOSTING_THRESHOLD,
                    "val_loss": ovf.VAL_LOSS_THRESHOLD,
                    "noise_z": ovf.NOISE_Z,
                },
                "assumptions": dict(ovf.ASSUMPTIONS),
            }
        )
    return out


def _kind_order(kind: str) -> int:
    """A check kind's place in the table: underfitting, degradation, boosting, val_loss."""
    return {"underfitting": 0, "degradation": 1, "boosting": 2, "val_loss": 3}.get(str(kind), 4)


def _shown(r: dict[str, Any]) -> tuple[str, str]:
    """The value and threshold as the table shows them: points for degradation, shares otherwise."""
    v, t = r["value"], r["threshold"]
    if r["kind"] == "degradation":
        allowance = r.get("allowance") or 0.0
        return f"{v:.3f}", f"{t:g} + {allowance:.3f}" if allowance else f"{t:g}"
    value = "∞" if math.isinf(v) else f"{100 * v:.1f}%"
    return value, f"{'< ' if r['kind'] == 'underfitting' else ''}{100 * t:g}%"


def _rows_key(c: dict[str, Any]) -> float:
    """Order training sizes by rows (a fraction 1.0 of 379 rows is larger than a count of 100)."""
    for key in ("n_train", "train_size"):
        value = c.get(key)
        # NaN (a missing count in a DataFrame row) is missing too
        if value is not None and value == value:
            return float(value)
    return -1.0


def _at_largest(curves: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each model's curve at its largest training size (the first one there)."""
    best: dict[str, dict[str, Any]] = {}
    for c in curves:
        old = best.get(c["model"])
        if old is None or _rows_key(c) > _rows_key(old):
            best[c["model"]] = c
    return [best[m] for m in sorted(best)]


def _loss_histories(curves: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per model at its largest size, the fold its val_loss check quotes, shaped for ``plots.loss_curves``."""
    from mlbench.analysis.overfitting import quoted_curve

    by_size: dict[tuple[str, Any], list[dict[str, Any]]] = {}
    for c in curves:
        by_size.setdefault((c["model"], c["train_size"]), []).append(c)
    largest: dict[str, list[dict[str, Any]]] = {}
    for (model, _), at in by_size.items():
        # sizes mix fractions and counts: compare them by their mean training rows
        rows = _mean_rows(at)
        if model not in largest or rows > _mean_rows(largest[model]):
            largest[model] = at
    out = []
    for model in sorted(largest):
        at = largest[model]
        c = quoted_curve(at)
        out.append(
            {
                "model": model,
                "train_size": c["train_size"],
                "n_train": c.get("n_train"),
                "fold": None if c.get("fold") is None else int(c["fold"]),
                "repeat": None if c.get("repeat") is None else int(c["repeat"]),
                "n_folds": len(at),
                "epochs": c["epochs"],
                "train_loss": c["train_loss"],
                "val_loss": c["val_loss"],
                # the star marks the weights kept: only an early-stopping point is worth marking
                "best_epoch": c["kept_epoch"] if c["restored"] else None,
                "min_epoch": c["min_epoch"],
                "restored": c["restored"],
                "rise": c["rise"],
            }
        )
    return out


def _mean_rows(curves: list[dict[str, Any]]) -> float:
    keys = [_rows_key(c) for c in curves]
    return sum(keys) / len(keys) if keys else -1.0


# ------------------------------------------------------------------------------------------ figures


def figures(view: dict[str, Any] | None, colors: dict[str, str] | None = None) -> dict[str, Any]:
    """``{"staged", "loss", "capacity"}`` figures of one dataset's view: SVG text (staged) or
    matplotlib figures (None when empty)."""
    return {
        key: None if spec is None else spec[0](*spec[1]) for key, spec in figure_calls(view, colors).items()
    }


def figure_calls(view: dict[str, Any] | None, colors: dict[str, str] | None = None) -> dict[str, Any]:
    """``{"staged", "loss", "capacity"}``: each ``(draw, args)`` for one dataset's view, or None when empty."""
    from mlbench.report import plots

    out: dict[str, Any] = {"staged": None, "loss": None, "capacity": None}
    if not view:
        return out
    if view.get("staged"):
        out["staged"] = (staged_plot, (view["staged"], colors))
    if view.get("losses"):
        out["loss"] = (plots.loss_curves, (view["losses"], colors))
    series = [s for s in view.get("capacity") or [] if s.get("sizes")]
    if series:
        out["capacity"] = (capacity_plot, (series,))
    return out


@draws_svg
def staged_plot(curves: list[dict[str, Any]], colors: dict[str, str] | None = None) -> str:
    """Train (dashed) and test (solid) score against the number of estimators; the best test point starred.

    An early-stopped curve (it ends at the rounds the model kept) ends in a bar marker at its
    stopping round, with "stopped at K of N" beside it. Returns the SVG
    (:mod:`mlbench.report.svg`).
    """
    from mlbench.report import plots
    from mlbench.report.svg import Figure

    colors = colors or plots.palette([c["model"] for c in curves])
    metric = curves[0]["metric"]
    fig = Figure(460.8, 244.8, title=f"{metric} against the number of estimators")
    ax = fig.add_axes(
        xlog=True,
        xlabel="estimators used (first k of the fitted model; ★ best test score; | early stop)",
        ylabel=f"{metric} {plots.direction_arrow(curves[0]['greater_is_better'])}",
        grid="both",
        legend_loc="center",
    )
    for c in curves:
        color = colors.get(c["model"], plots.BAR_COLOR)
        name = plots.short_label(c["model"], 28)
        xs = c["n_estimators"]
        ax.line(xs, c["test"], color, width=1.5, marker="circle", marker_size=2.5)
        ax.legend(f"{name} test", color, marker="circle", size=2.5)
        if any(v is not None for v in c["train"]):
            ax.line(xs, c["train"], color, width=1.0, style="dashed")
            ax.legend(f"{name} train", color, width=1.0, style="dashed")
    for c in curves:  # the marks above every line
        color = colors.get(c["model"], plots.BAR_COLOR)
        xs = c["n_estimators"]
        i = c["best_index"]
        if c["test"][i] is not None:
            ax.marker(xs[i], c["test"][i], color, shape="star", size=11.0, edge="#000000")
        if c.get("early_stopped") and c["test"][-1] is not None:
            ax.marker(xs[-1], c["test"][-1], color, shape="vbar", size=16.0, edge_width=2.2)
            ax.text(xs[-1], c["test"][-1], f"stopped at {xs[-1]} of {c['trained']}", dx=4, dy=10, size=7.0,
                    color=color)  # fmt: skip
    return fig.to_svg()


def capacity_plot(series: list[dict[str, Any]]) -> Any:
    """One panel per capacity series: train (dashed) and test (solid) score per training size."""
    from mlbench.report import plots

    plt = plots.load_pyplot()
    with plt.rc_context(plots.RC_PARAMS):
        fig, axes = plt.subplots(
            1, len(series), figsize=(min(3.6 * len(series) + 1.8, 11), 3.1), squeeze=False
        )
        for ax, s in zip(axes[0], series, strict=True):
            sizes = sorted(s["sizes"], key=_rows_key)
            names = [
                f"{z['n_train']:,.0f} rows"
                if z.get("n_train") is not None
                else plots.fmt_size(z["train_size"])
                for z in sizes
            ]
            colors = plots.palette(names)
            for z, label in zip(sizes, names, strict=True):
                color = colors.get(label, plots.BAR_COLOR)
                xs = [p["x"] for p in z["points"]]
                ax.plot(xs, [p["test"] for p in z["points"]], color=color, marker="o", markersize=3,
                        linewidth=1.5, label=f"{label} test")  # fmt: skip
                if all(p["train"] is not None for p in z["points"]):
                    ax.plot(xs, [p["train"] for p in z["points"]], color=color, linewidth=1.0, linestyle="--",
                            label=f"{label} train")  # fmt: skip
                for p in z["points"]:
                    if p["model"] == z["enough"]:
                        ax.scatter([p["x"]], [p["test"]], marker="*", s=110, color=color, edgecolors="black",
                                   zorder=4)  # fmt: skip
            if s["x_label"] == "parameters" and all(p["x"] > 0 for z in sizes for p in z["points"]):
                ax.set_xscale("log")
                plots.plain_log_labels(ax.xaxis, lambda v: f"{v:,.0f}")
            ax.set_xlabel(f"{s['x_label']} (★ where more capacity stops helping)")
            ax.set_ylabel(f"{s['metric']} {plots.direction_arrow(s['greater_is_better'])}")
            ax.set_title(plots.short_label(f"{s['family']}: {s['param']}", 36), fontsize=8.5, loc="left")
            ax.grid(color="#e6e6e6", linewidth=0.6)
        axes[0][-1].legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=7.5)
        fig.tight_layout()
    return fig
