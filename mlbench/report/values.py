"""Plain values for the report: JSON-able conversion, missing-value tests, metric directions.

A leaf module: :mod:`mlbench.report.summarize` and :mod:`mlbench.report.sections` both use it and
it imports neither (nor pandas: it must stay cheap to import).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

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


def _isnull(value: Any) -> bool:
    if value is None or type(value).__name__ in ("NAType", "NaTType"):  # pandas.NA / NaT, without pandas
        return True
    try:
        return bool(value != value)  # NaN is the only value unequal to itself
    except (TypeError, ValueError):  # arrays and other containers are values, not missing
        return False


def _str_or_none(value: Any) -> str | None:
    return None if _isnull(value) else str(value)


def _num(value: Any) -> float | None:
    """A finite float, or None for missing/NaN/inf."""
    if _isnull(value):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _int(value: Any) -> int | None:
    x = _num(value)
    return None if x is None else int(x)


def _jsonable(value: Any) -> Any:
    """Convert numpy/pandas scalars to plain Python and non-finite floats to None, recursively."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if hasattr(value, "item") and not isinstance(value, (bytes, bytearray)):
        value = value.item()  # numpy scalar -> Python
        if isinstance(value, (bool, int, str)):
            return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return None if _isnull(value) else str(value)


def _records(frame: pd.DataFrame | None) -> list[dict[str, Any]]:
    """A DataFrame as a list of JSON-able dicts (empty for None or no rows)."""
    if frame is None or len(frame) == 0:
        return []
    return [_jsonable(r) for r in frame.to_dict("records")]
