"""Train/test mismatch checks: the statistics, their calibration and power, bad input, the CLI.

Calibration and power are measured by simulation on real datasets (sklearn-shipped, offline) and
a CSV with categoricals and NaN made here. ``python tests/test_drift.py`` prints the power-vs-n
table recorded in datasets/README.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import beta
from threadpoolctl import threadpool_limits

from mlbench.analysis import drift
from mlbench.analysis.drift import DriftInputError, compare, compare_images, holm, permutation_auc

ROOT = Path(__file__).resolve().parents[1]

# --------------------------------------------------------------------------------------------
# data


@cache
def table(name: str) -> pd.DataFrame:
    """A real dataset as a DataFrame with a ``target`` column."""
    from sklearn import datasets

    if name == "mixed_csv":
        return mixed_csv()
    loader = {
        "digits": datasets.load_digits,
        "wine": datasets.load_wine,
        "breast_cancer": datasets.load_breast_cancer,
        "diabetes": datasets.load_diabetes,
    }[name]
    frame = loader(as_frame=True).frame
    return frame


@cache
def mixed_csv() -> pd.DataFrame:
    """A CSV with numeric and categorical columns and missing values, read back with pandas."""
    import tempfile

    rng = np.random.default_rng(7)
    n = 2000
    city = rng.choice(["north", "south", "east", "west", "centre"], size=n, p=[0.2, 0.3, 0.25, 0.15, 0.1])
    plan = rng.choice(["basic", "plus", "pro"], size=n, p=[0.5, 0.3, 0.2]).astype(object)
    plan[rng.random(n) < 0.08] = None
    age = rng.normal(40, 12, n).round()
    income = np.exp(rng.normal(10, 0.6, n))
    income[rng.random(n) < 0.15] = np.nan
    visits = rng.poisson(3, n).astype(float)
    logit = -1 + 0.03 * (age - 40) + (city == "north") * 0.8
    churned = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    df = pd.DataFrame(
        {"city": city, "plan": plan, "age": age, "income": income, "visits": visits, "target": churned}
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mixed.csv"
        df.to_csv(path, index=False)
        return pd.read_csv(path)


@cache
def digit_images() -> tuple[np.ndarray, np.ndarray]:
    from mlbench.datasets import load_dataset

    ds = load_dataset({"builtin": "digits"})
    return np.asarray(ds.X), np.asarray(ds.y)


def random_halves(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    idx = rng.permutation(n)
    return idx[: n // 2], idx[n // 2 :]


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    a = (1 - level) / 2
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return lo, hi


FAST = {"permutations": 200, "max_rows": 100}


# --------------------------------------------------------------------------------------------
# units


def test_holm_matches_the_step_down_definition():
    p = np.array([0.01, 0.04, 0.03, 0.005, np.nan])
    adj = holm(p)
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1 -> max(0.04, 0.06)=0.06
    np.testing.assert_allclose(adj[:4], [0.03, 0.06, 0.06, 0.02])
    assert np.isnan(adj[4])


def test_permutation_p_is_never_zero_and_counts_the_observed():
    rng = np.random.default_rng(0)
    scores = np.r_[np.zeros(50), np.ones(50)]
    is_test = scores == 1
    auc, p = permutation_auc(scores, is_test, 99, rng)
    assert auc == 1.0
    assert p == pytest.approx(1 / 100)  # (0 + 1) / (99 + 1)
    auc, p = permutation_auc(rng.random(100), is_test, 199, rng)
    assert 0 < p <= 1 and (p * 200) == pytest.approx(round(p * 200))


def test_same_distribution_not_flagged_and_shift_flagged_on_the_right_feature():
    d = table("breast_cancer")
    rng = np.random.default_rng(3)
    a, b = random_halves(len(d), rng)
    same = compare(d.iloc[a], d.iloc[b], target="target")
    assert not same.flagged
    assert same.verdict.startswith("No mismatch")
    top = d[d["mean radius"] > d["mean radius"].median()]
    shifted = compare(d.iloc[a], top, target="target")
    assert shifted.flagged and shifted.verdict.startswith("Mismatch")
    flagged = set(shifted.features.loc[shifted.features["flagged"], "feature"])
    assert "mean radius" in flagged
    assert "mean radius" in shifted.histograms
    # the verdict quotes the p-value the flag was decided on (Bonferroni-corrected), not the raw one
    assert shifted.domain["flagged"]
    assert f"corrected p = {shifted.domain['p_corrected']:.3g}" in shifted.verdict
    t = shifted.table()
    assert list(t.columns) == drift.TABLE_COLUMNS
    assert set(t["check"]) == {"feature", "label", "domain"}
    assert t["flagged"].iloc[0]  # flagged rows first
    json.dumps(shifted.to_dict(), allow_nan=False)  # JSON-ready


def test_tiny_significant_shift_is_not_flagged_without_effect_size():
    """Large-n KS flags a 0.03-sd shift; the effect threshold (0.1) keeps it from being a mismatch."""
    rng = np.random.default_rng(0)
    n = 40_000
    a = pd.DataFrame({"x": rng.normal(0, 1, n)})
    b = pd.DataFrame({"x": rng.normal(0.03, 1, n)})
    res = compare(a, b, max_rows=0, domain_classifier=False)
    row = res.features.iloc[0]
    assert row["p_corrected"] < 0.05
    assert row["effect"] < 0.1
    assert not res.flagged


def test_categorical_effect_does_not_depend_on_the_sample_ratio():
    rng = np.random.default_rng(1)
    levels = ["a", "b", "c"]
    train = pd.DataFrame({"c": rng.choice(levels, 20_000, p=[0.2, 0.3, 0.5])})
    small = pd.DataFrame({"c": rng.choice(levels, 2000, p=[0.4, 0.2, 0.4])})
    big = pd.DataFrame({"c": rng.choice(levels, 20_000, p=[0.4, 0.2, 0.4])})
    e_small = compare(train, small, max_rows=0, domain_classifier=False).features["effect"].iloc[0]
    e_big = compare(train, big, max_rows=0, domain_classifier=False).features["effect"].iloc[0]
    assert e_small == pytest.approx(e_big, abs=0.03)
    assert e_big > 0.15
    # the plain Cramér's V of the unbalanced table would call the same shift small
    from scipy.stats.contingency import association

    table = pd.crosstab(
        np.r_[np.zeros(len(train)), np.ones(len(small))], pd.concat([train, small])["c"].to_numpy()
    )
    assert association(table.to_numpy(), method="cramer") < e_big - 0.05


def test_nan_and_new_levels_are_handled():
    train = pd.DataFrame({"c": ["a", "b", None] * 100, "x": [1.0, np.nan, 3.0] * 100})
    test = pd.DataFrame({"c": ["a", "z", None] * 100, "x": [1.0, 2.0, np.nan] * 100})
    res = compare(train, test, permutations=50)
    c = res.features.set_index("feature").loc["c"]
    assert c["kind"] == "categorical" and c["flagged"]  # b -> z: a new level
    x = res.features.set_index("feature").loc["x"]
    assert x["kind"] == "numeric" and x["train_missing"] == pytest.approx(1 / 3)


def test_raw_tables_go_through_the_table_pipeline_first():
    """Dates become numbers and ID-like columns are dropped before comparing, as in a run (issue 18)."""
    rng = np.random.default_rng(0)
    n = 200
    raw = pd.DataFrame(
        {
            "ticket": [f"t{i}" for i in range(n)],  # unique text: an ID
            "opened": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 90, n), unit="D"),
            "x": rng.normal(size=n),
        }
    )
    res = compare(raw.iloc[:100], raw.iloc[100:], permutations=50)
    features = set(res.features["feature"])
    assert "ticket" not in features and "opened" not in features and "opened_days" in features
    assert res.features.set_index("feature").loc["opened_days", "kind"] == "numeric"
    assert any("dropped ID-like columns" in s and "'ticket'" in s for s in res.steps)
    assert res.to_dict()["steps"] == res.steps
    assert not res.flagged  # random halves: the ID no longer tells them apart
    # prepared tables (a dataset's X with its kinds) are compared as given
    given = compare(raw.iloc[:100], raw.iloc[100:], feature_kinds={"ticket": "categorical"}, permutations=50)
    assert "ticket" in set(given.features["feature"]) and given.steps == []


def test_subsampling_caps_rows_and_is_seeded():
    d = table("digits")
    r1 = compare(d.iloc[:1000], d.iloc[1000:], target="target", max_rows=200, seed=5, permutations=50)
    r2 = compare(d.iloc[:1000], d.iloc[1000:], target="target", max_rows=200, seed=5, permutations=50)
    assert (r1.n_train, r1.n_test) == (200, 200)
    pd.testing.assert_frame_equal(r1.table(), r2.table())


def test_images_with_a_cnn_embedding():
    """A TimmClassifier fitted on the first half of the training rows gives the embedding and softmax."""
    from mlbench.estimators import TimmClassifier

    X, y = digit_images()
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(X))
    train, test = idx[:400], idx[400:600]
    fit_rows, _ = drift.split_halves(len(train), 10_000, 0)
    cnn = TimmClassifier(arch="test_resnet", image_size=32, epochs=3, n_threads=1, random_state=0)
    cnn.fit(X[train][fit_rows], y[train][fit_rows])
    noisy = np.clip(X[test] + rng.normal(0, 0.2, X[test].shape).astype(np.float32), 0, 1)
    shifted = compare_images(X[train], noisy, y[train], y[test], model=cnn, permutations=100)
    assert shifted.mmd["flagged"] and shifted.flagged
    assert len(shifted.features) == 10  # one BBSD row per softmax output
    same = compare_images(X[train], X[test], y[train], y[test], model=cnn, permutations=100)
    assert not same.mmd["flagged"]


# --------------------------------------------------------------------------------------------
# bad input


def test_different_columns_are_listed():
    a = pd.DataFrame({"x": [1.0, 2.0], "only_a": [1, 2]})
    b = pd.DataFrame({"x": [1.0, 2.0], "only_b": [1, 2]})
    with pytest.raises(
        DriftInputError, match="only in the training data: only_a; only in the test data: only_b"
    ):
        compare(a, b)


def test_target_missing_in_one_sample():
    a = pd.DataFrame({"x": [1.0, 2.0], "y": [0, 1]})
    b = pd.DataFrame({"x": [1.0, 2.0]})
    with pytest.raises(DriftInputError, match="target column 'y' is missing from the test data"):
        compare(a, b, target="y")


def test_empty_sample():
    with pytest.raises(DriftInputError, match="no rows"):
        compare(pd.DataFrame({"x": [1.0]}), pd.DataFrame({"x": []}))


def test_image_sizes_must_match():
    with pytest.raises(
        DriftInputError, match="image sizes differ: training images are 1x8x8, test images 1x16x16"
    ):
        compare_images(np.zeros((10, 1, 8, 8)), np.zeros((10, 1, 16, 16)))


# --------------------------------------------------------------------------------------------
# calibration: random splits of real data must not be flagged (more than alpha of the time)


def _calibration(name: str, splits: int) -> dict[str, list[bool]]:
    d = table(name)
    flags: dict[str, list[bool]] = {"features": [], "label": [], "domain": [], "domain_raw": [], "any": []}
    with threadpool_limits(1):
        for s in range(splits):
            rng = np.random.default_rng(10_000 + s)
            a, b = random_halves(len(d), rng)
            r = compare(d.iloc[a], d.iloc[b], target="target", seed=s, **FAST)
            flags["features"].append(bool(r.features["flagged"].any()))
            flags["label"].append(bool(r.label["flagged"]))
            flags["domain"].append(bool(r.domain["flagged"]))
            # the permutation test's own p, before the Bonferroni step: it must be calibrated itself
            flags["domain_raw"].append(bool(r.domain["p"] < 0.05))
            flags["any"].append(r.flagged)
    return flags


def _assert_rate_at_most(flags: list[bool], what: str, alpha: float = 0.05) -> None:
    k, n = int(np.sum(flags)), len(flags)
    lo, hi = clopper_pearson(k, n)
    print(f"{what}: flagged {k}/{n} = {k / n:.3f} (95% CI {lo:.3f}-{hi:.3f})")
    # The observed rate may exceed alpha by chance; the test fails when it is significantly above
    # alpha, i.e. when the whole 95% interval lies above it.
    assert lo < alpha, f"{what}: false alarms {k}/{n}, 95% CI {lo:.3f}-{hi:.3f} is above {alpha}"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["digits", "wine", "breast_cancer", "diabetes", "mixed_csv"])
def test_calibration_on_random_splits(name):
    flags = _calibration(name, 200)
    for check, values in flags.items():
        _assert_rate_at_most(values, f"{name} {check}")


@pytest.mark.slow
def test_image_checks_calibration_on_random_splits():
    X, y = digit_images()
    flags: dict[str, list[bool]] = {
        "mmd": [],
        "mmd_raw": [],
        "bbsd": [],
        "domain": [],
        "label": [],
        "any": [],
    }
    with threadpool_limits(1):
        for s in range(200):
            rng = np.random.default_rng(20_000 + s)
            a, b = rng.permutation(len(X))[:400], rng.permutation(len(X))[:400]
            a, b = np.setdiff1d(a, b)[:200], b[:200]
            r = compare_images(X[a], X[b], y[a], y[b], seed=s, permutations=200, max_rows=100, mmd_rows=100)
            flags["mmd"].append(r.mmd["flagged"])
            flags["mmd_raw"].append(r.mmd["p"] < 0.05)
            flags["bbsd"].append(bool(r.features["flagged"].any()))
            flags["domain"].append(r.domain["flagged"])
            flags["label"].append(r.label["flagged"])
            flags["any"].append(r.flagged)
    for check, values in flags.items():
        _assert_rate_at_most(values, f"digits images {check}")


# --------------------------------------------------------------------------------------------
# power: planted shifts at the stated sample sizes


def covariate_shift(n: int, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """breast_cancer: training rows at random, test rows from the top half of ``mean radius``."""
    d = table("breast_cancer")
    top = d[d["mean radius"] > d["mean radius"].median()]
    return d.sample(n, random_state=rng.integers(2**31)), top.sample(n, random_state=rng.integers(2**31))


def label_shift(n: int, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """breast_cancer: classes 1:1 in training, 2:1 in test (n rows each)."""
    d = table("breast_cancer")
    c0, c1 = d[d["target"] == 0], d[d["target"] == 1]

    def take(frame: pd.DataFrame, k: int) -> pd.DataFrame:
        return frame.sample(k, random_state=rng.integers(2**31))

    train = pd.concat([take(c0, n // 2), take(c1, n - n // 2)])
    rest0 = c0.drop(train.index, errors="ignore")
    rest1 = c1.drop(train.index, errors="ignore")
    test = pd.concat([take(rest1, 2 * n // 3), take(rest0, n - 2 * n // 3)])
    return train, test


def categorical_shift(n: int, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """mixed CSV: test rows drawn so that one level's share (city north, 20%) doubles."""
    d = table("mixed_csv")
    north = d[d["city"] == "north"]
    other = d[d["city"] != "north"]
    train = d.sample(n, random_state=rng.integers(2**31))
    k = round(n * 2 * (north.shape[0] / len(d)))
    test = pd.concat(
        [
            north.sample(k, random_state=rng.integers(2**31)),
            other.sample(n - k, random_state=rng.integers(2**31)),
        ]
    )
    return train, test


