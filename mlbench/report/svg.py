"""Hand-built SVG figures: the report's common charts without matplotlib.

Drawing a small chart with matplotlib and serializing it costs 50-300 ms; the same chart written
as SVG text costs about a millisecond. This module is the small figure builder the report's
frequent charts use (:func:`mlbench.report.plots.bar_chart`, ``pareto``, ``confusion``, the
overfitting and mismatch figures): panels with linear or log axes, "nice" ticks, grid lines,
lines, markers, filled steps, rectangles, text and a legend to the right of the plot area.

Sizes are in points, as matplotlib's (inches x 72): the root element says ``width="..pt"`` with
a ``viewBox`` in the same units, so a figure shows at the size its matplotlib version did, and
font sizes read as matplotlib's (9 pt). Text stays text (``<text>``, escaped with
:func:`html.escape`): smaller than glyph paths, selectable and searchable; its width is
estimated (:func:`text_width`) to leave room for labels. No element has an id, so any number of
these figures can share one HTML page. :func:`to_matplotlib` replays such an SVG onto a
matplotlib figure, for the PNG export.

Everything is drawn in data coordinates and laid out when the figure is written
(:meth:`Figure.to_svg`): margins come from the tick labels, axis labels, titles and legends.
"""

from __future__ import annotations

import html
import itertools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

_F = TypeVar("_F", bound=Callable[..., Any])

__all__ = [
    "FONT",
    "FONT_SIZE",
    "Axes",
    "Figure",
    "Scale",
    "blues",
    "draws_svg",
    "escape",
    "linear_labels",
    "log_ticks",
    "nice_ticks",
    "png_data_uri",
    "text_width",
    "thumbnails",
    "to_matplotlib",
]

FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
#: matplotlib's 9 pt (the report's ``font.size``) in the figure's point units
FONT_SIZE = 9.0
#: average glyph width of DejaVu Sans as a share of the font size (a little generous, so labels fit)
CHAR_WIDTH = 0.6
TEXT_COLOR = "#000000"
_TICK = 3.5  # tick length, as matplotlib's
_PAD = 3.5  # tick to its label
_LABEL_PAD = 4.0  # tick labels to the axis label
_EDGE = 4.0  # white border around the figure (tight_layout's pad is about this)

#: matplotlib's "Blues" colour map: its 9 ColorBrewer stops, from 0 to 1
_BLUES = ("#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c", "#08306b")

#: line styles as matplotlib's dash patterns, in multiples of the line width
_DASHES = {"solid": None, "dashed": (3.7, 1.6), "dotted": (1.0, 1.65)}


def draws_svg(draw: _F) -> _F:
    """Mark a drawing function as one that returns SVG text (or None), not a matplotlib figure.

    The report's figure cache keys such a figure by this format instead of matplotlib's version
    (:meth:`mlbench.report.html.FigureSpec.key`), and draws it without matplotlib's lock.
    """
    draw.draws_svg = True  # type: ignore[attr-defined]
    return draw


# --------------------------------------------------------------------------------------------- text


def escape(text: Any) -> str:
    """Text for an SVG element or attribute: ``&``, ``<``, ``>`` and both quotes escaped."""
    return html.escape(str(text), quote=True)


def text_width(text: str, size: float = FONT_SIZE) -> float:
    """Estimated width of one line of text in points (``CHAR_WIDTH`` x size per character).

    Parameters
    ----------
    text : str
        One line.
    size : float
        Font size in points.

    Returns
    -------
    float
    """
    return len(str(text)) * CHAR_WIDTH * size


def _num(x: float) -> str:
    """A coordinate: two decimals at most, no trailing zeros (small files, stable output)."""
    s = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


# --------------------------------------------------------------------------------------------- ticks


def nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """Round tick values in ``[lo, hi]``: steps of 1, 2, 2.5 or 5 times a power of ten.

    Parameters
    ----------
    lo, hi : float
        The axis range.
    target : int
        At most ``target + 1`` ticks: the step is the smallest nice one that gives no more (as
        matplotlib's ``MaxNLocator(nbins=target)``).

    Returns
    -------
    list of float
        The multiples of the step inside the range (``[lo]`` for an empty range).
    """
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    target = max(target, 1)
    mag = 10 ** math.floor(math.log10((hi - lo) / target) - 1)
    step = mag
    for step in (m * mag * 10**e for e in range(4) for m in (1, 2, 2.5, 5)):
        if math.floor(hi / step + 1e-9) - math.ceil(lo / step - 1e-9) + 1 <= target + 1:
            break
    first = math.ceil(lo / step - 1e-9)
    last = math.floor(hi / step + 1e-9)
    # rounded to the step's decimals: 0.1 * 3 is 0.30000000000000004
    digits = max(0, -math.floor(math.log10(step)) + 2)
    return [round(i * step, digits) + 0.0 for i in range(first, last + 1)]


def linear_labels(ticks: Sequence[float]) -> list[str]:
    """Tick labels with the decimals the step needs (``0.90 0.92 0.94``, ``0 5 10``, ``2.5 5.0``)."""
    if not ticks:
        return []
    if len(ticks) > 1:
        step = min(abs(b - a) for a, b in itertools.pairwise(ticks)) or 1.0
    else:
        step = abs(ticks[0]) or 1.0
    decimals = 0
    while decimals < 10 and abs(round(step, decimals) - step) > 1e-9 * max(1.0, step):
        decimals += 1
    return [f"{t + 0.0:.{decimals}f}" for t in ticks]


