"""So2Sat patches from training areas: ``lcz training-patches``.

Read the areas (``read``), check them (``quality``), take the 32 x 32 window of every
100 m grid point inside them (``grid``) from the Sentinel-2 (and optionally Sentinel-1)
raster and write them as a So2Sat LCZ42 file, so every command that takes one (summary,
train, evaluate, patches) takes it:

* ``<output>.h5``: ``sen2`` (N, 32, 32, 10) float64 reflectance (0 to ~1, as So2Sat holds
  it: a DN raster is divided by 10000, ``classify.inputs.detect_scale``), ``sen1``
  (N, 32, 32, 8) float64 when a Sentinel-1 raster is given (its 8 So2Sat channels, or,
  for a 2-band VH/VV intensity raster from ``prepare-s1``, channels 5 and 6 with the
  others 0), ``label`` (N, 17) one-hot float64, and ``polygon`` (N,) int64: the id of the
  training area each patch comes from (for splits by polygon).
* ``<output>_geo.h5``: the patches' georeference in So2Sat's 2025 layout (``so2sat.geo``):
  ``tfw`` ``[ul_x, 10, 0, ul_y, 0, 10]`` (upper-left corner, positive y size), ``epsg``
  (N, 1), ``coord`` (N, 2) the window centre.

Windows that leave the raster or hold a nodata, NaN or out-of-range pixel in any band
are skipped and counted per area. The raster is read by tiles of ``TILE`` x ``TILE``
window origins (each read with its 31-pixel halo), in raster-row order, and patches
are written in batches, so memory stays flat whatever the raster size; GDAL's block
cache is trimmed to ``CACHE_BYTES``. All outputs are staged and moved into place
together at the end (``common.atomic.staged_outputs``): a failure or a cancel leaves
nothing. Within map-from-areas the suspicious layer is staged with that run's outputs
(``staging``), so it too is replaced only when the whole run succeeds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..common.bands import PATCH_SIZE, SEN2_BANDS, sensor_channels
from ..common.enums import Sensor
from ..common.errors import LczError, param
from ..common.feedback import Feedback
from ..common.legend import N_CLASSES
from .grid import GridPoints, grid_points
from .quality import QualityReport, check_training_areas, suspicious_qml, window_suspects

TILE = 256  # window origins per tile side
BATCH = 128  # patches written at once
CACHE_BYTES = 32 * 2**20
S1_GRD_CHANNELS = (4, 5)  # a 2-band VH/VV intensity raster fills these So2Sat channels
CHUNK = 16  # patches per HDF5 chunk


@dataclass
class PatchSources:
    """The opened rasters: Sentinel-2 (its ``classify.inputs.InputSource``, scale set)
    and optionally Sentinel-1 with the So2Sat channels its bands fill."""

    s2: object
    s1: object | None = None
    s1_channels: list = field(default_factory=list)

    @property
    def info(self):
        """The Sentinel-2 raster's ``RasterInfo`` (the grid of the patches)."""
        return self.s2.info

    def close(self) -> None:
        """Close the rasters."""
        for src in (self.s2, self.s1):
            if src is not None:
                src.ds.close()


@dataclass
class TrainingPatchesResult:
    """What a run wrote and found.

    Attributes:
        output, geo, suspicious: the files written (suspicious: None when not asked).
        n_patches: patches written; ``per_class`` (17,) of them by class.
        n_areas: training areas read; ``quality`` the checks' report; ``suspects`` every
            suspect (checks and windows).
        points: the grid points tried (``grid.GridPoints``).
        n_nodata: windows skipped for nodata; ``n_outside`` for leaving the raster.
        scale: the factor applied to Sentinel-2 (1 or 1e-4).
        seconds: run time.
    """

    output: Path
    geo: Path
    suspicious: Path | None
    n_patches: int
    per_class: np.ndarray
    n_areas: int
    quality: QualityReport
    suspects: list
    points: GridPoints
    n_nodata: int
    n_outside: int
    scale: float
    seconds: float


def geo_path_of(output) -> Path:
    """The geolocation file of a So2Sat file: ``x.h5`` -> ``x_geo.h5``."""
    p = Path(output)
    return p.with_name(p.stem + "_geo" + p.suffix)


