"""Calibration rounds through the API, the pages and ``manage.py agreement --round``: each source,
bad input, close and re-open (and two owners re-opening at once on PostgreSQL), agreement per round
and pass, and what each role sees (a blind study's annotator: their own progress, no figure)."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from rest_framework.test import APIClient

from labelling.agreement.selectors import study_agreement
from labelling.models import AnnotationSnapshot, CalibrationRound, Membership, RoundPass
from labelling.services.annotations import item_labels_save
from labelling.services.rounds import round_close, round_create, round_reopen
from tests.factories import AssignmentFactory, MembershipFactory, ReportFactory, StudyItemFactory, UserFactory
from tests.labelling.test_final_labels_concurrency import _at_once
from tests.responses import body_text

pytestmark = pytest.mark.django_db


def _api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def _world(s, n=6):
    items = [StudyItemFactory(study=s["study"], report=ReportFactory(framework="pytorch")) for _ in range(n)]
    for i, item in enumerate(items):
        AssignmentFactory(item=item, annotator=s["ann1"])
        AssignmentFactory(item=item, annotator=s["ann2"])
        item_labels_save(item=item, annotator=s["ann1"], values={"symptom": "crash", "component": ["layers"]})
        other = "crash" if i % 2 else "hang"
        item_labels_save(item=item, annotator=s["ann2"], values={"symptom": other, "component": ["layers"]})
    return items


def test_the_api_makes_rounds_from_each_source_and_refuses_bad_input(small_study):
    s = small_study
    items = _world(s)
    api = _api(s["owner"])
    url = f"/api/studies/{s['study'].slug}/rounds/"
    sample = api.post(
        url, {"name": "Pilot", "source": "sample", "size": 3, "seed": 5, "filters": {"framework": "pytorch"}},
        format="json",
    )  # fmt: skip
    assert sample.status_code == 201, sample.content
    assert sample.json()["items"] == 3 and sample.json()["source_params"]["seed"] == 5
    again = round_create(study=s["study"], name="Same", source="sample", size=3, seed=5, created_by=None)
    assert sample.json()["item_ids"] == sorted(again.round_items.values_list("item_id", flat=True))
    listed = api.post(url, {"name": "Two", "source": "list", "item_ids": [items[0].id, items[1].id]}, format="json")
    assert listed.status_code == 201 and listed.json()["item_ids"] == [items[0].id, items[1].id]
    filtered = api.post(url, {"name": "All", "source": "filter", "filters": {"framework": "pytorch"}}, format="json")
    assert filtered.status_code == 201 and filtered.json()["items"] == 6
    for body, field in [
        ({"name": "X", "source": "sample"}, "size"),
        ({"name": "X", "source": "list"}, "item_ids"),
        ({"name": "X", "source": "list", "item_ids": [10**8]}, "item_ids"),
        ({"name": "Pilot", "source": "list", "item_ids": [items[0].id]}, "name"),
        ({"name": "X", "source": "sample", "size": 50}, "size"),
        ({"name": "X", "source": "nope"}, "source"),
    ]:
        response = api.post(url, body, format="json")
        assert response.status_code == 400, (body, response.content)
        assert field in json.dumps(response.json()), (body, response.json())
    assert CalibrationRound.objects.count() == 4
    listing = api.get(url).json()
    assert [r["name"] for r in listing] == ["Pilot", "Same", "Two", "All"]
    assert listing[0]["progress"]["assignments_total"] == 6


def test_close_reopen_through_the_api_and_agreement_per_pass(small_study):
    s = small_study
    items = _world(s)
    r = round_create(study=s["study"], name="Pilot", source="list", item_ids=[i.id for i in items], created_by=None)
    api = _api(s["owner"])
    base = f"/api/studies/{s['study'].slug}/rounds/{r.pk}/"
    assert api.post(base + "reopen/", {}, format="json").status_code == 409
    assert api.post(base + "close/").json()["status"] == "closed"
    assert api.post(base + "close/").status_code == 409
    reopened = api.post(base + "reopen/", {"reason": "merged hang into crash"}, format="json")
    assert reopened.status_code == 201
    assert reopened.json()["current_pass"] == 2
    assert [p["number"] for p in reopened.json()["passes"]] == [1, 2]
    assert reopened.json()["passes"][1]["reason"] == "merged hang into crash"
    for item in items:  # everyone agrees in pass 2
        item_labels_save(item=item, annotator=s["ann1"], values={"symptom": "crash", "component": ["layers"]})
        item_labels_save(item=item, annotator=s["ann2"], values={"symptom": "crash", "component": ["layers"]})
    agreement = f"/api/studies/{s['study'].slug}/agreement/"
    first = api.get(agreement, {"round": r.pk, "pass": 1, "dimension": "symptom"}).json()
    second = api.get(agreement, {"round": r.pk, "dimension": "symptom"}).json()
    r.refresh_from_db()
    expected = study_agreement(study=s["study"], round=r, pass_number=1, dimension_codes=["symptom"])
    assert first == json.loads(json.dumps(expected))
    assert first["dimensions"][0]["percent_agreement"] == 0.5
    assert second["round"]["pass"] == 2 and second["dimensions"][0]["percent_agreement"] == 1.0
    by_name = api.get(agreement, {"round": "pilot", "pass": 1, "dimension": "symptom"}).json()
    assert by_name == first
    for params, words in [
        ({"round": 999999}, "no round"),
        ({"round": r.pk, "pass": 7}, "no pass 7"),
        ({"round": r.pk, "pass": "x"}, "whole number"),
        ({"pass": 1}, "belongs to a round"),
    ]:
        response = api.get(agreement, params)
        assert response.status_code == 400 and words in response.json()["message"], response.json()
    out = io.StringIO()
    call_command(
        "agreement",
        s["study"].slug,
        "--round",
        str(r.pk),
        "--pass",
        "1",
        "--dimension",
        "symptom",
        "--format",
        "json",
        stdout=out,
    )
    assert json.loads(out.getvalue())["dimensions"] == first["dimensions"]
    out = io.StringIO()
    call_command("agreement", s["study"].slug, "--round", "Pilot", stdout=out)
    assert "Calibration round 'Pilot'" in out.getvalue() and "pass 2 of 2" in out.getvalue()


def test_the_pages_show_rounds_and_their_figures_to_owners_and_viewers(client, small_study):
    s = small_study
    items = _world(s)
    client.force_login(s["owner"])
    slug = s["study"].slug
    response = client.post(
        reverse("labelling:round-create", args=[slug]),
        {"name": "Pilot", "source": "list", "item_ids": f"{items[0].id}, {items[1].id} {items[2].id}"},
    )
    assert response.status_code == 302, body_text(response)
    r = CalibrationRound.objects.get()
    bad = client.post(reverse("labelling:round-create", args=[slug]), {"name": "Pilot", "source": "sample"})
    assert bad.status_code == 400 and "needs its size" in body_text(bad)
    detail = body_text(client.get(reverse("labelling:round-detail", args=[slug, r.pk])))
    assert "Close the round" in detail and 'data-dimension="symptom"' in detail
    client.post(reverse("labelling:round-close", args=[slug, r.pk]))
    client.post(reverse("labelling:round-reopen", args=[slug, r.pk]), {"reason": "new definitions"})
    r.refresh_from_db()
    assert r.current_pass == 2 and AnnotationSnapshot.objects.count() == 3 * 2 * 2
    for page in ("labelling:agreement", "labelling:study-detail", "labelling:rounds"):
        client.force_login(s["viewer"])
        body = body_text(client.get(reverse(page, args=[slug])))
        assert f'data-round="{r.pk}" data-pass="1" data-dimension="symptom"' in body, page
    chosen = body_text(client.get(reverse("labelling:agreement", args=[slug]), {"round": r.pk, "pass": 1}))
    assert "Showing round 'Pilot', pass 1 of 2" in chosen
    assert "3 items with two or more labels" in chosen


def test_a_blind_annotator_sees_only_their_own_progress_in_a_round(client, small_study):
    s = small_study
    items = _world(s, n=2)
    r = round_create(study=s["study"], name="Pilot", source="list", item_ids=[i.id for i in items], created_by=None)
    round_close(round=r, closed_by=None)
    round_reopen(round=r, reopened_by=None)
    client.force_login(s["ann1"])
    slug = s["study"].slug
    pages = [reverse("labelling:rounds", args=[slug]), reverse("labelling:round-detail", args=[slug, r.pk])]
    api = _api(s["ann1"])
    apis = [f"/api/studies/{slug}/rounds/", f"/api/studies/{slug}/rounds/{r.pk}/"]

    def read():
        return [body_text(client.get(p)) for p in pages] + [api.get(a).content for a in apis]

    before = read()
    assert "Agreement" not in before[1].split("</nav>", 1)[1] and "data-dimension" not in before[0]
    assert json.loads(before[3])["progress"] == {
        "items": 2, "assignments_total": None, "assignments_done": None, "own_total": 2, "own_done": 0,
    }  # fmt: skip
    item_labels_save(item=items[0], annotator=s["ann2"], values={"symptom": "hang", "component": ["model"]})
    assert read() == before
    assert client.get(reverse("labelling:agreement", args=[slug]), {"round": r.pk}).status_code == 403
    assert api.get(f"/api/studies/{slug}/agreement/", {"round": r.pk}).status_code == 403
    assert api.post(f"/api/studies/{slug}/rounds/{r.pk}/close/").status_code == 403
    item_labels_save(item=items[0], annotator=s["ann1"], values={"symptom": "hang", "component": ["model"]})
    assert json.loads(api.get(apis[1]).content)["progress"]["own_done"] == 1


def test_an_adjudicator_reads_the_rounds_but_not_their_figures_and_cannot_manage_them(client, small_study):
    s = small_study
    items = _world(s, n=2)
    ada = UserFactory(username="ada")
    MembershipFactory(study=s["study"], user=ada, role=Membership.Role.ADJUDICATOR)
    r = round_create(study=s["study"], name="Pilot", source="list", item_ids=[i.id for i in items], created_by=None)
    client.force_login(ada)
    body = body_text(client.get(reverse("labelling:round-detail", args=[s["study"].slug, r.pk])))
    assert "Pilot" in body and "data-dimension" not in body and "Close the round" not in body
    assert "4 of 4 assignments" in body
    assert client.post(reverse("labelling:round-close", args=[s["study"].slug, r.pk])).status_code == 403


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL: SQLite never races")
def test_two_owners_reopening_at_once_make_one_new_pass(small_study):
    s = small_study
    items = _world(s, n=3)
    other_owner = UserFactory(username="oscar")
    MembershipFactory(study=s["study"], user=other_owner, role=Membership.Role.OWNER)
    for attempt in range(5):
        r = round_create(
            study=s["study"], name=f"R{attempt}", source="list", item_ids=[i.id for i in items], created_by=None
        )
        round_close(round=r, closed_by=None)
        errors = _at_once(
            lambda r=r: round_reopen(round=r, reopened_by=s["owner"]),
            lambda r=r: round_reopen(round=r, reopened_by=other_owner),
        )
        assert len(errors) == 1 and "is open" in str(errors[0]), errors
        r.refresh_from_db()
        assert r.current_pass == 2
        assert list(RoundPass.objects.filter(round=r).values_list("number", flat=True)) == [1, 2]
        first = RoundPass.objects.get(round=r, number=1)
        assert first.snapshots.count() == first.labels_kept
        # Each attempt re-opens the items' assignments; label them again so the next round has pass-1 labels.
        for item in items:
            item_labels_save(item=item, annotator=s["ann1"], values={"symptom": "crash", "component": ["layers"]})
            item_labels_save(item=item, annotator=s["ann2"], values={"symptom": "hang", "component": ["layers"]})
