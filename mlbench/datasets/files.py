"""Loaders for the user's own files: csv, parquet, image folders and npz archives.

Also home of the tabular cleaning rules shared with the builtin and OpenML loaders, so every
tabular dataset goes through the same steps (see :func:`prepare_frame`):

* rows whose target is missing (NaN, empty, or +-inf for numeric targets) are dropped;
* numeric feature columns become float64 and +-inf becomes NaN (the model pipeline imputes NaN);
* every other column (object, string, category, bool, datetime) becomes a "categorical" column of
  Python strings, missing values as NaN;
* constant columns (one distinct value, NaN ignored) and ID-like columns (non-numeric with all values
  unique, or integer columns named ``id`` / ``*_id`` / ``Unnamed: 0`` with all values unique) are
  dropped, because they cannot generalise and some models would memorise them;
* every drop is written to the dataset's provenance.

Heavy or optional libraries (PIL, pyarrow) are imported inside the functions that need them.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlbench.datasets.base import Dataset, TaskType
from mlbench.errors import DatasetError, did_you_mean

#: Integer-valued numeric targets with at most this many distinct values are treated as classes.
MAX_INFERRED_CLASSES = 20

IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"}
)

# ``customerId``; the snake-case forms (``id``, ``customer_id``, ``user-id``) and pandas' ``Unnamed: 0``
# (a saved index) are matched in :func:`_is_id_name`.
_ID_NAME_CAMEL = re.compile(r"[a-z](?:Id|ID)$")


def _is_id_name(column: str) -> bool:
    """True for column names that conventionally hold row identifiers."""
    text = str(column)
    low = text.strip().lower()
    return (
        low == "id"
        or bool(re.search(r"[_\-\s.]id$", low))
        or bool(re.match(r"^id[_\-\s.]", low))
        or bool(_ID_NAME_CAMEL.search(text.strip()))
        or bool(re.match(r"^unnamed: \d+$", low))
    )


def _cols(columns: Any, limit: int = 20) -> str:
    """Short, readable list of column names for error messages."""
    names = [str(c) for c in columns]
    shown = ", ".join(repr(c) for c in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def resolve_path(value: Any, base_dir: str | Path) -> Path:
    """Resolve a spec path against the suite's folder (``~`` expanded).

    Parameters
    ----------
    value : str or Path
        The path as written in the suite.
    base_dir : str or Path
        Folder relative paths are resolved against (the suite file's folder).

    Returns
    -------
    Path
        The absolute path (it may not exist).
    """
    path = Path(str(value)).expanduser()
    if not path.is_absolute():
        path = Path(base_dir).expanduser() / path
    return path.resolve()


def _missing_path_message(name: str, what: str, path: Path, key: str, base_dir: str | Path) -> str:
    return (
        f"dataset '{name}': {what} not found: {path}. Fix the `{key}:` path (relative paths are "
        f"resolved against the suite file's folder, {Path(base_dir).expanduser().resolve()})."
    )


def require_file(name: str, path: Path, key: str, base_dir: str | Path, kind: str = "file") -> None:
    """Raise :class:`DatasetError` unless ``path`` exists with the right kind (file or folder)."""
    if not path.exists():
        raise DatasetError(_missing_path_message(name, kind, path, key, base_dir))
    if kind == "folder" and not path.is_dir():
        raise DatasetError(
            f"dataset '{name}': {path} is a file, but `{key}:` expects a folder with one sub-folder per "
            "class. Point it at the folder."
        )
    if kind == "file" and path.is_dir():
        raise DatasetError(f"dataset '{name}': {path} is a folder, but `{key}:` expects a file.")


# --------------------------------------------------------------------------------------------------
# Targets and task types
# --------------------------------------------------------------------------------------------------


def _normalise_labels(values: pd.Series) -> pd.Series:
    """Make class labels comparable and sortable: integer-valued floats -> int, mixed types -> str."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype(bool)
    if pd.api.types.is_numeric_dtype(values):
        arr = values.to_numpy(dtype=np.float64)
        if np.all(arr == np.round(arr)):
            return pd.Series(arr.astype(np.int64), index=values.index)
        return values.astype(np.float64)
    # Object columns may mix ints and strings ("1", 1); comparing them would fail when sorting.
    kinds = {type(v) for v in values}
    if len(kinds) > 1:
        return values.map(str)
    return values.astype(object)


def infer_task(y: pd.Series) -> TaskType:
    """Infer the task type from a target with missing values already removed.

    Parameters
    ----------
    y : pandas.Series
        The target.

    Returns
    -------
    {"classification", "regression"}
        Non-numeric or boolean target: classification. Integer-valued numeric target with at most
        ``MAX_INFERRED_CLASSES`` distinct values: classification. Anything else: regression.
    """
    if pd.api.types.is_bool_dtype(y) or not pd.api.types.is_numeric_dtype(y):
        return "classification"
    arr = y.to_numpy(dtype=np.float64)
    if np.all(arr == np.round(arr)) and len(np.unique(arr)) <= MAX_INFERRED_CLASSES:
        return "classification"
    return "regression"


def check_task(name: str, task: Any) -> TaskType | None:
    """Validate the spec's ``task:`` value (None when absent)."""
    if task is None:
        return None
    if task not in ("classification", "regression"):
        raise DatasetError(
            f"dataset '{name}': task must be 'classification' or 'regression', got {task!r}."
            + did_you_mean(str(task), ["classification", "regression"])
        )
    return task


def encode_target(
    name: str, y: pd.Series, task: TaskType, target: str = "target"
) -> tuple[np.ndarray, np.ndarray | None]:
    """Encode a clean target (no missing values) for ``task``.

    Parameters
    ----------
    name : str
        Dataset name, for error messages.
    y : pandas.Series
        Target values.
    task : {"classification", "regression"}
    target : str
        Target column name, for error messages.

    Returns
    -------
    y : numpy.ndarray
        int64 codes 0..k-1 (classification) or float64 values (regression).
    classes : numpy.ndarray or None
        Sorted unique original labels (index = code) for classification, None for regression.
    """
    if task == "regression":
        if pd.api.types.is_bool_dtype(y) or not pd.api.types.is_numeric_dtype(y):
            example = next((v for v in y if not _is_number(v)), y.iloc[0] if len(y) else None)
            raise DatasetError(
                f"dataset '{name}': target '{target}' is not numeric (e.g. {example!r}) but the task is "
                "regression. Remove `task: regression` to treat it as classification, or choose a "
                "numeric target column."
            )
        return y.to_numpy(dtype=np.float64), None
    labels = _normalise_labels(y)
    try:
        codes, uniques = pd.factorize(labels, sort=True)
    except TypeError:  # unorderable mix that survived normalisation
        codes, uniques = pd.factorize(labels.map(str), sort=True)
    classes = np.asarray(uniques)
    if len(classes) < 2:
        only = classes[0] if len(classes) else None
        raise DatasetError(
            f"dataset '{name}': target '{target}' has a single class ({only!r}); classification needs at "
            "least two. Choose another target column or add rows of the other classes."
        )
    return codes.astype(np.int64), classes


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool)


