"""Report speed: summarizing and rendering a store of 2,000 job rows takes under 5 s.

Not in the default test run: `make bench`. The store is built synthetically through
:meth:`mlbench.store.Store.record`: 5 datasets (4 classification, 1 regression) x 8 models x
5 train sizes x 10 folds = 2,000 rows, so every section works: overall ranking with the tests
across datasets, learning curves with power-law fits and crossovers on every dataset.
The time is recorded in ``.benchmarks/report_speed.json``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / ".benchmarks" / "report_speed.json"
LIMIT_SECONDS = 5.0


def build_store(run_dir: Path) -> int:
    from mlbench.store import Store

    rng = np.random.default_rng(0)
    models = {f"model_{i}": (0.6 + 0.04 * i, 0.2 + 0.08 * i) for i in range(8)}  # ceiling, exponent
    sizes = (50, 100, 200, 400, 1.0)
    n = 0
    with Store(run_dir) as store:
        run_id = store.start_run(
            {
                "suite": "bench",
                "primary_metric": {"classification": "accuracy", "regression": "rmse"},
                "metrics": {"classification": ["accuracy", "log_loss"], "regression": ["rmse", "r2"]},
                "versions": {"mlbench": "bench"},
                "hardware": {"cores": 2},
            }
        )
        for d in range(5):
            task = "regression" if d == 4 else "classification"
            for model, (top, b) in models.items():
                for size in sizes:
                    n_train = 800 if size == 1.0 else int(size)
                    for fold in range(10):
                        score = top - 0.5 * n_train ** (-b) + rng.normal(0, 0.01)
                        row = {
                            "job_id": f"j{n:05d}",
                            "suite": "bench",
                            "dataset": f"dataset_{d}",
                            "task_type": task,
                            "model": model,
                            "fold": fold,
                            "repeat": 0,
                            "train_size": float(size),
                            "n_train": n_train,
                            "status": "ok" if rng.random() > 0.01 else "failed",
                            "fit_seconds": float(rng.uniform(0.01, 5)),
                            "predict_seconds": float(rng.uniform(0.001, 0.1)),
                            "peak_memory_mb": float(rng.uniform(50, 500)),
                            "n_params": float(1000 * (d + 1)),
                        }
                        if row["status"] == "failed":
                            row["error"] = "Traceback (most recent call last):\n  ...\nValueError: boom"
                        elif task == "classification":
                            row |= {"train_accuracy": min(1.0, score + 0.05), "test_accuracy": score,
                                    "test_log_loss": 1.5 - score}  # fmt: skip
                        else:
                            row |= {"train_rmse": 40 * (1.5 - score), "test_rmse": 50 * (1.5 - score),
                                    "test_r2": score}  # fmt: skip
                        store.record(row)
                        n += 1
        store.finish_run(run_id, "finished")
    return n


def test_summarize_and_render_2000_rows(benchmark: object, tmp_path: Path) -> None:
    from mlbench.reader import open_run
    from mlbench.report import render_html, summarize

    assert build_store(tmp_path) == 2000
    run = open_run(tmp_path)
    results, meta = run.results(), run.meta

    def work() -> str:
        return render_html(summarize(results, meta, predictions=run.predictions, datasets=run.dataset))

    work()  # warm imports (matplotlib, scipy) so the timing is the report's own work
    t0 = time.perf_counter()
    html = benchmark.pedantic(work, rounds=3, iterations=1)  # type: ignore[attr-defined]
    seconds = (time.perf_counter() - t0) / 3
    assert "Friedman test over" in html and html.count('class="fig learning-curve"') == 5
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps({"rows": 2000, "seconds_per_report": round(seconds, 3), "html_bytes": len(html)}, indent=2)
    )
    assert seconds < LIMIT_SECONDS, f"report of 2,000 rows took {seconds:.2f} s (limit {LIMIT_SECONDS} s)"


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__, "--benchmark-enable", "-o", "addopts="])
