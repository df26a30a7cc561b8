"""Splits equal sklearn's; train-size subsets are nested and stratified; validation is fixed."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_digits, load_wine
from sklearn.model_selection import KFold, RepeatedStratifiedKFold, StratifiedKFold

from mlbench.errors import DatasetError
from mlbench.splits import (
    cross_fit_folds,
    make_folds,
    rows_for_size,
    stratified_order,
    train_subset,
    validation_split,
)

KFOLD = {"kind": "kfold", "folds": 5, "repeats": 1, "test_size": 0.2}


def test_kfold_equals_sklearn_stratified():
    y = load_wine().target
    ours = make_folds(y, "classification", KFOLD, seed=3)
    ref = list(StratifiedKFold(5, shuffle=True, random_state=3).split(np.zeros(len(y)), y))
    assert len(ours) == 5
    for (a_tr, a_te), (b_tr, b_te) in zip(ours, ref):
        np.testing.assert_array_equal(a_tr, b_tr)
        np.testing.assert_array_equal(a_te, b_te)


def test_kfold_regression_equals_sklearn_kfold():
    y = load_diabetes().target
    ours = make_folds(y, "regression", KFOLD, seed=0)
    ref = list(KFold(5, shuffle=True, random_state=0).split(np.zeros(len(y))))
    for (_, a_te), (_, b_te) in zip(ours, ref):
        np.testing.assert_array_equal(a_te, b_te)


def test_repeated_kfold_and_holdout():
    y = load_wine().target
    rep = make_folds(y, "classification", {**KFOLD, "kind": "repeated_kfold", "repeats": 2}, seed=1)
    ref = list(RepeatedStratifiedKFold(n_splits=5, n_repeats=2, random_state=1).split(np.zeros(len(y)), y))
    assert len(rep) == 10
    np.testing.assert_array_equal(rep[7][1], ref[7][1])
    ((train, test),) = make_folds(
        y, "classification", {**KFOLD, "kind": "holdout", "test_size": 0.25}, seed=0
    )
    assert len(test) == math.ceil(0.25 * len(y)) and not set(train) & set(test)  # sklearn rounds up
    # stratified: class proportions within 1 row of the whole
    for c in range(3):
        assert abs((y[test] == c).sum() - 0.25 * (y == c).sum()) <= 1


def test_single_class_and_too_few_rows_are_clear_errors():
    with pytest.raises(DatasetError, match="single class"):
        make_folds(np.zeros(20, dtype=int), "classification", KFOLD, 0)
    with pytest.raises(DatasetError, match="fewer folds"):
        make_folds(np.array([0, 1, 0]), "classification", KFOLD, 0)


def test_rare_class_fewer_members_than_folds_is_handled():
    # class 2 has 2 rows < 5 folds: it appears in two test folds only, no warning spam, no error
    y = np.array([0] * 30 + [1] * 30 + [2] * 2)
    folds = make_folds(y, "classification", KFOLD, 0)
    assert sum(int((y[te] == 2).sum()) for _, te in folds) == 2


def test_train_subsets_nested_stratified_and_deterministic():
    rng = np.random.default_rng(0)
    y = rng.choice(3, size=1000, p=[0.6, 0.3, 0.1])
    pool = np.sort(rng.choice(2000, size=1000, replace=False))
    y_full = np.zeros(2000, dtype=int)
    y_full[pool] = y
    sizes = [30, 60, 120, 250, 500, 999]
    subsets = [train_subset(pool, y_full, "classification", n, seed=7) for n in sizes]
    for small, big in itertools.pairwise(subsets):
        assert set(small) <= set(big)
    for n, sub in zip(sizes, subsets):
        assert len(sub) == n and np.all(np.diff(sub) > 0)
        for c in range(3):
            share = (y_full[pool] == c).mean()
            assert abs((y_full[sub] == c).sum() - share * n) <= 1.5
    np.testing.assert_array_equal(subsets[2], train_subset(pool, y_full, "classification", 120, seed=7))
    assert not np.array_equal(subsets[2], train_subset(pool, y_full, "classification", 120, seed=8))


def test_full_size_is_the_pool_itself_and_fractions_round():
    pool = np.arange(0, 200, 2)
    y = np.arange(200) % 2
    np.testing.assert_array_equal(train_subset(pool, y, "classification", 1.0, 0), pool)
    assert len(train_subset(pool, y, "classification", 0.25, 0)) == 25
    with pytest.raises(ValueError, match="exceeds"):
        train_subset(pool, y, "classification", 500, 0)


def test_a_fraction_means_one_row_count_in_every_fold():
    # digits in 5 folds: training folds of 1,437 and 1,438 rows. A quarter of each fold's own pool
    # is 359 in some folds and 360 in others (two points on a curve); of the smallest pool, 359 in all.
    y = load_digits().target
    folds = make_folds(y, "classification", KFOLD, seed=0)
    pools = [len(train) for train, _ in folds]
    assert set(pools) == {1437, 1438}
    own = {len(train_subset(train, y, "classification", 0.25, 0)) for train, _ in folds}
    assert own == {359, 360}  # what rounding each fold's pool separately gives
    same = {
        len(train_subset(train, y, "classification", 0.25, 0, smallest_pool=min(pools))) for train, _ in folds
    }
    assert same == {359}
    # subsets stay nested across fractions and row counts
    train = folds[1][0]
    small, big = (train_subset(train, y, "classification", f, 0, smallest_pool=1437) for f in (0.1, 0.25))
    assert set(small) <= set(big)
    # row counts and the full size are unchanged: 1.0 is each fold's own pool (sklearn's folds)
    assert rows_for_size(1.0, 1438, 1437) == 1438
    assert rows_for_size(200, 1438, 1437) == 200
    assert rows_for_size(0.001, 1438, 1437) == 1
    with pytest.raises(ValueError, match="exceeds"):
        rows_for_size(2000, 1438, 1437)


def test_jobs_at_a_fraction_train_on_the_same_rows_count_in_every_fold(tmp_path):
    from mlbench.execution.job import run_job
    from mlbench.suite import load_suite

    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "resampling: {kind: kfold, folds: 5}\n"
        "datasets: [{builtin: digits}]\n"
        "models: [decision_tree]\n"
        "sweep: {train_sizes: [0.25, 1.0]}\n"
    )
    rows = [run_job(job)[0] for job in load_suite(suite).expand()]
    quarter = {r["n_train"] for r in rows if r["train_size"] == 0.25}
    full = sorted(r["n_train"] for r in rows if r["train_size"] == 1.0)
    assert quarter == {359}  # round(0.25 * 1437), the smallest training fold
    assert full == [1437, 1437, 1438, 1438, 1438]  # the whole training fold, as sklearn's folds


def test_stratified_order_regression_is_a_permutation():
    pool = np.arange(50)
    order = stratified_order(pool, np.zeros(50), "regression", 0)
    assert sorted(order) == list(pool)


def test_validation_split_fixed_stratified_and_disjoint():
    y = load_wine().target
    train = np.arange(len(y))
    pool, val = validation_split(train, y, "classification", 0.2, seed=0)
    _, val2 = validation_split(train, y, "classification", 0.2, seed=0)
    np.testing.assert_array_equal(val, val2)
    assert not set(pool) & set(val) and len(pool) + len(val) == len(y)
    for c in range(3):
        assert abs((y[val] == c).sum() - 0.2 * (y == c).sum()) <= 1
    # no validation requested
    pool, val = validation_split(train, y, "classification", 0.0, seed=0)
    assert len(val) == 0 and len(pool) == len(y)


def test_cross_fit_folds_are_sklearns_on_the_training_rows():
    y = load_wine().target
    train = np.sort(np.random.default_rng(0).choice(len(y), 90, replace=False))
    ours = cross_fit_folds(train, y, "classification", 4, seed=5)
    ref = list(StratifiedKFold(4, shuffle=True, random_state=5).split(np.zeros(90), y[train]))
    assert len(ours) == 4
    for (a_fit, a_oof), (b_fit, b_oof) in zip(ours, ref):
        np.testing.assert_array_equal(a_fit, b_fit)
        np.testing.assert_array_equal(a_oof, b_oof)
    # every training row is out-of-fold exactly once
    np.testing.assert_array_equal(np.sort(np.concatenate([oof for _, oof in ours])), np.arange(90))
    yr = load_diabetes().target
    ours = cross_fit_folds(train, yr, "regression", 3, seed=1)
    ref = list(KFold(3, shuffle=True, random_state=1).split(np.zeros(90)))
    for (_, a_oof), (_, b_oof) in zip(ours, ref):
        np.testing.assert_array_equal(a_oof, b_oof)


def test_cross_fit_folds_fall_back_on_few_rows():
    y = np.array([0] * 3 + [1] * 2 + [2])  # a class with fewer rows than folds, one with a single row
    train = np.arange(6)
    folds = cross_fit_folds(train, y, "classification", 5, seed=0)
    # the largest class has 3 rows: StratifiedKFold cannot make 5 folds, so 3
    assert len(folds) == 3
    for fit, oof in folds:
        assert set(y[fit]) >= {0, 1}  # a class with two or more rows is in every inner training set
        assert not set(fit) & set(oof)
    np.testing.assert_array_equal(np.sort(np.concatenate([oof for _, oof in folds])), train)
    # a class with fewer rows than folds keeps k: its rows land in different folds
    y = np.array([0] * 10 + [1] * 2)
    folds = cross_fit_folds(np.arange(12), y, "classification", 5, seed=0)
    assert len(folds) == 5 and all(1 in y[fit] for fit, _ in folds)
    # fewer rows than folds: one fold per row; every class a single row: unstratified
    assert len(cross_fit_folds(np.arange(3), np.arange(10.0), "regression", 5, seed=0)) == 3
    folds = cross_fit_folds(np.array([2, 7]), np.arange(10), "classification", 5, seed=0)
    assert sorted(len(oof) for _, oof in folds) == [1, 1]
    with pytest.raises(ValueError, match="at least 2 training rows"):
        cross_fit_folds(np.array([4]), y, "classification", 5, seed=0)
