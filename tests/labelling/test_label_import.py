"""Label import: parsing and checks (labelling/dataset/label_import.py), the write
(labelling/services/label_import.py) and the API (POST /api/studies/<slug>/labels/import/)."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from config.errors import ApplicationError
from labelling.dataset.label_import import CodebookLookup, read_label_rows, validate_label_rows
from labelling.models import (
    Annotation,
    Assignment,
    Category,
    Dimension,
    FinalLabel,
    Membership,
    StudyItem,
)
from labelling.services.label_import import labels_import
from tests.factories import (
    AnnotationFactory,
    AssignmentFactory,
    DimensionFactory,
    FinalLabelFactory,
    MembershipFactory,
    ReportFactory,
    StudyItemFactory,
    UserFactory,
)

HEADER = "source_id,annotator,dimension,value,note\n"


def rows_of(text: str):
    return read_label_rows(io.BytesIO(text.encode("utf-8")))


# ---- parsing, without the database ------------------------------------------------------


def test_header_may_come_in_any_order_and_case_with_a_bom_and_without_note():
    rows, errors = rows_of("\ufeffValue, Dimension ,ANNOTATOR,source_id\ncrash,symptom,alice,r1\n")
    assert errors == []
    assert [(r.line, r.source_id, r.annotator, r.dimension, r.value, r.note) for r in rows] == [
        (2, "r1", "alice", "symptom", "crash", "")
    ]


@pytest.mark.parametrize(
    "header, fragment",
    [
        ("source_id,annotator,dimension\n", "missing column(s): value"),
        ("source_id,annotator,dimension,value,comment\n", "unknown column(s): 'comment'"),
        ("source_id,annotator,dimension,value,value\n", "column(s) given twice: value"),
        ("", "The file is empty"),
    ],
)
def test_a_bad_header_is_an_error_on_line_1(header, fragment):
    rows, errors = rows_of(header + "r1,alice,symptom,crash\n")
    if not header:
        rows, errors = rows_of("")
    assert rows == []
    assert len(errors) == 1 and errors[0].line == 1 and errors[0].field == "header"
    assert fragment in errors[0].message and "source_id,annotator,dimension,value[,note]" in errors[0].message


def test_line_numbers_count_physical_lines_and_skip_blank_lines():
    text = HEADER + 'r1,alice,symptom,crash,"two\nline note"\n\nr2,alice,symptom,hang,\nr3,alice\n'
    rows, errors = rows_of(text)
    assert [(r.line, r.source_id, r.note) for r in rows] == [(2, "r1", "two\nline note"), (5, "r2", "")]
    assert [(e.line, e.field) for e in errors] == [(6, "row")]
    assert "Expected 5 fields" in errors[0].message


def test_a_line_that_is_not_utf8_is_reported_with_its_number():
    data = (HEADER + "r1,alice,symptom,crash,\n").encode() + "r2,alice,symptom,caf\xe9,\n".encode("latin-1")
    rows, errors = read_label_rows(io.BytesIO(data))
    assert [r.line for r in rows] == [2]
    assert [(e.line, e.field) for e in errors] == [(3, "file")] and "UTF-8" in errors[0].message


def _codebook():
    symptom = Dimension(code="symptom", name="Symptom", kind=Dimension.Kind.SINGLE)
    component = Dimension(code="component", name="Framework component", kind=Dimension.Kind.MULTI, max_choices=2)
    fix = Dimension(code="fix", name="Fix", kind=Dimension.Kind.TEXT)
    return CodebookLookup(
        [
            (symptom, [Category(code="crash", name="Crash"), Category(code="wrong_output", name="Incorrect Output")]),
            (
                component,
                [
                    Category(code="layers", name="Layers"),
                    Category(code="model", name="Model API"),
                    Category(code="optimizer", name="Optimizer"),
                ],
            ),  # fmt: skip
            (fix, []),
        ]
    )


def test_values_match_by_code_or_name_ignoring_case_and_multi_choice_is_sorted_codes():
    raw, _ = rows_of(
        HEADER
        + "r1,alice,SYMPTOM,incorrect output,\n"
        + "r1,bob,symptom,Crash,\n"
        + "r1,alice,framework component,model api; LAYERS,\n"
        + "r1,,fix, pad the input ,\n"
    )
    rows, errors = validate_label_rows(raw, codebook=_codebook(), known_source_ids={"r1"})
    assert errors == []
    assert [(r.annotator, r.dimension, r.value, r.is_final) for r in rows] == [
        ("alice", "symptom", "wrong_output", False),
        ("bob", "symptom", "crash", False),
        ("alice", "component", "layers;model", False),
        ("", "fix", "pad the input", True),
    ]


def test_every_problem_is_reported_with_its_line():
    raw, _ = rows_of(
        HEADER
        + "r1,alice,symptom,crash,\n"  # 2 fine
        + "nope,alice,symptom,crash,\n"  # 3 unknown report
        + "r1,alice,cause,crash,\n"  # 4 unknown dimension
        + "r1,bob,symptom,explosion,\n"  # 5 unknown category
        + "r1,carol,symptom,crash;wrong_output,\n"  # 6 two values for a single choice
        + "r1,alice,symptom,wrong_output,\n"  # 7 conflicts with line 2
        + "r1,alice,symptom,CRASH,\n"  # 8 same as line 2: fine
        + "r1,,symptom,,\n"  # 9 a final label without a value
        + "r1,al ice!,symptom,crash,\n"  # 10 not a username
        + "r1,dan,component,layers;model;optimizer,\n"  # 11 more than max_choices
    )
    rows, errors = validate_label_rows(raw, codebook=_codebook(), known_source_ids={"r1"})
    assert [(e.line, e.field) for e in errors] == [
        (3, "source_id"),
        (4, "dimension"),
        (5, "value"),
        (6, "value"),
        (7, "value"),
        (9, "value"),
        (10, "annotator"),
        (11, "value"),
    ]
    messages = {e.line: e.message for e in errors}
    assert "Unknown report 'nope'" in messages[3]
    assert "Unknown dimension 'cause'" in messages[4] and "symptom, component, fix" in messages[4]
    assert "'explosion' is not a category of 'symptom'" in messages[5]
    assert "takes one category, got 2" in messages[6]
    assert "Conflicts with line 2" in messages[7]
    assert "needs a value" in messages[9]
    assert "at most 2 categories" in messages[11]
    assert [r.line for r in rows] == [2]  # line 8 repeats line 2 and is dropped


# ---- the write ------------------------------------------------------------------------------


@pytest.fixture
def setup(small_study):
    s = small_study
    study = s["study"]
    fix = DimensionFactory(codebook=study.codebook, code="fix", name="Fix", kind=Dimension.Kind.TEXT, order=3)
    r1 = StudyItemFactory(study=study, report=ReportFactory(source_id="gh#1"))
    r2 = StudyItemFactory(study=study, report=ReportFactory(source_id="gh#2"))
    outside = ReportFactory(source_id="gh#3")  # in the database, not in the study
    AssignmentFactory(item=r1, annotator=s["ann1"], completed_at=timezone.now())
    existing = AnnotationFactory(item=r1, annotator=s["ann1"], dimension=s["symptom"], value="hang", note="old")
    carol = UserFactory(username="carol")  # a third annotator, with no assignment yet
    MembershipFactory(study=study, user=carol, role=Membership.Role.ANNOTATOR)
    staff = UserFactory(username="root", is_staff=True)  # staff: treated as an owner, not a member
    return {
        **s,
        "fix": fix,
        "r1": r1,
        "r2": r2,
        "outside": outside,
        "existing": existing,
        "carol": carol,
        "staff": staff,
    }


def snapshot(study):
    """Everything an import can write, to compare before and after."""
    return {
        "items": sorted(StudyItem.objects.filter(study=study).values_list("report__source_id", "screening")),
        "annotations": sorted(
            Annotation.objects.values_list("item_id", "annotator__username", "dimension_id", "value", "note")
        ),
        "assignments": sorted(Assignment.objects.values_list("item_id", "annotator_id", "completed_at")),
        "finals": sorted(FinalLabel.objects.values_list("item_id", "dimension_id", "value", "method")),
        "users": sorted(get_user_model().objects.values_list("username", flat=True)),
        "members": sorted(Membership.objects.values_list("user__username", "role")),
    }


def run(study, text, **kwargs):
    return labels_import(study=study, source=io.BytesIO(text.encode("utf-8")), **kwargs)


# alice, bob and carol are annotators of the study; rater_a and rater_b have no account (the
# import creates them only with create_annotators).
GOOD = (
    HEADER
    + "gh#1,alice,symptom,Crash,segfault in conv\n"
    + "gh#1,bob,symptom,crash,\n"
    + "gh#1,alice,component,model; layers,\n"
    + "gh#2,rater_b,symptom,Incorrect Functionality,\n"
    + "gh#2,rater_a,symptom,hang,\n"
    + "gh#3,carol,component,optimizer,\n"
    + "gh#2,,symptom,WRONG_OUTPUT,\n"
    + 'gh#2,,fix,"=cast, then pad",\n'
)
# The same without the lines of the accounts to create: only existing annotators.
MEMBERS_ONLY = "".join(line for line in GOOD.splitlines(keepends=True) if ",rater_" not in line)


def test_import_writes_annotations_assignments_final_labels_and_accounts(setup):
    study = setup["study"]
    result = run(study, GOOD, create_annotators=True)
    assert result.rows == 8
    assert result.items_added == 1
    assert (result.annotations_created, result.annotations_updated, result.annotations_unchanged) == (5, 1, 0)
    assert (result.final_labels_set, result.final_labels_unchanged) == (2, 0)
    assert result.accounts_created == ["rater_a", "rater_b"]
    assert result.annotators_added == ["rater_a", "rater_b"]  # the new accounts only
    assert "created 2 accounts: rater_a, rater_b (no password; set one in the admin)" in result.summary
    assert "new annotators of the study: rater_a, rater_b" in result.summary

    # The existing annotation was updated; the new report joined the study, screened in.
    setup["existing"].refresh_from_db()
    assert (setup["existing"].value, setup["existing"].note) == ("crash", "segfault in conv")
    added = StudyItem.objects.get(study=study, report__source_id="gh#3")
    assert added.screening == StudyItem.Screening.INCLUDED
    comp = Annotation.objects.get(item=setup["r1"], annotator=setup["ann1"], dimension=setup["component"])
    assert comp.value == "layers;model"

    # New people have no usable password and are annotators; nobody else joined or changed role.
    User = get_user_model()
    for name in ("rater_a", "rater_b"):
        assert not User.objects.get(username=name).has_usable_password()
    roles = dict(Membership.objects.filter(study=study).values_list("user__username", "role"))
    assert roles == {
        "olivia": Membership.Role.OWNER,
        "alice": Membership.Role.ANNOTATOR,
        "bob": Membership.Role.ANNOTATOR,
        "carol": Membership.Role.ANNOTATOR,
        "victor": Membership.Role.VIEWER,
        "rater_a": Membership.Role.ANNOTATOR,
        "rater_b": Membership.Role.ANNOTATOR,
    }

    # Every (item, annotator) in the file has a completed assignment.
    pairs = set(Assignment.objects.filter(study=study, completed_at__isnull=False).values_list(
        "item__report__source_id", "annotator__username"))  # fmt: skip
    assert pairs == {("gh#1", "alice"), ("gh#1", "bob"), ("gh#2", "rater_a"), ("gh#2", "rater_b"), ("gh#3", "carol")}
    assert result.assignments_created == 4  # alice's on gh#1 existed

    # Final rows became imported final labels; alice and bob agree on gh#1 -> unanimous (k=2).
    finals = dict(
        ((source, code), (value, method))
        for source, code, value, method in FinalLabel.objects.values_list(
            "item__report__source_id", "dimension__code", "value", "method"
        )
    )
    assert finals[("gh#2", "symptom")] == ("wrong_output", FinalLabel.Method.IMPORTED)
    assert finals[("gh#2", "fix")] == ("=cast, then pad", FinalLabel.Method.IMPORTED)
    assert finals[("gh#1", "symptom")] == ("crash", FinalLabel.Method.UNANIMOUS)
    assert ("gh#1", "component") not in finals  # bob gave none
    assert result.unanimous_final_labels == 1


def test_reimporting_the_same_file_changes_nothing(setup):
    study = setup["study"]
    run(study, GOOD, create_annotators=True)
    before = snapshot(study)
    updated_at = dict(Annotation.objects.values_list("id", "updated_at"))
    again = run(study, GOOD)  # the accounts exist now, and are annotators
    assert snapshot(study) == before
    assert dict(Annotation.objects.values_list("id", "updated_at")) == updated_at
    assert (again.annotations_created, again.annotations_updated, again.annotations_unchanged) == (0, 0, 6)
    assert (again.final_labels_set, again.final_labels_unchanged) == (0, 2)
    assert again.items_added == again.assignments_created == again.assignments_completed == 0
    assert again.accounts_created == again.annotators_added == []
    assert "nothing changed" in again.summary


def test_dry_run_counts_like_the_real_run_and_writes_nothing(setup):
    study = setup["study"]
    before = snapshot(study)
    dry = run(study, GOOD, dry_run=True, create_annotators=True)
    assert snapshot(study) == before
    assert dry.summary.startswith("Dry run: nothing was written")
    real = run(study, GOOD, create_annotators=True)
    for attr in (
        "items_added",
        "annotations_created",
        "annotations_updated",
        "final_labels_set",
        "assignments_created",
    ):
        assert getattr(dry, attr) == getattr(real, attr), attr
    assert dry.accounts_created == real.accounts_created == ["rater_a", "rater_b"]
    assert dry.annotators_added == real.annotators_added


def test_an_account_created_elsewhere_during_the_import_is_refused_not_a_500(setup, monkeypatch):
    """Two imports (into any studies) creating the same new username: the one that loses the race
    on the unique username is refused with what happened, and writes nothing."""
    import labelling.services.label_import as service

    study = setup["study"]
    checked = service._check

    def check_then_someone_else_creates_rater_a(**kwargs):
        found = checked(**kwargs)
        UserFactory(username="rater_a")  # e.g. an import into another study, committed meanwhile
        return found

    monkeypatch.setattr(service, "_check", check_then_someone_else_creates_rater_a)
    before = Annotation.objects.count()
    with pytest.raises(ApplicationError) as caught:
        run(study, GOOD, create_annotators=True)
    assert caught.value.status == 409
    assert "rater_a" in caught.value.message and "import the file again" in caught.value.message
    assert Annotation.objects.count() == before
    assert not get_user_model().objects.filter(username="rater_b").exists()
    assert not Membership.objects.filter(study=study, user__username="rater_a").exists()


def test_an_incomplete_assignment_is_completed(setup):
    AssignmentFactory(item=setup["r2"], annotator=setup["ann2"], completed_at=None)
    result = run(setup["study"], HEADER + "gh#2,bob,symptom,crash,\n")
    assert result.assignments_completed == 1 and result.assignments_created == 0
    assert Assignment.objects.get(item=setup["r2"], annotator=setup["ann2"]).completed_at is not None


def test_a_final_row_replaces_a_unanimous_label_and_keeps_an_equal_adjudicated_one(setup):
    FinalLabel.objects.create(item=setup["r1"], dimension=setup["symptom"], value="hang", method="unanimous")
    FinalLabel.objects.create(item=setup["r2"], dimension=setup["symptom"], value="crash", method="adjudicated")
    result = run(setup["study"], HEADER + "gh#1,,symptom,crash,\ngh#2,,symptom,crash,\n")
    assert (result.final_labels_set, result.final_labels_unchanged) == (1, 1)
    assert FinalLabel.objects.get(item=setup["r1"]).method == FinalLabel.Method.IMPORTED
    assert FinalLabel.objects.get(item=setup["r2"]).method == FinalLabel.Method.ADJUDICATED


# ---- who may receive labels (issue 10, point 5) ---------------------------------------------


def _refused(study, text, **kwargs):
    before = snapshot(study)
    with pytest.raises(ApplicationError) as exc:
        run(study, text, **kwargs)
    assert "nothing was imported" in exc.value.message
    assert snapshot(study) == before  # no account, member, label or assignment was written
    return exc.value.details


def test_a_username_without_an_account_is_refused_and_no_account_is_created(setup):
    details = _refused(setup["study"], HEADER + "gh#1,alice,symptom,crash,\ngh#1,nobody,symptom,crash,\n")
    assert [(d["line"], d["field"]) for d in details] == [(3, "annotator")]
    message = details[0]["message"]
    assert "No account is named 'nobody'" in message and "add it as an annotator first" in message
    assert "POST /api/studies/small/members/" in message and "--create-annotators" in message
    assert not get_user_model().objects.filter(username="nobody").exists()


@pytest.mark.parametrize("create_annotators", [False, True])
def test_an_account_that_is_not_a_member_is_refused_and_not_enrolled(setup, create_annotators):
    details = _refused(setup["study"], HEADER + "gh#1,mallory,symptom,crash,\n", create_annotators=create_annotators)
    assert [(d["line"], d["field"]) for d in details] == [(2, "annotator")]
    assert "'mallory' is not a member of this study" in details[0]["message"]
    assert "Add 'mallory' as an annotator first" in details[0]["message"]
    if create_annotators:
        assert "never enrols an existing one" in details[0]["message"]
    assert not Membership.objects.filter(study=setup["study"], user=setup["outsider"]).exists()


@pytest.mark.parametrize("who, fragment", [("owner", "'olivia' is an owner"), ("viewer", "'victor' is a viewer")])
def test_an_owner_or_viewer_cannot_receive_labels(setup, who, fragment):
    details = _refused(setup["study"], HEADER + f"gh#1,{setup[who].username},symptom,crash,\n")
    assert [(d["line"], d["field"]) for d in details] == [(2, "annotator")]
    assert fragment in details[0]["message"] and "not an annotator" in details[0]["message"]
    assert Membership.objects.get(study=setup["study"], user=setup[who]).role != Membership.Role.ANNOTATOR


def test_a_staff_user_importing_labels_as_themselves_is_not_enrolled(setup):
    """Staff act as owners of every study without being members: their own name is refused too."""
    details = _refused(setup["study"], HEADER + "gh#1,root,symptom,crash,\n")
    assert "'root' is not a member of this study" in details[0]["message"]
    assert not Membership.objects.filter(user=setup["staff"]).exists()


def test_each_refused_username_is_reported_once_on_its_first_line_with_the_others_listed(setup):
    text = (
        HEADER
        + "gh#1,nobody,symptom,crash,\n"  # 2
        + "gh#2,nobody,symptom,crash,\n"  # 3
        + "gh#1,mallory,symptom,crash,\n"  # 4
        + "gh#2,nobody,component,layers,\n"  # 5
        + "gh#3,ghost,symptom,crash,\n"  # 6
        + "".join(f"r{i},ghost,symptom,crash,\n" for i in range(7))  # 7..13: unknown reports too
    )
    details = _refused(setup["study"], text)
    by_line = {(d["line"], d["field"]): d["message"] for d in details}
    assert "No account is named 'nobody' (also on lines 3, 5)" in by_line[(2, "annotator")]
    assert "'mallory' is not a member" in by_line[(4, "annotator")]
    assert "No account is named 'ghost' (also on lines 7, 8, 9, 10, 11 and 2 more)" in by_line[(6, "annotator")]
    assert [line for line, field in by_line if field == "annotator"] == [2, 4, 6]
    assert [line for line, field in by_line if field == "source_id"] == list(range(7, 14))


def test_with_create_annotators_a_new_account_becomes_an_annotator_and_is_reported(setup):
    result = run(setup["study"], HEADER + "gh#1,newbie,symptom,crash,\n", create_annotators=True)
    assert result.accounts_created == result.annotators_added == ["newbie"]
    assert "created 1 account: newbie" in result.summary and "new annotators of the study: newbie" in result.summary
    user = get_user_model().objects.get(username="newbie")
    assert not user.has_usable_password() and not user.is_staff
    assert Membership.objects.get(study=setup["study"], user=user).role == Membership.Role.ANNOTATOR


# ---- final labels the file does not replace (issue 10, point 5) -----------------------------


def _agreed_item(setup):
    """gh#1 where alice and bob finished and agree on every dimension: three unanimous final labels."""
    from labelling.services.annotations import item_labels_save

    r1 = setup["r1"]
    AssignmentFactory(item=r1, annotator=setup["ann2"])
    for who in ("ann1", "ann2"):
        item_labels_save(
            item=r1, annotator=setup[who], values={"symptom": "crash", "component": "layers", "fix": "pad"}
        )
    assert _finals_of(r1) == AGREED
    return r1


