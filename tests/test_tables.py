"""The one table pipeline (issue 18): dates into numbers, ID-like columns, ``columns:``, the data note,
and the same features through ``mlbench run`` and ``mlbench check``.

Every table is a small CSV or parquet file made here; runs are real (``run_suite``) and ``mlbench
check`` is the real command in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlbench.datasets import check_spec, clear_cache, load_dataset
from mlbench.datasets.cleaning import TablePlan, prepare_pair
from mlbench.errors import DatasetError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()
    yield
    clear_cache()


def check_cli(*args: str, cwd: Path, columns: int = 200) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": str(columns)}
    return subprocess.run(
        [sys.executable, "-m", "mlbench.cli", "check", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=cwd,
    )


def sales(n: int = 80, seed: int = 0) -> pd.DataFrame:
    """Sales rows: a sale date (several rows a day, not in order), a timestamp, an id, a shop, a target."""
    rng = np.random.default_rng(seed)
    sold = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 400, n), unit="D")
    stamp = sold + pd.to_timedelta(rng.integers(0, 24 * 60, n), unit="min")
    return pd.DataFrame(
        {
            "order_id": np.arange(1000, 1000 + n),
            "sold_on": sold.strftime("%Y-%m-%d"),
            "stamp": stamp.strftime("%Y-%m-%dT%H:%M:%S"),
            "shop": rng.choice(["a", "b", "c"], n),
            "price": rng.normal(10, 2, n),
            "units": rng.normal(100, 10, n),
        }
    )


# --------------------------------------------------------------------------------------------------
# dates
# --------------------------------------------------------------------------------------------------


def test_text_dates_become_numbers_not_one_hot_levels(tmp_path):
    df = sales()
    df.to_csv(tmp_path / "s.csv", index=False)
    ds = load_dataset({"csv": "s.csv", "target": "units"}, tmp_path)
    parts = ["sold_on_year", "sold_on_month", "sold_on_day_of_year", "sold_on_day_of_week", "sold_on_days"]
    assert all(ds.feature_kinds[p] == "numeric" for p in parts)
    assert "sold_on" not in ds.X.columns and "stamp" not in ds.X.columns
    assert ds.feature_kinds["stamp_time_of_day"] == "numeric"  # datetimes also get the time of day
    assert "sold_on_time_of_day" not in ds.X.columns  # dates at midnight do not
    assert ds.feature_kinds["shop"] == "categorical"
    day = pd.Timestamp(df["sold_on"][0])
    row = ds.X.iloc[0]
    assert (row["sold_on_year"], row["sold_on_month"]) == (day.year, day.month)
    assert (row["sold_on_day_of_year"], row["sold_on_day_of_week"]) == (day.day_of_year, day.day_of_week)
    assert row["sold_on_days"] == (day - pd.Timestamp("1970-01-01")).days
    stamp = pd.Timestamp(df["stamp"][0])
    assert row["stamp_time_of_day"] == pytest.approx(stamp.hour + stamp.minute / 60)
    assert "date column 'sold_on' became numbers, not one-hot levels" in ds.provenance


def test_datetime_dtypes_and_parquet_dates_are_dates_too(tmp_path):
    df = sales()
    df["sold_on"] = pd.to_datetime(df["sold_on"])  # a pandas datetime dtype
    df["stamp"] = pd.to_datetime(df["stamp"]).dt.tz_localize("Europe/Berlin")  # tz-aware: wall time kept
    plan, X = TablePlan.fit("s", df.drop(columns=["units"]))
    assert plan.kinds["sold_on"] == plan.kinds["stamp"] == "date"
    stamp = df["stamp"][3]
    assert X["stamp_time_of_day"][3] == pytest.approx(stamp.hour + stamp.minute / 60)
    # parquet: a timestamp column and a date32 column (read back as Python dates)
    df["day"] = df["sold_on"].dt.date
    df.to_parquet(tmp_path / "s.parquet")
    ds = load_dataset({"parquet": "s.parquet", "target": "units"}, tmp_path)
    assert {"sold_on_days", "day_days", "stamp_days"} <= set(ds.X.columns)
    np.testing.assert_array_equal(ds.X["day_days"], ds.X["sold_on_days"])
    assert not any(
        k == "categorical" and c.startswith(("sold_on", "day", "stamp")) for c, k in ds.feature_kinds.items()
    )


def test_a_test_file_goes_through_the_training_plan(tmp_path):
    df = sales(120)
    df.iloc[:80].to_csv(tmp_path / "train.csv", index=False)
    df.iloc[80:].to_csv(tmp_path / "test.csv", index=False)
    ds = load_dataset({"csv": "train.csv", "target": "units", "test": "test.csv"}, tmp_path)
    assert list(ds.test_X.columns) == list(ds.X.columns)
    assert ds.test_X["sold_on_days"][0] == (pd.Timestamp(df["sold_on"][80]) - pd.Timestamp("1970-01-01")).days
    bad = df.iloc[80:].copy()
    bad.loc[bad.index[2], "sold_on"] = "soon"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DatasetError, match="column 'sold_on' is a date in training but 'soon' is not a date"):
        load_dataset({"csv": "train.csv", "target": "units", "test": "bad.csv"}, tmp_path)


# --------------------------------------------------------------------------------------------------
# ID-like columns and `columns:`
# --------------------------------------------------------------------------------------------------


def daily(n: int = 60, seed: int = 0) -> pd.DataFrame:
    """One row per day in date order, an order id, a unique code per row."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "day": pd.date_range("2022-03-01", periods=n, freq="D").strftime("%Y-%m-%d"),
            "order_id": np.arange(n),
            "code": [f"c{i:04d}" for i in rng.permutation(n)],
            "x": rng.normal(size=n),
            "y": rng.integers(0, 2, n),
        }
    )


