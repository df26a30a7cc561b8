"""The one table pipeline: a raw table (csv, parquet, OpenML, either side of ``mlbench check``) into
model inputs, and target encoding.

Every table goes through the same steps (:func:`prepare_frame`, whose column decisions are a
:class:`TablePlan`, learned on the training table and applied to any other):

* rows whose target is missing (NaN, empty, or +-inf for numeric targets) are dropped;
* the resampling's column (``group:`` of ``group_kfold``, ``time:`` of ``time_series``) is set
  aside: it splits the rows and is never a feature;
* columns named in ``drop:`` or ``columns: {drop: [...]}`` are dropped;
* a column that is the target under another spelling (``" y"`` or ``Y`` next to ``y``, same
  values; :func:`target_copies`) is an error unless dropped: it would hand the models the answer;
* constant columns (one distinct value, NaN ignored) are dropped;
* ID-like columns are dropped, because they cannot generalise and some models would memorise
  them: non-numeric columns with a different value in every row, integer columns named ``id`` /
  ``*_id`` / ``Unnamed: 0`` with all values unique, and dates with one row per date in date
  order (a row counter);
* dates (a datetime dtype, parquet timestamps and ``date32``, ISO 8601 text such as
  ``2020-01-31`` or ``2020-01-31T10:00:00``) become numbers: year, month, day of year, day of
  week and days since 1970-01-01, plus the time of day (hours) for datetimes; parts constant in
  the training table are left out. Never one-hot levels: a model-year column is a quantity;
* numeric columns become float64 and +-inf becomes NaN; every other column (text, category,
  bool) becomes a "categorical" column of Python strings, missing values as NaN;
* ``columns: {date: [...], categorical: [...], numeric: [...]}`` overrides the guess for the
  columns it names (and keeps a column the guess would drop as ID-like);
* every step is written to the dataset's provenance (the report's data note), with what the
  models' preprocessing will do (:func:`model_steps`: one-hot encoding, median imputation).

A user's test table is aligned to the training plan by :func:`align_test_frame`. Target
encoding and task inference (:func:`encode_target`, :func:`infer_task`) are also used by the
image and npz loaders.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlbench.datasets.base import TaskType
from mlbench.datasets.specs import SplitColumnError, check_task, column_list, target_namesakes
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
# The table pipeline
# --------------------------------------------------------------------------------------------------

#: Numbers a date column becomes (feature ``<column>_<part>``): calendar year, month (1-12), day
#: of the year (1-366), day of the week (0 = Monday) and whole days since 1970-01-01.
DATE_PARTS: tuple[str, ...] = ("year", "month", "day_of_year", "day_of_week", "days")
#: Added for datetimes (a value with a time of day other than midnight): hours since midnight.
TIME_PART = "time_of_day"
#: The level missing categorical values get in the model pipeline.
MISSING_LEVEL = "__missing__"
#: One-hot columns per categorical feature at most (rarer levels share one column).
MAX_ONE_HOT = 32

# ISO 8601 dates and datetimes as text: 2020-01-31, 2020-01, 2020-01-31T10:00, 2020-01-31 10:00:00.5Z,
# 2020-01-31T10:00:00+02:00. Other spellings (31/01/2020) are dates only when `columns:` says so.
_ISO_DATE = re.compile(
    r"^\d{4}-\d{2}(?:-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)?)?)?$"
)
_EPOCH = pd.Timestamp("1970-01-01")


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


def _naive(dt: pd.Series) -> pd.Series:
    """Timezone-aware datetimes as their wall-clock time (the hour people read), tz dropped."""
    if getattr(dt.dt, "tz", None) is not None:
        return dt.dt.tz_localize(None)
    return dt


def _to_datetime(text: pd.Series, fmt: str | None, dayfirst: bool = False) -> pd.Series:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Could not infer format": the coerced NaT say it
        try:
            return _naive(pd.to_datetime(text, format=fmt, dayfirst=dayfirst, errors="coerce"))
        except (ValueError, TypeError):
            # offsets that differ between rows (summer time): read as UTC, then as naive UTC time
            parsed = pd.to_datetime(text, format=fmt, dayfirst=dayfirst, errors="coerce", utc=True)
            return parsed.dt.tz_localize(None)


#: How text declared a date is read, in order: ISO 8601, the format of the first value (month
#: first, then day first), each value on its own.
_DATE_READINGS: tuple[tuple[str | None, bool], ...] = (
    ("ISO8601", False),
    (None, False),
    (None, True),
    ("mixed", False),
)


def _declared_dates(text: pd.Series, first: int = 0) -> tuple[pd.Series, int]:
    """Text declared a date, read with one format for the whole column (so 01/02/2020 is the same
    day in every row): the first of :data:`_DATE_READINGS` from ``first`` on that reads every value.
    Returns the dates and that reading's index (a test table is read the same way)."""
    parsed = text
    for i in range(first, len(_DATE_READINGS)):
        parsed = _to_datetime(text, *_DATE_READINGS[i])
        if not parsed.isna().any():
            return parsed, i
    return parsed, len(_DATE_READINGS) - 1


