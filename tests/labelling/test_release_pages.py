"""labelling/releases views and API: the Releases page, downloads, the REST operations, the upload page."""

import hashlib
import io
import zipfile

import pytest
from django.test import Client
from rest_framework.test import APIClient

from labelling.models import Study
from labelling.releases.models import Release
from labelling.services.annotations import item_labels_save
from labelling.services.codebooks import category_create
from tests.factories import AssignmentFactory, ReportFactory, StudyItemFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def study(small_study):
    s = small_study
    for n, (a, b) in enumerate([("crash", "crash"), ("hang", "crash")], start=1):
        item = StudyItemFactory(
            study=s["study"], report=ReportFactory(source_id=f"github:x/y#{n}"), screening="included"
        )
        for who, value in (("ann1", a), ("ann2", b)):
            AssignmentFactory(item=item, annotator=s[who])
            item_labels_save(item=item, annotator=s[who], values={"symptom": value, "component": ["model"]})
    return s


def _client(user, api=False):
    client = APIClient() if api else Client()
    client.force_login(user)
    return client


def test_owner_makes_a_release_on_the_page_and_members_download_it(study):
    owner = _client(study["owner"])
    page = owner.get("/studies/small/releases/")
    assert page.status_code == 200 and b"No release yet" in page.content and b"Make the release" in page.content
    response = owner.post("/studies/small/releases/", {"version": "1.0.0", "licence": "CC0-1.0"}, follow=True)
    assert response.status_code == 200
    release = Release.objects.get(study=study["study"])
    assert release.licence == "CC0-1.0" and release.sha256.encode() in response.content
    # a version that is not greater: 400 and the reason, nothing made
    again = owner.post("/studies/small/releases/", {"version": "0.9.0"})
    assert again.status_code == 400
    assert b"Version 0.9.0 is not greater than the latest release 1.0.0" in again.content
    assert Release.objects.count() == 1
    viewer = _client(study["viewer"])
    listing = viewer.get("/studies/small/releases/")
    assert listing.status_code == 200 and b"Make the release" not in listing.content and b"1.0.0" in listing.content
    assert viewer.post("/studies/small/releases/", {"version": "2.0.0"}).status_code == 403
    download = viewer.get("/studies/small/releases/1.0.0/download/")
    body = b"".join(download.streaming_content)
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    assert hashlib.sha256(body).hexdigest() == release.sha256 == download["X-Checksum-SHA256"]
    annotator = _client(study["ann1"])
    assert annotator.get("/studies/small/releases/").status_code == 403
    assert annotator.get("/studies/small/releases/1.0.0/download/").status_code == 403
    assert _client(study["outsider"]).get("/studies/small/releases/").status_code == 404


def test_api_creates_lists_and_downloads_releases(study):
    api = _client(study["owner"], api=True)
    made = api.post("/api/studies/small/releases/", {"version": "1.0.0", "figures": False}, format="json")
    assert made.status_code == 201, made.content
    assert made.json()["version"] == "1.0.0" and made.json()["changes"] == {"previous": None}
    assert {f["path"] for f in made.json()["files"]} >= {"data/items.csv", "data/labels.parquet", "README.md"}
    taken = api.post("/api/studies/small/releases/", {"version": "1.0.0"}, format="json")
    assert taken.status_code == 400 and "not greater than the latest release 1.0.0" in taken.json()["message"]
    bad = api.post("/api/studies/small/releases/", {"version": "1.1"}, format="json")
    assert bad.status_code == 400 and "'1.1' is not a semantic version" in bad.json()["message"]
    assert [r["version"] for r in api.get("/api/studies/small/releases/").json()] == ["1.0.0"]
    assert api.get("/api/studies/small/releases/1.0.0/").json()["sha256"] == Release.objects.get().sha256
    assert api.get("/api/studies/small/releases/9.9.9/").status_code == 404
    assert api.get("/api/studies/small/releases/1.0.0/download/").status_code == 200
    annotator = _client(study["ann1"], api=True)
    assert annotator.get("/api/studies/small/releases/").status_code == 403
    assert annotator.post("/api/studies/small/releases/", {"version": "2.0.0"}, format="json").status_code == 403


