"""Deep model families for suites: ``cnn`` (timm, from scratch), ``cnn_finetune``, ``mlp`` (tabular).

They run through the same job path as the classical models (same splits, metrics, store); the
estimators live in :mod:`mlbench.estimators`, imported inside the factories so that validating a
suite never imports torch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from mlbench.models.base import Bounds, ModelInfo, Remedy, at_least, fraction, positive, register_model

_TRAIN = frozenset(
    {
        "epochs",
        "min_steps",
        "batch_size",
        "lr",
        "optimizer",
        "momentum",
        "weight_decay",
        "lr_schedule",
        "step_size",
        "gamma",
        "warmup_epochs",
        "label_smoothing",
        "loss",
        "augment",
        "early_stopping",
        "val_fraction",
        "device",
        "precision",
        "channels_last",
        "verbose",
    }
)
CNN_PARAMS = _TRAIN | {"arch", "weights", "image_size", "image_shape", "dropout", "freeze_epochs"}
MLP_PARAMS = _TRAIN | {"hidden_sizes", "dropout", "batch_norm"}

#: The default search space of `tune:` for every deep family (the trainer's parameters).
_SPACE = {
    "lr": {"float": [1.0e-4, 0.1], "log": True},
    "weight_decay": {"float": [1.0e-6, 1.0e-2], "log": True},
    "dropout": {"float": [0.0, 0.5]},
    "batch_size": [32, 64, 128, 256],
}


#: The values the trainer accepts (see mlbench.estimators): a `tune:` space reaching outside them
#: is a config error before any job runs.
_BOUNDS = {
    "epochs": at_least(1),
    "batch_size": at_least(1),
    "lr": positive(open_low=True),
    "weight_decay": positive(),
    "momentum": fraction(),
    "dropout": {"float": Bounds(0.0, 1.0, open_high=True), "int": Bounds(0, 0)},
    "label_smoothing": {"float": Bounds(0.0, 1.0, open_high=True), "int": Bounds(0, 0)},
    "val_fraction": fraction(open_low=True, open_high=True),
}


def _cnn(params: dict[str, Any], task_type: str, seed: int, n_jobs: int) -> Any:
    from mlbench.estimators import TimmClassifier, TimmRegressor

    cls = TimmClassifier if task_type == "classification" else TimmRegressor
    return cls(random_state=seed, n_threads=n_jobs, **params)


def _mlp(params: dict[str, Any], task_type: str, seed: int, n_jobs: int) -> Any:
    from mlbench.estimators import MLPClassifier, MLPRegressor

    params = dict(params)
    if isinstance(params.get("hidden_sizes"), list):
        params["hidden_sizes"] = tuple(
            params["hidden_sizes"]
        )  # YAML gives lists; sklearn params stay hashable
    cls = MLPClassifier if task_type == "classification" else MLPRegressor
    return cls(random_state=seed, n_threads=n_jobs, **params)


def _validation_fit(params: Mapping[str, Any], X_val: Any, y_val: Any) -> dict[str, Any] | None:
    # with early stopping the harness hands over the stopping rows it held out of the job's own
    # training rows, so each model uses exactly n_train labelled rows
    if params.get("early_stopping") in (None, False, 0):
        return None
    return {"validation_data": (X_val, y_val)}


def _monitor_fit(params: Mapping[str, Any], X_val: Any, y_val: Any) -> dict[str, Any] | None:
    # without early stopping the trainer only records the validation loss and metric per epoch
    if params.get("early_stopping") not in (None, False, 0):
        return None
    return {"validation_data": (X_val, y_val)}


def _check_finetune(params: Mapping[str, Any]) -> list[str]:
    if params.get("weights") in (None, False, "none"):
        return [
            "cnn_finetune needs `weights:` (a checkpoint file, 'hub', or {pretrain: {dataset: ..., epochs: N}}); "
            "use `cnn` to train from scratch"
        ]
    return []


def _preflight_cnn(params: Mapping[str, Any], base_dir: str) -> list[str]:
    from pathlib import Path

    from mlbench.deep.timm_models import check_arch
    from mlbench.errors import ModelError

    problems = []
    try:
        check_arch(params.get("arch", "resnet10t"))
    except ModelError as exc:
        problems.append(str(exc))
    weights = params.get("weights")
    if isinstance(weights, str) and weights not in ("hub", "none"):
        path = Path(weights).expanduser()
        path = path if path.is_absolute() else Path(base_dir) / path
        if not path.is_file():
            problems.append(
                f"weights file {path} does not exist; check the path (relative paths are from the suite file)"
            )
    return problems


def _describe(model: Any) -> dict[str, Any]:
    return {
        "n_params": getattr(model, "n_params_", None),
        "device": getattr(model, "device_", None) or "cpu",
        "history": getattr(model, "history_", None),
        "best_epoch": getattr(model, "best_epoch_", None),
    }


def _artifacts(model: Any, dataset: Any, X_test: Any, y_test: Any, test_proba: Any) -> dict[str, Any]:
    # filters, activation maps and most-confident mistakes, for the report's CNN section
    if not dataset.is_image:
        return {}
    from mlbench.deep.visualize import capture

    return capture(model, X_test, y_test, test_proba)


def _sanity_params(params: Mapping[str, Any]) -> dict[str, Any]:
    # a failed check must mean "cannot learn", not "stopped early" or "too few epochs"
    return {"epochs": max(50, int(params.get("epochs") or 0)), "early_stopping": False}


def _uses_gpu(params: Mapping[str, Any]) -> bool:
    # device auto (the default) or cuda: on the GPU whenever the run has one
    return str(params.get("device", "auto")).lower() != "cpu"


@contextlib.contextmanager
def _epoch_pruning(
    estimator: Any, X_val: Any, score: Callable[[Any], float], report: Callable[[float, int], None]
) -> Iterator[None]:
    """Report the tuning metric on the validation rows after every epoch.

    The trainer calls :data:`mlbench.deep.trainer.EPOCH_END` after each epoch while it is set;
    ``report`` raises ``optuna.TrialPruned`` out of the training loop to stop a poor trial.
    """
    import numpy as np

    from mlbench.deep.trainer import EPOCH_END
    from mlbench.models.base import final_estimator, preprocessed

    def after_epoch(epoch: int) -> None:
        model = final_estimator(estimator)
        X = preprocessed(estimator, X_val)  # the preprocessing is fitted before the network trains
        raw = model.predict_proba(X) if hasattr(model, "predict_proba") else model.predict(X)
        model.model_.train()  # predicting switched the network to eval mode mid-training
        report(score(np.asarray(raw)), epoch)

    token = EPOCH_END.set(after_epoch)
    try:
        yield
    finally:
        EPOCH_END.reset(token)


_TASKS = ("classification", "regression")


def _cnn_info(name: str, description: str, check: Any = None) -> ModelInfo:
    # cnn and cnn_finetune differ only in that fine-tuning requires weights
    return ModelInfo(
        name=name,
        factory=_cnn,
        task_types=_TASKS,
        param_names={"classification": CNN_PARAMS, "regression": CNN_PARAMS},
        input_kind="image",
        validation_fit=_validation_fit,
        monitor_fit=_monitor_fit,
        check=check,
        preflight=_preflight_cnn,
        modules=("torch", "timm"),
        description=description,
        describe=_describe,
        artifacts=_artifacts,
        sanity_params=_sanity_params,
        uses_gpu=_uses_gpu,
        tuning_space={task: _SPACE for task in _TASKS},
        param_bounds=_BOUNDS,
        pruning=_epoch_pruning,
        capacity_params=("arch",),
        remedies={
            "degradation": Remedy("augmentation", f"{name}: {{augment: light}}"),
            "val_loss": Remedy("early stopping", f"{name}: {{early_stopping: 10}}"),
            # a few optimiser steps leave a network near its initialisation: min_steps raises the
            # epochs until it has taken that many (a higher lr or a larger arch are the others)
            "underfitting": Remedy("more epochs", f"{name}: {{min_steps: 1000}}"),
        },
    )


register_model(_cnn_info("cnn", "timm CNN trained from scratch (any timm arch; GPU when present)"))
register_model(
    _cnn_info(
        "cnn_finetune",
        "timm CNN fine-tuned from a checkpoint file, the local hub cache, or a pretrain dataset",
        check=_check_finetune,
    )
)
register_model(
    ModelInfo(
        name="mlp",
        factory=_mlp,
        task_types=_TASKS,
        param_names={"classification": MLP_PARAMS, "regression": MLP_PARAMS},
        scale=True,
        validation_fit=_validation_fit,
        monitor_fit=_monitor_fit,
        modules=("torch",),
        description="torch MLP for tabular data (same trainer as the CNNs)",
        describe=_describe,
        sanity_params=_sanity_params,
        uses_gpu=_uses_gpu,
        tuning_space={task: _SPACE for task in _TASKS},
        param_bounds=_BOUNDS,
        pruning=_epoch_pruning,
        capacity_params=("hidden_sizes",),
        remedies={
            "degradation": Remedy("dropout", "mlp: {dropout: 0.3}"),
            "val_loss": Remedy("early stopping", "mlp: {early_stopping: 10}"),
            "underfitting": Remedy("more epochs", "mlp: {min_steps: 1000}"),
        },
    )
)