def parse_dates(col: pd.Series, *, declared: bool = False, reading: int = 0) -> pd.Series | None:
    """The column as naive datetimes when every value present is a date, else None.

    Parameters
    ----------
    col : pandas.Series
    declared : bool
        The column was declared a date (``columns: {date: [...]}``): any text pandas reads as a
        date counts, and numbers are read as text (``20200131``, ``2020``). Otherwise only a
        datetime dtype (also parquet timestamps), Python ``date``/``datetime`` objects (parquet
        ``date32``) and ISO 8601 text (``2020-01-31``, ``2020-01-31T10:00:00``) count.
    reading : int
        Declared text: the first way to read it (see :func:`date_reading`), so a test table is
        read as its training table was.

    Returns
    -------
    pandas.Series or None
        datetime64 values (NaT where the column is missing); None when a present value is not a date.
    """
    import datetime

    if pd.api.types.is_datetime64_any_dtype(col):
        return _naive(col)
    present = col.dropna()
    if len(present) == 0 or pd.api.types.is_bool_dtype(col):
        return None
    if _is_numeric_col(col):
        if not declared:
            return None
        arr = present.to_numpy(dtype=np.float64)
        if not np.all(np.mod(arr, 1) == 0):
            return None
        text = pd.Series(arr.astype(np.int64).astype(str), index=present.index)
    elif all(isinstance(v, datetime.date) for v in present.iloc[:50]) and all(
        isinstance(v, datetime.date) for v in present
    ):
        text = None
        parsed = _naive(pd.to_datetime(present, errors="coerce"))
    else:
        if not all(isinstance(v, str) for v in present.iloc[:50]):
            return None
        text = present.astype(str).str.strip()
        if not declared and not (
            text.iloc[:50].str.match(_ISO_DATE).all() and text.str.match(_ISO_DATE).all()
        ):
            return None
    if text is not None:
        parsed = _declared_dates(text, reading)[0] if declared else _to_datetime(text, "ISO8601")
    if parsed.isna().any():
        return None
    out = pd.Series(pd.NaT, index=col.index, dtype=parsed.dtype)
    out[present.index] = parsed
    return out


def date_reading(col: pd.Series) -> int:
    """How a column declared a date is read as text (an index into the readings); 0 for others."""
    present = col.dropna()
    if len(present) == 0 or not all(isinstance(v, str) for v in present.iloc[:50]):
        return 0
    return _declared_dates(present.astype(str).str.strip())[1]


