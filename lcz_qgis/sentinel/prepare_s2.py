"""Prepare a Sentinel-2 product for classification: the So2Sat 10-band stack at 10 m.

Input: an L2A or L1C product as a ``.SAFE`` folder, its ``MTD_MSIL2A.xml`` /
``MTD_MSIL1C.xml``, a ``.zip`` of it, or individual band files (JP2 or GeoTIFF) named like
the product's (``..._B02_10m.jp2``, ``..._B8A_20m.jp2``, ``..._B11.jp2``, ``..._SCL_20m.jp2``).

Output: a tiled, compressed float32 GeoTIFF with B2, B3, B4, B5, B6, B7, B8, B8A, B11, B12
(So2Sat order, band descriptions set) on the 10 m grid of the product's 10 m bands:

* the 20 m bands (B5, B6, B7, B8A, B11, B12) are resampled onto the 10 m grid with a GDAL
  warp, **bilinear** by default (``cubic`` on request); a 20 m pixel splits exactly into
  2 x 2 pixels of 10 m, so the grids stay aligned;
* reflectance = (DN + offset) / quantification. Since processing baseline 04.00
  (January 2022) products carry a per-band offset (``BOA_ADD_OFFSET`` in L2A,
  ``RADIO_ADD_OFFSET`` in L1C, -1000) and ``BOA_QUANTIFICATION_VALUE`` /
  ``QUANTIFICATION_VALUE`` (10000), read from the product's MTD file. Older products
  have no offset (0); a baseline 04.00+ MTD file without offsets gets -1000 (with a
  warning). Without a metadata file the offset is 0 unless given;
* the band files must be on a projected (UTM) grid and all cover the 10 m grid (bands
  of one tile): a band that does not overlap it is an error, one covering part a warning;
* DN 0 is nodata in every band; nodata pixels are -9999 in the output;
* optional cloud mask from the L2A scene classification (SCL, 20 m, resampled nearest):
  classes 3 (cloud shadow), 8 (cloud, medium probability), 9 (cloud, high probability)
  and 10 (thin cirrus) become nodata. L1C products have no SCL;
* optional clip to a bounding box in the raster's CRS and/or to the polygons of a
  vector file (any CRS; pixels outside the polygons become nodata).

The work streams by blocks of 256 rows (a full tile is 10980 x 10980 pixels), so memory
stays near 10 bands x 256 rows x width x 4 bytes.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..common.atomic import StagedOutputs, check_distinct_paths, check_output_path, staged_outputs
from ..common.bands import SEN2_BANDS
from ..common.errors import LczError, param, tool
from ..common.feedback import Feedback
from ..raster.io import (
    check_real_bands,
    classifier_input_options,
    closing_raster,
    create_geotiff,
    gdal_writes,
    info_from_dataset,
    open_dataset,
    open_vector,
    osr,
    polygons_in,
    rasterize_rows,
    read_failures,
    rio,
    warped_vrt,
)

NODATA = -9999.0
TARGET_RES = 10.0
ROWS_PER_BLOCK = 256
CLOUD_CLASSES = (3, 8, 9, 10)  # SCL: cloud shadow, cloud medium/high probability, cirrus
RESAMPLING = ("bilinear", "cubic")
MIN_COVER = 0.99  # a band covering less of the 10 m grid is suspicious (another tile?)
# ESA band order in the MTD files (band_id 0..12)
ESA_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11",
             "B12")  # fmt: skip
# the native resolution (m) of the So2Sat bands
NATIVE_RES = {"B02": 10.0, "B03": 10.0, "B04": 10.0, "B08": 10.0, "B05": 20.0, "B06": 20.0,
              "B07": 20.0, "B8A": 20.0, "B11": 20.0, "B12": 20.0}  # fmt: skip
SO2SAT_TO_ESA = {"B2": "B02", "B3": "B03", "B4": "B04", "B5": "B05", "B6": "B06", "B7": "B07",
                 "B8": "B08", "B8A": "B8A", "B11": "B11", "B12": "B12"}  # fmt: skip
_BAND_RE = re.compile(
    r"(?:^|_)(B0[1-9]|B1[0-2]|B8A|SCL)(?:_(10|20|60)m)?\.(jp2|tif|tiff)$", re.IGNORECASE
)


@dataclass
class Product:
    """Band files and radiometry of a Sentinel-2 product."""

    files: dict  # ESA band name (B02.., SCL) -> GDAL path
    level: str = "unknown"  # "L2A" | "L1C" | "unknown"
    offsets: dict = field(default_factory=dict)  # ESA band -> additive offset (DN)
    quantification: float = 10000.0
    baseline: str = ""
    metadata_file: str = ""
    offset_note: str = ""  # how offsets missing from the metadata were filled in
    warnings: list = field(default_factory=list)  # suspicious metadata, for the user


@dataclass
class PrepareS2Result:
    """What prepare-s2 wrote: the stack, its grid, the product, cloud masking and nodata share."""

    output: Path
    width: int
    height: int
    geotransform: tuple
    product: Product
    cloud_masked: bool
    nodata_fraction: float


# -- finding the product's files ---------------------------------------------------------------


def _res_of(name: str, gdal_path: str) -> float:
    m = _BAND_RE.search(name)
    if m and m.group(2):
        return float(m.group(2))
    try:
        with open_dataset(gdal_path) as ds:
            return abs(ds.transform.a)
    except read_failures():
        return 99.0


def _pick(candidates: list[tuple[str, str]]) -> dict:
    """ESA band -> path, the finest resolution of each (SCL: 20 m if there)."""
    best: dict[str, tuple[float, str]] = {}
    for name, path in candidates:
        if "/QI_DATA/" in path.replace("\\", "/").upper():
            continue
        m = _BAND_RE.search(name)
        if not m:
            continue
        band = m.group(1).upper()
        res = _res_of(name, path)
        if band not in best or res < best[band][0]:
            best[band] = (res, path)
    return {b: p for b, (_, p) in best.items()}


def _number_in(el, name: str) -> float | None:
    """The number in a metadata element; None when the element is empty."""
    text = (el.text or "").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        tag = el.tag.rsplit("}", 1)[-1]
        raise LczError(f"the product metadata '{name}' has {tag} '{text}', not a number") from None


def _set_quantification(el, product: Product, name: str) -> None:
    tag = el.tag.rsplit("}", 1)[-1]
    value = _number_in(el, name)
    if value is None:
        product.warnings.append(
            f"the product metadata '{name}' has an empty {tag}: assuming {product.quantification:g}"
        )
    elif not np.isfinite(value) or value <= 0:
        raise LczError(
            f"the product metadata '{name}' has {tag} {value:g}; it must be a positive "
            "number (10000 in Sentinel-2 products): the product metadata is damaged"
        )
    else:
        product.quantification = value


def baseline_number(baseline: str) -> float | None:
    """The processing baseline ('04.00', 'N0400') as a number, None when unknown."""
    m = re.search(r"(\d+)\.?(\d\d)$", baseline.strip())
    return float(f"{m.group(1)}.{m.group(2)}") if m else None


def _fill_missing_offsets(product: Product, empty: list[str], name: str) -> None:
    """Offsets of the needed bands the metadata does not give: -1000 from baseline 04.00."""
    needed = [SO2SAT_TO_ESA[b] for b in SEN2_BANDS]
    missing = [b for b in needed if b not in product.offsets]
    if not missing:
        return
    base = baseline_number(product.baseline)
    what = "empty" if set(missing) <= set(empty) else "missing"
    where = f"offset (BOA_ADD_OFFSET / RADIO_ADD_OFFSET) {what} for {', '.join(missing)}"
    if base is not None and base >= 4.0:
        value, why = -1000.0, f"processing baseline {product.baseline} (04.00+) requires -1000"
    elif empty:
        value, why = 0.0, f"processing baseline {product.baseline or '?'}: assuming 0"
    else:
        return  # products before baseline 04.00 have no offset
    for b in missing:
        product.offsets[b] = value
    product.offset_note = (
        f"the product metadata '{name}' has the radiometric {where}; {why}, used "
        f"{value:g} (give {param('OFFSET')} to override)"
    )


def _read_metadata(text: bytes, product: Product, name: str) -> None:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise LczError(f"the product metadata '{name}' is not valid XML ({exc})") from None
    product.metadata_file = name
    product.level = "L2A" if "L2A" in name.upper() else "L1C" if "L1C" in name.upper() else ""
    empty: list[str] = []
    for el in root.iter():
        tag = el.tag.rsplit("}", 1)[-1]
        if tag in ("BOA_ADD_OFFSET", "RADIO_ADD_OFFSET"):
            bid = el.get("band_id")
            if bid is not None and bid.isdigit() and int(bid) < len(ESA_BANDS):
                value = _number_in(el, name)
                if value is None:
                    empty.append(ESA_BANDS[int(bid)])
                else:
                    product.offsets[ESA_BANDS[int(bid)]] = value
        elif tag in ("BOA_QUANTIFICATION_VALUE", "QUANTIFICATION_VALUE"):
            _set_quantification(el, product, name)
        elif tag == "PROCESSING_BASELINE" and el.text:
            product.baseline = el.text.strip()
        elif tag == "PRODUCT_TYPE" and el.text and not product.level:
            product.level = "L2A" if "2A" in el.text else "L1C" if "1C" in el.text else ""
    product.level = product.level or "unknown"
    _fill_missing_offsets(product, empty, name)


def find_product(source) -> Product:
    """Locate band files and metadata in a .SAFE folder, MTD xml, zip or list of band files."""
    items = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    if not items:
        raise LczError("give a Sentinel-2 product: a .SAFE folder, a .zip or band files")
    candidates: list[tuple[str, str]] = []
    metadata: tuple[bytes, str] | None = None
    for item in items:
        p = Path(item)
        if not p.exists():
            raise LczError(f"Sentinel-2 input '{p}' does not exist")
        if p.is_file() and p.name.upper().startswith("MTD_MSIL") and p.suffix.lower() == ".xml":
            p = p.parent
        if p.is_dir():
            for f in p.rglob("*"):
                if f.is_file():
                    if f.name.upper() in ("MTD_MSIL2A.XML", "MTD_MSIL1C.XML") and (
                        metadata is None or len(f.relative_to(p).parts) == 1
                    ):
                        metadata = (f.read_bytes(), f.name)
                    else:
                        candidates.append((f.name, str(f)))
        elif p.suffix.lower() == ".zip":
            try:
                with zipfile.ZipFile(p) as z:
                    for n in z.namelist():
                        base = n.rsplit("/", 1)[-1]
                        if base.upper() in ("MTD_MSIL2A.XML", "MTD_MSIL1C.XML"):
                            metadata = (z.read(n), base)
                        elif base:
                            candidates.append((base, f"/vsizip/{p}/{n}"))
            except zipfile.BadZipFile:
                raise LczError(f"'{p.name}' is not a readable zip file") from None
        else:
            candidates.append((p.name, str(p)))
            for meta in ("MTD_MSIL2A.xml", "MTD_MSIL1C.xml"):
                # band files inside an unpacked product: GRANULE/x/IMG_DATA/[Rxxm/]file
                for up in p.parents[:5]:
                    if (up / meta).exists() and metadata is None:
                        metadata = ((up / meta).read_bytes(), meta)
    files = _pick(candidates)
    product = Product(files=files)
    if metadata:
        _read_metadata(metadata[0], product, metadata[1])
    _check_bands(files)
    return product


def _check_bands(files: dict) -> None:
    """Refuse a product without each So2Sat band at its native resolution (10 or 20 m):
    a band missing, or only at 60 m (an incomplete download, a 60 m preview), naming
    the missing 10 m and 20 m band files."""
    missing = [SO2SAT_TO_ESA[b] for b in SEN2_BANDS if SO2SAT_TO_ESA[b] not in files]
    res = {b: _res_of(Path(files[b]).name, files[b]) for b in NATIVE_RES if b in files}
    # (99: a file GDAL cannot read, named without its resolution: said when it is read)
    coarse = {b: r for b, r in res.items() if NATIVE_RES[b] + 0.01 < r < 99.0}
    if not missing and not coarse:
        return
    lacking = sorted(missing + list(coarse), key=ESA_BANDS.index)
    parts = [f"at {r:g} m: {', '.join(b for b in lacking if NATIVE_RES[b] == r)}"
             for r in (10.0, 20.0) if any(NATIVE_RES[b] == r for b in lacking)]  # fmt: skip
    only = ""
    if coarse:
        only = (f" (it holds {', '.join(coarse)} only at "
                f"{'/'.join(f'{r:g}' for r in sorted(set(coarse.values())))} m, too coarse for "
                "the 10 m stack: an incomplete product?)")  # fmt: skip
    raise LczError(
        f"the Sentinel-2 input lacks band(s) {' and '.join(parts)}{only}; it needs B02, B03, B04, B08 "
        "at 10 m and B05, B06, B07, B8A, B11, B12 at 20 m (a whole .SAFE folder or .zip, or "
        "files named like the product's, e.g. T32UPU_20230715T102559_B02_10m.jp2)"
    )


# -- clipping ------------------------------------------------------------------------------


def _vector_bounds(vector_ds, dst_wkt: str) -> tuple[float, float, float, float]:
    o = osr()
    dst = o.SpatialReference()
    dst.ImportFromWkt(dst_wkt)
    dst.SetAxisMappingStrategy(o.OAMS_TRADITIONAL_GIS_ORDER)
    xs, ys = [], []
    for i in range(vector_ds.GetLayerCount()):
        lyr = vector_ds.GetLayer(i)
        src = lyr.GetSpatialRef()
        ct = None
        if src is not None:
            src = src.Clone()
            src.SetAxisMappingStrategy(o.OAMS_TRADITIONAL_GIS_ORDER)
            if not src.IsSame(dst):
                ct = o.CoordinateTransformation(src, dst)
        for feat in lyr:
            geom = feat.GetGeometryRef()
            if geom is None:
                continue
            geom = geom.Clone()
            if ct is not None:
                geom.Transform(ct)
            x0, x1, y0, y1 = geom.GetEnvelope()
            xs += [x0, x1]
            ys += [y0, y1]
        lyr.ResetReading()
    if not xs:
        raise LczError("the mask layer has no features")
    return min(xs), min(ys), max(xs), max(ys)


def _open_vector(path):
    p = str(path).split("|")[0]
    if not os.path.exists(p):
        raise LczError(f"mask layer '{path}' does not exist")
    try:
        ds = open_vector(p)
    except RuntimeError as exc:
        raise LczError(f"cannot open mask layer '{path}': {exc}") from None
    if ds is None or ds.GetLayerCount() == 0:
        raise LczError(f"'{path}' is not a vector layer GDAL/OGR can read")
    return ds


def _target_window(ref_ds, extent, vector_ds) -> tuple[float, float, float, float]:
    gt = ref_ds.transform.to_gdal()
    x0, y1 = gt[0], gt[3]
    x1 = x0 + gt[1] * ref_ds.width
    y0 = y1 + gt[5] * ref_ds.height
    box = [x0, y0, x1, y1]
    clips = []
    if extent is not None:
        e = [float(v) for v in extent]
        if e[2] <= e[0] or e[3] <= e[1]:
            raise LczError(f"extent {extent} is empty (give xmin, ymin, xmax, ymax)")
        clips.append(e)
    if vector_ds is not None:
        clips.append(list(_vector_bounds(vector_ds, ref_ds.crs.to_wkt())))
    for c in clips:
        box = [max(box[0], c[0]), max(box[1], c[1]), min(box[2], c[2]), min(box[3], c[3])]
    if box[2] - box[0] < TARGET_RES or box[3] - box[1] < TARGET_RES:
        raise LczError("the clip extent / mask polygons do not overlap the Sentinel-2 product")
    # snap outwards to the 10 m grid of the product
    sx = lambda v, f: x0 + f((v - x0) / TARGET_RES) * TARGET_RES  # noqa: E731
    sy = lambda v, f: y1 - f((y1 - v) / TARGET_RES) * TARGET_RES  # noqa: E731
    return (
        sx(box[0], np.floor),
        sy(box[1], np.ceil),
        sx(box[2], np.ceil),
        sy(box[3], np.floor),
    )


# -- checking the band files -----------------------------------------------------------------


def _check_projected(crs_wkt: str, band: str, path: str) -> None:
    """Band files must be on a projected (UTM) grid: the output grid is 10 m pixels."""
    srs = osr().SpatialReference()
    srs.ImportFromWkt(crs_wkt)
    if srs.IsProjected():
        return
    code = srs.GetAuthorityCode(None)
    raise LczError(
        f"band file {band} '{Path(path).name}' is in geographic coordinates "
        f"({f'EPSG:{code}' if code else srs.GetName()}, degrees); give the product's band "
        "files in their native UTM grid, or reproject them to their UTM zone first "
        f"({tool('warp')})"
    )


def _footprint(path: str, crs_wkt: str) -> tuple[float, float, float, float]:
    """A band file's bounds in the output CRS (its own bounds when it has no CRS)."""
    try:
        ds = open_dataset(path)
    except read_failures() as exc:
        raise LczError(f"cannot read band file '{path}': {exc}") from None
    check_real_bands(ds, path)
    info = info_from_dataset(ds, path)
    if not info.crs_wkt:
        return info.bounds()
    try:
        return info.bounds_in(crs_wkt)
    except RuntimeError:  # no transformation between the two CRSs
        return (0.0, 0.0, 0.0, 0.0)


