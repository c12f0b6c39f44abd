"""Writes for GitHub ingestion: sources, sync runs, and the sync itself (page by page).

A sync run fetches one page of issues (plus the comments and timeline of every new or changed
issue on it), then writes the page in one transaction together with ``run.next_page``; a run
that stops (killed worker, network error, rate limit) continues at ``next_page`` and the
``source_id`` upsert means nothing is duplicated. Reports already in a study whose state,
title, body or linked fixes change get their study items flagged for re-review.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import ssl
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from urllib.parse import urlsplit

import requests
import urllib3
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone
from github import GithubException

from config.errors import ApplicationError
from labelling.services.items import study_items_flag_for_review
from labelling.services.results import report_results_changed
from triage.crashes.services import crash_groups_link_reports
from triage.github import pipeline as gh
from triage.models import CodeBlock, Comment, GitHubSource, IssueDetails, LinkedChange, Report, SyncRun
from triage.reports.services import report_change_reasons, report_source_labels_replace, reports_upsert

logger = logging.getLogger(__name__)

RETRY_DELAYS = [1, 2, 4, 8]  # seconds between attempts after a 5xx or a connection error
SHORT_WAIT_LIMIT = 60  # a secondary rate limit up to this is waited out in place
SOURCE_FIELDS = [
    "name",
    "repository",
    "state",
    "labels",
    "created_from",
    "created_to",
    "closed_from",
    "closed_to",
    "query",
    "include_pull_requests",
    "with_comments",
    "base_url",
    "schedule_minutes",
]
UNFINISHED = [SyncRun.Status.QUEUED, SyncRun.Status.RUNNING, SyncRun.Status.WAITING]
sleep = time.sleep  # tests replace it


class SyncMustWait(Exception):  # noqa: N818 (a signal to the task, not an error)
    """The run is waiting for a rate limit: run it again in ``countdown`` seconds."""

    def __init__(self, run_id: int, countdown: int):
        super().__init__(f"sync run {run_id} waits {countdown} s for the GitHub rate limit")
        self.run_id = run_id
        self.countdown = countdown


# -- sources -----------------------------------------------------------------------------------


def _source_check(source: GitHubSource) -> None:
    source.repository = source.repository.strip().strip("/")
    if source.repository.startswith("https://github.com/"):
        source.repository = source.repository.removeprefix("https://github.com/")
    if not gh.REPOSITORY_RE.match(source.repository):
        raise ValidationError({"repository": ["Give the repository as owner/name, e.g. tensorflow/tensorflow."]})
    if not isinstance(source.labels, list) or not all(isinstance(x, str) for x in source.labels):
        raise ValidationError({"labels": ['Give the labels as a list of names, e.g. ["comp:keras"].']})
    source.labels = [label.strip() for label in source.labels if label.strip()]
    for start, end in (("created_from", "created_to"), ("closed_from", "closed_to")):
        a, b = getattr(source, start), getattr(source, end)
        if a and b and a > b:
            raise ValidationError({end: [f"{end.replace('_', ' ')} is before {start.replace('_', ' ')}: swap them."]})
    if not source.name:
        source.name = source.repository
    source.base_url = base_url_allowed(source.base_url)
    source.full_clean(exclude=["created_by", "owner"])


DEFAULT_API_URL = "https://api.github.com"


def base_url_allowed(base_url: str) -> str:
    """The API base URL to store: "" for github.com, else one of ``BUGSIFT_GITHUB_API_URLS``.
    Anything else is refused, so that a source cannot send its token (or the server's) elsewhere."""
    url = (base_url or "").strip().rstrip("/")
    if url in ("", DEFAULT_API_URL):
        return ""
    allowed = [u for u in settings.BUGSIFT_GITHUB_API_URLS if u != DEFAULT_API_URL]
    if url not in allowed:
        listed = ", ".join(allowed) if allowed else "none are configured"
        raise ValidationError(
            {
                "base_url": [
                    f"{url} is not an allowed GitHub API URL. Leave it empty for github.com, or use a GitHub "
                    f"Enterprise URL that the administrator listed in BUGSIFT_GITHUB_API_URLS ({listed})."
                ]
            }
        )
    return url


def _token_for(source: GitHubSource, given: str | None) -> str:
    """The token a sync sends: the one given (the ingest_github command's GITHUB_TOKEN) or the
    source's own; the server's GITHUB_TOKEN only ever goes to https://api.github.com."""
    if source.base_url and source.base_url not in settings.BUGSIFT_GITHUB_API_URLS:
        raise ApplicationError(
            f"{source.base_url} is no longer in BUGSIFT_GITHUB_API_URLS, so nothing is sent to it. "
            "Change the source's API base URL, or ask the administrator to list it again."
        )
    token = source.token or ""
    if token.startswith("gAAAAA"):  # still Fernet ciphertext: no key in BUGSIFT_FIELD_ENCRYPTION_KEY opened it
        raise ApplicationError(
            "The source's stored token cannot be decrypted with BUGSIFT_FIELD_ENCRYPTION_KEY (the key it "
            "was saved with is missing). Add that key back, or set the token on the source again."
        )
    if source.base_url:
        return token  # GitHub Enterprise: only the source's own token
    return given or token or os.environ.get("GITHUB_TOKEN", "")


@transaction.atomic
def github_source_create(*, created_by, token: str = "", **fields) -> GitHubSource:
    unknown = set(fields) - set(SOURCE_FIELDS)
    if unknown:
        raise ApplicationError(f"Unknown source fields: {', '.join(sorted(unknown))}.")
    source = GitHubSource(created_by=created_by, owner=created_by, token=token or "", **fields)
    _source_check(source)
    source.save()
    return source


@transaction.atomic
def github_source_update(*, source: GitHubSource, token: str | None = None, **fields) -> GitHubSource:
    """Change the given fields; ``token=None`` keeps the stored token, ``""`` removes it.

    A change of the repository or the API base URL removes the stored token (unless a new one
    comes with it): a token given for one place is never sent to another.
    """
    unknown = set(fields) - set(SOURCE_FIELDS)
    if unknown:
        raise ApplicationError(f"Unknown source fields: {', '.join(sorted(unknown))}.")
    before = (source.repository, source.base_url)
    for name, value in fields.items():
        setattr(source, name, value)
    changed = list(fields)
    _source_check(source)
    if token is None and source.token and (source.repository, source.base_url) != before:
        token = ""
    if token is not None:
        source.token = token
        changed.append("token")
    source.save(update_fields=sorted(set(changed) | {"name", "repository", "labels"}))
    return source


# -- runs --------------------------------------------------------------------------------------


@transaction.atomic
def sync_run_start(*, source: GitHubSource, created_by, queue: bool = True) -> SyncRun:
    """A new sync run of ``source`` queued for a worker (or its unfinished run, if there is one).
    ``queue=False`` only records it (the ``ingest_github`` command runs it in-process)."""
    unfinished = SyncRun.objects.filter(source=source, status__in=UNFINISHED).first()
    if unfinished is not None:
        return unfinished
    since = GitHubSource.objects.filter(pk=source.pk).values_list("last_success_at", flat=True).first()
    run = SyncRun(source=source, created_by=created_by, since=since)
    run.full_clean(exclude=["created_by"])  # None for a scheduled sync
    run.save()
    if queue:
        _sync_run_queue(run.pk)
    return run


@transaction.atomic
def sync_run_resume(*, run: SyncRun) -> SyncRun:
    """Queue a failed run again: it continues at its ``next_page``."""
    if run.status != SyncRun.Status.FAILED:
        raise ApplicationError("Only a failed sync can be resumed; this one is " + run.get_status_display().lower())
    run.status = SyncRun.Status.QUEUED
    run.finished_at = None
    run.save(update_fields=["status", "finished_at"])
    _sync_run_queue(run.pk)
    return run


def _sync_run_queue(run_id: int) -> None:
    from triage.github.tasks import github_sync_run

    transaction.on_commit(partial(github_sync_run.delay, run_id))


def github_sources_sync_due(*, now: datetime | None = None) -> list[int]:
    """Start a run for every scheduled source whose last run began ``schedule_minutes`` ago or
    more, and queue again the runs the broker lost (queued for 10 minutes, or waiting 10 minutes
    past their ``resume_at``). Returns the ids of the runs queued."""
    now = now or timezone.now()
    lost = list(
        SyncRun.objects.filter(
            Q(status=SyncRun.Status.QUEUED, created_at__lt=now - timedelta(minutes=10))
            | Q(status=SyncRun.Status.WAITING, resume_at__lt=now - timedelta(minutes=10))
        ).values_list("id", flat=True)
    )
    for run_id in lost:
        _sync_run_queue(run_id)
    started = []
    sources = (
        GitHubSource.objects.filter(schedule_minutes__isnull=False)
        .exclude(runs__status__in=UNFINISHED)
        .annotate(last_run_at=Max("runs__created_at"))
    )
    for source in sources:
        if source.last_run_at is None or source.last_run_at <= now - timedelta(minutes=source.schedule_minutes):
            started.append(sync_run_start(source=source, created_by=None).pk)
    return lost + started


@dataclass
class PageCounts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    pull_requests: int = 0


Progress = Callable[[SyncRun], None]


def sync_run_execute(*, run_id: int, token: str | None = None, progress: Progress | None = None) -> SyncRun | None:
    """Do the sync of a run, from its ``next_page``. Safe to run twice: a finished run is left alone.

    Raises ``SyncMustWait`` when a rate limit means the run should continue later (the run is
    saved as waiting, with ``resume_at``). Any other problem ends the run as failed with the
    error recorded; what was written before stays.
    """
    run = SyncRun.objects.select_related("source").filter(pk=run_id).first()
    if run is None or run.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.FAILED):
        return run
    source = run.source
    run.status = SyncRun.Status.RUNNING
    run.started_at = run.started_at or timezone.now()
    run.resume_at = None
    run.save(update_fields=["status", "started_at", "resume_at"])
    try:
        token = _token_for(source, token)
    except ApplicationError as exc:
        return _run_fail(run, exc.message, "")
    client = gh.GitHubClient(base_url=source.base_url, token=token)
    writer = _PageWriter(run=run, source=source, progress=progress)
    try:
        if run.next_page == 1 and run.pages_fetched == 0:
            _call(run, lambda: client.repository(source.repository))
        number = run.next_page
        while True:
            page = _call(run, partial(_fetch_page, client, source, run, number))
            records = _page_records(client, source, run, page)
            writer.write(records)  # page ``number`` is written while page ``number + 1`` is fetched
            if not page.has_next or not page.items:
                break
            number += 1
        writer.finish()
    except SyncMustWait:
        writer.finish(quiet=True)
        raise
    except _SyncFailed as exc:
        writer.finish(quiet=True)
        return _run_fail(run, exc.message, exc.detail)
    except Exception as exc:  # never an unhandled error in the worker: record it
        writer.finish(quiet=True)
        logger.exception("sync run %s stopped on an unexpected error", run.pk)
        return _run_fail(
            run,
            "The sync stopped on an unexpected error; what was fetched so far is kept. Resume it; if it stops "
            f"again, tell the administrator (the server log has the details of sync run {run.pk}).",
            network_detail(exc),
        )
    finally:
        client.close()
    return _run_succeed(run)


