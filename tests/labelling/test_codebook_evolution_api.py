"""Codebook evolution through the API and the pages: roles, the confirm step (dry run), history,
export and import of the codebook JSON, agreement before and after a change."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.urls import reverse

from labelling.models import Annotation, Category, CodebookEvent, Study
from labelling.selectors.codebook import codebook_export
from labelling.services.annotations import item_labels_save
from labelling.services.codebook_evolution import category_retire
from labelling.services.studies import study_create
from tests.conftest import site_user
from tests.factories import AssignmentFactory, StudyItemFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def labelled(labelling_study):
    s = labelling_study
    for item, (a, b) in zip(s["items"], [("crash", "hang"), ("hang", "crash"), ("crash", "crash")], strict=True):
        item_labels_save(item=item, annotator=s["ann1"], values={"symptom": a, "component": ["layers", "model"]})
        item_labels_save(item=item, annotator=s["ann2"], values={"symptom": b, "component": ["model"]})
    return s


def _url(s, code, op, dimension="symptom"):
    category = Category.objects.get(dimension=s[dimension], code=code)
    return f"/api/studies/{s['study'].slug}/codebook/categories/{category.pk}/{op}/"


@pytest.mark.parametrize("who, status", [("owner", 200), ("ann1", 403), ("viewer", 403), ("outsider", 404)])
def test_only_the_owner_changes_the_codebook(api_client, labelled, who, status):
    s = labelled
    api_client.force_authenticate(s[who])
    events = CodebookEvent.objects.count()
    response = api_client.post(_url(s, "crash", "merge"), {"target": "hang"}, format="json")
    assert response.status_code == status, response.content
    assert CodebookEvent.objects.count() == events + (1 if status == 200 else 0)
    assert Annotation.objects.filter(value="crash").exists() == (status != 200)


def test_dry_run_says_what_it_touches_and_writes_nothing(api_client, labelled):
    s = labelled
    api_client.force_authenticate(s["owner"])
    version = Study.objects.get(pk=s["study"].pk).codebook_version
    response = api_client.post(_url(s, "crash", "merge"), {"target": "hang", "dry_run": True}, format="json")
    assert response.status_code == 200
    body = response.json()
    crash = Annotation.objects.filter(dimension=s["symptom"], value="crash")
    assert body["dry_run"] is True and body["event"]["annotations_touched"] == 4
    assert body["impact"]["annotations"] == crash.count() == 4
    assert body["impact"]["annotators"] == 2 and body["impact"]["items"] == 3
    assert "4 annotation(s)" in body["description"]
    assert body["codebook_version"] == version
    assert crash.count() == 4  # nothing written

    response = api_client.post(_url(s, "crash", "merge"), {"target": "hang"}, format="json")
    body = response.json()
    assert body["event"]["annotations_touched"] == 4 and body["event"]["kind"] == "categories_merged"
    assert body["codebook_version"] == version + 1
    assert body["event"]["final_labels_touched"] == 3  # every item now unanimous on 'hang'


def test_bad_operation_input_is_a_400_naming_the_field(api_client, labelled):
    s = labelled
    api_client.force_authenticate(s["owner"])
    cases = [
        ("merge", {"target": "nope"}, "target"),
        ("merge", {}, "target"),
        ("split", {"into": [{"code": "only_one", "name": "One"}]}, "into"),
        ("split", {"into": "not a list"}, "into"),
        ("rename", {"code": "Bad Code"}, "code"),
        ("move", {"parent": "nope"}, "parent"),
    ]
    for op, body, field in cases:
        response = api_client.post(_url(s, "crash", op), body, format="json")
        assert response.status_code == 400, (op, body, response.content)
        assert field in json.dumps(response.json()), (op, response.json())
    assert not CodebookEvent.objects.filter(kind__in=["categories_merged", "category_split"]).exists()


def test_split_through_the_api_flags_and_the_queue_brings_items_back(api_client, labelled):
    s = labelled
    api_client.force_authenticate(s["owner"])
    body = {"into": [{"code": "segfault", "name": "Segfault"}, {"code": "abort", "name": "Abort"}]}
    response = api_client.post(_url(s, "crash", "split"), body, format="json")
    assert response.status_code == 200, response.content
    flagged = Annotation.objects.filter(needs_recode=True)
    assert response.json()["event"]["annotations_touched"] == flagged.count() == 4
    api_client.force_authenticate(s["ann1"])
    nxt = api_client.get(f"/api/studies/{s['study'].slug}/next-item/")
    first_flagged = flagged.filter(annotator=s["ann1"]).order_by("item_id").first().item_id
    assert nxt.status_code == 200 and str(first_flagged) in nxt.content.decode()


def test_retire_and_restore_and_the_category_says_so(api_client, labelled):
    s = labelled
    api_client.force_authenticate(s["owner"])
    assert api_client.post(_url(s, "hang", "retire"), {}, format="json").status_code == 200
    tree = api_client.get(f"/api/studies/{s['study'].slug}/codebook/").json()
    symptom = next(d for d in tree["dimensions"] if d["code"] == "symptom")
    assert {c["code"]: c["retired"] for c in symptom["categories"]}["hang"] is True
    assert api_client.post(_url(s, "hang", "retire"), {}, format="json").status_code == 400
    assert api_client.post(_url(s, "hang", "restore"), {}, format="json").status_code == 200


def test_dimension_rename_api(api_client, labelled):
    s = labelled
    api_client.force_authenticate(s["owner"])
    url = f"/api/studies/{s['study'].slug}/codebook/dimensions/{s['symptom'].pk}/rename/"
    response = api_client.post(url, {"code": "observed_symptom"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["event"]["kind"] == "dimension_renamed"
    api_client.force_authenticate(s["ann1"])
    assert api_client.post(url, {"code": "x"}, format="json").status_code == 403


def test_history_hides_counts_from_a_blind_annotator(api_client, labelled):
    s = labelled
    category_retire(category=Category.objects.get(dimension=s["symptom"], code="hang"), by=s["owner"])
    url = f"/api/studies/{s['study'].slug}/codebook/history/"
    api_client.force_authenticate(s["owner"])
    owner_view = api_client.get(url).json()
    assert owner_view[0]["kind"] == "category_retired" and owner_view[0]["details"]["labels_holding_it"] == 2
    api_client.force_authenticate(s["ann1"])
    blind_view = api_client.get(url).json()
    assert blind_view[0]["kind"] == "category_retired"
    assert blind_view[0]["annotations_touched"] is None and "labels_holding_it" not in blind_view[0]["details"]
    api_client.force_authenticate(s["outsider"])
    assert api_client.get(url).status_code == 404


# --------------------------------------------------------------------------- pages


def test_the_change_page_confirms_then_applies(client, labelled):
    s = labelled
    crash = Category.objects.get(dimension=s["symptom"], code="crash")
    url = reverse("labelling:category-change", args=[s["study"].slug, crash.pk])
    client.force_login(s["owner"])
    assert client.get(url).status_code == 200
    preview = client.post(url, {"operation": "merge", "target": "hang"})
    assert preview.status_code == 200
    html = preview.content.decode()
    assert "Confirm" in html and "4 annotation(s) by 2 annotator(s)" in html
    assert Annotation.objects.filter(value="crash").count() == 4
    done = client.post(url, {"operation": "merge", "target": "hang", "confirm": "1"})
    assert done.status_code == 302 and done["Location"].endswith("#history")
    assert not Annotation.objects.filter(value="crash").exists()
    page = client.get(reverse("labelling:codebook", args=[s["study"].slug])).content.decode()
    assert 'data-kind="categories_merged"' in page and "4 annotations" in page

    bad = client.post(
        reverse("labelling:category-change", args=[s["study"].slug, Category.objects.get(code="hang").pk]),
        {"operation": "split", "into": "only_one | One"},
    )
    assert bad.status_code == 400 and "at least two" in bad.content.decode()


@pytest.mark.parametrize("who, status", [("ann1", 403), ("viewer", 403), ("outsider", 404)])
def test_the_change_pages_are_the_owners(client, labelled, who, status):
    s = labelled
    crash = Category.objects.get(dimension=s["symptom"], code="crash")
    client.force_login(s[who])
    url = reverse("labelling:category-change", args=[s["study"].slug, crash.pk])
    assert client.get(url).status_code == status
    assert client.post(url, {"operation": "merge", "target": "hang", "confirm": "1"}).status_code == status
    assert Annotation.objects.filter(value="crash").count() == 4
    rename = reverse("labelling:dimension-rename", args=[s["study"].slug, s["symptom"].pk])
    assert client.get(rename).status_code == status


def test_the_items_list_and_the_item_page_show_labels_to_recode(client, labelled):
    s = labelled
    client.force_login(s["owner"])
    crash = Category.objects.get(dimension=s["symptom"], code="crash")
    client.post(
        reverse("labelling:category-change", args=[s["study"].slug, crash.pk]),
        {"operation": "split", "into": "segfault | Segfault\nabort | Abort", "confirm": "1"},
    )
    items_html = client.get(reverse("labelling:items", args=[s["study"].slug])).content.decode()
    assert "To recode after a split" in items_html and "2 to recode" in items_html
    flagged = client.get(reverse("labelling:items", args=[s["study"].slug]) + "?needs_recode=1").content.decode()
    assert flagged.count('class="item-link"') == 3
    item_html = client.get(reverse("labelling:item-detail", args=[s["study"].slug, s["items"][2].pk])).content.decode()
    assert item_html.count("to recode</span>") == 2
    client.force_login(s["ann1"])
    label_html = client.get(reverse("labelling:label-next", args=[s["study"].slug]), follow=True).content.decode()
    assert "Recode:" in label_html and "Segfault" in label_html and "Abort" in label_html


# --------------------------------------------------------------------------- export and import


def _without_origin(data: dict) -> dict:
    return {k: v for k, v in data.items() if k not in {"exported_from", "slug"}}


def test_export_import_round_trip_equals(api_client, small_study):
    owner = site_user("rae", "researcher")
    study = study_create(slug="origin", name="Origin", owner=owner, template_slug="silent-bugs")
    dimension = study.codebook.dimensions.get(code="effect")
    category_retire(category=dimension.categories.order_by("order").first(), by=owner)
    api_client.force_authenticate(owner)
    response = api_client.get("/api/studies/origin/codebook/export/")
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    exported = json.loads(response.content)
    assert exported["exported_from"]["codebook_version"] == Study.objects.get(slug="origin").codebook_version

    created = api_client.post("/api/studies/", {"slug": "copy", "name": "Copy", "codebook": exported}, format="json")
    assert created.status_code == 201, created.content
    copy = Study.objects.get(slug="copy")
    assert _without_origin(codebook_export(study=copy)) == _without_origin(exported)
    assert copy.codebook.dimensions.get(code="effect").categories.filter(retired_at__isnull=False).count() == 1
    assert CodebookEvent.objects.filter(study=copy, kind="created").count() == 1


@pytest.mark.parametrize(
    "codebook, words",
    [
        ("{not json", "not valid JSON"),
        ([1, 2], "must be a JSON object"),
        ({"name": "x", "dimensions": "root"}, "'dimensions' must be a list"),
        ({"name": "x", "dimensions": []}, "no dimensions"),
        ({"dimensions": [{"code": "Root Cause", "name": "Root"}]}, "code 'Root Cause' is not valid"),
        ({"dimensions": [{"code": "rc", "kind": "likert"}]}, "kind 'likert'"),
        ({"dimensions": [{"code": "rc", "categories": [{"code": "a"}, {"code": "a"}]}]}, "used twice"),
        ({"dimensions": [{"code": "rc", "categories": ["a"]}]}, "must be an object"),
        ({"dimensions": [{"code": "rc", "required": "yes"}]}, "'required' must be true or false"),
        ({"dimensions": [{"code": "rc", "decision_rule": "vote"}]}, "decision_rule 'vote'"),
    ],
)
def test_a_bad_codebook_is_a_400_naming_what_is_wrong(api_client, small_study, codebook, words):
    owner = site_user("rae", "researcher")
    api_client.force_authenticate(owner)
    response = api_client.post("/api/studies/", {"slug": "bad", "name": "Bad", "codebook": codebook}, format="json")
    assert response.status_code == 400, response.content
    assert words in response.content.decode()
    assert not Study.objects.filter(slug="bad").exists()


def test_the_create_page_takes_an_uploaded_codebook(client, small_study):
    owner = site_user("rae", "researcher")
    client.force_login(owner)
    exported = codebook_export(study=small_study["study"])
    upload = io.BytesIO(json.dumps(exported).encode())
    upload.name = "codebook.json"
    response = client.post(
        reverse("labelling:study-create"),
        {"slug": "from-file", "name": "From file", "overlap_k": 2, "blind": "on", "codebook_file": upload},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    study = Study.objects.get(slug="from-file")
    assert _without_origin(codebook_export(study=study)) == _without_origin(exported)
    bad = io.BytesIO(b"\xff\xfe not utf-8")
    bad.name = "bad.json"
    response = client.post(
        reverse("labelling:study-create"),
        {"slug": "bad-file", "name": "Bad", "overlap_k": 2, "codebook_file": bad},
    )
    assert response.status_code == 400 and "not UTF-8" in response.content.decode()
    assert not Study.objects.filter(slug="bad-file").exists()


def test_the_codebook_page_offers_the_export(client, labelled):
    s = labelled
    client.force_login(s["ann1"])
    page = client.get(reverse("labelling:codebook", args=[s["study"].slug])).content.decode()
    assert reverse("labelling:codebook-export", args=[s["study"].slug]) in page
    response = client.get(reverse("labelling:codebook-export", args=[s["study"].slug]))
    assert response.status_code == 200 and json.loads(response.content)["dimensions"][0]["code"] == "symptom"


def test_create_study_command_from_a_codebook_file(tmp_path, small_study):
    owner = site_user("rae", "researcher")
    path = tmp_path / "codebook.json"
    path.write_text(json.dumps(codebook_export(study=small_study["study"])))
    out = io.StringIO()
    call_command("create_study", "cmd-copy", "--codebook-file", str(path), "--owner", owner.username, stdout=out)
    assert "2 dimensions" in out.getvalue()
    copy = Study.objects.get(slug="cmd-copy")
    assert list(copy.codebook.dimensions.values_list("code", flat=True)) == ["symptom", "component"]


# --------------------------------------------------------------------------- agreement before and after


def test_agreement_restricted_to_labels_of_an_earlier_version(api_client, client, labelled):
    s = labelled
    study = Study.objects.get(pk=s["study"].pk)
    before = study.codebook_version
    category_retire(category=Category.objects.get(dimension=s["component"], code="optimizer"), by=s["owner"])
    # Two more items labelled after the change, both annotators agreeing.
    for _ in range(2):
        item = StudyItemFactory(study=study)
        AssignmentFactory(item=item, annotator=s["ann1"])
        AssignmentFactory(item=item, annotator=s["ann2"])
        for who in ("ann1", "ann2"):
            item_labels_save(item=item, annotator=s[who], values={"symptom": "hang", "component": ["model"]})
    api_client.force_authenticate(s["owner"])
    url = f"/api/studies/{study.slug}/agreement/"
    every = {d["code"]: d for d in api_client.get(url).json()["dimensions"]}
    early = api_client.get(url, {"codebook_version": before}).json()
    assert early["codebook"]["labels_up_to_version"] == before and "or earlier" in early["codebook"]["note"]
    early_dims = {d["code"]: d for d in early["dimensions"]}
    # Independent count: items with two labels saved under version <= before.
    old_items = (
        Annotation.objects.filter(dimension=s["symptom"], codebook_version__lte=before).values("item_id").distinct()
    )
    assert early_dims["symptom"]["items"] == old_items.count() == 3
    assert every["symptom"]["items"] == 5
    # 1 of 3 items agree before (a proportion); 3 of 5 with the two later ones
    assert early_dims["symptom"]["percent_agreement"] == pytest.approx(1 / 3, abs=1e-3)
    assert every["symptom"]["percent_agreement"] == pytest.approx(3 / 5, abs=1e-3)
    for bad in ("x", "-1", str(study.codebook_version + 5)):
        response = api_client.get(url, {"codebook_version": bad})
        assert response.status_code == 400 and "codebook_version" in response.content.decode()
    client.force_login(s["owner"])
    page = client.get(f"/studies/{study.slug}/agreement/?codebook_version={before}")
    assert page.status_code == 200 and "Restricted to version" in page.content.decode()
    assert client.get(f"/studies/{study.slug}/agreement/?codebook_version=x").status_code == 400


def test_agreement_command_takes_a_codebook_version(labelled):
    s = labelled
    out = io.StringIO()
    call_command("agreement", s["study"].slug, "--codebook-version", "0", "--format", "json", stdout=out)
    assert json.loads(out.getvalue())["codebook"]["labels_up_to_version"] == 0
    with pytest.raises(Exception, match="codebook_version must be a whole number"):
        call_command("agreement", s["study"].slug, "--codebook-version", "99", stdout=io.StringIO())
