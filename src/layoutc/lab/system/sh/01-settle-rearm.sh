# 01-settle-rearm (a Debian system guest): settle_rearm, for the stages that read the layout's units and
# /sys/kernel/kexec_crash_loaded (05-after-crash, 70-system, 95-crash).
# Memory blocks change state under the stages: the boot stage's probe (20-offline) takes the window's blocks
# offline and online again, and recover.sh returns the window as RAM. For each event udev starts
# layoutc-rearm.service (systemctl --no-block). A re-arm that finds a block the probe still holds offline
# refuses (arm.sh exit 12), and the unit stays failed until the re-arm the block's return queued has run; a
# re-arm replacing the crash image leaves kexec_crash_loaded 0 until the new one is in (the kernel frees the
# old image first: LNX:kernel/kexec.c do_kexec_load, LNX:kernel/kexec_file.c kexec_file_load, read in 6.6
# and in later trees).
# settle_rearm waits for udev's queue, then for no rearm job queued or running (up to 180 s), so that what a
# stage reads next is the layout's settled state; REARM_WAITED is the seconds it waited after udev.
settle_rearm() {
    udevadm settle --timeout=60 2>/dev/null || :
    REARM_WAITED=0
    while [ "$REARM_WAITED" -lt 180 ]; do
        if ! systemctl list-jobs --no-legend 2>/dev/null | grep -q 'layoutc-rearm\.service' &&
            [ "$(systemctl show -p ActiveState --value layoutc-rearm.service)" != activating ]; then
            break
        fi
        sleep 1
        REARM_WAITED=$((REARM_WAITED + 1))
    done
}
