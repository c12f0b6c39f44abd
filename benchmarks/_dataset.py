"""Build a large labelled study in PostgreSQL fast, for benchmarks (export today; labelling later).

``build_labelled_study(items=100_000)`` makes one study with ``items`` reports, 3 annotators,
4 dimensions (single, single, multiple choice, free text), an annotation by every annotator on
every dimension of every item (1.2 million for 100,000 items), completed assignments and final
labels for most items. Reports, annotations and final labels are written with
``COPY ... FROM STDIN`` (psycopg2 ``copy_expert``) in chunks; derived rows (items, assignments,
source labels) with ``INSERT ... SELECT``; then the tables are vacuumed and analysed. A study
already built with the same size is reused; any other benchmark data in the database is wiped.

Call it after ``benchmarks._table.setup_django``; it only runs on PostgreSQL.
"""

from __future__ import annotations

import io
import random
import time
from dataclasses import dataclass

ANNOTATORS = ("bench_rater_a", "bench_rater_b", "bench_rater_c")
DIMENSIONS = [
    ("symptom", "Symptom", "single", ["crash", "hang", "wrong_output", "performance", "build_failure", "other"]),
    (
        "root_cause",
        "Root cause",
        "single",
        ["type_issue", "shape_issue", "api_misuse", "numerical", "concurrency", "memory", "configuration", "algorithm"],
    ),  # fmt: skip
    ("component", "Component", "multi", ["layers", "model", "optimizer", "data", "backend"]),
    ("fix", "Fix", "text", []),
]
TITLE_WORDS = ["conv2d", "returns", "NaN", "with", "padding='same'", "on", "GPU,", "\"fused\"", "kernel", "crash",
               "when", "batch", "size", "is", "0", "— ünïcode", "✓", "segfault"]  # fmt: skip
CHUNK = 100_000


@dataclass(frozen=True)
class BuiltStudy:
    slug: str
    study_id: int
    items: int
    annotations: int
    final_labels: int
    dimension_ids: dict[str, int]
    seconds: float


def _text(value) -> str:
    """A value for COPY's text format."""
    if value is None:
        return "\\N"
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _copy(cursor, table: str, columns: list[str], rows):
    """COPY ``rows`` (an iterable of tuples) into ``table`` in chunks of ``CHUNK`` lines."""
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    buf = io.StringIO()
    n = 0
    for row in rows:
        buf.write("\t".join(_text(v) for v in row))
        buf.write("\n")
        n += 1
        if n % CHUNK == 0:
            buf.seek(0)
            cursor.copy_expert(sql, buf)
            buf = io.StringIO()
    if buf.tell():
        buf.seek(0)
        cursor.copy_expert(sql, buf)
    return n


def _existing(slug: str, items: int) -> BuiltStudy | None:
    from labelling.models import Annotation, Dimension, FinalLabel, Study, StudyItem

    study = Study.objects.filter(slug=slug).first()
    if study is None:
        return None
    n_items = StudyItem.objects.filter(study=study).count()
    n_annotations = Annotation.objects.filter(item__study=study).count()
    if n_items != items or n_annotations != items * len(ANNOTATORS) * len(DIMENSIONS):
        return None
    dims = dict(Dimension.objects.filter(codebook__study=study).values_list("code", "id"))
    finals = FinalLabel.objects.filter(item__study=study).count()
    return BuiltStudy(slug, study.id, n_items, n_annotations, finals, dims, 0.0)


def _reset(cursor):
    """Empty the benchmark database's data tables (it is a database of its own)."""
    cursor.execute(
        "TRUNCATE labelling_annotation, labelling_finallabel, labelling_assignment, labelling_studyitem, "
        "labelling_category, labelling_dimension, labelling_codebook, labelling_membership, labelling_sampledraw, "
        "labelling_study, triage_report_source_labels, triage_sourcelabel, triage_report CASCADE"
    )
    cursor.execute("DELETE FROM auth_user WHERE username LIKE 'bench\\_%'")


