#!/bin/sh
# Fetch Debian sid's makedumpfile 1.7.8 (and sid's libc beside it) for the dumper's oracle tests
# (tests/dump: page classes of 6.12+ kernels, zstd). Nothing is installed; see the script for where.
set -eu
cd "$(dirname "$0")/../.."
if ! err=$(sh bench/dump/sid-makedumpfile.sh -v 2>&1 >/dev/null); then
    echo "warning: could not fetch sid's makedumpfile; the 1.7.8 oracle tests will be skipped" >&2
    printf '%s\n' "$err" | tail -n 3 | sed 's/^/  /' >&2
fi