AGREED = {"symptom": ("crash", "unanimous"), "component": ("layers", "unanimous"), "fix": ("pad", "unanimous")}


def _finals_of(item):
    return {code: (value, method) for code, value, method in FinalLabel.objects.filter(item=item).values_list(
        "dimension__code", "value", "method")}  # fmt: skip


def test_a_one_row_import_keeps_the_final_labels_of_the_dimensions_it_does_not_label(setup):
    """Carol's one symptom label makes her a finished annotator of gh#1 without a component or a
    fix: those unanimous final labels are not the file's business and stay."""
    r1 = _agreed_item(setup)
    result = run(setup["study"], HEADER + "gh#1,carol,symptom,crash,\n")
    assert result.annotations_created == 1 and result.assignments_created == 1
    assert _finals_of(r1) == AGREED
    assert result.unanimous_final_labels == 1  # symptom, the pair the file labels

    # A label that breaks the agreement on the dimension the file carries removes that one only.
    run(setup["study"], HEADER + "gh#1,carol,symptom,hang,\n")
    assert _finals_of(r1) == {k: v for k, v in AGREED.items() if k != "symptom"}


def test_an_import_never_removes_adjudicated_or_imported_final_labels(setup):
    r1 = _agreed_item(setup)
    FinalLabel.objects.filter(item=r1, dimension=setup["symptom"]).update(method="adjudicated", value="hang")
    other = FinalLabelFactory(item=setup["r2"], dimension=setup["symptom"], value="crash", method="imported")
    run(setup["study"], HEADER + "gh#1,carol,symptom,wrong_output,\ngh#2,carol,symptom,hang,\n")
    assert _finals_of(r1)["symptom"] == ("hang", "adjudicated")
    assert _finals_of(setup["r2"]) == {"symptom": ("crash", "imported")}
    other.refresh_from_db()
    assert other.method == "imported"


