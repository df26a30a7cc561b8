"""Overfitting checks (mlbench.analysis.overfitting): planted overfitters through the real harness,
thresholds at their edges, the staged predictions against the fitted models, and the report dict."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlbench
from mlbench.analysis import overfitting as ovf


def _noisy_csv(folder: Path, flip: float = 0.3, seed: int = 0) -> Path:
    """breast_cancer with a fraction ``flip`` of its labels flipped at random (real data, noisy labels)."""
    from sklearn.datasets import load_breast_cancer

    df = load_breast_cancer(as_frame=True).frame
    flipped = np.random.default_rng(seed).random(len(df)) < flip
    df.loc[flipped, "target"] = 1 - df.loc[flipped, "target"]
    path = folder / "noisy.csv"
    df.to_csv(path, index=False)
    return path


def _suite(csv: Path, models: list, **extra) -> dict:
    return {
        "name": "ovf",
        "resampling": {"kind": "kfold", "folds": 3},
        "metrics": {"classification": ["accuracy", "log_loss"]},
        "datasets": [{"csv": str(csv), "target": "target", "name": "noisy"}],
        "models": models,
        "executor": {"workers": 2},
        **extra,
    }


def _kinds(checks: pd.DataFrame, model: str) -> dict[str, bool]:
    rows = checks[checks["model"] == model]
    return dict(zip(rows["kind"], rows["flagged"], strict=True))


# -- acceptance: through the real harness ----------------------------------------------------------


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("planted")
    models = [
        "decision_tree",  # no depth limit: memorises the flipped labels
        "logistic_regression",
        # 2,000 rounds at learning rate 1.0 (depth 2: the first rounds learn, the rest memorise noise)
        {"xgboost": {"n_estimators": 2000, "learning_rate": 1.0, "max_depth": 2}},
        {"random_forest": {"n_estimators": 30}},
    ]
    return mlbench.run(_suite(_noisy_csv(folder), models), output=folder / "run", quiet=True, report=False)


def test_planted_memoriser_is_flagged_and_logistic_regression_is_not(planted) -> None:
    checks = ovf.run_checks(planted)
    tree = checks[(checks["model"] == "decision_tree") & (checks["kind"] == "degradation")].iloc[0]
    assert tree["flagged"] and tree["metric"] == "accuracy" and tree["value"] > 0.3
    assert tree["threshold"] == ovf.DEGRADATION_THRESHOLD and tree["n_jobs"] == 3
    assert tree["option"] == "decision_tree: {max_depth: 5}" and tree["remedy"] in ovf.remedy_options()
    assert "train 1," in tree["message"]
    logreg = checks[checks["model"] == "logistic_regression"]
    # its training score is far above the baseline's: checked for underfitting too, and passes
    assert list(logreg["kind"]) == ["underfitting", "degradation"] and not logreg["flagged"].any()
    assert 0 <= logreg.query("kind == 'degradation'")["value"].iloc[0] < ovf.DEGRADATION_THRESHOLD
    flagged = ovf.flags(planted.results(), primary={"classification": "accuracy"})
    assert "logistic_regression" not in set(flagged["model"])
    assert list(flagged.columns) == ovf.FLAG_COLUMNS


def test_xgboost_with_2000_rounds_at_learning_rate_1_gets_the_boosting_flag(planted) -> None:
    checks = ovf.run_checks(planted)
    row = checks[(checks["model"].str.startswith("xgboost")) & (checks["kind"] == "boosting")].iloc[0]
    assert row["flagged"] and row["value"] > ovf.BOOSTING_THRESHOLD and row["n_jobs"] == 3
    assert "early_stopping_rounds" in row["option"]
    # the curve: 20 geometric points ending at the 2,000th round, best well before the end
    (curve,) = [c for c in ovf.staged_curves(planted.results()) if c["model"].startswith("xgboost")]
    assert curve["n_estimators"][0] == 1 and curve["n_estimators"][-1] == 2000
    assert len(curve["n_estimators"]) == 20 and curve["best_index"] < 10
    assert curve["train"][-1] == pytest.approx(1.0)  # memorised its (subsampled) training rows
    # the same run judged on log_loss: the late rounds' overconfidence makes it far worse
    on_loss = ovf.run_checks(planted, metric="log_loss")
    row = on_loss[(on_loss["model"].str.startswith("xgboost")) & (on_loss["kind"] == "boosting")].iloc[0]
    assert row["flagged"] and row["value"] > 0.5


def test_a_random_forest_is_checked_along_its_trees_and_more_trees_do_not_hurt(planted) -> None:
    checks = ovf.run_checks(planted)
    kinds = _kinds(checks, "random_forest")
    assert kinds == {
        "underfitting": False,
        "degradation": True,
        "boosting": False,
    }  # train 1.0 vs ~0.67; more trees never worse by 5%


def test_xgboost_early_stopping_cuts_the_staged_curve_at_its_kept_rounds_and_clears_the_flag(
    tmp_path: Path,
) -> None:
    # the planted overfitter of `planted` with early stopping: it trains 20 rounds past its best
    # one, but predicts with rounds 1..best_iteration + 1 only, so those are the rounds to judge
    es = {"n_estimators": 2000, "learning_rate": 1.0, "max_depth": 2, "early_stopping_rounds": 20}
    suite = _suite(_noisy_csv(tmp_path), [{"xgboost": {**es, "label": "xgb_es"}}])
    run = mlbench.run(suite, output=tmp_path / "run", quiet=True, report=False)
    res = run.results()
    assert set(res["status"]) == {"ok"}, res["error"].tolist()
    for _, row in res.iterrows():
        staged = json.loads(row["staged_json"])
        # the curve's last point is the job's own test score (before: the last trained round's)
        assert staged["test"]["log_loss"][-1] == pytest.approx(row["test_log_loss"], rel=1e-6)
        assert staged["test"]["accuracy"][-1] == pytest.approx(row["test_accuracy"])
        assert staged.get("kept") == staged["n_estimators"][-1] < staged.get("trained", 0) < 2000
    curves = ovf.staged_curves(res)
    assert curves and all(c["early_stopped"] and c["trained"] > c["n_estimators"][-1] for c in curves)
    for metric in ("accuracy", "log_loss"):
        checks = ovf.run_checks(run, metric=metric)
        rows = checks[(checks["model"] == "xgb_es") & (checks["kind"] == "boosting")]
        assert len(rows) == len(curves) and not rows["flagged"].any()
        assert rows["message"].str.contains("already remedied").all()
        assert rows["message"].str.contains(r"early stopping kept \d+ of \d+ rounds").all()
    # the report's plot marks the stopping round
    from mlbench.report.overfit import staged_plot

    fig = staged_plot(curves)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert any(t.startswith(f"stopped at {curves[0]['n_estimators'][-1]} of ") for t in texts)


def test_xgboost_staged_curve_ends_where_early_stopping_predicts() -> None:
    from sklearn.datasets import load_breast_cancer
    from xgboost import XGBClassifier

    from mlbench.models import MODELS

    X, y = load_breast_cancer(return_X_y=True)
    y = np.where(np.random.default_rng(0).random(len(y)) < 0.3, 1 - y, y)
    model = XGBClassifier(
        n_estimators=500, learning_rate=1.0, max_depth=2, early_stopping_rounds=10, n_jobs=1
    )
    model.fit(X[:400], y[:400], eval_set=[(X[400:], y[400:])], verbose=False)
    sizes, outputs, meta = MODELS.get("xgboost").staged(model, X)
    assert sizes[-1] == model.best_iteration + 1 == meta["kept"] < meta["trained"]
    assert meta["trained"] == model.get_booster().num_boosted_rounds()
    np.testing.assert_allclose(outputs[-1], model.predict_proba(X), rtol=1e-6)


def test_staged_predictions_are_the_fitted_models_own_at_full_size() -> None:
    from sklearn.datasets import load_wine
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from xgboost import XGBClassifier

    from mlbench.models import MODELS

    X, y = load_wine(return_X_y=True)
    forest = RandomForestClassifier(n_estimators=25, random_state=0).fit(X, y)
    sizes, outputs = MODELS.get("random_forest").staged(forest, X)
    assert sizes[0] == 1 and sizes[-1] == 25 and len(sizes) == len(outputs) <= 20
    np.testing.assert_allclose(outputs[-1], forest.predict_proba(X), rtol=1e-12)
    np.testing.assert_allclose(outputs[0], forest.estimators_[0].predict_proba(X.astype(np.float32)))
    reg = RandomForestRegressor(n_estimators=7, random_state=0).fit(X, y.astype(float))
    sizes, outputs = MODELS.get("random_forest").staged(reg, X)
    assert sizes == [1, 2, 3, 4, 5, 6, 7]
    np.testing.assert_allclose(outputs[-1], reg.predict(X))
    booster = XGBClassifier(n_estimators=30, max_depth=2, n_jobs=1).fit(X, y)
    sizes, outputs, meta = MODELS.get("xgboost").staged(booster, X)
    assert sizes[-1] == 30 and len(sizes) == 20 and meta == {"trained": 30, "kept": 30}
    np.testing.assert_allclose(outputs[-1], booster.predict_proba(X), rtol=1e-6)
    assert not np.allclose(outputs[0], outputs[-1])
    # binary (P(class 1) from the booster, both columns here) and regression, at an inner size too
    from sklearn.datasets import load_breast_cancer, load_diabetes
    from xgboost import XGBRegressor

    Xb, yb = load_breast_cancer(return_X_y=True)
    binary = XGBClassifier(n_estimators=40, max_depth=2, n_jobs=1).fit(Xb, yb)
    sizes, outputs, _ = MODELS.get("xgboost").staged(binary, Xb)
    np.testing.assert_allclose(outputs[4], binary.predict_proba(Xb, iteration_range=(0, sizes[4])), rtol=1e-6)
    Xr, yr = load_diabetes(return_X_y=True)
    regressor = XGBRegressor(n_estimators=40, max_depth=2, n_jobs=1).fit(Xr, yr)
    sizes, outputs, _ = MODELS.get("xgboost").staged(regressor, Xr)
    np.testing.assert_allclose(outputs[4], regressor.predict(Xr, iteration_range=(0, sizes[4])), rtol=1e-6)


def test_staged_sizes_are_geometric_and_end_at_n() -> None:
    from mlbench.models.base import staged_sizes

    assert staged_sizes(0) == [] and staged_sizes(1) == [1] and staged_sizes(5) == [1, 2, 3, 4, 5]
    sizes = staged_sizes(2000)
    assert len(sizes) == 20 and sizes[0] == 1 and sizes[-1] == 2000 and sizes == sorted(set(sizes))
    assert sizes[6] < 20  # geometric: the first rounds are resolved


# -- deep models: held-out loss per epoch -----------------------------------------------------------


def test_mlp_trained_too_long_on_noisy_labels_gets_the_val_loss_flag_and_early_stopping_clears_it(
    tmp_path: Path,
) -> None:
    mlp = {"hidden_sizes": [128, 128], "epochs": 150, "lr": 0.003, "batch_size": 64, "optimizer": "adamw"}
    models = [
        {"mlp": {**mlp, "label": "mlp_long"}},
        {"mlp": {**mlp, "early_stopping": 10, "label": "mlp_es"}},
    ]
    # fit_on_val: false holds the validation split out of training, so its loss is recorded per epoch
    suite = _suite(
        _noisy_csv(tmp_path), models, resampling={"kind": "holdout", "test_size": 0.3, "fit_on_val": False}
    )
    run = mlbench.run(suite, output=tmp_path / "run", quiet=True, report=False)
    res = run.results()
    assert set(res["status"]) == {"ok"}, res["error"].tolist()
    checks = ovf.run_checks(run)
    long = checks[(checks["model"] == "mlp_long") & (checks["kind"] == "val_loss")].iloc[0]
    assert long["flagged"] and long["value"] > ovf.VAL_LOSS_THRESHOLD and "early_stopping" in long["option"]
    es = checks[(checks["model"] == "mlp_es") & (checks["kind"] == "val_loss")].iloc[0]
    assert not es["flagged"] and "already remedied" in es["message"]
    curves = {c["model"]: c for c in ovf.loss_curves(res)}
    assert curves["mlp_es"]["restored"] and curves["mlp_es"]["kept_epoch"] < curves["mlp_es"]["epochs"][-1]
    assert not curves["mlp_long"]["restored"] and curves["mlp_long"]["kept_epoch"] == 150
    assert curves["mlp_long"]["min_epoch"] < 100


# -- thresholds at their edges ---------------------------------------------------------------------


def test_relative_worsening_direction_zero_and_missing() -> None:
    rw = ovf.relative_worsening
    assert rw(1.0, 0.875, True) == 0.125  # accuracy fell
    assert rw(1.0, 1.125, True) == -0.125  # test better than train: negative, never flagged
    assert rw(2.0, 2.25, False) == 0.125  # rmse rose: the sign flips for lower-is-better
    assert rw(2.0, 1.75, False) == -0.125
    assert rw(-0.5, -0.75, True) == 0.5  # a negative R^2 reference: divided by |reference|
    assert rw(0.0, 0.25, False) == math.inf and rw(0.0, 0.0, False) == 0.0  # a perfect train loss
    assert rw(0.0, -0.25, True) == math.inf
    assert rw(0.5, math.inf, False) == math.inf
    assert math.isnan(rw(math.nan, 0.5, True)) and math.isnan(rw(0.5, math.nan, True))


def _rows(**cols) -> pd.DataFrame:
    n = len(next(iter(cols.values())))
    base = {"dataset": ["d"] * n, "task_type": ["classification"] * n, "model": ["m"] * n, "status": ["ok"] * n,
            "train_size": [1.0] * n, "fold": list(range(n))}  # fmt: skip
    return pd.DataFrame({**base, **cols})


def test_degradation_threshold_is_strict_and_uses_the_mean_over_folds() -> None:
    # exactly representable values: 0.125 > 0.1 flagged, 0.09375 not
    flagged = ovf.checks(_rows(train_accuracy=[1.0, 1.0], test_accuracy=[0.875, 0.875]))
    assert flagged["flagged"].tolist() == [True] and flagged["value"].iloc[0] == 0.125
    ok = ovf.checks(_rows(train_accuracy=[1.0, 1.0], test_accuracy=[0.8125, 1.0]))  # mean 0.90625
    assert ok["flagged"].tolist() == [False] and ok["value"].iloc[0] == 0.09375
    # a loss metric is never divided by a training loss: train rmse 2, test 2.25 is measured as R²
    # against the baseline's rmse (the labels' sd, 2.5): 1 - 0.64 = 0.36 vs 1 - 0.81 = 0.19, a gap of 0.17
    reg = _rows(train_rmse=[2.0], test_rmse=[2.25]).assign(task_type="regression")
    labels = {"d": np.array([-2.5, 2.5] * 10)}
    row = ovf.checks(reg, labels=labels).query("kind == 'degradation'").iloc[0]
    assert row["metric"] == "rmse" and row["value"] == pytest.approx(0.17) and row["flagged"]
    assert "rmse as R² against the baseline" in row["message"]
    assert row["option"].startswith("sweep:")  # an unknown family gets the generic remedy: more data
    # without a baseline (no labels, no dummy jobs) an rmse has no bounded scale: not checked
    assert ovf.checks(reg).query("kind == 'degradation'").empty
    # failed jobs and missing scores are left out; no rows -> an empty table with the columns
    failed = _rows(train_accuracy=[1.0], test_accuracy=[0.5]).assign(status="failed")
    assert ovf.checks(failed).empty and list(ovf.checks(failed).columns) == ovf.FLAG_COLUMNS
    assert ovf.checks(pd.DataFrame()).empty


def _staged_json(test: list[float], train: list[float] | None = None) -> str:
    sizes = list(range(1, len(test) + 1))
    return json.dumps(
        {"n_estimators": sizes, "test": {"accuracy": test}, "train": {"accuracy": train or test}}
    )


def test_boosting_threshold_edges_and_direction() -> None:
    # best 0.8, last 0.76 -> exactly 5% worse: not flagged (strictly more than 5%); 0.75 -> 6.25%: flagged
    edge = _rows(train_accuracy=[0.9], test_accuracy=[0.76], staged_json=[_staged_json([0.7, 0.8, 0.76])])
    row = ovf.checks(edge).query("kind == 'boosting'").iloc[0]
    assert row["value"] == pytest.approx(0.05) and not row["flagged"]
    over = _rows(train_accuracy=[0.9], test_accuracy=[0.75], staged_json=[_staged_json([0.7, 0.8, 0.75])])
    assert ovf.checks(over).query("kind == 'boosting'")["flagged"].tolist() == [True]
    # two folds: their mean curve is judged (0.8 best, last (0.8 + 0.7) / 2 = 0.75)
    two = _rows(
        train_accuracy=[1.0, 1.0], test_accuracy=[0.8, 0.7],
        staged_json=[_staged_json([0.7, 0.8, 0.8]), _staged_json([0.7, 0.8, 0.7])],
    )  # fmt: skip
    (curve,) = ovf.staged_curves(two)
    assert (
        curve["test"] == pytest.approx([0.7, 0.8, 0.75]) and curve["best_index"] == 1 and curve["n_jobs"] == 2
    )
    # lower is better: log_loss rising from its minimum 0.4 to 0.5 is 25% worse
    loss = json.dumps({"n_estimators": [1, 2, 3], "test": {"log_loss": [0.6, 0.4, 0.5]}, "train": {}})
    rows = _rows(train_log_loss=[0.1], test_log_loss=[0.5], staged_json=[loss])
    row = ovf.checks(rows).query("kind == 'boosting'").iloc[0]
    assert row["metric"] == "log_loss" and row["value"] == pytest.approx(0.25) and row["flagged"]


def test_val_loss_check_from_histories() -> None:
    def hist(losses: list[float]) -> str:
        return json.dumps(
            [{"epoch": i + 1, "train_loss": 1.0 / (i + 1), "val_loss": v} for i, v in enumerate(losses)]
        )

    rising = _rows(
        train_accuracy=[1.0], test_accuracy=[0.99], history_json=[hist([1.0, 0.5, 0.6])], best_epoch=[3]
    )
    row = ovf.checks(rising).query("kind == 'val_loss'").iloc[0]
    assert row["value"] == pytest.approx(0.2) and row["flagged"] and "epoch 2" in row["message"]
    small = _rows(
        train_accuracy=[1.0], test_accuracy=[0.99], history_json=[hist([1.0, 0.5, 0.525])], best_epoch=[3]
    )
    assert not ovf.checks(small).query("kind == 'val_loss'")["flagged"].iloc[0]  # 5% rise: under 10%
    restored = rising.assign(best_epoch=[2])
    row = ovf.checks(restored).query("kind == 'val_loss'").iloc[0]
    assert not row["flagged"] and "kept epoch 2 of 3" in row["message"]
    no_val = _rows(
        train_accuracy=[1.0], test_accuracy=[0.99], history_json=[json.dumps([{"epoch": 1, "train_loss": 1}])]
    )
    assert ovf.checks(no_val).query("kind == 'val_loss'").empty  # nothing held out: not checked


# -- calibration by simulation: well-specified models on real data are not flagged --------------------


@pytest.mark.slow
def test_no_false_flags_for_well_specified_models_over_random_splits() -> None:
    """Logistic regression on clean real datasets and a random forest's tree curve, 20 splits each:
    the observed false-flag rates (point-estimate thresholds: no alpha is claimed, the rate depends on
    the test set's size)."""
    from sklearn.datasets import load_breast_cancer, load_iris, load_wine
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from mlbench.models import MODELS

    rows = []
    for name, loader in (("breast_cancer", load_breast_cancer), ("wine", load_wine), ("iris", load_iris)):
        X, y = loader(return_X_y=True)
        for seed in range(20):
            Xa, Xb, ya, yb = train_test_split(X, y, test_size=0.3, random_state=seed, stratify=y)
            lr = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000)).fit(Xa, ya)
            forest = RandomForestClassifier(n_estimators=50, random_state=seed, n_jobs=1).fit(Xa, ya)
            sizes, outputs = MODELS.get("random_forest").staged(forest, Xb)
            staged = {
                "n_estimators": sizes,
                "test": {"accuracy": [accuracy_score(yb, p.argmax(1)) for p in outputs]},
            }
            common = {
                "dataset": f"{name}-{seed}",
                "task_type": "classification",
                "status": "ok",
                "train_size": 1.0,
            }
            rows.append({**common, "model": "logistic_regression", "train_accuracy": lr.score(Xa, ya),
                         "test_accuracy": lr.score(Xb, yb)})  # fmt: skip
            rows.append({**common, "model": "random_forest_curve", "staged_json": json.dumps(staged)})
    checks = ovf.checks(pd.DataFrame(rows))
    checks["source"] = checks["dataset"].str.rsplit("-", n=1).str[0]
    rate = checks.groupby(["source", "kind"])["flagged"].agg(["sum", "count"])
    assert (rate["count"] == 20).all() and len(rate) == 6
    # breast_cancer (171 test rows) and wine (54): never flagged. iris (45 test rows, one error = 2.2
    # points of accuracy): the point-estimate threshold flags logistic regression in a few splits,
    # the known weakness of a fixed threshold on a small test set (README: Overfitting checks)
    assert rate.loc["breast_cancer", "sum"].sum() == 0 and rate.loc["wine", "sum"].sum() == 0, rate
    assert (rate.loc["iris", "sum"] <= 5).all(), rate  # measured: degradation 4/20, boosting 2/20


