#!/usr/bin/env bash
# Shows that the package installs like a Debian tool: FHS layout, the config a
# conffile naming installed paths, man pages gzipped -n9, stripped binaries,
# the units and maintainer scripts, and Depends on what the binaries link and run.
set -uo pipefail
deb=$(ls "$1"/cvgate_*.deb) || exit 1
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
dpkg-deb -x "$deb" "$root/data" && dpkg-deb -e "$deb" "$root/control" || exit 1
status=0
fail() { echo "FAIL: $*"; status=1; }

tools=(cvgate-config train-model model-registry verify-env profile-latency eval-compliance
       check-integration simulate-rollback decide heartbeat)
for t in "${tools[@]}"; do
  [ -x "$root/data/usr/bin/$t" ] || fail "usr/bin/$t missing or not executable"
  [ -f "$root/data/usr/share/man/man1/$t.1.gz" ] || fail "usr/share/man/man1/$t.1.gz missing"
done
for f in etc/cvgate/cvgate.toml lib/systemd/system/cvgate.service lib/systemd/system/cvgate.timer \
         usr/share/cvgate/models/fashion-mlp-v1.pt usr/share/cvgate/models/fashion-cnn-v2.pt \
         usr/share/cvgate/schemas/cvgate.verdict.schema.json usr/share/cvgate/docs/checks.md \
         usr/share/doc/cvgate/copyright usr/share/doc/cvgate/changelog.Debian.gz; do
  [ -f "$root/data/$f" ] || fail "$f missing"
done
# Nothing outside the FHS places, no state shipped (postinst makes it).
extra=$(cd "$root/data" && find . -mindepth 1 -maxdepth 1 ! -name usr ! -name etc ! -name lib)
[ -z "$extra" ] || fail "unexpected top-level entries: $extra"
[ ! -e "$root/data/var" ] || fail "the package ships /var"

# gzip -n: no name (FLG bit 3) and a zero time stamp (bytes 4-7); -9: XFL 2.
for gz in "$root"/data/usr/share/man/man1/*.gz "$root/data/usr/share/doc/cvgate/changelog.Debian.gz"; do
  header=$(od -An -tx1 -N10 "$gz" | tr -d ' \n')
  flg=$((16#${header:6:2}))
  [ $((flg & 8)) = 0 ] || fail "${gz##*/}: gzip header stores the file name"
  [ "${header:8:8}" = 00000000 ] || fail "${gz##*/}: gzip header stores a time stamp"
  [ "${header:16:2}" = 02 ] || fail "${gz##*/}: not compressed with -9"
done

# Stripped: no symbol table, no debug information.
for t in "${tools[@]}"; do
  [ "$t" = heartbeat ] && continue
  sections=$(readelf -SW "$root/data/usr/bin/$t") || { fail "$t: not an ELF file"; continue; }
  grep -qE '\.symtab|\.debug_info' <<<"$sections" && fail "$t is not stripped"
done

conffiles=$(cat "$root/control/conffiles" 2>/dev/null)
[ "$conffiles" = /etc/cvgate/cvgate.toml ] || fail "conffiles is '$conffiles', expected /etc/cvgate/cvgate.toml"
for s in postinst prerm postrm; do
  [ -x "$root/control/$s" ] || fail "maintainer script $s missing"
done
grep -q 'adduser --system' "$root/control/postinst" || fail "postinst does not create the cvgate system user"
grep -v '^ *#' "$root/control/postinst" | grep -qE 'systemctl .*enable|deb-systemd-helper (enable|update-state)' \
  && fail "postinst enables a unit"

# The config names installed places, never the checkout's.
config="$root/data/etc/cvgate/cvgate.toml"
grep -q '^state_dir = "/var/lib/cvgate"' "$config" || fail "the config's state_dir is not /var/lib/cvgate"
grep -q '"\.\./' "$config" && fail "the config keeps a checkout's relative path: $(grep -n '"\.\./' "$config")"
grep -q '^ExecStart=/usr/bin/heartbeat$' "$root/data/lib/systemd/system/cvgate.service" \
  || fail "cvgate.service does not run /usr/bin/heartbeat"

depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
for p in libtorch libspdlog libfmt libssl3 zlib1g libpng16 libjpeg62-turbo libstdc++6 libc6 \
         libopenblas0-openmp jq util-linux coreutils dataset-fashion-mnist adduser; do
  [[ ", $depends" == *", $p"* ]] || fail "Depends lacks $p"
done
echo "checked $(dpkg-deb -c "$deb" | wc -l) entries of ${deb##*/}"
exit $status
