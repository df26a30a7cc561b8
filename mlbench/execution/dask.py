"""Dask distributed executor: jobs as ``client.submit`` tasks, results collected as they finish.

Use it when one machine is not enough: ``executor: {kind: dask, address: tcp://scheduler:8786}``.
Without an address a ``LocalCluster`` of process workers is started (one thread each, like the
local executor). Each result is handed to the coordinator the moment it completes, because a
restarted Dask worker loses the results it held. Jobs whose model needs a GPU ask for the
``GPU`` resource (start such workers with ``--resources GPU=1``).

Deadlines: at most one task per worker thread is in flight, so a job's clock starts when it
starts. A Dask task cannot be killed from outside, so ``job_seconds`` is enforced by the
coordinator giving up on the task (recorded as ``timeout``) and cancelling it; the worker may
keep computing until the task returns. Per-job memory is Dask's own worker ``memory_limit``.
"""

from __future__ import annotations

import time
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
    """

    def __init__(
        self, address: str | None = None, workers: int | None = None, job_seconds: float = 3600.0
    ) -> None:
        self.address = address
        self.workers = workers
        self.job_seconds = job_seconds

    @classmethod
    def from_suite(cls, suite: Suite, workers: int | None = None) -> DaskExecutor:
        """Scheduler address, LocalCluster size and deadline from the suite."""
        return cls(
            address=suite.executor.address,
            workers=workers or suite.executor.workers,
            job_seconds=suite.budget.job_seconds,
        )

    def _client(self) -> tuple[Any, Any]:
        from dask.distributed import Client, LocalCluster

        if self.address:
            return Client(self.address), None
        from mlbench.execution.local import default_workers

        cluster = LocalCluster(
            n_workers=self.workers or default_workers(),
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        )
        return Client(cluster), cluster

    def run(self, jobs: Iterable[Job], on_result: ResultCallback) -> None:
        """Submit every job and call ``on_result`` as each finishes (completion order)."""
        from dask.distributed import as_completed

        from mlbench.models import MODELS

        jobs = list(jobs)
        if not jobs:
            return
        client, cluster = self._client()
        try:
            pending = deque(jobs)
            by_key: dict[str, tuple[Any, Job, float, str]] = {}
            done = as_completed()
            while pending or by_key:
                # At most one task per worker thread in flight: a job's clock then starts when it
                # starts running, not while it waits in the scheduler's queue.
                while pending and len(by_key) < _capacity(client):
                    job = pending.popleft()
                    resources = {"GPU": 1} if MODELS.get(job.model_name).needs_gpu else None
                    fut = client.submit(
                        run_job_safely, job, key=f"mlbench-{job.job_id}", pure=False, resources=resources
                    )
                    by_key[fut.key] = (fut, job, time.monotonic(), now_iso())
                    done.add(fut)
                batch = done.next_batch(block=False) if done.count() else []
                for fut in batch:
                    if fut.key not in by_key:
                        continue  # already recorded as timeout
                    _, job, _, iso = by_key.pop(fut.key)
                    try:
                        row, preds = fut.result()
                    except Exception as exc:  # the worker died or the task was lost
                        row, preds = failure_row(job, "failed", f"dask task failed: {exc!r}", iso), None
                    on_result(job, row, preds)
                now = time.monotonic()
                for key, (fut, job, t0, iso) in list(by_key.items()):
                    if now - t0 > self.job_seconds:
                        del by_key[key]
                        fut.cancel()
                        message = f"job exceeded job_seconds={self.job_seconds:g}; raise budget.job_seconds"
                        on_result(job, failure_row(job, "timeout", message, iso), None)
                if by_key and not batch:
                    time.sleep(0.02)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
