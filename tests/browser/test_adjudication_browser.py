"""The Adjudicate page in Chromium: an owner decides two items with the keyboard alone, the API
answers the same session, and a blind annotator reaches neither the page nor its data."""

import pytest
from playwright.sync_api import expect

from labelling.models import FinalLabel, FinalLabelDecision
from labelling.services.annotations import item_labels_save

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _log_in(page, login, live_server, username):
    page.context.clear_cookies()
    login(username)
    page.wait_for_url(f"{live_server.url}/")


def _press_text(page, text):
    for char in text:
        page.keyboard.press(char)


def test_owner_adjudicates_with_the_keyboard_and_the_api_agrees(live_server, login, page, labelling_study):
    s = labelling_study
    first, second, _ = s["items"]
    item_labels_save(item=first, annotator=s["ann1"], values={"symptom": "crash", "component": ["layers"]},
                     notes={"symptom": "quokka-alice"})
    item_labels_save(item=first, annotator=s["ann2"], values={"symptom": "hang", "component": ["model"]},
                     notes={"symptom": "pangolin-bob"})
    item_labels_save(item=second, annotator=s["ann1"], values={"symptom": "crash", "component": ["layers"]})
    item_labels_save(item=second, annotator=s["ann2"], values={"symptom": "hang", "component": ["layers"]})
    base = f"{live_server.url}/studies/small/adjudicate/"

    _log_in(page, login, live_server, "olivia")
    # The API over the same session: the next disagreement is the first item.
    api = page.request.get(f"{live_server.url}/api/studies/small/adjudication/next/")
    assert api.status == 200 and api.json()["item"] == first.id

    page.goto(base)
    expect(page.locator("#adjudication-remaining")).to_have_text("2 items with a disagreement")
    expect(page.locator("#dim-symptom .given-values")).to_contain_text("pangolin-bob")
    active = page.locator(".dimension.active")
    expect(active).to_have_attribute("data-code", "symptom")
    page.keyboard.press("2")  # Annotator 2's value: hang
    expect(page.locator("#dim-symptom input.given-choice[value=hang]")).to_be_checked()
    page.keyboard.press("r")
    expect(page.locator("textarea[name=rationale-symptom]")).to_be_focused()
    _press_text(page, "trace 1")  # digits typed in a textarea pick nothing
    page.keyboard.press("Escape")
    expect(page.locator("#dim-symptom input.given-choice[value=hang]")).to_be_checked()
    page.keyboard.press("ArrowDown")
    expect(active).to_have_attribute("data-code", "component")
    page.keyboard.press("4")  # component: 3 = layers, 4 = model
    page.keyboard.press("r")
    _press_text(page, "the model")
    page.keyboard.press("Control+Enter")

    expect(page).to_have_url(f"{base}?after={first.id}")
    expect(page.locator("#adjudication-remaining")).to_have_text("1 item with a disagreement")
    page.keyboard.press("Enter")  # no value and no rationale: a form error, nothing saved
    expect(page.locator("#dim-symptom .error[role=alert]")).to_contain_text("rationale is required")
    page.locator("#dim-symptom input.category-choice[value=wrong_output]").check()  # any category, not a given one
    page.locator("textarea[name=rationale-symptom]").fill("neither: wrong output")
    page.locator("textarea[name=rationale-symptom]").press("Escape")
    page.keyboard.press("Enter")
    expect(page.locator("#adjudication-done")).to_be_visible()

    finals = {(f.item_id, f.dimension.code): (f.value, f.method, f.rationale) for f in FinalLabel.objects.all()
              if f.method == "adjudicated"}
    assert finals == {
        (first.id, "symptom"): ("hang", "adjudicated", "trace 1"),
        (first.id, "component"): ("model", "adjudicated", "the model"),
        (second.id, "symptom"): ("wrong_output", "adjudicated", "neither: wrong output"),
    }
    decisions = page.request.get(f"{live_server.url}/api/studies/small/adjudications/").json()["results"]
    assert [(d["item"], d["dimension"], d["chosen_from"]) for d in decisions] == [
        (first.id, "symptom", ["crash", "hang"]),
        (first.id, "component", ["layers", "model"]),
        (second.id, "symptom", ["crash", "hang"]),
    ]
    assert page.request.get(f"{live_server.url}/api/studies/small/adjudication/next/").status == 204


def test_a_blind_annotator_reaches_no_adjudication_view(live_server, login, page, labelling_study):
    s = labelling_study
    first = s["items"][0]
    item_labels_save(item=first, annotator=s["ann1"], values={"symptom": "crash", "component": ["layers"]})
    item_labels_save(item=first, annotator=s["ann2"], values={"symptom": "hang", "component": ["layers"]},
                     notes={"symptom": "pangolin-bob"})
    _log_in(page, login, live_server, "alice")
    page.goto(f"{live_server.url}/studies/small/")
    expect(page.locator("nav.study-nav")).not_to_contain_text("Adjudicate")
    response = page.goto(f"{live_server.url}/studies/small/adjudicate/")
    assert response.status == 403
    assert "pangolin-bob" not in page.content()
    for url in ("/api/studies/small/adjudication/next/", "/api/studies/small/adjudications/"):
        answer = page.request.get(live_server.url + url)
        assert answer.status == 403 and "pangolin-bob" not in answer.text()
    assert not FinalLabelDecision.objects.exists()
