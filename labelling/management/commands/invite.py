"""Print invitation links: `manage.py invite STUDY ROLE [--count N] [--days D] [--base-url URL]`.

Each link works once; only a hash of it is stored, so copy the links from the output.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from labelling.models import Membership, Study
from labelling.services.invitations import DEFAULT_DAYS, invitations_create


class Command(BaseCommand):
    help = "Make one-time invitation links to a study (the person sets a username and password) and print them."

    def add_arguments(self, parser):
        parser.add_argument("study", help="The study's slug.")
        parser.add_argument("role", choices=Membership.Role.values)
        parser.add_argument("--count", type=int, default=1, help="How many links (one per person). Default 1.")
        parser.add_argument(
            "--days", type=int, default=DEFAULT_DAYS, help=f"Days each link works. Default {DEFAULT_DAYS}."
        )
        parser.add_argument(
            "--base-url",
            default=settings.BUGSIFT_BASE_URL,
            help="The site's address the links start with (default BUGSIFT_BASE_URL: %(default)s).",
        )

    def handle(self, *args, study, role, count, days, base_url, **options):
        found = Study.objects.filter(slug=study).first()
        if found is None:
            raise CommandError(f"No study '{study}'. The study list (or the API, GET /api/studies/) shows the slugs.")
        try:
            made = invitations_create(study=found, role=role, count=count, days=days, created_by=None)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        base = base_url.rstrip("/")
        for m in made:
            self.stdout.write(base + reverse("labelling:invite", args=[m.token]))
        plural = "link" if len(made) == 1 else "links"
        self.stderr.write(
            f"{len(made)} {role} {plural} to '{found.slug}', each usable once, until "
            f"{made[0].invitation.expires_at:%Y-%m-%d %H:%M} UTC."
        )
