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

Checking a ``tune:`` block needs no Optuna (:func:`check_tune`); only running a study imports it.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_SPACES",
    "TUNE_KEYS",
    "TuneResult",
    "check_tune",
    "default_space",
    "job_budget",
    "optuna_missing",
    "tune_job",
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

_LOG = {"log": True}
_DEEP_SPACE = {
    "lr": {"float": [1.0e-4, 0.1], **_LOG},
    "weight_decay": {"float": [1.0e-6, 1.0e-2], **_LOG},
    "dropout": {"float": [0.0, 0.5]},
    "batch_size": [32, 64, 128, 256],
}
_XGB_SPACE = {
    # TabArena's XGBoost space (random search over 200 configs), with the number of rounds added
    # because mlbench does not early-stop by default (TabArena uses early stopping over 10k rounds)
    "learning_rate": {"float": [5.0e-3, 0.1], **_LOG},
    "max_depth": {"int": [4, 10]},
    "min_child_weight": {"float": [1.0e-3, 5.0], **_LOG},
    "subsample": {"float": [0.6, 1.0]},
    "colsample_bytree": {"float": [0.6, 1.0]},
    "reg_alpha": {"float": [1.0e-4, 5.0], **_LOG},
    "reg_lambda": {"float": [1.0e-4, 5.0], **_LOG},
    "max_leaves": {"int": [8, 1024], **_LOG},
    "n_estimators": {"int": [100, 1000], **_LOG},
}
_KNN_SPACE = {
    # TabArena: n_neighbors up to 500 (capped per job at the rows a trial fits on), weights, p
    "n_neighbors": {"int": [1, 500], **_LOG},
    "weights": ["uniform", "distance"],
    "p": [1, 1.5, 2],
}
_RF_SPACE = {
    # TabArena's random forest space (without `bootstrap: false`, which forbids max_samples)
    "max_features": {"float": [0.4, 1.0]},
    "max_samples": {"float": [0.5, 1.0]},
    "min_samples_split": {"int": [2, 4], **_LOG},
    "min_samples_leaf": [1, 2, 3, 4, 5, 10, 20, 40, 80],
}
_TREE_SPACE = {
    # TabArena has no single decision tree: its random forest space for one tree, plus the depth
    "max_features": {"float": [0.4, 1.0]},
    "max_depth": {"int": [2, 32], **_LOG},
    "min_samples_split": {"int": [2, 4], **_LOG},
    "min_samples_leaf": [1, 2, 3, 4, 5, 10, 20, 40, 80],
}

#: Model family -> task type -> default search space (the README lists them).
DEFAULT_SPACES: dict[str, dict[str, dict[str, Any]]] = {
    "xgboost": {"classification": _XGB_SPACE, "regression": _XGB_SPACE},
    "knn": {"classification": _KNN_SPACE, "regression": _KNN_SPACE},
    "random_forest": {"classification": _RF_SPACE, "regression": _RF_SPACE},
    "decision_tree": {"classification": _TREE_SPACE, "regression": _TREE_SPACE},
    # TabArena's linear model: C in [0.1, 1000] (log); Ridge's alpha is 1/C
    "logistic_regression": {
        "classification": {"C": {"float": [0.1, 1000.0], **_LOG}},
        "regression": {"alpha": {"float": [1.0e-3, 10.0], **_LOG}},
    },
    "mlp": {"classification": _DEEP_SPACE, "regression": _DEEP_SPACE},
    "cnn": {"classification": _DEEP_SPACE, "regression": _DEEP_SPACE},
    "cnn_finetune": {"classification": _DEEP_SPACE, "regression": _DEEP_SPACE},
}

#: Families that report intermediate scores (boosting rounds), so the median pruner is on by default.
_REPORTS_STEPS = frozenset({"xgboost", "mlp", "cnn", "cnn_finetune"})


def default_space(model_name: str, task_type: str) -> dict[str, Any] | None:
    """The default search space of a model family for a task type (None when it has none)."""
    per_task = DEFAULT_SPACES.get(model_name)
    return None if per_task is None else per_task.get(task_type)


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
        The model family (its parameter names and name); None for a plugin's model read while
        its plugin is not imported (a stored suite): the space's names are then not checked.
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
    from mlbench.errors import did_you_mean

    if value is None or value is True:
        value = {}
    if not isinstance(value, dict):
        add(loc, "tune must be a mapping, e.g. `tune: {trials: 30}`")
        return None
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
    if pruner is False:
        pruner = "none"
    if pruner is not None and pruner not in _PRUNERS:
        add((*loc, "pruner"), f"pruner must be median or none, got {pruner!r}")
        ok = False
    metric = value.get("metric")
    if metric is not None:
        if metric_names is None:
            from mlbench.metrics import METRICS

            metric_names = METRICS.names()
        if metric not in metric_names:
            add(
                (*loc, "metric"),
                f"unknown metric {metric!r}.{did_you_mean(str(metric), list(metric_names))} "
                f"Valid metrics: {', '.join(metric_names)}",
            )
            ok = False
    space = value.get("space")
    if space is not None:
        if not isinstance(space, dict) or not space:
            add((*loc, "space"), "space must be a non-empty mapping of parameter -> range or list of choices")
            ok = False
        else:
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
                    continue
                if name in fixed:
                    add(
                        where,
                        f"{name!r} is both set and tuned; remove it from the parameters or from space",
                        key=True,
                    )
                    ok = False
                    continue
                ok = _check_dimension(name, dim, where, add) and ok
    elif info is None:
        pass  # a plugin's model, its plugin not imported: its default space is its own to check
    elif not DEFAULT_SPACES.get(info.name):
        add(
            loc,
            f"model {info.name!r} has no default search space; give one with "
            "`space: {PARAM: {float: [LOW, HIGH]}}`",
        )
        ok = False
    elif not any(set(space) - set(fixed) for space in DEFAULT_SPACES[info.name].values()):
        add(
            loc,
            f"every parameter of {info.name}'s default space is set directly: nothing left to tune; give `space:`",
        )
        ok = False
    if not ok:
        return None
    if trials is None and seconds is None:
        trials = DEFAULT_TRIALS
    return {
        "trials": trials,
        "seconds": None if seconds is None else float(seconds),
        "space": space,
        "metric": metric,
        "sampler": sampler,
        "pruner": pruner,
    }


