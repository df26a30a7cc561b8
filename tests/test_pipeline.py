"""The coordinator (:mod:`mlbench.pipeline`): plan, run, record, then the post-run stages.

End to end through the real CLI, real worker processes, real SQLite: crash + resume loses
nothing and re-runs nothing finished; a raising / sleeping / memory-hogging model is recorded as
failed / timeout / oom while the rest finish; an interrupt keeps what finished; the stages run
in order, each timed; the report's figures of finished datasets are drawn while jobs run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd

import mlbench
from mlbench.suite import load_suite

PLUGIN = Path(__file__).parent / "plugins" / "faulty.py"


def write_suite(tmp_path: Path, body: str, name: str = "suite.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body).lstrip())
    return path


def mlbench_cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlbench.cli", *args], capture_output=True, text=True, timeout=300, **kwargs
    )


def test_sigkill_then_resume_loses_nothing_and_reruns_nothing(tmp_path):
    suite = write_suite(
        tmp_path,
        f"""
        name: crash
        baseline: false
        plugins: [{PLUGIN}]
        resampling: {{kind: kfold, folds: 5}}
        datasets: [iris]
        models:
          - prior: {{seconds: 0.15}}
          - decision_tree
        sweep: {{train_sizes: [0.5, 1.0], repeats: 2}}
        executor: {{workers: 2}}
        """,
    )
    out = tmp_path / "out"
    n_jobs = len(load_suite(suite).expand())
    assert n_jobs == 40
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlbench.cli", "run", str(suite), "--output", str(out), "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    before = pd.DataFrame()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.1)
        if (out / "results.sqlite").exists():
            before = mlbench.load_results(out)
            if (before["status"] == "ok").sum() >= 8:
                break
    # kill the coordinator and its workers at once, as a crash or the OOM killer would
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    before = mlbench.load_results(out, all_attempts=True)
    assert 8 <= len(before) < n_jobs, "the kill must land mid-run for this test to mean anything"
    assert set(before["status"]) == {"ok"}

    again = mlbench_cli("run", str(suite), "--output", str(out), "-q")
    assert again.returncode == 0, again.stderr
    assert f"{len(before)} already done" in again.stderr

    after = mlbench.load_results(out, all_attempts=True)
    ok = after[after["status"] == "ok"]
    assert len(ok) == n_jobs and ok["job_id"].is_unique  # every job exactly one ok row
    assert set(ok["job_id"]) == {j.job_id for j in load_suite(suite).expand()}
    # jobs finished before the kill were not run again: same single attempt, same timestamps
    kept = after.set_index("job_id").loc[before["job_id"]]
    assert (kept["attempt"] == 1).all()
    assert list(kept["finished_at"]) == list(before["finished_at"])
    # and their predictions are intact
    for job_id in before["job_id"][:3]:
        preds = mlbench.open_run(out).predictions(job_id)
        assert preds["test_proba"].shape[1] == 3


def test_failures_are_recorded_and_the_run_goes_on(tmp_path):
    suite = write_suite(
        tmp_path,
        f"""
        name: faulty
        baseline: false
        plugins: [{PLUGIN}]
        resampling: {{kind: holdout}}
        budget: {{job_seconds: 4, job_memory_gb: 0.7}}
        datasets: [iris, wine]
        models:
          - decision_tree
          - raises
          - sleeps: {{seconds: 60}}
          - hog: {{megabytes: 1500, seconds: 20}}
          - knn
        executor: {{workers: 2}}
        """,
    )
    out = tmp_path / "out"
    res = mlbench_cli("run", str(suite), "--output", str(out), "--no-report")
    assert res.returncode == 1, res.stderr
    df = mlbench.load_results(out)
    assert len(df) == 10
    by_model = df.groupby("model")["status"].agg(set).to_dict()
    assert by_model == {
        "decision_tree": {"ok"},
        "knn": {"ok"},
        "raises": {"failed"},
        "sleeps": {"timeout"},
        "hog": {"oom"},
    }
    errors = df.set_index(["model", "dataset"])["error"]
    assert "RuntimeError: boom" in errors["raises", "iris"] and "Traceback" in errors["raises", "iris"]
    assert (
        "job_seconds=4" in errors["sleeps", "wine"] and "raise budget.job_seconds" in errors["sleeps", "wine"]
    )
    assert "job_memory_gb=0.7" in errors["hog", "iris"]
    ok = df[df["status"] == "ok"]
    assert ok["test_accuracy"].notna().all() and (ok["fit_seconds"] > 0).all()

    # resume: failed jobs are not retried unless asked; then they get a second attempt
    res = mlbench_cli("run", str(suite), "--output", str(out), "--no-report")
    # (exit 1 while failed jobs remain, issue 12)
    assert res.returncode == 1 and "6 failed before" in res.stderr
    assert "6 failed jobs remain; --retry-failed re-runs them" in res.stderr
    assert len(mlbench.load_results(out, all_attempts=True)) == 10
    fast = write_suite(
        tmp_path, suite.read_text().replace("seconds: 60", "seconds: 60").replace("- hog", "# - hog")
    )
    res = mlbench_cli("run", str(fast), "--output", str(out), "--no-report", "--retry-failed")
    assert res.returncode == 1
    attempts = mlbench.load_results(out, all_attempts=True).groupby("model")["attempt"].max()
    assert attempts["raises"] == 2 and attempts["sleeps"] == 2 and attempts["decision_tree"] == 1


def test_interrupt_flushes_results_and_writes_the_report(tmp_path):
    suite = write_suite(
        tmp_path,
        f"""
        name: stop
        plugins: [{PLUGIN}]
        resampling: {{kind: kfold, folds: 5}}
        datasets: [iris]
        models: [decision_tree, {{sleeps: {{seconds: 30}}}}]
        executor: {{workers: 1}}
        """,
    )
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlbench.cli", "run", str(suite), "--output", str(out), "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.1)
        if (out / "results.sqlite").exists() and len(mlbench.load_results(out)) >= 5:
            break
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    df = mlbench.load_results(out)
    assert (df["status"] == "ok").sum() == 5  # the five decision-tree jobs finished first
    assert (out / "index.html").exists()
    assert mlbench.open_run(out).runs()["status"].iloc[-1] == "interrupted"


def test_too_large_train_size_is_skipped_not_failed(tmp_path):
    suite = write_suite(
        tmp_path,
        """
        name: sizes
        baseline: false
        resampling: {kind: holdout}
        datasets: [iris]
        models: [decision_tree]
        sweep: {train_sizes: [20, 100000]}
        """,
    )
    res = mlbench_cli("run", str(suite), "--output", str(tmp_path / "o"), "--no-report", "-q")
    assert res.returncode == 0, res.stderr
    df = mlbench.load_results(tmp_path / "o").set_index("train_size")
    assert df.loc[20.0, "status"] == "ok" and df.loc[20.0, "n_train"] == 20
    assert df.loc[100000.0, "status"] == "skipped" and "exceeds" in df.loc[100000.0, "error"]


def test_dry_run_prints_jobs_and_resume_count(tmp_path):
    suite = write_suite(
        tmp_path,
        """
        name: dry
        baseline: false
        resampling: {kind: kfold, folds: 3}
        datasets: [iris]
        models: [decision_tree, knn]
        """,
    )
    out = tmp_path / "out"
    res = mlbench_cli("run", str(suite), "--output", str(out), "--dry-run")
    assert res.returncode == 0 and "6 to run; a resume skips 0 finished" in res.stdout
    assert not out.exists()  # a dry run writes nothing
    assert mlbench_cli("run", str(suite), "--output", str(out), "-q", "--no-report").returncode == 0
    res = mlbench_cli("run", str(suite), "--output", str(out), "--dry-run")
    assert "0 to run; a resume skips 6 finished" in res.stdout


def test_a_dataset_broken_at_load_fails_its_jobs_clearly_and_the_rest_run(tmp_path):
    # passes `validate` (the file and the target column exist) but has a single class
    (tmp_path / "one.csv").write_text("x,y\n" + "".join(f"{i},a\n" for i in range(20)))
    suite = write_suite(
        tmp_path,
        """
        name: broken
        resampling: {kind: kfold, folds: 3}
        datasets: [iris, {csv: one.csv, target: y}]
        models: [decision_tree]
        """,
    )
    res = mlbench_cli("run", str(suite), "--output", str(tmp_path / "o"), "--no-report", "-q")
    assert res.returncode == 1, res.stderr
    df = mlbench.load_results(tmp_path / "o").set_index("dataset")
    assert set(df.loc["iris", "status"]) == {"ok"}
    errors = df.loc["one", "error"]
    assert (df.loc["one", "status"] == "failed").all()
    assert all(e.startswith("DatasetError: dataset 'one'") and "Traceback" not in e for e in errors)


def test_an_executor_from_a_plugin_runs_the_jobs(tmp_path):
    from mlbench.execution.base import EXECUTORS, Executor, executor_class
    from mlbench.pipeline import run_suite

    # the built-in kinds name real Executor classes (imported only when used)
    assert {"local", "dask"} <= set(EXECUTORS.names())
    assert all(issubclass(executor_class(kind), Executor) for kind in ("local", "dask"))
    suite = write_suite(
        tmp_path,
        f"""
        name: serial
        baseline: false
        plugins: [{Path(__file__).parent / "plugins" / "serial_executor.py"}]
        resampling: {{kind: kfold, folds: 3}}
        datasets: [iris]
        models: [decision_tree]
        executor: {{kind: serial}}
        """,
    )
    outcome = run_suite(load_suite(suite, output=tmp_path / "out"), write_report=False)
    assert outcome.counts == {"ok": 3}
    df = mlbench.load_results(tmp_path / "out")
    # recorded by the coordinator like any other executor's results, run in this very process
    assert set(df["executor"]) == {"serial"} and set(df["worker_pid"]) == {os.getpid()}


def test_cross_fit_runs_end_to_end_and_dry_run_says_the_cost(tmp_path):
    suite = write_suite(
        tmp_path,
        """
        name: bagged
        baseline: false
        resampling: {kind: kfold, folds: 3, val: cross_fit, inner_folds: 4}
        datasets: [iris]
        models: [decision_tree, knn]
        ensembles: [caruana]
        """,
    )
    out = tmp_path / "out"
    res = mlbench_cli("run", str(suite), "--output", str(out), "--dry-run")
    assert res.returncode == 0, res.stderr
    assert "each job fits 4 models (inner_folds)" in res.stdout and "24 fits" in res.stdout
    res = mlbench_cli("run", str(suite), "--output", str(out), "--no-report", "-q")
    assert res.returncode == 0, res.stderr
    everything = mlbench.load_results(out)
    ensembles = everything[everything["ensemble"].notna()]
    assert len(ensembles) == 3 and set(ensembles["status"]) == {"ok"}  # one caruana per fold
    df = everything[everything["ensemble"].isna()]
    assert len(df) == 6 and set(df["status"]) == {"ok"}
    assert (df["val_in_fit"] == 0).all() and (df["inner_folds"] == 4).all()
    assert (df["n_val"] == df["n_train"]).all() and (df["n_train"] == 100).all()
    preds = mlbench.open_run(out).predictions(df["job_id"].iloc[0])
    np.testing.assert_array_equal(preds["val_index"], preds["train_index"])


def test_a_rerun_that_only_rescores_builds_no_executor(tmp_path):
    # adding a metric to a finished run rescoring stored predictions needs no workers: an executor
    # that cannot be built here (GPUs or an extra this machine lacks) must not stop it
    body = """
        name: rescore
        resampling: {kind: holdout}
        datasets: [iris]
        models: [decision_tree]
        diagnostics: false
        """
    suite = write_suite(tmp_path, body + "metrics: [accuracy]\n")
    out = tmp_path / "out"
    assert mlbench_cli("run", str(suite), "--output", str(out), "--no-report").returncode == 0
    plugin = Path(__file__).parent / "plugins" / "unbuildable_executor.py"
    more = write_suite(
        tmp_path,
        body
        + f"""
        plugins: [{plugin}]
        executor: {{kind: unbuildable}}
        metrics: [accuracy, balanced_accuracy]
        """,
        name="more.yaml",
    )
    res = mlbench_cli("run", str(more), "--output", str(out), "--no-report")
    assert res.returncode == 0, res.stderr
    df = mlbench.load_results(out)
    assert df["test_balanced_accuracy"].notna().all()


# ---------------------------------------------------------------------------------------------
# stages


STAGED = """
    name: staged
    resampling: {kind: kfold, folds: 2}
    datasets: [iris, wine]
    models: [decision_tree, logistic_regression]
    """


def test_the_stages_run_in_order_each_timed_and_v_prints_them(tmp_path):
    from mlbench.pipeline import STAGES

    suite = write_suite(tmp_path, STAGED)
    res = mlbench_cli("run", str(suite), "--output", str(tmp_path / "out"), "-q", "-v")
    assert res.returncode == 0, res.stderr
    line = next(x for x in res.stderr.splitlines() if x.startswith("stages: "))
    names = [part.rsplit(" ", 2)[0] for part in line.removeprefix("stages: ").split(", ")]
    order = [s.name for s in STAGES] + ["report"]
    assert names == sorted(names, key=order.index) and names[0] == "jobs" and names[-1] == "report"
    assert all(float(part.rsplit(" ", 2)[1]) >= 0 for part in line.removeprefix("stages: ").split(", "))
    # the mismatch checks ran and were recorded (while the jobs ran or in their own stage)
    assert len(mlbench.open_run(tmp_path / "out").diagnostics())


def test_a_rebuilt_report_draws_nothing(tmp_path):
    # the report keeps its drawn figures in the run's cache: rebuilt from the same store, it
    # draws none of them again
    from mlbench.report.build import figure_cache, summarize_run
    from mlbench.report.html import figure_specs, render_html

    suite = write_suite(tmp_path, STAGED)
    out = tmp_path / "out"
    assert mlbench_cli("run", str(suite), "--output", str(out), "-q").returncode == 0
    run = mlbench.open_run(out)
    summary = summarize_run(run)
    specs = figure_specs(summary)
    shown = [s for ds in specs["datasets"] for s in ds.values() if s is not None]
    assert len(shown) >= 6  # bars, Pareto plots, confusion matrices of two datasets, and more
    again = figure_cache(out)
    render_html(summary, cache=again)
    assert again.drawn == 0


# a rerun in a fresh process, as a user types it; prints whether it read the store (its read API)
_RERUN = """
import sys
from mlbench.cli import main
sys.argv = ["mlbench", "run", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
print("READ_STORE", "mlbench.store.read" in sys.modules, "EXIT", code)
"""


def _rerun(tmp_path: Path, *args: str, code: int = 0) -> tuple[bool, str]:
    res = subprocess.run(
        [sys.executable, "-c", _RERUN, *args], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert f"EXIT {code or None}" in res.stdout or f"EXIT {code}" in res.stdout, res.stdout + res.stderr
    return "READ_STORE True" in res.stdout, res.stderr


def test_a_rerun_with_nothing_to_do_skips_reading_the_store_until_anything_changes(tmp_path):
    from mlbench.pipeline import STAMP

    body = """
        name: stamp
        baseline: false
        resampling: {kind: kfold, folds: 2}
        datasets: [iris]
        models: [decision_tree]
        """
    suite = write_suite(tmp_path, body)
    out = tmp_path / "out"
    assert mlbench_cli("run", str(suite), "--output", str(out), "-q").returncode == 0
    read, err = _rerun(tmp_path, str(suite), "--output", str(out))
    assert read and "2 jobs: 0 to run, 2 already done" in err  # the first rerun reads the store
    assert (out / STAMP).is_file()
    report = (out / "index.html").stat().st_mtime_ns
    read, err = _rerun(tmp_path, str(suite), "--output", str(out))
    assert not read and "2 jobs: 0 to run, 2 already done" in err and "nothing to run" in err
    assert f"report: {out / 'index.html'}" in err and (out / "index.html").stat().st_mtime_ns == report

    # the report deleted: read again, and written again
    (out / "index.html").unlink()
    read, err = _rerun(tmp_path, str(suite), "--output", str(out))
    assert read and (out / "index.html").is_file()
    assert not _rerun(tmp_path, str(suite), "--output", str(out))[0]
    # the store written since (another tool, another run): read again
    os.utime(out / "results.sqlite", ns=(time.time_ns(), time.time_ns()))
    assert _rerun(tmp_path, str(suite), "--output", str(out))[0]
    # a garbled stamp is no answer: read again, and a new stamp written
    (out / STAMP).write_text('{"key": [1, 2]')
    assert _rerun(tmp_path, str(suite), "--output", str(out))[0]
    assert not _rerun(tmp_path, str(suite), "--output", str(out))[0]
    # --no-report is another question (the report is not checked): read once for it
    assert _rerun(tmp_path, str(suite), "--output", str(out), "--no-report")[0]
    # the suite asks for more: its new job runs
    write_suite(tmp_path, body.replace("[decision_tree]", "[decision_tree, knn]"))
    read, err = _rerun(tmp_path, str(suite), "--output", str(out))
    assert read and "4 jobs: 2 to run, 2 already done" in err
    assert set(mlbench.load_results(out)["model"]) == {"decision_tree", "knn"}


def test_a_stamp_of_failed_jobs_does_not_stop_retry_failed(tmp_path):
    from mlbench.pipeline import STAMP

    suite = write_suite(
        tmp_path,
        f"""
        name: stamp_failed
        baseline: false
        plugins: [{PLUGIN}]
        resampling: {{kind: holdout}}
        datasets: [iris]
        models: [decision_tree, raises]
        diagnostics: false
        """,
    )
    out = tmp_path / "out"
    assert mlbench_cli("run", str(suite), "--output", str(out), "-q").returncode == 1
    _rerun_failed = mlbench_cli("run", str(suite), "--output", str(out))
    assert "1 failed jobs remain" in _rerun_failed.stderr and (out / STAMP).is_file()
    read, err = _rerun(tmp_path, str(suite), "--output", str(out), code=1)
    assert not read and "1 failed jobs remain" in err
    res = mlbench_cli("run", str(suite), "--output", str(out), "--retry-failed")
    assert "1 to run" in res.stderr
    df = mlbench.load_results(out)
    assert df.loc[df["model"] == "raises", "attempt"].max() == 2
