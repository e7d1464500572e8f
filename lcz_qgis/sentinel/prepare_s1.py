"""Prepare Sentinel-1 GRD backscatter for a band-subset So2Sat model: VH and VV intensity.

Input: Sentinel-1 GRD VV and VH backscatter GeoTIFFs (calibrated sigma0, terrain
corrected, any CRS), linear power or dB. dB is detected from a sample of pixels (a
noticeable share of negative values, or a negative median: linear power is never
negative) unless the scale is declared; a declared scale the values contradict is kept,
with a warning giving the value range. The reference must be a projected (UTM) grid; an
input with several bands is read from band 1 (with a warning); an input with no valid
pixel on the grid is an error, one covering less than half of it a warning. A complex
input (e.g. SLC) is refused; values beyond the physical range (``bands.SEN1_VALUE_LIMIT``,
|x| > 1e6, linear or dB: an undeclared nodata such as -3.4e38) are nodata; a truncated or
damaged input is an error naming it.

Processing, streamed by blocks of rows:
1. warp onto the given Sentinel-2 grid (the prepared Sentinel-2 raster: same CRS,
   transform and size), bilinear, as a GDAL warped VRT (no full copy). dB inputs are
   interpolated in dB, then converted to linear power (10^(dB/10)).
2. Lee speckle filter (``lcz_qgis.sentinel.speckle.lee_filter``: local mean/variance in a 5 x 5
   window by default, ENL 4.4 for IW GRDH) on the 10 m grid, with a halo of rows so block
   edges match a whole-image filter. So2Sat LCZ42's channels 5 and 6 are Lee-filtered
   intensities; filtering after resampling (GRD pixels are already 10 m) keeps the
   streaming simple.

Output: a 2-band float32 GeoTIFF on the Sentinel-2 grid, band 1 = ``VH_intensity``,
band 2 = ``VV_intensity`` (So2Sat sen1 channels 5 and 6, linear), nodata -9999.
So2Sat channels 1-4 (real/imaginary VH and VV) and 7-8 (the VH-VV covariance) need
single-look complex (SLC) data and cannot be made from GRD: models for this output must
use channels 5 and 6 only (``--bands 5,6`` when training).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..common.atomic import StagedOutputs, check_distinct_paths, check_output_path, staged_outputs
from ..common.bands import SEN1_VALUE_LIMIT
from ..common.errors import LczError
from ..common.feedback import Feedback
from ..raster.io import (
    classifier_input_options,
    closing_raster,
    create_geotiff,
    gdal_writes,
    open_raster,
    read_errors,
    rio,
    warped_vrt,
)
from .speckle import DEFAULT_ENL, DEFAULT_WINDOW, lee_filter

NODATA = -9999.0
ROWS_PER_BLOCK = 512
INPUT_SCALES = ("auto", "linear", "db")
MIN_VALID_SHARE = 0.5  # an input with valid values on less of the grid gets a warning


@dataclass
class PrepareS1Result:
    """What prepare-s1 wrote: the output, its size and the scale found for each polarisation."""

    output: Path
    width: int
    height: int
    scales: dict  # "VH"/"VV" -> "linear" | "db"


def detect_db(values: np.ndarray) -> bool:
    """Whether backscatter sample values are in dB (negative values are common in dB)."""
    v = values[np.isfinite(values)]
    if v.size == 0:
        return False
    return bool((v < 0).mean() > 0.05 or np.median(v) < 0)


def _sample(ds, nodata, path) -> np.ndarray:
    w, h = min(ds.width, 256), min(ds.height, 256)
    with read_errors(path):
        x = ds.read(1, out_shape=(h, w), out_dtype=np.float32)
    x = x[np.abs(x) <= SEN1_VALUE_LIMIT]  # finite and in range
    if nodata is not None and not np.isnan(nodata):
        x = x[x != nodata]
    return x


def _value_range(sample: np.ndarray) -> str:
    lo, hi = np.percentile(sample, 1), np.percentile(sample, 99)
    return f"values {lo:.4g} to {hi:.4g} (1st-99th percentile), {(sample < 0).mean():.0%} negative"


def _check_reference(ref) -> None:
    name = Path(ref.path).name
    if not ref.crs_wkt:
        raise LczError(f"reference raster '{name}' has no coordinate system")
    units = ref.units_problem()
    if units:
        raise LczError(
            f"reference raster '{name}' is in {units} "
            f"({ref.crs_description()}); give a projected (UTM) Sentinel-2 grid, e.g. the "
            "output of prepare-s2 (Prepare Sentinel-2 product)"
        )


def _check_input(pol: str, info, ref, feedback: Feedback) -> None:
    name = Path(info.path).name
    if not info.crs_wkt:
        raise LczError(
            f"Sentinel-1 {pol} raster '{name}' has no coordinate reference "
            "system; terrain-correct / georeference it first"
        )
    a, b = info.bounds_in(ref.crs_wkt), ref.bounds()
    if min(a[2], b[2]) <= max(a[0], b[0]) or min(a[3], b[3]) <= max(a[1], b[1]):
        raise LczError(
            f"Sentinel-1 {pol} raster '{name}' and the Sentinel-2 grid "
            f"'{Path(ref.path).name}' do not overlap; give rasters of the same area"
        )
    if info.count > 1:
        feedback.warning(
            f"Sentinel-1 {pol} raster '{name}' has {info.count} bands: using band 1 only "
            f"as {pol}; give a single-band {pol} raster if band 1 is not {pol}"
        )


def _scale_of(pol: str, ds, info, input_scale: str, feedback: Feedback) -> str:
    """'db' or 'linear': detected for 'auto', else as declared (a warning when the
    values contradict it)."""
    sample = _sample(ds, info.nodata[0], info.path)
    looks_db = detect_db(sample)
    if input_scale == "auto":
        if sample.size:
            feedback.info(
                f"Sentinel-1 {pol}: values {np.percentile(sample, 1):.4g} to "
                f"{np.percentile(sample, 99):.4g} -> {'dB' if looks_db else 'linear'}"
            )
        return "db" if looks_db else "linear"
    if sample.size and looks_db != (input_scale == "db"):
        name = Path(info.path).name
        if looks_db:
            found, effect = "dB", "negative values are not linear power and become nodata"
        else:
            found, effect = "linear power", "as dB they become about 1 (10^(dB/10))"
        feedback.warning(
            f"Sentinel-1 {pol} raster '{name}' is declared '{input_scale}' but looks like "
            f"{found} ({_value_range(sample)}); {effect}. Keeping '{input_scale}': check "
            "the input scale (or use 'auto')"
        )
    return input_scale


def _warp_onto(ds, info, ref, src_nodata: float):
    from rasterio.transform import from_bounds

    transform = from_bounds(*ref.bounds(), ref.width, ref.height)
    return warped_vrt(
        ds, ref.crs_wkt, transform, ref.width, ref.height, "bilinear", src_nodata,
        float("nan"), "float32",
    )  # fmt: skip


def _check_valid_share(valid: dict, paths: dict, ref, feedback: Feedback) -> None:
    """Every input must have valid pixels on the reference grid; warn when few."""
    total = max(ref.width * ref.height, 1)
    grid = Path(ref.path).name
    for pol, n in valid.items():
        name = Path(paths[pol]).name
        if n == 0:
            raise LczError(
                f"Sentinel-1 {pol} raster '{name}' has no valid pixel on the Sentinel-2 grid "
                f"'{grid}' (all nodata, NaN, negative as linear power or beyond the physical "
                "range): check the input, its nodata value and the input scale"
            )
        if n / total < MIN_VALID_SHARE:
            feedback.warning(
                f"Sentinel-1 {pol} raster '{name}' has valid values in only "
                f"{100 * n / total:.0f}% of the Sentinel-2 grid '{grid}': the rest is nodata"
            )


def prepare_sentinel1(
    vv,
    vh,
    reference,
    output,
    input_scale: str = "auto",
    window: int = DEFAULT_WINDOW,
    enl: float = DEFAULT_ENL,
    feedback: Feedback | None = None,
) -> PrepareS1Result:
    """Write VH and VV Lee-filtered linear intensities on the reference (Sentinel-2) grid.

    Steps: check the options and paths, check the reference grid, check each input and
    warp it onto the grid (its scale detected or as declared), then write the filtered
    intensities block by block (staged, ``common.atomic``).

    Args:
        vv: The VV backscatter raster.
        vh: The VH backscatter raster.
        reference: The Sentinel-2 grid (e.g. the prepared Sentinel-2 raster).
        output: The 2-band GeoTIFF to write.
        input_scale: ``auto``, ``linear`` or ``db``.
        window: The Lee filter window, an odd number >= 3.
        enl: The equivalent number of looks of the Lee filter.
        feedback: Progress, messages and cancel.

    Returns:
        A ``PrepareS1Result`` (size and the scale of each input).

    Raises:
        LczError: bad options, inputs or output, no valid pixel on the grid.
    """
    feedback = feedback or Feedback()
    rio()  # (missing rasterio: said before anything else)
    input_scale = (input_scale or "auto").lower()
    if input_scale not in INPUT_SCALES:
        raise LczError(f"unknown input scale '{input_scale}'; use one of {', '.join(INPUT_SCALES)}")
    if window < 3 or window % 2 == 0:
        raise LczError(f"the Lee filter window must be an odd number >= 3; got {window}")
    check_output_path(output)
    check_distinct_paths({"VV": vv, "VH": vh, "REFERENCE": reference}, {"OUTPUT": output})
    ref_ds, ref = open_raster(reference)
    _check_reference(ref)
    vrts, scales, paths = _open_inputs({"VH": vh, "VV": vv}, ref, input_scale, feedback)
    _write_intensities(output, ref, vrts, scales, paths, window, enl, feedback)
    feedback.progress(100)
    return PrepareS1Result(Path(output), ref.width, ref.height, scales)


def _open_inputs(rasters: dict, ref, input_scale: str, feedback: Feedback):
    """Check each input, settle its scale and warp it onto the reference grid.

    Args:
        rasters: {"VH": path, "VV": path}, in output band order.
        ref: The reference grid's ``RasterInfo``.
        input_scale: ``auto``, ``linear`` or ``db``.
        feedback: Messages.

    Returns:
        ({pol: warped VRT}, {pol: "linear" | "db"}, {pol: input path}).

    Raises:
        LczError: an input has no CRS, misses the grid or cannot be warped.
    """
    vrts, scales, paths = {}, {}, {}
    for pol, path in rasters.items():
        ds, info = open_raster(path)
        _check_input(pol, info, ref, feedback)
        scales[pol] = _scale_of(pol, ds, info, input_scale, feedback)
        nd = info.nodata[0]
        src_nd = nd if nd is not None else (float("nan") if scales[pol] == "db" else 0.0)
        vrts[pol], paths[pol] = _warp_onto(ds, info, ref, src_nd), info.path
    return vrts, scales, paths


def _write_intensities(output, ref, vrts, scales, paths, window, enl, feedback) -> None:
    """Write the filtered VH and VV intensities to a staged file, renamed at the end.

    Args:
        output: The GeoTIFF to write.
        ref: The reference grid's ``RasterInfo``.
        vrts: {pol: warped VRT}.
        scales: {pol: "linear" | "db"}.
        paths: {pol: input path} (named in read errors).
        window: The Lee filter window.
        enl: The Lee filter's equivalent number of looks.
        feedback: Progress, messages and cancel.

    Raises:
        LczError: an input has no valid pixel on the grid.
    """
    w, h = ref.width, ref.height
    staging = StagedOutputs()
    staging.expect(output, w * h * 2 * 4)  # compressed: about, never sure
    staging.check_space()
    with staged_outputs(feedback, staging) as st, gdal_writes():  # (atomic.py)
        tmp = st.temp(output)
        out = create_geotiff(
            tmp,
            w,
            h,
            2,
            "float32",
            ref.geotransform,
            ref.crs_wkt,
            NODATA,
            classifier_input_options(predictor=True),
            ["VH_intensity", "VV_intensity"],
        )
        with closing_raster(out):
            out.update_tags(
                LCZ_CONTENT="Sentinel-1 Lee-filtered intensity, linear (So2Sat sen1 ch. 5, 6)",
                LCZ_INPUT_SCALE=f"VH {scales['VH']}, VV {scales['VV']}",
                LCZ_LEE_WINDOW=str(window),
                LCZ_LEE_ENL=f"{enl:g}",
            )
            valid = _filter_blocks(out, vrts, scales, paths, window, enl, feedback)
            _check_valid_share(valid, paths, ref, feedback)


def _filter_blocks(out, vrts, scales, paths, window, enl, feedback: Feedback) -> dict:
    """Lee-filter VH and VV by blocks of ``ROWS_PER_BLOCK`` rows into bands 1 and 2.

    Each block is read with a halo of ``window // 2`` rows, so block edges match a
    whole-image filter; pixels without a valid value become ``NODATA``.

    Args:
        out: The open output dataset (the reference grid's size).
        vrts: {pol: warped VRT}.
        scales: {pol: "linear" | "db"}.
        paths: {pol: input path} (named in read errors).
        window: The Lee filter window.
        enl: The Lee filter's equivalent number of looks.
        feedback: Progress and cancel.

    Returns:
        {pol: number of valid output pixels}.
    """
    from rasterio.windows import Window

    halo = window // 2
    w, h = out.width, out.height
    valid = {"VH": 0, "VV": 0}
    for r0 in range(0, h, ROWS_PER_BLOCK):
        r1 = min(h, r0 + ROWS_PER_BLOCK)
        a0, a1 = max(0, r0 - halo), min(h, r1 + halo)
        for k, pol in enumerate(("VH", "VV")):
            feedback.check_cancelled()
            with read_errors(paths[pol]):
                x = vrts[pol].read(1, window=Window(0, a0, w, a1 - a0), out_dtype=np.float32)
            x = _linear_power(x, scales[pol])
            y = lee_filter(x, window, enl)[r0 - a0 : r0 - a0 + (r1 - r0)]
            ok = np.isfinite(y)
            valid[pol] += int(ok.sum())
            y[~ok] = NODATA
            out.write(y.astype(np.float32), k + 1, window=Window(0, r0, w, r1 - r0))
            feedback.progress(100.0 * (r0 + (r1 - r0) * (k + 1) / 2) / h)
    return valid


def _linear_power(x: np.ndarray, scale: str) -> np.ndarray:
    """Backscatter as float64 linear power; values that are not backscatter become NaN.

    Args:
        x: The values read (NaN where nodata).
        scale: ``linear`` or ``db`` (converted: 10^(dB/10)).

    Returns:
        Linear power, NaN beyond ``SEN1_VALUE_LIMIT`` (also above 60 dB) or negative.
    """
    x = x.astype(np.float64)
    x[~(np.abs(x) <= SEN1_VALUE_LIMIT)] = np.nan  # not backscatter: nodata
    if scale == "db":
        with np.errstate(over="ignore"):
            x = np.power(10.0, x / 10.0)
        x[x > SEN1_VALUE_LIMIT] = np.nan  # above 60 dB: not backscatter
    x[x < 0] = np.nan  # negative linear power is not backscatter
    return x
