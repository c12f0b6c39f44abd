"""Accounts in the browser (issue 17): an owner's invitation link -> a new account -> its first
label; the styled 403 and 404 pages with their way back."""

import pytest
from playwright.sync_api import expect

from labelling.models import Annotation, Membership
from tests.factories import AssignmentFactory, StudyItemFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "labels-are-fun-42"


def test_invitation_to_account_to_first_label(live_server, login, page, small_study):
    study = small_study["study"]
    item = StudyItemFactory(study=study)
    login("olivia")
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/studies/{study.slug}/settings/")
    page.select_option("#invitations select[name=role]", "annotator")
    page.click("#invitations button[type=submit]")
    link = page.locator("code.invite-link")
    expect(link).to_have_count(1)
    url = link.inner_text()
    assert url.startswith(f"{live_server.url}/invite/")
    page.reload()
    expect(page.locator("code.invite-link")).to_have_count(0)  # shown once

    page.context.clear_cookies()
    page.goto(url)
    expect(page.locator("h1")).to_contain_text("Join “Small study”")
    page.fill("input[name=username]", "nora")
    page.fill("input[name=password]", "short")
    page.fill("input[name=password2]", "short")
    page.click("form.invite-signup button[type=submit]")
    expect(page.locator(".errorlist")).to_contain_text("too short")
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.click("form.invite-signup button[type=submit]")
    page.wait_for_url(f"{live_server.url}/studies/{study.slug}/")
    expect(page.locator(".messages")).to_contain_text("Welcome to 'Small study': you are annotator.")
    nora = Membership.objects.get(study=study, user__username="nora").user

    AssignmentFactory(item=item, annotator=nora)  # the owner's "Make assignments", for one item
    page.goto(f"{live_server.url}/studies/{study.slug}/label/")
    page.keyboard.press("1")
    page.keyboard.press("a")
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_contain_text("All done")
    assert set(Annotation.objects.filter(annotator=nora).values_list("value", flat=True)) == {"crash", "layers"}

    # The link was used: opening it again says so.
    page.goto(url)
    expect(page.locator(".error")).to_contain_text("already used")


def test_styled_403_and_404_with_a_way_back(live_server, login, page, small_study):
    login("alice")
    page.wait_for_url(f"{live_server.url}/")
    response = page.goto(f"{live_server.url}/studies/small/settings/")
    assert response.status == 403
    expect(page.locator("h1")).to_have_text("Not allowed (403)")
    expect(page.locator(".error-page .error")).to_have_text("Your role in this study does not allow this.")
    expect(page.locator(".topbar")).to_be_visible()  # the site's layout
    page.click("text=Go to your studies")
    page.wait_for_url(f"{live_server.url}/")

    response = page.goto(f"{live_server.url}/no/such/page/")
    assert response.status == 404
    expect(page.locator("h1")).to_have_text("Not found (404)")
    expect(page.locator(".error-page .error")).to_contain_text("There is nothing at this address")
    assert "URLconf" not in page.content()
    page.goto(f"{live_server.url}/studies/not-a-study/", referer=f"{live_server.url}/studies/small/")
    expect(page.locator(".error-page .error")).to_contain_text("There is nothing at this address")
    assert "matches the given query" not in page.content()  # not Django's wording
    page.click("text=Back to the previous page")
    page.wait_for_url(f"{live_server.url}/studies/small/")
    expect(page.locator("link[rel=icon]")).to_have_count(2)
    assert page.request.get(f"{live_server.url}/favicon.ico").status == 200
