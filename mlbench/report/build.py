"""Reports of runs: read a :class:`~mlbench.reader.Run`, summarize, render, write files atomically.

Everything here takes runs opened with :func:`mlbench.open_run` (the one read-only door to a run);
the numbers come from :func:`mlbench.report.summarize`, the page from
:func:`mlbench.report.html.render_html`.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from mlbench.reader import Run

__all__ = ["compare", "export_figures", "is_current", "summarize_run", "write_comparison", "write_report"]

_FINGERPRINT = re.compile(rb'<meta name="mlbench-fingerprint" content="([0-9a-f]+)">')


def summarize_run(run: Run, dataset: str | None = None) -> dict[str, Any]:
    """The report's summary dict of a run (see :func:`mlbench.report.summarize`).

    ``warnings`` lists what the report could not use: prediction files that are missing,
    unreadable or damaged (arrays that do not fit their job: found by
    :meth:`~mlbench.reader.Run.prediction_failures`, or when loaded), so the sections built from
    predictions (intervals, confusion matrices) say why they are short; each such job is also a
    row of ``failures`` (status ``predictions unusable``), and no computation uses its arrays.
    With ``dataset``, the summary of that dataset's jobs and checks alone (what its section shows).
    """
    from mlbench.report.summarize import summarize

    unusable = run.prediction_failures(dataset)
    bad = [
        f"job {f['job_id']} ({f['dataset']} / {f['model']} fold {f['fold']}): {f['problem']}"
        for f in unusable
    ]
    listed = {str(f["job_id"]) for f in unusable}

    def predictions(job_id: str) -> dict[str, Any]:
        if job_id in listed:
            raise _Unusable(f"the predictions of job {job_id} cannot be used")
        try:
            return run.predictions(job_id)
        except Exception as exc:  # the callers skip the job; the report names it
            listed.add(job_id)
            bad.append(f"job {job_id}: predictions unreadable ({type(exc).__name__}: {exc})")
            unusable.append({"job_id": job_id, "problem": f"{type(exc).__name__}: {exc}"})
            raise

    results, trials, diagnostics = run.results(), run.trials(), run.diagnostics()
    if dataset is not None:
        results = results[results["dataset"] == dataset]
        trials = trials[trials["job_id"].isin(results["job_id"])] if len(trials) else trials
        diagnostics = diagnostics[diagnostics["dataset"] == dataset] if len(diagnostics) else diagnostics
    summary = summarize(
        results,
        run.meta,
        predictions=predictions,
        datasets=run.dataset,
        trials=trials,
        diagnostics=diagnostics,
    )
    summary["warnings"] = prediction_warnings(bad)
    _add_prediction_failures(summary, unusable, results)
    return summary


class _Unusable(Exception):
    """A job's predictions were found damaged before: every section leaves them out."""


def _add_prediction_failures(summary: dict[str, Any], unusable: list[dict[str, Any]], results: Any) -> None:
    """List each job whose prediction file cannot be used in the summary's Failures rows."""
    if not unusable:
        return
    from mlbench.values import jsonable

    by_id = {str(r["job_id"]): r for r in results.to_dict("records")} if len(results) else {}
    failures = summary.setdefault("failures", {"total": 0, "shown": 0, "items": []})
    for f in unusable:
        job = {**by_id.get(str(f["job_id"]), {}), **{k: v for k, v in f.items() if v is not None}}
        problem = str(f["problem"])
        failures["items"].append(
            jsonable(
                {
                    "dataset": job.get("dataset"),
                    "model": job.get("model"),
                    "fold": job.get("fold"),
                    "repeat": job.get("repeat"),
                    "train_size": job.get("train_size"),
                    "n_train": job.get("n_train"),
                    "status": "predictions unusable",
                    "error_head": problem,
                    "error": problem,
                    "error_folded": False,
                }
            )
        )
    failures["total"] = int(failures.get("total") or 0) + len(unusable)
    failures["shown"] = len(failures["items"])


