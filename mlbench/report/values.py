"""Metric directions for the report (plain values themselves are :mod:`mlbench.values`).

A leaf module: :mod:`mlbench.report.summarize` and :mod:`mlbench.report.sections` both use it and
it imports neither (nor pandas: it must stay cheap to import).
"""

from __future__ import annotations

__all__ = ["direction_label", "greater_is_better"]

# Fallback when a metric column is not a registered metric: these name fragments mean "lower is better".
_LOWER_IS_BETTER_HINTS = ("loss", "error", "rmse", "mse", "mae", "time", "seconds")


def greater_is_better(metric: str) -> bool:
    """Return whether a larger value of ``metric`` is better.

    Parameters
    ----------
    metric : str
        A metric name; registered metrics use their declared direction, unknown ones a name heuristic.
    """
    from mlbench.metrics import METRICS

    if metric in METRICS:
        return bool(METRICS.get(metric).greater_is_better)
    return not any(hint in metric.lower() for hint in _LOWER_IS_BETTER_HINTS)


def direction_label(greater: bool) -> str:
    """Return ``"higher is better"`` or ``"lower is better"``."""
    return "higher is better" if greater else "lower is better"
