"""The read-only API of a run folder's results: what the run reader (:mod:`mlbench.reader`) uses.

Nothing here creates or changes anything in a run folder, and everything is safe while the
coordinator is still writing (SQLite in WAL mode: readers see the last committed state). The
writer is :class:`mlbench.store.writer.Store`; this module never imports it.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlbench.errors import MlbenchError
from mlbench.store.predictions import TRUTH_DIR, decode, read_manifest, truth_arrays
from mlbench.store.schema import (
    DB_NAME,
    DIAGNOSTICS_COLUMNS,
    PREDICTIONS_DIR,
    RUN_JSON_COLUMNS,
    check_version,
    connect,
    has_table,
    table_columns,
    wrap_db_error,
)

__all__ = [
    "PredictionFiles",
    "load_results",
    "open_read_only",
    "read_diagnostics",
    "read_runs",
    "read_trials",
    "resolve_db",
]


def resolve_db(path: str | Path) -> Path:
    """The ``results.sqlite`` of a run folder (or the file itself); raises when there is none."""
    path = Path(path)
    db = path / DB_NAME if path.is_dir() or not (path.suffix == ".sqlite" or path.is_file()) else path
    if db.is_dir():
        raise MlbenchError(
            f"cannot read {db}: it is a folder, not a results database; give the run folder that "
            "holds a results.sqlite file (or move the folder away)"
        )
    if not db.is_file():
        try:
            db.stat()
        except (PermissionError, OSError) as exc:
            if not isinstance(exc, FileNotFoundError | NotADirectoryError):
                # a folder we may not enter is not "no results": say what stops us
                raise MlbenchError(
                    f"cannot read {db}: {exc.strerror or exc}; check the permissions of the run folder"
                ) from None
        raise MlbenchError(f"no results at {path}; run `mlbench run SUITE` first")
    return db


@contextlib.contextmanager
def open_read_only(path: str | Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to a run's results database, checked to be an mlbench store.

    Raises
    ------
    MlbenchError
        No results there, not an mlbench store, written by a newer mlbench, or unreadable.
    """
    db = resolve_db(path)
    try:
        conn = connect(db, read_only=True)
    except sqlite3.Error as exc:
        raise wrap_db_error(db, exc) from exc
    try:
        check_version(conn, db)
        if not has_table(conn, "results"):
            raise MlbenchError(f"{db} is not an mlbench results store; run `mlbench run SUITE` first")
        yield conn
    except sqlite3.DatabaseError as exc:
        raise wrap_db_error(db, exc) from exc
    finally:
        conn.close()


def load_results(path: str | Path, all_attempts: bool = False) -> pd.DataFrame:
    """Load a run's results without creating or changing anything.

    Safe while the coordinator is still writing (WAL readers see the last committed state).

    Parameters
    ----------
    path : str or Path
        The run folder, or its ``results.sqlite`` file.
    all_attempts : bool
        Every attempt instead of the latest attempt per job.

    Returns
    -------
    pandas.DataFrame
        As :meth:`Store.results`.

    Raises
    ------
    MlbenchError
        There are no results at `path`, or they were written by a newer mlbench.
    """
    with open_read_only(path) as conn:
        return _read_results(conn, all_attempts)


def _frame(
    cursor: sqlite3.Cursor, types: Mapping[str, str], json_columns: frozenset[str] = frozenset()
) -> pd.DataFrame:
    """Build a DataFrame from a cursor, giving numeric columns numeric dtypes even when all NULL.

    Columns in `json_columns` are decoded into Python objects (``None`` stays ``None``).
    """
    names = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    data: dict[str, Any] = {}
    for i, name in enumerate(names):
        values = [r[i] for r in rows]
        decl = types.get(name, "")
        if name in json_columns:
            data[name] = pd.Series([None if v is None else json.loads(v) for v in values], dtype=object)
        elif "INT" in decl:
            # int64 when complete; float64 (NaN) when some are NULL, like pandas.read_sql.
            if any(v is None for v in values):
                data[name] = pd.Series(values, dtype="float64")
            else:
                data[name] = pd.Series(values, dtype="int64")
        elif "REAL" in decl:
            data[name] = pd.Series([np.nan if v is None else v for v in values], dtype="float64")
        else:
            data[name] = pd.Series(values, dtype=object if all(v is None for v in values) else None)
    return pd.DataFrame(data, columns=names)


_LATEST_SQL = (
    "SELECT r.* FROM results AS r "
    "WHERE r.attempt = (SELECT MAX(attempt) FROM results WHERE job_id = r.job_id) "
    "ORDER BY r.rowid"
)


def _read_results(conn: sqlite3.Connection, all_attempts: bool) -> pd.DataFrame:
    types = table_columns(conn, "results")
    sql = "SELECT * FROM results ORDER BY rowid" if all_attempts else _LATEST_SQL
    # One read transaction so the frame is a consistent snapshot even while the writer commits.
    conn.execute("BEGIN")
    try:
        return _frame(conn.execute(sql), types)
    finally:
        conn.execute("COMMIT")


def read_runs(conn: sqlite3.Connection) -> pd.DataFrame:
    """The ``runs`` table, oldest first, its JSON columns decoded."""
    types = table_columns(conn, "runs")
    conn.execute("BEGIN")
    try:
        json_cols = set(RUN_JSON_COLUMNS)
        json_cols.update(r[0] for r in conn.execute("SELECT col FROM json_columns WHERE tbl = 'runs'"))
        return _frame(conn.execute("SELECT * FROM runs ORDER BY run_id"), types, frozenset(json_cols))
    finally:
        conn.execute("COMMIT")


