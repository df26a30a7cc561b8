"""scikit-learn-compatible deep learning estimators: timm CNNs and tabular MLPs, one trainer.

``TimmClassifier`` / ``TimmRegressor`` train any timm architecture from scratch or fine-tune it
(from a local checkpoint file, the local Hugging Face cache, or a model pretrained by mlbench on a
source dataset). ``MLPClassifier`` / ``MLPRegressor`` are torch MLPs for tabular data trained by
the same loop (:mod:`mlbench.deep.trainer`), so "trees or deep learning?" is answered with one
training procedure. All follow the scikit-learn API: ``__init__`` stores parameters, ``fit``
validates and sets attributes ending in ``_``; they work in ``Pipeline``, ``GridSearchCV``,
``cross_val_score``. torch and timm are imported on first use, not when this module is imported.
"""

from __future__ import annotations

import abc
import copy
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from mlbench.errors import ModelError, did_you_mean
from mlbench.neighbors import TorchKNeighborsClassifier, TorchKNeighborsRegressor

__all__ = [
    "MLPClassifier",
    "MLPRegressor",
    "TimmClassifier",
    "TimmRegressor",
    "TorchKNeighborsClassifier",
    "TorchKNeighborsRegressor",
]

_CHOICES = {
    "optimizer": ("sgd", "adamw"),
    "lr_schedule": ("constant", "step", "cosine", "onecycle"),
    "loss": ("auto", "cross_entropy", "bce", "mse"),
    "augment": ("none", "light"),
    "precision": ("auto", "fp32", "bf16"),
    "device": ("auto", "cpu", "cuda"),
}


