"""Bisection over an ordered list of versions: which version to run next, and when to stop.

    bisect_next(versions, outcomes) -> BisectStep

Pure: the worker runs the reproducer pinned to ``step.version``, records "bad" (the bug shows),
"good" or "skip" (could not be judged: the build failed, the run was inconclusive) and calls
again with the outcomes so far, until ``step.done``. Keeping the state in the outcomes alone makes
a bisection safe to resume after a runner dies.

The two ends are run first: the same outcome at both ends means the bug did not come or go in
this range (mode "no_change"). good -> bad is "introduced" (last_good, first_bad); bad -> good is
"fixed" (last_bad, first_good). Then a binary search between the nearest known versions of each
state, stepping around skipped versions; an end that is skipped is replaced by its inward
neighbour.
"""

from __future__ import annotations

from dataclasses import dataclass

OUTCOMES = ("bad", "good", "skip")


@dataclass
class BisectStep:
    version: str | None  # the next version to run; None when done
    done: bool
    result: dict


def _validate(versions: list[str], outcomes: dict[str, str]) -> None:
    if len(versions) < 2:
        raise ValueError(f"bisection needs at least two versions, got {len(versions)}; list them oldest first")
    seen: set[str] = set()
    for version in versions:
        if version in seen:
            raise ValueError(f"version {version!r} is listed twice; list each version once, oldest first")
        seen.add(version)
    for version, outcome in outcomes.items():
        if version not in seen:
            raise ValueError(f"an outcome was given for {version!r}, which is not in the list of versions")
        if outcome not in OUTCOMES:
            raise ValueError(f"the outcome for {version!r} is {outcome!r}; use one of: {', '.join(OUTCOMES)}")


def _result(mode: str, message: str, outcomes: dict[str, str], versions: list[str], **bounds) -> dict:
    """Every result has the same keys, so callers and templates never guess."""
    return {
        "mode": mode,
        "message": message,
        "last_good": bounds.get("last_good"),
        "first_bad": bounds.get("first_bad"),
        "last_bad": bounds.get("last_bad"),
        "first_good": bounds.get("first_good"),
        "skipped": [v for v in versions if outcomes.get(v) == "skip"],
        "steps": sum(1 for v in versions if v in outcomes),
    }


def _find_end(versions: list[str], outcomes: dict[str, str], indexes) -> tuple[int | None, int | None]:
    """(index of the first judged version along indexes, index of the first untested one before it)."""
    for i in indexes:
        outcome = outcomes.get(versions[i])
        if outcome is None:
            return None, i
        if outcome != "skip":
            return i, None
    return None, None


def _bounds(mode: str, versions: list[str], low: int, high: int) -> dict:
    if mode == "introduced":
        return {"last_good": versions[low], "first_bad": versions[high]}
    return {"last_bad": versions[low], "first_good": versions[high]}


def _range_message(mode: str, versions: list[str], low: int, high: int, skipped: list[str]) -> str:
    a, b = versions[low], versions[high]
    verb = "introduced" if mode == "introduced" else "fixed"
    first_state, second_state = ("good", "bad") if mode == "introduced" else ("bad", "good")
    if high == low + 1:
        return f"The bug was {verb} in {b}: {a} is the last {first_state} version, {b} the first {second_state} one."
    return (
        f"The bug was {verb} between {a} ({first_state}) and {b} ({second_state}); "
        f"{', '.join(skipped)} in between could not be judged."
    )


def bisect_next(versions: list[str], outcomes: dict[str, str]) -> BisectStep:
    """The next version to run, or the final result when the range cannot be narrowed further."""
    versions = [str(v) for v in versions]
    _validate(versions, outcomes)
    n = len(versions)

    low, untested = _find_end(versions, outcomes, range(n))
    if low is None and untested is not None:
        return BisectStep(
            versions[untested],
            False,
            _result("pending", f"Testing the oldest end, {versions[untested]}.", outcomes, versions),
        )
    high, untested = _find_end(versions, outcomes, range(n - 1, low if low is not None else -1, -1))
    if high is None and untested is not None:
        return BisectStep(
            versions[untested],
            False,
            _result("pending", f"Testing the newest end, {versions[untested]}.", outcomes, versions),
        )
    if low is None or high is None:
        judged = [v for v in versions if outcomes.get(v) in ("good", "bad")]
        message = (
            "Bisection could not start: fewer than two versions could be judged "
            f"({', '.join(judged) or 'none'}); fix the builds of the skipped versions or widen the list."
        )
        return BisectStep(None, True, _result("inconclusive", message, outcomes, versions))

    start_state, end_state = outcomes[versions[low]], outcomes[versions[high]]
    if start_state == end_state:
        shows = "shows in both" if start_state == "bad" else "does not show in either"
        message = f"No change: the bug {shows} end of the range ({versions[low]} and {versions[high]})."
        return BisectStep(None, True, _result("no_change", message, outcomes, versions))

    mode = "introduced" if start_state == "good" else "fixed"
    # The first version (after the start) in the end state, and the last version before it in the
    # start state: an adjacent pair of known states with only untested or skipped versions between.
    right = next(i for i in range(low + 1, high + 1) if outcomes.get(versions[i]) == end_state)
    left = next(i for i in range(right - 1, low - 1, -1) if outcomes.get(versions[i]) == start_state)
    candidates = [i for i in range(left + 1, right) if versions[i] not in outcomes]
    bounds = _bounds(mode, versions, left, right)
    if not candidates:
        skipped = [versions[i] for i in range(left + 1, right)]
        message = _range_message(mode, versions, left, right, skipped)
        return BisectStep(None, True, _result(mode, message, outcomes, versions, **bounds))
    middle = (left + right) / 2
    pick = min(candidates, key=lambda i: (abs(i - middle), i))
    message = f"The bug was {mode} between {versions[left]} and {versions[right]}; testing {versions[pick]}."
    return BisectStep(versions[pick], False, _result(mode, message, outcomes, versions, **bounds))
