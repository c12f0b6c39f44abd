"""In Chromium: attach a report's code block as a reproducer, run it twice, and watch a real runner
(`celery -A config worker -Q repro.cpu`, the real sandbox) confirm it on the live progress page."""

import pytest

from tests.celery_workers import start_worker
from tests.factories import ReportFactory
from triage.models import CodeBlock, Reproducer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("requires_bwrap"),
]

SCRIPT = "import sys\nprint('checking the fix')\nsys.exit(1)  # the bug is present\n"


@pytest.fixture
def runner(tmp_path):
    worker = start_worker(tmp_path, name="browser", queues="repro.cpu")
    yield worker
    worker.stop()


def test_attach_a_code_block_and_confirm_it_on_a_runner(login, live_server, small_study, runner):
    report = ReportFactory(title="Division gives the wrong result")
    block = CodeBlock.objects.create(report=report, code=SCRIPT, language="python", is_python=True)
    page = login(small_study["researcher"].username)

    page.goto(f"{live_server.url}/reports/{report.pk}/")
    section = page.locator("#reproduction")
    section.locator("#reproduction-empty").wait_for()  # loaded by htmx; offers the Python code block
    assert "print('checking the fix')" in section.inner_text()
    section.locator("#attach-reproducer").click()

    page.check(f"input[name=code_block][value='{block.pk}']")
    page.check("input[name=oracle][value=assertion]")
    page.fill("input[name=expect]", "exit 1")  # the check's declared exit code
    page.fill("input[name=title]", "exit status of the check")
    page.click("#reproducer-form button[type=submit]")

    reproducer = Reproducer.objects.get(report=report)
    assert reproducer.script == SCRIPT and reproducer.oracle == "assertion"
    assert reproducer.expectation == {"exit_code": 1, "source": "given"}
    card = page.locator(f"#reproducer-{reproducer.pk}")
    card.wait_for()
    card.locator("input[name=repeat]").fill("2")
    card.locator(".run-form button[type=submit]").click()

    page.wait_for_url("**/reproductions/*/")
    page.get_by_text("reproduced 2/2").first.wait_for(timeout=90_000)  # htmx polls until the runner is done
    text = page.locator("body").inner_text()
    assert "checking the fix" in text and "Reproduced" in text, text[-2000:]
