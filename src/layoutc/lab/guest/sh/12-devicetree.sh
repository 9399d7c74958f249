# 12-devicetree (arm64): where the boot loader (QEMU's -kernel loader) put the initrd, from the DT /chosen node
emit dt-initrd-start /proc/device-tree/chosen/linux,initrd-start
emit dt-initrd-end /proc/device-tree/chosen/linux,initrd-end
