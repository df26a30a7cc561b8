"""mlbench: classical machine learning and deep learning, benchmarked side by side.

Only light names live here; heavy libraries (sklearn, xgboost, torch, timm) are imported by the
functions that need them, so ``mlbench --help`` and ``mlbench validate`` start fast.

Examples
--------
>>> import mlbench
>>> run = mlbench.run("baselines/quick.yaml")  # doctest: +SKIP
>>> run.leaderboard()  # doctest: +SKIP
>>> run = mlbench.open_run("reports/quick")  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlbench._version import __version__
from mlbench.errors import ConfigError, DatasetError, MlbenchError, ModelError

__all__ = [
    "ConfigError",
    "DatasetError",
    "MlbenchError",
    "ModelError",
    "__version__",
    "load_results",
    "load_suite",
    "open_run",
    "run",
]

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from mlbench.api import Run
    from mlbench.suite import Suite


def open_run(path: str | Path) -> Run:
    """Open a run folder read-only (see :class:`mlbench.reader.Run`); ``.report()`` writes its report.

    Parameters
    ----------
    path : str or Path
        The run's output folder (``reports/<suite>``) or its ``results.sqlite``.
    """
    from mlbench import api

    return api.open_run(path)


def run(
    suite: str | Path | dict[str, Any],
    output: str | Path | None = None,
    workers: int | None = None,
    **kwargs: Any,
) -> Run:
    """Run a suite given as a path, YAML text or a dict; resumes like ``mlbench run``.

    See :func:`mlbench.api.run` for every option (``retry_failed``, ``sanity``, ``report``,
    ``quiet`` and top-level suite keys as overrides, e.g. ``seed=1``).

    Returns
    -------
    Run
        The run, read-only: ``.results()``, ``.leaderboard()``, ``.learning_curves()``, ``.report()``.
    """
    from mlbench import api

    return api.run(suite, output, workers, **kwargs)


def load_results(path: str | Path, all_attempts: bool = False) -> pd.DataFrame:
    """Load a run's results (latest attempt per job) as a DataFrame: ``open_run(path).results()``.

    Parameters
    ----------
    path : str or Path
        The run's output folder (``reports/<suite>``) or its ``results.sqlite``.
    all_attempts : bool
        Return every attempt instead of the latest per job.
    """
    return open_run(path).results(all_attempts=all_attempts)


def load_suite(path: str | Path) -> Suite:
    """Load and validate a suite YAML file; raises :class:`ConfigError` listing every problem."""
    from mlbench import suite

    return suite.load_suite(path)