def group_split(n: int, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """diabetes split by its group column ``sex`` (dropped): training from one group, test from the other."""
    d = table("diabetes")
    groups = sorted(d["sex"].unique())
    a = d[d["sex"] == groups[0]].drop(columns="sex")
    b = d[d["sex"] == groups[1]].drop(columns="sex")
    return a.sample(n, random_state=rng.integers(2**31)), b.sample(n, random_state=rng.integers(2**31))


def noisy_images(n: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """digits: test images with Gaussian noise (sd 0.2 on [0, 1] pixels, clipped)."""
    X, y = digit_images()
    idx = rng.permutation(len(X))
    a, b = idx[:n], idx[n : 2 * n]
    noisy = np.clip(X[b] + rng.normal(0, 0.2, X[b].shape).astype(np.float32), 0, 1)
    return X[a], noisy, y[a], y[b]


TABLE_SCENARIOS = {
    "covariate": (covariate_shift, "target"),
    "label": (label_shift, "target"),
    "categorical": (categorical_shift, "target"),
    "group split": (group_split, "target"),
}
#: rows per side at which each planted shift must be detected in >= 90% of draws
STATED_N = {"covariate": 100, "label": 200, "categorical": 300, "group split": 200, "images": 100}


def detection_rate(scenario: str, n: int, trials: int) -> float:
    hits = 0
    with threadpool_limits(1):
        for t in range(trials):
            rng = np.random.default_rng(50_000 + t)
            if scenario == "images":
                a, b, ya, yb = noisy_images(n, rng)
                # the reference half of the training rows is compared: give 2n so n are compared
                extra = noisy_images(n, np.random.default_rng(90_000 + t))[0]
                r = compare_images(
                    np.concatenate([a, extra]), b, np.r_[ya, ya], yb, seed=t, max_rows=n, mmd_rows=n
                )
            else:
                make, target = TABLE_SCENARIOS[scenario]
                a, b = make(n, rng)
                r = compare(a, b, target=target, seed=t, permutations=200, max_rows=n)
            hits += r.flagged
    return hits / trials


@pytest.mark.slow
@pytest.mark.parametrize("scenario", list(STATED_N))
def test_power_at_stated_sample_size(scenario):
    trials = 50
    rate = detection_rate(scenario, STATED_N[scenario], trials)
    lo, hi = clopper_pearson(round(rate * trials), trials)
    print(
        f"{scenario} shift, n={STATED_N[scenario]} per side: detected {rate:.2f} (95% CI {lo:.2f}-{hi:.2f})"
    )
    assert rate >= 0.9


# --------------------------------------------------------------------------------------------
# the CLI


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "mlbench.cli", "check", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def csvs(tmp_path_factory):
    root = tmp_path_factory.mktemp("check")
    d = table("mixed_csv")
    rng = np.random.default_rng(0)
    a, b = random_halves(len(d), rng)
    d.iloc[a].to_csv(root / "train.csv", index=False)
    d.iloc[b].to_csv(root / "new.csv", index=False)
    shifted = d[d["age"] > d["age"].median()]
    shifted.to_csv(root / "shifted.csv", index=False)
    d.iloc[b].drop(columns=["visits"]).assign(extra=1).to_csv(root / "other_cols.csv", index=False)
    d.iloc[b].drop(columns=["target"]).to_csv(root / "no_target.csv", index=False)
    (root / "empty.csv").write_text("")
    (root / "header_only.csv").write_text("city,plan,age,income,visits,target\n")
    odd = d.iloc[a].rename(columns={"city": "[bold red]city"})
    odd.to_csv(root / "odd_train.csv", index=False)
    odd_new = d.iloc[b].rename(columns={"city": "[bold red]city"})
    odd_new.loc[:, "[bold red]city"] = "nowhere"
    odd_new.to_csv(root / "odd_new.csv", index=False)
    return root


def test_check_exit_0_when_nothing_flagged_and_writes_json(csvs, tmp_path):
    out = tmp_path / "r.json"
    res = cli(str(csvs / "train.csv"), str(csvs / "new.csv"), "--target", "target", "--json", str(out))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "No mismatch found" in res.stdout
    data = json.loads(out.read_text())
    assert data["flagged"] is False and {r["check"] for r in data["table"]} == {"feature", "label", "domain"}


def test_check_exit_1_when_mismatch_flagged(csvs):
    res = cli(str(csvs / "train.csv"), str(csvs / "shifted.csv"), "--target", "target")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "Mismatch" in res.stdout and "age" in res.stdout


def test_check_escapes_user_strings(csvs):
    res = cli(str(csvs / "odd_train.csv"), str(csvs / "odd_new.csv"))
    assert res.returncode == 1, res.stdout + res.stderr
    assert "[bold red]city" in res.stdout  # printed literally, not taken as markup


@pytest.mark.parametrize(
    ("new", "target", "message"),
    [
        ("other_cols.csv", "target", "only in the training data: visits; only in the test data: extra"),
        ("no_target.csv", "target", "target column 'target' is missing from the test data"),
        ("empty.csv", "target", "the file is empty"),
        ("header_only.csv", "target", "header but no rows"),
        ("missing.csv", "target", "no such file"),
    ],
)
def test_check_bad_input_exit_2(csvs, new, target, message):
    res = cli(str(csvs / "train.csv"), str(csvs / new), "--target", target)
    assert res.returncode == 2, res.stdout + res.stderr
    assert message in res.stderr
    assert "Traceback" not in res.stderr


def test_check_mixed_image_sizes_exit_2(tmp_path):
    from PIL import Image

    for cls in ("a", "b"):
        (tmp_path / "train" / cls).mkdir(parents=True)
        (tmp_path / "new" / cls).mkdir(parents=True)
        for i in range(3):
            Image.new("L", (8, 8), color=i * 40).save(tmp_path / "train" / cls / f"{i}.png")
            Image.new("L", (8, 8) if i else (12, 12), color=i * 40).save(tmp_path / "new" / cls / f"{i}.png")
    res = cli(str(tmp_path / "train"), str(tmp_path / "new"))
    assert res.returncode == 2, res.stdout + res.stderr
    assert "image sizes differ" in res.stderr
    np.savez(tmp_path / "a.npz", X=np.zeros((5, 1, 8, 8)), y=np.zeros(5))
    np.savez(tmp_path / "b.npz", X=np.zeros((5, 1, 16, 16)), y=np.zeros(5))
    res = cli(str(tmp_path / "a.npz"), str(tmp_path / "b.npz"))
    assert res.returncode == 2 and "image sizes differ" in res.stderr


def test_check_suite_runs_the_checks_alone(tmp_path):
    d = table("mixed_csv")
    d.iloc[:1000].to_csv(tmp_path / "train.csv", index=False)
    d[d["age"] > d["age"].median()].to_csv(tmp_path / "test.csv", index=False)
    (tmp_path / "suite.yaml").write_text(
        "datasets:\n  - csv: train.csv\n    target: target\n    test: test.csv\n  - builtin: wine\n"
        "models: [knn]\ndiagnostics: {permutations: 50, max_rows: 300}\n"
    )
    res = cli("--suite", str(tmp_path / "suite.yaml"), "--json", str(tmp_path / "o.json"))
    assert res.returncode == 1, res.stdout + res.stderr
    data = json.loads((tmp_path / "o.json").read_text())
    got = {(x["dataset"], x["comparison"]): x["rows"][-1]["flagged"] for x in data["datasets"]}
    assert got[("train", "test_file")] is True
    assert got[("wine", "cv_fold_0")] is False
    assert not (tmp_path / "reports").exists()  # no run, no store


if __name__ == "__main__":
    # The power-vs-n table of datasets/README.md.
    print("| shift | " + " | ".join(f"n={n}" for n in (25, 50, 100, 200)) + " |")
    print("|---|" + "---|" * 4)
    for scenario in STATED_N:
        rates = [detection_rate(scenario, n, 50) for n in (25, 50, 100, 200)]
        print(f"| {scenario} | " + " | ".join(f"{r:.2f}" for r in rates) + " |")


def test_image_verdict_counts_the_rows_that_fitted_the_embedding_apart() -> None:
    from sklearn.datasets import load_digits

    X = load_digits().images[:, None] / 16.0
    result = compare_images(X[:300], X[300:400], permutations=20)
    assert result.n_fit + result.n_train == 300 and result.n_fit > 0
    assert f"{result.n_train} training images (another {result.n_fit} fitted the embedding)" in result.verdict
    assert result.to_dict()["n_fit"] == result.n_fit


def test_check_suite_json_with_a_column_empty_on_one_side(tmp_path: Path) -> None:
    # the empty column's KS p-value is NaN: written as null, not a ValueError after the table
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"a": rng.normal(size=120), "c": rng.normal(size=120), "y": rng.integers(0, 2, 120)})
    test = pd.DataFrame({"a": rng.normal(size=40), "c": np.nan, "y": rng.integers(0, 2, 40)})
    train.to_csv(tmp_path / "train.csv", index=False)
    test.to_csv(tmp_path / "test.csv", index=False)
    (tmp_path / "s.yaml").write_text(
        "name: nan\ndatasets:\n  - csv: train.csv\n    target: y\n    test: test.csv\nmodels: [decision_tree]\n"
    )
    res = cli("--suite", "s.yaml", "--json", "out.json", cwd=tmp_path)
    assert res.returncode == 1, res.stderr  # the empty column is a mismatch the domain classifier sees
    report = json.loads((tmp_path / "out.json").read_text())
    rows = [r for d in report["datasets"] if d["comparison"] == "test_file" for r in d["rows"]]
    assert any(r.get("feature") == "c" and r.get("p") is None for r in rows)


