"""The human-readable files of a release: the README.md dataset card, CITATION.cff and LICENSE."""

from __future__ import annotations

from labelling.agreement.render import fmt, fmt_ci

LICENCES = {
    "CC-BY-4.0": ("Creative Commons Attribution 4.0 International", "https://creativecommons.org/licenses/by/4.0/"),
    "CC-BY-SA-4.0": (
        "Creative Commons Attribution-ShareAlike 4.0 International",
        "https://creativecommons.org/licenses/by-sa/4.0/",
    ),
    "CC0-1.0": (
        "Creative Commons Zero v1.0 Universal (public domain dedication)",
        "https://creativecommons.org/publicdomain/zero/1.0/",
    ),
    "ODC-By-1.0": ("Open Data Commons Attribution License v1.0", "https://opendatacommons.org/licenses/by/1-0/"),
    "ODbL-1.0": ("Open Data Commons Open Database License v1.0", "https://opendatacommons.org/licenses/odbl/1-0/"),
}
DEFAULT_LICENCE = "CC-BY-4.0"

_LICENCE_TERMS = {
    "CC-BY-4.0": "You are free to share (copy and redistribute the material in any medium or format) and adapt "
    "(remix, transform and build upon the material) for any purpose, even commercially, under the following "
    "terms: Attribution: you must give appropriate credit, provide a link to the license, and indicate if changes "
    "were made. No additional restrictions: you may not apply legal terms or technological measures that legally "
    "restrict others from doing anything the license permits.",
    "CC-BY-SA-4.0": "You are free to share and adapt the material for any purpose, even commercially, under the "
    "following terms: Attribution (give appropriate credit, link to the license, indicate changes) and ShareAlike "
    "(if you remix, transform or build upon the material, distribute your contributions under the same license).",
    "CC0-1.0": "The person who associated a work with this deed has dedicated the work to the public domain by "
    "waiving all of his or her rights to the work worldwide under copyright law, including all related and "
    "neighboring rights, to the extent allowed by law. You can copy, modify and distribute the work, even for "
    "commercial purposes, all without asking permission.",
    "ODC-By-1.0": "You are free to share, create and adapt the database, as long as you attribute any public use "
    "of the database, or works produced from it, in the manner specified in the license.",
    "ODbL-1.0": "You are free to share, create and adapt the database, as long as you attribute it, share alike "
    "any adapted database under the ODbL, and keep it open (no technological restrictions without an unrestricted "
    "copy alongside).",
}


def licence_text(licence: str, *, study_name: str, year: int) -> str:
    name, url = LICENCES[licence]
    return (
        f"{study_name}: dataset release, (c) {year} the study's authors.\n\n"
        f"The data in this package (everything except the report texts' own licences, see README.md) is "
        f"licensed under the {name} ({licence}).\n\n{_LICENCE_TERMS[licence]}\n\n"
        f"The full legal code is at {url}legalcode (summary: {url}).\n"
    )


