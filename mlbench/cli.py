"""The ``mlbench`` command line: run, validate, report, verdict, ensemble, list, export.

Thin by design: each command calls the modules that do the work. Heavy libraries are imported
inside the commands that need them, so ``mlbench --help`` and ``mlbench validate`` stay fast.
Exit codes: 0 all ok, 1 some jobs not ok (results kept), 2 usage or config error, 130 interrupted.
"""

from __future__ import annotations

import atexit
import gc
import signal
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from mlbench.errors import MlbenchError

app = typer.Typer(
    name="mlbench",
    help="Benchmark classical ML and deep learning side by side on the same splits.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_OK, EXIT_JOBS_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _err(message: str) -> None:
    typer.echo(message, err=True)


def _on_sigterm(signum: int, frame: Any) -> None:
    # SIGTERM ends a run like Ctrl-C: workers killed, store flushed, report written, exit 130
    raise KeyboardInterrupt


@app.command()
def run(
    suite: Annotated[Path, typer.Argument(help="Suite YAML file.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the job table; run nothing.")] = False,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Re-run failed/timeout/oom jobs.")
    ] = False,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Worker processes (default: suite, else cores).")
    ] = None,
    output: Annotated[
        # text, not Path: typer turns "" into Path("."), and `--output ""` must be an error
        str | None,
        typer.Option(help="Output folder (default: suite's, else reports/NAME)."),
    ] = None,
    no_report: Annotated[bool, typer.Option("--no-report", help="Do not write index.html.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No per-job lines.")] = False,
    sanity: Annotated[
        bool, typer.Option("--sanity", help="First check each model can overfit 32 training rows (recorded).")
    ] = False,
    importance: Annotated[
        bool,
        typer.Option(
            "--importance",
            help="Permutation importance of every model's features on its test rows (5 shuffles each).",
        ),
    ] = False,
    shared: Annotated[
        bool,
        typer.Option(
            "--shared",
            help="Share the output with other --shared runs: they split the remaining jobs, none runs twice.",
        ),
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Also print how long each stage of the run took.")
    ] = False,
) -> None:
    """Run a suite: every dataset x model x fold x train size x repeat; resumes where it stopped."""
    from mlbench.outputs import check_output_dir, output_option
    from mlbench.suite import load_suite

    s = load_suite(suite, output=output_option(output))
    check_output_dir(s.output)  # before a dry run too: a bad output is said first
    s.sanity = s.sanity or sanity
    s.importance = s.importance or importance
    if dry_run:
        _dry_run(s, retry_failed)
        raise typer.Exit(EXIT_OK)
    from mlbench.pipeline import run_suite
    from mlbench.progress import Progress

    progress = Progress(quiet=quiet)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        outcome = run_suite(
            s,
            retry_failed=retry_failed,
            workers=workers,
            on_plan=progress.plan,
            on_result=progress.result,
            command=" ".join(sys.argv),
            write_report=not no_report,
            shared=shared,
        )
    finally:
        progress.close()
    counts = ", ".join(f"{n} {status}" for status, n in sorted(outcome.counts.items())) or "nothing to run"
    if outcome.rescored:
        counts += f"; {outcome.rescored} finished jobs rescored"
    if outcome.ensembles:
        counts += "; ensembles: " + ", ".join(f"{n} {st}" for st, n in sorted(outcome.ensembles.items()))
    _err(f"{counts}; results in {outcome.output / 'results.sqlite'}")
    if verbose and outcome.stage_seconds:
        _err("stages: " + ", ".join(f"{name} {sec:.2f} s" for name, sec in outcome.stage_seconds.items()))
    if outcome.crashed_runs:
        _err(
            f"marked {len(outcome.crashed_runs)} earlier run(s) crashed (killed while running; their results are kept)"
        )
    if outcome.deferred_to:
        pids = ", ".join(str(p) for p in outcome.deferred_to)
        _err(f"shared run(s) {pids} still working: the last to finish builds the ensembles and the report")
    if outcome.failed_remaining:
        _err(f"{outcome.failed_remaining} failed jobs remain; --retry-failed re-runs them")
    if outcome.report is not None:
        _err(f"report: {outcome.report}")
    if outcome.report_error is not None:
        _err(
            f"the report could not be written ({outcome.report_error}); the results are stored: "
            f"rebuild it with `mlbench report {outcome.output}`"
        )
    if outcome.interrupted:
        _err("interrupted: finished jobs are stored; run the same command again to resume")
        raise typer.Exit(EXIT_INTERRUPTED)
    ensembles_ok = all(status in ("ok", "skipped") for status in outcome.ensembles)
    all_ok = outcome.all_ok and ensembles_ok and not outcome.failed_remaining
    raise typer.Exit(EXIT_OK if all_ok and outcome.report_error is None else EXIT_JOBS_FAILED)