def encode_test_target(
    name: str, y: pd.Series, task: TaskType, classes: np.ndarray | None, target: str = "target"
) -> np.ndarray:
    """Encode a test target with the training classes; unseen labels are an error."""
    if task == "regression":
        return encode_target(name, y, task, target)[0]
    assert classes is not None
    labels = _normalise_labels(y)
    if classes.dtype == object and any(isinstance(c, str) for c in classes):
        labels = labels.map(lambda v: v if isinstance(v, str) else str(v))
    index = pd.Index(classes)
    codes = index.get_indexer(labels)
    if (codes < 0).any():
        unseen = sorted({str(v) for v, c in zip(labels, codes, strict=True) if c < 0})
        raise DatasetError(
            f"dataset '{name}': the test file has target labels not seen in training: "
            f"{', '.join(unseen[:10])}. Remove those rows from the test file or add examples of them to "
            "the training data."
        )
    return codes.astype(np.int64)


# --------------------------------------------------------------------------------------------------
# Tabular cleaning
# --------------------------------------------------------------------------------------------------


def _as_categorical(col: pd.Series) -> pd.Series:
    """Object column of Python strings, missing values as NaN."""
    mask = col.isna()
    out = col.astype(object).map(str).astype(object)
    out[mask] = np.nan
    return out


def _as_numeric(col: pd.Series) -> tuple[pd.Series, int]:
    """float64 column with +-inf replaced by NaN; returns the column and how many inf were replaced."""
    arr = col.to_numpy(dtype=np.float64, na_value=np.nan).copy()
    inf = np.isinf(arr)
    arr[inf] = np.nan
    return pd.Series(arr, index=col.index, name=col.name), int(inf.sum())


def _is_numeric_col(col: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)


