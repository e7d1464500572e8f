#!/usr/bin/env bash
# Run `make test` in the Debian 13 root (QGIS 3.40 LTR, Python 3.13, numpy 2) that
# scripts/trixie_root.sh builds or reuses. The checkout's files (tracked and untracked, not
# the ignored ones: what a new user's clone has, plus work in progress) are copied to
# /srv/lcz in the root, whose `make setup` keeps its own .venv there between runs (the
# host's .venv is never touched). Prints the time the root and the suite took and the
# number of tests run; exits with the suite's status. /proc, /sys and /dev are unmounted
# on any exit.
#
#   scripts/test_trixie.sh [make target] (default: test), e.g. scripts/test_trixie.sh demo
#   PYTEST_ARGS='tests/plugin -x' scripts/test_trixie.sh
#   LCZ_TRIXIE_QGIS=backports PYTEST_ARGS='-m qgis' scripts/test_trixie.sh
#                                   the QGIS tests on QGIS 3.44 (trixie-backports' root)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/trixie_root.sh
source scripts/trixie_root.sh

TARGET=${1:-test}
REPO=$(pwd)
ROOT=$LCZ_TRIXIE_ROOT
LOG=${LCZ_TRIXIE_LOG:-/tmp/lcz-trixie-$LCZ_TRIXIE_QGIS-$TARGET.log}

start=$SECONDS
trixie_root_ensure
root_s=$((SECONDS - start))

cleanup() { trixie_umount "$ROOT"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
trixie_mount "$ROOT"
# the real third-party files beside the checkout (../shared), read-only, where tests look
mkdir -p "$ROOT/srv/shared"
if [ -d "$REPO/../shared" ] && ! mountpoint -q "$ROOT/srv/shared"; then
  mount --bind "$REPO/../shared" "$ROOT/srv/shared" && mount -o remount,bind,ro "$ROOT/srv/shared"
fi
# a fresh copy of the checkout; the root's .venv (and its setup stamp) stays
mkdir -p "$ROOT/srv/lcz"
find "$ROOT/srv/lcz" -mindepth 1 -maxdepth 1 ! -name .venv -exec rm -rf {} +
git -C "$REPO" ls-files -z --cached --others --exclude-standard |
  (cd "$REPO" && xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh) |
  tar -C "$REPO" --null -T - -cf - | tar -C "$ROOT/srv/lcz" -xf -

start=$SECONDS
set +e
chroot "$ROOT" /usr/bin/env -i \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  HOME=/root LANG=C.UTF-8 TERM=dumb \
  QT_QPA_PLATFORM=offscreen TF_CPP_MIN_LOG_LEVEL=2 \
  PIP_CERT=/etc/lcz-host-ca.crt REQUESTS_CA_BUNDLE=/etc/lcz-host-ca.crt \
  PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=180 \
  PYTEST_ARGS="${PYTEST_ARGS:-}" LCZ_CROSS_DIR="${LCZ_CROSS_DIR:-}" \
  bash -c 'cd /srv/lcz && make "$1"' trixie "$TARGET" 2>&1 | tee "$LOG"
rc=${PIPESTATUS[0]}
set -e
suite_s=$((SECONDS - start))

summary=$(grep -E '^=+ .*(passed|failed|error).* in [0-9.]+s' "$LOG" | tail -n1 || true)
ran=$({ echo "$summary" | grep -oE '[0-9]+ (passed|failed|errors?)' || true; } | awk '{n += $1} END {print n + 0}')
echo "trixie ($LCZ_TRIXIE_QGIS): $(chroot "$ROOT" dpkg-query -W -f='QGIS ${Version}' qgis 2>/dev/null)"
echo "trixie: root ready in ${root_s} s; make $TARGET took ${suite_s} s (exit $rc)"
if [ -n "$summary" ]; then echo "trixie: $ran tests run ($summary)"; fi
exit "$rc"
