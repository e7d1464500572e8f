"""The classifier's inputs: open the Sentinel-2/-1 rasters, bring them onto one grid and
map their bands to the model's channels; detect the Sentinel-2 scale.

Rasters with a complex band are refused (``raster.io.check_real_bands``); a pixel with a
band beyond the sensor's physical range (``bands.value_limit``) is nodata, like NaN.
Geometry checks (CRS, ~10 m pixels, north-up, at least one 32 x 32 window) with optional
on-the-fly warps: REPROJECT to UTM, RESAMPLE to 10 m, Sentinel-1 onto the Sentinel-2
grid, all as rasterio ``WarpedVRT``s on gdalwarp's output grid, never a full copy.
Reads are rasterio windows. The scale (DN or reflectance, or a given factor) is checked on a
few small blocks of pixels, whatever the raster size: a factor that gives implausible
reflectance (e.g. reflectance x 1000 read as DN) is warned about, naming the likely one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..common.bands import (
    DN_SCALE,
    DN_THRESHOLD,
    SEN1_CHANNELS,
    BandItem,
    band_items,
    sensor_channels,
    value_limit,
)
from ..common.enums import Scale, Sensor, codes
from ..common.errors import LczError, first_line, param, tool
from ..common.feedback import Feedback
from ..raster.io import (
    PIXEL_SIZE_M,
    RasterInfo,
    info_from_dataset,
    open_raster,
    pixel_validity,
    read_errors,
    read_failures,
    read_window,
    warped_vrt,
)
from .sliding_window import WINDOW

SCALES = codes(Scale)


@dataclass
class InputSource:
    """One opened input raster (or its warped VRT) and the bands feeding the model."""

    ds: object
    info: RasterInfo
    bands: list  # 0-based raster bands to read, in model channel order
    sensor: str  # Sensor.SEN2 | Sensor.SEN1
    scale: float = 1.0
    offset: float = 0.0  # added to the values before ``scale`` (raw values with a stated factor)
    keep: list = field(default_factory=list)  # datasets the VRT needs alive
    channels: list = field(default_factory=list)  # the So2Sat channels (0-based) they feed

    @property
    def limit(self) -> float:
        """The largest usable magnitude of a value as read (``bands.value_limit``): a
        pixel with a band beyond it is nodata, like NaN."""
        return value_limit(self.sensor)


# -- geometry: checks and on-the-fly warps ---------------------------------------------------


def _warp_grid(info: RasterInfo, dst_crs, res=None, tap=False, bounds=None, size=None):
    """gdalwarp's output grid, (transform, width, height): ``bounds`` and ``size`` as given
    (-te, -ts), else GDAL's suggested extent in ``dst_crs`` at ``res`` (-tr), aligned on
    multiples of ``res`` when ``tap`` (-tap)."""
    import math

    from rasterio.transform import Affine, from_bounds
    from rasterio.warp import calculate_default_transform

    if bounds is not None:
        return from_bounds(*bounds, *size), size[0], size[1]
    t, w, h = calculate_default_transform(
        info.crs_wkt, dst_crs, info.width, info.height, *info.bounds()
    )
    x0, x1, y1 = t.c, t.c + t.a * w, t.f
    y0 = t.f + t.e * h
    if tap:
        x0, x1 = math.floor(x0 / res) * res, math.ceil(x1 / res) * res
        y0, y1 = math.floor(y0 / res) * res, math.ceil(y1 / res) * res
    w = int((x1 - x0 + res / 2.0) / res)
    h = int((abs(y1 - y0) + res / 2.0) / res)
    return Affine(res, 0.0, x0, 0.0, -res, y1), w, h


def _warp_vrt(ds, info: RasterInfo, dst_crs, resampling: str, **grid):
    """A warped VRT of ``ds`` on the grid ``_warp_grid(info, dst_crs, **grid)`` (in
    memory; pixels are warped when read), as gdalwarp -of VRT would make it."""
    from rasterio.crs import CRS

    nd = info.nodata[0]
    if nd is None:
        nd = float("nan") if "Float" in info.dtype else 0
    try:
        crs = CRS.from_user_input(dst_crs)
        transform, width, height = _warp_grid(info, crs, **grid)
    except (RuntimeError, ValueError, *read_failures()) as exc:
        raise LczError(f"cannot warp '{Path(info.path).name}': {first_line(exc)}") from None
    return warped_vrt(ds, crs, transform, width, height, resampling, nd, nd)


def utm_epsg(info: RasterInfo) -> int:
    """EPSG code of the UTM zone (WGS 84) holding the raster's centre."""
    from rasterio.warp import transform

    gt = info.geotransform
    cx = gt[0] + gt[1] * info.width / 2
    cy = gt[3] + gt[5] * info.height / 2
    (lon,), (lat,) = transform(info.crs_wkt, "EPSG:4326", [cx], [cy])
    zone = min(60, max(1, int((lon + 180.0) // 6) + 1))
    return (32600 if lat >= 0 else 32700) + zone


def _prepare_geometry(ds, info: RasterInfo, what: str, reproject: bool, resample: bool, feedback):
    """Check CRS and pixel size; warp (VRT) to UTM / 10 m when asked. Returns (ds, info)."""
    name = Path(info.path).name
    if not info.crs_wkt:
        raise LczError(
            f"{what} '{name}' has no coordinate reference system; assign one "
            f"({tool('assign_crs')}), then reproject it to its UTM zone at 10 m"
        )
    units = info.units_problem()
    if units:
        if not reproject:
            raise LczError(
                f"{what} '{name}' is in {units} ({info.crs_description()}); "
                f"reproject it to its UTM zone at 10 m ({tool('warp')}), or turn on "
                f"{param('REPROJECT')} to warp it on the fly"
            )
        epsg = utm_epsg(info)
        feedback.info(f"{what}: warping on the fly to EPSG:{epsg} (UTM) at 10 m, bilinear")
        vrt = _warp_vrt(ds, info, f"EPSG:{epsg}", "bilinear", res=PIXEL_SIZE_M, tap=True)
        return vrt, info_from_dataset(vrt, info.path)
    if not info.has_10m_pixels():
        px, py = info.pixel_size
        if not resample:
            raise LczError(
                f"{what} '{name}' has a pixel size of {px:g} x {py:g} (CRS units); So2Sat "
                f"models need about {PIXEL_SIZE_M:g} m: resample it to 10 m first, or turn "
                f"on {param('RESAMPLE')} to resample it on the fly"
            )
        alg = "average" if max(px, py) < PIXEL_SIZE_M else "bilinear"
        feedback.info(f"{what}: resampling on the fly from {px:g} m to 10 m ({alg})")
        vrt = _warp_vrt(ds, info, info.crs_wkt, alg, res=PIXEL_SIZE_M)
        return vrt, info_from_dataset(vrt, info.path)
    return ds, info


def _onto_grid(ds, info: RasterInfo, ref: RasterInfo, what: str, feedback):
    """``ds`` as a warped VRT on ``ref``'s grid (CRS, transform, size), bilinear."""
    name = Path(info.path).name
    if not info.crs_wkt:
        raise LczError(f"{what} '{name}' has no coordinate reference system; assign one")
    a = info.bounds_in(ref.crs_wkt)
    b = ref.bounds()
    ix = min(a[2], b[2]) - max(a[0], b[0])
    iy = min(a[3], b[3]) - max(a[1], b[1])
    if ix <= 0 or iy <= 0:
        raise LczError(
            f"{what} '{name}' and the Sentinel-2 raster '{Path(ref.path).name}' do not overlap; "
            "give rasters of the same area"
        )
    feedback.info(f"{what}: resampling on the fly onto the Sentinel-2 grid (bilinear)")
    vrt = _warp_vrt(ds, info, ref.crs_wkt, "bilinear", bounds=b, size=(ref.width, ref.height))
    return vrt, info_from_dataset(vrt, info.path)


def _looks_like_s2_product(path: str) -> bool:
    name = Path(path.rstrip("/")).name.upper()
    return (
        name.endswith(".SAFE")
        or name.startswith("MTD_MSI")
        or (name.endswith(".ZIP") and "_MSIL" in name)
    )


def _same_grid(a: RasterInfo, b: RasterInfo) -> bool:
    if (a.width, a.height) != (b.width, b.height):
        return False
    if not np.allclose(a.geotransform, b.geotransform, rtol=0, atol=1e-6 * abs(a.geotransform[1])):
        return False
    if a.crs_wkt == b.crs_wkt:
        return True
    if not a.crs_wkt or not b.crs_wkt:
        return False
    from rasterio.crs import CRS

    return CRS.from_wkt(a.crs_wkt) == CRS.from_wkt(b.crs_wkt)


# -- band mapping ----------------------------------------------------------------------------


def parse_band_map(
    spec, count: int, sensor: str, mine: list[int], what: str, key: str = "BANDS"
) -> list[int]:
    """0-based raster bands feeding the model channels ``mine`` (0-based So2Sat channels).

    ``spec`` is a BANDS value (``common.bands.BANDS_GRAMMAR``), read as Render reads it:

    * numbers and ranges alone: the raster band of each So2Sat channel of the sensor, in
      So2Sat order ('2,3,4,5,6,7,8,9,12,13', '1-10'), or of each channel the model uses;
    * names: the raster's bands in that order ('B2,B3,B4,B8': band 1 is B2);
    * NAME=NUMBER: channel NAME is raster band NUMBER ('B4=3,B8=7', any order).

    Args:
        spec: the value (a string, or a list of 1-based numbers).
        count: the raster's band count.
        sensor: ``Sensor.SEN2`` or ``Sensor.SEN1`` (whose channels the names are).
        mine: the channels the model uses, 0-based into ``sensor_channels(sensor)``.
        what: the raster, for messages ("Sentinel-2 raster").
        key: the parameter, for messages (``BANDS``, ``BANDS_S1``).

    Raises:
        LczError: an entry outside the grammar, a band the raster lacks, a name that is
            not a channel of the sensor or named twice, a channel the model uses left
            out, or numbers alone of another count.
    """
    try:
        items = band_items(spec)
    except LczError as exc:
        raise LczError(f"{param(key)} for the {what}: {exc.template}") from None
    bad = [it.number for it in items if it.number is not None and not 1 <= it.number <= count]
    if bad:
        raise LczError(
            f"{param(key)} for the {what} names band(s) {bad}, but the raster has {count} "
            f"bands (1-{count})"
        )
    if all(it.name is None for it in items):
        return _numbers_to_bands([it.number for it in items], sensor, mine, what, key)
    by_channel = _named_bands(items, sensor, what, key)
    if max(by_channel.values()) >= count:
        raise LczError(
            f"{param(key)} '{spec}' names {len(items)} bands in order, but the {what} has "
            f"{count} bands; write NAME=NUMBER, e.g. 'B8=7'"
        )
    missing = [sensor_channels(sensor)[m] for m in mine if m not in by_channel]
    if missing:
        raise LczError(
            f"{param(key)} '{spec}' does not name {', '.join(missing)}, which the model uses"
        )
    return [by_channel[m] for m in mine]


def _numbers_to_bands(nums: list[int], sensor: str, mine: list[int], what: str, key: str):
    n_full = len(sensor_channels(sensor))
    if len(nums) == n_full:
        return [nums[m] - 1 for m in mine]
    if len(nums) == len(mine):
        return [n - 1 for n in nums]
    raise LczError(
        f"{param(key)} for the {what} has {len(nums)} numbers; give {n_full} (one per So2Sat "
        f"channel) or {len(mine)} (one per channel the model uses), or name the channels, "
        "e.g. 'B4=3,B8=7'"
    )


def _named_bands(items: list[BandItem], sensor: str, what: str, key: str) -> dict:
    """{0-based So2Sat channel: 0-based raster band} of the named items: NAME=NUMBER, or
    a name alone at position k is band k + 1."""
    out: dict[int, int] = {}
    for k, item in enumerate(items):
        if item.name is None:
            raise LczError(
                f"{param(key)} entry '{item.number}' among names: write NAME=NUMBER "
                f"(e.g. 'B8=7') for every entry, or numbers alone in So2Sat order"
            )
        c = _channel_index(item.name, sensor, what, key)
        if c in out:
            raise LczError(f"{param(key)} names {sensor_channels(sensor)[c]} twice")
        out[c] = (k + 1 if item.number is None else item.number) - 1
    return out


def _channel_index(name: str, sensor: str, what: str, key: str) -> int:
    """The 0-based So2Sat channel called ``name`` (any case; an ``S1_``/``S2_`` prefix as in
    fusion models' band names; VH and VV for the Sentinel-1 intensities)."""
    names = sensor_channels(sensor)
    up = name.upper()
    prefix = "S1_" if sensor == Sensor.SEN1 else "S2_"
    up = up[len(prefix) :] if up.startswith(prefix) else up
    aliases = {"VH": SEN1_CHANNELS[4], "VV": SEN1_CHANNELS[5]} if sensor == Sensor.SEN1 else {}
    up = aliases.get(up, up).upper()
    for i, n in enumerate(names):
        if n.upper() == up:
            return i
    raise LczError(
        f"{param(key)}: '{name}' is not a channel of the {what}; use {', '.join(names)}"
        + (" (VH, VV: the intensities)" if aliases else "")
    )


def open_sources(
    model, sentinel2, sentinel1, bands, bands_s1, reproject, resample, feedback
) -> list[InputSource]:
    """Which rasters and bands feed the model's channels, in the model's channel order."""
    sensor, want = model.sensor, model.bands
    need = Sensor(sensor).inputs
    paths = {Sensor.SEN2: sentinel2, Sensor.SEN1: sentinel1}
    spec = {Sensor.SEN2: bands, Sensor.SEN1: bands_s1}
    mine_of, offset = {}, 0
    for s in need:
        n_full = len(sensor_channels(s))
        mine = [b - offset for b in want if offset <= b < offset + n_full]
        offset += n_full
        if mine:
            mine_of[s] = mine
    if not mine_of:
        raise LczError("the model uses no input channels")
    for s, path in paths.items():
        if path and s not in mine_of:
            feedback.warning(
                f"this {model.model_type} model uses no {s.label} data: the {s.label} "
                f"raster '{Path(str(path)).name}' is ignored"
            )
        if path and _looks_like_s2_product(str(path)):
            raise LczError(
                f"'{Path(str(path)).name}' is a Sentinel-2 product, not a prepared raster: "
                "turn it into the 10-band stack with Prepare Sentinel-2 product "
                "(lcz prepare-s2) first, or run the Sentinel-2 product \u2192 LCZ map model"
            )
    for s in mine_of:
        if not paths[s]:
            raise LczError(
                f"this {model.model_type} model uses {s.label} data "
                f"({', '.join(model.manifest['band_names'])}); give a {s.label} raster"
            )
    # the grid comes from Sentinel-2 when the model uses it; Sentinel-1 follows it
    order = [s for s in (Sensor.SEN2, Sensor.SEN1) if s in mine_of]
    opened, ref = {}, None
    for s in order:
        ds, info = open_raster(paths[s])
        what = f"{s.label} raster"
        keep = [ds]
        if ref is None:
            ds, info = _prepare_geometry(ds, info, what, reproject, resample, feedback)
            gt = info.geotransform
            if gt[2] != 0 or gt[4] != 0:
                raise LczError(f"{what} '{Path(info.path).name}' is rotated; warp it north-up")
            if info.width < WINDOW or info.height < WINDOW:
                raise LczError(
                    f"{what} '{Path(info.path).name}' is {info.width} x {info.height} pixels, "
                    f"smaller than one {WINDOW} x {WINDOW} window"
                )
            ref = info
        elif not _same_grid(info, ref):
            ds, info = _onto_grid(ds, info, ref, what, feedback)
        keep.append(ds)
        n_full = len(sensor_channels(s))
        mine = mine_of[s]
        key = "BANDS" if s == Sensor.SEN2 else "BANDS_S1"
        if spec[s]:
            bands_idx = parse_band_map(spec[s], info.count, s, mine, what, key)
        elif info.count == n_full:
            bands_idx = mine
        elif info.count == len(mine):
            bands_idx = list(range(len(mine)))
        else:
            raise LczError(
                f"{what} '{Path(info.path).name}' has {info.count} bands; the model needs "
                f"{len(mine)} ({', '.join(sensor_channels(s)[m] for m in mine)}), either alone "
                f"in that order or within the full So2Sat {s} stack of {n_full}; or give a band "
                f"mapping ({param(key)})"
            )
        opened[s] = InputSource(ds, info, bands_idx, s, keep=keep, channels=list(mine))
    return [opened[s] for s in Sensor.FUSION.inputs if s in opened]  # model channel order


# -- scale ---------------------------------------------------------------------------------


def sample_values(src: InputSource, size: int = 64, grid: int = 4) -> np.ndarray:
    """Valid values of the source's bands in ``grid x grid`` small blocks spread over the
    raster, (N, C). Reads at most grid² x size² pixels, whatever the raster size."""
    w, h = src.info.width, src.info.height
    bw, bh = min(w, size), min(h, size)
    xs = np.unique(np.linspace(0, w - bw, grid).astype(int))
    ys = np.unique(np.linspace(0, h - bh, grid).astype(int))
    parts = []
    for y in ys:
        for x in xs:
            with read_errors(src.info.path):
                a = read_window(src.ds, src.bands, int(x), int(y), bw, bh)
            parts.append(a.reshape(-1, len(src.bands)))
    v = np.concatenate(parts)
    return v[pixel_validity(v[None], [src.info.nodata[b] for b in src.bands], src.limit)[0]]


S1_INTENSITY_CHANNELS = (4, 5)  # So2Sat VH and VV intensities: linear, never negative


def check_s1_scale(src: InputSource, feedback: Feedback) -> None:
    """Warn when the Sentinel-1 intensities look like dB (negative values): So2Sat models
    take linear intensities, as ``prepare-s1`` writes them."""
    cols = [k for k, c in enumerate(src.channels) if c in S1_INTENSITY_CHANNELS]
    if not cols:
        return
    from ..sentinel.prepare_s1 import detect_db  # the rule prepare-s1 uses for its 'auto' scale

    vals = sample_values(src)[:, cols]
    if vals.size == 0 or not detect_db(vals):
        return
    p1, p50, p99 = np.percentile(vals, [1, 50, 99])
    feedback.warning(
        f"the Sentinel-1 raster '{Path(src.info.path).name}' looks like dB (intensity values "
        f"{p1:.4g} to {p99:.4g}, 1st-99th percentile, median {p50:.4g}); the model expects "
        "linear intensities, so predictions will be wrong. Convert it with Prepare "
        "Sentinel-1 backscatter (lcz prepare-s1), which detects dB input."
    )


def parse_scale(value) -> Scale | float:
    """A SCALE value: a ``Scale`` code (``auto``, ``reflectance``, ``dn``) or the factor
    turning the raster's values into reflectance, a number above 0 and at most 1 (0.0001
    for DN, 0.001 for reflectance x 1000), given as a number or as text.

    Raises:
        LczError: anything else, naming SCALE and what it takes.
    """
    if value is None or value == "":
        return Scale.AUTO
    if isinstance(value, str) and value.strip().lower() in SCALES:
        return Scale(value.strip().lower())
    try:
        factor = float(value)
    except (TypeError, ValueError, OverflowError):
        factor = float("nan")
    if isinstance(value, bool) or not 0 < factor <= 1:  # NaN fails too
        raise LczError(
            f"{param('SCALE')} '{value}' is not one of {', '.join(SCALES)} nor a factor above 0 "
            "and at most 1 (the factor turning the raster's values into reflectance: 0.0001 "
            "for DN, 0.001 for reflectance x 1000)"
        )
    return factor


def parse_offset(value, scale=Scale.AUTO) -> float:
    """An OFFSET value: the number added to the raster's values before the SCALE factor
    (reflectance = (value + offset) x factor; -1000 for Sentinel-2 DN from processing
    baseline 04.00), a finite number; 0 (or empty) with any ``scale``.

    Raises:
        LczError: not a finite number, or an offset other than 0 with SCALE auto or
            reflectance (an offset is for raw values with a stated factor: dn or a number).
    """
    if value is None or value == "":
        return 0.0
    try:
        offset = float(value)
    except (TypeError, ValueError, OverflowError):
        offset = float("nan")
    if isinstance(value, bool) or not np.isfinite(offset):
        raise LczError(
            f"{param('OFFSET')} '{value}' is not a finite number (the number added to the "
            "raster's values before the scale factor, e.g. -1000 for Sentinel-2 DN from "
            "processing baseline 04.00)"
        )
    choice = parse_scale(scale)
    if offset and choice in (Scale.AUTO, Scale.REFLECTANCE):
        raise LczError(
            f"{param('OFFSET')} {offset:g} needs a stated factor: set {param('SCALE')} to dn "
            f"or a number (e.g. 0.0001 with {param('OFFSET')} -1000 for Sentinel-2 DN from "
            f"processing baseline 04.00; 1 for values already in reflectance units), not "
            f"'{choice}'"
        )
    return offset


VEG_NDVI = 0.4  # a pixel with a higher NDVI is vegetation (NDVI does not depend on the factor)
VEG_NIR = (0.1, 0.8)  # the plausible median near-infrared reflectance of vegetation
MIN_BRIGHT = 0.02  # the 99th percentile of any real scene is brighter than this reflectance
B4, B8 = 2, 6  # the So2Sat channels of red and near-infrared


def _power_of_ten(x: float) -> float:
    return float(10.0 ** round(np.log10(x)))


def implausible_reflectance(vals: np.ndarray, channels: list, factor: float):
    """``(likely factor, evidence)`` when ``factor`` turns the sampled values ``vals``
    (N, C) of So2Sat ``channels`` into implausible reflectance, else ``(None, "")``.

    The evidence is vegetation when the sample has enough of it (NDVI above ``VEG_NDVI``,
    which no factor changes): its median near-infrared reflectance must lie within
    ``VEG_NIR``. Without vegetation, the 99th percentile must reach ``MIN_BRIGHT`` and the
    median stay below 1.5. The likely factor is the power of ten that brings the
    vegetation's near-infrared (or the 99th percentile) to about 0.3.
    """
    if vals.size == 0:
        return None, ""
    if B4 in channels and B8 in channels:
        red, nir = vals[:, channels.index(B4)], vals[:, channels.index(B8)]
        total = red + nir
        ndvi = np.divide(nir - red, total, out=np.zeros_like(total), where=total > 0)
        veg = (ndvi > VEG_NDVI) & (nir > 0)
        if veg.sum() >= max(50, 0.01 * len(vals)):
            med = float(np.median(nir[veg]))
            if VEG_NIR[0] <= med * factor <= VEG_NIR[1]:
                return None, ""
            return _power_of_ten(0.3 / med), (
                f"its vegetation (NDVI above {VEG_NDVI:g}, {veg.mean():.0%} of the sampled "
                f"pixels) has a median near-infrared (B8) reflectance of {med * factor:.3g}, "
                f"where {VEG_NIR[0]:g} to {VEG_NIR[1]:g} is expected"
            )
    p99, p50 = (float(v) for v in np.percentile(vals, [99, 50]))
    if p99 <= 0 or (p99 * factor >= MIN_BRIGHT and p50 * factor <= 1.5):
        return None, ""
    return _power_of_ten(0.3 / p99), (
        f"its brightest pixels (99th percentile) have a reflectance of {p99 * factor:.3g} "
        f"and its median {p50 * factor:.3g}"
    )


def _factor_words(factor: float) -> str:
    words = {1.0: "reflectance 0-1", 1e-3: "reflectance x 1000", 1e-4: "DN (reflectance x 10000)"}
    return next((w for f, w in words.items() if np.isclose(factor, f)), f"values x {1 / factor:g}")


def _scale_mismatch(choice, looks_dn, name: str, rng: str) -> str:
    """The warning when the chosen scale contradicts the DN test (``""`` when none)."""
    if choice == Scale.DN and looks_dn is False:
        return (
            f"{param('SCALE')} is 'dn' but the Sentinel-2 raster '{name}' looks like "
            f"reflectance ({rng}); dividing by 10000 anyway"
        )
    if choice == Scale.REFLECTANCE and looks_dn:
        return (
            f"the Sentinel-2 raster '{name}' looks DN-scaled ({rng}) but {param('SCALE')} "
            "is 'reflectance'; the model expects reflectance (DN / 10000), so predictions "
            f"will be wrong. Set {param('SCALE')} to 'dn' or 'auto'."
        )
    if choice == Scale.AUTO and looks_dn:
        return (
            f"the Sentinel-2 raster '{name}' looks DN-scaled ({rng}); the model expects "
            f"reflectance (DN / 10000), so the values are divided by 10000 ({param('SCALE')} "
            "'auto'). For processing baseline 04.00+ products, prepare them with 'Prepare "
            "Sentinel-2 product' (lcz prepare-s2) to apply the -1000 offset."
        )
    return ""


def detect_scale(src: InputSource, scale, feedback: Feedback, offset=0.0) -> float:
    """The factor turning the Sentinel-2 raster into reflectance: ``scale``'s number, 1
    (reflectance), 1e-4 (DN), or for ``auto`` 1e-4 when the 99th percentile of a sample
    exceeds ``DN_THRESHOLD``, else 1. Warns when the chosen scale contradicts that test,
    and when the reflectance it gives is implausible (``implausible_reflectance``),
    naming the likely factor; the factor is used all the same. ``offset``
    (``parse_offset``) is set on ``src`` and added to the sampled values (nodata pixels
    left out) before both tests."""
    choice = parse_scale(scale)
    src.offset = parse_offset(offset, choice)
    vals = sample_values(src) + src.offset
    looks_dn, rng = None, ""
    if vals.size:
        p1, p50, p99 = np.percentile(vals, [1, 50, 99])
        looks_dn = bool(p99 > DN_THRESHOLD)
        what = f"values + {param('OFFSET')} {src.offset:g}" if src.offset else "values"
        rng = f"{what} {p1:.4g} to {p99:.4g} (1st-99th percentile), median {p50:.4g}"
    if isinstance(choice, float):
        factor = choice
    elif choice == Scale.AUTO:
        factor = DN_SCALE if looks_dn else 1.0
    else:
        factor = DN_SCALE if choice == Scale.DN else 1.0
    name = Path(src.info.path).name
    mismatch = _scale_mismatch(choice, looks_dn, name, rng)
    likely, evidence = implausible_reflectance(vals, src.channels, factor)
    explicit = choice in (Scale.DN, Scale.REFLECTANCE)  # their own warning says it all
    if likely is not None and not np.isclose(likely, factor) and not (explicit and mismatch):
        how = f"{param('SCALE')} '{choice}'" if isinstance(choice, str) else param("SCALE")
        feedback.warning(
            f"the Sentinel-2 raster '{name}' does not look like {_factor_words(factor)} "
            f"({how} multiplies its values by {factor:g}; {rng}): {evidence}. It looks like "
            f"{_factor_words(likely)}: set {param('SCALE')} to {likely:g}, or predictions "
            "will be wrong."
        )
    elif mismatch:
        feedback.warning(mismatch)
    return factor
