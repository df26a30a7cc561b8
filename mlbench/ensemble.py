"""scikit-learn estimators for Caruana ensemble selection over a list of named members.

``EnsembleSelectionClassifier`` / ``EnsembleSelectionRegressor`` take ``(name, estimator)`` pairs,
compute every member's out-of-fold predictions on the training rows with
:func:`sklearn.model_selection.cross_val_predict`, pick the blend weights with
:func:`mlbench.analysis.ensembles.caruana_selection` on those predictions, and refit the members
that got weight on all the training rows. Predictions are the weighted mean of the members'
probabilities (classifier) or values (regressor).

For the other two classic ensembles use scikit-learn's own estimators, which follow the same
``(name, estimator)`` convention: :class:`sklearn.ensemble.StackingClassifier` /
:class:`~sklearn.ensemble.StackingRegressor` (a meta-model fitted on ``cross_val_predict``
outputs) and :class:`sklearn.ensemble.VotingClassifier` (``voting="soft"``: the mean of the
members' probabilities, with fixed weights) / :class:`~sklearn.ensemble.VotingRegressor`.
mlbench does not re-implement them.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np
from scipy.sparse import issparse
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone, is_classifier, is_regressor
from sklearn.model_selection import KFold, StratifiedKFold, check_cv, cross_val_predict
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import Bunch, check_random_state, get_tags
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import (
    assert_all_finite,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from mlbench.analysis.ensembles import caruana_selection, weighted_blend
from mlbench.metrics import METRICS, Metric

__all__ = ["EnsembleSelectionClassifier", "EnsembleSelectionRegressor"]


def _fit_member(estimator: Any, X: Any, y: np.ndarray) -> Any:
    return estimator.fit(X, y)


def _check_not_1d(X: Any) -> None:
    """Refuse 1-D inputs with scikit-learn's wording, before members see them.

    X is otherwise passed to the members as given (see the class docstring), so this is the one
    shape rule the ensemble enforces itself: ``n_features_in_`` cannot be checked on a 1-D array.
    """
    ndim = getattr(X, "ndim", None)
    if ndim is None and isinstance(X, list | tuple):
        ndim = np.ndim(X)
    if ndim is not None and ndim < 2:
        raise ValueError(
            f"Expected 2D array, got {ndim}D array instead. Reshape your data either using "
            "array.reshape(-1, 1) if your data has a single feature or array.reshape(1, -1) "
            "if it contains a single sample."
        )


class _BaseEnsembleSelection(BaseEstimator):
    """Shared parameters, member bookkeeping and fit; subclasses say how targets and outputs look."""

    _task = ""  # "classification" or "regression"
    _default_metric = ""

    def __init__(
        self,
        estimators: list[tuple[str, Any]],
        *,
        size: int = 25,
        cv: Any = 5,
        metric: str | Metric | None = None,
        random_state: Any = None,
        n_jobs: int | None = None,
    ) -> None:
        self.estimators = estimators
        self.size = size
        self.cv = cv
        self.metric = metric
        self.random_state = random_state
        self.n_jobs = n_jobs

    # -- nested parameters: "name__param", as sklearn's own heterogeneous ensembles ------------
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Get parameters, with each member as ``name`` and its parameters as ``name__param``.

        Parameters
        ----------
        deep : bool, default=True
            Include the members and their parameters.

        Returns
        -------
        dict
        """
        out = super().get_params(deep=deep)
        if not deep:
            return out
        try:
            members = [(name, est) for name, est in self.estimators]
        except (TypeError, ValueError):  # malformed estimators: reported by fit, not here
            return out
        for name, est in members:
            out[name] = est
            if hasattr(est, "get_params") and not isinstance(est, type):
                for key, value in est.get_params(deep=True).items():
                    out[f"{name}__{key}"] = value
        return out

    def set_params(self, **params: Any) -> _BaseEnsembleSelection:
        """Set parameters; ``name=estimator`` replaces a member, ``name__param=v`` sets its parameter.

        Returns
        -------
        self
        """
        if "estimators" in params:
            self.estimators = params.pop("estimators")
        try:
            names = [name for name, _ in self.estimators]
        except (TypeError, ValueError):
            names = []
        for key in list(params):
            if "__" not in key and key in names:
                new = params.pop(key)
                self.estimators = [(n, new if n == key else e) for n, e in self.estimators]
        super().set_params(**params)
        return self

    # -- validation ---------------------------------------------------------------------------
    def _check_members(self) -> list[tuple[str, Any]]:
        members = self.estimators
        if (
            not isinstance(members, list | tuple)
            or len(members) == 0
            or not all(
                isinstance(item, list | tuple) and len(item) == 2 and isinstance(item[0], str)
                for item in members
            )
        ):
            raise ValueError(
                f"{type(self).__name__}: estimators must be a non-empty list of (name, estimator) "
                f"pairs, got {members!r}"
            )
        names = [name for name, _ in members]
        if len(set(names)) != len(names):
            raise ValueError(f"{type(self).__name__}: member names must be unique, got {names}")
        clashes = sorted(set(names) & set(super().get_params(deep=False)))
        if clashes:
            raise ValueError(f"{type(self).__name__}: member names clash with parameters: {clashes}")
        if any("__" in name for name in names):
            raise ValueError(f"{type(self).__name__}: member names must not contain '__', got {names}")
        is_right_kind = is_classifier if self._task == "classification" else is_regressor
        for name, est in members:
            if isinstance(est, type):
                raise ValueError(
                    f"member {name!r} is the class {est.__name__}; pass an instance, {est.__name__}()"
                )
            if not is_right_kind(est):
                kind = "classifier" if self._task == "classification" else "regressor"
                raise ValueError(f"member {name!r} ({type(est).__name__}) is not a {kind}")
            if self._task == "classification" and not hasattr(est, "predict_proba"):
                raise ValueError(
                    f"member {name!r} ({type(est).__name__}) has no predict_proba; ensemble selection "
                    "blends class probabilities. Wrap it in sklearn.calibration.CalibratedClassifierCV "
                    "(or e.g. use SVC(probability=True))"
                )
        return [(name, est) for name, est in members]

    def _check_metric(self) -> Metric:
        metric = self._default_metric if self.metric is None else self.metric
        valid = [name for name in METRICS if METRICS.get(name).task_type == self._task]
        if isinstance(metric, str):
            if metric not in METRICS:
                raise ValueError(f"{type(self).__name__}: unknown metric {metric!r}; use one of {valid}")
            metric = METRICS.get(metric)
        if not isinstance(metric, Metric):
            raise ValueError(f"{type(self).__name__}: metric must be a metric name, got {metric!r}")
        if metric.task_type != self._task:
            raise ValueError(
                f"{type(self).__name__}: metric {metric.name!r} is a {metric.task_type} metric; use one of {valid}"
            )
        return metric

    def _check_size(self) -> None:
        if isinstance(self.size, bool) or not isinstance(self.size, numbers.Integral) or self.size < 1:
            raise ValueError(f"{type(self).__name__}: size must be a positive integer, got {self.size!r}")

    def _splitter(self, y: np.ndarray) -> Any:
        """The out-of-fold splitter; an integer ``cv`` shrinks to what the smallest group allows."""
        cv = self.cv
        if not (isinstance(cv, numbers.Integral) and not isinstance(cv, bool)):
            # a splitter or an iterable of (train, test): the caller's choice, used as given
            return check_cv(cv, y, classifier=self._task == "classification")
        if cv < 2:
            raise ValueError(f"{type(self).__name__}: cv must be >= 2 folds, got {cv}")
        if self._task == "classification":
            labels, counts = np.unique(y, return_counts=True)
            smallest = int(counts.min())
            if smallest < 2:
                rare = self.classes_[labels[counts < 2]].tolist()
                raise ValueError(
                    f"{type(self).__name__}: class(es) {rare} have 1 sample; stratified out-of-fold "
                    "predictions need at least 2 rows per class (a member trained without a class cannot "
                    "predict it). Drop or merge such classes, or pass cv=<splitter> to choose the folds"
                )
            folds, what = min(int(cv), smallest), f"the smallest class has {smallest} rows"
        else:
            if len(y) < 2:
                raise ValueError(
                    f"{type(self).__name__} needs at least 2 samples for out-of-fold predictions, "
                    f"got n_samples={len(y)}"
                )
            folds, what = min(int(cv), len(y)), f"there are {len(y)} rows"
        if folds < cv:
            warnings.warn(
                f"{type(self).__name__}: {what}, fewer than cv={cv}; using {folds}-fold out-of-fold "
                "predictions",
                UserWarning,
                stacklevel=3,
            )
        if self._task == "classification":
            return StratifiedKFold(n_splits=folds)
        return KFold(n_splits=folds)

    # -- fit ----------------------------------------------------------------------------------
    def _fit(self, X: Any, y: np.ndarray) -> None:
        """Out-of-fold predictions, selection, refit; ``y`` is encoded (classes 0..k-1) or float."""
        members = self._check_members()
        metric = self._check_metric()
        self._check_size()
        splitter = self._splitter(y)
        method = "predict_proba" if self._task == "classification" else "predict"
        oof = [
            np.asarray(
                cross_val_predict(clone(est), X, y, cv=splitter, method=method, n_jobs=self.n_jobs),
                dtype=np.float64,
            )
            for _, est in members
        ]
        if self._task == "regression":
            oof = [p.reshape(len(y)) for p in oof]
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        self.selection_ = caruana_selection(oof, y, metric, size=int(self.size), seed=seed, use_best=True)
        self.weights_ = np.asarray(self.selection_.weights)
        chosen = np.flatnonzero(self.weights_)
        self.estimators_ = Parallel(n_jobs=self.n_jobs)(
            delayed(_fit_member)(clone(members[i][1]), X, y) for i in chosen
        )
        self.named_estimators_ = Bunch(
            **{members[i][0]: est for i, est in zip(chosen, self.estimators_, strict=True)}
        )

    def _check_X(self, X: Any, y: Any = None, *, reset: bool) -> Any:
        """Record or check the feature count/names; X itself reaches the members as given."""
        _check_not_1d(X)
        if not get_tags(self).input_tags.allow_nan and (
            (isinstance(X, np.ndarray) and X.dtype.kind in "fc")
            or (issparse(X) and X.format in ("csr", "csc", "coo", "bsr"))  # formats with a .data array
        ):
            # The same rule at fit and predict, whichever members were chosen: NaN is accepted only
            # when every candidate member accepts it (the allow_nan tag).
            assert_all_finite(X, input_name="X", estimator_name=type(self).__name__)
        if reset:
            return validate_data(self, X, y, skip_check_array=True)
        return validate_data(self, X, reset=False, skip_check_array=True)

    def _check_X_at_predict(self, X: Any) -> Any:
        check_is_fitted(self)
        return self._check_X(X, reset=False)

    def _member_outputs(self, X: Any, method: str) -> np.ndarray:
        outputs = [np.asarray(getattr(est, method)(X), dtype=np.float64) for est in self.estimators_]
        return np.stack(outputs)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        try:
            # X goes to the members as given, so the ensemble accepts what every member accepts
            tags.input_tags.allow_nan = all(get_tags(est).input_tags.allow_nan for _, est in self.estimators)
            tags.input_tags.sparse = all(get_tags(est).input_tags.sparse for _, est in self.estimators)
        except (TypeError, ValueError, AttributeError):
            pass  # malformed estimators: fit reports them
        return tags


