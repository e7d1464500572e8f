"""So2Sat LCZ42 channel definitions and band selections.

``sen2``: 10 Sentinel-2 bands, reflectance (DN / 10000), in this order.
``sen1``: 8 Sentinel-1 channels; 5 and 6 are the Lee-filtered VH and VV intensities a
user can make from GRD data, the others need SLC data (complex VH/VV and the
off-diagonal of the PolSAR covariance matrix).
A ``fusion`` input is sen1 then sen2, 18 channels.

Physical value ranges: a value is usable when it is finite and its magnitude is at most
the sensor's limit, in the units the data is given in:

* Sentinel-2: ``|x| <= 1e5`` (``SEN2_VALUE_LIMIT``). Reflectance is about -0.1 to 1.6
  and digital numbers (DN = reflectance x 10000, with the -1000 offset of processing
  baseline 04.00+) are 16-bit, at most 65535: every value a Sentinel-2 product can hold,
  DN-scaled So2Sat files included (they only get the DN-scale warning), is inside.
* Sentinel-1: ``|x| <= 1e6`` (``SEN1_VALUE_LIMIT``). Linear backscatter intensity is
  below 1 for nearly all targets and about 1e3 (30 dB) for the brightest corner
  reflectors; So2Sat's complex and covariance channels are of the same order (their
  squares are intensities); dB values lie within about -50 to 50.

Beyond that a value is not a measurement but an undeclared nodata value (e.g. -3.4e38,
the float32 minimum), a damaged file or a wrong product, and its squares and sums
overflow float32. Classification treats such a pixel as nodata (like NaN); training and
evaluation skip and count such patches (like NaN/inf).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .enums import Sensor
from .errors import LczError

SEN2_BANDS = ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12")
SEN1_CHANNELS = (
    "VH_real",
    "VH_imag",
    "VV_real",
    "VV_imag",
    "VH_intensity",
    "VV_intensity",
    "cov_VHVV_real",
    "cov_VHVV_imag",
)
SENSORS = (Sensor.SEN2, Sensor.SEN1, Sensor.FUSION)
PATCH_SIZE = 32  # So2Sat patches (and the classification window) are 32 x 32 pixels
DN_SCALE = 1e-4  # Sentinel-2 DN -> reflectance
DN_THRESHOLD = 2.0  # 99th percentile above this: DN-scaled (reflectance is ~0-1.5)
SEN2_VALUE_LIMIT = 1e5  # |x| beyond this is not Sentinel-2 reflectance nor DN (uint16)
SEN1_VALUE_LIMIT = 1e6  # |x| beyond this is not Sentinel-1 backscatter (linear or dB)
# what a patch or pixel skipped for its values holds (messages of train, evaluate)
INVALID_VALUES = "NaN or inf values or values beyond the physical range"


def sensor_channels(sensor: str) -> tuple[str, ...]:
    """The So2Sat channel names of ``sensor``, in file order.

    Returns:
        ``sen2``: the 10 ``SEN2_BANDS``; ``sen1``: the 8 ``SEN1_CHANNELS``; ``fusion``:
        the 18 of both, prefixed ``S1_`` and ``S2_`` (Sentinel-1 first).

    Raises:
        LczError: an unknown sensor.
    """
    if sensor == Sensor.SEN2:
        return SEN2_BANDS
    if sensor == Sensor.SEN1:
        return SEN1_CHANNELS
    if sensor == Sensor.FUSION:
        return tuple(f"S1_{c}" for c in SEN1_CHANNELS) + tuple(f"S2_{b}" for b in SEN2_BANDS)
    raise LczError(f"unknown sensor '{sensor}'; use one of {', '.join(SENSORS)}")


def sensor_for_channel_count(n: int) -> str:
    """8 = sen1, 10 = sen2, 18 = fusion (S1 first, then S2)."""
    try:
        return {8: Sensor.SEN1, 10: Sensor.SEN2, 18: Sensor.FUSION}[n]
    except KeyError:
        raise LczError(
            f"cannot tell the sensor of a model with {n} input channels "
            "(8 = Sentinel-1, 10 = Sentinel-2, 18 = fusion); give the sensor explicitly"
        ) from None


BANDS_GRAMMAR = (
    "items separated by commas: a channel name (B8, VH), a 1-based band number (4), a "
    "range of numbers (1-4), or NAME=NUMBER (channel NAME is raster band NUMBER)"
)


@dataclass(frozen=True)
class BandItem:
    """One item of a BANDS value: a channel name, a 1-based number, or both (NAME=N)."""

    name: str | None
    number: int | None


def band_items(spec) -> list[BandItem]:
    """The one grammar of every BANDS parameter, as items (``BANDS_GRAMMAR``).

    ``"B4=3, B8=4"`` -> two NAME=NUMBER items; ``"B2,B3"`` -> names; ``"1-3,9"`` ->
    the numbers 1, 2, 3, 9. A list or tuple is taken item by item (ints are numbers).
    What the numbers mean is the parameter's: channels of a So2Sat file (Train,
    Evaluate) or bands of a raster (Classify, Render).

    Raises:
        LczError: an item that is none of these, with the grammar.
    """
    if spec is None:
        return []
    parts = (
        list(spec) if isinstance(spec, (list, tuple)) else str(spec).replace(";", ",").split(",")
    )
    items: list[BandItem] = []
    for part in parts:
        text = str(part).strip()
        if not text:
            continue
        items.extend(_band_item(text, spec))
    return items


def _band_item(text: str, spec) -> list[BandItem]:
    if "=" in text:
        name, num = (t.strip() for t in text.split("=", 1))
        if not name or not num.isdigit():
            raise LczError(f"band entry '{text}' in '{spec}': write NAME=NUMBER, e.g. B8=4")
        return [BandItem(name, int(num))]
    if text.isdigit():
        return [BandItem(None, int(text))]
    a, dash, b = text.partition("-")
    if dash and a.strip().isdigit() and b.strip().isdigit():
        lo, hi = int(a), int(b)
        if lo > hi:
            raise LczError(f"band range '{text}' in '{spec}' runs backwards; write {hi}-{lo}")
        return [BandItem(None, n) for n in range(lo, hi + 1)]
    if text.replace("_", "").isalnum() and not text[0].isdigit():
        return [BandItem(text, None)]
    raise LczError(f"band entry '{text}' in '{spec}' is not understood; BANDS: {BANDS_GRAMMAR}")


def parse_bands(spec: str | list | tuple | None, sensor: str) -> list[int]:
    """A band selection as 0-based indices into the sensor's So2Sat channels.

    ``spec`` in the BANDS grammar (``band_items``): None or "" (all channels), 1-based
    channel numbers and ranges and/or channel names: "5,6", "1-4,9", "B2,B3,B4,B8".
    NAME=NUMBER maps raster bands, which a selection does not. A list of ints (the
    API, and manifests) is already 0-based.

    Raises:
        LczError: unknown names, numbers out of range, repeats, NAME=NUMBER items.
    """
    names = sensor_channels(sensor)
    n = len(names)
    if isinstance(spec, (list, tuple)) and all(isinstance(i, int) for i in spec):
        return _checked_selection([int(i) for i in spec], spec, sensor, n)  # API: 0-based
    items = band_items(spec)
    if not items:
        return list(range(n))
    upper = [c.upper() for c in names]
    idx = []
    for item in items:
        if item.name is not None and item.number is not None:
            raise LczError(
                f"band entry '{item.name}={item.number}': here the bands select channels of "
                f"the So2Sat data; give names or numbers, e.g. '5,6' or 'B2,B3,B4,B8'"
            )
        if item.name is not None:
            if item.name.upper() not in upper:
                raise LczError(
                    f"band '{item.name}' is not a {sensor} channel; use 1-{n} or one of "
                    f"{', '.join(names)}"
                )
            idx.append(upper.index(item.name.upper()))
        else:
            idx.append(item.number - 1)
    return _checked_selection(idx, spec, sensor, n)


def _checked_selection(idx: list[int], spec, sensor: str, n: int) -> list[int]:
    bad = [i + 1 for i in idx if not 0 <= i < n]
    if bad:
        raise LczError(f"band numbers {bad} are out of range for {sensor} (1-{n})")
    if len(set(idx)) != len(idx):
        raise LczError(f"band selection '{spec}' repeats a band")
    return idx


def value_limit(sensor: str) -> float:
    """The largest usable magnitude of a ``sen2`` or ``sen1`` value (module docstring);
    ``fusion``: the Sentinel-1 one (use ``channel_limits`` per channel)."""
    if sensor == Sensor.SEN2:
        return SEN2_VALUE_LIMIT
    if sensor in (Sensor.SEN1, Sensor.FUSION):
        return SEN1_VALUE_LIMIT
    raise LczError(f"unknown sensor '{sensor}'; use one of {', '.join(SENSORS)}")


def channel_limits(sensor: str, bands: list[int] | None = None) -> np.ndarray:
    """Per selected channel (0-based ``bands`` into ``sensor_channels``; all when None),
    the largest usable magnitude, float32. Fusion: Sentinel-1 channels 0-7, then
    Sentinel-2."""
    n = len(sensor_channels(sensor))
    idx = range(n) if bands is None else bands
    if sensor == Sensor.FUSION:
        lim = [SEN1_VALUE_LIMIT if i < len(SEN1_CHANNELS) else SEN2_VALUE_LIMIT for i in idx]
    else:
        lim = [value_limit(sensor)] * len(idx)
    return np.asarray(lim, np.float32)


def range_note(sensor: str) -> str:
    """The rule in words, for messages: e.g. "|x| <= 1e+05 for Sentinel-2"."""
    parts = []
    if sensor in (Sensor.SEN1, Sensor.FUSION):
        parts.append(f"|x| <= {SEN1_VALUE_LIMIT:.0e} for Sentinel-1")
    if sensor in (Sensor.SEN2, Sensor.FUSION):
        parts.append(f"|x| <= {SEN2_VALUE_LIMIT:.0e} for Sentinel-2")
    return ", ".join(parts)


def patches_in_range(x: np.ndarray, limits) -> np.ndarray:
    """(N,) mask of the patches of ``x`` (N, H, W, C) whose every value is finite and
    within its channel's limit (``limits``: one per channel, or one for all).

    Each patch's max and min decide (NaN makes both NaN, which compares False). With
    different limits per channel (fusion), a patch within the smallest limit passes and
    the others are checked value by value: each value's excess over its channel's limit,
    ``max(|x| - limit, 0)``, is never negative, so their sum is 0 exactly when every
    value is in range.
    """
    x = np.asarray(x)
    n = x.shape[0]
    if n == 0:
        return np.zeros(0, bool)
    lim = np.broadcast_to(np.asarray(limits, np.float32), (x.shape[-1],))
    bound = lim.min()
    flat = x.reshape(n, -1)
    with np.errstate(over="ignore", invalid="ignore"):
        ok = (flat.max(axis=1) <= bound) & (flat.min(axis=1) >= -bound)
        if ok.all() or lim.max() == bound:
            return ok
        rest = np.flatnonzero(~ok)
        d = np.abs(x[rest])
        d -= lim
        np.maximum(d, 0, out=d)  # NaN stays NaN
        ok[rest] = d.reshape(rest.size, -1).sum(axis=1) == 0
    return ok
