"""Results store: one SQLite file plus one ``.npz`` of prediction arrays per job.

Layout of a run folder::

    <root>/results.sqlite           runs + one row per job attempt (WAL mode)
    <root>/predictions/<job_id>.npz val/test indices and probabilities, for ensembles after the fact

Only the coordinator writes (one :class:`Store` per run folder, guarded by the run lock of
:mod:`mlbench.outputs`); everyone else reads through the run reader (:func:`mlbench.open_run`), from
any number of processes at once, because the database is in WAL mode. Runs started with
``--shared`` are several coordinators on one store: each claims its jobs in the ``claims`` table
(:meth:`Store.claim_jobs`) and tolerates the columns the others add. Each run's row carries its
``pid``, ``host`` and a ``heartbeat_at`` stamp, so a run killed while running is later marked
``crashed`` (:meth:`Store.mark_crashed`).

Crash safety (the coordinator may be SIGKILLed at any moment):

* each :meth:`Store.record` is its own transaction, so a kill loses at most the job in flight;
* a prediction file is written to a temp file in the same folder, fsynced, then ``os.replace``\\ d,
  and only then is the row that points at it committed. A reader therefore never sees a row whose
  file is missing or half written; at worst a kill leaves an orphan file that no row references,
  or a stale ``*.tmp`` that the next writer removes.

``synchronous=NORMAL`` with WAL is durable against a process crash (the WAL lives in the OS page
cache, which survives the process) and avoids an fsync per commit; only an OS crash or power loss
can drop the last few commits, which resume then simply re-runs.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import re
import socket
import sqlite3
import threading
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from mlbench.errors import MlbenchError

__all__ = ["DB_NAME", "PREDICTIONS_DIR", "SCHEMA_VERSION", "Store", "load_results"]

DB_NAME = "results.sqlite"
PREDICTIONS_DIR = "predictions"
#: Bumped whenever the table layout changes incompatibly; stored in ``PRAGMA user_version``.
SCHEMA_VERSION = 1

STATUSES = frozenset({"ok", "failed", "timeout", "oom", "skipped"})
RUN_STATUSES = frozenset({"running", "finished", "interrupted", "failed", "crashed"})
#: How often a running coordinator stamps ``heartbeat_at`` in its runs row, and how old a stamp may
#: be before the run counts as dead (marked ``crashed``; its claimed jobs can be taken over).
HEARTBEAT_SECONDS = 10.0
STALE_SECONDS = 120.0

# Column names are interpolated into SQL (ALTER TABLE / INSERT), so they are whitelisted rather
# than escaped: lower-case identifiers cannot contain quotes and cannot collide case-insensitively.
_COLUMN_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_METRIC_RE = re.compile(r"^(train|val|test)_[a-z0-9_]+$")
# job ids become file names; refuse anything that could escape predictions/ or be hidden.
_JOB_FILE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=-]{0,199}$")

# Store-owned columns: the caller must not set them (the store computes them).
_RESERVED = ("attempt", "run_id", "predictions_path")

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
_RUN_JSON_COLUMNS = ("metrics", "versions", "hardware")


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _check_column(name: Any) -> str:
    if not isinstance(name, str) or not _COLUMN_RE.match(name):
        raise ValueError(
            f"invalid result column name {name!r}: column names must match {_COLUMN_RE.pattern} "
            "(lower-case letters, digits and underscores, starting with a letter); rename the key"
        )
    return name


def _quote(name: str) -> str:
    """Quote a whitelisted column name (quoting keeps SQL keywords such as ``order`` usable)."""
    return f'"{_check_column(name)}"'


def _column_type(name: str, value: Any) -> str:
    """SQL type of a new column: metrics are always REAL, other numbers REAL, the rest TEXT."""
    if _METRIC_RE.match(name):
        return "REAL"
    if isinstance(value, (bool, int, float, np.number, np.bool_)):
        return "REAL"
    return "TEXT"


def _to_sql(value: Any) -> Any:
    """Convert one Python/numpy value to what sqlite3 stores; NaN becomes NULL."""
    if value is None:
        return None
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, (int, str, bytes)):
        return value
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=str, sort_keys=True)
    # Paths, datetimes, enums...: their text form is what a results table wants.
    return str(value)


_F = TypeVar("_F", bound=Callable[..., Any])


def _locked(method: _F) -> _F:
    """Serialise a Store method: the coordinator may record from a callback thread."""

    @functools.wraps(method)
    def wrapper(self: Store, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _connect(db: Path, *, read_only: bool) -> sqlite3.Connection:
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


def _wrap_db_error(db: Path, exc: sqlite3.Error) -> MlbenchError:
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


def _check_version(conn: sqlite3.Connection, db: Path) -> int:
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise MlbenchError(
            f"{db} was written by a newer mlbench (store schema {version}; this mlbench reads up to "
            f"{SCHEMA_VERSION}); upgrade mlbench (`pip install -U mlbench`) to read it"
        )
    return version


def _table_columns(conn: sqlite3.Connection, table: str) -> dict[str, str]:
    """Column name -> declared type (upper case) of `table`, in table order."""
    return {row[1]: (row[2] or "").upper() for row in conn.execute(f"PRAGMA table_info({table})")}


def _has_table(conn: sqlite3.Connection, table: str) -> bool:
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()
    return row is not None


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
    types = _table_columns(conn, "results")
    sql = "SELECT * FROM results ORDER BY rowid" if all_attempts else _LATEST_SQL
    # One read transaction so the frame is a consistent snapshot even while the writer commits.
    conn.execute("BEGIN")
    try:
        return _frame(conn.execute(sql), types)
    finally:
        conn.execute("COMMIT")


def _read_runs(conn: sqlite3.Connection) -> pd.DataFrame:
    types = _table_columns(conn, "runs")
    conn.execute("BEGIN")
    try:
        json_cols = set(_RUN_JSON_COLUMNS)
        json_cols.update(r[0] for r in conn.execute("SELECT col FROM json_columns WHERE tbl = 'runs'"))
        return _frame(conn.execute("SELECT * FROM runs ORDER BY run_id"), types, frozenset(json_cols))
    finally:
        conn.execute("COMMIT")


class Store:
    """The writer of one run folder's results (read them with :func:`mlbench.open_run`).

    Parameters
    ----------
    root : str or Path
        The run folder; ``results.sqlite`` and ``predictions/`` live inside it.
    create : bool
        Create the folder and database when missing. With ``False`` a missing store raises
        :class:`~mlbench.errors.MlbenchError` and nothing is created.

    Raises
    ------
    MlbenchError
        The store is missing (``create=False``), written by a newer mlbench, or not a database.

    Notes
    -----
    Only one process may write a store at a time (the coordinator). Use it as a context manager,
    or call :meth:`close`.
    """

    def __init__(self, root: str | Path, create: bool = True) -> None:
        self.root = Path(root)
        self.db_path = self.root / DB_NAME
        self.predictions_dir = self.root / PREDICTIONS_DIR
        self._run_id: int | None = None
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        if not self.db_path.exists():
            if not create:
                raise MlbenchError(f"no results at {self.root}; run `mlbench run SUITE` first")
            self.predictions_dir.mkdir(parents=True, exist_ok=True)
            _create_database(self.db_path)
        try:
            self._conn = _connect(self.db_path, read_only=False)
            self._init_schema(create)
        except sqlite3.DatabaseError as exc:
            self.close()
            raise _wrap_db_error(self.db_path, exc) from exc
        except BaseException:
            self.close()
            raise
        self._columns = _table_columns(self.conn, "results")
        self._run_columns = _table_columns(self.conn, "runs")
        self._remove_stale_temp_files()

    # -- setup -------------------------------------------------------------------------------

    @property
    def conn(self) -> sqlite3.Connection:
        """The open SQLite connection (for advanced queries; do not write through it)."""
        if self._conn is None:
            raise MlbenchError(f"the store at {self.root} is closed; open a new Store to use it")
        return self._conn

    def _init_schema(self, create: bool) -> None:
        conn = self.conn
        version = _check_version(conn, self.db_path)
        # WAL is persistent in the file; setting it every open is cheap and repairs old files.
        # It cannot run inside a transaction, hence before BEGIN.
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        if version == SCHEMA_VERSION:
            return
        if not create and not _has_table(conn, "results"):
            raise MlbenchError(
                f"{self.db_path} is not an mlbench results store; run `mlbench run SUITE` first"
            )
        # A file without our schema (an empty database made by another tool): add it in place.
        _create_schema(conn)

    def _remove_stale_temp_files(self) -> None:
        """Delete ``*.tmp`` prediction files left by a writer that was killed mid-write.

        Temp names carry the writer's pid, so a file of a live writer (another process that opened
        this store) is left alone.
        """
        if not self.predictions_dir.is_dir():
            return
        for tmp in self.predictions_dir.glob("*.tmp"):
            parts = tmp.name.split(".")
            pid = int(parts[-2]) if len(parts) >= 3 and parts[-2].isdigit() else None
            if pid is not None and pid != os.getpid() and _pid_alive(pid):
                continue
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    # -- runs --------------------------------------------------------------------------------

    @_locked
    def start_run(self, meta: Mapping[str, Any]) -> int:
        """Record the start of a run and make it the run that later records belong to.

        Parameters
        ----------
        meta : mapping
            Usually ``suite``, ``suite_path``, ``suite_yaml``, ``primary_metric``, ``metrics`` (list),
            ``versions`` (dict), ``hardware`` (dict), ``command``. Dict and list values are stored as
            JSON and decoded by :meth:`runs`. ``started_at`` defaults to now (ISO 8601, UTC);
            ``status`` to ``"running"``. Extra keys become new columns.

        Returns
        -------
        int
            The new ``run_id``.
        """
        now = _utc_now()
        # pid/host/heartbeat_at tell a later run whether this one is still alive (see mark_crashed)
        values = {
            "started_at": now,
            "status": "running",
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "heartbeat_at": now,
        }
        values.update(meta)
        values.pop("run_id", None)
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for key, value in values.items():
                _check_column(key)
                if key not in self._run_columns:
                    self._add_column("runs", self._run_columns, key, _column_type(key, value))
                if isinstance(value, (dict, list, tuple)) and key not in _RUN_JSON_COLUMNS:
                    conn.execute("INSERT OR IGNORE INTO json_columns VALUES ('runs', ?)", (key,))
            keys = list(values)
            cur = conn.execute(
                f"INSERT INTO runs ({', '.join(_quote(k) for k in keys)}) "
                f"VALUES ({', '.join('?' * len(keys))})",
                [_to_sql(values[k]) for k in keys],
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            self._run_columns = _table_columns(conn, "runs")
            raise
        run_id = cur.lastrowid
        assert run_id is not None
        self._run_id = int(run_id)
        return self._run_id

    @_locked
    def finish_run(self, run_id: int, status: str) -> None:
        """Stamp ``finished_at`` (now, UTC) and the final ``status`` of a run.

        Parameters
        ----------
        run_id : int
            As returned by :meth:`start_run`.
        status : {"finished", "interrupted", "failed"}
            How the run ended.
        """
        if status not in RUN_STATUSES:
            raise ValueError(f"invalid run status {status!r}; use one of {sorted(RUN_STATUSES)}")
        with self._transaction():
            cur = self.conn.execute(
                "UPDATE runs SET finished_at = ?, status = ? WHERE run_id = ?", (_utc_now(), status, run_id)
            )
            if cur.rowcount != 1:
                raise ValueError(f"no run with run_id {run_id} in {self.db_path}")

    @_locked
    def heartbeat(self, run_id: int) -> None:
        """Stamp ``heartbeat_at`` (now) of a running run: it is alive (see :meth:`mark_crashed`)."""
        with self._transaction():
            self.conn.execute("UPDATE runs SET heartbeat_at = ? WHERE run_id = ?", (_utc_now(), run_id))

    def _live_runs(self, holding_exclusive: bool) -> tuple[set[int], list[int]]:
        """Run ids of ``running`` rows that are alive, and of those that are dead (in a transaction).

        A run is dead when this process holds the output's lock exclusively (no other run of this
        host can be writing), when its PID on this host is gone, or when its heartbeat (for rows
        without one: its start) is older than :data:`STALE_SECONDS`.
        """
        cols = _table_columns(self.conn, "runs")
        pick = ["run_id", *(c for c in ("pid", "host", "heartbeat_at", "started_at") if c in cols)]
        rows = self.conn.execute(
            f"SELECT {', '.join(_quote(c) for c in pick)} FROM runs WHERE status = 'running'"
        ).fetchall()
        me, host, now = self._run_id, socket.gethostname(), time.time()
        alive, dead = set(), []
        for values in rows:
            row = dict(zip(pick, values, strict=True))
            run_id = int(row["run_id"])
            if run_id == me:
                alive.add(run_id)
                continue
            same_host = row.get("host") in (None, host)
            pid = row.get("pid")
            stamp = row.get("heartbeat_at") or row.get("started_at")
            try:
                age = now - datetime.fromisoformat(str(stamp)).timestamp()
            except ValueError:
                age = math.inf
            if (
                (holding_exclusive and same_host)
                or (same_host and pid is not None and not _pid_alive(int(pid)))
                or age > STALE_SECONDS
            ):
                dead.append(run_id)
            else:
                alive.add(run_id)
        return alive, dead

    @_locked
    def mark_crashed(self, holding_exclusive: bool = False) -> list[int]:
        """Mark runs left ``running`` by a coordinator that died (SIGKILL, power loss) as ``crashed``.

        Parameters
        ----------
        holding_exclusive : bool
            The caller holds the output's run lock exclusively, so every ``running`` run of this
            host is dead; otherwise a run is dead when its PID is gone or its heartbeat is stale.

        Returns
        -------
        list of int
            The run ids marked.
        """
        with self._transaction():
            _, dead = self._live_runs(holding_exclusive)
            for run_id in dead:
                self.conn.execute(
                    "UPDATE runs SET status = 'crashed', finished_at = COALESCE(finished_at, heartbeat_at) "
                    "WHERE run_id = ? AND status = 'running'"
                    if "heartbeat_at" in _table_columns(self.conn, "runs")
                    else "UPDATE runs SET status = 'crashed' WHERE run_id = ? AND status = 'running'",
                    (run_id,),
                )
        return dead

    @_locked
    def attempts(self) -> dict[str, int]:
        """Job id -> its number of recorded attempts (what a ``--shared`` run saw when it planned)."""
        return dict(self.conn.execute("SELECT job_id, MAX(attempt) FROM results GROUP BY job_id").fetchall())

    @_locked
    def claim_jobs(
        self, run_id: int, candidates: list[tuple[str, int]], limit: int, guided: bool = False
    ) -> tuple[list[str], set[str]]:
        """Claim up to ``limit`` jobs for ``run_id`` in one write transaction (``--shared`` runs).

        A job is claimed when no live run holds a claim on it and nobody recorded an attempt of it
        since this run planned, so no job runs twice: the ``BEGIN IMMEDIATE`` serialises the
        claims of every run sharing the store. The claims of a dead run (see :meth:`mark_crashed`)
        are taken over, since its job may never have finished.

        Parameters
        ----------
        run_id : int
            The claiming run (its row must be ``running``).
        candidates : list of (str, int)
            Job ids in the order to run them, each with the attempt count the run saw when it planned.
        limit : int
            At most this many jobs are claimed (at least this many with ``guided``).
        guided : bool
            Claim ``max(limit, ceil(claimable / (2 * live runs)))`` jobs: large batches while
            much is left, small ones at the end (guided self-scheduling, Polychronopoulos and
            Kuck 1987), so that few batches are needed and the runs still finish together.

        Returns
        -------
        claimed : list of str
            The job ids now this run's to run.
        gone : set of str
            Job ids another run has recorded since: drop them.
        """
        claimed: list[str] = []
        gone: set[str] = set()
        with self._transaction():
            conn = self.conn
            conn.execute(
                "CREATE TABLE IF NOT EXISTS claims (job_id TEXT PRIMARY KEY, run_id INTEGER, claimed_at TEXT)"
            )
            alive, _ = self._live_runs(holding_exclusive=False)
            now = _utc_now()
            free = []
            for job_id, seen in candidates:
                if not guided and len(free) >= limit:
                    break
                attempt = conn.execute(
                    "SELECT COALESCE(MAX(attempt), 0) FROM results WHERE job_id = ?", (job_id,)
                ).fetchone()[0]
                if attempt != seen:
                    gone.add(job_id)
                    continue
                holder = conn.execute("SELECT run_id FROM claims WHERE job_id = ?", (job_id,)).fetchone()
                if holder is not None and (holder[0] == run_id or holder[0] in alive):
                    continue  # this run's already, or a live run's
                free.append(job_id)
            if guided:
                limit = max(limit, math.ceil(len(free) / (2 * max(1, len(alive)))))
            for job_id in free[:limit]:
                conn.execute("INSERT OR REPLACE INTO claims VALUES (?, ?, ?)", (job_id, run_id, now))
                claimed.append(job_id)
        return claimed, gone

    # -- results -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        conn = self.conn
        # IMMEDIATE takes the write lock up front, so a concurrent reader never makes us retry.
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            # An ALTER TABLE may have been rolled back with it: re-read the real columns.
            self._columns = _table_columns(conn, "results")
            raise
        conn.execute("COMMIT")

    @_locked
    def record(self, row: Mapping[str, Any], predictions: Mapping[str, np.ndarray] | None = None) -> None:
        """Append one job attempt (and its prediction arrays) in its own transaction.

        Parameters
        ----------
        row : mapping
            The executor's record: ``job_id`` and ``status`` are required; the documented fields
            (``dataset``, ``model``, ``fit_seconds``...) plus any ``train_/val_/test_<metric>`` keys
            and other extra keys, each added as a column the first time it appears (metrics and
            numbers REAL, the rest TEXT). NaN is stored as NULL; dicts and lists as JSON. A
            ``tune_trials`` key (a tuned job's trials, see :mod:`mlbench.tuning`) is not a column:
            its trials go to the ``tune_trials`` table in the same transaction.
        predictions : mapping of str to numpy.ndarray, optional
            Arrays saved to ``predictions/<job_id>.npz`` (atomically) before the row is committed;
            the row's ``predictions_path`` is then that path relative to the store root.

        Raises
        ------
        ValueError
            A key is not a valid column name, is store-owned (``attempt``, ``run_id``,
            ``predictions_path``), ``job_id`` is missing or unusable as a file name, or ``status``
            is not one of ok, failed, timeout, oom, skipped.
        """
        job_id = row.get("job_id")
        if not isinstance(job_id, str) or not job_id:
            raise ValueError(f"record needs a non-empty string job_id, got {job_id!r}")
        status = row.get("status")
        if status not in STATUSES:
            raise ValueError(f"invalid status {status!r} for job {job_id}; use one of {sorted(STATUSES)}")
        for key in row:
            _check_column(key)
            if key in _RESERVED:
                raise ValueError(f"{key!r} is set by the store; remove it from the record of job {job_id}")

        trials = row.get(TRIALS_KEY)
        row = {k: v for k, v in row.items() if k != TRIALS_KEY}
        values = {k: _to_sql(v) for k, v in row.items()}
        values["run_id"] = self._run_id
        if predictions:
            # File first, row second: a committed row always points at a complete file.
            values["predictions_path"] = self._write_predictions(job_id, predictions)

        conn = self.conn
        with self._transaction():
            values = self._add_columns(values, row)
            values["attempt"] = (
                conn.execute(
                    "SELECT COALESCE(MAX(attempt), 0) FROM results WHERE job_id = ?", (job_id,)
                ).fetchone()[0]
                + 1
            )
            keys = list(values)
            conn.execute(
                f"INSERT INTO results ({', '.join(_quote(k) for k in keys)}) "
                f"VALUES ({', '.join('?' * len(keys))})",
                [values[k] for k in keys],
            )
            if trials:
                _insert_trials(conn, job_id, values["attempt"], trials)

    def _add_columns(self, values: dict[str, Any], raw: Mapping[str, Any]) -> dict[str, Any]:
        """Create the result columns ``values`` needs (inside a transaction); return the values to write.

        ``raw`` holds the caller's values before conversion: a NaN metric (stored as NULL) still
        creates its REAL column, only a real ``None`` waits for a value to learn the type from.
        """
        out = dict(values)
        for key, value in raw.items():
            if key in self._columns:
                continue
            if value is None:
                # No type to learn from a NULL: a column created now would be TEXT and turn later
                # numbers into strings. It is added with the first real value.
                del out[key]
                continue
            self._add_column("results", self._columns, key, _column_type(key, value))
        return out

    def _add_column(self, table: str, cache: dict[str, str], key: str, col_type: str) -> None:
        """Add a column inside a write transaction, tolerating another process that added it first.

        ``cache`` (this Store's view of the table's columns) may be stale when another writer
        shares the store (``--shared`` runs, or two runs racing to create a new folder): the real
        columns are re-read under the write lock first, and a "duplicate column name" from a
        creator that won anyway is taken as success.
        """
        cache.update(_table_columns(self.conn, table))
        if key in cache:
            return
        try:
            self.conn.execute(f"ALTER TABLE {table} ADD COLUMN {_quote(key)} {col_type}")
        except sqlite3.OperationalError as exc:
            if "duplicate column name" not in str(exc):
                raise
            cache.update(_table_columns(self.conn, table))
            return
        cache[key] = col_type

    @_locked
    def update(self, job_id: str, attempt: int, values: Mapping[str, Any]) -> None:
        """Set columns of one recorded attempt, in its own transaction.

        For values derived later from what the attempt stored (a metric added to the suite, scored
        from its prediction file); the attempt's own outcome (status, times, errors) is not
        rewritten this way.

        Parameters
        ----------
        job_id : str
        attempt : int
            The attempt to change (see :meth:`record`).
        values : mapping
            Column -> value, as in :meth:`record` (new columns are created; NaN is stored as NULL).

        Raises
        ------
        ValueError
            A key is not a valid column name or is a column this method must not change, or the
            attempt does not exist.
        """
        for key in values:
            _check_column(key)
            if key in (*_RESERVED, "job_id", "status", "error"):
                raise ValueError(f"{key!r} cannot be changed after the attempt was recorded")
        if not values:
            return
        with self._transaction():
            sql_values = self._add_columns({k: _to_sql(v) for k, v in values.items()}, values)
            if not sql_values:
                return
            keys = list(sql_values)
            cur = self.conn.execute(
                f"UPDATE results SET {', '.join(f'{_quote(k)} = ?' for k in keys)} "
                "WHERE job_id = ? AND attempt = ?",
                [*(sql_values[k] for k in keys), job_id, attempt],
            )
            if cur.rowcount != 1:
                raise ValueError(f"no attempt {attempt} of job {job_id!r} in {self.db_path}")

    def _write_predictions(self, job_id: str, predictions: Mapping[str, np.ndarray]) -> str:
        if not _JOB_FILE_RE.match(job_id):
            raise ValueError(
                f"job_id {job_id!r} cannot name a predictions file; use letters, digits and ._+=- only"
            )
        for key in predictions:
            if not isinstance(key, str) or not key or "/" in key or "\\" in key:
                raise ValueError(
                    f"invalid predictions key {key!r} for job {job_id}; use a plain non-empty name"
                )
        self.predictions_dir.mkdir(parents=True, exist_ok=True)
        final = self.predictions_dir / f"{job_id}.npz"
        tmp = self.predictions_dir / f"{job_id}.npz.{os.getpid()}.tmp"
        try:
            with open(tmp, "wb") as fh:
                _write_npz(fh, predictions)
                fh.flush()
                # fsync before rename so the new name can never point at unwritten blocks. The folder
                # itself is not fsynced per file: that only matters on power loss, where resume
                # re-runs the job anyway, and it would double the cost of each record.
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        return f"{PREDICTIONS_DIR}/{final.name}"

    # -- diagnostics (train/test mismatch checks) ----------------------------------------------

    @_locked
    def diagnostics_done(self, settings: str) -> set[tuple[str, str]]:
        """(dataset, comparison) pairs whose mismatch checks are stored with these ``settings``."""
        if not _has_table(self.conn, "diagnostics"):
            return set()
        cur = self.conn.execute(
            "SELECT DISTINCT dataset, comparison FROM diagnostics WHERE settings = ?",
            (settings,),
        )
        return {(str(d), str(c)) for d, c in cur.fetchall()}

    @_locked
    def record_diagnostics(
        self, dataset: str, comparison: str, settings: str, rows: list[Mapping[str, Any]]
    ) -> None:
        """Replace the stored mismatch checks of one (dataset, comparison), in one transaction.

        Parameters
        ----------
        dataset, comparison : str
            E.g. ``"wine"``, ``"cv_fold_0"`` or ``"test_file"``.
        settings : str
            The ``diagnostics:`` settings they were computed with (resume recomputes on change).
        rows : list of mapping
            One per check x feature (keys of :data:`DIAGNOSTICS_COLUMNS`; others are refused), see
            :func:`mlbench.analysis.run_drift.result_rows`.
        """
        for row in rows:
            unknown = set(row) - set(DIAGNOSTICS_COLUMNS)
            if unknown:
                raise ValueError(
                    f"unknown diagnostics columns {sorted(unknown)}; use {list(DIAGNOSTICS_COLUMNS)}"
                )
        with self._transaction():
            self.conn.execute(_DIAGNOSTICS_DDL)
            self.conn.execute(
                "DELETE FROM diagnostics WHERE dataset = ? AND comparison = ?", (dataset, comparison)
            )
            now = _utc_now()
            for row in rows:
                values = {k: _to_sql(v) for k, v in row.items()}
                values.update(
                    dataset=dataset,
                    comparison=comparison,
                    settings=settings,
                    run_id=self._run_id,
                    created_at=now,
                )
                keys = list(values)
                self.conn.execute(
                    f"INSERT INTO diagnostics ({', '.join(_quote(k) for k in keys)}) "
                    f"VALUES ({', '.join('?' * len(keys))})",
                    [values[k] for k in keys],
                )

    # -- lifecycle ---------------------------------------------------------------------------

    @_locked
    def close(self) -> None:
        """Close the database connection (idempotent)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"


#: Row key holding a tuned job's trials (a list of dicts); stored in the ``tune_trials`` table.
TRIALS_KEY = "tune_trials"

_TRIAL_COLUMNS = (
    '"job_id" TEXT NOT NULL, "attempt" INTEGER NOT NULL, "number" INTEGER NOT NULL, '
    '"params_json" TEXT, "value" REAL, "state" TEXT, "seconds" REAL, "started_at" TEXT, '
    '"intermediate_json" TEXT, "error" TEXT, "distributions_json" TEXT, '
    "PRIMARY KEY (job_id, attempt, number)"
)


def _insert_trials(
    conn: sqlite3.Connection, job_id: str, attempt: int, trials: list[Mapping[str, Any]]
) -> None:
    """Store a tuned job attempt's trials (inside the transaction that records the attempt)."""
    # created on first use, so stores without tuning keep exactly the tables they had
    conn.execute(f"CREATE TABLE IF NOT EXISTS tune_trials ({_TRIAL_COLUMNS})")
    conn.executemany(
        "INSERT INTO tune_trials VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                job_id,
                attempt,
                int(t["number"]),
                json.dumps(t.get("params", {}), sort_keys=True, default=str),
                _to_sql(t.get("value")),
                t.get("state"),
                _to_sql(t.get("seconds")),
                t.get("started_at"),
                json.dumps(t.get("intermediate") or {}, sort_keys=True),
                t.get("error"),
                json.dumps(t.get("distributions") or {}, sort_keys=True),
            )
            for t in trials
        ],
    )


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
    with _open_read_only(path) as conn:
        if not _has_table(conn, "tune_trials"):
            return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
        # a table written before distributions were kept reads them as missing
        dists = (
            "t.distributions_json" if "distributions_json" in _table_columns(conn, "tune_trials") else "NULL"
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
_DIAGNOSTICS_DDL = (
    "CREATE TABLE IF NOT EXISTS diagnostics ("
    + ", ".join(f'"{c}" {t}' for c, t in DIAGNOSTICS_COLUMNS.items())
    + ")"
)


def read_diagnostics(conn: sqlite3.Connection) -> pd.DataFrame:
    """The ``diagnostics`` table as a DataFrame (empty, with its columns, when there is none)."""
    if not _has_table(conn, "diagnostics"):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in DIAGNOSTICS_COLUMNS})
    conn.execute("BEGIN")
    try:
        frame = _frame(
            conn.execute("SELECT * FROM diagnostics ORDER BY rowid"), _table_columns(conn, "diagnostics")
        )
    finally:
        conn.execute("COMMIT")
    frame["flagged"] = frame["flagged"].fillna(0).astype(bool)
    return frame


