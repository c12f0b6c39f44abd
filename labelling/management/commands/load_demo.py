"""Load the demo studies: 36 DL-framework issue reports and 4 crash groups (12 fuzzer findings
sent through the crash intake), the "DL framework bugs" codebook, an owner (staff), two annotators
and a viewer, some labels already given; and a second study screened by two blind reviewers, with
a dimension decided by majority. Every report's code blocks are extracted, so a reproducer can be
attached from one. Safe to run twice."""

import json
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from labelling.models import Category, Study, StudyItem
from labelling.releases.services import ReleaseOptions, release_create
from labelling.services.annotations import item_labels_save
from labelling.services.assignments import assignments_make
from labelling.services.codebook_evolution import category_retire
from labelling.services.decision_rules import decision_rule_set
from labelling.services.items import items_add
from labelling.services.rounds import round_close, round_create
from labelling.services.screening import item_screen, screening_vote
from labelling.services.studies import membership_set, study_create
from surveys.demo import DEMO_SURVEY_SLUG, demo_survey_load
from triage.crashes.services import crashes_import
from triage.models import CrashOccurrence, Report
from triage.reports.services import report_code_blocks_refresh, reports_import

DEMO_REPORTS = Path(settings.BASE_DIR) / "triage" / "demo" / "reports.jsonl"
# Fuzzer-shaped crash reports (TensorFlow, PyTorch, ASan), three occurrences of each of four bugs.
DEMO_CRASHES = Path(settings.BASE_DIR) / "triage" / "demo" / "crashes.jsonl"
DEMO_FUZZER = "demo-fuzzer"
DEMO_SLUG = "dl-bugs-demo"
SCREENING_DEMO_SLUG = "dl-bugs-two-screeners-demo"
SCREENING_DEMO_ITEMS = 12
# Votes already cast in the two-screener study, on its first items: (alice, bob); the last one is a
# conflict for the owner.
SCREENING_DEMO_VOTES = [
    (("include", ""), ("include", "")),
    (("include", ""), ("include", "")),
    (("exclude", "Not a framework bug"), ("exclude", "Not a framework bug")),
    (("include", ""), ("exclude", "Duplicate of another report")),
]
DEMO_PASSWORD = "bugsift-demo"
# (username, role, is_staff)
DEMO_PEOPLE = [
    ("owner", "owner", True),
    ("alice", "annotator", False),
    ("bob", "annotator", False),
    ("vera", "viewer", False),
]
# The last few items are left unscreened, to try screening on.
DEMO_UNSCREENED = 6
# Labels already given to the first items: (root_cause, symptom, component, stage) per annotator.
# Alice and Bob agree on most dimensions; where they do not, the item is listed as a disagreement.
DEMO_LABELS = [
    {
        "alice": ("incorrect_exception_handling", "incorrect_functionality", "operation_implementation", "training"),
        "bob": ("incorrect_algorithm", "incorrect_functionality", "operation_implementation", "training"),
    },
    {
        "alice": ("misconfiguration", "build_failure", "", "installation"),
        "bob": ("misconfiguration", "build_failure", "", "installation"),
    },
    {
        "alice": ("incorrect_algorithm", "poor_performance", "user_level_api", "preprocessing"),
        "bob": ("incorrect_algorithm", "poor_performance", "user_level_api", "preprocessing"),
    },
    {
        "alice": ("incorrect_exception_handling", "crash", "operation_implementation", "training"),
        "bob": ("tensor_shape_misalignment", "crash", "operation_implementation", "training"),
    },
    {
        "alice": ("api_misuse", "crash", "user_level_api", "training"),
        "bob": ("api_misuse", "crash", "user_level_api", "training"),
    },
    {
        "alice": ("numerical_issue", "incorrect_functionality", "operation_implementation", "training"),
        "bob": ("incorrect_algorithm", "incorrect_functionality", "operation_implementation", "training"),
    },
    {
        "alice": ("type_issue", "crash", "graph_level", "training"),
        "bob": ("type_issue", "crash", "operation_implementation", "training"),
    },
    {
        "alice": ("environment_incompatibility", "build_failure", "environment_dependent_processing", "installation"),
        "bob": ("environment_incompatibility", "build_failure", "environment_dependent_processing", "installation"),
    },
    {
        "alice": ("api_incompatibility", "crash", "user_level_api", "deployment"),
        "bob": ("api_misuse", "incorrect_functionality", "user_level_api", "deployment"),
    },
    {
        "alice": ("tensor_shape_misalignment", "crash", "operation_implementation", "preprocessing"),
        "bob": ("tensor_shape_misalignment", "crash", "operation_implementation", "preprocessing"),
    },
    {
        "alice": ("concurrency_issue", "hang", "general_utility", "training"),
        "bob": ("concurrency_issue", "hang", "", "training"),
    },
    {
        "alice": ("numerical_issue", "incorrect_functionality", "operation_implementation", "training"),
        "bob": ("numerical_issue", "incorrect_functionality", "operation_implementation", "deployment"),
    },
]
DIMENSIONS = ("root_cause", "symptom", "component", "stage")


