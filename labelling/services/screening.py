"""Screening: decide whether an item of a study is in scope (included) or not (excluded, with a reason).

Every decision goes through the screeners' votes (``ScreeningVote``, one per item and screener):
the screening page, the item screening API and the label import (rows of dimension
``screening``) all call ``screening_votes_apply``, which writes the votes and lets the study's
rule decide (``screening_decide``):

* ``screening_overlap`` 1 (the default, today's flow): one vote decides, and a later vote (an
  owner changing the decision) decides again: the item takes its latest vote (method ``single``).
* ``screening_overlap`` k > 1: the item stays pending until k screeners have voted; then the
  ``screening_rule`` (``unanimous`` or ``majority``: strictly more than half of the votes,
  ``labelling.decision_rules``) decides include or exclude. An exclusion takes the reason most of
  the excluding votes gave (a tie between reasons: the one listed first in the study's
  exclusion reasons). Votes that decide nothing under the rule (a split, a tie) make the item a
  conflict (``screening_conflict``): it stays pending until an owner decides
  (``screening_owner_decide``, method ``owner``). Only decisions the rule made are decided again
  when votes change; an owner's or an imported decision, or one made while one screener decided,
  is kept when more votes arrive.

Excluding an item removes its open (not completed) assignments. Concurrency: every writer locks
the item rows first (``final_labels.items_lock``), so two screeners voting on one item at the
same instant run one after the other and the second decides from both votes.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from config.errors import ApplicationError
from labelling import decision_rules
from labelling.models import Assignment, ScreeningVote, Study, StudyItem
from labelling.selectors.labelling import progress_forget
from labelling.services.disagreements import disagreements_refresh
from labelling.services.final_labels import items_lock
from labelling.services.results import study_results_changed

Screening = StudyItem.Screening
Method = StudyItem.ScreeningMethod
INCLUDE, EXCLUDE = ScreeningVote.Decision.INCLUDE, ScreeningVote.Decision.EXCLUDE
DECISIONS = {"include": INCLUDE, "included": INCLUDE, "exclude": EXCLUDE, "excluded": EXCLUDE}
STATUS = {INCLUDE: Screening.INCLUDED, EXCLUDE: Screening.EXCLUDED}
RULE_METHODS = {Method.UNANIMOUS, Method.MAJORITY}  # with k > 1 only these decisions are re-decided by votes
CHUNK = 1000
DECISION_FIELDS = [
    "screening",
    "exclusion_reason",
    "screening_method",
    "screening_conflict",
    "screened_by",
    "screened_at",
]


def decision_parse(decision: str) -> str | None:
    """'include' or 'exclude' for what a person or a file wrote (include/included/exclude/excluded, any case)."""
    return DECISIONS.get((decision or "").strip().lower())


def decision_error(decision: str) -> str:
    return f"'{decision}' is not a decision. Use 'include' or 'exclude'."


def reason_error(study: Study, decision: str, reason: str) -> str | None:
    """What is wrong with ``reason`` for ``decision`` in ``study``, or None."""
    if decision != EXCLUDE:
        return None
    reasons = study.exclusion_reasons or []
    if not reasons:
        return "This study has no exclusion reasons yet; the owner adds them in the study settings."
    if not reason:
        return f"Pick a reason for excluding: {'; '.join(reasons)}."
    if reason not in reasons:
        return f"'{reason}' is not one of this study's exclusion reasons: {'; '.join(reasons)}."
    return None


def _checked(study: Study, decision: str, reason: str) -> tuple[str, str]:
    parsed = decision_parse(decision)
    if parsed is None:
        raise ValidationError({"decision": [decision_error(decision)]})
    reason = (reason or "").strip() if parsed == EXCLUDE else ""
    problem = reason_error(study, parsed, reason)
    if problem:
        raise ValidationError({"reason": [problem]})
    return parsed, reason


@dataclass(frozen=True)
class VoteIn:
    """A vote to write: ``decision`` is 'include' or 'exclude', ``reason`` checked already."""

    item_id: int
    screener_id: int
    decision: str
    reason: str = ""


def _majority_reason(study: Study, reasons: Sequence[str]) -> str:
    counts = Counter(r for r in reasons if r)
    if not counts:
        return ""
    order = {r: i for i, r in enumerate(study.exclusion_reasons or [])}
    return min(counts, key=lambda r: (-counts[r], order.get(r, len(order)), r))


def screening_decide(study: Study, votes: Sequence[tuple[str, str]]) -> tuple[str, str, str, bool]:
    """(screening status, exclusion reason, method, conflict) that ``votes`` make in ``study``.

    ``votes`` are (decision, reason) pairs, the latest vote last. Pure: no database.
    """
    if not votes:
        return Screening.PENDING, "", Method.NONE, False
    k = study.screening_overlap
    if k <= 1:
        decision, reason = votes[-1]
        return STATUS[decision], reason if decision == EXCLUDE else "", Method.SINGLE, False
    if len(votes) < k:
        return Screening.PENDING, "", Method.NONE, False
    rule = study.screening_rule
    outcome = decision_rules.decide([d for d, _ in votes], rule=rule)
    if outcome.value is None:
        return Screening.PENDING, "", Method.NONE, True
    reason = _majority_reason(study, [r for d, r in votes if d == EXCLUDE]) if outcome.value == EXCLUDE else ""
    method = Method.MAJORITY if rule == decision_rules.MAJORITY else Method.UNANIMOUS
    return STATUS[outcome.value], reason, method, False


def _drop_open_assignments(item_ids: Iterable[int], study_id: int) -> None:
    open_assignments = Assignment.objects.filter(item_id__in=list(item_ids), completed_at__isnull=True)
    dropped = set(open_assignments.values_list("annotator_id", "item_id"))
    if dropped:
        open_assignments.delete()
        progress_forget(study_id=study_id, annotator_ids={a for a, _ in dropped})
        # The items' remaining assignments may all be completed now.
        disagreements_refresh(study=Study.objects.get(pk=study_id), item_ids={i for _, i in dropped})


def _redecide(study: Study, item_ids: Sequence[int], *, only_pending: bool = False, single_by=None) -> None:
    """Apply the study's rule to the votes of ``item_ids`` (locked by the caller) and store the
    decisions, in a fixed number of queries per 1,000 items. ``only_pending`` leaves decided items
    as they are. ``single_by`` {item id: screener id}: with k = 1, who cast the deciding vote."""
    now = timezone.now()
    for start in range(0, len(item_ids), CHUNK):
        chunk = item_ids[start : start + CHUNK]
        votes: dict[int, list[tuple[str, str]]] = defaultdict(list)
        last_voter: dict[int, int] = {}
        for item_id, screener_id, decision, reason in (
            ScreeningVote.objects.filter(item_id__in=chunk)
            .order_by("item_id", "updated_at", "id")
            .values_list("item_id", "screener_id", "decision", "reason")
        ):
            votes[item_id].append((decision, reason))
            last_voter[item_id] = screener_id
        to_update, newly_excluded = [], []
        for item in StudyItem.objects.filter(id__in=chunk).only("id", *DECISION_FIELDS):
            if only_pending and item.screening != Screening.PENDING:
                continue
            if (
                study.screening_overlap > 1
                and item.screening != Screening.PENDING
                and item.screening_method not in RULE_METHODS
            ):
                continue  # the owner's, an import's or a one-screener decision: more votes keep it
            status, reason, method, conflict = screening_decide(study, votes.get(item.id, []))
            if (item.screening, item.exclusion_reason, item.screening_method, item.screening_conflict) == (
                status,
                reason,
                method,
                conflict,
            ):
                continue
            if status == Screening.EXCLUDED and item.screening != Screening.EXCLUDED:
                newly_excluded.append(item.id)
            item.screening, item.exclusion_reason = status, reason
            item.screening_method, item.screening_conflict = method, conflict
            # With one screener the voter decided; otherwise the rule did, not one person.
            single = (single_by or {}).get(item.id, last_voter.get(item.id))
            item.screened_by_id = single if method == Method.SINGLE else None
            item.screened_at = now if status != Screening.PENDING else None
            to_update.append(item)
        if to_update:
            StudyItem.objects.bulk_update(
                to_update,
                DECISION_FIELDS,
                batch_size=CHUNK,
            )
        if newly_excluded:
            _drop_open_assignments(newly_excluded, study.pk)


@transaction.atomic(savepoint=False)
def screening_votes_apply(*, study: Study, votes: Sequence[VoteIn], locked: bool = False) -> None:
    """Write ``votes`` (one per item and screener; a screener's earlier vote on the item is
    replaced) and let the rule decide their items. Votes must be checked (``decision_parse``,
    ``reason_error``). With ``locked`` the caller holds the items' locks already."""
    if not votes:
        return
    item_ids = sorted({v.item_id for v in votes})
    if not locked:
        items_lock(item_ids=item_ids)
    now = timezone.now()
    ScreeningVote.objects.bulk_create(
        [
            ScreeningVote(
                study=study,
                item_id=v.item_id,
                screener_id=v.screener_id,
                decision=v.decision,
                reason=v.reason,
                created_at=now,
                updated_at=now,
            )
            for v in votes
        ],
        batch_size=CHUNK,
        update_conflicts=True,
        unique_fields=["item", "screener"],
        update_fields=["decision", "reason", "updated_at"],
    )
    single_by = {v.item_id: v.screener_id for v in votes}  # with k = 1 the vote just cast decides
    _redecide(study, item_ids, single_by=single_by)


