"""Integers read from query parameters.

``str.isdigit()`` is true for '²' and '①', which ``int()`` then refuses (a 500); ``int()``
itself accepts '٣' (an Arabic-Indic three) and ' 7 '. An id in an address is ASCII digits only.
"""

MAX_ID = 2**63 - 1  # the largest bigint: beyond it the database would refuse the query


def id_param(value: str | None) -> int | None:
    """``value`` as a positive id if it is one written in ASCII digits (within bigint), else None."""
    if not value or not (value.isascii() and value.isdigit()):
        return None
    number = int(value)
    return number if 0 < number <= MAX_ID else None
