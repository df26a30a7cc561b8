"""Suite files: load, validate (every problem as ``FILE:LINE:COL: path: what, and the fix``), expand.

A suite is YAML read with ``yaml.safe_load``; its structure is checked by pydantic models and its
free-form parts (dataset and model entries) by hand against the dataset and model registries.
Locations come from ``yaml.compose`` nodes, so each message points at the offending line.

Parsing and expanding a suite is pure: the same text gives the same suite and the same jobs with
the same ids on any machine. It probes no GPU, imports no executor and no plugin, and looks at no
data file, so a run folder opened on another machine reads its suite exactly as it was run.
What depends on the machine (plugins import, the files exist, the GPUs it names are there, the
optional libraries it needs are installed) is :func:`check_machine`'s, called once when a run
starts (and by ``mlbench validate``), with the same located messages.

The rooms: :mod:`~mlbench.suite.schema` (the pydantic models of the fixed sections),
:mod:`~mlbench.suite.locations` (YAML positions and one-line messages),
:mod:`~mlbench.suite.checks` (entries checked against the registries, YAML pitfalls),
:mod:`~mlbench.suite.jobs` (the validated :class:`Suite` and its :class:`Job` records). This
module only reads the file and runs the checks in order.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from mlbench.errors import ConfigError
from mlbench.suite.checks import (
    RESERVED_MODEL_KEYS,
    check_aliases,
    check_data,
    check_datasets,
    check_duplicate_keys,
    check_ensembles,
    check_executor,
    check_extras,
    check_local_gpus,
    check_metrics,
    check_models,
    check_plugins,
    check_resampling,
    check_task_params,
    info_param_problems,
    with_baseline,
)
from mlbench.suite.jobs import ENSEMBLE_KINDS, DatasetEntry, EnsembleSpec, Job, ModelSpec, Suite
from mlbench.suite.locations import Locator, Problems, bad_scalar_location, one_line, pydantic_message
from mlbench.suite.schema import (
    SECTION_KEYS,
    TASK_TYPES,
    Budget,
    ExecutorConfig,
    Resampling,
    SuiteFile,
    Sweep,
)

__all__ = [
    "ENSEMBLE_KINDS",
    "RESERVED_MODEL_KEYS",
    "TASK_TYPES",
    "Budget",
    "DatasetEntry",
    "EnsembleSpec",
    "ExecutorConfig",
    "Job",
    "ModelSpec",
    "Resampling",
    "Suite",
    "Sweep",
    "check_machine",
    "info_param_problems",
    "load_suite",
    "parse_suite",
]


#: Largest suite file read. A real suite is a few kB; YAML parsing with line numbers takes about
#: 0.7 s per MB (issue 12: 35 s for 50 MB of comments), so a 50 MB file (generated, or a data file passed by mistake) would hang
#: ``validate`` for half a minute before failing anyway.
MAX_SUITE_BYTES = 4 * 2**20


def _too_large(filename: str, n_bytes: int) -> ConfigError:
    return ConfigError(
        f"{filename}: the suite file is {n_bytes / 2**20:.1f} MB, over the {MAX_SUITE_BYTES // 2**20} MB limit "
        "for suite files (a suite is usually a few kB); check that this is the suite and not a data file, "
        "and move long lists (datasets, generated grids) into a shorter suite"
    )


def load_suite(path: str | Path, output: str | Path | None = None, *, machine: bool = False) -> Suite:
    """Read and validate a suite file.

    Parameters
    ----------
    path : str or Path
        The YAML file.
    output : str or Path, optional
        Overrides the suite's ``output:`` folder.
    machine : bool
        Also run the checks that depend on this machine (see :func:`check_machine`).

    Raises
    ------
    ConfigError
        Listing every problem found, each as ``FILE:LINE:COL: path: what, and the fix``.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_SUITE_BYTES:
            raise _too_large(str(path), size)
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such suite file; check the path (try `ls {path.parent}`)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the suite file ({exc}); save it as UTF-8 text") from None
    return parse_suite(
        text, filename=str(path), base_dir=path.parent, output=output, path=path, machine=machine
    )


def check_machine(suite: Suite) -> None:
    """The checks of ``suite`` that depend on this machine, located like every suite problem.

    Imports the suite's plugins (then checks the models, metrics and executor kinds they
    register), checks that the data files and folders it names exist and that a csv has its
    target column, that an explicit ``executor.gpus`` names cards this machine has, and that
    the optional libraries it needs (Optuna to tune, mlbench[boosters] for lightgbm and catboost)
    are installed, and fetches the OpenML tasks and suites it names into the cache when they are
    not there (an ``openml_suite:`` expands into its tasks here). With ``group_kfold`` or
    ``time_series`` it loads the data to check the column (present, parses, enough groups or
    times for the folds), and it loads a dataset without ``task:`` when a model parameter is
    valid for one task only (:func:`mlbench.suite.checks.check_data`). A run calls it once
    before anything else; ``mlbench validate`` too.

    Raises
    ------
    ConfigError
        Every problem found, each as ``FILE:LINE:COL: path: what, and the fix``.
    """
    filename = str(suite.path) if suite.path is not None else "<suite>"
    checked = parse_suite(
        suite.text,
        filename=filename,
        base_dir=suite.base_dir,
        output=suite.output,
        path=suite.path,
        machine=True,
    )
    # an `openml_suite:` study first fetched here (reading is pure: it expanded to nothing when
    # not cached) now expands into its tasks
    suite.datasets = checked.datasets


