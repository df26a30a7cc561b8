"""LightGBM (its scikit-learn API) for classification and regression; the ``mlbench[boosters]`` extra.

The library is imported inside the factory and the hooks, so a suite without ``lightgbm`` never
imports it, and a suite naming it on a machine without the extra stops before any job
(:func:`mlbench.suite.checks.check_extras`).

``device`` is mlbench's: ``cpu``; ``gpu`` (LightGBM's OpenCL build, which the PyPI wheels for
Linux and Windows include; it needs the OpenCL runtime the NVIDIA driver ships); ``auto`` (the
default) picks ``gpu`` when the process sees a CUDA card *and* a one-off probe fit on the GPU
works, else ``cpu``. ``early_stopping_rounds`` is mlbench's too: the job holds stopping rows out
of its training rows and hands them to ``fit`` with ``lightgbm.early_stopping``.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from mlbench.models.base import ModelInfo, Remedy, register_model

#: The estimator's own parameters (``get_params``), plus LightGBM core parameters the wrapper
#: passes through ``**kwargs`` that TabArena's space tunes, plus mlbench's ``device`` and
#: ``early_stopping_rounds``. Checked against the estimator in ``tests/test_models.py``.
_LGBM = frozenset(
    {
        "boosting_type",
        "class_weight",
        "colsample_bytree",
        "importance_type",
        "learning_rate",
        "max_depth",
        "min_child_samples",
        "min_child_weight",
        "min_split_gain",
        "n_estimators",
        "num_leaves",
        "objective",
        "reg_alpha",
        "reg_lambda",
        "subsample",
        "subsample_for_bin",
        "subsample_freq",
        # core parameters passed through (LightGBM's own names)
        "extra_trees",
        "max_bin",
        "min_data_per_group",
        "cat_l2",
        "cat_smooth",
        "max_cat_to_onehot",
        "path_smooth",
        "linear_tree",
        "deterministic",
        # mlbench's
        "device",
        "early_stopping_rounds",
    }
)
#: Parameters that are mlbench's, not the estimator's.
MLBENCH_PARAMS = frozenset({"device", "early_stopping_rounds"})

_LOG = {"log": True}
#: TabArena's LightGBM space (``tabarena/models/lightgbm/hpo.py``: random search, 200 configs),
#: in the scikit-learn API's names: feature_fraction = colsample_bytree, bagging_fraction =
#: subsample, bagging_freq = subsample_freq, min_data_in_leaf = min_child_samples, lambda_l1 =
#: reg_alpha, lambda_l2 = reg_lambda. TabArena fixes bagging_freq at 1: the factory sets
#: ``subsample_freq: 1`` whenever ``subsample`` is below 1 and no frequency is given (LightGBM
#: ignores ``subsample`` at frequency 0). The number of rounds is added, as for XGBoost: TabArena
#: early-stops over 10k rounds, mlbench does not by default.
SPACE: dict[str, Any] = {
    "learning_rate": {"float": [5.0e-3, 0.1], **_LOG},
    "colsample_bytree": {"float": [0.4, 1.0]},
    "subsample": {"float": [0.7, 1.0]},
    "num_leaves": {"int": [2, 200], **_LOG},
    "min_child_samples": {"int": [1, 64], **_LOG},
    "extra_trees": [False, True],
    "min_data_per_group": {"int": [2, 100], **_LOG},
    "cat_l2": {"float": [5.0e-3, 2.0], **_LOG},
    "cat_smooth": {"float": [1.0e-3, 100.0], **_LOG},
    "max_cat_to_onehot": {"int": [8, 100], **_LOG},
    "reg_alpha": {"float": [1.0e-4, 1.0]},
    "reg_lambda": {"float": [1.0e-4, 2.0]},
    "n_estimators": {"int": [100, 1000], **_LOG},
}
_EARLY_STOPPING = Remedy("early stopping", "lightgbm: {early_stopping_rounds: 20}")


@functools.lru_cache(maxsize=1)
def gpu_works() -> bool:
    """Whether this LightGBM build trains on a GPU here (a one-off probe fit, cached per process).

    False without a CUDA card (no probe is tried), for a build without GPU support, or without
    the OpenCL runtime: then ``device: auto`` trains on the CPU.
    """
    from mlbench.hardware import cuda_present

    if not cuda_present():
        return False
    import numpy as np
    from lightgbm import LGBMRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 2))
    try:
        LGBMRegressor(n_estimators=1, device_type="gpu", verbose=-1).fit(X, X[:, 0])
    except Exception:  # LightGBMError: "GPU Tree Learner was not enabled", no OpenCL device, ...
        return False
    return True


def _device(params: Mapping[str, Any]) -> str:
    device = str(params.get("device", "auto")).lower()
    if device == "auto":
        return "gpu" if gpu_works() else "cpu"
    return device


def _check(params: Mapping[str, Any]) -> list[str]:
    device = params.get("device", "auto")
    if str(device).lower() not in ("auto", "cpu", "gpu"):
        return [f"lightgbm device must be auto, cpu or gpu, got {device!r}"]
    rounds = params.get("early_stopping_rounds")
    if rounds is not None and (isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1):
        return [f"early_stopping_rounds must be a whole number >= 1, got {rounds!r}"]
    return []


def _lightgbm(params: dict[str, Any], task_type: str, seed: int, n_jobs: int) -> Any:
    from lightgbm import LGBMClassifier, LGBMRegressor

    params = dict(params)
    device = _device(params)
    for key in MLBENCH_PARAMS:
        params.pop(key, None)
    if params.get("subsample", 1.0) < 1.0 and not params.get("subsample_freq"):
        # LightGBM bags only at a frequency > 0 (its default is 0: `subsample` alone does nothing)
        params["subsample_freq"] = 1
    cls = LGBMClassifier if task_type == "classification" else LGBMRegressor
    # verbose=-1: LightGBM's per-fit warnings ("no further splits") would fill every job's row
    return cls(random_state=seed, n_jobs=n_jobs, verbose=-1, device_type=device, **params)


def _uses_gpu(params: Mapping[str, Any]) -> bool:
    # cheap and static (the scheduler asks before any job): the probe is the job's
    return str(params.get("device", "auto")).lower() != "cpu"


def _validation_fit(params: Mapping[str, Any], X_val: Any, y_val: Any) -> dict[str, Any] | None:
    rounds = params.get("early_stopping_rounds")
    if rounds is None:
        return None
    import inspect

    import lightgbm

    callbacks = [lightgbm.early_stopping(int(rounds), verbose=False)]
    # LightGBM 4.7 deprecates eval_set for eval_X / eval_y
    if "eval_X" in inspect.signature(lightgbm.LGBMModel.fit).parameters:
        return {"eval_X": (X_val,), "eval_y": (y_val,), "callbacks": callbacks}
    return {"eval_set": [(X_val, y_val)], "callbacks": callbacks}


def _describe(model: Any) -> dict[str, Any]:
    device = model.get_params().get("device_type") or "cpu"
    return {"device": "cpu" if device == "cpu" else "cuda"}


def _kept_rounds(model: Any) -> tuple[int, int]:
    """(rounds the fitted model predicts with, rounds trained).

    With early stopping LightGBM keeps only the first ``best_iteration_`` rounds in the fitted
    booster; the rounds it trained are the length of its validation curve (``evals_result_``).
    Without early stopping ``best_iteration_`` is 0 and every round is kept.
    """
    kept = int(model.booster_.current_iteration())
    best = int(getattr(model, "best_iteration_", 0) or 0)
    if best > 0:
        kept = min(kept, best)
    trained = kept
    for curves in (getattr(model, "evals_result_", None) or {}).values():
        for curve in curves.values():
            trained = max(trained, len(curve))
    return kept, trained


def _staged(model: Any, X: Any) -> tuple[list[int], list[Any], dict[str, int]]:
    """Predictions of the first ``k`` boosting rounds (``num_iteration=k``), no refit."""
    import numpy as np

    from mlbench.models.base import staged_sizes

    kept, trained = _kept_rounds(model)
    sizes = staged_sizes(kept)
    classify = hasattr(model, "predict_proba")
    booster = model.booster_
    outputs = []
    for k in sizes:
        # the booster's own predict: the estimator's re-validates X on every call
        out = np.asarray(booster.predict(X, num_iteration=k))
        if classify and out.ndim == 1:  # binary: P(class 1)
            out = np.column_stack([1.0 - out, out])
        outputs.append(out)
    return sizes, outputs, {"trained": trained, "kept": kept}


@contextlib.contextmanager
def _round_pruning(
    estimator: Any, X_val: Any, score: Callable[[Any], float], report: Callable[[float, int], None]
) -> Iterator[None]:
    """Report the tuning metric on the validation rows every tenth of the boosting rounds.

    A LightGBM callback predicts the validation rows with the rounds so far; ``report`` raises
    ``optuna.TrialPruned`` out of the fit to stop a poor trial.
    """
    import numpy as np

    from mlbench.models.base import final_estimator, preprocessed

    model = final_estimator(estimator)
    rounds = int(model.get_params().get("n_estimators") or 100)
    stride = max(1, rounds // 10)
    cache: dict[str, Any] = {}

    def callback(env: Any) -> None:
        step = env.iteration + 1
        if step % stride and step != rounds:
            return
        if "X" not in cache:
            cache["X"] = preprocessed(estimator, X_val)  # the preprocessing is fitted by now
        report(score(np.asarray(env.model.predict(cache["X"], num_iteration=step))), step)

    original = model.fit

    def fit(X: Any, y: Any, **kwargs: Any) -> Any:
        kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), callback]
        return original(X, y, **kwargs)

    model.fit = fit
    try:
        yield
    finally:
        del model.fit  # back to the class's method


register_model(
    ModelInfo(
        name="lightgbm",
        factory=_lightgbm,
        task_types=("classification", "regression"),
        param_names={"classification": _LGBM, "regression": _LGBM},
        validation_fit=_validation_fit,
        description="LightGBM gradient-boosted trees (scikit-learn API; device gpu = its OpenCL build) [boosters]",
        check=_check,
        describe=_describe,
        staged=_staged,
        uses_gpu=_uses_gpu,
        tuning_space={"classification": SPACE, "regression": SPACE},
        pruning=_round_pruning,
        capacity_params=("num_leaves", "n_estimators", "max_depth"),
        remedies={"degradation": _EARLY_STOPPING, "boosting": _EARLY_STOPPING},
        modules=("lightgbm",),
        extra="boosters",
    )
)
