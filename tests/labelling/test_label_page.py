"""labelling/views/label.py and labelling/views/disagreements.py: the labelling page and the disagreements page."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from labelling.models import Annotation, Assignment, Dimension, Membership
from labelling.services.annotations import item_labels_save
from tests.factories import (
    AssignmentFactory,
    CategoryFactory,
    DimensionFactory,
    ReportFactory,
    StudyItemFactory,
)

pytestmark = pytest.mark.django_db


def _url(s, item=None):
    if item is None:
        return reverse("labelling:label-next", args=[s["study"].slug])
    return reverse("labelling:label-item", args=[s["study"].slug, item.id])


def _post(client, s, item, symptom="crash", component=("layers",), **extra):
    data = {"value-symptom": symptom, "value-component": list(component), "time_spent_ms": "4000", **extra}
    return client.post(_url(s, item), data)


# --- /label/ -----------------------------------------------------------------------------------


@pytest.mark.parametrize("who, status", [("owner", 200), ("ann1", 302), ("viewer", 403), ("outsider", 404)])
def test_label_next_per_role(client, labelling_study, who, status):
    s = labelling_study
    client.force_login(s[who])
    response = client.get(_url(s))
    assert response.status_code == status
    if who == "ann1":
        assert response["Location"] == _url(s, s["items"][0])
    if who == "owner":  # an owner with no assignments is told there is nothing to label
        assert "Nothing to label yet" in response.content.decode()


def test_owner_without_assignments_is_sent_to_make_assignments_not_shown_a_full_bar(client, labelling_study):
    s = labelling_study
    client.force_login(s["owner"])
    html = client.get(_url(s)).content.decode()
    assert "0 of 0 labelled" not in html and 'role="progressbar"' not in html and "pct-100" not in html
    assert "assignments page" not in html
    overview = reverse("labelling:study-detail", args=[s["study"].slug])
    assert f'href="{overview}#make-assignments"' in html
    # ... and that anchor is the overview's real Make assignments form
    detail = client.get(overview).content.decode()
    assert re.search(r'<form[^>]*id="make-assignments"[^>]*>', detail)
    assert reverse("labelling:assignments", args=[s["study"].slug]) in detail


def test_annotator_without_assignments_is_told_the_owner_makes_them(client, small_study):
    client.force_login(small_study["ann1"])
    html = client.get(reverse("labelling:label-next", args=[small_study["study"].slug])).content.decode()
    assert "Nothing to label yet" in html and "when the study owner makes assignments" in html
    assert 'role="progressbar"' not in html and "make-assignments" not in html


def test_label_next_anonymous_goes_to_login(client, labelling_study):
    response = client.get(_url(labelling_study))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    response = client.get(_url(labelling_study, labelling_study["items"][0]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_all_done_page(client, labelling_study):
    s = labelling_study
    for item in s["items"]:
        item_labels_save(item=item, annotator=s["ann1"], values={"symptom": "crash", "component": "layers"})
    client.force_login(s["ann1"])
    response = client.get(_url(s))
    assert response.status_code == 200
    html = response.content.decode()
    assert "All done — 3 items labelled" in html
    assert reverse("labelling:study-detail", args=[s["study"].slug]) in html
    assert 'aria-valuenow="3"' in html
    assert f'data-prev-url="{_url(s, s["items"][2])}"' in html


# --- /label/<item_id>/ GET -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "who, status", [("ann1", 200), ("ann2", 200), ("owner", 404), ("viewer", 403), ("outsider", 404)]
)
def test_label_item_per_role(client, labelling_study, who, status):
    s = labelling_study
    client.force_login(s[who])
    assert client.get(_url(s, s["items"][0])).status_code == status


def test_item_not_assigned_to_the_annotator_is_404(client, labelling_study):
    s = labelling_study
    other = StudyItemFactory(study=s["study"])
    AssignmentFactory(item=other, annotator=s["ann2"])
    client.force_login(s["ann1"])
    assert client.get(_url(s, other)).status_code == 404
    assert client.post(_url(s, other), {"value-symptom": "crash", "value-component": "layers"}).status_code == 404
    assert not Annotation.objects.exists()


def test_page_shows_report_codebook_progress_and_keys(client, labelling_study):
    s = labelling_study
    symptom = s["symptom"]
    crash = symptom.categories.get(code="crash")
    crash.definition = "The program stops with an error."
    crash.example = "Segfault in conv2d"
    crash.save()
    CategoryFactory(dimension=symptom, code="segfault", name="Segmentation fault", parent=crash, shortcut="s")
    DimensionFactory(codebook=s["study"].codebook, code="version", name="Version", kind=Dimension.Kind.TEXT, order=9)
    item = s["items"][0]
    item.report.body = "Steps:\n\n**bold** text"
    item.report.save()
    client.force_login(s["ann1"])
    html = client.get(_url(s, item)).content.decode()
    assert 'class="label-layout"' in html
    assert escape(item.report.title) in html
    assert "<strong>bold</strong>" in html  # markdown rendered
    assert 'rel="noopener noreferrer nofollow"' in html and item.report.url in html
    # every dimension in order, with the right input type
    assert html.index('id="dim-symptom"') < html.index('id="dim-component"') < html.index('id="dim-version"')
    assert re.search(r'type="radio" name="value-symptom" value="crash" data-shortcut="1"', html)
    assert re.search(r'type="checkbox" name="value-component" value="layers" data-shortcut="a"', html)
    assert 'data-max-choices="2"' in html
    assert '<textarea name="value-version" class="text-value"' in html
    assert '<textarea name="note-symptom" class="note"' in html
    # children indented, shortcut in <kbd>, definition small, example on hover
    assert re.search(r'class="category child depth-1"[^>]*>\s*<input[^>]*value="segfault"', html)
    assert "<kbd>s</kbd>" in html and "<kbd>1</kbd>" in html
    assert '<small class="definition">The program stops with an error.</small>' in html
    assert 'title="Example: Segfault in conv2d"' in html
    # progress, buttons, CSRF, the script served locally
    assert 'role="progressbar"' in html and 'aria-valuenow="0"' in html and 'aria-valuemax="3"' in html
    assert "0 of 3 labelled" in html
    assert "Save &amp; next" in html and "Help <kbd>?</kbd>" in html
    assert "csrfmiddlewaretoken" in html
    assert "/static/js/labelling.js" in html
    assert 'data-prev-url=""' in html  # first item: nowhere to go back to
    # what the page's script keys its draft by, and the controls it drives
    assert f'data-study="{s["study"].slug}" data-item="{item.id}" data-user="{s["ann1"].id}"' in html
    assert 'id="unsaved-badge"' in html and 'id="definitions-toggle"' in html and "data-unsaved" not in html
    # a sub-category's key is shown beside its parent's, and the sub-category knows its parent's key
    assert re.search(r'<kbd>1</kbd><span class="child-keys"[^>]*><kbd class="child-key">s</kbd></span>', html)
    assert re.search(r'value="segfault"[^>]*data-parent-key="1"', html)


def test_javascript_source_links_are_not_rendered(client, labelling_study):
    s = labelling_study
    report = ReportFactory(url="javascript:alert(1)")
    item = StudyItemFactory(study=s["study"], report=report)
    AssignmentFactory(item=item, annotator=s["ann1"])
    client.force_login(s["ann1"])
    html = client.get(_url(s, item)).content.decode()
    assert "javascript:" not in html


def test_revisiting_prefills_own_values(client, labelling_study):
    s = labelling_study
    item = s["items"][0]
    item_labels_save(
        item=item,
        annotator=s["ann1"],
        values={"symptom": "hang", "component": ["model", "optimizer"]},
        notes={"component": "both apply"},
    )
    client.force_login(s["ann1"])
    html = client.get(_url(s, item)).content.decode()
    assert re.search(r'value="hang" data-shortcut="2" data-name="Hang" checked', html)
    assert re.search(r'value="model"[^>]* checked', html) and re.search(r'value="optimizer"[^>]* checked', html)
    assert not re.search(r'value="crash"[^>]* checked', html)
    assert ">both apply</textarea>" in html
    assert "You labelled this item already" in html


def test_back_link_points_to_the_previous_assignment(client, labelling_study):
    s = labelling_study
    client.force_login(s["ann1"])
    html = client.get(_url(s, s["items"][2])).content.decode()
    assert f'data-prev-url="{_url(s, s["items"][1])}"' in html
    assert 'id="back-link"' in html


def test_back_link_is_kept_when_an_invalid_post_is_shown_again(client, labelling_study):
    s = labelling_study
    client.force_login(s["ann1"])
    response = _post(client, s, s["items"][2], symptom="no-such-category")
    assert response.status_code == 400
    assert f'data-prev-url="{_url(s, s["items"][1])}"' in response.content.decode()


# --- POST -----------------------------------------------------------------------------------------


def test_post_saves_and_redirects_to_the_next_item(client, labelling_study):
    s = labelling_study
    client.force_login(s["ann1"])
    response = _post(
        client, s, s["items"][0], symptom="hang", component=("layers", "model"), **{"note-symptom": "spins forever"}
    )
    assert response.status_code == 302
    assert response["Location"] == _url(s, s["items"][1])
    rows = {a.dimension.code: a for a in Annotation.objects.filter(annotator=s["ann1"], item=s["items"][0])}
    assert rows["symptom"].value == "hang" and rows["symptom"].note == "spins forever"
    assert rows["component"].value == "layers;model"
    assert sum(a.time_spent_ms for a in rows.values()) == 4000
    assert Assignment.objects.get(annotator=s["ann1"], item=s["items"][0]).completed_at is not None
    html = client.get(response["Location"]).content.decode()
    assert 'aria-valuenow="1"' in html and "1 of 3 labelled" in html


def test_post_of_the_last_item_goes_to_the_done_page(client, labelling_study):
    s = labelling_study
    client.force_login(s["ann1"])
    for item in s["items"][:2]:
        _post(client, s, item)
    response = _post(client, s, s["items"][2])
    assert response["Location"] == _url(s)


def test_time_spent_is_clamped_from_the_form(client, labelling_study):
    s = labelling_study
    client.force_login(s["ann1"])
    _post(client, s, s["items"][0], time_spent_ms="99999999999")
    total = sum(Annotation.objects.filter(annotator=s["ann1"]).values_list("time_spent_ms", flat=True))
    assert total == 3_600_000


@pytest.mark.parametrize(
    "data, dimension, fragment",
    [
        ({"value-symptom": "boom", "value-component": "layers"}, "symptom", "is not a category of"),
        ({"value-symptom": ["crash", "hang"], "value-component": "layers"}, "symptom", "takes one category"),
        ({"value-symptom": "crash", "value-component": ["layers", "model", "optimizer"]}, "component", "at most 2"),
        ({"value-component": "layers"}, "symptom", "is required"),
    ],
)
def test_invalid_post_rerenders_with_the_message_and_keeps_the_values(
    client, labelling_study, data, dimension, fragment
):
    s = labelling_study
    client.force_login(s["ann1"])
    data = {**data, "note-symptom": "my careful note", "note-component": "kept too", "time_spent_ms": "1234"}
    response = client.post(_url(s, s["items"][0]), data)
    assert response.status_code == 400
    html = response.content.decode()
    block = html[html.index(f'id="dim-{dimension}"') :]
    block = block[: block.index("</fieldset>")]
    assert fragment in block and 'class="error"' in block
    assert "Nothing was saved" in html
    assert ">my careful note</textarea>" in html and ">kept too</textarea>" in html
    assert 'name="time_spent_ms" value="1234"' in html  # the time spent so far is carried to the next try
    if "layers" in data.get("value-component", ""):
        assert re.search(r'value="layers"[^>]* checked', html)
    assert not Annotation.objects.exists()
    assert Assignment.objects.get(annotator=s["ann1"], item=s["items"][0]).completed_at is None


def test_invalid_post_lists_the_invalid_dimensions_by_name_with_links_and_marks_the_page_unsaved(
    client, labelling_study
):
    s = labelling_study
    client.force_login(s["ann1"])
    response = client.post(_url(s, s["items"][0]), {"value-symptom": ["crash", "hang"]})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-unsaved="true"' in html
    top = html[html.index('class="error form-error"') : html.index('id="dim-symptom"')]
    assert '<a href="#dim-symptom" data-dimension-link="symptom">Symptom</a>' in top
    assert '<a href="#dim-component" data-dimension-link="component">Component</a>' in top
    assert "got 2: Crash (crash), Hang (hang)" in top  # categories by name, the code beside it
    assert "pick at least one of: Layers (layers), Model (model), Optimizer (optimizer)" in top


def test_post_requires_csrf(labelling_study):
    from django.test import Client

    s = labelling_study
    client = Client(enforce_csrf_checks=True)
    client.force_login(s["ann1"])
    response = client.post(_url(s, s["items"][0]), {"value-symptom": "crash", "value-component": "layers"})
    assert response.status_code == 403
    assert not Annotation.objects.exists()


@pytest.mark.parametrize("who, status", [("viewer", 403), ("outsider", 404)])
def test_post_per_role(client, labelling_study, who, status):
    s = labelling_study
    client.force_login(s[who])
    assert _post(client, s, s["items"][0]).status_code == status
    assert not Annotation.objects.exists()


@pytest.mark.parametrize("role, status", [("viewer", 403), (None, 404)])
def test_post_by_a_former_annotator_whose_assignment_is_left_is_refused(client, labelling_study, role, status):
    """The role decides, not the assignment: made viewer (403) or removed from the study (404)."""
    s = labelling_study
    membership = Membership.objects.get(study=s["study"], user=s["ann1"])
    if role is None:
        membership.delete()
    else:
        membership.role = role
        membership.save(update_fields=["role"])
    client.force_login(s["ann1"])
    assert _post(client, s, s["items"][0]).status_code == status
    assert Assignment.objects.filter(item=s["items"][0], annotator=s["ann1"]).exists()
    assert not Annotation.objects.exists()


def test_label_page_does_a_bounded_number_of_queries(client, labelling_study):
    """The page's query count does not grow with the number of items or annotations."""
    s = labelling_study
    client.force_login(s["ann1"])
    url = _url(s, s["items"][0])
    client.get(url)
    with CaptureQueriesContext(connection) as small:
        assert client.get(url).status_code == 200
    study = s["study"]
    for _ in range(40):
        item = StudyItemFactory(study=study)
        AssignmentFactory(item=item, annotator=s["ann1"])
        AssignmentFactory(item=item, annotator=s["ann2"])
        item_labels_save(item=item, annotator=s["ann2"], values={"symptom": "crash", "component": "layers"})
    with CaptureQueriesContext(connection) as large:
        assert client.get(url).status_code == 200
    assert len(large.captured_queries) == len(small.captured_queries)
    assert len(small.captured_queries) <= 12
    with CaptureQueriesContext(connection) as post:
        assert _post(client, s, s["items"][0]).status_code == 302
    assert len(post.captured_queries) <= 20