def test_changes_since_the_previous_release_and_stable_pseudonyms(study):
    api = _client(study["owner"], api=True)
    api.post("/api/studies/small/releases/", {"version": "1.0.0", "figures": False}, format="json")
    s = study["study"]
    # a new item, one label changed, a new annotator (higher user id: the next pseudonym), a new category
    carl = UserFactory(username="aaron")  # sorts first by name, but comes last by user id
    from labelling.models import Membership
    from tests.factories import MembershipFactory

    MembershipFactory(study=s, user=carl, role=Membership.Role.ANNOTATOR)
    item = StudyItemFactory(study=s, report=ReportFactory(source_id="github:x/y#3"), screening="included")
    AssignmentFactory(item=item, annotator=carl)
    item_labels_save(item=item, annotator=carl, values={"symptom": "hang", "component": ["layers"]})
    first = s.items.order_by("id").first()
    item_labels_save(item=first, annotator=study["ann1"], values={"symptom": "hang", "component": ["model"]})
    category_create(dimension=study["symptom"], code="slow", name="Slow")
    made = api.post("/api/studies/small/releases/", {"version": "1.1.0", "figures": False}, format="json").json()
    changes = made["changes"]
    assert changes["previous"] == "1.0.0"
    assert changes["items"]["added"] == 1 and changes["items"]["added_examples"] == ["github:x/y#3"]
    assert changes["items"]["removed"] == 0
    assert changes["labels"] == {"added": 2, "removed": 0, "changed": 1}
    assert [e["text"] for e in changes["codebook"]["events"]] == ["category 'slow' (Slow) added to 'symptom'"]
    release = Release.objects.get(version="1.1.0")
    with zipfile.ZipFile(release.file.path) as zf:
        labels = zf.read("data/labels.csv").decode()
    # alice and bob keep A1 and A2 (olivia, the owner, adjudicated nothing here); aaron is A3
    assert "github:x/y#3,A3,symptom,hang" in labels and "github:x/y#1,A1,symptom,hang" in labels


def test_upload_page_loads_a_package_or_says_what_is_wrong(study, tmp_path):
    from tests.conftest import site_user

    api = _client(study["owner"], api=True)
    api.post("/api/studies/small/releases/", {"version": "1.0.0", "figures": False}, format="json")
    release = Release.objects.get()
    data = release.file.open("rb").read()
    researcher = _client(study["researcher"])
    assert researcher.get("/releases/load/").status_code == 200
    ok = researcher.post("/releases/load/", {"file": io.BytesIO(data), "study": "small-again"})
    assert ok.status_code == 302 and ok["Location"] == "/studies/small-again/"
    loaded = Study.objects.get(slug="small-again")
    assert loaded.memberships.get(user=study["researcher"]).role == "owner"
    # a changed file: refused with the reason, nothing written
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(buf, "w") as dst:
        for name in src.namelist():
            content = src.read(name)
            dst.writestr(name, content + b"x" if name == "data/items.csv" else content)
    bad = researcher.post("/releases/load/", {"file": io.BytesIO(buf.getvalue()), "study": "small-bad"})
    assert bad.status_code == 400 and b"does not match its checksum" in bad.content
    assert not Study.objects.filter(slug="small-bad").exists()
    not_zip = researcher.post("/releases/load/", {"file": io.BytesIO(b"hello"), "study": "x"})
    assert not_zip.status_code == 400 and b"it is not a zip file" in not_zip.content
    # the API: the same checks; an annotator (no right to create studies) is refused
    again = _client(site_user("rex", "researcher"), api=True).post(
        "/api/releases/load/", {"file": io.BytesIO(data), "study": "small"}, format="multipart"
    )
    assert again.status_code == 400 and "A study 'small' already exists" in again.json()["message"]
    assert _client(study["ann1"]).get("/releases/load/").status_code == 403
    refused = _client(study["ann1"], api=True).post(
        "/api/releases/load/", {"file": io.BytesIO(data)}, format="multipart"
    )
    assert refused.status_code == 403
