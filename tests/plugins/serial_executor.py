"""A third executor backend in one plugin file: runs every job in the coordinator's own process.

Used by tests to show that ``executor: {kind: serial}`` reaches an executor registered by a plugin
through the registry, with no change to mlbench.
"""

from __future__ import annotations

from mlbench.execution.base import EXECUTORS, Executor, register_executor
from mlbench.execution.job import run_job_safely


class SerialExecutor(Executor):
    @classmethod
    def from_suite(cls, suite, workers=None):
        return cls()

    def run(self, jobs, on_result):
        for job in jobs:
            row, preds = run_job_safely(job)
            row["executor"] = "serial"
            on_result(job, row, preds)


if "serial" not in EXECUTORS:
    register_executor("serial", SerialExecutor)
