"""The seven Sentinel-1 features of the So2Sat ResNet-20, computed on the whole scene.

The So2Sat authors compute the features of their Sentinel-1 ResNet-20 on the whole
scene before cutting windows (``sen1_cnntrain_uil.getDataNormMStd``, called on the
mosaic by ``sen1InferenceResNet.py``), so the 3x3 boxcar of the coherence sees the
scene's real neighbours, not a window's border. This module does the same by blocks of
rows with a one-row halo, so memory depends on the raster width only:

- NaN, nodata and out-of-range values of the 8 So2Sat ``sen1`` channels are set to 0
  first (the authors set NaN to 0), then the covariance C11 = |VH|^2, C22 = |VV|^2 and
  C12 = VH conj(VV) is averaged over 3x3 pixels (``boxcar3``);
- at the scene border the boxcar **wraps around** to the opposite border, as the
  authors' ``boxcar`` does (it sums ``np.roll``-ed copies of the scene): row -1 is the
  last row, column -1 the last column;
- the data mask is the authors' (Lee VH + Lee VV intensity > 0) and the pixels whose
  channels are all finite, within range and not nodata; a feature is NaN outside it and
  where a coherence is undefined (0/0), so a window holding such a pixel is not
  classified (the authors' network would give NaN or garbage there).

:func:`scene_stats` gives the authors' standardisation statistics of a scene (per
feature, over the data mask; coherences and the phase cosine also leave out NaN and
zeros, as ``featStat`` does). :func:`scene_inputs` is the classifier's hook: for a
model whose preprocessing is ``so2sat_s1_features`` it writes the features of the
scene to a temporary float32 GeoTIFF beside the output and gives the classifier that
raster and a copy of the model that only standardises. No qgis import.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from ..common.enums import Sensor
from ..common.errors import LczError
from ..common.feedback import Feedback

SO2SAT_S1_FEATURES = (
    "VH_dB",  # 10 log10 |VH|^2, unfiltered
    "VV_dB",  # 10 log10 |VV|^2, unfiltered
    "coherence_boxcar3",  # |<VH VV*>| / sqrt(<|VH|^2><|VV|^2>), 3x3 boxcar
    "VH_lee_dB",  # 10 log10 of the Lee-filtered VH intensity
    "VV_lee_dB",  # 10 log10 of the Lee-filtered VV intensity
    "coherence_lee",  # |C12| / sqrt(C11 C22), Lee-filtered covariance
    "cos_phase_lee",  # cos(arg C12), Lee-filtered covariance
)
N_FEATURES = len(SO2SAT_S1_FEATURES)
# features whose zeros (and NaN) the authors' featStat leaves out of the statistics; the
# dB features (dBFeatStat) keep every pixel of the data mask
RATIO_FEATURES = (2, 5, 6)
STEP_TYPE = "so2sat_s1_features"
# what a newly imported step records: its statistics come from these scene features
SCENE_FEATURES_MARK = "so2sat_s1"
BLOCK_BYTES = 64 * 2**20  # float64 working arrays of one block of rows, about
FEATURES_TIFF_OPTIONS = {"BIGTIFF": "IF_NEEDED"}  # uncompressed strips: read by rows


# -- the feature definitions (also used per window for So2Sat patches) ---------------------
def boxcar3(a: np.ndarray, edges: str = "wrap") -> np.ndarray:
    """3x3 moving mean over axes 1, 2 of (N, H, W) float64.

    ``edges="wrap"``: the authors' ``boxcar(data, 1)``, the sum of the nine
    ``np.roll``-ed copies (rows shifted -1, 0, 1, and within each the columns), in their
    order, divided by 9: it wraps around the array's edges. ``edges="repeat"``: the
    edge pixels are repeated instead (for separate patches, which have no scene).
    """
    if edges == "repeat":
        p = np.pad(a, ((0, 0), (1, 1), (1, 1)), mode="edge")
        h, w = a.shape[1:]
        return sum(p[:, i : i + h, j : j + w] for i in range(3) for j in range(3)) / 9.0
    out = np.zeros(a.shape)
    for i in (-1, 0, 1):
        for j in (-1, 0, 1):
            out += np.roll(np.roll(a, j, axis=2), i, axis=1)
    return out / 9.0


def _db(intensity: np.ndarray, eps: float) -> np.ndarray:
    """10 log10, zeros set to ``eps`` first (the authors' dBFeatStat)."""
    return 10.0 * np.log10(np.where(intensity == 0, eps, intensity))


def _ratio(num: np.ndarray, den2: np.ndarray, undefined: float) -> np.ndarray:
    """num / sqrt(den2); ``undefined`` where den2 <= 0 (the authors get NaN or inf)."""
    ok = den2 > 0
    out = np.full(num.shape, undefined, np.float64)
    np.divide(num, np.sqrt(np.where(ok, den2, 1.0)), out=out, where=ok)
    return out


def raw_features(sen1: np.ndarray, undefined: float = 0.0, edges: str = "wrap") -> np.ndarray:
    """(N, H, W, 8) So2Sat ``sen1`` -> (N, H, W, 7) float32 features, before standardisation.

    Channels: 1-4 Re/Im of unfiltered VH and VV, 5-6 Lee VH/VV intensity, 7-8 Re/Im of
    the Lee covariance off-diagonal. Order and definitions follow the authors'
    ``getDataNormMStd`` (feature selection [1,1,1,0,0,0,0,1,1,1,1]); see
    ``SO2SAT_S1_FEATURES``. The boxcar wraps around the edges of the array given
    (``boxcar3``; ``edges="repeat"`` repeats its edge pixels instead): give the whole
    scene (or a block with its halo) for the authors' features. Zero unfiltered intensities take their 3x3 mean; zero intensities then
    take the float64 eps (unfiltered) or the float32 eps (Lee: the authors read it from
    their float32 mosaic) before the dB conversion. ``undefined``: the coherence where
    its denominator is 0 (NaN for the scene features).
    """
    s = np.asarray(sen1, dtype=np.float64)
    vh_re, vh_im, vv_re, vv_im, vh_lee, vv_lee, c_re, c_im = np.moveaxis(s, -1, 0)
    c11 = vh_re**2 + vh_im**2
    c22 = vv_re**2 + vv_im**2
    c12_re = vh_re * vv_re + vh_im * vv_im
    c12_im = vh_im * vv_re - vh_re * vv_im
    b11, b22, b12_re, b12_im = (boxcar3(c, edges) for c in (c11, c22, c12_re, c12_im))
    vh = np.where(c11 == 0, b11, c11)
    vv = np.where(c22 == 0, b22, c22)
    eps64, eps32 = np.finfo(np.float64).eps, float(np.finfo(np.float32).eps)
    coh_box = _ratio(np.hypot(b12_re, b12_im), b11 * b22, undefined)
    coh_lee = _ratio(np.hypot(c_re, c_im), vh_lee * vv_lee, undefined)
    cos_pha = np.cos(np.arctan2(c_im, c_re))
    feats = [_db(vh, eps64), _db(vv, eps64), coh_box]
    feats += [_db(vh_lee, eps32), _db(vv_lee, eps32), coh_lee, cos_pha]
    return np.stack(feats, axis=-1).astype(np.float32)


# -- the scene, by blocks of rows -----------------------------------------------------------
def _read_rows(ds, info, bands, limit, r0: int, r1: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows [r0, r1) as (rows, W, 8) float64 and their pixel validity (all channels
    finite, within ``limit`` and not nodata, as ``raster.io.pixel_validity``). Each
    invalid value is set to 0, as the authors set NaN to 0 before the boxcar."""
    from ..raster.io import read_bands, read_errors

    with read_errors(info.path):
        x = read_bands(ds, bands, r0, r1 - r0, np.float32)
    with np.errstate(invalid="ignore"):
        bad = ~(np.abs(x) <= np.float32(limit))  # NaN and inf too
    for k, b in enumerate(bands):
        nd = info.nodata[b]
        if nd is not None and not np.isnan(nd):
            bad[..., k] |= x[..., k] == np.float32(nd)
    x = x.astype(np.float64)
    x[bad] = 0.0
    return x, ~bad.any(axis=-1)


def _block_rows(width: int, block_rows: Optional[int]) -> int:
    return int(block_rows or max(1, BLOCK_BYTES // (width * 8 * 8 * 6)))


def feature_blocks(
    ds, info, bands, limit: float, block_rows: Optional[int] = None, feedback=None
) -> Iterator[tuple[int, int, np.ndarray]]:
    """The scene's features block by block: (r0, r1, (r1 - r0, W, 7) float32).

    Args:
        ds: the opened Sentinel-1 raster (``raster.io.open_raster``, or a warped VRT).
        info: its ``RasterInfo``.
        bands: the 8 0-based raster bands holding the So2Sat ``sen1`` channels, in order.
        limit: the largest usable magnitude of a value (``bands.value_limit``).
        block_rows: rows per block (default: about ``BLOCK_BYTES`` of working arrays).
        feedback: cancel is checked per block.

    Each block is read with one row above and below (at the scene's first and last row,
    the row of the opposite border: the boxcar wraps around like the authors'), so the
    result is the features of the whole scene at every pixel. NaN outside the data mask
    and where a coherence is undefined.
    """
    feedback = feedback or Feedback()
    height = info.height
    rows = _block_rows(info.width, block_rows)
    for r0 in range(0, height, rows):
        feedback.check_cancelled()
        r1 = min(height, r0 + rows)
        a0, a1 = max(0, r0 - 1), min(height, r1 + 1)
        parts = [_read_rows(ds, info, bands, limit, a0, a1)]
        if r0 == 0:  # the row above the first is the last (np.roll)
            parts.insert(0, _read_rows(ds, info, bands, limit, height - 1, height))
        if r1 == height:  # the row below the last is the first
            parts.append(_read_rows(ds, info, bands, limit, 0, 1))
        x = np.concatenate([p[0] for p in parts])
        valid = np.concatenate([p[1] for p in parts])[1:-1]
        f = raw_features(x[None], undefined=np.nan)[0, 1:-1]
        inner = x[1:-1]
        mask = valid & ((inner[..., 4] + inner[..., 5]) > 0)  # the authors' data mask
        f[~mask] = np.nan
        yield r0, r1, f


class _Moments:
    """Per-feature count, mean and std from shifted sums (no cancellation)."""

    def __init__(self, n: int):
        self.n = np.zeros(n, np.int64)
        self.shift = np.full(n, np.nan)
        self.sums = np.zeros(n)
        self.squares = np.zeros(n)

    def add(self, k: int, values: np.ndarray) -> None:
        if not len(values):
            return
        if np.isnan(self.shift[k]):
            self.shift[k] = values.mean()
        d = values - self.shift[k]
        self.sums[k] += d.sum()
        self.squares[k] += (d * d).sum()
        self.n[k] += len(values)

    def mean_std(self) -> tuple[np.ndarray, np.ndarray]:
        n = np.maximum(self.n, 1)
        mean_d = self.sums / n
        std = np.sqrt(np.maximum(self.squares / n - mean_d**2, 0.0))
        return self.shift + mean_d, std


def scene_stats(path, feedback=None, block_rows: Optional[int] = None) -> dict:
    """The authors' standardisation statistics of the 7 features over a whole scene.

    Args:
        path: a Sentinel-1 raster of the 8 So2Sat ``sen1`` channels, in order.
        feedback: progress and cancel.
        block_rows: rows per block (default: by memory).

    Returns:
        {'mean': [7], 'std': [7], 'pixels': pixels in the data mask, 'scene': {file,
        width, height, geotransform, crs}}. Each feature's mean and standard deviation
        is over the data mask (``getDataNormMStd``); coherences and the phase cosine
        leave out NaN and zeros (``featStat``).

    Raises:
        LczError: not 8 bands, or no valid pixel.
    """
    from ..common.bands import SEN1_CHANNELS, value_limit
    from ..raster.io import open_raster

    feedback = feedback or Feedback()
    ds, info = open_raster(path)
    name = Path(info.path).name
    if info.count != len(SEN1_CHANNELS):
        raise LczError(
            f"Sentinel-1 raster '{name}' has {info.count} bands; the So2Sat Sentinel-1 "
            f"features need the 8 So2Sat sen1 channels in order ({', '.join(SEN1_CHANNELS)})"
        )
    moments, pixels = _Moments(N_FEATURES), 0
    blocks = feature_blocks(
        ds, info, list(range(8)), value_limit(Sensor.SEN1), block_rows, feedback
    )
    for _, r1, f in blocks:
        f = f.reshape(-1, N_FEATURES).astype(np.float64)
        pixels += int((~np.isnan(f[:, 0])).sum())
        for k in range(N_FEATURES):
            v = f[:, k]
            keep = ~np.isnan(v) & ((v != 0) if k in RATIO_FEATURES else True)
            moments.add(k, v[keep])
        feedback.progress(100.0 * r1 / info.height)
    if pixels == 0 or (moments.n == 0).any():
        raise LczError(
            f"Sentinel-1 raster '{name}' has no valid pixel (all nodata, NaN or zero Lee "
            "intensity): cannot compute the scene statistics"
        )
    mean, std = moments.mean_std()
    scene = {
        "file": name,
        "width": info.width,
        "height": info.height,
        "geotransform": list(info.geotransform),
        "crs": info.crs_description() if info.crs_wkt else "none",
    }
    return {"mean": mean.tolist(), "std": std.tolist(), "pixels": pixels, "scene": scene}


def write_features(src, path, feedback=None, block_rows: Optional[int] = None) -> Path:
    """Write the scene features of a classifier input to a float32 GeoTIFF (7 bands).

    Args:
        src: the Sentinel-1 ``classify.inputs.InputSource`` (its grid, bands, limit).
        path: the GeoTIFF to write (a staged temporary); NaN marks invalid pixels.
        feedback: cancel.
        block_rows: rows per block.
    """
    from rasterio.windows import Window

    from ..raster.io import closing_raster, create_geotiff

    info = src.info
    options = ["INTERLEAVE=PIXEL", *(f"{k}={v}" for k, v in FEATURES_TIFF_OPTIONS.items())]
    dst = create_geotiff(path, info.width, info.height, N_FEATURES, "float32",
                         info.geotransform, info.crs_wkt, float("nan"), options)  # fmt: skip
    with closing_raster(dst):
        for r0, r1, f in feature_blocks(src.ds, info, src.bands, src.limit, block_rows, feedback):
            dst.write(np.moveaxis(f, -1, 0), window=Window(0, r0, info.width, r1 - r0))
    return Path(path)


# -- the classifier's hook ------------------------------------------------------------------
def scene_step(model) -> Optional[dict]:
    """The model's ``so2sat_s1_features`` step (it needs scene features), else None."""
    steps = model.manifest.get("preprocessing") or []
    return next((s for s in steps if s.get("type") == STEP_TYPE), None)


def _features_model(model, step: dict):
    """A copy of ``model`` taking the 7 scene features: its preprocessing only
    standardises them with the step's statistics (the original is unchanged)."""
    mean, std = step.get("mean"), step.get("std")
    if mean is None or std is None or len(mean) != N_FEATURES or len(std) != N_FEATURES:
        raise LczError(
            "this So2Sat Sentinel-1 model file holds no scene statistics (7 means and "
            "standard deviations): import it again with lcz import-pretrained and the "
            "Sentinel-1 raster of the scene to classify"
        )
    clone = copy.copy(model)
    clone.manifest = copy.deepcopy(model.manifest)
    clone.manifest.update(input_channels=N_FEATURES, band_names=list(SO2SAT_S1_FEATURES))
    clone.manifest["preprocessing"] = [
        {"type": "standardize", "mean": list(mean), "std": list(std)} if s is step else s
        for s in model.manifest["preprocessing"]
    ]
    return clone


def scene_inputs(staging, model, sources, output, feedback=None, block_rows=None):
    """(model, sources) for the classifier: unchanged, or scene features in their place.

    For a model with a ``so2sat_s1_features`` step, the Sentinel-1 source becomes a
    temporary GeoTIFF of its scene features (staged beside ``output`` as a scratch file,
    its space checked first) and the model a copy that only standardises them.

    Args:
        staging: the run's ``common.atomic.StagedOutputs``.
        model: the loaded model.
        sources: the opened inputs (``classify.inputs.open_sources``).
        output: the map's path (the temporary is named after it).
        feedback: messages and cancel.
        block_rows: rows per block of the feature pass.

    Raises:
        LczError: the Sentinel-1 input does not hold the 8 So2Sat channels in order.
        DiskFull: the temporary does not fit.
    """
    from ..classify.inputs import InputSource
    from ..raster.io import open_raster

    step = scene_step(model)
    if step is None:
        return model, sources
    feedback = feedback or Feedback()
    src = next((s for s in sources if s.sensor == Sensor.SEN1), None)
    if src is None or list(src.channels) != list(range(8)):
        raise LczError(
            "the So2Sat Sentinel-1 features need the 8 So2Sat sen1 channels in order as "
            "the Sentinel-1 input"
        )
    run_model = _features_model(model, step)
    if step.get("scene_features") != SCENE_FEATURES_MARK:
        feedback.info(
            "this model file was imported by an earlier version: its scene statistics "
            "repeat edge pixels in the boxcar at the scene border; import it again for "
            "the authors' exact statistics"
        )
    size = src.info.width * src.info.height * N_FEATURES * 4
    staging.expect(output, size, surely=size)
    staging.check_space()
    feedback.info("Sentinel-1: computing the 7 So2Sat features on the whole scene")
    path = write_features(src, staging.scratch(output), feedback, block_rows)
    ds, info = open_raster(path)
    features = InputSource(ds, info, list(range(N_FEATURES)), Sensor.SEN1, keep=[ds])
    features.channels = list(range(N_FEATURES))
    return run_model, [features if s is src else s for s in sources]
