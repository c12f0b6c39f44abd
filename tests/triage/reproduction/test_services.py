"""The reproduction service layer: reproducers, starting runs, executing them exactly once, pairs,
bisection and the sweep. No sandbox here: ``execute_side`` is replaced by a fake that returns
hand-built outcomes, and the Celery task's ``apply_async`` records what would have been queued.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from django.utils import timezone

from config.errors import ApplicationError
from tests.factories import ReportFactory
from triage.models import CodeBlock, Environment, Reproducer, Reproduction, ReproductionRun, Runner
from triage.reproduction import services
from triage.reproduction.environments import BuildResult
from triage.reproduction.execute import SideOutcome
from triage.reproduction.oracles import Judgement, unpack_captures
from triage.reproduction.sandbox import SandboxResult

pytestmark = pytest.mark.django_db

RUNNER = "celery@runner-a"
Verdict = ReproductionRun.Verdict
Status = ReproductionRun.Status


# --------------------------------------------------------------------------- helpers


def sandbox_result(exit_code: int | None = 0, **fields) -> SandboxResult:
    values = dict(
        exit_code=exit_code,
        signal=None,
        duration_s=0.25,
        peak_memory_kb=2048,
        stdout_tail="out\n",
        stderr_tail="",
        stdout_bytes=4,
        stderr_bytes=0,
    )
    values.update(fields)
    return SandboxResult(**values)


def build_result(ok: bool = True, key: str = "k" * 64, log: str = "built", cached: bool = False) -> BuildResult:
    return BuildResult(
        ok=ok,
        key=key,
        env_dir=Path("/nonexistent/env"),
        python=Path(sys.executable),
        log=log,
        seconds=1.5,
        cached=cached,
    )


def outcome(verdict: str | None = Verdict.REPRODUCED, *, arrays=None, key: str = "k" * 64, **result) -> SideOutcome:
    judgement = Judgement(verdict, f"fake judgement: {verdict}") if verdict else None
    return SideOutcome(
        build=build_result(key=key), result=sandbox_result(**result), arrays=arrays or {}, judgement=judgement
    )


def build_failed(key: str = "f" * 64) -> SideOutcome:
    return SideOutcome(
        build=build_result(ok=False, key=key, log="ERROR: No matching distribution found for tinypkg==9"),
        result=None,
        judgement=Judgement(Verdict.BUILD_FAILED, "The environment could not be built: no matching distribution"),
    )


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    return done.pid


@pytest.fixture
def report():
    return ReportFactory()


@pytest.fixture
def sent(queued_runs):
    """(run_id, queue) of every apply_async of the run task."""
    return queued_runs


class FakeExecute:
    """Stands in for execute_side: records its calls and answers with ``answer(side)``."""

    def __init__(self, answer=None):
        self.calls: list[dict] = []
        self.answer = answer or (lambda side: outcome())
        self.during = None  # called with the run's side while "running" (to simulate a takeover)

    def __call__(self, **kwargs):
        self.calls.append(kwargs)
        if self.during:
            self.during(kwargs)
        if kwargs.get("after_sandbox"):  # as execute_side: once the sandbox has exited, before judging
            kwargs["after_sandbox"]()
        return self.answer(kwargs["side"])


@pytest.fixture
def fake(monkeypatch):
    fake = FakeExecute()
    monkeypatch.setattr(services, "execute_side", fake)
    return fake


def make(report, **fields) -> Reproducer:
    fields.setdefault("script", "import sys\nsys.exit(1)\n")
    fields.setdefault("expect", "exit 1")  # the script's failure (differential and hang reproducers ignore it)
    return services.reproducer_create(report=report, **fields)


def start(reproducer, repeat=1, capture=None) -> Reproduction:
    return services.reproduction_start(reproducer=reproducer, repeat=repeat)


def execute(run_id: int, runner: str = RUNNER, pid: int | None = None):
    return services.run_execute(run_id=run_id, runner_name=runner, pid=pid or os.getpid())


def errors_of(excinfo) -> dict:
    return excinfo.value.details


# --------------------------------------------------------------------------- reproducer_create


class TestReproducerCreate:
    def test_saves_normalised_requirements(self, report):
        reproducer = make(report, requirements="numpy<2  Torch==2.13.0\n# a comment\n", oracle="assertion")
        assert reproducer.requirements.splitlines() == ["numpy<2", "torch==2.13.0"]
        assert reproducer.oracle == "assertion" and reproducer.report == report

    def test_empty_script_is_named(self, report):
        with pytest.raises(ApplicationError) as excinfo:
            make(report, script="   \n")
        assert "empty" in errors_of(excinfo)["script"]

    def test_nul_byte_in_script_is_refused(self, report):
        with pytest.raises(ApplicationError) as excinfo:
            make(report, script="print(1)\x00")
        assert "NUL" in errors_of(excinfo)["script"]

    def test_too_large_script_is_refused(self, report):
        with pytest.raises(ApplicationError) as excinfo:
            make(report, script="#" * (services.MAX_SCRIPT_BYTES + 1))
        assert "larger than" in errors_of(excinfo)["script"]

    def test_code_block_is_used_when_script_is_empty(self, report):
        block = CodeBlock.objects.create(report=report, code="import torch\nraise SystemExit(3)\n", is_python=True)
        reproducer = make(report, script="", code_block=block)
        assert reproducer.script == block.code and reproducer.code_block == block

    def test_code_block_of_another_report_is_refused(self, report):
        other = CodeBlock.objects.create(report=ReportFactory(), code="print(1)", is_python=True)
        with pytest.raises(ApplicationError) as excinfo:
            make(report, script="", code_block=other)
        assert "another report" in errors_of(excinfo)["code_block"]
        assert not Reproducer.objects.exists()

    def test_bad_requirements_are_named(self, report):
        with pytest.raises(ApplicationError) as excinfo:
            make(report, requirements="numpy 1.0")
        assert "numpy==1.0" in errors_of(excinfo)["requirements"]

    def test_url_requirement_is_refused(self, report):
        with pytest.raises(ApplicationError) as excinfo:
            make(report, requirements="https://example.org/evil.whl")
        assert "URL" in errors_of(excinfo)["requirements"]

    def test_differential_needs_a_different_side_b(self, report):
        with pytest.raises(ApplicationError) as excinfo:
            make(report, oracle="differential", requirements="numpy<2")
        assert "side B" in errors_of(excinfo)["compare_device"]
        with pytest.raises(ApplicationError):
            make(
                report,
                oracle="differential",
                device="cpu",
                compare_device="cpu",
                compare_requirements="numpy<2",
                requirements="numpy<2",
            )

    def test_differential_with_another_device_or_versions(self, report):
        by_device = make(report, oracle="differential", device="cpu", compare_device="gpu")
        assert by_device.compare_device == "gpu"
        by_version = make(
            report, oracle="differential", requirements="tinypkg==1.0", compare_requirements="tinypkg==2.0"
        )
        assert by_version.compare_requirements == "tinypkg==2.0"

    @pytest.mark.parametrize(
        "fields, field",
        [
            ({"compare_device": "gpu"}, "compare_device"),
            ({"compare_requirements": "numpy<2"}, "compare_requirements"),
        ],
    )
    def test_compare_fields_on_a_single_run_oracle_are_refused(self, report, fields, field):
        with pytest.raises(ApplicationError) as excinfo:
            make(report, oracle="crash", **fields)
        assert "only used by the differential oracle" in errors_of(excinfo)[field]

    @pytest.mark.parametrize(
        "fields, field",
        [
            ({"timeout_seconds": 0}, "timeout_seconds"),
            ({"timeout_seconds": 86_401}, "timeout_seconds"),
            ({"timeout_seconds": "soon"}, "timeout_seconds"),
            ({"timeout_seconds": 2.5}, "timeout_seconds"),
            ({"memory_mb": 63}, "memory_mb"),
            ({"memory_mb": None}, "memory_mb"),
            ({"rtol": -1.0}, "rtol"),
            ({"atol": float("nan")}, "atol"),
            ({"atol": "x"}, "atol"),
            ({"oracle": "vibes"}, "oracle"),
            ({"device": "tpu"}, "device"),
        ],
    )
    def test_out_of_range_fields_are_named(self, report, fields, field):
        with pytest.raises(ApplicationError) as excinfo:
            make(report, **fields)
        assert set(errors_of(excinfo)) == {field}
        assert errors_of(excinfo)[field] in excinfo.value.message

    def test_every_error_is_reported_at_once(self, report):
        with pytest.raises(ApplicationError) as excinfo:
            make(report, script="", requirements="-e .", timeout_seconds=0, rtol=-1, atol=-1)
        assert set(errors_of(excinfo)) == {"script", "requirements", "timeout_seconds", "rtol", "atol"}

    def test_form_strings_for_numbers_are_accepted(self, report):
        reproducer = make(report, timeout_seconds="60", memory_mb="512", rtol="1e-3", atol="0")
        saved = (reproducer.timeout_seconds, reproducer.memory_mb, reproducer.rtol, reproducer.atol)
        assert saved == (60, 512, 1e-3, 0)


# --------------------------------------------------------------------------- reproduction_start


class TestReproductionStart:
    def test_queues_n_runs_on_commit(self, report, sent, django_capture_on_commit_callbacks):
        reproducer = make(report)
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            reproduction = start(reproducer, repeat=3)
            assert sent == []  # nothing is sent before the transaction commits
        runs = list(reproduction.runs.all())
        assert [(r.index, r.side, r.device, r.queue, r.status) for r in runs] == [
            (i, "", "cpu", "repro.cpu", "queued") for i in range(3)
        ]
        assert len(callbacks) == 1
        callbacks[0]()
        assert sent == [(r.pk, "repro.cpu") for r in runs]
        assert reproduction.summary == "0 of 3 runs done"

    def test_not_queued_when_the_transaction_rolls_back(self, report, sent, django_capture_on_commit_callbacks):
        reproducer = make(report)
        with django_capture_on_commit_callbacks(execute=True):
            try:
                from django.db import transaction

                with transaction.atomic():
                    start(reproducer, repeat=2)
                    raise RuntimeError("rolled back")
            except RuntimeError:
                pass
        assert sent == [] and not Reproduction.objects.exists()

    def test_differential_runs_two_sides_on_their_queues(self, report, sent, django_capture_on_commit_callbacks):
        reproducer = make(report, oracle="differential", device="cpu", compare_device="gpu")
        with django_capture_on_commit_callbacks(execute=True):
            reproduction = start(reproducer, repeat=2)
        runs = list(reproduction.runs.order_by("index", "side"))
        assert [(r.index, r.side, r.device, r.queue) for r in runs] == [
            (0, "a", "cpu", "repro.cpu"),
            (0, "b", "gpu", "repro.gpu"),
            (1, "a", "cpu", "repro.cpu"),
            (1, "b", "gpu", "repro.gpu"),
        ]
        assert sorted(sent) == sorted((r.pk, r.queue) for r in runs)

    def test_version_differential_pins_side_b(self, report):
        reproducer = make(
            report, oracle="differential", requirements="tinypkg==1.0 numpy", compare_requirements="tinypkg==2.0"
        )
        reproduction = start(reproducer)
        a, b = reproduction.runs.order_by("side")
        assert a.requirements.splitlines() == ["numpy", "tinypkg==1.0"]
        assert b.requirements.splitlines() == ["tinypkg==2.0"]

    @pytest.mark.parametrize("repeat", [0, -1, 101, "x", 2.5, None])
    def test_repeat_out_of_range(self, report, repeat):
        reproducer = make(report)
        with pytest.raises(ApplicationError) as excinfo:
            start(reproducer, repeat=repeat)
        assert "from 1 to 100" in excinfo.value.message and "repeat" in excinfo.value.details
        assert not Reproduction.objects.exists()

    def test_repeat_from_a_form_string(self, report):
        assert start(make(report), repeat="4").runs.count() == 4


# --------------------------------------------------------------------------- run_execute


class TestRunExecute:
    def test_claim_and_finish_store_the_result(self, report, fake):
        reproducer = make(report, oracle="assertion", requirements="numpy<2", timeout_seconds=30, memory_mb=256)
        run = start(reproducer).runs.get()
        fake.answer = lambda side: outcome(Verdict.REPRODUCED, exit_code=1, stderr_tail="AssertionError\x00!\n")

        done = execute(run.pk)

        assert len(fake.calls) == 1
        call = fake.calls[0]
        assert call["side"].requirements == ("numpy<2",) and call["side"].device == "cpu"
        assert call["oracle"] == "assertion" and call["limits"].wall_seconds == 30 and call["limits"].memory_mb == 256
        assert done.status == Status.DONE and done.verdict == Verdict.REPRODUCED and done.attempt == 1
        assert done.exit_code == 1 and done.duration_ms == 250 and done.peak_memory_kb == 2048
        assert done.stderr_tail == "AssertionError\ufffd!\n"  # NUL made storable
        assert done.runner.name == RUNNER and done.worker_pid == os.getpid()
        reproduction = done.reproduction
        assert reproduction.status == Reproduction.Status.DONE and reproduction.summary == "reproduced 1/1"

    def test_environment_row_records_the_build(self, report, fake):
        run = start(make(report)).runs.get()
        fake.answer = lambda side: outcome(key="e" * 64)
        done = execute(run.pk)
        env = Environment.objects.get(key="e" * 64)
        assert done.environment == env
        assert env.last_build_ok is True and env.last_build_seconds == 1.5 and env.last_build_log == "built"
        assert env.python == "{}.{}".format(*sys.version_info[:2])

    def test_second_delivery_of_a_done_run_is_a_no_op(self, report, fake):
        run = start(make(report)).runs.get()
        first = execute(run.pk)
        again = execute(run.pk, runner="celery@runner-b")
        assert len(fake.calls) == 1
        assert again.attempt == first.attempt == 1 and again.finished_at == first.finished_at
        assert again.runner.name == RUNNER

    def test_duplicate_delivery_while_another_alive_runner_holds_it_is_skipped(self, report, fake):
        run = start(make(report)).runs.get()
        other = Runner.objects.create(name="celery@runner-b", last_heartbeat=timezone.now())
        ReproductionRun.objects.filter(pk=run.pk).update(
            status=Status.RUNNING, runner=other, worker_pid=os.getpid(), attempt=1
        )
        skipped = execute(run.pk, runner=RUNNER, pid=dead_pid())
        assert fake.calls == []
        assert skipped.status == Status.RUNNING and skipped.attempt == 1 and skipped.runner == other

    def test_redelivery_on_the_same_runner_after_its_worker_died_is_retried(self, report, fake):
        run = start(make(report)).runs.get()
        runner = Runner.objects.create(name=RUNNER, last_heartbeat=timezone.now())
        ReproductionRun.objects.filter(pk=run.pk).update(
            status=Status.RUNNING, runner=runner, worker_pid=dead_pid(), attempt=1
        )
        done = execute(run.pk)
        assert len(fake.calls) == 1
        assert done.status == Status.DONE and done.attempt == 2 and done.verdict == Verdict.REPRODUCED

    def test_same_runner_with_a_live_worker_process_is_skipped(self, report, fake):
        run = start(make(report)).runs.get()
        runner = Runner.objects.create(name=RUNNER, last_heartbeat=timezone.now())
        sibling = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        try:
            ReproductionRun.objects.filter(pk=run.pk).update(
                status=Status.RUNNING, runner=runner, worker_pid=sibling.pid, attempt=1
            )
            skipped = execute(run.pk, pid=os.getpid())
        finally:
            sibling.kill()
            sibling.wait()
        assert fake.calls == [] and skipped.status == Status.RUNNING

    def test_retry_in_the_same_process_takes_the_run_over(self, report, fake):
        """A task retried in the process that held the run (e.g. after a database error) must not skip it."""
        run = start(make(report)).runs.get()
        runner = Runner.objects.create(name=RUNNER, last_heartbeat=timezone.now())
        ReproductionRun.objects.filter(pk=run.pk).update(
            status=Status.RUNNING, runner=runner, worker_pid=os.getpid(), attempt=1
        )
        done = execute(run.pk, pid=os.getpid())
        assert len(fake.calls) == 1 and done.status == Status.DONE and done.attempt == 2

    def test_after_max_attempts_the_run_is_lost(self, report, fake, settings):
        settings.BUGSIFT_REPRO_MAX_ATTEMPTS = 2
        run = start(make(report)).runs.get()
        runner = Runner.objects.create(name=RUNNER, last_heartbeat=timezone.now())
        ReproductionRun.objects.filter(pk=run.pk).update(
            status=Status.RUNNING, runner=runner, worker_pid=dead_pid(), attempt=2
        )
        lost = execute(run.pk)
        assert fake.calls == []
        assert lost.status == Status.DONE and lost.verdict == Verdict.LOST
        assert "Started 2 times" in lost.verdict_detail and RUNNER in lost.verdict_detail
        assert lost.reproduction.summary == "reproduced 0/1 (lost (runner died twice) in some runs)"
        lost.refresh_from_db()
        assert [(h["verdict"], h["reason"]) for h in lost.verdict_history] == [("lost", "lost")]

    def test_a_finish_from_a_taken_over_attempt_is_discarded(self, report, fake):
        run = start(make(report)).runs.get()

        def taken_over(kwargs):  # while this attempt runs, another runner claims the run (attempt 2)
            ReproductionRun.objects.filter(pk=run.pk).update(attempt=2, worker_pid=12345)

        fake.during = taken_over
        fake.answer = lambda side: outcome(Verdict.REPRODUCED, exit_code=1)
        result = execute(run.pk)
        assert result.status == Status.RUNNING and result.verdict == "" and result.exit_code is None
        assert result.attempt == 2 and result.finished_at is None
        assert Reproduction.objects.get().finished_count == 0

    def test_a_runner_fault_ends_the_run_inconclusive(self, report, fake):
        run = start(make(report)).runs.get()

        def broken(side):
            raise RuntimeError("cannot run the base Python '/nope'")

        fake.answer = broken
        done = execute(run.pk)
        assert done.status == Status.DONE and done.verdict == Verdict.INCONCLUSIVE
        assert "cannot run the base Python" in done.verdict_detail and RUNNER in done.verdict_detail

    def test_summary_counts_reproduced_over_repeats(self, report, fake):
        reproduction = start(make(report), repeat=4)
        verdicts = iter([Verdict.REPRODUCED, Verdict.NOT_REPRODUCED, Verdict.REPRODUCED, Verdict.REPRODUCED])
        fake.answer = lambda side: outcome(next(verdicts))
        runs = list(reproduction.runs.order_by("index"))
        execute(runs[0].pk)
        execute(runs[1].pk)
        reproduction.refresh_from_db()
        assert reproduction.summary == "2 of 4 runs done, reproduced in 1 so far"
        assert reproduction.status == Reproduction.Status.RUNNING
        execute(runs[2].pk)
        execute(runs[3].pk)
        reproduction.refresh_from_db()
        assert reproduction.summary == "reproduced 3/4 (flaky)"  # 3 of the 4 conclusive runs
        assert (reproduction.reproduced_count, reproduction.finished_count) == (3, 4)
        assert reproduction.status == Reproduction.Status.DONE and reproduction.finished_at is not None

    def test_crash_report_passes_its_signature(self, report, fake):
        from triage.models import CrashGroup, Report

        crash = ReportFactory(kind=Report.Kind.CRASH)
        CrashGroup.objects.create(report=crash, signature="s" * 64)
        reproducer = make(crash, expect="")  # nothing given: taken from the crash group
        assert reproducer.expectation == {"signature": "s" * 64, "source": "crash group ssssssssssss"}
        execute(start(reproducer).runs.get().pk)
        assert fake.calls[0]["expectation"].signature == "s" * 64
        execute(start(make(report)).runs.get().pk)
        given = fake.calls[1]["expectation"]
        assert (given.exit_code, given.signature, given.source) == (1, "", "given")


# --------------------------------------------------------------------------- differential pairs


def run_pair(report, fake, arrays_a, arrays_b, **fields):
    reproducer = make(report, oracle="differential", device="cpu", compare_device="gpu", rtol=1e-5, atol=1e-8, **fields)
    reproduction = start(reproducer)
    a, b = reproduction.runs.order_by("side")
    fake.answer = lambda side: outcome(None, arrays=arrays_a if side.device == "cpu" else arrays_b)
    first = execute(a.pk)
    assert first.verdict == "" and first.status == Status.DONE  # waits for side B
    execute(b.pk)
    a.refresh_from_db()
    b.refresh_from_db()
    reproduction.refresh_from_db()
    return reproduction, a, b


@pytest.mark.django_db(transaction=True)
def test_both_sides_finishing_at_once_are_judged_once_without_deadlock(monkeypatch):
    """Two runners store the two sides of a pair at the same moment (threads, own connections): the
    locks are taken in one order, so neither deadlocks, and the pair gets one verdict."""
    import threading

    from django.db import connection

    report = ReportFactory()
    fake = FakeExecute()
    monkeypatch.setattr(services, "execute_side", fake)
    monkeypatch.setattr(
        "triage.reproduction.tasks.reproduction_run_execute.apply_async", lambda args, queue, **kw: None, raising=True
    )
    arrays = {"cpu": {"out": np.zeros(3)}, "gpu": {"out": np.ones(3)}}
    both_running = threading.Barrier(2, timeout=30)

    def answer(side):
        both_running.wait()  # both sides are claimed and "running"; they finish together
        return outcome(None, arrays=arrays[side.device], key=side.device[0] * 64)  # two environments

    fake.answer = answer
    pair_judge = services._pair_judge

    def slow_pair_judge(run):  # widen the window between storing a side and judging the pair
        time.sleep(0.3)
        pair_judge(run)

    monkeypatch.setattr(services, "_pair_judge", slow_pair_judge)
    reproducer = make(report, oracle="differential", device="cpu", compare_device="gpu")
    reproduction = start(reproducer)
    runs = list(reproduction.runs.order_by("side"))
    errors: list[BaseException] = []

    def run(run_id: int, runner: str):
        try:
            services.run_execute(run_id=run_id, runner_name=runner, pid=os.getpid())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(r.pk, f"celery@host-{r.side}")) for r in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    a, b = (ReproductionRun.objects.get(pk=r.pk) for r in runs)
    assert a.status == b.status == Status.DONE
    assert a.verdict == b.verdict == Verdict.REPRODUCED and a.comparison == b.comparison and a.comparison
    reproduction.refresh_from_db()
    assert reproduction.summary == "reproduced 1/1" and reproduction.finished_count == 1


class TestDifferentialPair:
    def test_differing_sides_reproduce_on_both(self, report, fake):
        logits_a = np.array([1.0, 2.0, np.nan], dtype=np.float32)
        logits_b = np.array([1.0, 2.5, np.nan], dtype=np.float32)
        reproduction, a, b = run_pair(report, fake, {"logits": logits_a}, {"logits": logits_b})
        assert a.verdict == b.verdict == Verdict.REPRODUCED
        assert a.verdict_detail == b.verdict_detail and "logits" in a.verdict_detail
        assert a.comparison == b.comparison
        item = a.comparison["items"][0]
        assert a.comparison["equal"] is False and item["status"] == "differs" and item["mismatched"] == 1
        np.testing.assert_array_equal(unpack_captures(a.captures)["logits"], logits_a)
        np.testing.assert_array_equal(unpack_captures(b.captures)["logits"], logits_b)
        assert a.outputs["logits"]["shape"] == [3] and a.outputs["logits"]["nan"] == 1
        assert reproduction.summary == "reproduced 1/1"

    def test_equal_sides_within_tolerance_do_not_reproduce(self, report, fake):
        x = np.arange(6, dtype=np.float64).reshape(2, 3)
        reproduction, a, b = run_pair(report, fake, {"out": x}, {"out": x + 1e-9})
        assert a.verdict == b.verdict == Verdict.NOT_REPRODUCED
        assert a.comparison["equal"] is True
        assert reproduction.summary == "reproduced 0/1"

    def test_shape_mismatch_reproduces(self, report, fake):
        _, a, _ = run_pair(report, fake, {"out": np.zeros((2, 3))}, {"out": np.zeros((3, 2))})
        assert a.verdict == Verdict.REPRODUCED and a.comparison["items"][0]["status"] == "shape"

    def test_a_side_whose_build_failed_decides_the_pair(self, report, fake):
        reproducer = make(report, oracle="differential", requirements="tinypkg==1.0", compare_requirements="tinypkg==9")
        reproduction = start(reproducer)
        a, b = reproduction.runs.order_by("side")
        fake.answer = lambda side: (
            build_failed() if "tinypkg==9" in side.requirements else outcome(None, arrays={"x": np.ones(2)})
        )
        execute(a.pk)
        execute(b.pk)
        a.refresh_from_db()
        b.refresh_from_db()
        assert a.verdict == b.verdict == Verdict.BUILD_FAILED
        assert b.verdict_detail.startswith("Side B (cpu): The environment could not be built")
        assert a.comparison == {} and b.exit_code is None
        env = Environment.objects.get(key="f" * 64)
        assert env.last_build_ok is False and "No matching distribution" in env.last_build_log
        assert b.environment == env
        reproduction.refresh_from_db()
        assert reproduction.summary == "reproduced 0/1 (environment build failed in some runs)"


# --------------------------------------------------------------------------- bisection


VERSIONS = ["1.0", "1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7"]


def version_of(side) -> str:
    return next(r.split("==")[1] for r in side.requirements if r.startswith("tinypkg=="))


def drive(reproduction, capture, sent, limit: int = 20) -> list[str]:
    """Execute each queued run in turn, as runners would; return the versions run, in order."""
    done: list[str] = []
    for _ in range(limit):
        pending = [run_id for run_id, _ in sent if ReproductionRun.objects.filter(pk=run_id, status="queued").exists()]
        if not pending:
            break
        with capture(execute=True):
            run = execute(pending[0])
        done.append(run.version)
    return done


class TestBisection:
    @pytest.mark.parametrize(
        "package, versions, field",
        [("t" * 201, ["1.0", "2.0"], "package"), ("torch", ["1." + "0" * 120, "2.0"], "versions")],
    )
    def test_names_too_long_to_store_are_refused(self, report, package, versions, field):
        reproducer = make(report, oracle="assertion")
        with pytest.raises(ApplicationError) as excinfo:
            services.bisection_start(reproducer=reproducer, package=package, versions=versions)
        assert "characters" in errors_of(excinfo)[field]
        assert not Reproduction.objects.exists()

    def start(self, report, capture, versions=VERSIONS, requirements="tinypkg==1.0 numpy"):
        reproducer = make(report, oracle="assertion", requirements=requirements)
        with capture(execute=True):
            return services.bisection_start(reproducer=reproducer, package="tinypkg", versions=versions)

    def test_finds_last_good_and_first_bad(self, report, fake, sent, django_capture_on_commit_callbacks):
        fake.answer = lambda side: outcome(
            Verdict.REPRODUCED if VERSIONS.index(version_of(side)) >= VERSIONS.index("1.5") else Verdict.NOT_REPRODUCED
        )
        reproduction = self.start(report, django_capture_on_commit_callbacks)
        assert len(sent) == 1  # only the first step is queued
        ran = drive(reproduction, django_capture_on_commit_callbacks, sent)
        reproduction.refresh_from_db()
        result = reproduction.bisect_result
        assert reproduction.status == Reproduction.Status.DONE
        assert (result["mode"], result["last_good"], result["first_bad"]) == ("introduced", "1.4", "1.5")
        assert ran[:2] == ["1.0", "1.7"] and len(ran) == len(set(ran)) == result["steps"] == len(fake.calls)
        runs = list(reproduction.runs.order_by("index"))
        assert [r.index for r in runs] == list(range(len(ran))) and [r.version for r in runs] == ran
        assert all(r.requirements.splitlines() == ["numpy", f"tinypkg=={r.version}"] for r in runs)
        assert "1.5" in reproduction.summary

    def test_fixed_range(self, report, fake, sent, django_capture_on_commit_callbacks):
        fake.answer = lambda side: outcome(
            Verdict.REPRODUCED if VERSIONS.index(version_of(side)) < VERSIONS.index("1.3") else Verdict.NOT_REPRODUCED
        )
        reproduction = self.start(report, django_capture_on_commit_callbacks)
        drive(reproduction, django_capture_on_commit_callbacks, sent)
        reproduction.refresh_from_db()
        result = reproduction.bisect_result
        assert (result["mode"], result["last_bad"], result["first_good"]) == ("fixed", "1.2", "1.3")

    def test_a_build_failure_counts_as_skip(self, report, fake, sent, django_capture_on_commit_callbacks):
        def answer(side):
            version = version_of(side)
            if version == "1.4":
                return build_failed()
            return outcome(Verdict.REPRODUCED if VERSIONS.index(version) >= 5 else Verdict.NOT_REPRODUCED)

        fake.answer = answer
        reproduction = self.start(report, django_capture_on_commit_callbacks)
        ran = drive(reproduction, django_capture_on_commit_callbacks, sent)
        reproduction.refresh_from_db()
        result = reproduction.bisect_result
        assert "1.4" in ran and result["skipped"] == ["1.4"]
        assert (result["mode"], result["last_good"], result["first_bad"]) == ("introduced", "1.3", "1.5")
        assert reproduction.runs.get(version="1.4").verdict == Verdict.BUILD_FAILED

    def test_no_change(self, report, fake, sent, django_capture_on_commit_callbacks):
        fake.answer = lambda side: outcome(Verdict.REPRODUCED)
        reproduction = self.start(report, django_capture_on_commit_callbacks)
        ran = drive(reproduction, django_capture_on_commit_callbacks, sent)
        reproduction.refresh_from_db()
        assert ran == ["1.0", "1.7"] and reproduction.bisect_result["mode"] == "no_change"

    def test_package_absent_from_requirements_is_added(self, report, fake, sent, django_capture_on_commit_callbacks):
        self.start(report, django_capture_on_commit_callbacks, requirements="numpy")
        first = ReproductionRun.objects.get(pk=sent[0][0])
        assert first.requirements.splitlines() == ["numpy", "tinypkg==1.0"]

    @pytest.mark.parametrize(
        "package, versions, field, words",
        [
            ("", ["1.0", "2.0"], "package", "by its name"),
            ("tiny pkg", ["1.0", "2.0"], "package", "by its name"),
            ("tinypkg", ["1.0"], "versions", "at least two"),
            ("tinypkg", [], "versions", "at least two"),
            ("tinypkg", ["1.0", "1.1", "1.0"], "versions", "listed twice"),
            ("tinypkg", ["1.0", "not a version"], "versions", "not a valid version"),
        ],
    )
    def test_validation(self, report, sent, package, versions, field, words):
        reproducer = make(report, oracle="assertion")
        with pytest.raises(ApplicationError) as excinfo:
            services.bisection_start(reproducer=reproducer, package=package, versions=versions)
        assert words in excinfo.value.details[field]
        assert not Reproduction.objects.exists() and sent == []

    def test_differential_oracle_is_refused(self, report):
        reproducer = make(report, oracle="differential", compare_device="gpu")
        with pytest.raises(ApplicationError) as excinfo:
            services.bisection_start(reproducer=reproducer, package="tinypkg", versions=["1.0", "2.0"])
        assert "decide on its own" in excinfo.value.details["oracle"]


# --------------------------------------------------------------------------- sweep


@pytest.fixture
def sweep_settings(settings):
    settings.BUGSIFT_RUNNER_LOST_AFTER_SECONDS = 60
    settings.BUGSIFT_REPRO_REQUEUE_AFTER_SECONDS = 300
    settings.BUGSIFT_REPRO_MAX_ATTEMPTS = 2
    settings.BUGSIFT_REPRO_BUILD_TIMEOUT = 600
    return settings


def running(run, runner, attempt=1, started=None):
    ReproductionRun.objects.filter(pk=run.pk).update(
        status=Status.RUNNING, runner=runner, attempt=attempt, worker_pid=4242, started_at=started or timezone.now()
    )


class TestSweep:
    def test_run_of_a_silent_runner_is_queued_again(
        self, report, fake, sent, sweep_settings, django_capture_on_commit_callbacks
    ):
        now = timezone.now()
        run = start(make(report)).runs.get()
        silent = Runner.objects.create(name="celery@silent", last_heartbeat=now - timedelta(seconds=61))
        running(run, silent, started=now - timedelta(seconds=90))
        with django_capture_on_commit_callbacks(execute=True):
            result = services.runs_sweep(now=now)
        run.refresh_from_db()
        assert (result.requeued_lost, result.gave_up, result.resent) == (1, 0, 0)
        assert run.status == Status.QUEUED and run.attempt == 1 and run.queued_at == now
        assert "celery@silent stopped sending heartbeats during attempt 1" in run.verdict_detail
        assert sent == [(run.pk, "repro.cpu")]
        done = execute(run.pk)  # the next runner claims it: attempt 2
        assert done.attempt == 2 and done.status == Status.DONE and done.verdict == Verdict.REPRODUCED

    def test_at_max_attempts_the_run_becomes_lost(
        self, report, sent, sweep_settings, django_capture_on_commit_callbacks
    ):
        now = timezone.now()
        run = start(make(report)).runs.get()
        silent = Runner.objects.create(name="celery@silent", last_heartbeat=now - timedelta(seconds=300))
        running(run, silent, attempt=2)
        with django_capture_on_commit_callbacks(execute=True):
            result = services.runs_sweep(now=now)
        run.refresh_from_db()
        assert result.gave_up == 1 and sent == []
        assert run.status == Status.DONE and run.verdict == Verdict.LOST
        assert Reproduction.objects.get().status == Reproduction.Status.DONE

    def test_stopped_runner_counts_as_silent(self, report, sent, sweep_settings, django_capture_on_commit_callbacks):
        now = timezone.now()
        run = start(make(report)).runs.get()
        stopped = Runner.objects.create(name="celery@stopped", last_heartbeat=now, stopped_at=now)
        running(run, stopped)
        with django_capture_on_commit_callbacks(execute=True):
            assert services.runs_sweep(now=now).requeued_lost == 1
        assert sent == [(run.pk, "repro.cpu")]

    def test_fresh_runs_are_not_touched(self, report, sent, sweep_settings, django_capture_on_commit_callbacks):
        now = timezone.now()
        reproduction = start(make(report), repeat=2)
        busy, waiting = reproduction.runs.order_by("index")
        alive = Runner.objects.create(name="celery@alive", last_heartbeat=now - timedelta(seconds=59))
        running(busy, alive, started=now - timedelta(seconds=120))
        ReproductionRun.objects.filter(pk=waiting.pk).update(queued_at=now - timedelta(seconds=299))
        with django_capture_on_commit_callbacks(execute=True):
            result = services.runs_sweep(now=now)
        assert (result.requeued_lost, result.gave_up, result.resent) == (0, 0, 0) and sent == []
        busy.refresh_from_db()
        assert busy.status == Status.RUNNING and busy.verdict_detail == ""

    def test_old_queued_run_is_sent_again(self, report, sent, sweep_settings, django_capture_on_commit_callbacks):
        now = timezone.now()
        reproducer = make(report, oracle="differential", compare_device="gpu")
        reproduction = start(reproducer)
        a, b = reproduction.runs.order_by("side")
        ReproductionRun.objects.filter(pk=a.pk).update(queued_at=now - timedelta(seconds=301))
        with django_capture_on_commit_callbacks(execute=True):
            result = services.runs_sweep(now=now)
        assert result.resent == 1 and sent == [(a.pk, "repro.cpu")]
        a.refresh_from_db()
        assert a.status == Status.QUEUED and a.queued_at == now and a.attempt == 0
        later = now + timedelta(seconds=301)
        with django_capture_on_commit_callbacks(execute=True):
            assert services.runs_sweep(now=later).resent == 2
        assert sorted(sent[1:]) == sorted([(a.pk, "repro.cpu"), (b.pk, "repro.gpu")])

    def test_run_past_every_deadline_on_a_live_runner_is_queued_again(
        self, report, sent, sweep_settings, django_capture_on_commit_callbacks
    ):
        """A killed worker process whose runner still sends heartbeats: nobody will finish the run."""
        now = timezone.now()
        run = start(make(report, timeout_seconds=30)).runs.get()
        alive = Runner.objects.create(name="celery@alive", last_heartbeat=now)
        running(run, alive, started=now - timedelta(seconds=600 + 30 + 60 + 1))
        with django_capture_on_commit_callbacks(execute=True):
            assert services.runs_sweep(now=now).requeued_lost == 1
        run.refresh_from_db()
        assert run.status == Status.QUEUED and "ran past its time and build limits" in run.verdict_detail
        assert sent == [(run.pk, "repro.cpu")]

    def test_broker_down_at_start_is_recovered_by_the_sweep(
        self, report, monkeypatch, sweep_settings, django_capture_on_commit_callbacks
    ):
        from triage.reproduction.tasks import reproduction_run_execute

        def down(*args, **kwargs):
            raise ConnectionError("broker unreachable")

        monkeypatch.setattr(reproduction_run_execute, "apply_async", down)
        with django_capture_on_commit_callbacks(execute=True):
            reproduction = start(make(report))  # does not raise: the row waits for the sweep
        run = reproduction.runs.get()
        assert run.status == Status.QUEUED
        calls: list = []
        monkeypatch.setattr(reproduction_run_execute, "apply_async", lambda args, queue: calls.append(args[0]))
        with django_capture_on_commit_callbacks(execute=True):
            services.runs_sweep(now=timezone.now() + timedelta(seconds=301))
        assert calls == [run.pk]


# --------------------------------------------------------------------------- the flaky rule (README)


@pytest.mark.parametrize(
    "verdicts, summary",
    [
        (["reproduced"] * 10, "reproduced 10/10"),
        (["reproduced"] * 7 + ["not_reproduced"] * 3, "reproduced 7/10 (flaky)"),
        (["reproduced"] * 7 + ["inconclusive"] * 3, "reproduced 7/10 (inconclusive in some runs)"),
        (
            ["reproduced"] * 6 + ["crashed_differently"] + ["inconclusive"] * 3,
            "reproduced 6/10 (flaky; crashed differently, inconclusive in some runs)",
        ),
        (["not_reproduced"] * 4, "reproduced 0/4"),
    ],
)
def test_a_check_keeps_its_fraction_and_is_flaky_only_over_conclusive_runs(verdicts, summary):
    assert services.check_summary(verdicts, total=len(verdicts)) == summary


# --------------------------------------------------------------------------- batches


def execute_batch(run_id: int, runner: str = RUNNER, pid: int | None = None, **kwargs) -> services.BatchResult:
    return services.runs_execute(run_id=run_id, runner_name=runner, pid=pid or os.getpid(), **kwargs)


def runs_of(*reproductions) -> list[ReproductionRun]:
    return list(ReproductionRun.objects.filter(reproduction__in=reproductions).order_by("pk"))


class WorkerDied(BaseException):
    """Stands for the worker process being killed in the middle of a run (nothing after it runs)."""


class TestBatches:
    def test_a_task_takes_the_queued_runs_of_its_queue_one_after_another(self, report, fake, sent):
        cpu = start(make(report), repeat=4)
        gpu = start(make(report, device="gpu"), repeat=1)
        first = cpu.runs.order_by("pk").first()
        result = execute_batch(first.pk)
        runs = runs_of(cpu)
        assert result.executed == [r.pk for r in runs]  # the delivered run first, then oldest first
        assert result.delivered.pk == first.pk and result.delivered.status == Status.DONE
        assert all(r.status == Status.DONE and r.attempt == 1 and r.runner.name == RUNNER for r in runs)
        assert len(fake.calls) == 4 and {c["side"].device for c in fake.calls} == {"cpu"}
        assert gpu.runs.get().status == Status.QUEUED  # another queue's run is left to its runners
        cpu.refresh_from_db()
        assert cpu.status == Reproduction.Status.DONE and cpu.summary == "reproduced 4/4"

    def test_batch_size_and_time_bound_a_task(self, report, fake, sent):
        reproduction = start(make(report), repeat=5)
        runs = runs_of(reproduction)
        assert execute_batch(runs[0].pk, batch_size=2).executed == [runs[0].pk, runs[1].pk]
        assert execute_batch(runs[2].pk, batch_seconds=0).executed == [runs[2].pk]
        assert [r.status for r in runs_of(reproduction)] == [Status.DONE] * 3 + [Status.QUEUED] * 2

    def test_a_message_whose_run_another_task_took_takes_the_next_queued_ones(self, report, fake, sent):
        reproduction = start(make(report), repeat=3)
        runs = runs_of(reproduction)
        execute_batch(runs[0].pk, batch_size=2)  # takes runs 0 and 1
        finished_at = ReproductionRun.objects.get(pk=runs[1].pk).finished_at
        result = execute_batch(runs[1].pk)  # run 1's own message, delivered late
        assert result.delivered is None and result.executed == [runs[2].pk]
        assert len(fake.calls) == 3  # run 1 was not run again
        assert ReproductionRun.objects.get(pk=runs[1].pk).finished_at == finished_at
        assert execute_batch(runs[2].pk).executed == []  # the last message: nothing left to do

    def test_a_message_for_a_run_held_by_a_live_runner_runs_nothing_of_it(self, report, fake, sent):
        reproduction = start(make(report), repeat=2)
        held, other = runs_of(reproduction)
        services.runner_register(
            facts=services.RunnerFacts(name="celery@runner-b", hostname="b", device="cpu", queues=[])
        )
        ReproductionRun.objects.filter(pk=held.pk).update(
            status=Status.RUNNING, attempt=1, runner=Runner.objects.get(name="celery@runner-b"), worker_pid=1
        )
        result = execute_batch(held.pk)
        assert result.delivered is None and result.executed == [other.pk]
        assert ReproductionRun.objects.get(pk=held.pk).status == Status.RUNNING

    def test_runs_out_of_attempts_are_not_taken_by_a_batch(self, report, fake, sent, settings):
        reproduction = start(make(report), repeat=2)
        first, spent = runs_of(reproduction)
        ReproductionRun.objects.filter(pk=spent.pk).update(attempt=settings.BUGSIFT_REPRO_MAX_ATTEMPTS)
        assert execute_batch(first.pk).executed == [first.pk]
        execute_batch(spent.pk)  # its own message decides: lost
        spent.refresh_from_db()
        assert spent.status == Status.DONE and spent.verdict == Verdict.LOST

    @pytest.mark.parametrize("recovery", ["heartbeat of the live runner", "sweep of a silent runner"])
    def test_a_batch_cut_short_by_a_dead_worker_is_finished_by_others_each_result_stored_once(
        self, report, fake, sent, recovery, sweep_settings, django_capture_on_commit_callbacks
    ):
        reproduction = start(make(report), repeat=4)
        runs = runs_of(reproduction)
        died = dead_pid()
        services.runner_register(facts=services.RunnerFacts(name=RUNNER, hostname="a", device="cpu", queues=[]))

        def die_on_third(kwargs):
            if len(fake.calls) == 3:
                raise WorkerDied

        fake.during = die_on_third
        with pytest.raises(WorkerDied):
            execute_batch(runs[0].pk, pid=died)
        states = [(r.status, r.attempt) for r in runs_of(reproduction)]
        assert states == [(Status.DONE, 1), (Status.DONE, 1), (Status.RUNNING, 1), (Status.QUEUED, 0)]
        stored = {r.pk: r.finished_at for r in runs_of(reproduction)[:2]}
        fake.during = None
        sent.clear()
        with django_capture_on_commit_callbacks(execute=True):
            if recovery.startswith("heartbeat"):
                assert services.runner_runs_recover(name=RUNNER) == 1
            else:
                Runner.objects.filter(name=RUNNER).update(last_heartbeat=timezone.now() - timedelta(seconds=120))
                assert services.runs_sweep().requeued_lost == 1
        assert sent == [(runs[2].pk, "repro.cpu")]  # queued again, with a message
        # Every message is delivered (again) to another runner: the rest is done, nothing twice.
        for run in runs:
            execute_batch(run.pk, runner="celery@runner-b")
        done = runs_of(reproduction)
        assert [(r.status, r.attempt) for r in done] == [
            (Status.DONE, 1),
            (Status.DONE, 1),
            (Status.DONE, 2),
            (Status.DONE, 1),
        ]
        assert [r.runner.name for r in done] == [RUNNER, RUNNER, "celery@runner-b", "celery@runner-b"]
        assert {r.pk: r.finished_at for r in done[:2]} == stored
        assert len(fake.calls) == 3 + 2  # runs 0, 1, 2 (cut short), then 2 again and 3
        reproduction.refresh_from_db()
        assert reproduction.summary == "reproduced 4/4" and reproduction.finished_count == 4

    @staticmethod
    def _failing_finish(monkeypatch, run_id: int, errors: list[Exception]):
        """Storing ``run_id``'s result raises the next of ``errors`` (one per try), then works."""
        real = services._run_finish

        def finish(*, run, **kwargs):
            if run.pk == run_id and errors:
                raise errors.pop(0)
            return real(run=run, **kwargs)

        monkeypatch.setattr(services, "_run_finish", finish)

    def test_a_result_the_writer_could_not_store_is_stored_again_at_once(self, report, fake, sent, monkeypatch):
        from django.db import OperationalError

        reproduction = start(make(report), repeat=3)
        runs = runs_of(reproduction)
        self._failing_finish(monkeypatch, runs[0].pk, [OperationalError("server closed the connection")])
        assert execute_batch(runs[0].pk).executed == [r.pk for r in runs]
        assert [(r.status, r.attempt, r.verdict) for r in runs_of(reproduction)] == [
            (Status.DONE, 1, Verdict.REPRODUCED)
        ] * 3
        assert len(fake.calls) == 3  # nothing ran twice

    def test_a_result_that_cannot_be_stored_for_a_lost_database_is_queued_again_not_left_running(
        self, report, fake, sent, monkeypatch, django_capture_on_commit_callbacks
    ):
        from django.db import OperationalError

        reproduction = start(make(report), repeat=3)
        runs = runs_of(reproduction)
        sent.clear()
        lost = [OperationalError("server closed the connection"), OperationalError("connection refused")]
        self._failing_finish(monkeypatch, runs[0].pk, lost)
        with django_capture_on_commit_callbacks(execute=True):
            result = execute_batch(runs[0].pk, batch_size=3)  # (a longer batch would take it again itself)
        assert result.executed == [r.pk for r in runs]  # the batch went on: the next runs were stored
        first, *others = runs_of(reproduction)
        assert (first.status, first.attempt, first.worker_pid) == (Status.QUEUED, 1, None)
        assert "result could not be stored (OperationalError: connection refused); queued again" in (
            first.verdict_detail
        )
        assert sent == [(first.pk, "repro.cpu")]  # with a message, not waiting for the sweep
        assert [(r.status, r.verdict) for r in others] == [(Status.DONE, Verdict.REPRODUCED)] * 2
        execute_batch(first.pk)  # its message: run again, and stored this time
        first.refresh_from_db()
        assert (first.status, first.attempt, first.verdict) == (Status.DONE, 2, Verdict.REPRODUCED)
        reproduction.refresh_from_db()
        assert reproduction.summary == "reproduced 3/3"

    def test_a_result_the_database_refuses_fails_the_run_at_once_with_the_reason(self, report, fake, sent, monkeypatch):
        from django.db import DataError

        reproduction = start(make(report), repeat=2)
        runs = runs_of(reproduction)
        refused = [DataError("value too long for type character varying(32)")] * 2
        self._failing_finish(monkeypatch, runs[0].pk, refused)
        assert execute_batch(runs[0].pk).executed == [r.pk for r in runs]
        first, second = runs_of(reproduction)
        assert (first.status, first.verdict, first.verdict_reason) == (
            Status.DONE,
            Verdict.INCONCLUSIVE,
            "result_not_stored",
        )
        assert "could not be stored (DataError: value too long" in first.verdict_detail
        assert first.verdict_history[-1]["reason"] == "result_not_stored" and first.finished_at is not None
        assert second.status == Status.DONE and second.verdict == Verdict.REPRODUCED
        reproduction.refresh_from_db()
        assert reproduction.status == Reproduction.Status.DONE and reproduction.finished_count == 2

    def test_when_nothing_can_be_written_the_task_gets_the_error_to_retry(self, report, fake, sent, monkeypatch):
        from django.db import OperationalError

        reproduction = start(make(report), repeat=2)
        runs = runs_of(reproduction)
        self._failing_finish(monkeypatch, runs[0].pk, [OperationalError("gone")] * 2)

        def no_database(*args, **kwargs):
            raise OperationalError("the database is gone")

        monkeypatch.setattr(services, "_lock_run", no_database)
        with pytest.raises(OperationalError, match="the database is gone"):
            execute_batch(runs[0].pk)

    def test_the_next_run_is_claimed_when_the_sandbox_exits_and_put_back_if_the_batch_fails(
        self, report, fake, sent, monkeypatch, django_capture_on_commit_callbacks
    ):
        from django.db import OperationalError

        reproduction = start(make(report), repeat=3)
        runs = runs_of(reproduction)
        seen: list = []

        def states_while_judging(kwargs):  # the fake's "sandbox" is still running: nothing claimed yet
            seen.append([(r.status, r.attempt) for r in runs_of(reproduction)])

        fake.during = states_while_judging
        self._failing_finish(monkeypatch, runs[0].pk, [OperationalError("gone")])

        def database_gone(**kwargs):
            raise OperationalError("the database is gone")

        monkeypatch.setattr(services, "_run_store_failed", database_gone)
        sent.clear()
        with django_capture_on_commit_callbacks(execute=True), pytest.raises(OperationalError, match="is gone"):
            execute_batch(runs[0].pk)
        assert seen == [
            [(Status.RUNNING, 1), (Status.QUEUED, 0), (Status.QUEUED, 0)],
            [(Status.RUNNING, 1), (Status.RUNNING, 1), (Status.QUEUED, 0)],
        ]
        assert len(fake.calls) == 2  # run 2 was claimed when run 1's sandbox exited, and never started
        third = ReproductionRun.objects.get(pk=runs[2].pk)
        assert (third.status, third.attempt, third.worker_pid) == (Status.QUEUED, 0, None)
        assert sent == [(third.pk, "repro.cpu")]  # back in the queue, with a message, its attempt not counted
        monkeypatch.undo()
        monkeypatch.setattr(services, "execute_side", fake)
        fake.during = None
        assert execute_batch(third.pk).executed == [third.pk]  # (runs 0 and 1 are held by this process)
        third.refresh_from_db()
        assert (third.status, third.attempt) == (Status.DONE, 1)

    def test_a_claimed_run_keeps_its_earlier_verdict_history_when_its_result_is_stored(self, report, fake, sent):
        reproduction = start(make(report), repeat=2)
        first, second = runs_of(reproduction)
        earlier = {"at": "2026-01-01T00:00:00+00:00", "verdict": "lost", "reason": "lost", "detail": "before"}
        ReproductionRun.objects.filter(pk=second.pk).update(verdict_history=[earlier])
        assert execute_batch(first.pk).executed == [first.pk, second.pk]  # the second claimed by the batch
        history = ReproductionRun.objects.get(pk=second.pk).verdict_history
        assert history[0] == earlier and len(history) == 2
        assert history[1]["verdict"] == Verdict.REPRODUCED

    def test_runner_recovery_leaves_runs_of_live_processes_and_of_other_runners(self, report, fake, sent):
        reproduction = start(make(report), repeat=3)
        mine_live, mine_dead, theirs_dead = runs_of(reproduction)
        for name in (RUNNER, "celery@runner-b"):
            services.runner_register(facts=services.RunnerFacts(name=name, hostname="h", device="cpu", queues=[]))
        holders = {
            mine_live: (RUNNER, os.getpid()),
            mine_dead: (RUNNER, dead_pid()),
            theirs_dead: ("celery@runner-b", dead_pid()),
        }
        for run, (name, pid) in holders.items():
            ReproductionRun.objects.filter(pk=run.pk).update(
                status=Status.RUNNING, attempt=1, runner=Runner.objects.get(name=name), worker_pid=pid
            )
        assert services.runner_runs_recover(name=RUNNER) == 1
        assert [r.status for r in runs_of(reproduction)] == [Status.RUNNING, Status.QUEUED, Status.RUNNING]
        assert "died during attempt 1" in ReproductionRun.objects.get(pk=mine_dead.pk).verdict_detail


