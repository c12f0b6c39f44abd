"""Decision rules (issue 12): labelling/decision_rules.py, services/decision_rules.py, the
``finalize`` command, POST /api/studies/<slug>/decision-rules/ and the settings form.

The expected labels are worked out by hand from the rule's definition: under ``majority`` a
value wins when MORE than threshold x (the annotators who finished the item) chose it."""

from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from labelling import decision_rules
from labelling.decision_rules import decide, threshold_parse
from labelling.models import Assignment, Dimension, FinalLabel, Membership
from labelling.services.annotations import item_labels_save
from labelling.services.decision_rules import decision_rule_set
from labelling.services.final_labels import final_labels_refresh
from tests.factories import (
    AnnotationFactory,
    AssignmentFactory,
    FinalLabelFactory,
    MembershipFactory,
    StudyItemFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def api_client_for():
    from rest_framework.test import APIClient

    def make(user):
        client = APIClient()
        client.force_authenticate(user)
        return client

    return make


# --------------------------------------------------------------------------- the rule itself


@pytest.mark.parametrize(
    ("values", "rule", "threshold", "expected"),
    [
        (["a", "a", "a"], "unanimous", "0.5", "a"),
        (["a", "a", "b"], "unanimous", "0.5", None),
        (["a", "a", "b"], "majority", "0.5", "a"),  # 2 > 1.5
        (["a", "b"], "majority", "0.5", None),  # 1 is not > 1
        (["a", "a", "b", "b"], "majority", "0.5", None),  # a tie
        (["a", "a", "b", "c"], "majority", "0.5", None),  # 2 is not > 2: half is not more than half
        (["a", "a", "a", "b"], "majority", "0.5", "a"),  # 3 > 2
        (["a", "a", "b"], "majority", "0.66", "a"),  # 2 > 1.98
        (["a", "a", "b"], "majority", "0.667", None),  # 2 is not > 2.001
        (["", "", "a"], "majority", "0.5", None),  # empty never wins
        (["a", "", ""], "majority", "0.5", None),  # 1 of 3
        (["a", "a", ""], "majority", "0.5", "a"),
        (["", ""], "unanimous", "0.5", None),
        (["a", "a"], "adjudication", "0.5", None),
        ([], "majority", "0.5", None),
    ],
)
def test_decide(values, rule, threshold, expected):
    assert decide(values, rule=rule, threshold=Decimal(threshold)).value == expected


def test_decide_counts_the_votes():
    outcome = decide(["x", "y", "x", "x", "z"], rule="majority", threshold=Decimal("0.5"))
    assert (outcome.value, outcome.votes, outcome.of) == ("x", 3, 5)


@pytest.mark.parametrize("bad", ["abc", "0.4", "1", "1.0", "0.1234", "nan", "-0.7", True, ""])
def test_threshold_parse_refuses_what_is_not_a_threshold(bad):
    with pytest.raises(ValueError, match="threshold"):
        threshold_parse(bad)


def test_threshold_parse_accepts():
    assert threshold_parse("0.5") == Decimal("0.500")
    assert threshold_parse(0.75) == Decimal("0.750")
    assert threshold_parse("0.999") == Decimal("0.999")


# --------------------------------------------------------------------------- final labels


@pytest.fixture
def three(small_study):
    """small_study with k = 3 and a third annotator (carl); three included items, each assigned
    to alice, bob and carl."""
    s = small_study
    study = s["study"]
    study.overlap_k = 3
    study.save(update_fields=["overlap_k"])
    carl = UserFactory(username="carl")
    MembershipFactory(study=study, user=carl, role=Membership.Role.ANNOTATOR)
    items = [StudyItemFactory(study=study) for _ in range(3)]
    for item in items:
        for who in (s["ann1"], s["ann2"], carl):
            AssignmentFactory(item=item, annotator=who)
    return {**s, "ann3": carl, "items": items}


def _save(s, who, item, symptom, component=("layers",)):
    item_labels_save(item=item, annotator=s[who], values={"symptom": symptom, "component": list(component)})


def _finals(item):
    return {
        fl.dimension.code: (fl.value, fl.method)
        for fl in FinalLabel.objects.filter(item=item).select_related("dimension")
    }


def _rule(s, code, rule, threshold=None):
    return decision_rule_set(study=s["study"], rule=rule, threshold=threshold, dimension_codes=[code])


def test_majority_two_of_three_makes_a_final_label_that_records_the_rule(three):
    s = three
    item = s["items"][0]
    _save(s, "ann1", item, "crash", ["layers"])
    _save(s, "ann2", item, "crash", ["model"])
    _save(s, "ann3", item, "hang", ["optimizer"])
    assert _finals(item) == {}  # unanimous (the default): no agreement
    (change,) = _rule(s, "symptom", "majority")
    assert (change.created, change.changed, change.removed) == (1, 0, 0)
    assert _finals(item) == {"symptom": ("crash", "majority")}
    label = FinalLabel.objects.get(item=item)
    assert label.decided_by is None
    assert label.rationale == "Majority: 2 of 3 annotators (more than 0.500 of them)."
    s["symptom"].refresh_from_db()
    assert s["symptom"].decision_rule == "majority" and s["symptom"].majority_threshold == Decimal("0.5")
    # The component (still unanimous) gets nothing: three different sets.
    # A higher threshold: 2 of 3 is not more than 0.7 x 3.
    (change,) = _rule(s, "symptom", "majority", "0.7")
    assert (change.created, change.changed, change.removed) == (0, 0, 1)
    assert _finals(item) == {}
    (change,) = _rule(s, "symptom", "majority", "0.66")
    assert (change.created, change.removed) == (1, 0)
    assert FinalLabel.objects.get(item=item).rationale == "Majority: 2 of 3 annotators (more than 0.660 of them)."


def test_majority_waits_for_k_annotators_and_then_follows_the_saves(three):
    s = three
    item = s["items"][0]
    _rule(s, "symptom", "majority")
    _save(s, "ann1", item, "crash")
    _save(s, "ann2", item, "crash")
    assert _finals(item) == {}  # 2 of k = 3 finished
    _save(s, "ann3", item, "hang")
    assert _finals(item)["symptom"] == ("crash", "majority")  # made by the save, under the stored rule
    _save(s, "ann2", item, "wrong_output")
    assert "symptom" not in _finals(item)  # crash, wrong_output, hang: no value has more than half


def test_annotators_who_left_the_dimension_empty_count_among_those_who_labelled_the_item(three):
    s = three
    s["component"].required = False
    s["component"].save(update_fields=["required"])
    _rule(s, "component", "majority")
    first, second = s["items"][:2]
    _save(s, "ann1", first, "crash", ["layers"])
    _save(s, "ann2", first, "crash", ["layers"])
    _save(s, "ann3", first, "crash", [])
    assert _finals(first)["component"] == ("layers", "majority")  # 2 of 3
    _save(s, "ann1", second, "crash", ["layers"])
    _save(s, "ann2", second, "crash", [])
    _save(s, "ann3", second, "crash", [])
    assert "component" not in _finals(second)  # 1 of 3, though the only value given


def test_a_tie_never_makes_a_label(small_study):
    s = small_study  # k = 2, alice and bob
    item = StudyItemFactory(study=s["study"])
    for who in ("ann1", "ann2"):
        AssignmentFactory(item=item, annotator=s[who])
    decision_rule_set(study=s["study"], rule="majority")
    _save(s, "ann1", item, "crash", ["layers"])
    _save(s, "ann2", item, "hang", ["layers"])
    assert _finals(item) == {"component": ("layers", "majority")}  # 2 of 2 agree; symptom 1-1 is a tie


def test_multiple_choice_values_are_compared_as_sets(three):
    s = three
    item = s["items"][0]
    for who, value in (("ann1", "model;layers"), ("ann2", "layers;model"), ("ann3", "optimizer")):
        AnnotationFactory(item=item, annotator=s[who], dimension=s["component"], value=value)
    Assignment.objects.filter(item=item).update(completed_at=timezone.now())
    _rule(s, "component", "majority")
    assert _finals(item)["component"] == ("layers;model", "majority")


def test_adjudicated_and_imported_final_labels_are_never_touched(three):
    s = three
    a, b, c = s["items"]
    for item in (a, b, c):
        _save(s, "ann1", item, "crash")
        _save(s, "ann2", item, "crash")
        _save(s, "ann3", item, "hang")
    FinalLabel.objects.filter(item__in=[a, b]).delete()
    FinalLabelFactory(item=a, dimension=s["symptom"], value="hang", method="adjudicated", rationale="read it")
    FinalLabelFactory(item=b, dimension=s["symptom"], value="wrong_output", method="imported")
    (change,) = _rule(s, "symptom", "majority")
    assert (change.created, change.protected) == (1, 2)
    assert _finals(a)["symptom"] == ("hang", "adjudicated")
    assert FinalLabel.objects.get(item=a, dimension=s["symptom"]).rationale == "read it"
    assert _finals(b)["symptom"] == ("wrong_output", "imported")
    assert _finals(c)["symptom"] == ("crash", "majority")
    (change,) = _rule(s, "symptom", "adjudication")
    assert (change.removed, change.protected) == (1, 2)
    assert "symptom" not in _finals(c)
    assert _finals(a)["symptom"] == ("hang", "adjudicated") and _finals(b)["symptom"] == ("wrong_output", "imported")
    # A save under "adjudication only" makes no automatic label either.
    _save(s, "ann3", c, "crash")
    assert "symptom" not in _finals(c)


def test_switching_back_to_unanimous_replaces_majority_labels(three):
    s = three
    a, b = s["items"][:2]
    for who in ("ann1", "ann2", "ann3"):
        _save(s, who, a, "crash")
    _save(s, "ann1", b, "crash")
    _save(s, "ann2", b, "crash")
    _save(s, "ann3", b, "hang")
    _rule(s, "symptom", "majority")
    assert _finals(a)["symptom"] == ("crash", "majority") and _finals(b)["symptom"] == ("crash", "majority")
    (change,) = _rule(s, "symptom", "unanimous")
    assert (change.changed, change.removed) == (1, 1)
    assert _finals(a)["symptom"] == ("crash", "unanimous") and "symptom" not in _finals(b)


def test_refresh_with_a_stale_copy_of_the_dimension_uses_the_stored_rule(three):
    """The labelling page passes its cached codebook; the rule is read again under the item lock."""
    s = three
    item = s["items"][0]
    _save(s, "ann1", item, "crash")
    _save(s, "ann2", item, "crash")
    _save(s, "ann3", item, "hang")
    stale = Dimension.objects.get(pk=s["symptom"].pk)
    _rule(s, "symptom", "majority")
    FinalLabel.objects.filter(item=item).delete()
    final_labels_refresh(study=s["study"], item_ids=[item.pk], dimensions=[stale])
    assert _finals(item) == {"symptom": ("crash", "majority")}


def test_bad_rule_threshold_or_dimension_writes_nothing(three):
    s = three
    with pytest.raises(Exception) as err:
        decision_rule_set(study=s["study"], rule="plurality")
    assert "unanimous, majority, adjudication" in str(err.value)
    with pytest.raises(Exception, match="threshold"):
        decision_rule_set(study=s["study"], rule="majority", threshold="0.3")
    with pytest.raises(Exception, match="this study's dimensions are: symptom, component"):
        decision_rule_set(study=s["study"], rule="majority", dimension_codes=["symptom", "nope"])
    assert set(Dimension.objects.values_list("decision_rule", flat=True)) == {"unanimous"}


def test_changing_a_rule_bumps_the_codebook_version(three):
    s = three
    before = s["study"].codebook_version
    _rule(s, "symptom", "majority")
    s["study"].refresh_from_db()
    assert s["study"].codebook_version == before + 1


# --------------------------------------------------------------------------- finalize command


def _finalize(*args):
    from io import StringIO

    out = StringIO()
    call_command("finalize", *args, stdout=out)
    return out.getvalue()


def test_finalize_prints_what_changed_per_dimension(three):
    s = three
    item = s["items"][0]
    _save(s, "ann1", item, "crash", ["layers"])
    _save(s, "ann2", item, "crash", ["layers"])
    _save(s, "ann3", item, "hang", ["model"])
    out = _finalize("small", "--rule", "majority", "--dimension", "symptom")
    assert "symptom: majority (more than 0.500) (was unanimous): 1 final labels created, 0 changed, 0 removed" in out
    assert "component" not in out
    out = _finalize("small", "--rule", "majority", "--threshold", "0.7")
    assert (
        "symptom: majority (more than 0.700) (was majority 0.500): 0 final labels created, 0 changed, 1 removed"
    ) in out
    assert "component: majority (more than 0.700) (was unanimous): 0 final labels created" in out
    out = _finalize("small")  # the stored rules again: nothing changes
    assert "0 final labels created, 0 changed, 0 removed" in out and "(was" not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuch", "--rule", "majority"], "No study with slug 'nosuch'"),
        (["small", "--rule", "plurality"], "Valid rules: unanimous, majority, adjudication"),
        (["small", "--rule", "majority", "--dimension", "nope"], "Valid dimensions: symptom, component"),
        (["small", "--rule", "majority", "--threshold", "2"], "threshold: The majority threshold must be"),
    ],
)
def test_finalize_errors_list_the_valid_values(small_study, args, message):
    with pytest.raises(CommandError, match=message):
        _finalize(*args)


