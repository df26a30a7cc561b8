"""mlbench: classical machine learning and deep learning, benchmarked side by side.

Only light names live here; heavy libraries (sklearn, xgboost, torch, timm) are imported by the
functions that need them, so ``mlbench --help`` and ``mlbench validate`` start fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlbench.errors import ConfigError, DatasetError, MlbenchError, ModelError

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DatasetError",
    "MlbenchError",
    "ModelError",
    "__version__",
    "load_results",
    "load_suite",
]

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from mlbench.suite import Suite


def load_results(path: Any, all_attempts: bool = False) -> pd.DataFrame:
    """Load a run's results (latest attempt per job) as a DataFrame.

    Parameters
    ----------
    path : str or Path
        The run's output folder (``reports/<suite>``) or its ``results.sqlite``.
    all_attempts : bool
        Return every attempt instead of the latest per job.
    """
    from mlbench.store import load_results as _load

    return _load(path, all_attempts=all_attempts)


def load_suite(path: Any) -> Suite:
    """Load and validate a suite YAML file; raises :class:`ConfigError` listing every problem."""
    from mlbench.suite import load_suite as _load

    return _load(path)
