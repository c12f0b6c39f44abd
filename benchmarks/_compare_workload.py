"""The seeded workload of `make bench-compare`, written in each tool's import format.

The reports are bench_import's (``write_file``: realistic ~1 KB bodies, seeded), written once as
Bugsift's JSONL and then read back, so Label Studio gets exactly the same titles and bodies.
The codebook is Bugsift's ``dl-framework-bugs`` template (4 single-choice dimensions), and the
labels are 3 annotators x 4 dimensions for every one of ``items`` reports (about four in five
annotators agree on a dimension). ``open_items`` more reports carry labels from the second and
third annotator only: the first annotator's open work for the next-item and save blocks, the
same in both tools.

Files written into ``folder``:

* ``reports.jsonl``  Bugsift report file (``manage.py import_reports``);
* ``labels.csv``     Bugsift long-format label file (``manage.py import_labels``);
* ``ls-tasks-NNN.json`` Label Studio tasks with their annotations, ``ls_chunk`` tasks a file (one
  ``POST /api/projects/ID/import`` each; its upload limit is 250 MB a request), each annotation's
  ``completed_by`` the annotator's e-mail address (``_labelstudio.email``);
* ``ls-config.xml``  the Label Studio labelling config for the same codebook.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

from _labelstudio import email
from bench_import import write_file

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "labelling" / "codebook_templates" / "dl-framework-bugs.json"
TEMPLATE_SLUG = "dl-framework-bugs"
ANNOTATORS = ("bench_cmp_a", "bench_cmp_b", "bench_cmp_c")
AGREEMENT = 0.8


@dataclass(frozen=True)
class Workload:
    folder: Path
    items: int
    open_items: int
    reports: Path
    labels: Path
    ls_task_files: list[Path]
    ls_config: Path
    dimensions: list[tuple[str, list[str]]]  # (code, category codes), in codebook order
    labels_written: int

    @property
    def total_reports(self) -> int:
        return self.items + self.open_items


def codebook() -> list[tuple[str, list[str]]]:
    data = json.loads(TEMPLATE.read_text(encoding="utf-8"))
    dims = []
    for dim in data["dimensions"]:
        if dim["kind"] != "single":
            raise SystemExit(f"the comparison expects single-choice dimensions; {dim['code']} is {dim['kind']}")
        dims.append((dim["code"], [c["code"] for c in dim["categories"]]))
    return dims


def ls_label_config(dimensions) -> str:
    """A Label Studio config with the report's title and body and one Choices per dimension."""
    parts = ["<View>", '  <Header value="$title"/>', '  <Text name="body" value="$body"/>']
    for code, categories in dimensions:
        parts.append(f'  <Choices name={quoteattr(code)} toName="body" choice="single" showInline="true">')
        parts += [f"    <Choice value={quoteattr(c)}/>" for c in categories]
        parts.append("  </Choices>")
    parts.append("</View>")
    return "\n".join(parts) + "\n"


def ls_result(values: dict[str, str]) -> list[dict]:
    """A Label Studio annotation result choosing ``values`` (dimension code -> category code)."""
    return [
        {"from_name": code, "to_name": "body", "type": "choices", "value": {"choices": [value]}}
        for code, value in values.items()
    ]


def build(folder: Path, *, items: int, open_items: int, seed: int = 7, ls_chunk: int = 10_000) -> Workload:
    folder.mkdir(parents=True, exist_ok=True)
    reports = folder / "reports.jsonl"
    write_file(reports, items + open_items, seed=seed)
    dimensions = codebook()
    rng = random.Random(seed + 1)
    labels_path = folder / "labels.csv"
    task_files: list[Path] = []
    tasks_file = None
    written = 0
    with (
        reports.open(encoding="utf-8") as source,
        labels_path.open("w", encoding="utf-8", newline="") as labels_file,
    ):
        labels = csv.writer(labels_file)
        labels.writerow(["source_id", "annotator", "dimension", "value"])
        for n, line in enumerate(source):
            if n % ls_chunk == 0:
                if tasks_file:
                    tasks_file.write("\n]\n")
                    tasks_file.close()
                task_files.append(folder / f"ls-tasks-{len(task_files):03d}.json")
                tasks_file = task_files[-1].open("w", encoding="utf-8")
                tasks_file.write("[")
            report = json.loads(line)
            raters = ANNOTATORS if n < items else ANNOTATORS[1:]
            per_rater: dict[str, dict[str, str]] = {r: {} for r in raters}
            for code, categories in dimensions:
                agreed = rng.choice(categories)
                for rater in raters:
                    value = agreed if rng.random() < AGREEMENT else rng.choice(categories)
                    per_rater[rater][code] = value
                    labels.writerow([report["source_id"], rater, code, value])
                    written += 1
            task = {
                "data": {"source_id": report["source_id"], "title": report["title"], "body": report["body"]},
                "annotations": [
                    {"completed_by": {"email": email(rater)}, "result": ls_result(values)}
                    for rater, values in per_rater.items()
                ],
            }
            tasks_file.write(("," if n % ls_chunk else "") + "\n" + json.dumps(task))
        if tasks_file:
            tasks_file.write("\n]\n")
            tasks_file.close()
    config = folder / "ls-config.xml"
    config.write_text(ls_label_config(dimensions), encoding="utf-8")
    return Workload(folder, items, open_items, reports, labels_path, task_files, config, dimensions, written)
