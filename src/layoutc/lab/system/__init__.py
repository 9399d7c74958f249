"""``layoutc lab --system debian``: a Debian 12 system booted through GRUB BIOS to systemd (docs/lab.md)."""