def test_id_like_columns_are_dropped_with_a_note_and_columns_keeps_them(tmp_path):
    daily().to_csv(tmp_path / "d.csv", index=False)
    ds = load_dataset({"csv": "d.csv", "target": "y"}, tmp_path)
    assert list(ds.X.columns) == ["x"]
    assert "dropped ID-like columns (all values unique): 'order_id', 'code'" in ds.provenance
    assert "dropped ID-like date columns (one row per date, in date order" in ds.provenance
    assert "'day'" in ds.provenance
    kept = load_dataset(
        {
            "csv": "d.csv",
            "target": "y",
            "columns": {"date": ["day"], "numeric": ["order_id"], "categorical": ["code"]},
        },
        tmp_path,
    )
    assert kept.feature_kinds["order_id"] == "numeric" and kept.feature_kinds["code"] == "categorical"
    assert "day_days" in kept.X.columns and "column kinds set by `columns:`" in kept.provenance
    # a date column whose rows are not in date order is a feature, not a row counter
    shuffled = daily().sample(frac=1.0, random_state=1)
    shuffled.to_csv(tmp_path / "s.csv", index=False)
    assert "day_days" in load_dataset({"csv": "s.csv", "target": "y"}, tmp_path).X.columns


def test_columns_block_overrides_the_guess_and_says_what_is_wrong(tmp_path):
    df = pd.DataFrame(
        {
            "zip": [10115, 20095, 10115, 80331] * 5,
            "when": ["31/01/2020", "01/02/2020", "15/02/2020", "03/03/2020"] * 5,
            "size": ["1.5", "2", "x", "4"] * 5,
            "y": [0, 1] * 10,
        }
    )
    df.to_csv(tmp_path / "c.csv", index=False)
    spec = {
        "csv": "c.csv",
        "target": "y",
        "columns": {"categorical": ["zip"], "date": ["when"], "drop": ["size"]},
    }
    ds = load_dataset(spec, tmp_path)
    assert ds.feature_kinds["zip"] == "categorical" and ds.X["zip"][0] == "10115"
    assert ds.X["when_month"].tolist()[:4] == [1.0, 2.0, 2.0, 3.0]  # day-first text, declared a date
    assert "size" not in ds.X.columns and "dropped columns by request: 'size'" in ds.provenance
    # a test file is read the way its training file was: 01/02/2020 is 1 February there too
    df.iloc[1:5].to_csv(tmp_path / "t.csv", index=False)
    with_test = load_dataset({**spec, "test": "t.csv"}, tmp_path)
    assert with_test.test_X["when_month"].tolist() == [2.0, 2.0, 3.0, 1.0]
    with pytest.raises(DatasetError, match=r"column 'size' is numeric .* non-numeric values \(e.g. 'x'\)"):
        load_dataset({**spec, "columns": {"numeric": ["size"]}}, tmp_path)
    with pytest.raises(DatasetError, match=r"'zip' is declared a date in `columns:` but 10115"):
        load_dataset({**spec, "columns": {"date": ["zip"]}}, tmp_path)
    with pytest.raises(DatasetError, match=r"not in the table: 'zipp'\. Did you mean 'zip'"):
        load_dataset({**spec, "columns": {"categorical": ["zipp"]}}, tmp_path)
    # static checks (mlbench validate), and the csv header
    assert (
        "unknown `columns:` key 'dates'. Did you mean 'date'"
        in check_spec({**spec, "columns": {"dates": ["when"]}}, tmp_path)[0]
    )
    assert (
        "declared twice"
        in check_spec({**spec, "columns": {"date": ["when"], "categorical": ["when"]}}, tmp_path)[0]
    )
    assert "names the target 'y'" in check_spec({**spec, "columns": {"numeric": ["y"]}}, tmp_path)[0]
    assert "not in the header" in check_spec({**spec, "columns": {"numeric": ["nope"]}}, tmp_path)[0]


