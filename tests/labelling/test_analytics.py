"""labelling/analytics: the chart data against counts computed independently from the export
(labelling/dataset/export.py output, parsed), through the API; filters; bad parameters."""

import csv
import io
import json
from collections import Counter, defaultdict
from datetime import date, datetime

import pytest

from labelling.agreement.report import agreement_from_triples
from labelling.agreement.selectors import study_agreement
from labelling.analytics import study_figures
from labelling.analytics.charts import framework_version
from labelling.analytics.selectors import TIME_BUCKETS, TIME_LAST_BUCKET
from labelling.dataset.export import export_chunks
from labelling.models import Assignment, Membership
from tests.factories import MembershipFactory, UserFactory
from tests.labelling import analytics_data
from triage.models import Report, ReproductionRun

API = "/api/studies/small/charts/"


@pytest.fixture
def data(small_study):
    return analytics_data.build(small_study)


@pytest.fixture
def owner(client, data):
    client.force_login(data["owner"])
    return client


def export_text(study, fmt):
    return "".join(export_chunks(study=study, fmt=fmt))


def wide(study) -> list[dict]:
    return list(csv.DictReader(io.StringIO(export_text(study, "csv"), newline="")))


def long(study) -> list[dict]:
    return list(csv.DictReader(io.StringIO(export_text(study, "long"), newline="")))


def jsonl(study) -> list[dict]:
    return [json.loads(line) for line in export_text(study, "jsonl").splitlines()]


def api_csv(client, url) -> list[list[str]]:
    response = client.get(url)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode(), newline="")))


def distribution_of(rows) -> dict[str, tuple[int, float]]:
    header, *body = rows
    assert header == ["category", "count", "percent"]
    return {r[0]: (int(r[1]), float(r[2])) for r in body}


def crosstab_of(rows) -> Counter:
    header, *body = rows
    return Counter({(r[0], col): int(n) for r in body for col, n in zip(header[1:], r[1:], strict=True) if int(n)})


def split(value):
    return [c for c in value.split(";") if c]


# -- distributions ------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["symptom", "component"])
def test_final_label_distribution_equals_the_export(owner, data, code):
    finals = [r[code] for r in wide(data["study"]) if r[code]]
    expected = Counter(c for v in finals for c in split(v))
    got = distribution_of(api_csv(owner, f"{API}distribution/?dimension={code}&format=csv"))
    assert {k: v[0] for k, v in got.items() if v[0]} == dict(expected)
    for n, pct in got.values():
        assert pct == pytest.approx(round(100 * n / len(finals), 2))
    every = {"symptom": {"crash", "hang", "wrong_output"}, "component": {"layers", "model", "optimizer"}}[code]
    assert set(got) == every  # unused categories too, with 0


def test_annotator_label_distribution_equals_the_long_export(owner, data):
    labels = [r["value"] for r in long(data["study"]) if r["dimension"] == "component" and r["value"]]
    expected = Counter(c for v in labels for c in split(v))
    got = distribution_of(api_csv(owner, f"{API}distribution/?dimension=component&labels=annotators&format=csv"))
    assert {k: v[0] for k, v in got.items() if v[0]} == dict(expected)
    assert sum(expected.values()) > len(labels)  # multiple choice: a label counts once per category


def test_distribution_json_has_the_same_rows(owner, data):
    body = owner.get(f"{API}distribution/?dimension=symptom").json()
    assert body["columns"] == ["category", "count", "percent"]
    rows = api_csv(owner, f"{API}distribution/?dimension=symptom&format=csv")[1:]
    assert [[r[0], str(r[1]), str(r[2])] for r in body["rows"]] == [[a, b, str(float(c))] for a, b, c in rows]


# -- crosstabs ----------------------------------------------------------------------------------


def test_crosstab_against_framework_and_kind_equals_the_export(owner, data):
    rows = wide(data["study"])
    for cols in ("framework", "kind"):
        expected = Counter((r["symptom"], r[cols]) for r in rows if r["symptom"])
        got = crosstab_of(api_csv(owner, f"{API}crosstab/?rows=symptom&cols={cols}&format=csv"))
        assert got == expected, cols


def test_crosstab_header_and_first_column_are_codes(owner, data):
    header, *body = api_csv(owner, f"{API}crosstab/?rows=symptom&cols=framework&format=csv")
    assert header == ["symptom", "keras", "pytorch", "tensorflow"]
    assert [r[0] for r in body] == ["crash", "hang", "wrong_output"]


