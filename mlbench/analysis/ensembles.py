"""Caruana ensemble selection on stored predictions: greedy forward selection with replacement.

:func:`caruana_selection` takes every member's predictions on one validation set and that set's
labels, and returns how often each member was picked (:class:`Selection`); the ensemble is the
blend ``sum_i weights[i] * predictions[i]`` (:func:`weighted_blend`). The design follows
Caruana et al. (2004) and AutoGluon's ``EnsembleSelection``:

- each round adds one member (with replacement) to the running blend, the one whose addition
  gives the best score of the chosen metric on the validation rows;
- class-probability blends are renormalised per row (a row without any mass is read as uniform);
- members whose predictions are not all finite are never picked, nor is a candidate whose
  score comes out non-finite; when no candidate is finite the selection stops and says so;
- ties go first to a member already in the blend (a smaller ensemble), then to a seeded random
  choice (``numpy.random.default_rng(seed)``);
- ``use_best=True`` keeps the rounds up to the best score of the trajectory;
- weights are ``counts / kept_rounds``, so they sum to one.

Tie tolerance (a decision that differs from AutoGluon on purpose): AutoGluon compares scores with
``isclose(rtol=1e-12)`` and, from the second round on, rounds them to 6 decimals so that members
with numerically identical predictions are not both picked. Rounding to decimals is not scale-free
(an RMSE in micro-units loses every digit; one in millions keeps noise), and two scores a hair
apart can fall into different rounding buckets. Here two candidates tie when their scores agree
to a relative tolerance ``tie_rtol`` (default ``1e-6``, i.e. about six significant digits, wider
than float32 noise): the same intent, in every round and at every scale. The same tolerance
picks the best round of the trajectory: the first round within ``tie_rtol`` of the best score,
so an improvement smaller than that does not buy a bigger ensemble. ``tie_rtol=1e-12`` gives
AutoGluon's strict comparison without the rounding.

Speed: the blend is kept as a running sum ``S`` of the picked members, and the candidates of a
round are scored all at once where the metric allows it (accuracy from ``argmax(S + P_i)``,
log loss from the true-class column and the row sums only, balanced accuracy, macro F1, RMSE,
MAE and R2 from per-class counts or per-member reductions). Every fast path equals the registry
metric (:data:`mlbench.metrics.METRICS`) computed on the explicit blend, up to floating-point
rounding; other metrics (ROC AUC, or a :class:`~mlbench.metrics.Metric` that is not the registered
one) are computed per candidate by calling the metric's function on the blend, which is far slower
(ROC AUC: about 10 s for 20 members x 10,000 rows x 10 classes x 25 rounds, against 0.03-0.2 s for
the fast paths).

Only numpy and mlbench's metric registry (which imports scikit-learn lazily) are imported here.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from mlbench.errors import MlbenchError
from mlbench.metrics import METRICS, Metric

__all__ = ["Selection", "caruana_selection", "weighted_blend"]

# A candidate scorer: (running sum S of the picked members, number of picks s) -> one score per
# member for the blend "picked members + that member", in the metric's own orientation.
_Scorer = Callable[[np.ndarray, int], np.ndarray]


@dataclass(frozen=True, eq=False)
class Selection:
    """The outcome of :func:`caruana_selection`.

    Arrays are read-only. ``trajectory`` and ``order`` cover every round that ran; the ensemble
    is made of the first ``n_rounds`` of them (``best_round + 1`` with ``use_best=True``).

    Attributes
    ----------
    weights : numpy.ndarray of shape (n_members,)
        ``counts / n_rounds``: the blend weight of each member; sums to one.
    counts : numpy.ndarray of shape (n_members,)
        How many of the kept rounds picked each member.
    trajectory : numpy.ndarray of shape (n_rounds_run,)
        Validation score of the blend after each round, in the metric's own orientation
        (higher is better for accuracy, lower for log loss).
    order : numpy.ndarray of shape (n_rounds_run,)
        The member picked in each round.
    best_round : int
        Index into ``trajectory`` of the first round whose score is within ``tie_rtol`` of the
        best one.
    n_rounds : int
        Rounds that make up the ensemble: ``best_round + 1`` with ``use_best=True``, else every
        round that ran.
    metric : str
        Name of the metric optimised.
    greater_is_better : bool
        The metric's direction.
    score : float
        Validation score of the kept blend: ``trajectory[n_rounds - 1]``.
    stop_reason : str or None
        Why selection stopped before ``size`` rounds (no finite candidate left), else None.
    """

    weights: np.ndarray
    counts: np.ndarray
    trajectory: np.ndarray
    order: np.ndarray
    best_round: int
    n_rounds: int
    metric: str
    greater_is_better: bool
    score: float
    stop_reason: str | None = None


# --------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------


def _resolve_metric(metric: str | Metric) -> Metric:
    if isinstance(metric, Metric):
        return metric
    if not isinstance(metric, str):
        raise ValueError(f"metric must be a metric name or a mlbench.metrics.Metric, got {metric!r}")
    try:
        return METRICS.get(metric)
    except MlbenchError as exc:  # the registry's did-you-mean message, as the ValueError callers expect
        raise ValueError(str(exc)) from None


def _as_members(predictions: np.ndarray | Sequence[np.ndarray], classification: bool) -> np.ndarray:
    """Stack the members' predictions into one float64 array (m, n) or (m, n, k)."""
    if isinstance(predictions, np.ndarray):
        members = predictions
    else:
        members_list = list(predictions)
        if not members_list:
            raise ValueError("predictions is empty: give at least one member's predictions")
        arrays = [np.asarray(p) for p in members_list]
        shapes = {a.shape for a in arrays}
        if len(shapes) > 1:
            detail = ", ".join(f"member {i}: {a.shape}" for i, a in enumerate(arrays))
            raise ValueError(f"every member must predict the same rows with the same shape; got {detail}")
        members = np.stack(arrays)
    want = 3 if classification else 2
    layout = "(n_members, n_rows, n_classes)" if classification else "(n_members, n_rows)"
    if members.ndim != want:
        raise ValueError(
            f"predictions must have shape {layout} for a "
            f"{'classification' if classification else 'regression'} metric, got shape {members.shape}"
        )
    if members.shape[0] == 0:
        raise ValueError("predictions is empty: give at least one member's predictions")
    if members.shape[1] == 0:
        raise ValueError("predictions have no rows: selection needs validation rows")
    if classification and members.shape[2] < 2:
        raise ValueError(f"class probabilities need at least 2 columns, got shape {members.shape}")
    try:
        return np.asarray(members, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"predictions must be numeric: {exc}") from None


