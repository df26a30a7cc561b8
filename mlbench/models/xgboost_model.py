"""XGBoost (hist) for classification and regression, on the GPU when one is present."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlbench.hardware import cuda_present
from mlbench.models.base import ModelInfo, register_model

_XGB = frozenset(
    {
        "max_depth",
        "max_leaves",
        "max_bin",
        "grow_policy",
        "learning_rate",
        "n_estimators",
        "verbosity",
        "objective",
        "booster",
        "tree_method",
        "gamma",
        "min_child_weight",
        "max_delta_step",
        "subsample",
        "sampling_method",
        "colsample_bytree",
        "colsample_bylevel",
        "colsample_bynode",
        "reg_alpha",
        "reg_lambda",
        "scale_pos_weight",
        "base_score",
        "num_parallel_tree",
        "monotone_constraints",
        "interaction_constraints",
        "importance_type",
        "device",
        "validate_parameters",
        "max_cat_to_onehot",
        "max_cat_threshold",
        "multi_strategy",
        "eval_metric",
        "early_stopping_rounds",
    }
)


def _xgboost(params: dict[str, Any], task_type: str, seed: int, n_jobs: int) -> Any:
    from xgboost import XGBClassifier, XGBRegressor

    cls = XGBClassifier if task_type == "classification" else XGBRegressor
    params = dict(params)
    params.setdefault("device", "cuda" if cuda_present() else "cpu")
    return cls(random_state=seed, n_jobs=n_jobs, **params)


def _validation_fit(params: Mapping[str, Any], X_val: Any, y_val: Any) -> dict[str, Any] | None:
    # early_stopping_rounds is a constructor argument in xgboost >= 2 and needs an eval_set in fit
    if params.get("early_stopping_rounds") is None:
        return None
    return {"eval_set": [(X_val, y_val)], "verbose": False}


def _describe(model: Any) -> dict[str, Any]:
    return {"device": model.get_params().get("device") or "cpu"}


def _staged(model: Any, X: Any) -> tuple[list[int], list[Any]]:
    """Predictions of the first ``k`` boosting rounds (``iteration_range=(0, k)``), no refit.

    Sizes run over every round trained (past ``best_iteration`` when early stopping stopped it),
    so the curve shows what the rounds after the best one did.
    """
    from mlbench.models.base import staged_sizes

    sizes = staged_sizes(int(model.get_booster().num_boosted_rounds()))
    predict = model.predict_proba if hasattr(model, "predict_proba") else model.predict
    return sizes, [predict(X, iteration_range=(0, k)) for k in sizes]


register_model(
    ModelInfo(
        name="xgboost",
        factory=_xgboost,
        task_types=("classification", "regression"),
        param_names={"classification": _XGB, "regression": _XGB},
        default_params={
            "classification": {"tree_method": "hist"},
            "regression": {"tree_method": "hist"},
        },
        validation_fit=_validation_fit,
        description="XGBoost gradient-boosted trees (hist; device=cuda when a GPU is present)",
        describe=_describe,
        staged=_staged,
    )
)
