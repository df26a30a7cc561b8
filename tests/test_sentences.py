"""Every sentence the report writes is true of the table its section shows.

Property tests (hypothesis) build random tables (learning-curve means per model and size, with
some points no better than the baseline; ensemble gain rows; tuning pairs), call the one
function that writes each sentence and check the sentence against the table. A few end-to-end
examples go from random results tables through :func:`mlbench.report.summarize` to the HTML, so
the template provably prints the function's output.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlbench.report import render_html, summarize
from mlbench.report.sentences import (
    BASELINE_FLAG,
    baseline_sentence,
    best_at_largest,
    crossover_sentence,
    ensemble_sentence,
    friedman_sentence,
    leader_sentence,
    no_crossover_sentence,
    pays_from,
    scaling_sentences,
    tuning_sentence,
)

# --------------------------------------------------------------------------------------------- tables


@st.composite
def curve_tables(draw: st.DrawFn) -> tuple[list[dict], bool]:
    """Random learning-curve tables: 1-5 models, 2-6 sizes, means on a coarse grid (ties happen),
    some points missing and some flagged as no better than the baseline."""
    n_models = draw(st.integers(1, 5))
    sizes = sorted(draw(st.sets(st.integers(10, 5000), min_size=2, max_size=6)))
    greater = draw(st.booleans())
    curves = []
    for i in range(n_models):
        points = []
        for n in sizes:
            if n != sizes[-1] and draw(st.integers(0, 9)) == 0:
                continue  # a size this model did not run
            points.append(
                {
                    "n_train": float(n),
                    "mean": draw(st.integers(0, 40)) / 40,
                    "no_better_than_baseline": draw(st.integers(0, 4)) == 0,
                }
            )
        curves.append({"model": f"m{i}", "points": points})
    return curves, greater


def means(curves: list[dict]) -> dict[float, dict[str, float]]:
    out: dict[float, dict[str, float]] = {}
    for c in curves:
        for p in c["points"]:
            out.setdefault(p["n_train"], {})[c["model"]] = p["mean"]
    return out


def better(a: float, b: float, greater: bool) -> bool:
    return a > b if greater else a < b


# --------------------------------------------------------------------------------------------- scaling


@given(curve_tables())
@settings(max_examples=300, deadline=None)
def test_the_best_model_at_the_largest_size_is_best_there_among_models_better_than_the_baseline(
    table: tuple[list[dict], bool],
) -> None:
    curves, greater = table
    winner = best_at_largest(curves, greater)
    top = max(means(curves))
    eligible = {
        c["model"]: p["mean"]
        for c in curves
        for p in c["points"]
        if p["n_train"] == top and not p["no_better_than_baseline"]
    }
    if not eligible:
        assert winner is None
        return
    assert winner in eligible
    assert not any(better(v, eligible[winner], greater) for v in eligible.values())


@given(curve_tables(), st.booleans())
@settings(max_examples=400, deadline=None)
def test_leads_at_every_size_only_when_it_is_the_top_mean_at_every_size_shown(
    table: tuple[list[dict], bool], with_other_crossover: bool
) -> None:
    curves, greater = table
    winner = best_at_largest(curves, greater)
    # crossovers between two other models do not change what is said about the winner
    others = [c["model"] for c in curves if c["model"] != winner]
    crossovers = (
        [{"model_a": others[0], "model_b": others[1], "n_cross": 100.0, "kind": "observed"}]
        if with_other_crossover and len(others) >= 2
        else []
    )
    text = leader_sentence(curves, crossovers, greater)
    by_size = means(curves)
    if winner is None:
        assert text.startswith("No model is better than the baseline")
        return
    on_top = all(
        winner in at and not any(better(v, at[winner], greater) for v in at.values())
        for at in by_size.values()
    )
    assert ("leads at every size run" in text) == on_top
    assert text.startswith(winner)
    if not on_top:
        # the sentence names a size where it is not on top, with the two means as the table shows them
        m = re.search(
            r"at ([\d,]+) rows (?:it has no score|(\S+)'s mean is better \(([\d.]+) vs ([\d.]+)\))", text
        )
        assert m is not None, text
        n = float(m.group(1).replace(",", ""))
        at = by_size[n]
        if m.group(2) is None:
            assert winner not in at
        else:
            rival = m.group(2)
            assert better(at[rival], at[winner], greater)
            assert float(m.group(3)) == round(at[rival], len(m.group(3).split(".")[1]))
            assert float(m.group(4)) == round(at[winner], len(m.group(4).split(".")[1]))


@given(curve_tables())
@settings(max_examples=100, deadline=None)
def test_a_winner_with_crossovers_introduces_them_and_never_claims_to_lead(
    table: tuple[list[dict], bool],
) -> None:
    curves, greater = table
    winner = best_at_largest(curves, greater)
    if winner is None or len(curves) < 2:
        return
    other = next(c["model"] for c in curves if c["model"] != winner)
    cross = [{"model_a": other, "model_b": winner, "n_cross": 50.0, "kind": "observed"}]
    text = leader_sentence(curves, cross, greater)
    assert text == f"Crossovers of {winner}, the best model at the largest size (marked on the plot):"
    said = scaling_sentences(curves, cross, greater)
    assert said["none"] is None and said["lead"] == text and said["winner"] == winner


def test_regression_caruana_does_not_lead_where_stacking_was_higher_at_701_rows() -> None:
    """The report once said "caruana ... leads at every size run" above a table where stacking
    had the higher mean at 701 rows (0.6502 vs 0.6447)."""
    curves = [
        {
            "model": "ensemble:caruana",
            "points": [
                {"n_train": 175.0, "mean": 0.6010, "no_better_than_baseline": False},
                {"n_train": 350.0, "mean": 0.6301, "no_better_than_baseline": False},
                {"n_train": 701.0, "mean": 0.6447, "no_better_than_baseline": False},
                {"n_train": 1403.0, "mean": 0.6712, "no_better_than_baseline": False},
            ],
        },
        {
            "model": "ensemble:stacking",
            "points": [
                {"n_train": 175.0, "mean": 0.5920, "no_better_than_baseline": False},
                {"n_train": 350.0, "mean": 0.6250, "no_better_than_baseline": False},
                {"n_train": 701.0, "mean": 0.6502, "no_better_than_baseline": False},
                {"n_train": 1403.0, "mean": 0.6690, "no_better_than_baseline": False},
            ],
        },
    ]
    text = leader_sentence(curves, [], greater=True)
    assert "leads at every size" not in text.replace("does not lead at every size", "")
    assert text == (
        "ensemble:caruana is the best model at the largest size but does not lead at every size run: "
        "at 701 rows ensemble:stacking's mean is better (0.6502 vs 0.6447); no crossover involving "
        "ensemble:caruana is beyond noise."
    )
    # and when caruana is on top everywhere, it does lead
    curves[1]["points"][2]["mean"] = 0.64
    assert leader_sentence(curves, [], greater=True) == (
        "ensemble:caruana, the best model at the largest size, leads at every size run."
    )


def test_means_equal_to_four_decimals_are_printed_with_enough_digits_to_differ() -> None:
    curves = [
        {"model": "a", "points": [{"n_train": 10.0, "mean": 0.50001}, {"n_train": 20.0, "mean": 0.9}]},
        {"model": "b", "points": [{"n_train": 10.0, "mean": 0.50002}, {"n_train": 20.0, "mean": 0.8}]},
    ]
    assert "(0.50002 vs 0.50001)" in leader_sentence(curves, [], greater=True)


def test_no_crossover_sentence_counts_the_points_left_out() -> None:
    assert "left out" not in no_crossover_sentence(0)
    assert "1 point no better than the baseline (hollow markers) was left out" in no_crossover_sentence(1)
    assert "3 points" in no_crossover_sentence(3)


def test_crossover_sentences() -> None:
    observed = {"better_after": "cnn", "better_before": "xgb", "n_cross": 412.0, "n_low": 200, "n_high": 800}
    assert (
        crossover_sentence({**observed, "kind": "observed"})
        == "cnn overtakes xgb at n ≈ 410 (between 200 and 800 rows)"
    )
    text = crossover_sentence({**observed, "kind": "extrapolated", "n_cross": 4191.0})
    assert text.startswith("cnn would overtake xgb at n ≈ 4,200 — a hypothesis") and "200 to 800 rows" in text


# --------------------------------------------------------------------------------------------- ensembles


@st.composite
def gain_rows(draw: st.DrawFn) -> list[dict]:
    sizes = sorted(draw(st.sets(st.integers(20, 3000), min_size=1, max_size=6)))
    rows = []
    for n in sizes:
        kind = draw(st.sampled_from(["pays", "no", "none"]))
        rows.append(
            {
                "ensemble": "e",
                "train_size": float(n),
                "n_train": float(n),
                "pays": kind == "pays",
                "ci_low": 0.01 if kind == "pays" else (-0.01 if kind == "no" else None),
                "note": "one test split: no fold-to-fold interval" if kind == "none" else None,
            }
        )
    return draw(st.permutations(rows))  # the function orders by rows trained itself


@given(gain_rows())
@settings(max_examples=300, deadline=None)
def test_pays_from_is_true_of_every_larger_size_and_only_those(rows: list[dict]) -> None:
    ordered = sorted(rows, key=lambda r: r["n_train"])
    start = pays_from(rows)
    text = ensemble_sentence("e", rows)
    if start is None:
        assert not ordered[-1]["pays"]
        assert "pays from" not in text
        if ordered[-1]["note"]:
            assert "no interval at the largest size run" in text
        else:
            assert "is not better than the best single model beyond noise at the largest size run" in text
        return
    assert f"pays from {round(start['n_train']):,} training rows" in text
    i = ordered.index(start)
    assert all(r["pays"] for r in ordered[i:])
    assert i == 0 or not ordered[i - 1]["pays"]


# --------------------------------------------------------------------------------------------- tuning


@given(
    st.floats(-0.2, 0.2),
    st.one_of(st.none(), st.tuples(st.floats(-0.3, 0.3), st.floats(0, 0.3))),
    st.integers(1, 10),
)
@settings(max_examples=200, deadline=None)
def test_tuning_sentence_follows_its_interval(diff: float, ci: tuple | None, k: int) -> None:
    lo, hi = (None, None) if ci is None else (ci[0], ci[0] + ci[1])
    pair = {
        "tuned": "knn(tuned)",
        "default": "knn",
        "diff_mean": diff,
        "ci_low": lo,
        "ci_high": hi,
        "n_folds": k,
    }
    text = tuning_sentence(pair, "accuracy")
    assert f"{diff:+.4f} test accuracy" in text
    if lo is None:
        assert "no verdict" in text
    elif lo > 0:
        assert text.startswith("Tuning helped knn beyond noise")
    elif hi < 0:
        assert text.startswith("Tuning hurt knn beyond noise")
    else:
        assert "made no difference beyond noise" in text


def test_friedman_sentence() -> None:
    assert friedman_sentence({"p_value": None, "n_models": 2}, 0.05).startswith("Undefined (the tests need 3")
    assert friedman_sentence(
        {"p_value": 0.01, "iman_davenport_p_value": 0.001, "n_models": 4}, 0.05
    ).startswith("The models do not all perform alike")
    assert friedman_sentence({"p_value": 0.2, "iman_davenport_p_value": 0.3, "n_models": 4}, 0.05).startswith(
        "No evidence"
    )


def test_baseline_sentence_names_only_flagged_models() -> None:
    assert baseline_sentence([{"model": "a", "no_better_than_baseline": False}]) is None
    text = baseline_sentence(
        [{"model": "a", "no_better_than_baseline": True}, {"model": "b", "no_better_than_baseline": False}]
    )
    assert text is not None and text.startswith(f"a is {BASELINE_FLAG}") and "b" not in text.split(" is ")[0]


# --------------------------------------------------------------------------------------------- end to end


@st.composite
def results_tables(draw: st.DrawFn) -> pd.DataFrame:
    """Random results tables: 2-4 models (one the baseline) x 3-4 sizes x 3 folds of accuracy."""
    n_models = draw(st.integers(2, 4))
    sizes = [50, 100, 200, 400][: draw(st.integers(3, 4))]
    seed = draw(st.integers(0, 10_000))
    rng = np.random.default_rng(seed)
    level = {f"m{i}": draw(st.floats(0.3, 0.95)) for i in range(n_models - 1)}
    slope = {m: draw(st.floats(0.0, 0.2)) for m in level}
    rows = []
    for n in sizes:
        for fold in range(3):
            for model in ["dummy", *level]:
                acc = 0.34 if model == "dummy" else level[model] + slope[model] * np.log2(n / 50) / 3
                acc = float(np.clip(acc + rng.normal(0, 0.02), 0, 1))
                rows.append(
                    {"job_id": f"{model}-{n}-{fold}", "dataset": "d", "task_type": "classification", "model": model,
                     "fold": fold, "repeat": 0, "train_size": float(n), "n_train": n, "n_test": 60, "status": "ok",
                     "test_accuracy": acc, "train_accuracy": min(1.0, acc + 0.05)}
                )  # fmt: skip
    return pd.DataFrame(rows)


@given(results_tables())
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_report_prints_the_sentence_computed_from_the_curves_it_shows(results: pd.DataFrame) -> None:
    s = summarize(results, {"primary_metric": {"classification": "accuracy"}})
    sc = s["datasets"][0]["scaling"]
    said = scaling_sentences(sc["curves"], sc["crossovers"], sc["greater_is_better"])
    assert sc["sentences"] == said
    # the lead sentence is checked against the section's own means table
    winner = said["winner"]
    by_size = means(sc["curves"])
    if winner is not None and not sc["crossovers"]:
        on_top = all(winner in at and not any(v > at[winner] for v in at.values()) for at in by_size.values())
        assert ("leads at every size run" in said["lead"]) == on_top
    # flagged points never drive a crossover
    flagged = {
        (c["model"], p["n_train"]) for c in sc["curves"] for p in c["points"] if p["no_better_than_baseline"]
    }
    for c in sc["crossovers"]:
        for model in (c["model_a"], c["model_b"]):
            assert all((model, n) not in flagged for n in (c.get("n_low"), c.get("n_high")))
    html = render_html(s, plots=False)
    if said["lead"]:
        assert said["lead"].replace("'", "&#39;") in html
    if said["none"]:
        assert said["none"].replace("'", "&#39;") in html
