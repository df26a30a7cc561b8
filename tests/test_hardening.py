"""Hardening (issue 12): hostile inputs a user or a model can hand mlbench, each refused clearly.

Invalid predictions are failed jobs, rich markup in names and messages is printed as text,
duplicate or nested columns and odd encodings are DatasetErrors, a missing optional dependency
says which extra to install, unreadable prediction files are named in the report, and two runs
with different splits are not compared as paired.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlbench.execution.job import run_job_safely
from mlbench.fitting import PROBA_SUM_TOLERANCE
from mlbench.suite import load_suite

PLUGINS = Path(__file__).parent / "plugins"


def write_suite(tmp_path: Path, body: str, name: str = "suite.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body).lstrip())
    return path


def mlbench_cli(*args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlbench.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
        **kwargs,
    )


# ------------------------------------------------------------------ defect 4: invalid predictions


@pytest.fixture(scope="module")
def scripted_jobs(tmp_path_factory):
    """The first job of a classification (iris, 3 classes) and a regression (diabetes) suite."""
    tmp = tmp_path_factory.mktemp("scripted")
    jobs = {}
    for task, dataset in (("classification", "iris"), ("regression", "diabetes")):
        suite = write_suite(
            tmp,
            f"""
            name: scripted
            seed: 0
            resampling: {{kind: kfold, folds: 3}}
            plugins: [{PLUGINS / "outputs.py"}]
            datasets: [{dataset}]
            models: [scripted]
            """,
            name=f"{task}.yaml",
        )
        jobs[task] = load_suite(suite).expand()[0]
    return jobs


@st.composite
def model_outputs(draw):
    """A recipe for the scripted model's output and the verdict an independent oracle expects.

    Returns ``(task, params, expected)`` with ``expected`` None for valid output, else the text
    the failure must contain (the first check that trips: shape, NaN, inf, negative, sums).
    """
    task = draw(st.sampled_from(["classification", "regression"]))
    small = st.integers(0, 4)
    if draw(st.booleans()):  # valid output, in the forms a real model may give it
        params = {"column": draw(st.booleans())}
        if task == "classification":
            # float32-like rounding of the row sums stays within tolerance
            params["scale"] = 1.0 + draw(st.floats(-PROBA_SUM_TOLERANCE / 2, PROBA_SUM_TOLERANCE / 2))
        return task, params, None
    params = {
        "rows_delta": draw(st.sampled_from([0, 0, 0, -1, 2])),
        "cols_delta": draw(st.sampled_from([0, 0, 0, 1] + ([-1, 2] if task == "classification" else []))),
        "nan_rows": draw(small),
        "inf_rows": draw(small),
        "neg_rows": draw(small),
    }
    if task == "classification":
        params["scale"] = draw(st.sampled_from([1.0, 1.0, 0.5, 1.2, 1.0 + 10 * PROBA_SUM_TOLERANCE]))
    k = 3  # iris
    what = "predict_proba" if task == "classification" else "predict"
    if params["cols_delta"] and task == "classification":
        expected = f"predict_proba returned {k + params['cols_delta']} columns for {k} classes"
        if params["rows_delta"]:
            expected = "rows for"
    elif params["cols_delta"]:
        expected = "returned an array of shape"
    elif params["rows_delta"]:
        expected = f"{what} returned"
    elif params["nan_rows"]:
        expected = f"predictions contain NaN in {params['nan_rows']} rows"
    elif params["inf_rows"]:
        expected = f"predictions contain inf in {params['inf_rows']} rows"
    elif params["neg_rows"] and task == "classification":
        expected = f"predictions contain negative probabilities in {params['neg_rows']} rows"
    elif task == "classification" and params["scale"] != 1.0:
        expected = "predict_proba rows do not sum to 1"
    else:
        # a regressor may predict negative values; nothing else was damaged
        return task, params, None
    return task, params, expected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=model_outputs())
def test_every_invalid_model_output_is_a_failed_job_and_every_valid_one_ok(scripted_jobs, case):
    task, params, expected = case
    job = dataclasses.replace(scripted_jobs[task], params=params)
    row, preds = run_job_safely(job)
    if expected is None:
        assert row["status"] == "ok", row["error"]
        if task == "classification":
            np.testing.assert_allclose(preds["test_proba"].sum(axis=1), 1.0, atol=1e-6)
        else:
            assert np.isfinite(preds["test_pred"]).all()
    else:
        assert row["status"] == "failed"
        assert expected in row["error"], row["error"]
        # our own message, not a traceback through the job runner
        assert "Traceback" not in row["error"]
        assert preds is None


# ------------------------------------------------------------ defect 7: missing optional dependency


def _hide_modules(folder: Path, *names: str) -> dict[str, str]:
    """An environment whose Python cannot import ``names`` (a sitecustomize blocks them), as on a
    machine where the extra was never installed; the rest of the environment is unchanged."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(
        "import sys\n" + "".join(f"sys.modules[{n!r}] = None\n" for n in names)
    )
    return {"PYTHONPATH": os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")])}


def test_dask_executor_without_dask_says_which_extra_to_install(tmp_path):
    suite = write_suite(
        tmp_path,
        """
        name: d
        resampling: {kind: kfold, folds: 2}
        executor: {kind: dask}
        datasets: [iris]
        models: [decision_tree]
        """,
    )
    env = _hide_modules(tmp_path / "site", "dask", "distributed")
    # the blocker works: dask really cannot be imported there
    probe = subprocess.run(
        [sys.executable, "-c", "import dask"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    assert probe.returncode != 0
    res = mlbench_cli("run", str(suite), "--output", str(tmp_path / "out"), env=env)
    assert res.returncode == 2, res.stderr
    assert "pip install 'mlbench[dask]'" in res.stderr and "executor: {kind: dask}" in res.stderr
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "out" / "results.sqlite").exists()  # refused before a run was recorded


def test_require_names_the_extra_and_returns_installed_modules():
    from mlbench._optional import MissingDependency, require
    from mlbench.errors import ConfigError

    assert require("json", extra="none").dumps([1]) == "[1]"
    with pytest.raises(MissingDependency) as info:
        require("mlbench_no_such_module.sub", extra="tune", feature="tuning")
    assert isinstance(info.value, ConfigError)  # the CLI's exit 2, no traceback
    assert info.value.extra == "tune" and "pip install 'mlbench[tune]'" in str(info.value)
    assert str(info.value).startswith("tuning needs the optional dependency 'mlbench_no_such_module.sub'")


# ------------------------------------------------------- defect 3: rich markup in names and messages

_ANSI = __import__("re").compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# a real terminal as rich sees one: colours and cursor control on, a fixed width
_TERMINAL = {"FORCE_COLOR": "1", "TTY_COMPATIBLE": "1", "COLUMNS": "200", "TERM": "xterm-256color"}


def test_markup_in_dataset_names_is_printed_by_dry_run(tmp_path):
    suite = write_suite(
        tmp_path,
        """
        name: s
        resampling: {kind: kfold, folds: 2}
        datasets:
          - builtin: iris
            name: "iris[/v2]"
        models: [decision_tree]
        """,
    )
    for env in ({}, _TERMINAL):
        res = mlbench_cli("run", str(suite), "--dry-run", "--output", str(tmp_path / "out"), env=env)
        assert res.returncode == 0, res.stderr
        out = _ANSI.sub("", res.stdout)
        assert "iris[/v2]" in out and "suite s:" in out
        assert "MarkupError" not in res.stderr


def test_markup_in_an_error_message_on_a_terminal_is_printed_and_the_run_completes(tmp_path):
    suite = write_suite(
        tmp_path,
        f"""
        name: m
        baseline: false
        resampling: {{kind: kfold, folds: 2}}
        plugins: [{PLUGINS / "outputs.py"}]
        datasets:
          - builtin: iris
            name: "iris[/v2]"
        models: [raises_markup, decision_tree]
        executor: {{workers: 1}}
        """,
    )
    res = mlbench_cli("run", str(suite), "--output", str(tmp_path / "out"), env=_TERMINAL)
    assert "MarkupError" not in res.stderr and "Traceback" not in res.stderr
    assert res.returncode == 1  # some jobs failed, the run finished
    err = _ANSI.sub("", res.stderr)
    assert "\x1b[" in res.stderr  # the live (terminal) display was used
    assert "could not open [/data/a.csv] [bold]x[/] [/]" in err and "iris[/v2]" in err
    from mlbench import open_run

    results = open_run(tmp_path / "out").results()
    assert sorted(results["status"]) == ["failed", "failed", "ok", "ok"]
    assert (tmp_path / "out" / "index.html").exists()


# --------------------------------------------- defect 10: comparing runs whose splits differ


def _small_run(tmp_path: Path, name: str, seed: int, size: float = 1.0) -> Path:
    suite = write_suite(
        tmp_path,
        f"""
        name: cmp
        seed: {seed}
        sweep: {{train_sizes: [{size}]}}
        resampling: {{kind: kfold, folds: 3}}
        datasets: [iris]
        models: [decision_tree]
        executor: {{workers: 1}}
        """,
        name=f"{name}.yaml",
    )
    out = tmp_path / name
    res = mlbench_cli("run", str(suite), "--output", str(out), "--no-report", "--quiet")
    assert res.returncode == 0, res.stderr
    return out


def test_report_of_two_runs_with_different_splits_is_unpaired_and_says_so(tmp_path):
    from mlbench import open_run
    from mlbench.report.build import compare

    a, b = _small_run(tmp_path, "a", 0), _small_run(tmp_path, "b", 1)
    # the same suite: the same rows, paired fold by fold
    same = compare(open_run(a), open_run(a))
    assert same["warnings"] == [] and same["unpaired_datasets"] == []
    assert all(r["paired"] and r["n_pairs"] == 3 for r in same["rows"])
    # another seed: fold 0 of A and fold 0 of B are different rows, so nothing is paired
    other = compare(open_run(a), open_run(b))
    assert other["unpaired_datasets"] == ["iris"]
    assert all(r["paired"] is False and r["n_pairs"] == 0 for r in other["rows"])
    res = mlbench_cli("report", str(a), str(b))
    assert res.returncode == 0, res.stderr
    assert "warning: the runs used different splits" in res.stderr and "iris" in res.stderr
    html = (b / "compare.html").read_text()
    assert "compared unpaired" in html and ">unpaired</td>" in html
    assert "Welch" in html and "independent fold means" in html


def test_report_of_two_runs_at_other_training_sizes_tests_nothing_and_names_the_sizes(tmp_path):
    """A at the full 100 training rows of a fold, B at half: other rows and other sizes, so no
    p-value (an unpaired test would judge the size, not the change) and a warning naming both."""
    from mlbench import open_run
    from mlbench.report.build import compare

    a, b = _small_run(tmp_path, "a", 0), _small_run(tmp_path, "b", 1, size=0.5)
    c = compare(open_run(a), open_run(b))
    assert all(r["p_value"] is None and not r["significant"] for r in c["rows"])
    assert all(r["comparison"] == "not comparable" for r in c["rows"])
    assert c["unpaired_datasets"] == [] and c["not_comparable"] == {"iris": (100.0, 50.0)}
    assert c["n_improved"] == c["n_worse"] == 0
    res = mlbench_cli("report", str(a), str(b))
    assert res.returncode == 0, res.stderr
    assert "iris is not compared: A trained on 100 rows and B on 50 rows" in res.stderr
    assert "different splits" not in res.stderr  # the sizes, not the seeds, are why
    html = (b / "compare.html").read_text()
    assert "not compared at all" in html and "not comparable: A trained on 100 rows, B on 50" in html


# ------------------------------- defect 9 and provenance: the report says what it could not use


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> Path:
    """A finished run of a CSV dataset that loading had to clean (constant, ID and inf columns)."""
    tmp = tmp_path_factory.mktemp("run")
    rng = np.random.default_rng(0)
    x2 = rng.normal(size=60)
    x2[:3] = np.inf
    import pandas as pd

    pd.DataFrame(
        {"id": np.arange(60), "x1": rng.normal(size=60), "x2": x2, "const": 1, "y": rng.integers(0, 2, 60)}
    ).to_csv(tmp / "data.csv", index=False)
    suite = write_suite(
        tmp,
        """
        name: prov
        baseline: false
        resampling: {kind: kfold, folds: 3}
        datasets:
          - csv: data.csv
            target: y
        models: [decision_tree]
        executor: {workers: 1}
        """,
    )
    res = mlbench_cli("run", str(suite), "--output", str(tmp / "out"), "--no-report", "--quiet")
    assert res.returncode == 0, res.stderr
    return tmp / "out"


def test_dataset_provenance_is_stored_with_the_run_and_shown_in_the_report(small_run, tmp_path):
    from mlbench import open_run

    run = open_run(small_run)
    stored = set(run.results()["dataset_provenance"])
    assert len(stored) == 1
    [text] = stored
    assert "dropped constant columns" in text and "'const'" in text and "'id'" in text
    assert "replaced +-inf by NaN in 'x2'" in text
    # the report shows what was stored, even after the file changed
    (small_run.parent / "data.csv").write_text("x1,y\n1,0\n2,1\n")
    html = run.report(tmp_path / "r.html").read_text()
    assert "dropped ID-like columns (all values unique): &#39;id&#39;" in html
    assert "replaced +-inf by NaN in &#39;x2&#39;" in html


def test_missing_and_corrupt_prediction_files_are_named_by_report_and_export(small_run, tmp_path):
    import shutil

    run_dir = tmp_path / "copy"
    shutil.copytree(small_run, run_dir)
    files = sorted((run_dir / "predictions").glob("*.npz"))
    assert len(files) == 3
    files[0].unlink()
    files[1].write_bytes(files[1].read_bytes()[:100])  # truncated: no zip directory
    res = mlbench_cli("report", str(run_dir))
    assert res.returncode == 0, res.stderr
    assert "warning: 2 prediction files missing or unreadable" in res.stderr
    for f in files[:2]:
        assert f.name in res.stderr
    assert files[2].name not in res.stderr
    assert "is missing" in res.stderr and "is unreadable" in res.stderr
    html = (run_dir / "index.html").read_text()
    assert "2 prediction files missing or unreadable" in html and files[0].name in html
    res = mlbench_cli("export", str(run_dir))
    assert res.returncode == 0 and files[1].name in res.stderr
    # an intact run gives no warning
    from mlbench import open_run
    from mlbench.report.build import write_report

    warned: list[str] = []
    write_report(open_run(small_run), tmp_path / "ok.html", warn=warned.append)
    assert warned == []


# ------------------------------------------------------------------------- suite file size cap


def test_a_suite_file_over_the_size_cap_is_refused_before_parsing(tmp_path):
    from mlbench.errors import ConfigError
    from mlbench.suite import MAX_SUITE_BYTES, parse_suite

    head = "name: big\ndatasets: [iris]\nmodels: [knn]\n"
    body = head + "# a generated comment line, repeated far past any real suite\n" * (
        MAX_SUITE_BYTES // 60 + 10
    )
    (tmp_path / "big.yaml").write_text(body)
    res = mlbench_cli("validate", str(tmp_path / "big.yaml"))
    assert res.returncode == 2
    assert "big.yaml: the suite file is 4.1 MB, over the 4 MB limit" in res.stderr
    with pytest.raises(ConfigError, match="over the 4 MB limit"):
        parse_suite(body, filename="<text>")
    assert parse_suite(head).name == "big"  # the same suite without the padding is fine


# -------------------------------------- issue 21, item 3: damaged prediction files are never used


@pytest.fixture(scope="module")
def holdout_run(tmp_path_factory) -> Path:
    """A finished single-split run (its intervals are bootstrapped from the stored predictions)."""
    tmp = tmp_path_factory.mktemp("holdout")
    suite = write_suite(
        tmp,
        """
        name: holdout
        baseline: false
        resampling: {kind: holdout, test_size: 0.3}
        datasets: [iris]
        models: [decision_tree, knn, logistic_regression]
        executor: {workers: 1}
        """,
    )
    res = mlbench_cli("run", str(suite), "--output", str(tmp / "out"), "--no-report", "--quiet")
    assert res.returncode == 0, res.stderr
    return tmp / "out"


def _rewrite_predictions(run_dir: Path, job_id: str, change) -> Path:
    """Store a job's arrays again after ``change(arrays)``: a file written in mlbench's own format."""
    from mlbench.store.predictions import TRUTH_DIR, encode, write_npz_atomic
    from mlbench.store.read import PredictionFiles

    path = run_dir / "predictions" / f"{job_id}.npz"
    arrays = PredictionFiles(run_dir).read(f"predictions/{job_id}.npz")
    change(arrays)
    encoded = encode(arrays)
    for key, parts in encoded.truths.items():
        write_npz_atomic(
            run_dir / "predictions" / TRUTH_DIR / f"{key}.npz", parts, exclusive=True, compress=False
        )
    write_npz_atomic(path, encoded.members)
    return path


def test_damaged_prediction_files_are_named_and_never_used(holdout_run, tmp_path):
    import shutil

    from mlbench import open_run
    from mlbench.errors import MlbenchError

    run_dir = tmp_path / "copy"
    shutil.copytree(holdout_run, run_dir)
    jobs = dict(zip(open_run(run_dir).results()["model"], open_run(run_dir).results()["job_id"], strict=True))

    def truncated(a):
        a["test_pred"] = a["test_pred"][:-7]  # crashed the report: IndexError in analysis/intervals.py

    def nan_probabilities(a):
        a["test_proba"] = a["test_proba"].copy()
        a["test_proba"][:4] = np.nan

    def outside_the_dataset(a):
        a["test_index"] = a["test_index"] + 1000  # iris has 150 rows

    damaged = {
        "decision_tree": (
            _rewrite_predictions(run_dir, jobs["decision_tree"], truncated),
            "test_pred has 38 rows",
        ),
        "knn": (_rewrite_predictions(run_dir, jobs["knn"], nan_probabilities), "test_proba holds NaN"),
        "logistic_regression": (
            _rewrite_predictions(run_dir, jobs["logistic_regression"], outside_the_dataset),
            "outside the dataset (150 rows)",
        ),
    }
    run = open_run(run_dir)
    # the one door every computation reads through refuses each file, naming it
    for model, (path, why) in damaged.items():
        with pytest.raises(
            MlbenchError, match=f"cannot use predictions {re.escape(str(path))}.*{re.escape(why)}"
        ):
            run.predictions(jobs[model])
    problems = run.prediction_problems()
    assert len(problems) == 3 and all(
        any(str(path) in p and why in p for p in problems) for path, why in damaged.values()
    ), problems

    res = mlbench_cli("report", str(run_dir))
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    assert "warning: 3 prediction files missing or unreadable" in res.stderr
    html = (run_dir / "index.html").read_text()
    failures = html[html.index('<section id="failures">') :]
    failures = failures[: failures.index("</section>")]
    for path, why in damaged.values():
        assert path.name in failures and why in failures
    assert failures.count(">predictions unusable<") == 3
    # left out of the intervals: none is computed from a damaged file
    from mlbench.report.build import summarize_run

    board = summarize_run(open_run(run_dir))["datasets"][0]["leaderboard"]
    for row in board:
        assert row["ci_method"] != "bootstrap", row
    res = mlbench_cli("export", str(run_dir))
    assert res.returncode == 0
    for path, _ in damaged.values():
        assert path.name in res.stderr


# ---------------------------------- issue 21, item 4: `report A B` pairs only the same data


def _csv_run(tmp_path: Path, name: str, labels: np.ndarray) -> Path:
    import pandas as pd

    folder = tmp_path / name
    folder.mkdir()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 3))
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "y": labels}).to_csv(
        folder / "data.csv", index=False
    )
    suite = write_suite(
        folder,
        """
        name: same-spec
        resampling: {kind: kfold, folds: 4}
        datasets:
          - csv: data.csv
            target: y
        models: [logistic_regression, knn]
        executor: {workers: 1}
        """,
    )
    res = mlbench_cli("run", str(suite), "--output", str(folder / "out"), "--no-report", "--quiet")
    assert res.returncode == 0, res.stderr
    return folder / "out"