def build_labelled_study(*, items: int = 100_000, seed: int = 7, log=print) -> BuiltStudy:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.db import connection, transaction
    from django.utils import timezone

    from labelling.models import Category, Codebook, Dimension, Membership, Study

    if connection.vendor != "postgresql":
        raise SystemExit("The benchmark data builder needs PostgreSQL (set BENCH_DATABASE_URL).")
    slug = f"bench-export-{items}"
    found = _existing(slug, items)
    if found:
        log(f"reusing study '{slug}' ({found.items} items, {found.annotations} annotations)")
        return found

    started = time.perf_counter()
    rng = random.Random(seed)
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cur:
        _reset(cur)
        User = get_user_model()
        owner = User.objects.create(username="bench_owner", password=make_password(None))
        raters = [User.objects.create(username=u, password=make_password(None)) for u in ANNOTATORS]
        study = Study.objects.create(slug=slug, name=f"Export benchmark ({items} items)", overlap_k=3)
        codebook = Codebook.objects.create(study=study, name="Benchmark codebook")
        Membership.objects.create(study=study, user=owner, role=Membership.Role.OWNER)
        for rater in raters:
            Membership.objects.create(study=study, user=rater, role=Membership.Role.ANNOTATOR)
        dims = []
        for order, (code, name, kind, cats) in enumerate(DIMENSIONS):
            dim = Dimension.objects.create(codebook=codebook, code=code, name=name, kind=kind, order=order)
            Category.objects.bulk_create(
                [Category(dimension=dim, code=c, name=c.replace("_", " ").title(), order=i) for i, c in enumerate(cats)]
            )
            dims.append((dim.id, kind, cats))

        def reports():
            for n in range(items):
                title = " ".join(rng.choice(TITLE_WORDS) for _ in range(rng.randint(4, 12)))
                if n % 97 == 0:
                    title = "=SUM(A1:A2) " + title  # formula-like, quoted in the CSV
                yield (
                    f"bench:tensorflow/tensorflow#{n}",
                    "issue",
                    rng.choice(("tensorflow", "pytorch", "keras", "mxnet")),
                    title,
                    "Body with code\n```python\nimport torch\n```\n" * 3,
                    f"https://github.com/tensorflow/tensorflow/issues/{n}",
                    "closed",
                    now.isoformat(),
                    now.isoformat() if n % 3 else None,
                    "{}",
                    "",
                    now.isoformat(),
                    now.isoformat(),
                )

        n_reports = _copy(
            cur,
            "triage_report",
            [
                "source_id",
                "kind",
                "framework",
                "title",
                "body",
                "url",
                "state",
                "created_at",
                "closed_at",
                "raw",
                "content_hash",
                "imported_at",
                "updated_at",
            ],  # fmt: skip
            reports(),
        )
        log(f"  {n_reports} reports copied ({time.perf_counter() - started:.1f}s)")
        cur.execute(
            """
            INSERT INTO labelling_studyitem (study_id, report_id, screening, exclusion_reason, screened_at, added_at,
                                             needs_review, review_reason, screening_method, screening_conflict)
            SELECT %s, id,
                   CASE WHEN id %% 20 = 0 THEN 'excluded' WHEN id %% 20 = 1 THEN 'pending' ELSE 'included' END,
                   CASE WHEN id %% 20 = 0 THEN 'Not a framework bug' ELSE '' END,
                   %s, %s, false, '', '', false
            FROM triage_report WHERE source_id LIKE 'bench:%%' ORDER BY id
            """,
            [study.id, now, now],
        )
        cur.execute("INSERT INTO triage_sourcelabel (name) VALUES ('type:bug'), ('comp:gpu'), ('stat:awaiting')")
        cur.execute(
            """
            INSERT INTO triage_report_source_labels (report_id, sourcelabel_id)
            SELECT r.id, l.id FROM triage_report r JOIN triage_sourcelabel l
              ON l.id = (SELECT min(id) FROM triage_sourcelabel) + r.id % 3
            WHERE r.source_id LIKE 'bench:%'
            """
        )
        cur.execute("SELECT id FROM labelling_studyitem WHERE study_id = %s ORDER BY id", [study.id])
        item_ids = [r[0] for r in cur.fetchall()]
        cur.execute(
            """
            INSERT INTO labelling_assignment (study_id, item_id, annotator_id, created_at, completed_at)
            SELECT %s, si.id, u.id, %s, CASE WHEN (si.id + u.id) %% 25 = 0 THEN NULL ELSE %s END
            FROM labelling_studyitem si CROSS JOIN auth_user u
            WHERE si.study_id = %s AND u.username LIKE 'bench\\_rater\\_%%'
            """,
            [study.id, now, now, study.id],
        )

        def pick(kind, cats):
            if kind == "text":
                return rng.choice(("pad the input, then call", "upgrade to 2.4", "-1 is an edge case", ""))
            if kind == "multi":
                return ";".join(sorted(rng.sample(cats, rng.randint(1, 2))))
            return rng.choice(cats)

        finals = []

        def annotations():
            for item_id in item_ids:
                for dim_id, kind, cats in dims:
                    agreed = pick(kind, cats)
                    for rater in raters:
                        value = agreed if rng.random() < 0.8 else pick(kind, cats)
                        note = 'unsure, "maybe"\tcheck' if rng.random() < 0.05 else ""
                        yield (item_id, rater.id, dim_id, value, note, rng.randint(1000, 90000), now, now)
                    if rng.random() < 0.9 and agreed:
                        finals.append((item_id, dim_id, agreed, "unanimous" if rng.random() < 0.7 else "adjudicated"))

        n_annotations = _copy(
            cur,
            "labelling_annotation",
            ["item_id", "annotator_id", "dimension_id", "value", "note", "time_spent_ms", "created_at", "updated_at"],
            annotations(),
        )
        log(f"  {n_annotations} annotations copied ({time.perf_counter() - started:.1f}s)")
        n_finals = _copy(
            cur,
            "labelling_finallabel",
            ["item_id", "dimension_id", "value", "method", "rationale", "decided_at"],
            ((i, d, v, m, "", now) for i, d, v, m in finals),
        )
        log(f"  {n_finals} final labels copied ({time.perf_counter() - started:.1f}s)")
    with connection.cursor() as cur:
        for table in ("triage_report", "labelling_studyitem", "labelling_annotation", "labelling_finallabel",
                      "labelling_assignment", "triage_report_source_labels"):  # fmt: skip
            cur.execute(f"VACUUM (ANALYZE) {table}")  # hint bits and visibility map, as on a settled database
    seconds = time.perf_counter() - started
    dim_ids = {code: dim_id for (code, *_), (dim_id, *_) in zip(DIMENSIONS, dims, strict=True)}
    return BuiltStudy(slug, study.id, len(item_ids), n_annotations, n_finals, dim_ids, seconds)


def labelled_study_announced(*, items: int, db_url: str):
    """``build_labelled_study(items=...)``, saying which database it builds in or reuses and how
    long a build took (the benchmarks' shared opening)."""
    print(f"building / reusing the dataset ({items} items) in {db_url.rsplit('/', 1)[-1]} ...", flush=True)
    built = build_labelled_study(items=items)
    if built.seconds:
        print(f"  built in {built.seconds:.1f}s", flush=True)
    return built
