"""Per-family preprocessing: impute, one-hot encode categoricals, scale where the model needs it.

The last step of the one table pipeline (:mod:`mlbench.datasets.cleaning`): it takes the
feature kinds the pipeline decided (dates already numbers, ID-like columns already dropped), and
the pipeline's data note says what it does here (:func:`mlbench.datasets.cleaning.model_steps`),
with the same constants.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def make_preprocessor(feature_kinds: Mapping[str, str], scale: bool) -> Any:
    """Build the ColumnTransformer mlbench puts in front of every tabular model.

    Numeric columns: median imputation (inf was turned into NaN at load time), then
    ``StandardScaler`` when ``scale``. Categorical columns: missing values become the category
    ``"__missing__"`` (:data:`~mlbench.datasets.cleaning.MISSING_LEVEL`), then one-hot
    encoding; categories unseen in training are ignored and rare ones grouped (at most
    :data:`~mlbench.datasets.cleaning.MAX_ONE_HOT` columns per feature) so ID-like leftovers
    cannot blow up the width.

    Parameters
    ----------
    feature_kinds : mapping of str to str
        Column name -> "numeric" or "categorical".
    scale : bool
        Standardise numeric columns (KNN, linear models, MLPs).

    Returns
    -------
    sklearn.pipeline.Pipeline or sklearn.compose.ColumnTransformer
        A plain imputer(+scaler) pipeline when every column is numeric (it then also accepts
        arrays), else a ColumnTransformer selecting columns by name.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from mlbench.datasets.cleaning import MAX_ONE_HOT, MISSING_LEVEL

    numeric = [c for c, k in feature_kinds.items() if k == "numeric"]
    categorical = [c for c, k in feature_kinds.items() if k == "categorical"]
    steps: list[Any] = [SimpleImputer(strategy="median")]
    if scale:
        steps.append(StandardScaler())
    if not categorical:
        # All numeric (images, most benchmarks): a plain pipeline on arrays, without the
        # ColumnTransformer's per-call DataFrame bookkeeping.
        return make_pipeline(*steps)
    transformers = []
    if numeric:
        transformers.append(("num", make_pipeline(*steps), numeric))
    if categorical:
        transformers.append(
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value=MISSING_LEVEL),
                    OneHotEncoder(
                        handle_unknown="infrequent_if_exist", max_categories=MAX_ONE_HOT, sparse_output=False
                    ),
                ),
                categorical,
            )
        )
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)
