"""Invitations: an owner makes one-time links that add whoever opens them to a study.

A link carries a random token (``secrets.token_urlsafe(32)``, 256 bits: not guessable); the
database keeps only its SHA-256, so the link is shown once, when it is made. Accepting runs in
one transaction that locks the invitation row (``select_for_update``): two people opening the
same link at once get one membership between them, the other a clear "already used".
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.errors import ApplicationError
from labelling.models import Membership, Study, StudyInvitation
from labelling.selectors.invitations import invitation_for_token, token_hash
from labelling.services.studies import membership_set

Role = Membership.Role
DEFAULT_DAYS = 14
MAX_DAYS = 90
MAX_COUNT = 100


@dataclass(frozen=True)
class NewInvitation:
    """An invitation just made, with the token that is never stored (build the link from it)."""

    invitation: StudyInvitation
    token: str


def _check_role(role: str) -> None:
    if role not in Role.values:
        raise ValidationError({"role": [f"'{role}' is not a role. Use one of: {', '.join(Role.values)}."]})


@transaction.atomic
def invitations_create(
    *, study: Study, role: str, created_by: AbstractBaseUser | None, count: int = 1, days: int = DEFAULT_DAYS
) -> list[NewInvitation]:
    """Make ``count`` one-time invitations to ``study`` as ``role``, valid for ``days`` days."""
    _check_role(role)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_COUNT:
        raise ValidationError({"count": [f"Make between 1 and {MAX_COUNT} invitations at a time."]})
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_DAYS:
        raise ValidationError({"days": [f"An invitation is valid for 1 to {MAX_DAYS} days."]})
    expires_at = timezone.now() + timedelta(days=days)
    made = []
    for _ in range(count):
        token = secrets.token_urlsafe(32)
        invitation = StudyInvitation(
            study=study, role=role, token_hash=token_hash(token), created_by=created_by, expires_at=expires_at
        )
        invitation.full_clean()
        invitation.save()
        made.append(NewInvitation(invitation=invitation, token=token))
    return made


@transaction.atomic
def invitation_revoke(*, invitation: StudyInvitation) -> StudyInvitation:
    """Revoke an invitation that is not used yet (revoking twice is fine)."""
    invitation = StudyInvitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.used_at is not None:
        raise ApplicationError("This invitation was already used; remove the member instead.", status=409)
    if invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
    return invitation


def _locked(token: str) -> StudyInvitation:
    return invitation_for_token(token=token, lock=True)


def _use(invitation: StudyInvitation, user: AbstractBaseUser) -> Membership:
    membership = membership_set(study=invitation.study, user=user, role=invitation.role)
    invitation.used_by = user
    invitation.used_at = timezone.now()
    invitation.save(update_fields=["used_by", "used_at"])
    return membership


@transaction.atomic
def invitation_accept(*, token: str, user: AbstractBaseUser) -> Membership:
    """``user`` (logged in) accepts the invitation: they join its study with its role.

    A member of the study already keeps their role and the link stays unused."""
    invitation = _locked(token)
    current = Membership.objects.filter(study=invitation.study, user=user).values_list("role", flat=True).first()
    if current is not None:
        raise ApplicationError(
            f"You are already {current} of '{invitation.study.name}'; the invitation was not used. "
            "Pass the link to the person it is meant for.",
            status=409,
        )
    return _use(invitation, user)


@transaction.atomic
def invitation_accept_with_signup(*, token: str, username: str, password: str, email: str = "") -> Membership:
    """A newcomer sets a username and password; the account and the membership are made together."""
    invitation = _locked(token)
    User = get_user_model()
    username = User.normalize_username((username or "").strip())
    taken = ValidationError({"username": [f"'{username}' is taken. If it is your account, log in and accept instead."]})
    if username and User.objects.filter(username__iexact=username).exists():
        raise taken
    user = User(username=username, email=(email or "").strip())
    user.full_clean(exclude=["password"])
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from exc
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:  # the same username signed up a moment ago
        raise taken from exc
    return _use(invitation, user)
