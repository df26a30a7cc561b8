"""The deep estimators (mlbench.estimators): scikit-learn contract, training, fine-tuning, errors.

Everything runs on the CPU with timm's tiny test architectures (``test_resnet``: 0.37M parameters)
and small slices of sklearn's digits, so the file stays fast on two cores.
"""

from __future__ import annotations

import pickle
import socket
import time
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from safetensors.torch import load_file as load_safetensors  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_diabetes, load_digits  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from mlbench.deep import trainer  # noqa: E402
from mlbench.deep.timm_models import create  # noqa: E402
from mlbench.errors import ModelError  # noqa: E402
from mlbench.estimators import MLPClassifier, MLPRegressor, TimmClassifier, TimmRegressor  # noqa: E402

ARCH = "test_resnet"
# device="cpu": the determinism and exact-equality checks below are CPU claims, also on a GPU host
FAST = {"device": "cpu", "n_threads": 2, "random_state": 0}


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    """All 1797 digits as (n, 1, 8, 8) images in [0, 1]."""
    bunch = load_digits()
    return (bunch.images / 16.0).astype(np.float32)[:, None], bunch.target


@pytest.fixture(scope="module")
def source_model(digits, tmp_path_factory) -> tuple[TimmClassifier, dict[str, object]]:
    """A 10-class test_resnet fitted on digits and its checkpoint in both formats."""
    X, y = digits
    est = TimmClassifier(arch=ARCH, epochs=2, **FAST).fit(X[:300], y[:300])
    folder = tmp_path_factory.mktemp("ckpt")
    paths = {suffix: est.save_checkpoint(folder / f"source{suffix}") for suffix in (".pth", ".safetensors")}
    return est, paths


