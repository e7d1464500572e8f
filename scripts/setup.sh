#!/usr/bin/env bash
# Idempotent set-up: Debian packages (QGIS, GDAL, scientific Python) when missing,
# then .venv on Debian's /usr/bin/python3 with the pinned pip packages and the core
# installed in editable mode (so `.venv/bin/lcz` exists). A second run with nothing
# changed only checks a stamp and returns.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(qgis python3-qgis qgis-providers python3-gdal python3-h5py python3-numpy
  python3-sklearn python3-matplotlib python3-scipy python3-venv python3-cairo gdal-bin zip)

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
echo "setup: installing pinned Python packages into .venv"
.venv/bin/pip install -q --disable-pip-version-check -r requirements.txt -c constraints.txt
.venv/bin/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
.venv/bin/pip check
.venv/bin/python -c "import lcz_qgis, qgis.core, osgeo.gdal, tensorflow, sklearn, skops" 2>/dev/null \
  || { echo "setup: the environment does not import; see the messages above" >&2; exit 1; }
echo "$want" > "$STAMP"
echo "setup: done (.venv/bin/lcz, .venv/bin/python)"
