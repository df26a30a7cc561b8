"""The local executor's GPU scheduling, thread sharing, warm workers and orphan handling.

Real worker processes, real SQLite. Without a GPU on the test machine, scheduling is exercised
with the ``MLBENCH_FAKE_GPUS`` testing hook (fake cards: GPU jobs are scheduled per slot and run
on the CPU); see :mod:`mlbench.execution.gpus`.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

import mlbench
from mlbench.execution.local import LocalExecutor, threads_per_worker
from mlbench.suite import load_suite

PLUGIN = Path(__file__).parent / "plugins" / "gpu_models.py"


def write_suite(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(textwrap.dedent(body).lstrip())
    return path


def overlaps(a: pd.Series, b: pd.DataFrame) -> bool:
    start, end = pd.to_datetime(a["started_at"]), pd.to_datetime(a["finished_at"])
    return bool(((pd.to_datetime(b["started_at"]) < end) & (pd.to_datetime(b["finished_at"]) > start)).any())


def run_cli(suite: Path, out: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlbench.cli", "run", str(suite), "--output", str(out), "-q"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def test_fake_one_gpu_runs_one_gpu_job_at_a_time_while_cpu_jobs_keep_running(tmp_path, max_overlap):
    suite = write_suite(
        tmp_path,
        f"""
        name: onegpu
        baseline: false
        plugins: [{PLUGIN}]
        resampling: {{kind: kfold, folds: 4}}
        datasets: [iris]
        models:
          - decision_tree
          - knn
          - gpu_sleeper: {{seconds: 0.4}}
        executor: {{workers: 3, gpus: [0]}}
        """,
    )
    out = tmp_path / "out"
    done = run_cli(suite, out, {"MLBENCH_FAKE_GPUS": "1"})
    assert done.returncode == 0, done.stderr
    rows = mlbench.load_results(out)
    assert set(rows["status"]) == {"ok"} and len(rows) == 12
    gpu = rows[rows["model"] == "gpu_sleeper"]
    cpu = rows[rows["model"] != "gpu_sleeper"]
    assert list(gpu["gpu_id"]) == [0] * 4 and cpu["gpu_id"].isna().all()
    assert max_overlap(gpu) == 1, "two GPU jobs ran at once on a 1-GPU executor"
    # the CPU jobs did not wait for the GPU queue: some ran while a GPU job was running
    assert any(overlaps(row, cpu) for _, row in gpu.iterrows())
    # one warm GPU worker served every GPU job, in turn
    assert gpu["worker_pid"].nunique() == 1 and sorted(gpu["worker_job"]) == [1, 2, 3, 4]
    # per-job overhead is recorded: wall - fit - predict
    assert (rows["overhead_seconds"] >= 0).all()
    assert (
        (
            rows["wall_seconds"] - rows["fit_seconds"] - rows["predict_seconds"] - rows["overhead_seconds"]
        ).abs()
        < 1e-6
    ).all()
    assert rows["gpu_peak_memory_mb"].isna().all() if "gpu_peak_memory_mb" in rows else True


def test_two_slots_per_gpu_allow_two_gpu_jobs_and_gpu_jobs_go_first(tmp_path, monkeypatch, max_overlap):
    monkeypatch.setenv("MLBENCH_FAKE_GPUS", "1")
    suite = load_suite(
        write_suite(
            tmp_path,
            f"""
            plugins: [{PLUGIN}]
            resampling: {{kind: kfold, folds: 4}}
            datasets: [iris]
            models: [decision_tree, gpu_sleeper: {{seconds: 0.6}}]
            executor: {{workers: 1, gpus: 1, jobs_per_gpu: 2}}
            """,
        ),
        machine=True,  # as a run does before it builds the executor: imports the plugin
    )
    executor = LocalExecutor.from_suite(suite)
    assert executor.gpu_plan.slots == [0, 0] and executor.gpu_plan.fake
    rows, started = [], []
    executor.run(suite.expand(), lambda job, row, preds: rows.append(row), on_start=started.append)
    frame = pd.DataFrame(rows)
    gpu = frame[frame["model"] == "gpu_sleeper"]
    assert set(frame["status"]) == {"ok"} and max_overlap(gpu) == 2
    assert set(gpu["gpu_id"]) == {0} and frame.loc[frame["model"] != "gpu_sleeper", "gpu_id"].isna().all()
    # the suite lists the CPU model first; the GPU jobs are dispatched before it
    assert [job.model for job in started[:2]] == ["gpu_sleeper", "gpu_sleeper"]


def test_threads_are_shared_out_unless_the_suite_sets_them(tmp_path):
    cores = len(os.sched_getaffinity(0))
    assert threads_per_worker(1) == cores and threads_per_worker(cores) == 1
    assert threads_per_worker(10 * cores) == 1
    base = "datasets: [iris]\nmodels: [decision_tree]\n"
    auto = LocalExecutor.from_suite(load_suite(write_suite(tmp_path, base + "executor: {workers: 1}\n")))
    fixed = LocalExecutor.from_suite(
        load_suite(write_suite(tmp_path, base + "executor: {workers: 1, threads_per_job: 1}\n"))
    )
    assert auto.threads is None and fixed.threads == 1
    seen: list[int] = []
    auto.run(
        load_suite(write_suite(tmp_path, base + "executor: {workers: 1}\n")).expand()[:1],
        lambda j, r, p: None,
        on_start=lambda job: seen.append(job.threads),
    )
    assert seen == [cores]


def test_gpu_and_cpu_workers_see_only_their_devices():
    from mlbench.execution.gpus import GpuPlan

    plan = GpuPlan(gpus=(0, 2), jobs_per_gpu=1, hide=True)
    assert plan.worker_env(2) == {"CUDA_VISIBLE_DEVICES": "2", "MLBENCH_GPU_SLOT": "2"}
    assert plan.worker_env(None) == {"CUDA_VISIBLE_DEVICES": ""}
    fake = GpuPlan(gpus=(0,), fake=True, hide=True)
    assert fake.worker_env(0)["CUDA_VISIBLE_DEVICES"] == ""
    assert GpuPlan().worker_env(None) == {}  # no GPU scheduling: the environment is left alone


def _descendants(pid: int) -> list:
    import psutil

    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _alive(procs: list) -> list:
    import psutil

    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


@pytest.mark.slow
def test_sigkill_of_the_coordinator_leaves_no_process_of_the_run(tmp_path):
    suite = write_suite(
        tmp_path,
        f"""
        plugins: [{PLUGIN}]
        resampling: {{kind: kfold, folds: 2}}
        datasets: [iris]
        models: [spawner: {{seconds: 60}}]
        executor: {{workers: 2}}
        """,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlbench.cli", "run", str(suite), "--output", str(tmp_path / "out"), "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        # fork server, resource tracker, 2 workers and the 2 processes the jobs started
        deadline = time.monotonic() + 120
        family: list = []
        while time.monotonic() < deadline:
            family = _descendants(proc.pid)
            if sum("time.sleep(120)" in " ".join(p.cmdline()) for p in _alive(family)) == 2:
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"the jobs never started: {[p.cmdline() for p in _alive(family)]}")
        family = _descendants(proc.pid)
        assert len(family) >= 5
        os.kill(proc.pid, signal.SIGKILL)  # the coordinator only, as the OOM killer would
        proc.wait(timeout=10)
        t0 = time.monotonic()
        while _alive(family) and time.monotonic() - t0 < 2.0:
            time.sleep(0.05)
        left = _alive(family)
        assert not left, f"still running 2 s after the coordinator died: {[p.cmdline() for p in left]}"
    finally:
        for p in _alive(_descendants(proc.pid)):
            p.kill()
        if proc.poll() is None:
            proc.kill()


def test_prestarted_workers_are_used_by_run_or_stopped_by_close(tmp_path):
    suite = load_suite(
        write_suite(tmp_path, "datasets: [iris]\nmodels: [decision_tree]\nexecutor: {workers: 2}\n")
    )
    jobs = suite.expand()
    executor = LocalExecutor.from_suite(suite)
    executor.prestart(jobs)
    executor._starter.join()
    started = [w.proc.pid for w in executor._pool]
    assert len(started) == 2 and all(w.proc.is_alive() for w in executor._pool)
    rows = []
    executor.run(jobs, lambda job, row, preds: rows.append(row))
    assert {row["worker_pid"] for row in rows} <= set(started) and len(rows) == len(jobs)
    # a run stopped before its jobs (a preflight error) closes what prestart started
    other = LocalExecutor.from_suite(suite)
    other.prestart(jobs)
    other._starter.join()
    procs = [w.proc for w in other._pool]
    other.close()
    assert procs and not any(p.is_alive() for p in procs)


def test_jobs_sent_to_workers_that_died_before_taking_them_run_on_new_workers(tmp_path):
    suite = load_suite(
        write_suite(tmp_path, "datasets: [iris]\nmodels: [decision_tree]\nexecutor: {workers: 2}\n")
    )
    jobs = suite.expand()
    executor = LocalExecutor.from_suite(suite)
    executor.prestart(jobs)
    executor._starter.join()
    for w in executor._pool:  # both prestarted workers die before run() sends them a job
        os.kill(w.proc.pid, signal.SIGKILL)
        w.proc.join(timeout=5)
    rows: list[dict] = []
    executor.run(jobs, lambda job, row, preds: rows.append(row))
    assert sorted(row["job_id"] for row in rows) == sorted(job.job_id for job in jobs)
    assert {row["status"] for row in rows} == {"ok"}  # the jobs never ran on a dead worker: not failed


# -- workers that cannot run jobs vs. a job that kills its worker --------------------------------

# Imported by the coordinator when the run starts (harmless there) and by every job in its worker,
# where it kills the process: a plugin, or a library it imports, that is broken in a new process.
DIES_IN_WORKERS = """\
import multiprocessing
import os

