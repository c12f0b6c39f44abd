"""A respondent in Chromium on a phone: consent, every question kind, save, come back, submit;
then the same with the keyboard only, and with JavaScript off."""

import pytest
from playwright.sync_api import expect

from surveys.models import Answer, Response
from tests.browser.conftest import REPORT_CSP_VIOLATIONS
from tests.surveys.conftest import open_survey  # noqa: F401, F811 - a fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"viewport": {"width": 375, "height": 740}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}


@pytest.fixture
def phone(browser):
    context = browser.new_context(**PHONE)
    context.add_init_script(REPORT_CSP_VIOLATIONS)
    page = context.new_page()
    page.set_default_timeout(30_000)  # a shared machine under load
    violations = []
    page.on("console", lambda m: violations.append(m.text) if m.text.startswith("CSP violation") else None)
    yield page
    context.close()
    assert violations == [], violations


def _no_sideways_scrolling(page):
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the page is {width}px wide on a 375px phone"


def _stored():
    return {(a.question.code, a.row_code): a.value for a in Answer.objects.select_related("question")}


def test_answering_on_a_phone(phone, live_server, open_survey):  # noqa: F811
    token = open_survey["tokens"][0]
    page = phone
    page.goto(f"{live_server.url}/s/{token}/")
    expect(page.get_by_role("heading", name="Silent bugs in Keras")).to_be_visible()
    _no_sideways_scrolling(page)
    page.get_by_role("button", name="I agree, start the survey").tap()
    expect(page.get_by_text("Section 1 of 2")).to_be_visible()
    _no_sideways_scrolling(page)
    page.get_by_role("group", name="Do you use Keras?").get_by_label("Yes").tap()
    page.get_by_role("group", name="Which tools?").get_by_label("a").tap()
    page.get_by_role("group", name="Which tools?").get_by_label("c").tap()
    page.get_by_role("group", name="How often do you meet silent bugs?").get_by_label("4").tap()
    page.get_by_role("button", name="Save and continue later").tap()
    expect(page.get_by_role("heading", name="Your answers are saved")).to_be_visible()
    link = page.locator("a.survey-link").inner_text()
    assert link.endswith(f"/s/{token}/")

    page.goto(link)  # back later with the same link
    expect(page.get_by_role("group", name="Do you use Keras?").get_by_label("Yes")).to_be_checked()
    page.get_by_role("button", name="Next").tap()
    expect(page.get_by_text("Section 2 of 2")).to_be_visible()
    _no_sideways_scrolling(page)
    matrix = page.get_by_role("group", name="Agree?")
    matrix.get_by_role("group", name="Clear").get_by_label("5").tap()
    page.get_by_role("button", name="Submit").tap()  # 'Relevant' is missing: refused, said where
    expect(page.get_by_role("alert").first).to_contain_text("'wrong_shape'")
    matrix = page.get_by_role("group", name="Agree?")
    matrix.get_by_role("group", name="Relevant").get_by_label("4").tap()
    page.get_by_label("Your answer (0 to 50)").fill("7")
    page.get_by_label("Your answer", exact=True).fill("Works on my phone")
    page.get_by_role("button", name="Submit").tap()
    expect(page.get_by_role("heading", name="Thank you")).to_be_visible()
    assert Response.objects.get().status == "submitted"
    assert _stored() == {
        ("familiar", None): "Yes",
        ("tools", None): ["a", "c"],
        ("scale", None): 4,
        ("wrong_shape", "clear"): 5,
        ("wrong_shape", "relevant"): 4,
        ("years", None): 7,
        ("comments", None): "Works on my phone",
    }


def test_keyboard_only_with_javascript_off(browser, live_server, open_survey):  # noqa: F811
    token = open_survey["tokens"][1]
    context = browser.new_context(java_script_enabled=False, **PHONE)
    page = context.new_page()
    page.set_default_timeout(30_000)  # a shared machine under load
    try:
        page.goto(f"{live_server.url}/s/{token}/")
        page.get_by_role("button", name="I agree, start the survey").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_text("Section 1 of 2")).to_be_visible()
        page.get_by_role("group", name="Do you use Keras?").get_by_label("Yes").focus()
        page.keyboard.press("Space")  # picks the focused radio
        page.keyboard.press("Tab")  # to checkbox a of the next question
        page.keyboard.press("Space")
        page.keyboard.press("Tab")  # checkbox b (every checkbox is a tab stop)
        page.keyboard.press("Tab")  # checkbox c
        page.keyboard.press("Tab")  # the scale's first point
        page.keyboard.press("ArrowRight")  # radios move with the arrow keys: 2
        page.keyboard.press("ArrowRight")  # 3
        page.keyboard.press("Enter")  # submits the form with its first button: Next
        expect(page.get_by_text("Section 2 of 2")).to_be_visible()
        for row, keys in (("Clear", 0), ("Relevant", 1)):
            page.get_by_role("group", name=row).get_by_label("1").focus()
            page.keyboard.press("Space")
            for _ in range(keys):
                page.keyboard.press("ArrowRight")
        page.get_by_label("Your answer (0 to 50)").focus()
        page.keyboard.type("12")
        page.keyboard.press("Enter")  # the first button here is Submit
        expect(page.get_by_role("heading", name="Thank you")).to_be_visible()
    finally:
        context.close()
    assert _stored() == {
        ("familiar", None): "Yes",
        ("tools", None): ["a"],
        ("scale", None): 3,
        ("wrong_shape", "clear"): 1,
        ("wrong_shape", "relevant"): 2,
        ("years", None): 12,
    }
