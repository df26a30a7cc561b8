"""Build timm networks from scratch or from weights that are available offline.

``weights`` is None (scratch), a local ``.pth`` / ``.safetensors`` file, ``"hub"`` (timm's
pretrained tag, from the local Hugging Face cache only) or ``{"pretrain": {...}}`` (mlbench trains
the same architecture on a source dataset once, caches the checkpoint by content hash, and
fine-tunes from it). Every failure is a :class:`~mlbench.errors.ModelError` that says how to fix it,
raised before any training starts.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from mlbench.context import BASE_DIR
from mlbench.context import resolve as _resolve
from mlbench.errors import ModelError, did_you_mean


def check_arch(arch: str) -> None:
    """Raise ModelError for a name timm does not know, with the closest names."""
    import timm

    if not isinstance(arch, str) or not timm.is_model(arch):
        names = timm.list_models()
        raise ModelError(
            f"unknown timm architecture {arch!r}.{did_you_mean(str(arch), names)} "
            "See timm.list_models() for the valid names (e.g. resnet10t, resnet18, test_resnet)."
        )


def create(
    arch: str,
    num_classes: int,
    in_chans: int,
    drop_rate: float,
    weights: Any,
    pretrain_template: Any = None,
) -> tuple[Any, str]:
    """Create the network; return it and a one-line description of where its weights came from."""
    import timm

    check_arch(arch)
    kwargs = {"num_classes": num_classes, "in_chans": in_chans, "drop_rate": drop_rate}
    if weights is None or weights is False or weights == "none":
        return timm.create_model(arch, pretrained=False, **kwargs), "scratch"
    if weights == "hub":
        return _from_hub(arch, kwargs), "hub"
    if isinstance(weights, dict):
        if set(weights) != {"pretrain"} or not isinstance(weights["pretrain"], dict):
            raise ModelError(
                "weights as a mapping must be {pretrain: {dataset: <dataset spec>, epochs: N}}; "
                f"got keys {sorted(weights)}"
            )
        path = pretrain_checkpoint(arch, weights["pretrain"], pretrain_template)
        return load_file(arch, path, kwargs), f"pretrained on {weights['pretrain'].get('dataset')}"
    if isinstance(weights, str | os.PathLike):
        return load_file(arch, _resolve(weights), kwargs), f"file {weights}"
    raise ModelError(
        f"weights={weights!r} is not understood; use null (scratch), a checkpoint path, 'hub', "
        "or {pretrain: {dataset: ..., epochs: N}}"
    )


def _from_hub(arch: str, kwargs: dict[str, Any]) -> Any:
    import timm

    try:
        return timm.create_model(arch, pretrained=True, **kwargs)
    except Exception as exc:  # offline and not cached: huggingface_hub / urllib errors vary
        raise ModelError(
            f"pretrained weights for {arch!r} are not in the local Hugging Face cache and cannot be "
            f"downloaded here ({type(exc).__name__}). Pre-download them on a machine with network access: "
            f"python -c \"import timm; timm.create_model('{arch}', pretrained=True)\" (then copy "
            "~/.cache/huggingface), or pass a local checkpoint file as weights"
        ) from None


def _read_state_dict(path: Path) -> dict[str, Any]:
    from timm.models import load_state_dict

    if not path.is_file():
        raise ModelError(
            f"weights file {path} does not exist; check the path (relative paths are from the suite file)"
        )
    try:
        return load_state_dict(str(path))
    except Exception as exc:
        raise ModelError(
            f"weights file {path} cannot be read as a checkpoint ({type(exc).__name__}: {exc}); "
            "use a .pth or .safetensors state dict"
        ) from None


def load_file(arch: str, path: Path, kwargs: dict[str, Any]) -> Any:
    """Create ``arch`` and load a local checkpoint through timm's pretrained loader.

    timm drops the classifier when the class count differs and adapts the first convolution to
    ``in_chans``; strict loading is off in that case, so mlbench then checks that every other tensor
    really came from the file, and names the architecture mismatch when it did not.
    """
    import timm
    import torch

    path = Path(path)
    state = _read_state_dict(path)
    probe = timm.create_model(arch, pretrained=False, **kwargs)
    cfg = dict(probe.pretrained_cfg)
    classifier = cfg.get("classifier") or "fc"
    classifiers = (classifier,) if isinstance(classifier, str) else tuple(classifier)
    first_conv = cfg.get("first_conv")
    first_convs = (first_conv,) if isinstance(first_conv, str) else tuple(first_conv or ())
    head_key = classifiers[0] + ".weight"
    conv_key = (first_convs[0] + ".weight") if first_convs else None
    ckpt_classes = int(state[head_key].shape[0]) if head_key in state else kwargs["num_classes"]
    ckpt_chans = int(state[conv_key].shape[1]) if conv_key and conv_key in state else kwargs["in_chans"]
    overlay = {
        "file": str(path),
        "num_classes": ckpt_classes,
        "input_size": (ckpt_chans, *tuple(cfg.get("input_size", (3, 224, 224)))[1:]),
    }
    try:
        model = timm.create_model(arch, pretrained=True, pretrained_cfg_overlay=overlay, **kwargs)
    except (RuntimeError, KeyError, ValueError) as exc:
        raise ModelError(
            f"weights file {path} does not match architecture {arch!r} ({str(exc).splitlines()[0][:200]}); "
            "use the architecture the checkpoint was trained with"
        ) from None
    skip = {c + suffix for c in classifiers for suffix in (".weight", ".bias")}
    skip |= {c + ".weight" for c in first_convs}
    own = model.state_dict()
    missing = [k for k in own if k not in skip and k not in state]
    differing = [
        k
        for k in own
        if k not in skip
        and k in state
        and (own[k].shape != state[k].shape or not torch.equal(own[k].cpu(), state[k].to(own[k].dtype).cpu()))
    ]
    if missing or differing:
        example = (missing or differing)[:3]
        raise ModelError(
            f"weights file {path} does not match architecture {arch!r}: {len(missing) + len(differing)} of its "
            f"{len(own)} tensors were not loaded (e.g. {', '.join(example)}); "
            "use the architecture the checkpoint was trained with"
        )
    return model


def pretrain_checkpoint(arch: str, spec: dict[str, Any], template: Any) -> Path:
    """Train ``arch`` on the source dataset once and return the cached checkpoint path.

    The cache key hashes the source data (bytes), the architecture and every training parameter,
    so a changed dataset or setting retrains; concurrent workers wait on a file lock instead of
    training the same model twice.
    """
    import fcntl

    from sklearn.base import clone

    from mlbench.datasets import load_dataset
    from mlbench.estimators import _cache_dir, content_hash

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
    folder = _cache_dir() / "pretrained"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{arch}-{key}.safetensors"
    if path.exists():
        return path
    with open(folder / f".{path.name}.lock", "w") as lock, contextlib.ExitStack():
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():  # another worker may have finished it while we waited
            source_est.fit(source.X, source.classes[source.y] if source.classes is not None else source.y)
            source_est.save_checkpoint(path)
    return path
