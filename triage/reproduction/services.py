"""Reproduction: attach a reproducer to a report, queue runs on runners, execute, judge, bisect.

    reproducer_create(report=, script=, expect=, ...)   -> Reproducer (with its expected failure)
    report_expectation(report)                          -> Expectation taken from the report, or empty
    run_rejudge(run=, expect=, signature=, by=)         -> the stored run judged again, history kept
    reproduction_start(reproducer=, repeat=)            -> Reproduction (a check, run N times)
    bisection_start(reproducer=, package=, versions=)   -> Reproduction (one run per step)
    run_execute(run_id=, runner_name=, pid=)            -> execute one delivered run
    runs_execute(run_id=, runner_name=, pid=, ...)      -> the runner's side (Celery task): the delivered
                                                           run, then queued runs of its queue in turn
    runs_sweep()                                        -> re-queue lost and stuck runs (Celery beat)
    runner_register(...) / runner_heartbeat(...) / runner_stopped(...)
    runner_runs_recover(name=)                          -> re-queue runs of this runner's dead processes

A run's state lives in its row. A task may be delivered twice, or re-delivered after its worker
was killed: the claim in ``_run_claim`` decides under a row lock whether this delivery runs it,
and the result is written only by the attempt that holds the claim (``_run_finish``), so it is
stored exactly once. A task that has finished its run takes the next queued run of its queue
(``_run_claim_queued``: FOR UPDATE SKIP LOCKED, so two claimers never take the same run), up to
a small batch: the messages of the runs it took find them done and cost one read.
"""

from __future__ import annotations

import logging
import math
import os
import re
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from config.errors import ApplicationError
from labelling.services.results import report_results_changed
from triage.models import (
    CodeBlock,
    Comment,
    Device,
    Environment,
    Report,
    Reproducer,
    Reproduction,
    ReproductionRun,
    Runner,
)
from triage.reproduction.bisect import bisect_next
from triage.reproduction.environments import RequirementsError, parse_requirements, pin, python_version
from triage.reproduction.execute import RunnerConfig, Side, SideOutcome, execute_side, result_fields
from triage.reproduction.expectations import Expectation, ExpectationError, expectation_from_text, parse_expect
from triage.reproduction.oracles import (
    RULES_VERSION,
    Judgement,
    compare_captures,
    judge,
    judge_differential,
    pack_captures,
    summarise_captures,
    unpack_captures,
)
from triage.reproduction.sandbox import Limits, SandboxResult

log = logging.getLogger(__name__)

MAX_SCRIPT_BYTES = 1024 * 1024
MAX_REPEAT = 100
MAX_VERSIONS = 200
MAX_CAPTURE_BYTES = 20 * 1024 * 1024
LOG_TAIL_CHARS = 20_000
QUEUES = {Device.CPU: "repro.cpu", Device.GPU: "repro.gpu"}
RunStatus = ReproductionRun.Status
Verdict = ReproductionRun.Verdict
PACKAGE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


# --------------------------------------------------------------------------- reproducers


def reproducer_create(
    *,
    report: Report,
    script: str = "",
    requirements: str = "",
    oracle: str = Reproducer.Oracle.CRASH,
    device: str = Device.CPU,
    code_block: CodeBlock | None = None,
    title: str = "",
    timeout_seconds: int = 300,
    memory_mb: int = 4096,
    compare_device: str = "",
    compare_requirements: str = "",
    rtol: float = 1e-5,
    atol: float = 1e-8,
    expect: str = "",
    created_by=None,
) -> Reproducer:
    """Attach a script to a report. Every problem is reported at once, with the field it concerns.

    ``expect`` is the failure that shows the bug (``IndexError: index out of range``, ``exit 3``,
    ``SIGSEGV``); empty takes it from the report (its crash group's signature, else the last traceback
    of its body or comments). A crash reproducer must have one: any crash is not evidence of this bug."""
    errors: dict[str, str] = {}
    expectation = Expectation()
    try:
        expectation = parse_expect(expect)
    except ExpectationError as exc:
        errors["expect"] = str(exc)
    if code_block is not None and code_block.report_id != report.pk:
        errors["code_block"] = f"Code block {code_block.pk} belongs to another report; pick one of this report's."
    script = script or ""
    if not script.strip() and code_block is not None:
        script = code_block.code
    if not script.strip():
        errors["script"] = "The script is empty: paste or upload a Python script, or pick an extracted code block."
    elif len(script.encode("utf-8", "surrogatepass")) > MAX_SCRIPT_BYTES:
        errors["script"] = f"The script is larger than {MAX_SCRIPT_BYTES // 1024} KB; keep only the reproduction."
    elif "\x00" in script:
        errors["script"] = "The script contains a NUL byte, which Python source cannot; upload the .py file as text."
    if oracle not in Reproducer.Oracle.values:
        errors["oracle"] = f"Unknown oracle {oracle!r}; choose one of {', '.join(Reproducer.Oracle.values)}."
    if device not in Device.values:
        errors["device"] = f"Unknown device {device!r}; choose cpu or gpu."
    if compare_device and compare_device not in Device.values:
        errors["compare_device"] = f"Unknown device {compare_device!r}; choose cpu or gpu."
    timeout_seconds = _whole_number(timeout_seconds, "timeout_seconds", 1, 86_400, "seconds", errors)
    memory_mb = _whole_number(memory_mb, "memory_mb", 64, 1_048_576, "MB", errors)
    rtol = _tolerance(rtol, "rtol", errors)
    atol = _tolerance(atol, "atol", errors)
    try:
        reqs = parse_requirements(requirements or "")
    except RequirementsError as exc:
        errors["requirements"], reqs = str(exc), []
    try:
        compare_reqs = parse_requirements(compare_requirements or "")
    except RequirementsError as exc:
        errors["compare_requirements"], compare_reqs = str(exc), []
    if oracle == Reproducer.Oracle.DIFFERENTIAL:
        side_b = (compare_device or device, compare_reqs if (compare_requirements or "").strip() else reqs)
        if not errors and side_b == (device, reqs):
            errors["compare_device"] = (
                "A differential reproducer compares two configurations: set a different device "
                "(e.g. cpu against gpu) or different requirements (version A against version B) for side B."
            )
    else:
        unused = "A second configuration is only used by the differential oracle; leave it empty or pick differential."
        if compare_device:
            errors["compare_device"] = unused
        if (compare_requirements or "").strip():
            errors["compare_requirements"] = unused
    if "expect" not in errors and expectation.empty:
        expectation = report_expectation(report)
    if oracle in (Reproducer.Oracle.DIFFERENTIAL, Reproducer.Oracle.HANG):
        expectation = Expectation()  # differential compares the sides, hang the time limit
    elif oracle == Reproducer.Oracle.CRASH and expectation.empty and "expect" not in errors:
        errors["expect"] = (
            "Say which failure shows the bug: an exception type with an optional message "
            "(IndexError: index out of range), an exit code (exit 3) or a signal (SIGSEGV). "
            "The report has no traceback or crash signature to take it from."
        )
    if errors:
        raise ApplicationError("The reproducer was not saved: " + " ".join(errors.values()), details=errors)
    return Reproducer.objects.create(
        report=report,
        code_block=code_block,
        title=(title or "").strip()[:200],
        script=script,
        requirements="\n".join(reqs),
        oracle=oracle,
        device=device,
        timeout_seconds=timeout_seconds,
        memory_mb=memory_mb,
        compare_device=compare_device if oracle == Reproducer.Oracle.DIFFERENTIAL else "",
        compare_requirements="\n".join(compare_reqs) if (compare_requirements or "").strip() else "",
        rtol=rtol,
        atol=atol,
        expectation=expectation.as_dict(),
        created_by=created_by,
    )


