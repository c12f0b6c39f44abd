"""The item page shows the item's final-label decision history (who, when, chosen from, rationale,
replaced rule and value) to those who read results; the rationale is escaped."""

from __future__ import annotations

import pytest
from django.urls import reverse

from labelling.services.adjudication import final_label_adjudicate
from labelling.services.annotations import item_labels_save
from tests.responses import body_text

pytestmark = pytest.mark.django_db


def test_the_item_page_lists_every_decision_with_what_it_replaced(client, labelling_study):
    s = labelling_study
    item = s["items"][0]
    item_labels_save(item=item, annotator=s["ann1"], values={"symptom": "crash", "component": ["layers"]})
    item_labels_save(item=item, annotator=s["ann2"], values={"symptom": "hang", "component": ["layers"]})
    first = final_label_adjudicate(
        study=s["study"], item=item, dimension=s["symptom"], value="crash", rationale="the trace <b>segfaults</b>",
        adjudicator=s["owner"],
    )  # fmt: skip
    second = final_label_adjudicate(
        study=s["study"], item=item, dimension=s["symptom"], value="hang", rationale="it never returns",
        adjudicator=s["owner"],
    )  # fmt: skip
    client.force_login(s["viewer"])
    body = body_text(client.get(reverse("labelling:item-detail", args=[s["study"].slug, item.pk])))
    section = body.split('id="decisions-heading"', 1)[1].split("</section>", 1)[0]
    rows = section.split("<tr data-decision=")[1:]
    assert [r.split('"')[1] for r in rows] == [str(first.pk), str(second.pk)]
    assert "Crash" in rows[0] and "Crash · Hang" in rows[0] and "the trace &lt;b&gt;segfaults&lt;/b&gt;" in rows[0]
    assert "<b>segfaults" not in body
    assert "Adjudicated: Crash" in rows[1] and "it never returns" in rows[1] and "olivia" in rows[1]


def test_no_decision_section_without_decisions(client, labelling_study):
    s = labelling_study
    client.force_login(s["owner"])
    body = body_text(client.get(reverse("labelling:item-detail", args=[s["study"].slug, s["items"][0].pk])))
    assert "decisions-heading" not in body
