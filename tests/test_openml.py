"""OpenML tasks and suites from a recorded cache made here (this machine has no network).

The cache holds what the loaders read, in their layout: a task's description and splits file
(``tasks/<id>/``), a suite's description (``studies/<id>.json``) and a small dataset in
scikit-learn's OpenML cache (description, features, qualities, the ARFF data, gzipped, with its
md5). ``MLBENCH_OFFLINE=1`` proves nothing is downloaded; a task that is not cached fails at once
with the path and the fix.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from mlbench.datasets import clear_cache, load_dataset
from mlbench.errors import ConfigError, DatasetError
from mlbench.execution.job import run_job
from mlbench.suite import check_machine, parse_suite

DATA_ID, TASK_ID, OTHER_TASK, STUDY_ID = 9001, 31, 32, 271
N, FOLDS = 60, 3


def _gz_json(path: Path, value: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(json.dumps(value).encode()))


def _dataset(cache: Path) -> np.ndarray:
    """A 60-row table in scikit-learn's OpenML cache: two numeric features, a nominal one, a class."""
    rng = np.random.default_rng(0)
    x1, x2 = rng.normal(size=N), rng.normal(size=N)
    colour = rng.choice(["red", "blue"], size=N)
    y = np.where(x1 + (colour == "red") > 0.5, "good", "bad")
    arff = "\n".join(
        [
            "@RELATION toy",
            "@ATTRIBUTE x1 NUMERIC",
            "@ATTRIBUTE x2 NUMERIC",
            "@ATTRIBUTE colour {red,blue}",
            "@ATTRIBUTE class {good,bad}",
            "@DATA",
            *(f"{a:.6f},{b:.6f},{c},{d}" for a, b, c, d in zip(x1, x2, colour, y)),
        ]
    ).encode()
    root = cache / "openml" / "openml.org"
    url = f"https://www.openml.org/data/v1/download/{DATA_ID}/toy.arff"
    _gz_json(
        root / "api" / "v1" / "json" / "data" / f"{DATA_ID}.gz",
        {
            "data_set_description": {
                "id": str(DATA_ID),
                "name": "toy",
                "version": "1",
                "format": "ARFF",
                "status": "active",
                "url": url,
                "file_id": str(DATA_ID),
                "default_target_attribute": "class",
                "md5_checksum": hashlib.md5(arff).hexdigest(),
                "description": "a recorded toy dataset",
            }
        },
    )
    features = [
        {
            "index": str(i),
            "name": n,
            "data_type": t,
            "is_target": str(n == "class").lower(),
            "is_ignore": "false",
            "is_row_identifier": "false",
            "number_of_missing_values": "0",
        }
        for i, (n, t) in enumerate(
            [("x1", "numeric"), ("x2", "numeric"), ("colour", "nominal"), ("class", "nominal")]
        )
    ]
    _gz_json(
        root / "api" / "v1" / "json" / "data" / "features" / f"{DATA_ID}.gz",
        {"data_features": {"feature": features}},
    )
    _gz_json(
        root / "api" / "v1" / "json" / "data" / "qualities" / f"{DATA_ID}.gz",
        {"data_qualities": {"quality": [{"name": "NumberOfInstances", "value": str(float(N))}]}},
    )
    data = root / "data" / "v1" / "download" / str(DATA_ID) / "toy.arff.gz"
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_bytes(gzip.compress(arff))
    return y


def _task(cache: Path, task_id: int, folds: int = FOLDS) -> list[tuple[np.ndarray, np.ndarray]]:
    """A classification task on the toy data: its description and its splits file (fold f tests rows f, f+k, ...)."""
    splits = []
    lines = [
        "@RELATION splits",
        "@ATTRIBUTE type {TRAIN,TEST}",
        "@ATTRIBUTE rowid INTEGER",
        "@ATTRIBUTE repeat INTEGER",
        "@ATTRIBUTE fold INTEGER",
        "@DATA",
    ]
    for fold in range(folds):
        test = np.arange(fold, N, folds)
        train = np.setdiff1d(np.arange(N), test)
        splits.append((train, test))
        lines += [f"TRAIN,{r},0,{fold}" for r in train] + [f"TEST,{r},0,{fold}" for r in test]
        lines += [f"TEST,{r},1,{fold}" for r in train[:3]]  # a second repeat, not read
    folder = cache / "tasks" / str(task_id)
    folder.mkdir(parents=True)
    (folder / "splits.arff").write_text("\n".join(lines))
    (folder / "task.json").write_text(
        json.dumps(
            {
                "task": {
                    "task_id": str(task_id),
                    "task_name": f"Task {task_id}: toy (Supervised Classification)",
                    "task_type": "Supervised Classification",
                    "input": [
                        {
                            "name": "source_data",
                            "data_set": {"data_set_id": str(DATA_ID), "target_feature": "class"},
                        },
                        {
                            "name": "estimation_procedure",
                            "estimation_procedure": {
                                "type": "crossvalidation",
                                "data_splits_url": f"https://api.openml.org/api_splits/get/{task_id}/Task_{task_id}_splits.arff",
                                "parameter": [
                                    {"name": "number_repeats", "value": "2"},
                                    {"name": "number_folds", "value": str(folds)},
                                    {"name": "percentage"},
                                    {"name": "stratified_sampling", "value": "true"},
                                ],
                            },
                        },
                    ],
                }
            }
        )
    )
    return splits


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MLBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MLBENCH_OFFLINE", "1")  # nothing may be downloaded
    clear_cache()
    root = tmp_path / "cache" / "openml"
    _dataset(root)
    yield root
    clear_cache()


