"""Small helpers for messages people read."""

from django.utils.translation import ngettext


def count(n: int, singular: str, plural: str | None = None) -> str:
    """``count(1, "report")`` is "1 report", ``count(3, "report")`` "3 reports"."""
    return f"{n} {ngettext(singular, plural or singular + 's', n)}"


def json_kind(value) -> str:
    """What a JSON value is, in words for people ("a number", "a list"), not Python's type names."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "a value of another kind"
