"""Agreement through the database: label import -> `manage.py agreement` JSON == API JSON == the
page's figures == the file beside an export; who may see it; bad input."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from labelling.models import Dimension, Membership
from labelling.services.annotations import item_labels_save
from labelling.services.label_import import labels_import
from tests.factories import (
    CategoryFactory,
    DimensionFactory,
    MembershipFactory,
    ReportFactory,
    StudyFactory,
    UserFactory,
)
from tests.labelling import agreement_examples as ex

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleiss_study():
    """A blind study whose 'diagnosis' labels are the Fleiss (1971) table, imported from a label
    file; a free-text 'comment' dimension; owner, viewer, the 6 annotators, an outsider."""
    study = StudyFactory(slug="fleiss", name="Fleiss 1971", blind=True, overlap_k=6)
    diagnosis = DimensionFactory(codebook=study.codebook, code="diagnosis", name="Diagnosis", order=1)
    for i, code in enumerate(ex.FLEISS_1971_CODES):
        CategoryFactory(dimension=diagnosis, code=code, name=code.replace("_", " ").title(), order=i)
    DimensionFactory(codebook=study.codebook, code="comment", name="Comment", kind=Dimension.Kind.TEXT, order=2)
    owner, viewer, outsider = UserFactory(username="owen"), UserFactory(username="vera"), UserFactory(username="mal")
    MembershipFactory(study=study, user=owner, role=Membership.Role.OWNER)
    MembershipFactory(study=study, user=viewer, role=Membership.Role.VIEWER)
    annotators = []
    for j in range(6):
        user = UserFactory(username=f"psychiatrist{j + 1}")
        MembershipFactory(study=study, user=user, role=Membership.Role.ANNOTATOR)
        annotators.append(user)
    lines = ["source_id,annotator,dimension,value,note"]
    for item, rater, code in ex.fleiss_triples():
        lines.append(f"fleiss:{item},{rater},diagnosis,{code},")
    for item in range(1, 31):
        ReportFactory(source_id=f"fleiss:{item}")
    result = labels_import(study=study, source=io.BytesIO("\n".join(lines).encode()))
    assert result.annotations_created == 180
    return {"study": study, "owner": owner, "viewer": viewer, "outsider": outsider, "annotators": annotators}


def _command_json(*args) -> dict:
    out = io.StringIO()
    call_command("agreement", "fleiss", "--format", "json", *args, stdout=out)
    return json.loads(out.getvalue())


def test_imported_fleiss_table_gives_the_published_figures_through_command_api_page_and_export(
    fleiss_study, client, tmp_path
):
    from rest_framework.test import APIClient

    command = _command_json()
    assert command["study"] == "fleiss"
    diagnosis, comment = command["dimensions"]
    assert round(diagnosis["fleiss_kappa"]["value"], 3) == ex.FLEISS_1971_KAPPA
    assert [round(c["kappa"], 3) for c in diagnosis["categories"]] == ex.FLEISS_1971_CATEGORY_KAPPAS
    assert (diagnosis["level"], diagnosis["items"], diagnosis["raters"], diagnosis["labels"]) == ("nominal", 30, 6, 180)
    assert len(diagnosis["cohen_kappa"]) == 15
    assert comment["level"] == "text" and "Free-text" in comment["skipped"]

    api = APIClient()
    api.force_authenticate(fleiss_study["viewer"])
    response = api.get("/api/studies/fleiss/agreement/")
    assert response.status_code == 200
    assert response.json() == command

    client.force_login(fleiss_study["viewer"])
    page = client.get(reverse("labelling:agreement", args=["fleiss"]))
    assert page.status_code == 200
    html = page.content.decode()
    section = html[html.index('id="dimension-diagnosis"') :]
    figures = re.findall(r'<td class="figure-value">([^<]*)</td>', section)
    d = diagnosis
    assert figures[:4] == [
        f"{d['percent_agreement']:.3f}",
        f"{d['fleiss_kappa']['value']:.3f}",
        f"{d['krippendorff_alpha']['value']:.3f}",
        f"{d['gwet_ac1']['value']:.3f}",
    ]
    assert "0.430" in section and "moderate" in section and "1000 resamples" in section
    assert "Landis" in html

    out = tmp_path / "fleiss.jsonl"
    call_command("export_study", "fleiss", format="jsonl", output=str(out), verbosity=0)
    beside = json.loads((tmp_path / "fleiss.jsonl.agreement.json").read_text())
    assert beside == command


def test_dimension_option_and_table_format(fleiss_study):
    only = _command_json("--dimension", "diagnosis")
    assert [d["code"] for d in only["dimensions"]] == ["diagnosis"]
    out = io.StringIO()
    call_command("agreement", "fleiss", stdout=out)
    text = out.getvalue()
    assert "Fleiss' kappa" in text and "0.430" in text and "moderate" in text and "Landis" in text


def test_an_unknown_dimension_is_a_command_error_naming_the_valid_codes(fleiss_study):
    with pytest.raises(CommandError, match="'nope'.*diagnosis, comment"):
        call_command("agreement", "fleiss", "--dimension", "nope")
    with pytest.raises(CommandError, match="No study with slug 'missing'"):
        call_command("agreement", "missing")


def test_api_unknown_dimension_is_a_400_in_the_error_shape(fleiss_study):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(fleiss_study["owner"])
    response = api.get("/api/studies/fleiss/agreement/?dimension=nope")
    assert response.status_code == 400
    assert "diagnosis" in response.json()["message"]


def test_blind_annotator_gets_403_and_non_member_404_on_every_agreement_view(fleiss_study, client):
    from rest_framework.test import APIClient

    urls = [
        "/api/studies/fleiss/agreement/",
        "/api/studies/fleiss/agreement/confusion/?dimension=diagnosis&rater_a=psychiatrist1&rater_b=psychiatrist2",
    ]
    page = reverse("labelling:agreement", args=["fleiss"])
    for user, status in ((fleiss_study["annotators"][0], 403), (fleiss_study["outsider"], 404)):
        api = APIClient()
        api.force_authenticate(user)
        for url in urls:
            response = api.get(url)
            assert response.status_code == status, url
            assert "kappa" not in response.content.decode()
        client.force_login(user)
        assert client.get(page).status_code == status
        assert client.get(page + "?dimension=diagnosis&rater_a=psychiatrist1&rater_b=psychiatrist2").status_code == (
            status
        )


def test_confusion_matrix_of_a_pair_on_the_page_and_the_api(fleiss_study, client):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(fleiss_study["owner"])
    response = api.get(
        "/api/studies/fleiss/agreement/confusion/?dimension=diagnosis&rater_a=psychiatrist1&rater_b=psychiatrist6"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["items"] == 30 and body["values"] == ex.FLEISS_1971_CODES
    expected = [[0] * 5 for _ in range(5)]
    for row in ex.FLEISS_1971:
        expected[row[0] - 1][row[5] - 1] += 1
    assert body["matrix"] == expected

    client.force_login(fleiss_study["owner"])
    url = reverse("labelling:agreement", args=["fleiss"])
    html = client.get(url + "?dimension=diagnosis&rater_a=psychiatrist1&rater_b=psychiatrist6").content.decode()
    assert "30 items both labelled" in html


@pytest.mark.parametrize(
    "query, message",
    [
        ("dimension=diagnosis&rater_a=nobody&rater_b=psychiatrist1", "&#x27;nobody&#x27; gave no label"),
        ("dimension=nope&rater_a=psychiatrist1&rater_b=psychiatrist2", "Unknown dimension"),
        ("dimension=comment&rater_a=psychiatrist1&rater_b=psychiatrist2", "free text"),
        ("dimension=diagnosis&rater_a=psychiatrist1", "Pick rater b"),
        ("dimension=diagnosis&rater_a=psychiatrist1&rater_b=psychiatrist1", "two different"),
    ],
)
def test_bad_confusion_choices_are_form_errors_not_500(fleiss_study, client, query, message):
    client.force_login(fleiss_study["owner"])
    response = client.get(reverse("labelling:agreement", args=["fleiss"]) + "?" + query)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="errorlist"' in html and message in html


def test_api_confusion_needs_its_parameters(fleiss_study):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(fleiss_study["owner"])
    response = api.get("/api/studies/fleiss/agreement/confusion/?dimension=diagnosis")
    assert response.status_code == 400
    assert "rater_a" in response.json()["message"]
    response = api.get("/api/studies/fleiss/agreement/confusion/?dimension=diagnosis&rater_a=x&rater_b=psychiatrist1")
    assert response.status_code == 400 and "psychiatrist1" in response.json()["message"]


def test_empty_state_when_no_item_has_two_labels(small_study, client):
    client.force_login(small_study["owner"])
    response = client.get(reverse("labelling:agreement", args=[small_study["study"].slug]))
    assert response.status_code == 200
    assert "No agreement figure yet" in response.content.decode()


def test_labels_saved_on_the_labelling_page_count_and_an_empty_optional_value_does_not(labelling_study):
    s = labelling_study
    s["component"].required = False
    s["component"].save()
    first, second, _ = s["items"]
    item_labels_save(item=first, annotator=s["ann1"], values={"symptom": "crash", "component": ["layers"]})
    item_labels_save(item=first, annotator=s["ann2"], values={"symptom": "crash"})  # component left empty
    item_labels_save(item=second, annotator=s["ann1"], values={"symptom": "hang", "component": ["model"]})
    item_labels_save(item=second, annotator=s["ann2"], values={"symptom": "crash", "component": ["model"]})
    out = io.StringIO()
    call_command("agreement", s["study"].slug, "--format", "json", stdout=out)
    symptom, component = json.loads(out.getvalue())["dimensions"]
    assert (symptom["items"], symptom["labels"], symptom["percent_agreement"]) == (2, 4, 0.5)
    assert symptom["cohen_kappa"][0]["raters"] == ["alice", "bob"]
    assert component["level"] == "multi" and component["krippendorff_alpha"]["distance"] == "masi"
    assert (component["items"], component["labels"], component["items_with_one_label"]) == (1, 2, 1)


def test_ordinal_and_hierarchical_dimensions_from_the_database(small_study):
    from tests.factories import AssignmentFactory, StudyItemFactory

    s = small_study
    study = s["study"]
    threat = DimensionFactory(codebook=study.codebook, code="threat", kind=Dimension.Kind.ORDINAL, order=3)
    for i, code in enumerate(["low", "medium", "high"]):
        CategoryFactory(dimension=threat, code=code, order=i)
    crash = study.codebook.dimensions.get(code="symptom").categories.get(code="crash")
    CategoryFactory(dimension=crash.dimension, code="segfault", parent=crash, order=9)
    pairs = [
        ("crash", "segfault", "low", "medium"),
        ("hang", "hang", "high", "high"),
        ("segfault", "crash", "low", "low"),
    ]
    for symptom_a, symptom_b, threat_a, threat_b in pairs:
        item = StudyItemFactory(study=study)
        for user, symptom, level in ((s["ann1"], symptom_a, threat_a), (s["ann2"], symptom_b, threat_b)):
            AssignmentFactory(item=item, annotator=user)
            item_labels_save(
                item=item, annotator=user, values={"symptom": symptom, "component": ["layers"], "threat": level}
            )
    out = io.StringIO()
    call_command(
        "agreement", study.slug, "--format", "json", "--dimension", "symptom", "--dimension", "threat", stdout=out
    )
    symptom, threat_json = json.loads(out.getvalue())["dimensions"]
    assert symptom["percent_agreement"] == pytest.approx(1 / 3)
    assert symptom["parent_level"]["percent_agreement"] == 1.0  # segfault is a crash
    assert symptom["parent_level"]["krippendorff_alpha"]["distance"].startswith("hierarchical")
    (pair,) = threat_json["cohen_kappa"]
    assert threat_json["level"] == "ordinal" and threat_json["krippendorff_alpha"]["distance"] == "ordinal"
    assert pair["linear_weighted"] is not None and pair["quadratic_weighted"] is not None
