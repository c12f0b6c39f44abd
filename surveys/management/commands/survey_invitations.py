"""Print survey invitation links: `manage.py survey_invitations SLUG --count N [--batch LABEL] [--base-url URL]`.

One URL per line on standard output (the summary goes to standard error), so the output can be
piped into a mail merge. Each link answers once; only a hash of it is stored.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from config.errors import ApplicationError
from surveys.models import Survey
from surveys.services import invitations_make


class Command(BaseCommand):
    help = "Make anonymous invitation links to a survey (one response each) and print them, one a line."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="The survey's slug.")
        parser.add_argument("--count", type=int, required=True, help="How many links (one per respondent).")
        parser.add_argument("--batch", default="", help="A label for this batch (e.g. the mailing it goes out with).")
        parser.add_argument(
            "--base-url",
            default=settings.BUGSIFT_BASE_URL,
            help="The site's address the links start with (default BUGSIFT_BASE_URL: %(default)s).",
        )

    def handle(self, *args, slug, count, batch, base_url, **options):
        survey = Survey.objects.filter(slug=slug).first()
        if survey is None:
            raise CommandError(f"No survey '{slug}'. A study's Surveys page (or GET /api/surveys/) shows the slugs.")
        try:
            made = invitations_make(survey=survey, count=count, batch=batch)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        base = base_url.rstrip("/")
        for m in made:
            self.stdout.write(base + reverse("surveys:respond", args=[m.token]))
        note = (
            "" if survey.status == Survey.Status.OPEN else f" (the survey is {survey.status}: they work once it opens)"
        )
        self.stderr.write(f"{len(made)} links to '{survey.slug}', each answering once{note}.")
