"""The cached study results (labelling/selectors/results.py) and the writes that change them
(labelling/services/results.py): for each kind of write, a page or API read before and after
shows the change, which it would not if the write forgot to give the study a new results token
(the first read fills the cache; nothing else empties it between the two reads)."""

from __future__ import annotations

import io
import threading

import pytest
from django.db import connection

from labelling.agreement.selectors import rounds_agreement
from labelling.models import StudyItem, StudyResultsVersion
from labelling.services.adjudication import final_label_adjudicate
from labelling.services.annotations import item_labels_save
from labelling.services.assignments import assignments_make
from labelling.services.codebook_evolution import category_rename
from labelling.services.items import items_add
from labelling.services.label_import import labels_import
from labelling.services.results import study_results_changed
from labelling.services.rounds import round_create
from labelling.services.screening import screening_vote
from labelling.services.studies import membership_set
from tests.factories import AssignmentFactory, ReportFactory, StudyItemFactory, UserFactory

pytestmark = pytest.mark.django_db


def _progress(client, s, who="owner") -> dict:
    client.force_login(s[who])
    response = client.get(f"/api/studies/{s['study'].slug}/")
    assert response.status_code == 200, response.content
    return response.json()["progress"]


def _chart(client, s, chart_id, who="owner", query="") -> dict:
    client.force_login(s[who])
    response = client.get(f"/api/studies/{s['study'].slug}/charts/{chart_id}/?format=json{query}")
    assert response.status_code == 200, response.content
    return response.json()


def _save(s, who, item, symptom="crash", component=("layers",)):
    item_labels_save(item=item, annotator=s[who], values={"symptom": symptom, "component": list(component)})


def _bumps(study) -> int:
    return StudyResultsVersion.objects.filter(study=study).values_list("bumps", flat=True).first() or 0


def test_a_save_changes_the_overview_and_the_charts_for_owner_and_viewer(client, labelling_study):
    s = labelling_study
    item = s["items"][0]
    before_owner, before_viewer = _progress(client, s), _progress(client, s, "viewer")
    assert before_owner["assignments_done"] == before_viewer["assignments_done"] == 0
    chart = _chart(client, s, "distribution.symptom", query="&labels=annotators")
    assert {r[0]: r[1] for r in chart["rows"]}["crash"] == 0

    _save(s, "ann1", item)

    assert _progress(client, s)["assignments_done"] == 1
    assert _progress(client, s, "viewer")["assignments_done"] == 1
    chart = _chart(client, s, "distribution.symptom", query="&labels=annotators")
    assert {r[0]: r[1] for r in chart["rows"]}["crash"] == 1
    _save(s, "ann2", item)  # both agree: a unanimous final label
    assert _progress(client, s, "viewer")["final_labels"] == 2
    assert {r[0]: r[1] for r in _chart(client, s, "distribution.symptom")["rows"]}["crash"] == 1


def test_the_same_read_twice_is_served_from_the_cache(client, labelling_study):
    from django.test.utils import CaptureQueriesContext

    s = labelling_study
    _save(s, "ann1", s["items"][0])
    for read in (lambda: _progress(client, s), lambda: _chart(client, s, "agreement")):
        read()
        with CaptureQueriesContext(connection) as again:
            read()
        labels = [q["sql"] for q in again.captured_queries if "labelling_annotation" in q["sql"]]
        assert labels == []  # the session, the user, the study, the role and the token; never the labels


def test_a_blind_annotator_gets_only_their_own_figures_from_the_cached_progress(client, labelling_study):
    s = labelling_study
    assert s["study"].blind
    _save(s, "ann2", s["items"][0])
    assert _progress(client, s)["assignments_done"] == 1  # the owner fills the cache
    mine = _progress(client, s, "ann1")
    assert mine["assignments_done"] is None and mine["final_labels"] is None
    assert mine["annotators"] == [{"user_id": s["ann1"].pk, "username": "alice", "done": 0, "total": 3}]
    _save(s, "ann1", s["items"][1])
    assert _progress(client, s, "ann1")["annotators"][0]["done"] == 1


def test_adjudication_changes_the_final_label_count(client, labelling_study):
    s = labelling_study
    item = s["items"][0]
    _save(s, "ann1", item, "crash")
    _save(s, "ann2", item, "hang")
    before = _progress(client, s)["final_labels"]
    final_label_adjudicate(
        study=s["study"],
        item=item,
        dimension=s["symptom"],
        value="hang",
        rationale="bob is right",
        adjudicator=s["owner"],
    )
    assert _progress(client, s)["final_labels"] == before + 1


def test_screening_items_added_and_assignments_made_change_the_overview(client, small_study):
    s = small_study
    reports = [ReportFactory() for _ in range(3)]
    assert _progress(client, s)["items_total"] == 0
    items_add(study=s["study"], report_ids=[r.pk for r in reports])
    progress = _progress(client, s)
    assert progress["items_total"] == 3 and progress["screening"]["pending"] == 3
    for item in StudyItem.objects.filter(study=s["study"]):
        screening_vote(item=item, screener=s["owner"], decision="include")
    assert _progress(client, s)["screening"]["included"] == 3
    assert _progress(client, s)["assignments_total"] == 0
    assignments_make(study=s["study"])
    assert _progress(client, s)["assignments_total"] == 6


def test_a_new_annotator_shows_on_the_overview(client, small_study):
    s = small_study
    assert len(_progress(client, s)["annotators"]) == 2
    membership_set(study=s["study"], user=UserFactory(username="zoe"), role="annotator")
    assert [a["username"] for a in _progress(client, s)["annotators"]] == ["alice", "bob", "zoe"]


