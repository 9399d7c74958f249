"""What runs inside the guest: the observation stages and the crash cycle's stages."""