def date_features(dates: pd.Series, column: str, parts: tuple[str, ...]) -> dict[str, pd.Series]:
    """The numbers a date column becomes: ``<column>_<part>`` for each of ``parts`` (NaN where missing)."""
    d = dates.dt
    values = {
        "year": d.year,
        "month": d.month,
        "day_of_year": d.day_of_year,
        "day_of_week": d.day_of_week,
        "days": (d.floor("D") - _EPOCH) / pd.Timedelta(days=1),
        TIME_PART: d.hour + d.minute / 60 + (d.second + d.microsecond / 1e6) / 3600,
    }
    return {f"{column}_{p}": values[p].astype(np.float64).rename(f"{column}_{p}") for p in parts}


def _unique_per_row(col: pd.Series) -> bool:
    n = len(col)
    return n > 1 and bool(col.notna().all()) and col.nunique(dropna=True) == n


@dataclass
class TablePlan:
    """What the table pipeline decided for a table's columns: learned once, applied to any table.

    :meth:`fit` learns it from the training table (features only, no target): which columns are
    dropped and why, which are numbers, categories or dates, and which numbers each date becomes.
    :meth:`transform` applies it to any table with those columns (a ``test:`` file, the other side
    of ``mlbench check``), so every table gets the same features. Runs, ``mlbench check``,
    ``check --suite``, the mismatch checks and the models' preprocessing
    (:func:`mlbench.models.preprocessing.make_preprocessor`, fed :attr:`feature_kinds`) all go
    through it.

    Attributes
    ----------
    kinds : dict of str to str
        Each kept source column -> "numeric", "categorical" or "date", in table order.
    date_parts : dict of str to tuple of str
        Each date column -> the parts it becomes (of :data:`DATE_PARTS` and :data:`TIME_PART`;
        parts constant in the training table are left out).
    dropped : dict of str to str
        Each dropped column -> why: "request", "constant", "id" or "id_date".
    declared : dict of str to str
        The ``columns:`` block (column -> role) the plan was made with.
    notes : list of str
        What was done, one provenance line each (the report's data note).
    """

    kinds: dict[str, str] = field(default_factory=dict)
    date_parts: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: declared date columns read as text: how (so other tables read the same day from 01/02/2020)
    date_readings: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, str] = field(default_factory=dict)
    declared: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def feature_kinds(self) -> dict[str, str]:
        """Model inputs -> "numeric" or "categorical" (a date's parts are numeric), in order."""
        out: dict[str, str] = {}
        for col, kind in self.kinds.items():
            if kind == "date":
                out.update(dict.fromkeys((f"{col}_{p}" for p in self.date_parts[col]), "numeric"))
            else:
                out[col] = kind
        return out

    @classmethod
    def fit(
        cls,
        name: str,
        df: pd.DataFrame,
        *,
        columns: dict[str, str] | None = None,
        drop: list[str] | None = None,
    ) -> tuple[TablePlan, pd.DataFrame]:
        """Learn the plan from a training table; return it with the table's features.

        Parameters
        ----------
        name : str
            Dataset name, for messages.
        df : pandas.DataFrame
            The training table's feature columns (target and resampling column already taken out).
        columns : dict of str to str, optional
            Declared roles (:func:`mlbench.datasets.specs.check_columns`): they override the guess
            and keep a column the guess would drop as ID-like.
        drop : list of str, optional
            Columns to drop (``drop:``), besides ``columns: {drop: [...]}``.

        Returns
        -------
        plan, X

        Raises
        ------
        DatasetError
            A declared column is not in the table, a declared numeric or date column has a value
            that is not one, or a date's feature name clashes with a column.
        """
        declared = dict(columns or {})
        unknown = [c for c in declared if c not in df.columns]
        if unknown:
            raise DatasetError(
                f"dataset '{name}': `columns:` names columns that are not in the table: {column_list(unknown)}."
                f"{did_you_mean(unknown[0], [str(c) for c in df.columns])} Available columns: "
                f"{column_list(df.columns)}."
            )
        plan = cls(declared=declared)
        requested = [c for c in df.columns if c in set(drop or ()) or declared.get(c) == "drop"]
        plan.dropped.update(dict.fromkeys(requested, "request"))
        out: dict[str, pd.Series] = {}
        inf_cols: list[str] = []
        for col in df.columns:
            if col in plan.dropped:
                continue
            s = df[col]
            role = declared.get(col)
            if s.nunique(dropna=True) <= 1:
                plan.dropped[col] = "constant"
                continue
            kind, dates = plan._guess(name, col, s, role)
            if kind in ("id", "id_date"):
                plan.dropped[col] = kind
                continue
            plan.kinds[col] = kind
            if kind == "date":
                assert dates is not None
                present = dates.dropna()
                has_time = bool((present != present.dt.normalize()).any())
                candidates = (*DATE_PARTS, TIME_PART) if has_time else DATE_PARTS
                every = date_features(dates, col, candidates)
                # a part constant in training (one year, all at midnight) carries nothing
                parts = tuple(p for p in candidates if every[f"{col}_{p}"].nunique(dropna=True) > 1)
                plan.date_parts[col] = parts
                if role == "date":
                    plan.date_readings[col] = date_reading(s)
                out.update({f"{col}_{p}": every[f"{col}_{p}"] for p in parts})
                continue
            out[col], n_inf = plan._convert(name, col, s, kind, "table")
            if n_inf:
                inf_cols.append(col)
        derived = {f"{c}_{p}" for c, parts in plan.date_parts.items() for p in parts}
        clash = sorted(derived & set(plan.kinds))
        if clash:
            raise DatasetError(
                f"dataset '{name}': a date column would become {column_list(clash)}, which is already a "
                "column. Rename one of them, or declare the date column categorical in `columns:`."
            )
        plan.notes = plan._describe(inf_cols)
        X = pd.DataFrame(out, index=df.index) if out else pd.DataFrame(index=df.index)
        return plan, X[list(plan.feature_kinds)].reset_index(drop=True)

    def _guess(self, name: str, col: str, s: pd.Series, role: str | None) -> tuple[str, pd.Series | None]:
        """``(kind, dates)``: the column's kind (declared, else guessed) and its dates when a date."""
        if role == "date":
            dates = parse_dates(s, declared=True)
            if dates is None:
                bad = _first_bad(s, lambda v: parse_dates(pd.Series([v]), declared=True) is not None)
                raise DatasetError(
                    f"dataset '{name}': column {col!r} is declared a date in `columns:` but {plain(bad)!r} is "
                    "not a date. Fix the value, or declare the column categorical."
                )
            return "date", dates
        if role in ("numeric", "categorical"):
            return role, None
        if _is_numeric_col(s):
            with np.errstate(invalid="ignore"):  # inf % 1 is NaN (not an integer), no warning needed
                integer = pd.api.types.is_integer_dtype(s) or (
                    s.notna().all() and np.all(np.mod(s.to_numpy(dtype=np.float64), 1) == 0)
                )
            if integer and _unique_per_row(s) and _is_id_name(col):
                return "id", None
            return "numeric", None
        dates = parse_dates(s)
        if dates is not None:
            values = dates.to_numpy()
            # one row per date, in date order (either way): a row counter, not a feature
            if _unique_per_row(dates) and (
                bool(np.all(values[1:] > values[:-1])) or bool(np.all(values[1:] < values[:-1]))
            ):
                return "id_date", None
            return "date", dates
        if _unique_per_row(s):
            return "id", None
        return "categorical", None

    @staticmethod
    def _convert(name: str, col: str, s: pd.Series, kind: str, where: str) -> tuple[pd.Series, int]:
        """A numeric or categorical source column as its feature (and how many inf became NaN)."""
        if kind == "categorical":
            return _as_categorical(s), 0
        if pd.api.types.is_bool_dtype(s):
            s = s.astype(np.float64)
        elif not _is_numeric_col(s):
            converted = pd.to_numeric(s.astype(object).where(s.notna(), None), errors="coerce")
            bad = converted.isna() & s.notna()
            if bad.any():
                example = plain(s[bad].iloc[0])
                if where == "test":
                    raise DatasetError(
                        f"dataset '{name}': test column '{col}' is numeric in training but has non-numeric "
                        f"values (e.g. {example!r}). Fix the test file."
                    )
                raise DatasetError(
                    f"dataset '{name}': column {col!r} is numeric (declared in `columns:` or numeric in the "
                    f"training data) but the {where} has non-numeric values (e.g. {example!r}). Fix the "
                    "values, or declare the column categorical in `columns:`."
                )
            s = converted
        return _as_numeric(s)

    def transform(self, name: str, df: pd.DataFrame, *, where: str = "table") -> pd.DataFrame:
        """The features of another table with this plan (same columns, same kinds, same date parts).

        Parameters
        ----------
        name : str
            Dataset name, for messages.
        df : pandas.DataFrame
            A table with every kept source column (extra columns are ignored).
        where : str
            What the table is, for messages ("test" for a ``test:`` file).

        Raises
        ------
        DatasetError
            A source column is missing, or a numeric or date column holds a value that is not one.
        """
        missing = [c for c in self.kinds if c not in df.columns]
        if missing:
            what = "the test file" if where == "test" else f"the {where}"
            raise DatasetError(
                f"dataset '{name}': {what} lacks feature columns {column_list(missing)}. Use a "
                f"{'test file' if where == 'test' else 'table'} with the same columns as the training file."
            )
        out: dict[str, pd.Series] = {}
        for col, kind in self.kinds.items():
            s = df[col]
            if kind == "date":
                reading = self.date_readings.get(col, 0)
                dates = (
                    parse_dates(s, declared=True, reading=reading)
                    if s.notna().any()
                    else pd.Series(pd.NaT, index=s.index)
                )
                if dates is None:
                    bad = _first_bad(s, lambda v: parse_dates(pd.Series([v]), declared=True) is not None)
                    raise DatasetError(
                        f"dataset '{name}': {where} column {col!r} is a date in training but {plain(bad)!r} is "
                        "not a date. Fix the value."
                    )
                out.update(date_features(pd.to_datetime(dates), col, self.date_parts[col]))
            else:
                out[col] = self._convert(name, col, s, kind, where)[0]
        X = pd.DataFrame(out, index=df.index) if out else pd.DataFrame(index=df.index)
        return X[list(self.feature_kinds)].reset_index(drop=True)

    def _describe(self, inf_cols: list[str]) -> list[str]:
        """The provenance lines of the column decisions (no "; " inside: the report splits on it)."""
        notes: list[str] = []
        by_reason: dict[str, list[str]] = {}
        for col, why in self.dropped.items():
            by_reason.setdefault(why, []).append(col)
        if by_reason.get("request"):
            notes.append(f"dropped columns by request: {column_list(by_reason['request'])}")
        if by_reason.get("constant"):
            notes.append(
                f"dropped constant columns (one value, or all missing): {column_list(by_reason['constant'])}"
            )
        if by_reason.get("id"):
            notes.append(f"dropped ID-like columns (all values unique): {column_list(by_reason['id'])}")
        if by_reason.get("id_date"):
            notes.append(
                "dropped ID-like date columns (one row per date, in date order: a row counter, keep one "
                f"with `columns: {{date: [...]}}`): {column_list(by_reason['id_date'])}"
            )
        for col, parts in self.date_parts.items():
            names = ", ".join(f"{col}_{p}" for p in parts)
            notes.append(f"date column '{col}' became numbers, not one-hot levels: {names}")
        overridden = {c: r for c, r in self.declared.items() if r != "drop" and c in self.kinds}
        if overridden:
            shown = ", ".join(f"{c!r} {r}" for c, r in overridden.items())
            notes.append(f"column kinds set by `columns:`: {shown}")
        if inf_cols:
            notes.append(
                f"replaced +-inf by NaN in {column_list(inf_cols)} (NaN is imputed by the model pipeline)"
            )
        return notes


