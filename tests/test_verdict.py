"""The verdict per dataset: a real small run, the CLI, simulations with known curves, the backtest
on real learning curves, and a property test that every sentence is true of the record's tables.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq

import mlbench
from mlbench.analysis import learning_curves, verdict, verdict_backtest, verdict_sentences
from mlbench.analysis.baseline import baseline_comparison
from mlbench.analysis.verdict import FACTORS, n_text, score_text

DATA = Path(__file__).resolve().parent / "data"
REFERENCE_SWEEP = Path(__file__).resolve().parents[1] / "baselines" / "reference" / "scaling_results.csv"

SUITE = {
    "name": "verdict",
    "seed": 0,
    "resampling": {"kind": "kfold", "folds": 3},
    "datasets": [{"builtin": "breast_cancer"}, {"builtin": "wine"}],
    "models": ["decision_tree", "knn", "logistic_regression"],
    "sweep": {"train_sizes": [20, 40, 80, 1.0]},
    "diagnostics": False,
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("verdict") / "run"
    mlbench.run(SUITE, output=out, workers=1, quiet=True, report=False)
    return out


# --------------------------------------------------------------------------------------------
# the sentence checker: each sentence against the record's tables
# --------------------------------------------------------------------------------------------


def _split_names(text: str) -> list[str]:
    parts = text.split(" and ")
    head = parts[0].split(", ") if len(parts) > 1 else [parts[0]]
    return [*head, *parts[1:]] if len(parts) > 1 else head


def _better(v: dict, x: float, y: float) -> bool:
    return x > y if v["greater_is_better"] else x < y


def check_table(v: dict) -> None:
    """The table's own decisions: best, tied, recommended, eligible."""
    rows = v["table"]
    eligible = [r for r in rows if r["eligible"]]
    assert all(r["model"] != v["baseline"] for r in eligible)
    assert all(not r["excluded"] for r in eligible)
    if not eligible:
        assert v["recommended"] is None and v["tied"] == []
        return
    scores = [r["score"] for r in eligible]
    best = next(r for r in rows if r["model"] == v["best"])
    assert best["score"] == (max(scores) if v["greater_is_better"] else min(scores))
    for r in eligible:
        inside = r["gap_low"] is not None and r["gap_low"] <= 0.0 <= r["gap_high"]
        assert r["tied"] == (r["model"] == v["best"] or inside), r
    assert sorted(r["model"] for r in eligible if r["tied"]) == v["tied"]
    assert v["recommended"] in v["tied"]
    if v["kind"] == "observed":
        costs = {r["model"]: r["cost_seconds"] for r in eligible if r["tied"]}
        rec = costs[v["recommended"]]
        if rec is not None:
            assert all(c is None or rec <= c for c in costs.values())
    else:
        # the tied row with the best score at the size run nearest
        seen = [r for r in eligible if r["tied"] and r["observed"] is not None]
        if seen:
            rec = next(r for r in eligible if r["model"] == v["recommended"])
            assert not any(_better(v, r["observed"], rec["observed"]) for r in seen)
        else:
            assert v["recommended"] == v["best"]


