"""Hyper-parameter tuning inside a job, with Optuna: ``tune:`` on a model entry.

A tuned job searches its model's parameters on its own training rows only, then refits the best
parameters on those rows and scores the test fold once (nested evaluation):

* with the default ``resampling.val: holdout`` each trial fits on the job's training rows minus
  its validation split and is scored on that split;
* with ``val: cross_fit`` each trial is the mean score over ``inner_folds`` inner folds of the
  training rows.

The test fold never reaches a trial. Trials run one after another inside the job (Optuna's
``n_jobs=1``), so executors schedule jobs exactly as without tuning.

The space syntax (YAML)::

    space:
      n_neighbors: {int: [1, 100], log: true}
      learning_rate: {float: [0.005, 0.1], log: true}
      weights: [uniform, distance]        # a list: categorical

Checking a ``tune:`` block is part of reading a suite (:mod:`mlbench.suite.tune`: no Optuna, nothing
that runs jobs); only running a study imports Optuna.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from mlbench.fitting import Classes, Rows, build_estimator, early_stops, fit_estimator, predict, stop_rows

# the suite's side of tuning, here too for callers that think of both as tuning
from mlbench.suite.tune import (
    BUDGET_SHARE,
    TUNE_KEYS,
    check_tune,
    default_space,
    describe_budget,
    fits_per_job,
    job_budget,
    optuna_missing,
)

__all__ = [
    "BUDGET_SHARE",
    "TUNE_KEYS",
    "TuneResult",
    "check_tune",
    "default_space",
    "describe_budget",
    "fits_per_job",
    "job_budget",
    "optuna_missing",
    "tune_job",
]


@dataclass
class TuneResult:
    """What a job's study produced."""

    best_params: dict[str, Any]
    best_value: float
    metric: str
    #: one dict per trial: number, params, value, state, seconds, started_at, intermediate
    trials: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def _suggest(trial: Any, name: str, dim: Any, cap: dict[str, int]) -> Any:
    if isinstance(dim, list):
        return trial.suggest_categorical(name, dim)
    log = bool(dim.get("log", False))
    if "int" in dim:
        lo, hi = (int(b) for b in dim["int"])
        if name in cap:
            hi = max(lo, min(hi, cap[name]))
        return trial.suggest_int(name, lo, hi, log=log)
    lo, hi = (float(b) for b in dim["float"])
    return trial.suggest_float(name, lo, hi, log=log)


def _raw_to_prediction(raw: np.ndarray, task: str, classes: Classes) -> tuple[np.ndarray, np.ndarray | None]:
    """A model's raw validation output -> (labels, probabilities with one column per dataset class).

    ``raw`` is what a family's pruning hook scores (see :attr:`mlbench.models.ModelInfo.pruning`):
    probabilities, one column per class the model was fitted with or a single ``P(class 1)``
    column, or regression values.
    """
    if task != "classification":
        return raw.astype(np.float64), None
    proba = raw.reshape(len(raw), -1).astype(np.float64)
    if proba.shape[1] == 1:
        proba = np.column_stack([1.0 - proba[:, 0], proba[:, 0]])
    proba = classes.proba(proba)
    return np.argmax(proba, axis=1), proba


@dataclass
class _Fold:
    """One evaluation of a trial: the rows it fits on, and the validation rows it is scored on."""

    fit_rows: np.ndarray
    X_fit: Any
    X_val: Any
    y_val: np.ndarray


