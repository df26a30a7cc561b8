"""What a CNN learned, captured at job time so the report can show it without re-running.

For a fitted timm estimator on images: the first convolution's filters, the activation maps of
that layer for a few test images, and the test images it got wrong with the highest confidence
("look at the activations", "see where deep learning fails"). Arrays are small (a few hundred KB
at most) and stored with the job's predictions under ``viz_*`` keys.
"""

from __future__ import annotations

from typing import Any

import numpy as np

N_IMAGES = 4
N_CHANNELS = 8
N_MISTAKES = 8


def distinct_class_rows(y: np.ndarray, m: int) -> np.ndarray:
    """Up to ``m`` row indices, one per class first (in the order classes appear), then the next
    rows: test sets are often sorted by class, and four images of one class show little.
    """
    y = np.asarray(y)
    _, first = np.unique(y, return_index=True)
    picked = sorted(first.tolist())[:m]
    rest = [i for i in range(len(y)) if i not in set(picked)][: max(m - len(picked), 0)]
    return np.array(sorted(picked) + rest, dtype=np.int64)


def _first_conv(model: Any) -> Any:
    from torch import nn

    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            return module
    return None


def capture(estimator: Any, X: np.ndarray, y: np.ndarray, proba: np.ndarray) -> dict[str, np.ndarray]:
    """Filters, activation maps and most-confident mistakes of a fitted timm estimator.

    Parameters
    ----------
    estimator : TimmClassifier
        Fitted.
    X : numpy.ndarray
        Test images (n, C, H, W) as given to the estimator.
    y : numpy.ndarray
        True class codes of X.
    proba : numpy.ndarray
        Predicted probabilities (n, k), columns = class codes.

    Returns
    -------
    dict of str to numpy.ndarray
        ``viz_filters`` (F, C, kh, kw), ``viz_images`` (m, C, H, W: one test image per class
        first, :func:`distinct_class_rows`) with their classes ``viz_images_true``,
        ``viz_activations`` (m, A, h, w), ``viz_mistakes`` (j, C, H, W) with ``viz_mistakes_true``, ``viz_mistakes_pred``
        and ``viz_mistakes_conf``. Empty when the model has no convolution or X is empty.
    """
    import torch

    model = getattr(estimator, "model_", None)
    conv = _first_conv(model) if model is not None else None
    if conv is None or len(X) == 0:
        return {}
    out: dict[str, np.ndarray] = {"viz_filters": conv.weight.detach().float().cpu().numpy()[:64]}
    rows = distinct_class_rows(y, N_IMAGES)
    images = np.asarray(X[rows], dtype=np.float32)
    captured: list[Any] = []
    hook = conv.register_forward_hook(lambda mod, inp, output: captured.append(output.detach().float().cpu()))
    try:
        estimator.predict_proba(images)
    finally:
        hook.remove()
    if captured:
        acts = torch.relu(captured[0])[:, :N_CHANNELS]
        out["viz_activations"] = acts.numpy()
        out["viz_images"] = images
        out["viz_images_true"] = np.asarray(y)[rows].astype(np.int64)
    pred = proba.argmax(axis=1)
    wrong = np.flatnonzero(pred != y)
    if len(wrong):
        conf = proba[wrong, pred[wrong]]
        top = wrong[np.argsort(-conf, kind="stable")[:N_MISTAKES]]
        out["viz_mistakes"] = np.asarray(X[top], dtype=np.float32)
        out["viz_mistakes_index"] = top
        out["viz_mistakes_true"] = y[top].astype(np.int64)
        out["viz_mistakes_pred"] = pred[top].astype(np.int64)
        out["viz_mistakes_conf"] = proba[top, pred[top]].astype(np.float32)
    return out
