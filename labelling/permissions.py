"""Who may do what in a study. Every view and endpoint asks these, nowhere else.

Roles: owner (everything), adjudicator (reads every label and decides the final label of a
disagreement: ``can_adjudicate``), annotator (label own assignments, see own labels),
viewer (read results). Staff users are treated as owners of every study.

Blind labelling: while a study is blind, an annotator reads nothing computed from another
annotator's labels (values, notes, final labels, disagreements, counts of them, the others'
progress). ``sees_others_labels`` is the one place that decides it; the selectors ask it.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.http import Http404
from django.shortcuts import get_object_or_404
from rest_framework.permissions import BasePermission

from labelling.models import Membership, Study

Role = Membership.Role
READ_RESULTS_ROLES = {Role.OWNER, Role.VIEWER}
ALL_ROLES = {Role.OWNER, Role.ADJUDICATOR, Role.ANNOTATOR, Role.VIEWER}
ADJUDICATE_ROLES = {Role.OWNER, Role.ADJUDICATOR}


def role_in(user, study: Study) -> str | None:
    """The user's role in ``study`` or None. Cached per (user, study) on the user object."""
    if not user or not user.is_authenticated:
        return None
    if user.is_staff:
        return Role.OWNER
    cache = user.__dict__.setdefault("_study_roles", {})
    if study.pk not in cache:
        cache[study.pk] = Membership.objects.filter(study=study, user=user).values_list("role", flat=True).first()
    return cache[study.pk]


def is_owner(user, study: Study) -> bool:
    return role_in(user, study) == Role.OWNER


def can_view_study(user, study: Study) -> bool:
    return role_in(user, study) in ALL_ROLES


def can_read_results(user, study: Study) -> bool:
    """Owners and viewers see everybody's labels, final labels and exports."""
    return role_in(user, study) in READ_RESULTS_ROLES


def can_view_agreement(user, study: Study) -> bool:
    """The agreement figures (kappas, alpha, AC1, confusion matrices) are computed from every
    annotator's labels: owners and viewers (and staff) only, like the other results. An annotator
    never sees them, blind study or not: the figures are about the annotators themselves."""
    return can_read_results(user, study)


def can_view_analytics(user, study: Study) -> bool:
    """The Analytics page and the chart data API: results readers (owners, viewers) and adjudicators
    (who read every label anyway). Never an annotator: in a blind study the charts are computed
    from the others' labels, and the agreement and progress charts are about the annotators. The
    charts about the annotators (agreement, progress) are shown only to ``can_view_agreement``."""
    return can_read_results(user, study) or can_adjudicate(user, study)


def can_adjudicate(user, study: Study) -> bool:
    """Owners and adjudicators decide the final label of a disagreement, and so read every
    annotator's values and notes of it. Never an annotator, blind study or not."""
    return role_in(user, study) in ADJUDICATE_ROLES


def can_read_decisions(user, study: Study) -> bool:
    """The list of adjudications (who chose what, why): results readers and adjudicators."""
    return can_read_results(user, study) or can_adjudicate(user, study)


def can_annotate(user, study: Study) -> bool:
    return role_in(user, study) in {Role.OWNER, Role.ANNOTATOR}


def can_screen(user, study: Study) -> bool:
    """Owners screen every study; with several screeners per item (``screening_overlap`` > 1)
    annotators vote too, each blind to the others' votes while the study is blind."""
    role = role_in(user, study)
    return role == Role.OWNER or (role == Role.ANNOTATOR and study.screening_overlap > 1)


def sees_others_labels(user, study: Study) -> bool:
    """May ``user`` read what is computed from other annotators' labels in ``study``?

    That is their values and notes, and every figure derived from them: final labels and their
    count, disagreements, items finished by k annotators, the other annotators' progress.
    Owners and viewers always may. An annotator may only while the study is not blind; in a
    blind study they see their own labels and their own progress, nothing else. Non-members never.
    """
    role = role_in(user, study)
    return role in READ_RESULTS_ROLES | ADJUDICATE_ROLES or (role == Role.ANNOTATOR and not study.blind)


def sees_adjudicated_outcomes(user, study: Study) -> bool:
    """May annotator ``user`` read the adjudicated final labels of the items they finished?
    Only once the study is not blind and its ``adjudication_outcomes_shown`` setting is on; never
    while it is blind. Owners, adjudicators and viewers read every final label anyway."""
    return role_in(user, study) == Role.ANNOTATOR and not study.blind and study.adjudication_outcomes_shown


