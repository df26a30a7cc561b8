"""OpenML datasets (``openml: <id>``), tasks (``openml_task: <id>``) and suites, cached on disk.

Datasets are fetched once with scikit-learn; a task's description and official splits file and a
suite's list of tasks once with OpenML's JSON API (layout below, beside the task loader).

Cache folder: ``$MLBENCH_CACHE/openml`` when ``MLBENCH_CACHE`` is set, else ``~/.cache/mlbench/openml``.
With ``MLBENCH_OFFLINE=1`` (or ``HF_HUB_OFFLINE=1``) no download is attempted: a dataset that is not
cached fails at once instead of waiting for the network to time out.
"""

from __future__ import annotations

import os
import socket
import warnings
from pathlib import Path
from typing import Any

from mlbench.cache import cache_root
from mlbench.datasets.base import Dataset
from mlbench.errors import DatasetError

#: Seconds one network request may take before the download is given up.
NETWORK_TIMEOUT_S = 10.0


def cache_dir() -> Path:
    """The folder OpenML downloads are cached in.

    Returns
    -------
    Path
        ``$MLBENCH_CACHE/openml`` or ``~/.cache/mlbench/openml``.
    """
    return cache_root() / "openml"


def offline() -> bool:
    """True when the environment asks for no network access (``MLBENCH_OFFLINE`` / ``HF_HUB_OFFLINE``)."""
    return any(
        os.environ.get(k, "").strip().lower() in ("1", "true", "yes")
        for k in ("MLBENCH_OFFLINE", "HF_HUB_OFFLINE")
    )


def is_cached(data_id: int, data_home: Path) -> bool:
    """Whether the dataset's description is in scikit-learn's OpenML cache under ``data_home``."""
    # fetch_openml caches under <data_home>/openml/openml.org/<url path>.gz; the description comes first.
    return (data_home / "openml" / "openml.org" / "api" / "v1" / "json" / "data" / f"{data_id}.gz").exists()


