"""Issue 12 (hardening), part A, end to end through the CLI with real runs in real processes: concurrent
runs into one output, killed runs, output paths, read-only result folders, exit codes, strict
suite types and the folds preflight."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import mlbench
from mlbench.errors import ConfigError
from mlbench.outputs import LOCK_NAME
from mlbench.suite import parse_suite

REPO_ROOT = Path(__file__).resolve().parents[1]
PLUGIN = Path(__file__).parent / "plugins" / "faulty.py"
ENV = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}


def write_suite(tmp_path: Path, body: str, name: str = "suite.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body).lstrip())
    return path


def cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlbench.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=ENV,
        **kw,
    )


def start(*args: str) -> subprocess.Popen[str]:
    # own session: a kill takes the run's workers with it (orphaned workers are another issue)
    return subprocess.Popen(
        [sys.executable, "-m", "mlbench.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        start_new_session=True,
    )


def wait_for(predicate, what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def rows(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def slow_suite(tmp_path: Path, seconds: float, folds: int = 4) -> Path:
    return write_suite(
        tmp_path,
        f"""
        name: busy
        baseline: false
        plugins: [{PLUGIN}]
        resampling: {{kind: kfold, folds: {folds}}}
        datasets: [iris]
        models:
          - prior: {{seconds: {seconds}}}
          - decision_tree
        executor: {{workers: 1}}
        """,
    )


def assert_clean_error(res: subprocess.CompletedProcess, *needles: str) -> None:
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert "Traceback" not in res.stderr, res.stderr
    for needle in needles:
        assert needle in res.stderr, (needle, res.stderr)


# -- defect 1: two runs into one output -----------------------------------------------------------


@pytest.mark.slow
def test_a_second_run_into_a_busy_output_names_the_pid_and_exits_2(tmp_path: Path) -> None:
    suite = slow_suite(tmp_path, seconds=1.0)
    out = tmp_path / "out"
    first = start("run", str(suite), "--output", str(out), "-q", "--no-report")
    try:
        wait_for(lambda: (out / "results.sqlite").exists() and f"{first.pid} " in _lock_text(out), "the lock")
        res = cli("run", str(suite), "--output", str(out), "-q")
        assert_clean_error(res, f"PID {first.pid}", "--shared", str(out))
        assert first.poll() is None  # refused while the first one was still running
    finally:
        first.wait(timeout=120)
    assert first.returncode == 0, first.stderr.read() if first.stderr else ""
    db = out / "results.sqlite"
    assert rows(db, "SELECT COUNT(*), MAX(attempt) FROM results") == [(8, 1)]
    assert rows(db, "SELECT COUNT(*) FROM runs") == [(1,)]


def _lock_text(out: Path) -> str:
    try:
        return (out / LOCK_NAME).read_text()
    except OSError:
        return ""


@pytest.mark.slow
def test_shared_runs_split_the_jobs_and_run_none_twice(tmp_path: Path) -> None:
    # three runs into a new folder at once: they race to create the store and its columns too
    suite = slow_suite(tmp_path, seconds=0.2, folds=5)
    out = tmp_path / "out"
    procs = [start("run", str(suite), "--output", str(out), "-q", "--shared") for _ in range(3)]
    results = [(p.wait(timeout=240), p.stderr.read() if p.stderr else "") for p in procs]
    for code, err in results:
        assert code == 0, err
        assert "Traceback" not in err
    db = out / "results.sqlite"
    # every job exactly once, by one of the runs
    assert rows(db, "SELECT COUNT(*), COUNT(DISTINCT job_id), MAX(attempt) FROM results") == [(10, 10, 1)]
    assert rows(db, "SELECT COUNT(*) FROM runs WHERE status = 'finished'") == [(3,)]
    assert rows(db, "SELECT COUNT(DISTINCT job_id) FROM claims") == [(10,)]
    # the last to finish wrote the report of every job
    assert (out / "index.html").is_file()
    assert "report:" in "".join(err for _, err in results)


# -- smaller: killed runs, failed jobs left, folds, strict types ---------------------------------


@pytest.mark.slow
def test_a_killed_run_is_marked_crashed_by_the_next_one(tmp_path: Path) -> None:
    suite = slow_suite(tmp_path, seconds=1.0)
    out = tmp_path / "out"
    first = start("run", str(suite), "--output", str(out), "-q", "--no-report")
    db = out / "results.sqlite"
    wait_for(lambda: db.exists() and rows(db, "SELECT COUNT(*) FROM runs")[0][0] == 1, "the run row")
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=30)
    assert rows(db, "SELECT status FROM runs") == [("running",)]
    res = cli("run", str(suite), "--output", str(out), "-q", "--no-report")
    assert res.returncode == 0, res.stderr
    assert "marked 1 earlier run(s) crashed" in res.stderr
    assert rows(db, "SELECT status FROM runs ORDER BY run_id") == [("crashed",), ("finished",)]


def test_rerun_with_only_failed_jobs_left_exits_1_and_says_how_to_retry(tmp_path: Path) -> None:
    suite = write_suite(
        tmp_path,
        f"""
        name: failing
        plugins: [{PLUGIN}]
        resampling: {{kind: kfold, folds: 2}}
        datasets: [iris]
        models: [raises, decision_tree]
        executor: {{workers: 1}}
        """,
    )
    out = tmp_path / "out"
    first = cli("run", str(suite), "--output", str(out), "-q", "--no-report")
    assert first.returncode == 1, first.stderr
    again = cli("run", str(suite), "--output", str(out), "-q", "--no-report")
    assert again.returncode == 1, again.stderr
    assert "2 failed jobs remain; --retry-failed re-runs them" in again.stderr
    assert "nothing to run" in again.stderr


def test_more_folds_than_rows_is_a_located_error_before_any_job(tmp_path: Path) -> None:
    suite = write_suite(
        tmp_path,
        """
        name: folds
        datasets: [iris]
        models: [knn]
        resampling:
          kind: kfold
          folds: 200
        """,
    )
    out = tmp_path / "out"
    res = cli("run", str(suite), "--output", str(out), "-q")
    assert_clean_error(res, f"{suite}:6:10: resampling.folds", "iris has 150 rows, fewer than 200 folds")
    assert not out.exists()
    # a class smaller than the folds everywhere: StratifiedKFold's own refusal, caught up front
    with pytest.raises(ConfigError, match=r"largest class has 50 rows, fewer than 60 folds"):
        mlbench.run({"datasets": ["iris"], "models": ["knn"], "resampling": {"folds": 60}}, output=out)
    assert not out.exists()


@pytest.mark.parametrize(
    ("line", "where"),
    [
        ("seed: true", "3:7: seed"),
        ("seed: 1.0", "3:7: seed"),
        ('seed: "3"', "3:7: seed"),
        ("resampling: {folds: 5.0}", "3:21: resampling.folds"),
        ("resampling: {kind: repeated_kfold, repeats: true}", "3:45: resampling.repeats"),
        ("sweep: {repeats: true}", "3:18: sweep.repeats"),
        ("sweep: {train_sizes: [true]}", "3:23: sweep.train_sizes[0]"),
    ],
)
def test_counts_and_seeds_are_strict_integers(line: str, where: str) -> None:
    with pytest.raises(ConfigError, match=rf"<suite>:{re.escape(where)}: .*(valid integer|not a number)"):
        parse_suite(f"datasets: [iris]\nmodels: [knn]\n{line}\n")


# -- defect 6: output paths -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def done(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("done")
    suite = write_suite(
        root, "name: d\nresampling: {kind: kfold, folds: 2}\ndatasets: [iris]\nmodels: [knn]\n"
    )
    res = cli("run", str(suite), "--output", str(root / "run"), "-q")
    assert res.returncode == 0, res.stderr
    (root / "afile").write_text("x")
    return root


def test_output_that_is_a_file_or_too_long_exits_2_with_the_reason(done: Path) -> None:
    suite = done / "suite.yaml"
    afile = done / "afile"
    assert_clean_error(
        cli("run", str(suite), "--output", str(afile), "-q"), str(afile), "is a file, not a folder"
    )
    assert_clean_error(
        cli("run", str(suite), "--output", str(afile / "sub"), "-q"), "a part of the path is a file"
    )
    long = done / ("n" * 300)
    for args in (("-q",), ("--dry-run",)):
        assert_clean_error(cli("run", str(suite), "--output", str(long), *args), "name is too long")
    assert afile.read_text() == "x"


def test_export_report_and_figures_below_a_file_exit_2_with_the_path(done: Path) -> None:
    run, afile = done / "run", done / "afile"
    assert_clean_error(cli("export", str(run), "--out", str(afile / "r.csv")), f"{afile}/r.csv", "is a file")
    assert_clean_error(
        cli("report", str(run), "--out", str(afile / "r.html")), f"{afile}/r.html", "is a file"
    )
    assert_clean_error(
        cli("report", str(run), str(run), "--out", str(afile / "c.html")), f"{afile}/c.html", "is a file"
    )
    assert_clean_error(
        cli("report", str(run), "--out", str(done / "ok.html"), "--export-figures", str(afile / "figs")),
        f"{afile}/figs",
        "is a file",
    )


# -- defect 6 and 8 with permissions: read-only and unwritable folders ----------------------------


def test_read_only_run_folder_exports_and_reports_elsewhere(done: Path, tmp_path: Path, unprivileged) -> None:
    import shutil

    prefix = unprivileged
    run = tmp_path / "ro"
    shutil.copytree(done / "run", run)
    (run / LOCK_NAME).unlink()  # left by the run that made it; this test shows none is created
    for path in [run, *run.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    out = tmp_path / "elsewhere"
    out.mkdir()
    base = [*prefix, sys.executable, "-m", "mlbench.cli"]

    def as_user(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*base, *args], capture_output=True, text=True, env=ENV, timeout=300)

    try:
        res = as_user("export", str(run), "--out", str(out / "r.csv"))
        assert res.returncode == 0, res.stderr
        res = as_user("report", str(run), "--out", str(out / "r.html"))
        assert res.returncode == 0, res.stderr
        assert (out / "r.csv").is_file() and (out / "r.html").is_file()
        # the default targets are inside the read-only folder: a clear error, not "damaged"
        res = as_user("report", str(run))
        assert_clean_error(res, "Permission denied", "--out")
        assert "damaged" not in res.stderr
        res = as_user("export", str(run))
        assert_clean_error(res, str(run / "results.csv"), "Permission denied")
        # an output folder we may not write: exit 2 naming it
        res = as_user("run", str(done / "suite.yaml"), "--output", str(run / "sub"), "-q")
        assert_clean_error(res, str(run / "sub"), "Permission denied")
        res = as_user("run", str(done / "suite.yaml"), "--output", str(run), "-q")
        assert_clean_error(res, str(run / LOCK_NAME), "Permission denied")
    finally:
        for path in [run, *run.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
    assert not (run / "sub").exists() and not (run / LOCK_NAME).exists()


def test_python_api_refuses_a_busy_output_and_shares_it_when_asked(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code = textwrap.dedent(
        f"""
        import time
        from mlbench.outputs import RunLock
        RunLock({str(out)!r}, shared=True).acquire()
        print("held", flush=True)
        time.sleep(60)
        """
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        suite = {"datasets": ["iris"], "models": ["knn"], "resampling": {"folds": 2}, "baseline": False}
        with pytest.raises(mlbench.MlbenchError, match=rf"PID {holder.pid}.*--shared"):
            mlbench.run(suite, output=out, quiet=True, workers=1)
        run = mlbench.run(suite, output=out, quiet=True, workers=1, shared=True, report=False)
        assert list(run.results()["status"]) == ["ok", "ok"]
        assert list(run.runs()["status"]) == ["finished"]
    finally:
        holder.kill()
        holder.wait(timeout=10)


def test_a_running_coordinator_keeps_its_heartbeat_fresh(tmp_path: Path, monkeypatch) -> None:
    import mlbench.store
    from mlbench.pipeline import _start_heartbeat
    from mlbench.store import Store

    monkeypatch.setattr(mlbench.store, "HEARTBEAT_SECONDS", 0.02)
    with Store(tmp_path / "run") as store:
        run_id = store.start_run({"suite": "s"})
        old = "2020-01-01T00:00:00+00:00"
        store.conn.execute("UPDATE runs SET heartbeat_at = ? WHERE run_id = ?", (old, run_id))
        assert store.mark_crashed() == []  # stale, but this process is the run's: alive
        stop = _start_heartbeat(store, run_id)
        try:
            stamp = lambda: store.conn.execute("SELECT heartbeat_at FROM runs").fetchone()[0]  # noqa: E731
            wait_for(lambda: stamp() != old, "a heartbeat")
        finally:
            stop()


# -- issue 21, item 2: disk full and other I/O faults are clear errors -----------------------------


def _tmpfs(folder: Path, size: str = "3m") -> None:
    """Mount a small tmpfs at ``folder`` (root only); skip the test, saying why, where that is not possible."""
    import shutil

    if os.geteuid() != 0:
        pytest.skip("a full disk is simulated with a small tmpfs, which only root may mount")
    if shutil.which("mount") is None:
        pytest.skip("a full disk is simulated with a small tmpfs: no `mount` command here")
    folder.mkdir()
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True, text=True
    )
    if res.returncode != 0:
        pytest.skip(
            f"a full disk is simulated with a small tmpfs, and mounting one failed: {res.stderr.strip()}"
        )


def _umount(folder: Path) -> None:
    subprocess.run(["umount", "-l", str(folder)], capture_output=True)


@pytest.mark.slow
def test_a_run_that_fills_the_disk_stops_clearly_keeps_its_results_and_resumes(tmp_path: Path) -> None:
    mnt = tmp_path / "small"
    _tmpfs(mnt, "3m")
    try:
        # leave room for a few jobs' predictions (logistic regression on digits: ~75 KB each)
        filler = mnt / "filler"
        filler.write_bytes(b"\0" * (2600 * 1024))
        suite = write_suite(
            tmp_path,
            """
            name: fill
            baseline: false
            resampling: {kind: kfold, folds: 5}
            datasets: [digits]
            models: [logistic_regression]
            sweep: {repeats: 2}
            executor: {workers: 1}
            """,
        )
        out = mnt / "out"
        db = out / "results.sqlite"
        first = cli("run", str(suite), "--output", str(out), "-q", "--no-report")
        assert_clean_error(first, "no space left", f"cannot write {out}")
        kept = rows(db, "SELECT job_id, attempt FROM results ORDER BY job_id")
        assert 0 < len(kept) < 10
        # again while still full: the database's own error, never "cannot rollback"
        again = cli("run", str(suite), "--output", str(out), "-q", "--no-report")
        assert_clean_error(again, "no space left", f"cannot write {out}")
        assert "cannot rollback" not in again.stderr
        assert rows(db, "SELECT job_id, attempt FROM results ORDER BY job_id") == kept
        # space again: the run resumes where it stopped, every job once
        filler.unlink()
        last = cli("run", str(suite), "--output", str(out), "-q", "--no-report")
        assert last.returncode == 0, last.stderr
        assert f"{10 - len(kept)} ok" in last.stderr
        assert rows(db, "SELECT COUNT(*), COUNT(DISTINCT job_id), MAX(attempt) FROM results") == [(10, 10, 1)]
        assert set(kept) <= set(rows(db, "SELECT job_id, attempt FROM results"))
        assert not list((out / "predictions").rglob("*.tmp"))
    finally:
        _umount(mnt)


def test_a_report_on_a_full_disk_names_the_file(done: Path, tmp_path: Path) -> None:
    import shutil

    mnt = tmp_path / "small"
    _tmpfs(mnt, "2m")
    try:
        run = mnt / "run"
        shutil.copytree(done / "run", run)
        (run / "index.html").unlink()
        shutil.rmtree(run / ".cache", ignore_errors=True)
        free = shutil.disk_usage(mnt).free
        (mnt / "filler").write_bytes(b"\0" * max(0, free - 4096))
        res = cli("report", str(run))
        assert_clean_error(res, f"cannot write {run / 'index.html'}", "no space left")
        assert not list(run.glob(".index.html.*.tmp"))
    finally:
        _umount(mnt)


def test_a_report_write_killed_midway_leaves_no_temp_file_after_the_next_write(
    done: Path, tmp_path: Path
) -> None:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(done / "run", run)
    # SIGKILL between writing the report's temp file and moving it into place
    code = textwrap.dedent(
        f"""
        import os, signal
        from mlbench import open_run
        from mlbench.report.build import write_report

        replace = os.replace

        def killed(src, dst, **kw):
            if str(dst).endswith("index.html"):
                os.kill(os.getpid(), signal.SIGKILL)
            return replace(src, dst, **kw)

        os.replace = killed
        write_report(open_run({str(run)!r}))
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert len(list(run.glob(".index.html.*.tmp"))) == 1  # what the killed write left
    res = cli("report", str(run))
    assert res.returncode == 0, res.stderr
    assert not list(run.glob(".index.html.*.tmp"))
    assert (run / "index.html").read_text().startswith("<!DOCTYPE html>")


