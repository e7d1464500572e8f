"""Load So2Sat patches as georeferenced rasters and outlines (``lcz:loadpatches`` /
``lcz patches``): the run, from checking the request to swapping the outputs in.

Steps: check the request and every output path (nothing is written before), select
the patches (``selection``), place them (``placement``), plan the files and the space,
write the rasters (``rasters``) and the outlines (``outlines``) to temporary files, and
rename them all into place. All or nothing (``common.atomic``): a failed or cancelled
run leaves an earlier run's files as they were and creates no output folder.
"""

from __future__ import annotations

import contextlib
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..common.atomic import (
    StagedOutputs,
    check_distinct_paths,
    check_output_path,
    hold_interrupt,
    quiet_close,
    same_file,
)
from ..common.bands import PATCH_SIZE, sensor_channels
from ..common.enums import Sensor
from ..common.errors import LczError, check_seed, keys_as_params, param
from ..common.feedback import Feedback
from .outlines import write_outlines
from .placement import Placement, place_patches, safe_name
from .rasters import DISPLAY_BANDS, PatchSource, warn_nonfinite, write_mosaics, write_patch_files
from .selection import select_patches


@dataclass
class LoadPatchesResult:
    """What a patches run wrote: the rasters, the outline layer and the patches placed."""

    rasters: list = field(default_factory=list)
    patches_layer: Path | None = None
    indices: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    skipped: list = field(default_factory=list)  # [(row, reason)]
    layout: str = "grid"  # "geo" or "grid"
    crs: list = field(default_factory=list)  # EPSG codes of the rasters
    overlapping: int = 0
    bytes_read: int = 0
    file_size: int = 0
    seconds: float = 0.0

    @property
    def n_placed(self) -> int:
        """The number of patches written."""
        return int(self.indices.size)


def _check_folder(folder) -> tuple[Path, bool]:
    """The output folder and whether it exists; nothing is created here."""
    folder = Path(folder)
    if folder.exists():
        if not folder.is_dir():
            raise LczError(f"output folder '{folder}' is a file, not a folder")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise LczError(f"cannot write to the output folder '{folder}'")
        return folder, True
    if not folder.parent.is_dir():
        raise LczError(f"output folder '{folder}': its parent folder does not exist")
    if not os.access(folder.parent, os.W_OK | os.X_OK):
        raise LczError(f"cannot create the output folder '{folder}': its parent is read-only")
    return folder, False


def _check_targets(inputs: dict, targets: dict) -> None:
    """Before anything is written: no output is a folder, an input or another output."""
    for label, paths in targets.items():
        for p in paths:
            if p.is_dir():
                raise LczError(
                    f"{keys_as_params(label)} '{p}' is a folder, not a file: remove or rename "
                    "it, or choose "
                    "another output"
                )
    check_distinct_paths(inputs, targets)


def load_patches(
    input_path,
    output_folder,
    geo=None,
    sensor: str = Sensor.SEN2,
    indices=None,
    per_class: int = 0,
    seed: int = 0,
    output_patches=None,
    per_patch_files: bool = False,
    feedback: Feedback | None = None,
) -> LoadPatchesResult:
    """Write the selected patches as georeferenced GeoTIFFs (and their outlines).

    Steps: check the request, select and place the patches, plan the files and space,
    write the rasters (per zone/grid group or patch) and outlines, swap in. All or nothing
    (``common.atomic``): a failed or cancelled run leaves an earlier run's files as they
    were and creates no output folder.

    Args:
        input_path: So2Sat HDF5 file.
        output_folder: Folder of the rasters (created when missing).
        geo: So2Sat geolocation file (``*_geo.h5``); None for the grid layout.
        sensor: ``sen2`` or ``sen1``.
        indices: Patch indices ("0-9,15,20-25", 0-based, or a list); None or "" for all.
        per_class: Random patches per LCZ class (0: off), drawn with ``seed``.
        seed: Seed of the per-class selection.
        output_patches: GeoPackage of the patch outlines; None for none.
        per_patch_files: One GeoTIFF per patch instead of mosaics.
        feedback: Progress, messages and cancel.

    Returns:
        A ``LoadPatchesResult``.

    Raises:
        LczError: bad input, a selection too large or empty; ``DiskFull`` on a full disk.
    """
    from ..raster.io import gdal_writes
    from ..so2sat.file import So2SatFile

    feedback = feedback or Feedback()
    t0 = time.monotonic()
    req = _check_request(
        input_path, output_folder, geo, sensor, indices, per_class, seed, output_patches
    )
    staging = StagedOutputs()
    created = False  # the output folder, by this run
    try:
        with So2SatFile(input_path, require=()) as f:
            f.check_sensor(sensor)
            geo_file = _open_geo(geo, f)
            sel, rows_of = select_patches(f, req.spec, req.per_class, req.seed, feedback)
            placement, skipped = place_patches(sel, rows_of, geo_file, feedback)
            labels = f.labels(placement.indices) if f.has_labels else None
            paths, targets = _plan_files(input_path, req, sensor, placement, per_patch_files)
            names = list(sensor_channels(sensor))
            src = PatchSource(f, sensor, DISPLAY_BANDS[sensor])
            raster_of = [""] * placement.indices.size
            result = _new_result(geo_file, skipped, paths, per_patch_files, placement)
            _plan_space(staging, paths, targets, placement.indices.size, len(names))
            created = _make_folder(req)
            with gdal_writes():  # GDAL's write failures raised, a full disk as ENOSPC
                fb = feedback.scaled(0, 90)
                if per_patch_files:
                    write_patch_files(paths, src, placement, names, raster_of, staging, fb)
                else:
                    result.overlapping = write_mosaics(
                        paths, src, placement, names, raster_of, staging, fb
                    )
                _write_raster_styles(staging, paths, sensor, src)
                result.patches_layer = _write_outline_layer(
                    staging, req.outlines, placement, labels, raster_of, feedback
                )
            result.bytes_read, result.file_size = f.bytes_read, f.file_size
        warn_nonfinite(src.nonfinite, placement.indices.size, sensor, feedback)
        _swap_in(staging, result, t0, feedback)
    except BaseException as exc:
        _discard_run(exc, staging, req.folder if created else None, feedback)
        raise
    return result


