"""In Chromium: a report imported from a JSONL file has its code blocks; attach one as a crash reproducer
(the expected failure is taken from the report's traceback and shown on the form), run it on a real runner
in the real sandbox, read the verdict; then a blind annotator's label page shows no suggestion, because a
blind study's reproduction suggestions are off unless its owner switches them on."""

import json

import pytest

from labelling.models import StudyItem
from labelling.services.assignments import assignments_make
from labelling.services.items import items_add
from labelling.services.screening import item_screen
from labelling.services.studies import membership_set, study_create, study_update
from tests.celery_workers import start_worker
from triage.models import CodeBlock, Report, Reproducer
from triage.reports.services import reports_import

pytestmark = [
    pytest.mark.browser,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("requires_bwrap"),
]

BODY = (
    "`math.sqrt` of a negative float raises instead of returning NaN:\n\n"
    "```python\nimport math\nprint(math.sqrt(-1.0))\n```\n\n"
    "<details><summary>Traceback</summary>\n\n"
    "```\nTraceback (most recent call last):\n"
    '  File "/home/me/bug.py", line 2, in <module>\n'
    "    print(math.sqrt(-1.0))\n"
    "ValueError: math domain error\n```\n</details>\n"
)


@pytest.fixture
def runner(tmp_path):
    worker = start_worker(tmp_path, name="verdicts", queues="repro.cpu")
    yield worker
    worker.stop()


def _imported_report(tmp_path) -> Report:
    record = {
        "source_id": "github:example/numlib#7",
        "kind": "issue",
        "framework": "pytorch",
        "title": "sqrt of a negative number raises",
        "body": BODY,
        "url": "https://github.com/example/numlib/issues/7",
        "state": "open",
        "created_at": "2024-01-02T03:04:05Z",
        "labels": ["bug"],
    }
    path = tmp_path / "reports.jsonl"
    path.write_text(json.dumps(record) + "\n")
    reports_import(source=path)
    return Report.objects.get(source_id=record["source_id"])


def test_attach_a_code_block_from_an_imported_report_run_it_and_no_suggestion_when_blind(
    login, live_server, small_study, runner, tmp_path
):
    report = _imported_report(tmp_path)
    block = CodeBlock.objects.get(report=report, is_python=True)  # extracted at import
    owner, annotator = small_study["owner"], small_study["ann1"]
    study = study_create(slug="blind-verdicts", name="Blind", owner=owner, template_slug="dl-framework-bugs")
    assert study.blind and not study.reproduction_suggestions
    membership_set(study=study, user=annotator, role="annotator")
    items_add(study=study, report_ids=[report.pk])
    item = StudyItem.objects.get(study=study)
    item_screen(item=item, decision="include", screened_by=owner)
    study_update(study=study, data={"overlap_k": 1})
    assignments_make(study=study)

    page = login(small_study["researcher"].username)
    page.goto(f"{live_server.url}/reports/{report.pk}/reproducers/new/?code_block={block.pk}")
    taken = page.locator(".expect-taken").inner_text()
    assert "report body" in taken and "ValueError: math domain error" in taken
    assert page.input_value("input[name=expect]") == "ValueError: math domain error"
    page.check(f"input[name=code_block][value='{block.pk}']")
    page.check("input[name=oracle][value=crash]")
    page.fill("input[name=title]", "the reporter's snippet")
    page.click("#reproducer-form button[type=submit]")

    reproducer = Reproducer.objects.get(report=report)
    assert reproducer.code_block_id == block.pk and reproducer.expectation["exception_type"] == "ValueError"
    card = page.locator(f"#reproducer-{reproducer.pk}")
    card.wait_for()
    card.locator(".run-form button[type=submit]").click()
    page.wait_for_url("**/reproductions/*/")
    page.get_by_text("reproduced 1/1").first.wait_for(timeout=90_000)  # htmx polls until the runner is done
    run = reproducer.runs.get()
    run.refresh_from_db()
    assert run.verdict == "reproduced" and run.expectation_matched, run.verdict_detail

    page.goto(f"{live_server.url}/reports/runs/{run.pk}/")
    text = page.locator("body").inner_text()
    assert "Reproduced" in text and "failed as expected" in text and "ValueError: math domain error" in text
    assert page.locator(".badge.matched").count() == 1

    # The blind annotator's page: a matched reproduced verdict exists, yet nothing is suggested.
    page.context.clear_cookies()
    page = login(annotator.username)
    label_url = f"{live_server.url}/studies/{study.slug}/label/{item.pk}/"
    page.goto(label_url)
    page.locator("#dim-symptom").wait_for()
    assert page.locator(".suggestion").count() == 0 and page.locator(".accept-suggestion").count() == 0
    assert "Reproduction suggests" not in page.locator("body").inner_text()

    # Only the study's switch kept it away: switched on, the same page offers the matched verdict's label.
    study_update(study=study, data={"reproduction_suggestions": True})
    page.goto(label_url)
    suggestion = page.locator("#dim-symptom .suggestion")
    suggestion.wait_for()
    assert "Crash" in suggestion.inner_text() and f"run {run.pk}" in suggestion.inner_text()
