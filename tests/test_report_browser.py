"""The report of a small real run, opened in real headless Chromium.

A tiny suite runs through the CLI: digits and a synthetic table whose own test part is shifted
(so the "Train/test mismatch" section has a flagged test-file comparison besides the CV-fold
control), a decision tree (flagged by the overfitting checks), knn and knn tuned with 3 Optuna
trials ("Tuning": default vs tuned), a random forest with a grid over max_depth (the overfitting
section's estimator and capacity curves) and permutation importance (the datasets' feature tables,
and the mismatch section's shifted features ranked by it) and a 2-epoch CNN with early stopping (its held-out loss
curve), holdout, a train-size sweep. Its report must load without console errors or any request
leaving the file, show every section (the new ones reachable from the table of contents) and every
figure at a non-zero size, fit an 800 px wide window without horizontal scrolling, and show hostile
dataset/model names as text without running them.

``MLBENCH_SCREENSHOTS=DIR`` saves a screenshot of each new section (1280 and 800 px wide) there, to
look at by eye.

Needs Chromium (``/usr/bin/chromium`` or ``MLBENCH_CHROMIUM``) and the ``playwright`` package
(driven with ``executable_path``; ``playwright install`` is never needed). Without them the test
skips, unless ``MLBENCH_REQUIRE_BROWSER=1`` (CI), where it fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

XSS_MODEL = "<script>alert(1)</script>"
XSS_DATASET = "<img src=x onerror=alert(1)>"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SECTIONS = [
    "summary",
    "verdict",
    "overall",
    "datasets",
    "scaling",
    "tuning",
    "overfitting",
    "deep",
    "confusion",
    "mismatch",
    "failures",
]
#: the sections added with the overfitting checks, tuning and the mismatch diagnostics: id -> TOC text
NEW_SECTIONS = {"tuning": "Tuning", "overfitting": "Overfitting", "mismatch": "Train/test mismatch"}

SUITE = f"""
name: browser
seed: 0
resampling: {{kind: holdout, test_size: 0.25}}
datasets:
  - builtin: digits
  - builtin: synthetic_tabular
    name: '{XSS_DATASET}'
    n_samples: 160
    n_features: 6
    n_classes: 3
    shift: 1.0
models:
  - decision_tree: {{label: '{XSS_MODEL}'}}
  - knn
  - knn: {{tune: {{trials: 3}}}}
  - random_forest: {{n_estimators: 8, grid: {{max_depth: [2, null]}}, importance: true}}
  - cnn: {{arch: test_resnet, image_size: 16, epochs: 2, early_stopping: 2}}
