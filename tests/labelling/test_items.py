import random
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from config.errors import ApplicationError
from labelling.models import SampleDraw, StudyItem
from labelling.services.items import items_add, items_add_by_filter, items_sample
from tests.factories import ReportFactory, StudyFactory, StudyItemFactory, UserFactory
from triage.models import Report
from triage.reports.selectors import ReportFilter

pytestmark = pytest.mark.django_db


@pytest.fixture
def reports():
    """30 pytorch reports, 10 tensorflow reports, 5 crashes."""
    return {
        "pytorch": ReportFactory.create_batch(30, framework="pytorch"),
        "tensorflow": ReportFactory.create_batch(10, framework="tensorflow"),
        "crash": ReportFactory.create_batch(5, framework="pytorch", kind=Report.Kind.CRASH),
    }


def _report_ids(study):
    return sorted(StudyItem.objects.filter(study=study).values_list("report_id", flat=True))


def test_items_add_skips_reports_already_in_the_study(reports):
    study = StudyFactory()
    ids = [r.pk for r in reports["tensorflow"]]
    assert items_add(study=study, report_ids=ids[:6]) == 6
    assert items_add(study=study, report_ids=ids + ids[:2]) == 4
    assert _report_ids(study) == sorted(ids)
    assert set(StudyItem.objects.filter(study=study).values_list("screening", flat=True)) == {"pending"}


def test_items_add_with_a_screening_status(reports):
    study = StudyFactory()
    items_add(study=study, report_ids=[reports["crash"][0].pk], screening=StudyItem.Screening.INCLUDED)
    item = StudyItem.objects.get(study=study)
    assert item.screening == "included" and item.screened_at is not None
    with pytest.raises(ValidationError):
        items_add(study=study, report_ids=[reports["crash"][1].pk], screening="maybe")


def test_items_add_refuses_unknown_reports_and_writes_nothing(reports):
    study = StudyFactory()
    with pytest.raises(ApplicationError, match="1 report ids do not exist: 999999"):
        items_add(study=study, report_ids=[reports["crash"][0].pk, 999999])
    assert not StudyItem.objects.filter(study=study).exists()


def test_add_by_filter_adds_every_match_once_and_records_the_draw(reports):
    study, owner = StudyFactory(), UserFactory()
    draw = items_add_by_filter(study=study, filters=ReportFilter(framework="TensorFlow"), added_by=owner)
    assert _report_ids(study) == sorted(r.pk for r in reports["tensorflow"])
    assert (draw.matched, draw.added, draw.sample_size, draw.seed) == (10, 10, None, None)
    assert draw.filters == {"framework": "tensorflow"} and draw.created_by == owner
    again = items_add_by_filter(study=study, filters=ReportFilter(framework="tensorflow"), added_by=owner)
    assert (again.matched, again.added) == (0, 0)
    assert SampleDraw.objects.filter(study=study).count() == 2


def test_add_by_filter_uses_every_filter_field(reports):
    old = ReportFactory(framework="pytorch", created_at=timezone.now() - timedelta(days=400), title="old NaN loss")
    study = StudyFactory()
    items_add_by_filter(
        study=study,
        filters=ReportFilter(
            framework="pytorch", kind="issue", q="nan", created_to=timezone.now() - timedelta(days=100)
        ),
        added_by=None,
    )
    assert _report_ids(study) == [old.pk]


def test_same_filters_and_seed_give_the_same_sample_in_two_studies(reports):
    owner = UserFactory()
    filters = ReportFilter(framework="pytorch")
    a = items_sample(study=StudyFactory(), filters=filters, size=12, seed=1234, added_by=owner)
    b = items_sample(study=StudyFactory(), filters=filters, size=12, seed=1234, added_by=owner)
    assert _report_ids(a.study) == _report_ids(b.study)
    assert len(_report_ids(a.study)) == 12
    # the documented recipe: sorted candidate ids, random.Random(seed).sample
    candidates = sorted(r.pk for r in reports["pytorch"] + reports["crash"])
    assert _report_ids(a.study) == sorted(random.Random(1234).sample(candidates, 12))


def test_a_different_seed_gives_a_different_sample(reports):
    filters = ReportFilter(framework="pytorch")
    a = items_sample(study=StudyFactory(), filters=filters, size=12, seed=1, added_by=None)
    b = items_sample(study=StudyFactory(), filters=filters, size=12, seed=2, added_by=None)
    assert _report_ids(a.study) != _report_ids(b.study)


def test_sample_records_the_draw(reports):
    owner = UserFactory(username="olivia")
    study = StudyFactory()
    draw = items_sample(
        study=study, filters=ReportFilter(framework="pytorch", kind="crash"), size=3, seed=77, added_by=owner
    )
    draw.refresh_from_db()
    assert (draw.sample_size, draw.seed, draw.matched, draw.added, draw.created_by) == (3, 77, 5, 3, owner)
    assert draw.filters == {"framework": "pytorch", "kind": "crash"}


def test_sample_without_a_seed_draws_one_and_records_it(reports):
    study = StudyFactory()
    draw = items_sample(study=study, filters=ReportFilter(), size=5, seed=None, added_by=None)
    assert draw.seed is not None
    again = StudyFactory()
    items_sample(study=again, filters=ReportFilter(), size=5, seed=draw.seed, added_by=None)
    assert _report_ids(study) == _report_ids(again)


def test_sample_excludes_reports_already_in_the_study(reports):
    study = StudyFactory()
    present = reports["tensorflow"][:7]
    for r in present:
        StudyItemFactory(study=study, report=r, screening="pending")
    draw = items_sample(study=study, filters=ReportFilter(framework="tensorflow"), size=3, seed=5, added_by=None)
    assert draw.matched == 3 and draw.added == 3
    assert _report_ids(study) == sorted(r.pk for r in reports["tensorflow"])


def test_sample_larger_than_the_candidates_is_refused_and_writes_nothing(reports):
    study = StudyFactory()
    with pytest.raises(ApplicationError) as err:
        items_sample(study=study, filters=ReportFilter(framework="tensorflow"), size=11, seed=1, added_by=None)
    assert "Only 10 matching reports" in err.value.message and "at most 10" in err.value.message
    assert not StudyItem.objects.filter(study=study).exists()
    assert not SampleDraw.objects.filter(study=study).exists()


@pytest.mark.parametrize("size, seed, field", [(0, 1, "size"), (3, -1, "seed"), (3, 2**60, "seed")])
def test_sample_refuses_bad_size_or_seed(reports, size, seed, field):
    with pytest.raises(ValidationError) as err:
        items_sample(study=StudyFactory(), filters=ReportFilter(), size=size, seed=seed, added_by=None)
    assert field in err.value.message_dict
