"""Train/test mismatch checks of a suite's datasets, as the coordinator and ``mlbench check`` run them.

For each dataset two comparisons (see :mod:`mlbench.analysis.drift` for the tests):

* ``test_file``: its own ``test:`` file against its training data, when it has one (the case users
  care about);
* ``cv_fold_0``: the test rows of the first resampling fold against that fold's training rows. The
  split is random, so this is a control: a flag here means the rows are not exchangeable (ordered
  or grouped data, duplicates) or, at rate ``alpha``, a false alarm. Under ``group_kfold`` the
  fold holds other groups and under ``time_series`` a later period, so a flag there measures how
  much the groups or the periods differ: what the models are asked to bridge.

Both compare the features the jobs see: the dataset is loaded through the one table pipeline
with the suite's resampling (dates as numbers, ID-like columns dropped, the group or time
column set aside).

The results are stored as rows (one per dataset x comparison x check x feature, plus one
``verdict`` row per comparison) in the results store's ``diagnostics`` table
(:meth:`mlbench.store.Store.record_diagnostics`), read back with :meth:`mlbench.reader.Run.diagnostics`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlbench.analysis.drift import DriftInputError, DriftResult, compare, compare_images, pixel_problem

if TYPE_CHECKING:  # pragma: no cover
    from mlbench.datasets import Dataset

__all__ = [
    "DEFAULTS",
    "DiagnosticsOptions",
    "check_dataset",
    "load_sample",
    "result_rows",
]

#: Defaults of the suite's ``diagnostics:`` block.
DEFAULTS: dict[str, Any] = {"alpha": 0.05, "permutations": 200, "max_rows": 10_000}
_TARGET = "target"


@dataclass(frozen=True)
class DiagnosticsOptions:
    """The suite's ``diagnostics:`` settings (``enabled=False`` for ``diagnostics: false``)."""

    enabled: bool = True
    alpha: float = 0.05
    permutations: int = 200
    max_rows: int = 10_000

    @property
    def key(self) -> str:
        """Identifies the settings a stored result was computed with (resume recomputes on change)."""
        return f"alpha={self.alpha:g};permutations={self.permutations};max_rows={self.max_rows}"


def comparisons(spec: dict[str, Any]) -> list[str]:
    """Names of the comparisons made for a dataset spec: ``test_file`` and ``cv_fold_0``.

    ``test_file`` when the dataset brings its own test set: a ``test:`` file, or a builtin
    generator with a non-zero ``shift`` (its shifted test part).
    """
    own_test = "test" in spec or ("builtin" in spec and bool(spec.get("shift")))
    return (["test_file"] if own_test else []) + ["cv_fold_0"]


def _frame(ds: Dataset, X: Any, y: np.ndarray) -> tuple[pd.DataFrame, str]:
    df = ds.tabular(X).copy()
    target = _TARGET
    while target in df.columns:
        target = f"_{target}"
    if ds.classes is not None:
        df[target] = np.asarray(ds.classes, dtype=object)[np.asarray(y, dtype=np.int64)]
    else:
        df[target] = np.asarray(y, dtype=float)
    return df, target


def check_dataset(
    ds: Dataset, resampling: dict[str, Any], seed: int, options: DiagnosticsOptions
) -> list[tuple[str, DriftResult, dict[str, Any]]]:
    """Run every comparison of one dataset.

    Parameters
    ----------
    ds : Dataset
        Loaded with ``resampling`` (its features are the jobs' features).
    resampling : dict
        The suite's ``Resampling.model_dump()`` (fold 0 of it is the control).
    seed : int
        The suite's seed (the folds' ``random_state``; also seeds the checks).
    options : DiagnosticsOptions

    Returns
    -------
    list of (comparison, DriftResult, where)
        ``where`` says where the compared test rows come from: ``{"source": "test" | "X",
        "rows": dataset rows of the result's compared test rows}``.
    """
    from mlbench.splits import RowSplitter

    out = []
    pairs: list[tuple[str, Any, np.ndarray, Any, np.ndarray, str, np.ndarray]] = []
    if ds.test_X is not None and ds.test_y is not None:
        pairs.append(("test_file", ds.X, ds.y, ds.test_X, ds.test_y, "test", np.arange(len(ds.test_y))))
    # fold 0 as the jobs see it: whole groups (group_kfold), or the earliest block (time_series)
    train_idx, test_idx = RowSplitter.of(ds, resampling).folds(seed)[0]
    pairs.append(
        (
            "cv_fold_0",
            ds.X[train_idx] if ds.is_image else ds.X.iloc[train_idx],
            ds.y[train_idx],
            ds.X[test_idx] if ds.is_image else ds.X.iloc[test_idx],
            ds.y[test_idx],
            "X",
            test_idx,
        )
    )
    for name, Xa, ya, Xb, yb, source, rows in pairs:
        kwargs = {"alpha": options.alpha, "permutations": options.permutations, "seed": seed}
        if ds.is_image:
            cls = ds.task_type == "classification"
            result = compare_images(
                Xa, Xb, ya if cls else None, yb if cls else None, max_rows=options.max_rows, **kwargs
            )
        else:
            fa, target = _frame(ds, Xa, ya)
            fb, _ = _frame(ds, Xb, yb)
            kinds = {str(k): v for k, v in ds.feature_kinds.items()}
            result = compare(
                fa,
                fb,
                target,
                max_rows=options.max_rows,
                feature_kinds=kinds or None,
                task_type=ds.task_type,
                **kwargs,
            )
        out.append((name, result, {"source": source, "rows": rows[result.test_rows]}))
    return out


