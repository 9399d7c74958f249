# 20-offline: each window block (OFFLINE_BLOCKS) offline, then online_movable
for b in $OFFLINE_BLOCKS; do
    d=/sys/devices/system/memory/memory$b
    if [ ! -e "$d/state" ]; then
        obs offline "\"block\":$b,\"offline\":\"absent\",\"online_movable\":\"skipped\",\"valid_zones\":\"\""
        continue
    fi
    vz=$(tr ' ' '/' < "$d/valid_zones")
    if echo offline > "$d/state" 2>"$SCRATCH"/err; then off=ok; else off=$(errcode "$SCRATCH"/err); fi
    on=skipped
    if [ "$off" = ok ]; then
        if echo online_movable > "$d/state" 2>"$SCRATCH"/err; then on=ok; else on=$(errcode "$SCRATCH"/err); fi
    fi
    obs offline "\"block\":$b,\"offline\":\"$off\",\"online_movable\":\"$on\",\"valid_zones\":\"$vz\""
done
