"""Prediction files: how a job's arrays are laid out on disk (written by the writer, read by the read API).

A run folder's ``predictions/`` holds (format 2)::

    <job_id>.npz        the job's arrays, encoded, plus ``mlbench/format``: a JSON manifest
    truth/<key>.npz     the rows of a job's splits and their true labels (see :func:`truth_parts`),
                        written once and shared by every job with the same rows (each model of a
                        fold); ``<key>`` is a hash of the content

Each array the job handed to :meth:`~mlbench.store.writer.Store.record` is listed in the manifest
with its dtype and shape and one way to rebuild it exactly (same values, same dtype):

``plain``
    the member of that name holds it as it was;
``narrow``
    the member holds its integers in the narrowest type that keeps every value (class codes of an
    int64 array in one byte, row numbers in four);
``truth``
    part ``<split>/index`` or ``<split>/true`` of a truth file: ``<split>_index``, ``<split>_true``;
``argmax``
    the first largest column of each row of the decoded ``of`` (a ``<split>_proba``): a
    classifier's labels are the argmax of its probabilities (:func:`mlbench.execution.job._predict`);
``gather``
    rows of the decoded ``of`` (``train_<name>``) at the rows this split shares with it: with
    ``fit_on_val`` (the default) the validation rows are training rows of the same fitted model,
    which predicts them once.

``argmax`` and ``gather`` keep the rows where the rule does not give the stored value (a tie that
float32 rounding created, a model whose ``predict`` is not its probabilities' argmax) as
``mlbench/<key>.at`` (positions) and ``mlbench/<key>.values``, so reads are exact; when more than a
quarter (argmax) or half (gather) of the rows would need that, the array is stored instead.
A member of a job's file is deflated when that at least halves it (tree and neighbour
probabilities, class codes); smooth probabilities stay raw: deflate saves them under 10% and
costs reads several times the time. Truth files are never deflated: every reader loads them, and
at one or two bytes a row they are small anyway. Files written before format 2 have no manifest: each array is the member of its name.

Everything is read with ``allow_pickle=False``; object arrays are refused when writing. Keys cannot
contain ``/``, so the ``mlbench/`` members never collide with a job's own arrays.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlbench.errors import MlbenchError

__all__ = [
    "FORMAT",
    "MANIFEST",
    "STORED_PROBA_SUM_TOLERANCE",
    "TRUTH_DIR",
    "Encoded",
    "argmax_rows",
    "array_problems",
    "decode",
    "encode",
    "read_manifest",
    "row_positions",
    "truth_arrays",
    "truth_key",
    "truth_parts",
    "write_npz",
    "write_npz_atomic",
]

#: Version of the layout above; a file with a larger one was written by a newer mlbench.
FORMAT = 2
#: Member holding the manifest (JSON text as uint8).
MANIFEST = "mlbench/format"
#: Folder of the truth files, inside ``predictions/``.
TRUTH_DIR = "truth"

_HOWS = frozenset({"plain", "narrow", "truth", "argmax", "gather"})
_TRUTH_KEY_RE = re.compile(r"^[0-9a-f]{32}$")
# splits whose rows may be rows of another split of the same job, predicted by the same model
_SHARED_ROWS = {"val": "train"}
# members at least this large are tried with deflate; a sample this large decides
_DEFLATE_MIN_BYTES = 4096
_DEFLATE_SAMPLE_BYTES = 1 << 16
_NARROW_TYPES = tuple(np.dtype(t) for t in ("u1", "i1", "u2", "i2", "u4", "i4"))


@dataclass
class Encoded:
    """A job's arrays as stored: the members of its file and the truth files they refer to."""

    #: member name -> stored array (the manifest included)
    members: dict[str, np.ndarray] = field(default_factory=dict)
    #: truth key -> the truth file's members (see :func:`truth_parts`)
    truths: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)


# -- encoding -----------------------------------------------------------------------------------