def test_data_note_lists_every_step_the_models_preprocessing_takes(tmp_path):
    df = sales()
    df.loc[[1, 5, 9], "price"] = np.nan
    df.to_csv(tmp_path / "s.csv", index=False)
    steps = load_dataset({"csv": "s.csv", "target": "units"}, tmp_path).provenance.split("; ")
    assert "dropped ID-like columns (all values unique): 'order_id'" in steps
    assert any(
        s.startswith("categorical columns one-hot encoded when fitting") and "'shop'" in s for s in steps
    )
    assert "missing numbers imputed with the training rows' median when fitting: 'price' (3 rows)" in steps


# --------------------------------------------------------------------------------------------------
# the car table: a model year as one-hot levels flips the leaderboard
# --------------------------------------------------------------------------------------------------


def car_table(seed: int = 0, n: int = 400) -> pd.DataFrame:
    """auto-mpg-like cars, model years 1970-1985 written as dates; from 1978 on, fuel-economy rules
    improved the big engines most (an interaction of year and cylinders)."""
    rng = np.random.default_rng(seed)
    year = rng.integers(1970, 1986, n)
    cylinders = rng.choice([4, 6, 8], n, p=[0.45, 0.25, 0.3])
    weight = 1600 + 420 * cylinders + rng.normal(0, 300, n)
    origin = rng.choice(["usa", "europe", "japan"], n, p=[0.6, 0.2, 0.2])
    rules = (year >= 1978) * 6.0 * (cylinders - 4) / 4
    mpg = 48 - 0.006 * weight + 0.4 * (year - 1970) + rules + 1.5 * (origin != "usa") + rng.normal(0, 1.0, n)
    return pd.DataFrame(
        {
            "model_year": [f"{y}-01-01" for y in year],
            "cylinders": cylinders,
            "weight": weight.round(0),
            "horsepower": (20 + 0.03 * weight + 9 * cylinders + rng.normal(0, 10, n)).round(0),
            "origin": origin,
            "mpg": mpg.round(1),
        }
    )


def test_model_year_as_a_number_vs_one_hot_levels_changes_the_rmse_ranking(tmp_path):
    from mlbench.pipeline import run_suite
    from mlbench.reader import open_run
    from mlbench.suite import load_suite

    car_table().to_csv(tmp_path / "cars.csv", index=False)
    (tmp_path / "s.yaml").write_text(
        "name: cars\nmetrics: [rmse]\nresampling: {kind: kfold, folds: 5}\ndatasets:\n"
        "  - csv: cars.csv\n    target: mpg\n"
        "  - csv: cars.csv\n    target: mpg\n    name: cars_one_hot\n    columns: {categorical: [model_year]}\n"
        "models: [logistic_regression, random_forest]\ndiagnostics: false\n"
    )
    run_suite(load_suite(tmp_path / "s.yaml", output=tmp_path / "out"), workers=2, write_report=False)
    results = open_run(tmp_path / "out").results()
    rmse = results.groupby(["dataset", "model"])["test_rmse"].mean()
    # model year as a number (what the pipeline does with a date): the forest wins clearly
    assert rmse["cars", "random_forest"] < rmse["cars", "logistic_regression"] - 0.2
    # as 16 one-hot levels (what a date as text used to become): Ridge "beats" the forest
    assert rmse["cars_one_hot", "logistic_regression"] < rmse["cars_one_hot", "random_forest"] - 0.1
    assert rmse["cars_one_hot", "random_forest"] > rmse["cars", "random_forest"] + 0.3
    notes = set(results.loc[results["dataset"] == "cars", "dataset_provenance"])
    assert any("date column 'model_year' became numbers" in n for n in notes)


# --------------------------------------------------------------------------------------------------
# one pipeline for `mlbench run` and `mlbench check`
# --------------------------------------------------------------------------------------------------