def check_sentence(s: str, v: dict) -> None:
    """Assert that one sentence of ``verdict_sentences(v)`` is true of ``v``'s tables."""
    rows = {r["model"]: r for r in v["table"]}
    metric = v["metric"]
    if s.startswith("No model can be recommended"):
        assert not any(r["eligible"] for r in rows.values())
        return
    m = re.match(
        r"Recommended at (.+?) rows(?: \((interpolated|extrapolated) from the fits\)| \((not run), and no reliable fit: scores of the size run nearest\))?: (\S+) \((\S+) (\S+), (\S+) to (\S+)\)(.*)$",
        s,
    )
    if m:
        n, kind, unfitted, model, met, score, low, high, tail = m.groups()
        r = rows[model]
        assert n == n_text(v["n"]) and met == metric
        if unfitted:
            assert v["kind"] != "observed" and not any(
                x["source"] == "fit" for x in rows.values() if x["eligible"]
            )
        else:
            assert (kind or "observed") == v["kind"]
        assert model == v["recommended"] and r["eligible"] and r["tied"]
        assert (score, low, high) == (score_text(r["score"]), score_text(r["low"]), score_text(r["high"]))
        others = [x for x in rows.values() if x["eligible"] and x["model"] != model]
        if tail == ", the best model, ahead of every other beyond noise.":
            assert model == v["best"] and not any(x["tied"] for x in others)
            assert all(x["gap_low"] is not None and x["gap_low"] > 0 for x in others)
        elif tail == ", the best model.":
            assert model == v["best"]
        elif v["kind"] == "observed":
            t = re.match(
                r", the cheapest of the models within noise of the best, (\S+) \((\S+) (\S+); the data allow it to be up to (\S+) below\)\.$",
                tail,
            )
            assert t, tail
            best, met2, bscore, gap = t.groups()
            assert best == v["best"] and met2 == metric and bscore == score_text(rows[best]["score"])
            assert gap == score_text(r["gap_high"]) and r["gap_low"] <= 0 <= r["gap_high"]
        else:
            t = re.match(
                r", within the predicted range of the best expected, (\S+) \((\S+) (\S+)\), and ahead of it at the size run nearest \((\S+) (\S+) vs (\S+)\)\.$",
                tail,
            )
            assert t, tail
            best, met2, bscore, met3, mine, theirs = t.groups()
            b = rows[best]
            assert best == v["best"] and met2 == met3 == metric and bscore == score_text(b["score"])
            assert (mine, theirs) == (score_text(r["observed"]), score_text(b["observed"]))
            assert not _better(v, b["observed"], r["observed"]) and r["gap_low"] <= 0 <= r["gap_high"]
        return
    m = re.match(
        r"Tied: (.+) are within noise of each other \((.+)\); fit \+ predict time per job: (.+)\.$", s
    )
    if m:
        names = _split_names(m.group(1))
        assert sorted(names) == v["tied"] and len(names) >= 2
        for item in m.group(3).split(", "):
            name, t = item.split(" ", 1)
            c = rows[name]["cost_seconds"]
            assert t == ("unknown time" if c is None else f"{c:.3g} s")
        return
    m = re.match(
        r"Within (.+) per job: (\S+) \((\S+) (\S+); (\S+) s to fit, (\S+) ms to predict\), (.+)\.$", s
    )
    if m:
        limits, choice, met, score, fit_s, pred_ms, rel = m.groups()
        b, r = v["budget"], rows[choice]
        assert choice == b["choice"] and r["eligible"] and score == score_text(r["score"])
        assert fit_s == f"{r['fit_seconds']:.3g}" and pred_ms == f"{r['predict_ms']:.3g}"
        if b["budget_seconds"] is not None:
            assert r["fit_seconds"] <= b["budget_seconds"] and f"{b['budget_seconds']:g} s to fit" in limits
        if b["max_predict_ms"] is not None:
            assert (
                r["predict_ms"] <= b["max_predict_ms"] and f"{b['max_predict_ms']:g} ms to predict" in limits
            )
        fitting = [x for x in rows.values() if x["fits_budget"]]
        assert not any(_better(v, x["score"], r["score"]) for x in fitting)
        assert (rel == "within noise of the best") == r["tied"]
        return
    if re.match(r"Within .+ per job no eligible model fits", s):
        assert not any(x["fits_budget"] for x in rows.values())
        return
    m = re.match(
        r"At (\S+)x \((.+) rows\), expected (\S+): (.+) \((the order is within the ranges|(\S+) ahead beyond the ranges|the only reliable fit)\)\.$",
        s,
    )
    if m:
        factor, n, met, items, sure, ahead = m.groups()
        o = next(o for o in v["outlook"] if f"{o['factor']:g}" == factor)
        assert n == n_text(o["n"]) and met == metric
        listed = [x for x in items.split("; ") if not x.endswith(" more")]
        ranked = o["rows"]
        for item, r in zip(listed, ranked, strict=False):
            assert (
                item
                == f"{r['model']} {score_text(r['score'])} ({score_text(r['low'])} to {score_text(r['high'])})"
            )
        scores = [r["score"] for r in ranked]
        assert scores == sorted(scores, reverse=v["greater_is_better"])
        top = ranked[0]
        overlaps = [r["low"] <= top["high"] and top["low"] <= r["high"] for r in ranked[1:]]
        if ahead:
            assert ahead == top["model"] and not any(overlaps)
        elif sure == "the only reliable fit":
            assert len(ranked) == 1
        else:
            assert any(overlaps)
        return
    m = re.match(r"(\S+) overtook (\S+) at about (.+) rows \(between (.+) and (.+), observed\)\.$", s)
    if m:
        after, before = m.group(1), m.group(2)
        c = next(
            c for c in v["crossovers"] if (c["after"], c["before"], c["kind"]) == (after, before, "observed")
        )
        assert c["n_low"] <= c["n_cross"] <= c["n_high"] and v["leader"] in (after, before)
        return
    m = re.match(r"(\S+) is expected to overtake (\S+) between (.+) and (.+) rows \(extrapolated", s)
    if m:
        after, before, lo, hi = m.groups()
        c = next(
            c
            for c in v["crossovers"]
            if (c["after"], c["before"], c["kind"]) == (after, before, "extrapolated")
        )
        assert before == v["leader"] and (lo, hi) == (n_text(c["n_low"]), n_text(c["n_high"]))
        assert c["n_low"] <= c["n_cross"] <= c["n_high"] and c["n_low"] >= v["n_largest"] * 0.99
        return
    m = re.match(r"No crossover of (\S+) by (.+) can be stated within (\S+)x \((.+) rows\)", s)
    if m:
        leader, names = m.group(1), _split_names(m.group(2))
        assert leader == v["leader"] and sorted(names) == v["no_crossing"]
        assert not {c["after"] for c in v["crossovers"] if c["kind"] == "extrapolated"} & set(names)
        fitted = {r["model"] for r in v["outlook"][0]["rows"]}
        assert leader in fitted and set(names) <= fitted
        return
    m = re.match(r"More sizes needed: no reliable fit for (.+?); run more sizes", s)
    if m:
        names = _split_names(m.group(1))
        assert names == v["more_sizes"]["models"] and all(v["more_sizes"]["reasons"][x] for x in names)
        fitted = {r["model"] for o in v["outlook"] for r in o["rows"]}
        assert not set(names) & fitted
        return
    if s.startswith("Rests on:"):
        assert s == v["assumptions"] and f"fitted to {len(v['sizes'])} size(s)" in s
        return
    raise AssertionError(f"a sentence no check knows: {s!r}")


