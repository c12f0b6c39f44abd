"""The labelling page in Chromium: the report stays in view beside a long codebook, a failed save
puts the focus on the first invalid dimension, and unsaved picks are warned about and kept as a
draft until they are saved."""

import json
import re

import pytest
from playwright.sync_api import expect

from labelling.models import Annotation, Dimension
from tests.factories import AssignmentFactory, CategoryFactory, DimensionFactory, StudyItemFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG = "A definition long enough to wrap over several lines of the codebook column. " * 4


def _log_in(page, login, live_server, username):
    page.context.clear_cookies()
    login(username)
    page.wait_for_url(f"{live_server.url}/")


def _tall_codebook(study, extra=8):
    """Eight more dimensions after symptom and component, the last one required: a codebook far taller
    than the screen, like the published templates."""
    codes = []
    for d in range(extra):
        dimension = DimensionFactory(
            codebook=study.codebook,
            code=f"extra_{d}",
            name=f"Extra dimension {d}",
            kind=Dimension.Kind.SINGLE,
            order=10 + d,
            description=LONG,
            required=d == extra - 1,
        )
        for c in range(6):
            CategoryFactory(
                dimension=dimension,
                code=f"x{d}_{c}",
                name=f"Choice {d}.{c}",
                order=c,
                shortcut=str(c + 1),
                definition=LONG,
            )
        codes.append(dimension.code)
    return codes


