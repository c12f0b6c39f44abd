"""Reads about studies reused by the pages and the API: progress, items, screening queue,
codebook tree, assignments (filtered per user, so blind labelling holds here once)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import CharField, Count, Exists, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from labelling.models import (
    Annotation,
    Assignment,
    Codebook,
    Dimension,
    FinalLabel,
    Membership,
    SampleDraw,
    Study,
    StudyItem,
)
from labelling.permissions import (
    can_read_results,
    can_screen,
    role_in,
    roles_in,
    sees_others_labels,
    studies_visible_to,
)
from labelling.selectors.results import study_results_cached
from labelling.selectors.screening import ScreeningFunnel, own_screening_count, screening_funnel

Screening = StudyItem.Screening


def _percent(part: int, whole: int) -> int:
    return int(round(100 * part / whole)) if whole else 0


@dataclass
class AnnotatorProgress:
    user_id: int
    username: str
    done: int
    total: int

    @property
    def left(self) -> int:
        return self.total - self.done

    @property
    def percent(self) -> int:
        return _percent(self.done, self.total)


@dataclass
class StudyProgress:
    """The overview counts of a study as one user may see them.

    ``others_hidden`` is True for an annotator of a blind study: the study-wide labelling
    figures (assignments, finished items, final labels) are None, because they are computed
    from the other annotators' labels, and ``annotators`` holds only the annotator's own row.
    Screening counts come from the owners' decisions, not from labels, and are there for every
    member, except in a study with several screeners per item, where the decisions come from the
    screeners' votes: an annotator of a blind study then gets None for them (``screening_hidden``)
    and only their own number of votes (``own_votes``). ``funnel`` (screened, included by what
    decided them, excluded by reason, conflicts) is for whoever ``sees_others_labels``, else None.
    """

    items_total: int = 0
    pending: int | None = 0
    included: int | None = 0
    excluded: int | None = 0
    assignments_total: int | None = 0
    assignments_done: int | None = 0
    items_complete: int | None = 0
    final_labels: int | None = 0
    annotators: list[AnnotatorProgress] = field(default_factory=list)
    others_hidden: bool = False
    screening_hidden: bool = False
    own_votes: int | None = None
    funnel: ScreeningFunnel | None = None

    @property
    def screened(self) -> int | None:
        return None if self.screening_hidden else self.included + self.excluded

    @property
    def screened_percent(self) -> int:
        return _percent(self.screened or 0, self.items_total)

    @property
    def assignments_percent(self) -> int:
        return _percent(self.assignments_done or 0, self.assignments_total or 0)

    @property
    def complete_percent(self) -> int:
        return _percent(self.items_complete or 0, self.included or 0)

    def for_annotator(self, user_id: int) -> AnnotatorProgress | None:
        return next((a for a in self.annotators if a.user_id == user_id), None)

    def as_dict(self) -> dict:
        return {
            "items_total": self.items_total,
            "screening": {"pending": self.pending, "included": self.included, "excluded": self.excluded},
            "screening_funnel": self.funnel.as_dict() if self.funnel is not None else None,
            "own_screening_votes": self.own_votes,
            "assignments_total": self.assignments_total,
            "assignments_done": self.assignments_done,
            "items_complete": self.items_complete,
            "final_labels": self.final_labels,
            "annotators": [
                {"user_id": a.user_id, "username": a.username, "done": a.done, "total": a.total}
                for a in self.annotators
            ],
        }


def study_progress(*, study: Study, user, with_funnel: bool = False) -> StudyProgress:
    """Counts for the overview of ``study`` as ``user`` may see them.

    The study-wide figures (``study_wide_progress``: screening counts, assignments, finished items,
    final labels, the funnel) are the same for every member allowed them and are cached until the
    study's results change; what is the user's own (a screener's votes, a blind annotator's own
    assignments) is counted for them. An annotator of a blind study gets the screening counts and
    their own progress only."""
    sees_all = sees_others_labels(user, study)
    if sees_all:  # a copy of the cached figures: the user's own votes below are theirs alone
        progress = study_wide_progress(study=study, with_funnel=with_funnel)
    else:
        progress = StudyProgress(**screening_counts(study=study))
    if study.screening_overlap > 1 and can_screen(user, study):
        progress.own_votes = own_screening_count(study=study, user=user)
    if sees_all:
        return progress

    if study.screening_overlap > 1:  # the decisions come from the other screeners' votes
        progress.screening_hidden = True
        progress.pending = progress.included = progress.excluded = None
    progress.others_hidden = True
    progress.assignments_total = progress.assignments_done = None
    progress.items_complete = progress.final_labels = None
    if role_in(user, study) == Membership.Role.ANNOTATOR:
        own = Assignment.objects.filter(study=study, annotator=user).aggregate(
            total=Count("id"), done=Count("id", filter=Q(completed_at__isnull=False))
        )
        progress.annotators = [
            AnnotatorProgress(user_id=user.pk, username=user.get_username(), done=own["done"], total=own["total"])
        ]
    return progress


def study_wide_progress(*, study: Study, with_funnel: bool = False) -> StudyProgress:
    """The whole study's counts (as whoever ``sees_others_labels`` sees them), in a few aggregate
    queries whatever the size of the study (five, three more for ``with_funnel``), cached until the
    study's results change (``labelling.selectors.results``). The caller decides who gets which
    part (``study_progress``)."""
    return study_results_cached(
        study=study,
        name="progress",
        params={"funnel": with_funnel, "k": study.overlap_k},
        compute=lambda: _study_wide_progress(study=study, with_funnel=with_funnel),
    )


def screening_counts(*, study: Study) -> dict[str, int]:
    """The study's items by screening decision (``items_total``, ``pending``, ``included``,
    ``excluded``): one GROUP BY, cached until the study's results change."""
    return study_results_cached(study=study, name="screening-counts", compute=lambda: _screening_counts(study=study))


