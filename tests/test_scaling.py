"""Learning curves, power-law fits, extrapolation, the backtest and crossovers.

Known answers on constructed curves, simulations with realistic noise (small sizes noisier, fold
scores correlated as k-fold makes them), and real learning curves: ``tests/data/learning_curves.csv``
(six models on eight builtin datasets, 10 rows to the full training fold; see
``tests/data/make_learning_curves.py``), LCDB 1.0's published curves (``tests/data/lcdb_curves.csv``)
and ``baselines/reference/scaling_results.csv``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.optimize import brentq

from mlbench.analysis import (
    backtest,
    corrected_t_interval,
    crossovers,
    extrapolate,
    fit_power_law,
    fit_power_laws,
    learning_curves,
)
from mlbench.analysis.intervals import widen_to_binomial

# A real sweep, committed with the baselines: baselines/scaling.yaml's results (digits, six models,
# 25 to 1,198 training rows, 3-fold CV x 3 repeats).
REFERENCE_SWEEP = Path(__file__).resolve().parents[1] / "baselines" / "reference" / "scaling_results.csv"
# Real learning curves: six models x eight builtin datasets, 5-fold CV, 10 rows to the full fold.
REAL_CURVES = Path(__file__).resolve().parent / "data" / "learning_curves.csv"
# Published learning curves: LCDB 1.0, 8 learners x 20 OpenML datasets (tests/data/make_lcdb_curves.py).
LCDB_CURVES = Path(__file__).resolve().parent / "data" / "lcdb_curves.csv"


def lcdb_results() -> pd.DataFrame:
    """tests/data/lcdb_curves.csv as a results table (the constant columns added back)."""
    return pd.read_csv(LCDB_CURVES).assign(task_type="classification", repeat=0, status="ok")


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
    assert list(fits.columns) == [
        "dataset", "a", "b", "c", "b_low", "b_high", "r2", "n_points", "ok", "reliable", "reason"
    ]  # fmt: skip
    assert fits.loc["m", "b"] == pytest.approx(0.5, rel=0.01)
    assert fits.loc["m", "n_points"] == 6
    assert not fits.loc["short", "ok"]


# --------------------------------------------------------------------------------------------
# learning curves
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
        "ci_method",
        "se",
        "df",
        "se_min",
        "n_jobs",
        "n_expected",
        "complete",
        "fold_scores",
        "test_ratio",
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
    # k-fold: corrected resampled t, n_test over the largest training set (598 rows), never
    # narrower than the mid-p binomial interval of the test rows scored (5 x 150 rows, at most the
    # dataset's 748 distinct rows)
    low, high = corrected_t_interval(vals, 150, 598)
    wide = widen_to_binomial([low], [high], [vals.mean()], [598 + 150])
    assert (full["ci_low"], full["ci_high"]) == pytest.approx((wide[0][0], wide[1][0]))
    assert full["ci_method"] == "corrected_t"
    # a smaller size uses the same pool in the correction: its subsets overlap less, not more
    small = res[(res["model"] == "A") & (res["train_size"] == 50.0)]["test_accuracy"]
    low, high = corrected_t_interval(small, 150, 598)
    wide = widen_to_binomial([low], [high], [small.mean()], [598 + 150])
    assert (a.loc[50.0, "ci_low"], a.loc[50.0, "ci_high"]) == pytest.approx((wide[0][0], wide[1][0]))


def test_learning_curves_on_real_sweep():
    res = pd.read_csv(REFERENCE_SWEEP)
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


# --------------------------------------------------------------------------------------------
# power-law intervals and crossovers beyond noise (simulations)
# --------------------------------------------------------------------------------------------


def test_power_law_interval_covers_the_true_exponent():
    # 200 learning curves error = 2 n^-0.5 + 0.05 measured at 50..1600 rows with noise 0.005 on each
    # size's mean: the setting where the old residual bootstrap covered b in 78% of the curves
    rng = np.random.default_rng(0)
    sizes = 50.0 * 2.0 ** np.arange(6)
    true_b = 0.5
    rows = []
    for s in range(200):
        error = 2.0 * sizes**-true_b + 0.05 + rng.normal(0, 0.005, len(sizes))
        rows += [{"dataset": f"c{s:03d}", "model": "m", "n_train": n, "error_mean": e} for n, e in zip(sizes, error, strict=True)]  # fmt: skip
    fits = fit_power_laws(pd.DataFrame(rows))
    covered = ((fits["b_low"] <= true_b) & (true_b <= fits["b_high"])).mean()
    # five folds per size, fitted on the raw observations
    hits = []
    n = np.repeat(sizes, 5)
    for _ in range(200):
        fit = fit_power_law(n, 1.0 * n**-0.3 + 0.1 + rng.normal(0, 0.01, n.size))
        hits.append(fit["b_low"] <= 0.3 <= fit["b_high"])
    print(
        f"exponent interval coverage at nominal 95%: {covered:.3f} (one mean per size), {np.mean(hits):.3f} (folds)"
    )
    assert covered >= 0.90 and np.mean(hits) >= 0.90
    assert (fits["b_high"] - fits["b_low"] > 0).all()


def test_power_law_needs_four_sizes_for_an_interval():
    three = fit_power_law([100, 200, 400], [0.3, 0.2, 0.15])
    assert three["ok"] and math.isnan(three["b_low"]) and math.isnan(three["b_high"])  # not zero width
    four = fit_power_law([100, 200, 400, 800], [0.3, 0.2, 0.15, 0.13])
    assert four["b_low"] < four["b"] < four["b_high"]


def sweep_of(
    curves: dict[str, object], n_seeds: int, noise: float = 0.01, seed: int = 0, n_test: int = 100
) -> pd.DataFrame:
    """Results of a 5-fold sweep over 25..800 rows, one dataset per seed: ``curves[model](n)`` is
    the model's expected accuracy, each job adds independent noise."""
    rng = np.random.default_rng(seed)
    sizes = 25 * 2 ** np.arange(6)
    rows = []
    for s in range(n_seeds):
        for model, f in curves.items():
            for size in sizes:
                for fold in range(5):
                    rows.append(
                        {"job_id": f"{s}-{model}-{size}-{fold}", "dataset": f"s{s:03d}", "task_type": "classification",
                         "model": model, "fold": fold, "repeat": 0, "train_size": float(size), "n_train": size,
                         "n_test": n_test, "status": "ok", "test_accuracy": float(f(size)) + rng.normal(0, noise)}
                    )  # fmt: skip
    return pd.DataFrame(rows)


