"""Step two of the report: summary dict -> one self-contained HTML file.

The template is rendered with autoescaping on, so every name that comes from the data (datasets,
models, errors) is escaped. The only strings marked safe are the SVGs produced by
:mod:`mlbench.report.plots` from the same summary, in which matplotlib escapes the text.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from mlbench.report.summarize import _isnull, summarize


def _environment() -> Any:
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
        "loss", "confusion", "filters", "activations", "mistakes"}, ...]}``: ``cd_groups`` holds one
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
            ("bar", "pareto", "scaling", "loss", "confusion", "filters", "activations", "mistakes")
        )
        if ds.get("primary_metric"):
            board = ds.get("leaderboard", [])
            fig["bar"] = plots.bar_chart(board, ds["primary_metric"], ds["greater_is_better"])
            fig["pareto"] = plots.pareto(board, ds["primary_metric"], ds["greater_is_better"], colors)
        if ds.get("scaling"):
            fig["scaling"] = plots.learning_curves(ds["scaling"], colors)
        if ds.get("histories"):
            fig["loss"] = plots.loss_curves(ds["histories"], colors)
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
        Written into a ``<meta name="mlbench-fingerprint">`` tag of the head (what the report was
        built from), so that a caller can tell whether it is up to date.

    Returns
    -------
    str
        The HTML document: inline CSS, inline SVG, PNG data URIs, a few lines of inline JS; no
        external URL.
    """
    from markupsafe import Markup

    from mlbench.report.plots import to_data_uri, to_svg

    env = _environment()
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
    template = env.get_template("index.html.j2")
    return template.render(s=summary, figures=rendered, cd_svgs=cd_svgs, fingerprint=fingerprint)


def _atomic_write(target: Path, text: str) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    # Temp file in the same folder + os.replace: readers never see a half-written report.
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        # mkstemp creates 0600; a report is meant to be shared like any file the user writes
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def load_run(run_dir: str | Path) -> tuple[Any, dict[str, Any], Any, Any]:
    """Everything a report needs from a run folder.

    Parameters
    ----------
    run_dir : str or Path
        The run's folder holding ``results.sqlite``.

    Returns
    -------
    results : pandas.DataFrame
    meta : dict
        From :func:`meta_from_runs`.
    predictions : callable
        ``job_id -> dict of arrays`` (reads the store's npz files).
    datasets : callable
        ``dataset name -> Dataset or None``, from the suite text stored with the run.
    """
    from mlbench.store import Store, load_results

    run_dir = Path(run_dir)
    results = load_results(run_dir)
    store = Store(run_dir, create=False)
    try:
        runs = store.runs()
    finally:
        close = getattr(store, "close", None)
        if callable(close):
            close()

    def predictions(job_id: str) -> dict[str, Any]:
        with Store(run_dir, create=False) as s:
            return s.load_predictions(job_id)

    return results, meta_from_runs(runs), predictions, _dataset_loader(runs, run_dir)


