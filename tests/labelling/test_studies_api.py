"""The study, member, codebook, item, screening and assignment endpoints, for every role."""

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from labelling.models import Assignment, Category, Dimension, Membership, SampleDraw, Study, StudyItem
from tests.factories import AnnotationFactory, AssignmentFactory, ReportFactory, StudyItemFactory
from triage.permissions import site_group_membership_set

pytestmark = pytest.mark.django_db
ROLES = ["owner", "ann1", "viewer", "outsider", "anonymous"]


def _as(api_client, small_study, role):
    if role != "anonymous":
        api_client.force_authenticate(small_study[role])
    return api_client


def _call(client, method, url, data=None):
    return getattr(client, method)(url, data, format="json") if data is not None else getattr(client, method)(url)


def _prepare(small_study):
    """Rows the endpoints below act on: an item, a report, a spare dimension and category."""
    study = small_study["study"]
    ReportFactory.create_batch(3, framework="jax")
    item = StudyItemFactory(study=study, screening=StudyItem.Screening.PENDING)
    spare = Dimension.objects.create(codebook=study.codebook, code="spare", name="Spare", order=9)
    spare_cat = Category.objects.create(dimension=spare, code="spare_cat", name="Spare cat")
    return {"item": item.pk, "spare": spare.pk, "spare_cat": spare_cat.pk, "viewer_id": small_study["viewer"].pk}


OK_MEMBER = {"owner": 200, "ann1": 200, "viewer": 200, "outsider": 404, "anonymous": 401}
OWNER_ONLY = {"ann1": 403, "viewer": 403, "outsider": 404, "anonymous": 401}
RESULTS = {"owner": 200, "ann1": 403, "viewer": 200, "outsider": 404, "anonymous": 401}