def _drop_missing_target(df: pd.DataFrame, target: str, notes: list[str]) -> pd.DataFrame:
    y = df[target]
    missing = y.isna()
    if _is_numeric_col(y):
        missing |= np.isinf(y.to_numpy(dtype=np.float64, na_value=np.nan))
    elif not pd.api.types.is_bool_dtype(y):
        missing |= y.astype(object).map(lambda v: isinstance(v, str) and v.strip() == "")
    if missing.any():
        notes.append(f"dropped {int(missing.sum())} rows with a missing target")
        df = df.loc[~missing.to_numpy()].reset_index(drop=True)
    return df


def _find_target(name: str, df: pd.DataFrame, target: Any, where: str) -> str:
    if target is None:
        raise DatasetError(
            f"dataset '{name}': no `target:` given. Add `target: <column>`; the {where} has columns "
            f"{_cols(df.columns)}."
        )
    if target not in df.columns:
        hint = ""
        if len(df.columns) == 1 and any(sep in str(df.columns[0]) for sep in (";", "\t", "|")):
            hint = " The file seems not to be comma-separated; save it as a comma-separated CSV."
        raise DatasetError(
            f"dataset '{name}': target column {target!r} is not in the {where}; available columns: "
            f"{_cols(df.columns)}.{did_you_mean(str(target), [str(c) for c in df.columns])}{hint} "
            "Fix `target:`."
        )
    return target


def prepare_frame(
    name: str,
    df: pd.DataFrame,
    target: Any,
    task: Any = None,
    drop: Any = None,
    where: str = "file",
) -> tuple[pd.DataFrame, np.ndarray, TaskType, dict[str, str], np.ndarray | None, list[str]]:
    """Clean a raw table into features and an encoded target (the rules in the module docstring).

    Parameters
    ----------
    name : str
        Dataset name, for messages.
    df : pandas.DataFrame
        The raw table, target included.
    target : str
        Target column.
    task : {"classification", "regression"} or None
        Requested task; inferred when None.
    drop : list of str, optional
        Columns the user asked to drop.
    where : str
        What the table is ("file", "OpenML dataset"), for messages.

    Returns
    -------
    X, y, task, feature_kinds, classes, notes
        ``notes`` are provenance lines describing what was dropped or changed.
    """
    task = check_task(name, task)
    if df.shape[1] == 0 or len(df) == 0:
        raise DatasetError(
            f"dataset '{name}': the {where} has no rows. Use a file with a header row and data rows."
        )
    df = df.copy()
    df.columns = [str(c) for c in df.columns]
    if df.columns.duplicated().any():
        dup = sorted(set(df.columns[df.columns.duplicated()]))
        raise DatasetError(
            f"dataset '{name}': duplicate column names {_cols(dup)}. Rename them so each column is unique."
        )
    target = _find_target(name, df, target, where)
    notes: list[str] = []
    drop_list = _check_drop(name, df, drop, target)
    if drop_list:
        df = df.drop(columns=drop_list)
        notes.append(f"dropped columns by request: {_cols(drop_list)}")
    df = _drop_missing_target(df, target, notes)
    if len(df) == 0:
        raise DatasetError(
            f"dataset '{name}': every row has a missing target '{target}'. Fill the target column or "
            "choose another one."
        )
    y_raw = df.pop(target)
    task = task or infer_task(y_raw)
    y, classes = encode_target(name, y_raw, task, target)

    X, kinds, col_notes = _clean_features(df)
    notes.extend(col_notes)
    if X.shape[1] == 0:
        raise DatasetError(
            f"dataset '{name}': no feature columns are left besides the target '{target}' "
            "(after dropping constant, ID-like and requested columns; see above). Add feature columns "
            "or change `drop:`."
            if notes
            else f"dataset '{name}': the {where} has only the target column '{target}'. Add feature columns."
        )
    return X, y, task, kinds, classes, notes


def _check_drop(name: str, df: pd.DataFrame, drop: Any, target: str) -> list[str]:
    if drop is None:
        return []
    if isinstance(drop, str):
        drop = [drop]
    drop = [str(c) for c in drop]
    unknown = [c for c in drop if c not in df.columns]
    if unknown:
        raise DatasetError(
            f"dataset '{name}': `drop:` names columns that do not exist: {_cols(unknown)}."
            f"{did_you_mean(unknown[0], list(df.columns))} Available columns: {_cols(df.columns)}."
        )
    if target in drop:
        raise DatasetError(
            f"dataset '{name}': `drop:` includes the target '{target}'. Remove it from `drop:`."
        )
    return drop