def _covered_fraction(footprint, window) -> float:
    """The share of ``window``'s area inside ``footprint`` (both xmin, ymin, xmax, ymax)."""
    w = max(0.0, min(footprint[2], window[2]) - max(footprint[0], window[0]))
    h = max(0.0, min(footprint[3], window[3]) - max(footprint[1], window[1]))
    area = (window[2] - window[0]) * (window[3] - window[1])
    return w * h / area if area > 0 else 0.0


def _check_footprints(product, esa, ref_band, window, crs_wkt, cloud_mask, feedback) -> None:
    """Every band must cover the output grid: band files from one tile, not several."""
    ref_name = Path(product.files[ref_band]).name
    bands = list(esa) + (["SCL"] if cloud_mask and "SCL" in product.files else [])
    for band in bands:
        path = product.files[band]
        share = _covered_fraction(_footprint(path, crs_wkt), window)
        where = f"band {band} '{Path(path).name}'"
        if share <= 0 and band != "SCL":
            raise LczError(
                f"{where} does not overlap the 10 m grid of {ref_band} '{ref_name}': the band "
                "files come from different tiles or areas; give the bands of one product"
            )
        if share < MIN_COVER:
            rest = "gets no cloud mask" if band == "SCL" else "is nodata"
            feedback.warning(
                f"{where} covers only {100 * share:.0f}% of the 10 m grid of {ref_band} "
                f"'{ref_name}' (the band files may come from different tiles): the rest {rest}"
            )


