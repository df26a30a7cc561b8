"""The coordinator: plan a run (resume), hand its jobs to an executor, record every result, then
run the post-run stages.

:func:`run_suite` is the store's only writer; executors (:mod:`mlbench.execution`) hand it each
finished job through a callback and it commits the row (and predictions) right away, so a crash
or kill loses at most the jobs in flight. What is already in the store is read through the run
reader (:func:`mlbench.reader.open_run`).

A run is a list of named stages (:data:`STAGES`): ``rescore`` (finished jobs get the metrics the
suite now lists, from their stored predictions), ``jobs`` (the executor runs what is left, while
the train/test mismatch checks run in a background thread), ``diagnostics`` (their rows are
recorded), ``ensembles`` (built from the stored predictions) and ``report``. Each stage's wall
time goes to :attr:`RunOutcome.stage_seconds` (``mlbench run -v`` prints them). This is the only
module that imports the executors, the analyses, the report and the writer :class:`~mlbench.store.Store`.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from mlbench.reader import Run
    from mlbench.store import Store
    from mlbench.suite import Job, Suite

__all__ = [
    "STAGES",
    "Plan",
    "Rescore",
    "RunOutcome",
    "Stage",
    "build_run_ensembles",
    "plan_run",
    "preflight_models",
    "preflight_resampling",
    "run_suite",
]


@dataclass(frozen=True)
class Rescore:
    """A finished job that lacks some of the suite's metrics; they are computed from its stored predictions."""

    job_id: str
    attempt: int
    task_type: str
    scored: tuple[str, ...]  # metrics the job has
    missing: tuple[str, ...]  # metrics to add


@dataclass
class Plan:
    """Which jobs a (re-)run will execute, and which finished ones get new metrics."""

    jobs: list[Job]
    to_run: list[Job]
    skipped_ok: int
    skipped_failed: int
    to_rescore: list[Rescore] = field(default_factory=list)
    #: ensemble rows to add or rebuild from the jobs already stored (more follow from new jobs)
    ensembles_pending: int = 0
    #: (dataset, comparison) train/test mismatch checks not stored yet with the suite's settings
    diagnostics_pending: list[tuple[str, str]] = field(default_factory=list)

    @property
    def n_total(self) -> int:
        """Number of jobs in the suite."""
        return len(self.jobs)

    @property
    def has_work(self) -> bool:
        """False when a rerun would change nothing in the store."""
        return bool(self.to_run or self.to_rescore or self.ensembles_pending or self.diagnostics_pending)


@dataclass
class RunOutcome:
    """What a run did: counts by status of the jobs it ran, and where results are."""

    output: Path
    counts: Counter = field(default_factory=Counter)
    interrupted: bool = False
    report: Path | None = None
    report_error: str | None = None
    rescored: int = 0
    #: ensemble rows recorded, by status
    ensembles: Counter = field(default_factory=Counter)
    #: jobs of the suite whose latest attempt failed and were not re-run (no --retry-failed)
    failed_remaining: int = 0
    #: runs marked ``crashed`` at the start (their coordinator died while running)
    crashed_runs: list[int] = field(default_factory=list)
    #: ``--shared``: PIDs of other runs still working when this one finished; the last one to
    #: finish builds the ensembles and the report
    deferred_to: list[int] = field(default_factory=list)
    #: wall seconds of each stage this run went through (see :data:`STAGES`), in order
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def all_ok(self) -> bool:
        """True when every job run in this invocation ended ok (skipped counts as ok)."""
        return all(status in ("ok", "skipped") for status in self.counts)


def _open_existing(suite: Suite) -> Run | None:
    from mlbench.reader import open_run

    if not (Path(suite.output) / "results.sqlite").exists():
        return None
    return open_run(suite.output)


def plan_run(suite: Suite, retry_failed: bool = False) -> Plan:
    """Expand the suite and decide what to run given the store at ``suite.output``.

    Jobs whose latest attempt is ok (or skipped) are not run again; never-finished jobs run;
    failed / timeout / oom jobs run again only with ``retry_failed``. Finished ok jobs that lack a
    metric the suite now lists are planned for rescoring from their stored predictions (the job id
    leaves metrics out, so adding one does not refit anything).
    """
    from mlbench.outputs import check_output_dir

    check_output_dir(suite.output)
    jobs = suite.expand()
    run = _open_existing(suite)
    results = run.results() if run is not None else None
    latest: dict[str, str] = {}
    if results is not None and len(results):
        latest = dict(zip(results["job_id"], results["status"], strict=True))
    to_run, ok, failed = [], 0, 0
    for job in jobs:
        status = latest.get(job.job_id)
        if status in ("ok", "skipped"):
            ok += 1
        elif status is not None and not retry_failed:
            failed += 1
        else:
            to_run.append(job)
    rescore = _rescore_plan(suite, results, {j.job_id for j in jobs}) if results is not None else []
    pending = 0
    if suite.ensembles and results is not None:
        from mlbench.analysis.run_ensembles import pending_ensembles

        pending = pending_ensembles(results, suite.ensembles, suite.seed)
    return Plan(
        jobs=jobs,
        to_run=to_run,
        skipped_ok=ok,
        skipped_failed=failed,
        to_rescore=rescore,
        ensembles_pending=pending,
        diagnostics_pending=_diagnostics_pending(suite, run),
    )


