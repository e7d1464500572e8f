"""So2Sat LCZ42 channel definitions and band selections.

``sen2``: 10 Sentinel-2 bands, reflectance (DN / 10000), in this order.
``sen1``: 8 Sentinel-1 channels; 5 and 6 are the Lee-filtered VH and VV intensities a
user can make from GRD data, the others need SLC data (complex VH/VV and the
off-diagonal of the PolSAR covariance matrix).
A ``fusion`` input is sen1 then sen2, 18 channels.
"""

from __future__ import annotations

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
DN_SCALE = 1e-4  # Sentinel-2 DN -> reflectance
DN_THRESHOLD = 2.0  # 99th percentile above this: DN-scaled (reflectance is ~0-1.5)


def sensor_channels(sensor: str) -> tuple[str, ...]:
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
