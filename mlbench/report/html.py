"""Step two of the report: summary dict -> one self-contained HTML page (a string).

Reading runs and writing files is :mod:`mlbench.report.build`'s job; this module only renders.

The template is rendered with autoescaping on, so every name that comes from the data (datasets,
models, errors) is escaped. The only strings marked safe are the SVGs produced by
:mod:`mlbench.report.plots` from the same summary, in which matplotlib escapes the text.
"""

from __future__ import annotations

import functools
from typing import Any


@functools.lru_cache(maxsize=1)
def jinja_environment() -> Any:
    # cached: the environment caches compiled templates, and compiling index.html.j2 is a tenth
    # of a second per report
    from jinja2 import Environment, PackageLoader

    env = Environment(
        loader=PackageLoader("mlbench.report", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        num=fmt_num,
        pm=fmt_pm,
        ci=fmt_ci,
        seconds=fmt_seconds,
        memory=fmt_memory,
        train_size=fmt_train_size,
        rows=fmt_rows,
        params=fmt_params,
        pvalue=fmt_p,
        pct=fmt_pct,
        rank=fmt_rank,
    )
    return env


def figures(summary: dict[str, Any]) -> dict[str, Any]:
    """Draw every figure of a summary as matplotlib figures (not yet serialized).

    Parameters
    ----------
    summary : dict
        The output of :func:`mlbench.report.summarize`.

    Returns
    -------
    dict
        ``{"cd": fig|None, "cd_groups": [fig|None, ...], "datasets": [{"bar", "pareto", "scaling",
        "ensembles", "loss", "confusion", "filters", "activations", "mistakes"}, ...]}``: ``cd_groups`` holds one
        critical-difference diagram per dataset group of ``summary["overall"]["groups"]`` (None
        where the group was not tested), ``cd`` the first of them; ``datasets`` follows the order of
        ``summary["datasets"]``; missing figures are None. Dense ones (confusion, filters,
        activations, mistakes) are meant for PNG.
    """
    from mlbench.report import plots

    colors = plots.palette(summary.get("header", {}).get("models", []))
    # One CD diagram per dataset group that was tested (None for the others).
    cd_groups = []
    for group in (summary.get("overall") or {}).get("groups", []):
        cd = group.get("cd")
        cd_groups.append(
            plots.cd_diagram(cd["mean_ranks"], cd.get("cd"), cd.get("groups", []))
            if cd and len(cd.get("mean_ranks") or {}) >= 2
            else None
        )
    out: dict[str, Any] = {
        # "cd": the first group's diagram (the largest group), for callers that export one figure
        "cd": next((f for f in cd_groups if f is not None), None),
        "cd_groups": cd_groups,
        "datasets": [],
    }
    for ds in summary.get("datasets", []):
        fig: dict[str, Any] = dict.fromkeys(
            (
                "bar",
                "pareto",
                "scaling",
                "ensembles",
                "tuning",
                "loss",
                "confusion",
                "filters",
                "activations",
                "mistakes",
            )
        )
        if ds.get("primary_metric"):
            board = ds.get("leaderboard", [])
            fig["bar"] = plots.bar_chart(board, ds["primary_metric"], ds["greater_is_better"])
            fig["pareto"] = plots.pareto(board, ds["primary_metric"], ds["greater_is_better"], colors)
        if ds.get("scaling"):
            fig["scaling"] = plots.learning_curves(ds["scaling"], colors)
        if ds.get("ensembles") and ds["ensembles"].get("weights"):
            fig["ensembles"] = plots.ensemble_weights(ds["ensembles"]["weights"], colors)
        tuned = ds.get("tuning")
        if tuned and tuned.get("history"):
            fig["tuning"] = plots.tuning_history(
                tuned["history"], tuned.get("importances"), tuned.get("best") or ""
            )
        if ds.get("histories"):
            fig["loss"] = plots.loss_curves(ds["histories"], colors)
        if ds.get("overfitting"):
            from mlbench.report.overfit import figures as overfit_figures

            fig.update({f"overfit_{k}": v for k, v in overfit_figures(ds["overfitting"], colors).items()})
        cm = ds.get("confusion")
        if cm:
            fig["confusion"] = plots.confusion(cm["matrix"], cm["labels"])
        viz = ds.get("visuals")
        if viz:
            if viz.get("filters") is not None:
                fig["filters"] = plots.filters_grid(viz["filters"])
            if viz.get("images") is not None and viz.get("activations") is not None:
                fig["activations"] = plots.activations_grid(viz["images"], viz["activations"])
            if viz.get("mistakes") is not None:
                fig["mistakes"] = plots.mistakes_grid(
                    viz["mistakes"], viz["mistakes_true"], viz["mistakes_pred"], viz["mistakes_conf"]
                )
        out["datasets"].append(fig)
    return out


#: Figures embedded as PNG data URIs (dense pixels); the others are inline SVG.
_RASTER = frozenset({"confusion", "filters", "activations", "mistakes"})


def render_html(summary: dict[str, Any], plots: bool = True, *, fingerprint: str | None = None) -> str:
    """Render a summary (from :func:`summarize`) to a self-contained HTML page.

    Parameters
    ----------
    summary : dict
        The output of :func:`mlbench.report.summarize`.
    plots : bool
        Draw the figures (bar chart and Pareto plot per dataset, learning curves when a sweep ran,
        CD diagrams, loss curves, confusion matrix, CNN pictures).
    fingerprint : str, optional
        Stored in a ``<meta name="mlbench-fingerprint">`` tag: what the report was built from
        (:meth:`mlbench.reader.Run.fingerprint`), so an unchanged run need not be re-rendered.

    Returns
    -------
    str
        The HTML document: inline CSS, inline SVG, PNG data URIs, a few lines of inline JS; no
        external URL.
    """
    from markupsafe import Markup

    from mlbench.report.plots import to_data_uri, to_svg

    env = jinja_environment()
    n_groups = len((summary.get("overall") or {}).get("groups", []))
    drawn = (
        figures(summary)
        if plots
        else {
            "cd": None,
            "cd_groups": [None] * n_groups,
            "datasets": [{} for _ in summary.get("datasets", [])],
        }
    )
    # Safe: SVG generated by matplotlib from our numbers, data strings inside XML-escaped by it;
    # PNGs are base64 data URIs placed in a src attribute by the (escaping) template.
    cd_svgs = [
        Markup(to_svg(fig, f"cd{i}-")) if fig is not None else ""
        for i, fig in enumerate(drawn["cd_groups"], start=1)
    ]
    rendered = []
    for i, figs in enumerate(drawn["datasets"], start=1):
        item: dict[str, Any] = {}
        for key, fig in figs.items():
            if fig is None:
                item[key] = ""
            elif key in _RASTER:
                item[key] = to_data_uri(fig)
            else:
                item[key] = Markup(to_svg(fig, f"ds{i}-{key}-"))
        rendered.append(item)
    mismatch_figs = _mismatch_figures(summary, plots, to_svg, to_data_uri, Markup)
    template = env.get_template("index.html.j2")
    return template.render(
        s=summary, figures=rendered, cd_svgs=cd_svgs, fingerprint=fingerprint, mismatch_figs=mismatch_figs
    )


def _mismatch_figures(
    summary: dict[str, Any], plots: bool, to_svg: Any, to_data_uri: Any, markup: Any
) -> list[Any]:
    """The "Train/test mismatch" figures, serialized: [dataset][comparison] -> {hist, label, unlike}."""
    items = summary.get("mismatch") or []
    if not plots:
        return [[{} for _ in ds["comparisons"]] for ds in items]
    from mlbench.report.mismatch import figures as mismatch_figures

    out = []
    for i, figs in enumerate(mismatch_figures(items), start=1):
        row = []
        for j, comp in enumerate(figs, start=1):
            row.append(
                {
                    key: ""
                    if fig is None
                    else to_data_uri(fig)
                    if key == "unlike"
                    else markup(to_svg(fig, f"mm{i}-{j}-{key}-"))
                    for key, fig in comp.items()
                }
            )
        out.append(row)
    return out


# --------------------------------------------------------------------------------------------- formatting


def _decimals(x: float) -> int:
    ax = abs(x)
    return 4 if ax < 10 else 2 if ax < 1000 else 0


def fmt_num(x: float | None, decimals: int | None = None) -> str:
    """Format a number for a table: 4 decimals below 10, 2 below 1000, none above; ``–`` if missing."""
    if x is None:
        return "–"
    d = _decimals(x) if decimals is None else decimals
    return f"{x:,.{d}f}"


def fmt_pm(mean: float | None, std: float | None) -> str:
    """Format ``mean ± std`` with matching decimals, e.g. ``0.9733 ± 0.0121``; the mean alone without std."""
    if mean is None:
        return "–"
    d = _decimals(mean)
    return f"{mean:,.{d}f}" if std is None else f"{mean:,.{d}f} ± {std:,.{d}f}"


def fmt_ci(low: float | None, high: float | None) -> str:
    """Format a 95% interval ``[0.9512, 0.9801]``; ``–`` when unknown (a single run)."""
    if low is None or high is None:
        return "–"
    d = max(_decimals(low), _decimals(high))
    return f"[{low:,.{d}f}, {high:,.{d}f}]"


def fmt_params(n: float | None) -> str:
    """Parameter count: ``1.2 M``, ``37.5 k``, ``512``; ``–`` if missing."""
    if n is None:
        return "–"
    for div, unit in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(n) >= div:
            return f"{n / div:.1f}{unit}"
    return f"{n:.0f}"


def fmt_p(p: float | None) -> str:
    """A p-value: ``0.032``, ``< 0.001``; ``–`` if undefined."""
    if p is None:
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def fmt_rank(x: float | None) -> str:
    """A rank: ``2`` for a whole number, ``1.5`` for a shared (average) rank; ``–`` if missing."""
    if x is None:
        return "–"
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.1f}"