def _diagnostics_options(suite: Suite) -> Any:
    from mlbench.analysis.run_drift import DiagnosticsOptions

    d = suite.diagnostics
    return DiagnosticsOptions(d.enabled, d.alpha, d.permutations, d.max_rows)


def _diagnostics_pending(suite: Suite, run: Run | None) -> list[tuple[str, str]]:
    """Mismatch checks the store lacks (computed once per dataset and settings; resume skips them)."""
    if not suite.diagnostics.enabled:
        return []
    done: set[tuple[str, str]] = set()
    if run is not None:
        stored = run.diagnostics()
        if len(stored):
            # errors count as done, like failed jobs: the same settings would fail the same way
            ok = stored[stored["settings"] == _diagnostics_options(suite).key]
            done = set(zip(ok["dataset"].astype(str), ok["comparison"].astype(str), strict=True))
    from mlbench.analysis.run_drift import comparisons

    wanted = [(entry.name, comparison) for entry in suite.datasets for comparison in comparisons(entry.spec)]
    return [w for w in wanted if w not in done]


@dataclass
class _Background:
    """A background thread's result: ``ready()`` without waiting, ``wait()`` for it."""

    thread: Any
    box: dict[str, Any]

    def ready(self) -> bool:
        return not self.thread.is_alive()

    def wait(self) -> Any:
        self.thread.join()
        return self.box["out"]


