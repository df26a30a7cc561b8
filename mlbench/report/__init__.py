"""Run reports: results -> summary dict -> self-contained HTML.

Two steps, as in skrub: :func:`summarize` computes every number into a plain dict (tested
directly), :func:`render_html` turns it into one HTML page with inline CSS and SVG.
:func:`write_report` does both for a run opened with :func:`mlbench.open_run`;
:func:`write_comparison` compares two runs and :func:`export_figures` writes the main figures as
PNG files. Importing this package is cheap: pandas, matplotlib and jinja2 are imported by the
functions that need them.
"""

from __future__ import annotations

from mlbench.report.build import export_figures, write_comparison, write_report
from mlbench.report.html import render_html
from mlbench.report.summarize import summarize

__all__ = ["export_figures", "render_html", "summarize", "write_comparison", "write_report"]
