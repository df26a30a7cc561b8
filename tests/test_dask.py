"""The Dask executor on a real LocalCluster: GPU resources and the per-job memory budget."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

pytest.importorskip("dask.distributed")

from dask.distributed import Client, LocalCluster

from mlbench.execution.dask import DaskExecutor, check_worker_memory
from mlbench.pipeline import run_suite
from mlbench.suite import load_suite

PLUGIN = Path(__file__).parent / "plugins" / "gpu_models.py"


def test_gpu_jobs_never_exceed_the_clusters_gpu_resource(tmp_path, max_overlap):
    # two workers with two threads each and one (fake) GPU each: four jobs at once, two on GPUs
    with LocalCluster(
        n_workers=2,
        threads_per_worker=2,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        resources={"GPU": 1},
    ) as cluster:
        suite_file = tmp_path / "suite.yaml"
        suite_file.write_text(
            textwrap.dedent(
                f"""
                name: daskgpu
                baseline: false
                plugins: [{PLUGIN}]
                resampling: {{kind: kfold, folds: 6}}
                datasets: [iris]
                models: [decision_tree, gpu_sleeper: {{seconds: 0.5}}]
                executor: {{kind: dask, address: "{cluster.scheduler_address}"}}
                """
            )
        )
        suite = load_suite(suite_file, output=tmp_path / "out")
        outcome = run_suite(suite, write_report=False)
    assert outcome.counts["ok"] == 12
    from mlbench import load_results

    rows = load_results(tmp_path / "out")
    gpu = rows[rows["model"] == "gpu_sleeper"]
    assert (
        gpu["gpu_job"].astype(bool).all()
        and not rows.loc[rows["model"] != "gpu_sleeper", "gpu_job"].astype(bool).any()
    )
    # the started/finished times are the workers' own: never more than 2 GPU jobs at once
    assert 1 <= max_overlap(gpu) <= 2


def test_job_memory_budget_is_the_local_clusters_worker_limit():
    executor = DaskExecutor(workers=1, job_memory_gb=1.5)
    client, cluster = executor._client()
    try:
        limits = [w["memory_limit"] for w in client.scheduler_info()["workers"].values()]
        assert limits == [int(1.5 * 2**30)]
        assert check_worker_memory(client, 1.5) == []
        (message,) = check_worker_memory(client, 4)
        assert "allows 1.50 GB per job" in message and "budget.job_memory_gb=4" in message
    finally:
        client.close()
        cluster.close()


def test_an_existing_cluster_with_too_little_memory_per_job_is_warned_about():
    with LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        memory_limit="2GiB",
    ) as cluster:
        executor = DaskExecutor(address=cluster.scheduler_address, job_memory_gb=1.5)
        with pytest.warns(UserWarning, match=r"allows 1.00 GB per job \(2.00 GB over 2 threads\)"):
            client, _ = executor._client()
        client.close()
        with Client(cluster.scheduler_address) as client:
            assert check_worker_memory(client, None) == []
