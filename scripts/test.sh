#!/bin/sh
# Install everything the tests need, then run the whole test suite (lab tests included).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
sh scripts/bootstrap.sh --all
exec .venv/bin/python -m pytest "$@"
