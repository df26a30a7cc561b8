"""Leaderboards over results tables with failures (mlbench.analysis.stats): partial models, ties.

The tables are shaped like :func:`mlbench.load_results`: one row per job, failed jobs recorded
with their status and no scores.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mlbench.analysis import (
    critical_difference,
    friedman_test,
    leaderboard,
    ranks,
    summarize_scores,
    wilcoxon_holm,
)

# Fold difficulty: folds 3 and 4 are the hard ones on every dataset.
EASE = np.array([0.95, 0.93, 0.90, 0.70, 0.65])


def job_rows(dataset: str, model: str, scores: np.ndarray, failed: tuple[int, ...] = ()) -> list[dict]:
    """5-fold jobs of one model on one dataset at the full size; ``failed`` folds raised."""
    rows = []
    for fold, score in enumerate(scores):
        bad = fold in failed
        rows.append(
            {"job_id": f"{dataset}-{model}-{fold}", "dataset": dataset, "task_type": "classification",
             "model": model, "fold": fold, "repeat": 0, "train_size": 1.0,
             "n_train": np.nan if bad else 400.0, "n_test": 100.0, "status": "failed" if bad else "ok",
             "error": "RuntimeError: boom" if bad else None,
             "test_accuracy": np.nan if bad else float(score),
             "train_accuracy": np.nan if bad else float(score) + 0.02,
             "fit_seconds": np.nan if bad else 1.0}
        )  # fmt: skip
    return rows


def fragile_table(n_datasets: int = 3) -> pd.DataFrame:
    """``steady`` completes every fold; ``fragile`` is 0.02 worse on every fold and fails on the two
    hardest ones, so the mean of its own folds (0.907 on d0) is far above steady's (0.826)."""
    rows = []
    for d in range(n_datasets):
        shift = 0.01 * d
        rows += job_rows(f"d{d}", "steady", EASE - shift)
        rows += job_rows(f"d{d}", "fragile", EASE - shift - 0.02, failed=(3, 4))
    return pd.DataFrame(rows)


def test_a_partial_model_is_compared_on_the_folds_every_model_completed():
    res = fragile_table()
    # its own folds alone would put it first everywhere
    own = summarize_scores(res).set_index(["dataset", "model"])
    assert own.loc[("d0", "fragile"), "status"] == "partial"
    assert own.loc[("d0", "fragile"), "mean"] == pytest.approx((EASE[:3] - 0.02).mean())
    assert own.loc[("d0", "fragile"), "mean"] > own.loc[("d0", "steady"), "mean"]

    r = ranks(res).set_index(["dataset", "model"])
    for d in ("d0", "d1", "d2"):
        assert r.loc[(d, "steady"), "rank"] == 1.0 and r.loc[(d, "fragile"), "rank"] == 2.0
        # both scored on folds 0-2: the same units, so the difference is the per-fold one
        assert r.loc[(d, "steady"), "score"] - r.loc[(d, "fragile"), "score"] == pytest.approx(0.02)
        assert r.loc[(d, "steady"), "n_compared"] == 3 and r.loc[(d, "steady"), "n_units"] == 5
        assert "3 of 5 folds" in r.loc[(d, "fragile"), "compared_note"]
        assert r.loc[(d, "fragile"), "status"] == "partial"
    board = leaderboard(res).set_index("model")
    assert list(board.index) == ["steady", "fragile"]
    assert board.loc["steady", "win_rate"] == 1.0 and board.loc["fragile", "win_rate"] == 0.0
    assert board.loc["fragile", "n_partial"] == 3 and board.loc["fragile", "n_failed"] == 0
    assert board.loc["fragile", "mean_normalized_score"] == 0.0
    # the tests across datasets see the same scores
    assert critical_difference(res)["mean_ranks"] == {"steady": 1.0, "fragile": 2.0}
    six = fragile_table(6)
    (w,) = wilcoxon_holm(six).itertuples(index=False)
    assert w.better == "steady" and w.p_value == pytest.approx(2 / 2**6)


def test_a_partial_model_sharing_no_fold_with_the_others_counts_as_failed():
    rows = []
    for d in range(3):
        rows += job_rows(f"d{d}", "steady", EASE)
        rows += job_rows(f"d{d}", "fragile", EASE - 0.02, failed=(3, 4))
        # finished only the hard folds, which fragile never finished: nothing to compare on
        rows += job_rows(f"d{d}", "late", EASE + 0.04, failed=(0, 1, 2))
    res = pd.DataFrame(rows)
    r = ranks(res).set_index(["dataset", "model"])
    assert r.loc[("d0", "late"), "rank"] == 3.0 and math.isnan(r.loc[("d0", "late"), "score"])
    assert r.loc[("d0", "late"), "status"] == "partial"
    assert r.loc[("d0", "late"), "compared_note"].startswith("not compared: none of its 2 completed")
    assert r.loc[("d0", "steady"), "rank"] == 1.0 and r.loc[("d0", "steady"), "n_compared"] == 3
    board = leaderboard(res).set_index("model")
    assert board.loc["late", "n_failed"] == 3 and board.loc["late", "n_partial"] == 0
    f = friedman_test(res)
    assert f["models"] == ["fragile", "steady"] and "d0 (partial)" in f["left_out"]["late"]


def test_equal_mean_ranks_go_to_the_model_with_fewer_failures():
    rows = []
    # d0: "a" fails every fold (last), "b" wins; d1: "a" wins, "b" second. Mean ranks tie at 1.5,
    # normalised scores tie at 0.5, and "a" comes first by name.
    rows += job_rows("d0", "a", EASE, failed=(0, 1, 2, 3, 4))
    rows += job_rows("d0", "b", EASE)
    rows += job_rows("d1", "a", EASE)
    rows += job_rows("d1", "b", EASE - 0.05)
    board = leaderboard(pd.DataFrame(rows))
    assert board["mean_rank"].tolist() == [1.5, 1.5]
    assert board["mean_normalized_score"].tolist() == [0.5, 0.5]
    assert board["model"].tolist() == ["b", "a"] and board["n_failed"].tolist() == [0, 1]


def test_complete_models_keep_every_fold():
    rows = []
    for d in range(3):
        rows += job_rows(f"d{d}", "steady", EASE)
        rows += job_rows(f"d{d}", "other", EASE - 0.01)
    r = ranks(pd.DataFrame(rows))
    assert (r["n_compared"] == 5).all() and r["compared_note"].isna().all()
    assert r.set_index(["dataset", "model"]).loc[("d0", "steady"), "score"] == pytest.approx(EASE.mean())
