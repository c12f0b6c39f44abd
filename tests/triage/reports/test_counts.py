"""The cached report counts (triage/reports/counts.py) follow every write that adds reports."""

import pytest

from tests.factories import ReportFactory, UserFactory
from tests.fakes.crash_traces import crash_report
from triage.crashes.selectors import crash_group_filter_choices
from triage.crashes.services import crashes_ingest
from triage.models import Report
from triage.reports.counts import report_framework_counts, report_total
from triage.reports.services import reports_upsert


@pytest.fixture
def counted(db):
    ReportFactory.create_batch(2, framework="pytorch")
    assert report_total() == 2  # now cached
    return report_framework_counts()


def test_counts_are_cached_until_a_report_write_commits(counted):
    Report.objects.create(source_id="raw:1", framework="pytorch", title="written behind the services' back")
    assert report_total() == 2  # cached: a write outside the services is not seen


def test_an_upsert_of_reports_refreshes_the_counts_on_commit(counted, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        reports_upsert(reports=[Report(source_id="github:a/b#1", framework="jax", title="new", raw={})])
        assert report_total() == 2  # not before the commit
    assert report_total() == 3 and {"framework": "jax", "n": 1} in report_framework_counts()


def test_crash_intake_refreshes_the_counts_and_the_crash_filter_menus(counted, django_capture_on_commit_callbacks):
    assert crash_group_filter_choices()["framework"] == []
    with django_capture_on_commit_callbacks(execute=True):
        crashes_ingest(reports=[crash_report("jax_conv_dimension", 0)], account=None)
    assert report_total() == 3
    assert crash_group_filter_choices()["framework"] == ["jax"]


def test_the_reports_page_shows_the_new_total(client, counted, django_capture_on_commit_callbacks):
    client.force_login(UserFactory())
    assert "2 reports." in client.get("/reports/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        reports_upsert(reports=[Report(source_id="github:a/b#2", framework="keras", title="new", raw={})])
    assert "3 reports." in client.get("/reports/").content.decode()


def test_a_lost_version_never_brings_back_old_counts(counted):
    from django.core.cache import cache

    from triage.reports.counts import VERSION_KEY

    cache.delete(VERSION_KEY)  # the cache forgot the version (eviction, restart)
    ReportFactory(framework="mxnet")
    assert report_total() == 3
