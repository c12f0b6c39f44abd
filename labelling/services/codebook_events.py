"""The codebook's history: every change bumps the study's ``codebook_version`` and records a
``CodebookEvent`` (what, who, when, how many stored labels it touched).

Writers of the codebook call ``codebook_lock`` first in their transaction: the study row is
locked ``FOR UPDATE``, so two changes of one codebook run one after the other and each gets its
own version. Writers of labels (annotation saves, adjudication) call ``codebook_read_lock``:
``FOR SHARE`` on the same row, so they run alongside each other but never alongside a codebook
change, and validate against the codebook as committed (a merge cannot strand a value that a
save checked against the codebook before the merge).
"""

from __future__ import annotations

from django.db import connection

from labelling.models import CodebookEvent, Study
from labelling.services.results import study_results_changed


def codebook_lock(*, study_id: int) -> Study:
    """The study row, locked until the transaction ends (codebook writers)."""
    return Study.objects.select_for_update().get(pk=study_id)


def codebook_read_lock(*, study_id: int) -> int:
    """Share-lock the study row (label writers) and return its committed codebook version.
    On SQLite, which lets one writer in at a time, a plain read."""
    table = Study._meta.db_table
    suffix = " FOR SHARE" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT codebook_version FROM {table} WHERE id = %s{suffix}", [study_id])
        row = cursor.fetchone()
    return row[0] if row else 0


def codebook_changed(
    *,
    study_id: int,
    kind: str,
    summary: str,
    details: dict | None = None,
    by=None,
    annotations: int = 0,
    final_labels: int = 0,
    decisions: int = 0,
    results_changed_here: bool = True,
) -> CodebookEvent:
    """Bump the study's codebook version (cached copies of the old codebook are then unused) and
    record the change as the event of the new version; and the study's results token
    (``study_results_changed``), unless ``results_changed_here`` is False: a caller that writes
    more labels afterwards (a split) bumps it itself as its last statement."""
    study = codebook_lock(study_id=study_id)
    study.codebook_version += 1
    study.save(update_fields=["codebook_version"])
    event = CodebookEvent(
        study=study,
        version=study.codebook_version,
        kind=kind,
        summary=summary[:500],
        details=details or {},
        annotations_touched=annotations,
        final_labels_touched=final_labels,
        decisions_touched=decisions,
        created_by=by if getattr(by, "is_authenticated", False) else None,
    )
    event.full_clean()
    event.save()
    if results_changed_here:  # the study row is locked FOR UPDATE above: no label save waits on this
        study_results_changed(study_ids=[study.pk])  # agreement and charts follow the codebook
    return event
