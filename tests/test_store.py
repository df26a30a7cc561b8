"""Tests of the results store against real SQLite files, real npz files and real processes."""

from __future__ import annotations

import json
import math
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mlbench.errors import MlbenchError
from mlbench.reader import open_run
from mlbench.store import DB_NAME, SCHEMA_VERSION, Store, load_results
from mlbench.store.read import PredictionFiles

REPO_ROOT = Path(__file__).resolve().parents[1]


def make_row(job_id: str, status: str = "ok", **extra: object) -> dict[str, object]:
    """A record shaped like the executor's."""
    row: dict[str, object] = {
        "job_id": job_id,
        "suite": "quick",
        "dataset": "digits",
        "task_type": "multiclass",
        "model": "knn",
        "params_json": json.dumps({"n_neighbors": 5}),
        "fold": 0,
        "repeat": 0,
        "train_size": 1.0,
        "n_train": 100,
        "n_test": 50,
        "seed": 0,
        "status": status,
        "error": None if status == "ok" else "boom",
        "fit_seconds": 0.5,
        "predict_seconds": 0.1,
        "peak_memory_mb": 123.0,
        "n_params": None,
        "device": "cpu",
        "started_at": "2025-01-01T00:00:00+00:00",
        "finished_at": "2025-01-01T00:00:01+00:00",
        "versions": json.dumps({"sklearn": "1.6.1"}),
        "history_json": None,
    }
    row.update(extra)
    return row