def log_ticks(lo: float, hi: float) -> tuple[list[float], list[float]]:
    """Ticks of a log axis: the labelled ones and the unlabelled minor marks.

    Powers of ten are labelled; the 2s to 9s between them are minor marks, of which the 2s and
    5s are labelled too when the axis spans less than about 1.5 decades (``hi / lo <= 30``), as
    :func:`mlbench.report.plots.plain_log_labels` does for matplotlib axes.

    Parameters
    ----------
    lo, hi : float
        The axis range (positive).

    Returns
    -------
    (list of float, list of float)
        Labelled ticks and unlabelled ticks inside ``[lo, hi]``, each ascending.
    """
    if lo <= 0 or hi <= lo:
        return ([lo] if lo > 0 else []), []
    short = hi / lo <= 30
    labelled, minor = [], []
    for k in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1):
        for m in range(1, 10):
            v = float(f"{m}e{k}")  # exact decimal (2e-3, not 2 * 0.001)
            if lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9):
                (labelled if m == 1 or (short and m in (2, 5)) else minor).append(v)
    return labelled, minor


@dataclass(frozen=True)
class Scale:
    """A data range mapped onto ``[0, 1]``, linearly or logarithmically.

    Parameters
    ----------
    lo, hi : float
        The data range (``lo`` maps to 0, ``hi`` to 1; positive for a log scale).
    log : bool
        Logarithmic.
    """

    lo: float
    hi: float
    log: bool = False

    def frac(self, value: float) -> float:
        """Where ``value`` lies along the range (0 at ``lo``, 1 at ``hi``, outside beyond them)."""
        if self.log:
            a, b = math.log10(self.lo), math.log10(self.hi)
            v = math.log10(value) if value > 0 else a - 10 * (b - a)
        else:
            a, b, v = self.lo, self.hi, value
        return 0.5 if b == a else (v - a) / (b - a)


def blues(x: float) -> str:
    """matplotlib's "Blues" colour map at ``x`` in [0, 1] (linear between its 9 stops), as hex."""
    x = min(1.0, max(0.0, float(x))) * (len(_BLUES) - 1)
    i = min(int(x), len(_BLUES) - 2)
    t = x - i
    a, b = _BLUES[i], _BLUES[i + 1]
    rgb = (round(int(a[k : k + 2], 16) * (1 - t) + int(b[k : k + 2], 16) * t) for k in (1, 3, 5))
    return "#" + "".join(f"{c:02x}" for c in rgb)


# --------------------------------------------------------------------------------------------- axes


@dataclass
class _Entry:
    label: str
    color: str
    kind: str  # "line", "marker", "patch"
    style: str = "solid"
    width: float = 1.5
    marker: str | None = None
    size: float = 6.0
    edge: str | None = None
    opacity: float = 1.0