def _start_diagnostics(suite: Suite, plan: Plan) -> _Background:
    """Compute the pending mismatch checks in a background thread, alongside the jobs.

    The coordinator mostly waits on its workers, so the checks use its idle time; they write
    nothing themselves (the store is written from the coordinator's thread, which records them
    as soon as they are ready). The result holds ``(dataset, comparison, rows)`` triples.
    """
    import threading

    from mlbench.analysis.run_drift import comparisons, error_rows, suite_diagnostics

    pending = set(plan.diagnostics_pending)
    wanted_datasets = {d for d, _ in pending}
    done_pairs = {
        (entry.name, c)
        for entry in suite.datasets
        for c in comparisons(entry.spec)
        if (entry.name, c) not in pending
    }
    box: dict[str, Any] = {"out": []}

    def work() -> None:
        import contextlib
        import copy
        import os

        # Lowest CPU priority for this thread only (Linux threads have their own nice value): the
        # checks then run on cores the jobs leave idle (workers starting, the queue's tail) instead
        # of slowing the jobs down; once the jobs are done the cores are free and they run at full
        # speed. Heavy parts (BLAS, HistGradientBoosting) release the GIL, so the coordinator's
        # own thread is not held up.
        with contextlib.suppress(AttributeError, OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        partial = copy.copy(suite)
        partial.datasets = [e for e in suite.datasets if e.name in wanted_datasets]
        try:
            box["out"] = suite_diagnostics(partial, _diagnostics_options(suite), skip=done_pairs)
        except Exception as exc:  # recorded per pending comparison, never a crash of the run
            # stored as "not checked" rows (done with these settings), so a rerun does not find
            # the same checks pending and record a new run each time
            message = f"{type(exc).__name__}: {exc}"
            box["out"] = [(d, c, error_rows(d, c, message)) for d, c in sorted(pending)]

    thread = threading.Thread(target=work, name="mlbench-diagnostics", daemon=True)
    thread.start()
    return _Background(thread, box)


def _rescore_plan(suite: Suite, results: Any, job_ids: set[str]) -> list[Rescore]:
    import pandas as pd

    if not len(results):
        return []
    done = results[(results["status"] == "ok") & results["job_id"].isin(job_ids)]
    has_list = "scored_metrics" in done.columns
    out = []
    for row in done.to_dict("records"):
        task = row.get("task_type")
        wanted = suite.metrics.get(task, []) if isinstance(task, str) else []
        listed = row.get("scored_metrics") if has_list else None
        if isinstance(listed, str):
            scored = tuple(m for m in listed.split(",") if m)
        else:
            # Rows written before the list was kept: a metric with any value was scored.
            scored = tuple(
                m
                for m in wanted
                if any(not pd.isna(row.get(f"{split}_{m}")) for split in ("train", "val", "test"))
            )
        missing = tuple(m for m in wanted if m not in scored)
        if missing:
            out.append(Rescore(str(row["job_id"]), int(row["attempt"]), str(task), scored, missing))
    return out


def _rescore(run: Run, store: Store, item: Rescore) -> None:
    """Score a finished job's stored predictions on the metrics it lacks, and record them."""
    from mlbench.metrics import score

    arrays = run.predictions(item.job_id)
    values: dict[str, Any] = {}
    for split in ("train", "val", "test"):
        if f"{split}_pred" not in arrays or f"{split}_true" not in arrays:
            continue  # e.g. train predictions, not stored before mlbench kept them
        proba = arrays.get(f"{split}_proba")
        k = 0 if proba is None else int(proba.shape[1])
        proba = None if proba is None else proba.astype("float64")
        if proba is not None and len(proba):
            # stored as float32: renormalise so that log_loss sees rows summing to 1
            proba = proba / proba.sum(axis=1, keepdims=True)
        scores = score(list(item.missing), arrays[f"{split}_true"], arrays[f"{split}_pred"], proba, k)
        values.update({f"{split}_{name}": v for name, v in scores.items()})
    values["scored_metrics"] = ",".join((*item.scored, *item.missing))
    store.update(item.job_id, item.attempt, values)


def _build_ensembles(suite: Suite, store: Store, outcome: RunOutcome, rebuild: bool = False) -> None:
    """Record the suite's ensembles of every (dataset, fold, train size, repeat) from stored predictions."""
    from mlbench.analysis.run_ensembles import build_ensembles
    from mlbench.execution.job import versions
    from mlbench.reader import open_run

    run = open_run(suite.output)
    for built in build_ensembles(
        run.results(),
        suite.ensembles,
        run.predictions,
        suite.primary_metric(),
        suite.metrics,
        suite_seed=suite.seed,
        suite=suite.name,
        versions=versions(),
        rebuild=rebuild,
    ):
        store.record(built.row, built.predictions)
        outcome.ensembles[built.row["status"]] += 1


def preflight_models(suite: Suite, jobs: list[Job] | None = None) -> None:
    """Checks that need the models' libraries (timm architectures, weights files), run before
    any job so that a typo fails the run at once (exit 2) instead of every job of that model.

    Parameters
    ----------
    suite : Suite
    jobs : list of Job, optional
        Only models with a job here are checked (a resume with nothing left for the CNN does not
        import torch to check its architecture); default every model of the suite.
    """
    from mlbench.errors import ConfigError
    from mlbench.models import MODELS

    labels = None if jobs is None else {job.model for job in jobs}
    problems = []
    for spec in suite.models:
        info = MODELS.get(spec.name)
        if info.preflight is None or (labels is not None and spec.label not in labels):
            continue
        for message in info.preflight(info.params_for(spec.params, "classification"), str(suite.base_dir)):
            problems.append(f"{spec.where}: models: {spec.label}: {message}")
    if problems:
        raise ConfigError(problems)


def _run_meta(suite: Suite, command: str) -> dict[str, Any]:
    """What a run row records about the suite, the libraries and the machine."""
    from mlbench.execution.job import versions
    from mlbench.hardware import hardware

    return {
        "name": suite.name,
        "suite_path": str(suite.path) if suite.path else None,
        # absolute, so the run's file datasets are found from any working directory later
        "base_dir": str(Path(suite.base_dir).resolve()),
        "suite_yaml": suite.text,
        "primary_metric": suite.primary_metric(),
        "metrics": suite.metrics,
        "versions": json.loads(versions()),
        "hardware": hardware(),
        "command": command,
    }


def _dataset_facts(suite: Suite, jobs: list[Job]) -> dict[str, dict[str, Any]]:
    """What each dataset with jobs in this run loaded as: a hash of its target, rows, classes.

    Stored with the run (``data_fingerprints``): a comparison of two runs pairs only jobs that
    saw the same data (two suites reading ``csv: data.csv`` from different folders name the
    same spec), and the run reader checks each job's stored predictions against its dataset's
    rows and classes. Datasets are cached per process, so this costs one hash of each target;
    one that does not load is left out (its jobs record why).
    """
    import hashlib

    import numpy as np

    from mlbench.datasets import load_dataset

    wanted = {job.dataset for job in jobs}
    out: dict[str, dict[str, Any]] = {}
    for entry in suite.datasets:
        if entry.name not in wanted:
            continue
        try:
            ds = load_dataset(entry.spec, suite.base_dir)
        except Exception:  # its jobs fail with the dataset's own message
            continue
        digest = hashlib.sha256()
        for part in (ds.y, ds.test_y):
            if part is None:
                digest.update(b"none;")
                continue
            y = np.ascontiguousarray(np.asarray(part))
            digest.update(f"{y.dtype.str}:{y.shape};".encode())
            digest.update(
                y.view(np.uint8).reshape(-1) if y.dtype != object and y.size else repr(y.tolist()).encode()
            )
        if ds.classes is not None:
            digest.update(json.dumps([str(c) for c in ds.classes]).encode())
        out[entry.name] = {
            "fingerprint": digest.hexdigest()[:16],
            "n_rows": len(ds.y),
            "n_test_rows": None if ds.test_y is None else len(ds.test_y),
            "n_classes": ds.n_classes,
            "task_type": ds.task_type,
        }
    return out


def preflight_resampling(suite: Suite, jobs: list[Job] | None = None) -> None:
    """Check that every dataset with jobs to run has rows (and classes) enough for the folds.

    ``folds: 200`` on a 150-row dataset would otherwise give 200 failed jobs; it is a config
    error (exit 2) before any job runs. Datasets that fail to load are left to their jobs, which
    record the dataset's own message.

    Parameters
    ----------
    suite : Suite
    jobs : list of Job, optional
        Only datasets with a job here are loaded; default every dataset of the suite.

    Raises
    ------
    ConfigError
        Located at ``resampling.folds``: the dataset, its rows (or its largest class) and the fix.
    """
    import numpy as np

    from mlbench.errors import ConfigError, MlbenchError

    resampling = suite.resampling
    if resampling.kind == "holdout" or resampling.column() is not None:
        # group_kfold / time_series: groups and times against the folds were checked with the
        # data by check_machine (mlbench.suite.checks.check_data), located at their keys
        return
    names = None if jobs is None else {job.dataset for job in jobs}
    folds = resampling.folds
    problems = []
    for entry in suite.datasets:
        if "test" in entry.spec or (names is not None and entry.name not in names):
            continue
        from mlbench.datasets import load_dataset

        try:
            data = load_dataset(entry.spec, suite.base_dir)
        except (MlbenchError, OSError, ValueError):
            continue
        n = len(data.y)
        if n < folds:
            problems.append(f"dataset {entry.name} has {n} rows, fewer than {folds} folds")
        elif data.task_type == "classification":
            largest = int(np.bincount(np.asarray(data.y, dtype="int64")).max())
            if largest < folds:
                # sklearn's StratifiedKFold refuses this: every class would be missing from some folds
                problems.append(
                    f"dataset {entry.name}: its largest class has {largest} rows, fewer than {folds} folds"
                )
    if problems:
        line, col = _locate(suite, ("resampling", "folds"))
        where = f"{suite.path or '<suite>'}:{line}:{col}: resampling.folds"
        raise ConfigError(
            [f"{where}: {p}; use at most {_max_folds(p)} folds or `kind: holdout`" for p in problems]
        )


def _max_folds(problem: str) -> str:
    import re

    found = re.search(r"has (\d+) rows", problem)
    return found.group(1) if found else "fewer"


def _locate(suite: Suite, path: tuple[Any, ...]) -> tuple[int, int]:
    import yaml

    from mlbench.suite.locations import Locator

    try:
        root = yaml.compose(suite.text, Loader=yaml.SafeLoader) if suite.text else None
    except yaml.YAMLError:
        root = None
    return Locator(root)(path)


def _start_heartbeat(store: Store, run_id: int) -> Callable[[], None]:
    """Stamp the run's heartbeat every few seconds from a thread; returns the function that stops it."""
    import contextlib
    import threading

    from mlbench.store import HEARTBEAT_SECONDS

    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_SECONDS):
            # a busy store or a closed one at shutdown: the next beat (or the end) will do
            with contextlib.suppress(Exception):
                store.heartbeat(run_id)

    thread = threading.Thread(target=beat, name="mlbench-heartbeat", daemon=True)
    thread.start()

    def halt() -> None:
        stop.set()
        thread.join(timeout=5)

    return halt


