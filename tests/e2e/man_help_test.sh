#!/usr/bin/env bash
# Shows that every tool's --help and its man page agree: each long option the
# tool accepts is documented in man/<tool>.1, the page has the standard
# sections, and --version answers.
set -uo pipefail
bin=$1 src=$2
status=0
tools=(cvgate-config train-model model-registry verify-env profile-latency eval-compliance
       check-integration simulate-rollback decide)
checked=0
for t in "${tools[@]}" heartbeat; do
  if [ "$t" = heartbeat ]; then exe="$src/tools/heartbeat"; else exe="$bin/$t"; fi
  [ -x "$exe" ] || continue
  page="$src/man/$t.1"
  if [ ! -f "$page" ]; then echo "FAIL $t: no man page $page"; status=1; continue; fi
  for s in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" FILES EXAMPLES "SEE ALSO"; do
    grep -q "^\.SH \"\?$s" "$page" || { echo "FAIL $t: man page lacks section $s"; status=1; }
  done
  help=$("$exe" --help 2>&1) || { echo "FAIL $t: --help exited non-zero"; status=1; }
  # Subcommand options count too.
  for sub in $(sed -n '/^Subcommands:/,/^$/p' <<<"$help" | awk 'NR>1 && NF {print $1}'); do
    help+=$'\n'$("$exe" "$sub" --help 2>&1)
  done
  opts=$(grep -oE -- '--[a-z][a-z0-9-]+' <<<"$help" | sort -u)
  for o in $opts; do
    # roff escapes '-' as '\-'.
    esc=${o//-/\\\\-}
    grep -qE -- "($o|$esc)" "$page" || { echo "FAIL $t: $o in --help but not in $page"; status=1; }
  done
  "$exe" --version >/dev/null 2>&1 || { echo "FAIL $t: --version"; status=1; }
  checked=$((checked + 1))
done
echo "checked $checked tools"
[ "$checked" -ge 3 ] || { echo "FAIL: too few tools built"; status=1; }
exit $status
