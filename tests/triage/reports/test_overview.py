"""The Reports overview (issue 14): /reports/overview/ and /api/reports/overview/.

Every count is checked against an independent computation: the rows read back one by one and
bucketed in Python (Monday-start ISO weeks, calendar months, UTC).
"""

from __future__ import annotations

import csv
import html as htmllib
import io
import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import factory
import pytest
from django.utils import timezone

from tests.conftest import site_user
from tests.factories import ReportFactory, UserFactory
from tests.fakes.crash_traces import crash_report
from triage.crashes.services import crashes_ingest
from triage.models import CrashGroup, CrashOccurrence, FuzzerAccount, GitHubSource, Report, SyncRun

pytestmark = pytest.mark.django_db

PAGE = "/reports/overview/"
API = "/api/reports/overview/"


class GitHubSourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GitHubSource

    name = factory.Sequence(lambda n: f"source {n}")
    repository = "pytorch/pytorch"


class SyncRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SyncRun

    source = factory.SubFactory(GitHubSourceFactory)
    status = SyncRun.Status.SUCCEEDED


def _at(y, m, d):
    return datetime(y, m, d, 12, tzinfo=UTC)


def _bucket(when: datetime, bucket: str) -> str:
    day = when.astimezone(UTC).date()
    start = day - timedelta(days=day.weekday()) if bucket == "week" else day.replace(day=1)
    return start.isoformat()


@pytest.fixture
def world(db):
    """Reports of three frameworks and two repositories over a few months, a file-imported report
    without a date, crash groups from two fuzzers, and sync runs of two owners' sources."""
    for i in range(7):
        ReportFactory(framework="pytorch", created_at=_at(2024, 1, 1) + timedelta(days=9 * i))
    for i in range(4):
        ReportFactory(
            framework="tensorflow",
            source_id=f"github:tensorflow/tensorflow#{i}",
            created_at=_at(2024, 1, 3) + timedelta(days=20 * i),
        )
    ReportFactory(framework="keras", source_id="jira:KERAS-1", created_at=None)  # dated by its import
    FuzzerAccount.objects.create(user=UserFactory(username="fuzz-bot"), name="fuzz")
    crashes_ingest(
        reports=[crash_report("torch_conv2d_weight", v, fuzzer="freefuzz") for v in range(3)]
        + [crash_report("jax_conv_dimension", v, fuzzer="deeprel") for v in range(2)]
        + [crash_report("torch_conv2d_weight", 5, fuzzer="deeprel", created_at="2024-04-02T08:00:00Z")],
        account=FuzzerAccount.objects.get(),
    )
    curator = site_user("cura", "curator")
    other_curator = site_user("otto", "curator")
    mine, theirs = GitHubSourceFactory(owner=curator), GitHubSourceFactory(owner=other_curator)
    runs = [
        (mine, SyncRun.Status.SUCCEEDED, 10, 2, 30, 1, _at(2024, 1, 2)),
        (mine, SyncRun.Status.FAILED, 0, 0, 0, 0, _at(2024, 1, 4)),
        (mine, SyncRun.Status.SUCCEEDED, 3, 1, 40, 0, _at(2024, 2, 20)),
        (theirs, SyncRun.Status.SUCCEEDED, 7, 0, 0, 2, _at(2024, 2, 21)),
    ]
    for source, status, new, updated, unchanged, prs, when in runs:
        run = SyncRunFactory(
            source=source,
            status=status,
            issues_new=new,
            issues_updated=updated,
            issues_unchanged=unchanged,
            pull_requests_seen=prs,
        )
        SyncRun.objects.filter(pk=run.pk).update(created_at=when)  # auto_now_add: dated afterwards
    return {"curator": curator, "other_curator": other_curator, "mine": mine}


def _report_oracle(bucket: str, key) -> Counter:
    counts = Counter()
    for report in Report.objects.all():
        counts[(_bucket(report.created_at or report.imported_at, bucket), key(report))] += 1
    return counts


def _source_of(report: Report) -> str:
    if report.kind == Report.Kind.CRASH:
        first = CrashOccurrence.objects.filter(group__report=report).order_by("received_at", "id").first()
        return f"fuzzer:{first.fuzzer}"
    if "#" in report.source_id:
        return report.source_id.split("#")[0]
    return report.source_id.split(":")[0]


def _api_counts(client, chart: str, value: str, series: str, **params) -> Counter:
    body = client.get(f"{API}{chart}/", params).json()
    return Counter({(r["period"], r[series]): r[value] for r in body["rows"]})


