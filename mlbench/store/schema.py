"""The results database: its tables and columns, opening it, version checks, creating it.

Shared by the writer (:mod:`mlbench.store.writer`) and the read API (:mod:`mlbench.store.read`).
Tables:

* ``runs``: one row per invocation (``mlbench run``, a resume) that wrote to the folder;
* ``results``: one row per job attempt, primary key (job_id, attempt); result columns are added
  as records bring new keys (metrics, extra facts);
* ``json_columns``: which extra ``runs`` columns hold JSON;
* created on first use, so older stores simply lack them: ``tune_trials`` (a tuned job's
  trials), ``diagnostics`` (train/test mismatch checks), ``claims`` (``--shared`` runs).

The schema version lives in ``PRAGMA user_version``: a store written by a newer mlbench is
refused with the fix; a database without our tables gets them added in place.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np

from mlbench.errors import MlbenchError

__all__ = [
    "DB_NAME",
    "DIAGNOSTICS_COLUMNS",
    "DIAGNOSTICS_DDL",
    "PREDICTIONS_DIR",
    "RUN_JSON_COLUMNS",
    "RUN_STATUSES",
    "SCHEMA_VERSION",
    "STATUSES",
    "TRIALS_DDL",
    "TRIALS_KEY",
    "check_column",
    "check_version",
    "column_type",
    "connect",
    "create_database",
    "create_schema",
    "has_table",
    "quote",
    "table_columns",
    "wrap_db_error",
]

DB_NAME = "results.sqlite"
PREDICTIONS_DIR = "predictions"
#: Bumped whenever the table layout changes incompatibly; stored in ``PRAGMA user_version``.
SCHEMA_VERSION = 1

STATUSES = frozenset({"ok", "failed", "timeout", "oom", "skipped"})
RUN_STATUSES = frozenset({"running", "finished", "interrupted", "failed", "crashed"})

# Column names are interpolated into SQL (ALTER TABLE / INSERT), so they are whitelisted rather
# than escaped: lower-case identifiers cannot contain quotes and cannot collide case-insensitively.
_COLUMN_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_METRIC_RE = re.compile(r"^(train|val|test)_[a-z0-9_]+$")

_RESULT_COLUMNS: dict[str, str] = {
    "job_id": "TEXT NOT NULL",
    "attempt": "INTEGER NOT NULL",
    "run_id": "INTEGER",
    "suite": "TEXT",
    "dataset": "TEXT",
    "task_type": "TEXT",
    "model": "TEXT",
    "params_json": "TEXT",
    "fold": "INTEGER",
    "repeat": "INTEGER",
    "train_size": "REAL",
    "n_train": "INTEGER",
    "n_test": "INTEGER",
    "seed": "INTEGER",
    "status": "TEXT NOT NULL",
    "error": "TEXT",
    "fit_seconds": "REAL",
    "predict_seconds": "REAL",
    "peak_memory_mb": "REAL",
    "n_params": "INTEGER",
    "device": "TEXT",
    "started_at": "TEXT",
    "finished_at": "TEXT",
    "versions": "TEXT",
    "history_json": "TEXT",
    "predictions_path": "TEXT",
}

_RUN_COLUMNS: dict[str, str] = {
    "run_id": "INTEGER PRIMARY KEY AUTOINCREMENT",
    "suite": "TEXT",
    "suite_path": "TEXT",
    "suite_yaml": "TEXT",
    "started_at": "TEXT",
    "finished_at": "TEXT",
    "status": "TEXT",
    "primary_metric": "TEXT",
    "metrics": "TEXT",
    "versions": "TEXT",
    "hardware": "TEXT",
    "command": "TEXT",
    # liveness of a running run (see Store.mark_crashed)
    "pid": "INTEGER",
    "host": "TEXT",
    "heartbeat_at": "TEXT",
}
# Columns of `runs` holding JSON that runs() decodes; extra dict/list-valued keys are added to
# the `json_columns` table so they are decoded too.
RUN_JSON_COLUMNS = ("metrics", "versions", "hardware")


#: Row key holding a tuned job's trials (a list of dicts); stored in the ``tune_trials`` table.
TRIALS_KEY = "tune_trials"

#: The ``tune_trials`` table, created with a store's first tuned job.
TRIALS_DDL = (
    "CREATE TABLE IF NOT EXISTS tune_trials ("
    '"job_id" TEXT NOT NULL, "attempt" INTEGER NOT NULL, "number" INTEGER NOT NULL, '
    '"params_json" TEXT, "value" REAL, "state" TEXT, "seconds" REAL, "started_at" TEXT, '
    '"intermediate_json" TEXT, "error" TEXT, "distributions_json" TEXT, '
    "PRIMARY KEY (job_id, attempt, number))"
)

#: Columns of the ``diagnostics`` table (train/test mismatch checks; one row per dataset x
#: comparison x check x feature). Created with the first rows, so older stores simply lack it.
DIAGNOSTICS_COLUMNS: dict[str, str] = {
    "run_id": "INTEGER",
    "dataset": "TEXT NOT NULL",
    "comparison": "TEXT NOT NULL",
    "check": "TEXT NOT NULL",
    "feature": "TEXT",
    "kind": "TEXT",
    "test": "TEXT",
    "statistic": "REAL",
    "p": "REAL",
    "p_corrected": "REAL",
    "effect": "REAL",
    "effect_name": "TEXT",
    "flagged": "INTEGER",
    "verdict": "TEXT",
    "n_train": "INTEGER",
    "n_test": "INTEGER",
    "settings": "TEXT",
    "seconds": "REAL",
    "error": "TEXT",
    "detail": "TEXT",
    "created_at": "TEXT",
}
DIAGNOSTICS_DDL = (
    "CREATE TABLE IF NOT EXISTS diagnostics ("
    + ", ".join(f'"{c}" {t}' for c, t in DIAGNOSTICS_COLUMNS.items())
    + ")"
)


def check_column(name: Any) -> str:
    """Return ``name`` when it is a valid column name (it is interpolated into SQL); else raise ValueError."""
    if not isinstance(name, str) or not _COLUMN_RE.match(name):
        raise ValueError(
            f"invalid result column name {name!r}: column names must match {_COLUMN_RE.pattern} "
            "(lower-case letters, digits and underscores, starting with a letter); rename the key"
        )
    return name


def quote(name: str) -> str:
    """Quote a whitelisted column name (quoting keeps SQL keywords such as ``order`` usable)."""
    return f'"{check_column(name)}"'


def column_type(name: str, value: Any) -> str:
    """SQL type of a new column: metrics are always REAL, other numbers REAL, the rest TEXT."""
    if _METRIC_RE.match(name):
        return "REAL"
    if isinstance(value, (bool, int, float, np.number, np.bool_)):
        return "REAL"
    return "TEXT"


def connect(db: Path, *, read_only: bool) -> sqlite3.Connection:
    """Open ``db``: read-only (never creating it, falling back as its folder allows) or for the writer."""
    if read_only:
        # mode=rw never creates the database file (a reader must not create stores by accident),
        # and unlike mode=ro it lets the last connection to close remove the -wal/-shm sidecars,
        # so reading a finished run leaves its folder exactly as it was. A file or folder we may
        # not write to falls back to a true read-only connection (mode=ro), and when SQLite cannot
        # create the -shm/-wal files there either (a read-only folder), to immutable=1: the file
        # is then read as it is, which is complete for every store whose last writer closed it
        # (the WAL is checkpointed into the file and removed at close).
        uri = db.resolve().as_uri()
        last: sqlite3.OperationalError | None = None
        for params in ("mode=rw", "mode=ro", "immutable=1"):
            try:
                # timeout: a busy writer is waited for, as by the busy_timeout set below
                conn = sqlite3.connect(f"{uri}?{params}", uri=True, isolation_level=None, timeout=10)
            except sqlite3.OperationalError as exc:
                last = exc
                continue
            try:
                # reading the schema also opens the WAL index: fails here, not at the first query
                conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            except sqlite3.OperationalError as exc:
                conn.close()
                if "locked" in str(exc) or "busy" in str(exc):
                    # a live writer, not a permission problem: immutable=1 would read the file
                    # without its WAL (a stale snapshot), so the caller sees the real error
                    raise
                last = exc
                continue
            if params == "immutable=1":
                _warn_if_wal_unread(db)
            break
        else:
            assert last is not None
            raise last
    else:
        # Usable from any thread; Store serialises access with its own lock.
        conn = sqlite3.connect(str(db), isolation_level=None, check_same_thread=False)
    # isolation_level=None: we issue BEGIN/COMMIT ourselves, one transaction per record.
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


def _warn_if_wal_unread(db: Path) -> None:
    """Say so when an ``immutable=1`` reader leaves a write-ahead log unread (a run killed mid-way)."""
    wal = db.with_name(db.name + "-wal")
    try:
        size = wal.stat().st_size
    except OSError:
        return
    if size:
        import warnings

        warnings.warn(
            f"{db} is read without its write-ahead log {wal.name} ({size} bytes; the folder is "
            "read-only): results committed last by a run that did not close the store may be "
            "missing; open a writable copy of the folder to see them",
            stacklevel=3,
        )


#: SQLite's result codes that mean the file itself is bad; every other error (no permission, a
#: read-only or full disk, a lock) says nothing about the store and must never be called damage.
_DAMAGED = frozenset({"SQLITE_CORRUPT", "SQLITE_NOTADB"})


def wrap_db_error(db: Path, exc: sqlite3.Error) -> MlbenchError:
    """The MlbenchError to raise for an SQLite error: damage only for a file that is not a database."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith(tuple(_DAMAGED)):
        return MlbenchError(
            f"cannot read results database {db}: {exc}; it is not an mlbench results store or is damaged "
            "(delete the folder and run `mlbench run SUITE` again)"
        )
    return MlbenchError(
        f"cannot open results database {db}: {exc} ({name or 'an operating-system error'}); check "
        "that you may read the file and its folder (permissions, a read-only or full disk): this "
        "error says nothing against the store itself, keep it"
    )


