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
A job that double-forks a process out of its worker's process group and session (``setsid()``)
does not escape either: each worker is the reaper of its orphaned descendants
(``PR_SET_CHILD_SUBREAPER``), so such a process stays its descendant; when a job ends leaving one,
the worker is replaced and the process killed with it. The coordinator waits on each worker's
process as well as its pipe, so a worker that dies is noticed at once (its job ``failed``) even
when a process its job left holds the pipe open.

Anywhere Python runs: workers never import the caller's ``__main__`` (see :func:`_main_not_sent`),
so ``mlbench.run`` behaves the same from a script with or without an ``if __name__ ==
"__main__":`` guard, ``python -c``, a script piped to ``python -`` and a notebook. Workers that
cannot run jobs at all (they die, several in a row, before any job finishes) stop the run with
:class:`~mlbench.execution.base.WorkerStartError` instead of recording every job as failed (see
:class:`_StartWatch`); a job that crashes its worker once the pool has shown it works is a
failed job, as before.
"""

from __future__ import annotations

import dataclasses
import functools
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any

from mlbench.execution.base import Executor, ResultCallback, WorkerStartError
from mlbench.execution.gpus import GpuPlan, job_uses_gpu, plan_gpus
from mlbench.execution.job import failure_row, now_iso, run_job_safely

if TYPE_CHECKING:  # pragma: no cover
    from mlbench.suite import Job, Suite


# -- workers never import the caller's __main__ ------------------------------------------------
#
# A forkserver or spawn child re-runs its parent's main module before it unpickles its target: the
# preparation data the parent sends (multiprocessing.spawn.get_preparation_data) names the script
# (``init_main_from_path``) or the ``python -m`` module (``init_main_from_name``), and the child's
# spawn.prepare() runs it as ``__mp_main__``. A script without an ``if __name__ == "__main__":``
# guard then calls mlbench.run again inside every worker, which dies (every job was recorded
# "worker process died"); under ``python -`` the child looks for a file named ``<stdin>``.
# mlbench's workers need nothing from ``__main__``: their target lives in this module, jobs are
# plain dataclasses and plugins are imported by path inside the job. So the preparation data of
# mlbench's own processes names no main module.
#
# How: every Popen (forkserver, spawn) looks spawn.get_preparation_data up when it launches a
# process, so it is wrapped, once, by a function that drops the two keys only while the calling
# thread is inside _main_not_sent(). The flag is per thread (the prestart thread starts workers
# while the coordinator's thread runs on, and other code in the process may start processes of its
# own, which keep multiprocessing's behaviour) and is restored in a ``finally``. Hiding
# ``__main__.__spec__`` / ``__file__`` for a while instead would be process-wide state that another
# thread could observe, or that an exception could leave behind.

_MAIN_KEYS = ("init_main_from_path", "init_main_from_name")
_main_filter = threading.local()
_main_filter_lock = threading.Lock()


def _install_main_filter() -> None:
    from multiprocessing import spawn

    with _main_filter_lock:
        original = spawn.get_preparation_data
        if getattr(original, "_mlbench_drops_main", False):
            return

        @functools.wraps(original)
        def get_preparation_data(name: str) -> dict[str, Any]:
            data = original(name)
            if getattr(_main_filter, "depth", 0):
                for key in _MAIN_KEYS:
                    data.pop(key, None)
            return data

        get_preparation_data._mlbench_drops_main = True  # type: ignore[attr-defined]
        spawn.get_preparation_data = get_preparation_data


def _refuse_while_bootstrapping() -> None:
    # The one case where a main guard matters: this process is a multiprocessing child that the
    # user's own code started (a Pool, a Process), re-running the user's unguarded script while it
    # starts, and the script calls mlbench.run with jobs to do. multiprocessing refuses to start a
    # process then (a RuntimeError about freeze_support); this says what to change, in mlbench's
    # terms, as an MlbenchError.
    if getattr(mp.current_process(), "_inheriting", False):
        raise WorkerStartError(
            "mlbench.run was called while this process was starting as a multiprocessing child: "
            "it is re-running the script that started it, which starts processes of its own (a "
            "Pool, a Process) and has no main guard; put the script's top-level code under "
            '`if __name__ == "__main__":`'
        )


@contextmanager
def _main_not_sent() -> Iterator[None]:
    """Processes this thread starts inside the block do not re-run the caller's ``__main__``."""
    _refuse_while_bootstrapping()
    _install_main_filter()
    _main_filter.depth = getattr(_main_filter, "depth", 0) + 1
    try:
        yield
    finally:
        _main_filter.depth -= 1