class _PageWriter:
    """Writes pages in order on one background thread (its own database connection), so the
    database work of page k overlaps the HTTP requests of page k+1. Each page is still one
    transaction with ``run.next_page``; ``finish()`` waits for the last and re-raises its error.
    On SQLite (one writer at a time) pages are written in the calling thread."""

    def __init__(self, *, run: SyncRun, source: GitHubSource, progress: Progress | None):
        from django.db import connection

        self.run, self.source, self.progress = run, source, progress
        self.pool = None if connection.vendor == "sqlite" else ThreadPoolExecutor(1, thread_name_prefix="sync-writer")
        self.pending = None

    def _write(self, records):
        _page_write(run=self.run, source=self.source, records=records)
        if self.progress:
            self.progress(self.run)

    def _close_connection(self):
        from django.db import connection

        connection.close()

    def write(self, records) -> None:
        if self.pool is None:
            return self._write(records)
        if self.pending is not None:
            self.pending.result()  # the previous page is written (or its error raised) first
        self.pending = self.pool.submit(self._write, records)

    def finish(self, *, quiet: bool = False) -> None:
        if self.pool is None:
            return
        try:
            if self.pending is not None:
                self.pending.result()
        except Exception:
            if not quiet:
                raise
            logger.exception("sync run %s: writing a page failed", self.run.pk)
        finally:
            self.pending = None
            self.pool.submit(self._close_connection).result()
            self.pool.shutdown(wait=True)


