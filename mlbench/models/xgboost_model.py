"""XGBoost (hist) for classification and regression, on the GPU when one is present."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from mlbench.hardware import cuda_present
from mlbench.models.base import ModelInfo, Remedy, at_least, fraction, positive, register_model

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


_LOG = {"log": True}
_SPACE = {
    # TabArena's XGBoost space (random search over 200 configs), with the number of rounds added
    # because mlbench does not early-stop by default (TabArena uses early stopping over 10k rounds)
    "learning_rate": {"float": [5.0e-3, 0.1], **_LOG},
    "max_depth": {"int": [4, 10]},
    "min_child_weight": {"float": [1.0e-3, 5.0], **_LOG},
    "subsample": {"float": [0.6, 1.0]},
    "colsample_bytree": {"float": [0.6, 1.0]},
    "reg_alpha": {"float": [1.0e-4, 5.0], **_LOG},
    "reg_lambda": {"float": [1.0e-4, 5.0], **_LOG},
    "max_leaves": {"int": [8, 1024], **_LOG},
    "n_estimators": {"int": [100, 1000], **_LOG},
}
# The values XGBoost accepts (its parameter documentation): a `tune:` space reaching outside them
# is a config error before any job runs.
_BOUNDS = {
    "n_estimators": at_least(1),
    "max_depth": at_least(0),
    "max_leaves": at_least(0),
    "max_bin": at_least(2),
    "num_parallel_tree": at_least(1),
    "early_stopping_rounds": at_least(1),
    "learning_rate": fraction(),
    "subsample": fraction(open_low=True),
    "colsample_bytree": fraction(open_low=True),
    "colsample_bylevel": fraction(open_low=True),
    "colsample_bynode": fraction(open_low=True),
    "min_child_weight": positive(),
    "gamma": positive(),
    "reg_alpha": positive(),
    "reg_lambda": positive(),
    "max_delta_step": positive(),
    "scale_pos_weight": positive(),
}
_EARLY_STOPPING = Remedy("early stopping", "xgboost: {early_stopping_rounds: 20}")


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


def _kept_rounds(model: Any) -> tuple[int, int]:
    """(rounds the fitted model predicts with, rounds trained).

    With early stopping xgboost trains ``early_stopping_rounds`` past the best round but its
    ``predict`` uses only the first ``best_iteration + 1``; without it ``best_iteration`` is
    undefined (xgboost raises AttributeError) and every trained round is used.
    """
    trained = int(model.get_booster().num_boosted_rounds())
    try:
        best = model.best_iteration
    except AttributeError:
        return trained, trained
    return min(int(best) + 1, trained), trained


def _staged(model: Any, X: Any) -> tuple[list[int], list[Any], dict[str, int]]:
    """Predictions of the first ``k`` boosting rounds (``iteration_range=(0, k)``), no refit.

    Sizes run up to the rounds the model predicts with: with early stopping that is
    ``best_iteration + 1``, not the rounds trained past it, so the curve's last point is the job's
    own test score (the rounds after the best one are never used). The third item,
    ``{"trained": rounds trained, "kept": rounds used}``, tells the overfitting check that early
    stopping cut the ensemble (``kept < trained``).
    """
    import numpy as np

    from mlbench.models.base import staged_sizes

    booster = model.get_booster()
    kept, trained = _kept_rounds(model)
    sizes = staged_sizes(kept)
    meta = {"trained": trained, "kept": kept}
    objective = model.get_params().get("objective") or ""
    classify = hasattr(model, "predict_proba")
    if classify and objective not in ("binary:logistic", "multi:softprob", ""):
        # other objectives (softmax labels, custom): the estimator's own predict_proba does it right
        return sizes, [model.predict_proba(X, iteration_range=(0, k)) for k in sizes], meta
    # One DMatrix for all 20 predictions: the estimator's predict builds a new one per call, which
    # cost 8x a full prediction on digits.
    from xgboost import DMatrix

    data = DMatrix(X, missing=getattr(model, "missing", np.nan))
    outputs = []
    for k in sizes:
        out = np.asarray(booster.predict(data, iteration_range=(0, k)))
        if classify and out.ndim == 1:  # binary:logistic gives P(class 1)
            out = np.column_stack([1.0 - out, out])
        outputs.append(out)
    return sizes, outputs, meta


@contextlib.contextmanager
def _round_pruning(
    estimator: Any, X_val: Any, score: Callable[[Any], float], report: Callable[[float, int], None]
) -> Iterator[None]:
    """Report the tuning metric on the validation rows every tenth of the boosting rounds.

    A training callback predicts the validation rows with the rounds so far
    (``inplace_predict(iteration_range=(0, step))``, no copy of the booster); ``report`` raises
    ``optuna.TrialPruned`` out of the fit to stop a poor trial.
    """
    import numpy as np
    import xgboost as xgb

    from mlbench.models.base import final_estimator, preprocessed

    model = final_estimator(estimator)
    rounds = int(model.get_params().get("n_estimators") or 100)
    stride = max(1, rounds // 10)
    cache: dict[str, Any] = {}

    class _Pruning(xgb.callback.TrainingCallback):
        def after_iteration(self, booster: Any, epoch: int, evals_log: Any) -> bool:
            step = epoch + 1
            if step % stride and step != rounds:
                return False
            if "X" not in cache:
                # the preprocessing was fitted before the booster started
                cache["X"] = preprocessed(estimator, X_val)
            raw = np.asarray(booster.inplace_predict(cache["X"], iteration_range=(0, step)))
            report(score(raw), step)
            return False

    model.set_params(callbacks=[_Pruning()])
    try:
        yield
    finally:
        model.set_params(callbacks=None)


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
        tuning_space={"classification": _SPACE, "regression": _SPACE},
        pruning=_round_pruning,
        capacity_params=("max_depth", "n_estimators", "max_leaves"),
        remedies={
            "degradation": _EARLY_STOPPING,
            "boosting": _EARLY_STOPPING,
            "underfitting": Remedy("more capacity", "xgboost: {n_estimators: 1000}"),
        },
        # preloaded by the fork server only for suites that use it (1-2 s of import)
        modules=("xgboost",),
        param_bounds=_BOUNDS,
    )
)
