"""The suite file's fixed structure as pydantic models: one model per section, unknown keys rejected.

Only the sections with a fixed shape live here (``resampling``, ``sweep``, ``budget``,
``executor`` and the top level). The free-form parts (dataset and model entries, metrics,
plugins) and every check that needs a registry are in :mod:`mlbench.suite.checks`; turning
pydantic's errors into located messages is :mod:`mlbench.suite.locations`' job.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator

TASK_TYPES = ("classification", "regression")


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

    ``val: cross_fit`` replaces the validation split by AutoGluon-style bagging: each job fits
    ``inner_folds`` models on the inner folds of its training rows, records every training row's
    out-of-fold prediction as its validation prediction and predicts test as the mean of the
    models (so a job costs ``inner_folds`` fits). ``val_fraction`` then only sizes the stopping
    rows of early-stopping models, and ``fit_on_val`` does not apply.

    ``group_kfold`` (with ``group: COLUMN``) keeps every group on one side of every split:
    ``StratifiedGroupKFold(folds, shuffle=True, random_state=seed)`` for classification,
    ``GroupKFold(folds, shuffle=True, random_state=seed)`` for regression; the validation split
    and ``cross_fit``'s inner folds are whole groups too. ``time_series`` (with ``time: COLUMN``
    and ``gap``) is ``TimeSeriesSplit(folds, gap=gap)`` over the column's distinct times: every
    test row is later than every training row, the validation split is the latest training rows
    and a training-size subset the most recent ones. The column is never a feature. See
    :mod:`mlbench.splits`.
    """

    kind: Literal["kfold", "holdout", "repeated_kfold", "group_kfold", "time_series"] = "kfold"
    folds: int = Field(5, ge=2, strict=True)
    repeats: int = Field(1, ge=1, strict=True)
    test_size: float = Field(0.2, gt=0, lt=1)
    val_fraction: float = Field(0.2, ge=0, lt=1)
    fit_on_val: bool = True
    # Declared after fit_on_val so their validators see it. Field validators run only on values
    # written in the file (pydantic does not validate defaults), which is what the checks of
    # contradictory combinations need: they point at the key that was written.
    val: Literal["holdout", "cross_fit"] = "holdout"
    inner_folds: int = Field(5, ge=2, strict=True)

    #: ``group_kfold``: the column whose values are the groups
    group: str | None = None
    #: ``time_series``: the column that orders the rows (dates or numbers)
    time: str | None = None
    #: ``time_series``: distinct times left out between each training block and its test block
    gap: int = Field(0, ge=0, strict=True)

    @field_validator("val")
    @classmethod
    def _val_without_holdout_options(cls, value: str, info: ValidationInfo) -> str:
        if value == "cross_fit" and info.data.get("fit_on_val") is False:
            raise ValueError(
                "val: cross_fit has no validation split to keep out of the fit (every training row "
                "gets an out-of-fold prediction); remove `fit_on_val: false`, or use `val: holdout`"
            )
        if value == "cross_fit" and info.data.get("kind") == "time_series":
            raise ValueError(
                "val: cross_fit predicts every training row from models trained on the other rows, later "
                "ones included, which time_series forbids; use `val: holdout` (the latest training rows)"
            )
        return value

    @field_validator("group")
    @classmethod
    def _group_needs_group_kfold(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("kind", "group_kfold") != "group_kfold":
            raise ValueError("group only applies to `kind: group_kfold`; set that kind or remove group")
        return value

    @field_validator("time", "gap")
    @classmethod
    def _time_needs_time_series(cls, value: Any, info: ValidationInfo) -> Any:
        if info.data.get("kind", "time_series") != "time_series" and value not in (None, 0):
            raise ValueError(
                f"{info.field_name} only applies to `kind: time_series`; set that kind or remove it"
            )
        return value

    @field_validator("inner_folds")
    @classmethod
    def _inner_folds_need_cross_fit(cls, value: int, info: ValidationInfo) -> int:
        # "val" is missing from info.data when its own value was invalid: that error suffices
        if info.data.get("val", "cross_fit") != "cross_fit":
            raise ValueError(
                "inner_folds only applies to `val: cross_fit`; add `val: cross_fit` or remove inner_folds"
            )
        return value

    def column(self) -> tuple[str, str] | None:
        """``("group", column)`` or ``("time", column)`` for the kinds that split by a column, else None."""
        if self.kind == "group_kfold" and self.group is not None:
            return "group", self.group
        if self.kind == "time_series" and self.time is not None:
            return "time", self.time
        return None

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
    repeats: int = Field(1, ge=1, strict=True)

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


def _check_gpus(value: Any) -> Any:
    """``executor.gpus``: ``auto``, a count >= 0, or a list of distinct card indices (never a bool)."""
    usage = "gpus is `auto`, a count of GPUs (`2`; 0 = use none) or a list of GPU indices (`[0, 2]`)"
    if value == "auto" and isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"{usage}; got {value}")
        return value
    if isinstance(value, list) and value:
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
            raise ValueError(f"{usage}; every index is an integer >= 0, got {value}")
        if len(set(value)) != len(value):
            raise ValueError(f"gpus lists a GPU twice ({value}); list each index once")
        return value
    raise ValueError(f"{usage}; got {value!r}")


