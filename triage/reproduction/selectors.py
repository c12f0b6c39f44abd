"""Reads for the reproduction pages and API: reproducers of a report, reproductions with their runs,
bisection timelines, runners with an alive flag, and the labels a confirmed reproduction suggests.

Writes live in ``triage.reproduction.services``; nothing here changes a row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Exists, JSONField, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.utils import timezone

from triage.models import CodeBlock, Report, Reproducer, Reproduction, ReproductionRun, Runner
from triage.reproduction.expectations import Expectation, signal_name
from triage.reproduction.services import runner_alive

Verdict = ReproductionRun.Verdict

# The symptom a confirmed reproduction suggests, by oracle (codebook dimension "symptom").
SUGGESTED_SYMPTOM = {
    Reproducer.Oracle.CRASH: "crash",
    Reproducer.Oracle.HANG: "hang",
    Reproducer.Oracle.ASSERTION: "incorrect_functionality",
    Reproducer.Oracle.DIFFERENTIAL: "incorrect_functionality",
}
SUGGESTED_DIMENSION = "symptom"

# The run fields the pages and API show; the raw ``captures`` blob (an .npz, up to 20 MB) is never loaded.
HEAVY_RUN_FIELDS = ("captures",)


def runs_queryset() -> QuerySet[ReproductionRun]:
    """Runs with their runner and environment, without the captured arrays."""
    return ReproductionRun.objects.select_related("runner", "environment").defer(*HEAVY_RUN_FIELDS)


# --------------------------------------------------------------------------- reproducers of a report


def reproducers_for(report: Report) -> list[Reproducer]:
    """The report's reproducers, newest first, each with its reproductions (newest first) and their runs."""
    runs = Prefetch("runs", queryset=ReproductionRun.objects.defer(*HEAVY_RUN_FIELDS).order_by("index", "side"))
    reproductions = Prefetch(
        "reproductions", queryset=Reproduction.objects.order_by("-created_at", "-id").prefetch_related(runs)
    )
    reproducers = list(
        Reproducer.objects.filter(report=report).select_related("code_block").prefetch_related(reproductions)
    )
    for reproducer in reproducers:
        for reproduction in reproducer.reproductions.all():
            reproduction.timeline = bisect_timeline(reproduction, list(reproduction.runs.all()))
    return reproducers


def python_code_blocks(report: Report) -> list[CodeBlock]:
    """The report's Python code blocks: what the empty state offers as a start for a reproducer."""
    return list(CodeBlock.objects.filter(report=report, is_python=True))


def code_blocks_for_form(report: Report) -> list[CodeBlock]:
    """Every code block of the report, Python first (the model's ordering), for the attach form."""
    return list(CodeBlock.objects.filter(report=report))


def crash_reproducer_prefill(report: Report) -> str:
    """For a crash report, the crash group's smallest reproducer: a ready-made script to start from."""
    if report.kind != Report.Kind.CRASH:
        return ""
    group = getattr(report, "crash_group", None)
    return group.smallest_reproducer if group is not None else ""


# --------------------------------------------------------------------------- bisection timeline


@dataclass
class TimelineStep:
    """One version of a bisection: tried or not, and where it sits relative to the boundary."""

    version: str
    outcome: str = "untested"  # good | bad | skip | running | untested
    run: ReproductionRun | None = None
    boundary: str = ""  # "last_good", "first_bad", "last_bad", "first_good" or ""
    classes: list[str] = field(default_factory=list)


OUTCOME_OF_VERDICT = {Verdict.REPRODUCED: "bad", Verdict.NOT_REPRODUCED: "good"}


def _outcome(run: ReproductionRun) -> str:
    if run.status != ReproductionRun.Status.DONE:
        return "running"
    return OUTCOME_OF_VERDICT.get(run.verdict, "skip")


