"""Make tests/data/lcdb_curves.csv: published learning curves (LCDB 1.0) for tests/test_scaling.py.

LCDB 1.0 (Mohr, Viering, Loog, van Rijn, "LCDB 1.0: An Extensive Learning Curves Database for
Classification Tasks", ECML-PKDD 2022; MIT licence, Felix Mohr) ships its curves with its PyPI
package. This keeps 8 learners on the first 20 datasets (by OpenML id) whose largest anchor is
2,048 to 20,000 rows and where all 8 learners have every anchor and every outer split; the
inner seeds of an (anchor, outer split) are averaged. Written as mlbench results rows: dataset =
OpenML id, fold = outer split (5, random test sets of 10%), n_train = anchor; the largest anchor
is the full training set (train_size 1.0). Made with

    pip download lcdb==0.1.0 --no-deps && tar xzf lcdb-0.1.0.tar.gz
    python tests/data/make_lcdb_curves.py lcdb-0.1.0/lcdb/database-accuracy.csv
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

LEARNERS = {
    "sklearn.linear_model.LogisticRegression": "logistic_regression",
    "SVC_rbf": "svc_rbf",
    "sklearn.ensemble.GradientBoostingClassifier": "gradient_boosting",
    "sklearn.ensemble.RandomForestClassifier": "random_forest",
    "sklearn.neighbors.KNeighborsClassifier": "knn",
    "sklearn.neural_network.MLPClassifier": "mlp",
    "sklearn.tree.DecisionTreeClassifier": "decision_tree",
    "sklearn.naive_bayes.BernoulliNB": "bernoulli_nb",
}
N_DATASETS = 20


def main() -> None:
    cols = ["openmlid", "learner", "size_train", "size_test", "outer_seed", "score_test"]
    db = pd.read_csv(sys.argv[1], usecols=cols)
    db = db[db["learner"].isin(list(LEARNERS))]
    db = db.groupby(["openmlid", "learner", "size_train", "outer_seed"], as_index=False).agg(
        size_test=("size_test", "median"), score_test=("score_test", "mean")
    )
    chosen = []
    for ds, g in db.groupby("openmlid", sort=True):
        top = g["size_train"].max()
        if not 2048 <= top <= 20000:
            continue
        rows_each = g["size_train"].nunique() * 5  # every anchor, every outer split
        per = g.groupby("learner").size()
        if len(per) == len(LEARNERS) and (per == rows_each).all() and g["outer_seed"].nunique() == 5:
            chosen.append(ds)
        if len(chosen) == N_DATASETS:
            break
    out = db[db["openmlid"].isin(chosen)].copy()
    top = out.groupby("openmlid")["size_train"].transform("max")
    # the columns that vary; tests add task_type "classification", repeat 0 and status "ok"
    table = pd.DataFrame(
        {
            "dataset": "lcdb_" + out["openmlid"].astype(str),
            "model": out["learner"].map(LEARNERS),
            "fold": out["outer_seed"],
            "train_size": out["size_train"].where(out["size_train"] < top, 1.0).astype(float),
            "n_train": out["size_train"],
            "n_test": out["size_test"].round().astype(int),
            "test_accuracy": out["score_test"].round(5),
        }
    ).sort_values(["dataset", "model", "n_train", "fold"])
    path = Path(__file__).resolve().parent / "lcdb_curves.csv"
    table.to_csv(path, index=False)
    print(f"{len(chosen)} datasets, {len(table)} rows -> {path}")


if __name__ == "__main__":
    main()
