#!/bin/sh
# The system's first boot, as an installer's last step (init= of a direct kernel boot): grub-install on the
# boot disk's MBR and update-grub (grub-mkconfig) from the root's own /etc/default/grub, then power off.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -o remount,rw /
dmesg -n 1
echo "LAYOUTC-START $(uname -r)"
mkdir -p /var/log/layoutc
grub-install --target=i386-pc /dev/vda > /var/log/layoutc/grub-install.log 2>&1
echo "LAYOUTC-OBS {\"kind\":\"grub-install\",\"rc\":$?}"
update-grub > /var/log/layoutc/update-grub.log 2>&1
echo "LAYOUTC-OBS {\"kind\":\"update-grub\",\"rc\":$?}"
for f in /var/log/layoutc/grub-install.log /var/log/layoutc/update-grub.log /boot/grub/grub.cfg; do
    echo "LAYOUTC-BEGIN ${f##*/}"; base64 < "$f"; echo "LAYOUTC-END ${f##*/}"
done
echo "LAYOUTC-DONE"
sync
mount -o remount,ro /
poweroff -f -f
