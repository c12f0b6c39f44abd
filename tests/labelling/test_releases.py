"""labelling/releases: building a release package (command, services), its contents and checks."""

import csv
import hashlib
import io
import json
import re
import zipfile

import pytest
from django.core.management import CommandError, call_command

from config.errors import ApplicationError
from labelling.models import FinalLabel, FinalLabelDecision, Study
from labelling.releases.models import Release
from labelling.releases.services import ReleaseOptions, release_create
from labelling.services.adjudication import final_label_adjudicate
from labelling.services.annotations import item_labels_save
from tests.factories import AssignmentFactory, ReportFactory, StudyItemFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def study(small_study):
    s = small_study
    study = s["study"]
    values = [("crash", ["layers"], "crash", ["layers", "model"]), ("hang", ["model"], "wrong_output", ["model"])]
    for n, (a_sym, a_comp, b_sym, b_comp) in enumerate(values, start=1):
        item = StudyItemFactory(
            study=study,
            report=ReportFactory(source_id=f"github:a/b#{n}", title=f'=Bug {n}, "quoted"', body=f"body {n}"),
            screening="included",
        )
        for who, sym, comp in (("ann1", a_sym, a_comp), ("ann2", b_sym, b_comp)):
            AssignmentFactory(item=item, annotator=s[who])
            item_labels_save(item=item, annotator=s[who], values={"symptom": sym, "component": comp})
        if n == 2:  # the annotators disagree on the symptom: the owner adjudicates
            final_label_adjudicate(study=study, item=item, dimension=s["symptom"], value="hang",
                                   rationale="The reporter says it hangs.", adjudicator=s["owner"])  # fmt: skip
    StudyItemFactory(
        study=study, report=ReportFactory(source_id="github:a/b#3", title="not screened"), screening="pending"
    )
    return study


def _zip(path):
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _zip(path):
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _release(study, version="1.0.0", **options):
    options.setdefault("figures", False)  # the command's test builds them; ~5 MB each
    return release_create(study=study, version=version, created_by=None, options=ReleaseOptions(**options))