def test_a_codebook_change_changes_the_charts(client, labelling_study):
    s = labelling_study
    _save(s, "ann1", s["items"][0])
    assert [r[0] for r in _chart(client, s, "distribution.symptom", query="&labels=annotators")["rows"]][0] == "crash"
    before = _bumps(s["study"])
    category_rename(category=s["symptom"].categories.get(code="crash"), code="failure", by=s["owner"])
    rows = _chart(client, s, "distribution.symptom", query="&labels=annotators")["rows"]
    assert rows[0][:2] == ["failure", 1]
    # The cache key holds the codebook version too; the new results token is what other readers
    # keyed without it (e.g. a study row read before the change) rely on.
    assert _bumps(s["study"]) == before + 1


def test_a_label_import_changes_the_overview_and_agreement(client, labelling_study):
    s = labelling_study
    item = s["items"][0]
    before = _progress(client, s)
    agreement = _chart(client, s, "agreement")
    assert before["assignments_done"] == 0
    source_id = item.report.source_id
    csv = (
        "source_id,annotator,dimension,value\n"
        f"{source_id},alice,symptom,crash\n{source_id},alice,component,layers\n"
        f"{source_id},bob,symptom,crash\n{source_id},bob,component,layers\n"
    )
    labels_import(study=s["study"], source=io.BytesIO(csv.encode()))
    assert _progress(client, s)["assignments_done"] == 2
    assert _progress(client, s)["final_labels"] == 2
    after = _chart(client, s, "agreement")
    assert after["rows"] != agreement["rows"]


def test_a_round_shows_in_the_rounds_agreement(labelling_study):
    s = labelling_study
    assert rounds_agreement(study=s["study"]) == []
    round_create(
        study=s["study"], name="Pilot", source="list", item_ids=[i.pk for i in s["items"]], created_by=s["owner"]
    )
    assert [r["round"]["name"] for r in rounds_agreement(study=s["study"])] == ["Pilot"]


def test_a_report_re_ingested_with_another_framework_changes_the_charts(client, labelling_study, tmp_path):
    from triage.reports.services import reports_import

    s = labelling_study
    report = s["items"][0].report
    _save(s, "ann1", s["items"][0])
    _save(s, "ann2", s["items"][0])  # a final label, so the item shows in the crosstab
    frameworks = _chart(client, s, "crosstab.symptom.framework")["columns"]
    assert report.framework in frameworks and "jax" not in frameworks
    path = tmp_path / "reports.csv"
    path.write_text(f"source_id,framework,title,body\n{report.source_id},jax,{report.title},changed\n")
    reports_import(source=path)
    assert "jax" in _chart(client, s, "crosstab.symptom.framework")["columns"]


def test_a_run_that_ends_changes_the_verdict_charts_of_the_studies_of_its_report(client, labelling_study):
    from tests.factories import ReproductionRunFactory
    from triage.reproduction.services import _run_write_lost

    s = labelling_study
    run = ReproductionRunFactory(reproduction__reproducer__report=s["items"][0].report, status="running", attempt=3)
    assert _chart(client, s, "reproduction.verdicts")["rows"] == []
    _run_write_lost(run)  # the runner never came back: the run ends with the verdict 'lost'
    assert [row[1:] for row in _chart(client, s, "reproduction.verdicts")["rows"]] == [["lost", 1]]


def test_a_study_without_a_token_gets_one_when_read(labelling_study):
    s = labelling_study
    StudyResultsVersion.objects.filter(study=s["study"]).delete()
    assert rounds_agreement(study=s["study"]) == []
    assert StudyResultsVersion.objects.filter(study=s["study"]).exists()
    study_results_changed(study_ids=[])  # nothing to do, no error


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL: SQLite lets one writer in at a time")
def test_two_saves_of_one_study_at_once_both_commit_and_both_bump(small_study):
    """Each save share-locks the study row and bumps the results row last: neither deadlocks."""
    s = small_study
    items = [StudyItemFactory(study=s["study"]) for _ in range(2)]
    for item in items:
        AssignmentFactory(item=item, annotator=s["ann1"])
        AssignmentFactory(item=item, annotator=s["ann2"])
    study_results_changed(study_ids=[s["study"].pk])
    for round_ in range(10):
        before = _bumps(s["study"])
        barrier = threading.Barrier(2, timeout=60)
        errors = []

        def run(who, item, value, barrier=barrier, errors=errors):
            try:
                barrier.wait()
                _save(s, who, item, value)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                connection.close()

        value = ["crash", "hang"][round_ % 2]
        threads = [
            threading.Thread(target=run, args=("ann1", items[0], value)),
            threading.Thread(target=run, args=("ann2", items[1], value)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not any(t.is_alive() for t in threads), "a save never finished"
        assert errors == []
        assert _bumps(s["study"]) == before + 2


def test_a_report_ingested_outside_the_study_shows_in_the_funnel(client, labelling_study, tmp_path):
    from triage.reports.services import reports_import

    s = labelling_study
    before = dict(_chart(client, s, "funnel")["rows"])["ingested"]
    path = tmp_path / "reports.csv"
    path.write_text("source_id,framework,title,body\nnew#1,jax,A new report,in no study yet\n")
    reports_import(source=path)
    assert dict(_chart(client, s, "funnel")["rows"])["ingested"] == before + 1
