#!/usr/bin/env bash
# Idempotent set-up: Debian packages (QGIS, GDAL, scientific Python) when missing,
# then .venv on Debian's /usr/bin/python3 with the pinned pip packages and the core
# installed in editable mode (so `.venv/bin/lcz` exists). A second run with nothing
# changed only checks a stamp and returns.
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
STAMP=.venv/.setup-stamp
want=$(cat constraints.txt requirements.txt pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -x .venv/bin/lcz ]; then
  exit 0
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv on $PY (with Debian's site-packages, so QGIS and GDAL are visible)"
  "$PY" -m venv --system-site-packages .venv
fi
# One HDF5 library per process: GDAL (inside QGIS) links Debian's libhdf5, and pip's h5py
# wheel bundles another; with both loaded, h5py fails inside qgis_process ("Not a
# datatype", cf. qgis/QGIS#29878). So .venv uses Debian's python3-h5py, built on the same
# libhdf5 as GDAL. Debian registers it under another distribution name, so a
# metadata-only record tells pip that h5py (needed by TensorFlow) is present.
SITE=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
H5_VERSION=$(/usr/bin/python3 -c 'import h5py; print(h5py.__version__)')
if ls "$SITE"/h5py-*.dist-info/INSTALLER >/dev/null 2>&1 && ! grep -qx lcz-setup "$SITE"/h5py-*.dist-info/INSTALLER; then
  echo "setup: removing pip's h5py wheel (it bundles a second HDF5 library)"
  .venv/bin/pip uninstall -q -y h5py
fi
rm -rf "$SITE"/h5py-*.dist-info
mkdir -p "$SITE/h5py-$H5_VERSION.dist-info"
printf 'Metadata-Version: 2.1\nName: h5py\nVersion: %s\nSummary: Debian python3-h5py on the system HDF5 (the one GDAL and QGIS load), registered for pip by lcz setup\n' \
  "$H5_VERSION" > "$SITE/h5py-$H5_VERSION.dist-info/METADATA"
echo lcz-setup > "$SITE/h5py-$H5_VERSION.dist-info/INSTALLER"
: > "$SITE/h5py-$H5_VERSION.dist-info/RECORD"
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
.venv/bin/pip install -q --disable-pip-version-check -r requirements.txt -c constraints.txt
.venv/bin/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
.venv/bin/pip check
.venv/bin/python -c "import lcz_qgis, qgis.core, osgeo.gdal, tensorflow, sklearn, skops, dask, distributed" 2>/dev/null \
  || { echo "setup: the environment does not import; see the messages above" >&2; exit 1; }
.venv/bin/python -c "import h5py, sys; sys.exit(h5py.__file__.startswith('/usr/lib/python3/'))" \
  && { echo "setup: .venv's h5py is not Debian's (see above)" >&2; exit 1; }
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
