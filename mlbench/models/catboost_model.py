"""CatBoost (its scikit-learn API) for classification and regression; the ``mlbench[boosters]`` extra.

Categorical columns of the table pipeline reach CatBoost as text and are named in its
``cat_features`` (native categoricals: ordered target statistics instead of mlbench's one-hot
encoding); numeric columns get mlbench's median imputation as for every family. The library is
imported inside the factory and the hooks only.

``device`` is mlbench's: ``cpu``, ``cuda`` (``task_type="GPU"``, which the PyPI wheels support),
``auto`` (the default: ``cuda`` when the process sees a CUDA card CatBoost can use, else ``cpu``).
CatBoost's GPU mode has no ``colsample_bylevel`` (``rsm``) outside pairwise losses: on the GPU it
is dropped with a warning (stored with the job's row). ``early_stopping_rounds`` is CatBoost's
own; with it the job holds stopping rows out of its training rows and hands them to ``fit`` as
``eval_set``, and CatBoost keeps the best iteration's trees (``use_best_model``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from mlbench.models.base import ModelInfo, Remedy, register_model

_COMMON = frozenset(
    """
    allow_const_label approx_on_full_history bagging_temperature best_model_min_trees
    boost_from_average boosting_type bootstrap_type border_count colsample_bylevel combinations_ctr
    counter_calc_method ctr_description ctr_history_unit ctr_leaf_count_limit ctr_target_border_count
    custom_metric data_partition depth dev_efb_max_buckets dev_score_calc_obj_block_size device_config
    dictionaries diffusion_temperature early_stopping_rounds eta eval_fraction eval_metric
    feature_border_type feature_calcers feature_weights final_ctr_computation_mode
    first_feature_use_penalties fixed_binary_splits fold_len_multiplier fold_permutation_block
    gpu_cat_features_storage gpu_ram_part grow_policy has_time ignored_features input_borders iterations
    l2_leaf_reg langevin leaf_estimation_backtracking leaf_estimation_iterations leaf_estimation_method
    learning_rate loss_function max_bin max_ctr_complexity max_depth max_leaves metadata
    min_child_samples min_data_in_leaf model_shrink_mode model_shrink_rate model_size_reg
    monotone_constraints mvs_reg n_estimators nan_mode num_boost_round num_leaves num_trees objective
    od_pval od_type od_wait one_hot_max_size output_borders penalties_coefficient per_feature_ctr
    per_float_feature_quantization per_object_feature_penalties pinned_memory_size posterior_sampling
    random_score_type random_strength reg_lambda rsm sampling_frequency sampling_unit score_function
    simple_ctr sparse_features_conflict_fraction store_all_simple_ctr subsample target_border
    text_processing tokenizers use_best_model used_ram_limit
    device
    """.split()
)
_CLASSIFIER_ONLY = frozenset(
    {"auto_class_weights", "class_names", "class_weights", "classes_count", "custom_loss", "scale_pos_weight"}
)

#: Constructor arguments mlbench sets itself (seed, threads, quiet, no files, the GPU, the
#: categorical columns): not user parameters. ``tests/test_models.py`` checks the lists above
#: plus these against CatBoost's constructors.
HARNESS_PARAMS = frozenset(
    {
        "random_seed",
        "random_state",
        "thread_count",
        "verbose",
        "silent",
        "logging_level",
        "allow_writing_files",
        "train_dir",
        "cat_features",
        "text_features",
        "embedding_features",
        "task_type",
        "devices",
        "callback",
        "metric_period",
        "save_snapshot",
        "snapshot_file",
        "snapshot_interval",
        "name",
    }
)

_LOG = {"log": True}
#: TabArena's CatBoost space (``tabarena/models/catboost``: random search, 200 configs), with the
#: number of iterations added because mlbench does not early-stop by default. TabArena also fixes
#: ``bootstrap_type: Bernoulli``, ``boosting_type: Plain`` and ``max_bin: 254``; a space lists
#: only what varies, so set those as the model's parameters to match it.
SPACE: dict[str, Any] = {
    "learning_rate": {"float": [5.0e-3, 0.1], **_LOG},
    "subsample": {"float": [0.7, 1.0]},
    "grow_policy": ["SymmetricTree", "Depthwise"],
    "depth": {"int": [4, 8]},
    "colsample_bylevel": {"float": [0.85, 1.0]},
    "l2_leaf_reg": {"float": [1.0e-4, 5.0], **_LOG},
    "leaf_estimation_iterations": {"int": [1, 20], **_LOG},
    "one_hot_max_size": {"int": [8, 100], **_LOG},
    "model_size_reg": {"float": [0.1, 1.5], **_LOG},
    "max_ctr_complexity": {"int": [2, 5]},
    "iterations": {"int": [100, 1000], **_LOG},
}
_EARLY_STOPPING = Remedy("early stopping", "catboost: {early_stopping_rounds: 20}")
_GPU_UNSUPPORTED = ("colsample_bylevel", "rsm")


@functools.lru_cache(maxsize=1)
def gpu_works() -> bool:
    """Whether CatBoost sees a CUDA card here (cached per process; never probed without one)."""
    from mlbench.hardware import cuda_present

    if not cuda_present():
        return False  # get_gpu_device_count prints a CUDA error on a machine without a driver
    try:
        from catboost.utils import get_gpu_device_count

        return int(get_gpu_device_count()) > 0
    except Exception:
        return False


def _device(params: Mapping[str, Any]) -> str:
    device = str(params.get("device", "auto")).lower()
    if device == "auto":
        return "cuda" if gpu_works() else "cpu"
    return device


def _check(params: Mapping[str, Any]) -> list[str]:
    device = params.get("device", "auto")
    if str(device).lower() not in ("auto", "cpu", "cuda"):
        return [f"catboost device must be auto, cpu or cuda, got {device!r}"]
    return []


def _catboost(params: dict[str, Any], task_type: str, seed: int, n_jobs: int) -> Any:
    from catboost import CatBoostClassifier, CatBoostRegressor

    params = dict(params)
    device = _device(params)
    params.pop("device", None)
    if device == "cuda":
        import warnings

        dropped = [k for k in _GPU_UNSUPPORTED if k in params]
        for key in dropped:
            params.pop(key)
        if dropped:
            warnings.warn(
                f"catboost on the GPU has no {', '.join(dropped)} (pairwise losses only); dropped. "
                "Set `device: cpu` to keep it",
                UserWarning,
                stacklevel=2,
            )
        params.update(task_type="GPU")
    cls = CatBoostClassifier if task_type == "classification" else CatBoostRegressor
    # allow_writing_files=False: otherwise every fit writes catboost_info/ into the working folder
    return cls(random_seed=seed, thread_count=n_jobs, verbose=False, allow_writing_files=False, **params)


def _as_text(X: Any) -> Any:
    """Categorical columns as text: CatBoost takes str or int categories, not floats or None."""
    return X.astype(str)


def native_preprocessor(model: Any, feature_kinds: Mapping[str, str], scale: bool) -> Any:
    """Median-imputed numeric columns and categorical columns kept as text, named in ``cat_features``.

    Parameters
    ----------
    model : CatBoostClassifier or CatBoostRegressor
        Unfitted; its ``cat_features`` are set to the categorical column names.
    feature_kinds : mapping of str to str
        Column name -> "numeric" or "categorical".
    scale : bool
        Ignored (trees need no scaling); the hook's signature.

    Returns
    -------
    transformer
        mlbench's imputer pipeline when every column is numeric; else a ColumnTransformer with
        pandas output (numeric columns first, then the categorical ones, by name).
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from mlbench.models.preprocessing import make_preprocessor

    categorical = [c for c, k in feature_kinds.items() if k == "categorical"]
    if not categorical:
        return make_preprocessor(feature_kinds, scale=False)
    numeric = [c for c, k in feature_kinds.items() if k == "numeric"]
    model.set_params(cat_features=categorical)
    transformers: list[Any] = []
    if numeric:
        transformers.append(("num", SimpleImputer(strategy="median"), numeric))
    text = FunctionTransformer(_as_text, feature_names_out="one-to-one")
    fill = SimpleImputer(strategy="constant", fill_value="__missing__")
    transformers.append(("cat", make_pipeline(fill, text), categorical))
    pre = ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)
    return pre.set_output(transform="pandas")