def prediction_warnings(
    problems: list[str],
    limit: int = 10,
    consequence: str = "the sections built from stored predictions leave those jobs out",
) -> list[str]:
    """One warning about missing or unreadable prediction files, naming the first ``limit``.

    Parameters
    ----------
    problems : list of str
        From :meth:`mlbench.reader.Run.prediction_problems`.
    limit : int
        How many files to name.
    consequence : str
        What the reader loses, after "so".
    """
    if not problems:
        return []
    shown = "; ".join(problems[:limit]) + (
        f"; and {len(problems) - limit} more" if len(problems) > limit else ""
    )
    return [
        f"{len(problems)} prediction file{'s' if len(problems) != 1 else ''} missing or unreadable, so "
        f"{consequence}: {shown}. Restore the files, or run "
        "the suite again into a new output folder to store them anew."
    ]


def report_run(run: Run, path: str | Path | None = None) -> Path:
    """Write the HTML report of a run (default ``<run>/index.html``); a write problem is a clear error.

    Raises
    ------
    MlbenchError
        The file cannot be written: the message names it, says why and where else to write.
    """
    from mlbench.errors import MlbenchError
    from mlbench.outputs import prepare_parent, write_error

    target = Path(path) if path is not None else run.path / "index.html"
    if path is not None:
        prepare_parent(target)
    try:
        return write_report(run, path)
    except PermissionError as exc:
        # a read-only run folder: the report can still be written elsewhere
        raise MlbenchError(
            f"cannot write the report to {target}: {exc.strerror}; "
            "write it elsewhere (`mlbench report RUN --out FILE`, or run.report(path))"
        ) from None
    except OSError as exc:
        if exc.filename is None:
            raise
        raise write_error(target, exc) from None


def write_report(
    run: Run,
    out: str | Path | None = None,
    warn: Callable[[str], None] | None = None,
) -> Path:
    """Build the HTML report of a run and write it atomically.

    Parameters
    ----------
    run : Run
        From :func:`mlbench.open_run`.
    out : str or Path, optional
        Where to write; defaults to ``<run folder>/index.html``.
    warn : callable, optional
        Called with each warning the page shows (missing or unreadable prediction files); the
        CLI prints them on stderr.

    Returns
    -------
    Path
        The written file.

    Notes
    -----
    Written to its default place, the report keeps its serialized figures in
    ``<run>/.cache/figures`` (:func:`figure_cache`), so a later rebuild draws only the figures
    whose data changed; written elsewhere (``--out``), it leaves the run folder alone.
    """
    from mlbench.report.html import FigureCache, render_html

    fingerprint = run.fingerprint()
    summary = summarize_run(run)
    for message in summary["warnings"] if warn is not None else ():
        warn(message)
    own_place = out is None or Path(out).resolve() == (run.path / "index.html").resolve()
    cache = figure_cache(run.path) if own_place else FigureCache()
    html = render_html(summary, fingerprint=fingerprint, cache=cache)
    target = Path(out) if out is not None else run.path / "index.html"
    written = _atomic_write(target, html.encode("utf-8"))
    if own_place:
        cache.prune()
    return written


def figure_cache(run_dir: str | Path) -> Any:
    """The run folder's cache of serialized report figures (:class:`mlbench.report.html.FigureCache`)."""
    from mlbench.report.html import FigureCache

    return FigureCache(Path(run_dir) / ".cache" / "figures")