def _whole_number(value, field: str, low: int, high: int, unit: str, errors: dict[str, str]) -> int:
    """An int within [low, high]; a form string, a float with a fraction or None becomes a field error."""
    words = {"timeout_seconds": "The time limit", "memory_mb": "The memory limit"}[field]
    try:
        number = int(str(value).strip()) if not isinstance(value, int | float) else value
        if isinstance(number, float) and not number.is_integer():
            raise ValueError
        number = int(number)
    except (TypeError, ValueError, OverflowError):
        number = None
    if number is None or isinstance(value, bool) or not low <= number <= high:
        errors[field] = f"{words} must be a whole number of {unit} from {low:,} to {high:,} (got {value!r})."
        return low
    return number


def _tolerance(value, field: str, errors: dict[str, str]) -> float:
    """A finite, non-negative float (NaN would make every comparison fail, a negative one is meaningless)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not math.isfinite(number) or number < 0:
        errors[field] = f"{field} must be a number of zero or more, e.g. 1e-5 (got {value!r})."
        return 0.0
    return number


def reproducer_sides(reproducer: Reproducer) -> list[tuple[str, Side]]:
    """("", side) for a single-configuration reproducer; ("a", ...), ("b", ...) for a differential one."""
    reqs = tuple(r for r in reproducer.requirements.splitlines() if r.strip())
    a = Side(device=reproducer.device, requirements=reqs)
    if reproducer.oracle != Reproducer.Oracle.DIFFERENTIAL:
        return [("", a)]
    compare = tuple(r for r in reproducer.compare_requirements.splitlines() if r.strip())
    b = Side(device=reproducer.compare_device or reproducer.device, requirements=compare or reqs)
    return [("a", a), ("b", b)]


def reproducer_limits(reproducer: Reproducer) -> Limits:
    return Limits(wall_seconds=float(reproducer.timeout_seconds), memory_mb=reproducer.memory_mb)


def expected_signature(report: Report) -> str:
    """The crash signature a crash run must match: the report's crash group's, where it has one."""
    group = getattr(report, "crash_group", None) if report.kind == Report.Kind.CRASH else None
    return group.signature if group is not None else ""


def report_expectation(report: Report) -> Expectation:
    """The failure a report shows: its crash group's signature; else the exception of the last traceback
    in its body, else in its comments (newest last); else an empty expectation."""
    signature = expected_signature(report)
    if signature:
        return Expectation(signature=signature, source=f"crash group {signature[:12]}")
    found = expectation_from_text(report.body or "", source="report body")
    if found is not None:
        return found
    comments = Comment.objects.filter(report=report).order_by("created_at", "pk").values_list("author", "body")
    for number, (author, body) in enumerate(comments, start=1):
        found = expectation_from_text(body or "", source=f"comment {number}" + (f" by {author}" if author else ""))
        if found is not None:
            return found
    return Expectation()


def reproducer_expectation(reproducer: Reproducer) -> Expectation:
    """What a reproducer's runs are judged against (an old reproducer without one: its report's signature)."""
    stored = Expectation.from_dict(reproducer.expectation)
    if stored.empty and reproducer.oracle == Reproducer.Oracle.CRASH:
        signature = expected_signature(reproducer.report)
        if signature:
            return Expectation(signature=signature, source=f"crash group {signature[:12]}")
    return stored


# --------------------------------------------------------------------------- starting runs


def _new_run(reproduction: Reproduction, *, index: int, side: str, device: str, requirements, version: str = ""):
    return ReproductionRun(
        reproduction=reproduction,
        reproducer_id=reproduction.reproducer_id,
        index=index,
        side=side,
        version=version,
        device=device,
        requirements="\n".join(requirements),
        queue=QUEUES[device],
        queued_at=timezone.now(),
    )


def _queue_on_commit(run_ids: list[int], *, queues: dict[int, str] | None = None) -> None:
    """After the commit, send each run's id to its queue (``queues``: known run id -> queue, to skip a read)."""

    def send():
        from triage.reproduction.tasks import reproduction_run_execute

        if queues is not None:
            pairs = [(pk, queues[pk]) for pk in run_ids]
        else:
            rows = ReproductionRun.objects.filter(pk__in=run_ids).order_by("index", "side", "pk")
            pairs = list(rows.values_list("pk", "queue"))
        for pk, queue in pairs:
            try:
                reproduction_run_execute.apply_async(args=[pk], queue=queue)
            except Exception:  # noqa: BLE001 - broker down: the sweep finds the queued row and sends it again
                log.warning("Run %s could not be queued now; the sweep will queue it again.", pk, exc_info=True)

    transaction.on_commit(send)


@transaction.atomic
def reproduction_start(*, reproducer: Reproducer, repeat: int = 1, requested_by=None) -> Reproduction:
    """Queue ``repeat`` runs of a reproducer (two per repeat for a differential one)."""
    given = repeat
    try:
        repeat = int(str(repeat).strip()) if not isinstance(repeat, int | float) else repeat
        if isinstance(repeat, bool) or (isinstance(repeat, float) and not repeat.is_integer()):
            raise ValueError
        repeat = int(repeat)
    except (TypeError, ValueError, OverflowError):
        repeat = 0
    if not 1 <= repeat <= MAX_REPEAT:
        message = f"Repeat must be a whole number from 1 to {MAX_REPEAT} (got {given!r})."
        raise ApplicationError(message, details={"repeat": message})
    reproduction = Reproduction.objects.create(
        reproducer=reproducer,
        kind=Reproduction.Kind.CHECK,
        repeat=repeat,
        requested_by=requested_by,
        summary=_progress_summary(reproduced=0, finished=0, total=repeat),
    )
    runs = [
        _new_run(reproduction, index=index, side=side_name, device=side.device, requirements=side.requirements)
        for index in range(repeat)
        for side_name, side in reproducer_sides(reproducer)
    ]
    created = ReproductionRun.objects.bulk_create(runs)
    if all(run.pk is not None for run in created):  # PostgreSQL and SQLite return the new ids
        _queue_on_commit([run.pk for run in created], queues={run.pk: run.queue for run in created})
    else:
        _queue_on_commit(list(reproduction.runs.values_list("pk", flat=True)))
    return reproduction


