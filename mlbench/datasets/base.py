"""The :class:`Dataset` record every loader returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # pandas/numpy are imported lazily: `mlbench validate` must start fast
    import numpy as np
    import pandas as pd

TaskType = Literal["classification", "regression"]


@dataclass
class Dataset:
    """One loaded dataset.

    Attributes
    ----------
    name : str
        Display name (the suite's ``name:`` or derived from the source).
    X : pandas.DataFrame or numpy.ndarray
        Tabular data as a DataFrame (numeric columns as float, categorical columns as object/str,
        missing values as NaN/None); image data as a float32 array of shape (n, C, H, W) in [0, 1].
    y : numpy.ndarray
        Classification: int64 codes 0..k-1 (the original labels are in ``classes``).
        Regression: float64.
    task_type : {"classification", "regression"}
    feature_kinds : dict of str to str
        Tabular only: column name -> "numeric" or "categorical". Empty for images.
    image_shape : tuple of int or None
        (C, H, W) for image datasets, None for tabular ones.
    classes : numpy.ndarray or None
        Original class labels (index = code), None for regression.
    provenance : str
        Where the data came from and what was done to it (dropped columns, ...), for the report.
    test_X, test_y : optional
        A user-supplied test set (same layout as X and y). When present, resampling uses it as
        the one test split instead of cross-validation folds.
    folds : list of (numpy.ndarray, numpy.ndarray) or None
        Official (train, test) row indices per fold (an OpenML task's splits); when present the
        jobs use them instead of the suite's resampling.
    split_by : (str, str) or None
        ``("group", column)`` or ``("time", column)`` when loaded for a ``group_kfold`` or
        ``time_series`` resampling: that column was set aside (it is not in ``X``).
    split_values : numpy.ndarray or None
        That column's values, one per row of ``X``: group labels (text), or times as float64
        (seconds since 1970-01-01 for dates). See :func:`mlbench.datasets.cleaning.split_values`.
    table_plan : TablePlan or None
        Tables only: the table pipeline's column decisions
        (:class:`mlbench.datasets.cleaning.TablePlan`), to apply them to another table.
    """

    name: str
    X: pd.DataFrame | np.ndarray
    y: np.ndarray
    task_type: TaskType
    feature_kinds: dict[str, str] = field(default_factory=dict)
    image_shape: tuple[int, int, int] | None = None
    classes: np.ndarray | None = None
    provenance: str = ""
    test_X: pd.DataFrame | np.ndarray | None = None
    test_y: np.ndarray | None = None
    folds: list[tuple[np.ndarray, np.ndarray]] | None = None
    split_by: tuple[str, str] | None = None
    split_values: np.ndarray | None = None
    table_plan: Any = None

    @property
    def is_image(self) -> bool:
        """True when X holds images of shape (n, C, H, W)."""
        return self.image_shape is not None

    @property
    def n_classes(self) -> int:
        """Number of classes (0 for regression)."""
        return 0 if self.classes is None else len(self.classes)

    def tabular(self, X: pd.DataFrame | np.ndarray | None = None) -> pd.DataFrame:
        """Return X as a DataFrame; images are flattened to columns ``px0 .. px{C*H*W-1}``.

        Parameters
        ----------
        X : optional
            Rows to convert (defaults to ``self.X``).
        """
        import numpy as np
        import pandas as pd

        X = self.X if X is None else X
        if isinstance(X, pd.DataFrame):
            return X
        flat = np.asarray(X).reshape(len(X), -1)
        return pd.DataFrame(flat, columns=[f"px{i}" for i in range(flat.shape[1])])

    def tabular_feature_kinds(self) -> dict[str, str]:
        """Feature kinds of :meth:`tabular` (all numeric for images)."""
        if self.feature_kinds:
            return self.feature_kinds
        return dict.fromkeys(self.tabular(self.X[:1]).columns, "numeric")
