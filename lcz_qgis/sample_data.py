"""Synthetic sample data: So2Sat-format HDF5 files and a small sample city.

Everything here is SYNTHETIC, generated deterministically from a seed. Each LCZ is a
mixture of surface materials (roofs, paving, trees, grass, scrub, soil, water) with
its own proportions, grain (building footprint size) and shadowing from building
height. Sentinel-2 reflectance comes from per-material spectra in So2Sat band order
and scale; Sentinel-1 channels follow So2Sat's meanings (complex VH/VV with speckle,
Lee-filtered-like intensities, the VH*VV covariance). Proportions vary per patch, so
neighbouring classes (e.g. compact mid-rise vs compact low-rise) overlap: a model can
learn the classes, but not trivially.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .common.atomic import atomic_output, check_output_path, replace_together, write_text_atomic
from .common.bands import PATCH_SIZE
from .common.enums import Sensor
from .common.errors import LczError, check_seed
from .common.feedback import Feedback
from .common.legend import N_CLASSES
from .so2sat.writer import create_so2sat

# Materials: Sentinel-2 reflectance (B2 B3 B4 B5 B6 B7 B8 B8A B11 B12) and Sentinel-1
# backscatter sigma0 (VH, VV), linear.
MATERIALS = {
    "roof": ([0.10, 0.11, 0.12, 0.13, 0.14, 0.15, 0.16, 0.17, 0.20, 0.18], (0.060, 0.45)),
    "light_roof": ([0.18, 0.19, 0.20, 0.21, 0.22, 0.22, 0.23, 0.23, 0.26, 0.24], (0.040, 0.30)),
    "industrial": ([0.14, 0.15, 0.16, 0.17, 0.18, 0.18, 0.19, 0.19, 0.22, 0.21], (0.080, 0.80)),
    "paved": ([0.07, 0.08, 0.09, 0.10, 0.11, 0.11, 0.12, 0.12, 0.15, 0.14], (0.004, 0.03)),
    "tree": ([0.02, 0.04, 0.02, 0.06, 0.20, 0.26, 0.30, 0.31, 0.14, 0.06], (0.040, 0.12)),
    "grass": ([0.04, 0.07, 0.05, 0.10, 0.25, 0.32, 0.36, 0.37, 0.22, 0.11], (0.012, 0.06)),
    "scrub": ([0.04, 0.06, 0.06, 0.09, 0.17, 0.21, 0.24, 0.26, 0.22, 0.13], (0.020, 0.08)),
    "soil": ([0.12, 0.15, 0.19, 0.22, 0.24, 0.26, 0.27, 0.29, 0.35, 0.30], (0.006, 0.04)),
    "water": ([0.05, 0.05, 0.03, 0.02, 0.015, 0.012, 0.01, 0.01, 0.005, 0.003], (0.001, 0.005)),
}
MATERIAL_NAMES = tuple(MATERIALS)
BUILT = {"roof", "light_roof", "industrial"}


@dataclass(frozen=True)
class ClassRecipe:
    """How the synthetic scene draws one LCZ class.

    Attributes:
        fractions: material (``MATERIALS``) -> its mean cover fraction.
        grain: the smoothing sigma of the material field, pixels (larger: coarser).
        shadow: the darkening (0..1) of pixels next to buildings; stands for height.
    """

    fractions: dict  # material -> mean fraction
    grain: float  # smoothing sigma of the material field, pixels
    shadow: float  # darkening of pixels next to buildings (building height)


RECIPES = {
    1: ClassRecipe({"roof": 0.45, "paved": 0.45, "tree": 0.05, "grass": 0.05}, 3.0, 0.45),
    2: ClassRecipe({"roof": 0.55, "paved": 0.35, "tree": 0.05, "grass": 0.05}, 2.2, 0.25),
    3: ClassRecipe({"roof": 0.60, "paved": 0.30, "tree": 0.05, "grass": 0.05}, 1.3, 0.08),
    4: ClassRecipe({"roof": 0.25, "paved": 0.30, "tree": 0.20, "grass": 0.25}, 3.0, 0.45),
    5: ClassRecipe({"roof": 0.30, "paved": 0.25, "tree": 0.20, "grass": 0.25}, 2.2, 0.25),
    6: ClassRecipe({"roof": 0.30, "paved": 0.20, "tree": 0.25, "grass": 0.25}, 1.3, 0.08),
    7: ClassRecipe({"light_roof": 0.60, "soil": 0.30, "grass": 0.10}, 0.9, 0.0),
    8: ClassRecipe({"industrial": 0.50, "paved": 0.40, "grass": 0.10}, 4.5, 0.05),
    9: ClassRecipe({"roof": 0.10, "paved": 0.10, "grass": 0.50, "tree": 0.30}, 1.5, 0.05),
    10: ClassRecipe({"industrial": 0.35, "paved": 0.35, "soil": 0.20, "grass": 0.10}, 3.5, 0.15),
    11: ClassRecipe({"tree": 0.90, "grass": 0.10}, 2.0, 0.0),
    12: ClassRecipe({"tree": 0.40, "grass": 0.60}, 2.0, 0.0),
    13: ClassRecipe({"scrub": 0.70, "soil": 0.20, "grass": 0.10}, 1.5, 0.0),
    14: ClassRecipe({"grass": 0.90, "soil": 0.10}, 4.0, 0.0),
    15: ClassRecipe({"paved": 0.80, "soil": 0.20}, 4.0, 0.0),
    16: ClassRecipe({"soil": 0.90, "grass": 0.10}, 4.0, 0.0),
    17: ClassRecipe({"water": 0.95, "grass": 0.05}, 6.0, 0.0),
}
# Relative class frequencies, shaped like So2Sat LCZ42's training set: LCZ 7 rarest,
# open low-rise, large low-rise, dense trees and water common.
CLASS_WEIGHTS = np.array([5, 24, 31, 9, 16, 35, 3, 39, 14, 6, 68, 12, 16, 7, 6, 38, 65], float)
MIN_PER_CLASS = 20
MIN_PATCHES = MIN_PER_CLASS * N_CLASSES  # the smallest sample file: MIN_PER_CLASS of each class
MAX_PATCHES = 1_000_000  # the largest sample file (about 147 GB; So2Sat's training.h5 has 352,366)
# float64 sen1, sen2 and label
BYTES_PER_PATCH = PATCH_SIZE * PATCH_SIZE * (8 + 10) * 8 + N_CLASSES * 8
SCENE_BYTES = 40_000_000  # the sample city's three GeoTIFFs, with room to spare
DIRICHLET_CONCENTRATION = 25.0


def _smooth(noise: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(noise, sigma=sigma, mode="wrap")


def _uniform(field: np.ndarray) -> np.ndarray:
    from scipy.special import ndtr

    z = (field - field.mean()) / (field.std() + 1e-12)
    return ndtr(z)


def _materials_map(codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Material index per pixel for a zone map ``codes`` (H, W)."""
    h, w = codes.shape
    out = np.zeros((h, w), np.int8)
    for code in np.unique(codes):
        recipe = RECIPES[int(code)]
        names = list(recipe.fractions)
        mean = np.array([recipe.fractions[n] for n in names])
        frac = rng.dirichlet(mean * DIRICHLET_CONCENTRATION)
        order = rng.permutation(len(names))
        cum = np.cumsum(frac[order])
        u = _uniform(_smooth(rng.standard_normal((h, w)), recipe.grain))
        pick = np.minimum((u[..., None] > cum).sum(-1), len(names) - 1)
        mats = np.array([MATERIAL_NAMES.index(names[i]) for i in order], np.int8)
        sel = codes == code
        out[sel] = mats[pick][sel]
    return out


