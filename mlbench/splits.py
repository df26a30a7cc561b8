"""Resampling and nested train-size subsets.

Folds are exactly scikit-learn's (``StratifiedKFold(n_splits, shuffle=True, random_state=seed)``
for classification, ``KFold`` for regression), so anyone can reproduce them with plain sklearn.
Train-size subsets are prefixes of one stratified ordering of the training pool, hence nested:
the 100-row subset lies inside the 200-row one. Subsets are returned in the pool's original row
order, so the full-size subset is the training fold itself.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from mlbench.errors import DatasetError


def make_folds(
    y: np.ndarray, task_type: str, resampling: dict[str, Any], seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Train/test index pairs of every fold, as sklearn's splitters produce them.

    Parameters
    ----------
    y : numpy.ndarray
        Targets (class codes for classification).
    task_type : str
        "classification" (stratified) or "regression".
    resampling : dict
        ``Resampling.model_dump()``: kind, folds, repeats, test_size.
    seed : int
        ``random_state`` of the splitter.
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