def parse_suite(
    text: str,
    filename: str = "<suite>",
    base_dir: str | Path = ".",
    output: str | Path | None = None,
    path: Path | None = None,
    *,
    machine: bool = False,
) -> Suite:
    """Validate suite YAML text.

    Parameters
    ----------
    text : str
        The YAML.
    filename : str
        The name messages start with.
    base_dir : str or Path
        Folder relative paths (data files, plugins) resolve against.
    output : str or Path, optional
        Overrides the suite's ``output:`` folder.
    path : Path, optional
        The file the text came from: names the suite when it has no ``name:`` and anchors a
        relative ``output:``.
    machine : bool
        Also run the checks that depend on this machine (:func:`check_machine`): import the
        plugins, look at the data files, the GPUs and the optional libraries. False (the default)
        is pure: a model, meta-model or executor kind the registries lack is then taken as a
        plugin's when the suite lists plugins.

    Returns
    -------
    Suite

    Raises
    ------
    ConfigError
        Listing every problem found, each as ``FILE:LINE:COL: path: what, and the fix``.
    """
    if len(text) > MAX_SUITE_BYTES // 4 and len(text.encode("utf-8")) > MAX_SUITE_BYTES:
        raise _too_large(filename, len(text.encode("utf-8")))
    root = None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(
            one_line(
                f"{filename}:{line}:{col}: (YAML): {problem}; fix the YAML syntax (indentation, quotes, colons)"
            )
        ) from None
    except RecursionError:
        raise ConfigError(f"{filename}:1:1: (YAML): nesting too deep; simplify the file") from None
    except Exception as exc:
        # an explicit tag on a value it cannot convert (`!!int name`, `!!bool maybe`) raises
        # ValueError/KeyError/... from PyYAML's constructor rather than a YAMLError
        line, col = bad_scalar_location(root)
        raise ConfigError(
            one_line(
                f"{filename}:{line}:{col}: (YAML): cannot convert a tagged value ({type(exc).__name__}: {exc}); "
                "fix or remove the `!!` tag"
            )
        ) from None
    problems = Problems(filename, Locator(root))
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        problems.add((), f"the suite is {kind}; it must be a mapping with at least `datasets:` and `models:`")
        problems.raise_if_any()
    check_aliases(root, problems)
    problems.raise_if_any()
    check_duplicate_keys(root, (), problems)
    for key in list(data):
        if not isinstance(key, str):
            problems.add((), f"key {key!r} is not a string; top-level keys are names like `datasets`")
    problems.raise_if_any()

    try:
        raw = SuiteFile.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc, msg, key = pydantic_message(err, SECTION_KEYS)
            problems.add(loc, msg, key=key)
        # keep checking the free-form parts so the user sees every problem at once
        raw = None

    plugins = check_plugins(data.get("plugins"), Path(base_dir), problems, load=machine)
    # plugins named but not imported: names the registries lack may be theirs
    pending = bool(plugins) and not machine
    datasets = check_datasets(data.get("datasets"), Path(base_dir), problems, files=machine)
    before = len(problems.items)
    models = check_models(data.get("models"), problems, pending=pending)
    models_ok = len(problems.items) == before
    ensembles = check_ensembles(
        data.get("ensembles"),
        models,
        data.get("resampling"),
        data.get("seed", 0),
        problems,
        models_complete=models_ok and isinstance(data.get("models"), list),
        pending=pending,
    )
    if data.get("baseline", True) is not False:
        # after the ensembles: "every model" of an ensemble does not take the baseline in
        models = with_baseline(models, problems)
    check_executor(data.get("executor"), problems, pending=pending)
    metrics = check_metrics(data.get("metrics"), problems)
    check_resampling(data.get("resampling"), problems)
    # parameters per task, for the datasets whose task the spec says (the others: check_data)
    check_task_params(data.get("models"), datasets, problems)
    if machine:
        check_local_gpus(data.get("executor"), problems)
        check_extras(data, problems)
    problems.raise_if_any()
    assert raw is not None  # all pydantic errors were raised above
    if machine:
        # reads the data: the resampling's column, and the task of datasets without `task:`
        check_data(raw.resampling, raw.seed, datasets, data.get("models"), Path(base_dir), problems)
        problems.raise_if_any()

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
        ensembles=ensembles,
        diagnostics=raw.diagnostics,
    )
