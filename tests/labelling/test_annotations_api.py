"""labelling/api/annotations.py: next item, item annotations, annotation list/detail, final labels, disagreements."""

import pytest
from django.urls import reverse

from labelling.models import Annotation, Assignment, FinalLabel, Membership
from labelling.services.annotations import item_labels_save
from tests.factories import AssignmentFactory, StudyItemFactory, UserFactory

pytestmark = pytest.mark.django_db

ROLES = ["owner", "ann1", "ann2", "viewer", "outsider", "anonymous"]


def _client(api_client, s, who):
    if who != "anonymous":
        api_client.force_authenticate(s[who])
    return api_client


def _label(s, who, item, symptom="crash", component="layers", note=""):
    return item_labels_save(
        item=item,
        annotator=s[who],
        values={"symptom": symptom, "component": component},
        notes={"symptom": note},
        time_spent_ms=1000,
    )


def _url(name, s, *args):
    return reverse(f"labelling-api:{name}", args=[s["study"].slug, *args])


# --- next item -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "who, status", [("owner", 204), ("ann1", 200), ("viewer", 403), ("outsider", 404), ("anonymous", 401)]
)
def test_next_item_per_role(api_client, labelling_study, who, status):
    s = labelling_study
    response = _client(api_client, s, who).get(_url("next-item", s))
    assert response.status_code == status
    if status >= 400:
        assert "message" in response.json()


def test_next_item_payload_and_done(api_client, labelling_study):
    s = labelling_study
    client = _client(api_client, s, "ann1")
    data = client.get(_url("next-item", s)).json()
    assert data["item"] == s["items"][0].id
    assert data["report"]["title"] == s["items"][0].report.title
    assert [d["code"] for d in data["codebook"]] == ["symptom", "component"]
    assert [c["shortcut"] for c in data["codebook"][0]["categories"]] == ["1", "2", "3"]
    assert data["codebook"][1]["max_choices"] == 2
    assert data["progress"] == {"done": 0, "total": 3}
    for item in s["items"]:
        _label(s, "ann1", item)
    assert client.get(_url("next-item", s)).status_code == 204


def test_next_item_sends_the_codebook_only_when_the_clients_copy_is_old(api_client, labelling_study):
    from labelling.models import Category
    from labelling.services.codebooks import category_update

    s = labelling_study
    client = _client(api_client, s, "ann1")
    first = client.get(_url("next-item", s)).json()
    version = first["codebook_version"]
    assert [d["code"] for d in first["codebook"]] == ["symptom", "component"]
    held = client.get(_url("next-item", s), {"codebook_version": version})
    assert held.status_code == 200
    assert held.json()["codebook"] is None and held.json()["codebook_version"] == version
    assert held.json()["item"] == first["item"] and len(held.content) < len(client.get(_url("next-item", s)).content)
    assert client.get(_url("next-item", s), {"codebook_version": version + 1}).json()["codebook"] is not None
    category_update(category=Category.objects.get(dimension=s["symptom"], code="crash"), data={"name": "Abort"})
    changed = client.get(_url("next-item", s), {"codebook_version": version}).json()
    assert changed["codebook_version"] > version
    assert changed["codebook"][0]["categories"][0]["name"] == "Abort"


@pytest.mark.parametrize("bad", ["x", "-1", "1.5", "²", "1" * 40])
def test_a_bad_codebook_version_is_a_400(api_client, labelling_study, bad):
    response = _client(api_client, labelling_study, "ann1").get(
        _url("next-item", labelling_study), {"codebook_version": bad}
    )
    assert response.status_code == 400 and "codebook_version" in response.content.decode()


# --- PUT/GET an item's annotations ---------------------------------------------------------------


