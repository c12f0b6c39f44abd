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


MAX_UPLOAD_BYTES = 2 * 1024 * 1024
KINDS = ("single", "multi", "ordinal", "text")
RULES = ("unanimous", "majority", "adjudication")
TEXT_LIMITS = {"name": 200, "definition": 20_000, "example": 20_000, "description": 50_000}


def _text_problems(where: str, spec: dict, fields) -> list[str]:
    problems = []
    for field in fields:
        value = spec.get(field)
        if value is None:
            continue
        if not isinstance(value, str):
            problems.append(f"{where}: '{field}' must be text, not {type(value).__name__}.")
        elif len(value) > TEXT_LIMITS.get(field, 50_000):
            problems.append(f"{where}: '{field}' is longer than {TEXT_LIMITS.get(field, 50_000)} characters.")
        elif "\x00" in value:
            problems.append(f"{where}: '{field}' contains a NUL character.")
    return problems


def _dimension_problems(where: str, dim: dict) -> list[str]:
    from labelling.decision_rules import threshold_parse

    problems = _text_problems(where, dim, ("name", "description"))
    kind = dim.get("kind", "single")
    if kind not in KINDS:
        problems.append(f"{where}: kind '{kind}' is not one of {', '.join(KINDS)}.")
    if "required" in dim and not isinstance(dim["required"], bool):
        problems.append(f"{where}: 'required' must be true or false.")
    max_choices = dim.get("max_choices")
    if max_choices is not None and (
        isinstance(max_choices, bool) or not isinstance(max_choices, int) or max_choices < 1
    ):
        problems.append(f"{where}: 'max_choices' must be a whole number of at least 1, or null.")
    rule = dim.get("decision_rule")
    if rule is not None and rule not in RULES:
        problems.append(f"{where}: decision_rule '{rule}' is not one of {', '.join(RULES)}.")
    threshold = dim.get("majority_threshold")
    if threshold is not None:
        try:
            threshold_parse(threshold)
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
    if dim.get("categories") is not None and not isinstance(dim.get("categories"), list):
        problems.append(f"{where}: 'categories' must be a list.")
    return problems


def _category_problems(where: str, cat) -> list[str]:
    if not isinstance(cat, dict):
        return [f"{where}: each category must be an object with 'code' and 'name'."]
    problems = _text_problems(where, cat, ("code", "name", "definition", "example", "shortcut"))
    if "retired" in cat and not isinstance(cat["retired"], bool):
        problems.append(f"{where}: 'retired' must be true or false.")
    if cat.get("children") is not None and not isinstance(cat.get("children"), list):
        problems.append(f"{where}: 'children' must be a list.")
    return problems


def template_problems(data) -> list[str]:
    """What is wrong with a template, as sentences; an empty list means it can be copied as is.

    Checks the shape (objects, lists, text, numbers where they belong: a file from anywhere can be
    uploaded) and what the codebook services check: valid unique codes, known kinds and decision
    rules, text dimensions without categories, one level of nesting, one-character shortcuts unique
    within a dimension and not reserved.
    """
    from labelling.services.codebooks import RESERVED_SHORTCUTS, code_is_valid

    if not isinstance(data, dict):
        return [f"The codebook must be a JSON object with 'name' and 'dimensions', not a {type(data).__name__}."]
    problems = _text_problems("the codebook", data, ("name", "description", "source"))
    dimensions = data.get("dimensions", [])
    if not isinstance(dimensions, list):
        return [*problems, "'dimensions' must be a list of dimension objects."]
    dim_codes: set[str] = set()
    for d_index, dim in enumerate(dimensions):
        if not isinstance(dim, dict):
            problems.append(f"dimension {d_index + 1}: must be an object with 'code', 'name' and 'kind'.")
            continue
        where = f"dimension {d_index + 1} ({dim.get('code', '?')})"
        code = dim.get("code", "")
        if not isinstance(code, str) or not code_is_valid(code):
            problems.append(f"{where}: code '{code}' is not valid.")
            code = str(code)
        if code in dim_codes:
            problems.append(f"{where}: code '{code}' is used twice.")
        dim_codes.add(code)
        problems += _dimension_problems(where, dim)
        if not isinstance(dim.get("categories") or [], list):
            continue
        kind = dim.get("kind", "single")
        categories = dim.get("categories") or []
        if kind == "text" and categories:
            problems.append(f"{where}: a free-text dimension has no categories.")
        cat_codes: set[str] = set()
        shortcuts: set[str] = set()
        for c_index, cat in enumerate(categories):
            cat_where = f"{where}, category {c_index + 1}"
            cat_problems = _category_problems(cat_where, cat)
            children = [] if cat_problems else cat.get("children") or []
            for child in children:
                cat_problems += _category_problems(f"{cat_where}, sub-category", child)
            problems += cat_problems
            if cat_problems:
                continue
            for child in children:
                if child.get("children"):
                    problems.append(f"{where}: '{child.get('code')}' nests a second level; one level is the most.")
                if kind == "ordinal":
                    problems.append(f"{where}: an ordinal scale has no sub-categories ('{child.get('code')}').")
            for c in [cat, *children]:
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


def codebook_from_json(raw) -> dict:
    """An uploaded codebook (bytes, text, or already parsed JSON) in the template format, checked;
    ApplicationError (400) naming what is wrong otherwise."""
    if isinstance(raw, (bytes, bytearray)):
        if len(raw) > MAX_UPLOAD_BYTES:
            raise ApplicationError(
                f"The codebook file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB; a codebook is far smaller.",
                details={"codebook": ["File too large."]},
            )
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ApplicationError(
                "The codebook file is not UTF-8 text. Upload the JSON file that the codebook page's "
                "'Export JSON' gives (or a template like labelling/codebook_templates/silent-bugs.json).",
                details={"codebook": ["Not UTF-8."]},
            ) from None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ApplicationError(
                f"The codebook is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.",
                details={"codebook": [f"JSON error at line {exc.lineno}, column {exc.colno}: {exc.msg}."]},
            ) from None
    problems = template_problems(raw)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ApplicationError(f"The codebook cannot be used: {problems[0]}{more}", details={"codebook": problems[:50]})
    if not raw.get("dimensions"):
        raise ApplicationError(
            "The codebook has no dimensions. Give at least one in 'dimensions' (see the codebook page's export).",
            details={"codebook": ["No dimensions."]},
        )
    return raw