class _SyncFailed(Exception):
    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.message = message
        self.detail = detail


def _fetch_page(client: gh.GitHubClient, source: GitHubSource, run: SyncRun, number: int) -> gh.Page:
    if source.query:
        q = gh.search_query(
            repository=source.repository,
            query=source.query,
            state=source.state,
            labels=source.labels,
            include_pull_requests=source.include_pull_requests,
            created_from=source.created_from,
            created_to=source.created_to,
            closed_from=source.closed_from,
            closed_to=source.closed_to,
            since=run.since,
        )
        return client.search_page(q, page=number)
    return client.issues_page(source.repository, page=number, state=source.state, labels=source.labels, since=run.since)


def _in_windows(source: GitHubSource, record: gh.IssueRecord) -> bool:
    def inside(value, start, end):
        if not (start or end):
            return True
        if value is None:
            return False
        return (start is None or value >= start) and (end is None or value <= end)

    return inside(record.created_at, source.created_from, source.created_to) and inside(
        record.closed_at, source.closed_from, source.closed_to
    )


def _page_records(client, source: GitHubSource, run: SyncRun, page: gh.Page) -> list[gh.IssueRecord]:
    """The page's records, with comments and timeline fetched for the new or changed ones only."""
    records = [gh.issue_record(item, source.repository) for item in page.items]
    records = [r for r in records if _in_windows(source, r)]
    known = dict(
        IssueDetails.objects.filter(report__source_id__in=[r.source_id for r in records]).values_list(
            "report__source_id", "github_updated_at"
        )
    )
    for record in records:
        if record.source_id in known and known[record.source_id] == record.github_updated_at:
            record.raw["_unchanged"] = True
            continue
        if record.is_pull_request and not source.include_pull_requests:
            continue
        if source.with_comments:
            record.comments = []
            if record.comments_count:
                payloads = _call(run, partial(client.comments, source.repository, record.number))
                record.comments = [gh.comment_record(p) for p in payloads]
        events = _call(run, partial(client.timeline, source.repository, record.number))
        record.links = gh.linked_changes_from_timeline(events, source.repository)
    return records


