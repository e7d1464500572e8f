"""Post-classification filters on LCZ probability blocks: 3x3 majority and the class-wise
Gaussian filter of the LCZ Generator.

``gaussian``: each class's probability layer is smoothed with its own Gaussian kernel,
then each cell takes the class with the highest smoothed value (argmax). Kernel sizes
are in metres, so the filter does the same thing at any output resolution. The
sigma/radius per class are those of Demuzere et al. (2020, "Combining expert and
crowd-sourced training data to map urban form and functions for the continental US",
Scientific Data 7:264), which the LCZ Generator applies to every map (Demuzere et al.
2021, Frontiers in Environmental Science; lcz-generator.rub.de FAQ: "Gaussian-filtered,
as done in Demuzere et al. (2020)"), as found in a public Earth Engine implementation of
that post-processing (``ee.Kernel.gaussian(radius, sigma, 'meters')`` per class). The
original smooths the one-hot layers of the classified map; here the model's class
probabilities are smoothed, which is the same filter on a soft input. LCZ 7 is not in
that table (no CONUS training areas); it gets the value of the other low-rise classes
(sigma 150 m), a project decision. Nodata cells are left out (normalised convolution)
and stay nodata.

``majority``: each valid cell takes the most frequent class among the valid cells of its
3 x 3 neighbourhood; on a tie the cell keeps its own class if it is among the tied ones.
"""

from __future__ import annotations

import numpy as np

from ..common.enums import Filter, codes
from ..common.errors import LczError
from ..common.legend import N_CLASSES

FILTERS = codes(Filter)

# LCZ code -> (sigma, radius) in metres (Demuzere et al. 2020; LCZ 7: project decision)
GAUSSIAN_KERNELS_M = {
    1: (100, 200),
    2: (150, 300),
    3: (150, 300),
    4: (150, 300),
    5: (150, 300),
    6: (150, 300),
    7: (150, 300),
    8: (250, 500),
    9: (150, 300),
    10: (250, 500),
    11: (75, 200),
    12: (75, 200),
    13: (75, 200),
    14: (75, 200),
    15: (150, 300),
    16: (75, 200),
    17: (25, 50),
}


def check_filter(name: str) -> str:
    """The post-classification filter ``name`` in lower case (None or "" is "none").

    Raises:
        LczError: the name is not one of ``FILTERS``.
    """
    name = (name or Filter.NONE).lower()
    if name not in FILTERS:
        raise LczError(f"unknown filter '{name}'; use one of {', '.join(FILTERS)}")
    return name


def halo_cells(name: str, cell_size_m: float) -> int:
    """Output cells of context each side that the filter needs."""
    name = check_filter(name)
    if name == Filter.NONE:
        return 0
    if name == Filter.MAJORITY:
        return 1
    return max(_radius_cells(r, cell_size_m) for _, r in GAUSSIAN_KERNELS_M.values())


def _radius_cells(radius_m: float, cell_size_m: float) -> int:
    return int(np.floor(radius_m / cell_size_m + 1e-9))


def gaussian_kernel_1d(sigma_m: float, radius_m: float, cell_size_m: float) -> np.ndarray:
    """A normalised (sum 1) 1-D Gaussian kernel sampled at output cell spacing.

    Args:
        sigma_m: the Gaussian's standard deviation, metres.
        radius_m: the kernel's half-width, metres (cut at whole cells).
        cell_size_m: the output cell size, metres.

    Returns:
        (2 r + 1,) float64, r = floor(radius_m / cell_size_m).
    """
    r = _radius_cells(radius_m, cell_size_m)
    x = np.arange(-r, r + 1, dtype=np.float64) * cell_size_m
    k = np.exp(-0.5 * (x / sigma_m) ** 2)
    return k / k.sum()


def filter_block(
    name: str, proba: np.ndarray, valid: np.ndarray, cell_size_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Filter a block: ``proba`` (rows, cols, 17), ``valid`` (rows, cols).

    Returns (codes uint8 0..17, confidence float32 (-1 where nodata), probabilities
    float32 (rows, cols, 17), 0 where nodata). Rows/cols at the block's edge see only
    what is in the block: give the block a halo of ``halo_cells`` rows.
    """
    name = check_filter(name)
    proba = np.asarray(proba, dtype=np.float32)
    if name == Filter.GAUSSIAN:
        proba = _gaussian(proba, valid, cell_size_m)
    codes = np.where(valid, np.argmax(proba, axis=-1) + 1, 0).astype(np.uint8)
    if name == Filter.MAJORITY:
        codes = _majority(codes, valid)
    idx = np.maximum(codes.astype(np.intp) - 1, 0)
    conf = np.take_along_axis(proba, idx[..., None], axis=-1)[..., 0]
    conf = np.where(valid, conf, -1.0).astype(np.float32)
    return codes, conf, proba


def _gaussian(proba: np.ndarray, valid: np.ndarray, cell_size_m: float) -> np.ndarray:
    from scipy.ndimage import correlate1d

    w = valid.astype(np.float64)
    out = np.zeros(proba.shape, np.float32)
    cache = {}
    for k in range(proba.shape[-1]):
        sigma, radius = GAUSSIAN_KERNELS_M[k + 1]
        key = (sigma, radius)
        kern = gaussian_kernel_1d(sigma, radius, cell_size_m)
        if len(kern) == 1:  # kernel smaller than a cell: nothing to smooth
            out[..., k] = proba[..., k]
            continue
        if key not in cache:
            d = correlate1d(w, kern, axis=0, mode="constant")
            cache[key] = correlate1d(d, kern, axis=1, mode="constant")
        num = correlate1d(proba[..., k] * w, kern, axis=0, mode="constant")
        num = correlate1d(num, kern, axis=1, mode="constant")
        den = cache[key]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[..., k] = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
    s = out.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(s > 0, out / np.where(s > 0, s, 1.0), 0.0)
    out[~valid] = 0.0
    return out.astype(np.float32)


def _majority(codes: np.ndarray, valid: np.ndarray) -> np.ndarray:
    h, w = codes.shape
    padded = np.zeros((h + 2, w + 2), np.uint8)
    padded[1:-1, 1:-1] = codes
    counts = np.zeros((N_CLASSES + 1, h, w), np.uint8)
    rows = np.arange(h)[:, None]
    cols = np.arange(w)[None, :]
    for dr in range(3):
        for dc in range(3):
            np.add.at(counts, (padded[dr : dr + h, dc : dc + w], rows, cols), 1)
    counts[0] = 0  # nodata neighbours do not vote
    best = counts.max(axis=0)
    own = np.take_along_axis(counts, codes[None].astype(np.intp), axis=0)[0]
    winner = np.argmax(counts, axis=0).astype(np.uint8)
    out = np.where(own == best, codes, winner)
    return np.where(valid, out, 0).astype(np.uint8)
