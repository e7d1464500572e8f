"""What the tests share besides fixtures: the checkout's paths, qgis_process and its
environment, and the generators of test data (GeoTIFFs, So2Sat HDF5, SAFE-like Sentinel-2
products, Sentinel-1 VV/VH pairs, a deterministic stand-in model).

Test modules import it as ``helpers`` (``tests/`` is on ``sys.path`` through
``conftest.py``); the fixtures live in ``conftest.py``. Tests sit in folders named after the
core's packages (``tests/classify`` for ``lcz_qgis/classify``, ...)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np

from lcz_qgis.models.modelfile import LczModel, new_manifest
from lcz_qgis.raster.io import closing_raster, create_geotiff, gdal, osr
from lcz_qgis.so2sat.writer import create_so2sat

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
PLUGIN_NAME = "lcz_mapping"
VENV_SITE = (
    REPO / ".venv" / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
)
QGIS_PROCESS = shutil.which("qgis_process.bin") or "/usr/bin/qgis_process.bin"

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def qgis_process_env(config_root: Path) -> dict:
    """The environment for ``qgis_process.bin`` with the test profile at ``config_root``."""
    env = dict(os.environ)
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["QGIS_CUSTOM_CONFIG_PATH"] = str(config_root)
    # qgis_process embeds Debian's python3; give it the venv's packages (TensorFlow, skops)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(VENV_SITE), env.get("PYTHONPATH")]))
    return env


# -- generators first written for classify/test_classify.py ----------


class BrightnessModel(LczModel):
    """A fast deterministic model for geometry/option tests: class from mean brightness."""

    def __init__(self, sensor="sen2", bands=None):
        n = 10 if sensor == "sen2" else 8
        super().__init__(new_manifest("test", "none", sensor, bands or list(range(n))))

    def _predict(self, x, batch_size):
        m = x.mean(axis=(1, 2, 3))
        logits = -((m[:, None] * 60 - np.arange(17)[None, :]) ** 2)
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)


def epsg_wkt(epsg):
    s = osr().SpatialReference()
    s.ImportFromEPSG(epsg)
    return s.ExportToWkt()


def write_raster(path, arr, gt=(690000.0, 10.0, 0.0, 5340000.0, 0.0, -10.0), epsg=32632,
                 nodata=None, gtype=None, names=None):  # fmt: skip
    """arr (H, W, C) or (H, W) -> a GeoTIFF in EPSG ``epsg`` (none when 0) with geotransform
    ``gt``; float32 unless ``gtype`` (a GDAL type) says otherwise; ``names``: the band
    descriptions. Written by the project's ``create_geotiff`` with GDAL's default layout
    (no creation options)."""
    arr = arr if arr.ndim == 3 else arr[..., None]
    h, w, c = arr.shape
    wkt = epsg_wkt(epsg) if epsg else None
    dtype = gtype or "float32"
    made = create_geotiff(path, w, h, c, dtype, gt, wkt, nodata, [], names or None)
    with closing_raster(made) as ds:
        ds.write(np.moveaxis(arr, -1, 0).astype(ds.dtypes[0], copy=False))
    return path


# -- generators first written for patches/test_patches.py ----------


def write_so2sat(path, n, seed=0, codes=None):
    """A So2Sat file (``so2sat.writer.create_so2sat``) of ``n`` random float64 patches of
    both sensors with LCZ ``codes`` (random when None); returns the codes."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(1, 18, n) if codes is None else np.asarray(codes)
    with h5py.File(path, "w") as f:
        # distinct values per patch, so a misplaced patch cannot pass
        sen2 = rng.random((n, 32, 32, 10)) * 0.3 + np.arange(n)[:, None, None, None]
        sen1 = rng.random((n, 32, 32, 8)) + np.arange(n)[:, None, None, None]
        create_so2sat(f, codes, {"sen2": sen2, "sen1": sen1})
    return codes


def write_h5(path, codes, sen2=None, sen1=None):
    """A So2Sat file (``so2sat.writer.create_so2sat``) of the given patches (each as given,
    or absent when None) with LCZ ``codes``; returns ``path``."""
    patches = {k: v for k, v in (("sen2", sen2), ("sen1", sen1)) if v is not None}
    with h5py.File(path, "w") as f:
        create_so2sat(f, codes, patches)
    return path