def _call(run: SyncRun, fetch):
    """Run ``fetch`` with GitHub's conditions handled: retries, rate limits, clear failures."""
    attempt = 0
    while True:
        try:
            return fetch()
        except GithubException as exc:
            status, headers = exc.status, {k.lower(): v for k, v in (exc.headers or {}).items()}
            message = (exc.data or {}).get("message", "") if isinstance(exc.data, dict) else ""
            if status in (403, 429) and headers.get("x-ratelimit-remaining") == "0":
                reset = int(headers.get("x-ratelimit-reset") or 0)
                _run_wait(run, resume_at=datetime.fromtimestamp(reset, tz=UTC), why="primary")
            if status in (403, 429) and ("retry-after" in headers or "secondary rate limit" in message.lower()):
                wait = int(float(headers.get("retry-after") or 60))
                if wait <= SHORT_WAIT_LIMIT:
                    _run_note_wait(run, wait)
                    sleep(wait)
                    continue
                _run_wait(run, resume_at=timezone.now() + timedelta(seconds=wait), why="secondary")
            if status >= 500 and attempt < len(RETRY_DELAYS):
                sleep(RETRY_DELAYS[attempt])
                attempt += 1
                continue
            raise _SyncFailed(_http_message(status, message, run), f"HTTP {status}: {message}") from exc
        except (requests.RequestException, urllib3.exceptions.HTTPError, ConnectionError) as exc:
            if attempt < len(RETRY_DELAYS):
                sleep(RETRY_DELAYS[attempt])
                attempt += 1
                continue
            raise _SyncFailed(
                f"{network_problem(exc, run.source.base_url)} Tried {attempt + 1} times; what was fetched so far "
                "is kept. Resume the sync once it is fixed.",
                network_detail(exc),
            ) from exc
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            raise _SyncFailed(
                "GitHub answered with malformed JSON; what was fetched so far is kept. Resume the sync later "
                "or check the API base URL.",
                str(exc)[:500],
            ) from exc
        except RuntimeError as exc:  # PyGithub refuses a redirect to another host or scheme
            raise _SyncFailed(f"GitHub redirected the request elsewhere: {exc}", str(exc)[:500]) from exc


