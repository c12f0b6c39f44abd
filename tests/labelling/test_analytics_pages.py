"""The Analytics page, a chart's own page and the comparison of two studies (HTML, no JavaScript)."""

import csv
import io
import re

import pytest

from labelling.models import Dimension, Membership
from tests.factories import (
    CategoryFactory,
    DimensionFactory,
    FinalLabelFactory,
    MembershipFactory,
    StudyFactory,
    StudyItemFactory,
)
from tests.labelling import analytics_data

PAGE = "/studies/small/analytics/"


@pytest.fixture
def data(small_study):
    return analytics_data.build(small_study, items=20)


@pytest.fixture
def owner(client, data):
    client.force_login(data["owner"])
    return client


def table_after(html: str, dom_id: str) -> str:
    start = html.index(f'id="{dom_id}"')
    return html[start : html.index("</figure>", start)]


def test_every_chart_has_a_table_a_csv_link_and_its_figure(owner, data):
    html = owner.get(PAGE).content.decode()
    for dom_id in ("chart-distribution--symptom", "chart-distribution--component", "chart-crosstab--symptom--framework",
                   "chart-sankey--symptom--component", "chart-funnel", "chart-reproduction--verdicts"):  # fmt: skip
        block = table_after(html, dom_id)
        assert "<table" in block and "Download data (CSV)" in block, dom_id
        assert 'type="application/json"' in block, dom_id
    assert '<details class="chart-table" open>' in html  # open without JavaScript
    assert "js/plotly.min.js" in html and "cdn" not in html.lower()


def test_the_table_holds_the_counts(owner, data):
    html = owner.get(PAGE).content.decode()
    block = table_after(html, "chart-distribution--symptom")
    response = owner.get("/api/studies/small/charts/distribution/?dimension=symptom&format=csv")
    for category, count, _ in list(csv.reader(io.StringIO(response.content.decode())))[1:]:
        assert re.search(rf"<th scope=\"row\">{category}</th><td>[^<]*</td><td>{count}</td>", block), category


def test_deferred_charts_are_a_link_away_and_their_page_draws_them(owner, data):
    html = owner.get(PAGE).content.decode()
    block = table_after(html, "chart-agreement")
    assert 'data-chart-page="/studies/small/analytics/charts/agreement/"' in block
    page = owner.get("/studies/small/analytics/charts/agreement/")
    assert page.status_code == 200
    assert "<table" in table_after(page.content.decode(), "chart-agreement")


def test_filters_and_pickers_apply_and_go_into_the_data_links(owner, data):
    html = owner.get(PAGE + "?framework=pytorch&rows=component&cols=kind&labels=annotators").content.decode()
    assert 'id="chart-crosstab--component--kind"' in html
    assert "framework=pytorch&amp;labels=annotators&amp;format=csv" in html
    assert 'value="pytorch" checked' in html


def test_a_bad_filter_is_a_400_page_saying_what_to_fix(owner, data):
    response = owner.get(PAGE + "?from=someday")
    assert response.status_code == 400
    assert "YYYY-MM-DD" in response.content.decode()
    response = owner.get(PAGE + "?rows=symptom&cols=nope")
    assert response.status_code == 400 and "framework, kind, label, verdict" in response.content.decode()


def test_empty_study_shows_helpful_empty_states(client, small_study):
    client.force_login(small_study["owner"])
    html = client.get(PAGE).content.decode()
    assert "No final labels on Symptom yet." in html
    assert "No reproduction run of these reports has finished yet." in html


def test_compare_two_studies_on_one_dimension(owner, data):
    other = StudyFactory(slug="original", name="Original study")
    MembershipFactory(study=other, user=data["owner"], role=Membership.Role.VIEWER)
    symptom = DimensionFactory(codebook=other.codebook, code="symptom", kind=Dimension.Kind.SINGLE)
    for code in ("crash", "hang", "silent"):
        CategoryFactory(dimension=symptom, code=code)
    for value in ("crash", "crash", "silent"):
        FinalLabelFactory(item=StudyItemFactory(study=other), dimension=symptom, value=value)
    response = owner.get("/studies/small/analytics/compare/?other=original&dimension=symptom&format=csv")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["category", "small_count", "small_percent", "original_count", "original_percent"]
    by_code = {r[0]: r for r in rows[1:]}
    assert by_code["crash"][3:] == ["2", "66.67"] and by_code["silent"][3:] == ["1", "33.33"]
    assert by_code["silent"][1] == "0" and by_code["wrong_output"][3] == "0"
    mine = owner.get("/api/studies/small/charts/distribution/?dimension=symptom&format=csv").content.decode()
    mine = {r[0]: r[1] for r in list(csv.reader(io.StringIO(mine)))[1:]}
    assert {c: r[1] for c, r in by_code.items() if c in mine} == mine
    page = owner.get("/studies/small/analytics/compare/?other=original&dimension=symptom")
    assert page.status_code == 200 and "<table" in page.content.decode()


def test_compare_needs_access_to_both_and_the_dimension_in_both(owner, data):
    hidden = StudyFactory(slug="hidden")
    assert owner.get("/studies/small/analytics/compare/?other=hidden&dimension=symptom").status_code == 404
    MembershipFactory(study=hidden, user=data["owner"], role=Membership.Role.ANNOTATOR)
    assert owner.get("/studies/small/analytics/compare/?other=hidden&dimension=symptom").status_code == 403
    MembershipFactory(study=StudyFactory(slug="plain"), user=data["owner"], role=Membership.Role.OWNER)
    response = owner.get("/studies/small/analytics/compare/?other=plain&dimension=symptom")
    assert response.status_code == 400 and "has no choice dimension" in response.content.decode()
    assert owner.get("/studies/small/analytics/compare/").status_code == 200


def test_plotly_is_a_static_file_from_the_installed_package(tmp_path, settings):
    from django.contrib.staticfiles import finders
    from django.core.management import call_command

    from labelling.analytics.staticfiles import plotly_bundle

    assert finders.find("js/plotly.min.js") == str(plotly_bundle())
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    call_command("collectstatic", interactive=False, verbosity=0)
    assert (tmp_path / "js" / "plotly.min.js").read_bytes() == plotly_bundle().read_bytes()
