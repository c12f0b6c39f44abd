"""Screening by several reviewers (issue 12): labelling/services/screening.py (votes, the rule,
conflicts, the owner's decision), labelling/selectors/screening.py (blind reads, the funnel,
screening_ratings), the screening page and API, and screening votes in the label import."""

from __future__ import annotations

import io
import re
import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from config.errors import ApplicationError
from labelling.models import Assignment, Membership, ScreeningVote, StudyItem
from labelling.selectors.screening import screening_funnel, screening_next_for, screening_ratings
from labelling.services.label_import import labels_import
from labelling.services.screening import screening_decide, screening_owner_decide, screening_vote
from labelling.services.studies import study_update
from tests.factories import AssignmentFactory, ReportFactory, StudyItemFactory

pytestmark = pytest.mark.django_db

NOT_A_BUG, DUPLICATE, NOT_REPRODUCIBLE = "Not a framework bug", "Duplicate", "Not reproducible"


def _api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def _screening(s, k, rule="unanimous", blind=True):
    study = s["study"]
    study.screening_overlap, study.screening_rule, study.blind = k, rule, blind
    study.save(update_fields=["screening_overlap", "screening_rule", "blind"])
    return study


def _pending(s, n=1):
    items = [StudyItemFactory(study=s["study"], screening="pending") for _ in range(n)]
    return items[0] if n == 1 else items


def _vote(s, who, item, decision, reason=""):
    return screening_vote(item=item, screener=s[who], decision=decision, reason=reason)


def _state(item):
    item.refresh_from_db()
    return item.screening, item.exclusion_reason, item.screening_method, item.screening_conflict


# --------------------------------------------------------------------------- the rule, pure


class _Study:
    def __init__(self, k, rule="unanimous", reasons=(NOT_A_BUG, DUPLICATE, NOT_REPRODUCIBLE)):
        self.screening_overlap, self.screening_rule, self.exclusion_reasons = k, rule, list(reasons)


@pytest.mark.parametrize(
    ("k", "rule", "votes", "expected"),
    [
        (1, "unanimous", [("include", "")], ("included", "", "single", False)),
        (1, "unanimous", [("include", ""), ("exclude", DUPLICATE)], ("excluded", DUPLICATE, "single", False)),
        (3, "unanimous", [("include", ""), ("include", "")], ("pending", "", "", False)),
        (3, "unanimous", [("include", "")] * 3, ("included", "", "unanimous", False)),
        (3, "unanimous", [("include", ""), ("include", ""), ("exclude", DUPLICATE)], ("pending", "", "", True)),
        (
            3,
            "majority",
            [("include", ""), ("include", ""), ("exclude", DUPLICATE)],
            ("included", "", "majority", False),
        ),
        (
            3,
            "majority",
            [("exclude", DUPLICATE), ("include", ""), ("exclude", DUPLICATE)],
            ("excluded", DUPLICATE, "majority", False),
        ),
        (2, "majority", [("exclude", DUPLICATE), ("include", "")], ("pending", "", "", True)),  # a tie
        (
            3,
            "unanimous",
            [("exclude", NOT_REPRODUCIBLE), ("exclude", DUPLICATE), ("exclude", DUPLICATE)],
            ("excluded", DUPLICATE, "unanimous", False),  # the reason most gave
        ),
        (
            2,
            "unanimous",
            [("exclude", NOT_REPRODUCIBLE), ("exclude", DUPLICATE)],
            ("excluded", DUPLICATE, "unanimous", False),  # reasons tie: the first in the study's list
        ),
    ],
)
def test_screening_decide(k, rule, votes, expected):
    assert screening_decide(_Study(k, rule), votes) == expected


# --------------------------------------------------------------------------- one screener (today's flow)


def test_one_screener_the_vote_decides_and_is_recorded(small_study):
    s = small_study
    item = _pending(s)
    _vote(s, "owner", item, "exclude", DUPLICATE)
    assert _state(item) == ("excluded", DUPLICATE, "single", False)
    assert item.screened_by == s["owner"]
    _vote(s, "owner", item, "include")  # a decision can be changed
    assert _state(item) == ("included", "", "single", False)
    assert list(ScreeningVote.objects.values_list("screener__username", "decision")) == [("olivia", "include")]