@dataclass
class _Request:
    """A checked ``load_patches`` request."""

    outlines: Path | None  # the outlines GeoPackage
    spec: object  # the index spec, None for none
    per_class: int
    seed: int
    folder: Path
    folder_exists: bool
    inputs: dict  # input paths by parameter name


def _check_request(input_path, output_folder, geo, sensor, indices, per_class, seed, outlines):
    """Check the options and every output path before anything is written or created.

    Args:
        input_path: The So2Sat file.
        output_folder: The output folder (it may be missing).
        geo: The geolocation file, or None.
        sensor: ``sen2`` or ``sen1``.
        indices: The index spec as given.
        per_class: Patches per class as given (None or 0: off).
        seed: The seed as given.
        outlines: The outlines GeoPackage path, or None.

    Returns:
        The checked ``_Request``.

    Raises:
        LczError: an unknown sensor, outlines not a .gpkg, both or a negative selection,
            an output path that cannot be written or is an input.
    """
    if sensor not in (Sensor.SEN2, Sensor.SEN1):
        raise LczError(f"sensor must be {Sensor.SEN2} or {Sensor.SEN1}, not '{sensor}'")
    path = Path(outlines) if outlines else None
    if path is not None and path.suffix.lower() != ".gpkg":
        raise LczError(
            f"the patch outlines are written as a GeoPackage: '{outlines}' must end in .gpkg"
        )
    spec = (
        None if indices is None or (isinstance(indices, str) and not indices.strip()) else indices
    )
    per_class = int(per_class or 0)
    if spec is not None and per_class > 0:
        raise LczError(f"give either {param('INDICES')} or {param('PER_CLASS')}, not both")
    if per_class < 0:
        raise LczError(
            f"{param('PER_CLASS')} must be 0 (off) or a positive number of patches per class"
        )
    seed = check_seed(seed)
    folder, folder_exists = _check_folder(output_folder)
    inputs = {param("INPUT", "input_path"): input_path, "GEO": geo}
    if path is not None:
        if folder_exists or not same_file(path.parent, folder):
            check_output_path(path)  # (its folder may be the output folder still to create)
        check_distinct_paths(inputs, {"OUTPUT_PATCHES": path})
    return _Request(path, spec, per_class, seed, folder, folder_exists, inputs)


def _open_geo(geo, f):
    """Open the geolocation file, which must have one row per patch of ``f``.

    Args:
        geo: The geolocation file path, or None.
        f: The open ``So2SatFile``.

    Returns:
        The ``So2SatGeo``, or None without a geolocation file.

    Raises:
        LczError: the two files differ in length.
    """
    from ..so2sat.geo import So2SatGeo

    geo_file = So2SatGeo(geo) if geo else None
    if geo_file is not None and geo_file.n != f.n:
        raise LczError(
            f"the geolocation file '{geo_file.path.name}' has {geo_file.n} rows but "
            f"'{f.path.name}' has {f.n} patches: they must be the same length (pair "
            "training.h5 with training_geo.h5, testing.h5 with testing_geo.h5, ...)"
        )
    return geo_file


def _plan_files(input_path, req: _Request, sensor: str, placement: Placement, per_patch: bool):
    """The raster paths (one per patch or per mosaic group), checked with all outputs.

    Args:
        input_path: The So2Sat file (its stem names the rasters).
        req: The checked request (output folder, outlines, inputs).
        sensor: ``sen2`` or ``sen1``.
        placement: Where the patches go.
        per_patch: One file per patch instead of one per group.

    Returns:
        (raster paths, {label: [paths]} of every output, style sidecars included).

    Raises:
        LczError: an output is a folder, an input or another output.
    """
    stem = safe_name(Path(input_path).stem) or "patches"
    if per_patch:
        paths = [req.folder / f"{stem}_{sensor}_{int(i):06d}.tif" for i in placement.indices]
    else:
        paths = [req.folder / f"{stem}_{sensor}_{g}.tif" for g in placement.group_names]
    targets = {"raster": paths, "raster style": [_qml(p) for p in paths]}
    if req.outlines is not None:
        targets |= {
            "OUTPUT_PATCHES": [req.outlines],
            "OUTPUT_PATCHES style": [_qml(req.outlines)],
        }
    _check_targets(req.inputs, targets)
    return paths, targets


