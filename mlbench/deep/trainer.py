"""One training loop for every torch model mlbench fits (timm CNNs and tabular MLPs).

Speed choices follow fast-training practice (airbench): the data is moved to the device once and
batched by slicing (no DataLoader per epoch), augmentation runs batch-wise on the device,
channels_last memory format, bf16 autocast on CUDA, ``cudnn.benchmark``. On CPU torch uses the
job's threads. Everything here imports torch, so only estimators import this module, lazily.
"""

from __future__ import annotations

import contextvars
import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


@dataclass
class TrainConfig:
    """Hyper-parameters of :func:`train` (the estimators' parameters, validated)."""

    epochs: int = 10
    min_steps: int = 0
    batch_size: int = 64
    lr: float = 0.05
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 5e-4
    lr_schedule: str = "onecycle"
    step_size: int = 10
    gamma: float = 0.1
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    loss: str = "cross_entropy"
    augment: str = "none"
    early_stopping: int = 0
    freeze_epochs: int = 0
    channels_last: bool = True
    precision: str = "auto"
    verbose: bool = False


def resolve_device(device: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is a clear error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        from mlbench.errors import ModelError

        raise ModelError("device='cuda' but no CUDA GPU is available; use device='auto' or 'cpu'")
    return torch.device(device)


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device`` (None = plain fp32)."""
    if precision == "bf16" or (precision == "auto" and device.type == "cuda"):
        return torch.bfloat16
    return None


def augment_batch(x: torch.Tensor, kind: str, generator: torch.Generator) -> torch.Tensor:
    """Batch-wise augmentation on the device: ``light`` = random translation by up to 1/8 of
    the side (reflect-padded random crop) and a random horizontal flip, per image."""
    if kind == "none" or x.ndim != 4:
        return x
    n, _, h, w = x.shape
    pad = max(1, min(h, w) // 8)
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device="cpu").to(x.device)
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device="cpu").to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device)[None, :])[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=x.device)[None, :])[:, None, None, :]
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chans = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    out = padded[batch, chans, rows, cols]
    flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
    out = torch.where(flip[:, None, None, None], out.flip(-1), out)
    return (
        out.contiguous(memory_format=torch.channels_last)
        if x.is_contiguous(memory_format=torch.channels_last)
        else out
    )


def _lr_lambda(cfg: TrainConfig, steps_per_epoch: int) -> Callable[[int], float]:
    total = max(1, cfg.epochs * steps_per_epoch)
    warm = int(cfg.warmup_epochs * steps_per_epoch)

    def factor(step: int) -> float:
        if warm and step < warm:
            return (step + 1) / warm
        epoch = step / steps_per_epoch
        if cfg.lr_schedule == "step":
            return cfg.gamma ** int(epoch // max(1, cfg.step_size))
        if cfg.lr_schedule == "cosine":
            progress = (step - warm) / max(1, total - warm)
            return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
        return 1.0

    return factor


def _make_optimizer(params: list[nn.Parameter], cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(
        params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0, weight_decay=cfg.weight_decay
    )


def _onecycle_pct(total: int) -> float:
    # OneCycleLR divides by zero when the warm-up phase ends at step 0 (pct_start * total <= 1),
    # e.g. 2 epochs of 2 batches: keep at least 1.5 warm-up steps
    return max(0.25, 1.5 / total)


def warmup_steps(cfg: TrainConfig, steps_per_epoch: int) -> float:
    """Optimiser steps of ``cfg``'s learning-rate warm-up (0 without one).

    ``onecycle`` rises to its peak over the first quarter of the steps (when it has room for a
    cycle, 4 steps or more); the other schedules warm up linearly over ``warmup_epochs``.
    """
    total = max(1, cfg.epochs * steps_per_epoch)
    if cfg.lr_schedule == "onecycle":
        return _onecycle_pct(total) * total if total >= 4 else 0.0
    return float(int(cfg.warmup_epochs * steps_per_epoch))


def _make_scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int) -> Any:
    total = max(1, cfg.epochs * steps_per_epoch)
    if cfg.lr_schedule == "onecycle" and total >= 4:
        return torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=cfg.lr, total_steps=total, pct_start=_onecycle_pct(total)
        )
    if cfg.lr_schedule == "onecycle":  # fewer than 4 steps: no room for a cycle, train at the peak rate
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    return torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg, steps_per_epoch))


def loss_fn(cfg: TrainConfig, n_outputs: int) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The loss on (logits, targets): softmax cross-entropy, sigmoid BCE on one-hot targets, or MSE."""
    if cfg.loss == "mse":
        return lambda out, y: F.mse_loss(out.float().squeeze(-1), y)
    if cfg.loss == "bce":

        def bce(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            target = F.one_hot(y, n_outputs).float()
            if cfg.label_smoothing:
                target = target * (1 - cfg.label_smoothing) + cfg.label_smoothing / n_outputs
            return F.binary_cross_entropy_with_logits(out.float(), target)

        return bce
    return lambda out, y: F.cross_entropy(out.float(), y, label_smoothing=cfg.label_smoothing)


@torch.no_grad()
def predict_outputs(
    model: nn.Module,
    X: torch.Tensor,
    batch_size: int,
    device: torch.device,
    precision: str,
    channels_last: bool,
) -> torch.Tensor:
    """Raw model outputs for X in fixed batches (eval mode), as float32 on the CPU."""
    model.eval()
    dtype = autocast_dtype(precision, device)
    outs = []
    for start in range(0, len(X), batch_size):
        xb = X[start : start + batch_size].to(device, non_blocking=True)
        if channels_last and xb.ndim == 4:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            outs.append(model(xb).float().cpu())
    if not outs:
        return torch.empty(0)
    return torch.cat(outs)


#: ``hook(epoch)`` called after each epoch (1-based) while set: a tuning study reports its metric
#: there and prunes a trial by raising (the deep families' ``ModelInfo.pruning``, see
#: :mod:`mlbench.models.deep_models`). A context variable, so the trainer's signature and every
#: estimator stay as they are.
EPOCH_END: contextvars.ContextVar[Callable[[int], None] | None] = contextvars.ContextVar(
    "mlbench_epoch_end", default=None
)


def train(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    X_val: torch.Tensor | None,
    y_val: torch.Tensor | None,
    cfg: TrainConfig,
    device: torch.device,
    n_outputs: int,
    seed: int,
    head_params: list[nn.Parameter] | None = None,
    metric: Callable[[torch.Tensor, torch.Tensor], float] | None = None,
) -> tuple[list[dict[str, float]], int]:
    """Train ``model`` in place; return the per-epoch history and the best epoch.

    Parameters
    ----------
    model : torch.nn.Module
        Already on ``device`` (and in channels_last when asked).
    X, y : torch.Tensor
        Training data on ``device`` (moved once: batches are slices).
    X_val, y_val : torch.Tensor or None
        Validation data for early stopping and the history's val columns.
    cfg : TrainConfig
    device : torch.device
    n_outputs : int
        Logits per sample (classes, or 1 for regression).
    seed : int
        Seeds batch order and augmentation (the model's init is seeded by the caller).
    head_params : list of Parameter, optional
        Trained alone during the first ``cfg.freeze_epochs`` epochs (fine-tuning).
    metric : callable, optional
        ``metric(outputs, targets) -> float`` recorded per epoch (accuracy or RMSE).

    Returns
    -------
    history : list of dict
        One dict per epoch: epoch, train_loss, train_metric, val_loss, val_metric, lr, seconds.
    best_epoch : int
        The epoch whose weights the model holds at the end (the last one without early stopping).

    Notes
    -----
    Early stopping (``cfg.early_stopping`` epochs of patience on the validation loss) starts
    watching when each phase's learning-rate warm-up ends (:func:`warmup_steps`): the warm-up
    epochs neither count towards the patience nor are candidates for the restored weights, and it
    never stops before ``cfg.min_steps`` optimiser steps.
    """
    gen = torch.Generator().manual_seed(seed)
    criterion = loss_fn(cfg, n_outputs)
    n = len(X)
    batch = max(1, min(cfg.batch_size, n))
    # drop a last batch of one row: BatchNorm cannot train on it
    steps = max(1, n // batch if n % batch == 1 and n > batch else math.ceil(n / batch))
    dtype = autocast_dtype(cfg.precision, device)
    all_params = [p for p in model.parameters() if p.requires_grad]
    history: list[dict[str, float]] = []
    best_loss, best_epoch, best_state, since_best = math.inf, 0, None, 0
    # With few rows an epoch is one or two steps; min_steps keeps the optimisation budget from
    # vanishing at small training sizes (a fair learning curve needs the model to be trained).
    epochs = max(cfg.epochs, math.ceil(cfg.min_steps / steps)) if cfg.min_steps else cfg.epochs
    phases = []
    if cfg.freeze_epochs and head_params:
        phases.append(("head", min(cfg.freeze_epochs, epochs)))
    phases.append(("all", epochs - (phases[0][1] if phases else 0)))
    epoch = steps_done = 0
    stopped = False
    for phase, n_epochs in phases:
        if n_epochs <= 0 or stopped:
            continue
        params = head_params if phase == "head" else all_params
        opt = _make_optimizer(params, cfg)
        phase_cfg = copy.copy(cfg)
        phase_cfg.epochs = n_epochs
        sched = _make_scheduler(opt, phase_cfg, steps)
        # Early stopping watches the validation loss only once this phase's warm-up is over: while
        # the rate still rises the loss may climb, and stopping then kept an untrained network
        # (epoch 1's weights of an MLP, 0.15 accuracy where the majority class gives 0.49).
        watch_from = max(1, math.ceil(warmup_steps(phase_cfg, steps) / steps))
        for phase_epoch in range(1, n_epochs + 1):
            t0 = time.perf_counter()
            model.train()
            order = torch.randperm(n, generator=gen).to(device)
            total, count, metric_sum = 0.0, 0, 0.0
            lr_used = float(opt.param_groups[0]["lr"])
            for s in range(steps):
                idx = order[s * batch : (s + 1) * batch]
                if len(idx) == 0:
                    continue
                xb, yb = X[idx], y[idx]
                if cfg.augment != "none":
                    xb = augment_batch(xb, cfg.augment, gen)
                with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                    out = model(xb)
                loss = criterion(out, yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                lr_used = float(opt.param_groups[0]["lr"])  # the rate of this step, before the schedule moves
                sched.step()
                total += float(loss.detach()) * len(idx)
                count += len(idx)
                if metric is not None:
                    metric_sum += metric(out.detach(), yb) * len(idx)
            record = {
                "epoch": epoch + 1,
                "train_loss": total / max(1, count),
                "train_metric": metric_sum / max(1, count) if metric is not None else math.nan,
                "lr": lr_used,
                "phase": phase,
            }
            if X_val is not None and len(X_val):
                out_val = predict_outputs(
                    model, X_val, max(256, batch), device, cfg.precision, cfg.channels_last
                )
                y_cpu = y_val.cpu()
                record["val_loss"] = float(criterion(out_val, y_cpu))
                record["val_metric"] = metric(out_val, y_cpu) if metric is not None else math.nan
            record["seconds"] = time.perf_counter() - t0
            history.append(record)
            epoch += 1
            hook = EPOCH_END.get()
            if hook is not None:
                hook(epoch)  # hyper-parameter tuning: may raise to stop (prune) this training
            if cfg.verbose:
                print(
                    ", ".join(
                        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()
                    )
                )
            steps_done += steps
            if cfg.early_stopping and "val_loss" in record and phase_epoch >= watch_from:
                # Warm-up epochs neither count towards the patience nor are kept as the best
                # weights; no stop before min_steps optimiser steps either.
                if record["val_loss"] < best_loss - 1e-7:
                    best_loss, best_epoch, since_best = record["val_loss"], epoch, 0
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                else:
                    since_best += 1
                    if since_best >= cfg.early_stopping and steps_done >= cfg.min_steps:
                        stopped = True
                        break
    if cfg.early_stopping and best_state is not None:
        model.load_state_dict(best_state)
    else:
        best_epoch = epoch
    return history, best_epoch


def accuracy_metric(out: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of argmax predictions equal to y."""
    return float((out.argmax(dim=1) == y).float().mean())


def rmse_metric_factory(scale: float) -> Callable[[torch.Tensor, torch.Tensor], float]:
    """RMSE in the target's original units (targets are standardised for training)."""

    def rmse(out: torch.Tensor, y: torch.Tensor) -> float:
        return float(torch.sqrt(F.mse_loss(out.float().squeeze(-1), y))) * scale

    return rmse


def seed_everything(seed: int) -> None:
    """Seed torch's global generators (model init) and numpy's legacy one."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - code that draws from np.random's global state