def _clean_features(df: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str], list[str]]:
    notes: list[str] = []
    constant: list[str] = []
    id_like: list[str] = []
    inf_cols: list[str] = []
    out: dict[str, pd.Series] = {}
    kinds: dict[str, str] = {}
    n = len(df)
    for col in df.columns:
        s = df[col]
        n_unique = s.nunique(dropna=True)
        if n_unique <= 1:
            constant.append(col)
            continue
        if _is_numeric_col(s):
            integer = pd.api.types.is_integer_dtype(s) or (
                s.notna().all() and np.all(np.mod(s.to_numpy(dtype=np.float64), 1) == 0)
            )
            if integer and n > 1 and n_unique == n and _is_id_name(col):
                id_like.append(col)
                continue
            out[col], n_inf = _as_numeric(s)
            if n_inf:
                inf_cols.append(col)
            kinds[col] = "numeric"
        else:
            if n > 1 and s.notna().all() and n_unique == n:
                id_like.append(col)
                continue
            out[col] = _as_categorical(s)
            kinds[col] = "categorical"
    if constant:
        notes.append(f"dropped constant columns (one value, or all missing): {_cols(constant)}")
    if id_like:
        notes.append(f"dropped ID-like columns (all values unique): {_cols(id_like)}")
    if inf_cols:
        notes.append(f"replaced +-inf by NaN in {_cols(inf_cols)} (NaN is imputed by the model pipeline)")
    X = pd.DataFrame(out, index=df.index) if out else pd.DataFrame(index=df.index)
    return X.reset_index(drop=True), kinds, notes


def align_test_frame(
    name: str,
    df: pd.DataFrame,
    target: str,
    task: TaskType,
    kinds: dict[str, str],
    classes: np.ndarray | None,
) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """Clean a user-supplied test table with the training schema (columns, kinds, classes).

    Parameters
    ----------
    name, target, task : as for :func:`prepare_frame`
    df : pandas.DataFrame
        Raw test table, target included.
    kinds : dict
        Training feature kinds (column -> "numeric" / "categorical"); the test file must have these
        columns; extra columns are ignored.
    classes : numpy.ndarray or None
        Training classes.

    Returns
    -------
    X, y, notes
    """
    df = df.copy()
    df.columns = [str(c) for c in df.columns]
    if len(df) == 0:
        raise DatasetError(f"dataset '{name}': the test file has no rows. Add rows or remove `test:`.")
    if target not in df.columns:
        raise DatasetError(
            f"dataset '{name}': the test file lacks the target column '{target}'; it has "
            f"{_cols(df.columns)}. Use a test file with the same columns as the training file."
        )
    missing = [c for c in kinds if c not in df.columns]
    if missing:
        raise DatasetError(
            f"dataset '{name}': the test file lacks feature columns {_cols(missing)}. Use a test file "
            "with the same columns as the training file."
        )
    notes: list[str] = []
    df = _drop_missing_target(df, target, notes)
    notes = [f"test: {n}" for n in notes]
    if len(df) == 0:
        raise DatasetError(f"dataset '{name}': every test row has a missing target '{target}'.")
    y = encode_test_target(name, df[target], task, classes, target)
    out: dict[str, pd.Series] = {}
    for col, kind in kinds.items():
        s = df[col]
        if kind == "numeric":
            if not _is_numeric_col(s):
                converted = pd.to_numeric(s, errors="coerce")
                bad = converted.isna() & s.notna()
                if bad.any():
                    raise DatasetError(
                        f"dataset '{name}': test column '{col}' is numeric in training but has "
                        f"non-numeric values (e.g. {s[bad].iloc[0]!r}). Fix the test file."
                    )
                s = converted
            out[col] = _as_numeric(s)[0]
        else:
            out[col] = _as_categorical(s)
    return pd.DataFrame(out).reset_index(drop=True), y, notes


# --------------------------------------------------------------------------------------------------
# csv / parquet
# --------------------------------------------------------------------------------------------------


def read_csv_header(path: Path) -> list[str]:
    """Column names from a CSV's first line (cheap: reads one line, no pandas)."""
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as fh:
        row = next(csv.reader(fh), [])
    return row


def _looks_binary(path: Path) -> bool:
    with open(path, "rb") as fh:
        return b"\x00" in fh.read(8192)


