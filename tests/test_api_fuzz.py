"""Schema-driven fuzzing of the whole API with schemathesis: no request may answer 5xx.

Every operation of the OpenAPI schema (generated in-process, so a new endpoint is fuzzed
without being listed here) gets a few generated requests as the owner of a study and as one of
its annotators (token auth), against the WSGI app and the test database. Path parameters are
filled with ids of real objects where the name says which, so the checks go past the 404.

A bounded run is part of `make test` (FUZZ_EXAMPLES, default 3 per operation and role);
`make fuzz` runs many more. Select it with `-m fuzz`.
"""

import os
import re

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from rest_framework.authtoken.models import Token

from tests.factories import (
    AnnotationFactory,
    AssignmentFactory,
    ReportFactory,
    ReproducerFactory,
    StudyItemFactory,
)
from triage.models import FuzzerAccount

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "3"))


def _in_test_transaction(app):
    """The WSGI app without the request signals' close_old_connections, as Django's test client
    does: each test runs in a transaction, which closing the connection would end."""
    from django.core import signals
    from django.db import close_old_connections

    def wsgi(environ, start_response):
        signals.request_started.disconnect(close_old_connections)
        signals.request_finished.disconnect(close_old_connections)
        try:
            result = app(environ, start_response)
            body = b"".join(result)
            result.close()  # request_finished, as a server sends it
            return [body]
        finally:
            signals.request_started.connect(close_old_connections)
            signals.request_finished.connect(close_old_connections)

    return wsgi


def _schema():
    """The API's schema as drf-spectacular makes it (no request, no database), sent to the WSGI app."""
    from drf_spectacular.generators import SchemaGenerator

    from config.wsgi import application

    loaded = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
    loaded.app = _in_test_transaction(application)
    return loaded


@pytest.fixture
def world(small_study, settings, tmp_path):
    s = small_study
    settings.MEDIA_ROOT = tmp_path / "media"  # releases the fuzzer makes are stored there
    report = ReportFactory(source_id="gh#fuzz")
    item = StudyItemFactory(study=s["study"], report=report)
    AssignmentFactory(study=s["study"], item=item, annotator=s["ann1"])
    annotation = AnnotationFactory(item=item, annotator=s["ann1"], dimension=s["symptom"], value="crash")
    reproducer = ReproducerFactory(report=report)
    FuzzerAccount.objects.create(user=s["owner"], name="fuzz")  # the owner may post crashes too
    ids = {
        "slug": s["study"].slug,
        "item_id": item.id,
        "user_id": s["ann2"].id,
        "studies": s["study"].slug,
        "reports": report.id,
        "annotations": annotation.id,
        "reproducers": reproducer.id,
        "members": s["ann2"].id,
        "version": "1.0.0",
    }
    tokens = {role: Token.objects.create(user=s[who]).key for role, who in (("annotator", "ann1"), ("owner", "owner"))}
    return {"tokens": tokens, "ids": ids}


def _fill_path(case, ids):
    """Real ids for the path parameters: by name (slug, item_id), or for a bare pk/id by the
    collection before it (/api/reports/{pk}/ -> a report)."""
    for name in list(case.path_parameters or {}):
        if name in ids:
            case.path_parameters[name] = ids[name]
            continue
        before = re.search(r"/([a-z-]+)/\{" + name + r"\}", case.path)
        if before and before.group(1) in ids:
            case.path_parameters[name] = ids[before.group(1)]


schema = _schema()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_answers_a_server_error(case, world):
    _fill_path(case, world["ids"])
    for role, token in world["tokens"].items():  # the annotator first: the owner's writes may delete
        response = case.call(headers={"Authorization": f"Token {token}"})
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} as {role} answered {response.status_code}:\n"
            f"{response.text[:2000]}\nReproduce: {case.as_curl_command()}"
        )