def _screening_counts(*, study: Study) -> dict[str, int]:
    counts = dict.fromkeys(Screening.values, 0)
    for row in StudyItem.objects.filter(study=study).order_by().values("screening").annotate(n=Count("id")):
        if row["screening"] in counts:
            counts[row["screening"]] = row["n"]
    return {"items_total": sum(counts.values()), **counts}


def _study_wide_progress(*, study: Study, with_funnel: bool) -> StudyProgress:
    progress = StudyProgress(**_screening_counts(study=study))

    per_annotator = {
        row["annotator_id"]: row
        for row in Assignment.objects.filter(study=study)
        .order_by()
        .values("annotator_id")
        .annotate(total=Count("id"), done=Count("id", filter=Q(completed_at__isnull=False)))
    }
    progress.assignments_total = sum(r["total"] for r in per_annotator.values())
    progress.assignments_done = sum(r["done"] for r in per_annotator.values())

    annotators = (
        Membership.objects.filter(study=study, role=Membership.Role.ANNOTATOR)
        .select_related("user")
        .order_by("user__username")
    )
    progress.annotators = [
        AnnotatorProgress(
            user_id=m.user_id,
            username=m.user.get_username(),
            done=per_annotator.get(m.user_id, {}).get("done", 0),
            total=per_annotator.get(m.user_id, {}).get("total", 0),
        )
        for m in annotators
    ]
    progress.items_complete = (
        StudyItem.objects.filter(study=study, screening=Screening.INCLUDED)
        .annotate(done=Count("assignments", filter=Q(assignments__completed_at__isnull=False)))
        .filter(done__gte=study.overlap_k)
        .count()
    )
    progress.final_labels = FinalLabel.objects.filter(item__study=study).count()
    if with_funnel:
        progress.funnel = screening_funnel(study=study)
    return progress


@dataclass
class StudyRow:
    """A study in the list with the user's role and the labelling progress they may see:
    the whole study's assignments, or (``own_only``, an annotator of a blind study) their own."""

    study: Study
    role: str
    items: int
    included: int | None
    assignments_total: int
    assignments_done: int
    own_only: bool = False

    @property
    def percent(self) -> int:
        return _percent(self.assignments_done, self.assignments_total)


def studies_with_role(*, user) -> QuerySet[Study]:
    """The studies ``user`` may see, newest first, each with ``my_role`` (staff: owner everywhere)."""
    if user.is_staff:
        role = Value(Membership.Role.OWNER, output_field=CharField())
    else:
        role = Subquery(Membership.objects.filter(study=OuterRef("pk"), user=user).values("role")[:1])
    return studies_visible_to(user).annotate(my_role=role).order_by("-created_at")


def studies_with_progress(*, user) -> list[StudyRow]:
    """The studies ``user`` belongs to (all for staff) with their role and progress, in at most four queries.

    Where ``user`` may not see the others' labels (``sees_others_labels``: an annotator of a
    blind study) the progress is their own assignments, not the study's.
    """
    studies = list(studies_visible_to(user).select_related("codebook").order_by("-created_at"))
    ids = [s.pk for s in studies]
    roles = roles_in(user, studies)
    items = {
        r["study_id"]: r
        for r in StudyItem.objects.filter(study_id__in=ids)
        .order_by()
        .values("study_id")
        .annotate(n=Count("id"), inc=Count("id", filter=Q(screening=Screening.INCLUDED)))
    }
    done = Q(completed_at__isnull=False)
    assignments = {
        r["study_id"]: r
        for r in Assignment.objects.filter(study_id__in=ids)
        .order_by()
        .values("study_id")
        .annotate(
            n=Count("id"),
            done=Count("id", filter=done),
            own_n=Count("id", filter=Q(annotator=user)),
            own_done=Count("id", filter=done & Q(annotator=user)),
        )
    }
    rows = []
    for s in studies:
        own_only = not sees_others_labels(user, s)
        counts = assignments.get(s.pk, {})
        rows.append(
            StudyRow(
                study=s,
                role=roles[s.pk] or "",
                items=items.get(s.pk, {}).get("n", 0),
                # With several screeners the decisions come from the others' votes: hidden when blind.
                included=None if own_only and s.screening_overlap > 1 else items.get(s.pk, {}).get("inc", 0),
                assignments_total=counts.get("own_n" if own_only else "n", 0),
                assignments_done=counts.get("own_done" if own_only else "done", 0),
                own_only=own_only,
            )
        )
    return rows