def run_python(code: str, *args: str, **kwargs: object) -> subprocess.Popen[str]:
    """Start ``python -c code`` with mlbench importable from this checkout."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,  # type: ignore[arg-type]
    )


def _latest(run) -> dict[str, str]:
    df = run.results()
    return dict(zip(df["job_id"], df["status"], strict=True))


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "run") as s:
        s.start_run({"suite": "quick"})
        yield s


# -- rows, columns, attempts ----------------------------------------------------------------------


def test_roundtrip_with_metric_columns_appearing_over_time(store: Store) -> None:
    store.record(make_row("a", fold=0, test_accuracy=0.9, val_accuracy=0.8))
    store.record(make_row("b", fold=1, test_accuracy=0.7, test_log_loss=0.5, train_accuracy=1.0))
    store.record(make_row("c", status="failed", fold=2, test_brier=float("nan")))

    df = open_run(store.root).results()
    assert list(df["job_id"]) == ["a", "b", "c"]  # insertion order
    assert list(df["fold"]) == [0, 1, 2]
    assert df["test_accuracy"].tolist()[:2] == [0.9, 0.7]
    assert math.isnan(df["test_accuracy"].iloc[2])
    assert math.isnan(df["test_log_loss"].iloc[0]) and df["test_log_loss"].iloc[1] == 0.5
    assert df["val_accuracy"].iloc[0] == 0.8 and df["val_accuracy"].iloc[1:].isna().all()
    # A metric that was only ever NaN is still a float column, not object.
    assert df["test_brier"].dtype == np.float64 and df["test_brier"].isna().all()
    # Documented numeric columns stay numeric even when always NULL (n_params is None here).
    assert df["n_params"].dtype.kind == "f" and df["n_params"].isna().all()
    assert df["fit_seconds"].dtype == np.float64
    assert df["fold"].dtype == np.int64
    assert df.loc[df["job_id"] == "c", "error"].item() == "boom"
    assert df["params_json"].map(json.loads).tolist() == [{"n_neighbors": 5}] * 3
    assert set(df["run_id"]) == {1}
    assert df["predictions_path"].isna().all()


def test_extra_non_metric_keys_become_typed_columns(store: Store) -> None:
    store.record(make_row("a", n_classes=10, imbalance=np.float32(0.25), sampler="tpe", extra={"k": [1, 2]}))
    store.record(make_row("b", is_gpu=True))
    df = open_run(store.root).results()
    assert df["n_classes"].tolist()[0] == 10.0 and df["n_classes"].dtype == np.float64
    assert df["imbalance"].iloc[0] == 0.25
    assert df["sampler"].iloc[0] == "tpe" and pd.isna(df["sampler"].iloc[1])
    assert json.loads(df["extra"].iloc[0]) == {"k": [1, 2]}
    assert df["is_gpu"].iloc[1] == 1.0
    # SQL keywords are fine as column names because names are quoted.
    store.record(make_row("c", order=3, select="x"))
    assert open_run(store.root).results()["order"].iloc[-1] == 3


def test_attempts_increment_and_latest_attempt_wins(store: Store) -> None:
    store.record(make_row("fail-then-ok", status="failed"))
    store.record(make_row("ok-then-fail", test_accuracy=0.9))
    store.record(make_row("fail-then-ok", test_accuracy=0.8))
    store.record(make_row("ok-then-fail", status="timeout", error="job exceeded 600 s"))
    store.record(make_row("only-oom", status="oom"))

    every = open_run(store.root).results(all_attempts=True)
    assert list(zip(every["job_id"], every["attempt"], strict=True)) == [
        ("fail-then-ok", 1),
        ("ok-then-fail", 1),
        ("fail-then-ok", 2),
        ("ok-then-fail", 2),
        ("only-oom", 1),
    ]
    latest = open_run(store.root).results()
    assert list(latest["job_id"]) == ["fail-then-ok", "ok-then-fail", "only-oom"]
    assert list(latest["attempt"]) == [2, 2, 1]
    assert list(latest["status"]) == ["ok", "timeout", "oom"]
    assert _latest(open_run(store.root)) == {
        "fail-then-ok": "ok",
        "ok-then-fail": "timeout",
        "only-oom": "oom",
    }
    assert {j for j, s in _latest(open_run(store.root)).items() if s == "ok"} == {"fail-then-ok"}


def test_attempts_and_runs_persist_across_reopen(tmp_path: Path) -> None:
    root = tmp_path / "run"
    with Store(root) as s:
        first = s.start_run({"suite": "quick"})
        s.record(make_row("a", status="failed"))
        s.finish_run(first, "interrupted")
    with Store(root, create=False) as s:
        second = s.start_run({"suite": "quick"})
        assert _latest(open_run(s.root)) == {"a": "failed"}
        s.record(make_row("a"))
        s.finish_run(second, "finished")
        df = open_run(s.root).results(all_attempts=True)
        assert list(df["attempt"]) == [1, 2]
        assert list(df["run_id"]) == [first, second]
        assert {j for j, st in _latest(open_run(s.root)).items() if st == "ok"} == {"a"}


def test_runs_metadata_roundtrip(store: Store) -> None:
    run_id = store.start_run(
        {
            "suite": "quick",
            "suite_path": "/x/quick.yaml",
            "suite_yaml": "name: quick\nseed: 0\n",
            "primary_metric": "accuracy",
            "metrics": ["accuracy", "log_loss"],
            "versions": {"mlbench": "0.1.0", "numpy": np.__version__},
            "hardware": {"cpus": 16, "gpus": []},
            "command": "mlbench run quick.yaml",
            "notes": {"free": "form"},
        }
    )
    store.finish_run(run_id, "finished")
    runs = open_run(store.root).runs()
    assert list(runs["run_id"]) == [1, run_id]
    run = runs.iloc[-1]
    assert run["metrics"] == ["accuracy", "log_loss"]
    assert run["versions"]["numpy"] == np.__version__
    assert run["hardware"] == {"cpus": 16, "gpus": []}
    assert run["notes"] == {"free": "form"}  # extra dict keys are decoded too
    assert run["suite_yaml"] == "name: quick\nseed: 0\n"
    assert run["status"] == "finished" and runs.iloc[0]["status"] == "running"
    started = pd.Timestamp(run["started_at"])
    assert started.tzinfo is not None and started.utcoffset() == pd.Timedelta(0)
    assert pd.Timestamp(run["finished_at"]) >= started
    with pytest.raises(ValueError, match="finished"):
        store.finish_run(run_id, "done")
    with pytest.raises(ValueError, match="no run"):
        store.finish_run(999, "finished")


def test_nan_is_stored_as_null_and_read_back_as_nan(store: Store) -> None:
    store.record(
        make_row("a", test_accuracy=float("nan"), val_accuracy=np.float64("nan"), test_log_loss=math.inf)
    )
    raw = sqlite3.connect(store.db_path)
    nulls = raw.execute(
        "SELECT test_accuracy IS NULL, val_accuracy IS NULL, test_log_loss FROM results"
    ).fetchone()
    raw.close()
    assert nulls == (1, 1, math.inf)
    df = load_results(store.root)
    assert math.isnan(df["test_accuracy"].iloc[0]) and math.isnan(df["val_accuracy"].iloc[0])
    assert df["test_log_loss"].iloc[0] == math.inf


# -- predictions ----------------------------------------------------------------------------------


def test_prediction_arrays_roundtrip_exactly(store: Store) -> None:
    rng = np.random.default_rng(0)
    arrays = {
        "val_index": np.arange(7, dtype=np.int64),
        "val_proba": rng.random((7, 3)).astype(np.float32),
        "test_index": np.array([3, 1, 2], dtype=np.uint32),
        "test_proba": rng.random((3, 3)),
        "test_pred": np.array(["cat", "dog", "cat"]),
        "fortran": np.asfortranarray(rng.random((4, 5))),
        "strided": np.arange(20)[::3],
        "half": np.array([0.1, np.nan, np.inf], dtype=np.float16),
        "flags": np.array([True, False]),
        "empty": np.empty((0, 3)),
        "scalar": np.array(2.5),
        "file": np.array([1]),  # a key np.savez(**kw) could not take
    }
    store.record(make_row("j1"), arrays)
    row = open_run(store.root).results().iloc[0]
    assert row["predictions_path"] == "predictions/j1.npz"
    loaded = PredictionFiles(store.root).read(row["predictions_path"])  # no labels: as stored
    assert set(loaded) == set(arrays)
    for key, expected in arrays.items():
        assert loaded[key].dtype == expected.dtype, key
        assert loaded[key].shape == expected.shape, key
        np.testing.assert_array_equal(loaded[key], expected)
    assert open_run(store.root).predictions("unknown") == {}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    arrays=st.dictionaries(
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=12),
        hnp.arrays(
            dtype=st.one_of(hnp.floating_dtypes(), hnp.integer_dtypes(), hnp.boolean_dtypes()),
            shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_prediction_roundtrip_property(arrays: dict[str, np.ndarray]) -> None:
    with tempfile.TemporaryDirectory() as tmp, Store(tmp) as s:
        s.record(make_row("j"), arrays)
        loaded = open_run(s.root).predictions("j")
        assert set(loaded) == set(arrays)
        for key, expected in arrays.items():
            assert loaded[key].dtype == expected.dtype
            np.testing.assert_array_equal(loaded[key], expected)
        assert not list(Path(tmp, "predictions").glob("*.tmp"))


def test_load_predictions_uses_latest_attempt_that_stored_some(store: Store) -> None:
    store.record(make_row("j"), {"test_proba": np.array([0.1, 0.9])})
    store.record(make_row("j", status="failed"))  # a retry that died stores no predictions
    assert open_run(store.root).results()["predictions_path"].isna().all()
    np.testing.assert_array_equal(open_run(store.root).predictions("j")["test_proba"], [0.1, 0.9])
    store.record(make_row("j"), {"test_proba": np.array([0.2, 0.8])})
    np.testing.assert_array_equal(open_run(store.root).predictions("j")["test_proba"], [0.2, 0.8])
    store.record(make_row("k"), {})  # empty dict: no file, no path
    assert not (store.predictions_dir / "k.npz").exists()
    assert open_run(store.root).predictions("k") == {}


def test_failed_prediction_write_leaves_no_temp_file_and_no_row(store: Store) -> None:
    with pytest.raises(ValueError):
        store.record(make_row("j"), {"objects": np.array([{"a": 1}], dtype=object)})
    assert not list(store.predictions_dir.iterdir())
    assert open_run(store.root).results().empty
    for _ in range(20):
        store.record(make_row("j"), {"p": np.ones(1000)})
    assert [p.name for p in store.predictions_dir.iterdir()] == ["j.npz"]


def fold_job(rng: np.random.Generator, n: int = 600, k: int = 4, seed_rows: int = 0) -> dict[str, np.ndarray]:
    """A job's arrays as ``_run_job`` builds them: kfold rows, fit_on_val (val rows are training rows),
    labels the argmax of float64 probabilities, probabilities float32."""
    rows = np.random.default_rng(seed_rows)  # the same seed: the same fold (another model)
    y = rows.integers(0, k, n)
    order = rows.permutation(n)
    test, train = np.sort(order[: n // 5]), np.sort(order[n // 5 :])
    val = np.sort(rows.choice(train, len(train) // 5, replace=False))
    scores = rng.normal(size=(n, k))
    arrays: dict[str, np.ndarray] = {}
    for split, index in (("train", train), ("val", val), ("test", test)):
        proba = np.exp(scores[index])
        proba /= proba.sum(axis=1, keepdims=True)
        arrays |= {
            f"{split}_index": index,
            f"{split}_pred": np.argmax(proba, axis=1),
            f"{split}_true": y[index],
            f"{split}_proba": proba.astype(np.float32),
        }
    return arrays


def assert_same(got: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    """The same dict: keys in the same order, each array with the same dtype, shape and values."""
    assert list(got) == list(expected)
    for key, value in expected.items():
        assert got[key].dtype == value.dtype, key
        assert got[key].shape == value.shape, key
        np.testing.assert_array_equal(got[key], value, err_msg=key)


def members(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


def test_a_fold_stores_its_labels_once_and_reads_back_exactly(store: Store) -> None:
    rng = np.random.default_rng(1)
    jobs = {f"m{i}": fold_job(rng) for i in range(3)}  # three models of one fold
    for job_id, arrays in jobs.items():
        store.record(make_row(job_id), arrays)
    run = open_run(store.root)
    for job_id, arrays in jobs.items():
        assert_same(run.predictions(job_id), arrays)
    # each job file keeps its probabilities only: rows, labels and predictions are derived
    stored = members(store.predictions_dir / "m0.npz")
    assert sorted(stored) == ["mlbench/format", "test_proba", "train_proba"]
    assert stored["train_proba"].dtype == np.float32
    # the rows and labels of the fold: one truth file for the three jobs, one byte a row
    truths = list((store.predictions_dir / "truth").iterdir())
    assert len(truths) == 1 and truths[0].suffix == ".npz"
    assert sorted(members(truths[0])) == ["data", "layout"]
    n_rows = sum(len(jobs["m0"][f"{s}_index"]) for s in ("train", "val", "test"))
    assert members(truths[0])["data"].nbytes <= 2 * n_rows + 3 * 8  # steps and labels, uint8
    assert run.prediction_problems() == []


def test_labels_that_are_not_the_argmax_of_the_stored_probabilities_read_back_exactly(store: Store) -> None:
    rng = np.random.default_rng(2)
    arrays = fold_job(rng)
    proba64 = np.full((len(arrays["test_index"]), 4), 0.25)
    # float64 ties broken by less than float32 can tell apart: the stored float32 rows tie, and
    # their argmax (the first) is not the model's label (the second)
    proba64[:5, 1] += 1e-12
    proba64[:5] /= proba64[:5].sum(axis=1, keepdims=True)
    arrays["test_proba"] = proba64.astype(np.float32)
    arrays["test_pred"] = np.argmax(proba64, axis=1)
    assert (np.argmax(arrays["test_proba"][:5], axis=1) != arrays["test_pred"][:5]).all()
    # a model whose predict is not its probabilities' argmax on a few rows
    arrays["train_pred"] = arrays["train_pred"].copy()
    arrays["train_pred"][[3, 7]] = (arrays["train_pred"][[3, 7]] + 1) % 4
    # and validation rows predicted differently from the same rows in train (cross-fitting)
    arrays["val_proba"] = arrays["val_proba"].copy()
    arrays["val_proba"][0] = [1, 0, 0, 0]
    store.record(make_row("j"), arrays)
    assert_same(open_run(store.root).predictions("j"), arrays)
    kept = members(store.predictions_dir / "j.npz")
    np.testing.assert_array_equal(kept["mlbench/test_pred.at"], np.arange(5))
    np.testing.assert_array_equal(kept["mlbench/train_pred.at"], [3, 7])
    assert "val_proba" not in kept and len(kept["mlbench/val_proba.at"]) == 1


def test_labels_far_from_the_argmax_are_stored_as_they_are(store: Store) -> None:
    rng = np.random.default_rng(3)
    arrays = fold_job(rng)
    arrays["test_pred"] = rng.integers(0, 4, len(arrays["test_index"])).astype(np.int16)
    arrays["val_proba"] = rng.random(arrays["val_proba"].shape).astype(np.float32)  # cross-fitted
    store.record(make_row("j"), arrays)
    assert_same(open_run(store.root).predictions("j"), arrays)
    kept = members(store.predictions_dir / "j.npz")
    assert kept["test_pred"].dtype == np.uint8 and kept["val_proba"].dtype == np.float32


def test_regression_and_unsorted_rows_read_back_exactly(store: Store) -> None:
    rng = np.random.default_rng(4)
    train = rng.permutation(300)[:200]  # a training subset in no particular order
    val = train[rng.permutation(200)[:40]]
    y = rng.normal(size=300)
    values = rng.normal(size=300)
    arrays = {
        "train_index": train.astype(np.int32),
        "train_pred": values[train],
        "train_true": y[train],
        "val_index": val.astype(np.int32),
        "val_pred": values[val],
        "val_true": y[val],
        "test_index": np.arange(50),  # rows of the dataset's own test file
        "test_pred": rng.normal(size=50).astype(np.float32),
        "test_true": rng.normal(size=50),
    }
    store.record(make_row("j"), arrays)
    assert_same(open_run(store.root).predictions("j"), arrays)
    kept = members(store.predictions_dir / "j.npz")
    assert "val_pred" not in kept  # the training rows' values, predicted once


def test_record_datetime_and_text_arrays_read_back_exactly(store: Store) -> None:
    arrays = {
        "viz_records": np.array([(1, [2.0, 3.0]), (4, [5.0, 6.0])], dtype=[("a", "<i4"), ("b", ">f8", (2,))]),
        "viz_when": np.array(["2024-01-01T00:00", "NaT"], dtype="M8[ns]"),
        "viz_names": np.array(["cat", "dog"]),
        "viz_big_endian": np.arange(3, dtype=">i8"),
    }
    store.record(make_row("j"), arrays)
    assert_same(PredictionFiles(store.root).read("predictions/j.npz"), arrays)


def test_runs_written_in_the_first_file_format_read_back_unchanged(tmp_path: Path) -> None:
    # The layout of mlbench before format 2, written by hand: every array under its own name.
    root = tmp_path / "run"
    arrays = fold_job(np.random.default_rng(5))
    arrays["viz_filters"] = np.zeros((2, 3, 3), dtype=np.float32)
    with Store(root) as s:
        s.start_run({"suite": "old"})
        s.record(make_row("j"))
    np.savez(root / "predictions" / "j.npz", **arrays)
    with sqlite3.connect(root / DB_NAME) as conn:
        conn.execute("UPDATE results SET predictions_path = 'predictions/j.npz'")
    conn.close()
    run = open_run(root)
    assert_same(run.predictions("j"), arrays)
    assert run.prediction_problems() == []


def test_a_truth_file_is_written_once_and_never_replaced_by_other_content(tmp_path: Path) -> None:
    root = tmp_path / "run"
    arrays = fold_job(np.random.default_rng(6))
    with Store(root) as s:
        s.start_run({"suite": "t"})
        s.record(make_row("a"), arrays)
        s.record(make_row("b"), arrays)
    (truth,) = (root / "predictions" / "truth").iterdir()
    written = truth.stat().st_mtime_ns, truth.stat().st_ino
    with Store(root) as s:  # a resumed run checks what it finds before relying on it
        s.record(make_row("c"), arrays)
    assert (truth.stat().st_mtime_ns, truth.stat().st_ino) == written
    # content that is not what its name (a hash of it) says: changed or damaged, never trusted
    bad = members(truth)
    bad["data"] = bad["data"].copy()
    bad["data"][0] ^= 1
    np.savez(truth, **bad)
    with Store(root) as s, pytest.raises(MlbenchError, match="does not hold the rows its name"):
        s.record(make_row("d"), arrays)
    assert set(open_run(root).results()["job_id"]) == {"a", "b", "c"}


def test_damaged_or_missing_truth_files_are_named(tmp_path: Path) -> None:
    root = tmp_path / "run"
    arrays = fold_job(np.random.default_rng(7))
    with Store(root) as s:
        s.start_run({"suite": "t"})
        s.record(make_row("j"), arrays)
    (truth,) = (root / "predictions" / "truth").iterdir()
    np.savez(truth, layout=np.frombuffer(b"[]", dtype=np.uint8), data=np.zeros(3, np.uint8))
    with pytest.raises(MlbenchError, match="cannot read truth file"):
        open_run(root).predictions("j")
    truth.unlink()
    problems = open_run(root).prediction_problems()
    assert len(problems) == 1 and f"needs {truth}, which is missing" in problems[0]


def test_a_manifest_cannot_point_outside_the_truth_folder(store: Store) -> None:
    store.record(make_row("j"), fold_job(np.random.default_rng(8)))
    path = store.predictions_dir / "j.npz"
    stored = members(path)
    manifest = json.loads(bytes(stored["mlbench/format"]))
    manifest["arrays"]["train_index"]["truth"] = "../../../etc/passwd"
    stored["mlbench/format"] = np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8)
    np.savez(path, **stored)
    with pytest.raises(MlbenchError, match="bad truth reference"):
        open_run(store.root).predictions("j")
    manifest["format"] = 99
    stored["mlbench/format"] = np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8)
    np.savez(path, **stored)
    with pytest.raises(MlbenchError, match="newer mlbench"):
        open_run(store.root).predictions("j")
    assert "newer mlbench" in open_run(store.root).prediction_problems()[0]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 40),
    k=st.integers(1, 20),
    index_dtype=st.sampled_from(["<i8", "<i4", "<u4", ">i8", "<u8"]),
    label_dtype=st.sampled_from(["<i8", "<i2", "<u1", "<f8"]),
    proba_dtype=st.sampled_from(["<f4", "<f8"]),
    ties=st.booleans(),
    flips=st.integers(0, 5),
    seed=st.integers(0, 2**16),
)
def test_prediction_encoding_is_exact_property(
    n: int, k: int, index_dtype: str, label_dtype: str, proba_dtype: str, ties: bool, flips: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    arrays: dict[str, np.ndarray] = {}

    def split(name: str, index: np.ndarray, proba: np.ndarray, pred: np.ndarray) -> None:
        m = len(index)
        pred[rng.integers(0, m, min(flips, m))] = rng.integers(0, k)  # labels the argmax does not give
        arrays.update(
            {
                f"{name}_index": index.astype(index_dtype),
                f"{name}_pred": pred,
                f"{name}_true": rng.integers(0, k, m).astype(label_dtype),
                f"{name}_proba": proba.astype(proba_dtype),
            }
        )

    def scores(m: int) -> np.ndarray:
        return rng.integers(0, 3, (m, k)).astype(float) if ties else rng.random((m, k))

    train = rng.choice(10 * n + 5, size=n, replace=False)  # sorted or not
    if rng.random() < 0.5:
        train = np.sort(train)
    proba = scores(n)
    split("train", train, proba, np.argmax(proba, axis=1))
    # validation rows among the training rows (some twice), mostly predicted as there
    pos = rng.integers(0, n, max(1, n // 2))
    val_proba = proba[pos].copy()
    val_proba[rng.integers(0, len(pos), min(flips, len(pos)))] = scores(1)
    split("val", train[pos], val_proba, arrays["train_pred"][pos].copy())
    proba = scores(n)
    split("test", train + 1, proba, np.argmax(proba, axis=1))
    with tempfile.TemporaryDirectory() as tmp, Store(tmp) as s:
        s.record(make_row("j"), arrays)
        assert_same(open_run(s.root).predictions("j"), arrays)


def test_the_run_reader_never_loads_the_writer() -> None:
    code = "import sys, mlbench.reader, mlbench.store; print('mlbench.store.writer' in sys.modules)"
    out, err = run_python(code).communicate(timeout=120)
    assert out.strip() == "False", err


def test_stale_temp_files_of_dead_writers_are_removed(tmp_path: Path) -> None:
    root = tmp_path / "run"
    Store(root).close()
    dead = run_python("import os; print(os.getpid())")
    dead_pid = int(dead.communicate()[0])
    alive = run_python("import time; time.sleep(60)")
    try:
        stale = root / "predictions" / f"j.npz.{dead_pid}.tmp"
        busy = root / "predictions" / f"k.npz.{alive.pid}.tmp"
        (root / "predictions" / "truth").mkdir()
        stale_truth = root / "predictions" / "truth" / f"{'0' * 32}.npz.{dead_pid}.tmp"
        stale.write_bytes(b"half a zip")
        busy.write_bytes(b"being written right now")
        stale_truth.write_bytes(b"half a zip")
        with Store(root):
            assert not stale.exists() and not stale_truth.exists()
            assert busy.exists()  # another live process may still be writing it
    finally:
        alive.kill()
        alive.wait()


# -- validation and errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["Test_accuracy", "test accuracy", 'a"b', "x; DROP TABLE results; --", "1st", "", "_x", "é", "a-b"],
)
def test_bad_column_names_are_rejected(store: Store, key: str) -> None:
    store.record(make_row("before"))
    with pytest.raises(ValueError, match="column name"):
        store.record(make_row("j", **{key: 1.0}))
    assert list(open_run(store.root).results()["job_id"]) == ["before"]  # nothing written, table intact
    with pytest.raises(ValueError, match="column name"):
        store.start_run({key: 1})


@pytest.mark.parametrize("key", ["attempt", "run_id", "predictions_path"])
def test_store_owned_keys_are_rejected(store: Store, key: str) -> None:
    with pytest.raises(ValueError, match="set by the store"):
        store.record(make_row("j", **{key: 1}))


def test_invalid_records_are_rejected(store: Store) -> None:
    with pytest.raises(ValueError, match="status"):
        store.record(make_row("j", status="done"))
    with pytest.raises(ValueError, match="job_id"):
        store.record({"status": "ok"})
    with pytest.raises(ValueError, match="cannot name a predictions file"):
        store.record(make_row("../escape"), {"p": np.ones(2)})
    assert not (store.root / "escape.npz").exists()
    assert open_run(store.root).results().empty


def test_missing_store_raises_with_fix_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(MlbenchError, match=r"no results at .*nope; run `mlbench run SUITE` first"):
        Store(missing, create=False)
    with pytest.raises(MlbenchError, match="mlbench run SUITE"):
        load_results(missing)
    with pytest.raises(MlbenchError, match="mlbench run SUITE"):
        load_results(missing / DB_NAME)
    with pytest.raises(MlbenchError, match="mlbench run SUITE"):
        open_run(missing)
    missing.mkdir()
    with pytest.raises(MlbenchError, match="mlbench run SUITE"):
        load_results(missing)
    assert list(tmp_path.iterdir()) == [missing] and not list(missing.iterdir())


def test_not_a_database_raises_mlbench_error(tmp_path: Path) -> None:
    (tmp_path / DB_NAME).write_text("this is not sqlite" * 100)
    with pytest.raises(MlbenchError, match="not an mlbench results store"):
        load_results(tmp_path)
    with pytest.raises(MlbenchError, match="not an mlbench results store"):
        Store(tmp_path)


def test_store_from_newer_mlbench_is_refused(tmp_path: Path) -> None:
    Store(tmp_path).close()
    raw = sqlite3.connect(tmp_path / DB_NAME)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.commit()
    raw.close()
    with pytest.raises(MlbenchError, match=r"newer mlbench.*upgrade"):
        Store(tmp_path)
    with pytest.raises(MlbenchError, match=r"newer mlbench.*upgrade"):
        load_results(tmp_path)


def test_closed_store_says_so(tmp_path: Path) -> None:
    s = Store(tmp_path)
    s.close()
    s.close()  # idempotent
    with pytest.raises(MlbenchError, match="closed"):
        s.record({"job_id": "a", "status": "ok"})


def test_load_results_leaves_a_finished_run_folder_unchanged(tmp_path: Path) -> None:
    with Store(tmp_path) as s:
        s.start_run({"suite": "q"})
        s.record(make_row("a"), {"p": np.ones(3)})
        s.record(make_row("a", status="failed"))
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert len(load_results(tmp_path)) == 1
    assert len(load_results(tmp_path / DB_NAME, all_attempts=True)) == 2
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_store_is_in_wal_mode_with_schema_version(tmp_path: Path) -> None:
    Store(tmp_path).close()
    raw = sqlite3.connect(tmp_path / DB_NAME)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    raw.close()


# -- processes: crash safety and concurrent readers -----------------------------------------------

# Writes records forever; record i has fold=i, test_accuracy=i/1e6, a column extra_<i//10> = i (so
# ALTER TABLEs keep happening) and predictions whose values all equal i. Job ids repeat every 7
# records, so prediction files are overwritten too. Prints "ready" once some records are in.
WRITER = """
    import sys, time
    import numpy as np
    from mlbench.store import Store, load_results

    root, n_total, pause = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    with Store(root) as store:
        store.start_run({"suite": "crash"})
        start = len(load_results(root, all_attempts=True))
        for i in range(start, start + n_total):
            n = 1000 + (i % 5) * 3000
            preds = {"val_index": np.arange(n), "val_proba": np.full((n, 3), float(i))}
            row = {"job_id": f"job{i % 7}", "status": "ok", "dataset": "d", "model": "m", "fold": i,
                   "test_accuracy": i / 1e6, f"extra_{i // 10}": float(i)}
            store.record(row, preds if i % 4 else None)
            if i == start + 5:
                print("ready", flush=True)
            if pause:
                time.sleep(pause)
