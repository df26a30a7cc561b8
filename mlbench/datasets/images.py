"""Array datasets: image folders (one sub-folder per class, read with PIL) and ``.npz`` archives.

An npz archive holds ``X`` and ``y``: ``X`` of shape (n, C, H, W) or (n, H, W) is a set of
images, (n, features) a numeric table. PIL is imported only when an image folder is read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlbench.datasets.base import Dataset, TaskType
from mlbench.datasets.cleaning import encode_target, encode_test_target, infer_task
from mlbench.datasets.specs import check_image_options, check_task, column_list, require_file, resolve_path
from mlbench.errors import DatasetError

IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"}
)


# --------------------------------------------------------------------------------------------------
# Image folders
# --------------------------------------------------------------------------------------------------


def _image_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS
    )


def _class_folders(name: str, root: Path, key: str) -> list[Path]:
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DatasetError(
            f"dataset '{name}': {root} has no class sub-folders. `{key}:` expects one sub-folder per class "
            "holding that class's images (e.g. pets/cat/1.png, pets/dog/2.png)."
        )
    return folders


def _read_images(name: str, files: list[Path], image_size: int | None, grayscale: bool) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    mode = "L" if grayscale else "RGB"
    arrays: list[np.ndarray] = []
    sizes: dict[tuple[int, int], Path] = {}
    for file in files:
        try:
            with Image.open(file) as img:
                img.load()
                img = img.convert(mode)
                if image_size is not None and img.size != (image_size, image_size):
                    img = img.resize((image_size, image_size), Image.Resampling.BILINEAR)
                arr = np.asarray(img, dtype=np.float32) / 255.0
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            # SyntaxError: PIL's own signal for some malformed headers.
            raise DatasetError(
                f"dataset '{name}': image file {file} could not be read ({type(exc).__name__}: {exc}). "
                "Remove or replace the corrupt file."
            ) from exc
        sizes.setdefault((arr.shape[1], arr.shape[0]), file)
        arrays.append(arr)
    if len(sizes) > 1:
        listed = ", ".join(f"{w}x{h} (e.g. {p})" for (w, h), p in list(sizes.items())[:4])
        raise DatasetError(
            f"dataset '{name}': image sizes differ: {listed}. Set `image_size: <pixels>` to resize all "
            "images to one square size."
        )
    stacked = np.stack(arrays).astype(np.float32, copy=False)
    stacked = stacked[:, None] if stacked.ndim == 3 else stacked.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(stacked)


def _load_folder(
    name: str, root: Path, key: str, image_size: int | None, grayscale: bool
) -> tuple[np.ndarray, list[str], np.ndarray, int]:
    folders = _class_folders(name, root, key)
    files: list[Path] = []
    labels: list[str] = []
    ignored = 0
    for folder in folders:
        found = _image_files(folder)
        ignored += sum(1 for p in folder.iterdir() if p.is_file()) - len(found)
        if not found:
            raise DatasetError(
                f"dataset '{name}': class folder {folder} has no images "
                f"({', '.join(sorted(IMAGE_EXTENSIONS))}). Add images or remove the folder."
            )
        files.extend(found)
        labels.extend([folder.name] * len(found))
    X = _read_images(name, files, image_size, grayscale)
    return X, labels, np.asarray([f.name for f in folders], dtype=object), ignored


def load_image_folder(name: str, spec: dict[str, Any], base_dir: str | Path) -> Dataset:
    """Load an ``image_folder:`` dataset: one sub-folder per class, images read with PIL.

    Parameters
    ----------
    name : str
        Dataset name.
    spec : dict
        The dataset spec (``image_folder``; optional ``image_size``, ``grayscale``, ``test``).
    base_dir : str or Path
        Folder relative paths resolve against.

    Returns
    -------
    Dataset
        X float32 (n, C, H, W) in [0, 1], C = 1 (grayscale) or 3 (RGB); y codes of the sorted class
        folder names.
    """
    image_size, grayscale = check_image_options(name, spec)
    root = resolve_path(spec["image_folder"], base_dir)
    require_file(name, root, "image_folder", base_dir, kind="folder")
    X, labels, class_names, ignored = _load_folder(name, root, "image_folder", image_size, grayscale)
    if len(class_names) < 2:
        raise DatasetError(
            f"dataset '{name}': {root} has a single class folder ({class_names[0]!r}); classification "
            "needs at least two. Add a sub-folder per class."
        )
    y, classes = encode_target(name, pd.Series(labels, dtype=object), "classification", "folder")
    notes = [
        f"image_folder {root}: {len(y)} images in {len(classes)} classes, "
        f"{'grayscale' if grayscale else 'RGB'} {X.shape[2]}x{X.shape[3]}"
        + (f" (resized to {image_size}x{image_size})" if image_size else "")
    ]
    if ignored:
        notes.append(f"ignored {ignored} non-image files")
    test_X = test_y = None
    if spec.get("test") is not None:
        test_root = resolve_path(spec["test"], base_dir)
        require_file(name, test_root, "test", base_dir, kind="folder")
        test_X, test_labels, _, _ = _load_folder(name, test_root, "test", image_size, grayscale)
        if test_X.shape[1:] != X.shape[1:]:
            raise DatasetError(
                f"dataset '{name}': test images are {test_X.shape[2]}x{test_X.shape[3]} but training images "
                f"are {X.shape[2]}x{X.shape[3]}. Set `image_size:` so both are resized alike."
            )
        test_y = encode_test_target(name, pd.Series(test_labels, dtype=object), "classification", classes)
        notes.append(f"test set {test_root} ({len(test_y)} images)")
    return Dataset(
        name=name,
        X=X,
        y=y,
        task_type="classification",
        image_shape=tuple(int(d) for d in X.shape[1:]),  # type: ignore[arg-type]
        classes=classes,
        provenance="; ".join(notes),
        test_X=test_X,
        test_y=test_y,
    )


# --------------------------------------------------------------------------------------------------
# npz
# --------------------------------------------------------------------------------------------------


def _read_npz(name: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as data:
            if not hasattr(data, "files"):
                raise DatasetError(
                    f"dataset '{name}': {path} is a single .npy array, not an .npz archive. Save it with "
                    "numpy.savez(path, X=X, y=y)."
                )
            keys = list(data.files)
            if "X" not in keys or "y" not in keys:
                raise DatasetError(
                    f"dataset '{name}': {path} must hold arrays named 'X' and 'y'; it has "
                    f"{column_list(keys) or 'no arrays'}. Save it with numpy.savez(path, X=X, y=y)."
                )
            X, y = data["X"], data["y"]
    except DatasetError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise DatasetError(
            f"dataset '{name}': {path} could not be read as an .npz archive ({type(exc).__name__}: {exc}). "
            "Save it with numpy.savez(path, X=X, y=y) (object arrays are not allowed)."
        ) from exc
    if y.ndim != 1:
        y = y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
    if y.ndim != 1:
        raise DatasetError(f"dataset '{name}': y in {path} must be one-dimensional, got shape {y.shape}.")
    if len(X) != len(y):
        raise DatasetError(
            f"dataset '{name}': X has {len(X)} rows but y has {len(y)} in {path}. Save matching arrays."
        )
    if len(y) == 0:
        raise DatasetError(f"dataset '{name}': {path} has no rows. Save non-empty X and y.")
    return X, y


def _npz_images(name: str, X: np.ndarray, path: Path) -> tuple[np.ndarray, str]:
    if X.ndim == 3:
        X = X[:, None]
    if X.shape[1] not in (1, 3, 4) and X.shape[3] in (1, 3):
        raise DatasetError(
            f"dataset '{name}': X in {path} has shape {X.shape}, which looks channels-last (n, H, W, C). "
            "Save X.transpose(0, 3, 1, 2) so it is (n, C, H, W)."
        )
    note = ""
    if np.issubdtype(X.dtype, np.integer) or X.dtype == np.bool_:
        hi = int(X.max()) if X.size else 0
        if X.min() < 0 or hi > 255:
            raise DatasetError(
                f"dataset '{name}': integer images in {path} range over [{X.min()}, {hi}], not 0..255. "
                "Save float images scaled to [0, 1]."
            )
        X = X.astype(np.float32) / (255.0 if hi > 1 else 1.0)
        note = " (integer pixels scaled to [0, 1])" if hi > 1 else ""
    elif not np.issubdtype(X.dtype, np.floating):
        raise DatasetError(f"dataset '{name}': X in {path} has dtype {X.dtype}; images must be numeric.")
    X = X.astype(np.float32, copy=False)
    if not np.isfinite(X).all():
        bad = int((~np.isfinite(X)).reshape(len(X), -1).any(axis=1).sum())
        raise DatasetError(
            f"dataset '{name}': {bad} images in {path} contain NaN or inf pixels. Image models cannot impute "
            "pixels: fix or remove those images."
        )
    if X.size and (X.min() < -1e-6 or X.max() > 1 + 1e-6):
        raise DatasetError(
            f"dataset '{name}': image values in {path} range over [{X.min():.3g}, {X.max():.3g}]; mlbench "
            "expects [0, 1]. Save X scaled to [0, 1] (e.g. X / 255 for 8-bit images)."
        )
    return np.ascontiguousarray(np.clip(X, 0.0, 1.0)), note


def _npz_arrays(
    name: str, X: np.ndarray, y: np.ndarray, path: Path, task: Any
) -> tuple[pd.DataFrame | np.ndarray, np.ndarray, TaskType, list[str]]:
    """Shared npz path for the main and the test file: features (image or tabular) and raw target."""
    notes: list[str] = []
    if X.ndim in (3, 4):
        feats, note = _npz_images(name, X, path)
        notes.append(f"images {feats.shape[1:]}{note}")
    elif X.ndim == 2:
        if not (np.issubdtype(X.dtype, np.number) or X.dtype == np.bool_):
            raise DatasetError(
                f"dataset '{name}': tabular X in {path} has dtype {X.dtype}; it must be numeric. "
                "Use `csv:` or `parquet:` for tables with text columns."
            )
        arr = X.astype(np.float64)
        n_inf = int(np.isinf(arr).sum())
        arr[np.isinf(arr)] = np.nan
        feats = pd.DataFrame(arr, columns=[f"f{i}" for i in range(arr.shape[1])])
        if n_inf:
            notes.append(f"replaced {n_inf} +-inf values by NaN (imputed by the model pipeline)")
    else:
        raise DatasetError(
            f"dataset '{name}': X in {path} has shape {X.shape}; expected (n, features) for tables or "
            "(n, H, W) / (n, C, H, W) for images."
        )
    y_series = pd.Series(y)
    missing = y_series.isna().to_numpy()
    if missing.any():
        raise DatasetError(
            f"dataset '{name}': y in {path} has {int(missing.sum())} missing values. Remove those rows."
        )
    return feats, y, check_task(name, task) or infer_task(y_series), notes


def load_npz(name: str, spec: dict[str, Any], base_dir: str | Path) -> Dataset:
    """Load an ``npz:`` dataset: arrays ``X`` and ``y``.

    Parameters
    ----------
    name : str
        Dataset name.
    spec : dict
        The dataset spec (``npz``; optional ``task``, ``test``).
    base_dir : str or Path
        Folder relative paths resolve against.

    Returns
    -------
    Dataset
        X of ndim 4 (n, C, H, W) or 3 (n, H, W) is an image dataset (float32 in [0, 1]; NaN/inf is an
        error); ndim 2 is tabular (columns ``f0 ..``; NaN allowed, inf becomes NaN).
    """
    path = resolve_path(spec["npz"], base_dir)
    require_file(name, path, "npz", base_dir)
    X_raw, y_raw = _read_npz(name, path)
    X, y_vals, task, notes = _npz_arrays(name, X_raw, y_raw, path, spec.get("task"))
    y, classes = encode_target(name, pd.Series(y_vals), task, "y")
    is_image = isinstance(X, np.ndarray)
    test_X = test_y = None
    if spec.get("test") is not None:
        test_path = resolve_path(spec["test"], base_dir)
        require_file(name, test_path, "test", base_dir)
        tX_raw, ty_raw = _read_npz(name, test_path)
        test_X, ty_vals, _, _ = _npz_arrays(name, tX_raw, ty_raw, test_path, task)
        if isinstance(test_X, np.ndarray) != is_image or test_X.shape[1:] != X.shape[1:]:
            raise DatasetError(
                f"dataset '{name}': test X in {test_path} has shape {test_X.shape[1:]} per row but training "
                f"X has {X.shape[1:]}. Save a test file with the same layout."
            )
        test_y = encode_test_target(name, pd.Series(ty_vals), task, classes, "y")
        notes.append(f"test set {test_path} ({len(test_y)} rows)")
    return Dataset(
        name=name,
        X=X,
        y=y,
        task_type=task,
        feature_kinds={} if is_image else dict.fromkeys(X.columns, "numeric"),
        image_shape=tuple(int(d) for d in X.shape[1:]) if is_image else None,  # type: ignore[arg-type]
        classes=classes,
        provenance="; ".join([f"npz {path} ({len(y)} rows), {task}", *notes]),
        test_X=test_X,
        test_y=test_y,
    )
