"""Where a problem sits in the YAML document, and how it is said in one line.

Every message of a suite error reads ``FILE:LINE:COL: path: what, and the fix``. The location
comes from the nodes ``yaml.compose`` builds (:class:`Locator`); :class:`Problems` collects the
messages of one file, sorted by position, and raises them together as one
:class:`~mlbench.errors.ConfigError`.
"""

from __future__ import annotations

from typing import Any

import yaml

from mlbench.errors import ConfigError, did_you_mean


class Locator:
    """Map a path into the YAML document (keys and list indices) to ``(line, col)``, 1-based."""

    def __init__(self, root: yaml.Node | None) -> None:
        self.root = root

    def __call__(self, path: tuple[Any, ...], key: bool = False) -> tuple[int, int]:
        """Position of ``path`` (of its key when ``key``), or of the deepest part of it that exists.

        Parameters
        ----------
        path : tuple
            Mapping keys and list indices from the document root, e.g. ``("models", 0, "knn")``.
        key : bool
            Point at the last key itself rather than at its value (for unknown-key messages).

        Returns
        -------
        tuple of int
            ``(line, col)``, 1-based; ``(1, 1)`` for an empty document.
        """
        node = self.root
        if node is None:
            return (1, 1)
        mark = node.start_mark
        for i, part in enumerate(path):
            last = i == len(path) - 1
            if isinstance(node, yaml.MappingNode):
                found = None
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                        found = (k, v)
                        break
                if found is None:
                    continue  # pydantic adds labels (union branches) that are not in the document
                node = found[1]
                mark = found[0].start_mark if (last and key) else found[1].start_mark
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if 0 <= part < len(node.value):
                    node = node.value[part]
                    mark = node.start_mark
            # scalars: stay at the last mark found
        return (mark.line + 1, mark.column + 1)


def dotted(path: tuple[Any, ...]) -> str:
    """The path as users read it: ``models[0].knn``, or ``(top level)`` for the empty path."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


class Problems:
    """The problems found in one suite file, each kept with its position.

    Parameters
    ----------
    filename : str
        The file name messages start with.
    locate : Locator
        Finds the position of a path in the document.
    """

    def __init__(self, filename: str, locate: Locator) -> None:
        self.filename = filename
        self.locate = locate
        self.items: list[tuple[int, int, str]] = []

    def add(self, path: tuple[Any, ...], message: str, key: bool = False) -> None:
        """Record ``message`` about the value (or, with ``key``, the key) at ``path``."""
        line, col = self.locate(path, key=key)
        self.add_at(line, col, dotted(path), message)

    def add_at(self, line: int, col: int, where: str, message: str) -> None:
        """Record ``message`` at a known position; ``where`` names the place (a path or ``(YAML)``)."""
        self.items.append((line, col, f"{self.filename}:{line}:{col}: {where}: {message}"))

    def raise_if_any(self) -> None:
        """Raise one :class:`~mlbench.errors.ConfigError` with every message, sorted by position."""
        if self.items:
            self.items.sort(key=lambda t: (t[0], t[1]))
            raise ConfigError([one_line(m) for _, _, m in self.items])


# everything str.splitlines() breaks on: a key or value holding one must not split a message,
# since the CLI prints one problem per line
_LINE_BREAKS = {c: c.encode("unicode_escape").decode() for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"}


def one_line(message: str) -> str:
    """``message`` with every line break escaped (``\\n``), so it prints as one line."""
    return message.translate(str.maketrans(_LINE_BREAKS))


def pydantic_message(err: dict[str, Any], model_fields: dict[str, list[str]]) -> tuple[tuple, str, bool]:
    """Turn one pydantic error into ``(path, message, points_at_key)`` for :meth:`Problems.add`.

    Parameters
    ----------
    err : dict
        One item of ``ValidationError.errors()``.
    model_fields : dict
        Section (dotted, ``""`` for the top level) -> its valid keys, for unknown-key hints.
    """
    loc = tuple(err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        parent = ".".join(str(p) for p in loc[:-1])
        valid = model_fields.get(parent, [])
        hint = did_you_mean(str(loc[-1]), valid)
        return loc, f"unknown key {loc[-1]!r}.{hint} Valid keys here: {', '.join(valid)}", True
    if kind == "missing":
        return loc[:-1], f"required key {loc[-1]!r} is missing; add it", False
    got = err.get("input")
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    text = repr(got) if not isinstance(got, dict | list) else type(got).__name__
    if len(text) > 60:
        text = text[:57] + "..."
    return loc, f"{msg} (got {text}); fix the value", False


def bad_scalar_location(root: yaml.Node | None) -> tuple[int, int]:
    """Location of the first scalar PyYAML's safe constructor fails on, else (1, 1)."""
    constructor = yaml.constructor.SafeConstructor()
    stack, seen = [root], set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            try:
                constructor.construct_object(node)
            except Exception:
                return (node.start_mark.line + 1, node.start_mark.column + 1)
        elif isinstance(node, yaml.MappingNode):
            stack.extend(x for pair in reversed(node.value) for x in reversed(pair))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(reversed(node.value))
    return (1, 1)
