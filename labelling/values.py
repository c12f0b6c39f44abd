"""Label values: parse what a person or a file gives into the canonical stored string.

* single choice and ordinal: one category code, e.g. ``crash``;
* multiple choice: category codes, de-duplicated, sorted, joined by ``;``;
* free text: the text, stripped.

Categories can be named by code or by name, ignoring case. Everything that is wrong is
reported as a ``ValueError`` with a message that says what to write instead.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q

from labelling.models import Category, Dimension

SEPARATOR = ";"


class CategoryIndex:
    """Looks categories of one dimension up by code or by name, case-insensitively."""

    def __init__(self, dimension: Dimension, categories: Iterable[Category] | None = None):
        self.dimension = dimension
        cats = list(categories if categories is not None else dimension.categories.all())
        self.by_code = {c.code: c for c in cats}
        self._lookup: dict[str, Category] = {}
        for c in cats:
            self._lookup.setdefault(c.name.strip().lower(), c)
        for c in cats:  # codes win over names when they clash
            self._lookup[c.code.lower()] = c

    def find(self, token: str) -> Category | None:
        return self._lookup.get(token.strip().lower())

    def valid_codes_hint(self, limit: int = 12) -> str:
        codes = list(self.by_code)
        shown = ", ".join(codes[:limit])
        return shown + (", ..." if len(codes) > limit else "")


def split_tokens(raw: str | list | tuple) -> list[str]:
    if isinstance(raw, (list, tuple)):
        tokens = [str(t) for t in raw]
    else:
        tokens = str(raw).split(SEPARATOR)
    return [t.strip() for t in tokens if t and t.strip()]


def canonical_value(dimension: Dimension, raw, index: CategoryIndex | None = None) -> str:
    """Turn ``raw`` (a string, or a list for multiple choice) into the stored value.

    Raises ``ValueError`` with an actionable message when ``raw`` does not fit the dimension.
    An empty value returns ``""`` (the caller decides whether that is allowed).
    """
    if dimension.kind == Dimension.Kind.TEXT:
        if isinstance(raw, (list, tuple)):
            raise ValueError(f"'{dimension.code}' is free text; give the text itself, not a list of choices.")
        return str(raw or "").strip()

    index = index or CategoryIndex(dimension)
    tokens = split_tokens(raw if raw is not None else "")
    if not tokens:
        return ""
    codes = []
    for token in tokens:
        category = index.find(token)
        if category is None:
            raise ValueError(
                f"'{token}' is not a category of '{dimension.code}'. "
                f"Use a category code or name, e.g. {index.valid_codes_hint()}."
            )
        codes.append(category.code)
    codes = sorted(set(codes))
    if dimension.kind != Dimension.Kind.MULTI and len(codes) > 1:
        raise ValueError(f"'{dimension.code}' takes one category, got {len(codes)}: {', '.join(codes)}.")
    if dimension.kind == Dimension.Kind.MULTI and dimension.max_choices and len(codes) > dimension.max_choices:
        raise ValueError(f"'{dimension.code}' takes at most {dimension.max_choices} categories, got {len(codes)}.")
    return SEPARATOR.join(codes)


def compared_value(dimension, value: str) -> str:
    """A stored value as annotators' values are compared (agreement, disagreements): multiple
    choices as a set (sorted, de-duplicated, blanks dropped), anything else as stored.
    ``dimension``: anything with a ``kind`` (a Dimension, or a migration's historical one)."""
    if dimension.kind == Dimension.Kind.MULTI:
        return SEPARATOR.join(sorted({c.strip() for c in value.split(SEPARATOR) if c.strip()}))
    return value


def value_codes(value: str) -> list[str]:
    """The category codes inside a stored choice value."""
    return [c for c in value.split(SEPARATOR) if c] if value else []


def decision_codes(value: str, replaced_value: str, chosen_from) -> set[str]:
    """Every category code an adjudication (``FinalLabelDecision``) holds: in its value, the value
    it replaced, and the values it chose between."""
    codes = {*value_codes(value), *value_codes(replaced_value)}
    for v in chosen_from or []:
        codes.update(value_codes(str(v)))
    return codes


def value_holds_code_q(code: str) -> Q:
    """Stored values (of annotations, final labels) holding ``code`` as one of their ';'-separated codes."""
    return (
        Q(value=code)
        | Q(value__startswith=f"{code}{SEPARATOR}")
        | Q(value__endswith=f"{SEPARATOR}{code}")
        | Q(value__contains=f"{SEPARATOR}{code}{SEPARATOR}")
    )
