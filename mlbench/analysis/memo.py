"""Reuse of intermediate analysis tables inside one report: :func:`reuse` and :func:`memoized`.

The report asks many questions of one results table (ranks, leaderboard, Friedman, CD, Wilcoxon,
per-dataset score tables, the verdict); each starts from the same intermediate tables
(:func:`mlbench.analysis.tables.results_table`, :func:`~mlbench.analysis.tables.long_for`, the
per-dataset scores behind the ranks). Inside a :func:`reuse` block a :func:`memoized` function
computes each of them once per input and returns the stored result afterwards; outside a block it
is a plain call. Inputs are told apart by identity (tables) or value (strings, numbers, dicts of
them), so the tables given to the analyses must not change inside the block; the block keeps a
reference to each input, so an identity is never reused by another table meanwhile.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

__all__ = ["memoized", "reuse"]

F = TypeVar("F", bound=Callable[..., Any])

_MEMO: contextvars.ContextVar[dict[Any, tuple[Any, Any]] | None] = contextvars.ContextVar(
    "mlbench_analysis_memo", default=None
)


@contextlib.contextmanager
def reuse() -> Iterator[None]:
    """Within the block, :func:`memoized` functions compute each result once per input.

    Nested blocks share the outer block's results; they are dropped when the outer block ends.
    """
    token = _MEMO.set({}) if _MEMO.get() is None else None
    try:
        yield
    finally:
        if token is not None:
            _MEMO.reset(token)


def _key(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return ("dict", tuple(sorted((str(k), _key(v)) for k, v in value.items())))
    if isinstance(value, (list, tuple)):
        return ("seq", tuple(_key(v) for v in value))
    return ("id", id(value))  # tables, callables: the same object, not an equal one


def _copied(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(_copied(v) for v in value)
    copy = getattr(value, "copy", None)
    return copy() if callable(copy) else value


def memoized(*, copy: bool) -> Callable[[F], F]:
    """Have ``fn`` computed once per input inside :func:`reuse` blocks.

    Parameters
    ----------
    copy : bool
        Return a copy of the stored result (tables and tuples of them): for results a caller
        may change in place. ``False`` returns the stored object itself, for results nobody
        changes (then later calls given it are recognised as the same input).
    """

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            memo = _MEMO.get()
            if memo is None:
                return fn(*args, **kwargs)
            key = (
                fn.__module__,
                fn.__qualname__,
                tuple(_key(a) for a in args),
                tuple(sorted((k, _key(v)) for k, v in kwargs.items())),
            )
            if key not in memo:
                # the inputs are kept with the result: their ids stay theirs while the block lasts
                memo[key] = ((args, kwargs), fn(*args, **kwargs))
            result = memo[key][1]
            return _copied(result) if copy else result

        return inner  # type: ignore[return-value]

    return wrap
