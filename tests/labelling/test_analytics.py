"""labelling/analytics: chart data against counts computed independently from the export."""

import csv
import io

import pytest

from labelling.analytics import study_figures
from labelling.dataset.export import export_chunks
from tests.labelling import analytics_data


@pytest.fixture
def data(small_study):
    return analytics_data.build(small_study)


def export_rows(study, fmt="csv") -> list[dict]:
    return list(csv.DictReader(io.StringIO("".join(export_chunks(study=study, fmt=fmt)), newline="")))


def test_study_figures_are_valid_plotly_figures(data):
    charts = study_figures(data["study"])
    ids = [c.id for c in charts]
    assert "distribution.symptom" in ids and "sankey.symptom.component" in ids and "agreement" in ids
    for chart in charts:
        assert chart.figure.data, chart.id  # go.Figure validated the spec
        assert chart.csv_text().splitlines()[0] == ",".join(chart.columns)


def test_page_renders_for_owner(client, data):
    client.force_login(data["owner"])
    response = client.get("/studies/small/analytics/")
    assert response.status_code == 200, response.content[:2000]
    html = response.content.decode()
    assert "chart-distribution--symptom" in html and "Download data (CSV)" in html