def _causes(exc: BaseException):
    """``exc`` and what caused it, outermost first (urllib3 wraps the socket's error twice)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        reason = getattr(exc, "reason", None)
        exc = reason if isinstance(reason, BaseException) else (exc.__cause__ or exc.__context__)


def network_problem(exc: BaseException, base_url: str) -> str:
    """What went wrong talking to GitHub, in words, and what to do: never urllib3's reprs."""
    host = urlsplit(base_url or "https://api.github.com").hostname or base_url
    causes = list(_causes(exc))
    text = " ".join(str(c) for c in causes).lower()
    if (
        any(isinstance(c, (socket.gaierror,)) for c in causes)
        or "name or service not known" in text
        or ("failed to resolve" in text)
    ):
        return f"The host name {host} could not be found: check the source's API base URL and the server's DNS."
    if any(isinstance(c, ssl.SSLError) for c in causes) or isinstance(exc, requests.exceptions.SSLError):
        return f"The TLS certificate of {host} could not be verified: check the API base URL (https) or the CA setup."
    if any(isinstance(c, ConnectionRefusedError) for c in causes) or "connection refused" in text:
        return f"Nothing answers at {host} (connection refused): check the API base URL, or that the server is up."
    # (urllib3's NewConnectionError is a kind of timeout error, hence the refusal is checked first)
    if any(isinstance(c, (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)) for c in causes):
        return f"{host} did not answer in time: GitHub may be slow or down, or a firewall drops the connection."
    if isinstance(exc, requests.exceptions.RetryError) or ("too many" in text and "error responses" in text):
        return f"{host} kept answering with server errors (HTTP 5xx): GitHub has a problem; try again later."
    return f"The connection to {host} failed ({_plain(causes[-1])}): check the network and the API base URL."


def _plain(exc: BaseException) -> str:
    """An error's message without object reprs and addresses, short."""
    text = re.sub(r"<[^<>]* object at 0x[0-9a-f]+>:?\s*", "", str(exc))
    text = re.sub(r"\[Errno -?\d+\]\s*", "", text).strip(" :")
    return (text or type(exc).__name__)[:200]


def network_detail(exc: BaseException) -> str:
    """The innermost cause, plainly: shown in the sync's error table for whoever fixes it."""
    return _plain(list(_causes(exc))[-1])[:500]


def _http_message(status: int, message: str, run: SyncRun) -> str:
    repo = run.source.repository
    if status == 401:
        return "GitHub refused the token (401 bad credentials): set a valid token on the source or in GITHUB_TOKEN."
    if status == 404:
        return (
            f"GitHub answered 404 not found for {repo} (or one of its issues): check the repository name, "
            "and that the token can read it if it is private."
        )
    if status == 410:
        return f"GitHub answered 410 gone for {repo}: issues are disabled or the issue was deleted ({message})."
    if status >= 500:
        return (
            f"GitHub kept answering {status} after {len(RETRY_DELAYS)} retries; what was fetched so far is kept. "
            "Resume the sync later."
        )
    if status == 403:
        return f"GitHub refused the request (403: {message}); check the token's permissions."
    return f"GitHub answered {status}: {message or 'no message'}."


def _run_note_wait(run: SyncRun, seconds: int) -> None:
    run.rate_limit_waits += 1
    run.message = f"Waiting {seconds} s for GitHub's secondary rate limit."
    run.save(update_fields=["rate_limit_waits", "message"])


def _run_wait(run: SyncRun, *, resume_at: datetime, why: str):
    now = timezone.now()
    resume_at = max(resume_at, now + timedelta(seconds=1))
    run.status = SyncRun.Status.WAITING
    run.resume_at = resume_at
    run.rate_limit_waits += 1
    run.message = (
        f"GitHub's {why} rate limit is reached; the sync continues at page {run.next_page} at {resume_at:%H:%M:%S} UTC."
    )
    run.save(update_fields=["status", "resume_at", "rate_limit_waits", "message"])
    raise SyncMustWait(run.pk, int((resume_at - now).total_seconds()) + 1)


def _run_fail(run: SyncRun, message: str, detail: str) -> SyncRun:
    run.status = SyncRun.Status.FAILED
    run.message = message
    run.errors = [
        *run.errors,
        {"page": run.next_page, "message": message, "detail": detail, "at": timezone.now().isoformat()},
    ]
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "message", "errors", "finished_at"])
    return run


