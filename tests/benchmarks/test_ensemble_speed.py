"""Caruana selection speed: 20 members x 10,000 rows x 10 classes x 25 rounds in <= 1 s on one core.

Not in the default test run: `make bench`. The predictions are float32 class probabilities, as
the store keeps them, so the time includes the cast to float64. BLAS/OpenMP are held to one thread
and the limit is checked on CPU time (``time.process_time``), so other work on a shared machine
does not count against it; wall time is recorded too. Figures go to
``.benchmarks/ensemble_speed.json``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from mlbench.analysis.ensembles import caruana_selection

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / ".benchmarks" / "ensemble_speed.json"
LIMIT_SECONDS = 1.0
MEMBERS, ROWS, CLASSES, ROUNDS = 20, 10_000, 10, 25


@pytest.fixture(scope="module")
def stored_predictions() -> tuple[np.ndarray, np.ndarray]:
    """Members of varied skill: softmax of noisy logits that lean towards the true class.

    Part of the noise is shared by all members (hard rows are hard for everyone), so the blend
    improves on the members without becoming perfect and every round has a real choice to make.
    """
    rng = np.random.default_rng(0)
    y = rng.integers(0, CLASSES, ROWS)
    skill = rng.uniform(0.5, 2.0, size=(MEMBERS, 1, 1))
    shared = 1.5 * rng.normal(size=(ROWS, CLASSES))
    logits = shared + rng.normal(size=(MEMBERS, ROWS, CLASSES)) + skill * np.eye(CLASSES)[y]
    proba = np.exp(logits)
    proba /= proba.sum(axis=2, keepdims=True)
    return proba.astype(np.float32), y


def _record(key: str, value: object) -> None:
    RESULTS.parent.mkdir(exist_ok=True)
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data[key] = value
    RESULTS.write_text(json.dumps(data, indent=2))


@pytest.mark.parametrize("metric", ["accuracy", "log_loss", "balanced_accuracy", "f1_macro"])
def test_caruana_selection_speed(benchmark, stored_predictions, metric):
    proba, y = stored_predictions

    def select():
        return caruana_selection(proba, y, metric, size=ROUNDS, use_best=False)

    with threadpool_limits(1):
        select()  # warm caches and lazy imports
        cpu, wall = [], []
        for _ in range(3):
            c, w = time.process_time(), time.perf_counter()
            selection = select()
            cpu.append(time.process_time() - c)
            wall.append(time.perf_counter() - w)
        benchmark.pedantic(select, rounds=3, iterations=1)
    assert len(selection.order) == ROUNDS and selection.weights.sum() == pytest.approx(1.0)
    _record(
        metric,
        {
            "members": MEMBERS,
            "rows": ROWS,
            "classes": CLASSES,
            "rounds": ROUNDS,
            "cpu_seconds_min": round(min(cpu), 4),
            "wall_seconds_min": round(min(wall), 4),
            "best_member_score": round(float(selection.trajectory[0]), 5),  # round 1 = best member
            "blend_score_after_25_rounds": round(selection.score, 5),
        },
    )
    print(f"\n{metric}: {min(cpu):.3f} s CPU, {min(wall):.3f} s wall for {ROUNDS} rounds")
    assert min(cpu) <= LIMIT_SECONDS, f"{metric}: {min(cpu):.2f} s CPU (limit {LIMIT_SECONDS} s)"


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__, "--benchmark-enable", "-o", "addopts="])
