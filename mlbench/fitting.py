"""The fit and predict steps a job and a tuning trial share, so both fit a model the same way.

:mod:`mlbench.execution.job` runs a job with them and :mod:`mlbench.tuning` runs each trial of a
job's study with them; this module imports neither, so the imports stay one-way (job -> tuning ->
fitting, job -> fitting).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mlbench.errors import MlbenchError
from mlbench.suite.jobs import DEFAULT_IMPORTANCE_REPEATS

if TYPE_CHECKING:  # pragma: no cover
    from mlbench.models import ModelInfo
    from mlbench.suite import Job

__all__ = [
    "DEFAULT_IMPORTANCE_REPEATS",
    "FAST_METRICS",
    "PROBA_SUM_TOLERANCE",
    "Classes",
    "InvalidPredictions",
    "Rows",
    "build_estimator",
    "check_predictions",
    "early_stops",
    "fast_score",
    "fit_estimator",
    "permutation_importances",
    "predict",
    "stop_rows",
]


@dataclass
class Rows:
    """Which dataset rows a job uses (indices into ``Dataset.X``; ``test`` is None for a test file).

    With ``val: cross_fit`` the validation rows are the training rows themselves (each predicted
    out-of-fold), ``fit`` is ``train`` and ``stop`` is empty: the inner fits draw their own.
    """

    train: np.ndarray  # the job's n_train labelled rows
    fit: np.ndarray  # what the model is fitted on (train minus early-stopping rows)
    stop: np.ndarray  # early-stopping rows, held out of ``fit``
    val: np.ndarray  # the fold's fixed validation split
    test: np.ndarray | None


def build_estimator(job: Job, info: ModelInfo, task_type: str, kinds: dict[str, str]) -> Any:
    """The job's unfitted model, behind the family's preprocessing pipeline for tabular models.

    Parameters
    ----------
    job : Job
        Its parameters (under the family's defaults), seed and threads.
    info : ModelInfo
    task_type : str
    kinds : dict
        Feature name -> kind (``numeric``, ``categorical``, ...), for the preprocessing.
    """
    params = info.params_for(job.params, task_type)
    estimator = info.factory(params, task_type, job.seed, job.threads)
    if info.input_kind == "image":
        return estimator
    from sklearn.pipeline import Pipeline

    from mlbench.models.preprocessing import make_preprocessor

    if info.preprocessing is not None:
        # the family's own (CatBoost: categorical columns as text, named in its cat_features)
        pre = info.preprocessing(estimator, kinds, info.scale)
    else:
        pre = make_preprocessor(kinds, info.scale)
    return Pipeline([("preprocess", pre), ("model", estimator)])


def early_stops(info: ModelInfo, params: dict[str, Any]) -> bool:
    """Whether the model holds stopping rows out of its training rows with these parameters."""
    return info.validation_fit is not None and info.validation_fit(params, None, None) is not None


def stop_rows(
    job: Job, ds: Any, train_idx: np.ndarray, early_stopping: bool
) -> tuple[np.ndarray, np.ndarray]:
    """``(fit, stop)``: an early-stopping model's stopping rows, held out of its training rows.

    Parameters
    ----------
    job : Job
        Its ``resampling.val_fraction`` (0.2 when 0) sizes the stopping rows; its seed draws them.
    ds : Dataset
    train_idx : numpy.ndarray
        The rows the model may learn from.
    early_stopping : bool
        :func:`early_stops` of the model; without it every row is fitted and none held out.
    """
    if not early_stopping:
        return train_idx, train_idx[:0]
    from mlbench.splits import RowSplitter

    # An early-stopping model holds its stopping set out of its own training rows, so every
    # model sees exactly n_train labelled rows whatever the train size (whole groups, or the
    # latest rows, under group_kfold / time_series).
    return RowSplitter.of(ds, job.resampling).validation(
        train_idx, job.resampling["val_fraction"] or 0.2, job.seed
    )


class Classes:
    """Classes absent from a small training subset.

    Models see contiguous codes 0..m-1 of the m classes present (xgboost requires them);
    predictions are mapped back and probability columns placed at the dataset's full codes.

    Parameters
    ----------
    task : str
        The task type; a regression has no classes and maps nothing.
    y_fit : numpy.ndarray
        The dataset's class codes of the rows the model is fitted on.
    k : int
        Classes of the dataset.
    """

    def __init__(self, task: str, y_fit: np.ndarray, k: int) -> None:
        self.k = k
        self.present = np.unique(y_fit) if task == "classification" else None
        self.remap = self.present is not None and len(self.present) < k

    def codes(self, y: np.ndarray) -> np.ndarray:
        """Dataset codes -> the codes the model is fitted with."""
        return np.searchsorted(self.present, y) if self.remap else y

    def seen(self, idx: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The rows of ``idx`` whose class (``y[idx]``) the model is fitted with.

        Early-stopping and monitored rows of a class absent from the fitted rows have no code
        the model knows, so they are left out.
        """
        return idx[np.isin(y[idx], self.present)] if self.remap else idx

    def proba(self, proba: np.ndarray) -> np.ndarray:
        """Model probability columns -> one column per dataset class."""
        if not self.remap:
            return proba
        full = np.zeros((len(proba), self.k))
        full[:, self.present] = proba
        return full


def fit_estimator(
    estimator: Any,
    X: Any,
    y: Any,
    *,
    info: ModelInfo,
    params: dict[str, Any],
    X_stop: Any,
    y_stop: Any,
    hook: Any = None,
) -> None:
    """Fit, handing an early-stopping model its (preprocessed) stopping rows.

    Parameters
    ----------
    estimator : estimator or Pipeline
        From :func:`build_estimator`.
    X, y : array-like
        The rows it learns from (``y`` as :meth:`Classes.codes`).
    info : ModelInfo
    params : dict
        The model's full parameters (what ``validation_fit`` reads).
    X_stop, y_stop : array-like
        Stopping rows, handed over only when the family's hook asks for them.
    hook : callable, optional
        Replaces ``info.validation_fit`` (``ModelInfo.monitor_fit``: held-out rows whose loss is
        only recorded per epoch, for the overfitting check).
    """
    hook = hook if hook is not None else info.validation_fit
    extra = hook(params, None, None) if hook is not None else None
    if extra is None:
        estimator.fit(X, y)
    elif hasattr(estimator, "steps"):
        # fit the preprocessing once, then give the model the transformed stopping rows
        pre = estimator[:-1]
        Xt = pre.fit_transform(X, y)
        estimator[-1].fit(Xt, y, **hook(params, pre.transform(X_stop), y_stop))
    else:
        estimator.fit(X, y, **hook(params, X_stop, y_stop))


class InvalidPredictions(MlbenchError, ValueError):
    """A model returned predictions that cannot be scored (NaN, inf, wrong shape, not probabilities).

    The job is recorded as ``failed`` with this message instead of being scored and ranked.
    """


#: How far a row of probabilities may sum from 1 before it is refused: float32 outputs (xgboost,
#: torch softmax) are off by ~1e-7 per row; a model that forgot to normalise is off by far more.
PROBA_SUM_TOLERANCE = 1e-3


def check_predictions(raw: Any, n_rows: int, n_classes: int | None) -> np.ndarray:
    """Validate a model's raw output before it is scored; the validation step of every job.

    Parameters
    ----------
    raw : array-like
        What ``predict`` (regression, ``n_classes=None``) or ``predict_proba`` returned.
    n_rows : int
        Rows the model was asked to predict.
    n_classes : int or None
        Classes the classifier was fitted on (the probability columns it must return); None for
        a regressor.

    Returns
    -------
    numpy.ndarray
        Float64 values: shape ``(n_rows,)`` for a regressor (a single column is flattened),
        ``(n_rows, n_classes)`` for a classifier.

    Raises
    ------
    InvalidPredictions
        Wrong number of rows or columns, NaN or inf values, negative probabilities, or rows of
        probabilities that do not sum to 1 within :data:`PROBA_SUM_TOLERANCE`.
    """
    what = "predict" if n_classes is None else "predict_proba"
    try:
        values = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidPredictions(f"{what} returned values that are not numbers ({exc})") from None
    if n_classes is None and values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]  # a single-output regressor that keeps the column axis
    _check_shape(values, what, n_rows, n_classes)
    flat = values.reshape(n_rows, -1)
    for name, bad in (("NaN", np.isnan(flat)), ("inf", np.isinf(flat))):
        n_bad = int(bad.any(axis=1).sum())
        if n_bad:
            raise InvalidPredictions(f"predictions contain {name} in {n_bad} rows (of {n_rows})")
    if n_classes is not None:
        _check_probabilities(values, n_rows)
    return values