def test_identical_curves_with_noise_give_no_crossover():
    def same(n):
        return 0.9 - 0.5 * n**-0.5

    res = sweep_of({"a": same, "b": same}, 200)
    curves = learning_curves(res)
    found = crossovers(curves)
    clean = 1 - found["dataset"].nunique() / 200
    # what the old rule (any sign change of the mean curves) reported
    old = 0
    for _, g in curves.groupby("dataset"):
        d = np.sign(g.pivot(index="n_train", columns="model", values="error_mean").eval("a - b").to_numpy())
        old += int(np.sum(d[1:] * d[:-1] < 0))
    print(
        f"identical curves: no crossover in {clean:.1%} of 200 seeds; mean-curve sign changes: {old / 200:.2f} per seed"
    )
    assert clean >= 0.95
    assert old / 200 > 1  # the curves do cross by chance: only the noise rule keeps them out


def test_a_clear_crossing_is_found_beyond_noise():
    # steep: 0.95 - 1.5 n^-0.5, flat: 0.85 - 0.3 n^-0.5; they cross at n = (1.2 / 0.1)^2 = 144
    res = sweep_of(
        {"flat": lambda n: 0.85 - 0.3 * n**-0.5, "steep": lambda n: 0.95 - 1.5 * n**-0.5}, 100, seed=1
    )
    found = crossovers(learning_curves(res))
    observed = found[found["kind"] == "observed"]
    power = observed["dataset"].nunique() / 100
    print(f"clear crossing found in {power:.0%} of 100 seeds")
    assert power >= 0.9 and len(observed) == observed["dataset"].nunique()  # one crossing each
    assert (observed["better_before"] == "flat").all() and (observed["better_after"] == "steep").all()
    assert (observed["n_low"] <= 144).mean() >= 0.9 and (observed["n_high"] >= 144).mean() >= 0.9
    assert observed["n_cross"].median() == pytest.approx(144, rel=0.25)


def test_extrapolated_crossing_needs_a_difference_beyond_noise():
    def plateau(n):
        return 0.95 - 0.5 * n**-0.2

    def steep(n):
        return 0.98 - 20 * n**-0.6

    # the steep model is clearly worse at every size run and learns clearly faster: extrapolated.
    # (Noise of 0.002 per job is what test folds of some 60,000 rows give; with 100 the binomial
    # floor of an accuracy's standard error would be several times larger.)
    res = sweep_of({"plateau": plateau, "steep": steep}, 20, noise=0.002, seed=3, n_test=100_000)
    found = crossovers(learning_curves(res))
    assert (found["kind"] == "extrapolated").mean() == 1.0 and found["dataset"].nunique() >= 18
    # identical curves never give an extrapolated crossing either
    same = sweep_of({"a": plateau, "b": plateau}, 50, noise=0.002, seed=4, n_test=100_000)
    assert (crossovers(learning_curves(same))["kind"] != "extrapolated").all()


# --------------------------------------------------------------------------------------------
# realistic simulations: k-fold scores with the noise real sweeps show
# --------------------------------------------------------------------------------------------


def power_law(a: float, b: float, c: float):
    return lambda n: a * n**-b + c


