"""Step two of the report: summary dict -> one self-contained HTML page (a string).

Reading runs and writing files is :mod:`mlbench.report.build`'s job; this module only renders.

The template is rendered with autoescaping on, so every name that comes from the data (datasets,
models, errors) is escaped. The only strings marked safe are the SVGs produced by
:mod:`mlbench.report.plots` from the same summary, in which the text is escaped (by
:mod:`mlbench.report.svg` for the figures written as SVG text, by matplotlib for the others).

Figures are the report's main cost (drawing and serializing takes most of its time), so each is
described first (:class:`FigureSpec`: which drawing function, on which part of the summary) and
serialized through a :class:`FigureCache`: a figure whose inputs did not change is never drawn
twice. The coordinator fills the cache while jobs still run (a dataset's figures once its jobs
are done, the mismatch figures once its checks are), so the report at the end mostly assembles.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlbench.report.plots import DRAW_LOCK

#: Serialized figures carry this id prefix in the cache; it is replaced by the page's own
#: per-figure prefix when the figure is placed (ids must be unique within the page).
_CACHE_PREFIX = "mbfigcache-"
#: in the key of a figure drawn as SVG text (where a matplotlib figure has matplotlib's version);
#: change it when the SVG builder's output changes, so that cached figures are drawn again
_SVG_FORMAT = "svg-text-1"


@dataclass(frozen=True)
class FigureSpec:
    """One figure of the report, not drawn yet: ``draw(*args)`` returns a matplotlib figure, or
    SVG text for a function marked with :func:`mlbench.report.svg.draws_svg` (None: nothing to draw).

    ``args`` are plain data from the summary (JSON-able), so :meth:`key` identifies the picture.
    """

    draw: Callable[..., Any]
    args: tuple[Any, ...]
    #: placed in an ``<img>`` as a data URI instead of inline: a PNG of a matplotlib figure (dense
    #: pixels), the SVG itself of one drawn as SVG text (the confusion matrix: the page shows it
    #: as a picture, isolated from the page's text)
    raster: bool = False

    def key(self) -> str:
        """A hash of what the figure shows: the drawing function, its inputs and the library versions.

        A figure written as SVG text is keyed by that format instead of matplotlib's version: it
        never reuses a matplotlib drawing of the same function cached by an older mlbench.
        """
        from mlbench._version import __version__

        if self.svg_text:
            renderer = _SVG_FORMAT
        else:
            import matplotlib

            renderer = matplotlib.__version__
        what = [
            __version__,
            renderer,
            self.draw.__module__,
            self.draw.__qualname__,
            self.raster,
        ]
        text = json.dumps([what, self.args], sort_keys=True, default=repr, allow_nan=True)
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    @property
    def svg_text(self) -> bool:
        """Whether the drawing function returns SVG text (no matplotlib, no drawing lock)."""
        return bool(getattr(self.draw, "draws_svg", False))

    def figure(self) -> Any:
        """Draw it (a matplotlib figure, or SVG text)."""
        if self.svg_text:
            return self.draw(*self.args)
        with DRAW_LOCK:
            return self.draw(*self.args)


class FigureCache:
    """Serialized figures by :meth:`FigureSpec.key`: in memory, and in ``folder`` when given.

    Parameters
    ----------
    folder : Path, optional
        Where figures persist between processes (``<run>/.cache/figures``), so a rebuilt report
        draws only what changed. Files are written atomically; a folder that cannot be written
        only means no persistence.
    """

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = Path(folder) if folder is not None else None
        self._memory: dict[str, str] = {}
        self.used: set[str] = set()
        self.drawn = 0

    def _path(self, key: str, raster: bool) -> Path | None:
        return None if self.folder is None else self.folder / f"{key}.{'png.txt' if raster else 'svg'}"

    def get(self, spec: FigureSpec) -> str:
        """The serialized figure (SVG text with the cache prefix, a PNG or SVG data URI, or "" when
        the drawing function found nothing to draw), drawn if needed."""
        key = spec.key()
        self.used.add(key)
        if key in self._memory:
            return self._memory[key]
        path = self._path(key, spec.raster)
        if path is not None:
            with contextlib.suppress(OSError, UnicodeDecodeError):
                text = path.read_text(encoding="utf-8")
                self._memory[key] = text
                return text
        from mlbench.report.plots import to_data_uri, to_svg

        # SVG text (str) needs neither matplotlib nor its lock; a raster one goes in an <img> as
        # a data URI (PNG, or the SVG itself); a drawing function may find nothing to draw (None):
        # the page shows no figure
        with contextlib.nullcontext() if spec.svg_text else DRAW_LOCK:
            fig = spec.figure()
            text = "" if fig is None else to_data_uri(fig) if spec.raster else to_svg(fig, _CACHE_PREFIX)
        self.drawn += 1
        self._memory[key] = text
        if path is not None:
            with contextlib.suppress(OSError):
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
                tmp.write_text(text, encoding="utf-8")
                os.replace(tmp, path)
        return text

    def place(self, spec: FigureSpec, prefix: str) -> str:
        """The figure as the page shows it: SVG ids prefixed with ``prefix``, or the data URI."""
        text = self.get(spec)
        return text if spec.raster else text.replace(_CACHE_PREFIX, prefix)

    def prune(self) -> None:
        """Delete cached files no figure of the last report used (they belong to older states)."""
        if self.folder is None or not self.folder.is_dir():
            return
        for path in self.folder.iterdir():
            if path.name.split(".", 1)[0] not in self.used:
                with contextlib.suppress(OSError):
                    path.unlink()


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
    from mlbench.report.sentences import BASELINE_FLAG

    env.globals["baseline_flag"] = BASELINE_FLAG
    return env


def figures(summary: dict[str, Any]) -> dict[str, Any]:
    """Draw every figure of a summary as matplotlib figures or SVG strings (not yet serialized).

    :func:`figure_specs`, drawn: the same structure with figures (or None) in place of specs.
    """
    specs = figure_specs(summary)
    return {
        "cd": specs["cd"].figure() if specs["cd"] is not None else None,
        "cd_groups": [spec.figure() if spec is not None else None for spec in specs["cd_groups"]],
        "datasets": [
            {key: spec.figure() if spec is not None else None for key, spec in ds.items()}
            for ds in specs["datasets"]
        ],
    }


def figure_specs(summary: dict[str, Any], models: list[str] | None = None) -> dict[str, Any]:
    """Describe every figure of a summary (:class:`FigureSpec`), drawing none.

    Parameters
    ----------
    summary : dict
        The output of :func:`mlbench.report.summarize`.

    Returns
    -------
    dict
        ``{"cd": fig|None, "cd_groups": [fig|None, ...], "datasets": [{"verdict", "bar", "pareto", "scaling",
        "ensembles", "loss", "confusion", "filters", "activations", "mistakes"}, ...]}``: ``cd_groups`` holds one
        critical-difference diagram per dataset group of ``summary["overall"]["groups"]`` (None
        where the group was not tested), ``cd`` the first of them; ``datasets`` follows the order of
        ``summary["datasets"]``; missing figures are None. Dense ones (confusion, filters,
        activations, mistakes) are meant for an ``<img>`` (``raster``).
    """
    from mlbench.report import plots

    colors = plots.palette(models if models is not None else summary.get("header", {}).get("models", []))
    # One CD diagram per dataset group that was tested (None for the others).
    cd_groups: list[FigureSpec | None] = []
    for group in (summary.get("overall") or {}).get("groups", []):
        cd = group.get("cd")
        cd_groups.append(
            FigureSpec(plots.cd_diagram, (cd["mean_ranks"], cd.get("cd"), cd.get("groups", [])))
            if cd and len(cd.get("mean_ranks") or {}) >= 2
            else None
        )
    out: dict[str, Any] = {
        # "cd": the first group's diagram (the largest group), for callers that export one figure
        "cd": next((f for f in cd_groups if f is not None), None),
        "cd_groups": cd_groups,
        "datasets": [dataset_figure_specs(ds, colors) for ds in summary.get("datasets", [])],
    }
    return out


def dataset_figure_specs(ds: dict[str, Any], colors: dict[str, str]) -> dict[str, FigureSpec | None]:
    """The figures of one dataset's summary item, keyed as :func:`figure_specs` names them."""
    from mlbench.report import plots
    from mlbench.report.overfit import figure_calls as overfit_calls

    def spec(draw: Callable[..., Any], *args: Any, raster: bool = False) -> FigureSpec:
        return FigureSpec(draw, args, raster)

    fig: dict[str, FigureSpec | None] = dict.fromkeys(
        (
            "verdict",
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
    # with one size the leaderboard's bar chart already shows the same scores: a figure needs a sweep
    if ds.get("verdict") and len(ds["verdict"].get("sizes") or []) >= 2:
        fig["verdict"] = spec(plots.verdict, ds["verdict"], colors)
    if ds.get("primary_metric"):
        board = ds.get("leaderboard", [])
        fig["bar"] = spec(plots.bar_chart, board, ds["primary_metric"], ds["greater_is_better"])
        fig["pareto"] = spec(plots.pareto, board, ds["primary_metric"], ds["greater_is_better"], colors)
    if ds.get("scaling"):
        fig["scaling"] = spec(plots.learning_curves, ds["scaling"], colors)
    if ds.get("ensembles") and ds["ensembles"].get("weights"):
        fig["ensembles"] = spec(plots.ensemble_weights, ds["ensembles"]["weights"], colors)
    tuned = ds.get("tuning")
    if tuned and tuned.get("history"):
        fig["tuning"] = spec(
            plots.tuning_history, tuned["history"], tuned.get("importances"), tuned.get("best") or ""
        )
    if ds.get("histories"):
        fig["loss"] = spec(plots.loss_curves, ds["histories"], colors)
    if ds.get("overfitting"):
        for key, call in overfit_calls(ds["overfitting"], colors).items():
            fig[f"overfit_{key}"] = None if call is None else spec(call[0], *call[1])
    cm = ds.get("confusion")
    if cm:
        fig["confusion"] = spec(plots.confusion, cm["matrix"], cm["labels"], raster=True)
    viz = ds.get("visuals")
    if viz:
        if viz.get("filters") is not None:
            fig["filters"] = spec(plots.filters_grid, viz["filters"], raster=True)
        if viz.get("images") is not None and viz.get("activations") is not None:
            fig["activations"] = spec(plots.activations_grid, viz["images"], viz["activations"], raster=True)
        if viz.get("mistakes") is not None:
            fig["mistakes"] = spec(
                plots.mistakes_grid,
                viz["mistakes"],
                viz["mistakes_true"],
                viz["mistakes_pred"],
                viz["mistakes_conf"],
                raster=True,
            )
    return fig


def render_html(
    summary: dict[str, Any],
    plots: bool = True,
    *,
    fingerprint: str | None = None,
    cache: FigureCache | None = None,
) -> str:
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
    cache : FigureCache, optional
        Serialized figures to reuse (and to add to); default a fresh in-memory one.

    Returns
    -------
    str
        The HTML document: inline CSS, inline SVG, PNG data URIs, a few lines of inline JS; no
        external URL.
    """
    from markupsafe import Markup

    cache = cache if cache is not None else FigureCache()
    env = jinja_environment()
    n_groups = len((summary.get("overall") or {}).get("groups", []))
    specs = (
        figure_specs(summary)
        if plots
        else {
            "cd": None,
            "cd_groups": [None] * n_groups,
            "datasets": [{} for _ in summary.get("datasets", [])],
        }
    )

    def place(spec: FigureSpec | None, prefix: str) -> Any:
        # Safe: SVG generated from our numbers, data strings inside XML-escaped (by
        # mlbench.report.svg or by matplotlib); data URIs (base64 PNG or SVG) are placed in a src
        # attribute by the (escaping) template.
        if spec is None:
            return ""
        text = cache.place(spec, prefix)
        return text if spec.raster else Markup(text)

    cd_svgs = [place(spec, f"cd{i}-") for i, spec in enumerate(specs["cd_groups"], start=1)]
    rendered = [
        {key: place(spec, f"ds{i}-{key}-") for key, spec in figs.items()}
        for i, figs in enumerate(specs["datasets"], start=1)
    ]
    mismatch = (
        mismatch_figure_specs(summary)
        if plots
        else [[{} for _ in ds["comparisons"]] for ds in summary.get("mismatch") or []]
    )
    mismatch_figs = [
        [
            {key: place(spec, f"mm{i}-{j}-{key}-") for key, spec in comp.items()}
            for j, comp in enumerate(row, start=1)
        ]
        for i, row in enumerate(mismatch, start=1)
    ]
    template = env.get_template("index.html.j2")
    return template.render(
        s=summary, figures=rendered, cd_svgs=cd_svgs, fingerprint=fingerprint, mismatch_figs=mismatch_figs
    )


def mismatch_figure_specs(summary: dict[str, Any]) -> list[list[dict[str, FigureSpec | None]]]:
    """The "Train/test mismatch" figures: [dataset][comparison] -> {hist, label, unlike} specs."""
    from mlbench.report.mismatch import figure_calls

    return [
        [
            {
                key: None if call is None else FigureSpec(call[0], call[1], raster=key == "unlike")
                for key, call in comp.items()
            }
            for comp in row
        ]
        for row in figure_calls(summary.get("mismatch") or [])
    ]


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
