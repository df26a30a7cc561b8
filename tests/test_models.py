"""Every registered model runs on tiny data through run_job; static parameter lists are true."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest

from mlbench.execution.job import run_job
from mlbench.models import MODELS
from mlbench.models.preprocessing import make_preprocessor
from mlbench.suite import parse_suite


def _job(model: str, dataset: str, params: dict | None = None, **suite_extra):
    entry = model if not params else {model: params}
    import yaml

    text = yaml.safe_dump(
        {
            "name": "t",
            "resampling": {"kind": "holdout", "test_size": 0.3},
            "datasets": [{"builtin": dataset}],
            "models": [entry],
            **suite_extra,
        }
    )
    return parse_suite(text).expand()[0]


BUILTIN_MODELS = [
    "decision_tree",
    "random_forest",
    "extra_trees",
    "hist_gradient_boosting",
    "knn",
    "logistic_regression",
    "xgboost",
]
#: the families of the optional extra mlbench[boosters] (their tests skip without the libraries)
BOOSTERS = ["lightgbm", "catboost"]
#: small, fast settings per family for the tests
FAST = {
    "random_forest": {"n_estimators": 10},
    "extra_trees": {"n_estimators": 10},
    "xgboost": {"n_estimators": 10},
    "hist_gradient_boosting": {"max_iter": 20},
    "lightgbm": {"n_estimators": 20},
    "catboost": {"iterations": 20},
}


def _needs(name: str) -> None:
    if name in BOOSTERS:
        pytest.importorskip(name)  # a third-party library of the optional extra


@pytest.mark.parametrize("name", [*BUILTIN_MODELS, *BOOSTERS])
@pytest.mark.parametrize("dataset", ["iris", "diabetes"])
def test_every_model_runs_and_scores(name, dataset):
    _needs(name)
    row, preds = run_job(_job(name, dataset, FAST.get(name)))
    assert row["status"] == "ok"
    if dataset == "iris":
        assert row["test_accuracy"] > 0.8
        assert preds["test_proba"].shape == (len(preds["test_index"]), 3)
        np.testing.assert_allclose(preds["test_proba"].sum(axis=1), 1, atol=1e-5)
        assert set(preds) >= {"val_index", "val_proba", "test_pred"}
    else:
        assert row["test_r2"] > 0.0 or name == "decision_tree"
        assert np.isfinite(row["test_rmse"])
    assert row["fit_seconds"] > 0 and row["peak_memory_mb"] > 10


@pytest.mark.parametrize("name", [*BUILTIN_MODELS, *BOOSTERS])
def test_static_param_names_match_the_estimators(name):
    _needs(name)
    info = MODELS.get(name)
    for task in info.task_types:
        est = info.factory({}, task, 0, 1)
        real = set(est.get_params())
        if name == "knn":
            real.add("device")  # mlbench's own: picks scikit-learn or the torch KNN
        if name == "lightgbm":
            from lightgbm.basic import _ConfigAliases

            from mlbench.models.lightgbm_model import MLBENCH_PARAMS

            # core parameters the scikit-learn wrapper passes through **kwargs must be LightGBM's
            passthrough = info.param_names[task] - real - MLBENCH_PARAMS
            assert passthrough <= set(_ConfigAliases._get_all_param_aliases()), passthrough
            real |= passthrough | MLBENCH_PARAMS
            real.discard("device_type")  # set from mlbench's `device`
        if name == "catboost":
            from mlbench.models.catboost_model import HARNESS_PARAMS

            # CatBoost's get_params lists only what was set: its constructor lists them all
            real = set(inspect.signature(type(est).__init__).parameters) - {"self"} - HARNESS_PARAMS
            real.add("device")
        # mlbench sets random_state / n_jobs from the job itself
        assert info.param_names[task] <= real, info.param_names[task] - real
        missing = real - info.param_names[task] - {"random_state", "n_jobs", "callbacks", "verbose", "copy_X"}
        missing -= {
            "missing",
            "enable_categorical",
            "feature_types",
            "feature_weights",
        }  # xgboost data plumbing
        assert not missing, f"{name}/{task}: parameters users cannot set: {missing}"


def _plain_folds(dataset: str, folds: int = 3):
    from sklearn.model_selection import KFold, StratifiedKFold

    ds = mlbench_dataset(dataset)
    X = ds.X.to_numpy(dtype=np.float64)
    cv = (StratifiedKFold if ds.task_type == "classification" else KFold)(folds, shuffle=True, random_state=0)
    return X, ds.y, list(cv.split(X, ds.y))


def _plain_estimator(name: str, task: str, seed: int):
    """The plain library's estimator with the settings of FAST, seeded and threaded as mlbench does."""
    classify = task == "classification"
    if name == "lightgbm":
        import lightgbm

        cls = lightgbm.LGBMClassifier if classify else lightgbm.LGBMRegressor
        return cls(n_estimators=20, random_state=seed, n_jobs=1, verbose=-1)
    if name == "catboost":
        import catboost

        cls = catboost.CatBoostClassifier if classify else catboost.CatBoostRegressor
        return cls(iterations=20, random_seed=seed, thread_count=1, verbose=False, allow_writing_files=False)
    from sklearn import ensemble

    if name == "extra_trees":
        cls = ensemble.ExtraTreesClassifier if classify else ensemble.ExtraTreesRegressor
        return cls(n_estimators=10, random_state=seed, n_jobs=1)
    cls = ensemble.HistGradientBoostingClassifier if classify else ensemble.HistGradientBoostingRegressor
    return cls(max_iter=20, random_state=seed)


