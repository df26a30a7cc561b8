"""Progress of a run, for the CLI and for ``mlbench.run`` in a notebook.

A rich progress bar on a terminal or in Jupyter, one plain line per job otherwise (logs, CI).
Every string that comes from users or models (dataset and model names, error messages) is
escaped before rich sees it, so text such as ``[/x]`` is printed, not parsed as markup.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["Progress"]


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Progress:
    """Hooks for :func:`mlbench.pipeline.run_suite`: ``plan``, ``result``, then ``close``.

    Parameters
    ----------
    quiet : bool
        No per-job lines and no bar (the plan summary is still printed).
    """

    def __init__(self, quiet: bool = False) -> None:
        from rich.console import Console

        self.quiet = quiet
        self.console = Console(stderr=True)
        self.live = self.console.is_terminal or self.console.is_jupyter
        self.bar: Any = None
        self.task: Any = None
        self.done = 0
        self.failures = 0
        self.total = 0

    def plan(self, plan: Any) -> None:
        """Print what will run; start the bar."""
        self.total = len(plan.to_run)
        msg = f"{plan.n_total} jobs: {self.total} to run"
        if plan.skipped_ok:
            msg += f", {plan.skipped_ok} already done"
        if plan.skipped_failed:
            msg += f", {plan.skipped_failed} failed before (use --retry-failed to run them again)"
        if plan.to_rescore:
            missing = sorted({m for item in plan.to_rescore for m in item.missing})
            msg += (
                f"; {len(plan.to_rescore)} finished jobs get {', '.join(missing)} "
                "from their stored predictions (no refit)"
            )
        _say(msg)
        if self.live and not self.quiet and self.total:
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as Bar

            self.bar = Bar(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("failures: {task.fields[failures]}"),
                TimeRemainingColumn(),
                console=self.console,
            )
            self.bar.start()
            self.task = self.bar.add_task("running", total=self.total, failures=0)

    def result(self, job: Any, row: dict[str, Any]) -> None:
        """One finished job."""
        from rich.markup import escape

        self.done += 1
        status = row["status"]
        failed = status not in ("ok", "skipped")
        self.failures += failed
        first = (row.get("error") or "").splitlines()[0][:160] if row.get("error") else ""
        if self.bar is not None:
            self.bar.update(self.task, advance=1, failures=self.failures)
            if failed:
                self.bar.console.print(
                    f"[red]{escape(status)}[/] {escape(job.dataset)} / {escape(job.model)} fold {job.fold}: "
                    f"{escape(first)}"
                )
        elif not self.quiet:
            secs = row.get("fit_seconds")
            extra = f"{secs:.2f}s" if isinstance(secs, float) else first
            _say(
                f"[{self.done:>{len(str(self.total))}}/{self.total}] {status:<7} {job.dataset} / {job.model} "
                f"fold {job.fold} size {job.train_size:g} repeat {job.repeat}  {extra}"
            )

    def close(self) -> None:
        """Stop the bar."""
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
