"""Writes for fuzzer crash reports: ingest (deduplicated by signature), merge, split, known-issue links.

Every crash group is one Report (kind ``crash``) so that studies screen, label and export groups
exactly like GitHub issues. A group merged into another keeps its row (its signature still
routes there) and sends every new occurrence to the group it was merged into.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import Count, Max, Min, Q
from django.db.models.functions import Length
from django.utils import timezone

from config.analyze import analyze_after_bulk_write
from config.errors import ApplicationError
from triage.crashes.intake import MAX_BATCH, CrashInput, crash_parse
from triage.crashes.signatures import STACKLESS_ORACLES, Signed, sign
from triage.models import Comment, CrashGroup, CrashOccurrence, FuzzerAccount, GroupDecision, Report
from triage.reports.counts import report_counts_changed

SOURCE_PREFIX = "crash:"


@dataclass
class IngestResult:
    created: int = 0
    duplicates: int = 0
    groups_created: int = 0
    stored: list[dict] = field(default_factory=list)  # {index, client_id, status, group, signature}
    refused: list[dict] = field(default_factory=list)  # {index, problems: [{field, message}]}

    def summary(self) -> str:
        text = f"{self.created} stored, {self.duplicates} already known, {self.groups_created} new crash groups"
        return text + (f", {len(self.refused)} refused" if self.refused else "")


def _source_id(signature: str) -> str:
    return f"{SOURCE_PREFIX}{signature[:16]}"


def crash_title(*, crash_type: str, frames: list[str], api: str, oracle: str) -> str:
    """E.g. ``RuntimeError in at::native::conv2d (torch.nn.functional.conv2d)``."""
    where = frames[0].split(":", 1)[1] if frames else ""
    if where.startswith(("py:",)) or "/" in where:
        where = where.rsplit(":", 1)[-1]
    head = crash_type or oracle
    title = f"{head} in {where}" if where else head
    return (f"{title} ({api})" if api else title)[:1000]


def _report_body(item: CrashInput, signed: Signed) -> str:
    fence = "~~~~"
    parts = [
        f"Crash group from fuzzer `{item.fuzzer}`; oracle `{item.oracle}`.",
        "",
        "**Signature**",
        "",
        f"{fence}text\n{signed.text}\n{fence}",
    ]
    if signed.from_message:
        parts += ["", "_The trace could not be parsed into meaningful frames: signed by its message._"]
    if item.message:
        parts += ["", "**Message**", "", f"{fence}text\n{item.message[:20000]}\n{fence}"]
    if item.stack_trace:
        parts += ["", "**Trace** (first occurrence)", "", f"{fence}text\n{item.stack_trace[:50000]}\n{fence}"]
    if item.reproducer:
        parts += ["", "**Reproducer**", "", f"{fence}python\n{item.reproducer[:20000]}\n{fence}"]
    return "\n".join(parts)


def _resolve_targets(groups: dict[str, CrashGroup]) -> dict[str, int]:
    """signature -> id of the group its occurrences go to (merged groups followed, one query per level)."""
    target = {sig: g.merged_into_id or g.id for sig, g in groups.items()}
    seen: set[int] = set()
    for _ in range(10):
        pending = {t for t in target.values() if t not in seen}
        if not pending:
            break
        further = dict(
            CrashGroup.objects.filter(id__in=pending, merged_into__isnull=False).values_list("id", "merged_into_id")
        )
        seen |= pending
        if not further:
            break
        target = {sig: further.get(t, t) for sig, t in target.items()}
    return target


def crashes_validate(reports: Iterable) -> tuple[list[CrashInput | None], list[dict]]:
    """Each report parsed; ``refused`` = [{index, problems}] for the bad ones.

    ``reports`` may be a stream (a generator over a request body): each raw report is parsed
    into a compact CrashInput as it comes and not kept."""
    if not isinstance(reports, Iterable) or isinstance(reports, (str, bytes, dict)):
        raise ApplicationError("Send one crash report object or a JSON list of them.")
    items, refused = [], []
    count = 0
    for index, data in enumerate(reports):
        count = index + 1
        if count > MAX_BATCH:
            continue  # counted for the message, not parsed
        item, problems = crash_parse(data)
        items.append(item)
        if problems:
            refused.append({"index": index, "problems": problems})
    if count > MAX_BATCH:
        raise ApplicationError(
            f"A batch holds at most {MAX_BATCH} crash reports (got {count}); split it into smaller batches."
        )
    return items, refused


INSERT_BYTES = 4 * 1024 * 1024


# What a batch of crash reports writes to in bulk: their occurrences, and new groups with their reports.
CRASH_TABLES = [CrashOccurrence, CrashGroup, Report]


def _insert_batch_size(new) -> int:
    """Rows per INSERT: 500, fewer for big reports, so one statement's SQL text stays near 4 MB
    (the driver builds it whole in memory, escaped: a batch of 5 MB reproducers would be GBs)."""
    text = sum(len(i.message) + len(i.stack_trace) + len(i.reproducer) for _, i, _ in new)
    return max(1, min(500, INSERT_BYTES * len(new) // max(text, 1)))


@transaction.atomic
def crashes_ingest(
    *, reports: Iterable, account: FuzzerAccount | None, partial: bool = False, analyze: bool = True
) -> IngestResult:
    """Store a batch of crash reports, grouped by signature. All or nothing unless ``partial``.

    ``reports`` is a list or a stream of raw report objects (all are validated before anything
    is written). Re-sending a (fuzzer, client_id) already stored changes nothing (it is listed
    as a duplicate). A batch that stores ``config.analyze.ANALYZE_MIN_ROWS`` reports or more
    refreshes the planner statistics of the crash tables after it commits (``analyze`` False:
    the caller does that once for many batches, as ``crashes_import`` does)."""
    items, refused = crashes_validate(reports)
    if refused and not partial:
        details = [{"index": r["index"], **p} for r in refused for p in r["problems"]]
        raise ApplicationError(
            f"{len(refused)} of {len(items)} crash reports are not valid, so nothing was stored. "
            "Fix the fields listed in details and send the batch again, or add ?partial=1 to store the valid ones.",
            details=details,
        )
    result = IngestResult(refused=refused)
    valid = [(i, item) for i, item in enumerate(items) if item is not None]
    if not valid:
        return result

    # Duplicates: already stored, or repeated inside this batch.
    existing = {
        (f, c): (g, s)
        for f, c, g, s in CrashOccurrence.objects.filter(
            fuzzer__in={item.fuzzer for _, item in valid}, client_id__in={item.client_id for _, item in valid}
        ).values_list("fuzzer", "client_id", "group_id", "signature")
    }
    new: list[tuple[int, CrashInput, Signed]] = []
    batch_keys: dict[tuple[str, str], int] = {}
    duplicates: list[tuple[int, CrashInput, tuple[str, str]]] = []
    for index, item in valid:
        key = (item.fuzzer, item.client_id)
        if key in existing or key in batch_keys:
            duplicates.append((index, item, key))
            continue
        batch_keys[key] = index
        signed = sign(
            framework=item.framework,
            oracle=item.oracle,
            api=item.api,
            message=item.message,
            stack_trace=item.stack_trace,
        )
        new.append((index, item, signed))

    now = timezone.now()
    groups: dict[str, CrashGroup] = {}
    if new:
        groups = _groups_ensure(new, now, result)
    targets = _resolve_targets(groups)
    occurrences = [
        CrashOccurrence(
            group_id=targets[signed.signature],
            account=account,
            client_id=item.client_id,
            fuzzer=item.fuzzer,
            framework=item.framework,
            framework_version=item.framework_version,
            api=item.api,
            device=item.device,
            oracle=item.oracle,
            message=item.message,
            stack_trace=item.stack_trace,
            reproducer=item.reproducer,
            signature=signed.signature,
            kept_frames=signed.kept_frames,
            created_at=item.created_at,
            extra=item.extra,
        )
        for _, item, signed in new
    ]
    CrashOccurrence.objects.bulk_create(occurrences, batch_size=_insert_batch_size(new), ignore_conflicts=True)
    # Lock the groups last (in id order: no deadlocks) so concurrent batches overlap everywhere else.
    locked = {
        g.id: g for g in CrashGroup.objects.select_for_update().filter(id__in=set(targets.values())).order_by("id")
    }
    _groups_add(locked, [(targets[s.signature], item) for _, item, s in new], now)
    result.created = len(new)

    for index, item, signed in new:
        result.stored.append(
            {
                "index": index,
                "client_id": item.client_id,
                "status": "created",
                "group": targets[signed.signature],
                "signature": signed.signature,
            }
        )
    signature_of = {index: signed.signature for index, _, signed in new}
    for index, item, key in duplicates:
        if key in existing:
            group_id, signature = existing[key]
        else:
            signature = signature_of[batch_keys[key]]
            group_id = targets[signature]
        result.stored.append(
            {
                "index": index,
                "client_id": item.client_id,
                "status": "duplicate",
                "group": group_id,
                "signature": signature,
            }
        )
    result.duplicates = len(duplicates)
    result.stored.sort(key=lambda r: r["index"])
    if analyze:
        # A large batch refreshes the planner statistics of what it wrote, once it commits (config/analyze.py).
        analyze_after_bulk_write(models_written=CRASH_TABLES, rows=result.created)
    return result


def _groups_ensure(new: list[tuple[int, CrashInput, Signed]], now, result: IngestResult) -> dict[str, CrashGroup]:
    """The group of every signature in ``new``, creating the missing ones (and their Reports) in bulk."""
    signatures = {s.signature for _, _, s in new}
    groups = {g.signature: g for g in CrashGroup.objects.filter(signature__in=signatures)}
    first: dict[str, tuple[CrashInput, Signed]] = {}
    for _, item, signed in new:
        if signed.signature not in groups:
            first.setdefault(signed.signature, (item, signed))
    if not first:
        return groups
    reports = [
        Report(
            source_id=_source_id(sig),
            kind=Report.Kind.CRASH,
            framework=item.framework,
            title=crash_title(
                crash_type=signed.crash_type, frames=signed.kept_frames, api=item.api, oracle=item.oracle
            ),
            body=_report_body(item, signed),
            state="open",
            created_at=item.created_at or now,
            raw={"signature": sig, "oracle": item.oracle, "api": item.api},
        )
        for sig, (item, signed) in sorted(first.items())
    ]
    # Sorted inserts: concurrent batches creating the same groups wait for each other, never deadlock.
    Report.objects.bulk_create(reports, batch_size=500, ignore_conflicts=True)
    report_counts_changed()
    report_ids = dict(
        Report.objects.filter(source_id__in=[r.source_id for r in reports]).values_list("source_id", "id")
    )
    CrashGroup.objects.bulk_create(
        [
            CrashGroup(
                report_id=report_ids[_source_id(sig)],
                signature=sig,
                signature_text=signed.text,
                crash_type=signed.crash_type[:300],
                framework=item.framework,
                api=item.api,
                oracle=item.oracle,
                from_message=signed.from_message,
            )
            for sig, (item, signed) in sorted(first.items())
        ],
        batch_size=500,
        ignore_conflicts=True,
    )
    created = list(CrashGroup.objects.filter(signature__in=list(first)))
    result.groups_created = len(created)
    groups.update({g.signature: g for g in created})
    crash_groups_link_new(groups=created)
    return groups


def _union(values: list, more) -> list:
    return sorted(set(values) | {v for v in more if v})


def _groups_add(locked: dict[int, CrashGroup], rows: list[tuple[int, CrashInput]], now) -> None:
    """Add new occurrences to their (locked) groups' counts, dates, versions, devices, fuzzers, reproducer."""
    by_group: dict[int, list[CrashInput]] = defaultdict(list)
    for group_id, item in rows:
        by_group[group_id].append(item)
    changed = []
    for group_id, items in by_group.items():
        group = locked[group_id]
        seen = [item.created_at or now for item in items]
        group.occurrence_count += len(items)
        group.first_seen = min([*seen, *([group.first_seen] if group.first_seen else [])])
        group.last_seen = max([*seen, *([group.last_seen] if group.last_seen else [])])
        group.versions_seen = _union(group.versions_seen, (i.framework_version for i in items))
        group.devices_seen = _union(group.devices_seen, (i.device for i in items))
        group.fuzzers_seen = _union(group.fuzzers_seen, (i.fuzzer for i in items))
        candidates = [r for r in [group.smallest_reproducer, *(i.reproducer for i in items)] if r.strip()]
        group.smallest_reproducer = min(candidates, key=len) if candidates else ""
        changed.append(group)
    _groups_write_summary(changed)