@pytest.mark.parametrize("name", ["extra_trees", "hist_gradient_boosting", *BOOSTERS])
@pytest.mark.parametrize("dataset", ["wine", "diabetes"])
def test_per_fold_scores_equal_the_plain_librarys_on_the_same_splits_and_seeds(name, dataset):
    import yaml
    from sklearn.metrics import accuracy_score, root_mean_squared_error

    _needs(name)
    text = yaml.safe_dump(
        {
            "name": "parity",
            "seed": 0,
            "baseline": False,
            "resampling": {"kind": "kfold", "folds": 3},
            "datasets": [{"builtin": dataset}],
            "models": [{name: FAST[name]}],
        }
    )
    jobs = sorted(parse_suite(text).expand(), key=lambda j: j.fold)
    X, y, folds = _plain_folds(dataset)
    for job, (train, test) in zip(jobs, folds, strict=True):
        row, preds = run_job(job)
        np.testing.assert_array_equal(np.sort(preds["test_index"]), test)  # the same rows
        plain = _plain_estimator(name, row["task_type"], job.seed).fit(X[train], y[train])
        if row["task_type"] == "classification":
            assert row["test_accuracy"] == accuracy_score(y[test], plain.predict(X[test]).ravel())
        else:
            assert row["test_rmse"] == pytest.approx(
                root_mean_squared_error(y[test], plain.predict(X[test])), rel=1e-9
            )


def test_catboost_takes_the_table_pipelines_categorical_columns_natively(tmp_path):
    pytest.importorskip("catboost")
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 300
    colour = rng.choice(["red", "green", "blue"], size=n)
    size = rng.normal(size=n)
    y = np.where((colour == "red") ^ (size > 0.5), "yes", "no")
    pd.DataFrame({"colour": colour, "size": size, "y": y}).to_csv(tmp_path / "t.csv", index=False)
    job = _job("catboost", "iris", {"iterations": 30})
    import dataclasses

    job = dataclasses.replace(job, dataset_spec={"csv": str(tmp_path / "t.csv"), "target": "y"})
    from mlbench.datasets import load_dataset
    from mlbench.fitting import build_estimator
    from mlbench.models.base import final_estimator

    ds = load_dataset(job.dataset_spec)
    assert ds.feature_kinds["colour"] == "categorical"
    est = build_estimator(job, MODELS.get("catboost"), "classification", ds.tabular_feature_kinds())
    est.fit(ds.X, ds.y)
    model = final_estimator(est)
    # the colour column reaches CatBoost as text, as a categorical feature (not one-hot columns)
    assert model.get_params()["cat_features"] == ["colour"]
    assert [model.feature_names_[i] for i in model.get_cat_feature_indices()] == ["colour"]
    row, _ = run_job(job)
    assert row["status"] == "ok" and row["test_accuracy"] > 0.9