@dataclass
class _Trials:
    """The objective of a job's study: fit a trial's parameters on each fold, score its validation rows.

    Every fit goes through :mod:`mlbench.fitting`, as the job's own: the same estimator, stopping
    rows and class mapping.
    """

    job: Any
    info: Any
    ds: Any
    kinds: dict[str, str]
    matrix: Callable[[Any, np.ndarray | None], Any]
    space: dict[str, Any]
    metric: str
    folds: list[_Fold]
    #: ``val: cross_fit``: the inner folds are the steps a trial reports
    cross_fit: bool
    #: the family's pruning hook reports within each fit (holdout with the median pruner)
    report_steps: bool
    #: upper bounds of integer parameters (:attr:`mlbench.models.ModelInfo.tuning_caps`)
    caps: dict[str, int] = field(default_factory=dict)

    def __call__(self, trial: Any) -> float:
        """Optuna's objective; a failing trial keeps its error with it (a study whose trials all fail says why)."""
        import optuna

        try:
            return self.evaluate(trial)
        except optuna.TrialPruned:
            raise
        except Exception as exc:
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:300])
            raise

    def evaluate(self, trial: Any) -> float:
        """The mean validation score of the trial's parameters over the folds."""
        params = {name: _suggest(trial, name, dim, self.caps) for name, dim in self.space.items()}
        job = replace(self.job, params={**self.job.params, **params})
        values = []
        for i, fold in enumerate(self.folds):
            values.append(self._fold_value(trial, job, fold))
            if self.cross_fit and i < len(self.folds) - 1:
                # the inner folds are the steps: a trial far below the median after a fold stops
                _report(trial, float(np.mean(values)), i + 1)
        value = float(np.mean(values))
        if not math.isfinite(value):
            raise ValueError(f"{self.metric} is not finite on the validation rows ({value})")
        return value

    def _fold_value(self, trial: Any, job: Any, fold: _Fold) -> float:
        from mlbench.metrics import score

        ds, task, info = self.ds, self.ds.task_type, self.info
        params = info.params_for(job.params, task)
        fit_idx, stop_idx = stop_rows(job, ds, fold.fit_rows, early_stops(info, params))
        classes = Classes(task, ds.y[fit_idx], ds.n_classes)
        stop = classes.seen(stop_idx, ds.y)
        estimator = build_estimator(job, info, task, self.kinds)
        X_train = fold.X_fit if len(fit_idx) == len(fold.fit_rows) else self.matrix(ds.X, fit_idx)
        with self._pruning(trial, estimator, fold, classes):
            fit_estimator(
                estimator,
                X_train,
                classes.codes(ds.y[fit_idx]),
                info=info,
                params=params,
                X_stop=self.matrix(ds.X, stop),
                y_stop=classes.codes(ds.y[stop]),
            )
        pred, proba = predict(estimator, fold.X_val, task, classes, ds.y.dtype)
        return score([self.metric], fold.y_val, pred, proba, ds.n_classes)[self.metric]

    def _pruning(
        self, trial: Any, estimator: Any, fold: _Fold, classes: Classes
    ) -> AbstractContextManager[Any]:
        """The family's pruning hook around a fit, or nothing when no steps are reported."""
        if not self.report_steps or self.info.pruning is None:
            return contextlib.nullcontext()
        from mlbench.metrics import score

        task, k = self.ds.task_type, self.ds.n_classes

        def value(raw: Any) -> float:
            pred, proba = _raw_to_prediction(np.asarray(raw), task, classes)
            return score([self.metric], fold.y_val, pred, proba, k)[self.metric]

        return self.info.pruning(estimator, fold.X_val, value, lambda v, step: _report(trial, v, step))


def _search_space(job: Any, info: Any, task: str) -> dict[str, Any]:
    """The block's ``space``, else the family's default without the parameters the entry sets."""
    space = job.tune.get("space") or {
        name: dim for name, dim in (info.tuning_space.get(task) or {}).items() if name not in job.params
    }
    if not space:
        raise ValueError(f"model {job.model_name!r} has no default search space for {task}; give `space:`")
    problems = info.check_params(dict.fromkeys(space), task)
    if problems:
        raise ValueError("tune.space: " + "; ".join(problems))
    return dict(space)


def _tune_metric(job: Any, task: str) -> str:
    """The block's metric when it is of the job's task type, else the suite's primary metric."""
    from mlbench.metrics import METRICS

    metric = job.tune.get("metric")
    if metric is None or METRICS.get(metric).task_type != task:
        metric = job.metrics[task][0]
    return str(metric)


