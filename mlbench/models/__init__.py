"""Model registry: ``MODELS.get(name)`` returns a :class:`ModelInfo`.

Importing this package registers the built-in families without importing their libraries.
"""

from mlbench.models import deep_models, sklearn_models, xgboost_model  # noqa: F401  (registration side effects)
from mlbench.models.base import MODELS, Bounds, ModelInfo, Remedy, register_model

__all__ = ["MODELS", "Bounds", "ModelInfo", "Remedy", "register_model"]