def encode(arrays: Mapping[str, Any]) -> Encoded:
    """Encode a job's prediction arrays (see the module docstring); :func:`decode` inverts it exactly.

    Raises
    ------
    ValueError
        An array holds Python objects (they would need pickle to load).
    """
    arrays = {key: np.asanyarray(value) for key, value in arrays.items()}
    for key, value in arrays.items():
        if value.dtype.hasobject:
            raise ValueError(
                f"predictions array {key!r} holds Python objects ({value.dtype}); store numbers, "
                "booleans or strings (object arrays would need pickle to load)"
            )
    out = Encoded()
    specs: dict[str, dict[str, Any]] = {}
    splits = [key[: -len("_index")] for key in arrays if key.endswith("_index")]

    rows = {}
    for split in splits:
        index, true = arrays[f"{split}_index"], arrays.get(f"{split}_true")
        if true is not None and _is_rows(index) and true.ndim == 1 and 0 < len(true) == len(index):
            rows[split] = (index, true)
    if rows:
        parts = truth_parts(rows)
        key = truth_key(parts)
        out.truths[key] = parts
        for split in rows:
            for part in ("index", "true"):
                specs[f"{split}_{part}"] = {"how": "truth", "truth": key, "part": f"{split}/{part}"}

    for split, source in _SHARED_ROWS.items():
        for name in ("proba", "pred"):  # shared rows cost one lookup, cheaper than an argmax
            _plan_gather(arrays, specs, out, split, source, name)
    for key, pred in arrays.items():
        if key.endswith("_pred") and key not in specs:
            _plan_argmax(arrays, specs, out, key, pred)

    for key, value in arrays.items():
        if key not in specs:
            stored = _narrow(value)
            specs[key] = {"how": "narrow" if stored.dtype != value.dtype else "plain"}
            out.members[key] = stored
    manifest = {
        "format": FORMAT,
        "arrays": {
            key: {
                # numpy's own description of the dtype (the .npy header's): exact for every dtype,
                # record dtypes with their field names included
                "dtype": np.lib.format.dtype_to_descr(arrays[key].dtype),
                "shape": list(arrays[key].shape),
                **specs[key],
            }
            for key in arrays
        },
    }
    out.members[MANIFEST] = np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8)
    return out


def _is_rows(index: np.ndarray) -> bool:
    return index.ndim == 1 and index.dtype.kind in "iu"


def _plan_gather(
    arrays: dict[str, np.ndarray], specs: dict[str, Any], out: Encoded, split: str, source: str, name: str
) -> None:
    """Store ``<split>_<name>`` as the rows of ``<source>_<name>`` it shares, when most rows are shared."""
    key, of = f"{split}_{name}", f"{source}_{name}"
    index, source_index = arrays.get(f"{split}_index"), arrays.get(f"{source}_index")
    values, source_values = arrays.get(key), arrays.get(of)
    if key in specs or values is None or source_values is None or index is None or source_index is None:
        return
    if not (_is_rows(index) and _is_rows(source_index) and len(index) > 0 and values.ndim >= 1):
        return
    if not (_fits_int64(index) and _fits_int64(source_index)):
        return
    if (
        values.dtype != source_values.dtype
        or values.shape[1:] != source_values.shape[1:]
        or len(values) != len(index)
        or len(source_values) != len(source_index)
        or values.dtype.itemsize == 0
    ):
        return
    pos, found = row_positions(index, source_index)
    same = found.copy()
    same[found] = _rows_equal(values[found], source_values[pos[found]])
    fixes = np.flatnonzero(~same)
    if len(fixes) > len(index) // 2:
        return
    specs[key] = {"how": "gather", "of": of, "index": f"{split}_index", "of_index": f"{source}_index"}
    _add_fixes(specs[key], out, key, fixes, values[fixes])