def can_read_final_labels(user, study: Study) -> bool:
    """Every final label (results readers), or an annotator's adjudicated outcomes (``sees_adjudicated_outcomes``)."""
    return can_read_results(user, study) or sees_adjudicated_outcomes(user, study)


def can_create_accounts(user) -> bool:
    """Creating accounts (e.g. the annotators a label import names) is for staff only."""
    return bool(user and user.is_authenticated and user.is_staff)


def study_for(user, slug: str, *, check) -> Study:
    """Fetch a study by slug and apply ``check``; a non-member gets 404, a member without the right 403."""
    studies = Study.objects.filter(slug=slug)
    if user.is_authenticated and not user.is_staff:
        # One query for the study and the user's role in it (role_in then reads the cache).
        role = Membership.objects.filter(study=OuterRef("pk"), user=user).values("role")[:1]
        studies = studies.annotate(_role=Subquery(role))
    study = get_object_or_404(studies)
    if hasattr(study, "_role"):
        user.__dict__.setdefault("_study_roles", {})[study.pk] = study._role
    if not can_view_study(user, study):
        raise Http404("No such study.")
    if not check(user, study):
        raise PermissionDenied("Your role in this study does not allow this.")
    return study


def roles_in(user, studies) -> dict[int, str | None]:
    """``role_in`` for many studies in one query: {study id: role or None}, cached like role_in."""
    studies = list(studies)
    if not user or not user.is_authenticated:
        return {s.pk: None for s in studies}
    if user.is_staff:
        return {s.pk: Role.OWNER for s in studies}
    cache = user.__dict__.setdefault("_study_roles", {})
    missing = [s.pk for s in studies if s.pk not in cache]
    if missing:
        found = dict(Membership.objects.filter(study_id__in=missing, user=user).values_list("study_id", "role"))
        cache.update({pk: found.get(pk) for pk in missing})
    return {s.pk: cache[s.pk] for s in studies}


def studies_visible_to(user):
    if user.is_staff:
        return Study.objects.all()
    return Study.objects.filter(memberships__user=user).distinct()


def studies_with_results_visible_to(user):
    """The studies whose results (every label, the item pages) ``user`` may read: ``can_read_results``, in bulk."""
    if not user or not user.is_authenticated:
        return Study.objects.none()
    if user.is_staff:
        return Study.objects.all()
    return Study.objects.filter(memberships__user=user, memberships__role__in=READ_RESULTS_ROLES).distinct()


class _StudyPermission(BasePermission):
    """DRF permission for views that have ``self.study`` (set in ``initial``) or a study object."""

    check = staticmethod(can_view_study)
    message = "Your role in this study does not allow this."

    def _study(self, view, obj=None):
        if obj is not None:
            return obj if isinstance(obj, Study) else getattr(obj, "study", None)
        return getattr(view, "study", None)

    def has_permission(self, request, view):
        study = self._study(view)
        return True if study is None else bool(self.check(request.user, study))

    def has_object_permission(self, request, view, obj):
        study = self._study(view, obj)
        return study is not None and bool(self.check(request.user, study))


class IsStudyMember(_StudyPermission):
    check = staticmethod(can_view_study)


class IsStudyOwner(_StudyPermission):
    check = staticmethod(is_owner)


class CanReadResults(_StudyPermission):
    check = staticmethod(can_read_results)


class CanViewAgreement(_StudyPermission):
    check = staticmethod(can_view_agreement)


class CanScreen(_StudyPermission):
    check = staticmethod(can_screen)


class CanAdjudicate(_StudyPermission):
    check = staticmethod(can_adjudicate)


class CanAnnotate(_StudyPermission):
    check = staticmethod(can_annotate)


def can_read_releases(user, study: Study) -> bool:
    """A release holds every annotator's labels (pseudonymised or not): owners and viewers (and
    staff) list and download them, like the exports; never an annotator or an adjudicator."""
    return can_read_results(user, study)


def can_create_releases(user, study: Study) -> bool:
    """Freezing a study as a citable release is the owner's decision."""
    return is_owner(user, study)


class CanReadReleases(_StudyPermission):
    check = staticmethod(can_read_releases)
def can_manage_rounds(user, study: Study) -> bool:
    """Creating, closing and re-opening calibration rounds is the owner's (everyone in the study
    sees the rounds; their figures follow ``can_view_agreement``)."""
    return is_owner(user, study)
