#!/bin/sh
# Run Debian sid's makedumpfile (1.7.8: zstd with -z) on bookworm, with sid's own libc beside it.
# The packages are downloaded once into $SID_DIR with a private apt sources file; nothing is installed.
# The Debian mirror is the host's own (its apt sources, read by the lab's src/layoutc/lab/image/aptsources.py);
# $LAYOUTC_DEBIAN_MIRROR overrides it.
#   sh bench/dump/sid-makedumpfile.sh -v
set -eu
SID_DIR=${SID_DIR:-/var/tmp/layoutc-sid}
repo=$(cd "$(dirname "$0")/../.." && pwd)
if [ ! -x "$SID_DIR/mdf/usr/bin/makedumpfile" ]; then
    mkdir -p "$SID_DIR/lists/partial" "$SID_DIR/cache/archives/partial" "$SID_DIR/pkgs"
    # one line: deb [signed-by=...] MIRROR sid main (exits non-zero, saying why, when the host has no Debian mirror)
    line=$(python3 "$repo/src/layoutc/lab/image/aptsources.py" --line sid --key-dir "$SID_DIR")
    echo "$line" > "$SID_DIR/sources.list"
    apt_opts="-o Dir::Etc::SourceList=$SID_DIR/sources.list -o Dir::Etc::SourceParts=/dev/null"
    apt_opts="$apt_opts -o Dir::State::Lists=$SID_DIR/lists -o Dir::Cache=$SID_DIR/cache"
    # shellcheck disable=SC2086
    apt-get $apt_opts update -qq >&2
    # shellcheck disable=SC2086
    (cd "$SID_DIR/pkgs" && apt-get $apt_opts download makedumpfile libc6 >&2)
    dpkg-deb -x "$SID_DIR"/pkgs/libc6_*.deb "$SID_DIR/libc"
    dpkg-deb -x "$SID_DIR"/pkgs/makedumpfile_*.deb "$SID_DIR/mdf"
fi
lib="$SID_DIR/libc/usr/lib/x86_64-linux-gnu"
exec "$lib/ld-linux-x86-64.so.2" --library-path "$lib:/lib/x86_64-linux-gnu" "$SID_DIR/mdf/usr/bin/makedumpfile" "$@"
