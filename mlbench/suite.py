"""Suite files: load, validate (every problem as ``FILE:LINE:COL: path: what, and the fix``), expand.

A suite is YAML read with ``yaml.safe_load``; its structure is checked by pydantic models and its
free-form parts (dataset and model entries) by hand against the dataset and model registries.
Locations come from ``yaml.compose`` nodes, so each message points at the offending line.
Expanding a suite is pure: the same file always gives the same jobs with the same ids.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from mlbench.errors import ConfigError, did_you_mean

TASK_TYPES = ("classification", "regression")


# --------------------------------------------------------------------------------------------
# structure (pydantic)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Resampling(_Strict):
    """How rows are split into train and test.

    ``kfold`` uses ``StratifiedKFold(folds, shuffle=True, random_state=seed)`` for classification
    and ``KFold`` for regression; ``repeated_kfold`` the Repeated* variants; ``holdout`` one
    ``train_test_split(test_size, stratify=y)``. Each training fold also yields a fixed,
    stratified validation split of ``val_fraction`` of its rows. With ``fit_on_val: true`` (the
    default) models still train on the whole training fold, so scores equal plain sklearn's; set it
    to false to keep the validation rows out of every fit (clean validation predictions).
    Models that early-stop hold their stopping rows out of their own training subset.
    """

    kind: Literal["kfold", "holdout", "repeated_kfold"] = "kfold"
    folds: int = Field(5, ge=2)
    repeats: int = Field(1, ge=1)
    test_size: float = Field(0.2, gt=0, lt=1)
    val_fraction: float = Field(0.2, ge=0, lt=1)
    fit_on_val: bool = True

    def n_folds(self) -> int:
        """Number of train/test splits this resampling yields."""
        if self.kind == "holdout":
            return 1
        if self.kind == "repeated_kfold":
            return self.folds * self.repeats
        return self.folds


def _train_size(v: Any) -> Any:
    # checked per element, so an error points at the offending size, not at the whole list
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ValueError(f"train size {v!r} is not a number; write a row count (100) or a fraction (0.5)")
    if isinstance(v, int) and v < 2:
        raise ValueError(f"train size {v} is a row count below 2; for the full training set write 1.0")
    if isinstance(v, float) and (math.isnan(v) or not (0 < v <= 1)):
        raise ValueError(f"train size {v} must be a fraction in (0, 1] or an integer row count")
    return v


class Sweep(_Strict):
    """Training-set sizes (ints: row counts, floats in (0, 1]: fractions) and repeats of each."""

    # strict: a YAML `!!set` would otherwise pass as a list in arbitrary order
    train_sizes: list[Annotated[float | int, BeforeValidator(_train_size)]] = Field(
        default_factory=lambda: [1.0], min_length=1, strict=True
    )
    repeats: int = Field(1, ge=1)

    @field_validator("train_sizes")
    @classmethod
    def _unique(cls, value: list[float | int]) -> list[float | int]:
        if len(set(value)) != len(value):
            raise ValueError("train sizes repeat a value; list each size once")
        return value


class Budget(_Strict):
    """Per-job limits: a job over either is killed and recorded as ``timeout`` / ``oom``."""

    job_seconds: float = Field(3600.0, gt=0)
    job_memory_gb: float | None = Field(None, gt=0)


class ExecutorConfig(_Strict):
    """Where jobs run: a local process pool (default) or a Dask cluster."""

    kind: Literal["local", "dask"] = "local"
    workers: int | None = Field(None, ge=1)
    threads_per_job: int = Field(1, ge=1)
    address: str | None = None


class _SuiteFile(_Strict):
    name: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    seed: int = Field(0, ge=0, le=2**31 - 1)
    resampling: Resampling = Field(default_factory=Resampling)
    metrics: Any = None
    # strict lists: pydantic would accept a YAML `!!set` here, which the entry checks then skip,
    # leaving a "valid" suite with no datasets or models
    datasets: list[Any] = Field(min_length=1, strict=True)
    models: list[Any] = Field(min_length=1, strict=True)
    sweep: Sweep = Field(default_factory=Sweep)
    budget: Budget = Field(default_factory=Budget)
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    output: str | None = None
    plugins: list[str] = Field(default_factory=list, strict=True)


# --------------------------------------------------------------------------------------------
# validated suite


@dataclass(frozen=True)
class ModelSpec:
    """One model entry: registry ``name``, display ``label``, user ``params``."""

    name: str
    label: str
    params: dict[str, Any]
    sanity: bool = False
    #: ``FILE:LINE:COL`` of the entry, for errors found after loading (e.g. by preflight checks)
    where: str = ""


@dataclass(frozen=True)
class DatasetEntry:
    """One dataset entry: display ``name`` and the loader ``spec`` (see :mod:`mlbench.datasets`)."""

    name: str
    spec: dict[str, Any]


@dataclass(frozen=True)
class Job:
    """One unit of work: dataset x model x fold x train size x repeat.

    ``job_id`` is a stable hash of everything that determines the result, so a re-run of the same
    suite finds its finished jobs (resume) whatever the order or the other entries.
    """

    job_id: str
    suite: str
    dataset: str
    dataset_spec: dict[str, Any]
    base_dir: str
    model: str
    model_name: str
    params: dict[str, Any]
    fold: int
    repeat: int
    train_size: float
    seed: int
    split_seed: int
    resampling: dict[str, Any]
    metrics: dict[str, list[str]]
    threads: int = 1
    plugins: tuple[str, ...] = ()
    #: a diagnostic, not part of the job id: first check the model can overfit 32 rows
    sanity: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for Dask and for the dry-run table)."""
        return asdict(self)