sweep: {{train_sizes: [50, 100, 1.0]}}
budget: {{job_seconds: 300}}
"""


def _chromium() -> str | None:
    path = os.environ.get("MLBENCH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    return path if path and Path(path).is_file() else None


def _need(reason: str) -> None:
    if os.environ.get("MLBENCH_REQUIRE_BROWSER") == "1":
        pytest.fail(f"MLBENCH_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Any:
    chromium = _chromium()
    if chromium is None:
        _need("Chromium not found (install Debian's `chromium` or set MLBENCH_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need("the `playwright` Python package is not installed (pip install playwright)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("browser-run")
    suite = root / "suite.yaml"
    suite.write_text(SUITE, encoding="utf-8")
    out = root / "run"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlbench.cli",
            "run",
            str(suite),
            "--output",
            str(out),
            "-q",
            "--workers",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=root,
    )
    # 0: all ok; 1: some jobs failed (the CNN is skipped on the table, which is not a failure)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    html = out / "index.html"
    assert html.is_file(), proc.stdout + proc.stderr
    return html


def _open(browser: Any, report: Path, width: int) -> tuple[Any, Any]:
    """A new context and page at ``width`` px with the report loaded; ``page.events`` records trouble."""
    context = browser.new_context(viewport={"width": width, "height": 900}, java_script_enabled=True)
    # Nothing may leave the page: any request other than the file itself and data: URIs fails the test.
    requests: list[str] = []
    context.route("**/*", lambda route: (requests.append(route.request.url), route.continue_()))
    pg = context.new_page()
    events: dict[str, list[str]] = {
        "console": [],
        "errors": [],
        "dialogs": [],
        "requests": requests,
        "failed": [],
    }
    pg.on("console", lambda m: events["console"].append(f"{m.type}: {m.text}") if m.type == "error" else None)
    pg.on("pageerror", lambda e: events["errors"].append(str(e)))
    pg.on("requestfailed", lambda r: events["failed"].append(f"{r.url}: {r.failure}"))

    def on_dialog(d: Any) -> None:
        events["dialogs"].append(d.message)
        d.dismiss()

    pg.on("dialog", on_dialog)
    pg.goto(report.as_uri())
    pg.wait_for_load_state("load")
    pg.events = events  # type: ignore[attr-defined]
    return context, pg


def _assert_quiet(pg: Any) -> None:
    """No console error, script error, dialog, failed request or request leaving the file."""
    ev = pg.events
    assert ev["console"] == [] and ev["errors"] == [], ev
    assert ev["dialogs"] == [], "a data string ran as script"
    assert ev["failed"] == [], ev["failed"]
    external = [u for u in ev["requests"] if not (u.startswith("file://") or u.startswith("data:"))]
    assert external == []


def _screenshots(pg: Any, width: int) -> None:
    folder = os.environ.get("MLBENCH_SCREENSHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    for sid in NEW_SECTIONS:
        pg.locator(f"#{sid}").screenshot(path=str(Path(folder) / f"{sid}-{width}.png"))


@pytest.fixture(scope="module")
def page(browser: Any, report: Path) -> Any:
    context, pg = _open(browser, report, 1280)
    yield pg
    context.close()


def test_loads_without_errors_or_network(page: Any, report: Path) -> None:
    _assert_quiet(page)
    assert report.stat().st_size < 5_000_000


def test_every_section_is_present_and_visible(page: Any) -> None:
    for sid in SECTIONS:
        box = page.locator(f"#{sid}").bounding_box()
        assert box is not None and box["height"] > 0, sid
    text = page.inner_text("body")
    for phrase in ("Overall leaderboard", "Per dataset", "Scaling", "Deep models", "Confusion matrices"):
        assert phrase in text
    # the sweep produced learning curves; the CNN training curves and pictures are there
    assert page.locator(".fig.learning-curve svg").count() == 2
    assert page.locator(".fig.loss-curve svg").count() == 1
    assert page.locator(".cnn-filters img, .cnn-activations img").count() == 2
    assert page.locator(".fig.confusion-matrix img").count() == 2


def test_verdict_section_comes_first_with_a_paragraph_and_a_figure_per_dataset(page: Any) -> None:
    # the first section after the header, reachable from the table of contents
    first = page.evaluate("document.querySelector('section').id")
    assert first == "verdict"
    assert page.locator("nav.toc a[href='#verdict']").count() == 1
    blocks = page.locator("#verdict .verdict-ds")
    assert blocks.count() == 2  # digits and the synthetic table
    for i in range(blocks.count()):
        text = blocks.nth(i).locator("p.verdict-text").inner_text()
        assert text.startswith(("Recommended at ", "No model can be recommended")), text
        assert "dummy" not in text.split(":")[1].split("(")[0]  # the baseline is never the recommendation
        box = blocks.nth(i).locator(".fig.verdict-fig svg").bounding_box()
        assert box is not None and box["width"] > 50 and box["height"] > 30
        assert blocks.nth(i).locator("p.caption").inner_text().startswith("Rests on: ")


def test_every_plot_has_a_rendered_size(page: Any) -> None:
    # open folded parts so nothing is measured while hidden
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    figures = page.locator(".fig svg, .fig img")
    assert figures.count() >= 8
    for i in range(figures.count()):
        el = figures.nth(i)
        box = el.bounding_box()
        assert box is not None and box["width"] > 50 and box["height"] > 30, (i, box)
    broken = page.evaluate(
        "Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt)"
    )
    assert broken == []


def test_hostile_names_are_text(page: Any) -> None:
    text = page.inner_text("body")
    assert XSS_MODEL in text and XSS_DATASET in text
    # no element was created from data: the only script is the report's own, no <img src=x>
    assert page.locator("script").count() == 1
    assert page.locator("img[src='x']").count() == 0
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.events["dialogs"] == []


def test_tables_sort_on_click(page: Any) -> None:
    table = page.locator("table.leaderboard").first
    header = table.locator("th", has_text="model").first
    header.click()
    names = table.locator("tbody td.model").all_inner_texts()
    assert names == sorted(names)
    header.click()
    assert table.locator("tbody td.model").all_inner_texts() == sorted(names, reverse=True)


def test_new_sections_are_in_the_contents_and_their_anchors_work(page: Any) -> None:
    toc = page.locator("nav.toc")
    for sid, title in NEW_SECTIONS.items():
        link = toc.locator(f"a[href='#{sid}']")
        assert link.count() == 1, sid
        assert link.inner_text() == title
        page.evaluate("window.scrollTo(0, 0)")
        link.click()
        page.wait_for_function("h => location.hash === h", arg=f"#{sid}")
        # the link scrolled its section to the top of the window (or as far as the page goes)
        top, at_bottom = page.evaluate(
            """id => [document.getElementById(id).getBoundingClientRect().top,
                     window.scrollY + window.innerHeight >= document.documentElement.scrollHeight - 1]""",
            sid,
        )
        assert abs(top) < 2 or (top > 0 and at_bottom), (sid, top)
        assert page.evaluate("window.scrollY") > 0, sid
        assert page.locator(f"#{sid} h2").first.inner_text().startswith(title)
    # the overfitting entry counts its flags: the unpruned decision tree is flagged on both datasets
    entry = toc.locator("li", has=page.locator("a[href='#overfitting']")).inner_text()
    flagged = int(entry.split("(")[1].split(" flagged")[0])
    assert flagged > 0, entry
    assert page.locator("#overfitting tr.flagged td.model", has_text=XSS_MODEL).count() >= 2
    # tuning: knn(tuned) against knn on each dataset
    for i in range(2):
        row = page.locator("#tuning table.tuning tbody tr").nth(i).locator("td").all_inner_texts()
        assert row[:2] == ["knn(tuned)", "knn"], row
    # mismatch: the shifted test file is flagged; the random CV split of digits is the control
    assert "its test file vs its training data" in page.inner_text("#mismatch")
    assert page.locator("#mismatch p.status.failed").count() >= 1


def test_mismatch_ranks_the_shifted_features_by_the_best_models_importance(page: Any) -> None:
    # the synthetic table shifts all six features by 1 sd; the forest leans on few of them
    lists = page.locator("#mismatch ol.shift-importance")
    assert lists.count() >= 1
    items = lists.first.locator("li")
    texts = items.all_inner_texts()
    assert len(texts) >= 2, texts
    assert "shifted (Wasserstein" in texts[0] and "is the most important feature of random_forest" in texts[0]
    assert texts[0].split(": expect")[0].endswith("accuracy)") and "expect the test score to move" in texts[0]
    assert any("but the model hardly uses it" in t for t in texts[1:]), texts
    # ranked by importance: every feature the model uses comes before those it hardly uses
    used = [items.nth(i).get_attribute("class") == "used" for i in range(items.count())]
    assert used[0] and used == sorted(used, reverse=True), used
    assert items.first.locator("b").is_visible()
    # the datasets' own tables: the forest's most important features, on both datasets
    tables = page.locator("#datasets table.importance")
    assert tables.count() >= 2
    first = tables.first.locator("tbody tr").first.locator("td").all_inner_texts()
    assert first[0] == "1" and tables.first.is_visible()


def test_new_sections_figures_are_rendered(page: Any) -> None:
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    expected = {
        "#tuning .fig.tuning-history svg": 2,
        "#overfitting .fig.staged-curve svg": 2,
        "#overfitting .fig.capacity-curve svg": 2,
        "#overfitting .fig.overfit-loss svg": 1,
        "#mismatch .fig svg": 5,  # the table: 3 features x 2 comparisons drawn as 2 figures, 3 label plots
        "#mismatch .fig.pixels img": 1,  # digits: the test images most unlike training (PNG)
    }
    for selector, n in expected.items():
        assert page.locator(selector).count() == n, selector
    for sid in NEW_SECTIONS:
        figures = page.locator(f"#{sid} .fig svg, #{sid} .fig img")
        for i in range(figures.count()):
            el = figures.nth(i)
            el.scroll_into_view_if_needed()
            box = el.bounding_box()
            assert box is not None and box["width"] > 50 and box["height"] > 30, (sid, i, box)
        broken = page.evaluate(
            "id => Array.from(document.querySelectorAll('#' + id + ' img'))"
            ".filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt)",
            sid,
        )
        assert broken == [], sid
    _screenshots(page, 1280)


def test_narrow_window_has_no_horizontal_overflow(browser: Any, report: Path) -> None:
    context, pg = _open(browser, report, 800)
    try:
        pg.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        width = pg.evaluate("document.documentElement.clientWidth")
        assert pg.evaluate("document.documentElement.scrollWidth") <= width
        # wide tables may scroll inside their own box; nothing else may stick out of the window
        sticking_out = pg.evaluate(
            """ids => ids.flatMap(id => Array.from(document.querySelectorAll('#' + id + ' *')).filter(e => {
                 for (let a = e.parentElement; a; a = a.parentElement) {
                   if (getComputedStyle(a).overflowX !== 'visible') return false;
                 }
                 const r = e.getBoundingClientRect();
                 return r.right > document.documentElement.clientWidth + 0.5 || r.left < -0.5;
               }).map(e => id + ': ' + e.tagName + ' ' + (e.textContent || '').slice(0, 40)))""",
            list(NEW_SECTIONS),
        )
        assert sticking_out == []
        for sid in NEW_SECTIONS:
            box = pg.locator(f"#{sid}").bounding_box()
            assert box is not None and box["height"] > 0 and box["x"] + box["width"] <= width, sid
        _screenshots(pg, 800)
        _assert_quiet(pg)
    finally:
        context.close()
