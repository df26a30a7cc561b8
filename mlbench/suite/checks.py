"""The checks of a suite that need more than its structure: registries, files, the YAML itself.

Each check reports into a :class:`~mlbench.suite.locations.Problems` and returns what it
validated, so one pass shows the user every problem at once. The registries (datasets, models,
metrics, executor kinds) are imported inside the checks: importing this module stays cheap for
code that only needs :class:`~mlbench.suite.jobs.Job`.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import yaml

from mlbench.errors import ConfigError, did_you_mean
from mlbench.suite.jobs import DatasetEntry, ModelSpec
from mlbench.suite.locations import Problems, dotted
from mlbench.suite.schema import TASK_TYPES


def load_plugins(value: Any, base_dir: Path, problems: Problems) -> tuple[str, ...]:
    """Import the ``plugins:`` entries; return them as workers will import them (files absolute).

    Plugins register models, metrics and executor kinds, so they load before anything that is
    checked against a registry.
    """
    from mlbench.plugins import load_plugin

    if not isinstance(value, list):
        return ()
    out = []
    for i, ref in enumerate(value):
        if not isinstance(ref, str):
            continue  # pydantic reported it
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


def check_datasets(entries: Any, base_dir: Path, problems: Problems) -> list[DatasetEntry]:
    """Check the ``datasets:`` entries (sources, keys, files, unique names) without loading data."""
    from mlbench.datasets import ALLOWED_KEYS, BUILTIN_NAMES, SOURCE_KEYS, check_spec, dataset_name

    if not isinstance(entries, list):
        return []  # pydantic reported it
    out: list[DatasetEntry] = []
    names: dict[str, int] = {}
    for i, entry in enumerate(entries):
        loc = ("datasets", i)
        if isinstance(entry, str):
            # shorthand: `- digits` means `- builtin: digits`
            entry = {"builtin": entry}
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
            found = check_spec(entry, base_dir)
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


def check_models(entries: Any, problems: Problems) -> list[ModelSpec]:
    """Check the ``models:`` entries against the model registry; expand grids into one spec each."""
    from mlbench.models import MODELS

    if not isinstance(entries, list):
        return []
    specs: list[tuple[str, dict[str, Any], int, str | None, str, bool, tuple]] = []
    for i, entry in enumerate(entries):
        loc = ("models", i)
        if isinstance(entry, str):
            name, params = entry, {}
        elif isinstance(entry, dict) and len(entry) == 1:
            name, params = next(iter(entry.items()))
            params = {} if params is None else params
            if not isinstance(name, str):
                problems.add(loc, f"model name {name!r} is not a string; write e.g. `- knn`")
                continue
            if not isinstance(params, dict) or not all(isinstance(k, str) for k in params):
                problems.add(
                    (*loc, name), f"parameters of {name!r} must be a mapping like `{{n_neighbors: 5}}`"
                )
                continue
            bad_key = _first_unkeyable(params)
            if bad_key is not None:
                problems.add((*loc, name, bad_key), _UNKEYABLE)
                continue
        else:
            problems.add(
                loc, "a model entry is a name (`- knn`) or a one-key mapping (`- knn: {n_neighbors: 5}`)"
            )
            continue
        if name not in MODELS:
            hint = did_you_mean(name, MODELS.names())
            problems.add(
                loc if isinstance(entry, str) else (*loc, name),
                f"unknown model {name!r}.{hint} Valid models: {', '.join(MODELS.names())}",
                key=not isinstance(entry, str),
            )
            continue
        info = MODELS.get(name)
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
        for key, message in info_param_problems(info, {**params, **dict.fromkeys(grid)}):
            where = (*ploc, "grid", key) if key in grid else (*ploc, key)
            problems.add(where, message, key=True)
            bad = True
        if bad:
            continue
        for combo in itertools.product(*grid.values()) if grid else [()]:
            variant = {**params, **dict(zip(grid, combo, strict=True))}
            for message in info.check(variant) if info.check else []:
                problems.add(ploc, message)
                bad = True
                break
            if bad:
                break
            tag = ", ".join(f"{k}={_format_value(v)}" for k, v in zip(grid, combo, strict=True))
            specs.append((name, variant, i, label, tag, sanity, ploc))
    counts: dict[str, int] = {}
    for name, *_ in specs:
        counts[name] = counts.get(name, 0) + 1
    out: list[ModelSpec] = []
    labels: dict[str, int] = {}
    configs: dict[str, int] = {}
    for name, params, i, label, tag, sanity, ploc in specs:
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
        if label in labels:
            problems.add(
                ("models", i),
                f"model {label!r} is listed twice (entry {labels[label]}); remove one or set `label:`",
            )
            continue
        # the job id hashes the model name and parameters (not the label): two entries that train
        # the same thing would share ids and overwrite each other's results
        same = json.dumps([name, params], sort_keys=True, default=str)
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
        out.append(ModelSpec(name=name, label=label, params=dict(params), sanity=sanity, where=where))
    return out


#: Model-entry keys that are mlbench options, not estimator parameters.
RESERVED_MODEL_KEYS = ("grid", "sanity", "label")


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


def check_executor(value: Any, problems: Problems) -> None:
    """Check ``executor.kind`` against the executor registry.

    Called after the plugins are loaded, since a plugin may register a kind (``ray``, ...). Other
    problems of the section (unknown keys, a kind that is not a string) are pydantic's to report.
    """
    from mlbench.execution.base import EXECUTORS

    kind = value.get("kind") if isinstance(value, dict) else None
    if not isinstance(kind, str) or kind in EXECUTORS:
        return
    hint = did_you_mean(kind, EXECUTORS.names())
    problems.add(
        ("executor", "kind"),
        f"unknown executor kind {kind!r}.{hint} Valid kinds: {', '.join(EXECUTORS.names())} "
        "(a plugin can register more)",
    )
