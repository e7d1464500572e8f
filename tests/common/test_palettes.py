"""The colour-blind-safe palette: every two classes stay apart with normal vision and
with simulated protanopia, deuteranopia and tritanopia (Machado et al. 2009, CIEDE2000,
checked here against Sharma et al.'s published pairs), the built types keep their dark
to light order, and a run's palette reaches every style made from the legend."""

from __future__ import annotations

import numpy as np
import pytest

from lcz_qgis.common import legend
from lcz_qgis.common.errors import LczError
from lcz_qgis.styling import colour_vision as cv

CONDITIONS = ("normal", "protanopia", "deuteranopia", "tritanopia")


def test_ciede2000_matches_the_published_test_pairs():
    # Sharma, Wu & Dalal (2005), Table 1: pairs 1, 3, 17, 25 and 34
    lab1 = np.array([[50, 2.6772, -79.7751], [50, 2.8361, -74.02], [50, 2.5, 0],
                     [60.2574, -34.0099, 36.2677], [2.0776, 0.0795, -1.135]])  # fmt: skip
    lab2 = np.array([[50, 0, -82.7485], [50, 0, -82.7485], [73, 25, -18],
                     [60.4626, -34.1751, 39.4387], [0.9033, -0.0636, -0.5514]])  # fmt: skip
    expected = [2.0425, 3.4412, 27.1492, 1.2644, 0.9082]
    assert cv.ciede2000(lab1, lab2) == pytest.approx(expected, abs=1e-4)


def test_simulation_of_a_dichromat_merges_red_and_green():
    # the standard palette's LCZ 3 (red) and LCZ A (dark green) look alike to a protanope
    red, green = legend.lcz_class(3).color, legend.lcz_class(11).color
    assert cv.pairwise_distances([red, green], "normal")[0, 1] > 40
    assert cv.pairwise_distances([red, green], "protanopia")[0, 1] < 5
    # white and black stay white and black
    lin = cv.simulate(cv.hex_to_linear(["#ffffff", "#000000"]), "deuteranopia")
    assert np.allclose(lin, [[1, 1, 1], [0, 0, 0]], atol=2e-3)


@pytest.mark.parametrize("condition", CONDITIONS)
def test_colourblind_palette_keeps_every_two_classes_apart(condition):
    colors = legend.PALETTES[legend.COLOURBLIND]
    assert len(colors) == 17 and len(set(colors)) == 17
    d, i, j = cv.closest_pair(colors, condition)
    assert d >= legend.MIN_CVD_DISTANCE, (condition, i + 1, j + 1, d)


def test_the_distance_check_fails_the_standard_palette():
    """The check can fail: the WUDAPT colours merge for colour-blind readers."""
    worst = min(cv.closest_pair(legend.PALETTES[legend.STANDARD], c)[0] for c in CONDITIONS)
    assert worst < 1.0


def test_built_types_keep_their_dark_to_light_order():
    lum = dict(zip(legend.CODES, cv.lightness(legend.PALETTES[legend.COLOURBLIND])))
    darker = [(1, 2), (2, 3), (4, 5), (5, 6),  # high-rise darker than low-rise
              (1, 4), (2, 5), (3, 6),  # compact darker than open of the same height
              (10, 3), (10, 6)]  # heavy industry dark  # fmt: skip
    darker += [(k, light) for k in range(1, 7) for light in (7, 8, 9)]  # 7-9 lighter than 1-6
    for a, b in darker:
        assert lum[a] < lum[b] - 3, (a, b, lum[a], lum[b])


def test_a_runs_palette_reaches_every_legend_output():
    cb = dict(zip(legend.CODES, legend.PALETTES[legend.COLOURBLIND]))
    with legend.legend_style(legend.COLOURBLIND):
        assert legend.class_colors() == cb
        qml = legend.qml_paletted()
        table = legend.gdal_color_entries()
        cmap, _ = legend.matplotlib_cmap()
    for code, color in cb.items():
        assert f'value="{code}" color="{color}"' in qml
        assert table[code] == (*(int(color[k : k + 2], 16) for k in (1, 3, 5)), 255)
    assert [c for c in cmap.colors[1:]] == list(cb.values())
    assert table[0] == (0, 0, 0, 0)
    # outside the block: the standard colours again; an explicit argument wins
    assert legend.qml_paletted() == legend.qml_paletted(palette=legend.STANDARD)
    assert legend.class_colors(legend.COLOURBLIND) == cb


def test_unknown_palette_is_refused_with_the_choices():
    with pytest.raises(LczError, match="unknown palette 'viridis'.*standard, colourblind"):
        with legend.legend_style("viridis"):
            pass