def read_table(name: str, path: Path, fmt: str) -> tuple[pd.DataFrame, list[str]]:
    """Read a csv or parquet file into a DataFrame, turning every failure into :class:`DatasetError`.

    Returns
    -------
    df, notes
    """
    notes: list[str] = []
    if path.stat().st_size == 0:
        raise DatasetError(
            f"dataset '{name}': {path} is empty (0 bytes). Point `{fmt}:` at a file with a header row and "
            "data rows."
        )
    if fmt == "csv":
        if _looks_binary(path):
            raise DatasetError(
                f"dataset '{name}': {path} is not a text CSV file (it contains binary data). "
                "Export it as a comma-separated text file, or use `parquet:`/`npz:` for binary formats."
            )
        try:
            try:
                df = pd.read_csv(path, low_memory=False)
            except UnicodeDecodeError:
                # Spreadsheet exports are often Latin-1; that codec decodes any byte, so it is the fallback.
                df = pd.read_csv(path, low_memory=False, encoding="latin-1")
                notes.append("read as Latin-1 (not valid UTF-8)")
        except pd.errors.EmptyDataError as exc:
            raise DatasetError(
                f"dataset '{name}': {path} has no columns (empty or only blank lines). Use a CSV file "
                "with a header row and data rows."
            ) from exc
        except (pd.errors.ParserError, ValueError, OSError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DatasetError(
                f"dataset '{name}': {path} could not be read as CSV ({reason}). Check that it is a "
                "comma-separated text file with one header row and the same number of fields on every line."
            ) from exc
    else:
        try:
            df = pd.read_parquet(path)
        except ImportError as exc:
            raise DatasetError(
                f"dataset '{name}': reading parquet needs pyarrow. Install it (pip install pyarrow) or use "
                "`csv:`."
            ) from exc
        except Exception as exc:  # pyarrow raises many unrelated types for a garbled file
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DatasetError(
                f"dataset '{name}': {path} could not be read as parquet ({reason}). Check that the file "
                "is a valid parquet file (re-export it, e.g. with DataFrame.to_parquet)."
            ) from exc
    if len(df) == 0:
        raise DatasetError(
            f"dataset '{name}': {path} has a header but no data rows. Add rows or point `{fmt}:` at "
            "another file."
        )
    return df, notes


def read_test_table(
    name: str,
    test: Any,
    base_dir: str | Path,
    target: str,
    task: TaskType,
    kinds: dict[str, str],
    classes: Any,
) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """Read a user's ``test:`` file (csv or parquet, by suffix) aligned to the training columns.

    Returns the test features, the encoded test targets and notes for the provenance.
    """
    test_path = resolve_path(test, base_dir)
    require_file(name, test_path, "test", base_dir)
    fmt = "parquet" if test_path.suffix.lower() in (".parquet", ".pq") else "csv"
    test_df, read_notes = read_table(name, test_path, fmt)
    test_X, test_y, align_notes = align_test_frame(name, test_df, target, task, kinds, classes)
    notes = [f"test: {n}" for n in read_notes]
    notes.append(f"test set {test_path} ({len(test_y)} rows)")
    return test_X, test_y, notes + list(align_notes)


def load_table(name: str, spec: dict[str, Any], base_dir: str | Path, fmt: str) -> Dataset:
    """Load a ``csv:`` or ``parquet:`` dataset (and its optional ``test:`` file).

    Parameters
    ----------
    name : str
        Dataset name.
    spec : dict
        The dataset spec (``fmt`` key, ``target`` required, ``task``, ``drop``, ``test`` optional).
    base_dir : str or Path
        Folder relative paths resolve against.
    fmt : {"csv", "parquet"}

    Returns
    -------
    Dataset
    """
    path = resolve_path(spec[fmt], base_dir)
    require_file(name, path, fmt, base_dir)
    if spec.get("target") is None:
        raise DatasetError(
            f"dataset '{name}': `{fmt}:` needs `target: <column>`. Add the target column name."
        )
    df, notes = read_table(name, path, fmt)
    n_rows, n_cols = df.shape
    X, y, task, kinds, classes, clean_notes = prepare_frame(
        name, df, spec["target"], spec.get("task"), spec.get("drop")
    )
    notes.extend(clean_notes)
    test_X = test_y = None
    if spec.get("test") is not None:
        test_X, test_y, test_notes = read_test_table(
            name, spec["test"], base_dir, spec["target"], task, kinds, classes
        )
        notes.extend(test_notes)
    head = f"{fmt} {path} ({n_rows} rows x {n_cols} columns), target '{spec['target']}', {task}"
    return Dataset(
        name=name,
        X=X,
        y=y,
        task_type=task,
        feature_kinds=kinds,
        classes=classes,
        provenance="; ".join([head, *notes]),
        test_X=test_X,
        test_y=test_y,
    )


# --------------------------------------------------------------------------------------------------
# Image folders
# --------------------------------------------------------------------------------------------------


def _image_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS
    )


