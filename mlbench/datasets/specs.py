"""Cheap checks of a dataset spec's values and files, without pandas or numpy.

Path resolution (relative to the suite file's folder), "is the file there" checks, a CSV's header
line, the ``task:`` and image options, and the short column lists error messages show. The
static checks (:func:`mlbench.datasets.check_spec`, run by ``mlbench validate``) and the loaders
share them, so a spec is judged the same way before and while loading; nothing here imports a
heavy library, so validating a suite stays fast.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from mlbench.datasets.base import TaskType
from mlbench.errors import DatasetError, did_you_mean

TASK_TYPES: tuple[str, ...] = ("classification", "regression")


class SplitColumnError(DatasetError):
    """The resampling's ``group:`` / ``time:`` column cannot be used with this dataset (missing from
    it, the target, or a time column that does not parse); the message names the key to fix."""


def column_list(columns: Any, limit: int = 20) -> str:
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


#: Byte-order marks of the UTF-16/32 encodings a spreadsheet may save "Unicode text" in; their
#: NUL bytes would otherwise read as a binary file (or garbled column names).
_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)


def bom_encoding(path: Path) -> str | None:
    """The UTF-16/32 encoding a file's byte-order mark names, or None."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    return next((enc for bom, enc in _BOMS if head.startswith(bom)), None)


def read_csv_header(path: Path) -> list[str]:
    """Column names from a CSV's first line (cheap: reads one line, no pandas)."""
    with open(path, encoding=bom_encoding(path) or "utf-8-sig", errors="replace", newline="") as fh:
        row = next(csv.reader(fh), [])
    return row


def target_namesakes(columns: Any, target: Any) -> list[str]:
    """Columns whose name differs from the target's only in spaces or case (``" y"``, ``"Y"`` for ``y``).

    Such a column may be a second copy of the target under a name pandas keeps apart (an exact
    repeat is refused as a duplicate name); :func:`mlbench.datasets.cleaning.target_copies`
    compares the values.
    """
    key = "".join(str(target).split()).casefold()
    return [str(c) for c in columns if str(c) != str(target) and "".join(str(c).split()).casefold() == key]


def check_task(name: str, task: Any) -> TaskType | None:
    """Validate the spec's ``task:`` value (None when absent)."""
    if task is None:
        return None
    if task not in TASK_TYPES:
        raise DatasetError(
            f"dataset '{name}': task must be 'classification' or 'regression', got {task!r}."
            + did_you_mean(str(task), TASK_TYPES)
        )
    return task


def check_image_options(name: str, spec: dict[str, Any]) -> tuple[int | None, bool]:
    """Validate ``image_size`` (positive int or absent) and ``grayscale`` (bool); return both."""
    size = spec.get("image_size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise DatasetError(f"dataset '{name}': image_size must be a positive integer (pixels), got {size!r}.")
    gray = spec.get("grayscale", False)
    if not isinstance(gray, bool):
        raise DatasetError(f"dataset '{name}': grayscale must be true or false, got {gray!r}.")
    return size, gray


#: What a ``columns:`` block may declare for a column (see :mod:`mlbench.datasets.cleaning`).
COLUMN_ROLES: tuple[str, ...] = ("date", "categorical", "numeric", "drop")


def check_columns(name: str, value: Any, target: Any = None) -> dict[str, str]:
    """Validate a spec's ``columns:`` block; return column -> declared role.

    Parameters
    ----------
    name : str
        Dataset name, for messages.
    value : Any
        ``{date: [...], categorical: [...], numeric: [...], drop: [...]}`` as written (each a
        list of column names or one name); None when absent.
    target : Any
        The target column: it cannot be declared.

    Returns
    -------
    dict of str to str
        Column -> "date", "categorical", "numeric" or "drop" (empty when absent).

    Raises
    ------
    DatasetError
        Not a mapping, an unknown role (with did-you-mean), a name that is not text, a column
        declared twice or the target declared.
    """
    if value is None:
        return {}
    usage = "`columns:` maps date / categorical / numeric / drop to lists of column names"
    if not isinstance(value, dict):
        raise DatasetError(f"dataset '{name}': {usage}, e.g. `columns: {{date: [sold_on]}}`; got {value!r}.")
    out: dict[str, str] = {}
    for role, names in value.items():
        if role not in COLUMN_ROLES:
            raise DatasetError(
                f"dataset '{name}': unknown `columns:` key {role!r}.{did_you_mean(str(role), COLUMN_ROLES)} "
                f"Valid: {', '.join(COLUMN_ROLES)}."
            )
        listed = [names] if isinstance(names, str) else names
        if not isinstance(listed, list) or not all(isinstance(c, str) for c in listed):
            raise DatasetError(
                f"dataset '{name}': `columns.{role}` is a list of column names (quote names that look "
                f"like numbers), got {names!r}."
            )
        for column in listed:
            if column in out:
                raise DatasetError(
                    f"dataset '{name}': column {column!r} is declared twice in `columns:` ({out[column]} and "
                    f"{role}); keep one."
                )
            if target is not None and column == str(target):
                raise DatasetError(
                    f"dataset '{name}': `columns.{role}` names the target {column!r}; the target is not a "
                    "feature, remove it from `columns:`."
                )
            out[column] = role
    return out
