"""The ``tune:`` block of a model entry, as a suite states it: checked, normalised, budgeted.

Part of reading a suite, so it needs no Optuna and imports nothing that runs jobs: the search
itself is :mod:`mlbench.tuning`'s. A family's default space comes from its
:class:`~mlbench.models.ModelInfo` (``tuning_space``).

The space syntax (YAML)::

    space:
      n_neighbors: {int: [1, 100], log: true}
      learning_rate: {float: [0.005, 0.1], log: true}
      weights: [uniform, distance]        # a list: categorical
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

__all__ = [
    "BUDGET_SHARE",
    "DEFAULT_TRIALS",
    "TUNE_KEYS",
    "check_tune",
    "default_space",
    "describe_budget",
    "fits_per_job",
    "job_budget",
    "optuna_missing",
]

#: Keys of a ``tune:`` block.
TUNE_KEYS = ("trials", "seconds", "space", "metric", "sampler", "pruner")
_SAMPLERS = ("tpe", "random")
_PRUNERS = ("median", "none")
#: Trials when a block gives neither ``trials`` nor ``seconds``.
DEFAULT_TRIALS = 50
#: Share of ``budget.job_seconds`` a study may use when ``seconds`` is not set or larger: the rest
#: is left for the refit on the training rows and the test predictions.
BUDGET_SHARE = 0.8


def default_space(model_name: str, task_type: str) -> dict[str, Any] | None:
    """The default search space of a model family for a task type (None when it has none).

    Parameters
    ----------
    model_name : str
        A registered family (``xgboost``, a plugin's); an unknown name has none.
    task_type : str

    Returns
    -------
    dict or None
        The family's :attr:`mlbench.models.ModelInfo.tuning_space` for ``task_type``.
    """
    from mlbench.models import MODELS

    if model_name not in MODELS:
        return None
    space = MODELS.get(model_name).tuning_space.get(task_type)
    return dict(space) if space else None


def optuna_missing() -> str | None:
    """None when Optuna imports, else the message telling how to install it."""
    try:
        import optuna  # noqa: F401
    except ImportError:
        return "tune: needs Optuna, which is not installed; install mlbench[tune] (`pip install 'mlbench[tune]'`)"
    return None


# -- checking a tune: block ---------------------------------------------------------------------


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _check_dimension(name: str, value: Any, loc: tuple, add: Callable[..., None]) -> bool:
    """Check one ``space`` entry; report at ``loc``; return whether it is valid."""
    if isinstance(value, list):
        if len(value) < 2:
            add(
                loc,
                f"categorical {name!r} has {len(value)} value(s); list at least two, or set "
                f"{name} as a fixed parameter instead of tuning it",
            )
            return False
        if not all(v is None or isinstance(v, str | int | float | bool) for v in value):
            add(loc, f"categorical {name!r} values must be plain scalars (text, numbers, true/false)")
            return False
        return True
    shape = f"`{name}: {{float: [LOW, HIGH], log: true}}`, `{{int: [LOW, HIGH]}}` or a list of choices"
    if not isinstance(value, dict):
        add(loc, f"{name!r} must be {shape}")
        return False
    kinds = [k for k in ("int", "float") if k in value]
    extra = [k for k in value if k not in ("int", "float", "log")]
    if len(kinds) != 1 or extra:
        add(
            loc,
            f"{name!r} must be {shape}" + (f"; unknown key(s) {', '.join(map(str, extra))}" if extra else ""),
        )
        return False
    kind = kinds[0]
    bounds = value[kind]
    if not (isinstance(bounds, list) and len(bounds) == 2 and all(_number(b) for b in bounds)):
        add((*loc, kind), f"{kind} range of {name!r} must be [LOW, HIGH] with two numbers")
        return False
    if kind == "int" and not all(isinstance(b, int) or float(b).is_integer() for b in bounds):
        add((*loc, kind), f"int range of {name!r} needs whole numbers; use `float:` for {bounds}")
        return False
    lo, hi = bounds
    ok = True
    if lo > hi:
        add((*loc, kind), f"range of {name!r} has low {lo} > high {hi}; write [{hi}, {lo}]")
        ok = False
    log = value.get("log", False)
    if not isinstance(log, bool):
        add((*loc, "log"), f"log must be true or false, got {log!r}")
        ok = False
    elif log and min(lo, hi) <= 0:
        add(
            (*loc, "log"),
            f"log: true needs positive bounds, and {name!r} has {min(lo, hi)}; raise the low "
            "bound above 0 or remove `log: true`",
        )
        ok = False
    return ok


def check_tune(
    info: Any,
    value: Any,
    fixed: dict[str, Any],
    loc: tuple,
    add: Callable[..., None],
    metric_names: Any = None,
) -> dict[str, Any] | None:
    """Check a model entry's ``tune:`` block and return it normalised (None after a problem).

    Parameters
    ----------
    info : ModelInfo or None
        The model family (its parameter names, name and default search space); None for a
        plugin's model read while its plugin is not imported (a stored suite): the space's names
        and the default space are then not checked.
    value : Any
        The block as written.
    fixed : dict
        Parameters set directly or in ``grid:`` (they cannot also be tuned).
    loc : tuple
        Path of the block in the suite, for located messages.
    add : callable
        ``add(path, message, key=False)``: :meth:`mlbench.suite.locations.Problems.add`.
    metric_names : collection of str, optional
        Valid metric names (default: the metric registry's).

    Returns
    -------
    dict or None
        ``trials`` (int or None), ``seconds`` (float or None), ``space`` (dict, or None for the
        family default), ``metric`` (str or None: the suite's primary), ``sampler``, ``pruner``
        (``"median"``, ``"none"`` or None: median when the family reports intermediate scores).
    """
    if value is None:
        # `tune:` with nothing after it: a forgotten budget, not a wish for the default 50 trials
        add(
            loc,
            "tune is empty; say how long to search: `tune: {trials: 30}` (a number of trials) or "
            "`tune: {seconds: 600}` (a time limit), or remove `tune:`",
        )
        return None
    if value is True:
        value = {}
    if not isinstance(value, dict):
        add(loc, "tune must be a mapping, e.g. `tune: {trials: 30}`")
        return None
    ok = _check_options(value, loc, add, metric_names)
    space = value.get("space")
    if space is not None:
        ok = _check_space(info, space, fixed, loc, add) and ok
    elif info is not None:  # a plugin's model, its plugin not imported: its default space is its own
        ok = _check_default_space(info, fixed, loc, add) and ok
    if not ok:
        return None
    trials, seconds = value.get("trials"), value.get("seconds")
    if trials is None and seconds is None:
        trials = DEFAULT_TRIALS
    pruner = value.get("pruner")
    return {
        "trials": trials,
        "seconds": None if seconds is None else float(seconds),
        "space": space,
        "metric": value.get("metric"),
        "sampler": value.get("sampler", "tpe"),
        "pruner": "none" if pruner is False else pruner,
    }


def _check_options(value: dict[str, Any], loc: tuple, add: Callable[..., None], metric_names: Any) -> bool:
    """Check a ``tune:`` block's keys and every option but ``space``; report each problem."""
    from mlbench.errors import did_you_mean

    ok = True
    for key in value:
        if key not in TUNE_KEYS:
            add(
                (*loc, key),
                f"unknown tune option {key!r}.{did_you_mean(str(key), TUNE_KEYS)} Valid: {', '.join(TUNE_KEYS)}",
                key=True,
            )
            ok = False
    trials = value.get("trials")
    if trials is not None and (isinstance(trials, bool) or not isinstance(trials, int) or trials < 1):
        add((*loc, "trials"), f"trials must be a whole number >= 1, got {trials!r}")
        ok = False
    seconds = value.get("seconds")
    if seconds is not None and (not _number(seconds) or seconds <= 0):
        add((*loc, "seconds"), f"seconds must be a number > 0, got {seconds!r}")
        ok = False
    sampler = value.get("sampler", "tpe")
    if sampler not in _SAMPLERS:
        add((*loc, "sampler"), f"sampler must be one of {', '.join(_SAMPLERS)}, got {sampler!r}")
        ok = False
    pruner = value.get("pruner")
    if pruner is not None and pruner is not False and pruner not in _PRUNERS:
        add((*loc, "pruner"), f"pruner must be median or none, got {pruner!r}")
        ok = False
    return _check_metric(value.get("metric"), loc, add, metric_names) and ok


def _check_metric(metric: Any, loc: tuple, add: Callable[..., None], metric_names: Any) -> bool:
    from mlbench.errors import did_you_mean

    if metric is None:
        return True
    if metric_names is None:
        from mlbench.metrics import METRICS

        metric_names = METRICS.names()
    if metric in metric_names:
        return True
    add(
        (*loc, "metric"),
        f"unknown metric {metric!r}.{did_you_mean(str(metric), list(metric_names))} "
        f"Valid metrics: {', '.join(metric_names)}",
    )
    return False


def _check_space(info: Any, space: Any, fixed: dict[str, Any], loc: tuple, add: Callable[..., None]) -> bool:
    """Check an explicit ``space:``: known parameters, not also set, each a valid dimension."""
    from mlbench.errors import did_you_mean

    if not isinstance(space, dict) or not space:
        add((*loc, "space"), "space must be a non-empty mapping of parameter -> range or list of choices")
        return False
    ok = True
    valid = info.valid_params() if info is not None else None
    for name, dim in space.items():
        where = (*loc, "space", name)
        if valid is not None and name not in valid:
            add(
                where,
                f"unknown parameter {name!r} for model {info.name!r} in space."
                f"{did_you_mean(str(name), valid)} Valid parameters: {', '.join(sorted(valid))}",
                key=True,
            )
            ok = False
        elif name in fixed:
            add(
                where,
                f"{name!r} is both set and tuned; remove it from the parameters or from space",
                key=True,
            )
            ok = False
        else:
            valid_dim = _check_dimension(name, dim, where, add)
            if valid_dim and info is not None:
                valid_dim = _check_bounds(info, name, dim, where, add)
            ok = valid_dim and ok
    return ok


def _check_bounds(info: Any, name: str, dim: Any, loc: tuple, add: Callable[..., None]) -> bool:
    """Check a valid dimension against the values the family says ``name`` accepts (its ``param_bounds``).

    Only what can be known without building the estimator: whole-number parameters with a
    minimum, shares and probabilities in [0, 1], and so on (:class:`mlbench.models.Bounds`).
    """
    bounds = getattr(info, "param_bounds", {}).get(name)
    if not bounds:
        return True
    whole_only = "float" not in bounds and "int" in bounds
    if isinstance(dim, list):
        for i, v in enumerate(dim):
            if isinstance(v, bool) or not isinstance(v, int | float):
                continue  # None and names (`max_features: sqrt`) are the estimator's to judge
            kind = "int" if isinstance(v, int) else "float"
            if kind == "float" and whole_only:
                add(
                    (*loc, i),
                    f"{name!r} of {info.name} takes whole numbers, and the choice {v!r} is not one; "
                    f"write {int(v) if float(v).is_integer() else round(v)}",
                )
                return False
            bound = bounds.get(kind)
            if bound is not None and not bound.admits(v):
                add(
                    (*loc, i),
                    f"{name!r} of {info.name} must be {bound.describe()}, and the choice {v!r} is not: "
                    f"every trial that draws it fails; remove it",
                )
                return False
        return True
    kind = "int" if "int" in dim else "float"
    if kind == "float" and whole_only:
        add(
            (*loc, "float"),
            f"{name!r} of {info.name} takes whole numbers; write `{name}: {{int: [LOW, HIGH]}}`",
        )
        return False
    bound = bounds.get(kind)
    if bound is None:
        return True
    lo, hi = dim[kind]
    low_bad, high_bad = not bound.admits(lo), not bound.admits(hi)
    if not (low_bad or high_bad):
        return True
    if low_bad and high_bad:
        side = (
            f"from {_edge(bound, kind, low=True)}"
            if bound.low is not None
            else f"up to {_edge(bound, kind, low=False)}"
        )
        what, fix = f"the range [{lo}, {hi}] lies outside it: every trial fails", f"use a range {side}"
    elif low_bad:
        what, fix = (
            f"the range [{lo}, {hi}] starts at {lo}: trials there fail",
            (f"raise the low bound to {_edge(bound, kind, low=True)}"),
        )
    else:
        what, fix = (
            f"the range [{lo}, {hi}] ends at {hi}: trials there fail",
            (f"lower the high bound to {_edge(bound, kind, low=False)}"),
        )
    add((*loc, kind), f"{name!r} of {info.name} must be {bound.describe()}, and {what}; {fix}")
    return False


def _edge(bound: Any, kind: str, low: bool) -> str:
    """The valid value nearest a side of ``bound``, as a suite would write it."""
    edge, is_open = (bound.low, bound.open_low) if low else (bound.high, bound.open_high)
    if kind == "int":
        if is_open:
            edge = math.floor(edge) + 1 if low else math.ceil(edge) - 1
        return str(int(edge))
    if is_open:
        return f"a little {'above' if low else 'below'} {edge:g}"
    return f"{edge:g}"


def _check_default_space(info: Any, fixed: dict[str, Any], loc: tuple, add: Callable[..., None]) -> bool:
    """Without ``space:``: the family has a default space, and not all of it is set directly."""
    spaces = [space for space in info.tuning_space.values() if space]
    if not spaces:
        add(
            loc,
            f"model {info.name!r} has no default search space; give one with "
            "`space: {PARAM: {float: [LOW, HIGH]}}`",
        )
        return False
    if not any(set(space) - set(fixed) for space in spaces):
        add(
            loc,
            f"every parameter of {info.name}'s default space is set directly: nothing left to tune; give `space:`",
        )
        return False
    return True


def job_budget(tune: dict[str, Any], job_seconds: float) -> float:
    """Seconds a job's study may run: ``seconds`` capped at a share of ``budget.job_seconds``."""
    cap = BUDGET_SHARE * job_seconds
    return cap if tune.get("seconds") is None else min(float(tune["seconds"]), cap)


# -- running a study ----------------------------------------------------------------------------


# -- dry run --------------------------------------------------------------------------------------


def fits_per_job(job: Any) -> int | None:
    """Upper bound of the model fits a job makes (None: bounded by seconds only).

    An untuned job fits once (``inner_folds`` times with ``val: cross_fit``); a tuned one fits
    once per trial per evaluation fold, then refits the best parameters the same way.
    """
    k = (
        int(job.resampling.get("inner_folds", 5))
        if job.resampling.get("val", "holdout") == "cross_fit"
        else 1
    )
    if job.tune is None:
        return k
    trials = job.tune.get("trials")
    return None if trials is None else trials * k + k


def describe_budget(jobs: list[Any]) -> list[str]:
    """Lines for ``mlbench run --dry-run``: each tuned model's budget per job and the suite's total fits.

    Parameters
    ----------
    jobs : list of Job
        The jobs to describe (the suite's, or those left to run).

    Returns
    -------
    list of str
        Empty when no job tunes.
    """
    tuned = [job for job in jobs if job.tune is not None]
    if not tuned:
        return []
    lines = []
    seen: dict[str, Any] = {}
    for job in tuned:
        seen.setdefault(job.model, job)
    for label, job in seen.items():
        t = job.tune
        trials = "no trial limit" if t.get("trials") is None else f"{t['trials']} trials"
        n = sum(1 for j in tuned if j.model == label)
        fits = fits_per_job(job)
        lines.append(
            f"tune {label}: {trials} or {t['timeout']:g} s per job, whichever ends first "
            f"({t.get('sampler', 'tpe')} sampler, {n} jobs, "
            + ("fits bounded by time only" if fits is None else f"at most {fits} fits per job")
            + ")"
        )
    bounds = [fits_per_job(job) for job in jobs]
    if any(b is None for b in bounds):
        total = sum(b for b in bounds if b is not None)
        lines.append(
            f"total fits: at least {total}; no upper bound, since a model tunes by `seconds` only "
            "(add `trials:` to bound it)"
        )
    else:
        lines.append(
            f"total fits: at most {sum(bounds)} for {len(jobs)} jobs (trials + refits; pruned trials fit less)"
        )
    return lines
