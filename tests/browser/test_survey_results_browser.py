"""The survey results page in Chromium: Plotly draws every chart under the Content-Security-Policy
(the page fixture fails on any violation), on a desktop and on a phone, and the tables are there
without JavaScript."""

import io

import pytest
from playwright.sync_api import expect

from surveys.response_import_services import survey_responses_import
from surveys.services import invitations_make, survey_create, survey_open
from tests.surveys.fixtures import DEFINITION, RAW_MAPPING, raw_csv, raw_rows

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

@pytest.fixture
def survey(small_study):
    owner = small_study["owner"]
    made = survey_create(study=small_study["study"], slug="devs", definition=DEFINITION, created_by=owner)
    made = survey_open(survey=made, user=owner)
    survey_responses_import(survey=made, source=io.BytesIO(raw_csv(raw_rows(60)).encode()), mapping=RAW_MAPPING)
    invitations_make(survey=made, count=10, batch="first mail")
    return made


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900}, {"width": 390, "height": 844}])
def test_charts_are_drawn_under_the_policy(live_server, login, page, survey, viewport):
    page.set_viewport_size(viewport)
    page.set_default_timeout(30_000)  # plotly.min.js is 4.8 MB; a busy machine takes its time
    login("victor")  # the viewer
    page.goto(f"{live_server.url}/surveys/devs/results/", wait_until="domcontentloaded", timeout=30_000)
    charts = page.locator(".survey-chart")
    expect(charts.first.locator(".main-svg").first).to_be_visible(timeout=30_000)
    count = charts.count()
    assert count == 6  # batch rate, per day, familiar, tools, scale, wrong_shape
    for i in range(count):
        expect(charts.nth(i).locator(".main-svg").first).to_be_attached()
    # the matrix: one diverging bar per statement, labelled with its 4-5 share
    expect(page.locator("#q-wrong_shape .survey-chart")).to_contain_text("The definition is clear (")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= viewport["width"] + 1, f"the page scrolls sideways at {viewport['width']}px"
    page.screenshot(path=f"/tmp/surveysresults-shots/results-{viewport['width']}.png", full_page=True)


def test_tables_without_javascript(live_server, browser, survey):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "victor")
    page.fill("input[name=password]", "pw-for-tests")
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/surveys/devs/results/")
    expect(page.locator("#q-wrong_shape table.survey-scale tbody tr")).to_have_count(2)
    expect(page.locator("#q-familiar table.survey-counts")).to_contain_text("Yes")
    expect(page.locator("table.survey-batches")).to_contain_text("first mail")
    context.close()