def test_one_screener_annotators_cannot_screen(small_study):
    s = small_study
    item = _pending(s)
    client = _api(s["ann1"])
    assert client.post(f"/api/studies/small/items/{item.pk}/screen/", {"decision": "include"}).status_code == 403
    from django.test import Client

    page = Client()
    page.force_login(s["ann1"])
    assert page.get("/studies/small/screening/").status_code == 403


# --------------------------------------------------------------------------- several screeners


def test_k_screeners_unanimous_decides_when_all_k_agree(small_study):
    s = small_study
    _screening(s, 3)
    item = _pending(s)
    _vote(s, "owner", item, "include")
    _vote(s, "ann1", item, "include")
    assert _state(item) == ("pending", "", "", False)
    _vote(s, "ann2", item, "include")
    assert _state(item) == ("included", "", "unanimous", False)
    assert item.screened_by is None  # the rule decided, not one person
    assert ScreeningVote.objects.filter(item=item).count() == 3


def test_majority_excludes_with_the_majority_reason_and_drops_open_assignments(small_study):
    s = small_study
    _screening(s, 3, "majority")
    item = _pending(s)
    open_one = AssignmentFactory(item=item, annotator=s["ann1"])
    done = AssignmentFactory(item=item, annotator=s["ann2"], completed_at=timezone.now())
    _vote(s, "owner", item, "exclude", NOT_A_BUG)
    _vote(s, "ann1", item, "include")
    _vote(s, "ann2", item, "exclude", NOT_A_BUG)
    assert _state(item) == ("excluded", NOT_A_BUG, "majority", False)
    assert set(Assignment.objects.values_list("pk", flat=True)) == {done.pk}
    assert not Assignment.objects.filter(pk=open_one.pk).exists()


def test_a_split_is_a_conflict_for_the_owner_who_decides_and_later_votes_keep_it(small_study):
    s = small_study
    _screening(s, 2)
    item = _pending(s)
    _vote(s, "ann1", item, "include")
    _vote(s, "ann2", item, "exclude", DUPLICATE)
    assert _state(item) == ("pending", "", "", True)
    from django.test import Client

    owner = Client()
    owner.force_login(s["owner"])
    html = owner.get("/studies/small/screening/").content.decode()
    assert "Conflicts for the owner" in html and f"?item={item.pk}" in html
    detail = owner.get(f"/studies/small/screening/?item={item.pk}").content.decode()
    assert "alice" in detail and "bob" in detail and "Owner's decision" in detail
    response = owner.post(
        f"/studies/small/screening/{item.pk}/owner-decision/", {"decision": "exclude", "reason": DUPLICATE}
    )
    assert response.status_code == 302
    assert _state(item) == ("excluded", DUPLICATE, "owner", False)
    assert item.screened_by == s["owner"]
    _vote(s, "ann1", item, "include")  # changing a vote does not undo the owner's decision
    assert _state(item) == ("excluded", DUPLICATE, "owner", False)
    assert "Conflicts for the owner" not in owner.get("/studies/small/screening/").content.decode()


def test_owner_decision_api_validates_and_is_owner_only(small_study):
    s = small_study
    _screening(s, 2)
    item = _pending(s)
    url = f"/api/studies/small/items/{item.pk}/screening-decision/"
    assert _api(s["ann1"]).post(url, {"decision": "include"}).status_code == 403
    bad = _api(s["owner"]).post(url, {"decision": "exclude", "reason": "Boring"}, format="json")
    assert bad.status_code == 400 and "not one of this study's exclusion reasons" in str(bad.json()["details"])
    ok = _api(s["owner"]).post(url, {"decision": "include"}, format="json")
    assert ok.status_code == 200 and ok.json()["screening_method"] == "owner"