"""


def check_consistent(df: pd.DataFrame, root: Path) -> None:
    """Every row is complete and every referenced prediction file loads and is self-consistent."""
    assert list(df["fold"]) == list(range(len(df)))  # no gaps, no partial rows
    for _, row in df.iterrows():
        i = int(row["fold"])
        assert row["job_id"] == f"job{i % 7}" and row["status"] == "ok"
        assert row["dataset"] == "d" and row["model"] == "m"
        assert row["test_accuracy"] == i / 1e6
        assert row[f"extra_{i // 10}"] == i
        if i % 4 == 0:
            assert pd.isna(row["predictions_path"])
            continue
        assert row["predictions_path"] == f"predictions/job{i % 7}.npz"
        with np.load(root / row["predictions_path"]) as npz:
            index, proba = npz["val_index"], npz["val_proba"]
        # The file may hold a later record of the same job (replaced just before the kill),
        # never a mix of two records or a truncated one.
        writer_i = int(proba[0, 0])
        assert writer_i >= i and writer_i % 7 == i % 7
        assert (proba == writer_i).all() and proba.shape == (1000 + (writer_i % 5) * 3000, 3)
        np.testing.assert_array_equal(index, np.arange(len(proba)))
    counts = df.groupby("job_id")["attempt"].agg(["min", "max", "count"])
    assert (counts["min"] == 1).all() and (counts["max"] == counts["count"]).all()


@pytest.mark.slow
def test_sigkilled_writer_leaves_a_consistent_store(tmp_path: Path) -> None:
    root = tmp_path / "run"
    rng = random.Random(0)
    for _ in range(4):
        writer = run_python(WRITER, str(root), "100000", "0")
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "ready", writer.stderr.read() if writer.stderr else ""
        time.sleep(rng.uniform(0.0, 0.3))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        assert writer.returncode == -signal.SIGKILL

        # Readers work on the crashed store before any writer reopens it...
        crashed = load_results(root, all_attempts=True)
        check_consistent(crashed, root)
        # ...and reopening it for writing keeps everything and clears half-written temp files.
        with Store(root, create=False) as s:
            df = open_run(s.root).results(all_attempts=True)
            assert len(df) == len(crashed) > 5
            check_consistent(df, root)
            assert not list(s.predictions_dir.glob("*.tmp"))
    assert len(df) > 20


@pytest.mark.slow
def test_reader_in_another_process_during_writes(tmp_path: Path) -> None:
    root = tmp_path / "run"
    n_total = 300
    writer = run_python(WRITER, str(root), str(n_total), "0.002")
    assert writer.stdout is not None
    try:
        assert writer.stdout.readline().strip() == "ready"
        seen = []
        while writer.poll() is None:
            df = load_results(root, all_attempts=True)  # must never fail with "database is locked"
            check_consistent(df, root)
            seen.append(len(df))
        assert writer.wait() == 0, writer.stderr.read() if writer.stderr else ""
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    assert seen == sorted(seen)  # committed rows never disappear
    assert any(0 < n < n_total for n in seen)  # we really read while it was writing
    final = load_results(root, all_attempts=True)
    assert len(final) == n_total
    check_consistent(final, root)
    assert len(load_results(root)) == 7  # latest attempt of each of the 7 job ids


def test_records_from_several_threads_are_serialised(store: Store) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def work(k: int) -> None:
        store.record(make_row(f"job{k % 3}", fold=k), {"p": np.full(10, k)})

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(work, range(30)))
    df = open_run(store.root).results(all_attempts=True)
    assert len(df) == 30
    assert sorted(df.groupby("job_id")["attempt"].max()) == [10, 10, 10]
    assert not df.duplicated(["job_id", "attempt"]).any()


def test_a_column_first_seen_as_none_gets_its_type_from_the_first_value(tmp_path):
    from mlbench.store import Store, load_results

    with Store(tmp_path) as store:
        store.record({"job_id": "a", "status": "ok", "sanity_score": None})
        store.record({"job_id": "b", "status": "ok", "sanity_score": 0.75})
    df = load_results(tmp_path)
    assert df["sanity_score"].dtype.kind == "f"
    assert df.set_index("job_id")["sanity_score"]["b"] == 0.75


# -- hardening: concurrent writers, dead runs, claims, read-only folders -------------------------


def test_column_creation_tolerates_a_concurrent_creator(tmp_path: Path) -> None:
    # Two writers opened on one store (two runs into a new folder): each caches the columns it saw
    # at open, and the second to add a new column used to crash with "duplicate column name".
    first, second = Store(tmp_path / "run"), Store(tmp_path / "run")
    try:
        first.start_run({"suite": "a", "base_dir": "/x"})
        second.start_run({"suite": "a", "base_dir": "/x"})
        first.record(make_row("j1", test_accuracy=0.5, note="first"))
        second.record(make_row("j2", test_accuracy=0.75, note="second"))
        second.update("j2", 1, {"test_brier": 0.1})
        first.update("j1", 1, {"test_brier": 0.2})
    finally:
        first.close()
        second.close()
    df = load_results(tmp_path / "run").set_index("job_id")
    assert df.loc["j2", "test_accuracy"] == 0.75 and df.loc["j1", "note"] == "first"
    assert df.loc["j1", "test_brier"] == 0.2 and df.loc["j2", "test_brier"] == 0.1


def test_runs_of_dead_coordinators_are_marked_crashed(tmp_path: Path) -> None:
    root = tmp_path / "run"
    with Store(root) as s:
        s.start_run({"suite": "a"})  # left `running` by this (live) process
    proc = run_python(
        """
        import sys, time
        from mlbench.store import Store
        Store(sys.argv[1]).start_run({"suite": "a"})
        print("started", flush=True)
        time.sleep(60)
        """,
        str(root),
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
    proc.kill()
    proc.wait(timeout=10)
    with Store(root) as s:
        # the killed process's PID is gone; this process's run is alive and stays running
        assert s.mark_crashed() == [2]
        s.conn.execute("UPDATE runs SET heartbeat_at = '2020-01-01T00:00:00+00:00' WHERE run_id = 1")
        assert s.mark_crashed() == [1]  # a stale heartbeat: dead even though its PID lives
        s.start_run({"suite": "a"})
        # holding the output's lock exclusively: every other running run of this host is dead
        run4 = s.start_run({"suite": "a"})
        s._run_id = None
        assert s.mark_crashed(holding_exclusive=True) == [3, run4]
    runs = open_run(root).runs()
    assert list(runs["status"]) == ["crashed"] * 4
    assert runs["pid"].notna().all() and runs["heartbeat_at"].notna().all()


def test_claims_split_jobs_and_never_hand_one_out_twice(tmp_path: Path) -> None:
    a, b = Store(tmp_path / "run"), Store(tmp_path / "run")
    try:
        ra, rb = a.start_run({"suite": "s"}), b.start_run({"suite": "s"})
        jobs = [(f"j{i}", 0) for i in range(5)]
        got_a, _ = a.claim_jobs(ra, jobs, 2)
        got_b, _ = b.claim_jobs(rb, jobs, 10)
        assert got_a == ["j0", "j1"] and got_b == ["j2", "j3", "j4"]
        assert b.claim_jobs(rb, jobs[:2], 10) == ([], set())  # a's claims: a is alive
        a.record(make_row("j0"))
        # j0 was recorded since b planned (attempt 0 seen): gone, whoever holds its claim
        assert b.claim_jobs(rb, [("j0", 0)], 10) == ([], {"j0"})
        # a dies (its run is no longer running): its unfinished claim is taken over
        a.finish_run(ra, "crashed")
        assert b.claim_jobs(rb, [("j0", 0), ("j1", 0)], 10) == (["j1"], {"j0"})
    finally:
        a.close()
        b.close()


def test_read_only_results_folder_is_read_and_never_called_damaged(tmp_path: Path, unprivileged) -> None:
    root = tmp_path / "run"
    with Store(root) as s:
        s.start_run({"suite": "ro"})
        s.record(make_row("j1", test_accuracy=0.5), {"test_proba": np.eye(2, dtype=np.float32)})
    prefix = unprivileged
    for path in [root, root / DB_NAME, root / "predictions", *(root / "predictions").iterdir()]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    out = tmp_path / "elsewhere"
    out.mkdir()
    code = textwrap.dedent(
        """
        import sys
        from mlbench import load_results, open_run
        run = open_run(sys.argv[1])
        print(len(load_results(sys.argv[1])), len(run.results()), len(run.runs()))
        print(run.predictions("j1")["test_proba"].shape)
        print(run.export(sys.argv[2] + "/r.csv"))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}

    def child(*args: str) -> subprocess.CompletedProcess:
        """Python in a child process without the permission-bypassing capabilities."""
        return subprocess.run(
            [*prefix, sys.executable, "-c", *args], capture_output=True, text=True, env=env, timeout=120
        )

    load = "import sys, mlbench; mlbench.load_results(sys.argv[1])"
    try:
        res = child(code, str(root), str(out))
        assert res.returncode == 0, res.stderr
        assert res.stdout.split("\n")[:2] == ["1 1 1", "(2, 2)"]
        assert (out / "r.csv").is_file()
        # a database file we may not read: a permission problem, not a damaged store
        (root / DB_NAME).chmod(0o000)
        res = child(load, str(root))
        assert res.returncode == 1 and "MlbenchError" in res.stderr, res.stderr
        assert "damaged" not in res.stderr and "delete the folder" not in res.stderr
        assert "permissions" in res.stderr
        # a folder we may not enter: that, not "no results"
        (root / DB_NAME).chmod(0o444)
        root.chmod(0o000)
        res = child(load, str(root))
        assert "Permission denied" in res.stderr and "no results" not in res.stderr, res.stderr
    finally:
        for path in [root, root / DB_NAME, root / "predictions"]:
            path.chmod(0o755 if path.is_dir() else 0o644)
    assert sorted(p.name for p in root.iterdir()) == sorted([DB_NAME, "predictions"])


