"""Local executor: a pool of worker processes with a per-job deadline and memory watchdog.

Each worker runs one job at a time and talks to the coordinator over its own pipe, so the
coordinator always knows which job a worker holds and since when. A job past ``job_seconds`` or
whose worker (with its children) grows past ``job_memory_gb`` of resident memory has its worker's
whole process group killed; the worker is replaced and the job recorded as ``timeout`` / ``oom``.
Resident memory is watched instead of setting RLIMIT_AS, which breaks CUDA processes (they
reserve huge virtual ranges).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any

from mlbench.execution.base import Executor, ResultCallback
from mlbench.execution.job import failure_row, now_iso, run_job_safely

if TYPE_CHECKING:  # pragma: no cover
    from mlbench.suite import Job, Suite


def _die_with_parent() -> None:
    # If the coordinator is SIGKILLed, a worker deep in a long job would run on as an orphan;
    # PR_SET_PDEATHSIG makes the kernel kill it with its parent (Linux only, best effort).
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _worker_main(conn: Connection) -> None:
    # Own process group: killing the group also kills anything the job started (joblib
    # workers, subprocesses), which a plain kill of the worker would leave behind.
    os.setpgrp()
    _die_with_parent()
    # Ctrl-C is the coordinator's to handle; workers are killed by it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        row, preds = run_job_safely(job)
        conn.send((job.job_id, row, preds))


#: Imported once by the fork server, so each new worker starts with them already loaded.
PRELOAD = [
    "mlbench.execution.job",
    "mlbench.datasets.builtin_data",
    "mlbench.datasets.tables",
    "mlbench.datasets.images",
    "mlbench.models.preprocessing",
    "mlbench.metrics",
    "sklearn.pipeline",
    "sklearn.compose",
    "sklearn.impute",
    "sklearn.preprocessing",
    "sklearn.metrics",
    "sklearn.model_selection",
    # model libraries: imported once by the fork server instead of once per worker
    "sklearn.tree",
    "sklearn.ensemble",
    "sklearn.neighbors",
    "sklearn.linear_model",
    "xgboost",
]


def _context(preload: list[str]) -> Any:
    # forkserver, not fork: the caller may have started OpenMP/BLAS thread pools (a notebook
    # that fitted xgboost, a benchmark), and a child forked from such a process can deadlock in
    # its first parallel region. The fork server is a clean process forked before any of that;
    # workers fork from it in milliseconds with the PRELOAD modules already imported.
    methods = mp.get_all_start_methods()
    if "forkserver" in methods:
        ctx = mp.get_context("forkserver")
        # only effective before this process's fork server starts (its first pool)
        ctx.set_forkserver_preload(preload)
        return ctx
    return mp.get_context("spawn")


@dataclass
class _Worker:
    proc: Any
    conn: Connection
    job: Job | None = None
    started: float = 0.0
    started_at: str | None = None


def default_workers() -> int:
    """Worker count when the suite does not say: one per core."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def default_memory_gb(workers: int) -> float:
    """Per-job memory budget when the suite does not say: 80% of RAM shared among workers."""
    import psutil

    return 0.8 * psutil.virtual_memory().total / 2**30 / workers


