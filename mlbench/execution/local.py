"""Local executor: a pool of worker processes with a per-job deadline and memory watchdog.

Each worker runs one job at a time and talks to the coordinator over its own pipe, so the
coordinator always knows which job a worker holds and since when. A job past ``job_seconds`` or
whose worker (with its children) grows past ``job_memory_gb`` of resident memory has its worker's
whole process group killed; the worker is replaced and the job recorded as ``timeout`` / ``oom``.
Resident memory is watched instead of setting RLIMIT_AS, which breaks CUDA processes (they
reserve huge virtual ranges).

GPUs (see :mod:`mlbench.execution.gpus`): a job that uses a GPU waits for a GPU slot and runs in
a worker pinned to that card (``CUDA_VISIBLE_DEVICES`` set in the worker before torch touches
CUDA); such workers stay up between jobs, keeping their imports and CUDA context. CPU jobs run
in the other workers, which see no GPU. GPU jobs are dispatched first (they are the long ones).
Unless ``executor.threads_per_job`` says otherwise, each job gets ``cores // workers`` BLAS /
OpenMP / torch threads, so the pool never oversubscribes the cores.

Orphans: if the coordinator is SIGKILLed, the fork server gets SIGTERM from the kernel
(``PR_SET_PDEATHSIG``, set in :mod:`mlbench.execution._forkserver`, which it preloads) and kills
every worker's process group (the jobs' own subprocesses included) before exiting; workers also
die with the fork server. Nothing of the run outlives the coordinator by more than a moment.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any

from mlbench.execution.base import Executor, ResultCallback
from mlbench.execution.gpus import GpuPlan, job_uses_gpu, plan_gpus
from mlbench.execution.job import failure_row, now_iso, run_job_safely

if TYPE_CHECKING:  # pragma: no cover
    from mlbench.suite import Job, Suite


def _die_with_parent() -> None:
    # If the fork server (this worker's parent) dies, the worker must not run on as an orphan:
    # PR_SET_PDEATHSIG makes the kernel kill it with its parent (Linux only, best effort).
    from mlbench.execution._forkserver import set_death_signal

    parent = os.getppid()
    set_death_signal(signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the death signal was armed
        os._exit(1)


def _warm_up(modules: list[str]) -> None:
    """A GPU worker imports torch (and timm) and starts CUDA once, before its first job.

    Its first job's fit time then is fitting, not imports and CUDA initialisation.
    """
    import importlib

    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # the job itself reports a missing library
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.cuda.is_available():
                torch.cuda.init()
        except Exception:
            pass  # a broken CUDA setup is reported by the job that needs it


def _worker_main(
    conn: Connection, env: dict[str, str] | None = None, gpu: int | None = None, warm: list[str] | None = None
) -> None:
    # Own process group: killing the group also kills anything the job started (joblib
    # workers, subprocesses), which a plain kill of the worker would leave behind.
    os.setpgrp()
    _die_with_parent()
    # The fork server's SIGTERM handler (kill all workers) is inherited by fork; not ours.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # Ctrl-C is the coordinator's to handle; workers are killed by it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Before any job imports torch or xgboost: CUDA reads CUDA_VISIBLE_DEVICES once, when it
    # initialises, so the pin holds for every job this worker runs.
    os.environ.update(env or {})
    if warm:
        _warm_up(warm)
    served = 0
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        t0 = time.perf_counter()
        row, preds = run_job_safely(job)
        served += 1
        wall = time.perf_counter() - t0
        # What a job costs beyond fitting and predicting test rows (loading, preprocessing,
        # train/val predictions, scoring, imports and CUDA start on a worker's first job).
        fit, predict = row.get("fit_seconds"), row.get("predict_seconds")
        row.update(
            wall_seconds=wall,
            overhead_seconds=wall - fit - predict if fit is not None and predict is not None else None,
            worker_job=served,
            gpu_id=gpu,
            gpu_job=gpu is not None,
        )
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
    # arms the fork server's death signal (see the module docstring); import-time effect only
    # in the fork server itself
    "mlbench.execution._forkserver",
]

#: Not preloaded when GPUs are scheduled: the GPU workers import them after pinning their card.
_CUDA_MODULES = {"torch", "timm", "torchvision"}


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
        # the fork server arms its death signal only as a direct child of this process
        os.environ["MLBENCH_COORDINATOR_PID"] = str(os.getpid())
        return ctx
    return mp.get_context("spawn")


@dataclass
class _Worker:
    proc: Any
    conn: Connection
    gpu: int | None = None  # the card this worker is pinned to; None for a CPU worker
    job: Job | None = None
    started: float = 0.0
    started_at: str | None = None


def default_workers() -> int:
    """Worker count when the suite does not say: one per core."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def threads_per_worker(workers: int) -> int:
    """BLAS / OpenMP / torch threads per job so that ``workers`` jobs share the cores without oversubscribing."""
    return max(1, default_workers() // max(1, workers))


def default_memory_gb(workers: int) -> float:
    """Per-job memory budget when the suite does not say: 80% of RAM shared among workers."""
    import psutil

    return 0.8 * psutil.virtual_memory().total / 2**30 / workers


class LocalExecutor(Executor):
    """Run jobs in a pool of local worker processes.

    Parameters
    ----------
    workers : int
        Number of worker processes (GPU workers included).
    job_seconds : float
        Wall-clock limit per job.
    job_memory_gb : float or None
        Resident-memory limit per job (worker plus its children); None for the default.
    poll_seconds : float
        How often deadlines and memory are checked while waiting for results.
    preload : list of str, optional
        Extra modules for workers to import up front (the suite's model libraries).
    gpus : "auto", int or list of int
        GPUs to schedule GPU jobs on (``executor.gpus``; see :mod:`mlbench.execution.gpus`).
    jobs_per_gpu : int
        Concurrent GPU jobs per card.
    threads : int or None
        Threads per job; None for ``cores // workers``.
    """

    def __init__(
        self,
        workers: int | None = None,
        job_seconds: float = 3600.0,
        job_memory_gb: float | None = None,
        poll_seconds: float = 0.05,
        preload: list[str] | None = None,
        gpus: str | int | list[int] = "auto",
        jobs_per_gpu: int = 1,
        threads: int | None = None,
    ) -> None:
        self.workers = workers or default_workers()
        self.job_seconds = job_seconds
        self.job_memory_gb = job_memory_gb if job_memory_gb is not None else default_memory_gb(self.workers)
        self.poll_seconds = poll_seconds
        self.threads = threads
        self.gpu_plan: GpuPlan = plan_gpus(gpus, jobs_per_gpu)
        modules = PRELOAD + list(preload or [])
        #: imported by each GPU worker after pinning its card (not by the fork server)
        self._gpu_warm: list[str] = []
        if self.gpu_plan.gpus:
            self._gpu_warm = [m for m in modules if m.split(".")[0] in _CUDA_MODULES]
            modules = [m for m in modules if m.split(".")[0] not in _CUDA_MODULES]
        self._ctx = _context(modules)
        self._pool: list[_Worker] = []
        self._starter: threading.Thread | None = None
        self._start_error: BaseException | None = None

    @classmethod
    def from_suite(cls, suite: Suite, workers: int | None = None) -> LocalExecutor:
        """Workers, deadline, memory budget and GPUs from the suite; its models' libraries preloaded."""
        from mlbench.models import MODELS

        cfg = suite.executor
        return cls(
            workers=workers or cfg.workers,
            job_seconds=suite.budget.job_seconds,
            job_memory_gb=suite.budget.job_memory_gb,
            preload=sorted({m for spec in suite.models for m in MODELS.get(spec.name).modules}),
            gpus=cfg.gpus,
            jobs_per_gpu=cfg.jobs_per_gpu,
            # threads_per_job written in the suite wins; otherwise the cores are shared out
            threads=cfg.threads_per_job if "threads_per_job" in cfg.model_fields_set else None,
        )

    # -- pool --------------------------------------------------------------------------------
    def _split(self, jobs: Iterable[Job]) -> tuple[deque[Job], deque[Job]]:
        """(GPU jobs, CPU jobs), each in the given order."""
        have = bool(self.gpu_plan.gpus)
        gpu: deque[Job] = deque()
        cpu: deque[Job] = deque()
        for job in jobs:
            (gpu if have and job_uses_gpu(job, True) else cpu).append(job)
        return gpu, cpu

    def _cpu_target(self, n_gpu_workers: int) -> int:
        # CPU jobs fill the workers the GPU slots leave; at least one, so CPU jobs never wait
        # for the GPU queue to drain
        return max(1, self.workers - n_gpu_workers)

    def _initial_pool(self, gpu_jobs: int, cpu_jobs: int) -> list[int | None]:
        slots = self.gpu_plan.slots[:gpu_jobs]
        return slots + [None] * min(cpu_jobs, self._cpu_target(len(slots)))

    def prestart(self, jobs: list[Job]) -> None:
        """Start the worker processes in the background (the coordinator preflights meanwhile).

        The fork server's imports (sklearn, xgboost, torch...) then overlap the coordinator's
        own checks; :meth:`run` waits for the pool. Call :meth:`close` if :meth:`run` never follows.
        """
        if self._starter is not None or self._pool:
            return
        gpu, cpu = self._split(jobs)
        layout = self._initial_pool(len(gpu), len(cpu))
        # The fork server is started here, in the calling thread: its death signal fires when
        # the *thread* that created it ends, so it must not be the short-lived starter thread.
        # Only its imports then run while the starter waits on the first worker.
        self._ensure_server()

        def start() -> None:
            try:
                for slot in layout:
                    self._pool.append(self._spawn(slot))
            except BaseException as exc:  # reported by run(), in the coordinator's thread
                self._start_error = exc

        self._starter = threading.Thread(target=start, name="mlbench-pool-start", daemon=True)
        self._starter.start()

    def _ensure_server(self) -> None:
        if self._ctx.get_start_method() == "forkserver":
            from multiprocessing import forkserver

            forkserver.ensure_running()

    def close(self) -> None:
        """Stop workers started by :meth:`prestart` that :meth:`run` did not use."""
        if self._starter is not None:
            self._starter.join()
            self._starter = None
        for w in self._pool:
            self._kill(w)
        self._pool = []

    def _spawn(self, gpu: int | None = None) -> _Worker:
        parent, child = self._ctx.Pipe(duplex=True)
        env = self.gpu_plan.worker_env(gpu)
        warm = self._gpu_warm if gpu is not None else None
        proc = self._ctx.Process(target=_worker_main, args=(child, env, gpu, warm), daemon=True)
        proc.start()
        child.close()
        return _Worker(proc=proc, conn=parent, gpu=gpu)

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
    def _stop(worker: _Worker) -> None:
        """Ask an idle worker to exit (it is killed if it does not)."""
        try:
            worker.conn.send(None)
        except OSError:
            pass
        worker.proc.join(timeout=2)
        if worker.proc.is_alive():
            LocalExecutor._kill(worker)
        else:
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

    def _take_pool(self, gpu: deque[Job], cpu: deque[Job]) -> list[_Worker]:
        if self._starter is not None:
            self._starter.join()
            self._starter = None
            if self._start_error is not None:
                error, self._start_error = self._start_error, None
                self.close()
                raise error
        pool, self._pool = self._pool, []
        if not pool:
            pool = [self._spawn(slot) for slot in self._initial_pool(len(gpu), len(cpu))]
        return pool

    def run(
        self, jobs: Iterable[Job], on_result: ResultCallback, on_start: Callable[[Job], None] | None = None
    ) -> None:
        """Run every job; ``on_result`` is called once per job, in completion order.

        GPU jobs go only to GPU workers (one per slot), CPU jobs to the others; when no GPU job
        is left, idle GPU workers are retired and CPU workers take their places. An interrupt
        (KeyboardInterrupt) kills the workers and propagates; results already delivered to
        ``on_result`` are the caller's to keep.
        """
        gpu_pending, cpu_pending = self._split(jobs)
        if not gpu_pending and not cpu_pending:
            self.close()
            return
        pool = self._take_pool(gpu_pending, cpu_pending)
        threads = self.threads or threads_per_worker(
            max(len(pool), min(self.workers, len(gpu_pending) + len(cpu_pending)))
        )
        limit = self.job_memory_gb * 2**30

        def dispatch(w: _Worker, queue: deque[Job]) -> None:
            job = queue.popleft()
            if job.threads != threads:
                job = dataclasses.replace(job, threads=threads)
            w.job, w.started, w.started_at = job, time.monotonic(), now_iso()
            if on_start is not None:
                on_start(job)
            w.conn.send(job)

        def replace(i: int) -> None:
            pool[i] = self._spawn(pool[i].gpu)

        try:
            while gpu_pending or cpu_pending or any(w.job is not None for w in pool):
                # GPU jobs first: they are the long ones, and a free slot should not wait
                for w in pool:
                    if w.job is None and w.gpu is not None and gpu_pending:
                        dispatch(w, gpu_pending)
                for w in pool:
                    if w.job is None and w.gpu is None and cpu_pending:
                        dispatch(w, cpu_pending)
                self._rebalance(pool, gpu_pending, cpu_pending)
                for w in pool:
                    if w.job is None and w.gpu is None and cpu_pending:
                        dispatch(w, cpu_pending)
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
                            replace(i)
                            reason = f"worker process died (exit code {code})"
                            if code == -signal.SIGKILL:
                                reason += "; killed by SIGKILL, often the system's out-of-memory killer"
                            on_result(
                                job, self._mark(failure_row(job, "failed", reason, started_at), w), None
                            )
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
                        replace(i)
                        on_result(job, self._mark(failure_row(job, status, message, started_at), w), None)
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

    def _rebalance(self, pool: list[_Worker], gpu_pending: deque[Job], cpu_pending: deque[Job]) -> None:
        """With no GPU job left, idle GPU workers make way for CPU workers (up to ``workers``)."""
        if gpu_pending:
            return
        for w in [w for w in pool if w.gpu is not None and w.job is None]:
            self._stop(w)
            pool.remove(w)
        n_gpu = sum(w.gpu is not None for w in pool)
        idle_cpu = sum(w.gpu is None and w.job is None for w in pool)
        n_cpu = sum(w.gpu is None for w in pool)
        while cpu_pending and idle_cpu < len(cpu_pending) and n_cpu < self._cpu_target(n_gpu):
            pool.append(self._spawn(None))
            n_cpu += 1
            idle_cpu += 1

    @staticmethod
    def _mark(row: dict[str, Any], worker: _Worker) -> dict[str, Any]:
        """A coordinator-made failure row says which GPU (if any) the job held."""
        row["gpu_id"] = worker.gpu
        row["gpu_job"] = worker.gpu is not None
        return row