class ExecutorConfig(_Strict):
    """Where jobs run: a local process pool (default), a Dask cluster, or a kind a plugin registers.

    ``kind`` is checked against :data:`mlbench.execution.base.EXECUTORS` after the plugins are
    loaded (see :func:`mlbench.suite.checks.check_executor`), not here.
    """

    kind: str = "local"
    workers: int | None = Field(None, ge=1, strict=True)
    threads_per_job: int = Field(1, ge=1, strict=True)
    address: str | None = None
    #: ``auto`` (every visible card), a count, or card indices; see mlbench.execution.gpus
    gpus: Annotated[Any, BeforeValidator(_check_gpus)] = "auto"
    jobs_per_gpu: int = Field(1, ge=1, strict=True)


class Diagnostics(_Strict):
    """The train/test mismatch checks run for every dataset (see :mod:`mlbench.analysis.drift`).

    ``diagnostics: false`` turns them off (``enabled: false``); ``true`` or a mapping keeps them on.
    """

    enabled: bool = True
    alpha: float = Field(0.05, gt=0, lt=1)
    # fewer permutations could not give a p-value below alpha / (number of checks)
    permutations: int = Field(200, ge=20, le=100_000)
    max_rows: int = Field(10_000, ge=50)

    @classmethod
    def coerce(cls, value: Any) -> Any:
        """``true`` / ``false`` as the whole block mean on with defaults / off."""
        if isinstance(value, bool):
            return {"enabled": value}
        return {} if value is None else value


class SuiteFile(_Strict):
    """The top level of a suite file (dataset and model entries are checked by hand)."""

    name: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    # strict (as the counts): YAML `true`, `1.0` or "3" is a mistake, not the integer
    seed: int = Field(0, ge=0, le=2**31 - 1, strict=True)
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
    # entries checked by hand (mlbench.suite.checks.check_ensembles), like models
    ensembles: list[Any] = Field(default_factory=list, strict=True)
    diagnostics: Annotated[Diagnostics, BeforeValidator(Diagnostics.coerce)] = Field(
        default_factory=Diagnostics
    )
    #: add the ``dummy`` model (prior / mean prediction) to the suite's models: every model is
    #: judged against it ("no better than the baseline")
    baseline: bool = Field(True, strict=True)


#: Section ("" for the top level) -> its keys, in declaration order, for "Valid keys here:" hints.
SECTION_KEYS: dict[str, list[str]] = {
    "": list(SuiteFile.model_fields),
    "resampling": list(Resampling.model_fields),
    "sweep": list(Sweep.model_fields),
    "budget": list(Budget.model_fields),
    "executor": list(ExecutorConfig.model_fields),
    "diagnostics": list(Diagnostics.model_fields),
}
