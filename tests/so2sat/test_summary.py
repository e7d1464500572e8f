"""So2Sat dataset summary (lcz_qgis.so2sat.summary, `lcz summary`)."""

from __future__ import annotations

import base64
import re

import h5py
import numpy as np
import pytest

from lcz_qgis.cli import main
from lcz_qgis.common.errors import LczError
from lcz_qgis.so2sat.summary import dataset_summary, summarize

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def h5file(tmp_path_factory):
    """3000 patches, LCZ 7 absent; chunked by patch like a real file is laid out by row."""
    path = tmp_path_factory.mktemp("summary") / "big.h5"
    rng = np.random.default_rng(0)
    n = 3000
    codes = rng.choice([c for c in range(1, 18) if c != 7], n)
    with h5py.File(path, "w") as f:
        f.create_dataset("sen2", (n, 32, 32, 10), dtype="f8", chunks=(1, 32, 32, 10))
        f.create_dataset("sen1", (n, 32, 32, 8), dtype="f8", chunks=(1, 32, 32, 8))
        for start in range(0, n, 500):
            k = min(500, n - start)
            f["sen2"][start : start + k] = rng.random((k, 32, 32, 10)) * 0.5
            f["sen1"][start : start + k] = rng.random((k, 32, 32, 8)) - 0.5
        f["label"] = np.eye(17)[codes - 1]
    return path, codes


def test_counts_shapes_and_sampled_band_stats(h5file):
    path, codes = h5file
    s = summarize(path, sample_size=40, seed=3)
    assert s.n == 3000
    assert s.shapes["sen2"] == ((3000, 32, 32, 10), "float64")
    assert s.shapes["label"] == ((3000, 17), "float64")
    np.testing.assert_array_equal(s.counts, np.bincount(codes, minlength=18)[1:])
    rows = s.class_rows()
    assert rows[6][:4] == (7, "7", "Lightweight low-rise", 0)
    assert rows[16][2] == "Water" and rows[16][4] == pytest.approx(100 * (codes == 17).mean())
    assert sum(r[4] for r in rows) == pytest.approx(100.0)
    # band statistics are those of exactly the seeded sample
    assert s.sample_indices.size == 40
    with h5py.File(path, "r") as f:
        x = f["sen2"][s.sample_indices.tolist()].astype(np.float32)
    b8 = s.band_stats["sen2"][6]
    assert b8.name == "B8"
    assert b8.minimum == pytest.approx(x[..., 6].min()) and b8.maximum == pytest.approx(
        x[..., 6].max()
    )
    assert b8.mean == pytest.approx(x[..., 6].mean(), rel=1e-5)
    assert [b.name for b in s.band_stats["sen1"]][4:6] == ["VH_intensity", "VV_intensity"]
    assert (
        summarize(path, sample_size=40, seed=3).sample_indices.tolist() == s.sample_indices.tolist()
    )
    assert (
        summarize(path, sample_size=40, seed=4).sample_indices.tolist() != s.sample_indices.tolist()
    )
    text = s.text()
    assert re.search(r"17\s+G\s+Water\s+\d+", text) and "total" in text


def test_reads_labels_and_the_sample_only(h5file):
    path, _ = h5file
    s = summarize(path, sample_size=25, seed=0)
    label_bytes = 3000 * 17 * 8
    per_patch = 32 * 32 * (10 + 8) * 8
    assert s.bytes_read <= label_bytes + 25 * per_patch
    assert s.bytes_read < 0.02 * s.file_size


def test_html_report_and_png(h5file, tmp_path):
    path, codes = h5file
    html, png = tmp_path / "r.html", tmp_path / "h.png"
    dataset_summary(path, output_html=html, output_png=png, sample_size=10)
    assert png.read_bytes().startswith(PNG_MAGIC)
    page = html.read_text()
    m = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)
    assert m and base64.b64decode(m.group(1)) == png.read_bytes()
    assert f"<td class='r'>{int((codes == 17).sum())}</td>" in page
    assert "#6a6aff" in page  # the water swatch in its LCZ colour
    assert "<th>band</th>" in page and "VV_intensity" in page


def test_file_without_labels(tmp_path):
    p = tmp_path / "nolabel.h5"
    with h5py.File(p, "w") as f:
        f["sen2"] = np.zeros((5, 32, 32, 10))
    s = summarize(p, sample_size=3)
    assert s.counts is None and s.band_stats["sen2"][0].maximum == 0.0
    with pytest.raises(LczError, match="no labels"):
        dataset_summary(p, output_png=tmp_path / "h.png")
    assert not (tmp_path / "h.png").exists()
    dataset_summary(p, output_html=tmp_path / "r.html")
    assert "no <code>label</code>" in (tmp_path / "r.html").read_text()


def test_cli_summary(h5file, tmp_path, capsys):
    path, _ = h5file
    assert (
        main(
            [
                "summary",
                "--input",
                str(path),
                "--sample-size",
                "5",
                "--output-png",
                str(tmp_path / "h.png"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "3000 patches" in out and "Heavy industry" in out
    assert (tmp_path / "h.png").exists()
    assert main(["summary", "--input", str(tmp_path / "missing.h5")]) == 2
    assert "does not exist" in capsys.readouterr().err
