"""The writer: the only stage besides the loader that touches files."""
