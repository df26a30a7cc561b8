"""Dask distributed executor: jobs as ``client.submit`` tasks, results collected as they finish.

Use it when one machine is not enough: ``executor: {kind: dask, address: tcp://scheduler:8786}``.
Without an address a ``LocalCluster`` of process workers is started (one thread each, like the
local executor). Each result is handed to the coordinator the moment it completes, because a
restarted Dask worker loses the results it held. Jobs whose model needs a GPU ask for the
``GPU`` resource (start such workers with ``--resources GPU=1``).

Deadlines: at most one task per worker thread is in flight, so a job's clock starts when it
starts. A Dask task cannot be killed from outside, so ``job_seconds`` is enforced by the
coordinator giving up on the task (recorded as ``timeout``) and cancelling it; the worker may
keep computing until the task returns. Per-job memory is Dask's own worker ``memory_limit``:
``budget.job_memory_gb`` sets it for a LocalCluster and is checked against an existing cluster's
workers (a warning names each worker that gives a job less, or sets no limit).
"""

from __future__ import annotations

import time
import warnings
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from mlbench._optional import require
from mlbench.execution.base import Executor, ResultCallback
from mlbench.execution.job import failure_row, now_iso, run_job_safely

if TYPE_CHECKING:  # pragma: no cover
    from mlbench.suite import Job, Suite

# Importing this module (executor_class does, before a run starts) checks the optional extra, so a
# missing dask is a usage error naming `mlbench[dask]`, not a ModuleNotFoundError mid-run.
require("dask.distributed", extra="dask", feature="executor: {kind: dask}")


def _capacity(client: Any) -> int:
    """Worker threads in the cluster now (it may grow or shrink while a suite runs)."""
    workers = client.scheduler_info().get("workers", {})
    return max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))


def _gpu_capacity(client: Any) -> int:
    """How many GPU jobs the cluster can run at once: the sum of its workers' ``GPU`` resource."""
    workers = client.scheduler_info().get("workers", {})
    return int(sum(float((w.get("resources") or {}).get("GPU", 0)) for w in workers.values()))


def check_worker_memory(client: Any, job_memory_gb: float | None) -> list[str]:
    """Warnings for an existing cluster whose workers do not give each job ``job_memory_gb``.

    Dask enforces memory per worker (``memory_limit``, shared by the worker's threads); mlbench
    cannot change it on a running cluster, so a mismatch is reported, not fixed.
    """
    if job_memory_gb is None:
        return []
    out = []
    for address, w in client.scheduler_info().get("workers", {}).items():
        limit = w.get("memory_limit") or 0
        per_job = limit / max(1, int(w.get("nthreads", 1))) / 2**30
        if not limit:
            out.append(
                f"dask worker {address} has no memory limit: budget.job_memory_gb={job_memory_gb:g} is not "
                f"enforced there; start it with --memory-limit {job_memory_gb:g}GiB per thread"
            )
        elif per_job < job_memory_gb * 0.999:
            out.append(
                f"dask worker {address} allows {per_job:.2f} GB per job ({limit / 2**30:.2f} GB over "
                f"{w.get('nthreads', 1)} threads), less than budget.job_memory_gb={job_memory_gb:g}: "
                "jobs may be killed early; raise its --memory-limit or lower the budget"
            )
    return out


def _import_modules(modules: list[str]) -> None:
    """Run on every worker before the first job: its imports are not the first job's time."""
    import importlib

    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # the job itself reports a missing library, with its message


