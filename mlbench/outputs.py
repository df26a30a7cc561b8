"""Output paths and the run lock: where a run, a report or an export may write, and who writes.

Path problems (an ``output:`` that is a file, a folder we may not write to, a name longer than the
file system allows, an ``--out`` below a regular file) become an :class:`~mlbench.errors.MlbenchError`
that names the path and the reason (the CLI prints it and exits 2), never a traceback.

The run lock keeps two runs from writing one output folder at once. It is an advisory
``fcntl.flock`` on ``<output>/run.lock``: the kernel drops it when the holder dies, even by
SIGKILL, so a crashed run never leaves a stale lock behind. A normal run takes it exclusively; a
run started with ``--shared`` takes it shared, so several shared runs split the remaining jobs
(each claims a job in the store before running it, see :meth:`mlbench.store.Store.claim_jobs`)
while a normal run and a shared one still exclude each other. The holders write their PIDs into
the file, so a refused run can say who holds the lock.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

from mlbench.errors import MlbenchError

__all__ = ["LOCK_NAME", "RunLock", "check_output_dir", "prepare_output_dir", "prepare_parent", "write_error"]

#: The lock file inside an output folder.
LOCK_NAME = "run.lock"


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ENAMETOOLONG:
        return "the name is too long for the file system (at most 255 characters per folder or file name)"
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        return "a part of the path is a file, not a folder"
    return exc.strerror or str(exc)


def write_error(
    path: str | Path, exc: OSError, what: str = "write", hint: str = "choose another path you can write to"
) -> MlbenchError:
    """The error for an OS error while writing ``path``: the path, the reason and what to do.

    Parameters
    ----------
    path : str or Path
        The file or folder that could not be written.
    exc : OSError
        What the operating system said.
    what : str
        The verb of the message ("write", "create the folder").
    hint : str
        What to do about it.
    """
    # the path the user named, not a temp file mlbench writes first and renames
    return MlbenchError(f"cannot {what} {path}: {_reason(exc)}; {hint}")


def check_output_dir(path: str | Path) -> None:
    """Check, without creating anything, that ``path`` can be (or already is) an output folder.

    Raises
    ------
    MlbenchError
        ``path`` is a file, a part of it is a file, or a name in it is too long.
    """
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise MlbenchError(
            f"output {path} cannot be used: {_reason(exc)}; choose another output folder"
        ) from None
    import stat

    if not stat.S_ISDIR(st.st_mode):
        raise MlbenchError(
            f"output {path} is a file, not a folder; choose another output folder (or move the file)"
        )


def prepare_output_dir(path: str | Path) -> Path:
    """Create the folder ``path`` (and its parents) for writing, or say why it cannot be.

    Raises
    ------
    MlbenchError
        As :func:`check_output_dir`, or the folder cannot be created.
    """
    path = Path(path)
    check_output_dir(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(path, exc, "create the folder") from None
    return path


def prepare_parent(path: str | Path) -> Path:
    """Create the folder a file ``path`` will be written into, or say why it cannot be.

    Raises
    ------
    MlbenchError
        ``path`` is a folder, or its folder cannot be created (a part of it is a file, no permission).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MlbenchError(
            f"cannot write {path}: {_reason(exc)}; choose another path you can write to"
        ) from None
    return path


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


class RunLock:
    """The advisory lock of one output folder (see the module docstring).

    Parameters
    ----------
    output : str or Path
        The output folder (created when missing).
    shared : bool
        Take the lock shared (``--shared`` runs), not exclusively.

    Examples
    --------
    >>> with RunLock("reports/quick"):  # doctest: +SKIP
    ...     ...  # the only writer of reports/quick
    """

    def __init__(self, output: str | Path, shared: bool = False) -> None:
        self.output = Path(output)
        self.path = self.output / LOCK_NAME
        self.shared = shared
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock without waiting.

        Raises
        ------
        MlbenchError
            Another run holds it (the message names its PID and ``--shared``), or the folder
            cannot be created or written.
        """
        prepare_output_dir(self.output)
        try:
            # O_CLOEXEC (Python's default): worker processes started by exec never inherit it
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise write_error(self.path, exc, "write the lock file") from None
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise MlbenchError(self._held_message()) from None
        self._fd = fd
        self._write_pid()
        return self

    def _write_pid(self) -> None:
        assert self._fd is not None
        line = f"{os.getpid()} {'shared' if self.shared else 'exclusive'}\n".encode()
        if not self.shared:
            # alone: the file lists only this run
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, line, 0)
        else:
            # shared holders append; the dead are filtered out when the file is read
            os.lseek(self._fd, 0, os.SEEK_END)
            os.write(self._fd, line)

    def holders(self) -> list[tuple[int, str]]:
        """Live PIDs listed in the lock file, with how they hold it ("shared" or "exclusive")."""
        try:
            text = self.path.read_text(encoding="ascii", errors="replace")
        except OSError:
            return []
        out: list[tuple[int, str]] = []
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0].isdigit():
                pid = int(parts[0])
                if pid != os.getpid() and _pid_alive(pid) and (pid, parts[1]) not in out:
                    out.append((pid, parts[1]))
        return out

    def _held_message(self) -> str:
        holders = self.holders()
        exclusive = [pid for pid, how in holders if how == "exclusive"]
        shared = [pid for pid, how in holders if how == "shared"]
        if exclusive:
            who = f"PID {exclusive[-1]}"
        elif shared:
            who = "shared run(s) with PID " + ", ".join(str(p) for p in shared)
        else:
            who = "another process"
        if self.shared:
            fix = "wait for it to finish, or stop it; --shared runs only join other --shared runs"
        else:
            fix = (
                "wait for it to finish, or stop it; to split the remaining jobs between runs, start "
                "every run with --shared"
            )
        return f"output {self.output} is in use by a run ({who} holds {self.path}); {fix}"

    def try_exclusive(self) -> bool:
        """Give up a shared lock and take it exclusively if no other run holds it now.

        Used by a ``--shared`` run when its jobs are done: the last one to finish gets it and
        builds the ensembles and the report. Returns False (and then holds nothing) otherwise.
        """
        if self._fd is None:
            return False
        # unlock first: a conversion in place is not atomic either (flock(2)), and this way two
        # runs finishing together cannot both fail: whoever tries last finds the other gone
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        self.shared = False
        self._write_pid()
        return True

    def release(self) -> None:
        """Release the lock (idempotent). The file stays: removing it would race with a new holder."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
