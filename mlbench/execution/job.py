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
from datetime import datetime, timezone
from typing import Any

import numpy as np

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
    from mlbench.splits import make_folds

    ds = load_dataset(json.loads(dataset_key), base_dir)
    return make_folds(ds.y, ds.task_type, json.loads(resampling_json), seed)


def _build(job: Job, info: Any, task_type: str, kinds: dict[str, str]) -> Any:
    params = info.params_for(job.params, task_type)
    estimator = info.factory(params, task_type, job.seed, job.threads)
    if info.input_kind == "image":
        return estimator
    from sklearn.pipeline import Pipeline

    from mlbench.models.preprocessing import make_preprocessor

    return Pipeline([("preprocess", make_preprocessor(kinds, info.scale)), ("model", estimator)])


def _n_params(estimator: Any) -> int | None:
    model = estimator[-1] if hasattr(estimator, "steps") else estimator
    n = getattr(model, "n_params_", None)
    if n is not None:
        return int(n)
    tree = getattr(model, "tree_", None)
    if tree is not None:
        return int(tree.node_count)
    forest = getattr(model, "estimators_", None)
    if isinstance(forest, list) and forest and hasattr(forest[0], "tree_"):
        return int(sum(t.tree_.node_count for t in forest))
    coef = getattr(model, "coef_", None)
    if coef is not None:
        return int(np.size(coef) + np.size(getattr(model, "intercept_", 0)))
    return None