@transaction.atomic
def bisection_start(*, reproducer: Reproducer, package: str, versions: list[str], requested_by=None) -> Reproduction:
    """Bisect a reproducer over ordered versions of one package; the first step is queued now."""
    errors: dict[str, str] = {}
    package = (package or "").strip()
    package_limit = Reproduction._meta.get_field("package").max_length
    version_limit = ReproductionRun._meta.get_field("version").max_length
    if not PACKAGE_NAME.match(package) or len(package) > package_limit:
        errors["package"] = (
            f"Give the package to bisect by its name on the index (at most {package_limit} characters), "
            "e.g. torch or numpy."
        )
    versions = [str(v).strip() for v in (versions or []) if str(v).strip()]
    too_long = next((v for v in versions if len(v) > version_limit), None)
    if too_long is not None:
        errors["versions"] = f"{too_long[:40]}… is not a version: versions are at most {version_limit} characters."
    elif len(versions) < 2:
        errors["versions"] = "Give at least two versions, oldest first, e.g. 2.11.0 2.12.0 2.13.0."
    elif len(versions) > MAX_VERSIONS:
        errors["versions"] = f"At most {MAX_VERSIONS} versions can be bisected at once."
    elif len(set(versions)) != len(versions):
        errors["versions"] = "A version is listed twice; list each version once, oldest first."
    if reproducer.oracle == Reproducer.Oracle.DIFFERENTIAL:
        errors["oracle"] = "Bisection needs a crash, assertion or hang oracle: each step must decide on its own."
    if not errors:
        base = [r for r in reproducer.requirements.splitlines() if r.strip()]
        for version in versions:
            try:
                pin(base, package, version)
                parse_requirements(f"{package}=={version}")
            except (RequirementsError, ValueError) as exc:
                errors["versions"] = f"{version!r} is not a valid version of {package}: {exc}"
                break
    if errors:
        raise ApplicationError("The bisection was not started: " + " ".join(errors.values()), details=errors)
    reproduction = Reproduction.objects.create(
        reproducer=reproducer,
        kind=Reproduction.Kind.BISECT,
        package=package,
        versions=versions,
        requested_by=requested_by,
    )
    _bisect_advance(reproduction)
    return reproduction


def _bisect_outcomes(reproduction: Reproduction) -> dict[str, str]:
    outcome = {Verdict.REPRODUCED: "bad", Verdict.NOT_REPRODUCED: "good"}
    return {
        run.version: outcome.get(run.verdict, "skip")
        for run in reproduction.runs.filter(status=RunStatus.DONE).only("version", "verdict")
    }


def _bisect_advance(reproduction: Reproduction) -> None:
    """Queue the next step of a bisection, or record its result. Caller holds a transaction."""
    if reproduction.runs.exclude(status=RunStatus.DONE).exists():
        return
    step = bisect_next(reproduction.versions, _bisect_outcomes(reproduction))
    if step.done:
        reproduction.bisect_result = step.result
        reproduction.status = Reproduction.Status.DONE
        reproduction.summary = step.result.get("message", "")[:300]
        reproduction.finished_at = timezone.now()
        reproduction.save(update_fields=["bisect_result", "status", "summary", "finished_at"])
        return
    reproducer = reproduction.reproducer
    base = [r for r in reproducer.requirements.splitlines() if r.strip()]
    run = _new_run(
        reproduction,
        index=reproduction.runs.count(),
        side="",
        device=reproducer.device,
        requirements=pin(base, reproduction.package, step.version),
        version=step.version,
    )
    run.save()
    reproduction.bisect_result = step.result
    reproduction.summary = f"step {run.index + 1}: trying {reproduction.package}=={step.version}"
    reproduction.save(update_fields=["bisect_result", "summary"])
    _queue_on_commit([run.pk])


# --------------------------------------------------------------------------- runners


@dataclass(frozen=True, slots=True)
class RunnerFacts:
    name: str
    hostname: str
    device: str
    queues: list[str]
    cuda_version: str = ""
    gpus: tuple[str, ...] = ()
    frameworks: dict | None = None
    python: str = ""
    sandbox: str = ""
    pid: int | None = None


def runner_register(*, facts: RunnerFacts) -> Runner:
    now = timezone.now()
    runner, _ = Runner.objects.update_or_create(
        name=facts.name,
        defaults={
            "hostname": facts.hostname,
            "device": facts.device,
            "queues": list(facts.queues),
            "cuda_version": facts.cuda_version,
            "gpus": list(facts.gpus),
            "frameworks": facts.frameworks or {},
            "python": facts.python,
            "sandbox": facts.sandbox,
            "pid": facts.pid,
            "started_at": now,
            "last_heartbeat": now,
            "stopped_at": None,
        },
    )
    return runner


def runner_heartbeat(*, name: str) -> bool:
    """Record that a runner is alive. False when the runner row is gone (re-register)."""
    return bool(Runner.objects.filter(name=name).update(last_heartbeat=timezone.now(), stopped_at=None))


def runner_stopped(*, name: str) -> None:
    Runner.objects.filter(name=name).update(stopped_at=timezone.now())


def runner_alive(runner: Runner | None, *, now=None) -> bool:
    if runner is None or runner.stopped_at is not None or runner.last_heartbeat is None:
        return False
    now = now or timezone.now()
    return now - runner.last_heartbeat < timedelta(seconds=settings.BUGSIFT_RUNNER_LOST_AFTER_SECONDS)


def runner_runs_recover(*, name: str, now=None) -> int:
    """Queue again the runs this runner's worker processes held when they died (called by the runner's own
    heartbeat thread, on the host whose process ids the rows name). A prefork child killed mid-run leaves
    its run RUNNING while its runner's main process still sends heartbeats; the messages of runs it took
    from the queue may be spent already. Returns how many runs were queued again."""
    now = now or timezone.now()
    held = ReproductionRun.objects.filter(status=RunStatus.RUNNING, runner__name=name)
    dead = [pk for pk, pid in held.values_list("pk", "worker_pid") if not _pid_alive(pid)]
    requeued = 0
    for run_id in dead:
        with transaction.atomic():
            _, run = _lock_run(run_id)
            if run is None or run.status != RunStatus.RUNNING or run.runner is None or run.runner.name != name:
                continue
            if _pid_alive(run.worker_pid):
                continue  # taken over by a live process meanwhile
            run.status = RunStatus.QUEUED
            run.queued_at = now
            run.verdict_detail = (
                f"The worker process {run.worker_pid} on {name} died during attempt {run.attempt}; queued again."
            )
            run.save(update_fields=["status", "queued_at", "verdict_detail"])
            _queue_on_commit([run.pk], queues={run.pk: run.queue})
            requeued += 1
    return requeued


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --------------------------------------------------------------------------- executing a run


@dataclass(slots=True)
class Claim:
    run: ReproductionRun
    attempt: int


def _lock_run(run_id: int, reproduction_id: int | None = None) -> tuple[Reproduction | None, ReproductionRun | None]:
    """Lock a run's reproduction, then the run. Every writer locks in this order (claim, finish, sweep):
    two sides of a pair finishing at once would otherwise deadlock on PostgreSQL. The run comes with its
    reproducer, report and runner (one query; only the run's own row is locked)."""
    if reproduction_id is None:
        ids = ReproductionRun.objects.filter(pk=run_id).order_by().values_list("reproduction_id", flat=True)
        reproduction_id = ids.first()
        if reproduction_id is None:
            return None, None
    reproduction = Reproduction.objects.select_for_update().filter(pk=reproduction_id).order_by().first()
    run = (
        ReproductionRun.objects.select_for_update(of=("self",))
        .select_related("reproducer__report", "runner")
        .filter(pk=run_id)
        .order_by()
        .first()
    )
    return reproduction, run


def _runner_id(runner_name: str) -> int:
    runner_id = Runner.objects.filter(name=runner_name).values_list("pk", flat=True).first()
    if runner_id is None:
        hostname = runner_name.partition("@")[2]
        runner_id = Runner.objects.create(name=runner_name, hostname=hostname, last_heartbeat=timezone.now()).pk
    return runner_id


