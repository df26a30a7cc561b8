"""Intervals from a finite test set (mlbench.analysis.intervals and the tables that use them).

A 95% interval of a score must reflect the test rows it was measured on: never zero-width because
every fold scored the same or every row was right. Checked by exact binomial sums and by
simulation: a fixed model on a large synthetic population, many draws of k-fold and holdout.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mlbench.analysis import bootstrap_interval, corrected_t_interval, score_table, summarize_scores
from mlbench.analysis.intervals import binomial_count, binomial_interval, effective_rows, widen_to_binomial

# --------------------------------------------------------------------------------------------
# the binomial bound itself
# --------------------------------------------------------------------------------------------


def test_exact_method_is_clopper_pearson():
    n = 60
    for k in (0, 1, 2, 30, 59, 60):
        want = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
        lo, hi = binomial_interval(k, n, method="exact")
        assert (float(lo), float(hi)) == pytest.approx((want.low, want.high), abs=1e-12)


def test_mid_p_bounds_and_edge_cases():
    # all right: the upper error bound solves (1 - p)**n = alpha (mid-p) or alpha / 2 (exact)
    lo, hi = binomial_interval(250, 250)
    assert float(hi) == 1.0 and float(lo) == pytest.approx(0.05 ** (1 / 250))
    assert float(binomial_interval(250, 250, method="exact")[0]) == pytest.approx(0.025 ** (1 / 250))
    lo, hi = binomial_interval(0, 40)
    assert float(lo) == 0.0 and float(hi) == pytest.approx(1 - 0.05 ** (1 / 40))
    # mid-p of an observed count: P(X > k) + P(X = k) / 2 = 0.025 at the lower bound
    lo, hi = binomial_interval(57, 60)
    assert stats.binom.sf(57, 60, lo) + 0.5 * stats.binom.pmf(57, 60, lo) == pytest.approx(0.025)
    assert stats.binom.cdf(56, 60, hi) + 0.5 * stats.binom.pmf(57, 60, hi) == pytest.approx(0.025)
    # never wider than Clopper-Pearson, never zero-width, continuous in a fractional count
    x = np.arange(61.0)
    m_lo, m_hi = binomial_interval(x, 60)
    e_lo, e_hi = binomial_interval(x, 60, method="exact")
    assert np.all(m_lo >= e_lo - 1e-12) and np.all(m_hi <= e_hi + 1e-12) and np.all(m_hi > m_lo)
    near = binomial_interval(np.array([59.999, 60.0]), 60)[0]
    assert near[0] == pytest.approx(near[1], abs=1e-4)
    assert np.isnan(binomial_interval(3, np.nan)[0]) and np.isnan(binomial_interval(3, 0)[1])
    with pytest.raises(ValueError, match="mid-p"):
        binomial_interval(3, 10, method="wilson")


@pytest.mark.parametrize("n", [60, 200, 250])
def test_binomial_interval_coverage_computed_exactly(n):
    # Exact coverage over true accuracies 0.7 .. 0.9995: mid-p stays near nominal and never below
    # 91%; Clopper-Pearson never below 95%. Wilson's interval dips to 84% near 1 at these sizes.
    x = np.arange(n + 1)
    grid = np.linspace(0.7, 0.9995, 1500)
    pmf = stats.binom.pmf(x[None, :], n, grid[:, None])

    def coverage(lo, hi):
        return (pmf * ((lo[None, :] <= grid[:, None]) & (grid[:, None] <= hi[None, :]))).sum(axis=1)

    mid = coverage(*binomial_interval(x, n))
    exact = coverage(*binomial_interval(x, n, method="exact"))
    z = stats.norm.ppf(0.975)
    centre, half = (x + z * z / 2) / (n + z * z), z * np.sqrt(x * (n - x) / n + z * z / 4) / (n + z * z)
    wilson = coverage(centre - half, centre + half)
    print(f"n={n}: mid-p min {mid.min():.3f} mean {mid.mean():.3f}; exact min {exact.min():.3f}; "
          f"Wilson min {wilson.min():.3f}")  # fmt: skip
    assert mid.min() >= 0.915 and 0.945 <= mid.mean() <= 0.96
    assert exact.min() >= 0.95 - 1e-9
    assert wilson.min() < 0.88  # why Wilson is not used


def test_effective_rows_of_balanced_accuracy():
    assert effective_rows(np.repeat([0, 1, 2], 20)) == pytest.approx(60.0)
    # 190 + 10 rows: the rare class leaves the balanced accuracy about as precise as 38 rows
    assert effective_rows(np.repeat([0, 1], [190, 10])) == pytest.approx(4 / (1 / 190 + 1 / 10))


def test_widen_keeps_wider_bounds_and_unknowns():
    lo, hi = widen_to_binomial([0.5, np.nan, 0.9], [0.99, np.nan, 0.95], [0.8, 0.8, 0.92], [50, 50, np.nan])
    b_lo, _ = binomial_interval(40, 50)
    assert lo[0] == 0.5 and hi[0] == 0.99  # already wider than the binomial interval
    assert np.isnan(lo[1]) and np.isnan(hi[1])  # no base interval: none made up
    assert (lo[2], hi[2]) == (0.9, 0.95)  # unknown rows: kept
    assert float(b_lo) > 0.5


def test_repeats_that_differ_count_their_rows_more():
    y = np.arange(60) % 3
    wrong_on = [np.arange(0, 6), np.arange(6, 12), np.arange(12, 18)]
    jobs = []
    for rows in wrong_on:
        pred = y.copy()
        pred[rows] = (y[rows] + 1) % 3
        jobs.append({"test_index": np.arange(60), "test_true": y, "test_pred": pred})
    # identical repeats (a deterministic model): the 60 rows, once
    assert binomial_count([jobs[0]] * 3, "accuracy") == pytest.approx((0.9, 60.0))
    # repeats wrong on different rows: each row's averaged correctness varies less than p (1 - p),
    # as if the rows were counted up to once per repeat (the cap here)
    value, rows = binomial_count(jobs, "accuracy")
    assert value == pytest.approx(0.9) and rows == pytest.approx(180.0)
    # half the mistakes shared: in between
    shared = [dict(jobs[0]), dict(jobs[0])]
    shared[1]["test_pred"] = jobs[0]["test_pred"].copy()
    shared[1]["test_pred"][3:9] = (y[3:9] + 1) % 3
    shared[1]["test_pred"][:3] = y[:3]
    assert 60.0 < binomial_count(shared, "accuracy")[1] < 120.0
    # balanced accuracy starts from its effective rows; repeats on different rows give nothing
    assert binomial_count([jobs[0]], "balanced_accuracy")[1] == pytest.approx(effective_rows(y))
    moved = {**jobs[1], "test_index": np.arange(1, 61)}
    assert math.isnan(binomial_count([jobs[0], moved], "accuracy")[1])
    assert math.isnan(binomial_count(jobs, "f1_macro")[0])


def test_kfold_sweep_repeats_that_differ_loosen_the_bound():
    # 5 folds of 20 rows, 3 sweep repeats per fold, 19 of 20 right almost everywhere
    def table(first: float) -> pd.Series:
        rows = [{"job_id": f"{f}-{r}", "dataset": "d", "task_type": "classification", "model": "m", "fold": f,
                 "repeat": r, "train_size": 40.0, "n_train": 40, "n_test": 20, "status": "ok",
                 "test_accuracy": first if (f, r) == (0, 0) else 0.95} for f in range(5) for r in range(3)]  # fmt: skip
        return score_table(pd.DataFrame(rows)).set_index("metric").loc["accuracy"]

    same = table(0.95)  # identical repeats, identical folds: the 100 rows bound it
    assert same["ci_low"] == pytest.approx(float(binomial_interval(95, 100)[0]))
    assert "once per sweep repeat" in same["ci_note"]
    # one repeat of one fold differs: single repeats vary 3 times more over the folds than their
    # average (the design effect), so the rows count up to once per repeat: 300
    differ = table(0.90)
    mean = ((0.90 + 0.95 + 0.95) / 3 + 4 * 0.95) / 5
    floor_300 = float(binomial_interval(mean * 300, 300)[0])
    assert float(binomial_interval(95, 100)[0]) < floor_300  # a narrower bound than with 100 rows
    assert differ["ci_low"] == pytest.approx(floor_300) and differ["ci_high"] > mean


# --------------------------------------------------------------------------------------------
# coverage in the tables: a fixed model on a large population# --------------------------------------------------------------------------------------------
# coverage in the tables: a fixed model on a large population
# --------------------------------------------------------------------------------------------

POPULATION = 1_000_000


def population(p: float, rng: np.random.Generator, k: int = 3) -> tuple[np.ndarray, np.ndarray, float]:
    """Labels of a million rows and a fixed model's predictions, wrong on a (1 - p) share of them."""
    y = rng.integers(0, k, POPULATION)
    wrong = np.zeros(POPULATION, dtype=bool)
    wrong[rng.choice(POPULATION, round((1 - p) * POPULATION), replace=False)] = True
    return y, np.where(wrong, (y + 1) % k, y), float(1 - wrong.mean())