def _run_shared(
    suite: Suite,
    *,
    store: Store,
    run_id: int,
    jobs: list[Job],
    seen: dict[str, int],
    executor: Any,
    record: Callable[..., None],
) -> None:
    """Run ``jobs`` in batches, claiming each batch in the store first (``--shared`` runs).

    A batch holds at least as many jobs as the executor has workers, and more while much is
    left (guided self-scheduling, see :meth:`~mlbench.store.Store.claim_jobs`); a job claimed by
    another live run, or recorded by one since this run planned, is left to it. Batches end together (a worker may idle while the batch's longest job finishes):
    the price of claiming each job before it starts without changing the executors. Each batch
    is one ``executor.run`` call, so an executor that starts a cluster per call (dask without an
    ``address``) pays that start per batch; shared runs are meant for the local executor.
    """
    from mlbench.execution.local import default_workers

    # executors without a worker count of their own (dask with an address) get one job per core here
    batch_size = max(
        1, int(getattr(executor, "workers", None) or suite.executor.workers or default_workers())
    )
    remaining = [(job.job_id, seen.get(job.job_id, 0)) for job in jobs]
    by_id = {job.job_id: job for job in jobs}
    while remaining:
        claimed, gone = store.claim_jobs(run_id, remaining, batch_size, guided=True)
        if not claimed:
            return  # what is left is claimed by live runs: theirs to finish
        taken = set(claimed) | gone
        remaining = [item for item in remaining if item[0] not in taken]
        executor.run([by_id[job_id] for job_id in claimed], record)


