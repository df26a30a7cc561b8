"""csv and parquet datasets: reading a table (every failure a :class:`DatasetError` that says the fix),
the optional ``test:`` table, and the table pipeline of :mod:`mlbench.datasets.cleaning`.

pyarrow (parquet) is imported by pandas when a parquet file is read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlbench.datasets.base import Dataset, TaskType
from mlbench.datasets.cleaning import (
    TablePlan,
    align_test_frame,
    prepare_frame,
    target_copies,
    target_copy_message,
)
from mlbench.datasets.specs import (
    bom_encoding,
    read_csv_header,
    require_file,
    resolve_path,
    target_namesakes,
)
from mlbench.errors import DatasetError


def _looks_binary(path: Path) -> bool:
    with open(path, "rb") as fh:
        return b"\x00" in fh.read(8192)


def _looks_utf16(path: Path) -> bool:
    """ASCII text as UTF-16 without a byte-order mark: a NUL in every other byte."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    head = head[: len(head) // 2 * 2]
    return len(head) >= 8 and any(head[i::2].count(0) == len(head) // 2 for i in (0, 1))


def _check_header(name: str, path: Path, header: list[Any]) -> None:
    """Refuse duplicate column names in the file's raw header.

    pandas renames a repeated ``y`` to ``y.1`` when reading a CSV; a duplicated target column would
    then be a feature holding the answer. The raw header is what the user wrote, so it is checked.
    """
    names = [str(c) for c in header if str(c) != ""]  # empty names: pandas numbers them "Unnamed: N"
    dup = sorted({c for c in names if names.count(c) > 1})
    if dup:
        from mlbench.datasets.specs import column_list

        raise DatasetError(
            f"dataset '{name}': {path} has duplicate column names {column_list(dup)}. Rename or remove the "
            "copies so each column name is unique (a duplicated target column would leak the answer)."
        )


def _check_parquet_schema(name: str, path: Path) -> None:
    """Duplicate names and nested (list, struct, map) columns of a parquet file, before reading it."""
    try:
        import pyarrow.parquet as pq
        import pyarrow.types as pat
    except ImportError:  # read_parquet says what to install
        return
    try:
        schema = pq.read_schema(path)
    except Exception:  # a garbled file: read_parquet below turns it into the DatasetError
        return
    _check_header(name, path, schema.names)
    nested = [f.name for f in schema if pat.is_nested(f.type)]
    if nested:
        from mlbench.datasets.specs import column_list

        raise DatasetError(
            f"dataset '{name}': {path} has nested columns {column_list(nested)} (lists, structs or maps); "
            "mlbench needs one value per cell. Flatten them into plain columns (one per field or element) "
            "or remove them from the file."
        )


def target_copy_problems(name: str, path: Path, fmt: str, target: Any, skip: Any = ()) -> list[str]:
    """A column of a csv or parquet file that is the target under another spelling, before a run.

    Only the target and its namesakes (:func:`mlbench.datasets.specs.target_namesakes`, a name
    differing only in spaces or case) are read, and only when the header has one; columns in
    ``skip`` (dropped by the spec) are left alone. A file that cannot be read gives no problem
    here: loading it says why.

    Returns
    -------
    list of str
        The :func:`mlbench.datasets.cleaning.target_copy_message` of a copy, or nothing.
    """
    target = str(target)
    skipped = {str(c) for c in skip}
    try:
        if fmt == "csv":
            header = read_csv_header(path)
        else:
            import pyarrow.parquet as pq

            header = list(pq.read_schema(path).names)
        near = [c for c in target_namesakes(header, target) if c not in skipped]
        if not near or target not in header:
            return []
        wanted = [target, *near]
        if fmt == "csv":
            encoding = bom_encoding(path) or "utf-8"
            df = pd.read_csv(path, usecols=wanted, dtype=str, encoding=encoding, encoding_errors="replace")
        else:
            df = pd.read_parquet(path, columns=wanted)
    except Exception:  # unreadable or garbled: read_table reports it when the dataset is loaded
        return []
    copies = target_copies(df, target, skip=skipped)
    return [target_copy_message(name, copies, target, f"file {path}")] if copies else []


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
        encoding = bom_encoding(path)
        if encoding is None and _looks_binary(path):
            if _looks_utf16(path):
                raise DatasetError(
                    f"dataset '{name}': {path} looks like UTF-16 text without a byte-order mark, which cannot be "
                    "read reliably. Save it again as UTF-8 CSV (or as UTF-16 with a byte-order mark)."
                )
            raise DatasetError(
                f"dataset '{name}': {path} is not a text CSV file (it contains binary data). "
                "Export it as a comma-separated text file, or use `parquet:`/`npz:` for binary formats."
            )
        try:
            try:
                df = pd.read_csv(path, low_memory=False, encoding=encoding)
                if encoding is not None:
                    notes.append(f"read as {encoding.upper()} (byte-order mark)")
            except UnicodeDecodeError:
                if encoding is not None:
                    raise DatasetError(
                        f"dataset '{name}': {path} starts with a {encoding.upper()} byte-order mark but is "
                        f"not valid {encoding.upper()}. Save it again as UTF-8 CSV."
                    ) from None
                # Spreadsheet exports are often Latin-1; that codec decodes any byte, so it is the fallback.
                encoding = "latin-1"
                df = pd.read_csv(path, low_memory=False, encoding=encoding)
                notes.append("read as Latin-1 (not valid UTF-8)")
            raw = pd.read_csv(path, header=None, nrows=1, encoding=encoding, dtype=str, keep_default_na=False)
            _check_header(name, path, list(raw.iloc[0]))
        except DatasetError:
            raise
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
        _check_parquet_schema(name, path)
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
    plan: TablePlan,
    classes: Any,
) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """Read a user's ``test:`` file (csv or parquet, by suffix) through the training table's plan.

    Returns the test features, the encoded test targets and notes for the provenance.
    """
    test_path = resolve_path(test, base_dir)
    require_file(name, test_path, "test", base_dir)
    fmt = "parquet" if test_path.suffix.lower() in (".parquet", ".pq") else "csv"
    test_df, read_notes = read_table(name, test_path, fmt)
    test_X, test_y, align_notes = align_test_frame(name, test_df, target, task, plan, classes)
    notes = [f"test: {n}" for n in read_notes]
    notes.append(f"test set {test_path} ({len(test_y)} rows)")
    return test_X, test_y, notes + list(align_notes)


