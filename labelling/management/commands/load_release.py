"""Load a release package (made by `manage.py release`) into a new study of this instance."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from config.errors import ApplicationError
from labelling.releases.load import release_load
from triage.permissions import can_create_studies


class Command(BaseCommand):
    help = (
        "Check a release zip (frictionless validation, every file's SHA-256, the codebook against the data) and "
        "create a study from it: the same reports (matched by source_id; existing ones reused), codebook, labels, "
        "final labels and adjudications. A package with any problem is refused with the list of problems and "
        "nothing is written. See docs/releases.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The release .zip.")
        parser.add_argument("--study", help="Slug of the new study (default: the package's).")
        parser.add_argument("--owner", required=True, help="Username of the new study's owner.")

    def handle(self, *args, file, study=None, owner, **options):
        user = get_user_model().objects.filter(username=owner).first()
        if user is None:
            raise CommandError(f"No user '{owner}'. Give an existing username with --owner.")
        if not can_create_studies(user):
            raise CommandError(f"'{owner}' may not create studies (staff, or the researcher or curator group).")
        try:
            with open(file, "rb") as fh:
                result = release_load(source=fh, owner=user, slug=study)
        except OSError as exc:
            raise CommandError(f"Cannot read '{file}': {exc.strerror}.") from exc
        except ApplicationError as exc:
            lines = [exc.message] + [f"  - {d['message']}" for d in exc.details if isinstance(d, dict)][1:]
            raise CommandError("\n".join(lines)) from exc
        if options["verbosity"] >= 1:
            r = result.as_dict()
            self.stdout.write(
                f"Loaded study '{r['study']}': {r['items']} items ({r['reports_created']} reports created, "
                f"{r['reports_reused']} reused), {r['labels']} labels, {r['final_labels']} final labels, "
                f"{r['adjudications']} adjudications, {r['annotators']} annotators."
            )
            for s in r["surveys"]:
                renamed = f" as '{s['slug']}' (its slug is taken here)" if s["slug"] != s["name"] else ""
                self.stdout.write(
                    f"Survey '{s['name']}' loaded{renamed}: {s['responses']} responses, {s['answers']} answers."
                )