def test_crosstab_of_two_dimensions_equals_the_export(owner, data):
    rows = wide(data["study"])
    expected = Counter(
        (r["symptom"], c) for r in rows if r["symptom"] and r["component"] for c in split(r["component"])
    )
    assert crosstab_of(api_csv(owner, f"{API}crosstab/?rows=symptom&cols=component&format=csv")) == expected
    flipped = Counter((c, r["symptom"]) for r in rows if r["symptom"] and r["component"] for c in split(r["component"]))
    assert crosstab_of(api_csv(owner, f"{API}crosstab/?rows=component&cols=symptom&format=csv")) == flipped


def test_annotator_crosstab_pairs_each_annotators_own_labels(owner, data):
    labels = defaultdict(dict)
    for r in long(data["study"]):
        if r["value"]:
            labels[(r["source_id"], r["annotator"])][r["dimension"]] = r["value"]
    expected = Counter(
        (given["symptom"], c) for given in labels.values() if {"symptom", "component"} <= set(given)
        for c in split(given["component"])
    )  # fmt: skip
    got = crosstab_of(api_csv(owner, f"{API}crosstab/?rows=symptom&cols=component&labels=annotators&format=csv"))
    assert got == expected


def test_crosstab_against_source_labels_equals_the_jsonl(owner, data):
    expected = Counter()
    for obj in jsonl(data["study"]):
        value = obj["final_labels"].get("symptom", {}).get("value")
        if value:
            for label in obj["report"]["labels"] or ["(no source label)"]:
                expected[(value, label)] += 1
    assert crosstab_of(api_csv(owner, f"{API}crosstab/?rows=symptom&cols=label&format=csv")) == expected


def test_crosstab_against_the_latest_verdict(owner, data):
    expected = Counter()
    for r in wide(data["study"]):
        if not r["symptom"]:
            continue
        runs = ReproductionRun.objects.filter(reproducer__report__source_id=r["source_id"]).exclude(verdict="")
        latest = max(runs, key=lambda run: (run.finished_at, run.id), default=None)
        expected[(r["symptom"], latest.verdict if latest else "not_run")] += 1
    assert crosstab_of(api_csv(owner, f"{API}crosstab/?rows=symptom&cols=verdict&format=csv")) == expected


def test_sankey_links_are_the_crosstab(owner, data):
    body = owner.get(f"{API}sankey.symptom.component/").json()
    crosstab = crosstab_of(api_csv(owner, f"{API}crosstab/?rows=symptom&cols=component&format=csv"))
    assert Counter({(s, t): n for s, t, n in body["rows"]}) == crosstab


# -- filters ------------------------------------------------------------------------------------


def test_framework_and_kind_filters_apply(owner, data):
    rows = [r for r in wide(data["study"]) if r["framework"] in ("pytorch", "keras") and r["kind"] == "issue"]
    expected = Counter(r["symptom"] for r in rows if r["symptom"])
    got = distribution_of(
        api_csv(owner, f"{API}distribution/?dimension=symptom&framework=pytorch,keras&kind=issue&format=csv")
    )
    assert {k: v[0] for k, v in got.items() if v[0]} == dict(expected)
    assert sum(expected.values()) < sum(1 for r in wide(data["study"]) if r["symptom"])


def test_round_filter_counts_the_rounds_items_only(owner, data):
    from labelling.models import StudyItem
    from labelling.services.rounds import round_create

    study = data["study"]
    included = list(StudyItem.objects.filter(study=study, screening=StudyItem.Screening.INCLUDED).order_by("id"))
    chosen = included[::2]
    sources = {item.report.source_id for item in chosen}
    pilot = round_create(
        study=study, name="Pilot", source="list", item_ids=[i.id for i in chosen], created_by=data["owner"]
    )
    rows = [r for r in wide(study) if r["source_id"] in sources]
    expected = Counter(r["symptom"] for r in rows if r["symptom"])
    for ref in (pilot.pk, "Pilot"):
        got = distribution_of(api_csv(owner, f"{API}distribution/?dimension=symptom&round={ref}&format=csv"))
        assert {k: v[0] for k, v in got.items() if v[0]} == dict(expected)
    assert sum(expected.values()) < sum(1 for r in wide(study) if r["symptom"])


def test_date_filter_is_on_the_report_creation_day(owner, data):
    def created(obj):
        return datetime.fromisoformat(obj["report"]["created_at"]).date()

    objs = [o for o in jsonl(data["study"]) if date(2020, 3, 1) <= created(o) <= date(2020, 9, 30)]
    expected = Counter(
        (o["final_labels"]["symptom"]["value"], o["framework"]) for o in objs if "symptom" in o["final_labels"]
    )
    got = crosstab_of(
        api_csv(owner, f"{API}crosstab/?rows=symptom&cols=framework&from=2020-03-01&to=2020-09-30&format=csv")
    )
    assert got == expected and sum(expected.values()) > 0


