"""API token authentication: DRF's ``TokenAuthentication`` with the token and its user read in one
plain SQL query (every API call pays it; building DRF's ``select_related`` query cost more than
running it). Nothing is cached: a deleted token or a deactivated user is refused at the very next
request, as with DRF's own class, whose header parsing and messages this one keeps.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key):
        user_model = get_user_model()
        users = user_model.objects.raw(
            f"SELECT u.* FROM {user_model._meta.db_table} u "
            f"JOIN {Token._meta.db_table} t ON t.user_id = u.{user_model._meta.pk.column} WHERE t.key = %s",
            [key],
        )
        user = next(iter(users), None)
        if user is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        token = Token.from_db(users.db, ["key", "user_id"], [key, user.pk])  # its creation time is read if asked
        token.user = user
        return user, token