def _class_folders(name: str, root: Path, key: str) -> list[Path]:
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DatasetError(
            f"dataset '{name}': {root} has no class sub-folders. `{key}:` expects one sub-folder per class "
            "holding that class's images (e.g. pets/cat/1.png, pets/dog/2.png)."
        )
    return folders


def _read_images(
    name: str, files: list[Path], image_size: int | None, grayscale: bool
) -> tuple[np.ndarray, dict[tuple[int, int], Path]]:
    from PIL import Image, UnidentifiedImageError

    mode = "L" if grayscale else "RGB"
    arrays: list[np.ndarray] = []
    sizes: dict[tuple[int, int], Path] = {}
    for file in files:
        try:
            with Image.open(file) as img:
                img.load()
                img = img.convert(mode)
                if image_size is not None and img.size != (image_size, image_size):
                    img = img.resize((image_size, image_size), Image.Resampling.BILINEAR)
                arr = np.asarray(img, dtype=np.float32) / 255.0
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            # SyntaxError: PIL's own signal for some malformed headers.
            raise DatasetError(
                f"dataset '{name}': image file {file} could not be read ({type(exc).__name__}: {exc}). "
                "Remove or replace the corrupt file."
            ) from exc
        sizes.setdefault((arr.shape[1], arr.shape[0]), file)
        arrays.append(arr)
    if len(sizes) > 1:
        listed = ", ".join(f"{w}x{h} (e.g. {p})" for (w, h), p in list(sizes.items())[:4])
        raise DatasetError(
            f"dataset '{name}': image sizes differ: {listed}. Set `image_size: <pixels>` to resize all "
            "images to one square size."
        )
    stacked = np.stack(arrays).astype(np.float32, copy=False)
    stacked = stacked[:, None] if stacked.ndim == 3 else stacked.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(stacked), sizes


