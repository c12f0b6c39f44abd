"""Reads that are reused. Import from the submodules."""
