"""The LCZ legend: WUDAPT codes, names and colours, the QML made from them, old codes."""

from __future__ import annotations

import numpy as np

from lcz_qgis.common import legend


def test_legend_has_the_wudapt_colours():
    assert legend.CODES == tuple(range(1, 18))
    assert legend.lcz_class(1).color == "#8c0000"
    assert legend.lcz_class(10).color == "#555555"
    assert legend.lcz_class(11).letter == "A" and legend.lcz_class(11).color == "#006a00"
    assert legend.lcz_class(17).name == "Water" and legend.lcz_class(17).color == "#6a6aff"
    assert legend.gdal_color_entries()[15] == (0, 0, 0, 255)
    assert legend.gdal_color_entries()[0][3] == 0  # nodata transparent


def test_qml_is_generated_from_the_legend():
    qml = legend.qml_paletted()
    assert 'type="paletted"' in qml
    for c in legend.LCZ_CLASSES:
        assert f'value="{c.code}" color="{c.color}"' in qml
    assert "LCZ G: Water" in qml


def test_old_wudapt_codes_are_accepted():
    out = legend.normalize_codes(np.array([0, 1, 10, 101, 107, 11, 17, 18, 255]))
    assert out.tolist() == [0, 1, 10, 11, 17, 11, 17, 0, 0]