def result_rows(
    dataset: str, comparison: str, result: DriftResult, where: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The store rows of one comparison: one per check x feature, plus a ``verdict`` row.

    The verdict row's ``detail`` holds what the report draws: histograms of the top features,
    the label's class counts or target histogram, and (images) the dataset rows of the test
    images the domain classifier scored most test-like.
    """
    rows = []
    for rec in result.table().to_dict("records"):
        rows.append({"dataset": dataset, "comparison": comparison, **rec, "detail": None})
    detail: dict[str, Any] = {
        "kind": result.kind,
        "checks": result.checks,
        "histograms": result.histograms,
        "correction": "Holm across features, Bonferroni across checks",
    }
    if result.label is not None:
        detail["label"] = result.label.get("histogram")
    if result.domain is not None:
        detail["auc"] = result.domain["auc"]
        detail["domain_p"] = result.domain["p"]
        if where is not None and len(result.domain.get("test_index", [])):
            order = np.argsort(-np.asarray(result.domain["test_scores"]), kind="stable")[:16]
            pos = np.asarray(result.domain["test_index"])[order]
            detail["unlike"] = {
                "source": where["source"],
                "rows": [int(r) for r in np.asarray(where["rows"])[pos]],
                "scores": [float(s) for s in np.asarray(result.domain["test_scores"])[order]],
            }
    rows.append(
        {
            "dataset": dataset,
            "comparison": comparison,
            "check": "verdict",
            "feature": "",
            "kind": result.kind,
            "test": "",
            "statistic": None,
            "p": None,
            "p_corrected": None,
            "effect": None,
            "effect_name": "",
            "flagged": result.flagged,
            "verdict": result.verdict,
            "n_train": result.n_train,
            "n_test": result.n_test,
            "detail": json.dumps(_clean(detail), allow_nan=False),
        }
    )
    return rows


def error_rows(dataset: str, comparison: str, message: str) -> list[dict[str, Any]]:
    """The verdict row of a comparison that could not be computed (kept, not raised)."""
    return [
        {
            "dataset": dataset,
            "comparison": comparison,
            "check": "verdict",
            "feature": "",
            "flagged": False,
            "verdict": f"Not checked: {message}",
            "error": message,
            "detail": None,
        }
    ]


def suite_diagnostics(
    suite: Any, options: DiagnosticsOptions, skip: set[tuple[str, str]] | None = None
) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """Compute the checks of every dataset of a suite (for the coordinator and ``mlbench check --suite``).

    Parameters
    ----------
    suite : Suite
    options : DiagnosticsOptions
    skip : set of (dataset, comparison), optional
        Already stored with these settings: not recomputed.

    Returns
    -------
    list of (dataset, comparison, rows)
        A dataset that cannot be loaded or checked gives one verdict row carrying the error.
    """
    from threadpoolctl import threadpool_limits

    from mlbench.datasets import load_dataset

    skip = skip or set()
    out = []
    resampling = suite.resampling.model_dump()
    # One BLAS/OpenMP thread: on small data the thread start-up and spinning of a parallel
    # HistGradientBoosting cost more than the work (0.36 s vs 1.6 s for digits, measured on 2
    # busy cores), and the coordinator runs these checks next to the jobs' worker processes.
    # (threadpool_limits is process-wide; the coordinator does no other numeric work meanwhile.)
    with threadpool_limits(1):
        _suite_checks(suite, options, skip, resampling, load_dataset, out)
    return out


def _suite_checks(
    suite: Any,
    options: DiagnosticsOptions,
    skip: set[tuple[str, str]],
    resampling: dict[str, Any],
    load_dataset: Any,
    out: list[tuple[str, str, list[dict[str, Any]]]],
) -> None:
    for entry in suite.datasets:
        wanted = [c for c in comparisons(entry.spec) if (entry.name, c) not in skip]
        if not wanted:
            continue
        try:
            # the dataset as the jobs load it: the same features (the resampling's column set aside)
            ds = load_dataset(entry.spec, suite.base_dir, resampling=resampling)
            started = time.perf_counter()
            for comparison, result, where in check_dataset(ds, resampling, suite.seed, options):
                if comparison not in wanted:
                    continue
                rows = result_rows(entry.name, comparison, result, where)
                rows[-1]["seconds"] = time.perf_counter() - started
                out.append((entry.name, comparison, rows))
        except Exception as exc:
            # A dataset the checks cannot handle is recorded (like a failed job: not retried on
            # resume while the settings stay the same), never a crash of the run.
            message = f"{type(exc).__name__}: {exc}"
            done = {c for d, c, _ in out if d == entry.name}
            out.extend((entry.name, c, error_rows(entry.name, c, message)) for c in wanted if c not in done)


# ------------------------------------------------------------------------------------------
# files for `mlbench check TRAIN NEW`


def load_sample(path: str | Path) -> tuple[str, Any, np.ndarray | None]:
    """Read one side of ``mlbench check``: a table (CSV, TSV, Parquet), an image folder or an ``.npz``.

    Returns
    -------
    kind, data, labels
        ``("table", DataFrame, None)`` or ``("image", array (n, C, H, W), class labels or None)``.

    Raises
    ------
    DriftInputError
        The file is missing, empty or unreadable (the message says which and why).
    """
    path = Path(path)
    if not path.exists():
        raise DriftInputError(f"{path}: no such file or folder; check the path")
    if path.is_dir():
        from mlbench.datasets.images import load_image_folder

        ds = load_image_folder(path.name, {"image_folder": str(path)}, ".")
        labels = np.asarray(ds.classes, dtype=object)[ds.y] if ds.classes is not None else None
        return "image", ds.X, labels
    suffix = path.suffix.lower()
    if suffix == ".npz":
        X, y = _read_npz(path)
        if X.ndim == 3:
            X = X[:, None]
        return "image", X, y
    if path.stat().st_size == 0:
        raise DriftInputError(f"{path}: the file is empty; give a table with a header row and data rows")
    try:
        if suffix in (".parquet", ".pq"):
            df = pd.read_parquet(path)
        else:
            df = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
    except pd.errors.EmptyDataError:
        raise DriftInputError(
            f"{path}: the file is empty; give a table with a header row and data rows"
        ) from None
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise DriftInputError(
            f"{path}: cannot read it as a table ({exc}); give a CSV, TSV or Parquet file"
        ) from None
    if len(df) == 0:
        raise DriftInputError(f"{path}: the table has a header but no rows; give at least one data row")
    return "table", df, None


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """``X`` (and ``y`` when present) of an ``.npz``, read as data only.

    ``allow_pickle=False``: an array of Python objects is refused, never unpickled (unpickling
    runs code the file chose).
    """
    import zipfile

    name = "X"
    try:
        with np.load(path, allow_pickle=False) as npz:
            if "X" not in npz.files:
                raise DriftInputError(
                    f"{path}: no array named X; save images as np.savez(path, X=..., y=...)"
                )
            X = npz["X"]
            name = "y"
            y = npz["y"] if "y" in npz.files else None
    except DriftInputError:
        raise
    except ValueError as exc:
        if "allow_pickle" not in str(exc):
            raise DriftInputError(
                f"{path}: cannot read array {name} ({exc}); save it again with np.savez"
            ) from None
        raise DriftInputError(
            f"{path}: array {name} holds Python objects (dtype object), which mlbench does not load (that "
            "would unpickle code); save numbers, e.g. np.savez(path, X=X.astype('float32'), y=y.astype(str))"
        ) from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DriftInputError(
            f"{path}: cannot read it as an .npz archive ({exc}); save it with np.savez(path, X=..., y=...)"
        ) from None
    problem = pixel_problem(X)
    if problem:
        raise DriftInputError(f"{path}: the images in array X {problem}")
    return X, y


def _clean(value: Any) -> Any:
    """JSON-safe copy: NaN and infinities become None."""
    from mlbench.values import jsonable

    return jsonable(value)
