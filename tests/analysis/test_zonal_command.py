"""lcz zonal-stats and lcz:zonalstatistics: the declared command through both front ends."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import write_raster
from osgeo import ogr
from test_zonal import GT, ZONES_UTM, _expected_counts, _map, _write_zones

from lcz_qgis.cli import main


def _majorities(path):
    ds = ogr.Open(str(path))
    return {f.GetField("name"): f.GetField("majority") for f in ds.GetLayer(0)}


def test_cli_writes_the_layer_and_the_table(tmp_path, capsys):
    path, codes = _map(tmp_path)
    zones = _write_zones(tmp_path / "zones.gpkg", ZONES_UTM)
    out, table = tmp_path / "z_lcz.gpkg", tmp_path / "t.csv"
    rc = main(["zonal-stats", "--map", str(path), "--zones", str(zones), "--output", str(out),
               "--table", str(table)])  # fmt: skip
    assert rc == 0
    assert "4 zones" in capsys.readouterr().out
    north = _expected_counts(codes, ZONES_UTM["north"])
    assert _majorities(out)["north"] == int(np.argmax(north[1:])) + 1
    assert table.read_text().startswith("zone_fid,name,cells,nodata_cells,lcz_area_m2,area_1,")


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    path, _ = _map(tmp_path)
    rc = main(["zonal-stats", "--map", str(path), "--zones", str(tmp_path / "none.gpkg"),
               "--output", str(tmp_path / "o.gpkg")])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "none.gpkg" in err
    rc = main(["zonal-stats", "--map", str(path), "--zones", str(path),
               "--output", str(tmp_path / "o.txt")])  # fmt: skip
    assert rc == 2 and "--output" in capsys.readouterr().err


def test_processing_run(tmp_path, run_alg):
    path, codes = _map(tmp_path)
    conf = write_raster(tmp_path / "c.tif", np.full((30, 40), 0.5, np.float32), gt=GT)
    zones = _write_zones(tmp_path / "zones.gpkg", ZONES_UTM)
    out = tmp_path / "z_lcz.gpkg"
    res = run_alg("lcz:zonalstatistics", {"MAP": str(path), "ZONES": str(zones),
                                          "CONFIDENCE": str(conf), "OUTPUT": str(out)})  # fmt: skip
    assert res["ZONES_COUNT"] == 4
    tri = _expected_counts(codes, ZONES_UTM["tri"])
    assert _majorities(res["OUTPUT"])["tri"] == int(np.argmax(tri[1:])) + 1


def test_processing_refuses_missing_zones_with_a_processing_error(tmp_path, run_alg):
    from qgis.core import QgsProcessingException

    path, _ = _map(tmp_path)
    with pytest.raises(QgsProcessingException):
        run_alg("lcz:zonalstatistics", {"MAP": str(path), "ZONES": str(tmp_path / "x.gpkg"),
                                        "OUTPUT": str(tmp_path / "o.gpkg")})  # fmt: skip