# -- capacity curves -----------------------------------------------------------------------------------


def _capacity_rows(tests: dict[str, list[float]], n_params: dict[str, int]) -> pd.DataFrame:
    rows = []
    for depth, scores in tests.items():
        label = f"decision_tree(max_depth={depth})"
        params = json.dumps({"max_depth": None if depth == "None" else int(depth)})
        for fold, t in enumerate(scores):
            rows.append({"dataset": "d", "task_type": "classification", "model": label, "status": "ok",
                         "train_size": 1.0, "n_train": 100, "fold": fold, "params_json": params,
                         "n_params": n_params[depth], "train_accuracy": 1.0, "test_accuracy": t})  # fmt: skip
    return pd.DataFrame(rows)


def test_capacity_curve_one_standard_error_rule() -> None:
    # depth 4 is best (0.9); depth 2 (0.88) is within its standard error (sd 0.049 / sqrt(4) = 0.0245); 1 is not
    tests = {
        "1": [0.7, 0.72, 0.74, 0.7],
        "2": [0.88, 0.86, 0.9, 0.88],
        "4": [0.84, 0.9, 0.96, 0.9],
        "None": [0.85] * 4,
    }
    (series,) = ovf.capacity_curves(_capacity_rows(tests, {"1": 3, "2": 7, "4": 31, "None": 90}))
    assert (
        series["family"] == "decision_tree"
        and series["param"] == "max_depth"
        and series["x_label"] == "parameters"
    )
    (size,) = series["sizes"]
    assert [p["x"] for p in size["points"]] == [3, 7, 31, 90]
    assert size["best"] == "decision_tree(max_depth=4)" and size["enough"] == "decision_tree(max_depth=2)"
    assert size["sentence"].startswith("More capacity stops helping at max_depth=2, 7 parameters")
    assert "one standard error (0.0245)" in size["sentence"]
    # still improving at the largest: the sentence says so
    rising = {"1": [0.7] * 2, "2": [0.8] * 2, "4": [0.9, 0.9]}
    (series,) = ovf.capacity_curves(_capacity_rows(rising, {"1": 3, "2": 7, "4": 31}))
    assert "still improves at the largest capacity tried (max_depth=4" in series["sizes"][0]["sentence"]
    # no n_params: the parameter itself is the axis, unlimited depth after the largest limit
    rows = _capacity_rows(tests, {"1": 3, "2": 7, "4": 31, "None": 90}).assign(n_params=None)
    (series,) = ovf.capacity_curves(rows)
    assert series["x_label"] == "max_depth" and [p["x"] for p in series["sizes"][0]["points"]] == [1, 2, 4, 8]
    # one value only, or no grid: no capacity series
    assert ovf.capacity_curves(_capacity_rows({"2": [0.8]}, {"2": 7})) == []


