"""The Reports overview in Chromium (issue 14): the server-built figures are drawn by plotly.min.js
under the Content-Security-Policy (the ``page`` fixture fails on any violation), the tables fold
away once drawn, the CSV link downloads the data; without JavaScript the tables are the page.
"""

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from tests.factories import ReportFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def reports(db):
    UserFactory(username="reader")
    for i in range(6):
        ReportFactory(
            framework=("pytorch", "tensorflow")[i % 2],
            created_at=datetime(2024, 1, 5, tzinfo=UTC) + timedelta(days=30 * i),
        )


def test_the_charts_are_drawn_and_the_csv_downloads(live_server, login, page, reports):
    login("reader")
    page.goto(f"{live_server.url}/reports/overview/")
    chart = page.locator("#reports-by-framework")
    expect(chart.locator(".plot svg.main-svg").first).to_be_attached()
    expect(chart.locator(".plot .bars path")).to_have_count(6)  # one bar per report month here
    expect(chart.locator("details.chart-table")).not_to_have_attribute("open", "")
    with page.expect_download() as download:
        chart.get_by_role("link", name="Download data (CSV)").click()
    text = open(download.value.path(), encoding="utf-8").read()
    assert text.splitlines()[0] == "period,framework,reports" and len(text.splitlines()) == 7


def test_without_javascript_the_tables_are_the_page(browser, live_server, reports):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(live_server.url + "/accounts/login/")
    page.fill("input[name=username]", "reader")
    page.fill("input[name=password]", "pw-for-tests")
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/reports/overview/")
    table = page.locator("#reports-by-framework table")
    expect(table).to_be_visible()
    expect(table.locator("tbody tr")).to_have_count(6)
    assert page.locator(".plot svg").count() == 0
    context.close()