def _folds(job: Any, ds: Any, rows: Rows, matrix: Callable[[Any, np.ndarray | None], Any]) -> list[_Fold]:
    """The (fit rows, scored rows) of each evaluation: the job's training rows only, never its test fold."""
    if job.resampling.get("val", "holdout") == "cross_fit":
        from mlbench.splits import RowSplitter

        inner = RowSplitter.of(ds, job.resampling).inner_folds(
            rows.train, job.resampling["inner_folds"], job.seed
        )
        pairs = [(rows.train[fit], rows.train[oof]) for fit, oof in inner]
    else:
        if len(rows.val) == 0:
            raise ValueError(
                "tune: needs validation rows: set resampling.val_fraction > 0, or `val: cross_fit`"
            )
        scored = rows.val
        if job.resampling.get("fit_on_val", True):
            # the validation rows inside the job's training rows: on a train-size subset the
            # fold's validation split also holds rows the job does not train on, and a job
            # tunes on its own training rows only
            scored = rows.val[np.isin(rows.val, rows.train)]
        if len(scored) < 2:
            raise ValueError(
                f"tune: only {len(scored)} validation rows among the job's training rows; "
                "raise resampling.val_fraction or the train size, or use `val: cross_fit`"
            )
        pairs = [(rows.train[~np.isin(rows.train, scored)], scored)]
    if rows.test is not None:
        # belt and braces: the honesty of the nested evaluation rests on this
        for fit_rows, scored in pairs:
            assert not np.isin(fit_rows, rows.test).any() and not np.isin(scored, rows.test).any()
    return [_Fold(f, matrix(ds.X, f), matrix(ds.X, s), ds.y[s]) for f, s in pairs]


