"""The labelling page driven by the keyboard alone, end to end, then the owner's CSV export."""

import csv
import io

import pytest
from playwright.sync_api import expect

from labelling.models import Annotation
from tests.factories import AssignmentFactory, StudyItemFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# (symptom shortcut, component shortcuts, note typed for the symptom, expected CSV values)
PLAN = [
    ("1", ["a"], "", ("crash", "layers")),
    ("2", ["a", "b"], "spins", ("hang", "layers;model")),
    ("3", ["c"], "", ("wrong_output", "optimizer")),
]


def _fail_on_dialog(page):
    def on_dialog(dialog):
        dialog.dismiss()
        pytest.fail(f"unexpected dialog: {dialog.message}")

    page.on("dialog", on_dialog)


def _log_in(page, login, live_server, username):
    """Log in through the form and wait until the login POST has landed on the study list."""
    page.context.clear_cookies()
    login(username)
    page.wait_for_url(f"{live_server.url}/")


def _press_text(page, text):
    for char in text:
        page.keyboard.press(char)


def test_annotator_labels_three_items_with_the_keyboard_then_owner_exports(live_server, login, page, small_study):
    s = small_study
    study = s["study"]
    study.overlap_k = 1  # one annotator per item: her labels become the final labels
    study.save(update_fields=["overlap_k"])
    items = [StudyItemFactory(study=study) for _ in range(3)]
    for item in items:
        AssignmentFactory(item=item, annotator=s["ann1"])
    _fail_on_dialog(page)

    _log_in(page, login, live_server, "alice")
    page.goto(f"{live_server.url}/studies/{study.slug}/label/")
    progress = page.locator(".progress[role=progressbar]")
    active = page.locator(".dimension.active")

    for index, (symptom_key, component_keys, note, _expected) in enumerate(PLAN):
        expect(page).to_have_url(f"{live_server.url}/studies/{study.slug}/label/{items[index].id}/")
        expect(progress).to_have_attribute("aria-valuenow", str(index))
        expect(page.locator(".progress-text")).to_have_text(f"{index} of 3 labelled")
        expect(active).to_have_attribute("data-code", "symptom")
        if note:
            page.keyboard.press("n")
            expect(page.locator("textarea[name=note-symptom]")).to_be_focused()
            _press_text(page, note)  # keys typed in a textarea never pick categories
            page.keyboard.press("Escape")
            expect(page.locator("input[name=value-symptom]:checked")).to_have_count(0)
        page.keyboard.press(symptom_key)
        expect(page.locator(f"input[name=value-symptom][data-shortcut='{symptom_key}']")).to_be_checked()
        expect(active).to_have_attribute("data-code", "component")  # single choice moves on
        for key in component_keys:
            page.keyboard.press(key)
        expect(page.locator("input[name=value-component]:checked")).to_have_count(len(component_keys))
        if index == 1:  # max_choices = 2: a third pick is refused with a message, a repeat unpicks
            page.keyboard.press("c")
            expect(page.locator("input[name=value-component]:checked")).to_have_count(2)
            expect(page.locator("#dim-component .dim-flash")).to_contain_text("At most 2")
            page.keyboard.press("ArrowUp")
            expect(active).to_have_attribute("data-code", "symptom")
            page.keyboard.press("ArrowDown")
            expect(active).to_have_attribute("data-code", "component")
        page.keyboard.press("Enter")

    expect(page).to_have_url(f"{live_server.url}/studies/{study.slug}/label/")
    expect(progress).to_have_attribute("aria-valuenow", "3")
    expect(page.locator("h1")).to_contain_text("All done — 3 items labelled")
    # The time each page was visible was posted and recorded.
    for item in items:
        spent = Annotation.objects.filter(item=item, annotator=s["ann1"]).values_list("time_spent_ms", flat=True)
        assert 0 < sum(spent) < 3_600_000

    # Back to the last item with the keyboard: own values are pre-filled.
    page.keyboard.press("ArrowLeft")
    expect(page).to_have_url(f"{live_server.url}/studies/{study.slug}/label/{items[2].id}/")
    expect(page.locator("input[name=value-symptom][value=wrong_output]")).to_be_checked()
    expect(page.locator("input[name=value-component][value=optimizer]")).to_be_checked()
    page.keyboard.press("ArrowLeft")
    expect(page).to_have_url(f"{live_server.url}/studies/{study.slug}/label/{items[1].id}/")
    expect(page.locator("textarea[name=note-symptom]")).to_have_value("spins")

    # The help overlay lists every key, the codebook's shortcuts included.
    overlay = page.locator("#help-overlay")
    expect(overlay).to_be_hidden()
    page.keyboard.press("?")
    expect(overlay).to_be_visible()
    for text in ("Save & next", "Back to the previous item", "Symptom", "Incorrect Functionality", "Optimizer"):
        expect(overlay).to_contain_text(text)
    page.keyboard.press("Escape")
    expect(overlay).to_be_hidden()

    # The owner downloads the CSV export and finds the three items' labels.
    _log_in(page, login, live_server, "olivia")
    page.goto(f"{live_server.url}/studies/{study.slug}/")
    with page.expect_download() as download_info:
        page.click(f"a[href='/studies/{study.slug}/export/csv/']")
    path = download_info.value.path()
    with open(path, encoding="utf-8") as handle:
        rows = {row["source_id"]: row for row in csv.DictReader(io.StringIO(handle.read()))}
    for item, (_s, _c, _n, (symptom, component)) in zip(items, PLAN, strict=True):
        row = rows[item.report.source_id]
        assert (row["symptom"], row["component"]) == (symptom, component)


def test_keys_in_a_textarea_stay_in_the_textarea_and_ctrl_enter_saves(live_server, login, page, small_study):
    s = small_study
    item = StudyItemFactory(study=s["study"])
    AssignmentFactory(item=item, annotator=s["ann1"])
    _fail_on_dialog(page)
    _log_in(page, login, live_server, "alice")
    page.goto(f"{live_server.url}/studies/{s['study'].slug}/label/{item.id}/")
    page.keyboard.press("1")
    page.keyboard.press("n")  # note of the component dimension
    _press_text(page, "abc?")
    expect(page.locator("textarea[name=note-component]")).to_have_value("abc?")
    expect(page.locator("input[name=value-component]:checked")).to_have_count(0)
    expect(page.locator("#help-overlay")).to_be_hidden()
    page.keyboard.press("Enter")  # a new line in the note, not a submit
    expect(page).to_have_url(f"{live_server.url}/studies/{s['study'].slug}/label/{item.id}/")
    page.keyboard.press("Control+Enter")  # submit from inside: component is required -> error, values kept
    expect(page.locator("#dim-component .error[role=alert]")).to_contain_text("required")
    expect(page.locator("input[name=value-symptom][value=crash]")).to_be_checked()
    expect(page.locator("textarea[name=note-component]")).to_have_value("abc?\n")  # kept as typed
    expect(page.locator(".dimension.active")).to_have_attribute("data-code", "component")
    page.keyboard.press("b")
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_contain_text("All done — 1 item labelled")
