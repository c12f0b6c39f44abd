"""Blind labelling: annotations_visible_to, and every surface that could leak another annotator's labels."""

import re

import pytest
from django.urls import reverse

from labelling.selectors.labelling import annotations_visible_to
from labelling.services.annotations import item_labels_save
from labelling.services.invitations import invitations_create
from labelling.services.rounds import round_create
from tests.factories import UserFactory
from tests.responses import body_text as _body

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


# --------------------------------------------------------------------------- derived figures (issue 10, point 3)
#
# While a study is blind an annotator reads nothing computed from another annotator's labels:
# no values or notes, and no counts of final labels, disagreements, finished items or the
# others' progress, on any page, API response or error message.

BOB_NOTES = ("okapi-note-only-bob-wrote", "narwhal-note-only-bob-wrote", "axolotl-note-only-bob-wrote")


def _put_labels(api_client, s, item, symptom, note=""):
    response = api_client.put(
        reverse("labelling-api:item-annotations", args=[s["study"].slug, item.id]),
        {"values": {"symptom": symptom, "component": "optimizer"}, "notes": {"symptom": note}},
        format="json",
    )
    assert response.status_code == 200, response.content
    return response


def test_saving_each_category_in_turn_tells_an_annotator_nothing_of_another_ones_choice(
    client, api_client, labelling_study
):
    """The oracle: alice saves every symptom in turn and re-reads the study page and API; the
    final-label count used to go up for the one bob chose."""
    s = labelling_study
    slug, item = s["study"].slug, s["items"][0]
    _label(s, "ann2", item, "hang", note=BOB_NOTES[0])  # bob's choice, which alice must not learn
    client.force_login(s["ann1"])
    api_client.force_authenticate(s["ann1"])
    seen = {}
    for symptom in ("crash", "hang", "wrong_output"):
        _put_labels(api_client, s, item, symptom)
        page = client.get(reverse("labelling:study-detail", args=[slug]))
        api = api_client.get(reverse("labelling-api:study-detail", args=[slug]))
        listing = client.get(reverse("labelling:study-list"))
        assert page.status_code == api.status_code == listing.status_code == 200
        seen[symptom] = (_body(page), api.json(), _body(listing))
    assert seen["crash"] == seen["hang"] == seen["wrong_output"]
    progress = seen["hang"][1]["progress"]
    assert progress["final_labels"] is None and progress["items_complete"] is None
    assert progress["assignments_done"] is None and progress["assignments_total"] is None
    assert progress["annotators"] == [{"user_id": s["ann1"].pk, "username": "alice", "done": 1, "total": 3}]
    assert "bob" not in seen["hang"][0] and BOB_NOTES[0] not in seen["hang"][0]

    # The owner reads the figures the oracle used: agreeing with bob makes both dimensions final.
    api_client.force_authenticate(s["owner"])
    assert api_client.get(reverse("labelling-api:study-detail", args=[slug])).json()["progress"]["final_labels"] == 1
    _label(s, "ann1", item, "hang")
    owner_view = api_client.get(reverse("labelling-api:study-detail", args=[slug])).json()["progress"]
    assert owner_view["final_labels"] == 2 and owner_view["items_complete"] == 1
    assert {a["username"]: a["done"] for a in owner_view["annotators"]} == {"alice": 1, "bob": 1}


def test_an_annotator_of_a_blind_study_sees_only_their_own_progress_on_the_pages(client, labelling_study):
    s = labelling_study
    for item in s["items"]:
        _label(s, "ann2", item, "crash")
    _label(s, "ann1", s["items"][0], "crash")
    client.force_login(s["ann1"])
    detail = _body(client.get(reverse("labelling:study-detail", args=[s["study"].slug])))
    assert "1 of 3 items done." in detail  # her own progress
    assert "Label next item (2 left)" in detail
    assert not re.search(r"\d+ final labels", detail) and "bob" not in detail
    assert "4 of 6 assignments" not in detail
    assert "only your own progress" in detail
    listing = _body(client.get(reverse("labelling:study-list")))
    assert "1 / 3 assignments (yours)" in listing and "4 / 6" not in listing

    # The owner and the viewer still see the whole study.
    for who in ("owner", "viewer"):
        client.force_login(s[who])
        detail = _body(client.get(reverse("labelling:study-detail", args=[s["study"].slug])))
        assert "4 of 6 assignments done" in detail and "2 final labels" in detail and "bob" in detail
        assert "4 / 6 assignments" in _body(client.get(reverse("labelling:study-list")))


