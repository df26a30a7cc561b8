"""Optional dependencies: import one, or say which mlbench extra installs it (exit 2, no traceback).

The extras are declared in ``pyproject.toml`` (``[project.optional-dependencies]``):

============  ==========================  ======================================
extra         installs                    needed for
============  ==========================  ======================================
``dask``      ``dask[distributed]``       ``executor: {kind: dask}``
``tune``      ``optuna``                  hyperparameter tuning
``boosters``  ``lightgbm``, ``catboost``  the ``lightgbm`` and ``catboost`` models
``test``      ``playwright`` and pytest   the report's browser test (not the report itself)
============  ==========================  ======================================

Use :func:`require` where the feature starts, before any work is done::

    distributed = require("dask.distributed", extra="dask", feature="executor: {kind: dask}")
"""

from __future__ import annotations

import importlib
from types import ModuleType

from mlbench.errors import ConfigError

__all__ = ["MissingDependency", "require"]


class MissingDependency(ConfigError):
    """An optional dependency a requested feature needs is not installed (the CLI exits 2).

    Attributes
    ----------
    module : str
        The module that could not be imported.
    extra : str
        The mlbench extra that installs it (``pip install 'mlbench[EXTRA]'``).
    """

    def __init__(self, module: str, extra: str, feature: str, reason: str) -> None:
        self.module = module
        self.extra = extra
        super().__init__(
            f"{feature} needs the optional dependency {module!r}, which cannot be imported ({reason}). "
            f"Install it with: pip install 'mlbench[{extra}]'"
        )


def require(module: str, extra: str, feature: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependency` naming the extra that installs it.

    Parameters
    ----------
    module : str
        Dotted module name, e.g. ``"dask.distributed"`` or ``"optuna"``.
    extra : str
        The mlbench extra that provides it, e.g. ``"dask"`` or ``"tune"``.
    feature : str, optional
        What the user asked for that needs it, for the message (default: ``mlbench[EXTRA]``'s
        features, named by the extra).

    Returns
    -------
    module
        The imported module.

    Raises
    ------
    MissingDependency
        The module, or one it imports, is not installed. An installed package that fails for
        another reason raises its own error.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        # the module itself or one it needs (dask without distributed): the reason names which
        raise MissingDependency(
            module, extra, feature or f"this feature (mlbench[{extra}])", str(exc)
        ) from None