# --- disagreements page -------------------------------------------------------------------------------


def _disagree(s):
    item = s["items"][0]
    item_labels_save(
        item=item,
        annotator=s["ann1"],
        values={"symptom": "crash", "component": "layers"},
        notes={"symptom": "alice's reason"},
    )
    item_labels_save(item=item, annotator=s["ann2"], values={"symptom": "hang", "component": "layers"})
    return item


@pytest.mark.parametrize("who, status", [("owner", 200), ("viewer", 200), ("ann1", 403), ("outsider", 404)])
def test_disagreements_page_per_role(client, labelling_study, who, status):
    s = labelling_study
    _disagree(s)
    client.force_login(s[who])
    response = client.get(reverse("labelling:disagreements", args=[s["study"].slug]))
    assert response.status_code == status
    if status == 403:
        assert "alice&#x27;s reason" not in response.content.decode()


def test_disagreements_page_anonymous(client, labelling_study):
    response = client.get(reverse("labelling:disagreements", args=[labelling_study["study"].slug]))
    assert response.status_code == 302


def test_disagreements_page_shows_values_side_by_side(client, labelling_study):
    s = labelling_study
    item = _disagree(s)
    client.force_login(s["owner"])
    html = client.get(reverse("labelling:disagreements", args=[s["study"].slug])).content.decode()
    assert f'id="item-{item.id}"' in html
    assert "<th>alice</th><th>bob</th>" in html
    row = html[html.index('data-dimension="symptom"') :]
    row = row[: row.index("</tr>")]
    # category names, in annotator order, with the code on hover
    assert row.index('<span title="crash">Crash</span>') < row.index('<span title="hang">Hang</span>')
    assert "alice&#x27;s reason" in row
    assert 'data-dimension="component"' not in html  # they agree there
    assert '<span class="badge warn">1</span>' in html


