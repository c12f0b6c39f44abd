"""A survey definition with every question kind, and random answers to it written as a raw CSV.

The CSV is written here with the standard library only, so that tests can count it with a plain
``Counter`` (the independent computation) and compare with what the app computes.
"""

from __future__ import annotations

import csv
import datetime
import io
import random

DEFINITION = {
    "title": "Developers on silent bugs",
    "intro": "Thank you.",
    "consent": "We store no names.",
    "sections": [
        {
            "title": "You",
            "description": "",
            "questions": [
                {
                    "code": "familiar",
                    "kind": "single",
                    "text": "Do you use Keras?",
                    "options": ["Yes", "No"],
                    "required": True,
                },
                {"code": "tools", "kind": "multi", "text": "Which tools?", "options": ["pdb", "=SUM(A1)", "prints"]},
                {
                    "code": "scale",
                    "kind": "likert",
                    "text": "Silent bugs are common",
                    "min": 1,
                    "max": 5,
                    "min_label": "Disagree",
                    "max_label": "Agree",
                },
                {"code": "years", "kind": "number", "text": "Years of experience", "min": 0},
            ],
        },
        {
            "title": "Wrong shape",
            "description": "A tensor ends up with a wrong shape.",
            "questions": [
                {
                    "code": "wrong_shape",
                    "kind": "matrix",
                    "text": "About this category",
                    "min": 1,
                    "max": 5,
                    "rows": [
                        {"code": "clear", "text": "The definition is clear"},
                        {"code": "relevant", "text": "The category is relevant"},
                    ],
                    "category": "effect/wrong_shape",
                },
                {"code": "comments", "kind": "text", "text": "Comments", "long": True, "required": False},
            ],
        },
    ],
}

# The raw CSV another tool would give: its own column names, multiple choice joined by ";".
RAW_COLUMNS = ["Timestamp", "Q1 Keras", "Q2 Tools", "Q3 Common", "Q4 Years", "Q5a Clear", "Q5b Relevant", "Q6"]
RAW_MAPPING = {
    "Timestamp": "submitted",
    "Q1 Keras": "familiar",
    "Q2 Tools": "tools",
    "Q3 Common": "scale",
    "Q4 Years": "years",
    "Q5a Clear": "wrong_shape.clear",
    "Q5b Relevant": "wrong_shape.relevant",
    "Q6": "comments",
}


def raw_rows(n: int, seed: int = 15) -> list[dict]:
    """``n`` random responses as the raw CSV's rows (every optional answer sometimes missing)."""
    rng = random.Random(seed)
    rows = []
    start = datetime.date(2026, 11, 2)
    for _ in range(n):
        maybe = lambda value: value if rng.random() > 0.15 else ""  # noqa: E731
        tools = [t for t in ("pdb", "=SUM(A1)", "prints") if rng.random() < 0.5]
        rows.append(
            {
                "Timestamp": (start + datetime.timedelta(days=rng.randrange(20))).isoformat(),
                "Q1 Keras": rng.choice(["Yes", "No"]),
                "Q2 Tools": maybe(";".join(tools)),
                "Q3 Common": maybe(str(rng.randint(1, 5))),
                "Q4 Years": maybe(str(rng.randint(0, 25))),
                "Q5a Clear": maybe(str(rng.choice([1, 2, 3, 4, 4, 5, 5, 5]))),
                "Q5b Relevant": maybe(str(rng.randint(1, 5))),
                "Q6": maybe(rng.choice(["", "Nice", "-1 is a bug", "Shapes, again\nand again", '=HYPERLINK("x")'])),
            }
        )
    return rows


def raw_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=RAW_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def answers_of(raw: dict) -> dict:
    """The answering API's answers for one raw row (the fixture's own, independent conversion)."""
    answers = {"familiar": raw["Q1 Keras"]}
    if raw["Q2 Tools"]:
        answers["tools"] = raw["Q2 Tools"].split(";")
    if raw["Q3 Common"]:
        answers["scale"] = int(raw["Q3 Common"])
    if raw["Q4 Years"]:
        answers["years"] = int(raw["Q4 Years"])
    matrix = {k: int(raw[c]) for k, c in (("clear", "Q5a Clear"), ("relevant", "Q5b Relevant")) if raw[c]}
    if matrix:
        answers["wrong_shape"] = matrix
    if raw["Q6"]:
        answers["comments"] = raw["Q6"]
    return answers


def expected_results(rows: list[dict]) -> dict:
    """Counts computed straight from the raw rows with Counters: the independent oracle."""
    from collections import Counter

    def counted(column):
        values = [r[column] for r in rows if r[column] != ""]
        return len(values), Counter(values)

    out = {"responses": len(rows)}
    for column in ("Q1 Keras", "Q3 Common", "Q5a Clear", "Q5b Relevant", "Q4 Years"):
        out[column] = counted(column)
    tools = [r["Q2 Tools"] for r in rows if r["Q2 Tools"] != ""]
    out["Q2 Tools"] = (len(tools), Counter(t for v in tools for t in v.split(";")))
    out["Q6"] = [r["Q6"] for r in rows if r["Q6"] != ""]
    out["wrong_shape answered"] = sum(1 for r in rows if r["Q5a Clear"] or r["Q5b Relevant"])
    return out