def run_suite(
    suite: Suite,
    *,
    retry_failed: bool = False,
    workers: int | None = None,
    on_plan: Callable[[Plan], None] | None = None,
    on_result: Callable[[Job, dict[str, Any]], None] | None = None,
    command: str = "",
    write_report: bool = True,
    shared: bool = False,
) -> RunOutcome:
    """Run the suite's unfinished jobs and store their results.

    Parameters
    ----------
    suite : Suite
        A validated suite.
    retry_failed : bool
        Also re-run jobs whose latest attempt failed, timed out or ran out of memory.
    workers : int, optional
        Overrides ``executor.workers``.
    on_plan, on_result : callable, optional
        Progress hooks (the CLI's progress bar).
    command : str
        The command line, stored with the run.
    write_report : bool
        Write ``index.html`` at the end (also after an interrupt). When nothing was left to do and
        the existing report was built from the store as it is, it is kept as is.
    shared : bool
        Share the output with other ``shared`` runs: each claims a job in the store before running
        it, so they split the remaining jobs and none runs twice; the last to finish builds the
        ensembles and the report. Without it the run holds the output alone, and a second run
        into the same output is refused (:class:`~mlbench.errors.MlbenchError` naming its PID).

    Returns
    -------
    RunOutcome
        Status counts; ``interrupted`` is True after Ctrl-C / SIGTERM (results kept).

    Raises
    ------
    MlbenchError
        The output cannot be written, or another run holds it.
    ConfigError
        A check of the suite on this machine failed (:func:`mlbench.suite.check_machine`: plugins,
        data files, GPUs, optional libraries), a model's preflight check failed, or a dataset has
        fewer rows than folds.
    """
    from mlbench.outputs import RunLock
    from mlbench.store import DB_NAME, Store
    from mlbench.suite import check_machine

    # once, before anything: parsing was pure; what this machine must have is checked here
    check_machine(suite)
    if not shared:
        quick = _nothing_to_do(suite, write_report, retry_failed)
        if quick is not None:
            if on_plan is not None:
                on_plan(quick[0])
            return quick[1]
    before = _store_state(suite.output)
    first = plan_run(suite, retry_failed=retry_failed)
    executor = None
    if first.to_run:
        # workers start (importing the model libraries) while the coordinator preflights and takes
        # the lock; executor_class also fails on a missing optional extra (dask) before a run is recorded
        from mlbench.execution.base import executor_class

        executor = executor_class(suite.executor.kind).from_suite(suite, workers)
        executor.prestart(first.to_run)
    try:
        preflight_models(suite, first.to_run)
        preflight_resampling(suite, first.to_run)
        lock = RunLock(suite.output, shared=shared).acquire()
    except BaseException:
        if executor is not None:
            executor.close()
        raise
    # planned again under the lock (below) when another run wrote to the store since the first plan
    changed = shared or _store_state(suite.output) != before
    try:
        store = None
        outcome = RunOutcome(output=Path(suite.output))
        if shared or (Path(suite.output) / DB_NAME).exists():
            store = Store(suite.output)
            # a run killed earlier left its row `running`: it is not, and the report must not say so
            outcome.crashed_runs = store.mark_crashed(holding_exclusive=not shared)
        # what the store held before planning: a shared run leaves any job recorded since to others
        seen = store.attempts() if shared and store is not None else {}
        plan = plan_run(suite, retry_failed=retry_failed) if changed else first
        outcome.failed_remaining = plan.skipped_failed
        if on_plan is not None:
            on_plan(plan)
        if not plan.has_work:
            # Nothing would change in the store: no run is recorded, and the report is rebuilt only
            # when it is missing or was built from another state of the store.
            if executor is not None:
                executor.close()
            if store is not None:
                store.close()
            if write_report and (not shared or lock.try_exclusive()):
                _report(suite, outcome, only_if_stale=True)
            if not shared and outcome.report_error is None and not outcome.interrupted:
                _write_stamp(suite, plan, write_report, retry_failed)
            return outcome
        if executor is None and plan.to_run:
            # the store changed under the lock: jobs appeared that the first plan lacked (a plan with
            # only rescoring, checks or ensembles to do needs no executor, nor its GPUs or extras)
            from mlbench.execution.base import executor_class

            executor = executor_class(suite.executor.kind).from_suite(suite, workers)
        if store is None:
            store = Store(suite.output)
        store_for_run, store = store, None  # _run_locked closes it from here on
        return _run_locked(
            suite,
            plan,
            store=store_for_run,
            lock=lock,
            outcome=outcome,
            seen=seen,
            executor=executor,
            on_result=on_result,
            command=command,
            write_report=write_report,
        )
    except BaseException:
        if executor is not None:
            executor.close()
        if store is not None:
            store.close()
        raise
    finally:
        lock.release()