def open_patch_sources(sentinel2, sentinel1=None, scale: str = "auto",
                       feedback: Feedback | None = None,
                       offset: float = 0.0) -> PatchSources:  # fmt: skip
    """Open and check the rasters the patches come from.

    Args:
        sentinel2: the 10-band So2Sat-order Sentinel-2 stack (prepare-s2, composite-s2),
            projected, 10 m.
        sentinel1: optional: the 8 So2Sat Sentinel-1 channels, or the 2-band VH/VV
            intensities of prepare-s1, on the Sentinel-2 grid.
        scale: "auto", "reflectance" or "dn" (``classify.inputs.SCALES``) or a factor.
        feedback: warnings (DN detected, dB Sentinel-1).
        offset: added to the Sentinel-2 values before the factor
            (``classify.inputs.parse_offset``: dn or a factor only).

    Returns:
        ``PatchSources`` (close it when done).

    Raises:
        LczError: a raster that is not projected at 10 m, has the wrong band count, or
            a Sentinel-1 raster off the Sentinel-2 grid.
    """
    from ..classify.inputs import InputSource, check_s1_scale, detect_scale
    from ..raster.io import open_raster

    feedback = feedback or Feedback()
    ds, info = open_raster(sentinel2)
    src = PatchSources(InputSource(ds, info, list(range(len(SEN2_BANDS))), Sensor.SEN2))
    try:
        info.check_for_classification("Sentinel-2 raster")
        if info.count != len(SEN2_BANDS):
            raise LczError(
                f"{param('SENTINEL2')}: '{Path(info.path).name}' has {info.count} bands; "
                "give the 10-band So2Sat-order stack (B2 B3 B4 B5 B6 B7 B8 B8A B11 B12) that "
                "Prepare Sentinel-2 product (lcz prepare-s2) writes"
            )
        src.s2.scale = detect_scale(src.s2, scale, feedback, offset)
        if sentinel1:
            _open_s1(src, sentinel1, feedback)
            check_s1_scale(src.s1, feedback)
    except BaseException:
        src.close()
        raise
    return src


def _open_s1(src: PatchSources, sentinel1, feedback) -> None:
    from ..classify.inputs import InputSource
    from ..raster.io import open_raster

    ds, info = open_raster(sentinel1)
    ref = src.info
    name = Path(info.path).name
    src.s1 = InputSource(ds, info, [], Sensor.SEN1)
    same = (info.width, info.height) == (ref.width, ref.height) and np.allclose(
        info.geotransform, ref.geotransform, atol=1e-6
    )
    if not same or (
        info.crs_wkt and ref.crs_wkt and info.crs_description() != ref.crs_description()
    ):
        raise LczError(
            f"{param('SENTINEL1')}: '{name}' is not on the Sentinel-2 grid (same CRS, "
            "transform and size); make it with Prepare Sentinel-1 backscatter (lcz "
            "prepare-s1) on the Sentinel-2 raster"
        )
    if info.count == len(sensor_channels(Sensor.SEN1)):
        src.s1_channels = list(range(info.count))
    elif info.count == len(S1_GRD_CHANNELS):
        src.s1_channels = list(S1_GRD_CHANNELS)
        feedback.warning(
            f"the Sentinel-1 raster '{name}' has 2 bands: they are written as So2Sat "
            "channels 5 and 6 (VH and VV intensity) and the other 6 channels are 0; train "
            "Sentinel-1 models on channels 5,6 only"
        )
    else:
        raise LczError(
            f"{param('SENTINEL1')}: '{name}' has {info.count} bands; give the 8 So2Sat "
            "Sentinel-1 channels or the 2 VH/VV intensity bands of prepare-s1"
        )
    src.s1.bands = list(range(info.count))
    src.s1.channels = src.s1_channels


def _epsg(info, feedback) -> int:
    from ..so2sat.geo import is_wgs84_utm

    s = info.crs_description()
    epsg = int(s.split(":")[1]) if s.startswith("EPSG:") else 0
    if not is_wgs84_utm(epsg):
        feedback.warning(
            f"the raster's CRS ({s}) is not a WGS 84 / UTM zone: the geolocation file "
            "records EPSG " + str(epsg) + ", which Load So2Sat patches (lcz patches) refuses"
        )
    return epsg