def _dry_run(s: Any, retry_failed: bool) -> None:
    from collections import Counter

    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from mlbench.pipeline import plan_run
    from mlbench.suite import check_machine

    check_machine(s)  # what a run would check first: the plugins, files and GPUs it names
    plan = plan_run(s, retry_failed=retry_failed)
    todo = {job.job_id for job in plan.to_run}
    table = Table(title=f"suite {escape(s.name)}: {plan.n_total} jobs")
    for col in ("dataset", "model", "folds", "train sizes", "repeats", "jobs", "to run"):
        table.add_column(col)
    groups: Counter = Counter()
    running: Counter = Counter()
    for job in plan.jobs:
        groups[(job.dataset, job.model)] += 1
        running[(job.dataset, job.model)] += job.job_id in todo
    sizes = ", ".join(f"{x:g}" for x in s.sweep.train_sizes)
    for (dataset, model), n in groups.items():
        ds = next(d for d in s.datasets if d.name == dataset)
        table.add_row(
            escape(dataset),
            escape(model),
            str(s.n_folds(ds)),
            sizes,
            str(s.sweep.repeats),
            str(n),
            str(running[(dataset, model)]),
        )
    Console().print(table)
    typer.echo(
        f"{len(plan.to_run)} to run; a resume skips {plan.skipped_ok} finished"
        + (f" and {plan.skipped_failed} failed (use --retry-failed)" if plan.skipped_failed else "")
        + f" of {plan.n_total}; output: {s.output}"
    )
    if s.resampling.val == "cross_fit":
        # the cost a user should see before starting: cross-fitting multiplies the fitting time
        k = s.resampling.inner_folds
        typer.echo(
            f"val: cross_fit: each job fits {k} models (inner_folds), {k * len(plan.to_run)} fits for the "
            f"{len(plan.to_run)} jobs to run, about {k}x the fitting time of `val: holdout` "
            "(fewer on a training subset with fewer rows than folds)"
        )
    if any(job.tune is not None for job in plan.jobs):
        from mlbench.suite.tune import describe_budget

        for line in describe_budget(plan.to_run):
            typer.echo(line)
    if s.ensembles:
        typer.echo(
            f"{len(s.ensembles)} ensembles ({', '.join(e.label for e in s.ensembles)}) are built after the "
            "jobs from their stored validation predictions; no member is refitted"
        )
    if plan.to_rescore:
        missing = sorted({m for item in plan.to_rescore for m in item.missing})
        typer.echo(
            f"{len(plan.to_rescore)} finished jobs get {', '.join(missing)} from their stored predictions (no refit)"
        )


@app.command()
def validate(suites: Annotated[list[Path], typer.Argument(help="Suite YAML files.")]) -> None:
    """Check suite files without running anything; every problem is listed with FILE:LINE:COL."""
    from mlbench.errors import ConfigError
    from mlbench.suite import load_suite

    bad = False
    for path in suites:
        try:
            # the checks of the suite and those of this machine (plugins, files, GPUs, extras)
            s = load_suite(path, machine=True)
        except ConfigError as exc:
            bad = True
            _err(str(exc))
            continue
        n = len(s.datasets) * len(s.models)
        extra = f", {len(s.ensembles)} ensembles" if s.ensembles else ""
        typer.echo(
            f"{path}: ok ({len(s.datasets)} datasets x {len(s.models)} models = {n} combinations{extra})"
        )
    raise typer.Exit(EXIT_USAGE if bad else EXIT_OK)


