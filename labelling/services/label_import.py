"""Import annotations and final labels from a long-format CSV into a study.

The file is parsed and checked first (``labelling.dataset.label_import``); any problem stops
the import before anything is written. Labels are only imported for people who are already
annotators of the study: a line naming anyone else (an owner, a viewer, an account that is not a
member, a username with no account) is refused with its line number. Only with
``create_annotators`` (which the API allows to staff only) does a username without an account
get one, and it is then made an annotator; an existing account is never enrolled by an import.

Then, in one transaction and with bulk queries only (a fixed number of queries per 1,000 rows,
never one per row):

* reports named in the file that are not yet in the study are added (screened in);
* annotator lines upsert the Annotation (value, note) and make sure the (item, annotator)
  Assignment exists and is completed, so progress and automatic final labels see them;
* final lines (empty annotator) upsert the FinalLabel with method ``imported``;
* the automatic final labels of the (item, dimension) pairs that got annotator lines are
  recomputed under each dimension's decision rule; no other final label is touched, and
  adjudicated or imported ones never are;
* lines of dimension ``screening`` (when the codebook has no dimension of that code) are
  screening votes: value ``include`` or ``exclude``, the note the exclusion reason. An annotator
  line is that annotator's vote and goes through ``screening.screening_votes_apply`` like a vote on
  the screening page (the study's screening rule decides); a final line (empty annotator) is the
  item's decision, recorded as imported. Reports with screening lines that are not yet in the
  study are added pending, and their votes decide them.

The study and the items are locked while the import writes (final_labels.items_lock), so saves
on the labelling page and other imports wait for it. Importing the same file twice changes
nothing the second time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.analyze import analyze_after_bulk_write
from config.errors import ApplicationError
from labelling.dataset.bulk_write import rows_insert, rows_upsert
from labelling.dataset.label_import import (
    SCREENING_DIMENSION,
    CodebookLookup,
    LabelRow,
    ScreeningRow,
    annotator_errors,
    annotator_lines,
    is_screening_row,
    read_label_rows,
    validate_label_rows,
    validate_screening_rows,
)
from labelling.models import Annotation, Assignment, Dimension, FinalLabel, Membership, ScreeningVote, Study, StudyItem
from labelling.selectors.labelling import progress_forget
from labelling.services.disagreements import disagreements_refresh
from labelling.services.final_labels import final_labels_refresh
from labelling.services.items import items_add
from labelling.services.results import study_results_changed
from labelling.services.screening import VoteIn, screening_final_apply, screening_votes_apply
from triage.models import Report

BATCH = 1000
MAX_REPORTED_ERRORS = 500
IMPORTED_RATIONALE = "Imported from a label file."


@dataclass
class LabelImportResult:
    dry_run: bool = False
    rows: int = 0
    items_added: int = 0
    annotations_created: int = 0
    annotations_updated: int = 0
    annotations_unchanged: int = 0
    final_labels_set: int = 0
    final_labels_unchanged: int = 0
    assignments_created: int = 0
    assignments_completed: int = 0
    accounts_created: list[str] = field(default_factory=list)
    annotators_added: list[str] = field(default_factory=list)
    unanimous_final_labels: int = 0  # the automatic (unanimous or majority) final labels, by each dimension's rule
    screening_votes_created: int = 0
    screening_votes_updated: int = 0
    screening_votes_unchanged: int = 0
    screening_decisions_set: int = 0

    @property
    def changed_anything(self) -> bool:
        return bool(
            self.items_added
            or self.annotations_created
            or self.annotations_updated
            or self.final_labels_set
            or self.assignments_created
            or self.assignments_completed
            or self.accounts_created
            or self.annotators_added
            or self.screening_votes_created
            or self.screening_votes_updated
            or self.screening_decisions_set
        )

    def summary_lines(self) -> list[str]:
        lines = ["Dry run: nothing was written. The import would do this:" if self.dry_run else "Labels imported:"]
        lines.append(f"  rows read: {self.rows}")
        lines.append(f"  items added to the study: {self.items_added}")
        lines.append(
            f"  annotations: {self.annotations_created} created, {self.annotations_updated} updated, "
            f"{self.annotations_unchanged} unchanged"
        )
        lines.append(f"  assignments: {self.assignments_created} created, {self.assignments_completed} marked complete")
        lines.append(f"  final labels: {self.final_labels_set} set, {self.final_labels_unchanged} unchanged")
        if self.screening_votes_created or self.screening_votes_updated or self.screening_votes_unchanged:
            lines.append(
                f"  screening votes: {self.screening_votes_created} created, {self.screening_votes_updated} updated, "
                f"{self.screening_votes_unchanged} unchanged"
            )
        if self.screening_decisions_set:
            lines.append(f"  screening decisions imported: {self.screening_decisions_set}")
        if not self.dry_run:
            lines.append(
                f"  automatic final labels of the labelled items and dimensions: {self.unanimous_final_labels}"
            )
        if self.accounts_created:
            n = len(self.accounts_created)
            lines.append(
                f"  created {n} account{'s' if n != 1 else ''}: {', '.join(self.accounts_created)} "
                "(no password; set one in the admin)"
            )
        if self.annotators_added:
            lines.append(f"  new annotators of the study: {', '.join(self.annotators_added)}")
        if not self.changed_anything:
            lines.append("  nothing changed: the study already holds these labels")
        return lines

    @property
    def summary(self) -> str:
        return "\n".join(self.summary_lines())

    def as_dict(self) -> dict:
        return {**asdict(self), "summary": self.summary}


def _chunks(values: Iterable, size: int = BATCH):
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _refuse(errors) -> ApplicationError:
    errors = sorted(errors, key=lambda e: (e.line, e.field))
    shown = errors[:MAX_REPORTED_ERRORS]
    more = f" (the first {len(shown)} are listed)" if len(errors) > len(shown) else ""
    return ApplicationError(
        f"The label file has {len(errors)} problem{'s' if len(errors) != 1 else ''}{more}; nothing was imported. "
        "Fix the lines listed and import the file again.",
        details=[e.as_dict() for e in shown],
    )


@dataclass
class _Checked:
    rows: list[LabelRow]
    dimensions: dict[str, Dimension]  # by code
    report_ids: dict[str, int]  # by source_id
    user_ids: dict[str, int]  # the annotators in the file who have an account, by username
    to_create: list[str]  # usernames in the file without an account (only with create_annotators)
    screening: list[ScreeningRow] = field(default_factory=list)


def _check(*, study: Study, source, create_annotators: bool, lock: bool) -> _Checked:
    """Parse and check the whole file (with ``lock``, under the study's lock); refuse it with
    every problem found, or return what the import needs."""
    raw_rows, errors = read_label_rows(source)
    if lock:
        # One import of a study at a time, and none while its members or assignments change:
        # the membership checked here is still true when the labels are written. The study is
        # locked before the items, and the items in id order, so imports and saves never wait
        # for each other in a cycle.
        Study.objects.select_for_update().filter(pk=study.pk).first()
    dimensions = list(Dimension.objects.filter(codebook__study=study).prefetch_related("categories"))
    codebook = CodebookLookup((d, d.categories.all()) for d in dimensions)
    report_ids: dict[str, int] = {}
    for chunk in _chunks({r.source_id for r in raw_rows if r.source_id}):
        report_ids.update(Report.objects.filter(source_id__in=chunk).values_list("source_id", "id"))
    screening_raw = []
    label_raw = raw_rows
    if codebook.find(SCREENING_DIMENSION) is None:  # else "screening" is a dimension of the codebook
        screening_raw = [r for r in raw_rows if is_screening_row(r)]
        label_raw = [r for r in raw_rows if not is_screening_row(r)]
    rows, row_errors = validate_label_rows(label_raw, codebook=codebook, known_source_ids=report_ids)
    errors += row_errors
    screening, screening_errors = validate_screening_rows(
        screening_raw, known_source_ids=report_ids, exclusion_reasons=list(study.exclusion_reasons or [])
    )
    errors += screening_errors

    lines = annotator_lines(raw_rows)
    user_ids = _users_by_name(lines)
    roles: dict[str, str] = {}
    for chunk in _chunks(user_ids.values()):
        roles.update(Membership.objects.filter(study=study, user_id__in=chunk).values_list("user__username", "role"))
    errors += annotator_errors(
        lines,
        roles=roles,
        existing=user_ids,
        create_missing=create_annotators,
        how_to_add=(
            f"on the study's Settings page under Members, or with POST /api/studies/{study.slug}/members/ "
            '{"username": ..., "role": "annotator"}'
        ),
    )
    if errors:
        raise _refuse(errors)
    return _Checked(
        rows=rows,
        dimensions={d.code: d for d in dimensions},
        report_ids=report_ids,
        user_ids=user_ids,
        to_create=sorted(name for name in lines if name not in user_ids),
        screening=screening,
    )


def _items_by_report(study: Study, report_ids: Iterable[int], *, lock: bool = False) -> dict[int, int]:
    """{report id: item id} of the reports already in ``study``; with ``lock`` the items are locked
    (final_labels.items_lock: saves of these items wait for the import, and the import for them)."""
    found: dict[int, int] = {}
    for chunk in _chunks(sorted(report_ids)):
        items = StudyItem.objects.filter(study=study, report_id__in=chunk)
        if lock:
            items = items.select_for_update().order_by("id")
        found.update(items.values_list("report_id", "id"))
    return found


def _users_by_name(usernames: Iterable[str]) -> dict[str, int]:
    User = get_user_model()
    found: dict[str, int] = {}
    for chunk in _chunks(usernames):
        found.update(User.objects.filter(username__in=chunk).values_list("username", "id"))
    return found


@transaction.atomic
def labels_import(*, study: Study, source, dry_run: bool = False, create_annotators: bool = False) -> LabelImportResult:
    """Import the long-format label file ``source`` (a path or a file) into ``study``.

    Raises ApplicationError (details = [{line, field, message}]) and writes nothing when any
    line is wrong, including a line whose annotator is not an annotator of the study. With
    ``create_annotators`` (staff only: the caller checks ``can_create_accounts``) a username
    without an account gets one, with no usable password, and is made an annotator of the study;
    an existing account is never enrolled. With ``dry_run`` everything is checked and counted
    but nothing is written.
    """
    checked = _check(study=study, source=source, create_annotators=create_annotators, lock=not dry_run)
    rows, dims, report_id_of, user_of = checked.rows, checked.dimensions, checked.report_ids, checked.user_ids
    screening_rows = checked.screening
    result = LabelImportResult(dry_run=dry_run, rows=len(rows) + len(screening_rows))
    now = timezone.now()
    dim_ids = [d.id for d in dims.values()]

    # Items: which reports are already in the study.
    screened_reports = {report_id_of[r.source_id] for r in screening_rows}
    needed_reports = {report_id_of[r.source_id] for r in rows} | screened_reports
    item_of = _items_by_report(study, needed_reports, lock=not dry_run)
    missing_reports = sorted(needed_reports - item_of.keys())
    result.items_added = len(missing_reports)

    # People: every annotator in the file is an annotator of the study, or a new account to create.
    result.accounts_created = list(checked.to_create)
    result.annotators_added = list(checked.to_create)

    # What the study holds now for the existing items and people in the file.
    item_ids = list(item_of.values())
    user_ids = list(user_of.values())
    annotations: dict[tuple[int, int, int], tuple[str, str]] = {}
    assignments: dict[tuple[int, int], tuple[int, bool]] = {}
    finals: dict[tuple[int, int], tuple[str, str]] = {}
    for chunk in _chunks(item_ids):
        if user_ids:
            for item_id, user_id, dim_id, value, note in Annotation.objects.filter(
                item_id__in=chunk, annotator_id__in=user_ids, dimension_id__in=dim_ids
            ).values_list("item_id", "annotator_id", "dimension_id", "value", "note"):
                annotations[(item_id, user_id, dim_id)] = (value, note)
            for item_id, user_id, pk, completed_at in Assignment.objects.filter(
                item_id__in=chunk, annotator_id__in=user_ids
            ).values_list("item_id", "annotator_id", "id", "completed_at"):
                assignments[(item_id, user_id)] = (pk, completed_at is not None)
        for item_id, dim_id, value, method in FinalLabel.objects.filter(
            item_id__in=chunk, dimension_id__in=dim_ids
        ).values_list("item_id", "dimension_id", "value", "method"):
            finals[(item_id, dim_id)] = (value, method)

    # Decide what changes. Keys use report ids and usernames so that a dry run, where new
    # items and accounts have no ids yet, counts the same way as the real run.
    annotation_writes: list[LabelRow] = []
    final_writes: list[LabelRow] = []
    pairs_to_create: set[tuple[int, str]] = set()
    assignments_to_complete: set[int] = set()
    annotated: set[tuple[int, int]] = set()  # (report id, dimension id) of the annotator lines
    for row in rows:
        report_id = report_id_of[row.source_id]
        item_id = item_of.get(report_id)
        dim_id = dims[row.dimension].id
        if row.is_final:
            current = finals.get((item_id, dim_id)) if item_id else None
            keeps = {FinalLabel.Method.IMPORTED, FinalLabel.Method.ADJUDICATED}
            if current and current[0] == row.value and current[1] in keeps:
                result.final_labels_unchanged += 1
            else:
                final_writes.append(row)
            continue
        annotated.add((report_id, dim_id))
        user_id = user_of.get(row.annotator)
        current = annotations.get((item_id, user_id, dim_id)) if item_id and user_id else None
        if current is None:
            result.annotations_created += 1
            annotation_writes.append(row)
        elif current != (row.value, row.note):
            result.annotations_updated += 1
            annotation_writes.append(row)
        else:
            result.annotations_unchanged += 1
        assignment = assignments.get((item_id, user_id)) if item_id and user_id else None
        if assignment is None:
            pairs_to_create.add((report_id, row.annotator))
        elif not assignment[1]:
            assignments_to_complete.add(assignment[0])
    result.final_labels_set = len(final_writes)
    result.assignments_created = len(pairs_to_create)
    result.assignments_completed = len(assignments_to_complete)

    # Screening votes: what the study holds for these items and screeners.
    votes_now: dict[tuple[int, int], tuple[str, str]] = {}
    if screening_rows and user_ids:
        screened_items = [item_of[r] for r in screened_reports if r in item_of]
        for chunk in _chunks(screened_items):
            for item_id, user_id, decision, reason in ScreeningVote.objects.filter(
                item_id__in=chunk, screener_id__in=user_ids
            ).values_list("item_id", "screener_id", "decision", "reason"):
                votes_now[(item_id, user_id)] = (decision, reason)
    vote_rows = [r for r in screening_rows if not r.is_final]
    final_screening_rows = [r for r in screening_rows if r.is_final]
    for r in vote_rows:
        item_id = item_of.get(report_id_of[r.source_id])
        user_id = user_of.get(r.annotator)
        current = votes_now.get((item_id, user_id)) if item_id and user_id else None
        if current is None:
            result.screening_votes_created += 1
        elif current != (r.decision, r.reason):
            result.screening_votes_updated += 1
        else:
            result.screening_votes_unchanged += 1
    result.screening_decisions_set = len(final_screening_rows)

    if dry_run:
        return result

    # Write, in dependency order.
    if missing_reports:
        labelled_only = [r for r in missing_reports if r not in screened_reports]
        to_screen = [r for r in missing_reports if r in screened_reports]
        if labelled_only:
            items_add(study=study, report_ids=labelled_only, screening=StudyItem.Screening.INCLUDED)
            for chunk in _chunks(labelled_only):  # screened in by the import
                StudyItem.objects.filter(study=study, report_id__in=chunk).update(
                    screening_method=StudyItem.ScreeningMethod.IMPORTED
                )
        if to_screen:  # their screening lines decide them
            items_add(study=study, report_ids=to_screen, screening=StudyItem.Screening.PENDING)
        item_of.update(_items_by_report(study, missing_reports))
    if result.accounts_created:
        User = get_user_model()
        new_users = [User(username=name, password=make_password(None)) for name in result.accounts_created]
        for user in new_users:
            user.full_clean(validate_unique=False)
        try:
            with transaction.atomic():  # a savepoint: the error below leaves the import's transaction usable
                User.objects.bulk_create(new_users, batch_size=BATCH)
        except IntegrityError:
            # Another import (of any study) or an admin created one of these accounts after this
            # import checked for it. An existing account is never enrolled by an import, so stop.
            taken = sorted(_users_by_name(result.accounts_created))
            raise ApplicationError(
                "An account this import was to create was created elsewhere while it ran: "
                f"{', '.join(taken) or 'one of ' + ', '.join(result.accounts_created)}. Nothing was imported; "
                "add the existing accounts to the study as annotators, then import the file again.",
                status=409,
                details=[{"field": "annotator", "message": f"{name} now has an account"} for name in taken],
            ) from None
        user_of.update(_users_by_name(result.accounts_created))
    if result.annotators_added:
        memberships = [
            Membership(study=study, user_id=user_of[name], role=Membership.Role.ANNOTATOR)
            for name in result.annotators_added
        ]
        Membership.objects.bulk_create(memberships, batch_size=BATCH)

    # Annotations and final labels are not full_clean()ed one by one: their values were made
    # canonical by labelling.values.canonical_value above and every foreign key comes from the
    # database, so per-row validation would only add queries.
    # On PostgreSQL by COPY (labelling/dataset/bulk_write.py), elsewhere by bulk_create: the same rows.
    if annotation_writes:
        rows_upsert(
            model=Annotation,
            fields=["item_id", "annotator_id", "dimension_id", "value", "note", "time_spent_ms", "created_at",
                    "updated_at", "codebook_version", "needs_recode", "recode_event_id"],
            rows=(
                (item_of[report_id_of[r.source_id]], user_of[r.annotator], dims[r.dimension].id, r.value, r.note, 0,
                 now, now, study.codebook_version, False, None)
                for r in annotation_writes
            ),
            unique_fields=["item", "annotator", "dimension"],
            # An imported label is a decision: it clears a split's recode flag, as a save does.
            update_fields=["value", "note", "updated_at", "codebook_version", "needs_recode", "recode_event"],
        )  # fmt: skip
    if pairs_to_create:
        rows_insert(
            model=Assignment,
            fields=["study_id", "item_id", "annotator_id", "created_at", "completed_at"],
            rows=(
                (study.pk, item_of[report_id], user_of[name], now, now) for report_id, name in sorted(pairs_to_create)
            ),
        )
    for chunk in _chunks(assignments_to_complete):
        Assignment.objects.filter(id__in=chunk, completed_at__isnull=True).update(completed_at=now)
    if pairs_to_create or assignments_to_complete:
        progress_forget(study_id=study.pk)

    if final_writes:
        rows_upsert(
            model=FinalLabel,
            fields=["item_id", "dimension_id", "value", "method", "decided_by_id", "rationale", "decided_at"],
            rows=(
                (item_of[report_id_of[r.source_id]], dims[r.dimension].id, r.value, FinalLabel.Method.IMPORTED, None,
                 IMPORTED_RATIONALE, now)
                for r in final_writes
            ),
            unique_fields=["item", "dimension"],
            update_fields=["value", "method", "decided_by", "rationale", "decided_at"],
        )  # fmt: skip

    if vote_rows:
        # The same path as a vote on the screening page: the study's screening rule decides. The
        # existing items are locked above; the new ones are this transaction's own.
        screening_votes_apply(
            study=study,
            votes=[
                VoteIn(item_of[report_id_of[r.source_id]], user_of[r.annotator], r.decision, r.reason)
                for r in vote_rows
            ],
            locked=True,
        )
    if final_screening_rows:
        screening_final_apply(
            study=study,
            decisions=[(item_of[report_id_of[r.source_id]], r.decision, r.reason) for r in final_screening_rows],
        )

    if annotated:
        # Only the (item, dimension) pairs the file gave labels for: the final labels of the other
        # dimensions stay as they are, and adjudicated or imported ones are never touched.
        pairs = {(item_of[report_id], dim_id) for report_id, dim_id in annotated}
        result.unanimous_final_labels = final_labels_refresh(
            study=study,
            item_ids={item_id for item_id, _ in pairs},
            dimensions=[d for d in dims.values() if d.id in {dim_id for _, dim_id in pairs}],
            only=pairs,
        )
    # final_labels_refresh recorded the disagreements of the labelled items; an imported final
    # label of any other item may settle one of its disagreements.
    settled = {item_of[report_id_of[r.source_id]] for r in final_writes} - {
        item_of[report_id] for report_id, _ in annotated
    }
    if settled:
        disagreements_refresh(study=study, item_ids=settled)
    study_results_changed(study_ids=[study.pk])  # the study is locked (_check): no save waits on this
    # A large import refreshes the planner statistics of what it wrote, once it commits (config/analyze.py).
    analyze_after_bulk_write(
        models_written=[Annotation, Assignment, FinalLabel, StudyItem, ScreeningVote],
        rows=len(annotation_writes)
        + len(pairs_to_create)
        + len(assignments_to_complete)
        + len(final_writes)
        + len(screening_rows)
        + len(missing_reports),
    )
    return result
