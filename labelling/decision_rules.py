"""Decision rules: how the values several people gave one thing become one decision.

A rule is applied to the values of the people who finished the thing (for a dimension of an
item: the annotators whose assignment of the item is completed, a missing or empty label
counting as ""; for screening: the screeners' include/exclude votes). Values are compared
as the caller normalised them (multiple-choice values as sets, ``final_labels._normalised``).

* ``unanimous``: every one of them gave the same non-empty value.
* ``majority``: one non-empty value was chosen by MORE than ``threshold`` x the number of them
  (threshold 0.5 = strictly more than half: 2 of 3, 3 of 4, never 2 of 4). The threshold is
  at least 0.5 so two values can never both win; a tie never wins.
* ``adjudication``: no automatic decision; every final label is an adjudicator's.

Pure functions, no database: the services call them and record which rule made the decision.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

UNANIMOUS = "unanimous"
MAJORITY = "majority"
ADJUDICATION = "adjudication"
RULES = (UNANIMOUS, MAJORITY, ADJUDICATION)
SCREENING_RULES = (UNANIMOUS, MAJORITY)
DEFAULT_THRESHOLD = Decimal("0.5")
MIN_THRESHOLD = Decimal("0.5")
MAX_THRESHOLD = Decimal("0.999")


@dataclass(frozen=True)
class Outcome:
    """The winning value (None: no decision), how many chose it and out of how many."""

    value: str | None
    votes: int
    of: int


def decide(values: Sequence[str], *, rule: str, threshold: Decimal = DEFAULT_THRESHOLD) -> Outcome:
    """Apply ``rule`` to ``values`` (one per person; "" for a person who gave none)."""
    n = len(values)
    if n == 0 or rule == ADJUDICATION:
        return Outcome(None, 0, n)
    counts = Counter(values)
    ranked = counts.most_common()
    top, top_count = ranked[0]
    if rule == UNANIMOUS:
        return Outcome(top or None, top_count, n) if len(counts) == 1 and top else Outcome(None, 0, n)
    if rule == MAJORITY:
        tie = len(ranked) > 1 and ranked[1][1] == top_count
        if top and not tie and Decimal(top_count) > threshold * n:
            return Outcome(top, top_count, n)
        return Outcome(None, 0, n)
    raise ValueError(f"unknown decision rule {rule!r}")


def rule_error(rule, *, allowed: Sequence[str] = RULES) -> str | None:
    """A message for a rule that is not one of ``allowed``, else None."""
    if rule in allowed:
        return None
    return f"'{rule}' is not a decision rule. Use one of: {', '.join(allowed)}."


def threshold_parse(value) -> Decimal:
    """``value`` (a number or a string) as a threshold, or ValueError with what to write instead."""
    hint = (
        f"a number from {MIN_THRESHOLD} up to (not including) 1, "
        "e.g. 0.5 (more than half) or 0.66 (more than two thirds)"
    )
    if isinstance(value, bool):
        raise ValueError(f"The majority threshold must be {hint}.")
    try:
        threshold = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValueError(f"'{value}' is not a number; the majority threshold must be {hint}.") from None
    if not threshold.is_finite() or threshold < MIN_THRESHOLD or threshold >= 1:
        raise ValueError(f"The majority threshold must be {hint}; {value} is not.")
    if threshold != threshold.quantize(Decimal("0.001")):
        raise ValueError(f"Give the majority threshold with at most 3 decimals (e.g. 0.667), not {value}.")
    return threshold.quantize(Decimal("0.001"))