# Error curves a * n^-b + c of real models: the power laws fitted to baselines/scaling.yaml's digits
# sweep (CNN b = 1.1, logistic regression, MLP) and a b = 0.8 curve.
DESIGNS = {
    "cnn_like": power_law(11.67, 1.10, 0.0058),
    "digits_like": power_law(4.88, 0.913, 0.0271),
    "b_0.8": power_law(3.0, 0.8, 0.05),
}
REAL_SHAPES = {
    "cnn": power_law(11.67, 1.10, 0.0058),
    "logistic_regression": power_law(4.88, 0.913, 0.0271),
    "mlp": power_law(4.79, 0.824, 0.0058),
}


def kfold_sweep(
    curves: dict[str, object],
    n_seeds: int,
    *,
    seed: int = 0,
    folds: int = 3,
    sizes: tuple[int, ...] = (25, 50, 100, 200, 400, 800, 1198),
    n_test: int = 599,
    pool: int = 1198,
    shared: float = 0.5,
    test_fold: float = 0.3,
) -> pd.DataFrame:
    """Results of a k-fold sweep, one dataset per seed; ``curves[model](n)`` is the expected error.

    The default design is baselines/scaling.yaml's (digits, 3 folds, 25 to 1,198 rows). The noise
    of a fold score is what real sweeps show: binomial over the test fold plus training-set
    variation that grows with the error still to be learnt (small sizes noisier); fold scores of
    one size correlate as the corrected t assumes (``n_test / pool``); a test fold's difficulty
    carries over to every size (``test_fold``); and two models on the same fold share half of
    their noise (``shared``: same test rows, same training rows; fold scores of real models
    correlate 0.4 in tests/data/learning_curves.csv).
    """
    rng = np.random.default_rng(seed)
    ratio = n_test / pool
    rho = ratio / (1 + ratio)
    rows = []
    for s in range(n_seeds):
        difficulty = rng.normal(size=folds)
        for n in sizes:
            fold_common = np.sqrt(test_fold) * difficulty + np.sqrt(1 - test_fold) * rng.normal(size=folds)
            pool_common = rng.normal()
            for model, f in curves.items():
                e = float(f(n))
                sigma = math.sqrt(e * (1 - e) / n_test + (0.05 * e) ** 2)
                u = math.sqrt(shared) * pool_common + math.sqrt(1 - shared) * rng.normal()
                w = math.sqrt(shared) * fold_common + math.sqrt(1 - shared) * rng.normal(size=folds)
                noise = sigma * (math.sqrt(rho) * u + math.sqrt(1 - rho) * w)
                for fold in range(folds):
                    rows.append(
                        {"job_id": f"{s}-{model}-{n}-{fold}", "dataset": f"s{s:03d}", "task_type": "classification",
                         "model": model, "fold": fold, "repeat": 0, "train_size": 1.0 if n == sizes[-1] else float(n),
                         "n_train": n, "n_test": n_test, "status": "ok", "test_accuracy": 1 - e - noise[fold]}
                    )  # fmt: skip
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def design_curves() -> dict[str, pd.DataFrame]:
    """300 simulated curves of each design, as learning_curves gives them (shared by the tests)."""
    return {
        name: learning_curves(kfold_sweep({"m": f}, 300, seed=i))
        for i, (name, f) in enumerate(DESIGNS.items())
    }


@pytest.mark.slow
@pytest.mark.parametrize("design", list(DESIGNS))
def test_exponent_range_covers_the_true_exponent_with_unequal_noise(design, design_curves):
    # The unweighted profile assumed equal noise at every size: 84-89% coverage in these designs.
    # Weighted by the standard errors (their log-bias removed, pooled across sizes): >= 92%.
    true_b = {"cnn_like": 1.10, "digits_like": 0.913, "b_0.8": 0.8}[design]
    fits = fit_power_laws(design_curves[design])
    has = fits["b_low"].notna()
    covered = float(((fits["b_low"] <= true_b) & (true_b <= fits["b_high"]))[has].mean())
    print(f"{design}: exponent range covers b = {true_b} in {covered:.1%} of {has.sum()} curves")
    assert has.mean() >= 0.99 and covered >= 0.92
    assert fits["reliable"].mean() >= 0.95  # true power laws are (nearly) all reliable fits


@pytest.mark.slow
@pytest.mark.parametrize("design", list(DESIGNS))
def test_backtest_covers_and_beats_the_last_value_in_simulation(design, design_curves):
    bt = backtest(design_curves[design])
    tested = bt[bt["reliable"]]
    coverage = float(tested["covered"].mean())
    print(
        f"{design}: backtest (25-100 rows -> 1,198) covers {coverage:.1%} of {len(tested)}; mean |error| "
        f"{tested['error'].mean():.4f} vs last value {tested['last_value_error'].mean():.4f}"
    )
    assert len(tested) >= 0.95 * len(bt) and (bt["n_sizes"] == 3).all()
    assert coverage >= 0.90
    assert tested["error"].mean() < tested["last_value_error"].mean()


