"""Ensembles of a run built from stored predictions (`mlbench.analysis.run_ensembles`), on real runs."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, log_loss

import mlbench
from mlbench.analysis.ensembles import weighted_blend
from mlbench.analysis.run_ensembles import build_ensembles, ensemble_job_id, pending_ensembles

HOLDOUT_VAL = {
    "name": "ens",
    "resampling": {"kind": "kfold", "folds": 3, "fit_on_val": False},
    "metrics": ["accuracy", "log_loss"],
    "datasets": ["wine"],
    "models": [
        {"decision_tree": {"max_depth": 3}},
        {"knn": {"n_neighbors": 7}},
        "logistic_regression",
    ],
    "executor": {"workers": 2},
}
PRIMARY = {"classification": "accuracy", "regression": "rmse"}
METRICS = {"classification": ["accuracy", "log_loss"], "regression": ["rmse", "r2"]}


def spec(kind: str, label: str | None = None, members=None, **params) -> SimpleNamespace:
    return SimpleNamespace(kind=kind, label=label or f"ensemble:{kind}", members=members, params=params)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    return mlbench.run(HOLDOUT_VAL, output=tmp_path_factory.mktemp("ens") / "run", quiet=True, report=False)


def build(run, specs, loader=None, results=None, **kw):
    return list(
        build_ensembles(
            run.results() if results is None else results,
            specs,
            loader or run.predictions,
            PRIMARY,
            METRICS,
            **kw,
        )
    )


def test_caruana_rows_are_the_weighted_blend_of_the_members(run) -> None:
    built = build(run, [spec("caruana", size=10)])
    assert len(built) == 3 and {b.row["status"] for b in built} == {"ok"}
    results = run.results()
    for b in built:
        row, preds = b.row, b.predictions
        weights = json.loads(row["members_json"])
        assert set(weights) == {"decision_tree", "knn", "logistic_regression"}
        assert sum(weights.values()) == pytest.approx(1.0)
        # the test predictions are exactly the members' test probabilities blended with these weights
        members = results[(results["fold"] == row["fold"]) & (results["model"].isin(weights))]
        P = np.stack([run.predictions(j)["test_proba"] for j in members.sort_values("model")["job_id"]])
        w = np.array([weights[m] for m in sorted(weights)])
        np.testing.assert_allclose(preds["test_proba"], weighted_blend(P.astype(float), w), atol=1e-6)
        y = preds["test_true"]
        assert row["test_accuracy"] == pytest.approx(accuracy_score(y, preds["test_proba"].argmax(1)))
        assert row["test_log_loss"] == pytest.approx(
            log_loss(y, preds["test_proba"], labels=[0, 1, 2]), rel=1e-5
        )
        assert row["val_in_fit"] is True and row["ensemble"] == "caruana" and row["left_out"] is None
        assert row["member_jobs"] == ",".join(sorted(members["job_id"]))


def test_selection_never_sees_test_rows_or_labels(run) -> None:
    before = {b.row["fold"]: b.row for b in build(run, [spec("caruana", size=10)])}

    def scrambled(job_id: str) -> dict[str, np.ndarray]:
        arrays = dict(run.predictions(job_id))
        rng = np.random.default_rng(abs(hash(job_id)) % 2**32)
        arrays["test_proba"] = rng.dirichlet(np.ones(3), size=len(arrays["test_true"])).astype(np.float32)
        arrays["test_true"] = rng.integers(0, 3, size=len(arrays["test_true"]))
        return arrays

    after = {b.row["fold"]: b.row for b in build(run, [spec("caruana", size=10)], loader=scrambled)}
    for fold, row in before.items():
        assert after[fold]["members_json"] == row["members_json"]  # same weights
        assert after[fold]["val_accuracy"] == row["val_accuracy"]
        assert after[fold]["test_accuracy"] != row["test_accuracy"]  # the test scores did change


def test_voting_and_stacking(run) -> None:
    built = build(run, [spec("voting", weights={"knn": 2.0}), spec("stacking")])
    voting = [b for b in built if b.row["ensemble"] == "voting"]
    stacking = [b for b in built if b.row["ensemble"] == "stacking"]
    assert len(voting) == len(stacking) == 3
    weights = json.loads(voting[0].row["members_json"])
    assert weights == {"decision_tree": 0.25, "knn": 0.5, "logistic_regression": 0.25}
    assert voting[0].row["val_in_fit"] is False
    assert {b.row["final_model"] for b in stacking} == {"LogisticRegression"}
    assert all(b.row["status"] == "ok" and 0.8 < b.row["test_accuracy"] <= 1.0 for b in stacking)


def test_rebuilding_is_idempotent_and_ids_are_stable(run, tmp_path: Path) -> None:
    specs = [spec("caruana", size=5), spec("voting")]
    rows = pd.DataFrame([b.row for b in build(run, specs)])
    # the run as it would be once these rows are stored: nothing is pending, nothing is rebuilt
    stored = pd.concat([run.results(), rows], ignore_index=True)
    assert pending_ensembles(run.results(), specs) == 6
    assert pending_ensembles(stored, specs) == 0
    assert build(run, specs, results=stored) == []
    assert len(build(run, specs, results=stored, rebuild=True)) == 6
    group = {"dataset": "wine", "fold": 0, "train_size": 1.0, "repeat": 0}
    assert ensemble_job_id(specs[0], group) == ensemble_job_id(spec("caruana", size=5), group)
    assert ensemble_job_id(specs[0], group) != ensemble_job_id(spec("caruana", size=6), group)


def test_a_failed_member_is_left_out_and_one_member_is_not_an_ensemble(run) -> None:
    results = run.results()
    knn_fold0 = (results["model"] == "knn") & (results["fold"] == 0)
    results.loc[knn_fold0, "status"] = "oom"
    built = {b.row["fold"]: b.row for b in build(run, [spec("voting")], results=results)}
    assert built[0]["status"] == "ok" and built[0]["left_out"] == "knn: oom"
    assert set(json.loads(built[0]["members_json"])) == {"decision_tree", "logistic_regression"}
    assert built[1]["left_out"] is None
    only_one = build(run, [spec("voting", members=("knn", "decision_tree"))], results=results)
    fold0 = next(b for b in only_one if b.row["fold"] == 0)
    assert fold0.row["status"] == "skipped" and "at least 2 members" in fold0.row["error"]
    assert fold0.predictions is None


def test_stacking_with_a_final_model_that_does_not_fit_the_task_is_skipped(run) -> None:
    from mlbench.plugins import load_plugin

    load_plugin(
        str(Path(__file__).parent / "plugins" / "faulty.py")
    )  # registers `prior`: classification only
    results = run.results().assign(task_type="regression")
    built = build(run, [spec("stacking", final="prior")], results=results)
    assert {b.row["status"] for b in built} == {"skipped"}
    assert "does not support regression" in built[0].row["error"]


# -- what the ensembles bought: the "pays" flag, checked by simulation --------------------------------


def _gain_table(
    rng: np.random.Generator, true_gain: float, n_folds: int = 5, noise: float = 0.01
) -> pd.DataFrame:
    """One dataset, 5 folds: two single models and an ensemble; the ensemble's test accuracy is
    the best single model's plus ``true_gain`` plus per-fold noise (shared fold effects cancel
    in the paired difference, as they do in real runs)."""
    rows = []
    fold_effect = rng.normal(0, 0.02, n_folds)
    for fold in range(n_folds):
        base = 0.85 + fold_effect[fold]
        scores = {
            "strong": (base + rng.normal(0, noise), 0.86),  # (test, mean val)
            "weak": (base - 0.1 + rng.normal(0, noise), 0.76),
            "ens": (base + true_gain + rng.normal(0, noise), 0.9),
        }
        for model, (test, val) in scores.items():
            rows.append(
                {"job_id": f"{model}{fold}", "dataset": "d", "task_type": "classification", "model": model,
                 "fold": fold, "repeat": 0, "train_size": 1.0, "n_train": 400, "n_test": 100, "status": "ok",
                 "test_accuracy": test, "val_accuracy": val + rng.normal(0, 0.01),
                 "val_in_fit": model == "ens", "ensemble": "caruana" if model == "ens" else None}
            )  # fmt: skip
    return pd.DataFrame(rows)


def test_pays_flag_false_positive_rate_and_power() -> None:
    from mlbench.analysis import ensemble_gains

    rng = np.random.default_rng(0)
    null = [ensemble_gains(_gain_table(rng, 0.0)).iloc[0] for _ in range(300)]
    assert {r["best_single"] for r in null} == {"strong"}  # chosen on validation
    false_positives = np.mean([r["pays"] for r in null])
    assert false_positives <= 0.05  # nominal one-sided 2.5%; the correction makes it conservative
    covered = np.mean([r["ci_low"] <= 0.0 <= r["ci_high"] for r in null])
    assert covered >= 0.95
    power = np.mean([ensemble_gains(_gain_table(rng, 0.05)).iloc[0]["pays"] for _ in range(300)])
    assert power >= 0.9


def test_the_best_single_model_is_chosen_on_validation_not_test() -> None:
    from mlbench.analysis import ensemble_gains

    table = _gain_table(np.random.default_rng(1), 0.0)
    # weak is made the best on test but stays worse on validation: it must not be the reference
    table.loc[table["model"] == "weak", "test_accuracy"] += 0.5
    row = ensemble_gains(table).iloc[0]
    assert row["best_single"] == "strong"
    # in-sample validation scores cannot choose: no comparison, and the row says why
    table["val_in_fit"] = True
    row = ensemble_gains(table).iloc[0]
    assert row["best_single"] is None or pd.isna(row["best_single"])
    assert "out-of-sample validation" in row["note"]


# -- end to end: suites with an ensembles block -------------------------------------------------------

NOISY = {"builtin": "synthetic_tabular", "n_samples": 600, "noise": 0.3, "name": "noisy"}
MEMORISER = ["decision_tree", "logistic_regression"]  # a full-depth tree memorises flipped labels


def _tree_weights(run) -> list[float]:
    rows = run.results()
    rows = rows[rows["ensemble"] == "caruana"] if "ensemble" in rows else rows.iloc[:0]
    return [json.loads(text)["decision_tree"] for text in rows["members_json"]]


def test_a_memoriser_takes_all_the_weight_in_sample_and_what_it_earns_under_cross_fit(tmp_path: Path) -> None:
    base = {"name": "mem", "datasets": [NOISY], "models": MEMORISER, "executor": {"workers": 2}}
    # in-sample validation predictions (the default, refused with an ensembles block): built by hand,
    # the tree looks perfect on its own training rows and takes every pick
    leaky = mlbench.run({**base, "resampling": {"kind": "kfold", "folds": 3}}, output=tmp_path / "leaky",
                        quiet=True, report=False)  # fmt: skip
    built = build(leaky, [spec("caruana", size=10)])
    assert [json.loads(b.row["members_json"])["decision_tree"] for b in built] == [1.0, 1.0, 1.0]
    with pytest.raises(mlbench.ConfigError, match=r"ensembles.*fit_on_val: false.*cross_fit"):
        mlbench.run({**base, "ensembles": ["caruana"]}, output=tmp_path / "refused")
    # cross-fitted validation predictions: the tree gets the weight its out-of-fold quality earns
    honest = mlbench.run(
        {**base, "resampling": {"kind": "kfold", "folds": 3, "val": "cross_fit", "inner_folds": 3},
         "ensembles": [{"caruana": {"size": 10}}]},
        output=tmp_path / "honest", quiet=True, report=False,
    )  # fmt: skip
    weights = _tree_weights(honest)
    assert len(weights) == 3 and max(weights) < 0.5
    res = honest.results()
    tree_val = res[res["model"] == "decision_tree"]["val_accuracy"]
    assert tree_val.max() < 0.9  # out-of-fold: no longer perfect


def test_a_suite_with_ensembles_builds_them_once_and_the_cli_rebuilds(tmp_path: Path) -> None:
    import subprocess
    import sys

    suite = {
        **HOLDOUT_VAL,
        "name": "withens",
        "ensembles": [
            {"caruana": {"size": 10}},
            "voting",
            {"stacking": {"members": ["knn", "logistic_regression"]}},
        ],
    }
    run = mlbench.run(suite, output=tmp_path / "r", quiet=True)
    res = run.results()
    ens = res[res["ensemble"].notna()]
    assert len(ens) == 9 and set(ens["status"]) == {"ok"}
    assert set(ens["model"]) == {"ensemble:caruana", "ensemble:voting", "ensemble:stacking"}
    assert "ensemble:caruana" in set(run.leaderboard()["model"])  # ranked like any model
    html = (tmp_path / "r" / "index.html").read_text()
    assert 'id="ensembles"' in html
    # a rerun has nothing to do: no run recorded, no ensemble rebuilt
    again = mlbench.run(suite, output=tmp_path / "r", quiet=True)
    assert len(again.runs()) == 1 and len(again.results(all_attempts=True)) == len(res)
    cli = [sys.executable, "-m", "mlbench.cli", "ensemble", str(tmp_path / "r"), "--no-report"]
    same = subprocess.run(cli, capture_output=True, text=True, timeout=120)
    assert same.returncode == 0 and "all up to date" in same.stderr
    rebuilt = subprocess.run([*cli, "--rebuild"], capture_output=True, text=True, timeout=120)
    assert rebuilt.returncode == 0 and "9 ok" in rebuilt.stderr
    after = mlbench.open_run(tmp_path / "r").results(all_attempts=True)
    again_rows = after[after["ensemble"].notna()]
    assert sorted(again_rows.groupby("job_id")["attempt"].max()) == [2] * 9  # the same rows, new attempts
    latest = mlbench.open_run(tmp_path / "r").results()
    pd.testing.assert_series_equal(
        latest[latest["ensemble"].notna()].set_index("job_id")["test_accuracy"].sort_index(),
        ens.set_index("job_id")["test_accuracy"].sort_index(),
    )


def test_bad_ensemble_inputs_are_skipped_rows_with_the_reason_and_the_run_goes_on(tmp_path: Path) -> None:
    suite = {
        "name": "badens",
        "resampling": {"kind": "kfold", "folds": 3, "fit_on_val": False},
        "datasets": ["diabetes", "iris"],
        "models": ["decision_tree", "knn"],
        "ensembles": [{"stacking": {"final": "logistic_regression"}}, "voting"],
        "executor": {"workers": 2},
    }
    run = mlbench.run(suite, output=tmp_path / "r", quiet=True, report=False)
    res = run.results()
    stacking = res[res["ensemble"] == "stacking"]
    # a classifier as the meta-model of a regression dataset: skipped, with the reason and the fix
    on_diabetes = stacking[stacking["dataset"] == "diabetes"]
    assert set(on_diabetes["status"]) == {"skipped"}
    assert "leave `final:` out to stack with Ridge" in on_diabetes["error"].iloc[0]
    assert set(stacking[stacking["dataset"] == "iris"]["status"]) == {"ok"}
    assert set(res[res["ensemble"] == "voting"]["status"]) == {"ok"}  # the other ensembles ran