def test_run_and_check_give_the_same_features(tmp_path):
    from mlbench.pipeline import run_suite
    from mlbench.reader import open_run
    from mlbench.suite import load_suite

    df = sales(200)
    df["units"] = (df["price"] > 10).astype(int)
    df.to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "s.yaml").write_text(
        "name: same\nresampling: {kind: kfold, folds: 2}\ndatasets:\n  - csv: data.csv\n    target: units\n"
        "models: [decision_tree]\ndiagnostics: {permutations: 20}\n"
    )
    run_suite(load_suite(tmp_path / "s.yaml", output=tmp_path / "out"), workers=1, write_report=False)
    run = open_run(tmp_path / "out")
    diag = run.diagnostics()
    in_run = sorted(diag.loc[diag["check"] == "feature", "feature"])
    models_see = sorted(run.dataset("data").X.columns)
    res = check_cli("data.csv", "data.csv", "--target", "units", "--json", "c.json", cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    report = json.loads((tmp_path / "c.json").read_text())
    in_check = sorted(r["feature"] for r in report["table"] if r["check"] == "feature")
    assert in_check == in_run == models_see
    assert "sold_on_days" in in_check and "order_id" not in in_check and "sold_on" not in in_check
    assert any("dropped ID-like columns" in s for s in report["steps"])
    assert "Data (as in a run):" in res.stdout


def test_random_halves_of_a_daily_table_are_not_a_mismatch(tmp_path):
    """The date column of a daily table is a row counter: kept as 365 text levels it let the domain
    classifier tell two random halves apart (AUC 1.00); the pipeline drops it, as a run does."""
    rng = np.random.default_rng(0)
    n = 365
    table = pd.DataFrame(
        {
            "date": pd.date_range("2023-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
            "temp": rng.normal(15, 8, n),
            "shop": rng.choice(["a", "b"], n),
            "y": rng.integers(0, 2, n),
        }
    )
    half = np.sort(rng.permutation(n)[: n // 2])
    table.iloc[half].to_csv(tmp_path / "a.csv", index=False)
    table.drop(index=half).to_csv(tmp_path / "b.csv", index=False)
    res = check_cli("a.csv", "b.csv", "--target", "y", "--json", "r.json", cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "No mismatch found" in res.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["domain"]["auc"] < 0.7
    assert any("dropped ID-like date columns" in s and "'date'" in s for s in report["steps"])
    # halves in shuffled order: the date is then a feature (numbers), and still no mismatch
    _, _, kinds, _ = prepare_pair(
        table.iloc[half].sample(frac=1, random_state=0), table.drop(index=half), "y"
    )
    assert kinds["date_days"] == "numeric"
    from mlbench.analysis.drift import compare

    assert not compare(
        table.iloc[half].sample(frac=1, random_state=0), table.drop(index=half), "y", permutations=50
    ).flagged


def test_check_table_fits_80_columns_without_breaking_words(tmp_path):
    rng = np.random.default_rng(0)
    n = 300
    table = pd.DataFrame(
        {
            "customer_segment": rng.choice(["retail", "online", "wholesale"], n),
            "temperature_reading": rng.normal(size=n),
            "y": rng.integers(0, 2, n),
        }
    )
    table.iloc[:150].to_csv(tmp_path / "a.csv", index=False)
    shifted = table.iloc[150:].copy()
    shifted["customer_segment"] = "online"
    shifted["temperature_reading"] += 1.0
    shifted.to_csv(tmp_path / "b.csv", index=False)
    for new, code in (("b.csv", 1), ("a.csv", 0)):
        res = check_cli("a.csv", new, "--target", "y", cwd=tmp_path, columns=80)
        assert res.returncode == code, res.stdout + res.stderr
        lines = res.stdout.splitlines()
        assert max(len(line.rstrip()) for line in lines) <= 80, res.stdout
        words = {w for line in lines for w in line.split()}
        for whole in ("customer_segment", "temperature_reading", "chi-square", "Wasserstein/std", "Cramér's"):
            assert whole in words, (whole, res.stdout)
    # the suite table too
    (tmp_path / "s.yaml").write_text(
        "datasets:\n  - csv: a.csv\n    target: y\n    test: b.csv\nmodels: [knn]\ndiagnostics: {permutations: 20}\n"
    )
    res = check_cli("--suite", "s.yaml", cwd=tmp_path, columns=80)
    assert res.returncode == 1, res.stdout + res.stderr
    assert max(len(line.rstrip()) for line in res.stdout.splitlines()) <= 80
    assert "customer_segment" in {w.strip("(),") for line in res.stdout.splitlines() for w in line.split()}