# -- generators first written for patches/test_patches_qgis.py ----------


def run_and_load(alg_id, params):
    """processing.runAndLoadResults into a fresh project: post-processors run as in QGIS."""
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsProject

    project = QgsProject.instance()
    project.clear()
    context = QgsProcessingContext()
    context.setProject(project)
    res = processing.runAndLoadResults(
        alg_id, params, feedback=QgsProcessingFeedback(), context=context
    )
    layers = {Path(lyr.source().split("|")[0]).name: lyr for lyr in project.mapLayers().values()}
    return res, layers


def renderer_band(renderer) -> int:
    """The band a single-band renderer draws: ``inputBand()`` from QGIS 3.38, where
    ``band()`` is deprecated; ``band()`` before."""
    return renderer.inputBand() if hasattr(renderer, "inputBand") else renderer.band()


# -- generators first written for sentinel/test_prepare_s2.py ----------

TILE = "T32TPT"


STAMP = "20230715T102559"


ORIGIN = (690000.0, 5340000.0)  # upper-left, EPSG:32632


BANDS_10 = ("B02", "B03", "B04", "B08")


BANDS_20 = ("B05", "B06", "B07", "B8A", "B11", "B12", "SCL")


ESA = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")


# So2Sat order B2 B3 B4 B5 B6 B7 B8 B8A B11 B12 -> per-band surface reflectance of the city
MTD = """<?xml version="1.0" encoding="UTF-8"?>
<n1:Level-2A_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-2A.xsd">
  <n1:General_Info><Product_Info>
    <PROCESSING_BASELINE>05.09</PROCESSING_BASELINE>
    <PRODUCT_TYPE>S2MSI2A</PRODUCT_TYPE>
  </Product_Info>
  <Product_Image_Characteristics>
    <QUANTIFICATION_VALUES_LIST>
      <BOA_QUANTIFICATION_VALUE unit="none">10000</BOA_QUANTIFICATION_VALUE>
    </QUANTIFICATION_VALUES_LIST>
    <BOA_ADD_OFFSET_VALUES_LIST>
{offsets}
    </BOA_ADD_OFFSET_VALUES_LIST>
  </Product_Image_Characteristics></n1:General_Info>
</n1:Level-2A_User_Product>
"""


def s2_driver():
    g = gdal()
    return ("JP2OpenJPEG", "jp2") if g.GetDriverByName("JP2OpenJPEG") else ("GTiff", "tif")


def write_s2_band(path: Path, arr: np.ndarray, res: float, origin=ORIGIN, epsg=32632) -> None:
    g = gdal()
    drv_name, _ = s2_driver()
    mem = g.GetDriverByName("MEM").Create("", arr.shape[1], arr.shape[0], 1, g.GDT_UInt16)
    mem.SetGeoTransform((origin[0], res, 0.0, origin[1], 0.0, -res))
    srs = osr().SpatialReference()
    srs.ImportFromEPSG(epsg)
    mem.SetProjection(srs.ExportToWkt())
    mem.GetRasterBand(1).WriteArray(arr)
    opts = ["QUALITY=100", "REVERSIBLE=YES"] if drv_name == "JP2OpenJPEG" else ["TILED=YES"]
    g.GetDriverByName(drv_name).CreateCopy(str(path), mem, options=opts)