def test_a_new_screener_cannot_vote_on_an_item_that_has_its_k_votes(small_study):
    s = small_study
    _screening(s, 2)
    item = _pending(s)
    _vote(s, "ann1", item, "include")
    _vote(s, "ann2", item, "exclude", DUPLICATE)
    with pytest.raises(ApplicationError) as err:
        _vote(s, "owner", item, "include")
    assert err.value.status == 409
    _vote(s, "ann2", item, "include")  # but a screener may change their own vote
    assert _state(item) == ("included", "", "unanimous", False)


def test_the_next_item_is_one_the_screener_has_not_voted_on(small_study):
    s = small_study
    _screening(s, 2)
    first, second, third = _pending(s, 3)
    assert screening_next_for(study=s["study"], user=s["ann1"]) == first
    _vote(s, "ann1", first, "include")
    assert screening_next_for(study=s["study"], user=s["ann1"]) == second
    assert screening_next_for(study=s["study"], user=s["ann2"]) == first
    _vote(s, "owner", second, "include")
    _vote(s, "ann2", second, "include")  # second has its 2 votes: decided
    assert screening_next_for(study=s["study"], user=s["ann1"]) == third


# --------------------------------------------------------------------------- blind screening


def test_blind_screeners_read_nothing_of_the_others_votes(small_study):
    s = small_study
    _screening(s, 2, blind=True)
    item = _pending(s)
    _vote(s, "ann2", item, "exclude", DUPLICATE)
    alice = _api(s["ann1"])
    # The vote answer gives alice no decision (it comes from bob's vote too).
    answer = alice.post(f"/api/studies/small/items/{item.pk}/screen/", {"decision": "include"}, format="json").json()
    assert answer == {k: (item.pk if k == "id" else None) for k in answer}
    votes = alice.get("/api/studies/small/screening-votes/").json()
    rows = votes["results"] if isinstance(votes, dict) else votes
    assert [(v["screener"], v["decision"]) for v in rows] == [("alice", "include")]
    study = alice.get("/api/studies/small/").json()["progress"]
    assert study["screening"] == {"pending": None, "included": None, "excluded": None}
    assert study["screening_funnel"] is None and study["own_screening_votes"] == 1
    from django.test import Client

    page = Client()
    page.force_login(s["ann1"])
    for url in ("/studies/small/screening/", f"/studies/small/screening/?item={item.pk}", "/studies/small/"):
        html = page.get(url).content.decode()
        assert not re.search(r"\bbob\b", html), url  # (a random CSRF token may hold the letters)
        assert f"<td>{DUPLICATE}</td>" not in html and f"({DUPLICATE})" not in html, url
        assert "Conflict" not in html and "Excluded" not in html, url
    # The viewer and the owner see both votes.
    rows = _api(s["viewer"]).get("/api/studies/small/screening-votes/").json()
    rows = rows["results"] if isinstance(rows, dict) else rows
    assert sorted(v["screener"] for v in rows) == ["alice", "bob"]


def test_not_blind_annotators_see_the_others_votes(small_study):
    s = small_study
    _screening(s, 2, blind=False)
    item = _pending(s)
    _vote(s, "ann2", item, "exclude", DUPLICATE)
    rows = _api(s["ann1"]).get("/api/studies/small/screening-votes/").json()
    rows = rows["results"] if isinstance(rows, dict) else rows
    assert [v["screener"] for v in rows] == ["bob"]


# --------------------------------------------------------------------------- settings, funnel, ratings


def test_changing_the_screening_settings_decides_pending_items_again(small_study):
    s = small_study
    study = _screening(s, 2)
    waiting, split, decided = _pending(s, 3)
    _vote(s, "ann1", waiting, "include")
    _vote(s, "ann1", split, "include")
    _vote(s, "ann2", split, "exclude", DUPLICATE)
    _vote(s, "ann1", decided, "include")
    _vote(s, "ann2", decided, "include")
    study_update(study=study, data={"screening_rule": "majority"})
    assert _state(split) == ("pending", "", "", True)  # 1-1 is still a tie
    study_update(study=study, data={"screening_overlap": 1})
    assert _state(waiting) == ("included", "", "single", False)
    assert _state(split) == ("excluded", DUPLICATE, "single", False)  # its latest vote
    assert _state(decided) == ("included", "", "unanimous", False)  # decided items keep their decision


