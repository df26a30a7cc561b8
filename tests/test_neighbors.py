"""TorchKNeighbors*: scikit-learn's estimator checks, and scikit-learn's brute-force neighbours."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits, make_regression
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.utils.estimator_checks import parametrize_with_checks

from mlbench.errors import ModelError
from mlbench.estimators import TorchKNeighborsClassifier, TorchKNeighborsRegressor

CPU = {"device": "cpu"}


@parametrize_with_checks([TorchKNeighborsClassifier(**CPU), TorchKNeighborsRegressor(**CPU)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    X = X[order] + rng.normal(0, 1e-3, X.shape)  # no exact ties between distances
    return X[:1200], y[:1200], X[1200:], y[1200:]


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "manhattan", "minkowski"])
@pytest.mark.parametrize("weights", ["uniform", "distance"])
def test_same_neighbours_and_predictions_as_sklearn_brute_on_digits(digits, metric, weights):
    X, y, Xq, _ = digits
    ours = TorchKNeighborsClassifier(n_neighbors=7, metric=metric, weights=weights, **CPU).fit(X, y)
    ref = KNeighborsClassifier(n_neighbors=7, metric=metric, weights=weights, algorithm="brute").fit(X, y)
    d, i = ours.kneighbors(Xq)
    rd, ri = ref.kneighbors(Xq)
    np.testing.assert_array_equal(i, ri)
    np.testing.assert_allclose(d, rd, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(ours.predict(Xq), ref.predict(Xq))
    np.testing.assert_allclose(ours.predict_proba(Xq), ref.predict_proba(Xq), atol=1e-12)


def test_minkowski_with_another_p_as_sklearn(digits):
    # p=1.5 is in the default KNN search space, so the torch KNN must take it too
    X, y, Xq, _ = digits
    ours = TorchKNeighborsClassifier(n_neighbors=7, p=1.5, weights="distance", **CPU).fit(X, y)
    ref = KNeighborsClassifier(n_neighbors=7, p=1.5, weights="distance", algorithm="brute").fit(X, y)
    d, i = ours.kneighbors(Xq)
    rd, ri = ref.kneighbors(Xq)
    np.testing.assert_array_equal(i, ri)
    np.testing.assert_allclose(d, rd, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(ours.predict(Xq), ref.predict(Xq))
    with pytest.raises(ModelError, match="p >= 1"):
        TorchKNeighborsClassifier(p=0.5, **CPU).fit(X, y)


def test_blocks_smaller_than_the_training_set_give_the_same_neighbours(digits):
    X, y, Xq, _ = digits
    whole = TorchKNeighborsClassifier(n_neighbors=5, **CPU).fit(X, y)
    # 0.05 MB = 6553 float64 distances: 102 training rows per block, 64 queries per block
    tiny = TorchKNeighborsClassifier(n_neighbors=5, max_block_mb=0.05, **CPU).fit(X, y)
    np.testing.assert_array_equal(tiny.kneighbors(Xq)[1], whole.kneighbors(Xq)[1])
    np.testing.assert_allclose(tiny.kneighbors(Xq)[0], whole.kneighbors(Xq)[0])


def test_float32_agrees_with_sklearn_on_nearly_every_neighbour(digits):
    X, y, Xq, _ = digits
    ours = TorchKNeighborsClassifier(n_neighbors=5, dtype="float32", **CPU).fit(X, y)
    ref = KNeighborsClassifier(n_neighbors=5, algorithm="brute").fit(X, y)
    assert (ours.predict(Xq) == ref.predict(Xq)).mean() > 0.995


@pytest.mark.parametrize("weights", ["uniform", "distance"])
def test_regressor_equals_sklearn(weights):
    X, y = make_regression(n_samples=300, n_features=6, noise=1.0, random_state=0)
    Y = np.c_[y, -2 * y]
    for target in (y, Y):
        ours = TorchKNeighborsRegressor(n_neighbors=4, weights=weights, **CPU).fit(X[:200], target[:200])
        ref = KNeighborsRegressor(n_neighbors=4, weights=weights, algorithm="brute").fit(
            X[:200], target[:200]
        )
        np.testing.assert_allclose(ours.predict(X[200:]), ref.predict(X[200:]), rtol=1e-10)


def test_exact_matches_take_the_whole_vote_and_training_queries_skip_themselves():
    X = np.array([[0.0], [1.0], [1.0], [5.0]])
    y = np.array([0, 1, 1, 0])
    for est in (TorchKNeighborsClassifier, KNeighborsClassifier):
        model = est(n_neighbors=3, weights="distance").fit(X, y)
        assert model.predict([[1.0]]).tolist() == [1]
    ours = TorchKNeighborsClassifier(n_neighbors=2, **CPU).fit(X, y)
    ref = KNeighborsClassifier(n_neighbors=2, algorithm="brute").fit(X, y)
    np.testing.assert_allclose(ours.kneighbors()[0], ref.kneighbors()[0])


def test_unsupported_metric_and_too_many_neighbours_say_what_to_do():
    X, y = np.eye(4), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="use one of euclidean, cosine, manhattan"):
        TorchKNeighborsClassifier(metric="chebyshev", **CPU).fit(X, y)
    with pytest.raises(ValueError, match="Expected n_neighbors <= n_samples_fit"):
        TorchKNeighborsClassifier(n_neighbors=9, **CPU).fit(X, y).predict(X)


@pytest.mark.gpu
def test_gpu_neighbours_equal_sklearn_on_digits(digits):
    X, y, Xq, _ = digits
    ours = TorchKNeighborsClassifier(n_neighbors=5, device="cuda").fit(X, y)
    ref = KNeighborsClassifier(n_neighbors=5, algorithm="brute").fit(X, y)
    assert ours.device_.startswith("cuda")
    assert (ours.kneighbors(Xq)[1] == ref.kneighbors(Xq)[1]).mean() > 0.999
    assert (ours.predict(Xq) == ref.predict(Xq)).mean() > 0.995