@pytest.mark.parametrize("bucket", ["week", "month"])
def test_report_counts_equal_an_independent_count(client, world, bucket):
    client.force_login(UserFactory(username="reader"))
    by_framework = _api_counts(client, "reports-by-framework", "reports", "framework", bucket=bucket)
    assert by_framework == _report_oracle(bucket, lambda r: r.framework)
    assert sum(by_framework.values()) == Report.objects.count() == 7 + 4 + 1 + 2  # two crash groups
    by_source = _api_counts(client, "reports-by-source", "reports", "source", bucket=bucket)
    assert by_source == _report_oracle(bucket, _source_of)
    sources = {source for _, source in by_source}
    assert sources == {
        "github:pytorch/pytorch",
        "github:tensorflow/tensorflow",
        "jira",
        "fuzzer:freefuzz",
        "fuzzer:deeprel",
    }


def test_crash_counts_equal_an_independent_count(client, world):
    client.force_login(UserFactory(username="reader"))
    got = _api_counts(client, "crash-groups", "count", "series", bucket="month")
    expected = Counter()
    for group in CrashGroup.objects.filter(merged_into__isnull=True):
        expected[(_bucket(group.first_seen, "month"), "new_groups")] += 1
    for occurrence in CrashOccurrence.objects.all():
        expected[(_bucket(occurrence.created_at or occurrence.received_at, "month"), "occurrences")] += 1
    assert got == expected
    assert got[("2024-04-01", "occurrences")] == 1 and sum(n for (_, s), n in got.items() if s == "occurrences") == 6


def test_sync_activity_covers_the_sources_one_may_see(client, world):
    def sync_rows(user):
        client.force_login(user)
        return client.get(f"{API}github-syncs/", {"bucket": "month"}).json()["rows"]

    mine = sync_rows(world["curator"])
    expected = {}
    for run in SyncRun.objects.filter(source=world["mine"]):
        row = expected.setdefault(_bucket(run.created_at, "month"), Counter())
        row.update(
            syncs=1,
            failed=int(run.status == SyncRun.Status.FAILED),
            issues_new=run.issues_new,
            issues_updated=run.issues_updated,
            issues_unchanged=run.issues_unchanged,
            pull_requests_seen=run.pull_requests_seen,
        )
    assert {r["period"]: Counter({k: v for k, v in r.items() if k != "period"}) for r in mine} == expected
    assert mine[0] == {
        "period": "2024-01-01",
        "syncs": 2,
        "failed": 1,
        "issues_new": 10,
        "issues_updated": 2,
        "issues_unchanged": 30,
        "pull_requests_seen": 1,
    }
    staff = sync_rows(UserFactory(username="boss", is_staff=True))
    assert sum(r["syncs"] for r in staff) == 4 and staff[1]["issues_new"] == 3 + 7
    assert sync_rows(UserFactory(username="reader")) == []  # sources are their owners'


def test_the_range_filters_and_picks_weekly_buckets(client, world):
    client.force_login(UserFactory(username="reader"))
    body = client.get(f"{API}reports-by-framework/", {"from": "2024-01-01", "to": "2024-01-31"}).json()
    assert body["bucket"] == "week" and body["from"] == "2024-01-01"
    expected = Counter()
    for report in Report.objects.filter(created_at__date__range=(date(2024, 1, 1), date(2024, 1, 31))):
        expected[(_bucket(report.created_at, "week"), report.framework)] += 1
    assert Counter({(r["period"], r["framework"]): r["reports"] for r in body["rows"]}) == expected
    assert (
        client.get(f"{API}reports-by-framework/", {"from": "2023-01-01", "to": "2024-12-31"}).json()["bucket"]
        == "month"
    )