def _check_shape(values: np.ndarray, what: str, n_rows: int, n_classes: int | None) -> None:
    want_ndim = 1 if n_classes is None else 2
    if values.ndim != want_ndim:
        shape = "(n_rows,)" if n_classes is None else "(n_rows, n_classes)"
        raise InvalidPredictions(f"{what} returned an array of shape {values.shape}; expected {shape}")
    if values.shape[0] != n_rows:
        raise InvalidPredictions(f"{what} returned {values.shape[0]} rows for {n_rows} input rows")
    if n_classes is not None and values.shape[1] != n_classes:
        raise InvalidPredictions(f"{what} returned {values.shape[1]} columns for {n_classes} classes")


def _check_probabilities(values: np.ndarray, n_rows: int) -> None:
    n_neg = int((values < 0).any(axis=1).sum())
    if n_neg:
        raise InvalidPredictions(f"predictions contain negative probabilities in {n_neg} rows (of {n_rows})")
    sums = values.sum(axis=1)
    off = np.abs(sums - 1.0) > PROBA_SUM_TOLERANCE
    if off.any():
        worst = float(sums[off][np.argmax(np.abs(sums[off] - 1.0))])
        raise InvalidPredictions(
            f"predict_proba rows do not sum to 1 in {int(off.sum())} rows (of {n_rows}; "
            f"one sums to {worst:.6g}, tolerance {PROBA_SUM_TOLERANCE:g})"
        )