def _yaml(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def citation_cff(*, study, version: str, date, licence: str, authors: list[str], sha256_note: str = "") -> str:
    lines = [
        "cff-version: 1.2.0",
        'message: "If you use this dataset, please cite it as below."',
        "type: dataset",
        f"title: {_yaml(study.name)}",
        f"version: {_yaml(version)}",
        f"date-released: {date.isoformat()}",
        f"license: {licence}",
        "authors:",
    ]
    lines += [f"  - name: {_yaml(a)}" for a in authors] or ['  - name: "Unknown"']
    if study.description:
        lines.append(f"abstract: {_yaml(study.description)}")
    if study.codebook.source:
        lines += [
            "references:",
            "  - type: article",
            f"    title: {_yaml(study.codebook.source)}",
            "    authors:",
            '      - name: "See title"',
        ]
    return "\n".join(lines) + "\n"


def _agreement_lines(agreement: dict) -> list[str]:
    boot = agreement["bootstrap"]
    out = [
        f"95% confidence intervals: {boot['method']}, {boot['resamples']} resamples, seed {boot['seed']} "
        "(the figures are those of `agreement.json`, the agreement command's JSON).",
        "",
        "| dimension | items | percent agreement | Fleiss' kappa [95% CI] | Krippendorff's alpha [95% CI] "
        "| Gwet's AC1 |",
        "|---|---|---|---|---|---|",
    ]
    for d in agreement["dimensions"]:
        if d.get("skipped"):
            out.append(f"| {d['code']} | - | - | - | - | {d['skipped']} |")
            continue
        f, a, g = d["fleiss_kappa"], d["krippendorff_alpha"], d["gwet_ac1"]
        out.append(
            f"| {d['code']} | {d['items']} | {fmt(d['percent_agreement'])} | {fmt(f['value'])} {fmt_ci(f['ci95'])} "
            f"| {fmt(a['value'])} {fmt_ci(a['ci95'])} | {fmt(g['value'])} |"
        )
    return out


def _codebook_lines(codebook: dict) -> list[str]:
    out = []
    for d in codebook["dimensions"]:
        out += ["", f"### {d['name']} (`{d['code']}`, {d['kind']})", ""]
        if d.get("description"):
            out += [d["description"], ""]
        for c in d.get("categories") or []:
            for spec, indent in [(c, ""), *((child, "  ") for child in c.get("children") or [])]:
                definition = f": {spec['definition']}" if spec.get("definition") else ""
                out.append(f"{indent}- `{spec['code']}` **{spec['name']}**{definition}")
    return out


def _changes_lines(changes: dict) -> list[str]:
    if not changes.get("previous"):
        return ["This is the study's first release."]
    out = [f"Since release {changes['previous']}:", ""]
    items = changes["items"]
    out.append(f"- items: {items['added']} added, {items['removed']} removed")
    out.append(f"- final labels: {changes['final_labels']['changed']} changed")
    labels = changes["labels"]
    out.append(
        f"- individual labels: {labels['added']} added, {labels['removed']} removed, {labels['changed']} changed"
    )
    events = changes["codebook"]["events"]
    out.append(f"- codebook: {len(events)} change(s)" + ("" if events else " (none)"))
    out += [f"  - {e['text']}" for e in events[:50]]
    return out


def dataset_card(
    *,
    study,
    version: str,
    date,
    licence: str,
    built,
    changes: dict,
    include_bodies: bool,
    name_annotators: bool,
    surveys: list[str],
    figures: list[str],
) -> str:
    counts = built.counts
    name, url = LICENCES[licence]
    bodies = (
        "Report bodies **are included** (column `body` of `data/items.csv`): they are the reporters' text, "
        "under the licence of their source (e.g. GitHub's terms), not only this package's."
        if include_bodies
        else "Report bodies are **not included** (their licences differ from the data's); `url` links each report."
    )
    who = (
        "Annotators are named by their usernames (the owner chose to name them)."
        if name_annotators
        else "Annotators are pseudonymised as `A1`, `A2`, ... (stable from one release of this study to the next)."
    )
    lines = [
        f"# {study.name}: dataset release {version}",
        "",
        f"Released {date.isoformat()} from Bugsift study `{study.slug}`. Licence: {name} ({licence}, {url}).",
        "",
        "## What",
        "",
        study.description or "(The study has no description.)",
        "",
        f"Codebook: {study.codebook.name}." + (f" Source: {study.codebook.source}" if study.codebook.source else ""),
        "",
        "## How it was made",
        "",
        f"Reports were screened, then labelled on {counts['dimensions']} dimensions by {counts['annotators']} "
        f"annotators, {study.overlap_k} per item"
        + (", blind to each other's labels" if study.blind else "")
        + ". Disagreements were adjudicated into final labels; each final label's `method_<dimension>` says how "
        "it was decided (unanimous, majority, adjudicated, imported).",
        "",
        bodies,
        "",
        who,
        "",
        "## Counts",
        "",
        "| what | count |",
        "|---|---|",
        f"| items | {counts['items']} |",
        f"| included items | {counts['included']} |",
        f"| individual labels | {counts['labels']} |",
        f"| annotators | {counts['annotators']} |",
        f"| adjudications | {counts['adjudications']} |",
        f"| reproduction runs | {counts['reproduction_runs']} |",
        "",
        "## Agreement",
        "",
        *_agreement_lines(built.agreement),
        "",
        "## Changes",
        "",
        *_changes_lines(changes),
        "",
        "## Files",
        "",
        "- `data/items.csv`, `data/items.parquet`: one row per item (report fields, screening, final labels).",
        "- `data/labels.csv`, `data/labels.parquet`: one row per individual label (long format).",
        "- `data/adjudications.csv`: every adjudication decision, in order.",
        "- `data/reproductions.csv`: the reproduction runs of the items' reports (verdicts, environments, versions).",
        *(
            f"- `data/survey_{s}.csv`, `surveys/{s}.json`: the survey's submitted answers (long, responses "
            "R1, R2, ...) and its questions, every version."
            for s in surveys
        ),
        "- `codebook.json`: the codebook (Bugsift's template format) with its history.",
        "- `agreement.json`: the agreement figures above, in full (Cohen's pairs, per category, bands).",
        "- `changes.json`: what changed since the previous release.",
        *(f"- `figures/{f}.html` (standalone, plotly.js inlined) and `figures/{f}.csv`." for f in figures),
        "- `datapackage.json`: the Frictionless Data Package descriptor (every column's type, description and "
        "allowed categories); `checksums.sha256`: the SHA-256 of every file (`sha256sum -c checksums.sha256`).",
        "",
        "The CSVs hold every value exactly as stored (not spreadsheet-escaped): open them in a program, or "
        "import them as text in a spreadsheet. The Parquet files hold the same values with explicit types "
        "(categorical columns dictionary-encoded).",
        "",
        "## Codebook",
        *_codebook_lines(built.codebook),
        "",
        "## How to load it",
        "",
        "```python",
        "import pandas as pd",
        'items = pd.read_parquet("data/items.parquet")      # or pd.read_csv("data/items.csv")',
        'labels = pd.read_parquet("data/labels.parquet")',
        "",
        "import pyarrow.dataset as ds",
        'labels = ds.dataset("data/labels.parquet").to_table()',
        "",
        "import duckdb",
        "duckdb.sql(\"SELECT dimension, value, count(*) FROM 'data/labels.parquet' GROUP BY ALL\").show()",
        "",
        "from datasets import load_dataset  # Hugging Face",
        'items = load_dataset("parquet", data_files="data/items.parquet")',
        "",
        "from frictionless import Package  # validates every column against datapackage.json",
        'print(Package("datapackage.json").validate().valid)',
        "```",
        "",
        "Load it into another Bugsift instance with `python manage.py load_release FILE.zip`.",
        "",
        "## Citation",
        "",
        "See `CITATION.cff`.",
        "",
    ]
    return "\n".join(lines)
