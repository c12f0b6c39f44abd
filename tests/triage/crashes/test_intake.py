import pytest
from django.core.management import call_command

from config.errors import ApplicationError
from labelling.services.items import items_add
from tests.factories import ReportFactory, UserFactory
from tests.fakes.crash_traces import crash_report
from triage.crashes.intake import crash_parse
from triage.crashes.services import (
    crash_group_link_known_issues,
    crash_group_split,
    crash_groups_link_reports,
    crash_groups_merge,
    crashes_ingest,
)
from triage.models import Comment, CrashGroup, CrashOccurrence, FuzzerAccount, GroupDecision, Report


@pytest.fixture
def account(db):
    return FuzzerAccount.objects.create(user=UserFactory(username="freefuzz-bot"), name="freefuzz")


def test_parse_lists_every_field_problem():
    item, problems = crash_parse(
        {"client_id": 3, "framework": "", "oracle": "boom", "created_at": "yesterday", "extra": [], "colour": "red"}
    )
    assert item is None
    fields = {p["field"] for p in problems}
    assert fields == {"client_id", "fuzzer", "framework", "oracle", "created_at", "extra", "colour"}
    assert all(p["message"] for p in problems)


def test_parse_normalises():
    item, problems = crash_parse(crash_report("torch_conv2d_weight", 0, framework="PyTorch", message="a\x00b"))
    assert problems == []
    assert item.framework == "pytorch" and item.message == "a\ufffdb"
    assert item.created_at.tzinfo is not None


def test_variants_group_together_and_bugs_apart(account):
    reports = [crash_report(bug, v) for bug in ("torch_conv2d_weight", "torch_conv2d_groups") for v in range(5)]
    result = crashes_ingest(reports=reports, account=account)
    assert result.created == 10 and result.groups_created == 2
    assert [g.occurrence_count for g in CrashGroup.objects.all()] == [5, 5]
    group = CrashGroup.objects.get(occurrences__client_id="torch_conv2d_weight-0")
    assert group.versions_seen == ["1.13.1", "2.0.1", "2.1.0"]
    assert group.devices_seen == ["cpu", "cuda"]
    assert group.fuzzers_seen == ["freefuzz"]
    assert group.smallest_reproducer == min((r["reproducer"] for r in reports[:5]), key=len)
    assert group.first_seen.day == 1 and group.last_seen.day == 5
    report = group.report
    assert report.kind == Report.Kind.CRASH and report.framework == "pytorch"
    assert report.source_id == f"crash:{group.signature[:16]}"
    assert report.title == "RuntimeError in at::native::check_shape_forward (torch.nn.functional.conv2d)"
    assert group.signature_text in report.body and "Expected" in report.body
    assert CrashOccurrence.objects.filter(account=account).count() == 10


def test_resending_changes_nothing(account):
    reports = [crash_report("jax_conv_dimension", v) for v in range(3)]
    crashes_ingest(reports=reports, account=account)
    group = CrashGroup.objects.get()
    before = (group.occurrence_count, group.last_seen, group.versions_seen)
    again = crashes_ingest(reports=reports + [reports[0]], account=account)
    assert again.created == 0 and again.duplicates == 4
    assert {r["status"] for r in again.stored} == {"duplicate"}
    group.refresh_from_db()
    assert (group.occurrence_count, group.last_seen, group.versions_seen) == before
    assert CrashOccurrence.objects.count() == 3


def test_batch_is_all_or_nothing(account):
    reports = [crash_report("mxnet_convolution_shape", v) for v in range(3)]
    reports[1] = {**reports[1], "oracle": "explosion"}
    del reports[2]["fuzzer"]
    with pytest.raises(ApplicationError) as error:
        crashes_ingest(reports=reports, account=account)
    assert {(d["index"], d["field"]) for d in error.value.details} == {(1, "oracle"), (2, "fuzzer")}
    assert "nothing was stored" in error.value.message
    assert not CrashOccurrence.objects.exists() and not Report.objects.exists()


def test_partial_stores_the_valid_ones(account):
    reports = [crash_report("mxnet_convolution_shape", v) for v in range(3)]
    reports[1]["oracle"] = "explosion"
    result = crashes_ingest(reports=reports, account=account, partial=True)
    assert [r["index"] for r in result.stored] == [0, 2]
    assert result.refused == [
        {"index": 1, "problems": [{"field": "oracle", "message": result.refused[0]["problems"][0]["message"]}]}
    ]
    assert CrashOccurrence.objects.count() == 2


