"""Cost of the overfitting checks' staged scores: quick.yaml's classical jobs with and without them.

Not in the default test run: `make bench`. The jobs of baselines/quick.yaml without the CNN
(5 models x 4 datasets x 5 folds) run in this process through ``run_job``, once as they are and
once with the staged scoring (XGBoost's 20 ``iteration_range`` predictions, a forest's per-tree
running mean, on the test rows and up to 1,000 training rows) switched off; CPU time
(``time.process_time``, BLAS/OpenMP held to one thread) so other work on a shared machine does not
count. Goal: with / without <= 1.10. Figures go to ``.benchmarks/overfitting_overhead.json``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / ".benchmarks" / "overfitting_overhead.json"
GOAL = 1.10


def _jobs() -> list:
    from mlbench.suite import load_suite

    suite = load_suite(ROOT / "baselines" / "quick.yaml", output=ROOT / ".benchmarks" / "unused")
    return [j for j in suite.expand() if j.model_name != "cnn"]


def _cpu(jobs: list) -> float:
    from mlbench.execution.job import run_job

    t0 = time.process_time()
    for job in jobs:
        run_job(job)
    return time.process_time() - t0


def test_staged_scores_cost_at_most_ten_percent(monkeypatch: pytest.MonkeyPatch) -> None:
    import mlbench.execution.job as job_module

    jobs = _jobs()
    with threadpool_limits(1):
        _cpu(jobs[:10])  # warm imports and the dataset cache
        with_staged = min(_cpu(jobs) for _ in range(2))
        monkeypatch.setattr(job_module, "_staged_scores", lambda *args, **kwargs: None)
        without = min(_cpu(jobs) for _ in range(2))
    ratio = with_staged / without
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps({"jobs": len(jobs), "with_s": with_staged, "without_s": without, "ratio": ratio}, indent=2)
    )
    assert ratio <= GOAL, f"staged scores cost {ratio:.2f}x ({with_staged:.2f} s vs {without:.2f} s CPU)"