def test_filters_apply_to_the_funnel_and_exclusions(owner, data):
    rows = [r for r in wide(data["study"]) if r["framework"] == "keras"]
    funnel = dict((s, int(n)) for s, n in api_csv(owner, f"{API}funnel/?framework=keras&format=csv")[1:])
    has_final = [r for r in rows if any(r[c] for c in ("symptom", "component"))]
    assert funnel == {
        "ingested": Report.objects.filter(framework="keras").count(),
        "in_study": len(rows),
        "screened": sum(r["screening"] != "pending" for r in rows),
        "included": sum(r["screening"] == "included" for r in rows),
        "labelled": sum(int(r["n_annotations_complete"]) > 0 for r in rows),
        "final": len(has_final),
    }
    reasons = dict((r, int(n)) for r, n in api_csv(owner, f"{API}funnel.exclusions/?framework=keras&format=csv")[1:])
    assert reasons == dict(Counter(r["exclusion_reason"] for r in rows if r["screening"] == "excluded"))


def test_time_spent_buckets_equal_the_long_export(owner, data):
    per = defaultdict(int)
    for r in long(data["study"]):
        per[(r["source_id"], r["annotator"])] += int(r["time_spent_ms"])
    expected = Counter()
    for ms in per.values():
        if ms > 0:
            name = next((n for limit, n in TIME_BUCKETS if ms < limit * 1000), TIME_LAST_BUCKET)
            expected[name] += 1
    got = {b: int(n) for b, n in api_csv(owner, f"{API}progress.time_spent/?format=csv")[1:]}
    assert {k: v for k, v in got.items() if v} == dict(expected)


def test_labelled_over_time_counts_completed_assignments(owner, data):
    expected = Counter(
        (a.completed_at.date().isoformat(), a.annotator.username)
        for a in Assignment.objects.filter(study=data["study"], completed_at__isnull=False)
    )
    body = owner.get(f"{API}progress.labelled/").json()
    assert Counter({(d, u): n for d, u, n, _ in body["rows"]}) == expected
    last = {}
    for _day, u, n, cumulative in body["rows"]:
        assert cumulative == last.get(u, 0) + n
        last[u] = cumulative


def test_reproduction_charts(owner, data):
    runs = ReproductionRun.objects.exclude(verdict="").select_related("reproducer__report")
    by_framework = Counter((r.reproducer.report.framework, r.verdict) for r in runs)
    got = {(f, v): int(n) for f, v, n in api_csv(owner, f"{API}reproduction.verdicts/?format=csv")[1:]}
    assert got == dict(by_framework)
    by_version = Counter((r.reproducer.report.framework, r.requirements.split("torch==")[1], r.verdict) for r in runs)
    got = {(f, ver, v): int(n) for f, ver, v, n in api_csv(owner, f"{API}reproduction.versions/?format=csv")[1:]}
    assert got == dict(by_version)
    assert api_csv(owner, f"{API}reproduction.bisection/?format=csv")[1:] == [
        ["pytorch", "torch", "introduced", "1.13", "1"]
    ]


def test_framework_version_reads_the_pinned_package():
    assert framework_version("pytorch", "numpy==1.26\ntorch==2.1.0") == "2.1.0"
    assert framework_version("tensorflow", "tensorflow==2.4.1") == "2.4.1"
    assert framework_version("pytorch", "torch>=2") == "(unpinned)"


def test_agreement_chart_reuses_labelling_agreement(owner, data):
    body = owner.get(f"{API}agreement/").json()
    reference = {d["code"]: d for d in study_agreement(study=data["study"])["dimensions"]}
    for code, stat, value, low, high, items in body["rows"]:
        assert value == reference[code][stat]["value"]
        assert [low, high] == reference[code][stat]["ci95"]
        assert items == reference[code][stat]["items"]


def test_agreement_chart_with_a_filter_uses_the_filtered_labels(owner, data):
    body = owner.get(f"{API}agreement/?framework=pytorch").json()
    triples = [
        (r["source_id"], r["annotator"], r["value"])
        for r in long(data["study"])
        if r["dimension"] == "symptom" and r["value"] and r["source_id"] in
        {w["source_id"] for w in wide(data["study"]) if w["framework"] == "pytorch"}
    ]  # fmt: skip
    ids = {s: i for i, s in enumerate(sorted({t[0] for t in triples}))}
    reference = agreement_from_triples(
        [(ids[s], a, v) for s, a, v in triples], level="nominal", categories=["crash", "hang", "wrong_output"]
    )
    row = next(r for r in body["rows"] if r[0] == "symptom" and r[1] == "krippendorff_alpha")
    assert row[2] == pytest.approx(reference["krippendorff_alpha"]["value"])
    assert row[5] == reference["krippendorff_alpha"]["items"]