def _check_image_options(name: str, spec: dict[str, Any]) -> tuple[int | None, bool]:
    size = spec.get("image_size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise DatasetError(f"dataset '{name}': image_size must be a positive integer (pixels), got {size!r}.")
    gray = spec.get("grayscale", False)
    if not isinstance(gray, bool):
        raise DatasetError(f"dataset '{name}': grayscale must be true or false, got {gray!r}.")
    return size, gray


def _load_folder(
    name: str, root: Path, key: str, image_size: int | None, grayscale: bool
) -> tuple[np.ndarray, list[str], np.ndarray, int]:
    folders = _class_folders(name, root, key)
    files: list[Path] = []
    labels: list[str] = []
    ignored = 0
    for folder in folders:
        found = _image_files(folder)
        ignored += sum(1 for p in folder.iterdir() if p.is_file()) - len(found)
        if not found:
            raise DatasetError(
                f"dataset '{name}': class folder {folder} has no images "
                f"({', '.join(sorted(IMAGE_EXTENSIONS))}). Add images or remove the folder."
            )
        files.extend(found)
        labels.extend([folder.name] * len(found))
    X, _ = _read_images(name, files, image_size, grayscale)
    return X, labels, np.asarray([f.name for f in folders], dtype=object), ignored


def load_image_folder(name: str, spec: dict[str, Any], base_dir: str | Path) -> Dataset:
    """Load an ``image_folder:`` dataset: one sub-folder per class, images read with PIL.

    Parameters
    ----------
    name : str
        Dataset name.
    spec : dict
        The dataset spec (``image_folder``; optional ``image_size``, ``grayscale``, ``test``).
    base_dir : str or Path
        Folder relative paths resolve against.

    Returns
    -------
    Dataset
        X float32 (n, C, H, W) in [0, 1], C = 1 (grayscale) or 3 (RGB); y codes of the sorted class
        folder names.
    """
    image_size, grayscale = _check_image_options(name, spec)
    root = resolve_path(spec["image_folder"], base_dir)
    require_file(name, root, "image_folder", base_dir, kind="folder")
    X, labels, class_names, ignored = _load_folder(name, root, "image_folder", image_size, grayscale)
    if len(class_names) < 2:
        raise DatasetError(
            f"dataset '{name}': {root} has a single class folder ({class_names[0]!r}); classification "
            "needs at least two. Add a sub-folder per class."
        )
    y, classes = encode_target(name, pd.Series(labels, dtype=object), "classification", "folder")
    notes = [
        f"image_folder {root}: {len(y)} images in {len(classes)} classes, "
        f"{'grayscale' if grayscale else 'RGB'} {X.shape[2]}x{X.shape[3]}"
        + (f" (resized to {image_size}x{image_size})" if image_size else "")
    ]
    if ignored:
        notes.append(f"ignored {ignored} non-image files")
    test_X = test_y = None
    if spec.get("test") is not None:
        test_root = resolve_path(spec["test"], base_dir)
        require_file(name, test_root, "test", base_dir, kind="folder")
        test_X, test_labels, _, _ = _load_folder(name, test_root, "test", image_size, grayscale)
        if test_X.shape[1:] != X.shape[1:]:
            raise DatasetError(
                f"dataset '{name}': test images are {test_X.shape[2]}x{test_X.shape[3]} but training images "
                f"are {X.shape[2]}x{X.shape[3]}. Set `image_size:` so both are resized alike."
            )
        test_y = encode_test_target(name, pd.Series(test_labels, dtype=object), "classification", classes)
        notes.append(f"test set {test_root} ({len(test_y)} images)")
    return Dataset(
        name=name,
        X=X,
        y=y,
        task_type="classification",
        image_shape=tuple(int(d) for d in X.shape[1:]),  # type: ignore[arg-type]
        classes=classes,
        provenance="; ".join(notes),
        test_X=test_X,
        test_y=test_y,
    )


# --------------------------------------------------------------------------------------------------
# npz
# --------------------------------------------------------------------------------------------------


def _read_npz(name: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as data:
            if not hasattr(data, "files"):
                raise DatasetError(
                    f"dataset '{name}': {path} is a single .npy array, not an .npz archive. Save it with "
                    "numpy.savez(path, X=X, y=y)."
                )
            keys = list(data.files)
            if "X" not in keys or "y" not in keys:
                raise DatasetError(
                    f"dataset '{name}': {path} must hold arrays named 'X' and 'y'; it has "
                    f"{_cols(keys) or 'no arrays'}. Save it with numpy.savez(path, X=X, y=y)."
                )
            X, y = data["X"], data["y"]
    except DatasetError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise DatasetError(
            f"dataset '{name}': {path} could not be read as an .npz archive ({type(exc).__name__}: {exc}). "
            "Save it with numpy.savez(path, X=X, y=y) (object arrays are not allowed)."
        ) from exc
    if y.ndim != 1:
        y = y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
    if y.ndim != 1:
        raise DatasetError(f"dataset '{name}': y in {path} must be one-dimensional, got shape {y.shape}.")
    if len(X) != len(y):
        raise DatasetError(
            f"dataset '{name}': X has {len(X)} rows but y has {len(y)} in {path}. Save matching arrays."
        )
    if len(y) == 0:
        raise DatasetError(f"dataset '{name}': {path} has no rows. Save non-empty X and y.")
    return X, y


def _npz_images(name: str, X: np.ndarray, path: Path) -> tuple[np.ndarray, str]:
    if X.ndim == 3:
        X = X[:, None]
    if X.shape[1] not in (1, 3, 4) and X.shape[3] in (1, 3):
        raise DatasetError(
            f"dataset '{name}': X in {path} has shape {X.shape}, which looks channels-last (n, H, W, C). "
            "Save X.transpose(0, 3, 1, 2) so it is (n, C, H, W)."
        )
    note = ""
    if np.issubdtype(X.dtype, np.integer) or X.dtype == np.bool_:
        hi = int(X.max()) if X.size else 0
        if X.min() < 0 or hi > 255:
            raise DatasetError(
                f"dataset '{name}': integer images in {path} range over [{X.min()}, {hi}], not 0..255. "
                "Save float images scaled to [0, 1]."
            )
        X = X.astype(np.float32) / (255.0 if hi > 1 else 1.0)
        note = " (integer pixels scaled to [0, 1])" if hi > 1 else ""
    elif not np.issubdtype(X.dtype, np.floating):
        raise DatasetError(f"dataset '{name}': X in {path} has dtype {X.dtype}; images must be numeric.")
    X = X.astype(np.float32, copy=False)
    if not np.isfinite(X).all():
        bad = int((~np.isfinite(X)).reshape(len(X), -1).any(axis=1).sum())
        raise DatasetError(
            f"dataset '{name}': {bad} images in {path} contain NaN or inf pixels. Image models cannot impute "
            "pixels: fix or remove those images."
        )
    if X.size and (X.min() < -1e-6 or X.max() > 1 + 1e-6):
        raise DatasetError(
            f"dataset '{name}': image values in {path} range over [{X.min():.3g}, {X.max():.3g}]; mlbench "
            "expects [0, 1]. Save X scaled to [0, 1] (e.g. X / 255 for 8-bit images)."
        )
    return np.ascontiguousarray(np.clip(X, 0.0, 1.0)), note


def _npz_arrays(
    name: str, X: np.ndarray, y: np.ndarray, path: Path, task: Any
) -> tuple[pd.DataFrame | np.ndarray, np.ndarray, TaskType, list[str]]:
    """Shared npz path for the main and the test file: features (image or tabular) and raw target."""
    notes: list[str] = []
    if X.ndim in (3, 4):
        feats, note = _npz_images(name, X, path)
        notes.append(f"images {feats.shape[1:]}{note}")
    elif X.ndim == 2:
        if not (np.issubdtype(X.dtype, np.number) or X.dtype == np.bool_):
            raise DatasetError(
                f"dataset '{name}': tabular X in {path} has dtype {X.dtype}; it must be numeric. "
                "Use `csv:` or `parquet:` for tables with text columns."
            )
        arr = X.astype(np.float64)
        n_inf = int(np.isinf(arr).sum())
        arr[np.isinf(arr)] = np.nan
        feats = pd.DataFrame(arr, columns=[f"f{i}" for i in range(arr.shape[1])])
        if n_inf:
            notes.append(f"replaced {n_inf} +-inf values by NaN (imputed by the model pipeline)")
    else:
        raise DatasetError(
            f"dataset '{name}': X in {path} has shape {X.shape}; expected (n, features) for tables or "
            "(n, H, W) / (n, C, H, W) for images."
        )
    y_series = pd.Series(y)
    missing = y_series.isna().to_numpy()
    if missing.any():
        raise DatasetError(
            f"dataset '{name}': y in {path} has {int(missing.sum())} missing values. Remove those rows."
        )
    return feats, y, check_task(name, task) or infer_task(y_series), notes


def load_npz(name: str, spec: dict[str, Any], base_dir: str | Path) -> Dataset:
    """Load an ``npz:`` dataset: arrays ``X`` and ``y``.

    Parameters
    ----------
    name : str
        Dataset name.
    spec : dict
        The dataset spec (``npz``; optional ``task``, ``test``).
    base_dir : str or Path
        Folder relative paths resolve against.

    Returns
    -------
    Dataset
        X of ndim 4 (n, C, H, W) or 3 (n, H, W) is an image dataset (float32 in [0, 1]; NaN/inf is an
        error); ndim 2 is tabular (columns ``f0 ..``; NaN allowed, inf becomes NaN).
    """
    path = resolve_path(spec["npz"], base_dir)
    require_file(name, path, "npz", base_dir)
    X_raw, y_raw = _read_npz(name, path)
    X, y_vals, task, notes = _npz_arrays(name, X_raw, y_raw, path, spec.get("task"))
    y, classes = encode_target(name, pd.Series(y_vals), task, "y")
    is_image = isinstance(X, np.ndarray)
    test_X = test_y = None
    if spec.get("test") is not None:
        test_path = resolve_path(spec["test"], base_dir)
        require_file(name, test_path, "test", base_dir)
        tX_raw, ty_raw = _read_npz(name, test_path)
        test_X, ty_vals, _, _ = _npz_arrays(name, tX_raw, ty_raw, test_path, task)
        if isinstance(test_X, np.ndarray) != is_image or test_X.shape[1:] != X.shape[1:]:
            raise DatasetError(
                f"dataset '{name}': test X in {test_path} has shape {test_X.shape[1:]} per row but training "
                f"X has {X.shape[1:]}. Save a test file with the same layout."
            )
        test_y = encode_test_target(name, pd.Series(ty_vals), task, classes, "y")
        notes.append(f"test set {test_path} ({len(test_y)} rows)")
    return Dataset(
        name=name,
        X=X,
        y=y,
        task_type=task,
        feature_kinds={} if is_image else dict.fromkeys(X.columns, "numeric"),
        image_shape=tuple(int(d) for d in X.shape[1:]) if is_image else None,  # type: ignore[arg-type]
        classes=classes,
        provenance="; ".join([f"npz {path} ({len(y)} rows), {task}", *notes]),
        test_X=test_X,
        test_y=test_y,
    )
