"""One GDAL and one HDF5 library per process (two of either have crashed QGIS,
qgis/QGIS#29878).

The libraries a process really holds are read from ``/proc/<pid>/maps``: every mapped
file with its device and inode, so two names (symlinks) of one file count once and two
copies of one library (a wheel's ``libgdal-<hash>.so`` beside Debian's) count twice.
``qgis_process.bin`` is watched from outside while it classifies a raster, with a random
forest and with a Keras model (TensorFlow loaded); plain Python and a Python QGIS
application importing rasterio, h5py, GDAL and TensorFlow together are read from inside.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import QGIS_PROCESS, qgis_process_env

pytestmark = pytest.mark.qgis

# The core library of each family (not its wrappers: libhdf5_hl, libhdf5_cpp, ...).
# Debian: libgdal.so.32, libhdf5_serial.so.103; a wheel's bundled copy: libgdal-1a2b3c4d.so.34,
# libhdf5-5e6f7a8b.so.310 (auditwheel/delocate rename them with a hash).
CORE = {
    "GDAL": re.compile(r"^libgdal(-[0-9A-Za-z]+)?\.so"),
    "HDF5": re.compile(r"^libhdf5(_serial|_openmpi|_mpich)?(-[0-9A-Za-z]+)?\.so"),
}
DEBIAN_PY = "/usr/lib/python3/"


def mapped_files(maps_text: str) -> dict[tuple[str, str], str]:
    """The files mapped in a ``/proc/<pid>/maps`` text.

    Args:
        maps_text: the text of a maps file.

    Returns:
        ``{(device, inode): path}`` of every mapped file (anonymous mappings left out).
    """
    files = {}
    for line in maps_text.splitlines():
        f = line.split(None, 5)
        if len(f) == 6 and f[4] != "0" and f[5].startswith("/"):
            files[(f[3], f[4])] = f[5].removesuffix(" (deleted)")
    return files


def libraries(files: dict[tuple[str, str], str], family: str) -> list[str]:
    """The distinct files of one library family (``"GDAL"`` or ``"HDF5"``), by inode.

    Args:
        files: ``{(device, inode): path}`` as :func:`mapped_files` gives.
        family: a key of ``CORE``.

    Returns:
        The sorted real paths, one per distinct file.
    """
    return sorted(
        os.path.realpath(p) for p in files.values() if CORE[family].match(os.path.basename(p))
    )


def _processes(pid: int) -> list[int]:
    """``pid`` and all its descendants still alive."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo += [int(c) for c in fh.read().split()]
        except OSError:
            pass
    return out


def watch(cmd: list[str], env: dict, output: Path, timeout: float = 300) -> dict:
    """Run ``cmd`` and read the maps of it and its children every 20 ms until it exits.

    Args:
        cmd: the command line.
        env: its environment.
        output: the output raster it writes; while one of the processes holds a staged
            temporary of it open (``<name>.lcz-partial-*``), it is predicting.
        timeout: seconds before it is killed.

    Returns:
        ``files`` (the union of the mapped files), ``predicting`` (the mapped files of
        the snapshots taken while predicting), ``polls``, ``returncode`` and ``log``.
    """
    log_path = output.with_name(output.name + ".log")
    files: dict = {}
    predicting: dict = {}
    polls = 0
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        t_end = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < t_end:
            for pid in _processes(proc.pid):
                try:
                    with open(f"/proc/{pid}/maps") as fh:
                        snap = mapped_files(fh.read())
                    fds = []
                    for fd in os.listdir(f"/proc/{pid}/fd"):
                        try:
                            fds.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
                        except OSError:
                            pass
                except OSError:  # the process has just exited
                    continue
                files |= snap
                prefix = str(output) + ".lcz-partial-"
                if any(fd.startswith(prefix) for fd in fds):
                    predicting |= snap
            polls += 1
            time.sleep(0.02)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    return {
        "files": files,
        "predicting": predicting,
        "polls": polls,
        "returncode": proc.returncode,
        "log": log_path.read_text(),
    }


def _assert_one_gdal_one_hdf5(files: dict, where: str) -> dict:
    found = {family: libraries(files, family) for family in CORE}
    assert len(found["GDAL"]) == 1, f"{where}: GDAL libraries {found['GDAL']}"
    assert len(found["HDF5"]) == 1, f"{where}: HDF5 libraries {found['HDF5']}"
    # rasterio, when loaded, is Debian's, on that same libgdal
    rio = [p for p in files.values() if "/rasterio/" in p or "rasterio.libs" in p]
    assert all(p.startswith(DEBIAN_PY) for p in rio), f"{where}: rasterio from {rio}"
    print(f"{where}: {found['GDAL'][0]}, {found['HDF5'][0]}, rasterio mapped: {bool(rio)}")
    return found