def test_capacity_curve_through_the_harness(tmp_path: Path) -> None:
    suite = {
        "name": "cap",
        "resampling": {"kind": "kfold", "folds": 3},
        "datasets": ["breast_cancer"],
        "models": [{"decision_tree": {"grid": {"max_depth": [1, 3, None]}}}],
        "sweep": {"train_sizes": [100, 1.0]},
        "executor": {"workers": 2},
    }
    run = mlbench.run(suite, output=tmp_path / "run", quiet=True, report=False)
    (series,) = ovf.capacity_curves(run.results())
    assert series["x_label"] == "parameters" and len(series["sizes"]) == 2
    for size in series["sizes"]:
        xs = [p["x"] for p in size["points"]]
        assert xs == sorted(xs) and size["points"][0]["value"] == 1 and size["points"][-1]["value"] is None
        assert size["enough"] in {p["model"] for p in size["points"]} and size["sentence"]


# -- the report ----------------------------------------------------------------------------------------


def test_report_overfitting_view(planted) -> None:
    from mlbench.report.build import summarize_run
    from mlbench.report.html import render_html

    summary = summarize_run(planted)
    (ds,) = summary["datasets"]
    view = ds["overfitting"]
    assert json.loads(json.dumps(view)) == view  # plain JSON
    assert view["metric"] == "accuracy" and view["thresholds"]["boosting"] == 0.05
    flagged = {(c["model"], c["kind"]) for c in view["checks"] if c["flagged"]}
    assert ("decision_tree", "degradation") in flagged and (
        "logistic_regression",
        "degradation",
    ) not in flagged
    assert any(m.startswith("xgboost") and k == "boosting" for m, k in flagged)
    assert view["n_flagged"] == len(flagged)
    assert all(c["value_text"] != "∞" and "e+" not in c["value_text"] for c in view["checks"])
    assert {c["model"].split("(")[0] for c in view["staged"]} == {"xgboost", "random_forest"}
    remedies = {r["remedy"]: r for r in view["remedies"]}
    assert list(remedies) == list(ovf.remedy_options())
    assert "decision_tree" in remedies["fewer parameters"]["models"]
    assert any(m.startswith("xgboost") for m in remedies["early stopping"]["models"])
    html = render_html(summary)
    assert 'id="overfitting"' in html and 'href="#overfitting"' in html
    assert "xgboost: {early_stopping_rounds: 20}" in html and "not flagged" in html


def test_report_without_overfitting_data_has_no_view() -> None:
    from mlbench.report.summarize import summarize

    summary = summarize(
        pd.DataFrame(
            {"dataset": ["d"], "model": ["m"], "status": ["failed"], "task_type": ["classification"]}
        )
    )
    assert summary["datasets"][0]["overfitting"] is None
