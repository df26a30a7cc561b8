"""Tests of the hand-built SVG figures: ticks, scales, escaping, and each chart drawn with them."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from mlbench.report import plots
from mlbench.report.svg import (
    Figure,
    Scale,
    blues,
    escape,
    linear_labels,
    log_ticks,
    nice_ticks,
    text_width,
    to_matplotlib,
)

NS = "{http://www.w3.org/2000/svg}"
XSS = "<script>alert(1)</script>"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # well-formed XML, or this raises
    assert root.tag == f"{NS}svg" and root.get("role") == "img"
    assert root.find(f"{NS}title") is not None
    assert not svg.startswith("<?xml") and 'id="' not in svg  # many figures share one page
    assert root.get("width", "").endswith("pt") and root.get("viewBox", "").startswith("0 0 ")
    return root


def texts(root: ET.Element, cls: str | None = None) -> list[str]:
    return [t.text or "" for t in root.iter(f"{NS}text") if cls is None or t.get("class") == cls]


def polygons(root: ET.Element, n_points: int) -> list[ET.Element]:
    return [p for p in root.iter(f"{NS}polygon") if len(p.get("points", "").split()) == n_points]


# --------------------------------------------------------------------------------------------- ticks


@pytest.mark.parametrize(
    ("lo", "hi", "target", "expected"),
    [
        (0.0, 1.0, 5, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (0.0, 10.0, 4, [0.0, 2.5, 5.0, 7.5, 10.0]),
        (3.0, 97.0, 5, [20.0, 40.0, 60.0, 80.0]),
        (-1.0, 1.0, 4, [-1.0, -0.5, 0.0, 0.5, 1.0]),
        (0.871, 0.999, 5, [0.88, 0.9, 0.92, 0.94, 0.96, 0.98]),
        (0.871, 0.999, 4, [0.875, 0.9, 0.925, 0.95, 0.975]),
        (17900.0, 19500.0, 3, [18000.0, 18500.0, 19000.0, 19500.0]),
    ],
)
def test_linear_ticks_are_nice_steps_inside_the_range(lo, hi, target, expected) -> None:
    assert nice_ticks(lo, hi, target) == pytest.approx(expected)


@pytest.mark.parametrize("span", [0.0013, 0.07, 1.0, 3.3, 47.0, 1234.5, 9.9e5])
def test_every_linear_step_is_1_2_2p5_or_5_times_a_power_of_ten(span: float) -> None:
    for lo in (-span / 3, 0.0, span * 7.3):
        ticks = nice_ticks(lo, lo + span, 5)
        assert 2 <= len(ticks) <= 6 and all(lo - 1e-9 <= t <= lo + span + 1e-9 for t in ticks)
        step = ticks[1] - ticks[0]
        mantissa = step / 10 ** math.floor(math.log10(step) + 1e-9)
        assert any(abs(mantissa - m) < 1e-6 for m in (1, 2, 2.5, 5)), (lo, span, step)


def test_linear_labels_share_the_decimals_the_step_needs() -> None:
    assert linear_labels([0.9, 0.95, 1.0]) == ["0.90", "0.95", "1.00"]
    assert linear_labels([0.0, 5.0, 10.0]) == ["0", "5", "10"]
    assert linear_labels([0.0, 2.5, 5.0]) == ["0.0", "2.5", "5.0"]
    assert linear_labels([-0.0, 0.1]) == ["0.0", "0.1"]  # no "-0.0"


def test_log_ticks_label_the_powers_of_ten_and_the_2s_and_5s_on_short_axes() -> None:
    labelled, minor = log_ticks(0.8, 150)  # more than two decades: powers only
    assert labelled == [1.0, 10.0, 100.0]
    assert 2.0 in minor and 50.0 in minor and 0.9 in minor and 200.0 not in minor
    labelled, minor = log_ticks(0.012, 0.3)  # 25x: the 2s and 5s are labelled too
    assert labelled == pytest.approx([0.02, 0.05, 0.1, 0.2])
    assert 0.03 in minor and 0.02 not in minor
    labelled, _ = log_ticks(1.0, 8.0)  # 1 to 8 estimators: not only "1"
    assert labelled == [1.0, 2.0, 5.0]


def test_scales_map_the_range_onto_0_to_1() -> None:
    assert Scale(0.0, 10.0).frac(2.5) == pytest.approx(0.25)
    assert Scale(10.0, 0.0).frac(2.5) == pytest.approx(0.75)
    assert Scale(1.0, 100.0, log=True).frac(10.0) == pytest.approx(0.5)
    assert Scale(1e-3, 1.0, log=True).frac(1e-2) == pytest.approx(1 / 3)
    assert Scale(5.0, 5.0).frac(5.0) == 0.5


def test_blues_follows_matplotlibs_colour_map() -> None:
    import matplotlib

    cmap = matplotlib.colormaps["Blues"]
    for x in (0.0, 0.1, 0.33, 0.5, 0.61, 0.9, 1.0):
        ours = [int(blues(x)[i : i + 2], 16) for i in (1, 3, 5)]
        theirs = [round(255 * c) for c in cmap(x)[:3]]
        assert all(abs(a - b) <= 3 for a, b in zip(ours, theirs, strict=True)), (x, ours, theirs)


# --------------------------------------------------------------------------------------------- builder


def test_text_is_escaped_and_the_figure_is_valid_xml() -> None:
    assert escape('<a href="x">&') == "&lt;a href=&quot;x&quot;&gt;&amp;"
    fig = Figure(300, 200, title=XSS)
    ax = fig.add_axes(xlabel=XSS, ylabel="a\nb", title=XSS, yticks=([0, 1], [XSS, "ok"]))
    ax.line([0, 1, None, 3, 4], [0, 1, 2, 3, 4], "#123456", style="dashed", marker="circle")
    ax.legend(XSS, "#123456")
    svg = fig.to_svg()
    root = parse(svg)
    assert XSS not in svg and "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    assert texts(root).count(XSS) == 4 and root.find(f"{NS}title").text == XSS
    # None breaks the line: two pieces, dashed as matplotlib's pattern scaled by the width
    lines = [p for p in root.iter(f"{NS}polyline")]
    assert len(lines) == 2 and lines[0].get("stroke-dasharray") == "5.55 2.4"
    assert len(list(root.iter(f"{NS}circle"))) == 4
    assert texts(root, "ylabel") == ["a", "b"]


def test_layout_leaves_room_for_labels_and_the_legend() -> None:
    fig = Figure(400, 200)
    ax = fig.add_axes(ylabel="score", yticks=([0, 1], ["a very long model name", "b"]))
    ax.rect(0, -0.3, 5, 0.3, "#000000")
    ax.legend("an entry with a long label", "#ff0000", kind="patch")
    root = parse(fig.to_svg())
    (rect,) = [r for r in root.iter(f"{NS}rect") if r.get("fill") == "#000000"]
    left = float(rect.get("x"))
    assert left >= text_width("a very long model name") + 8  # the tick labels fit left of the plot
    legend = [t for t in root.iter(f"{NS}text") if t.get("class") == "legend"]
    x = float(legend[0].get("x"))
    assert x > left + float(rect.get("width")) and x + text_width(legend[0].text, 8) <= 400


def test_svg_text_replays_onto_matplotlib_for_png_export() -> None:
    fig = Figure(200, 100, title="t")
    ax = fig.add_axes(xlog=True, xlabel="x")
    ax.line([1, 10, 100], [0, 1, 0.5], "#ff0000", step=True)
    svg = fig.to_svg()
    replay = to_matplotlib(svg)
    assert [t.get_text() for t in replay.axes[0].texts if t.get_text() == "x"] == ["x"]
    png = plots.to_png(svg, dpi=50)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------------------------- charts


def _bars(root: ET.Element) -> list[ET.Element]:
    panel = next(g for g in root.iter(f"{NS}g") if g.get("class") == "axes")
    return list(panel.iter(f"{NS}rect"))


def test_bar_chart_marks_the_best_and_whiskers_end_at_the_interval() -> None:
    rows = [
        {"model": "a", "test_mean": 0.30, "test_ci_low": 0.20, "test_ci_high": 0.40},
        {"model": "b", "test_mean": 0.45, "test_ci_low": 0.41, "test_ci_high": 0.47},
        {"model": XSS, "test_mean": 0.40, "test_ci_low": 0.42, "test_ci_high": 0.44},  # mean outside
        {"model": "no score", "test_mean": None},
    ]
    root = parse(plots.bar_chart(rows, "accuracy"))
    bars = _bars(root)
    fills = [b.get("fill") for b in bars]
    assert len(bars) == 3 and fills.count(plots.BAR_COLOR) == 2
    assert fills[1] != plots.BAR_COLOR  # the highest mean stands out
    assert texts(root, "ytick") == ["a", "b", XSS]
    # all bars start at 0 (the left edge); the scale is bar width / mean
    x0 = float(bars[0].get("x"))
    per_unit = float(bars[0].get("width")) / 0.30
    whiskers = [p for p in root.iter(f"{NS}polyline") if p.get("stroke") == "#333333"]
    ends = [sorted(float(pt.split(",")[0]) for pt in w.get("points").split()) for w in whiskers]
    assert ends[0] == pytest.approx([x0 + 0.20 * per_unit, x0 + 0.40 * per_unit], abs=0.02)
    assert ends[1] == pytest.approx([x0 + 0.41 * per_unit, x0 + 0.47 * per_unit], abs=0.02)
    assert ends[2] == pytest.approx(
        [x0 + 0.40 * per_unit, x0 + 0.44 * per_unit], abs=0.02
    )  # clipped at the bar
    assert "test accuracy (mean, 95% CI; higher is better)" in texts(root, "xlabel")
    assert plots.bar_chart([{"model": "a", "test_mean": None}], "accuracy") is None


def test_bar_chart_zooms_in_on_high_scores() -> None:
    rows = [{"model": m, "test_mean": v, "test_ci_low": v - 0.01, "test_ci_high": v + 0.01}
            for m, v in (("a", 0.95), ("b", 0.97))]  # fmt: skip
    root = parse(plots.bar_chart(rows, "accuracy"))
    labels = [float(t) for t in texts(root, "xtick")]
    assert labels and min(labels) > 0.8 and max(labels) <= 1.0  # not from 0


def test_pareto_has_a_diamond_per_optimal_model_and_a_legend_entry_per_model() -> None:
    rows = [
        {"model": "fast", "fit_seconds": 0.01, "test_mean": 0.80, "test_ci_low": 0.75, "test_ci_high": 0.85,
         "pareto": True},
        {"model": "good", "fit_seconds": 2.0, "test_mean": 0.95, "test_ci_low": 0.9, "test_ci_high": 0.99,
         "pareto": True},
        {"model": "dominated", "fit_seconds": 3.0, "test_mean": 0.85, "pareto": False},
        {"model": "untimed", "fit_seconds": None, "test_mean": 0.9, "pareto": False},
    ]  # fmt: skip
    root = parse(plots.pareto(rows, "accuracy"))
    diamonds = [p for p in polygons(root, 4) if p.get("stroke") == "#000000"]
    assert len(diamonds) == 2 + 2  # one per Pareto-optimal model, in the plot and in the legend
    assert texts(root, "legend") == ["fast ◆", "good ◆", "dominated"]
    assert len(list(root.iter(f"{NS}circle"))) == 2  # the dominated model, plot and legend
    steps = [p for p in root.iter(f"{NS}polyline") if p.get("stroke-dasharray")]
    assert len(steps) == 1 and len(steps[0].get("points").split()) == 3  # a step joins the two
    ticks = texts(root, "xtick")
    assert "10 ms" in ticks and "1 s" in ticks  # seconds in plain units on the log axis
    assert texts(root, "title") == ["◆ Pareto-optimal: nothing is both faster and better"]
    assert texts(root, "ylabel") == ["test accuracy", "(higher is better)"]
    assert plots.pareto([rows[3]], "accuracy") is None


def _luminance(color: str) -> float:
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_confusion_matrix_shows_counts_and_colours_the_largest_share_darkest() -> None:
    matrix = [[50, 3, 0], [4, 20, 6], [1, 1, 15]]
    root = parse(plots.confusion(matrix, ["cat", "dog", XSS]))
    panel = next(g for g in root.iter(f"{NS}g") if g.get("class") == "axes")
    (background,) = panel.iter(f"{NS}rect")  # the empty cells: the colour of 0
    assert _luminance(background.get("fill")) > 245
    shades = {
        p.get("fill"): p.get("d") for p in panel.iter(f"{NS}path") if p.get("fill") not in (None, "none")
    }
    assert sum(d.count("M") for d in shades.values()) == 8  # one cell per non-zero count
    # the darkest is the largest share (50 of 53, true "cat" predicted "cat": the top-left cell)
    darkest = shades[min(shades, key=_luminance)]

    def corners(d: str) -> list[tuple[float, ...]]:
        return [tuple(map(float, c.split())) for c in re.findall(r"M([-\d.]+ [-\d.]+)", d)]

    everywhere = [c for d in shades.values() for c in corners(d)]
    assert corners(darkest) == [min(everywhere)]  # one cell, the top-left one
    counts = [t for t in panel.iter(f"{NS}text") if t.get("class") is None]
    assert sorted(int(t.text) for t in counts) == sorted(v for row in matrix for v in row if v)
    white = {t.text for t in counts if t.get("fill") == "#ffffff"}
    assert white == {"50", "20", "15"}  # on the dark cells (share > 0.6)
    assert texts(root, "xtick") == ["cat", "dog", "<script>alert…"]  # shortened to 14 characters
    assert texts(root, "xlabel") == ["predicted class"]
    assert "share of the true class" in texts(root, "ylabel") and "true class" in texts(root, "ylabel")
    assert plots.confusion([], []) is None


def test_large_confusion_matrices_slant_and_thin_their_labels() -> None:
    k = 45
    matrix = [[5 if i == j else 1 for j in range(k)] for i in range(k)]
    svg = plots.confusion(matrix, [f"class {i}" for i in range(k)])
    assert len(svg) < 150_000  # 2,025 cells in two shades: two paths
    root = parse(svg)
    ticks = [t for t in root.iter(f"{NS}text") if t.get("class") == "xtick"]
    assert len(ticks) == len(range(0, k, 2)) and all("rotate(-45" in t.get("transform") for t in ticks)
    assert not [t for t in root.iter(f"{NS}text") if t.get("class") is None]  # no counts above 20 classes


def _curve(model: str, test: list, early: bool) -> dict:
    n = len(test)
    return {"model": model, "metric": "accuracy", "greater_is_better": True, "n_estimators": [2**i for i in range(n)],
            "test": test, "train": [0.99] * n, "best_index": max(range(n), key=lambda i: test[i]),
            "early_stopped": early, "trained": 64 if early else None}  # fmt: skip


def test_staged_plot_stars_each_best_point_and_says_where_early_stopping_stopped() -> None:
    from mlbench.report.overfit import staged_plot

    curves = [_curve("forest", [0.8, 0.85, 0.9, 0.88], False), _curve("boost", [0.7, 0.9, 0.86], True)]
    root = parse(staged_plot(curves))
    assert len(polygons(root, 10)) == 2  # one star per curve
    assert [t for t in texts(root) if t.startswith("stopped at")] == ["stopped at 4 of 64"]
    stops = [e for e in root.iter(f"{NS}line") if e.get("stroke-width") == "2.2"]
    assert len(stops) == 1
    assert texts(root, "legend") == ["forest test", "forest train", "boost test", "boost train"]
    assert texts(root, "ylabel") == ["accuracy higher is better"]
    assert "1" in texts(root, "xtick") and "2" in texts(root, "xtick")  # 1 to 8 on a log axis


def test_mismatch_histograms_draw_at_most_three_panels_with_dates_as_dates() -> None:
    from mlbench.report.mismatch import _histograms, _label_bars

    numeric = {
        "kind": "numeric",
        "edges": [18000.0, 18500.0, 19000.0],
        "train": [0.5, 0.5],
        "test": [0.2, 0.8],
    }
    cat = {"kind": "categorical", "levels": ["a", "b", "c", "d", "e"], "train": [0.2] * 5, "test": [0.2] * 5}
    root = parse(_histograms({"sold_days": numeric, "kind": cat, "x": numeric, "fourth": numeric}))
    panels = [g for g in root.iter(f"{NS}g") if g.get("class") == "axes"]
    assert len(panels) == 3 and texts(root, "title") == ["sold_days", "kind", "x"]
    dates = [t.text for t in panels[0].iter(f"{NS}text") if t.get("class") == "xtick"]
    assert dates and all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", d) for d in dates)
    assert len(dates) <= 4
    slanted = [t for t in panels[1].iter(f"{NS}text") if t.get("class") == "xtick"]
    assert [t.text for t in slanted] == ["a", "b", "c", "d", "e"] and "rotate(-45" in slanted[0].get(
        "transform"
    )
    fills = [p for p in panels[0].iter(f"{NS}polygon") if p.get("fill-opacity") == "0.45"]
    assert len(fills) == 2  # train and test, see-through
    assert texts(root, "ylabel") == ["share of rows"] * 3
    assert texts(root, "legend") == ["train", "test"]  # once, beside the last panel
    label = parse(_label_bars(cat))
    assert len([r for r in label.iter(f"{NS}rect") if r.get("fill") in ("#4c72b0", "#dd8452")]) >= 10


def test_png_data_uri_decodes_to_the_same_pixels() -> None:
    import base64
    import io

    from matplotlib.image import imread

    from mlbench.report.svg import png_data_uri

    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (5, 7), dtype=np.uint8)
    rgb = rng.integers(0, 256, (4, 3, 3), dtype=np.uint8)
    for pixels in (grey, rgb):
        uri = png_data_uri(pixels)
        assert uri.startswith("data:image/png;base64,")
        back = imread(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])), format="png")
        assert np.array_equal(np.rint(back * 255).astype(np.uint8), pixels)


def test_thumbnail_grid_draws_each_picture_sharp_with_its_escaped_caption() -> None:
    import base64
    import io

    from matplotlib.image import imread

    from mlbench.report import plots

    images = np.zeros((10, 1, 4, 4))
    images[:, 0, 0, 0] = 16.0  # one dark pixel on a light ground (gray_r: the largest value black)
    svg = plots.thumbnail_grid(images, [f"<b>{i}</b>" for i in range(10)], cell=(1.0, 1.2))
    root = ET.fromstring(svg)
    pictures = [e for e in root.iter() if e.tag.endswith("image")]
    assert len(pictures) == 10 and all("pixelated" in e.get("style") for e in pictures)
    assert "&lt;b&gt;3&lt;/b&gt;" in svg and "<b>" not in svg
    assert len({e.get("y") for e in pictures}) == 2  # 8 a row
    first = imread(io.BytesIO(base64.b64decode(pictures[0].get("href").split(",", 1)[1])), format="png")
    assert first[0, 0] == 0.0 and first[1:, :].min() == 1.0
    assert 'id="' not in svg
    # two-line captions (the mistakes grid) are two text lines; nothing to draw is None
    mistakes = plots.mistakes_grid(images[:2], ["cat", "dog"], ["dog", "cat"], [0.9, 0.8])
    assert mistakes.count('class="caption"') == 4 and "pred dog (90%)" in mistakes
    assert plots.thumbnail_grid(np.zeros((0, 1, 4, 4)), [], cell=(1.0, 1.0)) is None
