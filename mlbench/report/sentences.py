"""Every sentence the report writes from numbers, each computed by one function from the table it describes.

The report's prose ("X, the best model at the largest size, leads at every size run", "pays from
...", "overtakes at n ≈ ...", "no crossover beyond noise", what tuning did, what the Friedman test
says, which models are no better than the baseline) is a claim about a table the same section
shows. Each claim is made here, by one function that reads only that table (the summary dict's
rows), and the template prints the function's output: a sentence cannot disagree with the table
next to it because it is computed from nothing else (``tests/test_sentences.py`` checks each
against random tables).

Inputs are the summary's plain rows (see :mod:`mlbench.report.summarize`):

* a scaling section's ``curves``: ``[{"model", "points": [{"n_train", "mean",
  "no_better_than_baseline"}]}]`` and ``crossovers`` (``model_a``, ``model_b``, ``better_after``,
  ``better_before``, ``n_cross``, ``kind``, ``n_low``, ``n_high``);
* an ensemble's ``gains`` rows (``ensemble``, ``train_size``, ``n_train``, ``pays``, ``note``);
* a tuning ``pair`` (``tuned``, ``default``, ``diff_mean``, ``ci_low``, ``ci_high``, ``n_folds``);
* a leaderboard's rows (``model``, ``no_better_than_baseline``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from mlbench.values import count_text

__all__ = [
    "BASELINE_FLAG",
    "baseline_sentence",
    "best_at_largest",
    "crossover_sentence",
    "ensemble_sentence",
    "friedman_sentence",
    "leader_sentence",
    "no_crossover_sentence",
    "pays_from",
    "scaling_sentences",
    "tuning_sentence",
]

#: The flag a model gets in its dataset's table and on its learning curve.
BASELINE_FLAG = "no better than the baseline"


# --------------------------------------------------------------------------------------------- numbers


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def round_n(n: Any) -> str:
    """A row count for prose: exact below 100, else two significant digits (``4,191`` -> ``4,200``)."""
    return count_text(n, 100) if _finite(n) else ""


def _rows(n: Any) -> str:
    return f"{round(n):,}" if _finite(n) else "?"


def _pair_text(a: float, b: float) -> str:
    """Two means with enough decimals (4 at least) that different values read differently."""
    for d in range(4, 10):
        ta, tb = f"{a:.{d}f}", f"{b:.{d}f}"
        if ta != tb or a == b:
            return f"{ta} vs {tb}"
    return f"{a!r} vs {b!r}"


def _names(models: Sequence[str]) -> str:
    models = list(models)
    if len(models) <= 2:
        return " and ".join(models)
    return ", ".join(models[:-1]) + " and " + models[-1]


# --------------------------------------------------------------------------------------------- baseline


def baseline_sentence(rows: Sequence[dict[str, Any]], baseline: str = "dummy") -> str | None:
    """Which models of a dataset's table are no better than the baseline beyond noise (None: none).

    Parameters
    ----------
    rows : sequence of dict
        The table's rows: ``model`` and ``no_better_than_baseline``.
    baseline : str
        The baseline's label.
    """
    flagged = [str(r["model"]) for r in rows if r.get("no_better_than_baseline")]
    if not flagged:
        return None
    verb = "is" if len(flagged) == 1 else "are"
    return (
        f"{_names(flagged)} {verb} {BASELINE_FLAG} ({baseline}: always the training prior or mean) beyond "
        "noise at this size: the 95% interval of the paired per-fold difference from it (corrected "
        "resampled t) does not lie above zero."
    )


# --------------------------------------------------------------------------------------------- scaling


def _points(curves: Sequence[dict[str, Any]]) -> dict[str, dict[float, dict[str, Any]]]:
    """``{model: {n_train: point}}`` of the points with a mean."""
    out: dict[str, dict[float, dict[str, Any]]] = {}
    for c in curves:
        for p in c.get("points") or []:
            if _finite(p.get("n_train")) and _finite(p.get("mean")):
                out.setdefault(str(c["model"]), {})[float(p["n_train"])] = p
    return out


def _better(a: float, b: float, greater: bool) -> bool:
    return a > b if greater else a < b


def best_at_largest(curves: Sequence[dict[str, Any]], greater: bool) -> str | None:
    """The model with the best mean at the largest size shown, among points better than the baseline.

    Ties go to the first model by name. None when no point at that size is better than the
    baseline (or none has a mean).
    """
    pts = _points(curves)
    sizes = {n for by_n in pts.values() for n in by_n}
    if not sizes:
        return None
    top = max(sizes)
    best: tuple[str, float] | None = None
    for model in sorted(pts):
        p = pts[model].get(top)
        if p is None or p.get("no_better_than_baseline"):
            continue
        if best is None or _better(float(p["mean"]), best[1], greater):
            best = (model, float(p["mean"]))
    return None if best is None else best[0]


def leader_sentence(
    curves: Sequence[dict[str, Any]], crossovers: Sequence[dict[str, Any]], greater: bool
) -> str | None:
    """What the best model at the largest size does over the sizes shown.

    "leads at every size run" only when, at every size of the table, it has a point and no other
    model's mean is better; otherwise the first size where another model is better (or it has no
    score) is named with both means. With crossovers of it (beyond noise), the sentence introduces
    their list. None when the table has no point.
    """
    pts = _points(curves)
    sizes = sorted({n for by_n in pts.values() for n in by_n})
    if not sizes:
        return None
    winner = best_at_largest(curves, greater)
    if winner is None:
        return (
            f"No model is better than the baseline beyond noise at the largest size run "
            f"({_rows(sizes[-1])} rows), so none is called the best there."
        )
    if any(winner in (c.get("model_a"), c.get("model_b")) for c in crossovers):
        return f"Crossovers of {winner}, the best model at the largest size (marked on the plot):"
    behind: list[str] = []
    for n in sizes:
        mine = pts[winner].get(n)
        if mine is None:
            behind.append(f"at {_rows(n)} rows it has no score")
            continue
        others = [
            (m, float(by_n[n]["mean"]))
            for m, by_n in sorted(pts.items())
            if m != winner and n in by_n and _better(float(by_n[n]["mean"]), float(mine["mean"]), greater)
        ]
        if others:
            # the model that beats it by the most at this size
            m, v = max(others, key=lambda mv: mv[1] if greater else -mv[1])
            behind.append(f"at {_rows(n)} rows {m}'s mean is better ({_pair_text(v, float(mine['mean']))})")
    if not behind:
        return f"{winner}, the best model at the largest size, leads at every size run."
    more = f" (and at {len(behind) - 1} more size{'s' if len(behind) > 2 else ''})" if len(behind) > 1 else ""
    return (
        f"{winner} is the best model at the largest size but does not lead at every size run: "
        f"{behind[0]}{more}; no crossover involving {winner} is beyond noise."
    )


def no_crossover_sentence(n_flagged: int = 0) -> str:
    """The sentence for a scaling section without any crossover beyond noise.

    Parameters
    ----------
    n_flagged : int
        Points left out of the crossover search as no better than the baseline.
    """
    left = (
        f" {n_flagged} point{'s' if n_flagged != 1 else ''} {BASELINE_FLAG} (hollow markers) "
        f"{'were' if n_flagged != 1 else 'was'} left out of the search."
        if n_flagged
        else ""
    )
    return (
        "No crossovers beyond noise: no two models change order over the sizes run by more than their "
        f"intervals allow, nor in the power-law fits' extrapolation.{left}"
    )


def crossover_sentence(cross: dict[str, Any]) -> str:
    """One sentence: ``"cnn overtakes xgboost at n ≈ 400"``; an extrapolated one is a hypothesis with its range.

    Parameters
    ----------
    cross : dict
        A crossover row: ``better_after``, ``better_before``, ``n_cross``, ``kind``, ``n_low``, ``n_high``.
    """
    after = cross.get("better_after") or cross.get("model_a")
    before = cross.get("better_before") or cross.get("model_b")
    n = round_n(cross.get("n_cross"))
    lo, hi = round_n(cross.get("n_low")), round_n(cross.get("n_high"))
    span = f" (between {lo} and {hi} rows)" if lo and hi else ""
    if cross.get("kind") == "extrapolated":
        rng = f"; uncertainty range {lo} to {hi} rows" if lo and hi else ""
        return (
            f"{after} would overtake {before} at n ≈ {n} — a hypothesis extrapolated from the power-law fits "
            f"beyond the sizes that were run{rng}"
        )
    return f"{after} overtakes {before} at n ≈ {n}{span}"


def scaling_sentences(
    curves: Sequence[dict[str, Any]], crossovers: Sequence[dict[str, Any]], greater: bool
) -> dict[str, Any]:
    """A scaling section's sentences: ``lead`` (:func:`leader_sentence`), ``none``
    (:func:`no_crossover_sentence` when there is no crossover, else None) and ``winner``."""
    n_flagged = sum(1 for c in curves for p in c.get("points") or [] if p.get("no_better_than_baseline"))
    return {
        "winner": best_at_largest(curves, greater),
        "lead": leader_sentence(curves, crossovers, greater),
        "none": None if crossovers else no_crossover_sentence(n_flagged),
    }


# --------------------------------------------------------------------------------------------- ensembles


def _ordered(gains: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    # by rows trained, not by the requested size: 1.0 (the full data) comes after 50 rows
    return sorted(
        gains,
        key=lambda g: (not _finite(g.get("n_train")), g.get("n_train") if _finite(g.get("n_train")) else 0.0),
    )


def pays_from(gains: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The row from which an ensemble pays at that size and every larger one (None: it does not pay
    at the largest size).

    Parameters
    ----------
    gains : sequence of dict
        One ensemble's gain rows (``n_train``, ``pays``).
    """
    start = None
    for g in _ordered(gains):
        if g.get("pays") is True:
            start = g if start is None else start
        else:
            start = None
    return start


