"""Resampling and nested train-size subsets.

Folds are exactly scikit-learn's (``StratifiedKFold(n_splits, shuffle=True, random_state=seed)``
for classification, ``KFold`` for regression), so anyone can reproduce them with plain sklearn.
Train-size subsets are prefixes of one stratified ordering of the training pool, hence nested:
the 100-row subset lies inside the 200-row one. Subsets are returned in the pool's original row
order, so the full-size subset is the training fold itself.

Two kinds split by a column of the data (``Dataset.split_values``), and every split they make
keeps to it (:class:`RowSplitter` is the one door a job goes through):

* ``group_kfold``: ``StratifiedGroupKFold(folds, shuffle=True, random_state=seed)`` for
  classification, ``GroupKFold(folds, shuffle=True, random_state=seed)`` for regression. No
  group is on both sides of any split: test folds, the validation split, the early-stopping
  rows and ``val: cross_fit``'s inner folds are all whole groups.
* ``time_series``: ``TimeSeriesSplit(folds, gap=gap)`` over the distinct times in order (rows
  sharing a time stay together, so every test row is strictly later than every training row;
  ``gap`` counts distinct times). The validation split and the early-stopping rows are the
  latest training rows; a training-size subset is the most recent rows of the training pool (the
  smaller inside the larger, as for the other kinds).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from mlbench.errors import DatasetError


def make_folds(
    y: np.ndarray,
    task_type: str,
    resampling: dict[str, Any],
    seed: int,
    *,
    split_values: np.ndarray | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Train/test index pairs of every fold, as sklearn's splitters produce them.

    Parameters
    ----------
    y : numpy.ndarray
        Targets (class codes for classification).
    task_type : str
        "classification" (stratified) or "regression".
    resampling : dict
        ``Resampling.model_dump()``: kind, folds, repeats, test_size (``group``, ``time``, ``gap``).
    seed : int
        ``random_state`` of the splitter.
    split_values : numpy.ndarray, optional
        ``group_kfold``: the group of every row; ``time_series``: its time
        (``Dataset.split_values``). Required by those two kinds, unused by the others.
    """
    from sklearn.model_selection import (
        KFold,
        RepeatedKFold,
        RepeatedStratifiedKFold,
        StratifiedKFold,
        train_test_split,
    )

    n = len(y)
    kind = resampling["kind"]
    if kind in COLUMN_KINDS:
        if split_values is None or len(split_values) != n:
            raise DatasetError(
                f"{kind} resampling needs the {COLUMN_KINDS[kind]} of every row; load the dataset with "
                "load_dataset(spec, base_dir, resampling=...)"
            )
        if kind == "group_kfold":
            return group_folds(y, task_type, split_values, resampling["folds"], seed)
        return time_folds(split_values, resampling["folds"], resampling.get("gap") or 0)
    classification = task_type == "classification"
    if classification:
        counts = np.bincount(y)
        counts = counts[counts > 0]
        if len(counts) < 2:
            raise DatasetError("the target has a single class; classification needs at least two")
    if kind == "holdout":
        idx = np.arange(n)
        stratify = y if classification and counts.min() >= 2 else None
        train, test = train_test_split(
            idx, test_size=resampling["test_size"], random_state=seed, shuffle=True, stratify=stratify
        )
        return [(np.sort(train), np.sort(test))]
    folds = resampling["folds"]
    if n < folds:
        raise DatasetError(f"{n} rows cannot make {folds} folds; use fewer folds or holdout resampling")
    if kind == "repeated_kfold":
        splitter: Any = (
            RepeatedStratifiedKFold(n_splits=folds, n_repeats=resampling["repeats"], random_state=seed)
            if classification
            else RepeatedKFold(n_splits=folds, n_repeats=resampling["repeats"], random_state=seed)
        )
    else:
        splitter = (
            StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
            if classification
            else KFold(n_splits=folds, shuffle=True, random_state=seed)
        )
    with warnings.catch_warnings():
        # A class with fewer rows than folds is handled (it is absent from some test folds; the
        # metrics take every class label); sklearn's warning would only repeat that per job.
        warnings.filterwarnings("ignore", message="The least populated class")
        return [(train, test) for train, test in splitter.split(np.zeros(n), y)]


