"""Pretraining: train an architecture on an mlbench dataset once, then fine-tune from the checkpoint.

``weights: {pretrain: {dataset: SPEC, epochs: N}}`` on a timm estimator means "first train this
architecture on that source dataset". Pretraining is a training run of the estimator itself (a
clone of it, from scratch), so it sits above network construction
(:mod:`mlbench.deep.timm_models`) and beside the estimators, which call :func:`resolve_weights`
before building their network. Checkpoints are cached under ``$MLBENCH_CACHE/pretrained`` by
content hash.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlbench.cache import cache_root, content_hash
from mlbench.context import BASE_DIR
from mlbench.errors import ModelError


def resolve_weights(arch: str, weights: Any, template: Any) -> tuple[Any, str | None]:
    """Turn a ``{"pretrain": {...}}`` mapping into a checkpoint path; pass other weights through.

    Parameters
    ----------
    arch : str
        The timm architecture being built.
    weights : Any
        The estimator's ``weights`` parameter.
    template : TimmClassifier or TimmRegressor
        The estimator asking; pretraining fits a clone of it (see :func:`pretrain_checkpoint`).

    Returns
    -------
    weights : Any
        The path of the pretrained checkpoint for a pretrain mapping, else ``weights`` unchanged.
    source : str or None
        ``"pretrained on <dataset>"`` for a pretrain mapping, else None.

    Raises
    ------
    ModelError
        For a mapping that is not ``{pretrain: {dataset: ..., epochs: N}}``.
    """
    if not isinstance(weights, dict):
        return weights, None
    if set(weights) != {"pretrain"} or not isinstance(weights["pretrain"], dict):
        raise ModelError(
            "weights as a mapping must be {pretrain: {dataset: <dataset spec>, epochs: N}}; "
            f"got keys {sorted(weights)}"
        )
    path = pretrain_checkpoint(arch, weights["pretrain"], template)
    return path, f"pretrained on {weights['pretrain'].get('dataset')}"


def pretrain_checkpoint(arch: str, spec: dict[str, Any], template: Any) -> Path:
    """Train ``arch`` on the source dataset once and return the cached checkpoint path.

    The cache key hashes the source data (bytes), the architecture and every training parameter,
    so a changed dataset or setting retrains; concurrent workers wait on a file lock instead of
    training the same model twice.

    Parameters
    ----------
    arch : str
        The timm architecture.
    spec : dict
        ``dataset`` (a dataset spec, or a builtin name) and optional ``epochs``, ``lr``,
        ``batch_size``; the other training parameters are the template's.
    template : TimmClassifier or TimmRegressor
        Cloned and trained from scratch on the source dataset (no early stopping, no freezing).

    Returns
    -------
    Path
        ``$MLBENCH_CACHE/pretrained/<arch>-<key>.safetensors``.
    """
    import fcntl

    from sklearn.base import clone

    from mlbench.datasets import load_dataset

    unknown = set(spec) - {"dataset", "epochs", "lr", "batch_size"}
    if "dataset" not in spec or unknown:
        raise ModelError(
            "pretrain needs {dataset: <dataset spec>, epochs: N} (optional lr, batch_size); "
            f"got keys {sorted(spec)}"
        )
    dataset = spec["dataset"]
    if isinstance(dataset, str):
        dataset = {"builtin": dataset}
    source = load_dataset(dataset, BASE_DIR.get())
    if not source.is_image or source.task_type != "classification":
        raise ModelError(f"pretrain dataset {source.name!r} must be an image classification dataset")
    source_est = clone(template).set_params(
        weights=None,
        epochs=int(spec.get("epochs", template.epochs)),
        freeze_epochs=0,
        early_stopping=False,
        verbose=False,
        **{k: spec[k] for k in ("lr", "batch_size") if k in spec},
    )
    if source_est.random_state is None:
        source_est.set_params(random_state=0)
    key = content_hash(
        "pretrain-v1",
        arch,
        source.X,
        source.y,
        {k: v for k, v in source_est.get_params().items() if k != "verbose"},
    )[:24]
    folder = cache_root() / "pretrained"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{arch}-{key}.safetensors"
    if path.exists():
        return path
    with open(folder / f".{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not path.exists():  # another worker may have finished it while we waited
            source_est.fit(source.X, source.classes[source.y] if source.classes is not None else source.y)
            source_est.save_checkpoint(path)
    return path