def check_record(v: dict) -> None:
    check_table(v)
    assert v["sentences"] == verdict_sentences(v)
    for s in v["sentences"]:
        check_sentence(s, v)


# --------------------------------------------------------------------------------------------
# a real run
# --------------------------------------------------------------------------------------------


def test_verdict_of_a_real_run(run_dir: Path) -> None:
    run = mlbench.open_run(run_dir)
    records = run.verdict()
    assert [r.dataset for r in records] == ["breast_cancer", "wine"]
    curves = run.learning_curves()
    for r in records:
        v = r.as_dict()
        json.dumps(v, allow_nan=False)  # JSON as it is
        assert v["kind"] == "observed" and v["n"] == v["n_largest"] == max(v["sizes"])
        assert v["baseline"] == "dummy"
        dummy = next(x for x in v["table"] if x["model"] == "dummy")
        assert not dummy["eligible"] and dummy["excluded"] == "the baseline"
        # the table's scores are the learning curves' at that size
        at = curves[(curves["dataset"] == r.dataset) & (curves["n_train"] == r.n)].set_index("model")
        for row in v["table"]:
            assert row["score"] == pytest.approx(float(at.loc[row["model"], "mean"]))
            assert row["fit_seconds"] is not None and row["predict_ms"] is not None
        check_record(v)
        assert len(v["outlook"]) == len(FACTORS)
        assert r.paragraph.startswith("Recommended at ")
    # the API's records are the analysis's
    assert [r.as_dict() for r in records] == [r.as_dict() for r in verdict(run)]


def test_budget_and_at_on_a_real_run(run_dir: Path) -> None:
    run = mlbench.open_run(run_dir)
    tight = run.verdict(budget_seconds=1e-9)
    for r in tight:
        assert r.budget["choice"] is None and r.budget["fits"] == []
        assert any("no eligible model fits" in s for s in r.sentences)
        check_record(r.as_dict())
    loose = run.verdict(budget_seconds=1e6, max_predict_ms=1e9)
    for r in loose:
        assert r.budget["choice"] == r.best and r.budget["choice_tied"]
        check_record(r.as_dict())
    # a size run is read from the data; a size not run is predicted, with its kind said
    for r in run.verdict(at=40):
        assert r.kind == "observed" and r.n == 40
        check_record(r.as_dict())
    for r in run.verdict(at=5000):
        assert r.kind == "extrapolated" and r.n == 5000
        assert all(
            x["source"] == "fit" or x["source"].startswith("observed at ") for x in r.table if x["eligible"]
        )
        check_record(r.as_dict())
        assert (
            "(extrapolated from the fits)" in r.sentences[0]
            or "(not run, and no reliable fit" in r.sentences[0]
        )
    with pytest.raises(ValueError, match="budget_seconds must be a positive number"):
        run.verdict(budget_seconds=-1)


