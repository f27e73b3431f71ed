#!/usr/bin/env bash
# Shows that `systemd-analyze verify` accepts the package's cvgate.service and
# cvgate.timer without a diagnostic. The machine has no /usr/bin/heartbeat, so
# the units are verified as copies whose ExecStart points into the unpacked
# tree, with that tree's man pages for their Documentation= pages.
set -uo pipefail
deb=$(ls "$1"/cvgate_*.deb) || exit 1
if ! command -v systemd-analyze >/dev/null; then
  echo "SKIP: systemd-analyze is not installed (Debian package systemd)"
  exit 77
fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
dpkg-deb -x "$deb" "$root/data" || exit 1
mkdir "$root/units"
units="$root/data/lib/systemd/system"
sed "s|^ExecStart=/usr/bin/|ExecStart=$root/data/usr/bin/|" "$units/cvgate.service" >"$root/units/cvgate.service"
cp "$units/cvgate.timer" "$root/units/"
grep -q "^ExecStart=$root/data/usr/bin/heartbeat" "$root/units/cvgate.service" \
  || { echo "FAIL: cvgate.service's ExecStart is not /usr/bin/heartbeat"; exit 1; }
out=$(MANPATH="$root/data/usr/share/man" systemd-analyze verify "$root/units/cvgate.service" "$root/units/cvgate.timer" 2>&1)
rc=$?
echo "systemd-analyze verify: exit $rc${out:+; }$out"
# Unknown keys and the like are only printed, with exit 0: any output fails.
[ "$rc" = 0 ] && [ -z "$out" ]