@app.command()
def report(
    run_dirs: Annotated[
        list[Path], typer.Argument(help="A run's output folder; give two to compare two runs of one suite.")
    ],
    out: Annotated[
        str | None, typer.Option(help="HTML file (default: RUN_DIR/index.html, or RUN_B/compare.html).")
    ] = None,
    export_figures: Annotated[
        Path | None, typer.Option("--export-figures", help="Also write the main plots as PNG files here.")
    ] = None,
) -> None:
    """Regenerate the HTML report from the store (nothing is re-run), or compare two runs."""
    from mlbench.errors import ConfigError
    from mlbench.outputs import output_option
    from mlbench.reader import open_run

    out = output_option(out, "--out")
    if len(run_dirs) > 2:
        raise ConfigError("mlbench report takes one run folder, or two to compare; got " + str(len(run_dirs)))
    runs = [open_run(d) for d in run_dirs]
    if export_figures is not None:
        from mlbench.outputs import prepare_output_dir

        prepare_output_dir(export_figures)  # before the report: a bad folder fails fast, exit 2
    from mlbench.outputs import prepare_parent, write_error

    if out is not None:
        prepare_parent(out)
    default = runs[1].path / "compare.html" if len(runs) == 2 else runs[0].path / "index.html"
    try:
        if len(runs) == 2:
            from mlbench.report import write_comparison

            path = write_comparison(runs[0], runs[1], out, warn=lambda m: _err(f"warning: {m}"))
        else:
            from mlbench.report.build import write_report

            path = write_report(runs[0], out, warn=lambda m: _err(f"warning: {m}"))
    except OSError as exc:
        if exc.filename is None:
            raise
        # e.g. a read-only run folder: the report can still be written elsewhere
        raise write_error(out or default, exc, hint="write the report elsewhere with --out FILE") from None
    typer.echo(str(path))  # default: RUN_DIR/index.html, or RUN_B/compare.html
    if export_figures is not None:
        from mlbench.report import export_figures as _export

        try:
            for path in _export(runs[-1], export_figures):
                typer.echo(str(path))
        except OSError as exc:
            raise write_error(export_figures, exc) from None


@app.command()
def verdict(
    run_dir: Annotated[Path, typer.Argument(help="A run's output folder.")],
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the records as JSON (schema in the README).")
    ] = False,
    budget_seconds: Annotated[
        float | None, typer.Option("--budget-seconds", help="Fit seconds per job a model may take.")
    ] = None,
    max_predict_ms: Annotated[
        float | None,
        typer.Option(
            "--max-predict-ms", help="Milliseconds a model may take to predict one job's test rows."
        ),
    ] = None,
    at: Annotated[
        float | None, typer.Option("--at", help="Answer for this training size (predicted when not run).")
    ] = None,
) -> None:
    """Which model to use per dataset, under a budget, and whether more data would change it."""
    import json

    from mlbench.analysis.verdict import verdict as compute
    from mlbench.errors import ConfigError
    from mlbench.reader import open_run

    for name, value in (
        ("--budget-seconds", budget_seconds),
        ("--max-predict-ms", max_predict_ms),
        ("--at", at),
    ):
        if value is not None and not value > 0:
            raise ConfigError(f"{name} must be a positive number, got {value:g}")
    records = compute(open_run(run_dir), budget_seconds=budget_seconds, max_predict_ms=max_predict_ms, at=at)
    if json_out:
        typer.echo(json.dumps([r.as_dict() for r in records], indent=2, allow_nan=False))
        return
    if not records:
        _err(f"{run_dir}: no dataset with a complete result yet: no verdict")
        raise typer.Exit(EXIT_JOBS_FAILED)
    for r in records:
        typer.echo(f"{r.dataset} ({r.metric}):")
        for sentence in r.sentences:
            typer.echo(f"  {sentence}")
        typer.echo("")


