"""End-to-end runs through the real CLI, real worker processes, real SQLite.

Covers the foundation's acceptance: crash + resume loses nothing and re-runs nothing finished;
a raising / sleeping / memory-hogging model is recorded as failed / timeout / oom while the rest
finish; mlbench's per-fold scores equal plain scikit-learn's; the Dask executor gives the same
scores as the local one.
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
import pytest

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


def _plain_sklearn_scores(dataset: str, model: str) -> np.ndarray:
    from sklearn.datasets import load_breast_cancer, load_wine
    from sklearn.impute import SimpleImputer
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    X, y = {"wine": load_wine, "breast_cancer": load_breast_cancer}[dataset](return_X_y=True)
    est = {
        "decision_tree": DecisionTreeClassifier(random_state=0),
        "knn": make_pipeline(StandardScaler(), KNeighborsClassifier()),
    }[model]
    est = make_pipeline(SimpleImputer(strategy="median"), est)  # a no-op on data without NaN
    return cross_val_score(est, X, y, cv=StratifiedKFold(5, shuffle=True, random_state=0), scoring="accuracy")


def test_scores_equal_plain_sklearn_cross_val_score(tmp_path):
    suite = write_suite(
        tmp_path,
        """
        name: equal
        seed: 0
        resampling: {kind: kfold, folds: 5}
        datasets: [wine, breast_cancer]
        models: [decision_tree, knn]
        """,
    )
    out = tmp_path / "out"
    res = mlbench_cli("run", str(suite), "--output", str(out), "--no-report", "-q")
    assert res.returncode == 0, res.stderr
    df = mlbench.load_results(out)
    for dataset in ("wine", "breast_cancer"):
        for model in ("decision_tree", "knn"):
            ours = df[(df.dataset == dataset) & (df.model == model)].sort_values("fold")["test_accuracy"]
            np.testing.assert_array_equal(ours.to_numpy(), _plain_sklearn_scores(dataset, model))


def test_dask_executor_gives_the_local_scores(tmp_path):
    pytest.importorskip("dask.distributed")
    body = """
        name: same
        resampling: {kind: kfold, folds: 3}
        datasets: [wine]
        models: [decision_tree, logistic_regression]
        """
    local = write_suite(tmp_path, body, "local.yaml")
    dask = write_suite(
        tmp_path, body.rstrip(" ") + "        executor: {kind: dask, workers: 2}\n", "dask.yaml"
    )
    for path, out in ((local, "a"), (dask, "b")):
        res = mlbench_cli("run", str(path), "--output", str(tmp_path / out), "--no-report", "-q")
        assert res.returncode == 0, res.stderr
    a = mlbench.load_results(tmp_path / "a").sort_values("job_id").reset_index(drop=True)
    b = mlbench.load_results(tmp_path / "b").sort_values("job_id").reset_index(drop=True)
    assert list(a["job_id"]) == list(b["job_id"])  # same jobs, same ids, whatever the executor
    np.testing.assert_array_equal(a["test_accuracy"], b["test_accuracy"])
    np.testing.assert_allclose(a["test_log_loss"], b["test_log_loss"])


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


def test_dask_deadline_counts_running_time_not_queue_time(tmp_path):
    pytest.importorskip("dask.distributed")
    # one worker, four 1.5-second jobs, a 4.5 s budget: queued jobs must not time out
    suite = write_suite(
        tmp_path,
        f"""
        name: queue
        plugins: [{PLUGIN}]
        resampling: {{kind: kfold, folds: 4}}
        datasets: [iris]
        models: [{{prior: {{seconds: 1.5}}}}]
        budget: {{job_seconds: 4.5}}
        executor: {{kind: dask, workers: 1}}
        """,
    )
    res = mlbench_cli("run", str(suite), "--output", str(tmp_path / "o"), "--no-report", "-q")
    assert res.returncode == 0, res.stderr
    assert set(mlbench.load_results(tmp_path / "o")["status"]) == {"ok"}


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


# ---------------------------------------------------------------------------------------------
# val: cross_fit (AutoGluon-style bagging inside each job)


def _inner_cv(task: str, k: int, seed: int):
    from sklearn.model_selection import KFold, StratifiedKFold

    cls = StratifiedKFold if task == "classification" else KFold
    return cls(k, shuffle=True, random_state=seed)


@pytest.mark.parametrize(
    ("dataset", "model", "task"),
    [("wine", "decision_tree", "classification"), ("diabetes", "knn", "regression")],
)
def test_cross_fit_is_cross_val_predict_and_test_is_the_mean_of_the_k_models(tmp_path, dataset, model, task):
    from sklearn.base import clone
    from sklearn.datasets import load_diabetes, load_wine
    from sklearn.impute import SimpleImputer
    from sklearn.model_selection import cross_val_predict
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    from mlbench.execution.job import run_job

    k = 4
    suite = write_suite(
        tmp_path,
        f"""
        seed: 2
        resampling: {{kind: kfold, folds: 3, val: cross_fit, inner_folds: {k}}}
        datasets: [{dataset}]
        models: [{model}]
        sweep: {{train_sizes: [60, 1.0], repeats: 2}}
        """,
    )
    X, y = {"wine": load_wine, "diabetes": load_diabetes}[dataset](return_X_y=True)
    plain = {
        "decision_tree": lambda seed: DecisionTreeClassifier(random_state=seed),
        "knn": lambda seed: make_pipeline(StandardScaler(), KNeighborsRegressor()),
    }[model]
    jobs = load_suite(suite).expand()
    for job in (jobs[0], jobs[-1]):  # a subset of 60 rows and the whole training fold, two seeds
        row, preds = run_job(job)
        train, test = preds["train_index"], preds["test_index"]
        est = make_pipeline(SimpleImputer(strategy="median"), plain(job.seed))
        cv = _inner_cv(task, k, job.seed)
        # every training row is a validation row, predicted by the model that did not train on it
        np.testing.assert_array_equal(preds["val_index"], train)
        np.testing.assert_array_equal(preds["val_true"], y[train])
        # the k models, fitted by hand on the inner folds of the job's training rows
        fitted = [clone(est).fit(X[train][a], y[train][a]) for a, _ in cv.split(X[train], y[train])]
        if task == "classification":
            oof = cross_val_predict(est, X[train], y[train], cv=cv, method="predict_proba")
            np.testing.assert_allclose(preds["val_proba"], oof, atol=1e-6)
            np.testing.assert_array_equal(preds["val_pred"], oof.argmax(axis=1))
            mean = np.mean([m.predict_proba(X[test]) for m in fitted], axis=0)
            np.testing.assert_allclose(preds["test_proba"], mean, atol=1e-6)
            np.testing.assert_array_equal(preds["test_pred"], mean.argmax(axis=1))
            train_mean = np.mean([m.predict_proba(X[train]) for m in fitted], axis=0)
            np.testing.assert_allclose(preds["train_proba"], train_mean, atol=1e-6)
            assert row["test_accuracy"] == np.mean(mean.argmax(axis=1) == y[test])
        else:
            oof = cross_val_predict(est, X[train], y[train], cv=cv)
            np.testing.assert_allclose(preds["val_pred"], oof)
            mean = np.mean([m.predict(X[test]) for m in fitted], axis=0)
            np.testing.assert_allclose(preds["test_pred"], mean)
            assert row["test_rmse"] == pytest.approx(np.sqrt(np.mean((mean - y[test]) ** 2)))
        assert row["val_in_fit"] is False and row["inner_folds"] == k
        assert row["n_val"] == row["n_train"] == len(train)
        assert row["n_fit"] == int(np.median([len(a) for a, _ in cv.split(X[train], y[train])]))


def test_cross_fit_keeps_every_class_column_and_early_stopping_rows(tmp_path):
    from mlbench.execution.job import run_job

    # class c has one row: the inner model whose out-of-fold rows hold it never saw the class
    rows = [f"{i},{i % 7},a" for i in range(12)] + [f"{i},{i % 5},b" for i in range(12)] + ["5,50,c"]
    (tmp_path / "train.csv").write_text("u,v,y\n" + "\n".join(rows) + "\n")
    (tmp_path / "test.csv").write_text("u,v,y\n1,2,a\n3,4,b\n5,50,c\n2,2,a\n")
    suite = write_suite(
        tmp_path,
        """
        resampling: {val: cross_fit, inner_folds: 5}
        datasets: [{csv: train.csv, target: y, test: test.csv}]
        models: [decision_tree, {xgboost: {n_estimators: 20, early_stopping_rounds: 3}}]
        """,
    )
    tree, boost = load_suite(suite).expand()
    row, preds = run_job(tree)
    assert preds["val_proba"].shape == (25, 3) and preds["test_proba"].shape == (4, 3)
    np.testing.assert_allclose(preds["val_proba"].sum(axis=1), 1, atol=1e-6)
    rare = int(np.flatnonzero(preds["val_true"] == 2)[0])
    assert preds["val_proba"][rare, 2] == 0  # out-of-fold: its model never saw class c
    assert preds["test_proba"][2, 2] > 0  # the mean over the k models: the others did
    assert row["status"] == "ok" and row["inner_folds"] == 5
    # an early-stopping model holds its stopping rows out of its own inner training rows
    row, preds = run_job(boost)
    assert row["status"] == "ok" and row["n_fit"] < 20 == 25 * 4 // 5
    assert preds["val_proba"].shape == (25, 3)


def test_cross_fit_runs_end_to_end_and_dry_run_says_the_cost(tmp_path):
    suite = write_suite(
        tmp_path,
        """
        name: bagged
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


def test_memoriser_scores_its_out_of_fold_quality_under_cross_fit_not_its_in_sample_one(tmp_path):
    from mlbench.execution.job import run_job

    # a fully grown decision tree memorises its training rows: with the default resampling its
    # validation rows are among them (the config refuses ensembles there); cross-fitted, its
    # validation score is what it earns on rows it never saw
    body = """
        datasets: [{{builtin: synthetic_tabular, n_samples: 300, noise: 0.3}}]
        models: [decision_tree]
        resampling: {{folds: 3{extra}}}
        """
    in_sample = run_job(load_suite(write_suite(tmp_path, body.format(extra=""), "a.yaml")).expand()[0])[0]
    crossed = run_job(
        load_suite(write_suite(tmp_path, body.format(extra=", val: cross_fit"), "b.yaml")).expand()[0]
    )[0]
    assert in_sample["val_in_fit"] is True and in_sample["val_accuracy"] == 1.0
    assert crossed["val_in_fit"] is False and crossed["train_accuracy"] == 1.0
    assert crossed["val_accuracy"] < 0.95
    assert abs(crossed["val_accuracy"] - crossed["test_accuracy"]) < 0.15  # honest: near its test score


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
