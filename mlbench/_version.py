"""The one version string of mlbench (pyproject.toml reads it; ``mlbench.__version__`` re-exports it)."""

__version__ = "0.1.0"
