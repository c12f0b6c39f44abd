"""/reports/ (list with filters) and /reports/<id>/ (one report)."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from tests.factories import ReportFactory, StudyFactory, StudyItemFactory, UserFactory
from triage.models import SourceLabel

pytestmark = pytest.mark.django_db

LIST = "/reports/"


@pytest.fixture
def user_client(client):
    client.force_login(UserFactory(username="reader"))
    return client


def test_pages_need_a_login(client):
    report = ReportFactory()
    for url in (LIST, reverse("triage:report-detail", args=[report.pk])):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_empty_list_says_how_to_add_reports(user_client):
    page = user_client.get(LIST).content.decode()
    assert "No reports yet" in page and "0 reports" in page


def test_list_shows_reports_counts_and_filters(user_client, django_assert_max_num_queries):
    label = SourceLabel.objects.create(name="type:bug")
    tf = ReportFactory(framework="tensorflow", title="Gradient NaN", created_at=datetime(2021, 1, 1, tzinfo=UTC))
    tf.source_labels.add(label)
    for _ in range(3):
        ReportFactory(framework="pytorch", state="open", created_at=datetime(2023, 1, 1, tzinfo=UTC)).source_labels.add(
            label
        )

    # (10 since issue 12: one prefetch of the listed reports' items in studies whose results the
    # user may read, for the links to their item pages)
    with django_assert_max_num_queries(10):  # session, user, its 2 permission reads (one is cached per request), ...
        page = user_client.get(LIST).content.decode()
    assert "4 reports" in page and "pytorch 3" in page and "Gradient NaN" in page

    page = user_client.get(LIST, {"framework": "TensorFlow"}).content.decode()
    assert "1 of 4 reports" in page and "Gradient NaN" in page and "Clear filters" in page
    assert user_client.get(LIST, {"created_from": "2022-01-01"}).context["matching"] == 3
    assert user_client.get(LIST, {"created_to": "2021-01-01"}).context["matching"] == 1
    assert user_client.get(LIST, {"state": "open", "label": "type:bug"}).context["matching"] == 3
    assert user_client.get(LIST, {"q": "gradient"}).context["matching"] == 1
    assert user_client.get(LIST, {"kind": "crash"}).context["matching"] == 0


def test_no_match_and_bad_dates_are_explained(user_client):
    ReportFactory()
    assert "No report matches these filters" in user_client.get(LIST, {"q": "zzz-nothing"}).content.decode()
    page = user_client.get(LIST, {"created_from": "soon"}).content.decode()
    assert "ISO 8601" in page


def test_list_is_paginated_by_fifty_and_keeps_the_filters(user_client):
    ReportFactory.create_batch(51, framework="jax")
    first = user_client.get(LIST, {"framework": "jax"})
    assert len(first.context["page"].object_list) == 50
    cursor = first.context["page"].next_cursor
    assert f"framework=jax&amp;cursor={cursor}" in first.content.decode()
    second = user_client.get(LIST, {"framework": "jax", "cursor": cursor})
    assert len(second.context["page"].object_list) == 1 and not second.context["page"].has_next


def test_detail_escapes_the_title_and_sanitises_the_body(user_client):
    report = ReportFactory(
        title="<script>alert('t')</script> in title",
        body="**bold** <img src=x onerror=alert(1)> [x](javascript:alert(2))\n\n```python\nimport torch\n```",
        url="https://github.com/pytorch/pytorch/issues/1",
        created_at=datetime(2022, 2, 3, 4, 5, tzinfo=UTC),
    )
    report.source_labels.add(SourceLabel.objects.create(name="module: nn"))

    page = user_client.get(reverse("triage:report-detail", args=[report.pk])).content.decode()

    assert "<script>alert('t')" not in page and "&lt;script&gt;alert(&#x27;t&#x27;)&lt;/script&gt;" in page
    assert "<strong>bold</strong>" in page
    assert "onerror=alert" not in page.replace("&lt;img src=x onerror=alert(1)&gt;", "")
    assert 'href="javascript:' not in page
    assert 'class="hl-kn"' in page  # highlighted code
    assert 'href="https://github.com/pytorch/pytorch/issues/1"' in page and 'rel="noopener' in page
    assert "module: nn" in page and "2022-02-03 04:05" in page


def test_detail_names_only_the_studies_the_user_can_see(client, small_study):
    report = ReportFactory()
    StudyItemFactory(study=small_study["study"], report=report)
    StudyItemFactory(study=StudyFactory(name="Secret study"), report=report)
    url = reverse("triage:report-detail", args=[report.pk])

    client.force_login(small_study["ann1"])
    page = client.get(url).content.decode()
    assert "Small study" in page and "Secret study" not in page

    client.force_login(small_study["outsider"])
    page = client.get(url).content.decode()
    assert "Small study" not in page and "not in any study you can see" in page


def test_missing_report_is_404(user_client):
    assert user_client.get(reverse("triage:report-detail", args=[424242])).status_code == 404
