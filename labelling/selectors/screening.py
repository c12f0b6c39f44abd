"""Reads about screening votes: each screener's queue, the votes a user may see, conflicts for
the owner, the overview funnel, and the votes as ratings for agreement statistics.

Blind screening holds here: while a study is blind an annotator reads their own votes only
(``labelling.permissions.sees_others_labels``), never another screener's vote or a count of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from labelling.models import ScreeningVote, Study, StudyItem
from labelling.permissions import sees_others_labels

Screening = StudyItem.Screening
Method = StudyItem.ScreeningMethod


def screening_ratings(*, study: Study) -> list[tuple[int, str, str]]:
    """Every screening vote of ``study`` as (item id, screener username, 'include' or 'exclude'),
    ordered by item and screener: the ratings for agreement statistics on screening (one query).
    Computed from every screener's votes: only for users who ``sees_others_labels``."""
    return list(
        ScreeningVote.objects.filter(study=study)
        .order_by("item_id", "screener__username")
        .values_list("item_id", "screener__username", "decision")
    )


def votes_visible_to(*, study: Study, user) -> QuerySet[ScreeningVote]:
    """Owners and viewers (and annotators of a study that is not blind) see every vote; an
    annotator of a blind study only their own."""
    qs = (
        ScreeningVote.objects.filter(study=study)
        .select_related("screener", "item__report")
        .order_by("-updated_at", "-id")
    )
    if not sees_others_labels(user, study):
        qs = qs.filter(screener=user)
    return qs


def votes_of_item(*, item: StudyItem, user) -> list[ScreeningVote]:
    """The votes on ``item`` that ``user`` may see (see ``votes_visible_to``), by screener name."""
    qs = ScreeningVote.objects.filter(item=item).select_related("screener").order_by("screener__username")
    if not sees_others_labels(user, item.study):
        qs = qs.filter(screener=user)
    return list(qs)


def item_vote_count(*, item: StudyItem) -> int:
    """How many screeners voted on ``item``: for deciding whether one more may vote (the page
    shows no count to a blind screener, only whether the vote buttons are there)."""
    return ScreeningVote.objects.filter(item=item).count()


def own_vote(*, item: StudyItem, user) -> ScreeningVote | None:
    return ScreeningVote.objects.filter(item=item, screener=user).first()


def screening_next_for(*, study: Study, user) -> StudyItem | None:
    """The next item for ``user`` to screen (lowest id first), with its report and source labels.

    One screener per item: the next pending item. Several: the next pending item that is not a
    conflict, has fewer than k votes and no vote of ``user``'s (blind: the page shows none of the
    other votes, only the item)."""
    qs = StudyItem.objects.filter(study=study, screening=Screening.PENDING)
    if study.screening_overlap > 1:
        qs = (
            qs.filter(screening_conflict=False)
            .annotate(votes=Count("screening_votes"))
            .filter(votes__lt=study.screening_overlap)
            .exclude(Exists(ScreeningVote.objects.filter(item=OuterRef("pk"), screener=user)))
        )
    return qs.select_related("report").prefetch_related("report__source_labels").order_by("id").first()


def screening_conflicts(*, study: Study) -> QuerySet[StudyItem]:
    """Items whose k votes decide nothing under the rule: the owner decides them."""
    return (
        StudyItem.objects.filter(study=study, screening=Screening.PENDING, screening_conflict=True)
        .select_related("report")
        .order_by("id")
    )


@dataclass
class ScreeningFunnel:
    """Screening counts for the overview: screened items, included by what decided them, excluded
    by reason; with several screeners, the votes cast and the conflicts waiting for the owner."""

    screened: int = 0
    pending: int = 0
    conflicts: int = 0
    included: dict[str, int] = field(default_factory=dict)  # {method label: count}
    excluded: list[tuple[str, int]] = field(default_factory=list)  # [(reason, count)], most first
    votes: int = 0

    @property
    def included_total(self) -> int:
        return sum(self.included.values())

    @property
    def excluded_total(self) -> int:
        return sum(n for _, n in self.excluded)

    def as_dict(self) -> dict:
        return {
            "screened": self.screened,
            "pending": self.pending,
            "conflicts": self.conflicts,
            "included": self.included_total,
            "included_by": self.included,
            "excluded": self.excluded_total,
            "excluded_by_reason": [{"reason": r, "count": n} for r, n in self.excluded],
            "votes": self.votes,
        }


def screening_funnel(*, study: Study) -> ScreeningFunnel:
    """The funnel of ``study`` in three aggregate queries (items by status and method, excluded
    items by reason, votes). Computed from every screener's votes: only for users who
    ``sees_others_labels``."""
    funnel = ScreeningFunnel()
    labels = dict(Method.choices)
    for row in (
        StudyItem.objects.filter(study=study)
        .order_by()
        .values("screening", "screening_method")
        .annotate(n=Count("id"), conflicts=Count("id", filter=Q(screening_conflict=True)))
        .order_by("screening", "screening_method")
    ):
        if row["screening"] == Screening.PENDING:
            funnel.pending += row["n"]
            funnel.conflicts += row["conflicts"]
            continue
        funnel.screened += row["n"]
        if row["screening"] == Screening.INCLUDED:
            label = labels.get(row["screening_method"]) or "Before votes were recorded"
            funnel.included[label] = funnel.included.get(label, 0) + row["n"]
    funnel.excluded = [
        (row["exclusion_reason"] or "(no reason)", row["n"])
        for row in StudyItem.objects.filter(study=study, screening=Screening.EXCLUDED)
        .order_by()
        .values("exclusion_reason")
        .annotate(n=Count("id"))
        .order_by("-n", "exclusion_reason")
    ]
    funnel.votes = ScreeningVote.objects.filter(study=study).count()
    return funnel


def own_screening_count(*, study: Study, user) -> int:
    """How many items ``user`` has voted on (their own progress, safe to show in a blind study)."""
    return ScreeningVote.objects.filter(study=study, screener=user).count()