def _dataset_loader(runs: Any, run_dir: Path) -> Any:
    """``name -> Dataset`` for the datasets of the suite stored with the latest run (None if unknown)."""
    specs: dict[str, tuple[dict[str, Any], Path]] = {}
    if runs is not None and len(runs) and "suite_yaml" in runs.columns:
        from mlbench.suite import parse_suite

        for _, row in runs.iloc[::-1].iterrows():  # newest first; older runs fill in gaps
            text = row.get("suite_yaml")
            if not isinstance(text, str) or not text.strip():
                continue
            path = row.get("suite_path")
            base = Path(path).parent if isinstance(path, str) and path else run_dir
            try:
                suite = parse_suite(text, filename=str(path or "suite"), base_dir=base)
            except Exception:
                continue
            for entry in suite.datasets:
                specs.setdefault(entry.name, (entry.spec, suite.base_dir))

    def load(name: str) -> Any:
        from mlbench.datasets import load_dataset

        if name not in specs:
            return None
        spec, base = specs[name]
        return load_dataset(spec, base)

    return load


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Build the HTML report of a run folder and write it atomically.

    Parameters
    ----------
    run_dir : str or Path
        The run's folder holding ``results.sqlite``.
    out : str or Path, optional
        Where to write; defaults to ``<run_dir>/index.html``.

    Returns
    -------
    Path
        The written file.
    """
    run_dir = Path(run_dir)
    results, meta, predictions, datasets = load_run(run_dir)
    html = render_html(summarize(results, meta, predictions=predictions, datasets=datasets))
    target = Path(out) if out is not None else run_dir / "index.html"
    return _atomic_write(target, html)


def export_figures(run_dir: str | Path, folder: str | Path, dpi: int = 150) -> list[Path]:
    """Write the report's main figures of a run as PNG files (for papers and slides).

    Parameters
    ----------
    run_dir : str or Path
        The run's folder holding ``results.sqlite``.
    folder : str or Path
        Output folder (created).
    dpi : int
        Resolution.

    Returns
    -------
    list of Path
        The files written, e.g. ``cd_diagram.png``, ``<dataset>_scores.png``, ``<dataset>_pareto.png``,
        ``<dataset>_learning_curve.png``, ``<dataset>_loss.png``, ``<dataset>_confusion.png``,
        ``<dataset>_filters.png``, ``<dataset>_activations.png``, ``<dataset>_mistakes.png``.
    """
    from mlbench.report.plots import to_png

    results, meta, predictions, datasets = load_run(run_dir)
    summary = summarize(results, meta, predictions=predictions, datasets=datasets)
    drawn = figures(summary)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = {"bar": "scores", "scaling": "learning_curve"}
    written: list[Path] = []
    if drawn["cd"] is not None:
        written.append(_write_bytes(folder / "cd_diagram.png", to_png(drawn["cd"], dpi)))
    used: set[str] = set()
    for ds, figs in zip(summary["datasets"], drawn["datasets"], strict=True):
        stem = _file_stem(ds["name"] or "dataset", used)
        for key, fig in figs.items():
            if fig is not None:
                written.append(_write_bytes(folder / f"{stem}_{names.get(key, key)}.png", to_png(fig, dpi)))
    return written


def _write_bytes(path: Path, data: bytes) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def _file_stem(name: str, used: set[str]) -> str:
    """A file-name-safe, unique stem from a dataset name (anything odd becomes ``_``)."""
    import re

    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")[:60] or "dataset"
    base, i = stem, 2
    while stem in used:
        stem, i = f"{base}_{i}", i + 1
    used.add(stem)
    return stem


def compare(
    results_a: Any, results_b: Any, meta_a: dict[str, Any] | None = None, meta_b: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Summary of two runs of the same suite compared job by job (for :func:`write_comparison`).

    Parameters
    ----------
    results_a, results_b : pandas.DataFrame
        Results tables; ``a`` is the baseline.
    meta_a, meta_b : dict, optional
        Their :func:`meta_from_runs`.

    Returns
    -------
    dict
        ``a``/``b`` (suite, started_at, n_jobs, label), ``rows`` (dataset, model, metric, mean_a,
        mean_b, delta, improved, p_value, significant, n_pairs), ``n_significant``,
        ``n_improved``, ``n_worse``.
    """
    from mlbench.analysis import compare_runs
    from mlbench.report.summarize import _jsonable, greater_is_better

    meta_a, meta_b = dict(meta_a or {}), dict(meta_b or {})
    primary = meta_a.get("primary_metric") or None
    try:
        table = compare_runs(results_a, results_b, primary=primary)
    except Exception:
        table = compare_runs(results_a, results_b)
    rows = []
    for r in table.to_dict("records"):
        r = _jsonable(r)
        good = greater_is_better(r["metric"])
        d = r.get("delta")
        r["improved"] = None if d is None or d == 0 else (d > 0) == good
        rows.append(r)

    def side(meta: dict[str, Any], results: Any, default: str) -> dict[str, Any]:
        return {
            "suite": meta.get("suite") or default,
            "started_at": _str(meta.get("started_at")),
            "n_jobs": len(results),
            "n_ok": int((results["status"] == "ok").sum()) if "status" in results else len(results),
        }

    sig = [r for r in rows if r.get("significant")]
    return {
        "a": side(meta_a, results_a, "run A"),
        "b": side(meta_b, results_b, "run B"),
        "rows": rows,
        "n_significant": len(sig),
        "n_improved": sum(1 for r in sig if r["improved"]),
        "n_worse": sum(1 for r in sig if r["improved"] is False),
    }