def validation_split(
    train: np.ndarray, y: np.ndarray, task_type: str, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split a training fold into (fit pool, validation), stratified when every class allows it."""
    if fraction <= 0 or len(train) < 4:
        return train, train[:0]
    from sklearn.model_selection import train_test_split

    stratify = None
    if task_type == "classification":
        counts = np.bincount(y[train])
        counts = counts[counts > 0]
        n_val = int(np.ceil(fraction * len(train)))
        if counts.min() >= 2 and n_val >= len(counts) and len(train) - n_val >= len(counts):
            stratify = y[train]
    pool, val = train_test_split(
        train, test_size=fraction, random_state=seed, shuffle=True, stratify=stratify
    )
    return np.sort(pool), np.sort(val)


def stratified_order(pool: np.ndarray, y: np.ndarray, task_type: str, seed: int) -> np.ndarray:
    """Order ``pool`` so that every prefix is (nearly) stratified.

    Within each class rows are shuffled; the i-th row of a class of size m gets the key
    ``(i + u) / m`` with one random offset u per class, and rows are sorted by key. Each prefix
    then holds every class in proportion (within one row). For regression the order is a plain
    shuffle.
    """
    rng = np.random.default_rng(seed)
    if task_type != "classification":
        return pool[rng.permutation(len(pool))]
    keys = np.empty(len(pool))
    labels = y[pool]
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        members = members[rng.permutation(len(members))]
        keys[members] = (np.arange(len(members)) + rng.random()) / len(members)
    # ties between classes broken by a random secondary key, so no class is always first
    return pool[np.lexsort((rng.random(len(pool)), keys))]


def rows_for_size(train_size: float, pool_rows: int, smallest_pool: int | None = None) -> int:
    """How many training rows a requested size means in a fold whose pool holds ``pool_rows``.

    Parameters
    ----------
    train_size : float
        A fraction in (0, 1] or a row count (> 1).
    pool_rows : int
        Rows of this fold's training pool.
    smallest_pool : int, optional
        Rows of the smallest pool over every fold of the resampling. A fraction below 1 is taken
        of it, so that it means the same number of rows in every fold (k-fold pools differ by a
        row: rounding each fold's own pool gave 93 rows in one fold and 94 in the others, two
        points on a learning curve). ``1.0`` stays each fold's whole pool, so full-size scores
        equal plain scikit-learn cross-validation; analyses treat one requested size as one point.

    Raises
    ------
    ValueError
        When a row count exceeds the pool.
    """
    if train_size > 1.0:
        n = int(train_size)
        if n > pool_rows:
            raise ValueError(
                f"train size {n} exceeds the {pool_rows} rows available for training in this fold"
            )
        return n
    if train_size == 1.0:
        return pool_rows
    base = pool_rows if smallest_pool is None else min(int(smallest_pool), pool_rows)
    return min(max(round(train_size * base), 1), pool_rows)


def train_subset(
    pool: np.ndarray,
    y: np.ndarray,
    task_type: str,
    train_size: float,
    seed: int,
    *,
    smallest_pool: int | None = None,
) -> np.ndarray:
    """The rows of ``pool`` used for training at ``train_size``.

    Parameters
    ----------
    pool : numpy.ndarray
        Candidate training rows (sorted).
    train_size : float
        A fraction in (0, 1] or a row count (> 1); see :func:`rows_for_size`.
    seed : int
        Seed of the ordering; the same seed gives nested subsets across sizes.
    smallest_pool : int, optional
        Rows of the smallest fold's pool: fractions below 1 are resolved against it, so every
        fold trains on the same number of rows (see :func:`rows_for_size`).

    Raises
    ------
    ValueError
        When a row count exceeds the pool.
    """
    n = rows_for_size(train_size, len(pool), smallest_pool)
    if n >= len(pool):
        return pool
    order = stratified_order(pool, y, task_type, seed)
    return np.sort(order[:n])


def cross_fit_folds(
    train: np.ndarray, y: np.ndarray, task_type: str, k: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Inner folds of a job's training rows for ``val: cross_fit``, as positions into ``train``.

    ``StratifiedKFold(k, shuffle=True, random_state=seed)`` over ``y[train]`` for classification,
    ``KFold`` for regression, so ``cross_val_predict(est, X[train], y[train], cv=that splitter)``
    reproduces the out-of-fold predictions. Fallbacks, each keeping every row out-of-fold once:

    - fewer training rows than ``k``: one fold per row (leave-one-out);
    - a class with fewer rows than folds needs none: stratified folds put its rows in different
      folds, so a class with two or more rows is in every inner training set (the row of a
      single-row class is predicted by a model that never saw that class: honestly out-of-fold;
      dropping to fewer folds would cost every other row training data for nothing);
    - no class with as many rows as folds (sklearn's ``StratifiedKFold`` refuses): as many
      folds as the largest class has rows, or, when every class has one row, one fold per row
      unstratified.

    Parameters
    ----------
    train : numpy.ndarray
        The job's training rows (indices into ``y``).
    y : numpy.ndarray
        Targets of the whole dataset (class codes for classification).
    task_type : str
        "classification" (stratified) or "regression".
    k : int
        Folds asked for (``resampling.inner_folds``).
    seed : int
        ``random_state`` of the splitter (the job's seed).

    Returns
    -------
    list of (numpy.ndarray, numpy.ndarray)
        ``(fit, out_of_fold)`` positions into ``train`` per inner fold; ``len`` is the number of
        folds actually used.

    Raises
    ------
    ValueError
        With fewer than two training rows.
    """
    from sklearn.model_selection import KFold, StratifiedKFold

    n = len(train)
    if n < 2:
        raise ValueError(
            f"val: cross_fit needs at least 2 training rows to make inner folds, this job has {n}"
        )
    k = min(k, n)
    labels = y[train]
    splitter: Any = KFold(n_splits=k, shuffle=True, random_state=seed)
    if task_type == "classification":
        largest = int(np.unique(labels, return_counts=True)[1].max())
        if largest >= 2:
            splitter = StratifiedKFold(n_splits=min(k, largest), shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        # a class with fewer rows than folds is expected here (see above); not worth a warning per job
        warnings.filterwarnings("ignore", message="The least populated class")
        return [(fit, oof) for fit, oof in splitter.split(np.zeros(n), labels)]


#: Resampling kinds that split by a column of the data, and the key that names the column.
COLUMN_KINDS: dict[str, str] = {"group_kfold": "group", "time_series": "time"}


def _group_splitter(task_type: str, k: int, seed: int) -> Any:
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    if task_type == "classification":
        return StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return GroupKFold(n_splits=k, shuffle=True, random_state=seed)


def _group_split(
    task_type: str, k: int, seed: int, y: np.ndarray, groups: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray]]:
    with warnings.catch_warnings():
        # a class with fewer rows (or groups) than folds is absent from some folds; said once in the docs
        warnings.filterwarnings("ignore", message="The least populated class")
        return list(_group_splitter(task_type, k, seed).split(np.zeros(len(y)), y, groups))


def group_folds(
    y: np.ndarray, task_type: str, groups: np.ndarray, folds: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``group_kfold``: every row of a group in the same test fold.

    ``StratifiedGroupKFold(folds, shuffle=True, random_state=seed)`` for classification (the
    shuffle only reorders groups), ``GroupKFold(folds, shuffle=True, random_state=seed)`` for
    regression, over ``groups`` (labels, one per row).

    Raises
    ------
    DatasetError
        Fewer groups than folds.
    """
    n_groups = len(np.unique(groups))
    if n_groups < folds:
        raise DatasetError(
            f"the data has {n_groups} groups, fewer than {folds} folds; use at most {n_groups} folds "
            "(each test fold holds whole groups) or another `resampling.group` column"
        )
    return [(np.sort(tr), np.sort(te)) for tr, te in _group_split(task_type, folds, seed, y, groups)]


def _time_steps(times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct times in order, each row's position among them)."""
    distinct, step = np.unique(times, return_inverse=True)
    return distinct, step.reshape(-1)


def time_folds(times: np.ndarray, folds: int, gap: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``time_series``: ``TimeSeriesSplit(folds, gap=gap)`` over the distinct times, in time order.

    Fold ``i`` tests the ``i``-th of ``folds`` later blocks of times and trains on every earlier
    time (less the ``gap`` times just before the test block). Rows that share a time stay on one
    side, so every test row is strictly later than every training row.

    Raises
    ------
    DatasetError
        Too few distinct times for the folds and the gap.
    """
    from sklearn.model_selection import TimeSeriesSplit

    distinct, step = _time_steps(np.asarray(times))
    try:
        pairs = list(TimeSeriesSplit(n_splits=folds, gap=gap).split(distinct))
    except ValueError:
        most = (len(distinct) - gap) - 1
        raise DatasetError(
            f"the time column has {len(distinct)} distinct times, too few for {folds} time-ordered folds"
            + (f" with a gap of {gap}" if gap else "")
            + f"; use fewer folds (at most {max(most, 1)}) or a smaller gap"
        ) from None
    out = []
    for train_steps, test_steps in pairs:
        train = np.flatnonzero(np.isin(step, train_steps))
        test = np.flatnonzero(np.isin(step, test_steps))
        if len(train) == 0:
            raise DatasetError(
                f"a gap of {gap} times leaves the first time-ordered fold no training rows; use a smaller gap"
            )
        out.append((train, test))
    return out


def group_validation_split(
    train: np.ndarray, y: np.ndarray, task_type: str, groups: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split a training fold into (fit pool, validation) by whole groups.

    The validation rows are the first fold of ``round(1 / fraction)`` group folds of the
    training rows (stratified for classification, as :func:`group_folds`), so about
    ``fraction`` of them; no validation when the rows hold fewer than two groups.
    """
    if fraction <= 0 or len(train) < 4:
        return train, train[:0]
    n_groups = len(np.unique(groups[train]))
    if n_groups < 2:
        return train, train[:0]
    k = min(max(2, round(1 / fraction)), n_groups)
    pool, val = _group_split(task_type, k, seed, y[train], groups[train])[0]
    return np.sort(train[pool]), np.sort(train[val])


def time_validation_split(
    train: np.ndarray, times: np.ndarray, fraction: float
) -> tuple[np.ndarray, np.ndarray]:
    """Split a training fold into (fit pool, validation): the latest ``fraction`` of its rows.

    The cut never separates rows of one time (it moves to the start of that time, or to its end
    when that would leave no pool), so every validation row is later than every pool row.
    """
    if fraction <= 0 or len(train) < 4:
        return train, train[:0]
    order = train[np.argsort(times[train], kind="stable")]
    t = times[order]
    n_val = int(np.ceil(fraction * len(order)))
    cut = int(np.searchsorted(t, t[len(order) - n_val], side="left"))
    if cut == 0:
        cut = int(np.searchsorted(t, t[0], side="right"))
    if cut >= len(order):
        return train, train[:0]
    return np.sort(order[:cut]), np.sort(order[cut:])


def recent_subset(pool: np.ndarray, times: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` most recent rows of ``pool`` (sorted indices): the latest data before the test period.

    One ordering by time (ties by row), cut from its end, so a smaller subset lies inside a
    larger one.
    """
    if n >= len(pool):
        return pool
    order = pool[np.argsort(times[pool], kind="stable")]
    return np.sort(order[len(order) - n :])


def group_inner_folds(
    train: np.ndarray, y: np.ndarray, task_type: str, groups: np.ndarray, k: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``val: cross_fit``'s inner folds by whole groups, as positions into ``train``.

    As :func:`group_folds` on the training rows, with ``min(k, groups)`` folds.

    Raises
    ------
    ValueError
        The training rows hold fewer than two groups.
    """
    g = groups[train]
    n_groups = len(np.unique(g))
    if n_groups < 2:
        raise ValueError(
            f"val: cross_fit needs at least 2 groups among the training rows to make inner folds, "
            f"this job has {n_groups}"
        )
    return _group_split(task_type, min(k, n_groups), seed, y[train], g)


class RowSplitter:
    """Every row split of one dataset under one resampling: folds, validation, subsets, inner folds.

    For ``kfold``, ``repeated_kfold`` and ``holdout`` each method is the module's plain function
    (:func:`make_folds`, :func:`validation_split`, :func:`train_subset`, :func:`cross_fit_folds`);
    for ``group_kfold`` and ``time_series`` the group- or time-respecting one (see the module
    docstring).

    Parameters
    ----------
    y : numpy.ndarray
        Targets (class codes for classification).
    task_type : str
    resampling : dict
        ``Resampling.model_dump()`` (a dict without ``kind`` means ``kfold``).
    split_values : numpy.ndarray, optional
        The groups or times of every row (``Dataset.split_values``); needed by the two column kinds.
    """

    def __init__(
        self,
        y: np.ndarray,
        task_type: str,
        resampling: dict[str, Any],
        split_values: np.ndarray | None = None,
    ) -> None:
        self.y = y
        self.task_type = task_type
        self.resampling = resampling
        self.kind = str(resampling.get("kind", "kfold"))
        self.values = split_values
        if self.kind in COLUMN_KINDS and (split_values is None or len(split_values) != len(y)):
            raise DatasetError(
                f"{self.kind} resampling needs the {COLUMN_KINDS[self.kind]} of every row; load the dataset "
                "with load_dataset(spec, base_dir, resampling=...)"
            )

    @classmethod
    def of(cls, ds: Any, resampling: dict[str, Any]) -> RowSplitter:
        """The splitter of a :class:`~mlbench.datasets.Dataset` (loaded with this resampling)."""
        return cls(ds.y, ds.task_type, resampling, getattr(ds, "split_values", None))

    def folds(self, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """:func:`make_folds`."""
        return make_folds(self.y, self.task_type, self.resampling, seed, split_values=self.values)

    def validation(self, train: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """(fit pool, validation) of a training fold; also draws early-stopping rows."""
        if self.kind == "group_kfold":
            assert self.values is not None
            return group_validation_split(train, self.y, self.task_type, self.values, fraction, seed)
        if self.kind == "time_series":
            assert self.values is not None
            return time_validation_split(train, self.values, fraction)
        return validation_split(train, self.y, self.task_type, fraction, seed)

    def subset(
        self, pool: np.ndarray, train_size: float, seed: int, *, smallest_pool: int | None = None
    ) -> np.ndarray:
        """The rows trained on at ``train_size``; ``time_series``: the most recent ones of ``pool``.

        ``smallest_pool``: as :func:`train_subset` (a fraction means one row count in every fold).

        Raises
        ------
        ValueError
            As :func:`train_subset` (a row count over the pool).
        """
        rows = train_subset(pool, self.y, self.task_type, train_size, seed, smallest_pool=smallest_pool)
        if self.kind != "time_series":
            return rows
        assert self.values is not None
        # the same number of rows as the other kinds take (however train_subset resolves a
        # size), the most recent ones
        return recent_subset(pool, self.values, len(rows))

    def inner_folds(self, train: np.ndarray, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """``val: cross_fit``'s inner folds (positions into ``train``).

        Raises
        ------
        ValueError
            Too few rows or groups; ``time_series`` has none (every training row predicted
            out-of-fold would need models trained on later rows).
        """
        if self.kind == "group_kfold":
            assert self.values is not None
            return group_inner_folds(train, self.y, self.task_type, self.values, k, seed)
        if self.kind == "time_series":
            raise ValueError(
                "val: cross_fit is not available with time_series resampling (it would predict "
                "earlier rows from models trained on later ones); use val: holdout"
            )
        return cross_fit_folds(train, self.y, self.task_type, k, seed)
