"""`python manage.py reproduce --script FILE ...`: run a script here, as a runner would, without a broker.

It goes through the same environment cache, bubblewrap sandbox and oracle code as the Celery
runners, so a researcher can check a script before queuing it. Nothing is written to the database.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from triage.models import Reproducer
from triage.reproduction.environments import RequirementsError, parse_requirements
from triage.reproduction.execute import (
    RunnerConfig,
    Side,
    SideOutcome,
    execute_differential,
    execute_side,
    result_fields,
)
from triage.reproduction.expectations import Expectation, ExpectationError, parse_expect
from triage.reproduction.oracles import Judgement, summarise_captures
from triage.reproduction.runners import GPU_QUEUE, check_gpu_queue
from triage.reproduction.sandbox import Limits
from triage.reproduction.services import check_summary

ORACLES = Reproducer.Oracle.values


def _requirements(text: str, option: str) -> tuple[str, ...]:
    try:
        return tuple(parse_requirements(text or ""))
    except RequirementsError as exc:
        raise CommandError(f"{option}: {exc}") from None


def _side_json(outcome: SideOutcome) -> dict:
    out: dict = {}
    if outcome.build is not None:
        out["environment"] = {
            "key": outcome.build.key,
            "ok": outcome.build.ok,
            "cached": outcome.build.cached,
            "build_seconds": round(outcome.build.seconds, 3),
        }
        if not outcome.build.ok:
            out["build_log_tail"] = outcome.build.log[-4000:]
    if outcome.result is not None:
        out.update(result_fields(outcome.result))
    if outcome.arrays or outcome.capture_errors:
        out["outputs"] = summarise_captures(outcome.arrays) if outcome.arrays else {}
        if outcome.capture_errors:
            out["capture_errors"] = outcome.capture_errors
    return out


def _judgement_json(judgement: Judgement) -> dict:
    """Why the verdict: its reason and hint, the expectation compared (or that nothing was), what the run showed."""
    return {
        "detail": judgement.detail,
        "reason": judgement.reason,
        "hint": judgement.hint,
        "expectation": judgement.expectation or None,
        "compared": judgement.compared,
        "matched": judgement.matched,
        "observed": judgement.observed,
    }


class Command(BaseCommand):
    help = (
        "Run a reproduction script on this machine through the same environment cache, sandbox and "
        "oracle as the runners (no broker, nothing stored), and print the verdict."
    )

    def add_arguments(self, parser):
        parser.add_argument("--script", required=True, help="The Python script to run (it runs as main.py).")
        parser.add_argument("--requirements", default="", help='e.g. "torch==2.13.0 numpy<2".')
        parser.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
        parser.add_argument("--oracle", default="crash", choices=ORACLES)
        parser.add_argument("--repeat", type=int, default=1, help="Run N times and count how often the bug shows.")
        parser.add_argument("--timeout", type=float, default=300.0, help="Wall time limit per run, in seconds.")
        parser.add_argument("--memory-mb", type=int, default=4096, help="Memory limit per run.")
        parser.add_argument("--compare-device", choices=["cpu", "gpu"], help="Differential: side B's device.")
        parser.add_argument("--compare-requirements", default="", help="Differential: side B's requirements.")
        parser.add_argument("--rtol", type=float, default=1e-5)
        parser.add_argument("--atol", type=float, default=1e-8)
        parser.add_argument(
            "--expect",
            default="",
            help="The failure that shows the bug: an exception type, optionally with a message pattern after the "
            'colon ("IndexError: index out of range"), an exit code ("exit 3") or a signal ("SIGSEGV").',
        )
        parser.add_argument("--signature", default="", help="Crash oracle: the signature the run's trace must match.")
        parser.add_argument("--framework", default="", help="Crash oracle: the framework, for signature rules.")
        parser.add_argument("--json", action="store_true", help="Print one JSON object instead of text.")

    def handle(self, *args, **opts):
        path = Path(opts["script"])
        try:
            script = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"--script {path}: cannot read it as UTF-8 text ({exc}).") from None
        if not script.strip():
            raise CommandError(f"--script {path} is empty; give a Python script that shows the bug.")
        if not 1 <= opts["repeat"] <= 1000:
            raise CommandError("--repeat must be between 1 and 1000.")
        if not 0 < opts["timeout"] <= 86_400:
            raise CommandError("--timeout must be more than 0 and at most 86400 seconds.")
        if not 64 <= opts["memory_mb"] <= 1_048_576:
            raise CommandError("--memory-mb must be between 64 and 1048576.")
        oracle = opts["oracle"]
        a = Side(device=opts["device"], requirements=_requirements(opts["requirements"], "--requirements"))
        b = None
        if oracle == Reproducer.Oracle.DIFFERENTIAL:
            compare = _requirements(opts["compare_requirements"], "--compare-requirements")
            b = Side(device=opts["compare_device"] or a.device, requirements=compare or a.requirements)
            if b == a:
                raise CommandError(
                    "The differential oracle compares two configurations: add --compare-device or "
                    "--compare-requirements that differ from side A."
                )
        elif opts["compare_device"] or opts["compare_requirements"]:
            raise CommandError("--compare-device and --compare-requirements are only used with --oracle differential.")
        devices = {a.device} | ({b.device} if b else set())
        if "gpu" in devices:
            from django.conf import settings

            try:
                check_gpu_queue([GPU_QUEUE], command=settings.BUGSIFT_GPU_CHECK_COMMAND)
            except SystemExit as exc:
                raise CommandError(f"--device gpu: this machine has no usable GPU. {exc}") from None

        try:
            expectation = parse_expect(opts["expect"])
        except ExpectationError as exc:
            raise CommandError(f"--expect: {exc}") from None
        signature = (opts["signature"] or "").strip().lower()
        if signature and not re.fullmatch(r"[0-9a-f]{64}", signature):
            raise CommandError("--signature is the 64 hexadecimal characters of a crash group's signature.")
        if signature:
            expectation = Expectation(**{**expectation.as_dict(), "signature": signature, "source": "given"})
        config = RunnerConfig.from_settings()
        limits = Limits(wall_seconds=opts["timeout"], memory_mb=opts["memory_mb"])
        runs = []
        for number in range(opts["repeat"]):
            if b is None:
                outcome = execute_side(
                    script=script,
                    side=a,
                    oracle=oracle,
                    limits=limits,
                    config=config,
                    expectation=expectation,
                    framework=opts["framework"],
                )
                judgement = outcome.judgement or Judgement("inconclusive", "no verdict")
                run = {"verdict": judgement.verdict, **_judgement_json(judgement), "signature": judgement.signature}
                run.update(_side_json(outcome))
            else:
                out_a, out_b, comparison, judgement = execute_differential(
                    script=script, a=a, b=b, limits=limits, config=config, rtol=opts["rtol"], atol=opts["atol"]
                )
                run = {
                    "verdict": judgement.verdict,
                    **_judgement_json(judgement),
                    "comparison": comparison,
                    "side_a": {"device": a.device, "requirements": list(a.requirements), **_side_json(out_a)},
                    "side_b": {"device": b.device, "requirements": list(b.requirements), **_side_json(out_b)},
                }
            runs.append(run)
            if not opts["json"] and opts["repeat"] > 1:
                self.stderr.write(f"run {number + 1}/{opts['repeat']}: {run['verdict']}")
        self._print(runs, opts)

    def _print(self, runs: list[dict], opts) -> None:
        counts = Counter(run["verdict"] for run in runs)
        reproduced = counts.get("reproduced", 0)
        verdict = "reproduced" if reproduced else counts.most_common(1)[0][0]
        summary = check_summary([run["verdict"] for run in runs], total=len(runs))
        if opts["json"]:
            body = {"status": "done", "verdict": verdict, "summary": summary, "reproduced": reproduced}
            body.update({k: v for k, v in runs[-1].items() if k != "verdict"})
            if len(runs) > 1:
                body["runs"] = runs
            self.stdout.write(json.dumps(body, indent=None, default=str))
            return
        last = runs[-1]
        self.stdout.write(f"Verdict: {verdict} ({summary})")
        self.stdout.write(f"  {last['detail']}")
        if last.get("hint") and last["hint"] not in last["detail"]:
            self.stdout.write(f"  Hint: {last['hint']}")
        if not last.get("compared") and last.get("reason") == "no_expectation":
            self.stdout.write("  Nothing was compared: give --expect to judge the failure against the bug.")
        for label, data in (("", last), ("side A ", last.get("side_a")), ("side B ", last.get("side_b"))):
            if not data or "exit_code" not in data:
                continue
            signal = f", signal {data['signal']}" if data.get("signal") else ""
            limit = f", stopped by the {data['limit_hit']} limit" if data.get("limit_hit") else ""
            self.stdout.write(
                f"  {label}exit {data['exit_code']}{signal}{limit}, {data['duration_ms']} ms, "
                f"peak memory {data['peak_memory_kb'] // 1024} MB"
            )
            for stream in ("stdout", "stderr"):
                tail = (data.get(f"{stream}_tail") or "").rstrip()
                if tail:
                    self.stdout.write(f"  --- {label}{stream} (last lines) ---")
                    self.stdout.write("\n".join("  " + line for line in tail.splitlines()[-15:]))
        for item in (last.get("comparison") or {}).get("items", []):
            self.stdout.write(f"  {item['name']}: {item['status']} {item.get('detail', '')}")
