"""OpenML datasets (``openml: <id>``), fetched once with scikit-learn and cached on disk.

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