if multiprocessing.parent_process() is not None:
    os._exit(3)
"""

# A model whose fit kills its worker (a segfaulting library): its jobs fail, the others run.
EXITS_IN_FIT = """\
import os

from sklearn.dummy import DummyClassifier

from mlbench.models import MODELS, ModelInfo, register_model


class ExitsInFit(DummyClassifier):
    def fit(self, X, y, sample_weight=None):
        os._exit(3)


if "exits_in_fit" not in MODELS:
    register_model(
        ModelInfo(
            name="exits_in_fit",
            factory=lambda params, task_type, seed, n_jobs: ExitsInFit(),
            task_types=("classification",),
            param_names={"classification": frozenset()},
            description="test model: its fit kills the process",
        )
    )
"""


def _grid_suite(
    tmp_path: Path, plugin: Path, models: str, datasets: str = "[iris, wine]", folds: int = 3
) -> Path:
    return write_suite(
        tmp_path,
        f"""
        plugins: [{plugin}]
        baseline: false
        resampling: {{kind: kfold, folds: {folds}}}
        datasets: {datasets}
        models: {models}
        executor: {{workers: 2}}
        """,
    )


def _stored(out: Path, query: str) -> list[tuple]:
    import sqlite3

    with sqlite3.connect(out / "results.sqlite") as db:
        return db.execute(query).fetchall()


def test_workers_that_cannot_run_jobs_stop_the_run_with_one_error_and_no_failed_job(tmp_path):
    from mlbench.execution.base import WorkerStartError

    plugin = tmp_path / "dies_in_workers.py"
    plugin.write_text(DIES_IN_WORKERS)
    suite = _grid_suite(tmp_path, plugin, "[decision_tree, knn]")
    out = tmp_path / "out"
    with pytest.raises(WorkerStartError) as raised:
        mlbench.run(suite, output=out, quiet=True, report=False)
    message = str(raised.value)
    assert "worker processes died in a row before any job finished (exit code 3), in iris" in message
    assert "none of its jobs is recorded" in message and f"one of its plugins ({plugin})" in message
    # the run is recorded as failed, and none of its jobs: the next run runs them all
    assert _stored(out, "SELECT count(*) FROM results") == [(0,)]
    assert _stored(out, "SELECT status FROM runs") == [("failed",)]
    plugin.write_text("")  # the plugin fixed
    run = mlbench.run(suite, output=out, quiet=True, report=False)
    rows = run.results()
    assert len(rows) == 12 and set(rows["status"]) == {"ok"}


def test_the_cli_exits_2_with_the_workers_error(tmp_path):
    plugin = tmp_path / "dies_in_workers.py"
    plugin.write_text(DIES_IN_WORKERS)
    suite = _grid_suite(tmp_path, plugin, "[decision_tree]", datasets="[iris]", folds=4)
    done = run_cli(suite, tmp_path / "out")
    assert done.returncode == 2, done.stderr
    # the third death stops the run; with two workers a fourth may die in the same moment
    assert re.search(
        r"error: [34] worker processes died in a row before any job finished \(exit code 3\)", done.stderr
    )
    assert "Traceback" not in done.stderr.split("error:")[-1]
    assert _stored(tmp_path / "out", "SELECT count(*) FROM results") == [(0,)]


def test_a_job_that_kills_its_worker_is_a_failed_job_and_the_run_goes_on(tmp_path, monkeypatch):
    from mlbench.models import MODELS

    # the plugin registers its model in this process too: let it vanish with the test (the
    # registry is process-wide, and other tests' did-you-mean messages list what it holds)
    monkeypatch.setattr(MODELS, "_items", dict(MODELS._items))
    plugin = tmp_path / "exits_in_fit.py"
    plugin.write_text(EXITS_IN_FIT)
    # the crashing model is listed first: its first deaths come before any job finished
    path = _grid_suite(tmp_path, plugin, "[exits_in_fit, decision_tree]", datasets="[iris]", folds=4)
    suite = load_suite(path)
    rows = mlbench.run(path, output=tmp_path / "out", quiet=True, report=False).results()
    by_model = rows.groupby("model")["status"].agg(list).to_dict()
    assert by_model == {"exits_in_fit": ["failed"] * 4, "decision_tree": ["ok"] * 4}
    errors = rows.loc[rows["model"] == "exits_in_fit", "error"]
    assert (errors == "worker process died (exit code 3)").all()
    # an executor whose workers ran a job in an earlier run() call (a shared run's batches) has
    # shown they work: four deaths in a row later are four failed jobs, not a stopped run
    reported: list[dict] = []
    executor = LocalExecutor.from_suite(suite)
    jobs = suite.expand()
    for model, n in [("decision_tree", 1), ("exits_in_fit", 4)]:
        executor.run([j for j in jobs if j.model == model][:n], lambda job, row, p: reported.append(row))
    assert [row["status"] for row in reported] == ["ok"] + ["failed"] * 4
    # a run whose every job kills its worker, with fewer jobs than stop a run: failed jobs
    only = load_suite(_grid_suite(tmp_path, plugin, "[exits_in_fit]", datasets="[iris]", folds=2))
    reported.clear()
    LocalExecutor.from_suite(only).run(only.expand(), lambda job, row, preds: reported.append(row))
    assert [row["status"] for row in reported] == ["failed", "failed"]


def test_only_mlbench_processes_started_in_this_thread_leave_the_main_module_out(monkeypatch):
    import threading
    from multiprocessing import spawn

    from mlbench.execution import local

    # a script's __main__, as `python example.py` has it
    monkeypatch.setattr(sys.modules["__main__"], "__spec__", None, raising=False)
    monkeypatch.setattr(sys.modules["__main__"], "__file__", "/somewhere/example.py", raising=False)
    other_thread: dict = {}
    with local._main_not_sent():
        inside = spawn.get_preparation_data("w")
        thread = threading.Thread(target=lambda: other_thread.update(spawn.get_preparation_data("w")))
        thread.start()
        thread.join()
    assert "init_main_from_path" not in inside and "init_main_from_name" not in inside
    assert inside["sys_path"] == spawn.get_preparation_data("w")["sys_path"]  # the rest is unchanged
    assert other_thread["init_main_from_path"] == "/somewhere/example.py"
    with pytest.raises(ValueError), local._main_not_sent():
        raise ValueError("a failed start")
    assert spawn.get_preparation_data("w")["init_main_from_path"] == "/somewhere/example.py"


# -- processes a job leaves behind (issue 21, item 6) -----------------------------------------------

# A model whose fit double-forks (setsid) a grandchild that outlives the job, as a daemonising
# library does. The grandchild inherits the worker's pipe to the coordinator and writes its PID
# to a file; with `exit: true` the fit then kills its worker (os._exit) while it is still alive.
DOUBLE_FORKS = """\
import os
import time
from pathlib import Path

