"""The writer of a run folder's results: the coordinator's :class:`Store` (its only writer).

Layout of a run folder::

    <root>/results.sqlite              runs + one row per job attempt (WAL mode)
    <root>/predictions/<job_id>.npz    a job's predictions (train/val/test), for ensembles and
                                       new metrics after the fact
    <root>/predictions/truth/<key>.npz the rows and true labels of a fold, shared by its jobs

The prediction files' format is :mod:`mlbench.store.predictions`.

Only the coordinator writes (one :class:`Store` per run folder, guarded by the run lock of
:mod:`mlbench.outputs`); everyone else reads through the run reader (:func:`mlbench.open_run`,
built on :mod:`mlbench.store.read`), from any number of processes at once, because the database
is in WAL mode. Runs started with ``--shared`` are several coordinators on one store: each claims
its jobs in the ``claims`` table (:meth:`Store.claim_jobs`) and tolerates the columns the others
add. Each run's row carries its ``pid``, ``host`` and a ``heartbeat_at`` stamp, so a run killed
while running is later marked ``crashed`` (:meth:`Store.mark_crashed`).

Crash safety (the coordinator may be SIGKILLed at any moment):

* each :meth:`Store.record` is its own transaction, so a kill loses at most the job in flight;
* a prediction file is written to a temp file in the same folder, fsynced, then ``os.replace``\\ d,
  and only then is the row that points at it committed; the truth files it needs are written
  (the same way, but linked into place: never replaced) before it. A reader therefore never sees
  a row whose files are missing or half written; at worst a kill leaves an orphan file that no
  row references, or a stale ``*.tmp`` that the next writer removes.

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

from mlbench.errors import MlbenchError
from mlbench.outputs import check_output_dir, os_error_reason, pid_alive, show_path
from mlbench.store.predictions import TRUTH_DIR, encode, truth_key, write_npz_atomic
from mlbench.store.schema import (
    DB_NAME,
    DIAGNOSTICS_COLUMNS,
    DIAGNOSTICS_DDL,
    PREDICTIONS_DIR,
    RUN_JSON_COLUMNS,
    RUN_STATUSES,
    SCHEMA_VERSION,
    STATUSES,
    TRIALS_DDL,
    TRIALS_KEY,
    check_column,
    check_version,
    column_type,
    connect,
    create_database,
    create_schema,
    has_table,
    quote,
    table_columns,
    wrap_db_error,
)

__all__ = ["HEARTBEAT_SECONDS", "STALE_SECONDS", "Store"]

#: How often a running coordinator stamps ``heartbeat_at`` in its runs row, and how old a stamp may
#: be before the run counts as dead (marked ``crashed``; its claimed jobs can be taken over).
HEARTBEAT_SECONDS = 10.0
STALE_SECONDS = 120.0

# job ids become file names; refuse anything that could escape predictions/ or be hidden.
_JOB_FILE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=-]{0,199}$")

# Store-owned columns: the caller must not set them (the store computes them).
_RESERVED = ("attempt", "run_id", "predictions_path")


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


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
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            # a path with bytes that are not UTF-8 (lone surrogates after os.fsdecode): SQLite
            # stores UTF-8 only, so they are kept as \udcff escapes instead of failing the record
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value
    if isinstance(value, (int, bytes)):
        return value
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=str, sort_keys=True)
    # Paths, datetimes, enums...: their text form is what a results table wants.
    return str(value)


_F = TypeVar("_F", bound=Callable[..., Any])


def _locked(method: _F) -> _F:
    """Serialise a Store method (the coordinator may record from a callback thread); a full disk
    or another write fault of the database becomes a clear :class:`~mlbench.errors.MlbenchError`."""

    @functools.wraps(method)
    def wrapper(self: Store, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            try:
                return method(self, *args, **kwargs)
            except sqlite3.OperationalError as exc:
                error = _db_write_error(self.db_path, exc)
                if error is None:
                    raise
                raise error from exc

    return wrapper  # type: ignore[return-value]


# SQLite's primary result codes of a write that the file system refused (sqlite3.h)
_SQLITE_WRITE_FAULTS = {
    13: "no space left on the device (the disk is full)",  # SQLITE_FULL
    10: "an input/output error (a full or failing disk, or a lost network drive)",  # SQLITE_IOERR
    8: "the database or its folder is read-only",  # SQLITE_READONLY
    14: "the file cannot be opened (its folder is gone or not writable)",  # SQLITE_CANTOPEN
}

#: what a write fault means for the run, and what to do about it
_RESUME_HINT = (
    "the results recorded so far are kept; free some space (or fix the disk) and run the same "
    "command again to resume"
)


def _db_write_error(db: Path, exc: sqlite3.OperationalError) -> MlbenchError | None:
    """The MlbenchError for an SQLite error that the file system caused (None for any other)."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    if primary is None and "database or disk is full" in str(exc):
        primary = 13
    reason = _SQLITE_WRITE_FAULTS.get(primary) if primary is not None else None
    if reason is None:
        return None
    said = "" if primary == 13 else f" ({exc})"  # SQLite's own words, where they add something
    return MlbenchError(f"cannot write {show_path(db)}: {reason}{said}; {_RESUME_HINT}")