def check_openml_id(value: Any, name: str) -> int:
    """Validate ``openml:`` (a positive integer id)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DatasetError(
            f"dataset '{name}': openml must be a positive integer dataset id (e.g. `openml: 61`), "
            f"got {value!r}."
        )
    return value


def _unavailable(name: str, data_id: int, data_home: Path, reason: str) -> DatasetError:
    return DatasetError(
        f"dataset '{name}': OpenML dataset {data_id} could not be downloaded (offline?) and is not in the "
        f"cache at {data_home} ({reason}); download it once with network access or use a csv: source."
    )


def load_openml(
    name: str, spec: dict[str, Any], base_dir: str | Path, aside: tuple[str, str] | None = None
) -> Dataset:
    """Load ``openml: <id>`` through :func:`sklearn.datasets.fetch_openml` and the tabular cleaning rules.

    Parameters
    ----------
    name : str
        Dataset name.
    spec : dict
        The dataset spec (``openml``; optional ``target`` (default: the dataset's default target),
        ``task``, ``drop``, ``columns``, ``test`` (a csv with the same columns)).
    base_dir : str or Path
        Folder the ``test:`` path resolves against.
    aside : (role, column), optional
        The resampling's column, set aside from the features.

    Returns
    -------
    Dataset
    """
    data_id = check_openml_id(spec.get("openml"), name)
    data_home = cache_dir()
    if offline() and not is_cached(data_id, data_home):
        raise _unavailable(name, data_id, data_home, "network disabled by MLBENCH_OFFLINE/HF_HUB_OFFLINE")

    from urllib.error import HTTPError, URLError

    from sklearn.datasets import fetch_openml

    from mlbench.datasets.cleaning import prepare_frame
    from mlbench.datasets.tables import read_test_table

    target = spec.get("target")
    previous = socket.getdefaulttimeout()
    # fetch_openml has no timeout argument; urlopen falls back to the socket default.
    socket.setdefaulttimeout(NETWORK_TIMEOUT_S)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # retry and parser warnings are noise for the user
            bunch = fetch_openml(
                data_id=data_id,
                as_frame=True,
                data_home=str(data_home),
                target_column=None,
                n_retries=1,
                delay=0.5,
            )
    except HTTPError as exc:
        if exc.code in (404, 412):
            raise DatasetError(
                f"dataset '{name}': OpenML has no usable dataset with id {data_id} (HTTP {exc.code}). "
                "Check the id on openml.org."
            ) from exc
        raise _unavailable(name, data_id, data_home, f"HTTP {exc.code}") from exc
    except (URLError, OSError, TimeoutError) as exc:
        raise _unavailable(name, data_id, data_home, type(exc).__name__) from exc
    except ValueError as exc:
        raise DatasetError(
            f"dataset '{name}': OpenML dataset {data_id} could not be parsed ({exc}). Download it as a csv "
            "and use a csv: source."
        ) from exc
    finally:
        socket.setdefaulttimeout(previous)

    frame = bunch.frame
    if target is None:
        default = (bunch.details or {}).get("default_target_attribute")
        if not default or "," in str(default):
            raise DatasetError(
                f"dataset '{name}': OpenML dataset {data_id} has no single default target. Add "
                f"`target: <column>`; columns: {', '.join(map(str, frame.columns[:20]))}."
            )
        target = str(default)
    table = prepare_frame(
        name,
        frame,
        target,
        spec.get("task"),
        spec.get("drop"),
        where="OpenML dataset",
        columns=spec.get("columns"),
        aside=aside,
    )
    task, notes = table.task, list(table.notes)
    test_X = test_y = None
    if spec.get("test") is not None:
        test_X, test_y, test_notes = read_test_table(
            name, spec["test"], base_dir, target, task, table.plan, table.classes
        )
        notes.extend(test_notes)
    title = (bunch.details or {}).get("name", "")
    head = f"openml {data_id} {title!r} (https://www.openml.org/d/{data_id}), target '{target}', {task}"
    return Dataset(
        name=name,
        X=table.X,
        y=table.y,
        task_type=task,
        feature_kinds=table.kinds,
        classes=table.classes,
        provenance="; ".join([head, *notes]),
        test_X=test_X,
        test_y=test_y,
        split_by=aside,
        split_values=table.split_values,
        table_plan=table.plan,
    )


# --------------------------------------------------------------------------------------------------
# OpenML tasks (`openml_task: <id>`: the task's target and official splits) and suites
# (`openml_suite: <id>`: a study's tasks, expanded by the suite checks)
#
# Cache layout under cache_dir() (alongside scikit-learn's dataset cache):
#   tasks/<id>/task.json     the task description (OpenML's JSON API: api/v1/json/task/<id>)
#   tasks/<id>/splits.arff   its splits file (the description's data_splits_url)
#   studies/<id>.json        a suite's description (api/v1/json/study/<id>)

#: OpenML's JSON API.
API = "https://www.openml.org/api/v1/json"

#: Task types mlbench runs, and the task they are.
TASK_TYPES = {"Supervised Classification": "classification", "Supervised Regression": "regression"}

#: Folds of an ``openml_task`` when the entry gives no ``folds:``: OpenML's standard 10-fold
#: cross-validation, the estimation procedure of OpenML-CC18's and AMLB's tasks.
DEFAULT_TASK_FOLDS = 10


def check_positive_id(value: Any, name: str, key: str) -> int:
    """Validate an OpenML id (``openml_task:``, ``openml_suite:``): a positive integer."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DatasetError(
            f"dataset '{name}': {key} must be a positive integer OpenML id (e.g. `{key}: 31`), got {value!r}."
        )
    return value


def check_task_folds(value: Any, name: str) -> int:
    """Validate ``folds:`` of an ``openml_task`` entry (how many of the task's folds to run)."""
    if value is None:
        return DEFAULT_TASK_FOLDS
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DatasetError(
            f"dataset '{name}': folds is how many of the task's official folds run, a whole number >= 1; got {value!r}."
        )
    return value


