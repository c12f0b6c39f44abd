"""Error pages and error logging (issue 17): 403, 404 and 500 in the site's layout with the
reason and a way back (JSON under /api/); a refused request is one log line, not a traceback."""

from __future__ import annotations

import logging

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_403_is_styled_with_the_reason_and_a_way_back(client, small_study):
    client.force_login(small_study["ann1"])
    settings_url = reverse("labelling:study-settings", args=["small"])
    study_url = reverse("labelling:study-detail", args=["small"])
    response = client.get(settings_url, HTTP_REFERER="http://testserver" + study_url)
    assert response.status_code == 403
    html = response.content.decode()
    assert "Not allowed (403)" in html and "Your role in this study does not allow this." in html
    assert 'class="topbar"' in html  # the site's layout
    assert f'href="http://testserver{study_url}"' in html and "Go to your studies" in html


def test_404_says_what_happened_without_djangos_internals(client, small_study):
    client.force_login(small_study["outsider"])
    html = client.get("/studies/small/").content.decode()  # a study you are not in
    assert "Not found (404)" in html and "No such study." in html
    response = client.get("/no/such/page/", HTTP_REFERER="https://evil.example/")
    html = response.content.decode()
    assert response.status_code == 404 and "There is nothing at this address" in html
    assert "evil.example" not in html  # only a way back into this site


def test_404_with_debug_pages_off_is_the_styled_page_even_in_development(settings, client):
    settings.DEBUG = False
    assert "Not found (404)" in client.get("/no/such/page/").content.decode()


def test_api_errors_stay_json(api_client):
    response = api_client.get("/api/no-such-endpoint/")
    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    assert set(response.json()) == {"message", "details"}


def test_500_renders_in_the_layout_without_a_database(settings):
    from django.test import RequestFactory

    from config.error_pages import server_error

    request = RequestFactory().get("/studies/")
    from django.db import connection

    with connection.execute_wrapper(_no_queries):
        response = server_error(request)
    html = response.content.decode()
    assert response.status_code == 500 and "Something went wrong (500)" in html and 'class="topbar"' in html


def _no_queries(execute, sql, params, many, context):
    raise AssertionError(f"the 500 page ran a query: {sql}")


def test_a_500_from_a_view_is_the_styled_page(settings, small_study, monkeypatch):
    import labelling.views.studies as views

    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(views, "studies_with_progress", broken)
    client = Client(raise_request_exception=False)
    client.force_login(small_study["owner"])
    response = client.get("/")
    assert response.status_code == 500 and "Something went wrong (500)" in response.content.decode()


def test_a_refused_request_logs_one_line_not_a_traceback(client, small_study, caplog):
    client.force_login(small_study["viewer"])
    with caplog.at_level(logging.WARNING, logger="django.request"):
        assert client.get(reverse("labelling:study-settings", args=["small"])).status_code == 403
    records = [r for r in caplog.records if r.name == "django.request"]
    assert [r.getMessage() for r in records] == ["Forbidden (Permission denied): /studies/small/settings/"]
    formatted = logging.Formatter().format(records[0])
    assert "Traceback" not in formatted and "\n" not in formatted


def test_server_errors_keep_their_traceback(caplog, small_study, monkeypatch):
    import labelling.views.studies as views

    monkeypatch.setattr(views, "studies_with_progress", lambda **kw: 1 / 0)
    client = Client(raise_request_exception=False)
    client.force_login(small_study["owner"])
    with caplog.at_level(logging.ERROR, logger="django.request"):
        client.get("/")
    record = next(r for r in caplog.records if r.name == "django.request")
    assert "ZeroDivisionError" in logging.Formatter().format(record)


def test_favicon_is_served_at_the_root_and_linked(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response["Content-Type"] in ("image/x-icon", "image/vnd.microsoft.icon")
    assert b"".join(response.streaming_content if response.streaming else [response.content])[:4] == b"\0\0\1\0"
    UserFactory(username="fav")
    html = client.get(reverse("login")).content.decode()
    assert 'rel="icon"' in html and "favicon.svg" in html