class _TorchEstimator(BaseEstimator, abc.ABC):
    """Shared fit/predict machinery; subclasses build the network and shape the inputs."""

    _task = "classification"

    # -- subclass hooks ---------------------------------------------------------------------
    @abc.abstractmethod
    def _prepare_X(self, X: Any, fitting: bool) -> np.ndarray:
        """Validate X and shape it for the network."""

    @abc.abstractmethod
    def _build_network(self, input_shape: tuple[int, ...], n_outputs: int) -> Any:
        """Create the (untrained) torch module."""

    def _head_parameters(self) -> list[Any] | None:
        return None

    @abc.abstractmethod
    def _embed(self, xb: Any) -> Any:
        """Penultimate-layer features of one batch."""

    # -- validation -------------------------------------------------------------------------
    def _check_params(self) -> None:
        for name, choices in _CHOICES.items():
            value = getattr(self, name)
            if value not in choices:
                raise ModelError(
                    f"{type(self).__name__}: {name}={value!r} is not one of {', '.join(choices)}."
                    + did_you_mean(str(value), choices)
                )
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1:
                raise ModelError(f"{type(self).__name__}: {name} must be a positive integer, got {value!r}")
        if not (isinstance(self.lr, int | float) and self.lr > 0):
            raise ModelError(f"{type(self).__name__}: lr must be a positive number, got {self.lr!r}")
        if not (0 < self.val_fraction < 1):
            raise ModelError(
                f"{type(self).__name__}: val_fraction must be in (0, 1), got {self.val_fraction!r}"
            )
        if self._task == "classification" and self.loss == "mse":
            raise ModelError(
                f"{type(self).__name__}: loss='mse' is for regression; use loss='cross_entropy' "
                f"(softmax) or 'bce' (sigmoid) for classification, or {type(self).__name__.replace('Classifier', 'Regressor')}"
            )
        if self._task == "regression" and self._loss() != "mse":
            raise ModelError(
                f"{type(self).__name__}: regression trains with loss='mse', got loss={self.loss!r}"
            )

    def _loss(self) -> str:
        """``auto``: softmax cross-entropy for classifiers, MSE for regressors."""
        if self.loss == "auto":
            return "cross_entropy" if self._task == "classification" else "mse"
        return self.loss

    def _train_config(self) -> Any:
        from mlbench.deep.trainer import TrainConfig

        es = self.early_stopping
        patience = 0 if es in (False, None, 0) else (10 if es is True else int(es))
        return TrainConfig(
            epochs=int(self.epochs),
            min_steps=int(self.min_steps or 0),
            batch_size=int(self.batch_size),
            lr=float(self.lr),
            optimizer=self.optimizer,
            momentum=float(self.momentum),
            weight_decay=float(self.weight_decay),
            lr_schedule=self.lr_schedule,
            step_size=int(self.step_size),
            gamma=float(self.gamma),
            warmup_epochs=float(self.warmup_epochs),
            label_smoothing=float(self.label_smoothing),
            loss=self._loss(),
            augment=self.augment,
            early_stopping=patience,
            freeze_epochs=int(getattr(self, "freeze_epochs", 0) or 0),
            channels_last=bool(self.channels_last),
            precision=self.precision,
            verbose=bool(self.verbose),
        )

    # -- fit ----------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any, validation_data: tuple[Any, Any] | None = None) -> _TorchEstimator:
        """Train the network.

        Parameters
        ----------
        X : array-like
            Training inputs (see the class docstring for accepted shapes).
        y : array-like of shape (n_samples,)
            Class labels (classifiers) or targets (regressors).
        validation_data : tuple (X_val, y_val), optional
            Rows for early stopping and the validation columns of ``history_``. Without it and
            with ``early_stopping``, ``val_fraction`` of the training rows are held out.

        Returns
        -------
        self
        """
        import torch

        from mlbench.deep import trainer

        self._check_params()
        Xa = self._prepare_X(X, fitting=True)
        y = self._prepare_y(y, fitting=True)
        check_consistent_length(Xa, y)
        if len(y) < 2:
            # BatchNorm and the input standardisation need two rows
            raise ValueError(
                f"{type(self).__name__} needs at least 2 samples to train, got n_samples={len(y)}"
            )
        if validation_data is not None:
            Xv = self._prepare_X(validation_data[0], fitting=False)
            yv = self._prepare_y(validation_data[1], fitting=False)
            check_consistent_length(Xv, yv)
        elif self._train_config().early_stopping and len(y) >= 10:
            Xa, Xv, y, yv = self._holdout(Xa, y)
        else:
            Xv = yv = None

        seed = self._seed()
        device = trainer.resolve_device(self.device)
        if self.n_threads:
            torch.set_num_threads(int(self.n_threads))
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        trainer.seed_everything(seed)
        n_outputs = len(self.classes_) if self._task == "classification" else 1
        net = self._build_network(Xa.shape[1:], n_outputs)
        cfg = self._train_config()
        Xt = self._to_tensor(Xa, device, fit_stats=True)
        Xvt = self._to_tensor(Xv, device) if Xv is not None else None
        yt = self._target_tensor(y, device)
        yvt = self._target_tensor(yv, device) if yv is not None else None
        net = net.to(device)
        if cfg.channels_last and Xt.ndim == 4:
            net = net.to(memory_format=torch.channels_last)
        self.model_ = net
        metric = (
            trainer.accuracy_metric
            if self._task == "classification"
            else trainer.rmse_metric_factory(self.y_scale_)
        )
        self.history_, self.best_epoch_ = trainer.train(
            net,
            Xt,
            yt,
            X_val=Xvt,
            y_val=yvt,
            cfg=cfg,
            device=device,
            n_outputs=n_outputs,
            seed=seed,
            head_params=self._head_parameters(),
            metric=metric,
        )
        self.n_params_ = int(sum(p.numel() for p in net.parameters()))
        self.device_ = device.type
        return self

    def _seed(self) -> int:
        if self.random_state is None:
            return int(np.random.randint(0, 2**31 - 1))  # noqa: NPY002 - sklearn's None = global RNG
        if isinstance(self.random_state, np.random.RandomState):
            return int(self.random_state.randint(0, 2**31 - 1))
        return int(self.random_state)

    def _holdout(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
        from sklearn.model_selection import train_test_split

        stratify = None
        if self._task == "classification":
            counts = np.bincount(y)
            n_val = math.ceil(self.val_fraction * len(y))
            if counts[counts > 0].min() >= 2 and n_val >= len(self.classes_):
                stratify = y
        X_fit, X_val, y_fit, y_val = train_test_split(
            X, y, test_size=self.val_fraction, random_state=self._seed(), stratify=stratify
        )
        return X_fit, X_val, y_fit, y_val

    def _prepare_y(self, y: Any, fitting: bool) -> np.ndarray:
        # sklearn's y validation (None, column vectors with a DataConversionWarning, NaN/inf);
        # validate_data(X="no_validation") would reset the feature names _prepare_X just stored
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        y = column_or_1d(y, warn=True)
        y = check_array(
            y, ensure_2d=False, dtype=np.float64 if self._task == "regression" else None, input_name="y"
        )
        if self._task == "classification":
            if fitting:
                check_classification_targets(y)
                self._le = LabelEncoder().fit(y)
                self.classes_ = self._le.classes_
                if len(self.classes_) < 2:
                    from mlbench.errors import plain

                    raise ValueError(
                        f"{type(self).__name__} needs samples of at least 2 classes in the data, but the data "
                        f"contains only one class: {plain(self.classes_[0])!r}"
                    )
            return self._le.transform(y).astype(np.int64)
        y = y.astype(np.float64)
        if fitting:
            self.y_mean_ = float(y.mean())
            self.y_scale_ = float(y.std()) or 1.0
        return (y - self.y_mean_) / self.y_scale_

    def _target_tensor(self, y: np.ndarray, device: Any) -> Any:
        import torch

        dtype = torch.long if self._task == "classification" else torch.float32
        return torch.as_tensor(y, dtype=dtype).to(device)

    def _to_tensor(self, X: np.ndarray, device: Any, fit_stats: bool = False) -> Any:
        import torch

        t = torch.as_tensor(np.ascontiguousarray(X, dtype=np.float32))
        t = self._transform_tensor(t, fit_stats)
        t = t.to(device)
        if self.channels_last and t.ndim == 4:
            t = t.contiguous(memory_format=torch.channels_last)
        return t

    def _transform_tensor(self, t: Any, fit_stats: bool) -> Any:
        # standardise with training statistics (per channel for images, per feature for tables)
        dims = (0, 2, 3) if t.ndim == 4 else (0,)
        if fit_stats:
            mean = t.mean(dim=dims, keepdim=True)
            std = t.std(dim=dims, keepdim=True) if len(t) > 1 else t.new_ones(mean.shape)
            self.input_mean_ = mean.squeeze(0)
            self.input_std_ = std.clamp_min(1e-6).squeeze(0)
        return (t - self.input_mean_.unsqueeze(0)) / self.input_std_.unsqueeze(0)

    # -- predict ------------------------------------------------------------------------------
    def _outputs(self, X: Any) -> Any:
        import torch

        from mlbench.deep.trainer import predict_outputs

        check_is_fitted(self, "model_")
        Xa = self._prepare_X(X, fitting=False)
        device = next(self.model_.parameters()).device
        t = self._to_tensor(Xa, device)
        if len(t) == 0:
            return torch.empty((0, len(self.classes_) if self._task == "classification" else 1))
        return predict_outputs(
            self.model_, t, max(256, int(self.batch_size)), device, self.precision, self.channels_last
        )

    def transform(self, X: Any) -> np.ndarray:
        """Penultimate-layer embeddings (the features the head sees), shape (n_samples, n_features)."""
        import torch

        check_is_fitted(self, "model_")
        Xa = self._prepare_X(X, fitting=False)
        device = next(self.model_.parameters()).device
        t = self._to_tensor(Xa, device)
        self.model_.eval()
        outs = []
        with torch.no_grad():
            # an empty batch still runs through the network, so the width comes out right
            for start in range(0, max(1, len(t)), 256):
                outs.append(self._embed(t[start : start + 256]).float().cpu())
        return torch.cat(outs).numpy()

    def __getstate__(self) -> dict[str, Any]:
        # A pickle must load on a machine without a GPU: store the network on the CPU.
        state = self.__dict__.copy()
        model = state.get("model_")
        if model is not None and any(p.is_cuda for p in model.parameters()):
            state["model_"] = copy.deepcopy(model).cpu()
        for key in ("input_mean_", "input_std_"):
            if key in state and getattr(state[key], "is_cuda", False):
                state[key] = state[key].cpu()
        return state

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        return tags


class _EmbeddingMixin(TransformerMixin):
    """``transform`` = penultimate embeddings, float32 whatever the input dtype (the network's dtype)."""

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()  # TransformerMixin creates transformer_tags here
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


_TRAIN_DOC = """
    epochs : int, default=10
    min_steps : int, default=0
        Train at least this many optimiser steps (more epochs on small training sets, where an
        epoch is one or two steps); early stopping never stops before them.
    batch_size : int, default=64
    lr : float
        Peak learning rate.
    optimizer : {"sgd", "adamw"}
        SGD uses Nesterov momentum when ``momentum`` > 0.
    momentum, weight_decay : float
    lr_schedule : {"onecycle", "cosine", "step", "constant"}
        ``step`` multiplies the rate by ``gamma`` every ``step_size`` epochs.
    step_size : int
    gamma : float
    warmup_epochs : float
        Linear warm-up (not with onecycle, which has its own).
    label_smoothing : float
    loss : {"auto", "cross_entropy", "bce", "mse"}
        Softmax cross-entropy, sigmoid cross-entropy on one-hot targets, or MSE (regression);
        ``auto`` picks cross-entropy for classifiers and MSE for regressors.
    augment : {"none", "light"}
        Random translation and horizontal flip, batch-wise on the device (images only).
    early_stopping : bool or int
        Patience in epochs on the validation loss (True = 10); the best epoch's weights are restored.
        It watches the loss only once the learning-rate warm-up is over (onecycle's first quarter,
        or ``warmup_epochs``): warm-up epochs neither count towards the patience nor are kept.
    val_fraction : float
        Share of the training rows held out for early stopping when no ``validation_data`` is given.
    device : {"auto", "cpu", "cuda"}
    precision : {"auto", "fp32", "bf16"}
        ``auto``: bf16 autocast on CUDA, fp32 on the CPU.
    channels_last : bool
    n_threads : int or None
        torch CPU threads (None: torch's default).
    random_state : int, RandomState or None
    verbose : bool
"""


class _TimmBase(_TorchEstimator):
    def __init__(
        self,
        arch: str = "resnet10t",
        weights: Any = None,
        image_size: int | None = None,
        image_shape: tuple[int, int, int] | None = None,
        dropout: float = 0.0,
        freeze_epochs: int = 0,
        epochs: int = 10,
        min_steps: int = 0,
        batch_size: int = 64,
        lr: float = 0.05,
        optimizer: str = "sgd",
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
        lr_schedule: str = "onecycle",
        step_size: int = 10,
        gamma: float = 0.1,
        warmup_epochs: float = 0.0,
        label_smoothing: float = 0.0,
        loss: str = "auto",
        augment: str = "none",
        early_stopping: bool | int = False,
        val_fraction: float = 0.1,
        device: str = "auto",
        precision: str = "auto",
        channels_last: bool = True,
        n_threads: int | None = None,
        random_state: Any = None,
        verbose: bool = False,
    ) -> None:
        self.arch = arch
        self.weights = weights
        self.image_size = image_size
        self.image_shape = image_shape
        self.dropout = dropout
        self.freeze_epochs = freeze_epochs
        self.epochs = epochs
        self.min_steps = min_steps
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.step_size = step_size
        self.gamma = gamma
        self.warmup_epochs = warmup_epochs
        self.label_smoothing = label_smoothing
        self.loss = loss
        self.augment = augment
        self.early_stopping = early_stopping
        self.val_fraction = val_fraction
        self.device = device
        self.precision = precision
        self.channels_last = channels_last
        self.n_threads = n_threads
        self.random_state = random_state
        self.verbose = verbose

    # -- inputs ----------------------------------------------------------------------------------
    def _prepare_X(self, X: Any, fitting: bool) -> np.ndarray:
        arr = np.asarray(X) if not hasattr(X, "iloc") else None
        if arr is not None and arr.ndim in (3, 4):
            X = arr.astype(np.float32, copy=False)
            if not np.isfinite(X).all():
                raise ValueError(
                    f"{type(self).__name__}: input images contain NaN or infinity; clean or impute them"
                )
            X = X[:, None] if X.ndim == 3 else X
            if fitting:
                self.n_features_in_ = int(np.prod(X.shape[1:]))
                self.input_shape_ = tuple(int(s) for s in X.shape[1:])
            elif tuple(X.shape[1:]) != self.input_shape_:
                raise ValueError(
                    f"X has images of shape {tuple(X.shape[1:])}, but {type(self).__name__} was fitted on "
                    f"{self.input_shape_}"
                )
            return X
        X = validate_data(self, X, reset=fitting, dtype=np.float32)
        shape = self.image_shape
        if shape is not None:
            shape = tuple(int(s) for s in shape)
            if len(shape) == 2:
                shape = (1, *shape)
            if len(shape) != 3 or int(np.prod(shape)) != X.shape[1]:
                raise ValueError(
                    f"{type(self).__name__}: image_shape={self.image_shape} needs {int(np.prod(shape))} "
                    f"features per row, X has {X.shape[1]}; set image_shape to (channels, height, width) of your images"
                )
        else:
            # 2-D data without image_shape: each row is a 1 x n_features "image", so the class
            # also works on plain tables (and in scikit-learn's estimator checks)
            shape = (1, 1, X.shape[1])
        if fitting:
            self.input_shape_ = shape
        return X.reshape(len(X), *shape)

    def _transform_tensor(self, t: Any, fit_stats: bool) -> Any:
        from torch.nn import functional as F

        if self.image_size and len(t) and tuple(t.shape[-2:]) != (self.image_size, self.image_size):
            t = F.interpolate(t, size=(int(self.image_size),) * 2, mode="bilinear", align_corners=False)
        return super()._transform_tensor(t, fit_stats)

    # -- network -----------------------------------------------------------------------------------
    def _build_network(self, input_shape: tuple[int, ...], n_outputs: int) -> Any:
        from mlbench.deep.pretrain import resolve_weights
        from mlbench.deep.timm_models import create

        # pretraining (weights={pretrain: ...}) trains a clone of this estimator first
        weights, pretrained = resolve_weights(self.arch, self.weights, template=self)
        net, source = create(
            self.arch,
            num_classes=n_outputs,
            in_chans=int(input_shape[0]),
            drop_rate=float(self.dropout),
            weights=weights,
        )
        self.weights_source_ = pretrained or source
        return net

    def _head_parameters(self) -> list[Any] | None:
        if not self.freeze_epochs:
            return None
        return list(self.model_.get_classifier().parameters())

    def _embed(self, xb: Any) -> Any:
        return self.model_.forward_head(self.model_.forward_features(xb), pre_logits=True)

    def save_checkpoint(self, path: str | Path) -> Path:
        """Write the fitted network's weights (``.safetensors`` or ``.pth``) for later fine-tuning.

        Parameters
        ----------
        path : str or Path
            Target file; the suffix picks the format.
        """
        import torch

        check_is_fitted(self, "model_")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.model_.state_dict().items()}
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        if path.suffix == ".safetensors":
            from safetensors.torch import save_file

            save_file(state, str(tmp))
        else:
            torch.save(state, tmp)
        os.replace(tmp, path)
        return path