@app.command()
def ensemble(
    run_dir: Annotated[Path, typer.Argument(help="A run's output folder.")],
    suite: Annotated[
        Path | None, typer.Option("--suite", help="Build this suite's `ensembles:` (default: the run's).")
    ] = None,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Record every ensemble again, not only changed ones.")
    ] = False,
    no_report: Annotated[bool, typer.Option("--no-report", help="Do not rewrite index.html.")] = False,
) -> None:
    """Add or rebuild a run's ensembles from its stored predictions; no model is refitted."""
    from mlbench.pipeline import build_run_ensembles

    s = None
    if suite is not None:
        from mlbench.suite import load_suite

        s = load_suite(suite, output=run_dir)
    outcome = build_run_ensembles(run_dir, s, rebuild=rebuild, write_report=not no_report)
    counts = ", ".join(f"{n} {status}" for status, n in sorted(outcome.ensembles.items()))
    _err(f"ensembles: {counts or 'all up to date'}; results in {outcome.output / 'results.sqlite'}")
    if outcome.report is not None:
        _err(f"report: {outcome.report}")
    if outcome.report_error is not None:
        _err(
            f"the report could not be written ({outcome.report_error}); rebuild it with `mlbench report {outcome.output}`"
        )
    if outcome.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
    bad = any(status not in ("ok", "skipped") for status in outcome.ensembles)
    raise typer.Exit(EXIT_JOBS_FAILED if bad or outcome.report_error else EXIT_OK)


@app.command()
def check(
    train: Annotated[
        Path | None, typer.Argument(help="Training data: CSV/TSV/Parquet, an image folder or an .npz.")
    ] = None,
    new: Annotated[Path | None, typer.Argument(help="The data to compare with it, same format.")] = None,
    target: Annotated[
        str | None, typer.Option("--target", help="Label column (tested for label shift).")
    ] = None,
    suite: Annotated[
        Path | None,
        typer.Option("--suite", help="Check every dataset of this suite instead (no models run)."),
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the full result as JSON here.")
    ] = None,
    alpha: Annotated[float, typer.Option(min=0.0, max=1.0, help="Family-wise error rate.")] = 0.05,
    permutations: Annotated[int, typer.Option(min=20, help="Permutations of the permutation tests.")] = 200,
    max_rows: Annotated[int, typer.Option(min=0, help="Rows per side at most (0: all).")] = 10_000,
    seed: Annotated[int, typer.Option(help="Seeds subsampling and permutations.")] = 0,
) -> None:
    """Is NEW like TRAIN? Train/test mismatch checks; exit 0 none flagged, 1 flagged, 2 bad input."""
    import json

    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from mlbench.analysis import drift, run_drift
    from mlbench.errors import ConfigError
    from mlbench.values import jsonable

    console = Console(stderr=False, highlight=False)
    json_out = _json_target(json_out)
    if suite is not None:
        if train is not None or new is not None:
            raise ConfigError("give either TRAIN NEW or --suite FILE, not both")
        from mlbench.suite import load_suite

        s = load_suite(suite)
        d = s.diagnostics
        options = run_drift.DiagnosticsOptions(True, d.alpha, d.permutations, d.max_rows)
        results = run_drift.suite_diagnostics(s, options)
        flagged = False
        report: dict[str, Any] = {"suite": str(suite), "settings": options.key, "datasets": []}
        from rich import box

        table = Table(
            title=escape(f"Train/test mismatch: {s.name}"),
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            title_justify="left",
        )
        table.add_column("dataset", overflow="fold")
        table.add_column("comparison", no_wrap=True)
        table.add_column("verdict", ratio=1)
        for dataset, comparison, rows in results:
            verdict = rows[-1]
            flagged = flagged or bool(verdict.get("flagged"))
            mark = "[bold red]" if verdict.get("flagged") else ""
            end = "[/]" if mark else ""
            table.add_row(
                escape(dataset), escape(comparison), mark + escape(str(verdict.get("verdict"))) + end
            )
            report["datasets"].append({"dataset": dataset, "comparison": comparison, "rows": rows})
        console.print(table)
        if json_out is not None:
            # NaN p-values / effects (a column empty on one side) become null, as in to_dict()
            _write_json(json_out, json.dumps(jsonable(report), indent=2, default=str, allow_nan=False))
        if not any(rows and "error" not in rows[-1] for _, _, rows in results):
            raise MlbenchError(
                f"no dataset of {suite} could be checked (the table above says why); fix the datasets "
                "and check again"
            )
        raise typer.Exit(EXIT_JOBS_FAILED if flagged else EXIT_OK)
    if train is None or new is None:
        raise ConfigError(
            "give TRAIN and NEW files (e.g. `mlbench check train.csv new.csv --target y`) or --suite FILE"
        )
    kind_a, data_a, labels_a = run_drift.load_sample(train)
    kind_b, data_b, labels_b = run_drift.load_sample(new)
    if kind_a != kind_b:
        raise drift.DriftInputError(
            f"{train} holds {kind_a}s but {new} holds {kind_b}s; compare like with like"
        )
    try:
        if kind_a == "image":
            result = drift.compare_images(
                data_a,
                data_b,
                labels_a,
                labels_b,
                alpha=alpha,
                permutations=permutations,
                max_rows=max_rows,
                seed=seed,
            )
        else:
            result = drift.compare(
                data_a, data_b, target, alpha=alpha, permutations=permutations, max_rows=max_rows, seed=seed
            )
    except drift.DriftInputError as exc:
        raise drift.DriftInputError(f"{train} vs {new}: {exc}") from None
    shown = result.table()
    shown = shown[shown["flagged"]] if shown["flagged"].any() else shown.head(10)
    title = f"{train} vs {new}: " + ("flagged" if result.flagged else "top checks, none flagged")
    console.print(_check_table(shown, title))
    console.print(escape(result.verdict))
    if result.steps:
        # what the table pipeline did before comparing: the same steps a run takes
        console.print("Data (as in a run):")
        for step in result.steps:
            console.print(escape(f"- {step}"))
    if json_out is not None:
        _write_json(json_out, json.dumps(result.to_dict(), indent=2, allow_nan=False))
    raise typer.Exit(EXIT_JOBS_FAILED if result.flagged else EXIT_OK)