def test_a_truly_damaged_store_is_still_called_damaged(tmp_path: Path) -> None:
    root = tmp_path / "run"
    with Store(root) as s:
        s.start_run({"suite": "x"})
        for i in range(50):
            s.record(make_row(f"j{i}", error="x" * 500))
    data = bytearray((root / DB_NAME).read_bytes())
    data[4096:] = b"\xff" * (len(data) - 4096)  # every page after the first overwritten
    (root / DB_NAME).write_bytes(bytes(data))
    with pytest.raises(MlbenchError, match=r"damaged \(delete the folder"):
        load_results(root)


def test_guided_claims_take_a_share_of_what_is_left(tmp_path: Path) -> None:
    a, b = Store(tmp_path / "run"), Store(tmp_path / "run")
    try:
        ra, rb = a.start_run({"suite": "s"}), b.start_run({"suite": "s"})
        jobs = [(f"j{i}", 0) for i in range(16)]
        # two live runs: a quarter of the 16 free jobs, then a quarter of the 12 left, ...
        assert len(a.claim_jobs(ra, jobs, 1, guided=True)[0]) == 4
        assert len(b.claim_jobs(rb, jobs, 1, guided=True)[0]) == 3
        assert len(a.claim_jobs(ra, jobs, 2, guided=True)[0]) == 3  # ceil(9 / 4)
        taken = set()
        for store, run_id in [(a, ra), (b, rb)] * 10:
            taken |= set(store.claim_jobs(run_id, jobs, 1, guided=True)[0])
        claims = a.conn.execute("SELECT COUNT(*), COUNT(DISTINCT job_id) FROM claims").fetchone()
        assert claims == (16, 16)
    finally:
        a.close()
        b.close()


