"""classify's BANDS and BANDS_S1: the one BANDS grammar (numbers, ranges, names,
NAME=NUMBER) mapping a raster's bands, in any order, onto the model's channels."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import write_raster

from lcz_qgis.classify.pipeline import classify_raster
from lcz_qgis.cli import main as lcz_main
from lcz_qgis.common.bands import SEN1_CHANNELS, SEN2_BANDS
from lcz_qgis.common.errors import LczError
from lcz_qgis.models.modelfile import load_model
from lcz_qgis.raster.io import gdal

# raster band k (0-based) of the shuffled rasters holds So2Sat channel PERM[k]
PERM = (7, 2, 9, 0, 5, 1, 8, 3, 6, 4)
CROP = 160  # pixels of the sample city's upper-left corner: several LCZ classes
STRIDE = 8


def _read(path):
    return gdal().Open(str(path)).ReadAsArray()


def _crop(path, n_pixels=CROP):
    """(rows, cols, bands) float32 of the raster's upper-left corner, and its geotransform."""
    ds = gdal().Open(str(path))
    arr = ds.ReadAsArray(0, 0, n_pixels, n_pixels).astype(np.float32).transpose(1, 2, 0)
    return arr, ds.GetGeoTransform()


@pytest.fixture(scope="module")
def rasters(sample_dir, tmp_path_factory):
    """The sample city's Sentinel-2 corner in So2Sat order, and shuffled by ``PERM``."""
    d = tmp_path_factory.mktemp("bandmap")
    arr, gt = _crop(sample_dir / "scene_s2.tif")
    ordered = write_raster(d / "ordered.tif", arr, gt=gt)
    shuffled = write_raster(d / "shuffled.tif", arr[..., list(PERM)].copy(), gt=gt)
    return ordered, shuffled


@pytest.fixture(scope="module")
def reference(rf_model, rasters, tmp_path_factory):
    """The map and probabilities of the ordered raster, without BANDS."""
    d = tmp_path_factory.mktemp("bandmap_ref")
    classify_raster(load_model(rf_model), d / "map.tif", sentinel2=rasters[0], stride=STRIDE,
                    probabilities=d / "p.tif")  # fmt: skip
    codes = _read(d / "map.tif")
    assert len(np.unique(codes[codes > 0])) >= 3  # a map a wrong band order would change
    return codes, _read(d / "p.tif")


def _pairs_in_raster_order() -> str:
    """'B8A=1,B4=2,...': every channel named with its band in the shuffled raster."""
    return ",".join(f"{SEN2_BANDS[c]}={k + 1}" for k, c in enumerate(PERM))


def _pairs_in_so2sat_order() -> str:
    """'B2=4,B3=6,...': the same mapping listed in So2Sat order."""
    return ",".join(f"{b}={PERM.index(c) + 1}" for c, b in enumerate(SEN2_BANDS))


def _numbers_in_so2sat_order() -> str:
    """'4,6,2,...': the raster band of each So2Sat channel, as classify always took."""
    return ",".join(str(PERM.index(c) + 1) for c in range(len(SEN2_BANDS)))


@pytest.mark.parametrize(
    "spec",
    [
        _pairs_in_raster_order(),
        _pairs_in_so2sat_order().lower().replace(",", "; "),  # any case, ';' separators
        ",".join(SEN2_BANDS[c] for c in PERM),  # names alone: the raster's bands in order
        _numbers_in_so2sat_order(),
    ],
)
def test_shuffled_raster_named_by_bands_classifies_to_the_ordered_map(
    rf_model, rasters, reference, tmp_path, spec
):
    out, prob = tmp_path / "map.tif", tmp_path / "p.tif"
    classify_raster(load_model(rf_model), out, sentinel2=rasters[1], stride=STRIDE,
                    bands=spec, probabilities=prob)  # fmt: skip
    codes, proba = reference
    np.testing.assert_array_equal(_read(out), codes)
    np.testing.assert_allclose(_read(prob), proba, atol=1e-6)
    assert gdal().Open(str(out)).GetGeoTransform()[1] == STRIDE * 10


def test_shuffled_raster_without_bands_gives_another_map(rf_model, rasters, reference, tmp_path):
    """The mapping is what makes the maps equal: without it the bands are misread."""
    out = tmp_path / "map.tif"
    classify_raster(load_model(rf_model), out, sentinel2=rasters[1], stride=STRIDE)
    assert (_read(out) != reference[0]).mean() > 0.2


def test_the_cli_takes_name_number_pairs(rf_model, rasters, reference, tmp_path):
    out = tmp_path / "map.tif"
    code = lcz_main(["classify", "--model", str(rf_model), "--sentinel2", str(rasters[1]),
                     "--bands", _pairs_in_raster_order(), "--stride", str(STRIDE),
                     "--output", str(out)])  # fmt: skip
    assert code == 0
    np.testing.assert_array_equal(_read(out), reference[0])


