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
    # h5py linked to the distribution's libhdf5 that GDAL uses (Debian's python3-h5py, or
    # built from source on it by make setup); not a wheel with its own copy
    import glob
    import os
    import subprocess

    import h5py
    from osgeo import gdal

    home = os.path.dirname(h5py.__file__)
    assert not glob.glob(os.path.join(home, "*.libs")) and not os.path.isdir(home + ".libs")
    ext = glob.glob(os.path.join(home, "**", "defs*.so"), recursive=True)
    linked = subprocess.run(["ldd", ext[0]], capture_output=True, text=True).stdout
    hdf5 = [line.split("=>")[-1].split()[0] for line in linked.splitlines() if "libhdf5" in line]
    assert hdf5 and all(p.startswith(("/usr/lib/", "/lib/")) for p in hdf5), (h5py.__file__, hdf5)
    assert gdal.GetDriverByName("HDF5") is not None