def _download(url: str, path: Path) -> None:
    """Fetch ``url`` into ``path`` atomically (a temp file in the same folder, then a rename)."""
    import tempfile
    from urllib.request import urlopen

    path.parent.mkdir(parents=True, exist_ok=True)
    with urlopen(url, timeout=NETWORK_TIMEOUT_S) as response:
        body = response.read()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _cached_or_fetched(path: Path, url: str, what: str, name: str, *, download: bool) -> Path | None:
    """``path`` when cached; else fetched from ``url`` when allowed; None when not cached and not allowed."""
    if path.exists():
        return path
    if not download:
        return None
    if offline():
        raise DatasetError(
            f"dataset '{name}': {what} is not in the cache at {path} and MLBENCH_OFFLINE/HF_HUB_OFFLINE "
            "disables the network; run once with network access (or copy the cache) first."
        )
    try:
        _download(url, path)
    except Exception as exc:
        raise DatasetError(
            f"dataset '{name}': {what} could not be downloaded from {url} (offline? {type(exc).__name__}: {exc}) "
            f"and is not in the cache at {path}; run once with network access or copy the cache."
        ) from None
    return path


def task_info(task_id: int, name: str, *, download: bool = True) -> dict[str, Any] | None:
    """The parts of an OpenML task mlbench uses, from the cache (downloaded once when allowed).

    Parameters
    ----------
    task_id : int
    name : str
        Dataset name, for messages.
    download : bool
        Fetch the description and the splits file when they are not cached; False returns None
        for a task not cached.

    Returns
    -------
    dict or None
        ``{"task_id", "task", "data_id", "target", "folds", "repeats", "splits", "title"}``:
        ``task`` is ``classification`` or ``regression``, ``splits`` the cached splits file.

    Raises
    ------
    DatasetError
        Not cached and the network is off or fails; a task type mlbench does not run; a
        description without a dataset, target or splits file.
    """
    folder = cache_dir() / "tasks" / str(task_id)
    path = _cached_or_fetched(
        folder / "task.json", f"{API}/task/{task_id}", f"OpenML task {task_id}", name, download=download
    )
    if path is None:
        return None
    import json

    try:
        task = json.loads(path.read_text(encoding="utf-8"))["task"]
        inputs = {item["name"]: item for item in task["input"]}
        source = inputs["source_data"]["data_set"]
        procedure = inputs["estimation_procedure"]["estimation_procedure"]
        params = {p["name"]: p.get("value") for p in procedure.get("parameter", [])}
    except (KeyError, TypeError, ValueError) as exc:
        raise DatasetError(
            f"dataset '{name}': the cached description of OpenML task {task_id} ({path}) cannot be read "
            f"({type(exc).__name__}: {exc}); delete it to download it again."
        ) from None
    kind = TASK_TYPES.get(str(task.get("task_type")))
    if kind is None:
        raise DatasetError(
            f"dataset '{name}': OpenML task {task_id} is a {task.get('task_type')!r} task; mlbench runs "
            f"{' and '.join(TASK_TYPES)} tasks."
        )
    splits = _cached_or_fetched(
        folder / "splits.arff",
        str(procedure.get("data_splits_url", "")),
        f"the splits of OpenML task {task_id}",
        name,
        download=download,
    )
    if splits is None:
        return None
    return {
        "task_id": task_id,
        "task": kind,
        "data_id": int(source["data_set_id"]),
        "target": str(source["target_feature"]),
        "folds": int(params.get("number_folds") or 1),
        "repeats": int(params.get("number_repeats") or 1),
        "splits": splits,
        "title": str(task.get("task_name", "")),
    }


def read_splits(path: Path, repeat: int = 0) -> list[tuple[Any, Any]]:
    """The official (train, test) row indices of each fold of one repeat, from a splits ARFF file.

    The file has one line per (row, fold): ``type`` (TRAIN or TEST), ``rowid`` (the dataset's row,
    from 0), ``repeat``, ``fold`` and optionally ``sample`` (learning-curve tasks; sample 0 is read).
    """
    import numpy as np

    names: list[str] = []
    parts: dict[int, tuple[list[int], list[int]]] = {}
    in_data = False
    with open(path, encoding="utf-8") as fh:
        for raw in fh:
            line = raw.strip()
            if not line or line.startswith("%"):
                continue
            if not in_data:
                low = line.lower()
                if low.startswith("@attribute"):
                    names.append(line.split()[1].strip("'\""))
                elif low.startswith("@data"):
                    in_data = True
                continue
            values = [v.strip().strip("'\"") for v in line.split(",")]
            row = dict(zip(names, values, strict=False))
            if int(row["repeat"]) != repeat or int(row.get("sample", 0)) != 0:
                continue
            train, test = parts.setdefault(int(row["fold"]), ([], []))
            (train if row["type"].upper() == "TRAIN" else test).append(int(row["rowid"]))
    return [
        (np.sort(np.asarray(parts[f][0], dtype=np.int64)), np.sort(np.asarray(parts[f][1], dtype=np.int64)))
        for f in sorted(parts)
    ]


