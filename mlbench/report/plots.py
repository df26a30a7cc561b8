"""Small matplotlib figures rendered to inline SVG strings.

matplotlib is imported inside the functions (Agg backend, no display needed) so that importing
:mod:`mlbench.report` stays cheap. Text is drawn as paths (``svg.fonttype='path'``), so the
report looks the same on a machine without the fonts; the original strings only survive inside
XML comments, which matplotlib escapes. Each SVG gets its element ids prefixed with a unique
token because several SVGs share one HTML document, where ids must be unique.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Sequence
from typing import Any

#: Model names longer than this are shortened on the axis (the tables show them in full).
MAX_LABEL = 40

_BAR = "#4c72b0"
_BEST = "#dd8452"
_RC = {
    "svg.fonttype": "path",
    # A fixed salt makes ids (and so the report) reproducible; uniqueness across figures comes
    # from the per-figure prefix added in _svg_text.
    "svg.hashsalt": "mlbench",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_counter = itertools.count(1)


def bar_chart_svg(
    models: Sequence[str],
    means: Sequence[float | None],
    stds: Sequence[float | None],
    metric: str,
    greater_is_better: bool = True,
    id_prefix: str | None = None,
) -> str:
    """Horizontal bar chart of one metric per model, error bars = standard deviation.

    Parameters
    ----------
    models : sequence of str
        Model names, in display order (top to bottom); best first reads naturally.
    means, stds : sequence of float or None
        Mean and standard deviation per model; a model with no mean is left out, a missing std
        draws no error bar.
    metric : str
        Axis label.
    greater_is_better : bool
        Only used for the axis label and to highlight the best bar.
    id_prefix : str, optional
        Prefix for the SVG's element ids, unique within the page; a process-wide counter by default.

    Returns
    -------
    str
        An ``<svg>`` element without XML prolog, or ``""`` when there is nothing to draw.
    """
    rows = [(m, mu, sd) for m, mu, sd in zip(models, means, stds, strict=True) if mu is not None]
    if not rows:
        return ""
    plt = _pyplot()
    labels = [_short(m) for m, _, _ in rows]
    values = [mu for _, mu, _ in rows]
    errors = [sd if sd is not None else 0.0 for _, _, sd in rows]
    best = max(values) if greater_is_better else min(values)
    with plt.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(6.4, 0.9 + 0.32 * len(rows)))
        y = list(range(len(rows)))
        ax.barh(
            y,
            values,
            xerr=errors,
            color=[_BEST if v == best else _BAR for v in values],
            error_kw={"ecolor": "#333333", "capsize": 3, "elinewidth": 1},
            height=0.65,
        )
        ax.set_yticks(y, labels)
        ax.invert_yaxis()  # first model on top
        arrow = "higher is better" if greater_is_better else "lower is better"
        ax.set_xlabel(f"test {metric} (mean ± std; {arrow})")
        ax.grid(axis="x", color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
        lo = min(v - e for v, e in zip(values, errors, strict=True))
        if lo >= 0:
            ax.set_xlim(left=0)
        fig.tight_layout()
        return _svg_text(fig, id_prefix)


def learning_curve_svg(
    curves: Sequence[dict[str, Any]],
    metric: str,
    greater_is_better: bool = True,
    id_prefix: str | None = None,
) -> str:
    """Mean test metric against training-set size (log scale), one line per model.

    Parameters
    ----------
    curves : sequence of dict
        ``{"model": str, "points": [{"n_train": float, "mean": float, "std": float|None}, ...]}``,
        as in the summary's ``learning_curve``.
    metric : str
        Axis label.
    greater_is_better : bool
        Only used for the axis label.
    id_prefix : str, optional
        As for :func:`bar_chart_svg`.

    Returns
    -------
    str
        An ``<svg>`` element, or ``""`` when there is nothing to draw.
    """
    curves = [c for c in curves if c.get("points")]
    if not curves:
        return ""
    plt = _pyplot()
    with plt.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(6.4, 3.6))
        for curve in curves:
            pts = curve["points"]
            ax.plot(
                [p["n_train"] for p in pts],
                [p["mean"] for p in pts],
                marker="o",
                markersize=3.5,
                linewidth=1.4,
                label=_short(curve["model"]),
            )
        ax.set_xscale("log")
        # Tick the sizes that were run, as plain row counts (log axes default to "3×10¹").
        sizes = sorted({p["n_train"] for c in curves for p in c["points"]})
        ax.xaxis.set_minor_locator(_ticker().NullLocator())
        if len(sizes) <= 12:
            ax.set_xticks(sizes, [f"{int(n):,}" for n in sizes])
        ax.set_xlabel("training rows (log scale)")
        arrow = "higher is better" if greater_is_better else "lower is better"
        ax.set_ylabel(f"test {metric}\n({arrow})")
        ax.grid(color="#dddddd", linewidth=0.6)
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=8)
        fig.tight_layout()
        return _svg_text(fig, id_prefix)


def _pyplot() -> Any:
    import matplotlib

    # Agg: no display, no GUI toolkit; switching is a no-op once set.
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _ticker() -> Any:
    import matplotlib.ticker

    return matplotlib.ticker


def _short(label: str) -> str:
    label = str(label)
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"


_PROLOG = re.compile(r"^.*?(?=<svg\b)", re.S)
_ID = re.compile(r'\bid="([^"]+)"')


def _svg_text(fig: Any, prefix: str | None = None) -> str:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    try:
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
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