def test_once_the_study_is_not_blind_annotators_see_the_study_figures_again(client, api_client, labelling_study):
    s = labelling_study
    study = s["study"]
    study.blind = False
    study.save(update_fields=["blind"])
    _label(s, "ann1", s["items"][0], "crash")
    _label(s, "ann2", s["items"][0], "crash")
    api_client.force_authenticate(s["ann1"])
    progress = api_client.get(reverse("labelling-api:study-detail", args=[study.slug])).json()["progress"]
    assert (progress["assignments_total"], progress["assignments_done"], progress["items_complete"]) == (6, 2, 1)
    assert progress["final_labels"] == 2
    assert {a["username"] for a in progress["annotators"]} == {"alice", "bob"}
    client.force_login(s["ann1"])
    detail = _body(client.get(reverse("labelling:study-detail", args=[study.slug])))
    assert "2 final labels" in detail and "bob" in detail
    assert "2 / 6 assignments" in _body(client.get(reverse("labelling:study-list")))


def test_the_schema_says_which_progress_figures_are_null_for_annotators_of_blind_studies(api_client, small_study):
    api_client.force_authenticate(small_study["owner"])
    schema = api_client.get("/api/schema/", {"format": "json"}).json()
    progress = schema["components"]["schemas"]["StudyProgress"]["properties"]
    for name in ("assignments_total", "assignments_done", "items_complete", "final_labels"):
        assert progress[name]["nullable"] is True
        assert "blind" in progress[name]["description"]
    assert "blind" in progress["annotators"]["description"]


# --- every labelling page and API GET endpoint, as alice, while bob labels -----------------------------


def _named_patterns() -> list[tuple[str, list[str]]]:
    from labelling import urls as page_urls
    from labelling.api import urls as api_urls

    found = []
    for namespace, module in (("labelling", page_urls), ("labelling-api", api_urls)):
        for pattern in module.urlpatterns:
            found.append((f"{namespace}:{pattern.name}", sorted(pattern.pattern.converters)))
    return found


# Query strings worth trying on some endpoints (filters an annotator could use as an oracle).
QUERIES = {
    "labelling-api:annotation-list": [{"annotator": "bob"}, {"item": "ITEM"}, {"dimension": "symptom"}],
    "labelling-api:final-label-list": [{"item": "ITEM"}, {"method": "unanimous"}],
    "labelling-api:disagreement-list": [{"dimension": "symptom"}],
    "labelling-api:item-list": [{"screening": "included"}],
    "labelling-api:study-export": [{"format": "csv"}, {"format": "jsonl"}],
    "labelling:disagreements": [{"dimension": "symptom"}],
    "labelling-api:adjudication-next": [{"after": "ITEM"}],
    "labelling-api:adjudication-list": [{"item": "ITEM"}, {"dimension": "symptom"}],
    "labelling:adjudicate": [{"after": "ITEM"}],
    "labelling:items": [{"screening": "included"}],
    "labelling:screening": [{"item": "ITEM"}],
    "labelling-api:chart-distribution": [{"dimension": "symptom"}, {"dimension": "symptom", "labels": "annotators"}],
    "labelling-api:chart-crosstab": [{"rows": "symptom", "cols": "framework"}],
    "labelling:analytics": [{"labels": "annotators"}],
    "labelling-api:agreement": [{"codebook_version": "0"}, {"round": "Pilot"}],
    "labelling:agreement": [{"codebook_version": "0"}, {"round": "Pilot"}],
}
CASES = [
    pytest.param(name, params, query, id=name + "".join(f"?{k}={v}" for k, v in query.items()))
    for name, params in _named_patterns()
    for query in [{}, *QUERIES.get(name, [])]
]


