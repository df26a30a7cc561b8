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
        "baseline: false\n"
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


# --------------------------------------------------------------------------------------------------
# group_kfold and time_series (issue 18)
# --------------------------------------------------------------------------------------------------

GROUPED = {**KFOLD, "kind": "group_kfold", "group": "g", "folds": 4}
TIMED = {**KFOLD, "kind": "time_series", "time": "t", "folds": 3, "gap": 0}


def grouped_rows(n: int = 120, n_groups: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    groups = np.array([f"g{i}" for i in rng.integers(0, n_groups, n)], dtype=object)
    return rng.integers(0, 3, n), groups


def test_group_folds_are_sklearns_and_no_group_crosses_a_fold():
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    y, groups = grouped_rows()
    folds = make_folds(y, "classification", GROUPED, 3, split_values=groups)
    expected = StratifiedGroupKFold(4, shuffle=True, random_state=3).split(np.zeros(len(y)), y, groups)
    for (train, test), (e_train, e_test) in zip(folds, expected, strict=True):
        np.testing.assert_array_equal(test, np.sort(e_test))
        np.testing.assert_array_equal(train, np.sort(e_train))
        assert not set(groups[train]) & set(groups[test])
    yr = np.random.default_rng(1).normal(size=len(y))
    reg = make_folds(yr, "regression", GROUPED, 3, split_values=groups)
    expected = GroupKFold(4, shuffle=True, random_state=3).split(np.zeros(len(y)), yr, groups)
    for (train, test), (_, e_test) in zip(reg, expected, strict=True):
        np.testing.assert_array_equal(test, np.sort(e_test))
        assert not set(groups[train]) & set(groups[test])
    with pytest.raises(DatasetError, match="3 groups, fewer than 4 folds"):
        make_folds(y, "classification", GROUPED, 0, split_values=np.array(["a", "b", "c"] * 40, dtype=object))
    with pytest.raises(DatasetError, match="needs the group of every row"):
        make_folds(y, "classification", GROUPED, 0)


def test_grouped_validation_stop_rows_and_inner_folds_keep_groups_whole():
    from mlbench.splits import RowSplitter

    y, groups = grouped_rows(n=200, n_groups=16)
    splitter = RowSplitter(y, "classification", GROUPED, groups)
    for train, test in splitter.folds(0):
        pool, val = splitter.validation(train, 0.2, 0)
        assert len(val) and not set(groups[pool]) & set(groups[val])
        assert set(pool) | set(val) == set(train) and not set(val) & set(test)
        assert 0.1 < len(val) / len(train) < 0.35  # about val_fraction, whole groups
        sub = splitter.subset(pool, 0.5, 0)
        np.testing.assert_array_equal(sub, train_subset(pool, y, "classification", 0.5, 0))
        for fit, oof in splitter.inner_folds(train, 3, 0):
            assert not set(groups[train[fit]]) & set(groups[train[oof]])
    one_group = np.array(["a"] * 200, dtype=object)
    lonely = RowSplitter(y, "classification", {**GROUPED, "folds": 2}, one_group)
    assert len(lonely.validation(np.arange(50), 0.2, 0)[1]) == 0  # nothing to hold out whole
    with pytest.raises(ValueError, match="at least 2 groups"):
        lonely.inner_folds(np.arange(50), 3, 0)


def test_time_folds_test_rows_follow_every_training_row():
    from sklearn.model_selection import TimeSeriesSplit

    rng = np.random.default_rng(0)
    t = rng.permutation(60).astype(float)  # one row per time, rows not in time order
    folds = make_folds(np.zeros(60), "regression", TIMED, 0, split_values=t)
    order = np.argsort(t)
    for (train, test), (e_train, e_test) in zip(folds, TimeSeriesSplit(3).split(order), strict=True):
        # exactly sklearn's TimeSeriesSplit on the rows sorted by time
        np.testing.assert_array_equal(np.sort(order[e_train]), train)
        np.testing.assert_array_equal(np.sort(order[e_test]), test)
        assert t[train].max() < t[test].min()
    # rows sharing a time stay on one side; gap counts distinct times
    days = np.repeat(np.arange(20.0), 3)
    for train, test in make_folds(np.zeros(60), "regression", {**TIMED, "gap": 2}, 0, split_values=days):
        assert days[train].max() + 2 < days[test].min()
    with pytest.raises(DatasetError, match="5 distinct times, too few for 5 time-ordered folds"):
        make_folds(
            np.zeros(10), "regression", {**TIMED, "folds": 5}, 0, split_values=np.repeat(np.arange(5.0), 2)
        )


def test_time_validation_is_the_latest_rows_and_subsets_the_most_recent_nested():
    from mlbench.splits import RowSplitter

    rng = np.random.default_rng(0)
    t = np.repeat(rng.permutation(50).astype(float), 2)  # two rows per time
    y = rng.normal(size=100)
    splitter = RowSplitter(y, "regression", TIMED, t)
    train, test = splitter.folds(0)[-1]
    pool, val = splitter.validation(train, 0.2, 0)
    assert t[pool].max() < t[val].min() and set(pool) | set(val) == set(train)
    assert len(val) == math.ceil(0.2 * len(train)) == 16  # the last 8 times of 38
    # a cut inside a time moves to its start: 0.25 of 76 rows is 19, the last 10 times (20 rows)
    pool, val = splitter.validation(train, 0.25, 0)
    assert len(val) == 20 and t[pool].max() < t[val].min()
    sizes = [splitter.subset(pool, s, 0) for s in (0.25, 0.5, 1.0)]
    for small, large in itertools.pairwise(sizes):
        assert set(small) <= set(large)
    for sub in sizes:
        rest = np.setdiff1d(pool, sub)
        assert len(rest) == 0 or t[rest].max() <= t[sub].min()  # the most recent rows of the pool
        assert t[sub].max() < t[test].min()
    assert [len(s) for s in sizes] == [
        len(train_subset(pool, y, "regression", s, 0)) for s in (0.25, 0.5, 1.0)
    ]
    with pytest.raises(ValueError, match="not available with time_series"):
        splitter.inner_folds(train, 3, 0)


def test_row_splitter_is_the_plain_functions_for_the_other_kinds():
    from mlbench.splits import RowSplitter

    y = load_wine().target
    splitter = RowSplitter(y, "classification", KFOLD)
    folds = splitter.folds(4)
    for (a, b), (c, d) in zip(folds, make_folds(y, "classification", KFOLD, 4), strict=True):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    train = folds[0][0]
    for mine, plain in zip(
        splitter.validation(train, 0.2, 1), validation_split(train, y, "classification", 0.2, 1), strict=True
    ):
        np.testing.assert_array_equal(mine, plain)
    np.testing.assert_array_equal(
        splitter.subset(train, 40, 2), train_subset(train, y, "classification", 40, 2)
    )
    for (a, b), (c, d) in zip(
        splitter.inner_folds(train, 3, 5), cross_fit_folds(train, y, "classification", 3, 5), strict=True
    ):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)


