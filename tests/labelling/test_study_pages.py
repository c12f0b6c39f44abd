"""The study pages (list, create, overview, settings, codebook, items, screening) for every role."""

import re

import pytest
from django.utils import timezone

from labelling.models import Assignment, Category, Dimension, Membership, SampleDraw, Study, StudyItem
from tests.factories import AnnotationFactory, AssignmentFactory, ReportFactory, StudyItemFactory

pytestmark = pytest.mark.django_db
ROLES = ["owner", "ann1", "viewer", "outsider", "anonymous"]


def _as(client, small_study, role):
    if role != "anonymous":
        client.force_login(small_study[role])
    return client


def _prepare(small_study):
    study = small_study["study"]
    ReportFactory.create_batch(3, framework="jax")
    item = StudyItemFactory(study=study, screening=StudyItem.Screening.PENDING)
    spare = Dimension.objects.create(codebook=study.codebook, code="spare", name="Spare", order=9)
    spare_cat = Category.objects.create(dimension=spare, code="spare_cat", name="Spare cat")
    return {"item": item.pk, "spare": spare.pk, "spare_cat": spare_cat.pk, "viewer_id": small_study["viewer"].pk}


MEMBERS = {"owner": 200, "ann1": 200, "viewer": 200, "outsider": 404, "anonymous": 302}
OWNER = {"owner": 200, "ann1": 403, "viewer": 403, "outsider": 404, "anonymous": 302}
RESULTS = {"owner": 200, "ann1": 403, "viewer": 200, "outsider": 404, "anonymous": 302}
OWNER_POST = {"owner": 302, "ann1": 403, "viewer": 403, "outsider": 404, "anonymous": 302}

