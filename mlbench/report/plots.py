"""The report's figures, each an inline SVG string or a matplotlib figure to serialize.

The frequent charts (bar chart, Pareto plot, confusion matrix) are written directly as SVG by
:mod:`mlbench.report.svg`, in about a millisecond each, with text as ``<text>`` elements. The
others are matplotlib figures, imported inside the functions (Agg backend, no display needed) so
that importing :mod:`mlbench.report` stays cheap: their text is drawn as paths
(``svg.fonttype='path'``), so the report looks the same on a machine without the fonts; the
original strings only survive inside XML comments, which matplotlib escapes. Each matplotlib SVG
gets its element ids prefixed with a unique token because several SVGs share one HTML document,
where ids must be unique.
"""

from __future__ import annotations

import base64
import io
import itertools
import math
import re
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from mlbench.report.svg import draws_svg

#: Model names longer than this are shortened on the axis (the tables show them in full).
MAX_LABEL = 40

BAR_COLOR = "#4c72b0"
_BEST = "#dd8452"
RC_PARAMS = {
    "svg.fonttype": "path",
    # A fixed salt makes ids (and so the report) reproducible; uniqueness across figures comes
    # from the per-figure prefix added in _svg_text.
    "svg.hashsalt": "mlbench",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_counter = itertools.count(1)

#: pyplot keeps global state: figures drawn from two threads (the coordinator's background
#: pre-rendering, its report warm-up and the report itself) take turns.
DRAW_LOCK = threading.RLock()


# --------------------------------------------------------------------------------------------- output


def palette(models: Sequence[str]) -> dict[str, str]:
    """Give each model one colour for every figure of the report (tab10, then tab20, then grey).

    Parameters
    ----------
    models : sequence of str
        Model names in a stable order (the report uses the header's model list).

    Returns
    -------
    dict of str to str
        Model -> hex colour.
    """
    base = [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
        "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
    ]  # fmt: skip
    return {m: base[i] if i < len(base) else "#555555" for i, m in enumerate(models)}


def to_svg(fig: Any, id_prefix: str | None = None) -> str:
    """Serialize a figure to an inline ``<svg>`` element (ids prefixed, no XML prolog) and close it.

    A figure drawn as SVG text already (a ``str``, which has no ids) is returned as it is.
    """
    if isinstance(fig, str):
        return fig
    return _svg_text(fig, id_prefix)


def to_png(fig: Any, dpi: int = 110) -> bytes:
    """Serialize a figure to PNG bytes (reproducible: no metadata) and close it.

    A figure drawn as SVG text is replayed onto matplotlib first (:func:`mlbench.report.svg.to_matplotlib`).
    """
    import matplotlib.pyplot as plt

    if isinstance(fig, str):
        from mlbench.report.svg import to_matplotlib

        load_pyplot()
        fig = to_matplotlib(fig)
    buf = io.BytesIO()
    try:
        fig.savefig(
            buf, format="png", dpi=dpi, metadata={"Software": None}, bbox_inches="tight", pad_inches=0.05
        )
    finally:
        plt.close(fig)
    return buf.getvalue()


def to_data_uri(fig: Any, dpi: int = 110) -> str:
    """A figure as a data URI for an ``<img>``: PNG for a matplotlib figure (dense pictures),
    ``data:image/svg+xml;base64,...`` for one drawn as SVG text."""
    if isinstance(fig, str):
        return "data:image/svg+xml;base64," + base64.b64encode(fig.encode("utf-8")).decode("ascii")
    return "data:image/png;base64," + base64.b64encode(to_png(fig, dpi)).decode("ascii")


# --------------------------------------------------------------------------------------------- per dataset


@draws_svg
def bar_chart(
    rows: Sequence[dict[str, Any]],
    metric: str,
    greater_is_better: bool = True,
    colors: dict[str, str] | None = None,
) -> str | None:
    """Horizontal bars of the mean test metric per model with 95% confidence intervals.

    Parameters
    ----------
    rows : sequence of dict
        Leaderboard rows: ``model``, ``test_mean``, ``test_ci_low``, ``test_ci_high`` (None: no bar).
    metric : str
        Axis label.
    greater_is_better : bool
        Axis label and which bar is highlighted.
    colors : dict, optional
        Unused; kept for a uniform signature.

    Returns
    -------
    str or None
        The SVG (:mod:`mlbench.report.svg`); None when no model has a score.
    """
    from mlbench.report.svg import Figure

    rows = [r for r in rows if r.get("test_mean") is not None]
    if not rows:
        return None
    values = [r["test_mean"] for r in rows]
    # The interval is over fold means while the bar is the mean over all jobs; with unequal
    # repeats per fold the bar can sit just outside it, so the whiskers are clipped at the bar.
    lows = [
        max(0.0, v - (r.get("test_ci_low") if r.get("test_ci_low") is not None else v))
        for v, r in zip(values, rows, strict=True)
    ]
    highs = [
        max(0.0, (r.get("test_ci_high") if r.get("test_ci_high") is not None else v) - v)
        for v, r in zip(values, rows, strict=True)
    ]
    best = max(values) if greater_is_better else min(values)
    fig = Figure(360.0, 72 * (0.9 + 0.3 * len(rows)), title=f"test {metric} per model")
    ax = fig.add_axes(
        invert_y=True,
        xlabel=f"test {metric} (mean, 95% CI; {direction_arrow(greater_is_better)})",
        yticks=(range(len(rows)), [short_label(r["model"]) for r in rows]),
        grid="x",
        grid_color="#dddddd",
    )
    for i, (v, lo, hi) in enumerate(zip(values, lows, highs, strict=True)):
        ax.rect(0.0, i - 0.325, v, i + 0.325, _BEST if v == best else BAR_COLOR)
        if lo or hi:
            ax.line([v - lo, v + hi], [i, i], "#333333", width=1.0)
            for end in (v - lo, v + hi):
                ax.marker(end, i, "#333333", shape="vbar", size=6.0)
    lo = min(v - e for v, e in zip(values, lows, strict=True))
    hi = max(v + e for v, e in zip(values, highs, strict=True))
    if lo >= 0 and hi <= 1.0 + 1e-9 and lo > 0.5:
        ax.xlim = (max(0.0, lo - (hi - lo) * 0.6 - 0.01), min(1.0, hi + 0.01) + 0.005)
    elif lo >= 0:
        ax.xlim = (0.0, None)
    return fig.to_svg()


@draws_svg
def pareto(
    rows: Sequence[dict[str, Any]],
    metric: str,
    greater_is_better: bool = True,
    colors: dict[str, str] | None = None,
) -> str | None:
    """Score against fit time (log x), Pareto-optimal models highlighted and joined by a step line.

    Parameters
    ----------
    rows : sequence of dict
        Leaderboard rows: ``model``, ``fit_seconds``, ``test_mean``, ``test_ci_low``/``high``, ``pareto``.
    metric : str
        Axis label.
    greater_is_better : bool
        Direction of the metric (the front goes towards fast and good).
    colors : dict, optional
        Model -> colour.

    Returns
    -------
    str or None
        The SVG; None when no model has a score and a fit time.
    """
    from mlbench.report.svg import Figure

    rows = [r for r in rows if r.get("test_mean") is not None and (r.get("fit_seconds") or 0) > 0]
    if not rows:
        return None
    colors = colors or palette([r["model"] for r in rows])
    fig = Figure(446.4, 237.6, title=f"test {metric} against fit time per model")
    ax = fig.add_axes(
        xlog=True,
        x_format=_seconds_tick,
        xmargin=0.15,
        ymargin=0.12,
        xlabel="mean fit time per job (log scale)",
        ylabel=f"test {metric}\n({direction_arrow(greater_is_better)})",
        grid="both",
        grid_color="#eeeeee",
        title="◆ Pareto-optimal: nothing is both faster and better",
        title_loc="left",
        title_size=8.0,
        legend_size=7.5,
    )
    front = sorted((r for r in rows if r.get("pareto")), key=lambda r: r["fit_seconds"])
    for r in rows:
        x = r["fit_seconds"]
        lo, hi = r.get("test_ci_low"), r.get("test_ci_high")
        if lo is not None and hi is not None:
            ax.line([x, x], [lo, hi], colors.get(r["model"], BAR_COLOR), width=1.0, opacity=0.6)
    if len(front) > 1:
        ax.line(
            [r["fit_seconds"] for r in front], [r["test_mean"] for r in front],
            "#000000", width=0.8, style="dotted", step=True,
        )  # fmt: skip
    for r in rows:
        on = bool(r.get("pareto"))
        color = colors.get(r["model"], BAR_COLOR)
        shape, size, edge = ("diamond", 7.7, "#000000") if on else ("circle", 5.3, None)
        ax.marker(r["fit_seconds"], r["test_mean"], color, shape=shape, size=size, edge=edge, edge_width=1.2)
        ax.legend(
            short_label(r["model"], 24) + (" ◆" if on else ""), color, kind="marker", marker=shape,
            size=6.3 if on else 5.0, edge=edge,
        )  # fmt: skip
    return fig.to_svg()


@draws_svg
def confusion(matrix: Sequence[Sequence[int]], labels: Sequence[str], title: str = "") -> str | None:
    """Confusion matrix heat map, rows = true class normalised to 1, counts written in the cells.

    Parameters
    ----------
    matrix : sequence of sequence of int
        ``matrix[i][j]`` = test rows of true class i predicted as j.
    labels : sequence of str
        Class names.
    title : str
        Figure title.

    Returns
    -------
    str or None
        The SVG; None for an empty matrix.
    """
    from mlbench.report.svg import Figure, blues

    m = [[float(v) for v in row] for row in matrix]
    if not m or not any(len(row) for row in m):
        return None
    k = len(m)
    rates = [[v / max(sum(row), 1.0) for v in row] for row in m]
    side = min(7.0, max(3.2, 0.42 * k + 1.6))
    names = [short_label(str(s), 14) for s in labels]
    ticks = list(range(k)) if k <= 40 else list(range(0, k, max(1, k // 20)))
    fig = Figure(None, side * 72, title="confusion matrix" + (f": {title}" if title else ""))
    ax = fig.add_axes(
        square=True,
        frame=True,
        invert_y=True,
        xlim=(-0.5, k - 0.5),
        ylim=(-0.5, k - 0.5),
        xticks=(ticks, [names[t] for t in ticks]),
        yticks=(ticks, [names[t] for t in ticks]),
        x_rotation=45.0 if k > 6 else 0.0,
        xlabel="predicted class",
        ylabel="true class",
        title=title,
        title_loc="left",
    )
    size = 7.0 if k > 10 else 8.0
    # the empty cells are the background; the others one element per colour (shares rounded to
    # 1/128, too little to see): a 100-class matrix stays a small file
    ax.rect(-0.5, -0.5, k - 0.5, k - 0.5, blues(0.0), sticky=False)
    shades: dict[int, list[tuple[float, float, float, float]]] = {}
    for i in range(k):
        for j in range(k):
            if m[i][j]:
                shades.setdefault(round(128 * rates[i][j]), []).append((j - 0.5, i - 0.5, j + 0.5, i + 0.5))
    for shade, boxes in sorted(shades.items()):
        ax.cells(boxes, blues(shade / 128))
    for i in range(k):
        for j in range(k):
            if k <= 20 and m[i][j]:
                ax.text(
                    j, i, f"{int(m[i][j])}", size=size, anchor="middle", middle=True,
                    color="#ffffff" if rates[i][j] > 0.6 else "#222222",
                )  # fmt: skip
    bar = fig.add_axes(
        width=max(8.0, 0.046 * side * 72),
        frame=True,
        y_side="right",
        xticks=([], []),
        ylim=(0.0, 1.0),
        xlim=(0.0, 1.0),
        yticks=([0.0, 0.2, 0.4, 0.6, 0.8, 1.0], ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]),
        ylabel="share of the true class",
    )
    steps = 64
    for s_ in range(steps):
        bar.rect(0.0, s_ / steps, 1.0, (s_ + 1) / steps + 0.002, blues((s_ + 0.5) / steps), sticky=False)
    return fig.to_svg()


# --------------------------------------------------------------------------------------------- overall


def cd_diagram(mean_ranks: dict[str, float], cd: float | None, groups: Sequence[Sequence[str]]) -> Any:
    """Critical-difference diagram (Demšar 2006): models on a rank axis, cliques joined by bars.

    Parameters
    ----------
    mean_ranks : dict of str to float
        Model -> mean rank over datasets (1 = best).
    cd : float or None
        Nemenyi critical difference, drawn as a scale bar above the axis.
    groups : sequence of sequence of str
        Groups of models whose mean ranks do not differ significantly (cliques); each is drawn as
        a thick bar under the axis joining its members.

    Returns
    -------
    matplotlib.figure.Figure or None
    """
    items = sorted(((float(r), m) for m, r in mean_ranks.items() if r is not None), key=lambda t: t[0])
    if len(items) < 2:
        return None
    k = len(items)
    lo, hi = 1.0, max(float(k), max(r for r, _ in items))
    plt = load_pyplot()
    half = (k + 1) // 2
    left, right = items[:half], items[half:]
    bars = [sorted(g, key=lambda m: mean_ranks[m]) for g in groups if len(g) > 1]
    height = 1.2 + 0.28 * max(len(left), len(right)) + 0.18 * len(bars)
    with plt.rc_context(RC_PARAMS):
        fig, ax = plt.subplots(figsize=(7.0, height))
        ax.set_xlim(lo - 0.9 * (hi - lo) / max(k - 1, 1) - 0.6, hi + 0.9 * (hi - lo) / max(k - 1, 1) + 0.6)
        ax.set_ylim(0, 1)
        ax.invert_yaxis()
        ax.axis("off")
        axis_y = 0.12
        ax.plot([lo, hi], [axis_y, axis_y], color="black", linewidth=1)
        for t in range(1, int(hi) + 1):
            ax.plot([t, t], [axis_y - 0.02, axis_y], color="black", linewidth=1)
            ax.text(t, axis_y - 0.035, str(t), ha="center", va="bottom", fontsize=8)
        if cd:
            ax.plot([lo, lo + cd], [0.03, 0.03], color="#cc3333", linewidth=1.5)
            ax.text(
                lo + cd / 2, 0.015, f"CD = {cd:.2f}", ha="center", va="bottom", fontsize=7.5, color="#cc3333"
            )
        step = (1 - axis_y - 0.12) / max(len(left), len(right), 1)
        bar_space = 0.05 * len(bars)
        for i, (r, m) in enumerate(left):
            y = axis_y + bar_space + 0.08 + step * (i + 0.5)
            ax.plot([r, r, lo - 0.3], [axis_y, y, y], color="#333333", linewidth=0.8)
            ax.text(lo - 0.35, y, f"{short_label(m, 28)} ({r:.2f})", ha="right", va="center", fontsize=8)
        for i, (r, m) in enumerate(right):
            y = axis_y + bar_space + 0.08 + step * (len(right) - 1 - i + 0.5)
            ax.plot([r, r, hi + 0.3], [axis_y, y, y], color="#333333", linewidth=0.8)
            ax.text(hi + 0.35, y, f"({r:.2f}) {short_label(m, 28)}", ha="left", va="center", fontsize=8)
        for j, g in enumerate(bars):
            y = axis_y + 0.04 + 0.05 * j
            ax.plot(
                [mean_ranks[g[0]] - 0.05, mean_ranks[g[-1]] + 0.05], [y, y],
                color="black", linewidth=3.2, solid_capstyle="round",
            )  # fmt: skip
        fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------- scaling


def learning_curves(
    scaling: dict[str, Any],
    colors: dict[str, str] | None = None,
) -> Any:
    """Learning curves with 95% CI bands, power-law fits (dashed) and crossover markers.

    Parameters
    ----------
    scaling : dict
        A dataset's ``scaling`` entry of the summary: ``metric``, ``greater_is_better``, ``curves``
        (``model`` + ``points`` of ``n_train``/``mean``/``ci_low``/``ci_high``: complete points only),
        ``fits`` (``model``, ``b``, ``reliable``, ``points`` as ``[n, value]`` pairs on the metric's
        scale) and ``crossovers`` (``n_cross``, ``value``, ``kind``, ``n_low``, ``n_high``,
        ``label``). Only reliable fits get a dashed line and an exponent in the legend.
    colors : dict, optional
        Model -> colour.

    Returns
    -------
    matplotlib.figure.Figure or None
    """
    curves = [c for c in scaling.get("curves", []) if c.get("points")]
    if not curves:
        return None
    colors = colors or palette([c["model"] for c in curves])
    # "no reliable fit" (an exponent at a bound, a fit that explains little): no line, no exponent
    fits = {f["model"]: f for f in scaling.get("fits", []) if f.get("reliable") and f.get("points")}
    plt = load_pyplot()
    with plt.rc_context(RC_PARAMS):
        fig, ax = plt.subplots(figsize=(9.0, 4.4))
        n_hollow = 0
        for curve in curves:
            model, pts = curve["model"], curve["points"]
            color = colors.get(model, BAR_COLOR)
            xs = [p["n_train"] for p in pts]
            fit = fits.get(model)
            label = short_label(model, 28)
            if fit is not None and fit.get("b") is not None:
                label += f"  (b = {fit['b']:.2f})"
            ax.plot(xs, [p["mean"] for p in pts], linewidth=1.5, color=color, label=label)
            # filled: better than the baseline beyond noise; hollow: no better (left out of fits
            # and crossovers)
            for hollow in (False, True):
                sel = [p for p in pts if bool(p.get("no_better_than_baseline")) == hollow]
                if sel:
                    ax.plot(
                        [p["n_train"] for p in sel], [p["mean"] for p in sel], linestyle="none",
                        marker="o", markersize=5 if hollow else 3.5, color=color,
                        markerfacecolor="white" if hollow else color, markeredgewidth=1.2 if hollow else 1.0,
                        gid="no-better-than-baseline" if hollow else None,
                    )  # fmt: skip
                    n_hollow += len(sel) if hollow else 0
            band = [(p["n_train"], p["ci_low"], p["ci_high"]) for p in pts if p.get("ci_low") is not None]
            if len(band) > 1:
                ax.fill_between(
                    [b[0] for b in band], [b[1] for b in band], [b[2] for b in band],
                    color=color, alpha=0.14, linewidth=0,
                )  # fmt: skip
            if fit is not None:
                ax.plot(
                    [p[0] for p in fit["points"]], [p[1] for p in fit["points"]],
                    linestyle="--", linewidth=1.0, color=color, alpha=0.9,
                )  # fmt: skip
        for cross in scaling.get("crossovers", []):
            n, v = cross.get("n_cross"), cross.get("value")
            if n is None or v is None or not cross.get("key", True):
                continue
            extrapolated = cross.get("kind") == "extrapolated"
            if cross.get("n_low") is not None and cross.get("n_high") is not None:
                ax.plot(
                    [cross["n_low"], cross["n_high"]], [v, v], color="#444444",
                    linewidth=1, linestyle=":" if extrapolated else "-", alpha=0.8,
                )  # fmt: skip
            ax.scatter(
                [n], [v], s=70, marker="X", zorder=5,
                facecolors="white" if extrapolated else "black", edgecolors="black", linewidths=1.2,
            )  # fmt: skip
            ax.annotate(
                f"{cross.get('label', '')}", (n, v), xytext=(4, -11), textcoords="offset points", fontsize=8,
                fontweight="bold", style="italic" if extrapolated else "normal",
            )  # fmt: skip
        ax.set_xscale("log")
        plain_log_labels(ax.xaxis, lambda n: f"{n:,.0f}" if n >= 1 else f"{n:g}")
        sizes = sorted({p["n_train"] for c in curves for p in c["points"]})
        ax.xaxis.set_minor_locator(_ticker().NullLocator())
        if len(sizes) <= 12:
            ax.set_xticks(sizes, [f"{int(n):,}" for n in sizes])
        ax.set_xlabel("training rows (log scale); dashed: power-law fit; ✖ crossover (hollow = extrapolated)")
        metric = scaling.get("metric") or ""
        ax.set_ylabel(
            f"test {metric}\n(mean, 95% CI; {direction_arrow(scaling.get('greater_is_better', True))})"
        )
        ax.grid(color="#e6e6e6", linewidth=0.6)
        if n_hollow:
            ax.plot(
                [], [], linestyle="none", marker="o", markersize=5, color="#444444", markerfacecolor="white",
                label="○ no better than the baseline\n(left out of fits, crossovers)",
            )  # fmt: skip
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=8)
        fig.tight_layout()
    return fig


def verdict(record: dict[str, Any], colors: dict[str, str] | None = None) -> Any:
    """A dataset's verdict in one picture: the observed curves of the models it names (95% CI
    bars), their expected scores at 2x, 10x and 100x the largest size with the predicted ranges,
    and the crossover ranges it states (shaded).

    Parameters
    ----------
    record : dict
        :meth:`mlbench.analysis.DatasetVerdict.as_dict`: ``points`` (``{model: [[n, mean, low,
        high], ...]}``), ``outlook``, ``crossovers``, ``recommended``, ``metric``,
        ``greater_is_better``.
    colors : dict, optional
        Model -> colour.

    Returns
    -------
    matplotlib.figure.Figure or None
    """
    points = {m: p for m, p in (record.get("points") or {}).items() if p}
    if not points:
        return None
    colors = colors or palette(list(points))
    plt = load_pyplot()
    with plt.rc_context(RC_PARAMS):
        fig, ax = plt.subplots(figsize=(9.0, 3.8))
        for c in record.get("crossovers") or []:
            if c.get("n_low") is not None and c.get("n_high") is not None:
                ax.axvspan(
                    c["n_low"], c["n_high"], color="#999999",
                    alpha=0.12 if c.get("kind") == "extrapolated" else 0.2, linewidth=0,
                )  # fmt: skip
        for model, pts in points.items():
            color = colors.get(model, BAR_COLOR)
            xs = [p[0] for p in pts]
            ys = [p[1] for p in pts]
            lows = [p[1] - p[2] if p[2] is not None else 0.0 for p in pts]
            highs = [p[3] - p[1] if p[3] is not None else 0.0 for p in pts]
            label = short_label(model, 28) + ("  (recommended)" if model == record.get("recommended") else "")
            ax.errorbar(
                xs, ys, yerr=[lows, highs], marker="o", markersize=3.5, capsize=2,
                linewidth=2.4 if model == record.get("recommended") else 1.3, color=color, label=label,
            )  # fmt: skip
            ahead = [
                (o["n"], r)
                for o in record.get("outlook") or []
                for r in o.get("rows") or []
                if r["model"] == model and r.get("score") is not None
            ]
            if ahead:
                nx = [n for n, _ in ahead]
                ny = [r["score"] for _, r in ahead]
                lo = [r["score"] - r["low"] if r.get("low") is not None else 0.0 for _, r in ahead]
                hi = [r["high"] - r["score"] if r.get("high") is not None else 0.0 for _, r in ahead]
                ax.plot([xs[-1], *nx], [ys[-1], *ny], linestyle=":", linewidth=1.0, color=color)
                ax.errorbar(
                    nx, ny, yerr=[lo, hi], fmt="D", markersize=4, capsize=3, color=color,
                    markerfacecolor="white", linewidth=1.0,
                )  # fmt: skip
        ax.set_xscale("log")
        plain_log_labels(ax.xaxis, lambda n: f"{n:,.0f}" if n >= 1 else f"{n:g}")
        ax.set_xlabel(
            "training rows (log scale); ◇ expected at 2x, 10x, 100x (95% range; reliable fits only); "
            "shaded: crossover ranges"
        )
        ax.set_ylabel(
            f"test {record.get('metric') or ''}\n(mean, 95% CI; {direction_arrow(record.get('greater_is_better', True))})"
        )
        ax.grid(color="#e6e6e6", linewidth=0.6)
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=8)
        fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------- ensembles


def ensemble_weights(weights: dict[str, list[dict[str, Any]]], colors: dict[str, str] | None = None) -> Any:
    """Members' weights in each ensemble as stacked bars, one bar per training size.

    Parameters
    ----------
    weights : dict
        ``{ensemble: [{"train_size", "n_train", "weights": {member: weight}}, ...]}`` (the summary's
        ``ensembles.weights``): mean weights over folds and repeats.
    colors : dict, optional
        Model -> colour.

    Returns
    -------
    matplotlib.figure.Figure or None
    """
    weights = {k: v for k, v in weights.items() if v}
    if not weights:
        return None
    members = sorted({m for sizes in weights.values() for e in sizes for m in e["weights"]})
    colors = colors or palette(members)
    plt = load_pyplot()
    with plt.rc_context(RC_PARAMS):
        fig, axes = plt.subplots(
            1, len(weights), figsize=(min(3.2 * len(weights) + 1.8, 11), 2.9), squeeze=False, sharey=True
        )
        for ax, (label, sizes) in zip(axes[0], weights.items(), strict=True):
            ticks = [
                f"{int(e['n_train']):,}" if e.get("n_train") is not None else fmt_size(e.get("train_size"))
                for e in sizes
            ]
            bottom = [0.0] * len(sizes)
            for member in members:
                values = [float(e["weights"].get(member) or 0.0) for e in sizes]
                if not any(values):
                    continue
                ax.bar(range(len(sizes)), values, bottom=bottom, color=colors.get(member, BAR_COLOR), width=0.7,
                       label=short_label(member, 24))  # fmt: skip
                bottom = [b + v for b, v in zip(bottom, values, strict=True)]
            ax.set_xticks(range(len(sizes)), ticks, rotation=30 if len(sizes) > 5 else 0)
            ax.set_title(short_label(label, 36), fontsize=8.5, loc="left")
            ax.set_xlabel("training rows")
            ax.set_ylim(0, 1.0)
        axes[0][0].set_ylabel("weight (mean over folds)")
        handles, names = [], []
        for ax in axes[0]:
            for h, n in zip(*ax.get_legend_handles_labels(), strict=True):
                if n not in names:
                    handles.append(h)
                    names.append(n)
        axes[0][-1].legend(
            handles, names, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=7.5
        )
        fig.tight_layout()
    return fig


def tuning_history(history: dict[str, Any], importances: dict[str, float] | None, title: str = "") -> Any:
    """A tuned model's optimisation history (best validation value vs trial) and its importances.

    Parameters
    ----------
    history : dict
        The summary's ``tuning.history``: ``folds`` (best value after each trial, per fold),
        ``mean``, ``metric``, ``greater_is_better``.
    importances : dict or None
        Parameter -> importance (``tuning.importances``), drawn as bars beside the history.
    title : str
        The model's label.

    Returns
    -------
    matplotlib.figure.Figure or None
    """
    folds = [c for c in history.get("folds") or [] if c]
    if not folds:
        return None
    plt = load_pyplot()
    with plt.rc_context(RC_PARAMS):
        panels = 2 if importances else 1
        fig, axes = plt.subplots(1, panels, figsize=(4.6 * panels + 0.6, 2.9), squeeze=False)
        ax = axes[0][0]
        for curve in folds:
            xs = [i + 1 for i, v in enumerate(curve) if v is not None]
            ax.plot(xs, [v for v in curve if v is not None], color=BAR_COLOR, alpha=0.35, lw=0.9)
        mean = history.get("mean") or []
        xs = [i + 1 for i, v in enumerate(mean) if v is not None]
        ax.plot(xs, [v for v in mean if v is not None], color="#1f4e79", lw=2, label="mean over folds")
        ax.set_xlabel("trial")
        ax.xaxis.set_major_locator(_ticker().MaxNLocator(integer=True))
        metric = history.get("metric") or "score"
        ax.set_ylabel(
            f"best validation {metric} {direction_arrow(bool(history.get('greater_is_better', True)))}"
        )
        ax.set_title(short_label(f"{title}: optimisation history", 48), fontsize=8.5, loc="left")
        ax.legend(
            frameon=False,
            fontsize=7.5,
            loc="lower right" if history.get("greater_is_better") else "upper right",
        )
        if importances:
            bx = axes[0][1]
            names = list(importances)[:12][::-1]
            bx.barh(range(len(names)), [importances[n] for n in names], color=BAR_COLOR)
            bx.set_yticks(range(len(names)), [short_label(n, 22) for n in names])
            bx.set_xlabel("importance (fANOVA, mean over folds)")
            bx.set_title("parameter importances", fontsize=8.5, loc="left")
        fig.tight_layout()
    return fig


def fmt_size(size: Any) -> str:
    """A requested train size: a fraction as a percentage, a row count with separators."""
    if size is None:
        return "–"
    return f"{size:.0%}" if size <= 1 else f"{int(size):,}"


# --------------------------------------------------------------------------------------------- deep models


def loss_curves(histories: Sequence[dict[str, Any]], colors: dict[str, str] | None = None) -> Any:
    """Per-epoch train (solid) and validation (dashed) loss per model; the early-stopping epoch marked.

    Parameters
    ----------
    histories : sequence of dict
        ``model``, ``epochs``, ``train_loss``, ``val_loss`` (list or None), ``best_epoch`` (or None),
        ``fold``/``repeat`` (optional: named in the legend).
    colors : dict, optional
        Model -> colour.

    Returns
    -------
    matplotlib.figure.Figure or None
    """
    histories = [h for h in histories if h.get("epochs")]
    if not histories:
        return None
    colors = colors or palette([h["model"] for h in histories])
    plt = load_pyplot()
    with plt.rc_context(RC_PARAMS):
        fig, ax = plt.subplots(figsize=(6.4, 3.4))
        for h in histories:
            color = colors.get(h["model"], BAR_COLOR)
            ep = h["epochs"]
            name = short_label(h["model"], 28)
            if h.get("fold") is not None:  # the plotted job: the Deep and Overfitting plots may differ
                name += f" (fold {h['fold']}{', repeat ' + str(h['repeat']) if h.get('repeat') else ''})"
            ax.plot(ep, h["train_loss"], color=color, linewidth=1.5, label=f"{name} train")
            if h.get("val_loss") and any(v is not None for v in h["val_loss"]):
                ax.plot(ep, h["val_loss"], color=color, linewidth=1.5, linestyle="--", label=f"{name} val")
            best = h.get("best_epoch")
            if best is not None and best in ep:
                i = ep.index(best)
                series = (
                    h["val_loss"] if h.get("val_loss") and h["val_loss"][i] is not None else h["train_loss"]
                )
                ax.axvline(best, color=color, linewidth=0.8, linestyle=":")
                ax.scatter([best], [series[i]], marker="*", s=110, color=color, edgecolors="black", zorder=4)
        ax.set_xlabel("epoch (★ early-stopping point: best epoch kept)")
        ax.xaxis.set_major_locator(_ticker().MaxNLocator(integer=True))
        ax.set_ylabel("loss")
        positive = all(v is not None and v > 0 for h in histories for v in h["train_loss"])
        if positive:
            ax.set_yscale("log")
            plain_log_labels(ax.yaxis, lambda v: f"{v:g}")
        ax.grid(color="#e6e6e6", linewidth=0.6)
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=8)
        fig.tight_layout()
    return fig


