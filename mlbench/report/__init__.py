"""Run reports: results -> summary dict -> self-contained HTML.

Two steps, as in skrub: :func:`summarize` computes every number into a plain dict (tested
directly), :func:`render_html` turns it into one HTML file with inline CSS and SVG.
:func:`write_report` does both for a run folder; :func:`write_comparison` compares two runs and
:func:`export_figures` writes the main figures as PNG files. Importing this package is cheap: pandas,
matplotlib and jinja2 are imported by the functions that need them.
"""

from __future__ import annotations

from mlbench.report.html import export_figures, meta_from_runs, render_html, write_comparison, write_report
from mlbench.report.summarize import summarize

__all__ = ["export_figures", "meta_from_runs", "render_html", "summarize", "write_comparison", "write_report"]