def _holder_gone(run: ReproductionRun, *, runner_name: str, pid: int) -> bool:
    """Whether the attempt holding a RUNNING run has ended without finishing it.

    Its runner stopped sending heartbeats; or it is this runner and the worker process that held it is
    dead, or is this very process (a prefork or solo worker runs one task at a time, so an earlier
    attempt in this process has ended: e.g. a task retried after the database went away)."""
    holder = run.runner
    if not runner_alive(holder):
        return True
    return holder.name == runner_name and (run.worker_pid == pid or not _pid_alive(run.worker_pid))


def _run_claim(*, run_id: int, runner_name: str, pid: int) -> Claim | None:
    """Decide, under the run's row lock, whether this delivery executes the run."""
    with transaction.atomic():
        reproduction, run = _lock_run(run_id)
        if run is None or run.status == RunStatus.DONE:
            return None
        if run.status == RunStatus.RUNNING and not _holder_gone(run, runner_name=runner_name, pid=pid):
            return None  # a duplicate delivery while another runner is on it
        if run.attempt >= settings.BUGSIFT_REPRO_MAX_ATTEMPTS:
            _run_write_lost(run)
            return None
        run.attempt += 1
        run.status = RunStatus.RUNNING
        run.runner_id = _runner_id(runner_name)
        run.worker_pid = pid
        run.started_at = timezone.now()
        run.save(update_fields=["attempt", "status", "runner", "worker_pid", "started_at"])
        if reproduction.status == Reproduction.Status.QUEUED:
            reproduction.status = Reproduction.Status.RUNNING
            reproduction.save(update_fields=["status"])
        return Claim(run=run, attempt=run.attempt)


_CLAIM_RETURNS = (
    "id",
    "reproduction_id",
    "reproducer_id",
    "index",
    "side",
    "version",
    "device",
    "requirements",
    "queue",
    "verdict_history",  # storing the result appends to it: returned here, it is not read again then
)


def _no_commit_wait() -> str:
    """A prefix for one autocommitted statement on PostgreSQL whose commit need not wait for the WAL flush
    (``synchronous_commit = off`` for that statement's transaction only; "" elsewhere or inside a caller's
    transaction). The commit is visible to every session at once, as always; only a crash of PostgreSQL
    itself, within a fraction of a second, could undo it. Used for a claim and the reproduction's
    running mark, never for a result: a claim undone that way leaves the run queued (its result is then
    refused by ``_run_finish``'s compare-and-set, or taken by the next attempt that claims it), so a result
    is still stored once. It spares the runner a disk flush, milliseconds on a busy disk, between two sandboxes."""
    if connection.vendor != "postgresql" or transaction.get_connection().in_atomic_block:
        return ""
    return "SELECT set_config('synchronous_commit', 'off', true); "


def _run_claim_queued(
    *, runner_name: str, pid: int, run_id: int | None = None, queue: str | None = None, known: dict | None = None
) -> Claim | None:
    """Claim a QUEUED run: this one (``run_id``), or the oldest on ``queue``, in one statement.

    ``UPDATE ... WHERE id = (SELECT ... LIMIT 1 FOR UPDATE SKIP LOCKED)``: a row another claimer holds is
    skipped, so two claimers never take the same run and never wait for each other; the row is locked only
    for that statement, and no other row (the reproduction is marked running later, by ``_run_started``,
    holding no run lock: the lock order of ``_lock_run`` is kept). ``known`` caches reproducers (with their
    report) by id for a task's batch, so a run of a reproducer already read costs this one round trip."""
    quote = connection.ops.quote_name
    table, runners = quote(ReproductionRun._meta.db_table), quote(Runner._meta.db_table)
    if run_id is not None:
        pick, params = "id = %s", [run_id]
    else:
        pick, params = "queue = %s ORDER BY queued_at, id", [queue]
    lock = " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    sql = (
        f"{_no_commit_wait()}UPDATE {table} SET status = %s, attempt = attempt + 1, worker_pid = %s, started_at = %s, "
        f"runner_id = (SELECT id FROM {runners} WHERE name = %s) "
        f"WHERE id = (SELECT id FROM {table} WHERE status = %s AND attempt < %s AND {pick} LIMIT 1{lock}) "
        f"RETURNING attempt, runner_id, {', '.join(quote(c) for c in _CLAIM_RETURNS)}"
    )
    now = timezone.now()
    started = connection.ops.adapt_datetimefield_value(now)
    max_attempts = settings.BUGSIFT_REPRO_MAX_ATTEMPTS
    with connection.cursor() as cursor:
        cursor.execute(sql, [RunStatus.RUNNING, pid, started, runner_name, RunStatus.QUEUED, max_attempts, *params])
        row = cursor.fetchone()
    if row is None:
        return None
    attempt, runner_id = row[:2]
    values = dict(zip(_CLAIM_RETURNS, row[2:], strict=True))
    history = ReproductionRun._meta.get_field("verdict_history")
    values["verdict_history"] = history.from_db_value(values["verdict_history"], None, connection)
    run = ReproductionRun.from_db(connection.alias, _CLAIM_RETURNS, list(values.values()))
    if runner_id is None:  # a runner that has not registered (yet): recorded now, as _run_claim does
        runner_id = _runner_id(runner_name)
        ReproductionRun.objects.filter(pk=run.pk, attempt=attempt).update(runner_id=runner_id)
    run.attempt, run.status, run.runner_id, run.worker_pid, run.started_at = (
        attempt,
        RunStatus.RUNNING,
        runner_id,
        pid,
        now,
    )
    known = {} if known is None else known
    if run.reproducer_id not in known:
        known[run.reproducer_id] = Reproducer.objects.select_related("report").get(pk=run.reproducer_id)
    run.reproducer = known[run.reproducer_id]
    return Claim(run=run, attempt=run.attempt)


def _run_started(run: ReproductionRun) -> None:
    """Mark the reproduction of a run just claimed running (if it was still queued): one statement that holds
    no run lock, so it may wait for a finishing run's lock on the reproduction without any deadlock."""
    prefix = _no_commit_wait()
    if not prefix:
        Reproduction.objects.filter(pk=run.reproduction_id, status=Reproduction.Status.QUEUED).update(
            status=Reproduction.Status.RUNNING
        )
        return
    table = connection.ops.quote_name(Reproduction._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"{prefix}UPDATE {table} SET status = %s WHERE id = %s AND status = %s",
            [Reproduction.Status.RUNNING, run.reproduction_id, Reproduction.Status.QUEUED],
        )


def _run_claim_delivered(*, run_id: int, runner_name: str, pid: int) -> tuple[Claim | None, str]:
    """(claim or None, the run's queue or "") for a delivered message. A done run is skipped after one
    unlocked read (done is final); a queued one is claimed in one statement; anything else (running
    elsewhere, its holder gone, out of attempts, locked right now) is decided by ``_run_claim``."""
    found = ReproductionRun.objects.filter(pk=run_id).values_list("status", "queue").first()
    if found is None:
        return None, ""
    status, queue = found
    if status == RunStatus.DONE:
        return None, queue
    if status == RunStatus.QUEUED:
        claim = _run_claim_queued(run_id=run_id, runner_name=runner_name, pid=pid)
        if claim is not None:
            return claim, queue
    return _run_claim(run_id=run_id, runner_name=runner_name, pid=pid), queue


