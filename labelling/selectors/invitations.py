"""Reads about invitations: the usable one behind a link, a study's list for its owner."""

from __future__ import annotations

import hashlib

from django.utils import timezone

from config.errors import ApplicationError
from labelling.models import Study, StudyInvitation

INVALID = "This invitation link is not valid. Check that you copied all of it, or ask the study owner for a new one."


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def invitation_usable(invitation: StudyInvitation) -> StudyInvitation:
    """``invitation`` if it can still be accepted, else ApplicationError saying why and what to do."""
    state = invitation.state(timezone.now())
    if state == "used":
        raise ApplicationError(
            "This invitation link was already used; each link works once. Ask the study owner for a new one.",
            status=409,
        )
    if state == "revoked":
        raise ApplicationError("The study owner withdrew this invitation. Ask them for a new one.", status=409)
    if state == "expired":
        raise ApplicationError(
            f"This invitation expired on {invitation.expires_at:%Y-%m-%d %H:%M} UTC. "
            "Ask the study owner for a new one.",
            status=409,
        )
    return invitation


def invitation_for_token(*, token: str, lock: bool = False) -> StudyInvitation:
    """The usable invitation behind ``token`` (locked for update when ``lock``), or ApplicationError."""
    invitations = StudyInvitation.objects.select_related("study")
    if lock:
        invitations = invitations.select_for_update()
    invitation = invitations.filter(token_hash=token_hash(token or "")).first()
    if invitation is None:
        raise ApplicationError(INVALID, status=404)
    return invitation_usable(invitation)


def invitations_of(*, study: Study) -> list[StudyInvitation]:
    """The study's invitations, newest first, each with ``current_state`` (open, used, revoked, expired)."""
    now = timezone.now()
    rows = list(StudyInvitation.objects.filter(study=study).select_related("created_by", "used_by"))
    for row in rows:
        row.current_state = row.state(now)
    return rows