def _kwargs(name: str, params: list[str], refs: dict) -> dict:
    kwargs = {}
    for param in params:
        if param == "pk":
            if name.endswith("annotation-detail"):
                kwargs[param] = refs["bob_annotation"]
            elif "dimension" in name or name.endswith(("category-add", "category-list")):
                kwargs[param] = refs["dimension"]
            elif "category" in name:
                kwargs[param] = refs["category"]
            elif "invitation" in name:
                kwargs[param] = refs["invitation"]
            elif "round" in name:
                kwargs[param] = refs["round"]
        else:
            kwargs[param] = refs.get(param)
        if kwargs.get(param) is None:
            pytest.fail(f"Give {name} a value for <{param}> in this test so that it is covered.")
    return kwargs


@pytest.mark.parametrize(("name", "params", "query"), CASES)
def test_no_labelling_page_or_endpoint_tells_an_annotator_of_a_blind_study_what_another_one_did(
    client, api_client, labelling_study, name, params, query
):
    s = labelling_study
    first, second, third = s["items"]
    _label(s, "ann1", first, "crash")  # alice's own labels: hers to see
    _label(s, "ann1", second, "crash")
    bob_annotations = _label(s, "ann2", third, "hang", note=BOB_NOTES[2])
    invitation = invitations_create(study=s["study"], role="viewer", created_by=s["owner"])[0]
    pilot = round_create(
        study=s["study"], name="Pilot", source="list", item_ids=[i.id for i in s["items"]], created_by=s["owner"]
    )
    refs = {
        "round": pilot.pk,
        "slug": s["study"].slug,
        "item_id": first.id,
        "user_id": s["ann2"].pk,
        "fmt": "csv",
        "chart_id": "distribution.symptom",
        "dimension": s["symptom"].pk,
        "category": s["symptom"].categories.get(code="hang").pk,
        "bob_annotation": bob_annotations[0].pk,
        "invitation": invitation.invitation.pk,
        "token": invitation.token,
        "version": "1.0.0",  # the Releases pages and API refuse an annotator before looking it up
    }
    url = reverse(name, kwargs=_kwargs(name, params, refs))
    data = {k: (first.id if v == "ITEM" else v) for k, v in query.items()}
    http = api_client if name.startswith("labelling-api:") else client
    if http is api_client:
        api_client.force_authenticate(s["ann1"])
    else:
        client.force_login(s["ann1"])

    def read():
        response = http.get(url, data)
        return response.status_code, response.get("Location"), _body(response)

    before = read()
    _label(s, "ann2", first, "crash", note=BOB_NOTES[0])  # agrees with alice: two final labels
    agreed = read()
    _label(s, "ann2", first, "wrong_output", note=BOB_NOTES[1])  # now a disagreement on symptom
    disagreed = read()
    _label(s, "ann2", second, "hang")  # another finished item, another disagreement
    more = read()
    assert before[0] < 500
    assert before == agreed == disagreed == more, f"{url} changed while bob labelled"
    for note in BOB_NOTES:
        assert note not in more[2]


@pytest.mark.parametrize("surface", ["api", "page"])
def test_an_annotators_refused_save_says_nothing_of_another_ones_labels(client, api_client, labelling_study, surface):
    """The error of a bad save depends on the caller's input only, whatever bob saved."""
    s = labelling_study
    item = s["items"][0]
    if surface == "api":
        api_client.force_authenticate(s["ann1"])
        url = reverse("labelling-api:item-annotations", args=[s["study"].slug, item.id])

        def save():
            response = api_client.put(url, {"values": {"symptom": "no-such-code"}}, format="json")
            return response.status_code, _body(response)
    else:
        client.force_login(s["ann1"])
        url = reverse("labelling:label-item", args=[s["study"].slug, item.id])

        def save():
            response = client.post(url, {"value-symptom": "no-such-code", "note-symptom": "mine"})
            return response.status_code, _body(response)

    before = save()
    _label(s, "ann2", item, "crash", note=BOB_NOTES[0])
    after = save()
    assert before[0] == 400 and before == after
    assert BOB_NOTES[0] not in after[1]