def _plan_argmax(
    arrays: dict[str, np.ndarray], specs: dict[str, Any], out: Encoded, key: str, pred: np.ndarray
) -> None:
    """Store ``<split>_pred`` as the argmax of ``<split>_proba`` when it is that for most rows."""
    of = key[: -len("_pred")] + "_proba"
    proba = arrays.get(of)
    if proba is None or proba.ndim != 2 or proba.dtype.kind != "f" or pred.ndim != 1:
        return
    n, k = proba.shape
    if pred.dtype.kind not in "iu" or n == 0 or k == 0 or len(pred) != n:
        return
    derived = argmax_rows(proba).astype(pred.dtype)
    fixes = np.flatnonzero(derived != pred)
    if len(fixes) > n // 4:
        return
    specs[key] = {"how": "argmax", "of": of}
    _add_fixes(specs[key], out, key, fixes, pred[fixes])


def _add_fixes(spec: dict[str, Any], out: Encoded, key: str, at: np.ndarray, values: np.ndarray) -> None:
    spec["fixes"] = len(at)
    if len(at):
        out.members[f"mlbench/{key}.at"] = _narrow(at)
        out.members[f"mlbench/{key}.values"] = _narrow(values)


def _fits_int64(rows: np.ndarray) -> bool:
    return rows.dtype.kind == "i" or rows.size == 0 or int(rows.max()) <= np.iinfo(np.int64).max


def _narrow(value: np.ndarray) -> np.ndarray:
    """Integers in the narrowest type that holds all of them (the array itself when none is narrower)."""
    if value.dtype.kind not in "iu" or value.size == 0:
        return value
    lo, hi = int(value.min()), int(value.max())
    for dtype in _NARROW_TYPES:
        if dtype.itemsize >= value.dtype.itemsize:
            break
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return value.astype(dtype)
    return value


