"""The executor backends and the job runner, through real worker processes and real data.

mlbench's per-fold scores equal plain scikit-learn's; the Dask executor gives the same scores as
the local one and counts a job's deadline from its start; ``val: cross_fit`` is
``cross_val_predict``. The coordinator's own behaviour (resume, failures, interrupts, stages)
is tested in ``tests/test_pipeline.py``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
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
    jobs = [j for j in load_suite(suite).expand() if j.model != "dummy"]  # not the baseline's
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
    tree, boost = (j for j in load_suite(suite).expand() if j.model != "dummy")  # not the baseline's
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
