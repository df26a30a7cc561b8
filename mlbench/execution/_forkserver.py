"""Tie the fork server's life to the coordinator's (imported by the fork server as a preload).

When the coordinator is SIGKILLed, nothing tells its fork server: it would live on, and so would
its workers with their jobs (and the jobs' own subprocesses), for as long as the jobs run. On
import in the fork server (a direct child of the process named by ``MLBENCH_COORDINATOR_PID``),
this module asks the kernel to send the fork server SIGTERM when the coordinator dies
(``PR_SET_PDEATHSIG``) and installs a handler that SIGKILLs every worker's process group (each
worker leads its own group, so its jobs' children go too), and what the jobs double-forked out of
it (:func:`kill_family`), and exits. Imported anywhere else it
only defines :func:`set_death_signal`.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

__all__ = ["kill_family", "set_child_subreaper", "set_death_signal"]

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


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


def set_child_subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants (Linux only, best effort).

    A worker calls it: a process a job double-forks (``setsid()``, then its parent exits) leaves
    the worker's process group and session, but stays the worker's descendant instead of
    becoming init's, so the coordinator still finds it (and kills it with the worker).

    Returns
    -------
    bool
        Whether it was set.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def kill_family(pid: int, *, rounds: int = 5) -> None:
    """SIGKILL process ``pid``, its process group and every descendant, those that left it too.

    The group is stopped first (nothing in it forks meanwhile); descendants that left it (a
    ``setsid()`` double fork: they stay descendants of a subreaper, see
    :func:`set_child_subreaper`) are killed, with their own groups, before ``pid`` itself: while
    it lives it takes in the orphans of those killed, which the next round finds.
    """
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a dependency
        psutil = None
    try:
        os.killpg(pid, signal.SIGSTOP)
    except OSError:
        pass
    for _ in range(rounds if psutil is not None else 0):
        try:
            family = psutil.Process(pid).children(recursive=True)
        except psutil.Error:
            break
        outside = []
        for proc in family:
            try:
                if os.getpgid(proc.pid) != pid:
                    outside.append(proc)
            except OSError:
                continue
        if not outside:
            break
        for proc in outside:
            _kill_one(proc.pid)
    for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            kill()
        except OSError:
            pass


def _kill_one(pid: int) -> None:
    """SIGKILL ``pid``, and its process group when it leads one (it left its worker's with setsid)."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def _kill_workers_and_exit(signum: int, frame: Any) -> None:
    # Children of the fork server are the workers; each is its own process-group leader, and
    # the reaper of what its jobs double-forked out of that group (see kill_family).
    try:
        import psutil

        children = psutil.Process().children()
    except Exception:
        children = []
    for child in children:
        kill_family(child.pid)
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
