"""The checks of a suite that need more than its structure: registries, files, the YAML itself.

Each check reports into a :class:`~mlbench.suite.locations.Problems` and returns what it
validated, so one pass shows the user every problem at once. The registries (datasets, models,
metrics, executor kinds) are imported inside the checks: importing this module stays cheap for
code that only needs :class:`~mlbench.suite.jobs.Job`.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import yaml

from mlbench.errors import ConfigError, did_you_mean
from mlbench.suite.jobs import (
    DEFAULT_IMPORTANCE_REPEATS,
    ENSEMBLE_KINDS,
    DatasetEntry,
    EnsembleSpec,
    ModelSpec,
)
from mlbench.suite.locations import Problems, dotted
from mlbench.suite.schema import TASK_TYPES, Resampling


def check_plugins(value: Any, base_dir: Path, problems: Problems, *, load: bool) -> tuple[str, ...]:
    """The ``plugins:`` entries as workers will import them (files made absolute).

    Parameters
    ----------
    value : Any
        The ``plugins:`` value as loaded (pydantic reports a value that is not a list of strings).
    base_dir : Path
        The suite file's folder.
    problems : Problems
        Where a plugin that fails to import is reported.
    load : bool
        Import them now (:func:`check_machine`, when a run starts or ``mlbench validate``: plugins
        register models, metrics and executor kinds, so they load before anything is checked
        against a registry). False only resolves the names: reading a suite never runs its code.
    """
    if not isinstance(value, list):
        return ()
    out = []
    for i, ref in enumerate(value):
        if not isinstance(ref, str):
            continue  # pydantic reported it
        if load:
            from mlbench.plugins import load_plugin

            try:
                load_plugin(ref, base_dir)
            except ConfigError as exc:
                problems.add(("plugins", i), str(exc))
                continue
        # absolute, so workers started from another folder find the same file
        out.append(str((base_dir / ref).resolve()) if ref.endswith(".py") or "/" in ref else ref)
    return tuple(out)


_MAX_NODES = 100_000


def check_aliases(root: yaml.Node | None, problems: Problems) -> None:
    """Report a value that contains itself through an alias, or a document that expands too far."""
    # YAML aliases can make a value contain itself (`&a [*a]`), which crashes json.dumps (labels,
    # job ids), or expand exponentially ("billion laughs"), which hangs every later walk. Count the
    # expanded size once per distinct node (memoised), so this walk itself stays linear.
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node, mark: yaml.Mark) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in active:
            problems.add_at(
                mark.line + 1,
                mark.column + 1,
                "(YAML)",
                "a value contains itself through an alias (*); write the value out instead",
            )
            raise _Abort
        active.add(id(node))
        total = 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                total += size(k, k.start_mark) + size(v, k.start_mark)
        elif isinstance(node, yaml.SequenceNode):
            for v in node.value:
                total += size(v, v.start_mark)
        active.discard(id(node))
        sizes[id(node)] = total
        return total

    if root is None:
        return
    try:
        total = size(root, root.start_mark)
    except _Abort:
        return
    except RecursionError:
        total = _MAX_NODES + 1
    if total > _MAX_NODES:
        problems.add_at(
            1,
            1,
            "(YAML)",
            f"the document expands to over {_MAX_NODES} values (aliases nested in aliases); "
            "write it without nested aliases",
        )


class _Abort(Exception):
    pass


def check_duplicate_keys(node: Any, path: tuple, problems: Problems, depth: int = 0) -> None:
    """Report every mapping key that appears twice in the same mapping (under ``node``)."""
    # yaml.safe_load silently keeps the last duplicate key; a suite with two `models:` is a mistake
    if depth > 50:
        return
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode):
                if k.value in seen:
                    problems.add_at(
                        k.start_mark.line + 1,
                        k.start_mark.column + 1,
                        dotted((*path, k.value)),
                        f"key {k.value!r} appears twice; keep one",
                    )
                seen.add(k.value)
                check_duplicate_keys(v, (*path, k.value), problems, depth + 1)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            check_duplicate_keys(v, (*path, i), problems, depth + 1)


def check_datasets(
    entries: Any, base_dir: Path, problems: Problems, *, files: bool = True
) -> list[DatasetEntry]:
    """Check the ``datasets:`` entries (sources, keys, unique names; with ``files``, the files) without loading data."""
    from mlbench.datasets import (
        ALLOWED_KEYS,
        BUILTIN_NAMES,
        SOURCE_KEYS,
        check_spec,
        dataset_entry,
        dataset_name,
    )

    if not isinstance(entries, list):
        return []  # pydantic reported it
    out: list[DatasetEntry] = []
    names: dict[str, int] = {}
    for i, entry, loc in _expand_openml_suites(entries, problems, files=files):
        entry = dataset_entry(entry)
        if not isinstance(entry, dict) or not all(isinstance(k, str) for k in entry):
            problems.add(
                loc, "a dataset entry is a mapping like `{builtin: digits}` or `{csv: file.csv, target: y}`"
            )
            continue
        sources = [k for k in entry if k in SOURCE_KEYS]
        if len(sources) != 1:
            what = "no source key" if not sources else f"several source keys ({', '.join(sources)})"
            problems.add(loc, f"{what}; give exactly one of: {', '.join(SOURCE_KEYS)}")
            continue
        source = sources[0]
        allowed = set(ALLOWED_KEYS[source]) | {source}
        bad = False
        for key in entry:
            if key not in allowed:
                hint = did_you_mean(key, allowed)
                problems.add(
                    (*loc, key),
                    f"unknown key {key!r} for a {source} dataset.{hint}"
                    f" Valid keys: {', '.join(sorted(allowed))}",
                    key=True,
                )
                bad = True
        if source == "builtin" and entry[source] not in BUILTIN_NAMES:
            hint = did_you_mean(str(entry[source]), BUILTIN_NAMES)
            problems.add(
                (*loc, source),
                f"unknown builtin dataset {entry[source]!r}.{hint} Valid: {', '.join(BUILTIN_NAMES)}",
            )
            continue
        if bad:
            continue
        bad_key = _first_unkeyable(entry)
        if bad_key is not None:
            problems.add((*loc, bad_key), _UNKEYABLE)
            continue
        try:
            found = check_spec(entry, base_dir, files=files)
        except Exception as exc:  # a malformed value: report it, never a traceback
            found = [f"invalid dataset entry ({type(exc).__name__}: {exc}); check its values"]
        for message in found:
            problems.add((*loc, source), message)
        if found:
            continue
        name = dataset_name(entry)
        if name in names:
            problems.add(
                loc, f"dataset name {name!r} is used twice (entry {names[name]}); add `name: other_name`"
            )
            continue
        names[name] = i
        out.append(DatasetEntry(name=name, spec=entry))
    return out


def _expand_openml_suites(
    entries: list[Any], problems: Problems, *, files: bool
) -> list[tuple[int, Any, tuple[Any, ...]]]:
    """``(index, entry, location)`` of each dataset entry, an ``openml_suite: <id>`` replaced by its tasks.

    A suite's entry becomes one ``{openml_task: <id>}`` per task of the study (with the entry's
    ``folds``), in the study's order, all located at the suite's entry. The list of tasks comes
    from the cache (:func:`mlbench.datasets.openml.suite_tasks`); with ``files`` (the machine
    check) it is downloaded once when missing. Reading a suite is pure: a study not cached yet
    then expands to nothing until the machine check (:func:`mlbench.suite.check_machine`, the
    first step of a run) has fetched it.
    """
    out: list[tuple[int, Any, tuple[Any, ...]]] = []
    for i, entry in enumerate(entries):
        loc = ("datasets", i)
        if not (isinstance(entry, dict) and "openml_suite" in entry):
            out.append((i, entry, loc))
            continue
        from mlbench.datasets.openml import check_positive_id, check_task_folds, suite_tasks
        from mlbench.errors import DatasetError

        extra = sorted(set(entry) - {"openml_suite", "folds"})
        if extra:
            hint = did_you_mean(str(extra[0]), ["folds"])
            problems.add(
                (*loc, extra[0]),
                f"unknown key {extra[0]!r} for an openml_suite entry.{hint} Valid keys: folds, openml_suite",
                key=True,
            )
            continue
        name = f"openml_suite_{entry['openml_suite']}"
        try:
            study = check_positive_id(entry["openml_suite"], name, "openml_suite")
            check_task_folds(entry.get("folds"), name)
            tasks = suite_tasks(study, name, download=files)
        except DatasetError as exc:
            problems.add((*loc, "openml_suite"), str(exc))
            continue
        folds = {"folds": entry["folds"]} if entry.get("folds") is not None else {}
        out.extend((i, {"openml_task": task, **folds}, loc) for task in tasks or [])
    return out


_UNKEYABLE = (
    "a mapping in this value has keys of mixed or unusual types (e.g. text and numbers, or dates); "
    "quote its keys so they are all text"
)


def _first_unkeyable(entry: dict[str, Any]) -> str | None:
    # job ids and labels are JSON with sorted keys: keys that do not sort together (`{0: a, b: c}`)
    # or that JSON cannot write (dates) would crash expand() with a TypeError
    for key, value in entry.items():
        try:
            json.dumps(value, sort_keys=True, default=str)
        except TypeError:
            return key
    return None


def _format_value(v: Any) -> str:
    return json.dumps(v, sort_keys=True, default=str) if isinstance(v, dict | list) else str(v)


def _one_key_entry(
    entry: Any, loc: tuple[Any, ...], problems: Problems, noun: str, what: str, example: str, shape: str
) -> tuple[str, dict[str, Any]] | None:
    """A model or ensemble entry: a name (``- knn``) or a one-key mapping (``- knn: {...}``).

    Returns (name, options), or None after reporting the problem at ``loc``: ``noun`` names the
    key ("model name"), ``what`` the options ("parameters"), ``example`` is a valid entry
    (``knn: {n_neighbors: 5}``), ``shape`` says both valid shapes.
    """
    if isinstance(entry, str):
        return entry, {}
    if not (isinstance(entry, dict) and len(entry) == 1):
        problems.add(loc, shape)
        return None
    name, options = next(iter(entry.items()))
    options = {} if options is None else options
    if not isinstance(name, str):
        problems.add(loc, f"{noun} {name!r} is not a string; write e.g. `- {example.split(':')[0]}`")
        return None
    if not isinstance(options, dict) or not all(isinstance(k, str) for k in options):
        problems.add((*loc, name), f"{what} of {name!r} must be a mapping like `{example.split(': ', 1)[1]}`")
        return None
    bad_key = _first_unkeyable(options)
    if bad_key is not None:
        problems.add((*loc, name, bad_key), _UNKEYABLE)
        return None
    return name, options


def check_models(entries: Any, problems: Problems, *, pending: bool = False) -> list[ModelSpec]:
    """Check the ``models:`` entries against the model registry; expand grids into one spec each.

    With ``pending`` (the suite lists plugins that were not imported: a suite read back from a
    run) a name the registry lacks is taken as a plugin's model: its parameters are not checked,
    and it expands into the same specs (and job ids) as when the plugin is loaded.
    """
    from mlbench.models import MODELS

    if not isinstance(entries, list):
        return []
    specs: list[tuple[str, dict[str, Any], int, str | None, str, bool, tuple, dict | None, dict | None]] = []
    for i, entry in enumerate(entries):
        loc = ("models", i)
        parsed = _one_key_entry(
            entry,
            loc,
            problems,
            "model name",
            "parameters",
            "knn: {n_neighbors: 5}",
            "a model entry is a name (`- knn`) or a one-key mapping (`- knn: {n_neighbors: 5}`)",
        )
        if parsed is None:
            continue
        name, params = parsed
        if name not in MODELS and not pending:
            hint = did_you_mean(name, MODELS.names())
            problems.add(
                loc if isinstance(entry, str) else (*loc, name),
                f"unknown model {name!r}.{hint} Valid models: {', '.join(MODELS.names())}",
                key=not isinstance(entry, str),
            )
            continue
        info = MODELS.get(name) if name in MODELS else None
        options = {k: params[k] for k in RESERVED_MODEL_KEYS if k in params}
        params = {k: v for k, v in params.items() if k not in RESERVED_MODEL_KEYS}
        ploc = (*loc, name)
        bad = False
        sanity = options.get("sanity", False)
        if not isinstance(sanity, bool):
            problems.add((*ploc, "sanity"), f"sanity must be true or false, got {sanity!r}")
            bad = True
        label = options.get("label")
        if label is not None and (not isinstance(label, str) or not label.strip()):
            problems.add((*ploc, "label"), f"label must be a non-empty string, got {label!r}")
            bad = True
        importance = _check_importance(options.get("importance", False), (*ploc, "importance"), problems)
        bad = bad or importance is False
        grid = options.get("grid", {})
        if not isinstance(grid, dict) or not all(isinstance(v, list) and v for v in grid.values()):
            problems.add(
                (*ploc, "grid"),
                "grid is a mapping of parameter -> non-empty list, e.g. `grid: {arch: [resnet10t, resnet18]}`",
            )
            bad, grid = True, {}
        for key in grid:
            if key in params:
                problems.add(
                    (*ploc, "grid", key), f"{key!r} is set both directly and in grid; keep one", key=True
                )
                bad = True
        for key, message in info_param_problems(info, {**params, **dict.fromkeys(grid)}) if info else []:
            where = (*ploc, "grid", key) if key in grid else (*ploc, key)
            problems.add(where, message, key=True)
            bad = True
        tune = None
        if "tune" in options:
            tune = _check_tune(info, options["tune"], {**params, **grid}, ploc, problems)
            bad = bad or tune is None
        if bad:
            continue
        for combo in itertools.product(*grid.values()) if grid else [()]:
            variant = {**params, **dict(zip(grid, combo, strict=True))}
            for message in info.check(variant) if info is not None and info.check else []:
                problems.add(ploc, message)
                bad = True
                break
            if bad:
                break
            tag = ", ".join(f"{k}={_format_value(v)}" for k, v in zip(grid, combo, strict=True))
            specs.append((name, variant, i, label, tag, sanity, ploc, tune, importance))
    counts: dict[str, int] = {}
    for name, *_ in specs:
        counts[name] = counts.get(name, 0) + 1
    out: list[ModelSpec] = []
    labels: dict[str, int] = {}
    configs: dict[str, int] = {}
    for name, params, i, label, tag, sanity, ploc, tune, importance in specs:
        if label is None:
            label = name
            if tag:
                label = f"{name}({tag})"
            elif counts[name] > 1 and params:
                label = (
                    f"{name}(" + ", ".join(f"{k}={_format_value(v)}" for k, v in sorted(params.items())) + ")"
                )
        elif tag:
            label = f"{label}({tag})"
        if tune is not None:
            # a tuned model's label is its untuned twin's with "tuned" added: knn -> knn(tuned),
            # xgboost(max_depth=3) -> xgboost(max_depth=3, tuned); the report pairs them by it
            label = f"{label[:-1]}, tuned)" if label.endswith(")") else f"{label}(tuned)"
        if label in labels:
            problems.add(
                ("models", i),
                f"model {label!r} is listed twice (entry {labels[label]}); remove one or set `label:`",
            )
            continue
        # the job id hashes the model name and parameters (not the label): two entries that train
        # the same thing would share ids and overwrite each other's results
        same = json.dumps([name, params, tune], sort_keys=True, default=str)
        if same in configs:
            problems.add(
                ("models", i),
                f"model {label!r} trains the same model with the same parameters as entry {configs[same]}; "
                "remove one (a different `label:` does not make it a different model)",
            )
            continue
        configs[same] = i
        labels[label] = i
        line, col = problems.locate(ploc)
        where = f"{problems.filename}:{line}:{col}"
        out.append(
            ModelSpec(
                name=name,
                label=label,
                params=dict(params),
                sanity=sanity,
                where=where,
                tune=tune,
                importance=importance,
            )
        )
    return out


def _check_tune(
    info: Any, value: Any, fixed: dict[str, Any], ploc: tuple, problems: Problems
) -> dict[str, Any] | None:
    """A model entry's ``tune:`` block, checked (see :func:`mlbench.suite.tune.check_tune`).

    ``info`` is None for a plugin's model whose plugin is not loaded (its space is not checked).
    Whether Optuna is installed is a machine check (:func:`check_machine`), not one of the suite.
    """
    from mlbench.suite.tune import check_tune

    return check_tune(info, value, fixed, (*ploc, "tune"), problems.add)


def with_baseline(models: list[ModelSpec], problems: Problems) -> list[ModelSpec]:
    """The suite's models plus the baseline (``dummy``), unless a model entry is the dummy already.

    Every run judges its models against always predicting the training prior (classification)
    or mean (regression); ``baseline: false`` leaves it out. The label ``dummy`` is the
    baseline's: another model labelled so is a config error.
    """
    from mlbench.models.sklearn_models import BASELINE

    if any(m.name == BASELINE for m in models):
        return models
    clash = next((i for i, m in enumerate(models) if m.label == BASELINE), None)
    if clash is not None:
        problems.add(
            ("models", clash),
            f"the label {BASELINE!r} is the baseline's (the dummy model every run includes); "
            "give this model another `label:`, or set `baseline: false`",
        )
        return models
    line, col = problems.locate(("models",))
    where = f"{problems.filename}:{line}:{col}"
    return [*models, ModelSpec(name=BASELINE, label=BASELINE, params={}, where=where)]


#: Model-entry keys that are mlbench options, not estimator parameters.
RESERVED_MODEL_KEYS = ("grid", "sanity", "label", "tune", "importance")

_IMPORTANCE_USAGE = "importance is true, false or a mapping like `{n_repeats: 10}`"


def _check_importance(value: Any, loc: tuple, problems: Problems) -> dict[str, Any] | bool | None:
    """``importance:`` of a model entry: ``{"n_repeats": n}``, None when off, False after a problem."""
    if value is False or value is None:
        return None
    if value is True:
        return {"n_repeats": DEFAULT_IMPORTANCE_REPEATS}
    if not isinstance(value, dict):
        problems.add(loc, f"{_IMPORTANCE_USAGE}, got {value!r}")
        return False
    for key in value:
        if key != "n_repeats":
            problems.add(
                (*loc, key),
                f"unknown key {key!r} in importance.{did_you_mean(str(key), ['n_repeats'])} "
                "Valid keys: n_repeats",
                key=True,
            )
            return False
    n = value.get("n_repeats", DEFAULT_IMPORTANCE_REPEATS)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 1000:
        problems.add(
            (*loc, "n_repeats"),
            f"n_repeats is the shuffles per feature, a whole number from 1 to 1000; got {n!r}",
        )
        return False
    return {"n_repeats": n}


def info_param_problems(info: Any, params: dict[str, Any]) -> list[tuple[str, str]]:
    """(parameter, message) for each parameter name the model does not accept."""
    bad = [k for k in params if k not in info.valid_params()]
    return list(zip(bad, info.check_params({k: None for k in bad}), strict=True))


def check_metrics(value: Any, problems: Problems) -> dict[str, list[str]]:
    """Check ``metrics:`` (a list, or a mapping per task type); return task type -> metric names."""
    from mlbench.metrics import DEFAULT_METRICS, METRICS

    out = {task: list(names) for task, names in DEFAULT_METRICS.items()}
    if value is None:
        return out
    if isinstance(value, list):
        per_task: dict[str, list[Any]] = {}
        for j, name in enumerate(value):
            if not isinstance(name, str) or name not in METRICS:
                hint = did_you_mean(str(name), METRICS.names())
                problems.add(
                    ("metrics", j), f"unknown metric {name!r}.{hint} Valid: {', '.join(METRICS.names())}"
                )
                continue
            per_task.setdefault(METRICS.get(name).task_type, []).append(name)
        # a flat list may mix task types: each task keeps its own order, first listed = primary
        out.update(per_task)
        return out
    if isinstance(value, dict):
        for task, names in value.items():
            if task not in TASK_TYPES:
                hint = did_you_mean(str(task), TASK_TYPES)
                problems.add(
                    ("metrics", task), f"unknown task type {task!r}.{hint} Use: {', '.join(TASK_TYPES)}", True
                )
                continue
            if not isinstance(names, list) or not names:
                problems.add(("metrics", task), "give a non-empty list of metric names")
                continue
            good = []
            for j, name in enumerate(names):
                metric = METRICS.get(name) if isinstance(name, str) and name in METRICS else None
                if metric is None or metric.task_type != task:
                    valid = [m for m in METRICS.names() if METRICS.get(m).task_type == task]
                    hint = did_you_mean(str(name), valid)
                    problems.add(
                        ("metrics", task, j),
                        f"{name!r} is not a {task} metric.{hint} Valid: {', '.join(valid)}",
                    )
                    continue
                good.append(name)
            out[task] = good
        return out
    problems.add(("metrics",), "metrics is a list (`[accuracy, log_loss]`) or a mapping per task type")
    return out


def check_executor(value: Any, problems: Problems, *, pending: bool = False) -> None:
    """Check ``executor.kind`` against the executor registry (:data:`mlbench.registry.EXECUTORS`).

    Run after the plugins are loaded, since a plugin may register a kind (``ray``, ...); with
    ``pending`` (plugins listed, not imported) an unknown kind is taken as a plugin's. Other
    problems of the section (unknown keys, a kind that is not a string) are pydantic's to report;
    whether this machine has the GPUs it names is :func:`check_machine`'s.
    """
    from mlbench.registry import EXECUTORS

    kind = value.get("kind") if isinstance(value, dict) else None
    if not isinstance(kind, str) or kind in EXECUTORS or pending:
        return
    hint = did_you_mean(kind, EXECUTORS.names())
    problems.add(
        ("executor", "kind"),
        f"unknown executor kind {kind!r}.{hint} Valid kinds: {', '.join(EXECUTORS.names())} "
        "(a plugin can register more)",
    )


def check_local_gpus(value: Any, problems: Problems) -> None:
    """An explicit ``executor.gpus`` count or list must name cards this machine has (a machine check).

    Only explicit values are checked (``auto`` fits any machine), and only for the local
    executor: a Dask cluster's GPUs live on its workers.
    """
    kind = value.get("kind") if isinstance(value, dict) else None
    if kind not in (None, "local"):
        return
    gpus = value.get("gpus") if isinstance(value, dict) else None
    if gpus is None or gpus == "auto" or isinstance(gpus, bool) or gpus == 0:
        return
    if not (isinstance(gpus, int) or (isinstance(gpus, list) and all(isinstance(g, int) for g in gpus))):
        return  # the wrong shape is the schema's to report
    from mlbench.hardware import resolve_gpus

    try:
        resolve_gpus(gpus)
    except ConfigError as exc:
        problems.add(("executor", "gpus"), str(exc).removeprefix("executor.gpus: "))


def check_extras(data: dict[str, Any], problems: Problems) -> None:
    """Optional libraries the suite needs on this machine (a machine check): Optuna to tune, the
    libraries of model families from an extra (``lightgbm`` and ``catboost``: ``mlbench[boosters]``)."""
    models = data.get("models")
    if not isinstance(models, list):
        return
    missing: str | None = None
    for i, entry in enumerate(models):
        name = (
            entry if isinstance(entry, str) else next(iter(entry), None) if isinstance(entry, dict) else None
        )
        if isinstance(name, str):
            for message in _family_extra_missing(name):
                at = ("models", i) if isinstance(entry, str) else ("models", i, name)
                problems.add(at, message, key=not isinstance(entry, str))
        if not (isinstance(entry, dict) and len(entry) == 1):
            continue
        ((name, params),) = entry.items()
        if isinstance(params, dict) and "tune" in params:
            if missing is None:
                from mlbench.suite.tune import optuna_missing

                missing = optuna_missing() or ""
            if missing:
                problems.add(("models", i, name, "tune"), missing, key=True)


def _family_extra_missing(name: str) -> list[str]:
    """Why a family from an mlbench extra cannot run here (its library is not installed); [] if it can."""
    from mlbench.models import MODELS

    if name not in MODELS or not MODELS.get(name).extra:
        return []
    from mlbench._optional import MissingDependency, require

    info = MODELS.get(name)
    for module in info.modules:
        try:
            require(module, extra=info.extra)
        except MissingDependency:
            return [
                f"model {name!r} needs {module}, which is not installed; install mlbench[{info.extra}] "
                f"(`pip install 'mlbench[{info.extra}]'`)"
            ]
    return []


#: Keys of an ``ensembles:`` entry per kind, besides the common ``members`` and ``label``.
ENSEMBLE_KEYS: dict[str, tuple[str, ...]] = {
    "caruana": ("size", "seed"),
    "stacking": ("final", "final_params"),
    "voting": ("weights",),
}
_COMMON_ENSEMBLE_KEYS = ("members", "label")
# Greedy selection converges within a few hundred rounds; a size in the millions would only make
# the analysis hang after the jobs have run.
_MAX_CARUANA_SIZE = 10_000
_DEFAULT_FINAL = "logistic_regression"


def check_ensembles(
    entries: Any,
    models: list[ModelSpec],
    resampling: Any,
    seed: Any,
    problems: Problems,
    models_complete: bool = True,
    pending: bool = False,
) -> list[EnsembleSpec]:
    """Check the ``ensembles:`` entries; return one :class:`~mlbench.suite.jobs.EnsembleSpec` each.

    Parameters
    ----------
    entries : Any
        The ``ensembles:`` value as loaded (pydantic reports a value that is not a list).
    models : list of ModelSpec
        The suite's models after grid expansion: members name their labels.
    resampling : Any
        The ``resampling:`` value as loaded, for the honest-validation rule.
    seed : Any
        The suite's ``seed:`` (the default seed of Caruana selection).
    problems : Problems
        Where problems are reported.
    models_complete : bool
        False when some model entries had problems: members are then not checked against the
        labels (a label of a broken entry would be reported twice).
    pending : bool
        Plugins are listed but not imported: a meta-model name the registry lacks is a plugin's.
    """
    if not isinstance(entries, list) or not entries:
        return []
    _check_honest_validation(resampling, problems)
    from mlbench.models import MODELS

    labels = [m.label for m in models]
    default_seed = seed if isinstance(seed, int) and not isinstance(seed, bool) else 0
    found: list[
        tuple[str, str | None, tuple[str, ...] | None, dict[str, Any], dict[str, Any], int, tuple]
    ] = []
    for i, entry in enumerate(entries):
        loc: tuple[Any, ...] = ("ensembles", i)
        parsed = _one_key_entry(
            entry,
            loc,
            problems,
            "ensemble kind",
            "options",
            "caruana: {size: 25}",
            "an ensemble entry is a kind (`- voting`) or a one-key mapping (`- caruana: {size: 25}`)",
        )
        if parsed is None:
            continue
        kind, options = parsed
        if kind not in ENSEMBLE_KINDS:
            hint = did_you_mean(kind, ENSEMBLE_KINDS)
            problems.add(
                loc if isinstance(entry, str) else (*loc, kind),
                f"unknown ensemble kind {kind!r}.{hint} Valid kinds: {', '.join(ENSEMBLE_KINDS)}",
                key=not isinstance(entry, str),
            )
            continue
        oloc = loc if isinstance(entry, str) else (*loc, kind)
        before = len(problems.items)
        allowed = (*_COMMON_ENSEMBLE_KEYS, *ENSEMBLE_KEYS[kind])
        for key in options:
            if key not in allowed:
                hint = did_you_mean(key, allowed)
                problems.add(
                    (*oloc, key),
                    f"unknown key {key!r} for a {kind} ensemble.{hint} Valid keys: {', '.join(allowed)}",
                    key=True,
                )
        members = _check_members(options.get("members"), oloc, labels, models_complete, problems)
        label = options.get("label")
        if label is not None and (not isinstance(label, str) or not label.strip()):
            problems.add((*oloc, "label"), f"label must be a non-empty string, got {label!r}")
        # who may be named (voting weights): None when the labels are unknown (broken model entries)
        pool = list(members) if members is not None else labels if models_complete else None
        final = options.get("final", _DEFAULT_FINAL)
        if kind == "stacking" and pending and isinstance(final, str) and final not in MODELS:
            # a plugin's meta-model while the plugin is not imported: taken as written
            given = options.get("final_params") or {}
            params = {
                "final": final,
                "final_given": "final" in options,
                "final_params": dict(given) if isinstance(given, dict) else {},
            }
        else:
            params = _ENSEMBLE_PARAMS[kind](
                options, oloc, pool, members is None, default_seed, MODELS, problems
            )
        if len(problems.items) > before:
            continue
        shown = {k: v for k, v in options.items() if k != "label"}
        found.append((kind, label, members, params, shown, i, oloc))

    counts: dict[str, int] = {}
    for kind, *_ in found:
        counts[kind] = counts.get(kind, 0) + 1
    taken = {label: "model" for label in labels}
    out: list[EnsembleSpec] = []
    for kind, label, members, params, shown, i, oloc in found:
        # a clash of a written label is reported at the label, of a default one at the entry
        at = (*oloc, "label") if label is not None else ("ensembles", i)
        if label is None:
            # like model labels: the parameters tell two entries of the same kind apart
            label = f"ensemble:{kind}"
            if counts[kind] > 1 and shown:
                label += "(" + ", ".join(f"{k}={_label_value(v)}" for k, v in sorted(shown.items())) + ")"
        if label in taken:
            what = (
                "is a model's label; give the ensemble another `label:`"
                if taken[label] == "model"
                else f"is listed twice ({taken[label]}); remove one or set `label:`"
            )
            problems.add(at, f"ensemble label {label!r} {what}")
            continue
        taken[label] = f"entry {i}"
        line, col = problems.locate(oloc)
        out.append(
            EnsembleSpec(
                kind=kind,
                label=label,
                members=members,
                params=params,
                where=f"{problems.filename}:{line}:{col}",
            )
        )
    return out


def _label_value(value: Any) -> str:
    # labels are read in tables and plots: `members=[knn, xgboost]`, not JSON's quoted strings
    if isinstance(value, list):
        return "[" + ", ".join(_label_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_label_value(v)}" for k, v in sorted(value.items())) + "}"
    return str(value)


def _check_honest_validation(resampling: Any, problems: Problems) -> None:
    """Refuse ensembles whose validation predictions would be in-sample (or absent)."""
    try:
        r = Resampling.model_validate(resampling if resampling is not None else {})
    except Exception:
        return  # the resampling section's own errors are reported by the schema
    fixes = (
        "set `resampling: {fit_on_val: false}` (a validation holdout inside each training fold) or "
        "`resampling: {val: cross_fit, inner_folds: 5}` (out-of-fold predictions for every training row; "
        "5 fits per job)"
    )
    if r.val == "holdout" and r.fit_on_val:
        problems.add(
            ("ensembles",),
            "ensembles are weighted on validation predictions, and with `fit_on_val: true` (the default) "
            "every model also trains on its validation rows: in-sample predictions that reward "
            f"memorisers (a decision tree scores 1.0 on its own training rows); {fixes}",
            key=True,
        )
    elif r.val == "holdout" and r.val_fraction == 0:
        problems.add(
            ("ensembles",),
            "`val_fraction: 0` leaves no validation rows to weigh ensemble members on; set val_fraction "
            "above 0 (e.g. 0.2) or use `resampling: {val: cross_fit, inner_folds: 5}`",
            key=True,
        )


def _check_members(
    value: Any, loc: tuple, labels: list[str], models_complete: bool, problems: Problems
) -> tuple[str, ...] | None:
    """The members an entry names (None: every model), each checked against the model labels."""
    if value is None:
        if models_complete and len(labels) < 2:
            problems.add(
                loc,
                f"an ensemble needs at least 2 models and the suite has {len(labels)}; "
                "add a model to `models:`",
            )
        return None
    mloc = (*loc, "members")
    if not isinstance(value, list) or not all(isinstance(m, str) for m in value):
        problems.add(mloc, "members is a list of model labels of this suite, e.g. `[xgboost, knn]`")
        return None
    seen: set[str] = set()
    for j, name in enumerate(value):
        if name in seen:
            problems.add((*mloc, j), f"member {name!r} is listed twice; list each model once")
            continue
        seen.add(name)
        if models_complete and name not in labels:
            problems.add((*mloc, j), f"{name!r} is not a model of this suite.{_label_hint(name, labels)}")
    if len(seen) < 2:
        problems.add(mloc, f"an ensemble needs at least 2 members, got {len(seen)}; list another model label")
    return tuple(value)


def _label_hint(name: str, labels: list[str], what: str = "Model labels") -> str:
    # a grid entry expands into one label per combination: `cnn` becomes `cnn(arch=resnet18)`, ...
    variants = [label for label in labels if label.startswith(f"{name}(")]
    if variants:
        return f" Its grid expands to: {', '.join(variants)}; list the labels you mean."
    return f"{did_you_mean(name, labels)} {what}: {', '.join(labels)}"


def _caruana_params(
    options: dict[str, Any],
    loc: tuple,
    pool: list[str] | None,
    every: bool,
    seed: int,
    models: Any,
    problems: Problems,
) -> dict[str, Any]:
    size = options.get("size", 25)
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= _MAX_CARUANA_SIZE:
        problems.add(
            (*loc, "size"),
            f"size is the number of greedy selection rounds, a whole number from 1 to {_MAX_CARUANA_SIZE}; "
            f"got {size!r} (25 is a good start)",
        )
    chosen = options.get("seed", seed)
    if isinstance(chosen, bool) or not isinstance(chosen, int) or not 0 <= chosen <= 2**31 - 1:
        problems.add((*loc, "seed"), f"seed must be a whole number from 0 to 2147483647, got {chosen!r}")
    return {"size": size, "seed": chosen}


def _stacking_params(
    options: dict[str, Any],
    loc: tuple,
    pool: list[str] | None,
    every: bool,
    seed: int,
    models: Any,
    problems: Problems,
) -> dict[str, Any]:
    final = options.get("final", _DEFAULT_FINAL)
    final_params = options.get("final_params", {})
    final_params = {} if final_params is None else final_params
    if not isinstance(final, str) or final not in models:
        hint = did_you_mean(str(final), models.names())
        problems.add(
            (*loc, "final"),
            f"unknown meta-model {final!r}.{hint} Valid models: {', '.join(models.names())}",
        )
        return {}
    info = models.get(final)
    if info.input_kind == "image":
        problems.add(
            (*loc, "final"),
            f"the meta-model learns from the members' predictions, a table, and {final!r} needs images; "
            f"use a tabular model such as {_DEFAULT_FINAL}",
        )
    ploc = (*loc, "final_params")
    if not isinstance(final_params, dict) or not all(isinstance(k, str) for k in final_params):
        problems.add(ploc, "final_params is a mapping of the meta-model's parameters, e.g. `{C: 0.1}`")
        return {}
    bad_key = _first_unkeyable(final_params)
    if bad_key is not None:
        problems.add((*ploc, bad_key), _UNKEYABLE)
        return {}
    bad = info_param_problems(info, final_params)
    for key, message in bad:
        problems.add((*ploc, key), message, key=True)
    if not bad and info.check:
        for message in info.check(final_params):
            problems.add(ploc, message)
    return {"final": final, "final_given": "final" in options, "final_params": dict(final_params)}


def _voting_params(
    options: dict[str, Any],
    loc: tuple,
    pool: list[str] | None,
    every: bool,
    seed: int,
    models: Any,
    problems: Problems,
) -> dict[str, Any]:
    weights = options.get("weights")
    if weights is None:
        return {"weights": None}
    wloc = (*loc, "weights")
    if not isinstance(weights, dict) or not weights or not all(isinstance(k, str) for k in weights):
        problems.add(wloc, "weights is a mapping of member label -> weight >= 0, e.g. `{xgboost: 2, knn: 1}`")
        return {"weights": None}
    out: dict[str, float] = {}
    for name, weight in weights.items():
        if pool is not None and name not in pool:
            whose, what = (
                ("a model of this suite", "Model labels")
                if every
                else ("a member of this ensemble", "Members")
            )
            problems.add((*wloc, name), f"{name!r} is not {whose}.{_label_hint(name, pool, what)}", key=True)
            continue
        try:
            number = (
                float(weight)
                if isinstance(weight, int | float) and not isinstance(weight, bool)
                else math.nan
            )
        except OverflowError:  # an integer too large for a float
            number = math.nan
        if not (math.isfinite(number) and number >= 0):
            problems.add((*wloc, name), f"a weight is a number >= 0, got {weight!r}")
            continue
        out[name] = number
    if pool is not None and len(out) == len(weights) and set(pool) <= set(out) and not any(out.values()):
        # members left out of `weights` weigh 1, so only an all-zero complete list has no vote
        problems.add(wloc, "every weight is 0; give at least one member a positive weight")
    return {"weights": out}


_ENSEMBLE_PARAMS = {"caruana": _caruana_params, "stacking": _stacking_params, "voting": _voting_params}


# --------------------------------------------------------------------------------------------------
# Resampling columns and parameters per task


def check_resampling(value: Any, problems: Problems) -> None:
    """``group_kfold`` needs ``group: COLUMN`` and ``time_series`` needs ``time: COLUMN``.

    The rest of the section (types, keys that only apply to another kind) is the schema's; whether
    the column is in the data is :func:`check_data`'s (a machine check: it reads the data).
    """
    if not isinstance(value, dict):
        return
    kind = value.get("kind")
    needed = {"group_kfold": ("group", "groups"), "time_series": ("time", "times")}.get(
        kind if isinstance(kind, str) else ""
    )
    if needed is None or value.get(needed[0]) is not None:
        return
    key, what = needed
    problems.add(
        ("resampling", "kind"),
        f"kind: {kind} needs `{key}: COLUMN`, the column that holds the {what} "
        f"(e.g. `resampling: {{kind: {kind}, {key}: {'store' if key == 'group' else 'date'}, folds: 5}}`)",
    )


def _model_entries(entries: Any) -> list[tuple[int, str, dict[str, Any]]]:
    """``(index, name, options)`` of each well-formed model entry (the others are reported elsewhere)."""
    out = []
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        if isinstance(entry, str):
            out.append((i, entry, {}))
        elif isinstance(entry, dict) and len(entry) == 1:
            ((name, options),) = entry.items()
            options = {} if options is None else options
            if isinstance(name, str) and isinstance(options, dict):
                out.append((i, name, options))
    return out


def task_param_problems(
    entries: Any, tasks: dict[str, list[str]], problems: Problems, *, skip: set[str] | None = None
) -> None:
    """Report each model parameter the model's estimator does not take for a task of the suite.

    ``logistic_regression: {C: 0.1}`` is valid for classification, but on a regression dataset
    the model is Ridge, which has no ``C``: every such job would fail. Checked for each task a
    dataset of the suite has (and the model supports: jobs of a task the model does not support
    are skipped), on the entry's parameters and its ``grid:`` keys. Names no task knows are
    :func:`check_models`' to report.

    Parameters
    ----------
    entries : Any
        The ``models:`` value as loaded.
    tasks : dict of str to list of str
        Task type -> the datasets of that task.
    problems : Problems
    skip : set of str, optional
        ``(model index, key, task)`` already reported, as ``"i:key:task"``; updated.
    """
    from mlbench.models import MODELS

    seen = skip if skip is not None else set()
    for i, name, options in _model_entries(entries):
        if name not in MODELS:
            continue
        info = MODELS.get(name)
        grid = options.get("grid") if isinstance(options.get("grid"), dict) else {}
        keys = [(k, (name, k)) for k in options if k not in RESERVED_MODEL_KEYS]
        keys += [(k, (name, "grid", k)) for k in grid if isinstance(k, str)]
        known = info.valid_params()
        for task, names in tasks.items():
            if task not in info.task_types:
                continue
            valid = info.param_names.get(task, frozenset())
            for key, path in keys:
                tag = f"{i}:{key}:{task}"
                if key not in known or key in valid or tag in seen:
                    continue
                seen.add(tag)
                others = [t for t, ps in info.param_names.items() if key in ps]
                shown = ", ".join(repr(n) for n in names[:5]) + (
                    f" and {len(names) - 5} more" if len(names) > 5 else ""
                )
                problems.add(
                    ("models", i, *path),
                    f"{name} takes {key!r} for {' and '.join(others)} only, and dataset{'s' if len(names) > 1 else ''} "
                    f"{shown} {'are' if len(names) > 1 else 'is'} {task}: every such job would fail. Valid {task} "
                    f"parameters of {name}: {', '.join(sorted(valid)) or '(none)'}; remove {key!r}, or put the "
                    f"{task} datasets in a suite of their own",
                    key=True,
                )


def check_task_params(entries: Any, datasets: list[DatasetEntry], problems: Problems) -> None:
    """:func:`task_param_problems` for the datasets whose task is known from the spec alone
    (builtin sets, image folders, ``task:``); the others are checked against their data by
    :func:`check_data`."""
    from mlbench.datasets import known_task

    tasks: dict[str, list[str]] = {}
    for ds in datasets:
        task = known_task(ds.spec)
        if task is not None:
            tasks.setdefault(task, []).append(ds.name)
    task_param_problems(entries, tasks, problems)


def _task_dependent(entries: Any) -> bool:
    """Whether some model entry sets a parameter that only some of its task types take."""
    from mlbench.models import MODELS

    for _, name, options in _model_entries(entries):
        if name not in MODELS:
            continue
        info = MODELS.get(name)
        grid = options.get("grid") if isinstance(options.get("grid"), dict) else {}
        for key in [*options, *grid]:
            if any(key not in info.param_names.get(t, frozenset()) for t in info.task_types) and (
                key in info.valid_params()
            ):
                return True
    return False


def check_data(
    resampling: Resampling,
    seed: int,
    datasets: list[DatasetEntry],
    entries: Any,
    base_dir: Path,
    problems: Problems,
) -> None:
    """The checks that read the data (a machine check, run by :func:`mlbench.suite.check_machine`).

    * ``group_kfold`` / ``time_series``: the ``group:`` / ``time:`` column is in every dataset
      (not the target; a time column parses as dates or numbers), and there are groups or
      distinct times enough for the folds (and the gap);
    * parameters per task (:func:`task_param_problems`) for datasets whose task only the data
      says (a csv without ``task:``).

    A dataset is loaded only when one of these needs it; a dataset that fails to load for its own
    reasons is left to its jobs, which record its message.
    """
    from mlbench.datasets import known_task, load_dataset
    from mlbench.datasets.specs import SplitColumnError
    from mlbench.errors import MlbenchError

    column = resampling.column()
    task_check = _task_dependent(entries)
    dumped = resampling.model_dump()
    tasks: dict[str, list[str]] = {}
    for entry in datasets:
        wants_task = task_check and known_task(entry.spec) is None
        if column is None and not wants_task:
            continue
        try:
            data = load_dataset(entry.spec, base_dir, resampling=dumped)
        except SplitColumnError as exc:
            problems.add(("resampling", column[0] if column else "kind"), str(exc))
            continue
        except (MlbenchError, OSError, ValueError):
            continue  # the dataset's own problem: its jobs record it
        if wants_task:
            tasks.setdefault(data.task_type, []).append(entry.name)
        if column is not None and data.test_X is None:
            from mlbench.splits import RowSplitter

            try:
                RowSplitter.of(data, dumped).folds(seed)
            except MlbenchError as exc:
                where = "gap" if resampling.gap and "gap" in str(exc) else "folds"
                problems.add(("resampling", where), f"dataset '{entry.name}': {exc}")
    task_param_problems(entries, tasks, problems)