def _count(model, **filters) -> Coalesce:
    sub = (
        model.objects.filter(item=OuterRef("pk"), **filters)
        .order_by()
        .values("item")
        .annotate(c=Count("id"))
        .values("c")[:1]
    )
    return Coalesce(Subquery(sub, output_field=IntegerField()), Value(0))


def items_for_study(
    *, study: Study, screening: str | None = None, needs_review: bool = False, needs_recode: bool = False
) -> QuerySet[StudyItem]:
    """Items with their report, screener, assignments (annotator, done or not: one query per page),
    assignment progress, number of final labels and of labels a codebook split flagged for recoding
    (``recode_count``; ``needs_recode`` keeps only the items with some). In id order, for keyset
    pages (``config.keyset``); the report's body and raw payload, never listed, are not read."""
    qs = (
        StudyItem.objects.filter(study=study)
        .select_related("report", "screened_by")
        .defer("report__body", "report__raw", "report__content_hash")
        .prefetch_related(
            Prefetch(
                "assignments",
                queryset=Assignment.objects.select_related("annotator").order_by("annotator__username"),
                to_attr="assignments_listed",
            )
        )
        .annotate(
            assignments_total=_count(Assignment),
            assignments_done=_count(Assignment, completed_at__isnull=False),
            final_label_count=_count(FinalLabel),
            recode_count=_count(Annotation, needs_recode=True),
        )
    )
    if needs_recode:
        qs = qs.filter(Exists(Annotation.objects.filter(item=OuterRef("pk"), needs_recode=True)))
    if screening:
        # Still id order (study and screening are fixed), spelt as the index that serves it.
        qs = qs.filter(screening=screening).order_by("study_id", "screening", "id")
    else:
        qs = qs.order_by("study_id", "id")
    if needs_review:
        qs = qs.filter(needs_review=True)
    return qs


def screening_next(*, study: Study) -> StudyItem | None:
    """The pending item to screen next (lowest id first), with its report and source labels."""
    return (
        StudyItem.objects.filter(study=study, screening=Screening.PENDING)
        .select_related("report")
        .prefetch_related("report__source_labels")
        .order_by("id")
        .first()
    )


def screening_item(*, study: Study, item_id: int) -> StudyItem:
    return (
        StudyItem.objects.select_related("report", "screened_by")
        .prefetch_related("report__source_labels")
        .get(study=study, pk=item_id)
    )


def screened_items(*, study: Study) -> QuerySet[StudyItem]:
    """Items already screened, the latest decision first."""
    return (
        StudyItem.objects.filter(study=study)
        .exclude(screening=Screening.PENDING)
        .select_related("report", "screened_by")
        .order_by("-screened_at", "-id")
    )


def draws_for_study(*, study: Study) -> QuerySet[SampleDraw]:
    return SampleDraw.objects.filter(study=study).select_related("created_by").order_by("-created_at", "-id")


def codebook_tree(*, codebook: Codebook) -> list[Dimension]:
    """Dimensions in order, each with ``tree``: [(top category, [children])], in two queries."""
    dimensions = list(codebook.dimensions.prefetch_related("categories").order_by("order", "id"))
    for dim in dimensions:
        cats = list(dim.categories.all())
        children: dict[int, list] = {}
        for c in cats:
            if c.parent_id:
                children.setdefault(c.parent_id, []).append(c)
        dim.tree = [(c, children.get(c.pk, [])) for c in cats if not c.parent_id]
    return dimensions


def assignments_visible_to(*, study: Study, user) -> QuerySet[Assignment]:
    """Owners and viewers see every assignment; an annotator only their own."""
    qs = Assignment.objects.filter(study=study).select_related("annotator", "item__report").order_by("id")
    if not can_read_results(user, study):
        qs = qs.filter(annotator=user)
    return qs


def members_of(*, study: Study) -> QuerySet[Membership]:
    return Membership.objects.filter(study=study).select_related("user").order_by("role", "user__username")
