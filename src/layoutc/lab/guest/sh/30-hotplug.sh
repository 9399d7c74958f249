# 30-hotplug: the window's region (HOTPLUG_START) as devdax, then as system RAM
if [ -n "$HOTPLUG_START" ]; then
    echo offline > /sys/devices/system/memory/auto_online_blocks 2>/dev/null
    region=""
    for r in /sys/bus/nd/devices/region*; do
        [ -r "$r/resource" ] || continue
        [ $(( $(cat "$r/resource") )) -eq $(( HOTPLUG_START )) ] && region=$r
    done
    if [ -z "$region" ]; then
        echo "LAYOUTC-OBS {\"kind\":\"hotplug\",\"step\":\"region\",\"rc\":1}"
    else
        ns=""
        for n in "$region"/namespace*.0; do [ -e "$n" ] && ns=${n##*/}; done
        ndctl create-namespace --reconfig="$ns" -m devdax -f --map="$HOTPLUG_MAP" --align="$HOTPLUG_ALIGN" \
            > "$SCRATCH"/ndctl.out 2>&1
        rc=$?; emit ndctl-output "$SCRATCH"/ndctl.out
        echo "LAYOUTC-OBS {\"kind\":\"hotplug\",\"step\":\"ndctl\",\"rc\":$rc,\"namespace\":\"$ns\"}"
        dax=$(tr -d ' \n' < "$SCRATCH"/ndctl.out | sed -n 's/.*"chardev":"\(dax[0-9.]*\)".*/\1/p')
        mom=/sys/bus/dax/devices/$dax/memmap_on_memory
        [ -w "$mom" ] && echo 0 > "$mom"
        daxctl reconfigure-device --mode=system-ram "$dax" > "$SCRATCH"/daxctl.out 2>&1
        rc=$?; emit daxctl-output "$SCRATCH"/daxctl.out
        echo "LAYOUTC-OBS {\"kind\":\"hotplug\",\"step\":\"daxctl\",\"rc\":$rc,\"device\":\"$dax\"}"
    fi
    emit iomem-hotplug /proc/iomem
    emit meminfo-hotplug /proc/meminfo
    blocks blocks-hotplug
fi