# -- issue 21: a full disk is a clear error; a damaged file is refused, naming what is wrong ------


def test_a_full_database_is_a_clear_error_never_hidden_by_a_failed_rollback(tmp_path: Path) -> None:
    root = tmp_path / "run"
    with Store(root) as s:
        s.start_run({"suite": "full"})
        s.record(make_row("kept"))
        # the database may not grow: SQLite's own "database or disk is full" (SQLITE_FULL), which
        # rolls the transaction back by itself, so a ROLLBACK after it failed with "cannot
        # rollback - no transaction is active" and hid the real error
        pages = s.conn.execute("PRAGMA page_count").fetchone()[0]
        s.conn.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(MlbenchError) as info:
            for i in range(500):
                s.record(make_row(f"j{i}", error="x" * 4000))
        message = str(info.value)
        assert message.startswith(f"cannot write {root / DB_NAME}: no space left on the device")
        assert "run the same command again to resume" in message and "cannot rollback" not in message
        assert not s.conn.in_transaction
        # the store still works once there is room again
        s.conn.execute(f"PRAGMA max_page_count = {2**30}")
        s.record(make_row("after"))
    ids = set(load_results(root)["job_id"])
    assert {"kept", "after"} <= ids


def test_a_prediction_file_that_cannot_be_written_names_the_file_and_leaves_no_row(
    store: Store, monkeypatch
) -> None:
    import errno

    from mlbench.store import writer

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(writer, "write_npz_atomic", full)
    with pytest.raises(MlbenchError, match=r"cannot write .*predictions/j.npz: no space left on the device"):
        store.record(make_row("j"), {"test_proba": np.array([[0.5, 0.5]])})
    assert "j" not in set(open_run(store.root).results()["job_id"])