@dataclass
class Axes:
    """One panel: a plot area with its axes, what is drawn in it (in data units) and its legend.

    Made by :meth:`Figure.add_axes`; the attributes below may be set before the figure is written.
    """

    xlog: bool = False
    ylog: bool = False
    #: plot area width in points (None: share the figure's width with the other panels)
    width: float | None = None
    #: a square plot area (heat maps)
    square: bool = False
    #: all four spines (heat maps) instead of left and bottom only
    frame: bool = False
    xlim: tuple[float | None, float | None] = (None, None)
    ylim: tuple[float | None, float | None] = (None, None)
    xmargin: float = 0.05
    ymargin: float = 0.05
    invert_y: bool = False
    #: fixed ticks: (positions, labels)
    xticks: tuple[Sequence[float], Sequence[str]] | None = None
    yticks: tuple[Sequence[float], Sequence[str]] | None = None
    x_format: Callable[[float], str] | None = None
    y_format: Callable[[float], str] | None = None
    #: about how many intervals a linear axis's automatic ticks cut it into
    x_nticks: int | None = None
    y_nticks: int | None = None
    #: x tick labels slanted by this many degrees (anchored at their end)
    x_rotation: float = 0.0
    y_side: str = "left"
    xlabel: str = ""
    ylabel: str = ""
    ylabel_size: float = FONT_SIZE
    title: str = ""
    title_loc: str = "center"
    title_size: float = 8.5
    grid: str | None = None  # "x", "y", "both"
    grid_color: str = "#e6e6e6"
    grid_width: float = 0.6
    legend_loc: str = "top"  # beside the plot area: "top" or "center"
    legend_size: float = 8.0
    _items: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _entries: list[_Entry] = field(default_factory=list)
    _xdata: list[float] = field(default_factory=list)
    _ydata: list[float] = field(default_factory=list)
    # sticky data limits: bars start exactly at 0 (no margin below them)
    _xsticky: list[float] = field(default_factory=list)
    _ysticky: list[float] = field(default_factory=list)

    # ---- what is drawn

    def _extend(self, xs: Sequence[Any], ys: Sequence[Any]) -> None:
        self._xdata += [float(v) for v in xs if v is not None and math.isfinite(v)]
        self._ydata += [float(v) for v in ys if v is not None and math.isfinite(v)]

    def line(
        self,
        xs: Sequence[float | None],
        ys: Sequence[float | None],
        color: str,
        *,
        width: float = 1.5,
        style: str = "solid",
        step: bool = False,
        opacity: float = 1.0,
        marker: str | None = None,
        marker_size: float = 3.0,
    ) -> None:
        """A polyline through the points (None breaks it), optionally as steps or with markers.

        Parameters
        ----------
        xs, ys : sequence of float or None
        color : str
        width : float
            Line width in points.
        style : {"solid", "dashed", "dotted"}
        step : bool
            Steps "post": horizontal to the next x, then vertical.
        opacity : float
        marker : str, optional
            A marker (see :meth:`marker`) at each point.
        marker_size : float
        """
        self._extend(xs, ys)
        self._items.append(("line", {"xs": list(xs), "ys": list(ys), "color": color, "width": width,
                                     "style": style, "step": step, "opacity": opacity}))  # fmt: skip
        if marker:
            for x, y in zip(xs, ys, strict=True):
                if x is not None and y is not None:
                    self.marker(x, y, color, shape=marker, size=marker_size, opacity=opacity)

    def marker(
        self,
        x: float,
        y: float,
        color: str,
        *,
        shape: str = "circle",
        size: float = 6.0,
        edge: str | None = None,
        edge_width: float = 1.0,
        opacity: float = 1.0,
    ) -> None:
        """A marker at a data point: ``circle``, ``diamond``, ``star`` or ``vbar`` (a vertical stroke).

        ``size`` is the marker's height in points (a vbar's length); ``edge`` an outline colour.
        """
        self._extend([x], [y])
        self._items.append(("marker", {"x": x, "y": y, "color": color, "shape": shape, "size": size,
                                       "edge": edge, "edge_width": edge_width, "opacity": opacity}))  # fmt: skip

    def rect(
        self,
        x0: float,
        y0: float,
        x1: float,
        y1: float,
        color: str,
        *,
        opacity: float = 1.0,
        sticky: bool = True,
    ) -> None:
        """A filled rectangle between two data corners (bars, heat-map cells), clipped to the plot area.

        ``sticky``: a side at 0 is an exact axis limit (bars start at the axis, with no margin).
        """
        self._extend([x0, x1], [y0, y1])
        if sticky:
            self._xsticky += [v for v in (x0, x1) if v == 0]
            self._ysticky += [v for v in (y0, y1) if v == 0]
        self._items.append(
            ("rect", {"x0": x0, "y0": y0, "x1": x1, "y1": y1, "color": color, "opacity": opacity})
        )

    def cells(self, boxes: Sequence[tuple[float, float, float, float]], color: str) -> None:
        """Rectangles ``(x0, y0, x1, y1)`` of one colour as one element (a heat map's many cells)."""
        for x0, y0, x1, y1 in boxes:
            self._extend([x0, x1], [y0, y1])
        self._items.append(("cells", {"boxes": list(boxes), "color": color}))

    def stairs(
        self, values: Sequence[float], edges: Sequence[float], color: str, *, opacity: float = 0.45
    ) -> None:
        """A filled step histogram: ``values[i]`` over ``[edges[i], edges[i + 1]]``, from 0."""
        xs: list[float] = []
        ys: list[float] = []
        for i, v in enumerate(values):
            xs += [edges[i], edges[i + 1]]
            ys += [v, v]
        self._extend(list(edges), [0.0, *values])
        self._ysticky.append(0.0)
        self._items.append(("fill", {"xs": xs, "ys": ys, "color": color, "opacity": opacity}))

    def text(
        self,
        x: float,
        y: float,
        text: str,
        *,
        dx: float = 0.0,
        dy: float = 0.0,
        size: float = FONT_SIZE,
        color: str = TEXT_COLOR,
        anchor: str = "start",
        middle: bool = False,
    ) -> None:
        """Text at a data point, moved by (``dx``, ``dy``) points (``dy`` down); ``middle``: centred
        vertically on the point, else the point is on its baseline."""
        self._items.append(("text", {"x": x, "y": y, "text": text, "dx": dx, "dy": dy, "size": size,
                                     "color": color, "anchor": anchor, "middle": middle}))  # fmt: skip

    def legend(
        self,
        label: str,
        color: str,
        *,
        kind: str = "line",
        style: str = "solid",
        width: float = 1.5,
        marker: str | None = None,
        size: float = 6.0,
        edge: str | None = None,
        opacity: float = 1.0,
    ) -> None:
        """Add a legend entry (``kind``: ``line`` with an optional marker, ``marker``, ``patch``)."""
        self._entries.append(_Entry(label, color, kind, style, width, marker, size, edge, opacity))

    # ---- layout

    def _limits(self, data: list[float], sticky: list[float], lim: tuple[float | None, float | None],
                margin: float, log: bool) -> tuple[float, float]:  # fmt: skip
        values = [v for v in data if v > 0] if log else data
        if not values:
            lo, hi = (1.0, 10.0) if log else (0.0, 1.0)
        else:
            lo, hi = min(values), max(values)
        if lo == hi:
            lo, hi = (lo / 2, hi * 2) if log else (lo - 0.5, hi + 0.5)
        f = (lambda v: math.log10(v)) if log else (lambda v: v)
        g = (lambda v: 10**v) if log else (lambda v: v)
        span = f(hi) - f(lo)
        new_lo, new_hi = g(f(lo) - margin * span), g(f(hi) + margin * span)
        # as matplotlib's sticky edges: a bar's base at 0 is not pushed out by the margin
        if any(s == lo for s in sticky):
            new_lo = lo
        if any(s == hi for s in sticky):
            new_hi = hi
        return (lim[0] if lim[0] is not None else new_lo, lim[1] if lim[1] is not None else new_hi)

    def _ticks(
        self, axis: str, lo: float, hi: float, length: float
    ) -> tuple[list[float], list[str], list[float]]:
        """(positions, labels, unlabelled minor positions) of one axis."""
        fixed = self.xticks if axis == "x" else self.yticks
        fmt = self.x_format if axis == "x" else self.y_format
        a, b = min(lo, hi), max(lo, hi)
        if fixed is not None:
            pos, labels = list(fixed[0]), [str(t) for t in fixed[1]]
            return pos, labels, []
        if self.xlog if axis == "x" else self.ylog:
            major, minor = log_ticks(a, b)
            return major, [fmt(v) if fmt else f"{v:g}" for v in major], minor
        n = self.x_nticks if axis == "x" else self.y_nticks
        ticks = nice_ticks(a, b, n or max(3, min(8, int(length / (60 if axis == "x" else 28)))))
        return ticks, ([fmt(v) for v in ticks] if fmt else linear_labels(ticks)), []


