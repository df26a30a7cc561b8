"""Tuning (``tune:`` on a model entry): budgets, honesty, storage, determinism, bad input.

Real Optuna studies on sklearn datasets, run by the real coordinator and worker processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlbench import open_run
from mlbench.errors import ConfigError
from mlbench.pipeline import run_suite
from mlbench.suite import load_suite

PLUGINS = Path(__file__).parent / "plugins"


def _run(tmp_path: Path, text: str, name: str = "suite.yaml", out: str = "out", workers: int = 1):
    path = tmp_path / name
    path.write_text(text)
    suite = load_suite(path, output=tmp_path / out)
    outcome = run_suite(suite, workers=workers, write_report=False)
    return suite, outcome, open_run(tmp_path / out)


def test_trials_runs_exactly_that_many_trials_pruned_ones_counted(tmp_path: Path) -> None:
    # xgboost reports its score every tenth of its boosting rounds, so the median pruner is on
    _, outcome, run = _run(
        tmp_path,
        "resampling: {kind: holdout}\n"
        "datasets: [{builtin: breast_cancer}]\n"
        "models:\n"
        "  - xgboost: {n_estimators: 40, tune: {trials: 20, space: {learning_rate: {float: [0.001, 0.5], log: true},"
        " max_depth: {int: [1, 6]}}}}\n",
    )
    assert outcome.all_ok
    results = run.results()
    trials = run.trials()
    assert len(trials) == 20
    assert sorted(trials["number"]) == list(range(20))
    assert int(results["n_trials"].iloc[0]) == 20
    assert set(trials["state"]) == {"complete", "pruned"}  # pruned trials are among the 20
    # pruning reported per step: every trial has intermediate values at rounds 4, 8, ...
    assert all(min(d) == 4 for d in trials["intermediate"])
    best = json.loads(results["best_params_json"].iloc[0])
    complete = trials[trials["state"] == "complete"]
    top = complete.loc[complete["value"].idxmax()]
    assert best == top["params"]
    assert results["tune_best_value"].iloc[0] == pytest.approx(top["value"])


def test_seconds_stops_within_the_budget_plus_one_trial(tmp_path: Path) -> None:
    # each trial sleeps 0.2-0.3 s: 1000 trials cannot finish in 5 s, so the time limit ends the study
    _, outcome, run = _run(
        tmp_path,
        f"plugins: [{PLUGINS / 'faulty.py'}]\n"
        "resampling: {kind: holdout}\n"
        "datasets: [{builtin: wine}]\n"
        "models:\n"
        "  - sleeps: {tune: {trials: 1000, seconds: 5, space: {seconds: {float: [0.2, 0.3]}}}}\n",
    )
    assert outcome.all_ok
    trials = run.trials().sort_values("number")
    n = len(trials)
    assert 5 <= n < 1000
    starts = [datetime.fromisoformat(s) for s in trials["started_at"]]
    since_first = [(s - starts[0]).total_seconds() for s in starts]
    # Optuna starts a trial only while the study is under its timeout ...
    assert since_first[-1] < 5.0
    # ... so the stored trial times account for the budget: all trials but the last fit in it
    assert trials["seconds"].iloc[:-1].sum() < 5.0
    # and the study stopped because the time ran out (not before): the last trial ended past it,
    # less the time before the first trial started (loading and the sampler, well under 0.5 s)
    assert since_first[-1] + trials["seconds"].iloc[-1] > 4.5
    assert run.results()["tune_seconds"].iloc[0] < 5.0 + trials["seconds"].max() + 0.5


def _write_id_csv(path: Path, n: int = 120) -> None:
    """A two-class table whose first feature is the row number (what the probe records).

    Not named `id`: the loader drops ID-like columns.
    """
    rng = np.random.default_rng(0)
    y = np.arange(n) % 2
    frame = pd.DataFrame(
        {"rowno": np.arange(n), "x1": rng.normal(size=n) + y, "x2": rng.normal(size=n), "y": y}
    )
    frame.to_csv(path, index=False)


@pytest.mark.parametrize(
    ("val", "size"), [("holdout", 1.0), ("cross_fit", 1.0), ("holdout", 0.5), ("cross_fit", 0.5)]
)
def test_the_test_fold_never_reaches_a_trial(tmp_path: Path, val: str, size: float) -> None:
    # and on a train-size subset, no trial uses a row outside the job's own training rows
    _write_id_csv(tmp_path / "ids.csv")
    log = tmp_path / "probe.jsonl"
    inner = ", inner_folds: 3" if val == "cross_fit" else ""
    _, outcome, run = _run(
        tmp_path,
        f"plugins: [{PLUGINS / 'probe.py'}]\n"
        "baseline: false\n"  # the probe's own jobs only
        f"resampling: {{kind: kfold, folds: 3, val: {val}{inner}}}\n"
        f"sweep: {{train_sizes: [{size}]}}\n"
        "datasets: [{csv: ids.csv, target: y}]\n"
        "models:\n"
        f"  - probe: {{log: {log}, tune: {{trials: 6, space: {{alpha: {{float: [0.1, 1.0]}}}}}}}}\n",
    )
    assert outcome.all_ok
    results = run.results().sort_values("fold")
    assert len(results) == 3
    events = [json.loads(line) for line in log.read_text().splitlines()]
    k = 3 if val == "cross_fit" else 1
    # workers=1: the three jobs ran one after another, each writing its own block of events
    fits = [i for i, e in enumerate(events) if e["op"] == "fit"]
    assert len(fits) == 3 * (6 * k + k)  # trials x evaluation folds, then the refit
    for job_no, row in enumerate(results.itertuples()):
        arrays = run.predictions(row.job_id)
        test_ids = set(arrays["test_index"].tolist())
        train_ids = set(arrays["train_index"].tolist())
        assert test_ids and not test_ids & train_ids
        block_fits = fits[job_no * (7 * k) : (job_no + 1) * (7 * k)]
        block_end = fits[(job_no + 1) * 7 * k] if job_no < 2 else len(events)
        trial_part = events[block_fits[0] : block_fits[6 * k]]
        refit_part = events[block_fits[6 * k] : block_end]
        for event in trial_part:
            # no trial fits or scores a test row, and every row it uses is a training row
            assert not set(event["ids"]) & test_ids
            assert set(event["ids"]) <= train_ids
        trial_fits = [e for e in trial_part if e["op"] == "fit"]
        trial_scored = [e for e in trial_part if e["op"] == "predict"]
        if val == "holdout":
            # scored on the validation split (its part inside the training rows), fitted on the rest
            val_ids = set(arrays["val_index"].tolist()) & train_ids
            assert len(val_ids) >= 2
            assert all(set(e["ids"]) == val_ids for e in trial_scored)
            assert all(not set(e["ids"]) & val_ids for e in trial_fits)
        else:
            # each inner fold scores rows its own fit left out
            assert all(
                not set(f["ids"]) & set(s["ids"]) for f, s in zip(trial_fits, trial_scored, strict=True)
            )
        # the test rows are predicted only after the refit, once per fitted model
        test_preds = [e for e in refit_part if e["op"] == "predict" and set(e["ids"]) == test_ids]
        assert len(test_preds) == k


TWICE = (
    "resampling: {kind: kfold, folds: 3}\n"
    "datasets: [{builtin: wine}]\n"
    "models:\n"
    "  - knn\n"
    "  - knn: {tune: {trials: 8}}\n"
    "  - xgboost: {n_estimators: 30}\n"
    "  - xgboost: {n_estimators: 30, tune: {trials: 6, space: {max_depth: {int: [2, 6]},"
    " learning_rate: {float: [0.01, 0.3], log: true}}}}\n"
)


@pytest.fixture(scope="module")
def twice(tmp_path_factory):
    """The same tuning suite run twice (1 worker), into two run folders."""
    root = tmp_path_factory.mktemp("twice")
    return _run(root, TWICE, out="a")[2], _run(root, TWICE, out="b")[2]


def test_same_seed_same_suite_gives_identical_best_params_and_scores(twice) -> None:
    first, second = twice
    cols = ["job_id", "model", "fold", "best_params_json", "n_trials", "test_accuracy", "test_log_loss"]
    a, b = (r.results()[cols].sort_values("job_id").reset_index(drop=True) for r in (first, second))
    assert a["best_params_json"].notna().sum() == 6
    pd.testing.assert_frame_equal(a, b)
    ta, tb = (r.trials()[["job_id", "number", "params", "value", "state"]] for r in (first, second))
    pd.testing.assert_frame_equal(ta.reset_index(drop=True), tb.reset_index(drop=True))


def test_report_dict_has_default_vs_tuned_history_and_importances(twice) -> None:
    from mlbench.report.build import summarize_run

    run = twice[0]
    (ds,) = summarize_run(run)["datasets"]
    tuning = ds["tuning"]
    assert tuning["metric"] == "accuracy" and tuning["greater_is_better"] is True
    pairs = {p["tuned"]: p for p in tuning["pairs"]}
    defaults = {"knn(tuned)": "knn", "xgboost(n_estimators=30, tuned)": "xgboost(n_estimators=30)"}
    assert set(pairs) == set(defaults)
    results = run.results()
    for tuned, pair in pairs.items():
        assert pair["default"] == defaults[tuned]
        assert pair["n_folds"] == 3 and pair["wins"] + pair["losses"] + pair["ties"] == 3
        fold_scores = {
            m: results[results["model"] == m].sort_values("fold")["test_accuracy"].to_numpy()
            for m in (tuned, pair["default"])
        }
        diff = fold_scores[tuned] - fold_scores[pair["default"]]
        assert pair["diff_mean"] == pytest.approx(diff.mean())
        assert pair["ci_low"] <= pair["diff_mean"] <= pair["ci_high"]
        assert pair["mean_trials"] == (8 if tuned.startswith("knn") else 6)
    best = tuning["best"]
    assert best in pairs
    # chosen on validation values (the studies' best), not on the test folds it is reported on
    assert tuning["best_by"] == "best validation accuracy"
    by_val = results[results["model"].isin(list(pairs))].groupby("model")["tune_best_value"].mean()
    assert best == by_val.idxmax()
    history = tuning["history"]
    assert len(history["folds"]) == 3
    for curve in history["folds"]:
        values = [v for v in curve if v is not None]
        assert values == sorted(values)  # best-so-far of a metric to maximise never falls
    importances = tuning["importances"]
    assert importances and sum(importances.values()) == pytest.approx(1.0)
    assert set(importances) <= set(
        json.loads(results.loc[results["model"] == best, "best_params_json"].iloc[0])
    )
    assert len(tuning["best_params"]) == 3
    html = (run.report(run.path / "report.html")).read_text()
    assert 'id="tuning"' in html and "optimisation history" in html


def test_report_tuning_table_names_its_columns_and_shows_the_tuned_parameters(twice) -> None:
    import re

    run = twice[0]
    html = (run.report(run.path / "report-tuning.html")).read_text()
    table = html[
        html.index('<table class="tuning') : html.index("</table>", html.index('<table class="tuning'))
    ]
    head = [re.sub(r"<[^>]+>", "", h).strip() for h in re.findall(r"<th[^>]*>(.*?)</th>", table)]
    # once "tuned | default | default | tuned": every header says what its column holds
    assert head[:4] == ["tuned model", "default model", "default test accuracy", "tuned test accuracy"]
    assert len(set(head)) == len(head) and "tuned parameters" in head
    results = run.results()
    for label in ("knn(tuned)", "xgboost(n_estimators=30, tuned)"):
        chosen = [json.loads(t) for t in results.loc[results["model"] == label, "best_params_json"]]
        for name in chosen[0]:
            assert f"<code>{name}=" in table  # each tuned parameter, with the value(s) the folds chose
        values = {json.dumps(c["n_neighbors"]) for c in chosen} if label == "knn(tuned)" else set()
        for v in values:
            assert v in table
    # and one sentence per pair, from its row of the table
    from mlbench.report.build import summarize_run
    from mlbench.report.sentences import tuning_sentence

    (ds,) = summarize_run(run)["datasets"]
    for pair in ds["tuning"]["pairs"]:
        assert pair["sentence"] == tuning_sentence(pair, "accuracy") and pair["sentence"] in html


def test_paired_fold_interval_covers_at_its_level_under_its_assumption() -> None:
    """The corrected resampled t over paired fold differences, checked by simulation.

    Its assumption: normal fold differences whose correlation (from overlapping training sets) is
    n_test / (n_train + n_test). Under exactly that, the interval covers at its level; with
    independent differences it is conservative.
    """
    from mlbench.analysis.intervals import corrected_t_interval

    rng = np.random.default_rng(0)
    folds, n_test, n_train, true = 5, 30.0, 120.0, 0.02
    rho = n_test / (n_train + n_test)
    cov = np.full((folds, folds), rho) + np.eye(folds) * (1 - rho)
    hits_corr = hits_iid = 0
    sims = 3000
    for _ in range(sims):
        corr = true + 0.03 * rng.multivariate_normal(np.zeros(folds), cov)
        iid = true + 0.03 * rng.normal(size=folds)
        lo, hi = corrected_t_interval(corr, n_test, n_train)
        hits_corr += lo <= true <= hi
        lo, hi = corrected_t_interval(iid, n_test, n_train)
        hits_iid += lo <= true <= hi
    assert 0.935 <= hits_corr / sims <= 0.965
    assert hits_iid / sims >= 0.95


def test_tuned_model_is_its_own_job_with_a_tuned_label(tmp_path: Path) -> None:
    plain = tmp_path / "plain.yaml"
    plain.write_text("baseline: false\ndatasets: [{builtin: wine}]\nmodels: [knn]\n")
    both = tmp_path / "both.yaml"
    both.write_text(
        "baseline: false\ndatasets: [{builtin: wine}]\nmodels: [knn, {knn: {tune: {trials: 3}}}]\n"
    )
    plain_jobs = load_suite(plain).expand()
    jobs = load_suite(both).expand()
    assert [m.label for m in load_suite(both).models] == ["knn", "knn(tuned)"]
    untuned = [j for j in jobs if j.tune is None]
    tuned = [j for j in jobs if j.tune is not None]
    # adding a tuned entry leaves the untuned jobs' ids (and so the resume of old runs) alone
    assert [j.job_id for j in untuned] == [j.job_id for j in plain_jobs]
    assert not {j.job_id for j in tuned} & {j.job_id for j in untuned}
    assert all(j.tune["trials"] == 3 and j.tune["timeout"] == pytest.approx(0.8 * 3600) for j in tuned)


def test_seconds_are_capped_by_the_job_budget(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "datasets: [{builtin: wine}]\nmodels: [{knn: {tune: {seconds: 500}}}]\nbudget: {job_seconds: 100}\n"
    )
    job = load_suite(path).expand()[0]
    assert job.tune["timeout"] == pytest.approx(80.0)
    assert job.tune["trials"] is None


BAD = [
    (
        "space: {n_neigbors: {int: [1, 5]}}",
        "unknown parameter 'n_neigbors'",
        "Did you mean 'n_neighbors'",
        (5, 26),
    ),
    ("space: {n_neighbors: {int: [9, 2]}}", "low 9 > high 2", "write [2, 9]", (5, 45)),
    ("space: {p: {float: [0, 2], log: true}}", "log: true needs positive bounds", "raise the low", (5, 50)),
    ("space: {weights: [uniform]}", "categorical 'weights' has 1 value", "at least two", (5, 35)),
    ("trials: 0", "trials must be a whole number >= 1", "got 0", (5, 26)),
    ("trails: 5", "unknown tune option 'trails'", "trials", (5, 18)),
    ("sampler: grid", "sampler must be one of tpe, random", "grid", (5, 27)),
    ("metric: acuracy", "unknown metric 'acuracy'", "accuracy", (5, 26)),
    ("space: {n_neighbors: {int: [1, 5]}}", "'n_neighbors' is both set and tuned", "remove it", (5, 42)),
    # values the estimator refuses, known from the family's param_bounds (issue 21)
    (
        "space: {n_neighbors: {int: [-5, 0]}}",
        "'n_neighbors' of knn must be at least 1, and the range [-5, 0] lies outside it",
        "use a range from 1",
        (5, 45),
    ),
    ("space: {n_neighbors: {int: [0, 9]}}", "starts at 0", "raise the low bound to 1", (5, 45)),
    ("space: {n_neighbors: {float: [1, 9]}}", "takes whole numbers", "{int: [LOW, HIGH]}", (5, 47)),
    ("space: {p: [1, 2, 0]}", "'p' of knn must be above 0, and the choice 0 is not", "remove it", (5, 36)),
]


@pytest.mark.parametrize(("tune", "needle", "fix", "where"), BAD, ids=[b[1][:30] for b in BAD])
def test_bad_tune_input_is_a_located_error_before_any_job(
    tmp_path: Path, tune: str, needle: str, fix: str, where: tuple[int, int]
) -> None:
    fixed = "n_neighbors: 3, " if "both set" in needle else ""
    path = tmp_path / "suite.yaml"
    path.write_text(f"datasets:\n  - builtin: wine\nmodels:\n  - knn\n  - knn: {{{fixed}tune: {{{tune}}}}}\n")
    with pytest.raises(ConfigError) as info:
        load_suite(path)
    messages = info.value.messages
    assert len(messages) == 1, messages
    message = messages[0]
    # the line and column of the offending key or value
    assert message.startswith(f"{path}:{where[0]}:{where[1]}: "), message
    assert needle in message and fix in message, message
    assert not (tmp_path / "reports").exists()


def test_bad_tune_positions_point_into_the_block(tmp_path: Path) -> None:
    path = tmp_path / "suite.yaml"
    path.write_text(
        "datasets: [{builtin: wine}]\n"
        "models:\n"
        "  - xgboost:\n"
        "      tune:\n"
        "        trials: 5\n"
        "        space:\n"
        "          max_depth: {int: [8, 2]}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_suite(path)
    (message,) = info.value.messages
    assert message.startswith(f"{path}:7:"), message
    assert "models[0].xgboost.tune.space.max_depth.int" in message


def test_without_optuna_a_tuning_suite_fails_before_any_job_with_the_install_hint(tmp_path: Path) -> None:
    # a real interpreter in which `import optuna` fails, as when the extra is not installed
    blocker = tmp_path / "blocker" / "optuna"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('No module named optuna')\n")
    suite = tmp_path / "suite.yaml"
    suite.write_text("datasets: [{builtin: wine}]\nmodels: [knn, {knn: {tune: {trials: 3}}}]\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "blocker"), os.getcwd()])}
    res = subprocess.run(
        [sys.executable, "-m", "mlbench.cli", "run", str(suite), "--output", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert res.returncode == 2, res.stderr
    assert "install mlbench[tune]" in res.stderr
    assert f"{suite}:2:" in res.stderr
    assert not (tmp_path / "out").exists()
    # a suite that does not tune still runs without optuna
    plain = tmp_path / "plain.yaml"
    plain.write_text("datasets: [{builtin: wine}]\nmodels: [knn]\n")
    res = subprocess.run(
        [sys.executable, "-m", "mlbench.cli", "validate", str(plain)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert res.returncode == 0, res.stderr


def test_dry_run_shows_the_budget_per_job_and_the_bound_on_fits(tmp_path: Path) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "baseline: false\n"
        "resampling: {kind: kfold, folds: 3}\n"
        "datasets: [{builtin: wine}, {builtin: iris}]\n"
        "models: [knn, {knn: {tune: {trials: 10, seconds: 60}}}, {xgboost: {tune: {seconds: 30}}}]\n"
        "budget: {job_seconds: 600}\n"
    )
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlbench.cli",
            "run",
            str(suite),
            "--dry-run",
            "--output",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert "tune knn(tuned): 10 trials or 60 s per job" in res.stdout
    assert "at most 11 fits per job" in res.stdout
    assert "tune xgboost(tuned): no trial limit or 30 s per job" in res.stdout
    # 6 untuned jobs + 6 x 11: a lower bound only, since xgboost tunes by time alone
    assert "total fits: at least 72; no upper bound" in res.stdout

    from mlbench.tuning import describe_budget

    bounded = load_suite(suite).expand()
    lines = describe_budget([j for j in bounded if j.model != "xgboost(tuned)"])
    assert lines[-1].startswith("total fits: at most 72 for 12 jobs")


def test_cross_fit_bound_counts_inner_folds(tmp_path: Path) -> None:
    from mlbench.tuning import fits_per_job

    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "baseline: false\n"
        "resampling: {kind: kfold, folds: 2, val: cross_fit, inner_folds: 3}\n"
        "datasets: [{builtin: wine}]\nmodels: [knn, {knn: {tune: {trials: 4}}}]\n"
    )
    jobs = load_suite(suite).expand()
    assert sorted(fits_per_job(j) for j in jobs) == [3, 3, 15, 15]


def test_no_tuning_no_trials_table(tmp_path: Path) -> None:
    _, _, run = _run(tmp_path, "resampling: {kind: holdout}\ndatasets: [{builtin: wine}]\nmodels: [knn]\n")
    trials = run.trials()
    assert trials.empty and "params" in trials.columns
    assert "best_params_json" not in run.results().columns


def test_deep_models_report_every_epoch_to_the_pruner(tmp_path: Path) -> None:
    _, outcome, run = _run(
        tmp_path,
        "resampling: {kind: holdout}\n"
        "datasets: [{builtin: wine}]\n"
        "models:\n"
        "  - mlp: {epochs: 4, hidden_sizes: [16], tune: {trials: 8, space: {lr: {float: [1.0e-4, 0.1], log: true}}}}\n",
    )
    assert outcome.all_ok
    trials = run.trials()
    assert len(trials) == 8
    for state, steps in zip(trials["state"], trials["intermediate"], strict=True):
        # an epoch's score is reported after it ends; a pruned trial stops at the epoch it was cut
        assert list(steps) == list(range(1, len(steps) + 1))
        assert len(steps) == 4 or state == "pruned"


def test_store_keeps_the_trials_of_each_attempt_and_reads_the_latest(tmp_path: Path) -> None:
    from mlbench.store import Store

    def trial(number: int, value: float | None, state: str) -> dict:
        return {"number": number, "params": {"k": number}, "value": value, "state": state, "seconds": 0.1}

    with Store(tmp_path) as store:
        store.start_run({"suite": "s"})
        store.record({"job_id": "j1", "status": "ok", "tune_trials": [trial(0, 0.5, "complete")]})
        store.record(
            {
                "job_id": "j1",
                "status": "ok",
                "tune_trials": [trial(0, 0.7, "complete"), trial(1, 0.2, "pruned")],
            }
        )
        store.record({"job_id": "j2", "status": "ok"})
    run = open_run(tmp_path)
    assert "tune_trials" not in run.results().columns  # a table of its own, not a column
    trials = run.trials()
    assert list(trials["attempt"]) == [2, 2] and list(trials["number"]) == [0, 1]
    assert list(trials["value"]) == [0.7, 0.2] and trials["params"].iloc[1] == {"k": 1}
    import sqlite3

    with sqlite3.connect(tmp_path / "results.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM tune_trials").fetchone()[0] == 3


def test_a_parameter_set_in_the_entry_is_held_fixed_and_left_out_of_the_default_space(tmp_path: Path) -> None:
    _, outcome, run = _run(
        tmp_path,
        "resampling: {kind: holdout}\ndatasets: [{builtin: wine}]\nmodels:\n  - knn: {n_neighbors: 3, tune: {trials: 4}}\n",
    )
    assert outcome.all_ok
    trials = run.trials()
    assert len(trials) == 4
    assert all("n_neighbors" not in p and p for p in trials["params"])  # the rest is still tuned
    assert json.loads(run.results()["params_json"].iloc[0])["n_neighbors"] == 3


def test_default_vs_tuned_is_compared_at_the_size_with_the_most_rows() -> None:
    # sizes are counts or fractions: 1.0 of 400 rows is larger than a count of 100, though 100 > 1.0
    from mlbench.report.tuning import tuning_sections

    rows = []
    for size, n_train, default, tuned in [(100, 100, 0.70, 0.90), (1.0, 400, 0.95, 0.96)]:
        for fold in range(3):
            for model, score, best in [("knn", default, None), ("knn(tuned)", tuned, "{}")]:
                rows.append(
                    {
                        "job_id": f"{model}-{size}-{fold}",
                        "dataset": "d",
                        "model": model,
                        "status": "ok",
                        "train_size": size,
                        "n_train": n_train,
                        "n_test": 100,
                        "fold": fold,
                        "repeat": 0,
                        "test_accuracy": score + 0.001 * fold,
                        "best_params_json": best,
                        "n_trials": 3 if best else None,
                        "tune_seconds": 1.0 if best else None,
                    }
                )
    (pair,) = tuning_sections(pd.DataFrame(rows), None, {"d": "accuracy"})["d"]["pairs"]
    assert pair["train_size"] == 1.0 and pair["diff_mean"] == pytest.approx(0.01)


def test_a_study_stops_in_time_for_its_refit_within_the_job_budget(tmp_path: Path) -> None:
    # trials of 0.6-0.7 s under budget.job_seconds 6: Optuna's own timeout (80% of it) would start
    # a last trial near 4.8 s and the refit would pass 6 s (the job killed, its trials lost); the
    # study stops while one more trial and the refit still fit
    _, outcome, run = _run(
        tmp_path,
        f"plugins: [{PLUGINS / 'faulty.py'}]\n"
        "resampling: {kind: holdout}\n"
        "budget: {job_seconds: 6}\n"
        "datasets: [{builtin: wine}]\n"
        "models:\n"
        "  - sleeps: {tune: {trials: 1000, space: {seconds: {float: [0.6, 0.7]}}}}\n",
    )
    results = run.results()
    assert outcome.all_ok, results["error"].tolist()
    trials = run.trials()
    assert 2 <= len(trials) < 1000
    assert trials["seconds"].sum() <= 0.8 * 6  # the refit had the rest of the budget


def test_knn_neighbours_are_capped_at_the_rows_a_trial_fits_on(tmp_path: Path) -> None:
    # the family's tuning_caps: uncapped, most draws from [1, 500] exceed the ~20 rows a trial fits
    # on and fail the trial (scikit-learn refuses more neighbours than rows)
    _, outcome, run = _run(
        tmp_path,
        "resampling: {kind: holdout}\ndatasets: [{builtin: wine}]\nsweep: {train_sizes: [24]}\nmodels:\n"
        "  - knn: {tune: {trials: 8, space: {n_neighbors: {int: [1, 500], log: true}}}}\n",
    )
    assert outcome.all_ok
    trials = run.trials()
    assert len(trials) == 8 and set(trials["state"]) == {"complete"}
    assert all(1 <= p["n_neighbors"] < 24 for p in trials["params"])


# -- bad values and empty blocks (issue 21, item 7) ---------------------------------------------


def test_an_empty_tune_block_is_an_error_asking_for_trials_or_seconds(tmp_path: Path) -> None:
    path = tmp_path / "suite.yaml"
    path.write_text("datasets: [wine]\nmodels:\n  - knn:\n      tune:\n  - decision_tree: {tune: null}\n")
    with pytest.raises(ConfigError) as info:
        load_suite(path)
    first, second = info.value.messages
    assert first.startswith(f"{path}:4:") and "models[0].knn.tune: tune is empty" in first
    assert "`tune: {trials: 30}`" in first and "`tune: {seconds: 600}`" in first
    assert second.startswith(f"{path}:5:") and "models[1].decision_tree.tune: tune is empty" in second


def test_every_default_search_space_is_within_its_familys_bounds() -> None:
    from mlbench.models import MODELS
    from mlbench.suite.tune import check_tune

    for name in MODELS.names():
        info = MODELS.get(name)
        for task, space in info.tuning_space.items():
            problems: list[str] = []

            def add(loc: tuple, message: str, key: bool = False, problems: list[str] = problems) -> None:
                problems.append(message)

            tune = check_tune(info, {"space": dict(space)}, {}, ("tune",), add)
            assert problems == [] and tune is not None, (name, task, problems)


def test_failed_trials_log_one_line_each_without_a_traceback(tmp_path: Path) -> None:
    # a metric scikit-learn does not know: every trial that draws it fails when it fits
    path = tmp_path / "suite.yaml"
    path.write_text(
        "resampling: {kind: holdout}\n"
        "datasets: [wine]\n"
        "models:\n"
        "  - knn: {tune: {trials: 8, sampler: random, space: {metric: [euclidean, no_such_metric]}}}\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlbench.cli",
            "run",
            str(path),
            "--output",
            str(tmp_path / "out"),
            "-q",
            "--no-report",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    trials = open_run(tmp_path / "out").trials()
    n_failed = int((trials["state"] == "fail").sum())
    assert 0 < n_failed < len(trials) == 8
    lines = [line for line in done.stderr.splitlines() if "failed with parameters" in line]
    assert len(lines) == n_failed, done.stderr
    assert all("no_such_metric" in line and "because of the following error: " in line for line in lines)
    assert "Traceback" not in done.stderr and "failed with value" not in done.stderr
