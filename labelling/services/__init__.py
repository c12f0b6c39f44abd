"""Writes: one function per use case. Import from the submodules."""