def _rows_equal(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise bitwise equality (NaN equals the same NaN, 0.0 differs from -0.0)."""
    n = len(a)
    if n == 0:
        return np.zeros(0, dtype=bool)
    a_bytes = np.ascontiguousarray(a).view(np.uint8).reshape(n, -1)
    b_bytes = np.ascontiguousarray(b).view(np.uint8).reshape(n, -1)
    return (a_bytes == b_bytes).all(axis=1)


def truth_parts(rows: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, np.ndarray]:
    """The members of a truth file: ``layout`` (JSON, as uint8) and ``data`` (every array's bytes).

    Parameters
    ----------
    rows : mapping
        Split -> (row numbers, true labels).

    Returns
    -------
    dict
        Two members, so a reader opens two arrays instead of two or three per split (each costs
        a header parse). ``layout`` gives, per split, its number of rows and where its arrays lie
        in ``data`` (dtype, byte offset): ``true`` (narrowed labels) and either ``index`` (narrowed
        row numbers) or, for row numbers that never decrease (a fold's rows, sorted),
        ``index_start`` and the ``index_steps`` between them: one byte a row where row numbers
        need four.
    """
    layout: dict[str, dict[str, Any]] = {}
    chunks: list[bytes] = []
    offset = 0

    def place(value: np.ndarray) -> list[Any]:
        nonlocal offset
        data = np.ascontiguousarray(value).tobytes()
        where = [value.dtype.str, offset]
        padded = -len(data) % 8  # every array starts 8-byte aligned
        chunks.append(data + b"\0" * padded)
        offset += len(data) + padded
        return where

    for split, (index, true) in rows.items():
        entry: dict[str, Any] = {"n": len(true), "true": place(_narrow(true))}
        plain = _narrow(index)
        steps = np.diff(index.astype(np.int64, copy=False)) if len(index) > 1 and _fits_int64(index) else None
        if steps is not None and steps.min() >= 0 and _narrow(steps).itemsize < plain.itemsize:
            entry["index_start"] = int(index[0])
            entry["index_steps"] = place(_narrow(steps))
        else:
            entry["index"] = place(plain)
        layout[split] = entry
    return {
        "layout": np.frombuffer(json.dumps(layout).encode(), dtype=np.uint8),
        "data": np.frombuffer(b"".join(chunks), dtype=np.uint8),
    }


def truth_arrays(parts: Mapping[str, np.ndarray]) -> dict[str, np.ndarray] | None:
    """``<split>/index`` and ``<split>/true`` from a truth file's members (None if they do not fit).

    The arrays are new (never views of the members): a caller may hand them out.
    """
    layout, data = parts.get("layout"), parts.get("data")
    if layout is None or data is None or data.dtype != np.uint8 or data.ndim != 1:
        return None
    try:
        splits = json.loads(bytes(layout))
        out = {}
        for split, entry in splits.items():
            n = entry["n"]
            out[f"{split}/true"] = _take(data, entry["true"], n, copy=True)
            if "index" in entry:
                out[f"{split}/index"] = _take(data, entry["index"], n, copy=True)
                continue
            steps = _take(data, entry["index_steps"], n - 1, copy=False)
            if steps.dtype.kind not in "iu":
                return None
            index = np.empty(n, dtype=np.int64)
            index[0] = int(entry["index_start"])
            np.cumsum(steps, dtype=np.int64, out=index[1:])
            index[1:] += index[0]
            out[f"{split}/index"] = index
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
        return None
    return out


def _take(data: np.ndarray, where: Any, n: Any, *, copy: bool) -> np.ndarray:
    """Array ``n`` items long at ``where`` = [dtype, byte offset] in ``data``; ValueError if it is not there."""
    dtype, offset = np.dtype(where[0]), where[1]
    if dtype.hasobject or dtype.itemsize == 0 or not isinstance(offset, int) or not isinstance(n, int):
        raise ValueError("bad layout entry")
    if offset < 0 or n < 0 or offset + n * dtype.itemsize > len(data):
        raise ValueError("layout entry outside the data")
    value = np.frombuffer(data, dtype=dtype, count=n, offset=offset)
    return value.copy() if copy else value


def truth_key(parts: Mapping[str, np.ndarray]) -> str:
    """Content hash naming a truth file: its arrays' names, dtypes, shapes and bytes."""
    digest = hashlib.blake2b(digest_size=16)
    for name in sorted(parts):
        value = np.ascontiguousarray(parts[name])
        digest.update(f"{name}:{value.dtype.str}:{value.shape};".encode())
        digest.update(value.view(np.uint8).reshape(-1) if value.size else b"")
    return digest.hexdigest()


# -- shared by encoding and decoding (both must compute exactly the same) ---------------------


def argmax_rows(proba: np.ndarray) -> np.ndarray:
    """The first largest column of each row (``np.argmax(proba, axis=1)`` for finite values), as intp.

    Column by column for few classes (on a column-major copy, so each pass reads contiguous
    memory): several times faster than ``np.argmax`` over short rows.
    """
    n, k = proba.shape
    if k > 16 or k == 0:
        return np.argmax(proba, axis=1)
    columns = np.ascontiguousarray(proba.T)
    best = columns[0].copy()
    label = np.zeros(n, dtype=np.uint8)
    bigger = np.empty(n, dtype=bool)
    step = np.empty(n, dtype=np.uint8)
    for j in range(1, k):
        column = columns[j]
        np.greater(column, best, out=bigger)
        # label = j where bigger, without a masked store (slow): label += (j - label) * bigger
        np.subtract(j, label, out=step, casting="unsafe")
        step *= bigger
        label += step
        np.maximum(best, column, out=best)
    return label.astype(np.intp)


def row_positions(index: np.ndarray, source_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``index``, its position in ``source_index`` and whether it is there at all.

    A row number that occurs several times in ``source_index`` maps to its first occurrence. Both
    are row numbers that fit int64 (:func:`encode` checks): compared as int64, so the positions
    never depend on numpy's rules for mixing integer types.
    """
    index, source_index = index.astype(np.int64, copy=False), source_index.astype(np.int64, copy=False)
    n = len(source_index)
    if n == 0:
        return np.zeros(len(index), dtype=np.intp), np.zeros(len(index), dtype=bool)
    increasing = n == 1 or bool(np.all(source_index[1:] > source_index[:-1]))
    if increasing and len(index) and 0 <= source_index[0] and source_index[-1] < 4 * n + 1024:
        # dense row numbers, each once (the usual fold): a lookup table beats a binary search
        lookup = np.full(int(source_index[-1]) + 1, -1, dtype=np.int32 if n < 2**31 else np.intp)
        lookup[source_index] = np.arange(n)
        inside = (index >= 0) & (index <= source_index[-1])
        pos = np.where(inside, lookup[np.where(inside, index, 0)], -1)
        found = pos >= 0
        pos[~found] = 0
        return pos, found
    order = None
    ordered = source_index
    if len(source_index) > 1 and not bool(np.all(source_index[1:] >= source_index[:-1])):
        order = np.argsort(source_index, kind="stable")
        ordered = source_index[order]
    pos = np.searchsorted(ordered, index)
    np.minimum(pos, len(ordered) - 1, out=pos)
    found = ordered[pos] == index
    return (pos if order is None else order[pos]), found


# -- decoding -----------------------------------------------------------------------------------


def read_manifest(npz: Any, where: Path | str) -> dict[str, dict[str, Any]] | None:
    """The checked ``arrays`` part of a file's manifest; None for a file written before format 2.

    Raises
    ------
    MlbenchError
        The manifest is malformed or was written by a newer mlbench.
    """
    if MANIFEST not in npz.files:
        return None
    try:
        manifest = json.loads(bytes(npz[MANIFEST]))
    except (ValueError, TypeError) as exc:
        raise _damaged(where, f"its manifest is not JSON ({exc})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("format"), int):
        raise _damaged(where, "its manifest has no format number")
    if manifest["format"] > FORMAT:
        raise MlbenchError(
            f"{where} was written by a newer mlbench (prediction format {manifest['format']}; this "
            f"mlbench reads up to {FORMAT}); upgrade mlbench (`pip install -U mlbench`) to read it"
        )
    specs = manifest.get("arrays")
    if not isinstance(specs, dict):
        raise _damaged(where, "its manifest lists no arrays")
    for key, spec in specs.items():
        problem = _spec_problem(key, spec, specs)
        if problem:
            raise _damaged(where, f"array {key!r}: {problem}")
    return specs


def _spec_problem(key: str, spec: Any, specs: Mapping[str, Any]) -> str | None:
    if not isinstance(spec, dict) or spec.get("how") not in _HOWS:
        return "unknown encoding"
    shape = spec.get("shape")
    if not isinstance(shape, list) or not all(isinstance(s, int) and s >= 0 for s in shape):
        return "bad shape"
    try:
        dtype = _dtype(spec.get("dtype"))
    except (TypeError, ValueError, KeyError, IndexError):
        return "bad dtype"
    if dtype.hasobject:
        return "object dtype"
    how = spec["how"]
    if how == "truth" and not (
        isinstance(spec.get("truth"), str)
        and _TRUTH_KEY_RE.match(spec["truth"])
        and isinstance(spec.get("part"), str)
    ):
        return "bad truth reference"
    refs = {"argmax": ("of",), "gather": ("of", "index", "of_index")}.get(how, ())
    for ref in refs:
        if spec.get(ref) not in specs or spec.get(ref) == key:
            return f"bad reference {ref}={spec.get(ref)!r}"
    if how in ("argmax", "gather") and not (isinstance(spec.get("fixes"), int) and spec["fixes"] >= 0):
        return "bad fixes count"
    return None


def decode(
    npz: Any, where: Path | str, truth: Callable[[str], Mapping[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """A job's arrays as they were recorded, from its opened file (:func:`numpy.load`).

    Parameters
    ----------
    npz : numpy.lib.npyio.NpzFile
        The job's file, opened with ``allow_pickle=False``.
    where : Path or str
        The file, for messages.
    truth : callable
        Truth key -> that truth file's ``<split>/index`` and ``<split>/true`` (:func:`truth_arrays`):
        new arrays, which the result may hold.

    Raises
    ------
    MlbenchError
        The file is damaged (bad manifest, missing member, arrays that do not fit) or newer.
    """
    specs = read_manifest(npz, where)
    if specs is None:
        return {name: npz[name] for name in npz.files}
    done: dict[str, np.ndarray] = {}
    busy: set[str] = set()
    truths: dict[str, Mapping[str, np.ndarray]] = {}  # each truth file asked for once
    positions: dict[tuple[str, str], np.ndarray] = {}  # one lookup per pair of splits

    def get(key: str) -> np.ndarray:
        if key in done:
            return done[key]
        if key in busy:
            raise _damaged(where, f"array {key!r} is defined through itself")
        busy.add(key)
        spec = specs[key]
        dtype, how = _dtype(spec["dtype"]), spec["how"]
        if how == "plain":
            value = npz[key]
        elif how == "narrow":
            value = npz[key].astype(dtype)
        elif how == "truth":
            if spec["truth"] not in truths:
                truths[spec["truth"]] = truth(spec["truth"])
            parts = truths[spec["truth"]]
            if spec["part"] not in parts:
                raise _damaged(where, f"its truth file {spec['truth']} has no {spec['part']!r}")
            value = parts[spec["part"]].astype(dtype, copy=False)  # fresh arrays: see truth
        elif how == "argmax":
            source = get(spec["of"])
            if source.ndim != 2 or source.shape[1] == 0:
                raise _damaged(where, f"array {key!r} is the argmax of {spec['of']!r}, not a matrix")
            value = argmax_rows(source).astype(dtype)
        else:  # gather
            index, source_index, source = get(spec["index"]), get(spec["of_index"]), get(spec["of"])
            if index.ndim != 1 or source_index.ndim != 1 or len(source_index) != len(source):
                raise _damaged(where, f"array {key!r} gathers rows that do not fit")
            pair = (spec["index"], spec["of_index"])
            if pair not in positions:
                positions[pair] = row_positions(index, source_index)[0]
            pos = positions[pair]
            value = source[pos] if len(source) else np.zeros((len(index), *source.shape[1:]), dtype)
        if how in ("argmax", "gather") and spec["fixes"]:
            try:
                value[npz[f"mlbench/{key}.at"].astype(np.intp)] = npz[f"mlbench/{key}.values"]
            except (KeyError, IndexError, ValueError) as exc:
                raise _damaged(where, f"the kept rows of {key!r} do not fit ({exc})") from None
        if value.dtype != dtype or list(value.shape) != spec["shape"]:
            raise _damaged(
                where, f"array {key!r} reads as {value.dtype}{value.shape}, not {dtype}{tuple(spec['shape'])}"
            )
        busy.discard(key)
        done[key] = value
        return value

    try:
        for key in specs:
            get(key)
    except KeyError as exc:
        raise _damaged(where, f"member {exc} is missing") from None
    return {key: done[key] for key in specs}


def _dtype(descr: Any) -> np.dtype:
    """The dtype a manifest describes (a ``.npy`` header's ``descr``; JSON made its tuples lists)."""
    return np.lib.format.descr_to_dtype(descr)


def _damaged(where: Path | str, what: str) -> MlbenchError:
    return MlbenchError(
        f"cannot read predictions {where}: {what}; the file is damaged or was not written by mlbench, "
        "so this job's predictions cannot be used (run the suite into a new output folder to get them back)"
    )


# -- checking what a file holds against the job ------------------------------------------------

#: How far a stored row of probabilities may sum from 1 before the file counts as damaged (jobs
#: refuse 1e-3 when they run, :data:`mlbench.fitting.PROBA_SUM_TOLERANCE`; float32 storage
#: rounds by ~1e-7 per value).
STORED_PROBA_SUM_TOLERANCE = 1e-2
_SPLITS = ("train", "val", "test")


def array_problems(
    arrays: Mapping[str, np.ndarray],
    *,
    task_type: str | None = None,
    n_classes: int | None = None,
    n_rows: int | None = None,
    n_test_rows: int | None = None,
    lengths: Mapping[str, int] | None = None,
) -> list[str]:
    """What is wrong with a job's decoded prediction arrays, checked against the job (empty: usable).

    Every array a computation reads is checked before it is used: each split's ``index``,
    ``pred``, ``true`` and ``proba`` have one row per predicted row, the right dimensions and
    dtypes, finite values, probabilities in [0, 1] whose rows sum to 1, class codes below the
    class count and row numbers inside the dataset. A file that fails is left out of every
    computation (the run reader refuses it, naming the file).

    Parameters
    ----------
    arrays : mapping
        As :func:`decode` returns them (and the run reader hands them out).
    task_type : {"classification", "regression"}, optional
        The job's; guessed from the arrays (probabilities present: classification) when None.
    n_classes : int, optional
        The dataset's class count; when None, the probabilities' column count is the reference.
    n_rows, n_test_rows : int, optional
        Rows of the dataset and of its own test file (when it has one): the bounds of ``index``.
    lengths : mapping, optional
        Split -> the rows the job's results row says it predicted (``n_val``, ``n_test``).

    Returns
    -------
    list of str
        One line per problem, naming the array.
    """
    problems: list[str] = []
    lengths = lengths or {}
    classification = (
        task_type == "classification"
        if task_type is not None
        else any(f"{s}_proba" in arrays for s in _SPLITS)
    )
    k = n_classes if n_classes else None
    if classification and k is None:
        widths = {
            arrays[f"{s}_proba"].shape[-1]
            for s in _SPLITS
            if getattr(arrays.get(f"{s}_proba"), "ndim", 0) == 2
        }
        k = widths.pop() if len(widths) == 1 else None
    for split in _SPLITS:
        names = [f"{split}_{part}" for part in ("index", "pred", "true", "proba")]
        present = {name: np.asarray(arrays[name]) for name in names if name in arrays}
        if not present:
            continue
        index = present.get(f"{split}_index")
        n = len(index) if index is not None and index.ndim == 1 else None
        expected = lengths.get(split)
        if n is None:
            problems.append(f"{split}_index is missing or not one row number per row")
        elif expected is not None and n != expected:
            problems.append(f"{split} holds {n} rows but the job predicted {expected}")
        for name, value in present.items():
            part = name[len(split) + 1 :]
            problem = _array_problem(part, value, n, classification, k)
            if problem:
                problems.append(f"{name} {problem}")
        if index is not None and index.ndim == 1 and index.dtype.kind in "iu" and len(index):
            own_test = split == "test" and n_test_rows is not None
            bound = n_test_rows if own_test else n_rows
            lo, hi = int(index.min()), int(index.max())
            if lo < 0 or (bound is not None and hi >= bound):
                where = "its test file" if own_test else "the dataset"
                size = f"{bound} rows" if bound is not None else "rows numbered from 0"
                problems.append(
                    f"{split}_index holds row numbers from {lo} to {hi}, outside {where} ({size})"
                )
    return problems


def _array_problem(
    part: str, value: np.ndarray, n: int | None, classification: bool, k: int | None
) -> str | None:
    """What is wrong with one split's array (None when it is usable)."""
    want_ndim = 2 if part == "proba" else 1
    if value.ndim != want_ndim:
        return f"has shape {value.shape}, not {'(rows, classes)' if want_ndim == 2 else '(rows,)'}"
    if n is not None and len(value) != n:
        return f"has {len(value)} rows, not one per row of the split ({n})"
    if part == "index":
        return None if value.dtype.kind in "iu" else f"holds {value.dtype}, not row numbers (integers)"
    labels = part in ("pred", "true") and classification
    if labels:
        if value.dtype.kind not in "iub":
            return f"holds {value.dtype}, not class codes (integers)"
        if len(value) and (int(value.min()) < 0 or (k is not None and int(value.max()) >= k)):
            return (
                f"holds class codes from {int(value.min())} to {int(value.max())}, outside 0..{(k or 0) - 1}"
            )
        return None
    if value.dtype.kind not in "fiu":
        return f"holds {value.dtype}, not numbers"
    if value.dtype.kind == "f" and len(value):
        bad = int((~np.isfinite(value)).reshape(len(value), -1).any(axis=1).sum())
        if bad:
            return f"holds NaN or infinite values in {bad} of {len(value)} rows"
    if part == "proba":
        if k is not None and value.shape[1] != k:
            return f"has {value.shape[1]} columns, not one per class ({k})"
        if len(value):
            slack = STORED_PROBA_SUM_TOLERANCE
            if float(value.min()) < -slack or float(value.max()) > 1 + slack:
                return "holds values outside [0, 1]"
            sums = value.astype(np.float64).sum(axis=1)
            off = int((np.abs(sums - 1.0) > slack).sum())
            if off:
                return f"has {off} rows that do not sum to 1"
    return None


# -- files --------------------------------------------------------------------------------------


def write_npz(fh: Any, members: Mapping[str, np.ndarray], *, compress: bool = True) -> None:
    """Write an ``.npz`` readable by :func:`numpy.load`, deflating the members where that pays.

    Done by hand rather than with ``np.savez`` so that any key works (``np.savez`` would choke on
    keys such as ``file`` or ``allow_pickle``) and each member gets its own compression: deflated
    when that at least halves it (measured on a sample), stored raw otherwise (several times faster
    to read), and never with ``compress=False``. Object arrays are refused (``allow_pickle=False``)
    so that loading never unpickles.
    """
    with zipfile.ZipFile(fh, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key, value in members.items():
            value = np.asanyarray(value)
            if compress and _deflate_pays(value):
                buffer = io.BytesIO()
                np.lib.format.write_array(buffer, value, allow_pickle=False)
                zf.writestr(
                    f"{key}.npy", buffer.getvalue(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=1
                )
            else:
                with zf.open(f"{key}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, value, allow_pickle=False)


def _deflate_pays(value: np.ndarray) -> bool:
    if value.nbytes < _DEFLATE_MIN_BYTES or value.dtype.hasobject:
        return False
    flat = value.ravel(order="K")
    sample = np.ascontiguousarray(flat[: max(1, _DEFLATE_SAMPLE_BYTES // value.itemsize)])
    raw = sample.view(np.uint8).reshape(-1)
    return len(zlib.compress(raw, 1)) * 2 <= len(raw)


def write_npz_atomic(
    path: Path, members: Mapping[str, np.ndarray], *, exclusive: bool = False, compress: bool = True
) -> bool:
    """Write ``path`` atomically: a temp file in the same folder, fsynced, then moved into place.

    Parameters
    ----------
    path : Path
        The file to write; its folder must exist.
    members : mapping
        As :func:`write_npz`.
    exclusive : bool
        Never replace an existing ``path`` (``os.link`` fails where ``os.replace`` would clobber).
    compress : bool
        Deflate the members where that pays (see :func:`write_npz`).

    Returns
    -------
    bool
        False when ``exclusive`` and ``path`` already existed (nothing was written).
    """
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            write_npz(fh, members, compress=compress)
            fh.flush()
            # fsync before the rename so the new name can never point at unwritten blocks. The folder
            # itself is not fsynced per file: that only matters on power loss, where resume re-runs
            # the job anyway, and it would double the cost of each record.
            os.fsync(fh.fileno())
        if not exclusive:
            os.replace(tmp, path)
            return True
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError:
            # a file system without hard links: the existence check and the move are two steps,
            # harmless here since a concurrent writer of the same name writes the same content
            if path.exists():
                return False
            os.replace(tmp, path)
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
