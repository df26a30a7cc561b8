"""Tests of the run report: the summary dict's numbers, then the rendered HTML's safety and content."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlbench.reader import open_run
from mlbench.report import render_html, summarize
from mlbench.report.html import fmt_pm, fmt_seconds
from mlbench.store import Store

XSS_MODEL = "<script>alert(1)</script>"
XSS_DATASET = "<img src=x onerror=alert(1)>"
TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "mlbench/execution/job.py", line 10, in run_job\n'
    "    model.fit(X, y)\n"
    '  File "model.py", line 3, in fit\n'
    "    raise ValueError(...)\n"
    "ValueError: Input contains NaN"
)
CLS_METRICS = ["accuracy", "log_loss"]
SECTIONS = ['id="summary"', 'id="overall"', 'id="datasets"', 'id="scaling"', 'id="deep"', 'id="confusion"',
            'id="failures"']  # fmt: skip
REG_METRICS = ["rmse", "r2"]
META = {
    "suite": "quick",
    "started_at": "2025-01-01T10:00:00+00:00",
    "finished_at": "2025-01-01T10:03:05+00:00",
    "status": "finished",
    "primary_metric": {"classification": "accuracy", "regression": "rmse"},
    "metrics": {"classification": CLS_METRICS, "regression": REG_METRICS},
    "versions": {"mlbench": "0.1.0", "python": "3.11"},
    "hardware": {"cpu": "test cpu", "gpus": ["H100"]},
}


def make_results(train_sizes: tuple[float, ...] = (1.0,), seed: int = 0) -> pd.DataFrame:
    """Two datasets x three models x three folds (per train size); one failed job."""
    rng = np.random.default_rng(seed)
    quality = {"knn": 0.80, "xgboost": 0.90, XSS_MODEL: 0.70}
    rows = []
    for dataset, task in [(XSS_DATASET, "classification"), ("diabetes", "regression")]:
        n_full = 120
        for size in train_sizes:
            n_train = int(n_full * size) if size <= 1 else int(size)
            for model, q in quality.items():
                for fold in range(3):
                    # Larger training sets score better, so the learning curve has a shape.
                    boost = 0.05 * np.log2(n_train / n_full + 1)
                    row = {
                        "job_id": f"{dataset}-{model}-{size}-{fold}",
                        "suite": "quick",
                        "dataset": dataset,
                        "task_type": task,
                        "model": model,
                        "params_json": "{}",
                        "fold": fold,
                        "repeat": 0,
                        "train_size": float(size),
                        "n_train": n_train,
                        "n_test": 30,
                        "seed": 0,
                        "status": "ok",
                        "error": None,
                        "fit_seconds": float(rng.uniform(0.01, 2)),
                        "predict_seconds": float(rng.uniform(0.001, 0.1)),
                        "peak_memory_mb": float(rng.uniform(50, 300)),
                        "n_params": None,
                        "device": "cpu",
                        "started_at": "2025-01-01T10:00:01+00:00",
                        "finished_at": "2025-01-01T10:00:02+00:00",
                        "versions": "{}",
                    }
                    noise = rng.normal(0, 0.01)
                    if task == "classification":
                        acc = q + boost + noise
                        row |= {
                            "train_accuracy": min(acc + 0.08, 1.0),
                            "val_accuracy": acc,
                            "test_accuracy": acc,
                            "train_log_loss": 1 - acc,
                            "test_log_loss": 1.2 - acc,
                        }
                    else:
                        rmse = 100 * (1.5 - q) - 10 * boost + 5 * noise
                        row |= {
                            "train_rmse": rmse * 0.6,
                            "test_rmse": rmse,
                            "train_r2": 0.9,
                            "test_r2": 1 - rmse / 100,
                        }
                    rows.append(row)
    df = pd.DataFrame(rows)
    # One failed job: knn on diabetes, fold 2 at the largest size; no metrics.
    failed = (df["dataset"] == "diabetes") & (df["model"] == "knn") & (df["fold"] == 2)
    failed &= df["train_size"] == max(train_sizes)
    metric_cols = [c for c in df.columns if c.startswith(("train_", "val_", "test_")) and c != "train_size"]
    df.loc[failed, metric_cols] = np.nan
    df.loc[failed, ["status", "error", "fit_seconds", "predict_seconds"]] = ["failed", TRACEBACK, None, None]
    return df


@pytest.fixture(scope="module")
def results() -> pd.DataFrame:
    return make_results()


@pytest.fixture(scope="module")
def summary(results: pd.DataFrame) -> dict:
    return summarize(results, META)


@pytest.fixture(scope="module")
def html(summary: dict) -> str:
    return render_html(summary)


def dataset(summary: dict, name: str) -> dict:
    return next(d for d in summary["datasets"] if d["name"] == name)


# --------------------------------------------------------------------------------------------- summary


def test_summary_is_plain_json(summary: dict) -> None:
    text = json.dumps(summary, allow_nan=False)  # no NaN sneaks through: missing numbers are None
    assert json.loads(text) == summary


def test_header(summary: dict, results: pd.DataFrame) -> None:
    h = summary["header"]
    assert h["suite"] == "quick"
    assert h["duration_seconds"] == 185.0
    assert h["n_jobs"] == len(results) == 18
    assert h["status_counts"] == {"ok": 17, "failed": 1}
    assert list(h["status_counts"]) == ["ok", "failed"]  # ok first
    assert h["n_datasets"] == 2 and h["n_models"] == 3
    assert h["hardware"] == {"cpu": "test cpu", "gpus": "H100"}
    assert h["compute_seconds"] == pytest.approx(
        results["fit_seconds"].sum() + results["predict_seconds"].sum()
    )


def test_datasets_sorted_with_task_and_direction(summary: dict) -> None:
    names = [d["name"] for d in summary["datasets"]]
    assert names == sorted(names) == [XSS_DATASET, "diabetes"]
    cls, reg = dataset(summary, XSS_DATASET), dataset(summary, "diabetes")
    assert (cls["task_type"], cls["primary_metric"], cls["greater_is_better"]) == (
        "classification",
        "accuracy",
        True,
    )
    assert cls["direction"] == "higher is better"
    assert cls["other_metrics"] == ["log_loss"]
    assert (reg["primary_metric"], reg["direction"]) == ("rmse", "lower is better")
    assert reg["other_metrics"] == ["r2"]


def test_leaderboard_numbers_match_pandas(summary: dict, results: pd.DataFrame) -> None:
    for name, metric in [(XSS_DATASET, "accuracy"), ("diabetes", "rmse")]:
        ok = results[(results["dataset"] == name) & (results["status"] == "ok")]
        for row in dataset(summary, name)["leaderboard"]:
            part = ok[ok["model"] == row["model"]]
            assert row["test_mean"] == pytest.approx(part[f"test_{metric}"].mean())
            assert row["test_std"] == pytest.approx(part[f"test_{metric}"].std(ddof=1))
            assert row["train_mean"] == pytest.approx(part[f"train_{metric}"].mean())
            assert row["train_std"] == pytest.approx(part[f"train_{metric}"].std(ddof=1))
            assert row["fit_seconds"] == pytest.approx(part["fit_seconds"].mean())
            assert row["predict_seconds"] == pytest.approx(part["predict_seconds"].mean())
            assert row["peak_memory_mb"] == pytest.approx(part["peak_memory_mb"].max())
            other = "log_loss" if metric == "accuracy" else "r2"
            assert row["other_test_means"][other] == pytest.approx(part[f"test_{other}"].mean())
            assert row["n_train"] == 120


def test_leaderboard_order_follows_direction(summary: dict) -> None:
    cls = dataset(summary, XSS_DATASET)["leaderboard"]
    reg = dataset(summary, "diabetes")["leaderboard"]
    # Accuracy: higher first. RMSE: lower first. Same model quality order in both.
    assert [r["model"] for r in cls] == ["xgboost", "knn", XSS_MODEL]
    assert [r["model"] for r in reg] == ["xgboost", "knn", XSS_MODEL]
    assert [r["test_mean"] for r in cls] == sorted((r["test_mean"] for r in cls), reverse=True)
    assert [r["test_mean"] for r in reg] == sorted(r["test_mean"] for r in reg)
    assert [r["rank"] for r in reg] == [1, 2, 3]
    assert [r["best"] for r in reg] == [True, False, False]
    knn = next(r for r in reg if r["model"] == "knn")
    assert (knn["n_ok"], knn["n_jobs"]) == (2, 3)


def test_ties_share_a_rank_and_unscored_models_come_last(results: pd.DataFrame) -> None:
    df = results[results["dataset"] == "diabetes"].copy()
    df.loc[df["model"] == "knn", "test_rmse"] = df.loc[df["model"] == "xgboost", "test_rmse"].to_numpy()
    df.loc[df["model"] == "knn", "status"] = "ok"
    df.loc[df["model"] == XSS_MODEL, ["status", "test_rmse"]] = ["timeout", np.nan]
    board = summarize(df, META)["datasets"][0]["leaderboard"]
    # ties share the average rank; a model without a score at the full size is ranked last
    assert [(r["model"], r["rank"]) for r in board] == [("knn", 1.5), ("xgboost", 1.5), (XSS_MODEL, 3.0)]
    assert [r["best"] for r in board] == [True, True, False]
    assert board[-1]["n_ok"] == 0 and board[-1]["test_mean"] is None and board[-1]["status"] == "timeout"


def test_nullable_dtypes_are_handled(results: pd.DataFrame, summary: dict) -> None:
    df = results.convert_dtypes()  # Int64/Float64/string with pandas.NA instead of NaN/None
    df.loc[df["status"] == "failed", "fold"] = pd.NA
    s = summarize(df, META)
    json.dumps(s, allow_nan=False)
    assert s["datasets"] == summary["datasets"]
    assert s["failures"]["items"][0]["fold"] is None


def test_primary_metric_falls_back_to_first_test_column(results: pd.DataFrame) -> None:
    s = summarize(results, {})  # no meta at all
    assert dataset(s, XSS_DATASET)["primary_metric"] == "accuracy"
    assert dataset(s, "diabetes")["primary_metric"] == "rmse"
    assert dataset(s, "diabetes")["greater_is_better"] is False
    # A configured primary metric without data also falls back.
    meta = {**META, "primary_metric": {"classification": "roc_auc"}}
    assert dataset(summarize(results, meta), XSS_DATASET)["primary_metric"] == "accuracy"


def test_failures_show_the_end_of_a_traceback(summary: dict) -> None:
    f = summary["failures"]
    assert f["total"] == f["shown"] == 1
    item = f["items"][0]
    assert (item["dataset"], item["model"], item["fold"], item["status"]) == ("diabetes", "knn", 2, "failed")
    assert item["error"] == TRACEBACK
    assert item["error_head"].splitlines()[-1] == "ValueError: Input contains NaN"
    assert len(item["error_head"].splitlines()) == 3 and item["error_folded"] is True


def test_plain_error_shows_its_first_lines(results: pd.DataFrame) -> None:
    df = results.copy()
    df.loc[df["status"] == "failed", "error"] = "line 1\nline 2\nline 3\nline 4"
    item = summarize(df, META)["failures"]["items"][0]
    assert item["error_head"] == "line 1\nline 2\nline 3"


def test_learning_curve_with_two_train_sizes() -> None:
    results = make_results(train_sizes=(0.5, 1.0))
    s = summarize(results, META)
    cls = dataset(s, XSS_DATASET)
    assert cls["n_train_sizes"] == [60, 120]
    # The leaderboard uses the largest size only.
    assert {r["n_train"] for r in cls["leaderboard"]} == {120}
    assert all(r["n_jobs"] == 3 for r in cls["leaderboard"])
    curves = {c["model"]: c["points"] for c in cls["scaling"]["curves"]}
    assert set(curves) == {"knn", "xgboost", XSS_MODEL}
    pts = curves["knn"]
    assert [p["n_train"] for p in pts] == [60, 120]
    half = results[
        (results["dataset"] == XSS_DATASET) & (results["model"] == "knn") & (results["train_size"] == 0.5)
    ]
    assert pts[0]["mean"] == pytest.approx(half["test_accuracy"].mean())
    assert pts[0]["ci_low"] < pts[0]["mean"] < pts[0]["ci_high"]
    html = render_html(s)
    assert html.count('class="fig learning-curve"') == 2
    assert html.count('class="fig bar-chart"') == 2


def test_largest_size_is_found_even_if_it_all_failed_without_n_train() -> None:
    results = make_results(train_sizes=(0.5, 1.0))
    lost = (results["model"] == "knn") & (results["train_size"] == 1.0)
    results.loc[lost, ["status", "n_train", "test_accuracy", "test_rmse"]] = ["oom", np.nan, np.nan, np.nan]
    board = dataset(summarize(results, META), XSS_DATASET)["leaderboard"]
    knn = next(r for r in board if r["model"] == "knn")
    # Reported at the full size (where it failed) and ranked last, not silently at the half size.
    assert (knn["train_size"], knn["n_ok"], knn["rank"], knn["status"]) == (1.0, 0, 3.0, "oom")
    assert knn["test_mean"] is None and board[-1]["model"] == "knn"


def test_a_skipped_size_larger_than_the_data_is_not_the_largest() -> None:
    # one sweep shared by datasets of different sizes: 1000 rows does not exist here
    results = make_results(train_sizes=(0.5, 1.0))
    extra = results[results["train_size"] == 1.0].copy()
    extra[["train_size", "status", "n_train", "test_accuracy", "test_rmse"]] = [
        1000.0,
        "skipped",
        np.nan,
        np.nan,
        np.nan,
    ]
    board = dataset(summarize(pd.concat([results, extra]), META), XSS_DATASET)["leaderboard"]
    assert all(r["train_size"] == 1.0 and r["n_ok"] > 0 for r in board)
    assert board[0]["rank"] == 1


# --------------------------------------------------------------------------------------------- HTML


def test_html_has_every_section(html: str, summary: dict) -> None:
    assert html.startswith("<!DOCTYPE html>")
    for marker in [*SECTIONS, 'id="ds-1"', 'id="ds-2"']:
        assert marker in html
    assert html.count('class="leaderboard sortable"') == 2
    # per dataset a bar chart and a Pareto plot; no learning curve with one size, no CD with 2 datasets
    assert html.count("<svg") == 4
    assert "need at least 3 datasets" in html
    assert "3 min 05 s" in html  # wall time in human units
    assert "higher is better" in html and "lower is better" in html
    assert "ValueError: Input contains NaN" in html and "<details>" in html
    top = dataset(summary, XSS_DATASET)["leaderboard"][0]
    assert fmt_pm(top["test_mean"], top["test_std"]) in html


def test_html_escapes_data_strings(html: str) -> None:
    assert "<script>alert(1)" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    # The only <script> is the static sorting helper.
    assert html.count("<script") == 1
    # Inside the SVG the model name is escaped text (a <text> element, or an XML comment beside
    # matplotlib's glyph paths).
    svgs = re.findall(r"<svg\b.*?</svg>", html, flags=re.S)
    assert any("&lt;script&gt;alert(1)&lt;/script&gt;" in svg for svg in svgs)


def test_html_fetches_nothing(html: str) -> None:
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html, flags=re.I)
    assert not re.search(r"@import|url\(\s*['\"]?(?:https?:)?//", html, flags=re.I)
    # Any absolute URL left is an XML namespace declaration, which is an identifier, not a fetch.
    for url in re.findall(r"https?://[^\s\"'<>]+", html):
        assert url.startswith("http://www.w3.org/"), url


def test_svg_ids_are_unique_across_figures(html: str) -> None:
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids))
    refs = set(re.findall(r'href="#([^"]+)"', html)) | set(re.findall(r"url\(#([^)]+)\)", html))
    assert refs <= set(ids)  # every internal reference still resolves
    assert "<?xml" not in html and "<!DOCTYPE svg" not in html


def test_empty_run_renders() -> None:
    s = summarize(pd.DataFrame(), {"suite": "nothing yet", "status": "running"})
    json.dumps(s, allow_nan=False)
    assert s["datasets"] == [] and s["failures"]["total"] == 0 and s["header"]["n_jobs"] == 0
    html = render_html(s)
    assert "nothing yet" in html and "No results" in html and "<svg" not in html


def test_all_failed_run_renders(results: pd.DataFrame) -> None:
    df = results.copy()
    df["status"] = "timeout"
    df["error"] = "job exceeded 600 s"
    s = summarize(df, META)
    assert all(d["primary_metric"] is None for d in s["datasets"])
    assert s["failures"]["total"] == len(df)
    html = render_html(s)
    assert "nothing to rank" in html and "job exceeded 600 s" in html and "<svg" not in html


def test_formatting() -> None:
    assert fmt_pm(0.97333, 0.01214) == "0.9733 ± 0.0121"
    assert fmt_pm(53.214, 2.049) == "53.21 ± 2.05"
    assert fmt_pm(0.5, None) == "0.5000" and fmt_pm(None, None) == "–"
    assert fmt_seconds(0.0123) == "12.3 ms"
    assert fmt_seconds(4.2) == "4.20 s"
    assert fmt_seconds(185) == "3 min 05 s"
    assert fmt_seconds(7620) == "2 h 07 min"


def test_import_is_cheap() -> None:
    code = (
        "import sys, mlbench.report; print(any(m in sys.modules for m in ('matplotlib', 'jinja2', 'pandas')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_write_report_from_a_store(tmp_path: Path, results: pd.DataFrame) -> None:
    from mlbench import store as store_mod
    from mlbench.report import write_report

    run_dir = tmp_path / "quick"
    with store_mod.Store(run_dir) as store:
        run_id = store.start_run(
            {
                "suite": "quick",
                "suite_path": "suites/quick.yaml",
                "primary_metric": "accuracy",
                "metrics": ["accuracy", "log_loss", "rmse", "r2"],
                "versions": {"mlbench": "0.1.0"},
                "hardware": {"cpu": "test cpu"},
            }
        )
        for i, rec in enumerate(results.to_dict("records")):
            # The store wants file-name-safe job ids; the dataset/model names stay hostile.
            row = {k: v for k, v in rec.items() if not (isinstance(v, float) and np.isnan(v))}
            store.record(row | {"job_id": f"job{i:03d}"})
        store.finish_run(run_id, "finished")

    path = write_report(open_run(run_dir))
    assert path == run_dir / "index.html" and path.is_file()
    html = path.read_text(encoding="utf-8")
    assert "<script>alert(1)" not in html and html.count("<svg") == 4
    assert "quick" in html and "test cpu" in html and "ValueError: Input contains NaN" in html
    assert "lower is better" in html  # rmse stays the regression primary metric via the fallback
    assert not list(run_dir.glob(".index.html.*"))  # no temp file left behind

    other = write_report(open_run(run_dir), tmp_path / "out" / "report.html")
    assert other.read_text(encoding="utf-8") == html  # same data, same bytes: the report is reproducible


# --------------------------------------------------------------------------------------------- comparison report


def many_datasets(n_datasets: int = 4, sizes: tuple[float, ...] = (1.0,), seed: int = 0) -> pd.DataFrame:
    """n classification datasets x 4 models x 3 folds; "strong" always best, "weak" always worst."""
    rng = np.random.default_rng(seed)
    quality = {"strong": 0.95, "mid_a": 0.85, "mid_b": 0.84, "weak": 0.6}
    rows = []
    for d in range(n_datasets):
        for size in sizes:
            n_train = int(400 * size) if size <= 1 else int(size)
            for model, q in quality.items():
                for fold in range(3):
                    acc = (
                        q
                        - 0.4 * (50 / n_train) ** 0.5 * (1.5 if model == "strong" else 1)
                        + rng.normal(0, 0.005)
                    )
                    rows.append(
                        {"job_id": f"d{d}-{model}-{size}-{fold}", "dataset": f"ds{d}", "task_type": "classification",
                         "model": model, "fold": fold, "repeat": 0, "train_size": float(size), "n_train": n_train,
                         "n_test": 100, "status": "ok", "error": None, "fit_seconds": {"strong": 5.0, "mid_a": 0.1}.get(model, 1.0),
                         "predict_seconds": 0.01, "peak_memory_mb": 100.0, "n_params": 1000.0 if model == "strong" else None,
                         "train_accuracy": min(1.0, acc + 0.05), "test_accuracy": acc, "test_log_loss": 1 - acc}
                    )  # fmt: skip
    return pd.DataFrame(rows)


def test_overall_leaderboard_and_tests_with_enough_datasets() -> None:
    s = summarize(many_datasets(4), META)
    json.dumps(s, allow_nan=False)
    o = s["overall"]
    assert o["n_datasets"] == 4 and len(o["groups"]) == 1
    g = o["groups"][0]
    assert g["label"] == "all models" and g["tests"] is True and g["n_datasets"] == 4
    board = {r["model"]: r for r in g["leaderboard"]}
    assert g["leaderboard"][0]["model"] == "strong"
    assert board["strong"]["mean_rank"] == 1.0 and board["strong"]["win_rate"] == 1.0
    assert board["weak"]["mean_rank"] == 4.0 and board["weak"]["mean_normalized_score"] == 0.0
    assert board["strong"]["total_fit_seconds"] == pytest.approx(4 * 3 * 5.0)
    assert 0 <= g["friedman"]["p_value"] < 0.05 and g["friedman"]["n_models"] == 4
    # every dataset orders the models the same way: the Iman-Davenport F is infinite
    assert g["friedman"]["iman_davenport"] is None and g["friedman"]["iman_davenport_p_value"] == 0.0
    assert g["cd"]["cd"] > 0 and g["cd"]["mean_ranks"]["strong"] == 1.0
    # 4 datasets: no Wilcoxon test can reach p < 0.05, so none is run, and the report says why
    assert g["wilcoxon"] == [] and "0.125" in g["wilcoxon_note"] and "6 datasets" in g["wilcoxon_note"]
    html = render_html(s)
    assert 'class="fig cd-diagram"' in html and 'class="wilcoxon sortable"' not in html
    assert "Friedman test over 4 datasets" in html and "Iman–Davenport F(3, 9) = ∞" in html
    assert (
        "ranked last there (normalised score 0, never a win) and left out of the significance tests" in html
    )

    six = summarize(many_datasets(6), META)["overall"]["groups"][0]
    assert len(six["wilcoxon"]) == 6 and six["wilcoxon_note"] is None
    assert {(w["model_a"], w["model_b"]) for w in six["wilcoxon"]} >= {("strong", "weak")}
    assert 'class="wilcoxon sortable"' in render_html(summarize(many_datasets(6), META), plots=False)


def test_failed_model_is_ranked_last_and_left_out_of_the_tests() -> None:
    # strong runs out of memory at the full size of ds0: its half-size score must not count
    results = many_datasets(4, sizes=(200, 400))
    lost = (results["dataset"] == "ds0") & (results["model"] == "strong") & (results["train_size"] == 400)
    results.loc[lost, ["status", "n_train", "test_accuracy", "train_accuracy", "test_log_loss"]] = [
        "oom", np.nan, np.nan, np.nan, np.nan]  # fmt: skip
    s = summarize(results, META)
    ds0 = dataset(s, "ds0")["leaderboard"]
    assert ds0[-1]["model"] == "strong" and ds0[-1]["status"] == "oom" and ds0[-1]["rank"] == 4.0
    assert ds0[-1]["test_mean"] is None and ds0[-1]["train_size"] == 400.0
    g = s["overall"]["groups"][0]
    board = {r["model"]: r for r in g["leaderboard"]}
    assert board["strong"]["n_failed"] == 1 and board["strong"]["win_rate"] == 0.75
    assert g["friedman"]["n_models"] == 3 and "ds0 (oom)" in g["left_out"]["strong"]
    assert "strong" not in g["cd"]["mean_ranks"]
    html = render_html(s)
    assert "Left out of the tests" in html and "ranked last" in html


def test_a_model_that_failed_its_hardest_folds_is_not_ranked_on_its_easy_ones() -> None:
    results = many_datasets(3)
    hard = results["fold"] == 2
    results.loc[hard, ["test_accuracy", "test_log_loss"]] -= [0.3, -0.3]  # fold 2 is hard for everyone
    # "fragile": 0.02 worse than "strong" on every fold, and it fails on the hard one
    fragile = results[results["model"] == "strong"].assign(model="fragile")
    fragile["job_id"] = fragile["job_id"] + "-fragile"
    fragile[["test_accuracy", "train_accuracy"]] -= 0.02
    lost = fragile["fold"] == 2
    fragile.loc[lost, ["status", "error", "test_accuracy", "train_accuracy", "test_log_loss", "n_train"]] = [
        "failed", "RuntimeError: boom", np.nan, np.nan, np.nan, np.nan]  # fmt: skip
    s = summarize(pd.concat([results, fragile], ignore_index=True), META)
    g = s["overall"]["groups"][0]
    board = {r["model"]: r for r in g["leaderboard"]}
    assert g["leaderboard"][0]["model"] == "strong" and board["strong"]["win_rate"] == 1.0
    assert board["fragile"]["mean_rank"] == 2.0 and board["fragile"]["win_rate"] == 0.0
    assert board["fragile"]["n_partial"] == 3 and board["fragile"]["n_failed"] == 0
    ds0 = dataset(s, "ds0")
    rows = {r["model"]: r for r in ds0["leaderboard"]}
    assert (
        rows["strong"]["best"] and rows["fragile"]["rank"] == 2.0 and rows["fragile"]["status"] == "partial"
    )
    # the table's mean is the model's own (easy) folds; the ranks say what they compared
    assert rows["fragile"]["test_mean"] > rows["strong"]["test_mean"]
    assert (
        "2 of 3 folds" in rows["fragile"]["compared_note"]
        and "fragile failed on some folds" in ds0["compared_note"]
    )
    html = render_html(s, plots=False)
    assert "+3 partial" in html and "compared on the folds they all completed" in html


def test_models_that_apply_to_some_datasets_are_ranked_within_their_group() -> None:
    results = many_datasets(4)
    # a CNN that ran on one "image" dataset only, skipped elsewhere, best where it ran
    cnn = results[results["model"] == "strong"].assign(model="cnn")
    cnn["status"] = np.where(cnn["dataset"] == "ds3", "ok", "skipped")
    cnn.loc[cnn["status"] == "skipped", ["test_accuracy", "train_accuracy", "n_train"]] = np.nan
    cnn.loc[cnn["status"] == "ok", "test_accuracy"] = 0.999
    s = summarize(pd.concat([results, cnn], ignore_index=True), META)
    groups = s["overall"]["groups"]
    assert [(g["label"], g["datasets"]) for g in groups] == [
        ("all but cnn", ["ds0", "ds1", "ds2"]),
        ("all models", ["ds3"]),
    ]
    assert "cnn" not in {r["model"] for r in groups[0]["leaderboard"]}
    assert groups[0]["tests"] and not groups[1]["tests"]
    cnn_row = next(r for r in groups[1]["leaderboard"] if r["model"] == "cnn")
    assert cnn_row["n_datasets"] == 1
    skipped = next(r for r in dataset(s, "ds0")["leaderboard"] if r["model"] == "cnn")
    assert (
        skipped["status"] == "skipped"
        and skipped["rank"] is None
        and skipped is dataset(s, "ds0")["leaderboard"][-1]
    )
    html = render_html(s)
    assert "Group 1: all but cnn" in html and "Group 2: all models" in html


def test_single_split_intervals_come_from_the_stored_predictions() -> None:
    # holdout: one fold; the interval is a bootstrap over the test rows of the stored predictions
    results = many_datasets(1)
    results = results[results["fold"] == 0].copy()
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 60)
    preds = {}
    for job, acc in zip(results["job_id"], results["test_accuracy"], strict=True):
        pred = np.where(rng.random(60) < acc, y, (y + 1) % 3)
        proba = np.full((60, 3), 0.1, dtype=np.float32)
        proba[np.arange(60), pred] = 0.8
        preds[job] = {"test_index": np.arange(60), "test_true": y, "test_pred": pred, "test_proba": proba}
        results.loc[results["job_id"] == job, "test_accuracy"] = float((pred == y).mean())
    results["test_log_loss"] = np.nan
    with_preds = summarize(results, META, predictions=preds.__getitem__)
    row = dataset(with_preds, "ds0")["leaderboard"][0]
    assert (
        row["ci_method"] == "bootstrap" and row["test_ci_low"] < row["test_mean"] < row["test_ci_high"] <= 1.0
    )
    assert "percentile bootstrap over 60 test rows" in dataset(with_preds, "ds0")["ci_methods"][0]
    without = summarize(results, META)
    row = dataset(without, "ds0")["leaderboard"][0]
    assert row["ci_method"] == "none" and row["test_ci_low"] is None
    assert "needs the stored predictions" in render_html(without, plots=False)


def test_the_report_table_is_the_analysis_table() -> None:
    from mlbench import analysis

    results = many_datasets(2)
    s = summarize(results, META)
    table = analysis.score_table(results, {"ds0": "accuracy", "ds1": "accuracy"}).set_index(
        ["dataset", "model", "metric"]
    )
    for ds in s["datasets"]:
        for r in ds["leaderboard"]:
            t = table.loc[(ds["name"], r["model"], "accuracy")]
            assert (r["test_mean"], r["test_ci_low"], r["test_ci_high"]) == (
                t["mean"],
                t["ci_low"],
                t["ci_high"],
            )
            o = table.loc[(ds["name"], r["model"], "log_loss")]
            assert (r["other_test"]["log_loss"]["ci_low"], r["other_test"]["log_loss"]["ci_high"]) == (
                o["ci_low"],
                o["ci_high"],
            )


def test_sections_and_values_do_not_import_summarize() -> None:
    import ast

    root = Path(__file__).resolve().parents[1] / "mlbench" / "report"

    def imported(name: str) -> set[str]:
        tree = ast.parse((root / f"{name}.py").read_text(encoding="utf-8"))
        out = set()
        for node in ast.walk(tree):  # function-level (lazy) imports count too
            if isinstance(node, ast.ImportFrom) and node.module:
                out.add(node.module)
            elif isinstance(node, ast.Import):
                out.update(a.name for a in node.names)
        return out

    assert "mlbench.report.summarize" not in imported("sections")
    assert not {m for m in imported("values") if m.startswith("mlbench.report")}
    assert "mlbench.report.sections" in imported("summarize")


def test_per_dataset_ci_gap_cost_and_pareto() -> None:
    # 1,000 times the rows (same n_test / n_train): folds 0.005 apart are plausible for 100,000 test
    # rows; for 100 the rows' own binomial interval is wider and bounds the interval (test_intervals.py)
    results = many_datasets(1).assign(n_test=100_000, n_train=400_000)
    ds = summarize(results, META)["datasets"][0]
    rows = {r["model"]: r for r in ds["leaderboard"]}
    part = results[results["model"] == "strong"]["test_accuracy"]
    # corrected resampled t (Nadeau-Bengio): t(0.975, 2 dof) * sqrt(var * (1/3 + n_test/n_train))
    half = 4.302653 * part.std(ddof=1) * np.sqrt(1 / 3 + 100 / 400)
    assert rows["strong"]["test_ci_low"] == pytest.approx(part.mean() - half, rel=1e-4)
    assert rows["strong"]["test_ci_high"] == pytest.approx(part.mean() + half, rel=1e-4)
    assert rows["strong"]["gap"] == pytest.approx(
        results[results["model"] == "strong"]["train_accuracy"].mean() - part.mean()
    )
    assert rows["strong"]["n_params"] == 1000.0 and rows["weak"]["n_params"] is None
    assert rows["strong"]["ci_method"] == "corrected_t" and "3 folds" in rows["strong"]["ci_note"]
    other = rows["mid_a"]["other_test"]["log_loss"]
    assert other["ci_low"] is not None and other["ci_method"] == "corrected_t"
    # strong: best; mid_a: fastest and second best; mid_b, weak: slower and worse than mid_a.
    assert {m for m, r in rows.items() if r["pareto"]} == {"strong", "mid_a"}
    assert ds["has_params"] is True


def test_scaling_fits_and_crossovers() -> None:
    results = many_datasets(1, sizes=(25, 50, 100, 200, 400))
    sc = summarize(results, META)["datasets"][0]["scaling"]
    assert sc is not None and sc["metric"] == "accuracy" and sc["winner"] == "strong"
    assert {c["model"] for c in sc["curves"]} == {"strong", "mid_a", "mid_b", "weak"}
    fits = {f["model"]: f for f in sc["fits"]}
    assert fits["strong"]["ok"] and fits["strong"]["b"] == pytest.approx(0.5, abs=0.15)
    assert len(fits["strong"]["points"]) > 10
    # strong starts below the mid models (steeper curve) and overtakes them as data grows
    cross = [c for c in sc["crossovers"] if c["key"] and c["better_after"] == "strong"]
    assert cross and all(c["kind"] == "observed" for c in cross)
    assert all(25 <= c["n_cross"] <= 400 and c["value"] is not None for c in cross)
    assert cross[0]["text"].startswith("strong overtakes mid_")
    html = render_html(summarize(results, META))
    assert "strong overtakes" in html and 'class="fig learning-curve"' in html


def test_crossover_text_for_extrapolation() -> None:
    from mlbench.report.sections import crossover_text

    text = crossover_text({"better_after": "cnn", "better_before": "xgboost", "n_cross": 12345.0,
                           "kind": "extrapolated", "n_low": 5000.0, "n_high": 40100.0})  # fmt: skip
    assert text.startswith("cnn would overtake xgboost at n ≈ 12,000")
    assert "extrapolated" in text and "5,000 to 40,000" in text
    assert crossover_text({"better_after": "a", "better_before": "b", "n_cross": 412.0, "kind": "observed",
                           "n_low": 200.0, "n_high": 800.0}) == "a overtakes b at n ≈ 410 (between 200 and 800 rows)"  # fmt: skip


class FakeDataset:
    """What the report reads of a Dataset: y, test_y, classes, n_classes."""

    def __init__(self, y: np.ndarray, classes: list[str]) -> None:
        self.y, self.test_y, self.classes = y, None, np.array(classes, dtype=object)
        self.n_classes = len(classes)


def test_deep_histories_sanity_confusion_and_visuals() -> None:
    results = many_datasets(1)
    history = [{"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.0 / e + 0.01 * e, "lr": 0.1, "seconds": 0.5}
               for e in range(1, 7)]  # fmt: skip
    deep = results["model"] == "strong"
    results["history_json"] = None
    results.loc[deep, "history_json"] = json.dumps(history)
    results["best_epoch"] = np.where(deep, 3, np.nan)
    results["sanity_passed"] = np.where(results["model"] == "weak", 0.0, 1.0)
    results["sanity_score"] = np.where(results["model"] == "weak", 0.5, 1.0)
    y = np.array([0, 1, 2] * 10)
    preds = {}
    for job in results["job_id"]:
        idx = np.arange(10) if job.endswith("-0") else np.arange(12, 22)  # both start at a class-0 row
        pred = y[idx].copy()
        pred[0] = (pred[0] + 1) % 3  # one mistake per job: true 0 -> predicted 1
        preds[job] = {"test_index": idx, "test_pred": pred}
    strong0 = "d0-strong-1.0-0"
    preds[strong0] |= {"viz_filters": np.ones((4, 1, 3, 3)), "viz_images": np.zeros((2, 1, 8, 8)),
                       "viz_activations": np.ones((2, 3, 4, 4)), "viz_mistakes": np.zeros((1, 1, 8, 8)),
                       "viz_mistakes_true": np.array([0]), "viz_mistakes_pred": np.array([1]),
                       "viz_mistakes_conf": np.array([0.9])}  # fmt: skip
    data = FakeDataset(y, [XSS_MODEL, "cat", "dog"])
    s = summarize(results, META, predictions=preds.__getitem__, datasets=lambda name: data)
    json.dumps(s, allow_nan=False)
    ds = s["datasets"][0]
    (h,) = ds["histories"]
    assert h["model"] == "strong" and h["epochs"] == list(range(1, 7)) and h["best_epoch"] == 3
    assert h["stopped_early"] is True and h["val_loss"][0] == pytest.approx(1.01)
    sanity = {r["model"]: r for r in s["sanity"]}
    assert sanity["weak"]["passed"] is False and sanity["strong"]["n_passed"] == 3
    cm = ds["confusion"]
    assert cm["model"] == "strong" and cm["n_jobs"] == 3 and cm["n"] == 30
    assert cm["labels"] == [XSS_MODEL, "cat", "dog"]
    assert cm["matrix"][0][1] == 3 and sum(map(sum, cm["matrix"])) == 30
    v = ds["visuals"]
    assert v["model"] == "strong" and v["mistakes_true"] == [XSS_MODEL] and v["mistakes_pred"] == ["cat"]
    assert np.asarray(v["activations"]).shape == (2, 3, 4, 4)
    html = render_html(s)
    for cls in ("loss-curve", "cnn-filters", "cnn-activations", "cnn-mistakes", "confusion-matrix"):
        assert f'class="fig {cls}' in html or f'class="fig pixels {cls}' in html, cls
    assert 'class="sanity sortable"' in html
    # filters and activations as PNG; the confusion matrix and the mistakes (thumbnails as small
    # PNGs inside) are SVG, shown as pictures too
    assert html.count("data:image/png;base64,") == 2
    assert html.count("data:image/svg+xml;base64,") == 2
    assert "<script>alert(1)" not in html and "true <b>&lt;script&gt;alert(1)&lt;/script&gt;</b>" in html


def test_export_figures_and_comparison(tmp_path: Path) -> None:
    from mlbench import store as store_mod
    from mlbench.report import export_figures, write_comparison

    runs = []
    for name, shift, seed in (("a", 0.0, 0), ("b", 0.05, 1)):
        results = many_datasets(3, sizes=(50, 400), seed=seed)
        results.loc[results["model"] == "weak", "test_accuracy"] += shift
        run_dir = tmp_path / name
        with store_mod.Store(run_dir) as store:
            run_id = store.start_run({"suite": "cmp", "primary_metric": "accuracy", "metrics": ["accuracy"]})
            for rec in results.to_dict("records"):
                store.record({k: v for k, v in rec.items() if not (isinstance(v, float) and np.isnan(v))})
            store.finish_run(run_id, "finished")
        runs.append(open_run(run_dir))
    files = export_figures(runs[0], tmp_path / "figs")
    names = {f.name for f in files}
    assert {"cd_diagram.png", "ds0_learning_curve.png", "ds0_pareto.png", "ds0_scores.png"} <= names
    assert all(f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in files)
    out = write_comparison(runs[0], runs[1], tmp_path / "cmp.html")
    html = out.read_text(encoding="utf-8")
    assert html.count("significantly better in B") == 1 and ">weak<" in html
    # weak gained 0.05 on every dataset: better in B, significantly (noise is 0.005)
    better = re.findall(r'<tr class="better">\s*<td>(ds\d)</td><td class="model">(\w+)</td>', html)
    assert {("ds0", "weak"), ("ds1", "weak"), ("ds2", "weak")} <= set(better)


def test_bar_chart_accepts_a_mean_outside_its_fold_interval() -> None:
    # the bar is the mean over all jobs, the interval over fold means: with unequal repeats per
    # fold (a resumed run) the bar can sit outside the interval
    from mlbench.report import plots

    fig = plots.bar_chart(
        [{"model": "a", "test_mean": 0.90, "test_ci_low": 0.91, "test_ci_high": 0.95}], "accuracy"
    )
    assert fig is not None


def test_comparison_says_when_a_model_failed_at_the_reference_size(tmp_path: Path) -> None:
    from mlbench.report import write_comparison

    runs = []
    for name in ("a", "b"):
        results = many_datasets(3, sizes=(50, 400), seed=0)
        if name == "b":  # weak ran out of memory at the full size in run B
            full = (results["model"] == "weak") & (results["train_size"] == 400)
            results.loc[full, "status"] = "oom"
            results.loc[full, ["test_accuracy", "train_accuracy", "test_log_loss"]] = np.nan
        with Store(tmp_path / name) as store:
            run_id = store.start_run({"suite": "cmp", "primary_metric": "accuracy", "metrics": ["accuracy"]})
            for rec in results.to_dict("records"):
                store.record({k: v for k, v in rec.items() if not (isinstance(v, float) and np.isnan(v))})
            store.finish_run(run_id, "finished")
        runs.append(open_run(tmp_path / name))
    html = write_comparison(runs[0], runs[1], tmp_path / "cmp.html").read_text(encoding="utf-8")
    assert html.count("B: oom at the reference size") == 3  # once per dataset, never a half-size score
    assert "A: " not in html


def test_ensembles_section_compares_with_the_best_single_model_chosen_on_validation() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for size, n_train in ((50.0, 50), (1.0, 400)):
        for fold in range(5):
            base = 0.85 + rng.normal(0, 0.02)
            # at 50 rows combining does not help; at the full size it gains 0.05 on every fold
            gain = 0.0 if size == 50.0 else 0.05
            for model, test, val in (
                ("strong", base, 0.86),
                ("weak", base - 0.1, 0.76),
                ("ens", base + gain, 0.9),
            ):
                rows.append(
                    {"job_id": f"{model}{size}{fold}", "dataset": "d", "task_type": "classification", "model": model,
                     "fold": fold, "repeat": 0, "train_size": size, "n_train": n_train, "n_test": 100, "status": "ok",
                     "test_accuracy": test + rng.normal(0, 0.005), "val_accuracy": val, "val_in_fit": model == "ens",
                     "ensemble": "caruana" if model == "ens" else None,
                     "members_json": json.dumps({"strong": 0.8, "weak": 0.2}) if model == "ens" else None}
                )  # fmt: skip
    s = summarize(pd.DataFrame(rows), META)
    ens = s["datasets"][0]["ensembles"]
    gains = {g["train_size"]: g for g in ens["gains"]}
    assert gains[1.0]["best_single"] == "strong" and gains[1.0]["pays"] is True
    assert gains[50.0]["pays"] is False
    assert ens["pays_from"] == {"ens": 1.0}
    assert ens["weights"]["ens"][0]["weights"] == {"strong": 0.8, "weak": 0.2}
    html = render_html(s)
    assert 'id="ensembles"' in html and 'class="fig ensemble-weights"' in html
    # the sentence is mlbench.report.sentences.ensemble_sentence of the gains rows shown
    assert "ens pays from 400 training rows (100% of the data) on" in html


def test_a_useless_model_is_flagged_in_its_table_and_drives_no_crossover(tmp_path: Path) -> None:
    """A real run on wine: an MLP trained one epoch at lr 1e-6 (no better than always predicting
    the training prior) next to logistic regression, over three sizes."""
    import mlbench

    run = mlbench.run(
        {
            "datasets": ["wine"],
            "models": ["logistic_regression", {"mlp": {"epochs": 1, "lr": 1.0e-6}}],
            "resampling": {"kind": "kfold", "folds": 3},
            "sweep": {"train_sizes": [40, 80, 1.0]},
            "diagnostics": False,
        },
        output=tmp_path / "out",
        workers=1,
        quiet=True,
        report=False,
    )
    s = summarize(run.results(), run.meta)
    ds = dataset(s, "wine")
    rows = {r["model"]: r for r in ds["leaderboard"]}
    assert rows["mlp"]["no_better_than_baseline"] is True
    assert rows["logistic_regression"]["no_better_than_baseline"] is False  # a good model is not flagged
    assert rows["dummy"]["no_better_than_baseline"] is False
    assert ds["baseline_note"].startswith("mlp is no better than the baseline")
    sc = ds["scaling"]
    points = {c["model"]: c["points"] for c in sc["curves"]}
    assert all(p["no_better_than_baseline"] for p in points["mlp"]) and len(points["mlp"]) == 3
    assert not any(p["no_better_than_baseline"] for p in points["logistic_regression"])
    assert sc["n_flagged"] == 3
    assert not [c for c in sc["crossovers"] if "mlp" in (c["model_a"], c["model_b"])]
    assert "mlp" not in {f["model"] for f in sc["fits"]}  # no fit through its points either
    assert sc["winner"] == "logistic_regression"
    html = render_html(s)
    table = html[html.index('class="leaderboard') : html.index("</table>", html.index('class="leaderboard'))]
    mlp_row = next(r for r in table.split("<tr") if ">mlp<" in r or ">mlp " in r)
    assert "no better than the baseline" in mlp_row
    lr_row = next(r for r in table.split("<tr") if ">logistic_regression<" in r)
    assert "no better than the baseline" not in lr_row
    # the learning-curve plot draws the flagged points hollow, with a legend entry saying so
    assert 'id="no-better-than-baseline' in html or "no-better-than-baseline" in html
    assert "no better than the baseline" in html[html.index('id="scaling"') :]


def test_header_counts_jobs_and_models_without_the_ensembles(results: pd.DataFrame) -> None:
    ens = results[results["model"] == "knn"].copy()
    ens["model"], ens["ensemble"] = "ensemble:caruana", "caruana"
    ens["job_id"] = ens["job_id"] + "-ens"
    h = summarize(pd.concat([results.assign(ensemble=None), ens]), META)["header"]
    assert h["n_jobs"] == len(results) and sum(h["status_counts"].values()) == len(results)
    assert h["n_models"] == 3 and "ensemble:caruana" not in h["models"]
    assert h["n_ensembles"] == 1 and h["n_ensemble_rows"] == len(ens)
    html = render_html(summarize(pd.concat([results.assign(ensemble=None), ens]), META), plots=False)
    assert f"<b>{len(results)}</b> jobs" in html and "<b>1</b> ensemble " in html


def test_pareto_mark_and_peak_memory_are_explained_in_visible_text(html: str, summary: dict) -> None:
    assert any(r["pareto"] for d in summary["datasets"] for r in d["leaderboard"])
    visible = re.sub(r'title="[^"]*"', "", html)  # tooltips do not count
    assert "◆ Pareto-optimal: no other model is both at least as fast to fit and at least as good" in visible
    assert "peak memory (worker)</th>" in visible
    assert "Peak memory is the worker process's peak resident memory" in visible.replace("&#39;", "'")


def test_date_tick_labels_of_the_mismatch_histograms_do_not_overlap() -> None:
    from mlbench.report.mismatch import _histograms

    def numeric(lo: float, hi: float) -> dict:
        return {
            "kind": "numeric",
            "edges": list(np.linspace(lo, hi, 21)),
            "train": [0.05] * 20,
            "test": [0.05] * 20,
        }

    # a date column's days since 1970 (2019-2023), a large number, a small one
    import xml.etree.ElementTree as ET

    from mlbench.report.svg import FONT_SIZE, text_width

    fig = _histograms(
        {"when_days": numeric(17900, 19500), "price": numeric(1.2e5, 9.9e5), "x": numeric(0, 1)}
    )
    ns = "{http://www.w3.org/2000/svg}"

    def rotation(t: ET.Element) -> float:
        found = re.search(r"rotate\(([-\d.]+)", t.get("transform", ""))
        return -float(found.group(1)) if found else 0.0

    def overlap(a: ET.Element, b: ET.Element) -> bool:
        # the labels are parallel: slanted ones overlap when their lines are closer than a line
        # of text, level ones when their (estimated) extents meet
        angle = math.radians(rotation(a))
        dx, dy = float(b.get("x")) - float(a.get("x")), float(b.get("y")) - float(a.get("y"))
        if angle:
            return abs(dx * math.sin(angle) + dy * math.cos(angle)) < FONT_SIZE
        return abs(dx) < (text_width(a.text) + text_width(b.text)) / 2

    panels = [g for g in ET.fromstring(fig).iter(f"{ns}g") if g.get("class") == "axes"]
    assert len(panels) == 3
    for panel in panels:
        labels = [t for t in panel.iter(f"{ns}text") if t.get("class") == "xtick" and t.text]
        assert len(labels) >= 2
        assert not any(overlap(a, b) for i, a in enumerate(labels) for b in labels[i + 1 :])
    dates = [t for t in panels[0].iter(f"{ns}text") if t.get("class") == "xtick" and t.text]
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", t.text) for t in dates)  # dates read as dates
    assert all(rotation(t) == 30 for t in dates)


def _diagnostics(flagged: set[str]) -> pd.DataFrame:
    hist = {"kind": "numeric", "edges": [0.0, 0.5, 1.0], "train": [0.5, 0.5], "test": [0.2, 0.8]}
    detail = {"histograms": {"a": hist, "b": hist}, "auc": 0.7, "domain_p": 0.01}
    base = {"dataset": "d", "comparison": "test_file", "test": "ks", "p_corrected": 0.001, "effect": 0.3,
            "effect_name": "w", "n_train": 100, "n_test": 50, "error": None, "verdict": None, "detail": None}  # fmt: skip
    rows = [{**base, "check": "verdict", "feature": None, "flagged": bool(flagged), "verdict": "shift",
             "detail": json.dumps(detail)}]  # fmt: skip
    rows += [{**base, "check": "feature", "feature": f, "flagged": f in flagged} for f in ("a", "b", "c")]
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    ("flagged", "words"),
    [
        ({"a", "b"}, "of the flagged features (at most three)"),
        ({"a", "c"}, "of the most shifted features (flagged: a) (at most three)"),
        ({"c"}, "of the most shifted features (none of them flagged) (at most three)"),
        (set(), "of the most shifted features (none of them flagged) (at most three)"),
    ],
)
def test_mismatch_caption_says_flagged_only_of_flagged_features(
    results: pd.DataFrame, flagged: set[str], words: str
) -> None:
    html = render_html(summarize(results, META, diagnostics=_diagnostics(flagged)))
    caption = re.search(r'<p class="caption hist-caption">(.*?)</p>', html, re.S)
    assert caption is not None and caption.group(1).endswith(words + ".")


def test_activation_maps_show_one_image_per_class_first() -> None:
    from mlbench.deep.visualize import distinct_class_rows

    y = np.array([0] * 10 + [1] * 10 + [2] * 10)  # a test set sorted by class
    rows = distinct_class_rows(y, 4)
    assert set(y[rows[:3]]) == {0, 1, 2} and len(rows) == 4
    assert list(distinct_class_rows(np.array([5, 5, 5]), 4)) == [0, 1, 2]


def test_loss_plot_legends_name_the_fold_they_show() -> None:
    from mlbench.report.plots import loss_curves

    hist = {"model": "cnn", "fold": 2, "repeat": 0, "epochs": [1, 2, 3], "train_loss": [1.0, 0.5, 0.4],
            "val_loss": [1.1, 0.7, 0.8], "best_epoch": 2}  # fmt: skip
    fig = loss_curves([hist])
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["cnn (fold 2) train", "cnn (fold 2) val"]


def test_figures_drawn_as_svg_text_are_cached_under_their_own_key(tmp_path: Path) -> None:
    from mlbench.report import plots
    from mlbench.report.html import FigureCache, FigureSpec

    rows = [{"model": "a", "test_mean": 0.9, "test_ci_low": 0.85, "test_ci_high": 0.95}]
    spec = FigureSpec(plots.bar_chart, (rows, "accuracy", True))

    def old(*args):  # the same function as an older mlbench had it: a matplotlib figure
        return None

    old.__module__, old.__qualname__ = plots.bar_chart.__module__, plots.bar_chart.__qualname__
    assert spec.svg_text and not FigureSpec(old, spec.args).svg_text
    assert spec.key() != FigureSpec(old, spec.args).key()  # its cached SVG is not reused
    cache = FigureCache(tmp_path)
    text = cache.get(spec)
    assert text.startswith("<svg") and text == plots.bar_chart(*spec.args) and cache.drawn == 1
    assert FigureCache(tmp_path).get(spec) == text  # read back from the folder
    picture = FigureCache().get(FigureSpec(plots.confusion, ([[3, 1], [0, 4]], ["a", "b"]), raster=True))
    assert picture.startswith("data:image/svg+xml;base64,")