@transaction.atomic
def _run_succeed(run: SyncRun) -> SyncRun:
    run.status = SyncRun.Status.SUCCEEDED
    run.finished_at = timezone.now()
    run.message = (
        f"{run.pages_fetched} page{'s' if run.pages_fetched != 1 else ''}: {run.issues_new} new, "
        f"{run.issues_updated} updated, {run.issues_unchanged} unchanged, {run.pull_requests_seen} pull requests."
    )
    run.save(update_fields=["status", "finished_at", "message"])
    GitHubSource.objects.filter(pk=run.source_id).update(last_success_at=run.started_at)
    return run


# -- writing a page ------------------------------------------------------------------------------


@transaction.atomic
def _page_write(*, run: SyncRun, source: GitHubSource, records: list[gh.IssueRecord]) -> PageCounts:
    counts = PageCounts()
    outcome: dict[str, str] = {}
    fresh = []
    for record in records:
        if record.raw.pop("_unchanged", False):
            outcome[record.source_id] = "unchanged"
        else:
            fresh.append(record)
    if fresh:
        outcome.update(_records_upsert(fresh))
        # A new or edited issue whose trace has a crash group's signature: "possibly known" on the group.
        changed = [r.source_id for r in fresh if outcome.get(r.source_id) != "unchanged" and not r.is_pull_request]
        if changed:
            crash_groups_link_reports(
                report_ids=list(Report.objects.filter(source_id__in=changed).values_list("id", flat=True))
            )
    for record in records:
        if record.is_pull_request:
            counts.pull_requests += 1
            if not source.include_pull_requests:
                continue  # kept apart: stored as a pull request, not counted as an issue
        setattr(counts, outcome[record.source_id], getattr(counts, outcome[record.source_id]) + 1)
    run.next_page += 1
    run.pages_fetched += 1
    run.issues_new += counts.new
    run.issues_updated += counts.updated
    run.issues_unchanged += counts.unchanged
    run.pull_requests_seen += counts.pull_requests
    run.save(
        update_fields=[
            "next_page",
            "pages_fetched",
            "issues_new",
            "issues_updated",
            "issues_unchanged",
            "pull_requests_seen",
        ]
    )
    # Last in the page's transaction: the studies holding an edited issue (its framework, labels) recount.
    updated = [source_id for source_id, what in outcome.items() if what == "updated"]
    if updated:
        report_results_changed(report_ids=Report.objects.filter(source_id__in=updated).values_list("id", flat=True))
    return counts