class Figure:
    """A figure of one row of panels, written as an SVG string.

    Parameters
    ----------
    width, height : float or None
        Size in points (inches x 72, as matplotlib's). ``width`` None: as wide as the panels need
        (panels with a fixed or square plot area).
    title : str
        The ``<title>`` of the SVG (read by screen readers, shown as a tooltip).
    """

    def __init__(self, width: float | None, height: float, *, title: str = "") -> None:
        self.width = width
        self.height = height
        self.title = title
        self.axes: list[Axes] = []

    def add_axes(self, **options: Any) -> Axes:
        """A new panel to the right of the others (``options``: :class:`Axes` attributes)."""
        ax = Axes(**options)
        self.axes.append(ax)
        return ax

    def to_svg(self) -> str:
        """The figure as an ``<svg>`` element: no XML prolog, no ids."""
        return _render(self)

    __str__ = to_svg


# --------------------------------------------------------------------------------------------- rendering


@dataclass
class _Box:
    ax: Axes
    xlo: float
    xhi: float
    ylo: float
    yhi: float
    left: float = 0.0
    right: float = 0.0
    top: float = 0.0
    bottom: float = 0.0
    x: float = 0.0  # plot area, in figure points
    y: float = 0.0
    w: float = 0.0
    h: float = 0.0
    xt: tuple[list[float], list[str], list[float]] = ([], [], [])
    yt: tuple[list[float], list[str], list[float]] = ([], [], [])

    def px(self, v: float) -> float:
        return self.x + self.w * Scale(self.xlo, self.xhi, self.ax.xlog).frac(v)

    def py(self, v: float) -> float:
        f = Scale(self.ylo, self.yhi, self.ax.ylog).frac(v)
        return self.y + self.h * (f if self.ax.invert_y else 1 - f)


def _legend_size(ax: Axes) -> tuple[float, float]:
    if not ax._entries:
        return 0.0, 0.0
    s = ax.legend_size
    width = 8 + 2 * s + 0.8 * s + max(text_width(e.label, s) for e in ax._entries)
    return width, len(ax._entries) * 1.4 * s


def _render(fig: Figure) -> str:
    axes = fig.axes
    n = max(len(axes), 1)
    nominal_w = ((fig.width or 72 * 6) - 2 * _EDGE) / n - 60
    nominal_h = fig.height - 50
    boxes = []
    for ax in axes:
        xlo, xhi = ax._limits(ax._xdata, ax._xsticky, ax.xlim, ax.xmargin, ax.xlog)
        ylo, yhi = ax._limits(ax._ydata, ax._ysticky, ax.ylim, ax.ymargin, ax.ylog)
        b = _Box(ax, xlo, xhi, ylo, yhi)
        b.xt = ax._ticks("x", xlo, xhi, ax.width or nominal_w)
        b.yt = ax._ticks("y", ylo, yhi, nominal_h)
        # vertical room: below the plot the x tick labels (slanted: their projection) and label
        tick_h = 0.0
        if b.xt[1]:
            if ax.x_rotation:
                r = math.radians(ax.x_rotation)
                longest = max(text_width(t) for t in b.xt[1])
                tick_h = longest * math.sin(r) + FONT_SIZE * math.cos(r)
            else:
                tick_h = FONT_SIZE
        b.bottom = _TICK + _PAD + tick_h + (_LABEL_PAD + FONT_SIZE * 1.15 if ax.xlabel else 0) + 2
        b.top = ax.title_size * 1.2 + 6 if ax.title else FONT_SIZE * 0.6
        ywidth = max((text_width(t) for t in b.yt[1]), default=0.0)
        ylines = ax.ylabel.split("\n") if ax.ylabel else []
        yside = _TICK + _PAD + ywidth + (_LABEL_PAD + len(ylines) * ax.ylabel_size * 1.2 if ylines else 0)
        lw, _ = _legend_size(ax)
        legend_w = lw + 6 if lw else 0.0
        if ax.y_side == "right":
            b.left, b.right = 4.0, yside + legend_w
        else:
            b.left, b.right = yside, legend_w + 6
        # a slanted first x label reaches left of its tick
        if ax.x_rotation and b.xt[1]:
            r = math.radians(ax.x_rotation)
            b.left = max(b.left, text_width(b.xt[1][0]) * math.cos(r) - 4)
        boxes.append(b)
    top = max((b.top for b in boxes), default=10.0)
    bottom = max((b.bottom for b in boxes), default=10.0)
    plot_h = max(10.0, fig.height - 2 * _EDGE - top - bottom)
    for b in boxes:
        if b.ax.square:
            b.w = plot_h
        elif b.ax.width is not None:
            b.w = b.ax.width
    fixed = sum(b.left + b.right + (b.w if (b.ax.square or b.ax.width is not None) else 0) for b in boxes)
    free = [b for b in boxes if not (b.ax.square or b.ax.width is not None)]
    width = fig.width if fig.width is not None else fixed + 2 * _EDGE + 200 * len(free)
    if free:
        share = max(20.0, (width - 2 * _EDGE - fixed) / len(free))
        for b in free:
            b.w = share
    # re-tick linear x axes at their real length (the first pass guessed it)
    x = _EDGE
    for b in boxes:
        b.x, b.y, b.h = x + b.left, _EDGE + top, plot_h
        if not b.ax.xlog and b.ax.xticks is None and b.ax.x_nticks is None:
            b.xt = b.ax._ticks("x", b.xlo, b.xhi, b.w)
        x = b.x + b.w + b.right
    if fig.width is None:
        width = x + _EDGE
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_num(width)}pt" height="{_num(fig.height)}pt" '
        f'viewBox="0 0 {_num(width)} {_num(fig.height)}" role="img" font-family="{FONT}" '
        f'font-size="{_num(FONT_SIZE)}">',
        f"<title>{escape(fig.title)}</title>",
        f'<rect width="{_num(width)}" height="{_num(fig.height)}" fill="#ffffff"/>',
    ]
    for b in boxes:
        out.append('<g class="axes">')
        out += _draw_axes(b)
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)


