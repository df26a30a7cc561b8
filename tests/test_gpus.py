"""GPU detection and planning without torch, ``executor.gpus`` validation, GPU-job routing,
GPU out-of-memory handling; and, on a machine with CUDA, the GPU paths themselves (``gpu`` mark).
"""

from __future__ import annotations

import os
import stat
import textwrap
from pathlib import Path

import pytest
import yaml

from mlbench.errors import ConfigError
from mlbench.execution.gpus import GpuPlan, detect_gpus, plan_gpus, uses_gpu
from mlbench.hardware import visible_cards
from mlbench.suite import load_suite, parse_suite

PLUGIN = Path(__file__).parent / "plugins" / "gpu_models.py"
CARDS = [(0, "GPU-aaaa-1111"), (1, "GPU-bbbb-2222"), (2, "GPU-cccc-3333")]


@pytest.fixture
def three_cards(tmp_path, monkeypatch):
    """A stand-in ``nvidia-smi`` on PATH listing three cards (the real one cannot run here)."""
    exe = tmp_path / "bin" / "nvidia-smi"
    exe.parent.mkdir()
    lines = "\n".join(f"GPU {i}: NVIDIA H100 80GB HBM3 (UUID: {uuid})" for i, uuid in CARDS)
    exe.write_text(f"#!/bin/sh\ncat <<'END'\n{lines}\nEND\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{exe.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("MLBENCH_FAKE_GPUS", raising=False)


def test_detection_reads_nvidia_smi_and_honours_cuda_visible_devices(three_cards, monkeypatch):
    assert detect_gpus() == [0, 1, 2]
    for visible, expected in [
        ("2,0", [2, 0]),
        ("", []),
        ("-1", []),
        ("1,7,2", [1]),  # CUDA stops at the first invalid entry
        ("GPU-cccc", [2]),  # a unique UUID prefix
        ("GPU-", []),  # ambiguous prefix
    ]:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
        assert detect_gpus() == expected, visible


def test_no_nvidia_smi_means_no_gpu_and_the_fake_hook_declares_some(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("MLBENCH_FAKE_GPUS", raising=False)
    assert detect_gpus() == []
    assert detect_gpus({"MLBENCH_FAKE_GPUS": "2"}) == [0, 1]
    assert visible_cards(CARDS, None) == [0, 1, 2]


def test_plan_counts_lists_and_off(three_cards, monkeypatch):
    assert plan_gpus("auto").slots == [0, 1, 2]
    assert plan_gpus(2, jobs_per_gpu=2).slots == [0, 0, 1, 1]
    assert plan_gpus([2]).gpus == (2,)
    off = plan_gpus(0)
    assert off.gpus == () and off.hide and off.worker_env(None) == {"CUDA_VISIBLE_DEVICES": ""}
    with pytest.raises(ConfigError, match=r"4 GPUs asked for but 3 found"):
        plan_gpus(4)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    with pytest.raises(ConfigError, match=r"GPU 0 not visible \(visible: \[1\], CUDA_VISIBLE_DEVICES='1'\)"):
        plan_gpus([0, 1])
    # no GPU at all: auto schedules nothing and leaves the workers' environment alone
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert plan_gpus("auto") == GpuPlan((), 1, False, False)


@pytest.mark.parametrize(
    ("executor", "where", "needle"),
    [
        ("{gpus: yes}", "executor.gpus", "gpus is `auto`, a count of GPUs"),
        ("{gpus: -1}", "executor.gpus", "got -1"),
        ("{gpus: [0, 0]}", "executor.gpus", "lists a GPU twice"),
        ("{gpus: [0, x]}", "executor.gpus", "every index is an integer >= 0"),
        ("{gpus: 1, jobs_per_gpu: 0}", "executor.jobs_per_gpu", "greater than or equal to 1"),
        ("{gpus: [5]}", "executor.gpus", "GPU 5 not visible"),
    ],
)
def test_executor_gpus_errors_are_located(tmp_path, three_cards, executor, where, needle):
    path = tmp_path / "suite.yaml"
    path.write_text(f"datasets: [iris]\nmodels: [knn]\nexecutor: {executor}\n")
    with pytest.raises(ConfigError) as info:
        load_suite(path, machine=True)
    (message,) = info.value.messages
    assert message.startswith(f"{path}:3:") and f": {where}: " in message and needle in message, message


def test_which_jobs_use_a_gpu():
    assert uses_gpu("cnn", {}, True) and uses_gpu("mlp", {"device": "cuda"}, True)
    assert not uses_gpu("cnn", {}, False)  # no GPU in the run: a CPU job
    assert not uses_gpu("cnn", {"device": "cpu"}, True)
    assert not uses_gpu("knn", {}, True) and uses_gpu("knn", {"device": "cuda"}, True)
    assert not uses_gpu("xgboost", {}, True) and uses_gpu("xgboost", {"device": "cuda"}, True)
    assert not uses_gpu("decision_tree", {}, True)


def _job(model: str, params: dict | None = None, dataset: str = "iris"):
    entry = model if not params else {model: params}
    text = yaml.safe_dump(
        {
            "plugins": [str(PLUGIN)],
            "resampling": {"kind": "holdout", "test_size": 0.3},
            "datasets": [{"builtin": dataset}],
            "models": [entry],
        }
    )
    return parse_suite(text).expand()[0]


def test_a_gpu_out_of_memory_error_is_recorded_as_oom_and_the_next_job_runs():
    from mlbench.execution.job import run_job_safely

    row, preds = run_job_safely(_job("gpu_oom"))
    assert row["status"] == "oom" and preds is None
    assert row["error"].startswith(
        "GPU out of memory: OutOfMemoryError: CUDA out of memory. Tried to allocate"
    )
    assert "lower batch_size" in row["error"]
    row, _ = run_job_safely(_job("decision_tree"))
    assert row["status"] == "ok" and row["gpu_peak_memory_mb"] is None  # CPU job: no GPU figure


def test_knn_device_picks_the_implementation():
    from sklearn.neighbors import KNeighborsClassifier

    from mlbench.estimators import TorchKNeighborsClassifier
    from mlbench.models import MODELS

    factory = MODELS.get("knn").factory
    assert isinstance(factory({"device": "cpu"}, "classification", 0, 1), KNeighborsClassifier)
    torch_knn = factory({"device": "cuda", "algorithm": "kd_tree", "n_neighbors": 3}, "classification", 0, 2)
    assert isinstance(torch_knn, TorchKNeighborsClassifier) and torch_knn.n_neighbors == 3
    assert torch_knn.device == "cuda" and torch_knn.n_jobs == 2


# -- on a machine with CUDA ----------------------------------------------------------------------


@pytest.mark.gpu
def test_cnn_job_on_the_gpu_records_its_peak_gpu_memory():
    from mlbench.execution.job import run_job_safely

    row, _ = run_job_safely(_job("cnn", {"arch": "test_resnet", "image_size": 16, "epochs": 2}, "digits"))
    assert row["status"] == "ok" and row["device"].startswith("cuda")
    assert row["gpu_peak_memory_mb"] > 1


@pytest.mark.gpu
def test_a_real_cuda_oom_is_recorded_and_the_card_is_usable_after():
    from mlbench.execution.job import run_job_safely

    huge = {"arch": "test_resnet", "image_size": 4096, "batch_size": 4096, "epochs": 1}
    row, _ = run_job_safely(_job("cnn", huge, "digits"))
    assert row["status"] == "oom", row["error"]
    row, _ = run_job_safely(_job("cnn", {"arch": "test_resnet", "image_size": 16, "epochs": 1}, "digits"))
    assert row["status"] == "ok"


@pytest.mark.gpu
def test_xgboost_on_cuda_scores_as_cpu_hist():
    from mlbench.execution.job import run_job

    params = {"n_estimators": 200, "max_depth": 6}
    cpu, _ = run_job(_job("xgboost", {**params, "device": "cpu"}, "digits"))
    gpu, _ = run_job(_job("xgboost", {**params, "device": "cuda"}, "digits"))
    assert gpu["device"] == "cuda" and cpu["device"] == "cpu"
    # XGBoost gives no exact GPU/CPU equality (float summation order, quantile sketch): within 0.01
    assert abs(gpu["test_accuracy"] - cpu["test_accuracy"]) <= 0.01
    assert abs(gpu["test_log_loss"] - cpu["test_log_loss"]) <= 0.01


@pytest.mark.gpu
def test_warm_gpu_worker_overhead_after_the_first_job(tmp_path):
    from mlbench import load_results
    from mlbench.pipeline import run_suite

    path = tmp_path / "suite.yaml"
    path.write_text(
        textwrap.dedent(
            """
            datasets: [digits]
            resampling: {kind: kfold, folds: 4}
            models: [cnn: {arch: test_resnet, image_size: 16, epochs: 2}]
            executor: {workers: 2, gpus: 1}
            """
        )
    )
    run_suite(load_suite(path, output=tmp_path / "out"), write_report=False)
    rows = load_results(tmp_path / "out").sort_values("worker_job")
    assert set(rows["status"]) == {"ok"} and rows["worker_pid"].nunique() == 1
    warm = rows[rows["worker_job"] > 1]["overhead_seconds"]
    print(f"per-job overhead: first {rows['overhead_seconds'].iloc[0]:.2f} s, then {warm.tolist()}")
    assert warm.max() <= 0.5 + rows["predict_seconds"].max() * 2  # train/val predictions are overhead too
