"""Freeze a study as a release: a Frictionless Data Package zip with checksums (docs/releases.md)."""

import sys

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from config.errors import ApplicationError
from labelling.models import Study, StudyItem
from labelling.releases.card import DEFAULT_LICENCE, LICENCES
from labelling.releases.services import ReleaseOptions, release_create


class Command(BaseCommand):
    # The system checks import every URL's views (the analytics charts, plotly, ...): about 40 MB that a
    # release never uses, in a command whose peak memory counts (issue 16). `manage.py check` checks the site.
    requires_system_checks = []
    help = (
        "Freeze a study as release VERSION (a semantic version greater than its latest release): a zip laid out "
        "as a Frictionless Data Package (data/items.csv|parquet, data/labels.csv|parquet, data/adjudications.csv, "
        "data/reproductions.csv, codebook.json, agreement.json, README.md dataset card, CITATION.cff, LICENSE, "
        "checksums.sha256), stored with the study's releases and, with --output, written to FILE.zip too. "
        "Annotators are pseudonymised (A1, A2, ...) unless --name-annotators; report bodies are left out unless "
        "--include-bodies. See docs/releases.md."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        # --version is the release's version here, not Django's "show the version" flag.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("slug", help="The study's slug.")
        parser.add_argument("--version", dest="release_version", required=True, help="e.g. 1.0.0")
        parser.add_argument("--output", "-o", help="Also write the zip here.")
        parser.add_argument("--include-bodies", action="store_true", help="Put the reports' bodies in items.csv.")
        parser.add_argument("--name-annotators", action="store_true", help="Usernames instead of A1, A2, ...")
        parser.add_argument(
            "--licence", default=DEFAULT_LICENCE, choices=list(LICENCES), help=f"Default {DEFAULT_LICENCE}."
        )
        parser.add_argument("--no-figures", action="store_true", help="Leave the analytics charts out.")
        parser.add_argument("--by", help="Username recorded as the release's creator (default: none).")

    def handle(self, *args, slug, release_version, output=None, **options):
        study = Study.objects.filter(slug=slug).first()
        if study is None:
            known = ", ".join(Study.objects.order_by("slug").values_list("slug", flat=True)[:10]) or "none yet"
            raise CommandError(f"No study with slug '{slug}'. Known studies: {known}.")
        by = None
        if options.get("by"):
            by = get_user_model().objects.filter(username=options["by"]).first()
            if by is None:
                raise CommandError(f"No user '{options['by']}' (--by).")
        total = StudyItem.objects.filter(study=study).count()
        with tqdm(total=total, unit="items", file=sys.stderr, disable=None if options["verbosity"] else True) as bar:
            try:
                release = release_create(
                    study=study,
                    version=release_version,
                    created_by=by,
                    options=ReleaseOptions(
                        include_bodies=options["include_bodies"],
                        name_annotators=options["name_annotators"],
                        licence=options["licence"],
                        figures=not options["no_figures"],
                    ),
                    output=output,
                    progress=bar.update,
                )
            except ApplicationError as exc:
                raise CommandError(exc.message) from exc
        if options["verbosity"] >= 1:
            where = f" and {output}" if output else ""
            self.stdout.write(
                f"Release {release.version} of '{slug}': {release.counts['items']} items, {release.counts['labels']} "
                f"labels, {release.size} bytes, sha256 {release.sha256}, stored as {release.file.name}{where}."
            )
