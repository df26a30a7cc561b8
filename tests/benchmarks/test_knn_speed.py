"""KNN prediction speed: ``TorchKNeighborsClassifier`` vs ``KNeighborsClassifier(algorithm="brute")``.

Not in the default test run (`make bench`, `make gpu-check`). Same host, same data, same k, both
sides with this process's default threads (all cores). Timed: ``predict`` on the query rows after
``fit`` (the torch side includes moving the queries to the device and the results back).
Goals: on the CPU (float64, exact) the torch KNN is not slower than scikit-learn (ratio >= 1.0);
on a GPU (float32) >= 30x at 60,000 training x 10,000 query rows x 784 features. Figures go to
``.benchmarks/knn_speed.json``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sklearn.neighbors import KNeighborsClassifier  # noqa: E402

from mlbench.estimators import TorchKNeighborsClassifier  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / ".benchmarks" / "knn_speed.json"


def _record(key: str, value: object) -> None:
    RESULTS.parent.mkdir(exist_ok=True)
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data[key] = value
    RESULTS.write_text(json.dumps(data, indent=2))


def _data(n_train: int, n_query: int, n_features: int):
    rng = np.random.default_rng(0)
    # MNIST-like: pixel values in [0, 1], ten classes
    X = rng.random((n_train, n_features))
    y = rng.integers(0, 10, n_train)
    Q = rng.random((n_query, n_features))
    return X, y, Q


def _best_of(fn, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _compare(
    benchmark, key: str, shape: tuple[int, int, int], device: str, rounds: int
) -> tuple[float, float]:
    X, y, Q = _data(*shape)
    ref = KNeighborsClassifier(n_neighbors=5, algorithm="brute").fit(X, y)
    ours = TorchKNeighborsClassifier(n_neighbors=5, device=device).fit(X, y)

    def torch_predict():
        out = ours.predict(Q)
        if device == "cuda":
            torch.cuda.synchronize()
        return out

    torch_predict()  # warm-up: CUDA context / kernels, first-touch of the training rows
    sk_s = _best_of(lambda: ref.predict(Q), rounds)
    t_s = _best_of(torch_predict, rounds)
    agree = float((ours.predict(Q) == ref.predict(Q)).mean())
    benchmark.pedantic(torch_predict, rounds=1, iterations=1)
    ratio = sk_s / t_s
    benchmark.extra_info.update(sklearn_s=sk_s, torch_s=t_s, ratio=ratio, agreement=agree, shape=shape)
    _record(key, {"sklearn_s": sk_s, "torch_s": t_s, "ratio": ratio, "agreement": agree, "shape": shape})
    return ratio, agree


def test_cpu_knn_is_not_slower_than_sklearn_brute(benchmark):
    ratio, agree = _compare(benchmark, "cpu", (10_000, 2_000, 784), "cpu", rounds=3)
    assert agree == 1.0  # float64 on the CPU: the same neighbours, so the same predictions
    assert ratio >= 1.0


@pytest.mark.gpu
def test_gpu_knn_is_30x_sklearn_brute_at_mnist_size(benchmark):
    ratio, agree = _compare(benchmark, "cuda", (60_000, 10_000, 784), "cuda", rounds=1)
    assert agree > 0.999
    assert ratio >= 30
