"""factory_boy factories shared by the whole suite."""

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from labelling.models import (
    Annotation,
    Assignment,
    Category,
    Codebook,
    Dimension,
    FinalLabel,
    Membership,
    Study,
    StudyItem,
)
from triage.models import Report


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.django.Password("pw-for-tests")


class ReportFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Report

    source_id = factory.Sequence(lambda n: f"github:pytorch/pytorch#{1000 + n}")
    kind = Report.Kind.ISSUE
    framework = "pytorch"
    title = factory.Sequence(lambda n: f"conv2d returns wrong shape with padding='same' (case {n})")
    body = (
        "Running `torch.nn.functional.conv2d` with `padding='same'` and stride 2 raises.\n\n"
        "```python\nimport torch\n```"
    )
    url = factory.LazyAttribute(lambda r: "https://github.com/pytorch/pytorch/issues/" + r.source_id.split("#")[-1])
    state = "closed"
    created_at = factory.LazyFunction(timezone.now)


class StudyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Study
        skip_postgeneration_save = True

    slug = factory.Sequence(lambda n: f"study-{n}")
    name = factory.Sequence(lambda n: f"Study {n}")
    overlap_k = 2
    exclusion_reasons = ["Not a framework bug", "Duplicate", "Not reproducible"]
    codebook = factory.RelatedFactory("tests.factories.CodebookFactory", factory_related_name="study")


class CodebookFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Codebook

    study = factory.SubFactory(StudyFactory, codebook=None)
    name = "Test codebook"


class DimensionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dimension

    codebook = factory.SubFactory(CodebookFactory)
    code = factory.Sequence(lambda n: f"dim_{n}")
    name = factory.LazyAttribute(lambda d: d.code.replace("_", " ").capitalize())
    kind = Dimension.Kind.SINGLE
    order = factory.Sequence(int)


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category

    dimension = factory.SubFactory(DimensionFactory)
    code = factory.Sequence(lambda n: f"cat_{n}")
    name = factory.LazyAttribute(lambda c: c.code.replace("_", " ").capitalize())
    order = factory.Sequence(int)


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    study = factory.SubFactory(StudyFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.ANNOTATOR


class StudyItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StudyItem

    study = factory.SubFactory(StudyFactory)
    report = factory.SubFactory(ReportFactory)
    screening = StudyItem.Screening.INCLUDED


class _RecordsDisagreements:
    """Rows written directly (not by the services) still keep the recorded disagreements of their
    item (``labelling.services.disagreements``) as the services do, so that the pages see them."""

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        obj = super()._create(model_class, *args, **kwargs)
        from labelling.services.disagreements import disagreements_refresh

        disagreements_refresh(study=obj.item.study, item_ids=[obj.item_id])
        return obj


class AssignmentFactory(_RecordsDisagreements, factory.django.DjangoModelFactory):
    class Meta:
        model = Assignment

    item = factory.SubFactory(StudyItemFactory)
    study = factory.LazyAttribute(lambda a: a.item.study)
    annotator = factory.SubFactory(UserFactory)


class AnnotationFactory(_RecordsDisagreements, factory.django.DjangoModelFactory):
    class Meta:
        model = Annotation

    item = factory.SubFactory(StudyItemFactory)
    annotator = factory.SubFactory(UserFactory)
    dimension = factory.SubFactory(DimensionFactory)
    value = ""


class FinalLabelFactory(_RecordsDisagreements, factory.django.DjangoModelFactory):
    class Meta:
        model = FinalLabel

    item = factory.SubFactory(StudyItemFactory)
    dimension = factory.SubFactory(DimensionFactory)
    method = FinalLabel.Method.UNANIMOUS


# --------------------------------------------------------------------------- reproduction (issue 5)


class ReproducerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "triage.Reproducer"

    report = factory.SubFactory(ReportFactory)
    title = factory.Sequence(lambda n: f"reproducer {n}")
    script = "import sys\nsys.exit(1)\n"
    oracle = "assertion"
    device = "cpu"
    timeout_seconds = 60
    memory_mb = 1024
    expectation = factory.LazyFunction(lambda: {"exit_code": 1, "source": "given"})


class ReproductionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "triage.Reproduction"

    reproducer = factory.SubFactory(ReproducerFactory)
    kind = "check"
    repeat = 1
    status = "queued"


class RunnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "triage.Runner"

    name = factory.Sequence(lambda n: f"celery@runner-{n}")
    hostname = factory.LazyAttribute(lambda r: r.name.partition("@")[2])
    device = "cpu"
    queues = factory.LazyFunction(lambda: ["repro.cpu"])
    python = "3.11.7"
    sandbox = "bubblewrap 0.8.0"
    started_at = factory.LazyFunction(timezone.now)
    last_heartbeat = factory.LazyFunction(timezone.now)


class ReproductionRunFactory(factory.django.DjangoModelFactory):
    """A run; pass status="done", verdict=... and the result fields to show a finished one."""

    class Meta:
        model = "triage.ReproductionRun"

    reproduction = factory.SubFactory(ReproductionFactory)
    reproducer = factory.LazyAttribute(lambda run: run.reproduction.reproducer)
    index = factory.Sequence(lambda n: n)
    side = ""
    device = "cpu"
    queue = factory.LazyAttribute(lambda run: "repro.gpu" if run.device == "gpu" else "repro.cpu")
    status = "queued"
    queued_at = factory.LazyFunction(timezone.now)


# An empty zip (its end-of-central-directory record alone): enough for a download test.
EMPTY_ZIP = b"PK\x05\x06" + b"\0" * 18


class ReleaseFactory(factory.django.DjangoModelFactory):
    """A release row with a tiny zip (no package is built: for access tests; real releases come from
    ``labelling.releases.services.release_create``). Set MEDIA_ROOT to a temporary folder first."""

    class Meta:
        model = "labelling.Release"

    study = factory.SubFactory(StudyFactory)
    version = "1.0.0"
    major, minor, patch = 1, 0, 0
    title = factory.LazyAttribute(lambda r: f"{r.study.name} {r.version}")
    licence = "CC-BY-4.0"
    file = factory.django.FileField(filename="release.zip", data=EMPTY_ZIP)
    filename = "release.zip"
    size = len(EMPTY_ZIP)
    sha256 = "8739c76e681f900923b900c9df0ef75cf421d39cabb54650c4b9ad19b6a76d85"
    created_at = factory.LazyFunction(timezone.now)
