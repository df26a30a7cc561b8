"""Executor backends: they run jobs and hand each result back; they never write results.

``base`` (the :class:`~mlbench.execution.base.Executor` interface), ``local`` (a pool of worker
processes with deadline and memory watchdog, GPU slots), ``dask`` (a Dask cluster), ``gpus``
(which jobs need a GPU slot), ``job`` (one job, run inside a worker) and ``_forkserver`` (ties
the workers' lives to the coordinator's). The coordinator that plans a run, hands jobs to a
backend and records every result is :mod:`mlbench.pipeline`.
"""
