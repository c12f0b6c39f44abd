from django.core.management import call_command

from labelling.agreement.selectors import study_agreement
from labelling.models import Assignment, CalibrationRound, FinalLabel, Membership, Study, StudyItem
from labelling.selectors.labelling import disagreements_for
from triage.models import CodeBlock, CrashGroup, CrashOccurrence, Report


def test_load_demo_builds_a_study_ready_to_label_and_is_idempotent(db, capsys):
    call_command("load_demo", url="http://127.0.0.1:8000/")
    out = capsys.readouterr().out
    assert "http://127.0.0.1:8000/" in out and "alice / bugsift-demo" in out and "vera / bugsift-demo" in out

    study = Study.objects.get(slug="dl-bugs-demo")
    assert study.codebook.dimensions.count() == 4
    roles = dict(Membership.objects.filter(study=study).values_list("user__username", "role"))
    assert roles == {"owner": "owner", "alice": "annotator", "bob": "annotator", "vera": "viewer"}
    assert StudyItem.objects.filter(study=study).count() == 40
    assert StudyItem.objects.filter(study=study, screening="pending").count() == 6
    # k=2 with two annotators: both annotate every included item.
    assert Assignment.objects.filter(study=study).count() == 34 * 2
    assert Assignment.objects.filter(study=study, completed_at__isnull=False).count() == 24
    # 12 items labelled by both: 5 unanimous on every dimension (items 2, 3, 5, 8, 10); items 1, 4, 6
    # and 9 disagree on the root cause (9 on the symptom too), 7 and 11 on the component, 12 on the stage.
    assert FinalLabel.objects.filter(item__study=study, dimension__code="symptom").count() == 11
    assert FinalLabel.objects.filter(item__study=study, dimension__code="root_cause").count() == 8
    assert len(list(disagreements_for(study=study))) == 7
    # A closed pilot round over the 12 labelled items, and an open seeded second round of 10.
    pilot, second = CalibrationRound.objects.filter(study=study).order_by("id")
    assert (pilot.name, pilot.status, pilot.round_items.count()) == ("Pilot", "closed", 12)
    assert (second.status, second.round_items.count(), second.source_params["seed"]) == ("open", 10, 2026)
    figures = study_agreement(study=study, round=pilot, dimension_codes=["root_cause"], resamples=0)
    assert figures["dimensions"][0]["items"] == 12

    # Real crash groups, made by the crash intake from fuzzer-shaped reports: the Crashes page has them.
    groups = CrashGroup.objects.select_related("report")
    assert groups.count() == 4 and CrashOccurrence.objects.count() == 12
    assert {g.report.kind for g in groups} == {"crash"} and all(g.occurrence_count == 3 for g in groups)
    assert all(g.smallest_reproducer for g in groups)
    assert not Report.objects.filter(kind="crash", crash_group__isnull=True).exists()
    assert StudyItem.objects.filter(study=study, report__kind="crash").count() == 4
    # Every demo issue whose body shows a code block has it extracted (the GitHub sync's extractor).
    fenced = Report.objects.filter(kind="issue", body__contains="```")
    assert fenced.count() > 20
    assert not fenced.filter(code_blocks__isnull=True).exists()
    assert CodeBlock.objects.filter(report__in=fenced, is_python=True).exists()
    assert not study.reproduction_suggestions  # a blind study: suggestions off by default

    # The demo survey: generated from the symptom categories, open, 5 of 8 invitations answered.
    from surveys.models import Response, Survey

    survey = Survey.objects.get(slug="dl-bugs-demo-symptoms")
    assert survey.status == "open" and survey.invitations.count() == 8
    assert Response.objects.filter(survey=survey, status="submitted").count() == 5
    assert (
        len(survey.current_version.definition["sections"])
        == study.codebook.dimensions.get(code="symptom").categories.count()
    )
    assert "answer it yourself (an unused link): http://127.0.0.1:8000/s/" in out
    # A dataset release of the study, with its files' checksums; loading the demo again keeps it.
    release = study.releases.get()
    assert release.version == "1.0.0" and release.files.filter(path="datapackage.json").exists()
    assert "dataset release 1.0.0: http://127.0.0.1:8000/studies/dl-bugs-demo/releases/" in out

    blocks = CodeBlock.objects.count()
    call_command("load_demo")
    assert study.releases.count() == 1
    assert Survey.objects.count() == 1 and Response.objects.count() == 5
    assert Study.objects.filter(slug="dl-bugs-demo").count() == 1
    assert StudyItem.objects.filter(study=study).count() == 40
    assert CrashGroup.objects.count() == 4 and CodeBlock.objects.count() == blocks


def test_load_demo_builds_a_two_screener_study_with_a_conflict_and_a_majority_dimension(db, capsys):
    call_command("load_demo")
    assert "two blind screeners per item" in capsys.readouterr().out
    study = Study.objects.get(slug="dl-bugs-two-screeners-demo")
    assert study.screening_overlap == 2
    states = list(
        StudyItem.objects.filter(study=study)
        .order_by("id")
        .values_list("screening", "screening_method", "screening_conflict")[:5]
    )
    assert states == [
        ("included", "unanimous", False),
        ("included", "unanimous", False),
        ("excluded", "unanimous", False),
        ("pending", "", True),
        ("pending", "", False),
    ]
    assert study.codebook.dimensions.get(code="symptom").decision_rule == "majority"
    call_command("load_demo")
    assert Study.objects.filter(slug="dl-bugs-two-screeners-demo").count() == 1
