"""Diagnostics as data: the type, the code catalogues and their document."""