def _new_result(geo_file, skipped, paths, per_patch: bool, placement) -> LoadPatchesResult:
    """The run's result as far as known before writing.

    Args:
        geo_file: The ``So2SatGeo``, or None (grid layout).
        skipped: Rows skipped for an impossible geolocation.
        paths: The raster paths.
        per_patch: One file per patch (listed in index order).
        placement: Where the patches go.

    Returns:
        A ``LoadPatchesResult`` without the reading statistics and outlines.
    """
    return LoadPatchesResult(
        rasters=sorted(paths) if per_patch else paths,  # (in index order)
        indices=placement.indices,
        skipped=skipped,
        layout="geo" if geo_file is not None else "grid",
        crs=sorted(set(int(e) for e in placement.epsg)),
    )


def _plan_space(staging: StagedOutputs, paths, targets: dict, n: int, count: int) -> None:
    """Announce the rasters' size and remove stale partial files of the targets.

    Args:
        staging: The run's staged outputs.
        paths: The raster paths.
        targets: Every output path by label.
        n: The number of placed patches.
        count: Bands per patch.
    """
    # about (compressed): every patch's pixels as float32
    staging.expect(paths[0], n * PATCH_SIZE * PATCH_SIZE * count * 4)
    staging.clean_stale(*(t for group in targets.values() for t in group))


def _make_folder(req: _Request) -> bool:
    """Create the output folder when it is missing (after every check).

    Args:
        req: The checked request.

    Returns:
        Whether this run created the folder (it is removed again if the run fails).
    """
    if req.folder_exists:
        return False
    req.folder.mkdir()
    return True


def _write_raster_styles(staging: StagedOutputs, paths, sensor: str, src) -> None:
    """Write the rasters' quick-look style (.qml), stretched on the patches read.

    Args:
        staging: The run's staged outputs.
        paths: The raster paths.
        sensor: ``sen2`` or ``sen1``.
        src: The patch reader (its sample gives the stretch).
    """
    from ..styling.styles import qml_multiband

    qml = qml_multiband(*DISPLAY_BANDS[sensor], src.limits())
    for p in paths:
        staging.write_text(_qml(p), qml)


def _write_outline_layer(staging, outlines, placement, labels, raster_of, feedback):
    """Write the outlines GeoPackage and its .qml to temporary files (when asked for).

    Args:
        staging: The run's staged outputs.
        outlines: The GeoPackage path; None for no outlines.
        placement: Where the patches went.
        labels: LCZ code per placed patch, or None.
        raster_of: The raster file name of each placed patch.
        feedback: Messages.

    Returns:
        ``outlines`` (None when not asked for).
    """
    from ..styling.styles import qml_patch_polygons

    if outlines is None:
        return None
    feedback.info("writing the patch outlines")
    write_outlines(staging.temp(outlines), placement, labels, raster_of)
    staging.write_text(_qml(outlines), qml_patch_polygons())
    return outlines


def _swap_in(staging: StagedOutputs, result: LoadPatchesResult, t0: float, feedback) -> None:
    """Rename every staged output into place, the last step of a run.

    A cancel before it leaves no output; once started it is not interrupted.

    Args:
        staging: The run's staged outputs.
        result: The run's result (its duration is set).
        t0: ``time.monotonic()`` at the start of the run.
        feedback: Progress and cancel.
    """
    feedback.check_cancelled()
    with hold_interrupt(feedback):
        staging.commit()  # the last step: a cancel before it leaves no output
        feedback.progress(100)
        result.seconds = time.monotonic() - t0


def _discard_run(exc: BaseException, staging: StagedOutputs, created, feedback) -> None:
    """Undo a failed or cancelled run: remove its temporary files and created folder.

    Args:
        exc: The exception that ended the run.
        staging: The run's staged outputs.
        created: The output folder when this run created it, else None.
        feedback: Messages.

    Raises:
        DiskFull: ``exc`` came from a full disk (raised instead of it, in one line).
    """
    full = staging.disk_full(exc)  # (before the temporary files go)
    # the failed frames still hold open GDAL datasets: release them before removing
    # the temporary files (Windows refuses to delete an open file)
    with quiet_close():
        traceback.clear_frames(exc.__traceback__)
        left = staging.discard()  # earlier files stay as they were
    if left:
        feedback.warning(f"could not remove temporary files: {', '.join(map(str, left))}")
    if created is not None:
        with contextlib.suppress(OSError):
            created.rmdir()  # (only when empty)
    if full is not None:
        raise full from None


def _qml(path: Path) -> Path:
    """The style sidecar (.qml) of ``path``."""
    return path.with_suffix(".qml")
