"""Small helpers for messages people read."""

from django.utils.translation import ngettext


def count(n: int, singular: str, plural: str | None = None) -> str:
    """``count(1, "report")`` is "1 report", ``count(3, "report")`` "3 reports"."""
    return f"{n} {ngettext(singular, plural or singular + 's', n)}"
