"""Build timm networks from scratch or from weights that are available offline.

``weights`` is None (scratch), a local ``.pth`` / ``.safetensors`` file, or ``"hub"`` (timm's
pretrained tag, from the local Hugging Face cache only). The estimators' ``{"pretrain": {...}}``
weights are a training run, resolved to a checkpoint file by :mod:`mlbench.deep.pretrain` before
they reach :func:`create`. Every failure is a :class:`~mlbench.errors.ModelError` that says how to
fix it, raised before any training starts.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mlbench.context import resolve as _resolve
from mlbench.errors import ModelError, did_you_mean


def _arch_list_file() -> Path | None:
    """Cache of timm's architecture names, one file per timm version (None if timm is absent)."""
    from importlib.metadata import PackageNotFoundError, version

    from mlbench.cache import cache_root

    try:
        return cache_root() / "timm" / f"models-{version('timm')}.txt"
    except PackageNotFoundError:
        return None


def check_arch(arch: str) -> None:
    """Raise ModelError for a name timm does not know, with the closest names.

    A name found in the cached list of this timm version's architectures is accepted without
    importing timm (and torch): that import is most of ``mlbench run``'s time before the first
    job. Anything else (a new name, a pretrained tag, a model a plugin registers) asks timm.
    """
    cached = _arch_list_file()
    if isinstance(arch, str) and cached is not None and cached.is_file():
        try:
            if arch in cached.read_text().split():
                return
        except OSError:
            pass
    import timm

    if cached is not None and not cached.is_file():
        try:  # best effort: a read-only cache only costs the import next time
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
            tmp.write_text("\n".join(timm.list_models()))
            os.replace(tmp, cached)
        except OSError:
            pass
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
) -> tuple[Any, str]:
    """Create the network; return it and a one-line description of where its weights came from.

    Parameters
    ----------
    arch : str
        A timm architecture name.
    num_classes, in_chans : int
        Outputs of the head and channels of the input.
    drop_rate : float
        timm's dropout before the classifier.
    weights : None, str or PathLike
        None / False / ``"none"``: random init; ``"hub"``: timm's pretrained weights from the
        local Hugging Face cache; a path: a local checkpoint (see :func:`load_file`).
    """
    import timm

    check_arch(arch)
    kwargs = {"num_classes": num_classes, "in_chans": in_chans, "drop_rate": drop_rate}
    if weights is None or weights is False or weights == "none":
        return timm.create_model(arch, pretrained=False, **kwargs), "scratch"
    if weights == "hub":
        return _from_hub(arch, kwargs), "hub"
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