def _create_schema(conn: sqlite3.Connection) -> None:
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


def _create_database(db: Path) -> None:
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
            _create_schema(conn)
        finally:
            conn.close()
        with contextlib.suppress(FileExistsError):
            os.link(tmp, db)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def _write_npz(fh: Any, arrays: Mapping[str, np.ndarray]) -> None:
    """Write an uncompressed ``.npz`` readable by :func:`numpy.load`.

    Done by hand rather than with ``np.savez(fh, **arrays)`` so that any key works (``np.savez``
    would choke on keys such as ``file`` or ``allow_pickle``); uncompressed because it is several
    times faster and probability arrays compress poorly anyway. Object arrays are refused
    (``allow_pickle=False``) so that loading never unpickles.
    """
    with zipfile.ZipFile(fh, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key, value in arrays.items():
            with zf.open(f"{key}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)


def _resolve_db(path: str | Path) -> Path:
    path = Path(path)
    db = path if path.suffix == ".sqlite" or path.is_file() else path / DB_NAME
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
def _open_read_only(path: str | Path) -> Iterator[sqlite3.Connection]:
    db = _resolve_db(path)
    try:
        conn = _connect(db, read_only=True)
    except sqlite3.Error as exc:
        raise _wrap_db_error(db, exc) from exc
    try:
        _check_version(conn, db)
        if not _has_table(conn, "results"):
            raise MlbenchError(f"{db} is not an mlbench results store; run `mlbench run SUITE` first")
        yield conn
    except sqlite3.DatabaseError as exc:
        raise _wrap_db_error(db, exc) from exc
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
    with _open_read_only(path) as conn:
        return _read_results(conn, all_attempts)