def test_merge_sends_later_occurrences_to_the_target_and_split_undoes_it(account):
    user = UserFactory()
    crashes_ingest(reports=[crash_report("tf_resize_check_failed", 0)], account=account)
    crashes_ingest(reports=[crash_report("tf_quantize_check_failed", 0)], account=account)
    resize, quantize = CrashGroup.objects.order_by("id")
    crash_groups_merge(target=resize, others=[quantize], decided_by=user, reason="same dim_size bug")
    quantize.refresh_from_db()
    resize.refresh_from_db()
    assert quantize.merged_into == resize and quantize.occurrence_count == 0
    assert resize.occurrence_count == 2 and quantize.report.state == "merged"
    assert GroupDecision.objects.get().kind == "merge"

    result = crashes_ingest(reports=[crash_report("tf_quantize_check_failed", 1)], account=account)
    assert result.stored[0]["group"] == resize.id and result.groups_created == 0
    resize.refresh_from_db()
    assert resize.occurrence_count == 3
    occurrence = CrashOccurrence.objects.get(client_id="tf_quantize_check_failed-1")
    assert occurrence.group == resize and occurrence.signature == quantize.signature

    with pytest.raises(ApplicationError):
        crash_groups_merge(target=quantize, others=[resize], decided_by=user)
    with pytest.raises(ApplicationError):
        crash_group_split(group=resize, signatures=[resize.signature], decided_by=user)

    new = crash_group_split(group=resize, signatures=[quantize.signature], decided_by=user, reason="different op")
    assert new.id == quantize.id
    resize.refresh_from_db()
    new.refresh_from_db()
    assert (resize.occurrence_count, new.occurrence_count) == (1, 2)
    assert new.merged_into is None and new.report.state == "open"
    decision = GroupDecision.objects.get(kind="split")
    assert decision.signatures == [quantize.signature] and decision.decided_by == user
    crashes_ingest(reports=[crash_report("tf_quantize_check_failed", 2)], account=account)
    new.refresh_from_db()
    assert new.occurrence_count == 3


def test_link_to_github_issue_with_the_same_traceback(account):
    crashes_ingest(reports=[crash_report("torch_conv2d_weight", 0)], account=account)
    group = CrashGroup.objects.get()
    trace = crash_report("torch_conv2d_weight", 4)["stack_trace"]
    known = ReportFactory(kind=Report.Kind.ISSUE, framework="pytorch", body=f"conv2d fails:\n\n```\n{trace}\n```\n")
    other_trace = crash_report("torch_conv2d_groups", 4)["stack_trace"]
    ReportFactory(kind=Report.Kind.ISSUE, framework="pytorch", body=f"```\n{other_trace}\n```")
    in_comment = ReportFactory(kind=Report.Kind.ISSUE, framework="pytorch", body="See the comment.")
    Comment.objects.create(report=in_comment, github_id=1, body=f"Same here\n```\n{trace}\n```")
    assert crash_group_link_known_issues(group=group) == 2
    assert set(group.possibly_known.all()) == {known, in_comment}


def test_crash_group_report_can_be_added_to_a_study_and_exported(account, small_study, tmp_path):
    crashes_ingest(reports=[crash_report("asan_gather_overflow", 0)], account=account)
    report = CrashGroup.objects.get().report
    assert items_add(study=small_study["study"], report_ids=[report.id]) == 1
    out = tmp_path / "export.jsonl"
    call_command("export_study", "small", "--format", "jsonl", "--output", str(out))
    text = out.read_text()
    assert report.source_id in text and "AddressSanitizer" in text


def test_new_groups_link_to_issues_already_stored_and_new_issues_link_to_groups(account):
    trace = crash_report("mxnet_convolution_shape", 3)["stack_trace"]
    before = ReportFactory(kind=Report.Kind.ISSUE, framework="mxnet", body=f"Crash:\n```\n{trace}\n```")
    ReportFactory(kind=Report.Kind.ISSUE, framework="mxnet", body="ConvolutionShape is slow, no trace here")
    crashes_ingest(reports=[crash_report("mxnet_convolution_shape", 0)], account=account)
    group = CrashGroup.objects.get()
    assert list(group.possibly_known.all()) == [before]

    after = ReportFactory(kind=Report.Kind.ISSUE, framework="mxnet", body=f"```\n{trace}\n```")
    unrelated = ReportFactory(kind=Report.Kind.ISSUE, framework="mxnet", body="Just prose.")
    assert crash_groups_link_reports(report_ids=[after.id, unrelated.id]) == 1
    assert set(group.possibly_known.all()) == {before, after}


@pytest.mark.parametrize(
    ("value", "kind"), [(7, "a number"), (["a"], "a list"), ({"a": 1}, "an object"), (True, "true/false")]
)
def test_crash_fields_of_the_wrong_kind_are_said_without_python_type_names(value, kind):
    from triage.crashes.intake import crash_parse

    _, problems = crash_parse(
        {"client_id": "c1", "fuzzer": value, "framework": "pytorch", "oracle": "crash", "message": value}
    )
    messages = {p["field"]: p["message"] for p in problems}
    for field in ("fuzzer", "message"):
        assert messages[field].endswith(f"not {kind}."), messages
        for python in ("int", "list", "dict", "bool", "str"):
            assert f"not {python}" not in messages[field]
