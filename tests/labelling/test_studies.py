import pytest
from django.core.exceptions import ValidationError

from config.errors import ApplicationError
from labelling.codebook_templates import load_template
from labelling.models import Assignment, Category, Codebook, Dimension, Membership, Study
from labelling.selectors.studies import studies_with_progress, study_progress
from labelling.services.results import study_results_changed
from labelling.services.studies import membership_remove, membership_set, study_create, study_update
from tests.factories import AssignmentFactory, StudyItemFactory, UserFactory

pytestmark = pytest.mark.django_db
Role = Membership.Role


def _template_counts(slug):
    data = load_template(slug)
    dims = len(data["dimensions"])
    cats = sum(1 + len(c.get("children") or []) for d in data["dimensions"] for c in d.get("categories") or [])
    return dims, cats


@pytest.mark.parametrize("slug", ["dl-framework-bugs", "silent-bugs"])
def test_study_from_template_copies_the_whole_codebook(slug):
    owner = UserFactory()
    study = study_create(slug="s1", name="S1", owner=owner, template_slug=slug)
    dims, cats = _template_counts(slug)
    codebook = study.codebook
    assert study.template_slug == slug
    assert codebook.dimensions.count() == dims
    assert Category.objects.filter(dimension__codebook=codebook).count() == cats
    data = load_template(slug)
    assert codebook.name == data["name"] and codebook.source == data["source"]
    first = data["dimensions"][0]
    dim = codebook.dimensions.get(code=first["code"])
    assert (dim.name, dim.kind, dim.description, dim.required) == (
        first["name"],
        first["kind"],
        first["description"],
        first["required"],
    )
    assert list(codebook.dimensions.values_list("code", flat=True)) == [d["code"] for d in data["dimensions"]]
    cat_spec = first["categories"][0]
    cat = dim.categories.get(code=cat_spec["code"])
    assert (cat.name, cat.definition, cat.example, cat.shortcut) == (
        cat_spec["name"],
        cat_spec["definition"],
        cat_spec["example"],
        cat_spec["shortcut"],
    )


def test_template_children_keep_their_parent_and_tree_order():
    study = study_create(slug="s1", name="S1", owner=UserFactory(), template_slug="dl-framework-bugs")
    spec = load_template("dl-framework-bugs")["dimensions"][0]
    parent_spec = next(c for c in spec["categories"] if c.get("children"))
    child_spec = parent_spec["children"][0]
    child = Category.objects.get(
        dimension__codebook__study=study, dimension__code=spec["code"], code=child_spec["code"]
    )
    assert child.parent.code == parent_spec["code"]
    # a flat list in order reads like the tree: each parent is directly followed by its children
    flat = list(child.dimension.categories.order_by("order").values_list("code", flat=True))
    i = flat.index(parent_spec["code"])
    assert flat[i + 1 : i + 1 + len(parent_spec["children"])] == [c["code"] for c in parent_spec["children"]]


def test_study_copies_are_independent_of_each_other():
    owner = UserFactory()
    a = study_create(slug="a", name="A", owner=owner, template_slug="silent-bugs")
    b = study_create(slug="b", name="B", owner=owner, template_slug="silent-bugs")
    a.codebook.dimensions.first().categories.all().delete()
    assert b.codebook.dimensions.first().categories.count() > 0


def test_study_from_scratch_has_an_empty_codebook_and_owner_membership():
    owner = UserFactory()
    study = study_create(
        slug="scratch",
        name="Scratch",
        owner=owner,
        overlap_k=3,
        blind=False,
        exclusion_reasons=[" Duplicate ", "", "Duplicate", "Not a bug"],
    )
    assert study.template_slug == ""
    assert study.codebook.dimensions.count() == 0
    assert study.overlap_k == 3 and study.blind is False
    assert study.exclusion_reasons == ["Duplicate", "Not a bug"]
    assert study.created_by == owner
    assert Membership.objects.get(study=study).role == Role.OWNER


def test_unknown_template_writes_nothing():
    with pytest.raises(ApplicationError) as err:
        study_create(slug="x", name="X", owner=UserFactory(), template_slug="nope")
    assert "dl-framework-bugs" in err.value.message
    assert not Study.objects.exists() and not Codebook.objects.exists()


def test_duplicate_slug_is_refused_with_a_fix():
    owner = UserFactory()
    study_create(slug="dup", name="One", owner=owner)
    with pytest.raises(ValidationError) as err:
        study_create(slug="dup", name="Two", owner=owner, template_slug="silent-bugs")
    assert "Choose another slug" in str(err.value)
    assert Study.objects.count() == 1 and Dimension.objects.count() == 0


@pytest.mark.parametrize("bad", [{"slug": "has space"}, {"name": ""}, {"overlap_k": 0}])
def test_invalid_study_fields_are_refused(bad):
    kwargs = {"slug": "ok", "name": "Ok", "owner": UserFactory(), **bad}
    with pytest.raises(ValidationError):
        study_create(**kwargs)
    assert not Study.objects.exists()


def test_study_update_changes_only_given_fields(small_study):
    study = small_study["study"]
    study_update(study=study, data={"name": "Renamed", "overlap_k": 3, "exclusion_reasons": "A\n\nB\nA"})
    study.refresh_from_db()
    assert (study.name, study.overlap_k, study.exclusion_reasons, study.blind) == ("Renamed", 3, ["A", "B"], True)
    with pytest.raises(ValidationError):
        study_update(study=study, data={"overlap_k": 0})


