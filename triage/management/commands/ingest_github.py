"""`python manage.py ingest_github owner/name [...]`: sync a repository's issues in this process.

The options define (or update) the source named ``owner/name (command line)``; the sync runs
here without a broker, with a progress bar, and is recorded as a SyncRun like any other. A
rate limit makes the command wait for the reset. The token comes from GITHUB_TOKEN.
"""

import os
import sys
import time
from datetime import UTC, datetime
from datetime import time as clock

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from tqdm import tqdm

from config.errors import ApplicationError
from triage.github import services
from triage.models import GitHubSource, SyncRun


def _moment(value: str, *, end: bool = False) -> datetime:
    moment = parse_datetime(value) if len(value) > 10 else None
    if moment is None:
        try:
            day = parse_date(value) if len(value) == 10 else None
        except ValueError:
            day = None
        if day is None:
            raise CommandError(f"{value!r} is not a date: use YYYY-MM-DD or an ISO date and time.")
        moment = datetime.combine(day, clock.max if end else clock.min)
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment, UTC)


class Command(BaseCommand):
    help = "Sync a GitHub repository's issues (comments, linked fixes, code blocks) into reports."

    def add_arguments(self, parser):
        parser.add_argument("repository", help="owner/name, e.g. tensorflow/tensorflow")
        parser.add_argument("--state", choices=["all", "open", "closed"], default="closed")
        parser.add_argument("--label", action="append", default=[], help="Issues must carry it (repeatable).")
        parser.add_argument("--since", help="Only issues created on or after this date (YYYY-MM-DD).")
        parser.add_argument("--until", help="Only issues created on or before this date (YYYY-MM-DD).")
        parser.add_argument("--query", default="", help="GitHub search syntax (uses the search API).")
        parser.add_argument("--base-url", default="", help="API base URL for GitHub Enterprise.")
        parser.add_argument("--include-pull-requests", action="store_true")
        parser.add_argument("--with-comments", dest="with_comments", action="store_true", default=True)
        parser.add_argument("--no-comments", dest="with_comments", action="store_false")

    def handle(self, *args, **options):
        fields = {
            "name": f"{options['repository']} (command line)",
            "repository": options["repository"],
            "state": options["state"],
            "labels": options["label"],
            "created_from": _moment(options["since"]) if options["since"] else None,
            "created_to": _moment(options["until"], end=True) if options["until"] else None,
            "query": options["query"],
            "base_url": options["base_url"],
            "include_pull_requests": options["include_pull_requests"],
            "with_comments": options["with_comments"],
        }
        try:
            source = GitHubSource.objects.filter(name=fields["name"]).first()
            if source is None:
                source = services.github_source_create(created_by=None, **fields)
            else:
                source = services.github_source_update(source=source, **fields)
            run = services.sync_run_start(source=source, created_by=None, queue=False)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        except ApplicationError as exc:
            raise CommandError(exc.message) from None

        bar = tqdm(unit="pages", file=sys.stderr, disable=options["verbosity"] == 0, desc=source.repository)

        def progress(current: SyncRun):
            bar.update(current.pages_fetched - bar.n)
            bar.set_postfix(new=current.issues_new, updated=current.issues_updated, unchanged=current.issues_unchanged)

        token = os.environ.get("GITHUB_TOKEN", "")
        try:
            while True:
                try:
                    run = services.sync_run_execute(run_id=run.pk, token=token, progress=progress)
                    break
                except services.SyncMustWait as wait:
                    bar.write(f"GitHub's rate limit is reached: waiting {wait.countdown} s for the reset.")
                    time.sleep(wait.countdown)
        finally:
            bar.close()
        summary = (
            f"{run.pages_fetched} pages, {run.issues_new} new, {run.issues_updated} updated, "
            f"{run.issues_unchanged} unchanged, {run.pull_requests_seen} pull requests, "
            f"{run.rate_limit_waits} rate-limit waits (sync run {run.pk})"
        )
        if run.status != SyncRun.Status.SUCCEEDED:
            raise CommandError(f"{run.message} [{summary}]")
        self.stdout.write(summary)
