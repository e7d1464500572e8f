"""CellMask: an extent or mask polygon that selects no cell is an error, partial overlap is not."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lcz_qgis.classify.cell_mask import CellMask
from lcz_qgis.classify.sliding_window import output_grid
from lcz_qgis.common.errors import LczError
from lcz_qgis.raster.io import osr

# A 512 x 512 px, 10 m raster from (690000, 5340000); 49 x 49 classifiable cells of 100 m
# cover x 690110..695010, y 5334990..5339890 (centres x 690160 + 100 k, y 5339840 - 100 k).
GRID = output_grid(512, 512, (690000.0, 10.0, 0.0, 5340000.0, 0.0, -10.0), 10)


def _wkt(epsg=32632):
    s = osr().SpatialReference()
    s.ImportFromEPSG(epsg)
    return s.ExportToWkt()


def _square(path, x0, y0, x1, y1, epsg=32632):
    ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "crs": {"type": "name", "properties": {"name": f"EPSG:{epsg}"}},
                "features": [
                    {
                        "type": "Feature",
                        "properties": {},
                        "geometry": {"type": "Polygon", "coordinates": [ring]},
                    }
                ],
            }
        )
    )
    return path


def _selected(m: CellMask) -> np.ndarray:
    return m.cells(0, GRID.rows)[: GRID.valid_rows, : GRID.valid_cols]


def test_extent_outside_the_raster_is_an_error():
    with pytest.raises(LczError, match=r"does not overlap the raster: its cells cover \(690110, "):
        CellMask(GRID, _wkt(), extent=(600000, 5300000, 601000, 5301000))
    with pytest.raises(LczError, match="does not overlap"):  # just east of the raster
        CellMask(GRID, _wkt(), extent=(695200, 5336000, 696000, 5338000))


def test_extent_between_cell_centres_is_an_error():
    # inside the raster, but narrower than a cell and between two centres (x 691160, 691260)
    with pytest.raises(LczError, match="holds no cell centre of the 100 m output grid"):
        CellMask(GRID, _wkt(), extent=(691170, 5336000, 691250, 5338000))
    assert _selected(CellMask(GRID, _wkt(), extent=(691170, 5336000, 691270, 5338000))).any()


def test_extent_partly_outside_selects_the_cells_inside():
    m = CellMask(GRID, _wkt(), extent=(694000, 5339000, 700000, 5345000))
    sel = _selected(m)
    # centres x 694060..694960 (10 columns), y 5339840..5339040 (9 rows)
    assert sel.sum() == 90 and sel[:9, -10:].all()


def test_mask_outside_the_raster_is_an_error(tmp_path):
    gj = _square(tmp_path / "far.geojson", 600000, 5300000, 601000, 5301000)
    with pytest.raises(LczError, match="far.geojson' selects no cell"):
        CellMask(GRID, _wkt(), mask=str(gj))
    # the same square in geographic coordinates is far away too
    gj = _square(tmp_path / "ll.geojson", 2.0, 40.0, 2.1, 40.1, epsg=4326)
    with pytest.raises(LczError, match="selects no cell"):
        CellMask(GRID, _wkt(), mask=str(gj))


def test_mask_in_another_crs_over_the_raster_is_accepted(tmp_path):
    o = osr()
    ll = o.SpatialReference()
    ll.ImportFromEPSG(4326)
    ll.SetAxisMappingStrategy(o.OAMS_TRADITIONAL_GIS_ORDER)  # lon, lat
    ct = o.CoordinateTransformation(o.SpatialReference(_wkt()), ll)
    lon0, lat0, _ = ct.TransformPoint(691000.0, 5337000.0)
    lon1, lat1, _ = ct.TransformPoint(693000.0, 5339000.0)
    assert 10 < lon0 < lon1 < 12 and 48 < lat0 < lat1 < 49
    gj = _square(tmp_path / "ll.geojson", lon0, lat0, lon1, lat1, epsg=4326)
    sel = _selected(CellMask(GRID, _wkt(), mask=str(gj)))
    assert 300 < sel.sum() < 500  # about 20 x 20 cells of 100 m


def test_extent_and_mask_without_common_cells_is_an_error(tmp_path):
    gj = _square(tmp_path / "west.geojson", 690000, 5335000, 691000, 5340000)
    m = CellMask(GRID, _wkt(), mask=str(gj))
    assert _selected(m)[:, :9].all() and not _selected(m)[:, 10:].any()
    with pytest.raises(LczError, match="no cell in common"):
        CellMask(GRID, _wkt(), mask=str(gj), extent=(693000, 5335000, 694000, 5340000))