def test_membership_set_adds_and_changes_roles(small_study):
    study, newcomer = small_study["study"], UserFactory()
    membership_set(study=study, user=newcomer, role=Role.VIEWER)
    membership_set(study=study, user=newcomer, role=Role.ANNOTATOR)
    assert Membership.objects.get(study=study, user=newcomer).role == Role.ANNOTATOR
    with pytest.raises(ValidationError):
        membership_set(study=study, user=newcomer, role="boss")


def test_last_owner_can_neither_be_demoted_nor_removed(small_study):
    study, owner = small_study["study"], small_study["owner"]
    with pytest.raises(ApplicationError, match="last owner"):
        membership_set(study=study, user=owner, role=Role.VIEWER)
    with pytest.raises(ApplicationError, match="last owner"):
        membership_remove(study=study, user=owner)
    membership_set(study=study, user=small_study["viewer"], role=Role.OWNER)
    membership_remove(study=study, user=owner)
    assert not Membership.objects.filter(study=study, user=owner).exists()


def test_removing_an_annotator_drops_open_assignments_and_keeps_completed(small_study):
    study, alice = small_study["study"], small_study["ann1"]
    open_one = AssignmentFactory(item=StudyItemFactory(study=study), annotator=alice)
    done = AssignmentFactory(item=StudyItemFactory(study=study), annotator=alice, completed_at="2026-01-01T00:00Z")
    membership_remove(study=study, user=alice)
    assert not Assignment.objects.filter(pk=open_one.pk).exists()
    assert Assignment.objects.filter(pk=done.pk).exists()
    with pytest.raises(ApplicationError, match="not a member"):
        membership_remove(study=study, user=alice)


def _busy_study(small_study, items):
    study = small_study["study"]
    made = StudyItemFactory.create_batch(items, study=study)
    for item in made:
        AssignmentFactory(item=item, annotator=small_study["ann1"], completed_at="2026-01-01T00:00Z")
        AssignmentFactory(item=item, annotator=small_study["ann2"])
    return study


@pytest.mark.parametrize("items", [2, 12])
def test_study_progress_takes_the_same_few_queries_for_any_size(small_study, items, django_assert_num_queries):
    study = _busy_study(small_study, items)
    study_results_changed(study_ids=[study.pk])  # as the services that wrote the rows would have
    with django_assert_num_queries(7):  # the caller's role, the study's results token, then five counts
        progress = study_progress(study=study, user=small_study["owner"])
    with django_assert_num_queries(1):  # the token (the role is known by now): the counts come from the cache
        assert study_progress(study=study, user=small_study["owner"]) == progress
    assert (progress.included, progress.assignments_total, progress.assignments_done) == (items, 2 * items, items)
    assert progress.items_complete == 0  # k = 2 and only alice finished
    assert [(a.username, a.done, a.total, a.percent) for a in progress.annotators] == [
        ("alice", items, items, 100),
        ("bob", 0, items, 0),
    ]


@pytest.mark.parametrize("items", [2, 12])
def test_an_annotator_of_a_blind_study_gets_their_own_progress_in_the_same_few_queries(
    small_study, items, django_assert_num_queries
):
    study = _busy_study(small_study, items)
    study_results_changed(study_ids=[study.pk])  # as the services that wrote the rows would have
    with django_assert_num_queries(4):  # the caller's role, the results token, the screening counts, their own
        progress = study_progress(study=study, user=small_study["ann2"])
    with django_assert_num_queries(2):  # the token and their own: the screening counts come from the cache
        study_progress(study=study, user=small_study["ann2"])
    assert (progress.included, progress.pending, progress.excluded) == (items, 0, 0)
    assert progress.others_hidden
    assert (progress.assignments_total, progress.assignments_done, progress.items_complete) == (None, None, None)
    assert progress.final_labels is None
    assert [(a.username, a.done, a.total) for a in progress.annotators] == [("bob", 0, items)]


def test_study_list_rows_take_four_queries_for_any_number_of_studies(small_study, django_assert_num_queries):
    owner = small_study["owner"]
    _busy_study(small_study, 3)
    for i in range(4):
        study_create(slug=f"more-{i}", name=f"More {i}", owner=owner)
    with django_assert_num_queries(4):
        rows = studies_with_progress(user=owner)
    by_slug = {r.study.slug: r for r in rows}
    assert len(rows) == 5 and by_slug["small"].role == "owner"
    assert (by_slug["small"].items, by_slug["small"].assignments_done, by_slug["small"].percent) == (3, 3, 50)


def test_reproduction_suggestions_default_off_when_blind_on_otherwise_and_the_owner_switches_them():
    owner = UserFactory()
    blind = study_create(slug="blind-one", name="Blind", owner=owner)
    open_study = study_create(slug="open-one", name="Open", owner=owner, blind=False)
    assert blind.reproduction_suggestions is False and open_study.reproduction_suggestions is True
    chosen = study_create(slug="chosen", name="Chosen", owner=owner, reproduction_suggestions=True)
    assert chosen.blind and chosen.reproduction_suggestions
    study_update(study=blind, data={"reproduction_suggestions": True})
    blind.refresh_from_db()
    assert blind.reproduction_suggestions is True