def test_disagreements_page_comes_in_keyset_pages(client, labelling_study, monkeypatch):
    monkeypatch.setattr("labelling.views.disagreements.PAGE_SIZE", 2)
    s = labelling_study
    for item in s["items"]:
        item_labels_save(item=item, annotator=s["ann1"], values={"symptom": "crash", "component": "layers"})
        item_labels_save(item=item, annotator=s["ann2"], values={"symptom": "hang", "component": "layers"})
    client.force_login(s["owner"])
    url = reverse("labelling:disagreements", args=[s["study"].slug])
    html = client.get(url, {"dimension": "symptom"}).content.decode()
    assert [f'id="item-{i.id}"' in html for i in s["items"]] == [True, True, False]
    assert '<span class="badge warn">2+</span>' in html
    assert f'href="?after={s["items"][1].id}&amp;dimension=symptom">Next</a>' in html
    assert "First page" not in html
    html = client.get(url, {"dimension": "symptom", "after": s["items"][1].id}).content.decode()
    assert [f'id="item-{i.id}"' in html for i in s["items"]] == [False, False, True]
    assert '<span class="badge warn">1</span>' in html and ">Next</a>" not in html
    assert 'href="?dimension=symptom">First page</a>' in html
    # a cursor that is not an item id starts at the first page
    assert f'id="item-{s["items"][0].id}"' in client.get(url, {"after": "nonsense"}).content.decode()