@pytest.mark.parametrize("name", BOOSTERS)
def test_booster_early_stopping_and_staged_scores_end_at_the_kept_rounds(name):
    _needs(name)
    rounds = "n_estimators" if name == "lightgbm" else "iterations"
    row, _ = run_job(_job(name, "breast_cancer", {rounds: 400, "early_stopping_rounds": 5}))
    assert row["status"] == "ok" and row["n_fit"] < row["n_train"]  # stopping rows held out
    staged = json.loads(row["staged_json"])
    assert staged["kept"] < staged["trained"] <= 400 and staged["n_estimators"][-1] == staged["kept"]
    # the last staged point is the fitted model: the job's own test score
    assert staged["test"]["accuracy"][-1] == row["test_accuracy"]


def test_lightgbm_reports_every_tenth_round_so_poor_trials_are_pruned():
    pytest.importorskip("lightgbm")
    pytest.importorskip("optuna")
    space = {"learning_rate": {"float": [0.001, 0.5], "log": True}, "num_leaves": {"int": [2, 31]}}
    row, _ = run_job(
        _job("lightgbm", "breast_cancer", {"n_estimators": 40, "tune": {"trials": 12, "space": space}})
    )
    assert row["status"] == "ok"
    trials = row["tune_trials"]
    assert all(min(t["intermediate"]) == 4 for t in trials)  # rounds 4, 8, ... 40
    assert {t["state"] for t in trials} == {"complete", "pruned"}


@pytest.mark.parametrize("name", BOOSTERS)
def test_booster_gpu_paths_fall_back_to_the_cpu_without_cuda(name):
    _needs(name)
    from mlbench.hardware import cuda_present

    if cuda_present():
        pytest.skip("a CUDA card is present: the GPU path is taken (make gpu-check)")
    row, _ = run_job(_job(name, "iris", FAST[name]))  # device: auto
    assert row["status"] == "ok" and row["device"] == "cpu"


@pytest.mark.gpu
@pytest.mark.parametrize("name", BOOSTERS)
def test_booster_runs_on_the_gpu_when_one_is_present(name):
    _needs(name)
    from mlbench.hardware import cuda_present

    if not cuda_present():
        pytest.skip("needs a CUDA GPU")
    device = "gpu" if name == "lightgbm" else "cuda"
    row, _ = run_job(_job(name, "breast_cancer", {**FAST[name], "device": device}))
    assert row["status"] == "ok" and row["device"] == "cuda" and row["test_accuracy"] > 0.85


def test_user_params_reach_the_estimator_and_seed_is_the_jobs():
    info = MODELS.get("random_forest")
    est = info.factory(
        info.params_for({"n_estimators": 7, "max_depth": 3}, "classification"), "classification", 5, 1
    )
    assert (est.n_estimators, est.max_depth, est.random_state) == (7, 3, 5)
    assert MODELS.get("logistic_regression").params_for({}, "classification") == {"max_iter": 1000}


def test_unknown_model_says_did_you_mean():
    from mlbench.errors import ModelError

    with pytest.raises(ModelError, match="Did you mean 'decision_tree'"):
        MODELS.get("decison_tree")


def test_xgboost_early_stopping_holds_out_part_of_its_own_training_rows():
    job = _job(
        "xgboost", "digits", {"n_estimators": 500, "early_stopping_rounds": 5}, sweep={"train_sizes": [300]}
    )
    row, _ = run_job(job)
    assert row["status"] == "ok"
    # n_train labelled rows in all: 80% fitted, 20% used to decide when to stop
    assert row["n_train"] == 300 and row["n_fit"] == 240


def test_missing_classes_in_a_small_subset_keep_full_probability_columns():
    row, preds = run_job(_job("xgboost", "digits", {"n_estimators": 5}, sweep={"train_sizes": [6]}))
    assert row["status"] == "ok" and row["n_train"] == 6  # 6 rows cannot hold all 10 digits
    assert preds["test_proba"].shape[1] == 10
    np.testing.assert_allclose(preds["test_proba"].sum(axis=1), 1, atol=1e-5)


