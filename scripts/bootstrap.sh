#!/bin/sh
# Install layoutc into ./.venv on a fresh Debian machine (run as root, or with sudo for apt).
#   sh scripts/bootstrap.sh          runtime only
#   sh scripts/bootstrap.sh --all    runtime + every tool the test suite needs
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
all=0
[ "${1:-}" = "--all" ] && all=1

pkgs() { grep -v '^[[:space:]]*#' "$1" | grep -v '^[[:space:]]*$' | tr '\n' ' '; }

want=$(pkgs requirements/apt-base.txt)
[ "$all" = 1 ] && want="$want $(pkgs requirements/apt-test.txt)"
missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# Debian's interpreter, with its site-packages visible (python3-libkdumpfile is a Debian package).
if [ ! -x .venv/bin/python ]; then
    /usr/bin/python3 -m venv --system-site-packages .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
if [ "$all" = 1 ]; then
    .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
    extra=$(pkgs requirements/pip-test.txt)
    # shellcheck disable=SC2086
    [ -z "$extra" ] || .venv/bin/python -m pip install -q --disable-pip-version-check $extra
    for hook in scripts/setup.d/*.sh; do
        [ -f "$hook" ] && sh "$hook"
    done
else
    .venv/bin/python -m pip install -q --disable-pip-version-check .
fi

echo "layoutc is installed in .venv/bin; to call it as 'layoutc', run:"
echo "  export PATH=\"$PWD/.venv/bin:\$PATH\""