def cut(curves: pd.DataFrame, fraction: float = 1 / 8) -> pd.DataFrame:
    """Each dataset's curves at the sizes up to ``fraction`` of its largest."""
    largest = curves.groupby("dataset")["n_train"].transform("max")
    return curves[curves["n_train"] <= fraction * largest]


@pytest.fixture(scope="module")
def real_curves() -> pd.DataFrame:
    """Learning curves of real runs: LCDB's published curves, tests/data/learning_curves.csv and the
    scaling baseline, with a ``source`` column."""
    ref = learning_curves(pd.read_csv(REFERENCE_SWEEP))
    parts = [
        learning_curves(lcdb_results()).assign(source="lcdb"),
        learning_curves(pd.read_csv(REAL_CURVES)).assign(source="mlbench"),
        ref.assign(dataset="scaling_" + ref["dataset"], source="scaling.yaml"),
    ]
    return pd.concat(parts, ignore_index=True)


@pytest.mark.slow
def test_backtest_on_real_curves(real_curves):
    bt = backtest(real_curves).merge(real_curves[["dataset", "source"]].drop_duplicates(), on="dataset")
    acc = bt[bt["metric"] == "accuracy"]
    tested = acc[acc["reliable"]]
    for source, part in [("all", tested), *tested.groupby("source")]:
        print(
            f"{source}: fitted up to 1/8 of the largest size, {len(part)} reliable fits; range covers "
            f"{part['covered'].mean():.1%}; mean |error| {part['error'].mean():.4f} vs last value "
            f"{part['last_value_error'].mean():.4f}"
        )
    missed = tested[~tested["covered"].astype(bool)]
    print(f"missed: {len(missed)}, observed below the range in {(missed['observed'] < missed['low']).sum()}")
    assert len(tested) >= 100 and tested["covered"].mean() >= 0.90
    assert tested["error"].mean() < tested["last_value_error"].mean()
    for _, part in tested.groupby("source"):
        assert part["error"].mean() < part["last_value_error"].mean()
    # fewer than 3 sizes below the cut: no fit, no prediction
    assert bt.loc[bt["n_sizes"] < 3, "predicted"].isna().all()


# --------------------------------------------------------------------------------------------
# one point per size, complete points, intervals from the dataset's own size
# --------------------------------------------------------------------------------------------


def fraction_sweep(split_rows: bool) -> pd.DataFrame:
    """Two models at five fractions of a 934/935-row pool, 5 folds; with ``split_rows`` the
    fractions were resolved per fold (old tables): 0.1 is 93 rows in fold 0 and 94 in the others."""
    rng = np.random.default_rng(5)
    rows = []
    for model, quality in (("knn", 0.0), ("mlp", 0.01)):
        for size in (0.1, 0.2, 0.4, 0.7, 1.0):
            for fold in range(5):
                pool = 934 if fold == 0 else 935
                n = round(size * pool) if split_rows else round(size * 934)
                if size == 1.0:
                    n = pool
                acc = 0.95 - 2.0 * n**-0.5 - quality + rng.normal(0, 0.004)
                rows.append(
                    {"job_id": f"{model}-{size}-{fold}", "dataset": "d", "task_type": "classification",
                     "model": model, "fold": fold, "repeat": 0, "train_size": size, "n_train": n,
                     "n_test": 234, "status": "ok", "test_accuracy": acc}
                )  # fmt: skip
    return pd.DataFrame(rows)


@pytest.mark.parametrize("split_rows", [True, False])
def test_one_point_per_requested_size(split_rows):
    res = fraction_sweep(split_rows)
    assert not split_rows or set(res.loc[res["train_size"] == 0.1, "n_train"]) == {93, 94}
    curves = learning_curves(res)
    assert curves.groupby("model")["n_train"].nunique().tolist() == [5, 5]
    # split: the median of 93, 94, 94, 94, 94; resolved against the smallest pool: 93 in every fold
    assert sorted(curves["n_train"].unique())[0] == (94 if split_rows else 93)
    assert (curves["complete"]).all() and (curves["n"] == 5).all()
    fits = fit_power_laws(curves)
    assert (fits["n_points"] == 5).all()
    # mlp is worse at every size: no crossover (the old split point at 93 rows made one)
    assert crossovers(curves, fits).empty
    # rows without a requested size are grouped by n within a row
    plain = res.assign(train_size=np.nan)
    assert learning_curves(plain).groupby("model")["n_train"].nunique().tolist() == [5, 5]


