#!/usr/bin/env bash
# Idempotent set-up: Debian packages (QGIS, GDAL, scientific Python) when missing,
# then .venv on Debian's /usr/bin/python3 with the pinned pip packages of this platform
# (constraints/*.txt, picked from the Python and numpy found: TensorFlow with Keras 3 on
# every platform) and the core installed in editable mode (so `.venv/bin/lcz` exists). A
# second run with nothing changed only checks a stamp and returns.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(qgis python3-qgis qgis-providers python3-gdal python3-h5py python3-numpy
  python3-rasterio python3-sklearn python3-matplotlib python3-scipy python3-venv python3-cairo
  gdal-bin zip)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=/usr/bin/python3
# Which pinned set: from the Python and numpy Debian gives (constraints/README.md).
read -r PY_VERSION NUMPY_MAJOR < <("$PY" -c 'import sys, numpy; print("%d.%d" % sys.version_info[:2], numpy.__version__.split(".")[0])')
case "$PY_VERSION/$NUMPY_MAJOR" in
  3.11/1) CONSTRAINTS=constraints/debian12-py311.txt ;;
  3.12/2 | 3.13/2) CONSTRAINTS=constraints/py312-313-numpy2.txt ;;
  *)
    echo "setup: no pinned package set for Python $PY_VERSION with numpy $NUMPY_MAJOR.x;" \
      "tested: Python 3.11 with numpy 1 (Debian 12), Python 3.12-3.13 with numpy 2 (Debian 13);" \
      "see constraints/README.md" >&2
    exit 1
    ;;
esac
STAMP=.venv/.setup-stamp
want=$(cat "$CONSTRAINTS" requirements.txt pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -x .venv/bin/lcz ]; then
  exit 0