def _die_with_parent() -> None:
    # If the fork server (this worker's parent) dies, the worker must not run on as an orphan:
    # PR_SET_PDEATHSIG makes the kernel kill it with its parent (Linux only, best effort).
    from mlbench.execution._forkserver import set_death_signal

    parent = os.getppid()
    set_death_signal(signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the death signal was armed
        os._exit(1)


def _warm_up(modules: list[str], cuda: bool = True) -> None:
    """Import torch (and timm) and, for a GPU worker (``cuda``), start CUDA, outside any job's clock.

    A GPU worker does it once it has pinned its card, a CPU worker before its first job whose
    model needs them: that job's fit time then is fitting, not imports and CUDA initialisation.
    """
    import importlib

    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # the job itself reports a missing library
    torch = sys.modules.get("torch")
    if cuda and torch is not None:
        try:
            if torch.cuda.is_available():
                torch.cuda.init()
        except Exception:
            pass  # a broken CUDA setup is reported by the job that needs it


def _worker_main(
    conn: Connection,
    env: dict[str, str] | None = None,
    gpu: int | None = None,
    warm: list[str] | None = None,
    heavy: tuple[list[str], frozenset[str] | None] | None = None,
) -> None:
    # Own process group: killing the group also kills anything the job started (joblib
    # workers, subprocesses), which a plain kill of the worker would leave behind.
    os.setpgrp()
    # and what a job double-forks out of the group (setsid) stays this worker's descendant, to
    # be found and killed with it (see _forkserver.kill_family)
    from mlbench.execution._forkserver import set_child_subreaper

    set_child_subreaper()
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
    # torch and timm, left out of the fork server (they took 2.5 s before any first job could
    # start): imported before the first job whose model needs them (any, when not told which)
    lazy, lazy_models = heavy if heavy else ([], None)
    served = 0
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        t0 = time.perf_counter()
        if lazy and (lazy_models is None or job.model_name in lazy_models):
            # on the job's wall clock (its overhead), not in its fit time
            _warm_up(lazy, cuda=False)
            lazy = []
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

#: Never preloaded by the fork server: GPU workers import them after pinning their card, CPU
#: workers before their first job of a model that needs them (see LocalExecutor).
_CUDA_MODULES = {"torch", "timm", "torchvision"}

#: How often (seconds) the watchdog lists a busy worker's descendant processes for their memory
#: (the worker's own memory and its deadline are checked at every poll).
FAMILY_SCAN_SECONDS = 0.5


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
    #: pid -> psutil.Process of every descendant the watchdog saw: killed with the worker, even
    #: once the worker is dead and they are no longer its descendants
    seen: dict[int, Any] = dataclasses.field(default_factory=dict)
    #: when the watchdog last listed the descendants (monotonic seconds), and their resident bytes then
    scanned: float = 0.0
    descendants_rss: int = 0


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
    heavy_models : iterable of str, optional
        Registry names of the models that need torch/timm (of ``preload``): a CPU worker imports
        those libraries before its first job of one of them (None: before its first job).
    """

    def __init__(
        self,
        workers: int | None = None,
        *,
        job_seconds: float = 3600.0,
        job_memory_gb: float | None = None,
        poll_seconds: float = 0.05,
        preload: list[str] | None = None,
        gpus: str | int | list[int] = "auto",
        jobs_per_gpu: int = 1,
        threads: int | None = None,
        heavy_models: Iterable[str] | None = None,
    ) -> None:
        self.workers = workers or default_workers()
        self.job_seconds = job_seconds
        self.job_memory_gb = job_memory_gb if job_memory_gb is not None else default_memory_gb(self.workers)
        self.poll_seconds = poll_seconds
        self.threads = threads
        self.gpu_plan: GpuPlan = plan_gpus(gpus, jobs_per_gpu)
        modules = PRELOAD + list(preload or [])
        #: torch and timm: imported by each GPU worker after pinning its card, and by a CPU worker
        #: before its first job of a model in ``heavy_models`` (all models when None); never by
        #: the fork server, whose preload would hold back every first job by their import
        self._heavy_modules = [m for m in modules if m.split(".")[0] in _CUDA_MODULES]
        self._heavy_models = frozenset(heavy_models) if heavy_models is not None else None
        modules = [m for m in modules if m.split(".")[0] not in _CUDA_MODULES]
        self._ctx = _context(modules)
        self._pool: list[_Worker] = []
        self._starter: threading.Thread | None = None
        self._start_error: BaseException | None = None
        #: a job has reported in an earlier run() of this executor (a shared run's batches): its
        #: workers can run jobs, so later deaths are the jobs' own (see _StartWatch)
        self._workers_proven = False

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
            heavy_models={
                spec.name
                for spec in suite.models
                if any(m.split(".")[0] in _CUDA_MODULES for m in MODELS.get(spec.name).modules)
            },
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

            with _main_not_sent():
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
        warm = self._heavy_modules if gpu is not None else None
        heavy = (
            None if gpu is not None or not self._heavy_modules else (self._heavy_modules, self._heavy_models)
        )
        proc = self._ctx.Process(target=_worker_main, args=(child, env, gpu, warm, heavy), daemon=True)
        try:
            with _main_not_sent():
                proc.start()
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
        return _Worker(proc=proc, conn=parent, gpu=gpu)

    @staticmethod
    def _kill(worker: _Worker) -> None:
        """Kill the worker, its process group and everything its jobs left, setsid or not."""
        from mlbench.execution._forkserver import kill_family

        kill_family(worker.proc.pid)
        try:
            worker.proc.kill()
        except Exception:
            pass
        for proc in worker.seen.values():
            # descendants seen while its job ran: after the worker died they have another parent
            try:
                proc.kill()  # psutil checks the process is still the one seen (no reused PID)
            except Exception:
                pass
        worker.seen.clear()
        worker.proc.join(timeout=5)
        worker.conn.close()

    @staticmethod
    def _escaped(worker: _Worker) -> list[int]:
        """PIDs of live descendants of an idle worker outside its process group (a job double-forked them)."""
        import psutil

        try:
            family = psutil.Process(worker.proc.pid).children(recursive=True)
        except psutil.Error:
            return []
        out = []
        for proc in family:
            try:
                if proc.status() != psutil.STATUS_ZOMBIE and os.getpgid(proc.pid) != worker.proc.pid:
                    out.append(proc.pid)
            except (psutil.Error, OSError):
                continue
        return out

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
    def _own_rss(pid: int) -> int:
        """Resident bytes of process ``pid`` alone (0 when it is gone)."""
        import psutil

        try:
            return int(psutil.Process(pid).memory_info().rss)
        except psutil.Error:
            return 0

    @staticmethod
    def _rss(pid: int, seen: dict[int, Any] | None = None) -> int:
        """Resident bytes of process ``pid`` and its descendants (recorded into ``seen``)."""
        import psutil

        try:
            proc = psutil.Process(pid)
            total = proc.memory_info().rss
            for child in proc.children(recursive=True):
                if seen is not None:
                    seen.setdefault(child.pid, child)
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

        Raises
        ------
        WorkerStartError
            Workers died ``START_DEATHS`` times in a row before any job finished (see
            :class:`_StartWatch`); no job of this call is reported.
        """
        gpu_pending, cpu_pending = self._split(jobs)
        if not gpu_pending and not cpu_pending:
            self.close()
            return
        pool = self._take_pool(gpu_pending, cpu_pending)
        threads = self.threads or threads_per_worker(
            max(len(pool), min(self.workers, len(gpu_pending) + len(cpu_pending)))
        )
        _Session(
            self, pool, gpu_pending, cpu_pending, on_result=on_result, on_start=on_start, threads=threads
        ).run()

    def _overdue(self, worker: _Worker) -> tuple[str, str] | None:
        """``(status, message)`` when the worker's job is past its memory budget or its deadline.

        Memory first: a job over its memory budget is ``oom`` even when the check comes late (a
        busy coordinator), which says what to change; only a job within its memory is ``timeout``.
        """
        now = time.monotonic()
        elapsed = now - worker.started
        rss = self._own_rss(worker.proc.pid)
        if now - worker.scanned >= FAMILY_SCAN_SECONDS or rss > self.job_memory_gb * 2**30:
            # listing descendants reads every process's /proc entry: at every poll (20 a second)
            # that took a tenth of a core from the jobs, so it runs a few times a second; the
            # worker's own memory, one small read, is checked at every poll
            worker.scanned = now
            worker.descendants_rss = self._rss(worker.proc.pid, worker.seen) - rss
        rss += max(0, worker.descendants_rss)
        if rss > self.job_memory_gb * 2**30:
            return "oom", (
                f"job exceeded job_memory_gb={self.job_memory_gb:g} "
                f"(resident memory {rss / 2**30:.2f} GB); raise budget.job_memory_gb "
                "or use fewer rows / a smaller model"
            )
        if elapsed > self.job_seconds:
            return "timeout", (
                f"job exceeded job_seconds={self.job_seconds:g} (killed after {elapsed:.1f} s); "
                "raise budget.job_seconds or make the job smaller"
            )
        return None

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


def _exit_cause(code: int | None) -> str:
    """How a worker process ended, in words (``exit code 3``, ``killed by SIGKILL``)."""
    if code is None:
        return "exit code unknown"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _death_reason(code: int | None) -> str:
    """The error of a job whose worker died under it."""
    reason = f"worker process died (exit code {code})"
    if code == -signal.SIGKILL:
        reason += "; killed by SIGKILL, often the system's out-of-memory killer"
    return reason


#: Workers that die in a row before any job finishes and stop the run (see :class:`_StartWatch`).
START_DEATHS = 3


class _StartWatch:
    """Tells workers that cannot run jobs from jobs that crash their worker.

    Until a run's first job reports, a worker's death may be the worker's fault (a plugin or a
    library that kills every new process, too little memory to start) or the job's (a model that
    segfaults). Those deaths are held back, not reported: once :data:`START_DEATHS` workers have
    died in a row, in jobs of two models and two datasets when the run has them, the run stops
    with :class:`~mlbench.execution.base.WorkerStartError` and no job is recorded failed. When a
    job reports first (or the run ends), the held deaths were the jobs' own: they are reported as
    failed jobs. While deaths are held, the next job dispatched is one of another model and
    dataset where there is one, so that a crashing model listed first is told apart, within a few
    jobs, from workers that cannot run any job (and does not block the rest of the suite).
    """

    def __init__(self, jobs: Iterable[Job], *, limit: int = START_DEATHS, armed: bool = True) -> None:
        jobs = list(jobs)
        self.models = len({job.model for job in jobs})
        self.datasets = len({job.dataset for job in jobs})
        self.limit = limit
        self.armed = armed  # until the first report
        #: (job, its failure row or None for a job put back, exit code) per death while armed
        self.held: list[tuple[Job, dict[str, Any] | None, int | None]] = []

    def hold(self, job: Job, row: dict[str, Any] | None, code: int | None) -> bool:
        """Count a death, keeping its failure row back (True) while no job has reported.

        False: no longer armed, the caller reports the row now.
        """
        if self.armed:
            self.held.append((job, row, code))
        return self.armed

    def disarm(self) -> list[tuple[Job, dict[str, Any]]]:
        """A job reported (or the run ended): the held deaths are failed jobs, to report first."""
        self.armed = False
        held, self.held = self.held, []
        return [(job, row) for job, row, _ in held if row is not None]

    def tripped(self) -> bool:
        """Enough workers died in a row, in different enough jobs, for the workers to be the cause."""
        if not self.armed or len(self.held) < self.limit:
            return False
        models = {job.model for job, _, _ in self.held}
        datasets = {job.dataset for job, _, _ in self.held}
        return len(models) >= min(2, self.models) and len(datasets) >= min(2, self.datasets)

    def next_job(self, queue: deque[Job]) -> Job:
        """The next job to dispatch: the first, or while deaths are held the first of a new model and dataset."""
        if not self.held:
            return queue.popleft()
        models = {job.model for job, _, _ in self.held}
        datasets = {job.dataset for job, _, _ in self.held}
        best, best_score = 0, -1
        for i, job in enumerate(queue):
            score = (job.model not in models) + (job.dataset not in datasets)
            if score > best_score:
                best, best_score = i, score
                if score == 2:
                    break
        job = queue[best]
        del queue[best]
        return job

    def error(self) -> WorkerStartError:
        """The error that stops the run, naming how the workers ended and in which jobs."""
        codes = [code for _, _, code in self.held]
        causes = sorted({_exit_cause(code) for code in codes})
        jobs = ", ".join(f"{job.dataset} / {job.model} fold {job.fold}" for job, _, _ in self.held[:3])
        more = f" and {len(self.held) - 3} more" if len(self.held) > 3 else ""
        memory = (
            "; SIGKILL is often the system's out-of-memory killer: use fewer workers or less data"
            if -signal.SIGKILL in codes
            else ""
        )
        plugins = sorted({plugin for job, _, _ in self.held for plugin in job.plugins})
        suspects = f"one of its plugins ({', '.join(plugins)})" if plugins else "a plugin"
        return WorkerStartError(
            f"{len(self.held)} worker processes died in a row before any job finished "
            f"({', '.join(causes)}), in {jobs}{more}: the workers cannot run jobs, so the run is "
            "stopped and none of its jobs is recorded. Their error output (stderr), if any, says "
            f"why; often {suspects} or a model library that exits or crashes when imported in a "
            f"new process{memory}. Fix it and run again."
        )


class _Session:
    """One :meth:`LocalExecutor.run`: dispatch, results, dead workers, the watchdog, shutdown.

    Each step is one method; :meth:`run` loops over them until every job is reported.
    """

    def __init__(
        self,
        executor: LocalExecutor,
        pool: list[_Worker],
        gpu_pending: deque[Job],
        cpu_pending: deque[Job],
        *,
        on_result: ResultCallback,
        on_start: Callable[[Job], None] | None,
        threads: int,
    ) -> None:
        self.executor = executor
        self.pool = pool
        self.gpu_pending = gpu_pending
        self.cpu_pending = cpu_pending
        self.on_result = on_result
        self.on_start = on_start
        self.threads = threads
        self.watch = _StartWatch([*gpu_pending, *cpu_pending], armed=not executor._workers_proven)
        #: job id -> times it was put back because its worker was dead before it took it
        self.bounced: Counter[str] = Counter()

    def run(self) -> None:
        try:
            while self.gpu_pending or self.cpu_pending or any(w.job is not None for w in self.pool):
                self._dispatch()
                self._collect()
                if self.watch.tripped():
                    # the jobs still running are not reported either: the next run runs them all
                    raise self.watch.error()
            self._report_held()  # deaths too few (or too alike) to blame the workers: failed jobs
        finally:
            self._shutdown()

    # -- dispatch ----------------------------------------------------------------------------
    def _dispatch(self) -> None:
        # GPU jobs first: they are the long ones, and a free slot should not wait
        self._fill(self.gpu_pending, gpu=True)
        self._fill(self.cpu_pending, gpu=False)
        self.executor._rebalance(self.pool, self.gpu_pending, self.cpu_pending)
        self._fill(self.cpu_pending, gpu=False)

    def _fill(self, queue: deque[Job], *, gpu: bool) -> None:
        """Give each idle worker of the kind (GPU or CPU) a job from ``queue``."""
        for i in range(len(self.pool)):
            w = self.pool[i]
            if queue and w.job is None and (w.gpu is not None) == gpu:
                self._start(i, queue)

    def _start(self, i: int, queue: deque[Job]) -> None:
        w = self.pool[i]
        job = self.watch.next_job(queue)
        if job.threads != self.threads:
            job = dataclasses.replace(job, threads=self.threads)
        w.job, w.started, w.started_at = job, time.monotonic(), now_iso()
        w.seen.clear()
        w.scanned, w.descendants_rss = 0.0, 0
        if not w.proc.is_alive():
            # dead already: a process its last job left may hold the pipe open, so the send
            # would not fail
            self._lost(i, queue)
            return
        try:
            w.conn.send(job)
        except OSError:  # a broken pipe: the worker was dead before it could take the job
            self._lost(i, queue)
            return
        if self.on_start is not None:
            self.on_start(job)

    def _lost(self, i: int, queue: deque[Job]) -> None:
        """The worker at ``i`` died before it took its job: replace it; the job goes back to the front.

        The death counts towards :class:`_StartWatch` (it may be a worker that cannot start); the
        job, which never ran, is not failed for it, up to ``START_DEATHS`` times (a pool whose
        prestarted workers all died): then it is failed as any job whose worker died, so workers
        that keep dying cannot loop forever.
        """
        w = self.pool[i]
        job = w.job
        assert job is not None
        if self.bounced[job.job_id] >= START_DEATHS:
            self._died(i)
            return
        self.bounced[job.job_id] += 1
        w.proc.join(timeout=1)
        code = w.proc.exitcode
        self._replace(i)
        self.watch.hold(job, None, code)
        queue.appendleft(job)

    # -- results -----------------------------------------------------------------------------
    def _collect(self) -> None:
        """Wait up to ``poll_seconds`` for results; take them, and watch the jobs still running.

        Waits on each busy worker's pipe and on its process: a worker that dies says so at once
        (its job is ``failed``) even when a process its job started holds the pipe open, which
        would otherwise keep the coordinator waiting until the deadline (``timeout``).
        """
        busy = [w for w in self.pool if w.job is not None]
        ready = set(
            wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], timeout=self.executor.poll_seconds)
        )
        for i in range(len(self.pool)):
            w = self.pool[i]
            if w.job is None:
                continue
            if w.conn in ready:
                self._receive(i)
            elif w.proc.sentinel in ready:
                # it may have sent its result just before it exited (then recv finds it)
                if w.conn.poll():
                    self._receive(i)
                else:
                    self._died(i)
            else:
                self._watchdog(i)

    def _receive(self, i: int) -> None:
        w = self.pool[i]
        try:
            _, row, preds = w.conn.recv()
        except (EOFError, OSError):
            self._died(i)
            return
        job, w.job = w.job, None
        self._report(job, row, preds)
        if self.executor._escaped(w):
            # the job left processes outside the worker's process group (setsid): they go with
            # the worker, and a fresh one takes its place
            self._replace(i)

    def _report(self, job: Job, row: dict[str, Any], preds: Any) -> None:
        self._report_held()  # a job reported: the deaths held until now were those jobs' own
        self.executor._workers_proven = True
        self.on_result(job, row, preds)

    def _report_held(self) -> None:
        for job, row in self.watch.disarm():
            self.on_result(job, row, None)

    # -- worker death and the watchdog ---------------------------------------------------------
    def _died(self, i: int) -> None:
        """The worker at ``i`` died under its job: replace it; the job failed (or is held)."""
        w = self.pool[i]
        job, started_at = w.job, w.started_at
        assert job is not None
        w.proc.join(timeout=1)
        code = w.proc.exitcode
        self._replace(i)
        row = self.executor._mark(failure_row(job, "failed", _death_reason(code), started_at), w)
        if not self.watch.hold(job, row, code):
            self.on_result(job, row, None)

    def _watchdog(self, i: int) -> None:
        """Kill the worker at ``i`` if its job is past its deadline or memory budget."""
        w = self.pool[i]
        verdict = self.executor._overdue(w)
        if verdict is None:
            return
        status, message = verdict
        job, started_at = w.job, w.started_at
        assert job is not None
        self._replace(i)
        self._report(job, self.executor._mark(failure_row(job, status, message, started_at), w), None)

    def _replace(self, i: int) -> None:
        old = self.pool[i]
        self.executor._kill(old)
        self.pool[i] = self.executor._spawn(old.gpu)

    # -- shutdown ----------------------------------------------------------------------------
    def _shutdown(self) -> None:
        """Idle workers are asked to exit (killed after 2 s); busy ones (an interrupt) are killed."""
        for w in self.pool:
            if w.job is None and w.proc.is_alive():
                try:
                    w.conn.send(None)
                except OSError:
                    pass
        deadline = time.monotonic() + 2
        for w in self.pool:
            if w.job is not None:
                self.executor._kill(w)
            else:
                w.proc.join(timeout=max(0.0, deadline - time.monotonic()))
                if w.proc.is_alive():
                    self.executor._kill(w)