def test_screening_settings_are_validated(small_study):
    study = small_study["study"]
    response = _api(small_study["owner"]).patch(
        "/api/studies/small/", {"screening_overlap": 0, "screening_rule": "plurality"}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()["details"]) == {"screening_overlap", "screening_rule"}
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="unanimous, majority"):
        study_update(study=study, data={"screening_rule": "adjudication"})


def test_screening_ratings_are_item_screener_value_triples(small_study):
    s = small_study
    _screening(s, 2)
    a, b = _pending(s, 2)
    _vote(s, "ann1", a, "include")
    _vote(s, "ann2", a, "exclude", DUPLICATE)
    _vote(s, "ann2", b, "include")
    assert screening_ratings(study=s["study"]) == [
        (a.pk, "alice", "include"),
        (a.pk, "bob", "exclude"),
        (b.pk, "bob", "include"),
    ]


def test_funnel_counts_and_query_count(small_study):
    s = small_study
    _screening(s, 2, "majority")
    items = _pending(s, 6)
    _vote(s, "ann1", items[0], "include")
    _vote(s, "ann2", items[0], "include")
    _vote(s, "ann1", items[1], "exclude", DUPLICATE)
    _vote(s, "ann2", items[1], "exclude", DUPLICATE)
    _vote(s, "ann1", items[2], "exclude", NOT_A_BUG)
    _vote(s, "ann2", items[2], "exclude", NOT_A_BUG)
    _vote(s, "ann1", items[3], "exclude", DUPLICATE)
    _vote(s, "ann2", items[3], "include")  # a tie: conflict
    screening_owner_decide(item=items[4], decision="exclude", reason=DUPLICATE, decided_by=s["owner"])
    with CaptureQueriesContext(connection) as ctx:
        funnel = screening_funnel(study=s["study"])
    assert len(ctx.captured_queries) == 3
    assert funnel.as_dict() == {
        "screened": 4,
        "pending": 2,
        "conflicts": 1,
        "included": 1,
        "included_by": {"Majority of screeners": 1},
        "excluded": 3,
        "excluded_by_reason": [{"reason": DUPLICATE, "count": 2}, {"reason": NOT_A_BUG, "count": 1}],
        "votes": 8,
    }
    from django.test import Client

    page = Client()
    page.force_login(s["owner"])
    html = page.get("/studies/small/").content.decode()
    assert "Screening funnel" in html and "Conflicts for the owner</th><td>1" in html
    viewer = Client()
    viewer.force_login(s["viewer"])
    assert "Screening funnel" in viewer.get("/studies/small/").content.decode()


# --------------------------------------------------------------------------- label import


HEADER = "source_id,annotator,dimension,value,note\n"


def test_imported_votes_take_the_same_path(small_study):
    s = small_study
    _screening(s, 2)
    inside = StudyItemFactory(study=s["study"], screening="pending")
    new_report = ReportFactory()
    text = HEADER + (
        f"{inside.report.source_id},alice,screening,include,\n"
        f"{inside.report.source_id},bob,Screening,Excluded,{DUPLICATE}\n"
        f"{new_report.source_id},alice,screening,include,\n"
        f"{new_report.source_id},bob,screening,include,\n"
    )
    result = labels_import(study=s["study"], source=io.BytesIO(text.encode()))
    assert result.screening_votes_created == 4 and result.items_added == 1
    assert _state(inside) == ("pending", "", "", True)  # a conflict, as on the page
    added = StudyItem.objects.get(study=s["study"], report=new_report)
    assert _state(added) == ("included", "", "unanimous", False)
    again = labels_import(study=s["study"], source=io.BytesIO(text.encode()))
    assert again.screening_votes_unchanged == 4 and not again.changed_anything
    final = HEADER + f"{inside.report.source_id},,screening,exclude,{NOT_A_BUG}\n"
    assert labels_import(study=s["study"], source=io.BytesIO(final.encode())).screening_decisions_set == 1
    assert _state(inside) == ("excluded", NOT_A_BUG, "imported", False)


