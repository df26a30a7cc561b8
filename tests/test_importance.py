"""Permutation importance: computed in the job on its test fold, aggregated over folds, weighed against shift.

A feature made pure noise gets an importance within noise of 0 (its interval over the folds holds
0); a planted leaking feature tops the list; the numbers are scikit-learn's
``permutation_importance``'s for the same seed; the mismatch sentences follow the table.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mlbench.analysis.importance import importance_table, shift_by_importance, top_features
from mlbench.errors import ConfigError
from mlbench.execution.job import run_job
from mlbench.suite import parse_suite


def _table(tmp_path: Path, *, leak: bool, categorical: bool = False, n: int = 400) -> Path:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=n), rng.normal(size=n)
    y = (a + 0.5 * b + rng.normal(scale=0.5, size=n) > 0).astype(int)
    frame = pd.DataFrame({"a": a, "b": b, "noise": rng.normal(size=n)})
    if leak:
        frame["leak"] = y + rng.normal(scale=0.05, size=n)  # the answer, barely hidden
    if categorical:
        frame["colour"] = rng.choice(["red", "green", "blue"], size=n)
    frame["y"] = np.where(y == 1, "yes", "no")
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    return path


def _jobs(tmp_path: Path, model: dict | str, path: Path, folds: int = 5, **extra):
    text = yaml.safe_dump(
        {
            "name": "imp",
            "seed": 0,
            "resampling": {"kind": "kfold", "folds": folds},
            "datasets": [{"csv": str(path), "target": "y"}],
            "models": [model],
            **extra,
        }
    )
    return parse_suite(text, base_dir=tmp_path).expand()


def _results(jobs) -> pd.DataFrame:
    return pd.DataFrame([run_job(job)[0] for job in jobs])


def test_pure_noise_is_within_noise_of_zero_and_the_real_features_are_not(tmp_path: Path) -> None:
    jobs = _jobs(tmp_path, {"logistic_regression": {"importance": True}}, _table(tmp_path, leak=False))
    table = importance_table(_results(jobs))
    by = table.set_index("feature")
    assert set(by.index) == {"a", "b", "noise"} and (by["n_folds"] == 5).all()
    assert by.loc["noise", "ci_low"] <= 0 <= by.loc["noise", "ci_high"]  # indistinguishable from 0
    assert abs(by.loc["noise", "mean"]) < 0.01
    assert by.loc["a", "ci_low"] > 0 and by.loc["b", "ci_low"] > 0
    assert by.loc["a", "rank"] == 1 and by.loc["noise", "rank"] == 3
    assert by.loc["a", "metric"] == "accuracy" and by.loc["a", "ci_method"] == "t over 5 folds"


@pytest.mark.parametrize("model", ["random_forest", "xgboost"])
def test_a_planted_leaking_feature_tops_the_list(tmp_path: Path, model: str) -> None:
    params = {"n_estimators": 30, "importance": {"n_repeats": 3}}
    jobs = _jobs(tmp_path, {model: params}, _table(tmp_path, leak=True), folds=3)
    results = _results(jobs)
    assert json.loads(results["importance_json"].iloc[0])["n_repeats"] == 3
    top = top_features(importance_table(results), "t", model, n=2)
    assert top["feature"].iloc[0] == "leak"
    assert top["share"].iloc[0] == 1.0 and top["ci_low"].iloc[0] > 0


def _sklearn_importances(estimator, X, y, seed: int, n_repeats: int) -> np.ndarray:
    from sklearn.inspection import permutation_importance
    from sklearn.metrics import accuracy_score

    def scorer(est, X_part, y_part):
        return accuracy_score(y_part, np.argmax(est.predict_proba(X_part), axis=1))

    found = permutation_importance(estimator, X, y, scoring=scorer, n_repeats=n_repeats, random_state=seed)
    return found.importances_mean, found.importances_std


@pytest.mark.parametrize("categorical", [False, True])
def test_the_numbers_are_scikit_learns_permutation_importance(tmp_path: Path, categorical: bool) -> None:
    # batched predictions, the same shuffles: numeric rows (scored after the preprocessing) and a
    # table with a categorical column (the whole pipeline scored on the raw columns)
    from mlbench.datasets import load_dataset
    from mlbench.fitting import Classes, build_estimator, permutation_importances
    from mlbench.models import MODELS

    path = _table(tmp_path, leak=False, categorical=categorical)
    (job,) = _jobs(tmp_path, {"random_forest": {"n_estimators": 20}}, path, folds=2)[:1]
    ds = load_dataset(job.dataset_spec, job.base_dir)
    kinds = ds.tabular_feature_kinds()
    X = ds.X if categorical else ds.X.to_numpy(dtype=np.float64)
    fit, test = np.arange(0, 300), np.arange(300, 400)
    part = (lambda idx: X.iloc[idx]) if categorical else (lambda idx: X[idx])
    est = build_estimator(job, MODELS.get("random_forest"), "classification", kinds).fit(part(fit), ds.y[fit])
    ours = permutation_importances(
        est,
        part(test),
        ds.y[test],
        task="classification",
        classes=Classes("classification", ds.y[fit], 2),
        metric="accuracy",
        n_repeats=4,
        seed=7,
        feature_names=list(kinds),
    )
    mean, std = _sklearn_importances(est, part(test), ds.y[test], seed=7, n_repeats=4)
    np.testing.assert_allclose(ours["mean"], mean, atol=1e-12)
    np.testing.assert_allclose(ours["std"], std, atol=1e-12)
    assert ours["features"] == list(kinds) and ours["n_rows"] == 100


def test_a_loss_is_signed_so_that_needed_features_are_positive(tmp_path: Path) -> None:
    jobs = _jobs(
        tmp_path,
        {"logistic_regression": {"importance": True}},
        _table(tmp_path, leak=False),
        folds=2,
        metrics=["log_loss"],
    )
    row, _ = run_job(jobs[0])
    found = json.loads(row["importance_json"])
    assert found["metric"] == "log_loss" and found["greater_is_better"] is False
    assert found["baseline"] == pytest.approx(row["test_log_loss"])
    by = dict(zip(found["features"], found["mean"], strict=True))
    assert by["a"] > 0.1 and abs(by["noise"]) < 0.02  # log loss rises when `a` is shuffled


def test_importance_is_an_option_of_the_entry_and_of_the_run_not_part_of_the_job_id(tmp_path: Path) -> None:
    base = {"name": "o", "datasets": ["iris"], "models": ["knn"], "baseline": False}
    plain = parse_suite(yaml.safe_dump(base)).expand()
    with_entry = parse_suite(yaml.safe_dump({**base, "models": [{"knn": {"importance": {"n_repeats": 9}}}]}))
    assert [j.job_id for j in with_entry.expand()] == [j.job_id for j in plain]  # a diagnostic, like sanity
    assert {j.importance["n_repeats"] for j in with_entry.expand()} == {9}
    assert all(j.importance is None for j in plain)
    suite = parse_suite(yaml.safe_dump(base))
    suite.importance = True  # mlbench run --importance
    assert {j.importance["n_repeats"] for j in suite.expand()} == {5}
    for bad, message in (
        ("yes please", "importance is true, false or a mapping"),
        ({"n_repeat": 3}, "unknown key 'n_repeat' in importance. Did you mean 'n_repeats'"),
        ({"n_repeats": 0}, "n_repeats is the shuffles per feature"),
    ):
        with pytest.raises(ConfigError, match=message):
            parse_suite(yaml.safe_dump({**base, "models": [{"knn": {"importance": bad}}]}))


def test_image_datasets_and_cross_fit_jobs_record_why_they_have_none() -> None:
    from mlbench.execution.job import run_job_safely

    text = yaml.safe_dump(
        {
            "datasets": [{"builtin": "synthetic_images", "n_samples": 80}],
            "models": [{"knn": {"importance": True}}],
            "resampling": {"kind": "holdout"},
        }
    )
    row, _ = run_job_safely(parse_suite(text).expand()[0])
    assert row["status"] == "ok" and row["importance_json"] is None
    assert "not computed for image datasets" in row["warnings"]


def test_run_importance_flag_reaches_every_job(tmp_path: Path) -> None:
    import subprocess
    import sys

    import mlbench

    suite = tmp_path / "s.yaml"
    suite.write_text("resampling: {kind: kfold, folds: 2}\ndatasets: [iris]\nmodels: [knn, decision_tree]\n")
    out = tmp_path / "out"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlbench.cli",
            "run",
            str(suite),
            "--output",
            str(out),
            "--importance",
            "--no-report",
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    results = mlbench.load_results(out)
    # a default run: the baseline (dummy) is a job too, and the flag reaches it as well
    assert results["importance_json"].notna().all() and len(results) == 6
    table = importance_table(results)
    assert set(table["model"]) == {"knn", "decision_tree", "dummy"} and (table["n_folds"] == 2).all()


def _one_model_table() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "dataset": "cars",
                "model": "xgboost",
                "metric": "rmse",
                "feature": "Weight",
                "mean": 2.0,
                "ci_low": 1.5,
                "ci_high": 2.5,
                "rank": 1,
                "share": 1.0,
            },
            {
                "dataset": "cars",
                "model": "xgboost",
                "metric": "rmse",
                "feature": "Year",
                "mean": 0.9,
                "ci_low": 0.5,
                "ci_high": 1.3,
                "rank": 2,
                "share": 0.45,
            },
            {
                "dataset": "cars",
                "model": "xgboost",
                "metric": "rmse",
                "feature": "Horsepower",
                "mean": 0.01,
                "ci_low": -0.02,
                "ci_high": 0.04,
                "rank": 3,
                "share": 0.005,
            },
        ]
    )


def test_shifted_features_are_ranked_by_the_models_importance_with_their_sentences() -> None:
    shifted = [
        {"feature": "Horsepower", "effect": 0.8, "effect_name": "Wasserstein/std"},
        {"feature": "Weight", "effect": 1.3, "effect_name": "Wasserstein/std"},
        {"feature": "Origin", "effect": 0.31, "effect_name": "Cramér's V"},
    ]
    ranked = shift_by_importance(shifted, _one_model_table())
    assert [r["feature"] for r in ranked] == ["Weight", "Horsepower", "Origin"]
    assert ranked[0]["sentence"] == (
        "Weight shifted (Wasserstein 1.3 sd) and is the most important feature of xgboost "
        "(importance 2 rmse): expect the test score to move"
    )
    assert ranked[0]["used"] is True and ranked[1]["used"] is False
    assert ranked[1]["sentence"].startswith(
        "Horsepower shifted (Wasserstein 0.8 sd) but the model hardly uses it"
    )
    assert ranked[2]["importance"] is None and "Cramér's V 0.31" in ranked[2]["sentence"]
    # the second feature is used too (its interval is above 0 and it has 45% of the top importance)
    (year,) = shift_by_importance(
        [{"feature": "Year", "effect": 0.2, "effect_name": "Wasserstein/std"}], _one_model_table()
    )
    assert year["used"] and "is the 2nd most important feature of xgboost" in year["sentence"]