def daily_grouped_table(n: int = 240, seed: int = 0):
    """Two rows a day (two stores) over 120 days, each row of one of 12 patients; a learnable label."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    days = np.repeat(pd.date_range("2020-01-01", periods=n // 2, freq="D"), 2)
    patient = rng.integers(0, 12, n)
    x = rng.normal(size=n)
    y = (x + patient / 6 + rng.normal(scale=0.5, size=n) > 1).astype(int)
    return pd.DataFrame(
        {
            "day": days.strftime("%Y-%m-%d"),
            "patient": [f"p{p}" for p in patient],
            "store": np.tile(["north", "south"], n // 2),
            "x": x,
            "x2": rng.normal(size=n),
            "y": y,
        }
    )


RUN_SUITE = """\
name: {kind}
datasets:
  - csv: t.csv
    target: y
models:
  - knn
  - decision_tree
  - logistic_regression: {{tune: {{trials: 3}}}}
resampling: {{kind: {kind}, {key}: {column}, folds: 3, fit_on_val: false{extra}}}
sweep: {{train_sizes: [0.5, 1.0]}}
ensembles: [voting]
diagnostics: {{permutations: 20}}
"""


@pytest.fixture(scope="module", params=["group_kfold", "time_series"])
def column_run(request, tmp_path_factory):
    """A real tiny run under each kind: learning curve sizes, a tuned model, an ensemble, the checks."""
    from mlbench.pipeline import run_suite
    from mlbench.reader import open_run
    from mlbench.suite import load_suite

    kind = request.param
    root = tmp_path_factory.mktemp(kind)
    table = daily_grouped_table()
    table.to_csv(root / "t.csv", index=False)
    key, column, extra = ("group", "patient", "") if kind == "group_kfold" else ("time", "day", ", gap: 2")
    (root / "s.yaml").write_text(RUN_SUITE.format(kind=kind, key=key, column=column, extra=extra))
    outcome = run_suite(load_suite(root / "s.yaml", output=root / "out"), workers=2)
    assert outcome.report_error is None
    return kind, table, open_run(root / "out")


def _split_values(kind, table):
    import pandas as pd

    if kind == "group_kfold":
        return table["patient"].to_numpy()
    return pd.to_datetime(table["day"]).to_numpy()


def test_column_run_keeps_every_split_apart(column_run):
    kind, table, run = column_run
    results = run.results()
    assert (results["status"] == "ok").all(), results[["model", "status", "error"]]
    values = _split_values(kind, table)
    jobs = results[~results["model"].str.startswith("ensemble")]
    assert len(jobs) == 4 * 3 * 2  # three models and the baseline, 3 folds, 2 sizes
    for job_id in jobs["job_id"]:
        p = run.predictions(job_id)
        train, val, test = (values[p[f"{s}_index"]] for s in ("train", "val", "test"))
        assert len(train) and len(val) and len(test)
        if kind == "group_kfold":
            # no group on both sides of any split: train, validation, test
            assert not set(train) & set(test) and not set(val) & set(test) and not set(train) & set(val)
        else:
            # the test period follows the training rows (after a gap of 2 days); validation = latest training rows
            assert train.max() < val.min() and val.max() + np.timedelta64(2, "D") < test.min()


def test_column_run_learning_curve_subsets_are_nested(column_run):
    kind, table, run = column_run
    values = _split_values(kind, table)
    jobs = run.results()
    jobs = jobs[jobs["model"] == "knn"]
    for _, fold in jobs.groupby("fold"):
        small, large = (
            run.predictions(fold.loc[fold["train_size"] == size, "job_id"].iloc[0])["train_index"]
            for size in (0.5, 1.0)
        )
        assert set(small) < set(large)
        if kind == "time_series":
            # the smaller training set is the most recent part of the larger one
            assert values[small].min() >= values[np.setdiff1d(large, small)].max()


def test_column_run_tunes_builds_ensembles_and_checks_the_folds(column_run):
    kind, _, run = column_run
    results = run.results()
    tuned = results[results["model"] == "logistic_regression(tuned)"]
    assert len(tuned) == 6 and (tuned["n_trials"] == 3).all()
    ensembles = results[results["model"] == "ensemble:voting"]
    assert len(ensembles) == 6 and (ensembles["status"] == "ok").all()
    diag = run.diagnostics()
    verdict = diag[(diag["check"] == "verdict") & (diag["comparison"] == "cv_fold_0")]
    assert len(verdict) == 1 and verdict["verdict"].iloc[0].startswith(("No mismatch", "Mismatch"))
    features = set(diag.loc[diag["check"] == "feature", "feature"])
    column = "patient" if kind == "group_kfold" else "day"
    # the resampling column is never a feature (nor its date parts), in the jobs or the checks
    assert features and not any(f == column or f.startswith(f"{column}_") for f in features)
    provenance = results["dataset_provenance"].iloc[0]
    assert f"resampling: {kind} by '{column}'" in provenance
    html = (run.path / "index.html").read_text()
    assert f"resampling: {kind} by &#39;{column}&#39;" in html  # the report's data note says which
