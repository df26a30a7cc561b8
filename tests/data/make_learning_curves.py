"""Make tests/data/learning_curves.csv: real learning curves for tests/test_scaling.py.

    python tests/data/make_learning_curves.py [OUTPUT_FOLDER]

Runs tests/data/learning_curves_suite.yaml with mlbench (about 1.5 hours on 2 busy cores;
resumes where it stopped), then keeps the columns the scaling analyses read, one row per job.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
COLUMNS = ["dataset", "task_type", "model", "fold", "repeat", "train_size", "n_train", "n_test", "status"]


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("reports/learning_curves")
    suite = HERE / "learning_curves_suite.yaml"
    cmd = [sys.executable, "-m", "mlbench.cli", "run", str(suite), "--output", str(out), "--no-report", "-q"]
    subprocess.run(cmd, check=False)  # exit 1 when some jobs failed: they are kept as failed rows

    import mlbench
    from mlbench.suite import load_suite

    names = {ds.name for ds in load_suite(suite).datasets}
    results = mlbench.load_results(out)
    results = results[results["dataset"].isin(names)]
    results = results[results["status"] != "skipped"]  # sizes larger than a dataset's training fold
    metrics = [c for c in ("test_accuracy", "test_rmse") if c in results.columns]
    table = results[COLUMNS + metrics].sort_values(["dataset", "model", "train_size", "fold", "repeat"])
    for col in metrics:
        table[col] = table[col].round(6)
    table.to_csv(HERE / "learning_curves.csv", index=False)
    print(f"{len(table)} rows -> {HERE / 'learning_curves.csv'}")


if __name__ == "__main__":
    main()
