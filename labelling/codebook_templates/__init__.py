"""Codebook templates shipped with Bugsift: one JSON file per template in this folder.

A template is ``{slug, name, description, source, dimensions: [{code, name, kind, description,
required, max_choices, categories: [{code, name, definition, example, shortcut, children: [...]}]}]}``.
``study_create`` copies one into a study's own codebook; the study then evolves on its own.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from config.errors import ApplicationError

TEMPLATES_DIR = Path(__file__).resolve().parent


def _template_paths() -> dict[str, Path]:
    return {p.stem: p for p in sorted(TEMPLATES_DIR.glob("*.json"))}


@lru_cache(maxsize=16)
def _read(path: Path, mtime: float) -> dict:
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)


def _load_path(path: Path) -> dict:
    data = _read(path, path.stat().st_mtime)
    return json.loads(json.dumps(data))  # a private copy: callers may change it


def template_slugs() -> list[str]:
    return list(_template_paths())


def list_templates() -> list[dict]:
    """Every shipped template's slug, name, description and source, sorted by slug."""
    out = []
    for slug, path in _template_paths().items():
        data = _load_path(path)
        out.append(
            {
                "slug": slug,
                "name": data.get("name", slug),
                "description": data.get("description", ""),
                "source": data.get("source", ""),
            }
        )
    return out


def load_template(slug: str) -> dict:
    """The whole template ``slug``; ApplicationError naming the valid slugs when there is none."""
    paths = _template_paths()
    if slug not in paths:
        valid = ", ".join(paths) or "(none installed)"
        raise ApplicationError(
            f"There is no codebook template '{slug}'. Choose one of: {valid}.",
            details={"template": [f"Valid templates: {valid}."]},
        )
    data = _load_path(paths[slug])
    data.setdefault("slug", slug)
    return data


def template_problems(data: dict) -> list[str]:
    """What is wrong with a template, as sentences; an empty list means it can be copied as is.

    Checks what the codebook services check: valid unique codes, known kinds, text dimensions
    without categories, one level of nesting, one-character shortcuts unique within a dimension
    and not reserved.
    """
    from labelling.services.codebooks import RESERVED_SHORTCUTS, code_is_valid

    problems = []
    kinds = {"single", "multi", "ordinal", "text"}
    dim_codes: set[str] = set()
    for d_index, dim in enumerate(data.get("dimensions", [])):
        where = f"dimension {d_index + 1} ({dim.get('code', '?')})"
        code = dim.get("code", "")
        if not code_is_valid(code):
            problems.append(f"{where}: code '{code}' is not valid.")
        if code in dim_codes:
            problems.append(f"{where}: code '{code}' is used twice.")
        dim_codes.add(code)
        kind = dim.get("kind", "single")
        if kind not in kinds:
            problems.append(f"{where}: kind '{kind}' is not one of {', '.join(sorted(kinds))}.")
        categories = dim.get("categories") or []
        if kind == "text" and categories:
            problems.append(f"{where}: a free-text dimension has no categories.")
        cat_codes: set[str] = set()
        shortcuts: set[str] = set()
        for cat in categories:
            for child in cat.get("children") or []:
                if child.get("children"):
                    problems.append(f"{where}: '{child.get('code')}' nests a second level; one level is the most.")
                if kind == "ordinal":
                    problems.append(f"{where}: an ordinal scale has no sub-categories ('{child.get('code')}').")
            for c in [cat, *(cat.get("children") or [])]:
                c_code = c.get("code", "")
                if not code_is_valid(c_code):
                    problems.append(f"{where}: category code '{c_code}' is not valid.")
                if c_code in cat_codes:
                    problems.append(f"{where}: category code '{c_code}' is used twice.")
                cat_codes.add(c_code)
                shortcut = c.get("shortcut") or ""
                if shortcut:
                    if len(shortcut) != 1 or shortcut in RESERVED_SHORTCUTS:
                        problems.append(f"{where}: shortcut '{shortcut}' of '{c_code}' is not allowed.")
                    if shortcut in shortcuts:
                        problems.append(f"{where}: shortcut '{shortcut}' is used twice.")
                    shortcuts.add(shortcut)
    return problems


def template_from_study(study) -> dict:
    """A study's codebook in the template format (what ``codebook_fill_from_template`` reads back),
    with each dimension's decision rule (``decision_rule``, ``majority_threshold``) added."""
    from labelling.selectors.labelling import codebook_for_labelling

    codebook = study.codebook
    dimensions = []
    for entry in codebook_for_labelling(study=study):
        dim = entry.dimension
        tops: list[dict] = []
        for category, depth in entry.entries:
            spec = {
                "code": category.code,
                "name": category.name,
                "definition": category.definition,
                "example": category.example,
                "shortcut": category.shortcut,
            }
            if depth == 0 or not tops:
                tops.append(spec)
            else:
                tops[-1].setdefault("children", []).append(spec)
        dimensions.append(
            {
                "code": dim.code,
                "name": dim.name,
                "kind": dim.kind,
                "description": dim.description,
                "required": dim.required,
                "max_choices": dim.max_choices,
                "decision_rule": dim.decision_rule,
                "majority_threshold": str(dim.majority_threshold),
                "categories": tops,
            }
        )
    return {
        "slug": study.template_slug or study.slug,
        "name": codebook.name,
        "description": codebook.description,
        "source": codebook.source,
        "dimensions": dimensions,
    }
