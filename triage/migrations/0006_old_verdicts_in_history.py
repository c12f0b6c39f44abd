"""Runs judged before expectations existed keep their verdict, marked in their history as judged by
the old rule (any non-zero exit reproduced a crash or an assertion); they are not
``expectation_matched``, so they suggest no labels until they are judged again (``manage.py rejudge``)."""

from django.db import migrations

OLD_RULE = (
    "judged by the rules before expectations (rules 1): any non-zero exit reproduced a crash or an "
    "assertion run unless a crash group's signature differed; judge it again to compare an expectation"
)


def mark_old_verdicts(apps, schema_editor):
    Run = apps.get_model("triage", "ReproductionRun")
    batch = []
    for run in (
        Run.objects.exclude(verdict="")
        .filter(verdict_history=[])
        .only("pk", "verdict", "verdict_detail", "finished_at")
        .iterator(chunk_size=1000)
    ):
        run.verdict_history = [
            {
                "at": run.finished_at.isoformat() if run.finished_at else None,
                "verdict": run.verdict,
                "reason": "old_rules",
                "detail": run.verdict_detail,
                "expectation": {},
                "by": None,
                "rules": 1,
                "note": OLD_RULE,
            }
        ]
        run.verdict_reason = "old_rules"
        batch.append(run)
        if len(batch) >= 1000:
            Run.objects.bulk_update(batch, ["verdict_history", "verdict_reason"])
            batch = []
    if batch:
        Run.objects.bulk_update(batch, ["verdict_history", "verdict_reason"])


class Migration(migrations.Migration):
    dependencies = [("triage", "0005_verdicts_and_expectations")]

    operations = [migrations.RunPython(mark_old_verdicts, migrations.RunPython.noop)]