def _sanity(job: Job, info: Any, task: str, kinds: dict[str, str], X: Any, y: np.ndarray) -> dict[str, Any]:
    """Can the model overfit 32 training rows? (Karpathy's first check, before trusting a score.)

    Deep models get at least 50 epochs and no early stopping for this, so that failing means the
    model or its settings cannot learn, not that it was stopped early.
    """
    from mlbench.splits import stratified_order

    rows = stratified_order(np.arange(len(y)), y, task, job.seed)[:32]
    Xs = X.iloc[rows] if hasattr(X, "iloc") else X[rows]
    ys = y[rows]
    est = _build(job, info, task, kinds)
    model = est[-1] if hasattr(est, "steps") else est
    extra = {}
    if "epochs" in model.get_params():
        extra = {"epochs": max(50, int(model.get_params()["epochs"])), "early_stopping": False}
        model.set_params(**extra)
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
    suite file's folder while the job runs.
    """
    from mlbench.context import BASE_DIR

    token = BASE_DIR.set(job.base_dir)
    try:
        return _run_job(job)
    finally:
        BASE_DIR.reset(token)


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
        ``val_index``, ``val_pred``, ``test_index``, ``test_pred`` and, for classifiers,
        ``val_proba`` / ``test_proba`` (columns = class codes).
    """
    from mlbench.datasets import load_dataset
    from mlbench.metrics import score
    from mlbench.models import MODELS
    from mlbench.splits import train_subset, validation_split

    started = now_iso()
    row = base_row(job)
    if job.plugins:
        from mlbench.plugins import load_plugins

        load_plugins(job.plugins)
    ds = load_dataset(job.dataset_spec, job.base_dir)
    task = ds.task_type
    row["task_type"] = task
    info = MODELS.get(job.model_name)
    if task not in info.task_types:
        raise JobSkipped(f"{job.model_name} does not support {task} (supports {', '.join(info.task_types)})")
    if info.input_kind == "image" and not ds.is_image:
        raise JobSkipped(f"{job.model_name} needs image data and {ds.name} is tabular")
    problems = info.check_params(job.params, task)
    if problems:
        raise ValueError("; ".join(problems))

    # -- rows --------------------------------------------------------------------------------
    if ds.test_X is not None:
        train_fold = np.arange(len(ds.y))
        test_idx = None
    else:
        key = json.dumps(job.dataset_spec, sort_keys=True)
        train_fold, test_idx = _folds(
            key, job.base_dir, json.dumps(job.resampling, sort_keys=True), job.split_seed
        )[job.fold]
    params = info.params_for(job.params, task)
    early_stops = info.validation_fit is not None and info.validation_fit(params, None, None) is not None
    pool, val_idx = validation_split(train_fold, ds.y, task, job.resampling["val_fraction"], job.split_seed)
    if job.resampling["fit_on_val"]:
        pool = train_fold
    try:
        train_idx = train_subset(pool, ds.y, task, job.train_size, job.seed)
    except ValueError as exc:
        raise JobSkipped(str(exc)) from None
    if early_stops:
        # An early-stopping model holds its stopping set out of its own training rows, so every
        # model sees exactly n_train labelled rows whatever the train size.
        fit_idx, stop_idx = validation_split(
            train_idx, ds.y, task, job.resampling["val_fraction"] or 0.2, job.seed
        )
    else:
        fit_idx, stop_idx = train_idx, train_idx[:0]

    image_model = info.input_kind == "image"
    X_all = ds.X

    kinds = ds.tabular_feature_kinds()
    all_numeric = all(kind == "numeric" for kind in kinds.values())

    def rows(X: Any, idx: np.ndarray | None) -> Any:
        data = X if idx is None else (X.iloc[idx] if hasattr(X, "iloc") else X[idx])
        if image_model:
            return data
        if all_numeric:
            # plain float arrays: what a hand-written sklearn script passes, and cheaper
            arr = np.asarray(data, dtype=np.float64)
            return arr.reshape(len(arr), int(np.prod(arr.shape[1:])))
        return ds.tabular(data)

    X_train, y_train = rows(X_all, fit_idx), ds.y[fit_idx]
    X_val, y_val = rows(X_all, val_idx), ds.y[val_idx]
    if test_idx is None:
        X_test, y_test = rows(ds.test_X, None), ds.test_y
    else:
        X_test, y_test = rows(X_all, test_idx), ds.y[test_idx]

    # -- classes absent from a small training subset -------------------------------------------
    # Models see contiguous codes (xgboost requires them); predictions are mapped back and
    # probability columns placed at the full set of class codes.
    k = ds.n_classes
    present = np.unique(y_train) if task == "classification" else None
    remap = present is not None and len(present) < k
    fit_y = np.searchsorted(present, y_train) if remap else y_train
    if remap:
        stop_idx = stop_idx[np.isin(ds.y[stop_idx], present)]
    X_stop = rows(X_all, stop_idx)
    y_stop = np.searchsorted(present, ds.y[stop_idx]) if remap else ds.y[stop_idx]

    estimator = _build(job, info, task, kinds)
    if job.sanity:
        row.update(_sanity(job, info, task, kinds, X_train, fit_y))
    memory = PeakMemory()
    t0 = time.perf_counter()
    try:
        if early_stops and hasattr(estimator, "steps"):
            # fit the preprocessing once, then hand the transformed stopping rows to the model
            pre = estimator[:-1]
            Xt = pre.fit_transform(X_train, fit_y)
            estimator[-1].fit(Xt, fit_y, **(info.validation_fit(params, pre.transform(X_stop), y_stop) or {}))
        elif early_stops:
            estimator.fit(X_train, fit_y, **(info.validation_fit(params, X_stop, y_stop) or {}))
        else:
            estimator.fit(X_train, fit_y)
        fit_seconds = time.perf_counter() - t0

        def predict(X: Any) -> tuple[np.ndarray, np.ndarray | None]:
            if len(X) == 0:
                shape = (0, k) if task == "classification" else (0,)
                return np.empty(0, dtype=ds.y.dtype), (np.empty(shape) if task == "classification" else None)
            if task != "classification":
                return np.asarray(estimator.predict(X), dtype=np.float64), None
            proba = np.asarray(estimator.predict_proba(X), dtype=np.float64)
            if remap:
                full = np.zeros((len(X), k))
                full[:, present] = proba
                proba = full
            sums = proba.sum(axis=1, keepdims=True)
            if not np.allclose(sums, 1.0, rtol=0, atol=1e-12):
                # float32 probabilities (xgboost) sum to 1 only within 1e-7; log_loss wants 1
                proba = proba / np.clip(sums, 1e-300, None)
            # labels from probabilities: identical to predict() for sklearn/xgboost classifiers
            # (argmax, first class on ties) and saves a second pass over the data
            return np.argmax(proba, axis=1), proba

        t1 = time.perf_counter()
        test_pred, test_proba = predict(X_test)
        predict_seconds = time.perf_counter() - t1
        train_pred, train_proba = predict(X_train)
        val_pred, val_proba = predict(X_val)
    finally:
        peak_mb = memory.stop()

    for split, (yt, yp, pp) in {
        "train": (y_train, train_pred, train_proba),
        "val": (y_val, val_pred, val_proba),
        "test": (y_test, test_pred, test_proba),
    }.items():
        for name, value in score(job.metrics[task], yt, yp, pp, k).items():
            row[f"{split}_{name}"] = value

    row.update(
        status="ok",
        error=None,
        n_train=len(train_idx),
        n_fit=len(fit_idx),
        n_val=len(val_idx),
        n_test=len(y_test),
        val_in_fit=bool(job.resampling["fit_on_val"] and len(val_idx) > 0),
        fit_seconds=fit_seconds,
        predict_seconds=predict_seconds,
        peak_memory_mb=peak_mb,
        n_params=_n_params(estimator),
        device=getattr(estimator[-1] if hasattr(estimator, "steps") else estimator, "device_", None) or "cpu",
        started_at=started,
        finished_at=now_iso(),
        versions=versions(),
        history_json=None,
        worker_pid=os.getpid(),
    )
    model = estimator[-1] if hasattr(estimator, "steps") else estimator
    history = getattr(model, "history_", None)
    if history is not None:
        row["history_json"] = json.dumps(history, default=float)
        row["best_epoch"] = getattr(model, "best_epoch_", None)
    preds: dict[str, np.ndarray] = {
        "val_index": val_idx,
        "val_pred": val_pred,
        "test_index": np.arange(len(y_test)) if test_idx is None else test_idx,
        "test_pred": test_pred,
    }
    if task == "classification":
        preds["val_proba"] = val_proba.astype(np.float32)
        preds["test_proba"] = test_proba.astype(np.float32)
        if image_model and ds.is_image:
            from mlbench.deep.visualize import capture

            # y codes of the test rows, as the model saw them (probability columns = full codes)
            preds.update(capture(model, X_test, y_test, test_proba))
    return row, preds


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
        from mlbench.errors import MlbenchError

        if isinstance(exc, MlbenchError):
            # our own errors already say what and how to fix; the traceback adds nothing
            message = f"{type(exc).__name__}: {exc}"
        else:
            message = f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc()}"
        return failure_row(job, "failed", message, started), None