def predict(
    estimator: Any, X: Any, task: str, classes: Classes, label_dtype: Any
) -> tuple[np.ndarray, np.ndarray | None]:
    """Predicted labels/values and (classification) probabilities, one column per dataset class.

    Parameters
    ----------
    estimator : estimator or Pipeline
        Fitted.
    X : array-like
        Rows to predict (zero rows give empty arrays).
    task : str
    classes : Classes
        Of the rows the estimator was fitted on.
    label_dtype : numpy.dtype
        Of the dataset's labels, for an empty prediction.

    Raises
    ------
    InvalidPredictions
        See :func:`check_predictions`.
    """
    k = classes.k
    if len(X) == 0:
        return np.empty(0, dtype=label_dtype), (np.empty((0, k)) if task == "classification" else None)
    if task != "classification":
        return check_predictions(estimator.predict(X), len(X), None), None
    n_fitted = len(classes.present) if classes.present is not None else k
    proba = classes.proba(check_predictions(estimator.predict_proba(X), len(X), n_fitted))
    sums = proba.sum(axis=1, keepdims=True)
    if not np.allclose(sums, 1.0, rtol=0, atol=1e-12):
        # float32 probabilities (xgboost) sum to 1 only within 1e-7; log_loss wants 1
        proba = proba / np.clip(sums, 1e-300, None)
    # labels from probabilities: identical to predict() for sklearn/xgboost classifiers
    # (argmax, first class on ties) and saves a second pass over the data
    return np.argmax(proba, axis=1), proba


#: Metrics :func:`fast_score` computes with numpy (the rest go through the metric registry).
FAST_METRICS = frozenset({"accuracy", "log_loss", "rmse", "mae"})


