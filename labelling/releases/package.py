"""The layout of a release package and the schema of each table, in one place.

Every table is described once, as a list of ``Field``: the CSV header, the Parquet (pyarrow)
schema and the Frictionless Table Schema of ``datapackage.json`` are all derived from it.

Layout of the zip::

    datapackage.json      Frictionless Data Package descriptor (resources, schemas, sha256 hashes)
    README.md             dataset card
    CITATION.cff          how to cite it
    LICENSE               the data's licence
    codebook.json         the codebook (template format, labelling/codebook_templates) + history
    agreement.json        the agreement figures (`manage.py agreement SLUG --format json`)
    changes.json          what changed since the previous release
    data/items.csv|parquet, data/labels.csv|parquet, data/adjudications.csv,
    data/reproductions.csv, data/survey_<name>.csv (when the study has surveys)
    figures/<id>.html|csv (the analytics charts, when the analytics app provides them)
    checksums.sha256      sha256sum-style list of every other file
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from labelling.dataset.export import ExportColumn
from labelling.models import Dimension, FinalLabel, StudyItem
from triage.models import Report

FORMAT_VERSION = 1
PROFILE = "bugsift-release"
CHECKSUMS = "checksums.sha256"
DESCRIPTOR = "datapackage.json"
ITEMS, LABELS, ADJUDICATIONS, REPRODUCTIONS = "items", "labels", "adjudications", "reproductions"
DATA_PATHS = {name: f"data/{name}.csv" for name in (ITEMS, LABELS, ADJUDICATIONS, REPRODUCTIONS)}
PARQUET_PATHS = {ITEMS: "data/items.parquet", LABELS: "data/labels.parquet"}


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # string, integer, boolean, datetime
    description: str
    categorical: bool = False  # dictionary-encoded in Parquet
    enum: tuple[str, ...] | None = None
    pattern: str | None = None
    required: bool = False
    extra: dict = field(default_factory=dict)

    def arrow_type(self) -> pa.DataType:
        if self.categorical:
            return pa.dictionary(pa.int32(), pa.string())
        return {
            "string": pa.string(),
            "integer": pa.int64(),
            "boolean": pa.bool_(),
            "datetime": pa.timestamp("us", tz="UTC"),
        }[self.type]

    def descriptor(self) -> dict:
        out = {"name": self.name, "type": self.type, "description": self.description}
        if self.type == "boolean":
            out["trueValues"], out["falseValues"] = ["true"], ["false"]
        constraints = {}
        if self.required:
            constraints["required"] = True
        if self.enum is not None:
            constraints["enum"] = list(self.enum)
        if self.pattern:
            constraints["pattern"] = self.pattern
        if constraints:
            out["constraints"] = constraints
        return out | self.extra


def arrow_schema(fields: list[Field]) -> pa.Schema:
    return pa.schema([pa.field(f.name, f.arrow_type()) for f in fields])


def table_schema(fields: list[Field], *, primary_key: list[str] | None = None) -> dict:
    out = {"fields": [f.descriptor() for f in fields], "missingValues": [""]}
    if primary_key:
        out["primaryKey"] = primary_key
    return out


def _choices(choices) -> tuple[str, ...]:
    return tuple(value for value, _ in choices)


def multi_pattern(codes: list[str]) -> str:
    """A ';'-joined list of the codes (sorted in the data, each once)."""
    import re

    alternatives = "|".join(re.escape(c) for c in codes) or "(?!)"
    return f"^({alternatives})(;({alternatives}))*$"


@dataclass(frozen=True)
class DimensionSpec:
    """A codebook dimension as the release writes it: its export column and its category codes."""

    column: ExportColumn
    kind: str
    name: str
    codes: tuple[str, ...]


def value_field(spec: DimensionSpec) -> Field:
    name, kind = spec.column.header, spec.kind
    what = f"Final label of '{spec.name}' ({kind})"
    if kind == Dimension.Kind.TEXT:
        return Field(name, "string", f"{what}: the text.")
    if kind == Dimension.Kind.MULTI:
        return Field(
            name,
            "string",
            f"{what}: category codes, sorted, joined by ';'. Codes: {', '.join(spec.codes)}.",
            pattern=multi_pattern(list(spec.codes)),
            extra={"categories": list(spec.codes)},
        )
    return Field(name, "string", f"{what}: a category code.", categorical=True, enum=spec.codes)


def item_fields(dims: list[DimensionSpec], *, include_bodies: bool) -> list[Field]:
    methods = _choices(FinalLabel.Method.choices)
    fields = [
        Field("source_id", "string", "The report's id at its source, e.g. github:pytorch/pytorch#1234.", required=True),
        Field("kind", "string", "Report kind.", categorical=True, enum=_choices(Report.Kind.choices)),
        Field("framework", "string", "Framework, lower case (tensorflow, pytorch, ...).", categorical=True),
        Field("title", "string", "The report's title."),
        Field("url", "string", "The report's address at its source."),
        Field("state", "string", "The report's state at its source (open, closed, ...).", categorical=True),
        Field("created_at", "datetime", "When the report was opened at its source (UTC)."),
        Field("closed_at", "datetime", "When it was closed at its source (UTC)."),
        Field("source_labels", "string", "The source's labels on the report, sorted, joined by ';'."),
    ]
    if include_bodies:
        fields.append(Field("body", "string", "The report's body, markdown as written at the source."))
    fields += [
        Field(
            "screening", "string", "Screening decision.", categorical=True, enum=_choices(StudyItem.Screening.choices)
        ),
        Field("exclusion_reason", "string", "Why an excluded item was excluded."),
        Field("n_annotations_complete", "integer", "How many annotators finished the item."),
    ]
    for d in dims:
        col = d.column
        fields += [
            value_field(d),
            Field(
                col.method_header, "string", f"How the final '{col.code}' was decided.", categorical=True, enum=methods
            ),
            Field(col.adjudicator_header, "string", f"Who decided the final '{col.code}' (annotator pseudonym)."),
            Field(col.rationale_header, "string", "Why (the adjudicator's rationale, or the rule's count)."),
        ]
    return fields


def label_fields(dims: list[DimensionSpec], annotators: list[str]) -> list[Field]:
    return [
        Field("source_id", "string", "The report (items.source_id).", required=True),
        Field(
            "annotator",
            "string",
            "The annotator (pseudonym A1, A2, ... unless named).",
            categorical=True,
            enum=tuple(annotators),
            required=True,
        ),
        Field(
            "dimension",
            "string",
            "The dimension's code.",
            categorical=True,
            enum=tuple(d.column.code for d in dims),
            required=True,
        ),
        Field("value", "string", "The label, canonical: a code, codes joined by ';', or the text."),
        Field("note", "string", "The annotator's note."),
        Field("time_spent_ms", "integer", "Time on this label, in milliseconds."),
        Field("finished", "boolean", "Whether the annotator finished the item (completed the assignment)."),
    ]


ADJUDICATION_FIELDS = [
    Field("source_id", "string", "The report (items.source_id).", required=True),
    Field("dimension", "string", "The dimension's code.", required=True),
    Field("decided_at", "datetime", "When the adjudicator decided (UTC)."),
    Field("adjudicator", "string", "Who decided (pseudonym unless named)."),
    Field("value", "string", "The value decided."),
    Field("chosen_from", "string", "The annotators' values it chose between, a JSON list."),
    Field("rationale", "string", "Why."),
    Field("replaced_method", "string", "How the label it replaced had been decided (empty: none)."),
    Field("replaced_value", "string", "The value it replaced."),
]

REPRODUCTION_FIELDS = [
    Field("source_id", "string", "The report (items.source_id).", required=True),
    Field("reproducer", "integer", "The reproducer's number among the report's reproducers (1, 2, ...)."),
    Field("reproduction", "integer", "The reproduction's number among the reproducer's (1, 2, ...)."),
    Field("kind", "string", "check, bisect or compare (the reproduction's kind)."),
    Field("oracle", "string", "The reproducer's oracle (crash, differential, ...)."),
    Field("run", "integer", "The run's repeat number or bisection step."),
    Field("side", "string", "Differential runs: side a or b."),
    Field("device", "string", "cpu or gpu."),
    Field("requirements", "string", "The requirements the run used (the environment), one per line."),
    Field("python", "string", "The environment's Python version."),
    Field("version", "string", "Bisection: the framework version the step tried."),
    Field("status", "string", "The run's status."),
    Field("verdict", "string", "The run's verdict."),
    Field("verdict_detail", "string", "Why that verdict."),
    Field("exit_code", "integer", "The script's exit code."),
    Field("duration_ms", "integer", "Wall time of the run, in milliseconds."),
    Field("peak_memory_kb", "integer", "Peak memory of the run, in KB."),
]
