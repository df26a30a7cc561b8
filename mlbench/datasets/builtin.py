"""Builtin datasets: the small sets shipped with scikit-learn and two synthetic generators.

This module is the catalogue and the parameter checks, with no heavy import, so ``mlbench
validate`` stays fast; the loaders and generators are in :mod:`mlbench.datasets.builtin_data`,
which uses these checks (the dependency goes one way). Everything works offline.

Synthetic generators and their parameters (all optional):

``synthetic_tabular``
    ``make_classification`` (or ``make_regression`` with ``task: regression``). ``n_samples`` (500),
    ``n_features`` (10), ``n_classes`` (2, classification only), ``noise`` (classification: fraction of
    labels flipped at random, default 0.01; regression: standard deviation of the Gaussian noise added
    to the target, default 10), ``shift`` (0), ``random_state`` (0).
``synthetic_images``
    Class-conditional 1-channel images: class ``c`` is a soft bar at angle ``180 * c / n_classes``
    degrees, jittered in angle, position, width and brightness, plus Gaussian pixel noise.
    ``n_samples`` (400), ``n_classes`` (4), ``image_size`` (16), ``noise`` (pixel noise std, 0.3),
    ``shift`` (0), ``random_state`` (0).

``shift``: when non-zero, an extra held-out test part of ``max(1, round(n_samples / 4))`` rows is
generated from the same distribution and then moved: tabular features by ``shift`` times each
feature's training standard deviation; images by contrast ``1 + shift / 2`` around 0.5 and brightness
``+ shift / 5`` (clipped to [0, 1]). It becomes ``Dataset.test_X/test_y`` so drift diagnostics have
something to detect. The training part is the same for every ``shift`` (only the test part moves),
and with ``shift: 0`` no test part is returned.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from mlbench.datasets.specs import check_task
from mlbench.errors import DatasetError, did_you_mean

BUILTIN_NAMES: tuple[str, ...] = (
    "digits",
    "iris",
    "wine",
    "breast_cancer",
    "diabetes",
    "synthetic_tabular",
    "synthetic_images",
)

#: Generator parameters accepted by each synthetic builtin (the fixed sklearn sets accept none).
GENERATOR_PARAMS: dict[str, frozenset[str]] = {
    "synthetic_tabular": frozenset(
        {"n_samples", "n_features", "n_classes", "noise", "shift", "random_state"}
    ),
    "synthetic_images": frozenset({"n_samples", "n_classes", "noise", "shift", "random_state", "image_size"}),
}
ALL_GENERATOR_PARAMS: frozenset[str] = frozenset().union(*GENERATOR_PARAMS.values())

# Fixed task of the sklearn-shipped sets (a conflicting ``task:`` is an error, not a silent override).
_FIXED_TASK = {
    "digits": "classification",
    "iris": "classification",
    "wine": "classification",
    "breast_cancer": "classification",
    "diabetes": "regression",
    "synthetic_images": "classification",
}


def fixed_task(name: str) -> str | None:
    """The task of a builtin set that has only one (None for ``synthetic_tabular``, which takes ``task:``)."""
    return _FIXED_TASK.get(name)


def builtin_problems(spec: dict[str, Any], name: str) -> list[str]:
    """Static problems of a ``builtin:`` spec (no data is generated or loaded).

    Parameters
    ----------
    spec : dict
        The dataset spec.
    name : str
        Dataset name, for messages.

    Returns
    -------
    list of str
        Unknown builtin name, generator parameters on a dataset that takes none, bad parameter
        values, a ``task:`` that conflicts with a fixed dataset. Empty when fine.
    """
    which = spec.get("builtin")
    if which not in BUILTIN_NAMES:
        return [
            f"dataset '{name}': unknown builtin dataset {which!r}.{did_you_mean(str(which), BUILTIN_NAMES)} "
            f"Choose one of: {', '.join(BUILTIN_NAMES)}."
        ]
    problems: list[str] = []
    allowed = GENERATOR_PARAMS.get(which, frozenset())
    given = sorted(k for k in spec if k in ALL_GENERATOR_PARAMS)
    extra = [k for k in given if k not in allowed]
    if extra:
        where = (
            f"only {', '.join(sorted(allowed))} apply to '{which}'"
            if allowed
            else f"'{which}' is a fixed dataset and takes no generator parameters"
        )
        problems.append(f"dataset '{name}': {', '.join(extra)} not allowed: {where}. Remove them.")
    task = spec.get("task")
    fixed = _FIXED_TASK.get(which)
    if task is not None and fixed is not None and task != fixed:
        problems.append(
            f"dataset '{name}': builtin '{which}' is a {fixed} dataset; `task: {task}` does not apply. "
            "Remove `task:`."
        )
    try:
        check_task(name, task)
    except DatasetError as exc:
        problems.append(str(exc))
    if which == "synthetic_tabular" and task == "regression" and "n_classes" in spec:
        problems.append(f"dataset '{name}': n_classes does not apply with `task: regression`. Remove it.")
    if not extra and which in GENERATOR_PARAMS:
        try:
            generator_params(spec, name)
        except DatasetError as exc:
            problems.append(str(exc))
    return problems


def _int_param(spec: dict[str, Any], key: str, default: int, minimum: int, name: str) -> int:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise DatasetError(f"dataset '{name}': {key} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def _float_param(
    spec: dict[str, Any], key: str, default: float, name: str, minimum: float | None = None
) -> float:
    value = spec.get(key, default)
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)
    if not ok or (minimum is not None and value < minimum):
        bound = f" >= {minimum}" if minimum is not None else ""
        raise DatasetError(f"dataset '{name}': {key} must be a finite number{bound}, got {value!r}.")
    return float(value)


def generator_params(spec: dict[str, Any], name: str) -> dict[str, Any]:
    """The generator parameters of a ``synthetic_*`` spec, defaults filled in and values checked.

    Raises
    ------
    DatasetError
        For a value of the wrong type or out of range (the message names it and its bounds).
    """
    which = spec["builtin"]
    regression = spec.get("task") == "regression"
    images = which == "synthetic_images"
    params = {
        "n_samples": _int_param(spec, "n_samples", 400 if images else 500, 10, name),
        "n_classes": _int_param(spec, "n_classes", 4 if images else 2, 2, name),
        "shift": _float_param(spec, "shift", 0.0, name),
        "random_state": _int_param(spec, "random_state", 0, 0, name),
    }
    default_noise = 0.3 if images else (10.0 if regression else 0.01)
    params["noise"] = _float_param(spec, "noise", default_noise, name, minimum=0.0)
    if images:
        params["image_size"] = _int_param(spec, "image_size", 16, 4, name)
    else:
        params["n_features"] = _int_param(spec, "n_features", 10, 1, name)
        if not regression and params["noise"] > 1:
            raise DatasetError(
                f"dataset '{name}': for classification, noise is the fraction of labels flipped and must be "
                f"in [0, 1], got {params['noise']}."
            )
    return params