def _text(x: float, y: float, text: str, *, size: float = FONT_SIZE, anchor: str = "start",
          color: str = TEXT_COLOR, rotate: float = 0.0, cls: str = "") -> str:  # fmt: skip
    attrs = f'x="{_num(x)}" y="{_num(y)}"'
    if size != FONT_SIZE:
        attrs += f' font-size="{_num(size)}"'
    if anchor != "start":
        attrs += f' text-anchor="{anchor}"'
    if color != TEXT_COLOR:
        attrs += f' fill="{color}"'
    if rotate:
        attrs += f' transform="rotate({_num(rotate)} {_num(x)} {_num(y)})"'
    if cls:
        attrs += f' class="{cls}"'
    return f"<text {attrs}>{escape(text)}</text>"


def _stroke(color: str, width: float, style: str = "solid", opacity: float = 1.0) -> str:
    s = f'fill="none" stroke="{color}" stroke-width="{_num(width)}"'
    dash = _DASHES.get(style)
    if dash:
        s += f' stroke-dasharray="{_num(dash[0] * width)} {_num(dash[1] * width)}"'
    if opacity != 1.0:
        s += f' stroke-opacity="{_num(opacity)}"'
    return s


def _marker(x: float, y: float, shape: str, size: float, color: str, edge: str | None = None,
            edge_width: float = 1.0, opacity: float = 1.0) -> str:  # fmt: skip
    r = size / 2
    fill = f'fill="{color}"'
    if opacity != 1.0:
        fill += f' fill-opacity="{_num(opacity)}"'
    if edge:
        fill += f' stroke="{edge}" stroke-width="{_num(edge_width)}"'
    if shape == "vbar":
        return f'<line x1="{_num(x)}" y1="{_num(y - r)}" x2="{_num(x)}" y2="{_num(y + r)}" {_stroke(color, edge_width, opacity=opacity)}/>'
    if shape == "diamond":
        pts = [(x, y - r), (x + r, y), (x, y + r), (x - r, y)]
    elif shape == "star":
        pts = []
        for i in range(10):
            a = math.pi / 2 + i * math.pi / 5
            rr = r if i % 2 == 0 else r * 0.382
            pts.append((x + rr * math.cos(a), y - rr * math.sin(a)))
    else:
        return f'<circle cx="{_num(x)}" cy="{_num(y)}" r="{_num(r)}" {fill}/>'
    return f'<polygon points="{" ".join(f"{_num(a)},{_num(b)}" for a, b in pts)}" {fill}/>'


