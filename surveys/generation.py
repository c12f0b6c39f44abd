"""Generate a survey definition from a study's codebook, for the dimensions the researcher picks.

For a nominal dimension, one section per category: its definition and example, a Likert
matrix of statements (``DEFAULT_STATEMENTS``; the researcher edits them in the builder), "Have
you met such a bug?" (yes/no) and a comment box. For an ordinal dimension (a threat level),
one section with a Likert per level. Every generated question remembers the category or level
it asks about (``"category": "dimension/category"``), so the answers join the labelled data.
"""

from __future__ import annotations

from config.errors import ApplicationError
from labelling.models import Dimension, Study

DEFAULT_STATEMENTS = [
    ("clear", "The definition is clear."),
    ("relevant", "The category is relevant."),
    ("hard_to_detect", "This kind of bug is hard to detect."),
]
AGREE = {"min": 1, "max": 5, "min_label": "Strongly disagree", "max_label": "Strongly agree"}


def _describe(category) -> str:
    parts = [category.definition.strip() or f"*{category.name}* (no definition in the codebook yet)."]
    if category.example.strip():
        parts.append(f"**Example:** {category.example.strip()}")
    return "\n\n".join(parts)


def _nominal_sections(dimension, categories) -> list[dict]:
    sections = []
    for category in categories:
        ref = f"{dimension.code}/{category.code}"
        base = f"{dimension.code}__{category.code}"
        sections.append(
            {
                "title": f"{dimension.name}: {category.name}",
                "description": _describe(category),
                "questions": [
                    {
                        "code": base,
                        "kind": "matrix",
                        "text": f"How far do you agree with these statements about “{category.name}”?",
                        **AGREE,
                        "rows": [{"code": code, "text": text} for code, text in DEFAULT_STATEMENTS],
                        "category": ref,
                    },
                    {
                        "code": f"{base}__met",
                        "kind": "single",
                        "text": "Have you met such a bug?",
                        "options": ["Yes", "No"],
                        "category": ref,
                    },
                    {
                        "code": f"{base}__comment",
                        "kind": "text",
                        "text": "Comments on this category (optional)",
                        "long": True,
                        "category": ref,
                    },
                ],
            }
        )
    return sections


def _ordinal_section(dimension, categories) -> dict:
    return {
        "title": dimension.name,
        "description": (dimension.description.strip() + "\n\n" if dimension.description.strip() else "")
        + "For each level of the scale, say how well its description fits the bugs you have met.",
        "questions": [
            {
                "code": f"{dimension.code}__{category.code}",
                "kind": "likert",
                "text": f"{category.name}: {category.definition.strip() or '(no definition yet)'}",
                "min": 1,
                "max": 5,
                "min_label": "Does not fit at all",
                "max_label": "Fits very well",
                "category": f"{dimension.code}/{category.code}",
            }
            for category in categories
        ],
    }


def definition_from_codebook(*, study: Study, dimensions: list[str], title: str = "") -> dict:
    """A survey definition asking about the categories of ``dimensions`` (codes) of the study's codebook."""
    if not dimensions:
        raise ApplicationError("Choose at least one dimension of the codebook to ask about.")
    found = {
        d.code: d
        for d in Dimension.objects.filter(codebook__study=study, code__in=dimensions).prefetch_related("categories")
    }
    unknown = [code for code in dimensions if code not in found]
    if unknown:
        available = ", ".join(
            Dimension.objects.filter(codebook__study=study)
            .exclude(kind=Dimension.Kind.TEXT)
            .values_list("code", flat=True)
        )
        raise ApplicationError(
            f"The codebook of {study.slug} has no dimension {', '.join(map(repr, unknown))}; use one of: {available}."
        )
    sections = []
    for code in dict.fromkeys(dimensions):
        dimension = found[code]
        categories = list(dimension.categories.all())
        if dimension.kind == Dimension.Kind.TEXT or not categories:
            raise ApplicationError(f"Dimension '{code}' has no categories to ask about (it is {dimension.kind}).")
        if dimension.kind == Dimension.Kind.ORDINAL:
            sections.append(_ordinal_section(dimension, categories))
        else:
            sections.extend(_nominal_sections(dimension, categories))
    names = ", ".join(found[c].name for c in dict.fromkeys(dimensions))
    return {
        "title": title or f"Feedback on the {names} categories",
        "intro": f"We are studying bugs in deep-learning frameworks ({study.name}). "
        "Please tell us how well our categories describe the bugs you have met.",
        "consent": "",
        "sections": sections,
    }