def _image(arr: Any) -> tuple[Any, str | None]:
    """(H, W) or (H, W, 3) array scaled to [0, 1] and its colour map, from a (C, H, W) image."""
    import numpy as np

    a = np.asarray(arr, dtype=float)
    if a.ndim == 3 and a.shape[0] in (3, 4):
        a = np.transpose(a[:3], (1, 2, 0))
    elif a.ndim == 3:
        a = a[0]
    lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
    a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    return a, (None if a.ndim == 3 else "gray_r")


def filters_grid(filters: Any, max_filters: int = 32) -> Any:
    """First-layer convolution filters as small tiles (channels averaged unless RGB).

    Parameters
    ----------
    filters : array-like, shape (F, C, kh, kw)
    max_filters : int
        Tiles drawn at most.

    Returns
    -------
    matplotlib.figure.Figure or None
    """
    import numpy as np

    f = np.asarray(filters, dtype=float)
    if f.ndim != 4 or len(f) == 0:
        return None
    f = f[:max_filters]
    cols = min(len(f), 16)
    rows = math.ceil(len(f) / cols)
    plt = load_pyplot()
    with plt.rc_context(RC_PARAMS):
        fig, axes = plt.subplots(rows, cols, figsize=(0.45 * cols, 0.45 * rows + 0.1), squeeze=False)
        for ax in axes.flat:
            ax.axis("off")
        for ax, w in zip(axes.flat, f, strict=False):
            img = np.transpose(w[:3], (1, 2, 0)) if w.shape[0] == 3 else w.mean(axis=0)
            lim = float(np.abs(img).max()) or 1.0
            if img.ndim == 3:
                ax.imshow((img / lim + 1) / 2, interpolation="nearest")
            else:
                ax.imshow(img, cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        fig.subplots_adjust(left=0.01, right=0.99, top=0.99, bottom=0.01, wspace=0.3, hspace=0.3)
    return fig


def activations_grid(images: Any, activations: Any) -> Any:
    """Each row: an input image, then the first layer's activation maps for it.

    Parameters
    ----------
    images : array-like, shape (m, C, H, W)
    activations : array-like, shape (m, A, h, w)

    Returns
    -------
    matplotlib.figure.Figure or None
    """
    import numpy as np

    imgs, acts = np.asarray(images, dtype=float), np.asarray(activations, dtype=float)
    if imgs.ndim != 4 or acts.ndim != 4 or len(imgs) == 0:
        return None
    m, a = min(len(imgs), len(acts)), acts.shape[1]
    plt = load_pyplot()
    with plt.rc_context(RC_PARAMS):
        fig, axes = plt.subplots(m, a + 1, figsize=(0.8 * (a + 1), 0.8 * m + 0.25), squeeze=False)
        for i in range(m):
            img, cmap = _image(imgs[i])
            axes[i, 0].imshow(img, cmap=cmap, interpolation="nearest")
            for c in range(a):
                axes[i, c + 1].imshow(acts[i, c], cmap="magma", interpolation="nearest")
            for j, ax in enumerate(axes[i]):
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():
                    spine.set_visible(j == 0)  # frame the input: a white background is part of it
                    spine.set_color("#999999")
        axes[0, 0].set_title("input", fontsize=7.5)
        for c in range(a):
            axes[0, c + 1].set_title(f"map {c + 1}", fontsize=7.5)
        fig.subplots_adjust(left=0.01, right=0.99, top=0.9, bottom=0.01, wspace=0.06, hspace=0.06)
    return fig


@draws_svg
def mistakes_grid(images: Any, true: Sequence[str], pred: Sequence[str], conf: Sequence[float]) -> Any:
    """The most confident test mistakes as thumbnails captioned ``true → predicted (confidence)``.

    Parameters
    ----------
    images : array-like, shape (j, C, H, W)
    true, pred : sequence of str
        Class names.
    conf : sequence of float
        Predicted probability of the (wrong) predicted class.

    Returns
    -------
    str or None
        SVG text.
    """
    # a generator: captions are made only for the images shown, as the zip over them asks
    captions = (
        f"true {short_label(t, 10)}\npred {short_label(p, 10)} ({c:.0%})"
        for t, p, c in zip(true, pred, conf, strict=False)
    )
    return thumbnail_grid(images, captions, cell=(1.15, 1.4), color="#aa2222")


@draws_svg
def thumbnail_grid(
    images: Any,
    captions: Iterable[str],
    *,
    cell: tuple[float, float],
    color: str | None = None,
) -> str | None:
    """Images of shape (j, C, H, W) as a grid of captioned thumbnails, 8 a row; None without images.

    SVG with each picture as a small PNG, drawn sharp (as matplotlib's ``nearest``); grey images
    use ``gray_r`` (the largest value black), colour ones their own colours, each scaled to its
    own range. ``cell`` is the inches per thumbnail (width, height), caption included;
    ``color`` colours the captions (default: the text colour).
    """
    import numpy as np

    from mlbench.report.svg import thumbnails

    imgs = np.asarray(images, dtype=float)
    if imgs.ndim != 4 or len(imgs) == 0:
        return None
    pictures = []
    for img in imgs:
        arr, cmap = _image(img)
        arr = np.nan_to_num(arr, nan=0.0)
        # gray_r: 0 is white, 1 black
        pixels = (1.0 - arr) * 255.0 if cmap == "gray_r" else arr * 255.0
        pictures.append(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))
    shown = list(itertools.islice(captions, len(pictures)))
    shown += [""] * (len(pictures) - len(shown))
    return thumbnails(pictures, shown, cell=(cell[0] * 72.0, cell[1] * 72.0), color=color, title="thumbnails")