def _draw_axes(b: _Box) -> list[str]:
    ax = b.ax
    out: list[str] = []
    x0, x1, y0, y1 = b.x, b.x + b.w, b.y, b.y + b.h
    xs, xlabels, xminor = b.xt
    ys, ylabels, yminor = b.yt
    in_x = [(v, lab) for v, lab in zip(xs, xlabels, strict=True) if x0 - 0.5 <= b.px(v) <= x1 + 0.5]
    in_y = [(v, lab) for v, lab in zip(ys, ylabels, strict=True) if y0 - 0.5 <= b.py(v) <= y1 + 0.5]
    # grid first: everything is drawn above it
    grid = []
    if ax.grid in ("x", "both"):
        grid += [f"M{_num(b.px(v))} {_num(y0)}V{_num(y1)}" for v, _ in in_x]
    if ax.grid in ("y", "both"):
        grid += [f"M{_num(x0)} {_num(b.py(v))}H{_num(x1)}" for v, _ in in_y]
    if grid:
        out.append(f'<path d="{"".join(grid)}" {_stroke(ax.grid_color, ax.grid_width)}/>')
    for kind, it in ax._items:
        out += _draw_item(b, kind, it)
    # spines and ticks
    spines = [f"M{_num(x0)} {_num(y0)}V{_num(y1)}H{_num(x1)}"]
    if ax.frame:
        spines.append(f"M{_num(x0)} {_num(y0)}H{_num(x1)}V{_num(y1)}")
    if ax.y_side == "right":
        spines = (
            [f"M{_num(x1)} {_num(y0)}V{_num(y1)}", f"M{_num(x0)} {_num(y1)}H{_num(x1)}"]
            if not ax.frame
            else spines
        )
    out.append(f'<path d="{"".join(spines)}" {_stroke("#000000", 0.8)}/>')
    ticks = [f"M{_num(b.px(v))} {_num(y1)}v{_num(_TICK)}" for v, _ in in_x]
    ticks += [f"M{_num(b.px(v))} {_num(y1)}v2" for v in xminor if x0 <= b.px(v) <= x1]
    side = x1 if ax.y_side == "right" else x0
    sign = 1 if ax.y_side == "right" else -1
    ticks += [f"M{_num(side)} {_num(b.py(v))}h{_num(sign * _TICK)}" for v, _ in in_y]
    ticks += [f"M{_num(side)} {_num(b.py(v))}h{_num(sign * 2)}" for v in yminor if y0 <= b.py(v) <= y1]
    if ticks:
        out.append(f'<path d="{"".join(ticks)}" {_stroke("#000000", 0.8)}/>')
    ty = y1 + _TICK + _PAD
    for v, lab in in_x:
        if not lab:
            continue
        if ax.x_rotation:
            out.append(_text(b.px(v) + FONT_SIZE * 0.3 * math.sin(math.radians(ax.x_rotation)), ty + FONT_SIZE * 0.7,
                             lab, anchor="end", rotate=-ax.x_rotation, cls="xtick"))  # fmt: skip
        else:
            out.append(_text(b.px(v), ty + FONT_SIZE * 0.8, lab, anchor="middle", cls="xtick"))
    for v, lab in in_y:
        if not lab:
            continue
        if ax.y_side == "right":
            out.append(_text(x1 + _TICK + _PAD, b.py(v) + FONT_SIZE * 0.35, lab, cls="ytick"))
        else:
            out.append(_text(x0 - _TICK - _PAD, b.py(v) + FONT_SIZE * 0.35, lab, anchor="end", cls="ytick"))
    if ax.xlabel:
        out.append(_text((x0 + x1) / 2, y1 + b.bottom - 3, ax.xlabel, anchor="middle", cls="xlabel"))
    if ax.ylabel:
        lines = ax.ylabel.split("\n")
        step = ax.ylabel_size * 1.2
        ywidth = max((text_width(t) for t in ylabels), default=0.0)
        for i, line in enumerate(lines):
            if ax.y_side == "right":
                lx = x1 + _TICK + _PAD + ywidth + _LABEL_PAD + ax.ylabel_size * 0.8 + i * step
            else:
                lx = (
                    x0
                    - _TICK
                    - _PAD
                    - ywidth
                    - _LABEL_PAD
                    - (len(lines) - 1 - i) * step
                    - ax.ylabel_size * 0.25
                )
            out.append(
                _text(lx, (y0 + y1) / 2, line, size=ax.ylabel_size, anchor="middle", rotate=-90, cls="ylabel")
            )
    if ax.title:
        tx, anchor = (x0, "start") if ax.title_loc == "left" else (((x0 + x1) / 2), "middle")
        out.append(_text(tx, y0 - 6, ax.title, size=ax.title_size, anchor=anchor, cls="title"))
    out += _draw_legend(b)
    return out


def _draw_item(b: _Box, kind: str, it: dict[str, Any]) -> list[str]:
    ax = b.ax
    if kind == "rect":
        x0, x1 = sorted((b.px(it["x0"]), b.px(it["x1"])))
        y0, y1 = sorted((b.py(it["y0"]), b.py(it["y1"])))
        x0, x1 = max(x0, b.x), min(x1, b.x + b.w)
        y0, y1 = max(y0, b.y), min(y1, b.y + b.h)
        if x1 <= x0 or y1 <= y0:
            return []
        op = f' fill-opacity="{_num(it["opacity"])}"' if it["opacity"] != 1.0 else ""
        return [
            f'<rect x="{_num(x0)}" y="{_num(y0)}" width="{_num(x1 - x0)}" height="{_num(y1 - y0)}" fill="{it["color"]}"{op}/>'
        ]
    if kind == "cells":
        d = []
        for x0, y0, x1, y1 in it["boxes"]:
            left, right = sorted((b.px(x0), b.px(x1)))
            top, bottom = sorted((b.py(y0), b.py(y1)))
            d.append(
                f"M{_num(left)} {_num(top)}h{_num(right - left)}v{_num(bottom - top)}h{_num(left - right)}z"
            )
        return [f'<path d="{"".join(d)}" fill="{it["color"]}"/>'] if d else []
    if kind == "line":
        out = []
        for run in _runs(it["xs"], it["ys"]):
            pts = [(b.px(x), b.py(y)) for x, y in run]
            if it["step"]:
                stepped = [pts[0]]
                for p in pts[1:]:
                    stepped += [(p[0], stepped[-1][1]), p]
                pts = stepped
            if len(pts) > 1:
                d = " ".join(f"{_num(x)},{_num(y)}" for x, y in pts)
                out.append(
                    f'<polyline points="{d}" {_stroke(it["color"], it["width"], it["style"], it["opacity"])}/>'
                )
        return out
    if kind == "fill":
        base = b.py(max(0.0, b.ylo) if not ax.ylog else b.ylo)
        pts = [(b.px(it["xs"][0]), base)] + [
            (b.px(x), b.py(y)) for x, y in zip(it["xs"], it["ys"], strict=True)
        ]
        pts.append((b.px(it["xs"][-1]), base))
        d = " ".join(f"{_num(x)},{_num(y)}" for x, y in pts)
        return [f'<polygon points="{d}" fill="{it["color"]}" fill-opacity="{_num(it["opacity"])}"/>']
    if kind == "marker":
        return [_marker(b.px(it["x"]), b.py(it["y"]), it["shape"], it["size"], it["color"], it["edge"],
                        it["edge_width"], it["opacity"])]  # fmt: skip
    if kind == "text":
        y = b.py(it["y"]) + it["dy"] + (it["size"] * 0.35 if it["middle"] else 0)
        return [
            _text(
                b.px(it["x"]) + it["dx"],
                y,
                it["text"],
                size=it["size"],
                anchor=it["anchor"],
                color=it["color"],
            )
        ]
    raise ValueError(f"unknown item {kind!r}")


