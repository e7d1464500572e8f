"""Bad requests refused once, in the client, before any cluster starts (issue 21, the
cluster parts of finding 9): a named pipe as a list entry or as the list itself (GDAL
would block on it), a tile-index polygon with NaN or infinite vertices, stride 0 and
batch size 0, a malicious model (it used to be refused inside each worker, three tries
per task, each dumping Dask's exception)."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import struct
import zipfile

import pytest

import lcz_qgis.cluster.run as run
from lcz_qgis.cli import main
from lcz_qgis.cluster.run import ManyOptions, classify_many
from lcz_qgis.common.errors import LczError


@pytest.fixture
def no_cluster(monkeypatch):
    """Fail the test if anything tries to start a Dask client."""

    def refuse(*args, **kwargs):
        raise AssertionError("a Dask client was started")

    monkeypatch.setattr(run, "start_client", refuse)


def _refused(inputs, model, out, options=None, match=None):
    with pytest.raises(LczError, match=match) as info:
        classify_many(inputs, model, out, options or ManyOptions(workers=1))
    assert "\n" not in str(info.value)
    return str(info.value)


def test_a_named_pipe_in_the_list_is_refused_without_blocking(four, rf_model, tmp_path,
                                                              no_cluster):  # fmt: skip
    pipe = tmp_path / "pipe.tif"
    os.mkfifo(pipe)
    listing = tmp_path / "list.txt"
    listing.write_text(f"{four['nw']}\n{pipe}\n")
    msg = _refused(listing, rf_model, tmp_path / "out", match="is a named pipe")
    assert str(pipe) in msg
    assert not (tmp_path / "out" / "tiles").exists()


def test_a_named_pipe_as_the_inputs_is_refused(rf_model, tmp_path, no_cluster):
    pipe = tmp_path / "list.txt"
    os.mkfifo(pipe)
    _refused(pipe, rf_model, tmp_path / "out", match="is a named pipe")


def _index_with(path, raster, ring: str):
    """A tile index GeoPackage with one tile polygon, ``ring`` (which may hold a NaN or
    infinite vertex). The polygon goes in as raw GeoPackage geometry after GDAL has closed
    the file: GDAL cannot write an infinite extent into ``gpkg_contents`` and says so from
    the dataset's destructor (a warning in the test log)."""
    from osgeo import ogr, osr

    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32632)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = ds.CreateLayer("tiles", srs, ogr.wkbPolygon, ["SPATIAL_INDEX=NO"])
    for field in ("location", "name"):
        layer.CreateField(ogr.FieldDefn(field, ogr.OFTString))
    feat = ogr.Feature(layer.GetLayerDefn())
    feat.SetField("location", str(raster))
    feat.SetField("name", "broken")
    layer.CreateFeature(feat)
    ds = None
    poly, lr = ogr.Geometry(ogr.wkbPolygon), ogr.Geometry(ogr.wkbLinearRing)
    for x, y in ring:
        lr.AddPoint_2D(x, y)
    poly.AddGeometry(lr)
    con = sqlite3.connect(path)
    try:
        column, srs_id = con.execute("SELECT column_name, srs_id FROM gpkg_geometry_columns "
                                     "WHERE table_name = 'tiles'").fetchone()  # fmt: skip
        # GeoPackage binary: magic, version 0, flags (little-endian, no envelope), srs id
        blob = b"GP\x00\x01" + struct.pack("<i", srs_id) + poly.ExportToWkb(ogr.wkbNDR)
        con.execute(f'UPDATE tiles SET "{column}" = ?', (blob,))
        con.commit()
    finally:
        con.close()
    return path


@pytest.mark.parametrize("bad", [float("nan"), float("inf")], ids=["nan", "inf"])
def test_a_tile_polygon_with_non_finite_vertices_is_refused(bad, four, rf_model, tmp_path,
                                                            no_cluster):  # fmt: skip
    ring = [(690100.0, 5339000.0), (bad, 5339000.0), (690900.0, 5339900.0),
            (690100.0, 5339000.0)]  # fmt: skip
    index = _index_with(tmp_path / "tiles.gpkg", four["nw"], ring)
    msg = _refused(index, rf_model, tmp_path / "out", match="NaN or infinite coordinates")
    assert "tiles.gpkg" in msg and "broken" in msg


@pytest.mark.parametrize("option, value, name", [
    ("stride", 0, "stride"), ("stride", 33, "stride"), ("batch_size", 0, "batch_size"),
    ("workers", 0, "workers"), ("threads", 0, "threads"), ("retries", -1, "retries"),
    ("tile_size", -1, "tile_size"), ("stride", 2.5, "stride"),
])  # fmt: skip
def test_options_out_of_range_are_refused_before_anything(option, value, name, four, rf_model,
                                                          tmp_path, no_cluster):  # fmt: skip
    out = tmp_path / "out"
    msg = _refused([four["nw"]], rf_model, out, ManyOptions(**{option: value}), match=name)
    assert repr(value) in msg
    assert not out.exists()  # refused before the output folder was made


@pytest.mark.parametrize("flag", ["--stride", "--batch-size"])
def test_the_cli_refuses_a_zero_stride_or_batch_size_in_one_line(flag, four, rf_model,
                                                                  tmp_path, capsys, no_cluster):  # fmt: skip
    code = main(["classify-many", "--inputs", str(four["nw"]), "--model", str(rf_model),
                 "--output-folder", str(tmp_path / "out"), flag, "0"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and flag in err and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


def _hostile_forest(rf_model, dst):
    """``rf_model`` with one node of its skops schema turned into ``os.system``."""
    with zipfile.ZipFile(rf_model) as z:
        manifest = json.loads(z.read("manifest.json"))
        member = manifest["model_member"]
        payload = z.read(member)
    src = zipfile.ZipFile(io.BytesIO(payload))
    schema = json.loads(src.read("schema.json"))
    schema["__module__"], schema["__class__"] = "os", "system"
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        for info in src.infolist():
            z.writestr(info, json.dumps(schema) if info.filename == "schema.json"
                       else src.read(info))  # fmt: skip
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", json.dumps(manifest))
        z.writestr(member, inner.getvalue())
    return dst


def test_a_malicious_model_is_refused_once_before_the_cluster_starts(four, rf_model, tmp_path,
                                                                     no_cluster):  # fmt: skip
    bad = _hostile_forest(rf_model, tmp_path / "evil.lczmodel")
    out = tmp_path / "out"
    msg = _refused([four["nw"]], bad, out)
    assert "evil.lczmodel" in msg and "os.system" in msg
    assert not (out / ".lcz-work").exists() and not (out / "tiles").exists()
