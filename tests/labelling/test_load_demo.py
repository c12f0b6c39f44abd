from django.core.management import call_command

from labelling.models import Assignment, FinalLabel, Membership, Study, StudyItem
from labelling.selectors.labelling import disagreements_for


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
    assert Assignment.objects.filter(study=study, completed_at__isnull=False).count() == 8
    # Items 2 and 3 are unanimous on every dimension; items 1 and 4 disagree on the root cause.
    assert FinalLabel.objects.filter(item__study=study, dimension__code="symptom").count() == 4
    assert FinalLabel.objects.filter(item__study=study, dimension__code="root_cause").count() == 2
    assert len(list(disagreements_for(study=study))) == 2

    call_command("load_demo")
    assert Study.objects.filter(slug="dl-bugs-demo").count() == 1
    assert StudyItem.objects.filter(study=study).count() == 40
