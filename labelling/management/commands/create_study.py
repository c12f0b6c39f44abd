"""Create a study from a codebook template, e.g. `manage.py create_study tf-bugs --template dl-framework-bugs`,
or from a codebook JSON file (another study's export): `--codebook-file other-codebook.json`."""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from config.errors import ApplicationError
from labelling.codebook_templates import list_templates, template_slugs
from labelling.services.studies import study_create
from triage.permissions import can_create_studies


def list_templates_by_slug() -> dict[str, dict]:
    return {t["slug"]: t for t in list_templates()}


class Command(BaseCommand):
    help = (
        "Create a study whose codebook is a copy of a template. The owner (default: the first superuser) "
        "becomes its only member; add annotators in the study settings."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="Short name used in links, e.g. tf-silent-bugs.")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument(
            "--template", help=f"Codebook template: {' | '.join(template_slugs()) or 'none installed'}."
        )
        source.add_argument(
            "--codebook-file",
            help="A codebook JSON file in the template format (e.g. a study's codebook export).",
        )
        parser.add_argument("--owner", help="Username of the owner (default: the first superuser).")
        parser.add_argument("--name", help="Study name (default: the template's name).")
        parser.add_argument("--k", type=int, default=2, help="Annotators per item (default 2).")
        parser.add_argument("--description", default="", help="What the study is about.")

    def handle(
        self, *args, slug, template=None, codebook_file=None, owner=None, name=None, k=2, description="", **options
    ):
        codebook = None
        if codebook_file:
            path = Path(codebook_file)
            if not path.is_file():
                raise CommandError(f"No such codebook file: {codebook_file}.")
            codebook = path.read_bytes()
        else:
            valid = template_slugs()
            if template not in valid:
                raise CommandError(f"Unknown template '{template}'. Valid templates: {', '.join(valid) or 'none'}.")
        owner_user = self._owner(owner)
        if not can_create_studies(owner_user):
            raise CommandError(
                f"{owner_user.get_username()} may not own a new study: add them to the researcher group first "
                f"(`manage.py site_group add {owner_user.get_username()} researcher`)."
            )
        if not name:
            name = list_templates_by_slug()[template]["name"] if template else slug
        try:
            study = study_create(
                slug=slug,
                name=name,
                owner=owner_user,
                template_slug=template,
                codebook=codebook,
                description=description,
                overlap_k=k,
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        codebook = study.codebook
        dims = codebook.dimensions.count()
        self.stdout.write(
            self.style.SUCCESS(
                f"Created study '{study.slug}' ({study.name}) owned by {owner_user.get_username()}, "
                f"k={study.overlap_k}, "
                f"codebook '{codebook.name}' with {dims} dimensions."
            )
        )

    def _owner(self, username):
        User = get_user_model()
        if username:
            user = User.objects.filter(username=username).first()
            if user is None:
                known = list(User.objects.order_by("username").values_list("username", flat=True)[:20])
                raise CommandError(
                    f"Unknown owner '{username}'. Valid users: {', '.join(known) or 'none (create one first)'}"
                    + (", ..." if len(known) == 20 else "")
                    + "."
                )
            return user
        user = User.objects.filter(is_superuser=True).order_by("id").first()
        if user is None:
            raise CommandError(
                "No --owner given and there is no superuser. Pass --owner USERNAME or run createsuperuser first."
            )
        return user
