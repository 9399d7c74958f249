"""What runs inside the guest: ``/init`` and the observation stages.

``/init`` mounts the pseudo file systems, turns printk off the console (so kernel messages cannot interleave
with our frames), loads ``/lab/modules`` with ``insmod``, sources ``/lab/plan`` and runs every
``/lab/stages/*`` in name order, then prints ``LAYOUTC-DONE`` and powers off.

Stages print only machine-readable lines on the serial console:

* ``LAYOUTC-BEGIN <name>`` / base64 lines / ``LAYOUTC-END <name>``: a file's raw bytes;
* ``LAYOUTC-OBS {json}``: one observation the guest itself made (an offline test, a hotplug step);
* ``LAYOUTC-MISSING <name>``: a file that does not exist on this kernel.

Part 2 adds stages (``40-arm`` …) beside these; the numbering leaves room for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

INIT = r"""#!/bin/sh
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
dmesg -n 1
echo "LAYOUTC-START $(uname -r)"
while read -r ko; do
    insmod "$ko" 2>/tmp/insmod.err && continue
    err=$(tr -d '"\\' </tmp/insmod.err | head -c 200)
    echo "LAYOUTC-OBS {\"kind\":\"insmod\",\"module\":\"${ko##*/}\",\"error\":\"$err\"}"
done < /lab/modules
. /lab/plan
for stage in /lab/stages/*; do
    [ -f "$stage" ] && . "$stage"
done
echo "LAYOUTC-DONE"
sync
poweroff -f
"""

COMMON = r"""
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
    else tr -d '"\\\n' < "$1" | head -c 120
    fi
}
blocks() { # one line per memory block: index state node valid_zones
    for d in /sys/devices/system/memory/memory*; do
        n=${d##*memory}; node=-1
        for x in "$d"/node*; do [ -e "$x" ] && node=${x##*node}; done
        echo "$n $(cat "$d/state") $node $(cat "$d/valid_zones" 2>/dev/null | tr ' ' '/')"
    done > /tmp/blocks
    emit "$1" /tmp/blocks
}
"""

FACTS = r"""
emit cmdline /proc/cmdline
emit iomem /proc/iomem
emit zoneinfo /proc/zoneinfo
emit meminfo /proc/meminfo
emit block_size_bytes /sys/devices/system/memory/block_size_bytes
emit auto_online_blocks /sys/devices/system/memory/auto_online_blocks
emit kexec_crash_size /sys/kernel/kexec_crash_size
emit kexec_crash_cma_ranges /sys/kernel/kexec_crash_cma_ranges
blocks blocks-boot
LSMEM_COLUMNS=RANGE,SIZE,STATE,REMOVABLE,BLOCK,NODE,ZONES
lsmem -J -b -o "$LSMEM_COLUMNS" > /tmp/lsmem.json 2>/dev/null && emit lsmem.json /tmp/lsmem.json
lsmem -o "$LSMEM_COLUMNS" > /tmp/lsmem.txt 2>/dev/null && emit lsmem.txt /tmp/lsmem.txt
"""

OFFLINE = r"""
for b in $OFFLINE_BLOCKS; do
    d=/sys/devices/system/memory/memory$b
    if [ ! -e "$d/state" ]; then
        obs offline "\"block\":$b,\"offline\":\"absent\",\"online_movable\":\"skipped\",\"valid_zones\":\"\""
        continue
    fi
    vz=$(cat "$d/valid_zones" | tr ' ' '/')
    if echo offline > "$d/state" 2>/tmp/err; then off=ok; else off=$(errcode /tmp/err); fi
    on=skipped
    if [ "$off" = ok ]; then
        if echo online_movable > "$d/state" 2>/tmp/err; then on=ok; else on=$(errcode /tmp/err); fi
    fi
    obs offline "\"block\":$b,\"offline\":\"$off\",\"online_movable\":\"$on\",\"valid_zones\":\"$vz\""
done
"""

HOTPLUG = r"""
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
            > /tmp/ndctl.out 2>&1
        rc=$?; emit ndctl-output /tmp/ndctl.out
        echo "LAYOUTC-OBS {\"kind\":\"hotplug\",\"step\":\"ndctl\",\"rc\":$rc,\"namespace\":\"$ns\"}"
        dax=$(tr -d ' \n' < /tmp/ndctl.out | sed -n 's/.*"chardev":"\(dax[0-9.]*\)".*/\1/p')
        mom=/sys/bus/dax/devices/$dax/memmap_on_memory
        [ -w "$mom" ] && echo 0 > "$mom"
        daxctl reconfigure-device --mode=system-ram "$dax" > /tmp/daxctl.out 2>&1
        rc=$?; emit daxctl-output /tmp/daxctl.out
        echo "LAYOUTC-OBS {\"kind\":\"hotplug\",\"step\":\"daxctl\",\"rc\":$rc,\"device\":\"$dax\"}"
    fi
    emit iomem-hotplug /proc/iomem
    emit meminfo-hotplug /proc/meminfo
    blocks blocks-hotplug
fi
"""

FINAL = r"""
emit meminfo-final /proc/meminfo
dmesg > /tmp/dmesg
emit dmesg /tmp/dmesg
"""


@dataclass(frozen=True, slots=True)
class GuestPlan:
    """Host-computed instructions for the guest."""

    offline_blocks: tuple[int, ...] = ()
    hotplug_start: int | None = None
    hotplug_map: str = "mem"
    hotplug_align: str = "2M"

    def render(self) -> str:
        start = f"{self.hotplug_start:#x}" if self.hotplug_start is not None else ""
        return (
            f"OFFLINE_BLOCKS='{' '.join(str(b) for b in self.offline_blocks)}'\n"
            f"HOTPLUG_START='{start}'\nHOTPLUG_MAP='{self.hotplug_map}'\nHOTPLUG_ALIGN='{self.hotplug_align}'\n"
        )


def stages(plan: GuestPlan, *, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The stage scripts for ``plan``; ``extra`` (the crash cycle) adds or replaces stages by name."""
    table = {
        "00-common": COMMON,
        "10-facts": FACTS,
        "20-offline": OFFLINE if plan.offline_blocks else "",
        "30-hotplug": HOTPLUG if plan.hotplug_start is not None else "",
        "90-final": FINAL,
    }
    table.update(extra or {})
    return {name: text for name, text in table.items() if text}


def lab_files(plan: GuestPlan) -> dict[str, bytes]:
    return {"lab/plan": plan.render().encode()}


def blocks_in(start: int, end: int, block_size: int) -> tuple[int, ...]:
    """Indices of every memory block that intersects ``[start, end)``."""
    if end <= start:
        return ()
    return tuple(range(start // block_size, (end - 1) // block_size + 1))
