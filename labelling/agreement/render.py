"""The agreement JSON as text: pretty JSON (command, export) and a plain-text table (command)."""

from __future__ import annotations

import json


def agreement_json(result: dict) -> str:
    return json.dumps(result, indent=2, ensure_ascii=False)


def fmt(value, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def fmt_ci(ci) -> str:
    return "-" if not ci else f"[{fmt(ci[0])}, {fmt(ci[1])}]"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return lines


def coefficient_rows(figures: dict) -> list[list[str]]:
    """(figure, value, 95% CI, band, items, note) rows of one dimension's (or parent level's) figures."""
    f, a, g = figures["fleiss_kappa"], figures["krippendorff_alpha"], figures["gwet_ac1"]
    resamples = f.get("resamples") or a.get("resamples")
    return [
        ["percent agreement", fmt(figures["percent_agreement"]), "-", "-", str(figures["items"]), ""],
        [
            "Fleiss' kappa",
            fmt(f["value"]),
            fmt_ci(f["ci95"]),
            f["band"] or "-",
            str(f["items"]),
            f"items with {f['labels_per_item']} labels; bootstrap, {resamples} resamples"
            if f["labels_per_item"]
            else "",
        ],
        [
            "Krippendorff's alpha",
            fmt(a["value"]),
            fmt_ci(a["ci95"]),
            a["band"] or "-",
            str(a["items"]),
            f"{a['distance']} distance; bootstrap, {resamples} resamples",
        ],
        ["Gwet's AC1", fmt(g["value"]), "-", g["band"] or "-", str(figures["items"]), f"{g['categories']} categories"],
    ]


def agreement_table(result: dict) -> str:
    lines = [f"Agreement of study '{result['study']}'"]
    if result.get("round"):
        r = result["round"]
        lines.append(
            f"Calibration round '{r['name']}' (id {r['id']}), pass {r['pass']} of {r['passes']}: its items only."
        )
    boot = result["bootstrap"]
    lines.append(f"95% intervals: {boot['method']}, {boot['resamples']} resamples, seed {boot['seed']}.")
    for d in result["dimensions"]:
        lines.append("")
        lines.append(f"== {d['code']} ({d['name']}), {d['level']}")
        if d.get("skipped"):
            lines.append(d["skipped"])
            continue
        lines.append(
            f"{d['items']} items with >= 2 labels, {d['raters']} raters, {d['labels']} labels"
            f" ({d['items_with_one_label']} items with one label are left out)"
        )
        header = ["figure", "value", "95% CI", "band", "items", "note"]
        lines += _table(header, coefficient_rows(d))
        if d["cohen_kappa"]:
            lines.append("")
            pairs = [
                [
                    " / ".join(p["raters"]),
                    str(p["items"]),
                    fmt(p["value"]),
                    p["band"] or "-",
                    fmt(p["linear_weighted"]),
                    fmt(p["quadratic_weighted"]),
                ]
                for p in d["cohen_kappa"]
            ]
            lines += _table(["Cohen's kappa: pair", "items", "kappa", "band", "linear", "quadratic"], pairs)
        if d["categories"]:
            lines.append("")
            cats = [[c["code"], str(c["labels"]), fmt(c["kappa"]), c["band"] or "-"] for c in d["categories"]]
            lines += _table(["category vs. the rest", "labels", "kappa", "band"], cats)
        if d.get("parent_level"):
            lines.append("")
            lines.append("parent level:")
            lines += _table(["figure", "value", "95% CI", "band", "items", "note"], coefficient_rows(d["parent_level"]))
        for note in d.get("notes", []):
            lines.append(f"note: {note}")
    lines.append("")
    lines.append(f"Bands: {result['bands']['citation']}")
    return "\n".join(lines)