def _json_target(value: Path | None) -> Path | None:
    """``check --json``'s file, checked before the checks run: not empty, not a folder, its folder made."""
    from mlbench.outputs import output_option, prepare_parent, show_path

    path = output_option(value, "--json")
    if path is None:
        return None
    if path.is_dir():
        raise MlbenchError(
            f"--json {show_path(path)} is a folder; give a file name, e.g. {show_path(path / 'check.json')}"
        )
    return prepare_parent(path)


def _write_json(path: Path, text: str) -> None:
    from mlbench.outputs import write_error

    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise write_error(path, exc, hint="give --json a path you can write to") from None


#: How the check table names what each row tested (the full names are in ``--json``).
_CHECK_TESTS = {"domain classifier (permutation)": "classifier", "MMD (Gaussian kernel, permutation)": "MMD"}
_CHECK_ROWS = {"label": "(label)", "domain": "(all features)", "mmd": "(embeddings)"}


def _check_table(shown: Any, title: str) -> Any:
    """The rows of ``mlbench check`` as a table that fits 80 columns without breaking words.

    One column per fact, no vertical rules, short test names; only a feature name longer than
    the room left is folded (a name has no spaces to wrap at).
    """
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    rows = shown.to_dict("records")
    names = [
        str(r["feature"]) if r["check"] in ("feature", "bbsd") else _CHECK_ROWS.get(str(r["check"]), "")
        for r in rows
    ]
    table = Table(
        title=escape(title), box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True, title_justify="left"
    )
    widest = max([len(n) for n in names] + [len("feature")])
    table.add_column("feature", overflow="fold", min_width=min(widest, 24))
    table.add_column("test", no_wrap=True)
    table.add_column("p corr.", justify="right", no_wrap=True)
    table.add_column("effect", justify="right", no_wrap=True)
    table.add_column("measure", no_wrap=True)
    table.add_column("flag", no_wrap=True)
    for rec, name in zip(rows, names, strict=True):
        table.add_row(
            escape(name),
            escape(_CHECK_TESTS.get(str(rec["test"]), str(rec["test"]))),
            f"{rec['p_corrected']:.3g}",
            f"{rec['effect']:.3g}",
            escape(str(rec["effect_name"])),
            "[bold red]yes[/]" if rec["flagged"] else "no",
        )
    table.caption = "p corr.: Holm across features, then Bonferroni across checks; raw p-values in --json"
    table.caption_justify = "left"
    return table


