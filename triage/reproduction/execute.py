"""One run of a script on this machine: environment, then sandbox, then oracle.

Shared by the Celery runner (``triage.reproduction.services.run_execute``) and
``manage.py reproduce`` so that what a researcher checks by hand is what the runners do.

    RunnerConfig.from_settings()
    execute_side(script=, side=, oracle=, limits=, config=, ...) -> SideOutcome
    execute_differential(script=, a=, b=, ...) -> tuple[SideOutcome, SideOutcome, comparison, Judgement]
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from triage.reproduction.environments import BuildResult, environment_ensure
from triage.reproduction.expectations import Expectation
from triage.reproduction.oracles import (
    Judgement,
    compare_captures,
    judge,
    judge_differential,
    load_captures,
)
from triage.reproduction.sandbox import Limits, SandboxResult, SandboxUnavailable, interpreter_binds, run_script

DIFFERENTIAL = "differential"


@dataclass(frozen=True, slots=True)
class RunnerConfig:
    """How this machine builds environments and runs scripts (from settings)."""

    root: Path
    base_python: str
    system_site_packages: bool = False
    wheel_dir: str = ""
    offline: bool = False
    installer: str = "auto"
    build_timeout: float = 1800
    unsafe_no_sandbox: bool = False

    @classmethod
    def from_settings(cls) -> RunnerConfig:
        from django.conf import settings

        return cls(
            root=Path(settings.BUGSIFT_REPRO_DIR).resolve(),
            base_python=settings.BUGSIFT_REPRO_PYTHON,
            system_site_packages=settings.BUGSIFT_REPRO_SYSTEM_SITE_PACKAGES,
            wheel_dir=settings.BUGSIFT_REPRO_WHEEL_DIR,
            offline=settings.BUGSIFT_REPRO_OFFLINE,
            installer=settings.BUGSIFT_REPRO_INSTALLER,
            build_timeout=settings.BUGSIFT_REPRO_BUILD_TIMEOUT,
            unsafe_no_sandbox=settings.BUGSIFT_SANDBOX_UNSAFE_NO_SANDBOX,
        )


@dataclass(frozen=True, slots=True)
class Side:
    """One configuration a script runs in: a device and a set of requirements."""

    device: str
    requirements: tuple[str, ...] = ()


@dataclass(slots=True)
class SideOutcome:
    build: BuildResult | None
    result: SandboxResult | None
    arrays: dict = field(default_factory=dict)
    capture_errors: list[str] = field(default_factory=list)
    judgement: Judgement | None = None  # None for one side of a differential run (judged as a pair)

    @property
    def finished(self) -> bool:
        """The script ran to an end (not stopped by a build failure or a refusal)."""
        return self.result is not None


def result_fields(result: SandboxResult) -> dict:
    """What a run reports about its process: the fields of a ReproductionRun and of `reproduce --json`."""
    return {
        "exit_code": result.exit_code,
        "signal": result.signal,
        "limit_hit": result.limit_hit,
        "duration_ms": int(result.duration_s * 1000),
        "peak_memory_kb": result.peak_memory_kb,
        "stdout_tail": result.stdout_tail,
        "stderr_tail": result.stderr_tail,
        "stdout_bytes": result.stdout_bytes,
        "stderr_bytes": result.stderr_bytes,
    }


def _last_line(log: str) -> str:
    lines = [line.strip() for line in (log or "").splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


_NO_DISTRIBUTION = re.compile(
    r"(?:No matching distribution found for|Because there are no versions of) (?P<req>[^\s(]+)"
)


def build_failed_judgement(log: str) -> Judgement:
    """An environment that did not build: the bug could not show, so the run is inconclusive."""
    if m := _NO_DISTRIBUTION.search(log or ""):
        hint = f"check the name and version of `{m['req']}` in the requirements (is it on the package index?)"
    else:
        hint = "read the build log below and correct the requirements"
    return Judgement(
        "inconclusive",
        f"The environment could not be built: {_last_line(log)}. Hint: {hint}.",
        reason="build_failed",
        hint=hint,
    )


def execute_side(
    *,
    script: str,
    side: Side,
    oracle: str,
    limits: Limits,
    config: RunnerConfig,
    expected_signature: str = "",
    expectation: Expectation | None = None,
    framework: str = "",
    after_sandbox=None,
) -> SideOutcome:
    """Build (or reuse) the side's environment, run the script in the sandbox, judge it.

    A build failure and a missing sandbox are verdicts of their own, never exceptions. ``after_sandbox``
    (no arguments) is called once the sandbox has exited, before its captures are read, its scratch
    directory deleted and the run judged: a runner starts claiming its next run there.
    """
    build = environment_ensure(
        list(side.requirements),
        root=config.root,
        base_python=config.base_python,
        system_site_packages=config.system_site_packages,
        wheel_dir=config.wheel_dir,
        offline=config.offline,
        installer=config.installer,
        timeout=config.build_timeout,
    )
    if not build.ok:
        return SideOutcome(build=build, result=None, judgement=build_failed_judgement(build.log))

    scratch_root = config.root / "scratch"
    scratch_root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="run-", dir=scratch_root))
    try:
        try:
            result = run_script(
                script=script,
                python=build.python,
                scratch=scratch,
                limits=limits,
                device=side.device,
                ro_binds=[*interpreter_binds(build.python), build.env_dir],
                unsafe_no_sandbox=config.unsafe_no_sandbox,
            )
        except SandboxUnavailable as exc:
            refused = Judgement("refused", str(exc), reason="no_sandbox", hint="install bubblewrap on the runner")
            return SideOutcome(build=build, result=None, judgement=refused)
        if after_sandbox is not None:
            after_sandbox()
        arrays, capture_errors = load_captures(result.captures_dir)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    judgement = None
    if oracle != DIFFERENTIAL:
        judgement = judge(
            oracle=oracle,
            result=result,
            expectation=expectation,
            expected_signature=expected_signature,
            framework=framework,
        )
    return SideOutcome(build=build, result=result, arrays=arrays, capture_errors=capture_errors, judgement=judgement)


def judge_pair(a: SideOutcome, b: SideOutcome, *, rtol: float, atol: float) -> tuple[dict, Judgement]:
    """The verdict of a differential run from its two sides."""
    for name, side in (("A", a), ("B", b)):
        if not side.finished:
            judgement = side.judgement or Judgement("inconclusive", "did not run")
            return {}, Judgement(judgement.verdict, f"Side {name}: {judgement.detail}")
    comparison = compare_captures(a.arrays, b.arrays, rtol=rtol, atol=atol)
    return comparison, judge_differential(a=a.result, b=b.result, comparison=comparison)


def execute_differential(
    *, script: str, a: Side, b: Side, limits: Limits, config: RunnerConfig, rtol: float, atol: float
) -> tuple[SideOutcome, SideOutcome, dict, Judgement]:
    """Run both sides here, one after the other, and compare what they saved."""
    out_a = execute_side(script=script, side=a, oracle=DIFFERENTIAL, limits=limits, config=config)
    out_b = execute_side(script=script, side=b, oracle=DIFFERENTIAL, limits=limits, config=config)
    comparison, judgement = judge_pair(out_a, out_b, rtol=rtol, atol=atol)
    return out_a, out_b, comparison, judgement
