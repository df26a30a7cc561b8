"""scikit-learn model families: decision tree, random forest, extra trees, histogram gradient boosting,
KNN, logistic/ridge regression, dummy.

Parameter names are listed statically so a suite validates without importing sklearn
(1 s of import time); ``tests/test_models.py`` checks them against the estimators.
"""

from __future__ import annotations

from typing import Any

from mlbench.models.base import Bounds, ModelInfo, Remedy, at_least, fraction, positive, register_model

_TREE = frozenset(
    {
        "criterion",
        "splitter",
        "max_depth",
        "min_samples_split",
        "min_samples_leaf",
        "min_weight_fraction_leaf",
        "max_features",
        "max_leaf_nodes",
        "min_impurity_decrease",
        "ccp_alpha",
        "monotonic_cst",
    }
)
_TREE_CLF = _TREE | {"class_weight"}

_FOREST = (_TREE - {"splitter"}) | {"n_estimators", "bootstrap", "oob_score", "warm_start", "max_samples"}
_FOREST_CLF = _FOREST | {"class_weight"}

_HGB = frozenset(
    {
        "loss",
        "learning_rate",
        "max_iter",
        "max_leaf_nodes",
        "max_depth",
        "min_samples_leaf",
        "l2_regularization",
        "max_features",
        "max_bins",
        "categorical_features",
        "monotonic_cst",
        "interaction_cst",
        "warm_start",
        "early_stopping",
        "scoring",
        "validation_fraction",
        "n_iter_no_change",
        "tol",
    }
)
_HGB_CLF = _HGB | {"class_weight"}
_HGB_REG = _HGB | {"quantile"}

# `device` is mlbench's: cpu = scikit-learn, cuda = the torch KNN on the job's GPU, auto = the
# torch KNN when the worker sees a GPU, else scikit-learn
_KNN = frozenset(
    {"n_neighbors", "weights", "algorithm", "leaf_size", "p", "metric", "metric_params", "device"}
)

_LOGREG = frozenset(
    {
        "penalty",
        "dual",
        "tol",
        "C",
        "fit_intercept",
        "intercept_scaling",
        "class_weight",
        "solver",
        "max_iter",
        "l1_ratio",
        "warm_start",
    }
)
_RIDGE = frozenset({"alpha", "fit_intercept", "copy_X", "max_iter", "tol", "solver", "positive"})

# Default search spaces of `tune:` (TabArena's where it has one; the README lists them)
_LOG = {"log": True}
_KNN_SPACE = {
    # TabArena: n_neighbors up to 500 (capped per job at the rows a trial fits on), weights, p
    "n_neighbors": {"int": [1, 500], **_LOG},
    "weights": ["uniform", "distance"],
    "p": [1, 1.5, 2],
}
_RF_SPACE = {
    # TabArena's random forest space (without `bootstrap: false`, which forbids max_samples)
    "max_features": {"float": [0.4, 1.0]},
    "max_samples": {"float": [0.5, 1.0]},
    "min_samples_split": {"int": [2, 4], **_LOG},
    "min_samples_leaf": [1, 2, 3, 4, 5, 10, 20, 40, 80],
}
_XT_SPACE = {
    # TabArena's extra trees space (tabarena/models/extra_trees/hpo.py; it also fixes
    # n_estimators at 50, and bootstrap at false, scikit-learn's default)
    "max_features": ["sqrt", 0.5, 0.75, 1.0],
    "min_samples_split": {"int": [2, 32], **_LOG},
    "min_impurity_decrease": [0.0, 1.0e-5, 3.0e-5, 1.0e-4, 3.0e-4, 1.0e-3],
}
_HGB_SPACE = {
    # TabArena has no HistGradientBoosting: its LightGBM space in scikit-learn's names
    # (num_leaves = max_leaf_nodes, min_data_in_leaf = min_samples_leaf, lambda_l2 =
    # l2_regularization, feature_fraction = max_features), with the number of rounds added
    "learning_rate": {"float": [5.0e-3, 0.1], **_LOG},
    "max_leaf_nodes": {"int": [2, 200], **_LOG},
    "min_samples_leaf": {"int": [1, 64], **_LOG},
    "l2_regularization": {"float": [1.0e-4, 2.0]},
    "max_features": {"float": [0.4, 1.0]},
    "max_iter": {"int": [100, 1000], **_LOG},
}
_TREE_SPACE = {
    # TabArena has no single decision tree: its random forest space for one tree, plus the depth
    "max_features": {"float": [0.4, 1.0]},
    "max_depth": {"int": [2, 32], **_LOG},
    "min_samples_split": {"int": [2, 4], **_LOG},
    "min_samples_leaf": [1, 2, 3, 4, 5, 10, 20, 40, 80],
}
_LINEAR_SPACE = {
    # TabArena's linear model: C in [0.1, 1000] (log); Ridge's alpha is 1/C
    "classification": {"C": {"float": [0.1, 1000.0], **_LOG}},
    "regression": {"alpha": {"float": [1.0e-3, 10.0], **_LOG}},
}


