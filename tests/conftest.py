"""Shared test settings: everything offline, no hub downloads."""

from __future__ import annotations

import os

# No weights or datasets may be fetched while testing; hub-backed code must use the local cache.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MLBENCH_OFFLINE", "1")
