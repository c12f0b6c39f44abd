"""How many reports there are, by framework: the reports list's total and the framework menus.

Counting 100,000 reports on every page view would cost more than the rest of the page, so the
counts are cached until a report is written. The cache is versioned: every service that inserts
reports or may change their framework calls :func:`report_counts_changed`, which bumps the
version once its transaction commits; a reader keys the counts by the version it read first, so
a count computed from rows older than a commit is never served after that commit. Production runs
one cache shared by the web processes (``CACHE_URL``, docs/deploy.md), so one bump reaches all.

Crash groups are created with their reports (``triage.crashes.services``), so the crash list's
filter menus are cached the same way (``cached_until_reports_change``).

Who may see the counts is unchanged: every signed-in user sees the reports list and its totals.
"""

from __future__ import annotations

import time

from django.core.cache import cache
from django.db import transaction
from django.db.models import Count

VERSION_KEY = "triage:report-counts:version"
COUNTS_SECONDS = 24 * 3600  # a day: long enough to matter, short enough to forget a lost bump


def _version() -> int:
    version = cache.get(VERSION_KEY)
    if version is None:  # first use, or the cache lost it: start past every version handed out before
        cache.add(VERSION_KEY, time.time_ns() // 1000, timeout=None)
        version = cache.get(VERSION_KEY) or 0
    return version


def cached_until_reports_change(name: str, compute):
    """``compute()``, cached under ``name`` until the next report write commits. For aggregates
    over every report or crash group that only a report insert (or a framework change) moves."""
    key = f"triage:report-counts:{_version()}:{name}"
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, COUNTS_SECONDS)
    return value


def report_framework_counts() -> list[dict]:
    """[{framework, n}] over all reports, most common first: the framework filter's options
    (and, summed, the number of reports). Cached until the next report write commits."""
    from triage.models import Report

    return cached_until_reports_change(
        "frameworks",
        lambda: list(Report.objects.values("framework").annotate(n=Count("id")).order_by("-n", "framework")),
    )


def report_total() -> int:
    """The number of reports (the sum of the cached framework counts)."""
    return sum(row["n"] for row in report_framework_counts())


def _bump() -> None:
    try:
        cache.incr(VERSION_KEY)
    except ValueError:  # no version (the cache lost it): the next reader starts a new, later one
        pass


def report_counts_changed() -> None:
    """Reports were inserted or their framework may have changed: drop the counts once this
    transaction commits (at once outside one)."""
    transaction.on_commit(_bump)
