"""Reads of calibration rounds: a study's rounds, one round, its items, the labels of one of its
passes, and labelling progress in it (everyone's, or one annotator's own).

Access is the callers' business: anyone in the study sees the rounds; ``can_view_agreement``
decides the figures, ``sees_others_labels`` the others' progress (``labelling.permissions``).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.http import Http404

from config.errors import ApplicationError
from config.params import id_param
from labelling.models import Annotation, AnnotationSnapshot, Assignment, CalibrationRound, RoundPass, Study, StudyItem


def rounds_of(*, study: Study) -> QuerySet[CalibrationRound]:
    """The study's rounds, oldest start first, each with ``item_count``."""
    return (
        CalibrationRound.objects.filter(study=study)
        .select_related("created_by")
        .annotate(item_count=Count("round_items", distinct=True))
        .order_by("starts_at", "id")
    )


def round_for(*, study: Study, round_id) -> CalibrationRound:
    """One round of ``study`` (Http404 for another study's or none)."""
    found = rounds_of(study=study).filter(pk=round_id).first() if isinstance(round_id, int) else None
    if found is None:
        raise Http404("This study has no such round.")
    return found


def round_passes(*, round: CalibrationRound) -> list[RoundPass]:
    return list(RoundPass.objects.filter(round=round).select_related("started_by").order_by("number"))


def round_items_of(*, round: CalibrationRound) -> QuerySet[StudyItem]:
    """The round's items with their reports (without bodies), in id order."""
    return (
        StudyItem.objects.filter(round_memberships__round=round)
        .select_related("report")
        .defer("report__body", "report__raw")
        .order_by("id")
    )


def _pass(round: CalibrationRound, pass_number: int | None) -> int:
    number = round.current_pass if pass_number is None else pass_number
    if not 1 <= number <= round.current_pass:
        passes = ", ".join(str(n) for n in range(1, round.current_pass + 1))
        raise ApplicationError(
            f"Round '{round.name}' has no pass {number}: use one of {passes}.",
            details=[{"field": "pass", "message": f"Choose from: {passes}."}],
        )
    return number


def round_labels(*, round: CalibrationRound, pass_number: int | None = None) -> QuerySet:
    """The labels of one pass of ``round`` (the current one when None), as rows with ``item``,
    ``annotator``, ``dimension`` and ``value``:

    * an ended pass: its ``AnnotationSnapshot`` rows, as they stood when the round was re-opened;
    * the current pass: the annotations on the round's items; after a re-opening only those whose
      annotator completed the item again since the pass began (a label not yet revisited belongs to
      the pass before, and is in its history).
    """
    number = _pass(round, pass_number)
    if number < round.current_pass:
        return AnnotationSnapshot.objects.filter(round_pass__round=round, round_pass__number=number)
    members = round.round_items.values("item_id")
    labels = Annotation.objects.filter(item_id__in=members, dimension__codebook__study_id=round.study_id)
    if number == 1:
        return labels
    started = RoundPass.objects.filter(round=round, number=number).values_list("started_at", flat=True).get()
    completed = Assignment.objects.filter(
        item_id=OuterRef("item_id"), annotator_id=OuterRef("annotator_id"), completed_at__gte=started
    )
    return labels.filter(Exists(completed))


def round_and_pass_param(*, study: Study, round_raw, pass_raw) -> tuple[CalibrationRound | None, int | None]:
    """(round, pass) from the ``round`` and ``pass`` parameters of a page, the API or the command;
    an ApplicationError (400) naming the valid values for a bad one. No round: (None, None)."""
    round_raw = str(round_raw or "").strip()
    pass_raw = str(pass_raw or "").strip()
    if not round_raw:
        if pass_raw:
            raise ApplicationError(
                "A pass belongs to a round: give round=ID with pass=N.",
                details=[{"field": "pass", "message": "Give round too."}],
            )
        return None, None
    known = list(rounds_of(study=study).values_list("id", "name"))
    valid = ", ".join(f"{pk} ({name})" for pk, name in known) or "(the study has no rounds yet)"
    found = None
    if id_param(round_raw) is not None:
        found = CalibrationRound.objects.filter(study=study, pk=id_param(round_raw)).first()
    if found is None:
        found = CalibrationRound.objects.filter(study=study, name__iexact=round_raw).first()
    if found is None:
        raise ApplicationError(
            f"The study has no round '{round_raw}': use one of {valid}.",
            details=[{"field": "round", "message": f"Choose from: {valid}."}],
        )
    if not pass_raw:
        return found, None
    if id_param(pass_raw) is None or len(pass_raw) > 5:
        raise ApplicationError(
            f"pass must be a whole number from 1 to {found.current_pass}.",
            details=[{"field": "pass", "message": f"From 1 to {found.current_pass}."}],
        )
    return found, _pass(found, int(pass_raw))


@dataclass
class RoundProgress:
    items: int
    assignments_total: int
    assignments_done: int
    own_total: int
    own_done: int
    others_shown: bool

    @property
    def percent(self) -> int:
        return round(100 * self.assignments_done / self.assignments_total) if self.assignments_total else 0

    @property
    def own_percent(self) -> int:
        return round(100 * self.own_done / self.own_total) if self.own_total else 0


def round_progress(*, round: CalibrationRound, user, others_shown: bool) -> RoundProgress:
    """Assignments of the round's items done in its current pass: everyone's (only when
    ``others_shown``, else zeros) and ``user``'s own. One query."""
    members = round.round_items.values("item_id")
    done = Q(completed_at__isnull=False)
    mine = Q(annotator_id=user.pk)
    agg = Assignment.objects.filter(study_id=round.study_id, item_id__in=members).aggregate(
        total=Count("id"),
        done=Count("id", filter=done),
        own_total=Count("id", filter=mine),
        own_done=Count("id", filter=mine & done),
    )
    items = getattr(round, "item_count", None)
    if items is None:
        items = round.round_items.count()
    return RoundProgress(
        items=items,
        assignments_total=agg["total"] if others_shown else 0,
        assignments_done=agg["done"] if others_shown else 0,
        own_total=agg["own_total"],
        own_done=agg["own_done"],
        others_shown=others_shown,
    )