CASES = [
    ("get", "/api/studies/small/", None, OK_MEMBER),
    ("patch", "/api/studies/small/", {"name": "New name"}, {"owner": 200, **OWNER_ONLY}),
    ("get", "/api/studies/small/members/", None, OK_MEMBER),
    ("post", "/api/studies/small/members/", {"username": "mallory", "role": "viewer"}, {"owner": 201, **OWNER_ONLY}),
    ("patch", "/api/studies/small/members/{viewer_id}/", {"role": "annotator"}, {"owner": 200, **OWNER_ONLY}),
    ("delete", "/api/studies/small/members/{viewer_id}/", None, {"owner": 204, **OWNER_ONLY}),
    ("get", "/api/studies/small/assignments/", None, OK_MEMBER),
    ("post", "/api/studies/small/assignments/", None, {"owner": 201, **OWNER_ONLY}),
    ("get", "/api/studies/small/codebook/", None, OK_MEMBER),
    ("get", "/api/studies/small/codebook/dimensions/", None, OK_MEMBER),
    (
        "post",
        "/api/studies/small/codebook/dimensions/",
        {"code": "stage", "name": "Stage"},
        {"owner": 201, **OWNER_ONLY},
    ),
    ("get", "/api/studies/small/codebook/dimensions/{spare}/", None, OK_MEMBER),
    ("patch", "/api/studies/small/codebook/dimensions/{spare}/", {"name": "S"}, {"owner": 200, **OWNER_ONLY}),
    ("delete", "/api/studies/small/codebook/dimensions/{spare}/", None, {"owner": 204, **OWNER_ONLY}),
    ("get", "/api/studies/small/codebook/dimensions/{spare}/categories/", None, OK_MEMBER),
    (
        "post",
        "/api/studies/small/codebook/dimensions/{spare}/categories/",
        {"code": "c2", "name": "C2"},
        {"owner": 201, **OWNER_ONLY},
    ),
    ("get", "/api/studies/small/codebook/categories/{spare_cat}/", None, OK_MEMBER),
    ("patch", "/api/studies/small/codebook/categories/{spare_cat}/", {"name": "C"}, {"owner": 200, **OWNER_ONLY}),
    ("delete", "/api/studies/small/codebook/categories/{spare_cat}/", None, {"owner": 204, **OWNER_ONLY}),
    ("get", "/api/studies/small/items/", None, RESULTS),
    ("post", "/api/studies/small/items/", {"report_ids": []}, {"owner": 400, **OWNER_ONLY}),
    ("post", "/api/studies/small/items/add-by-filter/", {"framework": "jax"}, {"owner": 201, **OWNER_ONLY}),
    ("post", "/api/studies/small/items/sample/", {"framework": "jax", "size": 2}, {"owner": 201, **OWNER_ONLY}),
    ("post", "/api/studies/small/items/{item}/screen/", {"decision": "include"}, {"owner": 200, **OWNER_ONLY}),
    ("get", "/api/studies/small/draws/", None, RESULTS),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("method, url, data, expected", CASES, ids=[f"{c[0]} {c[1]}" for c in CASES])
def test_every_endpoint_for_every_role(api_client, small_study, role, method, url, data, expected):
    ids = _prepare(small_study)
    response = _call(_as(api_client, small_study, role), method, url.format(**ids), data)
    assert response.status_code == expected[role], response.content
    if response.status_code >= 400:
        assert "message" in response.json()


def test_unknown_study_is_404_and_anonymous_study_list_is_401(small_study):
    assert APIClient().get("/api/studies/").status_code == 401
    assert APIClient().post("/api/studies/", {"slug": "a", "name": "A"}, format="json").status_code == 401
    client = APIClient()
    client.force_authenticate(small_study["owner"])
    assert client.get("/api/studies/nope/").status_code == 404


# --------------------------------------------------------------------------- studies


def test_study_list_shows_only_my_studies_with_my_role(api_client, small_study):
    response = _as(api_client, small_study, "viewer").get("/api/studies/")
    assert [(s["slug"], s["role"]) for s in response.json()["results"]] == [("small", "viewer")]
    api_client.force_authenticate(small_study["outsider"])
    assert api_client.get("/api/studies/").json()["results"] == []


@pytest.mark.parametrize("who", ["outsider", "owner", "ann1", "viewer"])
def test_creating_a_study_needs_the_researcher_role(api_client, small_study, who):
    """Owning a study is not a site permission: an annotator or owner without the role cannot create
    one (and so cannot become a "global owner")."""
    response = _as(api_client, small_study, who).post("/api/studies/", {"slug": "mine", "name": "M"}, format="json")
    assert response.status_code == 403 and "researcher" in response.json()["message"]
    assert not Study.objects.filter(slug="mine").exists()


def test_a_researcher_creates_a_study_from_a_template_and_owns_it(api_client, small_study):
    api = _as(api_client, small_study, "researcher")
    response = api.post(
        "/api/studies/",
        {
            "slug": "silent",
            "name": "Silent bugs",
            "template": "silent-bugs",
            "overlap_k": 3,
            "exclusion_reasons": ["Not silent", "Duplicate"],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["role"], body["template_slug"], body["overlap_k"]) == ("owner", "silent-bugs", 3)
    assert body["progress"]["items_total"] == 0
    study = Study.objects.get(slug="silent")
    assert study.codebook.dimensions.count() == 9
    codebook = api.get("/api/studies/silent/codebook/").json()
    assert codebook["template_slug"] == "silent-bugs" and len(codebook["dimensions"]) == 9


def test_create_refuses_unknown_template_and_duplicate_slug(api_client, small_study):
    api = _as(api_client, small_study, "researcher")
    response = api.post("/api/studies/", {"slug": "x", "name": "X", "template": "nope"}, format="json")
    assert response.status_code == 400 and "dl-framework-bugs" in response.json()["message"]
    response = api.post("/api/studies/", {"slug": "small", "name": "Again"}, format="json")
    assert response.status_code == 400 and "Choose another slug" in response.json()["details"]["slug"][0]
    assert not Study.objects.filter(slug="x").exists()


def test_patch_changes_settings(api_client, small_study):
    api = _as(api_client, small_study, "owner")
    response = api.patch(
        "/api/studies/small/", {"overlap_k": 3, "blind": False, "exclusion_reasons": ["A", "B"]}, format="json"
    )
    assert response.status_code == 200
    study = Study.objects.get(slug="small")
    assert (study.overlap_k, study.blind, study.exclusion_reasons) == (3, False, ["A", "B"])
    assert api.patch("/api/studies/small/", {"overlap_k": 0}, format="json").status_code == 400


# --------------------------------------------------------------------------- members


def test_members_add_change_remove_and_last_owner(api_client, small_study):
    api = _as(api_client, small_study, "owner")
    assert (
        api.post("/api/studies/small/members/", {"username": "ghost", "role": "viewer"}, format="json").status_code
        == 400
    )
    assert (
        api.post("/api/studies/small/members/", {"username": "mallory", "role": "annotator"}, format="json").status_code
        == 201
    )
    usernames = {m["username"]: m["role"] for m in api.get("/api/studies/small/members/").json()}
    assert usernames["mallory"] == "annotator"
    owner_id = small_study["owner"].pk
    response = api.delete(f"/api/studies/small/members/{owner_id}/")
    assert response.status_code == 409 and "last owner" in response.json()["message"]
    response = api.patch(f"/api/studies/small/members/{owner_id}/", {"role": "viewer"}, format="json")
    assert response.status_code == 409
    assert api.delete(f"/api/studies/small/members/{small_study['outsider'].pk + 1000}/").status_code == 404


# --------------------------------------------------------------------------- codebook


def test_codebook_tree_and_edits(api_client, small_study):
    api = _as(api_client, small_study, "owner")
    symptom = small_study["symptom"]
    response = api.post(
        f"/api/studies/small/codebook/dimensions/{symptom.pk}/categories/",
        {"code": "segfault", "name": "Segfault", "parent": "crash", "shortcut": "s"},
        format="json",
    )
    assert response.status_code == 201 and response.json()["parent"] == "crash"
    tree = api.get("/api/studies/small/codebook/").json()
    dim = tree["dimensions"][0]
    assert dim["code"] == "symptom"
    crash = next(c for c in dim["categories"] if c["code"] == "crash")
    assert [c["code"] for c in crash["children"]] == ["segfault"]
    assert "segfault" not in [c["code"] for c in dim["categories"]]


def test_codebook_validation_errors_are_400_with_details(api_client, small_study):
    api = _as(api_client, small_study, "owner")
    response = api.post("/api/studies/small/codebook/dimensions/", {"code": "Bad Code", "name": "X"}, format="json")
    assert response.status_code == 400 and "code" in response.json()["details"]
    symptom = small_study["symptom"]
    url = f"/api/studies/small/codebook/dimensions/{symptom.pk}/categories/"
    response = api.post(url, {"code": "x", "name": "X", "shortcut": "?"}, format="json")
    assert response.status_code == 400 and "reserved" in response.json()["details"]["shortcut"][0]
    response = api.post(url, {"code": "x", "name": "X", "parent": "layers"}, format="json")
    assert response.status_code == 400 and "parent" in response.json()["details"]


def test_kind_change_and_delete_in_use_are_refused(api_client, small_study):
    api = _as(api_client, small_study, "owner")
    symptom = small_study["symptom"]
    AnnotationFactory(item=StudyItemFactory(study=small_study["study"]), dimension=symptom, value="hang")
    response = api.patch(f"/api/studies/small/codebook/dimensions/{symptom.pk}/", {"kind": "multi"}, format="json")
    assert response.status_code == 400 and "cannot change" in response.json()["message"]
    hang = symptom.categories.get(code="hang")
    response = api.delete(f"/api/studies/small/codebook/categories/{hang.pk}/")
    assert response.status_code == 409
    assert response.json()["message"] == "1 annotation uses 'hang'; merge it first."


def test_categories_of_another_study_are_404(api_client, small_study):
    from tests.factories import CategoryFactory

    foreign = CategoryFactory()
    api = _as(api_client, small_study, "owner")
    assert api.get(f"/api/studies/small/codebook/categories/{foreign.pk}/").status_code == 404
    assert api.delete(f"/api/studies/small/codebook/dimensions/{foreign.dimension_id}/").status_code == 404


# --------------------------------------------------------------------------- items and screening


def test_items_by_filter_sample_and_listing(api_client, small_study):
    reports = ReportFactory.create_batch(8, framework="mxnet")
    api = _as(api_client, small_study, "owner")
    response = api.post(
        "/api/studies/small/items/sample/", {"framework": "mxnet", "size": 3, "seed": 42}, format="json"
    )
    assert response.status_code == 201
    draw = response.json()
    assert (draw["sample_size"], draw["seed"], draw["matched"], draw["added"]) == (3, 42, 8, 3)
    assert draw["filters"] == {"framework": "mxnet"} and draw["created_by"] == "olivia"
    response = api.post("/api/studies/small/items/sample/", {"framework": "mxnet", "size": 6}, format="json")
    assert response.status_code == 400 and "at most 5" in response.json()["message"]
    response = api.post("/api/studies/small/items/add-by-filter/", {"framework": "mxnet"}, format="json")
    assert response.json()["added"] == 5
    listing = api.get("/api/studies/small/items/?screening=pending").json()
    assert len(listing["results"]) == 8 and listing["next"] is None
    assert {i["report"]["id"] for i in listing["results"]} == {r.pk for r in reports}
    assert listing["results"][0]["assignments_total"] == 0
    assert len(api.get("/api/studies/small/draws/").json()["results"]) == 2


def test_items_add_by_report_ids(api_client, small_study):
    reports = ReportFactory.create_batch(2)
    api = _as(api_client, small_study, "owner")
    response = api.post("/api/studies/small/items/", {"report_ids": [r.pk for r in reports]}, format="json")
    assert response.status_code == 201 and response.json() == {"added": 2}
    response = api.post("/api/studies/small/items/", {"report_ids": [reports[0].pk]}, format="json")
    assert response.json() == {"added": 0}


def test_sampling_is_reproducible_through_the_api(api_client, small_study):
    ReportFactory.create_batch(20, framework="dl4j")
    site_group_membership_set(user=small_study["owner"], group="researcher", member=True)
    api = _as(api_client, small_study, "owner")
    api.post("/api/studies/", {"slug": "twin", "name": "Twin"}, format="json")
    for slug in ("small", "twin"):
        api.post(f"/api/studies/{slug}/items/sample/", {"framework": "dl4j", "size": 5, "seed": 9}, format="json")
    ids = [
        sorted(StudyItem.objects.filter(study__slug=slug).values_list("report_id", flat=True))
        for slug in ("small", "twin")
    ]
    assert ids[0] == ids[1] and len(ids[0]) == 5
    assert SampleDraw.objects.filter(seed=9).count() == 2


def test_screen_endpoint(api_client, small_study):
    item = StudyItemFactory(study=small_study["study"], screening="pending")
    api = _as(api_client, small_study, "owner")
    url = f"/api/studies/small/items/{item.pk}/screen/"
    response = api.post(url, {"decision": "exclude"}, format="json")
    assert response.status_code == 400 and "reason" in response.json()["details"]
    response = api.post(url, {"decision": "exclude", "reason": "Made up"}, format="json")
    assert response.status_code == 400
    response = api.post(url, {"decision": "exclude", "reason": "Duplicate"}, format="json")
    assert response.status_code == 200
    assert response.json()["screening"] == "excluded" and response.json()["screened_by"] == "olivia"
    other = StudyItemFactory()
    assert (
        api.post(f"/api/studies/small/items/{other.pk}/screen/", {"decision": "include"}, format="json").status_code
        == 404
    )


# --------------------------------------------------------------------------- assignments


def test_make_assignments_and_who_sees_which(api_client, small_study):
    StudyItemFactory.create_batch(3, study=small_study["study"])
    api = _as(api_client, small_study, "owner")
    response = api.post("/api/studies/small/assignments/")
    assert response.status_code == 201 and response.json() == {"created": 6}
    assert api.post("/api/studies/small/assignments/").json() == {"created": 0}
    assert api.get("/api/studies/small/assignments/").json()["count"] == 6
    api.force_authenticate(small_study["viewer"])
    assert api.get("/api/studies/small/assignments/").json()["count"] == 6
    api.force_authenticate(small_study["ann1"])
    mine = api.get("/api/studies/small/assignments/").json()["results"]
    assert len(mine) == 3 and {a["annotator"] for a in mine} == {"alice"}


def test_make_assignments_with_too_few_annotators_is_409(api_client, small_study):
    StudyItemFactory.create_batch(2, study=small_study["study"])
    Membership.objects.filter(user=small_study["ann2"]).delete()
    response = _as(api_client, small_study, "owner").post("/api/studies/small/assignments/")
    assert response.status_code == 409 and "add annotators or lower k" in response.json()["message"]
    assert not Assignment.objects.exists()


def test_progress_in_study_detail(api_client, small_study):
    study = small_study["study"]
    items = StudyItemFactory.create_batch(2, study=study)
    StudyItemFactory(study=study, screening="pending")
    AssignmentFactory(item=items[0], annotator=small_study["ann1"], completed_at=timezone.now())
    AssignmentFactory(item=items[0], annotator=small_study["ann2"], completed_at=timezone.now())
    AssignmentFactory(item=items[1], annotator=small_study["ann1"])
    progress = _as(api_client, small_study, "viewer").get("/api/studies/small/").json()["progress"]
    assert progress["items_total"] == 3
    assert progress["screening"] == {"pending": 1, "included": 2, "excluded": 0}
    assert (progress["assignments_total"], progress["assignments_done"], progress["items_complete"]) == (3, 2, 1)
    per = {a["username"]: (a["done"], a["total"]) for a in progress["annotators"]}
    assert per == {"alice": (1, 2), "bob": (1, 1)}


def test_the_reproduction_suggestions_switch_through_the_api(api_client, small_study):
    api = _as(api_client, small_study, "researcher")
    created = api.post("/api/studies/", {"slug": "sw", "name": "Switch"}, format="json").json()
    assert created["blind"] is True and created["reproduction_suggestions"] is False
    opened = api.post("/api/studies/", {"slug": "sw2", "name": "Open", "blind": False}, format="json").json()
    assert opened["reproduction_suggestions"] is True
    response = api.patch("/api/studies/sw/", {"reproduction_suggestions": True}, format="json")
    assert response.status_code == 200 and response.json()["reproduction_suggestions"] is True
    assert Study.objects.get(slug="sw").reproduction_suggestions is True
    annotator = _as(api_client, small_study, "ann1")
    assert annotator.patch("/api/studies/small/", {"reproduction_suggestions": True}, format="json").status_code == 403
    assert Study.objects.get(slug="small").reproduction_suggestions is False