class DaskExecutor(Executor):
    """Run jobs on a Dask distributed cluster.

    Parameters
    ----------
    address : str or None
        Scheduler address; None starts a LocalCluster on this machine.
    workers : int or None
        Worker processes of the LocalCluster (ignored with an address).
    job_seconds : float
        Per-job deadline, enforced by the coordinator (see the module docstring).
    job_memory_gb : float or None
        Per-job memory: the LocalCluster's per-worker ``memory_limit`` (one thread each); with an
        address, checked against the workers' limits (a warning when they differ).
    """

    def __init__(
        self,
        address: str | None = None,
        workers: int | None = None,
        job_seconds: float = 3600.0,
        job_memory_gb: float | None = None,
        preload: list[str] | None = None,
    ) -> None:
        self.address = address
        self.workers = workers
        self.job_seconds = job_seconds
        self.job_memory_gb = job_memory_gb
        self.preload = list(preload or [])

    @classmethod
    def from_suite(cls, suite: Suite, workers: int | None = None) -> DaskExecutor:
        """Scheduler address, LocalCluster size, deadline and memory budget from the suite."""
        from mlbench.models import MODELS

        return cls(
            address=suite.executor.address,
            workers=workers or suite.executor.workers,
            job_seconds=suite.budget.job_seconds,
            job_memory_gb=suite.budget.job_memory_gb,
            preload=sorted({m for spec in suite.models for m in MODELS.get(spec.name).modules}),
        )

    def _client(self) -> tuple[Any, Any]:
        from dask.distributed import Client, LocalCluster

        if self.address:
            client = Client(self.address)
            for message in check_worker_memory(client, self.job_memory_gb):
                warnings.warn(message, UserWarning, stacklevel=3)
            return client, None
        from mlbench.execution.local import default_workers

        cluster = LocalCluster(
            n_workers=self.workers or default_workers(),
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            # one thread per worker: the worker's limit is the job's (dask's default otherwise)
            memory_limit=f"{self.job_memory_gb}GiB" if self.job_memory_gb else "auto",
        )
        return Client(cluster), cluster

    def run(self, jobs: Iterable[Job], on_result: ResultCallback) -> None:
        """Submit every job and call ``on_result`` as each finishes (completion order).

        Jobs that use a GPU (see :mod:`mlbench.execution.gpus`) ask for ``resources={"GPU": 1}``
        and go first; at most as many are in flight as the workers offer ``GPU`` in total. A job
        that must have a GPU on a cluster without the resource is recorded as failed at once
        (it would wait forever).
        """
        from dask.distributed import as_completed

        from mlbench.execution.gpus import job_uses_gpu

        jobs = list(jobs)
        if not jobs:
            return
        client, cluster = self._client()
        try:
            from mlbench.execution.local import PRELOAD

            # the workers' imports happen now, not on the clock of each worker's first job
            modules = [m for m in PRELOAD if not m.startswith("mlbench.execution._")] + self.preload
            client.run(_import_modules, modules)
            gpu_slots = _gpu_capacity(client)
            gpu_pending: deque[Job] = deque()
            cpu_pending: deque[Job] = deque()
            for job in jobs:
                if job_uses_gpu(job, gpu_slots > 0):
                    if gpu_slots == 0:
                        message = (
                            "this job needs a GPU but no dask worker offers the GPU resource; start GPU "
                            'workers with `dask worker ADDRESS --resources "GPU=1"` (one per card)'
                        )
                        on_result(job, failure_row(job, "failed", message, now_iso()), None)
                        continue
                    gpu_pending.append(job)
                else:
                    cpu_pending.append(job)
            by_key: dict[str, tuple[Any, Job, float, str, bool]] = {}
            done = as_completed()

            def submit(job: Job, gpu: bool) -> None:
                fut = client.submit(
                    run_job_safely,
                    job,
                    key=f"mlbench-{job.job_id}",
                    pure=False,
                    resources={"GPU": 1} if gpu else None,
                )
                by_key[fut.key] = (fut, job, time.monotonic(), now_iso(), gpu)
                done.add(fut)

            while gpu_pending or cpu_pending or by_key:
                # At most one task per worker thread in flight, and at most one GPU task per GPU
                # unit: a job's clock then starts when it starts running, not while it waits in
                # the scheduler's queue. GPU jobs first: they are the long ones.
                capacity = _capacity(client)
                while gpu_pending and len(by_key) < capacity:
                    if sum(entry[4] for entry in by_key.values()) >= max(1, _gpu_capacity(client)):
                        break
                    submit(gpu_pending.popleft(), True)
                while cpu_pending and len(by_key) < capacity:
                    submit(cpu_pending.popleft(), False)
                batch = done.next_batch(block=False) if done.count() else []
                for fut in batch:
                    if fut.key not in by_key:
                        continue  # already recorded as timeout
                    _, job, _, iso, gpu = by_key.pop(fut.key)
                    try:
                        row, preds = fut.result()
                    except Exception as exc:  # the worker died or the task was lost
                        row, preds = failure_row(job, "failed", f"dask task failed: {exc!r}", iso), None
                    row["gpu_job"] = gpu
                    on_result(job, row, preds)
                now = time.monotonic()
                for key, (fut, job, t0, iso, gpu) in list(by_key.items()):
                    if now - t0 > self.job_seconds:
                        del by_key[key]
                        fut.cancel()
                        message = f"job exceeded job_seconds={self.job_seconds:g}; raise budget.job_seconds"
                        row = failure_row(job, "timeout", message, iso)
                        row["gpu_job"] = gpu
                        on_result(job, row, None)
                if by_key and not batch:
                    time.sleep(0.02)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
