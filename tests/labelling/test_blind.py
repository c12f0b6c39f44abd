"""Blind labelling: annotations_visible_to, and every surface that could leak another annotator's labels."""

import pytest
from django.urls import reverse

from labelling.selectors.labelling import annotations_visible_to
from labelling.services.annotations import item_labels_save
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SECRET = "zebra-unique-note-text"


def _label(s, who, item, symptom, note=""):
    return item_labels_save(
        item=item, annotator=s[who], values={"symptom": symptom, "component": "optimizer"}, notes={"symptom": note}
    )


def _visible(s, who):
    return {
        (a.annotator.username, a.item_id, a.dimension.code)
        for a in annotations_visible_to(user=s[who], study=s["study"]).select_related("annotator", "dimension")
    }


def test_blind_study_annotators_see_only_their_own(labelling_study):
    s = labelling_study
    item = s["items"][0]
    _label(s, "ann1", item, "crash")
    _label(s, "ann2", item, "hang")
    assert {u for u, _, _ in _visible(s, "ann1")} == {"alice"}
    assert {u for u, _, _ in _visible(s, "ann2")} == {"bob"}
    assert {u for u, _, _ in _visible(s, "owner")} == {"alice", "bob"}
    assert {u for u, _, _ in _visible(s, "viewer")} == {"alice", "bob"}
    assert _visible(s, "outsider") == set()
    assert not annotations_visible_to(user=UserFactory(is_staff=False), study=s["study"]).exists()


def test_open_study_shows_others_labels_only_after_finishing_the_item(labelling_study):
    s = labelling_study
    study = s["study"]
    study.blind = False
    study.save(update_fields=["blind"])
    first, second = s["items"][0], s["items"][1]
    _label(s, "ann1", first, "crash")
    _label(s, "ann1", second, "crash")
    # bob has finished nothing yet: he sees nobody's labels
    assert _visible(s, "ann2") == set()
    _label(s, "ann2", first, "hang")
    seen = _visible(s, "ann2")
    assert ("alice", first.id, "symptom") in seen  # finished by bob: alice's labels now visible
    assert ("alice", second.id, "symptom") not in seen  # not finished by bob: still hidden
    assert ("bob", first.id, "symptom") in seen
    # no duplicates from the join
    qs = annotations_visible_to(user=s["ann2"], study=study)
    assert qs.count() == len(set(qs.values_list("id", flat=True)))


def test_blind_study_hides_others_even_after_finishing(labelling_study):
    s = labelling_study
    item = s["items"][0]
    _label(s, "ann1", item, "crash")
    _label(s, "ann2", item, "hang")
    assert ("alice", item.id, "symptom") not in _visible(s, "ann2")


def test_label_page_never_shows_another_annotators_choice_or_note(client, labelling_study):
    s = labelling_study
    item = s["items"][0]
    _label(s, "ann1", item, "wrong_output", note=SECRET)
    client.force_login(s["ann2"])
    html = client.get(reverse("labelling:label-item", args=[s["study"].slug, item.id])).content.decode()
    assert SECRET not in html
    assert " checked" not in html  # nothing pre-filled for bob
    assert "You labelled this item already" not in html


def test_api_surfaces_never_leak_another_annotators_labels(api_client, labelling_study):
    s = labelling_study
    item = s["items"][0]
    alice_annotations = _label(s, "ann1", item, "wrong_output", note=SECRET)
    api_client.force_authenticate(s["ann2"])
    slug = s["study"].slug
    responses = [
        api_client.get(reverse("labelling-api:item-annotations", args=[slug, item.id])),
        api_client.get(reverse("labelling-api:annotation-list", args=[slug])),
        api_client.get(reverse("labelling-api:annotation-list", args=[slug]), {"annotator": "alice"}),
        api_client.get(reverse("labelling-api:annotation-list", args=[slug]), {"item": item.id}),
    ]
    for response in responses:
        assert response.status_code == 200
        assert SECRET not in response.content.decode()
        assert "wrong_output" not in response.content.decode()
    for annotation in alice_annotations:
        response = api_client.get(reverse("labelling-api:annotation-detail", args=[annotation.id]))
        assert response.status_code == 404
        assert SECRET not in response.content.decode()
    for name in ("final-label-list", "disagreement-list"):
        assert api_client.get(reverse(f"labelling-api:{name}", args=[slug])).status_code == 403


def test_another_annotator_cannot_overwrite_labels_by_item_id(api_client, client, labelling_study):
    """Writing goes to the caller's own annotations only; another annotator's stay untouched."""
    s = labelling_study
    item = s["items"][0]
    _label(s, "ann1", item, "crash", note=SECRET)
    api_client.force_authenticate(s["ann2"])
    api_client.put(
        reverse("labelling-api:item-annotations", args=[s["study"].slug, item.id]),
        {"values": {"symptom": "hang", "component": "model"}},
        format="json",
    )
    rows = annotations_visible_to(user=s["owner"], study=s["study"]).filter(annotator=s["ann1"], item=item)
    assert {a.dimension.code: a.value for a in rows} == {"symptom": "crash", "component": "optimizer"}
    assert rows.get(dimension__code="symptom").note == SECRET