def test_a_point_with_a_failed_fold_is_incomplete_and_not_fitted():
    res = fraction_sweep(False)
    res.loc[(res["model"] == "mlp") & (res["train_size"] == 0.4) & (res["fold"] == 3), "status"] = "failed"
    res.loc[res["status"] == "failed", "test_accuracy"] = np.nan
    curves = learning_curves(res)
    point = curves[(curves["model"] == "mlp") & (curves["n_train"] == round(0.4 * 934))].iloc[0]
    assert not point["complete"] and (point["n_jobs"], point["n_expected"]) == (4, 5)
    assert curves.loc[curves["model"] == "knn", "complete"].all()
    fits = fit_power_laws(curves).set_index("model")
    assert fits.loc["mlp", "n_points"] == 4 and fits.loc["knn", "n_points"] == 5


def test_an_interval_does_not_depend_on_which_sizes_are_in_the_table():
    for path in (REFERENCE_SWEEP, REAL_CURVES):
        res = pd.read_csv(path)
        ds = "digits"
        res = res[res["dataset"] == ds]
        full = learning_curves(res).set_index(["model", "n_train"])
        without = learning_curves(res[res["train_size"] != 1.0]).set_index(["model", "n_train"])
        small = [k for k in without.index if k[1] <= 128]
        assert small
        width_full = (full.loc[small, "ci_high"] - full.loc[small, "ci_low"]).to_numpy()
        width_cut = (without.loc[small, "ci_high"] - without.loc[small, "ci_low"]).to_numpy()
        # the pool is the training fold either way (1,198 rows for 3 folds, 1,437/1,438 for 5)
        assert width_cut == pytest.approx(width_full, rel=1e-3)
        cut_at_eighth = learning_curves(res[res["train_size"] <= 0.125 * res["n_train"].max()])
        assert cut_at_eighth["test_ratio"].to_numpy() == pytest.approx(full["test_ratio"].iloc[0], rel=1e-3)


# --------------------------------------------------------------------------------------------
# reliable fits, extrapolation
# --------------------------------------------------------------------------------------------


def test_degenerate_fits_are_not_reliable():
    n = np.array([25.0, 50, 100, 200, 400, 800])
    rng = np.random.default_rng(2)
    cases = {
        # a drop, then noise: the exponent runs to its upper bound
        "bound": (np.array([0.50, 0.12, 0.10, 0.13, 0.09, 0.12]), "upper bound"),
        # a flat noisy curve: b near 0 or a = 0, R² near 0
        "flat": (0.2 + rng.normal(0, 0.01, 6), "R²"),
        # a constant curve: nothing to fit
        "constant": (np.full(6, 0.2), "no decaying part"),
    }
    for name, (error, why) in cases.items():
        fit = fit_power_law(n, error, se=np.full(6, 0.01), df=np.full(6, 4.0))
        assert fit["ok"] and not fit["reliable"], name
        assert why in fit["reason"], (name, fit["reason"])
    good = fit_power_law(
        n, 2 * n**-0.5 + 0.05 + rng.normal(0, 0.002, 6), se=np.full(6, 0.002), df=np.full(6, 4.0)
    )
    assert good["reliable"] and good["reason"] == ""


def test_a_fit_that_misses_its_largest_size_is_not_reliable():
    # a power law up to 400 rows, then a collapse at 800 the first five sizes cannot foresee
    n = np.array([25.0, 50, 100, 200, 400, 800])
    error = 2 * n**-0.5 + 0.05
    error[-1] = 0.02
    fit = fit_power_law(n, error, se=np.full(6, 0.002), df=np.full(6, 4.0))
    assert not fit["reliable"] and "without the largest size" in fit["reason"]


def test_unreliable_fits_make_no_extrapolated_crossover():
    def plateau(n):
        return 0.05 + 0.5 * n**-0.2

    def steep(n):
        return 0.02 + 20 * n**-0.6

    cur = curves_of({"plateau": plateau, "steep": steep}, np.geomspace(25, 2000, 10))
    fits = fit_power_laws(cur)
    assert fits["reliable"].all() and len(crossovers(cur, fits)) == 1
    fits.loc[fits["model"] == "steep", "reliable"] = False
    assert crossovers(cur, fits).empty


def test_extrapolate_gives_a_range_that_widens_away_from_the_data(design_curves):
    curves = design_curves["digits_like"]
    one = curves[curves["dataset"] == "s000"]
    out = extrapolate(one, [100, 1198, 5000, 50000])
    assert list(out["n"]) == [100, 1198, 5000, 50000]
    assert (out["error_low"] <= out["error"]).all() and (out["error"] <= out["error_high"]).all()
    width = (out["error_high"] - out["error_low"]).to_numpy()
    assert width[1] < width[2] < width[3]
    assert out["score"].to_numpy() == pytest.approx(1 - out["error"].to_numpy())
    assert (out["score_low"] <= out["score"]).all() and (out["score_high"] <= 1).all()
    # the expected error at 5,000 rows is inside the range in most curves
    truth = DESIGNS["digits_like"](5000)
    ranges = extrapolate(curves, 5000)
    assert ((ranges["error_low"] <= truth) & (truth <= ranges["error_high"])).mean() >= 0.9
    # no reliable fit, no range
    flat = curves_of({"flat": lambda n: 0.2}, np.geomspace(25, 800, 6))
    assert extrapolate(flat, 1000)[["error", "error_low", "error_high"]].isna().all(axis=None)


