# 00-common: the helpers every stage uses (emit, obs, errcode, blocks)
emit() { # emit NAME PATH: the file's bytes, base64-framed
    if [ -r "$2" ]; then
        echo "LAYOUTC-BEGIN $1"; base64 < "$2"; echo "LAYOUTC-END $1"
    else
        echo "LAYOUTC-MISSING $1"
    fi
}
obs() { # obs KIND 'json members': one observation line
    echo "LAYOUTC-OBS {\"kind\":\"$1\",$2}"
}
errcode() { # errcode FILE: the errno name a failed sysfs write left in FILE
    if grep -q 'busy' "$1"; then echo EBUSY
    elif grep -q 'Invalid argument' "$1"; then echo EINVAL
    elif grep -q 'No such' "$1"; then echo ENOENT
    elif grep -q 'not permitted' "$1"; then echo EPERM
    else tr -d '"\\\n' < "$1" | head -c 120
    fi
}
blocks() { # one line per memory block: index state node valid_zones
    for d in /sys/devices/system/memory/memory*; do
        n=${d##*memory}; node=-1
        for x in "$d"/node*; do [ -e "$x" ] && node=${x##*node}; done
        echo "$n $(cat "$d/state") $node $(tr ' ' '/' 2>/dev/null < "$d/valid_zones")"
    done > "$SCRATCH"/blocks
    emit "$1" "$SCRATCH"/blocks
}
run_status() { # run_status AT: layoutc status from the device zipapp, as a device without layoutc runs it
    if [ -x /usr/bin/python3 ] && [ -r /usr/lib/layoutc/layoutc-device.pyz ]; then
        PYTHONPATH=/usr/lib/layoutc/layoutc-device.pyz python3 -m layoutc.status --format json > "$SCRATCH"/status.json 2> "$SCRATCH"/status.err
        obs status "\"at\":\"$1\",\"rc\":$?"
        emit "status-$1" "$SCRATCH"/status.json
        emit "status-err-$1" "$SCRATCH"/status.err
    fi
}
