"""Writes to studies: create one (with its codebook), change its settings, manage members."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from config.errors import ApplicationError
from labelling import decision_rules
from labelling.codebook_templates import codebook_from_json, load_template
from labelling.models import Assignment, Codebook, CodebookEvent, Membership, Study
from labelling.selectors.labelling import progress_forget
from labelling.services.codebook_events import codebook_changed
from labelling.services.codebooks import codebook_fill_from_template
from labelling.services.disagreements import disagreements_refresh
from labelling.services.results import study_results_changed
from labelling.services.screening import screening_settings_changed

Role = Membership.Role
STUDY_FIELDS = {
    "name",
    "description",
    "overlap_k",
    "blind",
    "exclusion_reasons",
    "screening_overlap",
    "screening_rule",
    "reproduction_suggestions",
    "adjudication_shows_names",
    "adjudication_outcomes_shown",
}


def exclusion_reasons_clean(reasons) -> list[str]:
    """One reason per entry (or per line of a string), stripped, blanks and repeats dropped."""
    if reasons is None:
        return []
    if isinstance(reasons, str):
        reasons = reasons.splitlines()
    out: list[str] = []
    for reason in reasons:
        reason = str(reason).strip()
        if len(reason) > 200:
            raise ValidationError(
                {"exclusion_reasons": [f"'{reason[:40]}...' is longer than 200 characters; shorten it."]}
            )
        if reason and reason not in out:
            out.append(reason)
    return out


def _check_screening(field: str, value) -> None:
    if field == "screening_overlap" and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise ValidationError({"screening_overlap": ["Screeners per item must be a whole number of at least 1."]})
    if field == "screening_rule" and value not in decision_rules.SCREENING_RULES:
        raise ValidationError(
            {"screening_rule": [decision_rules.rule_error(value, allowed=decision_rules.SCREENING_RULES)]}
        )


def _check_k(overlap_k) -> None:
    if not isinstance(overlap_k, int) or isinstance(overlap_k, bool) or overlap_k < 1:
        raise ValidationError({"overlap_k": ["k (annotators per item) must be a whole number of at least 1."]})


@transaction.atomic
def study_create(
    *,
    slug: str,
    name: str,
    owner: AbstractBaseUser,
    template_slug: str | None = None,
    description: str = "",
    overlap_k: int = 2,
    blind: bool = True,
    exclusion_reasons: list[str] | None = None,
    reproduction_suggestions: bool | None = None,
    codebook: dict | None = None,
) -> Study:
    """Create a study, its codebook (a copy of ``template_slug``, of ``codebook`` — a codebook in the
    template format, e.g. another study's export, checked by ``codebook_from_json`` — or empty) and the
    owner's membership.

    ``reproduction_suggestions`` (label pages show what matched reproductions suggest) defaults to off
    in a blind study and on otherwise; the choice is the study's setting, changed by its owner."""
    if template_slug and codebook is not None:
        raise ValidationError(
            {"template": ["Start from a template or from an uploaded codebook, not both: leave one empty."]}
        )
    template = load_template(template_slug) if template_slug else None
    if codebook is not None:
        template = codebook_from_json(codebook)
    slug = (slug or "").strip()
    _check_k(overlap_k)
    if Study.objects.filter(slug=slug).exists():
        raise ValidationError({"slug": [f"A study '{slug}' already exists. Choose another slug."]})
    study = Study(
        slug=slug,
        name=(name or "").strip(),
        description=description or "",
        overlap_k=overlap_k,
        blind=blind,
        reproduction_suggestions=(not blind) if reproduction_suggestions is None else bool(reproduction_suggestions),
        exclusion_reasons=exclusion_reasons_clean(exclusion_reasons),
        template_slug=template_slug or "",
        created_by=owner,
    )
    study.full_clean()
    study.save()

    if template is not None:
        codebook_row = Codebook(
            study=study,
            name=template.get("name") or template_slug or f"{study.name} codebook",
            description=template.get("description") or "",
            source=template.get("source") or "",
        )
    else:
        codebook_row = Codebook(study=study, name=f"{study.name} codebook")
    codebook_row.full_clean()
    codebook_row.save()
    if template is not None:
        codebook_fill_from_template(codebook=codebook_row, template={**template, "slug": template_slug or ""}, by=owner)
    else:
        codebook_changed(
            study_id=study.pk, kind=CodebookEvent.Kind.CREATED, summary="Empty codebook created.", by=owner
        )

    membership = Membership(study=study, user=owner, role=Role.OWNER)
    membership.full_clean()
    membership.save()
    study_results_changed(study_ids=[study.pk])
    return study


@transaction.atomic
def study_update(*, study: Study, data: dict) -> Study:
    """Change the settings in ``data`` (a subset of name, description, overlap_k, blind,
    exclusion_reasons, screening_overlap, screening_rule, reproduction_suggestions,
    adjudication_shows_names, adjudication_outcomes_shown).

    Changing the screening overlap or rule decides the pending items (conflicts included) again
    under the new settings; decided items keep their decision.

    Lowering k keeps the assignments already made; raising it takes effect at the next
    "Make assignments".
    """
    unknown = set(data) - STUDY_FIELDS
    if unknown:
        raise ValueError(f"study_update got unknown fields: {sorted(unknown)}")
    study = Study.objects.select_for_update().get(pk=study.pk)
    changed = []
    for field, value in data.items():
        if field == "exclusion_reasons":
            value = exclusion_reasons_clean(value)
        elif field == "overlap_k":
            _check_k(value)
        elif field in {"screening_overlap", "screening_rule"}:
            _check_screening(field, value)
        elif field == "name":
            value = (value or "").strip()
        if getattr(study, field) != value:
            setattr(study, field, value)
            changed.append(field)
    if changed:
        study.full_clean(exclude=["created_by"])  # may be empty on old rows (its user was deleted)
        study.save(update_fields=changed)
    if {"screening_overlap", "screening_rule"} & set(changed):
        screening_settings_changed(study=study)
    if "overlap_k" in changed:  # an item needs that many finished annotators to be in disagreement
        disagreements_refresh(study=study)
    if changed:  # k, the screening rule, blind: what the overview counts and who sees it
        study_results_changed(study_ids=[study.pk])
    return study


def _owner_count(study: Study) -> int:
    return Membership.objects.filter(study=study, role=Role.OWNER).count()


@transaction.atomic
def membership_set(*, study: Study, user: AbstractBaseUser, role: str) -> Membership:
    """Add ``user`` to ``study`` with ``role``, or change their role. The last owner stays an owner."""
    if role not in Role.values:
        raise ValidationError({"role": [f"'{role}' is not a role. Use one of: {', '.join(Role.values)}."]})
    Study.objects.select_for_update().filter(pk=study.pk).first()  # serialise membership changes
    membership = Membership.objects.filter(study=study, user=user).first()
    if membership is None:
        membership = Membership(study=study, user=user, role=role)
        membership.full_clean()
        membership.save()
        study_results_changed(study_ids=[study.pk])  # the overview's annotators
        return membership
    if membership.role == role:
        return membership
    if membership.role == Role.OWNER and _owner_count(study) <= 1:
        raise ApplicationError(
            f"{user.get_username()} is the last owner of '{study.slug}'. Make someone else an owner first.",
            status=409,
        )
    if membership.role == Role.ANNOTATOR:
        _drop_open_assignments(study, user)
    membership.role = role
    membership.full_clean()
    membership.save(update_fields=["role"])
    study_results_changed(study_ids=[study.pk])  # the overview's annotators
    return membership


def _drop_open_assignments(study: Study, user) -> int:
    dropped = Assignment.objects.filter(study=study, annotator=user, completed_at__isnull=True)
    item_ids = list(dropped.values_list("item_id", flat=True))
    deleted, _ = dropped.delete()
    if deleted:
        progress_forget(study_id=study.pk, annotator_ids=[user.pk])
        # The items' other assignments may all be completed now.
        disagreements_refresh(study=study, item_ids=item_ids)
    return deleted


@transaction.atomic
def membership_remove(*, study: Study, user: AbstractBaseUser) -> None:
    """Remove ``user`` from ``study``. Their open assignments go (the next "Make assignments"
    gives the items to others); completed assignments and their labels stay."""
    Study.objects.select_for_update().filter(pk=study.pk).first()
    membership = Membership.objects.filter(study=study, user=user).first()
    if membership is None:
        raise ApplicationError(f"{user.get_username()} is not a member of '{study.slug}'.", status=404)
    if membership.role == Role.OWNER and _owner_count(study) <= 1:
        raise ApplicationError(
            f"{user.get_username()} is the last owner of '{study.slug}' and cannot be removed. "
            "Make someone else an owner first.",
            status=409,
        )
    _drop_open_assignments(study, user)
    membership.delete()
    study_results_changed(study_ids=[study.pk])  # the overview's annotators
