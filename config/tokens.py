"""POST /api/auth/token/: a username and password for the API token, under the login throttle.

DRF's ``obtain_auth_token`` hands its own Request to ``authenticate()``; django-axes marks a
locked-out attempt on the request it is given, and its middleware looks for the mark on
Django's request. This view passes Django's request, so a lockout answers 429 with when to
retry (config.lockout) instead of the generic "Unable to log in". A token handed out is a
login: ``user_logged_in`` is sent, so the failure count starts again and last_login is kept.
"""

from django.contrib.auth.signals import user_logged_in
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.response import Response


class ObtainTokenView(ObtainAuthToken):
    def post(self, request, *args, **kwargs):
        serializer = self.serializer_class(data=request.data, context={"request": request._request})
        serializer.is_valid(raise_exception=True)
        user = serializer.validated_data["user"]
        user_logged_in.send(sender=user.__class__, request=request._request, user=user)
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})


obtain_token = ObtainTokenView.as_view()
