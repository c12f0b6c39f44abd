"""A seeded labelled study for the analytics tests (and the Chromium test): 40 items over three
frameworks, two kinds and two years, labelled by two annotators, most with final labels, with
source labels, reproduction runs and a bisection."""

import random
from datetime import UTC, datetime, timedelta

from django.utils import timezone

from labelling.models import StudyItem
from tests.factories import (
    AnnotationFactory,
    AssignmentFactory,
    FinalLabelFactory,
    ReportFactory,
    ReproductionFactory,
    ReproductionRunFactory,
    StudyItemFactory,
)
from triage.models import SourceLabel

FRAMEWORKS = ("pytorch", "tensorflow", "keras")
SYMPTOMS = ("crash", "hang", "wrong_output")
COMPONENTS = ("layers", "model", "optimizer")


def build(small_study, *, items: int = 40, seed: int = 3) -> dict:
    rng = random.Random(seed)
    s = small_study
    study = s["study"]
    labels = [SourceLabel.objects.get_or_create(name=n)[0] for n in ("type:bug", "comp:gpu")]
    now = timezone.now()
    made = []
    for n in range(items):
        report = ReportFactory(
            framework=FRAMEWORKS[n % 3],
            kind="crash" if n % 5 == 0 else "issue",
            created_at=datetime(2020 + n % 2, 1 + n % 12, 1 + n % 27, tzinfo=UTC),
        )
        if n % 4:
            report.source_labels.add(labels[n % 2])
        screening = StudyItem.Screening.EXCLUDED if n % 10 == 9 else StudyItem.Screening.INCLUDED
        item = StudyItemFactory(
            study=study, report=report, screening=screening,
            exclusion_reason="Duplicate" if screening == StudyItem.Screening.EXCLUDED else "",
        )  # fmt: skip
        made.append(item)
        if screening == StudyItem.Screening.EXCLUDED:
            continue
        agreed = (rng.choice(SYMPTOMS), ";".join(sorted(rng.sample(COMPONENTS, rng.randint(1, 2)))))
        for who in ("ann1", "ann2"):
            done = now - timedelta(days=n % 4) if n % 7 else None
            AssignmentFactory(item=item, annotator=s[who], completed_at=done)
            symptom = agreed[0] if rng.random() < 0.75 else rng.choice(SYMPTOMS)
            AnnotationFactory(item=item, annotator=s[who], dimension=s["symptom"], value=symptom,
                              time_spent_ms=rng.randint(5_000, 400_000))  # fmt: skip
            AnnotationFactory(item=item, annotator=s[who], dimension=s["component"], value=agreed[1])
        if n % 6:
            FinalLabelFactory(item=item, dimension=s["symptom"], value=agreed[0])
            FinalLabelFactory(item=item, dimension=s["component"], value=agreed[1])
        if n % 3 == 0:
            reproduction = ReproductionFactory(reproducer__report=report, status="done")
            for i, version in enumerate(("2.4.1", "2.5.0")):
                ReproductionRunFactory(
                    reproduction=reproduction, status="done", finished_at=now + timedelta(minutes=i),
                    verdict=rng.choice(("reproduced", "not_reproduced")),
                    requirements=f"numpy==1.26\ntorch=={version}",
                )  # fmt: skip
    bisect = ReproductionFactory(
        reproducer__report=made[0].report, kind="bisect", status="done",
        package="torch", bisect_result={"mode": "introduced", "last_good": "1.12", "first_bad": "1.13"},
    )  # fmt: skip
    return {**s, "items": made, "bisect": bisect}
