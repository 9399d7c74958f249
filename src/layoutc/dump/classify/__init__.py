"""Classifying pages: struct page scans, the dump level's classes, the byte budget."""