class _Writer:
    """The So2Sat file being written (resizable, chunked datasets) and its rows' metadata."""

    def __init__(self, path, has_s1: bool, attrs: dict):
        import h5py

        self.f = h5py.File(path, "w")
        self.n = 0
        self.keys = [Sensor.SEN2] + ([Sensor.SEN1] if has_s1 else [])
        for key in self.keys:
            c = len(sensor_channels(key))
            self.f.create_dataset(key, (0, PATCH_SIZE, PATCH_SIZE, c), "f8",
                                  maxshape=(None, PATCH_SIZE, PATCH_SIZE, c),
                                  chunks=(CHUNK, PATCH_SIZE, PATCH_SIZE, c))  # fmt: skip
        for k, v in attrs.items():
            self.f.attrs[k] = v
        self.rows: list[np.ndarray] = []  # indices into the grid points, in file order

    def add(self, arrays: dict, rows: np.ndarray) -> None:
        """Append patches (``arrays`` by key, float64) of grid points ``rows``."""
        m = rows.size
        for key in self.keys:
            d = self.f[key]
            d.resize(self.n + m, axis=0)
            d[self.n : self.n + m] = arrays[key]
        self.rows.append(rows)
        self.n += m

    def finish(self, points: GridPoints) -> np.ndarray:
        """Write label and polygon; close. Returns the grid points written, in order."""
        rows = np.concatenate(self.rows) if self.rows else np.zeros(0, np.int64)
        codes = points.code[rows]
        lab = self.f.create_dataset("label", (rows.size, N_CLASSES), "f8")
        for a in range(0, rows.size, 65536):
            lab[a : a + 65536] = np.eye(N_CLASSES)[codes[a : a + 65536] - 1]
        self.f.create_dataset("polygon", data=points.polygon[rows].astype(np.int64))
        self.f.close()
        return rows


def write_geo(path, points: GridPoints, rows: np.ndarray, geotransform, epsg: int) -> None:
    """The ``*_geo.h5`` of the patches (2025 layout, module docstring) at ``path``."""
    import h5py

    gt = geotransform
    ul_x = gt[0] + points.col0[rows] * gt[1]
    ul_y = gt[3] + points.row0[rows] * gt[5]
    tfw = np.zeros((rows.size, 6))
    tfw[:, 0], tfw[:, 1], tfw[:, 3], tfw[:, 5] = ul_x, abs(gt[1]), ul_y, abs(gt[5])
    half = PATCH_SIZE / 2
    coord = np.stack([ul_x + half * gt[1], ul_y + half * gt[5]], axis=1)
    with h5py.File(path, "w") as f:
        f.create_dataset("tfw", data=tfw)
        f.create_dataset("epsg", data=np.full((rows.size, 1), epsg, np.int32))
        f.create_dataset("coord", data=coord)
        f.attrs["layout"] = "2025: tfw = [ul_x, px, 0, ul_y, 0, py] with py > 0; coord = centre"


def _tiles(points: GridPoints) -> list[np.ndarray]:
    """Grid-point indices grouped by tile of window origins, in raster-row order."""
    if len(points) == 0:
        return []
    tr, tc = points.row0 // TILE, points.col0 // TILE
    order = np.lexsort((points.col0, points.row0, tc, tr))
    key = tr[order] * (int(tc.max()) + 1) + tc[order]
    cuts = np.flatnonzero(np.diff(key)) + 1
    return np.split(order, cuts)


def _read_valid(src, c0, r0, w, h):
    """(pixels (h, w, C) float32, validity (h, w)) of a source's window."""
    from ..raster.io import pixel_validity, read_errors, read_window

    with read_errors(src.info.path):
        a = read_window(src.ds, src.bands, int(c0), int(r0), int(w), int(h))
    return a, pixel_validity(a, [src.info.nodata[b] for b in src.bands], src.limit)


