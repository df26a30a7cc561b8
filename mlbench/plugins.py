"""Load user plugins: Python files or modules that register models (or metrics) on import.

A suite lists them under ``plugins:``; every worker imports them before its first job, so a
model registered in a plugin runs like a built-in one, in local and Dask workers alike.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path

from mlbench.errors import ConfigError


def load_plugin(ref: str, base_dir: str | Path = ".") -> None:
    """Import one plugin, once per process.

    Parameters
    ----------
    ref : str
        A path to a ``.py`` file (relative to ``base_dir``) or an importable module name.
    base_dir : str or Path
        The suite file's folder.

    Raises
    ------
    ConfigError
        When the file does not exist or importing it fails.
    """
    if ref.endswith(".py") or "/" in ref:
        path = Path(ref)
        if not path.is_absolute():
            path = Path(base_dir) / path
        path = path.resolve()
        name = "mlbench_plugin_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
        if name in sys.modules:
            return
        if not path.is_file():
            raise ConfigError(f"plugin file {path} does not exist; fix the path under `plugins:`")
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[name]
            raise ConfigError(f"plugin {path} failed to import: {type(exc).__name__}: {exc}") from None
        return
    try:
        importlib.import_module(ref)
    except Exception as exc:
        raise ConfigError(f"plugin module {ref!r} failed to import: {type(exc).__name__}: {exc}") from None


def load_plugins(refs: list[str] | tuple[str, ...], base_dir: str | Path = ".") -> None:
    """Import every plugin in ``refs`` (see :func:`load_plugin`)."""
    for ref in refs:
        load_plugin(ref, base_dir)
