"""A small name -> object registry, in the spirit of timm's model registry; and the executor kinds.

The registry of executor kinds lives here, not with the executors, so that validating a suite's
``executor.kind`` imports nothing of :mod:`mlbench.execution`: the built-in kinds are registered
by name (``"module:Class"``) and imported only when a run builds its executor.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Generic, TypeVar

from mlbench.errors import ConfigError, MlbenchError, did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
    """Map names to registered objects, with did-you-mean errors for unknown names.

    Parameters
    ----------
    kind : str
        What is registered ("model", "metric", ...); used in error messages.
    error : type of Exception
        The exception raised by :meth:`get` for an unknown name.
    """

    def __init__(self, kind: str, error: type[Exception] = MlbenchError) -> None:
        self.kind = kind
        self.error = error
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T) -> T:
        """Register ``item`` under ``name``; registering a name twice is a programming error."""
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = item
        return item

    def get(self, name: str) -> T:
        """Return the object registered as ``name``.

        Raises
        ------
        self.error
            When ``name`` is unknown; the message lists close matches and the valid names.
        """
        try:
            return self._items[name]
        except KeyError:
            hint = did_you_mean(name, self._items)
            raise self.error(
                f"unknown {self.kind} {name!r}.{hint} Valid {self.kind}s: {', '.join(sorted(self._items))}"
            ) from None

    def names(self) -> list[str]:
        """Return the registered names, sorted."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)


#: executor kind -> an :class:`mlbench.execution.base.Executor` subclass, or ``"module:Class"``
#: imported when a run first builds one (so that naming ``dask`` here does not import dask).
#: Register with :func:`mlbench.execution.base.register_executor`.
EXECUTORS: Registry[Any] = Registry("executor kind", ConfigError)
EXECUTORS.register("local", "mlbench.execution.local:LocalExecutor")
EXECUTORS.register("dask", "mlbench.execution.dask:DaskExecutor")