def _create_study(job: Any, metric: str, pruner_name: str) -> Any:
    """An Optuna study in the metric's direction, with the block's sampler (seeded) and pruner."""
    import optuna

    from mlbench.metrics import METRICS

    direction = "maximize" if METRICS.get(metric).greater_is_better else "minimize"
    pruner = (
        optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
        if pruner_name == "median"
        else optuna.pruners.NopPruner()
    )
    if job.tune.get("sampler", "tpe") == "random":
        sampler = optuna.samplers.RandomSampler(seed=job.seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=job.seed, multivariate=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    _quiet_failed_trials()
    return optuna.create_study(direction=direction, sampler=sampler, pruner=pruner)


class _OneLinePerFailedTrial:
    """A logging filter for Optuna's study loop: a failed trial is one line, not a traceback.

    Optuna logs a failed trial as a warning with the exception's full traceback, then a second
    warning with its value. The first keeps its line ("Trial 3 failed with parameters: {...}
    because of the following error: ValueError(...)"), without the traceback; the second is
    dropped. The trial's error is stored with it anyway (``tune_trials.error``).
    """

    def filter(self, record: Any) -> bool:
        message = str(record.msg)
        if message.startswith("Trial ") and " failed with value " in message:
            return False
        if message.startswith("Trial ") and " failed with parameters" in message:
            record.exc_info = None
            record.exc_text = None
        return True


def _quiet_failed_trials() -> None:
    """Install :class:`_OneLinePerFailedTrial` on the logger Optuna's study loop writes to (once)."""
    import logging

    logger = logging.getLogger("optuna.study._optimize")
    if not any(isinstance(f, _OneLinePerFailedTrial) for f in logger.filters):
        logger.addFilter(_OneLinePerFailedTrial())


def _optimize(study: Any, objective: Callable[[Any], float], tune: dict[str, Any]) -> float:
    """Run the study within the block's trials and seconds; return the seconds it took."""
    t0 = time.perf_counter()
    hard = tune.get("job_seconds")

    def within_job_budget(study: Any, trial: Any) -> None:
        # Optuna checks `timeout` only between trials: a long trial started near the limit, then
        # the refit (about one trial's fits), could pass budget.job_seconds and the coordinator
        # would kill the job with all its trials. Stop while one more trial and the refit fit.
        longest = max(
            (t.duration.total_seconds() for t in study.trials if t.duration is not None), default=0.0
        )
        if hard is not None and time.perf_counter() - t0 + 2.0 * longest > BUDGET_SHARE * float(hard):
            study.stop()

    study.optimize(
        objective,
        n_trials=tune.get("trials"),
        timeout=tune.get("timeout"),
        n_jobs=1,
        catch=(Exception,),
        callbacks=[within_job_budget],
        gc_after_trial=False,
    )
    return time.perf_counter() - t0


def _result(study: Any, metric: str, seconds: float) -> TuneResult:
    """The best trial of a finished study; ValueError when no trial completed."""
    import optuna

    trials = [_trial_record(t) for t in study.trials]
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        states = ", ".join(sorted({t["state"] for t in trials})) or "none ran"
        errors = {t.user_attrs.get("error") for t in study.trials} - {None}
        raise ValueError(f"tune: no trial completed ({states}); " + "; ".join(sorted(errors))[:500])
    best = study.best_trial
    return TuneResult(
        best_params=dict(best.params),
        best_value=float(best.value),
        metric=metric,
        trials=trials,
        seconds=seconds,
    )


def tune_job(
    job: Any,
    info: Any,
    *,
    ds: Any,
    rows: Rows,
    kinds: dict[str, str],
    matrix: Callable[[Any, np.ndarray | None], Any],
) -> TuneResult:
    """Run a job's study on its training rows only and return the best parameters.

    Parameters
    ----------
    job : Job
        A job whose ``tune`` is set (see :meth:`mlbench.suite.Suite.expand`).
    info : ModelInfo
        The job's family: its default search space (``tuning_space``), caps (``tuning_caps``)
        and pruning hook (``pruning``).
    ds : Dataset
    rows : mlbench.fitting.Rows
        The job's rows; only ``train`` and ``val`` are used (never ``test``).
    kinds : dict
        Feature kinds, for the preprocessing pipeline.
    matrix : callable
        ``matrix(X, idx)``: rows of the dataset as the model's input.

    Returns
    -------
    TuneResult

    Raises
    ------
    ValueError
        A space parameter does not apply to this task type, or no trial completed.
    """
    task = ds.task_type
    space = _search_space(job, info, task)
    metric = _tune_metric(job, task)
    folds = _folds(job, ds, rows, matrix)
    cross_fit = job.resampling.get("val", "holdout") == "cross_fit"
    pruner = job.tune.get("pruner") or ("median" if info.pruning is not None or cross_fit else "none")
    smallest_fit = min(len(fold.fit_rows) for fold in folds)
    objective = _Trials(
        job=job,
        info=info,
        ds=ds,
        kinds=kinds,
        matrix=matrix,
        space=space,
        metric=metric,
        folds=folds,
        cross_fit=cross_fit,
        report_steps=not cross_fit and pruner == "median",
        caps=dict(info.tuning_caps(smallest_fit)) if info.tuning_caps is not None else {},
    )
    study = _create_study(job, metric, pruner)
    seconds = _optimize(study, objective, job.tune)
    return _result(study, metric, seconds)


def _report(trial: Any, value: float, step: int) -> None:
    import optuna

    trial.report(value, step)
    if trial.should_prune():
        raise optuna.TrialPruned()


def _trial_record(t: Any) -> dict[str, Any]:
    from optuna.distributions import distribution_to_json

    start, end = t.datetime_start, t.datetime_complete
    return {
        "number": int(t.number),
        "params": dict(t.params),
        "value": None if t.value is None else float(t.value),
        "state": t.state.name.lower(),
        "seconds": (end - start).total_seconds() if start and end else None,
        "started_at": start.isoformat(timespec="milliseconds") if start else None,
        "intermediate": {int(k): float(v) for k, v in t.intermediate_values.items()},
        "error": t.user_attrs.get("error"),
        # kept so the study can be rebuilt from the store (parameter importances in the report)
        "distributions": {k: distribution_to_json(d) for k, d in t.distributions.items()},
    }
