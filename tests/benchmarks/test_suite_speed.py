"""Whole-command speed: `mlbench run` with its report vs a plain joblib script; a rerun with nothing to do.

Not in the default test run: `make bench`. Both sides are fresh processes (imports and start-up
included, as a user would time them), interleaved so that machine noise hits both alike.

* A 45-job classical suite (digits, wine, breast_cancer x decision tree, random forest, XGBoost x
  5 folds, 2 workers): ``mlbench run`` *including its HTML report* against a plain script that
  does the same fits with ``joblib.Parallel(n_jobs=2)`` (same folds, same pipelines, predictions
  and metrics on the same rows). Goal: mlbench / plain <= 1.25. The suite says ``baseline: false``:
  the plain script fits no dummy model, so neither side does (the same 45 fits).
* A rerun of ``baselines/quick.yaml`` with nothing left to run: the first one reads the store
  (goal <= 2 s), the next ones answer from the stamp it leaves (goal <= 1 s; about 0.5 s asked).

Figures go to ``.benchmarks/suite_speed.json``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / ".benchmarks" / "suite_speed.json"

SUITE = """
name: speed45
seed: 0
resampling: {kind: kfold, folds: 5}
datasets: [digits, wine, breast_cancer]
models: [decision_tree, random_forest, xgboost]
executor: {workers: 2}
baseline: false
"""

# The same 45 fits as the suite, by hand: StratifiedKFold(5, shuffle, seed 0), the fold's stratified
# 20% validation split, median imputation in front of each model, probabilities on the test,
# train and validation rows, mlbench's five default classification metrics on each.
PLAIN = """
import numpy as np
from joblib import Parallel, delayed
from sklearn import datasets
from sklearn import metrics as skm
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.tree import DecisionTreeClassifier
from xgboost import XGBClassifier

LOADERS = {"digits": datasets.load_digits, "wine": datasets.load_wine, "breast_cancer": datasets.load_breast_cancer}

def model(name):
    if name == "decision_tree":
        return DecisionTreeClassifier(random_state=0)
    if name == "random_forest":
        return RandomForestClassifier(random_state=0, n_jobs=1)
    return XGBClassifier(tree_method="hist", random_state=0, n_jobs=1)

def job(dataset, name, fold):
    X, y = LOADERS[dataset](return_X_y=True)
    train, test = list(StratifiedKFold(5, shuffle=True, random_state=0).split(X, y))[fold]
    _, val = train_test_split(train, test_size=0.2, random_state=0, stratify=y[train])
    est = make_pipeline(SimpleImputer(strategy="median"), model(name)).fit(X[train], y[train])
    labels = np.arange(len(np.unique(y)))
    out = []
    for idx in (test, train, val):
        proba = est.predict_proba(X[idx])
        pred = proba.argmax(1)
        out.append((
            skm.accuracy_score(y[idx], pred),
            skm.balanced_accuracy_score(y[idx], pred),
            skm.f1_score(y[idx], pred, average="macro"),
            skm.roc_auc_score(y[idx], proba[:, 1]) if len(labels) == 2
            else skm.roc_auc_score(y[idx], proba, multi_class="ovr", labels=labels),
            skm.log_loss(y[idx], proba, labels=labels),
        ))
    return out

tasks = [(d, m, f) for d in LOADERS for m in ("decision_tree", "random_forest", "xgboost") for f in range(5)]
done = Parallel(n_jobs=2)(delayed(job)(*t) for t in tasks)
assert len(done) == 45
"""


def _record(key: str, value: object) -> None:
    RESULTS.parent.mkdir(exist_ok=True)
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data[key] = value
    RESULTS.write_text(json.dumps(data, indent=2))


def _timed(args: list[str], cwd: Path = ROOT) -> float:
    t = time.perf_counter()
    subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True, timeout=600)
    return time.perf_counter() - t


def test_45_job_suite_with_report_vs_plain_joblib(benchmark, tmp_path: Path) -> None:
    suite = tmp_path / "speed45.yaml"
    suite.write_text(textwrap.dedent(SUITE))
    script = tmp_path / "plain.py"
    script.write_text(PLAIN)

    def ours(i: int) -> float:
        out = tmp_path / f"run{i}"
        took = _timed([sys.executable, "-m", "mlbench.cli", "run", str(suite), "--output", str(out), "-q"])
        assert (out / "index.html").is_file()
        return took

    plain_runs, our_runs = [], []
    _timed([sys.executable, str(script)])  # warm the OS file cache for both sides
    ours(99)
    for i in range(3):
        plain_runs.append(_timed([sys.executable, str(script)]))
        our_runs.append(ours(i))
    benchmark.pedantic(ours, args=(100,), rounds=1, iterations=1)
    ratio = min(our_runs) / min(plain_runs)
    _record("suite45_plain_joblib_seconds", round(min(plain_runs), 3))
    _record("suite45_mlbench_with_report_seconds", round(min(our_runs), 3))
    _record("suite45_ratio", round(ratio, 3))
    print(
        f"\nplain joblib {min(plain_runs):.2f} s, mlbench run + report {min(our_runs):.2f} s, ratio {ratio:.3f}"
    )
    assert ratio <= 1.25


def test_rerun_with_nothing_to_do(benchmark, tmp_path: Path) -> None:
    out = tmp_path / "quick"
    args = [sys.executable, "-m", "mlbench.cli", "run", "baselines/quick.yaml", "--output", str(out), "-q"]
    first = _timed(args)  # the real run (about a minute on 2 cores)
    report = (out / "index.html").stat().st_mtime_ns
    # the first rerun reads the store and leaves its stamp; the next ones answer from the stamp
    reading = _timed(args)
    times = [_timed(args) for _ in range(3)]
    benchmark.pedantic(_timed, args=(args,), rounds=1, iterations=1)
    assert (out / "index.html").stat().st_mtime_ns == report  # nothing changed, nothing rewritten
    _record("quick_first_run_seconds", round(first, 2))
    _record("quick_rerun_reading_the_store_seconds", round(reading, 3))
    _record("quick_rerun_nothing_to_do_seconds", round(min(times), 3))
    print(
        f"\nfirst run {first:.1f} s, first rerun (reads the store) {reading:.2f} s, "
        f"rerun with nothing to do {min(times):.2f} s"
    )
    assert reading <= 2.0 and min(times) <= 1.0
