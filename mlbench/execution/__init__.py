"""Run a suite: plan (resume), execute, store every result, write the report.

The coordinator in :func:`run_suite` is the store's only writer; executors hand it each finished
job through a callback and it commits the row (and predictions) right away, so a crash or kill
loses at most the jobs in flight.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from mlbench.suite import Job, Suite

__all__ = ["Plan", "RunOutcome", "plan_run", "run_suite"]


@dataclass
class Plan:
    """Which jobs a (re-)run will execute."""

    jobs: list[Job]
    to_run: list[Job]
    skipped_ok: int
    skipped_failed: int

    @property
    def n_total(self) -> int:
        """Number of jobs in the suite."""
        return len(self.jobs)


@dataclass
class RunOutcome:
    """What a run did: counts by status of the jobs it ran, and where results are."""

    output: Path
    counts: Counter = field(default_factory=Counter)
    interrupted: bool = False
    report: Path | None = None
    report_error: str | None = None

    @property
    def all_ok(self) -> bool:
        """True when every job run in this invocation ended ok (skipped counts as ok)."""
        return all(status in ("ok", "skipped") for status in self.counts)


def plan_run(suite: Suite, retry_failed: bool = False) -> Plan:
    """Expand the suite and decide what to run given the store at ``suite.output``.

    Jobs whose latest attempt is ok (or skipped) are not run again; never-finished jobs run;
    failed / timeout / oom jobs run again only with ``retry_failed``.
    """
    from mlbench.store import Store

    jobs = suite.expand()
    latest: dict[str, str] = {}
    if (Path(suite.output) / "results.sqlite").exists():
        with Store(suite.output, create=False) as store:
            latest = store.latest_status()
    to_run, ok, failed = [], 0, 0
    for job in jobs:
        status = latest.get(job.job_id)
        if status in ("ok", "skipped"):
            ok += 1
        elif status is not None and not retry_failed:
            failed += 1
        else:
            to_run.append(job)
    return Plan(jobs=jobs, to_run=to_run, skipped_ok=ok, skipped_failed=failed)


def preflight_models(suite: Suite) -> None:
    """Checks that need the models' libraries (timm architectures, weights files), run before
    any job so that a typo fails the run at once (exit 2) instead of every job of that model."""
    from mlbench.errors import ConfigError
    from mlbench.models import MODELS

    problems = []
    for spec in suite.models:
        info = MODELS.get(spec.name)
        if info.preflight is None:
            continue
        for message in info.preflight(info.params_for(spec.params, "classification"), str(suite.base_dir)):
            problems.append(f"{spec.where}: models: {spec.label}: {message}")
    if problems:
        raise ConfigError(problems)


def run_suite(
    suite: Suite,
    retry_failed: bool = False,
    workers: int | None = None,
    on_plan: Callable[[Plan], None] | None = None,
    on_result: Callable[[Job, dict[str, Any]], None] | None = None,
    command: str = "",
    write_report: bool = True,
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
        Write ``index.html`` at the end (also after an interrupt).

    Returns
    -------
    RunOutcome
        Status counts; ``interrupted`` is True after Ctrl-C / SIGTERM (results kept).
    """
    from mlbench.execution.base import executor_class
    from mlbench.execution.job import versions
    from mlbench.hardware import hardware
    from mlbench.store import Store

    preflight_models(suite)
    plan = plan_run(suite, retry_failed=retry_failed)
    if on_plan is not None:
        on_plan(plan)
    outcome = RunOutcome(output=Path(suite.output))
    store = Store(suite.output)
    run_id = store.start_run(
        {
            "name": suite.name,
            "suite_path": str(suite.path) if suite.path else None,
            "suite_yaml": suite.text,
            "primary_metric": suite.primary_metric(),
            "metrics": suite.metrics,
            "versions": json.loads(versions()),
            "hardware": hardware(),
            "command": command,
        }
    )

    def record(job: Job, row: dict[str, Any], preds: Any) -> None:
        store.record(row, preds)
        outcome.counts[row["status"]] += 1
        if on_result is not None:
            on_result(job, row)

    status = "finished"
    try:
        executor = executor_class(suite.executor.kind).from_suite(suite, workers)
        executor.run(plan.to_run, record)
    except KeyboardInterrupt:
        status = "interrupted"
        outcome.interrupted = True
    except BaseException:
        status = "failed"
        raise
    finally:
        store.finish_run(run_id, status)
        store.close()
        if write_report:
            try:
                from mlbench.report import write_report as _write

                outcome.report = _write(suite.output)
            except KeyboardInterrupt:
                outcome.interrupted = True
            except Exception as exc:
                # The results are stored; a report bug must not turn a finished run into a crash.
                outcome.report_error = f"{type(exc).__name__}: {exc}"
    return outcome
