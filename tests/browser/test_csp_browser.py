"""The pages work under the Content-Security-Policy in a real browser: the scripts that replaced
inline code run, and nothing is blocked. The ``page`` fixture (conftest) fails a test on any
CSP violation of any page it opened."""

import pytest
from playwright.sync_api import expect

from labelling.models import Dimension, StudyItem
from tests.factories import AssignmentFactory, ReportFactory, StudyItemFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _log_in(page, login, live_server, username):
    login(username)
    page.wait_for_url(f"{live_server.url}/")


def test_the_violation_detector_sees_an_inline_script(live_server, login, page, small_study):
    _log_in(page, login, live_server, "alice")
    page.evaluate("""() => { const s = document.createElement("script"); s.textContent = "window.ran = 1";
                             document.body.appendChild(s); }""")
    expect(page.locator("body")).to_be_visible()
    page.wait_for_function("() => true")
    assert page.evaluate("() => window.ran") is None  # the policy refused to run it
    page.wait_for_timeout(200)  # the violation event is queued as a task after the refusal
    assert any("script-src" in v for v in page.csp_violations), page.csp_violations
    page.csp_violations.clear()


def test_labelling_page_shortcuts_and_report_page_run_under_the_policy(live_server, login, page, small_study):
    s = small_study
    item = StudyItemFactory(study=s["study"])
    AssignmentFactory(item=item, annotator=s["ann1"])
    _log_in(page, login, live_server, "alice")
    page.goto(f"{live_server.url}/studies/{s['study'].slug}/label/{item.id}/")
    expect(page.locator(".progress[role=progressbar] > span")).to_have_class("pct-0")
    page.keyboard.press("1")  # labelling.js: the shortcut picks the category
    expect(page.locator("input[name=value-symptom][data-shortcut='1']")).to_be_checked()
    page.keyboard.press("?")
    expect(page.locator("#help-overlay")).to_be_visible()

    report = ReportFactory(body="Some **markdown** with `code` and ![a pixel](https://t.example/p.gif)")
    page.context.clear_cookies()
    _log_in(page, login, live_server, "carol")
    page.goto(f"{live_server.url}/reports/{report.pk}/")
    expect(page.locator("h1")).to_contain_text(report.title[:20])


def test_screening_keys_and_delete_confirmation_run_from_static_files(live_server, login, page, small_study):
    s = small_study
    pending = StudyItemFactory(study=s["study"], screening=StudyItem.Screening.PENDING)
    _log_in(page, login, live_server, "olivia")

    page.goto(f"{live_server.url}/studies/{s['study'].slug}/screening/")
    page.keyboard.press("i")  # screening.js submits the include form
    page.wait_for_load_state()
    expect(page.locator(".messages")).to_contain_text("included")
    pending.refresh_from_db()
    assert pending.screening == StudyItem.Screening.INCLUDED

    page.goto(f"{live_server.url}/studies/{s['study'].slug}/codebook/")
    questions = []

    def answer(dialog, accept):
        questions.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda d: answer(d, accept=False))
    page.locator("form[data-confirm] button.danger").first.click()
    page.wait_for_timeout(300)
    assert questions == ["Delete this dimension and its categories?"]
    assert Dimension.objects.filter(codebook=s["study"].codebook).count() == 2  # dismissed: nothing sent
    page.once("dialog", lambda d: answer(d, accept=True))
    with page.expect_navigation():
        page.locator("form[data-confirm] button.danger").first.click()
    assert Dimension.objects.filter(codebook=s["study"].codebook).count() == 1


@pytest.mark.parametrize("path, ready", [("/api/docs/", ".swagger-ui .info"), ("/api/redoc/", ".api-content")])
def test_api_docs_render_offline_under_the_policy(live_server, login, page, small_study, path, ready):
    # Redoc's "API docs by Redocly" footer shows its logo from cdn.redoc.ly: the policy keeps the
    # page from calling a third party (img-src 'self'); the page works without the picture.
    page.csp_expected.append("CSP violation: img-src blocked https://cdn.redoc.ly/")
    _log_in(page, login, live_server, "carol")
    page.goto(live_server.url + path)
    expect(page.locator(ready).first).to_be_visible(timeout=20_000)
