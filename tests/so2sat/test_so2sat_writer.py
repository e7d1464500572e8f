"""Writing So2Sat files (so2sat.writer.create_so2sat): what it writes reads back through
So2SatFile, and bad codes or sensors are refused."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from lcz_qgis.so2sat.file import So2SatFile
from lcz_qgis.so2sat.writer import create_so2sat


def test_written_patches_and_rows_filled_later_read_back(tmp_path):
    rng = np.random.default_rng(0)
    sen2 = rng.random((3, 32, 32, 10)).astype(np.float32)
    sen1 = rng.random((3, 32, 32, 8))
    path = tmp_path / "w.h5"
    with h5py.File(path, "w") as f:
        made = create_so2sat(f, [17, 1, 5], {"sen2": sen2}, empty=("sen1",))
        assert list(made) == ["sen1"] and made["sen1"].dtype == np.float64
        made["sen1"][1:] = sen1[1:]
        made["sen1"][:1] = sen1[:1]
    with h5py.File(path) as f:
        assert f["sen2"].dtype == np.float32  # written as given
        assert f["label"].dtype == np.float64 and f["label"].shape == (3, 17)
    with So2SatFile(path) as f:
        assert f.labels().tolist() == [17, 1, 5]
        np.testing.assert_array_equal(f.read("sen2", [2, 0]), sen2[[2, 0]])
        np.testing.assert_allclose(f.read("sen1", [0, 1, 2]), sen1.astype(np.float32))


@pytest.mark.parametrize(
    "codes, patches, message",
    [
        ([0, 3], None, r"LCZ codes are 1..17: 0..3"),
        ([5, 18], None, r"LCZ codes are 1..17: 5..18"),
        ([1], {"fusion": np.zeros((1, 32, 32, 18))}, "holds sen1 and sen2 patches, not"),
    ],
)
def test_bad_codes_and_sensors_are_refused(tmp_path, codes, patches, message):
    with h5py.File(tmp_path / "bad.h5", "w") as f, pytest.raises(ValueError, match=message):
        create_so2sat(f, codes, patches)