def _runs(xs: Sequence[Any], ys: Sequence[Any]) -> list[list[tuple[float, float]]]:
    """The points split where a value is missing (matplotlib leaves a gap there)."""
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in zip(xs, ys, strict=True):
        if x is None or y is None or not (math.isfinite(x) and math.isfinite(y)):
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((float(x), float(y)))
    return [r for r in runs if r]


def _draw_legend(b: _Box) -> list[str]:
    ax = b.ax
    if not ax._entries:
        return []
    s = ax.legend_size
    _, height = _legend_size(ax)
    extra = 0.0
    if ax.y_side == "right":
        extra = b.right - _legend_size(ax)[0] - 6
    x = b.x + b.w + 8 + extra
    y = b.y + (b.h - height) / 2 if ax.legend_loc == "center" else b.y
    out = []
    handle = 2 * s
    for i, e in enumerate(ax._entries):
        cy = y + (i + 0.5) * 1.4 * s
        if e.kind == "patch":
            op = f' fill-opacity="{_num(e.opacity)}"' if e.opacity != 1.0 else ""
            out.append(
                f'<rect x="{_num(x)}" y="{_num(cy - 0.35 * s)}" width="{_num(handle)}" height="{_num(0.7 * s)}" fill="{e.color}"{op}/>'
            )
        elif e.kind == "line":
            out.append(
                f'<line x1="{_num(x)}" y1="{_num(cy)}" x2="{_num(x + handle)}" y2="{_num(cy)}" {_stroke(e.color, e.width, e.style)}/>'
            )
        if e.marker:
            out.append(_marker(x + handle / 2, cy, e.marker, e.size, e.color, e.edge))
        out.append(_text(x + handle + 0.8 * s, cy + 0.35 * s, e.label, size=s, cls="legend"))
    return out


# --------------------------------------------------------------------------------------------- to matplotlib


_ROTATE = re.compile(r"rotate\(\s*([-\d.]+)")