def test_array_problems_name_every_kind_of_damage() -> None:
    from mlbench.store.predictions import array_problems

    rng = np.random.default_rng(0)
    good = fold_job(rng, n=100, k=3)
    assert array_problems(good, task_type="classification", n_classes=3, n_rows=100) == []
    cases = {
        "test_pred has 10 rows, not one per row of the split": lambda a: a.update(
            test_pred=a["test_pred"][:10]
        ),
        "test_proba holds NaN or infinite values in 1 of 20 rows": lambda a: a["test_proba"].__setitem__(
            (0, 0), np.nan
        ),
        "test_index holds row numbers from": lambda a: a.update(test_index=a["test_index"] + 100),
        "val_true holds class codes from 0 to 7, outside 0..2": lambda a: a["val_true"].__setitem__(0, 7),
        "train_proba has 4 columns, not one per class (3)": lambda a: a.update(
            train_proba=np.column_stack([a["train_proba"], np.zeros(len(a["train_proba"]), np.float32)])
        ),
        "test_pred holds float64, not class codes": lambda a: a.update(
            test_pred=a["test_pred"].astype(float)
        ),
        "val_proba has 2 rows that do not sum to 1": lambda a: a["val_proba"].__setitem__(
            slice(0, 2), np.float32([0.9, 0.9, 0.9])
        ),
    }
    for needle, change in cases.items():
        arrays = {k: v.copy() for k, v in good.items()}
        change(arrays)
        found = array_problems(arrays, task_type="classification", n_classes=3, n_rows=100)
        assert any(needle in p for p in found), (needle, found)
    # the rows the job says it predicted
    found = array_problems(good, task_type="classification", lengths={"test": 19})
    assert found == ["test holds 20 rows but the job predicted 19"]