def _tile_patches(sources: PatchSources, points: GridPoints, idx: np.ndarray):
    """Read one tile (its windows' bounding box): ([(grid-point indices, arrays by key)]
    batches of the valid windows, grid-point indices skipped for nodata). A window is
    valid when no pixel of it is invalid in any raster (a summed-area table of the
    invalid pixels)."""
    r0, c0 = int(points.row0[idx].min()), int(points.col0[idx].min())
    h = int(points.row0[idx].max()) - r0 + PATCH_SIZE
    w = int(points.col0[idx].max()) - c0 + PATCH_SIZE
    s2, valid = _read_valid(sources.s2, c0, r0, w, h)
    s1 = None
    if sources.s1 is not None:
        s1, v1 = _read_valid(sources.s1, c0, r0, w, h)
        valid &= v1
    bad = np.cumsum(np.cumsum(np.pad(~valid, ((1, 0), (1, 0))), 0), 1)
    rr, cc = points.row0[idx] - r0, points.col0[idx] - c0
    p = PATCH_SIZE
    n_bad = bad[rr + p, cc + p] - bad[rr, cc + p] - bad[rr + p, cc] + bad[rr, cc]
    ok = n_bad == 0
    out = []
    for a in range(0, int(ok.sum()), BATCH):
        sel = np.flatnonzero(ok)[a : a + BATCH]
        x2 = np.stack([s2[rr[k] : rr[k] + p, cc[k] : cc[k] + p] for k in sel]).astype(np.float64)
        if sources.s2.offset:  # the windows are valid: no nodata pixel gets the offset
            x2 += sources.s2.offset
        arrays = {Sensor.SEN2: x2 * sources.s2.scale}
        if s1 is not None:
            one = np.zeros((sel.size, p, p, len(sensor_channels(Sensor.SEN1))))
            one[..., sources.s1_channels] = np.stack(
                [s1[rr[k] : rr[k] + p, cc[k] : cc[k] + p] for k in sel]
            )
            arrays[Sensor.SEN1] = one
        out.append((idx[sel], arrays))
    return out, idx[~ok]


def extract_patches(sources: PatchSources, points: GridPoints, output, geo,
                    feedback: Feedback | None = None, attrs: dict | None = None):  # fmt: skip
    """Write the patches of ``points`` to ``output`` and their georeference to ``geo``
    (no temporaries: the caller stages them), tile by tile.

    Args:
        sources: the opened rasters (``open_patch_sources``).
        points: the grid points (``grid.grid_points`` on the Sentinel-2 grid).
        output, geo: the So2Sat file and its ``*_geo.h5`` to write.
        feedback: progress and cancel.
        attrs: attributes of the So2Sat file.

    Returns:
        (grid-point indices written, in file order; grid-point indices skipped for nodata).
    """
    from ..raster.io import trim_cache

    feedback = feedback or Feedback()
    w = _Writer(output, sources.s1 is not None, attrs or {})
    skipped = []
    try:
        tiles = _tiles(points)
        for t, idx in enumerate(tiles):
            feedback.check_cancelled()
            batches, bad = _tile_patches(sources, points, idx)
            for rows, arrays in batches:
                w.add(arrays, rows)
            skipped.append(bad)
            trim_cache(CACHE_BYTES)
            feedback.progress(100.0 * (t + 1) / len(tiles))
        rows = w.finish(points)
    except BaseException:
        w.f.close()
        raise
    write_geo(geo, points, rows, sources.info.geotransform, _epsg(sources.info, feedback))
    return rows, (np.concatenate(skipped) if skipped else np.zeros(0, np.int64))


def _check_outputs(output, geo, suspicious, inputs: dict) -> None:
    from ..common.atomic import check_distinct_paths, check_output_path
    from ..raster.io import qml_path

    if Path(output).suffix.lower() not in (".h5", ".hdf5"):
        raise LczError(f"{param('OUTPUT')}: the patches are a So2Sat HDF5 file: give a .h5 name")
    if suspicious and Path(suspicious).suffix.lower() != ".gpkg":
        raise LczError(f"{param('SUSPICIOUS')}: the suspicious areas are written as a "
                       "GeoPackage: give a .gpkg name")  # fmt: skip
    outs = {"OUTPUT": output, "geolocation file of OUTPUT": geo}
    if suspicious:
        outs.update(SUSPICIOUS=suspicious, **{"style of SUSPICIOUS": qml_path(suspicious)})
    for p in outs.values():
        check_output_path(p)
    check_distinct_paths(inputs, outs)


def _areas_of(areas, info, field, feedback) -> list:
    from .read import read_training_areas

    if isinstance(areas, (list, tuple)):
        return list(areas)
    return read_training_areas(areas, info.crs_wkt, field, feedback)


