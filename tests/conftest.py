"""Shared test settings: everything offline, no hub downloads."""

from __future__ import annotations

import os

# No weights or datasets may be fetched while testing; hub-backed code must use the local cache.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MLBENCH_OFFLINE", "1")


def pytest_collection_modifyitems(config, items):
    """Skip ``@pytest.mark.gpu`` tests when torch finds no CUDA device (torch imported only then)."""
    import pytest

    gpu_items = [item for item in items if item.get_closest_marker("gpu") is not None]
    if not gpu_items:
        return
    try:
        import torch

        available = torch.cuda.is_available()
    except ImportError:
        available = False
    if available:
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
    for item in gpu_items:
        item.add_marker(skip)