def fast_score(name: str, y: np.ndarray, pred: np.ndarray, proba: np.ndarray | None, k: int) -> float:
    """One metric of one prediction: numpy for the common ones, else the metric registry.

    Scoring many predictions of the same rows (20 ensemble sizes, or every permuted feature x
    repeat of permutation importance), scikit-learn's input validation costs as much as the
    small models' predictions; the numpy versions compute the same numbers (log_loss clipped at
    the float64 epsilon, as scikit-learn does).
    """
    if name == "accuracy":
        return float(np.mean(pred == y))
    if name == "log_loss" and proba is not None:
        eps = np.finfo(np.float64).eps
        return float(-np.mean(np.log(np.clip(proba[np.arange(len(y)), y.astype(np.int64)], eps, 1.0))))
    if name == "rmse":
        return float(np.sqrt(np.mean((pred - y) ** 2)))
    if name == "mae":
        return float(np.mean(np.abs(pred - y)))
    from mlbench.metrics import score

    return score([name], y, pred, proba, k)[name]


#: Values (rows x columns) of the shuffled copies predicted in one call: bigger batches mean fewer
#: calls (a forest's predict costs ~15 ms however few rows it gets), at 8 bytes a value.
IMPORTANCE_BATCH_VALUES = 4_000_000


def permutation_importances(
    estimator: Any,
    X: Any,
    y: np.ndarray,
    *,
    task: str,
    classes: Classes,
    metric: str,
    n_repeats: int = DEFAULT_IMPORTANCE_REPEATS,
    seed: int = 0,
    feature_names: list[str] | None = None,
) -> dict[str, Any]:
    """Permutation importance of each input column on held-out rows, with the job's primary metric.

    The numbers of :func:`sklearn.inspection.permutation_importance` (``n_jobs=1``, the same
    ``random_state``: the same shuffles, the same importances; ``tests/test_importance.py``
    checks it), computed in batches: the shuffled copies of the rows are stacked and predicted in
    as few calls as :data:`IMPORTANCE_BATCH_VALUES` allows, where scikit-learn predicts once per
    column and repeat (for a random forest on 20 columns and 5 repeats that is 100 calls of
    ~15 ms whatever their size, several times the fit). Predictions are made the way a job makes
    them (probability columns mapped to the dataset's classes, labels their argmax) and scored
    with mlbench's metric. An importance is the drop of the score when the column is shuffled,
    in the metric's units and signed so that positive means the model needs the column (for a
    loss such as log_loss or rmse: how much it rises).

    When every column is numeric and the preprocessing maps each column on its own (median
    imputation, scaling), shuffling a column before or after it is the same permutation of the
    same values, so the model is scored on the preprocessed rows: the preprocessing runs once.
    Otherwise (categorical columns, one-hot encoded or native) the whole pipeline is scored on
    the raw columns.

    Parameters
    ----------
    estimator : estimator or Pipeline
        Fitted (:func:`build_estimator`).
    X : array-like
        Held-out rows as the job passes them to the estimator (the test fold).
    y : numpy.ndarray
        Their labels (dataset class codes) or values.
    task : str
    classes : Classes
        Of the rows the estimator was fitted on.
    metric : str
        The metric (the suite's primary for the task).
    n_repeats : int
        Shuffles per column.
    seed : int
        ``random_state`` of the shuffles.
    feature_names : list of str, optional
        One per column of ``X`` (default: the DataFrame's columns, else ``x0, x1, ...``).

    Returns
    -------
    dict
        ``{"metric", "greater_is_better", "n_repeats", "n_rows", "baseline", "features", "mean",
        "std", "seconds"}``: ``mean`` and ``std`` (numpy's, ddof 0, as scikit-learn's) over the
        repeats, one per feature, in ``features`` order; ``baseline`` is the unshuffled score.
    """
    import time

    from sklearn.utils import check_random_state

    from mlbench.metrics import METRICS

    t0 = time.perf_counter()
    greater = METRICS.get(metric).greater_is_better
    if feature_names is None:
        feature_names = (
            [str(c) for c in X.columns] if hasattr(X, "columns") else [f"x{i}" for i in range(X.shape[1])]
        )
    model, rows = estimator, X
    if hasattr(estimator, "steps") and not hasattr(X, "columns"):
        pre = estimator[:-1].transform(X)
        if not hasattr(pre, "columns") and np.ndim(pre) == 2 and pre.shape[1] == X.shape[1]:
            # column-wise preprocessing of numeric columns (an imputer that dropped an all-NaN
            # column changed the count: then the pipeline is scored whole)
            model, rows = estimator[-1], pre
    k = classes.k
    n_fitted = len(classes.present) if classes.present is not None else k
    n, n_cols = rows.shape

    def scores(outputs: Any, parts: int) -> list[float]:
        """The metric of each of ``parts`` stacked predictions of the ``n`` rows, signed as a gain."""
        if task == "classification":
            proba = classes.proba(check_predictions(outputs, parts * n, n_fitted))
            proba = proba / np.clip(proba.sum(axis=1, keepdims=True), 1e-300, None)
        else:
            values = check_predictions(outputs, parts * n, None)
        out = []
        for part in range(parts):
            block = slice(part * n, (part + 1) * n)
            if task == "classification":
                p = proba[block]
                value = fast_score(metric, y, np.argmax(p, axis=1), p, k)
            else:
                value = fast_score(metric, y, values[block], None, k)
            out.append(value if greater else -value)
        return out

    def predict_stack(stack: Any) -> Any:
        return model.predict_proba(stack) if task == "classification" else model.predict(stack)

    baseline = scores(predict_stack(rows), 1)[0]
    # scikit-learn's scheme: one seed drawn from random_state, every column's shuffles restarted
    # from it, each repeat shuffling the index array again and applying it to the column as it is
    random_seed = check_random_state(seed).randint(np.iinfo(np.int32).max + 1)
    columns = rows.iloc if hasattr(rows, "iloc") else None
    per_batch = max(1, IMPORTANCE_BATCH_VALUES // max(1, n * n_cols))
    variants = [(col, rep) for col in range(n_cols) for rep in range(n_repeats)]
    shuffled: dict[int, list[Any]] = {}
    permuted = np.empty((n_cols, n_repeats))
    for start in range(0, len(variants), per_batch):
        batch = variants[start : start + per_batch]
        if hasattr(rows, "iloc"):
            import pandas as pd

            stack = pd.concat([rows] * len(batch), ignore_index=True)
        else:
            stack = np.tile(np.asarray(rows), (len(batch), 1))
        for i, (col, rep) in enumerate(batch):
            if col not in shuffled:
                shuffled[col] = _shuffled_columns(
                    columns[:, col] if columns is not None else rows[:, col], random_seed, n_repeats
                )
            if columns is not None:
                stack.iloc[i * n : (i + 1) * n, col] = shuffled[col][rep]
            else:
                stack[i * n : (i + 1) * n, col] = shuffled[col][rep]
        for (col, rep), value in zip(batch, scores(predict_stack(stack), len(batch)), strict=True):
            permuted[col, rep] = value
            if rep == n_repeats - 1:
                shuffled.pop(col, None)
    importances = baseline - permuted
    return {
        "metric": metric,
        "greater_is_better": greater,
        "n_repeats": int(n_repeats),
        "n_rows": int(n),
        "baseline": baseline if greater else -baseline,
        "features": list(feature_names),
        "mean": [float(v) for v in importances.mean(axis=1)],
        "std": [float(v) for v in importances.std(axis=1)],
        "seconds": time.perf_counter() - t0,
    }


def _shuffled_columns(column: Any, random_seed: int, n_repeats: int) -> list[np.ndarray]:
    """The ``n_repeats`` shuffled versions of one column, exactly as scikit-learn draws them."""
    from sklearn.utils import check_random_state

    rng = check_random_state(random_seed)
    values = np.asarray(column)
    index = np.arange(len(values))
    out = []
    for _ in range(n_repeats):
        rng.shuffle(index)
        values = values[index]  # scikit-learn applies each new shuffle to the column as it is
        out.append(values)
    return out
