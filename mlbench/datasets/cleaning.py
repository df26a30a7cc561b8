"""The tabular cleaning rules every tabular source shares (csv, parquet, OpenML), and target encoding.

Every tabular dataset goes through the same steps (see :func:`prepare_frame`):

* rows whose target is missing (NaN, empty, or +-inf for numeric targets) are dropped;
* numeric feature columns become float64 and +-inf becomes NaN (the model pipeline imputes NaN);
* every other column (object, string, category, bool, datetime) becomes a "categorical" column of
  Python strings, missing values as NaN;
* constant columns (one distinct value, NaN ignored) and ID-like columns (non-numeric with all values
  unique, or integer columns named ``id`` / ``*_id`` / ``Unnamed: 0`` with all values unique) are
  dropped, because they cannot generalise and some models would memorise them;
* every drop is written to the dataset's provenance.

A user's test table is aligned to the training schema by :func:`align_test_frame`. Target
encoding and task inference (:func:`encode_target`, :func:`infer_task`) are also used by the
image and npz loaders.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from mlbench.datasets.base import TaskType
from mlbench.datasets.specs import check_task, column_list
from mlbench.errors import DatasetError, did_you_mean, plain

#: Integer-valued numeric targets with at most this many distinct values are treated as classes.
MAX_INFERRED_CLASSES = 20


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
                f"dataset '{name}': target '{target}' is not numeric (e.g. {plain(example)!r}) but the task is "
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
    if len(classes) == len(labels) and len(labels) > 2:
        # every row its own class: no split can hold a class on both sides (sklearn would say only
        # "n_splits=2 cannot be greater than the number of members in each class")
        raise DatasetError(
            f"dataset '{name}': target '{target}' has a different value in every row ({len(labels)} distinct "
            f"values in {len(labels)} rows, e.g. {plain(classes[0])!r}), so it cannot be a class label: it looks "
            "like an ID or free text. Choose the column that holds the classes as `target:`, or set "
            "`task: regression` if it is a numeric quantity."
        )
    if len(classes) < 2:
        only = classes[0] if len(classes) else None
        raise DatasetError(
            f"dataset '{name}': target '{target}' has a single class ({plain(only)!r}); classification needs at "
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
            f"{column_list(df.columns)}."
        )
    if target not in df.columns:
        hint = ""
        if len(df.columns) == 1 and any(sep in str(df.columns[0]) for sep in (";", "\t", "|")):
            hint = " The file seems not to be comma-separated; save it as a comma-separated CSV."
        raise DatasetError(
            f"dataset '{name}': target column {target!r} is not in the {where}; available columns: "
            f"{column_list(df.columns)}.{did_you_mean(str(target), [str(c) for c in df.columns])}{hint} "
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
            f"dataset '{name}': duplicate column names {column_list(dup)}. Rename them so each column is unique."
        )
    target = _find_target(name, df, target, where)
    notes: list[str] = []
    drop_list = _check_drop(name, df, drop, target)
    if drop_list:
        df = df.drop(columns=drop_list)
        notes.append(f"dropped columns by request: {column_list(drop_list)}")
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
            f"dataset '{name}': `drop:` names columns that do not exist: {column_list(unknown)}."
            f"{did_you_mean(unknown[0], list(df.columns))} Available columns: {column_list(df.columns)}."
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
            with np.errstate(invalid="ignore"):  # inf % 1 is NaN (not an integer), no warning needed
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
        notes.append(f"dropped constant columns (one value, or all missing): {column_list(constant)}")
    if id_like:
        notes.append(f"dropped ID-like columns (all values unique): {column_list(id_like)}")
    if inf_cols:
        notes.append(
            f"replaced +-inf by NaN in {column_list(inf_cols)} (NaN is imputed by the model pipeline)"
        )
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
            f"{column_list(df.columns)}. Use a test file with the same columns as the training file."
        )
    missing = [c for c in kinds if c not in df.columns]
    if missing:
        raise DatasetError(
            f"dataset '{name}': the test file lacks feature columns {column_list(missing)}. Use a test file "
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
                        f"non-numeric values (e.g. {plain(s[bad].iloc[0])!r}). Fix the test file."
                    )
                s = converted
            out[col] = _as_numeric(s)[0]
        else:
            out[col] = _as_categorical(s)
    return pd.DataFrame(out).reset_index(drop=True), y, notes
