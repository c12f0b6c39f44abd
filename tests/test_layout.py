"""The layout rules of issue 9 (README, "Layout"): one package per feature in triage/, the same
module names in each, and no module reaching into another module's private names."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CODE = ["config", "labelling", "triage", "benchmarks"]
FEATURES = ["reports", "github", "crashes", "reproduction"]
LAYERS = {"services", "selectors", "views", "api", "tasks"}


def _modules():
    for top in CODE:
        for path in sorted((ROOT / top).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def test_no_prefix_families_in_triage():
    """`crash_services.py`, `github_views.py`... belong in their feature's package."""
    flat = [p.name for p in (ROOT / "triage").glob("*.py")]
    offenders = [name for name in flat if re.search(r"_(services|selectors|views|api|tasks)\.py$", name)]
    assert offenders == []
    assert not (ROOT / "triage" / "ingest").exists() and not (ROOT / "triage" / "api").exists()


@pytest.mark.parametrize("feature", FEATURES)
def test_each_feature_package_uses_the_same_layer_names(feature):
    package = ROOT / "triage" / feature
    modules = {p.stem for p in package.glob("*.py")}
    assert {"services", "selectors", "views", "api"} <= modules, f"triage/{feature}/ misses a layer"
    unexpected = {m for m in modules if re.search(r"_(services|selectors|views|api|tasks)$", m)}
    assert unexpected == set()


def _private_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    imported_modules: set[str] = set()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module != "__future__":
            for alias in node.names:
                local = alias.asname or alias.name
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    # a private helper module of benchmarks (benchmarks/_table.py) is the package's own
                    if not (node.module == "benchmarks" or (node.level == 0 and path.parent.name == "benchmarks")):
                        found.append(f"from {node.module} import {alias.name}")
                imported_modules.add(local)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                imported_modules.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in imported_modules
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and node.attr not in {"_meta", "_default_manager", "_base_manager"}  # Django's public API
        ):
            found.append(f"{node.value.id}.{node.attr}")
    return found


def test_no_module_uses_another_modules_private_names():
    offenders = {str(p.relative_to(ROOT)): names for p in _modules() if (names := _private_imports(p))}
    assert offenders == {}