def _run_write_lost(run: ReproductionRun) -> None:
    runner = run.runner.name if run.runner_id else "its runner"
    run.status = RunStatus.DONE
    run.verdict = Verdict.LOST
    run.verdict_detail = (
        f"Started {run.attempt} times and each time the runner stopped before it finished "
        f"(last: {runner}). Check the runners page, then run it again."
    )
    run.finished_at = timezone.now()
    run.verdict_reason = "lost"
    run.verdict_history = [
        *(run.verdict_history or []),
        history_entry({"verdict": run.verdict, "verdict_reason": "lost", "verdict_detail": run.verdict_detail}),
    ]
    run.save(update_fields=["status", "verdict", "verdict_detail", "verdict_reason", "verdict_history", "finished_at"])
    _after_run_done(run)


def run_execute(*, run_id: int, runner_name: str, pid: int | None = None) -> ReproductionRun | None:
    """Execute one run on this runner: claim it, run it outside any transaction, store the result once."""
    pid = pid or os.getpid()
    claim, _ = _run_claim_delivered(run_id=run_id, runner_name=runner_name, pid=pid)
    if claim is None:
        return ReproductionRun.objects.filter(pk=run_id).first()
    _run_started(claim.run)
    return _run_execute_claimed(claim, runner_name=runner_name)


@dataclass(slots=True)
class BatchResult:
    delivered: ReproductionRun | None = None  # the delivered run as this task left it (None: not run here)
    executed: list[int] | None = None  # ids of the runs this task executed, in order

    def __str__(self) -> str:
        first = f"{self.delivered.status}:{self.delivered.verdict}" if self.delivered else "skipped"
        return f"{first}, {len(self.executed or [])} run(s) executed"


def runs_execute(
    *,
    run_id: int,
    runner_name: str,
    pid: int | None = None,
    batch_size: int | None = None,
    batch_seconds: float | None = None,
) -> BatchResult:
    """The runner's task: the delivered run, then, one at a time, the oldest queued runs of its queue.

    After each run it claims the next queued run of the same queue (a run no other claimer holds), until
    ``batch_size`` runs were executed, ``batch_seconds`` have passed, or the queue has none left. A run is
    claimed only when this worker is free to start it (its sandbox has exited), so no run waits behind
    another on a busy worker while an idle one could take it; the claim goes to the writer thread at once,
    while this thread reads the captures, deletes the scratch directory and judges the run. A run claimed
    so but not started (the batch failed meanwhile) is put back in the queue, its attempt not counted. A task
    whose own run was taken by another task's batch (it finds it done) still takes the next queued ones.

    Each result is stored by the attempt that holds its run (``_run_finish``, as in ``run_execute``), on a
    thread of this process with its own database connection, while the next run is claimed and started:
    the database round trips of storing overlap the next sandbox. At most one result is pending; the task
    returns (and its message is acknowledged) only once every result it produced is stored. A result the
    thread could not store is not left RUNNING until the sweep: ``_run_store_failed`` stores it again here,
    else queues the run again (the database went away) or fails it with the reason (the database refused
    the result); only when none of that can be written is the error raised, for the task to retry.
    """
    pid = pid or os.getpid()
    batch_size = settings.BUGSIFT_REPRO_BATCH_SIZE if batch_size is None else batch_size
    batch_seconds = settings.BUGSIFT_REPRO_BATCH_SECONDS if batch_seconds is None else batch_seconds
    started = time.monotonic()
    result = BatchResult(executed=[])
    # Inside a caller's transaction (an eager task in a test) another connection would not see its rows.
    threaded = not transaction.get_connection().in_atomic_block
    writer = _result_writer() if threaded else _Inline()
    # The first job of the batch on the writer thread checks its kept connection (``_in_thread``); the later
    # ones only drop it if it broke (``_in_thread_kept``): a health check per job would be a round trip.
    checked: list[bool] = []

    def thread_call():
        if not threaded:
            return _call
        if checked:
            return _in_thread_kept
        checked.append(True)
        return _in_thread

    # Writes handed to the writer, in order (at most one run's): (future, the finish's arguments or None).
    pending: list[tuple[Future, dict | None]] = []

    def hand_over(function, **kwargs):
        finish = kwargs if function is _run_finish else None
        pending.append((writer.submit(thread_call(), function, **kwargs), finish))

    def wait_pending():
        while pending:
            future, finish = pending.pop(0)
            try:
                future.result()
            except Exception as exc:  # noqa: BLE001 - each failed write is dealt with below
                if finish is None:  # _run_started: the reproduction's status, which storing the result sets too
                    log.warning("Could not mark the reproduction of a run running.", exc_info=True)
                    continue
                _run_store_failed(**finish, error=exc, runner_name=runner_name)

    known: dict = {}
    # The next run's claim, sent to the writer thread as soon as the current sandbox has exited (while its
    # captures are read, its scratch deleted and it is judged); None: not sent (yet).
    next_claim: list[Future] = []

    def claim_next():
        more = len(result.executed) + 1 < batch_size and time.monotonic() - started < batch_seconds
        if queue and more and not next_claim:
            next_claim.append(
                writer.submit(
                    thread_call(), _run_claim_queued, queue=queue, runner_name=runner_name, pid=pid, known=known
                )
            )

    claim = None
    try:
        claim, queue = _run_claim_delivered(run_id=run_id, runner_name=runner_name, pid=pid)
        if claim is None and queue and batch_size > 0:  # another task took ours: take the next queued one
            claim = _run_claim_queued(queue=queue, runner_name=runner_name, pid=pid, known=known)
        while claim is not None:
            hand_over(_run_started, run=claim.run)
            outcome, config = _run_outcome(claim, runner_name=runner_name, after_sandbox=claim_next)
            claim_next()  # not sent yet when the run stopped before its sandbox (e.g. a build failure)
            wait_pending()  # the previous result is stored (it had this whole run to do it)
            hand_over(_run_finish, run=claim.run, attempt=claim.attempt, outcome=outcome, config=config)
            result.executed.append(claim.run.pk)
            if claim.run.pk == run_id:
                result.delivered = claim.run
            claim = next_claim.pop().result() if next_claim else None
    finally:
        wait_pending()
        if next_claim:  # claimed, but the batch stopped before its turn (an error): back to the queue
            _run_unclaim(next_claim.pop())
    return result


def _run_unclaim(future: Future) -> None:
    """Put back a run this batch claimed and did not start (its attempt not counted), for any runner."""
    try:
        claim = future.result()
        if claim is None:
            return
        with transaction.atomic():
            _, run = _lock_run(claim.run.pk, claim.run.reproduction_id)
            if run is None or run.status != RunStatus.RUNNING or run.attempt != claim.attempt:
                return
            run.status, run.attempt, run.worker_pid, run.started_at = RunStatus.QUEUED, run.attempt - 1, None, None
            run.save(update_fields=["status", "attempt", "worker_pid", "started_at"])
            _queue_on_commit([run.pk], queues={run.pk: run.queue})
    except Exception:  # noqa: BLE001 - the batch is failing already; the sweep queues the run again
        log.warning("A run claimed by a batch that stopped could not be put back; the sweep will.", exc_info=True)


# Errors of a database that is unreachable or went away (worth another attempt), not of a refused value.
_TRANSIENT = (OperationalError, InterfaceError)


def _drop_broken_connection() -> None:
    if not transaction.get_connection().in_atomic_block:
        connection.close_if_unusable_or_obsolete()


