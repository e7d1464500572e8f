"""So2Sat LCZ42 geolocation files (``*_geo.h5``): where each patch lies in its UTM zone.

Two published layouts, both accepted:

* **2025** (``coord``, ``epsg``, ``tfw``): ``tfw`` = ``[ul_x, 10, 0, ul_y, 0, 10]``, the
  upper-left corner in metres and a POSITIVE y pixel size although the image runs north
  to south (so the y size used is -10). ``coord`` holds the centre (corner + (160, -160)).
* **2026** (``epsg``, ``tfw``, ``city``): ``tfw`` in world-file order ``(A, D, B, E, C, F)``
  = ``(10, 0, 0, -10, ul_x, ul_y)``. As in the dataset's own ``save_geotiff.py``,
  ``C, F`` are used as the upper-left CORNER (a GDAL/rasterio transform), not as the
  centre of the upper-left pixel.

The layout is told from the values (a 10 m pixel size in columns 1 and 5, or in columns
0 and 3), with the dataset names as a tie-breaker. Every row is checked: a finite
transform, a pixel size of 10 m (+- 5 %), no rotation, a WGS 84 / UTM EPSG code
(326xx / 327xx) and a patch inside the zone's valid coordinate range. Rows that fail are
reported with the reason and left out by the callers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..common.bands import PATCH_SIZE
from ..common.errors import LczError

PATCH_PX = PATCH_SIZE
PIXEL_M = 10.0
PIXEL_TOLERANCE = 0.05
# Valid UTM coordinates (metres), a little wider than the zones' nominal ranges so that
# the usual cross-zone extensions pass, narrow enough to catch swapped or garbage values.
UTM_EASTING = (100_000.0, 900_000.0)
UTM_NORTHING_NORTH = (0.0, 9_400_000.0)  # ~ 0 to 84 N
UTM_NORTHING_SOUTH = (1_000_000.0, 10_000_000.0)  # ~ 80 S to 0


def is_wgs84_utm(epsg: int) -> bool:
    """Whether ``epsg`` is a WGS 84 / UTM zone code (32601-32660 north, 32701-32760 south)."""
    return 32601 <= epsg <= 32660 or 32701 <= epsg <= 32760


@dataclass
class PatchLocations:
    """Locations of selected rows. ``ok[i]`` False means row ``indices[i]`` is unusable
    (``reasons[i]`` says why); its other values are then meaningless."""

    indices: np.ndarray
    epsg: np.ndarray  # int
    ul_x: np.ndarray  # upper-left corner, metres
    ul_y: np.ndarray
    pixel: np.ndarray  # pixel size (positive), metres
    ok: np.ndarray
    reasons: list = field(default_factory=list)
    city: list | None = None
    layout: str = ""

    def __len__(self) -> int:
        return int(self.indices.size)


def check_row(epsg: int, tfw6) -> str | None:
    """Why a (epsg, GDAL-order geotransform) row is unusable, or None when it is sane.

    ``tfw6`` is a GDAL geotransform (ul_x, px, rot, ul_y, rot, py) with py < 0.
    """
    t = np.asarray(tfw6, dtype=np.float64)
    if not np.isfinite(t).all():
        return "the transform is not finite"
    lo, hi = PIXEL_M * (1 - PIXEL_TOLERANCE), PIXEL_M * (1 + PIXEL_TOLERANCE)
    if not (lo <= abs(t[1]) <= hi and lo <= abs(t[5]) <= hi):
        return f"pixel size {abs(t[1]):g} x {abs(t[5]):g} m is not 10 m"
    if abs(t[2]) > 1e-6 or abs(t[4]) > 1e-6:
        return "the transform is rotated"
    if not is_wgs84_utm(int(epsg)):
        return f"EPSG:{int(epsg)} is not a WGS 84 / UTM zone (326xx, 327xx)"
    size = PATCH_PX * abs(t[1])
    x0, y0 = t[0], t[3]
    if not (UTM_EASTING[0] <= x0 and x0 + size <= UTM_EASTING[1]):
        return f"easting {x0:.1f} is outside the UTM zone's valid range"
    ny = UTM_NORTHING_NORTH if int(epsg) < 32700 else UTM_NORTHING_SOUTH
    if not (ny[0] <= y0 - size and y0 <= ny[1]):
        return f"northing {y0:.1f} is outside the valid range of EPSG:{int(epsg)}"
    return None


def _pixel_like(v: np.ndarray) -> np.ndarray:
    a = np.abs(v)
    return (a >= PIXEL_M * (1 - PIXEL_TOLERANCE)) & (a <= PIXEL_M * (1 + PIXEL_TOLERANCE))


def detect_layout(tfw: np.ndarray, keys=()) -> str:
    """'2025' (``[ul_x, 10, 0, ul_y, 0, 10]``) or '2026' (world-file order)."""
    t = np.asarray(tfw, dtype=np.float64)
    s2025 = int(np.count_nonzero(_pixel_like(t[:, 1]) & _pixel_like(t[:, 5])))
    s2026 = int(np.count_nonzero(_pixel_like(t[:, 0]) & _pixel_like(t[:, 3])))
    if s2025 != s2026:
        return "2025" if s2025 > s2026 else "2026"
    return "2025" if "coord" in keys else "2026"


def to_geotransforms(tfw: np.ndarray, layout: str) -> np.ndarray:
    """(k,6) GDAL geotransforms (ul_x, px, 0, ul_y, 0, -py) from ``tfw`` rows."""
    t = np.asarray(tfw, dtype=np.float64)
    gt = np.empty_like(t)
    if layout == "2025":  # [ul_x, A, B, ul_y, D, E] with E > 0 meaning "north to south"
        gt[:, 0], gt[:, 1], gt[:, 2] = t[:, 0], t[:, 1], t[:, 2]
        gt[:, 3], gt[:, 4], gt[:, 5] = t[:, 3], t[:, 4], -np.abs(t[:, 5])
    else:  # world-file order (A, D, B, E, C, F)
        gt[:, 0], gt[:, 1], gt[:, 2] = t[:, 4], t[:, 0], t[:, 2]
        gt[:, 3], gt[:, 4], gt[:, 5] = t[:, 5], t[:, 1], -np.abs(t[:, 3])
    return gt


def _decode(v) -> str:
    if isinstance(v, (bytes, np.bytes_)):
        return v.decode("utf-8", errors="replace").strip()
    return str(v).strip()


class So2SatGeo:
    """An open geolocation file. ``locations(indices)`` gives checked corners."""

    def __init__(self, path: str | os.PathLike):
        from .file import check_rows, checked_dataset, h5_errors, h5_keys, open_h5

        self.path = Path(path)
        name = self.path.name
        with open_h5(self.path, "geolocation file") as h5:
            with h5_errors(self.path, "/", "list the datasets in"):
                self.keys = tuple(sorted(h5_keys(h5)))
            missing = [k for k in ("epsg", "tfw") if k not in self.keys]
            if missing:
                raise LczError(
                    f"'{name}' is not a So2Sat geolocation file: missing "
                    f"{', '.join(missing)} (found: {', '.join(self.keys) or 'none'}); "
                    "expected epsg and tfw (and coord or city)"
                )
            tfw = checked_dataset(h5, self.path, "tfw")
            epsg = checked_dataset(h5, self.path, "epsg")
            if tfw.ndim != 2 or tfw.shape[1] != 6:
                raise LczError(f"'{name}': 'tfw' has shape {tfw.shape}, expected (N, 6)")
            if epsg.ndim < 1 or epsg.shape[0] != tfw.shape[0] or epsg.size != epsg.shape[0]:
                raise LczError(
                    f"'{name}': 'epsg' has shape {epsg.shape}, expected ({tfw.shape[0]}, 1) "
                    "like 'tfw'"
                )
            check_rows(tfw.shape[0], self.path, "tfw")
            # small: 48 bytes + 4 per patch (17 MB for training_geo.h5)
            with h5_errors(self.path, "tfw"):
                self._tfw = np.asarray(tfw[:], dtype=np.float64)
            with h5_errors(self.path, "epsg"):
                self._epsg = np.asarray(epsg[:]).reshape(-1)
            ckey = (
                "city" if "city" in self.keys else ("cityList" if "cityList" in self.keys else None)
            )
            self._city = None
            if ckey is not None:
                city = checked_dataset(h5, self.path, ckey, numeric=False)
                if city.ndim >= 1 and city.shape[0] == self.n and city.size == self.n:
                    with h5_errors(self.path, ckey):
                        self._city = np.asarray(city[:]).reshape(-1)
        self.layout = detect_layout(self._tfw, self.keys)

    @property
    def n(self) -> int:
        """Rows (patches) in the file."""
        return int(self._tfw.shape[0])

    def __len__(self) -> int:
        return self.n

    def locations(self, indices) -> PatchLocations:
        """The checked upper-left corners of the patches at rows ``indices``.

        Args:
            indices: file rows, any order.

        Returns:
            ``PatchLocations``; rows that fail a check have ``ok`` False and a reason.

        Raises:
            LczError: an index is out of range.
        """
        idx = np.asarray(indices, dtype=np.int64).ravel()
        if idx.size and (idx.min() < 0 or idx.max() >= self.n):
            bad = idx[(idx < 0) | (idx >= self.n)][:5].tolist()
            raise LczError(
                f"patch indices {bad} are out of range for '{self.path.name}' ({self.n} rows)"
            )
        gts = to_geotransforms(self._tfw[idx], self.layout)
        epsg = np.zeros(idx.size, dtype=np.int64)
        reasons = []
        for k, i in enumerate(idx):
            e = self._epsg[i]
            try:
                epsg[k] = int(e)
            except (TypeError, ValueError):
                epsg[k] = 0
            reasons.append(check_row(epsg[k], gts[k]))
        ok = np.array([r is None for r in reasons], dtype=bool)
        city = None
        if self._city is not None:
            city = [_decode(self._city[i]) for i in idx]
        return PatchLocations(
            indices=idx,
            epsg=epsg,
            ul_x=gts[:, 0].copy(),
            ul_y=gts[:, 3].copy(),
            pixel=np.abs(gts[:, 1]),
            ok=ok,
            reasons=reasons,
            city=city,
            layout=self.layout,
        )
