"""Two adjudicators deciding the same item's dimension at the same instant (PostgreSQL, threads):
both decisions are in the history, and the later one records the earlier one as what it replaced."""

from __future__ import annotations

import pytest
from django.db import connection

from labelling.models import FinalLabel, FinalLabelDecision, Membership
from labelling.services.adjudication import final_label_adjudicate
from labelling.services.annotations import item_labels_save
from tests.factories import MembershipFactory, UserFactory
from tests.labelling.test_final_labels_concurrency import _at_once, _item

ROUNDS = 20

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL: SQLite never races"),
]


def test_two_adjudicators_at_once_lose_no_history_row(small_study):
    s = small_study
    ada = UserFactory(username="ada")
    MembershipFactory(study=s["study"], user=ada, role=Membership.Role.ADJUDICATOR)
    for round_ in range(ROUNDS):
        item = _item(s)
        item_labels_save(item=item, annotator=s["ann1"], values={"symptom": "crash", "component": ["layers"]})
        item_labels_save(item=item, annotator=s["ann2"], values={"symptom": "hang", "component": ["layers"]})

        def decide(who, value, item=item):
            final_label_adjudicate(
                study=s["study"], item=item, dimension=s["symptom"], value=value, rationale=f"{who} says {value}",
                adjudicator=s["owner"] if who == "owner" else ada,
            )

        errors = _at_once(lambda: decide("owner", "crash"), lambda: decide("ada", "hang"))
        assert errors == [], f"round {round_}: {errors!r}"
        first, second = FinalLabelDecision.objects.filter(item=item).order_by("decided_at", "id")
        assert (first.replaced_method, first.replaced_value) == ("", "")
        assert (second.replaced_method, second.replaced_value) == ("adjudicated", first.value)
        final = FinalLabel.objects.get(item=item, dimension=s["symptom"])
        assert (final.value, final.rationale) == (second.value, second.rationale), f"round {round_}"
