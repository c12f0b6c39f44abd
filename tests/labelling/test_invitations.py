"""Invitation links (issue 17): owners make one-time links; the person signs up or logs in and
joins with the link's role; used, withdrawn, expired and wrong links say so; two people at once
get one membership between them."""

from __future__ import annotations

import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from config.errors import ApplicationError
from labelling.models import Membership, StudyInvitation
from labelling.selectors.invitations import token_hash
from labelling.services.invitations import invitation_accept, invitation_accept_with_signup, invitations_create

pytestmark = pytest.mark.django_db
GOOD_PASSWORD = "labels-are-fun-42"


def _invite(small_study, role="annotator", **kwargs):
    return invitations_create(study=small_study["study"], role=role, created_by=small_study["owner"], **kwargs)[0]


def test_only_a_hash_of_the_token_is_stored_and_tokens_are_long_and_distinct(small_study):
    made = invitations_create(study=small_study["study"], role="viewer", created_by=small_study["owner"], count=5)
    tokens = {m.token for m in made}
    assert len(tokens) == 5 and all(len(t) >= 43 for t in tokens)
    stored = set(StudyInvitation.objects.values_list("token_hash", flat=True))
    assert stored == {token_hash(t) for t in tokens}
    assert not tokens & stored


def test_signup_makes_the_account_and_the_membership_and_uses_the_link(small_study):
    new = _invite(small_study, role="annotator")
    membership = invitation_accept_with_signup(token=new.token, username="newbie", password=GOOD_PASSWORD)
    user = get_user_model().objects.get(username="newbie")
    assert membership.user == user and membership.role == "annotator" and user.check_password(GOOD_PASSWORD)
    new.invitation.refresh_from_db()
    assert new.invitation.used_by == user and new.invitation.used_at is not None
    with pytest.raises(ApplicationError, match="already used"):
        invitation_accept_with_signup(token=new.token, username="second", password=GOOD_PASSWORD)
    assert not get_user_model().objects.filter(username="second").exists()


@pytest.mark.parametrize(
    ("password", "message"),
    [("short1", "too short"), ("password123", "too common"), ("84736251908", "entirely numeric")],
)
def test_signup_applies_djangos_password_validators_and_writes_nothing(small_study, password, message):
    new = _invite(small_study)
    with pytest.raises(ValidationError) as caught:
        invitation_accept_with_signup(token=new.token, username="newbie", password=password)
    assert message in " ".join(caught.value.message_dict["password"])
    assert not get_user_model().objects.filter(username="newbie").exists()
    assert StudyInvitation.objects.get().used_at is None


def test_a_taken_username_says_log_in_instead(small_study):
    new = _invite(small_study)
    with pytest.raises(ValidationError) as caught:
        invitation_accept_with_signup(token=new.token, username="Alice", password=GOOD_PASSWORD)
    assert "log in and accept" in caught.value.message_dict["username"][0]


def test_a_logged_in_user_accepts_and_a_member_cannot_use_it(small_study):
    new = _invite(small_study, role="viewer")
    with pytest.raises(ApplicationError, match="already annotator"):
        invitation_accept(token=new.token, user=small_study["ann1"])
    assert StudyInvitation.objects.get().used_at is None  # still there for the right person
    membership = invitation_accept(token=new.token, user=small_study["outsider"])
    assert membership.role == "viewer"


