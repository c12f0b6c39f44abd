"""triage/links.py: a stored javascript: or data: URL never becomes a link (issue 10, point 10),
neither at ingestion (GitHub payloads) nor in any page (one template filter)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import ReportFactory, StudyItemFactory
from triage.github.pipeline import extract_links, issue_record, linked_changes_from_timeline
from triage.links import web_url
from triage.models import IssueDetails, LinkedChange

HOSTILE = [
    "javascript:alert(1)",
    " JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:x",
    "//evil.example/x",
    "http://",
    "https://user@evil",
    "http://a\tb",
]


@pytest.mark.parametrize("url", HOSTILE)
def test_only_web_addresses_pass(url):
    assert web_url(url) == ""


def test_web_addresses_pass_unchanged():
    assert web_url(" https://github.com/a/b/issues/1 ") == "https://github.com/a/b/issues/1"
    assert web_url("http://example.org/x?y=1#z") == "http://example.org/x?y=1#z"


def test_github_payloads_keep_only_web_addresses():
    record = issue_record({"number": 5, "title": "t", "html_url": "javascript:alert(1)", "state": "open"}, "a/b")
    assert record.url == "https://github.com/a/b/issues/5"
    events = [
        {
            "event": "cross-referenced",
            "source": {
                "issue": {
                    "number": 7,
                    "pull_request": {},
                    "html_url": "javascript:alert(2)",
                    "repository": {"full_name": "a/b"},
                }
            },
        }
    ]
    (link,) = linked_changes_from_timeline(events, "a/b")
    assert link.url == ""
    found = extract_links("see https://gist.github.com/x/1 and javascript:https://gist.github.com/x/2")
    assert found and all(web_url(link["url"]) == link["url"] for link in found)


@pytest.mark.django_db
def test_no_page_renders_a_stored_javascript_url_as_a_link(client, small_study):
    report = ReportFactory(url="javascript:alert(document.cookie)")
    IssueDetails.objects.create(
        report=report, repository="a/b", number=1, links=[{"kind": "notebook", "url": "javascript:alert(3)"}]
    )
    LinkedChange.objects.create(report=report, kind="pull_request", ref="a/b#2", url="javascript:alert(4)")
    item = StudyItemFactory(study=small_study["study"], report=report, screening="pending")
    client.force_login(small_study["owner"])
    pages = [
        reverse("triage:report-detail", args=[report.pk]),
        reverse("labelling:screening", args=["small"]) + f"?item={item.pk}",
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert 'href="javascript:' not in response.content.decode().lower(), url
