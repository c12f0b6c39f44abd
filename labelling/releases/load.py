"""Load a release package into a new study (``release_load``): the service behind ``load_release``
and the upload page. The package is checked first (``loader.checked_package``); then everything is
written in one transaction with bulk inserts, so a problem found while writing leaves nothing.

* reports are matched by ``source_id``: a report already in this instance is reused as it is (other
  studies may use it), a missing one is created from the package;
* the codebook is created from ``codebook.json`` (template format) with each dimension's decision rule;
* each annotator (and adjudicator) of the package gets a placeholder account ``<slug>.<name>`` (no
  usable password, inactive) that is a member of the new study and keeps its release name
  (``AnnotatorPseudonym``), so a release of the loaded study names them as the package did;
* assignments (finished or not, per ``labels.finished``), annotations, final labels (value, method,
  adjudicator, rationale) and adjudication decisions are created as the package has them.

* each survey is recreated (``surveys.release_tables``: its versions, questions and submitted responses
  with their answers), under its own slug or, when that is taken here, ``<slug>-<study>``.

Not loaded: reproduction runs (they belong to this instance's runners and reproducers; a report that
already exists here keeps its own).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from config.errors import ApplicationError
from labelling.models import (
    Annotation,
    Assignment,
    Dimension,
    FinalLabel,
    FinalLabelDecision,
    Membership,
    Study,
    StudyItem,
)
from labelling.releases import package as pk
from labelling.releases.loader import CheckedPackage, checked_package
from labelling.releases.models import AnnotatorPseudonym
from labelling.services.codebooks import codebook_fill_from_template
from labelling.services.disagreements import disagreements_refresh
from labelling.services.results import study_results_changed
from labelling.services.studies import study_create
from surveys.release_tables import LoadedSurvey, load_study_survey_tables
from triage.models import Report, SourceLabel
from triage.reports.counts import report_counts_changed

BATCH = 5000


@dataclass
class LoadResult:
    study: Study
    items: int
    reports_created: int
    reports_reused: int
    labels: int
    final_labels: int
    adjudications: int
    annotators: int
    surveys: list[LoadedSurvey] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "study": self.study.slug,
            "items": self.items,
            "reports_created": self.reports_created,
            "reports_reused": self.reports_reused,
            "labels": self.labels,
            "final_labels": self.final_labels,
            "adjudications": self.adjudications,
            "annotators": self.annotators,
            "surveys": [s.as_dict() for s in self.surveys],
        }


def _dt(text: str):
    return datetime.fromisoformat(text) if text else None


def _batches(iterable, size=BATCH):
    batch = []
    for row in iterable:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _placeholder_users(slug: str, names: list[str]) -> dict[str, object]:
    User = get_user_model()
    wanted = {name: f"{slug}.{name}"[:150] for name in names}
    taken = set(User.objects.filter(username__in=wanted.values()).values_list("username", flat=True))
    if taken:
        raise ApplicationError(
            f"Accounts {', '.join(sorted(taken))} already exist: load the package under another slug (--study).",
            details=[{"field": "study", "message": "Choose a slug no earlier load used."}],
        )
    unusable = make_password(None)
    users = User.objects.bulk_create(User(username=u, password=unusable, is_active=False) for u in wanted.values())
    return dict(zip(names, users, strict=True))


def _load(package: CheckedPackage, *, owner, slug: str) -> LoadResult:
    meta = package.meta
    spec = meta["study"]
    if Study.objects.filter(slug=slug).exists():
        raise ApplicationError(
            f"A study '{slug}' already exists. Load the package under a new slug (load_release FILE --study NEW_SLUG).",
            details=[{"field": "study", "message": "Choose a new slug."}],
        )
    study = study_create(
        slug=slug,
        name=spec.get("name") or slug,
        owner=owner,
        description=spec.get("description") or "",
        overlap_k=int(spec.get("overlap_k") or 1),
        blind=bool(spec.get("blind", True)),
        exclusion_reasons=spec.get("exclusion_reasons") or [],
    )
    study.screening_overlap = int(spec.get("screening_overlap") or 1)
    study.screening_rule = spec.get("screening_rule") or study.screening_rule
    study.template_slug = (package.codebook.get("slug") or "")[:80]
    study.full_clean()
    study.save(update_fields=["screening_overlap", "screening_rule", "template_slug"])
    codebook = study.codebook
    codebook.name = package.codebook.get("name") or codebook.name
    codebook.description = package.codebook.get("description") or ""
    codebook.source = package.codebook.get("source") or ""
    codebook.full_clean()
    codebook.save(update_fields=["name", "description", "source"])
    codebook_fill_from_template(codebook=codebook, template=package.codebook)
    dims = {d.code: d for d in Dimension.objects.filter(codebook=codebook)}
    for spec_dim in package.codebook.get("dimensions", []):
        dim = dims[spec_dim["code"]]
        dim.decision_rule = spec_dim.get("decision_rule") or dim.decision_rule
        dim.majority_threshold = spec_dim.get("majority_threshold") or dim.majority_threshold
        dim.full_clean()
    Dimension.objects.bulk_update(list(dims.values()), ["decision_rule", "majority_threshold"])

    # Annotators and adjudicators: placeholder accounts, in the package's order.
    names = list(meta.get("annotators") or [])
    for row in package.rows(pk.ADJUDICATIONS):
        if row["adjudicator"] and row["adjudicator"] not in names:
            names.append(row["adjudicator"])
    users = _placeholder_users(slug, names)
    AnnotatorPseudonym.objects.bulk_create(
        AnnotatorPseudonym(study=study, user=users[n], name=n, from_package=True) for n in names
    )
    labelled = set()
    for row in package.rows(pk.LABELS):
        labelled.add(row["annotator"])
    Membership.objects.bulk_create(
        Membership(
            study=study,
            user=users[n],
            role=Membership.Role.ANNOTATOR if n in labelled else Membership.Role.ADJUDICATOR,
        )
        for n in names
    )

    # Reports and items, in the package's order (item ids then follow it).
    include_bodies = bool(meta.get("include_bodies"))
    item_ids: dict[str, int] = {}
    created = reused = 0
    final_rows = []
    for batch in _batches(package.rows(pk.ITEMS)):
        source_ids = [r["source_id"] for r in batch]
        existing = dict(Report.objects.filter(source_id__in=source_ids).values_list("source_id", "id"))
        new = [
            Report(
                source_id=r["source_id"],
                kind=r["kind"],
                framework=r["framework"],
                title=r["title"],
                url=r["url"],
                state=r["state"],
                created_at=_dt(r["created_at"]),
                closed_at=_dt(r["closed_at"]),
                body=r.get("body", "") if include_bodies else "",
            )
            for r in batch
            if r["source_id"] not in existing
        ]
        for report in Report.objects.bulk_create(new):
            existing[report.source_id] = report.id
        if new:
            report_counts_changed()
        new_ids = {x.source_id for x in new}
        label_names = {n for r in batch if r["source_id"] in new_ids for n in r["source_labels"].split(";") if n}
        if label_names:
            SourceLabel.objects.bulk_create([SourceLabel(name=n) for n in label_names], ignore_conflicts=True)
            label_ids = dict(SourceLabel.objects.filter(name__in=label_names).values_list("name", "id"))
            through = Report.source_labels.through
            through.objects.bulk_create(
                [
                    through(report_id=existing[r["source_id"]], sourcelabel_id=label_ids[n])
                    for r in batch
                    if r["source_id"] in new_ids
                    for n in r["source_labels"].split(";")
                    if n
                ],
                ignore_conflicts=True,
            )
        created += len(new)
        reused += len(batch) - len(new)
        items = StudyItem.objects.bulk_create(
            StudyItem(
                study=study,
                report_id=existing[r["source_id"]],
                screening=r["screening"],
                exclusion_reason=r["exclusion_reason"],
            )
            for r in batch
        )
        for r, item in zip(batch, items, strict=True):
            item_ids[r["source_id"]] = item.id
            for code in dims:
                header = code if code in r else f"final_{code}"
                method = r.get(f"method_{code}", "")
                if method:
                    adjudicator = r.get(f"adjudicator_{code}", "")
                    final_rows.append(
                        FinalLabel(
                            item_id=item.id,
                            dimension=dims[code],
                            value=r.get(header, ""),
                            method=method,
                            decided_by=users.get(adjudicator) if adjudicator else None,
                            rationale=r.get(f"rationale_{code}", ""),
                        )
                    )
    now = timezone.now()
    assignments: dict[tuple[int, str], bool] = {}
    n_labels = 0
    for batch in _batches(package.rows(pk.LABELS)):
        annotations = []
        for r in batch:
            item_id = item_ids.get(r["source_id"])
            if item_id is None:
                raise ApplicationError(f"data/labels.csv names '{r['source_id']}', which is not in data/items.csv.")
            assignments.setdefault((item_id, r["annotator"]), r["finished"] == "true")
            annotations.append(
                Annotation(
                    item_id=item_id,
                    annotator=users[r["annotator"]],
                    dimension=dims[r["dimension"]],
                    value=r["value"],
                    note=r["note"],
                    time_spent_ms=int(r["time_spent_ms"] or 0),
                )
            )
        Annotation.objects.bulk_create(annotations)
        n_labels += len(annotations)
    for batch in _batches(assignments.items()):
        Assignment.objects.bulk_create(
            Assignment(study=study, item_id=item_id, annotator=users[name], completed_at=now if done else None)
            for (item_id, name), done in batch
        )
    for batch in _batches(final_rows):
        FinalLabel.objects.bulk_create(batch)
    n_decisions = 0
    for batch in _batches(package.rows(pk.ADJUDICATIONS)):
        FinalLabelDecision.objects.bulk_create(
            FinalLabelDecision(
                item_id=item_ids[r["source_id"]],
                dimension=dims[r["dimension"]],
                value=r["value"],
                chosen_from=json.loads(r["chosen_from"] or "[]"),
                rationale=r["rationale"],
                replaced_method=r["replaced_method"],
                replaced_value=r["replaced_value"],
                decided_by=users.get(r["adjudicator"]) if r["adjudicator"] else None,
                decided_at=_dt(r["decided_at"]) or now,
            )
            for r in batch
        )
        n_decisions += len(batch)
    disagreements_refresh(study=study)  # what is left to adjudicate in the loaded study
    surveys = _load_surveys(study, package)
    study_results_changed(study_ids=[study.pk])  # the loaded labels (a new study: nobody waits on it)
    return LoadResult(
        study, len(item_ids), created, reused, n_labels, len(final_rows), n_decisions, len(names), surveys
    )


def _load_surveys(study: Study, package: CheckedPackage) -> list[LoadedSurvey]:
    """The package's surveys (``surveys.release_tables``): definitions, versions, submitted answers."""
    return load_study_survey_tables(study, package.directory)


def release_load(*, source, owner, slug: str | None = None) -> LoadResult:
    """Check the package ``source`` (path or binary file), then create its study (``slug``, default
    the package's) owned by ``owner``. ApplicationError listing every problem; nothing written then."""
    with checked_package(source) as package:
        slug = (slug or package.meta["study"].get("slug") or "").strip()
        with transaction.atomic():
            return _load(package, owner=owner, slug=slug)