def check_version(conn: sqlite3.Connection, db: Path) -> int:
    """The store's schema version; raises when a newer mlbench wrote it."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise MlbenchError(
            f"{db} was written by a newer mlbench (store schema {version}; this mlbench reads up to "
            f"{SCHEMA_VERSION}); upgrade mlbench (`pip install -U mlbench`) to read it"
        )
    return version


def table_columns(conn: sqlite3.Connection, table: str) -> dict[str, str]:
    """Column name -> declared type (upper case) of `table`, in table order."""
    return {row[1]: (row[2] or "").upper() for row in conn.execute(f"PRAGMA table_info({table})")}


def has_table(conn: sqlite3.Connection, table: str) -> bool:
    """Whether the database has ``table``."""
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()
    return row is not None


def create_schema(conn: sqlite3.Connection) -> None:
    """Create the tables of a new (or foreign, empty) database and stamp the schema version."""
    results_cols = ", ".join(f'"{c}" {t}' for c, t in _RESULT_COLUMNS.items())
    run_cols = ", ".join(f'"{c}" {t}' for c, t in _RUN_COLUMNS.items())
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(f"CREATE TABLE IF NOT EXISTS runs ({run_cols})")
        # The (job_id, attempt) primary key index also serves every lookup by job_id, so no
        # separate job_id index is created (it would only cost another b-tree write per row).
        conn.execute(f"CREATE TABLE IF NOT EXISTS results ({results_cols}, PRIMARY KEY (job_id, attempt))")
        conn.execute("CREATE TABLE IF NOT EXISTS json_columns (tbl TEXT, col TEXT, PRIMARY KEY (tbl, col))")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def create_database(db: Path) -> None:
    """Create ``db`` with its schema so that no process ever sees it without one.

    Built under a temporary name, then linked into place: a reader polling for a new run finds
    either no file or a complete, empty store (never an empty file it would call "not a store"),
    and of two writers creating the same store at once the second links nothing and opens the
    first one's (``os.link`` fails if the name exists, where ``os.replace`` would clobber it).
    """
    tmp = db.with_name(f".{db.name}.{os.getpid()}.tmp")
    try:
        conn = sqlite3.connect(str(tmp), isolation_level=None)
        try:
            # WAL is stored in the file: set here, every later opener finds it set, and none has
            # to switch the mode (which needs the database to itself) while another one opens it.
            conn.execute("PRAGMA journal_mode = WAL")
            create_schema(conn)
        finally:
            conn.close()
        with contextlib.suppress(FileExistsError):
            os.link(tmp, db)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
