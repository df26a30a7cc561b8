"""What machine a run ran on, for the report; checked without importing torch or xgboost."""

from __future__ import annotations

import os
import platform
from typing import Any

__all__ = ["cuda_present", "hardware"]


def cuda_present() -> bool:
    """True when an NVIDIA GPU is visible to this process (honours ``CUDA_VISIBLE_DEVICES``)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    return os.path.isdir("/proc/driver/nvidia/gpus") and bool(os.listdir("/proc/driver/nvidia/gpus"))


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
