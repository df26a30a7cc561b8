"""Loaders and generators of the builtin datasets (imported only when data is loaded).

The catalogue and the parameter checks live in :mod:`mlbench.datasets.builtin`, which imports
nothing heavy so the suite validator can use it; this module depends on it, never the reverse.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from mlbench.datasets.base import Dataset
from mlbench.datasets.builtin import builtin_problems, generator_params
from mlbench.errors import DatasetError


def _n_test(n_samples: int) -> int:
    return max(1, round(n_samples / 4))


def load_builtin(name: str, spec: dict[str, Any]) -> Dataset:
    """Load a ``builtin:`` dataset.

    Parameters
    ----------
    name : str
        Dataset name.
    spec : dict
        The dataset spec (``builtin`` plus generator parameters for ``synthetic_*``).

    Returns
    -------
    Dataset
    """
    problems = builtin_problems(spec, name)
    if problems:
        raise DatasetError(problems[0])
    which = spec["builtin"]
    if which == "synthetic_tabular":
        return _synthetic_tabular(name, spec)
    if which == "synthetic_images":
        return _synthetic_images(name, spec)
    if which == "digits":
        return _digits(name)
    return _sklearn_table(name, which)


def _digits(name: str) -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # Pixel values are counts 0..16 (of an 8x8 downsampled 32x32 bitmap); scale to [0, 1].
    X = (bunch.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = bunch.target.astype(np.int64)
    return Dataset(
        name=name,
        X=np.ascontiguousarray(X),
        y=y,
        task_type="classification",
        image_shape=(1, 8, 8),
        classes=np.unique(bunch.target),
        provenance=(
            f"builtin digits (scikit-learn load_digits, UCI optical digits test set): {len(y)} 8x8 "
            "grayscale images, 10 classes, pixels scaled from 0..16 to [0, 1]"
        ),
    )


def _sklearn_table(name: str, which: str) -> Dataset:
    from sklearn import datasets as skd

    loader = {
        "iris": skd.load_iris,
        "wine": skd.load_wine,
        "breast_cancer": skd.load_breast_cancer,
        "diabetes": skd.load_diabetes,
    }[which]
    bunch = loader(as_frame=True)
    X = bunch.data.astype(np.float64).reset_index(drop=True)
    X.columns = [str(c) for c in X.columns]
    kinds = dict.fromkeys(X.columns, "numeric")
    src = f"builtin {which} (scikit-learn {loader.__name__})"
    if which == "diabetes":
        y = bunch.target.to_numpy(dtype=np.float64)
        return Dataset(
            name=name,
            X=X,
            y=y,
            task_type="regression",
            feature_kinds=kinds,
            provenance=f"{src}: {len(y)} rows x {X.shape[1]} features (mean-centred, scaled), regression",
        )
    # Labels are the class names, encoded like LabelEncoder (sorted), so reports show names, not codes.
    names = np.asarray(bunch.target_names, dtype=object)[bunch.target.to_numpy()]
    classes, y = np.unique(names, return_inverse=True)
    return Dataset(
        name=name,
        X=X,
        y=y.astype(np.int64),
        task_type="classification",
        feature_kinds=kinds,
        classes=classes.astype(object),
        provenance=f"{src}: {len(y)} rows x {X.shape[1]} features, {len(classes)} classes",
    )


def _synthetic_tabular(name: str, spec: dict[str, Any]) -> Dataset:
    from sklearn.datasets import make_classification, make_regression

    p = generator_params(spec, name)
    regression = spec.get("task") == "regression"
    n, n_test, d, k = p["n_samples"], _n_test(p["n_samples"]), p["n_features"], p["n_classes"]
    if regression:
        n_inf = max(1, d // 2)
        X, y = make_regression(
            n_samples=n + n_test,
            n_features=d,
            n_informative=n_inf,
            noise=p["noise"],
            random_state=p["random_state"],
        )
        detail = f"make_regression, {n_inf} informative features, noise std {p['noise']}"
    else:
        # make_classification needs n_classes * n_clusters_per_class <= 2 ** n_informative.
        clusters = 2
        n_inf = min(d, max(2, d // 2, math.ceil(math.log2(k)) + 1))
        if k * clusters > 2**n_inf:
            clusters = 1
        if k * clusters > 2**n_inf:
            raise DatasetError(
                f"dataset '{name}': {k} classes need at least {math.ceil(math.log2(k))} features, got "
                f"n_features: {d}. Raise n_features or lower n_classes."
            )
        X, y = make_classification(
            n_samples=n + n_test,
            n_features=d,
            n_informative=n_inf,
            n_redundant=min(2, d - n_inf),
            n_classes=k,
            n_clusters_per_class=clusters,
            flip_y=p["noise"],
            random_state=p["random_state"],
        )
        detail = (
            f"make_classification, {k} classes, {n_inf} informative features, {p['noise']:g} labels flipped"
        )
    columns = [f"f{i}" for i in range(d)]
    X_train, y_train = X[:n], y[:n]
    frame = pd.DataFrame(X_train, columns=columns)
    test_X = test_y = None
    notes = [
        f"builtin synthetic_tabular ({detail}, random_state {p['random_state']}): {n} rows x {d} features"
    ]
    if p["shift"] != 0:
        shifted = X[n:] + p["shift"] * X_train.std(axis=0)
        test_X = pd.DataFrame(shifted, columns=columns)
        test_y = y[n:].astype(np.float64 if regression else np.int64)
        notes.append(f"test part of {n_test} rows shifted by {p['shift']:g} feature standard deviations")
    return Dataset(
        name=name,
        X=frame,
        y=y_train.astype(np.float64 if regression else np.int64),
        task_type="regression" if regression else "classification",
        feature_kinds=dict.fromkeys(columns, "numeric"),
        classes=None if regression else np.arange(k, dtype=np.int64),
        provenance="; ".join(notes),
        test_X=test_X,
        test_y=test_y,
    )


def make_bar_images(
    y: np.ndarray, n_classes: int, size: int, noise: float, rng: np.random.Generator
) -> np.ndarray:
    """Draw one noisy oriented-bar image per label, class ``c`` at angle ``pi * c / n_classes``.

    Parameters
    ----------
    y : numpy.ndarray
        int labels in 0..n_classes-1.
    n_classes, size : int
        Number of classes, and the side of the square image in pixels.
    noise : float
        Standard deviation of the Gaussian pixel noise.
    rng : numpy.random.Generator

    Returns
    -------
    numpy.ndarray
        float32 (len(y), 1, size, size) in [0, 1].
    """
    n = len(y)
    # Jitter stays well below half the angle gap between classes, so classes are learnable but not trivial.
    angle = np.pi * y / n_classes + rng.normal(0.0, np.pi / (8 * n_classes), n)
    centre = (size - 1) / 2 + rng.uniform(-size / 4, size / 4, (n, 2))
    width = size / 10 * rng.uniform(0.8, 1.3, n)
    amplitude = rng.uniform(0.6, 1.0, n)
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)
    dx = cols[None] - centre[:, 0, None, None]
    dy = rows[None] - centre[:, 1, None, None]
    # Distance from each pixel to the line through the centre with direction (cos a, sin a).
    dist = np.abs(dx * np.sin(angle)[:, None, None] - dy * np.cos(angle)[:, None, None])
    img = 0.1 + amplitude[:, None, None] * np.exp(-(dist**2) / (2 * width[:, None, None] ** 2))
    img = img + rng.normal(0.0, noise, img.shape)
    return np.clip(img, 0.0, 1.0).astype(np.float32)[:, None]


def _synthetic_images(name: str, spec: dict[str, Any]) -> Dataset:
    p = generator_params(spec, name)
    n, n_test, k, s = p["n_samples"], _n_test(p["n_samples"]), p["n_classes"], p["image_size"]
    rng = np.random.default_rng(p["random_state"])
    # Labels are balanced within the training part and within the test part.
    y = np.concatenate([rng.permutation(np.arange(m) % k) for m in (n, n_test)]).astype(np.int64)
    X = make_bar_images(y, k, s, p["noise"], rng)
    notes = [
        f"builtin synthetic_images (oriented bars, {k} classes, pixel noise std {p['noise']:g}, random_state "
        f"{p['random_state']}): {n} images 1x{s}x{s}"
    ]
    test_X = test_y = None
    if p["shift"] != 0:
        contrast, brightness = 1 + p["shift"] / 2, p["shift"] / 5
        test_X = np.clip((X[n:] - 0.5) * contrast + 0.5 + brightness, 0.0, 1.0).astype(np.float32)
        test_y = y[n:]
        notes.append(
            f"test part of {n_test} images with contrast x{contrast:g} and brightness {brightness:+g}"
        )
    return Dataset(
        name=name,
        X=np.ascontiguousarray(X[:n]),
        y=y[:n],
        task_type="classification",
        image_shape=(1, s, s),
        classes=np.arange(k, dtype=np.int64),
        provenance="; ".join(notes),
        test_X=test_X,
        test_y=test_y,
    )
