"""An executor kind that cannot be built: a run that needs no executor must not build one."""

from __future__ import annotations

from mlbench.execution.base import EXECUTORS, Executor, register_executor


class Unbuildable(Executor):
    @classmethod
    def from_suite(cls, suite, workers=None):
        raise RuntimeError("this executor must not be built: no job was left to run")

    def run(self, jobs, on_result):  # pragma: no cover - never built
        raise AssertionError


if "unbuildable" not in EXECUTORS:
    register_executor("unbuildable", Unbuildable)