def test_csv_is_the_same_data(client, world):
    client.force_login(UserFactory(username="reader"))
    json_rows = client.get(f"{API}reports-by-source/", {"bucket": "week"}).json()["rows"]
    response = client.get(f"{API}reports-by-source/", {"bucket": "week", "format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="reports-by-source-week.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert list(rows[0]) == ["period", "source", "reports"]
    assert [{**r, "reports": int(r["reports"])} for r in rows] == json_rows


def test_the_api_lists_the_charts_with_their_data_urls(client, world):
    client.force_login(UserFactory(username="reader"))
    charts = client.get(API, {"from": "2024-01-01"}).json()
    assert [c["id"] for c in charts] == ["reports-by-framework", "reports-by-source", "crash-groups", "github-syncs"]
    for chart in charts:
        assert chart["data_url"].endswith(f"/api/reports/overview/{chart['id']}/?bucket=month&from=2024-01-01")
        assert client.get(chart["data_url"]).status_code == 200
        assert client.get(chart["csv_url"])["Content-Type"].startswith("text/csv")


@pytest.mark.parametrize(
    "params, field",
    [
        ({"from": "2024-13-01"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"bucket": "day"}, "bucket"),
        ({"from": "2024-05-01", "to": "2024-04-01"}, "to"),
        ({"format": "xlsx"}, "format"),
    ],
)
def test_bad_parameters_are_a_400_naming_them(client, world, params, field):
    client.force_login(UserFactory(username="reader"))
    response = client.get(f"{API}reports-by-framework/", params)
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    assert field in {d["field"] for d in response.json()["details"]}
    if field != "format":
        page = client.get(PAGE, params)
        assert page.status_code == 400 and f"<li>{field}: " in page.content.decode()


def test_an_unknown_chart_is_a_404_listing_the_charts(client, world):
    client.force_login(UserFactory(username="reader"))
    response = client.get(f"{API}nope/")
    assert response.status_code == 404 and "reports-by-framework" in response.json()["message"]


def _tables(html: str) -> dict[str, list[list[str]]]:
    """{chart id: rows of its table (header first)} from the page, as text."""
    tables = {}
    for chart_id, table in re.findall(r'<section class="card chart" id="([^"]+)".*?(<table.*?</table>)', html, re.S):
        rows = re.findall(r"<tr>(.*?)</tr>", table, re.S)
        tables[chart_id] = [
            [
                htmllib.unescape(re.sub(r"<[^>]+>", "", c)).strip()
                for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
            ]
            for row in rows
        ]
    return tables


def test_the_page_has_a_chart_and_an_open_table_per_chart(client, world):
    client.force_login(world["curator"])
    response = client.get(PAGE, {"bucket": "month"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'src="/static/js/plotly.min.js"' in html and "js/reports_overview.js" in html
    assert html.count('<details class="chart-table" open>') == 4  # the tables are there without JavaScript
    assert html.count('type="application/json"') == 4  # the four figures, built on the server
    tables = _tables(html)
    framework = tables["reports-by-framework"]
    names = ["jax", "keras", "pytorch", "tensorflow"]  # jax: a crash group
    assert framework[0] == ["Month", *names]
    oracle = _report_oracle("month", lambda r: r.framework)
    for label, *cells in framework[1:]:
        start = f"{label}-01"
        assert [int(c) for c in cells] == [oracle[(start, f)] for f in names]
    assert sum(int(c) for row in framework[1:] for c in row[1:]) == Report.objects.count()
    assert tables["github-syncs"][1] == ["2024-01", "2", "1", "10", "2", "30", "1"]  # the curator's own source
    assert "Download data (CSV)" in html and "/api/reports/overview/crash-groups/?bucket=month&amp;format=csv" in html


def test_the_figure_is_a_plotly_figure_of_the_same_counts(client, world):
    import json

    client.force_login(UserFactory(username="reader"))
    html = client.get(PAGE, {"bucket": "month"}).content.decode()
    data = re.search(r'<script id="figure-reports-by-framework" type="application/json">(.*?)</script>', html, re.S)
    figure = json.loads(data.group(1))
    totals = {trace["name"]: sum(trace["y"]) for trace in figure["data"]}
    assert totals == dict(Counter(r.framework for r in Report.objects.all()))
    assert all(trace["type"] == "bar" for trace in figure["data"])


def test_empty_state(client, db):
    client.force_login(UserFactory(username="reader"))
    html = client.get(PAGE).content.decode()
    assert html.count("Nothing in this range yet.") == 3
    assert "shown to those who manage GitHub sources" in html  # not a curator: no sources of their own
    assert "<table" not in html and 'type="application/json"' not in html
    assert client.get(f"{API}crash-groups/").json()["rows"] == []
    assert client.get(f"{API}crash-groups/", {"format": "csv"}).content.decode() == "period,series,count\n"


@pytest.mark.parametrize(
    "role, page, api, syncs",
    [("anonymous", 302, 403, None), ("reader", 200, 200, 0), ("curator", 200, 200, 3), ("staff", 200, 200, 4)],
)
def test_roles(client, world, role, page, api, syncs):
    users = {
        "reader": lambda: UserFactory(username="reader"),
        "curator": lambda: world["curator"],
        "staff": lambda: UserFactory(username="boss", is_staff=True),
    }
    if role in users:
        client.force_login(users[role]())
    response = client.get(PAGE)
    assert response.status_code == page
    if role == "anonymous":
        assert "/accounts/login/" in response["Location"]
    for url in (API, f"{API}reports-by-framework/", f"{API}github-syncs/?format=csv"):
        assert client.get(url).status_code in ((401, 403) if api == 403 else (api,))
    if syncs is not None:
        rows = client.get(f"{API}github-syncs/").json()["rows"]
        assert sum(r["syncs"] for r in rows) == syncs


def test_the_reports_list_links_to_the_overview(client, db):
    client.force_login(UserFactory(username="reader"))
    assert 'href="/reports/overview/"' in client.get("/reports/").content.decode()


def test_the_page_and_every_chart_are_a_few_queries(client, world, django_assert_max_num_queries):
    client.force_login(world["curator"])
    with django_assert_max_num_queries(10):  # session, user, permissions, and one query per chart
        assert client.get(PAGE).status_code == 200
    assert timezone.now()  # (aware datetimes throughout)
