"""Tie the fork server's life to the coordinator's (imported by the fork server as a preload).

When the coordinator is SIGKILLed, nothing tells its fork server: it would live on, and so would
its workers with their jobs (and the jobs' own subprocesses), for as long as the jobs run. On
import in the fork server (a direct child of the process named by ``MLBENCH_COORDINATOR_PID``),
this module asks the kernel to send the fork server SIGTERM when the coordinator dies
(``PR_SET_PDEATHSIG``) and installs a handler that SIGKILLs every worker's process group (each
worker leads its own group, so its jobs' children go too) and exits. Imported anywhere else it
only defines :func:`set_death_signal`.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

__all__ = ["set_death_signal"]

_PR_SET_PDEATHSIG = 1


def set_death_signal(sig: int) -> bool:
    """Ask the kernel to send ``sig`` to this process when its parent dies (Linux only).

    Returns
    -------
    bool
        Whether the death signal was set.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _kill_workers_and_exit(signum: int, frame: Any) -> None:
    # Children of the fork server are the workers; each is its own process-group leader.
    try:
        import psutil

        children = psutil.Process().children()
    except Exception:
        children = []
    for child in children:
        for kill in (lambda pid: os.killpg(pid, signal.SIGKILL), lambda pid: os.kill(pid, signal.SIGKILL)):
            try:
                kill(child.pid)
            except OSError:
                pass
    os._exit(0)


def _arm() -> None:
    coordinator = os.environ.get("MLBENCH_COORDINATOR_PID")
    if not coordinator or not coordinator.isdigit() or os.getppid() != int(coordinator):
        return  # not the fork server of a mlbench coordinator (a worker, a test importing this)
    signal.signal(signal.SIGTERM, _kill_workers_and_exit)
    if set_death_signal(signal.SIGTERM) and os.getppid() != int(coordinator):
        # the coordinator died before the death signal was armed
        _kill_workers_and_exit(signal.SIGTERM, None)


_arm()
