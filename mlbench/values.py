"""Plain values: missing-value tests and JSON-able conversion, one implementation for the package.

A leaf module (no numpy or pandas import): the analyses (the mismatch checks' ``--json``), the
report's summary and the run reader all turn cells into plain Python through it, so a NaN, a
numpy scalar or an unknown object is treated the same way everywhere.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["count_text", "int_or_none", "is_missing", "jsonable", "number_or_none", "records", "text_or_none"]


def count_text(n: float, exact_below: float) -> str:
    """A row count for prose: exact below ``exact_below``, else two significant digits.

    ``count_text(4191, 100)`` is ``"4,200"``; ``count_text(4191, 10_000)`` is ``"4,191"``. ``n``
    must be a finite number (callers say what a missing one reads as).
    """
    if n < exact_below:
        return f"{round(n):,}"
    digits = math.floor(math.log10(n)) - 1
    return f"{round(n, -digits):,.0f}"


def is_missing(value: Any) -> bool:
    """True for None, NaN, ``pandas.NA`` and ``NaT``; arrays and other containers are values."""
    if value is None or type(value).__name__ in ("NAType", "NaTType"):  # pandas.NA / NaT, without pandas
        return True
    try:
        return bool(value != value)  # NaN is the only value unequal to itself
    except (TypeError, ValueError):  # arrays and other containers are values, not missing
        return False


def text_or_none(value: Any) -> str | None:
    """``str(value)``, or None when it is missing."""
    return None if is_missing(value) else str(value)


def number_or_none(value: Any) -> float | None:
    """A finite float, or None for missing, NaN, inf and what is not a number."""
    if is_missing(value):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def int_or_none(value: Any) -> int | None:
    """:func:`number_or_none` as an int."""
    x = number_or_none(value)
    return None if x is None else int(x)


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON-able Python, recursively.

    numpy scalars become Python ones, arrays lists, non-finite floats None; mappings get string
    keys; a missing value is None and any other object its ``str()``.
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    tolist = getattr(value, "tolist", None)
    if callable(tolist) and getattr(value, "ndim", 0) > 0:  # a numpy array
        return jsonable(tolist())
    if hasattr(value, "item") and not isinstance(value, (bytes, bytearray)):
        value = value.item()  # numpy scalar -> Python
        if isinstance(value, (bool, int, str)):
            return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return None if is_missing(value) else str(value)


def records(frame: pd.DataFrame | None) -> list[dict[str, Any]]:
    """A DataFrame as a list of JSON-able dicts (empty for None or no rows)."""
    if frame is None or len(frame) == 0:
        return []
    return [jsonable(r) for r in frame.to_dict("records")]