# -- the entry point -------------------------------------------------------------------------


@dataclass
class _Grid:
    """The 10 m output grid: the reference band's, clipped and snapped."""

    bounds: tuple  # xmin, ymin, xmax, ymax
    crs: str  # WKT
    width: int
    height: int
    geotransform: tuple
    vector: object = None  # the mask polygons (``raster.io.polygons_in``), None for none


def prepare_sentinel2(
    source,
    output,
    cloud_mask: bool = True,
    extent=None,
    mask=None,
    resampling: str = "bilinear",
    offset: float | None = None,
    feedback: Feedback | None = None,
) -> PrepareS2Result:
    """Write the So2Sat-order 10-band reflectance stack at 10 m (see the module doc).

    Steps: find the band files and metadata, settle the offsets and quantification,
    make the output grid (reference band, clip, coverage checks), warp the bands and
    the cloud mask onto it, write the stack block by block (staged, ``common.atomic``).

    Args:
        source: A .SAFE folder, its MTD xml, a .zip, or band files (a list).
        output: The GeoTIFF to write.
        cloud_mask: Make SCL cloud, shadow and cirrus pixels nodata (L2A only).
        extent: Clip to (xmin, ymin, xmax, ymax) in the bands' CRS; None for none.
        mask: Clip to the polygons of this vector file; None for none.
        resampling: Resampling of the 20 m bands: ``bilinear`` or ``cubic``.
        offset: The radiometric offset of every band (DN); None: from the metadata.
        feedback: Progress, messages and cancel.

    Returns:
        A ``PrepareS2Result`` (grid, product, nodata fraction).

    Raises:
        LczError: bad input or output, bands missing, not covering or not projected.
    """
    feedback = feedback or Feedback()
    rio()  # (missing rasterio: said before anything else)
    if resampling not in RESAMPLING:
        raise LczError(f"unknown resampling '{resampling}'; use one of {', '.join(RESAMPLING)}")
    check_output_path(output)
    product = find_product(source)
    inputs = {f"band {b}": f for b, f in product.files.items()}
    check_distinct_paths({"INPUT": source, **inputs, "MASK": mask}, {"OUTPUT": output})
    esa = [SO2SAT_TO_ESA[b] for b in SEN2_BANDS]
    _settle_radiometry(product, offset, esa, feedback)
    grid = _output_grid(product, esa, extent, mask, cloud_mask, feedback)
    vrts = [
        _warp_band(product.files[b], _band_resampling(product, b, resampling), grid) for b in esa
    ]
    scl = _cloud_mask_band(product, grid, feedback) if cloud_mask else None
    add = np.array([product.offsets.get(b, 0.0) for b in esa], np.float32)
    q = np.float32(product.quantification)
    metadata = _stack_metadata(source, product, add, q, resampling, scl is not None)
    n_nodata = _write_stack(output, grid, vrts, scl, add, q, metadata, feedback)
    frac = n_nodata / max(grid.width * grid.height, 1)
    if frac >= 1.0:
        feedback.warning("every pixel is nodata (clouds, clip or DN 0): the output is empty")
    feedback.progress(100)
    return PrepareS2Result(
        Path(output), grid.width, grid.height, grid.geotransform, product, scl is not None, frac
    )


