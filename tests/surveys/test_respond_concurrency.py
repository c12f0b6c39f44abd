"""Two submits on one link at the same instant (PostgreSQL, threads): one wins, the other gets a 409."""

import pytest
from django.db import connection
from rest_framework.test import APIClient

from surveys.models import Answer, Response
from tests.labelling.test_final_labels_concurrency import _at_once
from tests.surveys.conftest import FULL_ANSWERS

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL: SQLite never races"),
]
ROUNDS = 5


def test_two_submits_on_one_token(open_survey):
    from surveys.services import invitations_make

    for round_ in range(ROUNDS):
        token = invitations_make(survey=open_survey["survey"], count=1)[0].token
        statuses = []

        def submit(comment, token=token, statuses=statuses):
            body = {"consent": True, "answers": {**FULL_ANSWERS, "comments": comment}, "submit": True}
            statuses.append(APIClient().post(f"/api/surveys/respond/{token}/", body, format="json").status_code)

        errors = _at_once(lambda: submit("first"), lambda: submit("second"))
        assert errors == [], errors
        assert sorted(statuses) == [200, 409], f"round {round_}: {statuses}"
    assert Response.objects.filter(status="submitted").count() == ROUNDS
    assert Answer.objects.filter(question__code="comments").count() == ROUNDS
