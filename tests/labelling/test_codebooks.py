import pytest
from django.core.exceptions import ValidationError

from config.errors import ApplicationError
from labelling.models import Category, Dimension
from labelling.services.codebooks import (
    category_create,
    category_delete,
    category_update,
    dimension_create,
    dimension_delete,
    dimension_update,
)
from tests.factories import AnnotationFactory, CategoryFactory, DimensionFactory, FinalLabelFactory, StudyItemFactory

pytestmark = pytest.mark.django_db


def _errors(exc_info) -> dict:
    return exc_info.value.message_dict


# --------------------------------------------------------------------------- dimensions


def test_dimension_create_puts_it_last(small_study):
    codebook = small_study["study"].codebook
    dim = dimension_create(codebook=codebook, code="stage", name="Stage", kind="ordinal")
    assert dim.order == 3 and dim.kind == Dimension.Kind.ORDINAL
    assert list(codebook.dimensions.values_list("code", flat=True)) == ["symptom", "component", "stage"]


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"code": "Root Cause"}, "code"),
        ({"code": "symptom"}, "code"),  # taken
        ({"code": "x", "kind": "likert"}, "kind"),
        ({"code": "x", "kind": "single", "max_choices": 2}, "max_choices"),
    ],
)
def test_dimension_create_refuses_bad_fields(small_study, kwargs, field):
    with pytest.raises(ValidationError) as err:
        dimension_create(codebook=small_study["study"].codebook, **{"name": "X", **kwargs})
    assert field in _errors(err)
    assert small_study["study"].codebook.dimensions.count() == 2


def test_kind_change_is_refused_once_annotations_exist(small_study):
    symptom = small_study["symptom"]
    dimension_update(dimension=symptom, data={"kind": "multi", "max_choices": 2})  # no labels yet: fine
    dimension_update(dimension=symptom, data={"kind": "single"})
    symptom.refresh_from_db()
    assert symptom.kind == "single" and symptom.max_choices is None
    AnnotationFactory(item=StudyItemFactory(study=small_study["study"]), dimension=symptom, value="crash")
    with pytest.raises(ApplicationError, match="1 label,.*cannot change from single to multi"):
        dimension_update(dimension=symptom, data={"kind": "multi"})
    dimension_update(dimension=symptom, data={"name": "Observed symptom", "required": False})
    symptom.refresh_from_db()
    assert (symptom.kind, symptom.name, symptom.required) == ("single", "Observed symptom", False)


def test_kind_change_to_text_needs_no_categories(small_study):
    with pytest.raises(ApplicationError, match="Delete its categories first"):
        dimension_update(dimension=small_study["symptom"], data={"kind": "text"})


def test_kind_change_to_ordinal_needs_distinct_orders_and_no_children(small_study):
    dim = DimensionFactory(codebook=small_study["study"].codebook, kind="single")
    low = CategoryFactory(dimension=dim, code="low", order=1)
    CategoryFactory(dimension=dim, code="high", order=1)
    with pytest.raises(ApplicationError, match="distinct position"):
        dimension_update(dimension=dim, data={"kind": "ordinal"})
    Category.objects.filter(code="high", dimension=dim).update(order=2)
    CategoryFactory(dimension=dim, code="lowish", order=3, parent=low)
    with pytest.raises(ApplicationError, match="flat"):
        dimension_update(dimension=dim, data={"kind": "ordinal"})


def test_dimension_delete_is_refused_while_labels_use_it(small_study):
    symptom = small_study["symptom"]
    FinalLabelFactory(item=StudyItemFactory(study=small_study["study"]), dimension=symptom, value="hang")
    with pytest.raises(ApplicationError, match="1 label uses dimension 'symptom'"):
        dimension_delete(dimension=symptom)
    dimension_delete(dimension=small_study["component"])
    assert not Dimension.objects.filter(code="component").exists()


# --------------------------------------------------------------------------- categories


def test_category_create_with_parent_and_shortcut(small_study):
    symptom = small_study["symptom"]
    crash = symptom.categories.get(code="crash")
    child = category_create(
        dimension=symptom,
        code="segfault",
        name="Segmentation fault",
        parent=crash,
        shortcut="s",
        definition="The process dies with SIGSEGV.",
        example="conv2d on empty tensor segfaults",
    )
    assert child.parent == crash and child.order == 3  # after the last (orders 0, 1, 2)
    assert crash.children.get() == child