_SHARED_DOC = """
    Parameters
    ----------
    estimators : list of (str, estimator)
        The candidate members, by name. They are cloned; ``estimators`` is never modified by fit.
        Member parameters are reachable as ``<name>__<param>`` (``get_params``/``set_params``,
        ``GridSearchCV``) and ``set_params(<name>=other)`` replaces a member.
    size : int, default=25
        Selection rounds (AutoGluon's default). The best round of the trajectory is kept.
    cv : int, cross-validation generator or iterable, default=5
        Folds for the members' out-of-fold predictions, as in
        :func:`~sklearn.model_selection.cross_val_predict` ({strategy} for an integer, unshuffled,
        so deterministic). The folds must partition the rows. Small data: {small}
    metric : str or mlbench.metrics.Metric, default=None
        Metric optimised by the selection, a name from :data:`mlbench.metrics.METRICS` of this
        task type. ``None`` means {default!r}: it is what ``score`` reports, so the selection
        optimises what ``score``, ``cross_val_score`` and ``GridSearchCV`` judge the estimator on
        unless told otherwise. {metric_note}
    random_state : int, RandomState instance or None, default=None
        Seeds the random tie-break between equally good members not yet in the ensemble. Pass an
        int for reproducible weights.
    n_jobs : int, default=None
        Parallel jobs for the folds of ``cross_val_predict`` and for the final refits.

    Attributes
    ----------
    weights_ : numpy.ndarray of shape (n_members,)
        Blend weight of each member of ``estimators`` (selection counts / kept rounds); sums to 1.
    estimators_ : list of estimators
        The members with non-zero weight, refitted on all training rows, in the order of
        ``estimators``: ``estimators_[j]`` has weight ``weights_[np.flatnonzero(weights_)[j]]``.
    named_estimators_ : sklearn.utils.Bunch
        ``estimators_`` by member name.
    selection_ : mlbench.analysis.ensembles.Selection
        The selection on the out-of-fold predictions: counts, trajectory (out-of-fold score after
        each round), order, best round and the kept blend's out-of-fold ``score``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : numpy.ndarray of shape (n_features_in_,)
        Feature names seen during fit, when X has string column names.{extra_attributes}

    Notes
    -----
    The members' out-of-fold predictions are the only input of the selection: each training row
    is predicted by a member that did not train on it, so a member that overfits does not look
    better than it is (AutoGluon likewise ensembles out-of-fold predictions). No row outside
    ``fit``'s ``(X, y)`` is ever used.

    X is passed to the members as given (DataFrames keep their columns, image arrays their
    shape); the ensemble itself only records ``n_features_in_``/``feature_names_in_`` and checks
    them when predicting. Missing-value and sparse support are those of the members
    (``allow_nan``/``sparse`` tags are true only when every member's is).

    For stacking and voting use scikit-learn's :class:`~sklearn.ensemble.StackingClassifier` /
    :class:`~sklearn.ensemble.StackingRegressor` and :class:`~sklearn.ensemble.VotingClassifier`
    / :class:`~sklearn.ensemble.VotingRegressor`.
"""


