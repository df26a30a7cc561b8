"""The one error family of mlbench.

Every message says what is wrong and how to fix it. The CLI maps :class:`ConfigError` and
:class:`DatasetError` to exit code 2 and prints the message without a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class MlbenchError(Exception):
    """Base class of every error mlbench raises on purpose."""


class ConfigError(MlbenchError):
    """A suite file (or a CLI option) is invalid.

    Parameters
    ----------
    messages : list of str
        One line per problem, each ``FILE:LINE:COL: path: what, and the fix``.
    """

    def __init__(self, messages: list[str] | str) -> None:
        self.messages = [messages] if isinstance(messages, str) else list(messages)
        super().__init__("\n".join(self.messages))


class DatasetError(MlbenchError, ValueError):
    """A dataset cannot be loaded or is unusable; the message names the dataset and the fix.

    Also a ValueError, as scikit-learn code expects for bad data."""


class ModelError(MlbenchError, ValueError):
    """A model name or its parameters are invalid.

    Also a ValueError, as scikit-learn's conventions expect for invalid estimator parameters."""


def plain(value: object) -> object:
    """A numpy scalar as the plain Python value, for messages: ``1``, not ``np.int64(1)``.

    numpy 2 writes the type into a scalar's repr; a message quoting data with ``!r`` would show it.
    """
    item = getattr(value, "item", None)
    if callable(item) and type(value).__module__ == "numpy":
        try:
            return item()
        except (TypeError, ValueError):  # a numpy array of many values stays as it is
            return value
    return value


def did_you_mean(name: str, choices: Iterable[str], n: int = 3) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest choices, or an empty string.

    Parameters
    ----------
    name : str
        What the user wrote.
    choices : iterable of str
        The valid names.
    n : int
        How many suggestions at most.
    """
    close = difflib.get_close_matches(str(name), list(choices), n=n, cutoff=0.5)
    if not close:
        return ""
    return " Did you mean " + " or ".join(repr(c) for c in close) + "?"