@pytest.fixture
def writer_connection_closed():
    """The batch's result-storing thread keeps a connection of its own: close it after the test."""
    yield
    from django.db import connections

    services._result_writer().submit(connections.close_all).result()


@pytest.mark.django_db(transaction=True)
def test_concurrent_claimers_never_take_the_same_run(monkeypatch, writer_connection_closed):
    """Four claimers on their own connections take the queue at once (threads, PostgreSQL): every run is
    taken exactly once, none waits for another's lock. Without the row lock two claimers that picked the same
    oldest run would both update it (the second update re-checks only its id): this test fails then."""
    import threading

    from django.db import connection

    monkeypatch.setattr(
        "triage.reproduction.tasks.reproduction_run_execute.apply_async", lambda args, queue, **kw: None, raising=True
    )
    reproduction = start(make(ReportFactory()), repeat=40)
    go = threading.Barrier(4, timeout=30)
    taken: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def claimer(name: str):
        try:
            services._runner_id(name)  # registered
            go.wait()
            mine = taken.setdefault(name, [])
            while (
                claim := services._run_claim_queued(queue="repro.cpu", runner_name=name, pid=os.getpid())
            ) is not None:
                mine.append(claim.run.pk)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=claimer, args=(f"celery@claimer-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    claimed = [pk for mine in taken.values() for pk in mine]
    assert sorted(claimed) == sorted(reproduction.runs.values_list("pk", flat=True))  # all, and each once
    assert sum(1 for mine in taken.values() if mine) >= 2, taken  # they really took the queue together
    rows = ReproductionRun.objects.filter(reproduction=reproduction)
    assert set(rows.values_list("status", "attempt")) == {(Status.RUNNING, 1)}
    owner = {pk: name for name, mine in taken.items() for pk in mine}
    assert all(r.runner.name == owner[r.pk] for r in rows.select_related("runner"))


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_execute_and_store_every_run_once(monkeypatch, writer_connection_closed):
    """Three runners' tasks run batches at once, storing results on their result threads: every run is
    executed once and stored once, and the reproduction's summary counts them all."""
    import threading
    from collections import Counter

    from django.db import connection

    monkeypatch.setattr(
        "triage.reproduction.tasks.reproduction_run_execute.apply_async", lambda args, queue, **kw: None, raising=True
    )
    fake = FakeExecute(answer=lambda side: (time.sleep(0.005), outcome())[1])
    executed: Counter = Counter()
    lock = threading.Lock()
    real_outcome = services._run_outcome

    def counting_outcome(claim, **kwargs):
        with lock:
            executed[claim.run.pk] += 1
        return real_outcome(claim, **kwargs)

    monkeypatch.setattr(services, "execute_side", fake)
    monkeypatch.setattr(services, "_run_outcome", counting_outcome)
    reproduction = start(make(ReportFactory()), repeat=30)
    ids = list(reproduction.runs.order_by("pk").values_list("pk", flat=True))
    errors: list[BaseException] = []
    go = threading.Barrier(3, timeout=30)

    def runner(name: str, delivered: list[int]):
        try:
            go.wait()
            for run_id in delivered:  # this runner's share of the messages
                services.runs_execute(run_id=run_id, runner_name=name, pid=os.getpid(), batch_size=4)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(f"celery@batch-{n}", ids[n::3])) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    assert executed == Counter({pk: 1 for pk in ids})
    rows = list(ReproductionRun.objects.filter(reproduction=reproduction))
    assert {(r.status, r.attempt, r.verdict) for r in rows} == {(Status.DONE, 1, Verdict.REPRODUCED)}
    reproduction.refresh_from_db()
    assert reproduction.status == Reproduction.Status.DONE and reproduction.summary == "reproduced 30/30"


