"""The run reader (`mlbench.open_run`) and the Python entry point (`mlbench.run`), on real runs.

Real worker processes, real SQLite and prediction files, real datasets (sklearn-shipped and a CSV
file written here).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, log_loss

import mlbench
from mlbench.errors import ConfigError, MlbenchError
from mlbench.reader import meta_from_runs, open_run
from mlbench.store import DB_NAME, Store

QUICK = {
    "name": "tiny",
    "resampling": {"kind": "kfold", "folds": 3},
    "metrics": ["accuracy"],
    "datasets": ["iris", "wine"],
    "models": ["decision_tree", {"knn": {"n_neighbors": 3}}],
    "executor": {"workers": 2},
    "baseline": False,  # the reader's tests count their own models' jobs
}


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlbench.cli", *args], capture_output=True, text=True, timeout=300, cwd=cwd
    )


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> mlbench.reader.Run:
    out = tmp_path_factory.mktemp("tiny") / "run"
    return mlbench.run(QUICK, output=out, quiet=True)


# -- the reader ------------------------------------------------------------------------------------


def test_predictions_carry_true_labels_that_match_the_dataset(tiny_run) -> None:
    results = tiny_run.results()
    assert len(results) == 12 and set(results["status"]) == {"ok"}
    for job_id, name in zip(results["job_id"], results["dataset"], strict=True):
        arrays = tiny_run.predictions(job_id)
        y = tiny_run.dataset(name).y
        for split in ("train", "val", "test"):
            np.testing.assert_array_equal(arrays[f"{split}_true"], y[arrays[f"{split}_index"]])
            assert arrays[f"{split}_proba"].shape == (len(arrays[f"{split}_index"]), len(np.unique(y)))
        # the stored test predictions reproduce the stored test score
        row = results[results["job_id"] == job_id].iloc[0]
        assert np.mean(arrays["test_pred"] == arrays["test_true"]) == pytest.approx(row["test_accuracy"])
        # train rows, test rows and validation rows of a fold: train and test never overlap
        assert not set(arrays["train_index"]) & set(arrays["test_index"])
    assert tiny_run.predictions("no-such-job") == {}


def test_suite_jobs_meta_and_datasets(tiny_run) -> None:
    assert tiny_run.suite is not None and tiny_run.suite.name == "tiny"
    assert {j.job_id for j in tiny_run.jobs()} == set(tiny_run.results()["job_id"])
    assert tiny_run.meta["primary_metric"] == {"classification": "accuracy", "regression": "rmse"}
    assert Path(tiny_run.meta["base_dir"]).is_absolute()
    assert tiny_run.dataset("iris").n_classes == 3
    with pytest.raises(MlbenchError, match=r"no dataset 'irsi'.*Did you mean 'iris'"):
        tiny_run.dataset("irsi")
    board = tiny_run.leaderboard()
    assert set(board["model"]) == {"decision_tree", "knn"}
    curves = tiny_run.learning_curves()
    assert set(curves["dataset"]) == {"iris", "wine"}


def test_reading_a_run_changes_nothing_in_its_folder(tiny_run) -> None:
    before = {p: p.stat().st_mtime_ns for p in tiny_run.path.rglob("*")}
    again = open_run(tiny_run.path / DB_NAME)
    again.results(all_attempts=True)
    again.runs()
    for job_id in again.results()["job_id"][:3]:
        again.predictions(job_id)
    again.dataset("wine")
    assert again.fingerprint() == tiny_run.fingerprint()
    assert {p: p.stat().st_mtime_ns for p in tiny_run.path.rglob("*")} == before


def test_missing_or_foreign_runs_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(MlbenchError, match=r"no results at .*; run `mlbench run SUITE` first"):
        open_run(tmp_path / "nothing")
    (tmp_path / DB_NAME).write_text("not sqlite" * 50)
    with pytest.raises(MlbenchError, match="not an mlbench results store"):
        open_run(tmp_path)


def test_a_run_written_before_labels_were_stored_still_opens(tiny_run, tmp_path: Path) -> None:
    # Rewrite every prediction file without its *_true arrays, as mlbench wrote them before: in
    # the first file format, each array under its own name.
    old = tmp_path / "old"
    old.mkdir()
    for item in tiny_run.path.iterdir():
        if item.is_file():
            (old / item.name).write_bytes(item.read_bytes())
    (old / "predictions").mkdir()
    for npz in (tiny_run.path / "predictions").glob("*.npz"):
        arrays = tiny_run.predictions(npz.stem)
        np.savez(
            old / "predictions" / npz.name, **{k: v for k, v in arrays.items() if not k.endswith("_true")}
        )
    run = open_run(old)
    job_id = run.results()["job_id"].iloc[0]
    with np.load(old / "predictions" / f"{job_id}.npz") as raw:
        assert "test_true" not in raw.files
    fresh, reloaded = tiny_run.predictions(job_id), run.predictions(job_id)
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(reloaded[f"{split}_true"], fresh[f"{split}_true"])


def test_meta_from_runs_takes_latest_row_and_accepts_flat_metrics() -> None:
    runs = pd.DataFrame(
        [
            {"name": "old", "started_at": "2024-01-01", "finished_at": None, "status": "interrupted",
             "primary_metric": "rmse", "metrics": ["rmse"], "versions": {}, "hardware": {}},
            {"name": "quick", "started_at": "2025-01-01", "finished_at": "2025-01-02", "status": "finished",
             "primary_metric": "accuracy", "metrics": ["accuracy", "log_loss", "rmse"],
             "versions": {"mlbench": "0.1.0"}, "hardware": {"cpu": "x"}},
        ]
    )  # fmt: skip
    meta = meta_from_runs(runs)
    assert meta["suite"] == "quick" and meta["status"] == "finished"
    assert meta["primary_metric"] == {"classification": "accuracy"}
    assert meta["metrics"] == {"classification": ["accuracy", "log_loss"], "regression": ["rmse"]}
    assert meta_from_runs(runs.iloc[:0]) == {}


# -- export ----------------------------------------------------------------------------------------


def _row(job_id: str, status: str = "ok", **extra: object) -> dict[str, object]:
    return {"job_id": job_id, "dataset": "d", "model": "m", "status": status, **extra}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export(tmp_path: Path, fmt: str) -> None:
    root = tmp_path / "run"
    with Store(root) as s:
        s.start_run({"suite": "q"})
        s.record(_row("a", status="failed"))
        s.record(_row("a", test_accuracy=0.5))
        s.record(_row("b", test_accuracy=float("nan"), val_accuracy=0.25))
    expected = open_run(root).results()

    run = open_run(root)
    out = run.export(tmp_path / "exports" / f"r.{fmt}", fmt)
    assert out == tmp_path / "exports" / f"r.{fmt}"
    back = pd.read_csv(out) if fmt == "csv" else pd.read_parquet(out)
    assert list(back.columns) == list(expected.columns)
    assert list(back["job_id"]) == ["a", "b"] and list(back["attempt"]) == [2, 1]
    np.testing.assert_array_equal(back["test_accuracy"], [0.5, np.nan])
    np.testing.assert_array_equal(back["val_accuracy"], [np.nan, 0.25])
    if fmt == "parquet":
        assert back["test_accuracy"].dtype == np.float64

    into_dir = run.export(tmp_path, fmt, all_attempts=True)
    assert into_dir == tmp_path / f"results.{fmt}"
    assert len(pd.read_csv(into_dir) if fmt == "csv" else pd.read_parquet(into_dir)) == 3
    assert not list(tmp_path.rglob("*.tmp"))
    with pytest.raises(MlbenchError, match="csv or parquet"):
        run.export(tmp_path / "x.xlsx", "xlsx")


# -- mlbench.run -------------------------------------------------------------------------------------


def test_run_a_dict_twice_the_second_resumes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    suite = {**QUICK, "datasets": ["iris"], "models": ["decision_tree"]}
    first = mlbench.run(suite, output=tmp_path / "r")
    assert "3 jobs: 3 to run" in capsys.readouterr().err
    assert isinstance(first, mlbench.reader.Run) and (tmp_path / "r" / "index.html").is_file()
    before = first.results()
    second = mlbench.run(suite, output=tmp_path / "r")
    assert "3 jobs: 0 to run, 3 already done" in capsys.readouterr().err
    after = second.results(all_attempts=True)
    # nothing ran again: the same single attempts with the same timestamps and scores
    pd.testing.assert_frame_equal(after, before)
    assert len(second.runs()) == 1  # a rerun with nothing to do records no run


def test_run_takes_yaml_text_a_path_and_overrides(tmp_path: Path) -> None:
    text = "datasets: [iris]\nmodels: [decision_tree]\nresampling: {kind: kfold, folds: 2}\nbaseline: false\n"
    run = mlbench.run(text, output=tmp_path / "text", quiet=True, report=False)
    assert len(run.results()) == 2 and not (tmp_path / "text" / "index.html").exists()
    path = tmp_path / "s.yaml"
    path.write_text(text)
    run = mlbench.run(path, output=tmp_path / "path", quiet=True, report=False, seed=3)
    assert run.suite.seed == 3 and set(run.results()["seed"]) == {3}
    with pytest.raises(ConfigError, match=r"<suite>:2:\d+: models\[0\]: unknown model 'decision_tre'"):
        mlbench.run("datasets: [iris]\nmodels: [decision_tre]\n", output=tmp_path / "bad")
    with pytest.raises(ConfigError, match="no such suite file"):
        mlbench.run(str(tmp_path / "missing.yaml"), seed=1)


# -- metrics added later ------------------------------------------------------------------------------


def test_a_metric_added_later_is_computed_from_stored_predictions_without_refitting(tmp_path: Path) -> None:
    suite = {**QUICK, "datasets": ["wine"]}
    first = mlbench.run(suite, output=tmp_path / "r", quiet=True, report=False)
    before = first.results()
    assert "test_f1_macro" not in before.columns

    more = {**suite, "metrics": ["accuracy", "f1_macro", "log_loss"]}
    again = mlbench.run(more, output=tmp_path / "r", quiet=True, report=False)
    after = again.results(all_attempts=True)
    assert list(after["attempt"]) == [1] * len(before)  # no job ran again
    assert list(after["finished_at"]) == list(before["finished_at"])
    for split in ("train", "val", "test"):
        for job_id in after["job_id"]:
            arrays = again.predictions(job_id)
            row = after[after["job_id"] == job_id].iloc[0]
            expected = f1_score(arrays[f"{split}_true"], arrays[f"{split}_pred"], average="macro")
            assert row[f"{split}_f1_macro"] == pytest.approx(expected)
            proba = arrays[f"{split}_proba"].astype(float)
            proba /= proba.sum(axis=1, keepdims=True)
            assert row[f"{split}_log_loss"] == pytest.approx(
                log_loss(arrays[f"{split}_true"], proba, labels=[0, 1, 2])
            )

    # the same scores as a run that asked for every metric from the start
    fresh = mlbench.run(more, output=tmp_path / "fresh", quiet=True, report=False).results()
    cols = [f"{s}_{m}" for s in ("train", "val", "test") for m in ("f1_macro", "log_loss")]
    merged = after.merge(fresh, on="job_id", suffixes=("", "_fresh"))
    for col in cols:
        np.testing.assert_allclose(merged[col], merged[f"{col}_fresh"], rtol=1e-6)
    # and a third run has nothing left to do
    from mlbench.pipeline import plan_run

    plan = plan_run(mlbench.api.suite_from(more, output=tmp_path / "r"))
    assert not plan.to_run and not plan.to_rescore


# -- reports from anywhere, and reruns with nothing to do --------------------------------------------


CSV_SUITE = """
name: files
resampling: {kind: kfold, folds: 3}
metrics: [accuracy]
datasets:
  - csv: data/table.csv
    target: label
