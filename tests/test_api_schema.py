"""The OpenAPI schema and its browsable UI (config/urls.py), served without any CDN."""

import re

import pytest
from django.core.management import call_command

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

KEY_PATHS = [
    "/api/studies/",
    "/api/studies/{slug}/items/sample/",
    "/api/studies/{slug}/items/{item_id}/screen/",
    "/api/studies/{slug}/next-item/",
    "/api/studies/{slug}/items/{item_id}/annotations/",
    "/api/annotations/{id}/",
    "/api/studies/{slug}/export/",
    "/api/studies/{slug}/labels/import/",
    "/api/reports/",
    "/api/reports/import/",
]


def test_schema_documents_every_use_case(client):
    client.force_login(UserFactory())
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    missing = [p for p in KEY_PATHS if p not in schema["paths"]]
    assert not missing, missing
    assert "tokenAuth" in schema["components"]["securitySchemes"]


def test_schema_generates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert "openapi:" in (tmp_path / "schema.yaml").read_text()


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_browsable_docs_load_their_assets_from_this_server(client, path):
    client.force_login(UserFactory())
    html = client.get(path).content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css|png))"', html)
    assert assets, "the page should load its UI assets"
    assert all(a.startswith("/static/") for a in assets), assets


def test_api_errors_have_one_shape(client):
    response = client.get("/api/studies/")
    assert response.status_code in (401, 403)
    body = response.json()
    assert set(body) == {"message", "details"} and "credentials" in body["message"].lower()