# The values each parameter accepts (scikit-learn's own parameter constraints): a `tune:` space
# reaching outside them is a config error before any job runs.
_TREE_BOUNDS = {
    "max_depth": at_least(1),
    # whole numbers count rows; fractions are shares of the rows
    "min_samples_split": {"int": Bounds(2), "float": Bounds(0.0, 1.0, open_low=True)},
    "min_samples_leaf": {"int": Bounds(1), "float": Bounds(0.0, 1.0, open_low=True, open_high=True)},
    "max_features": {"int": Bounds(1), "float": Bounds(0.0, 1.0, open_low=True)},
    "max_leaf_nodes": at_least(2),
    "min_weight_fraction_leaf": {"float": Bounds(0.0, 0.5), "int": Bounds(0, 0)},
    "min_impurity_decrease": positive(),
    "ccp_alpha": positive(),
}
_FOREST_BOUNDS = {
    **_TREE_BOUNDS,
    "n_estimators": at_least(1),
    "max_samples": {"int": Bounds(1), "float": Bounds(0.0, 1.0, open_low=True)},
}
_HGB_BOUNDS = {
    "learning_rate": positive(open_low=True),
    "max_iter": at_least(1),
    "max_leaf_nodes": at_least(2),
    "max_depth": at_least(1),
    "min_samples_leaf": at_least(1),
    "l2_regularization": positive(),
    "max_features": fraction(open_low=True),
    "max_bins": at_least(2),
}
_KNN_BOUNDS = {"n_neighbors": at_least(1), "leaf_size": at_least(1), "p": positive(open_low=True)}
_LINEAR_BOUNDS = {
    "C": positive(open_low=True),
    "alpha": positive(),
    "tol": positive(),
    "l1_ratio": {**fraction(), "int": Bounds(0, 1)},
    "max_iter": at_least(0),
    "intercept_scaling": positive(open_low=True),
}