# --------------------------------------------------------------------------------------------
# crossovers: paired differences within the data, separating ranges beyond it
# --------------------------------------------------------------------------------------------


def test_curves_that_cross_beyond_the_data_give_an_extrapolated_crossover():
    # 0.1 + n^-0.6 leads over 25-800 rows; 3 n^-0.4 has the lower plateau and crosses at 4,191 rows,
    # though its exponent is the smaller one (the old rule needed it to be the larger)
    lead, later = (lambda n: 0.1 + n**-0.6), (lambda n: 3 * n**-0.4)
    truth = math.exp(brentq(lambda x: lead(math.exp(x)) - later(math.exp(x)), math.log(800), math.log(1e6)))
    assert truth == pytest.approx(4191, abs=1)
    cur = curves_of({"lead": lead, "later": later}, 25 * 2.0 ** np.arange(6))
    out = crossovers(cur)
    assert len(out) == 1
    row = out.iloc[0]
    assert row["kind"] == "extrapolated" and (row["better_before"], row["better_after"]) == ("lead", "later")
    assert row["n_cross"] == pytest.approx(truth, rel=0.01)
    assert row["n_low"] <= truth <= row["n_high"] <= 100 * 800


@pytest.mark.slow
def test_observed_crossovers_from_paired_differences_find_real_crossings():
    # digits in 5 folds; pairs of real curves that cross within 25-1,437 rows, and two clearer ones
    designs = {
        "logistic_regression/mlp": (REAL_SHAPES["logistic_regression"], REAL_SHAPES["mlp"]),
        "cnn/logistic_regression": (REAL_SHAPES["cnn"], REAL_SHAPES["logistic_regression"]),
        "crosses at 144": (lambda n: 0.15 + 0.3 * n**-0.5, lambda n: 0.05 + 1.5 * n**-0.5),
        "crosses at 74": (power_law(1.0, 0.3, 0.05), power_law(6.0, 0.7, 0.03)),
    }
    sizes = (25, 50, 100, 200, 400, 800, 1437)
    found_right = reported = crossings = 0
    for i, (name, (fa, fb)) in enumerate(designs.items()):
        g = lambda x, fa=fa, fb=fb: fa(math.exp(x)) - fb(math.exp(x))  # noqa: E731
        truth = math.exp(brentq(g, math.log(25), math.log(1437)))
        res = kfold_sweep({"a": fa, "b": fb}, 100, seed=10 + i, folds=5, sizes=sizes, n_test=359, pool=1437)
        obs = crossovers(learning_curves(res))
        obs = obs[obs["kind"] == "observed"]
        winner = "b" if fb(1437) < fa(1437) else "a"
        right = obs[(obs["n_low"] <= truth) & (truth <= obs["n_high"]) & (obs["better_after"] == winner)]
        print(
            f"{name} (true crossing at {truth:.0f}): found in {right['dataset'].nunique()} of 100, {len(obs)} stated"
        )
        found_right += right["dataset"].nunique()
        reported += len(obs)
        crossings += 100
    recall, precision = found_right / crossings, found_right / reported
    print(f"observed crossovers: recall {recall:.2f} at precision {precision:.2f}")
    assert recall >= 0.70 and precision >= 0.90


@pytest.mark.slow
def test_identical_and_parallel_curves_with_realistic_noise_give_no_crossover():
    sizes = (25, 50, 100, 200, 400, 800, 1437)
    kw = dict(folds=5, sizes=sizes, n_test=359, pool=1437)
    same = kfold_sweep({"a": REAL_SHAPES["mlp"], "b": REAL_SHAPES["mlp"]}, 200, seed=20, **kw)
    found = crossovers(learning_curves(same))
    clean = 1 - found["dataset"].nunique() / 200
    parallel = kfold_sweep({"a": REAL_SHAPES["mlp"], "b": power_law(4.79, 0.824, 0.0258)}, 100, seed=21, **kw)
    wrong = crossovers(learning_curves(parallel))
    print(
        f"identical curves: no crossover in {clean:.1%} of 200 seeds; parallel curves: {len(wrong)} stated in 100"
    )
    assert clean >= 0.95 and len(wrong) <= 5