@dataclass
class Suite:
    """A validated suite; build it with :func:`load_suite` or :func:`parse_suite`."""

    name: str
    seed: int
    resampling: Resampling
    metrics: dict[str, list[str]]
    datasets: list[DatasetEntry]
    models: list[ModelSpec]
    sweep: Sweep
    budget: Budget
    executor: ExecutorConfig
    output: Path
    base_dir: Path
    path: Path | None = None
    text: str = ""
    plugins: tuple[str, ...] = ()
    sanity: bool = False

    def primary_metric(self) -> dict[str, str]:
        """Task type -> primary metric (the first listed)."""
        return {task: names[0] for task, names in self.metrics.items()}

    def n_folds(self, dataset: DatasetEntry) -> int:
        """Folds for one dataset: 1 when the dataset brings its own test file."""
        return 1 if "test" in dataset.spec else self.resampling.n_folds()

    def expand(self) -> list[Job]:
        """Return every job of the suite, in a stable order (dataset, model, fold, size, repeat)."""
        jobs = []
        resampling = self.resampling.model_dump()
        for ds in self.datasets:
            for model in self.models:
                for fold in range(self.n_folds(ds)):
                    for size in self.sweep.train_sizes:
                        for repeat in range(self.sweep.repeats):
                            key = {
                                "dataset": ds.spec,
                                "model": model.name,
                                "params": model.params,
                                "resampling": resampling,
                                "fold": fold,
                                "train_size": float(size),
                                "repeat": repeat,
                                "seed": self.seed,
                            }
                            digest = hashlib.sha256(
                                json.dumps(key, sort_keys=True, default=str).encode()
                            ).hexdigest()[:16]
                            jobs.append(
                                Job(
                                    job_id=digest,
                                    suite=self.name,
                                    dataset=ds.name,
                                    dataset_spec=ds.spec,
                                    base_dir=str(self.base_dir),
                                    model=model.label,
                                    model_name=model.name,
                                    params=model.params,
                                    fold=fold,
                                    repeat=repeat,
                                    train_size=float(size),
                                    seed=self.seed + repeat,
                                    split_seed=self.seed,
                                    resampling=resampling,
                                    metrics=self.metrics,
                                    threads=self.executor.threads_per_job,
                                    plugins=self.plugins,
                                    sanity=model.sanity or self.sanity,
                                )
                            )
        return jobs


# --------------------------------------------------------------------------------------------
# YAML locations


class _Locator:
    """Map a path into the YAML document (keys and list indices) to ``(line, col)``, 1-based."""

    def __init__(self, root: yaml.Node | None) -> None:
        self.root = root

    def __call__(self, path: tuple[Any, ...], key: bool = False) -> tuple[int, int]:
        node = self.root
        if node is None:
            return (1, 1)
        mark = node.start_mark
        for i, part in enumerate(path):
            last = i == len(path) - 1
            if isinstance(node, yaml.MappingNode):
                found = None
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                        found = (k, v)
                        break
                if found is None:
                    continue  # pydantic adds labels (union branches) that are not in the document
                node = found[1]
                mark = found[0].start_mark if (last and key) else found[1].start_mark
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if 0 <= part < len(node.value):
                    node = node.value[part]
                    mark = node.start_mark
            # scalars: stay at the last mark found
        return (mark.line + 1, mark.column + 1)