class TimmClassifier(ClassifierMixin, _EmbeddingMixin, _TimmBase):
    __doc__ = (
        """Any timm architecture as a scikit-learn classifier, from scratch or fine-tuned.

    X may be images of shape (n, C, H, W) or (n, H, W), or flat rows (n, features) with
    ``image_shape``; flat rows without it are treated as 1 x features images.

    Parameters
    ----------
    arch : str
        A timm model name (``timm.list_models()``), e.g. ``resnet10t``, ``test_resnet``.
    weights : None, str, "hub" or dict
        None: from scratch. A path to a ``.pth`` / ``.safetensors`` checkpoint: fine-tune (head reset
        to the new classes, first conv adapted to the input channels). ``"hub"``: timm's pretrained
        weights from the local Hugging Face cache only. ``{"pretrain": {"dataset": SPEC, "epochs": N}}``:
        train on that mlbench dataset first (cached by content hash), then fine-tune.
    image_size : int or None
        Resize images to image_size x image_size (bilinear, on the device).
    image_shape : tuple or None
        (C, H, W) of flat rows.
    dropout : float
        timm ``drop_rate`` before the classifier.
    freeze_epochs : int
        Train only the classifier head for the first k epochs (fine-tuning)."""
        + _TRAIN_DOC
        + """
    Attributes
    ----------
    classes_, model_, history_, best_epoch_, n_params_, device_
    """
    )

    _task = "classification"

    def __sklearn_tags__(self) -> Any:
        # here, not in _TimmBase: ClassifierMixin replaces classifier_tags after _TimmBase ran
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True  # a CNN on 2-D toy data misses sklearn's score thresholds
        return tags

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``."""
        return _probabilities(self, self._outputs(X))

    def predict(self, X: Any) -> np.ndarray:
        """Most probable class per row."""
        proba = self.predict_proba(X)  # first: it raises NotFittedError before classes_ is read
        return self.classes_[np.argmax(proba, axis=1)]


class TimmRegressor(RegressorMixin, _EmbeddingMixin, _TimmBase):
    __doc__ = (
        """Any timm architecture as a scikit-learn regressor (one output, MSE on standardised targets).

    Parameters are those of :class:`TimmClassifier` (``loss`` is ``"auto"`` or ``"mse"``)."""
        + _TRAIN_DOC
    )

    _task = "regression"

    def __sklearn_tags__(self) -> Any:
        # here, not in _TimmBase: RegressorMixin replaces regressor_tags after _TimmBase ran
        tags = super().__sklearn_tags__()
        tags.regressor_tags.poor_score = True  # a CNN on 2-D toy data misses sklearn's score thresholds
        return tags

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets."""
        out = self._outputs(X).numpy().reshape(-1).astype(np.float64)
        return out * self.y_scale_ + self.y_mean_


