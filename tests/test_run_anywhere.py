"""``mlbench.run`` gives the same results wherever Python runs it.

The README's Python example, run for real six ways: a script without an ``if __name__ ==
"__main__":`` guard, the same with the guard, ``python -c``, the script piped to ``python -``,
``python -m module`` and a Jupyter kernel (nbclient executing a notebook built with nbformat).
An unguarded script that starts processes of its own (the one case where the guard matters) gets
the guard hint from mlbench in its child. Each way runs a tiny real suite (iris x decision_tree, 2 folds, 2 workers) into its own folder;
every way must finish every job ok and store the same scores. Workers never import the caller's
``__main__`` (see :mod:`mlbench.execution.local`): before, an unguarded script recorded every job
``worker process died`` and ``python -`` crashed with a BrokenPipeError.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

import mlbench

SUITE = {"datasets": ["iris"], "models": ["decision_tree"], "resampling": {"kind": "kfold", "folds": 2}}

# What a new user pastes: no main guard. OUT is substituted per way.
BODY = """\
import json
import mlbench

run = mlbench.run({suite!r}, output={out!r}, workers=2, quiet=True, report=False)
rows = run.results()
print("RESULT " + json.dumps({{"status": sorted(rows["status"]), "leaderboard": len(run.leaderboard())}}))
"""

WAYS = ["script", "guarded_script", "python_c", "stdin", "python_m", "notebook"]

# The one case where a main guard matters: an unguarded script that starts processes of its own.
# Its spawn child re-runs the script while it starts; there mlbench.run (with work to do: a new
# output per process) refuses with the main-guard hint instead of running the benchmark again.
OWN_PROCESSES = """\
import multiprocessing
import os

import mlbench

mlbench.run({suite!r}, output=f"out-{{os.getpid()}}", workers=1, quiet=True, report=False)
child = multiprocessing.get_context("spawn").Process(target=os.getpid)
child.start()
child.join()
print("CHILD", child.exitcode)
"""


def _body(out: Path, guarded: bool = False) -> str:
    body = BODY.format(suite=SUITE, out=str(out))
    if guarded:
        return 'if __name__ == "__main__":\n' + textwrap.indent(body, "    ")
    return body


def _start(way: str, folder: Path) -> subprocess.Popen:
    """Start one way in its own folder (its own working directory and output)."""
    folder.mkdir()
    out = folder / "out"
    python = [sys.executable]
    stdin = None
    if way in ("script", "guarded_script"):
        (folder / "example.py").write_text(_body(out, guarded=way == "guarded_script"))
        args = [*python, "example.py"]
    elif way == "python_c":
        args = [*python, "-c", _body(out)]
    elif way == "stdin":
        args, stdin = [*python, "-"], _body(out)
    elif way == "own_processes":
        (folder / "example.py").write_text(OWN_PROCESSES.format(suite=SUITE))
        args = [*python, "example.py"]
    else:  # python_m: __main__ is found by module name, not by path
        (folder / "example_mod.py").write_text(_body(out))
        args = [*python, "-m", "example_mod"]
    read = subprocess.DEVNULL
    if stdin is not None:  # a real pipe, as `cat example.py | python -`; the script fits its buffer
        read, write = os.pipe()
        os.write(write, stdin.encode())
        os.close(write)
    try:
        return subprocess.Popen(
            args, cwd=folder, stdin=read, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    finally:
        if stdin is not None:
            os.close(read)


def _run_notebook(folder: Path) -> tuple[int, str, str]:
    """Execute the example as a notebook cell in a real ipykernel running this test's Python."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    folder.mkdir()
    # a kernel spec for this interpreter (the kernel inherits PYTHONPATH, so it imports this mlbench)
    spec = folder / "jupyter" / "kernels" / "mlbench-test"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "mlbench test",
                "language": "python",
            }
        )
    )
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(_body(folder / "out"))]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_PATH", str(folder / "jupyter"))
        client = NotebookClient(
            notebook, kernel_name="mlbench-test", timeout=180, resources={"metadata": {"path": str(folder)}}
        )
        try:
            client.execute()
        except CellExecutionError as exc:
            return 1, "", str(exc)
    outputs = notebook.cells[0].outputs
    stdout = "".join(o.get("text", "") for o in outputs if o.get("name") == "stdout")
    stderr = "".join(o.get("text", "") for o in outputs if o.get("name") == "stderr")
    return 0, stdout, stderr


@pytest.fixture(scope="module")
def ways(tmp_path_factory) -> dict[str, tuple[int, str, str, Path]]:
    """Every way, run at once: ``way -> (exit code, stdout, stderr, output folder)``."""
    root = tmp_path_factory.mktemp("ways")
    procs = {way: _start(way, root / way) for way in [*WAYS, "own_processes"] if way != "notebook"}
    done = {"notebook": (*_run_notebook(root / "notebook"), root / "notebook" / "out")}
    for way, proc in procs.items():
        try:
            stdout, stderr = proc.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
        done[way] = (proc.returncode, stdout, stderr, root / way / "out")
    return done


def _scores(out: Path) -> pd.DataFrame:
    rows = mlbench.load_results(out)
    scores = rows.filter(regex="^(train|val|test)_").drop(columns="train_size")
    return pd.concat([rows[["job_id", "status", "error"]], scores], axis=1).sort_values("job_id")


@pytest.mark.parametrize("way", WAYS)
def test_every_way_runs_every_job_and_stores_the_same_scores(ways, way):
    code, stdout, stderr, out = ways[way]
    assert code == 0, stderr
    result = json.loads(stdout.split("RESULT ", 1)[1].splitlines()[0])
    # decision_tree's two folds and the baseline's (dummy), as a user's default run has
    assert result == {"status": ["ok"] * 4, "leaderboard": 2}, stderr
    assert "Traceback" not in stderr and "died" not in stderr
    scores = _scores(out)
    assert list(scores["status"]) == ["ok"] * 4 and scores["test_accuracy"].notna().all()
    reference = _scores(ways["guarded_script"][3])
    pd.testing.assert_frame_equal(scores.reset_index(drop=True), reference.reset_index(drop=True))


def test_a_rerun_finds_nothing_left_to_do(ways):
    # the failure this replaces: an unguarded script's rerun said "2 failed jobs remain"
    folder = ways["script"][3].parent
    done = subprocess.run(
        [sys.executable, "example.py"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=180,
        env=os.environ,
    )
    assert done.returncode == 0, done.stderr
    assert "failed" not in done.stdout + done.stderr
    assert '"status": ["ok", "ok", "ok", "ok"]' in done.stdout


def test_an_unguarded_script_with_processes_of_its_own_gets_the_main_guard_hint(ways):
    code, stdout, stderr, out = ways["own_processes"]
    assert code == 0, stderr
    assert "CHILD 1" in stdout  # the child stopped while starting
    assert "mlbench.execution.base.WorkerStartError: mlbench.run was called while this process" in stderr
    assert 'put the script\'s top-level code under `if __name__ == "__main__":`' in stderr
    # the parent ran its jobs; the child recorded nothing
    stores = sorted(p.parent.name for p in out.parent.glob("out-*/results.sqlite"))
    assert len(stores) == 1
    assert set(mlbench.load_results(out.parent / stores[0])["status"]) == {"ok"}