def _check_y(y_true: np.ndarray, n_rows: int, n_classes: int) -> np.ndarray:
    y = np.asarray(y_true)
    if y.ndim != 1 or len(y) != n_rows:
        raise ValueError(
            f"y_true must be 1-D with one value per predicted row ({n_rows}), got shape {y.shape}"
        )
    if n_classes == 0:
        if not np.issubdtype(y.dtype, np.number) or not np.isfinite(y).all():
            raise ValueError("y_true must be finite numbers for a regression metric")
        return y.astype(np.float64)
    if np.issubdtype(y.dtype, np.integer) or y.dtype == bool:
        codes = y.astype(np.intp)
    elif np.issubdtype(y.dtype, np.floating) and np.isfinite(y).all() and (y == np.round(y)).all():
        codes = y.astype(np.intp)
    else:
        raise ValueError(
            f"y_true must be class codes 0..{n_classes - 1} (integers) for a classification metric, "
            f"got dtype {y.dtype}; encode labels first (e.g. sklearn.preprocessing.LabelEncoder)"
        )
    if codes.min() < 0 or codes.max() >= n_classes:
        raise ValueError(
            f"y_true has class codes outside 0..{n_classes - 1} (min {codes.min()}, max {codes.max()}); "
            f"the predictions have {n_classes} columns"
        )
    return codes


# --------------------------------------------------------------------------------------------
# blending
# --------------------------------------------------------------------------------------------


def _renormalise(blend: np.ndarray) -> np.ndarray:
    """Divide each row of a (n, k) blend by its sum; a row without mass becomes uniform."""
    total = blend.sum(axis=1, keepdims=True)
    out = np.full_like(blend, 1.0 / blend.shape[1])
    np.divide(blend, total, out=out, where=total > 0)
    return out


