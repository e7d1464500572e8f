"""Reading So2Sat LCZ42 files (So2SatFile): rows in any order, bands, fusion, chunked files,
and the problems it names."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from lcz_qgis.common.errors import LczError
from lcz_qgis.so2sat.file import So2SatFile


def _write(
    path,
    n=12,
    sen2=True,
    sen1=True,
    label=True,
    sen2_shape=(32, 32, 10),
    onehot=True,
    label_n=None,
    **ds_kwargs,
):
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        if sen1:
            f.create_dataset("sen1", data=rng.random((n, 32, 32, 8)), **ds_kwargs)
        if sen2:
            f.create_dataset("sen2", data=rng.random((n, *sen2_shape)), **ds_kwargs)
        if label:
            codes = np.arange(n) % 17
            lab = np.eye(17)[codes][: label_n or n]
            if not onehot:
                lab[0, :2] = 0.5
            f.create_dataset("label", data=lab)
    return path


def test_reader_reads_batches_in_any_order(tmp_path):
    p = _write(tmp_path / "a.h5", n=20)
    with h5py.File(p) as f:
        raw = f["sen2"][()]
    with So2SatFile(p) as f:
        x = f.read("sen2", [7, 2, 3, 2])
        assert x.dtype == np.float32 and x.shape == (4, 32, 32, 10)
        np.testing.assert_allclose(x, raw[[7, 2, 3, 2]].astype(np.float32))
        assert f.labels([0, 5, 16]).tolist() == [1, 6, 17]
        y = f.read("sen2", [1, 2], bands=[2, 6])
        np.testing.assert_allclose(y, raw[[1, 2]][..., [2, 6]].astype(np.float32))
        fu = f.read("fusion", [3])
        assert fu.shape == (1, 32, 32, 18)
        # sorted runs: 3 rows of 10 float64 channels read, not the file
        assert f.bytes_read < 20 * 32 * 32 * 18 * 8


def test_reader_works_on_chunked_compressed_files(tmp_path):
    p = _write(tmp_path / "c.h5", chunks=(4, 32, 32, 1), compression="gzip")
    with So2SatFile(p) as f:
        assert f.read("sen1", [0, 11]).shape == (2, 32, 32, 8)
        assert len(f.labels()) == 12


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"sen2": False, "sen1": False}, "missing dataset"),
        ({"label": False}, "missing dataset(s) label"),
        ({"sen2_shape": (32, 32, 9)}, "expected (N, 32, 32, 10)"),
        ({"label_n": 10}, "'label' has 10 rows but the images have 12"),
    ],
)
def test_reader_names_the_problem(tmp_path, kwargs, message):
    p = _write(tmp_path / "bad.h5", **kwargs)
    with pytest.raises(LczError, match=message.replace("(", r"\(").replace(")", r"\)")):
        So2SatFile(p)


def test_reader_rejects_labels_that_are_not_one_hot(tmp_path):
    p = _write(tmp_path / "nh.h5", onehot=False)
    with So2SatFile(p) as f, pytest.raises(LczError, match="not one-hot"):
        f.labels()


def test_reader_rejects_missing_and_unreadable_files(tmp_path):
    with pytest.raises(LczError, match="does not exist"):
        So2SatFile(tmp_path / "nope.h5")
    bad = tmp_path / "text.h5"
    bad.write_text("not hdf5")
    with pytest.raises(LczError, match="cannot read"):
        So2SatFile(bad)


def test_reader_rejects_sen2_request_on_a_sen1_only_file(tmp_path):
    p = _write(tmp_path / "s1.h5", sen2=False)
    with So2SatFile(p) as f, pytest.raises(LczError, match="no 'sen2' data"):
        f.read("sen2", [0])
    with So2SatFile(p) as f, pytest.raises(LczError, match="out of range"):
        f.read("sen1", [12])
