"""A hostile report (tests/fakes/xss_report.json) shown on the labelling page and the report page runs nothing."""

import json
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.factories import AssignmentFactory, CategoryFactory, ReportFactory, StudyItemFactory
from triage.models import SourceLabel

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

XSS_REPORT = Path(__file__).resolve().parent.parent / "fakes" / "xss_report.json"
HOSTILE_CATEGORY = '<img src=x onerror="window.__xss=9">Evil'


def _hostile_report():
    data = json.loads(XSS_REPORT.read_text(encoding="utf-8"))
    report = ReportFactory(
        source_id=data["source_id"],
        kind=data["kind"],
        framework=data["framework"],
        title=data["title"],
        body=data["body"],
        url=data.get("url") or "",
        state=data.get("state") or "",
    )
    for name in data.get("labels", []):
        report.source_labels.add(SourceLabel.objects.get_or_create(name=name)[0])
    return report


def _assert_nothing_ran(page, report):
    assert page.evaluate("() => window.__xss") is None
    assert page.locator("[onerror], [onmouseover], [onclick], [onload]").count() == 0
    assert page.locator("iframe, object, embed").count() == 0
    assert page.locator("a[href^='javascript:' i], [src^='javascript:' i]").count() == 0
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href').trim().toLowerCase())")
    assert not [h for h in hrefs if h.startswith(("javascript:", "data:", "vbscript:"))]
    scripts = page.eval_on_selector_all("script", "els => els.map(e => [e.getAttribute('src') || '', e.textContent])")
    for src, text in scripts:
        assert src.startswith("/static/"), f"unexpected script {src!r}"
        assert "__xss" not in text
    assert report.title in page.locator("body").inner_text()  # the title is shown literally


def _poke_links(page):
    """Hover everything in the report and click every link that stays on the page."""
    for element in page.locator("main a, main h1, .markdown *").all():
        if element.is_visible():
            element.hover()
    for link in page.locator(".markdown a").all():
        href = (link.get_attribute("href") or "").strip().lower()
        if not href.startswith(("http://", "https://", "mailto:")) and link.is_visible():
            link.click()
    page.wait_for_timeout(200)


def test_hostile_report_is_inert_on_the_label_page_and_the_report_page(live_server, login, page, small_study):
    s = small_study
    report = _hostile_report()
    CategoryFactory(dimension=s["symptom"], code="evil", name=HOSTILE_CATEGORY, shortcut="e", example='"><b>x')
    item = StudyItemFactory(study=s["study"], report=report)
    AssignmentFactory(item=item, annotator=s["ann1"])

    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    # Nothing may leave for the network: the page must not need anything but our own server.
    page.route(
        "**/*",
        lambda route: route.continue_() if route.request.url.startswith(live_server.url) else route.abort(),
    )
    page.context.clear_cookies()
    login("alice")
    page.wait_for_url(f"{live_server.url}/")

    page.goto(f"{live_server.url}/studies/{s['study'].slug}/label/{item.id}/")
    title = page.locator("#report-title")
    expect(title).to_have_text(report.title)  # shown literally, as text
    expect(page.locator(".report-body")).to_contain_text("<script>window.__xss=3</script>")
    _assert_nothing_ran(page, report)
    _poke_links(page)
    page.keyboard.press("?")  # the help overlay is built from category names: still text only
    expect(page.locator("#help-overlay")).to_contain_text(HOSTILE_CATEGORY)
    page.keyboard.press("Escape")
    _assert_nothing_ran(page, report)
    source = page.locator("a", has_text="View at the source")
    expect(source).to_have_attribute("rel", "noopener noreferrer nofollow")

    response = page.goto(f"{live_server.url}/reports/{report.id}/")
    assert response.status == 200
    assert report.title in page.locator("body").inner_text()
    _assert_nothing_ran(page, report)
    _poke_links(page)
    _assert_nothing_ran(page, report)
    assert dialogs == [], f"a dialog opened: {dialogs}"
