"""Spectral indices and colour composites on numpy arrays (So2Sat band order by default).

Every function takes an array with the channels on the LAST axis: a patch (32,32,C),
a stack of patches (N,32,32,C) or a block of a raster (rows,cols,C). The channel
order is So2Sat's unless ``bands`` maps names to 0-based channel indices:

* 10 channels: Sentinel-2 ``B2 B3 B4 B5 B6 B7 B8 B8A B11 B12`` (reflectance, DN / 10000)
* 8 channels: Sentinel-1; ``VH`` = channel 5 (index 4) and ``VV`` = channel 6 (index 5),
  the Lee-filtered LINEAR intensities
* 18 channels: fusion, Sentinel-1 first, then Sentinel-2

Indices come back as float32 with ``nodata`` (default -9999) wherever the denominator
is 0, an input is NaN/inf or equals ``input_nodata``, or the result would overflow:
they never hold inf or NaN. Composites come back as uint8 RGB (...,3), 0 where the input
is invalid.

    >>> from lcz_qgis import indices
    >>> v = indices.ndvi(sen2_patch)            # (32,32) float32
    >>> rgb = indices.truecolor(sen2_patch)     # (32,32,3) uint8, 2-98 % stretch
    >>> fc = indices.s1_falsecolor(sen1_patch)  # fixed dB ranges, see below
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..common.bands import SEN1_CHANNELS, SEN2_BANDS
from ..common.errors import LczError

NODATA = -9999.0
EPS = 1e-6  # floor of linear intensities before dB, as in docs/notebook_facts.md

# Fixed dB ranges of the Sentinel-1 false colour (docs/notebook_facts.md, "Visualisations").
S1_FALSECOLOR_DB = {"R": (-25.0, 0.0), "G": (-32.0, -5.0), "B": (0.0, 15.0)}
DEFAULT_PERCENTILES = (2.0, 98.0)

# Aliases a user may write for the Sentinel-1 intensities.
ALIASES = {"VH": "VH_intensity", "VV": "VV_intensity"}


@dataclass(frozen=True)
class Product:
    """A visual product: a spectral index or a colour composite.

    Attributes:
        name: the product's code (``PRODUCTS`` key), e.g. ``"ndvi"``.
        title: its readable name.
        needs: the canonical channel names its formula uses, in that order.
        kind: ``"index"`` (float32) or ``"rgb"`` (uint8 composite).
        formula: the formula, as text for the user.
    """

    name: str
    title: str
    needs: tuple[str, ...]  # canonical channel names, in the order the formula uses them
    kind: str  # "index" or "rgb"
    formula: str


PRODUCTS: dict[str, Product] = {
    p.name: p
    for p in (
        Product(
            "truecolor",
            "Sentinel-2 true colour",
            ("B4", "B3", "B2"),
            "rgb",
            "RGB = (B4, B3, B2), each stretched between its 2nd and 98th percentile",
        ),
        Product(
            "s1falsecolor",
            "Sentinel-1 false colour",
            ("VV_intensity", "VH_intensity"),
            "rgb",
            "R = VV dB in [-25, 0], G = VH dB in [-32, -5], B = VV/VH dB in [0, 15]",
        ),
        Product("ndvi", "NDVI", ("B8", "B4"), "index", "(B8 - B4) / (B8 + B4)"),
        Product(
            "rvi",
            "Radar vegetation index",
            ("VH_intensity", "VV_intensity"),
            "index",
            "4 * VH / (VV + VH), linear intensities",
        ),
        Product("ndbi", "NDBI", ("B11", "B8"), "index", "(B11 - B8) / (B11 + B8)"),
        Product("ndwi", "NDWI", ("B3", "B8"), "index", "(B3 - B8) / (B3 + B8)"),
        Product("mndwi", "MNDWI", ("B3", "B11"), "index", "(B3 - B11) / (B3 + B11)"),
    )
}


def product(name: str) -> Product:
    """The product named ``name`` (case and surrounding spaces ignored).

    Raises:
        LczError: an unknown product.
    """
    try:
        return PRODUCTS[str(name).strip().lower()]
    except KeyError:
        raise LczError(f"unknown product '{name}'; use one of {', '.join(PRODUCTS)}") from None


def canonical_band(name: str) -> str:
    """'b8' -> 'B8', 'vh' -> 'VH_intensity'; raises LczError for an unknown name."""
    s = str(name).strip()
    up = s.upper()
    if up in ALIASES:
        return ALIASES[up]
    for n in SEN2_BANDS + SEN1_CHANNELS:
        if n.upper() == up:
            return n
    raise LczError(
        f"'{name}' is not a band name; use {', '.join(SEN2_BANDS)}, VH, VV or one of "
        f"{', '.join(SEN1_CHANNELS)}"
    )


def so2sat_band_map(n_channels: int) -> dict[str, int]:
    """Channel name -> 0-based index for an array in So2Sat order with ``n_channels``."""
    if n_channels == 10:
        return {b: i for i, b in enumerate(SEN2_BANDS)}
    if n_channels == 8:
        return {c: i for i, c in enumerate(SEN1_CHANNELS)}
    if n_channels == 18:
        m = {c: i for i, c in enumerate(SEN1_CHANNELS)}
        m.update({b: 8 + i for i, b in enumerate(SEN2_BANDS)})
        return m
    return {}


def _band_map(n_channels: int, bands) -> dict[str, int]:
    if bands is None:
        return so2sat_band_map(n_channels)
    return {canonical_band(k): int(v) for k, v in dict(bands).items()}


def _channels(x: np.ndarray, names: tuple[str, ...], bands) -> list[np.ndarray]:
    x = np.asarray(x)
    if x.ndim < 1:
        raise LczError("expected an array with the channels on the last axis")
    m = _band_map(x.shape[-1], bands)
    missing = [n for n in names if n not in m]
    if missing:
        raise LczError(
            f"the array's {x.shape[-1]} channels are not in So2Sat order (10 Sentinel-2, "
            f"8 Sentinel-1 or 18 fusion channels) and no mapping names "
            f"{', '.join(missing)}; pass bands={{'{missing[0]}': channel_index, ...}}"
        )
    out = []
    for n in names:
        i = m[n]
        if not 0 <= i < x.shape[-1]:
            raise LczError(f"band {n} maps to channel {i}, but the array has {x.shape[-1]}")
        out.append(x[..., i])
    return out


def _valid(arrays, input_nodata) -> np.ndarray:
    ok = np.ones(np.shape(arrays[0]), dtype=bool)
    for a in arrays:
        ok &= np.isfinite(a)
        if input_nodata is not None and np.isfinite(input_nodata):
            ok &= a != input_nodata
    return ok


def _fill(ok, num, den, nodata, scale: float = 1.0) -> np.ndarray:
    """float32 array of ``ok``'s shape: scale * num / den on ``ok`` (num, den given for the
    ``ok`` pixels only), ``nodata`` elsewhere and wherever the result is not finite."""
    out = np.full(ok.shape, nodata, dtype=np.float32)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        r = (scale * num / den).astype(np.float32)
    r[~np.isfinite(r)] = nodata  # den == 0 (inf or 0/0), or beyond float32
    out[ok] = r
    return out


def normalized_difference(a, b, nodata: float = NODATA, input_nodata=None) -> np.ndarray:
    """(a - b) / (a + b) as float32; ``nodata`` where a + b == 0 or an input is invalid."""
    ok = _valid([a, b], input_nodata)
    av = np.asarray(a, dtype=np.float64)[ok]
    bv = np.asarray(b, dtype=np.float64)[ok]
    return _fill(ok, av - bv, av + bv, nodata)


def _nd(x, names, bands, nodata, input_nodata):
    a, b = _channels(x, names, bands)
    return normalized_difference(a, b, nodata, input_nodata)


def ndvi(x, bands=None, nodata: float = NODATA, input_nodata=None) -> np.ndarray:
    """NDVI = (B8 - B4) / (B8 + B4)."""
    return _nd(x, ("B8", "B4"), bands, nodata, input_nodata)


def ndbi(x, bands=None, nodata: float = NODATA, input_nodata=None) -> np.ndarray:
    """NDBI = (B11 - B8) / (B11 + B8)."""
    return _nd(x, ("B11", "B8"), bands, nodata, input_nodata)


def ndwi(x, bands=None, nodata: float = NODATA, input_nodata=None) -> np.ndarray:
    """NDWI (McFeeters) = (B3 - B8) / (B3 + B8)."""
    return _nd(x, ("B3", "B8"), bands, nodata, input_nodata)


def mndwi(x, bands=None, nodata: float = NODATA, input_nodata=None) -> np.ndarray:
    """MNDWI (Xu) = (B3 - B11) / (B3 + B11)."""
    return _nd(x, ("B3", "B11"), bands, nodata, input_nodata)


def rvi(x, bands=None, nodata: float = NODATA, input_nodata=None) -> np.ndarray:
    """Dual-pol radar vegetation index 4 * VH / (VV + VH) on LINEAR intensities."""
    vh, vv = _channels(x, ("VH_intensity", "VV_intensity"), bands)
    ok = _valid([vh, vv], input_nodata)
    vhv = np.asarray(vh, dtype=np.float64)[ok]
    vvv = np.asarray(vv, dtype=np.float64)[ok]
    return _fill(ok, vhv, vvv + vhv, nodata, scale=4.0)


# -- colour composites -------------------------------------------------------------------
def percentile_limits(channels, ok, percentiles=DEFAULT_PERCENTILES) -> np.ndarray:
    """(k, 2) array of (low, high) percentiles of each channel over the pixels in ``ok``."""
    lims = np.zeros((len(channels), 2), dtype=np.float64)
    for k, c in enumerate(channels):
        v = np.asarray(c, dtype=np.float64)[ok]
        v = v[np.isfinite(v)]
        if v.size:
            lims[k] = np.percentile(v, percentiles)
        else:
            lims[k] = (0.0, 1.0)
    return lims


def stretch_to_byte(values, lo: float, hi: float) -> np.ndarray:
    """round(255 * clip((v - lo) / (hi - lo), 0, 1)) as uint8; non-finite -> 0."""
    v = np.asarray(values, dtype=np.float64)
    span = hi - lo if hi > lo else 1e-12
    with np.errstate(invalid="ignore", over="ignore"):
        s = np.clip((v - lo) / span, 0.0, 1.0)
    s = np.where(np.isfinite(s), s, 0.0)
    return np.rint(255.0 * s).astype(np.uint8)


def _stretch_rgb(chans, ok, lims) -> np.ndarray:
    out = np.zeros((*ok.shape, 3), dtype=np.uint8)
    for k in range(3):
        out[..., k][ok] = stretch_to_byte(np.asarray(chans[k])[ok], *lims[k])
    return out


def truecolor(
    x, bands=None, limits=None, percentiles=DEFAULT_PERCENTILES, input_nodata=None
) -> np.ndarray:
    """Sentinel-2 true colour (R, G, B) = (B4, B3, B2) as uint8 (...,3).

    Each channel is stretched linearly between ``limits[k] = (low, high)``; by default the
    ``percentiles`` (2nd and 98th) of that channel over the valid pixels of ``x``.
    Invalid pixels are 0.
    """
    chans = _channels(x, PRODUCTS["truecolor"].needs, bands)
    ok = _valid(chans, input_nodata)
    lims = percentile_limits(chans, ok, percentiles) if limits is None else np.asarray(limits)
    return _stretch_rgb(chans, ok, lims)


def s1_db_channels(vv, vh) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(VV dB, VH dB, VV/VH dB) of LINEAR intensities, each floored at 1e-6 first."""
    with np.errstate(invalid="ignore"):
        vv_db = 10.0 * np.log10(np.maximum(np.asarray(vv, dtype=np.float64), EPS))
        vh_db = 10.0 * np.log10(np.maximum(np.asarray(vh, dtype=np.float64), EPS))
    return vv_db, vh_db, vv_db - vh_db


