"""Security headers (issue 10, point 12): a Content-Security-Policy on every page that the pages
keep (no inline script, event handler, style attribute or javascript: URL), HSTS over HTTPS.

Every page of the URLconf outside /api/ and /admin/ is visited (a new page fails the walk until
it is listed here), as the study owner and, for the labelling pages, as an annotator.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from labelling.models import Membership
from tests.factories import (
    AnnotationFactory,
    AssignmentFactory,
    CategoryFactory,
    DimensionFactory,
    MembershipFactory,
    ReportFactory,
    ReproducerFactory,
    ReproductionFactory,
    ReproductionRunFactory,
    RunnerFactory,
    StudyFactory,
    StudyItemFactory,
    UserFactory,
)
from triage.models import CrashGroup, CrashOccurrence, GitHubSource, ImportJob, Report, SyncRun

# Names that answer POST only (their form lives on a page that is visited) or are no HTML page.
NOT_PAGES = {
    "healthz", "logout",
    "labelling:category-add", "labelling:category-delete", "labelling:dimension-add", "labelling:dimension-delete",
    "labelling:item-reviewed", "labelling:items-add-all", "labelling:items-sample", "labelling:screening-decide",
    "labelling:study-member", "labelling:study-member-add", "labelling:export", "labelling:assignments",
    "labelling:study-invitations", "labelling:study-invitation-revoke",
    "labelling:screening-resolve", "labelling:study-decision-rule", "labelling:adjudicate-save",
    "labelling:release-download",
    "labelling:codebook-export",
    "labelling:round-create", "labelling:round-close", "labelling:round-reopen",
    "triage:crash-link-known", "triage:crash-merge", "triage:crash-split", "triage:github-run-resume",
    "triage:github-source-sync", "triage:reproducer-bisect", "triage:reproducer-run", "triage:run-rejudge",
    "surveys:survey-status", "surveys:survey-settings", "surveys:survey-open-link", "surveys:results-export",
}  # fmt: skip


def _page_names() -> set[str]:
    found = set()

    def walk(patterns, prefix, namespace):
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                ns = entry.namespace or ""
                walk(entry.url_patterns, route, f"{namespace}:{ns}".strip(":") if ns else namespace)
            elif isinstance(entry, URLPattern) and entry.name and not route.startswith(("/api/", "/admin/")):
                found.add(f"{namespace}:{entry.name}" if namespace else entry.name)

    walk(get_resolver().url_patterns, "/", "")
    return found - NOT_PAGES


@pytest.fixture
def site(db):
    """One of everything a page shows, and the URL of every page."""
    owner = UserFactory(username="owner", is_staff=True, is_superuser=True)
    annotator = UserFactory(username="annie")
    study = StudyFactory(slug="csp-study")
    MembershipFactory(study=study, user=owner, role=Membership.Role.OWNER)
    MembershipFactory(study=study, user=annotator, role=Membership.Role.ANNOTATOR)
    dimension = DimensionFactory(codebook=study.codebook, code="symptom")
    category = CategoryFactory(dimension=dimension, code="crash")
    item = StudyItemFactory(study=study)
    StudyItemFactory(study=study, screening="pending")
    AssignmentFactory(item=item, annotator=annotator)
    AssignmentFactory(item=item, annotator=owner)
    AnnotationFactory(item=item, annotator=annotator, dimension=dimension, value="crash")  # agreement figures
    AnnotationFactory(item=item, annotator=owner, dimension=dimension, value="crash")

    crash_report = ReportFactory(kind=Report.Kind.CRASH, source_id="crash:abc")
    group = CrashGroup.objects.create(
        report=crash_report, signature="a" * 64, signature_text="RuntimeError\nat conv2d",
        framework="pytorch", oracle="crash", occurrence_count=1,
        first_seen=timezone.now(), last_seen=timezone.now(),
    )  # fmt: skip
    CrashOccurrence.objects.create(
        group=group, client_id="c1", fuzzer="fuzz", framework="pytorch", oracle="crash",
        stack_trace="Traceback...", signature="a" * 64,
    )  # fmt: skip
    source = GitHubSource.objects.create(name="pytorch", repository="pytorch/pytorch")
    run = SyncRun.objects.create(source=source, status=SyncRun.Status.RUNNING)
    job = ImportJob.objects.create(filename="reports.jsonl", status=ImportJob.Status.RUNNING, total=10, processed=3)
    reproducer = ReproducerFactory(report=item.report)
    reproduction = ReproductionFactory(reproducer=reproducer, status="running")
    repro_run = ReproductionRunFactory(reproduction=reproduction, runner=RunnerFactory())

    from labelling.services.invitations import invitations_create

    invitation = invitations_create(study=study, role="viewer", created_by=owner)[0]
    from labelling.services.rounds import round_create

    pilot = round_create(study=study, name="Pilot", source="list", item_ids=[item.pk], created_by=owner)
    s, r = study.slug, item.report_id
    from surveys.services import invitations_make, response_answer, survey_create, survey_open
    from surveys.validation import DEFAULT_CONSENT

    survey_doc = {
        "title": "CSP survey",
        "intro": "**Hello**",
        "consent": DEFAULT_CONSENT,
        "sections": [
            {"title": "One", "description": "*markdown*", "questions": [
                {"code": "a", "kind": "single", "text": "A?", "options": ["x", "y"], "required": True},
                {"code": "b", "kind": "matrix", "text": "B?", "rows": [{"code": "r", "text": "R"}]},
                {"code": "c", "kind": "number", "text": "C?", "min": 0},
            ]},
            {"title": "Two", "questions": [{"code": "d", "kind": "text", "text": "D?", "long": True}]},
        ],
    }  # fmt: skip
    survey = survey_open(survey=survey_create(study=study, slug="csp-survey", definition=survey_doc, created_by=owner),
                         user=owner)  # fmt: skip
    new_token, resumed_token = (m.token for m in invitations_make(survey=survey, count=2))
    response_answer(token=resumed_token, consent=True, answers={"a": "x"}, submit=False)
    urls = {
        "login": "/accounts/login/",
        "password_change": "/accounts/password/change/",
        "password_change_done": "/accounts/password/change/done/",
        "password_reset": "/accounts/password/reset/",
        "password_reset_done": "/accounts/password/reset/sent/",
        "password_reset_confirm": "/accounts/password/reset/MQ/set-password/",
        "password_reset_complete": "/accounts/password/reset/done/",
        "labelling:invite": f"/invite/{invitation.token}/",
        "labelling:study-list": "/",
        "labelling:study-create": "/studies/new/",
        "labelling:study-detail": f"/studies/{s}/",
        "labelling:study-settings": f"/studies/{s}/settings/",
        "labelling:codebook": f"/studies/{s}/codebook/",
        "labelling:dimension-edit": f"/studies/{s}/codebook/dimensions/{dimension.pk}/",
        "labelling:category-edit": f"/studies/{s}/codebook/categories/{category.pk}/",
        "labelling:category-change": f"/studies/{s}/codebook/categories/{category.pk}/change/",
        "labelling:dimension-rename": f"/studies/{s}/codebook/dimensions/{dimension.pk}/rename/",
        "labelling:disagreements": f"/studies/{s}/disagreements/",
        "labelling:adjudicate": f"/studies/{s}/adjudicate/",
        "labelling:agreement": f"/studies/{s}/agreement/?dimension=symptom&rater_a=annie&rater_b=owner",
        "labelling:analytics": f"/studies/{s}/analytics/",
        "labelling:analytics-chart": f"/studies/{s}/analytics/charts/distribution.symptom/",
        "labelling:analytics-compare": f"/studies/{s}/analytics/compare/",
        "labelling:items": f"/studies/{s}/items/",
        "labelling:releases": f"/studies/{s}/releases/",
        "labelling:release-upload": "/releases/load/",
        "labelling:rounds": f"/studies/{s}/rounds/",
        "labelling:round-detail": f"/studies/{s}/rounds/{pilot.pk}/",
        "labelling:item-detail": f"/studies/{s}/items/{item.pk}/",
        "labelling:screening": f"/studies/{s}/screening/",
        "labelling:label-next": f"/studies/{s}/label/",
        "labelling:label-item": f"/studies/{s}/label/{item.pk}/",
        "surveys:survey-list": f"/studies/{s}/surveys/",
        "surveys:survey-edit": f"/surveys/{survey.slug}/edit/",
        "surveys:survey-invitations": f"/surveys/{survey.slug}/invitations/",
        "surveys:respond": f"/s/{new_token}/",
        "surveys:respond-section": f"/s/{resumed_token}/1/",
        "surveys:results": f"/surveys/{survey.slug}/results/",
        "surveys:responses-import": f"/surveys/{survey.slug}/responses/import/",
        "triage:report-list": "/reports/",
        "triage:reports-overview": "/reports/overview/",
        "triage:report-detail": f"/reports/{r}/",
        "triage:report-reproduction": f"/reports/{r}/reproduction/",
        "triage:reproducer-new": f"/reports/{r}/reproducers/new/",
        "triage:reproduction-detail": f"/reports/reproductions/{reproduction.pk}/",
        "triage:reproduction-progress": f"/reports/reproductions/{reproduction.pk}/progress/",
        "triage:run-detail": f"/reports/runs/{repro_run.pk}/",
        "triage:runner-list": "/reports/runners/",
        "triage:crash-list": "/reports/crashes/",
        "triage:crash-detail": f"/reports/crashes/{group.pk}/",
        "triage:github-sources": "/reports/github/",
        "triage:github-source": f"/reports/github/{source.pk}/",
        "triage:github-run": f"/reports/github/runs/{run.pk}/",
        "triage:github-run-progress": f"/reports/github/runs/{run.pk}/progress/",
        "triage:import": "/reports/import/",
        "triage:import-job": f"/reports/import/{job.pk}/",
        "triage:import-job-progress": f"/reports/import/{job.pk}/progress/",
    }
    return {"owner": owner, "annotator": annotator, "urls": urls}


ANALYTICS_PAGES = {"labelling:analytics", "labelling:analytics-chart", "labelling:analytics-compare"}


class InlineCode(HTMLParser):
    """What a script-src 'self' / style-src 'self' policy would block, as found by an HTML parser."""

    def __init__(self):
        super().__init__()
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...> event handler")
            elif name == "style":
                self.problems.append(f"<{tag} style={value!r}>")
            elif name.startswith("hx-on") or name.startswith("data-hx-on"):
                self.problems.append(f"<{tag} {name}> htmx inline handler")
            elif value and value.strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}={value!r}> javascript: URL")
        kind = (dict(attrs).get("type") or "text/javascript").lower()
        runs = kind in ("text/javascript", "module", "application/javascript")  # JSON data blocks never run
        if tag == "script" and runs and not dict(attrs).get("src"):
            self.problems.append("<script> without src")
        if tag == "style":
            self.problems.append("<style> element")


def inline_code(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    parser.close()
    return parser.problems


def directives(response) -> dict[str, list[str]]:
    header = response.headers["Content-Security-Policy"]
    parts = (part.strip().split() for part in header.split(";") if part.strip())
    return {part[0]: part[1:] for part in parts}


def test_the_parser_finds_every_kind_of_inline_code():
    html = (
        '<script>alert(1)</script><script src="/static/x.js"></script><form onsubmit="return confirm()">'
        '<span style="width:5%"></span><a href=" JavaScript:void(0)">x</a><button hx-on:click="x()">'
        '<style>p{}</style><script type="module">x()</script><script type="application/json">{}</script>'
    )
    assert len(inline_code(html)) == 7
    assert inline_code('<script src="/static/x.js" defer></script><a href="/x" data-confirm="Sure?">') == []


def test_every_page_is_covered_by_the_walk(site):
    assert _page_names() == set(site["urls"]), "list a new page in site() or a POST-only name in NOT_PAGES"


@pytest.mark.parametrize("role", ["owner", "annotator"])
def test_every_page_has_the_policy_and_no_inline_code(client, site, role):
    client.force_login(site[role])
    visited = 0
    for name, url in site["urls"].items():
        response = client.get(url, follow=True)  # the next item redirects to its page
        if role == "annotator" and response.status_code in (403, 404):
            continue  # a page an annotator may not see
        assert response.status_code == 200, (name, url, response.status_code)
        assert response["Content-Type"].startswith("text/html"), name
        policy = directives(response)
        assert policy["script-src"] == ["'self'"], (name, policy)
        assert policy["style-src"] == ["'self'"], (name, policy)  # plotly.js too (templates/_plotly_head.html)
        # The Analytics pages' charts set a few style="" attributes: attributes only, nowhere else.
        attrs = ["'unsafe-inline'"] if name in ANALYTICS_PAGES else None
        assert policy.get("style-src-attr") == attrs, (name, policy)
        assert policy["default-src"] == ["'self'"] and policy["object-src"] == ["'none'"]
        assert policy["frame-ancestors"] == ["'none'"] and policy["base-uri"] == ["'self'"]
        assert inline_code(response.content.decode()) == [], (name, url)
        visited += 1
    assert visited >= (len(site["urls"]) if role == "owner" else 4)


def test_htmx_is_configured_without_eval_or_injected_styles(client, site):
    client.force_login(site["owner"])
    html = client.get("/").content.decode()
    assert '<meta name="htmx-config" content=\'{"includeIndicatorStyles": false, "allowEval": false}\'>' in html


def test_destructive_forms_ask_through_data_confirm(client, site):
    client.force_login(site["owner"])
    html = client.get(site["urls"]["labelling:codebook"]).content.decode()
    assert 'data-confirm="Delete this dimension and its categories?"' in html
    assert "js/confirm.js" in client.get("/").content.decode()


def test_progress_bars_are_classes_with_the_width_in_css(client, site):
    client.force_login(site["annotator"])
    html = client.get(site["urls"]["labelling:study-detail"]).content.decode()
    assert '<span class="pct-0"></span>' in html  # the annotator's 0 of 1 done
    from django.contrib.staticfiles import finders

    css = open(finders.find("css/app.css"), encoding="utf-8").read()
    for percent in (0, 1, 37, 100):
        assert f".pct-{percent}{{width:{percent}%}}" in css


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_api_docs_pages_render_with_scripts_from_self_only(client, site, url):
    client.force_login(site["owner"])
    response = client.get(url)
    assert response.status_code == 200
    policy = directives(response)
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'", "'unsafe-inline'"]  # relaxed for these two pages only
    parser = InlineCode()
    parser.feed(response.content.decode())
    assert [p for p in parser.problems if "script" in p or "event handler" in p] == []


def test_swagger_start_up_script_is_a_file(client, site):
    client.force_login(site["owner"])
    response = client.get("/api/docs/?script=")
    assert response.status_code == 200
    assert "SwaggerUIBundle" in response.content.decode()


def test_hsts_is_sent_over_https_when_set(client, site, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    assert client.get("/accounts/login/", secure=True)["Strict-Transport-Security"] == (
        "max-age=31536000; includeSubDomains"
    )
    assert "Strict-Transport-Security" not in client.get("/accounts/login/")  # never over plain HTTP
    settings.SECURE_HSTS_SECONDS = 0
    assert "Strict-Transport-Security" not in Client().get("/accounts/login/", secure=True)  # reads settings anew


def test_other_headers(client, site):
    response = client.get("/accounts/login/")
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"


def test_tls_proxy_header_makes_requests_secure_and_redirects_plain_http(client, site, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    plain = client.get("/accounts/login/")
    assert plain.status_code == 301 and plain["Location"].startswith("https://")
    assert client.get("/healthz/").status_code == 200  # a health check over plain HTTP still answers
    proxied = client.get("/accounts/login/", headers={"X-Forwarded-Proto": "https"})
    assert proxied.status_code == 200 and "Strict-Transport-Security" in proxied


def test_browsable_api_relaxes_styles_only_and_json_keeps_the_policy(client, site):
    client.force_login(site["owner"])
    page = client.get("/api/studies/", headers={"Accept": "text/html"})
    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    assert directives(page)["script-src"] == ["'self'"]
    assert directives(page)["style-src"] == ["'self'", "'unsafe-inline'"]
    parser = InlineCode()
    parser.feed(page.content.decode())
    assert [p for p in parser.problems if "script" in p or "event handler" in p] == []
    data = client.get("/api/studies/", headers={"Accept": "application/json"})
    assert data.status_code == 200 and directives(data)["style-src"] == ["'self'"]


def _settings_in(env_overrides: dict[str, str]) -> dict:
    """The HTTPS settings as a fresh process reads them from this environment."""
    names = ["SECURE_HSTS_SECONDS", "SECURE_SSL_REDIRECT", "SECURE_PROXY_SSL_HEADER", "SESSION_COOKIE_SECURE",
             "CSRF_COOKIE_SECURE", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update({"DJANGO_SECRET_KEY": "x" * 50, **env_overrides})
    code = "import json; from django.conf import settings as s; "
    code += f"print(json.dumps({{n: getattr(s, n) for n in {names}}}))"
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=Path(__file__).resolve().parent.parent, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_defaults_are_secure_and_development_ones_are_off():
    production = _settings_in({"DJANGO_DEBUG": "0", "DJANGO_BEHIND_TLS_PROXY": "1"})
    assert production["SECURE_HSTS_SECONDS"] == 31536000
    assert production["SECURE_SSL_REDIRECT"] is True
    assert production["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert production["SESSION_COOKIE_SECURE"] is True and production["CSRF_COOKIE_SECURE"] is True
    assert production["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is False and production["SECURE_HSTS_PRELOAD"] is False

    no_proxy = _settings_in({"DJANGO_DEBUG": "0"})
    assert no_proxy["SECURE_SSL_REDIRECT"] is False  # without a trusted scheme a redirect would loop
    assert no_proxy["SECURE_PROXY_SSL_HEADER"] is None

    development = _settings_in({"DJANGO_DEBUG": "1"})
    assert development["SECURE_HSTS_SECONDS"] == 0 and development["SECURE_SSL_REDIRECT"] is False
    assert development["SESSION_COOKIE_SECURE"] is False

    chosen = _settings_in({"DJANGO_DEBUG": "0", "DJANGO_HSTS_SECONDS": "3600", "DJANGO_HSTS_INCLUDE_SUBDOMAINS": "1",
                           "DJANGO_HSTS_PRELOAD": "1", "DJANGO_SECURE_SSL_REDIRECT": "1"})  # fmt: skip
    assert chosen["SECURE_HSTS_SECONDS"] == 3600 and chosen["SECURE_SSL_REDIRECT"] is True
    assert chosen["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True and chosen["SECURE_HSTS_PRELOAD"] is True