def _settle_radiometry(product: Product, offset, esa: list[str], feedback: Feedback) -> None:
    """Report the metadata's warnings, apply a given offset and log the radiometry.

    Args:
        product: The product (its offsets are replaced when ``offset`` is given).
        offset: The offset of every band, or None to keep the metadata's.
        esa: The ESA names of the output bands.
        feedback: Messages.
    """
    for message in product.warnings:
        feedback.warning(message)
    if offset is not None:
        product.offsets = {b: float(offset) for b in ESA_BANDS}
    elif not product.metadata_file:
        feedback.warning(
            "no MTD_MSIL2A.xml / MTD_MSIL1C.xml found: assuming no radiometric offset. For "
            f"processing baseline 04.00+ products (since January 2022) give {param('OFFSET')} "
            "-1000."
        )
    elif product.offset_note:
        feedback.warning(product.offset_note)
    feedback.info(
        f"Sentinel-2 {product.level}, baseline {product.baseline or '?'}, offsets "
        f"{sorted({product.offsets.get(b, 0.0) for b in esa})}, quantification "
        f"{product.quantification:g}"
    )


def _output_grid(product, esa, extent, mask, cloud_mask: bool, feedback: Feedback) -> _Grid:
    """The 10 m grid of the finest band (B02 in a real product), clipped and checked.

    Args:
        product: The product.
        esa: The ESA names of the output bands.
        extent: Clip box (xmin, ymin, xmax, ymax), or None.
        mask: Clip polygons (a vector file path), or None.
        cloud_mask: Whether the SCL band's coverage is checked too.
        feedback: Messages (partial coverage).

    Returns:
        The output ``_Grid`` (with the opened mask polygons).

    Raises:
        LczError: the reference band cannot be read, has no or a geographic CRS, the
            clip misses the product or a band does not overlap the grid.
    """
    ref_band = min(esa, key=lambda b: _res_of(Path(product.files[b]).name, product.files[b]))
    try:
        ref = open_dataset(product.files[ref_band])
    except read_failures() as exc:
        raise LczError(f"cannot open {product.files[ref_band]}: {exc}") from None
    crs = ref.crs.to_wkt() if ref.crs else ""
    if not crs:
        raise LczError(f"band file '{product.files[ref_band]}' has no coordinate reference system")
    _check_projected(crs, ref_band, product.files[ref_band])
    vector = _open_vector(mask) if mask else None
    bounds = _target_window(ref, extent, vector)
    if vector is not None:
        vector = polygons_in(vector, crs)
    _check_footprints(product, esa, ref_band, bounds, crs, cloud_mask, feedback)
    width = int(round((bounds[2] - bounds[0]) / TARGET_RES))
    height = int(round((bounds[3] - bounds[1]) / TARGET_RES))
    gt = (bounds[0], TARGET_RES, 0.0, bounds[3], 0.0, -TARGET_RES)
    return _Grid(bounds, crs, width, height, gt, vector)