def test_two_runs_reading_the_same_csv_entry_from_other_folders_are_not_paired(tmp_path):
    from mlbench import open_run
    from mlbench.report.build import compare

    rng = np.random.default_rng(0)
    x0 = np.random.default_rng(0).normal(size=(120, 3))[:, 0]
    learnable = (x0 > 0).astype(int)
    noise = rng.integers(0, 2, 120)
    a = _csv_run(tmp_path, "a", learnable)
    b = _csv_run(tmp_path, "b", noise)  # the same `csv: data.csv`, another folder, other labels
    same = _csv_run(tmp_path, "same", learnable)  # another folder, the same data
    c = compare(open_run(a), open_run(b))
    # before: paired fold by fold as if the same rows, "2 significant, worse", no warning
    assert c["n_worse"] == c["n_improved"] == 0
    assert all(r["p_value"] is None and not r["significant"] and r["n_pairs"] == 0 for r in c["rows"])
    assert {r["comparison"] for r in c["rows"]} == {"different data"}
    assert c["different_data"] == ["data"]
    res = mlbench_cli("report", str(a), str(b))
    assert res.returncode == 0, res.stderr
    assert "warning: data is not compared: the two runs loaded different data for it" in res.stderr
    html = (b / "compare.html").read_text()
    assert "not compared: the runs loaded different data" in html and "significantly worse" in html
    # the same data in another folder is the same rows: paired fold by fold, as before
    ok = compare(open_run(a), open_run(same))
    assert ok["different_data"] == [] and ok["warnings"] == []
    assert all(r["comparison"] == "paired" and r["n_pairs"] == 4 for r in ok["rows"])