from sklearn.dummy import DummyClassifier

from mlbench.models import MODELS, ModelInfo, register_model

PIDS = Path(__file__).with_name("grandchildren")


class DoubleForks(DummyClassifier):
    def __init__(self, exit=False, strategy="prior"):
        self.exit = exit
        super().__init__(strategy=strategy)

    def fit(self, X, y, sample_weight=None):
        PIDS.mkdir(exist_ok=True)
        before = set(PIDS.iterdir())
        pid = os.fork()
        if pid == 0:
            os.setsid()  # out of the worker's process group and session
            if os.fork() == 0:
                (PIDS / str(os.getpid())).write_text("")
                time.sleep(120)
            os._exit(0)
        os.waitpid(pid, 0)  # the middle process is gone: the grandchild is an orphan
        while set(PIDS.iterdir()) == before:
            time.sleep(0.01)
        if self.exit:
            time.sleep(0.5)  # the coordinator's watchdog sees the grandchild meanwhile
            os._exit(3)
        return super().fit(X, y, sample_weight)


if "double_forks" not in MODELS:
    register_model(
        ModelInfo(
            name="double_forks",
            factory=lambda params, task_type, seed, n_jobs: DoubleForks(**params),
            task_types=("classification",),
            param_names={"classification": frozenset({"exit"})},
            description="test model: its fit double-forks a long-lived grandchild",
        )
    )