def test_bad_output_paths_exit_2_with_the_path_and_the_reason(done: Path, tmp_path: Path) -> None:
    suite = done / "suite.yaml"
    # --output "" is the working folder for a Path: an error, nothing written there
    res = cli("run", str(suite), "--output", "", "-q", cwd=tmp_path)
    assert_clean_error(res, "--output is empty")
    res = cli("run", str(suite), "--output", "  ", "--dry-run", cwd=tmp_path)
    assert_clean_error(res, "--output is empty")
    for command in (("export", str(done / "run"), "--out", ""), ("report", str(done / "run"), "--out", "")):
        assert_clean_error(cli(*command, cwd=tmp_path), "--out is empty")
    assert list(tmp_path.iterdir()) == []
    # a file where the predictions folder goes
    out = tmp_path / "preds-file"
    out.mkdir()
    (out / "predictions").write_text("x")
    res = cli("run", str(suite), "--output", str(out), "-q")
    assert_clean_error(res, str(out / "predictions"), "is a file, not a folder")
    assert sorted(p.name for p in out.iterdir()) == ["predictions"]
    # a folder named results.sqlite: not "no results at"
    out = tmp_path / "db-folder"
    (out / "results.sqlite").mkdir(parents=True)
    res = cli("run", str(suite), "--output", str(out), "-q")
    assert_clean_error(res, str(out / "results.sqlite"), "is a folder, not the results database file")
    res = cli("report", str(out))
    assert_clean_error(res, str(out / "results.sqlite"), "is a folder, not a results database")
    # a name with a byte that is not UTF-8: refused before anything is created
    bad = os.fsencode(tmp_path) + b"/out\xff"
    res = subprocess.run(
        [
            os.fsencode(sys.executable),
            b"-m",
            b"mlbench.cli",
            b"run",
            os.fsencode(suite),
            b"--output",
            bad,
            b"-q",
        ],
        capture_output=True,
        env=ENV,
        timeout=300,
    )
    err = res.stderr.decode("utf-8", "replace")
    assert res.returncode == 2, err
    assert "Traceback" not in err and "out\\xff" in err and "not UTF-8" in err
    assert not os.path.exists(bad)


