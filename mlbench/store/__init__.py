"""Results store: one SQLite file plus one ``.npz`` of prediction arrays per job.

Three rooms, and the prediction files' format between the last two:

* :mod:`mlbench.store.schema`: the database's tables and columns, opening it, version checks;
* :mod:`mlbench.store.writer`: :class:`Store`, the coordinator's (only) writer;
* :mod:`mlbench.store.read`: the read-only API the run reader (:func:`mlbench.open_run`) uses;
* :mod:`mlbench.store.predictions`: how a job's arrays are laid out on disk (a fold's labels
  stored once, predictions derived from probabilities, narrow integers), exactly reversible.

The names below are re-exported so ``from mlbench.store import Store`` keeps working. The writer's
and the read API's names are imported on first use: importing the read API (``mlbench.reader``
does) never loads the writer, and the schema's constants (a rerun with nothing to do needs only
those) load neither, nor pandas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlbench.store.schema import (
    DB_NAME,
    DIAGNOSTICS_COLUMNS,
    PREDICTIONS_DIR,
    RUN_STATUSES,
    SCHEMA_VERSION,
    STATUSES,
    TRIALS_KEY,
)

if TYPE_CHECKING:  # pragma: no cover
    from mlbench.store.read import (
        load_results,
        open_read_only,
        read_diagnostics,
        read_runs,
        read_trials,
        resolve_db,
    )
    from mlbench.store.writer import HEARTBEAT_SECONDS, STALE_SECONDS, Store

__all__ = [
    "DB_NAME",
    "DIAGNOSTICS_COLUMNS",
    "HEARTBEAT_SECONDS",
    "PREDICTIONS_DIR",
    "RUN_STATUSES",
    "SCHEMA_VERSION",
    "STALE_SECONDS",
    "STATUSES",
    "TRIALS_KEY",
    "Store",
    "load_results",
    "open_read_only",
    "read_diagnostics",
    "read_runs",
    "read_trials",
    "resolve_db",
]

_WRITER_NAMES = frozenset({"HEARTBEAT_SECONDS", "STALE_SECONDS", "Store"})
_READ_NAMES = frozenset(
    {"load_results", "open_read_only", "read_diagnostics", "read_runs", "read_trials", "resolve_db"}
)


def __getattr__(name: str) -> Any:
    # PEP 562: the writer and the read API (pandas) load when one of their names is first asked for
    if name in _WRITER_NAMES or name in _READ_NAMES:
        import importlib

        module = importlib.import_module(
            "mlbench.store.writer" if name in _WRITER_NAMES else "mlbench.store.read"
        )
        value = getattr(module, name)
        globals()[name] = value  # later lookups (and monkeypatching) see a plain attribute
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _WRITER_NAMES | _READ_NAMES)
