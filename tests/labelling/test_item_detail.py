"""The item page (labelling/views/item_detail.py, labelling/selectors/item_detail.py): who may open
it, what it shows, its queries, and the links to it from the items list, the disagreements and
the report search."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from labelling.models import Annotation, Assignment, FinalLabel, Membership, StudyItem
from labelling.selectors.item_detail import item_detail_for
from labelling.services.annotations import item_labels_save
from labelling.services.screening import item_screen
from tests.factories import (
    AssignmentFactory,
    FinalLabelFactory,
    MembershipFactory,
    ReportFactory,
    ReproducerFactory,
    ReproductionFactory,
    ReproductionRunFactory,
    RunnerFactory,
    StudyFactory,
    StudyItemFactory,
    UserFactory,
)
from tests.responses import body_text

BODY = "Conv2d **crashes**.\n\n<script>alert('x')</script>\n\n<img src=x onerror=alert(1)>"


def url(item, slug="small"):
    return reverse("labelling:item-detail", args=[slug, item.pk])


@pytest.fixture
def world(small_study):
    """One included item labelled by alice and bob (they differ on the symptom; the component is
    adjudicated), with a reproducer and two runs."""
    s = small_study
    study = s["study"]
    item = StudyItemFactory(
        study=study, report=ReportFactory(source_id="github:pytorch/pytorch#42", title="conv2d segfaults", body=BODY)
    )
    item_screen(item=item, decision="include", screened_by=s["owner"])
    for who in ("ann1", "ann2"):
        AssignmentFactory(item=item, annotator=s[who])
    item_labels_save(
        item=item,
        annotator=s["ann1"],
        values={"symptom": "crash", "component": ["layers"]},
        notes={"symptom": "alice-note: segfault in cudnn"},
    )
    item_labels_save(
        item=item,
        annotator=s["ann2"],
        values={"symptom": "hang", "component": ["layers", "model"]},
        notes={"component": "bob-note: <b>also</b> the model"},
    )
    FinalLabelFactory(
        item=item,
        dimension=s["component"],
        value="layers;model",
        method=FinalLabel.Method.ADJUDICATED,
        decided_by=s["owner"],
        rationale="both layers and model are touched",
    )
    reproducer = ReproducerFactory(report=item.report, title="conv2d script")
    reproduction = ReproductionFactory(reproducer=reproducer, status="done")
    gpu = ReproductionRunFactory(
        reproduction=reproduction,
        device="gpu",
        status="done",
        verdict="reproduced",
        requirements="torch==2.1.0",
        runner=RunnerFactory(name="celery@gpu-01", device="gpu"),
        finished_at=timezone.now(),
    )
    cpu = ReproductionRunFactory(reproduction=reproduction, device="cpu", status="done", verdict="not_reproduced")
    return {**s, "item": item, "gpu_run": gpu, "cpu_run": cpu, "reproducer": reproducer}


# ------------------------------------------------------------------------------------ access


@pytest.mark.parametrize(
    ("role", "status"),
    [("owner", 200), ("viewer", 200), ("staff", 200), ("ann1", 403), ("outsider", 404), ("curator", 404)],
)
def test_who_may_open_the_item_page(client, world, role, status):
    user = UserFactory(username="stan", is_staff=True) if role == "staff" else world[role]
    client.force_login(user)
    response = client.get(url(world["item"]))
    assert response.status_code == status
    if status != 200:
        assert "alice-note" not in body_text(response) and "bob-note" not in body_text(response)


def test_an_annotator_may_not_open_it_even_when_the_study_is_not_blind(client, world):
    """The item page is a results page (can_read_results): annotators label from the label page."""
    world["study"].blind = False
    world["study"].save(update_fields=["blind"])
    client.force_login(world["ann1"])
    assert client.get(url(world["item"])).status_code == 403


def test_anonymous_goes_to_login(client, world):
    response = client.get(url(world["item"]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_post_is_not_allowed(client, world):
    client.force_login(world["owner"])
    assert client.post(url(world["item"])).status_code == 405


def test_an_unknown_item_or_an_item_of_another_study_is_404(client, world):
    client.force_login(world["owner"])
    assert client.get(reverse("labelling:item-detail", args=["small", 999999])).status_code == 404
    other = StudyFactory(slug="other")
    MembershipFactory(study=other, user=world["owner"], role=Membership.Role.OWNER)
    elsewhere = StudyItemFactory(study=other)
    assert client.get(url(elsewhere)).status_code == 404  # not an item of "small"
    assert client.get(url(world["item"], slug="other")).status_code == 404  # nor "small"'s item under "other"
    assert client.get(url(elsewhere, slug="other")).status_code == 200


# ----------------------------------------------------------------------------------- content


def _page(client, world, user="owner") -> str:
    client.force_login(world[user])
    response = client.get(url(world["item"]))
    assert response.status_code == 200
    return response.content.decode()


def test_it_shows_every_annotators_label_and_note_and_the_final_labels_with_their_method(client, world):
    html = _page(client, world, "viewer")
    text = body_text(client.get(url(world["item"])))
    assert "conv2d segfaults" in text and "github:pytorch/pytorch#42" in text
    # Both annotators' columns, their category names and notes (escaped).
    assert "alice" in text and "bob" in text
    assert "Crash" in text and "Hang" in text
    assert "alice-note: segfault in cudnn" in text
    assert "bob-note: &lt;b&gt;also&lt;/b&gt; the model" in html and "<b>also</b>" not in html
    # The symptom has no final label (they differ); the component was adjudicated by olivia.
    assert "none yet" in text
    assert 'data-method="adjudicated"' in html and "by olivia" in text
    assert "both layers and model are touched" in text
    assert "Layers, Model" in text


def test_the_final_label_method_is_read_as_stored(client, world):
    FinalLabel.objects.filter(item=world["item"]).update(method="majority")
    assert 'data-method="majority"' in _page(client, world)


def test_it_lists_the_assignments_with_who_when_and_done(client, world):
    open_one = UserFactory(username="zoe")
    MembershipFactory(study=world["study"], user=open_one, role=Membership.Role.ANNOTATOR)
    AssignmentFactory(item=world["item"], annotator=open_one)
    html = _page(client, world)
    assert html.count('data-annotator="') == 3
    assert 'data-annotator="zoe"' in html
    section = html[html.index('id="assignments-heading"') : html.index('id="verdicts-heading"')]
    assert section.count("badge ok") == 2 and section.count("badge warn") == 1  # alice, bob done; zoe open


def test_it_shows_the_reproduction_verdicts_with_device_environment_and_a_link_to_each_run(client, world):
    html = _page(client, world)
    assert 'data-verdict="reproduced"' in html and 'data-verdict="not_reproduced"' in html
    assert reverse("triage:run-detail", args=[world["gpu_run"].pk]) in html
    assert reverse("triage:run-detail", args=[world["cpu_run"].pk]) in html
    assert "torch==2.1.0" in html and "celery@gpu-01" in html and "GPU" in html
    assert "conv2d script" in html


def test_the_report_body_is_sanitised_markdown(client, world):
    html = _page(client, world)
    assert "<strong>crashes</strong>" in html
    assert "&lt;script&gt;alert" in html and "<script>alert" not in html  # raw HTML stays text
    assert "&lt;img src=x onerror" in html and "<img" not in html


def test_the_history_is_in_time_order(client, world):
    item = world["item"]
    # 01:00 three days ago: every event below (up to +8 h) falls before the flag's date, read as
    # midnight of the next day, whatever time of day the test runs.
    base = (timezone.now() - timedelta(days=3)).replace(hour=1, minute=0, second=0, microsecond=0)
    StudyItem.objects.filter(pk=item.pk).update(added_at=base, screened_at=base + timedelta(hours=1))
    Assignment.objects.filter(item=item).update(created_at=base + timedelta(hours=2))
    Assignment.objects.filter(item=item, annotator=world["ann1"]).update(completed_at=base + timedelta(hours=4))
    Assignment.objects.filter(item=item, annotator=world["ann2"]).update(completed_at=base + timedelta(hours=6))
    Annotation.objects.filter(item=item, annotator=world["ann1"]).update(
        created_at=base + timedelta(hours=3), updated_at=base + timedelta(hours=3)
    )
    Annotation.objects.filter(item=item, annotator=world["ann2"]).update(
        created_at=base + timedelta(hours=5), updated_at=base + timedelta(hours=7)
    )
    FinalLabel.objects.filter(item=item).update(decided_at=base + timedelta(hours=8))
    StudyItem.objects.filter(pk=item.pk).update(
        needs_review=True, review_reason=f"{(base + timedelta(days=1)).date().isoformat()}: state open -> closed"
    )
    detail = item_detail_for(study=world["study"], item_id=item.pk, user=world["owner"])
    kinds = [(e.kind, e.who) for e in detail.history]
    assert kinds == [
        ("added", ""),
        ("screened", "olivia"),
        ("assigned", ""),
        ("assigned", ""),
        ("labelled", "alice"),
        ("labelled", "alice"),
        ("completed", "alice"),
        ("labelled", "bob"),
        ("labelled", "bob"),
        ("completed", "bob"),
        ("relabelled", "bob"),
        ("relabelled", "bob"),
        ("final", "olivia"),
        ("flagged", ""),
    ]
    assert [e.at for e in detail.history] == sorted(e.at for e in detail.history)
    assert "adjudicated" in detail.history[-2].text and "state open -> closed" in detail.history[-1].text
    html = _page(client, world)
    assert html.index('data-kind="added"') < html.index('data-kind="screened"') < html.index('data-kind="final"')


def test_helpful_empty_states(client, small_study):
    item = StudyItemFactory(
        study=small_study["study"], report=ReportFactory(body=""), screening=StudyItem.Screening.PENDING
    )
    client.force_login(small_study["owner"])
    text = body_text(client.get(url(item)))
    assert "Nobody has labelled this item yet" in text and "waiting for screening" in text
    assert "Not assigned to anyone yet" in text
    assert "No reproducer is attached" in text
    assert "The report has no body" in text
    assert "Added to the study" in text


def test_the_page_costs_the_same_queries_whatever_the_number_of_annotators(client, world):
    def count() -> int:
        client.force_login(world["viewer"])
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url(world["item"])).status_code == 200
        return len(ctx.captured_queries)

    two = count()
    for n in range(5):
        user = UserFactory(username=f"extra{n}")
        MembershipFactory(study=world["study"], user=user, role=Membership.Role.ANNOTATOR)
        AssignmentFactory(item=world["item"], annotator=user)
        item_labels_save(
            item=world["item"],
            annotator=user,
            values={"symptom": "crash", "component": ["model"]},
            notes={"symptom": f"n{n}"},
        )
        ReproductionRunFactory(reproduction=ReproductionFactory(reproducer=world["reproducer"]), verdict="inconclusive")
    assert count() == two
    assert "extra4" in body_text(client.get(url(world["item"])))


# ------------------------------------------------------------------------------------- links


def test_the_items_list_and_the_disagreements_link_to_the_item_page(client, world):
    client.force_login(world["owner"])
    target = url(world["item"])
    assert target in client.get(reverse("labelling:items", args=["small"])).content.decode()
    assert target in client.get(reverse("labelling:disagreements", args=["small"])).content.decode()


def test_the_report_search_links_to_the_item_page_for_those_who_may_read_results(client, world):
    target = url(world["item"])
    search = reverse("triage:report-list") + "?q=conv2d"
    detail = reverse("triage:report-detail", args=[world["item"].report_id])
    for who, shown in (("owner", True), ("viewer", True), ("ann1", False), ("outsider", False)):
        client.force_login(world[who])
        assert (target in client.get(search).content.decode()) is shown, who
        assert (target in client.get(detail).content.decode()) is shown, who
