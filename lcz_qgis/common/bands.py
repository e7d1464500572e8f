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

import numpy as np

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
SENSORS = ("sen2", "sen1", "fusion")
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
    if sensor == "sen2":
        return SEN2_BANDS
    if sensor == "sen1":
        return SEN1_CHANNELS
    if sensor == "fusion":
        return tuple(f"S1_{c}" for c in SEN1_CHANNELS) + tuple(f"S2_{b}" for b in SEN2_BANDS)
    raise LczError(f"unknown sensor '{sensor}'; use one of {', '.join(SENSORS)}")


def sensor_for_channel_count(n: int) -> str:
    """8 = sen1, 10 = sen2, 18 = fusion (S1 first, then S2)."""
    try:
        return {8: "sen1", 10: "sen2", 18: "fusion"}[n]
    except KeyError:
        raise LczError(
            f"cannot tell the sensor of a model with {n} input channels "
            "(8 = Sentinel-1, 10 = Sentinel-2, 18 = fusion); give the sensor explicitly"
        ) from None


def parse_bands(spec: str | list | tuple | None, sensor: str) -> list[int]:
    """A band selection as 0-based indices into the sensor's So2Sat channels.

    ``spec`` may be None or "" (all channels), a list of ints, or a string of 1-based
    numbers and ranges and/or band names: "5,6", "1-4,9", "B2,B3,B4,B8".
    """
    names = sensor_channels(sensor)
    n = len(names)
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        return list(range(n))
    if isinstance(spec, (list, tuple)):
        idx = [int(i) for i in spec]
    else:
        idx = []
        upper = [s.upper() for s in names]
        for part in str(spec).replace(";", ",").split(","):
            part = part.strip()
            if not part:
                continue
            if part.upper() in upper:
                idx.append(upper.index(part.upper()))
            elif "-" in part and all(p.strip().isdigit() for p in part.split("-", 1)):
                a, b = (int(p) for p in part.split("-", 1))
                idx.extend(range(a - 1, b))
            elif part.isdigit():
                idx.append(int(part) - 1)
            else:
                raise LczError(
                    f"band '{part}' is not a {sensor} channel; use 1-{n} or one of {', '.join(names)}"
                )
    bad = [i + 1 for i in idx if not 0 <= i < n]
    if bad:
        raise LczError(f"band numbers {bad} are out of range for {sensor} (1-{n})")
    if len(set(idx)) != len(idx):
        raise LczError(f"band selection '{spec}' repeats a band")
    return idx


def value_limit(sensor: str) -> float:
    """The largest usable magnitude of a ``sen2`` or ``sen1`` value (module docstring);
    ``fusion``: the Sentinel-1 one (use ``channel_limits`` per channel)."""
    if sensor == "sen2":
        return SEN2_VALUE_LIMIT
    if sensor in ("sen1", "fusion"):
        return SEN1_VALUE_LIMIT
    raise LczError(f"unknown sensor '{sensor}'; use one of {', '.join(SENSORS)}")


def channel_limits(sensor: str, bands: list[int] | None = None) -> np.ndarray:
    """Per selected channel (0-based ``bands`` into ``sensor_channels``; all when None),
    the largest usable magnitude, float32. Fusion: Sentinel-1 channels 0-7, then
    Sentinel-2."""
    n = len(sensor_channels(sensor))
    idx = range(n) if bands is None else bands
    if sensor == "fusion":
        lim = [SEN1_VALUE_LIMIT if i < len(SEN1_CHANNELS) else SEN2_VALUE_LIMIT for i in idx]
    else:
        lim = [value_limit(sensor)] * len(idx)
    return np.asarray(lim, np.float32)


def range_note(sensor: str) -> str:
    """The rule in words, for messages: e.g. "|x| <= 1e+05 for Sentinel-2"."""
    parts = []
    if sensor in ("sen1", "fusion"):
        parts.append(f"|x| <= {SEN1_VALUE_LIMIT:.0e} for Sentinel-1")
    if sensor in ("sen2", "fusion"):
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
