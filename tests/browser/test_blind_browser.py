"""Blind labelling in the browser: a second annotator sees nothing of the first one's labels."""

import pytest
from playwright.sync_api import expect

from labelling.models import Annotation
from tests.factories import AssignmentFactory, StudyItemFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NOTE = "quokka"  # typed by alice; must never reach bob


def _log_in(page, login, live_server, username):
    page.context.clear_cookies()
    login(username)
    page.wait_for_url(f"{live_server.url}/")


def test_second_annotator_cannot_see_the_first_ones_labels(live_server, login, page, small_study):
    s = small_study
    item = StudyItemFactory(study=s["study"])
    AssignmentFactory(item=item, annotator=s["ann1"])
    AssignmentFactory(item=item, annotator=s["ann2"])
    url = f"{live_server.url}/studies/{s['study'].slug}/label/{item.id}/"
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    # alice labels the item: "Incorrect Functionality" (3), Optimizer (c), and a note.
    _log_in(page, login, live_server, "alice")
    page.goto(url)
    page.keyboard.press("n")
    for char in NOTE:
        page.keyboard.press(char)
    page.keyboard.press("Escape")
    page.keyboard.press("3")
    page.keyboard.press("c")
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_contain_text("All done")
    alice_ids = list(Annotation.objects.filter(annotator=s["ann1"]).values_list("id", flat=True))
    assert len(alice_ids) == 2
    assert Annotation.objects.get(annotator=s["ann1"], dimension=s["symptom"]).note == NOTE

    # bob opens the same item: nothing pre-filled, no trace of alice's choice or note.
    _log_in(page, login, live_server, "bob")
    page.goto(url)
    expect(page.locator(".dimension")).to_have_count(2)
    expect(page.locator("input:checked")).to_have_count(0)
    for textarea in page.locator("textarea").all():
        assert textarea.input_value() == ""
    html = page.content()
    assert NOTE not in html
    assert "alice" not in html
    assert "You labelled this item already" not in html

    # ... nor through the API, by id or by listing.
    for annotation_id in alice_ids:
        response = page.goto(f"{live_server.url}/api/annotations/{annotation_id}/")
        assert response.status == 404
        assert NOTE not in page.content()
    response = page.goto(f"{live_server.url}/api/studies/{s['study'].slug}/items/{item.id}/annotations/?format=json")
    assert response.status == 200
    assert response.json() == []
    response = page.goto(f"{live_server.url}/api/studies/{s['study'].slug}/annotations/?annotator=alice&format=json")
    assert response.json()["count"] == 0
    assert dialogs == []
