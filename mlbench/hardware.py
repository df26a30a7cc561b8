"""The machine a run runs on: GPUs (found without importing torch), CPU and memory.

One implementation of GPU detection for the whole package: :func:`detect_gpus` (the cards a
run may schedule, from ``nvidia-smi -L`` narrowed by ``CUDA_VISIBLE_DEVICES``),
:func:`cuda_present` (does this process see a real GPU: what a model factory asks before picking
``device=cuda``) and :func:`resolve_gpus` (an ``executor.gpus`` value checked against the cards
found). Suite validation, the executors and the models all ask here.

Testing hook: ``MLBENCH_FAKE_GPUS=N`` declares N cards (ids ``0..N-1``) that do not exist to
:func:`detect_gpus` (the scheduler), never to :func:`cuda_present` (so the jobs run on the CPU).
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["FAKE_ENV", "cuda_present", "detect_gpus", "hardware", "resolve_gpus", "visible_cards"]

#: The testing hook's environment variable (see the module docstring).
FAKE_ENV = "MLBENCH_FAKE_GPUS"

_LINE = re.compile(r"^GPU (\d+):.*?(?:\(UUID: ([^)]+)\))?\s*$")


def nvidia_cards() -> list[tuple[int, str]]:
    """``(index, uuid)`` of every card the driver lists; empty without nvidia-smi or a driver."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    # nvidia-smi ignores CUDA_VISIBLE_DEVICES and lists every card by its physical index
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return []
    if out.returncode != 0:
        return []
    cards = []
    for line in out.stdout.splitlines():
        m = _LINE.match(line.strip())
        if m:
            cards.append((int(m.group(1)), m.group(2) or ""))
    return cards


def visible_cards(cards: list[tuple[int, str]], visible: str | None) -> list[int]:
    """The physical indices of ``cards`` that ``CUDA_VISIBLE_DEVICES`` leaves visible, in its order."""
    if visible is None:
        return [index for index, _ in cards]
    out: list[int] = []
    for item in visible.split(","):
        item = item.strip()
        if not item:
            break
        if item.lstrip("-").isdigit():
            index = int(item)
            if index < 0:
                break  # CUDA stops at the first invalid entry; "-1" hides everything
            if any(index == i for i, _ in cards) and index not in out:
                out.append(index)
            else:
                break
        else:
            # a UUID or a unique prefix of one (GPU-8f3c...), as CUDA accepts
            match = [i for i, uuid in cards if uuid and uuid.startswith(item)]
            if len(match) != 1:
                break
            if match[0] not in out:
                out.append(match[0])
    return out


def detect_gpus(env: Mapping[str, str] | None = None) -> list[int]:
    """Physical indices of the GPUs this process may schedule jobs on.

    Parameters
    ----------
    env : mapping, optional
        The environment to read (default ``os.environ``): ``CUDA_VISIBLE_DEVICES`` narrows and
        orders the cards ``nvidia-smi -L`` lists; ``MLBENCH_FAKE_GPUS=N`` declares N fake cards.

    Returns
    -------
    list of int
        Indices to put in a worker's ``CUDA_VISIBLE_DEVICES``; empty when there is no GPU.
    """
    env = os.environ if env is None else env
    fake = env.get(FAKE_ENV)
    if fake:
        return list(range(int(fake)))
    return visible_cards(nvidia_cards(), env.get("CUDA_VISIBLE_DEVICES"))


def _driver_lists_gpus() -> bool:
    path = "/proc/driver/nvidia/gpus"
    return os.path.isdir(path) and bool(os.listdir(path))


def cuda_present(env: Mapping[str, str] | None = None) -> bool:
    """True when a real NVIDIA GPU is visible to this process (honours ``CUDA_VISIBLE_DEVICES``).

    Fake cards (``MLBENCH_FAKE_GPUS``) never count: a job on a fake card runs on the CPU. Without
    the NVIDIA driver loaded (no ``/proc/driver/nvidia/gpus`` entry) the answer is False at once,
    so CPU machines never start ``nvidia-smi`` for it.
    """
    env = os.environ if env is None else env
    if env.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1") or not _driver_lists_gpus():
        return False
    cards = nvidia_cards()
    # a driver without nvidia-smi on PATH (some containers): the driver's own list is the answer
    return bool(visible_cards(cards, env.get("CUDA_VISIBLE_DEVICES"))) if cards else True


def resolve_gpus(gpus: str | int | Sequence[int], env: Mapping[str, str] | None = None) -> list[int]:
    """The cards an ``executor.gpus`` value names on this machine.

    Parameters
    ----------
    gpus : "auto", int or list of int
        ``auto``: every visible card; N: the first N visible cards (0: none); a list: those
        physical indices.
    env : mapping, optional
        Environment to detect with (default ``os.environ``).

    Raises
    ------
    ConfigError
        More cards asked for than found, or a listed index that is not visible; the message
        starts with ``executor.gpus:`` and says what was found.
    """
    from mlbench.errors import ConfigError

    env = os.environ if env is None else env
    found = detect_gpus(env)
    where = "executor.gpus"
    if gpus == "auto":
        return found
    if isinstance(gpus, int):
        if gpus > len(found):
            raise ConfigError(
                f"{where}: {gpus} GPUs asked for but {len(found)} found ({_found_text(found, env)}); "
                f"use `gpus: auto` or at most {len(found)}"
            )
        return found[:gpus]
    missing = [g for g in gpus if g not in found]
    if missing:
        raise ConfigError(
            f"{where}: GPU {', '.join(map(str, missing))} not visible ({_found_text(found, env)}); "
            "list visible indices or use `gpus: auto`"
        )
    return list(gpus)


def _found_text(found: list[int], env: Mapping[str, str]) -> str:
    text = f"visible: {found}" if found else "nvidia-smi -L lists none"
    if env.get("CUDA_VISIBLE_DEVICES") is not None:
        text += f", CUDA_VISIBLE_DEVICES={env['CUDA_VISIBLE_DEVICES']!r}"
    return text


def hardware() -> dict[str, Any]:
    """CPU, memory and GPU presence of this machine."""
    import psutil

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "gpu": cuda_present(),
    }
