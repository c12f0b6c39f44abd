"""Adjudication (labelling/services/adjudication.py, labelling/selectors/adjudication.py): the
final label a person decides, its history, and the queue of disagreements."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from labelling.models import FinalLabel, FinalLabelDecision, Membership
from labelling.permissions import can_adjudicate
from labelling.selectors.adjudication import adjudication_next_for, decisions_of
from labelling.selectors.labelling import disagreements_for
from labelling.services.adjudication import final_label_adjudicate
from labelling.services.annotations import item_labels_save
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def _label(s, item, alice, bob):
    item_labels_save(item=item, annotator=s["ann1"], values=alice, notes={"symptom": "alice-why"})
    item_labels_save(item=item, annotator=s["ann2"], values=bob, notes={"symptom": "bob-why"})


@pytest.fixture
def disagreeing(labelling_study):
    s = labelling_study
    first, second, third = s["items"]
    _label(s, first, {"symptom": "crash", "component": ["layers"]}, {"symptom": "hang", "component": ["layers"]})
    _label(s, second, {"symptom": "crash", "component": ["model"]}, {"symptom": "crash", "component": ["layers"]})
    _label(s, third, {"symptom": "hang", "component": ["model"]}, {"symptom": "hang", "component": ["model"]})
    return s


def test_adjudicating_makes_the_final_label_and_a_history_row(disagreeing):
    s = disagreeing
    item = s["items"][0]
    decision = final_label_adjudicate(
        study=s["study"], item=item, dimension=s["symptom"], value="Hang", rationale=" The log shows a hang. ",
        adjudicator=s["owner"],
    )
    final = FinalLabel.objects.get(item=item, dimension=s["symptom"])
    assert (final.value, final.method, final.decided_by, final.rationale) == (
        "hang", "adjudicated", s["owner"], "The log shows a hang."
    )
    assert decision.chosen_from == ["crash", "hang"]
    assert (decision.replaced_method, decision.replaced_value) == ("", "")
    assert decision.decided_by == s["owner"] and decision.decided_at is not None
    # The item no longer disagrees on symptom (the component agreed already).
    assert [d.item.id for d in disagreements_for(study=s["study"])] == [s["items"][1].id]


def test_changing_a_decision_keeps_the_earlier_one_in_the_history(disagreeing):
    s = disagreeing
    item = s["items"][0]
    final_label_adjudicate(
        study=s["study"], item=item, dimension=s["symptom"], value="hang", rationale="first", adjudicator=s["owner"]
    )
    final_label_adjudicate(
        study=s["study"], item=item, dimension=s["symptom"], value="wrong_output", rationale="second look",
        adjudicator=s["owner"],
    )
    rows = list(decisions_of(study=s["study"]).values_list("value", "rationale", "replaced_method", "replaced_value"))
    assert rows == [("hang", "first", "", ""), ("wrong_output", "second look", "adjudicated", "hang")]
    assert FinalLabel.objects.get(item=item, dimension=s["symptom"]).value == "wrong_output"


def test_adjudicating_over_an_automatic_label_records_the_rule_it_replaced(disagreeing):
    s = disagreeing
    item = s["items"][2]  # unanimous hang
    assert FinalLabel.objects.get(item=item, dimension=s["symptom"]).method == "unanimous"
    decision = final_label_adjudicate(
        study=s["study"], item=item, dimension=s["symptom"], value="crash", rationale="both missed the trace",
        adjudicator=s["owner"],
    )
    assert (decision.replaced_method, decision.replaced_value) == ("unanimous", "hang")
    # A later label save does not overwrite it (adjudicated labels are protected from the rules).
    item_labels_save(item=item, annotator=s["ann1"], values={"symptom": "hang", "component": ["model"]})
    assert FinalLabel.objects.get(item=item, dimension=s["symptom"]).value == "crash"


@pytest.mark.parametrize(
    "value, rationale, field",
    [
        ("hang", "", "rationale"),
        ("hang", "   ", "rationale"),
        ("no_such_category", "why", "value"),
        (["crash", "hang"], "why", "value"),
        ("", "why", "value"),
        ("hang", "a\x00b", "rationale"),
    ],
)
def test_bad_decisions_write_nothing(disagreeing, value, rationale, field):
    s = disagreeing
    with pytest.raises(ValidationError) as caught:
        final_label_adjudicate(
            study=s["study"], item=s["items"][0], dimension=s["symptom"], value=value, rationale=rationale,
            adjudicator=s["owner"],
        )
    assert field in caught.value.message_dict
    assert not FinalLabelDecision.objects.exists()
    assert not FinalLabel.objects.filter(item=s["items"][0], dimension=s["symptom"]).exists()


def test_the_next_item_shows_values_notes_and_aliases(disagreeing):
    s = disagreeing
    found = adjudication_next_for(study=s["study"], user=s["owner"])
    assert found.item == s["items"][0] and found.remaining == 2
    [row] = found.dimensions
    assert row.dimension == s["symptom"]
    assert [(v.annotator, v.value, v.display, v.note) for v in row.values] == [
        ("Annotator 1", "crash", "Crash", "alice-why"),
        ("Annotator 2", "hang", "Hang", "bob-why"),
    ]
    assert [c.code for c in row.codebook.categories] == ["crash", "hang", "wrong_output"]
    # With names shown, the usernames; ``after`` skips to the next disagreement.
    s["study"].adjudication_shows_names = True
    s["study"].save()
    nxt = adjudication_next_for(study=s["study"], user=s["owner"], after=s["items"][0].id)
    assert nxt.item == s["items"][1]
    assert [v.annotator for v in nxt.dimensions[0].values] == ["alice", "bob"]
    assert nxt.dimensions[0].dimension == s["component"]


def test_the_queue_ends_when_every_disagreement_is_decided(disagreeing):
    s = disagreeing
    final_label_adjudicate(
        study=s["study"], item=s["items"][0], dimension=s["symptom"], value="hang", rationale="r",
        adjudicator=s["owner"],
    )
    final_label_adjudicate(
        study=s["study"], item=s["items"][1], dimension=s["component"], value=["layers", "model"], rationale="r",
        adjudicator=s["owner"],
    )
    assert adjudication_next_for(study=s["study"], user=s["owner"]) is None


def test_who_may_adjudicate(small_study):
    s = small_study
    adjudicator = UserFactory(username="ada")
    MembershipFactory(study=s["study"], user=adjudicator, role=Membership.Role.ADJUDICATOR)
    assert can_adjudicate(s["owner"], s["study"]) and can_adjudicate(adjudicator, s["study"])
    for who in ("ann1", "viewer", "outsider", "curator"):
        assert not can_adjudicate(s[who], s["study"]), who
    s["study"].blind = False
    s["study"].save()
    assert not can_adjudicate(s["ann1"], s["study"])


def test_annotators_see_their_adjudicated_outcomes_only_after_blind_mode_and_when_shown(disagreeing, client):
    from rest_framework.test import APIClient

    s = disagreeing
    study, item = s["study"], s["items"][0]
    final_label_adjudicate(
        study=study, item=item, dimension=s["symptom"], value="wrong_output", rationale="kiwi-rationale",
        adjudicator=s["owner"],
    )
    api = APIClient()
    api.force_authenticate(s["ann1"])
    client.force_login(s["ann1"])
    page = f"/studies/small/label/{item.id}/"

    def seen() -> tuple[int, bool]:
        response = api.get("/api/studies/small/final-labels/")
        html = client.get(page).content.decode()
        return response.status_code, "kiwi-rationale" in html or "kiwi-rationale" in response.content.decode()

    # Blind, with the setting on or off: nothing.
    assert seen() == (403, False)
    study.adjudication_outcomes_shown = True
    study.save()
    assert seen() == (403, False)
    # Not blind but the setting off: nothing either.
    study.blind, study.adjudication_outcomes_shown = False, False
    study.save()
    assert seen() == (403, False)
    # Not blind and shown: the adjudicated labels of her own finished items, nothing else.
    study.adjudication_outcomes_shown = True
    study.save()
    status, shown = seen()
    assert status == 200 and shown
    results = api.get("/api/studies/small/final-labels/").json()["results"]
    assert [(r["item"], r["dimension"], r["method"]) for r in results] == [(item.id, "symptom", "adjudicated")]
    assert "Adjudicated outcome" in client.get(page).content.decode()