def _run_store_failed(
    *,
    run: ReproductionRun,
    attempt: int,
    outcome: SideOutcome,
    config: RunnerConfig,
    error: Exception,
    runner_name: str,
) -> None:
    """A finished run whose result the batch's writer thread could not store (``error``).

    Stored again here, once, on the task's own connection. If that fails too the run is not left RUNNING
    until the sweep: when the database could not be reached (OperationalError, InterfaceError) the run is
    queued again with a message (the attempt stays counted, so a run that can never be stored ends lost);
    when it refused the result (e.g. a DataError) the run is done at once, inconclusive, with the error as
    its reason. Raises only when even that cannot be written (the database is gone): the task retries."""
    log.warning("Run %s attempt %s: storing its result failed (%r); trying again.", run.pk, attempt, error)
    _drop_broken_connection()
    try:
        _run_finish(run=run, attempt=attempt, outcome=outcome, config=config)
        return
    except Exception as again:  # noqa: BLE001 - decided below
        log.exception("Run %s attempt %s: storing its result failed again.", run.pk, attempt)
        error = again
    _drop_broken_connection()
    with transaction.atomic():
        reproduction, locked = _lock_run(run.pk, run.reproduction_id)
        if locked is None or locked.status != RunStatus.RUNNING or locked.attempt != attempt:
            return  # taken over meanwhile: the attempt that holds it now decides
        what = f"{type(error).__name__}: {str(error).strip()[:300]}"
        if isinstance(error, _TRANSIENT) and locked.attempt < settings.BUGSIFT_REPRO_MAX_ATTEMPTS:
            locked.status = RunStatus.QUEUED
            locked.queued_at = timezone.now()
            locked.worker_pid = None
            locked.verdict_detail = (
                f"Attempt {attempt} on {runner_name} finished but its result could not be stored ({what}); "
                "queued again."
            )
            locked.save(update_fields=["status", "queued_at", "worker_pid", "verdict_detail"])
            _queue_on_commit([locked.pk], queues={locked.pk: locked.queue})
            return
        fields = {
            "verdict": Verdict.INCONCLUSIVE,
            "verdict_reason": "result_not_stored",
            "verdict_detail": f"The run finished on {runner_name} but its result could not be stored ({what}).",
            "verdict_hint": "run it again; if it fails the same way, send the runner's log to the administrators",
            "expectation": {},
            "expectation_matched": False,
        }
        for name, value in fields.items():
            setattr(locked, name, value)
        locked.status = RunStatus.DONE
        locked.finished_at = timezone.now()
        locked.verdict_history = [*(locked.verdict_history or []), history_entry(fields)]
        locked.save(update_fields=["status", "finished_at", "verdict_history", *fields])
        _after_run_done(locked, reproduction)


def _call(function, /, **kwargs):
    return function(**kwargs)


def _in_thread(function, /, **kwargs):
    from django.db import close_old_connections

    close_old_connections()  # the writer thread's kept connection, dropped if it broke (as around a task)
    return function(**kwargs)


def _in_thread_kept(function, /, **kwargs):
    """A later job of a batch on the writer thread, on the connection the batch's first job checked. After an
    error the connection is dropped if it broke (the next batch's first job checks it again); the error goes
    to the batch as before: a result is stored again by the task itself, a failed claim ends the task."""
    from django.db import close_old_connections

    try:
        return function(**kwargs)
    except Exception:
        close_old_connections()
        raise


class _Inline:
    """``submit`` that runs at once, in the caller's thread and transaction."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - handed back by future.result(), as from the thread
            future.set_exception(exc)
        return future


_writer: tuple[int, ThreadPoolExecutor] | None = None


def _result_writer() -> ThreadPoolExecutor:
    """This process's result-storing thread (made on first use, so a forked pool child gets its own)."""
    global _writer
    if _writer is None or _writer[0] != os.getpid():
        _writer = (os.getpid(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="bugsift-results"))
    return _writer[1]


def _run_outcome(claim: Claim, *, runner_name: str, after_sandbox=None) -> tuple[SideOutcome, RunnerConfig]:
    """Build or reuse the run's environment, run it in the sandbox and judge it (no database writes)."""
    run = claim.run
    reproducer = run.reproducer
    report = reproducer.report
    config = RunnerConfig.from_settings()
    try:
        outcome = execute_side(
            script=reproducer.script,
            side=Side(device=run.device, requirements=tuple(r for r in run.requirements.splitlines() if r.strip())),
            oracle=reproducer.oracle,
            limits=reproducer_limits(reproducer),
            config=config,
            expectation=reproducer_expectation(reproducer),
            framework=report.framework,
            after_sandbox=after_sandbox,
        )
    except Exception as exc:  # noqa: BLE001 - a runner fault must end the run, not leave it RUNNING for ever
        log.exception("Run %s failed on runner %s outside the script.", run.pk, runner_name)
        detail = (
            f"The runner {runner_name} failed before the script could be judged ({type(exc).__name__}: "
            f"{str(exc)[:300]}). Check the runner's log and settings, then run it again."
        )
        judgement = Judgement(Verdict.INCONCLUSIVE, detail, reason="runner_fault", hint="check the runner's log")
        outcome = SideOutcome(build=None, result=None, judgement=judgement)
    return outcome, config


def _run_execute_claimed(claim: Claim, *, runner_name: str) -> ReproductionRun:
    outcome, config = _run_outcome(claim, runner_name=runner_name)
    return _run_finish(run=claim.run, attempt=claim.attempt, outcome=outcome, config=config)


def _text(value: str) -> str:
    """Text a hostile script produced, storable in PostgreSQL (which refuses NUL characters)."""
    return (value or "").replace("\x00", "\ufffd")


# Environment rows this process found with their build recorded, by key: a run on such a cached build
# names its environment without reading the row again. Forgotten when storing a result fails (a row
# deleted meanwhile is then recreated when the result is stored again).
_environment_ids: dict[str, int] = {}


def _environment_record(outcome: SideOutcome, run: ReproductionRun, config: RunnerConfig) -> int | None:
    """The Environment row's id for the run's build, recording a fresh build's result and log."""
    build = outcome.build
    if build is None or not build.key:
        return None
    if build.cached and build.key in _environment_ids:
        return _environment_ids[build.key]
    env, _ = Environment.objects.get_or_create(
        key=build.key,
        defaults={"requirements": run.requirements, "python": python_version(config.base_python)},
    )
    if not build.cached or env.last_build_ok is None:
        env.last_built_at = timezone.now()
        env.last_build_ok = build.ok
        env.last_build_seconds = build.seconds
        env.last_build_log = _text(build.log)[-LOG_TAIL_CHARS:]
        env.save(update_fields=["last_built_at", "last_build_ok", "last_build_seconds", "last_build_log"])
    if build.cached:
        _environment_ids[build.key] = env.pk
    return env.pk


def _outcome_fields(outcome: SideOutcome) -> dict:
    fields: dict = {}
    if outcome.result is not None:
        fields.update(result_fields(outcome.result))
        fields["stdout_tail"], fields["stderr_tail"] = _text(fields["stdout_tail"]), _text(fields["stderr_tail"])
    notes = list(outcome.capture_errors)
    blob = pack_captures(outcome.arrays) if outcome.arrays else b""
    if len(blob) > MAX_CAPTURE_BYTES:
        notes.append(
            f"Captured results were {len(blob):,} bytes; only their summary is kept (limit {MAX_CAPTURE_BYTES:,})."
        )
        blob = b""
    fields["captures"] = blob or None
    summary = summarise_captures(outcome.arrays) if outcome.arrays else {}
    if notes:
        summary["_notes"] = notes
    fields["outputs"] = summary
    if outcome.judgement is not None:
        fields.update(judgement_fields(outcome.judgement))
    return fields


