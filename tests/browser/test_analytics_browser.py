"""The Analytics page in Chromium: plotly.min.js (served by the app) draws every chart as SVG
under the Content-Security-Policy (no 'unsafe-eval'), a filter applies, a CSV downloads, the
deferred charts load; with JavaScript off the tables are there."""

import csv
import io
import urllib.request

import pytest
from playwright.sync_api import expect

from tests.labelling import analytics_data

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _warm(live_server):
    """The server's first request imports every view (scikit-learn for agreement: seconds on a busy machine)."""
    urllib.request.urlopen(live_server.url + "/accounts/login/", timeout=120).read()


def test_charts_draw_a_filter_applies_and_a_csv_downloads(live_server, login, page, small_study):
    analytics_data.build(small_study, items=24)
    _warm(live_server)
    page.set_default_timeout(30_000)
    login("olivia")
    page.goto(f"{live_server.url}/studies/small/analytics/")
    symptom = page.locator("#chart-distribution--symptom")
    expect(symptom.locator(".main-svg").first).to_be_attached()  # plotly drew an <svg>
    expect(symptom.locator("g.bars path, g.point path").first).to_be_attached()
    expect(page.locator("#chart-crosstab--symptom--framework .hm, #chart-crosstab--symptom--framework image").first)\
        .to_be_attached()  # fmt: skip
    expect(page.locator("#chart-sankey--symptom--component g.sankey-node").first).to_be_attached()
    expect(page.locator("#chart-funnel .main-svg").first).to_be_attached()
    expect(symptom.locator(".modebar")).to_be_attached()  # PNG and SVG download buttons
    assert symptom.locator("[data-title='Download plot as SVG']").count() == 1
    expect(symptom.locator("details.chart-table")).not_to_have_attribute("open", "")  # folded once drawn
    # the deferred agreement chart is fetched and drawn too
    expect(page.locator("#chart-agreement .main-svg").first).to_be_attached(timeout=20_000)

    before = int(symptom.locator("tbody tr").first.locator("td").nth(1).text_content())
    page.locator("input[name=framework][value=pytorch]").check()
    page.locator("#analytics-filters button[type=submit]").click()
    page.wait_for_url("**framework=pytorch**")
    symptom = page.locator("#chart-distribution--symptom")
    expect(symptom.locator(".main-svg").first).to_be_attached()
    after = int(symptom.locator("tbody tr").first.locator("td").nth(1).text_content())
    assert after < before or before == 0

    with page.expect_download() as info:
        symptom.locator("a.chart-csv").click()
    download = info.value
    rows = list(csv.reader(io.StringIO(open(download.path(), encoding="utf-8").read())))
    assert rows[0] == ["category", "count", "percent"]
    assert int(rows[1][1]) == after
    assert "framework=pytorch" in download.url


def test_without_javascript_the_charts_are_tables(live_server, browser, small_study):
    analytics_data.build(small_study, items=12)
    _warm(live_server)
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(live_server.url + "/accounts/login/")
    page.fill("input[name=username]", "olivia")
    page.fill("input[name=password]", "pw-for-tests")
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/studies/small/analytics/")
    for dom_id in ("chart-distribution--symptom", "chart-crosstab--symptom--framework", "chart-funnel"):
        table = page.locator(f"#{dom_id} table")
        expect(table).to_be_visible()
        assert table.locator("tbody tr").count() > 0
    assert page.locator(".main-svg").count() == 0
    expect(page.locator("#chart-agreement a", has_text="Open this chart")).to_be_visible()
    context.close()
