"""Real BigEarthNet Sentinel-2 patches (``../shared/real/s2_imagery/bigearthnet_s2``: one
single-band GeoTIFF per band at 10, 20 and 60 m, uint16 BOA x 10000, no offset) through
prepare-s2's band-file input: the So2Sat stack at 10 m, checked against the files read
directly."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lcz_qgis.common.bands import SEN2_BANDS
from lcz_qgis.common.feedback import Feedback
from lcz_qgis.raster.io import open_dataset
from lcz_qgis.sentinel.prepare_s2 import prepare_sentinel2

BIGEARTHNET = "real/s2_imagery/bigearthnet_s2"
PATCHES = (
    "S2A_MSIL2A_20170613T101031_87_48",
    "S2A_MSIL2A_20170617T113321_36_85",
    "S2A_MSIL2A_20170617T113321_4_55",
    "S2A_MSIL2A_20171221T112501_56_35",
    "S2B_MSIL2A_20170924T93020_69_24",
    "S2B_MSIL2A_20180204T94161_57_38",
)


class Recorder(Feedback):
    def __init__(self):
        super().__init__()
        self.warnings: list[str] = []

    def warning(self, message: str) -> None:
        self.warnings.append(message)


def _patch(shared_dir, name):
    folder = shared_dir / BIGEARTHNET / name
    if not folder.is_dir():
        pytest.skip(f"the real patch {BIGEARTHNET}/{name} is not in ../shared")
    return folder


def _read(path):
    with open_dataset(path) as ds:
        return ds.read(), ds.transform, ds.crs.to_epsg(), list(ds.descriptions)


def _bilinear(a: np.ndarray, row: int, col: int) -> float:
    """The 20 m band ``a`` at the centre of 10 m pixel (row, col) of the same origin."""
    y, x = row / 2 - 0.25, col / 2 - 0.25  # the centre in the 20 m grid's pixel units
    i, j = int(np.floor(y)), int(np.floor(x))
    fy, fx = y - i, x - j
    q = a[i : i + 2, j : j + 2].astype(np.float64)
    return float(q[0, 0] * (1 - fy) * (1 - fx) + q[0, 1] * (1 - fy) * fx
                 + q[1, 0] * fy * (1 - fx) + q[1, 1] * fy * fx)  # fmt: skip


@pytest.mark.parametrize("name", PATCHES)
def test_band_files_give_the_so2sat_stack_at_10m(shared_dir, tmp_path, name):
    folder = _patch(shared_dir, name)
    files = sorted(folder.glob(f"{name}_B*.tif"))  # B01..B12 and B8A, no B10 (L2A): 12
    assert len(files) == 12
    meta = json.loads((folder / f"{name}_labels_metadata.json").read_text())
    b02, t02, epsg, _ = _read(folder / f"{name}_B02.tif")
    b11, t11, _, _ = _read(folder / f"{name}_B11.tif")
    assert (t02.a, t11.a) == (10.0, 20.0)

    out = tmp_path / "stack.tif"
    fb = Recorder()
    result = prepare_sentinel2(files, out, feedback=fb)
    stack, transform, out_epsg, names = _read(out)

    # 1.2 km x 1.2 km at 10 m, on the patch's own UTM grid
    assert stack.shape == (10, 120, 120)
    assert (result.width, result.height) == (120, 120)
    assert out_epsg == epsg and 32600 < epsg < 32661  # UTM north, the patch's zone
    coords = meta["coordinates"]
    assert (transform.c, transform.f, transform.a, transform.e) == (
        coords["ulx"], coords["uly"], 10.0, -10.0,
    )  # fmt: skip
    assert names == list(SEN2_BANDS)  # So2Sat order, B01, B09 and B10 left out
    # BOA x 10000 without offset: no metadata file, said in a warning
    assert any("no MTD_MSIL2A.xml" in w for w in fb.warnings)
    r, c = 57, 83
    assert stack[0, r, c] == pytest.approx(b02[0, r, c] / 10000.0, rel=1e-6)  # B2, 10 m
    # B11 (20 m, stack band 9) resampled bilinearly onto the 10 m grid
    assert stack[8, r, c] == pytest.approx(_bilinear(b11[0], r, c) / 10000.0, rel=1e-4)
    # rural patches without clouds or edges: every pixel valid
    assert np.isfinite(stack).all() and (stack > 0).all()
