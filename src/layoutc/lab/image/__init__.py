"""What the lab boots: Debian kernels, initramfs images, the interpreters they ship."""