def _dotted(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


class _Problems:
    def __init__(self, filename: str, locate: _Locator) -> None:
        self.filename = filename
        self.locate = locate
        self.items: list[tuple[int, int, str]] = []

    def add(self, path: tuple[Any, ...], message: str, key: bool = False) -> None:
        line, col = self.locate(path, key=key)
        self.items.append((line, col, f"{self.filename}:{line}:{col}: {_dotted(path)}: {message}"))

    def raise_if_any(self) -> None:
        if self.items:
            self.items.sort(key=lambda t: (t[0], t[1]))
            raise ConfigError([_one_line(m) for _, _, m in self.items])


# everything str.splitlines() breaks on: a key or value holding one must not split a message,
# since the CLI prints one problem per line
_LINE_BREAKS = {c: c.encode("unicode_escape").decode() for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"}


def _one_line(message: str) -> str:
    return message.translate(str.maketrans(_LINE_BREAKS))


def _pydantic_message(err: dict[str, Any], model_fields: dict[str, list[str]]) -> tuple[tuple, str, bool]:
    loc = tuple(err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        parent = ".".join(str(p) for p in loc[:-1])
        valid = model_fields.get(parent, [])
        hint = did_you_mean(str(loc[-1]), valid)
        return loc, f"unknown key {loc[-1]!r}.{hint} Valid keys here: {', '.join(valid)}", True
    if kind == "missing":
        return loc[:-1], f"required key {loc[-1]!r} is missing; add it", False
    got = err.get("input")
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    text = repr(got) if not isinstance(got, dict | list) else type(got).__name__
    if len(text) > 60:
        text = text[:57] + "..."
    return loc, f"{msg} (got {text}); fix the value", False


_FIELDS = {
    "": list(_SuiteFile.model_fields),
    "resampling": list(Resampling.model_fields),
    "sweep": list(Sweep.model_fields),
    "budget": list(Budget.model_fields),
    "executor": list(ExecutorConfig.model_fields),
}


# --------------------------------------------------------------------------------------------
# loading


def load_suite(path: str | Path, output: str | Path | None = None) -> Suite:
    """Read and validate a suite file.

    Parameters
    ----------
    path : str or Path
        The YAML file.
    output : str or Path, optional
        Overrides the suite's ``output:`` folder.

    Raises
    ------
    ConfigError
        Listing every problem found, each as ``FILE:LINE:COL: path: what, and the fix``.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such suite file; check the path (try `ls {path.parent}`)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the suite file ({exc}); save it as UTF-8 text") from None
    return parse_suite(text, filename=str(path), base_dir=path.parent, output=output, path=path)


def parse_suite(
    text: str,
    filename: str = "<suite>",
    base_dir: str | Path = ".",
    output: str | Path | None = None,
    path: Path | None = None,
) -> Suite:
    """Validate suite YAML text; see :func:`load_suite`."""
    root = None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(
            _one_line(
                f"{filename}:{line}:{col}: (YAML): {problem}; fix the YAML syntax (indentation, quotes, colons)"
            )
        ) from None
    except RecursionError:
        raise ConfigError(f"{filename}:1:1: (YAML): nesting too deep; simplify the file") from None
    except Exception as exc:
        # an explicit tag on a value it cannot convert (`!!int name`, `!!bool maybe`) raises
        # ValueError/KeyError/... from PyYAML's constructor rather than a YAMLError
        line, col = _bad_scalar(root)
        raise ConfigError(
            _one_line(
                f"{filename}:{line}:{col}: (YAML): cannot convert a tagged value ({type(exc).__name__}: {exc}); "
                "fix or remove the `!!` tag"
            )
        ) from None
    problems = _Problems(filename, _Locator(root))
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        problems.add((), f"the suite is {kind}; it must be a mapping with at least `datasets:` and `models:`")
        problems.raise_if_any()
    _check_aliases(root, problems)
    problems.raise_if_any()
    _check_duplicate_keys(root, (), problems)
    for key in list(data):
        if not isinstance(key, str):
            problems.add((), f"key {key!r} is not a string; top-level keys are names like `datasets`")
    problems.raise_if_any()

    try:
        raw = _SuiteFile.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc, msg, key = _pydantic_message(err, _FIELDS)
            problems.add(loc, msg, key=key)
        # keep checking the free-form parts so the user sees every problem at once
        raw = None

    plugins = _load_plugins(data.get("plugins"), Path(base_dir), problems)
    datasets = _check_datasets(data.get("datasets"), Path(base_dir), problems)
    models = _check_models(data.get("models"), problems)
    metrics = _check_metrics(data.get("metrics"), problems)
    problems.raise_if_any()
    assert raw is not None  # all pydantic errors were raised above

    name = raw.name or (path.stem if path else "suite")
    out = Path(output) if output is not None else Path(raw.output) if raw.output else Path("reports") / name
    if output is None and not out.is_absolute() and raw.output and path is not None:
        # an `output:` in the file is relative to the file; a CLI --output to the working folder
        out = Path(base_dir) / out
    return Suite(
        name=name,
        seed=raw.seed,
        resampling=raw.resampling,
        metrics=metrics,
        datasets=datasets,
        models=models,
        sweep=raw.sweep,
        budget=raw.budget,
        executor=raw.executor,
        output=out,
        base_dir=Path(base_dir).resolve(),
        path=path,
        text=text,
        plugins=plugins,
    )


def _load_plugins(value: Any, base_dir: Path, problems: _Problems) -> tuple[str, ...]:
    # plugins register models, so they load before the model entries are checked
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


def _bad_scalar(root: yaml.Node | None) -> tuple[int, int]:
    """Location of the first scalar PyYAML's safe constructor fails on, else (1, 1)."""
    constructor = yaml.constructor.SafeConstructor()
    stack, seen = [root], set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            try:
                constructor.construct_object(node)
            except Exception:
                return (node.start_mark.line + 1, node.start_mark.column + 1)
        elif isinstance(node, yaml.MappingNode):
            stack.extend(x for pair in reversed(node.value) for x in reversed(pair))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(reversed(node.value))
    return (1, 1)


_MAX_NODES = 100_000


def _check_aliases(root: yaml.Node | None, problems: _Problems) -> None:
    # YAML aliases can make a value contain itself (`&a [*a]`), which crashes json.dumps (labels,
    # job ids), or expand exponentially ("billion laughs"), which hangs every later walk. Count the
    # expanded size once per distinct node (memoised), so this walk itself stays linear.
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node, mark: yaml.Mark) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in active:
            line, col = mark.line + 1, mark.column + 1
            problems.items.append(
                (
                    line,
                    col,
                    f"{problems.filename}:{line}:{col}: (YAML): a value contains itself through an alias"
                    " (*); write the value out instead",
                )
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
        problems.items.append(
            (
                1,
                1,
                f"{problems.filename}:1:1: (YAML): the document expands to over {_MAX_NODES} values "
                "(aliases nested in aliases); write it without nested aliases",
            )
        )


class _Abort(Exception):
    pass


def _check_duplicate_keys(node: Any, path: tuple, problems: _Problems, depth: int = 0) -> None:
    # yaml.safe_load silently keeps the last duplicate key; a suite with two `models:` is a mistake
    if depth > 50:
        return
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode):
                if k.value in seen:
                    line, col = k.start_mark.line + 1, k.start_mark.column + 1
                    problems.items.append(
                        (
                            line,
                            col,
                            f"{problems.filename}:{line}:{col}: {_dotted((*path, k.value))}: "
                            f"key {k.value!r} appears twice; keep one",
                        )
                    )
                seen.add(k.value)
                _check_duplicate_keys(v, (*path, k.value), problems, depth + 1)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _check_duplicate_keys(v, (*path, i), problems, depth + 1)


def _check_datasets(entries: Any, base_dir: Path, problems: _Problems) -> list[DatasetEntry]:
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


def _format_value(v: Any) -> str:
    return json.dumps(v, sort_keys=True, default=str) if isinstance(v, dict | list) else str(v)


def _check_models(entries: Any, problems: _Problems) -> list[ModelSpec]:
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


def _check_metrics(value: Any, problems: _Problems) -> dict[str, list[str]]:
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