def _read_checkpoint(path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        return load_safetensors(str(path))
    return torch.load(path, weights_only=True)


# -- 1, 2: scikit-learn's estimator checks ---------------------------------------------------------
# All four pass every check (flat rows are 1 x n_features images for the timm models), so no check
# is listed as an expected failure. The timm models declare poor_score: a CNN on 1 x 2 "images"
# trained for 2 epochs is not meant to reach sklearn's accuracy thresholds.
@parametrize_with_checks(
    [
        MLPClassifier(hidden_sizes=(32,), epochs=20, **FAST),
        MLPRegressor(hidden_sizes=(32,), epochs=20, lr=1e-2, **FAST),
        TimmClassifier(arch=ARCH, epochs=2, **FAST),
        TimmRegressor(arch=ARCH, epochs=2, **FAST),
    ]
)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        # torch/timm deprecation chatter is not what these checks are about
        warnings.simplefilter("ignore", category=UserWarning)
        check(estimator)


# -- 3: the estimator API with model selection -------------------------------------------------------
def test_clone_and_params(digits):
    X, y = digits
    est = TimmClassifier(arch=ARCH, epochs=2, lr=0.1, **FAST)
    assert est.set_params(epochs=3) is est and est.get_params()["epochs"] == 3
    est.fit(X[:100], y[:100])
    copy = clone(est)
    assert copy.get_params() == est.get_params()
    assert not hasattr(copy, "model_")  # clone copies parameters, never the fitted network


def test_pickle_roundtrip_predicts_the_same(digits):
    X, y = digits
    est = TimmClassifier(arch=ARCH, epochs=2, **FAST).fit(X[:200], y[:200])
    loaded = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(loaded.predict_proba(X[200:300]), est.predict_proba(X[200:300]))
    np.testing.assert_array_equal(loaded.transform(X[200:300]), est.transform(X[200:300]))


def test_grid_search_and_cross_val_score(digits):
    X, y = digits[0][:400], digits[1][:400]
    grid = GridSearchCV(TimmClassifier(arch=ARCH, epochs=5, **FAST), {"lr": [0.02, 0.1]}, cv=2)
    grid.fit(X, y)
    assert grid.best_params_["lr"] in (0.02, 0.1)
    assert hasattr(grid.best_estimator_, "model_")
    scores = cross_val_score(TimmClassifier(arch=ARCH, epochs=5, **FAST), X, y, cv=2)
    # chance is 0.1; 5 epochs on 200 8x8 digits gets well above it
    assert scores.shape == (2,) and scores.min() > 0.3


# -- 4: real training ----------------------------------------------------------------------------------
def test_digits_32px_reaches_95_percent(digits):
    X, y = digits
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    est = TimmClassifier(arch=ARCH, image_size=32, epochs=15, batch_size=64, **FAST).fit(X_train, y_train)
    assert est.score(X_test, y_test) >= 0.95
    assert est.device_ == "cpu" and len(est.history_) == 15 and est.best_epoch_ == 15
    assert est.n_params_ == sum(p.numel() for p in est.model_.parameters())


# -- 5: fine-tuning from a checkpoint file ----------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_checkpoint_loads_with_a_new_head(source_model, suffix):
    _, paths = source_model
    ckpt = _read_checkpoint(paths[suffix])
    net, source = create(ARCH, num_classes=3, in_chans=1, drop_rate=0.0, weights=str(paths[suffix]))
    state = net.state_dict()
    assert source == f"file {paths[suffix]}"
    assert state["fc.weight"].shape == (3, ckpt["fc.weight"].shape[1]) and ckpt["fc.weight"].shape[0] == 10
    backbone = [k for k in state if not k.startswith("fc.")]
    assert backbone and all(torch.equal(state[k], ckpt[k]) for k in backbone)


def test_first_conv_adapts_to_more_channels(source_model, digits):
    _, paths = source_model
    ckpt = _read_checkpoint(paths[".safetensors"])
    net, _ = create(ARCH, num_classes=3, in_chans=3, drop_rate=0.0, weights=str(paths[".safetensors"]))
    # timm repeats the 1-channel kernel over the 3 channels and scales it by 1/3 (same response on grey input)
    expected = ckpt["conv1.0.weight"].repeat(1, 3, 1, 1) / 3
    torch.testing.assert_close(net.state_dict()["conv1.0.weight"], expected)
    # and the estimator fine-tunes that network on 3-channel images
    X, y = digits
    mask = y[:300] < 3
    X3 = np.repeat(X[:300][mask], 3, axis=1)
    est = TimmClassifier(arch=ARCH, weights=str(paths[".safetensors"]), epochs=1, **FAST).fit(
        X3, y[:300][mask]
    )
    assert est.model_.conv1[0].in_channels == 3 and est.predict_proba(X3).shape == (len(X3), 3)


def test_freeze_epochs_train_only_the_head(source_model, digits):
    _, paths = source_model
    ckpt = _read_checkpoint(paths[".pth"])
    X, y = digits
    mask = y[300:600] >= 7
    Xt, yt = X[300:600][mask], y[300:600][mask]

    def backbone_changed(est: TimmClassifier) -> bool:
        # parameters only: BatchNorm running statistics follow the new data even while frozen
        params = dict(est.model_.named_parameters())
        return any(not torch.equal(params[k].detach(), ckpt[k]) for k in params if not k.startswith("fc."))

    frozen = TimmClassifier(arch=ARCH, weights=str(paths[".pth"]), epochs=2, freeze_epochs=2, **FAST).fit(
        Xt, yt
    )
    assert [h["phase"] for h in frozen.history_] == ["head", "head"]
    assert not backbone_changed(frozen)
    assert not torch.equal(frozen.model_.fc.weight.detach(), create_head(paths[".pth"]))
    # control: the same comparison sees the change when the backbone trains
    unfrozen = TimmClassifier(arch=ARCH, weights=str(paths[".pth"]), epochs=1, **FAST).fit(Xt, yt)
    assert backbone_changed(unfrozen)


def create_head(path) -> torch.Tensor:
    """The head the estimator starts from with random_state=0 (fit seeds before building)."""
    trainer.seed_everything(0)
    net, _ = create(ARCH, num_classes=3, in_chans=1, drop_rate=0.0, weights=str(path))
    return net.fc.weight.detach()


# -- 6: pretraining on an mlbench dataset ------------------------------------------------------------------
def test_pretrain_runs_offline_and_is_cached(digits, tmp_path, monkeypatch):
    monkeypatch.setenv("MLBENCH_CACHE", str(tmp_path))

    def no_network(*args, **kwargs):
        raise AssertionError("pretraining tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    calls = []
    real_train = trainer.train

    def counting_train(*args, **kwargs):
        calls.append(len(args[1]))  # rows trained on
        return real_train(*args, **kwargs)

    monkeypatch.setattr(trainer, "train", counting_train)
    X, y = digits
    mask = y[:300] < 3
    params = {
        "arch": ARCH,
        "weights": {"pretrain": {"dataset": {"builtin": "digits"}, "epochs": 1}},
        "epochs": 1,
    }

    t0 = time.perf_counter()
    first = TimmClassifier(**params, **FAST).fit(X[:300][mask], y[:300][mask])
    first_s = time.perf_counter() - t0
    files = list((tmp_path / "pretrained").glob("*.safetensors"))
    assert len(files) == 1 and files[0].name.startswith(ARCH)
    assert calls == [1797, mask.sum()]  # all of digits for the source model, then the target rows
    assert first.weights_source_.startswith("pretrained on")

    mtime = files[0].stat().st_mtime_ns
    t0 = time.perf_counter()
    TimmClassifier(**params, **FAST).fit(X[:300][mask], y[:300][mask])
    second_s = time.perf_counter() - t0
    assert list((tmp_path / "pretrained").glob("*.safetensors")) == files
    assert files[0].stat().st_mtime_ns == mtime
    assert calls == [1797, mask.sum(), mask.sum()]  # the second fit did not pretrain again
    assert second_s < first_s


# -- 7: hub weights without a network ------------------------------------------------------------------------
def test_hub_weights_offline_with_empty_cache(digits, tmp_path, monkeypatch):
    from huggingface_hub import constants

    # huggingface_hub reads these variables when it is imported; patch its constants as well
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HOME", str(tmp_path))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    X, y = digits
    with pytest.raises(ModelError, match=r"(?s)not in the local Hugging Face cache.*Pre-download them"):
        TimmClassifier(arch=ARCH, weights="hub", epochs=1, **FAST).fit(X[:50], y[:50])


# -- 8: early stopping and determinism ---------------------------------------------------------------------------
def test_early_stopping_restores_the_best_epoch(digits):
    X, y = digits
    rng = np.random.RandomState(0)
    X_train, y_train = X[:60], y[:60].copy()
    noisy = rng.rand(60) < 0.5
    noisy[:10] = False  # digits starts 0, 1, ..., 9: every class stays in the training set
    y_train[noisy] = rng.randint(0, 10, noisy.sum())  # half the labels random: memorising them hurts
    X_val, y_val = X[1000:1300], y[1000:1300]

    def fit() -> TimmClassifier:
        est = TimmClassifier(
            arch=ARCH, epochs=60, batch_size=16, early_stopping=3, lr_schedule="constant", **FAST
        )
        return est.fit(X_train, y_train, validation_data=(X_val, y_val))

    est = fit()
    val_losses = [h["val_loss"] for h in est.history_]
    assert est.best_epoch_ < len(est.history_) < 60  # stopped early, after the best epoch
    assert val_losses[-1] > min(val_losses) + 1e-4  # so restoring the best weights changes the model
    proba = est.predict_proba(X_val)
    loss_now = -np.mean(np.log(proba[np.arange(len(y_val)), np.searchsorted(est.classes_, y_val)]))
    assert loss_now == pytest.approx(min(val_losses), rel=1e-5)
    assert min(val_losses) == val_losses[est.best_epoch_ - 1]
    # the same seed on the CPU trains the same network
    np.testing.assert_array_equal(fit().predict_proba(X_val), proba)


# -- 9: bad input is refused before training ----------------------------------------------------------------------
def _nan_images(X):
    bad = X[:20].copy()
    bad[3, 0, 2, 2] = np.nan
    return bad


BAD_INPUTS = {
    "nan-images": (dict(), _nan_images, ValueError, "NaN or infinity"),
    "nan-rows": (
        dict(),
        lambda X: np.where(np.arange(64) == 5, np.nan, X[:20].reshape(20, 64)),
        ValueError,
        "NaN",
    ),
    "image-shape": (
        dict(image_shape=(1, 8, 9)),
        lambda X: X[:20].reshape(20, 64),
        ValueError,
        r"image_shape",
    ),
    "unknown-arch": (
        dict(arch="resnt18"),
        None,
        ModelError,
        r"unknown timm architecture.*Did you mean.*'resnet18'",
    ),
    "missing-file": (dict(weights="/nonexistent/w.pth"), None, ModelError, "does not exist"),
    "mse-classifier": (dict(loss="mse"), None, ModelError, "loss='mse' is for regression"),
    "weights-mapping": (
        dict(weights={"pretrian": {"dataset": "digits"}}),
        None,
        ModelError,
        r"weights as a mapping must be \{pretrain:",
    ),
    "pretrain-without-dataset": (
        dict(weights={"pretrain": {"epochs": 1}}),
        None,
        ModelError,
        r"pretrain needs \{dataset:",
    ),
    "optimizer": (dict(optimizer="adam"), None, ModelError, r"optimizer='adam' is not one of.*'adamw'"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_fails_before_training(case, digits, monkeypatch):
    params, make_X, error, message = BAD_INPUTS[case]
    X, y = digits
    _refuse_training(monkeypatch)
    est = TimmClassifier(**{"arch": ARCH, "epochs": 1, **FAST, **params})
    t0 = time.perf_counter()
    with pytest.raises(error, match=message):
        est.fit(make_X(X) if make_X else X[:20], y[:20])
    assert time.perf_counter() - t0 < 10  # generous for a loaded machine; training is refused above anyway


def test_checkpoint_of_another_architecture(source_model, digits, monkeypatch):
    _, paths = source_model
    _refuse_training(monkeypatch)
    X, y = digits
    est = TimmClassifier(arch="test_efficientnet", weights=str(paths[".safetensors"]), epochs=1, **FAST)
    with pytest.raises(ModelError, match=r"does not match architecture 'test_efficientnet'"):
        est.fit(X[:20], y[:20])


def _refuse_training(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("training started although the input is invalid")

    monkeypatch.setattr(trainer, "train", refuse)


# -- 10: embeddings and regression ---------------------------------------------------------------------------------
def test_transform_gives_penultimate_embeddings(digits):
    X, y = digits
    est = TimmClassifier(arch=ARCH, epochs=1, **FAST).fit(X[:100], y[:100])
    emb = est.transform(X[:30])
    assert emb.shape == (30, est.model_.num_features) and np.isfinite(emb).all()
    # the head applied to the embeddings gives the model's logits
    logits = est.model_.get_classifier()(torch.as_tensor(emb)).detach()
    np.testing.assert_allclose(
        torch.softmax(logits, 1).numpy(), est.predict_proba(X[:30]), rtol=1e-4, atol=1e-6
    )
    mlp = MLPClassifier(hidden_sizes=(16, 8), epochs=2, **FAST).fit(X[:100].reshape(100, 64), y[:100])
    assert mlp.transform(X[:30].reshape(30, 64)).shape == (30, 8)


def test_timm_regressor_learns_mean_brightness():
    rng = np.random.RandomState(0)
    images = rng.rand(400, 1, 8, 8).astype(np.float32)
    target = images.mean(axis=(1, 2, 3)) * 10 + 3  # not standardised: the estimator must undo its scaling
    est = TimmRegressor(arch=ARCH, epochs=10, **FAST).fit(images[:300], target[:300])
    assert est.score(images[300:], target[300:]) > 0.5


def test_mlp_regressor_on_diabetes():
    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    # small network: 331 rows overfit the default (256, 256) MLP (R2 ~0.14); ridge gets ~0.36 here
    est = MLPRegressor(hidden_sizes=(32,), epochs=50, **FAST).fit(X_train, y_train)
    assert est.score(X_test, y_test) > 0.3


@pytest.mark.parametrize("n_steps", [1, 2, 3, 4, 5, 8])
def test_onecycle_with_few_steps(n_steps):
    # OneCycleLR divided by zero at 4 steps (e.g. 2 epochs of 2 batches); every count must train
    rng = np.random.RandomState(0)
    X, y = rng.rand(10 * n_steps, 3), np.arange(10 * n_steps) % 2
    est = MLPClassifier(hidden_sizes=(8,), epochs=1, batch_size=10, lr_schedule="onecycle", **FAST).fit(X, y)
    assert len(est.history_) == 1 and np.isfinite(est.history_[0]["train_loss"])
    assert est.history_[0]["lr"] <= est.lr
