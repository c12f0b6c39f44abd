"""`python manage.py create_fuzzer_account NAME`: a user + fuzzer account + API token; prints the token."""

from django.core.management.base import BaseCommand, CommandError

from config.errors import ApplicationError
from triage.crashes.services import fuzzer_account_ensure


class Command(BaseCommand):
    help = "Create a fuzzer account (its user and API token) and print the token to post crash reports with."

    def add_arguments(self, parser):
        parser.add_argument("name", help="The fuzzer's name, e.g. freefuzz.")

    def handle(self, *args, name, **options):
        try:
            account, token, created = fuzzer_account_ensure(name=name)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        if created:
            self.stderr.write(f"Created fuzzer account {account.name} (user {account.user.username}).")
        else:
            self.stderr.write(f"Fuzzer account {account.name} already exists; its token:")
        self.stdout.write(token)