fi
echo "setup: Python $PY_VERSION, numpy $NUMPY_MAJOR.x: pins from $CONSTRAINTS"

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv on $PY (with Debian's site-packages, so QGIS and GDAL are visible)"
  "$PY" -m venv --system-site-packages .venv
fi
# One HDF5 library per process: GDAL (inside QGIS) links Debian's libhdf5, and pip's h5py
# wheel bundles another; with both loaded, h5py fails inside qgis_process ("Not a
# datatype", cf. qgis/QGIS#29878). So .venv's h5py is always built on Debian's libhdf5:
# Debian's python3-h5py when it is the version the constraints pin (registered for pip
# under its own name by a metadata-only record, since Debian uses another distribution
# name), else h5py built from source against Debian's libhdf5 (libhdf5-dev), never the wheel.
SITE=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
H5_DEBIAN=$("$PY" -c 'import h5py; print(h5py.__version__)')
H5_PIN=$(sed -n 's/^h5py==//p' "$CONSTRAINTS")
h5py_installer() { cat "$SITE"/h5py-*.dist-info/INSTALLER 2>/dev/null || true; }
if [ "$H5_DEBIAN" = "$H5_PIN" ]; then
  if [ -n "$(h5py_installer)" ] && [ "$(h5py_installer)" != lcz-setup ]; then
    echo "setup: removing the h5py pip installed (Debian's python3-h5py $H5_DEBIAN is used)"
    .venv/bin/pip uninstall -q -y h5py
  fi
  rm -rf "$SITE"/h5py-*.dist-info
  mkdir -p "$SITE/h5py-$H5_DEBIAN.dist-info"
  printf 'Metadata-Version: 2.1\nName: h5py\nVersion: %s\nSummary: Debian python3-h5py on the system HDF5 (the one GDAL and QGIS load), registered for pip by lcz setup\n' \
    "$H5_DEBIAN" > "$SITE/h5py-$H5_DEBIAN.dist-info/METADATA"
  echo lcz-setup > "$SITE/h5py-$H5_DEBIAN.dist-info/INSTALLER"
  : > "$SITE/h5py-$H5_DEBIAN.dist-info/RECORD"
else
  [ "$(h5py_installer)" = lcz-setup ] && rm -rf "$SITE"/h5py-*.dist-info
  if [ "$(.venv/bin/python -c 'import h5py; print(h5py.__version__)' 2>/dev/null)" != "$H5_PIN" ] ||
    [ -d "$SITE/h5py.libs" ]; then
    build=()
    for p in libhdf5-dev python3-dev gcc; do
      dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || build+=("$p")
    done
    if [ ${#build[@]} -gt 0 ]; then
      echo "setup: installing what building h5py needs: ${build[*]}"
      SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
      $SUDO apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${build[@]}" >/dev/null
    fi
    echo "setup: building h5py $H5_PIN against Debian's libhdf5 (Debian's python3-h5py is" \
      "$H5_DEBIAN; about two minutes)"
    .venv/bin/pip uninstall -q -y h5py 2>/dev/null || true
    HDF5_DIR="/usr/lib/$(gcc -print-multiarch)/hdf5/serial" \
      .venv/bin/pip install -q --disable-pip-version-check --no-binary=h5py -c "$CONSTRAINTS" "h5py==$H5_PIN"
  fi
fi
# One GDAL library per process, likewise: pip's rasterio wheel bundles its own libgdal (and
# its newest release, with affine 3, fails on Debian's Python 3.11.2). .venv uses Debian's
# python3-rasterio, linked to the libgdal that QGIS loads; nothing asks pip for rasterio or
# affine, but a wheel of either put into .venv by hand would shadow Debian's, so remove it.
for dist in rasterio affine; do
  if ls "$SITE"/"$dist"-*.dist-info >/dev/null 2>&1; then
    echo "setup: removing pip's $dist wheel from .venv (Debian's python3-$dist is used)"
    .venv/bin/pip uninstall -q -y "$dist"
  fi
done

echo "setup: installing pinned Python packages into .venv"
.venv/bin/pip install -q --disable-pip-version-check --no-binary=h5py -r requirements.txt -c "$CONSTRAINTS"
.venv/bin/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
.venv/bin/pip check
.venv/bin/python -c "import lcz_qgis, qgis.core, osgeo.gdal, tensorflow, sklearn, skops, dask, distributed" 2>/dev/null \
  || { echo "setup: the environment does not import; see the messages above" >&2; exit 1; }
.venv/bin/python - <<'PYCHECK' || exit 1
import glob, os, subprocess, sys
import h5py
# h5py on Debian's libhdf5: Debian's python3-h5py, or the source build (no bundled libs)
home = os.path.dirname(h5py.__file__)
if os.path.isdir(home + ".libs") or glob.glob(os.path.join(home, "*.libs")):
    sys.exit(f"setup: .venv's h5py ({home}) is pip's wheel with its own HDF5 library (see above)")
ext = glob.glob(os.path.join(home, "**", "defs*.so"), recursive=True)  # Debian: h5py/_debian_h5py_serial/
libs = subprocess.run(["ldd", *ext[:1]], capture_output=True, text=True).stdout if ext else ""
hdf5 = [line.split("=>")[-1].split()[0] for line in libs.splitlines() if "libhdf5" in line]
if not hdf5 or not all(p.startswith(("/usr/lib/", "/lib/")) for p in hdf5):
    sys.exit(f"setup: .venv's h5py ({home}) does not link Debian's libhdf5 ({hdf5 or 'none found'})")
PYCHECK
.venv/bin/python - <<'PYCHECK' || exit 1
import sys
try:
    import affine, rasterio
    from osgeo import gdal
except ImportError as e:
    sys.exit(f"setup: .venv does not import rasterio ({e}); install Debian's python3-rasterio")
for mod in (rasterio, affine):
    if not mod.__file__.startswith("/usr/lib/python3/"):
        sys.exit(f"setup: .venv's {mod.__name__} is {mod.__file__}, not Debian's "
                 f"python3-{mod.__name__} (a pip wheel brings a second GDAL library; see above)")
if rasterio.__gdal_version__ != gdal.__version__:
    sys.exit(f"setup: rasterio is built on GDAL {rasterio.__gdal_version__}, "
             f"QGIS's osgeo.gdal is {gdal.__version__}: two GDAL libraries")
PYCHECK
echo "$want" > "$STAMP"
echo "setup: done (.venv/bin/lcz, .venv/bin/python)"