def bisect_timeline(reproduction: Reproduction, runs: list[ReproductionRun]) -> list[TimelineStep]:
    """The versions in order, each marked good, bad, skipped or untested, with the boundary named.

    Empty for a check. The boundary comes from the stored ``bisect_result`` (the bisection's own
    answer), not from re-deriving it, so the page shows exactly what the worker concluded.
    """
    if reproduction.kind != Reproduction.Kind.BISECT:
        return []
    by_version = {run.version: run for run in runs if run.version}
    result = reproduction.bisect_result or {}
    bounds = {result.get(key): key for key in ("last_good", "first_bad", "last_bad", "first_good") if result.get(key)}
    steps = []
    for version in reproduction.versions or []:
        run = by_version.get(version)
        step = TimelineStep(version=version, run=run, outcome=_outcome(run) if run else "untested")
        step.boundary = bounds.get(version, "")
        step.classes = [f"step-{step.outcome}"] + (["boundary"] if step.boundary else [])
        steps.append(step)
    return steps


# --------------------------------------------------------------------------- one reproduction


def reproduction_detail(*, pk: int) -> Reproduction:
    """A reproduction with its reproducer and report; DoesNotExist when there is none."""
    return Reproduction.objects.select_related("reproducer", "reproducer__report", "requested_by").get(pk=pk)


def reproduction_runs(reproduction: Reproduction) -> list[ReproductionRun]:
    return list(runs_queryset().filter(reproduction=reproduction).order_by("index", "side"))


@dataclass
class RunView:
    """A run with what the page shows beside its fields: dropped bytes, outputs and notes as lists."""

    run: ReproductionRun
    stdout_dropped: int
    stderr_dropped: int
    outputs: list[dict]
    notes: list[str]
    comparison_items: list[dict]


def dropped_bytes(total: int, tail: str) -> int:
    """Bytes written beyond the kept tail (counted by the sandbox, then dropped)."""
    return max(0, (total or 0) - len((tail or "").encode("utf-8")))


def _outputs(run: ReproductionRun) -> tuple[list[dict], list[str]]:
    outputs = run.outputs if isinstance(run.outputs, dict) else {}
    notes = [str(n) for n in outputs.get("_notes", [])]
    rows = [{"name": name, **summary} for name, summary in sorted(outputs.items()) if isinstance(summary, dict)]
    return rows, notes


def run_view(run: ReproductionRun) -> RunView:
    outputs, notes = _outputs(run)
    comparison = run.comparison if isinstance(run.comparison, dict) else {}
    return RunView(
        run=run,
        stdout_dropped=dropped_bytes(run.stdout_bytes, run.stdout_tail),
        stderr_dropped=dropped_bytes(run.stderr_bytes, run.stderr_tail),
        outputs=outputs,
        notes=notes,
        comparison_items=list(comparison.get("items", [])) if run.side == ReproductionRun.Side.A else [],
    )


def expectation_text(expectation: dict) -> str:
    """A stored expectation in the ``--expect`` syntax, for a form's initial value ("" when none or a signature)."""
    found = Expectation.from_dict(expectation)
    if found.empty or (found.signature and not found.exception_type):
        return ""
    if found.exception_type:
        return found.exception_type + (f": {found.message_pattern}" if found.message_pattern else "")
    if found.exit_code is not None:
        return f"exit {found.exit_code}"
    return signal_name(found.signal) if found.signal else ""


def verdict_history(run: ReproductionRun) -> list[dict]:
    """The run's verdicts, newest first, each with its expectation in words."""
    entries = [dict(e) for e in (run.verdict_history or []) if isinstance(e, dict)]
    for entry in entries:
        entry["expectation_text"] = Expectation.from_dict(entry.get("expectation") or {}).describe()
        entry["verdict_label"] = Verdict(entry["verdict"]).label if entry.get("verdict") in Verdict.values else ""
    return list(reversed(entries))


def run_detail(*, pk: int) -> ReproductionRun:
    """One run with its reproduction, reproducer and report; DoesNotExist when there is none."""
    return runs_queryset().select_related("reproduction", "reproducer", "reproducer__report").get(pk=pk)


# --------------------------------------------------------------------------- runners


def runners_list(*, now=None) -> list[tuple[Runner, bool]]:
    """Every runner with whether it is alive now (heartbeat recent and not stopped); alive ones first."""
    now = now or timezone.now()
    rows = [(runner, runner_alive(runner, now=now)) for runner in Runner.objects.order_by("name")]
    return sorted(rows, key=lambda row: not row[1])