class EnsembleSelectionClassifier(ClassifierMixin, _BaseEnsembleSelection):
    __doc__ = (
        """Caruana ensemble selection over classifiers, on their out-of-fold class probabilities.

    Fit computes each member's out-of-fold ``predict_proba`` (classes encoded ``0..k-1``), runs
    :func:`~mlbench.analysis.ensembles.caruana_selection` on them and refits the members with
    non-zero weight on all rows. ``predict_proba`` is the weighted mean of those members'
    probabilities; ``predict`` its argmax.
"""
        + _SHARED_DOC.format(
            extra_attributes=(
                "\n    classes_ : numpy.ndarray of shape (n_classes,)\n        The class labels."
            ),
            strategy="StratifiedKFold",
            small=(
                "when the smallest class has fewer rows than ``cv`` (an integer), the number of "
                "folds shrinks to that count, with a warning, so that every training fold holds "
                "every class; a class with a single row is an error (no member trained without it "
                "could predict it). y needs at least 2 classes."
            ),
            default="accuracy",
            metric_note=(
                "Use ``metric='log_loss'`` when the blended probabilities themselves matter (a "
                "smooth, proper score with fewer ties than accuracy)."
            ),
        )
        + """
    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.naive_bayes import GaussianNB
    >>> X, y = load_iris(return_X_y=True)
    >>> ens = EnsembleSelectionClassifier(
    ...     [("lr", LogisticRegression(max_iter=1000)), ("nb", GaussianNB())], random_state=0
    ... ).fit(X, y)
    >>> ens.weights_.sum()
    np.float64(1.0)
"""
    )

    _task = "classification"
    _default_metric = "accuracy"

    def fit(self, X: Any, y: Any) -> EnsembleSelectionClassifier:
        """Select the blend on out-of-fold probabilities and refit the chosen members.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Training inputs, passed to the members as given.
        y : array-like of shape (n_samples,)
            Class labels.

        Returns
        -------
        self
        """
        X, y = self._check_X(X, y, reset=True)
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        check_consistent_length(X, y)
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        if len(self.classes_) < 2:
            from mlbench.errors import plain

            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in y, got "
                f"{len(self.classes_)} class{'es' if len(self.classes_) != 1 else ''}"
                + (f" ({plain(self.classes_[0])!r})" if len(self.classes_) == 1 else "")
            )
        self._fit(X, encoder.transform(y))
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Weighted mean of the chosen members' class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        numpy.ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``; rows sum to one.
        """
        X = self._check_X_at_predict(X)
        return weighted_blend(self._member_outputs(X, "predict_proba"), self.weights_[self.weights_ > 0])

    def predict(self, X: Any) -> np.ndarray:
        """The class with the highest blended probability.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        numpy.ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class EnsembleSelectionRegressor(RegressorMixin, _BaseEnsembleSelection):
    __doc__ = """Caruana ensemble selection over regressors, on their out-of-fold predictions.

    Fit computes each member's out-of-fold ``predict``, runs
    :func:`~mlbench.analysis.ensembles.caruana_selection` on them and refits the members with
    non-zero weight on all rows. ``predict`` is the weighted mean of those members' predictions.
    Single-output targets only.
""" + _SHARED_DOC.format(
        extra_attributes="",
        strategy="KFold",
        small=(
            "with fewer rows than ``cv`` (an integer) the folds shrink to one row each "
            "(leave-one-out), with a warning; one row is an error."
        ),
        default="r2",
        metric_note=(
            "R2, RMSE and the MSE rank blends identically on one validation set, so they pick "
            "the same ensemble; ``metric='mae'`` optimises absolute errors instead."
        ),
    )

    _task = "regression"
    _default_metric = "r2"

    def fit(self, X: Any, y: Any) -> EnsembleSelectionRegressor:
        """Select the blend on out-of-fold predictions and refit the chosen members.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Training inputs, passed to the members as given.
        y : array-like of shape (n_samples,)
            Targets.

        Returns
        -------
        self
        """
        X, y = self._check_X(X, y, reset=True)
        y = column_or_1d(y, warn=True, dtype=np.float64)
        assert_all_finite(y, input_name="y")
        check_consistent_length(X, y)
        self._fit(X, y)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Weighted mean of the chosen members' predictions.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        numpy.ndarray of shape (n_samples,)
        """
        X = self._check_X_at_predict(X)
        outputs = self._member_outputs(X, "predict")
        return weighted_blend(outputs.reshape(len(outputs), -1), self.weights_[self.weights_ > 0])
