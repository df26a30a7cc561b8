"""``run_job``: one job from dataset to scored predictions, deterministic given the job.

It runs inside a worker process and returns plain data (a record dict and prediction arrays);
it never writes results itself: the coordinator is the store's only writer.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from mlbench.errors import MlbenchError
from mlbench.fitting import (
    DEFAULT_IMPORTANCE_REPEATS,
    FAST_METRICS,
    Classes,
    Rows,
    build_estimator,
    early_stops,
    fast_score,
    fit_estimator,
    permutation_importances,
    predict,
    stop_rows,
)
from mlbench.models.base import final_estimator, preprocessed
from mlbench.suite import Job


class JobSkipped(Exception):
    """The model does not apply to this dataset (recorded as ``skipped`` with the reason)."""


def now_iso() -> str:
    """Current UTC time, ISO 8601 with seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@functools.lru_cache(maxsize=1)
def versions() -> str:
    """JSON of the library versions that determine results (computed once per process)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("mlbench", "scikit-learn", "xgboost", "numpy", "pandas", "torch", "timm"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return json.dumps(out, sort_keys=True)


def base_row(job: Job) -> dict[str, Any]:
    """The fields of a result row known before running the job."""
    return {
        "job_id": job.job_id,
        "suite": job.suite,
        "dataset": job.dataset,
        "model": job.model,
        "params_json": json.dumps(job.params, sort_keys=True, default=str),
        "fold": job.fold,
        "repeat": job.repeat,
        "train_size": job.train_size,
        "seed": job.seed,
    }


def failure_row(job: Job, status: str, error: str, started_at: str | None = None) -> dict[str, Any]:
    """A result row for a job that did not finish ok (failed / timeout / oom / skipped)."""
    row = base_row(job)
    row.update(status=status, error=error, started_at=started_at, finished_at=now_iso(), versions=versions())
    return row


class PeakMemory:
    """Sample this process's resident memory in a background thread; ``peak_mb`` after ``stop()``.

    A sampler (not ``ru_maxrss``) because a worker runs many jobs and the lifetime peak of the
    process would charge one job for another's memory.
    """

    def __init__(self, interval: float = 0.02) -> None:
        import psutil

        self._proc = psutil.Process()
        self._interval = interval
        self._stop = threading.Event()
        self.peak = self._proc.memory_info().rss
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            rss = self._proc.memory_info().rss
            if rss > self.peak:
                self.peak = rss

    def stop(self) -> float:
        """Stop sampling and return the peak resident memory in MB."""
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)
        return self.peak / 2**20


@functools.lru_cache(maxsize=16)
def _folds(
    dataset_key: str, base_dir: str, resampling_json: str, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    from mlbench.datasets import load_dataset
    from mlbench.splits import RowSplitter

    resampling = json.loads(resampling_json)
    ds = load_dataset(json.loads(dataset_key), base_dir, resampling=resampling)
    return RowSplitter.of(ds, resampling).folds(seed)


@functools.lru_cache(maxsize=16)
def _smallest_pool(dataset_key: str, base_dir: str, resampling_json: str, seed: int) -> int:
    """Rows of the smallest training pool over every fold: fractions of a size resolve against it,
    so a fraction means one number of rows in every fold (see :func:`mlbench.splits.rows_for_size`)."""
    from mlbench.datasets import load_dataset
    from mlbench.splits import RowSplitter

    resampling = json.loads(resampling_json)
    ds = load_dataset(json.loads(dataset_key), base_dir, resampling=resampling)
    splitter = RowSplitter.of(ds, resampling)
    whole_fold = resampling.get("val", "holdout") == "cross_fit" or resampling["fit_on_val"]
    sizes = []
    for train_fold, _ in _folds(dataset_key, base_dir, resampling_json, seed):
        if whole_fold:
            sizes.append(len(train_fold))
        else:
            pool, _ = splitter.validation(train_fold, resampling["val_fraction"], seed)
            sizes.append(len(pool))
    return min(sizes)


def _sanity(
    job: Job, info: Any, *, task: str, kinds: dict[str, str], X: Any, y: np.ndarray
) -> dict[str, Any]:
    """Can the model overfit 32 training rows? (Karpathy's first check, before trusting a score.)

    Each family may lengthen its training for this (``ModelInfo.sanity_params``: deep models get at
    least 50 epochs and no early stopping), so that failing means the model or its settings cannot
    learn, not that it was stopped early.
    """
    from mlbench.splits import stratified_order

    rows = stratified_order(np.arange(len(y)), y, task, job.seed)[:32]
    Xs = X.iloc[rows] if hasattr(X, "iloc") else X[rows]
    ys = y[rows]
    est = build_estimator(job, info, task, kinds)
    if info.sanity_params is not None:
        model = final_estimator(est)
        model.set_params(**info.sanity_params(model.get_params()))
    t0 = time.perf_counter()
    try:
        ys_fit = np.searchsorted(np.unique(ys), ys) if task == "classification" else ys
        est.fit(Xs, ys_fit)
        score = float(est.score(Xs, ys_fit))  # accuracy, or R^2 for regression
    except Exception as exc:
        return {"sanity_passed": False, "sanity_score": None, "sanity_error": f"{type(exc).__name__}: {exc}"}
    return {
        "sanity_passed": score >= 0.99,
        "sanity_score": score,
        "sanity_seconds": time.perf_counter() - t0,
        "sanity_error": None,
    }


def run_job(job: Job) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Run one job: load, split, fit, predict, score (see :func:`_run_job`).

    Relative paths in model parameters (weights files, pretrain datasets) resolve against the
    suite file's folder while the job runs. BLAS and OpenMP pools are held to the job's threads
    (``executor.threads_per_job``): unlimited, every worker would start one thread per core and
    several workers would oversubscribe the machine (joblib's loky workers limit them the same way).
    """
    from threadpoolctl import threadpool_limits

    from mlbench.context import BASE_DIR
    from mlbench.execution.gpus import gpu_peak_mb, reset_gpu_peak

    token = BASE_DIR.set(job.base_dir)
    reset_gpu_peak()
    try:
        with threadpool_limits(limits=job.threads):
            row, preds = _run_job(job)
    finally:
        BASE_DIR.reset(token)
    # torch's peak on this job's GPU; None for a job that never started CUDA
    row["gpu_peak_memory_mb"] = gpu_peak_mb()
    return row, preds


def _load(job: Job) -> tuple[Any, Any, str]:
    """Dataset, model info and task type; JobSkipped when the model does not apply to the data."""
    from mlbench.datasets import load_dataset
    from mlbench.models import MODELS

    if job.plugins:
        from mlbench.plugins import load_plugins

        load_plugins(job.plugins)
    # with group_kfold / time_series the resampling's column is set aside: never a feature
    ds = load_dataset(job.dataset_spec, job.base_dir, resampling=job.resampling)
    task = ds.task_type
    info = MODELS.get(job.model_name)
    if task not in info.task_types:
        raise JobSkipped(f"{job.model_name} does not support {task} (supports {', '.join(info.task_types)})")
    if info.input_kind == "image" and not ds.is_image:
        raise JobSkipped(f"{job.model_name} needs image data and {ds.name} is tabular")
    problems = info.check_params(job.params, task)
    if problems:
        raise ValueError("; ".join(problems))
    return ds, info, task


def _cross_fits(job: Job) -> bool:
    # .get: a Job built by hand (tests, plugins) may carry a resampling dict from before `val`
    return job.resampling.get("val", "holdout") == "cross_fit"


def _select_rows(job: Job, ds: Any, early_stopping: bool) -> Rows:
    """The fold's test rows, its validation split, the nested train-size subset and stop rows."""
    from mlbench.splits import RowSplitter

    splitter = RowSplitter.of(ds, job.resampling)
    smallest = None
    if ds.test_X is not None:
        train_fold, test_idx = np.arange(len(ds.y)), None
    elif ds.folds is not None:
        # official splits (an OpenML task's), in place of the suite's resampling
        train_fold, test_idx = ds.folds[job.fold]
    else:
        key = json.dumps(job.dataset_spec, sort_keys=True)
        resampling_json = json.dumps(job.resampling, sort_keys=True)
        train_fold, test_idx = _folds(key, job.base_dir, resampling_json, job.split_seed)[job.fold]
        if 0 < job.train_size < 1:
            smallest = _smallest_pool(key, job.base_dir, resampling_json, job.split_seed)
    if _cross_fits(job):
        # no validation split: every training row gets an out-of-fold prediction instead
        try:
            train_idx = splitter.subset(train_fold, job.train_size, job.seed, smallest_pool=smallest)
        except ValueError as exc:
            raise JobSkipped(str(exc)) from None
        return Rows(train=train_idx, fit=train_idx, stop=train_idx[:0], val=train_idx, test=test_idx)
    pool, val_idx = splitter.validation(train_fold, job.resampling["val_fraction"], job.split_seed)
    if job.resampling["fit_on_val"]:
        pool = train_fold
    try:
        train_idx = splitter.subset(pool, job.train_size, job.seed, smallest_pool=smallest)
    except ValueError as exc:
        raise JobSkipped(str(exc)) from None
    fit_idx, stop_idx = stop_rows(job, ds, train_idx, early_stopping)
    return Rows(train=train_idx, fit=fit_idx, stop=stop_idx, val=val_idx, test=test_idx)


#: split -> (model input, true labels or values, row indices), for "train", "val" and "test"
SplitRows = dict[str, tuple[Any, np.ndarray, np.ndarray]]


def _matrix_of(ds: Any, info: Any, kinds: dict[str, str]) -> Callable[[Any, np.ndarray | None], Any]:
    """``matrix(X, idx)``: rows ``idx`` of ``X`` (all when None) as the model takes them."""
    image_model = info.input_kind == "image"
    all_numeric = all(kind == "numeric" for kind in kinds.values())

    def matrix(X: Any, idx: np.ndarray | None) -> Any:
        data = X if idx is None else (X.iloc[idx] if hasattr(X, "iloc") else X[idx])
        if image_model:
            return data
        if all_numeric:
            # plain float arrays: what a hand-written sklearn script passes, and cheaper
            arr = np.asarray(data, dtype=np.float64)
            return arr.reshape(len(arr), int(np.prod(arr.shape[1:])))
        return ds.tabular(data)

    return matrix


def _split_rows(job: Job, ds: Any, rows: Rows, matrix: Callable[[Any, np.ndarray | None], Any]) -> SplitRows:
    """The job's train, validation and test rows as model input, with their targets and indices."""
    train = (matrix(ds.X, rows.fit), ds.y[rows.fit], rows.fit)
    return {
        "train": train,
        # cross_fit's validation rows are its training rows: the same matrix, not a copy
        "val": train if _cross_fits(job) else (matrix(ds.X, rows.val), ds.y[rows.val], rows.val),
        "test": (
            (matrix(ds.test_X, None), ds.test_y, np.arange(len(ds.test_y)))
            if rows.test is None
            else (matrix(ds.X, rows.test), ds.y[rows.test], rows.test)
        ),
    }


def _run_job(job: Job) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Run one job: load, split, fit, predict, score.

    Parameters
    ----------
    job : Job
        The job (see :meth:`mlbench.suite.Suite.expand`).

    Returns
    -------
    row : dict
        The result record (status ``ok`` or ``skipped``); exceptions propagate to the caller,
        which records them as ``failed``.
    predictions : dict of str to numpy.ndarray
        For each split ``s`` in train, val, test: ``s_index`` (rows of the dataset, or of its own
        test file for a test file's rows), ``s_pred``, ``s_true`` and, for classifiers, ``s_proba``
        (float32, one column per class code), plus any arrays the model family adds
        (``ModelInfo.artifacts``: a CNN's filters, activations and mistakes). With
        ``val: cross_fit`` the val rows are the training rows, predicted out-of-fold, and train
        and test predictions are the mean of the inner models' (see :func:`_fit_cross`).
    """
    from mlbench.metrics import score

    started = now_iso()
    row = base_row(job)
    ds, info, task = _load(job)
    row["task_type"] = task
    # what loading did to the data (dropped columns, inf replaced, files ignored), kept with the
    # results so the report shows it as it was for this run, not as the file is today
    row["dataset_provenance"] = ds.provenance or None
    params = info.params_for(job.params, task)
    rows = _select_rows(job, ds, early_stops(info, params))
    kinds = ds.tabular_feature_kinds()
    matrix = _matrix_of(ds, info, kinds)
    split_rows = _split_rows(job, ds, rows, matrix)
    if job.tune is not None:
        job, params = _tune(job, info, ds=ds, rows=rows, kinds=kinds, matrix=matrix, row=row)
    fitting = _fit_cross if _cross_fits(job) else _fit_holdout
    fitted = fitting(
        job,
        info,
        task=task,
        kinds=kinds,
        params=params,
        ds=ds,
        rows=rows,
        split_rows=split_rows,
        matrix=matrix,
        row=row,
    )
    predicted = fitted.predicted

    preds: dict[str, np.ndarray] = {}
    for split, (_, y_true, index) in split_rows.items():
        y_pred, proba = predicted[split]
        for name, value in score(job.metrics[task], y_true, y_pred, proba, ds.n_classes).items():
            row[f"{split}_{name}"] = value
        preds.update({f"{split}_index": index, f"{split}_pred": y_pred, f"{split}_true": y_true})
        if proba is not None:
            preds[f"{split}_proba"] = proba.astype(np.float32)

    row.update(
        status="ok",
        error=None,
        n_train=len(rows.train),
        n_fit=fitted.n_fit,
        n_val=len(rows.val),
        n_test=len(split_rows["test"][1]),
        val_in_fit=fitted.val_in_fit,
        scored_metrics=",".join(job.metrics[task]),
        fit_seconds=fitted.fit_seconds,
        predict_seconds=fitted.predict_seconds,
        peak_memory_mb=fitted.peak_mb,
        n_params=None,
        device="cpu",
        started_at=started,
        finished_at=now_iso(),
        versions=versions(),
        history_json=None,
        worker_pid=os.getpid(),
        **fitted.extra,
    )
    row.update(fitted.facts)
    if job.importance is not None:
        row["importance_json"] = _importance(job, ds, fitted, split_rows, task)
    if fitted.model is not None and info.artifacts is not None and task == "classification":
        X_test, y_test, _ = split_rows["test"]
        preds.update(info.artifacts(fitted.model, ds, X_test, y_test, predicted["test"][1]))
    return row, preds


def _importance(job: Job, ds: Any, fitted: _Fitted, split_rows: SplitRows, task: str) -> str | None:
    """Permutation importance of the job's model on its test rows, as JSON (None when not computed).

    See :func:`mlbench.fitting.permutation_importances`: the suite's primary metric,
    ``n_repeats`` shuffles per feature seeded by the job's seed, outside the fit and predict
    timings (its own ``seconds`` are in the JSON). Image datasets and ``val: cross_fit`` jobs (no
    single model) get none, with a warning stored on the row.
    """
    import warnings

    if ds.is_image:
        warnings.warn(
            "importance: not computed for image datasets (per-pixel shuffles say little)", stacklevel=2
        )
        return None
    if fitted.estimator is None:
        warnings.warn(
            "importance: not computed with val: cross_fit (the test predictions average several models)",
            stacklevel=2,
        )
        return None
    X_test, y_test, _ = split_rows["test"]
    if len(y_test) == 0:
        return None
    names = None if hasattr(X_test, "columns") else [str(c) for c in ds.tabular(ds.X[:1]).columns]
    found = permutation_importances(
        fitted.estimator,
        X_test,
        y_test,
        task=task,
        classes=fitted.classes,
        metric=job.metrics[task][0],
        n_repeats=int(job.importance.get("n_repeats", DEFAULT_IMPORTANCE_REPEATS)),
        seed=job.seed,
        feature_names=names,
    )
    return json.dumps(found)


def _tune(
    job: Job,
    info: Any,
    *,
    ds: Any,
    rows: Rows,
    kinds: dict[str, str],
    matrix: Callable[[Any, np.ndarray | None], Any],
    row: dict[str, Any],
) -> tuple[Job, dict[str, Any]]:
    """Tune on the training rows (see :mod:`mlbench.tuning`); the job with the best parameters.

    The row gets ``best_params_json``, ``n_trials``, ``tune_seconds``, ``tune_metric`` and the
    trials themselves (``tune_trials``, which the store keeps in its own table).
    """
    import dataclasses

    from mlbench.tuning import tune_job

    result = tune_job(job, info, ds=ds, rows=rows, kinds=kinds, matrix=matrix)
    row.update(
        best_params_json=json.dumps(result.best_params, sort_keys=True, default=str),
        n_trials=len(result.trials),
        tune_seconds=result.seconds,
        tune_metric=result.metric,
        tune_best_value=result.best_value,
        tune_trials=result.trials,
    )
    tuned = dataclasses.replace(job, params={**job.params, **result.best_params})
    return tuned, info.params_for(tuned.params, ds.task_type)


@dataclass
class _Fitted:
    """What fitting a job produced, whichever way its validation predictions were made."""

    #: split -> (labels or values, probabilities or None), for "train", "val" and "test"
    predicted: dict[str, tuple[np.ndarray, np.ndarray | None]]
    fit_seconds: float
    predict_seconds: float  # of the test rows
    peak_mb: float
    n_fit: int
    val_in_fit: bool
    #: ``ModelInfo.describe``'s facts for the result row
    facts: dict[str, Any]
    #: the fitted model (the first of a cross-fit) for ``ModelInfo.artifacts``; None when unused
    model: Any
    #: further row fields (``inner_folds``)
    extra: dict[str, Any]
    #: the fitted estimator (preprocessing included) and its classes, for permutation importance;
    #: None with ``val: cross_fit`` (several models)
    estimator: Any = None
    classes: Classes | None = None


def _describe(info: Any, model: Any) -> dict[str, Any]:
    """``ModelInfo.describe``'s facts for a result row (a training history as JSON)."""
    if info.describe is None:
        return {}
    facts = dict(info.describe(model))
    if facts.get("history") is not None:
        facts["history_json"] = json.dumps(facts.pop("history"), default=float)
    return facts


def _fit_holdout(
    job: Job,
    info: Any,
    *,
    task: str,
    kinds: dict[str, str],
    params: dict[str, Any],
    ds: Any,
    rows: Rows,
    split_rows: SplitRows,
    matrix: Callable[[Any, np.ndarray | None], Any],
    row: dict[str, Any],
) -> _Fitted:
    """One model fitted on the job's fit rows, predicting train, the validation split and test."""
    X_train, y_train, _ = split_rows["train"]
    classes = Classes(task, y_train, ds.n_classes)
    fit_y = classes.codes(y_train)
    stop = classes.seen(rows.stop, ds.y)

    estimator = build_estimator(job, info, task, kinds)
    if job.sanity:
        row.update(_sanity(job, info, task=task, kinds=kinds, X=X_train, y=fit_y))
    memory = PeakMemory()
    predicted: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    t0 = time.perf_counter()
    try:
        X_stop, y_stop, hook = matrix(ds.X, stop), classes.codes(ds.y[stop]), None
        if (
            info.monitor_fit is not None
            and not early_stops(info, params)
            and len(rows.val) > 0
            and not job.resampling["fit_on_val"]
        ):
            # no early stopping and a validation split held out of training: record its loss per
            # epoch (the overfitting check's "validation loss rising after the best epoch")
            watch = classes.seen(rows.val, ds.y)
            X_stop, y_stop, hook = matrix(ds.X, watch), classes.codes(ds.y[watch]), info.monitor_fit
        fit_estimator(
            estimator, X_train, fit_y, info=info, params=params, X_stop=X_stop, y_stop=y_stop, hook=hook
        )
        fit_seconds = time.perf_counter() - t0
        t1 = time.perf_counter()
        predicted["test"] = predict(estimator, split_rows["test"][0], task, classes, ds.y.dtype)
        predict_seconds = time.perf_counter() - t1
        for split in ("train", "val"):
            predicted[split] = predict(estimator, split_rows[split][0], task, classes, ds.y.dtype)
    finally:
        peak_mb = memory.stop()
    model = final_estimator(estimator)
    staged = _staged_scores(job, info, estimator, split_rows=split_rows, task=task, classes=classes)
    return _Fitted(
        predicted=predicted,
        fit_seconds=fit_seconds,
        predict_seconds=predict_seconds,
        peak_mb=peak_mb,
        n_fit=len(rows.fit),
        val_in_fit=bool(job.resampling["fit_on_val"] and len(rows.val) > 0),
        facts=_describe(info, model),
        model=model,
        extra={} if staged is None else {"staged_json": staged},
        estimator=estimator,
        classes=classes,
    )


#: Training rows scored along ``n_estimators`` (evenly spaced when there are more): the train
#: curve is for the picture, and 20 predictions over every training row would cost more than the fit.
STAGED_TRAIN_ROWS = 1000


def _staged_scores(
    job: Job,
    info: Any,
    estimator: Any,
    *,
    split_rows: SplitRows,
    task: str,
    classes: Classes,
) -> str | None:
    """Train and test scores of an ensemble's first ``k`` members along ``n_estimators`` (JSON).

    ``ModelInfo.staged`` predicts from the fitted model (no refit). The suite's primary metric is
    scored at each size (the overfitting check's), with the job's other metrics that numpy scores
    cheaply (:func:`mlbench.fitting.fast_score`). Outside the fit and predict timings. None for models without ``staged``.
    """
    if info.staged is None:
        return None
    # the primary metric, and every other metric of the job that numpy scores cheaply
    names = list(dict.fromkeys([job.metrics[task][0], *(m for m in job.metrics[task] if m in FAST_METRICS)]))
    out: dict[str, Any] = {"n_estimators": None, "train": {}, "test": {}}
    for split in ("train", "test"):
        X, y_true, _ = split_rows[split]
        if split == "train" and len(y_true) > STAGED_TRAIN_ROWS:
            keep = np.linspace(0, len(y_true) - 1, STAGED_TRAIN_ROWS).round().astype(np.int64)
            X = X.iloc[keep] if hasattr(X, "iloc") else X[keep]
            y_true = y_true[keep]
        if len(y_true) == 0:
            continue
        # an optional third item (dict) describes the ensemble, e.g. xgboost's {"trained", "kept"} rounds
        sizes, outputs, *meta = info.staged(final_estimator(estimator), preprocessed(estimator, X))
        out["n_estimators"] = sizes
        if meta and isinstance(meta[0], dict):
            out.update({k: v for k, v in meta[0].items() if k not in out})
        out[split] = _staged_series(outputs, y_true, names, task, classes)
    out["train_rows"] = min(len(split_rows["train"][1]), STAGED_TRAIN_ROWS)
    return json.dumps(out)


def _staged_series(
    outputs: list[Any], y_true: np.ndarray, names: list[str], task: str, classes: Classes
) -> dict[str, list[float | None]]:
    """Each metric of ``names`` at each ensemble size's output (None where it is NaN)."""
    series: dict[str, list[float | None]] = {name: [] for name in names}
    for output in outputs:
        proba = None
        if task == "classification":
            proba = classes.proba(np.asarray(output, dtype=np.float64))
            proba = proba / np.clip(proba.sum(axis=1, keepdims=True), 1e-300, None)
            pred = np.argmax(proba, axis=1)
        else:
            pred = np.asarray(output, dtype=np.float64)
        for name in names:
            v = fast_score(name, y_true, pred, proba, classes.k)
            series[name].append(None if v != v else v)  # NaN is not JSON
    return series


def _fit_cross(
    job: Job,
    info: Any,
    *,
    task: str,
    kinds: dict[str, str],
    params: dict[str, Any],
    ds: Any,
    rows: Rows,
    split_rows: SplitRows,
    matrix: Callable[[Any, np.ndarray | None], Any],
    row: dict[str, Any],
) -> _Fitted:
    """``val: cross_fit``: one model per inner fold of the training rows (AutoGluon's bagging).

    Each training row's validation prediction comes from the model whose inner training rows
    left it out (out-of-fold); test and train predictions are the mean of the k models
    (probabilities averaged, labels the argmax of the mean; for regression the mean value), so
    the train predictions are partly in-sample. Every inner fit goes through the same
    :func:`mlbench.fitting.build_estimator` / :func:`mlbench.fitting.fit_estimator` path as a
    holdout job, its stopping rows (early-stopping models) held out of its own inner training
    rows and its absent classes mapped by its own :class:`mlbench.fitting.Classes`, so every
    probability has one column per dataset class.
    """
    from mlbench.splits import RowSplitter

    try:
        inner = RowSplitter.of(ds, job.resampling).inner_folds(
            rows.train, job.resampling["inner_folds"], job.seed
        )
    except ValueError as exc:
        raise JobSkipped(str(exc)) from None
    X_train, y_train, _ = split_rows["train"]
    X_test = split_rows["test"][0]
    if job.sanity:
        row.update(_sanity(job, info, task=task, kinds=kinds, X=X_train, y=y_train))
    early = early_stops(info, params)
    classification = task == "classification"
    k, n = ds.n_classes, len(rows.train)
    val_pred = np.empty(n, dtype=np.int64 if classification else np.float64)
    val_proba = np.zeros((n, k)) if classification else None
    sums: dict[str, np.ndarray] = {}  # split -> sum over the inner models (probabilities or values)
    fit_seconds = predict_seconds = 0.0
    n_fits: list[int] = []
    facts: dict[str, Any] = {}
    first: Any = None
    memory = PeakMemory()
    try:
        for fit_pos, oof_pos in inner:
            fit_idx, stop_idx = stop_rows(job, ds, rows.train[fit_pos], early)
            classes = Classes(task, ds.y[fit_idx], k)
            stop = classes.seen(stop_idx, ds.y)
            estimator = build_estimator(job, info, task, kinds)
            t0 = time.perf_counter()
            fit_estimator(
                estimator,
                matrix(ds.X, fit_idx),
                classes.codes(ds.y[fit_idx]),
                info=info,
                params=params,
                X_stop=matrix(ds.X, stop),
                y_stop=classes.codes(ds.y[stop]),
            )
            fit_seconds += time.perf_counter() - t0
            t1 = time.perf_counter()
            test = predict(estimator, X_test, task, classes, ds.y.dtype)
            predict_seconds += time.perf_counter() - t1
            oof = predict(estimator, matrix(ds.X, rows.train[oof_pos]), task, classes, ds.y.dtype)
            train = predict(estimator, X_train, task, classes, ds.y.dtype)
            val_pred[oof_pos] = oof[0]
            if val_proba is not None:
                val_proba[oof_pos] = oof[1]
            for split, (values, proba) in (("test", test), ("train", train)):
                part = proba if classification else values
                sums[split] = part.astype(np.float64) if split not in sums else sums[split] + part
            n_fits.append(len(fit_idx))
            if first is None:
                # facts of the first inner model stand for the job's; keep the model itself only
                # when its artifacts are wanted (a deep model holds GPU memory)
                model = final_estimator(estimator)
                facts = _describe(info, model)
                first = model if info.artifacts is not None and classification else None
    finally:
        peak_mb = memory.stop()

    predicted: dict[str, tuple[np.ndarray, np.ndarray | None]] = {"val": (val_pred, val_proba)}
    for split, total in sums.items():
        mean = total / len(inner)
        predicted[split] = (np.argmax(mean, axis=1), mean) if classification else (mean, None)
    return _Fitted(
        predicted=predicted,
        fit_seconds=fit_seconds,
        predict_seconds=predict_seconds,
        peak_mb=peak_mb,
        n_fit=int(np.median(n_fits)),
        val_in_fit=False,
        facts=facts,
        model=first,
        extra={"inner_folds": len(inner)},
    )


def run_job_safely(job: Job) -> tuple[dict[str, Any], dict[str, np.ndarray] | None]:
    """Run a job and turn any exception into a ``failed`` (or ``skipped``) row; never raises."""
    import warnings

    started = now_iso()
    with warnings.catch_warnings(record=True) as caught:
        # Warnings (convergence, ...) belong to the job: stored with its row, not printed over
        # the progress bar by every worker.
        warnings.simplefilter("always")
        row, preds = _run_catching(job, started)
    seen: list[str] = []
    for w in caught:
        text = f"{w.category.__name__}: {w.message}"
        if text not in seen:
            seen.append(text)
    row["warnings"] = "\n".join(seen[:5]) if seen else None
    return row, preds


def _run_catching(job: Job, started: str) -> tuple[dict[str, Any], dict[str, np.ndarray] | None]:
    try:
        return run_job(job)
    except JobSkipped as exc:
        return failure_row(job, "skipped", str(exc), started), None
    except Exception as exc:
        from mlbench.execution.gpus import is_gpu_oom, recover_gpu

        if is_gpu_oom(exc):
            oom = f"{type(exc).__name__}: {exc}".strip()
        else:
            oom = None
            if isinstance(exc, MlbenchError):
                # our own errors already say what and how to fix; the traceback adds nothing
                message = f"{type(exc).__name__}: {exc}"
            else:
                message = f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc()}"
    if oom is None:
        return failure_row(job, "failed", message, started), None
    # Out of the except block, so the traceback (and the failed job's tensors it holds) is gone:
    # the worker frees the card's memory and stays usable for its next job.
    recover_gpu()
    hint = "; lower batch_size / image_size, use a smaller model, or set executor.jobs_per_gpu: 1"
    return failure_row(job, "oom", f"GPU out of memory: {oom}{hint}", started), None