#: Where a rerun that found nothing to do leaves what it found (:func:`_nothing_to_do`).
STAMP = Path(".cache") / "nothing-to-do.json"


def _stamp_key(suite: Suite, jobs: list[Job], write_report: bool, retry_failed: bool) -> str:
    """What a plan depends on besides the store: the suite as written, its jobs, the options."""
    import hashlib

    from mlbench._version import __version__

    what = [
        __version__,
        suite.text,
        str(Path(suite.base_dir).resolve()),
        sorted(job.job_id for job in jobs),
        write_report,
        retry_failed,
    ]
    return hashlib.sha256(json.dumps(what, default=str).encode()).hexdigest()


def _file_state(path: Path) -> list[int] | None:
    import os

    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_mtime_ns, st.st_size]


def _write_stamp(suite: Suite, plan: Plan, write_report: bool, retry_failed: bool) -> None:
    """Remember that this suite found nothing to do in the store as it is now (best effort)."""
    import contextlib
    import os

    output = Path(suite.output)
    stamp = {
        "key": _stamp_key(suite, plan.jobs, write_report, retry_failed),
        "store": [list(s) if s is not None else None for s in _store_state(output)],
        "report": _file_state(output / "index.html") if write_report else None,
        "skipped_ok": plan.skipped_ok,
        "skipped_failed": plan.skipped_failed,
    }
    path = output / STAMP
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(stamp), encoding="utf-8")
        os.replace(tmp, path)


def _nothing_to_do(suite: Suite, write_report: bool, retry_failed: bool) -> tuple[Plan, RunOutcome] | None:
    """The plan and outcome of a rerun with nothing to do, without reading the store; else None.

    A rerun that found nothing to do leaves a stamp (:data:`STAMP`): the suite's key (its text,
    jobs and options), the store's files' sizes and modification times, and the report's. When
    all of them are as the stamp says, nothing was written since and the suite asks for the same
    jobs, so the plan is the stamp's: nothing to run, and the report is current. Any difference,
    or a stamp that does not read as expected, sends the run the usual way (reading the store
    needs pandas, most of a rerun's time). The stamp is data, never code.
    """
    output = Path(suite.output)
    try:
        stamp = json.loads((output / STAMP).read_text(encoding="utf-8"))
        jobs = suite.expand()
        same = (
            stamp["key"] == _stamp_key(suite, jobs, write_report, retry_failed)
            and stamp["store"] == [list(s) if s is not None else None for s in _store_state(output)]
            and stamp["store"][0] is not None
            and (
                not write_report
                or (stamp["report"] is not None and stamp["report"] == _file_state(output / "index.html"))
            )
        )
        ok, failed = int(stamp["skipped_ok"]), int(stamp["skipped_failed"])
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None
    if not same or (retry_failed and failed):
        return None
    plan = Plan(jobs=jobs, to_run=[], skipped_ok=ok, skipped_failed=failed)
    outcome = RunOutcome(output=output, failed_remaining=failed)
    if write_report:
        outcome.report = output / "index.html"
    return plan, outcome


def _store_state(output: Path) -> tuple[tuple[int, int] | None, ...]:
    """Sizes and modification times of the store's files: equal states, no write in between."""
    import os

    from mlbench.store import DB_NAME

    state = []
    for name in (DB_NAME, f"{DB_NAME}-wal"):
        try:
            st = os.stat(Path(output) / name)
            state.append((st.st_mtime_ns, st.st_size))
        except OSError:
            state.append(None)
    return tuple(state)


@dataclass
class _RunState:
    """What the stages of one locked run share."""

    suite: Suite
    plan: Plan
    store: Store
    lock: Any
    outcome: RunOutcome
    seen: dict[str, int]
    executor: Any | None
    record: Callable[..., None]
    write_report: bool
    run_id: int = 0
    #: builds the ensembles and writes the report (a shared run: only the last to finish)
    last: bool = True
    diagnostics: _Background | None = None

    def record_diagnostics(self, wait: bool) -> None:
        """Record the mismatch checks once they are computed (``wait``: wait for them)."""
        if self.diagnostics is None or not (wait or self.diagnostics.ready()):
            return
        settings = _diagnostics_options(self.suite).key
        for dataset, comparison, rows in self.diagnostics.wait():
            self.store.record_diagnostics(dataset, comparison, settings, rows)
        self.diagnostics = None


@dataclass(frozen=True)
class Stage:
    """One named step of a run.

    Attributes
    ----------
    name : str
        Its name in :attr:`RunOutcome.stage_seconds` and in ``mlbench run -v``.
    wanted : callable
        ``wanted(state) -> bool``: whether this run has anything for the stage to do.
    run : callable
        ``run(state)``: do it.
    """

    name: str
    wanted: Callable[[_RunState], bool]
    run: Callable[[_RunState], None]