def load_table(
    name: str,
    spec: dict[str, Any],
    base_dir: str | Path,
    fmt: str,
    aside: tuple[str, str] | None = None,
) -> Dataset:
    """Load a ``csv:`` or ``parquet:`` dataset (and its optional ``test:`` file).

    Parameters
    ----------
    name : str
        Dataset name.
    spec : dict
        The dataset spec (``fmt`` key, ``target`` required, ``task``, ``drop``, ``columns``,
        ``test`` optional).
    base_dir : str or Path
        Folder relative paths resolve against.
    fmt : {"csv", "parquet"}
    aside : (role, column), optional
        The resampling's column, set aside from the features (see
        :func:`mlbench.datasets.cleaning.prepare_frame`).

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
    table = prepare_frame(
        name,
        df,
        spec["target"],
        spec.get("task"),
        spec.get("drop"),
        columns=spec.get("columns"),
        aside=aside,
    )
    notes.extend(table.notes)
    test_X = test_y = None
    if spec.get("test") is not None:
        test_X, test_y, test_notes = read_test_table(
            name, spec["test"], base_dir, spec["target"], table.task, table.plan, table.classes
        )
        notes.extend(test_notes)
    head = f"{fmt} {path} ({n_rows} rows x {n_cols} columns), target '{spec['target']}', {table.task}"
    return Dataset(
        name=name,
        X=table.X,
        y=table.y,
        task_type=table.task,
        feature_kinds=table.kinds,
        classes=table.classes,
        provenance="; ".join([head, *notes]),
        test_X=test_X,
        test_y=test_y,
        split_by=aside,
        split_values=table.split_values,
        table_plan=table.plan,
    )