class _What(str, Enum):
    models = "models"
    datasets = "datasets"
    metrics = "metrics"


@app.command(name="list")
def list_(what: Annotated[_What, typer.Argument(help="models, datasets or metrics.")]) -> None:
    """List the registered models, builtin datasets or metrics."""
    if what is _What.models:
        from mlbench.models import MODELS

        for name in MODELS.names():
            info = MODELS.get(name)
            typer.echo(f"{name:<22} {'/'.join(info.task_types):<27} {info.description}")
    elif what is _What.datasets:
        from mlbench.datasets import BUILTIN_NAMES, SOURCE_KEYS

        typer.echo("builtin datasets: " + ", ".join(BUILTIN_NAMES))
        typer.echo("dataset sources:  " + ", ".join(SOURCE_KEYS))
    else:
        from mlbench.metrics import METRICS

        for name in METRICS.names():
            m = METRICS.get(name)
            typer.echo(
                f"{name:<20} {m.task_type:<15} {'higher' if m.greater_is_better else 'lower'} is better"
            )


class _Format(str, Enum):
    csv = "csv"
    parquet = "parquet"


@app.command()
def export(
    run_dir: Annotated[Path, typer.Argument(help="A run's output folder.")],
    format: Annotated[_Format, typer.Option("--format", "-f", help="csv or parquet.")] = _Format.csv,
    out: Annotated[str | None, typer.Option(help="Output file (default: RUN_DIR/results.FORMAT).")] = None,
) -> None:
    """Export the latest result of every job as CSV or Parquet."""
    from mlbench.outputs import output_option
    from mlbench.reader import open_run

    target = output_option(out, "--out") or Path(run_dir) / f"results.{format.value}"
    run = open_run(run_dir)
    typer.echo(str(run.export(target, format.value)))
    from mlbench.report.build import prediction_warnings

    consequence = (
        "the results table is exported but ensembles and the report cannot use those jobs' predictions"
    )
    for message in prediction_warnings(run.prediction_problems(), consequence=consequence):
        _err(f"warning: {message}")


def main() -> None:
    """Console entry point: our errors become a message and exit code 2, never a traceback."""
    # At exit every file is closed (store, report, exports); the interpreter's last garbage
    # collection over everything a run imported (pandas, scipy, matplotlib, sklearn) then takes
    # about 0.3 s and frees nothing the OS would not. An exit handler skips it, and only at exit:
    # a caller that runs main() in-process and carries on keeps its garbage collector.
    atexit.register(_skip_final_collection)
    _main()


def _skip_final_collection() -> None:
    gc.disable()
    gc.freeze()


def _main() -> None:
    try:
        code = app(standalone_mode=False)
    except MlbenchError as exc:
        _err(f"error: {exc}")
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        _err("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:
        # click's usage errors (typer vendors click, so match on behaviour, not on the class)
        show = getattr(exc, "show", None)
        if callable(show) and isinstance(getattr(exc, "exit_code", None), int):
            show()
            sys.exit(EXIT_USAGE if exc.exit_code else EXIT_OK)
        if type(exc).__name__ == "Abort":
            sys.exit(EXIT_INTERRUPTED)
        raise
    sys.exit(code if isinstance(code, int) else EXIT_OK)


if __name__ == "__main__":
    main()
