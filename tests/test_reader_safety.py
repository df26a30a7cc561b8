"""Reading a run never executes code from it (results folders and reports are made to be shared).

Each attack is planted in a copy of a real run folder: a stored suite naming a plugin file that
lies in the folder itself, a YAML tag in the stored suite, a pickled object array in a prediction
file. Then every way of reading the folder is tried (the CLI's report, comparison, ensemble
rebuild, export and check; ``open_run`` and every ``Run`` method; ``load_results``), and the
attack's marker file must not appear. A static check keeps unsafe loaders out of the package.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mlbench

PACKAGE = Path(mlbench.__file__).resolve().parent

SUITE = {
    "name": "shared",
    "datasets": ["iris"],
    "models": ["decision_tree", "logistic_regression"],
    "resampling": {"kind": "holdout", "test_size": 0.3, "fit_on_val": False},
    "ensembles": ["voting"],
    "diagnostics": False,
}


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "shared"
    mlbench.run(SUITE, output=out, workers=1, quiet=True)
    return out


def _copy(clean_run: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "received"
    shutil.copytree(clean_run, folder)
    return folder


def _plant_plugin(folder: Path, marker: Path) -> None:
    """The stored suite names ``pwn.py``, which lies in the folder (an empty base_dir resolves there)."""
    (folder / "pwn.py").write_text(f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n")
    with sqlite3.connect(folder / "results.sqlite") as conn:
        conn.execute(
            "UPDATE runs SET suite_yaml = 'plugins: [pwn.py]\n' || suite_yaml, base_dir = '', suite_path = ''"
        )


def _plant_yaml_tag(folder: Path, marker: Path) -> None:
    tag = f'!!python/object/apply:os.system ["touch {marker}"]'
    with sqlite3.connect(folder / "results.sqlite") as conn:
        conn.execute("UPDATE runs SET suite_yaml = suite_yaml || ?", (f"extra: {tag}\n",))


class _Pwn:
    """Unpickling this calls ``os.system`` (what a malicious object array in an npz would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


def _plant_pickle(folder: Path, marker: Path) -> str:
    with sqlite3.connect(folder / "results.sqlite") as conn:
        job_id, rel = conn.execute(
            "SELECT job_id, predictions_path FROM results WHERE predictions_path IS NOT NULL LIMIT 1"
        ).fetchone()
    path = folder / rel
    with np.load(path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    arrays["test_pred"] = np.array([_Pwn(marker)], dtype=object)
    np.savez(path, **arrays)  # np.savez pickles object arrays
    return job_id


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlbench.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def _read_every_way(folder: Path, work: Path) -> list[subprocess.CompletedProcess[str]]:
    """Every reader of a run folder, from Python and from the CLI."""
    run = mlbench.open_run(folder)
    for call in (
        run.results,
        run.trials,
        run.diagnostics,
        run.runs,
        lambda: run.meta,
        lambda: run.suite,
        lambda: run.base_dir,
        run.jobs,
        run.dataset_specs,
        lambda: run.dataset("iris"),
        lambda: run.export(work / "x.csv"),
        run.prediction_problems,
        lambda: [run.predictions(j) for j in run.results()["job_id"]],
        run.leaderboard,
        run.learning_curves,
        run.fingerprint,
        lambda: run.report(work / "r.html"),
        lambda: mlbench.load_results(folder),
    ):
        try:
            call()
        except Exception:  # a damaged folder may fail to read; it must never run code
            pass
    other = work / "other"
    if not other.exists():
        shutil.copytree(folder, other)
    stored = work / "stored.yaml"
    with sqlite3.connect(folder / "results.sqlite") as conn:
        stored.write_text(conn.execute("SELECT suite_yaml FROM runs ORDER BY run_id DESC").fetchone()[0])
    return [
        _cli("report", str(folder), cwd=work),
        _cli("report", str(folder), str(other), "--out", str(work / "cmp.html"), cwd=work),
        _cli("ensemble", str(folder), "--rebuild", cwd=work),
        _cli("export", str(folder), "--out", str(work / "e.csv"), cwd=work),
        _cli("check", "--suite", str(stored), cwd=folder),
    ]


def test_a_plugin_named_by_a_stored_suite_never_runs(clean_run: Path, tmp_path: Path) -> None:
    folder = _copy(clean_run, tmp_path)
    marker = tmp_path / "PWNED"
    _plant_plugin(folder, marker)
    work = tmp_path / "work"
    work.mkdir()
    results = _read_every_way(folder, work)
    assert not marker.exists(), "reading the run imported the plugin it names"
    # reading still works: the suite is read as written, its plugin stays unloaded
    run = mlbench.open_run(folder)
    # two models' holdout jobs and the baseline's, as written
    assert run.suite is not None and run.suite.plugins and len(run.jobs()) == 3
    report, comparison, ensemble, export, _ = results
    assert report.returncode == 0, report.stderr
    assert comparison.returncode == 0, comparison.stderr
    assert ensemble.returncode == 0, ensemble.stderr
    assert export.returncode == 0, export.stderr


def test_a_yaml_tag_in_a_stored_suite_is_never_constructed(clean_run: Path, tmp_path: Path) -> None:
    folder = _copy(clean_run, tmp_path)
    marker = tmp_path / "PWNED"
    _plant_yaml_tag(folder, marker)
    work = tmp_path / "work"
    work.mkdir()
    _read_every_way(folder, work)
    assert not marker.exists(), "a YAML tag in the stored suite was constructed"
    assert mlbench.open_run(folder).suite is None  # the stored suite no longer parses: read as absent


def test_a_pickled_object_array_in_a_prediction_file_is_never_unpickled(
    clean_run: Path, tmp_path: Path
) -> None:
    folder = _copy(clean_run, tmp_path)
    marker = tmp_path / "PWNED"
    _plant_pickle(folder, marker)
    work = tmp_path / "work"
    work.mkdir()
    _read_every_way(folder, work)
    assert not marker.exists(), "an object array in a prediction file was unpickled"


def test_the_plant_is_a_real_attack(tmp_path: Path) -> None:
    # what the test above guards against: np.load with allow_pickle=True runs the command
    marker = tmp_path / "PWNED"
    path = tmp_path / "p.npz"
    np.savez(path, a=np.array([_Pwn(marker)], dtype=object))
    with np.load(path, allow_pickle=True) as npz:
        npz["a"]
    assert marker.exists()


# unsafe loaders: code reached from data. mlbench's own use of exec_module is plugins.py, which
# only the checks of a user's own suite (and its workers) call.
UNSAFE = [
    (re.compile(r"\bpickle\.loads?\("), "pickle.load"),
    (re.compile(r"\bjoblib\.load\("), "joblib.load"),
    (re.compile(r"allow_pickle\s*=\s*True"), "np.load(allow_pickle=True)"),
    (re.compile(r"\btorch\.load\((?![^)]*weights_only\s*=\s*True)"), "torch.load without weights_only=True"),
    (re.compile(r"(?<![.\w])eval\("), "eval"),
    (re.compile(r"(?<![.\w])exec\("), "exec"),
    (re.compile(r"\byaml\.(load|unsafe_load|full_load)\("), "yaml.load (use yaml.safe_load)"),
    (re.compile(r"Loader\s*=\s*yaml\.(Loader|FullLoader|UnsafeLoader)"), "an unsafe YAML loader"),
]


def test_the_package_has_no_unsafe_loader() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            for pattern, what in UNSAFE:
                if pattern.search(code):
                    found.append(f"{path.relative_to(PACKAGE.parent)}:{number}: {what}: {line.strip()}")
    assert not found, "\n".join(found)


def test_only_a_users_own_suite_loads_plugins() -> None:
    # load_plugin(s) is called where a run's own suite is checked (check_machine) and in the
    # workers that run its jobs; never by a reader
    callers = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if re.search(r"\bload_plugins?\(", text) and path.name != "plugins.py":
            callers.add(str(path.relative_to(PACKAGE)))
    assert callers == {"suite/checks.py", "execution/job.py"}, callers
