"""Tests of mlbench.datasets: builtin sets, file loaders, cleaning rules, errors, caching, check_spec."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlbench.datasets import (
    ALLOWED_KEYS,
    BUILTIN_NAMES,
    SOURCE_KEYS,
    Dataset,
    check_spec,
    clear_cache,
    dataset_name,
    load_dataset,
)
from mlbench.errors import DatasetError


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Each test sees freshly loaded data; caching itself is tested explicitly.
    clear_cache()
    yield
    clear_cache()


def load_error(spec: dict, base_dir: Path | str = ".") -> str:
    """Load ``spec`` expecting a DatasetError; return its message (which must name the dataset)."""
    with pytest.raises(DatasetError) as info:
        load_dataset(spec, base_dir)
    message = str(info.value)
    assert f"dataset '{dataset_name(spec)}'" in message
    return message


def write_png(path: Path, size: tuple[int, int] = (6, 6), mode: str = "RGB", value: int = 128) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(value)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode=mode).save(path)


# --------------------------------------------------------------------------------------------------
# Import cost and constants
# --------------------------------------------------------------------------------------------------


def test_import_and_static_checks_do_not_import_sklearn(tmp_path):
    (tmp_path / "a.csv").write_text("x,y\n1,2\n")
    code = (
        "import sys\n"
        "import mlbench.datasets as d\n"
        f"assert d.check_spec({{'csv': 'a.csv', 'target': 'y'}}, {str(tmp_path)!r}) == []\n"
        "assert d.check_spec({'builtin': 'synthetic_tabular', 'n_samples': 50}) == []\n"
        "assert d.dataset_name({'openml': 61}) == 'openml_61'\n"
        # (pyarrow is not checked: pandas itself imports it when installed.)
        "heavy = [m for m in ('sklearn', 'PIL', 'torch') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_constants():
    assert BUILTIN_NAMES == (
        "digits",
        "iris",
        "wine",
        "breast_cancer",
        "diabetes",
        "synthetic_tabular",
        "synthetic_images",
    )
    assert SOURCE_KEYS == ("builtin", "csv", "parquet", "image_folder", "npz", "openml", "openml_task")
    assert set(ALLOWED_KEYS) == set(SOURCE_KEYS)
    assert all("name" in keys and source not in keys for source, keys in ALLOWED_KEYS.items())
    assert {"target", "test", "drop", "task"} <= ALLOWED_KEYS["csv"]
    assert {"image_size", "grayscale", "test"} <= ALLOWED_KEYS["image_folder"]
    assert {"n_samples", "shift", "random_state"} <= ALLOWED_KEYS["builtin"]


# --------------------------------------------------------------------------------------------------
# Builtin datasets
# --------------------------------------------------------------------------------------------------


def test_builtin_digits_is_an_image_dataset():
    ds = load_dataset({"builtin": "digits"})
    assert isinstance(ds, Dataset) and ds.is_image
    assert ds.X.shape == (1797, 1, 8, 8) and ds.X.dtype == np.float32
    assert ds.image_shape == (1, 8, 8)
    assert ds.X.min() == 0.0 and ds.X.max() == 1.0
    assert ds.y.dtype == np.int64 and set(np.unique(ds.y)) == set(range(10))
    assert list(ds.classes) == list(range(10))
    assert ds.task_type == "classification" and ds.feature_kinds == {}
    assert ds.test_X is None


@pytest.mark.parametrize(
    ("which", "shape", "classes"),
    [
        ("iris", (150, 4), ["setosa", "versicolor", "virginica"]),
        ("wine", (178, 13), ["class_0", "class_1", "class_2"]),
        ("breast_cancer", (569, 30), ["benign", "malignant"]),
    ],
)
def test_builtin_classification_tables(which, shape, classes):
    from sklearn import datasets as skd

    ds = load_dataset({"builtin": which})
    bunch = getattr(skd, f"load_{which}")()
    assert ds.task_type == "classification" and not ds.is_image
    assert isinstance(ds.X, pd.DataFrame) and ds.X.shape == shape
    assert list(ds.X.columns) == list(bunch.feature_names)
    assert all(ds.X.dtypes == np.float64)
    assert ds.feature_kinds == dict.fromkeys(bunch.feature_names, "numeric")
    # Codes index the sorted class names, like LabelEncoder.
    assert list(ds.classes) == classes == sorted(classes)
    assert ds.y.dtype == np.int64 and set(np.unique(ds.y)) == set(range(len(classes)))
    np.testing.assert_array_equal(ds.classes[ds.y], np.asarray(bunch.target_names)[bunch.target])


def test_builtin_diabetes_is_regression():
    ds = load_dataset({"builtin": "diabetes"})
    assert ds.task_type == "regression" and ds.classes is None and ds.n_classes == 0
    assert ds.X.shape == (442, 10) and ds.y.dtype == np.float64
    assert ds.provenance.startswith("builtin diabetes")


def test_synthetic_tabular_is_deterministic_and_parametrised():
    spec = {"builtin": "synthetic_tabular", "n_samples": 120, "n_features": 6, "n_classes": 3}
    a = load_dataset(spec)
    clear_cache()
    b = load_dataset(spec)
    assert a is not b
    pd.testing.assert_frame_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert a.X.shape == (120, 6) and list(a.X.columns) == [f"f{i}" for i in range(6)]
    assert list(a.classes) == [0, 1, 2] and set(np.unique(a.y)) == {0, 1, 2}
    assert a.test_X is None and a.test_y is None  # shift 0: a plain dataset
    other = load_dataset({**spec, "random_state": 1})
    assert not np.allclose(other.X.to_numpy(), a.X.to_numpy())


def test_synthetic_tabular_shift_moves_only_the_test_part():
    base = {"builtin": "synthetic_tabular", "n_samples": 400, "n_features": 5}
    plain = load_dataset(base)
    near = load_dataset({**base, "shift": 0.0001})
    far = load_dataset({**base, "shift": 2.0})
    # The training part is identical for every shift; only the test part moves.
    pd.testing.assert_frame_equal(plain.X, far.X)
    assert far.test_X.shape == (100, 5) and far.test_y.shape == (100,)
    np.testing.assert_array_equal(near.test_y, far.test_y)
    std = far.X.to_numpy().std(axis=0)
    moved = (far.test_X.to_numpy() - near.test_X.to_numpy()) / std
    np.testing.assert_allclose(moved, 2.0 - 0.0001, rtol=1e-6)
    assert "shifted by 2" in far.provenance


def test_synthetic_tabular_regression():
    ds = load_dataset(
        {"builtin": "synthetic_tabular", "task": "regression", "n_samples": 50, "n_features": 3}
    )
    assert ds.task_type == "regression" and ds.classes is None
    assert ds.y.dtype == np.float64 and ds.X.shape == (50, 3)


def test_synthetic_images_deterministic_learnable_and_shifted():
    spec = {"builtin": "synthetic_images", "n_samples": 200, "image_size": 12, "n_classes": 3, "shift": 1.0}
    a = load_dataset(spec)
    clear_cache()
    b = load_dataset(spec)
    np.testing.assert_array_equal(a.X, b.X)
    assert a.X.shape == (200, 1, 12, 12) and a.X.dtype == np.float32 and a.image_shape == (1, 12, 12)
    assert 0.0 <= a.X.min() and a.X.max() <= 1.0
    assert np.bincount(a.y).tolist() == [67, 67, 66]  # balanced classes
    # Class means differ (the bars point different ways), so the task is learnable.
    means = [a.X[a.y == c].mean(axis=0) for c in range(3)]
    assert np.abs(means[0] - means[1]).max() > 0.2
    # The shifted test part is brighter than an unshifted one.
    plain = load_dataset({**spec, "shift": 0})
    assert plain.test_X is None
    assert a.test_X.shape == (50, 1, 12, 12) and a.test_X.mean() > a.X.mean() + 0.05


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"builtin": "digts"}, "Did you mean 'digits'"),
        ({"builtin": "iris", "n_samples": 10}, "takes no generator parameters"),
        ({"builtin": "synthetic_images", "n_features": 3}, "only"),
        ({"builtin": "iris", "task": "regression"}, "Remove `task:`"),
        ({"builtin": "synthetic_tabular", "n_samples": -5}, "n_samples must be an integer >= 10"),
        ({"builtin": "synthetic_tabular", "noise": "lots"}, "noise must be a finite number"),
        ({"builtin": "synthetic_tabular", "n_classes": 16, "n_features": 2}, "Raise n_features"),
        ({"builtin": "synthetic_tabular", "task": "clasification"}, "Did you mean 'classification'"),
    ],
)
def test_builtin_errors(spec, expected):
    assert expected in load_error(spec)


# --------------------------------------------------------------------------------------------------
# csv / parquet: cleaning rules
# --------------------------------------------------------------------------------------------------


def messy_frame(n: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    num = rng.normal(size=n)
    num[1] = np.nan
    num[2] = np.inf
    num[3] = -np.inf
    color = rng.choice(["red", "green", "blue"], size=n).astype(object)
    color[4] = None
    return pd.DataFrame(
        {
            "customer_id": np.arange(100, 100 + n),  # integer ID by name -> dropped
            "email": [f"user{i}@x.org" for i in range(n)],  # all-unique strings -> dropped
            "age": rng.integers(18, 80, size=n),
            "num": num,
            "color": color,
            "flag": rng.random(n) > 0.5,
            "const": 7,  # constant -> dropped
            "const_with_nan": [1.0] * (n - 1) + [np.nan],  # constant ignoring NaN -> dropped
            "churned": rng.choice(["yes", "no"], size=n),
        }
    )


def test_csv_cleaning_rules(tmp_path):
    df = messy_frame()
    df.loc[5, "churned"] = None  # missing target -> row dropped
    df.to_csv(tmp_path / "churn.csv", index=False)
    ds = load_dataset({"csv": "churn.csv", "target": "churned"}, tmp_path)
    assert ds.name == "churn" and ds.task_type == "classification"
    assert list(ds.X.columns) == ["age", "num", "color", "flag"]
    assert ds.feature_kinds == {
        "age": "numeric",
        "num": "numeric",
        "color": "categorical",
        "flag": "categorical",
    }
    assert len(ds.X) == len(ds.y) == 29
    assert ds.X["age"].dtype == np.float64 and ds.X["num"].dtype == np.float64
    # inf and -inf become NaN (imputed later by the model pipeline); original NaN stays NaN.
    assert ds.X["num"].isna().sum() == 3 and np.isfinite(ds.X["num"].dropna()).all()
    assert ds.X["color"].dtype == object and ds.X["color"].isna().sum() == 1
    assert set(ds.X["color"].dropna()) <= {"red", "green", "blue"}
    assert set(ds.X["flag"]) == {"True", "False"}
    assert list(ds.classes) == ["no", "yes"] and ds.y.dtype == np.int64
    prov = ds.provenance
    for expected in (
        "'const'",
        "'const_with_nan'",
        "'customer_id'",
        "'email'",
        "1 rows with a missing target",
        "'num'",
    ):
        assert expected in prov, expected


def test_csv_unnamed_index_column_is_dropped(tmp_path):
    df = pd.DataFrame({"a": [1.5, 2.5, 3.5, 4.5], "b": ["x", "y", "x", "y"], "t": [0, 1, 0, 1]})
    df.to_csv(tmp_path / "d.csv")  # writes the index as an unnamed first column
    ds = load_dataset({"csv": "d.csv", "target": "t"}, tmp_path)
    assert list(ds.X.columns) == ["a", "b"]
    assert "Unnamed: 0" in ds.provenance


def test_integer_columns_not_named_like_ids_are_kept(tmp_path):
    df = pd.DataFrame({"rank": range(10), "rapid": range(10), "t": [0, 1] * 5})
    df.to_csv(tmp_path / "d.csv", index=False)
    ds = load_dataset({"csv": "d.csv", "target": "t"}, tmp_path)
    assert list(ds.X.columns) == ["rank", "rapid"]


@pytest.mark.parametrize(
    ("target", "task"),
    [
        ([0, 1, 2, 3] * 10, "classification"),  # few integer values
        ([float(v) for v in range(40)], "regression"),  # many integer values (> 20)
        ([0.5, 1.25, 2.0, 3.75] * 10, "regression"),  # not integer-valued
        (["a", "b"] * 20, "classification"),  # non-numeric
        ([True, False] * 20, "classification"),  # boolean
    ],
)
def test_task_is_inferred(tmp_path, target, task):
    df = pd.DataFrame({"x": np.arange(40) % 7, "t": target})
    df.to_csv(tmp_path / "d.csv", index=False)
    ds = load_dataset({"csv": "d.csv", "target": "t"}, tmp_path)
    assert ds.task_type == task
    assert ds.y.dtype == (np.int64 if task == "classification" else np.float64)


def test_explicit_task_overrides_inference(tmp_path):
    pd.DataFrame({"x": range(20), "t": [0, 1, 2, 3] * 5}).to_csv(tmp_path / "d.csv", index=False)
    ds = load_dataset({"csv": "d.csv", "target": "t", "task": "regression"}, tmp_path)
    assert ds.task_type == "regression" and ds.classes is None


def test_integer_valued_float_labels_become_int_classes(tmp_path):
    # A missing target makes pandas read the column as float; the classes should still be 0 and 1.
    pd.DataFrame({"x": range(6), "t": [0, 1, None, 1, 0, 1]}).to_csv(tmp_path / "d.csv", index=False)
    ds = load_dataset({"csv": "d.csv", "target": "t"}, tmp_path)
    assert ds.classes.tolist() == [0, 1] and ds.classes.dtype == np.int64
    assert len(ds.y) == 5


def test_drop_option(tmp_path):
    pd.DataFrame({"a": range(8), "b": [1.5, 2] * 4, "t": [0, 1] * 4}).to_csv(tmp_path / "d.csv", index=False)
    ds = load_dataset({"csv": "d.csv", "target": "t", "drop": ["b"]}, tmp_path)
    assert list(ds.X.columns) == ["a"] and "dropped columns by request" in ds.provenance
    assert "Did you mean 'b'" in load_error({"csv": "d.csv", "target": "t", "drop": ["bb"]}, tmp_path)


def test_parquet_roundtrip_matches_csv(tmp_path):
    df = messy_frame()
    df.to_csv(tmp_path / "d.csv", index=False)
    df.to_parquet(tmp_path / "d.parquet", index=False)
    from_csv = load_dataset({"csv": "d.csv", "target": "churned"}, tmp_path)
    from_parquet = load_dataset({"parquet": "d.parquet", "target": "churned"}, tmp_path)
    pd.testing.assert_frame_equal(from_csv.X, from_parquet.X)
    np.testing.assert_array_equal(from_csv.y, from_parquet.y)
    assert from_csv.feature_kinds == from_parquet.feature_kinds
    assert from_parquet.provenance.startswith("parquet ")


def test_user_test_file(tmp_path):
    train = pd.DataFrame({"a": [1.0, 2, 3, 4, 5, 6], "c": list("xyxyxz"), "t": ["no", "yes"] * 3})
    test = pd.DataFrame({"t": ["yes", "no", None], "c": ["x", "q", "y"], "a": [9, np.inf, 7], "extra": 1})
    train.to_csv(tmp_path / "train.csv", index=False)
    test.to_csv(tmp_path / "test.csv", index=False)
    ds = load_dataset({"csv": "train.csv", "target": "t", "test": "test.csv"}, tmp_path)
    assert list(ds.test_X.columns) == list(ds.X.columns) == ["a", "c"]
    assert ds.test_y.tolist() == [1, 0]  # codes of the training classes ['no', 'yes']; missing target dropped
    assert ds.test_X["a"].tolist()[0] == 9.0 and np.isnan(ds.test_X["a"].iloc[1])
    assert ds.test_X["c"].tolist() == ["x", "q"]
    assert "test set" in ds.provenance


def test_user_test_file_problems(tmp_path):
    pd.DataFrame({"a": [1.0, 2, 3, 4], "t": ["no", "yes"] * 2}).to_csv(tmp_path / "train.csv", index=False)
    pd.DataFrame({"a": [1.0], "t": ["maybe"]}).to_csv(tmp_path / "unseen.csv", index=False)
    pd.DataFrame({"b": [1.0], "t": ["no"]}).to_csv(tmp_path / "cols.csv", index=False)
    spec = {"csv": "train.csv", "target": "t"}
    assert "not seen in training: maybe" in load_error({**spec, "test": "unseen.csv"}, tmp_path)
    assert "lacks feature columns 'a'" in load_error({**spec, "test": "cols.csv"}, tmp_path)
    message = load_error({**spec, "test": "nope.csv"}, tmp_path)
    assert str(tmp_path / "nope.csv") in message and "`test:`" in message


# --------------------------------------------------------------------------------------------------
# csv / parquet: errors
# --------------------------------------------------------------------------------------------------


def test_csv_missing_path_names_resolved_path_and_fix(tmp_path):
    message = load_error({"csv": "data/missing.csv", "target": "t"}, tmp_path)
    assert str(tmp_path / "data" / "missing.csv") in message
    assert "Fix the `csv:` path" in message and str(tmp_path) in message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "empty (0 bytes)"),
        (b"a,b,t\n", "no data rows"),
        (b"\n\n", "has no columns"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "not a text CSV file"),
        (b'a,b,t\n1,2,3\n1,2,3,4,5\n"unterminated,1,2\n', "could not be read as CSV"),
    ],
)
def test_csv_unreadable_files(tmp_path, content, expected):
    (tmp_path / "bad.csv").write_bytes(content)
    message = load_error({"csv": "bad.csv", "target": "t"}, tmp_path)
    assert expected in message and "bad.csv" in message


def test_latin1_csv_is_read(tmp_path):
    rows = "Zürich,1\nGenève,0\nZürich,0\nGenève,1\n"
    (tmp_path / "l.csv").write_bytes(("city,t\n" + rows).encode("latin-1"))
    ds = load_dataset({"csv": "l.csv", "target": "t"}, tmp_path)
    assert set(ds.X["city"]) == {"Zürich", "Genève"}
    assert "Latin-1" in ds.provenance


def test_csv_target_problems(tmp_path):
    pd.DataFrame({"age": range(6), "churned": ["a"] * 6, "const": 1}).to_csv(tmp_path / "d.csv", index=False)
    message = load_error({"csv": "d.csv", "target": "churn"}, tmp_path)
    assert "'age', 'churned', 'const'" in message and "Did you mean 'churned'" in message
    assert "single class ('a')" in load_error({"csv": "d.csv", "target": "churned"}, tmp_path)
    message = load_error({"csv": "d.csv", "target": "churned", "task": "regression"}, tmp_path)
    assert "not numeric" in message and "Remove `task: regression`" in message
    assert "needs `target: <column>`" in load_error({"csv": "d.csv"}, tmp_path)
    assert "task must be" in load_error({"csv": "d.csv", "target": "age", "task": "ranking"}, tmp_path)


def test_semicolon_csv_hint(tmp_path):
    (tmp_path / "s.csv").write_text("a;b;t\n1;2;0\n3;4;1\n")
    assert "not to be comma-separated" in load_error({"csv": "s.csv", "target": "t"}, tmp_path)


def test_no_feature_columns_left(tmp_path):
    pd.DataFrame({"id": range(6), "const": 3, "t": [0, 1] * 3}).to_csv(tmp_path / "d.csv", index=False)
    message = load_error({"csv": "d.csv", "target": "t"}, tmp_path)
    assert "no feature columns are left" in message
    pd.DataFrame({"t": [0, 1] * 3}).to_csv(tmp_path / "only.csv", index=False)
    assert "only the target column" in load_error({"csv": "only.csv", "target": "t"}, tmp_path)


def test_all_targets_missing(tmp_path):
    pd.DataFrame({"a": [1, 2, 3], "t": [None, None, None]}).to_csv(tmp_path / "d.csv", index=False)
    assert "every row has a missing target" in load_error({"csv": "d.csv", "target": "t"}, tmp_path)


def test_garbled_parquet(tmp_path):
    (tmp_path / "g.parquet").write_bytes(b"this is not parquet at all" * 10)
    message = load_error({"parquet": "g.parquet", "target": "t"}, tmp_path)
    assert "could not be read as parquet" in message and "g.parquet" in message


# --------------------------------------------------------------------------------------------------
# image folders
# --------------------------------------------------------------------------------------------------


def make_image_folder(root: Path, sizes: dict[str, list[tuple[int, int]]], mode: str = "RGB") -> None:
    for label, shapes in sizes.items():
        for i, size in enumerate(shapes):
            write_png(root / label / f"{i}.png", size=size, mode=mode, value=i + 10 * len(label))


def test_image_folder_rgb(tmp_path):
    make_image_folder(tmp_path / "pets", {"dog": [(6, 5)] * 3, "cat": [(6, 5)] * 2})
    (tmp_path / "pets" / "cat" / "notes.txt").write_text("not an image")
    ds = load_dataset({"image_folder": "pets"}, tmp_path)
    assert ds.name == "pets" and ds.is_image and ds.task_type == "classification"
    assert ds.X.shape == (5, 3, 5, 6) and ds.X.dtype == np.float32 and ds.image_shape == (3, 5, 6)
    assert 0.0 <= ds.X.min() and ds.X.max() <= 1.0
    assert list(ds.classes) == ["cat", "dog"] and ds.y.tolist() == [0, 0, 1, 1, 1]
    assert "ignored 1 non-image files" in ds.provenance
    # Pixels match what PIL reads, scaled by 1/255, channel-first.
    from PIL import Image

    first = np.asarray(Image.open(tmp_path / "pets" / "cat" / "0.png"), dtype=np.float32) / 255
    np.testing.assert_allclose(ds.X[0], first.transpose(2, 0, 1))


def test_image_folder_grayscale_and_resize(tmp_path):
    make_image_folder(tmp_path / "imgs", {"a": [(4, 4), (7, 5)], "b": [(9, 9)]}, mode="L")
    message = load_error({"image_folder": "imgs"}, tmp_path)
    assert "image sizes differ" in message and "image_size:" in message
    ds = load_dataset({"image_folder": "imgs", "image_size": 8, "grayscale": True}, tmp_path)
    assert ds.X.shape == (3, 1, 8, 8) and ds.image_shape == (1, 8, 8)
    rgb = load_dataset({"image_folder": "imgs", "image_size": 8}, tmp_path)
    assert rgb.X.shape == (3, 3, 8, 8)
    # A grayscale source converted to RGB has three equal channels.
    np.testing.assert_allclose(rgb.X[:, 0], rgb.X[:, 2])


def test_image_folder_corrupt_file(tmp_path):
    make_image_folder(tmp_path / "imgs", {"a": [(4, 4)], "b": [(4, 4)]})
    (tmp_path / "imgs" / "b" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    message = load_error({"image_folder": "imgs"}, tmp_path)
    assert str(tmp_path / "imgs" / "b" / "broken.png") in message and "Remove or replace" in message


def test_image_folder_structure_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    assert "no class sub-folders" in load_error({"image_folder": "empty"}, tmp_path)
    make_image_folder(tmp_path / "one", {"only": [(4, 4)]})
    assert "single class folder" in load_error({"image_folder": "one"}, tmp_path)
    make_image_folder(tmp_path / "hollow", {"a": [(4, 4)]})
    (tmp_path / "hollow" / "b").mkdir()
    assert "has no images" in load_error({"image_folder": "hollow"}, tmp_path)
    (tmp_path / "file.png").write_bytes(b"x")
    assert "expects a folder" in load_error({"image_folder": "file.png"}, tmp_path)
    assert "folder not found" in load_error({"image_folder": "nowhere"}, tmp_path)
    assert "positive integer" in load_error({"image_folder": "one", "image_size": 0}, tmp_path)


def test_image_folder_test_split(tmp_path):
    make_image_folder(tmp_path / "train", {"a": [(4, 4)] * 2, "b": [(4, 4)] * 2})
    make_image_folder(tmp_path / "test", {"b": [(4, 4)]})
    ds = load_dataset({"image_folder": "train", "test": "test"}, tmp_path)
    assert ds.test_X.shape == (1, 3, 4, 4) and ds.test_y.tolist() == [1]
    make_image_folder(tmp_path / "odd", {"c": [(4, 4)]})
    assert "not seen in training: c" in load_error({"image_folder": "train", "test": "odd"}, tmp_path)


# --------------------------------------------------------------------------------------------------
# npz
# --------------------------------------------------------------------------------------------------


def test_npz_images(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "hw.npz", X=rng.random((10, 5, 6)), y=np.arange(10) % 2)
    ds = load_dataset({"npz": "hw.npz"}, tmp_path)
    assert ds.X.shape == (10, 1, 5, 6) and ds.X.dtype == np.float32 and ds.image_shape == (1, 5, 6)
    assert ds.task_type == "classification" and ds.classes.tolist() == [0, 1]
    np.savez(tmp_path / "chw.npz", X=rng.integers(0, 256, (8, 3, 4, 4), dtype=np.uint8), y=["u", "v"] * 4)
    ds = load_dataset({"npz": "chw.npz"}, tmp_path)
    assert ds.X.shape == (8, 3, 4, 4) and ds.X.max() <= 1.0 and ds.X.max() > 0.5
    assert ds.classes.tolist() == ["u", "v"] and "scaled to [0, 1]" in ds.provenance


def test_npz_tabular_allows_nan(tmp_path):
    X = np.arange(40, dtype=float).reshape(20, 2)
    X[0, 0] = np.nan
    X[1, 1] = np.inf
    np.savez(tmp_path / "tab.npz", X=X, y=np.linspace(0, 1, 20))
    ds = load_dataset({"npz": "tab.npz"}, tmp_path)
    assert not ds.is_image and list(ds.X.columns) == ["f0", "f1"]
    assert ds.task_type == "regression" and ds.X.isna().sum().sum() == 2
    assert ds.feature_kinds == {"f0": "numeric", "f1": "numeric"}


def test_npz_errors(tmp_path):
    images = np.random.default_rng(0).random((4, 1, 3, 3))
    images[2, 0, 1, 1] = np.nan
    np.savez(tmp_path / "nan.npz", X=images, y=[0, 1, 0, 1])
    assert "NaN or inf pixels" in load_error({"npz": "nan.npz"}, tmp_path)
    np.savez(tmp_path / "keys.npz", data=np.zeros((2, 2)), labels=[0, 1])
    message = load_error({"npz": "keys.npz"}, tmp_path)
    assert "'data', 'labels'" in message and "numpy.savez" in message
    np.savez(tmp_path / "len.npz", X=np.zeros((3, 2)), y=[0, 1])
    assert "X has 3 rows but y has 2" in load_error({"npz": "len.npz"}, tmp_path)
    np.savez(tmp_path / "range.npz", X=np.full((2, 1, 2, 2), 7.0), y=[0, 1])
    assert "expects [0, 1]" in load_error({"npz": "range.npz"}, tmp_path)
    np.savez(tmp_path / "last.npz", X=np.zeros((2, 5, 5, 3)), y=[0, 1])
    assert "channels-last" in load_error({"npz": "last.npz"}, tmp_path)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    assert "could not be read as an .npz" in load_error({"npz": "junk.npz"}, tmp_path)


def test_npz_test_file(tmp_path):
    np.savez(tmp_path / "a.npz", X=np.zeros((4, 1, 2, 2)), y=[3, 5, 3, 5])
    np.savez(tmp_path / "b.npz", X=np.ones((2, 1, 2, 2)), y=[5, 5])
    ds = load_dataset({"npz": "a.npz", "test": "b.npz"}, tmp_path)
    assert ds.test_X.shape == (2, 1, 2, 2) and ds.test_y.tolist() == [1, 1]
    np.savez(tmp_path / "c.npz", X=np.ones((2, 1, 3, 3)), y=[5, 5])
    assert "same layout" in load_error({"npz": "a.npz", "test": "c.npz"}, tmp_path)


# --------------------------------------------------------------------------------------------------
# OpenML
# --------------------------------------------------------------------------------------------------


def test_one_cache_root_for_openml_and_pretraining(tmp_path, monkeypatch):
    from mlbench.cache import cache_root
    from mlbench.datasets.openml import cache_dir

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("MLBENCH_CACHE", "~/elsewhere")
    assert cache_root() == tmp_path / "elsewhere"
    assert cache_dir() == tmp_path / "elsewhere" / "openml"
    monkeypatch.setenv("MLBENCH_CACHE", "")  # set but empty: the default, not the working folder
    assert cache_root() == tmp_path / ".cache" / "mlbench"


def test_openml_offline_env_fails_fast_with_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("MLBENCH_CACHE", str(tmp_path))
    monkeypatch.setenv("MLBENCH_OFFLINE", "1")
    start = time.perf_counter()
    message = load_error({"openml": 61})
    assert time.perf_counter() - start < 5
    assert "could not be downloaded (offline?)" in message
    assert str(tmp_path / "openml") in message and "csv: source" in message


def test_openml_network_failure_is_a_dataset_error(tmp_path, monkeypatch):
    from urllib.error import URLError

    import sklearn.datasets._openml as sk_openml

    def no_network(*args, **kwargs):
        raise URLError("no route to host")

    # Simulate a machine without network, even where the test machine has one.
    monkeypatch.setattr(sk_openml, "urlopen", no_network)
    monkeypatch.setenv("MLBENCH_CACHE", str(tmp_path))
    monkeypatch.delenv("MLBENCH_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    start = time.perf_counter()
    message = load_error({"openml": 31, "name": "credit"})
    assert time.perf_counter() - start < 10
    assert "could not be downloaded (offline?)" in message and "not in the cache" in message


def test_openml_frame_goes_through_tabular_cleaning(monkeypatch):
    # conftest.py sets the offline flags; this test fakes the fetch itself
    monkeypatch.delenv("MLBENCH_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    import sklearn.datasets
    from sklearn.utils import Bunch

    frame = pd.DataFrame(
        {
            "size": pd.Series([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
            "kind": pd.Categorical(["a", "b", "a", None, "b", "a"]),
            "class": pd.Categorical(["good", "bad"] * 3),
        }
    )
    calls = []

    def fake_fetch(**kwargs):
        calls.append(kwargs)
        return Bunch(frame=frame, details={"default_target_attribute": "class", "name": "toy"})

    monkeypatch.setattr(sklearn.datasets, "fetch_openml", fake_fetch)
    ds = load_dataset({"openml": 7})
    assert ds.name == "openml_7" and calls[0]["data_id"] == 7 and calls[0]["as_frame"] is True
    assert ds.feature_kinds == {"size": "numeric", "kind": "categorical"}
    assert ds.X["kind"].isna().sum() == 1 and list(ds.classes) == ["bad", "good"]
    assert "openml 7 'toy'" in ds.provenance


def test_openml_id_must_be_an_int():
    assert "positive integer dataset id" in load_error({"openml": "sixty-one"})


# --------------------------------------------------------------------------------------------------
# Caching, names, spec structure
# --------------------------------------------------------------------------------------------------


def test_cache_returns_the_same_object(tmp_path):
    pd.DataFrame({"a": [1.5, 2, 3, 4], "t": [0, 1] * 2}).to_csv(tmp_path / "d.csv", index=False)
    a = load_dataset({"csv": "d.csv", "target": "t"}, tmp_path)
    b = load_dataset({"target": "t", "csv": "d.csv"}, str(tmp_path))  # key order and str path do not matter
    assert a is b
    c = load_dataset({"csv": "d.csv", "target": "t", "name": "other"}, tmp_path)
    assert c is not a and c.name == "other"
    assert load_dataset({"builtin": "iris"}) is load_dataset({"builtin": "iris"}, "/")


def test_dataset_name_reads_nothing():
    assert dataset_name({"builtin": "iris"}) == "iris"
    assert dataset_name({"csv": "no/such/dir/churn.csv", "target": "x"}) == "churn"
    assert dataset_name({"parquet": "x/sales.parquet"}) == "sales"
    assert dataset_name({"npz": "arrays.npz"}) == "arrays"
    assert dataset_name({"image_folder": "data/pets/"}) == "pets"
    assert dataset_name({"openml": 61}) == "openml_61"
    assert dataset_name({"csv": "a.csv", "name": "Churn 2024"}) == "Churn 2024"


def test_spec_structure_errors():
    assert "no source key" in load_error({"target": "t"})
    assert "several source keys" in load_error({"csv": "a.csv", "npz": "b.npz"})
    message = load_error({"csv": "a.csv", "target": "t", "targte": "t"})
    assert "unknown key 'targte'" in message


def test_check_spec_cheap_problems(tmp_path):
    (tmp_path / "d.csv").write_text("age,churned\n1,yes\n")
    (tmp_path / "pets").mkdir()
    assert check_spec({"csv": "d.csv", "target": "churned"}, tmp_path) == []
    assert check_spec({"builtin": "iris"}) == []
    assert check_spec({"image_folder": "pets", "image_size": 32}, tmp_path) == []
    assert check_spec({"openml": 61}) == []

    [problem] = check_spec({"builtin": "wnie"})
    assert "Did you mean 'wine'" in problem
    [problem] = check_spec({"csv": "data/x.csv", "target": "t"}, tmp_path)
    assert str(tmp_path / "data" / "x.csv") in problem and "Fix the `csv:` path" in problem
    [problem] = check_spec({"csv": "d.csv", "target": "churn"}, tmp_path)
    assert "not in the header" in problem and "Did you mean 'churned'" in problem
    assert any("needs `target" in p for p in check_spec({"csv": "d.csv"}, tmp_path))
    [problem] = check_spec({"csv": "d.csv", "target": "churned", "test": "t.csv"}, tmp_path)
    assert "`test:`" in problem
    [problem] = check_spec({"image_folder": "d.csv"}, tmp_path)
    assert "expects a folder" in problem
    [problem] = check_spec({"csv": "d.csv", "target": "churned", "task": "regresion"}, tmp_path)
    assert "Did you mean 'regression'" in problem
    [problem] = check_spec({"csv": "d.csv", "target": "churned", "colour": 1}, tmp_path)
    assert "unknown key 'colour'" in problem
    (tmp_path / "empty.csv").write_bytes(b"")
    [problem] = check_spec({"csv": "empty.csv", "target": "t"}, tmp_path)
    assert "empty (0 bytes)" in problem
    [problem] = check_spec({"openml": -1})
    assert "positive integer" in problem


def test_check_spec_reads_only_the_header(tmp_path):
    # A huge or broken body does not matter: only the first line is read.
    with open(tmp_path / "big.csv", "w") as fh:
        fh.write("a,b,t\n")
        fh.write("1,2,3\n" * 200_000)
        fh.write('"broken\n')
    start = time.perf_counter()
    assert check_spec({"csv": "big.csv", "target": "t"}, tmp_path) == []
    assert time.perf_counter() - start < 0.1


# --------------------------------------------------------------------------------------------------
# Hardening (issue 12): duplicate, nested and ID-like columns, odd encodings, plain values in messages
# --------------------------------------------------------------------------------------------------


def test_duplicate_column_names_are_an_error_not_a_renamed_leak(tmp_path):
    # pandas would read `a,b,y,y` as y and y.1 and hand the copy of the target to the model
    rng = np.random.default_rng(0)
    rows = "\n".join(f"{a},{b},{y},{y}" for a, b, y in rng.integers(0, 9, (40, 3)) % [9, 9, 2])
    (tmp_path / "d.csv").write_text("a,b,y,y\n" + rows + "\n")
    message = load_error({"csv": "d.csv", "target": "y"}, tmp_path)
    assert "duplicate column names 'y'" in message and "d.csv" in message
    # validate (header only) says the same before anything runs
    [problem] = check_spec({"csv": "d.csv", "target": "y"}, tmp_path)
    assert "duplicate column names 'y'" in problem
    # a parquet file with a repeated field name
    import pyarrow as pa
    import pyarrow.parquet as pq

    y = pa.array(rng.integers(0, 2, 40))
    pq.write_table(
        pa.table([pa.array(rng.normal(size=40)), y, y], names=["a", "y", "y"]), tmp_path / "d.parquet"
    )
    message = load_error({"parquet": "d.parquet", "target": "y"}, tmp_path)
    assert "duplicate column names 'y'" in message


def mlbench_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlbench.cli", *args], capture_output=True, text=True, timeout=300, cwd=cwd
    )


@pytest.mark.parametrize("copy", [" y", "Y"])
def test_target_under_another_spelling_is_refused_like_a_duplicate(tmp_path, copy):
    # pandas keeps `y` and ` y` (or `Y`) apart, so a copy of the target would be a feature holding
    # the answer: refused before anything runs, located, naming both columns and the fix
    rng = np.random.default_rng(0)
    a = rng.normal(size=40)
    y = (a > 0).astype(int)
    frame = pd.DataFrame({"a": a, "b": rng.normal(size=40), "y": y, copy: y})
    frame.to_csv(tmp_path / "d.csv", index=False)
    spec = {"csv": "d.csv", "target": "y"}
    expected = f"column {copy!r} of the file"
    message = load_error(spec, tmp_path)
    assert expected in message and "target 'y'" in message and "`drop:`" in message
    [problem] = check_spec(spec, tmp_path)
    assert expected in problem and "d.csv" in problem and "target 'y'" in problem
    # the same in a parquet file
    frame.to_parquet(tmp_path / "d.parquet")
    [problem] = check_spec({"parquet": "d.parquet", "target": "y"}, tmp_path)
    assert expected in problem and "d.parquet" in problem
    assert expected in load_error({"parquet": "d.parquet", "target": "y"}, tmp_path)

    # `mlbench run`: exit 2 at the suite's line, nothing run, no results folder
    (tmp_path / "s.yaml").write_text("datasets:\n  - csv: d.csv\n    target: y\nmodels: [knn]\n")
    res = mlbench_cli("run", "s.yaml", "--output", "out", cwd=tmp_path)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "s.yaml:2:" in res.stderr and "datasets[0].csv" in res.stderr
    assert expected in res.stderr and "target 'y'" in res.stderr and "`drop:`" in res.stderr
    assert "Traceback" not in res.stderr and not (tmp_path / "out").exists()
    # `mlbench check --suite` reads the same table: the dataset cannot be checked, exit 2
    res = mlbench_cli("check", "--suite", "s.yaml", cwd=tmp_path)
    assert res.returncode == 2, res.stdout + res.stderr
    assert copy.strip() in res.stdout + res.stderr and "Traceback" not in res.stderr

    # the fix the message names: dropping the copy (either way) makes the dataset load
    assert check_spec({**spec, "drop": [copy]}, tmp_path) == []
    assert list(load_dataset({**spec, "drop": [copy]}, tmp_path).X.columns) == ["a", "b"]
    clear_cache()
    assert check_spec({**spec, "columns": {"drop": [copy]}}, tmp_path) == []
    assert list(load_dataset({**spec, "columns": {"drop": [copy]}}, tmp_path).X.columns) == ["a", "b"]


def test_target_namesake_with_other_values_is_a_feature(tmp_path):
    # a column named like the target but holding something else is not a copy: it stays a feature
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 40)
    other = y.copy()
    other[0] = 1 - other[0]
    pd.DataFrame({"a": rng.normal(size=40), "y": y, "Y ": other}).to_csv(tmp_path / "d.csv", index=False)
    assert check_spec({"csv": "d.csv", "target": "y"}, tmp_path) == []
    assert list(load_dataset({"csv": "d.csv", "target": "y"}, tmp_path).X.columns) == ["a", "Y "]


def test_nested_parquet_column_is_a_dataset_error(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"tags": [[1, 2], [3], [4, 5]] * 4, "x": np.arange(12.0), "y": [0, 1] * 6})
    pq.write_table(table, tmp_path / "n.parquet")
    message = load_error({"parquet": "n.parquet", "target": "y"}, tmp_path)
    assert "nested columns 'tags'" in message and "Flatten" in message


def test_all_unique_string_target_is_a_dataset_error(tmp_path):
    pd.DataFrame({"x": np.arange(30.0), "name": [f"row{i}" for i in range(30)]}).to_csv(
        tmp_path / "u.csv", index=False
    )
    message = load_error({"csv": "u.csv", "target": "name"}, tmp_path)
    assert "different value in every row (30 distinct values in 30 rows" in message
    assert "n_splits" not in message


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_utf16_csv_with_bom_is_read(tmp_path, encoding):
    text = "città,x,y\n" + "".join(f"Zürich,{i},{i % 2}\n" for i in range(10))
    bom = {"utf-16": b"", "utf-16-be": "\ufeff".encode("utf-16-be"), "utf-32": b""}[encoding]
    (tmp_path / "u.csv").write_bytes(bom + text.encode(encoding))
    ds = load_dataset({"csv": "u.csv", "target": "y"}, tmp_path)
    assert set(ds.X.columns) <= {"città", "x"} and len(ds.y) == 10
    assert "byte-order mark" in ds.provenance
    assert check_spec({"csv": "u.csv", "target": "y"}, tmp_path) == []


def test_utf16_csv_without_bom_is_a_clear_error(tmp_path):
    (tmp_path / "u.csv").write_bytes("a,y\n1,0\n2,1\n3,0\n".encode("utf-16-le"))
    message = load_error({"csv": "u.csv", "target": "y"}, tmp_path)
    assert "UTF-16" in message and "UTF-8" in message


def test_messages_quote_plain_values_not_numpy_reprs(tmp_path):
    pd.DataFrame({"x": np.arange(6.0), "t": [1] * 6}).to_csv(tmp_path / "one.csv", index=False)
    message = load_error({"csv": "one.csv", "target": "t"}, tmp_path)
    assert "single class (1)" in message and "np." not in message
    pd.DataFrame({"x": np.arange(6.0), "t": [True, False] * 3}).to_csv(tmp_path / "b.csv", index=False)
    message = load_error({"csv": "b.csv", "target": "t", "task": "regression"}, tmp_path)
    assert "np." not in message


# --------------------------------------------------------------------------------------------------
# The resampling's column is set aside (issue 18)
# --------------------------------------------------------------------------------------------------


def test_the_resampling_column_is_set_aside_and_the_rows_stay_the_same(tmp_path):
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "store": rng.choice(["a", "b", "c", None], 40),
            "day": pd.date_range("2024-01-01", periods=20).repeat(2).strftime("%Y-%m-%d"),
            "x": rng.normal(size=40),
            "t": [None, *rng.integers(0, 2, 39)],
        }
    )
    df.to_csv(tmp_path / "d.csv", index=False)
    spec = {"csv": "d.csv", "target": "t", "drop": ["store"]}
    plain = load_dataset(spec, tmp_path)
    grouped = load_dataset(spec, tmp_path, resampling={"kind": "group_kfold", "group": "store"})
    assert grouped is not plain and grouped.split_by == ("group", "store")
    np.testing.assert_array_equal(grouped.y, plain.y)  # the same rows: fold indices mean the same rows
    assert list(grouped.split_values) == [
        str(v) if isinstance(v, str) else "(missing)" for v in df["store"][1:]
    ]
    assert "rows without a group form one group" in grouped.provenance
    timed = load_dataset(spec, tmp_path, resampling={"kind": "time_series", "time": "day"})
    assert not any(c.startswith("day") for c in timed.X.columns) and any(
        c.startswith("day") for c in plain.X.columns
    )
    assert timed.split_values[0] == pd.Timestamp("2024-01-01").timestamp()
    # kfold names no column: the very same cached dataset
    assert load_dataset(spec, tmp_path, resampling={"kind": "kfold", "group": None}) is plain


def test_builtin_tables_set_the_column_aside_and_images_have_none():
    from mlbench.datasets.specs import SplitColumnError

    iris = load_dataset({"builtin": "iris"}, resampling={"kind": "time_series", "time": "sepal length (cm)"})
    assert "sepal length (cm)" not in iris.X.columns and "sepal length (cm)" not in iris.feature_kinds
    assert len(iris.split_values) == len(iris.y) == 150
    with pytest.raises(SplitColumnError, match=r"not in the dataset.*Did you mean 'petal width \(cm\)'"):
        load_dataset({"builtin": "iris"}, resampling={"kind": "group_kfold", "group": "petal width"})
    with pytest.raises(SplitColumnError, match="holds images, which have no columns"):
        load_dataset({"builtin": "digits"}, resampling={"kind": "group_kfold", "group": "g"})


def test_known_task_reads_no_data():
    from mlbench.datasets import known_task

    assert known_task({"builtin": "diabetes"}) == "regression"
    assert known_task({"builtin": "synthetic_tabular", "task": "regression"}) == "regression"
    assert known_task({"builtin": "synthetic_tabular"}) == "classification"
    assert known_task({"image_folder": "x"}) == "classification"
    assert known_task({"csv": "nope.csv", "target": "y"}) is None
    assert known_task({"csv": "nope.csv", "target": "y", "task": "regression"}) == "regression"
