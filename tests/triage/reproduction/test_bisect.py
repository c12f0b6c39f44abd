"""Bisection: ends first, binary search, skips, and the step bound."""

import math

import pytest

from triage.reproduction.bisect import bisect_next

V = ["1.0", "1.1", "1.2", "1.3", "1.4", "1.5"]


def drive(versions, truth):
    """Run bisect_next to the end against a truth table; return (final step, versions run in order)."""
    outcomes, ran = {}, []
    for _ in range(len(versions) + 1):
        step = bisect_next(versions, outcomes)
        if step.done:
            return step, ran
        assert step.version not in outcomes, "never runs a version twice"
        ran.append(step.version)
        outcomes[step.version] = truth[step.version]
    raise AssertionError("bisection did not finish")


def test_ends_first():
    first = bisect_next(V, {})
    assert first.version == "1.0" and not first.done and first.result["mode"] == "pending"
    assert bisect_next(V, {"1.0": "good"}).version == "1.5"


def test_introduced():
    truth = {v: ("bad" if v >= "1.3" else "good") for v in V}
    step, ran = drive(V, truth)
    assert ran[:2] == ["1.0", "1.5"]
    r = step.result
    assert r["mode"] == "introduced" and r["last_good"] == "1.2" and r["first_bad"] == "1.3"
    assert r["steps"] == len(ran) and r["skipped"] == []
    assert "introduced in 1.3" in r["message"]


def test_fixed():
    truth = {v: ("bad" if v <= "1.1" else "good") for v in V}
    step, _ = drive(V, truth)
    r = step.result
    assert r["mode"] == "fixed" and r["last_bad"] == "1.1" and r["first_good"] == "1.2"
    assert r["last_good"] is None and r["first_bad"] is None and "fixed in 1.2" in r["message"]


@pytest.mark.parametrize("state, words", [("bad", "shows in both"), ("good", "does not show")])
def test_no_change(state, words):
    step, ran = drive(V, {v: state for v in V})
    assert ran == ["1.0", "1.5"] and step.result["mode"] == "no_change" and words in step.result["message"]


def test_skipped_middle_versions_give_a_range():
    truth = {"1.0": "good", "1.1": "good", "1.2": "skip", "1.3": "skip", "1.4": "bad", "1.5": "bad"}
    step, ran = drive(V, truth)
    r = step.result
    assert r["mode"] == "introduced" and (r["last_good"], r["first_bad"]) == ("1.1", "1.4")
    assert r["skipped"] == ["1.2", "1.3"] and "could not be judged" in r["message"]
    assert set(ran) == set(V)  # it had to try every one of them to narrow the range


def test_skipped_end_moves_inward():
    truth = {"1.0": "skip", "1.1": "good", "1.2": "good", "1.3": "bad", "1.4": "bad", "1.5": "skip"}
    outcomes = {"1.0": "skip"}
    assert bisect_next(V, outcomes).version == "1.1"
    outcomes["1.1"] = "good"
    assert bisect_next(V, outcomes).version == "1.5"
    outcomes["1.5"] = "skip"
    assert bisect_next(V, outcomes).version == "1.4"
    step, _ = drive(V, truth)
    assert (step.result["last_good"], step.result["first_bad"]) == ("1.2", "1.3")
    assert step.result["skipped"] == ["1.0", "1.5"]


def test_everything_skipped_is_inconclusive():
    step, _ = drive(V, {v: "skip" for v in V})
    assert step.done and step.result["mode"] == "inconclusive" and "could not start" in step.result["message"]
    only_one = drive(["a", "b"], {"a": "good", "b": "skip"})[0]
    assert only_one.result["mode"] == "inconclusive" and "a" in only_one.result["message"]


@pytest.mark.parametrize(
    "versions, outcomes, words",
    [
        (["1.0"], {}, "at least two"),
        ([], {}, "at least two"),
        (["1.0", "1.1", "1.0"], {}, "listed twice"),
        (["1.0", "1.1"], {"2.0": "bad"}, "not in the list"),
        (["1.0", "1.1"], {"1.0": "broken"}, "use one of"),
    ],
)
def test_bad_input(versions, outcomes, words):
    with pytest.raises(ValueError, match=words):
        bisect_next(versions, outcomes)


@pytest.mark.parametrize("n", range(2, 13))
def test_finds_every_boundary_within_the_step_bound(n):
    versions = [f"{i}.0" for i in range(n)]
    bound = math.ceil(math.log2(n)) + 2
    for boundary in range(1, n):  # first bad index
        for mode, (before, after) in (("introduced", ("good", "bad")), ("fixed", ("bad", "good"))):
            truth = {v: (before if i < boundary else after) for i, v in enumerate(versions)}
            step, ran = drive(versions, truth)
            r = step.result
            assert r["mode"] == mode, (n, boundary)
            low, high = ("last_good", "first_bad") if mode == "introduced" else ("last_bad", "first_good")
            assert (r[low], r[high]) == (versions[boundary - 1], versions[boundary]), (n, boundary, ran)
            assert len(ran) <= bound, (n, boundary, ran)
            assert r["steps"] == len(ran)