def direction_arrow(greater: bool) -> str:
    return "higher is better" if greater else "lower is better"


def load_pyplot() -> Any:
    import matplotlib

    # Agg: no display, no GUI toolkit; switching is a no-op once set.
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _ticker() -> Any:
    import matplotlib.ticker

    return matplotlib.ticker


def warm_up() -> None:
    """Import what drawing needs and render one tiny figure (fonts, text layout, SVG and PNG backends)."""
    import scipy.optimize
    import scipy.stats  # noqa: F401  (intervals and tests)

    plt = load_pyplot()
    with DRAW_LOCK, plt.rc_context(RC_PARAMS):
        fig, ax = plt.subplots(figsize=(1, 1))
        ax.set_xscale("log")
        ax.plot([1, 10], [0, 1], label="x")
        ax.set_xlabel("warm ◆ ✖ ★")
        ax.legend()
        fig.tight_layout()
        to_svg(fig)


def plain_log_labels(axis: Any, fmt: Any) -> None:
    """Label a log axis with plain text (``10 ms``, ``1,000``) at the powers of ten.

    matplotlib's default log labels are mathtext (``10^{-2}``), which reads worse and costs about a
    third of a second per report to typeset; minor ticks keep their marks, without labels, except on
    an axis spanning less than about 1.5 decades, where the 2s and 5s are labelled as well.
    """
    ticker = _ticker()
    axis.set_major_formatter(ticker.FuncFormatter(lambda x, _pos: fmt(x)))

    def minor(x: float, _pos: Any) -> str:
        # an axis spanning about one decade shows at most one power of ten (1 to 8 estimators:
        # only "1"), so there the 2s and 5s are labelled too
        lo, hi = sorted(axis.get_view_interval())
        if x <= 0 or lo <= 0 or hi / lo > 30:
            return ""
        mantissa = x / 10 ** math.floor(math.log10(x) + 1e-9)
        return fmt(x) if any(abs(mantissa - m) < 1e-6 for m in (2, 5)) else ""

    axis.set_minor_formatter(ticker.FuncFormatter(minor))


