"""The analysis API: known answers on constructed tables, and the real sweep run when present."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import mlbench
from mlbench.analysis import (
    bootstrap_interval,
    compare_runs,
    confidence_interval,
    corrected_t_interval,
    critical_difference,
    crossovers,
    dataset_groups,
    error_of,
    friedman_test,
    leaderboard,
    learning_curves,
    primary_metrics,
    ranks,
    reference_sizes,
    reference_status,
    score_table,
    summarize_scores,
    wilcoxon_holm,
    wilcoxon_min_datasets,
)
from mlbench.analysis.intervals import weighted_metric

# A real sweep, committed with the baselines: baselines/scaling.yaml's results (digits, six models,
# 25 to 1,198 training rows, 3-fold CV x 3 repeats).
REFERENCE_SWEEP = Path(__file__).resolve().parents[1] / "baselines" / "reference" / "scaling_results.csv"


# --------------------------------------------------------------------------------------------
# builders
# --------------------------------------------------------------------------------------------


def make_results(
    scores: dict[str, dict[str, list[float]]],
    metric: dict[str, str] | None = None,
    n_train: dict[str, list[float]] | None = None,
    train_gap: float = 0.02,
) -> pd.DataFrame:
    """A results table shaped like :func:`mlbench.load_results`: one ok row per fold.

    ``scores[dataset][model]`` holds one test score per fold; ``metric[dataset]`` names the metric
    (default accuracy); ``n_train[dataset]`` the training rows per fold (default 100 each).
    """
    rows = []
    for ds, models in scores.items():
        name = (metric or {}).get(ds, "accuracy")
        task = mlbench.metrics.METRICS.get(name).task_type
        better = mlbench.metrics.METRICS.get(name).greater_is_better
        for model, values in models.items():
            for fold, value in enumerate(values):
                n = (n_train or {}).get(ds, [100.0] * len(values))[fold]
                rows.append(
                    {
                        "job_id": f"{ds}-{model}-{fold}",
                        "dataset": ds,
                        "task_type": task,
                        "model": model,
                        "fold": fold,
                        "repeat": 0,
                        "train_size": 1.0,
                        "n_train": n,
                        "n_test": n / 4,  # 5-fold: a test fold is a quarter of the training rows
                        "status": "ok",
                        f"test_{name}": value,
                        f"train_{name}": value + train_gap if better else value - train_gap,
                        "fit_seconds": 0.5,
                        "predict_seconds": 0.1,
                        "peak_memory_mb": 100.0,
                        "n_params": 10.0,
                    }
                )
    return pd.DataFrame(rows)


def known_table(n_datasets: int = 8, seed: int = 0) -> pd.DataFrame:
    """A beats B beats C on every dataset; the last dataset is a regression one scored by rmse."""
    rng = np.random.default_rng(seed)
    scores, metric = {}, {}
    for i in range(n_datasets):
        ds = f"d{i}"
        base = 0.6 + 0.03 * i
        if i == n_datasets - 1:
            metric[ds] = "rmse"  # lower is better: A has the smallest error
            scores[ds] = {m: list(10 + k * 5 + rng.normal(0, 0.1, 5)) for k, m in enumerate("ABC")}
        else:
            scores[ds] = {m: list(base - 0.1 * k + rng.normal(0, 0.01, 5)) for k, m in enumerate("ABC")}
    return make_results(scores, metric)


# --------------------------------------------------------------------------------------------
# import, metric choice
# --------------------------------------------------------------------------------------------


def test_import_is_light():
    code = (
        "import sys, mlbench.analysis; "
        "print(sorted({'torch', 'matplotlib', 'scipy', 'sklearn'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_primary_metric_choice_and_overrides():
    res = make_results({"c": {"A": [0.9, 0.8]}, "r": {"A": [3.0, 4.0]}}, {"r": "rmse"})
    res["test_balanced_accuracy"] = np.where(res["dataset"] == "c", 0.5, np.nan)
    assert primary_metrics(res) == {"c": "accuracy", "r": "rmse"}
    assert primary_metrics(res, primary={"classification": "balanced_accuracy"}) == {
        "c": "balanced_accuracy",
        "r": "rmse",
    }
    # an explicit metric applies to its own task type only
    assert primary_metrics(res, metric="rmse") == {"r": "rmse"}
    with pytest.warns(UserWarning, match="test_f1_macro"):
        assert primary_metrics(res, primary={"classification": "f1_macro"}) == {"r": "rmse"}
    # falls through the default order when the first metric is missing
    res2 = res.drop(columns=["test_accuracy"])
    assert primary_metrics(res2)["c"] == "balanced_accuracy"


def test_non_ok_rows_are_ignored():
    res = make_results({"d": {"A": [0.9, 0.8], "B": [0.7, 0.6]}})
    bad = res.iloc[[0]].assign(status="failed", test_accuracy=0.0, job_id="x")
    table = summarize_scores(pd.concat([res, bad], ignore_index=True))
    assert table.set_index("model").loc["A", "mean"] == pytest.approx(0.85)
    assert table.set_index("model").loc["A", "n"] == 2


# --------------------------------------------------------------------------------------------
# confidence intervals, error
# --------------------------------------------------------------------------------------------


def test_confidence_interval_basics():
    assert all(math.isnan(v) for v in confidence_interval([0.7]))
    assert all(math.isnan(v) for v in confidence_interval([]))
    assert confidence_interval([0.5, 0.5, 0.5]) == (0.5, 0.5)
    x = [0.81, 0.84, 0.79, 0.86, 0.8]
    expected = stats.t.interval(0.95, len(x) - 1, loc=np.mean(x), scale=stats.sem(x))
    assert confidence_interval(x) == pytest.approx(expected)
    assert confidence_interval([*x, float("nan")]) == pytest.approx(expected)
    lo90, hi90 = confidence_interval(x, level=0.9)
    assert expected[0] < lo90 < hi90 < expected[1]


def test_confidence_interval_coverage():
    # 1000 simulated 5-fold runs with known mean: a 95% interval should cover it ~95% of the time.
    rng = np.random.default_rng(12345)
    draws = rng.normal(0.8, 0.03, size=(1000, 5))
    covered = 0
    for row in draws:
        lo, hi = confidence_interval(row)
        covered += lo <= 0.8 <= hi
    assert 0.93 <= covered / 1000 <= 0.97


def test_error_of_directions():
    assert error_of([0.9, 0.75], "accuracy") == pytest.approx([0.1, 0.25])
    assert error_of([0.2], "r2") == pytest.approx([0.8])
    assert error_of([3.5], "rmse") == pytest.approx([3.5])
    assert error_of([0.4], "log_loss") == pytest.approx([0.4])


# --------------------------------------------------------------------------------------------
# summaries
# --------------------------------------------------------------------------------------------


def sweep_table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for model in ("A", "B"):
        for size, counts in ((50, [50] * 5), (100, [100] * 5), (1.0, [597, 598, 597, 598, 597])):
            for fold, n in enumerate(counts):
                rows.append(
                    {
                        "job_id": f"{model}-{size}-{fold}",
                        "dataset": "d",
                        "task_type": "classification",
                        "model": model,
                        "fold": fold,
                        "repeat": 0,
                        "train_size": float(size),
                        "n_train": n,
                        "n_test": 150,
                        "status": "ok",
                        "test_accuracy": float(np.clip(0.9 - 5 / n + rng.normal(0, 0.01), 0, 1)),
                        "train_accuracy": 1.0,
                        "fit_seconds": n / 1000,
                    }
                )
    return pd.DataFrame(rows)


def test_summarize_scores_largest_size_and_gap_direction():
    res = sweep_table()
    reg = make_results({"r": {"A": [50.0, 52.0, 54.0]}}, {"r": "rmse"}, train_gap=10.0)
    table = summarize_scores(pd.concat([res, reg], ignore_index=True)).set_index(["dataset", "model"])
    full = res[(res["model"] == "A") & (res["train_size"] == 1.0)]
    row = table.loc[("d", "A")]
    assert row["n_train"] == 597.0
    assert row["mean"] == pytest.approx(full["test_accuracy"].mean())
    assert row["std"] == pytest.approx(full["test_accuracy"].std())
    assert row["gap"] == pytest.approx(1.0 - full["test_accuracy"].mean())  # train acc 1.0
    assert row["fit_seconds"] == pytest.approx(full["fit_seconds"].mean())
    r = table.loc[("r", "A")]
    assert r["metric"] == "rmse"
    assert r["gap"] == pytest.approx(10.0)  # train rmse lower than test: positive = overfitting


# --------------------------------------------------------------------------------------------
# ranks and tests over datasets
# --------------------------------------------------------------------------------------------


def test_ranks_respect_direction():
    res = known_table()
    r = ranks(res)
    assert list(r.columns[:4]) == ["dataset", "model", "score", "rank"]
    best = r[r["rank"] == 1]
    assert set(best["model"]) == {"A"} and len(best) == 8
    reg = r[r["dataset"] == "d7"].set_index("model")
    assert reg.loc["A", "metric"] == "rmse"
    assert reg.loc["A", "score"] < reg.loc["C", "score"]  # lowest rmse ranks first


def test_leaderboard_known_answer():
    board = leaderboard(known_table())
    assert list(board.columns) == [
        "model",
        "mean_rank",
        "win_rate",
        "mean_normalized_score",
        "total_fit_seconds",
        "n_datasets",
        "n_failed",
        "group",
        "n_partial",
    ]
    assert list(board["model"]) == ["A", "B", "C"]
    assert list(board["mean_rank"]) == [1.0, 2.0, 3.0]
    assert list(board["win_rate"]) == [1.0, 0.0, 0.0]
    assert board["mean_normalized_score"].iloc[0] == 1.0 and board["mean_normalized_score"].iloc[2] == 0.0
    assert board["total_fit_seconds"].iloc[0] == pytest.approx(8 * 5 * 0.5)
    assert list(board["n_datasets"]) == [8, 8, 8]
    assert list(board["n_failed"]) == [0, 0, 0] and set(board["group"]) == {"all models"}
    assert list(board["n_partial"]) == [0, 0, 0]


def test_ties_share_rank_and_win():
    res = make_results(
        {"d1": {"A": [0.9], "B": [0.9], "C": [0.5]}, "d2": {"A": [0.8], "B": [0.7], "C": [0.6]}}
    )
    r = ranks(res).set_index(["dataset", "model"])["rank"]
    assert r[("d1", "A")] == r[("d1", "B")] == 1.5
    board = leaderboard(res).set_index("model")
    assert board.loc["A", "win_rate"] == 1.0
    assert board.loc["B", "win_rate"] == 0.5


def test_friedman_known_answer():
    out = friedman_test(known_table())
    # perfect agreement: chi2 = 12 N / (k (k + 1)) * sum(mean_rank^2) - 3 N (k + 1) = 16 for N=8, k=3
    assert out["n_datasets"] == 8 and out["n_models"] == 3
    assert out["statistic"] == pytest.approx(16.0)
    assert out["p_value"] == pytest.approx(math.exp(-8.0))
    small = friedman_test(known_table(n_datasets=2))
    assert math.isnan(small["p_value"])


def test_critical_difference_known_answer():
    out = critical_difference(known_table())
    q = stats.studentized_range.ppf(0.95, 3, np.inf) / math.sqrt(2)
    assert q == pytest.approx(2.343, abs=1e-3)  # Demšar (2006), table 5
    assert out["cd"] == pytest.approx(q * math.sqrt(3 * 4 / (6 * 8)))
    assert out["mean_ranks"] == {"A": 1.0, "B": 2.0, "C": 3.0}
    # |A-B| = |B-C| = 1 < cd ~ 1.17 < |A-C| = 2
    assert out["groups"] == [["A", "B"], ["B", "C"]]


def test_wilcoxon_holm_known_answer():
    out = wilcoxon_holm(known_table())
    assert list(out.columns[:5]) == ["model_a", "model_b", "p_value", "p_holm", "significant"]
    assert len(out) == 3
    # 8 datasets, all one sign: exact two-sided p = 2 / 2^8
    assert out["p_value"].to_numpy() == pytest.approx([2 / 256] * 3)
    assert out["p_holm"].to_numpy() == pytest.approx([3 * 2 / 256] * 3)
    assert out["significant"].all()
    assert list(out["better"]) == ["A", "A", "B"]
    few = wilcoxon_holm(known_table(n_datasets=4))
    assert not few["significant"].any()  # 4 datasets can never reach p < 0.05


def test_compare_runs_shift_and_identity():
    a = known_table()
    same = compare_runs(a, a.copy())
    assert list(same.columns) == [
        "dataset",
        "model",
        "metric",
        "mean_a",
        "mean_b",
        "delta",
        "p_value",
        "significant",
        "n_pairs",
        "status_a",
        "status_b",
        "paired",
        "comparison",
        "n_train_a",
        "n_train_b",
    ]
    assert (same["comparison"] == "paired").all() and (same["n_train_a"] == 100).all()
    assert (same["delta"] == 0).all() and (same["p_value"] == 1.0).all() and not same["significant"].any()
    assert (same["n_pairs"] == 5).all()

    rng = np.random.default_rng(7)
    b = a.copy()
    cls = b["dataset"] != "d7"
    b.loc[cls, "test_accuracy"] = b.loc[cls, "test_accuracy"] + 0.05 + rng.normal(0, 0.005, cls.sum())
    out = compare_runs(a, b).set_index(["dataset", "model"])
    shifted = out.loc["d0"]
    assert shifted["delta"].to_numpy() == pytest.approx([0.05] * 3, abs=0.01)
    assert shifted["significant"].all()
    assert not out.loc["d7"]["significant"].any()  # the regression dataset was left alone

    # a single pair cannot be tested
    one = compare_runs(a[a["fold"] == 0], b[b["fold"] == 0])
    assert one["p_value"].isna().all() and (one["n_pairs"] == 1).all()


def test_compare_runs_with_split_fingerprints_pairs_only_the_same_rows():
    a = known_table(n_datasets=3)
    b = a.copy()
    b["job_id"] = "b-" + b["job_id"].astype(str)  # other ids, e.g. a changed parameter
    same = {j: f"s{i}" for i, j in enumerate(a["job_id"])}
    # the same rows under other ids: paired by fingerprint
    out = compare_runs(a, b, splits=(same, dict(zip(b["job_id"], same.values(), strict=True))))
    assert out["paired"].all() and (out["n_pairs"] == 5).all() and (out["p_value"] == 1.0).all()
    # other rows (another seed): no pairs, an unpaired test that says so
    other = {j: f"t{i}" for i, j in enumerate(b["job_id"])}
    out = compare_runs(a, b, splits=(same, other))
    assert not out["paired"].any() and (out["n_pairs"] == 0).all()
    assert out["mean_a"].to_numpy() == pytest.approx(out["mean_b"].to_numpy())
    assert (out["comparison"] == "unpaired").all()


def _other_split(b: pd.DataFrame) -> tuple[dict[str, str], dict[str, str]]:
    """Fingerprints that match no job of the other run (another seed: nothing can be paired)."""
    return ({j: f"a{j}" for j in b["job_id"]}, {j: f"b{j}" for j in b["job_id"]})


def test_compare_runs_does_not_test_runs_at_other_training_sizes():
    """Run A at 800 training rows, B at 400 (each picked its own reference size): unlike things.
    Unpaired they would read as B significantly worse; they get no p-value instead."""
    rng = np.random.default_rng(0)
    a = make_results({"d": {"M": list(0.90 + rng.normal(0, 0.005, 5))}}, n_train={"d": [800.0] * 5})
    b = make_results({"d": {"M": list(0.85 + rng.normal(0, 0.005, 5))}}, n_train={"d": [400.0] * 5})
    b["train_size"] = 0.5
    out = compare_runs(a, b, splits=_other_split(a)).iloc[0]
    assert math.isnan(out["p_value"]) and not out["significant"]
    assert out["comparison"] == "not comparable" and not out["paired"]
    assert (out["n_train_a"], out["n_train_b"]) == (800.0, 400.0)
    assert out["delta"] == pytest.approx(-0.05, abs=0.01)  # the means are still shown
    # the same training rows (another seed only): compared unpaired, and the drop is found
    same = make_results({"d": {"M": list(0.85 + rng.normal(0, 0.005, 5))}}, n_train={"d": [800.0] * 5})
    out = compare_runs(a, same, splits=_other_split(a)).iloc[0]
    assert out["comparison"] == "unpaired" and out["significant"]


def test_unpaired_comparison_averages_the_repeats_of_each_fold():
    """Repeats of a fold share its test rows, so Welch runs on the 5 fold means, not on 15 jobs."""
    rng = np.random.default_rng(1)

    def run(shift: float) -> pd.DataFrame:
        folds = 0.8 + shift + rng.normal(0, 0.02, 5)
        scores = np.repeat(folds, 3) + rng.normal(0, 0.002, 15)  # 3 sweep repeats of each fold
        r = make_results({"d": {"M": list(scores)}})
        r["fold"], r["repeat"] = np.repeat(np.arange(5), 3), np.tile(np.arange(3), 5)
        return r

    a, b = run(0.0), run(0.02)
    out = compare_runs(a, b, splits=_other_split(a)).iloc[0]
    fa, fb = (x.groupby("fold")["test_accuracy"].mean().to_numpy() for x in (a, b))
    assert out["p_value"] == pytest.approx(stats.ttest_ind(fb, fa, equal_var=False).pvalue)
    jobs = stats.ttest_ind(b["test_accuracy"], a["test_accuracy"], equal_var=False).pvalue
    assert jobs < out["p_value"] / 2  # counting repeats as samples would overstate the evidence
    assert out["mean_b"] - out["mean_a"] == pytest.approx(fb.mean() - fa.mean())


def test_paired_comparison_averages_the_repeats_of_each_fold():
    """The paired test too: repeats of a fold share its test rows, so one mean difference per fold."""
    rng = np.random.default_rng(2)
    folds = 0.8 + rng.normal(0, 0.02, 5)
    a = make_results({"d": {"M": list(np.repeat(folds, 3) + rng.normal(0, 0.002, 15))}})
    a["fold"], a["repeat"] = np.repeat(np.arange(5), 3), np.tile(np.arange(3), 5)
    b = a.copy()
    b["test_accuracy"] = a["test_accuracy"] + 0.004 + np.repeat(rng.normal(0, 0.006, 5), 3)
    out = compare_runs(a, b).iloc[0]
    fa, fb = (x.groupby("fold")["test_accuracy"].mean().to_numpy() for x in (a, b))
    assert out["comparison"] == "paired" and out["n_pairs"] == 5
    assert out["p_value"] == pytest.approx(stats.ttest_rel(fb, fa).pvalue)
    jobs = stats.ttest_rel(b["test_accuracy"], a["test_accuracy"]).pvalue
    assert jobs < out["p_value"]  # 15 "pairs" would overstate the evidence


@pytest.mark.slow
def test_unpaired_comparison_keeps_its_false_positive_rate():
    """Assumption of the unpaired (Welch) test: each run's fold means are independent draws with a
    common mean under the null. Simulated: two runs of one model on different splits, 5 folds x 2
    repeats each, fold means iid normal with unequal spreads and repeats that share their fold's
    test rows (so they are close); the test rejects about alpha of the time."""
    rng = np.random.default_rng(3)
    rejected, reps = 0, 200
    for _ in range(reps):
        a, b = (
            make_results(
                {"d": {"M": list(np.repeat(0.8 + rng.normal(0, sd, 5), 2) + rng.normal(0, sd / 4, 10))}}
            )
            for sd in (0.01, 0.03)
        )
        for r in (a, b):
            r["fold"], r["repeat"] = np.repeat(np.arange(5), 2), np.tile(np.arange(2), 5)
        b["job_id"] = "b-" + b["job_id"].astype(str)
        splits = ({j: "a" + str(j) for j in a["job_id"]}, {j: "b" + str(j) for j in b["job_id"]})
        rejected += bool(compare_runs(a, b, splits=splits)["significant"].iloc[0])
    # binomial(200, 0.05): mean 10, sd 3.1; 2..20 rejections is about +-3.2 sd (Welch is near-exact here)
    assert 2 <= rejected <= 20


def test_no_ok_jobs_gives_empty_tables():
    res = known_table().assign(status="failed")
    assert summarize_scores(res).empty and learning_curves(res).empty and ranks(res).empty
    assert leaderboard(res).empty and wilcoxon_holm(res).empty and compare_runs(res, res).empty
    assert math.isnan(friedman_test(res)["p_value"])
    cd = critical_difference(res)
    assert math.isnan(cd["cd"]) and cd["mean_ranks"] == {} and cd["groups"] == []
    assert crossovers(learning_curves(res)).empty


def test_repeats_of_a_fold_are_not_counted_as_independent_samples():
    # a deterministic model at the full size: every repeat of a fold scores the same
    rows = []
    for fold, score in enumerate([0.90, 0.95, 0.93, 0.97, 0.92]):
        for repeat in range(3):
            rows.append(
                {
                    "job_id": f"{fold}-{repeat}",
                    "dataset": "d",
                    "task_type": "classification",
                    "model": "knn",
                    "fold": fold,
                    "repeat": repeat,
                    "train_size": 1.0,
                    # 10,000 / 2,500 rows: folds this close are plausible for that many test
                    # rows (with 25, the rows' own binomial interval is wider, and it bounds
                    # the interval: tests/test_intervals.py)
                    "n_train": 10_000,
                    "n_test": 2_500,
                    "status": "ok",
                    "test_accuracy": score,
                    "train_accuracy": 1.0,
                }
            )
    df = pd.DataFrame(rows)
    five = np.array([0.90, 0.95, 0.93, 0.97, 0.92])
    half = stats.t.ppf(0.975, 4) * np.sqrt(five.var(ddof=1) * (1 / 5 + 25 / 100))
    s = summarize_scores(df).iloc[0]
    assert s["n"] == 5 and s["ci_low"] == pytest.approx(five.mean() - half)
    assert s["ci_high"] == pytest.approx(five.mean() + half)
    c = learning_curves(df).iloc[0]
    assert c["n"] == 5 and c["ci_low"] == pytest.approx(five.mean() - half)
    # holdout (one fold): the repeats are the samples; its interval needs the test rows
    holdout = df[df["fold"] == 0].assign(test_accuracy=[0.90, 0.92, 0.94])
    one = summarize_scores(holdout).iloc[0]
    assert one["n"] == 3 and one["ci_method"] == "none" and math.isnan(one["ci_low"])
    assert "stored predictions" in one["ci_note"]


# --------------------------------------------------------------------------------------------
# one reference size per dataset
# --------------------------------------------------------------------------------------------


def two_size_table(n_datasets: int = 4) -> pd.DataFrame:
    """Sizes 0.5 and 1.0, 5 folds; "big" is the best model at both sizes but runs out of memory
    at the full size of d0."""
    rows = []
    quality = {"big": 0.95, "mid": 0.85, "small": 0.75}
    for d in range(n_datasets):
        for size, n in ((0.5, 50.0), (1.0, 100.0)):
            for model, q in quality.items():
                for fold in range(5):
                    oom = model == "big" and d == 0 and size == 1.0
                    score = q - (0.1 if size == 0.5 else 0.0) + 0.002 * fold
                    rows.append(
                        {"job_id": f"d{d}-{model}-{size}-{fold}", "dataset": f"d{d}", "task_type": "classification",
                         "model": model, "fold": fold, "repeat": 0, "train_size": size,
                         "n_train": np.nan if oom else n, "n_test": 25.0, "status": "oom" if oom else "ok",
                         "test_accuracy": np.nan if oom else score, "fit_seconds": 1.0}
                    )  # fmt: skip
    return pd.DataFrame(rows)


def test_a_model_that_failed_at_the_reference_size_is_not_ranked_on_a_smaller_size():
    res = two_size_table()
    refs = reference_sizes(res).set_index("dataset")
    assert (refs["train_size"] == 1.0).all() and (refs["n_train"] == 100.0).all()
    status = reference_status(res).set_index(["dataset", "model"])
    assert status.loc[("d0", "big"), "status"] == "oom"
    assert status.loc[("d0", "big"), ["n_ok", "n_jobs"]].tolist() == [0, 5]
    # d0: big has no score at the full size, so it is ranked last, not first on its half-size score
    r = ranks(res).set_index(["dataset", "model"])
    assert r.loc[("d0", "big"), "rank"] == 3.0 and math.isnan(r.loc[("d0", "big"), "score"])
    assert r.loc[("d0", "mid"), "rank"] == 1.0
    assert r.loc[("d1", "big"), "rank"] == 1.0
    board = leaderboard(res).set_index("model")
    assert board.loc["big", "n_failed"] == 1 and board.loc["big", "win_rate"] == 0.75
    assert board.loc["big", "mean_rank"] == pytest.approx((3 + 1 + 1 + 1) / 4)
    assert board.loc["big", "mean_normalized_score"] == pytest.approx(0.75)  # 0 where it failed
    table = summarize_scores(res).set_index(["dataset", "model"])
    assert table.loc[("d0", "big"), "status"] == "oom" and math.isnan(table.loc[("d0", "big"), "mean"])
    assert (table.drop(index=("d0", "big"))["train_size"] == 1.0).all()
    # the tests need a score on every dataset: big is left out, and says why
    f = friedman_test(res)
    assert f["models"] == ["mid", "small"] and "d0 (oom)" in f["left_out"]["big"]
    assert "big" not in critical_difference(res)["mean_ranks"]
    # a dataset where every model failed at the full size orders nothing: out of the ranking, so
    # it does not push every model out of the tests
    res.loc[(res["dataset"] == "d1") & (res["train_size"] == 1.0), ["status", "test_accuracy"]] = [
        "timeout",
        np.nan,
    ]
    assert set(reference_status(res).query("dataset == 'd1'")["status"]) == {"timeout"}
    assert "d1" not in set(ranks(res)["dataset"]) and "d1" not in set(dataset_groups(res)["dataset"])
    assert friedman_test(res)["models"] == ["mid", "small"] and friedman_test(res)["n_datasets"] == 3


def test_reference_size_ignores_sizes_skipped_for_every_model_and_places_fractions():
    res = two_size_table(1)
    res = res[res["model"] != "big"]
    # a sweep row count larger than this dataset: skipped for every model, so not the reference
    extra = res[res["train_size"] == 1.0].assign(train_size=1000.0, status="skipped", n_train=np.nan)
    both = pd.concat([res, extra], ignore_index=True)
    assert reference_sizes(both)["train_size"].tolist() == [1.0]
    # no n_train recorded at the full size (every job failed early): the fraction is still larger
    lost = both.copy()
    full = lost["train_size"] == 1.0
    lost.loc[full, ["status", "n_train", "test_accuracy"]] = ["failed", np.nan, np.nan]
    ref = reference_sizes(lost)
    assert ref["train_size"].tolist() == [1.0] and math.isnan(ref["n_train"].iloc[0])  # none trained
    assert set(reference_status(lost)["status"]) == {"failed"}
    assert summarize_scores(lost).empty or summarize_scores(lost)["mean"].isna().all()
    # without any n_train, a fraction (1.0 = all rows) is larger than any row count
    counts = res.assign(n_train=np.nan, train_size=np.where(res["train_size"] == 0.5, 400.0, 1.0))
    assert reference_sizes(counts)["train_size"].tolist() == [1.0]


# --------------------------------------------------------------------------------------------
# groups of datasets: models that apply to some datasets only
# --------------------------------------------------------------------------------------------


def mixed_table(n_tabular: int = 4) -> pd.DataFrame:
    """knn and xgb run everywhere; the cnn is skipped on tabular datasets and best on images."""
    rng = np.random.default_rng(1)
    scores: dict[str, dict[str, list[float]]] = {}
    for i in range(n_tabular):
        scores[f"tab{i}"] = {
            "knn": list(0.80 + rng.normal(0, 0.01, 5)),
            "xgb": list(0.85 + rng.normal(0, 0.01, 5)),
        }
    scores["img"] = {
        m: list(q + rng.normal(0, 0.01, 5)) for m, q in (("knn", 0.9), ("xgb", 0.88), ("cnn", 0.99))
    }
    res = make_results(scores)
    skipped = [
        {"job_id": f"tab{i}-cnn-{f}", "dataset": f"tab{i}", "task_type": "classification", "model": "cnn",
         "fold": f, "repeat": 0, "train_size": 1.0, "n_train": np.nan, "status": "skipped"}
        for i in range(n_tabular) for f in range(5)
    ]  # fmt: skip
    return pd.concat([res, pd.DataFrame(skipped)], ignore_index=True)


def test_models_are_ranked_only_within_their_dataset_group():
    res = mixed_table()
    groups = dataset_groups(res)
    assert groups.groupby("group")["dataset"].apply(sorted).to_dict() == {
        "all but cnn": ["tab0", "tab1", "tab2", "tab3"],
        "all models": ["img"],
    }
    assert groups["group"].iloc[0] == "all but cnn"  # largest group first
    board = leaderboard(res)
    tab = board[board["group"] == "all but cnn"].set_index("model")
    img = board[board["group"] == "all models"].set_index("model")
    # the CNN is not on the tabular leaderboard at all, and its one win is counted on one dataset
    assert list(tab.index) == ["xgb", "knn"] and (tab["n_datasets"] == 4).all()
    assert img.loc["cnn", "n_datasets"] == 1 and img.loc["cnn", "win_rate"] == 1.0
    assert "cnn" not in set(ranks(res)[lambda r: r["dataset"] == "tab0"]["model"])
    assert leaderboard(res, group="all models")["model"].tolist() == ["cnn", "knn", "xgb"]
    # across every dataset only the models that apply everywhere are compared
    f = friedman_test(res)
    assert f["models"] == ["knn", "xgb"] and f["left_out"]["cnn"].startswith("does not apply")


def test_wilcoxon_needs_six_datasets_and_never_pools_different_metrics():
    assert wilcoxon_min_datasets(0.05) == 6  # 2 / 2**5 = 0.0625 cannot be below 0.05
    assert wilcoxon_min_datasets(0.01) == 8
    five = known_table(n_datasets=5)
    assert wilcoxon_holm(five).empty
    assert len(wilcoxon_holm(five, min_datasets=5)) == 3
    # 5 accuracy datasets where A is slightly better, one rmse dataset where B is far better
    scores = {f"c{i}": {"A": [0.80 + 0.01 * i], "B": [0.79]} for i in range(5)}
    scores["r"] = {"A": [200.0], "B": [100.0]}
    res = make_results(scores, {"r": "rmse"})
    (row,) = wilcoxon_holm(res).itertuples(index=False)
    assert row.scale == "normalized" and row.n_datasets == 6
    # per-dataset normalised scores: +1 on five datasets, -1 on one
    expected = stats.wilcoxon([1, 1, 1, 1, 1, -1], zero_method="zsplit").pvalue
    raw = stats.wilcoxon([0.01, 0.02, 0.03, 0.04, 0.05, -100.0], zero_method="zsplit").pvalue
    assert row.p_value == pytest.approx(expected) and row.p_value != pytest.approx(raw)
    # one metric throughout: the differences are of that metric
    same = wilcoxon_holm(known_table(n_datasets=7)[lambda d: d["dataset"] != "d6"])
    assert set(same["scale"]) == {"accuracy"}


def test_wilcoxon_says_why_it_ran_no_test():
    five = wilcoxon_holm(known_table(n_datasets=5))
    assert five.empty
    (note,) = five.attrs["notes"].values()
    assert "with 5 datasets the smallest two-sided p-value" in note and "0.0625" in note
    assert "it takes 6 datasets" in note
    assert (
        "fewer than the 9 asked for"
        in wilcoxon_holm(known_table(), min_datasets=9).attrs["notes"]["all models"]
    )
    assert wilcoxon_holm(known_table()).attrs["notes"] == {}  # tests ran: nothing to explain
    # one model with a score everywhere: nothing to pair
    solo = known_table()
    solo.loc[(solo["model"] != "A") & (solo["dataset"] == "d0"), ["status", "test_accuracy"]] = [
        "failed",
        np.nan,
    ]
    assert "fewer than 2 models" in wilcoxon_holm(solo).attrs["notes"]["all models"]


def test_iman_davenport_next_to_friedman():
    rng = np.random.default_rng(4)
    scores = {f"d{i}": {m: [q + rng.normal(0, 0.015)] for m, q in zip("ABCD", (0.8, 0.79, 0.77, 0.76), strict=True)}
              for i in range(10)}  # fmt: skip
    out = friedman_test(make_results(scores))
    n, k, chi2 = 10, 4, out["statistic"]
    f = (n - 1) * chi2 / (n * (k - 1) - chi2)
    assert out["iman_davenport"] == pytest.approx(f)
    assert out["df"] == [3, 27]
    assert out["iman_davenport_p_value"] == pytest.approx(stats.f.sf(f, 3, 27))
    assert out["iman_davenport_p_value"] < out["p_value"] < 0.05  # less conservative than the chi-square
    # Demšar (2006), section 3.2.2: chi2 = 9.28 with N = 14, k = 4 gives F = 3.69
    assert 13 * 9.28 / (14 * 3 - 9.28) == pytest.approx(3.69, abs=0.005)
    # every dataset ranks the models identically: chi2 = N (k - 1), F infinite
    perfect = friedman_test(known_table())
    assert perfect["iman_davenport"] == math.inf and perfect["iman_davenport_p_value"] == 0.0


# --------------------------------------------------------------------------------------------
# confidence intervals: corrected resampled t (k-fold), test-row bootstrap (one split), ranges
# --------------------------------------------------------------------------------------------

# A known data-generating process: two Gaussian classes in 5 dimensions, means -mu and +mu with
# mu = (0.35, 0, 0, 0, 0), unit covariance, and a nearest-centroid classifier. Given the class
# means it estimated, its accuracy has a closed form, so the expected accuracy at a training size
# (over training sets) is a cheap Monte Carlo average and the coverage of an interval can be
# counted exactly.
DIM, SHIFT = 5, 0.35
MU = np.zeros(DIM)
MU[0] = SHIFT


def centroid_accuracy(m0: np.ndarray, m1: np.ndarray) -> np.ndarray:
    """True accuracy of the nearest-centroid rule with estimated class means m0, m1 (rows)."""
    w = m1 - m0
    b = -((m1 + m0) / 2 * w).sum(-1)
    norm = np.linalg.norm(w, axis=-1)
    proj = (w * MU).sum(-1)
    return 0.5 * (stats.norm.cdf((proj + b) / norm) + stats.norm.cdf((proj - b) / norm))


def expected_accuracy(n_per_class: int, rng: np.random.Generator, draws: int = 400_000) -> float:
    m0 = -MU + rng.normal(0, 1, (draws, DIM)) / np.sqrt(n_per_class)
    m1 = MU + rng.normal(0, 1, (draws, DIM)) / np.sqrt(n_per_class)
    return float(centroid_accuracy(m0, m1).mean())


def centroid_kfold(
    rng: np.random.Generator, n_sims: int, sizes=(40, 80), n=100, k=5, repeats=3
) -> pd.DataFrame:
    """``n_sims`` datasets of ``n`` rows, stratified k-fold; at each size a random stratified subset
    of the fold's training rows per repeat (the whole training part at its size: repeats equal)."""
    y = np.repeat([0, 1], n // 2)
    X = rng.normal(0, 1, (n_sims, n, DIM)) + np.where(y[:, None] == 1, MU, -MU)
    fold = np.tile(np.arange(n // 2) % k, 2)
    frames = []
    for size in sizes:
        acc = np.zeros((n_sims, k, repeats))
        for f in range(k):
            test = fold == f
            pools = [np.flatnonzero(~test & (y == c)) for c in (0, 1)]
            for r in range(repeats):
                means = []
                for pool in pools:
                    pick = pool[rng.random((n_sims, len(pool))).argsort(1)[:, : size // 2]]
                    means.append(np.take_along_axis(X, pick[:, :, None], 1).mean(1))
                w = means[1] - means[0]
                b = -((means[1] + means[0]) / 2 * w).sum(-1)
                pred = np.einsum("snd,sd->sn", X[:, test], w) + b[:, None] > 0
                acc[:, f, r] = (pred == (y[test] == 1)).mean(1)
        s, f, r = (
            a.ravel() for a in np.meshgrid(np.arange(n_sims), np.arange(k), np.arange(repeats), indexing="ij")
        )
        frames.append(
            pd.DataFrame(
                {
                    "job_id": [f"{a}-{size}-{b}-{c}" for a, b, c in zip(s, f, r, strict=True)],
                    "dataset": [f"sim{a:04d}" for a in s],
                    "task_type": "classification",
                    "model": "centroid",
                    "fold": f,
                    "repeat": r,
                    "train_size": float(size),
                    "n_train": size,
                    "n_test": n // k,
                    "status": "ok",
                    "test_accuracy": acc.ravel(),
                    "test_balanced_accuracy": acc.ravel(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def test_corrected_t_formula_with_repeated_kfold():
    # 2 x 5-fold: ten folds (0..9), each with two sweep repeats that are averaged first; 8,000 /
    # 2,000 rows, so that the rows' own binomial interval (which bounds it) is narrower than this
    scores = np.array([0.81, 0.84, 0.79, 0.86, 0.80, 0.83, 0.82, 0.85, 0.78, 0.84])
    rows = [
        {"job_id": f"{f}-{r}", "dataset": "d", "task_type": "classification", "model": "m", "fold": f,
         "repeat": r, "train_size": 1.0, "n_train": 8_000, "n_test": 2_000, "status": "ok",
         "test_accuracy": scores[f] + (0.01 if r else -0.01)}
        for f in range(10) for r in range(2)
    ]  # fmt: skip
    s = summarize_scores(pd.DataFrame(rows)).iloc[0]
    half = stats.t.ppf(0.975, 9) * np.sqrt(scores.var(ddof=1) * (1 / 10 + 20 / 80))
    assert s["n"] == 10 and s["mean"] == pytest.approx(scores.mean())
    assert (s["ci_low"], s["ci_high"]) == pytest.approx((scores.mean() - half, scores.mean() + half))
    assert s["ci_method"] == "corrected_t" and "10 folds" in s["ci_note"]
    assert corrected_t_interval(scores, 20, 80) == pytest.approx((s["ci_low"], s["ci_high"]))


def test_kfold_intervals_cover_the_expected_accuracy():
    # 1000 simulated 5-fold runs of 100 rows, sweep sizes 40 and 80 (= all training rows), 3 repeats
    rng = np.random.default_rng(2024)
    df = centroid_kfold(rng, 1000)
    truth_full, truth_half = expected_accuracy(40, rng), expected_accuracy(20, rng)
    full = summarize_scores(df)
    assert (full["train_size"] == 80.0).all() and (full["ci_method"] == "corrected_t").all()
    cover_full = ((full["ci_low"] <= truth_full) & (truth_full <= full["ci_high"])).mean()
    curves = learning_curves(df)
    half = curves[curves["n_train"] == 40.0]
    cover_half = ((half["ci_low"] <= truth_half) & (truth_half <= half["ci_high"])).mean()
    # a plain t over the (repeat-averaged) folds ignores that their training sets overlap
    folds = df[df["train_size"] == 40.0].groupby(["dataset", "fold"])["test_accuracy"].mean().unstack()
    m, sd = folds.mean(axis=1), folds.std(axis=1, ddof=1)
    plain = stats.t.ppf(0.975, 4) * sd / np.sqrt(5)
    cover_plain = ((m - plain <= truth_half) & (truth_half <= m + plain)).mean()
    print(
        f"coverage at nominal 95%: full size {cover_full:.3f}, subset {cover_half:.3f}, plain t {cover_plain:.3f}"
    )
    assert cover_full >= 0.93 and cover_half >= 0.93
    assert cover_plain < 0.90


def centroid_holdout(rng: np.random.Generator, n_sims: int, n_train=60, size=40, n_test=200, repeats=3):
    """One test split per simulated dataset; each repeat trains on its own subset of the training
    rows. Returns the results table, the stored predictions and each dataset's true accuracy (the
    mean over repeats of the trained models' accuracies on new rows)."""
    y_train = np.repeat([0, 1], n_train // 2)
    y_test = np.repeat([0, 1], n_test // 2)
    X_train = rng.normal(0, 1, (n_sims, n_train, DIM)) + np.where(y_train[:, None] == 1, MU, -MU)
    X_test = rng.normal(0, 1, (n_sims, n_test, DIM)) + np.where(y_test[:, None] == 1, MU, -MU)
    rows, preds, truth = [], {}, np.zeros(n_sims)
    for r in range(repeats):
        means = []
        for c in (0, 1):
            pool = np.flatnonzero(y_train == c)
            pick = pool[rng.random((n_sims, len(pool))).argsort(1)[:, : size // 2]]
            means.append(np.take_along_axis(X_train, pick[:, :, None], 1).mean(1))
        truth += centroid_accuracy(means[0], means[1]) / repeats
        w = means[1] - means[0]
        b = -((means[1] + means[0]) / 2 * w).sum(-1)
        pred = (np.einsum("snd,sd->sn", X_test, w) + b[:, None] > 0).astype(int)
        for s in range(n_sims):
            job = f"{s}-{r}"
            preds[job] = {"test_index": np.arange(n_test), "test_true": y_test, "test_pred": pred[s]}
            rows.append({"job_id": job, "dataset": f"sim{s:04d}", "task_type": "classification", "model": "centroid",
                         "fold": 0, "repeat": r, "train_size": float(size), "n_train": size, "n_test": n_test,
                         "status": "ok", "test_accuracy": float((pred[s] == y_test).mean())})  # fmt: skip
    return pd.DataFrame(rows), preds, pd.Series(truth, index=[f"sim{s:04d}" for s in range(n_sims)])


def test_single_split_bootstrap_covers_the_models_accuracy():
    rng = np.random.default_rng(7)
    df, preds, truth = centroid_holdout(rng, 400)
    s = summarize_scores(df, predictions=preds.__getitem__).set_index("dataset")
    assert (s["ci_method"] == "bootstrap").all() and (s["n"] == 3).all()
    assert (
        s["ci_note"]
        .iloc[0]
        .startswith("percentile bootstrap over 200 test rows (1000 resamples, 3 repeats averaged)")
    )
    cover = ((s["ci_low"] <= truth) & (truth <= s["ci_high"])).mean()
    print(f"test-row bootstrap coverage at nominal 95%: {cover:.3f}")
    assert cover >= 0.92
    # without stored predictions there is no interval, and the table says why
    bare = summarize_scores(df[df["dataset"] == "sim0000"]).iloc[0]
    assert bare["ci_method"] == "none" and "stored predictions" in bare["ci_note"]


def test_secondary_metrics_get_the_primary_metric_interval():
    rng = np.random.default_rng(3)
    df = centroid_kfold(rng, 3, sizes=(40,))
    table = score_table(df)
    acc = table[table["metric"] == "accuracy"].set_index("dataset")
    bal = table[table["metric"] == "balanced_accuracy"].set_index("dataset")
    assert acc["is_primary"].all() and not bal["is_primary"].any()
    for col in ("mean", "n", "ci_low", "ci_high", "ci_method", "ci_note"):
        assert acc[col].tolist() == bal[col].tolist(), col
    # the repeats are averaged within each fold before the corrected t, for every metric; the old
    # report's t over all 15 jobs of a secondary metric was much narrower. The correction's pool
    # is the dataset's training fold (80 of its 100 rows, tables.correction_pool), not the
    # largest n_train in the table (40 here).
    one = df[df["dataset"] == "sim0000"]
    folds = one.groupby("fold")["test_balanced_accuracy"].mean()
    assert (bal.loc["sim0000", "ci_low"], bal.loc["sim0000", "ci_high"]) == pytest.approx(
        corrected_t_interval(folds, 20, 80)
    )
    old_lo, old_hi = confidence_interval(one["test_balanced_accuracy"])
    # 1.48x here (1.85x with a pool of 40: sqrt((1/5 + 20/80) / (1/5 + 20/40)) = 0.80 of it)
    assert (bal.loc["sim0000", "ci_high"] - bal.loc["sim0000", "ci_low"]) > 1.4 * (old_hi - old_lo)


def test_intervals_stay_inside_the_metric_range():
    res = make_results(
        {"c": {"m": [1.0, 1.0, 0.98, 1.0, 0.97]}, "r": {"m": [0.01, 0.5, 0.02, 0.01, 0.9]}}, {"r": "rmse"}
    )
    res["test_r2"] = np.where(res["dataset"] == "r", [1.0, 0.99, 0.9, 1.0, 0.6] * 2, np.nan)
    table = score_table(res).set_index(["dataset", "metric"])
    assert table.loc[("c", "accuracy"), "ci_high"] == 1.0  # unclipped: 1.0097
    assert table.loc[("c", "accuracy"), "ci_low"] < 0.99
    assert table.loc[("r", "rmse"), "ci_low"] == 0.0
    assert table.loc[("r", "r2"), "ci_high"] == 1.0
    # a bootstrap stays in range by construction; a perfect model's interval is the point 1
    perfect = {"test_index": np.arange(30), "test_true": np.arange(30) % 3, "test_pred": np.arange(30) % 3}
    assert bootstrap_interval([perfect], ["accuracy", "f1_macro"])["accuracy"][:2] == (1.0, 1.0)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_weighted_metrics_equal_the_metrics_on_resampled_rows(k):
    rng = np.random.default_rng(k)
    n = 40
    y = rng.integers(0, k, n)
    if k > 2:
        y[y == k - 1] = 0  # a class absent from the test rows
    proba = rng.dirichlet(np.ones(k), n)
    pred = proba.argmax(1)
    pred[:3] = k - 1  # ... but predicted: f1_macro counts it, balanced accuracy does not
    idx = rng.integers(0, n, (25, n))
    W = np.stack([np.bincount(i, minlength=n) for i in idx])
    for name in ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "log_loss"):
        got = weighted_metric(name, W, y, pred, proba, k)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = [mlbench.metrics.score([name], y[i], pred[i], proba[i], k)[name] for i in idx]
        assert got == pytest.approx(want, nan_ok=True), name
    t = rng.normal(size=n)
    p = t + rng.normal(size=n)
    for name in ("rmse", "mae", "r2"):
        want = [mlbench.metrics.score([name], t[i], p[i], None, 0)[name] for i in idx]
        assert weighted_metric(name, W, t, p) == pytest.approx(want), name