def read_trials(path: str | Path) -> pd.DataFrame:
    """Every stored trial of the latest attempt of each tuned job (empty without tuning).

    Columns job_id, attempt, number, params (dict), value, state, seconds, started_at,
    intermediate (dict step -> value), error, distributions (name -> Optuna distribution JSON).
    """
    cols = [
        "job_id",
        "attempt",
        "number",
        "params",
        "value",
        "state",
        "seconds",
        "started_at",
        "intermediate",
        "error",
        "distributions",
    ]
    with open_read_only(path) as conn:
        if not has_table(conn, "tune_trials"):
            return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
        # a table written before distributions were kept reads them as missing
        dists = (
            "t.distributions_json" if "distributions_json" in table_columns(conn, "tune_trials") else "NULL"
        )
        conn.execute("BEGIN")
        try:
            frame = _frame(
                conn.execute(
                    "SELECT t.job_id, t.attempt, t.number, t.params_json AS params, t.value, t.state, "
                    "t.seconds, t.started_at, t.intermediate_json AS intermediate, t.error, "
                    f"{dists} AS distributions "
                    "FROM tune_trials AS t WHERE t.attempt = "
                    "(SELECT MAX(attempt) FROM results WHERE job_id = t.job_id) "
                    "ORDER BY t.rowid"
                ),
                {"attempt": "INTEGER", "number": "INTEGER", "value": "REAL", "seconds": "REAL"},
                frozenset({"params", "intermediate", "distributions"}),
            )
        finally:
            conn.execute("COMMIT")
    frame["intermediate"] = [{int(k): v for k, v in (d or {}).items()} for d in frame["intermediate"]]
    return frame


def read_diagnostics(conn: sqlite3.Connection) -> pd.DataFrame:
    """The ``diagnostics`` table as a DataFrame (empty, with its columns, when there is none)."""
    if not has_table(conn, "diagnostics"):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in DIAGNOSTICS_COLUMNS})
    conn.execute("BEGIN")
    try:
        frame = _frame(
            conn.execute("SELECT * FROM diagnostics ORDER BY rowid"), table_columns(conn, "diagnostics")
        )
    finally:
        conn.execute("COMMIT")
    frame["flagged"] = frame["flagged"].fillna(0).astype(bool)
    return frame


class PredictionFiles:
    """The prediction files of a run folder, read-only (see :mod:`mlbench.store.predictions`).

    Truth files (one split's rows and labels, shared by the jobs of a fold) are kept once loaded,
    up to ``cache_bytes``, so reading every job of a run loads each of them once.

    Parameters
    ----------
    root : str or Path
        The run folder.
    cache_bytes : int
        How much of the truth files' arrays to keep in memory.
    """

    def __init__(self, root: str | Path, cache_bytes: int = 256 << 20) -> None:
        self.root = Path(root)
        self.cache_bytes = cache_bytes
        self._truths: dict[str, dict[str, np.ndarray]] = {}  # insertion order: the oldest first
        self._cached = 0

    def read(self, rel_path: str) -> dict[str, np.ndarray]:
        """The arrays a job recorded, exactly (keys, values, dtypes), from its file ``rel_path``.

        Raises
        ------
        MlbenchError
            The file or a truth file it needs is damaged, or a newer mlbench wrote it.
        OSError, ValueError, zipfile.BadZipFile
            The file is missing or not an npz file.
        """
        path = self.root / rel_path
        with np.load(path, allow_pickle=False) as npz:
            return decode(npz, path, self._truth)

    def problem(self, rel_path: str) -> str | None:
        """What is wrong with a job's file, cheaply checked (None when it looks fine).

        Checks that it exists, that its zip directory, array names and manifest read, and that
        the truth files it needs exist and open; values are checked when the file is read.
        """
        path = self.root / rel_path
        if not path.is_file():
            return f"{path} is missing"
        try:
            with np.load(path, allow_pickle=False) as npz:
                specs = read_manifest(npz, path)
            keys = {str(s["truth"]) for s in (specs or {}).values() if s["how"] == "truth"}
            for key in sorted(keys):
                truth = self._truth_path(key)
                if not truth.is_file():
                    return f"{path} needs {truth}, which is missing"
                with np.load(truth, allow_pickle=False) as npz:
                    npz.files  # noqa: B018 - reads the zip directory and the array names
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, MlbenchError) as exc:
            return f"{path} is unreadable ({type(exc).__name__}: {exc})"
        return None

    def _truth_path(self, key: str) -> Path:
        return self.root / PREDICTIONS_DIR / TRUTH_DIR / f"{key}.npz"

    def _truth(self, key: str) -> dict[str, np.ndarray]:
        """``<split>/index`` and ``<split>/true`` of a truth file (its members are kept, see the class)."""
        parts = self._truths.get(key)
        if parts is not None:
            arrays = truth_arrays(parts)
            assert arrays is not None  # checked when loaded
            return arrays
        path = self._truth_path(key)
        with np.load(path, allow_pickle=False) as npz:
            parts = {name: npz[name] for name in npz.files}
        arrays = truth_arrays(parts)
        if arrays is None:
            raise MlbenchError(
                f"cannot read truth file {path}: it does not hold one row number and one label "
                "per row of each split; it is damaged, so the predictions that use it cannot be "
                "used (run the suite into a new output folder to get them back)"
            )
        size = sum(a.nbytes for a in parts.values())
        if size <= self.cache_bytes:
            while self._truths and self._cached + size > self.cache_bytes:
                oldest = self._truths.pop(next(iter(self._truths)))
                self._cached -= sum(a.nbytes for a in oldest.values())
            self._truths[key] = parts
            self._cached += size
        return arrays