def test_import_refuses_bad_screening_lines_with_their_line_numbers(small_study):
    s = small_study
    item = StudyItemFactory(study=s["study"], screening="pending")
    sid = item.report.source_id
    text = HEADER + (
        f"{sid},alice,screening,maybe,\n"
        f"{sid},bob,screening,exclude,\n"
        f"{sid},victor,screening,include,\n"
        f"{sid},,screening,exclude,Boring\n"
    )
    with pytest.raises(ApplicationError) as err:
        labels_import(study=s["study"], source=io.BytesIO(text.encode()))
    problems = {(d["line"], d["field"]) for d in err.value.details}
    assert problems == {(2, "value"), (3, "note"), (4, "annotator"), (5, "note")}
    assert "'include' or 'exclude'" in str(err.value.details)
    assert not ScreeningVote.objects.exists()


def test_a_codebook_dimension_named_screening_is_labelled_as_before(small_study):
    from tests.factories import CategoryFactory, DimensionFactory

    s = small_study
    dim = DimensionFactory(codebook=s["study"].codebook, code="screening", name="Screening")
    CategoryFactory(dimension=dim, code="include", name="Include")
    CategoryFactory(dimension=dim, code="exclude", name="Exclude")
    item = StudyItemFactory(study=s["study"])
    text = HEADER + f"{item.report.source_id},alice,screening,include,\n"
    result = labels_import(study=s["study"], source=io.BytesIO(text.encode()))
    assert result.annotations_created == 1 and result.screening_votes_created == 0
    assert not ScreeningVote.objects.exists()


# --------------------------------------------------------------------------- concurrency (PostgreSQL)


def _at_once(*calls):
    barrier = threading.Barrier(len(calls), timeout=60)
    errors: list[BaseException] = []

    def run(call):
        try:
            barrier.wait()
            call()
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not [t for t in threads if t.is_alive()], "a vote never finished: votes of one item deadlock"
    return errors


postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL (set DATABASE_URL): SQLite lets one writer in at a time"
)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_screeners_voting_at_once_decide_once_from_both_votes(small_study):
    s = small_study
    _screening(s, 2)
    for round_ in range(20):
        item = _pending(s)
        errors = _at_once(
            lambda item=item: _vote(s, "ann1", item, "include"),
            lambda item=item: _vote(s, "ann2", item, "include"),
        )
        assert errors == [], f"round {round_}: {errors!r}"
        assert _state(item) == ("included", "", "unanimous", False), f"round {round_}"
        assert ScreeningVote.objects.filter(item=item).count() == 2


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_screeners_racing_for_the_last_slot_only_one_gets_it(small_study):
    s = small_study
    _screening(s, 2)
    for round_ in range(20):
        item = _pending(s)
        _vote(s, "owner", item, "include")
        errors = _at_once(
            lambda item=item: _vote(s, "ann1", item, "include"),
            lambda item=item: _vote(s, "ann2", item, "exclude", DUPLICATE),
        )
        assert len(errors) == 1 and isinstance(errors[0], ApplicationError), f"round {round_}: {errors!r}"
        assert errors[0].status == 409
        assert ScreeningVote.objects.filter(item=item).count() == 2
        state = _state(item)
        assert state in {("included", "", "unanimous", False), ("pending", "", "", True)}, f"round {round_}"


def test_members_list_roles_unchanged(small_study):
    """Screening votes need no role of their own: screeners are the owners and annotators (the
    adjudicator role, added for adjudication, does not screen)."""
    assert set(Membership.Role.values) == {"owner", "adjudicator", "annotator", "viewer"}
    from labelling.permissions import can_screen
    from tests.factories import MembershipFactory, UserFactory

    ada = UserFactory(username="ada")
    MembershipFactory(study=small_study["study"], user=ada, role=Membership.Role.ADJUDICATOR)
    small_study["study"].screening_overlap = 2
    assert not can_screen(ada, small_study["study"])


