"""The run reader: one read-only door to a finished or running run.

:func:`open_run` returns a :class:`Run`: its results, its jobs' predictions (with the true labels),
its datasets (loaded through the absolute suite folder stored with the run, so a report built from
any working directory finds file datasets), its suite and job list. The report, the analyses,
export and the CLI read through it; only the coordinator writes, through :class:`mlbench.store.Store`.

Reading never creates or changes anything in the run folder and is safe while the coordinator
is still writing (SQLite in WAL mode: readers see the last committed state).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlbench.errors import MlbenchError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

    from mlbench.datasets import Dataset
    from mlbench.suite import Job, Suite

__all__ = ["Run", "meta_from_runs", "open_run"]

_SPLITS = ("train", "val", "test")
#: results columns a job's predictions are checked against (those a store has)
_CHECK_COLUMNS = ("job_id", "predictions_path", "dataset", "task_type", "run_id", "n_val", "n_test")
#: results columns that say which job a damaged file belongs to
_FAILURE_COLUMNS = ("dataset", "model", "fold", "repeat", "train_size", "n_train")


class Run:
    """A run folder, read-only. Build it with :func:`open_run`.

    Parameters
    ----------
    path : str or Path
        The run's output folder (holding ``results.sqlite``) or the ``results.sqlite`` file.

    Raises
    ------
    MlbenchError
        There are no results at ``path``, they are not an mlbench store, or a newer mlbench wrote them.
    """

    def __init__(self, path: str | Path) -> None:
        from mlbench.store.read import PredictionFiles, open_read_only, resolve_db

        self.db_path = resolve_db(path)
        self.path = self.db_path.parent
        with open_read_only(self.db_path):
            pass  # checked now, so a bad path fails here and not at the first read
        self._prediction_files = PredictionFiles(self.path)
        #: run id -> the datasets' facts that run recorded (see :meth:`data_facts`)
        self._facts: dict[int, dict[str, dict[str, Any]]] = {}
        #: (file, size, mtime) -> the problem a full check found (None: usable)
        self._checked: dict[tuple[str, int, int], str | None] = {}
        self._datasets: dict[str, Any] = {}
        self._meta: dict[str, Any] | None = None
        self._suite: Suite | None = None
        self._suite_parsed = False

    def __repr__(self) -> str:
        return f"open_run({str(self.path)!r})"

    # -- tables ------------------------------------------------------------------------------

    def results(self, all_attempts: bool = False) -> pd.DataFrame:
        """The results table: one row per job (its latest attempt), or every attempt.

        Parameters
        ----------
        all_attempts : bool
            Every attempt instead of the latest attempt per job.

        Returns
        -------
        pandas.DataFrame
            Columns job_id, attempt, dataset, task_type, model, params_json, fold, repeat,
            train_size, n_train, seed, status, error, ``train_/val_/test_<metric>``, fit_seconds,
            predict_seconds, peak_memory_mb, ...; numeric columns are numeric even when empty.
        """
        from mlbench.store.read import load_results

        return load_results(self.db_path, all_attempts=all_attempts)

    def trials(self) -> pd.DataFrame:
        """Every trial of the tuned jobs' latest attempts (empty when nothing was tuned).

        Returns
        -------
        pandas.DataFrame
            One row per trial: job_id, attempt, number, params (dict), value (the tuning metric
            on the job's validation rows; for a pruned trial its last reported intermediate
            value, as Optuna keeps it; None for a failed one), state (complete, pruned, fail),
            seconds, started_at, intermediate (step -> value), error, distributions (parameter
            -> Optuna distribution JSON). Join on job_id with :meth:`results` for dataset,
            model and fold.
        """
        from mlbench.store.read import read_trials

        return read_trials(self.db_path)

    def diagnostics(self) -> pd.DataFrame:
        """The train/test mismatch checks stored with the run (see :mod:`mlbench.analysis.run_drift`).

        Returns
        -------
        pandas.DataFrame
            One row per dataset x comparison (``test_file``, ``cv_fold_0``) x check (``feature``,
            ``label``, ``domain``, ``mmd``, ``bbsd``, and one ``verdict`` row per comparison) x
            feature: statistic, p, p_corrected, effect, effect_name, flagged (bool), verdict,
            n_train, n_test, settings, error, detail (JSON text, verdict rows). Empty (with these
            columns) when the run stored none.
        """
        from mlbench.store.read import open_read_only, read_diagnostics

        with open_read_only(self.db_path) as conn:
            return read_diagnostics(conn)

    def runs(self) -> pd.DataFrame:
        """Every invocation that wrote to this folder (``mlbench run``, resumes), oldest first."""
        from mlbench.store.read import open_read_only, read_runs

        with open_read_only(self.db_path) as conn:
            return read_runs(conn)

    @property
    def meta(self) -> dict[str, Any]:
        """The latest invocation's suite name, times, status, metrics, versions and hardware.

        See :func:`meta_from_runs`; also ``base_dir``, the absolute folder of the suite file.
        """
        if self._meta is None:
            self._meta = meta_from_runs(self.runs())
        return self._meta

    # -- suite, jobs, datasets ---------------------------------------------------------------

    @property
    def suite(self) -> Suite | None:
        """The suite as stored with the latest run (None when none was stored or it no longer parses).

        Relative paths in it resolve against the suite file's folder recorded with the run, not
        against the working directory. Reading it is pure (:func:`mlbench.suite.parse_suite`): it
        is the same on every machine (no GPU probe, no file looked at), and nothing it names is
        imported or run — its plugins stay unloaded, their models are taken as written.
        """
        if not self._suite_parsed:
            self._suite_parsed = True
            text = self._suite_text()
            if text is not None:
                from mlbench.suite import parse_suite

                try:
                    self._suite = parse_suite(
                        text,
                        filename=str(self.meta.get("suite_path") or "suite"),
                        base_dir=self.base_dir,
                        output=self.path,
                    )
                except MlbenchError:
                    self._suite = None
        return self._suite

    @property
    def base_dir(self) -> Path:
        """Absolute folder the suite's relative paths (data files, plugins, weights) resolve against.

        Stored with every run since the run reader exists; for older runs, the folder of the stored
        suite path, taken relative to this run folder's parent when it is relative and not found
        from the working directory.
        """
        stored = self.meta.get("base_dir")
        if isinstance(stored, str) and stored:
            return Path(stored)
        suite_path = self.meta.get("suite_path")
        if isinstance(suite_path, str) and suite_path:
            folder = Path(suite_path).parent
            if folder.is_absolute() or folder.resolve().is_dir():
                return folder.resolve()
        return self.path.resolve()

    def jobs(self) -> list[Job]:
        """The stored suite's jobs, in the order the suite expands them ([] without a suite)."""
        suite = self.suite
        return suite.expand() if suite is not None else []

    def dataset_specs(self) -> dict[str, dict[str, Any]]:
        """Dataset name -> the loader spec the run used (from the stored suite)."""
        suite = self.suite
        if suite is not None:
            return {entry.name: entry.spec for entry in suite.datasets}
        # The suite no longer validates (a plugin file gone, say): its dataset entries still name
        # the data, which is all a dataset needs.
        import yaml

        from mlbench.datasets import dataset_entry, dataset_name

        try:
            data = yaml.safe_load(self._suite_text() or "") or {}
        except yaml.YAMLError:
            return {}
        out: dict[str, dict[str, Any]] = {}
        for entry in data.get("datasets") or [] if isinstance(data, dict) else []:
            spec = dataset_entry(entry)
            if isinstance(spec, dict):
                out.setdefault(dataset_name(spec), spec)
        return out

    def dataset(self, name: str) -> Dataset:
        """Load one of the run's datasets as the run saw it (same spec, same folder).

        Raises
        ------
        MlbenchError
            The run has no dataset of that name (the message lists its datasets), or it cannot be
            loaded any more (:class:`~mlbench.errors.DatasetError`: a file moved or changed).
        """
        if name not in self._datasets:
            specs = self.dataset_specs()
            if name not in specs:
                from mlbench.errors import did_you_mean

                raise MlbenchError(
                    f"run {self.path} has no dataset {name!r}.{did_you_mean(name, specs)} "
                    f"Its datasets: {', '.join(specs) or 'none stored'}"
                )
            from mlbench.datasets import load_dataset

            self._datasets[name] = load_dataset(specs[name], self.base_dir)
        return self._datasets[name]

    def _suite_text(self) -> str | None:
        runs = self.runs()
        if "suite_yaml" not in runs.columns:
            return None
        for text in runs["suite_yaml"].iloc[::-1]:  # the newest run that stored one
            if isinstance(text, str) and text.strip():
                return text
        return None

    def export(self, out: str | Path, format: str = "csv", all_attempts: bool = False) -> Path:
        """Write the results table to a CSV or Parquet file.

        Parameters
        ----------
        out : str or Path
            The file to write; when it is an existing folder, ``results.<format>`` inside it.
        format : {"csv", "parquet"}
        all_attempts : bool
            Every attempt instead of the latest attempt per job.

        Returns
        -------
        Path
            The file written (atomically: a reader never sees half a file).
        """
        import contextlib
        import os

        if format not in ("csv", "parquet"):
            raise MlbenchError(f"unknown export format {format!r}; use csv or parquet")
        df = self.results(all_attempts=all_attempts)
        from mlbench.outputs import prepare_parent, write_error

        out = Path(out)
        if out.is_dir():
            out = out / f"results.{format}"
        prepare_parent(out)
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        try:
            if format == "csv":
                df.to_csv(tmp, index=False)
            else:
                df.to_parquet(tmp, index=False)
            os.replace(tmp, out)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise write_error(out, exc) from None
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        return out

    # -- predictions -------------------------------------------------------------------------

    def predictions(self, job_id: str, check: bool = True) -> dict[str, np.ndarray]:
        """Prediction arrays of a job's latest attempt that stored some, with the true labels.

        Parameters
        ----------
        job_id : str
        check : bool
            Check every array against the job before handing it out (see Raises): its rows (the
            ``n_val``/``n_test`` of its results row, the dataset's rows for the row numbers)
            and its dataset's class count (recorded with the run that ran it). Rows of other
            task types than classification and regression (written by other tools) are not
            checked. ``False`` gives the file's arrays as they are.

        Returns
        -------
        dict of str to numpy.ndarray
            For each split stored (``train``, ``val``, ``test``): ``<split>_index`` (rows of the
            dataset; of its own test file for ``test`` when it has one), ``<split>_pred``,
            ``<split>_true`` (class codes or values) and, for classifiers, ``<split>_proba`` (one
            column per class code); plus any model artifacts (``viz_*``). ``{}`` when the job
            stored none. Runs written before labels were stored get them from the dataset.

        Raises
        ------
        MlbenchError
            The file is damaged: it does not decode, or (``check``) an array has the wrong
            length, shape or dtype, NaN or infinite probabilities, class codes past the class
            count or row numbers outside the dataset. The message names the file; every analysis
            (the report, ensembles, rescoring) then leaves the job's predictions out.
        OSError, ValueError, zipfile.BadZipFile
            The file is missing or not an npz file.
        """
        found = self._prediction_row(job_id)
        if found is None:
            return {}
        arrays = self._prediction_files.read(str(found["predictions_path"]))
        self._add_labels(arrays, str(found["dataset"]))
        problems = self._array_problems(found, arrays) if check else []
        if problems:
            shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
            raise MlbenchError(
                f"cannot use predictions {self.path / str(found['predictions_path'])} of job {job_id}: "
                f"{shown}; the file is damaged or was changed, so every analysis leaves the job's "
                "predictions out (run the suite into a new output folder to get them back)"
            )
        return arrays

    def _prediction_row(self, job_id: str) -> dict[str, Any] | None:
        """The columns of the job's latest attempt with predictions that checking them needs."""
        from mlbench.store.read import open_read_only
        from mlbench.store.schema import quote, table_columns

        with open_read_only(self.db_path) as conn:
            have = table_columns(conn, "results")
            cols = [c for c in _CHECK_COLUMNS if c in have]
            cur = conn.execute(
                f"SELECT {', '.join(quote(c) for c in cols)} FROM results WHERE job_id = ? AND "
                "predictions_path IS NOT NULL ORDER BY attempt DESC LIMIT 1",
                (job_id,),
            )
            found = cur.fetchone()
        return None if found is None else dict(zip(cols, found, strict=True))

    def _add_labels(self, arrays: dict[str, Any], dataset: str) -> None:
        """Runs written before the true labels were stored: take them from the dataset."""
        import numpy as np

        missing = [s for s in _SPLITS if f"{s}_index" in arrays and f"{s}_true" not in arrays]
        if missing:
            ds = self.dataset(dataset)
            for split in missing:
                own_test = split == "test" and ds.test_y is not None
                y = ds.test_y if own_test else ds.y
                arrays[f"{split}_true"] = np.asarray(y)[np.asarray(arrays[f"{split}_index"], dtype=np.int64)]

    def _array_problems(self, row: dict[str, Any], arrays: dict[str, Any]) -> list[str]:
        """What does not fit the job in its arrays (:func:`mlbench.store.predictions.array_problems`)."""
        from mlbench.store.predictions import array_problems
        from mlbench.values import is_missing

        task = row.get("task_type")
        if task not in ("classification", "regression"):
            return []  # not a job mlbench ran: nothing known to check against
        facts = self._facts_for(row.get("run_id"), str(row.get("dataset")))
        lengths = {
            split: int(row[col])
            for split, col in (("val", "n_val"), ("test", "n_test"))
            if not is_missing(row.get(col))
        }
        return array_problems(
            arrays,
            task_type=str(task),
            n_classes=facts.get("n_classes") if task == "classification" else None,
            n_rows=facts.get("n_rows"),
            n_test_rows=facts.get("n_test_rows"),
            lengths=lengths,
        )

    # -- what each run loaded --------------------------------------------------------------------

    def data_facts(self) -> dict[str, dict[str, Any]]:
        """Job id -> what the run that recorded the job's latest attempt loaded for its dataset.

        Returns
        -------
        dict
            ``fingerprint`` (a hash of the loaded target and its classes: two runs with equal
            ones saw the same labels), ``n_rows``, ``n_test_rows`` (its own test file's, or
            None), ``n_classes`` (0 for regression), ``task_type``. A job of a run that did not
            record them (older runs; runs that only built ensembles take them from the latest run
            that did) is left out.
        """
        from mlbench.store.read import open_read_only

        with open_read_only(self.db_path) as conn:
            rows = conn.execute(
                "SELECT r.job_id, r.run_id, r.dataset FROM results AS r WHERE r.attempt = "
                "(SELECT MAX(attempt) FROM results WHERE job_id = r.job_id)"
            ).fetchall()
        out = {}
        for job_id, run_id, dataset in rows:
            facts = self._facts_for(run_id, str(dataset))
            if facts:
                out[str(job_id)] = facts
        return out

    def _facts_for(self, run_id: Any, dataset: str) -> dict[str, Any]:
        """The facts of ``dataset`` as run ``run_id`` loaded it ({} when unknown)."""
        from mlbench.values import is_missing

        key = None if is_missing(run_id) else int(run_id)
        if not self._facts or (key is not None and key not in self._facts):
            self._load_facts()
            if key is not None:
                self._facts.setdefault(key, {})  # asked once: a run that recorded none stays so
        by_run = self._facts.get(key, {}) if key is not None else {}
        if by_run:
            return dict(by_run.get(dataset) or {})
        # a run that recorded none (it only built ensembles, or an older run): the latest that did
        for facts in reversed(list(self._facts.values())):
            if dataset in facts:
                return dict(facts[dataset])
        return {}

    def _load_facts(self) -> None:
        runs = self.runs()
        recorded = runs["data_fingerprints"] if "data_fingerprints" in runs.columns else [None] * len(runs)
        for run_id, facts in zip(runs["run_id"], recorded, strict=True):
            facts = _maybe_json(facts)
            self._facts[int(run_id)] = facts if isinstance(facts, dict) else {}
        self._facts.setdefault(-1, {})  # loaded (a store without runs)

    # -- damaged prediction files ----------------------------------------------------------------

    def prediction_failures(self, dataset: str | None = None) -> list[dict[str, Any]]:
        """The jobs whose stored predictions cannot be used, each with what is wrong.

        Every prediction file the store lists for its jobs' latest attempts is checked: it exists,
        it and the shared truth files it needs read, and its arrays fit the job (as
        :meth:`predictions` checks them). A file's verdict is kept while it is unchanged, so
        asking again costs nothing.

        Parameters
        ----------
        dataset : str, optional
            Only the jobs of this dataset.

        Returns
        -------
        list of dict
            ``job_id``, ``dataset``, ``model``, ``fold``, ``repeat``, ``train_size``, ``n_train``,
            ``path`` (the file) and ``problem``.
        """
        from mlbench.store.read import open_read_only
        from mlbench.store.schema import quote, table_columns

        with open_read_only(self.db_path) as conn:
            have = table_columns(conn, "results")
            cols = list(dict.fromkeys([*_CHECK_COLUMNS, *(c for c in _FAILURE_COLUMNS if c in have)]))
            cols = [c for c in cols if c in have]
            cur = conn.execute(
                f"SELECT {', '.join(quote(c) for c in cols)} FROM results "
                "WHERE predictions_path IS NOT NULL ORDER BY attempt"
            )
            rows = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
        latest = {str(r["job_id"]): r for r in rows}  # the last attempt that stored predictions
        out = []
        for job_id, row in latest.items():
            if dataset is not None and str(row.get("dataset")) != dataset:
                continue
            problem = self._file_problem(row)
            if problem is not None:
                path = self.path / str(row["predictions_path"])
                out.append(
                    {
                        **{c: row.get(c) for c in _FAILURE_COLUMNS},
                        "job_id": job_id,
                        "path": str(path),
                        "problem": problem,
                    }
                )
        return out

    def _file_problem(self, row: dict[str, Any]) -> str | None:
        """What is wrong with a job's prediction file (None when it is usable), remembered per file state."""
        import zipfile

        rel = str(row["predictions_path"])
        path = self.path / rel
        try:
            st = path.stat()
            state: tuple[str, int, int] | None = (rel, st.st_size, st.st_mtime_ns)
        except OSError:
            state = None
        if state is not None and state in self._checked:
            return self._checked[state]
        problem = self._prediction_files.problem(rel)
        if problem is None:
            try:
                arrays = self._prediction_files.read(rel)
                self._add_labels(arrays, str(row.get("dataset")))
                found = self._array_problems(row, arrays)
                if found:
                    more = f"; and {len(found) - 5} more" if len(found) > 5 else ""
                    problem = f"{path} is damaged: {'; '.join(found[:5])}{more}"
            except (OSError, ValueError, EOFError, zipfile.BadZipFile, MlbenchError) as exc:
                problem = f"{path} is unreadable ({type(exc).__name__}: {exc})"
        if state is not None:
            self._checked[state] = problem
        return problem

    def prediction_problems(self) -> list[str]:
        """Prediction files of the jobs' latest attempts that are missing, unreadable or damaged.

        Returns
        -------
        list of str
            One line per bad file: the job (dataset, model, fold), the file and what is wrong (see
            :meth:`prediction_failures`).
        """
        return [
            f"job {f['job_id']} ({f['dataset']} / {f['model']} fold {f['fold']}): {f['problem']}"
            for f in self.prediction_failures()
        ]

    # -- analyses -----------------------------------------------------------------------------

    def _primary(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        if kwargs.get("metric") is None and kwargs.get("primary") is None and self.meta.get("primary_metric"):
            kwargs["primary"] = self.meta["primary_metric"]
        return kwargs

    def leaderboard(self, **kwargs: Any) -> pd.DataFrame:
        """:func:`mlbench.analysis.leaderboard` of this run, on the suite's primary metrics."""
        from mlbench import analysis

        return analysis.leaderboard(self.results(), **self._primary(kwargs))

    def learning_curves(self, **kwargs: Any) -> pd.DataFrame:
        """:func:`mlbench.analysis.learning_curves` of this run, on the suite's primary metrics.

        Single-split datasets get their bootstrap intervals from this run's stored predictions.
        """
        from mlbench import analysis

        kwargs.setdefault("predictions", self.predictions)
        return analysis.learning_curves(self.results(), **self._primary(kwargs))

    def fingerprint(self) -> str:
        """A short hash of everything the report shows (results, runs, mlbench's version).

        Equal fingerprints mean an existing report of this run is still up to date.
        """
        import hashlib

        from mlbench._version import __version__
        from mlbench.store.read import open_read_only

        with open_read_only(self.db_path) as conn:
            conn.execute("BEGIN")
            try:
                state = [
                    conn.execute("SELECT COUNT(*), MAX(rowid), TOTAL(attempt) FROM results").fetchone(),
                    conn.execute("SELECT COUNT(*), MAX(run_id) FROM runs").fetchone(),
                    # Scores added later to finished jobs (Store.update) are written by a run of
                    # their own, so a new run row covers them too.
                    conn.execute(
                        "SELECT status, finished_at FROM runs ORDER BY run_id DESC LIMIT 1"
                    ).fetchone(),
                ]
            finally:
                conn.execute("COMMIT")
        text = json.dumps([__version__, str(self.path.resolve()), state], default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def open_run(path: str | Path) -> Run:
    """Open a run folder read-only.

    Parameters
    ----------
    path : str or Path
        The run's output folder (``reports/<suite>``) or its ``results.sqlite``.

    Returns
    -------
    Run

    Examples
    --------
    >>> import mlbench
    >>> run = mlbench.open_run("reports/quick")  # doctest: +SKIP
    >>> run.leaderboard()  # doctest: +SKIP
    >>> run.predictions(run.results()["job_id"][0])["test_true"]  # doctest: +SKIP
    """
    return Run(path)


# --------------------------------------------------------------------------------------------
# run metadata


def meta_from_runs(runs: Any) -> dict[str, Any]:
    """Build a run's metadata from the latest row of its ``runs`` table.

    Parameters
    ----------
    runs : pandas.DataFrame or None
        Columns ``suite`` (or ``name``), ``started_at``, ``finished_at``, ``status``,
        ``primary_metric``, ``metrics``, ``versions``, ``hardware``, ``suite_path``, ``base_dir``.
        ``primary_metric`` may be a task -> name dict or one name; ``metrics`` a task -> names
        dict or a flat list (grouped by the metric registry).

    Returns
    -------
    dict
        ``suite``, ``suite_path``, ``base_dir``, ``started_at``, ``finished_at``, ``status``,
        ``primary_metric`` (task -> metric), ``metrics`` (task -> names), ``versions``,
        ``hardware``; ``{}`` when there is no run row.
    """
    from mlbench.values import is_missing

    if runs is None or len(runs) == 0:
        return {}
    if "started_at" in runs.columns:
        runs = runs.sort_values("started_at", na_position="first", kind="stable")
    # pandas gives NaN for missing cells; the summary expects None.
    row = {k: (None if is_missing(v) else v) for k, v in runs.iloc[-1].to_dict().items()}
    metrics = _by_task(_maybe_json(row.get("metrics")))
    primary = _maybe_json(row.get("primary_metric"))
    if isinstance(primary, str):
        task = _task_of(primary)
        # One suite-wide name: it applies to its own task type; other tasks fall back to their first metric.
        primary = {task: primary} if task else dict.fromkeys(metrics, primary)
    return {
        # The store names the column "suite"; "name" is accepted too.
        "suite": row.get("suite") or row.get("name"),
        "suite_path": row.get("suite_path"),
        "base_dir": row.get("base_dir"),
        "started_at": row.get("started_at"),
        "finished_at": row.get("finished_at"),
        "status": row.get("status"),
        "primary_metric": primary if isinstance(primary, dict) else {},
        "metrics": metrics,
        "versions": _dict_or_empty(_maybe_json(row.get("versions"))),
        "hardware": _dict_or_empty(_maybe_json(row.get("hardware"))),
    }


def _maybe_json(value: Any) -> Any:
    """Decode a JSON object/array stored as text (a store column it did not decode); else unchanged."""
    if isinstance(value, str) and value.strip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _dict_or_empty(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _task_of(metric: str) -> str | None:
    from mlbench.metrics import METRICS

    return METRICS.get(metric).task_type if metric in METRICS else None


def _by_task(metrics: Any) -> dict[str, list[str]]:
    if isinstance(metrics, dict):
        return {str(k): list(v) for k, v in metrics.items()}
    out: dict[str, list[str]] = {}
    if isinstance(metrics, (list, tuple)):
        for name in metrics:
            task = _task_of(str(name))
            if task:
                out.setdefault(task, []).append(str(name))
    return out