def _first_bad(s: pd.Series, ok: Any) -> Any:
    """The first present value of ``s`` for which ``ok(value)`` is false (None if none)."""
    return next((v for v in s.dropna() if not ok(v)), None)


def model_steps(X: pd.DataFrame, kinds: dict[str, str]) -> list[str]:
    """What the models' preprocessing (:func:`~mlbench.models.preprocessing.make_preprocessor`)
    will do to these features, one provenance line each: imputed columns and one-hot encoding."""
    notes = []
    categorical = [c for c, k in kinds.items() if k == "categorical"]
    if categorical:
        notes.append(
            f"categorical columns one-hot encoded when fitting (missing values as a level of their own, at most "
            f"{MAX_ONE_HOT} columns each, rarer levels pooled): {column_list(categorical)}"
        )
    numeric = [c for c, k in kinds.items() if k == "numeric" and c in X.columns]
    gaps = X[numeric].isna().sum() if numeric else pd.Series(dtype=int)
    gaps = gaps[gaps > 0]
    if len(gaps):
        shown = ", ".join(f"{c!r} ({int(n)} rows)" for c, n in list(gaps.items())[:20])
        more = f", ... ({len(gaps)} in all)" if len(gaps) > 20 else ""
        notes.append(f"missing numbers imputed with the training rows' median when fitting: {shown}{more}")
    return notes