def png_data_uri(pixels: Any) -> str:
    """A ``data:image/png;base64,...`` URI of 8-bit pixels: shape (H, W) grey or (H, W, 3) RGB.

    Written by hand (zlib, no imaging library): the report's thumbnails are a few dozen pixels.
    """
    import base64
    import struct
    import zlib

    import numpy as np

    a = np.ascontiguousarray(np.asarray(pixels, dtype=np.uint8))
    height, width = a.shape[:2]
    color_type = 0 if a.ndim == 2 else 2  # greyscale, or truecolour

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        )

    raw = b"".join(b"\x00" + a[i].tobytes() for i in range(height))  # filter 0 before every row
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def thumbnails(
    pictures: Sequence[Any],
    captions: Sequence[str],
    *,
    cell: tuple[float, float],
    color: str | None = None,
    title: str = "",
) -> str:
    """A grid of captioned thumbnails, 8 a row, as SVG (pixels drawn sharp, as ``nearest``).

    Parameters
    ----------
    pictures : sequence of array
        8-bit pixels per picture, (H, W) grey or (H, W, 3) RGB.
    captions : sequence of str
        One per picture, written above it; a newline starts a second line.
    cell : (float, float)
        Points per thumbnail (width, height), caption included.
    color : str, optional
        Of the captions (default the text colour).
    title : str
        The SVG's ``<title>``.
    """
    n = len(pictures)
    cols = min(n, 8)
    rows = math.ceil(n / cols) if n else 0
    cw, ch = cell
    size, lead = 7.0, 8.0
    lines = max((len(str(c).split("\n")) for c in captions), default=1)
    room = 3 + lead * lines  # the caption's lines above each picture
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_num(cw * cols)}pt" height="{_num(ch * rows)}pt" '
        f'viewBox="0 0 {_num(cw * cols)} {_num(ch * rows)}" role="img" font-family="{FONT}" '
        f'font-size="{_num(size)}">',
        f"<title>{escape(title or 'thumbnails')}</title>",
    ]
    fill = escape(color or TEXT_COLOR)
    for i, (pic, caption) in enumerate(zip(pictures, captions, strict=False)):
        x0, y0 = (i % cols) * cw, (i // cols) * ch
        for k, text in enumerate(str(caption).split("\n")):
            parts.append(
                f'<text class="caption" x="{_num(x0 + cw / 2)}" y="{_num(y0 + lead * (k + 1))}" '
                f'text-anchor="middle" fill="{fill}">{escape(text)}</text>'
            )
        h, w = pic.shape[:2]
        box_w, box_h = cw * 0.92, ch - room - 2
        scale = min(box_w / w, box_h / h)
        pw, ph = w * scale, h * scale
        parts.append(
            f'<image x="{_num(x0 + (cw - pw) / 2)}" y="{_num(y0 + room)}" width="{_num(pw)}" '
            f'height="{_num(ph)}" preserveAspectRatio="none" style="image-rendering:pixelated" '
            f'href="{png_data_uri(pic)}"/>'
        )
    parts.append("</svg>")
    return "".join(parts)


def to_matplotlib(svg_text: str) -> Any:
    """Replay an SVG written by this module onto a matplotlib figure (for PNG export).

    Understands the elements :class:`Figure` writes (rect, line, polyline, polygon, path of
    M/V/H/h/v/z commands, circle, text); sizes stay in points, so ``savefig(dpi=...)`` scales it.

    Parameters
    ----------
    svg_text : str
        The output of :meth:`Figure.to_svg`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import xml.etree.ElementTree as ET

    from matplotlib.figure import Figure as MplFigure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Circle, Polygon, Rectangle

    root = ET.fromstring(svg_text)
    _, _, w, h = (float(v) for v in root.get("viewBox", "0 0 100 100").split())
    fig = MplFigure(figsize=(w / 72, h / 72))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.axis("off")
    ns = "{http://www.w3.org/2000/svg}"
    base_size = float(root.get("font-size", FONT_SIZE))

    def style(el: Any) -> dict[str, Any]:
        fill, stroke = el.get("fill", "#000000"), el.get("stroke")
        kw: dict[str, Any] = {"facecolor": "none" if fill == "none" else fill, "linewidth": 0}
        if fill != "none" and el.get("fill-opacity"):
            kw["facecolor"] = _rgba(fill, float(el.get("fill-opacity")))
        if stroke and stroke != "none":
            kw["edgecolor"] = _rgba(stroke, float(el.get("stroke-opacity", 1)))
            kw["linewidth"] = float(el.get("stroke-width", 1))
            if el.get("stroke-dasharray"):
                kw["linestyle"] = (0, tuple(float(v) for v in el.get("stroke-dasharray").split()))
        return kw

    def line(xs: list[float], ys: list[float], el: Any) -> None:
        kw = style(el)
        ax.add_line(Line2D(xs, ys, color=kw.get("edgecolor", "#000000"), linewidth=kw["linewidth"],
                           linestyle=kw.get("linestyle", "solid"), solid_capstyle="butt"))  # fmt: skip

    for el in root.iter():
        tag = el.tag.replace(ns, "")
        if tag == "rect":
            ax.add_patch(Rectangle((float(el.get("x", 0)), float(el.get("y", 0))), float(el.get("width")),
                                   float(el.get("height")), **style(el)))  # fmt: skip
        elif tag == "circle":
            ax.add_patch(Circle((float(el.get("cx")), float(el.get("cy"))), float(el.get("r")), **style(el)))
        elif tag in ("polygon", "polyline"):
            pts = [tuple(float(v) for v in p.split(",")) for p in el.get("points", "").split()]
            if tag == "polygon":
                ax.add_patch(Polygon(pts, closed=True, **style(el)))
            else:
                line([p[0] for p in pts], [p[1] for p in pts], el)
        elif tag == "line":
            line([float(el.get("x1")), float(el.get("x2"))], [float(el.get("y1")), float(el.get("y2"))], el)
        elif tag == "path":
            for xs, ys in _path_segments(el.get("d", "")):
                if el.get("fill", "#000000") != "none":  # filled: the heat map's cells
                    ax.add_patch(Polygon(list(zip(xs, ys, strict=True)), closed=True, **style(el)))
                else:
                    line(xs, ys, el)
        elif tag == "image" and el.get("href", "").startswith("data:image/png;base64,"):
            import base64
            import io

            from matplotlib.image import imread

            pixels = imread(io.BytesIO(base64.b64decode(el.get("href").split(",", 1)[1])), format="png")
            x, y = float(el.get("x", 0)), float(el.get("y", 0))
            ax.imshow(pixels, cmap="gray", vmin=0, vmax=1, interpolation="nearest", aspect="auto",
                      extent=(x, x + float(el.get("width")), y + float(el.get("height")), y))  # fmt: skip
        elif tag == "text":
            rot = _ROTATE.search(el.get("transform", ""))
            ax.text(
                float(el.get("x")), float(el.get("y")), el.text or "",
                fontsize=float(el.get("font-size", base_size)), color=el.get("fill", TEXT_COLOR),
                ha={"start": "left", "middle": "center", "end": "right"}[el.get("text-anchor", "start")],
                va="baseline", rotation=-float(rot.group(1)) if rot else 0.0, rotation_mode="anchor",
            )  # fmt: skip
    ax.set_xlim(0, w)  # pictures drawn with imshow must not move the page's limits
    ax.set_ylim(h, 0)
    return fig


def _rgba(color: str, alpha: float) -> tuple[float, float, float, float]:
    c = color.lstrip("#")
    return (int(c[0:2], 16) / 255, int(c[2:4], 16) / 255, int(c[4:6], 16) / 255, alpha)


def _path_segments(d: str) -> list[tuple[list[float], list[float]]]:
    """The polylines of a path made of M, V, H, v, h and z commands (what :class:`Figure` writes)."""
    out: list[tuple[list[float], list[float]]] = []
    x = y = 0.0
    for cmd, args in re.findall(r"([MVHvhz])([^MVHvhz]*)", d):
        nums = [float(v) for v in re.findall(r"-?[\d.]+(?:e-?\d+)?", args)]
        if cmd == "z":
            continue
        if cmd == "M":
            x, y = nums[0], nums[1]
            out.append(([x], [y]))
            continue
        if cmd == "V":
            y = nums[0]
        elif cmd == "H":
            x = nums[0]
        elif cmd == "v":
            y += nums[0]
        elif cmd == "h":
            x += nums[0]
        out[-1][0].append(x)
        out[-1][1].append(y)
    return out
