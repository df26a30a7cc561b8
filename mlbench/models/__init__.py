"""Model registry: ``MODELS.get(name)`` returns a :class:`ModelInfo`.

Importing this package registers the built-in families without importing their libraries.
"""

from mlbench.models import (  # noqa: F401  (registration side effects)
    catboost_model,
    deep_models,
    lightgbm_model,
    sklearn_models,
    xgboost_model,
)
from mlbench.models.base import MODELS, Bounds, ModelInfo, Remedy, register_model

__all__ = ["MODELS", "Bounds", "ModelInfo", "Remedy", "register_model"]
