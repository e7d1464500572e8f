#!/usr/bin/env bash
# The second test platform: a Debian 13 (trixie) root with QGIS 3.40 LTR, Python 3.13 and
# numpy 2, built once with debootstrap from Debian's archive and kept OUTSIDE the clone
# (default /var/cache/lcz-trixie-root) so later runs on the same machine reuse it. A second
# run with the same package list only checks a stamp and returns. Needs root (debootstrap,
# chroot, mount). scripts/test_trixie.sh sources this file for the chroot mount helpers.
#
#   scripts/trixie_root.sh            build or reuse the root; prints its path
#   LCZ_TRIXIE_ROOT=/elsewhere ...    another place for the root
#   LCZ_TRIXIE_MIRROR=http://...      another Debian mirror (default: the one apt uses here)
#   LCZ_TRIXIE_QGIS=backports ...     the third platform: QGIS from trixie-backports (3.44,
#                                     the latest release), in its own root (default
#                                     /var/cache/lcz-trixie-backports-root)
set -euo pipefail

LCZ_TRIXIE_QGIS=${LCZ_TRIXIE_QGIS:-trixie}
case $LCZ_TRIXIE_QGIS in
  trixie) LCZ_TRIXIE_ROOT=${LCZ_TRIXIE_ROOT:-/var/cache/lcz-trixie-root} ;;
  backports) LCZ_TRIXIE_ROOT=${LCZ_TRIXIE_ROOT:-/var/cache/lcz-trixie-backports-root} ;;
  *) echo "LCZ_TRIXIE_QGIS must be trixie or backports, not '$LCZ_TRIXIE_QGIS'" >&2; exit 2 ;;
esac
LCZ_TRIXIE_PACKAGES=(qgis python3-qgis qgis-providers python3-gdal python3-h5py python3-numpy
  python3-rasterio python3-sklearn python3-matplotlib python3-scipy python3-venv python3-cairo
  python3-pip gdal-bin zip make git ca-certificates)

# The Debian mirror this machine's apt already uses (deb.debian.org when none is found).
trixie_mirror() {
  if [ -n "${LCZ_TRIXIE_MIRROR:-}" ]; then
    echo "$LCZ_TRIXIE_MIRROR"
    return
  fi
  local url
  url=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
    grep -oE 'https?://[^ ]+/debian/?( |$)' | grep -v -- '-security' | head -n1 | tr -d ' ') || true
  echo "${url:-http://deb.debian.org/debian}"
}

# Mount /proc, /sys and /dev into the root (idempotent); trixie_umount undoes it.
trixie_mount() {
  local root=$1
  mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
  mountpoint -q "$root/sys" || mount -t sysfs sysfs "$root/sys"
  if ! mountpoint -q "$root/dev"; then
    mount --rbind /dev "$root/dev"
    mount --make-rslave "$root/dev"
  fi
  cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
  # The host's CA bundle (it may hold a proxy's CA) for pip inside the root.
  cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/lcz-host-ca.crt" 2>/dev/null || true
}

# Unmount everything below the root, deepest first; lazily when a mount is still busy.
trixie_umount() {
  local root=$1 m
  for m in $(awk -v r="$root/" 'index($2, r) == 1 {print $2}' /proc/self/mounts | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
}

trixie_stamp_want() {
  printf '%s\n' trixie "$(trixie_mirror)" "$LCZ_TRIXIE_QGIS" "${LCZ_TRIXIE_PACKAGES[@]}" |
    sha256sum | cut -c1-16
}

# Build the root when missing (into ROOT.partial, renamed when complete), install the
# packages, write the stamp. Returns at once when the stamp matches.
trixie_root_ensure() {
  local root=$LCZ_TRIXIE_ROOT want mirror start
  want=$(trixie_stamp_want)
  if [ -f "$root/.lcz-stamp" ] && [ "$(cat "$root/.lcz-stamp")" = "$want" ]; then
    echo "trixie root: $root (ready)"
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || { echo "trixie root: needs root (debootstrap, chroot)" >&2; return 1; }
  mirror=$(trixie_mirror)
  start=$SECONDS
  if [ ! -f "$root/.lcz-base" ]; then
    command -v debootstrap >/dev/null || {
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
    }
    echo "trixie root: debootstrap trixie from $mirror into $root"
    trixie_umount "$root.partial"
    rm -rf "$root.partial"
    mkdir -p "$(dirname "$root")"
    debootstrap --variant=minbase trixie "$root.partial" "$mirror" >/tmp/lcz-trixie-debootstrap.log 2>&1 ||
      { tail -20 /tmp/lcz-trixie-debootstrap.log >&2; return 1; }
    touch "$root.partial/.lcz-base"
    rm -rf "$root"
    mv "$root.partial" "$root"
  fi
  # trixie's own packages, or with backports' newer ones where it has them (QGIS 3.44),
  # as `apt install -t trixie-backports qgis` gives a Debian 13 user
  local target=trixie
  printf 'deb %s trixie main\ndeb %s trixie-updates main\n' "$mirror" "$mirror" \
    >"$root/etc/apt/sources.list"
  if [ "$LCZ_TRIXIE_QGIS" = backports ]; then
    target=trixie-backports
    printf 'deb %s trixie-backports main\n' "$mirror" >>"$root/etc/apt/sources.list"
  fi
  echo "trixie root: installing from $target: ${LCZ_TRIXIE_PACKAGES[*]}"
  trap 'trixie_umount "$root"' EXIT
  trixie_mount "$root"
  chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    bash -c 't=$1; shift; apt-get update -qq &&
      apt-get install -y -qq --no-install-recommends -t "$t" "$@" >/dev/null' \
    apt "$target" "${LCZ_TRIXIE_PACKAGES[@]}"
  chroot "$root" apt-get clean
  trixie_umount "$root"
  trap - EXIT
  echo "$want" >"$root/.lcz-stamp"
  echo "trixie root: $root built in $((SECONDS - start)) s"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  trixie_root_ensure
fi