"""


def _running(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _grandchildren(tmp_path: Path) -> list[int]:
    folder = tmp_path / "grandchildren"
    return sorted(int(p.name) for p in folder.iterdir()) if folder.is_dir() else []


def _double_fork_suite(tmp_path: Path, params: str) -> Path:
    from mlbench.plugins import load_plugin

    plugin = tmp_path / "double_forks.py"
    plugin.write_text(DOUBLE_FORKS)
    load_plugin(str(plugin))  # registers the model here too (the executor looks it up)
    return write_suite(
        tmp_path,
        f"""
        plugins: [{plugin}]
        baseline: false
        resampling: {{kind: kfold, folds: 2}}
        datasets: [iris]
        models: [double_forks: {params}]
        executor: {{workers: 1}}
        budget: {{job_seconds: 60}}
        """,
    )


def test_a_job_that_double_forks_gets_a_new_worker_and_its_grandchild_is_killed(tmp_path, monkeypatch):
    from mlbench.models import MODELS

    monkeypatch.setattr(MODELS, "_items", dict(MODELS._items))
    suite = load_suite(_double_fork_suite(tmp_path, "{exit: false}"))
    rows: list[dict] = []
    try:
        LocalExecutor.from_suite(suite).run(suite.expand(), lambda job, row, preds: rows.append(row))
        assert [row["status"] for row in rows] == ["ok", "ok"]
        # the worker that ran the first job was replaced when it ended: the second ran on a new one
        assert [row["worker_job"] for row in rows] == [1, 1]
        assert rows[0]["worker_pid"] != rows[1]["worker_pid"]
        pids = _grandchildren(tmp_path)
        assert len(pids) == 2
        deadline = time.monotonic() + 10
        while any(_running(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [pid for pid in pids if _running(pid)], "a double-forked grandchild outlived its job"
    finally:
        for pid in _grandchildren(tmp_path):
            if _running(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_worker_that_exits_while_its_grandchild_holds_the_pipe_is_failed_not_timeout(tmp_path, monkeypatch):
    from mlbench.models import MODELS

    monkeypatch.setattr(MODELS, "_items", dict(MODELS._items))
    suite = load_suite(_double_fork_suite(tmp_path, "{exit: true}"))
    rows: list[dict] = []
    try:
        LocalExecutor.from_suite(suite).run(suite.expand(), lambda job, row, preds: rows.append(row))
        # the grandchild keeps the worker's end of the pipe open: only the process sentinel says
        # the worker is gone (before, the job ran into its 60 s deadline and was `timeout`)
        assert [row["status"] for row in rows] == ["failed", "failed"]
        assert all(row["error"] == "worker process died (exit code 3)" for row in rows)
        pids = _grandchildren(tmp_path)
        deadline = time.monotonic() + 10
        while any(_running(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pids and not [pid for pid in pids if _running(pid)]
    finally:
        for pid in _grandchildren(tmp_path):
            if _running(pid):
                os.kill(pid, signal.SIGKILL)


def _loads_torch(pid: int) -> bool:
    # the shared libraries a process has mapped: torch's once it imported torch
    with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as fh:
        return "libtorch" in fh.read()


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc/<pid>/maps (Linux)")
def test_torch_is_imported_by_a_worker_before_its_first_job_that_needs_it_not_by_the_fork_server(tmp_path):
    # torch in the fork server held back every first job by its import (2.5 s on quick.yaml);
    # a worker imports it just before its first job of a model that needs it, off the fit clock
    suite = load_suite(
        write_suite(
            tmp_path,
            "baseline: false\nresampling: {kind: holdout}\ndatasets: [iris]\n"
            "models: [decision_tree, knn]\nexecutor: {workers: 1}\n",
        )
    )
    tree, knn = suite.expand()
    executor = LocalExecutor(workers=1, preload=["torch"], heavy_models={"knn"})
    rows, torch_loaded = [], []

    def record(job, row, preds):  # the worker is alive and idle, waiting for its next job
        rows.append(row)
        torch_loaded.append(_loads_torch(row["worker_pid"]))

    executor.run([tree, knn], record)
    # a decision tree needs no torch, nor did the fork server it came from load it
    assert torch_loaded == [False, True]
    assert [r["status"] for r in rows] == ["ok", "ok"] and rows[0]["worker_pid"] == rows[1]["worker_pid"]
    # the import is the job's overhead (on its wall clock), not its fit time
    assert rows[1]["overhead_seconds"] > rows[1]["fit_seconds"]