def _band_resampling(product: Product, band: str, resampling: str) -> str:
    """The resampling of a band onto the 10 m grid.

    Args:
        product: The product.
        band: The ESA band name.
        resampling: The resampling asked for the 20 m bands.

    Returns:
        ``near`` for a band already at 10 m (or finer), else ``resampling``.
    """
    native = _res_of(Path(product.files[band]).name, product.files[band])
    return "near" if native <= TARGET_RES else resampling


def _warp_band(path: str, alg: str, grid: _Grid):
    """A band file warped onto the output grid as float32 (a VRT: nothing is copied).

    Args:
        path: The band file (GDAL path).
        alg: GDAL resampling name.
        grid: The output grid.

    Returns:
        The warped rasterio dataset (gdalwarp -te -tr -srcnodata 0 -dstnodata 0 -ot
        Float32 as a VRT); DN 0 stays nodata (0).

    Raises:
        LczError: GDAL cannot read or warp the file.
    """
    from rasterio.transform import Affine

    x0, y0, x1, y1 = grid.bounds
    width = int((x1 - x0 + TARGET_RES / 2.0) / TARGET_RES)
    height = int((abs(y1 - y0) + TARGET_RES / 2.0) / TARGET_RES)
    transform = Affine(TARGET_RES, 0.0, x0, 0.0, -TARGET_RES, y1)
    resampling = {"near": "nearest"}.get(alg, alg)
    try:
        src = open_dataset(path)
        return warped_vrt(src, grid.crs, transform, width, height, resampling, 0, 0, "float32")
    except (LczError, *read_failures()) as exc:
        raise LczError(f"cannot read band file '{path}': {exc}") from None