def _seconds_tick(x: float) -> str:
    if x >= 60:
        return f"{x / 60:g} min"
    if x >= 1:
        return f"{x:g} s"
    if x >= 1e-3:
        return f"{x * 1e3:g} ms"
    return f"{x * 1e6:g} µs"


def short_label(label: str, limit: int = MAX_LABEL) -> str:
    label = str(label)
    return label if len(label) <= limit else label[: limit - 1] + "…"


_PROLOG = re.compile(r"^.*?(?=<svg\b)", re.S)
_ID = re.compile(r'\bid="([^"]+)"')


def _svg_text(fig: Any, prefix: str | None = None) -> str:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    try:
        with plt.rc_context(RC_PARAMS):  # saved outside the drawing context: the id salt must hold here too
            fig.savefig(
                buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None}
            )
    finally:
        plt.close(fig)
    svg = _PROLOG.sub("", buf.getvalue(), count=1)  # drop <?xml ...?> and <!DOCTYPE ...>
    prefix = prefix or f"mb{next(_counter)}-"
    ids = set(_ID.findall(svg))

    def ref(m: re.Match[str]) -> str:
        name = m.group(2)
        return f"{m.group(1)}{prefix}{name}" if name in ids else m.group(0)

    svg = _ID.sub(lambda m: f'id="{prefix}{m.group(1)}"', svg)
    # References appear as href="#id", xlink:href="#id" and url(#id) (clip paths).
    svg = re.sub(r'((?:xlink:)?href="#)([^"]+)', ref, svg)
    svg = re.sub(r"(url\(#)([^)]+)", ref, svg)
    return svg.strip()