# --------------------------------------------------------------------------------------------
# columns missing in every row (issue 21)


def test_all_missing_column_in_both_samples_is_left_out_of_the_domain_classifier():
    # prepared tables (feature_kinds given) keep the column; HistGradientBoosting could not bin it
    rng = np.random.default_rng(0)
    a = pd.DataFrame({"x": rng.normal(size=60), "gone": np.nan})
    b = pd.DataFrame({"x": rng.normal(size=60) + 3, "gone": np.nan})
    result = compare(a, b, feature_kinds={"x": "numeric", "gone": "numeric"}, permutations=50)
    assert result.flagged and result.domain is not None
    row = result.table().set_index("feature").loc["gone"]
    assert np.isnan(row["p"]) and not row["flagged"]
    # nothing but missing columns: nothing to compare, said so
    with pytest.raises(DriftInputError, match="no column is left to compare"):
        compare(a[["gone"]], b[["gone"]])


def test_images_with_nan_pixels_are_bad_input():
    x = np.random.default_rng(0).random((20, 1, 8, 8))
    y = x.copy()
    y[3, 0, 2, 2] = np.nan
    with pytest.raises(DriftInputError, match="test images hold 1 missing"):
        compare_images(x, y, permutations=20)


def test_check_files_with_all_missing_columns(tmp_path):
    rng = np.random.default_rng(0)
    for side in ("a", "b"):
        frame = pd.DataFrame({"x": rng.normal(size=50), "gone": np.nan, "y": rng.integers(0, 2, 50)})
        frame.to_csv(tmp_path / f"{side}.csv", index=False)
        frame[["gone"]].to_csv(tmp_path / f"only_{side}.csv", index=False)
    res = cli("a.csv", "b.csv", "--target", "y", cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "dropped constant columns (one value, or all missing): 'gone'" in res.stdout
    # every column missing in every row: one line naming both files, exit 2
    res = cli("only_a.csv", "only_b.csv", cwd=tmp_path)
    assert res.returncode == 2, res.stdout + res.stderr
    [line] = res.stderr.strip().splitlines()
    assert line.startswith("error: only_a.csv vs only_b.csv: no column is left to compare")
    assert "'gone'" in line
