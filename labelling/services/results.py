"""The one write behind every cached study result: ``study_results_changed``.

Every service whose write changes what the study's result pages show (overview counts and
progress, the Agreement page, the Analytics charts) calls it once, as the last statement of its
transaction. It gives the study's ``StudyResultsVersion`` row a new random token in the same
transaction as the write, so the new token is visible exactly when the write is: a reader in any
process (web or Celery worker) reads the token first, then its cached results keyed by it
(``labelling.selectors.results``), and never serves results older than the committed data.

The row lock the upsert takes is held from that last statement to the commit only, and the
label savers' share lock on the study row is not touched, so concurrent saves of one study wait
for each other's commit at most, never for each other's work, and cannot deadlock on it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.db import connection

from labelling.models import StudyResultsVersion


def study_results_changed(*, study_ids: Iterable[int]) -> dict[int, str]:
    """A new results token for each study of ``study_ids`` (one statement, ids in order so that
    two writers touching several studies lock their rows in the same order); returns them."""
    ids = sorted({int(i) for i in study_ids if i is not None})
    if not ids:
        return {}
    tokens = {i: uuid.uuid4().hex for i in ids}
    table = StudyResultsVersion._meta.db_table
    values = ", ".join(["(%s, %s, 1)"] * len(ids))
    params = [p for i in ids for p in (i, tokens[i])]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (study_id, token, bumps) VALUES {values} "
            f"ON CONFLICT (study_id) DO UPDATE SET token = excluded.token, bumps = {table}.bumps + 1",
            params,
        )
    return tokens


def report_results_changed(*, report_ids: Iterable[int]) -> None:
    """``study_results_changed`` for every study holding one of ``report_ids`` (a report's
    framework, labels or reproduction verdicts feed the study's charts)."""
    from labelling.models import StudyItem

    ids = list({int(i) for i in report_ids})
    if not ids:
        return
    study_ids: set[int] = set()
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        study_ids.update(
            StudyItem.objects.filter(report_id__in=chunk).order_by().values_list("study_id", flat=True).distinct()
        )
    study_results_changed(study_ids=study_ids)
