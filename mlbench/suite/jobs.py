"""The validated suite and its expansion into jobs.

:class:`Suite` is what :func:`mlbench.suite.load_suite` returns; :meth:`Suite.expand` turns it
into :class:`Job` records, purely: the same suite always gives the same jobs with the same ids.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlbench.suite.schema import Budget, Diagnostics, ExecutorConfig, Resampling, Sweep


@dataclass(frozen=True)
class ModelSpec:
    """One model entry: registry ``name``, display ``label``, user ``params``."""

    name: str
    label: str
    params: dict[str, Any]
    sanity: bool = False
    #: ``FILE:LINE:COL`` of the entry, for errors found after loading (e.g. by preflight checks)
    where: str = ""
    #: the checked ``tune:`` block (see :func:`mlbench.suite.tune.check_tune`); None when untuned
    tune: dict[str, Any] | None = None
    #: ``importance:`` as ``{"n_repeats": n}``; None when not asked for
    importance: dict[str, Any] | None = None


@dataclass(frozen=True)
class DatasetEntry:
    """One dataset entry: display ``name`` and the loader ``spec`` (see :mod:`mlbench.datasets`)."""

    name: str
    spec: dict[str, Any]


#: Shuffles of each feature when ``importance: true`` (or ``--importance``) gives no
#: ``n_repeats``: scikit-learn's default for ``permutation_importance``.
DEFAULT_IMPORTANCE_REPEATS = 5

#: Ensemble kinds an ``ensembles:`` entry may name.
ENSEMBLE_KINDS = ("caruana", "stacking", "voting")


@dataclass(frozen=True)
class EnsembleSpec:
    """One ``ensembles:`` entry, validated; built after the jobs from their stored predictions.

    Attributes
    ----------
    kind : str
        ``"caruana"`` (greedy forward selection with replacement), ``"stacking"`` (a meta-model
        on the members' validation predictions) or ``"voting"`` (mean of the members'
        probabilities or predictions).
    label : str
        Unique among the suite's model labels and ensemble labels; ``ensemble:<kind>`` unless
        set, with the parameters appended when the same kind is listed twice.
    members : tuple of str or None
        Model labels of the suite (after grid expansion), at least two; None means every model.
    params : dict
        Per kind, with the defaults filled in. ``caruana``: ``size`` (int >= 1, default 25),
        ``seed`` (int, default the suite's seed). ``stacking``: ``final`` (a registered model
        name, default ``"logistic_regression"``), ``final_given`` (False when ``final`` is that
        default, so a regression dataset can swap in a regressor instead of being skipped),
        ``final_params`` (dict, default empty; names checked against the model).
        ``voting``: ``weights`` (None for equal weights, else member label -> float >= 0; members
        not listed weigh 1).
    where : str
        ``FILE:LINE:COL`` of the entry, for problems found when the ensemble is built.
    """

    kind: str
    label: str
    members: tuple[str, ...] | None
    params: dict[str, Any]
    where: str = ""


#: Resampling keys added after job ids were first published, with their defaults: a key at its
#: default is left out of the job id, so the jobs of suites written before it keep their ids.
_LATER_RESAMPLING_KEYS = {"val": "holdout", "inner_folds": 5, "group": None, "time": None, "gap": 0}


def resampling_key(resampling: dict[str, Any]) -> dict[str, Any]:
    """The part of a resampling (``Resampling.model_dump()``) that a job id hashes.

    Keys added since the first release count only when they differ from their default, so the
    ids of existing suites (and with them the resume of their runs) do not change.
    """
    return {
        k: v
        for k, v in resampling.items()
        if not (k in _LATER_RESAMPLING_KEYS and v == _LATER_RESAMPLING_KEYS[k])
    }


def split_fingerprint(job: Job) -> str:
    """A short hash of what fixes a job's rows: dataset, resampling, split seed, fold, seed, size.

    Two jobs with equal fingerprints trained and were scored on the same rows, whatever their
    model or suite, so their scores can be paired (``mlbench report A B``); equal fold numbers
    of two suites with other seeds or folds are different rows.
    """
    key = {
        "dataset": job.dataset_spec,
        "resampling": resampling_key(job.resampling),
        "split_seed": job.split_seed,
        "fold": job.fold,
        "seed": job.seed,
        "train_size": float(job.train_size),
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]


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
    #: ``Resampling.model_dump()``, every key (``val`` and ``inner_folds`` included); the job id
    #: hashes :func:`resampling_key` of it
    resampling: dict[str, Any]
    metrics: dict[str, list[str]]
    threads: int = 1
    plugins: tuple[str, ...] = ()
    #: a diagnostic, not part of the job id: first check the model can overfit 32 rows
    sanity: bool = False
    #: the model's ``tune:`` block plus ``timeout`` (its seconds within the job budget) and
    #: ``job_seconds`` (the budget itself); None when untuned. The block (not the two times) is
    #: part of the job id.
    tune: dict[str, Any] | None = None
    #: permutation importance on the test rows (``{"n_repeats": n}``); a diagnostic like
    #: ``sanity``, not part of the job id
    importance: dict[str, Any] | None = None


@dataclass
class Suite:
    """A validated suite; build it with :func:`~mlbench.suite.load_suite` or :func:`~mlbench.suite.parse_suite`."""

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
    #: ``mlbench run --importance``: permutation importance for every model without its own setting
    importance: bool = False
    #: built after the jobs from their validation predictions; they add no jobs
    ensembles: list[EnsembleSpec] = field(default_factory=list)
    #: train/test mismatch checks run by the coordinator; they add no jobs
    diagnostics: Diagnostics = field(default_factory=Diagnostics)

    def primary_metric(self) -> dict[str, str]:
        """Task type -> primary metric (the first listed)."""
        return {task: names[0] for task, names in self.metrics.items()}

    def n_folds(self, dataset: DatasetEntry) -> int:
        """Folds for one dataset: 1 when the dataset brings its own test file; an OpenML task's
        ``folds`` (default 10, OpenML's 10-fold cross-validation) of its official splits."""
        if "openml_task" in dataset.spec:
            return int(dataset.spec.get("folds") or 10)
        return 1 if "test" in dataset.spec else self.resampling.n_folds()

    def _job_tune(self, model: ModelSpec) -> dict[str, Any] | None:
        if model.tune is None:
            return None
        from mlbench.suite.tune import job_budget

        return {
            **model.tune,
            "timeout": job_budget(model.tune, self.budget.job_seconds),
            "job_seconds": float(self.budget.job_seconds),
        }

    def _job_importance(self, model: ModelSpec) -> dict[str, Any] | None:
        if model.importance is not None:
            return model.importance
        return {"n_repeats": DEFAULT_IMPORTANCE_REPEATS} if self.importance else None

    def expand(self) -> list[Job]:
        """Return every job of the suite, in a stable order (dataset, model, fold, size, repeat)."""
        jobs = []
        resampling = self.resampling.model_dump()
        hashed = resampling_key(resampling)
        for ds in self.datasets:
            for model in self.models:
                for fold in range(self.n_folds(ds)):
                    for size in self.sweep.train_sizes:
                        for repeat in range(self.sweep.repeats):
                            key = {
                                "dataset": ds.spec,
                                "model": model.name,
                                "params": model.params,
                                "resampling": hashed,
                                "fold": fold,
                                "train_size": float(size),
                                "repeat": repeat,
                                "seed": self.seed,
                            }
                            if model.tune is not None:
                                # only when set: untuned jobs keep the ids they always had
                                key["tune"] = model.tune
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
                                    tune=self._job_tune(model),
                                    importance=self._job_importance(model),
                                )
                            )
        return jobs