class Command(BaseCommand):
    help = "Load the demo study and its users (idempotent) and print how to log in."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000/", help="URL to print for the web app.")

    def handle(self, *args, url, **options):
        users = self._users()
        result = reports_import(source=DEMO_REPORTS)
        crashes = crashes_import(path=DEMO_CRASHES, account_name=DEMO_FUZZER)
        # Reports imported by an older demo had no code blocks: extract them (the same blocks again otherwise).
        report_code_blocks_refresh(report_ids=self._report_ids())
        study = Study.objects.filter(slug=DEMO_SLUG).first()
        if study is None:
            self._study(users)
        else:  # a demo loaded before the viewer existed gets them too
            for username, role, _staff in DEMO_PEOPLE[1:]:
                if not study.memberships.filter(user=users[username]).exists():
                    membership_set(study=study, user=users[username], role=role)
        if not Study.objects.filter(slug=SCREENING_DEMO_SLUG).exists():
            self._screening_study(users)
        survey_token = demo_survey_load(study=Study.objects.get(slug=DEMO_SLUG), owner=users["owner"])
        survey_line = f"  survey ({DEMO_SURVEY_SLUG}, 5 responses): {url}studies/{DEMO_SLUG}/surveys/\n"
        if survey_token:
            survey_line += f"  answer it yourself (an unused link): {url}s/{survey_token}/\n"
        release_line = self._release(users)
        self.stdout.write(
            self.style.SUCCESS(
                f"\nBugsift demo is ready: {url}\n"
                f"  reports: {result.created} new, {result.updated} updated, {result.unchanged} unchanged\n"
                f"  crash groups: {len(self._crash_report_ids())} ({crashes.summary()})\n"
                f"  log in as owner / {DEMO_PASSWORD}   (study owner, staff)\n"
                f"          or alice / {DEMO_PASSWORD}  or bob / {DEMO_PASSWORD}   (annotators)\n"
                f"          or vera / {DEMO_PASSWORD}   (viewer: reads the results)\n"
                f"  add people: Settings > Invitation links, or `manage.py invite {DEMO_SLUG} annotator`\n"
                f"  study: {url}studies/{DEMO_SLUG}/\n"
                f"  two blind screeners per item: {url}studies/{SCREENING_DEMO_SLUG}/screening/\n"
                f"{survey_line}"
                f"  {release_line}: {url}studies/{DEMO_SLUG}/releases/\n"
            )
        )

    @staticmethod
    def _release(users) -> str:
        """Release 1.0.0 of the demo study (a Frictionless data package; the charts left out to keep it small)."""
        study = Study.objects.get(slug=DEMO_SLUG)
        if not study.releases.exists():
            release_create(
                study=study, version="1.0.0", created_by=users["owner"], options=ReleaseOptions(figures=False)
            )
        return f"dataset release {study.releases.first().version}"

    def _crash_report_ids(self) -> list[int]:
        ids = CrashOccurrence.objects.filter(account__name=DEMO_FUZZER).values_list("group__report_id", flat=True)
        return sorted(set(ids))

    def _report_ids(self) -> list[int]:
        with DEMO_REPORTS.open(encoding="utf-8") as lines:
            source_ids = [json.loads(line)["source_id"] for line in lines if line.strip()]
        issues = Report.objects.filter(source_id__in=source_ids).order_by("id").values_list("id", flat=True)
        return [*issues, *self._crash_report_ids()]

    def _users(self):
        User = get_user_model()
        users = {}
        for username, _role, staff in DEMO_PEOPLE:
            user, created = User.objects.get_or_create(username=username, defaults={"is_staff": staff})
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save(update_fields=["password"])
            users[username] = user
        return users

    @transaction.atomic
    def _screening_study(self, users):
        """Screening by two blind reviewers (alice and bob) under the unanimous rule, a conflict
        left for the owner, and the symptom dimension decided by majority."""
        study = study_create(
            slug=SCREENING_DEMO_SLUG,
            name="DL framework bugs, two screeners (demo)",
            description="Each report is screened by two blind reviewers; a split goes to the owner.",
            owner=users["owner"],
            template_slug="dl-framework-bugs",
            overlap_k=2,
            exclusion_reasons=["Not a framework bug", "Duplicate of another report", "Not enough information"],
        )
        study.screening_overlap = 2
        study.save(update_fields=["screening_overlap"])
        for username, role, _staff in DEMO_PEOPLE[1:]:
            membership_set(study=study, user=users[username], role=role)
        report_ids = list(
            Report.objects.filter(source_id__in=self._demo_source_ids())
            .order_by("id")
            .values_list("id", flat=True)[:SCREENING_DEMO_ITEMS]
        )
        items_add(study=study, report_ids=report_ids)
        items = list(StudyItem.objects.filter(study=study).order_by("id"))
        for item, votes in zip(items, SCREENING_DEMO_VOTES, strict=False):
            for username, (decision, reason) in zip(("alice", "bob"), votes, strict=True):
                screening_vote(item=item, screener=users[username], decision=decision, reason=reason)
        decision_rule_set(study=study, rule="majority", dimension_codes=["symptom"])
        return study

    @staticmethod
    def _demo_source_ids() -> list[str]:
        with DEMO_REPORTS.open(encoding="utf-8") as lines:
            return [json.loads(line)["source_id"] for line in lines if line.strip()]

    @transaction.atomic
    def _study(self, users):
        study = study_create(
            slug=DEMO_SLUG,
            name="DL framework bugs (demo)",
            description="Forty framework bug reports to try screening, blind labelling and export.",
            owner=users["owner"],
            template_slug="dl-framework-bugs",
            overlap_k=2,
            exclusion_reasons=[
                "Not a framework bug",
                "Usage question, not a framework bug",
                "Duplicate of another report",
                "Not enough information",
            ],
        )
        for username, role, _staff in DEMO_PEOPLE[1:]:
            membership_set(study=study, user=users[username], role=role)
        items_add(study=study, report_ids=self._report_ids())
        items = list(StudyItem.objects.filter(study=study).order_by("id"))
        for item in items[:-DEMO_UNSCREENED]:
            item_screen(item=item, decision="include", screened_by=users["owner"])
        assignments_make(study=study)
        for item, labels in zip(items, DEMO_LABELS, strict=False):
            for username, values in labels.items():
                item_labels_save(
                    item=item,
                    annotator=users[username],
                    values=dict(zip(DIMENSIONS, values, strict=True)),
                    time_spent_ms=90_000,
                )
        # The codebook's history has something to show: a category the team set aside after the pilot.
        unreported = Category.objects.get(
            dimension__codebook__study=study, dimension__code="symptom", code="unreported"
        )
        category_retire(category=unreported, by=users["owner"])
        self._rounds(study, users, labelled=[item.id for item in items[: len(DEMO_LABELS)]])
        return study

    @staticmethod
    def _rounds(study, users, *, labelled: list[int]):
        """A closed pilot round over the labelled items (its agreement is on the overview) and an
        open second round, a seeded sample of the included items."""
        pilot = round_create(
            study=study, name="Pilot", source="list", item_ids=labelled, created_by=users["owner"],
            description="The first items both annotators labelled, discussed before the codebook was settled.",
        )  # fmt: skip
        round_close(round=pilot, closed_by=users["owner"])
        if StudyItem.objects.filter(study=study, screening=StudyItem.Screening.INCLUDED).count() >= 10:
            round_create(
                study=study, name="Round 2", source="sample", size=10, seed=2026, created_by=users["owner"],
                description="After the pilot's discussion: does agreement rise?",
            )  # fmt: skip
