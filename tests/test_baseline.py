"""The baseline: every run has a ``dummy`` model, and a model no better than it beyond noise is flagged.

Simulations check the paired corrected-t comparison with real fits on real splits: on data with
no signal a model is called better than the baseline in at most 5% of runs (it assumes nothing
the null breaks), and a model with real signal on a small real dataset is called better nearly
always.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, mean_squared_error
from sklearn.model_selection import KFold, StratifiedKFold
from threadpoolctl import threadpool_limits

import mlbench
from mlbench.analysis.baseline import baseline_comparison, no_better_than_baseline
from mlbench.suite import parse_suite


def _cv_results(X, y, model, baseline, *, classify: bool, seed: int, folds: int = 5) -> pd.DataFrame:
    """A results table as mlbench stores it: both models on the same folds, test scores only."""
    split = StratifiedKFold if classify else KFold
    rows = []
    for fold, (train, test) in enumerate(split(folds, shuffle=True, random_state=seed).split(X, y)):
        for label, est in (("model", model), ("dummy", baseline)):
            pred = est.fit(X[train], y[train]).predict(X[test])
            score = (
                {"test_accuracy": accuracy_score(y[test], pred)}
                if classify
                else {"test_rmse": float(np.sqrt(mean_squared_error(y[test], pred)))}
            )
            rows.append(
                {
                    "dataset": "d",
                    "task_type": "classification" if classify else "regression",
                    "model": label,
                    "fold": fold,
                    "repeat": 0,
                    "train_size": 1.0,
                    "n_train": len(train),
                    "n_test": len(test),
                    "status": "ok",
                    **score,
                }
            )
    return pd.DataFrame(rows)


@pytest.mark.slow
@threadpool_limits.wrap(limits=1)  # hundreds of tiny fits: BLAS threads only add contention
def test_no_signal_is_rarely_called_better_than_the_baseline() -> None:
    rng = np.random.default_rng(0)
    better = {"classification": 0, "regression": 0}
    reps = 100
    for rep in range(reps):
        X = rng.normal(size=(120, 5))
        y = rng.integers(0, 2, size=120)
        df = _cv_results(
            X, y, LogisticRegression(), DummyClassifier(strategy="prior"), classify=True, seed=rep
        )
        better["classification"] += bool(baseline_comparison(df, "accuracy")["better"].iloc[0])
        yr = rng.normal(size=120)
        df = _cv_results(X, yr, Ridge(), DummyRegressor(), classify=False, seed=rep)
        better["regression"] += bool(baseline_comparison(df, "rmse")["better"].iloc[0])
    # at nominal 2.5% one-sided (measured: see the README's Baseline paragraph)
    assert better["classification"] / reps <= 0.05, better
    assert better["regression"] / reps <= 0.05, better


@pytest.mark.slow
@threadpool_limits.wrap(limits=1)
def test_a_model_with_signal_is_called_better_on_a_small_real_dataset() -> None:
    Xc, yc = load_breast_cancer(return_X_y=True)
    Xr, yr = load_diabetes(return_X_y=True)
    rng = np.random.default_rng(1)
    hits = {"classification": 0, "regression": 0}
    reps = 40
    for rep in range(reps):
        rows = rng.choice(len(yc), 100, replace=False)
        df = _cv_results(
            Xc[rows],
            yc[rows],
            LogisticRegression(max_iter=5000),
            DummyClassifier(strategy="prior"),
            classify=True,
            seed=rep,
        )
        hits["classification"] += bool(baseline_comparison(df, "accuracy")["better"].iloc[0])
        rows = rng.choice(len(yr), 150, replace=False)
        df = _cv_results(Xr[rows], yr[rows], Ridge(alpha=0.1), DummyRegressor(), classify=False, seed=rep)
        hits["regression"] += bool(baseline_comparison(df, "rmse")["better"].iloc[0])
    assert hits["classification"] / reps >= 0.95, hits
    assert hits["regression"] / reps >= 0.8, hits


def test_a_model_worse_than_the_prior_is_flagged_and_direction_follows_the_metric() -> None:
    # a model that always predicts the minority class (what an MLP stuck at its first epoch can
    # do): clearly worse than the prior, flagged at its size; for RMSE lower is better
    X, y = load_breast_cancer(return_X_y=True)
    df = _cv_results(
        X, y, DummyClassifier(strategy="constant", constant=0), DummyClassifier(), classify=True, seed=0
    )
    row = baseline_comparison(df, "accuracy").iloc[0]
    assert row["difference"] < 0 and row["no_better"] and not row["better"]
    assert no_better_than_baseline(baseline_comparison(df, "accuracy")) == {("d", "model", 1.0)}
    Xr, yr = load_diabetes(return_X_y=True)
    df = _cv_results(Xr, yr, Ridge(alpha=0.1), DummyRegressor(), classify=False, seed=0)
    row = baseline_comparison(df, {"regression": "rmse"}).iloc[0]
    assert row["difference"] > 0 and row["better"]  # lower RMSE than the mean's: better


def test_a_single_split_is_not_flagged() -> None:
    X, y = load_breast_cancer(return_X_y=True)
    df = _cv_results(
        X, y, DummyClassifier(strategy="constant", constant=0), DummyClassifier(), classify=True, seed=0
    )
    one = df[df["fold"] == 0]
    row = baseline_comparison(one, "accuracy").iloc[0]
    assert row["method"] == "none" and not row["no_better"] and not row["better"]


def test_every_suite_has_the_baseline_unless_it_says_not() -> None:
    suite = parse_suite("datasets: [iris]\nmodels: [knn]\n")
    assert [m.label for m in suite.models] == ["knn", "dummy"]
    assert [m.label for m in parse_suite("datasets: [iris]\nmodels: [knn]\nbaseline: false\n").models] == [
        "knn"
    ]
    # written by the user, it is the baseline (not added twice)
    listed = parse_suite("datasets: [iris]\nmodels: [knn, dummy]\n")
    assert [m.label for m in listed.models] == ["knn", "dummy"]
    with pytest.raises(mlbench.ConfigError, match="the label 'dummy' is the baseline's"):
        parse_suite("datasets: [iris]\nmodels: [knn, {decision_tree: {label: dummy}}]\n")


def test_the_baseline_runs_like_any_model_and_ensembles_leave_it_out(tmp_path) -> None:
    run = mlbench.run(
        {
            "datasets": ["iris", "diabetes"],
            "models": ["logistic_regression", "decision_tree"],
            "resampling": {"kind": "kfold", "folds": 3, "fit_on_val": False},
            "ensembles": ["voting"],
            "diagnostics": False,
        },
        output=tmp_path / "out",
        workers=1,
        quiet=True,
        report=False,
    )
    df = run.results()
    dummy = df[df["model"] == "dummy"]
    assert len(dummy) == 6 and (dummy["status"] == "ok").all()
    iris = dummy[dummy["dataset"] == "iris"]
    assert np.allclose(iris["test_accuracy"], 1 / 3, atol=0.05)  # three balanced classes: the prior
    voting = df[df["model"] == "ensemble:voting"]
    assert len(voting) and all("dummy" not in members for members in voting["members_json"])
    compared = baseline_comparison(df).set_index(["dataset", "model"])
    assert set(compared.index.get_level_values("model")) == {
        "logistic_regression",
        "decision_tree",
        "ensemble:voting",
    }
    assert compared.loc["iris", "better"].all()
    # an unpruned tree on diabetes (442 rows, noisy target) does not beat predicting the mean:
    # the comparison says so instead of ranking it as a model that learnt something
    assert compared.loc[("diabetes", "decision_tree"), "no_better"]
    assert compared.loc[("diabetes", "logistic_regression"), "better"]  # Ridge does