def test_put_saves_own_labels(api_client, labelling_study):
    s = labelling_study
    item = s["items"][0]
    client = _client(api_client, s, "ann1")
    response = client.put(
        _url("item-annotations", s, item.id),
        {
            "values": {"symptom": "hang", "component": ["model", "layers"]},
            "notes": {"symptom": "loops"},
            "time_spent_ms": 5000,
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    by_dim = {a["dimension"]: a for a in response.json()}
    assert by_dim["symptom"]["value"] == "hang" and by_dim["symptom"]["note"] == "loops"
    assert by_dim["component"]["value"] == "layers;model"
    assert by_dim["symptom"]["annotator"] == "alice"
    assert sum(a.time_spent_ms for a in Annotation.objects.filter(item=item)) == 5000
    assert Assignment.objects.get(item=item, annotator=s["ann1"]).completed_at is not None


@pytest.mark.parametrize(
    "who, status", [("owner", 404), ("ann1", 200), ("viewer", 403), ("outsider", 404), ("anonymous", 401)]
)
def test_put_per_role(api_client, labelling_study, who, status):
    s = labelling_study
    body = {"values": {"symptom": "crash", "component": "layers"}}
    response = _client(api_client, s, who).put(_url("item-annotations", s, s["items"][0].id), body, format="json")
    assert response.status_code == status
    assert Annotation.objects.exists() == (status == 200)


@pytest.mark.parametrize("role, status", [("viewer", 403), (None, 404)])
def test_put_by_a_former_annotator_whose_assignment_is_left_is_refused(api_client, labelling_study, role, status):
    """The role decides, not the assignment: made viewer (403) or removed from the study (404), an
    annotator whose assignments are still there saves nothing."""
    s = labelling_study
    membership = Membership.objects.get(study=s["study"], user=s["ann1"])
    if role is None:
        membership.delete()
    else:
        membership.role = role
        membership.save(update_fields=["role"])
    body = {"values": {"symptom": "crash", "component": "layers"}}
    response = _client(api_client, s, "ann1").put(_url("item-annotations", s, s["items"][0].id), body, format="json")
    assert response.status_code == status
    assert Assignment.objects.filter(item=s["items"][0], annotator=s["ann1"]).exists()
    assert not Annotation.objects.exists()


def test_put_by_staff_on_their_own_assignment_saves(api_client, labelling_study):
    """Staff count as owners of every study without a membership: they may label what is assigned to them."""
    s = labelling_study
    staff = UserFactory(is_staff=True)
    AssignmentFactory(item=s["items"][0], annotator=staff)
    body = {"values": {"symptom": "hang", "component": ["model"]}}
    response = _client(api_client, {"staff": staff}, "staff").put(
        _url("item-annotations", s, s["items"][0].id), body, format="json"
    )
    assert response.status_code == 200
    assert {a["dimension"]: a["value"] for a in response.json()} == {"symptom": "hang", "component": "model"}
    assert Assignment.objects.get(item=s["items"][0], annotator=staff).completed_at is not None


def test_put_on_an_item_not_assigned_to_the_caller_is_404_before_its_body_is_read(api_client, labelling_study):
    """As on the labelling page: another annotator's item is not in the caller's queue, whatever the body."""
    s = labelling_study
    other = StudyItemFactory(study=s["study"])
    AssignmentFactory(item=other, annotator=s["ann2"])
    response = _client(api_client, s, "ann1").put(
        _url("item-annotations", s, other.id), {"values": {"symptom": "crash", "component": "layers"}}, format="json"
    )
    assert response.status_code == 404
    assert "not in your labelling queue" in response.json()["message"]
    assert not Annotation.objects.exists()
    empty = _client(api_client, s, "ann1").put(_url("item-annotations", s, other.id), {}, format="json")
    assert empty.status_code == 404


def test_put_on_an_item_of_another_study_is_404(api_client, labelling_study):
    s = labelling_study
    foreign = StudyItemFactory()
    response = _client(api_client, s, "ann1").put(
        _url("item-annotations", s, foreign.id), {"values": {"symptom": "crash"}}, format="json"
    )
    assert response.status_code == 404


@pytest.mark.parametrize(
    "values, dimension",
    [
        ({"symptom": "boom", "component": "layers"}, "symptom"),
        ({"symptom": ["crash", "hang"], "component": "layers"}, "symptom"),
        ({"symptom": "crash", "component": ["layers", "model", "optimizer"]}, "component"),
        ({"component": "layers"}, "symptom"),
        ({"symptom": "crash", "component": "layers", "nope": "x"}, "nope"),
    ],
)
def test_put_validation_errors_are_400_with_details_and_save_nothing(api_client, labelling_study, values, dimension):
    s = labelling_study
    response = _client(api_client, s, "ann1").put(
        _url("item-annotations", s, s["items"][0].id), {"values": values}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["message"] and dimension in body["details"]
    assert not Annotation.objects.exists()


def test_put_validation_error_names_categories_by_name_and_keeps_the_codes(api_client, labelling_study):
    s = labelling_study
    response = _client(api_client, s, "ann1").put(
        _url("item-annotations", s, s["items"][0].id),
        {"values": {"symptom": "boom", "component": "layers"}},
        format="json",
    )
    assert response.status_code == 400
    details = " ".join(response.json()["details"]["symptom"])
    assert "'boom' is not a category of Symptom ('symptom')" in details
    assert "Crash (crash), Hang (hang), Incorrect Functionality (wrong_output)" in details


def test_put_without_values_is_400(api_client, labelling_study):
    s = labelling_study
    response = _client(api_client, s, "ann1").put(
        _url("item-annotations", s, s["items"][0].id), {"notes": {}}, format="json"
    )
    assert response.status_code == 400
    assert "values" in response.json()["details"]


@pytest.mark.parametrize(
    "who, status, count",
    [
        ("owner", 200, 4),
        ("viewer", 200, 4),
        ("ann1", 200, 2),
        ("ann2", 200, 2),
        ("outsider", 404, None),
        ("anonymous", 401, None),
    ],
)
def test_get_item_annotations_per_role(api_client, labelling_study, who, status, count):
    s = labelling_study
    item = s["items"][0]
    _label(s, "ann1", item, "crash", note="alice-note")
    _label(s, "ann2", item, "hang", note="bob-note")
    response = _client(api_client, s, who).get(_url("item-annotations", s, item.id))
    assert response.status_code == status
    if count is not None:
        data = response.json()
        assert len(data) == count
        if who in ("ann1", "ann2"):
            me = s[who].username
            assert {a["annotator"] for a in data} == {me}
            other_note = "bob-note" if who == "ann1" else "alice-note"
            assert other_note not in response.content.decode()


def test_get_item_annotations_of_an_unassigned_item_is_404_for_an_annotator(api_client, labelling_study):
    s = labelling_study
    other = StudyItemFactory(study=s["study"])
    AssignmentFactory(item=other, annotator=s["ann2"])
    assert _client(api_client, s, "ann1").get(_url("item-annotations", s, other.id)).status_code == 404


# --- annotation list and detail ------------------------------------------------------------------


@pytest.mark.parametrize(
    "who, status, annotators",
    [
        ("owner", 200, {"alice", "bob"}),
        ("viewer", 200, {"alice", "bob"}),
        ("ann1", 200, {"alice"}),
        ("ann2", 200, {"bob"}),
        ("outsider", 404, None),
        ("anonymous", 401, None),
    ],
)
def test_annotation_list_per_role(api_client, labelling_study, who, status, annotators):
    s = labelling_study
    for item in s["items"][:2]:
        _label(s, "ann1", item)
        _label(s, "ann2", item, "hang")
    response = _client(api_client, s, who).get(_url("annotation-list", s))
    assert response.status_code == status
    if annotators is not None:
        data = response.json()
        assert {a["annotator"] for a in data["results"]} == annotators
        assert data["count"] == 4 * len(annotators)


def test_annotation_list_filters(api_client, labelling_study):
    s = labelling_study
    for item in s["items"]:
        _label(s, "ann1", item)
        _label(s, "ann2", item, "hang")
    owner = _client(api_client, s, "owner")
    url = _url("annotation-list", s)
    assert owner.get(url, {"item": s["items"][1].id}).json()["count"] == 4
    data = owner.get(url, {"dimension": "symptom", "annotator": "bob"}).json()
    assert data["count"] == 3 and {a["value"] for a in data["results"]} == {"hang"}
    assert owner.get(url, {"annotator": s["ann1"].id}).json()["count"] == 6


def test_an_annotator_filtering_by_another_annotator_gets_nothing(api_client, labelling_study):
    s = labelling_study
    _label(s, "ann1", s["items"][0])
    _label(s, "ann2", s["items"][0], "hang")
    ann1 = _client(api_client, s, "ann1")
    for annotator in ("bob", str(s["ann2"].id)):
        data = ann1.get(_url("annotation-list", s), {"annotator": annotator}).json()
        assert data["count"] == 0 and data["results"] == []


def test_annotation_list_is_paginated(api_client, labelling_study):
    s = labelling_study
    study = s["study"]
    for _ in range(27):
        item = StudyItemFactory(study=study)
        AssignmentFactory(item=item, annotator=s["ann1"])
        _label(s, "ann1", item)
    data = _client(api_client, s, "owner").get(_url("annotation-list", s)).json()
    assert data["count"] == 54 and len(data["results"]) == 50 and data["next"]


@pytest.mark.parametrize(
    "who, status",
    [("owner", 200), ("viewer", 200), ("ann1", 200), ("ann2", 404), ("outsider", 404), ("anonymous", 401)],
)
def test_annotation_detail_per_role(api_client, labelling_study, who, status):
    s = labelling_study
    annotation = _label(s, "ann1", s["items"][0], note="private reasoning")[0]
    response = _client(api_client, s, who).get(reverse("labelling-api:annotation-detail", args=[annotation.id]))
    assert response.status_code == status
    if status == 200:
        assert response.json()["note"] == "private reasoning"
    else:
        assert "private reasoning" not in response.content.decode()


def test_annotation_detail_unknown_id_is_404(api_client, labelling_study):
    s = labelling_study
    response = _client(api_client, s, "owner").get(reverse("labelling-api:annotation-detail", args=[999999]))
    assert response.status_code == 404


# --- final labels and disagreements -----------------------------------------------------------------


@pytest.mark.parametrize(
    "who, status", [("owner", 200), ("viewer", 200), ("ann1", 403), ("outsider", 404), ("anonymous", 401)]
)
def test_final_labels_per_role(api_client, labelling_study, who, status):
    s = labelling_study
    _label(s, "ann1", s["items"][0])
    _label(s, "ann2", s["items"][0])
    response = _client(api_client, s, who).get(_url("final-label-list", s))
    assert response.status_code == status
    if status == 200:
        data = response.json()
        assert data["count"] == 2
        assert {(r["dimension"], r["value"], r["method"]) for r in data["results"]} == {
            ("symptom", "crash", "unanimous"),
            ("component", "layers", "unanimous"),
        }
        assert data["results"][0]["report"] == s["items"][0].report.source_id


def test_final_labels_filter_by_dimension_and_method(api_client, labelling_study):
    s = labelling_study
    _label(s, "ann1", s["items"][0])
    _label(s, "ann2", s["items"][0])
    FinalLabel.objects.filter(dimension=s["component"]).update(method=FinalLabel.Method.ADJUDICATED)
    owner = _client(api_client, s, "owner")
    data = owner.get(_url("final-label-list", s), {"dimension": "component"}).json()
    assert [r["dimension"] for r in data["results"]] == ["component"]
    data = owner.get(_url("final-label-list", s), {"method": "unanimous"}).json()
    assert [r["dimension"] for r in data["results"]] == ["symptom"]


@pytest.mark.parametrize(
    "who, status", [("owner", 200), ("viewer", 200), ("ann1", 403), ("outsider", 404), ("anonymous", 401)]
)
def test_disagreements_per_role(api_client, labelling_study, who, status):
    s = labelling_study
    _label(s, "ann1", s["items"][0], "crash", note="alice thinks")
    _label(s, "ann2", s["items"][0], "hang")
    response = _client(api_client, s, who).get(_url("disagreement-list", s))
    assert response.status_code == status
    if status == 200:
        data = response.json()
        assert data["next"] is None and "count" not in data  # keyset pages: no total count
        (row,) = data["results"]
        assert row["item"] == s["items"][0].id
        assert [d["dimension"] for d in row["dimensions"]] == ["symptom"]
        assert row["dimensions"][0]["values"] == [
            {"annotator": "alice", "value": "crash", "note": "alice thinks"},
            {"annotator": "bob", "value": "hang", "note": ""},
        ]
    else:
        assert "alice thinks" not in response.content.decode()


def test_disagreements_filter_by_dimension(api_client, labelling_study):
    s = labelling_study
    _label(s, "ann1", s["items"][0], "crash", "layers")
    _label(s, "ann2", s["items"][0], "hang", "layers")
    owner = _client(api_client, s, "owner")
    assert owner.get(_url("disagreement-list", s), {"dimension": "component"}).json()["results"] == []
    assert len(owner.get(_url("disagreement-list", s), {"dimension": "symptom"}).json()["results"]) == 1


def test_disagreements_come_in_keyset_pages(api_client, labelling_study, monkeypatch):
    from labelling.api.annotations import DisagreementPagination

    monkeypatch.setattr(DisagreementPagination, "page_size", 2)
    s = labelling_study
    for item in s["items"]:
        _label(s, "ann1", item, "crash")
        _label(s, "ann2", item, "hang")
    owner = _client(api_client, s, "owner")
    first = owner.get(_url("disagreement-list", s), {"dimension": "symptom"}).json()
    assert [r["item"] for r in first["results"]] == [i.id for i in s["items"][:2]]
    assert f"after={s['items'][1].id}" in first["next"] and "dimension=symptom" in first["next"]
    second = owner.get(first["next"]).json()
    assert [r["item"] for r in second["results"]] == [s["items"][2].id] and second["next"] is None


@pytest.mark.parametrize("after", ["x", "-1", "1.5"])
def test_a_bad_disagreements_cursor_is_a_400(api_client, labelling_study, after):
    s = labelling_study
    response = _client(api_client, s, "owner").get(_url("disagreement-list", s), {"after": after})
    assert response.status_code == 400
    assert "after" in response.content.decode()


def test_put_again_updates_without_extra_queries_per_annotation(api_client, labelling_study):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    s = labelling_study
    client = _client(api_client, s, "ann1")
    url = _url("item-annotations", s, s["items"][0].id)
    client.put(url, {"values": {"symptom": "crash", "component": "layers"}}, format="json")
    with CaptureQueriesContext(connection) as ctx:
        response = client.put(url, {"values": {"symptom": "hang", "component": ["model"]}}, format="json")
    assert response.status_code == 200
    assert {a["dimension"]: a["value"] for a in response.json()} == {"symptom": "hang", "component": "model"}
    assert len(ctx.captured_queries) <= 13  # no query per annotation
