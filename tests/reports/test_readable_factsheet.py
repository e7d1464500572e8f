"""The factsheet reads well (issue 24, findings 6 and 9): the bootstrap boxplots on an
axis scaled to the scores with the chance level of OA marked, a confusion matrix whose
numbers are big enough to read at 17 classes, with labelled axes (rows = reference,
columns = the map) and LCZ labels with a key of names, and the suspects table showing
LCZ labels and names instead of raw codes. Checked on a real map-from-areas run of the
synthetic sample city and on the figure-building functions."""

from __future__ import annotations

import re

import numpy as np
import pytest
from helpers import write_areas_file

from lcz_qgis.common.feedback import RecordingFeedback
from lcz_qgis.common.legend import LCZ_CLASSES, N_CLASSES, class_name, lcz_class
from lcz_qgis.reports import plots
from lcz_qgis.reports.factsheet import (
    chance_level,
    score_axis_range,
    scores_boxplot_figure,
)
from lcz_qgis.sample_data import write_scene
from lcz_qgis.training_areas.workflow import MapRequest, map_from_training_areas

LABELS = [c.letter for c in LCZ_CLASSES]  # 1..10, A..G


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A map-from-areas run of the sample city (4 splits, 20 trees) with its factsheet;
    the matplotlib figures the run drew, kept as they were saved."""
    d = tmp_path_factory.mktemp("factsheet")
    write_scene(d, 7)
    write_areas_file(d / "areas.gpkg")
    kept = []
    save = plots._png

    def keep(fig):
        kept.append(fig)
        return save(fig)

    req = MapRequest(
        areas=str(d / "areas.gpkg"), sentinel2=str(d / "scene_s2.tif"), output=str(d / "lcz.tif"),
        n_splits=4, trees=20, seed=3, factsheet=str(d / "factsheet.html"),
    )  # fmt: skip
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(plots, "_png", keep)
        result = map_from_training_areas(req, RecordingFeedback())
    return result, (d / "factsheet.html").read_text(encoding="utf-8"), kept


def _titled(figures, start):
    (fig,) = [f for f in figures if any(a.get_title().startswith(start) for a in f.axes)]
    return fig


def test_the_runs_boxplots_are_scaled_to_its_scores(run):
    result, _, figures = run
    ax = _titled(figures, "Bootstrap scores").axes[0]
    values = np.concatenate([v["values"] for v in result.bootstrap.summary.values()])
    low, high = ax.get_ylim()
    assert (low, high) != (0.0, 1.0)
    span = values.max() - values.min()
    margin = max(0.05, 0.1 * span)
    # the sample city maps well (scores around 0.9): the axis starts just below them
    assert values.min() > 0.6 and low == pytest.approx(values.min() - margin)
    assert high >= values.max() and high - values.max() <= margin + 1e-9
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "OA", "OA_u", "OA_bu", "OA_w", "Kappa", "Macro F1"
    ]  # fmt: skip
    assert "Score" in ax.get_ylabel() and "no unit" in ax.get_ylabel()
    assert "95% interval" in ax.get_xlabel()


def test_data_within_0_6_and_0_8_is_not_drawn_on_0_to_1():
    rng = np.random.default_rng(1)
    summary = {k: {"values": rng.uniform(0.6, 0.8, 25).tolist()} for k in ("oa", "kappa")}
    ax = scores_boxplot_figure(summary).axes[0]
    low, high = ax.get_ylim()
    assert 0.5 <= low < 0.6 and 0.8 < high <= 0.9
    # the chance level of OA near the scores is drawn, as a line inside the axis
    ax = scores_boxplot_figure(summary, chance=0.52).axes[0]
    (line,) = [ln for ln in ax.get_lines() if ln.get_label().startswith("chance level")]
    assert line.get_ydata()[0] == pytest.approx(0.52)
    assert ax.get_ylim()[0] < 0.52
    # far below the scores it does not squash them
    ax = scores_boxplot_figure(summary, chance=0.1).axes[0]
    assert ax.get_ylim()[0] > 0.4
    assert not [ln for ln in ax.get_lines() if ln.get_label().startswith("chance level")]


def test_the_axis_range_rule():
    assert score_axis_range([0.6, 0.8]) == pytest.approx((0.55, 0.85))
    assert score_axis_range([-0.02, 0.04]) == pytest.approx((-0.07, 0.09))  # chance kappa
    assert score_axis_range([0.2, 0.99]) == pytest.approx((0.121, 1.05))  # 1.069: capped
    assert score_axis_range([np.nan]) == (0.0, 1.0)
    assert chance_level(np.diag([80, 20] + [0] * 15)) == pytest.approx(0.8)
    assert chance_level(np.zeros((N_CLASSES, N_CLASSES))) is None


def test_the_confusion_matrix_is_readable_at_17_classes():
    rng = np.random.default_rng(0)
    cm = np.diag(rng.integers(100, 3000, N_CLASSES)) + rng.integers(1, 50, (N_CLASSES,) * 2)
    fig = plots.confusion_figure(cm, "city")
    counts, normalised = (a for a in fig.axes if a.get_title())
    for ax in (counts, normalised):
        sizes = [t.get_fontsize() for t in ax.texts]
        assert len(sizes) == N_CLASSES**2 and min(sizes) >= 8  # was 5.5
        assert ax.get_ylabel().startswith("Reference (rows)")
        assert ax.get_xlabel().startswith("Map (columns)")
        assert [t.get_text() for t in ax.get_yticklabels()] == LABELS
        assert [t.get_text() for t in ax.get_xticklabels()] == LABELS
    # each number fits its cell: the cell is 1 data unit, 0.5 inch on the figure
    renderer = fig.canvas.get_renderer()
    cell_px = counts.transData.transform((1, 0))[0] - counts.transData.transform((0, 0))[0]
    widest = max(t.get_window_extent(renderer).width for t in counts.texts)
    assert widest < 0.95 * cell_px
    key = " ".join(t.get_text() for t in fig.texts).replace("\u00a0", " ")
    for c in LCZ_CLASSES:
        assert f"{c.letter} {class_name(c.code)}" in key


def test_the_font_grows_with_fewer_classes_within_bounds():
    assert plots.cell_font_size(17, 8.5) == pytest.approx(10.8)
    assert plots.cell_font_size(4, 8.5) == plots.MAX_CELL_FONT
    assert plots.cell_font_size(17, 2.0) == plots.MIN_CELL_FONT
    assert plots.cell_font_size(17, 8.5, longest=6) < plots.cell_font_size(17, 8.5, longest=4)


def _rows(section: str) -> list[list[str]]:
    return [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in re.findall(r"<tr>(.*?)</tr>", section)]


def test_the_factsheet_names_classes_by_lcz_label_and_name(run):
    result, text, figures = run
    start = text.index("<h2>Suspicious training areas")
    rows = [r for r in _rows(text[start:]) if r]
    assert len(rows) == len(result.suspects)
    # the sample's suspects include natural classes (A-G, codes 11-17)
    assert any(s.code > 10 for s in result.suspects)
    for (polygon, label, name, *_), s in zip(rows, result.suspects, strict=True):
        assert polygon == str(s.polygon_id)
        assert label == lcz_class(s.code).letter and label in LABELS
        assert name == class_name(s.code)
    assert not any(r[1] in {str(c) for c in range(11, 18)} for r in rows)
    # the confusion matrix drawn for the factsheet: LCZ labels, the key of names
    fig = _titled(figures, "Patch counts")
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == LABELS
    assert "Rows: reference LCZ" in text and "columns: the LCZ the map gives" in text