PAGES = [
    ("get", "/", None, {"owner": 200, "ann1": 200, "viewer": 200, "outsider": 200, "anonymous": 302}),
    ("get", "/studies/new/", None, {"owner": 403, "ann1": 403, "viewer": 403, "outsider": 403, "anonymous": 302}),
    ("get", "/studies/small/", None, MEMBERS),
    ("get", "/studies/small/settings/", None, OWNER),
    ("post", "/studies/small/settings/", {"name": "N", "overlap_k": 2, "exclusion_reasons": "A"}, OWNER_POST),
    ("post", "/studies/small/settings/members/", {"username": "mallory", "role": "viewer"}, OWNER_POST),
    ("post", "/studies/small/settings/members/{viewer_id}/", {"action": "role", "role": "annotator"}, OWNER_POST),
    ("post", "/studies/small/assignments/", {}, OWNER_POST),
    ("get", "/studies/small/codebook/", None, MEMBERS),
    ("post", "/studies/small/codebook/dimensions/", {"code": "stage", "name": "Stage", "kind": "single"}, OWNER_POST),
    ("get", "/studies/small/codebook/dimensions/{spare}/", None, OWNER),
    (
        "post",
        "/studies/small/codebook/dimensions/{spare}/",
        {"code": "spare", "name": "S", "kind": "single"},
        OWNER_POST,
    ),
    ("post", "/studies/small/codebook/dimensions/{spare}/delete/", {}, OWNER_POST),
    (
        "post",
        "/studies/small/codebook/dimensions/{spare}/categories/",
        {"dim{spare}-code": "c2", "dim{spare}-name": "C2"},
        OWNER_POST,
    ),
    ("get", "/studies/small/codebook/categories/{spare_cat}/", None, OWNER),
    ("post", "/studies/small/codebook/categories/{spare_cat}/", {"code": "spare_cat", "name": "C"}, OWNER_POST),
    ("post", "/studies/small/codebook/categories/{spare_cat}/delete/", {}, OWNER_POST),
    ("get", "/studies/small/items/", None, RESULTS),
    ("post", "/studies/small/items/add/", {"framework": "jax"}, OWNER_POST),
    ("post", "/studies/small/items/sample/", {"framework": "jax", "size": 2, "seed": 5}, OWNER_POST),
    ("get", "/studies/small/screening/", None, OWNER),
    ("post", "/studies/small/screening/{item}/", {"decision": "include"}, OWNER_POST),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("method, url, data, expected", PAGES, ids=[f"{p[0]} {p[1]}" for p in PAGES])
def test_every_page_for_every_role(client, small_study, role, method, url, data, expected):
    ids = _prepare(small_study)
    url = url.format(**ids)
    client = _as(client, small_study, role)
    if method == "get":
        response = client.get(url)
    else:
        response = client.post(url, {k.format(**ids): v for k, v in data.items()})
    assert response.status_code == expected[role], response.content[:500]
    if role == "anonymous":
        assert response["Location"].startswith("/accounts/login/")


def test_owner_writes_take_effect(client, small_study):
    """The OWNER_POST rows above answer 302 because the write worked, not because of an error."""
    ids = _prepare(small_study)
    client.force_login(small_study["owner"])
    client.post(
        f"/studies/small/codebook/dimensions/{ids['spare']}/categories/",
        {f"dim{ids['spare']}-code": "c2", f"dim{ids['spare']}-name": "C2"},
    )
    assert Category.objects.filter(dimension_id=ids["spare"], code="c2").exists()
    client.post("/studies/small/items/sample/", {"framework": "jax", "size": 2, "seed": 5})
    assert StudyItem.objects.filter(study__slug="small", report__framework="jax").count() == 2
    client.post(f"/studies/small/screening/{ids['item']}/", {"decision": "include"})
    assert StudyItem.objects.get(pk=ids["item"]).screening == "included"


# --------------------------------------------------------------------------- list and create


def test_study_list_shows_my_studies_with_progress(client, small_study):
    study = small_study["study"]
    items = StudyItemFactory.create_batch(2, study=study)
    AssignmentFactory(item=items[0], annotator=small_study["ann1"], completed_at=timezone.now())
    AssignmentFactory(item=items[1], annotator=small_study["ann1"])
    client.force_login(small_study["ann1"])
    html = client.get("/").content.decode()
    assert "Small study" in html and "annotator" in html
    assert '<span class="pct-50">' in html and "1 / 2 assignments" in html
    client.force_login(small_study["outsider"])
    html = client.get("/").content.decode()
    assert "Small study" not in html and "not a member of any study" in html


def test_only_researchers_are_offered_a_new_study(client, small_study):
    client.force_login(small_study["owner"])
    assert "/studies/new/" not in client.get("/").content.decode()
    client.force_login(small_study["researcher"])
    assert "/studies/new/" in client.get("/").content.decode()


def test_create_page_offers_scratch_and_every_template_with_its_source(client, small_study):
    client.force_login(small_study["researcher"])
    html = client.get("/studies/new/").content.decode()
    assert "From scratch" in html
    assert 'value="dl-framework-bugs"' in html and 'value="silent-bugs"' in html
    assert "Toward Understanding Deep Learning Framework Bugs" in html  # a source


def test_create_a_study_from_a_template_in_the_page(client, small_study):
    client.force_login(small_study["researcher"])
    response = client.post(
        "/studies/new/",
        {
            "slug": "tf-bugs",
            "name": "TF bugs",
            "description": "",
            "template": "dl-framework-bugs",
            "overlap_k": 3,
            "blind": "on",
            "exclusion_reasons": "Not a bug\nDuplicate\n",
        },
    )
    assert response.status_code == 302 and response["Location"] == "/studies/tf-bugs/"
    study = Study.objects.get(slug="tf-bugs")
    assert study.template_slug == "dl-framework-bugs" and study.overlap_k == 3
    assert study.exclusion_reasons == ["Not a bug", "Duplicate"]
    assert study.codebook.dimensions.count() == 4
    assert Membership.objects.get(study=study).user == small_study["researcher"]


def test_create_page_shows_errors_and_keeps_the_input(client, small_study):
    client.force_login(small_study["researcher"])
    response = client.post("/studies/new/", {"slug": "small", "name": "Dup", "overlap_k": 2, "template": ""})
    assert response.status_code == 400  # the form again, with what to fix
    assert "Choose another slug" in response.content.decode()
    response = client.post("/studies/new/", {"slug": "bad slug", "name": "", "overlap_k": 0})
    html = response.content.decode()
    assert "This field is required" in html and "valid" in html
    assert Study.objects.count() == 1


# --------------------------------------------------------------------------- overview


def test_empty_study_overview_shows_the_next_steps(client, small_study):
    client.force_login(small_study["owner"])
    html = client.get("/studies/small/").content.decode()
    assert "1. Import reports → 2. Add items → 3. Screen → 4. Make assignments → 5. Label" in html
    assert "Make assignments" in html


def test_overview_progress_per_annotator_and_label_link(client, small_study):
    study = small_study["study"]
    items = StudyItemFactory.create_batch(4, study=study)
    for item in items[:3]:
        AssignmentFactory(item=item, annotator=small_study["ann1"], completed_at=timezone.now())
    AssignmentFactory(item=items[3], annotator=small_study["ann1"])
    client.force_login(small_study["ann1"])
    html = client.get("/studies/small/").content.decode()
    assert 'class="progress"' in html and '<span class="pct-75">' in html
    assert "Label next item (1 left)" in html
    assert "Make assignments" not in html and "Next steps" not in html


def test_viewer_sees_overview_read_only(client, small_study):
    StudyItemFactory(study=small_study["study"])
    client.force_login(small_study["viewer"])
    html = client.get("/studies/small/").content.decode()
    assert "read-only" in html
    assert "Make assignments" not in html and "Label next item" not in html
    assert "/studies/small/disagreements/" in html


def test_make_assignments_button(client, small_study):
    StudyItemFactory.create_batch(3, study=small_study["study"])
    client.force_login(small_study["owner"])
    response = client.post("/studies/small/assignments/", follow=True)
    assert "6 assignments made." in response.content.decode()
    assert Assignment.objects.count() == 6
    response = client.post("/studies/small/assignments/", follow=True)
    assert "no assignments made" in response.content.decode()
    assert client.get("/studies/small/assignments/").status_code == 405


def test_make_assignments_with_too_few_annotators_shows_the_fix(client, small_study):
    StudyItemFactory.create_batch(2, study=small_study["study"])
    Membership.objects.filter(user=small_study["ann2"]).delete()
    client.force_login(small_study["owner"])
    html = client.post("/studies/small/assignments/", follow=True).content.decode()
    assert "add annotators or lower k" in html
    assert not Assignment.objects.exists()


# --------------------------------------------------------------------------- settings


def test_settings_save_and_members(client, small_study):
    client.force_login(small_study["owner"])
    response = client.post(
        "/studies/small/settings/",
        {"name": "Renamed", "description": "d", "overlap_k": 3, "exclusion_reasons": "One\nTwo"},
    )
    assert response.status_code == 302
    study = Study.objects.get(slug="small")
    assert (study.name, study.overlap_k, study.blind, study.exclusion_reasons) == ("Renamed", 3, False, ["One", "Two"])
    client.post("/studies/small/settings/members/", {"username": "mallory", "role": "annotator"})
    assert Membership.objects.get(study=study, user=small_study["outsider"]).role == "annotator"
    response = client.post("/studies/small/settings/members/", {"username": "ghost", "role": "viewer"})
    assert response.status_code == 400 and "There is no user" in response.content.decode()
    viewer = small_study["viewer"]
    client.post(f"/studies/small/settings/members/{viewer.pk}/", {"action": "remove"})
    assert not Membership.objects.filter(study=study, user=viewer).exists()
    owner = small_study["owner"]
    html = client.post(
        f"/studies/small/settings/members/{owner.pk}/", {"action": "remove"}, follow=True
    ).content.decode()
    assert "last owner" in html
    assert Membership.objects.filter(study=study, user=owner, role="owner").exists()


def test_settings_page_switches_reproduction_suggestions(client, small_study):
    client.force_login(small_study["owner"])
    page = client.get("/studies/small/settings/").content.decode()
    assert 'name="reproduction_suggestions"' in page and "Reproduction suggestions on label pages" in page
    data = {"name": "Small study", "description": "", "overlap_k": 2, "blind": "on", "exclusion_reasons": "A"}
    assert client.post("/studies/small/settings/", {**data, "reproduction_suggestions": "on"}).status_code == 302
    assert Study.objects.get(slug="small").reproduction_suggestions is True
    assert client.post("/studies/small/settings/", data).status_code == 302  # an unticked box switches it off
    assert Study.objects.get(slug="small").reproduction_suggestions is False
    client.force_login(small_study["ann1"])
    assert client.post("/studies/small/settings/", {**data, "reproduction_suggestions": "on"}).status_code == 403
    assert Study.objects.get(slug="small").reproduction_suggestions is False


# --------------------------------------------------------------------------- codebook


def test_codebook_page_shows_the_tree_to_members_and_forms_to_the_owner(client, small_study):
    symptom = small_study["symptom"]
    crash = symptom.categories.get(code="crash")
    Category.objects.create(
        dimension=symptom,
        code="segfault",
        name="Segfault",
        parent=crash,
        definition="<b>dies</b> with SIGSEGV",
        order=1,
    )
    client.force_login(small_study["viewer"])
    html = client.get("/studies/small/codebook/").content.decode()
    assert "Segfault" in html and 'class="category-child"' in html
    assert "&lt;b&gt;dies&lt;/b&gt;" in html
    assert "Add a dimension" not in html and "Only the study owner can change the codebook" in html
    client.force_login(small_study["owner"])
    html = client.get("/studies/small/codebook/").content.decode()
    assert "Add a dimension" in html and "Add a category to Symptom" in html


def test_codebook_validation_errors_are_shown_on_the_page(client, small_study):
    symptom = small_study["symptom"]
    client.force_login(small_study["owner"])
    response = client.post(
        f"/studies/small/codebook/dimensions/{symptom.pk}/categories/",
        {f"dim{symptom.pk}-code": "x", f"dim{symptom.pk}-name": "X", f"dim{symptom.pk}-shortcut": "1"},
    )
    assert response.status_code == 400
    assert "already picks" in response.content.decode()
    response = client.post("/studies/small/codebook/dimensions/", {"code": "Bad!", "name": "B", "kind": "single"})
    assert response.status_code == 400 and "not a valid code" in response.content.decode()
    AnnotationFactory(item=StudyItemFactory(study=small_study["study"]), dimension=symptom, value="crash")
    response = client.post(
        f"/studies/small/codebook/dimensions/{symptom.pk}/",
        {"code": "symptom", "name": "Symptom", "kind": "multi", "required": "on"},
    )
    assert response.status_code == 400 and "cannot change from single to multi" in response.content.decode()
    crash = symptom.categories.get(code="crash")
    html = client.post(f"/studies/small/codebook/categories/{crash.pk}/delete/", follow=True).content.decode()
    assert "1 annotation uses &#x27;crash&#x27;; merge it first." in html
    assert Category.objects.filter(pk=crash.pk).exists()


def test_edit_forms_are_prefilled(client, small_study):
    symptom = small_study["symptom"]
    crash = symptom.categories.get(code="crash")
    client.force_login(small_study["owner"])
    assert 'value="symptom"' in client.get(f"/studies/small/codebook/dimensions/{symptom.pk}/").content.decode()
    html = client.get(f"/studies/small/codebook/categories/{crash.pk}/").content.decode()
    assert 'value="crash"' in html and 'value="1"' in html


# --------------------------------------------------------------------------- items


def test_items_page_counts_matches_and_adds_all(client, small_study):
    ReportFactory.create_batch(4, framework="keras")
    ReportFactory.create_batch(2, framework="jax")
    client.force_login(small_study["owner"])
    html = client.get("/studies/small/items/?framework=keras").content.decode()
    assert "Add all 4" in html
    response = client.post("/studies/small/items/add/", {"framework": "keras"})
    assert response.status_code == 302 and "framework=keras" in response["Location"]
    assert StudyItem.objects.filter(study__slug="small").count() == 4
    html = client.get("/studies/small/items/?framework=keras").content.decode()
    assert "0</strong> of them" in html


def test_items_page_sample_with_seed_and_draw_history(client, small_study):
    ReportFactory.create_batch(10, framework="keras")
    client.force_login(small_study["owner"])
    html = client.get("/studies/small/items/?framework=keras").content.decode()
    seed = re.search(r'name="seed" value="(\d+)"', html)
    assert seed, "a random seed is proposed and shown"
    client.post("/studies/small/items/sample/", {"framework": "keras", "size": 3, "seed": 1234})
    draw = SampleDraw.objects.get()
    assert (draw.sample_size, draw.seed, draw.added) == (3, 1234, 3)
    html = client.get("/studies/small/items/").content.decode()
    today = timezone.now().strftime("%Y-%m-%d")
    assert f"sample of 3, seed 1234,\n      {today} by olivia" in html
    response = client.post("/studies/small/items/sample/", {"framework": "keras", "size": 50, "seed": 1})
    assert response.status_code == 400 and "at most 7" in response.content.decode()


def test_items_list_escapes_titles_filters_and_paginates(client, small_study):
    study = small_study["study"]
    StudyItemFactory(
        study=study,
        report=ReportFactory(title="<script>alert(1)</script>"),
        screening="excluded",
        exclusion_reason="Duplicate",
    )
    StudyItemFactory.create_batch(55, study=study, screening="pending")
    client.force_login(small_study["viewer"])
    html = client.get("/studies/small/items/").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert "56 items" in html and 'rel="next"' in html and "Only the study owner can add items" in html
    html = client.get("/studies/small/items/?screening=excluded").content.decode()
    assert "Duplicate" in html and "1 item" in html


def test_items_list_says_who_each_item_is_assigned_to_in_one_query_per_page(client, small_study):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    study = small_study["study"]
    first = StudyItemFactory(study=study, screening="included")
    StudyItemFactory(study=study)
    AssignmentFactory(study=study, item=first, annotator=small_study["ann2"], completed_at=timezone.now())
    AssignmentFactory(study=study, item=first, annotator=small_study["ann1"])
    client.force_login(small_study["viewer"])
    html = client.get("/studies/small/items/").content.decode()
    rows = re.findall(r'<td class="assigned-to">(.*?)</td>', html, flags=re.S)
    assert len(rows) == 2
    assert re.sub(r"<[^>]+>", "", rows[0]) == "alice, bob ✓"  # by name; bob is done
    assert "nobody yet" in rows[1]
    with CaptureQueriesContext(connection) as few:
        client.get("/studies/small/items/")
    for item in StudyItemFactory.create_batch(10, study=study):
        AssignmentFactory(study=study, item=item, annotator=small_study["ann1"])
    with CaptureQueriesContext(connection) as many:
        client.get("/studies/small/items/")
    assert len(many) == len(few)  # the assignments of a page come in one query, whatever its size


def test_items_page_empty_state(client, small_study):
    client.force_login(small_study["owner"])
    assert "No items yet: add reports by filter or sample" in client.get("/studies/small/items/").content.decode()


# --------------------------------------------------------------------------- screening


def test_screening_shows_the_next_item_with_markdown_and_keys(client, small_study):
    report = ReportFactory(title="NaN <em>loss</em>", body="Loss is **NaN**\n\n<script>alert(1)</script>")
    StudyItemFactory(study=small_study["study"], report=report, screening="pending")
    client.force_login(small_study["owner"])
    html = client.get("/studies/small/screening/").content.decode()
    assert "NaN &lt;em&gt;loss&lt;/em&gt;" in html
    assert "<strong>NaN</strong>" in html and "<script>alert(1)</script>" not in html
    assert "<kbd>i</kbd>" in html and "<kbd>x</kbd>" in html
    assert "1. Not a framework bug" in html
    assert "Screening is done by the study owner: one vote decides" in html


def test_screening_include_exclude_and_revisit(client, small_study):
    study = small_study["study"]
    first, second = StudyItemFactory.create_batch(2, study=study, screening="pending")
    client.force_login(small_study["owner"])
    response = client.post(f"/studies/small/screening/{first.pk}/", {"decision": "include"})
    assert response.status_code == 302
    html = client.get("/studies/small/screening/").content.decode()
    assert f'data-item="{second.pk}"' in html
    response = client.post(f"/studies/small/screening/{second.pk}/", {"decision": "exclude", "reason": ""})
    assert response.status_code == 400 and "Pick a reason" in response.content.decode()
    response = client.post(f"/studies/small/screening/{second.pk}/", {"decision": "exclude", "reason": "Spam"})
    assert response.status_code == 400 and "not one of this study" in response.content.decode()
    client.post(f"/studies/small/screening/{second.pk}/", {"decision": "exclude", "reason": "Duplicate"})
    second.refresh_from_db()
    assert (second.screening, second.exclusion_reason) == ("excluded", "Duplicate")
    html = client.get("/studies/small/screening/").content.decode()
    assert "Every item is screened" in html and f"?item={second.pk}" in html
    html = client.get(f"/studies/small/screening/?item={second.pk}").content.decode()
    assert f'data-item="{second.pk}"' in html and "Excluded: Duplicate" in html
    client.post(f"/studies/small/screening/{second.pk}/", {"decision": "include"})
    second.refresh_from_db()
    assert second.screening == "included"


def test_screening_items_of_other_studies_are_404(client, small_study):
    other = StudyItemFactory(screening="pending")
    client.force_login(small_study["owner"])
    assert client.get(f"/studies/small/screening/?item={other.pk}").status_code == 404
    assert client.post(f"/studies/small/screening/{other.pk}/", {"decision": "include"}).status_code == 404
    assert client.get("/studies/small/screening/?item=abc").status_code == 404


def test_study_nav_is_on_every_study_page(client, small_study):
    client.force_login(small_study["owner"])
    for url in (
        "/studies/small/",
        "/studies/small/codebook/",
        "/studies/small/items/",
        "/studies/small/screening/",
        "/studies/small/settings/",
    ):
        html = client.get(url).content.decode()
        assert 'class="study-nav"' in html and 'aria-current="page"' in html
        assert "/studies/small/export/csv/" in html
    client.force_login(small_study["ann1"])
    html = client.get("/studies/small/").content.decode()
    assert "/studies/small/settings/" not in html and "/studies/small/label/" in html
