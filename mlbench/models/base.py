"""The model info record and the model registry."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from mlbench.errors import ModelError
from mlbench.registry import Registry

#: factory(params, task_type, seed, n_jobs) -> an unfitted estimator (no preprocessing).
Factory = Callable[[dict[str, Any], str, int, int], Any]

#: pruning(estimator, X_val, score, report) -> a context manager the fit runs in (see ModelInfo.pruning).
Pruning = Callable[
    [Any, Any, Callable[[Any], float], Callable[[float, int], None]], AbstractContextManager[Any]
]


class Bounds(NamedTuple):
    """The valid values of a numeric parameter: ``low <= value <= high``.

    Attributes
    ----------
    low, high : float or None
        The smallest and largest valid values; None: no limit on that side.
    open_low, open_high : bool
        The bound itself is not valid (``C > 0``: ``Bounds(0, open_low=True)``).
    """

    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False

    def admits(self, value: float) -> bool:
        """Whether ``value`` is within the bounds."""
        if self.low is not None and (value < self.low or (self.open_low and value == self.low)):
            return False
        return not (self.high is not None and (value > self.high or (self.open_high and value == self.high)))

    def describe(self) -> str:
        """The bounds in words: ``at least 1``, ``between 0 and 1``, ``above 0``."""
        low = None if self.low is None else f"{'above' if self.open_low else 'at least'} {self.low:g}"
        high = None if self.high is None else f"{'below' if self.open_high else 'at most'} {self.high:g}"
        if low and high and not (self.open_low or self.open_high):
            return f"between {self.low:g} and {self.high:g}"
        return " and ".join(part for part in (low, high) if part) or "any number"


def at_least(low: float, *, integer: bool = True, real: bool = False) -> dict[str, Bounds]:
    """``param_bounds`` entry of a parameter that is at least ``low`` (whole numbers, or also real ones)."""
    out = {"int": Bounds(low)} if integer else {}
    if real:
        out["float"] = Bounds(low)
    return out


def fraction(*, open_low: bool = False, open_high: bool = False) -> dict[str, Bounds]:
    """``param_bounds`` entry of a real parameter between 0 and 1 (a probability, a share of rows)."""
    return {"float": Bounds(0.0, 1.0, open_low, open_high)}


def positive(*, open_low: bool = False) -> dict[str, Bounds]:
    """``param_bounds`` entry of a number (whole or real) that is >= 0 (``open_low``: > 0)."""
    bound = Bounds(0.0, None, open_low)
    return {"int": bound, "float": bound}


class Remedy(NamedTuple):
    """One overfitting remedy of a model family: what it is and the suite option that applies it.

    Attributes
    ----------
    remedy : str
        The remedy's name in the report, where remedies are laid side by side: ``early
        stopping``, ``fewer parameters``, ``dropout``, ``augmentation``, ``more data`` (see
        :func:`mlbench.analysis.overfitting.remedy_options`), or a name of the family's own.
    option : str
        The suite text that applies it, the family's name then its parameters in YAML flow
        style: ``decision_tree: {max_depth: 5}``. A model whose label already sets the first
        parameter (``decision_tree(max_depth=1)``) is pointed to more data instead.
    """

    remedy: str
    option: str


@dataclass(frozen=True)
class ModelInfo:
    """Everything mlbench knows about one model family.

    Attributes
    ----------
    name : str
        Registry name used in suites (``knn``, ``xgboost``, ...).
    factory : callable
        ``factory(params, task_type, seed, n_jobs)`` returning an unfitted estimator. Heavy
        libraries are imported inside it, never at module import.
    task_types : tuple of str
        Supported task types.
    param_names : mapping of str to frozenset of str
        Valid user parameters per task type. Static, so a suite is validated without importing
        the library (a test checks them against the real estimators).
    default_params : mapping of str to dict
        mlbench's defaults per task type, applied under the user's parameters.
    input_kind : {"tabular", "image"}
        What the model consumes; image datasets are flattened for tabular models, and image
        models are skipped on tabular datasets.
    scale : bool
        Whether numeric features are standardised in the preprocessing pipeline.
    needs_gpu : bool
        True when the model can only run on a GPU.
    validation_fit : callable or None
        ``validation_fit(params, X_val, y_val) -> dict | None``: the extra ``fit`` keyword
        arguments that hand the (preprocessed) validation split to the model for early stopping,
        or None when these parameters need no validation data. Such a model never trains on the
        validation rows.
    description : str
        One line for ``mlbench list models``.
    check : callable or None
        ``check(params) -> list[str]``: cheap static problems (required parameters, value
        ranges), run by ``mlbench validate``; must not import heavy libraries.
    preflight : callable or None
        ``preflight(params, base_dir) -> list[str]``: checks that need the model's library (an
        unknown timm architecture, a missing weights file), run once by ``mlbench run`` before any
        job starts.
    modules : tuple of str
        Libraries the worker processes import up front (the fork server preloads them).
    describe : callable or None
        ``describe(model) -> dict``: facts about a fitted model for its result row, any of
        ``n_params``, ``device``, ``history`` (per-epoch list of dicts), ``best_epoch``. The job
        runner knows no model family: what a result says about the model comes from here.
    artifacts : callable or None
        ``artifacts(model, dataset, X_test, y_test, test_proba) -> dict of arrays``: extra arrays
        stored with a classification job's predictions (a CNN's filters and mistakes, for the report).
    sanity_params : callable or None
        ``sanity_params(params) -> dict``: parameter changes for the "can it overfit 32 rows?"
        check (deep models train longer and without early stopping there).
    uses_gpu : callable or None
        ``uses_gpu(params) -> bool``: whether a job with these parameters runs on a GPU when the
        run has one (deep models unless ``device: cpu``). The executor then gives it a GPU slot
        (see :mod:`mlbench.execution.gpus`); ``device: cuda`` asks for one with any model.
    monitor_fit : callable or None
        ``monitor_fit(params, X_val, y_val) -> dict | None``: like ``validation_fit``, the ``fit``
        keyword arguments that hand the model held-out rows, but only to record their loss per
        epoch in its history (never to pick weights). Used when the model does not early-stop and
        the job's validation split is held out of training (``fit_on_val: false``).
    staged : callable or None
        ``staged(model, X) -> (sizes, outputs)``: predictions of the fitted ensemble's first ``k``
        members at up to 20 values of ``k`` along its ``n_estimators``, from the fitted model
        without refitting (``iteration_range`` for XGBoost, the mean of the first ``k`` trees for a
        random forest). ``outputs[i]`` holds class probabilities (one column per class the model
        was fitted with) or regression values. The job scores them into ``staged_json`` for the
        overfitting checks (:mod:`mlbench.analysis.overfitting`). It may return a third item, a
        dict stored with them: ``{"trained": n, "kept": k}`` when the model predicts with only its
        first ``k`` of ``n`` trained members (XGBoost early stopping); sizes then end at ``k``.
    tuning_space : mapping of str to mapping
        Task type -> the default search space of ``tune:`` when a suite gives no ``space:``
        (:mod:`mlbench.tuning`): parameter -> ``{"int": [low, high]}``, ``{"float": [low,
        high], "log": True}`` or a list of choices, the syntax of a suite's ``space:``. Empty:
        the family has none, and ``tune:`` must give one.
    tuning_caps : callable or None
        ``tuning_caps(n_rows) -> {param: highest value}``: upper bounds of integer parameters of
        the search space given the rows a trial fits on (KNN cannot ask for more neighbours than
        it has rows).
    pruning : callable or None
        ``pruning(estimator, X_val, score, report) -> context manager``: how the family reports
        intermediate validation scores while it fits, so that a tuning study can stop (prune) a
        poor trial early. ``estimator`` is the unfitted estimator as built (the model, or a
        preprocessing pipeline ending in it; :func:`preprocessed` gives the rows as the model
        sees them once the preprocessing is fitted), ``X_val`` the validation rows,
        ``score(raw) -> float`` the tuning metric of the model's raw output on them (class
        probabilities, one column per class it was fitted with or a single column ``P(class
        1)``; regression values) and ``report(value, step)`` hands a value to the study, raising
        to stop the fit when the trial is pruned. The fit runs inside the returned context.
        XGBoost reports every tenth of its boosting rounds, the deep models every epoch; None:
        the family reports nothing, and its studies prune only between inner folds.
    capacity_params : tuple of str
        Parameters that set the model's capacity (``max_depth``, ``hidden_sizes``, ``arch``): a
        ``grid:`` over one of them draws a capacity curve
        (:func:`mlbench.analysis.overfitting.capacity_curves`).
    remedies : mapping of str to Remedy or to a mapping of task type to Remedy
        Check kind (``degradation``, ``boosting``, ``val_loss``, ``underfitting``) -> the
        :class:`Remedy` the report suggests when the family's check is flagged, or, when the
        option differs by task (``logistic_regression`` is Ridge on regression: ``C`` there is
        ``alpha``), ``{task_type: Remedy}``; read them with :meth:`remedy`. A kind (or task) not
        listed gets the generic one (:data:`mlbench.analysis.overfitting.GENERIC_REMEDIES`). Each
        option must name parameters valid for its task (``tests/test_models.py`` checks it).
    preprocessing : callable or None
        ``preprocessing(model, feature_kinds, scale) -> transformer``: the family's own
        preprocessing of tabular data in place of mlbench's (median imputation, one-hot encoded
        categoricals; :func:`mlbench.models.preprocessing.make_preprocessor`). It may set
        parameters of the unfitted ``model`` to match: CatBoost keeps categorical columns as text
        and names them in its ``cat_features`` (native categoricals).
    extra : str
        The mlbench extra that installs the family's libraries (``modules``) when they are not
        core dependencies (``boosters`` for LightGBM and CatBoost); a suite naming the family on
        a machine without them stops before any job (:func:`mlbench.suite.check_machine`).
    param_bounds : mapping of str to mapping
        Parameter -> the values it accepts by kind of value: ``"int"`` (:class:`Bounds` of whole
        numbers: ``{int: [LOW, HIGH]}`` ranges and whole-number choices of a ``tune:`` space)
        and ``"float"`` (``{float: ...}`` ranges and fractional choices). A parameter with only
        ``"int"`` takes whole numbers only (a ``float:`` range for it is refused); a kind not
        listed is not checked. A ``tune:`` space reaching outside them is a located config error
        before any job runs (``n_neighbors: {int: [-5, 0]}``: every trial would fail). Helpers:
        :func:`at_least`, :func:`fraction`, :func:`positive`.
    """

    name: str
    factory: Factory
    task_types: tuple[str, ...]
    param_names: Mapping[str, frozenset[str]]
    default_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    input_kind: str = "tabular"
    scale: bool = False
    needs_gpu: bool = False
    validation_fit: Callable[[Mapping[str, Any], Any, Any], dict[str, Any] | None] | None = None
    description: str = ""
    check: Callable[[Mapping[str, Any]], list[str]] | None = None
    preflight: Callable[[Mapping[str, Any], str], list[str]] | None = None
    modules: tuple[str, ...] = ()
    describe: Callable[[Any], Mapping[str, Any]] | None = None
    artifacts: Callable[[Any, Any, Any, Any, Any], Mapping[str, Any]] | None = None
    sanity_params: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None
    uses_gpu: Callable[[Mapping[str, Any]], bool] | None = None
    staged: Callable[[Any, Any], tuple[Any, ...]] | None = None
    monitor_fit: Callable[[Mapping[str, Any], Any, Any], dict[str, Any] | None] | None = None
    tuning_space: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    tuning_caps: Callable[[int], Mapping[str, int]] | None = None
    pruning: Pruning | None = None
    capacity_params: tuple[str, ...] = ()
    remedies: Mapping[str, Remedy | Mapping[str, Remedy]] = field(default_factory=dict)
    preprocessing: Callable[[Any, Mapping[str, str], bool], Any] | None = None
    extra: str = ""
    param_bounds: Mapping[str, Mapping[str, Bounds]] = field(default_factory=dict)

    def remedy(self, kind: str, task_type: str) -> Remedy | None:
        """The family's remedy for a flagged check on a task type, or None when it names none.

        Parameters
        ----------
        kind : str
            ``degradation``, ``boosting``, ``val_loss`` or ``underfitting``.
        task_type : str
            ``classification`` or ``regression``: the option must be valid for the model the
            family builds for it.
        """
        value = self.remedies.get(kind)
        if isinstance(value, Mapping):
            value = value.get(task_type)
        return None if value is None else Remedy(*value)

    def valid_params(self) -> frozenset[str]:
        """All parameter names valid for at least one task type."""
        out: frozenset[str] = frozenset()
        for names in self.param_names.values():
            out |= names
        return out

    def check_params(self, params: Mapping[str, Any], task_type: str | None = None) -> list[str]:
        """Return one message per invalid parameter name (empty when all are valid)."""
        from mlbench.errors import did_you_mean

        valid = self.param_names.get(task_type, frozenset()) if task_type else self.valid_params()
        problems = []
        for key in params:
            if key not in valid:
                problems.append(
                    f"unknown parameter {key!r} for model {self.name!r}.{did_you_mean(key, valid)}"
                    f" Valid parameters: {', '.join(sorted(valid))}"
                )
        return problems

    def params_for(self, params: Mapping[str, Any], task_type: str) -> dict[str, Any]:
        """mlbench's defaults for ``task_type`` updated with the user's ``params``."""
        out = dict(self.default_params.get(task_type, {}))
        out.update(params)
        return out


#: Points along ``n_estimators`` at which :attr:`ModelInfo.staged` scores an ensemble (deepchecks' 20).
STAGED_POINTS = 20


def staged_sizes(n: int, points: int = STAGED_POINTS) -> list[int]:
    """``min(points, n)`` distinct ensemble sizes from 1 to ``n``, geometrically spaced.

    Geometric, not even, spacing: a boosted model changes most in its first rounds (at learning
    rate 1.0 it has memorised the noise long before the first of 20 evenly spaced points, 1/20 of
    the way), and on a log axis the points are even again. Where rounding would repeat a size
    the next one up is taken, so there are always ``min(points, n)`` of them, ending at ``n``.
    """
    import numpy as np

    m = min(points, n)
    if m < 1:
        return []
    out: list[int] = []
    for i, g in enumerate(np.geomspace(1, n, m)):
        k = max(round(float(g)), out[-1] + 1 if out else 1)
        out.append(min(k, n - (m - 1 - i)))  # leave room for the sizes still to come
    return out


MODELS: Registry[ModelInfo] = Registry("model", ModelError)


def register_model(info: ModelInfo) -> ModelInfo:
    """Add a model family to the registry (used by the model modules and by plugins)."""
    return MODELS.register(info.name, info)


def final_estimator(estimator: Any) -> Any:
    """The model at the end of a preprocessing pipeline (or the estimator itself).

    Parameters
    ----------
    estimator : estimator or Pipeline
    """
    return estimator[-1] if hasattr(estimator, "steps") else estimator


def preprocessed(estimator: Any, X: Any) -> Any:
    """``X`` as the model at the end of ``estimator`` sees it: through its fitted preprocessing.

    Parameters
    ----------
    estimator : estimator or Pipeline
        A pipeline whose preprocessing steps are fitted (a pruning hook calls this while the
        model at its end trains), or a bare model.
    X : array-like
    """
    return estimator[:-1].transform(X) if hasattr(estimator, "steps") else X