BAD_FILES = [
    ("unknown report", GOOD + "gh#404,alice,symptom,crash,\n", [(10, "source_id", "Unknown report 'gh#404'")]),
    ("unknown dimension", GOOD + "gh#1,alice,severity,high,\n", [(10, "dimension", "Unknown dimension 'severity'")]),
    ("unknown category", GOOD + "gh#1,bob,component,gpu,\n", [(10, "value", "'gpu' is not a category")]),
    ("bad header", "source_id,user,dimension,value\ngh#1,alice,symptom,crash\n", [(1, "header", "missing column")]),
    ("conflict", GOOD + "gh#1,bob,symptom,hang,\n", [(10, "value", "Conflicts with line 3")]),
    ("two values for single", GOOD + "gh#2,bob,symptom,crash;hang,\n", [(10, "value", "takes one category")]),
    (
        "several at once",
        HEADER + "gh#1,bob,symptom,crash,\ngh#9,bob,symptom,crash,\ngh#1,,nope,x,\n",
        [(3, "source_id", "Unknown report"), (4, "dimension", "Unknown dimension")],
    ),
]


@pytest.mark.parametrize("case, text, expected", BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_a_bad_file_is_refused_with_line_numbers_and_writes_nothing(setup, case, text, expected):
    study = setup["study"]
    before = snapshot(study)
    counts = (Annotation.objects.count(), FinalLabel.objects.count(), StudyItem.objects.count())
    with pytest.raises(ApplicationError) as exc:
        run(study, text, create_annotators=True)
    assert "nothing was imported" in exc.value.message
    got = [(d["line"], d["field"]) for d in exc.value.details]
    assert got == [(line, field) for line, field, _ in expected]
    for detail, (_, _, fragment) in zip(exc.value.details, expected, strict=True):
        assert fragment in detail["message"]
    assert (Annotation.objects.count(), FinalLabel.objects.count(), StudyItem.objects.count()) == counts
    assert snapshot(study) == before
    setup["existing"].refresh_from_db()
    assert setup["existing"].value == "hang"


def _large_file(n_reports: int, *, last: str = "") -> str:
    """Two annotators on two dimensions of ``n_reports`` new reports, each line written twice (an
    identical repeat, dropped), the repeats after all the first lines; ``last`` is appended."""
    lines = []
    for i in range(n_reports):
        for who in ("alice", "bob"):
            lines.append(f"big#{i},{who},symptom,{'crash' if i % 3 else 'hang'},\n")
            lines.append(f"big#{i},{who},component,layers;model,\n")
    return HEADER + "".join(lines) + "".join(lines) + last


@pytest.fixture
def large(setup, monkeypatch):
    """The setup's study, 300 new reports, and chunks small enough that a file of a few thousand
    lines is read, checked and staged in many of them (as a million-line one is)."""
    import labelling.services.label_import as service
    from labelling.dataset import bulk_write

    monkeypatch.setattr(service, "READ_CHUNK", 97)
    monkeypatch.setattr(bulk_write, "COPY_CHUNK", 250)
    for i in range(300):
        ReportFactory(source_id=f"big#{i}")
    return setup


def test_a_large_file_is_imported_across_chunks_with_its_repeats_dropped(large):
    result = run(large["study"], _large_file(300))
    assert (result.rows, result.annotations_created, result.items_added) == (1200, 1200, 300)
    assert result.assignments_created == 600
    study_items = StudyItem.objects.filter(study=large["study"], report__source_id__startswith="big#")
    assert Annotation.objects.filter(item__in=study_items).count() == 1200
    assert Assignment.objects.filter(item__in=study_items, completed_at__isnull=False).count() == 600
    # alice and bob agree everywhere: one unanimous final label per report and dimension
    assert FinalLabel.objects.filter(item__in=study_items, method="unanimous").count() == 600


@pytest.mark.parametrize(
    "last, expected",
    [
        ("big#299,bob,symptom,explosion,\n", [(2402, "value", "'explosion' is not a category")]),
        ("big#1,alice,symptom,hang,\n", [(2402, "value", "Conflicts with line 6")]),
        ("big#7,alice\n", [(2402, "row", "Expected 5 fields")]),
        ("big#300,alice,symptom,crash,\n", [(2402, "source_id", "Unknown report 'big#300'")]),
    ],
    ids=["unknown category", "conflict with the first line", "short line", "unknown report"],
)
def test_a_bad_last_line_of_a_large_file_is_reported_and_nothing_is_written(large, last, expected):
    """The file is read, checked and staged in chunks: a bad line after all the others still
    refuses the whole file, with its line number, before anything is kept."""
    study = large["study"]
    before = snapshot(study)
    with pytest.raises(ApplicationError) as exc:
        run(study, _large_file(300, last=last))
    assert "nothing was imported" in exc.value.message
    assert [(d["line"], d["field"]) for d in exc.value.details] == [(line, field) for line, field, _ in expected]
    assert expected[0][2] in exc.value.details[0]["message"]
    assert snapshot(study) == before
    assert not StudyItem.objects.filter(report__source_id__startswith="big#").exists()
    # the staging table went with the rollback: the next import of a good file works
    assert run(study, _large_file(300)).annotations_created == 1200


def test_query_count_does_not_grow_with_the_number_of_lines(setup):
    def queries(n_reports: int) -> int:
        lines = []
        for i in range(n_reports):
            ReportFactory(source_id=f"q{n_reports}#{i}")
            lines.append(f"q{n_reports}#{i},rater_{n_reports},symptom,crash,\n")
            lines.append(f"q{n_reports}#{i},,component,layers;model,\n")
        with CaptureQueriesContext(connection) as ctx:
            run(setup["study"], HEADER + "".join(lines), create_annotators=True)
        return len(ctx.captured_queries)

    assert queries(3) == queries(60)


# ---- the API ----------------------------------------------------------------------------------


def _post(api_client, user, text, **data):
    if user is not None:
        api_client.force_authenticate(user)
    upload = SimpleUploadedFile("labels.csv", text.encode("utf-8"), content_type="text/csv")
    return api_client.post(
        reverse("labelling-api:labels-import", args=["small"]), {"file": upload, **data}, format="multipart"
    )


@pytest.mark.parametrize(
    "role, status", [("owner", 200), ("staff", 200), ("ann1", 403), ("viewer", 403), ("outsider", 404)]
)
def test_api_import_per_role(api_client, setup, role, status):
    before = snapshot(setup["study"])
    response = _post(api_client, setup[role], MEMBERS_ONLY)
    assert response.status_code == status
    if status == 200:
        body = response.json()
        assert body["annotations_created"] == 3 and body["accounts_created"] == body["annotators_added"] == []
        assert "Labels imported" in body["summary"]
    else:
        assert snapshot(setup["study"]) == before


def test_api_import_anonymous_is_refused(api_client, setup):
    assert _post(api_client, None, GOOD).status_code in (401, 403)


def test_api_import_answers_400_with_line_errors(api_client, setup):
    before = snapshot(setup["study"])
    response = _post(api_client, setup["owner"], MEMBERS_ONLY + "gh#404,alice,symptom,crash,\n")
    assert response.status_code == 400
    body = response.json()
    assert "nothing was imported" in body["message"]
    assert body["details"] == [
        {
            "line": 8,
            "field": "source_id",
            "message": "Unknown report 'gh#404': no report has this source_id. Import the report first or "
            "correct the source_id.",
        }
    ]
    assert snapshot(setup["study"]) == before


def test_api_import_dry_run(api_client, setup):
    before = snapshot(setup["study"])
    response = _post(api_client, setup["owner"], MEMBERS_ONLY, dry_run="true")
    assert response.status_code == 200 and response.json()["dry_run"] is True
    assert snapshot(setup["study"]) == before


def test_api_import_without_a_file_is_400(api_client, setup):
    api_client.force_authenticate(setup["owner"])
    response = api_client.post(reverse("labelling-api:labels-import", args=["small"]), {}, format="multipart")
    assert response.status_code == 400 and "file" in response.json()["details"]


def test_api_create_annotators_is_for_staff_only(api_client, setup):
    before = snapshot(setup["study"])
    response = _post(api_client, setup["owner"], GOOD, create_annotators="true")
    assert response.status_code == 403
    body = response.json()
    assert "Only staff can create accounts" in body["message"]
    assert body["details"] == [{"field": "create_annotators", "message": "Only staff users may set this."}]
    assert snapshot(setup["study"]) == before


def test_api_owner_import_naming_unknown_people_is_400_and_creates_nobody(api_client, setup):
    before = snapshot(setup["study"])
    response = _post(api_client, setup["owner"], GOOD)
    assert response.status_code == 400
    details = response.json()["details"]
    assert [(d["line"], d["field"]) for d in details] == [(5, "annotator"), (6, "annotator")]
    assert "No account is named 'rater_b'" in details[0]["message"]
    assert snapshot(setup["study"]) == before


def test_api_staff_may_create_annotators(api_client, setup):
    response = _post(api_client, setup["staff"], GOOD, create_annotators="true")
    assert response.status_code == 200
    body = response.json()
    assert body["accounts_created"] == body["annotators_added"] == ["rater_a", "rater_b"]
    members = set(Membership.objects.filter(study=setup["study"]).values_list("user__username", flat=True))
    assert {"rater_a", "rater_b"} <= members and "root" not in members


def test_api_import_reads_the_upload_from_a_temporary_file(api_client, setup, monkeypatch):
    """The label file is never held in the web process's memory: Django writes it to a temp file
    (FILE_UPLOAD_HANDLERS) and the import reads it from there, line by line."""
    from django.core.files.uploadedfile import TemporaryUploadedFile

    from labelling.api import dataset

    sources = []

    def recording(**kwargs):
        sources.append((type(kwargs["source"]), kwargs["source"].temporary_file_path()))
        return labels_import(**kwargs)

    monkeypatch.setattr(dataset, "labels_import", recording)
    response = _post(api_client, setup["owner"], MEMBERS_ONLY)
    assert response.status_code == 200, response.json()
    assert response.json()["annotations_created"] == 3
    ((kind, path),) = sources
    assert kind is TemporaryUploadedFile and path