def test_expired_revoked_and_wrong_links_are_refused_with_what_to_do(client, small_study):
    expired = _invite(small_study)
    StudyInvitation.objects.filter(pk=expired.invitation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    revoked = _invite(small_study)
    revoked.invitation.revoked_at = timezone.now()
    revoked.invitation.save()
    for token, status, text in [
        (expired.token, 409, "expired"),
        (revoked.token, 409, "withdrew"),
        (expired.token[:-3] + "xyz", 404, "not valid"),
    ]:
        response = client.get(reverse("labelling:invite", args=[token]))
        assert response.status_code == status
        assert text in response.content.decode()
        response = client.post(
            reverse("labelling:invite", args=[token]),
            {"username": "x1", "password": GOOD_PASSWORD, "password2": GOOD_PASSWORD},
        )
        assert response.status_code == status
    assert not get_user_model().objects.filter(username="x1").exists()


def test_the_invite_page_signs_up_logs_in_and_lands_on_the_study(client, small_study):
    new = _invite(small_study, role="annotator")
    url = reverse("labelling:invite", args=[new.token])
    page = client.get(url).content.decode()
    assert "Small study" in page and "annotator" in page and "Log in and accept" in page
    response = client.post(url, {"username": "nora", "password": GOOD_PASSWORD, "password2": "other-one-99"})
    assert response.status_code == 400 and "The two passwords differ" in response.content.decode()
    response = client.post(url, {"username": "nora", "password": GOOD_PASSWORD, "password2": GOOD_PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("labelling:study-detail", args=["small"])
    assert client.get(response["Location"]).status_code == 200  # logged in, a member
    assert Membership.objects.get(user__username="nora").role == "annotator"


def test_log_in_and_accept_goes_through_the_login_page_and_back(client, small_study):
    new = _invite(small_study, role="viewer")
    url = reverse("labelling:invite", args=[new.token])
    login = f"{reverse('login')}?next={url}"
    assert login in client.get(url).content.decode()
    response = client.post(login, {"username": "mallory", "password": "pw-for-tests", "next": url})
    assert response.status_code == 302 and response["Location"] == url
    assert "Accept as mallory" in client.get(url).content.decode()
    response = client.post(url)
    assert response.status_code == 302
    assert Membership.objects.get(user__username="mallory").role == "viewer"


def test_owner_makes_links_sees_them_once_and_withdraws_one(client, small_study):
    client.force_login(small_study["owner"])
    response = client.post(
        reverse("labelling:study-invitations", args=["small"]), {"role": "annotator", "count": 2, "days": 7}
    )
    assert response.status_code == 302
    page = client.get(reverse("labelling:study-settings", args=["small"])).content.decode()
    assert page.count("http://testserver/invite/") == 2 and "shown this once" in page
    again = client.get(reverse("labelling:study-settings", args=["small"])).content.decode()
    assert "http://testserver/invite/" not in again and again.count(">open<") == 2
    first = StudyInvitation.objects.order_by("id").first()
    client.post(reverse("labelling:study-invitation-revoke", args=["small", first.pk]))
    first.refresh_from_db()
    assert first.revoked_at is not None


def test_only_owners_make_invitations(client, small_study):
    client.force_login(small_study["ann1"])
    response = client.post(reverse("labelling:study-invitations", args=["small"]), {"role": "owner", "count": 1})
    assert response.status_code == 403
    assert not StudyInvitation.objects.exists()


def test_api_owner_makes_lists_and_withdraws_invitations(api_client, small_study):
    api_client.force_authenticate(small_study["owner"])
    response = api_client.post("/api/studies/small/invitations/", {"role": "viewer", "count": 2}, format="json")
    assert response.status_code == 201, response.data
    urls = [row["url"] for row in response.data]
    assert len(urls) == 2 and all(u.startswith("http://testserver/invite/") for u in urls)
    listed = api_client.get("/api/studies/small/invitations/").data
    assert {row["state"] for row in listed} == {"open"} and "url" not in listed[0]
    assert api_client.delete(f"/api/studies/small/invitations/{listed[0]['id']}/").status_code == 204
    assert api_client.get("/api/studies/small/invitations/").data[0]["state"] in {"revoked", "open"}
    bad = api_client.post("/api/studies/small/invitations/", {"role": "boss"}, format="json")
    assert bad.status_code == 400 and "role" in bad.data["details"]


def test_invite_command_prints_absolute_links(small_study):
    out, err = StringIO(), StringIO()
    call_command(
        "invite",
        "small",
        "annotator",
        "--count",
        "3",
        "--base-url",
        "https://bugs.example.org/",
        stdout=out,
        stderr=err,
    )
    links = out.getvalue().split()
    assert len(links) == 3 and all(link.startswith("https://bugs.example.org/invite/") for link in links)
    assert StudyInvitation.objects.filter(role="annotator").count() == 3
    assert "3 annotator links" in err.getvalue()
    token = links[0].rsplit("/", 2)[-2]
    assert invitation_accept(token=token, user=small_study["outsider"]).role == "annotator"
    with pytest.raises(CommandError, match="No study"):
        call_command("invite", "nope", "viewer", stdout=out, stderr=err)


@pytest.mark.django_db(transaction=True)
def test_two_people_using_one_link_at_once_get_one_membership(small_study):
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    new = _invite(small_study)
    results = []
    barrier = threading.Barrier(2)

    def accept(username):
        from django.db import connection as conn

        try:
            barrier.wait()
            invitation_accept_with_signup(token=new.token, username=username, password=GOOD_PASSWORD)
            results.append("ok")
        except ApplicationError as exc:
            results.append(exc.message)
        finally:
            conn.close()

    threads = [threading.Thread(target=accept, args=(name,)) for name in ("racer1", "racer2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("ok") == 1 and any("already used" in r for r in results), results
    assert Membership.objects.filter(user__username__startswith="racer").count() == 1
    assert get_user_model().objects.filter(username__startswith="racer").count() == 1
