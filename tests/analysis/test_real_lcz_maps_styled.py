"""The real LCZ maps (``../shared/real/lcz_maps``: Shanghai Float32 1-10/101-107 nodata -1,
Zaragoza EPSG:4326 Int32 nodata -999, Paris Float32 1-10/101-107) exported by
``lcz:exportmap`` in QGIS and loaded styled: every class present in the output has its
LCZ legend entry (code, colour, name) in the loaded style, and nothing is left unstyled.

``tests/analysis/test_read_map.py`` already checks how the maps are read (codes,
nodata, CRS); here: what an analyst sees once the plugin styles them."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from lcz_qgis.analysis.export import UMEP_CODES
from lcz_qgis.common.legend import LCZ_CLASSES
from lcz_qgis.raster.io import open_dataset

pytestmark = pytest.mark.qgis

# map -> the LCZ codes (1-17) it holds (read_map: 101-107 are A-G)
MAPS = {
    "w2w/Shanghai.tif": {1, 2, 3, 4, 5, 6, 8, 10, 11, 12, 14, 15, 17},
    "w2w/lcz_zaragoza.tif": {2, 3, 5, 6, 8, 9, 11, 12, 13, 14, 15, 16, 17},
    "paris_wudapt/lcz_zonePreanalyse.tif": {1, 2, 3, 4, 5, 6, 8, 11, 12, 14, 15, 17},
}
LEGEND = {c.code: c for c in LCZ_CLASSES}


def _real(shared_dir, tmp_path, name):
    """A copy of the real map: QGIS writes the statistics of a raster it loads (.aux.xml)
    beside it, and ../shared stays as it is."""
    path = shared_dir / "real" / "lcz_maps" / name
    if not path.exists():
        pytest.skip(f"the real map lcz_maps/{name} is not in ../shared")
    copy = tmp_path / "in" / path.name
    copy.parent.mkdir()
    shutil.copyfile(path, copy)
    return copy


def _export_and_load(run_alg, src, out, fmt):
    """Run lcz:exportmap and load its output with the style QGIS gives it on loading."""
    from qgis.core import QgsRasterLayer

    res = run_alg("lcz:exportmap", {"MAP": str(src), "FORMAT": fmt, "OUTPUT": str(out)})
    assert res["OUTPUT"] == str(out)
    layer = QgsRasterLayer(str(out), "map")
    assert layer.isValid()
    message, ok = layer.loadDefaultStyle()  # the .qml written beside the GeoTIFF
    assert ok, message
    with open_dataset(out) as ds:
        values = set(np.unique(ds.read(1)).tolist()) - {ds.nodata}
    return layer, values


@pytest.mark.parametrize("name", sorted(MAPS))
def test_wrf_export_styles_every_code_present_in_the_legend_colours(
    run_alg, shared_dir, tmp_path, name
):
    layer, values = _export_and_load(
        run_alg, _real(shared_dir, tmp_path, name), tmp_path / "wrf.tif", "wrf"
    )
    assert values == MAPS[name]  # 101-107 became 11-17; nodata (-1, -999) became 0
    renderer = layer.renderer()
    assert renderer.type() == "paletted"
    palette = {int(c.value): c for c in renderer.classes()}
    for code in values:
        assert palette[code].color.name() == LEGEND[code].color.lower()
        assert palette[code].label == LEGEND[code].label
    assert layer.crs().authid() == "EPSG:4326"


@pytest.mark.parametrize("name", sorted(MAPS))
def test_umep_export_styles_umep_codes_101_107_in_the_legend_colours(
    run_alg, shared_dir, tmp_path, name
):
    src = _real(shared_dir, tmp_path, name)
    layer, values = _export_and_load(run_alg, src, tmp_path / "umep.tif", "umep")
    assert values == {int(UMEP_CODES[c]) for c in MAPS[name]}  # A-G as 101-107 for UMEP
    palette = {int(c.value): c for c in layer.renderer().classes()}
    for code in MAPS[name]:
        entry = palette[int(UMEP_CODES[code])]
        assert (entry.color.name(), entry.label) == (LEGEND[code].color.lower(), LEGEND[code].label)
    with open_dataset(src) as a, open_dataset(tmp_path / "umep.tif") as b:
        assert (a.width, a.height, a.crs) == (b.width, b.height, b.crs)  # cell for cell