def _file_write_error(path: Path, exc: OSError) -> MlbenchError:
    """The MlbenchError for an OS error while writing a file of the store: the file and the reason."""
    return MlbenchError(f"cannot write {show_path(path)}: {os_error_reason(exc)}; {_RESUME_HINT}")


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
        # truth files written or checked by this Store (see _write_truth)
        self._truths_checked: set[str] = set()
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        # a folder named results.sqlite, a file named predictions, a name that is not UTF-8
        check_output_dir(self.root)
        if not self.db_path.exists():
            if not create:
                raise MlbenchError(f"no results at {self.root}; run `mlbench run SUITE` first")
            try:
                self.predictions_dir.mkdir(parents=True, exist_ok=True)
                create_database(self.db_path)
            except OSError as exc:
                raise _file_write_error(self.db_path, exc) from None
        try:
            self._conn = connect(self.db_path, read_only=False)
            self._init_schema(create)
        except sqlite3.DatabaseError as exc:
            self.close()
            if isinstance(exc, sqlite3.OperationalError):
                error = _db_write_error(self.db_path, exc)
                if error is not None:
                    raise error from exc
            raise wrap_db_error(self.db_path, exc) from exc
        except BaseException:
            self.close()
            raise
        self._columns = table_columns(self.conn, "results")
        self._run_columns = table_columns(self.conn, "runs")
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
        version = check_version(conn, self.db_path)
        # WAL is persistent in the file; setting it every open is cheap and repairs old files.
        # It cannot run inside a transaction, hence before BEGIN.
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        if version == SCHEMA_VERSION:
            return
        if not create and not has_table(conn, "results"):
            raise MlbenchError(
                f"{self.db_path} is not an mlbench results store; run `mlbench run SUITE` first"
            )
        # A file without our schema (an empty database made by another tool): add it in place.
        create_schema(conn)

    def _remove_stale_temp_files(self) -> None:
        """Delete ``*.tmp`` prediction and truth files left by a writer that was killed mid-write.

        Temp names carry the writer's pid, so a file of a live writer (another process that opened
        this store) is left alone.
        """
        if not self.predictions_dir.is_dir():
            return
        for tmp in [*self.predictions_dir.glob("*.tmp"), *(self.predictions_dir / TRUTH_DIR).glob("*.tmp")]:
            parts = tmp.name.split(".")
            pid = int(parts[-2]) if len(parts) >= 3 and parts[-2].isdigit() else None
            if pid is not None and pid != os.getpid() and pid_alive(pid):
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
                check_column(key)
                if key not in self._run_columns:
                    self._add_column("runs", self._run_columns, key, column_type(key, value))
                if isinstance(value, (dict, list, tuple)) and key not in RUN_JSON_COLUMNS:
                    conn.execute("INSERT OR IGNORE INTO json_columns VALUES ('runs', ?)", (key,))
            keys = list(values)
            cur = conn.execute(
                f"INSERT INTO runs ({', '.join(quote(k) for k in keys)}) "
                f"VALUES ({', '.join('?' * len(keys))})",
                [_to_sql(values[k]) for k in keys],
            )
            conn.execute("COMMIT")
        except BaseException:
            self._rollback()
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
        cols = table_columns(self.conn, "runs")
        pick = ["run_id", *(c for c in ("pid", "host", "heartbeat_at", "started_at") if c in cols)]
        rows = self.conn.execute(
            f"SELECT {', '.join(quote(c) for c in pick)} FROM runs WHERE status = 'running'"
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
            stamp = _timestamp(row.get("heartbeat_at") or row.get("started_at"))
            age = math.inf if stamp is None else now - stamp
            started = _timestamp(row.get("started_at"))
            if (
                (holding_exclusive and same_host)
                or (same_host and pid is not None and not pid_alive(int(pid), started_before=started))
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
                    if "heartbeat_at" in table_columns(self.conn, "runs")
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
            conn.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        """Undo the open transaction, if any, after an error; never hides that error.

        SQLite rolls a transaction back by itself after some errors (a full disk during COMMIT):
        a ROLLBACK then fails with "cannot rollback - no transaction is active", which must not
        replace the error that says what happened.
        """
        conn = self.conn
        with contextlib.suppress(sqlite3.Error):
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        # An ALTER TABLE may have been rolled back with it: re-read the real columns.
        with contextlib.suppress(sqlite3.Error):
            self._columns = table_columns(conn, "results")
            self._run_columns = table_columns(conn, "runs")

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
            the row's ``predictions_path`` is then that path relative to the store root. They are
            encoded (labels shared by a fold's jobs, predictions derived from probabilities,
            narrow integers: :mod:`mlbench.store.predictions`); the run reader gives back the
            same dict, exactly.

        Raises
        ------
        ValueError
            A key is not a valid column name, is store-owned (``attempt``, ``run_id``,
            ``predictions_path``), ``job_id`` is missing or unusable as a file name, ``status``
            is not one of ok, failed, timeout, oom, skipped, a predictions key is empty or holds
            a slash, or an array holds Python objects.
        MlbenchError
            A truth file already in the folder is not what its name says (changed or damaged).
        """
        job_id = row.get("job_id")
        if not isinstance(job_id, str) or not job_id:
            raise ValueError(f"record needs a non-empty string job_id, got {job_id!r}")
        status = row.get("status")
        if status not in STATUSES:
            raise ValueError(f"invalid status {status!r} for job {job_id}; use one of {sorted(STATUSES)}")
        for key in row:
            check_column(key)
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
                f"INSERT INTO results ({', '.join(quote(k) for k in keys)}) "
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
            self._add_column("results", self._columns, key, column_type(key, value))
        return out

    def _add_column(self, table: str, cache: dict[str, str], key: str, col_type: str) -> None:
        """Add a column inside a write transaction, tolerating another process that added it first.

        ``cache`` (this Store's view of the table's columns) may be stale when another writer
        shares the store (``--shared`` runs, or two runs racing to create a new folder): the real
        columns are re-read under the write lock first, and a "duplicate column name" from a
        creator that won anyway is taken as success.
        """
        cache.update(table_columns(self.conn, table))
        if key in cache:
            return
        try:
            self.conn.execute(f"ALTER TABLE {table} ADD COLUMN {quote(key)} {col_type}")
        except sqlite3.OperationalError as exc:
            if "duplicate column name" not in str(exc):
                raise
            cache.update(table_columns(self.conn, table))
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
            check_column(key)
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
                f"UPDATE results SET {', '.join(f'{quote(k)} = ?' for k in keys)} "
                "WHERE job_id = ? AND attempt = ?",
                [*(sql_values[k] for k in keys), job_id, attempt],
            )
            if cur.rowcount != 1:
                raise ValueError(f"no attempt {attempt} of job {job_id!r} in {self.db_path}")

    def _write_predictions(self, job_id: str, predictions: Mapping[str, np.ndarray]) -> str:
        """Write a job's arrays (format: :mod:`mlbench.store.predictions`); its path in the store.

        The truth files it refers to are written first, so a job file never points at a missing one.
        """
        if not _JOB_FILE_RE.match(job_id):
            raise ValueError(
                f"job_id {job_id!r} cannot name a predictions file; use letters, digits and ._+=- only"
            )
        for key in predictions:
            if not isinstance(key, str) or not key or "/" in key or "\\" in key:
                raise ValueError(
                    f"invalid predictions key {key!r} for job {job_id}; use a plain non-empty name"
                )
        encoded = encode(predictions)
        final = self.predictions_dir / f"{job_id}.npz"
        target = self.predictions_dir
        try:
            self.predictions_dir.mkdir(parents=True, exist_ok=True)
            for key, parts in encoded.truths.items():
                target = self.predictions_dir / TRUTH_DIR / f"{key}.npz"
                self._write_truth(key, parts)
            target = final
            write_npz_atomic(final, encoded.members)
        except OSError as exc:
            # the file the store was writing (the temp file it writes first is already removed)
            raise _file_write_error(target, exc) from None
        return f"{PREDICTIONS_DIR}/{final.name}"

    def _write_truth(self, key: str, parts: Mapping[str, np.ndarray]) -> None:
        """Write a truth file once; one already there must hold exactly ``parts`` (its name is their hash)."""
        if key in self._truths_checked:
            return
        folder = self.predictions_dir / TRUTH_DIR
        folder.mkdir(exist_ok=True)
        path = folder / f"{key}.npz"
        if path.exists() or not write_npz_atomic(path, parts, exclusive=True, compress=False):
            # written by an earlier record or run (or a --shared run just now): never rewritten, so
            # it must be what its content hash says
            try:
                with np.load(path, allow_pickle=False) as npz:
                    same = truth_key({name: npz[name] for name in npz.files}) == key
            except (OSError, ValueError, EOFError, zipfile.BadZipFile):
                same = False
            if not same:
                raise MlbenchError(
                    f"truth file {path} does not hold the rows its name (a hash of its content) says: "
                    "it was changed or damaged after it was written, so the predictions that use it "
                    "cannot be trusted; run the suite into a new output folder"
                )
        self._truths_checked.add(key)

    # -- diagnostics (train/test mismatch checks) ----------------------------------------------

    @_locked
    def diagnostics_done(self, settings: str) -> set[tuple[str, str]]:
        """(dataset, comparison) pairs whose mismatch checks are stored with these ``settings``."""
        if not has_table(self.conn, "diagnostics"):
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
            self.conn.execute(DIAGNOSTICS_DDL)
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
                    f"INSERT INTO diagnostics ({', '.join(quote(k) for k in keys)}) "
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


def _insert_trials(
    conn: sqlite3.Connection, job_id: str, attempt: int, trials: list[Mapping[str, Any]]
) -> None:
    """Store a tuned job attempt's trials (inside the transaction that records the attempt)."""
    # created on first use, so stores without tuning keep exactly the tables they had
    conn.execute(TRIALS_DDL)
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


def _timestamp(stamp: Any) -> float | None:
    """Seconds since the epoch of an ISO 8601 stamp of the store (None when missing or unreadable)."""
    if stamp is None:
        return None
    try:
        return datetime.fromisoformat(str(stamp)).timestamp()
    except ValueError:
        return None