def test_the_study_list_hides_included_counts_from_blind_screeners(small_study):
    from django.test import Client

    s = small_study
    _screening(s, 2)
    item = _pending(s)
    _vote(s, "owner", item, "include")
    _vote(s, "ann2", item, "include")
    alice, owner = Client(), Client()
    alice.force_login(s["ann1"])
    owner.force_login(s["owner"])
    assert "<td>—</td>" in alice.get("/").content.decode()
    assert "<td>1</td>" in owner.get("/").content.decode()


def test_with_several_screeners_votes_keep_decisions_the_rule_did_not_make(small_study):
    s = small_study
    single = _pending(s)
    _vote(s, "owner", single, "include")  # k = 1: one vote decided
    _screening(s, 2)
    _vote(s, "ann1", single, "exclude", DUPLICATE)
    assert _state(single) == ("included", "", "single", False)
    imported = StudyItemFactory(study=s["study"], screening="included", screening_method="imported")
    _vote(s, "ann1", imported, "exclude", DUPLICATE)
    _vote(s, "ann2", imported, "exclude", DUPLICATE)
    assert _state(imported) == ("included", "", "imported", False)


def test_the_migration_records_earlier_decisions_as_votes(small_study):
    """labelling 0004: items screened before votes existed get their owner's vote and a method."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("labelling.migrations.0004_decision_rules_screening_votes")
    s = small_study
    by_owner = StudyItemFactory(
        study=s["study"], screening="excluded", exclusion_reason=DUPLICATE, screened_by=s["owner"]
    )
    by_import = StudyItemFactory(study=s["study"], screening="included")
    pending = _pending(s)
    migration.screened_items_to_votes(apps, None)
    assert _state(by_owner) == ("excluded", DUPLICATE, "single", False)
    assert _state(by_import)[2] == "imported" and _state(pending)[2] == ""
    assert list(ScreeningVote.objects.values_list("item_id", "screener__username", "decision", "reason")) == [
        (by_owner.pk, "olivia", "exclude", DUPLICATE)
    ]


def test_the_settings_page_turns_on_several_screeners(small_study):
    from django.test import Client

    s = small_study
    owner = Client()
    owner.force_login(s["owner"])
    data = {
        "name": "Small study",
        "overlap_k": 2,
        "blind": "on",
        "exclusion_reasons": "\n".join([NOT_A_BUG, DUPLICATE, NOT_REPRODUCIBLE]),
        "screening_overlap": 3,
        "screening_rule": "majority",
    }
    assert owner.post("/studies/small/settings/", data).status_code == 302
    s["study"].refresh_from_db()
    assert (s["study"].screening_overlap, s["study"].screening_rule) == (3, "majority")
    bad = owner.post("/studies/small/settings/", {**data, "screening_overlap": 0})
    assert bad.status_code == 200 and "greater than or equal to 1" in bad.content.decode()
    # Left out (an older form), the screening settings stay as they are.
    older = {k: v for k, v in data.items() if "screening" not in k}
    assert owner.post("/studies/small/settings/", older).status_code == 302
    s["study"].refresh_from_db()
    assert s["study"].screening_overlap == 3
    # Annotators now have the Screening tab; a full item is not open to a new screener's vote.
    _screening(s, 2)
    item = _pending(s)
    _vote(s, "owner", item, "include")
    _vote(s, "ann2", item, "exclude", DUPLICATE)
    alice = Client()
    alice.force_login(s["ann1"])
    assert 'href="/studies/small/screening/"' in alice.get("/studies/small/").content.decode()
    html = alice.get(f"/studies/small/screening/?item={item.pk}").content.decode()
    assert "This item is not open for your vote." in html and 'id="include-form"' not in html
