"""Shared fixtures for the reproduction tests (``requires_bwrap`` is in tests/conftest.py)."""

import sys
from pathlib import Path

import pytest


@pytest.fixture
def base_python() -> Path:
    """The base interpreter (not the venv's): what a reproduction environment is built on."""
    return Path(getattr(sys, "_base_executable", sys.executable))


@pytest.fixture
def venv_python() -> Path:
    """The test venv's own python, at its own (symlinked) path, as an environment's venv would be."""
    return Path(sys.prefix) / "bin" / "python"
