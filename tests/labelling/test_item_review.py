"""Re-review flags on study items (set by the GitHub sync when a report changes): shown, filtered, cleared."""

import pytest
from django.urls import reverse

from labelling.models import StudyItem
from tests.factories import StudyItemFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def flagged(small_study):
    item = StudyItemFactory(study=small_study["study"], needs_review=True, review_reason="reopened")
    StudyItemFactory(study=small_study["study"])
    return {**small_study, "item": item}


def test_items_page_says_what_changed_and_filters_flagged_items(client, flagged):
    client.force_login(flagged["owner"])
    url = reverse("labelling:items", args=["small"])
    html = client.get(url).content.decode()
    assert "Changed: reopened" in html and "Mark reviewed" in html
    only = client.get(url + "?needs_review=1").context["page"].object_list
    assert [i.pk for i in only] == [flagged["item"].pk]


@pytest.mark.parametrize("who, status", [("owner", 302), ("viewer", 403), ("ann1", 403), ("outsider", 404)])
def test_marking_reviewed_clears_the_flag_for_the_owner_only(client, flagged, who, status):
    client.force_login(flagged[who])
    response = client.post(reverse("labelling:item-reviewed", args=["small", flagged["item"].pk]))
    assert response.status_code == status
    item = StudyItem.objects.get(pk=flagged["item"].pk)
    assert item.needs_review is (status != 302)
    assert item.review_reason == ("" if status == 302 else "reopened")


def test_api_lists_flags_and_clears_them(api_client, flagged):
    api_client.force_authenticate(flagged["owner"])
    listed = api_client.get("/api/studies/small/items/?needs_review=true").json()
    assert [(i["id"], i["review_reason"]) for i in listed["results"]] == [(flagged["item"].pk, "reopened")]
    answer = api_client.post(f"/api/studies/small/items/{flagged['item'].pk}/reviewed/")
    assert answer.status_code == 200 and answer.json()["needs_review"] is False
    api_client.force_authenticate(flagged["viewer"])
    assert api_client.post(f"/api/studies/small/items/{flagged['item'].pk}/reviewed/").status_code == 403
