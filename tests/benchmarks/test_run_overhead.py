"""Harness overhead: `mlbench run` on quick.yaml's jobs vs a plain script doing the same work.

Not in the default test run: `make bench`. Both sides run in this process, back to back:
the plain side is scikit-learn/xgboost code written by hand (same folds, same pipelines, same
predictions on train/val/test, same metrics); the mlbench side is the real coordinator with one
worker process (the plain script is serial too), SQLite store and prediction files, no report.
Goal: mlbench / plain <= 1.15.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / ".benchmarks" / "run_overhead.json"


def plain_quick() -> int:
    """The quick suite's 100 jobs, written as a plain sklearn/xgboost script."""
    from sklearn import datasets
    from sklearn import metrics as skm
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
    from xgboost import XGBClassifier, XGBRegressor

    loaders = {
        "digits": datasets.load_digits,
        "wine": datasets.load_wine,
        "breast_cancer": datasets.load_breast_cancer,
        "diabetes": datasets.load_diabetes,
    }
    n = 0
    for name, load in loaders.items():
        X, y = load(return_X_y=True)
        clf = name != "diabetes"
        if name == "digits":
            X = X / 16.0
        models = {
            "decision_tree": (DecisionTreeClassifier if clf else DecisionTreeRegressor)(random_state=0),
            "random_forest": (RandomForestClassifier if clf else RandomForestRegressor)(
                random_state=0, n_jobs=1
            ),
            "knn": make_pipeline(
                StandardScaler(), (KNeighborsClassifier if clf else KNeighborsRegressor)(n_jobs=1)
            ),
            "logistic_regression": make_pipeline(
                StandardScaler(),
                LogisticRegression(max_iter=1000, random_state=0) if clf else Ridge(random_state=0),
            ),
            "xgboost": (XGBClassifier if clf else XGBRegressor)(tree_method="hist", random_state=0, n_jobs=1),
        }
        cv = (
            StratifiedKFold(5, shuffle=True, random_state=0)
            if clf
            else KFold(5, shuffle=True, random_state=0)
        )
        for model in models.values():
            for train, test in cv.split(X, y):
                _, val = train_test_split(
                    train, test_size=0.2, random_state=0, stratify=y[train] if clf else None
                )
                est = make_pipeline(SimpleImputer(strategy="median"), model)
                est.fit(X[train], y[train])
                for idx in (test, train, val):
                    if clf:
                        proba = est.predict_proba(X[idx])
                        pred = proba.argmax(1)
                        labels = np.arange(proba.shape[1])
                        skm.accuracy_score(y[idx], pred)
                        skm.balanced_accuracy_score(y[idx], pred)
                        skm.f1_score(y[idx], pred, average="macro", labels=labels)
                        if len(labels) == 2:
                            skm.roc_auc_score(y[idx], proba[:, 1])
                        else:
                            skm.roc_auc_score(y[idx], proba, multi_class="ovr", labels=labels)
                        skm.log_loss(y[idx], proba, labels=labels)
                    else:
                        pred = est.predict(X[idx])
                        skm.root_mean_squared_error(y[idx], pred)
                        skm.mean_absolute_error(y[idx], pred)
                        skm.r2_score(y[idx], pred)
                n += 1
    return n


def mlbench_quick(out: Path, workers: int = 1) -> int:
    import shutil

    from mlbench.api import suite_from
    from mlbench.pipeline import run_suite

    shutil.rmtree(out, ignore_errors=True)
    # quick.yaml's classical models only: the plain script has no CNN
    classical = ["decision_tree", "random_forest", "knn", "logistic_regression", "xgboost"]
    suite = suite_from(ROOT / "baselines" / "quick.yaml", output=out, models=classical)
    outcome = run_suite(suite, workers=workers, write_report=False)
    assert outcome.counts["ok"] == 100
    return sum(outcome.counts.values())


def _record(key: str, value: object) -> None:
    RESULTS.parent.mkdir(exist_ok=True)
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data[key] = value
    RESULTS.write_text(json.dumps(data, indent=2))


def test_run_overhead_vs_plain_script(benchmark, tmp_path):
    # warm both paths once (imports, dataset caches) so neither side pays first-import costs
    plain_quick()
    mlbench_quick(tmp_path / "warm")
    plain, ours = [], []
    for i in range(3):  # interleaved, so machine noise hits both sides alike
        t = time.perf_counter()
        assert plain_quick() == 100
        plain.append(time.perf_counter() - t)
        t = time.perf_counter()
        mlbench_quick(tmp_path / f"run{i}")
        ours.append(time.perf_counter() - t)
    benchmark.pedantic(mlbench_quick, args=(tmp_path / "bench",), rounds=1, iterations=1)
    ratio = min(ours) / min(plain)
    _record("quick_plain_seconds", min(plain))
    _record("quick_mlbench_seconds_1_worker", min(ours))
    _record("quick_ratio_1_worker", ratio)
    t = time.perf_counter()
    mlbench_quick(tmp_path / "two", workers=2)
    _record("quick_mlbench_seconds_2_workers", time.perf_counter() - t)
    print(f"\nplain {min(plain):.2f} s, mlbench {min(ours):.2f} s (1 worker), ratio {ratio:.3f}")
    assert ratio <= 1.15


@pytest.mark.parametrize("args", [["--help"], ["validate", "baselines/quick.yaml"]])
def test_cli_start_up_under_one_second(benchmark, args):
    def call():
        subprocess.run(
            [sys.executable, "-m", "mlbench.cli", *args], cwd=ROOT, check=True, capture_output=True
        )

    call()  # warm the OS file cache
    benchmark.pedantic(call, rounds=5, iterations=1)
    _record(f"cli_{args[0]}_seconds", benchmark.stats.stats.min)
    assert benchmark.stats.stats.min < 1.0
