# 41-crash-dtb (arm64): the device tree arm.sh built for the crash kernel (kexec -p --dtb), for the host to read
emit crash-dtb /run/layoutc/crash.dtb
