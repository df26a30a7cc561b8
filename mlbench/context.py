"""Per-job context shared by the job runner and the model families, without either importing the other.

``BASE_DIR`` is the folder that relative paths in model parameters (weights files, pretrain dataset
specs) resolve against; the job runner sets it to the suite file's folder while a job runs.
"""

from __future__ import annotations

import contextvars
import os
from pathlib import Path

__all__ = ["BASE_DIR", "resolve"]

BASE_DIR: contextvars.ContextVar[str] = contextvars.ContextVar("mlbench_base_dir", default=".")


def resolve(path: str | os.PathLike) -> Path:
    """``path`` with ``~`` expanded, relative to :data:`BASE_DIR` unless it is absolute."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else Path(BASE_DIR.get()) / p