def ensemble_sentence(label: str, gains: Sequence[dict[str, Any]]) -> str:
    """Whether (and from which size on) an ensemble is better than the best single model.

    Parameters
    ----------
    label : str
        The ensemble.
    gains : sequence of dict
        Its rows of the gains table (``n_train``, ``train_size``, ``pays``, ``note``).
    """
    rows = _ordered(gains)
    start = pays_from(rows)
    if start is not None:
        size = start.get("train_size")
        share = f" ({size:.0%} of the data)" if _finite(size) and 0 < size <= 1 else ""
        return (
            f"{label} pays from {_rows(start.get('n_train'))} training rows{share} on (better than the best "
            "single model beyond noise there and at every larger size run)."
        )
    if not rows:
        return f"{label} has no comparison with the best single model."
    last = rows[-1]
    if last.get("pays") is None or (last.get("note") and not _finite(last.get("ci_low"))):
        why = f": {last['note']}" if last.get("note") else ""
        return (
            f"{label} has no interval at the largest size run ({_rows(last.get('n_train'))} rows){why}, "
            "so it is not shown to pay."
        )
    return (
        f"{label} is not better than the best single model beyond noise at the largest size run "
        f"({_rows(last.get('n_train'))} rows)."
    )


# --------------------------------------------------------------------------------------------- tuning


