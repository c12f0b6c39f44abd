"""Create a release (freeze a study into a package) and load a package back into a new study."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.core.files import File
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from frictionless import FrictionlessException, Package, Resource, Schema, resources

from config.errors import ApplicationError
from labelling.models import Annotation, FinalLabel, FinalLabelDecision, Membership, Study
from labelling.releases import card
from labelling.releases import package as pk
from labelling.releases.changes import codebook_events, data_changes
from labelling.releases.models import AnnotatorPseudonym, Release, ReleaseFile
from labelling.releases.versions import parse_version
from labelling.releases.writer import (
    Built,
    WrittenFile,
    checksums_text,
    sha256_of,
    system_memory_pool,
    write_data,
    write_json,
    write_zip,
)

RESOURCE_TITLES = {
    pk.ITEMS: "Items: one row per study item (report fields, screening, final labels)",
    pk.LABELS: "Labels: one row per individual label (long format)",
    pk.ADJUDICATIONS: "Adjudications: every adjudication decision",
    pk.REPRODUCTIONS: "Reproduction runs of the items' reports",
}
# Frictionless checks a primary key by keeping every key in memory: declared for items (100,000 keys at
# most), described in the labels' description (source_id, annotator, dimension is unique there too).
PRIMARY_KEYS = {pk.ITEMS: ["source_id"]}


@dataclass(frozen=True)
class ReleaseOptions:
    include_bodies: bool = False
    name_annotators: bool = False
    licence: str = card.DEFAULT_LICENCE
    figures: bool = True  # the analytics charts in figures/ (each a standalone HTML of ~5 MB)


def check_licence(licence: str) -> str:
    licence = (licence or card.DEFAULT_LICENCE).strip()
    if licence not in card.LICENCES:
        valid = ", ".join(card.LICENCES)
        raise ApplicationError(
            f"Unknown licence '{licence}'. Choose one of: {valid} (SPDX identifiers).",
            details=[{"field": "licence", "message": f"One of: {valid}."}],
        )
    return licence


def latest_release(study: Study) -> Release | None:
    releases = list(Release.objects.filter(study=study).only("version", "major", "minor", "patch", "prerelease"))
    return max(releases, key=lambda r: parse_version(r.version).key(), default=None)


def check_version(study: Study, version_text: str):
    version = parse_version(version_text)
    latest = latest_release(study)
    if latest is not None and not parse_version(latest.version) < version:
        raise ApplicationError(
            f"Version {version} is not greater than the latest release {latest.version} of this study. A release "
            f"is never replaced: choose a higher version (e.g. {_next(parse_version(latest.version))}).",
            details=[{"field": "version", "message": f"Must be greater than {latest.version}."}],
        )
    return version


def _next(version) -> str:
    return f"{version.major}.{version.minor}.{version.patch + (0 if version.prerelease else 1)}"


def annotator_names(*, study: Study, name_annotators: bool) -> dict[str, str]:
    """{username: name in the release} for everyone whose labels or decisions are released, in
    pseudonym order. New annotators get the next ``A<n>`` in the order of their user ids; the rows
    are kept (``AnnotatorPseudonym``) so a person keeps their pseudonym in every later release."""
    user_ids = set(Annotation.objects.filter(item__study=study).values_list("annotator_id", flat=True).distinct())
    user_ids |= set(
        FinalLabel.objects.filter(item__study=study, decided_by__isnull=False).values_list("decided_by_id", flat=True)
    )
    user_ids |= set(
        FinalLabelDecision.objects.filter(item__study=study, decided_by__isnull=False).values_list(
            "decided_by_id", flat=True
        )
    )
    known = {p.user_id: p for p in AnnotatorPseudonym.objects.filter(study=study)}
    taken = {p.name for p in known.values()}
    n = 0
    new = []
    for user_id in sorted(user_ids - set(known)):
        n += 1
        while f"A{n}" in taken:
            n += 1
        new.append(AnnotatorPseudonym(study=study, user_id=user_id, name=f"A{n}"))
        taken.add(f"A{n}")
    if new:
        AnnotatorPseudonym.objects.bulk_create(new)
    rows = AnnotatorPseudonym.objects.filter(study=study, user_id__in=user_ids).order_by("id")
    names = {}
    for username, name, from_package in rows.values_list("user__username", "name", "from_package"):
        names[username] = username if name_annotators and not from_package else name
    return names


def _authors(study: Study) -> list[str]:
    owners = Membership.objects.filter(study=study, role=Membership.Role.OWNER).order_by("user_id")
    out = []
    for first, last, username in owners.values_list("user__first_name", "user__last_name", "user__username"):
        out.append(f"{first} {last}".strip() or username)
    return out


def _descriptor(*, study, version, date, options, built: Built, files: list[WrittenFile], extra: dict) -> dict:
    by_path = {f.path: f for f in files}
    res = []
    for name, fields in built.tables.items():
        path = pk.DATA_PATHS.get(name, f"data/{name}.csv")
        f = by_path[path]
        res.append(
            Resource(
                name=name.replace("_", "-").lower(),  # frictionless names: lower case, no '_
                title=RESOURCE_TITLES.get(name, f"Survey answers ({name})"),
                path=path,
                format="csv",
                mediatype="text/csv",
                encoding="utf-8",
                hash=f"sha256:{f.sha256}",
                bytes=f.size,
                schema=Schema.from_descriptor(pk.table_schema(fields, primary_key=PRIMARY_KEYS.get(name))),
            )
        )
    for name, path in pk.PARQUET_PATHS.items():
        f = by_path[path]
        res.append(
            resources.FileResource(
                name=f"{name}-parquet",
                path=path,
                mediatype="application/vnd.apache.parquet",
                hash=f"sha256:{f.sha256}",
                bytes=f.size,
                description=f"The same rows and columns as data/{name}.csv (resource '{name}') in Parquet, typed "
                "explicitly; categorical columns dictionary-encoded.",
            )
        )
    skip = set(pk.DATA_PATHS.values()) | set(pk.PARQUET_PATHS.values())
    for f in files:
        if f.path not in skip and not f.path.startswith("data/survey_"):
            res.append(
                resources.FileResource(
                    name=f.path.replace("/", "-").replace(".", "-").replace("_", "-").lower(),
                    path=f.path,
                    hash=f"sha256:{f.sha256}",
                    bytes=f.size,
                )
            )
    licence_name, licence_url = card.LICENCES[options.licence]
    package = Package(
        name=f"bugsift-{study.slug}",
        title=study.name,
        description=study.description or study.name,
        version=str(version),
        created=f"{date.isoformat()}T00:00:00Z",
        licenses=[{"name": options.licence, "path": licence_url, "title": licence_name}],
        resources=res,
    )
    package.custom["bugsift"] = {"format": pk.FORMAT_VERSION, "profile": pk.PROFILE, **extra}
    return package.to_descriptor()


# Frictionless reads every row in pure Python (about 10,000 rows a second here): a release checks its own
# package on the first rows of each table (the schema and the writer agree; the rest is written by the
# same code), while loading a package checks every row.
SELF_CHECK_ROWS = 2000


def validate_directory(directory: Path, *, limit_rows: int | None = None) -> list[str]:
    """Frictionless validation of the package in ``directory``: problems as sentences (none: valid).
    ``limit_rows``: check only that many rows of each table (and then no file's hash)."""
    try:
        report = Package(str(directory / pk.DESCRIPTOR)).validate(limit_rows=limit_rows)
    except FrictionlessException as exc:
        return [str(exc.error.message if getattr(exc, "error", None) else exc)]
    problems = []
    for task in report.tasks:
        for error in task.errors[:20]:
            where = f" (row {error.row_number})" if getattr(error, "row_number", None) else ""
            problems.append(f"{task.name}{where}: {error.message}")
    for error in report.errors:
        problems.append(error.message)
    return problems


def build_package(
    *,
    study: Study,
    version,
    options: ReleaseOptions,
    directory: Path,
    date,
    previous: Release | None,
    progress: Callable[[int], None] | None = None,
    validate: bool = True,
) -> tuple[Built, dict, list[WrittenFile]]:
    """Write the whole package into ``directory`` (not zipped): data, metadata, card, descriptor, checksums."""
    names = annotator_names(study=study, name_annotators=options.name_annotators)
    built = write_data(
        study=study,
        directory=directory,
        names=names,
        include_bodies=options.include_bodies,
        figures=options.figures,
        progress=progress,
    )
    if previous is None:
        changes = {"previous": None}
    else:
        changes = {
            "previous": previous.version,
            **data_changes(previous_zip=previous.file.path, current_dir=directory, final_headers=built.final_headers),
            "codebook": {
                "source": "codebook snapshots compared",
                "events": codebook_events(previous.codebook, built.codebook),
            },
        }
    history = []
    for r in Release.objects.filter(study=study).order_by("created_at", "id").values_list("version", "changes"):
        history.append({"release": r[0], "events": (r[1].get("codebook") or {}).get("events", [])})
    history.append({"release": str(version), "events": (changes.get("codebook") or {}).get("events", [])})
    write_json(directory / "codebook.json", {**built.codebook, "history": history})
    write_json(directory / "changes.json", changes)
    surveys = [name[len("survey_") :] for name in built.tables if name.startswith("survey_")]
    figures = (
        sorted({p.stem for p in (directory / "figures").glob("*.html")}) if (directory / "figures").exists() else []
    )
    (directory / "README.md").write_text(
        card.dataset_card(
            study=study,
            version=str(version),
            date=date,
            licence=options.licence,
            built=built,
            changes=changes,
            include_bodies=options.include_bodies,
            name_annotators=options.name_annotators,
            surveys=surveys,
            figures=figures,
        ),
        encoding="utf-8",
    )
    (directory / "CITATION.cff").write_text(
        card.citation_cff(
            study=study, version=str(version), date=date, licence=options.licence, authors=_authors(study)
        ),
        encoding="utf-8",
    )
    (directory / "LICENSE").write_text(
        card.licence_text(options.licence, study_name=study.name, year=date.year), encoding="utf-8"
    )
    files = [WrittenFile(p, (directory / p).stat().st_size, sha256_of(directory / p)) for p in _all(directory)]
    counts = {f.path: f for f in built.files}
    for f in files:
        if f.path in counts:
            f.rows = built.counts["rows"].get(_table_of(f.path))
    extra = {
        "study": {
            "slug": study.slug,
            "name": study.name,
            "description": study.description,
            "overlap_k": study.overlap_k,
            "blind": study.blind,
            "screening_overlap": study.screening_overlap,
            "screening_rule": study.screening_rule,
            "exclusion_reasons": study.exclusion_reasons,
        },
        "include_bodies": options.include_bodies,
        "name_annotators": options.name_annotators,
        "annotators": list(names.values()),
        "counts": {k: v for k, v in built.counts.items() if k != "rows"},
    }
    descriptor = _descriptor(
        study=study, version=version, date=date, options=options, built=built, files=files, extra=extra
    )
    write_json(directory / pk.DESCRIPTOR, descriptor)
    if validate:
        problems = validate_directory(directory, limit_rows=SELF_CHECK_ROWS)
        if problems:  # the writer's own bug: never ship an invalid package
            raise ApplicationError("The package does not validate: " + "; ".join(problems[:5]), status=500)
    files.append(
        WrittenFile(pk.DESCRIPTOR, (directory / pk.DESCRIPTOR).stat().st_size, sha256_of(directory / pk.DESCRIPTOR))
    )
    (directory / pk.CHECKSUMS).write_text(checksums_text(files), encoding="utf-8")
    return built, changes, files


def _table_of(path: str) -> str:
    return path.removeprefix("data/").rsplit(".", 1)[0]


def _all(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


def zip_order(paths: list[str]) -> list[str]:
    """datapackage.json and README.md first (what a reader opens), then the rest sorted, checksums last."""
    first = [p for p in (pk.DESCRIPTOR, "README.md") if p in paths]
    rest = sorted(p for p in paths if p not in first and p != pk.CHECKSUMS)
    return [*first, *rest, pk.CHECKSUMS]


def release_filename(study: Study, version) -> str:
    return f"{study.slug}-{version}.zip"


def _build_in_snapshot(study, parsed, options, directory, now, progress):
    """``build_package`` in one transaction; on PostgreSQL REPEATABLE READ, so every chunk reads the
    same snapshot while others keep labelling."""
    with transaction.atomic(), system_memory_pool():
        if connection.vendor == "postgresql" and not _in_outer_transaction():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        study = Study.objects.get(pk=study.pk)
        return build_package(
            study=study,
            version=parsed,
            options=options,
            directory=directory,
            date=now.date(),
            previous=latest_release(study),
            progress=progress,
        )


def release_create(
    *,
    study: Study,
    version: str,
    created_by,
    options: ReleaseOptions = ReleaseOptions(),
    output: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> Release:
    """Freeze ``study`` as release ``version`` (greater than the latest; ApplicationError otherwise).

    The study is read in one REPEATABLE READ transaction on PostgreSQL (a consistent snapshot
    while others keep labelling); the zip is stored under MEDIA_ROOT/releases/ and, with
    ``output``, copied there too. Two releases of one version at once: one wins, the other gets a 400.
    """
    options = dataclasses.replace(options, licence=check_licence(options.licence))
    parsed = check_version(study, version)
    now = timezone.now()
    with tempfile.TemporaryDirectory(prefix="bugsift-release-") as tmp:
        directory = Path(tmp) / "package"
        directory.mkdir()
        try:
            built, changes, files = _build_in_snapshot(study, parsed, options, directory, now, progress)
        except IntegrityError as exc:  # two releases of the study at once gave a new annotator a pseudonym
            raise ApplicationError(
                "Another release of this study is being made right now. Try again in a minute.", status=409
            ) from exc
        study = Study.objects.get(pk=study.pk)
        zip_path = Path(tmp) / release_filename(study, parsed)
        write_zip(directory, zip_path, zip_order(_all(directory)))
        digest, size = sha256_of(zip_path), zip_path.stat().st_size
        release = Release(
            study=study,
            version=str(parsed),
            major=parsed.major,
            minor=parsed.minor,
            patch=parsed.patch,
            prerelease=parsed.prerelease,
            title=f"{study.name} {parsed}",
            licence=options.licence,
            include_bodies=options.include_bodies,
            name_annotators=options.name_annotators,
            filename=zip_path.name,
            size=size,
            sha256=digest,
            counts={k: v for k, v in built.counts.items()},
            changes=changes,
            codebook=built.codebook,
            created_by=created_by,
            created_at=now,
        )
        try:
            with transaction.atomic():
                Study.objects.select_for_update().filter(pk=study.pk).first()
                check_version(study, str(parsed))  # again, under the lock: two releases at once
                with zip_path.open("rb") as fh:
                    release.file.save(f"{study.slug}/{zip_path.name}", File(fh), save=False)
                release.full_clean(exclude=["file"])
                release.save()
                ReleaseFile.objects.bulk_create(
                    ReleaseFile(release=release, path=f.path, size=f.size, sha256=f.sha256, rows=f.rows) for f in files
                )
        except (ApplicationError, IntegrityError) as exc:
            if release.file:
                release.file.storage.delete(release.file.name)
            if isinstance(exc, IntegrityError):
                raise ApplicationError(
                    f"Release {parsed} of this study was just created by someone else. Choose a higher version.",
                    details=[{"field": "version", "message": "Taken."}],
                ) from exc
            raise
        if output:
            try:
                shutil.copyfile(zip_path, output)
            except OSError as exc:
                raise ApplicationError(f"Cannot write '{output}': {exc.strerror}.") from exc
    return release


def _in_outer_transaction() -> bool:
    """Inside an enclosing atomic block (e.g. a test's), SET TRANSACTION would not be the first statement."""
    return len(getattr(connection, "atomic_blocks", ())) > 1