def judgement_fields(judgement: Judgement) -> dict:
    """A judgement as the run's verdict fields (the history entry is added by ``_history_add``)."""
    return {
        "verdict": judgement.verdict,
        "verdict_detail": _text(judgement.detail),
        "verdict_reason": judgement.reason[:32],
        "verdict_hint": _text(judgement.hint),
        "expectation": judgement.expectation or {},
        "expectation_matched": bool(judgement.matched and judgement.verdict == Verdict.REPRODUCED),
        "signature": judgement.signature or "",
    }


def history_entry(fields: dict, *, by=None, note: str = "") -> dict:
    """One verdict in a run's history: when, what, why, against which expectation, by whom, which rules."""
    entry = {
        "at": timezone.now().isoformat(),
        "verdict": fields.get("verdict", ""),
        "reason": fields.get("verdict_reason", ""),
        "detail": fields.get("verdict_detail", "")[:2000],
        "expectation": fields.get("expectation") or {},
        "matched": bool(fields.get("expectation_matched")),
        "by": getattr(by, "username", None),
        "rules": RULES_VERSION,
    }
    if note:
        entry["note"] = note
    return entry


def _run_finish(*, run: ReproductionRun, attempt: int, outcome: SideOutcome, config: RunnerConfig):
    """Store the result if this attempt still holds the run; then judge a pair, advance a bisection."""
    try:
        return _run_store(run=run, attempt=attempt, outcome=outcome, config=config)
    except Exception:
        _environment_ids.clear()
        raise


def _run_store(*, run: ReproductionRun, attempt: int, outcome: SideOutcome, config: RunnerConfig):
    with transaction.atomic():
        # The reproduction's lock serialises pairs, bisections and summaries; the update below is the run's
        # own compare-and-set (only the attempt that holds the run may write its result).
        reproduction = Reproduction.objects.select_for_update().filter(pk=run.reproduction_id).order_by().first()
        fields = _outcome_fields(outcome)
        fields.update(
            status=RunStatus.DONE, finished_at=timezone.now(), environment_id=_environment_record(outcome, run, config)
        )
        if fields.get("verdict"):
            fields["verdict_history"] = [*(run.verdict_history or []), history_entry(fields)]
        updated = ReproductionRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING, attempt=attempt).update(**fields)
        if not updated:
            log.warning("Run %s attempt %s finished after it was taken over; its result is discarded.", run.pk, attempt)
            return ReproductionRun.objects.get(pk=run.pk)
        for name, value in fields.items():
            setattr(run, name, value)
        run.reproduction = reproduction  # the locked row, which _after_run_done keeps up to date
        _after_run_done(run, reproduction)
    return run


def _result_of(run: ReproductionRun) -> SandboxResult:
    return SandboxResult(
        exit_code=run.exit_code,
        signal=run.signal,
        duration_s=(run.duration_ms or 0) / 1000,
        peak_memory_kb=run.peak_memory_kb or 0,
        stdout_tail=run.stdout_tail,
        stderr_tail=run.stderr_tail,
        stdout_bytes=run.stdout_bytes,
        stderr_bytes=run.stderr_bytes,
        limit_hit=run.limit_hit,
    )


def _pair_judge(run: ReproductionRun) -> None:
    """Once both sides of a differential repeat are done, compare them and give both the verdict."""
    pair = list(
        ReproductionRun.objects.select_for_update()
        .filter(reproduction_id=run.reproduction_id, index=run.index)
        .order_by("side")
    )
    if len(pair) != 2 or any(r.status != RunStatus.DONE for r in pair):
        return
    a, b = pair
    comparison: dict = {}
    failed = [(name, r) for name, r in (("A", a), ("B", b)) if r.verdict]
    if failed:  # a side that could not run (build failed, refused, lost) decides the pair
        name, side = failed[0]
        judgement = Judgement(
            side.verdict,
            f"Side {name} ({side.device}): {side.verdict_detail}",
            reason=side.verdict_reason,
            hint=side.verdict_hint,
        )
    else:
        comparison = compare_captures(
            unpack_captures(a.captures), unpack_captures(b.captures), rtol=a.reproducer.rtol, atol=a.reproducer.atol
        )
        judgement = judge_differential(a=_result_of(a), b=_result_of(b), comparison=comparison)
    if not failed:
        judgement.reason = "matched" if judgement.verdict == Verdict.REPRODUCED else judgement.verdict
        judgement.matched = judgement.verdict == Verdict.REPRODUCED
        judgement.compared = True
        judgement.expectation = {"source": "differential oracle", "rtol": a.reproducer.rtol, "atol": a.reproducer.atol}
    fields = judgement_fields(judgement)
    fields.pop("signature")
    for side in pair:
        side.comparison = comparison
        for name, value in fields.items():
            setattr(side, name, value)
        side.verdict_history = [*(side.verdict_history or []), history_entry(fields, note="judged as a pair")]
        side.save(update_fields=["comparison", "verdict_history", *fields])


def _after_run_done(run: ReproductionRun, reproduction: Reproduction | None = None) -> None:
    """Keep the reproduction's summary true, judge differential pairs and advance bisections.
    The caller holds the reproduction's lock (pass the locked row to save reading it again)."""
    if reproduction is None:
        reproduction = Reproduction.objects.select_for_update().get(pk=run.reproduction_id)
    if run.side:
        _pair_judge(run)
    if reproduction.kind == Reproduction.Kind.BISECT:
        _bisect_advance(reproduction)
    else:
        _summary_refresh(reproduction)
    _verdict_results_changed(run)


def _verdict_results_changed(run: ReproductionRun) -> None:
    """A run's verdict is counted by the Analytics charts of every study holding its report."""
    report_results_changed(
        report_ids=Reproducer.objects.filter(pk=run.reproducer_id).values_list("report_id", flat=True)
    )


CONCLUSIVE = (Verdict.REPRODUCED, Verdict.NOT_REPRODUCED, Verdict.CRASHED_DIFFERENTLY)


def check_summary(verdicts: list[str], *, total: int) -> str:
    """A finished check in words: ``reproduced k/n`` keeps its fraction; ``flaky`` when some conclusive runs
    reproduced and others did not; the other verdicts counted (``3 inconclusive``). The rule: reproduced
    when k >= 1 of the n runs reproduced; flaky when 0 < k < the conclusive runs (reproduced, not
    reproduced, crashed differently); runs that could not show the bug (inconclusive, stopped, lost)
    count neither way, so 7/10 with 3 inconclusive is not flaky."""
    reproduced = sum(1 for v in verdicts if v == Verdict.REPRODUCED)
    conclusive = sum(1 for v in verdicts if v in CONCLUSIVE)
    notes = ["flaky"] if 0 < reproduced < conclusive else []
    others = sorted({v for v in verdicts if v not in (Verdict.REPRODUCED, Verdict.NOT_REPRODUCED)})
    if others:
        notes.append(f"{', '.join(Verdict(v).label.lower() for v in others)} in some runs")
    return f"reproduced {reproduced}/{total}" + (f" ({'; '.join(notes)})" if notes else "")


def _progress_summary(*, reproduced: int, finished: int, total: int) -> str:
    """While runs are going: "2 of 5 runs done, reproduced in 1 so far"."""
    return f"{finished} of {total} runs done" + (f", reproduced in {reproduced} so far" if finished else "")