def _stage_rescore(state: _RunState) -> None:
    from mlbench.reader import open_run

    existing = open_run(state.suite.output)
    for item in state.plan.to_rescore:
        _rescore(existing, state.store, item)
        state.outcome.rescored += 1


def _stage_jobs(state: _RunState) -> None:
    if state.plan.diagnostics_pending:
        # the checks use the coordinator's idle time while the workers run the jobs
        state.diagnostics = _start_diagnostics(state.suite, state.plan)
    if not state.plan.to_run:
        return
    if state.write_report:
        _prewarm_report(state.suite)
    if state.lock.shared:
        _run_shared(
            state.suite,
            store=state.store,
            run_id=state.run_id,
            jobs=state.plan.to_run,
            seen=state.seen,
            executor=state.executor,
            record=state.record,
        )
    else:
        state.executor.run(state.plan.to_run, state.record)


def _stage_diagnostics(state: _RunState) -> None:
    # recorded before a shared run gives up its lock: a run that is not the last must not
    # write after it holds no lock (another run may then take the output for itself)
    state.record_diagnostics(wait=True)


def _stage_handover(state: _RunState) -> None:
    # shared runs: the last one to finish builds the ensembles and writes the report
    state.last = state.lock.try_exclusive()
    if not state.last:
        state.outcome.deferred_to = [pid for pid, _ in state.lock.holders()]


def _stage_ensembles(state: _RunState) -> None:
    _build_ensembles(state.suite, state.store, state.outcome)


#: The stages of a run with work to do, in order; ``report`` runs last, after the store is closed
#: (also after a failure or an interrupt, see :func:`_run_locked`).
STAGES: tuple[Stage, ...] = (
    Stage("rescore", lambda s: bool(s.plan.to_rescore), _stage_rescore),
    Stage("jobs", lambda s: bool(s.plan.to_run or s.plan.diagnostics_pending), _stage_jobs),
    Stage("diagnostics", lambda s: s.diagnostics is not None, _stage_diagnostics),
    Stage("handover", lambda s: bool(s.lock.shared), _stage_handover),
    Stage("ensembles", lambda s: bool(s.suite.ensembles) and s.last, _stage_ensembles),
)


def _timed(outcome: RunOutcome, name: str, fn: Callable[[], Any]) -> Any:
    import time

    t0 = time.perf_counter()
    try:
        return fn()
    finally:
        outcome.stage_seconds[name] = outcome.stage_seconds.get(name, 0.0) + time.perf_counter() - t0


def _run_locked(
    suite: Suite,
    plan: Plan,
    *,
    store: Store,
    lock: Any,
    outcome: RunOutcome,
    seen: dict[str, int],
    executor: Any | None,
    on_result: Callable[[Job, dict[str, Any]], None] | None,
    command: str,
    write_report: bool,
) -> RunOutcome:
    """:func:`run_suite` once the output is locked and there is work: the stages, then the report.

    ``executor`` was prestarted by the caller; it is closed here once its jobs are done (or
    when the run stops before them).
    """

    meta = _run_meta(suite, command)
    # checked against by later reads (predictions) and comparisons (are the runs' data the same?)
    meta["data_fingerprints"] = _dataset_facts(suite, plan.to_run)
    try:
        run_id = store.start_run(meta)
    except BaseException:
        store.close()
        raise
    stop_heartbeat = _start_heartbeat(store, run_id)

    def record(job: Job, row: dict[str, Any], preds: Any) -> None:
        store.record(row, preds)
        outcome.counts[row["status"]] += 1
        if on_result is not None:
            on_result(job, row)
        # the coordinator's thread writes the store: checks computed meanwhile are recorded here
        state.record_diagnostics(wait=False)

    state = _RunState(suite, plan, store, lock, outcome, seen, executor, record, write_report, run_id)
    status = "finished"
    try:
        for stage in STAGES:
            if stage.wanted(state):
                _timed(outcome, stage.name, lambda stage=stage: stage.run(state))
    except KeyboardInterrupt:
        status = "interrupted"
        outcome.interrupted = True
    except BaseException:
        status = "failed"
        raise
    finally:
        stop_heartbeat()
        if executor is not None:
            executor.close()  # no-op after a run that used its workers; stops them if none did
        if state.diagnostics is not None:
            # a run that stops early (a failure, an interrupt) still waits for its checks, records
            # them if it can, and never leaves their thread running into the interpreter's exit
            # (native code running then aborts the process: "terminate called ...")
            with contextlib.suppress(Exception):
                state.record_diagnostics(wait=True)
        _join_prewarm()
        _finish_run(store, run_id, status)
        if write_report and state.last:
            _timed(outcome, "report", lambda: _report(suite, outcome))
    return outcome


