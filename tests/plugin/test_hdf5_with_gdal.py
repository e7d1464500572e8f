"""One HDF5 library: h5py and GDAL share it, inside qgis_process too (qgis/QGIS#29878)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.qgis


def test_qgis_process_reads_hdf5_with_gdal_loaded(qgis_process, sample_dir, tmp_path):
    """h5py and GDAL share one HDF5 library inside qgis_process (cf. qgis/QGIS#29878):
    training reads the So2Sat file with h5py in the process where GDAL is loaded."""
    out = tmp_path / "qp_rf.lczmodel"
    r = qgis_process(
        "run",
        "lcz:trainmodel",
        "--",
        f"TRAIN={sample_dir / 'train.h5'}",
        "MODEL_TYPE=rf",
        "SENSOR=sen2",
        "MAX_SAMPLES=400",
        f"OUTPUT={out}",
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert out.exists()


def test_one_hdf5_library_in_the_environment():
    import h5py
    from osgeo import gdal

    # Debian's h5py, linked to the libhdf5 that GDAL uses; not a wheel with its own copy
    assert h5py.__file__.startswith("/usr/lib/python3/"), h5py.__file__
    assert gdal.GetDriverByName("HDF5") is not None