models: [logistic_regression, decision_tree]
executor: {workers: 2}
"""


def _csv_project(root: Path) -> Path:
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True, as_frame=True)
    (root / "data").mkdir(parents=True)
    X.assign(label=np.array(["setosa", "versicolor", "virginica"])[y]).to_csv(
        root / "data" / "table.csv", index=False
    )
    suite = root / "suite.yaml"
    suite.write_text(textwrap.dedent(CSV_SUITE))
    return suite


def test_report_from_another_working_directory_keeps_every_figure(tmp_path: Path) -> None:
    project = tmp_path / "project"
    suite = _csv_project(project)
    done = _cli("run", "suite.yaml", "--output", "out", "-q", cwd=project)
    assert done.returncode == 0, done.stderr
    here = (project / "out" / "index.html").read_text()
    assert "confusion" in here and here.count("data:image/") >= 1  # the confusion matrix (an SVG picture)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    rebuilt = _cli("report", str(project / "out"), "--out", str(elsewhere / "r.html"), cwd=elsewhere)
    assert rebuilt.returncode == 0, rebuilt.stderr
    there = (elsewhere / "r.html").read_text()
    assert there.count("data:image/") == here.count("data:image/")
    assert there == here  # the same figures, the same bytes
    assert suite.is_file()


def test_rerun_with_nothing_to_do_keeps_the_report_and_imports_no_torch(tmp_path: Path) -> None:
    suite = tmp_path / "deep.yaml"
    suite.write_text(
        textwrap.dedent(
            """
            name: deep
            resampling: {kind: holdout, test_size: 0.3}
            datasets: [{builtin: digits, classes: [0, 1]}, iris]
            models:
              - knn
              - cnn: {arch: test_resnet, image_size: 16, epochs: 1, batch_size: 64}
            executor: {workers: 2}
            """
        )
    )
    first = _cli("run", str(suite), "--output", str(tmp_path / "out"), "-q")
    assert first.returncode == 0, first.stderr
    report = tmp_path / "out" / "index.html"
    stamp = report.stat().st_mtime_ns
    code = textwrap.dedent(
        f"""
        import sys
        from mlbench.pipeline import run_suite
        from mlbench.suite import load_suite
        outcome = run_suite(load_suite({str(suite)!r}, output={str(tmp_path / "out")!r}))
        print(sorted(outcome.counts.items()), "torch" in sys.modules, "matplotlib" in sys.modules)
        """
    )
    again = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert again.stdout.split() == ["[]", "False", "False"]
    assert report.stat().st_mtime_ns == stamp
    assert len(open_run(tmp_path / "out").runs()) == 1

    report.unlink()  # a missing report is rebuilt, still without running anything
    rebuilt = _cli("run", str(suite), "--output", str(tmp_path / "out"), "-q")
    assert rebuilt.returncode == 0 and report.is_file()
    assert len(open_run(tmp_path / "out").runs()) == 1


def test_two_processes_creating_one_store_share_it(tmp_path: Path) -> None:
    # The database file appears complete (schema included) or not at all; of two creators the
    # second opens the first one's store instead of replacing it.
    code = textwrap.dedent(
        """
        import sys
        from mlbench.store import Store
        with Store(sys.argv[1]) as s:
            s.start_run({"suite": "race"})
            s.record({"job_id": sys.argv[2], "status": "ok"})
        """
    )
    for attempt in range(5):
        root = tmp_path / f"race{attempt}"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", code, str(root), f"job{i}"], stderr=subprocess.PIPE, text=True
            )
            for i in range(2)
        ]
        for p in procs:
            assert p.wait(timeout=60) == 0, p.stderr.read()
        assert sorted(open_run(root).results()["job_id"]) == ["job0", "job1"]
        assert not [p for p in root.iterdir() if p.name.endswith(".tmp")]
    os.sync()