def is_current(run: Run, path: str | Path | None = None) -> bool:
    """True when the report at ``path`` (default ``<run>/index.html``) was built from the run as it is now."""
    target = Path(path) if path is not None else run.path / "index.html"
    try:
        with open(target, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    found = _FINGERPRINT.search(head)
    return found is not None and found.group(1).decode() == run.fingerprint()


def export_figures(run: Run, folder: str | Path, dpi: int = 150) -> list[Path]:
    """Write the report's main figures of a run as PNG files (for papers and slides).

    Parameters
    ----------
    run : Run
        From :func:`mlbench.open_run`.
    folder : str or Path
        Output folder (created).
    dpi : int
        Resolution.

    Returns
    -------
    list of Path
        The files written, e.g. ``cd_diagram.png`` (``cd_diagram_<group>.png`` for further groups
        of datasets), ``<dataset>_scores.png``, ``<dataset>_pareto.png``,
        ``<dataset>_learning_curve.png``, ``<dataset>_loss.png``, ``<dataset>_confusion.png``,
        ``<dataset>_filters.png``, ``<dataset>_activations.png``, ``<dataset>_mistakes.png``.
    """
    from mlbench.report.html import figures
    from mlbench.report.plots import to_png

    summary = summarize_run(run)
    drawn = figures(summary)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = {"bar": "scores", "scaling": "learning_curve"}
    written: list[Path] = []
    used: set[str] = set()
    groups = (summary.get("overall") or {}).get("groups", [])
    for i, (group, fig) in enumerate(zip(groups, drawn["cd_groups"], strict=True)):
        if fig is not None:
            # one diagram per group of datasets; the first (largest) group keeps the plain name
            name = "cd_diagram" if i == 0 else f"cd_diagram_{_file_stem(str(group.get('label') or i), used)}"
            written.append(_atomic_write(folder / f"{name}.png", to_png(fig, dpi)))
    used.clear()
    for ds, figs in zip(summary["datasets"], drawn["datasets"], strict=True):
        stem = _file_stem(ds["name"] or "dataset", used)
        for key, fig in figs.items():
            if fig is not None:
                written.append(_atomic_write(folder / f"{stem}_{names.get(key, key)}.png", to_png(fig, dpi)))
    return written


def compare(run_a: Run, run_b: Run) -> dict[str, Any]:
    """Summary of two runs of the same suite compared job by job (for :func:`write_comparison`).

    Parameters
    ----------
    run_a, run_b : Run
        ``a`` is the baseline.

    Returns
    -------
    dict
        ``a``/``b`` (suite, started_at, n_jobs, n_ok, path), ``rows`` (dataset, model, metric,
        mean_a, mean_b, delta, improved, p_value, significant, n_pairs, paired, comparison,
        n_train_a, n_train_b), ``n_significant``, ``n_improved``, ``n_worse`` (paired and
        unpaired rows; ``n_significant_unpaired`` of them unpaired), ``n_paired_rows``,
        ``n_unpaired_rows``, ``n_not_comparable_rows``, ``unpaired_datasets`` (datasets whose jobs
        used other rows in the two runs, e.g. other seeds or folds, at equal training rows:
        compared unpaired, see :func:`mlbench.analysis.compare_runs`), ``not_comparable``
        (``{dataset: (n_train_a, n_train_b)}``: trained on other numbers of rows and other splits,
        so not tested), ``different_data`` (datasets for which the runs loaded different data,
        by the data fingerprints stored with each run: the same ``csv: data.csv`` entry read from
        another folder, or labels that changed; their rows have ``comparison="different data"``,
        no p-value; ``n_different_data_rows`` counts them), ``splits_known`` (False when a run
        lacks its stored suite: jobs are then paired by fold, repeat and size, unchecked) and
        ``warnings``.
    """
    from mlbench.analysis import compare_runs
    from mlbench.report.values import greater_is_better
    from mlbench.values import jsonable

    results_a, results_b = run_a.results(), run_b.results()
    primary = run_a.meta.get("primary_metric") or None
    data_a, data_b = _data_fingerprints(run_a), _data_fingerprints(run_b)
    # datasets whose data both runs recorded: their jobs pair only when they loaded the same data
    seen_a, seen_b = _datasets_of(results_a, data_a), _datasets_of(results_b, data_b)
    both = set(seen_a) & set(seen_b)
    different = sorted(ds for ds in both if not seen_a[ds] & seen_b[ds])
    splits = _split_fingerprints(run_a, data_a, both), _split_fingerprints(run_b, data_b, both)
    known = all(splits)  # a run without its stored suite cannot say which rows its jobs used
    table = compare_runs(results_a, results_b, primary=primary, splits=splits if known else None)
    rows = []
    for r in table.to_dict("records"):
        r = jsonable(r)
        if str(r["dataset"]) in different:
            # other data under the same dataset entry (another folder's data.csv, changed labels):
            # the scores measure different things, so nothing is tested
            r.update(comparison="different data", paired=False, p_value=None, significant=False, n_pairs=0)
        good = greater_is_better(r["metric"])
        d = r.get("delta")
        r["improved"] = None if d is None or d == 0 else (d > 0) == good
        rows.append(r)

    def side(run: Run, results: Any, default: str) -> dict[str, Any]:
        started = run.meta.get("started_at")
        return {
            "suite": run.meta.get("suite") or default,
            "started_at": None if started is None else str(started),
            "n_jobs": len(results),
            "n_ok": int((results["status"] == "ok").sum()) if "status" in results else len(results),
            "path": str(run.path),
        }

    sig = [r for r in rows if r.get("significant")]
    unpaired = sorted({str(r["dataset"]) for r in rows if r.get("comparison") == "unpaired"})
    apart: dict[str, tuple[Any, Any]] = {}
    for r in rows:
        if r.get("comparison") == "not comparable":
            apart.setdefault(str(r["dataset"]), (r.get("n_train_a"), r.get("n_train_b")))
    out = {
        "different_data": different,
        "n_different_data_rows": sum(1 for r in rows if r.get("comparison") == "different data"),
        "unpaired_datasets": unpaired,
        # dataset -> (rows A trained on, rows B trained on) at each run's reference size
        "not_comparable": dict(sorted(apart.items())),
        "n_paired_rows": sum(1 for r in rows if r.get("comparison") == "paired"),
        "n_unpaired_rows": sum(1 for r in rows if r.get("comparison") == "unpaired"),
        "n_not_comparable_rows": sum(1 for r in rows if r.get("comparison") == "not comparable"),
        "n_significant_unpaired": sum(1 for r in sig if r.get("comparison") == "unpaired"),
        "splits_known": known,
        "a": side(run_a, results_a, "run A"),
        "b": side(run_b, results_b, "run B"),
        "rows": rows,
        "n_significant": len(sig),
        "n_improved": sum(1 for r in sig if r["improved"]),
        "n_worse": sum(1 for r in sig if r["improved"] is False),
    }
    out["warnings"] = comparison_warnings(out)
    return out


def _split_fingerprints(run: Run, data: dict[str, str], datasets: set[str]) -> dict[str, str]:
    """``job_id -> split fingerprint`` of a run's stored suite (empty without one).

    For a job of one of ``datasets`` (those whose data both compared runs recorded) the hash
    of the data its run loaded (``data``: job id -> data fingerprint) is part of it: the same
    dataset entry (``csv: data.csv``) read from another folder, or after the labels changed, is
    other data, and its jobs are not the same rows.
    """
    from mlbench.suite.jobs import split_fingerprint

    try:
        jobs = run.jobs()
    except Exception:  # a stored suite that no longer loads (a plugin gone): splits unknown
        return {}
    out = {}
    for job in jobs:
        fingerprint = split_fingerprint(job)
        if job.dataset in datasets and job.job_id in data:
            fingerprint += ":" + data[job.job_id]
        out[job.job_id] = fingerprint
    return out


def _data_fingerprints(run: Run) -> dict[str, str]:
    """``job_id -> fingerprint of the data its run loaded`` (jobs of runs that recorded one)."""
    try:
        facts = run.data_facts()
    except Exception:  # an unreadable runs table: the data cannot be told apart
        return {}
    return {job_id: str(f["fingerprint"]) for job_id, f in facts.items() if f.get("fingerprint")}


def _datasets_of(results: Any, data: dict[str, str]) -> dict[str, set[str]]:
    """Dataset -> the data fingerprints its jobs' runs recorded (datasets with at least one)."""
    out: dict[str, set[str]] = {}
    if not len(results) or "job_id" not in results:
        return out
    for job_id, dataset in zip(results["job_id"], results["dataset"], strict=True):
        if str(job_id) in data:
            out.setdefault(str(dataset), set()).add(data[str(job_id)])
    return out


def comparison_warnings(c: dict[str, Any]) -> list[str]:
    """What a reader of a comparison must know: datasets compared unpaired or not at all, splits unchecked."""
    out = []
    for ds in c.get("different_data") or []:
        out.append(
            f"{ds} is not compared: the two runs loaded different data for it (its target differs: "
            "the same dataset entry read from another folder, or a file whose labels changed), so "
            "their scores measure different things; no p-value is given. Compare runs of the same data"
        )
    if c.get("unpaired_datasets"):
        out.append(
            f"the runs used different splits (other seeds, folds or resampling) for "
            f"{', '.join(c['unpaired_datasets'])}: no job of B saw the same rows as a job of A, so these "
            "datasets are compared unpaired (Welch's t-test on each run's fold means, repeats of a fold "
            "averaged), not fold by fold; Welch assumes the fold means are independent, which ignores the "
            "correlation between folds from overlapping training sets, so its p-values are approximate"
        )
    for ds, (na, nb) in (c.get("not_comparable") or {}).items():
        out.append(
            f"{ds} is not compared: A trained on {_rows(na)} and B on {_rows(nb)} at their reference sizes "
            "(with other splits), so their scores measure different things; no p-value is given. Run both "
            "at the same training size to compare them"
        )
    if not c.get("splits_known", True):
        out.append(
            "a run has no stored suite, so whether both runs used the same splits cannot be checked; "
            "jobs are paired by fold, repeat and train size"
        )
    return out


def _rows(n: Any) -> str:
    """``800 rows``; ``an unknown number of rows`` when not recorded."""
    try:
        return f"{round(float(n)):,} rows"
    except (TypeError, ValueError, OverflowError):
        return "an unknown number of rows"


def write_comparison(
    run_a: Run, run_b: Run, out: str | Path | None = None, warn: Callable[[str], None] | None = None
) -> Path:
    """Compare two runs (``a`` = baseline) and write one self-contained HTML page.

    Parameters
    ----------
    run_a, run_b : Run
        Usually the same suite before and after a change.
    out : str or Path, optional
        Where to write; defaults to ``<run_b folder>/compare.html``.
    warn : callable, optional
        Called with each warning the page shows (different splits, splits unknown); the CLI
        prints them on stderr.

    Returns
    -------
    Path
        The written file.
    """
    from mlbench.report.html import jinja_environment

    c = compare(run_a, run_b)
    for message in c["warnings"] if warn is not None else ():
        warn(message)
    html = jinja_environment().get_template("compare.html.j2").render(c=c)
    target = Path(out) if out is not None else run_b.path / "compare.html"
    return _atomic_write(target, html.encode("utf-8"))


def _atomic_write(target: Path, data: bytes) -> Path:
    """Write ``target`` atomically; an OS error (a full disk) is an MlbenchError naming ``target``.

    The temp file (``.<name>.<pid>.<random>.tmp`` in the same folder) carries the writer's PID:
    temp files of writers that died mid-write (SIGKILL) are removed after the next write succeeds.
    """
    from mlbench.outputs import write_error

    tmp: str | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # Temp file in the same folder + os.replace: readers never see a half-written file.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        # mkstemp creates 0600; a report is meant to be shared like any file the user writes
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, PermissionError):
            # PermissionError stays one: report_run and the CLI say "write it elsewhere"
            raise write_error(target, exc) from None
        raise
    _remove_stale_temps(target)
    return target