def split_values(name: str, col: pd.Series, role: str, column: str) -> tuple[np.ndarray, str]:
    """A resampling column's values, set aside from the features, and a provenance line.

    Parameters
    ----------
    name : str
        Dataset name, for messages.
    col : pandas.Series
        The raw column.
    role : {"group", "time"}
        ``group``: the values are group labels (text; missing values form one group of their own).
        ``time``: dates (as for :func:`parse_dates`) or numbers, as float64 seconds since
        1970-01-01 for dates (the values themselves for numbers).
    column : str
        The column's name, for messages.

    Returns
    -------
    values, note

    Raises
    ------
    DatasetError
        A time column that is neither dates nor numbers, or with missing values.
    """
    if role == "group":
        labels = col.astype(object).where(col.notna(), "(missing)").map(str).to_numpy(dtype=object)
        missing = int(col.isna().sum())
        extra = f", {missing} rows without a group form one group" if missing else ""
        note = (
            f"resampling: group_kfold by '{column}' ({len(set(labels))} groups{extra}, StratifiedGroupKFold "
            f"for classification, GroupKFold for regression): no group on both sides of a split, '{column}' "
            "is not a feature"
        )
        return labels, note
    if col.isna().any():
        raise SplitColumnError(
            f"dataset '{name}': the time column {column!r} is missing in {int(col.isna().sum())} rows, which cannot be "
            "placed in time. Fill or remove those rows, or use another `resampling.time` column."
        )
    if _is_numeric_col(col):
        values = col.to_numpy(dtype=np.float64)
        if not np.isfinite(values).all():
            raise SplitColumnError(
                f"dataset '{name}': the time column {column!r} has infinite values; fix them or use another column."
            )
        what = "numbers"
    else:
        dates = parse_dates(col, declared=True)
        if dates is None:
            bad = _first_bad(col, lambda v: parse_dates(pd.Series([v]), declared=True) is not None)
            raise SplitColumnError(
                f"dataset '{name}': the time column {column!r} does not parse as dates or numbers (e.g. "
                f"{plain(bad)!r}). Fix its values, or name another column in `resampling.time`."
            )
        values = ((dates - _EPOCH) / pd.Timedelta(seconds=1)).to_numpy(dtype=np.float64)
        what = "dates"
    note = (
        f"resampling: time_series by '{column}' ({what}, {len(np.unique(values))} distinct times, "
        f"TimeSeriesSplit): every test row later than every training row, '{column}' is not a feature"
    )
    return values, note