def _records_upsert(records: list[gh.IssueRecord]) -> dict[str, str]:
    """Upsert reports, details, labels, comments, links and code blocks of ``records``;
    returns source_id -> "new", "updated" or "unchanged"."""
    source_ids = [r.source_id for r in records]
    existing = {
        row["source_id"]: row
        for row in Report.objects.filter(source_id__in=source_ids).values(
            "id", "source_id", "content_hash", "state", "title", "body", "framework", "url"
        )
    }
    old_links = set(
        LinkedChange.objects.filter(report__source_id__in=source_ids).values_list("report__source_id", "kind", "ref")
    )
    hashes = {r.source_id: r.content_hash() for r in records}
    changed = [
        r
        for r in records
        if r.source_id not in existing or existing[r.source_id]["content_hash"] != hashes[r.source_id]
    ]
    same = [r for r in records if r not in changed]
    if same:  # a newer updated_at with nothing we keep changed: remember it, count it unchanged
        _details_touch(same, existing)
    outcome = {r.source_id: "unchanged" for r in same}
    outcome.update({r.source_id: "updated" if r.source_id in existing else "new" for r in changed})
    if not changed:
        return outcome

    reports = [
        Report(
            source_id=r.source_id,
            kind=Report.Kind.PULL_REQUEST if r.is_pull_request else Report.Kind.ISSUE,
            framework=gh.framework_for(r.repository),
            title=r.title,
            body=r.body,
            url=r.url,
            state=r.state,
            created_at=r.created_at,
            closed_at=r.closed_at,
            raw=r.raw,
            content_hash=hashes[r.source_id],
        )
        for r in changed
    ]
    ids = reports_upsert(reports=reports)
    changed_ids = [ids[r.source_id] for r in changed]
    report_source_labels_replace(labels_by_report={ids[r.source_id]: r.labels for r in changed}, label_ids={})

    # details
    details = [
        IssueDetails(
            report_id=ids[r.source_id],
            repository=r.repository,
            number=r.number,
            author=r.author,
            is_pull_request=r.is_pull_request,
            reactions_count=r.reactions_count,
            comments_count=r.comments_count,
            github_updated_at=r.github_updated_at,
            links=r.text_links(),
        )
        for r in changed
    ]
    IssueDetails.objects.bulk_create(
        details,
        update_conflicts=True,
        unique_fields=["repository", "number"],
        update_fields=[
            "report",
            "author",
            "is_pull_request",
            "reactions_count",
            "comments_count",
            "github_updated_at",
            "links",
        ],
    )

    # comments and code blocks (comments only when fetched for that record)
    with_comments = [r for r in changed if r.comments is not None]
    refreshed_ids = [ids[r.source_id] for r in with_comments]
    CodeBlock.objects.filter(report_id__in=changed_ids).delete()
    if refreshed_ids:
        Comment.objects.filter(report_id__in=refreshed_ids).delete()
        comments = [
            Comment(
                report_id=ids[r.source_id],
                github_id=c.github_id,
                author=c.author,
                body=c.body,
                created_at=c.created_at,
                updated_at=c.updated_at,
            )
            for r in with_comments
            for c in r.comments
        ]
        Comment.objects.bulk_create(
            comments,
            update_conflicts=True,
            unique_fields=["github_id"],
            update_fields=["report", "author", "body", "created_at", "updated_at"],
        )
    comment_rows = Comment.objects.filter(report_id__in=changed_ids).values_list("id", "report_id", "body")
    blocks = [
        CodeBlock(
            report_id=ids[r.source_id], language=b.language, code=b.code, position=b.position, is_python=b.is_python
        )
        for r in changed
        for b in gh.extract_code_blocks(r.body)
    ]
    blocks += [
        CodeBlock(
            report_id=report_id,
            comment_id=comment_id,
            language=b.language,
            code=b.code,
            position=b.position,
            is_python=b.is_python,
        )
        for comment_id, report_id, body in comment_rows
        for b in gh.extract_code_blocks(body)
    ]
    CodeBlock.objects.bulk_create(blocks, batch_size=1000)

    # linked changes
    links = [
        LinkedChange(
            report_id=ids[r.source_id],
            kind=link.kind,
            ref=link.ref,
            url=link.url,
            title=link.title,
            state=link.state,
            merged=link.merged,
            closes=link.closes,
            event_at=link.event_at,
        )
        for r in changed
        for link in r.links
    ]
    LinkedChange.objects.bulk_create(
        links,
        update_conflicts=True,
        unique_fields=["report", "kind", "ref"],
        update_fields=["url", "title", "state", "merged", "closes", "event_at"],
    )

    # re-review of reports already in a study
    reasons: dict[int, list[str]] = {}
    for r in changed:
        before = existing.get(r.source_id)
        if before is None:
            continue
        why = report_change_reasons(before=before, after=r)
        for link in r.links:
            if (r.source_id, link.kind, link.ref) not in old_links and (link.closes or link.kind == "pull_request"):
                label = f"#{link.ref.split('#')[-1]}" if link.kind == "pull_request" else link.ref[:10]
                why.append(f"linked fix {label} appeared")
        if why:
            reasons[ids[r.source_id]] = why
    if reasons:
        study_items_flag_for_review(reasons_by_report=reasons)

    return outcome


def _details_touch(records: list[gh.IssueRecord], existing: dict) -> None:
    when = {existing[r.source_id]["id"]: r.github_updated_at for r in records}
    details = list(IssueDetails.objects.filter(report_id__in=list(when)).only("id", "report_id"))
    for detail in details:
        detail.github_updated_at = when[detail.report_id]
    IssueDetails.objects.bulk_update(details, ["github_updated_at"])


@transaction.atomic
def github_source_delete(*, source: GitHubSource) -> None:
    """Delete a source and its sync runs; the reports it brought in stay."""
    if source.runs.filter(status__in=[SyncRun.Status.RUNNING]).exists():
        raise ApplicationError("The source is being synced; wait for the sync to finish, then delete it.", status=409)
    source.delete()
