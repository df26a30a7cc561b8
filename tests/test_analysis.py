"""The analysis API: known answers on constructed tables, and the real sweep run when present."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.optimize import brentq

import mlbench
from mlbench.analysis import (
    compare_runs,
    confidence_interval,
    critical_difference,
    crossovers,
    error_of,
    fit_power_law,
    fit_power_laws,
    friedman_test,
    leaderboard,
    learning_curves,
    primary_metrics,
    ranks,
    summarize_scores,
    wilcoxon_holm,
)

IMAGES = Path(__file__).resolve().parents[1] / "reports" / "images"


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
# power laws
# --------------------------------------------------------------------------------------------

PARAMS = [(2.0, 0.5, 0.05), (1.0, 0.3, 0.1), (5.0, 1.0, 0.0), (3.0, 0.7, 0.2), (0.8, 1.5, 0.02)]


@pytest.mark.parametrize(("a", "b", "c"), PARAMS)
@pytest.mark.parametrize("repeats", [1, 5])
def test_power_law_recovers_exponent(a, b, c, repeats):
    rng = np.random.default_rng(0)
    n = np.repeat(np.geomspace(25, 2000, 10).round(), repeats)
    clean = a * n ** (-b) + c
    error = clean * (1 + rng.normal(0, 0.005, n.size))  # 0.5% noise
    fit = fit_power_law(n, error, n_boot=100)
    assert fit["ok"]
    assert fit["b"] == pytest.approx(b, rel=0.10)
    assert fit["r2"] > 0.99
    assert fit["b_low"] <= fit["b_high"]
    # the interval is about the estimate, not necessarily the truth; allow grid-level slack
    assert fit["b_low"] - 0.01 <= fit["b"] <= fit["b_high"] + 0.01


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    a=st.floats(0.3, 10.0),
    b=st.floats(0.2, 2.0),
    c=st.floats(0.0, 0.3),
)
def test_power_law_exact_curves(a, b, c):
    n = np.geomspace(20, 5000, 12)
    error = a * n ** (-b) + c
    # the decaying part must be visible above the plateau for b to be identifiable at all
    if error[0] - error[-1] < 0.01:
        return
    fit = fit_power_law(n, error, n_boot=0)
    assert fit["b"] == pytest.approx(b, rel=0.10)


def test_power_law_needs_three_sizes():
    fit = fit_power_law([100, 100, 200, 200], [0.3, 0.31, 0.2, 0.21])
    assert fit["ok"] is False
    assert all(math.isnan(fit[k]) for k in ("a", "b", "c", "b_low", "b_high", "r2"))
    assert fit_power_law([100, 200, 400], [0.3, 0.2, 0.15], n_boot=20)["ok"]


def test_power_law_is_deterministic_and_flat_curves_do_not_crash():
    n = np.geomspace(25, 1000, 6)
    e = 0.5 * n**-0.4 + 0.05 + np.random.default_rng(3).normal(0, 0.002, 6)
    assert fit_power_law(n, e, seed=1) == fit_power_law(n, e, seed=1)
    flat = fit_power_law(n, np.full(6, 0.2))
    assert flat["ok"] and flat["a"] * n[0] ** -flat["b"] + flat["c"] == pytest.approx(0.2)
    zero = fit_power_law(n, np.zeros(6))
    assert zero["ok"] and zero["c"] == pytest.approx(0.0, abs=1e-9)


# --------------------------------------------------------------------------------------------
# crossovers
# --------------------------------------------------------------------------------------------


def curves_of(funcs: dict[str, object], n: np.ndarray, noise: float = 0.0, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for model, f in funcs.items():
        for x in n:
            e = float(f(x)) * (1 + rng.normal(0, noise)) if noise else float(f(x))
            rows.append({"dataset": "d", "model": model, "metric": "accuracy", "n_train": x, "error_mean": e})
    return pd.DataFrame(rows)


def test_single_observed_crossing():
    # 0.5 n^-0.2 = 5 n^-0.6  <=>  n^0.4 = 10  <=>  n = 10^2.5
    cur = curves_of(
        {"slow": lambda n: 0.5 * n**-0.2, "fast": lambda n: 5 * n**-0.6}, np.geomspace(25, 2000, 10)
    )
    out = crossovers(cur)
    assert len(out) == 1
    row = out.iloc[0]
    assert row["kind"] == "observed"
    assert row["n_cross"] == pytest.approx(10**2.5, rel=0.03)
    assert row["n_low"] <= row["n_cross"] <= row["n_high"]
    assert (row["model_a"], row["model_b"]) == ("slow", "fast")
    assert (row["better_before"], row["better_after"]) == ("slow", "fast")


def test_no_crossover_is_empty():
    cur = curves_of(
        {"good": lambda n: 0.1 + n**-0.5, "bad": lambda n: 0.2 + n**-0.5}, np.geomspace(25, 2000, 8)
    )
    out = crossovers(cur)
    assert out.empty
    assert list(out.columns) == [
        "dataset",
        "model_a",
        "model_b",
        "n_cross",
        "kind",
        "n_low",
        "n_high",
        "better_before",
        "better_after",
    ]


def test_crosses_twice():
    # flat at 0.2 vs a bowl in log n that dips below it between 200/e and 200e
    bowl = lambda n: 0.15 + 0.05 * (np.log(n) - np.log(200)) ** 2  # noqa: E731
    cur = curves_of({"flat": lambda n: 0.2, "bowl": bowl}, np.geomspace(10, 5000, 25))
    out = crossovers(cur)
    assert list(out["kind"]) == ["observed", "observed"]
    assert out["n_cross"].to_numpy() == pytest.approx([200 / np.e, 200 * np.e], rel=0.03)
    assert set(out["model_a"]) == {"flat"}
    assert list(out["better_before"]) == ["flat", "bowl"]
    assert list(out["better_after"]) == ["bowl", "flat"]


@pytest.mark.parametrize("noise", [0.0, 0.003])
def test_extrapolated_crossing(noise):
    def plateau(n):
        return 0.05 + 0.5 * n**-0.2

    def steep(n):
        return 0.02 + 20 * n**-0.6

    truth = math.exp(
        brentq(lambda x: plateau(math.exp(x)) - steep(math.exp(x)), math.log(2000), math.log(1e6))
    )
    assert 2000 < truth < 20000  # beyond the data, within the default 10x horizon
    cur = curves_of({"plateau": plateau, "steep": steep}, np.geomspace(25, 2000, 10), noise=noise, seed=1)
    out = crossovers(cur)
    assert len(out) == 1
    row = out.iloc[0]
    assert row["kind"] == "extrapolated"
    assert (row["better_before"], row["better_after"]) == ("plateau", "steep")
    assert row["n_cross"] == pytest.approx(truth, rel=0.05 if noise == 0 else 0.25)
    assert row["n_low"] <= row["n_cross"] <= row["n_high"]
    # a horizon short of the crossing finds nothing
    assert crossovers(cur, extrapolate_to=2500).empty
    # precomputed fits give the same answer
    fits = fit_power_laws(cur)
    assert crossovers(cur, fits=fits)["n_cross"].iloc[0] == pytest.approx(row["n_cross"])


def test_fit_power_laws_table():
    cur = curves_of({"m": lambda n: 2 * n**-0.5 + 0.05}, np.geomspace(25, 2000, 6))
    cur = pd.concat([cur, curves_of({"short": lambda n: 0.3}, np.array([100.0, 200.0]))])
    fits = fit_power_laws(cur).set_index("model")
    assert list(fits.columns) == ["dataset", "a", "b", "c", "b_low", "b_high", "r2", "n_points", "ok"]
    assert fits.loc["m", "b"] == pytest.approx(0.5, rel=0.01)
    assert fits.loc["m", "n_points"] == 6
    assert not fits.loc["short", "ok"]


# --------------------------------------------------------------------------------------------
# learning curves and summaries
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
                        "status": "ok",
                        "test_accuracy": float(np.clip(0.9 - 5 / n + rng.normal(0, 0.01), 0, 1)),
                        "train_accuracy": 1.0,
                        "fit_seconds": n / 1000,
                    }
                )
    return pd.DataFrame(rows)


def test_learning_curves_group_sizes_and_match_pandas():
    res = sweep_table()
    cur = learning_curves(res)
    assert list(cur.columns) == [
        "dataset",
        "model",
        "metric",
        "n_train",
        "mean",
        "std",
        "n",
        "ci_low",
        "ci_high",
        "error_mean",
    ]
    a = cur[cur["model"] == "A"].set_index("n_train")
    assert list(a.index) == [50.0, 100.0, 597.0]  # 597 and 598 are one point, at the median
    expected = res[res["model"] == "A"].groupby("train_size")["test_accuracy"].agg(["mean", "std", "size"])
    full = a.loc[597.0]
    assert full["mean"] == pytest.approx(expected.loc[1.0, "mean"])
    assert full["std"] == pytest.approx(expected.loc[1.0, "std"])
    assert full["n"] == 5
    assert full["error_mean"] == pytest.approx(1 - expected.loc[1.0, "mean"])
    vals = res[(res["model"] == "A") & (res["train_size"] == 1.0)]["test_accuracy"]
    assert (full["ci_low"], full["ci_high"]) == pytest.approx(confidence_interval(vals))


@pytest.mark.skipif(not IMAGES.exists(), reason="reports/images run not present")
def test_learning_curves_on_real_sweep():
    res = mlbench.load_results(IMAGES)
    cur = learning_curves(res)
    ok = res[res["status"] == "ok"]
    assert set(cur["model"]) == set(ok["model"])
    for (ds, model), g in cur.groupby(["dataset", "model"]):
        rows = ok[(ok["dataset"] == ds) & (ok["model"] == model)]
        # one point per requested train size, even though folds differ by a row at full size
        assert len(g) == rows["train_size"].nunique()
        # folds are the samples: repeats are averaged within each fold first
        folds = rows.groupby(["train_size", "fold"])["test_accuracy"].mean().reset_index()
        by_size = (
            folds.groupby("train_size")["test_accuracy"].agg(["mean", "std", "size"]).sort_values("mean")
        )
        got = g.sort_values("mean")
        assert got["mean"].to_numpy() == pytest.approx(by_size["mean"].to_numpy())
        assert got["std"].to_numpy() == pytest.approx(by_size["std"].to_numpy())
        assert list(got["n"]) == list(by_size["size"])
    fits = fit_power_laws(cur, n_boot=50)
    assert fits["ok"].all()
    crossings = crossovers(cur, fits=fits)
    assert set(crossings["kind"]) <= {"observed", "extrapolated"}
    assert (crossings["model_a"] != crossings["model_b"]).all()


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
    ]
    assert list(board["model"]) == ["A", "B", "C"]
    assert list(board["mean_rank"]) == [1.0, 2.0, 3.0]
    assert list(board["win_rate"]) == [1.0, 0.0, 0.0]
    assert board["mean_normalized_score"].iloc[0] == 1.0 and board["mean_normalized_score"].iloc[2] == 0.0
    assert board["total_fit_seconds"].iloc[0] == pytest.approx(8 * 5 * 0.5)
    assert list(board["n_datasets"]) == [8, 8, 8]


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
    ]
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


def test_no_ok_jobs_gives_empty_tables():
    res = known_table().assign(status="failed")
    assert summarize_scores(res).empty and learning_curves(res).empty and ranks(res).empty
    assert leaderboard(res).empty and wilcoxon_holm(res).empty and compare_runs(res, res).empty
    assert math.isnan(friedman_test(res)["p_value"])
    assert critical_difference(res) == {
        "cd": pytest.approx(math.nan, nan_ok=True),
        "mean_ranks": {},
        "groups": [],
    }
    assert crossovers(learning_curves(res)).empty


def test_repeats_of_a_fold_are_not_counted_as_independent_samples():
    from mlbench.analysis import learning_curves, summarize_scores

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
                    "n_train": 100,
                    "status": "ok",
                    "test_accuracy": score,
                    "train_accuracy": 1.0,
                }
            )
    df = pd.DataFrame(rows)
    five = np.array([0.90, 0.95, 0.93, 0.97, 0.92])
    lo, hi = stats.t.interval(0.95, 4, loc=five.mean(), scale=five.std(ddof=1) / np.sqrt(5))
    s = summarize_scores(df).iloc[0]
    assert s["n"] == 5 and s["ci_low"] == pytest.approx(lo) and s["ci_high"] == pytest.approx(hi)
    c = learning_curves(df).iloc[0]
    assert c["n"] == 5 and c["ci_low"] == pytest.approx(lo)
    # holdout (one fold): the repeats are the samples
    holdout = df[df["fold"] == 0].assign(test_accuracy=[0.90, 0.92, 0.94])
    assert summarize_scores(holdout).iloc[0]["n"] == 3