def test_a_thirteen_band_stack_mapped_by_names_skips_the_bands_it_does_not_use(
    rf_model, rasters, reference, tmp_path
):
    """Extra bands (B1, B9, B10 of an L1C stack) are skipped when the others are named."""
    arr, gt = _crop(rasters[0])
    extra = np.full(arr.shape[:2] + (1,), 5.0, np.float32)  # would spoil any window read
    stack = np.concatenate([extra, arr[..., :8], extra, extra, arr[..., 8:]], axis=-1)
    path = write_raster(tmp_path / "l1c13.tif", stack, gt=gt)
    order = ("B1",) + SEN2_BANDS[:8] + ("B9", "B10") + SEN2_BANDS[8:]
    spec = ",".join(f"{b}={k + 1}" for k, b in enumerate(order) if b in SEN2_BANDS)
    out = tmp_path / "map.tif"
    classify_raster(load_model(rf_model), out, sentinel2=path, stride=STRIDE, bands=spec)
    np.testing.assert_array_equal(_read(out), reference[0])


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("B4=x", r"bands for the Sentinel-2 raster: band entry 'B4=x'.*NAME=NUMBER"),
        ("B2;;B3=", r"bands .*band entry 'B3='"),
        ("B4=11", r"bands .* names band\(s\) \[11\], but the raster has 10 bands"),
        ("B2,B3,B4,B8", r"bands 'B2,B3,B4,B8' does not name B5, B6, B7, B8A, B11, B12"),
        ("B13=1", r"bands: 'B13' is not a channel of the Sentinel-2 raster; use B2, B3"),
        ("VH=1", r"'VH' is not a channel of the Sentinel-2 raster"),
        ("B2=1,b2=2", r"bands names B2 twice"),
        ("B2,3", r"bands entry '3' among names: write NAME=NUMBER"),
        ("1-3", r"bands for the Sentinel-2 raster has 3 numbers; give 10"),
        ("5-1", r"bands .*'5-1'.* runs backwards"),
    ],
)
def test_a_bad_bands_value_is_a_clear_error_naming_the_parameter(
    rf_model, rasters, tmp_path, spec, message
):
    out = tmp_path / "map.tif"
    with pytest.raises(LczError, match=message):
        classify_raster(load_model(rf_model), out, sentinel2=rasters[1], bands=spec)
    assert not list(tmp_path.iterdir())


def test_the_cli_names_its_flag_in_a_bands_error(rf_model, rasters, tmp_path, capsys):
    out = tmp_path / "map.tif"
    code = lcz_main(["classify", "--model", str(rf_model), "--sentinel2", str(rasters[1]),
                     "--bands", "B4=3,B4=5", "--output", str(out)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "--bands names B4 twice" in err and "Traceback" not in err
    assert not out.exists()


def test_sentinel1_bands_take_vh_and_vv_names(fusion_model, sample_dir, tmp_path):
    """A Sentinel-1 raster holding VV, VH (the model uses the intensities, channels 5, 6)
    named by BANDS_S1 classifies like the So2Sat-ordered one; a wrong name is refused."""
    s2 = sample_dir / "scene_s2.tif"
    s1, gt = _crop(sample_dir / "scene_s1.tif")
    s2_crop, _ = _crop(s2)
    s2p = write_raster(tmp_path / "s2.tif", s2_crop, gt=gt)
    ordered = write_raster(tmp_path / "s1_8.tif", s1, gt=gt)
    vi = [SEN1_CHANNELS.index("VV_intensity"), SEN1_CHANNELS.index("VH_intensity")]
    pair = write_raster(tmp_path / "vv_vh.tif", s1[..., vi].copy(), gt=gt)
    a, b = tmp_path / "a.tif", tmp_path / "b.tif"
    classify_raster(fusion_model, a, sentinel2=s2p, sentinel1=ordered, stride=STRIDE)
    classify_raster(fusion_model, b, sentinel2=s2p, sentinel1=pair, stride=STRIDE,
                    bands_s1="VV=1, vh=2")  # fmt: skip
    np.testing.assert_array_equal(_read(b), _read(a))
    swapped = tmp_path / "swapped.tif"
    classify_raster(fusion_model, swapped, sentinel2=s2p, sentinel1=pair, stride=STRIDE)
    assert (_read(swapped) != _read(a)).any()  # read as VH, VV without the mapping
    with pytest.raises(LczError, match=r"bands_s1: 'B4' is not a channel of the Sentinel-1"):
        classify_raster(fusion_model, tmp_path / "x.tif", sentinel2=s2p, sentinel1=pair,
                        bands_s1="B4=1,VH=2")  # fmt: skip
