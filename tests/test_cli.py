"""The command line: fast start, listing, export, report regeneration, exit codes."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

import mlbench


def cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlbench.cli", *args], capture_output=True, text=True, timeout=300, **kw
    )


def imported_modules(*args: str) -> set[str]:
    """Top-level modules imported by a CLI invocation (from -X importtime)."""
    res = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mlbench.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    mods = set()
    for line in res.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            mods.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return mods


HEAVY = {"torch", "timm", "sklearn", "xgboost", "matplotlib", "scipy"}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    suite = root / "s.yaml"
    suite.write_text(
        "name: s\nresampling: {kind: kfold, folds: 3}\ndatasets: [iris]\nmodels: [knn, decision_tree]\n"
    )
    res = cli("run", str(suite), "--output", str(root / "run"), "-q")
    assert res.returncode == 0, res.stderr
    return root


def test_help_and_validate_import_no_heavy_library(finished_run):
    # `mlbench --help` and `mlbench validate` must answer in well under a second: no torch,
    # sklearn, xgboost on their path (timings go to the benchmark, not to an assertion here)
    assert not imported_modules("--help") & HEAVY
    assert not imported_modules("validate", str(finished_run / "s.yaml")) & HEAVY


def test_help_lists_commands():
    res = cli("--help")
    assert res.returncode == 0
    for command in ("run", "validate", "report", "list", "export"):
        assert command in res.stdout


def test_list():
    assert "xgboost" in cli("list", "models").stdout
    assert "breast_cancer" in cli("list", "datasets").stdout
    assert "log_loss" in cli("list", "metrics").stdout
    assert cli("list", "nonsense").returncode == 2


def test_export_csv_and_parquet(finished_run):
    run = finished_run / "run"
    for fmt in ("csv", "parquet"):
        res = cli("export", str(run), "--format", fmt)
        assert res.returncode == 0, res.stderr
        path = run / f"results.{fmt}"
        df = pd.read_csv(path) if fmt == "csv" else pd.read_parquet(path)
        # a default run: knn, decision_tree and the baseline (dummy), 3 folds each
        assert len(df) == 9 and "test_accuracy" in df.columns
        assert set(df["model"]) == {"knn", "decision_tree", "dummy"}


def test_report_regenerates_without_running(finished_run):
    run = finished_run / "run"
    before = mlbench.load_results(run, all_attempts=True)
    out = finished_run / "again.html"
    res = cli("report", str(run), "--out", str(out))
    assert res.returncode == 0, res.stderr
    html = out.read_text()
    assert "knn" in html and "decision_tree" in html and "<svg" in html
    assert len(mlbench.load_results(run, all_attempts=True)) == len(before)


def test_usage_errors_exit_2(tmp_path):
    assert cli("run", str(tmp_path / "missing.yaml")).returncode == 2
    res = cli("report", str(tmp_path / "nothing"))
    assert (
        res.returncode == 2
        and "run `mlbench run SUITE` first" in res.stderr
        and "Traceback" not in res.stderr
    )
    assert cli("run").returncode == 2  # missing argument


def test_report_compares_two_runs_and_exports_figures(finished_run, tmp_path):
    run = finished_run / "run"
    res = cli("report", str(run), str(run), "--out", str(tmp_path / "cmp.html"))
    assert res.returncode == 0, res.stderr
    html = (tmp_path / "cmp.html").read_text()
    assert "knn" in html and "decision_tree" in html
    res = cli(
        "report", str(run), "--out", str(tmp_path / "r.html"), "--export-figures", str(tmp_path / "fig")
    )
    assert res.returncode == 0, res.stderr
    pngs = sorted((tmp_path / "fig").glob("*.png"))
    assert pngs and all(p.read_bytes().startswith(b"\x89PNG") for p in pngs)
    assert cli("report", str(run), str(run), str(run)).returncode == 2


# `mlbench check`: bad output paths and nothing checked are exit 2, one line, no traceback (issue 21)


@pytest.fixture
def check_files(tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    for side in ("a", "b"):
        pd.DataFrame({"x": rng.normal(size=40), "y": rng.integers(0, 2, 40)}).to_csv(
            tmp_path / f"{side}.csv", index=False
        )
    (tmp_path / "s.yaml").write_text(
        "datasets:\n  - csv: a.csv\n    target: y\n    test: b.csv\nmodels: [knn]\n"
        "diagnostics: {permutations: 20}\n"
    )
    (tmp_path / "taken" / "x.json").mkdir(parents=True)  # a folder where the file should go
    (tmp_path / "file").write_text("")
    return tmp_path


@pytest.mark.parametrize("where", ["files", "suite"])
@pytest.mark.parametrize(
    ("json_path", "problem"),
    [
        ("taken/x.json", "--json taken/x.json is a folder"),
        ("file/x.json", "cannot write file/x.json: a part of the path is a file, not a folder"),
        ("/proc/x.json", "cannot write /proc/x.json"),
    ],
)
def test_check_json_that_cannot_be_written_exit_2(check_files, where, json_path, problem):
    args = ("a.csv", "b.csv") if where == "files" else ("--suite", "s.yaml")
    res = cli("check", *args, "--json", json_path, cwd=check_files)
    assert res.returncode == 2, res.stdout + res.stderr
    [line] = res.stderr.strip().splitlines()
    assert line.startswith("error: ") and json_path in line and problem in line


def test_check_suite_where_no_dataset_could_be_checked_exit_2(check_files):
    (check_files / "b.csv").write_text("x,z\n1,2\n")  # the test file lacks the target
    res = cli("check", "--suite", "s.yaml", cwd=check_files)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "Not checked" in res.stdout
    [line] = res.stderr.strip().splitlines()
    assert line == (
        "error: no dataset of s.yaml could be checked (the table above says why); fix the datasets "
        "and check again"
    )
    # one dataset checked is enough for the usual exit code (0: nothing flagged)
    (check_files / "s.yaml").write_text(
        "datasets:\n  - csv: a.csv\n    target: y\n    test: b.csv\n  - builtin: iris\nmodels: [knn]\n"
        "diagnostics: {permutations: 20}\n"
    )
    res = cli("check", "--suite", "s.yaml", cwd=check_files)
    assert res.returncode == 0, res.stdout + res.stderr
