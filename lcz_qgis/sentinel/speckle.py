"""The Lee speckle filter for SAR intensity (Lee 1980, local statistics).

For an intensity image I with multiplicative speckle of unit mean and variation
coefficient ``cu = 1/sqrt(ENL)``, in each ``window x window`` neighbourhood:

    m = local mean of I,  v = local variance of I
    var_x = (v - m^2 cu^2) / (1 + cu^2)     (signal variance, clipped at 0)
    k = var_x / v                            (0 in flat areas, -> 1 on edges/targets)
    out = m + k (I - m)

Homogeneous areas get the local mean; edges and strong scatterers keep their value.
Nodata pixels (NaN) are left out of the local statistics (normalised convolution) and
stay nodata. Sentinel-1 IW GRDH has an ENL of about 4.4 (ESA product specification),
the default here. Windows of 5 or 7 pixels are usual at 10 m.
"""

from __future__ import annotations

import numpy as np

from ..common.errors import LczError

DEFAULT_WINDOW = 5
DEFAULT_ENL = 4.4


def lee_filter(
    intensity: np.ndarray, window: int = DEFAULT_WINDOW, enl: float = DEFAULT_ENL
) -> np.ndarray:
    """Lee-filter a 2-D linear intensity array; NaN = nodata. Returns float32."""
    from scipy.ndimage import uniform_filter

    if window < 3 or window % 2 == 0:
        raise LczError(f"the Lee filter window must be an odd number >= 3; got {window}")
    if enl <= 0:
        raise LczError(f"the equivalent number of looks must be positive; got {enl}")
    x = np.asarray(intensity, dtype=np.float64)
    valid = np.isfinite(x)
    xv = np.where(valid, x, 0.0)
    w = uniform_filter(valid.astype(np.float64), window, mode="nearest")
    with np.errstate(invalid="ignore", divide="ignore"):
        # pixels with no valid neighbour get NaN statistics; they are nodata anyway
        m = uniform_filter(xv, window, mode="nearest") / w
        m2 = uniform_filter(xv * xv, window, mode="nearest") / w
        v = np.maximum(m2 - m * m, 0.0)
        cu2 = 1.0 / enl
        var_x = np.maximum((v - m * m * cu2) / (1.0 + cu2), 0.0)
        k = np.where(v > 0, var_x / np.where(v > 0, v, 1.0), 0.0)
        out = m + k * (xv - m)
    out[~valid] = np.nan
    return out.astype(np.float32)
