"""Shared test settings: everything offline, no hub downloads."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

# No weights or datasets may be fetched while testing; hub-backed code must use the local cache.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MLBENCH_OFFLINE", "1")


def pytest_collection_modifyitems(config, items):
    """Skip ``@pytest.mark.gpu`` tests when torch finds no CUDA device (torch imported only then)."""
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


def _max_overlap(rows):
    """Most jobs of ``rows`` running at the same instant (from their start/finish timestamps)."""
    import pandas as pd

    events = []
    for start, end in zip(
        pd.to_datetime(rows["started_at"]), pd.to_datetime(rows["finished_at"]), strict=True
    ):
        events += [(start, 1), (end, -1)]
    best = now = 0
    for _, step in sorted(events, key=lambda e: (e[0], e[1])):  # a finish before a start at the same instant
        now += step
        best = max(best, now)
    return best


@pytest.fixture
def max_overlap():
    """``max_overlap(rows)``: the most jobs of a results frame that ran at once (executor tests)."""
    return _max_overlap


@pytest.fixture
def unprivileged(tmp_path):
    """A command prefix under which file permission bits apply, even when the tests run as root.

    Root ignores permission bits through the CAP_DAC_* capabilities: dropping them from the
    bounding set (``setpriv``) makes root as bound by ``chmod`` as anyone. Checked by trying to
    write into a read-only folder; skipped only when no such prefix exists on this machine.
    """
    if os.geteuid() != 0:
        return []
    probe = tmp_path / "permission-probe"
    probe.mkdir()
    probe.chmod(0o555)
    setpriv = shutil.which("setpriv")
    prefix = [setpriv or "setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]
    try:
        res = subprocess.run([*prefix, "touch", str(probe / "x")], capture_output=True, timeout=30)
    except OSError:
        res = None
    probe.chmod(0o755)
    if setpriv is None or res is None or res.returncode == 0:
        pytest.skip("running as root and cannot drop CAP_DAC_OVERRIDE (setpriv missing or not permitted)")
    return prefix
