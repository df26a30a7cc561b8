"""Deep learning internals: the shared trainer and timm model construction (torch imported lazily)."""