def _csv(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def test_release_command_writes_the_package_and_stores_it(study, tmp_path):
    target = tmp_path / "small-1.0.0.zip"
    out = io.StringIO()
    call_command("release", "small", "--version", "1.0.0", "--output", str(target), stdout=out, stderr=io.StringIO())
    files = _zip(target)
    assert sorted(p for p in files if not p.startswith("figures/")) == [
        "CITATION.cff", "LICENSE", "README.md", "agreement.json", "changes.json", "checksums.sha256",
        "codebook.json", "data/adjudications.csv", "data/items.csv", "data/items.parquet", "data/labels.csv",
        "data/labels.parquet", "data/reproductions.csv", "datapackage.json",
    ]  # fmt: skip
    release = Release.objects.get(study=study)
    assert release.version == "1.0.0" and "sha256 " + release.sha256 in out.getvalue()
    assert release.sha256 == hashlib.sha256(target.read_bytes()).hexdigest()
    assert release.file.open("rb").read() == target.read_bytes()
    # every file's checksum, in the package and in the database
    listed = dict(reversed(line.split("  ")) for line in files["checksums.sha256"].decode().splitlines())
    assert set(listed) == set(files) - {"checksums.sha256"}
    for path, digest in listed.items():
        assert hashlib.sha256(files[path]).hexdigest() == digest
    assert {f.path: f.sha256 for f in release.files.all()} == listed
    items = _csv(files["data/items.csv"])
    assert [(r["source_id"], r["title"], r["symptom"], r["method_symptom"]) for r in items] == [
        ("github:a/b#1", '=Bug 1, "quoted"', "crash", "unanimous"),  # exact, not spreadsheet-escaped
        ("github:a/b#2", '=Bug 2, "quoted"', "hang", "adjudicated"),
        ("github:a/b#3", "not screened", "", ""),
    ]
    assert "body" not in items[0]
    labels = _csv(files["data/labels.csv"])
    assert [(r["annotator"], r["dimension"], r["value"]) for r in labels[:4]] == [
        ("A2", "symptom", "crash"), ("A2", "component", "layers"),  # A1 is olivia (pseudonyms follow user ids)
        ("A3", "symptom", "crash"), ("A3", "component", "layers;model"),
    ]  # fmt: skip
    figures = sorted(p for p in files if p.startswith("figures/"))
    assert figures and all(p.endswith((".html", ".csv")) for p in figures)
    assert b"plotly" in files[next(p for p in figures if p.endswith(".html"))]
    leaking = [p for p, data in files.items() if re.search(rb"\b(alice|bob)\b", data)]
    assert leaking == []  # pseudonyms everywhere
    info = zipfile.ZipFile(target).infolist()
    assert {i.date_time for i in info} == {(1980, 1, 1, 0, 0, 0)}
    assert [i.filename for i in info][:2] == ["datapackage.json", "README.md"]


def test_the_version_must_be_greater_than_the_latest(study):
    _release(study, "1.2.0")
    for version in ("1.2.0", "1.1.9", "1.2.0-rc.1"):
        with pytest.raises(ApplicationError, match=f"Version {version} is not greater than the latest release 1.2.0"):
            _release(study, version)
    with pytest.raises(ApplicationError, match="'one' is not a semantic version"):
        _release(study, "one")
    with pytest.raises(ApplicationError, match="Unknown licence 'MIT'"):
        _release(study, "2.0.0", licence="MIT")
    assert _release(study, "1.10.0").version == "1.10.0"
    assert list(Release.objects.filter(study=study).values_list("version", flat=True)) == ["1.10.0", "1.2.0"]
    with pytest.raises(CommandError, match="not greater"):
        call_command("release", "small", "--version", "1.3.0", stdout=io.StringIO(), stderr=io.StringIO())


def _unzip(path, into):
    with zipfile.ZipFile(path) as zf:
        zf.extractall(into)
    return into


def test_the_package_validates_and_its_parquet_reads_everywhere(study, tmp_path):
    import duckdb
    import frictionless
    import pandas as pd
    import pyarrow as pa
    import pyarrow.dataset as ds

    release = _release(study)
    root = _unzip(release.file.path, tmp_path / "pkg")
    report = frictionless.validate(str(root / "datapackage.json"))
    assert report.valid, report.flatten(["type", "note"])
    descriptor = json.loads((root / "datapackage.json").read_text())
    items_schema = next(r for r in descriptor["resources"] if r["name"] == "items")["schema"]
    symptom = next(f for f in items_schema["fields"] if f["name"] == "symptom")
    assert symptom["constraints"]["enum"] == ["crash", "hang", "wrong_output"]
    assert symptom["description"].startswith("Final label of 'Symptom'")

    frame = pd.read_parquet(root / "data/items.parquet")
    from_csv = pd.read_csv(root / "data/items.csv", keep_default_na=False, dtype=str)
    assert list(frame.columns) == list(from_csv.columns)
    assert (
        frame["n_annotations_complete"].tolist() == [2, 2, 0] == from_csv["n_annotations_complete"].astype(int).tolist()
    )
    assert frame["symptom"].tolist()[:2] == ["crash", "hang"] and pd.isna(frame["symptom"].iloc[2])
    assert isinstance(frame["symptom"].dtype, pd.CategoricalDtype)
    table = ds.dataset(str(root / "data/labels.parquet")).to_table()
    assert table.schema.field("annotator").type == pa.dictionary(pa.int32(), pa.string())
    assert table.schema.field("time_spent_ms").type == pa.int64()
    assert table.num_rows == 8 == len(_csv((root / "data/labels.csv").read_bytes()))
    counts = duckdb.sql(
        f"SELECT value, count(*) FROM '{root}/data/labels.parquet' WHERE dimension = 'symptom' GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert counts == [("crash", 2), ("hang", 1), ("wrong_output", 1)]
    adjudications = _csv((root / "data/adjudications.csv").read_bytes())
    assert [(a["source_id"], a["dimension"], a["value"], a["adjudicator"]) for a in adjudications] == [
        ("github:a/b#2", "symptom", "hang", "A1")
    ]


def test_the_dataset_card_figures_equal_the_agreement_command(study, tmp_path):
    from labelling.agreement.render import fmt, fmt_ci

    release = _release(study)
    files = _zip(release.file.path)
    out = io.StringIO()
    call_command("agreement", "small", "--format", "json", stdout=out)
    command = json.loads(out.getvalue())
    packaged = json.loads(files["agreement.json"])
    for ours, theirs in zip(packaged["dimensions"], command["dimensions"], strict=True):
        for pair in theirs.get("cohen_kappa") or []:
            pair["raters"] = [{"alice": "A2", "bob": "A3"}[r] for r in pair["raters"]]
        assert ours == theirs
    card = files["README.md"].decode()
    for d in command["dimensions"]:
        kappa, alpha = d["fleiss_kappa"], d["krippendorff_alpha"]
        row = (
            f"| {d['code']} | {d['items']} | {fmt(d['percent_agreement'])} | {fmt(kappa['value'])} "
            f"{fmt_ci(kappa['ci95'])} | {fmt(alpha['value'])} {fmt_ci(alpha['ci95'])} | {fmt(d['gwet_ac1']['value'])} |"
        )
        assert row in card


def test_round_trip_gives_byte_identical_data_files(study, small_study, tmp_path):
    first = _release(study, include_bodies=True)
    out = io.StringIO()
    call_command("load_release", first.file.path, "--study", "small-copy", "--owner", "rita", stdout=out)
    assert (
        "Loaded study 'small-copy': 3 items (0 reports created, 3 reused), 8 labels, 3 final labels" in out.getvalue()
    )
    copy = Study.objects.get(slug="small-copy")
    assert FinalLabelDecision.objects.filter(item__study=copy).count() == 1
    again = _release(copy, include_bodies=True)
    a, b = _zip(first.file.path), _zip(again.file.path)
    data = [p for p in a if p.startswith("data/")]
    assert data and all(a[p] == b[p] for p in data), [p for p in data if a[p] != b[p]]
    a_sums = {f.path: f.sha256 for f in first.files.all() if f.path.startswith("data/")}
    assert a_sums == {f.path: f.sha256 for f in again.files.all() if f.path.startswith("data/")}
    assert a["codebook.json"] == b["codebook.json"]


def test_a_tampered_package_is_refused_and_nothing_is_written(study, tmp_path):
    release = _release(study)
    files = _zip(release.file.path)
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(tampered, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data.replace(b"crash", b"hang!") if name == "data/labels.csv" else data)
    before = (Study.objects.count(), FinalLabel.objects.count())
    with pytest.raises(CommandError, match="'data/labels.csv' does not match its checksum"):
        call_command("load_release", str(tampered), "--study", "evil", "--owner", "rita", stdout=io.StringIO())
    assert (Study.objects.count(), FinalLabel.objects.count()) == before


def test_a_codebook_that_contradicts_the_data_is_refused(study, tmp_path):
    from labelling.releases.writer import WrittenFile, checksums_text

    release = _release(study)
    files = _zip(release.file.path)
    codebook = json.loads(files["codebook.json"])
    codebook["dimensions"][0]["categories"] = [
        c for c in codebook["dimensions"][0]["categories"] if c["code"] != "hang"
    ]
    files["codebook.json"] = json.dumps(codebook).encode()
    descriptor = json.loads(files["datapackage.json"])
    for r in descriptor["resources"]:
        if r["path"] == "codebook.json":
            r["hash"], r["bytes"] = (
                "sha256:" + hashlib.sha256(files["codebook.json"]).hexdigest(),
                len(files["codebook.json"]),
            )
    files["datapackage.json"] = json.dumps(descriptor).encode()
    files["checksums.sha256"] = checksums_text(
        [WrittenFile(p, len(d), hashlib.sha256(d).hexdigest()) for p, d in files.items() if p != "checksums.sha256"]
    ).encode()
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    with pytest.raises(CommandError, match="'hang' is not a category of 'symptom' in codebook.json"):
        call_command("load_release", str(bad), "--study", "bad", "--owner", "rita", stdout=io.StringIO())
    assert not Study.objects.filter(slug="bad").exists()


def test_bodies_and_names_are_the_owners_choice_and_the_card_says_so(study):
    plain = _zip(_release(study).file.path)
    assert "body" not in _csv(plain["data/items.csv"])[0]
    assert "Report bodies are **not included**" in plain["README.md"].decode()
    chosen = _zip(_release(study, "1.1.0", include_bodies=True, name_annotators=True, licence="CC0-1.0").file.path)
    items = _csv(chosen["data/items.csv"])
    assert [r["body"] for r in items] == ["body 1", "body 2", ""] or items[0]["body"] == "body 1"
    card = chosen["README.md"].decode()
    assert "Report bodies **are included**" in card and "named by their usernames" in card
    assert {r["annotator"] for r in _csv(chosen["data/labels.csv"])} == {"alice", "bob"}
    assert "CC0-1.0" in chosen["LICENSE"].decode() and "license: CC0-1.0" in chosen["CITATION.cff"].decode()
    descriptor = json.loads(chosen["datapackage.json"])
    assert descriptor["licenses"][0]["name"] == "CC0-1.0" and descriptor["version"] == "1.1.0"
    # the same study released again gives the same data files, byte for byte
    again = _zip(_release(study, "1.2.0", include_bodies=True, name_annotators=True).file.path)
    assert all(again[p] == chosen[p] for p in chosen if p.startswith("data/"))