@dataclass
class PreparedTable:
    """A raw table turned into model inputs by :func:`prepare_frame`.

    Attributes
    ----------
    X : pandas.DataFrame
        The features (:attr:`TablePlan.feature_kinds` in order).
    y : numpy.ndarray
        The encoded target.
    task : {"classification", "regression"}
    kinds : dict of str to str
        Feature -> "numeric" or "categorical".
    classes : numpy.ndarray or None
    notes : list of str
        Every step taken, one provenance line each.
    plan : TablePlan
        The column decisions (apply them to a test table with :meth:`TablePlan.transform`).
    split_values : numpy.ndarray or None
        The resampling column's values (see :func:`split_values`), None without one.
    """

    X: pd.DataFrame
    y: np.ndarray
    task: TaskType
    kinds: dict[str, str]
    classes: np.ndarray | None
    notes: list[str]
    plan: TablePlan
    split_values: np.ndarray | None = None


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


def _same_values(a: pd.Series, b: pd.Series) -> bool:
    """The same value in every row: as text (surrounding spaces ignored) or as numbers (1 == 1.0)."""
    a, b = a.reset_index(drop=True), b.reset_index(drop=True)
    missing = a.isna()
    if not missing.equals(b.isna()):
        return False
    a, b = a[~missing], b[~missing]
    if (a.astype(str).str.strip().to_numpy() == b.astype(str).str.strip().to_numpy()).all():
        return True
    x, z = pd.to_numeric(a, errors="coerce"), pd.to_numeric(b, errors="coerce")
    return bool(x.notna().all() and z.notna().all() and np.array_equal(x.to_numpy(float), z.to_numpy(float)))