def fmt_pct(x: float | None) -> str:
    """A share as a percentage: ``75%``; ``–`` if missing."""
    return "–" if x is None else f"{x:.0%}"


def fmt_seconds(x: float | None) -> str:
    """Human duration: ``850 µs``, ``12.3 ms``, ``4.20 s``, ``3 min 05 s``, ``2 h 07 min``."""
    if x is None:
        return "–"
    if x < 1e-3:
        return f"{x * 1e6:.0f} µs"
    if x < 1:
        return f"{x * 1e3:.1f} ms" if x < 0.1 else f"{x * 1e3:.0f} ms"
    if x < 60:
        return f"{x:.2f} s" if x < 10 else f"{x:.1f} s"
    if x < 3600:
        m, s = divmod(round(x), 60)
        return f"{m} min {s:02d} s"
    h, rest = divmod(round(x), 3600)
    return f"{h} h {rest // 60:02d} min"


def fmt_memory(mb: float | None) -> str:
    """Human memory from megabytes: ``85 MB``, ``1.25 GB``."""
    if mb is None:
        return "–"
    return f"{mb / 1024:.2f} GB" if mb >= 1024 else f"{mb:.0f} MB"


def fmt_rows(n: float | None) -> str:
    """A row count with thousands separators: ``12,000``; ``–`` if missing."""
    return "–" if n is None else f"{int(n):,}"


def fmt_train_size(x: float | None) -> str:
    """A train size: a fraction (<= 1) as a percentage, a row count as an integer."""
    if x is None:
        return "–"
    return f"{x:.0%}" if x <= 1 else f"{int(x):,}"


def prewarm() -> None:
    """Pay the report's one-off costs now: imports, font loading, the SVG backend, template compiling.

    The coordinator calls it in a background thread while jobs run, so that the report written at
    the end of a run costs only its own work (about a second less on 2 cores).
    """
    import mlbench.analysis
    import mlbench.report.summarize  # noqa: F401
    from mlbench.report import plots

    plots.warm_up()
    jinja_environment().get_template("index.html.j2")
