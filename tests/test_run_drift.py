"""Mismatch checks in a run: the suite option, the store table, the run reader, resume, the report."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlbench
from mlbench.analysis.run_drift import DiagnosticsOptions, check_dataset, result_rows
from mlbench.errors import ConfigError
from mlbench.pipeline import plan_run, run_suite
from mlbench.store import Store
from mlbench.suite import load_suite, parse_suite

sys.path.insert(0, str(Path(__file__).parent))
from test_drift import mixed_csv

SUITE = """
name: drift
resampling: {kind: kfold, folds: 3}
datasets:
  - csv: train.csv
    target: target
    test: test.csv
  - builtin: wine
models: [knn]
DIAG
"""


def write_suite(folder: Path, diag: str = "diagnostics: {permutations: 100, max_rows: 400}") -> Path:
    d = mixed_csv()
    d.iloc[:800].to_csv(folder / "train.csv", index=False)
    # the test file comes from the older customers only: a covariate shift
    d[d["age"] > d["age"].median()].iloc[:400].to_csv(folder / "test.csv", index=False)
    path = folder / "suite.yaml"
    path.write_text(SUITE.replace("DIAG", diag))
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    suite = load_suite(write_suite(root), output=root / "out")
    outcome = run_suite(suite)
    assert outcome.report_error is None
    return root, suite


def test_run_stores_one_row_per_dataset_comparison_check_feature(finished):
    root, _ = finished
    diag = mlbench.open_run(root / "out").diagnostics()
    verdicts = diag[diag["check"] == "verdict"].set_index(["dataset", "comparison"])
    assert set(verdicts.index) == {("train", "test_file"), ("train", "cv_fold_0"), ("wine", "cv_fold_0")}
    assert bool(verdicts.loc[("train", "test_file"), "flagged"])
    assert not bool(verdicts.loc[("train", "cv_fold_0"), "flagged"])  # the control: a random split
    assert not bool(verdicts.loc[("wine", "cv_fold_0"), "flagged"])
    feats = diag[
        (diag["dataset"] == "train") & (diag["comparison"] == "test_file") & (diag["check"] == "feature")
    ]
    assert set(feats["feature"]) == {"city", "plan", "age", "income", "visits"}
    assert feats.set_index("feature").loc["age", "flagged"]
    assert diag["flagged"].dtype == bool
    assert (diag["settings"] == DiagnosticsOptions(True, 0.05, 100, 400).key).all()
    # one row per dataset x comparison x check x feature
    assert not diag.duplicated(["dataset", "comparison", "check", "feature"]).any()


def test_resume_does_not_recompute_and_a_changed_setting_does(finished):
    root, suite = finished
    plan = plan_run(suite)
    assert plan.diagnostics_pending == [] and not plan.has_work
    changed = load_suite(
        write_suite(root, "diagnostics: {permutations: 100, max_rows: 300}"), output=root / "out"
    )
    assert len(plan_run(changed).diagnostics_pending) == 3


def test_report_has_the_mismatch_section(finished):
    root, _ = finished
    from mlbench.report.build import summarize_run

    run = mlbench.open_run(root / "out")
    summary = summarize_run(run)
    items = {m["name"]: m for m in summary["mismatch"]}
    test_file = items["train"]["comparisons"][0]
    assert test_file["comparison"] == "test_file" and test_file["flagged"]
    assert test_file["verdict"].startswith("Mismatch")
    assert any(r["feature"] == "age" for r in test_file["flagged_rows"])
    assert "age" in test_file["histograms"] and test_file["label"] is not None
    json.dumps(summary, allow_nan=False)
    html = (root / "out" / "index.html").read_text()
    assert 'id="mismatch"' in html and "Train/test mismatch" in html
    assert "http://" not in html.replace("http://www.w3.org", "")  # self-contained


def test_diagnostics_false_turns_them_off(tmp_path):
    suite = load_suite(write_suite(tmp_path, "diagnostics: false"), output=tmp_path / "out")
    assert not suite.diagnostics.enabled
    assert plan_run(suite).diagnostics_pending == []
    run_suite(suite, write_report=False)
    assert mlbench.open_run(tmp_path / "out").diagnostics().empty


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("diagnostics: {alpha: 1.5}", "suite.yaml:10:22: diagnostics.alpha: Input should be less than 1"),
        ("diagnostics: {permutations: 5}", "greater than or equal to 20"),
        (
            "diagnostics: {max_row: 100}",
            "unknown key 'max_row'. Did you mean 'max_rows'? Valid keys here: enabled, alpha, permutations, max_rows",
        ),
        ("diagnostics: yes please", "diagnostics"),
    ],
)
def test_diagnostics_option_errors_are_located(tmp_path, block, message):
    import re

    with pytest.raises(ConfigError, match=re.escape(message)):
        load_suite(write_suite(tmp_path, block))


def test_default_options():
    suite = parse_suite("datasets: [wine]\nmodels: [knn]\n")
    d = suite.diagnostics
    assert (d.enabled, d.alpha, d.permutations, d.max_rows) == (True, 0.05, 200, 10_000)


def test_store_replaces_a_comparison_and_refuses_unknown_columns(tmp_path):
    from mlbench.datasets import load_dataset

    ds = load_dataset({"builtin": "iris"})
    options = DiagnosticsOptions(permutations=50)
    ((comparison, result, where),) = check_dataset(ds, {"kind": "holdout", "test_size": 0.3}, 0, options)
    rows = result_rows("iris", comparison, result, where)
    with Store(tmp_path) as store:
        store.record_diagnostics("iris", comparison, options.key, rows)
        store.record_diagnostics("iris", comparison, options.key, rows)
        assert store.diagnostics_done(options.key) == {("iris", "cv_fold_0")}
        with pytest.raises(ValueError, match="unknown diagnostics columns"):
            store.record_diagnostics("iris", comparison, options.key, [{"nonsense": 1}])
    diag = mlbench.open_run(tmp_path).diagnostics()
    assert len(diag) == len(rows)  # replaced, not appended
    # older stores (no table) read as empty
    con = sqlite3.connect(tmp_path / "results.sqlite")
    con.execute("DROP TABLE diagnostics")
    con.commit()
    con.close()
    assert mlbench.open_run(tmp_path).diagnostics().empty


def test_image_dataset_comparison_keeps_the_unlike_rows():
    from mlbench.datasets import load_dataset

    ds = load_dataset({"builtin": "digits"})
    options = DiagnosticsOptions(permutations=50, max_rows=200)
    ((comparison, result, where),) = check_dataset(ds, {"kind": "holdout", "test_size": 0.2}, 0, options)
    assert result.kind == "image" and set(result.checks) == {"mmd", "domain", "bbsd", "label"}
    verdict = result_rows("digits", comparison, result, where)[-1]
    unlike = json.loads(verdict["detail"])["unlike"]
    assert unlike["source"] == "X" and len(unlike["rows"]) == 16
    assert np.all(np.diff(unlike["scores"]) <= 0)  # most test-like first
    assert set(unlike["rows"]) <= set(where["rows"].tolist())
    assert isinstance(pd.Series(unlike["rows"]).iloc[0], np.integer | int)


def test_a_builtin_with_a_shifted_test_part_is_compared_with_it():
    from mlbench.analysis.run_drift import suite_diagnostics

    suite = parse_suite(
        "datasets:\n  - builtin: synthetic_tabular\n    shift: 1.0\n  - builtin: synthetic_tabular\n"
        "    name: unshifted\nmodels: [knn]\n"
    )
    out = suite_diagnostics(suite, DiagnosticsOptions(permutations=50, max_rows=300))
    verdicts = {(d, c): rows[-1]["flagged"] for d, c, rows in out}
    assert verdicts[("synthetic_tabular", "test_file")] is True  # a one-sd shift of every feature
    assert ("unshifted", "test_file") not in verdicts
    assert set(verdicts) >= {("synthetic_tabular", "cv_fold_0"), ("unshifted", "cv_fold_0")}


# --------------------------------------------------------------------------------------------
# `mlbench check` reads an .npz as data only (issue 21)


class _Planted:
    """Unpickling this runs ``os.mkdir(marker)``: proof that a file's pickle was executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return os.mkdir, (str(self.marker),)