def target_copies(df: pd.DataFrame, target: str, skip: Any = ()) -> list[str]:
    """Columns that are the target under another spelling: a name that differs from the target's
    only in spaces or case (``" y"``, ``"Y"`` next to ``y``) and the same values in every row.

    pandas keeps such a column as a feature, so it would hand the models the answer; an exact
    repeat of the name is refused earlier (duplicate column names). Columns in ``skip`` (those
    the spec drops) are not reported.
    """
    skipped = {str(c) for c in skip}
    near = [c for c in target_namesakes(df.columns, target) if c not in skipped]
    return [c for c in near if _same_values(df[c], df[target])]


def target_copy_message(name: str, copies: list[str], target: str, where: str) -> str:
    """The error for :func:`target_copies`: both columns and the fix."""
    return (
        f"dataset '{name}': column {copies[0]!r} of the {where} holds the same values as the target "
        f"{target!r} (the names differ only in spaces or case), so it would hand the models the answer. "
        f"Remove {copies[0]!r} from the file or add it to `drop:`."
    )


def _find_aside(name: str, df: pd.DataFrame, aside: tuple[str, str], target: str, where: str) -> str:
    role, column = aside
    key = f"resampling.{role}"
    if column not in df.columns:
        raise SplitColumnError(
            f"dataset '{name}': `{key}: {column}` names a column that is not in the {where}; available columns: "
            f"{column_list(df.columns)}.{did_you_mean(column, [str(c) for c in df.columns])} Fix `{key}:`."
        )
    if column == target:
        raise SplitColumnError(
            f"dataset '{name}': `{key}:` names the target {column!r}; name the column that holds the "
            f"{'groups' if role == 'group' else 'times'}."
        )
    return column