SUMMARY_FIELDS = (
    "occurrence_count",
    "first_seen",
    "last_seen",
    "versions_seen",
    "devices_seen",
    "fuzzers_seen",
    "smallest_reproducer",
)


def _groups_write_summary(groups: list[CrashGroup]) -> None:
    """Write the summary fields of many groups in one statement.

    On PostgreSQL an ``UPDATE ... FROM (VALUES ...)`` (bulk_update's CASE WHEN per field costs
    ~0.3 s for 500 groups); elsewhere bulk_update."""
    if not groups:
        return
    if connection.vendor != "postgresql":
        CrashGroup.objects.bulk_update(groups, list(SUMMARY_FIELDS), batch_size=500)
        return
    table = CrashGroup._meta.db_table
    rows, params = [], []
    for g in groups:
        rows.append("(%s, %s, %s::timestamptz, %s::timestamptz, %s::jsonb, %s::jsonb, %s::jsonb, %s)")
        params += [
            g.id,
            g.occurrence_count,
            g.first_seen,
            g.last_seen,
            json.dumps(g.versions_seen),
            json.dumps(g.devices_seen),
            json.dumps(g.fuzzers_seen),
            g.smallest_reproducer,
        ]
    sql = (
        f"UPDATE {table} AS g SET occurrence_count = v.n, first_seen = v.first, last_seen = v.last, "
        "versions_seen = v.versions, devices_seen = v.devices, fuzzers_seen = v.fuzzers, "
        "smallest_reproducer = v.repro "
        f"FROM (VALUES {', '.join(rows)}) AS v(id, n, first, last, versions, devices, fuzzers, repro) "
        "WHERE g.id = v.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _groups_recount(groups: list[CrashGroup]) -> None:
    """Recompute the summary fields of a few groups from their occurrences (after a merge or split)."""
    ids = [g.id for g in groups]
    stats = {
        row["group_id"]: row
        for row in CrashOccurrence.objects.filter(group_id__in=ids)
        .values("group_id")
        .annotate(n=Count("id"), first=Min("created_at"), last=Max("created_at"), received=Max("received_at"))
    }
    sets: dict[int, dict[str, set]] = defaultdict(lambda: defaultdict(set))
    for gid, version, device, fuzzer in (
        CrashOccurrence.objects.filter(group_id__in=ids)
        .values_list("group_id", "framework_version", "device", "fuzzer")
        .distinct()
    ):
        sets[gid]["v"].add(version)
        sets[gid]["d"].add(device)
        sets[gid]["f"].add(fuzzer)
    smallest: dict[int, str] = {}
    for gid, reproducer in (
        CrashOccurrence.objects.filter(group_id__in=ids)
        .exclude(reproducer="")
        .order_by("group_id", Length("reproducer"), "id")
        .values_list("group_id", "reproducer")
    ):
        smallest.setdefault(gid, reproducer)
    for group in groups:
        row = stats.get(group.id, {})
        group.occurrence_count = row.get("n", 0)
        group.first_seen = row.get("first") or (row.get("received") if row else None)
        group.last_seen = row.get("last") or (row.get("received") if row else None)
        group.versions_seen = sorted(v for v in sets[group.id]["v"] if v)
        group.devices_seen = sorted(v for v in sets[group.id]["d"] if v)
        group.fuzzers_seen = sorted(v for v in sets[group.id]["f"] if v)
        group.smallest_reproducer = smallest.get(group.id, "")
    CrashGroup.objects.bulk_update(
        groups,
        [
            "occurrence_count",
            "first_seen",
            "last_seen",
            "versions_seen",
            "devices_seen",
            "fuzzers_seen",
            "smallest_reproducer",
            "merged_into",
        ],
    )


@transaction.atomic
def crash_groups_merge(*, target: CrashGroup, others: list[CrashGroup], decided_by, reason: str = "") -> CrashGroup:
    """Merge ``others`` into ``target``: their occurrences move, later ones follow; the decision is recorded."""
    others = [g for g in others if g.id != target.id]
    if not others:
        raise ApplicationError("Choose at least one other crash group to merge into this one.")
    if target.merged_into_id:
        raise ApplicationError(
            f"Group {target.id} was itself merged into group {target.merged_into_id}; merge into that group instead."
        )
    already = [g.id for g in others if g.merged_into_id]
    if already:
        raise ApplicationError(
            f"Groups {', '.join(map(str, already))} were already merged elsewhere; split them out first."
        )
    other_ids = [g.id for g in others]
    CrashGroup.objects.filter(merged_into_id__in=other_ids).update(merged_into=target)
    CrashOccurrence.objects.filter(group_id__in=other_ids).update(group=target)
    for group in others:
        group.merged_into = target
    Report.objects.filter(crash_group__id__in=other_ids).update(state="merged", updated_at=timezone.now())
    target.possibly_known.add(*Report.objects.filter(possible_crash_groups__id__in=other_ids))
    _groups_recount([target, *others])
    GroupDecision.objects.bulk_create(
        [
            GroupDecision(kind=GroupDecision.Kind.MERGE, group=target, other=g, reason=reason, decided_by=decided_by)
            for g in others
        ]
    )
    return target


@transaction.atomic
def crash_group_split(*, group: CrashGroup, signatures: list[str], decided_by, reason: str = "") -> CrashGroup:
    """Move the occurrences of ``signatures`` out of ``group`` into a group of their own (returned)."""
    signatures = list(dict.fromkeys(s.strip() for s in signatures if s and s.strip()))
    if not signatures:
        raise ApplicationError("Choose the signatures to split out of this group.")
    if group.signature in signatures:
        raise ApplicationError(
            "A group keeps its own signature; choose the other signatures (those that came in by merges) to split out."
        )
    present = set(
        CrashOccurrence.objects.filter(group=group, signature__in=signatures).values_list("signature", flat=True)
    )
    missing = [s[:12] for s in signatures if s not in present]
    if missing:
        raise ApplicationError(f"No occurrence of this group has signature {', '.join(missing)}; pick one listed.")
    by_sig = {g.signature: g for g in CrashGroup.objects.filter(signature__in=signatures)}
    head = by_sig[signatures[0]]  # every signature seen has its group (merged ones keep their row)
    rest = [by_sig[s] for s in signatures[1:]]
    head.merged_into = None
    for g in rest:
        g.merged_into = head
    CrashOccurrence.objects.filter(group=group, signature__in=signatures).update(group=head)
    Report.objects.filter(crash_group__id=head.id).update(state="open", updated_at=timezone.now())
    _groups_recount([group, head, *rest])
    GroupDecision.objects.create(
        kind=GroupDecision.Kind.SPLIT,
        group=group,
        other=head,
        signatures=signatures,
        reason=reason,
        decided_by=decided_by,
    )
    return head


def _needle(group: CrashGroup) -> str:
    """A word any trace of this signature prints: its top frame's function, else its crash type."""
    for line in group.signature_text.splitlines():
        if line.startswith("frame: "):
            return re.split(r"::|:|\.", line.removeprefix("frame: "))[-1] or "Traceback"
    if group.crash_type == "CheckFailed":
        return "Check failed"
    return group.crash_type.split(":")[0].strip() or "Traceback"


def crash_group_link_known_issues(*, group: CrashGroup) -> int:
    """Link GitHub issues whose body or comments hold a trace with this group's signature; returns how many."""
    if group.oracle in STACKLESS_ORACLES:
        return 0
    wanted = set(CrashOccurrence.objects.filter(group=group).values_list("signature", flat=True).distinct())
    wanted.add(group.signature)
    needle = _needle(group)
    issues = Report.objects.filter(kind__in=[Report.Kind.ISSUE, Report.Kind.PULL_REQUEST], framework=group.framework)
    texts: dict[int, list[str]] = defaultdict(list)
    for report_id, body in issues.filter(body__contains=needle).values_list("id", "body").iterator(chunk_size=500):
        texts[report_id].append(body)
    for report_id, body in (
        Comment.objects.filter(report__in=issues, body__contains=needle)
        .values_list("report_id", "body")
        .iterator(chunk_size=500)
    ):
        texts[report_id].append(body)
    matches = [
        report_id
        for report_id, bodies in texts.items()
        if any(_trace_signature(group.framework, text) in wanted for text in bodies)
    ]
    with transaction.atomic():
        group.possibly_known.add(*matches)
    return len(matches)


ISSUE_KINDS = (Report.Kind.ISSUE, Report.Kind.PULL_REQUEST)


def _trace_signature(framework: str, text: str) -> str | None:
    """The signature of a trace pasted in an issue or comment; None when the text holds no frames."""
    signed = sign(framework=framework, oracle="exception", stack_trace=text)
    return signed.signature if signed.frames else None


def _link(pairs: set[tuple[int, int]]) -> int:
    through = CrashGroup.possibly_known.through
    through.objects.bulk_create(
        [through(crashgroup_id=g, report_id=r) for g, r in sorted(pairs)], batch_size=500, ignore_conflicts=True
    )
    return len(pairs)


def crash_groups_link_new(*, groups: list[CrashGroup]) -> int:
    """Link just-created groups to GitHub issues already stored whose body or comments hold a trace
    with the group's signature. One query for bodies and one for comments, whatever the number of groups."""
    groups = [g for g in groups if g.oracle not in STACKLESS_ORACLES]
    issues = Report.objects.filter(kind__in=ISSUE_KINDS, framework__in={g.framework for g in groups})
    if not groups or not issues.exists():
        return 0
    by_signature = {g.signature: g for g in groups}
    needles = Q()
    comment_needles = Q()
    for needle in sorted({_needle(g) for g in groups}):
        needles |= Q(body__contains=needle)
        comment_needles |= Q(body__contains=needle)
    texts = [(fw, rid, body) for rid, fw, body in issues.filter(needles).values_list("id", "framework", "body")]
    texts += list(
        Comment.objects.filter(comment_needles, report__in=issues).values_list("report__framework", "report_id", "body")
    )
    pairs = set()
    for framework, report_id, text in texts:
        group = by_signature.get(_trace_signature(framework, text))
        if group is not None and group.framework == framework:
            pairs.add((group.merged_into_id or group.id, report_id))
    return _link(pairs)


@transaction.atomic
def crash_groups_link_reports(*, report_ids: list[int]) -> int:
    """Link GitHub issues (e.g. just synced) to the crash groups whose signature a trace in their body or
    comments has (the group an occurrence's signature goes to, after merges). Returns the links made."""
    reports = Report.objects.filter(id__in=report_ids, kind__in=ISSUE_KINDS)
    texts = list(reports.values_list("framework", "id", "body"))
    texts += list(Comment.objects.filter(report__in=reports).values_list("report__framework", "report_id", "body"))
    wanted: dict[str, set[int]] = defaultdict(set)
    for framework, report_id, text in texts:
        signature = _trace_signature(framework, text)
        if signature:
            wanted[signature].add(report_id)
    if not wanted:
        return 0
    groups = {g.signature: g for g in CrashGroup.objects.filter(signature__in=list(wanted))}
    targets = _resolve_targets(groups)
    return _link({(targets[sig], rid) for sig in groups for rid in wanted[sig]})


__all__ = [
    "IngestResult",
    "crashes_ingest",
    "crash_groups_merge",
    "crash_group_split",
    "crash_group_link_known_issues",
    "crash_groups_link_new",
    "crash_groups_link_reports",
    "crash_title",
]


@transaction.atomic
def fuzzer_account_ensure(*, name: str) -> tuple[FuzzerAccount, str, bool]:
    """The fuzzer account ``name`` (with its user and API token), created if missing: (account, token, created)."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    name = name.strip()
    if not name or len(name) > 100:
        raise ApplicationError("Give the fuzzer account a name of 1 to 100 characters, e.g. freefuzz.")
    account = FuzzerAccount.objects.select_related("user").filter(name=name).first()
    created = account is None
    if created:
        User = get_user_model()
        username = f"fuzzer-{name}"[:150]
        if User.objects.filter(username=username).exists():
            raise ApplicationError(f"A user {username!r} already exists; choose another fuzzer name.")
        user = User(username=username)
        user.set_unusable_password()
        user.full_clean()
        user.save()
        account = FuzzerAccount(user=user, name=name)
        account.full_clean()
        account.save()
    token, _ = Token.objects.get_or_create(user=account.user)
    return account, token.key, created


def crashes_import(*, path, account_name: str | None = None, partial: bool = False, progress=None) -> IngestResult:
    """Import a JSON Lines file or a folder of .json crash reports in batches of 500, as sent by the
    fuzzer account ``account_name`` (created if missing; none when not given).

    Every report is checked first; unless ``partial``, one bad report means nothing is stored
    (the problems name the line or file). ``progress(done, total)`` is called after each batch."""
    from triage.crashes.intake import crash_records

    records = list(crash_records(path))
    problems = []
    for where, data in records:
        if isinstance(data, ApplicationError):
            problems.append({"where": where, "field": "", "message": data.message})
            continue
        for problem in crash_parse(data)[1]:
            problems.append({"where": where, **problem})
    if problems and not partial:
        raise ApplicationError(
            f"{len({p['where'] for p in problems})} of {len(records)} crash reports are not valid, so nothing was "
            "stored. Fix them and import again, or use --partial to store the valid ones.",
            details=problems,
        )
    account = fuzzer_account_ensure(name=account_name)[0] if account_name else None
    total = len(records)
    result = IngestResult(refused=[{"index": p["where"], "problems": [p]} for p in problems])
    good = [data for _, data in records if not isinstance(data, ApplicationError)]
    done = total - len(good)
    for start in range(0, len(good), 500):
        batch = good[start : start + 500]
        part = crashes_ingest(reports=batch, account=account, partial=True, analyze=False)
        result.created += part.created
        result.duplicates += part.duplicates
        result.groups_created += part.groups_created
        done += len(batch)
        if progress:
            progress(done, total)
    # Once for the whole file (its batches of 500 are each below the threshold).
    analyze_after_bulk_write(models_written=CRASH_TABLES, rows=result.created)
    return result