# --------------------------------------------------------------------------- API and settings page


def test_api_sets_the_rule_and_reports_the_changes(api_client_for, three):
    s = three
    item = s["items"][0]
    _save(s, "ann1", item, "crash")
    _save(s, "ann2", item, "crash")
    _save(s, "ann3", item, "hang")
    client = api_client_for(s["owner"])
    body = {"rule": "majority", "threshold": 0.5, "dimensions": ["symptom"]}
    response = client.post("/api/studies/small/decision-rules/", body, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["changes"] == [
        {
            "dimension": "symptom",
            "rule": "majority",
            "threshold": "0.500",
            "previous_rule": "unanimous",
            "previous_threshold": "0.500",
            "created": 1,
            "changed": 0,
            "removed": 0,
            "protected": 0,
        }
    ]
    dims = {d["code"]: d for d in client.get("/api/studies/small/codebook/dimensions/").json()}
    assert (dims["symptom"]["decision_rule"], dims["symptom"]["majority_threshold"]) == ("majority", "0.500")
    assert dims["component"]["decision_rule"] == "unanimous"
    finals = client.get("/api/studies/small/final-labels/").json()
    rows = finals["results"] if isinstance(finals, dict) and "results" in finals else finals
    assert sorted((r["value"], r["method"]) for r in rows) == [("crash", "majority"), ("layers", "unanimous")]


@pytest.mark.parametrize(
    ("body", "field", "text"),
    [
        ({"rule": "plurality"}, "rule", "Use one of: unanimous, majority, adjudication"),
        ({"rule": "majority", "threshold": "0.2"}, "threshold", "from 0.5 up to (not including) 1"),
        ({"rule": "majority", "threshold": "much"}, "threshold", "not a number"),
        ({"rule": "majority", "dimensions": ["nope"]}, "dimensions", "this study's dimensions are: symptom, component"),
        ({"rule": "majority", "dimensions": "symptom"}, "dimensions", "list"),
    ],
)
def test_api_errors_are_400_in_the_one_error_shape(api_client_for, small_study, body, field, text):
    response = api_client_for(small_study["owner"]).post("/api/studies/small/decision-rules/", body, format="json")
    assert response.status_code == 400
    data = response.json()
    assert set(data) == {"message", "details"}
    assert field in data["details"] and text in " ".join(map(str, data["details"][field]))
    assert set(Dimension.objects.values_list("decision_rule", flat=True)) == {"unanimous"}


def test_api_only_the_owner_sets_rules(api_client_for, small_study):
    for who in ("ann1", "viewer"):
        response = api_client_for(small_study[who]).post("/api/studies/small/decision-rules/", {"rule": "majority"})
        assert response.status_code == 403
    assert set(Dimension.objects.values_list("decision_rule", flat=True)) == {"unanimous"}


def test_dimension_patch_points_to_the_decision_rules_endpoint(api_client_for, small_study):
    dim = small_study["symptom"]
    response = api_client_for(small_study["owner"]).patch(
        f"/api/studies/small/codebook/dimensions/{dim.pk}/", {"decision_rule": "majority"}, format="json"
    )
    assert response.status_code == 400
    assert "decision-rules" in str(response.json()["details"]["decision_rule"])
    dim.refresh_from_db()
    assert dim.decision_rule == "unanimous"


def test_settings_page_has_a_rule_form_per_dimension(client, three):
    s = three
    client.force_login(s["owner"])
    html = client.get("/studies/small/settings/").content.decode()
    assert html.count('action="/studies/small/settings/decision-rules/"') == 2
    item = s["items"][0]
    _save(s, "ann1", item, "crash")
    _save(s, "ann2", item, "crash")
    _save(s, "ann3", item, "hang")
    response = client.post(
        "/studies/small/settings/decision-rules/", {"dimension": "symptom", "rule": "majority", "threshold": "0.5"}
    )
    assert response.status_code == 302
    assert _finals(item)["symptom"] == ("crash", "majority")
    page = client.get(response["Location"]).content.decode()
    assert "1 final labels created" in page
    bad = client.post(
        "/studies/small/settings/decision-rules/", {"dimension": "symptom", "rule": "majority", "threshold": "1.5"}
    )
    assert bad.status_code == 400 and "less than or equal to 0.999" in bad.content.decode()
    unknown = client.post("/studies/small/settings/decision-rules/", {"dimension": "nope", "rule": "majority"})
    assert unknown.status_code == 400 and "this study&#x27;s dimensions are" in unknown.content.decode()


def test_only_the_owner_posts_the_rule_form(client, small_study):
    client.force_login(small_study["ann1"])
    response = client.post("/studies/small/settings/decision-rules/", {"dimension": "symptom", "rule": "majority"})
    assert response.status_code == 403
    assert decision_rules.UNANIMOUS == Dimension.objects.get(code="symptom").decision_rule
