"""The 11 real Sentinel-2 products' metadata (``../shared/real/s2_metadata``: MTD files and
manifests only, no pixels) through prepare-s2's product reader.

Each product's real metadata files are copied, under the product's real folder name, into
a SAFE-like folder beside small band files written here (``helpers.make_safe``), so the
reader finds the metadata as it does in a real download; the radiometry it settles on is
then checked against what ESA documents: no offset before processing baseline 04.00,
BOA_ADD_OFFSET / RADIO_ADD_OFFSET -1000 for every band from 04.00, quantification 10000.
"""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
from helpers import ESA, band_file, make_safe

from lcz_qgis.common.feedback import Feedback
from lcz_qgis.raster.io import open_dataset
from lcz_qgis.sentinel.prepare_s2 import NODATA, find_product, prepare_sentinel2

METADATA = "real/s2_metadata"
# product folder -> (MTD file name, level, baseline, offset of every band; None: none)
PRODUCTS = {
    "S2A_MSIL1C_20200717T221941_R029_T01LAC_20200717T234135.SAFE": ("MTD_MSIL1C.xml", "L1C", "02.09", None),
    "S2A_MSIL1C_20210403T101021_N0300_R022_T33TUM_20210403T110551.SAFE": (None, "unknown", "", None),
    "S2A_MSIL1C_20210908T042701_N0301_R133_T46RER_20210908T070248.SAFE": ("MTD_MSIL1C.xml", "L1C", "03.01", None),
    "S2A_MSIL1C_20240101T102431_N0510_R065_T30NWM_20240101T122107.SAFE": ("MTD_MSIL1C.xml", "L1C", "05.10", -1000.0),
    "S2B_MSIL1C_20230601T094549_N0509_R079_T34UDD_20230601T115221.SAFE": ("MTD_MSIL1C.xml", "L1C", "05.09", -1000.0),
    "S2A_MSIL2A_20180721T053721_N0212_R062_T43MDV_20201011T181419.SAFE": ("MTD_MSIL2a.xml", "L2A", "02.12", None),
    "S2A_MSIL2A_20190212T192651_N0212_R013_T07HFE_20201007T160857.SAFE": ("MTD_MSIL2A.xml", "L2A", "02.12", None),
    "esa_S2B_MSIL2A_20210122T133229_N0214_R081_T22HBD_20210122T155500.SAFE": ("MTD_MSIL2A.xml", "L2A", "02.14", None),
    "S2B_MSIL2A_20220413T150759_N0400_R025_T33XWJ_20220414T082126.SAFE": ("MTD_MSIL2A.xml", "L2A", "04.00", -1000.0),
    "S2A_MSIL2A_20230821T221941_N0509_R029_T01KAB_20230822T021825.SAFE": ("MTD_MSIL2A.xml", "L2A", "05.09", -1000.0),
    "S2B_MSIL2A_20231217T135659_N0510_R067_T21JUK_20231217T175625.SAFE": ("MTD_MSIL2A.xml", "L2A", "05.10", -1000.0),
}  # fmt: skip


class Recorder(Feedback):
    def __init__(self):
        super().__init__()
        self.warnings: list[str] = []

    def warning(self, message: str) -> None:
        self.warnings.append(message)


@pytest.fixture(scope="module")
def bands_only(tmp_path_factory):
    """A SAFE-like product's band files (32 x 32 px at 10 m) without its metadata."""
    safe = make_safe(tmp_path_factory.mktemp("bands"), size10=32)
    (safe / "MTD_MSIL2A.xml").unlink()
    return safe


def _with_real_metadata(shared_dir, bands_only, tmp_path, name):
    """The band files beside the real product's metadata, in a folder of its real name."""
    real = shared_dir / METADATA / name
    if not real.is_dir():
        pytest.skip(f"the real product metadata {METADATA}/{name} is not in ../shared")
    safe = tmp_path / name
    shutil.copytree(bands_only, safe)
    for f in real.rglob("*"):
        if f.is_file():
            (safe / f.relative_to(real)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(f, safe / f.relative_to(real))
    return safe


def test_the_table_covers_the_11_real_products(shared_dir):
    real = shared_dir / METADATA
    if not real.is_dir():
        pytest.skip(f"{METADATA} is not in ../shared")
    assert sorted(p.name for p in real.iterdir() if p.is_dir()) == sorted(PRODUCTS)


@pytest.mark.parametrize("name", sorted(PRODUCTS))
def test_real_metadata_gives_baseline_level_and_offsets(shared_dir, bands_only, tmp_path, name):
    mtd, level, baseline, offset = PRODUCTS[name]
    product = find_product(_with_real_metadata(shared_dir, bands_only, tmp_path, name))
    assert product.metadata_file == (mtd or "")  # MTD_MSIL2a.xml (lower-case a) is found
    assert product.level == level
    assert product.baseline == baseline
    n_field = re.search(r"_N(\d\d)(\d\d)_", name)
    if n_field and mtd:  # the MTD's baseline is the one in the product's name
        assert baseline == f"{n_field.group(1)}.{n_field.group(2)}"
    assert product.quantification == 10000.0
    if offset is None:  # before 04.00: no offset at all (0 is used)
        assert product.offsets == {}
    else:  # from 04.00: -1000 for each of the 13 bands, read from the file, no guess
        assert product.offsets == {b: offset for b in ESA}
    assert product.offset_note == "" and product.warnings == []


def _b02(path, row, col):
    with open_dataset(path) as ds:
        return ds.read(1)[row, col]


@pytest.mark.parametrize(
    "name",
    [
        "S2A_MSIL2A_20180721T053721_N0212_R062_T43MDV_20201011T181419.SAFE",
        "S2B_MSIL2A_20220413T150759_N0400_R025_T33XWJ_20220414T082126.SAFE",
        "S2A_MSIL1C_20200717T221941_R029_T01LAC_20200717T234135.SAFE",
    ],
)
def test_prepare_applies_the_real_offset_to_the_pixels(shared_dir, bands_only, tmp_path, name):
    offset = PRODUCTS[name][3] or 0.0
    safe = _with_real_metadata(shared_dir, bands_only, tmp_path, name)
    fb = Recorder()
    out = tmp_path / "stack.tif"
    prepare_sentinel2(safe, out, feedback=fb)
    assert not [w for w in fb.warnings if "offset" in w.lower()]
    dn = float(_b02(band_file(safe, "B02"), 20, 20))
    with open_dataset(out) as ds:
        got = ds.read(1)
    assert got[20, 20] == pytest.approx((dn + offset) / 10000.0, rel=1e-6)
    assert got[0, 0] == NODATA  # DN 0 stays nodata whatever the offset
    assert np.isfinite(got).all()


def test_manifest_only_product_warns_that_no_offset_is_known(shared_dir, bands_only, tmp_path):
    """Baseline 03.00 with its manifest only: no MTD file, so no offset, said in a warning."""
    name = "S2A_MSIL1C_20210403T101021_N0300_R022_T33TUM_20210403T110551.SAFE"
    safe = _with_real_metadata(shared_dir, bands_only, tmp_path, name)
    fb = Recorder()
    prepare_sentinel2(safe, tmp_path / "stack.tif", feedback=fb)
    assert any("no MTD_MSIL2A.xml / MTD_MSIL1C.xml found" in w for w in fb.warnings)
