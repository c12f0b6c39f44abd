"""Who may reach what: every URL pattern and every API operation, as each kind of user.

The pages are enumerated from the URLconf and the API operations from the OpenAPI schema, so a
new page or endpoint fails here until ``EXPECTED`` says who may use it. Each request runs inside a
savepoint that is rolled back, so a refused write is checked to have written nothing and an
allowed one (an empty form or body: a 400 is fine, it got past the access check) leaves the
world as it was for the next role.

The roles: anonymous; a logged-in user who is in no study and no site group (``nonmember``);
an annotator of the blind study (``annotator``); its viewer, adjudicator and owner (the owner is
also a researcher, as study owners are); a curator, who is in no study; and a staff user.

For the annotator of the blind study every page and API read that answers is read again after
the other annotator labels (agreeing, then disagreeing): the body must not change and must not
contain the other annotator's notes. That is the oracle of the blind-labelling issue closed for
every surface at once, including the triage pages an annotator can open.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import transaction
from django.test import Client
from rest_framework.test import APIClient

from labelling.models import Membership
from labelling.services.annotations import item_labels_save
from labelling.services.invitations import invitations_create
from labelling.services.rounds import round_create
from surveys.services import invitations_make as survey_invitations_make
from surveys.services import survey_create, survey_open
from tests.factories import (
    AnnotationFactory,
    MembershipFactory,
    ReleaseFactory,
    ReproducerFactory,
    ReproductionFactory,
    ReproductionRunFactory,
    RunnerFactory,
    UserFactory,
)
from tests.fakes.crash_traces import crash_report
from tests.responses import body_text
from triage.crashes.services import crashes_ingest
from triage.models import CrashGroup, FuzzerAccount, GitHubSource, ImportJob, SyncRun
from triage.permissions import site_group_membership_set

pytestmark = pytest.mark.django_db

SURVEY = {
    "title": "Matrix survey",
    "sections": [{"title": "One", "questions": [{"code": "q", "kind": "single", "text": "?", "options": ["a"]}]}],
}
ROLES = ("anonymous", "nonmember", "annotator", "viewer", "adjudicator", "owner", "curator", "staff")
BOB_NOTES = ("quokka-note-only-bob-wrote", "pangolin-note-only-bob-wrote")

# Outcomes: how a response is classified.
ALLOWED = "allowed"  # 2xx, a redirect that is not to the login page, 400/409 (past the access check)
LOGIN = "login"  # anonymous: sent to the login page, or 401/403 from the API
FORBIDDEN = "403"
HIDDEN = "404"  # a study or object the user may not know of
METHOD = "405"  # the URL takes other methods


def _policy(**given) -> dict[str, str]:
    """An outcome per role; ``rest`` fills the roles not named."""
    rest = given.pop("rest", None)
    policy = {role: given.get(role, rest) for role in ROLES}
    assert None not in policy.values(), given
    return policy


# Study-level access: non-members (and the curator, who is in no study) do not learn it exists.
STUDY_MEMBER = _policy(anonymous=LOGIN, nonmember=HIDDEN, curator=HIDDEN, rest=ALLOWED)
# The adjudicator (labelling/permissions.py): a member who reads every label of a disagreement and
# decides its final label (can_adjudicate), reads the decisions (can_read_decisions), but neither
# the results (items, agreement, export: can_read_results) nor labels or manages anything.
STUDY_RESULTS = _policy(
    anonymous=LOGIN, nonmember=HIDDEN, curator=HIDDEN, annotator=FORBIDDEN, adjudicator=FORBIDDEN, rest=ALLOWED
)
STUDY_DECISIONS = {**STUDY_RESULTS, "adjudicator": ALLOWED}
# Analytics (can_view_analytics) and survey results (can_read_survey_results): the adjudicator too
# (its charts of agreement and progress are the owners' and viewers': tests/labelling/test_analytics.py).
STUDY_CHARTS = {**STUDY_RESULTS, "adjudicator": ALLOWED}
STUDY_ANNOTATE = _policy(
    anonymous=LOGIN, nonmember=HIDDEN, curator=HIDDEN, viewer=FORBIDDEN, adjudicator=FORBIDDEN, rest=ALLOWED
)
STUDY_OWNER = _policy(
    anonymous=LOGIN,
    nonmember=HIDDEN,
    curator=HIDDEN,
    annotator=FORBIDDEN,
    viewer=FORBIDDEN,
    adjudicator=FORBIDDEN,
    rest=ALLOWED,
)
STUDY_ADJUDICATE = {**STUDY_OWNER, "adjudicator": ALLOWED}
# Site-level access (triage/permissions.py).
LOGGED_IN = _policy(anonymous=LOGIN, rest=ALLOWED)
PUBLIC = _policy(rest=ALLOWED)
CURATOR = _policy(anonymous=LOGIN, curator=ALLOWED, staff=ALLOWED, rest=FORBIDDEN)
RESEARCHER = _policy(anonymous=LOGIN, owner=ALLOWED, curator=ALLOWED, staff=ALLOWED, rest=FORBIDDEN)
# The GitHub source is the curator's, the import job too: those without the site right get a
# 403, others with it a 404 for another's (tests/triage/github and tests/triage/reports).
SOURCE_OWNER = CURATOR
CREATOR = _policy(anonymous=LOGIN, curator=ALLOWED, staff=ALLOWED, rest=HIDDEN)
# Labelling one item: the annotators it is assigned to (not the owner, here).
ASSIGNED = _policy(anonymous=LOGIN, annotator=ALLOWED, viewer=FORBIDDEN, adjudicator=FORBIDDEN, rest=HIDDEN)
NO_SUCH_METHOD = _policy(rest=METHOD)
NO_SUCH_METHOD_LOGIN = _policy(anonymous=LOGIN, rest=METHOD)
STAFF = _policy(anonymous=LOGIN, staff=ALLOWED, rest=FORBIDDEN)


# ``"METHOD name"`` for pages (URL name), ``"METHOD /api/path/"`` for API operations (schema path).
EXPECTED: dict[str, dict[str, str]] = {}


def _expect(policy: dict[str, str], *keys: str) -> None:
    for key in keys:
        assert key not in EXPECTED, f"{key} is listed twice"
        EXPECTED[key] = policy


# ---------------------------------------------------------------------------------------- pages
_expect(PUBLIC, "GET healthz", "GET login", "POST login", "GET api-docs", "GET api-redoc", "GET api-schema")
_expect(NO_SUCH_METHOD, "POST healthz", "POST api-docs", "POST api-redoc", "POST api-schema")
_expect(_policy(rest=LOGIN), "POST logout")  # logged out, and sent to the login page
# Accounts: password change for the logged in; reset and the invitation link for anyone (the
# invitation: sign-up form for the anonymous, accept for the others, 409 for a member already).
_expect(LOGGED_IN, "GET password_change", "POST password_change", "GET password_change_done")
_expect(NO_SUCH_METHOD_LOGIN, "POST password_change_done")
_expect(
    PUBLIC,
    "GET password_reset",
    "POST password_reset",
    "GET password_reset_done",
    "GET password_reset_confirm",
    "POST password_reset_confirm",
    "GET password_reset_complete",
    "GET labelling:invite",
    "POST labelling:invite",
)
_expect(NO_SUCH_METHOD, "POST password_reset_done", "POST password_reset_complete")
_expect(NO_SUCH_METHOD, "GET logout")
_expect(LOGGED_IN, "GET labelling:study-list")
_expect(NO_SUCH_METHOD_LOGIN, "POST labelling:study-list")
_expect(RESEARCHER, "GET labelling:study-create", "POST labelling:study-create")
_expect(RESEARCHER, "GET labelling:release-upload", "POST labelling:release-upload")  # it creates a study
_expect(STUDY_MEMBER, "GET labelling:study-detail", "GET labelling:codebook", "GET labelling:codebook-export")
_expect(
    NO_SUCH_METHOD_LOGIN, "POST labelling:study-detail", "POST labelling:codebook", "POST labelling:codebook-export"
)
_expect(STUDY_ANNOTATE, "GET labelling:label-next")
_expect(ASSIGNED, "GET labelling:label-item", "POST labelling:label-item")
_expect(NO_SUCH_METHOD_LOGIN, "POST labelling:label-next")
_expect(
    STUDY_RESULTS,
    "GET labelling:items",
    "GET labelling:item-detail",  # every annotator's labels and notes of one item
    "GET labelling:disagreements",
    "GET labelling:agreement",
    "GET labelling:export",
    "GET labelling:releases",  # every label, pseudonymised or not: like the exports
    "GET labelling:release-download",
)
_expect(STUDY_CHARTS, "GET labelling:analytics", "GET labelling:analytics-chart", "GET labelling:analytics-compare")
_expect(STUDY_ADJUDICATE, "GET labelling:adjudicate", "POST labelling:adjudicate-save")  # can_adjudicate
_expect(STUDY_MEMBER, "GET labelling:rounds", "GET labelling:round-detail")  # figures: can_view_agreement
_expect(STUDY_OWNER, "POST labelling:round-create", "POST labelling:round-close", "POST labelling:round-reopen")
_expect(
    NO_SUCH_METHOD_LOGIN,
    "POST labelling:rounds",
    "POST labelling:round-detail",
    "GET labelling:round-create",
    "GET labelling:round-close",
    "GET labelling:round-reopen",
)
_expect(
    STUDY_OWNER,
    "GET labelling:study-settings",
    "POST labelling:study-settings",
    "POST labelling:study-member-add",
    "POST labelling:study-member",
    "POST labelling:study-invitations",
    "POST labelling:study-invitation-revoke",
    "GET labelling:screening",  # annotators too when several screeners vote on each item (not this study)
    "POST labelling:screening-decide",
    "POST labelling:screening-resolve",
    "POST labelling:study-decision-rule",
    "POST labelling:items-add-all",
    "POST labelling:items-sample",
    "POST labelling:item-reviewed",
    "POST labelling:assignments",
    "POST labelling:dimension-add",
    "GET labelling:dimension-edit",
    "POST labelling:dimension-edit",
    "POST labelling:dimension-delete",
    "POST labelling:category-add",
    "GET labelling:category-edit",
    "POST labelling:category-edit",
    "POST labelling:category-delete",
    "POST labelling:releases",  # only the owner freezes a release
    # codebook evolution: rename, merge, split, move, retire (issue 13)
    "GET labelling:category-change",
    "POST labelling:category-change",
    "GET labelling:dimension-rename",
    "POST labelling:dimension-rename",
)
_expect(
    NO_SUCH_METHOD_LOGIN,
    "POST labelling:items",
    "POST labelling:item-detail",
    "POST labelling:disagreements",
    "POST labelling:agreement",
    "POST labelling:export",
    "POST labelling:release-download",
    "POST labelling:analytics",
    "POST labelling:analytics-chart",
    "POST labelling:analytics-compare",
    "GET labelling:assignments",
    "GET labelling:study-member-add",
    "GET labelling:study-member",
    "GET labelling:study-invitations",
    "GET labelling:study-invitation-revoke",
    "POST labelling:screening",
    "GET labelling:screening-decide",
    "GET labelling:screening-resolve",
    "GET labelling:study-decision-rule",
    "POST labelling:adjudicate",
    "GET labelling:adjudicate-save",
    "GET labelling:items-add-all",
    "GET labelling:items-sample",
    "GET labelling:item-reviewed",
    "GET labelling:dimension-add",
    "GET labelling:dimension-delete",
    "GET labelling:category-add",
    "GET labelling:category-delete",
)
# Surveys: the study's owner builds them; owners and viewers see the list; anyone with a link answers.
_expect(STUDY_RESULTS, "GET surveys:survey-list")
_expect(
    STUDY_OWNER,
    "POST surveys:survey-list",
    "GET surveys:survey-edit",
    "POST surveys:survey-edit",
    "POST surveys:survey-status",
    "GET surveys:survey-invitations",
    "POST surveys:survey-invitations",
    "POST surveys:survey-settings",
    "POST surveys:survey-open-link",
)
_expect(
    NO_SUCH_METHOD_LOGIN, "GET surveys:survey-status", "GET surveys:survey-settings", "GET surveys:survey-open-link"
)
_expect(
    PUBLIC, "GET surveys:respond", "POST surveys:respond", "GET surveys:respond-section", "POST surveys:respond-section"
)
# Survey results: owners, viewers and adjudicators (surveys/results_permissions.py); importing responses: owners.
_expect(STUDY_CHARTS, "GET surveys:results", "GET surveys:results-export")
_expect(NO_SUCH_METHOD_LOGIN, "POST surveys:results", "POST surveys:results-export")
_expect(STUDY_OWNER, "GET surveys:responses-import", "POST surveys:responses-import")
# Reports, crash groups, reproductions and runners: anyone logged in reads them.
_expect(
    LOGGED_IN,
    "GET triage:report-list",
    "GET triage:report-detail",
    "GET triage:report-reproduction",
    "GET triage:crash-list",
    "GET triage:crash-detail",
    "GET triage:reproduction-detail",
    "GET triage:reproduction-progress",
    "GET triage:run-detail",
    "GET triage:runner-list",
    "GET triage:reports-overview",  # the GitHub sync chart counts only the syncs of sources one may see
)
_expect(
    NO_SUCH_METHOD_LOGIN,
    "POST triage:reports-overview",
    "POST triage:report-list",
    "POST triage:report-detail",
    "POST triage:report-reproduction",
    "POST triage:crash-list",
    "POST triage:crash-detail",
    "POST triage:reproduction-detail",
    "POST triage:reproduction-progress",
    "POST triage:run-detail",
    "POST triage:runner-list",
    "GET triage:crash-merge",
    "GET triage:crash-split",
    "GET triage:crash-link-known",
    "GET triage:github-source-sync",
    "GET triage:github-run-resume",
    "GET triage:reproducer-run",
    "GET triage:reproducer-bisect",
    "GET triage:run-rejudge",
)
_expect(
    CURATOR,
    "GET triage:import",
    "POST triage:import",
    "POST triage:crash-merge",
    "POST triage:crash-split",
    "POST triage:crash-link-known",
    "GET triage:github-sources",
    "POST triage:github-sources",
)
_expect(CREATOR, "GET triage:import-job", "GET triage:import-job-progress")
_expect(NO_SUCH_METHOD_LOGIN, "POST triage:import-job", "POST triage:import-job-progress")
_expect(CREATOR, "GET /api/import-jobs/{id}/")
_expect(
    SOURCE_OWNER,
    "GET triage:github-source",
    "POST triage:github-source",
    "POST triage:github-source-sync",
    "GET triage:github-run",
    "GET triage:github-run-progress",
    "POST triage:github-run-resume",
)
_expect(NO_SUCH_METHOD_LOGIN, "POST triage:github-run", "POST triage:github-run-progress")
_expect(RESEARCHER, "GET triage:reproducer-new", "POST triage:reproducer-new", "POST triage:reproducer-run")
_expect(RESEARCHER, "POST triage:reproducer-bisect", "POST triage:run-rejudge")

# ----------------------------------------------------------------------------------------- API
_expect(PUBLIC, "POST /api/auth/token/")
_expect(LOGGED_IN, "GET /api/studies/")
_expect(RESEARCHER, "POST /api/studies/", "POST /api/releases/load/")  # loading a release creates a study
_expect(
    STUDY_MEMBER,
    "GET /api/studies/{slug}/",
    "GET /api/studies/{slug}/codebook/",
    "GET /api/studies/{slug}/codebook/dimensions/",
    "GET /api/studies/{slug}/codebook/dimensions/{id}/",
    "GET /api/studies/{slug}/codebook/dimensions/{id}/categories/",
    "GET /api/studies/{slug}/codebook/categories/{id}/",
    "GET /api/studies/{slug}/codebook/export/",
    "GET /api/studies/{slug}/codebook/history/",  # counts hidden from a blind study's annotators
    "GET /api/studies/{slug}/annotations/",
    "GET /api/studies/{slug}/items/{item_id}/annotations/",
    "GET /api/studies/{slug}/assignments/",  # an annotator's own
    "GET /api/studies/{slug}/members/",  # who is in the study, not what they did
    "GET /api/studies/{slug}/screening-votes/",  # a blind annotator's own only
)
_expect(
    STUDY_ANNOTATE,
    "GET /api/studies/{slug}/next-item/",
)
_expect(ASSIGNED, "PUT /api/studies/{slug}/items/{item_id}/annotations/")
_expect(STUDY_DECISIONS, "GET /api/studies/{slug}/adjudications/")  # can_read_decisions
_expect(
    STUDY_ADJUDICATE,  # can_adjudicate
    "GET /api/studies/{slug}/adjudication/next/",
    "POST /api/studies/{slug}/items/{item_id}/adjudication/",
)
_expect(STUDY_MEMBER, "GET /api/studies/{slug}/rounds/", "GET /api/studies/{slug}/rounds/{id}/")
_expect(
    STUDY_OWNER,
    "POST /api/studies/{slug}/rounds/",
    "POST /api/studies/{slug}/rounds/{id}/close/",
    "POST /api/studies/{slug}/rounds/{id}/reopen/",
)
_expect(
    STUDY_RESULTS,
    "GET /api/studies/{slug}/items/",
    "GET /api/studies/{slug}/disagreements/",
    "GET /api/studies/{slug}/agreement/",
    "GET /api/studies/{slug}/agreement/confusion/",  # 400 without its parameters: past the access check
    "GET /api/studies/{slug}/final-labels/",
    "GET /api/studies/{slug}/draws/",
    "GET /api/studies/{slug}/export/",
    "GET /api/studies/{slug}/releases/",
    "GET /api/studies/{slug}/releases/{version}/",
    "GET /api/studies/{slug}/releases/{version}/download/",
)
_expect(
    STUDY_CHARTS,
    "GET /api/studies/{slug}/charts/",
    "GET /api/studies/{slug}/charts/distribution/",  # 400 without its parameters: past the access check
    "GET /api/studies/{slug}/charts/crosstab/",
    "GET /api/studies/{slug}/charts/{chart_id}/",
)
_expect(
    STUDY_OWNER,
    "PATCH /api/studies/{slug}/",
    "POST /api/studies/{slug}/items/",
    "POST /api/studies/{slug}/items/add-by-filter/",
    "POST /api/studies/{slug}/items/sample/",
    "POST /api/studies/{slug}/items/{item_id}/reviewed/",
    "POST /api/studies/{slug}/items/{item_id}/screen/",  # annotators too with several screeners per item
    "POST /api/studies/{slug}/items/{item_id}/screening-decision/",
    "POST /api/studies/{slug}/decision-rules/",
    "POST /api/studies/{slug}/assignments/",
    "POST /api/studies/{slug}/labels/import/",
    "POST /api/studies/{slug}/releases/",
    "POST /api/studies/{slug}/members/",
    "GET /api/studies/{slug}/invitations/",  # only owners see who was invited as what
    "POST /api/studies/{slug}/invitations/",
    "DELETE /api/studies/{slug}/invitations/{id}/",
    "PATCH /api/studies/{slug}/members/{user_id}/",
    "DELETE /api/studies/{slug}/members/{user_id}/",
    "POST /api/studies/{slug}/codebook/dimensions/",
    "PATCH /api/studies/{slug}/codebook/dimensions/{id}/",
    "DELETE /api/studies/{slug}/codebook/dimensions/{id}/",
    "POST /api/studies/{slug}/codebook/dimensions/{id}/categories/",
    "PATCH /api/studies/{slug}/codebook/categories/{id}/",
    "DELETE /api/studies/{slug}/codebook/categories/{id}/",
    "POST /api/studies/{slug}/codebook/categories/{id}/rename/",
    "POST /api/studies/{slug}/codebook/categories/{id}/merge/",
    "POST /api/studies/{slug}/codebook/categories/{id}/split/",
    "POST /api/studies/{slug}/codebook/categories/{id}/move/",
    "POST /api/studies/{slug}/codebook/categories/{id}/retire/",
    "POST /api/studies/{slug}/codebook/categories/{id}/restore/",
    "POST /api/studies/{slug}/codebook/dimensions/{id}/rename/",
)
# One annotation (the other annotator's): hidden from the annotator of a blind study.
_expect(
    _policy(anonymous=LOGIN, nonmember=HIDDEN, curator=HIDDEN, annotator=HIDDEN, rest=ALLOWED),
    "GET /api/annotations/{id}/",
)
_expect(
    LOGGED_IN,
    "GET /api/reports/",
    "GET /api/reports/{id}/",
    "GET /api/reports/{id}/reproducers/",
    "GET /api/reproducers/{id}/",
    "GET /api/reproductions/{id}/",
    "GET /api/crash-groups/",
    "GET /api/crash-groups/{id}/",
    "GET /api/runners/",
    "GET /api/reports/overview/",
    "GET /api/reports/overview/{overview_chart}/",
)
_expect(
    CURATOR,
    "POST /api/reports/import/",
    "GET /api/github/sources/",
    "POST /api/github/sources/",
    "GET /api/github/runs/",
)
_expect(
    SOURCE_OWNER,
    "GET /api/github/sources/{id}/",
    "PATCH /api/github/sources/{id}/",
    "DELETE /api/github/sources/{id}/",
    "POST /api/github/sources/{id}/sync/",
    "GET /api/github/runs/{id}/",
)
_expect(
    RESEARCHER,
    "POST /api/reports/{id}/reproducers/",
    "POST /api/reproducers/{id}/reproductions/",
    "POST /api/reproducers/{id}/bisections/",
    "POST /api/reproduction-runs/{id}/rejudge/",
)
# Surveys: the list is filtered by role; POST answers 400 to an empty body before it looks at the
# study (its owner check is tested in tests/surveys/test_surveys_api.py). Answering is public.
_expect(LOGGED_IN, "GET /api/surveys/", "POST /api/surveys/")
_expect(PUBLIC, "GET /api/surveys/respond/{survey_token}/", "POST /api/surveys/respond/{survey_token}/")
_expect(STUDY_CHARTS, "GET /api/surveys/{survey}/results/", "GET /api/surveys/{survey}/export/")
_expect(STUDY_OWNER, "POST /api/surveys/{survey}/responses/import/")
# Crash batches come from fuzzer accounts: the curator owns one here.
_expect(_policy(anonymous=LOGIN, curator=ALLOWED, rest=FORBIDDEN), "POST /api/crashes/")


# ------------------------------------------------------------------------------ what is there


def _pages() -> dict[str, tuple[str, list[str]]]:
    """Every non-API URL pattern: name -> (route, its parameters). An unnamed one fails."""
    from django.urls import URLPattern, URLResolver, get_resolver

    found: dict[str, tuple[str, list[str]]] = {}

    def walk(patterns, prefix: str, namespace: str, converters: list[str]) -> None:
        for entry in patterns:
            route = prefix + str(entry.pattern)
            params = converters + sorted(entry.pattern.converters)
            if isinstance(entry, URLResolver):
                if entry.namespace == "admin" or route.startswith("/api/") and entry.namespace:
                    continue  # the admin is Django's; the API is enumerated from its schema
                ns = entry.namespace or namespace
                walk(entry.url_patterns, route, f"{namespace}:{ns}".strip(":") if entry.namespace else ns, params)
            elif isinstance(entry, URLPattern):
                if route.startswith(("/static/", "/media/")):
                    continue
                if route.startswith("/api/") and route not in ("/api/docs/", "/api/redoc/", "/api/schema/"):
                    continue
                assert entry.name, f"{route} has no name: name it so that the role matrix can list it"
                found[f"{namespace}:{entry.name}" if namespace else entry.name] = (route, params)

    walk(get_resolver().url_patterns, "/", "", [])
    return found


def _api_operations() -> list[str]:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [f"{method.upper()} {path}" for path, methods in schema["paths"].items() for method in methods]


PAGES = _pages()
CASES = sorted([f"{method} {name}" for name in PAGES for method in ("GET", "POST")] + _api_operations())


def test_every_expectation_is_of_a_page_or_operation_that_exists():
    assert sorted(set(EXPECTED) - set(CASES)) == []


# ------------------------------------------------------------------------------------ the world


@dataclass
class World:
    users: dict
    objects: dict  # what path parameters name -> a pk (or slug)
    bob: object
    items: list
    study: object


@pytest.fixture
def world(labelling_study, settings, tmp_path) -> World:
    s = labelling_study
    settings.MEDIA_ROOT = tmp_path / "media"
    study = s["study"]
    assert study.blind, "the matrix is about a blind study"
    owner = s["owner"]
    site_group_membership_set(user=owner, group="researcher", member=True)
    staff = UserFactory(username="stan", is_staff=True)
    curator = s["curator"]
    first, second, third = s["items"]
    report = first.report
    item_labels_save(
        item=first,
        annotator=s["ann1"],
        values={"symptom": "crash", "component": ["layers"]},
        notes={"symptom": "alice's own"},
    )
    bob_annotation = AnnotationFactory(
        item=third, annotator=s["ann2"], dimension=s["symptom"], value="hang", note=BOB_NOTES[0]
    )
    reproducer = ReproducerFactory(report=report)
    reproduction = ReproductionFactory(reproducer=reproducer)
    run = ReproductionRunFactory(reproduction=reproduction)
    RunnerFactory()
    FuzzerAccount.objects.create(user=curator, name="curators-fuzzer")
    crashes_ingest(reports=[crash_report("torch_conv2d_weight")], account=FuzzerAccount.objects.get())
    crash = CrashGroup.objects.get()
    source = GitHubSource.objects.create(
        name="tf", repository="tensorflow/tensorflow", owner=curator, created_by=curator
    )
    sync_run = SyncRun.objects.create(source=source, created_by=curator)
    job = ImportJob.objects.create(filename="a.jsonl", file="imports/a.jsonl", created_by=curator)
    invitation = invitations_create(study=study, role="annotator", created_by=owner)[0]
    survey = survey_open(
        survey=survey_create(study=study, slug="matrix-survey", definition=SURVEY, created_by=owner), user=owner
    )
    survey_token = survey_invitations_make(survey=survey, count=1)[0].token
    release = ReleaseFactory(study=study)
    adjudicator = UserFactory(username="ada")
    MembershipFactory(study=study, user=adjudicator, role=Membership.Role.ADJUDICATOR)
    pilot = round_create(study=study, name="Pilot", source="list", item_ids=[first.id, second.id], created_by=owner)
    users = {
        "anonymous": None,
        "nonmember": s["outsider"],
        "annotator": s["ann1"],
        "viewer": s["viewer"],
        "adjudicator": adjudicator,
        "owner": owner,
        "curator": curator,
        "staff": staff,
    }
    objects = {
        "slug": study.slug,
        "item_id": first.id,
        "user_id": s["ann2"].id,
        "fmt": "csv",
        "chart_id": "distribution.symptom",
        "overview_chart": "github-syncs",
        "report": report.id,
        "annotation": bob_annotation.id,
        "dimension": s["symptom"].id,
        "category": s["symptom"].categories.get(code="hang").id,
        "reproducer": reproducer.id,
        "reproduction": reproduction.id,
        "run": run.id,
        "crash": crash.id,
        "source": source.id,
        "sync_run": sync_run.id,
        "job": job.id,
        "invitation": invitation.invitation.id,
        "round": pilot.id,
        "token": invitation.token,
        "survey": survey.slug,
        "survey_token": survey_token,
        "number": 1,  # a survey section
        "version": release.version,
        "uidb64": "MQ",  # with the invitation's token: a password reset link that does not work
    }
    return World(users=users, objects=objects, bob=s["ann2"], items=[first, second, third], study=study)


# Which object a page's <pk> is, by URL name (a new page with a <pk> fails until it is here).
PAGE_PK = {
    "labelling:category-add": "dimension",
    "labelling:category-change": "category",
    "labelling:dimension-rename": "dimension",
    "labelling:category-delete": "category",
    "labelling:category-edit": "category",
    "labelling:dimension-delete": "dimension",
    "labelling:dimension-edit": "dimension",
    "labelling:study-invitation-revoke": "invitation",
    "labelling:round-detail": "round",
    "labelling:round-close": "round",
    "labelling:round-reopen": "round",
    "triage:crash-detail": "crash",
    "triage:crash-link-known": "crash",
    "triage:crash-merge": "crash",
    "triage:crash-split": "crash",
    "triage:github-run": "sync_run",
    "triage:github-run-progress": "sync_run",
    "triage:github-run-resume": "sync_run",
    "triage:github-source": "source",
    "triage:github-source-sync": "source",
    "triage:import-job": "job",
    "triage:import-job-progress": "job",
    "triage:report-detail": "report",
    "triage:report-reproduction": "report",
    "triage:reproducer-bisect": "reproducer",
    "triage:reproducer-new": "report",
    "triage:reproducer-run": "reproducer",
    "triage:reproduction-detail": "reproduction",
    "triage:reproduction-progress": "reproduction",
    "triage:run-detail": "run",
    "triage:run-rejudge": "run",
}
# Which object an API path's {id} is, by the collection before it.
API_ID = {
    "annotations": "annotation",
    "categories": "category",
    "dimensions": "dimension",
    "reports": "report",
    "reproducers": "reproducer",
    "reproductions": "reproduction",
    "crash-groups": "crash",
    "sources": "source",
    "runs": "sync_run",
    "reproduction-runs": "run",
    "import-jobs": "job",
    "invitations": "invitation",
    "rounds": "round",
}


def _url(case: str, objects: dict) -> tuple[str, str, bool]:
    """(method, URL, is it the API) for a case."""
    from django.urls import reverse

    method, target = case.split(" ", 1)
    if target.startswith("/"):

        def fill(match):
            name = match.group(2)
            if name in objects:
                return match.group(1) + str(objects[name])
            assert match.group(1).strip("/") in API_ID, f"say in API_ID which object {{{name}}} of {target} is"
            return match.group(1) + str(objects[API_ID[match.group(1).strip("/")]])

        return method, re.sub(r"([a-z-]+/)\{(\w+)\}", fill, target), True
    route, params = PAGES[target]
    kwargs = {}
    for param in params:
        if param == "pk":
            assert target in PAGE_PK, f"say in PAGE_PK which object <pk> of {target} ({route}) is"
            kwargs["pk"] = objects[PAGE_PK[target]]
        else:
            assert param in objects, f"give <{param}> of {target} a value in the world fixture"
            kwargs[param] = objects[param]
    return method, reverse(target, kwargs=kwargs), target in ("api-schema",)


def _client(role: str, users: dict, api: bool):
    client = APIClient() if api else Client()
    user = users[role]
    if user is not None:
        user = get_user_model().objects.get(pk=user.pk)  # fresh: no cached roles between requests
        if api:
            client.force_authenticate(user)
        else:
            client.force_login(user)
    return client


def _send(client, method: str, url: str, api: bool):
    if method == "GET":
        return client.get(url)
    if api:
        return getattr(client, method.lower())(url, {}, format="json")
    return getattr(client, method.lower())(url, {})


def _outcome(role: str, response) -> str:
    status = response.status_code
    assert status < 500, f"{status}: {body_text(response)[:1500]}"
    if status in (301, 302, 303, 307, 308) and "/accounts/login/" in response.get("Location", ""):
        return LOGIN
    if status == 401 or (status == 403 and role == "anonymous"):
        return LOGIN
    if status in (403, 404, 405):
        return str(status)
    return ALLOWED


def _counts() -> dict[str, int]:
    """How many rows each of our tables has: a refused request must change none of them."""
    from django.apps import apps

    return {
        model._meta.label: model.objects.count()
        for app in ("labelling", "triage", "surveys")
        for model in apps.get_app_config(app).get_models()
    }


@pytest.mark.parametrize("case", CASES)
def test_each_role_gets_what_the_access_model_says(world, case):
    assert case in EXPECTED, (
        f"{case} is not in the role matrix: add it to EXPECTED in tests/test_role_matrix.py with the "
        "policy that says who may use it"
    )
    method, url, api = _url(case, world.objects)
    found = {}
    for role in ROLES:
        before = _counts()
        with transaction.atomic():
            response = _send(_client(role, world.users, api), method, url, api)
            outcome = _outcome(role, response)
            after = _counts()
            transaction.set_rollback(True)
        cache.clear()
        found[role] = outcome
        if outcome != ALLOWED:
            assert after == before, f"{case} as {role} was refused ({outcome}) but wrote: {before} -> {after}"
    assert found == EXPECTED[case], f"{method} {url} found {found}"


# ------------------------------------------------------------ the blind annotator learns nothing

# What an annotator may read, but not the pages anyone may read (the login page, the API docs).
READS = [
    case
    for case in CASES
    if case.startswith("GET ") and EXPECTED.get(case, PUBLIC)["annotator"] == ALLOWED and EXPECTED[case] != PUBLIC
]


@pytest.mark.parametrize("case", READS)
def test_an_annotator_of_the_blind_study_reads_the_same_whatever_the_other_annotator_does(world, case):
    method, url, api = _url(case, world.objects)

    def read():
        response = _send(_client("annotator", world.users, api), method, url, api)
        assert response.status_code < 500
        return response.status_code, response.get("Location"), body_text(response)

    first, second, _ = world.items
    before = read()
    item_labels_save(
        item=first,
        annotator=world.bob,
        values={"symptom": "crash", "component": ["layers"]},
        notes={"symptom": BOB_NOTES[1]},
    )
    agreed = read()  # bob agrees with alice: a final label now exists
    item_labels_save(
        item=first,
        annotator=world.bob,
        values={"symptom": "hang", "component": ["layers"]},
        notes={"symptom": BOB_NOTES[1]},
    )
    item_labels_save(item=second, annotator=world.bob, values={"symptom": "hang", "component": ["model"]})
    disagreed = read()
    assert before == agreed == disagreed, f"{url} changed while the other annotator labelled"
    for note in BOB_NOTES:
        assert note not in disagreed[2]
