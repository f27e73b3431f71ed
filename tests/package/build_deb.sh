#!/usr/bin/env bash
# Builds the Debian package from the build tree as `make -f Makefile.wrapper
# package` does, into a directory of its own, for the package_* tests.
# Usage: build_deb.sh CPACK BUILD_DIR OUT_DIR
set -euo pipefail
cpack=$1 build=$2 out=$3
rm -rf "$out"
mkdir -p "$out"
started=$(date +%s)
if ! "$cpack" -G DEB --config "$build/CPackConfig.cmake" -B "$out" >"$out/cpack.log" 2>&1; then
  cat "$out/cpack.log"
  exit 1
fi
debs=("$out"/cvgate_*.deb)
[ ${#debs[@]} = 1 ] && [ -f "${debs[0]}" ] || { echo "FAIL: expected one cvgate_*.deb in $out"; ls -l "$out"; exit 1; }
echo "built ${debs[0]##*/} ($(du -h "${debs[0]}" | cut -f1)) in $(( $(date +%s) - started )) s"