def _summary_refresh(reproduction: Reproduction) -> None:
    """``reproduced k/n`` over the repeats that have a verdict (a differential repeat counts once)."""
    by_index: dict[int, list[str]] = {}
    for index, status, verdict in reproduction.runs.values_list("index", "status", "verdict"):
        by_index.setdefault(index, []).append(verdict if status == RunStatus.DONE else "")
    verdicts = {index: found[0] for index, found in by_index.items() if all(found)}
    finished = len(verdicts)
    reproduced = sum(1 for v in verdicts.values() if v == Verdict.REPRODUCED)
    total = reproduction.repeat
    reproduction.finished_count = finished
    reproduction.reproduced_count = reproduced
    if finished >= total:
        reproduction.status = Reproduction.Status.DONE
        reproduction.finished_at = reproduction.finished_at or timezone.now()
        reproduction.summary = check_summary(list(verdicts.values()), total=total)
    else:
        reproduction.summary = _progress_summary(reproduced=reproduced, finished=finished, total=total)
    reproduction.save(update_fields=["finished_count", "reproduced_count", "status", "finished_at", "summary"])


# --------------------------------------------------------------------------- judging again


@transaction.atomic
def run_rejudge(*, run: ReproductionRun, expect: str | None = None, signature: str = "", by=None) -> ReproductionRun:
    """Judge a stored run again from its raw result (exit code, signal, output tails), against a corrected
    expectation (``expect``: the ``--expect`` syntax; ``signature``: a crash signature) or, with
    neither, against its reproducer's current one. The new verdict is added to the run's history and
    the check's summary is brought up to date; nothing is run again."""
    run = (
        ReproductionRun.objects.select_for_update(of=("self",))
        .select_related("reproducer__report", "reproduction")
        .get(pk=run.pk)
    )
    reproducer = run.reproducer
    problems: dict[str, str] = {}
    if run.status != RunStatus.DONE:
        problems["run"] = f"Run {run.pk} is {run.status}; a run is judged again once it is done."
    elif run.exit_code is None and run.signal is None and not run.limit_hit:
        problems["run"] = (
            f"Run {run.pk} has no result to judge ({Verdict(run.verdict).label.lower() if run.verdict else 'none'}): "
            "it did not run the script. Start the reproduction again instead."
        )
    if reproducer.oracle == Reproducer.Oracle.DIFFERENTIAL:
        problems["run"] = "A differential run is judged by comparing its two sides' captures, not by an expectation."
    if run.reproduction.kind == Reproduction.Kind.BISECT:
        problems["run"] = "A bisection step is judged as part of its bisection; start the bisection again instead."
    signature = (signature or "").strip().lower()
    if signature and not re.fullmatch(r"[0-9a-f]{64}", signature):
        problems["signature"] = "A signature is the 64 hexadecimal characters shown on a crash group's page."
    expectation = None
    try:
        given = parse_expect(expect or "")
    except ExpectationError as exc:
        problems["expect"] = str(exc)
        given = Expectation()
    if problems:
        raise ApplicationError("The run was not judged again: " + " ".join(problems.values()), details=problems)
    if not given.empty or signature:
        expectation = Expectation(**{**given.as_dict(), "source": "given when judging again"})
        if signature:
            expectation = Expectation(**{**expectation.as_dict(), "signature": signature})
    else:
        expectation = reproducer_expectation(reproducer)
    judgement = judge(
        oracle=reproducer.oracle, result=_result_of(run), expectation=expectation, framework=reproducer.report.framework
    )
    fields = judgement_fields(judgement)
    fields["verdict_history"] = [*(run.verdict_history or []), history_entry(fields, by=by, note="judged again")]
    for name, value in fields.items():
        setattr(run, name, value)
    run.save(update_fields=list(fields))
    reproduction = Reproduction.objects.select_for_update().get(pk=run.reproduction_id)
    if reproduction.status == Reproduction.Status.DONE:
        _summary_refresh(reproduction)
    _verdict_results_changed(run)
    return run


# --------------------------------------------------------------------------- sweeping


@dataclass(slots=True)
class SweepResult:
    requeued_lost: int = 0
    gave_up: int = 0
    resent: int = 0


def _run_abandoned(run: ReproductionRun, *, now) -> bool:
    """A RUNNING run nobody will finish: its runner went silent, or it is past any deadline it could
    meet (build timeout + its wall limit + the heartbeat grace). The second catches a killed worker
    process whose runner's main process still sends heartbeats while another runner got the message."""
    if not runner_alive(run.runner, now=now):
        return True
    if run.started_at is None:
        return False
    budget = (
        float(settings.BUGSIFT_REPRO_BUILD_TIMEOUT)
        + float(run.reproducer.timeout_seconds)
        + float(settings.BUGSIFT_RUNNER_LOST_AFTER_SECONDS)
    )
    return now - run.started_at > timedelta(seconds=budget)


def runs_sweep(*, now=None) -> SweepResult:
    """Retry runs whose runner went silent, and send again runs whose message never arrived."""
    now = now or timezone.now()
    result = SweepResult()
    requeue_after = timedelta(seconds=settings.BUGSIFT_REPRO_REQUEUE_AFTER_SECONDS)
    running = ReproductionRun.objects.filter(status=RunStatus.RUNNING).select_related("runner", "reproducer")
    suspects = [r.pk for r in running if _run_abandoned(r, now=now)]
    for run_id in suspects:
        with transaction.atomic():
            _, run = _lock_run(run_id)
            if run is None or run.status != RunStatus.RUNNING or not _run_abandoned(run, now=now):
                continue
            if run.attempt >= settings.BUGSIFT_REPRO_MAX_ATTEMPTS:
                _run_write_lost(run)
                result.gave_up += 1
                continue
            who = run.runner.name if run.runner_id else "its runner"
            run.status = RunStatus.QUEUED
            run.queued_at = now
            if runner_alive(run.runner, now=now):
                run.verdict_detail = (
                    f"Attempt {run.attempt} on {who} ran past its time and build limits without a result "
                    "(its worker process probably died); queued again."
                )
            else:
                run.verdict_detail = f"{who} stopped sending heartbeats during attempt {run.attempt}; queued again."
            run.save(update_fields=["status", "queued_at", "verdict_detail"])
            _queue_on_commit([run.pk])
            result.requeued_lost += 1
    stale = list(
        ReproductionRun.objects.filter(status=RunStatus.QUEUED, queued_at__lt=now - requeue_after).values_list(
            "pk", flat=True
        )
    )
    if stale:
        with transaction.atomic():
            ReproductionRun.objects.filter(pk__in=stale, status=RunStatus.QUEUED).update(queued_at=now)
            _queue_on_commit(stale)
        result.resent = len(stale)
    return result


__all__ = [
    "QUEUES",
    "BatchResult",
    "RunnerFacts",
    "SweepResult",
    "bisection_start",
    "check_summary",
    "expected_signature",
    "report_expectation",
    "reproducer_create",
    "reproducer_expectation",
    "run_rejudge",
    "reproducer_limits",
    "reproducer_sides",
    "reproduction_start",
    "run_execute",
    "runner_alive",
    "runner_heartbeat",
    "runner_register",
    "runner_runs_recover",
    "runner_stopped",
    "runs_execute",
    "runs_sweep",
]
