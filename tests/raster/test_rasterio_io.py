"""Raster I/O goes through rasterio, on the libgdal QGIS loads (issue 12, item 5).

An AST scan of the core: ``osgeo.gdal`` is imported in ``raster/io.py`` only (``gdal()``,
kept for what rasterio cannot do), and the modules ported to rasterio do not even call
``gdal()`` (``common/atomic.py`` only silences an osgeo.gdal that is already loaded). The dynamic linker resolves rasterio's extensions and QGIS's core library to
one and the same libgdal file. Reading and writing through the new helpers keeps the
GeoTIFF layout, nodata, descriptions and LCZ colour table and category names.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from helpers import write_raster

from lcz_qgis.common.legend import category_names
from lcz_qgis.raster.io import (
    closing_raster,
    create_geotiff,
    gdal,
    gdal_writes,
    name_lcz_categories,
    open_raster,
    read_bands,
    read_window,
    style_lcz_band,
    trim_cache,
)

CORE = Path(__file__).resolve().parents[2] / "lcz_qgis"
# the modules whose raster I/O was ported: no ``gdal()`` left in them
PORTED = [
    "raster/block_reader.py",
    "classify/inputs.py",
    "classify/cell_mask.py",
    "classify/outputs.py",
    "classify/postfilter.py",
    "classify/pipeline.py",
    "classify/map_image.py",
    "sentinel/prepare_s1.py",
    "sentinel/prepare_s2.py",
    "products/render.py",
    "patches/load.py",
    "patches/outlines.py",
    "patches/rasters.py",
    "common/atomic.py",
    "sample_data.py",
    "demo.py",
    "models/pretrained.py",
    "models/pretrained_import.py",
]


IMPORTERS = {"require", "import_module", "__import__"}


def _called(call: ast.Call) -> str:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def _gdal_imports(tree: ast.AST) -> list[int]:
    """Lines importing osgeo.gdal: ``import osgeo.gdal``, ``from osgeo import gdal``,
    ``from osgeo.gdal import ...``, or ``require("osgeo.gdal", ...)`` / import_module."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            lines += [node.lineno for a in node.names if a.name.startswith("osgeo.gdal")]
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if mod.startswith("osgeo.gdal") or (
                mod == "osgeo" and any(a.name == "gdal" for a in node.names)
            ):
                lines.append(node.lineno)
        elif isinstance(node, ast.Call) and node.args and _called(node) in IMPORTERS:
            first = node.args[0]
            if isinstance(first, ast.Constant) and str(first.value).startswith("osgeo.gdal"):
                lines.append(node.lineno)
    return lines


def test_only_raster_io_imports_osgeo_gdal():
    found = {}
    for path in sorted(CORE.rglob("*.py")):
        rel = path.relative_to(CORE).as_posix()
        lines = _gdal_imports(ast.parse(path.read_text(), rel))
        if lines and rel != "raster/io.py":
            found[rel] = lines
    assert found == {}, f"osgeo.gdal imported outside raster/io.py: {found}"
    assert _gdal_imports(ast.parse((CORE / "raster/io.py").read_text()))  # the scan sees it


def test_ported_modules_do_not_call_gdal():
    offenders = {}
    for rel in PORTED:
        tree = ast.parse((CORE / rel).read_text(), rel)
        names = [
            n.lineno
            for n in ast.walk(tree)
            if (isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "gdal")
            or (isinstance(n, ast.ImportFrom) and any(a.name == "gdal" for a in n.names))
        ]
        if names:
            offenders[rel] = names
    assert offenders == {}, f"gdal() still used in: {offenders}"


def _linked_gdal(binary: str) -> str:
    """The real path of the libgdal the dynamic linker gives ``binary``."""
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    m = re.search(r"libgdal[^\s]*\s+=>\s+(\S+)", out)
    assert m, out
    return os.path.realpath(m.group(1))


def test_rasterio_links_the_libgdal_qgis_loads():
    import importlib.util

    import rasterio._base

    spec = importlib.util.find_spec("qgis._core")  # QGIS's bindings, linking libqgis_core
    if not shutil.which("ldd") or spec is None:
        pytest.skip("needs ldd and QGIS's Python bindings")
    rio = _linked_gdal(rasterio._base.__file__)
    assert rio == _linked_gdal(spec.origin)
    from osgeo import _gdal  # and osgeo's, what raster.io.gdal() is

    assert _linked_gdal(_gdal.__file__) == rio


def test_windows_read_pixel_interleaved_into_the_callers_array(tmp_path):
    arr = np.arange(40 * 30 * 3, dtype=np.float32).reshape(40, 30, 3)
    ds, info = open_raster(write_raster(tmp_path / "x.tif", arr, nodata=-1.0))
    assert info.dtype == "Float32" and info.nodata == [-1.0] * 3 and info.count == 3
    out = np.zeros((5, 7, 2), np.float32)
    got = read_window(ds, [2, 0], 4, 10, 7, 5, out)
    assert got is out and np.array_equal(out, arr[10:15, 4:11][..., [2, 0]])
    rows = read_bands(ds, [1], 38, 2, np.float64)
    assert rows.dtype == np.float64 and np.array_equal(rows[..., 0], arr[38:, :, 1])


def test_lcz_map_written_with_rasterio_keeps_colours_and_category_names(tmp_path):
    g = gdal()
    path = tmp_path / "map.tif"
    codes = (np.arange(20 * 17) % 18).astype(np.uint8).reshape(20, 17)
    gt = (500000.0, 100.0, 0.0, 5000000.0, 0.0, -100.0)
    with gdal_writes():
        with closing_raster(create_geotiff(path, 17, 20, 1, "uint8", gt, "", 0)) as ds:
            style_lcz_band(ds)
            ds.write(codes, 1)
            trim_cache(0)  # every block evicted (written) and the cache maximum restored
        name_lcz_categories(path)
    assert g.GetCacheMax() > 0
    d = g.Open(str(path))
    band = d.GetRasterBand(1)
    assert np.array_equal(band.ReadAsArray(), codes) and band.GetNoDataValue() == 0
    assert band.GetDescription() == "LCZ" and band.GetBlockSize() == [256, 256]
    assert band.GetRasterColorInterpretation() == g.GCI_PaletteIndex
    assert band.GetCategoryNames() == category_names()
    assert d.GetMetadata("IMAGE_STRUCTURE")["COMPRESSION"] == "DEFLATE"