def test_preprocessor_imputes_encodes_and_scales():
    import pandas as pd

    X = pd.DataFrame({"a": [1.0, np.nan, 3.0, 5.0], "c": ["x", None, "y", "x"]})
    pre = make_preprocessor({"a": "numeric", "c": "categorical"}, scale=True)
    out = pre.fit_transform(X)
    assert not np.isnan(out).any()
    assert out.shape == (4, 1 + 3)  # scaled a + one-hot x / y / __missing__
    np.testing.assert_allclose(out[:, 0].mean(), 0, atol=1e-12)
    unseen = pre.transform(pd.DataFrame({"a": [2.0], "c": ["zzz"]}))
    assert unseen[0, 1:].sum() == 0  # unknown category ignored, not an error


def test_factories_import_their_library_lazily():
    import subprocess
    import sys

    code = "import mlbench.models, sys; print(any(m in sys.modules for m in ('sklearn', 'xgboost', 'torch')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert all(inspect.isfunction(MODELS.get(n).factory) for n in [*BUILTIN_MODELS, *BOOSTERS])
    code = "import mlbench.models, sys; print(any(m in sys.modules for m in ('lightgbm', 'catboost')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_model_facts_come_from_each_familys_describe():
    from sklearn.tree import DecisionTreeClassifier

    from mlbench.hardware import cuda_present

    # what the row says is what the fitted model is: the same tree, fitted by hand, has as many nodes
    job = _job("decision_tree", "iris")
    row, preds = run_job(job)
    tree = DecisionTreeClassifier(random_state=job.seed).fit(
        mlbench_dataset("iris").X.to_numpy()[preds["train_index"]], preds["train_true"]
    )
    assert row["n_params"] == tree.tree_.node_count and row["device"] == "cpu"
    row, _ = run_job(_job("logistic_regression", "iris"))
    assert row["n_params"] == 4 * 3 + 3  # coefficients and intercepts
    row, _ = run_job(_job("xgboost", "iris", {"n_estimators": 5}))
    assert row["device"] == ("cuda" if cuda_present() else "cpu")
    row, _ = run_job(_job("knn", "iris"))  # no parameter count claimed
    assert row["n_params"] is None and row["history_json"] is None
    assert row["device"] == ("cuda" if cuda_present() else "cpu")


def mlbench_dataset(name: str):
    from mlbench.datasets import load_dataset

    return load_dataset({"builtin": name})


# ---------------------------------------------------------------------------------------------
# deep model families through the same job path