# A temp file without a writer's PID in its name (an older mlbench) is stale after this long.
_STALE_TEMP_SECONDS = 3600.0


def _remove_stale_temps(target: str | Path) -> list[Path]:
    """Remove the temp files that writers of ``target`` killed mid-write left in its folder.

    Parameters
    ----------
    target : str or Path
        A file written by :func:`write_report` (or another atomic write of this module).

    Returns
    -------
    list of Path
        The temp files removed: those of writers whose PID is gone (or a zombie), and those
        without a PID older than an hour. A live writer's temp file is kept.
    """
    import contextlib
    import glob
    import time

    from mlbench.outputs import pid_alive

    target = Path(target)
    removed = []
    try:
        found = list(target.parent.glob(f".{glob.escape(target.name)}.*.tmp"))
    except OSError:
        return removed
    for tmp in found:
        middle = tmp.name[len(target.name) + 2 : -len(".tmp")].split(".")
        pid = int(middle[0]) if len(middle) == 2 and middle[0].isdigit() else None
        if pid is not None:
            stale = pid != os.getpid() and not pid_alive(pid)
        else:
            try:
                stale = time.time() - tmp.stat().st_mtime > _STALE_TEMP_SECONDS
            except OSError:
                continue
        if stale:
            with contextlib.suppress(OSError):
                tmp.unlink()
                removed.append(tmp)
    return removed


def _file_stem(name: str, used: set[str]) -> str:
    """A file-name-safe, unique stem from a dataset name (anything odd becomes ``_``)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")[:60] or "dataset"
    base, i = stem, 2
    while stem in used:
        stem, i = f"{base}_{i}", i + 1
    used.add(stem)
    return stem
