"""Grant or take back the site roles: `manage.py site_group add alice curator`,
`manage.py site_group remove alice curator`, `manage.py site_group list`.

The groups and their permissions are defined in triage/permissions.py; every call first makes
the database's groups equal to that definition. Staff can do the same in the admin.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from config.errors import ApplicationError
from triage.permissions import SITE_GROUPS, site_group_membership_set, site_groups_ensure


class Command(BaseCommand):
    help = "Add people to, or remove them from, the site groups (curator, researcher); or list them."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["add", "remove", "list"])
        parser.add_argument("username", nargs="?", help="The account (for add and remove).")
        parser.add_argument("group", nargs="?", choices=list(SITE_GROUPS), help="The site group.")

    def handle(self, *args, action, username=None, group=None, **options):
        groups = site_groups_ensure()
        if action == "list":
            for name, (purpose, permissions) in SITE_GROUPS.items():
                members = sorted(groups[name].user_set.values_list("username", flat=True))
                self.stdout.write(f"{name}: {purpose}")
                self.stdout.write(f"  permissions: {', '.join(permissions)}")
                self.stdout.write(f"  members: {', '.join(members) or '(none)'}")
            return
        if not username or not group:
            raise CommandError(f"Usage: manage.py site_group {action} USERNAME {{{','.join(SITE_GROUPS)}}}")
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No account named '{username}'. Create it first, in the admin (Users).")
        try:
            site_group_membership_set(user=user, group=group, member=action == "add")
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        verb = "is now in" if action == "add" else "is no longer in"
        self.stdout.write(self.style.SUCCESS(f"{username} {verb} the {group} group."))
