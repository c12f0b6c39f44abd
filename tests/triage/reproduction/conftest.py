"""Shared fixtures for the reproduction tests: the real bubblewrap, never a fake.

Without /usr/bin/bwrap the sandbox tests skip with a reason that says how to install it;
under CI=true a missing bubblewrap fails the run instead.
"""

import os
import sys
from pathlib import Path

import pytest

BWRAP = Path("/usr/bin/bwrap")


@pytest.fixture
def requires_bwrap():
    """Use as a fixture (or via ``pytestmark = pytest.mark.usefixtures("requires_bwrap")``)."""
    if not BWRAP.exists():
        message = "bubblewrap is missing: install it with `apt-get install -y bubblewrap`."
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def base_python() -> Path:
    """The base interpreter (not the venv's): what a reproduction environment is built on."""
    return Path(getattr(sys, "_base_executable", sys.executable))


@pytest.fixture
def venv_python() -> Path:
    """The test venv's own python, at its own (symlinked) path, as an environment's venv would be."""
    return Path(sys.prefix) / "bin" / "python"