@transaction.atomic
def screening_vote(*, item: StudyItem, screener: AbstractBaseUser, decision: str, reason: str = "") -> StudyItem:
    """``screener`` votes include or exclude on ``item`` (excluding needs one of the study's
    exclusion reasons); a screener may change their vote. With several screeners per item a new
    screener cannot vote on an item that has its k votes already (409)."""
    items_lock(item_ids=[item.pk])
    item = StudyItem.objects.select_related("study").get(pk=item.pk)
    study = item.study
    decision, reason = _checked(study, decision, reason)
    if study.screening_overlap > 1:
        votes = ScreeningVote.objects.filter(item=item)
        if not votes.filter(screener=screener).exists() and votes.count() >= study.screening_overlap:
            raise ApplicationError(
                f"This item already has the votes of its {study.screening_overlap} screeners; "
                "screen the next item instead.",
                status=409,
            )
    screening_votes_apply(study=study, votes=[VoteIn(item.pk, screener.pk, decision, reason)], locked=True)
    item.refresh_from_db()
    study_results_changed(study_ids=[item.study_id])  # the screening counts and funnel
    return item


def item_screen(*, item: StudyItem, decision: str, reason: str = "", screened_by: AbstractBaseUser) -> StudyItem:
    """Include or exclude ``item``: ``screened_by``'s vote (``screening_vote``); with one screener
    per item it decides, as the screening page always did."""
    return screening_vote(item=item, screener=screened_by, decision=decision, reason=reason)