@pytest.mark.django_db(transaction=True)
def test_a_writer_connection_closed_by_the_server_mid_batch_loses_no_result_and_the_next_batch_reconnects(
    monkeypatch, writer_connection_closed
):
    """The result thread checks its connection once per batch, not before each job: when the server closes
    it in the middle of a batch, every run is still stored once (a result the thread could not store is
    stored by the task itself), and the next batch works on a new connection."""
    from django.db import connection

    monkeypatch.setattr(
        "triage.reproduction.tasks.reproduction_run_execute.apply_async", lambda args, queue, **kw: None, raising=True
    )
    fake = FakeExecute()
    killed: list[int] = []

    def close_other_connections(kwargs):
        if len(fake.calls) == 2:  # while the second run is "in its sandbox"
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                killed.extend(row[0] for row in cursor.fetchall())

    fake.during = close_other_connections
    monkeypatch.setattr(services, "execute_side", fake)
    reproduction = start(make(ReportFactory()), repeat=3)
    ids = list(reproduction.runs.order_by("pk").values_list("pk", flat=True))
    result = services.runs_execute(run_id=ids[0], runner_name=RUNNER, pid=os.getpid())
    assert killed and all(killed)  # the writer's connection was really closed under it
    assert result.executed == ids and len(fake.calls) == 3
    rows = list(ReproductionRun.objects.filter(reproduction=reproduction))
    assert {(r.status, r.attempt, r.verdict) for r in rows} == {(Status.DONE, 1, Verdict.REPRODUCED)}
    reproduction.refresh_from_db()
    assert reproduction.summary == "reproduced 3/3"
    fake.during = None
    later = start(make(ReportFactory()), repeat=2)
    later_ids = list(later.runs.order_by("pk").values_list("pk", flat=True))
    assert services.runs_execute(run_id=later_ids[0], runner_name=RUNNER, pid=os.getpid()).executed == later_ids
    assert set(later.runs.values_list("status", "verdict")) == {(Status.DONE, Verdict.REPRODUCED)}
