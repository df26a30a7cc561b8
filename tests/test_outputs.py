"""The run lock and output-path checks, with real processes holding real flocks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mlbench.errors import MlbenchError
from mlbench.outputs import LOCK_NAME, RunLock, check_output_dir, prepare_output_dir, prepare_parent

REPO_ROOT = Path(__file__).resolve().parents[1]


def hold_lock(output: Path, shared: bool = False) -> subprocess.Popen[str]:
    """A process that takes the output's lock, says so, and sleeps until killed."""
    code = textwrap.dedent(
        f"""
        import sys, time
        from mlbench.outputs import RunLock
        RunLock({str(output)!r}, shared={shared}).acquire()
        print("held", flush=True)
        time.sleep(60)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def test_a_second_run_is_refused_naming_the_holder_pid(tmp_path: Path) -> None:
    out = tmp_path / "run"
    holder = hold_lock(out)
    try:
        with pytest.raises(MlbenchError, match=rf"PID {holder.pid} holds .*{LOCK_NAME}.*--shared"):
            RunLock(out).acquire()
        # a shared run does not join an exclusive one either
        with pytest.raises(MlbenchError, match=rf"PID {holder.pid}"):
            RunLock(out, shared=True).acquire()
    finally:
        stop(holder)
    # the kernel drops the lock of a killed holder: nothing stale is left behind
    with RunLock(out) as lock:
        assert (out / LOCK_NAME).read_text().split() == [str(os.getpid()), "exclusive"]
        assert lock.holders() == []


def test_shared_runs_coexist_and_only_the_last_one_gets_it_exclusively(tmp_path: Path) -> None:
    out = tmp_path / "run"
    other = hold_lock(out, shared=True)
    try:
        lock = RunLock(out, shared=True).acquire()
        assert lock.holders() == [(other.pid, "shared")]
        with pytest.raises(MlbenchError, match=rf"shared run\(s\) with PID {other.pid}"):
            RunLock(out).acquire()
        assert not lock.try_exclusive()  # the other is still working
        lock.release()
    finally:
        stop(other)
    lock = RunLock(out, shared=True).acquire()
    assert lock.try_exclusive() and not lock.shared
    # the same process may not take it twice either (flock is per open file description)
    with pytest.raises(MlbenchError, match=r"is in use by a run"):
        RunLock(out, shared=True).acquire()
    lock.release()


def test_output_that_is_a_file_or_too_long_is_refused_without_creating_anything(tmp_path: Path) -> None:
    a_file = tmp_path / "results.txt"
    a_file.write_text("x")
    with pytest.raises(MlbenchError, match=r"results.txt is a file, not a folder"):
        check_output_dir(a_file)
    with pytest.raises(MlbenchError, match=r"part of the path is a file"):
        prepare_output_dir(a_file / "sub")
    long = tmp_path / ("a" * 300)
    with pytest.raises(MlbenchError, match=r"name is too long"):
        prepare_output_dir(long)
    with pytest.raises(
        MlbenchError, match=r"cannot write .*results.txt/out.csv: a part of the path is a file"
    ):
        prepare_parent(a_file / "out.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.txt"]


def test_lock_file_is_not_inherited_by_exec_children(tmp_path: Path) -> None:
    # workers started by exec (forkserver, spawn, dask) must not keep the lock of a dead coordinator
    with RunLock(tmp_path / "run") as lock:
        assert lock._fd is not None and not os.get_inheritable(lock._fd)


def test_empty_outputs_run_folder_layout_and_names_that_are_not_utf8_are_refused(tmp_path: Path) -> None:
    from mlbench.outputs import output_option

    for empty in ("", "   "):
        with pytest.raises(MlbenchError, match=r"--output is empty"):
            output_option(empty)
    assert output_option(None) is None and output_option("reports/x") == Path("reports/x")
    run = tmp_path / "run"
    (run / "results.sqlite").mkdir(parents=True)
    with pytest.raises(MlbenchError, match=r"results.sqlite is a folder, not the results database file"):
        check_output_dir(run)
    run = tmp_path / "run2"
    run.mkdir()
    (run / "predictions").write_text("x")
    with pytest.raises(MlbenchError, match=r"predictions is a file, not a folder"):
        check_output_dir(run)
    bad = Path(os.fsdecode(os.fsencode(tmp_path) + b"/out\xff"))
    with pytest.raises(MlbenchError, match=r"out\\xff has bytes that are not UTF-8"):
        prepare_output_dir(bad)
    assert not os.path.exists(os.fsencode(bad))


def test_a_killed_process_not_yet_reaped_is_not_alive() -> None:
    from mlbench.outputs import pid_alive

    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert pid_alive(proc.pid)
        # started after this moment? then the PID is another process's (reused)
        assert not pid_alive(proc.pid, started_before=time.time() - 3600)
        proc.kill()
        deadline = time.monotonic() + 10
        while pid_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not pid_alive(proc.pid)  # a zombie until waited for: dead all the same
    finally:
        proc.kill()
        proc.wait(timeout=10)