def _wait_for(page, condition, timeout_ms=5000):
    for _ in range(timeout_ms // 100):
        if condition():
            return
        page.wait_for_timeout(100)
    raise AssertionError("condition not met in time")


def _in_viewport(page, selector):
    return page.evaluate(
        """(sel) => { const r = document.querySelector(sel).getBoundingClientRect();
                      return r.top < window.innerHeight && r.bottom > 0; }""",
        selector,
    )


def test_report_stays_in_view_and_a_failed_save_focuses_the_first_invalid_dimension(
    live_server, login, page, small_study
):
    s = small_study
    codes = _tall_codebook(s["study"])
    crash = s["symptom"].categories.get(code="crash")
    CategoryFactory(dimension=s["symptom"], code="segfault", name="Segmentation fault", parent=crash, shortcut="s")
    item = StudyItemFactory(study=s["study"])
    AssignmentFactory(item=item, annotator=s["ann1"])
    page.set_viewport_size({"width": 1280, "height": 800})
    _log_in(page, login, live_server, "alice")
    page.goto(f"{live_server.url}/studies/{s['study'].slug}/label/{item.id}/")
    assert page.evaluate("document.documentElement.scrollHeight") > 3 * 800  # the codebook is tall
    # A sub-category's key is listed beside its parent's, on the form and in the list of keys.
    expect(page.locator("#dim-symptom .category", has_text="Crash").locator(".child-keys")).to_have_text("s")
    page.keyboard.press("?")
    expect(page.locator("#help-overlay")).to_contain_text("↳ Segmentation fault (under 1)")
    page.keyboard.press("Escape")

    # Scrolled down to the last dimension, the report is still on screen beside it.
    page.locator(f"#dim-{codes[-1]}").scroll_into_view_if_needed()
    assert page.evaluate("window.scrollY") > 1500
    assert _in_viewport(page, "#report-title")
    assert _in_viewport(page, f"#dim-{codes[-1]}")

    # Definitions on one line (D), remembered across pages; the active dimension keeps them in full.
    form = page.locator("#label-form")
    page.keyboard.press("Shift+D")
    expect(form).to_have_class(re.compile(r"\bdefinitions-collapsed\b"))
    expect(page.locator("#definitions-toggle")).to_have_attribute("aria-pressed", "true")
    white_space = "(sel) => getComputedStyle(document.querySelector(sel)).whiteSpace"
    assert page.evaluate(white_space, f"#dim-{codes[0]} .definition") == "nowrap"
    page.reload()
    expect(form).to_have_class(re.compile(r"\bdefinitions-collapsed\b"))
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(page.locator(".dimension.active")).to_have_attribute("data-code", codes[0])
    assert page.evaluate(white_space, f"#dim-{codes[0]} .definition") == "normal"
    assert page.evaluate(white_space, f"#dim-{codes[1]} .definition") == "nowrap"

    # Save with the first two dimensions answered and the far-down required one left empty.
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("1")  # symptom: Crash, moves on to component
    page.keyboard.press("a")  # component: Layers
    page.click("#label-form button[type=submit]")
    expect(page.locator(".form-error")).to_contain_text("Nothing was saved")
    invalid = page.locator(f"#dim-{codes[-1]}")
    expect(invalid).to_have_class(re.compile(r"\bhas-error\b.*\bactive\b"))
    focused_in = page.evaluate(
        "document.activeElement.closest('.dimension') && document.activeElement.closest('.dimension').id"
    )
    assert focused_in == f"dim-{codes[-1]}"
    assert _in_viewport(page, f"#dim-{codes[-1]}")
    assert _in_viewport(page, "#report-title")
    # The message names the categories by name and the top of the form links to the dimension.
    expect(invalid.locator(".error[role=alert]")).to_contain_text("Choice 7.0 (x7_0)")
    expect(page.locator(f".form-error a[data-dimension-link='{codes[-1]}']")).to_have_text("Extra dimension 7")
    # The picks made before the failed save are still there; the key of the focused dimension picks.
    expect(page.locator("input[name=value-symptom][value=crash]")).to_be_checked()
    page.keyboard.press("3")
    expect(page.locator(f"input[name=value-{codes[-1]}][value=x7_2]")).to_be_checked()
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_contain_text("All done — 1 item labelled")
    assert Annotation.objects.get(item=item, annotator=s["ann1"], dimension__code=codes[-1]).value == "x7_2"


def test_unsaved_picks_warn_before_leaving_and_come_back_as_a_draft_until_saved(live_server, login, page, small_study):
    s = small_study
    items = [StudyItemFactory(study=s["study"]) for _ in range(2)]
    for item in items:
        AssignmentFactory(item=item, annotator=s["ann1"])
    dialogs = []

    def on_dialog(dialog):
        dialogs.append(dialog.type)
        if len(dialogs) == 1:
            dialog.dismiss()  # stay on the page
        else:
            dialog.accept()  # leave it

    page.on("dialog", on_dialog)
    _log_in(page, login, live_server, "alice")
    url = f"{live_server.url}/studies/{s['study'].slug}/label/{items[1].id}/"
    page.goto(url)
    badge = page.locator("#unsaved-badge")
    expect(badge).to_be_hidden()

    page.keyboard.press("2")  # symptom: Hang
    expect(badge).to_be_visible()
    expect(page.locator("#label-form")).to_have_class(re.compile(r"\bunsaved\b"))
    key = f"bugsift:label:draft:{s['study'].slug}:{items[1].id}:{s['ann1'].id}"
    draft = json.loads(page.evaluate("(k) => localStorage.getItem(k)", key))
    assert draft["state"]["value-symptom"] == ["hang"]

    # The key that goes back asks first; staying keeps the picks.
    page.keyboard.press("ArrowLeft")
    _wait_for(page, lambda: dialogs)
    assert dialogs == ["beforeunload"]
    expect(page).to_have_url(url)
    expect(page.locator("input[name=value-symptom][value=hang]")).to_be_checked()

    # A reload asks too; leaving, the page comes back with the draft put back and marked unsaved.
    page.keyboard.press("a")  # component: Layers
    page.reload()
    assert dialogs == ["beforeunload", "beforeunload"]
    expect(page.locator("#draft-notice")).to_be_visible()
    expect(page.locator("#draft-notice")).to_contain_text("not saved yet")
    expect(page.locator("input[name=value-symptom][value=hang]")).to_be_checked()
    expect(page.locator("input[name=value-component][value=layers]")).to_be_checked()
    expect(badge).to_be_visible()
    assert not Annotation.objects.exists()

    # Following a link away asks too; the browser's Back button then brings the page back marked unsaved.
    page.goto(f"{live_server.url}/studies/{s['study'].slug}/")
    assert dialogs == ["beforeunload"] * 3
    page.go_back()
    expect(page).to_have_url(url)
    expect(page.locator("#draft-notice")).to_be_visible()
    expect(page.locator("input[name=value-symptom][value=hang]")).to_be_checked()
    expect(badge).to_be_visible()

    # Saving clears the draft: no warning on the way, and the item shows its saved labels, clean.
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{live_server.url}/studies/{s['study'].slug}/label/{items[0].id}/")  # the next open item
    assert dialogs == ["beforeunload"] * 3
    page.wait_for_function("(k) => localStorage.getItem(k) === null", arg=key)
    assert Annotation.objects.get(item=items[1], annotator=s["ann1"], dimension__code="symptom").value == "hang"
    page.goto(url)
    expect(page.locator("input[name=value-symptom][value=hang]")).to_be_checked()
    expect(page.locator("#draft-notice")).to_be_hidden()
    expect(badge).to_be_hidden()
    page.keyboard.press("ArrowLeft")  # clean: the way back asks nothing
    expect(page).to_have_url(f"{live_server.url}/studies/{s['study'].slug}/label/{items[0].id}/")
    assert dialogs == ["beforeunload"] * 3