def weighted_blend(predictions: np.ndarray | Sequence[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """Blend members' predictions with the given weights.

    Parameters
    ----------
    predictions : array-like of shape (n_members, n_rows) or (n_members, n_rows, n_classes)
        Regression values or class probabilities, one entry per member (or a list of such arrays).
    weights : array-like of shape (n_members,)
        Non-negative; normalised to sum to one. Members with weight 0 are left out entirely, so their
        predictions may be anything (even NaN).

    Returns
    -------
    numpy.ndarray of shape (n_rows,) or (n_rows, n_classes)
        The weighted mean; class probabilities are renormalised per row, as during selection, so
        ``weighted_blend(P, selection.weights)`` is the blend that scored ``selection.score``.
    """
    w = np.asarray(weights, dtype=np.float64)
    if isinstance(predictions, np.ndarray):
        members = predictions
    else:
        members = np.stack([np.asarray(p) for p in predictions])
    if w.ndim != 1 or len(w) != members.shape[0]:
        raise ValueError(f"weights must have one entry per member ({members.shape[0]}), got shape {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"weights must be finite, non-negative and not all zero, got {w}")
    used = np.flatnonzero(w)
    blend = np.tensordot(w[used] / w[used].sum(), np.asarray(members[used], dtype=np.float64), axes=1)
    return _renormalise(blend) if blend.ndim == 2 else blend


# --------------------------------------------------------------------------------------------
# candidate scorers: the score of "picked members + member i", for every i at once
# --------------------------------------------------------------------------------------------


def _argmax_labels(S: np.ndarray, P: np.ndarray) -> np.ndarray:
    # Renormalising a row by a positive sum leaves its argmax unchanged, and a row without mass is
    # uniform, whose argmax (0) is also the argmax of the zero row: no division needed.
    return np.argmax(S + P, axis=2)


def _class_counts(pred: np.ndarray, y: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per member and class: true positives and predicted counts, shapes (m, k)."""
    m = pred.shape[0]
    offset = (np.arange(m) * k)[:, None]
    predicted = np.bincount((pred + offset).ravel(), minlength=m * k).reshape(m, k)
    hit = pred == y
    true_pos = np.bincount((pred + offset)[hit], minlength=m * k).reshape(m, k)
    return true_pos, predicted


def _classification_scorer(metric: Metric, P: np.ndarray, y: np.ndarray) -> _Scorer | None:
    m, n, k = P.shape
    rows = np.arange(n)
    true_count = np.bincount(y, minlength=k)

    if metric.name == "accuracy":

        def accuracy(S: np.ndarray, s: int) -> np.ndarray:
            return (_argmax_labels(S, P) == y).mean(axis=1)

        return accuracy

    if metric.name == "balanced_accuracy":
        present = true_count > 0

        def balanced_accuracy(S: np.ndarray, s: int) -> np.ndarray:
            true_pos, _ = _class_counts(_argmax_labels(S, P), y, k)
            # sklearn averages the recall of the classes present in y_true only
            return (true_pos[:, present] / true_count[present]).mean(axis=1)

        return balanced_accuracy

    if metric.name == "f1_macro":

        def f1_macro(S: np.ndarray, s: int) -> np.ndarray:
            true_pos, predicted = _class_counts(_argmax_labels(S, P), y, k)
            # F1 = 2 TP / (2 TP + FP + FN) = 2 TP / (predicted + true), averaged as the registry
            # (scikit-learn's default) does: over the labels present in y_true or in the predictions,
            # so a class that is neither true nor predicted in these rows does not count as F1 = 0.
            denominator = predicted + true_count
            f1 = np.divide(2.0 * true_pos, denominator, out=np.zeros((m, k)), where=denominator > 0)
            used = denominator > 0
            return f1.sum(axis=1) / np.maximum(used.sum(axis=1), 1)

        return f1_macro

    if metric.name == "log_loss":
        # Only the true-class probability counts, and renormalisation needs only the row sums:
        # p_i = (S[y] + P_i[y]) / (sum(S) + sum(P_i)). Both member parts are computed once.
        member_true = P[:, rows, y]
        member_total = P.sum(axis=2)
        eps = np.finfo(np.float64).eps  # sklearn clips to [eps, 1 - eps] of the blend's dtype

        def log_loss(S: np.ndarray, s: int) -> np.ndarray:
            numerator = S[rows, y] + member_true
            denominator = S.sum(axis=1) + member_total
            p = np.divide(numerator, denominator, out=np.full((m, n), 1.0 / k), where=denominator > 0)
            return -np.log(np.clip(p, eps, 1 - eps)).mean(axis=1)

        return log_loss

    return None


def _regression_scorer(metric: Metric, P: np.ndarray, y: np.ndarray) -> _Scorer | None:
    n = P.shape[1]

    def errors(S: np.ndarray, s: int) -> np.ndarray:
        return (S + P) / (s + 1) - y

    if metric.name == "rmse":
        return lambda S, s: np.sqrt(np.mean(errors(S, s) ** 2, axis=1))
    if metric.name == "mae":
        return lambda S, s: np.mean(np.abs(errors(S, s)), axis=1)
    if metric.name == "r2":
        total = np.sum((y - y.mean()) ** 2)

        def r2(S: np.ndarray, s: int) -> np.ndarray:
            if n < 2:  # the registry leaves R2 undefined on one row
                return np.full(P.shape[0], np.nan)
            residual = np.sum(errors(S, s) ** 2, axis=1)
            if total == 0:  # sklearn's force_finite convention for a constant target
                return np.where(residual == 0, 1.0, 0.0)
            return 1.0 - residual / total

        return r2
    return None


def _fallback_scorer(metric: Metric, P: np.ndarray, y: np.ndarray, usable: np.ndarray) -> _Scorer:
    """Call the metric's own function once per candidate, on the explicit blend."""
    classification = P.ndim == 3
    k = P.shape[2] if classification else 0

    def per_candidate(S: np.ndarray, s: int) -> np.ndarray:
        scores = np.full(P.shape[0], np.nan)
        for i in np.flatnonzero(usable):
            if classification:
                blend = _renormalise(S + P[i])
                arg = blend if metric.needs_proba else blend.argmax(axis=1)
            else:
                arg = (S + P[i]) / (s + 1)
            try:
                scores[i] = float(metric.fn(y, arg, k))
            except ValueError:
                # a metric undefined on this data scores NaN, so the candidate is skipped
                pass
        return scores

    return per_candidate


def _candidate_scorer(metric: Metric, P: np.ndarray, y: np.ndarray, usable: np.ndarray) -> _Scorer:
    """The fastest scorer that equals ``metric`` on the explicit blends."""
    fast = None
    # A fast path is only a stand-in for the registered metric of that name, not for a user's
    # Metric that happens to reuse the name.
    if metric.name in METRICS and METRICS.get(metric.name) is metric:
        if P.ndim == 3:
            fast = _classification_scorer(metric, P, y)
        else:
            fast = _regression_scorer(metric, P, y)
    return fast if fast is not None else _fallback_scorer(metric, P, y, usable)


# --------------------------------------------------------------------------------------------
# selection
# --------------------------------------------------------------------------------------------


def caruana_selection(
    predictions: np.ndarray | Sequence[np.ndarray],
    y_true: np.ndarray,
    metric: str | Metric,
    *,
    size: int = 25,
    seed: int | np.random.Generator | None = 0,
    use_best: bool = True,
    tie_rtol: float = 1e-6,
) -> Selection:
    """Greedy forward ensemble selection with replacement (Caruana et al. 2004).

    Parameters
    ----------
    predictions : array-like of shape (n_members, n_rows) or (n_members, n_rows, n_classes)
        Each member's predictions on the same validation rows: regression values, or class
        probabilities whose columns are the class codes ``0..k-1`` (binary problems too: two
        columns). A list of per-member arrays is stacked. The predictions are assumed to be
        out-of-sample (a holdout set or out-of-fold predictions): a member that saw these rows in
        training looks better than it is and takes more weight than it deserves.
    y_true : array-like of shape (n_rows,)
        The validation labels: class codes ``0..k-1`` or regression values. The function sees
        only what it is given; test rows and labels must not be passed here, they are for scoring
        the result (see :func:`weighted_blend`).
    metric : str or mlbench.metrics.Metric
        The metric to optimise, by name from :data:`mlbench.metrics.METRICS` (accuracy,
        balanced_accuracy, f1_macro, roc_auc, log_loss, rmse, mae, r2), or a ``Metric`` object.
        Its ``task_type`` decides whether ``predictions`` are probabilities or values.
    size : int, default=25
        Number of rounds (picks). 25 is AutoGluon's default ("values above 25 lead to no
        measurable improvement", TabRepo).
    seed : int, numpy.random.Generator or None, default=0
        Seeds ``numpy.random.default_rng`` for the random tie-break between members that are not
        yet in the ensemble.
    use_best : bool, default=True
        Keep only the rounds up to the best score of the trajectory (the first round within
        ``tie_rtol`` of it), as AutoGluon does; otherwise keep all rounds (auto-sklearn).
    tie_rtol : float, default=1e-6
        Relative tolerance under which two scores count as equal (ties and the best round); see
        the module docstring for why it replaces AutoGluon's rounding to 6 decimals.

    Returns
    -------
    Selection
        Weights, counts, the score trajectory and the picking order.

    Raises
    ------
    ValueError
        For malformed inputs (shapes, ``size < 1``, no members, no rows, labels out of range,
        negative probabilities, an unknown metric) and when no member gives a finite score in the
        first round.

    Warns
    -----
    RuntimeWarning
        When a later round has no candidate with a finite score; selection stops there and
        ``Selection.stop_reason`` says so.

    Notes
    -----
    Each round scores every candidate blend "members picked so far + member i" (equal weight
    per pick, probabilities renormalised per row) and adds the best. Ties (scores equal within
    ``tie_rtol``) go first to members already picked, then to ``rng.choice``. Members with any
    non-finite prediction are never candidates.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([0, 1, 1, 0])
    >>> good = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4]])
    >>> bad = good[:, ::-1]
    >>> caruana_selection([good, bad], y, "log_loss").weights
    array([1., 0.])
    """
    m_obj = _resolve_metric(metric)
    if m_obj.task_type not in ("classification", "regression"):
        raise ValueError(f"metric {m_obj.name!r} has unknown task type {m_obj.task_type!r}")
    classification = m_obj.task_type == "classification"
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
        raise ValueError(f"size must be a positive integer (number of rounds), got {size!r}")
    if not (isinstance(tie_rtol, int | float) and np.isfinite(tie_rtol) and tie_rtol >= 0):
        raise ValueError(f"tie_rtol must be a finite number >= 0, got {tie_rtol!r}")

    P = _as_members(predictions, classification)
    m, n = P.shape[:2]
    k = P.shape[2] if classification else 0
    y = _check_y(y_true, n, k)

    usable = np.isfinite(P).reshape(m, -1).all(axis=1)
    if not usable.all():
        # zeroed so the vectorised scorers stay warning-free; these members are masked out below
        P = P.copy()
        P[~usable] = 0.0
    if classification and (P < 0).any():
        raise ValueError("class probabilities must be >= 0; got negative values in predictions")

    scorer = _candidate_scorer(m_obj, P, y, usable)
    sign = -1.0 if m_obj.greater_is_better else 1.0  # selection minimises a loss
    rng = np.random.default_rng(seed)

    running = np.zeros(P.shape[1:])
    picked = np.zeros(m, dtype=np.int64)
    order: list[int] = []
    losses: list[float] = []
    stop_reason = None
    for rnd in range(int(size)):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            scores = np.asarray(scorer(running, rnd), dtype=np.float64)
        loss = sign * scores
        loss[~usable | ~np.isfinite(loss)] = np.inf
        if not np.isfinite(loss).any():
            if rnd == 0:
                raise ValueError(
                    f"no member gives a finite {m_obj.name} on these predictions "
                    f"({int((~usable).sum())} of {m} members have non-finite predictions); "
                    "check the predictions, the labels and that the metric is defined on them"
                )
            stop_reason = (
                f"round {rnd + 1}: no candidate gives a finite {m_obj.name}; stopped after {rnd} rounds"
            )
            warnings.warn(stop_reason, RuntimeWarning, stacklevel=2)
            break
        best = loss.min()
        tied = np.flatnonzero(np.isclose(loss, best, rtol=tie_rtol, atol=0.0))
        if len(tied) > 1:
            # prefer members already in the blend: the same score with fewer distinct members
            in_blend = tied[picked[tied] > 0]
            if len(in_blend):
                tied = in_blend
        choice = int(tied[0]) if len(tied) == 1 else int(rng.choice(tied))
        running += P[choice]
        picked[choice] += 1
        order.append(choice)
        losses.append(float(loss[choice]))

    trajectory_loss = np.asarray(losses)
    best_round = int(
        np.flatnonzero(np.isclose(trajectory_loss, trajectory_loss.min(), rtol=tie_rtol, atol=0.0))[0]
    )
    n_rounds = best_round + 1 if use_best else len(order)
    order_arr = np.asarray(order, dtype=np.int64)
    counts = np.bincount(order_arr[:n_rounds], minlength=m).astype(np.int64)
    weights = counts / n_rounds
    trajectory = sign * trajectory_loss
    for arr in (weights, counts, trajectory, order_arr):
        arr.setflags(write=False)
    return Selection(
        weights=weights,
        counts=counts,
        trajectory=trajectory,
        order=order_arr,
        best_round=best_round,
        n_rounds=n_rounds,
        metric=m_obj.name,
        greater_is_better=m_obj.greater_is_better,
        score=float(trajectory[n_rounds - 1]),
        stop_reason=stop_reason,
    )
