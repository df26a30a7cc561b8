"""Datasets: one spec dict in, one :class:`Dataset` out.

A spec is the mapping a suite lists under ``datasets:``: exactly one source key (see
:data:`SOURCE_KEYS`) plus options (see :data:`ALLOWED_KEYS`)::

    {"builtin": "digits"}
    {"csv": "data/churn.csv", "target": "churned", "test": "data/churn_test.csv"}
    {"image_folder": "data/pets", "image_size": 64}
    {"npz": "data/arrays.npz"}
    {"openml": 61}
    {"openml_task": 31}                      # the task's target and official splits
    {"csv": "data/sales.csv", "target": "units", "columns": {"date": ["day"], "categorical": ["zip"]}}

Tables (csv, parquet, OpenML) go through the one table pipeline of
:mod:`~mlbench.datasets.cleaning`: dates become numbers, ID-like and constant columns are dropped,
``columns:`` overrides the guesses, and every step is written to the provenance. A
``group_kfold`` or ``time_series`` resampling's column is set aside by :func:`load_dataset`
(``resampling=``): it splits the rows and is never a feature.

Importing this package is cheap: scikit-learn, PIL and pyarrow are imported by the loaders that
need them, so ``mlbench validate`` (which uses :func:`dataset_name` and :func:`check_spec`) stays fast.

One module per source, behind this front door: :mod:`~mlbench.datasets.builtin` (catalogue and
checks) and :mod:`~mlbench.datasets.builtin_data` (loaders), :mod:`~mlbench.datasets.tables`
(csv, parquet), :mod:`~mlbench.datasets.images` (image folders, npz), :mod:`~mlbench.datasets.openml`.
Shared by them: :mod:`~mlbench.datasets.cleaning` (the tabular cleaning rules, target encoding) and
:mod:`~mlbench.datasets.specs` (cheap checks of paths and options, no pandas).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from mlbench.datasets.base import Dataset, TaskType
from mlbench.datasets.builtin import ALL_GENERATOR_PARAMS, BUILTIN_NAMES, builtin_problems
from mlbench.datasets.specs import (
    SplitColumnError,
    check_columns,
    check_image_options,
    check_task,
    column_list,
    read_csv_header,
    require_file,
    resolve_path,
)
from mlbench.errors import DatasetError, did_you_mean

__all__ = [
    "ALLOWED_KEYS",
    "BUILTIN_NAMES",
    "SOURCE_KEYS",
    "Dataset",
    "TaskType",
    "check_spec",
    "clear_cache",
    "dataset_entry",
    "dataset_name",
    "known_task",
    "load_dataset",
    "set_aside",
    "split_by",
]

SOURCE_KEYS: tuple[str, ...] = ("builtin", "csv", "parquet", "image_folder", "npz", "openml", "openml_task")

#: For each source key, the other spec keys allowed next to it (the source key itself excluded).
ALLOWED_KEYS: dict[str, set[str]] = {
    "builtin": {"name", "task", "classes", *ALL_GENERATOR_PARAMS},
    "csv": {"name", "target", "test", "task", "drop", "classes", "columns"},
    "parquet": {"name", "target", "test", "task", "drop", "classes", "columns"},
    "image_folder": {"name", "test", "image_size", "grayscale", "classes"},
    "npz": {"name", "test", "task", "classes"},
    "openml": {"name", "target", "test", "task", "drop", "classes", "columns"},
    # the task fixes the target, the task type and the splits; `folds`: how many of its folds run
    "openml_task": {"name", "folds"},
}

_CACHE: dict[tuple[str, str], Dataset] = {}
_CACHE_LOCK = threading.Lock()


def _source_keys(spec: dict[str, Any]) -> list[str]:
    return [k for k in SOURCE_KEYS if k in spec]


def dataset_entry(entry: Any) -> Any:
    """A ``datasets:`` entry as a spec: the shorthand ``- digits`` means ``- builtin: digits``.

    Anything else is returned as written (the suite checks report entries that are not specs).
    """
    return {"builtin": entry} if isinstance(entry, str) else entry


def known_task(spec: dict[str, Any]) -> str | None:
    """The task of a dataset spec when it is known without the data, else None.

    Builtin sets have a fixed task (the synthetic ones follow ``task:``, classification by
    default), image folders are classification, any other spec says it with ``task:``; a csv,
    parquet, npz or OpenML dataset without ``task:`` gets its task from its target (None here).
    """
    if not isinstance(spec, dict):
        return None
    if isinstance(spec.get("task"), str) and spec["task"] in ("classification", "regression"):
        return str(spec["task"])
    if "builtin" in spec:
        from mlbench.datasets.builtin import fixed_task

        return fixed_task(str(spec["builtin"])) or "classification"
    if "image_folder" in spec:
        return "classification"
    return None


def dataset_name(spec: dict[str, Any]) -> str:
    """The display name of a dataset spec, without reading any file.

    Parameters
    ----------
    spec : dict
        A dataset spec.

    Returns
    -------
    str
        ``spec["name"]`` when given; else the builtin name, the file stem (csv, parquet, npz), the
        folder name (image_folder) or ``openml_<id>``; ``"dataset"`` when the spec has no source.
    """
    if spec.get("name"):
        return str(spec["name"])
    sources = _source_keys(spec)
    if not sources:
        return "dataset"
    key = sources[0]
    value = spec[key]
    if key == "builtin":
        return str(value)
    if key in ("openml", "openml_task"):
        return f"{key}_{value}"
    path = Path(str(value))
    return (path.name if key == "image_folder" else path.stem) or str(value)


def _structure_problems(spec: Any, name: str) -> list[str]:
    if not isinstance(spec, dict):
        return [f"dataset spec must be a mapping with a source key ({', '.join(SOURCE_KEYS)}), got {spec!r}."]
    sources = _source_keys(spec)
    if not sources:
        unknown = [str(k) for k in spec if k not in {"name", "target", "test", "task"}]
        hint = did_you_mean(unknown[0], SOURCE_KEYS) if unknown else ""
        return [f"dataset '{name}': no source key; add exactly one of {', '.join(SOURCE_KEYS)}.{hint}"]
    if len(sources) > 1:
        return [f"dataset '{name}': several source keys ({', '.join(sources)}); keep exactly one."]
    allowed = ALLOWED_KEYS[sources[0]]
    unknown = sorted(str(k) for k in spec if k != sources[0] and k not in allowed)
    if unknown:
        return [
            f"dataset '{name}': unknown key {k!r} for a {sources[0]} dataset.{did_you_mean(k, allowed)} "
            f"Allowed: {', '.join(sorted(allowed))}."
            for k in unknown
        ]
    return []


def check_spec(spec: dict[str, Any], base_dir: str | Path = ".", *, files: bool = True) -> list[str]:
    """Cheap static problems of a dataset spec, found without loading data.

    Parameters
    ----------
    spec : dict
        A dataset spec.
    base_dir : str or Path
        Folder relative paths resolve against (the suite file's folder).
    files : bool
        Also look at the files and folders the spec names (they exist, are not empty, a csv
        header has the target). False checks the spec alone, the same on every machine (how a
        stored suite is read back).

    Returns
    -------
    list of str
        One message per problem (naming the dataset, the problem and the fix); empty when fine.
        Checked: the source key (exactly one) and unknown keys, unknown builtin names (with
        did-you-mean) and generator parameters, missing files or folders (with the resolved path),
        ``target`` missing for csv/parquet, a csv header (first line only) lacking the target
        column, a bad ``task``/``image_size``/``openml`` value, a csv/parquet column that is the
        target under another spelling (``" y"`` next to ``y``, same values) and not dropped.
    """
    name = dataset_name(spec) if isinstance(spec, dict) else "dataset"
    problems = _structure_problems(spec, name)
    if problems:
        return problems
    key = _source_keys(spec)[0]
    value = spec[key]
    if key == "builtin":
        return builtin_problems(spec, name)
    try:
        check_task(name, spec.get("task"))
    except DatasetError as exc:
        problems.append(str(exc))
    if key == "openml_task":
        from mlbench.datasets.openml import task_problems

        return task_problems(spec, name, files=files)
    try:
        declared = check_columns(name, spec.get("columns"), spec.get("target"))
    except DatasetError as exc:
        problems.append(str(exc))
        declared = {}
    if key == "openml":
        from mlbench.datasets.openml import check_openml_id

        try:
            check_openml_id(value, name)
        except DatasetError as exc:
            problems.append(str(exc))
    elif not isinstance(value, (str, Path)) or not str(value):
        problems.append(f"dataset '{name}': `{key}:` must be a path, got {value!r}.")
        return problems
    elif files:
        kind = "folder" if key == "image_folder" else "file"
        path = resolve_path(value, base_dir)
        try:
            require_file(name, path, key, base_dir, kind=kind)
        except DatasetError as exc:
            problems.append(str(exc))
        else:
            if kind == "file" and path.stat().st_size == 0:
                problems.append(
                    f"dataset '{name}': {path} is empty (0 bytes). Point `{key}:` at a file with data."
                )
            elif key == "csv" and spec.get("target") is not None:
                found = _csv_target_problems(name, path, spec["target"], "file")
                problems.extend(found or _csv_columns_problems(name, path, declared))
            if key in ("csv", "parquet") and spec.get("target") is not None and not problems:
                problems.extend(_target_copy_problems(name, path, key, spec, declared))
    if key in ("csv", "parquet") and spec.get("target") is None:
        problems.append(f"dataset '{name}': `{key}:` needs `target: <column>`. Add the target column name.")
    if key == "image_folder":
        try:
            check_image_options(name, spec)
        except DatasetError as exc:
            problems.append(str(exc))
    if spec.get("test") is not None and files:
        kind = "folder" if key == "image_folder" else "file"
        test_path = resolve_path(spec["test"], base_dir)
        try:
            require_file(name, test_path, "test", base_dir, kind=kind)
        except DatasetError as exc:
            problems.append(str(exc))
        else:
            is_csv = key == "csv" or (key == "openml" and test_path.suffix.lower() == ".csv")
            if is_csv and spec.get("target") is not None and test_path.stat().st_size > 0:
                problems.extend(_csv_target_problems(name, test_path, spec["target"], "test file"))
    return problems


def _csv_target_problems(name: str, path: Path, target: Any, where: str) -> list[str]:
    try:
        header = read_csv_header(path)
    except OSError as exc:
        return [f"dataset '{name}': {path} could not be read ({exc}). Check the file's permissions."]
    named = [c for c in header if c != ""]
    dup = sorted({c for c in named if named.count(c) > 1})
    if dup:
        return [
            f"dataset '{name}': the {where} {path} has duplicate column names {column_list(dup)}. Rename or "
            "remove the copies so each column name is unique (a duplicated target column would leak the answer)."
        ]
    if str(target) in header:
        return []
    hint = ""
    if len(header) == 1 and any(sep in header[0] for sep in (";", "\t", "|")):
        hint = " The file seems not to be comma-separated; save it as a comma-separated CSV."
    return [
        f"dataset '{name}': target column {target!r} is not in the header of the {where} {path}; "
        f"available columns: {column_list(header)}.{did_you_mean(str(target), header)}{hint} Fix `target:`."
    ]


def _target_copy_problems(
    name: str, path: Path, key: str, spec: dict[str, Any], declared: dict[str, str]
) -> list[str]:
    """A column that is the target under another spelling (``" y"`` next to ``y``), unless dropped."""
    from mlbench.datasets.specs import target_namesakes

    drop = spec.get("drop")
    skip = {str(c) for c in (drop if isinstance(drop, list) else [] if drop is None else [drop])}
    skip |= {c for c, role in declared.items() if role == "drop"}
    # a csv header is read without pandas; pandas is imported only when a namesake is there
    if key == "csv" and not set(target_namesakes(read_csv_header(path), spec["target"])) - skip:
        return []
    from mlbench.datasets.tables import target_copy_problems

    return target_copy_problems(name, path, key, spec["target"], skip)


def split_by(resampling: dict[str, Any] | None) -> tuple[str, str] | None:
    """The column a resampling splits by: ``("group", column)`` for ``group_kfold``,
    ``("time", column)`` for ``time_series``, None for the others (and for None)."""
    if not resampling:
        return None
    role = {"group_kfold": "group", "time_series": "time"}.get(str(resampling.get("kind")))
    if role is None or resampling.get(role) is None:
        return None
    return role, str(resampling[role])


def _csv_columns_problems(name: str, path: Path, declared: dict[str, str]) -> list[str]:
    """Columns named in ``columns:`` that the csv header lacks (one line read, no pandas)."""
    if not declared:
        return []
    try:
        header = read_csv_header(path)
    except OSError:
        return []  # reported by the target check
    unknown = [c for c in declared if c not in header]
    if not unknown:
        return []
    return [
        f"dataset '{name}': `columns:` names columns that are not in the header of {path}: "
        f"{column_list(unknown)}.{did_you_mean(unknown[0], header)} Available columns: {column_list(header)}."
    ]


def load_dataset(
    spec: dict[str, Any], base_dir: str | Path = ".", *, resampling: dict[str, Any] | None = None
) -> Dataset:
    """Load a dataset from its spec (cached per process).

    Parameters
    ----------
    spec : dict
        A dataset spec: one source key of :data:`SOURCE_KEYS` plus options of :data:`ALLOWED_KEYS`.
    base_dir : str or Path
        Folder relative paths resolve against (the suite file's folder).
    resampling : dict, optional
        The suite's resampling (``Resampling.model_dump()``). With ``group_kfold`` or
        ``time_series`` its column is set aside (``Dataset.split_by``, ``Dataset.split_values``):
        never a feature, whatever its kind. The rows are the same with or without it, so row
        indices (folds, stored predictions) mean the same rows.

    Returns
    -------
    Dataset
        The same object for the same spec, base folder and resampling column within a process;
        treat it as read-only. Files changed on disk during a process are not re-read (call
        :func:`clear_cache`).

    Raises
    ------
    DatasetError
        When the spec is invalid or the data cannot be loaded or used; the message names the dataset,
        the problem and the fix.
    """
    name = dataset_name(spec) if isinstance(spec, dict) else "dataset"
    problems = _structure_problems(spec, name)
    if problems:
        raise DatasetError("\n".join(problems))
    # Builtin datasets read no files, so the folder does not matter for them.
    folder = "" if "builtin" in spec else str(Path(base_dir).expanduser().resolve())
    aside = split_by(resampling)
    try:
        key = (json.dumps(spec, sort_keys=True, default=str), folder, aside)
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"dataset '{name}': the spec is not plain data ({exc}).") from exc
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
        dataset = _load(spec, base_dir, name, aside)
        _CACHE[key] = dataset
        return dataset


def set_aside(ds: Dataset, aside: tuple[str, str], name: str) -> Dataset:
    """``ds`` with the resampling column ``aside`` taken out of its features (datasets whose
    columns are already features: builtin tables, npz tables); csv, parquet and OpenML tables set
    it aside in the table pipeline instead, before any column decision."""
    from dataclasses import replace

    from mlbench.datasets.cleaning import split_values

    role, column = aside
    key = f"resampling.{role}"
    if ds.is_image or not hasattr(ds.X, "columns"):
        raise SplitColumnError(
            f"dataset '{name}': `{key}: {column}` names a column, but this dataset holds images, which have "
            "no columns. Use `kind: kfold` for it, or a table with that column."
        )
    if column not in ds.X.columns:
        columns = [str(c) for c in ds.X.columns]
        raise SplitColumnError(
            f"dataset '{name}': `{key}: {column}` names a column that is not in the dataset; available columns: "
            f"{column_list(columns)}.{did_you_mean(column, columns)} Fix `{key}:`."
        )
    values, note = split_values(name, ds.X[column], role, column)
    if ds.test_X is not None and hasattr(ds.test_X, "columns") and column in ds.test_X.columns:
        test_X = ds.test_X.drop(columns=[column])
    else:
        test_X = ds.test_X
    return replace(
        ds,
        X=ds.X.drop(columns=[column]),
        test_X=test_X,
        feature_kinds={c: k for c, k in ds.feature_kinds.items() if c != column},
        provenance=f"{ds.provenance}; {note}",
        split_by=aside,
        split_values=values,
    )


def select_classes(ds: Dataset, wanted: Any, name: str) -> Dataset:
    """Keep only the rows of the listed classes (``classes: [0, 1, 2]``), re-encoded 0..k-1.

    Used to build transfer-learning setups from one dataset, e.g. pretrain on digits 0-4 and
    fine-tune on digits 5-9. Labels match the original class labels (compared as text, so YAML
    numbers match numeric or string labels).
    """
    import numpy as np

    if ds.task_type != "classification" or ds.classes is None:
        raise DatasetError(
            f"dataset '{name}': `classes:` selects classes, but this is a {ds.task_type} dataset; remove it."
        )
    if not isinstance(wanted, list) or len(wanted) < 2:
        raise DatasetError(
            f"dataset '{name}': `classes:` must list at least two class labels, got {wanted!r}."
        )
    by_text = {str(c): i for i, c in enumerate(ds.classes)}
    unknown = [w for w in wanted if str(w) not in by_text]
    if unknown:
        raise DatasetError(
            f"dataset '{name}': classes {unknown} are not in the data; available: "
            f"{', '.join(map(str, ds.classes))}. Fix `classes:`."
        )
    codes = sorted({by_text[str(w)] for w in wanted})
    remap = np.full(len(ds.classes), -1)
    remap[codes] = np.arange(len(codes))

    def pick(X: Any, y: Any) -> tuple[Any, Any]:
        keep = np.isin(y, codes)
        Xk = X.iloc[np.flatnonzero(keep)].reset_index(drop=True) if hasattr(X, "iloc") else X[keep]
        return Xk, remap[y[keep]].astype(np.int64)

    X, y = pick(ds.X, ds.y)
    test_X, test_y = pick(ds.test_X, ds.test_y) if ds.test_X is not None else (None, None)
    split_values = None if ds.split_values is None else ds.split_values[np.isin(ds.y, codes)]
    from dataclasses import replace

    kept = ", ".join(str(ds.classes[c]) for c in codes)
    return replace(
        ds,
        X=X,
        y=y,
        test_X=test_X,
        test_y=test_y,
        classes=ds.classes[codes],
        provenance=f"{ds.provenance}; classes {kept} only",
        split_values=split_values,
    )


def clear_cache() -> None:
    """Forget every loaded dataset (the next :func:`load_dataset` reads the data again)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _load(
    spec: dict[str, Any], base_dir: str | Path, name: str, aside: tuple[str, str] | None = None
) -> Dataset:
    if "classes" in spec:
        rest = {k: v for k, v in spec.items() if k != "classes"}
        return select_classes(_load(rest, base_dir, name, aside), spec["classes"], name)
    source = _source_keys(spec)[0]
    if source == "openml":
        from mlbench.datasets.openml import load_openml

        return load_openml(name, spec, base_dir, aside)
    if source == "openml_task":
        from mlbench.datasets.openml import load_openml_task

        return load_openml_task(name, spec, base_dir)
    if source in ("csv", "parquet"):
        from mlbench.datasets.tables import load_table

        return load_table(name, spec, base_dir, source, aside)
    if source == "builtin":
        from mlbench.datasets.builtin_data import load_builtin

        ds = load_builtin(name, spec)
    else:
        from mlbench.datasets.images import load_image_folder, load_npz

        ds = (
            load_image_folder(name, spec, base_dir)
            if source == "image_folder"
            else load_npz(name, spec, base_dir)
        )
    return ds if aside is None else set_aside(ds, aside, name)