def _str(v: Any) -> str | None:
    return None if _isnull(v) else str(v)


def write_comparison(run_a: str | Path, run_b: str | Path, out: str | Path | None = None) -> Path:
    """Compare two run folders (``a`` = baseline) and write one self-contained HTML page.

    Parameters
    ----------
    run_a, run_b : str or Path
        Run folders holding ``results.sqlite``; usually the same suite before and after a change.
    out : str or Path, optional
        Where to write; defaults to ``<run_b>/compare.html``.

    Returns
    -------
    Path
        The written file.
    """
    results_a, meta_a, _, _ = load_run(run_a)
    results_b, meta_b, _, _ = load_run(run_b)
    data = compare(results_a, results_b, meta_a, meta_b)
    data["a"]["path"], data["b"]["path"] = str(run_a), str(run_b)
    html = _environment().get_template("compare.html.j2").render(c=data)
    target = Path(out) if out is not None else Path(run_b) / "compare.html"
    return _atomic_write(target, html)


def meta_from_runs(runs: Any) -> dict[str, Any]:
    """Build the summary's ``meta`` from the latest row of ``Store.runs()``.

    Parameters
    ----------
    runs : pandas.DataFrame or None
        Columns ``suite`` (or ``name``), ``started_at``, ``finished_at``, ``status``, ``primary_metric``,
        ``metrics``, ``versions``, ``hardware``. ``primary_metric`` may be a task -> name dict or
        one name; ``metrics`` a task -> names dict or a flat list (grouped by the metric registry).

    Returns
    -------
    dict
        ``{}`` when there is no run row.
    """
    if runs is None or len(runs) == 0:
        return {}
    if "started_at" in runs.columns:
        runs = runs.sort_values("started_at", na_position="first", kind="stable")
    # pandas gives NaN for missing cells; the summary expects None.
    row = {k: (None if _isnull(v) else v) for k, v in runs.iloc[-1].to_dict().items()}
    metrics = _by_task(_maybe_json(row.get("metrics")))
    primary = _maybe_json(row.get("primary_metric"))
    if isinstance(primary, str):
        task = _task_of(primary)
        # One suite-wide name: it applies to its own task type; other tasks fall back to their first metric.
        primary = {task: primary} if task else {t: primary for t in metrics}
    return {
        # The store names the column "suite"; "name" is accepted too.
        "suite": row.get("suite") or row.get("name"),
        "suite_path": row.get("suite_path"),
        "started_at": row.get("started_at"),
        "finished_at": row.get("finished_at"),
        "status": row.get("status"),
        "primary_metric": primary if isinstance(primary, dict) else {},
        "metrics": metrics,
        "versions": _dict_or_empty(_maybe_json(row.get("versions"))),
        "hardware": _dict_or_empty(_maybe_json(row.get("hardware"))),
    }


def _maybe_json(value: Any) -> Any:
    """Decode a JSON object/array stored as text (a store column it did not decode); else unchanged."""
    if isinstance(value, str) and value.strip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _dict_or_empty(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _task_of(metric: str) -> str | None:
    from mlbench.metrics import METRICS

    return METRICS.get(metric).task_type if metric in METRICS else None


def _by_task(metrics: Any) -> dict[str, list[str]]:
    if isinstance(metrics, dict):
        return {str(k): list(v) for k, v in metrics.items()}
    out: dict[str, list[str]] = {}
    if isinstance(metrics, (list, tuple)):
        for name in metrics:
            task = _task_of(str(name))
            if task:
                out.setdefault(task, []).append(str(name))
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