def _both(space: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {"classification": space, "regression": space}


def _knn_caps(n_rows: int) -> dict[str, int]:
    # KNN cannot ask for more neighbours than the rows it fits on
    return {"n_neighbors": n_rows}


def _decision_tree(params: dict[str, Any], task_type: str, seed: int, n_jobs: int) -> Any:
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    cls = DecisionTreeClassifier if task_type == "classification" else DecisionTreeRegressor
    return cls(random_state=seed, **params)


def _random_forest(params: dict[str, Any], task_type: str, seed: int, n_jobs: int) -> Any:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    cls = RandomForestClassifier if task_type == "classification" else RandomForestRegressor
    return cls(random_state=seed, n_jobs=n_jobs, **params)


def _extra_trees(params: dict[str, Any], task_type: str, seed: int, n_jobs: int) -> Any:
    from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor

    cls = ExtraTreesClassifier if task_type == "classification" else ExtraTreesRegressor
    return cls(random_state=seed, n_jobs=n_jobs, **params)


def _hist_gradient_boosting(params: dict[str, Any], task_type: str, seed: int, n_jobs: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    cls = HistGradientBoostingClassifier if task_type == "classification" else HistGradientBoostingRegressor
    return cls(random_state=seed, **params)


def _staged_hgb(model: Any, X: Any) -> tuple[list[int], list[Any], dict[str, int]]:
    """Predictions after ``k`` boosting iterations (scikit-learn's ``staged_predict_proba``), no refit.

    scikit-learn keeps every iteration it trained, early stopping or not (the ``n_iter_no_change``
    past the best included), so the rounds trained and kept are the same.
    """
    import numpy as np

    from mlbench.models.base import staged_sizes

    kept = int(model.n_iter_)
    sizes = staged_sizes(kept)
    wanted = set(sizes)
    stages = model.staged_predict_proba(X) if hasattr(model, "predict_proba") else model.staged_predict(X)
    outputs = [np.asarray(out) for k, out in enumerate(stages, start=1) if k in wanted]
    return sizes, outputs, {"trained": kept, "kept": kept}


def _knn(params: dict[str, Any], task_type: str, seed: int, n_jobs: int) -> Any:
    from mlbench.hardware import cuda_present

    params = dict(params)
    device = str(params.pop("device", "auto")).lower()
    if device not in ("auto", "cpu", "cuda"):
        from mlbench.errors import ModelError

        raise ModelError(f"knn device must be auto, cpu or cuda, got {device!r}")
    if device == "cuda" or (device == "auto" and cuda_present()):
        from mlbench.neighbors import TorchKNeighborsClassifier, TorchKNeighborsRegressor

        if params.pop("metric_params", None):
            from mlbench.errors import ModelError

            raise ModelError("knn on cuda takes no metric_params; remove them or set device: cpu")
        # search strategies of scikit-learn: the torch KNN is always exact brute force
        params.pop("algorithm", None)
        params.pop("leaf_size", None)
        torch_cls = TorchKNeighborsClassifier if task_type == "classification" else TorchKNeighborsRegressor
        return torch_cls(device="cuda", n_jobs=n_jobs, **params)
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    cls = KNeighborsClassifier if task_type == "classification" else KNeighborsRegressor
    return cls(n_jobs=n_jobs, **params)


def _describe_knn(model: Any) -> dict[str, Any]:
    return {"device": getattr(model, "device_", None) or "cpu"}


def _linear(params: dict[str, Any], task_type: str, seed: int, n_jobs: int) -> Any:
    if task_type == "classification":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(random_state=seed, **params)
    from sklearn.linear_model import Ridge

    return Ridge(random_state=seed, **params)


def _describe(model: Any) -> dict[str, Any]:
    """Parameter count of a fitted tree (nodes), forest (nodes of all trees) or linear model."""
    tree = getattr(model, "tree_", None)
    if tree is not None:
        return {"n_params": int(tree.node_count)}
    forest = getattr(model, "estimators_", None)
    if isinstance(forest, list) and forest and hasattr(forest[0], "tree_"):
        return {"n_params": int(sum(t.tree_.node_count for t in forest))}
    coef = getattr(model, "coef_", None)
    if coef is not None:
        import numpy as np

        return {"n_params": int(np.size(coef) + np.size(getattr(model, "intercept_", 0)))}
    return {}


def _staged_forest(model: Any, X: Any) -> tuple[list[int], list[Any]]:
    """The forest's prediction from its first ``k`` trees, for ``k`` along ``n_estimators``.

    Exactly what a forest of ``k`` trees predicts (sklearn averages the trees' probabilities or
    values), each tree evaluated once and the running mean taken at each size: no refit.
    """
    import numpy as np

    from mlbench.models.base import staged_sizes

    trees = getattr(model, "estimators_", None) or []
    sizes = staged_sizes(len(trees))
    classify = hasattr(model, "predict_proba")
    if not hasattr(X, "tocsr"):  # dense: convert once, not once per tree
        X = np.ascontiguousarray(X, dtype=np.float32)
    total: Any = None
    outputs: list[Any] = []
    wanted = set(sizes)
    for k, tree in enumerate(trees, start=1):
        part = tree.predict_proba(X) if classify else tree.predict(X)
        total = part.astype(np.float64) if total is None else total + part
        if k in wanted:
            outputs.append(total / k)
    return sizes, outputs


register_model(
    ModelInfo(
        name="decision_tree",
        factory=_decision_tree,
        task_types=("classification", "regression"),
        param_names={"classification": _TREE_CLF, "regression": _TREE},
        description="sklearn DecisionTreeClassifier / DecisionTreeRegressor",
        describe=_describe,
        tuning_space=_both(_TREE_SPACE),
        capacity_params=("max_depth", "max_leaf_nodes"),
        remedies={
            "degradation": Remedy("fewer parameters", "decision_tree: {max_depth: 5}"),
            # a depth limit is what makes a tree underfit: lift it
            "underfitting": Remedy("more capacity", "decision_tree: {max_depth: null}"),
        },
        param_bounds=_TREE_BOUNDS,
    )
)
register_model(
    ModelInfo(
        name="random_forest",
        factory=_random_forest,
        task_types=("classification", "regression"),
        param_names={"classification": _FOREST_CLF, "regression": _FOREST},
        description="sklearn RandomForestClassifier / RandomForestRegressor",
        describe=_describe,
        staged=_staged_forest,
        tuning_space=_both(_RF_SPACE),
        capacity_params=("max_depth", "n_estimators", "max_leaf_nodes"),
        remedies={
            # measured on diabetes (20 splits): test R² 0.395 with the defaults, 0.429 with 10 rows a leaf
            "degradation": Remedy("fewer parameters", "random_forest: {min_samples_leaf: 10}"),
            "boosting": Remedy("fewer parameters", "random_forest: {min_samples_leaf: 5}"),
            "underfitting": Remedy("more capacity", "random_forest: {max_depth: null}"),
        },
        param_bounds=_FOREST_BOUNDS,
    )
)
register_model(
    ModelInfo(
        name="extra_trees",
        factory=_extra_trees,
        task_types=("classification", "regression"),
        param_names={"classification": _FOREST_CLF, "regression": _FOREST},
        description="sklearn ExtraTreesClassifier / ExtraTreesRegressor",
        describe=_describe,
        staged=_staged_forest,
        tuning_space=_both(_XT_SPACE),
        capacity_params=("max_depth", "n_estimators", "max_leaf_nodes"),
        remedies={
            "degradation": Remedy("fewer parameters", "extra_trees: {max_depth: 8}"),
            "boosting": Remedy("fewer parameters", "extra_trees: {min_samples_leaf: 5}"),
        },
        param_bounds=_FOREST_BOUNDS,
    )
)
register_model(
    ModelInfo(
        name="hist_gradient_boosting",
        factory=_hist_gradient_boosting,
        task_types=("classification", "regression"),
        param_names={"classification": _HGB_CLF, "regression": _HGB_REG},
        description="sklearn HistGradientBoostingClassifier / HistGradientBoostingRegressor",
        staged=_staged_hgb,
        tuning_space=_both(_HGB_SPACE),
        capacity_params=("max_leaf_nodes", "max_iter", "max_depth"),
        remedies={
            "degradation": Remedy("early stopping", "hist_gradient_boosting: {early_stopping: true}"),
            "boosting": Remedy("early stopping", "hist_gradient_boosting: {early_stopping: true}"),
        },
        param_bounds=_HGB_BOUNDS,
    )
)
register_model(
    ModelInfo(
        name="knn",
        factory=_knn,
        task_types=("classification", "regression"),
        param_names={"classification": _KNN, "regression": _KNN},
        scale=True,
        description="k nearest neighbours on standardised features (device: cuda = exact torch KNN on the GPU)",
        describe=_describe_knn,
        tuning_space=_both(_KNN_SPACE),
        tuning_caps=_knn_caps,
        remedies={
            "degradation": Remedy("fewer parameters", "knn: {n_neighbors: 15}"),
            # fewer neighbours follow the training rows more closely (5 is scikit-learn's default)
            "underfitting": Remedy("more capacity", "knn: {n_neighbors: 5}"),
        },
        param_bounds=_KNN_BOUNDS,
    )
)
register_model(
    ModelInfo(
        name="logistic_regression",
        factory=_linear,
        task_types=("classification", "regression"),
        param_names={"classification": _LOGREG, "regression": _RIDGE},
        # lbfgs needs more than the default 100 iterations on unscaled-but-standardised digits pixels
        default_params={"classification": {"max_iter": 1000}, "regression": {}},
        scale=True,
        description="sklearn LogisticRegression (classification) / Ridge (regression), standardised features",
        describe=_describe,
        tuning_space=_LINEAR_SPACE,
        # LogisticRegression's C is inverse regularisation; Ridge's alpha is regularisation: the
        # same remedy is a different parameter (and direction) per task
        remedies={
            "degradation": {
                "classification": Remedy("fewer parameters", "logistic_regression: {C: 0.1}"),
                "regression": Remedy("fewer parameters", "logistic_regression: {alpha: 10.0}"),
            },
            "underfitting": {
                "classification": Remedy("more capacity", "logistic_regression: {C: 100.0}"),
                "regression": Remedy("more capacity", "logistic_regression: {alpha: 0.01}"),
            },
        },
        param_bounds=_LINEAR_BOUNDS,
    )
)


def _dummy(params: dict[str, Any], task_type: str, seed: int, n_jobs: int) -> Any:
    from sklearn.dummy import DummyClassifier, DummyRegressor

    if task_type == "classification":
        return DummyClassifier(random_state=seed, **params)
    return DummyRegressor(**params)


#: The baseline every run includes unless the suite says ``baseline: false``.
BASELINE = "dummy"

register_model(
    ModelInfo(
        name=BASELINE,
        factory=_dummy,
        task_types=("classification", "regression"),
        param_names={
            "classification": frozenset({"strategy", "constant"}),
            "regression": frozenset({"strategy", "constant", "quantile"}),
        },
        # always predicting the training prior / mean: what any model must beat to have learnt
        default_params={"classification": {"strategy": "prior"}, "regression": {"strategy": "mean"}},
        description="the baseline: sklearn DummyClassifier(strategy=prior) / DummyRegressor(strategy=mean)",
    )
)