def training_area_patches(areas, sentinel2, output, sentinel1=None, field: str | None = None,
                          scale: str = "auto", suspicious=None, feedback: Feedback | None = None,
                          staging=None, offset: float = 0.0) -> TrainingPatchesResult:  # fmt: skip
    """Training areas -> a So2Sat-format file of their patches (module docstring).

    Args:
        areas: a training-area file (``read.read_training_areas``) or a list of
            ``read.TrainingArea`` already in the Sentinel-2 raster's CRS.
        sentinel2: the 10-band Sentinel-2 stack; ``sentinel1``: optional Sentinel-1 raster
            on its grid (``open_patch_sources``).
        output: the So2Sat HDF5 file (``.h5``); its ``*_geo.h5`` is written beside it.
        field: the LCZ field of ``areas`` (None: detected).
        scale: the Sentinel-2 scale: "auto", "reflectance", "dn" or a factor.
        suspicious: optional GeoPackage of the suspicious training areas (+ ``.qml``).
        feedback: warnings (every quality check), progress, cancel.
        staging: the ``common.atomic.StagedOutputs`` of a larger run (map-from-areas):
            the suspicious layer and its style are staged there, to be moved into place
            with that run's other outputs (or discarded with them), not here.
        offset: added to the Sentinel-2 values before the factor (0: none; dn or a
            factor only, ``classify.inputs.parse_offset``): reflectance = (value +
            offset) x factor.

    Returns:
        ``TrainingPatchesResult``.

    Raises:
        LczError: bad areas or rasters, or no window to write.
    """
    from ..common.atomic import staged_outputs
    from ..common.input_files import check_input_file
    from ..raster.io import qml_path, rio
    from .quality import write_suspicious_layer

    feedback = feedback or Feedback()
    t0 = time.monotonic()
    geo = geo_path_of(output)
    inputs = {"SENTINEL2": sentinel2, "SENTINEL1": sentinel1}
    if not isinstance(areas, (list, tuple)):
        inputs["AREAS"] = str(areas).split("|")[0]
        check_input_file(inputs["AREAS"], f"{param('AREAS')}: training areas", folder_ok=True)
    _check_outputs(output, geo, suspicious, inputs)
    sources = open_patch_sources(sentinel2, sentinel1, scale, feedback, offset)
    try:
        with rio().Env():  # one GDAL environment for every rasterize and read
            info = sources.info
            read = _areas_of(areas, info, field, feedback)
            report = check_training_areas(read, info, feedback)
            points = grid_points(report.areas, info.geotransform, info.width, info.height)
            _report_points(points, feedback)
            attrs = {"description": "So2Sat-format patches from training areas (lcz_qgis)",
                     "sentinel2": Path(info.path).name, "grid_m": 100.0, "scale": sources.s2.scale}  # fmt: skip
            if sources.s2.offset:
                attrs["offset"] = sources.s2.offset
            with staged_outputs(feedback) as st:
                st.expect(output, len(points) * 8 * PATCH_SIZE**2 * (10 + 8 * bool(sentinel1)))
                st.check_space()
                rows, bad = extract_patches(sources, points, st.temp(output), st.temp(geo),
                                            feedback.scaled(0, 99), attrs)  # fmt: skip
                nodata = dict(zip(*(v.tolist() for v in np.unique(points.polygon[bad],
                                                                  return_counts=True))))  # fmt: skip
                suspects = report.suspects + window_suspects(report, points, nodata, feedback)
                if rows.size == 0:
                    raise LczError(_no_patch_message(len(points), bad.size))
                if suspicious:
                    layers = staging if staging is not None else st
                    write_suspicious_layer(layers.temp(suspicious), suspects, info.crs_wkt)
                    layers.write_text(qml_path(suspicious), suspicious_qml())
    finally:
        sources.close()
    feedback.progress(100)
    per_class = np.bincount(points.code[rows] - 1, minlength=N_CLASSES)
    return TrainingPatchesResult(
        Path(output), geo, Path(suspicious) if suspicious else None, int(rows.size), per_class,
        len(read), report, suspects, points, int(bad.size), sum(points.outside.values()),
        sources.s2.scale, time.monotonic() - t0,
    )  # fmt: skip


def _report_points(points: GridPoints, feedback) -> None:
    if points.conflicts:
        feedback.warning(
            f"{points.conflicts} grid point(s) lie in training areas of different classes "
            "and are left out"
        )
    if points.duplicates:
        feedback.info(f"{points.duplicates} grid point(s) lie in several areas of the same "
                      "class: each is taken once")  # fmt: skip
    if len(points) == 0:
        raise LczError(
            "no 32 x 32 window to take: no training area holds a 100 m grid point whose "
            "window lies in the Sentinel-2 raster (see the warnings above)"
        )


def _no_patch_message(n: int, n_bad: int) -> str:
    return (
        f"no patch written: all {n} windows of the training areas hold nodata ({n_bad}) in "
        "the Sentinel-2 (or Sentinel-1) raster"
    )
