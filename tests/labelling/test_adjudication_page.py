"""The Adjudicate page (labelling/views/adjudication.py)."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client

from labelling.models import FinalLabel, FinalLabelDecision, Membership
from labelling.services.annotations import item_labels_save
from tests.factories import MembershipFactory, UserFactory
from tests.responses import body_text

pytestmark = pytest.mark.django_db

PAGE = "/studies/small/adjudicate/"


def _client(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def disagreeing(labelling_study):
    s = labelling_study
    first, second, _ = s["items"]
    item_labels_save(item=first, annotator=s["ann1"], values={"symptom": "crash", "component": ["layers"]},
                     notes={"symptom": "quokka-alice"})
    item_labels_save(item=first, annotator=s["ann2"], values={"symptom": "hang", "component": ["model"]},
                     notes={"symptom": "pangolin-bob"})
    item_labels_save(item=second, annotator=s["ann1"], values={"symptom": "crash", "component": ["layers"]})
    item_labels_save(item=second, annotator=s["ann2"], values={"symptom": "hang", "component": ["layers"]})
    return s


def test_the_page_shows_values_notes_aliases_and_definitions(disagreeing):
    s = disagreeing
    s["symptom"].categories.filter(code="hang").update(definition="The program stops making progress.")
    cache.clear()  # the codebook copy cached by the saves above (a codebook edit bumps its version)
    response = _client(s["owner"]).get(PAGE)
    assert response.status_code == 200
    text = body_text(response)
    for expected in ("Annotator 1", "Annotator 2", "quokka-alice", "pangolin-bob", "The program stops making progress.",
                     "2 items with a disagreement", "No reproduction run"):
        assert expected in text, expected
    assert "alice" not in text.replace("quokka-alice", "")


def test_saving_decides_every_dimension_and_goes_on(disagreeing):
    s = disagreeing
    first, second, _ = s["items"]
    client = _client(s["owner"])
    response = client.post(
        f"{PAGE}{first.id}/",
        {"value-symptom": "hang", "rationale-symptom": "hangs", "value-component": ["layers", "model"],
         "rationale-component": "both"},
    )
    assert response.status_code == 302 and response["Location"] == f"{PAGE}?after={first.id}"
    finals = {f.dimension.code: (f.value, f.method, f.rationale) for f in FinalLabel.objects.filter(item=first)}
    assert finals == {"symptom": ("hang", "adjudicated", "hangs"), "component": ("layers;model", "adjudicated", "both")}
    assert client.get(response["Location"]).context["item"] == second


def test_a_missing_rationale_is_a_form_error_and_saves_nothing(disagreeing):
    s = disagreeing
    first = s["items"][0]
    response = _client(s["owner"]).post(
        f"{PAGE}{first.id}/",
        {"value-symptom": "hang", "rationale-symptom": "hangs", "value-component": "layers", "rationale-component": ""},
    )
    assert response.status_code == 400
    assert "rationale is required" in body_text(response)
    assert not FinalLabelDecision.objects.exists()
    assert "hangs" in response.content.decode()  # what was typed is kept


def test_an_adjudicator_uses_the_page_and_names_show_when_the_study_says_so(disagreeing):
    s = disagreeing
    s["study"].adjudication_shows_names = True
    s["study"].save()
    ada = UserFactory(username="ada")
    MembershipFactory(study=s["study"], user=ada, role=Membership.Role.ADJUDICATOR)
    client = _client(ada)
    text = body_text(client.get(PAGE))
    assert "alice" in text and "bob" in text and "Annotator 1" not in text
    # The tabs an adjudicator cannot open (results, labelling) are not offered.
    html = client.get("/studies/small/").content.decode()
    nav = html[html.index('<nav class="study-nav"') : html.index("</nav>", html.index('<nav class="study-nav"'))]
    assert "/adjudicate/" in nav and "/disagreements/" not in nav and "/label/" not in nav
    assert "/disagreements/" not in html and "/export/" not in html


@pytest.mark.parametrize("blind", [True, False])
def test_annotators_and_viewers_cannot_reach_it(disagreeing, blind):
    s = disagreeing
    s["study"].blind = blind
    s["study"].save()
    for who in ("ann1", "viewer"):
        client = _client(s[who])
        for response in (client.get(PAGE), client.post(f"{PAGE}{s['items'][0].id}/", {"value-symptom": "crash",
                                                                                       "rationale-symptom": "x"})):
            assert response.status_code == 403, who
            assert b"pangolin-bob" not in response.content
        assert b"/adjudicate/" not in client.get("/studies/small/").content
    assert not FinalLabelDecision.objects.exists()


def test_nothing_left(labelling_study):
    response = _client(labelling_study["owner"]).get(PAGE)
    assert response.status_code == 200 and "No disagreement is left" in body_text(response)