def _probabilities(est: Any, out: Any) -> np.ndarray:
    import torch

    if est._loss() == "bce":
        p = torch.sigmoid(out.float())
        p = p / p.sum(dim=1, keepdim=True).clamp_min(1e-12)
    else:
        p = torch.softmax(out.float(), dim=1)
    return p.numpy().astype(np.float64)


# ---------------------------------------------------------------------------------------------
# MLP


class _MLPBase(_TorchEstimator):
    def __init__(
        self,
        hidden_sizes: tuple[int, ...] = (256, 256),
        dropout: float = 0.1,
        batch_norm: bool = True,
        epochs: int = 50,
        min_steps: int = 0,
        batch_size: int = 64,
        lr: float = 1e-3,
        optimizer: str = "adamw",
        momentum: float = 0.9,
        weight_decay: float = 1e-4,
        lr_schedule: str = "onecycle",
        step_size: int = 10,
        gamma: float = 0.1,
        warmup_epochs: float = 0.0,
        label_smoothing: float = 0.0,
        loss: str = "auto",
        augment: str = "none",
        early_stopping: bool | int = False,
        val_fraction: float = 0.1,
        device: str = "auto",
        precision: str = "auto",
        channels_last: bool = False,
        n_threads: int | None = None,
        random_state: Any = None,
        verbose: bool = False,
    ) -> None:
        self.hidden_sizes = hidden_sizes
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.epochs = epochs
        self.min_steps = min_steps
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.step_size = step_size
        self.gamma = gamma
        self.warmup_epochs = warmup_epochs
        self.label_smoothing = label_smoothing
        self.loss = loss
        self.augment = augment
        self.early_stopping = early_stopping
        self.val_fraction = val_fraction
        self.device = device
        self.precision = precision
        self.channels_last = channels_last
        self.n_threads = n_threads
        self.random_state = random_state
        self.verbose = verbose

    def _prepare_X(self, X: Any, fitting: bool) -> np.ndarray:
        return validate_data(self, X, reset=fitting, dtype=np.float32)

    def _build_network(self, input_shape: tuple[int, ...], n_outputs: int) -> Any:
        from torch import nn

        layers: list[Any] = []
        width = int(input_shape[0])
        for h in self.hidden_sizes:
            layers.append(nn.Linear(width, int(h)))
            if self.batch_norm:
                layers.append(nn.BatchNorm1d(int(h)))
            layers.append(nn.ReLU())
            if self.dropout:
                layers.append(nn.Dropout(float(self.dropout)))
            width = int(h)
        layers.append(nn.Linear(width, n_outputs))
        return nn.Sequential(*layers)

    def _embed(self, xb: Any) -> Any:
        return self.model_[:-1](xb)