def test_cnn_on_images_mlp_on_tables_and_cnn_skipped_on_tables():
    cnn = {"arch": "test_resnet", "image_size": 16, "epochs": 3}
    row, preds = run_job(_job("cnn", "digits", cnn))
    assert row["status"] == "ok" and row["test_accuracy"] > 0.8
    import torch

    assert row["n_params"] > 100_000 and row["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    history = json.loads(row["history_json"])
    assert [h["epoch"] for h in history] == [1, 2, 3] and {"train_loss", "lr", "seconds"} <= set(history[0])
    assert preds["test_proba"].shape[1] == 10
    row, _ = run_job(_job("mlp", "wine", {"epochs": 60, "hidden_sizes": [32]}))
    assert row["status"] == "ok" and row["test_accuracy"] > 0.8
    from mlbench.execution.job import run_job_safely

    row, preds = run_job_safely(_job("cnn", "wine", cnn))
    assert row["status"] == "skipped" and "needs image data" in row["error"] and preds is None


def test_cnn_early_stopping_uses_the_jobs_own_stopping_rows():
    params = {"arch": "test_resnet", "image_size": 16, "epochs": 4, "early_stopping": 2}
    row, _ = run_job(_job("cnn", "digits", params, sweep={"train_sizes": [200]}))
    history = json.loads(row["history_json"])
    assert row["n_train"] == 200 and row["n_fit"] == 160
    assert all("val_loss" in h for h in history)


def test_sanity_check_is_recorded_and_the_job_still_runs():
    job = _job("cnn", "digits", {"arch": "test_resnet", "image_size": 16, "epochs": 2, "sanity": True})
    assert job.sanity
    row, _ = run_job(job)
    assert row["status"] == "ok" and row["sanity_passed"] is True and row["sanity_score"] >= 0.99
    # a model that cannot fit 32 rows fails the check; the real job is still scored
    row, _ = run_job(_job("decision_tree", "digits", {"max_depth": 1, "sanity": True}))
    assert row["status"] == "ok" and row["sanity_passed"] is False and row["sanity_score"] < 0.5


def test_static_deep_param_names_match_the_estimators():
    from mlbench.estimators import MLPClassifier, TimmClassifier
    from mlbench.models.deep_models import CNN_PARAMS, MLP_PARAMS

    harness = {"random_state", "n_threads"}  # set from the job
    assert set(TimmClassifier().get_params()) - harness == CNN_PARAMS
    assert set(MLPClassifier().get_params()) - harness == MLP_PARAMS


def test_pretrain_then_finetune_runs_offline_from_a_suite(tmp_path, monkeypatch):
    import subprocess
    import sys

    import mlbench

    monkeypatch.setenv("MLBENCH_CACHE", str(tmp_path / "cache"))
    suite = tmp_path / "ft.yaml"
    suite.write_text(
        """
name: ft
resampling: {kind: holdout}
datasets:
  - {builtin: digits, classes: [5, 6, 7, 8, 9], name: target}
models:
  - cnn_finetune:
      arch: test_resnet
      image_size: 16
      epochs: 2
      freeze_epochs: 1
      weights: {pretrain: {dataset: {builtin: digits, classes: [0, 1, 2, 3, 4]}, epochs: 2}}
"""
    )
    res = subprocess.run(
        [sys.executable, "-m", "mlbench.cli", "run", str(suite), "--output", str(tmp_path / "out"), "-q"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr
    results = mlbench.load_results(tmp_path / "out")
    row = results[results["model"] == "cnn_finetune"].iloc[0]
    assert row["status"] == "ok" and row["test_accuracy"] > 0.5
    assert len(list((tmp_path / "cache" / "pretrained").glob("*.safetensors"))) == 1
    assert [h["phase"] for h in json.loads(row["history_json"])] == ["head", "all"]


def test_unknown_arch_and_missing_weights_stop_the_run_before_any_job(tmp_path):
    import subprocess
    import sys

    suite = tmp_path / "bad.yaml"
    suite.write_text(
        "name: bad\ndatasets: [digits]\nmodels:\n  - knn\n  - cnn: {arch: resnt18}\n"
        "  - cnn_finetune: {arch: test_resnet, weights: missing.pth}\n"
    )
    res = subprocess.run(
        [sys.executable, "-m", "mlbench.cli", "run", str(suite), "--output", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 2
    assert (
        f"{suite}:5:10: models: cnn: unknown timm architecture 'resnt18'. Did you mean 'resnet18'"
        in res.stderr
    )
    assert "missing.pth does not exist" in res.stderr
    assert not (tmp_path / "o").exists()  # nothing ran


@pytest.mark.parametrize("name", MODELS.names())
def test_every_familys_tuning_space_capacity_and_remedies_name_its_own_parameters(name):
    # a family's facts live with it: they must be true of its own parameters
    from mlbench.analysis.overfitting import GENERIC_REMEDIES
    from mlbench.tuning import check_tune

    info = MODELS.get(name)
    problems: list[str] = []

    def add(loc, message, key=False):
        problems.append(message)

    for task, space in info.tuning_space.items():
        assert task in info.task_types
        assert check_tune(info, {"space": dict(space)}, {}, ("tune",), add) is not None, problems
        assert info.check_params(dict.fromkeys(space), task) == []
    assert set(info.capacity_params) <= info.valid_params()
    for kind in info.remedies:
        assert kind in GENERIC_REMEDIES
        for task in info.task_types:  # a remedy is read per task: its option must be valid there
            remedy, option = info.remedy(kind, task)
            assert remedy
            assert option.startswith(f"{name}: {{")
            assert option.split("{", 1)[1].split(":", 1)[0].strip() in info.param_names[task]


DEEP_MODELS = ["mlp", "cnn", "cnn_finetune"]


def test_the_built_in_families_bring_their_spaces_capacity_remedies_and_pruning():
    facts = ("tuning_space", "tuning_caps", "pruning", "capacity_params", "remedies")
    every = [*BUILTIN_MODELS, *BOOSTERS, *DEEP_MODELS]
    has = {f: {name for name in every if getattr(MODELS.get(name), f)} for f in facts}
    assert has["tuning_space"] == has["remedies"] == set(every)
    assert has["tuning_caps"] == {"knn"}
    assert has["pruning"] == {"xgboost", "lightgbm", *DEEP_MODELS}
    assert has["capacity_params"] == set(every) - {"knn", "logistic_regression"}