def task_problems(spec: dict[str, Any], name: str, *, files: bool) -> list[str]:
    """Problems of an ``openml_task`` entry: its values; with ``files``, the task itself (fetched once).

    With ``files`` (a machine check: ``mlbench run`` and ``mlbench validate``) the task description
    is read from the cache or downloaded, so a task not cached while offline, a task type mlbench
    does not run, or more ``folds`` than the task has stop the run before any job.
    """
    try:
        task_id = check_positive_id(spec.get("openml_task"), name, "openml_task")
        folds = check_task_folds(spec.get("folds"), name)
    except DatasetError as exc:
        return [str(exc)]
    if not files:
        return []
    try:
        info = task_info(task_id, name)
    except DatasetError as exc:
        return [str(exc)]
    assert info is not None  # downloads are allowed here
    if folds > info["folds"]:
        return [
            f"dataset '{name}': OpenML task {task_id} has {info['folds']} fold(s) and the entry asks for {folds}; "
            f"set `folds: {info['folds']}` (or fewer)."
        ]
    return []


def load_openml_task(name: str, spec: dict[str, Any], base_dir: str | Path) -> Dataset:
    """Load ``openml_task: <id>``: the task's dataset, its target, and its official splits.

    The dataset is read like ``openml: <id>`` (scikit-learn's cache, the tabular cleaning rules)
    with the task's target and task type; :attr:`Dataset.folds` holds the official (train, test)
    rows of the first ``folds`` folds of the task's first repeat, which the jobs use in place of
    the suite's resampling.
    """
    from dataclasses import replace

    task_id = check_positive_id(spec.get("openml_task"), name, "openml_task")
    folds = check_task_folds(spec.get("folds"), name)
    info = task_info(task_id, name)
    assert info is not None
    ds = load_openml(
        name, {"openml": info["data_id"], "target": info["target"], "task": info["task"]}, base_dir
    )
    splits = read_splits(info["splits"])
    if len(splits) < folds:
        raise DatasetError(
            f"dataset '{name}': OpenML task {task_id} has {len(splits)} fold(s) in its splits file and the entry "
            f"asks for {folds}; set `folds: {len(splits)}` (or fewer)."
        )
    n_rows = max(int(max(train.max(initial=-1), test.max(initial=-1))) for train, test in splits) + 1
    if n_rows != len(ds.y):
        raise DatasetError(
            f"dataset '{name}': the splits of OpenML task {task_id} index {n_rows} rows and its dataset has "
            f"{len(ds.y)} after cleaning (rows with a missing target are dropped); the official splits cannot "
            "be used. Use `openml: <data id>` with the suite's resampling instead."
        )
    head = (
        f"openml task {task_id} {info['title']!r} (https://www.openml.org/t/{task_id}): its target "
        f"'{info['target']}' and official splits ({folds} of {info['folds']} folds, repeat 0)"
    )
    return replace(ds, folds=splits[:folds], provenance=f"{head}; {ds.provenance}")


def suite_tasks(study_id: int, name: str, *, download: bool) -> list[int] | None:
    """The task ids of an OpenML suite (study), from the cache (downloaded once when allowed).

    None when it is not cached and ``download`` is False (reading a suite is pure: the machine
    check downloads it).
    """
    path = _cached_or_fetched(
        cache_dir() / "studies" / f"{study_id}.json",
        f"{API}/study/{study_id}",
        f"OpenML suite {study_id}",
        name,
        download=download,
    )
    if path is None:
        return None
    import json

    try:
        study = json.loads(path.read_text(encoding="utf-8"))["study"]
        ids = study["tasks"]["task_id"]
    except (KeyError, TypeError, ValueError) as exc:
        raise DatasetError(
            f"dataset '{name}': the cached description of OpenML suite {study_id} ({path}) lists no tasks "
            f"({type(exc).__name__}: {exc}); is it a suite of tasks? Delete the file to download it again."
        ) from None
    return [int(t) for t in ([ids] if isinstance(ids, str | int) else ids)]