def test_cli_verdict(run_dir: Path) -> None:
    cmd = [sys.executable, "-m", "mlbench.cli", "verdict", str(run_dir)]
    proc = subprocess.run(
        [*cmd, "--json", "--budget-seconds", "10"], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    records = json.loads(proc.stdout)
    # the schema the README documents
    keys = {"dataset", "metric", "greater_is_better", "n", "kind", "n_largest", "sizes", "baseline", "table",
            "best", "recommended", "leader", "tied", "budget", "outlook", "crossovers", "no_crossing",
            "more_sizes", "assumptions", "points", "sentences"}  # fmt: skip
    row_keys = {"model", "score", "low", "high", "source", "gap", "gap_low", "gap_high", "test", "n_folds",
                "eligible", "excluded", "tied", "fit_seconds", "predict_ms", "cost_seconds", "pareto",
                "fits_budget", "best", "observed"}  # fmt: skip
    assert [r["dataset"] for r in records] == ["breast_cancer", "wine"]
    for r in records:
        assert set(r) == keys and all(set(row) == row_keys for row in r["table"])
        assert r["budget"]["budget_seconds"] == 10
        check_record(r)
    text = subprocess.run([*cmd, "--at", "1000"], capture_output=True, text=True, timeout=300)
    assert text.returncode == 0, text.stderr
    assert "breast_cancer (accuracy):" in text.stdout and "wine (accuracy):" in text.stdout
    assert "(extrapolated from the fits)" in text.stdout
    bad = subprocess.run([*cmd, "--max-predict-ms", "0"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "--max-predict-ms must be a positive number" in bad.stderr


# --------------------------------------------------------------------------------------------
# simulations with known curves
# --------------------------------------------------------------------------------------------


def power_law(a: float, b: float, c: float):
    return lambda n: a * n**-b + c


def sweep(
    curves: dict,
    n_datasets: int,
    *,
    seed: int = 0,
    folds: int = 3,
    sizes: tuple[int, ...] = (25, 50, 100, 200, 400, 800, 1198),
    n_test: int = 599,
    pool: int = 1198,
    costs: dict | None = None,
    shared: float = 0.5,
    rel_noise: float = 0.05,
) -> pd.DataFrame:
    """A k-fold sweep, one dataset per seed; ``curves[model](n)`` is the expected error. The noise
    is that of tests/test_scaling.py's designs (binomial over the test fold plus training-set
    variation, correlated across folds as the corrected t assumes, half shared between models)."""
    rng = np.random.default_rng(seed)
    rho = (n_test / pool) / (1 + n_test / pool)
    rows = []
    for s in range(n_datasets):
        for n in sizes:
            fold_common = rng.normal(size=folds)
            pool_common = rng.normal()
            for model, f in curves.items():
                e = float(np.clip(f(n), 0.0, 1.0))
                sigma = math.sqrt(e * (1 - e) / n_test + (rel_noise * e) ** 2)
                u = math.sqrt(shared) * pool_common + math.sqrt(1 - shared) * rng.normal()
                w = math.sqrt(shared) * fold_common + math.sqrt(1 - shared) * rng.normal(size=folds)
                noise = sigma * (math.sqrt(rho) * u + math.sqrt(1 - rho) * w)
                fit_s, pred_s = (costs or {}).get(model, (0.01, 0.001))
                for fold in range(folds):
                    rows.append(
                        {"job_id": f"{s}-{model}-{n}-{fold}", "dataset": f"s{s:03d}", "task_type": "classification",
                         "model": model, "fold": fold, "repeat": 0, "train_size": 1.0 if n == sizes[-1] else float(n),
                         "n_train": n, "n_test": n_test, "status": "ok", "test_accuracy": 1 - e - noise[fold],
                         "fit_seconds": fit_s, "predict_seconds": pred_s}
                    )  # fmt: skip
    return pd.DataFrame(rows)


# error curves of real models (tests/test_scaling.py's REAL_SHAPES) and a slow learner
KNOWN = {
    "cnn": power_law(11.67, 1.10, 0.0058),
    "logistic_regression": power_law(4.88, 0.913, 0.0271),
    "mlp": power_law(4.79, 0.824, 0.0058),
    "tree": power_law(2.0, 0.35, 0.08),
}


@pytest.mark.slow
def test_recommended_from_an_eighth_is_within_noise_of_the_best_in_simulation() -> None:
    results = sweep(KNOWN, 40, seed=1, costs={"cnn": (5.0, 0.05), "tree": (0.01, 0.001)})
    bt = verdict_backtest(results)
    for fraction, g in bt.groupby("fraction"):
        rate = float(g["hit_at"].mean())
        print(f"1/{round(1 / fraction)}: recommended within noise of the best {rate:.0%} of {len(g)}; "
              f"top two in order {g['hit_top_two'].mean():.0%}")  # fmt: skip
        assert len(g) == 40 and rate >= 0.9


def _crossing(f, g, lo: float = 10.0) -> float:
    return math.exp(brentq(lambda x: f(math.exp(x)) - g(math.exp(x)), math.log(lo), math.log(1e7)))


@pytest.mark.slow
def test_stated_crossover_ranges_contain_the_true_crossover_in_simulation() -> None:
    lead = power_law(1.0, 0.6, 0.1)
    # within the data: 2 n^-0.5 overtakes at n = 199 (sizes 25 to 1,198, realistic noise)
    early = power_law(2.0, 0.5, 0.0)
    records = verdict(sweep({"lead": lead, "late": early}, 30, seed=5))
    stated = [c for r in records for c in r.crossovers]
    truth = _crossing(lead, early)
    covered = np.mean([c["n_low"] <= truth <= c["n_high"] for c in stated])
    print(
        f"observed: true crossover {truth:,.0f}, stated in {len(stated)} of 30, range covers it in {covered:.0%}"
    )
    assert len(stated) >= 27 and covered >= 0.9
    assert all((c["kind"], c["before"], c["after"]) == ("observed", "lead", "late") for c in stated)
    # beyond the data: 3 n^-0.4 overtakes at n = 4,191 (sizes 25 to 800; 100x is 80,000 rows).
    # Stated only when the predicted ranges separate: with fold noise of 1% of the error and large test folds
    late = power_law(3.0, 0.4, 0.0)
    truth = _crossing(lead, late, 800)
    sizes = (25, 50, 100, 200, 400, 800)
    records = verdict(sweep({"lead": lead, "late": late}, 30, seed=2, sizes=sizes, n_test=100_000, pool=800,
                            rel_noise=0.01))  # fmt: skip
    stated = [c for r in records for c in r.crossovers if c["kind"] == "extrapolated"]
    covered = np.mean([c["n_low"] <= truth <= c["n_high"] for c in stated])
    print(
        f"extrapolated: true crossover {truth:,.0f}, stated in {len(stated)} of 30, range covers it in {covered:.0%}"
    )
    assert len(stated) >= 12 and covered >= 0.9
    assert all(c["before"] == "lead" and c["after"] == "late" for c in stated)
    for r in records:
        check_record(r.as_dict())
    # with the noise of real 3-fold sweeps the ranges overlap up to 100x: nothing is stated, and the
    # verdict says that no crossover can be stated (not that none will happen), or asks for more sizes
    noisy = verdict(sweep({"lead": lead, "late": late}, 10, seed=2, sizes=sizes, n_test=5000, pool=800))
    for r in noisy:
        assert not [c for c in r.crossovers if c["kind"] == "extrapolated"]
        said = (
            "No crossover of lead by late can be stated within 100x",
            "More sizes needed: no reliable fit",
        )
        assert any(s.startswith(said) for s in r.sentences), r.sentences
        check_record(r.as_dict())


def test_a_model_no_better_than_the_baseline_is_never_recommended() -> None:
    # "stuck" predicts like the prior (the MLP stopped in its warm-up); "good" learns
    curves = {"dummy": lambda n: 0.5, "stuck": lambda n: 0.5, "good": power_law(3.0, 0.5, 0.05)}
    results = sweep(curves, 6, seed=3, sizes=(25, 50, 100, 200, 400), costs={"stuck": (1e-4, 1e-5)})
    flagged = baseline_comparison(results)
    for r in verdict(results, budget_seconds=1.0):
        v = r.as_dict()
        stuck = next(x for x in v["table"] if x["model"] == "stuck")
        if stuck["excluded"]:
            assert stuck["excluded"].startswith("no better than the baseline (dummy)")
            mine = flagged[(flagged["dataset"] == r.dataset) & (flagged["model"] == "stuck")]
            assert mine[mine["n_train"] == r.n]["no_better"].all()
        assert "stuck" not in (r.recommended, r.budget["choice"]) and "stuck" not in r.tied
        assert all("stuck" not in (c["before"], c["after"]) for c in r.crossovers)
        check_record(v)
    # nothing better than the baseline: no recommendation, said plainly
    flat = sweep({"dummy": lambda n: 0.5, "stuck": lambda n: 0.5}, 3, seed=4, sizes=(25, 50, 100))
    for r in verdict(flat):
        if r.recommended is None:
            assert r.sentences[0].startswith("No model can be recommended at 100 rows: ")
        check_record(r.as_dict())


# --------------------------------------------------------------------------------------------
# every sentence is true of its tables
# --------------------------------------------------------------------------------------------


@st.composite
def results_tables(draw):
    k = draw(st.integers(2, 4))
    models = {}
    costs = {}
    for i in range(k):
        a = draw(st.floats(0.5, 8.0))
        b = draw(st.floats(0.2, 1.2))
        c = draw(st.floats(0.0, 0.3))
        models[f"m{i}"] = power_law(a, b, c)
        costs[f"m{i}"] = (
            draw(st.sampled_from([0.001, 0.01, 0.1, 1.0])),
            draw(st.sampled_from([1e-4, 1e-3, 1e-2])),
        )
    if draw(st.booleans()):
        models["dummy"] = lambda n: 0.6
    sizes = draw(st.sampled_from([(25, 50, 100), (25, 50, 100, 200, 400), (20, 40, 80, 160, 320, 640)]))
    seed = draw(st.integers(0, 10_000))
    return sweep(models, 1, seed=seed, sizes=sizes, n_test=draw(st.sampled_from([100, 1000])), costs=costs)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    results=results_tables(),
    budget=st.one_of(st.none(), st.sampled_from([0.005, 0.05, 0.5, 5.0])),
    predict=st.one_of(st.none(), st.sampled_from([0.5, 5.0])),
    at=st.one_of(st.none(), st.sampled_from([30.0, 100.0, 1000.0, 10_000.0])),
)
def test_every_sentence_is_true_of_its_table(results, budget, predict, at) -> None:
    records = verdict(results, budget_seconds=budget, max_predict_ms=predict, at=at)
    curves = learning_curves(results)
    for r in records:
        v = r.as_dict()
        check_record(v)
        if v["kind"] == "observed":
            at_n = curves[curves["n_train"] == v["n"]].set_index("model")["mean"]
            for row in v["table"]:
                assert row["score"] == pytest.approx(float(at_n[row["model"]]))


# --------------------------------------------------------------------------------------------
# the backtest on real learning curves
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_backtest_on_real_learning_curves() -> None:
    """baselines/scaling.yaml's committed results, tests/data/learning_curves.csv (eight builtin
    datasets) and LCDB 1.0's published curves (20 datasets): the figures in the README."""
    lcdb = pd.read_csv(DATA / "lcdb_curves.csv").assign(task_type="classification", repeat=0, status="ok")
    sources = {
        "scaling.yaml": pd.read_csv(REFERENCE_SWEEP),
        "learning_curves.csv": pd.read_csv(DATA / "learning_curves.csv"),
        "lcdb": lcdb,
    }
    hits = []
    for name, results in sources.items():
        bt = verdict_backtest(results).assign(source=name)
        for fraction, g in bt.groupby("fraction"):
            print(f"{name} 1/{round(1 / fraction)}: within noise {g['hit_at'].mean():.0%} (now {g['hit_now'].mean():.0%}), "
                  f"top two {g['hit_top_two'].mean():.0%} of {len(g)}")  # fmt: skip
        hits.append(bt)
    bt = pd.concat(hits)
    assert bt.groupby(["source", "dataset"]).ngroups == 29
    assert bt["hit_at"].mean() >= 0.9