def job_budget(tune: dict[str, Any], job_seconds: float) -> float:
    """Seconds a job's study may run: ``seconds`` capped at a share of ``budget.job_seconds``."""
    cap = BUDGET_SHARE * job_seconds
    return cap if tune.get("seconds") is None else min(float(tune["seconds"]), cap)


# -- running a study ----------------------------------------------------------------------------


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


def _xgb_pruning(estimator: Any, X_val: Any, y_val: np.ndarray, scorer: Callable, report: Callable) -> None:
    """Report the tuning metric on the validation rows every tenth of the boosting rounds."""
    import xgboost as xgb

    from mlbench.models.base import final_estimator as _final

    model = _final(estimator)
    rounds = int(model.get_params().get("n_estimators") or 100)
    stride = max(1, rounds // 10)
    pre = estimator[:-1] if hasattr(estimator, "steps") else None
    cache: dict[str, Any] = {}

    class _Pruning(xgb.callback.TrainingCallback):
        def after_iteration(self, booster: Any, epoch: int, evals_log: Any) -> bool:
            step = epoch + 1
            if step % stride and step != rounds:
                return False
            if "X" not in cache:
                # the preprocessing was fitted before the booster started
                cache["X"] = pre.transform(X_val) if pre is not None else X_val
            raw = np.asarray(booster.inplace_predict(cache["X"], iteration_range=(0, step)))
            report(scorer(raw), step)  # raises optuna.TrialPruned to stop the trial
            return False

    model.set_params(callbacks=[_Pruning()])


#: Families trained by :func:`mlbench.deep.trainer.train`: their epochs are the steps.
_EPOCH_MODELS = frozenset({"mlp", "cnn", "cnn_finetune"})


class _EpochPruning:
    """Report the tuning metric on the validation rows after every epoch of a deep model."""

    def __init__(self, estimator: Any, X_val: Any, scorer: Callable, report: Callable, task: str) -> None:
        self.estimator, self.X_val, self.scorer, self.report, self.task = (
            estimator,
            X_val,
            scorer,
            report,
            task,
        )
        self.token: Any = None

    def __call__(self, epoch: int) -> None:
        from mlbench.models.base import final_estimator as _final

        model = _final(self.estimator)
        if hasattr(self.estimator, "steps"):
            X = self.estimator[:-1].transform(self.X_val)  # fitted before the network trains
        else:
            X = self.X_val
        raw = model.predict_proba(X) if self.task == "classification" else model.predict(X)
        model.model_.train()  # predicting switched the network to eval mode mid-training
        self.report(self.scorer(np.asarray(raw)), epoch)

    def __enter__(self) -> _EpochPruning:
        from mlbench.deep.trainer import EPOCH_END

        self.token = EPOCH_END.set(self)
        return self

    def __exit__(self, *exc: object) -> None:
        from mlbench.deep.trainer import EPOCH_END

        EPOCH_END.reset(self.token)


def _raw_to_prediction(raw: np.ndarray, task: str, classes: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """A booster's raw prediction -> (labels, probabilities with one column per dataset class)."""
    if task != "classification":
        return raw.astype(np.float64), None
    proba = raw.reshape(len(raw), -1).astype(np.float64)
    if proba.shape[1] == 1:
        proba = np.column_stack([1.0 - proba[:, 0], proba[:, 0]])
    proba = classes.proba(proba)
    return np.argmax(proba, axis=1), proba


def tune_job(
    job: Any, info: Any, task: str, kinds: dict[str, str], ds: Any, rows: Any, matrix: Callable, steps: Any
) -> TuneResult:
    """Run a job's study on its training rows only and return the best parameters.

    Parameters
    ----------
    job : Job
        A job whose ``tune`` is set (see :meth:`mlbench.suite.Suite.expand`).
    info : ModelInfo
    task : str
    kinds : dict
        Feature kinds, for the preprocessing pipeline.
    ds : Dataset
    rows : mlbench.execution.job._Rows
        The job's rows; only ``train`` and ``val`` are used (never ``test``).
    matrix : callable
        ``matrix(X, idx)``: rows of the dataset as the model's input.
    steps : object
        The job runner's own steps (attributes ``build``, ``classes``, ``early_stops``, ``fit``,
        ``predict``, ``stop_rows``), so that a trial fits exactly as a job does. Passed in rather
        than imported: the job runner imports this module.

    Returns
    -------
    TuneResult

    Raises
    ------
    ValueError
        A space parameter does not apply to this task type, or no trial completed.
    """
    import optuna

    _build, _Classes, _early_stops = steps.build, steps.classes, steps.early_stops
    _fit, _predict, _stop_rows = steps.fit, steps.predict, steps.stop_rows
    from mlbench.metrics import METRICS, score

    tune = job.tune
    # a parameter set directly in the model entry is held fixed: left out of the default space
    space = tune.get("space") or {
        name: dim
        for name, dim in (default_space(job.model_name, task) or {}).items()
        if name not in job.params
    }
    if not space:
        raise ValueError(f"model {job.model_name!r} has no default search space for {task}; give `space:`")
    problems = info.check_params(dict.fromkeys(space), task)
    if problems:
        raise ValueError("tune.space: " + "; ".join(problems))
    metric = tune.get("metric")
    if metric is None or METRICS.get(metric).task_type != task:
        metric = job.metrics[task][0]
    direction = "maximize" if METRICS.get(metric).greater_is_better else "minimize"
    cross_fit = job.resampling.get("val", "holdout") == "cross_fit"

    # the (fit rows, scored rows) of each evaluation: the training rows only, never the test fold
    if cross_fit:
        from mlbench.splits import cross_fit_folds

        inner = cross_fit_folds(rows.train, ds.y, task, job.resampling["inner_folds"], job.seed)
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
    smallest_fit = min(len(f) for f, _ in pairs)
    # KNN cannot ask for more neighbours than the rows it fits on
    cap = {"n_neighbors": smallest_fit} if job.model_name == "knn" else {}
    matrices = [(matrix(ds.X, f), ds.y[f], f, matrix(ds.X, s), ds.y[s]) for f, s in pairs]

    pruner_name = tune.get("pruner") or (
        "median" if job.model_name in _REPORTS_STEPS or cross_fit else "none"
    )
    pruner = (
        optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
        if pruner_name == "median"
        else optuna.pruners.NopPruner()
    )
    if tune.get("sampler", "tpe") == "random":
        sampler = optuna.samplers.RandomSampler(seed=job.seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=job.seed, multivariate=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction=direction, sampler=sampler, pruner=pruner)
    k = ds.n_classes

    def evaluate(trial: Any) -> float:
        params = {name: _suggest(trial, name, dim, cap) for name, dim in space.items()}
        tjob = replace(job, params={**job.params, **params})
        full = info.params_for(tjob.params, task)
        early = _early_stops(info, full)
        values = []
        for fold, (X_fit, _y, fit_rows, X_val, y_val) in enumerate(matrices):
            fit_idx, stop_idx = _stop_rows(tjob, ds, fit_rows, early)
            classes = _Classes(task, ds.y[fit_idx], k)
            stop = stop_idx[np.isin(ds.y[stop_idx], classes.present)] if classes.remap else stop_idx
            estimator = _build(tjob, info, task, kinds)
            X_train = X_fit if len(fit_idx) == len(fit_rows) else matrix(ds.X, fit_idx)

            def scorer(raw: np.ndarray, classes: Any = classes, y_val: np.ndarray = y_val) -> float:
                pred, proba = _raw_to_prediction(raw, task, classes)
                return score([metric], y_val, pred, proba, k)[metric]

            steps = not cross_fit and pruner_name == "median"
            if steps and job.model_name == "xgboost":
                _xgb_pruning(estimator, X_val, y_val, scorer, lambda v, s: _report(trial, v, s))
            pruning = (
                _EpochPruning(estimator, X_val, scorer, lambda v, s: _report(trial, v, s), task)
                if steps and job.model_name in _EPOCH_MODELS
                else contextlib.nullcontext()
            )
            with pruning:
                _fit(
                    estimator,
                    info,
                    full,
                    X_train,
                    classes.codes(ds.y[fit_idx]),
                    matrix(ds.X, stop),
                    classes.codes(ds.y[stop]),
                )
            pred, proba = _predict(estimator, X_val, task, classes, ds.y.dtype)
            values.append(score([metric], y_val, pred, proba, k)[metric])
            if cross_fit and fold < len(matrices) - 1:
                # the inner folds are the steps: a trial far below the median after a fold stops
                _report(trial, float(np.mean(values)), fold + 1)
        value = float(np.mean(values))
        if not math.isfinite(value):
            raise ValueError(f"{metric} is not finite on the validation rows ({value})")
        return value

    def objective(trial: Any) -> float:
        try:
            return evaluate(trial)
        except optuna.TrialPruned:
            raise
        except Exception as exc:
            # kept with the trial: a study whose trials all fail says why
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:300])
            raise

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
    seconds = time.perf_counter() - t0
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