def _this_process_libraries() -> dict:
    import rasterio  # noqa: F401  (its extensions link Debian's libgdal)
    from osgeo import gdal  # noqa: F401

    with open("/proc/self/maps") as fh:
        files = mapped_files(fh.read())
    return {family: libraries(files, family) for family in CORE}


@pytest.fixture(scope="module")
def keras_model(tmp_path_factory) -> Path:
    """A tiny MLP .lczmodel on the 10 Sentinel-2 channels."""
    pytest.importorskip("tensorflow")
    from lcz_qgis.models import mlp
    from lcz_qgis.models.modelfile import new_manifest, save_keras_model

    path = tmp_path_factory.mktemp("one_gdal") / "mlp.lczmodel"
    manifest = new_manifest(
        "mlp_simple",
        "keras",
        "sen2",
        list(range(10)),
        preprocessing=[{"type": "standardize", "mean": [0.1] * 10, "std": [0.05] * 10}],
    )
    return save_keras_model(path, mlp.build((32, 32, 10), 17, variant="simple"), manifest)


def test_the_counter_sees_a_second_copy_and_not_a_second_name():
    """A wheel's bundled libgdal/libhdf5 counts as a second library; a symlink to the same
    file, libhdf5_hl and GDAL's plugins do not."""
    maps = "\n".join(
        [
            "7f00-7f01 r--p 00000000 fe:00 11 /usr/lib/x86_64-linux-gnu/libgdal.so.32.3.6.2",
            "7f01-7f02 r-xp 00001000 fe:00 11 /usr/lib/x86_64-linux-gnu/libgdal.so.32.3.6.2",
            "7f02-7f03 r--p 00000000 fe:00 12 /usr/lib/x86_64-linux-gnu/libhdf5_serial.so.103",
            "7f03-7f04 r--p 00000000 fe:00 13 /usr/lib/x86_64-linux-gnu/libhdf5_serial_hl.so.100",
            "7f04-7f05 r--p 00000000 fe:00 14 /usr/lib/x86_64-linux-gnu/gdalplugins/gdal_HDF4.so",
            "7f05-7f06 rw-p 00000000 00:00 0 ",
            "7f06-7f07 r--p 00000000 fe:00 15 /venv/site-packages/h5py.libs/libhdf5-9f3c2a1b.so.310",
            "7f07-7f08 r--p 00000000 fe:00 16 /venv/site-packages/h5py.libs/libhdf5_hl-0a1b2c3d.so.310",
        ]
    )
    files = mapped_files(maps)
    assert len(files) == 6
    assert len(libraries(files, "GDAL")) == 1
    hdf5 = libraries(files, "HDF5")
    assert len(hdf5) == 2 and "/h5py.libs/libhdf5-9f3c2a1b.so.310" in hdf5[1], hdf5
    wheel = "7f08-7f09 r--p 00000000 fe:00 17 /venv/rasterio.libs/libgdal-1a2b3c4d.so.34.3.8.5"
    assert len(libraries(mapped_files(maps + "\n" + wheel), "GDAL")) == 2
    with pytest.raises(AssertionError, match="GDAL libraries"):
        _assert_one_gdal_one_hdf5(mapped_files(maps + "\n" + wheel), "two")


def test_a_second_copy_loaded_in_a_real_process_is_seen(tmp_path):
    """A copy of Debian's libgdal loaded beside osgeo's (as a wheel would bring one) shows
    up in /proc/<pid>/maps as a second GDAL library."""
    code = f"""
import ctypes, shutil
from osgeo import gdal
lib = [l.split()[-1] for l in open("/proc/self/maps") if "/libgdal.so" in l][0]
ctypes.CDLL(shutil.copy(lib, {str(tmp_path / "libgdal-0123abcd.so.32")!r}))
print(open("/proc/self/maps").read())
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    gdals = libraries(mapped_files(r.stdout), "GDAL")
    assert len(gdals) == 2 and any(g.startswith(str(tmp_path)) for g in gdals), gdals


# keras: the network on TensorFlow; onnx: the same file on ONNX Runtime (auto)
@pytest.mark.parametrize("kind", ["rf", "keras", "onnx"])
def test_qgis_process_classify_holds_one_gdal_and_one_hdf5(
    kind, request, qgis_profile, sample_dir, tmp_path
):
    if not os.path.exists(QGIS_PROCESS):
        pytest.skip("qgis_process.bin is not installed")
    model = request.getfixturevalue("rf_model" if kind == "rf" else "keras_model")
    out = tmp_path / f"{kind}_map.tif"
    run = watch(
        [
            QGIS_PROCESS,
            "run",
            "lcz:classifyraster",
            "--",
            f"MODEL={model}",
            f"SENTINEL2={sample_dir / 'scene_s2.tif'}",
            "STRIDE=8",  # ~3600 windows: the prediction lasts long enough to be seen
            f"RUNTIME={'onnx' if kind == 'onnx' else 'tensorflow'}",
            f"OUTPUT={out}",
        ],
        qgis_process_env(qgis_profile),
        out,
    )
    assert run["returncode"] == 0, run["log"][-3000:]
    assert out.exists() and not list(tmp_path.glob("*.lcz-partial-*"))
    # the watch saw the process while it predicted, with the model's library loaded
    assert run["predicting"], f"no snapshot while predicting ({run['polls']} polls)"
    model_lib = {"rf": "sklearn/tree/_tree", "keras": "libtensorflow_framework",
                 "onnx": "onnxruntime_pybind11_state"}[kind]  # fmt: skip
    assert any(model_lib in p for p in run["predicting"].values()), model_lib
    found = _assert_one_gdal_one_hdf5(run["files"], f"qgis_process ({kind})")
    # the classification read and wrote through rasterio (raster.io), on that one libgdal
    assert any("/rasterio/" in p for p in run["files"].values()), "rasterio not loaded"
    # and they are the files this Python process (osgeo, rasterio) maps
    assert found == _this_process_libraries()


def test_plain_python_with_everything_imported_holds_one_gdal_and_one_hdf5(sample_dir):
    pytest.importorskip("tensorflow")  # "everything" includes it (no wheel for Python 3.14)
    code = f"""