def _validation_fit(params: Mapping[str, Any], X_val: Any, y_val: Any) -> dict[str, Any] | None:
    if params.get("early_stopping_rounds") is None:
        return None
    return {"eval_set": (X_val, y_val)}


def _describe(model: Any) -> dict[str, Any]:
    return {"device": "cuda" if model.get_params().get("task_type") == "GPU" else "cpu"}


def _kept_rounds(model: Any) -> tuple[int, int]:
    """(trees the fitted model predicts with, trees trained): with ``use_best_model`` CatBoost
    shrinks the model to its best iteration; the validation curve still has every round trained."""
    kept = int(model.tree_count_)
    trained = kept
    for curve in (model.get_evals_result() or {}).get("validation", {}).values():
        trained = max(trained, len(curve))
    return kept, trained


def _staged(model: Any, X: Any) -> tuple[list[int], list[Any], dict[str, int]]:
    """Predictions of the first ``k`` trees (``staged_predict_proba`` / ``staged_predict``), no refit.

    CatBoost's staged prediction adds one tree at a time to the previous sum, so walking every
    size and keeping the 20 wanted ones costs about one full prediction.
    """
    import numpy as np

    from mlbench.models.base import staged_sizes

    kept, trained = _kept_rounds(model)
    sizes = staged_sizes(kept)
    wanted = set(sizes)
    classify = hasattr(model, "predict_proba")
    stages = (
        model.staged_predict_proba(X, ntree_end=kept, eval_period=1)
        if classify
        else model.staged_predict(X, ntree_end=kept, eval_period=1)
    )
    outputs = [np.asarray(out) for k, out in enumerate(stages, start=1) if k in wanted]
    return sizes, outputs, {"trained": trained, "kept": kept}


def _uses_gpu(params: Mapping[str, Any]) -> bool:
    return str(params.get("device", "auto")).lower() != "cpu"


register_model(
    ModelInfo(
        name="catboost",
        factory=_catboost,
        task_types=("classification", "regression"),
        param_names={"classification": _COMMON | _CLASSIFIER_ONLY, "regression": _COMMON},
        validation_fit=_validation_fit,
        description="CatBoost gradient-boosted trees, native categoricals (scikit-learn API) [boosters]",
        check=_check,
        describe=_describe,
        staged=_staged,
        uses_gpu=_uses_gpu,
        tuning_space={"classification": SPACE, "regression": SPACE},
        capacity_params=("depth", "iterations"),
        remedies={"degradation": _EARLY_STOPPING, "boosting": _EARLY_STOPPING},
        preprocessing=native_preprocessor,
        modules=("catboost",),
        extra="boosters",
    )
)
