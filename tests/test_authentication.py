"""config/authentication.py: API tokens, read afresh on every request (no cache to outlive a revocation)."""

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = reverse("labelling-api:study-list")


def _client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_token_authenticates_its_user():
    user = UserFactory()
    token = Token.objects.create(user=user)
    response = _client(token.key).get(URL)
    assert response.status_code == 200
    assert response.wsgi_request.user == user


def test_a_deleted_token_is_refused_at_the_next_request():
    token = Token.objects.create(user=UserFactory())
    client = _client(token.key)
    assert client.get(URL).status_code == 200
    token.delete()
    response = client.get(URL)
    assert response.status_code == 401
    assert "Invalid token" in str(response.json())


def test_a_deactivated_user_is_refused_at_the_next_request():
    user = UserFactory()
    token = Token.objects.create(user=user)
    client = _client(token.key)
    assert client.get(URL).status_code == 200
    user.is_active = False
    user.save(update_fields=["is_active"])
    response = client.get(URL)
    assert response.status_code == 401
    assert "inactive" in str(response.json())


@pytest.mark.parametrize("header", ["Token", "Token a b", "Token nosuchkey"])
def test_a_bad_token_header_is_401_not_500(header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert client.get(URL).status_code == 401
