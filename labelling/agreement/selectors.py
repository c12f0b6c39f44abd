"""Agreement of a study, read from the database: the one read the page, the API, the command and
the export share. Access is the caller's business (``labelling.permissions.can_view_agreement``)."""

from __future__ import annotations

from config.errors import ApplicationError
from labelling.agreement import bands
from labelling.agreement import bootstrap as bs
from labelling.agreement import statistics as st
from labelling.agreement.ratings import dimension_ratings, dimensions_ratings
from labelling.agreement.report import ratings_agreement
from labelling.models import Dimension, Study
from labelling.selectors.labelling import CodebookDimension, codebook_for_labelling

LEVELS = {Dimension.Kind.SINGLE: "nominal", Dimension.Kind.ORDINAL: "ordinal", Dimension.Kind.MULTI: "multi"}
TEXT_SKIPPED = "Free-text dimension: there are no categories to agree on, so no agreement figure is computed."


def _dimensions(study: Study, dimension_codes: list[str] | None) -> list[CodebookDimension]:
    codebook = codebook_for_labelling(study=study)
    if not dimension_codes:
        return codebook
    known = {d.dimension.code: d for d in codebook}
    unknown = [c for c in dimension_codes if c not in known]
    if unknown:
        valid = ", ".join(known) or "(the codebook has no dimensions yet)"
        raise ApplicationError(
            f"Unknown dimension {', '.join(repr(c) for c in unknown)}: use one of {valid}.",
            details=[{"field": "dimension", "message": f"Choose from: {valid}."}],
        )
    return [known[c] for c in dict.fromkeys(dimension_codes)]


def _spec(entry: CodebookDimension):
    return (entry.dimension, LEVELS[entry.dimension.kind], [c.code for c in entry.categories])


def dimension_agreement(
    *, entry: CodebookDimension, ratings=None, resamples: int = bs.RESAMPLES, seed: int = bs.SEED
) -> dict:
    """One dimension's figures (``ratings``: its labels, read here when not given)."""
    dimension = entry.dimension
    if dimension.kind == Dimension.Kind.TEXT:
        return {"code": dimension.code, "name": dimension.name, "level": "text", "skipped": TEXT_SKIPPED}
    categories = entry.categories
    by_id = {c.id: c.code for c in categories}
    parents = {c.code: by_id.get(c.parent_id) for c in categories}
    if ratings is None:
        ratings = dimensions_ratings([_spec(entry)])[dimension.pk]
    return ratings_agreement(
        ratings,
        code=dimension.code,
        name=dimension.name,
        names={c.code: c.name for c in categories},
        parents=parents,
        resamples=resamples,
        seed=seed,
    )


def study_agreement(
    *, study: Study, dimension_codes: list[str] | None = None, resamples: int = bs.RESAMPLES, seed: int = bs.SEED
) -> dict:
    """The study's agreement JSON: every dimension (or those of ``dimension_codes``; an unknown code
    is an ApplicationError naming the valid ones), the bootstrap settings and the bands' citation."""
    entries = _dimensions(study, dimension_codes)
    ratings = dimensions_ratings([_spec(e) for e in entries if e.dimension.kind in LEVELS])
    return {
        "study": study.slug,
        "bootstrap": {
            "resamples": resamples,
            "seed": seed,
            "method": "percentile interval; items resampled with replacement",
        },
        "bands": {"citation": bands.CITATION, "legend": bands.legend(), "alpha_advice": bands.KRIPPENDORFF_ADVICE},
        "dimensions": [
            dimension_agreement(entry=e, ratings=ratings.get(e.dimension.pk), resamples=resamples, seed=seed)
            for e in entries
        ],
    }


def pair_confusion(*, study: Study, dimension_code: str, rater_a: str, rater_b: str) -> dict:
    """Confusion matrix of two annotators on one dimension, over the items both labelled.

    ApplicationError (naming the valid choices) for an unknown or free-text dimension or an
    annotator who gave no label on it."""
    (entry,) = _dimensions(study, [dimension_code])
    dimension = entry.dimension
    if dimension.kind == Dimension.Kind.TEXT:
        raise ApplicationError(f"'{dimension.code}' is free text: it has no confusion matrix. Pick another dimension.")
    codes = [c.code for c in entry.categories]
    ratings = dimension_ratings(dimension=dimension, level=LEVELS[dimension.kind], categories=codes)
    for field, rater in (("rater_a", rater_a), ("rater_b", rater_b)):
        if rater not in ratings.raters:
            valid = ", ".join(ratings.raters) or "(nobody has labelled it yet)"
            raise ApplicationError(
                f"'{rater}' gave no label on '{dimension.code}'. Pick one of: {valid}.",
                details=[{"field": field, "message": f"Choose from: {valid}."}],
            )
    if rater_a == rater_b:
        raise ApplicationError("Pick two different annotators.", details=[{"field": "rater_b", "message": "Differs."}])
    matrix = ratings.matrix()
    a, b = ratings.raters.index(rater_a), ratings.raters.index(rater_b)
    both = (matrix[a] >= 0) & (matrix[b] >= 0)
    table = st.confusion(matrix[a][both], matrix[b][both], n_values=ratings.n_values)
    names = {c.code: c.name for c in entry.categories}
    labels = [";".join(sorted(v)) if ratings.level == "multi" else v for v in ratings.values]
    return {
        "dimension": dimension.code,
        "raters": [rater_a, rater_b],
        "items": int(both.sum()),
        "values": labels,
        "names": [names.get(v, v) for v in labels],
        "matrix": table.tolist(),
    }