# -- issue 21, item 6: a shared run killed with SIGKILL ------------------------------------------


@pytest.mark.slow
def test_a_killed_shared_run_not_yet_reaped_is_marked_crashed_and_its_jobs_run(tmp_path: Path) -> None:
    suite = slow_suite(tmp_path, seconds=1.0)
    out = tmp_path / "out"
    db = out / "results.sqlite"
    first = start("run", str(suite), "--output", str(out), "-q", "--no-report", "--shared")
    try:
        wait_for(
            lambda: db.exists() and rows(db, "SELECT COUNT(*) FROM results")[0][0] >= 1, "a first result"
        )
        os.killpg(first.pid, signal.SIGKILL)
        # not waited for yet: a zombie, whose PID still answers kill(pid, 0), as when the process
        # that started the run has not reaped it
        wait_for(lambda: _is_zombie(first.pid), "the killed run to be a zombie")
        assert rows(db, "SELECT status FROM runs") == [("running",)]
        res = cli("run", str(suite), "--output", str(out), "-q", "--no-report", "--shared")
        assert res.returncode == 0, res.stderr
        assert "marked 1 earlier run(s) crashed" in res.stderr
        assert rows(db, "SELECT status FROM runs ORDER BY run_id") == [("crashed",), ("finished",)]
        # the jobs the dead run had claimed were taken over: every job ran, once
        assert rows(db, "SELECT COUNT(*), COUNT(DISTINCT job_id) FROM results") == [(8, 8)]
    finally:
        first.wait(timeout=30)


def _is_zombie(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
