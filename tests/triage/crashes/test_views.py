import pytest
from django.urls import reverse

from tests.factories import ReportFactory, UserFactory
from tests.fakes.crash_traces import crash_report
from triage.crashes.services import crashes_ingest
from triage.models import CrashGroup, FuzzerAccount, GroupDecision, Report


@pytest.fixture
def groups(small_study):
    account = FuzzerAccount.objects.create(user=UserFactory(username="bot"), name="deeprel")
    reports = [crash_report("tf_resize_check_failed", v) for v in range(3)]
    reports += [crash_report("tf_quantize_check_failed", 0, api="<script>alert(1)</script>")]
    reports += [crash_report("jax_conv_dimension", 0, fuzzer="docter")]
    crashes_ingest(reports=reports, account=account)
    resize, quantize, jax = (
        CrashGroup.objects.get(occurrences__client_id=f"{bug}-0")
        for bug in ("tf_resize_check_failed", "tf_quantize_check_failed", "jax_conv_dimension")
    )
    return {**small_study, "resize": resize, "quantize": quantize, "jax": jax}


@pytest.mark.parametrize("role", ["curator", "owner", "ann1", "viewer", "outsider"])
def test_any_signed_in_user_sees_the_list_and_a_group(client, groups, role):
    client.force_login(groups[role])
    page = client.get(reverse("triage:crash-list"))
    assert page.status_code == 200
    assert "CheckFailed in tensorflow::TensorShapeBase::dim_size" in page.text
    detail = client.get(reverse("triage:crash-detail", args=[groups["resize"].pk]))
    assert detail.status_code == 200
    assert ("merge-form" in detail.text) == (role == "curator")


def test_anonymous_is_sent_to_log_in(client, groups):
    assert client.get(reverse("triage:crash-list")).status_code == 302
    assert client.get(reverse("triage:crash-detail", args=[groups["resize"].pk])).status_code == 302


def test_list_filters_and_sorts(client, groups):
    client.force_login(groups["viewer"])
    url = reverse("triage:crash-list")
    by_count = client.get(url, {"sort": "count"}).text
    assert by_count.index(f"#{groups['resize'].pk}<") < by_count.index(f"#{groups['jax'].pk}<")
    jax_only = client.get(url, {"framework": "jax"}).text
    assert f"#{groups['jax'].pk}<" in jax_only and f"#{groups['resize'].pk}<" not in jax_only
    docter = client.get(url, {"fuzzer": "docter"}).text
    assert f"#{groups['jax'].pk}<" in docter and f"#{groups['resize'].pk}<" not in docter
    assert f"#{groups['resize'].pk}<" in client.get(url, {"version": "2.12.1", "oracle": "crash"}).text
    assert "No crash group matches" in client.get(url, {"oracle": "nan_inf"}).text


def test_empty_list_says_how_to_start(client, small_study):
    client.force_login(small_study["viewer"])
    assert "create_fuzzer_account" in client.get(reverse("triage:crash-list")).text


def test_group_page_shows_raw_and_normalised_traces_with_reasons_escaped(client, groups):
    client.force_login(groups["viewer"])
    page = client.get(reverse("triage:crash-detail", args=[groups["quantize"].pk])).text
    assert "*** Begin stack trace ***" in page  # raw
    assert "c:tensorflow::QuantizeAndDequantizeV3Op::Compute" in page  # normalised, kept
    assert "eager C API execute" in page  # a dropped frame's reason
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "x = 1" in client.get(reverse("triage:crash-detail", args=[groups["resize"].pk])).text  # reproducer


def test_owner_merges_and_splits(client, groups):
    client.force_login(groups["curator"])
    resize, quantize = groups["resize"], groups["quantize"]
    response = client.post(
        reverse("triage:crash-merge", args=[resize.pk]), {"others": str(quantize.pk), "reason": "dup"}
    )
    assert response.status_code == 302
    quantize.refresh_from_db()
    assert quantize.merged_into_id == resize.pk
    page = client.get(reverse("triage:crash-detail", args=[resize.pk])).text
    assert "dup" in page and quantize.signature in page
    response = client.post(reverse("triage:crash-split", args=[resize.pk]), {"signatures": [quantize.signature]})
    assert response.status_code == 302 and response.url == reverse("triage:crash-detail", args=[quantize.pk])
    quantize.refresh_from_db()
    assert quantize.merged_into_id is None and quantize.occurrence_count == 1
    assert list(GroupDecision.objects.values_list("kind", flat=True).order_by("id")) == ["merge", "split"]


def test_bad_merge_shows_the_message(client, groups):
    client.force_login(groups["curator"])
    response = client.post(reverse("triage:crash-merge", args=[groups["resize"].pk]), {"others": "999999"}, follow=True)
    assert "No crash group 999999" in response.text
    response = client.post(reverse("triage:crash-split", args=[groups["resize"].pk]), {}, follow=True)
    assert "Choose the signatures" in response.text


@pytest.mark.parametrize("role", ["ann1", "viewer", "outsider"])
def test_only_owners_may_merge_split_or_link(client, groups, role):
    client.force_login(groups[role])
    pk = groups["resize"].pk
    assert client.post(reverse("triage:crash-merge", args=[pk]), {"others": str(groups["jax"].pk)}).status_code == 403
    assert client.post(reverse("triage:crash-split", args=[pk]), {"signatures": ["x"]}).status_code == 403
    assert client.post(reverse("triage:crash-link-known", args=[pk])).status_code == 403
    groups["jax"].refresh_from_db()
    assert groups["jax"].merged_into_id is None


def test_owner_links_known_issues(client, groups):
    trace = crash_report("tf_resize_check_failed", 5)["stack_trace"]
    issue = ReportFactory(kind=Report.Kind.ISSUE, framework="tensorflow", body=f"```\n{trace}\n```")
    client.force_login(groups["curator"])
    response = client.post(reverse("triage:crash-link-known", args=[groups["resize"].pk]), follow=True)
    assert "1 GitHub issue carries a trace" in response.text
    assert issue.source_id in response.text


def test_crash_report_page_links_to_its_group(client, groups):
    client.force_login(groups["viewer"])
    page = client.get(reverse("triage:report-detail", args=[groups["jax"].report_id])).text
    assert reverse("triage:crash-detail", args=[groups["jax"].pk]) in page