def _cloud_mask_band(product: Product, grid: _Grid, feedback: Feedback):
    """The SCL band on the output grid (nearest), or None with a warning when missing.

    Args:
        product: The product.
        grid: The output grid.
        feedback: Messages.

    Returns:
        The warped SCL dataset, or None (no SCL band: no cloud mask).
    """
    if "SCL" not in product.files:
        feedback.warning("no SCL band (scene classification; L2A only): no cloud mask applied")
        return None
    scl = _warp_band(product.files["SCL"], "near", grid)
    feedback.info("cloud mask: SCL classes 3, 8, 9, 10 (shadow, cloud, cirrus) -> nodata")
    return scl


def _stack_metadata(source, product: Product, add, q, resampling: str, masked: bool) -> dict:
    """The output's LCZ_* metadata: source, level, radiometry, resampling, cloud mask.

    Args:
        source: The Sentinel-2 input as given.
        product: The product.
        add: The offsets of the output bands.
        q: The quantification value.
        resampling: Resampling of the 20 m bands.
        masked: Whether the SCL cloud mask is applied.

    Returns:
        {metadata key: text}.
    """
    return {
        "LCZ_SOURCE": str(source if isinstance(source, (str, os.PathLike)) else "")
        or ",".join(map(str, source)),
        "LCZ_LEVEL": product.level,
        "LCZ_BASELINE": product.baseline,
        "LCZ_OFFSETS": ",".join(f"{v:g}" for v in add),
        "LCZ_QUANTIFICATION": f"{float(q):g}",
        "LCZ_RESAMPLING_20M": resampling,
        "LCZ_CLOUD_MASK": "SCL 3,8,9,10" if masked else "none",
        "LCZ_SCALE": "reflectance = (DN + offset) / quantification",
    }


