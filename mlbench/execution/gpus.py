"""Which GPUs a run may use, and which jobs need one; decided without importing torch.

The coordinator only schedules: it finds the cards with ``nvidia-smi -L`` (honouring
``CUDA_VISIBLE_DEVICES``), and each GPU worker sets ``CUDA_VISIBLE_DEVICES`` to its card before
torch first touches CUDA, so a job sees exactly one device (``cuda:0``). CPU workers get
``CUDA_VISIBLE_DEVICES=""``, so a model that would pick a GPU by itself (xgboost, ``device:
auto``) stays on the CPU instead of crowding the card the scheduler hands out.

Testing hook: ``MLBENCH_FAKE_GPUS=N`` declares N cards (ids ``0..N-1``) that do not exist. Jobs
are scheduled exactly as on a machine with N GPUs (one GPU job per slot, pinned workers), but a
fake card's worker hides every real device, so the job itself runs on the CPU. It is how the
scheduling is tested on machines without a GPU; never set it for real runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlbench.hardware import FAKE_ENV, detect_gpus, resolve_gpus

if TYPE_CHECKING:  # pragma: no cover
    from mlbench.suite import Job

__all__ = ["FAKE_ENV", "GpuPlan", "detect_gpus", "job_uses_gpu", "plan_gpus", "uses_gpu"]


@dataclass(frozen=True)
class GpuPlan:
    """The GPU slots of a local run.

    Attributes
    ----------
    gpus : tuple of int
        Card indices used (empty: no GPU scheduling, workers keep the environment they inherit).
    jobs_per_gpu : int
        Concurrent GPU jobs per card.
    fake : bool
        The cards come from ``MLBENCH_FAKE_GPUS`` (jobs run on the CPU; see the module docstring).
    hide : bool
        CPU workers get ``CUDA_VISIBLE_DEVICES=""`` (GPUs exist and are scheduled, or ``gpus: 0``).
    """

    gpus: tuple[int, ...] = ()
    jobs_per_gpu: int = 1
    fake: bool = False
    hide: bool = False

    @property
    def slots(self) -> list[int]:
        """One card index per concurrent GPU job (``[0, 0, 2, 2]`` for cards 0 and 2, two jobs each)."""
        return [g for g in self.gpus for _ in range(self.jobs_per_gpu)]

    def worker_env(self, gpu: int | None) -> dict[str, str]:
        """Environment a worker sets before importing anything that may start CUDA."""
        if gpu is None:
            return {"CUDA_VISIBLE_DEVICES": ""} if self.hide else {}
        # a fake card's worker must not find a real one either: the job runs on the CPU
        return {"CUDA_VISIBLE_DEVICES": "" if self.fake else str(gpu), "MLBENCH_GPU_SLOT": str(gpu)}


def plan_gpus(
    gpus: str | int | Sequence[int], jobs_per_gpu: int = 1, env: Mapping[str, str] | None = None
) -> GpuPlan:
    """Resolve ``executor.gpus`` against the cards this machine has.

    Parameters
    ----------
    gpus : "auto", int or list of int
        ``auto``: every visible card; N: the first N visible cards (0 turns GPU use off);
        a list: those physical indices.
    jobs_per_gpu : int
        Concurrent GPU jobs per card.
    env : mapping, optional
        Environment to detect with (default ``os.environ``).

    Raises
    ------
    ConfigError
        More cards asked for than found, or a listed index that is not visible.
    """
    env = os.environ if env is None else env
    fake = bool(env.get(FAKE_ENV))
    if gpus == 0:
        return GpuPlan((), jobs_per_gpu, fake, hide=True)
    chosen = resolve_gpus(gpus, env)
    return GpuPlan(tuple(chosen), jobs_per_gpu, fake, hide=bool(chosen))


def uses_gpu(model_name: str, params: Mapping[str, Any], gpus_available: bool) -> bool:
    """Whether a job of this model with these parameters runs on a GPU when the run has one.

    Deep models (``device`` auto or cuda) use one whenever the run has GPUs; ``knn`` and
    ``xgboost`` only with ``device: cuda``; a model registered with ``needs_gpu`` always.
    """
    from mlbench.models import MODELS

    info = MODELS.get(model_name)
    if info.needs_gpu:
        return True
    device = str(params.get("device", "auto")).lower()
    if device.startswith("cuda"):
        return True
    if info.uses_gpu is not None:
        return bool(gpus_available and info.uses_gpu(info.params_for(dict(params), info.task_types[0])))
    return False


def job_uses_gpu(job: Job, gpus_available: bool) -> bool:
    """:func:`uses_gpu` for a job."""
    return uses_gpu(job.model_name, job.params, gpus_available)


# -- in the worker: GPU memory of one job ------------------------------------------------------
def _torch_cuda() -> Any:
    """``torch.cuda`` when a job in this process has already started CUDA, else None.

    Never imports torch nor starts CUDA: a CPU job's row gets no GPU figure and pays nothing.
    """
    import sys

    torch = sys.modules.get("torch")
    if torch is None:
        return None
    try:
        return torch.cuda if torch.cuda.is_initialized() else None
    except Exception:
        return None


def reset_gpu_peak() -> None:
    """Start a job's GPU peak from the memory held now (a warm worker ran earlier jobs)."""
    cuda = _torch_cuda()
    if cuda is not None:
        cuda.reset_peak_memory_stats()


def gpu_peak_mb() -> float | None:
    """Peak memory torch allocated on this process's GPU since :func:`reset_gpu_peak`, in MB.

    None when CUDA was never started in this process (a CPU job). Only torch's allocator is
    seen: XGBoost's own GPU memory is not counted.
    """
    cuda = _torch_cuda()
    if cuda is None:
        return None
    return cuda.max_memory_allocated() / 2**20


def is_gpu_oom(exc: BaseException) -> bool:
    """Whether ``exc`` is a GPU out-of-memory error (torch's or a CUDA library's)."""
    if type(exc).__name__ == "OutOfMemoryError":  # torch.OutOfMemoryError, torch.cuda.OutOfMemoryError
        return True
    text = str(exc)
    return "CUDA out of memory" in text or "cudaErrorMemoryAllocation" in text


def recover_gpu() -> None:
    """After a GPU out-of-memory error: drop the failed job's tensors and return cached blocks.

    The worker then takes its next job with the card's memory free again.
    """
    import gc

    gc.collect()
    cuda = _torch_cuda()
    if cuda is not None:
        try:
            cuda.empty_cache()
        except Exception:
            pass
