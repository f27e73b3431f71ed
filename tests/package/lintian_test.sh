#!/usr/bin/env bash
# Shows that lintian finds no error in the package (its warnings are printed;
# the ones that stay are explained in README "Install").
set -uo pipefail
deb=$(ls "$1"/cvgate_*.deb) || exit 1
if ! command -v lintian >/dev/null; then
  echo "SKIP: lintian is not installed (make -f Makefile.wrapper deps installs it)"
  exit 77
fi
lintian --fail-on error --info "$deb"
rc=$?
echo "lintian exit status $rc"
exit $rc