def prepare_frame(
    name: str,
    df: pd.DataFrame,
    target: Any,
    task: Any = None,
    drop: Any = None,
    where: str = "file",
    *,
    columns: Any = None,
    aside: tuple[str, str] | None = None,
) -> PreparedTable:
    """Turn a raw table into model inputs and an encoded target: the one table pipeline.

    Steps: rows with a missing target dropped, the resampling column set aside (never a
    feature), then :meth:`TablePlan.fit` (requested drops, constant and ID-like columns dropped,
    dates into numbers, numbers and categories typed) and the notes of what the models'
    preprocessing will do (:func:`model_steps`).

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
    columns : dict, optional
        The spec's ``columns:`` block (see :func:`mlbench.datasets.specs.check_columns`).
    aside : (role, column), optional
        The resampling's column: ``("group", name)`` or ``("time", name)``.

    Returns
    -------
    PreparedTable
    """
    from mlbench.datasets.specs import check_columns

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
    declared = check_columns(name, columns, target)
    notes: list[str] = []
    aside_col = _find_aside(name, df, aside, target, where) if aside is not None else None
    drop_list = [c for c in _check_drop(name, df, drop, target) if c != aside_col]
    dropped = [*drop_list, *(c for c, role in declared.items() if role == "drop")]
    copies = target_copies(df, target, skip=[*dropped, *([aside_col] if aside_col else [])])
    if copies:
        raise DatasetError(target_copy_message(name, copies, target, where))
    df = _drop_missing_target(df, target, notes)
    if len(df) == 0:
        raise DatasetError(
            f"dataset '{name}': every row has a missing target '{target}'. Fill the target column or "
            "choose another one."
        )
    values = None
    if aside is not None and aside_col is not None:
        values, note = split_values(name, df.pop(aside_col), aside[0], aside_col)
        notes.append(note)
        declared.pop(aside_col, None)
    y_raw = df.pop(target)
    task = task or infer_task(y_raw)
    y, classes = encode_target(name, y_raw, task, target)

    plan, X = TablePlan.fit(name, df, columns=declared, drop=drop_list)
    kinds = plan.feature_kinds
    notes.extend(plan.notes)
    if X.shape[1] == 0:
        raise DatasetError(
            f"dataset '{name}': no feature columns are left besides the target '{target}' "
            "(after dropping constant, ID-like and requested columns; see above). Add feature columns "
            "or change `drop:`."
            if notes
            else f"dataset '{name}': the {where} has only the target column '{target}'. Add feature columns."
        )
    notes.extend(model_steps(X, kinds))
    return PreparedTable(
        X=X, y=y, task=task, kinds=kinds, classes=classes, notes=notes, plan=plan, split_values=values
    )


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


def align_test_frame(
    name: str,
    df: pd.DataFrame,
    target: str,
    task: TaskType,
    plan: TablePlan,
    classes: np.ndarray | None,
) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """Clean a user-supplied test table with the training plan (columns, kinds, dates, classes).

    Parameters
    ----------
    name, target, task : as for :func:`prepare_frame`
    df : pandas.DataFrame
        Raw test table, target included.
    plan : TablePlan
        The training table's plan: the test file must have its source columns; extra columns
        (the resampling column among them) are ignored.
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
    missing = [c for c in plan.kinds if c not in df.columns]
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
    return plan.transform(name, df, where="test"), y, notes


def prepare_pair(
    train: pd.DataFrame,
    test: pd.DataFrame,
    target: str | None = None,
    *,
    name: str = "data",
    columns: dict[str, str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str], list[str]]:
    """Two tables with the same columns through one plan, learned on ``train`` (``mlbench check``).

    The same steps a run takes (:class:`TablePlan`): ID-like and constant columns dropped, dates
    into numbers, kinds typed, so a comparison sees the features the models see.

    Parameters
    ----------
    train, test : pandas.DataFrame
        Raw tables with the same columns.
    target : str, optional
        The label column: kept as it is (not a feature), at the end.
    name : str
        For messages.
    columns : dict of str to str, optional
        Declared roles, as a dataset's ``columns:``.

    Returns
    -------
    train_features, test_features, feature_kinds, notes
    """
    train = train.rename(columns=str)
    test = test.rename(columns=str)
    features = [c for c in train.columns if c != target]
    plan, a = TablePlan.fit(name, train[features], columns=columns)
    b = plan.transform(name, test[features], where="test")
    if target is not None:
        a[target] = train[target].to_numpy()
        b[target] = test[target].to_numpy()
    return a, b, plan.feature_kinds, list(plan.notes)