# -- the list, the ids, study_figures -----------------------------------------------------------


def test_chart_list_gives_ids_titles_and_data_urls_with_the_filters(owner, data):
    body = owner.get(f"{API}?framework=pytorch").json()
    ids = [c["id"] for c in body["charts"]]
    assert ids[:2] == ["distribution.symptom", "distribution.component"]
    assert {"crosstab.symptom.framework", "sankey.symptom.component", "agreement", "funnel"} <= set(ids)
    for chart in body["charts"]:
        assert chart["title"]
        assert "framework=pytorch" in chart["data_url"] and "format=csv" in chart["csv_url"]
        assert owner.get(chart["data_url"]).json()["id"] == chart["id"]


def test_study_figures_are_valid_plotly_figures_with_their_csv(data):
    charts = study_figures(data["study"])
    for chart in charts:
        assert chart.figure.data, chart.id  # plotly.graph_objects.Figure validated the spec
        assert next(csv.reader(io.StringIO(chart.csv_text()))) == chart.columns


# -- bad parameters -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "field", "mentions"),
    [
        ("distribution/?dimension=nope", "dimension", "symptom, component"),
        ("distribution/", "dimension", "?dimension=CODE"),
        ("crosstab/?rows=symptom", "cols", "framework"),
        ("crosstab/?rows=symptom&cols=nope", "cols", "framework, kind, label, verdict, symptom, component"),
        ("crosstab/?rows=framework&cols=symptom", "rows", "symptom, component"),
        ("distribution/?dimension=symptom&format=xml", "format", "csv"),
        ("distribution/?dimension=symptom&framework=cobol", "framework", "keras, pytorch, tensorflow"),
        ("distribution/?dimension=symptom&kind=forum", "kind", "issue, pull_request, crash"),
        ("distribution/?dimension=symptom&from=yesterday", "from", "YYYY-MM-DD"),
        ("distribution/?dimension=symptom&from=2021-01-02&to=2021-01-01", "from", "swap"),
        ("distribution/?dimension=symptom&labels=some", "labels", "final, annotators"),
        ("distribution/?dimension=symptom&round=nope", "round", "round"),
        ("sankey.symptom.symptom/", "target", "two different"),
    ],
)
def test_bad_parameters_are_400s_naming_the_parameter(owner, data, url, field, mentions):
    response = owner.get(API + url)
    assert response.status_code == 400, response.content
    body = response.json()
    assert mentions in body["message"]
    assert any(d.get("field") == field for d in body["details"]), body


def test_free_text_dimension_has_no_distribution(owner, data):
    from tests.factories import DimensionFactory

    DimensionFactory(codebook=data["study"].codebook, code="fix", kind="text")
    response = owner.get(f"{API}distribution/?dimension=fix")
    assert response.status_code == 400 and "free-text" in response.json()["message"]


def test_unknown_chart_is_404_listing_the_charts(owner, data):
    response = owner.get(f"{API}pie.everything/")
    assert response.status_code == 404 and "distribution.symptom" in response.json()["message"]


# -- access -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "page", "api", "agreement"),
    [
        ("owner", 200, 200, 200),
        ("viewer", 200, 200, 200),
        ("adjudicator", 200, 200, 403),
        ("ann1", 403, 403, 403),
        ("outsider", 404, 404, 404),
    ],
)
def test_roles(client, data, who, page, api, agreement):
    if who == "adjudicator":
        user = UserFactory(username="adam")
        MembershipFactory(study=data["study"], user=user, role=Membership.Role.ADJUDICATOR)
    else:
        user = data[who]
    client.force_login(user)
    assert client.get("/studies/small/analytics/").status_code == page
    assert client.get(f"{API}distribution/?dimension=symptom").status_code == api
    assert client.get(f"{API}").status_code == api
    assert client.get(f"{API}agreement/").status_code == agreement
    assert client.get("/studies/small/analytics/charts/agreement/").status_code == agreement
    if api == 200:
        ids = [c["id"] for c in client.get(API).json()["charts"]]
        assert ("agreement" in ids) == (agreement == 200)
        assert ("progress.labelled" in ids) == (agreement == 200)


def test_adjudicator_page_leaves_out_the_charts_about_annotators(client, data):
    user = UserFactory(username="adam")
    MembershipFactory(study=data["study"], user=user, role=Membership.Role.ADJUDICATOR)
    client.force_login(user)
    html = client.get("/studies/small/analytics/").content.decode()
    assert "chart-distribution--symptom" in html and "chart-funnel" in html
    assert "chart-agreement" not in html and "chart-progress--labelled" not in html


def test_anonymous(client, data):
    response = client.get("/studies/small/analytics/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert client.get(f"{API}distribution/?dimension=symptom").status_code in (401, 403)
