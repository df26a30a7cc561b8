"""Where mlbench caches what it downloads or computes once, and the content keys of those caches.

One root for every cache (OpenML downloads, pretrained checkpoints): ``$MLBENCH_CACHE`` when set,
else ``~/.cache/mlbench``. A neutral module with no mlbench imports, so the dataset loaders and
the deep-learning code can both use it without importing each other.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any


def cache_root() -> Path:
    """The folder mlbench's caches live under.

    Returns
    -------
    Path
        ``$MLBENCH_CACHE`` (``~`` expanded) when set and non-empty, else ``~/.cache/mlbench``.
    """
    root = os.environ.get("MLBENCH_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "mlbench"


def content_hash(*parts: Any) -> str:
    """SHA-256 (hex) over JSON-able parts and numpy arrays (by dtype, shape and bytes), for cache keys.

    Parameters
    ----------
    *parts
        numpy arrays, or values ``json.dumps`` can write (with sorted keys; other objects by ``str``).

    Returns
    -------
    str
        64 hex digits; equal parts give equal digests in any process.
    """
    import numpy as np  # here: the OpenML loader uses this module only for cache_root

    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            h.update(str((part.dtype.str, part.shape)).encode())
            h.update(np.ascontiguousarray(part).tobytes())
        else:
            h.update(json.dumps(part, sort_keys=True, default=str).encode())
    return h.hexdigest()