def kfold_draws(p: float, draws: int, rng: np.random.Generator, n: int = 250, k: int = 5):
    """``draws`` datasets of ``n`` rows from the population, each scored by 5-fold CV."""
    y, pred, truth = population(p, rng)
    rows = []
    for d in range(draws):
        idx = rng.choice(POPULATION, n, replace=False)
        fold = rng.permutation(np.arange(n) % k)
        for f in range(k):
            sel = idx[fold == f]
            rows.append({"job_id": f"{d}-{f}", "dataset": f"s{d:04d}", "task_type": "classification",
                         "model": "fixed", "fold": f, "repeat": 0, "train_size": 1.0, "n_train": n - n // k,
                         "n_test": n // k, "status": "ok", "test_accuracy": float((pred[sel] == y[sel]).mean())})  # fmt: skip
    return pd.DataFrame(rows), truth


def holdout_draws(p: float, draws: int, rng: np.random.Generator, n_test: int):
    """``draws`` test sets of ``n_test`` rows, with the stored predictions the bootstrap reads."""
    y, pred, truth = population(p, rng)
    rows, preds = [], {}
    for d in range(draws):
        idx = rng.choice(POPULATION, n_test, replace=False)
        preds[str(d)] = {"test_index": np.arange(n_test), "test_true": y[idx], "test_pred": pred[idx]}
        rows.append({"job_id": str(d), "dataset": f"s{d:04d}", "task_type": "classification", "model": "fixed",
                     "fold": 0, "repeat": 0, "train_size": 1.0, "n_train": 4 * n_test, "n_test": n_test,
                     "status": "ok", "test_accuracy": float((pred[idx] == y[idx]).mean())})  # fmt: skip
    return pd.DataFrame(rows), preds, truth


def covers(table: pd.DataFrame, truth: float) -> float:
    return float(((table["ci_low"] <= truth) & (truth <= table["ci_high"])).mean())


# Measured with 1,000 draws per design (nominal 95%); "before" = the fold-variance t / percentile
# bootstrap alone, "after" = widened to the mid-p binomial interval of the test rows:
#   true accuracy     5-fold (250 rows)   holdout 60 rows   holdout 200 rows
#   0.8               98.5% -> 99.4%      96.1% -> 96.1%    95.2% -> 95.2%
#   0.97              97.3% -> 98.1%      82.8% -> 99.2%    92.7% -> 97.9%
#   0.997             51.6% -> 100%       16.3% -> 100%     45.8% -> 99.6%
#   0.998             38.6% -> 100%       10.5% -> 100%     33.7% -> 100%
# (0.8 k-fold over-covers before and after: the corrected t also allows for training-set variation,
# which a fixed model does not have.)
@pytest.mark.slow
@pytest.mark.parametrize("p", [0.8, 0.97, 0.997, 0.998])
def test_intervals_cover_a_fixed_models_accuracy(p):
    rng = np.random.default_rng(round(p * 1000))
    table, truth = kfold_draws(p, 400, rng)
    kfold = summarize_scores(table)
    assert (kfold["ci_method"] == "corrected_t").all() and (kfold["ci_high"] > kfold["ci_low"]).all()
    cover = {"5-fold": covers(kfold, truth)}
    for n_test in (60, 200):
        table, preds, truth_h = holdout_draws(p, 300, rng, n_test)
        hold = summarize_scores(table, predictions=preds.__getitem__, n_boot=250)
        assert (hold["ci_method"] == "bootstrap").all() and (hold["ci_high"] > hold["ci_low"]).all()
        cover[f"holdout {n_test}"] = covers(hold, truth_h)
    print(f"true accuracy {p}: " + ", ".join(f"{k} {v:.3f}" for k, v in cover.items()))
    assert min(cover.values()) >= 0.90
    if p == 0.8:  # an ordinary accuracy: near nominal, as before
        assert 0.92 <= cover["holdout 60"] <= 0.985 and 0.92 <= cover["holdout 200"] <= 0.985


def test_identical_folds_and_a_perfect_holdout_still_have_width():
    # every fold scores 1.0: the corrected t has no spread; the 250 test rows still bound it
    rows = [{"job_id": f"j{f}", "dataset": "d", "task_type": "classification", "model": "m", "fold": f,
             "repeat": 0, "train_size": 1.0, "n_train": 200, "n_test": 50, "status": "ok", "test_accuracy": 1.0,
             "test_balanced_accuracy": 1.0, "test_f1_macro": 1.0} for f in range(5)]  # fmt: skip
    table = score_table(pd.DataFrame(rows)).set_index("metric")
    acc = table.loc["accuracy"]
    assert acc["ci_high"] == 1.0 and acc["ci_low"] == pytest.approx(float(binomial_interval(250, 250)[0]))
    assert acc["ci_low"] < 0.99 and "250 test rows pooled over the folds" in acc["ci_note"]
    assert "assumes normally distributed fold scores" in acc["ci_note"]
    assert table.loc["balanced_accuracy", "ci_low"] == acc["ci_low"]
    # f1_macro has no binomial bound: no interval rather than a zero-width one, and the note says so
    f1 = table.loc["f1_macro"]
    assert (
        math.isnan(f1["ci_low"])
        and f1["ci_method"] == "none"
        and "every fold scored the same" in f1["ci_note"]
    )
    # repeated 5-fold (2 x 5 folds of the same 250 rows): the rows are counted once
    twice = pd.DataFrame(
        [{**r, "job_id": f"{r['job_id']}-{k}", "fold": r["fold"] + 5 * k} for r in rows for k in (0, 1)]
    )
    assert "250 test rows pooled" in score_table(twice).set_index("metric").loc["accuracy", "ci_note"]

    # holdout, every one of 60 test rows right: the percentile bootstrap alone is the point [1, 1]
    y = np.arange(60) % 3
    perfect = {"test_index": np.arange(60), "test_true": y, "test_pred": y}
    assert bootstrap_interval([perfect], ["accuracy"])["accuracy"][:2] == (1.0, 1.0)
    one = pd.DataFrame([{**rows[0], "n_test": 60, "n_train": 240}])
    hold = score_table(one, predictions={"j0": perfect}.__getitem__).set_index("metric")
    assert hold.loc["accuracy", "ci_method"] == "bootstrap"
    assert (
        hold.loc["accuracy", "ci_low"] == pytest.approx(0.05 ** (1 / 60))
        and hold.loc["accuracy", "ci_high"] == 1.0
    )
    assert "mid-p binomial interval of the 60 test rows" in hold.loc["accuracy", "ci_note"]
    assert math.isnan(hold.loc["f1_macro", "ci_low"]) and "every resample" in hold.loc["f1_macro", "ci_note"]


def test_balanced_accuracy_on_a_rare_class_is_bounded_by_its_effective_rows():
    y = np.repeat([0, 1], [190, 10])
    perfect = {"test_index": np.arange(200), "test_true": y, "test_pred": y}
    row = {"job_id": "j", "dataset": "d", "task_type": "classification", "model": "m", "fold": 0, "repeat": 0,
           "train_size": 1.0, "n_train": 800, "n_test": 200, "status": "ok", "test_accuracy": 1.0,
           "test_balanced_accuracy": 1.0}  # fmt: skip
    table = score_table(pd.DataFrame([row]), predictions={"j": perfect}.__getitem__).set_index("metric")
    n_eff = effective_rows(y)  # 38
    assert table.loc["balanced_accuracy", "ci_low"] == pytest.approx(0.05 ** (1 / n_eff))
    assert table.loc["accuracy", "ci_low"] == pytest.approx(0.05 ** (1 / 200))
    assert "38 effective for balanced accuracy" in table.loc["balanced_accuracy", "ci_note"]


def test_other_metrics_keep_their_intervals():
    # regression (k-fold): exactly the corrected resampled t
    rmse = [10.0, 12.0, 11.0, 13.0, 9.0]
    rows = [{"job_id": f"r{f}", "dataset": "r", "task_type": "regression", "model": "m", "fold": f, "repeat": 0,
             "train_size": 1.0, "n_train": 80, "n_test": 20, "status": "ok", "test_rmse": v}
            for f, v in enumerate(rmse)]  # fmt: skip
    r = score_table(pd.DataFrame(rows)).set_index("metric").loc["rmse"]
    assert (r["ci_low"], r["ci_high"]) == pytest.approx(corrected_t_interval(rmse, 20, 80))
    # log_loss (holdout): exactly the percentile bootstrap
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 80)
    proba = np.clip(np.column_stack([1 - y, y]) * 0.7 + rng.random((80, 2)) * 0.3, 0.01, None)
    proba /= proba.sum(axis=1, keepdims=True)
    arrays = {"test_index": np.arange(80), "test_true": y, "test_pred": proba.argmax(1), "test_proba": proba}
    row = {"job_id": "h", "dataset": "h", "task_type": "classification", "model": "m", "fold": 0, "repeat": 0,
           "train_size": 1.0, "n_train": 320, "n_test": 80, "status": "ok",
           "test_accuracy": float((proba.argmax(1) == y).mean()), "test_log_loss": 0.5}  # fmt: skip
    table = score_table(pd.DataFrame([row]), predictions={"h": arrays}.__getitem__).set_index("metric")
    want = bootstrap_interval([arrays], ["log_loss"])["log_loss"]
    assert (table.loc["log_loss", "ci_low"], table.loc["log_loss", "ci_high"]) == pytest.approx(want[:2])
    assert table.loc["log_loss", "ci_note"] == want[2]
