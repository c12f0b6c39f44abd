"""Import annotations and final labels from a long-format CSV into a study.

The file is read once, as a stream (``labelling.dataset.label_import.iter_label_rows``), and each
line is checked as it comes (``LabelRowChecker``: codebook lookups and canonical values worked out
once per distinct value, unknown source_ids looked up per 10,000 lines). The checked lines go into
a temporary table of the connection (``STAGING``: COPY on PostgreSQL, executemany on SQLite), so a
million-line file is never held in memory; a repeated (report, annotator, dimension) is noticed
with one bit mask per report and compared with its first line. Any problem refuses the file
before anything is written: the staged lines are in the import's transaction and go with its
rollback. Labels are only imported for people who are already
annotators of the study: a line naming anyone else (an owner, a viewer, an account that is not a
member, a username with no account) is refused with its line number. Only with
``create_annotators`` (which the API allows to staff only) does a username without an account
get one, and it is then made an annotator; an existing account is never enrolled by an import.

Then, in the same transaction and with bulk queries only (counts and writes are one
``INSERT ... SELECT`` or ``SELECT`` over the staged lines each, the same SQL on PostgreSQL and
SQLite; never a query per row):

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
from itertools import islice

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from config.analyze import analyze_after_bulk_write
from config.errors import ApplicationError
from labelling.dataset.bulk_write import staging_create, staging_drop, staging_fill
from labelling.dataset.label_import import (
    SCREENING_DIMENSION,
    AnnotatorLines,
    CodebookLookup,
    LabelRow,
    LabelRowChecker,
    LineError,
    RawLabelRow,
    ScreeningRow,
    annotator_errors,
    conflict_error,
    is_screening_row,
    iter_label_rows,
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


STAGING = "_label_import_rows"  # a temporary table of this connection, for the checked lines
STAGING_COLUMNS = [
    ("line", "integer"),
    ("report_id", "bigint"),
    ("annotator", "text"),  # "" = a final label
    ("dimension_id", "bigint"),
    ("value", "text"),
    ("note", "text"),
]
STAGING_TEXT = ["annotator", "value", "note"]
READ_CHUNK = 10_000  # lines checked at a time (their unknown source_ids are looked up in one go)


@dataclass
class _Checked:
    """What the import needs of a checked file. The canonical label lines themselves are in the
    temporary table ``STAGING`` (identical repeats dropped), not in memory."""

    dimensions: dict[str, Dimension]  # by code
    report_ids: dict[str, int]  # by source_id
    user_ids: dict[str, int]  # the annotators in the file who have an account, by username
    to_create: list[str]  # usernames in the file without an account (only with create_annotators)
    screening: list[ScreeningRow] = field(default_factory=list)
    annotator_rows: int = 0  # staged lines of an annotator
    final_rows: int = 0  # staged lines of a final label
    labelled_reports: set[int] = field(default_factory=set)  # the report ids of the staged lines
    pairs: int = 0  # distinct (report, annotator) of the annotator lines
    annotated: dict[int, int] = field(default_factory=dict)  # {report id: bits of the dimensions with annotator lines}
    finalised: set[int] = field(default_factory=set)  # the report ids with final-label lines
    dimension_order: list[Dimension] = field(default_factory=list)  # bit (index) -> dimension


def _chunked(iterable, size: int):
    it = iter(iterable)
    while chunk := list(islice(it, size)):
        yield chunk


def _check(*, study: Study, source, create_annotators: bool, lock: bool) -> _Checked:
    """Read and check the whole file in one pass (with ``lock``, under the study's lock), putting
    the checked label lines in the temporary table ``STAGING``; refuse it with every problem found
    (the caller's transaction rolls back, the table with it), or return what the import needs."""
    errors: list[LineError] = []
    raw_rows = iter_label_rows(source, errors)  # streamed: the file is never held whole
    if lock:
        # One import of a study at a time, and none while its members or assignments change:
        # the membership checked here is still true when the labels are written. The study is
        # locked before the items, and the items in id order, so imports and saves never wait
        # for each other in a cycle.
        Study.objects.select_for_update().filter(pk=study.pk).first()
    dimensions = list(Dimension.objects.filter(codebook__study=study).prefetch_related("categories"))
    codebook = CodebookLookup((d, d.categories.all()) for d in dimensions)
    checker = LabelRowChecker(codebook)
    by_code = {d.code: d for d in dimensions}
    dim_index = {d.code: i for i, d in enumerate(dimensions)}
    screening_apart = codebook.find(SCREENING_DIMENSION) is None  # else "screening" is a dimension of the codebook
    report_ids: dict[str, int] = {}
    looked_up: set[str] = set()
    names = AnnotatorLines()
    screening_raw: list[RawLabelRow] = []
    checked = _Checked(dimensions=by_code, report_ids=report_ids, user_ids={}, to_create=[], dimension_order=dimensions)
    annotator_index: dict[str, int] = {"": 0}
    n_dims = len(dimensions)
    # {report id: bits of the (annotator, dimension) pairs staged}, bit = annotator index x n_dims +
    # dimension index (annotator 0 = the final labels): a few bytes per report, not a key per line.
    seen: dict[int, int] = {}
    repeats: list[tuple[int, LabelRow]] = []  # a later line for a (report, annotator, dimension) already staged

    def staged():
        for chunk in _chunked(raw_rows, READ_CHUNK):
            new = {r.source_id for r in chunk if r.source_id and r.source_id not in looked_up}
            looked_up.update(new)
            for ids in _chunks(new):
                report_ids.update(Report.objects.filter(source_id__in=ids).values_list("source_id", "id"))
            for row in chunk:
                names.add(row)
                if screening_apart and is_screening_row(row):
                    screening_raw.append(row)
                    continue
                label, line_errors = checker.check(row, report_ids)
                if label is None:
                    errors.extend(line_errors)
                    continue
                report_id = report_ids[label.source_id]
                who = annotator_index.setdefault(label.annotator, len(annotator_index))
                bit = 1 << (who * n_dims + dim_index[label.dimension])
                bits = seen.get(report_id, 0)
                if bits & bit:
                    repeats.append((report_id, label))
                    continue
                seen[report_id] = bits | bit
                if label.annotator:
                    checked.annotator_rows += 1
                else:
                    checked.final_rows += 1
                yield (label.line, report_id, label.annotator, by_code[label.dimension].id, label.value, label.note)

    staging_create(STAGING, STAGING_COLUMNS)
    staging_fill(STAGING, [c for c, _ in STAGING_COLUMNS], staged(), text_columns=STAGING_TEXT)
    checked.labelled_reports = set(seen)
    all_dims = (1 << n_dims) - 1
    for report_id, bits in seen.items():
        dims = 0
        if bits & all_dims:
            checked.finalised.add(report_id)
        bits >>= n_dims  # past the final labels
        while bits:
            if bits & all_dims:
                checked.pairs += 1
                dims |= bits & all_dims
            bits >>= n_dims
        if dims:
            checked.annotated[report_id] = dims
    seen.clear()
    errors += _repeat_errors(repeats, {d.id: d.code for d in dimensions})

    screening, screening_errors = validate_screening_rows(
        screening_raw, known_source_ids=report_ids, exclusion_reasons=list(study.exclusion_reasons or [])
    )
    errors += screening_errors

    user_ids = _users_by_name(names.lines)
    roles: dict[str, str] = {}
    for chunk in _chunks(user_ids.values()):
        roles.update(Membership.objects.filter(study=study, user_id__in=chunk).values_list("user__username", "role"))
    errors += annotator_errors(
        names.lines,
        counts=names.counts,
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
    checked.user_ids = user_ids
    checked.to_create = sorted(name for name in names.lines if name not in user_ids)
    checked.screening = screening
    return checked


def _repeat_errors(repeats: list[tuple[int, LabelRow]], dimension_codes: dict[int, str]) -> list[LineError]:
    """The conflicts among ``repeats`` (later lines for a report, annotator and dimension whose
    first line is staged): each is checked against that first line, read back from ``STAGING``."""
    errors: list[LineError] = []
    quote = connection.ops.quote_name
    by_report: dict[int, list[LabelRow]] = {}
    for report_id, label in repeats:
        by_report.setdefault(report_id, []).append(label)
    for chunk in _chunks(sorted(by_report)):
        first: dict[tuple[int, str, str], LabelRow] = {}
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT line, report_id, annotator, dimension_id, value, note FROM {quote(STAGING)} "
                f"WHERE report_id IN ({', '.join(['%s'] * len(chunk))})",
                chunk,
            )
            for line, report_id, annotator, dimension_id, value, note in cursor.fetchall():
                code = dimension_codes[dimension_id]
                first[(report_id, annotator, code)] = LabelRow(line, "", annotator, code, value, note)
        for report_id in chunk:
            for label in by_report[report_id]:
                conflict = conflict_error(first[(report_id, label.annotator, label.dimension)], label)
                if conflict:
                    errors.append(conflict)
    return errors


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
    report_id_of, user_of = checked.report_ids, checked.user_ids
    screening_rows = checked.screening
    result = LabelImportResult(dry_run=dry_run, rows=checked.annotator_rows + checked.final_rows + len(screening_rows))
    now = timezone.now()

    # Items: which reports are already in the study.
    screened_reports = {report_id_of[r.source_id] for r in screening_rows}
    needed_reports = checked.labelled_reports | screened_reports
    item_of = _items_by_report(study, needed_reports, lock=not dry_run)
    missing_reports = sorted(needed_reports - item_of.keys())
    result.items_added = len(missing_reports)

    # People: every annotator in the file is an annotator of the study, or a new account to create.
    result.accounts_created = list(checked.to_create)
    result.annotators_added = list(checked.to_create)

    # Decide what changes, in SQL over the staged lines. The joins go by report id and username, so
    # that a dry run, where new items and accounts have no ids yet, counts the same way as the real
    # run. Reports not in the study yet hold nothing: with none in it, everything is new.
    if item_of:
        result.annotations_created, result.annotations_updated = _counts(
            f"""SELECT SUM(CASE WHEN a.id IS NULL THEN 1 ELSE 0 END),
                       SUM(CASE WHEN a.id IS NOT NULL AND (a.value <> s.value OR a.note <> s.note) THEN 1 ELSE 0 END)
                FROM {{staging}} s {{item_join}} {{user_join}}
                LEFT JOIN {_table(Annotation)} a
                  ON a.item_id = i.id AND a.annotator_id = u.id AND a.dimension_id = s.dimension_id
                WHERE s.annotator <> ''""",
            study,
        )
        result.assignments_created, result.assignments_completed = _counts(
            f"""SELECT SUM(CASE WHEN g.id IS NULL THEN 1 ELSE 0 END),
                       SUM(CASE WHEN g.id IS NOT NULL AND g.completed_at IS NULL THEN 1 ELSE 0 END)
                FROM (SELECT DISTINCT report_id, annotator FROM {{staging}} WHERE annotator <> '') s
                {{item_join}} {{user_join}}
                LEFT JOIN {_table(Assignment)} g ON g.item_id = i.id AND g.annotator_id = u.id""",
            study,
        )
        (result.final_labels_unchanged,) = _counts(
            f"""SELECT COUNT(*) FROM {{staging}} s {{item_join}}
                JOIN {_table(FinalLabel)} f ON f.item_id = i.id AND f.dimension_id = s.dimension_id
                WHERE s.annotator = '' AND f.value = s.value AND f.method IN (%s, %s)""",
            study,
            [FinalLabel.Method.IMPORTED, FinalLabel.Method.ADJUDICATED],
        )
    else:
        result.annotations_created, result.assignments_created = checked.annotator_rows, checked.pairs
    result.annotations_unchanged = checked.annotator_rows - result.annotations_created - result.annotations_updated
    result.final_labels_set = checked.final_rows - result.final_labels_unchanged

    # Screening votes: what the study holds for these items and screeners.
    user_ids = list(user_of.values())
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
        staging_drop(STAGING)
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

    # Annotations, assignments and final labels straight from the staged lines, one statement each
    # (no model instance per row): their values were made canonical by labelling.values.canonical_value
    # and every foreign key comes from the database. The same SQL on PostgreSQL and SQLite.
    at = connection.ops.adapt_datetimefield_value(now)
    if result.annotations_created or result.annotations_updated:
        # An imported label is a decision: it clears a split's recode flag, as a save does. An
        # unchanged label is left as it is.
        _execute(
            f"""INSERT INTO {_table(Annotation)} (item_id, annotator_id, dimension_id, value, note, time_spent_ms,
                    created_at, updated_at, codebook_version, needs_recode, recode_event_id)
                SELECT i.id, u.id, s.dimension_id, s.value, s.note, 0, %s, %s, %s, %s, NULL
                FROM {{staging}} s {{item_join}} {{user_join}}
                WHERE s.annotator <> ''
                ON CONFLICT (item_id, annotator_id, dimension_id) DO UPDATE SET
                    value = EXCLUDED.value, note = EXCLUDED.note, updated_at = EXCLUDED.updated_at,
                    codebook_version = EXCLUDED.codebook_version, needs_recode = EXCLUDED.needs_recode,
                    recode_event_id = NULL
                WHERE {_table(Annotation)}.value <> EXCLUDED.value OR {_table(Annotation)}.note <> EXCLUDED.note""",
            study,
            [at, at, study.codebook_version, False],
        )
    if result.assignments_created or result.assignments_completed:
        _execute(
            f"""INSERT INTO {_table(Assignment)} (study_id, item_id, annotator_id, created_at, completed_at)
                SELECT %s, i.id, u.id, %s, %s
                FROM (SELECT DISTINCT report_id, annotator FROM {{staging}} WHERE annotator <> '') s
                {{item_join}} {{user_join}}
                WHERE 1 = 1
                ON CONFLICT (item_id, annotator_id) DO UPDATE SET completed_at = EXCLUDED.completed_at
                WHERE {_table(Assignment)}.completed_at IS NULL""",
            study,
            [study.pk, at, at],
        )
        progress_forget(study_id=study.pk)
    if result.final_labels_set:
        _execute(
            f"""INSERT INTO {_table(FinalLabel)} (item_id, dimension_id, value, method, decided_by_id, rationale,
                    decided_at)
                SELECT i.id, s.dimension_id, s.value, %s, NULL, %s, %s
                FROM {{staging}} s {{item_join}}
                WHERE s.annotator = ''
                ON CONFLICT (item_id, dimension_id) DO UPDATE SET
                    value = EXCLUDED.value, method = EXCLUDED.method, decided_by_id = NULL,
                    rationale = EXCLUDED.rationale, decided_at = EXCLUDED.decided_at
                WHERE NOT ({_table(FinalLabel)}.value = EXCLUDED.value AND {_table(FinalLabel)}.method IN (%s, %s))""",
            study,
            [FinalLabel.Method.IMPORTED, IMPORTED_RATIONALE, at],
            params_after=[FinalLabel.Method.IMPORTED, FinalLabel.Method.ADJUDICATED],
        )
    staging_drop(STAGING)

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

    if checked.annotated:
        # Only the (item, dimension) pairs the file gave labels for: the final labels of the other
        # dimensions stay as they are, and adjudicated or imported ones are never touched.
        order = checked.dimension_order
        item_ids = {item_of[report_id] for report_id in checked.annotated}
        union = 0
        for bits in checked.annotated.values():
            union |= bits
        dimensions = [d for i, d in enumerate(order) if union >> i & 1]
        # When every labelled item got lines on every labelled dimension (a whole file of labels),
        # those pairs are all the pairs of these items and dimensions: no need to list them.
        pairs = (
            None
            if all(bits == union for bits in checked.annotated.values())
            else {
                (item_of[report_id], d.id)
                for report_id, bits in checked.annotated.items()
                for i, d in enumerate(order)
                if bits >> i & 1
            }
        )
        result.unanimous_final_labels = final_labels_refresh(
            study=study, item_ids=item_ids, dimensions=dimensions, only=pairs
        )
    # final_labels_refresh recorded the disagreements of the labelled items; an imported final
    # label of any other item may settle one of its disagreements.
    settled = {item_of[report_id] for report_id in checked.finalised if report_id not in checked.annotated}
    if settled and result.final_labels_set:
        disagreements_refresh(study=study, item_ids=settled)
    study_results_changed(study_ids=[study.pk])  # the study is locked (_check): no save waits on this
    # A large import refreshes the planner statistics of what it wrote, once it commits (config/analyze.py).
    analyze_after_bulk_write(
        models_written=[Annotation, Assignment, FinalLabel, StudyItem, ScreeningVote],
        rows=result.annotations_created
        + result.annotations_updated
        + result.assignments_created
        + result.assignments_completed
        + result.final_labels_set
        + len(screening_rows)
        + len(missing_reports),
    )
    return result


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _sql(sql: str, *, join: str = "LEFT JOIN") -> str:
    """``sql`` with the staging table and the joins from a staged line ``s`` to its item ``i`` (of
    the study, the first parameter) and its annotator's account ``u`` filled in."""
    User = get_user_model()
    username = connection.ops.quote_name(User._meta.get_field(User.USERNAME_FIELD).column)
    return sql.format(
        staging=connection.ops.quote_name(STAGING),
        item_join=f"{join} {_table(StudyItem)} i ON i.study_id = %s AND i.report_id = s.report_id",
        user_join=f"{join} {_table(User)} u ON u.{username} = s.annotator",
    )


def _counts(sql: str, study: Study, params: list | None = None) -> tuple[int, ...]:
    with connection.cursor() as cursor:
        cursor.execute(_sql(sql), [study.pk, *(params or [])])
        return tuple(int(n or 0) for n in cursor.fetchone())


def _execute(sql: str, study: Study, params: list, *, params_after=()) -> None:
    """Run a write over the staged lines: ``params`` are those of its SELECT list (before the
    study's id in the join), ``params_after`` those after the joins. Every line joins its item and
    account (both exist by now)."""
    with connection.cursor() as cursor:
        cursor.execute(_sql(sql, join="JOIN"), [*params, study.pk, *params_after])
