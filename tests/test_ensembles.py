"""Caruana ensemble selection on stored predictions (mlbench.analysis.ensembles).

Hand-made predictions whose right answer is known (a perfect member, complementary members,
duplicates for the tie rule, a trajectory that gets worse), the fast candidate scorers against
the registry metric on the explicit blend, input errors, and the contract that selection only
sees the validation rows it is given.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlbench.analysis.ensembles import (
    Selection,
    _candidate_scorer,
    _renormalise,
    caruana_selection,
    weighted_blend,
)
from mlbench.metrics import METRICS, Metric

CLASSIFICATION = ["accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "log_loss"]
REGRESSION = ["rmse", "mae", "r2"]
FAST = ["accuracy", "balanced_accuracy", "f1_macro", "log_loss", "rmse", "mae", "r2"]


def _probabilities(rng: np.random.Generator, m: int, n: int, k: int) -> np.ndarray:
    return rng.dirichlet(np.ones(k), size=(m, n))


def _confident(y: np.ndarray, k: int, p: float) -> np.ndarray:
    """Probability ``p`` on class ``y`` of each row, the rest spread evenly."""
    out = np.full((len(y), k), (1 - p) / (k - 1))
    out[np.arange(len(y)), y] = p
    return out


def _registry_score(name: str, y: np.ndarray, blend: np.ndarray, k: int) -> float:
    metric = METRICS.get(name)
    if metric.task_type == "classification" and not metric.needs_proba:
        blend = blend.argmax(axis=1)
    return float(metric.fn(y, blend, k))


# -- what the selection picks ----------------------------------------------------------------------
@pytest.mark.parametrize("name", CLASSIFICATION + REGRESSION)
def test_a_perfect_member_gets_all_the_weight(name):
    rng = np.random.default_rng(1)
    n, k = 60, 3
    y = rng.integers(0, k, n)
    if name in REGRESSION:
        y = rng.normal(size=n)
        members = [y + rng.normal(size=n), y + 0.5 * rng.normal(size=n), y.copy(), y - 0.3]
    else:
        mostly_right = np.where(np.arange(n) % 6 == 0, (y + 1) % k, y)  # wrong on every sixth row
        members = [*_probabilities(rng, 2, n, k), np.eye(k)[y], _confident(mostly_right, k, 0.6)]
    sel = caruana_selection(members, y, name, size=10)
    # the perfect member sits at index 2, so "argmin picks the first member" cannot pass by chance
    np.testing.assert_array_equal(sel.weights, [0, 0, 1, 0])
    assert sel.score == pytest.approx(_registry_score(name, y, members[2], k))


def test_complementary_members_share_the_weight_and_the_blend_beats_each():
    n = 100
    y = np.repeat([0, 1], n // 2)
    right, unsure = _confident(y, 2, 0.9), _confident(1 - y, 2, 0.7)  # "unsure" is confidently wrong
    first = np.where(np.arange(n)[:, None] < n // 2, right, unsure)  # right on the first half
    second = np.where(np.arange(n)[:, None] < n // 2, unsure, right)  # right on the second half
    sel = caruana_selection([first, second], y, "log_loss")
    assert (sel.weights > 0).all()
    alone = [_registry_score("log_loss", y, p, 2) for p in (first, second)]
    assert sel.score < min(alone)
    assert sel.score == pytest.approx(
        _registry_score("log_loss", y, weighted_blend([first, second], sel.weights), 2)
    )


def test_three_members_wrong_on_different_rows_vote_each_other_right():
    n, k = 90, 3
    rng = np.random.default_rng(0)
    y = rng.integers(0, k, n)
    members = []
    for third in range(3):
        p = _confident(y, k, 0.8)
        bad = np.arange(n) // 30 == third
        wrong = (y[bad] + 1) % k
        p[bad] = 0.2
        p[bad, y[bad]] = 0.35
        p[np.flatnonzero(bad), wrong] = 0.45
        members.append(p)
    sel = caruana_selection(members, y, "accuracy")
    assert [_registry_score("accuracy", y, p, k) for p in members] == pytest.approx([2 / 3] * 3)
    assert sel.score == 1.0
    assert (sel.weights > 0).sum() >= 2


def test_regression_errors_that_cancel_blend_to_the_truth():
    rng = np.random.default_rng(0)
    y = rng.normal(size=50)
    noise = rng.normal(size=50)
    sel = caruana_selection([y + noise, y - noise, y + 3 * noise], y, "rmse")
    np.testing.assert_allclose(sel.weights, [0.5, 0.5, 0.0])
    assert sel.score == pytest.approx(0.0, abs=1e-12)


# -- ties, seeds, use_best ----------------------------------------------------------------------
def test_ties_go_to_a_member_already_in_the_ensemble():
    rng = np.random.default_rng(0)
    n, k = 40, 3
    y = rng.integers(0, k, n)
    good = 0.5 * _confident(y, k, 0.9) + 0.5 * _probabilities(rng, 1, n, k)[0]
    worse = _probabilities(rng, 1, n, k)[0]
    first_picks = set()
    for seed in range(12):
        # members 0 and 1 are the same predictions: every round they tie exactly
        sel = caruana_selection([good, good.copy(), worse], y, "log_loss", size=10, seed=seed, use_best=False)
        assert sel.counts[2] == 0
        assert 0 in sel.counts[:2], f"seed {seed}: the duplicate pair was split: {sel.counts}"
        first_picks.add(int(sel.order[0]))
    assert first_picks == {0, 1}  # the first tie (nobody picked yet) is a random choice


def test_differences_below_the_tie_tolerance_do_not_buy_a_bigger_ensemble():
    # AutoGluon rounds scores to 6 decimals so near-identical members are not both picked; here
    # tie_rtol (1e-6, relative) does that. Blending these two beats either by ~1.25e-7 relative.
    d = 1e-3
    members = [np.array([1.0, 1 + d]), np.array([1 + d, 1.0])]
    y = np.zeros(2)
    for seed in range(4):
        sel = caruana_selection(members, y, "rmse", size=4, seed=seed, use_best=False)
        assert sorted(sel.counts.tolist()) == [0, 4]
    strict = caruana_selection(members, y, "rmse", size=4, tie_rtol=1e-12, use_best=False)
    assert (strict.counts > 0).all()


def test_the_seed_makes_tie_breaking_reproducible():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 30)
    p = _probabilities(rng, 1, 30, 2)[0]
    members = [p] * 6  # six identical members: the first pick is pure chance
    orders = {seed: caruana_selection(members, y, "accuracy", size=3, seed=seed).order for seed in range(20)}
    for seed, order in orders.items():
        np.testing.assert_array_equal(
            caruana_selection(members, y, "accuracy", size=3, seed=seed).order, order
        )
    assert len({int(order[0]) for order in orders.values()}) > 1
    generator_order = caruana_selection(members, y, "accuracy", size=3, seed=np.random.default_rng(7)).order
    np.testing.assert_array_equal(generator_order, orders[7])


def test_use_best_keeps_the_best_round_of_a_trajectory_that_gets_worse():
    # y = 0, members +1 and -1: the pair blends to 0, any third pick moves away again
    y = np.zeros(5)
    members = [np.ones(5), -np.ones(5)]
    best = caruana_selection(members, y, "rmse", size=3)
    np.testing.assert_allclose(best.trajectory, [1, 0, 1 / 3])
    assert (best.best_round, best.n_rounds, best.score) == (1, 2, 0.0)
    np.testing.assert_allclose(best.weights, [0.5, 0.5])
    every = caruana_selection(members, y, "rmse", size=3, use_best=False)
    assert every.n_rounds == 3 and every.score == pytest.approx(1 / 3)
    assert sorted(every.weights.tolist()) == pytest.approx([1 / 3, 2 / 3])
    # rounds 2 and 4 are equally good: the earlier (smaller) ensemble is kept
    assert caruana_selection(members, y, "rmse", size=4).n_rounds == 2


def test_weights_are_counts_over_the_kept_rounds():
    rng = np.random.default_rng(5)
    n, k = 80, 3
    y = rng.integers(0, k, n)
    members = [0.5 * _confident(y, k, 0.8) + 0.5 * p for p in _probabilities(rng, 6, n, k)]
    sel = caruana_selection(members, y, "log_loss", size=25)
    assert isinstance(sel, Selection)
    assert sel.counts.sum() == sel.n_rounds
    np.testing.assert_allclose(sel.weights, sel.counts / sel.n_rounds)
    np.testing.assert_array_equal(np.bincount(sel.order[: sel.n_rounds], minlength=6), sel.counts)
    assert sel.weights.sum() == pytest.approx(1.0)
    assert sel.score == pytest.approx(_registry_score("log_loss", y, weighted_blend(members, sel.weights), k))
    assert sel.metric == "log_loss" and sel.greater_is_better is False and sel.stop_reason is None
    with pytest.raises(ValueError):
        sel.weights[0] = 1.0  # read-only arrays
    with pytest.raises(dataclasses.FrozenInstanceError):
        sel.score = 0.0  # type: ignore[misc]


# -- non-finite members, renormalisation ----------------------------------------------------------
def test_members_with_non_finite_predictions_are_never_picked():
    rng = np.random.default_rng(0)
    n, k = 50, 3
    y = rng.integers(0, k, n)
    perfect_but_nan = np.eye(k)[y]
    perfect_but_nan[7, 0] = np.nan
    perfect_but_inf = np.eye(k)[y]
    perfect_but_inf[3, 1] = np.inf
    fine = _confident(y, k, 0.6)
    for name in ("accuracy", "log_loss", "roc_auc"):
        sel = caruana_selection([perfect_but_nan, fine, perfect_but_inf], y, name)
        np.testing.assert_array_equal(sel.weights, [0, 1, 0])
    with pytest.raises(ValueError, match="no member gives a finite"):
        caruana_selection([perfect_but_nan, perfect_but_inf], y, "accuracy")
    with pytest.raises(ValueError, match="no member gives a finite roc_auc"):
        caruana_selection([fine], np.zeros(n, dtype=int), "roc_auc")  # undefined with one class


def test_selection_stops_and_says_so_when_no_candidate_is_finite():
    calls = []

    def finite_in_round_one_only(y, pred, k):
        calls.append(1)
        return float(np.mean((y - pred) ** 2)) if len(calls) <= 2 else math.nan

    metric = Metric("flaky", "regression", False, False, finite_in_round_one_only)
    y = np.zeros(4)
    with pytest.warns(RuntimeWarning, match="no candidate gives a finite flaky"):
        sel = caruana_selection([np.ones(4), 2 * np.ones(4)], y, metric, size=5)
    assert len(sel.trajectory) == 1 and sel.stop_reason is not None
    np.testing.assert_array_equal(sel.weights, [1, 0])


def test_class_probability_blends_are_renormalised_per_row():
    rng = np.random.default_rng(0)
    n, k = 40, 3
    y = rng.integers(0, k, n)
    proper = _probabilities(rng, 1, n, k)[0]
    scale = rng.uniform(0.5, 3.0, size=(n, 1))
    unnormalised = proper * scale  # each row scaled differently
    sel = caruana_selection([unnormalised], y, "log_loss", size=1)
    assert sel.trajectory[0] == pytest.approx(_registry_score("log_loss", y, proper, k))
    blend = weighted_blend([unnormalised, proper], [0.5, 0.5])
    np.testing.assert_allclose(blend.sum(axis=1), 1.0)
    np.testing.assert_allclose(blend, _renormalise(0.5 * unnormalised + 0.5 * proper))
    # a row without any mass is read as uniform rather than dividing by zero
    np.testing.assert_allclose(_renormalise(np.zeros((1, 4))), 0.25)


def test_weighted_blend_ignores_members_with_zero_weight():
    a, b = np.array([1.0, 2.0]), np.array([np.nan, np.nan])
    np.testing.assert_allclose(weighted_blend([a, b, 3 * a], [1, 0, 1]), 2 * a)
    with pytest.raises(ValueError, match="non-negative"):
        weighted_blend([a, a], [1, -1])
    with pytest.raises(ValueError, match="one entry per member"):
        weighted_blend([a, a], [1])


# -- fast paths equal the registry metric -----------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    name=st.sampled_from(FAST),
    m=st.integers(1, 4),
    n=st.integers(1, 30),
    k=st.integers(2, 4),
    picks=st.integers(0, 4),
    coarse=st.booleans(),
)
def test_every_fast_path_equals_the_registry_metric_on_the_blend(seed, name, m, n, k, picks, coarse):
    rng = np.random.default_rng(seed)
    metric = METRICS.get(name)
    if metric.task_type == "classification":
        P = _probabilities(rng, m, n, k)
        if coarse:
            # eighths: exact argmax ties between classes, rows that do not sum to one, missing classes
            P = np.round(P * 8) / 8
        y = rng.integers(0, k if not coarse else max(1, k - 1), n)
    else:
        k = 0
        P = rng.normal(size=(m, n))
        y = np.full(n, 1.5) if coarse else rng.normal(size=n)  # constant y: R2's special case
    S = P[rng.integers(0, m, picks)].sum(axis=0) if picks else np.zeros(P.shape[1:])
    scorer = _candidate_scorer(metric, P, y, np.ones(m, dtype=bool))
    with np.errstate(divide="ignore", invalid="ignore"):
        fast = scorer(S, picks)
    for i in range(m):
        blend = _renormalise(S + P[i]) if k else (S + P[i]) / (picks + 1)
        expected = _registry_score(name, y, blend, k)
        if math.isnan(expected):
            assert math.isnan(fast[i])
        else:
            assert fast[i] == pytest.approx(expected, rel=1e-9, abs=1e-12), (name, i)


@pytest.mark.parametrize("name", FAST)
@pytest.mark.parametrize("seed", [0, 1])
def test_fast_and_per_candidate_selection_agree(name, seed):
    # a copy of the registered Metric is not the registered object: it goes the per-candidate path
    rng = np.random.default_rng(seed)
    n, k, m = 120, 4, 6
    if name in REGRESSION:
        y = rng.normal(size=n)
        P = y + rng.normal(size=(m, n)) * rng.uniform(0.5, 2, size=(m, 1))
    else:
        y = rng.integers(0, k, n)
        P = np.stack([0.4 * _confident(y, k, 0.7) + 0.6 * p for p in _probabilities(rng, m, n, k)])
    fast = caruana_selection(P, y, name, size=15, seed=seed)
    slow = caruana_selection(P, y, dataclasses.replace(METRICS.get(name)), size=15, seed=seed)
    np.testing.assert_array_equal(fast.order, slow.order)
    np.testing.assert_allclose(fast.trajectory, slow.trajectory, rtol=1e-9)


# -- input errors ------------------------------------------------------------------------------
_Y = np.array([0, 1, 2, 1])
_P = np.full((2, 4, 3), 1 / 3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"predictions": [], "y_true": _Y, "metric": "accuracy"}, "at least one member"),
        ({"predictions": np.empty((0, 4, 3)), "y_true": _Y, "metric": "accuracy"}, "at least one member"),
        ({"predictions": np.empty((2, 0, 3)), "y_true": _Y[:0], "metric": "accuracy"}, "no rows"),
        ({"predictions": [_P[0], _P[0][:3]], "y_true": _Y, "metric": "accuracy"}, "same shape"),
        ({"predictions": _P[:, :, 0], "y_true": _Y, "metric": "accuracy"}, "n_classes"),
        ({"predictions": _P, "y_true": _Y, "metric": "rmse"}, r"\(n_members, n_rows\)"),
        ({"predictions": _P[:, :, :1], "y_true": _Y * 0, "metric": "accuracy"}, "at least 2 columns"),
        ({"predictions": _P, "y_true": _Y[:3], "metric": "accuracy"}, "one value per predicted row"),
        ({"predictions": _P, "y_true": np.array([0, 1, 3, 1]), "metric": "accuracy"}, "outside 0..2"),
        ({"predictions": _P, "y_true": np.array([0, -1, 2, 1]), "metric": "accuracy"}, "outside 0..2"),
        ({"predictions": _P, "y_true": np.array([0, 0.5, 2, 1]), "metric": "accuracy"}, "class codes"),
        ({"predictions": _P, "y_true": np.array(list("abca")), "metric": "accuracy"}, "LabelEncoder"),
        ({"predictions": -_P, "y_true": _Y, "metric": "accuracy"}, ">= 0"),
        ({"predictions": _P[:, :, 0], "y_true": np.array([0, np.nan, 1, 2]), "metric": "rmse"}, "finite"),
        ({"predictions": _P, "y_true": _Y, "metric": "acuracy"}, "accuracy"),  # did-you-mean
        ({"predictions": _P, "y_true": _Y, "metric": 3}, "metric name"),
        ({"predictions": _P, "y_true": _Y, "metric": "accuracy", "size": 0}, "size"),
        ({"predictions": _P, "y_true": _Y, "metric": "accuracy", "size": 2.5}, "size"),
        ({"predictions": _P, "y_true": _Y, "metric": "accuracy", "size": True}, "size"),
        ({"predictions": _P, "y_true": _Y, "metric": "accuracy", "tie_rtol": -1.0}, "tie_rtol"),
    ],
)
def test_bad_inputs_raise_clear_value_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        caruana_selection(**kwargs)


# -- the selection never sees test rows ---------------------------------------------------------------
def test_test_predictions_and_labels_do_not_move_the_weights():
    """Selection takes validation predictions and labels only; test rows are for scoring the blend."""
    rng = np.random.default_rng(0)
    n, k = 80, 3
    y_val = rng.integers(0, k, n)
    flipped = (k - 1) - y_val
    # member 0 knows the validation labels, member 1 knows them flipped, member 2 is noise
    val = np.stack([_confident(y_val, k, 0.7), _confident(flipped, k, 0.7), *_probabilities(rng, 1, n, k)])
    y_test = rng.integers(0, k, n)
    test = _probabilities(rng, 3, n, k)

    def select_then_score(val_p, y_v, test_p, y_t):
        sel = caruana_selection(val_p, y_v, "log_loss", seed=0)
        return sel.weights, _registry_score("log_loss", y_t, weighted_blend(test_p, sel.weights), k)

    weights, test_score = select_then_score(val, y_val, test, y_test)
    # every test prediction and label changed: the weights stay, only the test score moves
    other_test = _probabilities(rng, 3, n, k)
    other_y_test = (y_test + 1) % k
    same_weights, other_score = select_then_score(val, y_val, other_test, other_y_test)
    np.testing.assert_array_equal(same_weights, weights)
    assert other_score != test_score
    # the validation labels, on the other hand, decide the weights
    np.testing.assert_array_equal(weights, [1, 0, 0])
    np.testing.assert_array_equal(select_then_score(val, flipped, test, y_test)[0], [0, 1, 0])