@transaction.atomic
def screening_owner_decide(
    *, item: StudyItem, decision: str, reason: str = "", decided_by: AbstractBaseUser, method: str = Method.OWNER
) -> StudyItem:
    """An owner decides ``item`` (a conflict, or any item): the decision is recorded as the
    owner's (method ``owner``) and later votes do not change it."""
    items_lock(item_ids=[item.pk])
    item = StudyItem.objects.select_related("study").get(pk=item.pk)
    decision, reason = _checked(item.study, decision, reason)
    was_excluded = item.screening == Screening.EXCLUDED
    item.screening = STATUS[decision]
    item.exclusion_reason = reason
    item.screening_method = method
    item.screening_conflict = False
    item.screened_by = decided_by
    item.screened_at = timezone.now()
    item.full_clean()
    item.save(update_fields=DECISION_FIELDS)
    if item.screening == Screening.EXCLUDED and not was_excluded:
        _drop_open_assignments([item.pk], item.study_id)
    study_results_changed(study_ids=[item.study_id])  # the screening counts and funnel
    return item


def screening_final_apply(*, study: Study, decisions: Sequence[tuple[int, str, str]]) -> None:
    """Imported final screening decisions (item id, decision, reason), checked already and with
    the items locked by the caller: recorded with method ``imported``, kept like an owner's."""
    now = timezone.now()
    by_id = {item_id: (decision, reason) for item_id, decision, reason in decisions}
    for start in range(0, len(by_id), CHUNK):
        chunk = sorted(by_id)[start : start + CHUNK]
        items = list(StudyItem.objects.filter(id__in=chunk).only("id", "screening"))
        newly_excluded = []
        for item in items:
            decision, reason = by_id[item.id]
            if STATUS[decision] == Screening.EXCLUDED and item.screening != Screening.EXCLUDED:
                newly_excluded.append(item.id)
            item.screening, item.exclusion_reason = STATUS[decision], reason if decision == EXCLUDE else ""
            item.screening_method, item.screening_conflict = Method.IMPORTED, False
            item.screened_by_id, item.screened_at = None, now
        StudyItem.objects.bulk_update(
            items,
            DECISION_FIELDS,
            batch_size=CHUNK,
        )
        if newly_excluded:
            _drop_open_assignments(newly_excluded, study.pk)


def screening_settings_changed(*, study: Study) -> None:
    """After the screening overlap or rule changed (the study row locked by the caller): the items
    still pending, conflicts included, are decided again under the new settings; decided items keep
    their decision."""
    pending = list(
        StudyItem.objects.filter(study=study, screening=Screening.PENDING).order_by("id").values_list("id", flat=True)
    )
    items_lock(item_ids=pending)
    _redecide(study, pending, only_pending=True)


@transaction.atomic
def item_review_done(*, item: StudyItem) -> StudyItem:
    """Clear the re-review flag that a change of the item's report set (e.g. reopened on GitHub)."""
    item = StudyItem.objects.select_for_update().get(pk=item.pk)
    if item.needs_review:
        item.needs_review = False
        item.review_reason = ""
        item.save(update_fields=["needs_review", "review_reason"])
    return item
