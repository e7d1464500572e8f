"""Composite given Sentinel-2 products as they come (issue 24, finding 5, and the .SAFE
message): a .SAFE folder or its zip is one date (composite reads a product itself, with
prepare-s2's reader); a folder named like a product but without its band files, and a
product's band files given one by one (QGIS's "Add Directory…" on a .SAFE folder) are
refused in one line that names the input and says what to give. Nothing is written."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from helpers import make_safe_date, zip_safe

from lcz_qgis.common.errors import LczError
from lcz_qgis.sentinel.composite import composite_sentinel2

CRAFTED = "S2B_MSIL2A_20230801T101559_N0509_R065_T32TPT_20230801T120000.SAFE"


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    """Two L2A products (.SAFE folders) of different dates."""
    root = tmp_path_factory.mktemp("safe_inputs")
    return [make_safe_date(root, "20230710", [(10, 10, 8)], seed=0),
            make_safe_date(root, "20230725", [(30, 30, 8)], seed=1)]  # fmt: skip


def test_a_safe_folder_and_a_zip_of_one_are_each_one_date(two, tmp_path):
    folders = composite_sentinel2(two, tmp_path / "folders.tif")
    zipped = composite_sentinel2([zip_safe(two[0], tmp_path / "a.zip"), two[1]],
                                 tmp_path / "zipped.tif")  # fmt: skip
    assert len(folders.dates) == len(zipped.dates) == 2
    with rasterio.open(tmp_path / "folders.tif") as a, rasterio.open(tmp_path / "zipped.tif") as b:
        x, y = a.read(), b.read()
    assert np.array_equal(x, y) and (x[:, 20:60, 20:60] > 0).all()


def test_a_folder_named_like_a_product_without_its_bands_is_named_in_one_line(two, tmp_path):
    crafted = tmp_path / CRAFTED
    crafted.mkdir()
    (crafted / "manifest.safe").write_text("<xfdu/>")
    out = tmp_path / "c.tif"
    with pytest.raises(LczError) as caught:
        composite_sentinel2([two[0], crafted], out)
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(f"input '{CRAFTED}' (a Sentinel-2 product folder): ")
    assert "lacks band(s) at 10 m: B02, B03, B04, B08" in text
    assert "a whole .SAFE folder or .zip" in text
    assert not list(tmp_path.glob("c*"))


def test_the_band_files_of_one_product_given_one_by_one_are_refused(two, tmp_path):
    files = sorted(str(f) for f in (two[0] / "GRANULE").rglob("*") if f.is_file())
    assert len(files) >= 11  # every band and SCL, as "Add Directory…" lists them
    with pytest.raises(LczError) as caught:
        composite_sentinel2(files, tmp_path / "c.tif")
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(f"input: {len(files)} inputs (")
    assert (
        f"are band files of one Sentinel-2 product ({two[0].name}), not {len(files)} dates" in text
    )
    assert "one input per date: each product whole (its .SAFE folder" in text
    assert not list(tmp_path.glob("c*"))


def test_band_files_outside_a_safe_folder_are_grouped_by_their_tile_and_time(two, tmp_path):
    loose = []
    for f in sorted((two[1] / "GRANULE").rglob("*_B0[2-4]_10m.*")):
        loose.append(tmp_path / f.name)
        loose[-1].write_bytes(f.read_bytes())
    tile_time = loose[0].name[:22]  # T32TPT_20230715T102559: the product's tile and time
    assert tile_time.startswith("T32TPT_") and len(loose) == 3
    with pytest.raises(LczError) as caught:
        composite_sentinel2([two[0], *loose], tmp_path / "c.tif")
    assert f"3 inputs ({loose[0].name}, " in str(caught.value)
    assert f"band files of one Sentinel-2 product ({tile_time}), not 3 dates" in str(caught.value)


def test_the_cli_says_it_in_one_line_with_exit_status_2(two, tmp_path, capsys):
    from lcz_qgis.cli import main

    files = sorted(str(f) for f in (two[0] / "GRANULE").rglob("*") if f.is_file())
    code = main(["composite-s2", "--input", *files, "--output", str(tmp_path / "c.tif")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("lcz composite-s2: error: ")
    assert "band files of one Sentinel-2 product" in err[0]
