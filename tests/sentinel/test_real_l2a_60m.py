"""A real, incomplete L2A product (``../shared/real/s2_safe/…T29UNU….SAFE``, baseline 04.00):
only its 60 m band files (JP2) and SCL are there, the 10 m and 20 m files are missing.
prepare-s2 refuses it in one line naming the missing 10 m and 20 m bands, in the API,
the CLI and QGIS, and writes nothing."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import REPO

from lcz_qgis.common.errors import LczError
from lcz_qgis.sentinel.prepare_s2 import Product, _read_metadata, prepare_sentinel2

SAFE = "real/s2_safe/S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454.SAFE"
MISSING_10M = "at 10 m: B02, B03, B04, B08"
MISSING_20M = "at 20 m: B05, B06, B07, B8A, B11, B12"


@pytest.fixture(scope="module")
def safe(shared_dir):
    path = shared_dir / SAFE
    if not path.is_dir():
        pytest.skip(f"the real product {SAFE} is not in ../shared")
    return path


def test_the_product_holds_60m_bands_only(safe):
    """What the tests rely on: R60m only (B08 has no 60 m file), baseline 04.00, -1000."""
    img = next(safe.glob("GRANULE/*/IMG_DATA"))
    assert [p.name for p in img.iterdir()] == ["R60m"]
    assert not list(img.glob("R60m/*_B08_*"))
    product = Product(files={})
    _read_metadata((safe / "MTD_MSIL2A.xml").read_bytes(), product, "MTD_MSIL2A.xml")
    assert product.baseline == "04.00" and set(product.offsets.values()) == {-1000.0}


def test_prepare_refuses_it_naming_the_missing_10m_and_20m_bands(safe, tmp_path):
    out = tmp_path / "stack.tif"
    with pytest.raises(LczError) as e:
        prepare_sentinel2(safe, out)
    msg = str(e.value)
    assert MISSING_10M in msg and MISSING_20M in msg, msg
    assert "only at 60 m" in msg and "\n" not in msg
    assert list(tmp_path.iterdir()) == []


def test_an_existing_output_is_kept_byte_identical(safe, tmp_path):
    out = tmp_path / "stack.tif"
    out.write_bytes(b"an earlier stack")
    with pytest.raises(LczError, match="only at 60 m"):
        prepare_sentinel2(safe / "MTD_MSIL2A.xml", out)  # the MTD file picked in a dialog
    assert out.read_bytes() == b"an earlier stack"
    assert [p.name for p in tmp_path.iterdir()] == ["stack.tif"]


def test_cli_refuses_it_in_one_line(safe, tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "lcz_qgis", "prepare-s2", "--input", str(safe),
         "--output", str(tmp_path / "stack.tif")],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lcz prepare-s2: error:")
    assert MISSING_10M in lines[0] and MISSING_20M in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_qgis_refuses_it_with_the_same_message(safe, tmp_path, run_alg):
    from qgis.core import QgsProcessingException

    out = tmp_path / "stack.tif"
    with pytest.raises(QgsProcessingException) as e:
        run_alg("lcz:preparesentinel2", {"INPUT": str(safe / "MTD_MSIL2A.xml"), "OUTPUT": str(out)})
    assert MISSING_10M in str(e.value) and MISSING_20M in str(e.value)
    assert list(tmp_path.iterdir()) == []
