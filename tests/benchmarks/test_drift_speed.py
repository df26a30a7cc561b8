"""What the train/test mismatch checks add to a run: `mlbench run baselines/quick.yaml` with and without.

Not in the default test run: `make bench`. Both sides are the real command in a fresh process
(imports included), quick.yaml as shipped (report included) against the same suite with
``diagnostics: false``, interleaved so that machine noise hits both alike (the first run, without
checks, also pays the cold file cache); the best of each side is compared. Goal: with / without <= 1.10.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / ".benchmarks" / "drift_speed.json"


def _run(suite: Path, out: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "mlbench.cli", "run", str(suite), "--output", str(out), "-q"],
        check=True,
        capture_output=True,
        env=env,
        cwd=ROOT,
    )
    return time.perf_counter() - t


@pytest.mark.timeout(3600)  # four full runs of quick.yaml: minutes each on a busy 2-core machine
def test_diagnostics_add_at_most_ten_percent_to_quick(benchmark, tmp_path):
    with_checks = ROOT / "baselines" / "quick.yaml"
    without = tmp_path / "quick_nodiag.yaml"
    without.write_text(with_checks.read_text() + "\ndiagnostics: false\n")
    on, off = [], []
    for i in range(2):
        off.append(_run(without, tmp_path / f"off{i}"))
        on.append(_run(with_checks, tmp_path / f"on{i}"))
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    ratio = min(on) / min(off)
    import mlbench

    diag = mlbench.open_run(tmp_path / "on0").diagnostics()
    verdicts = diag[diag["check"] == "verdict"]
    assert len(verdicts) == 4  # one comparison (CV fold 0) per dataset
    # the checks' own time, in the coordinator's background thread (overlapping the jobs)
    checks_seconds = float(verdicts["seconds"].sum())
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "without_seconds": off,
                "with_seconds": on,
                "ratio_of_best": ratio,
                "checks_seconds": checks_seconds,
            },
            indent=2,
        )
    )
    print(
        f"\nquick.yaml: without checks {min(off):.1f} s, with {min(on):.1f} s, ratio {ratio:.3f}; "
        f"the checks themselves {checks_seconds:.1f} s alongside the jobs"
    )
    assert ratio <= 1.10