# --------------------------------------------------------------------------- label suggestions


def label_suggestions_for(report: Report) -> list[dict]:
    """What the reproductions of ``report`` suggest for the annotator to accept (one query).

    * a trustworthy run -- verdict "reproduced" *and* it matched an expectation (the crash group's
      signature, the expected exception and message, the declared exit code; a differential run's sides
      differed; a hang ran past its time limit) -- suggests a symptom by its oracle (codebook dimension
      ``symptom``); a confirmed differential run also suggests the silent-bug ``effect``: a wrong shape
      when a compared result's shape differed, else a wrong calculation. A crash judged with nothing to
      compare, or by the old any-non-zero-exit rule, suggests nothing;
    * a finished bisection suggests the text answers ``buggy_version`` (and ``fixed_version`` for a fix),
      which the silent-bug codebook records for every bug.

    Each suggestion lists its evidence (``runs``: reproduction, first matched run, summary), newest first;
    two reproductions suggesting the same category share one suggestion. Two categories of one dimension
    are both returned: the label page shows them together as conflicting evidence. Suggestions come from
    runs, never from other annotators' labels; whether a study shows them is its own setting.
    """
    matched_runs = ReproductionRun.objects.filter(
        reproduction=OuterRef("pk"), verdict=Verdict.REPRODUCED, expectation_matched=True
    ).order_by("index", "side")
    rows = (
        Reproduction.objects.filter(reproducer__report=report)
        .annotate(
            confirmed=Exists(matched_runs),
            first_run=Subquery(matched_runs.values("pk")[:1]),
            comparison=Subquery(matched_runs.exclude(comparison={}).values("comparison")[:1], output_field=JSONField()),
        )
        .filter(Q(confirmed=True) | Q(kind=Reproduction.Kind.BISECT, status=Reproduction.Status.DONE))
        .values_list(
            "pk",
            "kind",
            "package",
            "bisect_result",
            "reproducer__oracle",
            "confirmed",
            "comparison",
            "first_run",
            "summary",
        )
        .order_by("-pk")
    )
    suggestions: dict[tuple[str, str], dict] = {}

    def suggest(dimension: str, reason: str, evidence: dict, *, category: str = "", text: str = "") -> None:
        key = (dimension, category or text)
        if text and key not in suggestions and any(d == dimension for d, _ in suggestions):
            return  # one text answer per dimension: the newest bisection's
        entry = suggestions.get(key)
        if entry is None:
            entry = {"dimension_code": dimension, "reason": reason, "runs": []}
            entry.update({"category_code": category} if category else {"text": text})
            suggestions[key] = entry
        entry["runs"].append(evidence)

    for pk, kind, package, result, oracle, confirmed, comparison, first_run, summary in rows:
        evidence = {"reproduction": pk, "run": first_run, "summary": summary, "oracle": oracle}
        if confirmed:
            reason = f"confirmed by reproduction #{pk} ({oracle} oracle, {summary or 'done'})"
            if oracle in SUGGESTED_SYMPTOM:
                suggest(SUGGESTED_DIMENSION, reason, evidence, category=SUGGESTED_SYMPTOM[oracle])
            if oracle == Reproducer.Oracle.DIFFERENTIAL:
                statuses = {item.get("status") for item in (comparison or {}).get("items", [])}
                category = "wrong_shape" if "shape" in statuses else "wrong_calculation"
                suggest("effect", reason, evidence, category=category)
        if kind == Reproduction.Kind.BISECT and result:
            mode, reason = result.get("mode"), f"found by bisection #{pk} over {package} versions"
            if mode == "introduced" and result.get("first_bad"):
                suggest("buggy_version", reason, evidence, text=f"{package}=={result['first_bad']}")
            elif mode == "fixed" and result.get("first_good"):
                suggest("fixed_version", reason, evidence, text=f"{package}=={result['first_good']}")
                if result.get("last_bad"):
                    suggest("buggy_version", reason, evidence, text=f"{package}=={result['last_bad']}")
    return list(suggestions.values())