def s1_falsecolor(
    x,
    bands=None,
    mode: str = "fixed",
    limits=None,
    percentiles=DEFAULT_PERCENTILES,
    input_nodata=None,
) -> np.ndarray:
    """Sentinel-1 false colour from the Lee-filtered intensities, uint8 (...,3).

    As specified in docs/notebook_facts.md ("Visualisations"):
    R = VV dB stretched over [-25, 0], G = VH dB over [-32, -5], B = VV/VH dB over
    [0, 15]; intensities floored at 1e-6 before the dB conversion. ``mode="percentile"``
    replaces the fixed ranges by the 2nd and 98th percentiles of each dB channel over
    the array (``limits`` overrides both). NaN/inf/nodata inputs give 0.
    """
    vv, vh = _channels(x, PRODUCTS["s1falsecolor"].needs, bands)
    ok = _valid([vv, vh], input_nodata)
    chans = s1_db_channels(vv, vh)
    if limits is not None:
        lims = np.asarray(limits, dtype=np.float64)
    elif mode == "fixed":
        lims = np.array([S1_FALSECOLOR_DB[c] for c in "RGB"], dtype=np.float64)
    elif mode == "percentile":
        lims = percentile_limits(chans, ok, percentiles)
    else:
        raise LczError(f"unknown false-colour mode '{mode}'; use 'fixed' or 'percentile'")
    return _stretch_rgb(chans, ok, lims)


INDEX_FUNCTIONS = {"ndvi": ndvi, "rvi": rvi, "ndbi": ndbi, "ndwi": ndwi, "mndwi": mndwi}


def compute(name: str, x, bands=None, **kwargs) -> np.ndarray:
    """Any product by name: ``compute("ndvi", patch)``."""
    p = product(name)
    if p.name == "truecolor":
        return truecolor(x, bands, **kwargs)
    if p.name == "s1falsecolor":
        return s1_falsecolor(x, bands, **kwargs)
    return INDEX_FUNCTIONS[p.name](x, bands, **kwargs)