class LocalExecutor(Executor):
    """Run jobs in a pool of local worker processes.

    Parameters
    ----------
    workers : int
        Number of worker processes.
    job_seconds : float
        Wall-clock limit per job.
    job_memory_gb : float or None
        Resident-memory limit per job (worker plus its children); None for the default.
    poll_seconds : float
        How often deadlines and memory are checked while waiting for results.
    preload : list of str, optional
        Extra modules for workers to import up front (the suite's model libraries).
    """

    def __init__(
        self,
        workers: int | None = None,
        job_seconds: float = 3600.0,
        job_memory_gb: float | None = None,
        poll_seconds: float = 0.05,
        preload: list[str] | None = None,
    ) -> None:
        self.workers = workers or default_workers()
        self.job_seconds = job_seconds
        self.job_memory_gb = job_memory_gb if job_memory_gb is not None else default_memory_gb(self.workers)
        self.poll_seconds = poll_seconds
        self._ctx = _context(PRELOAD + list(preload or []))

    @classmethod
    def from_suite(cls, suite: Suite, workers: int | None = None) -> LocalExecutor:
        """Workers, deadline and memory budget from the suite; its models' libraries preloaded."""
        from mlbench.models import MODELS

        return cls(
            workers=workers or suite.executor.workers,
            job_seconds=suite.budget.job_seconds,
            job_memory_gb=suite.budget.job_memory_gb,
            preload=sorted({m for spec in suite.models for m in MODELS.get(spec.name).modules}),
        )

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe(duplex=True)
        proc = self._ctx.Process(target=_worker_main, args=(child,), daemon=True)
        proc.start()
        child.close()
        return _Worker(proc=proc, conn=parent)

    @staticmethod
    def _kill(worker: _Worker) -> None:
        try:
            os.killpg(worker.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            worker.proc.kill()
        except Exception:
            pass
        worker.proc.join(timeout=5)
        worker.conn.close()

    @staticmethod
    def _rss(pid: int) -> int:
        import psutil

        try:
            proc = psutil.Process(pid)
            total = proc.memory_info().rss
            for child in proc.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:
                    pass
            return total
        except psutil.Error:
            return 0

    def run(
        self, jobs: Iterable[Job], on_result: ResultCallback, on_start: Callable[[Job], None] | None = None
    ) -> None:
        """Run every job; ``on_result`` is called once per job, in completion order.

        An interrupt (KeyboardInterrupt) kills the workers and propagates; results already
        delivered to ``on_result`` are the caller's to keep.
        """
        pending = deque(jobs)
        if not pending:
            return
        pool = [self._spawn() for _ in range(min(self.workers, len(pending)))]
        limit = self.job_memory_gb * 2**30
        try:
            while pending or any(w.job is not None for w in pool):
                for w in pool:
                    if w.job is None and pending:
                        job = pending.popleft()
                        w.job, w.started, w.started_at = job, time.monotonic(), now_iso()
                        if on_start is not None:
                            on_start(job)
                        w.conn.send(job)
                busy = [w for w in pool if w.job is not None]
                ready = wait([w.conn for w in busy], timeout=self.poll_seconds)
                for i, w in enumerate(pool):
                    if w.job is None:
                        continue
                    if w.conn in ready:
                        try:
                            _, row, preds = w.conn.recv()
                        except (EOFError, OSError):
                            job, started_at = w.job, w.started_at
                            w.proc.join(timeout=1)
                            code = w.proc.exitcode
                            self._kill(w)
                            pool[i] = self._spawn()
                            reason = f"worker process died (exit code {code})"
                            if code == -signal.SIGKILL:
                                reason += "; killed by SIGKILL, often the system's out-of-memory killer"
                            on_result(job, failure_row(job, "failed", reason, started_at), None)
                            continue
                        job = w.job
                        w.job = None
                        on_result(job, row, preds)
                        continue
                    elapsed = time.monotonic() - w.started
                    status = None
                    if elapsed > self.job_seconds:
                        status = "timeout"
                        message = (
                            f"job exceeded job_seconds={self.job_seconds:g} (killed after {elapsed:.1f} s); "
                            "raise budget.job_seconds or make the job smaller"
                        )
                    else:
                        rss = self._rss(w.proc.pid)
                        if rss > limit:
                            status = "oom"
                            message = (
                                f"job exceeded job_memory_gb={self.job_memory_gb:g} "
                                f"(resident memory {rss / 2**30:.2f} GB); raise budget.job_memory_gb "
                                "or use fewer rows / a smaller model"
                            )
                    if status is not None:
                        job, started_at = w.job, w.started_at
                        self._kill(w)
                        pool[i] = self._spawn()
                        on_result(job, failure_row(job, status, message, started_at), None)
        finally:
            for w in pool:
                if w.job is None and w.proc.is_alive():
                    try:
                        w.conn.send(None)
                    except OSError:
                        pass
            deadline = time.monotonic() + 2
            for w in pool:
                if w.job is not None:
                    self._kill(w)
                else:
                    w.proc.join(timeout=max(0.0, deadline - time.monotonic()))
                    if w.proc.is_alive():
                        self._kill(w)
