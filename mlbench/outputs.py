"""Output paths and the run lock: where a run, a report or an export may write, and who writes.

Path problems (an ``output:`` that is a file, a folder we may not write to, a name longer than the
file system allows, an ``--out`` below a regular file, an empty ``--output ""``, a name with bytes
that are not UTF-8, a run folder whose ``results.sqlite`` is a folder or whose ``predictions`` is a
file) and write errors (a full disk, a read-only file system) become an
:class:`~mlbench.errors.MlbenchError` that names the path and the reason (the CLI prints it and
exits 2), never a traceback.

The run lock keeps two runs from writing one output folder at once. It is an advisory
``fcntl.flock`` on ``<output>/run.lock``: the kernel drops it when the holder dies, even by
SIGKILL, so a crashed run never leaves a stale lock behind. A normal run takes it exclusively; a
run started with ``--shared`` takes it shared, so several shared runs split the remaining jobs
(each claims a job in the store before running it, see :meth:`mlbench.store.Store.claim_jobs`)
while a normal run and a shared one still exclude each other. The holders write their PIDs into
the file, so a refused run can say who holds the lock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path

from mlbench.errors import MlbenchError

__all__ = [
    "LOCK_NAME",
    "RunLock",
    "check_output_dir",
    "os_error_reason",
    "output_option",
    "pid_alive",
    "prepare_output_dir",
    "prepare_parent",
    "show_path",
    "write_error",
]

#: The lock file inside an output folder.
LOCK_NAME = "run.lock"

# what a run folder holds (mlbench.store.schema's names; not imported, so this module stays light)
_DB_NAME = "results.sqlite"
_PREDICTIONS_DIR = "predictions"

_REASONS = {
    errno.ENOSPC: "no space left on the device (the disk is full)",
    errno.EDQUOT: "no space left: the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EIO: "an input/output error (a failing disk or a lost network drive)",
    errno.EFBIG: "the file is too large for the file system",
}


def os_error_reason(exc: OSError) -> str:
    """What an OS error means for a path, in words (``no space left on the device (the disk is full)``)."""
    if exc.errno == errno.ENAMETOOLONG:
        return "the name is too long for the file system (at most 255 characters per folder or file name)"
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        return "a part of the path is a file, not a folder"
    if exc.errno in _REASONS:
        return _REASONS[exc.errno]
    return exc.strerror or str(exc)


def show_path(path: str | Path) -> str:
    """``path`` as text that can always be printed: bytes that are not UTF-8 as ``\\xff`` escapes."""
    return os.fsencode(str(path)).decode("utf-8", "backslashreplace")


def output_option(value: str | Path | None, option: str = "--output") -> Path | None:
    """A path given on the command line (``--output``, ``--out``), checked before anything is written.

    Parameters
    ----------
    value : str or Path or None
        As typed; None when the option was not given.
    option : str
        The option's name, for the message.

    Raises
    ------
    MlbenchError
        The value is empty (``--output ""`` would otherwise write into the working folder) or
        only blanks.
    """
    if value is None:
        return None
    if not str(value).strip():
        raise MlbenchError(
            f"{option} is empty ({str(value)!r}); give a folder or file name, or leave {option} out "
            "for the default"
        )
    return Path(value)


def _utf8_problem(path: Path) -> str | None:
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return (
            f"{show_path(path)} has bytes that are not UTF-8 in its name (shown as \\x escapes), which "
            "the results store cannot record; rename it or choose another folder"
        )
    return None


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
    return MlbenchError(f"cannot {what} {show_path(path)}: {os_error_reason(exc)}; {hint}")


def check_output_dir(path: str | Path) -> None:
    """Check, without creating anything, that ``path`` can be (or already is) an output folder.

    Raises
    ------
    MlbenchError
        ``path`` is a file, a part of it is a file, a name in it is too long or is not UTF-8, or,
        in an existing folder, ``results.sqlite`` is not a file or ``predictions`` not a folder.
    """
    import stat

    path = Path(path)
    problem = _utf8_problem(path)
    if problem:
        raise MlbenchError(f"output {problem}")
    try:
        st = path.stat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise MlbenchError(
            f"output {path} cannot be used: {os_error_reason(exc)}; choose another output folder"
        ) from None
    if not stat.S_ISDIR(st.st_mode):
        raise MlbenchError(
            f"output {path} is a file, not a folder; choose another output folder (or move the file)"
        )
    for name, want_dir in ((_DB_NAME, False), (_PREDICTIONS_DIR, True)):
        inside = path / name
        try:
            is_dir = stat.S_ISDIR(inside.stat().st_mode)
        except OSError:
            continue  # missing (created later) or unreadable (the store says so when it opens)
        if is_dir != want_dir:
            what = "a folder, not the results database file" if is_dir else "a file, not a folder"
            raise MlbenchError(
                f"output {path} cannot be used: {inside} is {what}; move it away or choose another "
                "output folder"
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
            f"cannot write {path}: {os_error_reason(exc)}; choose another path you can write to"
        ) from None
    return path


def pid_alive(pid: int, started_before: float | None = None) -> bool:
    """Whether process ``pid`` of this host still runs (a zombie, killed but not yet reaped, does not).

    Parameters
    ----------
    pid : int
    started_before : float, optional
        A time (seconds since the epoch) the process must have been started by: a process with
        this PID started later is another one that got the number after the first died.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    except OSError:
        return False
    try:
        import psutil

        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False  # killed (SIGKILL): only its exit status waits for its parent
        # the process table's clock and the stamp's may differ a little (clock adjustments): a
        # minute's slack, since taking a live run for dead would hand its jobs to another run
        if started_before is not None and proc.create_time() > started_before + 60.0:
            return False
    except psutil.NoSuchProcess:
        return False
    except (psutil.Error, OSError):
        pass
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
        try:
            self._write_pid()
        except OSError as exc:  # a full disk: the lock is held, but the file cannot name us
            self.release()
            raise write_error(self.path, exc, "write the lock file") from None
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
                if pid != os.getpid() and pid_alive(pid) and (pid, parts[1]) not in out:
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
        with contextlib.suppress(OSError):  # the PID line only helps messages; a full disk keeps the lock
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