def later_reversals(curves: pd.DataFrame, fraction: float = 1 / 8, level: float = 0.95):
    """Crossovers stated on curves cut at ``fraction`` of their largest size, against what the held-out
    sizes show: (reversals found, later reversals, stated crossovers that held, stated crossovers).

    A later reversal: model x has the lower mean error at the cut's largest size and model y is better
    than x beyond noise at the largest size (paired per-fold test, oriented by the metric: a lower
    RMSE is better). A stated crossover (x before, y after) held when y's mean error is lower than
    x's at the largest size.
    """
    from mlbench.metrics import METRICS

    found = reversals = held = stated = 0
    for _, g in curves[curves["complete"]].groupby("dataset"):
        sign = 1.0 if METRICS.get(str(g["metric"].iloc[0])).greater_is_better else -1.0
        top = g["n_train"].max()
        part = g[g["n_train"] <= fraction * top]
        if part["n_train"].nunique() < 3:
            continue
        full = g[g["n_train"] == top].set_index("model")
        end = part[part["n_train"] == part["n_train"].max()].set_index("model")
        pairs = set()
        for x in end.index:
            for y in end.index:
                if x == y or x not in full.index or y not in full.index:
                    continue
                if end.loc[x, "error_mean"] >= end.loc[y, "error_mean"]:
                    continue
                # x's score minus y's, on the better-is-greater scale: below 0 where y is better
                d = sign * np.array(
                    [
                        full.loc[x, "fold_scores"][f] - full.loc[y, "fold_scores"][f]
                        for f in full.loc[x, "fold_scores"]
                    ]
                )
                se = d.std(ddof=1) * math.sqrt(1 / len(d) + full.loc[x, "test_ratio"])
                if d.mean() < 0 and abs(d.mean()) > stats.t.ppf((1 + level) / 2, len(d) - 1) * se:
                    pairs.add((x, y))  # y's score higher beyond noise at the largest size
        said = {(r.better_before, r.better_after) for r in crossovers(part, level=level).itertuples()}
        said = {(x, y) for x, y in said if x in full.index and y in full.index}
        reversals += len(pairs)
        found += len(pairs & said)
        stated += len(said)
        held += sum(full.loc[y, "error_mean"] < full.loc[x, "error_mean"] for x, y in said)
    return found, reversals, held, stated


@pytest.mark.slow
def test_crossovers_stated_on_curves_cut_at_an_eighth_hold_on_the_held_out_sizes(real_curves):
    found, reversals, held, stated = later_reversals(real_curves)
    print(
        f"curves cut at 1/8: {reversals} later reversals, {found} foreseen (recall {found / reversals:.2f}); "
        f"{held} of {stated} stated crossovers held at the largest size (precision {held / stated:.2f})"
    )
    assert reversals >= 30 and stated >= 30
    assert held / stated >= 0.80


# --------------------------------------------------------------------------------------------
# the report's scaling section
# --------------------------------------------------------------------------------------------


def test_report_draws_complete_points_and_reliable_fits_only_and_shows_the_backtest():
    from mlbench.report import render_html, summarize
    from mlbench.report.plots import learning_curves as draw

    sizes = (16, 32, 64, 128, 256, 512, 1024)
    res = kfold_sweep(
        {"steep": power_law(4.0, 0.6, 0.02), "flat": lambda n: 0.3},
        1,
        seed=3,
        folds=5,
        sizes=sizes,
        n_test=256,
        pool=1024,
    )
    res.loc[(res["model"] == "steep") & (res["n_train"] == 128) & (res["fold"] == 2), "status"] = "failed"
    res.loc[res["status"] == "failed", "test_accuracy"] = np.nan
    meta = {
        "suite": "s",
        "primary_metric": {"classification": "accuracy"},
        "metrics": {"classification": ["accuracy"]},
    }
    sc = summarize(res, meta)["datasets"][0]["scaling"]
    points = {c["model"]: [p["n_train"] for p in c["points"]] for c in sc["curves"]}
    assert 128 not in points["steep"] and len(points["flat"]) == len(sizes)  # one point per size
    assert sc["incomplete"] == [{"model": "steep", "n_train": 128.0, "n_jobs": 4, "n_expected": 5}]
    fits = {f["model"]: f for f in sc["fits"]}
    assert fits["steep"]["reliable"] and fits["steep"]["points"]
    assert not fits["flat"]["reliable"] and "points" not in fits["flat"]  # no dashed line
    assert not any(c["better_after"] == "flat" and c["kind"] == "extrapolated" for c in sc["crossovers"])
    bt = sc["backtest"]
    assert [r["model"] for r in bt["rows"]] == ["flat", "steep"] and bt["n_tested"] == 1
    steep = bt["rows"][1]
    # fitted up to 1/8 of 1,024 rows: 128 is incomplete, so 16 to 64
    assert steep["low"] <= steep["predicted"] <= steep["high"] and steep["n_fit"] == 64
    fig = draw(sc)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(label.startswith("steep") and "b =" in label for label in labels)
    assert any(label.startswith("flat") and "b =" not in label for label in labels)
    html = render_html(summarize(res, meta))
    assert (
        'class="backtest sortable"' in html and "no reliable fit" in html and "Incomplete, not drawn" in html
    )


