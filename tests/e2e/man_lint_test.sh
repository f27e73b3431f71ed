#!/usr/bin/env bash
# Shows that every man page is clean under mandoc's linter: `mandoc -Tlint`
# reports nothing (no style, warning or error message) for man/*.1.
set -uo pipefail
src=$1
command -v mandoc >/dev/null || { echo "FAIL: mandoc not installed (make -f Makefile.wrapper deps)"; exit 1; }
status=0
pages=0
for page in "$src"/man/*.1; do
  pages=$((pages + 1))
  out=$(mandoc -Tlint "$page" 2>&1)
  if [ -n "$out" ]; then
    echo "FAIL $(basename "$page"):"
    echo "$out"
    status=1
  fi
done
echo "checked $pages man pages"
[ "$pages" -ge 10 ] || { echo "FAIL: expected at least 10 man pages"; status=1; }
exit $status
