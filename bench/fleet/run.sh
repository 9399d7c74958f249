#!/bin/sh
# Fleet benchmark: 200 generated profiles, one `layoutc compile DIR -o OUT`, wall time.
# Usage: sh bench/fleet/run.sh   (from the repository root; uses ./.venv if present)
set -eu
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"$PY" bench/fleet/generate.py "$WORK/profiles" 200
export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH}
LAYOUTC=${LAYOUTC:-$(dirname "$PY")/layoutc}
[ -x "$LAYOUTC" ] || LAYOUTC="$PY -m layoutc.cli.main"
start=$(date +%s.%N)
$LAYOUTC compile "$WORK/profiles" -o "$WORK/out"
end=$(date +%s.%N)
echo "fleet: 200 profiles compiled in $(echo "$end - $start" | bc) s (target < 5 s)"
find "$WORK/out" -type f | wc -l | sed 's/^/files written: /'
"$PY" bench/fleet/inprocess.py "$WORK/profiles"
