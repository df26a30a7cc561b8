"""``mlbench.run`` and ``mlbench.open_run``: a suite run from Python or a notebook, with the CLI's
resume and results, and the run as a user holds it (the reader's read-only :class:`Run` plus
:meth:`Run.report`, which writes a file and so is not the reader's to do).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlbench import reader

if TYPE_CHECKING:  # pragma: no cover
    from mlbench.suite import Suite

__all__ = ["Run", "open_run", "run", "suite_from"]


class Run(reader.Run):
    """A run folder as :func:`mlbench.open_run` and :func:`mlbench.run` return it.

    Everything of :class:`mlbench.reader.Run` (results, predictions, the suite, the analyses;
    read-only), :meth:`report` and :meth:`verdict`.
    """

    def verdict(
        self,
        *,
        budget_seconds: float | None = None,
        max_predict_ms: float | None = None,
        at: float | None = None,
    ) -> list[Any]:
        """:func:`mlbench.analysis.verdict` of this run: one record per dataset.

        Parameters
        ----------
        budget_seconds : float, optional
            Fit seconds per job a model may take.
        max_predict_ms : float, optional
            Milliseconds a model may take to predict one job's test rows.
        at : float, optional
            Answer for this training size (a size not run is predicted from the reliable fits).

        Returns
        -------
        list of mlbench.analysis.DatasetVerdict
            ``.sentences`` in words, ``.as_dict()`` as JSON (the README's "Verdict" schema).
        """
        from mlbench.analysis.verdict import verdict

        return verdict(self, budget_seconds=budget_seconds, max_predict_ms=max_predict_ms, at=at)

    def report(self, path: str | Path | None = None) -> Path:
        """Write the HTML report of this run (default ``<run>/index.html``) and return its path.

        Raises
        ------
        MlbenchError
            The file cannot be written (the message names it and the reason).
        """
        from mlbench.report.build import report_run

        return report_run(self, path)


def open_run(path: str | Path) -> Run:
    """Open a run folder read-only (see :class:`mlbench.reader.Run`); ``.report()`` writes its report.

    Parameters
    ----------
    path : str or Path
        The run's output folder (``reports/<suite>``) or its ``results.sqlite``.
    """
    return Run(path)


def suite_from(
    suite: str | Path | dict[str, Any], output: str | Path | None = None, **overrides: Any
) -> Suite:
    """Validate a suite given as a file path, a YAML string or a dict.

    Parameters
    ----------
    suite : str, Path or dict
        A path to a suite file (a ``.yaml``/``.yml`` name or an existing file); other strings are
        YAML text; or the suite as a mapping.
    output : str or Path, optional
        Output folder (default: the suite's ``output:``, else ``reports/<name>``).
    **overrides
        Top-level suite keys replacing the file's (``seed=1``, ``sweep={...}``, ``metrics=[...]``).

    Raises
    ------
    ConfigError
        Every problem, each located ``FILE:LINE:COL`` (``<suite>`` for text and dicts).
    """
    import yaml

    from mlbench.errors import ConfigError
    from mlbench.suite import load_suite, parse_suite

    path: Path | None = None
    if isinstance(suite, dict):
        data: Any = dict(suite)
        text = None
    elif isinstance(suite, Path) or (
        "\n" not in suite and (suite.endswith((".yaml", ".yml")) or Path(suite).is_file())
    ):
        path = Path(suite)
        if not overrides:
            return load_suite(path, output=output)
        if not path.is_file():
            raise ConfigError(f"{path}: no such suite file; check the path")
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    else:
        text = suite
        data = yaml.safe_load(text) if overrides else None
    if overrides:
        if not isinstance(data, dict):
            raise ConfigError("<suite>:1:1: (top level): the suite must be a mapping to take overrides")
        data = {**data, **overrides}
    if text is None or overrides:
        # a dict, or overridden keys: the YAML parse_suite validates (and locates errors in)
        # (through JSON so that Paths and tuples in a dict become the strings and lists YAML knows)
        text = yaml.safe_dump(json.loads(json.dumps(data, default=str)), sort_keys=False)
    base_dir = path.parent if path is not None else Path.cwd()
    name = str(path) if path is not None else "<suite>"
    return parse_suite(text, filename=name, base_dir=base_dir, output=output, path=path)


def run(
    suite: str | Path | dict[str, Any],
    output: str | Path | None = None,
    workers: int | None = None,
    *,
    retry_failed: bool = False,
    sanity: bool = False,
    report: bool = True,
    quiet: bool = False,
    shared: bool = False,
    **overrides: Any,
) -> Run:
    """Run a suite (resuming what is already stored) and return the run, read-only.

    Parameters
    ----------
    suite : str, Path or dict
        A suite file, YAML text or a dict (see :func:`suite_from`).
    output : str or Path, optional
        Output folder (default: the suite's ``output:``, else ``reports/<name>``).
    workers : int, optional
        Worker processes (default: the suite's, else one per core).
    retry_failed : bool
        Also re-run jobs whose latest attempt failed, timed out or ran out of memory.
    sanity : bool
        First check each model can overfit 32 training rows (recorded with each job).
    report : bool
        Write ``index.html`` into the output folder.
    quiet : bool
        No progress bar or per-job lines.
    shared : bool
        Split the remaining jobs with other runs started with ``shared=True`` (or ``--shared``)
        into the same output; without it a second run into the output is refused.
    **overrides
        Top-level suite keys replacing the suite's (``seed=1``, ``metrics=[...]``).

    Returns
    -------
    Run
        :func:`mlbench.open_run` of the output folder: ``.results()``, ``.leaderboard()``,
        ``.learning_curves()``, ``.predictions(job_id)``, ``.report()``.

    Raises
    ------
    ConfigError
        The suite is invalid (every problem listed), or a dataset has fewer rows than folds.
    MlbenchError
        The output is in use by another run (its PID is named; see ``shared``) or cannot be written.
    KeyboardInterrupt
        After an interrupt, once finished jobs are stored (calling ``run`` again resumes).

    Examples
    --------
    >>> import mlbench
    >>> run = mlbench.run({"datasets": ["iris"], "models": ["knn", "decision_tree"]},
    ...                   output="reports/iris")  # doctest: +SKIP
    >>> run.leaderboard()  # doctest: +SKIP
    """
    from mlbench.pipeline import run_suite
    from mlbench.progress import Progress

    s = suite_from(suite, output=output, **overrides)
    s.sanity = s.sanity or sanity
    progress = Progress(quiet=quiet)
    try:
        outcome = run_suite(
            s,
            retry_failed=retry_failed,
            workers=workers,
            on_plan=progress.plan,
            on_result=progress.result,
            command="mlbench.run()",
            write_report=report,
            shared=shared,
        )
    finally:
        progress.close()
    if outcome.interrupted:
        raise KeyboardInterrupt(
            f"interrupted: finished jobs are stored in {outcome.output}; run again to resume"
        )
    if outcome.failed_remaining:
        import warnings

        warnings.warn(
            f"{outcome.failed_remaining} failed jobs remain; retry_failed=True re-runs them", stacklevel=2
        )
    if outcome.report_error is not None:
        import warnings

        warnings.warn(
            f"the report could not be written ({outcome.report_error}); the results are stored: "
            f"rebuild it with mlbench.open_run({str(outcome.output)!r}).report()",
            stacklevel=2,
        )
    return open_run(outcome.output)