# --------------------------------------------------------------------------------------------
# a share of test rows is never known better than its binomial noise
# --------------------------------------------------------------------------------------------


def test_identical_folds_still_carry_the_binomial_noise_of_their_test_rows():
    # every fold scores the same at each size (std 0), and at 1,600 rows every test row is right
    sizes = (25, 50, 100, 200, 400, 800, 1600)
    acc = {n: round((1 - (2 * n**-0.5 + 0.05)) * 200) / 200 for n in sizes[:-1]} | {1600: 1.0}
    res = pd.DataFrame(
        [
            {"job_id": f"{n}-{fold}", "dataset": "d", "task_type": "classification", "model": "m", "fold": fold,
             "repeat": 0, "train_size": float(n), "n_train": n, "n_test": 200, "status": "ok", "test_accuracy": a}
            for n, a in acc.items()
            for fold in range(5)
        ]
    )  # fmt: skip
    cur = learning_curves(res)
    # the folds agree, yet each point's interval (so its se) keeps the binomial noise of its rows
    assert (cur["std"] == 0).all() and (cur["se"] > 0).all()
    e = np.clip(cur["error_mean"].to_numpy(), 1 / 1000, None)  # 5 folds x 200 test rows; e >= 1 row
    assert cur["se_min"].to_numpy() == pytest.approx(np.sqrt(e * (1 - e) / 1000))
    # the fits are weighted by the floor: ranges as wide as 1,000 test rows allow, not the
    # residuals of a rounded exact curve
    part = cur[cur["n_train"] <= 800]
    floored = fit_power_laws(part).iloc[0]
    bare = fit_power_laws(part.assign(se=0.0).drop(columns="se_min")).iloc[0]  # no noise but the residuals
    assert floored["reliable"] and floored["b_low"] <= 0.5 <= floored["b_high"]
    assert floored["b_high"] - floored["b_low"] > 2 * (bare["b_high"] - bare["b_low"])
    direct = fit_power_law(
        part["n_train"], part["error_mean"], se=part["se"], df=part["df"], se_min=part["se_min"]
    )
    assert (direct["b_low"], direct["b_high"]) == pytest.approx((floored["b_low"], floored["b_high"]))
    wide = extrapolate(part, 12_800).iloc[0]
    narrow = extrapolate(part.assign(se=0.0).drop(columns="se_min"), 12_800).iloc[0]
    assert wide["error_high"] - wide["error_low"] > 2 * (narrow["error_high"] - narrow["error_low"])
    # the backtest (25-200 rows -> 1,600) is floored the same way
    wide, narrow = backtest(cur).iloc[0], backtest(cur.assign(se=0.0).drop(columns="se_min")).iloc[0]
    assert wide["high"] - wide["low"] > narrow["high"] - narrow["low"]


def test_report_on_the_scaling_baseline_has_one_point_per_size_reliable_fits_and_the_backtest():
    # baselines/scaling.yaml's committed results (digits, six models, 7 sizes, 3 folds x 3 repeats)
    from mlbench.report import render_html, summarize
    from mlbench.report.plots import learning_curves as draw

    res = pd.read_csv(REFERENCE_SWEEP)
    meta = {"suite": "scaling", "primary_metric": {"classification": "accuracy"}}
    summary = summarize(res, meta)
    sc = summary["datasets"][0]["scaling"]
    sizes = sorted(res["train_size"].unique())
    assert len(sc["curves"]) == res["model"].nunique() == 6 and not sc["incomplete"]
    for curve in sc["curves"]:  # one point per requested size, each with all its folds
        assert len(curve["points"]) == len(sizes), curve["model"]
        assert all(p["n"] == 3 for p in curve["points"])
    # a fit is drawn only when it is reliable; an unreliable one has its reason
    for f in sc["fits"]:
        assert bool(f.get("points")) == bool(f["reliable"]), f["model"]
        assert f["reliable"] or f["reason"]
    labels = [t.get_text() for t in draw(sc).axes[0].get_legend().get_texts()]
    reliable = {f["model"] for f in sc["fits"] if f["reliable"]}
    for f in sc["fits"]:
        assert any(
            lab.startswith(f["model"]) and ("b =" in lab) == (f["model"] in reliable) for lab in labels
        )
    # the backtest: fitted on 25-100 rows (up to 1/8 of 1,198), predicting 1,198
    bt = sc["backtest"]
    assert len(bt["rows"]) == 6 and bt["n_tested"] >= 5
    tested = [r for r in bt["rows"] if r["reliable"]]
    assert all(r["n_fit"] == 100 and r["n_target"] == 1198 for r in tested)
    assert bt["mean_error"] < bt["mean_last_value_error"]
    html = render_html(summary)
    assert 'class="backtest sortable"' in html