def dn_of(band: str, size10: int, seed: int = 0) -> np.ndarray:
    """DN pattern of a band at its native resolution: constant 4x4 blocks + the offset."""
    res = 10 if band in BANDS_10 else 20
    n = size10 * 10 // res
    rng = np.random.default_rng(sum(map(ord, band)) * 7 + seed)
    blocks = rng.integers(1100, 4000, size=(n // 4 + 1, n // 4 + 1))
    return np.kron(blocks, np.ones((4, 4), np.int64))[:n, :n].astype(np.uint16)


def make_safe(folder: Path, size10: int = 128, offset: int = -1000, seed: int = 0) -> Path:
    """A SAFE-like L2A product: 10 m and 20 m bands named like real ones, SCL, MTD_MSIL2A.xml.

    Pixel DN patterns come from ``dn_of``; DN 0 (nodata) in a 8 x 16 corner of every 10 m band
    (4 x 8 at 20 m); SCL is 4 (vegetation) except a cloud (9) and a shadow (3) square.
    """
    _, ext = s2_driver()
    safe = folder / f"S2A_MSIL2A_{STAMP}_N0509_R022_{TILE}_20230715T150000.SAFE"
    img = safe / "GRANULE" / f"L2A_{TILE}_A042000_{STAMP}" / "IMG_DATA"
    for r in ("R10m", "R20m"):
        (img / r).mkdir(parents=True, exist_ok=True)
    for band in BANDS_10 + BANDS_20:
        res = 10 if band in BANDS_10 else 20
        if band == "SCL":
            arr = np.full((size10 // 2, size10 // 2), 4, np.uint16)
            arr[20:28, 20:28] = 9  # cloud: 10 m rows/cols 40..55
            arr[30:34, 40:44] = 3  # shadow: 10 m rows 60..67, cols 80..87
        else:
            arr = dn_of(band, size10, seed)
            k = 1 if res == 10 else 2
            arr[: 8 // k, : 16 // k] = 0
        write_s2_band(img / f"R{res}m" / f"{TILE}_{STAMP}_{band}_{res}m.{ext}", arr, float(res))
    offsets = "\n".join(
        f'      <BOA_ADD_OFFSET band_id="{i}">{offset}</BOA_ADD_OFFSET>' for i in range(len(ESA))
    )
    (safe / "MTD_MSIL2A.xml").write_text(MTD.format(offsets=offsets))
    return safe


def band_file(safe: Path, band: str) -> Path:
    return next((safe / "GRANULE").rglob(f"*_{band}_*m.*"))


# -- generators first written for sentinel/test_prepare_s1.py ----------

REF_ORIGIN = (690000.0, 5340000.0)


def make_s1_pair(folder, db=True, shift=(5.0, -5.0), res=20.0, n=60, seed=3, nodata_corner=True):
    """VV/VH on a 20 m grid offset from the reference: two halves (bright/dark) + speckle."""
    rng = np.random.default_rng(seed)
    out = {}
    for pol, (lo, hi) in (("VV", (0.02, 0.3)), ("VH", (0.004, 0.06))):
        sigma0 = np.where(np.arange(n)[None, :] < n // 2, lo, hi) * np.ones((n, 1))
        x = sigma0 * rng.gamma(4.4, 1 / 4.4, (n, n))  # GRD-like speckle
        if db:
            x = 10 * np.log10(x)
        if nodata_corner:
            x[:6, :6] = np.nan
        gt = (REF_ORIGIN[0] + shift[0] - 40, res, 0, REF_ORIGIN[1] + shift[1] + 40, 0, -res)
        out[pol] = write_raster(folder / f"s1_{pol}.tif", x.astype(np.float32), gt)
    return out


# -- generators first written for sentinel/test_composite_s2.py ----------


def make_safe_date(folder, date: str, clouds=(), seed: int = 0, size10: int = 64,
                   level: str = "L2A", baseline: str = "05.09") -> Path:  # fmt: skip
    """A SAFE-like product of one ``date`` (YYYYMMDD, in its name) in ``folder``.

    ``make_safe``'s bands (``seed`` changes the DN) with an SCL of class 4 except the
    ``clouds``: squares ``(row, col, size[, class])`` in 10 m pixels (even numbers), class 9
    unless given (3 shadow, 8/9 cloud, 10 cirrus). ``level="L1C"``: no SCL, an
    MTD_MSIL1C.xml with RADIO_ADD_OFFSET. ``baseline`` before "04.00": no offsets in the
    MTD file and every DN 1000 lower, so the reflectance is the same as at baseline 05.09.
    """
    folder = Path(folder)
    work = folder / f"_{date}_{seed}"
    work.mkdir(parents=True, exist_ok=True)
    made = make_safe(work, size10=size10, seed=seed)
    safe = (
        folder
        / f"S2A_MSI{level}_{date}T102559_N{baseline.replace('.', '')}_R022_{TILE}_{date}T150000.SAFE"
    )
    made.rename(safe)
    work.rmdir()
    scl = np.full((size10 // 2, size10 // 2), 4, np.uint16)
    for cloud in clouds:
        r, c, n, cls = (*cloud, 9) if len(cloud) == 3 else cloud
        scl[r // 2 : (r + n) // 2, c // 2 : (c + n) // 2] = cls
    write_s2_band(band_file(safe, "SCL"), scl, 20.0)
    old = float(baseline) < 4.0
    if old:  # the same reflectance without the offset: DN 1000 lower
        g = gdal()
        for band in BANDS_10 + BANDS_20[:-1]:
            path = band_file(safe, band)
            arr = g.Open(str(path)).ReadAsArray().astype(np.int64)
            res = 10.0 if band in BANDS_10 else 20.0
            write_s2_band(path, np.where(arr > 0, arr - 1000, 0).astype(np.uint16), res)
    offsets = "" if old else "\n".join(
        f'      <BOA_ADD_OFFSET band_id="{i}">-1000</BOA_ADD_OFFSET>' for i in range(len(ESA))
    )  # fmt: skip
    mtd = MTD.format(offsets=offsets).replace(">05.09<", f">{baseline}<")
    (safe / "MTD_MSIL2A.xml").unlink()
    if level == "L1C":
        band_file(safe, "SCL").unlink()
        mtd = (mtd.replace("Level-2A", "Level-1C").replace("S2MSI2A", "S2MSI1C")
               .replace("BOA_ADD_OFFSET", "RADIO_ADD_OFFSET")
               .replace("BOA_QUANTIFICATION_VALUE", "QUANTIFICATION_VALUE"))  # fmt: skip
    (safe / f"MTD_MSI{level}.xml").write_text(mtd)
    return safe


# -- generators first written for training_areas/test_training_areas.py ----------

# Training areas on the sample city (lcz_qgis.sample_data.write_scene: 8 x 8 blocks of
# 640 m from (690000, 5340000), EPSG:32632), in UTM: name -> (LCZ code, parts, z). Each part
# is a rectangle (x0, y0, x1, y1) inside a block of that class, edges off the 100 m grid.
SCENE_AREAS = {
    "nodata": (11, [(690150, 5339650, 690450, 5339850)], False),  # the nodata strip
    "forest_a": (11, [(690150, 5338850, 690490, 5339250)], False),
    "forest_3d": (11, [(690130, 5335050, 690510, 5335330)], True),  # 3-D coordinates
    "forest_b": (11, [(690770, 5335050, 691150, 5335330)], False),
    "plants_multi": (
        14,
        [(691330, 5339550, 691630, 5339850), (691990, 5339550, 692290, 5339850)],
        False,
    ),  # fmt: skip
    "plants_b": (14, [(693890, 5338770, 694230, 5339130)], False),
    "plants_c": (14, [(690130, 5336250, 690470, 5336550)], False),
    "water_huge": (17, [(693237, 5336827, 693937, 5337427)], False),  # 420,000 m2
    "water_a": (17, [(690130, 5336850, 690470, 5337150)], False),
    "water_b": (17, [(690770, 5336850, 691130, 5337250)], False),
    "open_a": (6, [(691350, 5338750, 691850, 5339150)], False),  # overlaps "midrise_overlap"
    "open_b": (6, [(690730, 5338130, 691130, 5338550)], False),
    "open_c": (6, [(692010, 5335610, 692430, 5335930)], False),
    "open_outside": (6, [(700030, 5338130, 700430, 5338550)], False),  # east of the raster
    "midrise_overlap": (5, [(691450, 5338450, 691750, 5338950)], False),
    "midrise_b": (5, [(693250, 5338170, 693570, 5338570)], False),
    "midrise_c": (5, [(693250, 5336250, 693590, 5336650)], False),
    "compact_tiny": (2, [(692520, 5338420, 692570, 5338470)], False),  # no grid point
    "compact_b": (2, [(692610, 5338130, 692990, 5338550)], False),
    "compact_c": (2, [(692610, 5336210, 692990, 5336590)], False),
    "rock_edge": (15, [(694750, 5336250, 695090, 5336550)], False),  # last column leaves
    "rock_b": (15, [(694530, 5335570, 694910, 5335970)], False),
    "rock_c": (15, [(694530, 5335050, 694910, 5335310)], False),
    "industry_a": (8, [(690730, 5336210, 691110, 5336590)], False),  # 2 polygons of LCZ 8
    "industry_b": (8, [(690730, 5335570, 691110, 5335950)], False),
}


def _ring(ogr, x0, y0, x1, y1, z=None):
    ring = ogr.Geometry(ogr.wkbLinearRing)
    for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)):
        if z is None:
            ring.AddPoint_2D(float(x), float(y))
        else:
            ring.AddPoint(float(x), float(y), float(z))
    return ring


def area_geometry(parts, z=False, epsg=4326):
    """An OGR (multi-)polygon of rectangles given in EPSG:32632, transformed to ``epsg``."""
    from osgeo import ogr

    polys = []
    for x0, y0, x1, y1 in parts:
        p = ogr.Geometry(ogr.wkbPolygon25D if z else ogr.wkbPolygon)
        p.AddGeometry(_ring(ogr, x0, y0, x1, y1, 12.5 if z else None))
        polys.append(p)
    if len(polys) == 1:
        g = polys[0]
    else:
        g = ogr.Geometry(ogr.wkbMultiPolygon)
        for p in polys:
            g.AddGeometry(p)
    if epsg != 32632:
        s, d = osr().SpatialReference(), osr().SpatialReference()
        s.ImportFromEPSG(32632)
        d.ImportFromEPSG(epsg)
        for r in (s, d):
            r.SetAxisMappingStrategy(osr().OAMS_TRADITIONAL_GIS_ORDER)
        g.Transform(osr().CoordinateTransformation(s, d))
    return g


def write_areas_file(path, areas=None, field="lcz", epsg=4326, driver="GPKG", values=None):
    """A polygon layer of ``areas`` (SCENE_AREAS by default) with the class in ``field``
    (``values``: name -> the value to write instead of the code); returns the names in
    feature order."""
    from osgeo import ogr

    ogr.UseExceptions()
    areas = SCENE_AREAS if areas is None else areas
    srs = osr().SpatialReference()
    srs.ImportFromEPSG(epsg)
    ds = ogr.GetDriverByName(driver).CreateDataSource(str(path))
    lyr = ds.CreateLayer("areas", srs, ogr.wkbUnknown)
    kind = ogr.OFTString if values else ogr.OFTInteger
    if field:
        lyr.CreateField(ogr.FieldDefn(field, kind))
    lyr.CreateField(ogr.FieldDefn("name", ogr.OFTString))
    names = []
    for name, (code, parts, z) in areas.items():
        f = ogr.Feature(lyr.GetLayerDefn())
        f.SetGeometry(area_geometry(parts, z, epsg))
        if field:
            f.SetField(field, values[name] if values else code)
        f.SetField("name", name)
        lyr.CreateFeature(f)
        names.append(name)
    ds = None
    return names


KML_FOLDER_NAMES = {c: str(c) if c <= 10 else "ABCDEFG"[c - 11] for c in range(1, 18)}


def write_wudapt_kml(path, areas=None, folder_names=None, kmz=False):
    """The WUDAPT template layout: one Folder per class (names ``folder_names[code]``, by
    default 1-10 and A-G), Placemarks holding the polygons in EPSG:4326. ``kmz``: a zip
    holding doc.kml. Returns the area names in reading order (folders by code)."""
    import zipfile

    areas = SCENE_AREAS if areas is None else areas
    names = folder_names or KML_FOLDER_NAMES
    folders, order = [], []
    for code in sorted({c for c, _, _ in areas.values()}):
        marks = []
        for name, (c, parts, z) in areas.items():
            if c != code:
                continue
            g = area_geometry(parts, z, 4326)
            marks.append(f"<Placemark><name>{name}</name>{g.ExportToKML()}</Placemark>")
            order.append(name)
        folders.append(f"<Folder><name>{names[code]}</name>{''.join(marks)}</Folder>")
    doc = ('<?xml version="1.0" encoding="UTF-8"?>\n<kml xmlns="http://www.opengis.net/kml/2.2">'
           f"<Document><name>WUDAPT training areas</name>{''.join(folders)}</Document></kml>")  # fmt: skip
    if kmz:
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("doc.kml", doc)
    else:
        Path(path).write_text(doc)
    return order


@contextlib.contextmanager
def without_libkml():
    """GDAL as Debian's 3.13 and later builds it, without the LIBKML driver (no KMZ as a
    vector file; .kml read by the KML driver), in this process; both KML drivers are
    registered again after it in GDAL's order (LIBKML before KML, so a .kml opens with
    LIBKML again)."""
    from osgeo import gdal

    libkml, kml = gdal.GetDriverByName("LIBKML"), gdal.GetDriverByName("KML")
    if libkml is None:  # already so
        yield
        return
    # GDAL_SKIP too: rasterio registers all drivers again when it starts its environment,
    # and GDALAllRegister then drops (and deletes) the ones GDAL_SKIP names
    skip = gdal.GetConfigOption("GDAL_SKIP")
    gdal.SetConfigOption("GDAL_SKIP", " ".join(filter(None, [skip, "LIBKML"])))
    libkml.Deregister()
    try:
        yield
    finally:
        gdal.SetConfigOption("GDAL_SKIP", skip)
        kml.Deregister()
        libkml.Register()
        kml.Register()


def points_in_rectangles(parts, xs, ys):
    """Brute force: which (xs, ys) points lie strictly inside any rectangle of ``parts``."""
    inside = np.zeros(xs.shape, bool)
    for x0, y0, x1, y1 in parts:
        inside |= (xs > x0) & (xs < x1) & (ys > y0) & (ys < y1)
    return inside


def expected_area_points(rasters, nodata, areas=None, x0=690000.0, y0=5340000.0, size=512):
    """(x, y) -> (code, area name) of every window a training-area run must write, from
    scratch: the 100 m grid points strictly inside each area's rectangles (an area of
    300,000 m² or more: within 300 m of its centroid instead), those claimed by areas of
    two classes left out, then those whose 32 x 32 window (10 m pixels from the
    upper-left corner ``x0, y0``; ``size`` pixels square) leaves the raster or holds
    ``nodata`` in any of ``rasters`` ((rows, cols, bands) arrays). A point in several
    areas of one class goes to the first name in sorted order."""
    import math

    areas = SCENE_AREAS if areas is None else areas
    g = np.arange(0, 100_000_000, 100.0)
    xs = g[(g > x0 - 1000) & (g < x0 + 10 * size + 1000)]
    ys = g[(g > y0 - 10 * size - 1000) & (g < y0 + 1000)]
    gx, gy = np.meshgrid(xs, ys)
    claims: dict = {}
    for name, (code, parts, _) in areas.items():
        if sum((b[2] - b[0]) * (b[3] - b[1]) for b in parts) >= 300_000:
            (ax0, ay0, ax1, ay1) = parts[0]
            d = np.hypot(gx - (ax0 + ax1) / 2, gy - (ay0 + ay1) / 2)
            # the buffer is a polygon of 120 segments: no point may lie in the sliver
            assert not ((d > 300 * math.cos(math.pi / 120) - 0.01) & (d < 300.01)).any()
            inside = d < 300
        else:
            inside = points_in_rectangles(parts, gx, gy)
        for x, y in zip(gx[inside], gy[inside]):
            claims.setdefault((x, y), []).append((code, name))
    out = {}
    for (x, y), c in claims.items():
        if len({code for code, _ in c}) > 1:  # areas of different classes: left out
            continue
        col0, row0 = int((x - x0) / 10) - 16, int((y0 - y) / 10) - 16
        if col0 < 0 or row0 < 0 or col0 + 32 > size or row0 + 32 > size:
            continue
        win = np.s_[row0 : row0 + 32, col0 : col0 + 32]
        if any((r[win] == nodata).any() for r in rasters):
            continue
        out[(x, y)] = min(c)
    return out


# -- generators first written for sentinel/test_composite_s2.py (zip, another CRS) ----------


def zip_safe(safe: Path, dst: Path | None = None) -> Path:
    """A ``.zip`` of a SAFE-like product as ESA serves it: the ``.SAFE`` folder at its root."""
    import zipfile

    safe = Path(safe)
    dst = Path(dst) if dst else safe.with_suffix(".zip")
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as z:
        for f in sorted(safe.rglob("*")):
            if f.is_file():
                z.write(f, f.relative_to(safe.parent).as_posix())
    return dst


def safe_in_crs(safe: Path, epsg: int, shift=(0.0, 0.0)) -> Path:
    """Rewrite, in place, every band file of a SAFE-like product (``make_safe``) in
    another CRS: each band is first moved by ``shift`` (metres east, north, in its own
    CRS), then warped (nearest, so DN and SCL classes stay integers) onto a north-up grid
    of ``epsg`` at its own resolution; pixels outside its footprint are DN 0 (nodata)."""
    g = gdal()
    drv_name, _ = s2_driver()
    opts = ["QUALITY=100", "REVERSIBLE=YES"] if drv_name == "JP2OpenJPEG" else ["TILED=YES"]
    for path in sorted((Path(safe) / "GRANULE").rglob("*_*m.*")):
        src = g.Open(str(path))
        arr, gt, wkt = src.ReadAsArray(), src.GetGeoTransform(), src.GetProjection()
        src = None
        mem = g.GetDriverByName("MEM").Create("", arr.shape[1], arr.shape[0], 1, g.GDT_UInt16)
        mem.SetGeoTransform((gt[0] + shift[0], gt[1], 0.0, gt[3] + shift[1], 0.0, gt[5]))
        mem.SetProjection(wkt)
        mem.GetRasterBand(1).WriteArray(arr)
        warped = g.Warp("", mem, format="MEM", dstSRS=f"EPSG:{epsg}", xRes=gt[1],
                        yRes=-gt[5], targetAlignedPixels=True, resampleAlg="near",
                        srcNodata=0, dstNodata=0)  # fmt: skip
        warped.GetRasterBand(1).DeleteNoDataValue()
        path.unlink()
        g.GetDriverByName(drv_name).CreateCopy(str(path), warped, options=opts)
    return Path(safe)


# -- generators first written for cluster/test_classify_many_*.py ----------


def write_crop(src, dst, col: int, row: int, width: int, height: int, epsg: int | None = None):
    """Window (col, row, width, height) of the raster ``src`` as the GeoTIFF ``dst``, on the
    same pixel grid; ``epsg`` declares another CRS for the same coordinates (a raster of
    another UTM zone). Returns ``dst``."""
    import rasterio
    from rasterio.crs import CRS
    from rasterio.windows import Window

    win = Window(col, row, width, height)
    with rasterio.open(src) as s:
        layout = ("blockxsize", "blockysize", "tiled", "compress", "interleave")
        opts = [f"{k.upper()}={s.profile[k]}" for k in layout if k in s.profile]
        crs = CRS.from_epsg(epsg) if epsg else s.crs
        gt = s.window_transform(win).to_gdal()
        made = create_geotiff(dst, width, height, s.count, s.dtypes[0], gt, crs, s.nodata, opts)
        with closing_raster(made) as d:
            d.write(s.read(window=win))
    return Path(dst)


@contextlib.contextmanager
def mounted_tmpfs(disk: Path, size: str):
    """A tmpfs of ``size`` (mount's form: "1m", "48m") mounted at the existing folder
    ``disk`` for the block, unmounted after; the test is skipped where mounting is not
    permitted (it needs root)."""
    import pytest

    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(disk)],
                       capture_output=True)  # fmt: skip
    if r.returncode != 0:
        pytest.skip(f"mount -t tmpfs is not permitted here: {r.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True, check=False)