def test_a_task_brings_its_own_target_and_official_splits(cache: Path) -> None:
    splits = _task(cache, TASK_ID)
    ds = load_dataset({"openml_task": TASK_ID, "folds": FOLDS})
    assert ds.task_type == "classification" and list(ds.classes) == ["bad", "good"]
    assert list(ds.X.columns) == ["x1", "x2", "colour"] and ds.feature_kinds["colour"] == "categorical"
    assert len(ds.folds) == FOLDS
    for (train, test), (want_train, want_test) in zip(ds.folds, splits, strict=True):
        np.testing.assert_array_equal(train, want_train)
        np.testing.assert_array_equal(test, want_test)
    assert "openml task 31 'Task 31: toy (Supervised Classification)'" in ds.provenance


def test_a_tasks_jobs_train_and_test_on_its_official_folds(cache: Path, tmp_path: Path) -> None:
    splits = _task(cache, TASK_ID)
    text = yaml.safe_dump(
        {
            "name": "t",
            "datasets": [{"openml_task": TASK_ID, "folds": FOLDS}],
            "models": [{"decision_tree": {"max_depth": 3}}],
            "baseline": False,
        }
    )
    suite = parse_suite(text, base_dir=tmp_path)
    assert suite.datasets[0].name == "openml_task_31"
    jobs = suite.expand()
    assert sorted(j.fold for j in jobs) == list(range(FOLDS))  # the task's folds, not the suite's 5
    for job in jobs:
        row, preds = run_job(job)
        assert row["status"] == "ok"
        np.testing.assert_array_equal(np.sort(preds["test_index"]), splits[job.fold][1])
        np.testing.assert_array_equal(np.sort(preds["train_index"]), splits[job.fold][0])


def test_a_suite_expands_into_its_tasks(cache: Path, tmp_path: Path) -> None:
    _task(cache, TASK_ID)
    _task(cache, OTHER_TASK, folds=2)
    (cache / "studies").mkdir()
    (cache / "studies" / f"{STUDY_ID}.json").write_text(
        json.dumps(
            {
                "study": {
                    "id": str(STUDY_ID),
                    "main_entity_type": "task",
                    "tasks": {"task_id": [str(TASK_ID), str(OTHER_TASK)]},
                }
            }
        )
    )
    text = yaml.safe_dump(
        {
            "name": "amlb",
            "datasets": [{"openml_suite": STUDY_ID, "folds": 2}],
            "models": ["decision_tree"],
            "baseline": False,
        }
    )
    suite = parse_suite(text, base_dir=tmp_path)
    assert [d.name for d in suite.datasets] == ["openml_task_31", "openml_task_32"]
    assert [d.spec for d in suite.datasets] == [
        {"openml_task": 31, "folds": 2},
        {"openml_task": 32, "folds": 2},
    ]
    assert len(suite.expand()) == 2 * 2
    check_machine(suite)  # cached: the machine check passes offline
    # a task of the suite has fewer folds than asked: stopped before any job, at the entry
    bad = yaml.safe_dump(
        {"name": "amlb", "datasets": [{"openml_suite": STUDY_ID, "folds": 3}], "models": ["knn"]}
    )
    with pytest.raises(
        ConfigError, match=r"<suite>:2:\d+: datasets\[0\].*task 32 has 2 fold\(s\).*set `folds: 2`"
    ):
        parse_suite(bad, base_dir=tmp_path, machine=True)


def test_not_cached_offline_is_a_clear_error_and_reading_stays_pure(cache: Path, tmp_path: Path) -> None:
    with pytest.raises(
        DatasetError, match=r"OpenML task 77 is not in the cache at .*tasks/77/task.json.*network"
    ):
        load_dataset({"openml_task": 77})
    text = yaml.safe_dump(
        {"name": "x", "datasets": [{"openml_suite": 99}, {"openml_task": 77}], "models": ["knn"]}
    )
    suite = parse_suite(text, base_dir=tmp_path)  # pure: no network, no error
    assert [d.name for d in suite.datasets] == ["openml_task_77"]  # the suite is not cached yet
    with pytest.raises(ConfigError) as info:
        check_machine(suite)
    messages = "\n".join(info.value.messages)
    assert (
        "OpenML suite 99 is not in the cache" in messages and "OpenML task 77 is not in the cache" in messages
    )
    for bad, message in (
        ({"openml_task": 0}, "positive integer OpenML id"),
        ({"openml_task": 31, "folds": 0}, "whole number >= 1"),
        ({"openml_suite": 271, "fold": 2}, "unknown key 'fold'"),
    ):
        with pytest.raises(ConfigError, match=message):
            parse_suite(yaml.safe_dump({"datasets": [bad], "models": ["knn"]}))


def test_splits_file_reading_keeps_repeat_zero_and_sample_zero(tmp_path: Path) -> None:
    from mlbench.datasets.openml import read_splits

    path = tmp_path / "s.arff"
    path.write_text(
        "@RELATION x\n@ATTRIBUTE type {TRAIN,TEST}\n@ATTRIBUTE rowid INTEGER\n@ATTRIBUTE repeat INTEGER\n"
        "@ATTRIBUTE fold INTEGER\n@ATTRIBUTE sample INTEGER\n@DATA\n"
        "TRAIN,0,0,0,0\nTRAIN,2,0,0,0\nTEST,1,0,0,0\nTRAIN,1,0,0,1\nTEST,0,1,0,0\n"
    )
    ((train, test),) = read_splits(path)
    assert list(train) == [0, 2] and list(test) == [1]