def _finish_run(store: Store, run_id: int, status: str) -> None:
    """Stamp the run's end and close the store; never hides the error that stopped the run.

    When the run failed (a full disk, say) and its end cannot be written either, the run's own
    error is the one raised: its row stays ``running`` and the next run marks it ``crashed``.
    """
    from mlbench.errors import MlbenchError

    try:
        store.finish_run(run_id, status)
    except MlbenchError:
        if status != "failed":
            raise
    finally:
        store.close()


def build_run_ensembles(
    output: str | Path, suite: Suite | None = None, rebuild: bool = False, write_report: bool = True
) -> RunOutcome:
    """Add or rebuild the ensembles of a finished run from its stored predictions (no job runs).

    Parameters
    ----------
    output : str or Path
        The run folder.
    suite : Suite, optional
        Whose ``ensembles:`` block to build (its metrics and seed too); default the suite stored
        with the run. Its ``output`` is set to ``output``.
    rebuild : bool
        Record every ensemble again (a new attempt per row), not only those whose members changed.
    write_report : bool
        Rewrite ``index.html`` afterwards.

    Returns
    -------
    RunOutcome
        ``ensembles`` counts the rows recorded by status.

    Raises
    ------
    MlbenchError
        No run at ``output``, no suite stored with it, or a suite without ``ensembles:``.
    """
    from mlbench.errors import ConfigError, MlbenchError
    from mlbench.reader import open_run

    run = open_run(output)
    if suite is None:
        suite = run.suite
        if suite is None:
            raise MlbenchError(f"run {run.path} stores no suite that loads; give one with --suite FILE")
    suite.output = run.path
    if not suite.ensembles:
        where = suite.path or "the suite"
        raise ConfigError(f"{where}: no `ensembles:` block; add one (e.g. `ensembles: [caruana, voting]`)")
    outcome = RunOutcome(output=run.path)
    from mlbench.outputs import RunLock

    # the same lock as `mlbench run`: ensembles are not recorded into a store another run writes
    with RunLock(run.path):
        return _build_run_ensembles_locked(run, suite, outcome, rebuild, write_report)


def _build_run_ensembles_locked(
    run: Run, suite: Suite, outcome: RunOutcome, rebuild: bool, write_report: bool
) -> RunOutcome:
    from mlbench.store import Store

    store = Store(run.path, create=False)
    outcome.crashed_runs = store.mark_crashed(holding_exclusive=True)
    meta = _run_meta(suite, "ensemble")
    meta["suite_path"] = meta["suite_path"] or run.meta.get("suite_path")
    run_id = store.start_run(meta)
    status = "finished"
    try:
        _build_ensembles(suite, store, outcome, rebuild=rebuild)
    except KeyboardInterrupt:
        status, outcome.interrupted = "interrupted", True
    except BaseException:
        status = "failed"
        raise
    finally:
        _finish_run(store, run_id, status)
        if write_report:
            _report(suite, outcome)
    return outcome


def _prewarm_report(suite: Suite) -> None:
    """Pay the report's one-off costs in the background while the jobs run.

    The coordinator mostly waits on its workers meanwhile; imports (scipy.stats, matplotlib,
    jinja2), font loading, template compiling and loading the datasets (for class names and
    confusion matrices; kept in this process's dataset cache) would otherwise add over a second
    to the end of every run (see :func:`mlbench.report.html.prewarm`).
    """
    import threading

    def work() -> None:
        import contextlib

        from mlbench.datasets import load_dataset
        from mlbench.report.html import prewarm

        # best effort: anything that fails here fails again, with its message, in the report
        with contextlib.suppress(Exception):
            prewarm()
        for entry in suite.datasets:
            with contextlib.suppress(Exception):
                load_dataset(entry.spec, suite.base_dir)

    thread = threading.Thread(target=work, name="mlbench-report-prewarm", daemon=True)
    thread.start()
    _PREWARM.append(thread)


#: prewarm threads started by this process (joined before a run returns: see :func:`_join_prewarm`)
_PREWARM: list[Any] = []


def _join_prewarm() -> None:
    """Wait for the report warm-up threads (imports, dataset loading): none may outlive the run."""
    while _PREWARM:
        _PREWARM.pop().join()


def _report(suite: Suite, outcome: RunOutcome, only_if_stale: bool = False) -> None:
    """Write the run's report into ``outcome``; a report error never turns a finished run into a crash."""
    try:
        from mlbench.reader import open_run
        from mlbench.report.build import is_current, report_run

        run = open_run(suite.output)
        if only_if_stale and is_current(run):
            outcome.report = run.path / "index.html"
            return
        outcome.report = report_run(run)
    except KeyboardInterrupt:
        outcome.interrupted = True
    except Exception as exc:
        # The results are stored; a report bug must not turn a finished run into a crash.
        outcome.report_error = f"{type(exc).__name__}: {exc}"
