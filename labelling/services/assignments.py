"""Give each included item of a study to k distinct annotators, keeping everyone's load even."""

from __future__ import annotations

from collections import Counter, defaultdict

from django.db import transaction

from config.errors import ApplicationError
from labelling.models import Assignment, Membership, Study, StudyItem
from labelling.selectors.labelling import progress_forget
from labelling.services.results import study_results_changed

BATCH_SIZE = 2000


@transaction.atomic
def assignments_make(*, study: Study) -> int:
    """Top every included item up to ``study.overlap_k`` distinct annotators; returns how many
    assignments were created.

    Each missing slot goes to the annotator (member with role annotator) with the lowest current
    load in this study who does not already have the item; ties go to the lower user id, so the
    result is deterministic. Running it again creates nothing. Fewer annotators than k is
    refused before anything is written.
    """
    study = Study.objects.select_for_update().get(pk=study.pk)
    k = study.overlap_k
    annotator_ids = sorted(
        Membership.objects.filter(study=study, role=Membership.Role.ANNOTATOR).values_list("user_id", flat=True)
    )
    if len(annotator_ids) < k:
        raise ApplicationError(
            f"Each item needs {k} distinct annotators but the study has {len(annotator_ids)}: "
            "add annotators or lower k in the study settings.",
            status=409,
            details={"overlap_k": k, "annotators": len(annotator_ids)},
        )

    existing = Assignment.objects.filter(study=study).values_list("item_id", "annotator_id")
    assigned: dict[int, set[int]] = defaultdict(set)
    load: Counter[int] = Counter({uid: 0 for uid in annotator_ids})
    annotator_set = set(annotator_ids)
    for item_id, annotator_id in existing.iterator(chunk_size=5000):
        assigned[item_id].add(annotator_id)
        if annotator_id in annotator_set:
            load[annotator_id] += 1

    included = StudyItem.objects.filter(study=study, screening=StudyItem.Screening.INCLUDED).order_by("id")
    new: list[Assignment] = []
    for item_id in included.values_list("id", flat=True).iterator(chunk_size=5000):
        have = assigned.get(item_id, set())
        need = k - len(have)
        if need <= 0:
            continue
        choices = sorted((uid for uid in annotator_ids if uid not in have), key=lambda uid: (load[uid], uid))
        for uid in choices[:need]:
            new.append(Assignment(study=study, item_id=item_id, annotator_id=uid))
            load[uid] += 1
    for start in range(0, len(new), BATCH_SIZE):
        Assignment.objects.bulk_create(new[start : start + BATCH_SIZE])
    if new:
        progress_forget(study_id=study.pk, annotator_ids={a.annotator_id for a in new})
        study_results_changed(study_ids=[study.pk])  # the overview's assignment counts
    return len(new)