import json
import lcz_qgis, rasterio, h5py, tensorflow
from osgeo import gdal
with rasterio.open({str(sample_dir / "scene_s2.tif")!r}) as src:
    band = src.read(1)
ds = gdal.Open({str(sample_dir / "scene_s2.tif")!r})
same = bool((ds.GetRasterBand(1).ReadAsArray() == band).all())
with h5py.File({str(sample_dir / "test.h5")!r}, "r") as f:
    n = f["label"].shape[0]
tensorflow.constant([1.0]).numpy()
print(json.dumps(dict(maps=open("/proc/self/maps").read(), same=same, n=n,
    rio=rasterio.__file__, rio_gdal=rasterio.__gdal_version__, gdal=gdal.__version__)))
"""
    got = _run_python(code)
    assert got["same"] and got["n"] > 0
    assert got["rio"].startswith(DEBIAN_PY), got["rio"]  # Debian's python3-rasterio
    assert got["rio_gdal"] == got["gdal"]
    files = mapped_files(got["maps"])
    assert any("/rasterio/" in p for p in files.values())
    assert any("libtensorflow_framework" in p for p in files.values())
    _assert_one_gdal_one_hdf5(files, "python")


def test_qgis_application_with_rasterio_h5py_and_tensorflow_holds_one_gdal_and_one_hdf5(
    qgis_profile, sample_dir, keras_model, tmp_path
):
    """In a QGIS Python process that has rasterio, h5py and TensorFlow loaded, a Keras
    classification through Processing, then rasterio and h5py reading its files."""
    plugins = qgis_profile / "profiles" / "default" / "python" / "plugins"
    out = tmp_path / "map.tif"
    code = f"""
import json, os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from qgis.core import QgsApplication
app = QgsApplication([], False)
app.initQgis()
sys.path.insert(0, "/usr/share/qgis/python/plugins")
sys.path.insert(0, {str(plugins)!r})
from processing.core.Processing import Processing
Processing.initialize()
import lcz_mapping
plugin = lcz_mapping.classFactory(None)
plugin.initProcessing()
import processing, h5py, rasterio, tensorflow
from osgeo import gdal
res = processing.run("lcz:classifyraster", {{"MODEL": {str(keras_model)!r},
    "SENTINEL2": {str(sample_dir / "scene_s2.tif")!r}, "STRIDE": 16, "OUTPUT": {str(out)!r}}})
with rasterio.open(res["OUTPUT"]) as src:
    a = src.read(1)
same = bool((gdal.Open(res["OUTPUT"]).ReadAsArray() == a).all())
with h5py.File({str(sample_dir / "test.h5")!r}, "r") as f:
    n = int(f["sen2"].shape[0])
print(json.dumps(dict(maps=open("/proc/self/maps").read(), same=same, n=n,
    max=int(a.max()), valid=float((a > 0).mean()))))
"""
    got = _run_python(code)
    assert got["same"] and got["n"] > 0
    assert 1 <= got["max"] <= 17 and got["valid"] > 0.8
    files = mapped_files(got["maps"])
    for lib in ("libqgis_core", "/rasterio/", "libtensorflow_framework", "/h5py/"):
        assert any(lib in p for p in files.values()), lib
    _assert_one_gdal_one_hdf5(files, "QGIS Python")


def test_rasterio_is_debians_on_qgis_gdal():
    import rasterio
    from osgeo import gdal

    assert rasterio.__file__.startswith(DEBIAN_PY), rasterio.__file__
    assert rasterio.__gdal_version__ == gdal.__version__


def _run_python(code: str) -> dict:
    """Run ``code`` in a new Python process; the JSON object its last line prints."""
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])