def _render(codes: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Sentinel-2 (H,W,10) and Sentinel-1 (H,W,8) float32 for a zone map (H, W)."""
    from scipy.ndimage import uniform_filter

    h, w = codes.shape
    mats = _materials_map(codes, rng)
    s2_table = np.array([MATERIALS[m][0] for m in MATERIAL_NAMES], np.float32)
    s1_table = np.array([MATERIALS[m][1] for m in MATERIAL_NAMES], np.float32)
    s2 = s2_table[mats]
    # shadows: pixels just "north" of a building are darker, in proportion to height
    built = np.isin(mats, [MATERIAL_NAMES.index(b) for b in BUILT])
    shadow_strength = np.vectorize(lambda c: RECIPES[int(c)].shadow)(codes).astype(np.float32)
    shadow = np.zeros((h, w), bool)
    for k in (1, 2):
        shadow[:-k] |= built[k:]
    shadow &= ~built
    s2 *= (1.0 - shadow_strength * shadow)[..., None]
    s2 *= rng.uniform(0.9, 1.1)  # illumination / atmosphere
    s2 += rng.normal(0.0, 0.008, s2.shape).astype(np.float32)
    s2 = np.clip(s2, 0.0, None)
    sigma0 = s1_table[mats] * rng.uniform(0.8, 1.25)  # (H, W, 2): VH, VV
    sigma0[..., 1] *= np.where(built, rng.lognormal(0.0, 0.6, (h, w)), 1.0)  # double bounce
    re = rng.standard_normal((h, w, 2)) * np.sqrt(sigma0 / 2)
    im = rng.standard_normal((h, w, 2)) * np.sqrt(sigma0 / 2)
    intensity = re**2 + im**2
    lee = np.stack([uniform_filter(intensity[..., k], 5, mode="nearest") for k in (0, 1)], -1)
    cov_re = uniform_filter(re[..., 0] * re[..., 1] + im[..., 0] * im[..., 1], 5, mode="nearest")
    cov_im = uniform_filter(im[..., 0] * re[..., 1] - re[..., 0] * im[..., 1], 5, mode="nearest")
    s1 = np.stack(
        [re[..., 0], im[..., 0], re[..., 1], im[..., 1], lee[..., 0], lee[..., 1], cov_re, cov_im],
        axis=-1,
    ).astype(np.float32)
    return s2.astype(np.float32), s1


def class_counts_for(n: int) -> np.ndarray:
    """Patches per class (17) for a file of ``n`` patches, So2Sat-like imbalance."""
    if n < MIN_PATCHES:
        raise LczError(f"a sample file needs at least {MIN_PATCHES} patches; asked {n}")
    free = n - MIN_PATCHES
    extra = np.floor(CLASS_WEIGHTS / CLASS_WEIGHTS.sum() * free).astype(int)
    extra[np.argmax(CLASS_WEIGHTS)] += free - extra.sum()
    return extra + MIN_PER_CLASS


def write_so2sat_file(
    path, n: int, seed: int, feedback: Feedback | None = None, chunk: int = 256
) -> Path:
    """A So2Sat-format HDF5 file (float64 sen1, sen2, label) of ``n`` shuffled patches."""
    import h5py

    feedback = feedback or Feedback()
    rng = np.random.default_rng(seed)
    counts = class_counts_for(n)
    codes = rng.permutation(np.repeat(np.arange(1, N_CLASSES + 1), counts))
    with atomic_output(path) as tmp:
        with h5py.File(tmp, "w") as f:
            made = create_so2sat(f, codes, empty=(Sensor.SEN1, Sensor.SEN2))
            d1, d2 = made[Sensor.SEN1], made[Sensor.SEN2]
            f.attrs["description"] = "SYNTHETIC So2Sat-format sample data made by lcz_qgis"
            f.attrs["seed"] = seed
            for start in range(0, n, chunk):
                feedback.check_cancelled()
                stop = min(n, start + chunk)
                b1 = np.empty((stop - start, PATCH_SIZE, PATCH_SIZE, 8))
                b2 = np.empty((stop - start, PATCH_SIZE, PATCH_SIZE, 10))
                for i, code in enumerate(codes[start:stop]):
                    b2[i], b1[i] = _render(np.full((PATCH_SIZE, PATCH_SIZE), code), rng)
                d1[start:stop] = b1
                d2[start:stop] = b2
                feedback.progress(100.0 * stop / n)
    return Path(path)


# -- the sample city -----------------------------------------------------------------------

SCENE_EPSG = 32632  # UTM 32N
SCENE_ORIGIN = (690000.0, 5340000.0)  # upper-left corner, metres
SCENE_BLOCK = 64  # pixels per zone block (640 m)
# An 8 x 8 block layout: a compact core, open mid/high-rise around it, low-rise suburbs,
# industry by the river, parks, forest, fields and scrub towards the edges.
SCENE_LAYOUT = np.array(
    [
        [11, 11, 14, 14, 16, 16, 13, 13],
        [11, 9, 6, 6, 6, 9, 14, 13],
        [12, 6, 5, 2, 2, 5, 6, 16],
        [12, 6, 4, 1, 2, 4, 6, 14],
        [17, 17, 17, 1, 3, 17, 17, 17],
        [14, 8, 10, 3, 2, 5, 7, 15],
        [14, 8, 10, 6, 6, 9, 7, 15],
        [11, 11, 12, 12, 14, 14, 13, 15],
    ],
    dtype=np.uint8,
)
S2_NODATA = -9999.0


def write_scene(folder, seed: int) -> dict:
    """scene_s2.tif, scene_s1.tif and scene_truth.tif (512 x 512 px, 10 m, EPSG:32632)."""
    from rasterio.crs import CRS

    from .raster.io import (
        GTIFF_OPTIONS,
        create_geotiff,
        name_lcz_categories,
        style_lcz_band,
        write_lcz_qml,
        write_qml,
    )
    from .styling.styles import qml_multiband

    rng = np.random.default_rng(seed + 7919)
    zones = np.kron(SCENE_LAYOUT, np.ones((SCENE_BLOCK, SCENE_BLOCK), np.uint8))
    s2, s1 = _render(zones, rng)
    # a strip outside the satellite swath: nodata in every band (upper-left corner)
    s2[:48, :96] = S2_NODATA
    s1[:48, :96] = S2_NODATA
    h, w = zones.shape
    gt = (SCENE_ORIGIN[0], 10.0, 0.0, SCENE_ORIGIN[1], 0.0, -10.0)
    wkt = CRS.from_epsg(SCENE_EPSG).to_wkt()
    folder = Path(folder)
    out = {}
    from .common.bands import SEN1_CHANNELS, SEN2_BANDS

    for name, arr, descr in (
        ("scene_s2.tif", s2, SEN2_BANDS),
        ("scene_s1.tif", s1, SEN1_CHANNELS),
    ):
        with atomic_output(folder / name, (".aux.xml",)) as tmp:
            n = arr.shape[-1]
            opts = GTIFF_OPTIONS
            with create_geotiff(tmp, w, h, n, "float32", gt, wkt, S2_NODATA, opts, descr) as ds:
                ds.update_tags(DESCRIPTION=f"SYNTHETIC sample city ({name}), lcz_qgis")
                ds.write(np.moveaxis(arr, -1, 0).astype(np.float32, copy=False))
        out[name] = folder / name
    # true colour (B4, B3, B2 stretched between their 2nd and 98th percentiles) for QGIS
    limits = [np.percentile(s2[..., SEN2_BANDS.index(b)], (2, 98)) for b in ("B4", "B3", "B2")]
    rgb = [SEN2_BANDS.index(b) + 1 for b in ("B4", "B3", "B2")]
    write_qml(folder / "scene_s2.tif", qml_multiband(*rgb, limits))
    with atomic_output(folder / "scene_truth.tif", (".aux.xml",)) as tmp:
        with create_geotiff(tmp, w, h, 1, "uint8", gt, wkt, 0, GTIFF_OPTIONS) as ds:
            ds.update_tags(DESCRIPTION="SYNTHETIC sample city: the LCZ zones it was built from")
            style_lcz_band(ds)
            ds.write(zones, 1)
        name_lcz_categories(tmp)
    write_lcz_qml(folder / "scene_truth.tif")
    out["scene_truth.tif"] = folder / "scene_truth.tif"
    return out


DEFAULT_TRAIN = 2400
DEFAULT_TEST = 600
SAMPLE_FILES = (
    "train.h5",
    "test.h5",
    "scene_s2.tif",
    "scene_s1.tif",
    "scene_truth.tif",
    "README_SYNTHETIC.txt",
)
README_TEXT = """SYNTHETIC sample data written by lcz_qgis (seed {seed}).
None of it is real imagery: it exists to try the plugin and to test it.
- train.h5, test.h5: So2Sat LCZ42 format (sen1, sen2, label; float64).
- scene_s2.tif / scene_s1.tif: a synthetic 5 x 5 km city, 10 m, EPSG:32632.
- scene_truth.tif: the LCZ zones the city was generated from.
"""


def check_sample_sizes(n_train: int, n_test: int) -> None:
    """Refuse sample files smaller than ``MIN_PATCHES`` or larger than ``MAX_PATCHES``.

    Args:
        n_train, n_test: the patches asked for train.h5 and test.h5.

    Raises:
        LczError: naming the file, the limit and the size asked.
    """
    for what, n in (("train", n_train), ("test", n_test)):
        if n < MIN_PATCHES:
            raise LczError(
                f"{what}.h5 needs at least {MIN_PATCHES} patches "
                f"({MIN_PER_CLASS} per class); asked {n}"
            )
        if n > MAX_PATCHES:
            raise LczError(
                f"{what}.h5 can hold at most {MAX_PATCHES:,} patches (about "
                f"{MAX_PATCHES * BYTES_PER_PATCH / 1e9:.0f} GB); asked {n:,}"
            )


def _check_free_space(folder: Path, n_train: int, n_test: int) -> None:
    need = (n_train + n_test) * BYTES_PER_PATCH + SCENE_BYTES
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if need > free:
        raise LczError(
            f"the sample data needs about {need / 1e9:.2f} GB but '{folder}' has only "
            f"{free / 1e9:.2f} GB free; ask for fewer patches or choose another folder"
        )


def write_sample_data(
    folder,
    seed: int = 42,
    n_train: int = DEFAULT_TRAIN,
    n_test: int = DEFAULT_TEST,
    feedback: Feedback | None = None,
) -> dict:
    """Write train.h5, test.h5, the sample city and a README into ``folder``.

    Every argument is checked before anything is written, so bad input leaves the
    folder (and files already in it) as it was. The files are written into a temporary
    folder inside ``folder`` and moved into place together at the end: a failed or
    cancelled run leaves the files of an earlier run as they were, never a mix.
    """

    feedback = feedback or Feedback()
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise LczError(f"output folder '{folder}' is a file, not a folder")
    if not folder.is_dir() and not folder.parent.is_dir():
        raise LczError(f"the folder holding '{folder}' does not exist")
    seed = check_seed(seed)
    check_sample_sizes(n_train, n_test)
    if not folder.is_dir():
        check_output_path(folder)  # its parent exists and is writable
    for name in SAMPLE_FILES if folder.is_dir() else ():
        check_output_path(folder / name)
    _check_free_space(folder if folder.is_dir() else folder.parent, n_train, n_test)
    created = not folder.is_dir()
    folder.mkdir(exist_ok=True)  # a new folder (its parent exists), as `lcz patches` does
    work = Path(tempfile.mkdtemp(prefix=".lcz-sample-", dir=folder))
    try:
        feedback.info(f"writing {n_train} training patches (synthetic)")
        write_so2sat_file(work / "train.h5", n_train, seed, feedback.scaled(0, 75))
        feedback.info(f"writing {n_test} test patches (synthetic)")
        write_so2sat_file(work / "test.h5", n_test, seed + 1, feedback.scaled(75, 95))
        feedback.info("writing the synthetic sample city")
        written = list(write_scene(work, seed))
        write_text_atomic(work / "README_SYNTHETIC.txt", README_TEXT.format(seed=seed))
        feedback.check_cancelled()
        names = sorted(p.name for p in work.iterdir() if p.is_file())
        replace_together(work, folder, names)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        if created:
            with contextlib.suppress(OSError):
                folder.rmdir()  # the folder this run made, left empty
        raise
    shutil.rmtree(work, ignore_errors=True)
    paths = {name: folder / name for name in ("train.h5", "test.h5", *written)}
    feedback.progress(100)
    return paths
