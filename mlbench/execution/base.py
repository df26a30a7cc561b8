"""The executor interface and the registry of executor kinds.

An executor runs jobs and hands each finished one to a callback; it never writes results (the
coordinator in :mod:`mlbench.execution` is the store's only writer). A suite picks one with
``executor: {kind: NAME}``; a new backend (Ray, Slurm, ...) is one class registered under a kind,
from mlbench itself or from a plugin::

    from mlbench.execution.base import Executor, register_executor

    class RayExecutor(Executor):
        @classmethod
        def from_suite(cls, suite, workers=None): ...
        def run(self, jobs, on_result): ...

    register_executor("ray", RayExecutor)

The registry itself, :data:`mlbench.registry.EXECUTORS`, lives beside the other registries, so the
suite validator checks ``executor.kind`` without importing this package.
"""

from __future__ import annotations

import abc
import importlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from mlbench.errors import ConfigError, MlbenchError
from mlbench.registry import EXECUTORS

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from mlbench.suite import Job, Suite

__all__ = [
    "EXECUTORS",
    "Executor",
    "ResultCallback",
    "WorkerStartError",
    "executor_class",
    "register_executor",
]

#: ``on_result(job, row, predictions)``: called in the coordinator once per finished job, in
#: completion order; ``predictions`` is None for jobs that did not finish ok.
ResultCallback = Callable[["Job", "dict[str, Any]", "dict[str, np.ndarray] | None"], None]


class WorkerStartError(MlbenchError):
    """The executor's workers cannot run jobs: they die before any job finishes.

    Raised from :meth:`Executor.run` instead of recording every job as failed; the message names
    the cause (exit codes, signals, the jobs they died in) and the fix. No job of the call is
    reported, so a later run runs them all.
    """


class Executor(abc.ABC):
    """Runs jobs somewhere and reports each result to the coordinator.

    Contract: :meth:`run` calls ``on_result`` exactly once per job it was given (a job that crashed,
    hung or ran out of memory gets a failure row from :func:`mlbench.execution.job.failure_row`), and
    returns when every job is reported. A ``KeyboardInterrupt`` stops the run: the executor cleans
    up its workers and lets the interrupt propagate; results already reported are kept. When its
    workers cannot run jobs at all (they die before any job finishes), :meth:`run` raises
    :class:`WorkerStartError` rather than reporting each job as failed.
    """

    @classmethod
    @abc.abstractmethod
    def from_suite(cls, suite: Suite, workers: int | None = None) -> Executor:
        """Build the executor from a suite's ``executor`` and ``budget`` sections.

        Parameters
        ----------
        suite : Suite
            The validated suite.
        workers : int, optional
            Overrides ``executor.workers`` (the CLI's ``--workers``).
        """

    @abc.abstractmethod
    def run(self, jobs: Iterable[Job], on_result: ResultCallback) -> None:
        """Run every job and call ``on_result(job, row, predictions)`` as each finishes."""

    def prestart(self, jobs: list[Job]) -> None:  # noqa: B027 - optional hook, no-op by default
        """Start workers in the background before :meth:`run` (optional; default does nothing).

        The coordinator calls it before its own preflight checks, so that starting the workers
        overlaps them; it then calls :meth:`run`, or :meth:`close` if the run stops before.
        """

    def close(self) -> None:  # noqa: B027 - optional hook, no-op by default
        """Release what :meth:`prestart` started when :meth:`run` will not be called."""


def register_executor(kind: str, executor: type[Executor] | str) -> None:
    """Make ``executor: {kind: KIND}`` run jobs with ``executor``.

    Parameters
    ----------
    kind : str
        The name suites use.
    executor : type or str
        An :class:`Executor` subclass, or ``"module:Class"`` to import lazily.
    """
    if not isinstance(executor, str) and not (isinstance(executor, type) and issubclass(executor, Executor)):
        raise TypeError(
            f"executor {executor!r} for kind {kind!r} must be an Executor subclass or 'module:Class'"
        )
    EXECUTORS.register(kind, executor)


def executor_class(kind: str) -> type[Executor]:
    """The executor class registered as ``kind`` (importing it if registered by name).

    Raises
    ------
    ConfigError
        When ``kind`` is unknown (with the close matches) or its module cannot be imported.
    """
    found = EXECUTORS.get(kind)
    if isinstance(found, str):
        module, _, name = found.partition(":")
        try:
            found = getattr(importlib.import_module(module), name)
        except ImportError as exc:
            raise ConfigError(
                f"executor kind {kind!r} needs {exc.name or module}, which is not installed "
                f"({exc}); install it (for dask: pip install 'mlbench[dask]')"
            ) from None
    assert isinstance(found, type)
    return found