@pytest.mark.parametrize("array", ["X", "y"])
def test_check_refuses_an_npz_of_python_objects_without_unpickling_it(tmp_path, array):
    from test_drift import cli

    marker = tmp_path / "pwned"
    planted = np.array([_Planted(marker)] * 20, dtype=object)
    good = np.random.default_rng(0).random((20, 1, 8, 8))
    arrays = {"X": planted, "y": np.zeros(20)} if array == "X" else {"X": good, "y": planted}
    np.savez(tmp_path / "bad.npz", **arrays)  # np.savez pickles object arrays
    np.savez(tmp_path / "good.npz", X=good)
    for args in (("good.npz", "bad.npz"), ("bad.npz", "good.npz")):
        res = cli(*args, cwd=tmp_path)
        assert res.returncode == 2, res.stdout + res.stderr
        [line] = res.stderr.strip().splitlines()
        assert f"bad.npz: array {array} holds Python objects" in line and "Traceback" not in line
        assert not marker.exists()  # never unpickled


def test_check_names_an_npz_with_nan_pixels_or_a_damaged_archive(tmp_path):
    from test_drift import cli

    x = np.random.default_rng(0).random((20, 1, 8, 8))
    np.savez(tmp_path / "good.npz", X=x)
    x[:, :, 0] = np.nan
    np.savez(tmp_path / "nan.npz", X=x)
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    np.savez(tmp_path / "text.npz", X=np.full((20, 8, 8), "a"))
    for bad, problem in (
        ("nan.npz", "hold 160 missing (NaN) or infinite pixel values of 1280"),
        ("broken.npz", "cannot read it as an .npz archive"),
        ("text.npz", "are not numbers (dtype <U1)"),
    ):
        res = cli("good.npz", bad, cwd=tmp_path)
        assert res.returncode == 2, res.stdout + res.stderr
        [line] = res.stderr.strip().splitlines()
        assert line.startswith(f"error: {bad}: ") and problem in line
