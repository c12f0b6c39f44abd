"""A real framework reproduction on CPU: torch==2.13.0 (its CPU wheel is on this machine's disk).

The script is a fuzzer-style finding: an out-of-range index into ``torch.nn.Embedding``.
``manage.py reproduce`` runs it through the environment cache, the sandbox and the crash oracle;
then the same script, attached to the crash group that a fuzzer report of this trace created,
is confirmed by a real runner with the group's signature, and suggests the symptom Crash.
"""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from tests.celery_workers import start_worker, wait_for
from tests.factories import UserFactory
from triage.crashes.services import crashes_ingest
from triage.models import CrashGroup, Reproduction, ReproductionRun
from triage.reproduction import services

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("requires_bwrap")]

TORCH = "torch==2.13.0"
SCRIPT = """\
import torch
print("torch", torch.__version__, "device", __import__("os").environ["BUGSIFT_DEVICE"])
embedding = torch.nn.Embedding(10, 3)
print(embedding(torch.tensor([3, 10])))
"""


def test_torch_crash_reproduces_on_cpu_by_command_and_by_runner(tmp_path):
    script = tmp_path / "embedding_oob.py"
    script.write_text(SCRIPT)
    out = StringIO()
    call_command(
        "reproduce",
        "--script",
        str(script),
        "--requirements",
        TORCH,
        "--oracle",
        "crash",
        "--timeout",
        "300",
        "--json",
        stdout=out,
    )
    result = json.loads(out.getvalue())
    assert result["verdict"] == "reproduced", result
    assert result["exit_code"] == 1 and "IndexError" in result["stderr_tail"], result["stderr_tail"][-2000:]
    assert "torch 2.13.0" in result["stdout_tail"] and "device cpu" in result["stdout_tail"]
    assert result["environment"]["ok"] and result["peak_memory_kb"] > 50_000

    # A fuzzer reports the same crash; its group is a Report with a signature.
    ingest = crashes_ingest(
        reports=[
            {
                "client_id": "emb-1",
                "fuzzer": "fuzzer-x",
                "framework": "pytorch",
                "framework_version": "2.13.0",
                "api": "torch.nn.Embedding",
                "oracle": "crash",
                "device": "cpu",
                "message": result["stderr_tail"].strip().splitlines()[-1],
                "stack_trace": result["stderr_tail"],
                "reproducer": SCRIPT,
            }
        ],
        account=None,
    )
    assert not ingest.refused
    group = CrashGroup.objects.get()
    reproducer = services.reproducer_create(
        report=group.report,
        script=SCRIPT,
        requirements=TORCH,
        oracle="crash",
        timeout_seconds=300,
    )
    # A run of the same reproducer in a different sandbox scratch dir must sign the same.
    worker = start_worker(tmp_path, name="torch", queues="repro.cpu")
    try:
        reproduction = services.reproduction_start(reproducer=reproducer, repeat=2, requested_by=UserFactory())
        done = wait_for(
            lambda: Reproduction.objects.filter(pk=reproduction.pk, status="done").exists(),
            timeout=600,
            interval=1,
            workers=[worker],
        )
        assert done, worker.log()
    finally:
        worker.stop()
    reproduction.refresh_from_db()
    runs = list(ReproductionRun.objects.filter(reproduction=reproduction))
    assert reproduction.summary == "reproduced 2/2", [(r.verdict, r.verdict_detail) for r in runs]
    assert all(run.signature == group.signature for run in runs)
    assert all(run.environment and run.environment.last_build_ok for run in runs)