def _write_stack(output, grid: _Grid, vrts, scl, add, q, metadata: dict, feedback) -> int:
    """Write the reflectance stack to a staged temporary file, renamed into place at the end.

    Args:
        output: The GeoTIFF to write.
        grid: The output grid.
        vrts: The warped bands, in So2Sat order.
        scl: The warped SCL band, or None.
        add: The offsets of the bands.
        q: The quantification value.
        metadata: The dataset metadata.
        feedback: Progress and cancel.

    Returns:
        The number of nodata pixels.
    """
    count = len(vrts)
    staging = StagedOutputs()
    staging.expect(output, grid.width * grid.height * count * 4)  # compressed: about, never sure
    staging.check_space()
    with staged_outputs(feedback, staging) as st, gdal_writes():  # (atomic.py)
        tmp = st.temp(output)
        ds = create_geotiff(
            tmp,
            grid.width,
            grid.height,
            count,
            "float32",
            grid.geotransform,
            grid.crs,
            NODATA,
            classifier_input_options(predictor=False),
            SEN2_BANDS,
        )
        with closing_raster(ds):
            ds.update_tags(**metadata)
            return _write_blocks(ds, grid, vrts, scl, add, q, feedback)


def _write_blocks(ds, grid: _Grid, vrts, scl, add, q, feedback: Feedback) -> int:
    """Read, scale, mask and write the stack by blocks of ``ROWS_PER_BLOCK`` rows.

    DN 0 and non-finite values, SCL cloud classes and pixels outside the mask polygons
    become ``NODATA``; reflectance = (DN + offset) / quantification.

    Args:
        ds: The open output dataset.
        grid: The output grid.
        vrts: The warped bands, in So2Sat order.
        scl: The warped SCL band, or None.
        add: The offsets of the bands.
        q: The quantification value.
        feedback: Progress and cancel.

    Returns:
        The number of nodata pixels.
    """
    from rasterio.windows import Window

    width, height, count = grid.width, grid.height, len(vrts)
    n_nodata = 0
    for r0 in range(0, height, ROWS_PER_BLOCK):
        n = min(ROWS_PER_BLOCK, height - r0)
        win = Window(0, r0, width, n)
        bad = np.zeros((n, width), bool)
        out = np.empty((count, n, width), np.float32)
        for k, v in enumerate(vrts):
            feedback.check_cancelled()
            dn = v.read(1, window=win, out_dtype=np.float32)
            bad |= (dn == 0) | ~np.isfinite(dn)
            out[k] = (dn + add[k]) / q
            feedback.progress(100.0 * (r0 * count + (k + 1) * n) / (height * count))
        if scl is not None:
            s = scl.read(1, window=win, out_dtype=np.float32)
            bad |= np.isin(s, CLOUD_CLASSES)
        if grid.vector is not None:
            bad |= ~rasterize_rows(grid.vector, grid.geotransform, r0, n, width)
        out[:, bad] = NODATA
        n_nodata += int(bad.sum())
        ds.write(out, window=win)
    return n_nodata