def test_disagreements_page_empty_state(client, labelling_study):
    s = labelling_study
    client.force_login(s["viewer"])
    html = client.get(reverse("labelling:disagreements", args=[s["study"].slug])).content.decode()
    assert 'class="empty"' in html and "No disagreements" in html


def test_codebook_changes_show_at_once_although_the_codebook_is_cached(client, labelling_study):
    from labelling.models import Category
    from labelling.services.codebooks import category_create, category_update

    s = labelling_study
    client.force_login(s["ann1"])
    url = _url(s, s["items"][0])
    assert "Crash" in client.get(url).content.decode()  # the codebook is now cached
    category_update(category=Category.objects.get(code="crash"), data={"name": "Process crash"})
    category_create(dimension=s["symptom"], code="build_failure", name="Build Failure", shortcut="4")
    html = client.get(url).content.decode()
    assert "Process crash" in html and "Build Failure" in html
    # and the save path validates against the new codebook
    assert _post(client, s, s["items"][0], symptom="build_failure").status_code == 302


# --- the cached category lists ---------------------------------------------------------------------


def _checked(html: str, code: str) -> list[str]:
    """The values of the checked inputs of dimension ``code``."""
    return re.findall(rf'<input class="choice" type="\w+" name="value-{code}" value="([^"]+)"[^>]*? checked>', html)


