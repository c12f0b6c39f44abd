"""Agreement on screening by several screeners (issue 12): the votes are agreed on like a
dimension coded ``screening`` (labelling/agreement/selectors.py), in the command, the API and
the page; checked against scikit-learn's Cohen's kappa and a count by hand."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient
from sklearn.metrics import cohen_kappa_score

from labelling.agreement.selectors import pair_confusion, study_agreement
from labelling.services.screening import screening_vote
from tests.factories import StudyItemFactory

pytestmark = pytest.mark.django_db

REASON = "Not a framework bug"
# alice's and bob's votes on ten items: they agree on 7 (5 include, 2 exclude)
ALICE = ["include"] * 6 + ["exclude"] * 4
BOB = ["include"] * 5 + ["exclude"] + ["include"] * 2 + ["exclude"] * 2


def _two_screeners(s):
    study = s["study"]
    study.screening_overlap, study.screening_rule = 2, "unanimous"
    study.exclusion_reasons = [REASON]
    study.save(update_fields=["screening_overlap", "screening_rule", "exclusion_reasons"])
    items = [StudyItemFactory(study=study, screening="pending") for _ in ALICE]
    for item, a, b in zip(items, ALICE, BOB, strict=True):
        screening_vote(item=item, screener=s["ann1"], decision=a, reason=REASON if a == "exclude" else "")
        screening_vote(item=item, screener=s["ann2"], decision=b, reason=REASON if b == "exclude" else "")
    return study


def _screening_entry(result):
    (entry,) = [d for d in result["dimensions"] if d["code"] == "screening"]
    return entry


def test_screening_votes_are_agreed_on_like_a_dimension(small_study):
    study = _two_screeners(small_study)
    entry = _screening_entry(study_agreement(study=study))
    assert entry["source"] == "screening votes"
    assert (entry["items"], entry["raters"], entry["labels"]) == (10, 2, 20)
    assert entry["percent_agreement"] == pytest.approx(7 / 10)
    (pair,) = entry["cohen_kappa"]
    assert pair["raters"] == ["alice", "bob"]
    assert pair["value"] == pytest.approx(cohen_kappa_score(ALICE, BOB))
    # by hand: po = 0.7; pe = 0.6 * 0.7 + 0.4 * 0.3 = 0.54; kappa = 0.16 / 0.46
    assert pair["value"] == pytest.approx(0.16 / 0.46)
    confusion = pair_confusion(study=study, dimension_code="screening", rater_a="alice", rater_b="bob")
    cells = dict(zip(confusion["values"], confusion["matrix"], strict=True))
    assert cells["include"][confusion["values"].index("include")] == 5
    assert cells["exclude"][confusion["values"].index("include")] == 2
    assert confusion["items"] == 10


def test_one_screener_studies_have_no_screening_entry(small_study):
    study = small_study["study"]
    assert all(d["code"] != "screening" for d in study_agreement(study=study)["dimensions"])
    with pytest.raises(CommandError, match="symptom, component"):
        call_command("agreement", study.slug, "--dimension", "screening", stdout=io.StringIO())


def test_command_api_and_page_give_the_same_screening_figures(small_study, client):
    study = _two_screeners(small_study)
    out = io.StringIO()
    call_command("agreement", study.slug, "--dimension", "screening", "--format", "json", stdout=out)
    from_command = json.loads(out.getvalue())
    assert [d["code"] for d in from_command["dimensions"]] == ["screening"]
    api = APIClient()
    api.force_authenticate(small_study["viewer"])
    response = api.get(f"/api/studies/{study.slug}/agreement/")
    assert response.status_code == 200
    assert _screening_entry(response.json()) == from_command["dimensions"][0]
    client.force_login(small_study["owner"])
    page = client.get(f"/studies/{study.slug}/agreement/")
    assert page.status_code == 200
    assert "Screening (include or exclude)" in page.content.decode()


def test_a_blind_screener_gets_no_screening_agreement(small_study):
    study = _two_screeners(small_study)
    api = APIClient()
    api.force_authenticate(small_study["ann1"])
    assert api.get(f"/api/studies/{study.slug}/agreement/").status_code == 403