class MLPClassifier(ClassifierMixin, _EmbeddingMixin, _MLPBase):
    __doc__ = (
        """A torch multi-layer perceptron for tabular classification, trained by mlbench's trainer.

    Inputs are standardised with training statistics inside the estimator.

    Parameters
    ----------
    hidden_sizes : tuple of int
        Width of each hidden layer.
    dropout : float
        Dropout after each hidden layer.
    batch_norm : bool
        BatchNorm after each hidden linear layer."""
        + _TRAIN_DOC
    )

    _task = "classification"

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``."""
        return _probabilities(self, self._outputs(X))

    def predict(self, X: Any) -> np.ndarray:
        """Most probable class per row."""
        proba = self.predict_proba(X)  # first: it raises NotFittedError before classes_ is read
        return self.classes_[np.argmax(proba, axis=1)]


class MLPRegressor(RegressorMixin, _EmbeddingMixin, _MLPBase):
    __doc__ = (
        """A torch multi-layer perceptron for tabular regression (MSE on standardised targets).

    Parameters are those of :class:`MLPClassifier` (``loss`` is ``"auto"`` or ``"mse"``)."""
        + _TRAIN_DOC
    )

    _task = "regression"

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets."""
        out = self._outputs(X).numpy().reshape(-1).astype(np.float64)
        return out * self.y_scale_ + self.y_mean_