def test_the_cached_category_lists_show_each_items_own_picks(client, labelling_study):
    s = labelling_study
    first, second = s["items"][0], s["items"][1]
    item_labels_save(item=first, annotator=s["ann1"], values={"symptom": "hang", "component": ["layers", "model"]})
    client.force_login(s["ann1"])
    html = client.get(_url(s, first)).content.decode()  # renders and caches the lists
    assert _checked(html, "symptom") == ["hang"] and _checked(html, "component") == ["layers", "model"]
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(_url(s, second))  # from the cache
    other = response.content.decode()
    assert not any("labelling_category" in q["sql"] for q in ctx.captured_queries)
    assert "labelling/_label_categories.html" not in [t.name for t in response.templates]  # not rendered again
    assert "rendered once per codebook version" not in other  # the template's comment stays a comment
    assert _checked(other, "symptom") == [] and _checked(other, "component") == []
    assert other.count('name="value-symptom"') == 3 and 'data-name="Incorrect Functionality"' in other
    again = client.get(_url(s, first)).content.decode()
    assert _checked(again, "symptom") == ["hang"] and _checked(again, "component") == ["layers", "model"]
    # A failed save shows what was posted, not what was saved
    posted = _post(client, s, first, symptom="crash", component=("layers", "model", "optimizer")).content.decode()
    assert _checked(posted, "symptom") == ["crash"]
    assert _checked(posted, "component") == ["layers", "model", "optimizer"]


def test_a_codebook_change_shows_at_once_on_the_labelling_page(client, labelling_study):
    from labelling.models import Category
    from labelling.services.codebooks import category_update

    s = labelling_study
    client.force_login(s["ann1"])
    assert 'data-name="Crash"' in client.get(_url(s, s["items"][0])).content.decode()
    crash = Category.objects.get(dimension=s["symptom"], code="crash")
    category_update(category=crash, data={"name": "Crash <abort>"})
    html = client.get(_url(s, s["items"][0])).content.decode()
    assert 'data-name="Crash &lt;abort&gt;"' in html and 'data-name="Crash"' not in html