@pytest.mark.parametrize(
    "kwargs, field, message",
    [
        ({"code": "Crash!"}, "code", "not a valid code"),
        ({"code": "crash"}, "code", "already has a category 'crash'"),
        ({"shortcut": "1"}, "shortcut", "already picks 'crash'"),
        ({"shortcut": "?"}, "shortcut", "reserved"),
        ({"shortcut": "n"}, "shortcut", "reserved"),
        ({"shortcut": "D"}, "shortcut", "reserved"),  # Shift+d: definitions on one line / in full
        ({"shortcut": " "}, "shortcut", "reserved"),
        ({"shortcut": "ab"}, "shortcut", "one character"),
        ({"shortcut": "Enter"}, "shortcut", "one character"),
    ],
)
def test_category_create_refuses_bad_fields(small_study, kwargs, field, message):
    symptom = small_study["symptom"]
    with pytest.raises(ValidationError) as err:
        category_create(dimension=symptom, **{"code": "new", "name": "New", **kwargs})
    assert message in " ".join(_errors(err)[field])
    assert symptom.categories.count() == 3


def test_same_shortcut_is_fine_in_another_dimension(small_study):
    category_create(dimension=small_study["component"], code="runtime", name="Runtime", shortcut="1")


def test_parent_rules_same_dimension_one_level_no_cycles(small_study):
    symptom, component = small_study["symptom"], small_study["component"]
    crash = symptom.categories.get(code="crash")
    layers = component.categories.get(code="layers")
    with pytest.raises(ValidationError) as err:
        category_create(dimension=symptom, code="x", name="X", parent=layers)
    assert "same dimension" in " ".join(_errors(err)["parent"])
    child = category_create(dimension=symptom, code="segfault", name="Segfault", parent=crash)
    with pytest.raises(ValidationError) as err:
        category_create(dimension=symptom, code="grandchild", name="G", parent=child)
    assert "one level" in " ".join(_errors(err)["parent"])
    with pytest.raises(ValidationError) as err:  # crash has a child, so it cannot go under another
        category_update(category=crash, data={"parent": symptom.categories.get(code="hang")})
    assert "has sub-categories" in " ".join(_errors(err)["parent"])
    with pytest.raises(ValidationError):
        category_update(category=crash, data={"parent": crash})


def test_text_dimensions_have_no_categories(small_study):
    notes = dimension_create(codebook=small_study["study"].codebook, code="notes", name="Notes", kind="text")
    with pytest.raises(ApplicationError, match="free-text"):
        category_create(dimension=notes, code="a", name="A")


def test_ordinal_categories_have_distinct_positions_and_no_parent(small_study):
    threat = dimension_create(codebook=small_study["study"].codebook, code="threat", name="Threat", kind="ordinal")
    low = category_create(dimension=threat, code="low", name="Low")
    high = category_create(dimension=threat, code="high", name="High")
    assert (low.order, high.order) == (1, 2)
    with pytest.raises(ValidationError) as err:
        category_create(dimension=threat, code="mid", name="Mid", order=2)
    assert "order" in _errors(err)
    with pytest.raises(ValidationError) as err:
        category_create(dimension=threat, code="mid", name="Mid", order=5, parent=low)
    assert "flat" in " ".join(_errors(err)["parent"])


def test_category_update_renames_and_moves(small_study):
    symptom = small_study["symptom"]
    hang = symptom.categories.get(code="hang")
    category_update(category=hang, data={"name": "Hang or deadlock", "shortcut": "h", "order": 9})
    hang.refresh_from_db()
    assert (hang.name, hang.shortcut, hang.order) == ("Hang or deadlock", "h", 9)


def test_category_code_in_use_cannot_change(small_study):
    symptom = small_study["symptom"]
    hang = symptom.categories.get(code="hang")
    AnnotationFactory(item=StudyItemFactory(study=small_study["study"]), dimension=symptom, value="hang")
    with pytest.raises(ApplicationError, match="1 annotation and 0 final labels use code 'hang'"):
        category_update(category=hang, data={"code": "deadlock"})


def test_deleting_a_category_in_use_is_refused_until_merged(small_study):
    study, component = small_study["study"], small_study["component"]
    model = component.categories.get(code="model")
    # 'model' appears as a token of multiple-choice values; 'model_io' must not count as a use
    AnnotationFactory(item=StudyItemFactory(study=study), dimension=component, value="layers;model")
    AnnotationFactory(item=StudyItemFactory(study=study), dimension=component, value="model")
    AnnotationFactory(item=StudyItemFactory(study=study), dimension=component, value="layers")
    with pytest.raises(ApplicationError) as err:
        category_delete(category=model)
    assert err.value.message == "2 annotations use 'model'; merge it first."
    optimizer = component.categories.get(code="optimizer")
    category_delete(category=optimizer)
    assert not Category.objects.filter(pk=optimizer.pk).exists()


def test_deleting_a_category_with_children_is_refused(small_study):
    symptom = small_study["symptom"]
    crash = symptom.categories.get(code="crash")
    category_create(dimension=symptom, code="segfault", name="Segfault", parent=crash)
    with pytest.raises(ApplicationError, match="1 sub-categories"):
        category_delete(category=crash)