def tuning_sentence(pair: dict[str, Any], metric: str) -> str:
    """What tuning did to one model, from its row of the default-vs-tuned table.

    Parameters
    ----------
    pair : dict
        ``tuned``, ``default``, ``diff_mean`` (positive: tuning helped), ``ci_low``, ``ci_high``,
        ``n_folds``.
    metric : str
        The test metric compared.
    """
    tuned, default, diff = pair.get("tuned"), pair.get("default"), pair.get("diff_mean")
    if not _finite(diff):
        return f"{tuned} and {default} share no completed fold: nothing to compare."
    lo, hi = pair.get("ci_low"), pair.get("ci_high")
    k = pair.get("n_folds")
    folds = f"{k} fold{'s' if k != 1 else ''}" if isinstance(k, int) else "the folds"
    change = f"{diff:+.4f} test {metric} (positive: better)"
    if not (_finite(lo) and _finite(hi)):
        return f"Tuning changed {default} by {change} on one test split; no interval, so no verdict."
    ci = f"95% CI {lo:+.4f} to {hi:+.4f} over {folds}"
    if lo > 0:
        return f"Tuning helped {default} beyond noise: {change}, {ci}."
    if hi < 0:
        return f"Tuning hurt {default} beyond noise: {change}, {ci}."
    return f"Tuning {default} made no difference beyond noise: {change}, {ci}."


# --------------------------------------------------------------------------------------------- overall


def friedman_sentence(friedman: dict[str, Any], alpha: float) -> str:
    """What the Friedman / Iman-Davenport test of a group of datasets says.

    Parameters
    ----------
    friedman : dict
        ``p_value``, ``iman_davenport_p_value``, ``n_models``.
    alpha : float
        Significance level.
    """
    p, p_id = friedman.get("p_value"), friedman.get("iman_davenport_p_value")
    if not _finite(p):
        if (friedman.get("n_models") or 0) < 3:
            return "Undefined (the tests need 3 models; the diagram compares the 2)."
        return "Undefined (every dataset ties all models)."
    if _finite(p_id) and p_id < alpha:
        return (
            f"The models do not all perform alike (Iman–Davenport p < α = {alpha}); the diagram shows "
            "which differences are significant."
        )
    return (
        f"No evidence that the models differ (α = {alpha}): treat the ranking as noise; more datasets "
        "would help."
    )
